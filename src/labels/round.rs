//! One round of the loop: train the CNN on human labels plus confident synthesized ones,
//! calibrate it on held-out human labels, predict every image, accept confident
//! predictions as model labels, and queue the images a person should label next.

use super::active::{self, Strategy};
use super::calibrate::{self, calibration_every, is_calibration, temperatures};
use super::classifier::{self, softmax_t, Outputs, Pixels, Sample, TrainSpec};
use super::consistency::Consistency;
use super::index::DatasetIndex;
use super::session::{self, RoundInfo};
use super::store::{Label, LabelStore, Source};
use super::trust::Trust;
use super::{queue, LabelError, Paths, Schema};
use crate::progress::{self, Verbosity};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::AutodiffBackend;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Instant;

/// Settings of a round.
#[derive(Debug, Clone)]
pub struct RoundSpec {
    /// Images to queue for a person (default 50).
    pub queue: usize,
    /// How to choose them (default entropy).
    pub strategy: Strategy,
    /// Calibrated confidence at which a prediction becomes a model label (default 0.9).
    pub threshold: f32,
    /// Heuristic labels at or above this confidence join the training set (default 0.5).
    pub heuristic_threshold: f32,
    /// Loss weight of heuristic training labels (default 0.5; humans weigh 1).
    pub synth_weight: f32,
    /// Heuristic labels of an attribute train the CNN only while they agree with people
    /// on at least this share of the images both labeled (default 0.9; the share's
    /// lower bound, [`agreement_lower_bound`](super::trust::agreement_lower_bound)), measured
    /// once [`MIN_OVERLAP`](super::trust::MIN_OVERLAP) such images
    /// exist; before that they are all there is to learn from.
    pub trust: f32,
    /// Classifier input side in pixels (default 48).
    pub size: usize,
    /// Colour space of the classifier's input (default RGB).
    pub colour: session::InputColour,
    /// Classifier training (default [`TrainSpec`]'s, with the consistency loss on
    /// [`DEFAULT_CONSISTENCY`] unlabeled images per step at threshold
    /// [`DEFAULT_CONSISTENCY_THRESHOLD`]).
    pub train: TrainSpec,
    /// Steps of the self-training pass (0: none): after the first pass, the model's
    /// confident predictions (>= `threshold`) on images no person labeled join the
    /// training set and the network trains on (default 0: off; one measured pass lowered
    /// hair accuracy, see BENCHMARKS.md, label).
    pub self_train_steps: usize,
    /// Start from the previous round's network instead of fresh weights (default off).
    pub warm_start: bool,
    /// Networks trained per round from different seeds, their logits averaged (default
    /// 1; an ensemble, Lakshminarayanan et al. 2017). Each member costs a training and a
    /// prediction pass. The queries' diversity uses the first member's embedding.
    pub ensemble: usize,
    /// Predict from each image and its mirror image, averaging the logits (default
    /// on; [`classifier::predict_mirrored`]): one more forward pass over the images for
    /// eye +0.3 to +0.8 points (BENCHMARKS.md, label, sessions 10-11).
    pub mirror: bool,
    /// With `mirror`: images whose mirrored top probability (before calibration) is under
    /// this for some attribute are predicted again shifted by one pixel in each of the
    /// four directions, as is and mirrored, and take the mean of the ten views' logits
    /// ([`classifier::refine_uncertain`]); 0 (default): off.
    pub refine_below: f32,
    /// Queries drawn at random until this many images carry people's labels, before the
    /// strategy takes over (default 200). Uncertainty sampling from a network trained on
    /// a few dozen labels picks outliers (the cold-start problem of uncertainty sampling):
    /// on anime-faces-64 entropy queries reached hair 0.51 at 100 labels where random
    /// ones reached 0.75 (BENCHMARKS.md, label). 0: the strategy from the first query.
    pub warmup: usize,
    /// How the attributes' uncertainties make one score per image (default max).
    pub combine: active::Combine,
    /// How a batch of queries is spread over the embedding (default k-center greedy).
    pub diversity: active::Diversity,
    /// Run on CUDA (needs the `cuda` feature and a driver).
    pub cuda: bool,
    /// Images never trained on, queued or calibrated on (a test split); by image index.
    pub exclude: HashSet<usize>,
    /// Images a person can be asked about (`None`: all); `simulate` passes the images
    /// its oracle knows, so no query is spent on an image it cannot answer.
    pub askable: Option<HashSet<usize>>,
    /// One human label in this many (by a stable hash of the file name) is held out to fit
    /// the temperature, once 40 people's labels exist; `None` (default): see
    /// [`calibration_every`]. A held-out label does not train the network.
    pub calibration_every: Option<u64>,
}

