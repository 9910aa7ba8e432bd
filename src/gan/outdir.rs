//! `generate`'s output folder: what a call wrote is listed in `OUT/generate.json`, and the
//! next call into the same folder removes those files first, so images of two calls never
//! sit side by side as if made together; a folder of other files is refused.

use super::{io_err, GanError};
use crate::atomic;
use std::path::{Path, PathBuf};

/// The file in `--out` listing what `generate` wrote there, relative to it.
pub const MANIFEST: &str = "generate.json";

/// The contents of [`MANIFEST`].
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Manifest {
    /// Files written, relative to the output folder, `/`-separated.
    pub(super) files: Vec<String>,
    /// Written when a call starts, before its first image: a call killed part way leaves
    /// it, and the next call removes every file with a name generate writes (the folder
    /// held nothing else when the call began). Without it a killed call's images made the
    /// folder look like someone else's, and the rerun was refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) incomplete: bool,
}

/// Whether `name` is one `generate` writes: `N.png`, `grid.png`, `interpolation.png`,
/// `mean_sweep.png` (in class folders or not), or an atomic write's temporary of one.
fn generated_name(name: &str) -> bool {
    let name = atomic::temp_target(name).map_or(name, |(target, _pid)| target);
    let stem = name.strip_suffix(".png");
    matches!(name, "grid.png" | "interpolation.png" | "mean_sweep.png")
        || stem.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

/// The files under `root` (relative paths, class folders included) with a name `generate`
/// writes, and whether any other file (or anything not a file) is there.
fn generated_files(root: &Path) -> Result<(Vec<String>, bool), GanError> {
    let (mut files, mut other) = (Vec::new(), false);
    for e in walkdir::WalkDir::new(root).min_depth(1).max_depth(2) {
        let e = e.map_err(|e| io_err(root)(e.into()))?;
        if e.file_type().is_dir() {
            continue;
        }
        if !e.file_type().is_file() || !generated_name(&e.file_name().to_string_lossy()) {
            other = true;
            continue;
        }
        let rel = e.path().strip_prefix(root).unwrap_or(e.path());
        files.push(rel.to_string_lossy().replace('\\', "/"));
    }
    Ok((files, other))
}

/// The files under `root` (relative paths) when every one has a name `generate` writes
/// and a grid is among them: the output of a version from before [`MANIFEST`]. `None`
/// when any other file is there, or no grid, or the folder cannot be walked.
fn legacy_outputs(root: &Path) -> Option<Vec<String>> {
    let (files, other) = generated_files(root).ok()?;
    // Numbered PNGs alone could be anyone's; generate always draws a grid beside them.
    let grid = files
        .iter()
        .any(|f| f == "grid.png" || f.ends_with("/grid.png"));
    (grid && !other).then_some(files)
}

/// The output folder of one `generate`: a rerun into the same `--out` first removes the
/// files the previous one listed in [`MANIFEST`] (and the folders they leave empty), so
/// its images, grids and class folders never sit beside the new ones as if made together;
/// a non-empty folder without that list holds someone else's files and is refused.
pub(super) struct OutDir {
    root: PathBuf,
    written: Vec<String>,
}

impl OutDir {
    pub(super) fn prepare(root: &Path) -> Result<OutDir, GanError> {
        // Generated faces inside a prep output's images/ would be deleted by its next
        // rerun (and, before that, read as part of the dataset).
        // `..` taken away lexically: `cd X/images; --out ../gen` is X/gen.
        let abs = std::path::absolute(root).ok().map(|p| {
            p.components().fold(PathBuf::new(), |mut out, c| {
                match c {
                    std::path::Component::ParentDir => {
                        out.pop();
                    }
                    std::path::Component::CurDir => {}
                    c => out.push(c),
                }
                out
            })
        });
        if let Some(outer) = abs
            .as_deref()
            .and_then(crate::prep::output::inside_prep_images)
        {
            return Err(GanError::Output {
                path: root.to_path_buf(),
                reason: format!(
                    "it lies inside the images/ folder of the prep output {}, whose reruns \
                     delete images they did not write: give an --out outside it",
                    outer.display()
                ),
            });
        }
        let out = Self::clear(root)?;
        std::fs::create_dir_all(root).map_err(io_err(root))?;
        let p = root.join(MANIFEST);
        let started = Manifest {
            files: Vec::new(),
            incomplete: true,
        };
        atomic::write_json(&p, &started).map_err(io_err(&p))?;
        Ok(out)
    }

    /// The folder emptied of an earlier call's files, or refused (see [`OutDir`]).
    fn clear(root: &Path) -> Result<OutDir, GanError> {
        let out = OutDir {
            root: root.to_path_buf(),
            written: Vec::new(),
        };
        if !root.exists() {
            return Ok(out);
        }
        let refuse = |reason: String| GanError::Output {
            path: root.to_path_buf(),
            reason,
        };
        if !root.is_dir() {
            return Err(refuse("not a folder".into()));
        }
        let manifest = root.join(MANIFEST);
        if manifest.is_file() {
            let text = std::fs::read(&manifest).map_err(io_err(&manifest))?;
            let old: Manifest = serde_json::from_slice(&text).map_err(|e| GanError::Output {
                path: manifest.clone(),
                reason: format!("{e}: not a list of generated files; remove it"),
            })?;
            out.remove(&old)?;
            if old.incomplete {
                out.remove(&Manifest {
                    files: generated_files(root)?.0,
                    incomplete: true,
                })?;
            }
            std::fs::remove_file(&manifest).map_err(io_err(&manifest))?;
            return Ok(out);
        }
        // A folder an earlier version of generate filled (no list yet): every file one of
        // the names generate writes; those go as a listed run's would.
        if let Some(files) = legacy_outputs(root) {
            out.remove(&Manifest {
                files,
                incomplete: false,
            })?;
            return Ok(out);
        }
        let mut entries = std::fs::read_dir(root).map_err(io_err(root))?;
        if entries.next().is_some() {
            return Err(refuse(format!(
                "it holds files that `facesynth generate` did not write (no {MANIFEST}); \
                 give a new or empty --out"
            )));
        }
        Ok(out)
    }

    /// Removes the files of an earlier run listed in `old` (only plain relative paths
    /// inside the folder), then the folders that leaves empty.
    fn remove(&self, old: &Manifest) -> Result<(), GanError> {
        let mut dirs = std::collections::BTreeSet::new();
        for f in &old.files {
            let rel = Path::new(f);
            if !rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            {
                continue;
            }
            let p = self.root.join(rel);
            crate::atomic::remove_if_present(&p).map_err(io_err(&p))?;
            dirs.extend(
                rel.ancestors()
                    .skip(1)
                    .filter(|a| !a.as_os_str().is_empty()),
            );
        }
        // Deepest first; a folder that still holds something (a user's file) stays.
        for d in dirs.iter().rev() {
            let _ = std::fs::remove_dir(self.root.join(d));
        }
        Ok(())
    }

    pub(super) fn save(&mut self, path: &Path, img: image::RgbImage) -> Result<(), GanError> {
        atomic::save_image(path, &image::DynamicImage::ImageRgb8(img)).map_err(io_err(path))?;
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        self.written.push(rel.to_string_lossy().replace('\\', "/"));
        Ok(())
    }

    /// Writes the list of files written (also after a failure, so a rerun clears them).
    pub(super) fn finish(self) -> Result<(), GanError> {
        let p = self.root.join(MANIFEST);
        atomic::write_json(
            &p,
            &Manifest {
                files: self.written,
                incomplete: false,
            },
        )
        .map_err(io_err(&p))
    }
}
