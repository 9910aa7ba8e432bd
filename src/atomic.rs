//! Atomic file writes: every file facesynth writes goes to a temporary sibling first and
//! is renamed into place, so a killed run never leaves a half-written file behind.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The temporary sibling used while `path` is being written (`.name.tmp` in the same
/// folder, so the final rename never crosses file systems).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The pid keeps two processes writing one folder apart; read once (one syscall fewer
    // per file when writing thousands).
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let pid = *PID.get_or_init(std::process::id);
    let full = format!(".{name}.{pid}.tmp");
    if full.len() <= NAME_MAX {
        return path.with_file_name(full);
    }
    // A name near the limit leaves no room for the temporary's 7-13 more bytes (an
    // output name of 82 CJK characters was written once, then every rewrite failed
    // with "File name too long"): the name cut short, and a hash of all of it.
    let hash = xxhash_rust::xxh3::xxh3_64(name.as_bytes());
    let tail = format!("~{hash:016x}.{pid}.tmp");
    let mut cut = NAME_MAX - 1 - tail.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    path.with_file_name(format!(".{}{tail}", &name[..cut]))
}

/// The longest file name (bytes) of the common Linux, macOS and Windows file systems.
const NAME_MAX: usize = 255;

/// The file a temporary's name ([`temp_path`]: `.NAME.PID.tmp`) stands for, and the pid
/// of its writer; `None` for any other name.
pub fn temp_target(name: &str) -> Option<(&str, u32)> {
    let (target, pid) = name
        .strip_prefix('.')?
        .strip_suffix(".tmp")?
        .rsplit_once('.')?;
    Some((target, pid.parse().ok()?))
}