/// Unlabeled images per training step of a round's consistency loss
/// ([`crate::labels::consistency`]). In the loop on anime-faces-64, with mirrored
/// predictions, it took least-confidence from hair 0.916 to 0.928 at 500 answers (within
/// 3 points of the all-labels network) and eye from 0.882 to 0.893; a round on 10,000
/// images takes about 1.5x the time without it, 142 s on 2 cores (BENCHMARKS.md, label,
/// sessions 11-13).
pub const DEFAULT_CONSISTENCY: usize = 64;

/// Softmax probability at which a weak view's prediction becomes a consistency target
/// in a round: FixMatch's 0.95. At 0.9 more images pass: one loop run gave eye 0.903 and
/// hair 0.923 at 500 answers (0.95: 0.893 / 0.928), but a rerun gave 0.897 / 0.919 and a
/// new warm-up draw 0.890 / 0.925, so 0.9 is no measured gain (BENCHMARKS.md, label,
/// sessions 12-13). Rounds take about as long either way since session 13 (176 s).
pub const DEFAULT_CONSISTENCY_THRESHOLD: f32 = 0.95;

impl Default for RoundSpec {
    fn default() -> Self {
        RoundSpec {
            queue: 50,
            strategy: Strategy::Entropy,
            threshold: 0.9,
            heuristic_threshold: 0.5,
            synth_weight: 0.5,
            trust: 0.9,
            size: 48,
            colour: session::InputColour::default(),
            train: TrainSpec {
                consistency: Consistency {
                    batch: DEFAULT_CONSISTENCY,
                    threshold: DEFAULT_CONSISTENCY_THRESHOLD,
                    ..Consistency::default()
                },
                ..TrainSpec::default()
            },
            self_train_steps: 0,
            warm_start: false,
            ensemble: 1,
            mirror: true,
            refine_below: 0.0,
            warmup: 200,
            combine: active::Combine::Max,
            diversity: active::Diversity::KCenter,
            cuda: false,
            exclude: HashSet::new(),
            askable: None,
            calibration_every: None,
        }
    }
}

/// What a round did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoundReport {
    /// The round's record (also appended to `rounds.json`).
    pub info: RoundInfo,
    /// Calibrated probabilities per attribute per image (not written to the report file).
    #[serde(skip)]
    pub probs: Vec<Vec<Vec<f32>>>,
    /// The queued image indices.
    pub queued: Vec<usize>,
    /// The label report page (`DIR/labels/report.html`), when `round` wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<std::path::PathBuf>,
}

impl std::fmt::Display for RoundReport {
    /// The round's summary and where its outputs are.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.info)?;
        if let Some(page) = &self.page {
            writeln!(f, "report: {}", page.display())?;
        }
        Ok(())
    }
}

/// How far apart the seeds of an ensemble's members are ([`RoundSpec::ensemble`]).
const ENSEMBLE_SEED_STRIDE: u64 = 1000;

/// The most likely value and its probability (the last of equals, as `max_by` gives;
/// value 0 for none).
fn argmax(p: &[f32]) -> (usize, f32) {
    p.iter()
        .copied()
        .enumerate()
        .max_by(|x, y| x.1.total_cmp(&y.1))
        .unwrap_or((0, 0.0))
}

