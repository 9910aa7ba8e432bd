//! Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs"): the unbiased
//! estimate of the squared MMD with the cubic polynomial kernel
//! `k(x, y) = (x·y / d + 1)³`, averaged over random subsets, as torch-fidelity's
//! `kid_features_to_metric` / `polynomial_mmd` and clean-fid's `kernel_distance`
//! (100 subsets of at most 1000 vectors each, drawn without replacement):
//! `MMD² = (Σ_{i≠j} k(x_i,x_j) + Σ_{i≠j} k(y_i,y_j)) / (m(m-1)) - 2 Σ_{i,j} k(x_i,y_j) / m²`.

use super::{dot, Feats};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::prelude::*;

/// Subsets for KID.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KidSpec {
    /// Number of subsets (default 100, as torch-fidelity and clean-fid).
    pub subsets: usize,
    /// Largest subset size (default 1000); the smaller set's size caps it.
    pub subset_size: usize,
}

impl Default for KidSpec {
    fn default() -> Self {
        KidSpec {
            subsets: 100,
            subset_size: 1000,
        }
    }
}

/// KID: mean over subsets, and the standard deviation of the subset estimates (what
/// torch-fidelity reports as `kernel_inception_distance_std`: the standard error of one
/// KID estimate at that subset size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kid {
    /// Mean of the subset estimates.
    pub mean: f64,
    /// Their standard deviation (population, as numpy's `np.std`).
    pub std: f64,
}

fn kernel(a: &[f32], b: &[f32], d: f64) -> f64 {
    (dot(a, b) as f64 / d + 1.0).powi(3)
}

/// The unbiased MMD² of two equal-size sets (`x.len() == y.len() >= 2`).
pub fn mmd2_unbiased(x: &Feats, y: &Feats) -> f64 {
    let m = x.len();
    let d = x.d as f64;
    // Row sums in parallel, added up in index order: rayon's own `sum` reduces in an
    // order set by work stealing, so the last bits would differ between runs.
    let ordered_sum = |rows: Vec<f64>| rows.iter().sum::<f64>();
    let within = |s: &Feats| -> f64 {
        ordered_sum(
            (0..m)
                .into_par_iter()
                .map(|i| {
                    (i + 1..m)
                        .map(|j| kernel(s.row(i), s.row(j), d))
                        .sum::<f64>()
                })
                .collect(),
        ) * 2.0
    };
    let cross: f64 = ordered_sum(
        (0..m)
            .into_par_iter()
            .map(|i| (0..m).map(|j| kernel(x.row(i), y.row(j), d)).sum::<f64>())
            .collect(),
    );
    let mf = m as f64;
    (within(x) + within(y)) / (mf * (mf - 1.0)) - 2.0 * cross / (mf * mf)
}

/// KID of `fake` against `real` with subsets drawn from `seed` (NaN when either set has
/// fewer than 2 vectors).
pub fn kid(real: &Feats, fake: &Feats, spec: &KidSpec, seed: u64) -> Kid {
    let m = spec.subset_size.min(real.len()).min(fake.len());
    if m < 2 || spec.subsets == 0 {
        return Kid {
            mean: f64::NAN,
            std: f64::NAN,
        };
    }
    let est: Vec<f64> = (0..spec.subsets)
        .map(|s| {
            let mut rng =
                StdRng::seed_from_u64(seed ^ (s as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let a = rand::seq::index::sample(&mut rng, real.len(), m).into_vec();
            let b = rand::seq::index::sample(&mut rng, fake.len(), m).into_vec();
            mmd2_unbiased(&real.select(&a), &fake.select(&b))
        })
        .collect();
    let n = est.len() as f64;
    let mean = est.iter().sum::<f64>() / n;
    let var = est.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    Kid {
        mean,
        std: var.sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_mmd() {
        // d = 1, x = {0, 1}, y = {1, 2}: k(a,b) = (ab + 1)^3.
        // within x: 2 k(0,1) = 2; within y: 2 k(1,2) = 54; cross: 1 + 1 + 8 + 27 = 37.
        // MMD² = (2 + 54) / 2 - 2 * 37 / 4 = 28 - 18.5 = 9.5.
        let x = Feats::new(1, vec![0.0, 1.0]);
        let y = Feats::new(1, vec![1.0, 2.0]);
        assert!((mmd2_unbiased(&x, &y) - 9.5).abs() < 1e-12);
    }

    #[test]
    fn identical_sets_give_about_zero_and_shifted_sets_do_not() {
        let v: Vec<f32> = (0..400)
            .map(|i| ((i * 7919 % 211) as f32) / 211.0)
            .collect();
        let a = Feats::new(4, v.clone());
        let spec = KidSpec {
            subsets: 10,
            subset_size: 50,
        };
        let same = kid(&a, &a, &spec, 1);
        assert!(same.mean.abs() < 0.02, "{same:?}");
        let b = Feats::new(4, v.iter().map(|x| x + 1.0).collect());
        let far = kid(&a, &b, &spec, 1);
        assert!(far.mean > 10.0 * same.mean.abs() + 0.1, "{far:?}");
        assert_eq!(kid(&a, &b, &spec, 1), far, "same seed, same numbers");
        // One full-size subset is the plain unbiased estimate.
        let full = KidSpec {
            subsets: 1,
            subset_size: 1000,
        };
        assert!((kid(&a, &a, &full, 5).mean - mmd2_unbiased(&a, &a)).abs() < 1e-9);
    }
}