/// [`try_lock_file`] tried again every 50 ms for about a second. A `flock` is shared
/// with every process forked while it is held, until that process execs and closes it:
/// a test harness (or a server) starting a child on another thread then holds the lock
/// for a moment, and a command that gave up at once failed as if another held it
/// (`prep` twice in a row into one folder, in CI).
pub fn lock_file_briefly_waiting(path: &Path) -> io::Result<Option<std::fs::File>> {
    for _ in 0..20 {
        if let Some(file) = try_lock_file(path)? {
            return Ok(Some(file));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    try_lock_file(path)
}

/// Removes the file at `path`; one already gone is no error (what the caller wanted).
pub fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The lock file at `path` (made if missing) taken without waiting; `None` while another
/// process (or another open of it) holds it.
pub fn try_lock_file(path: &Path) -> io::Result<Option<std::fs::File>> {
    let file = open_lock_file(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Removes the temporaries ([`temp_path`]) in `dir` (not below it) that a process no
/// longer running left: a write killed between creating its temporary and the rename.
/// Their names carry the writer's pid, so no later write replaces them; commands call
/// this on the folders they own when they start. Errors are ignored: a leftover is
/// untidy, never wrong.
pub fn sweep_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if let Some((_, pid)) = temp_target(&name.to_string_lossy()) {
            if !running(pid) && e.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Whether a process `pid` exists (this one included); `true` where that cannot be told.
fn running(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return true;
        };
        // SAFETY: signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        alive || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// Writes `bytes` to `path` atomically, creating parent folders as needed.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    if let Some(done) = unnamed::write(path, bytes) {
        return done;
    }
    write_with(path, |w| w.write_all(bytes))
}

/// Linux's `O_TMPFILE` (open(2)): the data goes into a file that has no name until it is
/// complete, then `linkat` gives it its name. One directory entry is made, where a
/// temporary file costs an entry made, a rename and an entry removed: 35 µs per file
/// instead of 42 on this project's ext4 (8,000 small files, one thread). Used for new
/// files; a name already taken, a file system without `O_TMPFILE` or no `/proc` fall back
/// to the temporary sibling and rename.
#[cfg(target_os = "linux")]
mod unnamed {
    use std::ffi::CString;
    use std::fs::{self, OpenOptions};
    use std::io::{self, Write};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Cleared at the first sign that this system cannot do it, so later files go
    /// straight to the fallback.
    static USABLE: AtomicBool = AtomicBool::new(true);
    /// Cleared when linking the open file directly is refused (no privilege).
    static EMPTY_PATH: AtomicBool = AtomicBool::new(true);

    /// `Some(result)` when this way was taken; `None` to fall back (nothing was written).
    pub(super) fn write(path: &Path, bytes: &[u8]) -> Option<io::Result<()>> {
        if !USABLE.load(Ordering::Relaxed) {
            return None;
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let file = match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_TMPFILE)
            .mode(0o666)
            .open(dir)
        {
            Ok(f) => f,
            // A missing folder: the fallback makes it. Anything else: not supported here.
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    USABLE.store(false, Ordering::Relaxed);
                }
                return None;
            }
        };
        if let Err(e) = (&file).write_all(bytes) {
            return Some(Err(e));
        }
        let fd = file.as_raw_fd();
        let source = CString::new(format!("/proc/self/fd/{fd}")).ok()?;
        let link = |to: &Path| -> io::Result<()> {
            let to = CString::new(to.as_os_str().as_bytes()).map_err(io::Error::other)?;
            // The file itself (`AT_EMPTY_PATH`) where allowed (it needs CAP_DAC_READ_SEARCH):
            // no walk through /proc. Otherwise the /proc/self/fd link, as open(2) shows.
            if EMPTY_PATH.load(Ordering::Relaxed) {
                // SAFETY: the strings are NUL-terminated and outlive the call; `fd` is open.
                let rc = unsafe {
                    libc::linkat(
                        fd,
                        c"".as_ptr(),
                        libc::AT_FDCWD,
                        to.as_ptr(),
                        libc::AT_EMPTY_PATH,
                    )
                };
                match rc {
                    0 => return Ok(()),
                    _ => {
                        let e = io::Error::last_os_error();
                        match e.raw_os_error() {
                            Some(libc::EPERM | libc::ENOENT | libc::EINVAL) => {
                                EMPTY_PATH.store(false, Ordering::Relaxed)
                            }
                            _ => return Err(e),
                        }
                    }
                }
            }
            // SAFETY: both strings are NUL-terminated and outlive the call.
            let rc = unsafe {
                libc::linkat(
                    libc::AT_FDCWD,
                    source.as_ptr(),
                    libc::AT_FDCWD,
                    to.as_ptr(),
                    libc::AT_SYMLINK_FOLLOW,
                )
            };
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        match link(path) {
            Ok(()) => Some(Ok(())),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Replacing a file: name the complete data under the temporary name, then
                // rename it over the old one (rename replaces atomically; link does not).
                let tmp = super::temp_path(path);
                let _ = fs::remove_file(&tmp);
                let r = link(&tmp).and_then(|()| fs::rename(&tmp, path));
                if r.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                Some(r)
            }
            Err(_) => {
                USABLE.store(false, Ordering::Relaxed);
                None
            }
        }
    }
    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_proc_link_way_works_too() {
            // Root may link the open file directly; others go through /proc. Take the
            // /proc way here (both are correct, so other tests running now do not mind).
            let dir = tempfile::tempdir().unwrap();
            EMPTY_PATH.store(false, Ordering::Relaxed);
            let p = dir.path().join("x.bin");
            let first = write(&p, b"one");
            let again = write(&p, b"two");
            EMPTY_PATH.store(true, Ordering::Relaxed);
            assert!(matches!(first, Some(Ok(()))), "{first:?}");
            assert!(matches!(again, Some(Ok(()))), "{again:?}");
            assert_eq!(fs::read(&p).unwrap(), b"two");
        }
    }
}

/// Writes to `path` atomically through `fill`, which gets a buffered writer. The rename
/// happens only after the data is complete, so a killed process leaves the file absent,
/// old or complete, never torn. (No fsync: that guards against power loss, not process
/// death, and costs milliseconds per file on a dataset of thousands of images.)
pub fn write_with<F>(path: &Path, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut io::BufWriter<fs::File>) -> io::Result<()>,
{
    write_impl(path, fill, false)
}

/// [`write_with`] for a file a person's work lives in (`labels.csv`, `skipped.csv`),
/// rewritten whole on every answer: the data and the rename reach the disk before it
/// returns. Without it a power cut after a rename could leave the file empty (the rename
/// on disk, the data not), and every answer in it gone, not only the last.
pub fn write_durable_with<F>(path: &Path, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut io::BufWriter<fs::File>) -> io::Result<()>,
{
    write_impl(path, fill, true)
}

