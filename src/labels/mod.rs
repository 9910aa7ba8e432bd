//! Active label synthesis: attribute schemas, the label store, colour heuristics, a CNN
//! with calibrated confidences, active queries and the person's side (queue, import,
//! a local web page), plus an oracle that answers from a truth file to measure it all.
//!
//! State lives in `DIR/labels/` of a prepared dataset folder `DIR`: `schema.toml` (a copy
//! of the schema), `labels.csv` (the store), `queue.csv`, `skipped.csv`,
//! `predictions.csv`, `model.mpk` and `rounds.json`, each written atomically.

pub mod active;
pub mod audit;
pub mod calibrate;
pub mod classifier;
pub mod consistency;
pub mod demo;
pub mod heuristics;
pub mod import;
pub mod index;
pub mod pretext;
pub mod queue;
pub mod round;
pub mod schema;
pub mod serve;
pub mod session;
pub mod simulate;
pub mod store;
pub mod temperature_range;
pub mod trust;
pub mod vote_temperature;

pub use active::Strategy;
pub use demo::{demo_step, DemoLabelReport};
pub use round::{round, RoundReport, RoundSpec};
pub use schema::Schema;
pub use session::{
    export, import, init, status, ExportReport, ImportReport, InitReport, StatusReport,
};
pub use simulate::{simulate, SimulateReport, SimulateSpec};
pub use store::{Label, LabelStore, Source};

use std::path::{Path, PathBuf};

/// What can go wrong while labeling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A CSV file could not be parsed.
    #[error("{path}: {reason}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// Why, with the line as an editor numbers it ([`crate::csv_line::describe`]).
        reason: String,
    },
    /// A schema file is malformed or inconsistent.
    #[error("schema {path}: {reason}")]
    Schema {
        /// The schema file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A labels file disagrees with the schema.
    #[error("{path}: {}{reason}", at_line(*.line))]
    Invalid {
        /// The labels file.
        path: PathBuf,
        /// 1-based line (1 is the header; 0: the file as a whole).
        line: u64,
        /// What is wrong, naming the value.
        reason: String,
    },
    /// The dataset folder has no images.
    #[error("{dir}: no images (expected a prepared dataset folder with images/)")]
    NoImages {
        /// The folder.
        dir: PathBuf,
    },
    /// `label init` has not been run on this folder.
    #[error("{dir}: no label store; run `facesynth label init --schema ... --data {dir}` first")]
    NotInitialized {
        /// The folder.
        dir: PathBuf,
    },
    /// The web server could not start.
    #[error("serve on {addr}: {reason}")]
    Serve {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The rounds' history (`rounds.json`) exists but cannot be read: a round would
    /// otherwise start a new history over it.
    #[error("{path}: cannot read the rounds' history: {reason} (mend it, or move it aside to start a new history)")]
    History {
        /// The file.
        path: PathBuf,
        /// Why, with the line and column.
        reason: String,
    },
    /// The round's network put out NaN or infinite logits: nothing of the round is kept
    /// (its record would hold NaN, which `rounds.json` cannot, and every later command
    /// would refuse the file).
    #[error(
        "{dir}: the {which} network diverged (outputs not finite); nothing of this round \
         was kept: rerun it with {hint}"
    )]
    Diverged {
        /// The dataset folder.
        dir: PathBuf,
        /// `split`, `refit` or `cross-fitting`.
        which: &'static str,
        /// What to change for the rerun.
        hint: &'static str,
    },
    /// `queue.csv` holds answers typed into it that no import has read: a round would
    /// write its new queue over them.
    #[error(
        "{path}: {answers} answer(s) typed into its value column are not in the label \
         store, and a round writes a new queue over this file; import them first \
         (`facesynth label import {path} --data {data}`), or empty the column to drop them"
    )]
    Unimported {
        /// The queue file.
        path: PathBuf,
        /// The dataset folder.
        data: PathBuf,
        /// How many typed answers the store lacks.
        answers: usize,
    },
    /// The command line lacks what the input needs (a bad command line: exit 2).
    #[error("{path}: {reason}")]
    Usage {
        /// The input it is about.
        path: PathBuf,
        /// What to give.
        reason: String,
    },
    /// The CUDA backend was asked for but cannot run here.
    #[error("CUDA: {0}")]
    Cuda(String),
    /// Another `label init`, `round`, `simulate` or `queue` holds the dataset.
    #[error(
        "{dir}: another `label init`, `round`, `simulate` or `queue` is running on this \
         dataset; wait for it to end"
    )]
    Busy {
        /// The dataset folder.
        dir: PathBuf,
    },
}

/// "line N: ", or nothing for line 0 (the file or folder as a whole).
fn at_line(line: u64) -> String {
    if line == 0 {
        String::new()
    } else {
        format!("line {line}: ")
    }
}

impl LabelError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        LabelError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn csv(path: &Path, source: csv::Error) -> Self {
        LabelError::Csv {
            path: path.to_path_buf(),
            reason: crate::csv_line::describe(path, &source),
        }
    }
    pub(crate) fn invalid(path: &Path, line: u64, reason: String) -> Self {
        LabelError::Invalid {
            path: path.to_path_buf(),
            line,
            reason,
        }
    }
}

