//! Training a round's networks (fresh or warm-started, an ensemble, self-training) and
//! predicting every image with them.

use super::training_set::TrainingSet;
use super::{argmax, RoundSpec};
use crate::labels::calibrate::temperatures;
use crate::labels::classifier::{self, softmax_t, Outputs, Pixels, Sample, TrainSpec};
use crate::labels::index::DatasetIndex;
use crate::labels::store::LabelStore;
use crate::progress::{self, Verbosity};
use burn::tensor::backend::AutodiffBackend;
use std::path::Path;
use std::time::Instant;

/// How far apart the seeds of an ensemble's members are ([`RoundSpec::ensemble`]).
const ENSEMBLE_SEED_STRIDE: u64 = 1000;

/// Trains a round's networks and predicts every image with them, keeping the time each
/// part took for `rounds.json`.
pub(super) struct Trainer<'a, B: AutodiffBackend> {
    pub(super) pixels: &'a Pixels,
    pub(super) classes: Vec<usize>,
    pub(super) spec: &'a RoundSpec,
    pub(super) device: &'a B::Device,
    pub(super) v: Verbosity,
    pub(super) train_s: f64,
    pub(super) predict_s: f64,
}

impl<B: AutodiffBackend> Trainer<'_, B> {
    /// The round's networks trained (the first continuing `warm` when given, a saved
    /// network [`Self::load`] read; self-trained when asked), their averaged predictions
    /// on every image and the temperatures fitted on the calibration split. Returns
    /// every member; the first is the network the next round continues.
    pub(super) fn run(
        &mut self,
        mut warm: Option<classifier::Net<B>>,
        index: &DatasetIndex,
        store: &LabelStore,
        set: &mut TrainingSet,
    ) -> (Vec<classifier::Net<B>>, Outputs, Vec<f32>) {
        let spec = self.spec;
        let first = set.first_pass(index.len(), spec);
        let mut models: Vec<classifier::Net<B>> = (0..spec.ensemble.max(1))
            .map(|k| self.fit(warm.take(), &first, &spec.train, k, "train"))
            .collect();
        let mut out = self.predict(&models);
        let mut temps = temperatures(&set.calib, &out);
        // Self-training: this model's confident predictions on the images no person has
        // labeled join the training set, and the network trains on for a second pass.
        // Only with confidences calibrated on held-out answers, the rule `accept` keeps
        // (uncalibrated, 375 hair predictions at 0.9 were 54% right): a refit trains
        // without a held-out split, and so does a round with too few answers.
        let held: usize = set.calib.iter().map(Vec::len).sum();
        let calibrated = held >= crate::labels::calibrate::MIN_CALIBRATION;
        if spec.self_train_steps > 0 && !first.is_empty() && calibrated {
            let human = store.human_files();
            let n_attr = self.classes.len();
            for i in 0..index.len() {
                if spec.exclude.contains(&i) || human.contains(index.images[i].as_str()) {
                    continue;
                }
                for (a, &t) in temps.iter().enumerate().take(n_attr) {
                    let p = softmax_t(&out.logits[a][i], t);
                    let (best, c) = argmax(&p);
                    if c < spec.threshold {
                        continue;
                    }
                    let s = set
                        .samples
                        .entry(i)
                        .or_insert_with(|| Sample::unlabeled(i, n_attr));
                    if s.targets[a].is_none() {
                        s.set(a, best, spec.synth_weight);
                    }
                }
            }
            let all: Vec<Sample> = set.samples.values().cloned().collect();
            let train = TrainSpec {
                steps: spec.self_train_steps,
                ..spec.train.clone()
            };
            models = models
                .into_iter()
                .enumerate()
                .map(|(k, m)| self.fit(Some(m), &all, &train, k, "self-train"))
                .collect();
            out = self.predict(&models);
            temps = temperatures(&set.calib, &out);
        }
        (models, out, temps)
    }

    /// The members trained on `all` (a refit's labels, [`RoundSpec::refit`]) and their
    /// predictions: each continues from its split network for
    /// [`RoundSpec::continued_refit_steps`] steps at `refit_lr` times the rate, or with
    /// `refit_steps` 0 trains afresh as [`Self::run`] does.
    pub(super) fn refit(
        &mut self,
        index: &DatasetIndex,
        store: &LabelStore,
        split: Vec<classifier::Net<B>>,
        all: &mut TrainingSet,
    ) -> (Vec<classifier::Net<B>>, Outputs) {
        let spec = self.spec;
        if spec.refit_steps == 0 {
            let (models, out, _) = self.run(None, index, store, all);
            return (models, out);
        }
        let first = all.first_pass(index.len(), spec);
        let train = TrainSpec {
            steps: spec.continued_refit_steps(),
            lr: spec.train.lr * spec.refit_lr,
            ..spec.train.clone()
        };
        let models: Vec<classifier::Net<B>> = split
            .into_iter()
            .enumerate()
            .map(|(k, m)| self.fit(Some(m), &first, &train, k, "refit"))
            .collect();
        let out = self.predict(&models);
        (models, out)
    }

    /// The saved network at `path` when it has this schema's heads (a re-initialized
    /// schema starts fresh).
    pub(super) fn load(&self, path: &Path) -> Option<classifier::Net<B>> {
        classifier::Net::load(path, &self.classes, self.spec.train.channels, self.device)
    }

    /// Member `k` trained as `train` says on `samples`, from `model` or fresh weights.
    fn fit(
        &mut self,
        model: Option<classifier::Net<B>>,
        samples: &[Sample],
        train: &TrainSpec,
        k: usize,
        what: &str,
    ) -> classifier::Net<B> {
        let members = self.spec.ensemble.max(1);
        let what = match members {
            1 => what.to_owned(),
            _ => format!("{what} {}/{members}", k + 1),
        };
        let t = Instant::now();
        let pb = progress::bar(train.steps as u64, &what, self.v);
        let train = TrainSpec {
            // Member k of an ensemble: other initial weights, batches and views.
            seed: train.seed.wrapping_add(ENSEMBLE_SEED_STRIDE * k as u64),
            ..train.clone()
        };
        let on_step = |_, loss: f32| {
            pb.set_message(format!("loss {loss:.3}"));
            pb.inc(1);
        };
        let (pixels, classes, device) = (self.pixels, &self.classes, self.device);
        let m = match model {
            None => classifier::train::<B>(pixels, samples, classes, &train, device, on_step),
            Some(m) => {
                classifier::train_more::<B>(m, pixels, samples, classes, &train, device, on_step)
            }
        };
        pb.finish_and_clear();
        self.train_s += t.elapsed().as_secs_f64();
        m.0 // the moving average is off in rounds (`TrainSpec::ema`)
    }

    /// A network trained on `samples` (a cross-fitting fold's, [`RoundSpec::cross_fit`]),
    /// continuing `warm` or from fresh weights as the round's first network is, and its
    /// predictions on `pixels`, made as the round's are.
    pub(super) fn fold(
        &mut self,
        warm: Option<classifier::Net<B>>,
        samples: &[Sample],
        pixels: &Pixels,
        what: &str,
    ) -> (classifier::Net<B>, Outputs) {
        let spec = self.spec;
        let m = self.fit(warm, samples, &spec.train, 0, what);
        let out = self.predict_on(std::slice::from_ref(&m), pixels);
        (m, out)
    }

    /// Every image predicted by every member (mirrored and refined as the spec says),
    /// the members' logits averaged.
    pub(super) fn predict(&mut self, models: &[classifier::Net<B>]) -> Outputs {
        self.predict_on(models, self.pixels)
    }

    /// [`Self::predict`] on other images.
    fn predict_on(&mut self, models: &[classifier::Net<B>], pixels: &Pixels) -> Outputs {
        let (spec, device) = (self.spec, self.device);
        let t = Instant::now();
        let outs = models.iter().map(|m| match spec.mirror {
            true => {
                let mut o = classifier::predict_mirrored(m, pixels, device);
                if spec.refine_below > 0.0 {
                    classifier::refine_uncertain(
                        m,
                        pixels,
                        device,
                        &mut o,
                        &classifier::CROSS_1PX,
                        spec.refine_below,
                    );
                }
                o
            }
            false => classifier::predict(m, pixels, device),
        });
        let out = classifier::average_outputs(outs);
        self.predict_s += t.elapsed().as_secs_f64();
        out
    }
}
