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
}
