//! Output: the dedup pass over all rows, and the atomic writing of `OUT/manifest.csv`
//! (rows read back from the journal). Images are encoded in `encode`, the report and
//! `OUT/stats.json` / `OUT/report.json` written in `report`.

use super::dedup::{self, DedupItem, DupKind, Mirror};
use super::encode::face_output;
use super::inputs::InputList;
use super::record::{Journal, JournalReader, LinePos};
use super::report::Tally;
use super::settings::{OutputFormat, PrepSpec};
use super::{out_err, Cropper, PrepError};
use crate::dataset::manifest::{self, ManifestRow, Status};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One manifest row as the run holds it until the manifest is written: where its full
/// record is in the journal, and what dedup decided. 24 bytes, where the record itself
/// (paths, crop box, hashes, channel sums) is about 0.5 KiB; the record is read back from
/// the journal as its manifest row is written. The flags and the duplicate's kind ride in
/// the top byte of the journal offset (a journal of 2^56 bytes is out of reach), which
/// took the row from 40 bytes to 24 (peak memory, BENCHMARKS.md, prep, session 10).
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    /// Index of the source in the [`InputList`].
    pub input: u32,
    /// Face index when several faces of one file are kept ([`NONE`]: the file's only row).
    face: u32,
    /// The record line's offset in the journal (low 56 bits) and [`REJECTED`],
    /// [`RESUMED`] and the duplicate kind (bits 56-57: 0 none, then [`DupKind`]'s order).
    offset_flags: u64,
    /// The record line's length.
    len: u32,
    /// The row this one duplicates ([`NONE`]: none).
    dup: u32,
}

const NONE: u32 = u32::MAX;
const OFFSET_BITS: u64 = (1 << 56) - 1;
const KIND_SHIFT: u32 = 56;
/// Rejected by a check (the reason is in the record).
const REJECTED: u64 = 1 << 62;
/// Taken from an earlier run's journal (its output file may have gone since).
const RESUMED: u64 = 1 << 63;

impl Entry {
    /// A row for face `face` of input `input`, whose record is at `line`.
    pub fn new(
        input: u32,
        face: Option<u32>,
        line: LinePos,
        rejected: bool,
        resumed: bool,
    ) -> Self {
        let mut e = Entry {
            input,
            face: face.unwrap_or(NONE),
            offset_flags: 0,
            len: 0,
            dup: NONE,
        };
        e.set_line(line);
        e.set_rejected(rejected);
        if resumed {
            e.offset_flags |= RESUMED;
        }
        e
    }

    /// Face index when several faces of one file are kept.
    pub fn face(&self) -> Option<u32> {
        (self.face != NONE).then_some(self.face)
    }

    /// Where the record is in the journal.
    pub fn line(&self) -> LinePos {
        LinePos {
            offset: self.offset_flags & OFFSET_BITS,
            len: self.len,
        }
    }

    /// Points the row at a newer record.
    pub fn set_line(&mut self, line: LinePos) {
        assert!(
            line.offset <= OFFSET_BITS,
            "journal offset beyond 2^56 bytes"
        );
        self.offset_flags = (self.offset_flags & !OFFSET_BITS) | line.offset;
        self.len = line.len;
    }

    /// Rejected by a check.
    pub fn rejected(&self) -> bool {
        self.offset_flags & REJECTED != 0
    }

    /// Marks the row rejected or not.
    pub fn set_rejected(&mut self, rejected: bool) {
        self.offset_flags &= !REJECTED;
        if rejected {
            self.offset_flags |= REJECTED;
        }
    }

    /// Taken from an earlier run's journal.
    pub fn resumed(&self) -> bool {
        self.offset_flags & RESUMED != 0
    }

    /// The row this one duplicates, and why.
    pub fn dup_of(&self) -> Option<(u32, DupKind)> {
        let kind = match (self.offset_flags >> KIND_SHIFT) & 3 {
            1 => DupKind::ExactFile,
            2 => DupKind::ExactPixels,
            3 => DupKind::Near,
            _ => return None,
        };
        Some((self.dup, kind))
    }

    /// Marks the row a duplicate of row `keep`.
    pub fn set_dup_of(&mut self, keep: u32, kind: DupKind) {
        let code: u64 = match kind {
            DupKind::ExactFile => 1,
            DupKind::ExactPixels => 2,
            DupKind::Near => 3,
        };
        self.offset_flags = (self.offset_flags & !(3 << KIND_SHIFT)) | code << KIND_SHIFT;
        self.dup = keep;
    }

    fn status(&self) -> Status {
        if self.rejected() {
            Status::Rejected
        } else if self.dup_of().is_some() {
            Status::Duplicate
        } else {
            Status::Kept
        }
    }

