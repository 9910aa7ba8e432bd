//! A round's training set: people's labels less a calibration split, and the heuristic
//! votes while they are trusted.

use super::RoundSpec;
use crate::labels::calibrate::{calibration_every, calibration_fold};
use crate::labels::classifier::Sample;
use crate::labels::index::DatasetIndex;
use crate::labels::store::{LabelStore, Source};
use crate::labels::trust::Trust;
use crate::labels::Schema;
use std::collections::{BTreeMap, HashSet};

/// A round's training labels by image, and the people's labels held out to calibrate.
pub(super) struct TrainingSet {
    /// People's labels (less the calibration split) and trusted heuristic votes.
    pub(super) samples: BTreeMap<usize, Sample>,
    /// Per attribute, the held-out `(image, value)` pairs.
    pub(super) calib: Vec<Vec<(usize, usize)>>,
    /// One people's label in this many is held out.
    pub(super) every: u64,
}

impl TrainingSet {
    /// People's labels from the store; heuristic votes from their own file, on the
    /// images and attributes no person has labeled (a person's label wins), while
    /// trusted. The previous round's model labels do not train: they are this network's
    /// own guesses, errors fed back round after round; `self_train_steps` is the measured
    /// way to learn from confident predictions.
    pub(super) fn gather(
        schema: &Schema,
        index: &DatasetIndex,
        store: &LabelStore,
        trust: &Trust,
        spec: &RoundSpec,
    ) -> Self {
        Self::gather_holding_out(schema, index, store, trust, spec, 0)
    }

