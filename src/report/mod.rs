//! Report pages: one self-contained HTML file (inline CSS, images as data URIs, no
//! script, nothing fetched) for a training run ([`write_run_report`]), a comparison of
//! runs ([`write_compare_report`]), a prep output ([`write_prep_report`]) and a label
//! store ([`write_label_report`]); [`write_for`] finds out which a folder is.
//! Plots are PNGs drawn by plotters ([`plot`]).

pub mod compare;
pub mod evalpage;
pub mod html;
pub mod label;
pub mod media;
pub mod plot;
pub mod prep;
pub mod run;
pub mod squares;

pub use compare::write_compare_report;
pub use label::write_label_report;
pub use prep::write_prep_report;
pub use run::{write_run_report, write_run_report_at};

use std::path::{Path, PathBuf};

/// File name of every page inside its folder.
pub const PAGE: &str = "report.html";

/// Why a page could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A file the page needs could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file is there but malformed.
    #[error("cannot parse {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The page could not be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The folder is not one a page can be made for.
    #[error("{path}: {reason}")]
    NotReportable {
        /// The folder.
        path: PathBuf,
        /// What was expected.
        reason: String,
    },
}

impl ReportError {
    pub(crate) fn read(path: &Path, e: impl std::fmt::Display) -> Self {
        ReportError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
    pub(crate) fn parse(path: &Path, e: impl std::fmt::Display) -> Self {
        ReportError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

/// Writes `html` to `path` atomically; returns the path.
pub(crate) fn write_page(path: &Path, html: &str) -> Result<PathBuf, ReportError> {
    crate::atomic::write(path, html.as_bytes()).map_err(|e| ReportError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(path.to_path_buf())
}

/// Reads a JSON file as a generic value.
pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value, ReportError> {
    let bytes = std::fs::read(path).map_err(|e| ReportError::read(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| ReportError::parse(path, e))
}

/// What kind of folder a path is, as far as reports go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderKind {
    /// A training run (`settings.json` + `classes.json`).
    Run,
    /// A prep output (`manifest.csv`), maybe with a label store.
    Prep,
    /// A label store without a manifest (`labels/schema.toml`).
    Label,
}

/// Says what `path` is, or `None`.
pub fn detect(path: &Path) -> Option<FolderKind> {
    if path.join("settings.json").is_file() && path.join("classes.json").is_file() {
        Some(FolderKind::Run)
    } else if path.join(crate::dataset::manifest::MANIFEST_FILE).is_file() {
        Some(FolderKind::Prep)
    } else if path.join("labels/schema.toml").is_file() {
        Some(FolderKind::Label)
    } else {
        None
    }
}

/// (Re)writes every page `path` has: a run's page, or a prep output's page and, when it
/// has a label store, the label page. Returns the pages written.
pub fn write_for(path: &Path) -> Result<Vec<PathBuf>, ReportError> {
    match detect(path) {
        Some(FolderKind::Run) => Ok(vec![write_run_report(path)?]),
        Some(FolderKind::Prep) => {
            let mut v = vec![write_prep_report(path)?];
            if path.join("labels/schema.toml").is_file() {
                v.push(write_label_report(path)?);
            }
            Ok(v)
        }
        Some(FolderKind::Label) => Ok(vec![write_label_report(path)?]),
        // `DIR/labels` itself, where the label page lives: the dataset is its parent.
        None if path.join("schema.toml").is_file()
            && path.file_name() == Some("labels".as_ref()) =>
        {
            let data = path.parent().unwrap_or(Path::new("."));
            let data = if data.as_os_str().is_empty() {
                Path::new(".")
            } else {
                data
            };
            Ok(vec![write_label_report(data)?])
        }
        None if !path.exists() => Err(ReportError::NotReportable {
            path: path.to_path_buf(),
            reason: "does not exist".into(),
        }),
        None => Err(ReportError::NotReportable {
            path: path.to_path_buf(),
            reason: "not a training run (settings.json, classes.json), a prep output \
                     (manifest.csv) or a labeled dataset (labels/schema.toml)"
                .into(),
        }),
    }
}

/// `facesynth report`: one path gets its own pages ([`write_for`]); several are runs to
/// compare ([`write_compare_report`] into `out`, default `compare.html`).
pub fn write_pages(paths: &[PathBuf], out: Option<&Path>) -> Result<Vec<PathBuf>, ReportError> {
    match paths {
        [one] if out.is_none() => write_for(one),
        _ => Ok(vec![write_compare_report(
            paths,
            out.unwrap_or(Path::new("compare.html")),
        )?]),
    }
}

/// A note for pages whose plots have no text (no font found).
pub(crate) fn font_note(page: &mut html::Page) {
    if plot::font().is_none() {
        page.note(
            "No TrueType font was found on this machine (looked for DejaVu Sans, Liberation \
             Sans and what fc-match names; set FACESYNTH_FONT to a .ttf file): the plots \
             below are drawn without titles, axis labels or legends.",
        );
    }
}
