//! A deterministic, loop-safe walk over an input folder.

use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Every regular file below `root` (symlinks followed, loops skipped), sorted by path
/// so that runs are reproducible. Hidden files and facesynth's own temporaries are left out.
pub fn files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for_each_file(root, |p| out.push(p))?;
    Ok(out)
}

/// Calls `f` with every file [`files`] lists, in the same order, without holding them.
/// The order is the path order: siblings are visited sorted by name and a folder's files
/// before the next sibling, which is how paths compare component by component.
pub fn for_each_file(root: &Path, mut f: impl FnMut(PathBuf)) -> std::io::Result<()> {
    check_root(root)?;
    // follow_links detects loops itself (an ancestor seen twice is an error entry, skipped).
    for entry in WalkDir::new(root).follow_links(true).sort_by_file_name() {
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_file() {
            continue;
        }
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden {
            f(entry.into_path());
        }
    }
    Ok(())
}

/// An error unless `root` is a folder that can be walked.
pub fn check_root(root: &Path) -> std::io::Result<()> {
    if root.is_dir() {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is not a folder", root.display()),
        ))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_order_is_path_order() {
        let dir = tempfile::tempdir().unwrap();
        for rel in [
            "a/x",
            "a.jpg",
            "a b/c",
            "a-b",
            "ab/z/y",
            "b",
            "Z",
            "a/.hidden",
        ] {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"x").unwrap();
        }
        let got = files(dir.path()).unwrap();
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(got, sorted);
        assert_eq!(got.len(), 7);
    }
}
