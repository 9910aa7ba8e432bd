//! One round of the loop: train the CNN on human labels plus confident synthesized ones,
//! calibrate it on held-out human labels, predict every image, accept confident
//! predictions as model labels, and queue the images a person should label next.

mod accept;
mod cross_fit;
mod queries;
mod spec;
mod trainer;
mod training_set;
mod warm;

pub use spec::{
    RoundSpec, DEFAULT_CONSISTENCY, DEFAULT_CONSISTENCY_THRESHOLD, DEFAULT_ROUND_STEPS,
};

use super::index::DatasetIndex;
use super::session::{self, RoundInfo};
use super::store::{LabelStore, Source};
use super::temperature_range::temperature_ranges;
use super::trust::Trust;
use super::{calibrate, vote_temperature};
use super::{queue, LabelError, Paths, Schema};
use crate::labels::classifier::Pixels;
use crate::progress::Verbosity;
use burn::tensor::backend::AutodiffBackend;
use std::path::{Path, PathBuf};
use std::time::Instant;
use trainer::Trainer;
use training_set::TrainingSet;

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
    /// Images added since `label init` (by a later `prep`) that the colour heuristics
    /// voted on before the round ([`session::judge_new_images`]).
    #[serde(skip_serializing_if = "crate::labels::session::is_zero")]
    pub judged_new: usize,
    /// Where the answers typed into `queue.csv` while the round ran were kept (the round
    /// writes a new queue), with their count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_answers: Option<(std::path::PathBuf, usize)>,
}

impl std::fmt::Display for RoundReport {
    /// The round's summary and where its outputs are.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.judged_new > 0 {
            writeln!(
                f,
                "heuristic votes for {} images added since `label init`",
                self.judged_new
            )?;
        }
        write!(f, "{}", self.info)?;
        if let Some(page) = &self.page {
            writeln!(f, "report: {}", page.display())?;
        }
        if let Some(first) = self.info.unreadable.first() {
            writeln!(
                f,
                "{} image(s) could not be decoded (first: {first}): not predicted, labeled \
                 or queued",
                self.info.unreadable.len(),
            )?;
        }
        if let Some((kept, n)) = &self.kept_answers {
            writeln!(
                f,
                "warning: {n} answer(s) typed into queue.csv during the round were not \
                 imported: kept in {}; import them with `facesynth label import {} --data \
                 {}`",
                kept.display(),
                kept.display(),
                // DATA/labels/queue-answers-round-N.csv
                kept.parent()
                    .and_then(Path::parent)
                    .unwrap_or(Path::new("."))
                    .display()
            )?;
        }
        Ok(())
    }
}

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
    let _held = paths.hold()?;
    let index = DatasetIndex::open(data)?;
    let mut store = LabelStore::load(&paths.labels(), &schema)?;
    // The round rewrites queue.csv: answers typed into it and never imported would go.
    queue::require_imported(&paths, data, &store)?;
    let images = session::decode_all(&index, "decode", v);
    let pixels = session::to_pixels(&images, spec.size, spec.colour);
    let judged = session::judge_new_images(&paths, &schema, &index, &images, &mut store)?;
    let spec = RoundSpec {
        unreadable: session::unreadable(&images),
        ..spec.clone()
    };
    drop(images);
    let mut r = round_with(&paths, &schema, &index, &pixels, &mut store, &spec, v)?;
    r.judged_new = judged;
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
    // Read before the training: a skips file found unreadable at the queue's turn ended
    // the round after minutes of work, its labels saved and no record of it.
    queue::read_skipped(paths)?;
    // Unreadable images are kept out of everything the test split is kept out of
    // (training, the unlabeled pools, calibration, the queue); `accept` skips them too.
    let readable_only;
    let spec = match spec.unreadable.is_empty() {
        true => spec,
        false => {
            readable_only = RoundSpec {
                exclude: spec.exclude.union(&spec.unreadable).copied().collect(),
                ..spec.clone()
            };
            &readable_only
        }
    };
    // A schema whose images a mirror changes (digits) trains and predicts unmirrored.
    let unmirrored;
    let spec = match schema.mirror {
        true => spec,
        false => {
            unmirrored = RoundSpec {
                mirror: false,
                train: crate::labels::classifier::TrainSpec {
                    mirror: false,
                    ..spec.train.clone()
                },
                ..spec.clone()
            };
            &unmirrored
        }
    };
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

/// [`LabelError::Diverged`] when any of `out`'s logits is NaN or infinite.
fn check_finite(
    paths: &Paths,
    out: &crate::labels::classifier::Outputs,
    which: &'static str,
) -> Result<(), LabelError> {
    let finite = out
        .logits
        .iter()
        .all(|attr| attr.iter().all(|z| z.iter().all(|v| v.is_finite())));
    match finite {
        true => Ok(()),
        false => Err(LabelError::Diverged {
            dir: paths.data.clone(),
            which,
            hint: match which {
                "refit" => "a lower --refit-lr",
                _ => "another --seed",
            },
        }),
    }
}

