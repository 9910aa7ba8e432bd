//! Cross-fitted temperatures ([`RoundSpec::cross_fit`]): the calibration split's
//! predictions come from the split network, which never saw them; K-1 more networks
//! each leave out another fold of people's labels and predict it, so the temperatures
//! are fitted on K folds of out-of-fold predictions instead of one. At 200 answers one
//! fold is 33-41 labels per attribute, whose sampling spread put 8 of 20 attribute-runs
//! over ECE 0.05 on anime-faces-64 (BENCHMARKS.md, label, sessions 30-33).

use super::trainer::Trainer;
use super::training_set::TrainingSet;
use super::RoundSpec;
use crate::labels::calibrate::{self, calibration_fold};
use crate::labels::classifier::{Net, Outputs, Pixels};
use crate::labels::index::DatasetIndex;
use crate::labels::store::{LabelStore, Source};
use crate::labels::Schema;
use burn::tensor::backend::AutodiffBackend;

/// What cross-fitting gave: the temperatures, the labels they were fitted on, and each
/// other fold's network (for the next round's folds to continue).
pub(super) struct CrossFit<B: AutodiffBackend> {
    pub(super) temperatures: Vec<f32>,
    pub(super) labels: usize,
    pub(super) networks: Vec<(u64, Net<B>)>,
    /// Folds whose network continued one (`warm_for` gave it).
    pub(super) continued: usize,
}

/// The temperatures fitted on the split network's held-out predictions (`out` on
/// `set.calib`) and on each other fold's, predicted by a network trained without it
/// (continuing `warm_for(fold)` when it gives one, as the split network continued the
/// last round's).
#[allow(clippy::too_many_arguments)]
pub(super) fn temperatures<B: AutodiffBackend>(
    trainer: &mut Trainer<B>,
    schema: &Schema,
    index: &DatasetIndex,
    store: &LabelStore,
    spec: &RoundSpec,
    set: &TrainingSet,
    out: &Outputs,
    warm_for: impl Fn(u64) -> Option<Net<B>>,
) -> CrossFit<B> {
    let n_attr = schema.attributes.len();
    // The pooled out-of-fold predictions: logits per attribute, and (row, value) pairs.
    let mut logits: Vec<Vec<Vec<f32>>> = vec![Vec::new(); n_attr];
    let mut pairs: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n_attr];
    for (a, held) in set.calib.iter().enumerate() {
        for &(i, y) in held {
            pairs[a].push((logits[a].len(), y));
            logits[a].push(out.logits[a][i].clone());
        }
    }
    let all = set.with_calibration();
    let pos = index.positions();
    let folds = spec.cross_fit.min(set.every as usize);
    let (mut networks, mut continued) = (Vec::new(), 0);
    for fold in 1..folds as u64 {
        // People's labels in this fold: held out of its network, predicted by it.
        let mut held: Vec<(usize, usize, usize)> = Vec::new();
        for l in store.iter().filter(|l| l.source == Source::Human) {
            let (Some(&i), Some(a)) = (
                pos.get(l.file.as_str()),
                schema.attribute_index(&l.attribute),
            ) else {
                continue;
            };
            if spec.exclude.contains(&i) || calibration_fold(&l.file, set.every) != fold {
                continue;
            }
            if let Some(y) = schema.attributes[a].index_of(&l.value) {
                held.push((i, a, y));
            }
        }
        if held.is_empty() {
            continue;
        }
        let mut train = TrainingSet {
            samples: all.samples.clone(),
            calib: vec![Vec::new(); n_attr],
            every: set.every,
        };
        for &(i, a, y) in &held {
            if let Some(s) = train.samples.get_mut(&i) {
                s.targets[a] = None;
                if s.targets.iter().all(Option::is_none) {
                    train.samples.remove(&i);
                }
            }
            train.calib[a].push((i, y));
        }
        // The fold's images only are predicted: a few dozen, not the whole set.
        let mut images: Vec<usize> = held.iter().map(|&(i, _, _)| i).collect();
        images.sort_unstable();
        images.dedup();
        let plane = 3 * trainer.pixels.size * trainer.pixels.size;
        let sub = Pixels {
            size: trainer.pixels.size,
            data: images
                .iter()
                .flat_map(|&i| {
                    trainer.pixels.data[i * plane..(i + 1) * plane]
                        .iter()
                        .copied()
                })
                .collect(),
        };
        let samples = train.first_pass(index, spec);
        let warm = warm_for(fold);
        continued += usize::from(warm.is_some());
        let what = format!("cross-fit {}/{}", fold + 1, folds);
        let (net, o) = trainer.fold(warm, &samples, &sub, &what);
        networks.push((fold, net));
        for &(i, a, y) in &held {
            let k = images.binary_search(&i).expect("listed above");
            pairs[a].push((logits[a].len(), y));
            logits[a].push(o.logits[a][k].clone());
        }
    }
    let pooled = Outputs {
        logits,
        embeddings: Vec::new(),
    };
    CrossFit {
        temperatures: calibrate::temperatures(&pairs, &pooled),
        labels: pairs.iter().map(Vec::len).sum(),
        networks,
        continued,
    }
}
