//! `facesynth train`: load the data once, then train one model, or one per class with
//! `split_by` (each in `RUN/<value>/`, then a summary), on the backend asked for.

use super::backend;
use super::checkpoint::{self, ClassMap};
use super::data::{self, Attribute, DataSource, Dataset};
use super::model::{net_shape, Discriminator, Generator};
use super::monitor::Metrics;
use super::spec::{BackendKind, OptimKind, TrainSpec};
use super::trainer::{RunOutcome, Trainer};
use super::{io_err, GanError};
use crate::progress::Verbosity;
use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, RmsPropConfig};
use burn::tensor::backend::AutodiffBackend;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `train` did.
#[derive(Debug, Clone, Default)]
pub struct TrainReport {
    /// The run folder.
    pub run: PathBuf,
    /// Images trained on.
    pub images: usize,
    /// Files skipped, as `path: reason` (undecodable, or named by the labels but absent).
    pub skipped: Vec<String>,
    /// Conditioning attributes and their classes.
    pub attrs: Vec<Attribute>,
    /// Steps done.
    pub steps: u64,
    /// The step this invocation started from.
    pub started_at: u64,
    /// The last metrics row.
    pub last: Option<Metrics>,
    /// Real images per second through the whole loop.
    pub images_per_sec: f32,
    /// Warnings raised while training.
    pub warnings: Vec<String>,
    /// NaN rollbacks taken.
    pub rollbacks: u32,
    /// For `split_by`: one report per value.
    pub split: Vec<(String, TrainReport)>,
}

/// Trains as `spec` says into `out`; with `resume`, continues from `out`'s newest
/// checkpoint (the saved settings win, except `steps` and `backend`). Without `resume`,
/// `out` must not hold a run yet. A new run saves its dataset paths absolute, so resume
/// and eval work from any folder.
pub fn train(
    spec: &TrainSpec,
    out: &Path,
    resume: bool,
    v: Verbosity,
) -> Result<TrainReport, GanError> {
    let spec = resolve_resume(spec, out, resume)?;
    spec.validate()?;
    let spec = with_absolute_paths(spec)?;
    backend::check(spec.backend)?;
    let mut attrs = spec.attrs.clone();
    if let Some(s) = &spec.split_by {
        if !attrs.contains(s) {
            attrs.push(s.clone());
        }
    }
    let need_labels = spec.conditional() || spec.split_by.is_some();
    let ds = data::load(&DataSource {
        data: spec.data.as_deref(),
        labels: spec.labels.as_deref(),
        mnist: spec.mnist.as_deref(),
        attrs,
        need_labels,
        size: spec.size,
    })?;
    train_dataset(&spec, ds, out, resume, v)
}

/// `spec` with its dataset paths (`data`, `mnist`, `labels`) made absolute: settings.json
/// is read later from other folders (`--resume`, `eval`, the report page).
fn with_absolute_paths(mut spec: TrainSpec) -> Result<TrainSpec, GanError> {
    for (what, p) in [
        ("--data folder", &mut spec.data),
        ("--mnist folder", &mut spec.mnist),
        ("--labels file", &mut spec.labels),
    ]
    .into_iter()
    .filter_map(|(what, p)| Some((what, p.as_mut()?)))
    {
        *p = std::fs::canonicalize(&*p).map_err(|e| {
            let from = std::env::current_dir()
                .ok()
                .filter(|_| p.is_relative())
                .map(|d| format!(" (a relative path, looked up from {})", d.display()))
                .unwrap_or_default();
            GanError::Data {
                path: p.clone(),
                reason: format!("the {what}: {e}{from}"),
            }
        })?;
    }
    Ok(spec)
}

/// Whether `out` already holds a run: its settings, a checkpoint, or a split summary.
pub fn holds_run(out: &Path) -> bool {
    [
        checkpoint::SETTINGS,
        checkpoint::LATEST,
        "checkpoints",
        "summary.csv",
    ]
    .iter()
    .any(|f| out.join(f).exists())
}