fn write_impl<F>(path: &Path, fill: F, durable: bool) -> io::Result<()>
where
    F: FnOnce(&mut io::BufWriter<fs::File>) -> io::Result<()>,
{
    let tmp = temp_path(path);
    let result = (|| {
        // Parent folders are made only when missing: trying first saves a mkdir per file
        // when thousands of images go into folders that already exist.
        let file = match fs::File::create(&tmp) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => fs::create_dir_all(parent)?,
                    _ => return Err(e),
                }
                fs::File::create(&tmp)?
            }
            other => other?,
        };
        let mut w = io::BufWriter::new(file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        if durable {
            file.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durable {
            // The rename itself is an entry of the folder. Folders open read-only for
            // this on Unix; elsewhere there is no such call, and it is left out. Its
            // errors are ignored (as PostgreSQL does): some file systems refuse to sync a
            // folder (EINVAL on network mounts), and the file is written by now.
            #[cfg(unix)]
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                let _ = fs::File::open(parent).and_then(|d| d.sync_all());
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Encodes `img` in the format implied by `path`'s extension and writes it atomically.
pub fn save_image(path: &Path, img: &image::DynamicImage) -> io::Result<()> {
    let format = image::ImageFormat::from_path(path).map_err(io::Error::other)?;
    let mut buf = io::Cursor::new(Vec::new());
    img.write_to(&mut buf, format).map_err(io::Error::other)?;
    write(path, buf.get_ref())
}

/// Opens the lock file `path` (made, with its folder, when missing) for an advisory
/// lock (`flock`) that its holder keeps until the file is dropped: the store's writers
/// (`labels/.labels.lock`) wait for it, a second prep into one OUT stops at it.
pub fn open_lock_file(path: &Path) -> io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// Serializes `value` as pretty JSON and writes it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    write(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The synced write replaces the file whole, makes missing folders, and a failed fill
    /// keeps the old content with no temporary left.
    #[test]
    fn durable_writes_replace_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels/labels.csv");
        write_durable_with(&p, |w| w.write_all(b"one")).unwrap();
        write_durable_with(&p, |w| w.write_all(b"two")).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let failed = write_durable_with(&p, |_| Err(io::Error::other("disk full")));
        assert!(failed.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }

    /// A dead writer's temporary goes; a live one's (this process's) and other files stay.
    #[cfg(unix)]
    #[test]
    fn stale_temporaries_of_dead_writers_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        // A pid above Linux's pid_max (4,194,304) is never running.
        let dead = dir.path().join(".manifest.csv.99999999.tmp");
        let live = temp_path(&dir.path().join("metrics.csv"));
        let keep = dir.path().join("manifest.csv");
        for p in [&dead, &live, &keep] {
            std::fs::write(p, "x").unwrap();
        }
        sweep_stale(dir.path());
        assert!(!dead.exists());
        assert!(live.exists() && keep.exists());
        assert_eq!(
            temp_target(".manifest.csv.99999999.tmp"),
            Some(("manifest.csv", 99999999))
        );
        assert_eq!(temp_target("manifest.csv"), None);
        // A name near the limit: the temporary fits it, and a file of that name is
        // written and then replaced (the replacement goes through the temporary).
        let long = dir.path().join(format!("{}.png", "顔".repeat(83)));
        let tmp = temp_path(&long);
        let tmp_name = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(tmp_name.len() <= NAME_MAX, "{}", tmp_name.len());
        assert!(temp_target(&tmp_name).is_some(), "swept like any temporary");
        write(&long, b"one").unwrap();
        write(&long, b"two").unwrap();
        assert_eq!(std::fs::read(&long).unwrap(), b"two");
    }

    #[test]
    fn write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/a.txt");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "temporary file left behind");
    }

    #[test]
    fn writes_into_folders_old_and_new_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.bin", "deep/er/b.bin", "a.bin"] {
            let p = dir.path().join(name);
            write(&p, name.as_bytes()).unwrap();
            assert_eq!(fs::read(&p).unwrap(), name.as_bytes());
        }
        write(&dir.path().join("a.bin"), b"new").unwrap();
        assert_eq!(fs::read(dir.path().join("a.bin")).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "temporary file left behind: {names:?}");
    }

    #[test]
    fn failed_fill_keeps_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write(&p, b"old").unwrap();
        let r = write_with(&p, |_| Err(io::Error::other("boom")));
        assert!(r.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
    }
}
