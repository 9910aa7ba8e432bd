//! The record of each round, `rounds.json`: what it trained on, its temperatures and
//! calibration, the heuristics' trust.

use crate::labels::temperature_range::RANGE_LEVEL;
use crate::labels::trust::{agreement_lower_bound, MIN_OVERLAP};
use crate::labels::{calibrate, LabelError, Paths};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The record of one round (`rounds.json` holds all of them).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RoundInfo {
    /// Round number, from 1.
    pub round: u32,
    /// Human labels in the store when the round trained.
    pub human: usize,
    /// Training examples: human, trusted heuristic and self-training labels.
    pub train_samples: usize,
    /// Per attribute: the heuristic's agreement with people on the images both
    /// labeled, the number of such images, and whether its labels trained this round.
    #[serde(default)]
    pub heuristic_agreement: BTreeMap<String, (f32, usize, bool)>,
    /// The same over all the heuristic's votes, whatever their confidence, and whether
    /// its votes stand as labels in the store.
    #[serde(default)]
    pub heuristic_labels: BTreeMap<String, (f32, usize, bool)>,
    /// Per attribute: the heuristic against the network on the held-out labels
    /// ([`crate::labels::trust::Duel`]), when the heuristic won any, and whether its
    /// votes stood in for the network's predictions.
    #[serde(default)]
    pub heuristic_duel: BTreeMap<String, (crate::labels::trust::Duel, bool)>,
    /// One human label in this many was held out for calibration (`RoundSpec`).
    #[serde(default = "default_calibration_every")]
    pub calibration_every: u64,
    /// The network's input ([`RoundSpec::input_tag`]); empty in rounds recorded before
    /// it was kept.
    ///
    /// [`RoundSpec::input_tag`]: crate::labels::RoundSpec::input_tag
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub input: String,
    /// Images the round could not decode (`label queue` passes them over).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
    /// The test split the round kept out ([`RoundSpec::exclude_key`]; 0: none).
    ///
    /// [`RoundSpec::exclude_key`]: crate::labels::RoundSpec::exclude_key
    #[serde(default, skip_serializing_if = "is_zero")]
    pub test_split: u64,
    /// The saved network this round continued from (`model-split.mpk` or `model.mpk`,
    /// [`RoundSpec::warm_start`]); none: fresh weights.
    ///
    /// [`RoundSpec::warm_start`]: crate::labels::RoundSpec::warm_start
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start: Option<String>,
    /// Held-out human labels used for temperature scaling, per attribute.
    pub calibration_size: BTreeMap<String, usize>,
    /// Fitted temperature per attribute.
    pub temperature: BTreeMap<String, f32>,
    /// Expected calibration error on the held-out labels after scaling, per attribute.
    pub ece: BTreeMap<String, f32>,
    /// Per attribute, the pairs `ece` is computed from: on each held-out label, the split
    /// network's calibrated confidence in its predicted value and whether that value was
    /// the person's (the label page's reliability diagram). With `refit` on, the network
    /// that predicted `predictions.csv` learned from these labels, so only the round can
    /// score them unseen. Empty in rounds recorded before it was kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub held_out: BTreeMap<String, Vec<(f32, bool)>>,
    /// Model labels accepted (confidence at or above the threshold), per attribute.
    pub accepted: BTreeMap<String, usize>,
    /// Images queued for a person.
    pub queued: usize,
    /// Of those, how many were drawn at random: the warm-up's (`RoundSpec::warmup`), or all
    /// of them under the random strategy.
    #[serde(default)]
    pub queued_random: usize,
    /// Seconds the round took.
    pub seconds: f64,
    /// Of those, training the network(s) (0 in rounds recorded before it was kept).
    #[serde(default)]
    pub train_seconds: f64,
    /// And predicting every image.
    #[serde(default)]
    pub predict_seconds: f64,
    /// Whether the round's network was trained again on every answer, the calibration
    /// split included, after the split fitted the temperature ([`RoundSpec::refit`]).
    ///
    /// [`RoundSpec::refit`]: crate::labels::RoundSpec::refit
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refit: bool,
    /// With `refit`: the steps it continued from the split network for; 0: trained
    /// afresh ([`RoundSpec::refit_steps`]).
    ///
    /// [`RoundSpec::refit_steps`]: crate::labels::RoundSpec::refit_steps
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refit_steps: usize,
    /// With cross-fitting ([`RoundSpec::cross_fit`]), the out-of-fold labels the
    /// temperatures were fitted on (the calibration split's and the other folds'; also
    /// `calibration_size`'s sum then).
    ///
    /// [`RoundSpec::cross_fit`]: crate::labels::RoundSpec::cross_fit
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cross_fitted: usize,
    /// With cross-fitting, the fold networks (beside the split one) that continued the
    /// last round's network of the fold that holds them (`round::warm::fold_source`);
    /// the others started fresh.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub folds_continued: usize,
    /// With cross-fitting, the networks whose predictions were averaged (the split
    /// network and one per other fold).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cross_fit_networks: usize,
    /// The folds `--cross-fit` asked for, where the calibration split allowed fewer (one
    /// image in `calibration_every` is held out, so at most that many folds); 0 otherwise.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cross_fit_asked: usize,
    /// With `refit`: per attribute, the refitted network's temperature: from the votes
    /// where they fitted the split network's (`refit_vote_ratio`), elsewhere the one at
    /// which its mean confidence on the unanswered images is the split network's
    /// calibrated one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refit_temperature: BTreeMap<String, f32>,
    /// Per attribute whose heuristic's votes fitted the temperature
    /// ([`crate::labels::vote_temperature`]): that temperature, which `temperature`
    /// then holds, and the one the held-out answers alone gave.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vote_temperature: BTreeMap<String, (f32, f32)>,
    /// With `refit` and `vote_temperature`: the ratio of the refitted network's vote
    /// temperatures to the split network's, by which the other attributes' temperatures
    /// were carried ([`crate::labels::vote_temperature::carried_to_refit`]); the refit's
    /// mean confidence was matched instead where absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refit_vote_ratio: Option<f32>,
    /// With `vote_temperature`: the centre (their geometric mean) the other attributes'
    /// temperatures were drawn towards instead of the pooled held-out one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vote_prior: Option<f32>,
    /// Per attribute, the central 90% of the temperatures fitted on bootstrap resamples of
    /// the held-out images ([`crate::labels::temperature_range`]): how far `temperature`
    /// could be off with so few held-out labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub temperature_range: BTreeMap<String, (f32, f32)>,
    /// With `refit`: that range carried to the refitted network as its temperature is.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refit_temperature_range: BTreeMap<String, (f32, f32)>,
    /// Per attribute, the previous round's queue as people answered it before this round
    /// replaced it: how often its suggestion was the answer, at what mean confidence
    /// ([`crate::labels::queue::check_answered`]; the previous round's calibration on its
    /// least certain images, out of sample).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub previous_queue: BTreeMap<String, crate::labels::queue::QueueCheck>,
}

