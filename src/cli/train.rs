//! `facesynth train`: flags (over an optional pipeline file) into a `TrainSpec`, one
//! library call, a summary.

use super::parse::at_least;
use anyhow::Context;
use clap::Args;
use facesynth::gan::spec::{Arch, BackendKind, CondKind, LossKind, ModelKind, OptimKind, SnWhere};
use facesynth::gan::{self, TrainSection, TrainSpec};
use facesynth::progress::Verbosity;
use std::path::{Path, PathBuf};

/// Arguments of `facesynth train`.
#[derive(Debug, Args)]
// The data comes from a flag, the pipeline file or (resuming) the run's settings.
#[command(group(clap::ArgGroup::new("source")
    .args(["data", "mnist", "resume", "pipeline"])
    .required(true)
    .multiple(true)))]
#[command(after_help = "Examples:
  facesynth train --data prepped --model acgan --attr hair_color --size 64 --steps 5000 --out runs/acgan
  facesynth train --data prepped --labels prepped/labels_wide.csv --model cgan --attr hair_color,eye_color --out runs/cgan
  facesynth train --data prepped --model dcgan --split-by hair_color --steps 2000 --out runs/per-hair
  facesynth train --mnist ../shared/data/mnist --model infogan --size 28 --steps 3000 --out runs/info
  facesynth train --mnist ../shared/data/mnist --pipeline pipelines/mnist-dcgan-keras.toml --out runs/keras
  facesynth train --out runs/acgan --resume --steps 8000")]