/// Whether `out` holds a run started with `spec`'s settings (`steps` and `backend` may
/// differ, as `--resume` allows; dataset paths compare as absolute paths).
pub fn holds_same_run(spec: &TrainSpec, out: &Path) -> bool {
    let Ok((saved, _)) = checkpoint::read_meta(out) else {
        return false;
    };
    let spec = with_absolute_paths(spec.clone()).unwrap_or_else(|_| spec.clone());
    TrainSpec {
        steps: saved.steps,
        backend: saved.backend,
        // No attributes asked for: the run saved the first label column it found.
        attrs: if spec.attrs.is_empty() {
            saved.attrs.clone()
        } else {
            spec.attrs.clone()
        },
        noise_horizon: saved.noise_horizon,
        ..spec
    } == saved
}

/// Refuses to start a run in a folder that holds one: the new settings would sit beside
/// the old checkpoints and samples, and a later `--resume` or `generate` would load the
/// old run's weights into the new network.
fn refuse_existing(spec: &TrainSpec, out: &Path) -> Result<(), GanError> {
    if !holds_run(out) {
        return Ok(());
    }
    let step = checkpoint::latest(out).ok().flatten().map_or(0, |l| l.step);
    let target = checkpoint::read_meta(out).map_or(0, |(saved, _)| saved.steps);
    let reason = if holds_same_run(spec, out) && step < target {
        format!(
            "it holds an unfinished run with these settings (step {step} of {target}): \
             add --resume to continue it, or give another --out"
        )
    } else {
        "it already holds a run (settings.json, checkpoints/): add --resume to continue \
         that run (with its saved settings; --steps extends it), or give another --out"
            .to_string()
    };
    Err(GanError::RunFolder {
        path: out.to_path_buf(),
        reason,
    })
}

fn resolve_resume(spec: &TrainSpec, out: &Path, resume: bool) -> Result<TrainSpec, GanError> {
    if !resume {
        refuse_existing(spec, out)?;
        return Ok(spec.clone());
    }
    if !out.join(checkpoint::SETTINGS).is_file() {
        return Ok(spec.clone());
    }
    let (mut saved, _) = checkpoint::read_meta(out)?;
    // Settings runs saved before `validate` refused them, read as those runs trained:
    // an unconditional run's data columns, targets the hinge loss ignored, intervals of
    // 0 taken as 1. Refusing them would leave such a run unresumable.
    if !saved.conditional() {
        saved.attrs.clear();
    }
    if saved.loss == super::spec::LossKind::Hinge {
        (saved.label_smoothing, saved.label_noise) = (0.0, 0.0);
    }
    if saved.model != super::spec::ModelKind::Cgan {
        saved.cond = super::spec::CondKind::Projection;
    }
    if saved.arch != super::spec::Arch::Dcgan {
        (saved.ngf, saved.ndf) = (super::spec::DEFAULT_WIDTH, super::spec::DEFAULT_WIDTH);
    }
    for every in [
        &mut saved.sample_every,
        &mut saved.checkpoint_every,
        &mut saved.log_every,
    ] {
        *every = (*every).max(1);
    }
    // A target below the steps done trained nothing and wrote the lower target into
    // settings.json, under a checkpoint past it.
    refuse_target_below_done(out, spec.steps, "the run")?;
    // A run saved before the horizon was kept anneals to the target it last trained to.
    saved.noise_horizon.get_or_insert(saved.steps);
    saved.steps = spec.steps;
    saved.backend = spec.backend;
    Ok(saved)
}

/// A usage error where the run at `run` (called `what`) has a checkpoint past `steps`.
fn refuse_target_below_done(run: &Path, steps: u64, what: &str) -> Result<(), GanError> {
    match checkpoint::latest(run)?.filter(|l| l.step > steps) {
        Some(done) => Err(GanError::Usage {
            reason: format!(
                "{what} is at step {}, past --steps {steps}: give more steps to go on",
                done.step
            ),
        }),
        None => Ok(()),
    }
}

/// Trains on a dataset already in memory (the demo and tests use this).
pub fn train_dataset(
    spec: &TrainSpec,
    ds: Dataset,
    out: &Path,
    resume: bool,
    v: Verbosity,
) -> Result<TrainReport, GanError> {
    // One trainer per run folder: two (a second `--resume`, or two fresh runs that both
    // found the folder empty) went on from one checkpoint and interleaved their
    // checkpoints, metrics.csv and latest.json.
    let existed = out.exists();
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let lock_path = out.join(RUN_LOCK);
    let Some(_lock) = crate::atomic::try_lock_file(&lock_path).map_err(io_err(&lock_path))? else {
        return Err(GanError::RunFolder {
            path: out.to_path_buf(),
            reason: "another `facesynth train` is writing to it: wait for it to end, or give \
                     another --out"
                .into(),
        });
    };
    let result = train_locked(spec, ds, out, resume, v);
    if result.is_err() && !existed {
        // A fresh run refused before it wrote anything leaves no folder behind.
        let _ = std::fs::remove_file(&lock_path);
        let _ = std::fs::remove_dir(out);
    }
    result
}

