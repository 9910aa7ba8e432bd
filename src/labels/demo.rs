//! The label step of `facesynth demo`: label the demo's synthetic faces with the colour
//! heuristics, run a short simulated loop against the demo's truth, and export
//! `labels_wide.csv`.

use super::classifier::TrainSpec;
use super::round::RoundSpec;
use super::simulate::{simulate, SimulateReport, SimulateSpec};
use super::{session, LabelError, Paths, Strategy};
use crate::progress::Verbosity;
use std::path::Path;

/// The shipped anime schema, used by the demo.
pub const ANIME_SCHEMA: &str = include_str!("../../labels/anime.toml");

/// What the demo's label step did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoLabelReport {
    /// Images labeled.
    pub images: usize,
    /// The simulated loop.
    pub simulate: SimulateReport,
    /// The wide CSV written.
    pub wide: std::path::PathBuf,
}

/// Labels the prepared demo dataset `data_dir` (heuristics, then a short simulated loop
/// answering from `truth_csv`), and writes `data_dir/labels_wide.csv`.
pub fn demo_step(
    data_dir: &Path,
    truth_csv: &Path,
    verbosity: Verbosity,
) -> Result<DemoLabelReport, LabelError> {
    let paths = Paths::new(data_dir);
    let schema_path = paths.schema();
    crate::atomic::write(&schema_path, ANIME_SCHEMA.as_bytes())
        .map_err(|e| LabelError::io(&schema_path, e))?;
    let init = session::init(&schema_path, data_dir, verbosity)?;
    let budget = (init.images / 5).clamp(10, 60);
    let spec = SimulateSpec {
        oracle: truth_csv.to_path_buf(),
        budget,
        rounds: 2,
        schedule: None,
        holdout: 0.2,
        round: RoundSpec {
            queue: budget / 2,
            strategy: Strategy::Margin,
            // Half the answers at random, half by margin: the demo shows both.
            warmup: budget / 2,
            size: 32,
            self_train_steps: 30,
            // The refit a third of the training, about as the default's 300 of 1,000.
            refit_steps: 20,
            train: TrainSpec {
                steps: 60,
                batch: 32,
                channels: [16, 32, 64, 64],
                ..TrainSpec::default()
            },
            ..RoundSpec::default()
        },
    };
    let simulate = simulate(data_dir, &spec, verbosity)?;
    let export = session::export(data_dir, true, 0.0)?;
    Ok(DemoLabelReport {
        images: init.images,
        simulate,
        wide: export.wide,
    })
}