/// Images no person has answered, outside `spec.exclude` (the test split).
fn unanswered(index: &DatasetIndex, store: &LabelStore, spec: &RoundSpec) -> Vec<usize> {
    let human = store.human_files();
    (0..index.len())
        .filter(|i| !spec.exclude.contains(i) && !human.contains(index.images[*i].as_str()))
        .collect()
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
    // Read once: the warm start and the round number look at the last round, and this
    // round is appended to the same list at the end.
    let mut rounds = session::read_rounds(paths)?;
    let last = rounds.last();
    let warm_file = warm::warm_source(paths, last, spec, set.every);
    let warm = warm_file.as_deref().and_then(|p| trainer.load(p));
    let split_from = warm
        .as_ref()
        .and(warm_file.as_deref())
        .map(Path::to_path_buf);
    let warm_from = split_from.as_deref().map(warm::file_name);
    let (mut models, mut out, mut temps) = trainer.run(warm, index, store, &mut set);
    check_finite(paths, &out, "split")?;
    let mut cf = None;
    if spec.cross_fit > 1 && set.calib.iter().any(|c| !c.is_empty()) {
        let (classes, channels) = (trainer.classes.clone(), spec.train.channels);
        let warm_for = |fold| {
            let file = warm::fold_source(paths, last, split_from.as_deref(), fold)?;
            crate::labels::classifier::Net::load(&file, &classes, channels, device)
        };
        let c = cross_fit::cross_fit(
            &mut trainer,
            schema,
            index,
            store,
            spec,
            &trust,
            &set,
            &out,
            warm_for,
        );
        temps.clone_from(&c.temperatures);
        check_finite(paths, &c.oof, "cross-fitting")?;
        cf = Some(c);
    }

    let round_no = last.map_or(0, |r| r.round) + 1;
    let mut info = RoundInfo {
        round: round_no,
        human: human_count,
        train_samples: set.samples.len(),
        input: spec.input_tag(),
        test_split: spec.exclude_key(),
        unreadable: {
            let mut v: Vec<usize> = spec.unreadable.iter().copied().collect();
            v.sort_unstable();
            v.into_iter().map(|i| index.images[i].clone()).collect()
        },
        warm_start: warm_from,
        calibration_every: set.every,
        cross_fitted: cf
            .as_ref()
            .map_or(0, |c| c.calib.iter().map(Vec::len).sum()),
        folds_continued: cf.as_ref().map_or(0, |c| c.continued),
        // Checked before this round's queue replaces the previous one; a diagnostic, so
        // an unreadable old queue leaves it empty rather than stopping the round.
        previous_queue: queue::check_answered(&queue::read_queue(paths).unwrap_or_default(), store),
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
    // Calibration is judged on answers the predicting networks never saw: the split's,
    // or with cross-fitting every fold's, each predicted by its own network.
    let (calib, judged) = match &cf {
        Some(c) => (&c.calib, &c.oof),
        None => (&set.calib, &out),
    };
    let leads = accept::duel_heuristics(schema, index, &trust, calib, judged, &mut info);
    let mut temps = accept::stand_in_temperatures(calib, judged, temps, &leads);
    // The images nobody answered: what the votes are read on and the refit's
    // temperatures are matched on.
    let pool = unanswered(index, store, spec);
    let votes_fit =
        |out| vote_temperature::temperatures(schema, index, store, &trust, out, &pool, &leads);
    let split_voted = (spec.vote_calibration && cf.is_none()).then(|| votes_fit(&out));
    if let Some(voted) = &split_voted {
        // The other heads share the body and its overconfidence: each is drawn towards
        // the votes' temperature instead of the one pooled over the held-out labels,
        // which spreads as widely as they do (eye ECE at 200 answers 0.056-0.089 ->
        // 0.032-0.067 on four anime-faces-64 draws, BENCHMARKS.md, label, session 39).
        info.vote_prior = vote_temperature::centre(voted);
        // Leading heuristics' held-out labels take no part, as in `stand_in_temperatures`:
        // an attribute short of held-out labels fell back to a fit pooled over them too.
        let kept = calibrate::leaving_out(calib, &leads);
        let toward = info.vote_prior.map(|centre| {
            calibrate::own_temperatures_with(&kept, judged, vote_temperature::prior(centre))
        });
        for (a, (attr, t)) in schema.attributes.iter().zip(temps.iter_mut()).enumerate() {
            match (voted[a], &toward) {
                (Some(v), _) => {
                    info.vote_temperature.insert(attr.name.clone(), (v, *t));
                    *t = v;
                }
                (None, Some(toward)) if !leads[a] => *t = toward[a],
                _ => {}
            }
        }
    }
    let ranges = temperature_ranges(calib, judged, &leads);
    let mut probs = accept::calibrated(schema, calib, judged, &temps, &mut info);
    for (attr, r) in schema.attributes.iter().zip(&ranges) {
        if let Some(r) = r {
            info.temperature_range.insert(attr.name.clone(), *r);
        }
    }
    if let Some(c) = cf {
        // Cross-fitted: the K networks' average predicts (no refit, whose temperature
        // would be carried from networks that knew less); the split network is the one
        // saved, and each fold's is kept for the next round's fold to continue. `out` is
        // already the split network's (its members' mean): only the folds' are predicted,
        // and join it in the running mean with each member counted once.
        let split = std::iter::repeat_n(out, models.len());
        let folds = c.networks.iter();
        let folds = folds.map(|(_, n)| trainer.predict(std::slice::from_ref(n)));
        out = crate::labels::classifier::average_outputs(split.chain(folds));
        probs = accept::probabilities(&out, &temps);
        info.cross_fit_networks = models.len() + c.networks.len();
        if spec.cross_fit as u64 > set.every {
            info.cross_fit_asked = spec.cross_fit;
        }
        for (fold, net) in c.networks {
            save_model(net, &staged(&paths.fold_model(fold)))?;
        }
        let _ = std::fs::remove_file(staged(&paths.split_model()));
    } else if spec.refit && !set.samples.is_empty() && set.calib.iter().any(|c| !c.is_empty()) {
        // The refit learns from the split's answers too; the duel and the reported ECE
        // stay the split network's, the only ones measured on unseen answers, and its
        // calibrated confidence on the unanswered images sets the refit's temperatures.
        save_model(models[0].clone(), &staged(&paths.split_model()))?;
        let mut all = set.with_calibration();
        let (m, o) = trainer.refit(index, store, models, &mut all);
        check_finite(paths, &o, "refit")?;
        // Where the votes fitted the split network they fit the refit too, and carry
        // the other attributes by the ratio they measured; elsewhere the mean calibrated
        // confidence on the unanswered images is matched.
        let by_votes = split_voted
            .as_ref()
            .and_then(|split| vote_temperature::carried_to_refit(split, &votes_fit(&o), &temps));
        let (refit_temps, carried) = match by_votes {
            Some((refit_temps, ratio)) => {
                info.refit_vote_ratio = Some(ratio);
                // The ranges follow each temperature's own carry.
                let scaled: Vec<_> = ranges
                    .iter()
                    .zip(temps.iter().zip(&refit_temps))
                    .map(|(r, (&t, &rt))| r.map(|(lo, hi)| (lo * rt / t, hi * rt / t)))
                    .collect();
                (refit_temps, scaled)
            }
            // With (almost) every image answered there is nothing to match on: the mean
            // of no images set every temperature to 1 (the test ECE of a simulation whose
            // budget covered the askable images jumped from 0.003 to 0.076). The split's
            // temperatures are carried as they are.
            None if pool.len() < accept::MIN_MATCH_POOL => (temps.clone(), ranges.clone()),
            None => (
                accept::matched_temperatures(&out, &temps, &o, &pool),
                accept::matched_ranges(&out, &ranges, &o, &pool),
            ),
        };
        probs = accept::probabilities(&o, &refit_temps);
        for (attr, t) in schema.attributes.iter().zip(refit_temps) {
            info.refit_temperature.insert(attr.name.clone(), t);
        }
        for (attr, r) in schema.attributes.iter().zip(carried) {
            if let Some(r) = r {
                info.refit_temperature_range.insert(attr.name.clone(), r);
            }
        }
        (models, out) = (m, o);
        info.refit = true;
        info.refit_steps = spec.continued_refit_steps();
    } else {
        // No split network this round: none from an earlier one stands beside its model.
        let _ = std::fs::remove_file(staged(&paths.split_model()));
    }
    accept::stand_in_votes(schema, index, &trust, &leads, &mut probs);
    save_model(models.swap_remove(0), &staged(&paths.model()))?;
    accept::accept(
        paths, schema, index, store, &trust, &leads, &probs, spec, round_no, &mut info,
    )?;
    // From here the round's files are written one after another: a Ctrl-C waits for the
    // last (it left labels.csv a round ahead of rounds.json and the queue), and a second
    // one still stops at once.
    let saving = crate::interrupt::watch();
    store.save_keeping_people(&paths.labels(), schema)?;

    let emb = (!set.samples.is_empty()).then_some(out.embeddings.as_slice());
    let queued = queries::choose_queries(
        paths, schema, index, store, &probs, emb, spec, round_no, &mut info,
    )?;
    // A network that learned from nothing suggests nothing: Enter must not take a guess.
    let suggestions: &[Vec<Vec<f32>>] = if set.samples.is_empty() { &[] } else { &probs };
    // Answers typed into queue.csv while the round trained (`round` checked for them
    // only at its start) would go with the file the new queue replaces: kept beside it.
    let kept_answers = keep_typed_answers(paths, store, round_no)?;
    queue::write_queue(paths, schema, index, store, &queued, suggestions, round_no)?;
    info.queued = queued.len();
    info.seconds = start.elapsed().as_secs_f64();
    info.train_seconds = trainer.train_s;
    info.predict_seconds = trainer.predict_s;
    rounds.push(info.clone());
    crate::atomic::write_json(&paths.rounds(), &rounds)
        .map_err(|e| LabelError::io(&paths.rounds(), e))?;
    // The networks take their places once the round is on record: a round killed before
    // leaves the last round's, which `rounds.json` still describes (a rerun continued the
    // killed round's half-trained split network as if the last round had made it).
    // Cross-fitting's fold networks (`model-fold-K.mpk`): this round's, or none, so that
    // the next round continues no fold network an older round trained.
    let folds = std::fs::read_dir(paths.model().parent().unwrap_or(Path::new(".")))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| is_fold_model(p));
    let folds: Vec<PathBuf> = folds.collect();
    let fold_files = (1..spec.cross_fit.max(1) as u64).map(|k| paths.fold_model(k));
    let mut files: Vec<PathBuf> = vec![paths.model(), paths.split_model()];
    files.extend(fold_files.chain(folds));
    files.sort();
    files.dedup();
    for file in files {
        let from = staged(&file);
        match from.is_file() {
            true => std::fs::rename(&from, &file).map_err(|e| LabelError::io(&file, e))?,
            false => {
                let _ = std::fs::remove_file(&file);
            }
        }
    }
    saving.end_and_deliver();
    Ok(RoundReport {
        info,
        probs,
        queued,
        page: None,
        judged_new: 0,
        kept_answers,
    })
}

