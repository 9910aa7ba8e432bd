//! The input files of a run, held compactly: every path relative to INPUT in one buffer,
//! and each file's output name derived on demand. A `PathBuf`, a relative `String` and an
//! output `String` per file cost about 0.3 KiB per input; this holds the relative path's
//! bytes and one offset (peak memory, BENCHMARKS.md, prep).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Paths per chunk of offsets: 2^16 paths of at most 4 KiB each stay below 4 GiB.
const CHUNK: usize = 1 << 16;

/// Relative paths of the input files, in walk order.
#[derive(Debug, Default)]
pub struct InputList {
    root: PathBuf,
    /// Every relative path, back to back (raw OS bytes on Unix, so that any file name,
    /// UTF-8 or not, is opened as it was found).
    bytes: Vec<u8>,
    /// End of path `i` in `bytes`, less `bases[i / CHUNK]`: 4 bytes a file, and no limit
    /// on the buffer (a chunk of paths stays far below 4 GiB).
    ends: Vec<u32>,
    /// Where each chunk of [`CHUNK`] paths starts in `bytes`.
    bases: Vec<usize>,
    /// Output stems shared by several sources (`a.jpg` and `a.png`): those keep their
    /// extension in the output name.
    collided: HashSet<String>,
    /// Sources whose output name would still be another's (`a.jpg` beside `a.png` and
    /// `a_jpg.png`; names that differ only in bytes that are not UTF-8), or a face name
    /// of another (`x_1.png` beside `x.png`, whose second face is `x_1`): those add a hash
    /// of their path.
    renamed: HashSet<u32>,
    /// Names that are not UTF-8 whose `%XX` form is another's name (`caf\xe9.jpg` beside
    /// a file named `caf%E9.jpg`): those add 8 hex digits of their bytes' hash before the
    /// extension, so that the two keep their own manifest rows and journal keys, and the
    /// UTF-8 name (what a box CSV or a truth file names) stays its own file's.
    escaped: HashSet<u32>,
}

impl InputList {
    /// An empty list of files below `root`.
    pub fn new(root: &Path) -> Self {
        InputList {
            root: root.to_path_buf(),
            ..Default::default()
        }
    }

    /// Adds `path` (below the root), in walk order.
    pub fn push(&mut self, path: &Path) {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        if self.ends.len().is_multiple_of(CHUNK) {
            self.bases.push(self.bytes.len());
        }
        self.bytes.extend_from_slice(&os_bytes(rel));
        let base = self.bases[self.ends.len() / CHUNK];
        // Paths the kernel can open are at most 4 KiB (PATH_MAX), so a chunk holds under 256 MiB.
        let end = u32::try_from(self.bytes.len() - base).expect("a chunk of paths under 4 GiB");
        self.ends.push(end);
    }

    /// Ends the list: finds the output stems several sources share. Their hashes are
    /// sorted instead of the stems counted in a map: no string per file is ever made.
    pub fn finish(mut self) -> Self {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.escaped = self.ambiguous_names();
        let hash = |i: usize| xxhash_rust::xxh3::xxh3_64(stem(&self.rel(i)).as_bytes());
        let mut hashes: Vec<u64> = (0..self.len()).map(hash).collect();
        let shared = sort_and_find_shared(&mut hashes);
        drop(hashes);
        self.collided = (0..self.len())
            .filter(|&i| shared.contains(&hash(i)))
            .map(|i| stem(&self.rel(i)).to_string())
            .collect();
        self.renamed = self.clashing_bases();
        self
    }

    /// The names that are not UTF-8 whose [`InputList::rel`] would be another's. Only
    /// such a name can meet another; each added one takes its hash, so adding them until
    /// none is shared ends (where none can be added, it ends too).
    fn ambiguous_names(&self) -> HashSet<u32> {
        let mut escaped = HashSet::new();
        if std::str::from_utf8(&self.bytes).is_ok() {
            return escaped;
        }
        loop {
            let hashes: Vec<u64> = (0..self.len())
                .map(|i| xxhash_rust::xxh3::xxh3_64(self.rel_among(i, &escaped).as_bytes()))
                .collect();
            let shared = sort_and_find_shared(&mut hashes.clone());
            let before = escaped.len();
            escaped.extend(
                (0..self.len())
                    .filter(|&i| shared.contains(&hashes[i]))
                    .filter(|&i| std::str::from_utf8(self.raw(i)).is_err())
                    .map(|i| i as u32),
            );
            // Unchanged: nothing shared, or names alike that no hash parts (lossy paths
            // on Windows).
            if escaped.len() == before {
                return escaped;
            }
        }
    }