/// The files of a dataset's label state.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The dataset folder.
    pub data: PathBuf,
    /// `DIR/labels`.
    pub dir: PathBuf,
}

impl Paths {
    /// The state paths of dataset folder `data`.
    pub fn new(data: &Path) -> Self {
        Paths {
            data: data.to_path_buf(),
            dir: data.join("labels"),
        }
    }
    /// The schema copy.
    pub fn schema(&self) -> PathBuf {
        self.dir.join("schema.toml")
    }
    /// The long-form store.
    pub fn labels(&self) -> PathBuf {
        self.dir.join("labels.csv")
    }
    /// Every heuristic vote, kept when a person's label replaces it in the store, so a
    /// round can measure how often the heuristics agree with people.
    pub fn heuristics(&self) -> PathBuf {
        self.dir.join("heuristics.csv")
    }
    /// The queue for a person.
    pub fn queue(&self) -> PathBuf {
        self.dir.join("queue.csv")
    }
    /// The contact sheet of the queue.
    pub fn contact_sheet(&self) -> PathBuf {
        self.dir.join("queue.png")
    }
    /// Queue items a person skipped.
    pub fn skipped(&self) -> PathBuf {
        self.dir.join("skipped.csv")
    }
    /// The last round's prediction for every image and attribute.
    pub fn predictions(&self) -> PathBuf {
        self.dir.join("predictions.csv")
    }
    /// The classifier checkpoint (burn's named MessagePack).
    pub fn model(&self) -> PathBuf {
        self.dir.join("model.mpk")
    }
    /// With the refit on, the network the round's temperatures were fitted to, before it
    /// learned from the held-out answers: what `rounds.json`'s `temperature` describes,
    /// kept so that the calibration can be checked again.
    pub fn split_model(&self) -> PathBuf {
        self.dir.join("model-split.mpk")
    }
    /// With cross-fitting, the network of fold `k` (1 and up; fold 0's is
    /// [`Paths::split_model`]), trained without that fold's answers: the next round's
    /// network for the same fold continues it while the folds nest.
    pub fn fold_model(&self, k: u64) -> PathBuf {
        self.dir.join(format!("model-fold-{k}.mpk"))
    }
    /// One entry per round.
    pub fn rounds(&self) -> PathBuf {
        self.dir.join("rounds.json")
    }
    /// Held by `label init`, `round` and `simulate` for their whole run, and by `label
    /// queue` while it writes a queue ([`Paths::hold`]).
    pub fn work_lock(&self) -> PathBuf {
        self.dir.join(".work.lock")
    }
    /// The dataset for one `label init`, `round`, `simulate` or `queue`: two rounds at once each
    /// read `rounds.json` at their start and wrote their files at their end, so both
    /// reported round 2 and one round's record and queue vanished. The second is refused.
    ///
    /// A lock found held is tried again for up to a second before the refusal: a process
    /// forked meanwhile (by another thread of the same program) holds a copy of the last
    /// holder's descriptor, and so its lock, until it execs, which made a command that
    /// followed another in a multi-threaded program fail now and then. A real other
    /// command holds it for minutes.
    pub fn hold(&self) -> Result<std::fs::File, LabelError> {
        let path = self.work_lock();
        let file = crate::atomic::lock_file_briefly_waiting(&path)
            .map_err(|e| LabelError::io(&path, e))?
            .ok_or_else(|| LabelError::Busy {
                dir: self.data.clone(),
            })?;
        crate::atomic::sweep_stale(&self.dir); // what a killed command was writing
        Ok(file)
    }
    /// The wide export.
    pub fn wide(&self) -> PathBuf {
        self.data.join("labels_wide.csv")
    }
    /// The ImageFolder export.
    pub fn image_folder(&self) -> PathBuf {
        self.data.join("imagefolder")
    }
    /// The cells the last export wrote (the wide CSV as written, before a person edits
    /// it), so that importing the export back reads only the cells a person changed.
    pub fn exported_cells(&self) -> PathBuf {
        self.dir.join("exported.csv")
    }

    /// The schema copy, or [`LabelError::NotInitialized`].
    pub fn load_schema(&self) -> Result<Schema, LabelError> {
        let p = self.schema();
        if !self.data.is_dir() {
            return Err(LabelError::io(
                &self.data,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
            ));
        }
        if !p.is_file() {
            return Err(LabelError::NotInitialized {
                dir: self.data.clone(),
            });
        }
        // `label init` writes both: a schema without its store means the store was
        // deleted or lost, and reading it as empty showed zeros, and a round went on
        // as if no person had answered.
        if !self.labels().is_file() {
            return Err(LabelError::io(
                &self.labels(),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the label store is missing (labels/schema.toml is here): restore it, \
                     or run `facesynth label init` to start over",
                ),
            ));
        }
        Schema::load(&p)
    }
}