/// The lock file a trainer holds in its run folder.
pub const RUN_LOCK: &str = ".train.lock";

fn train_locked(
    spec: &TrainSpec,
    mut ds: Dataset,
    out: &Path,
    resume: bool,
    v: Verbosity,
) -> Result<TrainReport, GanError> {
    let mut spec = resolve_resume(spec, out, resume)?;
    spec.noise_horizon.get_or_insert(spec.steps);
    backend::check(spec.backend)?;
    // What a killed run was writing, a checkpoint's files among them.
    let checkpoints = checkpoint::step_dirs(out)
        .into_iter()
        .flatten()
        .map(|(_, dir)| dir);
    for dir in [out.to_path_buf(), out.join("samples")]
        .into_iter()
        .chain(checkpoints)
    {
        crate::atomic::sweep_stale(&dir);
    }
    if let Some(attr) = spec.split_by.clone() {
        return train_split(&spec, ds, out, &attr, resume, v);
    }
    let names: Vec<String> = if spec.attrs.is_empty() {
        ds.attrs
            .first()
            .map(|a| vec![a.name.clone()])
            .unwrap_or_default()
    } else {
        spec.attrs.clone()
    };
    if let Some(missing) = names
        .iter()
        .find(|n| !ds.attrs.iter().any(|a| &a.name == *n))
    {
        return Err(GanError::Settings {
            reason: format!("the data has no attribute `{missing}`"),
        });
    }
    ds.select_attrs(&names);
    if spec.conditional() && ds.attrs.is_empty() {
        return Err(GanError::Settings {
            reason: format!("{} needs labels: give --attr and a labels CSV", spec.model),
        });
    }
    // Only a conditional model's settings name its classes: an unconditional run that
    // saved the data's first column here (MNIST's `digit`, a `--labels` file's first
    // attribute) was refused by `validate` on every `--resume`.
    if spec.conditional() {
        spec.attrs = names;
    }
    if ds.len() < 2 {
        return Err(GanError::Settings {
            reason: format!("only {} image(s) to train on", ds.len()),
        });
    }
    let classes = ClassMap {
        channels: ds.channels,
        attrs: ds.attrs.clone(),
        split: None,
    };
    if resume {
        check_classes(out, &classes)?;
    }
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    // The report's classes are the conditioning ones: an unconditional run's summary
    // said "classes: digit (10 values)" of MNIST's column it never used.
    let attrs = match spec.conditional() {
        true => ds.attrs.clone(),
        false => Vec::new(),
    };
    let (images, skipped) = (ds.len(), ds.skipped.clone());
    let run = RunDir {
        out,
        classes: &classes,
        resume,
    };
    let outcome = match spec.backend {
        BackendKind::Cpu => run_on::<backend::CpuTrain>(&spec, ds, run, Default::default(), v)?,
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => run_on::<burn::backend::Autodiff<burn::backend::Cuda>>(
            &spec,
            ds,
            run,
            Default::default(),
            v,
        )?,
        #[cfg(not(feature = "cuda"))]
        BackendKind::Cuda => unreachable!("backend::check refuses cuda in a cpu build"),
    };
    Ok(TrainReport {
        run: out.to_path_buf(),
        images,
        skipped,
        attrs,
        steps: outcome.step,
        started_at: outcome.started_at,
        last: outcome.last,
        images_per_sec: outcome.images_per_sec,
        warnings: outcome.warnings,
        rollbacks: outcome.rollbacks,
        split: Vec::new(),
    })
}