    /// The manifest's `source`.
    fn source(&self, inputs: &InputList) -> String {
        let file = inputs.rel(self.input as usize);
        match self.face() {
            Some(k) => format!("{file}#{k}"),
            None => file,
        }
    }

    /// The output path (relative to OUT) of a record that passed every check.
    pub(super) fn output(&self, inputs: &InputList, format: OutputFormat) -> String {
        face_output(
            &inputs.output_base(self.input as usize),
            self.face(),
            format,
        )
    }
}

/// The rows of a run in manifest order, and what dedup compares for those that passed
/// every check (`items[k]` belongs to `entries[cand[k]]`; `mirrors[k]` too, only when
/// flip matching is on).
#[derive(Debug, Default)]
pub(super) struct Ledger {
    entries: Vec<Entry>,
    items: Vec<DedupItem>,
    mirrors: Vec<Mirror>,
    cand: Vec<u32>,
    flip: bool,
}

impl Ledger {
    /// A ledger with room for `n` rows (one per input, unless files hold several faces):
    /// grown by doubling, a quarter to half of it would be slack at the peak. `flip`: keep
    /// the mirror hashes for flip-aware dedup.
    pub fn with_capacity(n: usize, flip: bool) -> Self {
        Ledger {
            entries: Vec::with_capacity(n),
            items: Vec::with_capacity(n),
            mirrors: Vec::with_capacity(if flip { n } else { 0 }),
            cand: Vec::with_capacity(n),
            flip,
        }
    }

    /// Adds a row (and its dedup item, when it passed every check).
    pub fn push(&mut self, entry: Entry, item: Option<(DedupItem, Mirror)>) {
        if let Some((item, mirror)) = item.filter(|_| !entry.rejected()) {
            self.cand.push(self.entries.len() as u32);
            self.items.push(item);
            if self.flip {
                self.mirrors.push(mirror);
            }
        }
        self.entries.push(entry);
    }
}

/// Dedups the rows, re-makes missing outputs of kept images, and removes the outputs of
/// duplicates and of inputs that are gone.
pub(super) fn finish(
    out: &Path,
    spec: &PrepSpec,
    inputs: &InputList,
    ledger: Ledger,
    journal: &mut Journal,
    cropper: &Cropper,
) -> Result<Vec<Entry>, PrepError> {
    let Ledger {
        mut entries,
        items,
        mirrors,
        cand,
        ..
    } = ledger;
    // The layouts that confirm near pairs are read back from the journal when asked for
    // (288 bytes per input not held; a few reads per near-duplicate group).
    let journal_path = Journal::path_in(out);
    let lookup = Mutex::new((
        JournalReader::open(out).map_err(out_err(&journal_path))?,
        Vec::new(),
    ));
    let lookup_err: Mutex<Option<std::io::Error>> = Mutex::new(None);
    let layouts = |k: usize| {
        let at = entries[cand[k] as usize].line();
        let mut guard = lookup.lock().unwrap_or_else(|e| e.into_inner());
        let (reader, buf) = &mut *guard;
        let read = reader.read(at, buf);
        match read {
            Ok(r) => r.hashes.map_or(dedup::Layouts::BLANK, |h| dedup::Layouts {
                chroma: h.chroma,
                luma: h.luma,
            }),
            Err(e) => {
                lookup_err
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(e);
                dedup::Layouts::BLANK
            }
        }
    };
    let assignment = dedup::dedup(&items, &mirrors, layouts, &spec.dedup);
    if let Some(e) = lookup_err.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(out_err(&journal_path)(e));
    }
    drop((items, mirrors, lookup));
    for (k, a) in assignment.iter().enumerate() {
        if let Some((keep, kind)) = a {
            entries[cand[k] as usize].set_dup_of(cand[*keep as usize], *kind);
        }
    }
    drop((assignment, cand));
    super::redo_missing(out, spec, cropper, inputs, &mut entries, journal)?;
    journal.flush().map_err(out_err(&Journal::path_in(out)))?;
    // Hashes of the kept outputs' paths: 8 bytes per kept image instead of its path. Two
    // paths sharing a hash (odds 2^-64) would leave a stale file behind, nothing worse.
    let keep: HashSet<u64> = entries
        .iter()
        .filter(|e| e.status() == Status::Kept)
        .map(|e| path_hash(&e.output(inputs, spec.format)))
        .collect();
    remove_stale(out, &keep)?;
    Ok(entries)
}

fn path_hash(rel: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(rel.as_bytes())
}