/// Copies `queue.csv` to `queue-answers-round-N.csv` when it holds answers `store` lacks
/// (the round's, just saved with the people's labels the file held: answers imported
/// meanwhile count); the copy and their count.
fn keep_typed_answers(
    paths: &Paths,
    store: &LabelStore,
    round_no: u32,
) -> Result<Option<(PathBuf, usize)>, LabelError> {
    let n = queue::unimported_answers(paths, store)?;
    if n == 0 {
        return Ok(None);
    }
    let from = paths.queue();
    let to = paths
        .dir
        .join(format!("queue-answers-round-{round_no}.csv"));
    let bytes = std::fs::read(&from).map_err(|e| LabelError::io(&from, e))?;
    crate::atomic::write(&to, &bytes).map_err(|e| LabelError::io(&to, e))?;
    Ok(Some((to, n)))
}

/// Whether `path` names a cross-fitting fold's network ([`Paths::fold_model`]).
fn is_fold_model(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.strip_prefix("model-fold-")
        .and_then(|n| n.strip_suffix(".mpk"))
        .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
}

/// Where a round writes the network that becomes `file` when the round is recorded.
fn staged(file: &Path) -> std::path::PathBuf {
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    file.with_file_name(format!(".{name}.next"))
}

/// `model` saved atomically at `path` (`gan::checkpoint::write_record`, the writer of the
/// files that [`classifier::Net::load`](crate::labels::classifier::Net::load) reads): a
/// round killed while saving leaves the previous network, not a torn one.
fn save_model<B: AutodiffBackend>(
    model: crate::labels::classifier::Net<B>,
    path: &Path,
) -> Result<(), LabelError> {
    use crate::gan::{checkpoint, GanError};
    let record = burn::module::Module::into_record(model);
    checkpoint::write_record::<B, _>(path, record).map_err(|e| match e {
        GanError::Io { path, source } => LabelError::Io { path, source },
        other => LabelError::io(path, std::io::Error::other(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A diverged network's NaN went into rounds.json as `null`, which every later
    /// command refused to read; the round now fails before it writes anything.
    #[test]
    fn non_finite_outputs_fail_the_round() {
        let paths = Paths::new(Path::new("/data/set"));
        let out = |v: f32| crate::labels::classifier::Outputs {
            logits: vec![vec![vec![0.5, v], vec![1.0, 2.0]]],
            embeddings: Vec::new(),
        };
        assert!(check_finite(&paths, &out(3.0), "split").is_ok());
        for bad in [f32::NAN, f32::INFINITY] {
            let e = check_finite(&paths, &out(bad), "refit")
                .unwrap_err()
                .to_string();
            assert!(e.contains("diverged") && e.contains("--refit-lr"), "{e}");
            assert!(e.contains("/data/set"), "{e}");
        }
    }
}