/// ` (held-out answers' 90% range LO-HI)` when `range` holds `attr`, else nothing: the
/// range of the held-out answers' own fit, which the temperature used (the votes', or
/// drawn towards the pooled one) may lie outside.
fn range_text(range: &BTreeMap<String, (f32, f32)>, attr: &str) -> String {
    range.get(attr).map_or(String::new(), |(lo, hi)| {
        format!(
            " (held-out answers' {:.0}% range {lo:.2}-{hi:.2})",
            100.0 * RANGE_LEVEL
        )
    })
}

impl std::fmt::Display for RoundInfo {
    /// What the round did, for a person: one line for the round, one per attribute
    /// (temperature, calibration, accepted labels, the heuristic's standing).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "round {}: {} people's labels, {} training images, {} queued ({} at random), {:.1} s (training {:.1} s)",
            self.round,
            self.human,
            self.train_samples,
            self.queued,
            self.queued_random,
            self.seconds,
            self.train_seconds
        )?;
        if let Some(from) = &self.warm_start {
            writeln!(f, "  continued the last round's network ({from})")?;
        }
        for (attr, c) in &self.previous_queue {
            writeln!(f, "  {attr}: {}", c.summary("the previous queue's"))?;
        }
        if self.cross_fitted > 0 {
            let continued = match self.folds_continued {
                0 => String::new(),
                n => format!("; {n} fold networks continued the last round's"),
            };
            writeln!(
                f,
                "  cross-fitted: {} networks, each without a fold of the answers, calibrated on the {} labels they never saw and averaged{continued}",
                self.cross_fit_networks, self.cross_fitted
            )?;
            if self.cross_fit_asked > 0 {
                writeln!(
                    f,
                    "  (--cross-fit {} asked: one answer in {} is held out, so {} folds)",
                    self.cross_fit_asked, self.calibration_every, self.calibration_every
                )?;
            }
        }
        for (attr, (t, held)) in &self.vote_temperature {
            writeln!(
                f,
                "  {attr}: temperature {t:.2} fitted on the heuristic's votes over the unanswered images, read as noisy labels (the held-out answers alone: {held:.2})"
            )?;
        }
        if let Some(c) = self.vote_prior {
            writeln!(
                f,
                "  the other attributes' temperatures drawn towards {c:.2} (the votes') instead of the pooled held-out one"
            )?;
        }
        if self.refit {
            let temps: Vec<String> = self
                .refit_temperature
                .iter()
                .map(|(attr, t)| {
                    format!(
                        "{attr} {t:.2}{}",
                        range_text(&self.refit_temperature_range, attr)
                    )
                })
                .collect();
            let how = match self.refit_steps {
                0 => "afresh".to_string(),
                n => format!("{n} more steps"),
            };
            let carry = match self.refit_vote_ratio {
                Some(r) => format!(
                    " (the votes' fits, the others the split network's times {r:.2}, the votes' ratio)"
                ),
                None => String::new(),
            };
            writeln!(
                f,
                "  refit ({how}) on every answer, the held-out ones included; its temperatures: {}{carry}",
                temps.join(", ")
            )?;
        }
        for (attr, t) in &self.temperature {
            let held = self.calibration_size.get(attr).copied().unwrap_or(0);
            let ece = self
                .ece
                .get(attr)
                .map_or("-".to_string(), |e| format!("{e:.3}"));
            let accepted = self.accepted.get(attr).copied().unwrap_or(0);
            let right = self
                .held_out
                .get(attr)
                .filter(|p| !p.is_empty())
                .map_or(String::new(), |p| {
                    format!(" ({:.0}% right)", 100.0 * calibrate::share_right(p))
                });
            write!(
                f,
                "  {attr}: temperature {t:.2}{}, ECE {ece} on {held} held-out labels{right}, {accepted} model labels accepted",
                range_text(&self.temperature_range, attr)
            )?;
            let all_held: usize = self.calibration_size.values().sum();
            if held == 0 && accepted > 0 {
                // Said where the labels are counted: nothing checked these confidences
                // (rounds before uncalibrated rounds stopped accepting).
                write!(
                    f,
                    " (uncalibrated: no held-out answers yet, the network's own confidences)"
                )?;
            } else if all_held < calibrate::MIN_CALIBRATION && accepted == 0 {
                write!(
                    f,
                    " (none until people's answers hold out {} labels to calibrate it)",
                    calibrate::MIN_CALIBRATION
                )?;
            }
            if let Some(&(share, n, trains)) = self.heuristic_agreement.get(attr) {
                let verdict = if trains { "trains" } else { "left out" };
                // The rule judges the share's lower bound, and only from MIN_OVERLAP
                // images: without it "91% of 23: left out" read as a contradiction.
                let why = match n < MIN_OVERLAP {
                    true => format!("under {MIN_OVERLAP}, not judged yet"),
                    false => {
                        let ok = (share * n as f32).round() as usize;
                        format!("lower bound {:.0}%", 100.0 * agreement_lower_bound(ok, n))
                    }
                };
                write!(
                    f,
                    "; heuristic agrees with people on {:.0}% of {n} ({why}): {verdict}",
                    100.0 * share
                )?;
            }
            let stands_in = matches!(self.heuristic_duel.get(attr), Some((_, true)));
            if let (Some((share, n, false)), false) = (self.heuristic_labels.get(attr), stands_in) {
                write!(
                    f,
                    "; its votes agree with people on {:.0}% of {n}: withdrawn from the store",
                    100.0 * share
                )?;
            }
            if let Some((d, true)) = self.heuristic_duel.get(attr) {
                write!(
                    f,
                    "; the heuristic beat the network on {} held-out labels to {}: its votes stand in",
                    d.heuristic, d.network
                )?;
            }
            writeln!(f)?;
        }
        // A wide range is the held-out split's sampling spread (33-41 labels an attribute
        // at 200 answers spanned 1.3-2x); cross-fitting judges on every answer.
        let widest = self
            .temperature_range
            .values()
            .map(|&(lo, hi)| hi / lo.max(1e-3))
            .fold(0.0f32, f32::max);
        if self.cross_fitted == 0 && widest > WIDE_RANGE {
            writeln!(
                f,
                "  the temperatures could be off by up to {widest:.1}x on so few held-out labels: `--cross-fit 5` calibrates on every answer (5 networks a round)"
            )?;
        }
        Ok(())
    }
}