/// `label round` on a dataset folder (decodes its images, then [`round_with`]).
pub fn round(data: &Path, spec: &RoundSpec, v: Verbosity) -> Result<RoundReport, LabelError> {
    let paths = Paths::new(data);
    let schema = paths.load_schema()?;
    let index = DatasetIndex::open(data)?;
    let images = session::decode_all(&index, "decode", v);
    let pixels = session::to_pixels(&images, spec.size, spec.colour);
    let mut store = LabelStore::load(&paths.labels(), &schema)?;
    let mut r = round_with(&paths, &schema, &index, &pixels, &mut store, spec, v)?;
    // The page is a view of the store; failing to draw it never fails the round.
    r.page = crate::report::write_label_report(data).ok();
    Ok(r)
}

/// A round on images already decoded (`simulate` reuses them across rounds).
pub fn round_with(
    paths: &Paths,
    schema: &Schema,
    index: &DatasetIndex,
    pixels: &Pixels,
    store: &mut LabelStore,
    spec: &RoundSpec,
    v: Verbosity,
) -> Result<RoundReport, LabelError> {
    if spec.cuda {
        #[cfg(feature = "cuda")]
        {
            check_cuda()?;
            let device = burn::backend::cuda::CudaDevice::default();
            return round_on::<burn::backend::Autodiff<burn::backend::Cuda>>(
                paths, schema, index, pixels, store, spec, v, &device,
            );
        }
        #[cfg(not(feature = "cuda"))]
        return Err(LabelError::Cuda(
            "this build has no CUDA support (build with --features cuda)".into(),
        ));
    }
    let device = burn::backend::flex::FlexDevice;
    round_on::<burn::backend::Autodiff<burn::backend::Flex>>(
        paths, schema, index, pixels, store, spec, v, &device,
    )
}

/// The driver check the GAN trainer uses (libcuda loads, `cuInit` succeeds, a device is
/// visible), so both commands fail the same clear way instead of burn panicking.
#[cfg(feature = "cuda")]
fn check_cuda() -> Result<(), LabelError> {
    use crate::gan::{backend, spec::BackendKind, GanError};
    backend::check(BackendKind::Cuda).map_err(|e| match e {
        GanError::Backend { reason } => LabelError::Cuda(reason),
        other => LabelError::Cuda(other.to_string()),
    })
}

#[allow(clippy::too_many_arguments)]
fn round_on<B: AutodiffBackend>(
    paths: &Paths,
    schema: &Schema,
    index: &DatasetIndex,
    pixels: &Pixels,
    store: &mut LabelStore,
    spec: &RoundSpec,
    v: Verbosity,
    device: &B::Device,
) -> Result<RoundReport, LabelError> {
    let start = Instant::now();
    let human_count = store.iter().filter(|l| l.source == Source::Human).count();
    // Noisy heuristic labels outweigh a few hundred people's labels by count: measured on
    // anime-faces-64, hair votes that agree with people 82% of the time pulled a 500-label
    // CNN from 0.87 to 0.69 (BENCHMARKS.md, label). They train only while trusted.
    let trust = Trust::judge(paths, schema, store, spec.heuristic_threshold, spec.trust);
    let mut set = TrainingSet::gather(schema, index, store, &trust, spec);
    let mut trainer = Trainer::<B> {
        pixels,
        classes: schema.attributes.iter().map(|a| a.values.len()).collect(),
        spec,
        device,
        v,
        train_s: 0.0,
        predict_s: 0.0,
    };
    let (model, out, temps) = trainer.run(paths, index, store, &mut set);
    let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
    if let Err(e) = burn::module::Module::save_file(model, paths.model(), &recorder) {
        return Err(LabelError::io(
            &paths.model(),
            std::io::Error::other(e.to_string()),
        ));
    }

    let round_no = session::read_rounds(paths).last().map_or(0, |r| r.round) + 1;
    let mut info = RoundInfo {
        round: round_no,
        human: human_count,
        train_samples: set.samples.len(),
        calibration_every: set.every,
        ..Default::default()
    };
    for (a, attr) in schema.attributes.iter().enumerate() {
        let (ok, n) = trust.training[a];
        if n > 0 {
            info.heuristic_agreement.insert(
                attr.name.clone(),
                (ok as f32 / n as f32, n, trust.trains[a]),
            );
        }
        let (ok, n) = trust.standing[a];
        if n > 0 {
            info.heuristic_labels.insert(
                attr.name.clone(),
                (ok as f32 / n as f32, n, trust.stands[a]),
            );
        }
    }
    let probs = calibrated(schema, &set.calib, &out, &temps, &mut info);
    accept(
        paths, schema, index, store, &trust, &probs, spec, round_no, &mut info,
    )?;
    store.save(&paths.labels())?;

    let emb = (!set.samples.is_empty()).then_some(out.embeddings.as_slice());
    let queued = choose_queries(schema, index, store, &probs, emb, spec, round_no, &mut info);
    queue::write_queue(paths, schema, index, store, &queued, &probs, round_no)?;
    info.queued = queued.len();
    info.seconds = start.elapsed().as_secs_f64();
    info.train_seconds = trainer.train_s;
    info.predict_seconds = trainer.predict_s;
    let mut rounds = session::read_rounds(paths);
    rounds.push(info.clone());
    crate::atomic::write_json(&paths.rounds(), &rounds)
        .map_err(|e| LabelError::io(&paths.rounds(), e))?;
    Ok(RoundReport {
        info,
        probs,
        queued,
        page: None,
    })
}

