//! Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): one
//! scalar per attribute dividing the logits, fitted on a held-out split by minimizing the
//! negative log-likelihood, so that a reported confidence of 0.9 is right about 90% of
//! the time. The expected calibration error (ECE, 15 equal-width bins) says how well.

use super::classifier::softmax_t;

/// Number of confidence bins of [`ece`].
pub const ECE_BINS: usize = 15;

/// Mean negative log-likelihood of `targets` under `logits / t`.
pub fn nll(logits: &[Vec<f32>], targets: &[usize], t: f32) -> f64 {
    let mut s = 0.0f64;
    for (l, &y) in logits.iter().zip(targets) {
        let p = softmax_t(l, t)[y].max(1e-12);
        s -= (p as f64).ln();
    }
    s / logits.len().max(1) as f64
}

/// The temperature in 0.25..20 (log grid, then refined) minimizing [`nll`]; 1 with no data.
pub fn fit_temperature(logits: &[Vec<f32>], targets: &[usize]) -> f32 {
    if logits.is_empty() {
        return 1.0;
    }
    let grid = |lo: f32, hi: f32, n: usize| {
        (0..n).map(move |i| lo * (hi / lo).powf(i as f32 / (n - 1) as f32))
    };
    let best = |it: &mut dyn Iterator<Item = f32>| {
        it.map(|t| (t, nll(logits, targets, t)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|x| x.0)
            .unwrap_or(1.0)
    };
    let t0 = best(&mut grid(0.25, 20.0, 40));
    best(&mut grid(t0 / 1.15, t0 * 1.15, 15))
}

/// Expected calibration error of (confidence, correct) pairs over [`ECE_BINS`] bins.
pub fn ece(pairs: &[(f32, bool)]) -> f32 {
    if pairs.is_empty() {
        return 0.0;
    }
    let mut conf = [0.0f64; ECE_BINS];
    let mut acc = [0.0f64; ECE_BINS];
    let mut n = [0usize; ECE_BINS];
    for &(c, ok) in pairs {
        let b = ((c * ECE_BINS as f32) as usize).min(ECE_BINS - 1);
        conf[b] += c as f64;
        acc[b] += ok as u8 as f64;
        n[b] += 1;
    }
    let total = pairs.len() as f64;
    let mut e = 0.0;
    for b in 0..ECE_BINS {
        if n[b] > 0 {
            e += (n[b] as f64 / total) * ((acc[b] - conf[b]) / n[b] as f64).abs();
        }
    }
    e as f32
}

/// The ECE that a perfectly calibrated predictor with these confidences shows on this
/// many samples: the mean of [`ece`] over `draws` simulated outcomes, each sample right
/// with probability equal to its confidence. Binned ECE is biased upwards by sampling
/// noise alone (Roelofs et al. 2022, "Mitigating bias in calibration error estimation"),
/// most on small test splits: a measured ECE says something only where it stands clearly
/// above this floor.
pub fn ece_noise_floor(confidences: &[f32], draws: usize, seed: u64) -> f32 {
    use rand::{RngExt, SeedableRng};
    if confidences.is_empty() || draws == 0 {
        return 0.0;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut pairs: Vec<(f32, bool)> = confidences.iter().map(|&c| (c, false)).collect();
    let mut total = 0.0f64;
    for _ in 0..draws {
        for p in &mut pairs {
            p.1 = rng.random::<f32>() < p.0;
        }
        total += ece(&pairs) as f64;
    }
    (total / draws as f64) as f32
}

/// The (confidence, correct) pairs of `logits / t` against `targets`.
pub fn pairs(logits: &[Vec<f32>], targets: &[usize], t: f32) -> Vec<(f32, bool)> {
    logits
        .iter()
        .zip(targets)
        .map(|(l, &y)| {
            let p = softmax_t(l, t);
            let (best, &c) = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap_or((0, &0.0));
            (c, best == y)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overconfident_logits_get_a_temperature_above_one() {
        // Logits say ~99.9% but only 70% are right: the fitted temperature softens them.
        let logits: Vec<Vec<f32>> = (0..100).map(|_| vec![7.0, 0.0]).collect();
        let targets: Vec<usize> = (0..100).map(|i| usize::from(i % 10 >= 7)).collect();
        let before = ece(&pairs(&logits, &targets, 1.0));
        let t = fit_temperature(&logits, &targets);
        let after = ece(&pairs(&logits, &targets, t));
        assert!(t > 2.0, "{t}");
        assert!(after < 0.02 && before > 0.25, "{before} -> {after}");
    }

    #[test]
    fn the_noise_floor_shrinks_with_the_sample_and_bounds_calibrated_outcomes() {
        // Confidences spread over 0.3-1.0, as a 10-way classifier's are.
        let conf =
            |n: usize| -> Vec<f32> { (0..n).map(|i| 0.3 + 0.7 * (i % 97) as f32 / 96.0).collect() };
        let small = ece_noise_floor(&conf(500), 200, 1);
        let large = ece_noise_floor(&conf(20_000), 50, 1);
        assert!(small > 0.02 && small < 0.06, "{small}");
        assert!(large < small / 4.0, "{large} vs {small}");
        // A miscalibrated predictor (right 20 points less often than it says) stands far
        // above the floor.
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let off: Vec<(f32, bool)> = conf(500)
            .into_iter()
            .map(|c| (c, rng.random::<f32>() < c - 0.2))
            .collect();
        assert!(ece(&off) > small + 0.1, "{}", ece(&off));
    }
}