/// A temperature range (high over low) past which a round suggests cross-fitting.
const WIDE_RANGE: f32 = 1.5;

/// Rounds recorded before `calibration_every` existed held out one label in five.
fn default_calibration_every() -> u64 {
    5
}

/// Reads `rounds.json` (empty when absent). A file that exists and does not parse (a
/// hand edit, a NaN that serde wrote as `null` after a diverged network) is an error:
/// read as empty, the next round would write a history of itself alone over it, its
/// number back at 1 and no network to continue.
pub fn read_rounds(paths: &Paths) -> Result<Vec<RoundInfo>, LabelError> {
    let path = paths.rounds();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LabelError::io(&path, e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| LabelError::History {
        path,
        reason: e.to_string(),
    })
}

/// Whether a count or key is 0 (left out of the JSON: `skip_serializing_if`).
pub(crate) fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_accepted_without_held_out_answers_are_called_uncalibrated() {
        let mut info = RoundInfo::default();
        info.temperature.insert("hair_color".into(), 1.0);
        info.accepted.insert("hair_color".into(), 279);
        assert!(info.to_string().contains("uncalibrated"), "{info}");
        info.calibration_size.insert("hair_color".into(), 40);
        assert!(!info.to_string().contains("uncalibrated"), "{info}");
        // Today's rounds accept nothing until the confidences are calibrated, and say so.
        let mut first = RoundInfo::default();
        first.temperature.insert("hair_color".into(), 1.0);
        first.accepted.insert("hair_color".into(), 0);
        assert!(
            first.to_string().contains("none until people's answers"),
            "{first}"
        );
    }

    #[test]
    fn a_wide_temperature_range_suggests_cross_fitting() {
        let mut info = RoundInfo::default();
        info.temperature.insert("eye_color".into(), 2.0);
        info.temperature_range
            .insert("eye_color".into(), (1.48, 2.20));
        assert!(!info.to_string().contains("--cross-fit"), "{info}");
        info.temperature_range
            .insert("eye_color".into(), (1.40, 2.40));
        assert!(info.to_string().contains("off by up to 1.7x"), "{info}");
        // A cross-fitted round has already done it.
        info.cross_fitted = 200;
        assert!(!info.to_string().contains("--cross-fit"), "{info}");
    }
}