/// A round's training labels by image, and the people's labels held out to calibrate.
struct TrainingSet {
    /// People's labels (less the calibration split) and trusted heuristic votes.
    samples: BTreeMap<usize, Sample>,
    /// Per attribute, the held-out `(image, value)` pairs.
    calib: Vec<Vec<(usize, usize)>>,
    /// One people's label in this many is held out.
    every: u64,
}

impl TrainingSet {
    /// People's labels from the store; heuristic votes from their own file, on the
    /// images and attributes no person has labeled (a person's label wins), while
    /// trusted. The previous round's model labels do not train: they are this network's
    /// own guesses, errors fed back round after round; `self_train_steps` is the measured
    /// way to learn from confident predictions.
    fn gather(
        schema: &Schema,
        index: &DatasetIndex,
        store: &LabelStore,
        trust: &Trust,
        spec: &RoundSpec,
    ) -> Self {
        let n_attr = schema.attributes.len();
        let pos = index.positions();
        let human: HashSet<&str> = store
            .iter()
            .filter(|l| l.source == Source::Human)
            .map(|l| l.file.as_str())
            .collect();
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
                Source::Human if calibrate_on && is_calibration(&l.file, every) => {
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
            let s = samples.entry(i).or_insert_with(|| Sample {
                image: i,
                targets: vec![None; n_attr],
                weight,
            });
            s.targets[a] = Some(value);
            s.weight = s.weight.max(weight);
        }
        TrainingSet {
            samples,
            calib,
            every,
        }
    }

    /// The samples of the first pass: the labeled ones, and with the consistency loss
    /// every image nobody labeled, which it learns from: not the test split, and not the
    /// calibration split, whose confidences must stay unfitted.
    fn first_pass(&self, index: &DatasetIndex, spec: &RoundSpec) -> Vec<Sample> {
        let mut first: Vec<Sample> = self.samples.values().cloned().collect();
        if spec.train.consistency.on() {
            let n_attr = self.calib.len();
            let held: HashSet<usize> = self.calib.iter().flatten().map(|&(i, _)| i).collect();
            first.extend(
                (0..index.len())
                    .filter(|i| !self.samples.contains_key(i) && !held.contains(i))
                    .filter(|i| !spec.exclude.contains(i))
                    .map(|image| Sample {
                        image,
                        targets: vec![None; n_attr],
                        weight: 0.0,
                    }),
            );
        }
        first
    }
}

/// Trains a round's networks and predicts every image with them, keeping the time each
/// part took for `rounds.json`.
struct Trainer<'a, B: AutodiffBackend> {
    pixels: &'a Pixels,
    classes: Vec<usize>,
    spec: &'a RoundSpec,
    device: &'a B::Device,
    v: Verbosity,
    train_s: f64,
    predict_s: f64,
}