/// Refuses to resume when the data's classes are not the ones `out/classes.json` saved.
/// A checkpoint's class slots (label embeddings, classifier outputs) are positions in that
/// mapping: after a relabel that drops, adds or renames a value, the same positions would
/// stand for other values and training would silently mix them (or, with a new value,
/// fail on a weight shape and blame a mixed folder).
fn check_classes(out: &Path, classes: &ClassMap) -> Result<(), GanError> {
    let path = out.join(checkpoint::CLASSES);
    if !path.is_file() {
        return Ok(());
    }
    let (_, saved) = checkpoint::read_meta(out)?;
    if saved == *classes {
        return Ok(());
    }
    Err(GanError::Classes {
        reason: format!(
            "the run was trained on other classes than the data has now ({}); resuming \
             would give the checkpoint's class slots to other values: train into a new \
             --out (or restore the labels the run was trained on)",
            class_difference(&saved, classes)
        ),
        path,
    })
}

/// What differs between a saved class mapping and the data's, in words.
fn class_difference(saved: &ClassMap, now: &ClassMap) -> String {
    let list = |a: &Attribute| format!("{} = [{}]", a.name, a.values.join(", "));
    let names = |v: &[Attribute]| {
        let n: Vec<&str> = v.iter().map(|a| a.name.as_str()).collect();
        format!("[{}]", n.join(", "))
    };
    let mut parts = Vec::new();
    if saved.channels != now.channels {
        parts.push(format!(
            "channels: saved {}, now {}",
            saved.channels, now.channels
        ));
    }
    if saved.attrs.len() != now.attrs.len()
        || saved
            .attrs
            .iter()
            .zip(&now.attrs)
            .any(|(a, b)| a.name != b.name)
    {
        parts.push(format!(
            "attributes: saved {}, now {}",
            names(&saved.attrs),
            names(&now.attrs)
        ));
    } else {
        for (a, b) in saved.attrs.iter().zip(&now.attrs) {
            if a != b {
                let only = |x: &Attribute, y: &Attribute| {
                    let v: Vec<&str> = x
                        .values
                        .iter()
                        .filter(|v| !y.values.contains(v))
                        .map(String::as_str)
                        .collect();
                    v.join(", ")
                };
                let (gone, new) = (only(a, b), only(b, a));
                let mut what = Vec::new();
                if !gone.is_empty() {
                    what.push(format!("gone: {gone}"));
                }
                if !new.is_empty() {
                    what.push(format!("new: {new}"));
                }
                parts.push(format!(
                    "saved {}, now {}{}",
                    list(a),
                    list(b),
                    if what.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", what.join("; "))
                    }
                ));
            }
        }
    }
    if saved.split != now.split {
        let show = |s: &Option<Attribute>| s.as_ref().map_or("none".to_string(), list);
        parts.push(format!(
            "split: saved {}, now {}",
            show(&saved.split),
            show(&now.split)
        ));
    }
    parts.join("; ")
}

/// A folder name for a class value. Two values can give the same name (`light blue`,
/// `light_blue`): a split run's folders come from [`value_dirs`], which tells them apart.
pub fn value_dir(value: &str) -> String {
    let s: String = value
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// The folder name of each of `values`, in order: [`value_dir`], except that values whose
/// names would be the same folder (`light blue` and `light_blue`, or `Red` and `red` on a
/// case-insensitive file system) each get `-` and 8 hex digits of a hash of the value, so
/// every class model has its own folder. Values that do not collide keep the plain name,
/// as runs from before this rule have them.
pub fn value_dirs(values: &[String]) -> Vec<String> {
    let plain: Vec<String> = values.iter().map(|v| value_dir(v)).collect();
    let mut count: HashMap<String, usize> = HashMap::new();
    for p in &plain {
        *count.entry(p.to_lowercase()).or_default() += 1;
    }
    plain
        .into_iter()
        .zip(values)
        .map(|(p, v)| {
            if count[&p.to_lowercase()] > 1 {
                format!(
                    "{p}-{:08x}",
                    xxhash_rust::xxh3::xxh3_64(v.as_bytes()) as u32
                )
            } else {
                p
            }
        })
        .collect()
}

/// The values of a split run at `run` whose class model has a checkpoint (its folder
/// holds `latest.json`), each with its folder, in value order: what `generate` and
/// `eval` can draw from (training skips values with too few images, and a run may be
/// under way). A class model that has begun but saved nothing yet is not among them:
/// with its settings alone, `generate --per-class` failed on it whole.
pub fn trained_values<'a>(run: &Path, values: &'a [String]) -> Vec<(&'a String, String)> {
    values
        .iter()
        .zip(value_dirs(values))
        .filter(|(_, d)| run.join(d).join(checkpoint::LATEST).is_file())
        .collect()
}

