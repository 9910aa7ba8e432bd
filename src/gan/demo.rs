//! The demo's GAN step: a small conditional model (CGAN with a projection D, 32 px, narrow
//! networks, 500 steps of batch 32) trained for about a minute on the CPU on the demo's labeled synthetic faces,
//! then per-class grids.

use super::generate::{generate, GenerateSpec};
use super::spec::{ModelKind, TrainSpec};
use super::train::{holds_run, holds_same_run, train, TrainReport};
use super::{io_err, GanError};
use crate::progress::Verbosity;
use std::path::{Path, PathBuf};

/// What the demo's GAN step did.
#[derive(Debug, Clone)]
pub struct DemoGanReport {
    /// The training report (run folder `OUT/run`).
    pub train: TrainReport,
    /// Per-class grid: one row per hair colour.
    pub grid: PathBuf,
    /// Per-class images written.
    pub images: usize,
}

/// The settings the demo trains with (on `data`, conditioned on `attr`).
pub fn demo_spec(data: &Path, attr: &str) -> TrainSpec {
    TrainSpec {
        data: Some(data.to_path_buf()),
        attrs: vec![attr.to_string()],
        model: ModelKind::Cgan,
        size: 32,
        steps: 500,
        batch: 32,
        ngf: 16,
        ndf: 16,
        embed_dim: 16,
        sample_every: 100,
        checkpoint_every: 250,
        ..TrainSpec::default()
    }
}

/// Trains the demo's conditional model on `data_dir` (a prepared folder with
/// `labels_wide.csv` or `truth.csv` holding `hair_color`) into `out_dir/run`, and writes
/// `out_dir/samples/<hair>/<i>.png` plus `out_dir/samples/grid.png`.
pub fn demo_step(
    data_dir: &Path,
    out_dir: &Path,
    verbosity: Verbosity,
) -> Result<DemoGanReport, GanError> {
    let run = out_dir.join("run");
    let samples = out_dir.join("samples");
    let spec = demo_spec(data_dir, "hair_color");
    // `facesynth demo` starts from an empty OUT/gan. Called on its own, a rerun redoes
    // its own run (same settings, same data folder) from scratch; any other run there is
    // refused here, as `train` would, but without pointing to a --resume the demo lacks.
    let same = holds_same_run(&spec, &run);
    if holds_run(&run) && !same {
        return Err(GanError::RunFolder {
            path: run,
            reason: "it holds a training run the demo did not start here (other settings or \
                     data folder): give the demo a new folder"
                .into(),
        });
    }
    if same {
        for dir in [&run, &samples] {
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(io_err(dir))?;
            }
        }
    }
    let train = train(&spec, &run, false, verbosity)?;
    let gen = generate(&GenerateSpec {
        run: run.clone(),
        out: samples.clone(),
        per_class: Some(8),
        ..GenerateSpec::default()
    })?;
    Ok(DemoGanReport {
        train,
        grid: samples.join("grid.png"),
        images: gen.images,
    })
}

#[cfg(test)]
mod tests {
    /// The README's first command trains with these settings: a check on training's
    /// settings that they fail would break `facesynth demo` with every other test green
    /// (the demo's own run takes minutes, too long for the suite).
    #[test]
    fn the_demos_settings_pass_trainings_checks() {
        super::demo_spec(std::path::Path::new("data"), "hair_color")
            .validate()
            .unwrap();
    }
}