    /// [`Self::gather`] holding out fold `fold` of people's labels instead of the
    /// calibration split (fold 0): a cross-fitting network's training set, made as the
    /// split network's is.
    pub(super) fn gather_holding_out(
        schema: &Schema,
        index: &DatasetIndex,
        store: &LabelStore,
        trust: &Trust,
        spec: &RoundSpec,
        fold: u64,
    ) -> Self {
        let n_attr = schema.attributes.len();
        let pos = index.positions();
        let human = store.human_files();
        // Hold out a calibration split of human labels once there are enough of them.
        let calibrate_on = store.iter().filter(|l| l.source == Source::Human).count() >= 40;
        // The split is per attribute: size it by the images people labeled, not by their
        // labels (two attributes per image would halve it).
        let every = spec
            .calibration_every
            .unwrap_or_else(|| calibration_every(human.len()));
        let mut samples: BTreeMap<usize, Sample> = BTreeMap::new();
        let mut calib: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n_attr];
        let people = store.iter().filter(|l| l.source == Source::Human);
        let heuristic = trust.votes.iter().filter(|l| {
            store
                .get(&l.file, &l.attribute)
                .is_none_or(|s| s.source != Source::Human)
        });
        for l in people.chain(heuristic) {
            let (Some(&i), Some(a)) = (
                pos.get(l.file.as_str()),
                schema.attribute_index(&l.attribute),
            ) else {
                continue;
            };
            if spec.exclude.contains(&i) {
                continue;
            }
            let Some(value) = schema.attributes[a].index_of(&l.value) else {
                continue;
            };
            let weight = match l.source {
                Source::Human if calibrate_on && calibration_fold(&l.file, every) == fold => {
                    calib[a].push((i, value));
                    continue;
                }
                Source::Human => 1.0,
                Source::Heuristic
                    if trust.trains[a] && l.confidence >= spec.heuristic_threshold =>
                {
                    spec.synth_weight
                }
                _ => continue,
            };
            samples
                .entry(i)
                .or_insert_with(|| Sample::unlabeled(i, n_attr))
                .set(a, value, weight);
        }
        TrainingSet {
            samples,
            calib,
            every,
        }
    }

    /// The same labels with the calibration split back among them and none held out:
    /// what a refit trains on ([`RoundSpec::refit`]).
    pub(super) fn with_calibration(&self) -> TrainingSet {
        let n_attr = self.calib.len();
        let mut samples = self.samples.clone();
        for (a, held) in self.calib.iter().enumerate() {
            for &(image, value) in held {
                samples
                    .entry(image)
                    .or_insert_with(|| Sample::unlabeled(image, n_attr))
                    .set(a, value, 1.0);
            }
        }
        TrainingSet {
            samples,
            calib: vec![Vec::new(); n_attr],
            every: self.every,
        }
    }

    /// The samples of the first pass: the labeled ones, and with the consistency loss
    /// every image nobody labeled, which it learns from: not the test split, and not the
    /// calibration split unless [`RoundSpec::consistency_on_held_out`] (its labels never
    /// train either way).
    /// `images`: the dataset's image count.
    pub(super) fn first_pass(&self, images: usize, spec: &RoundSpec) -> Vec<Sample> {
        let mut first: Vec<Sample> = self.samples.values().cloned().collect();
        if spec.train.consistency.on() {
            let n_attr = self.calib.len();
            let held: HashSet<usize> = match spec.consistency_on_held_out {
                true => HashSet::new(),
                false => self.calib.iter().flatten().map(|&(i, _)| i).collect(),
            };
            first.extend(
                (0..images)
                    .filter(|i| !self.samples.contains_key(i) && !held.contains(i))
                    .filter(|i| !spec.exclude.contains(i))
                    .map(|image| Sample::unlabeled(image, n_attr)),
            );
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::classifier::TrainSpec;

    /// The first pass: labeled samples, and with the consistency loss the images nobody
    /// labeled, the test split never, the calibration split's only when asked for (and
    /// then without its labels).
    #[test]
    fn the_first_pass_takes_the_calibration_images_unlabeled_only_when_asked() {
        let mut samples = BTreeMap::new();
        samples.insert(0, Sample::new(0, vec![Some(1)], 1.0));
        let set = TrainingSet {
            samples,
            calib: vec![vec![(2, 0)]],
            every: 5,
        };
        let spec = |held_out: bool| RoundSpec {
            exclude: [3].into(),
            consistency_on_held_out: held_out,
            ..RoundSpec::default()
        };
        let images = |s: &[Sample]| -> Vec<(usize, bool)> {
            s.iter()
                .map(|s| (s.image, s.targets.iter().any(Option::is_some)))
                .collect()
        };
        let off = set.first_pass(5, &spec(false));
        assert_eq!(images(&off), [(0, true), (1, false), (4, false)]);
        let on = set.first_pass(5, &spec(true));
        assert_eq!(images(&on), [(0, true), (1, false), (2, false), (4, false)]);
        let no_consistency = RoundSpec {
            train: TrainSpec {
                consistency: Default::default(),
                ..RoundSpec::default().train
            },
            ..spec(true)
        };
        assert_eq!(images(&set.first_pass(5, &no_consistency)), [(0, true)]);
    }

    #[test]
    fn with_calibration_trains_on_the_held_out_labels_too() {
        let mut samples = BTreeMap::new();
        // Image 1: a heuristic eye vote (weight 0.5) whose hair a person answered in the
        // calibration split.
        samples.insert(1, Sample::new(1, vec![None, Some(3)], 0.5));
        let set = TrainingSet {
            samples,
            calib: vec![vec![(1, 2), (7, 0)], vec![(7, 4)]],
            every: 10,
        };
        let all = set.with_calibration();
        assert!(all.calib.iter().all(Vec::is_empty));
        assert_eq!(all.every, 10);
        // The person's hair trains at 1, the vote's eye still at its own 0.5.
        let one = &all.samples[&1];
        assert_eq!(
            (one.targets.clone(), one.weights.clone()),
            (vec![Some(2), Some(3)], vec![1.0, 0.5])
        );
        let seven = &all.samples[&7];
        assert_eq!(
            (seven.targets.clone(), seven.weights.clone()),
            (vec![Some(0), Some(4)], vec![1.0, 1.0])
        );
        assert_eq!(all.samples.len(), 2);
    }
}
