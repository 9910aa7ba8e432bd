//! Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): one
//! scalar per attribute dividing the logits, fitted on a held-out split by minimizing the
//! negative log-likelihood, so that a reported confidence of 0.9 is right about 90% of
//! the time. The expected calibration error (ECE, 15 equal-width bins) says how well.
//! The held-out split is a stable share of people's labels by file name
//! ([`calibration_every`], [`is_calibration`]), one temperature per attribute, drawn
//! towards the one pooled over the attributes ([`temperatures`]).

use super::classifier::{softmax_t, Outputs};

/// Number of confidence bins of [`ece`].
pub const ECE_BINS: usize = 15;

/// Mean negative log-likelihood of `targets` under `logits / t`, in f64 as
/// `logsumexp(l / t) - l[y] / t`: the f32 probability floored at 1e-12 capped a sample's
/// loss at 27.6, so at a small `t` one confidently wrong held-out label (a margin over
/// 27.6 t) cost no more there, and the fit could fall to the grid's floor (a head right
/// at margin 10 on 199 labels and wrong at 65 on one: 0.25, where the fit is 2.96).
pub fn nll(logits: &[Vec<f32>], targets: &[usize], t: f32) -> f64 {
    let t = t as f64;
    let mut s = 0.0f64;
    for (l, &y) in logits.iter().zip(targets) {
        let max = l.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
        let lse = l
            .iter()
            .map(|&v| ((v as f64 - max) / t).exp())
            .sum::<f64>()
            .ln();
        s += lse - (l[y] as f64 - max) / t;
    }
    s / logits.len().max(1) as f64
}

/// A log-normal prior on the temperature: `ln T ~ N(ln center, log_sd²)`. Fitted on a
/// few dozen held-out labels the maximum-likelihood temperature scatters widely (0.64-2.03
/// at 500 answers where the test split wanted 1.23-1.32 on every run, BENCHMARKS.md,
/// label, session 19); the posterior mode ([`fit_temperature_with`]) shrinks it towards
/// `center` by as much as the split is small (a maximum a posteriori estimate of the one
/// scale parameter).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prior {
    /// The temperature with no held-out labels.
    pub center: f32,
    /// Standard deviation of `ln T`; infinite for no prior (maximum likelihood).
    pub log_sd: f32,
}

impl Prior {
    /// No prior: [`fit_temperature_with`] is maximum likelihood.
    pub const FLAT: Prior = Prior {
        center: 1.0,
        log_sd: f32::INFINITY,
    };

    /// `-ln p(t)` up to a constant.
    fn penalty(&self, t: f32) -> f64 {
        if !self.log_sd.is_finite() {
            return 0.0;
        }
        let z = ((t / self.center).ln() / self.log_sd) as f64;
        0.5 * z * z
    }
}

/// The temperature in 0.25..20 (log grid, then refined) minimizing [`nll`]; 1 with no data.
pub fn fit_temperature(logits: &[Vec<f32>], targets: &[usize]) -> f32 {
    fit_temperature_with(logits, targets, Prior::FLAT)
}

/// The temperature in 0.25..20 (log grid, then refined) maximizing the posterior under
/// `prior`: the summed negative log-likelihood plus the prior's penalty. With no data,
/// the prior's centre (1 for [`Prior::FLAT`]).
pub fn fit_temperature_with(logits: &[Vec<f32>], targets: &[usize], prior: Prior) -> f32 {
    if logits.is_empty() {
        return prior.center;
    }
    let n = logits.len() as f64;
    minimize_on_grid(|t| n * nll(logits, targets, t) + prior.penalty(t))
}