    /// The sources whose [`InputList::plain_base`] is another's, or another's face name
    /// (`{base}_{k}`, [`super::encode::face_output`]). Names are compared by their lower
    /// case: on a file system that ignores case (macOS, Windows) `A.png` is `a.png`, and
    /// one source's output replaced the other's while the journal held both as written.
    fn clashing_bases(&self) -> HashSet<u32> {
        let hash = |s: &str| xxhash_rust::xxh3::xxh3_64(s.as_bytes());
        let folded = |i: usize| self.plain_base(i).to_lowercase();
        let mut hashes: Vec<u64> = (0..self.len()).map(|i| hash(&folded(i))).collect();
        let shared = sort_and_find_shared(&mut hashes);
        let face_of_another = |base: &str| {
            let digits = base.trim_end_matches(|c: char| c.is_ascii_digit());
            digits.len() < base.len()
                && digits
                    .strip_suffix('_')
                    .is_some_and(|owner| hashes.binary_search(&hash(owner)).is_ok())
        };
        // A source's output file `{base}.png` (or `.jpg`) where another's outputs need a
        // folder of that name (`x.jpg` beside a folder `x.png/`): every run failed there
        // with "Not a directory". Faces' outputs `{base}_{k}.png` likewise (`--faces
        // all`: a folder `x_1.png/`). Each folder is visited once: the walk up from a
        // base stops at the first folder already seen.
        let mut folders: HashSet<String> = HashSet::new();
        for i in 0..self.len() {
            let base = folded(i);
            let mut at = base.as_str();
            while let Some(slash) = at.rfind('/') {
                at = &at[..slash];
                if folders.contains(at) {
                    break;
                }
                folders.insert(at.to_string());
            }
        }
        // The bases whose outputs such folders would be.
        let taken: HashSet<&str> = folders
            .iter()
            .filter_map(|f| f.strip_suffix(".png").or_else(|| f.strip_suffix(".jpg")))
            .flat_map(|stem| {
                let digits = stem.trim_end_matches(|c: char| c.is_ascii_digit());
                let face_of = (digits.len() < stem.len())
                    .then(|| digits.strip_suffix('_'))
                    .flatten();
                std::iter::once(stem).chain(face_of)
            })
            .collect();
        (0..self.len())
            .filter(|&i| {
                let base = folded(i);
                shared.contains(&hash(&base)) || face_of_another(&base) || taken.contains(&*base)
            })
            .map(|i| i as u32)
            .collect()
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn raw(&self, i: usize) -> &[u8] {
        let end = |i: usize| self.bases[i / CHUNK] + self.ends[i] as usize;
        let start = if i == 0 { 0 } else { end(i - 1) };
        &self.bytes[start..end(i)]
    }

    /// File `i` relative to INPUT with `/` separators (the manifest's `source`). Bytes
    /// of a name that are not UTF-8 are written `%XX`: lossily, `caf\xe9.jpg` and
    /// `caf\xe8.jpg` were both `caf\u{fffd}.jpg`, one manifest row could not say which file
    /// it was, and the two shared a journal key (one was redone on every run).
    pub fn rel(&self, i: usize) -> String {
        self.rel_among(i, &self.escaped)
    }

    /// [`InputList::rel`], the names of `escaped` with their hash before the extension.
    fn rel_among(&self, i: usize, escaped: &HashSet<u32>) -> String {
        let s = escape_non_utf8(self.raw(i));
        let s = if escaped.contains(&(i as u32)) {
            let h = xxhash_rust::xxh3::xxh3_64(self.raw(i)) as u32;
            let stem = stem(&s);
            format!("{stem}~{h:08x}{}", &s[stem.len()..]).into()
        } else {
            s
        };
        if std::path::MAIN_SEPARATOR == '/' {
            s.into_owned()
        } else {
            s.replace(std::path::MAIN_SEPARATOR, "/")
        }
    }

    /// The path to open for file `i`.
    pub fn path(&self, i: usize) -> PathBuf {
        self.root.join(from_os_bytes(self.raw(i)))
    }

    /// Output base path (relative to OUT, no extension) of file `i`: its relative path
    /// mirrored under `images/`; sources that would collide keep their extension, and
    /// those that would still collide add 8 hex digits of their path's hash.
    /// A name component longer than [`MAX_COMPONENT`] bytes is cut ([`fit_components`]).
    pub fn output_base(&self, i: usize) -> String {
        let base = self.plain_base(i);
        fit_components(if self.renamed.contains(&(i as u32)) {
            let h = xxhash_rust::xxh3::xxh3_64(self.raw(i)) as u32;
            format!("{base}_{h:08x}")
        } else {
            base
        })
    }

    /// [`InputList::output_base`] before names that clash get their path's hash.
    fn plain_base(&self, i: usize) -> String {
        let rel = self.rel(i);
        let s = stem(&rel);
        if self.collided.contains(s) {
            format!("images/{}", rel.replace('.', "_"))
        } else {
            format!("images/{s}")
        }
    }
}

/// The longest output name component (a folder, or a file's name before the face number
/// and extension, `_12.png`) kept as it is, in bytes. File systems allow 255.
pub const MAX_COMPONENT: usize = 200;

/// `base` with each `/`-separated component over [`MAX_COMPONENT`] bytes cut to a prefix
/// and 16 hex digits of the whole component's hash (distinct components stay distinct).
/// Without it a long name, or a shared stem's `_jpg`, a clash's hash or `%XX` escapes
/// (three bytes for one) pushing a legal source name past 255 bytes, failed to write on
/// every run, and every rerun stopped on it.
fn fit_components(base: String) -> String {
    if base.split('/').all(|c| c.len() <= MAX_COMPONENT) {
        return base;
    }
    let fit = |c: &str| -> String {
        if c.len() <= MAX_COMPONENT {
            return c.to_string();
        }
        let mut cut = MAX_COMPONENT - 17;
        while !c.is_char_boundary(cut) {
            cut -= 1;
        }
        let h = xxhash_rust::xxh3::xxh3_64(c.as_bytes());
        format!("{}~{h:016x}", &c[..cut])
    };
    base.split('/').map(fit).collect::<Vec<_>>().join("/")
}

/// `bytes` as text, each byte that is not part of valid UTF-8 as `%XX`.
fn escape_non_utf8(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.into();
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.into()
}

/// Sorts `hashes` and returns those that occur more than once.
fn sort_and_find_shared(hashes: &mut [u64]) -> HashSet<u64> {
    hashes.sort_unstable();
    hashes
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect()
}

/// `rel` without its extension (a dot in a folder name is not one).
fn stem(rel: &str) -> &str {
    match rel.rfind('.') {
        Some(dot) if dot > rel.rfind('/').map_or(0, |s| s + 1) => &rel[..dot],
        _ => rel,
    }
}

#[cfg(unix)]
fn os_bytes(p: &Path) -> std::borrow::Cow<'_, [u8]> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().into()
}

