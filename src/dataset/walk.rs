//! A deterministic, loop-safe walk over an input folder.

use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Every regular file below `root` (symlinks followed, loops skipped), sorted by path
/// so that runs are reproducible. Hidden files and folders (facesynth's own temporaries
/// and `.facesynth` among them) are left out.
pub fn files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for_each_file(root, |p| out.push(p))?;
    Ok(out)
}

/// Calls `f` with every file [`files`] lists, in the same order, without holding them.
/// The order is the path order: siblings are visited sorted by name and a folder's files
/// before the next sibling, which is how paths compare component by component.
pub fn for_each_file(root: &Path, f: impl FnMut(PathBuf)) -> std::io::Result<()> {
    walk(root, false, |_| false, f)
}

/// [`for_each_file`] without the folders `skip` names (nor anything below them), and
/// with every entry the walk could not read (a folder without read permission, a
/// symlink to nothing) and every one that is no regular file (a FIFO, a socket, a link to
/// a device) in its place in the order: a caller that opens each path then reports why it
/// failed instead of the file silently missing.
pub fn for_each_file_or_failure(
    root: &Path,
    skip: impl Fn(&Path) -> bool,
    f: impl FnMut(PathBuf),
) -> std::io::Result<()> {
    walk(root, true, skip, f)
}

fn walk(
    root: &Path,
    failures: bool,
    skip: impl Fn(&Path) -> bool,
    mut f: impl FnMut(PathBuf),
) -> std::io::Result<()> {
    check_root(root)?;
    let hidden = |p: &Path| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    };
    // follow_links detects loops itself (an ancestor seen twice is an error entry, skipped).
    let walker = WalkDir::new(root).follow_links(true).sort_by_file_name();
    let walker = walker.into_iter().filter_entry(|e| {
        // Hidden folders (`.git`, prep's own `.facesynth`) are not walked either.
        e.depth() == 0 || !e.file_type().is_dir() || !(hidden(e.path()) || skip(e.path()))
    });
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                if let (true, None, Some(p)) = (failures, e.loop_ancestor(), e.path()) {
                    if !hidden(p) {
                        f(p.to_path_buf());
                    }
                }
                continue;
            }
        };
        let listed = match failures {
            // FIFOs, sockets and devices too: the caller reports them instead of their
            // silently missing.
            true => !entry.file_type().is_dir(),
            false => entry.file_type().is_file(),
        };
        if listed && !hidden(entry.path()) {
            f(entry.into_path());
        }
    }
    Ok(())
}

/// An error unless `root` is a folder that can be walked (listed).
pub fn check_root(root: &Path) -> std::io::Result<()> {
    if !root.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} does not exist", root.display()),
        ));
    }
    if !root.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            format!("{} is not a folder", root.display()),
        ));
    }
    std::fs::read_dir(root).map(drop)
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

    /// A missing INPUT is said to be missing (it was called "not a folder").
    #[test]
    fn a_missing_root_is_named_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        let e = check_root(&gone).unwrap_err().to_string();
        assert!(e.ends_with("gone does not exist"), "{e}");
        let file = dir.path().join("file.jpg");
        std::fs::write(&file, b"x").unwrap();
        let e = check_root(&file).unwrap_err().to_string();
        assert!(e.ends_with("file.jpg is not a folder"), "{e}");
        assert!(check_root(dir.path()).is_ok());
    }

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
            ".git/config",
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

    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_is_passed_on_as_a_failure_and_a_loop_is_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.png"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone.png"), dir.path().join("b.png")).unwrap();
        std::fs::create_dir(dir.path().join("c")).unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("c/loop")).unwrap();
        assert_eq!(files(dir.path()).unwrap(), vec![dir.path().join("a.png")]);
        let mut all = Vec::new();
        for_each_file_or_failure(dir.path(), |_| false, |p| all.push(p)).unwrap();
        assert_eq!(
            all,
            vec![dir.path().join("a.png"), dir.path().join("b.png")]
        );
    }
}
