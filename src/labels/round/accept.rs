//! Calibrated probabilities, and the confident ones accepted as model labels beside the
//! standing heuristic votes.

use super::{argmax, RoundSpec};
use crate::labels::calibrate;
use crate::labels::classifier::{softmax_t, Outputs};
use crate::labels::index::DatasetIndex;
use crate::labels::session::RoundInfo;
use crate::labels::store::{Label, LabelStore, Source};
use crate::labels::trust::{self, Trust};
use crate::labels::{LabelError, Paths, Schema};

/// Calibrated probabilities per attribute and image; records each attribute's
/// temperature, calibration split size, ECE on that split and the (confidence, right)
/// pairs it came from in `info`.
pub(super) fn calibrated(
    schema: &Schema,
    calib: &[Vec<(usize, usize)>],
    out: &Outputs,
    temps: &[f32],
    info: &mut RoundInfo,
) -> Vec<Vec<Vec<f32>>> {
    for (a, attr) in schema.attributes.iter().enumerate() {
        let t = temps[a];
        info.temperature.insert(attr.name.clone(), t);
        info.calibration_size
            .insert(attr.name.clone(), calib[a].len());
        if !calib[a].is_empty() {
            let logits: Vec<Vec<f32>> = calib[a]
                .iter()
                .map(|&(i, _)| out.logits[a][i].clone())
                .collect();
            let targets: Vec<usize> = calib[a].iter().map(|&(_, y)| y).collect();
            let pairs = calibrate::pairs(&logits, &targets, t);
            info.ece.insert(attr.name.clone(), calibrate::ece(&pairs));
            info.held_out.insert(attr.name.clone(), pairs);
        }
    }
    probabilities(out, temps)
}

/// Fewer unanswered images than this, and the refit takes the split network's
/// temperatures as they are instead of matching their mean confidence.
pub(super) const MIN_MATCH_POOL: usize = 20;

/// Per attribute, the temperature at which the refitted network's mean top probability
/// over the `pool` (images nobody answered, outside the test split) is the split
/// network's mean calibrated one there ([`calibrate::temperature_for_confidence`]).
/// The split network's own temperature, carried over, left the refit's eye head
/// underconfident on anime-faces-64 (mean confidence 0.857 at accuracy 0.903; BENCHMARKS.md,
/// label, session 25): the refit learned from more answers, and ends sharper or softer
/// than the network the temperature was fitted to.
pub(super) fn matched_temperatures(
    split: &Outputs,
    split_temps: &[f32],
    refit: &Outputs,
    pool: &[usize],
) -> Vec<f32> {
    split
        .logits
        .iter()
        .zip(split_temps)
        .zip(&refit.logits)
        .map(|((split, &t), refit)| {
            calibrate::matched_temperature(&on(split, pool), t, &on(refit, pool))
        })
        .collect()
}

/// Each split range's ends carried to the refitted network as [`matched_temperatures`]
/// carries the temperature (the matching is monotone, so the order holds); `None` stays.
pub(super) fn matched_ranges(
    split: &Outputs,
    ranges: &[Option<(f32, f32)>],
    refit: &Outputs,
    pool: &[usize],
) -> Vec<Option<(f32, f32)>> {
    ranges
        .iter()
        .enumerate()
        .map(|(a, range)| {
            let (lo, hi) = (*range)?;
            let (split, refit) = (on(&split.logits[a], pool), on(&refit.logits[a], pool));
            let carry = |t: f32| calibrate::matched_temperature(&split, t, &refit);
            Some((carry(lo), carry(hi)))
        })
        .collect()
}

/// The logits of the `pool`'s images.
fn on<'a>(logits: &'a [Vec<f32>], pool: &[usize]) -> Vec<&'a [f32]> {
    pool.iter().map(|&i| logits[i].as_slice()).collect()
}

/// Every image's probabilities per attribute at that attribute's temperature.
pub(super) fn probabilities(out: &Outputs, temps: &[f32]) -> Vec<Vec<Vec<f32>>> {
    out.logits
        .iter()
        .zip(temps)
        .map(|(logits, &t)| logits.iter().map(|l| softmax_t(l, t)).collect())
        .collect()
}

/// Where a heuristic beats the network on the held-out people's labels
/// ([`trust::Duel::heuristic_leads`]), its votes stand in for the network's predictions
/// ([`stand_in_votes`]) and its held-out labels leave the other attributes' temperature
/// fits ([`stand_in_temperatures`]). Records each duel in `info`; returns which
/// attributes the heuristic leads. The duel compares most likely values, which no
/// temperature changes, so it runs on the logits before calibration.
/// A small network that has seen a few dozen answers can be far worse than a colour
/// rule (the demo's eyes: 0.13-0.17 against 0.57); fusing both as independent experts
/// instead cost 2-8 points of hair once the network had 100 answers or more, their
/// errors being alike (BENCHMARKS.md, label, session 23).
pub(super) fn duel_heuristics(
    schema: &Schema,
    index: &DatasetIndex,
    trust: &Trust,
    calib: &[Vec<(usize, usize)>],
    out: &Outputs,
    info: &mut RoundInfo,
) -> Vec<bool> {
    let duels = trust::duel(&trust.votes, schema, &index.images, calib, &out.logits);
    schema
        .attributes
        .iter()
        .zip(duels)
        .map(|(attr, d)| {
            let leads = d.heuristic_leads();
            if d.heuristic > 0 {
                info.heuristic_duel.insert(attr.name.clone(), (d, leads));
            }
            leads
        })
        .collect()
}