/// The folder of `value` among a split attribute's `values` (see [`value_dirs`]).
pub fn split_dir(values: &[String], value: &str) -> Option<String> {
    let i = values.iter().position(|v| v == value)?;
    value_dirs(values).into_iter().nth(i)
}

fn train_split(
    spec: &TrainSpec,
    ds: Dataset,
    out: &Path,
    attr: &str,
    resume: bool,
    v: Verbosity,
) -> Result<TrainReport, GanError> {
    let split = ds
        .attrs
        .iter()
        .find(|a| a.name == attr)
        .cloned()
        .ok_or_else(|| GanError::Settings {
            reason: format!("--split-by {attr}: the data has no such attribute"),
        })?;
    let mut rest = ds.attrs.clone();
    rest.retain(|a| a.name != attr);
    // Before the folder is made: a class model with nothing to condition on failed only
    // after the split's settings were written, and the folder then refused a corrected
    // rerun as a run already there.
    if spec.conditional() && rest.is_empty() {
        return Err(GanError::Settings {
            reason: format!(
                "{} conditions each class model on an attribute other than --split-by {attr}, \
                 and the data has none: give --attr with another labeled attribute, or \
                 --model dcgan for one unconditional model per value",
                spec.model
            ),
        });
    }
    // Every value under 2 images (an id-like column): nothing would train, and the run
    // ended with warnings and exit 0.
    let a = ds.attrs.iter().position(|x| x.name == attr).unwrap_or(0);
    if ds.value_counts(a).iter().all(|&c| c < 2) {
        return Err(GanError::Settings {
            reason: format!(
                "--split-by {attr}: no value has 2 or more images ({} values over {} images), \
                 so no class model would train; split by an attribute of fewer values",
                split.values.len(),
                ds.len()
            ),
        });
    }
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let classes = ClassMap {
        channels: ds.channels,
        attrs: rest,
        split: Some(split.clone()),
    };
    if resume {
        check_classes(out, &classes)?;
        // Before the split's settings take the new target: a class model past it
        // refused only after settings.json said it, and every later `--resume` read
        // the lower target back and was refused again.
        for dir in value_dirs(&split.values) {
            refuse_target_below_done(&out.join(&dir), spec.steps, &dir)?;
        }
    }
    checkpoint::write_meta(out, spec, &classes)?;
    let mut sub_spec = spec.clone();
    sub_spec.split_by = None;
    sub_spec.attrs.retain(|a| a != attr);
    let mut report = TrainReport {
        run: out.to_path_buf(),
        images: ds.len(),
        skipped: ds.skipped.clone(),
        attrs: vec![split.clone()],
        ..Default::default()
    };
    // Through the csv crate: a value may hold a comma (a tag such as "blue, green").
    let mut summary = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| GanError::Io {
        path: out.join("summary.csv"),
        source: std::io::Error::other(e),
    };
    summary
        .write_record([
            "value",
            "images",
            "steps",
            "loss_d",
            "loss_g",
            "d_real",
            "d_fake",
            "images_per_sec",
            "warnings",
        ])
        .map_err(csv_err)?;
    let t0 = std::time::Instant::now();
    let mut trained = 0u64;
    report.started_at = u64::MAX;
    for (value, dir) in split.values.iter().zip(value_dirs(&split.values)) {
        let Some(mut sub) = ds.subset(attr, value) else {
            continue;
        };
        // A class model saved before (by this build or an older one that listed every
        // value of the whole set) resumes with its own value lists, if they hold the
        // values its images have now.
        let class_dir = out.join(&dir);
        if resume && class_dir.join(checkpoint::CLASSES).is_file() {
            let (_, saved) = checkpoint::read_meta(&class_dir)?;
            sub.relabel_onto(&saved.attrs);
        }
        if sub.len() < 2 {
            report.warnings.push(format!(
                "{attr}={value}: only {} image(s), skipped",
                sub.len()
            ));
            continue;
        }
        let dir = out.join(dir);
        let r = train_dataset(
            &sub_spec,
            sub,
            &dir,
            resume && dir.join(checkpoint::SETTINGS).is_file(),
            v,
        )
        // Ctrl-C in one class's model: the split's folder is what `--resume` goes on
        // with (the class folder alone trained that class and left the rest untrained).
        .map_err(|e| match e {
            GanError::Interrupted { step, .. } => GanError::Interrupted {
                run: out.to_path_buf(),
                step,
            },
            e => e,
        })?;
        let m = r.last.unwrap_or_default();
        summary
            .write_record([
                value.clone(),
                r.images.to_string(),
                r.steps.to_string(),
                format!("{:.4}", m.loss_d),
                format!("{:.4}", m.loss_g),
                format!("{:.3}", m.d_real),
                format!("{:.3}", m.d_fake),
                format!("{:.1}", r.images_per_sec),
                r.warnings.len().to_string(),
            ])
            .map_err(csv_err)?;
        report.steps = report.steps.max(r.steps);
        report.started_at = report.started_at.min(r.started_at);
        trained += (r.steps - r.started_at) * spec.batch as u64;
        report
            .warnings
            .extend(r.warnings.iter().map(|w| format!("{value}: {w}")));
        report.split.push((value.clone(), r));
    }
    if report.started_at == u64::MAX {
        report.started_at = 0;
    }
    // Over the whole split, so the summary's rate counts every class model's images.
    report.images_per_sec = trained as f32 / t0.elapsed().as_secs_f32().max(1e-6);
    let p = out.join("summary.csv");
    let summary = summary
        .into_inner()
        .map_err(|e| csv_err(e.into_error().into()))?;
    crate::atomic::write(&p, &summary).map_err(io_err(&p))?;
    Ok(report)
}

