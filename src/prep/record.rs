//! What prep learns about each input, kept in a journal (`OUT/.facesynth/journal.jsonl`,
//! one JSON line per finished file, appended as files finish) so that a killed run
//! resumes where it stopped and a re-run only processes new or changed files.

use super::crop::CropBox;
use super::normalize::ChannelSums;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// One processed input (or one face of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Source file relative to INPUT.
    pub file: String,
    /// Face index when several faces of one file are kept (`file#k`).
    pub face: Option<u32>,
    /// File size when processed, to notice changes.
    pub size: u64,
    /// Modification time (ns since the epoch) when processed.
    pub mtime: i128,
    /// Output path relative to OUT, if an image was written.
    pub output: String,
    /// Rejection reason; empty when the image passed every check.
    pub reject: String,
    /// Crop box in source pixels.
    pub crop: Option<CropBox>,
    /// Source size.
    pub src: Option<(u32, u32)>,
    /// Hashes for dedup (hex strings in the journal stay readable).
    pub hashes: Option<Hashes>,
    /// Per-channel sums of the output, for `stats.json`.
    pub sums: Option<ChannelSums>,
}

/// Exact and perceptual hashes of one output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hashes {
    /// File bytes.
    pub file: u128,
    /// Decoded pixels.
    pub pixels: u128,
    /// pHash.
    pub phash: u64,
    /// dHash.
    pub dhash: u64,
    /// pHash of the mirror image.
    pub phash_flip: u64,
    /// dHash of the mirror image.
    pub dhash_flip: u64,
    /// Chroma layout signature.
    pub chroma: [u8; 32],
}

impl Record {
    /// The manifest's `source` value.
    pub fn source(&self) -> String {
        match self.face {
            Some(k) => format!("{}#{k}", self.file),
            None => self.file.clone(),
        }
    }
}

/// Size and modification time of a file, to tell whether a journal entry is current.
pub fn file_stamp(path: &Path) -> io::Result<(u64, i128)> {
    Ok(stamp_of(&fs::metadata(path)?))
}

/// Size and modification time from metadata already at hand (an open file's `fstat`).
pub fn stamp_of(m: &fs::Metadata) -> (u64, i128) {
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    (m.len(), mtime)
}

/// The append-only journal of finished files.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Whole lines not yet written: one write per ~100 files instead of one per file. A
    /// killed run loses at most these, and resuming redoes those files.
    pending: Vec<u8>,
}

/// Bytes of journal lines gathered before they are written.
const JOURNAL_BATCH: usize = 32 * 1024;

impl Journal {
    /// The journal's path inside OUT.
    pub fn path_in(out: &Path) -> PathBuf {
        out.join(".facesynth").join("journal.jsonl")
    }

    /// Reads the records of an earlier run made with the same settings `fingerprint`,
    /// grouped by source file. A journal of other settings is discarded; a torn last
    /// line (the run was killed mid-write) is ignored.
    pub fn load(out: &Path, fingerprint: &str) -> io::Result<HashMap<String, Vec<Record>>> {
        let path = Self::path_in(out);
        let mut map: HashMap<String, Vec<Record>> = HashMap::new();
        let Ok(f) = File::open(&path) else {
            return Ok(map);
        };
        let mut lines = BufReader::new(f).lines();
        match lines.next() {
            Some(Ok(first)) if first.trim() == format!("fingerprint {fingerprint}") => {}
            _ => {
                fs::remove_file(&path)?;
                return Ok(map);
            }
        }
        for line in lines {
            let Ok(line) = line else { break };
            if let Ok(r) = serde_json::from_str::<Record>(&line) {
                map.entry(r.file.clone()).or_default().push(r);
            }
        }
        // A file's records are written together: keep the last complete set.
        for recs in map.values_mut() {
            let last_stamp = recs.last().map(|r| (r.size, r.mtime));
            recs.retain(|r| Some((r.size, r.mtime)) == last_stamp);
            recs.dedup_by(|a, b| a.face == b.face);
        }
        Ok(map)
    }

    /// Opens the journal for appending, starting it with the fingerprint line if new.
    pub fn open(out: &Path, fingerprint: &str) -> io::Result<Self> {
        let path = Self::path_in(out);
        fs::create_dir_all(path.parent().unwrap_or(out))?;
        let fresh = !path.exists();
        let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
        if fresh {
            writeln!(file, "fingerprint {fingerprint}")?;
        }
        Ok(Journal {
            path,
            file,
            pending: Vec::with_capacity(JOURNAL_BATCH),
        })
    }

    /// Appends one file's records as whole lines; they reach the file in batches (see
    /// [`Journal::flush`]), each batch in a single write of whole lines.
    pub fn append(&mut self, recs: &[Record]) -> io::Result<()> {
        for r in recs {
            serde_json::to_writer(&mut self.pending, r).map_err(io::Error::other)?;
            self.pending.push(b'\n');
        }
        if self.pending.len() >= JOURNAL_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the lines gathered so far.
    pub fn flush(&mut self) -> io::Result<()> {
        let r = self.file.write_all(&self.pending);
        self.pending.clear();
        r
    }

    /// Where the journal lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Best effort: an error here only means those files are redone on resume.
        let _ = self.flush();
    }
}