#[cfg(unix)]
fn from_os_bytes(b: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(b))
}

// Elsewhere a path is kept as (lossy) UTF-8: names that are not valid Unicode would not
// open, which on Windows needs unpaired surrogates.
#[cfg(not(unix))]
fn os_bytes(p: &Path) -> std::borrow::Cow<'_, [u8]> {
    p.to_string_lossy().into_owned().into_bytes().into()
}

#[cfg(not(unix))]
fn from_os_bytes(b: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_and_colliding_stems_keep_their_extension() {
        let root = Path::new("/data/in");
        let rels = ["a.jpg", "a.png", "b.v2/c", "d e/ü.jpeg", "x/y.gif"];
        let mut list = InputList::new(root);
        for r in rels {
            list.push(&root.join(r));
        }
        let list = list.finish();
        assert_eq!(list.len(), 5);
        for (i, r) in rels.iter().enumerate() {
            assert_eq!(list.rel(i), *r);
            assert_eq!(list.path(i), root.join(r));
        }
        assert_eq!(list.output_base(0), "images/a_jpg");
        assert_eq!(list.output_base(1), "images/a_png");
        assert_eq!(list.output_base(2), "images/b.v2/c");
        assert_eq!(list.output_base(3), "images/d e/ü");
        assert_eq!(list.output_base(4), "images/x/y");
    }

    /// Regression: `a…a.jpg` and `a…a.png` (255 bytes each, legal) became `a…a_jpg.png`,
    /// 259 bytes: the write failed on every run.
    #[test]
    fn output_names_fit_the_file_system_and_stay_distinct() {
        let root = Path::new("/r");
        let long = "a".repeat(251);
        let deep = format!("{}/é{}", "ü".repeat(120), "b".repeat(300));
        let rels = [
            format!("{long}.jpg"),
            format!("{long}.png"),
            format!("{deep}.gif"),
            "short.png".to_string(),
        ];
        let mut list = InputList::new(root);
        for r in &rels {
            list.push(&root.join(r));
        }
        let list = list.finish();
        let bases: Vec<String> = (0..list.len()).map(|i| list.output_base(i)).collect();
        for b in &bases {
            assert!(b.split('/').all(|c| c.len() <= MAX_COMPONENT), "{b}");
        }
        assert_ne!(bases[0], bases[1]);
        assert!(bases[0].starts_with("images/aaaa") && bases[0].contains('~'));
        // A folder cut on a character boundary (ü is two bytes), the file name too.
        let parts: Vec<&str> = bases[2].split('/').collect();
        assert!(
            parts[1].starts_with(&format!("{}~", "ü".repeat(91))),
            "{}",
            parts[1]
        );
        assert!(parts[2].starts_with("éb") && parts[2].contains('~'));
        assert_eq!(bases[3], "images/short", "short names are as they were");
    }

    #[cfg(unix)]
    #[test]
    fn no_two_sources_and_no_face_share_an_output_name() {
        use std::os::unix::ffi::OsStrExt;
        let root = Path::new("/r");
        let mut list = InputList::new(root);
        for name in [
            &b"a.jpg"[..],
            b"a.png",
            b"a_jpg.png",
            b"x.png",
            b"x_1.jpg",
            b"caf\xe9.jpg",
            b"caf\xe8.jpg",
            b"y_2.png",
        ] {
            list.push(&root.join(std::ffi::OsStr::from_bytes(name)));
        }
        let list = list.finish();
        let bases: Vec<String> = (0..list.len()).map(|i| list.output_base(i)).collect();
        // Every output, x.png's faces 0-3 included, is distinct.
        let mut names: Vec<String> = bases.clone();
        names.extend((0..4).map(|k| format!("{}_{k}", bases[3])));
        let all = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all, "{bases:?}");
        assert_eq!(
            bases[1], "images/a_png",
            "an unclashing name stays readable"
        );
        assert_eq!(bases[3], "images/x");
        assert!(bases[4].starts_with("images/x_1_"), "{}", bases[4]);
        assert_eq!(bases[7], "images/y_2", "no source y");
    }

    #[cfg(unix)]
    #[test]
    fn paths_past_a_chunk_boundary_round_trip() {
        let root = Path::new("/r");
        let mut list = InputList::new(root);
        let n = CHUNK + 1000;
        for i in 0..n {
            list.push(&root.join(format!("d{}/f{i}.png", i % 7)));
        }
        let list = list.finish();
        assert_eq!(list.len(), n);
        for i in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, n - 1] {
            assert_eq!(list.rel(i), format!("d{}/f{i}.png", i % 7));
        }
    }

    /// Regression: `x.jpg` beside a folder `x.png/` wrote `images/x.png` where the
    /// folder's outputs needed `images/x.png/`, and every run failed.
    #[test]
    fn a_file_whose_output_names_a_folder_is_renamed() {
        let root = Path::new("/r");
        let mut list = InputList::new(root);
        for name in [
            "x.jpg",
            "x.png/y.jpg",
            "z.jpg",
            "w.jpg/v.jpg",
            "f.jpg",
            "f_2.png/g.jpg",
        ] {
            list.push(&root.join(name));
        }
        let list = list.finish();
        let bases: Vec<String> = (0..list.len()).map(|i| list.output_base(i)).collect();
        assert!(bases[0].starts_with("images/x_"), "{bases:?}");
        assert_eq!(bases[1], "images/x.png/y");
        assert_eq!(bases[2], "images/z");
        assert_eq!(bases[3], "images/w.jpg/v", "no source w");
        // f's third face would be images/f_2.png, the folder of g's output.
        assert!(bases[4].starts_with("images/f_"), "{bases:?}");
        assert_eq!(bases[5], "images/f_2.png/g");
    }

    #[test]
    fn a_file_name_that_is_not_utf8_still_opens() {
        use std::os::unix::ffi::OsStrExt;
        let root = Path::new("/r");
        let name = std::ffi::OsStr::from_bytes(b"bad\xffname.jpg");
        let mut list = InputList::new(root);
        list.push(&root.join(name));
        let list = list.finish();
        assert_eq!(list.path(0), root.join(name));
        assert_eq!(list.rel(0), "bad%FFname.jpg");
    }

    /// Regression: `caf\xe9.jpg` was written `caf%E9.jpg`, the name of another file
    /// beside it: the two shared a manifest source and a journal key.
    #[cfg(unix)]
    #[test]
    fn an_escaped_name_never_meets_a_literal_percent() {
        use std::os::unix::ffi::OsStrExt;
        let root = Path::new("/r");
        let mut list = InputList::new(root);
        for name in [
            &b"caf\xe9.jpg"[..],
            b"caf%E9.jpg",
            b"caf%25E9.jpg",
            b"100%.jpg",
            b"d\xff/x.jpg",
        ] {
            list.push(&root.join(std::ffi::OsStr::from_bytes(name)));
        }
        let list = list.finish();
        let rels: Vec<String> = (0..list.len()).map(|i| list.rel(i)).collect();
        let mut unique = rels.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), rels.len(), "{rels:?}");
        // The UTF-8 names stay their own files' (a box CSV names them so); the other
        // takes its hash.
        assert_eq!(rels[1], "caf%E9.jpg");
        assert_eq!(rels[2], "caf%25E9.jpg");
        assert!(
            rels[0].starts_with("caf%E9~") && rels[0].ends_with(".jpg"),
            "{rels:?}"
        );
        assert_eq!(rels[3], "100%.jpg", "a name that meets none stays as it is");
        assert_eq!(rels[4], "d%FF/x.jpg");
        let bases: Vec<String> = (0..list.len()).map(|i| list.output_base(i)).collect();
        let mut unique = bases.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), bases.len(), "{bases:?}");
    }

    /// Regression: `A.jpg` and `a.jpg` were written `images/A.png` and `images/a.png`,
    /// one file where case is ignored (macOS, Windows). Folders too: `Cats/x.jpg` and
    /// `cats/x.jpg`.
    #[test]
    fn names_that_differ_only_in_case_get_their_own_outputs() {
        let root = Path::new("/r");
        let mut list = InputList::new(root);
        for name in [
            "A.jpg",
            "a.jpg",
            "Cats/x.jpg",
            "cats/x.jpg",
            "B.jpg",
            "Y.jpg",
            "y_1.png",
        ] {
            list.push(&root.join(name));
        }
        let list = list.finish();
        let bases: Vec<String> = (0..list.len()).map(|i| list.output_base(i)).collect();
        let mut folded: Vec<String> = bases.iter().map(|b| b.to_lowercase()).collect();
        folded.sort();
        folded.dedup();
        assert_eq!(folded.len(), bases.len(), "{bases:?}");
        assert_eq!(
            bases[4], "images/B",
            "a name alone in its case stays as it is"
        );
        assert_eq!(bases[5], "images/Y");
        assert!(
            bases[6].starts_with("images/y_1_"),
            "Y's second face: {bases:?}"
        );
    }
}
