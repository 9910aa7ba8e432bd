//! Class-level metrics: conditional accuracy and confusion, the best one-to-one matching
//! of InfoGAN's code values to classes (the Hungarian algorithm, Kuhn 1955 / Munkres 1957,
//! in the O(n³) shortest-augmenting-path form of Jonker & Volgenant), and the
//! Jensen-Shannon divergence of two distributions in bits, as
//! `scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2`.

/// Builds `confusion[asked][predicted]` from pairs of class indices.
pub fn confusion(asked: &[usize], predicted: &[usize], k: usize) -> Vec<Vec<u64>> {
    let mut m = vec![vec![0u64; k]; k];
    for (&a, &p) in asked.iter().zip(predicted) {
        if a < k && p < k {
            m[a][p] += 1;
        }
    }
    m
}

/// Overall and per-row accuracy of a confusion matrix (rows with no images give 0, so
/// the numbers stay JSON-safe; their row sums say there was nothing to measure).
pub fn accuracy(conf: &[Vec<u64>]) -> (f64, Vec<f64>) {
    let total: u64 = conf.iter().flatten().sum();
    let diag: u64 = conf
        .iter()
        .enumerate()
        .map(|(i, r)| r.get(i).copied().unwrap_or(0))
        .sum();
    let per = conf
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let n: u64 = r.iter().sum();
            if n == 0 {
                0.0
            } else {
                r.get(i).copied().unwrap_or(0) as f64 / n as f64
            }
        })
        .collect();
    (diag as f64 / total.max(1) as f64, per)
}

/// The assignment of rows to distinct columns that maximizes the summed `weight`
/// (rows <= columns, or the extra rows are left unassigned: `None`).
pub fn max_matching(weight: &[Vec<f64>]) -> Vec<Option<usize>> {
    let rows = weight.len();
    let cols = weight.first().map_or(0, Vec::len);
    let n = rows.max(cols);
    if n == 0 {
        return Vec::new();
    }
    let big = weight.iter().flatten().fold(0.0f64, |a, &b| a.max(b));
    // Square cost matrix to minimize; padding costs `big` (a zero weight).
    let cost = |i: usize, j: usize| -> f64 {
        if i < rows && j < cols {
            big - weight[i][j]
        } else {
            big
        }
    };
    // Potentials u (rows), v (cols); p[j] = row matched to column j (1-based, 0 = none).
    let (mut u, mut v) = (vec![0.0f64; n + 1], vec![0.0f64; n + 1]);
    let (mut p, mut way) = (vec![0usize; n + 1], vec![0usize; n + 1]);
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![f64::INFINITY; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let (mut delta, mut j1) = (f64::INFINITY, 0usize);
            for j in 1..=n {
                if used[j] {
                    continue;
                }
                let cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
                if cur < minv[j] {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if minv[j] < delta {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = vec![None; rows];
    for (j, &i) in p.iter().enumerate().skip(1) {
        if (1..=rows).contains(&i) && j <= cols {
            out[i - 1] = Some(j - 1);
        }
    }
    out
}

/// Jensen-Shannon divergence in bits (0..1) of two distributions (normalised here; 0 when
/// either is empty).
pub fn js_divergence(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    if sp <= 0.0 || sq <= 0.0 {
        return 0.0;
    }
    let kl = |a: &[f64], sa: f64, m: &[f64]| -> f64 {
        a.iter()
            .zip(m)
            .map(|(&x, &mm)| {
                let x = x / sa;
                if x > 0.0 {
                    x * (x / mm).log2()
                } else {
                    0.0
                }
            })
            .sum()
    };
    let m: Vec<f64> = p
        .iter()
        .zip(q)
        .map(|(a, b)| 0.5 * (a / sp + b / sq))
        .collect();
    (0.5 * kl(p, sp, &m) + 0.5 * kl(q, sq, &m)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hungarian_undoes_a_permutation() {
        // Code k mostly produces class perm[k].
        let perm = [3usize, 0, 4, 1, 2];
        let mut w = vec![vec![1.0; 5]; 5];
        for (k, &c) in perm.iter().enumerate() {
            w[k][c] = 20.0 + k as f64;
        }
        // A decoy: code 0 also often gives class 0, but class 0 is code 1's best.
        w[0][0] = 15.0;
        let m = max_matching(&w);
        assert_eq!(m, perm.iter().map(|&c| Some(c)).collect::<Vec<_>>());
    }

    #[test]
    fn hungarian_beats_greedy_and_handles_rectangles() {
        // Greedy takes (0,0)=10 then (1,1)=1: 11; the best is (0,1)+(1,0) = 9 + 8 = 17.
        let w = vec![vec![10.0, 9.0], vec![8.0, 1.0]];
        assert_eq!(max_matching(&w), vec![Some(1), Some(0)]);
        let wide = vec![vec![1.0, 5.0, 2.0]];
        assert_eq!(max_matching(&wide), vec![Some(1)]);
        let tall = vec![vec![1.0], vec![5.0], vec![2.0]];
        assert_eq!(max_matching(&tall), vec![None, Some(0), None]);
    }

    #[test]
    fn js_of_known_distributions() {
        assert_eq!(js_divergence(&[1.0, 0.0], &[0.0, 1.0]), 1.0);
        assert!(js_divergence(&[0.3, 0.7], &[3.0, 7.0]).abs() < 1e-15);
        // p = (1/2, 1/2), q = (1, 0): m = (3/4, 1/4);
        // KL(p||m) = 1/2 log2(2/3) + 1/2 log2(2), KL(q||m) = log2(4/3).
        let want = 0.5 * (0.5 * (2.0f64 / 3.0).log2() + 0.5) + 0.5 * (4.0f64 / 3.0).log2();
        assert!((js_divergence(&[0.5, 0.5], &[1.0, 0.0]) - want).abs() < 1e-12);
    }

    #[test]
    fn confusion_and_accuracy() {
        let c = confusion(&[0, 0, 1, 1, 2], &[0, 1, 1, 1, 0], 3);
        assert_eq!(c, vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 0]]);
        let (acc, per) = accuracy(&c);
        assert!((acc - 0.6).abs() < 1e-12);
        assert_eq!(per, vec![0.5, 1.0, 0.0]);
    }
}