/// The temperature in 0.25..20 minimizing `loss`: 40 points on a log grid, then 15
/// within 15% of the best of them.
pub fn minimize_on_grid(loss: impl Fn(f32) -> f64) -> f32 {
    let grid = |lo: f32, hi: f32, k: usize| {
        (0..k).map(move |i| lo * (hi / lo).powf(i as f32 / (k - 1) as f32))
    };
    let best = |it: &mut dyn Iterator<Item = f32>| {
        it.map(|t| (t, loss(t)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|x| x.0)
            .unwrap_or(1.0)
    };
    let (lo, hi) = (0.25, 20.0);
    let t0 = best(&mut grid(lo, hi, 40));
    // The refinement stays inside the range (at its floor it returned 0.25 / 1.15).
    best(&mut grid((t0 / 1.15).max(lo), (t0 * 1.15).min(hi), 15))
}

/// Share of (confidence, correct) pairs that are correct; 0 with none.
pub fn share_right(pairs: &[(f32, bool)]) -> f32 {
    pairs.iter().filter(|p| p.1).count() as f32 / pairs.len().max(1) as f32
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

/// Held-out labels an attribute needs before its temperature is fitted on its own (below:
/// the pooled temperature, see [`temperatures`]). One parameter is fitted, and a noisy fit
/// beats none: on anime-faces-96-raw at 100 answers the split held 17 images, the old
/// minimum of 20 left the temperature at 1, and the test split's hair ECE was 0.44
/// (BENCHMARKS.md, label, session 9).
pub const MIN_CALIBRATION: usize = 10;

/// How far one attribute's temperature may stray from the one pooled over every
/// attribute's held-out labels: the standard deviation of `ln T` of the log-normal prior,
/// centred on the pooled temperature, under which [`temperatures`] fits each attribute's
/// own (partial pooling, as in a hierarchical model of the heads' temperatures). The
/// heads share the network's body and its overfitting, and on a few dozen held-out labels
/// an attribute's own fit mostly follows which of them happened to be wrong: at 500
/// answers on anime-faces-64 one split of 51 fitted hair 0.45 and another eye 0.69 where
/// the test split wanted 1.1-1.35 for both, and the refit network's test ECE was up to
/// 0.053; shrunk towards the pooled temperature (1.14-1.25) every attribute-run's ECE was
/// at most 0.027, and the pooled one alone at most 0.023 (BENCHMARKS.md, label, session
/// 27). A head that truly errs otherwise than the others still gets its own temperature
/// once its held-out labels say so clearly.
pub const ATTRIBUTE_LOG_SD: f32 = 0.2;

/// Per attribute, the temperature fitted on its calibration split under a prior centred
/// on the temperature pooled over every attribute's held-out labels
/// ([`ATTRIBUTE_LOG_SD`]). An attribute with fewer than [`MIN_CALIBRATION`] held-out
/// labels takes the pooled temperature itself, and none is fitted (1) while all the
/// held-out labels together are fewer: at 50 answers one image in five held out leaves
/// 7-10 per attribute, and the unfitted network (hair right 65% of the time, eye 18%,
/// both heads near-certain) showed a test ECE of 0.22 / 0.24 (BENCHMARKS.md, label,
/// session 13); pooled, 0.20 / 0.035 (session 14).
pub fn temperatures(calib: &[Vec<(usize, usize)>], out: &Outputs) -> Vec<f32> {
    let held: usize = calib.iter().map(Vec::len).sum();
    if held < MIN_CALIBRATION {
        return vec![1.0; calib.len()];
    }
    let pooled = pooled_temperature(calib, out);
    let prior = Prior {
        center: pooled,
        log_sd: ATTRIBUTE_LOG_SD,
    };
    per_attribute(calib, out, pooled, prior)
}

/// Each attribute's temperature fitted on its own held-out labels under `prior`
/// ([`fit_temperature_with`]; [`Prior::FLAT`]: maximum likelihood, the rounds' fit until
/// session 27), the pooled one (under `prior` too) where an attribute has fewer than
/// [`MIN_CALIBRATION`]: to compare other fits with [`temperatures`]
/// (`examples/label_calibration`).
pub fn own_temperatures_with(
    calib: &[Vec<(usize, usize)>],
    out: &Outputs,
    prior: Prior,
) -> Vec<f32> {
    // Fitted only where some attribute needs it.
    let short = calib.iter().any(|p| p.len() < MIN_CALIBRATION);
    let held: usize = calib.iter().map(Vec::len).sum();
    let pooled = if short && held >= MIN_CALIBRATION {
        pooled_temperature_with(calib, out, prior)
    } else {
        prior.center
    };
    per_attribute(calib, out, pooled, prior)
}

/// Per attribute, the temperature fitted on its held-out labels under `prior`, or
/// `short` where it has fewer than [`MIN_CALIBRATION`].
fn per_attribute(
    calib: &[Vec<(usize, usize)>],
    out: &Outputs,
    short: f32,
    prior: Prior,
) -> Vec<f32> {
    calib
        .iter()
        .enumerate()
        .map(|(a, pairs)| match pairs.len() < MIN_CALIBRATION {
            true => short,
            false => fit_held_out(out, pairs.iter().map(|&(i, y)| (a, i, y)), prior),
        })
        .collect()
}

/// [`temperatures`] with the attributes marked in `leave_out` taking no part: their
/// held-out labels neither fit their own temperature nor join the pooled one. One
/// temperature pooled over the heads assumes they err alike; a head whose predictions a
/// heuristic replaced (the duel, `trust::Duel`) must not set the others'. On
/// `facesynth demo`'s faces the eye head (right 13-17% of the time) pulled the pooled
/// temperature to 1.45-1.57 and left the hair head (right 91-96%) underconfident, hair
/// ECE 0.35-0.42 (BENCHMARKS.md, label, session 23).
pub fn temperatures_leaving_out(
    calib: &[Vec<(usize, usize)>],
    out: &Outputs,
    leave_out: &[bool],
) -> Vec<f32> {
    temperatures(&leaving_out(calib, leave_out), out)
}

/// `calib` with the held-out labels of the attributes marked in `leave_out` emptied.
pub fn leaving_out(calib: &[Vec<(usize, usize)>], leave_out: &[bool]) -> Vec<Vec<(usize, usize)>> {
    calib
        .iter()
        .zip(leave_out)
        .map(|(c, &leave)| if leave { Vec::new() } else { c.clone() })
        .collect()
}

/// One temperature fitted on every attribute's held-out `(image, value)` pairs together.
pub fn pooled_temperature(calib: &[Vec<(usize, usize)>], out: &Outputs) -> f32 {
    pooled_temperature_with(calib, out, Prior::FLAT)
}

/// [`pooled_temperature`] under `prior`.
pub fn pooled_temperature_with(calib: &[Vec<(usize, usize)>], out: &Outputs, prior: Prior) -> f32 {
    let all = calib
        .iter()
        .enumerate()
        .flat_map(|(a, p)| p.iter().map(move |&(i, y)| (a, i, y)));
    fit_held_out(out, all, prior)
}

/// [`fit_temperature_with`] on `(attribute, image, value)` triples of `out`'s logits.
fn fit_held_out(
    out: &Outputs,
    pairs: impl Iterator<Item = (usize, usize, usize)>,
    prior: Prior,
) -> f32 {
    let (logits, targets): (Vec<Vec<f32>>, Vec<usize>) =
        pairs.map(|(a, i, y)| (out.logits[a][i].clone(), y)).unzip();
    fit_temperature_with(&logits, &targets, prior)
}

/// Labels the calibration split aims at: one temperature per attribute is fitted on
/// them, and every label held out beyond what that fit needs is one the network cannot
/// learn from.
pub const CALIBRATION_TARGET: usize = 50;

/// One human label in how many is held out for calibration when `--calibration-every` is
/// not given, with `images` labeled by people: 5, doubled (10, 20, ...) while
/// `images / every` would still be at least [`CALIBRATION_TARGET`], so the split holds
/// about 50-100 labels per attribute. The splits are nested
/// (a hash divisible by 10 is divisible by 5), so as answers come in, labels only leave
/// the calibration split for training. At 500 answers on anime-faces-64 (one in 10
/// instead of one in 5) hair / eye accuracy rose by +0.9 / +1.2 points (least-confidence)
/// and +1.1 / +2.6, +0.4 / +3.1 (random, two seeds), test ECE <= 0.045; one in 10 already
/// at 200 answers (20 images) left eye ECE at 0.100 (BENCHMARKS.md, label, session 8).
pub fn calibration_every(images: usize) -> u64 {
    let mut every = 5u64;
    while images as u64 / (every * 2) >= CALIBRATION_TARGET as u64 {
        every *= 2;
    }
    every
}

/// Mean top probability of `logits` at temperature `t`.
fn mean_confidence(logits: &[&[f32]], t: f32) -> f64 {
    let sum: f64 = logits
        .iter()
        .map(|l| softmax_t(l, t).into_iter().fold(0.0f32, f32::max) as f64)
        .sum();
    sum / logits.len().max(1) as f64
}

/// The temperature at which the mean top probability of `logits` is `target`
/// (bisection on ln T over 0.05-50; the mean falls as T rises), clamped to that range.
/// A network refitted on every answer ([`crate::labels::RoundSpec::refit`]) has no
/// held-out labels left; matched on the unlabeled images to the calibrated confidence of
/// the network that had them, it claims what that network's temperature fit says it
/// should claim there.
pub fn temperature_for_confidence(logits: &[&[f32]], target: f64) -> f32 {
    if logits.is_empty() {
        return 1.0;
    }
    let (mut lo, mut hi) = (0.05f32.ln(), 50f32.ln());
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        match mean_confidence(logits, mid.exp()) > target {
            true => lo = mid,
            false => hi = mid,
        }
    }
    (0.5 * (lo + hi)).exp()
}

/// The temperature that gives `logits` the mean top probability `reference` has at
/// `reference_t` ([`temperature_for_confidence`]).
pub fn matched_temperature(reference: &[&[f32]], reference_t: f32, logits: &[&[f32]]) -> f32 {
    temperature_for_confidence(logits, mean_confidence(reference, reference_t))
}

/// Whether `file` belongs to the calibration split (a stable 1-in-`every` by name).
pub fn is_calibration(file: &str, every: u64) -> bool {
    calibration_fold(file, every) == 0
}

/// Which of `every` folds a file's labels fall in by the same hash: fold 0 is the
/// calibration split ([`is_calibration`]), the others are cross-fitting's.
pub fn calibration_fold(file: &str, every: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(file.as_bytes()) % every.max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a sample's loss was capped at ln(1e12), so at a small temperature one
    /// confidently wrong label cost no more, and the fit fell to the grid's floor.
    #[test]
    fn one_confident_mistake_does_not_pull_the_fit_to_the_floor() {
        let mut logits: Vec<Vec<f32>> = (0..199).map(|_| vec![10.0, 0.0]).collect();
        let mut targets = vec![0usize; 199];
        logits.push(vec![65.0, 0.0]);
        targets.push(1);
        let t = fit_temperature(&logits, &targets);
        assert!((2.5..3.5).contains(&t), "{t}");
        // The loss grows without bound as a wrong margin does.
        assert!(nll(&[vec![200.0, 0.0]], &[1], 1.0) > 199.0);
    }

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
    fn the_matched_temperature_gives_the_asked_mean_confidence() {
        let logits: Vec<Vec<f32>> = (0..50)
            .map(|i| vec![(i % 7) as f32, 0.5, -(i % 3) as f32])
            .collect();
        let refs: Vec<&[f32]> = logits.iter().map(Vec::as_slice).collect();
        for target in [0.5, 0.7, 0.9] {
            let t = temperature_for_confidence(&refs, target);
            assert!(
                (mean_confidence(&refs, t) - target).abs() < 1e-3,
                "{target} at {t}"
            );
        }
        // Softer than asked for: sharpened (T < 1); sharper: softened.
        let at_one = mean_confidence(&refs, 1.0);
        assert!(temperature_for_confidence(&refs, at_one + 0.05) < 1.0);
        assert!(temperature_for_confidence(&refs, at_one - 0.05) > 1.0);
    }

    /// The posterior mode sits between the prior's centre and the likelihood's optimum,
    /// nearer the optimum the more held-out labels there are; with none, at the centre.
    #[test]
    fn a_prior_shrinks_small_splits_towards_its_centre() {
        let prior = Prior {
            center: 1.5,
            log_sd: 0.3,
        };
        assert_eq!(fit_temperature_with(&[], &[], prior), 1.5);
        assert_eq!(fit_temperature(&[], &[]), 1.0);
        // Right 70% of the time at ~99.9%: the likelihood wants a temperature near 8.
        let split = |n: usize| {
            let logits: Vec<Vec<f32>> = (0..n).map(|_| vec![7.0, 0.0]).collect();
            let targets: Vec<usize> = (0..n).map(|i| usize::from(i % 10 >= 7)).collect();
            (logits, targets)
        };
        let (small_l, small_t) = split(10);
        let (large_l, large_t) = split(1000);
        let mle = fit_temperature(&large_l, &large_t);
        let small = fit_temperature_with(&small_l, &small_t, prior);
        let large = fit_temperature_with(&large_l, &large_t, prior);
        assert!(mle > 7.0, "{mle}");
        assert!(
            small > 1.5 && small < large && large < mle,
            "{small} {large} {mle}"
        );
        assert!((large / mle - 1.0).abs() < 0.15, "{large} vs {mle}");
        assert_eq!(
            fit_temperature(&small_l, &small_t),
            fit_temperature_with(&small_l, &small_t, Prior::FLAT)
        );
    }

    /// Three heads with 9 held-out labels each, under the 10 of their own temperature:
    /// pooled with a head that is always wrong, two right heads get a temperature above
    /// one (underconfident); with that head left out, below one.
    #[test]
    fn a_head_left_out_does_not_set_the_pooled_temperature() {
        let n = 9;
        let logits = |right: bool| -> Vec<Vec<f32>> {
            (0..n)
                .map(|i| {
                    let mut l = vec![0.0f32; 4];
                    l[if right { i % 4 } else { (i + 1) % 4 }] = 2.0;
                    l
                })
                .collect()
        };
        let out = Outputs {
            logits: vec![logits(true), logits(false), logits(true)],
            embeddings: Vec::new(),
        };
        let calib: Vec<Vec<(usize, usize)>> = (0..3)
            .map(|_| (0..n).map(|i| (i, i % 4)).collect())
            .collect();
        let all = temperatures(&calib, &out);
        let without = temperatures_leaving_out(&calib, &out, &[false, true, false]);
        assert!(all[0] > 1.0 && all[0] == all[2], "{all:?}");
        assert!(without[0] < 1.0 && without[0] == without[2], "{without:?}");
        assert_eq!(temperatures_leaving_out(&calib, &out, &[false; 3]), all);
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

    /// Overconfident logits (the network says ~99.7%, a third is right) get a temperature
    /// above 1 from as few as [`MIN_CALIBRATION`] held-out labels; an attribute with
    /// fewer gets the one fitted on every attribute's labels together, and none is fitted
    /// while those are fewer too.
    #[test]
    fn a_small_calibration_split_still_fits_a_temperature() {
        let n = 30;
        let out = Outputs {
            logits: vec![(0..n).map(|_| vec![6.0, 0.0, 0.0]).collect(); 2],
            embeddings: vec![vec![0.0]; n],
        };
        let split = |k: usize| (0..k).map(|i| (i, i % 3)).collect::<Vec<_>>();
        let t = temperatures(&[split(MIN_CALIBRATION + 2)], &out)[0];
        assert!(t > 2.0, "{t}");
        assert_eq!(temperatures(&[split(MIN_CALIBRATION - 1)], &out)[0], 1.0);
        // Two attributes of 6 held-out labels each: 12 together, one temperature for both.
        let both = temperatures(&[split(6), split(6)], &out);
        assert!(both[0] > 2.0 && both[0] == both[1], "{both:?}");
        // One attribute large enough has its own fit, drawn towards the pooled one that
        // the small one takes.
        let right = (0..n).map(|i| (i, 0)).collect::<Vec<_>>();
        let own = own_temperatures_with(std::slice::from_ref(&right), &out, Prior::FLAT)[0];
        let mixed = temperatures(&[right, split(5)], &out);
        assert!(own < 1.0, "all right: sharpen, {own}");
        assert!(mixed[1] > 1.0 && mixed[1] != mixed[0], "{mixed:?}");
        assert!(mixed[0] > own && mixed[0] < mixed[1], "{own} {mixed:?}");
    }

    /// A head left out (its heuristic leads) takes no part in the fallback of a head
    /// short of held-out labels: that one stays at the prior's centre instead of the fit
    /// pooled over the other head's labels.
    #[test]
    fn a_left_out_head_does_not_set_a_short_heads_temperature() {
        // Head 0: 40 held-out labels, every one wrong at ~98% confidence; head 1: 5.
        let logits: Vec<Vec<f32>> = (0..40).map(|_| vec![4.0, 0.0, 0.0]).collect();
        let out = Outputs {
            logits: vec![logits.clone(), logits],
            embeddings: Vec::new(),
        };
        let calib = vec![
            (0..40).map(|i| (i, 1)).collect::<Vec<_>>(),
            (0..5).map(|i| (i, 0)).collect(),
        ];
        let prior = Prior {
            center: 1.5,
            log_sd: 0.5,
        };
        let pooled = own_temperatures_with(&calib, &out, prior);
        let kept = own_temperatures_with(&leaving_out(&calib, &[true, false]), &out, prior);
        assert!(pooled[1] > 3.0, "{pooled:?}");
        assert_eq!(kept[1], 1.5, "{kept:?}");
    }

    /// Two heads whose held-out labels say different things: each temperature lies
    /// between its own maximum-likelihood fit and the pooled one (or at its own), and
    /// moves from its own towards the pooled one by a larger share on 50 held-out labels
    /// than on 5,000.
    #[test]
    fn each_temperature_leans_on_the_pooled_one_by_as_much_as_its_split_is_small() {
        // Both heads say ~98% (logits 4, 0, 0); head 0 is right 49 times in 50, head 1
        // 4 times in 5.
        let heads = |n: usize| {
            let logits: Vec<Vec<f32>> = (0..n).map(|_| vec![4.0, 0.0, 0.0]).collect();
            let out = Outputs {
                logits: vec![logits.clone(), logits],
                embeddings: Vec::new(),
            };
            let calib: Vec<Vec<(usize, usize)>> = [50, 5]
                .iter()
                .map(|&every| {
                    (0..n)
                        .map(|i| (i, usize::from(i % every == every - 1)))
                        .collect()
                })
                .collect();
            (out, calib)
        };
        // Per head, the share of the way from its own fit to the pooled one.
        let shares = |n: usize| -> Vec<f32> {
            let (out, calib) = heads(n);
            let own = own_temperatures_with(&calib, &out, Prior::FLAT);
            let pooled = pooled_temperature(&calib, &out);
            let t = temperatures(&calib, &out);
            assert!(own[0] < pooled && pooled < own[1], "{own:?} {pooled}");
            (0..2)
                .map(|a| {
                    let share = (t[a] / own[a]).ln() / (pooled / own[a]).ln();
                    assert!((0.0..1.0).contains(&share), "{n}: {t:?} {own:?} {pooled}");
                    share
                })
                .collect()
        };
        let (few, many) = (shares(50), shares(5000));
        for a in 0..2 {
            assert!(
                few[a] > 0.2 && few[a] > 3.0 * many[a],
                "head {a}: {few:?} {many:?}"
            );
        }
    }

    #[test]
    fn the_calibration_split_keeps_about_50_to_100_labels_and_only_shrinks() {
        assert_eq!(calibration_every(40), 5);
        assert_eq!(calibration_every(499), 5);
        assert_eq!(calibration_every(500), 10);
        assert_eq!(calibration_every(999), 10);
        assert_eq!(calibration_every(1000), 20);
        for n in [100, 300, 700, 5000, 100_000] {
            let e = calibration_every(n) as usize;
            assert!(n < 500 || (50..100).contains(&(n / e)), "{n}: 1 in {e}");
        }
        // Nested: a label held out one in ten is held out one in five too.
        let files: Vec<String> = (0..5000).map(|i| format!("images/{i}.png")).collect();
        for f in &files {
            if is_calibration(f, 10) {
                assert!(is_calibration(f, 5), "{f}");
            }
        }
        let tenth = files.iter().filter(|f| is_calibration(f, 10)).count();
        assert!((400..600).contains(&tenth), "{tenth}");
    }
}