/// Refuses a layout in which prep would read or delete what it did not write: INPUT as
/// OUT itself (every file would count as an output), INPUT inside `OUT/images` (which
/// [`remove_stale`] prunes), and an `OUT/images` holding files while OUT shows no sign of
/// an earlier prep run (no journal, no manifest in prep's layout): a folder of the user's
/// own images.
/// `in_abs` and `out_abs` are canonical.
pub(super) fn check_layout(in_abs: &Path, out: &Path, out_abs: &Path) -> Result<(), PrepError> {
    let layout = |path: &Path, reason: &str| PrepError::Layout {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if in_abs == out_abs {
        return Err(layout(
            out,
            "INPUT and OUT are the same folder; prep writes OUT/images and prunes it, so \
             give an --out of its own (a new folder, inside INPUT if you like)",
        ));
    }
    let images = out_abs.join("images");
    if in_abs.starts_with(&images) {
        return Err(layout(
            in_abs,
            "INPUT lies inside OUT/images, which prep rewrites and prunes; give another --out",
        ));
    }
    // Inside another output's images/, that prep's reruns would prune this one.
    if let Some(outer) = inside_prep_images(out_abs) {
        return Err(layout(
            out,
            &format!(
                "OUT lies inside the images/ folder of another prep output ({}), which its \
                 reruns prune; give an --out outside it",
                outer.display()
            ),
        ));
    }
    let prepped = is_prep_out(out);
    if !prepped && images.is_dir() {
        let foreign = walkdir::WalkDir::new(&images)
            .into_iter()
            .flatten()
            .find(|e| !e.file_type().is_dir());
        if let Some(f) = foreign {
            return Err(layout(
                f.path(),
                "OUT/images already holds files that prep did not write, and prep deletes \
                 what it does not keep there; give a new or empty --out",
            ));
        }
    }
    Ok(())
}

/// Holds `OUT/.facesynth/lock` (an advisory `flock`) for the run: a second prep into the
/// same OUT stops at once instead of interleaving its journal and outputs with the first.
pub(super) fn lock_out(out: &Path) -> Result<std::fs::File, PrepError> {
    let path = Journal::path_in(out).with_file_name("lock");
    crate::atomic::lock_file_briefly_waiting(&path)
        .map_err(out_err(&path))?
        .ok_or_else(|| PrepError::Layout {
            path: out.to_path_buf(),
            reason: "another prep is writing to this folder; wait for it to end".into(),
        })
}

/// Removes the manifest of an earlier run whose records this run cannot reuse (other
/// settings, or no journal): every output is rewritten one by one, and a run stopped
/// halfway would leave images of two settings under a manifest that names them all as
/// the old one's. Until the new manifest is written, readers of OUT refuse it
/// ([`manifest::prep_unfinished`]).
pub(super) fn retract_manifest(out: &Path) -> Result<(), PrepError> {
    let path = out.join(manifest::MANIFEST_FILE);
    match prep_manifest(out) {
        true => std::fs::remove_file(&path).map_err(out_err(&path)),
        false => Ok(()),
    }
}

/// Whether `OUT/manifest.csv` is one prep wrote (its header), not a user's own file of
/// that name beside their `images/`.
fn prep_manifest(out: &Path) -> bool {
    use std::io::BufRead;
    let Ok(f) = std::fs::File::open(out.join(manifest::MANIFEST_FILE)) else {
        return false;
    };
    let mut first = String::new();
    std::io::BufReader::new(f).read_line(&mut first).is_ok()
        && first.starts_with(&format!("{},", manifest::COLUMNS[..5].join(",")))
}

/// Deletes image files under `OUT/images` that no kept row names (duplicates, inputs
/// that were removed, outputs of older settings). Only an `OUT/images` that prep made or
/// already ran on gets here ([`check_layout`]). Only what prep writes goes: images of
/// its output formats and its temporaries; anything else (a person's notes, another
/// prep's output folder put there, `generate`'s samples' JSON) stays, and a folder that is
/// itself a prep output is not entered (a rerun deleted a second run nested there).
fn remove_stale(out: &Path, keep: &HashSet<u64>) -> Result<(), PrepError> {
    let images = out.join("images");
    if !images.is_dir() {
        return Ok(());
    }
    // Any temporary of a write (prep's own, killed), else an image of the formats prep
    // writes.
    let ours = |name: &str| {
        crate::atomic::temp_target(name).is_some()
            || Path::new(name)
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
    };
    // Walk everything, hidden temporaries of a killed run included, but no nested prep
    // output (pre-order, so it is not entered); then each folder after its contents
    // (reversed pre-order), so one left empty (every image of a source folder a duplicate
    // or gone) goes too, and one still holding something stays.
    let mut dirs = Vec::new();
    for entry in walkdir::WalkDir::new(&images)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| !(e.file_type().is_dir() && is_prep_out(e.path())))
        .flatten()
    {
        if entry.file_type().is_dir() {
            dirs.push(entry.into_path());
            continue;
        }
        if !entry.file_type().is_file() || !ours(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let rel = crate::dataset::walk::relative(out, entry.path());
        if !keep.contains(&path_hash(&rel)) {
            std::fs::remove_file(entry.path()).map_err(out_err(entry.path()))?;
        }
    }
    for d in dirs.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
    Ok(())
}

/// The prep output whose `images/` folder holds `dir` (canonical), if one does: its
/// reruns delete the images they did not write there.
pub fn inside_prep_images(dir: &Path) -> Option<&Path> {
    // `dir` itself counts: an OUT that is another output's images/ wrote its images into
    // images/images, which that output's rerun deleted.
    dir.ancestors()
        .filter(|a| a.file_name().is_some_and(|n| n == "images"))
        .filter_map(Path::parent)
        .find(|p| is_prep_out(p))
}

/// Whether `dir` is a prep output: its journal or a manifest in prep's layout.
fn is_prep_out(dir: &Path) -> bool {
    Journal::path_in(dir).is_file() || prep_manifest(dir)
}

/// Writes `OUT/manifest.csv` atomically, one row per entry, each made from its record
/// read back from the journal as it is written; counts the rows on the way.
pub(super) fn write_manifest(
    out: &Path,
    inputs: &InputList,
    entries: &[Entry],
) -> Result<Tally, PrepError> {
    let mut journal = JournalReader::open(out).map_err(out_err(&Journal::path_in(out)))?;
    let path = out.join(manifest::MANIFEST_FILE);
    let mut tally = Tally::default();
    let mut buf = Vec::new();
    crate::atomic::write_with(&path, |w| {
        let mut wtr = csv::Writer::from_writer(w);
        if entries.is_empty() {
            wtr.write_record(manifest::COLUMNS)?;
        }
        for e in entries {
            let r = journal.read(e.line(), &mut buf)?;
            let status = e.status();
            let reason = match (status, e.dup_of()) {
                (Status::Duplicate, Some((_, kind))) => kind.reason(),
                _ => &r.reject,
            };
            tally.add(status, reason);
            if status == Status::Kept {
                tally.kept += 1;
                if let Some(s) = &r.sums {
                    tally.sums.add(s);
                }
            }
            let h = r.hashes;
            let row = ManifestRow {
                source: e.source(inputs),
                output: if status == Status::Kept {
                    r.output.clone()
                } else {
                    String::new()
                },
                status,
                reason: reason.to_string(),
                dup_of: e
                    .dup_of()
                    .map(|(keep, _)| entries[keep as usize].source(inputs))
                    .unwrap_or_default(),
                crop_x: r.crop.map(|c| c.x),
                crop_y: r.crop.map(|c| c.y),
                crop_w: r.crop.map(|c| c.w),
                crop_h: r.crop.map(|c| c.h),
                src_w: r.src.map(|s| s.0),
                src_h: r.src.map(|s| s.1),
                bytes: Some(r.size),
                phash: h.map(|h| super::hash::to_hex(h.phash)).unwrap_or_default(),
                dhash: h.map(|h| super::hash::to_hex(h.dhash)).unwrap_or_default(),
            };
            wtr.serialize(&row).map_err(std::io::Error::other)?;
        }
        wtr.flush()
    })
    .map_err(out_err(&path))?;
    Ok(tally)
}

/// The file in OUT naming the INPUT it was prepared from.
fn input_record(out: &Path) -> PathBuf {
    out.join(".facesynth").join("input")
}

/// Refuses a run whose INPUT is not the one OUT was prepared from: it would have been
/// taken for a resume, and every image of the first INPUT that the second lacks deleted
/// (exit 0, not a word). The record ([`record_input`]); for an OUT from before it,
/// `report.json`'s `input`; a fresh OUT takes any INPUT.
pub fn check_same_input(out: &Path, input: &Path) -> Result<(), PrepError> {
    let mut path = input_record(out);
    let was = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text.trim_end_matches('\n').to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            path = out.join("report.json");
            std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["input"].as_str().map(String::from))
        }
        Err(e) => return Err(out_err(&path)(e)),
    };
    let here = input.to_string_lossy();
    match was {
        Some(was) if was != here => Err(PrepError::Layout {
            path: out.to_path_buf(),
            reason: format!(
                "prepared from {was} but INPUT is {here}: give another --out. If the \
                 first INPUT was moved here, or to prepare OUT from this one anyway (the \
                 images only the first gave are then removed), delete {}",
                path.display()
            ),
        }),
        _ => Ok(()),
    }
}

/// Records in OUT the INPUT it is prepared from, once the run commits to OUT (a run that
/// fails before, on a typo in `--bbox`, ties OUT to nothing).
pub fn record_input(out: &Path, input: &Path) -> Result<(), PrepError> {
    let path = input_record(out);
    let text = format!("{}\n", input.to_string_lossy());
    if std::fs::read_to_string(&path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    crate::atomic::write(&path, text.as_bytes()).map_err(out_err(&path))
}