/// The temperatures once the attributes a heuristic `leads` have left the others' fits
/// ([`calibrate::temperatures_leaving_out`]); a leading attribute keeps its own for the
/// images its heuristic abstained on. `temps` as they are when none leads.
pub(super) fn stand_in_temperatures(
    calib: &[Vec<(usize, usize)>],
    out: &Outputs,
    temps: Vec<f32>,
    leads: &[bool],
) -> Vec<f32> {
    if !leads.contains(&true) {
        return temps;
    }
    let refit = calibrate::temperatures_leaving_out(calib, out, leads);
    (0..leads.len())
        .map(|a| if leads[a] { temps[a] } else { refit[a] })
        .collect()
}

/// For each attribute a heuristic `leads`, each voted image's probabilities become the
/// vote's measured agreement ([`trust::vote_distribution`]), so the queue,
/// `predictions.csv` and the reported accuracy follow the better labeler.
pub(super) fn stand_in_votes(
    schema: &Schema,
    index: &DatasetIndex,
    trust: &Trust,
    leads: &[bool],
    probs: &mut [Vec<Vec<f32>>],
) {
    if !leads.contains(&true) {
        return;
    }
    let pos = index.positions();
    for (a, attr) in schema.attributes.iter().enumerate() {
        if !leads[a] {
            continue;
        }
        let k = attr.values.len();
        for v in trust.votes.iter().filter(|v| v.attribute == attr.name) {
            if let (Some(&i), Some(value)) = (pos.get(v.file.as_str()), attr.index_of(&v.value)) {
                probs[a][i] = trust::vote_distribution(value, k, trust.standing[a]);
            }
        }
    }
}

/// Puts the standing heuristic votes back in the store, accepts confident predictions as
/// model labels (the previous round's are replaced; a person's label is never
/// overwritten) and writes every prediction to `predictions.csv`.
#[allow(clippy::too_many_arguments)]
pub(super) fn accept(
    paths: &Paths,
    schema: &Schema,
    index: &DatasetIndex,
    store: &mut LabelStore,
    trust: &Trust,
    leads: &[bool],
    probs: &[Vec<Vec<f32>>],
    spec: &RoundSpec,
    round_no: u32,
    info: &mut RoundInfo,
) -> Result<(), LabelError> {
    store.clear_source(Source::Model);
    // A heuristic's votes stand as labels only while people do not contradict it (the
    // same rule that lets it train, over all its votes): on anime-faces-96-raw the hair
    // heuristic agreed with people on 4% of 25 images, yet its votes stayed in the store
    // as labels, 93% of them wrong. They are put back from every vote each round, so a
    // vote a model label displaced in an earlier round returns once that model label is
    // gone.
    store.clear_source(Source::Heuristic);
    for v in trust.votes.iter() {
        if schema
            .attribute_index(&v.attribute)
            .is_some_and(|a| trust.stands[a] || leads[a])
        {
            store.set(v.clone());
        }
    }
    // Until people's held-out answers fit a temperature, the confidences are the
    // network's own, and a network that learned from heuristic votes alone is sure of
    // many wrong ones: the first round on 400 anime faces accepted 375 hair labels at
    // 0.9, 54% of them right, which `label export` then handed to `train`. Predictions
    // are still written and queued; labels wait for a calibrated round.
    let calibrated = info.held_out.values().map(Vec::len).sum::<usize>()
        >= crate::labels::calibrate::MIN_CALIBRATION;
    let mut pred_rows = Vec::with_capacity(index.len() * schema.attributes.len());
    for (a, attr) in schema.attributes.iter().enumerate() {
        let mut accepted = 0;
        for (i, file) in index.images.iter().enumerate() {
            if spec.unreadable.contains(&i) {
                continue; // a blank input's guess: no prediction, no label
            }
            let (best, c) = argmax(&probs[a][i]);
            pred_rows.push([
                file.clone(),
                attr.name.clone(),
                attr.values[best].clone(),
                format!("{c:.4}"),
            ]);
            // A leading heuristic's vote is already in the store as its own label.
            // A NaN confidence (a diverged network) is never accepted.
            if !calibrated
                || c.is_nan()
                || c < spec.threshold
                || leads[a] && trust.votes.get(file, &attr.name).is_some()
            {
                continue;
            }
            if let Some(old) = store.get(file, &attr.name) {
                if old.source == Source::Human
                    || (old.source == Source::Heuristic
                        && old.value == attr.values[best]
                        && old.confidence >= c)
                {
                    continue;
                }
            }
            accepted += store.set(Label {
                file: file.clone(),
                attribute: attr.name.clone(),
                value: attr.values[best].clone(),
                confidence: c,
                source: Source::Model,
                round: round_no,
            }) as usize;
        }
        info.accepted.insert(attr.name.clone(), accepted);
    }
    crate::atomic::write_with(&paths.predictions(), |w| {
        let mut wtr = csv::Writer::from_writer(w);
        wtr.write_record(["file", "attribute", "value", "confidence"])?;
        for r in &pred_rows {
            wtr.write_record(r)?;
        }
        wtr.flush()
    })
    .map_err(|e| LabelError::io(&paths.predictions(), e))
}
