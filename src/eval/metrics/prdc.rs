//! Precision, recall, density and coverage on k-nearest-neighbour balls (Naeem et al.
//! 2020, "Reliable Fidelity and Diversity Metrics for Generative Models"; precision and
//! recall from Kynkäänniemi et al. 2019), exactly as the `prdc` package's
//! `compute_prdc`: Euclidean distances, the radius of a point is the distance to its k-th
//! nearest neighbour in its own set (itself excluded), and every comparison is strict:
//! - precision: share of fakes inside at least one real ball,
//! - recall: share of reals inside at least one fake ball,
//! - density: mean over fakes of (number of real balls containing it) / k,
//! - coverage: share of reals whose nearest fake lies inside their own ball.
//!
//! The real-fake distances are computed once, fake by fake in parallel, never stored:
//! each fake's pass also gives its nearest real (for memorization).

use super::{knn_self, sq_dist, Feats};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// The four numbers, plus by-products the caller reuses.
#[derive(Debug, Clone, PartialEq)]
pub struct Prdc {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// Density.
    pub density: f64,
    /// Coverage.
    pub coverage: f64,
    /// For each fake: its nearest real `(index, distance)`.
    pub nearest_real: Vec<(usize, f32)>,
    /// For each real: the distance to its nearest other real (leave-one-out).
    pub real_nn: Vec<f32>,
}

/// Radii of the k-NN balls of a set: the k-th neighbour distance (itself excluded).
pub fn radii(x: &Feats, k: usize) -> (Vec<f32>, Vec<f32>) {
    let nn = knn_self(x, k);
    let kth = nn.iter().map(|r| r[k - 1]).collect();
    let first = nn.iter().map(|r| r[0]).collect();
    (kth, first)
}

/// PRDC of `fake` against `real` with `k` neighbours. Sets with no more than `k` vectors
/// give infinite radii (every point is inside), as the definitions imply.
pub fn prdc(real: &Feats, fake: &Feats, k: usize) -> Prdc {
    let k = k.max(1);
    let (r_real, real_nn) = radii(real, k);
    let (r_fake, _) = radii(fake, k);
    let (nr, nf) = (real.len(), fake.len());
    let recall_hit: Vec<AtomicBool> = (0..nr).map(|_| AtomicBool::new(false)).collect();
    let cover_hit: Vec<AtomicBool> = (0..nr).map(|_| AtomicBool::new(false)).collect();
    // Per fake: (inside any real ball, real balls containing it, nearest real).
    let per_fake: Vec<(bool, usize, (usize, f32))> = (0..nf)
        .into_par_iter()
        .map(|j| {
            let fj = fake.row(j);
            let (mut count, mut best) = (0usize, (0usize, f32::INFINITY));
            for i in 0..nr {
                let d = sq_dist(real.row(i), fj).sqrt();
                if d < r_real[i] {
                    count += 1;
                }
                if d < r_fake[j] {
                    recall_hit[i].store(true, Ordering::Relaxed);
                }
                if d < best.1 {
                    best = (i, d);
                }
            }
            (count > 0, count, best)
        })
        .collect();
    // Coverage needs each real's nearest fake: a second pass over the reals.
    (0..nr).into_par_iter().for_each(|i| {
        let ri = real.row(i);
        let r2 = r_real[i];
        if (0..nf).any(|j| sq_dist(ri, fake.row(j)).sqrt() < r2) {
            cover_hit[i].store(true, Ordering::Relaxed);
        }
    });
    let share = |v: &[AtomicBool]| {
        v.iter().filter(|b| b.load(Ordering::Relaxed)).count() as f64 / v.len().max(1) as f64
    };
    let nff = nf.max(1) as f64;
    Prdc {
        precision: per_fake.iter().filter(|p| p.0).count() as f64 / nff,
        recall: share(&recall_hit),
        density: per_fake.iter().map(|p| p.1).sum::<usize>() as f64 / (k as f64 * nff),
        coverage: share(&cover_hit),
        nearest_real: per_fake.iter().map(|p| p.2).collect(),
        real_nn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[f32]) -> Feats {
        Feats::new(1, v.to_vec())
    }

    #[test]
    fn hand_placed_points() {
        // Reals at 0,1,2,3 with k = 1: radii 1,1,1,1.
        // Fakes at 0.5 (inside the balls of 0 and 1), 10 (outside all), 3 (on a real).
        let real = pts(&[0.0, 1.0, 2.0, 3.0]);
        let fake = pts(&[0.5, 10.0, 3.0]);
        let p = prdc(&real, &fake, 1);
        assert!((p.precision - 2.0 / 3.0).abs() < 1e-12);
        // Density: 0.5 is in 2 balls, 3.0 in 1 (3's own; 2's ball has radius 1, not < 1).
        assert!((p.density - 3.0 / 3.0).abs() < 1e-12, "{}", p.density);
        // Fake radii (k = 1): 0.5 -> 2.5, 10 -> 7, 3 -> 2.5. Reals within: all four.
        assert_eq!(p.recall, 1.0);
        // Coverage: nearest fake of 0 is 0.5 (< 1), of 1 is 0.5, of 2 is 1.0 (not < 1),
        // of 3 is 0.0.
        assert!((p.coverage - 0.75).abs() < 1e-12);
        assert_eq!(p.nearest_real[2], (3, 0.0));
        assert_eq!(p.real_nn, vec![1.0; 4]);
    }

    #[test]
    fn real_against_itself_and_a_repeated_point() {
        let v: Vec<f32> = (0..200)
            .map(|i| ((i * 7919 % 211) as f32) / 211.0)
            .collect();
        let real = Feats::new(2, v);
        let same = prdc(&real, &real, 5);
        assert_eq!(
            (same.precision, same.recall, same.coverage),
            (1.0, 1.0, 1.0)
        );
        let one = Feats::new(2, real.row(7).repeat(100));
        let p = prdc(&real, &one, 5);
        assert_eq!(p.recall, 0.0, "zero-radius fake balls contain nothing");
        // Only the reals whose ball holds that one point are covered: about k of them.
        assert!(p.coverage <= 0.1, "{}", p.coverage);
        assert_eq!(p.precision, 1.0);
    }
}
