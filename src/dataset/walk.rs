//! A deterministic, loop-safe walk over an input folder.

use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Every regular file below `root` (symlinks followed, loops skipped), sorted by path
/// so that runs are reproducible. Hidden files and facesynth's own temporaries are left out.
pub fn files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !root.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is not a folder", root.display()),
        ));
    }
    let mut out = Vec::new();
    // follow_links detects loops itself (an ancestor seen twice is an error entry, skipped).
    for entry in WalkDir::new(root).follow_links(true).sort_by_file_name() {
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_file() {
            continue;
        }
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden {
            out.push(entry.into_path());
        }
    }
    out.sort();
    Ok(out)
}

/// Files below `root` whose extension names an image format (for folders facesynth wrote
/// itself; raw input is identified by content instead, see `prep::scan`).
pub fn image_files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(files(root)?
        .into_iter()
        .filter(|p| image::ImageFormat::from_path(p).is_ok())
        .collect())
}

/// `path` relative to `root` with `/` separators, for manifests and reports.
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
