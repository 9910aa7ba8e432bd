//! GAN training and generation with burn: DCGAN (pytorch/examples), CGAN (label
//! embeddings; projection or label-channel D), ACGAN (auxiliary classifier), InfoGAN
//! (categorical + continuous codes) and the seeds' Keras presets, on the CPU (flex) or
//! CUDA; spectral normalization ([`sn`]) and SAGAN self-attention ([`attention`]) as options.
//!
//! Entry points: [`train()`] (one run, or one per class with `split_by`), [`generate()`]
//! (images from a run folder alone) and [`demo_step`] (the demo's small conditional model).

pub mod attention;
pub mod backend;
pub(crate) mod batch;
pub mod blocks;
pub mod checkpoint;
pub mod data;
pub mod dcgan;
mod demo;
pub(crate) mod ema;
pub mod generate;
pub mod keras;
pub mod loss;
pub mod model;
mod monitor;
mod outdir;
pub mod section;
pub mod sn;
pub mod spec;
pub mod train;
mod trainer;

pub use demo::{demo_step, DemoGanReport};
pub use generate::{generate, GenerateReport, GenerateSpec};
pub use section::TrainSection;
pub use spec::TrainSpec;
pub use train::{train, TrainReport};

use std::path::PathBuf;

/// Everything that can go wrong in training or generation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GanError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The settings do not fit together.
    #[error("invalid settings: {reason}")]
    Settings {
        /// Why.
        reason: String,
    },
    /// A setting no run could use, found before any data is read (`--label-smoothing 2`,
    /// a repeated `--attr`): a bad command line, exit code 2, as clap's own refusals.
    #[error("invalid settings: {reason}")]
    Usage {
        /// Why.
        reason: String,
    },
    /// A pipeline file could not be parsed.
    #[error("{}: {reason}", path.display())]
    Pipeline {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The dataset could not be loaded.
    #[error("dataset {}: {reason}", path.display())]
    Data {
        /// The dataset folder or file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A checkpoint or run folder could not be read or written.
    #[error("checkpoint {}: {reason}", path.display())]
    Checkpoint {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A run's saved class mapping (`classes.json`) differs from the data's classes.
    #[error("{}: {reason}", path.display())]
    Classes {
        /// The run's `classes.json`.
        path: PathBuf,
        /// The saved and the current values, and what to do.
        reason: String,
    },
    /// A run folder cannot be used as asked (it holds another run).
    #[error("run folder {}: {reason}", path.display())]
    RunFolder {
        /// The folder.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// An output folder cannot be used as asked (it holds files of something else).
    #[error("output folder {}: {reason}", path.display())]
    Output {
        /// The folder (or the file in it that is the problem).
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// The requested backend is not available.
    #[error("backend unavailable: {reason}")]
    Backend {
        /// Why, and what to do.
        reason: String,
    },
    /// Training diverged and could not be rolled back.
    #[error("training diverged at step {step}: {reason}")]
    Diverged {
        /// The step.
        step: u64,
        /// Why.
        reason: String,
    },
    /// Ctrl-C: the run saved a checkpoint at this step and stopped.
    #[error(
        "interrupted at step {step}: checkpoint saved in {}; `facesynth train --out {} --resume` goes on",
        run.display(),
        run.display()
    )]
    Interrupted {
        /// The run folder.
        run: PathBuf,
        /// The step saved.
        step: u64,
    },
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> GanError {
    let path = path.into();
    move |source| GanError::Io { path, source }
}
