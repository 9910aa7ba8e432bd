//! How far a round's temperatures could be off: a percentile bootstrap (Efron & Tibshirani
//! 1993, ch. 13) of [`calibrate::temperatures`] over the held-out images.
//!
//! The calibration split holds a few dozen labels per attribute, and the temperature
//! fitted on them scatters: at 200 answers on anime-faces-64 the split networks' fits
//! ranged over 1.35-2.49 on three draws where the test split wanted 1.76-2.20, and fits
//! off by a tenth to a third put the test ECE over 0.05 (BENCHMARKS.md, label, sessions
//! 29-30). The range says so to the person reading `label status`: a wide one means the
//! confidences are approximate until more answers come in.

use super::calibrate;
use super::classifier::Outputs;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::HashMap;

/// Share of the bootstrap's temperatures inside a reported range (the 5th to the 95th
/// percentile).
pub const RANGE_LEVEL: f32 = 0.9;

/// Resamples of the held-out images.
const DRAWS: usize = 200;

/// Per attribute, the central [`RANGE_LEVEL`] of the temperatures that
/// [`calibrate::temperatures_leaving_out`] fits on resamples of the calibration split's
/// images (drawn with replacement, every attribute's label of a drawn image with it, as
/// the attributes share their held-out images and the pooled temperature). `None` where
/// no temperature is fitted from this split: an attribute `leave_out` marks, or every
/// attribute while the split holds fewer than [`calibrate::MIN_CALIBRATION`] labels.
/// Seeded, so a round's record is the same on a rerun.
pub fn temperature_ranges(
    calib: &[Vec<(usize, usize)>],
    out: &Outputs,
    leave_out: &[bool],
) -> Vec<Option<(f32, f32)>> {
    let held: usize = calib
        .iter()
        .zip(leave_out)
        .filter(|(_, &l)| !l)
        .map(|(c, _)| c.len())
        .sum();
    if held < calibrate::MIN_CALIBRATION {
        return vec![None; calib.len()];
    }
    // Each held-out image with its (attribute, value) pairs, in the order first met.
    let mut images: Vec<(usize, Vec<(usize, usize)>)> = Vec::new();
    let mut position: HashMap<usize, usize> = HashMap::new();
    for (a, pairs) in calib.iter().enumerate() {
        for &(i, y) in pairs {
            let at = *position.entry(i).or_insert_with(|| {
                images.push((i, Vec::new()));
                images.len() - 1
            });
            images[at].1.push((a, y));
        }
    }
    let mut rng = StdRng::seed_from_u64(0x7E3F);
    let mut fits: Vec<Vec<f32>> = vec![Vec::with_capacity(DRAWS); calib.len()];
    for _ in 0..DRAWS {
        let mut draw: Vec<Vec<(usize, usize)>> = vec![Vec::new(); calib.len()];
        for _ in 0..images.len() {
            let (i, labels) = &images[rng.random_range(0..images.len())];
            for &(a, y) in labels {
                draw[a].push((*i, y));
            }
        }
        for (a, t) in calibrate::temperatures_leaving_out(&draw, out, leave_out)
            .into_iter()
            .enumerate()
        {
            fits[a].push(t);
        }
    }
    let tail = (1.0 - RANGE_LEVEL) / 2.0;
    fits.into_iter()
        .enumerate()
        .map(|(a, mut ts)| {
            if leave_out[a] {
                return None;
            }
            ts.sort_by(f32::total_cmp);
            let at = |q: f32| ts[((q * (ts.len() - 1) as f32).round() as usize).min(ts.len() - 1)];
            Some((at(tail), at(1.0 - tail)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` held-out images of one two-valued attribute whose logits say 95% and are
    /// right on the first `right` of them.
    fn split(n: usize, right: usize) -> (Vec<Vec<(usize, usize)>>, Outputs) {
        let logits: Vec<Vec<f32>> = (0..n).map(|_| vec![3.0, 0.0]).collect();
        let calib = vec![(0..n).map(|i| (i, usize::from(i >= right))).collect()];
        let out = Outputs {
            logits: vec![logits],
            embeddings: vec![Vec::new(); n],
        };
        (calib, out)
    }

    /// The range holds the fitted temperature and narrows as the split grows: the same
    /// share right on 40 and on 400 images.
    #[test]
    fn the_range_holds_the_fit_and_narrows_with_more_labels() {
        let width = |n: usize| {
            let (calib, out) = split(n, n * 8 / 10);
            let t = calibrate::temperatures(&calib, &out)[0];
            let (lo, hi) = temperature_ranges(&calib, &out, &[false])[0].expect("fitted");
            assert!(lo <= t && t <= hi, "{lo}..{hi} holds the fit {t}");
            assert!(
                hi > lo,
                "resamples differ, so the range has width ({lo}..{hi})"
            );
            (hi / lo).ln()
        };
        let (small, large) = (width(40), width(400));
        assert!(
            large < 0.6 * small,
            "ten times the labels narrow the range (ln widths {small:.3}, {large:.3})"
        );
    }

    /// No range where no temperature is fitted: too small a split, or an attribute left
    /// out.
    #[test]
    fn no_range_without_a_fit() {
        let (calib, out) = split(5, 4);
        assert_eq!(temperature_ranges(&calib, &out, &[false]), vec![None]);
        let (calib, out) = split(40, 30);
        assert_eq!(temperature_ranges(&calib, &out, &[true]), vec![None]);
    }
}
