//! Pipeline files (`pipelines/*.toml`): one TOML file with a section per command. Every
//! field is optional; a command resolves its settings in one place as
//! command-line flags, then the pipeline file, then built-in defaults.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A parsed pipeline file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Free text describing the pipeline.
    pub description: Option<String>,
    /// `[prep]`: see [`crate::prep::PrepSection`].
    #[serde(default)]
    pub prep: crate::prep::PrepSection,
    /// `[label]`: no keys yet (the label commands take flags); a key here is an error.
    pub label: Option<NoSettings>,
    /// `[train]`, read by the train command.
    pub train: Option<toml::Table>,
    /// `[generate]`: no keys yet (generate takes flags); a key here is an error.
    pub generate: Option<NoSettings>,
    /// `[eval]`: no keys yet (eval takes flags); a key here is an error.
    pub eval: Option<NoSettings>,
}

/// A section no command reads yet: empty, so that a key put there is refused instead of
/// silently doing nothing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

/// A pipeline file that could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read pipeline file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("bad pipeline file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is out of range.
    #[error("bad setting `{key}`: {message}")]
    Invalid {
        /// The setting, as `section.key`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl PipelineConfig {
    /// Reads and parses a pipeline file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        config.resolve_paths(path.parent().unwrap_or(Path::new("")));
        Ok(config)
    }

    /// Relative paths in the file are relative to its folder, as Cargo reads a
    /// manifest's: a pipeline kept beside its cascade or box CSV works from any folder
    /// (they were taken from the current folder, and `detector = "lbp.xml"` beside the
    /// file was not found when run from elsewhere).
    fn resolve_paths(&mut self, base: &Path) {
        if base.as_os_str().is_empty() {
            return;
        }
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = self.prep.crop.bbox_csv.as_mut() {
            join(p);
        }
        if let Some(p) = self.prep.detect.detector.as_mut() {
            join(p);
        }
        for key in ["data", "labels", "mnist"] {
            if let Some(toml::Value::String(s)) = self.train.as_mut().and_then(|t| t.get_mut(key)) {
                let mut p = PathBuf::from(&*s);
                join(&mut p);
                *s = p.to_string_lossy().into_owned();
            }
        }
    }

    /// Parses pipeline TOML text.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| toml_reason(text, &e))
    }

    /// Loads `path` if given, else the defaults.
    pub fn load_or_default(path: Option<&Path>) -> Result<Self, ConfigError> {
        path.map_or_else(|| Ok(Self::default()), Self::load)
    }
}

/// A TOML error on one line, `line L, column C: message`, for the one-line reasons the
/// commands print (toml's own text is an excerpt of the file with a caret under it).
pub fn toml_reason(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end().replace('\n', "; ");
    let Some(span) = e.span() else {
        return message;
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}: {message}")
}

/// Takes every field of `over` that is set, else `self`'s: the "flags over file" merge.
pub trait Overlay {
    /// `over` wins field by field.
    fn overlay(self, over: Self) -> Self;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `detector = "lbp.xml"` beside the pipeline file was looked for in the
    /// current folder.
    #[test]
    fn relative_paths_are_the_files_folders() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("pipes");
        std::fs::create_dir_all(&dir).unwrap();
        let abs = d.path().join("boxes.csv");
        let file = dir.join("p.toml");
        std::fs::write(
            &file,
            format!(
                "[prep.crop]\nbbox_csv = {:?}\n[prep.detect]\ndetector = \"lbp.xml\"\n\
                 [train]\ndata = \"../faces\"\nsteps = 3\n",
                abs.to_str().unwrap()
            ),
        )
        .unwrap();
        let c = PipelineConfig::load(&file).unwrap();
        assert_eq!(c.prep.detect.detector, Some(dir.join("lbp.xml")));
        assert_eq!(c.prep.crop.bbox_csv, Some(abs));
        let train = c.train.unwrap();
        assert_eq!(
            train["data"].as_str().map(PathBuf::from),
            Some(dir.join("../faces"))
        );
        assert_eq!(train["steps"].as_integer(), Some(3));
        // Text parsed without a file keeps its paths as written.
        let c = PipelineConfig::parse("[prep.detect]\ndetector = \"lbp.xml\"\n").unwrap();
        assert_eq!(c.prep.detect.detector, Some(PathBuf::from("lbp.xml")));
    }
}
