//! Cross-fitting ([`RoundSpec::cross_fit`]): the calibration split's predictions come
//! from the split network, which never saw them; K-1 more networks each leave out
//! another fold of people's labels and predict it, so the temperatures are fitted on K
//! folds of out-of-fold predictions instead of one, and the round's predictions are the
//! K networks' average (cross-validation ensembling, as scikit-learn's
//! `CalibratedClassifierCV(ensemble=True)`), so every network that predicts was
//! calibrated on answers it never saw. At 200 answers one fold is 33-41 labels per
//! attribute, whose sampling spread put 8 of 20 attribute-runs over ECE 0.05 on
//! anime-faces-64 (BENCHMARKS.md, label, sessions 30-33); and a refit's temperature,
//! carried from the split network by matched mean confidence, over-softened eye colour
//! by 11% on average there, the refit having learned more than the split network knew
//! (session 37).

use super::trainer::Trainer;
use super::training_set::TrainingSet;
use super::RoundSpec;
use crate::labels::calibrate;
use crate::labels::classifier::{Net, Outputs};
use crate::labels::index::DatasetIndex;
use crate::labels::store::LabelStore;
use crate::labels::trust::Trust;
use crate::labels::Schema;
use burn::tensor::backend::AutodiffBackend;

/// What cross-fitting gave: the temperatures, the out-of-fold predictions they were
/// fitted on, and each other fold's network.
pub(super) struct CrossFit<B: AutodiffBackend> {
    pub(super) temperatures: Vec<f32>,
    /// Per attribute, the people's labels of every fold as (image, value) pairs: the
    /// calibration split's and the other folds'.
    pub(super) calib: Vec<Vec<(usize, usize)>>,
    /// The split network's outputs with each other fold's images predicted by the
    /// network trained without them (logits only): with `calib`, what the temperatures,
    /// the reported ECE and the heuristics' duel are judged on.
    pub(super) oof: Outputs,
    /// Folds 1 and up, each with its network (for the round's average and for the next
    /// round's folds to continue).
    pub(super) networks: Vec<(u64, Net<B>)>,
    /// Folds whose network continued one (`warm_for` gave it).
    pub(super) continued: usize,
}

/// The split network's held-out predictions (`out` on `set.calib`) and each other
/// fold's, predicted by a network trained without it (continuing `warm_for(fold)` when
/// it gives one, as the split network continued the last round's), and the temperatures
/// fitted on all of them.
#[allow(clippy::too_many_arguments)]
pub(super) fn cross_fit<B: AutodiffBackend>(
    trainer: &mut Trainer<B>,
    schema: &Schema,
    index: &DatasetIndex,
    store: &LabelStore,
    spec: &RoundSpec,
    trust: &Trust,
    set: &TrainingSet,
    out: &Outputs,
    warm_for: impl Fn(u64) -> Option<Net<B>>,
) -> CrossFit<B> {
    let mut calib = set.calib.clone();
    let mut oof = Outputs {
        logits: out.logits.clone(),
        embeddings: Vec::new(),
    };
    let folds = spec.cross_fit.min(set.every as usize);
    let (mut networks, mut continued) = (Vec::new(), 0);
    for fold in 1..folds as u64 {
        // People's labels in this fold: held out of its network, predicted by it.
        let train = TrainingSet::gather_holding_out(schema, index, store, trust, spec, fold);
        if train.calib.iter().all(Vec::is_empty) {
            continue;
        }
        // The fold's images only are predicted here: a few dozen, not the whole set.
        let mut images: Vec<usize> = train.calib.iter().flatten().map(|&(i, _)| i).collect();
        images.sort_unstable();
        images.dedup();
        let sub = trainer.pixels.select(&images);
        let samples = train.first_pass(index.len(), spec);
        let warm = warm_for(fold);
        continued += usize::from(warm.is_some());
        let what = format!("cross-fit {}/{}", fold + 1, folds);
        let (net, o) = trainer.fold(warm, &samples, &sub, &what);
        networks.push((fold, net));
        // A file's answers all fall in one fold, so each image's logits come from one
        // network that never saw any of its answers.
        for (a, held) in train.calib.iter().enumerate() {
            for &(i, y) in held {
                let k = images.binary_search(&i).expect("listed above");
                oof.logits[a][i].clone_from(&o.logits[a][k]);
                calib[a].push((i, y));
            }
        }
    }
    CrossFit {
        temperatures: calibrate::temperatures(&calib, &oof),
        calib,
        oof,
        networks,
        continued,
    }
}