fn clip(spec: &TrainSpec) -> Option<GradientClippingConfig> {
    spec.clip.map(GradientClippingConfig::Value)
}

/// Where one model trains: its folder, the class mapping to save there, and whether it
/// continues from the folder's newest checkpoint.
struct RunDir<'a> {
    out: &'a Path,
    classes: &'a ClassMap,
    resume: bool,
}

fn run_on<B: AutodiffBackend>(
    spec: &TrainSpec,
    ds: Dataset,
    run: RunDir,
    device: B::Device,
    v: Verbosity,
) -> Result<RunOutcome, GanError> {
    let out = run.out;
    let attrs: Vec<usize> = ds.attrs.iter().map(|a| a.values.len()).collect();
    let shape = net_shape(spec, ds.channels, &attrs);
    let (g, d, ema) = {
        let _rng = crate::backend_rng::lock();
        B::seed(&device, spec.seed);
        let g = Generator::<B>::new(spec.arch, &shape, &device);
        let d = Discriminator::<B>::new(spec.arch, &shape, &device);
        // Reading G's weights for the EMA initializes them (burn's parameters are lazy);
        // without an EMA they are drawn in the first step, under that step's seed.
        let ema = spec
            .ema
            .map(|_| super::ema::flat_params(&burn::module::AutodiffModule::valid(&g)));
        (g, d, ema)
    };
    macro_rules! go {
        ($og:expr, $od:expr) => {{
            let mut t = Trainer {
                spec: spec.clone(),
                shape,
                ds: Arc::new(ds),
                run: out.to_path_buf(),
                device,
                g,
                d,
                og: $og,
                od: $od,
                ema,
                step: 0,
                rollbacks: 0,
            };
            if run.resume {
                t.load_latest()?;
            }
            // Saved only once the checkpoint has loaded: a resume refused for weights
            // that do not fit leaves the run's settings as they were.
            checkpoint::write_meta(out, spec, run.classes)?;
            t.run(v)
        }};
    }
    match spec.optim {
        OptimKind::Adam => {
            // PyTorch's epsilon (burn's default is 1e-5), so runs compare.
            let cfg = AdamConfig::new()
                .with_beta_1(spec.beta1)
                .with_epsilon(1e-8)
                .with_grad_clipping(clip(spec));
            go!(
                cfg.init::<B, Generator<B>>(),
                cfg.init::<B, Discriminator<B>>()
            )
        }
        OptimKind::Rmsprop => {
            // Keras' RMSprop: rho 0.9, no momentum, epsilon 1e-7.
            let cfg = RmsPropConfig::new()
                .with_alpha(0.9)
                .with_momentum(0.0)
                .with_epsilon(1e-7)
                .with_grad_clipping(clip(spec));
            go!(
                cfg.init::<B, Generator<B>>(),
                cfg.init::<B, Discriminator<B>>()
            )
        }
    }
}
