//! `facesynth eval`: how good, how varied and how faithful to the asked attributes a
//! trained run is, measured in the features of a network trained on the real set
//! ([`features`]), with FID, KID, precision/recall/density/coverage, intra-class FID,
//! conditional accuracy, attribute divergences and memorization ([`metrics`],
//! [`memorize`]). [`evaluate`] writes `RUN/eval/metrics.json` (an [`EvalSummary`]) for
//! the report pages; [`compare()`] puts several runs' numbers in one table.

pub mod compare;
mod evaluate;
pub mod features;
mod generate;
pub mod linalg;
pub mod memorize;
pub mod metrics;
pub mod realset;
pub mod rotation;
pub mod summary;

pub use compare::{compare, CompareTable};
pub use evaluate::{evaluate, load_reference, EvalSpec};
pub use features::FeatureSpec;
pub use generate::{generate_for_eval, Drawn, Generated};
pub use memorize::Images;
pub use metrics::kid::KidSpec;
pub use summary::EvalSummary;

use std::path::PathBuf;

/// The file `evaluate` writes inside a run folder.
pub const METRICS_FILE: &str = "eval/metrics.json";

/// Everything that can go wrong in `eval`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The run folder could not be loaded.
    #[error("run {}", path.display())]
    Run {
        /// The run folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: crate::gan::GanError,
    },
    /// The real dataset could not be loaded.
    #[error("dataset {}: {reason}", path.display())]
    Data {
        /// The folder or file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The feature network could not be trained, loaded or cached.
    #[error("feature network {}: {reason}", path.display())]
    FeatureNet {
        /// Its cache folder or file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The settings do not fit the run.
    #[error("invalid settings: {reason}")]
    Settings {
        /// Why.
        reason: String,
    },
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> EvalError {
    let path = path.into();
    move |e| EvalError::Io {
        path,
        reason: e.to_string(),
    }
}
