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
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `train` did.
#[derive(Debug, Clone, Default)]
pub struct TrainReport {
    /// The run folder.
    pub run: PathBuf,
    /// Images trained on.
    pub images: usize,
    /// Files that could not be decoded.
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
/// checkpoint (the saved settings win, except `steps` and `backend`).
pub fn train(
    spec: &TrainSpec,
    out: &Path,
    resume: bool,
    v: Verbosity,
) -> Result<TrainReport, GanError> {
    let spec = resolve_resume(spec, out, resume)?;
    spec.validate()?;
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

fn resolve_resume(spec: &TrainSpec, out: &Path, resume: bool) -> Result<TrainSpec, GanError> {
    if !resume || !out.join(checkpoint::SETTINGS).is_file() {
        return Ok(spec.clone());
    }
    let (mut saved, _) = checkpoint::read_meta(out)?;
    saved.steps = spec.steps;
    saved.backend = spec.backend;
    Ok(saved)
}

/// Trains on a dataset already in memory (the demo and tests use this).
pub fn train_dataset(
    spec: &TrainSpec,
    mut ds: Dataset,
    out: &Path,
    resume: bool,
    v: Verbosity,
) -> Result<TrainReport, GanError> {
    let spec = resolve_resume(spec, out, resume)?;
    backend::check(spec.backend)?;
    if let Some(attr) = spec.split_by.clone() {
        return train_split(&spec, ds, out, &attr, resume, v);
    }
    let mut spec = spec;
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
    spec.attrs = names;
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
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    checkpoint::write_meta(out, &spec, &classes)?;
    let (images, skipped, attrs) = (ds.len(), ds.skipped.clone(), ds.attrs.clone());
    let outcome = match spec.backend {
        BackendKind::Cpu => {
            run_on::<backend::CpuTrain>(&spec, ds, out, resume, Default::default(), v)?
        }
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => run_on::<burn::backend::Autodiff<burn::backend::Cuda>>(
            &spec,
            ds,
            out,
            resume,
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

/// A folder name for a class value.
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
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let mut rest = ds.attrs.clone();
    rest.retain(|a| a.name != attr);
    let classes = ClassMap {
        channels: ds.channels,
        attrs: rest,
        split: Some(split.clone()),
    };
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
    let mut summary =
        String::from("value,images,steps,loss_d,loss_g,d_real,d_fake,images_per_sec,warnings\n");
    for value in &split.values {
        let Some(sub) = ds.subset(attr, value) else {
            continue;
        };
        if sub.len() < 2 {
            report.warnings.push(format!(
                "{attr}={value}: only {} image(s), skipped",
                sub.len()
            ));
            continue;
        }
        let dir = out.join(value_dir(value));
        let r = train_dataset(
            &sub_spec,
            sub,
            &dir,
            resume && dir.join(checkpoint::SETTINGS).is_file(),
            v,
        )?;
        let m = r.last.unwrap_or_default();
        summary.push_str(&format!(
            "{},{},{},{:.4},{:.4},{:.3},{:.3},{:.1},{}\n",
            value,
            r.images,
            r.steps,
            m.loss_d,
            m.loss_g,
            m.d_real,
            m.d_fake,
            r.images_per_sec,
            r.warnings.len()
        ));
        report.steps = report.steps.max(r.steps);
        report
            .warnings
            .extend(r.warnings.iter().map(|w| format!("{value}: {w}")));
        report.split.push((value.clone(), r));
    }
    let p = out.join("summary.csv");
    crate::atomic::write(&p, summary.as_bytes()).map_err(io_err(&p))?;
    Ok(report)
}

fn clip(spec: &TrainSpec) -> Option<GradientClippingConfig> {
    spec.clip.map(GradientClippingConfig::Value)
}

fn run_on<B: AutodiffBackend>(
    spec: &TrainSpec,
    ds: Dataset,
    out: &Path,
    resume: bool,
    device: B::Device,
    v: Verbosity,
) -> Result<RunOutcome, GanError> {
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
            if resume {
                t.load_latest()?;
            }
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
