//! Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017,
//! "GANs trained by a two time-scale update rule converge to a local Nash equilibrium"),
//! as pytorch-fid's `calculate_frechet_distance`:
//! `|mu1 - mu2|² + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2)`.
//! pytorch-fid takes `scipy.linalg.sqrtm(S1 S2)`; here `tr sqrt(S1 S2)` is computed as
//! `tr sqrt(S1^½ S2 S1^½)` (the same eigenvalues, a symmetric matrix), with symmetric
//! eigendecompositions in f64, which stays real and stable when S1 or S2 is singular.

use super::super::linalg::{matmul, mean_cov, sqrt_psd, sym_eigen};
use super::Feats;

/// A Gaussian fitted to features: mean and covariance (n - 1 normalised).
#[derive(Debug, Clone)]
pub struct Gaussian {
    /// Mean.
    pub mu: Vec<f64>,
    /// Covariance, row-major `d x d`.
    pub cov: Vec<f64>,
}

impl Gaussian {
    /// Fits the mean and covariance of `x`.
    pub fn fit(x: &Feats) -> Gaussian {
        let (mu, cov) = mean_cov(&x.data, x.d);
        Gaussian { mu, cov }
    }
}

/// The Fréchet distance of two Gaussians; NaN when either holds a NaN or an infinity
/// (a diverged feature network), which the clipping below would otherwise turn into a
/// perfect 0 (`f64::max` returns its other argument when one is NaN).
pub fn frechet(a: &Gaussian, b: &Gaussian) -> f64 {
    let finite = |g: &Gaussian| g.mu.iter().chain(&g.cov).all(|x| x.is_finite());
    if !finite(a) || !finite(b) {
        return f64::NAN;
    }
    let d = a.mu.len();
    let diff: f64 = a.mu.iter().zip(&b.mu).map(|(x, y)| (x - y) * (x - y)).sum();
    let tr = |c: &[f64]| (0..d).map(|i| c[i * d + i]).sum::<f64>();
    let s1 = sqrt_psd(&a.cov, d);
    let m = matmul(&matmul(&s1, &b.cov, d), &s1, d);
    // Symmetrize away rounding before the eigendecomposition.
    let mut m2 = m.clone();
    for i in 0..d {
        for j in 0..d {
            m2[i * d + j] = 0.5 * (m[i * d + j] + m[j * d + i]);
        }
    }
    let (w, _) = sym_eigen(&m2, d);
    let tr_sqrt: f64 = w.iter().map(|&x| x.max(0.0).sqrt()).sum();
    (diff + tr(&a.cov) + tr(&b.cov) - 2.0 * tr_sqrt).max(0.0)
}

/// FID of two feature sets (each needs at least 2 vectors; otherwise NaN).
pub fn fid(real: &Feats, fake: &Feats) -> f64 {
    if real.len() < 2 || fake.len() < 2 {
        return f64::NAN;
    }
    frechet(&Gaussian::fit(real), &Gaussian::fit(fake))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_for_diagonal_gaussians() {
        // Diagonal covariances: FID = |mu1-mu2|² + sum (sqrt(a_i) - sqrt(b_i))².
        let a = Gaussian {
            mu: vec![0.0, 1.0, 2.0],
            cov: vec![4.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 9.0],
        };
        let b = Gaussian {
            mu: vec![1.0, 1.0, 0.0],
            cov: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 4.0],
        };
        let want = 1.0 + 4.0 + (2.0f64 - 1.0).powi(2) + 0.0 + (3.0f64 - 2.0).powi(2);
        assert!((frechet(&a, &b) - want).abs() < 1e-10);
        assert!(frechet(&a, &a).abs() < 1e-10);
    }

    /// Regression: one NaN feature made FID 0.0, a perfect score, where it is undefined.
    #[test]
    fn a_non_finite_feature_gives_nan_not_zero() {
        let b = Feats::new(2, vec![0.0, 0.0, 1.0, 1.0, 2.0, 0.5]);
        for bad in [f32::NAN, f32::INFINITY] {
            let a = Feats::new(2, vec![bad, 0.0, 1.0, 1.0, 2.0, 0.5]);
            assert!(fid(&a, &b).is_nan(), "{bad}");
            assert!(fid(&b, &a).is_nan(), "{bad}");
        }
        assert!(fid(&b, &b).abs() < 1e-9);
    }

    #[test]
    fn closed_form_for_rotated_gaussians() {
        // S2 = R S1 R^T with S1 = diag(4, 1), R a 90° rotation: S2 = diag(1, 4), and
        // tr sqrt(S1 S2) = tr sqrt(diag(4, 4)) = 4, so FID = 5 + 5 - 8 = 2.
        let a = Gaussian {
            mu: vec![0.0, 0.0],
            cov: vec![4.0, 0.0, 0.0, 1.0],
        };
        let b = Gaussian {
            mu: vec![0.0, 0.0],
            cov: vec![1.0, 0.0, 0.0, 4.0],
        };
        assert!((frechet(&a, &b) - 2.0).abs() < 1e-10);
        // A non-commuting pair: S1 = [[2,1],[1,2]], S2 = I: tr sqrt(S1) = sqrt3 + 1.
        let c = Gaussian {
            mu: vec![0.0, 0.0],
            cov: vec![2.0, 1.0, 1.0, 2.0],
        };
        let i = Gaussian {
            mu: vec![0.0, 0.0],
            cov: vec![1.0, 0.0, 0.0, 1.0],
        };
        let want = 4.0 + 2.0 - 2.0 * (3f64.sqrt() + 1.0);
        assert!((frechet(&c, &i) - want).abs() < 1e-10);
    }

    #[test]
    fn same_set_is_zero_and_shift_is_squared_distance() {
        let x: Vec<f32> = (0..300).map(|i| ((i * 37 % 101) as f32) / 10.0).collect();
        let a = Feats::new(3, x.clone());
        assert!(fid(&a, &a).abs() < 1e-8);
        let b = Feats::new(3, x.iter().map(|v| v + 2.0).collect());
        assert!((fid(&a, &b) - 12.0).abs() < 1e-4, "{}", fid(&a, &b));
    }
}