impl<B: AutodiffBackend> Trainer<'_, B> {
    /// The round's networks trained (warm-started when asked, self-trained when asked),
    /// their averaged predictions on every image and the temperatures fitted on the
    /// calibration split. Returns the first member, the network a warm start continues
    /// from.
    fn run(
        &mut self,
        paths: &Paths,
        index: &DatasetIndex,
        store: &LabelStore,
        set: &mut TrainingSet,
    ) -> (classifier::Net<B>, Outputs, Vec<f32>) {
        let spec = self.spec;
        let first = set.first_pass(index, spec);
        let mut warm = self.previous(paths);
        let mut models: Vec<classifier::Net<B>> = (0..spec.ensemble.max(1))
            .map(|k| self.fit(warm.take(), &first, spec.train.steps, k, "train"))
            .collect();
        let mut out = self.predict(&models);
        let mut temps = temperatures(&set.calib, &out);
        // Self-training: this model's confident predictions on the images no person has
        // labeled join the training set, and the network trains on for a second pass.
        if spec.self_train_steps > 0 && !first.is_empty() {
            let human: HashSet<&str> = store
                .iter()
                .filter(|l| l.source == Source::Human)
                .map(|l| l.file.as_str())
                .collect();
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
                    let s = set.samples.entry(i).or_insert_with(|| Sample {
                        image: i,
                        targets: vec![None; n_attr],
                        weight: spec.synth_weight,
                    });
                    s.targets[a].get_or_insert(best);
                }
            }
            let all: Vec<Sample> = set.samples.values().cloned().collect();
            models = models
                .into_iter()
                .enumerate()
                .map(|(k, m)| self.fit(Some(m), &all, spec.self_train_steps, k, "self-train"))
                .collect();
            out = self.predict(&models);
            temps = temperatures(&set.calib, &out);
        }
        (models.swap_remove(0), out, temps)
    }

    /// The previous round's network, with `warm_start` and a saved network of this
    /// schema's shape.
    fn previous(&self, paths: &Paths) -> Option<classifier::Net<B>> {
        let previous = paths.model().with_extension("mpk");
        if !(self.spec.warm_start && previous.is_file()) {
            return None;
        }
        let rec = crate::gan::checkpoint::read_record::<B, _>(&previous, self.device).ok()?;
        let _rng = crate::backend_rng::lock(); // lazy parameters may draw when replaced
        let net = burn::module::Module::load_record(
            classifier::Net::<B>::new(&self.classes, self.spec.train.channels, self.device),
            rec,
        );
        // A re-initialized schema starts fresh.
        (net.classes() == self.classes).then_some(net)
    }

    /// Member `k` trained for `steps` on `samples`, from `model` or fresh weights.
    fn fit(
        &mut self,
        model: Option<classifier::Net<B>>,
        samples: &[Sample],
        steps: usize,
        k: usize,
        what: &str,
    ) -> classifier::Net<B> {
        let spec = self.spec;
        let members = spec.ensemble.max(1);
        let what = match members {
            1 => what.to_owned(),
            _ => format!("{what} {}/{members}", k + 1),
        };
        let t = Instant::now();
        let pb = progress::bar(steps as u64, &what, self.v);
        let train = TrainSpec {
            steps,
            // Member k of an ensemble: other initial weights, batches and views.
            seed: spec
                .train
                .seed
                .wrapping_add(ENSEMBLE_SEED_STRIDE * k as u64),
            ..spec.train.clone()
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

    /// Every image predicted by every member (mirrored and refined as the spec says),
    /// the members' logits averaged.
    fn predict(&mut self, models: &[classifier::Net<B>]) -> Outputs {
        let (spec, pixels, device) = (self.spec, self.pixels, self.device);
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

/// Calibrated probabilities per attribute and image; records each attribute's
/// temperature, calibration split size and ECE on that split in `info`.
fn calibrated(
    schema: &Schema,
    calib: &[Vec<(usize, usize)>],
    out: &Outputs,
    temps: &[f32],
    info: &mut RoundInfo,
) -> Vec<Vec<Vec<f32>>> {
    let mut probs = Vec::with_capacity(schema.attributes.len());
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
            info.ece.insert(
                attr.name.clone(),
                calibrate::ece(&calibrate::pairs(&logits, &targets, t)),
            );
        }
        probs.push(
            out.logits[a]
                .iter()
                .map(|l| softmax_t(l, t))
                .collect::<Vec<Vec<f32>>>(),
        );
    }
    probs
}

/// Puts the standing heuristic votes back in the store, accepts confident predictions as
/// model labels (the previous round's are replaced; a person's label is never
/// overwritten) and writes every prediction to `predictions.csv`.
#[allow(clippy::too_many_arguments)]
fn accept(
    paths: &Paths,
    schema: &Schema,
    index: &DatasetIndex,
    store: &mut LabelStore,
    trust: &Trust,
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
            .is_some_and(|a| trust.stands[a])
        {
            store.set(v.clone());
        }
    }
    let mut pred_rows = Vec::with_capacity(index.len() * schema.attributes.len());
    for (a, attr) in schema.attributes.iter().enumerate() {
        let mut accepted = 0;
        for (i, file) in index.images.iter().enumerate() {
            let (best, c) = argmax(&probs[a][i]);
            pred_rows.push([
                file.clone(),
                attr.name.clone(),
                attr.values[best].clone(),
                format!("{c:.4}"),
            ]);
            if c < spec.threshold {
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

/// The images to ask a person about next: those with an attribute no person has
/// labeled, drawn at random during the warm-up, then the most uncertain spread out over
/// `emb` (the strategy needs a trained network: random without one).
#[allow(clippy::too_many_arguments)]
fn choose_queries(
    schema: &Schema,
    index: &DatasetIndex,
    store: &LabelStore,
    probs: &[Vec<Vec<f32>>],
    emb: Option<&[Vec<f32>]>,
    spec: &RoundSpec,
    round_no: u32,
    info: &mut RoundInfo,
) -> Vec<usize> {
    let labeled: Vec<usize> = (0..index.len())
        .filter(|&i| {
            schema.attributes.iter().all(|a| {
                store
                    .get(&index.images[i], &a.name)
                    .is_some_and(|l| l.source == Source::Human)
            })
        })
        .collect();
    let labeled_set: HashSet<usize> = labeled.iter().copied().collect();
    let candidates: Vec<(usize, f32)> = (0..index.len())
        .filter(|i| !labeled_set.contains(i) && !spec.exclude.contains(i))
        .filter(|i| spec.askable.as_ref().is_none_or(|a| a.contains(i)))
        .map(|i| {
            let u = spec
                .combine
                .apply((0..probs.len()).map(|a| active::uncertainty(&probs[a][i], spec.strategy)));
            (i, u)
        })
        .collect();
    let strategy = if emb.is_none() {
        Strategy::Random
    } else {
        spec.strategy
    };
    let seed = spec.train.seed ^ round_no as u64;
    // Warm-up: the first `warmup` people's labels are a random sample. Drawn from the same
    // shuffle as the random strategy's, so a warm-up round queues what `random` would.
    let warm = if strategy == Strategy::Random {
        spec.queue
    } else {
        spec.warmup.saturating_sub(labeled.len()).min(spec.queue)
    };
    let mut queued = if warm > 0 {
        active::select(
            &candidates,
            None,
            &labeled,
            warm,
            Strategy::Random,
            spec.diversity,
            seed,
        )
    } else {
        Vec::new()
    };
    info.queued_random = queued.len();
    if queued.len() < spec.queue {
        let taken: HashSet<usize> = queued.iter().copied().collect();
        let rest: Vec<(usize, f32)> = candidates
            .iter()
            .filter(|c| !taken.contains(&c.0))
            .copied()
            .collect();
        let centres: Vec<usize> = labeled.iter().chain(&queued).copied().collect();
        let more = spec.queue - queued.len();
        queued.extend(active::select(
            &rest,
            emb,
            &centres,
            more,
            strategy,
            spec.diversity,
            seed,
        ));
    }
    queued
}