pub struct TrainArgs {
    /// Dataset folder: prep output (with labels_wide.csv, truth.csv or tags.csv), or one
    /// sub-folder per class.
    #[arg(long, conflicts_with = "mnist")]
    pub data: Option<PathBuf>,
    /// MNIST IDX folder (images-idx3-ubyte.gz + labels-idx1-ubyte.gz); attribute `digit`.
    #[arg(long)]
    pub mnist: Option<PathBuf>,
    /// Wide labels CSV (file,<attr>...); default DATA/labels_wide.csv, truth.csv, then tags.csv.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Attribute(s) to condition on, comma-separated (default: the first label column).
    #[arg(long, value_delimiter = ',')]
    pub attr: Option<Vec<String>>,
    /// Pipeline TOML whose [train] section gives defaults (flags win).
    #[arg(long)]
    pub pipeline: Option<PathBuf>,
    /// Model family: dcgan, cgan, acgan, infogan [default: dcgan].
    #[arg(long)]
    pub model: Option<ModelKind>,
    /// Network layout: dcgan, keras-mnist, keras-anime [default: dcgan].
    #[arg(long)]
    pub arch: Option<Arch>,
    /// Image side: 16, 28, 32, 64, 128 [default: 64].
    #[arg(long)]
    pub size: Option<u32>,
    /// Training steps (one D and one G update each) [default: 2000].
    #[arg(long, value_parser = at_least::<u64, 1>)]
    pub steps: Option<u64>,
    /// Batch size [default: 64].
    #[arg(long, value_parser = at_least::<usize, 2>)]
    pub batch: Option<usize>,
    /// Loss: bce, hinge, ls, ragan [default: bce].
    #[arg(long)]
    pub loss: Option<LossKind>,
    /// Optimizer: adam, rmsprop [default: adam].
    #[arg(long)]
    pub optim: Option<OptimKind>,
    /// G learning rate [default: 2e-4].
    #[arg(long)]
    pub lr_g: Option<f64>,
    /// D learning rate (TTUR when different) [default: 2e-4].
    #[arg(long)]
    pub lr_d: Option<f64>,
    /// G and D widths (ngf = ndf) [default: 64].
    #[arg(long, value_parser = at_least::<usize, 1>)]
    pub width: Option<usize>,
    /// CGAN discriminator conditioning: projection, channels [default: projection].
    #[arg(long)]
    pub cond: Option<CondKind>,
    /// One-sided label smoothing (real target 1 - S) [default: 0].
    #[arg(long)]
    pub label_smoothing: Option<f32>,
    /// Instance noise std on D's inputs, annealed to 0 [default: 0].
    #[arg(long)]
    pub instance_noise: Option<f32>,
    /// EMA decay of G's weights for sampling, e.g. 0.999 [default: off].
    #[arg(long)]
    pub ema: Option<f64>,
    /// Train one model per value of this attribute, in RUN/<value>/.
    #[arg(long)]
    pub split_by: Option<String>,
    /// Sample grid every N steps [default: 500].
    #[arg(long)]
    pub sample_every: Option<u64>,
    /// Checkpoint every N steps [default: 500].
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Metrics row every N steps [default: 10].
    #[arg(long)]
    pub log_every: Option<u64>,
    /// Seed [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Continue RUN from its newest checkpoint, with its saved settings (--steps and
    /// --backend, when given, override them; any other flag must match them). Needed to
    /// train into a folder that holds a run.
    #[arg(long)]
    pub resume: bool,
    /// cpu or cuda (cuda needs a build with --features cuda and an NVIDIA driver) [default: cpu].
    #[arg(long)]
    pub backend: Option<BackendKind>,
    /// Spectral normalization: d, g, both or none (D drops batch norm when normalized) [default: none].
    #[arg(long)]
    pub spectral_norm: Option<SnWhere>,
    /// Add a SAGAN self-attention block to G and D at this feature-map side (e.g. 32 at 64 px).
    #[arg(long, value_name = "SIDE")]
    pub attention: Option<u32>,
    /// A fully connected layer of N units between the convolutions and the heads, in G and
    /// D (the InfoGAN paper's MNIST networks: 1024) [default: none].
    #[arg(long, value_name = "N")]
    pub fc: Option<usize>,
    /// Run folder: settings, class mapping, checkpoints, samples, metrics.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: TrainArgs, v: Verbosity) -> anyhow::Result<()> {
    let file = match &a.pipeline {
        Some(p) => TrainSection::from_pipeline(p)?,
        None => TrainSection::default(),
    };
    let cli = TrainSection {
        data: a.data,
        labels: a.labels,
        mnist: a.mnist,
        attrs: a.attr,
        model: a.model,
        arch: a.arch,
        size: a.size,
        steps: a.steps,
        batch: a.batch,
        ngf: a.width,
        ndf: a.width,
        cond: a.cond,
        loss: a.loss,
        optim: a.optim,
        lr_g: a.lr_g,
        lr_d: a.lr_d,
        label_smoothing: a.label_smoothing,
        instance_noise: a.instance_noise,
        ema: a.ema,
        split_by: a.split_by,
        sample_every: a.sample_every,
        checkpoint_every: a.checkpoint_every,
        log_every: a.log_every,
        seed: a.seed,
        backend: a.backend,
        spectral_norm: a.spectral_norm,
        attention: a.attention,
        fc: a.fc,
        ..TrainSection::default()
    };
    let (steps, backend) = (a.steps.or(file.steps), a.backend.or(file.backend));
    let (cli_flags, file_keys) = (cli.clone(), file.clone());
    let mut spec = cli.resolve(file);
    let saved_run = a.out.join(gan::checkpoint::SETTINGS).is_file();
    if a.resume && (saved_run || (spec.data.is_none() && spec.mnist.is_none())) {
        // Resuming needs only RUN: its saved settings name the data. Steps and backend
        // given (by flag or pipeline file) override the saved ones; defaults do not.
        let saved = gan::checkpoint::read_meta(&a.out)?.0;
        refuse_changed_flags(&cli_flags, &file_keys, &saved, &a.out)?;
        spec = TrainSpec {
            steps: steps.unwrap_or(saved.steps),
            backend: backend.unwrap_or(saved.backend),
            ..saved
        };
    }
    let r = gan::train(&spec, &a.out, a.resume, v)
        .map_err(|e| match (e, &a.pipeline) {
            // A setting no run could use may come from the pipeline file: say where.
            (gan::GanError::Usage { reason }, Some(p)) if !a.resume => gan::GanError::Usage {
                reason: format!(
                    "{reason} (from a flag or the pipeline file {})",
                    p.display()
                ),
            },
            (e, _) => e,
        })
        .with_context(|| format!("training into {}", a.out.display()))?;
    // The run page (settings, curves, samples over training); a page that fails to
    // render costs the user nothing already trained, so it only warns.
    let page = facesynth::report::write_run_report(&r.run);
    if v == Verbosity::Quiet {
        return Ok(());
    }
    match &page {
        Ok(p) => eprintln!("report: {}", p.display()),
        Err(e) => eprintln!("warning: no report page: {e}"),
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if !r.skipped.is_empty() {
        eprintln!(
            "{} file(s) were skipped (undecodable, or named by the labels but not in the \
             dataset):",
            r.skipped.len()
        );
        for s in r.skipped.iter().take(5) {
            eprintln!("  {s}");
        }
        if r.skipped.len() > 5 {
            eprintln!("  ... and {} more", r.skipped.len() - 5);
        }
    }
    let classes: Vec<String> = r
        .attrs
        .iter()
        .map(|a| format!("{} ({} values)", a.name, a.values.len()))
        .collect();
    eprintln!(
        "trained steps {}..{} on a dataset of {} images, {:.1} images/s{}",
        r.started_at,
        r.steps,
        r.images,
        r.images_per_sec,
        if classes.is_empty() {
            String::new()
        } else {
            format!(", classes: {}", classes.join(", "))
        }
    );
    for (value, s) in &r.split {
        eprintln!(
            "  {value}: {} images, {} steps -> {}",
            s.images,
            s.steps,
            s.run.display()
        );
    }
    if let Some(m) = r.last {
        eprintln!(
            "last: loss D {:.3} G {:.3}, D(x) {:.2}, D(G(z)) {:.2}",
            m.loss_d, m.loss_g, m.d_real, m.d_fake
        );
    }
    if r.split.is_empty() {
        eprintln!(
            "run folder: {} (samples/, metrics.csv, checkpoints/)",
            r.run.display()
        );
    } else {
        eprintln!(
            "run folder: {} (summary.csv, one run per value in <value>/)",
            r.run.display()
        );
    }
    Ok(())
}

/// A resumed run keeps its saved settings: a flag, or a pipeline file's key where no flag
/// gives it, other than steps and backend that differs from them is an error naming both
/// values (they were silently ignored, so `--resume --model cgan` went on training the
/// saved acgan, and a pipeline file's `lr_g` did the same).
fn refuse_changed_flags(
    cli: &TrainSection,
    file: &TrainSection,
    saved: &TrainSpec,
    run: &Path,
) -> anyhow::Result<()> {
    let given = serde_json::to_value(cli)?;
    let in_file = serde_json::to_value(file)?;
    let had = serde_json::to_value(saved)?;
    let (Some(given), Some(in_file), Some(had)) =
        (given.as_object(), in_file.as_object(), had.as_object())
    else {
        return Ok(());
    };
    // A data source given by flag stands for both (`TrainSection::resolve`).
    let flagged_source = ["data", "mnist"]
        .iter()
        .any(|k| given.get(*k).is_some_and(|v| !v.is_null()));
    // The file's keys that `TrainSection::resolve` drops: its labels under a flagged
    // source (they name its own images), its classes under an unconditional model. They
    // were compared anyway, and the same command line that started a run was refused
    // on `--resume`.
    let resolved = cli.clone().resolve(file.clone());
    let dropped = |key: &str| match key {
        "data" | "mnist" => flagged_source,
        "labels" => resolved.labels.is_none(),
        "attrs" => cli.attrs.is_none() && resolved.attrs.is_empty(),
        _ => false,
    };
    let mut given = given.clone();
    for (key, value) in in_file {
        if given.get(key).is_none_or(serde_json::Value::is_null) && !dropped(key) {
            given.insert(key.clone(), value.clone());
        }
    }
    let same_path = |a: &serde_json::Value, b: &serde_json::Value| {
        let canon = |v: &serde_json::Value| {
            v.as_str()
                .map(|s| std::fs::canonicalize(s).unwrap_or_else(|_| PathBuf::from(s)))
        };
        canon(a) == canon(b)
    };
    let mut changed = Vec::new();
    for (key, value) in &given {
        if value.is_null() || matches!(key.as_str(), "steps" | "backend") {
            continue;
        }
        let old = had.get(key).unwrap_or(&serde_json::Value::Null);
        let equal = match key.as_str() {
            "data" | "labels" | "mnist" => same_path(value, old),
            _ => value == old,
        };
        if !equal {
            changed.push(format!("{key} {value} (the run's: {old})"));
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    Err(gan::GanError::Usage {
        reason: format!(
            "{} keeps its saved settings on --resume; these flags or pipeline keys differ: \
             {} (leave them out, or train a new run into another --out)",
            run.display(),
            changed.join(", ")
        ),
    }
    .into())
}
