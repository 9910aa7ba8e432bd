//! What prep learns about each input, kept in a journal (`OUT/.facesynth/journal.jsonl`,
//! one JSON line per finished file, appended as files finish) so that a killed run
//! resumes where it stopped and a re-run only processes new or changed files.

use super::crop::CropBox;
use super::dedup::{DedupItem, Mirror};
use super::normalize::ChannelSums;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
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

/// Where one record's line sits in the journal: the run keeps this instead of the
/// record, and reads the record back when the manifest is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinePos {
    /// Byte offset of the line.
    pub offset: u64,
    /// Length of the line without its newline.
    pub len: u32,
}

/// A record of an earlier run, as the journal holds it: what deciding whether to reuse it
/// needs, where it is, and what dedup needs.
#[derive(Debug, Clone)]
pub struct Earlier {
    /// Face index (`file#k`).
    pub face: Option<u32>,
    /// File size and modification time when processed.
    pub stamp: (u64, i128),
    /// Output path relative to OUT (empty when none was written).
    pub output: String,
    /// The record's line.
    pub line: LinePos,
    /// The record was rejected.
    pub rejected: bool,
    /// What dedup compares, for a record that passed every check.
    pub item: Option<(DedupItem, Mirror)>,
}

impl Record {
    /// What dedup compares, for a record that passed every check.
    pub fn dedup_item(&self) -> Option<(DedupItem, Mirror)> {
        let h = self.hashes.filter(|_| self.reject.is_empty())?;
        let (w, hgt) = self.src.unwrap_or((0, 0));
        let item = DedupItem {
            file_hash: h.file as u32,
            pixel_hash: h.pixels as u64,
            phash: h.phash,
            dhash: h.dhash,
            chroma_key: super::dedup::chroma_key(&h.chroma),
            area: u32::try_from(w as u64 * hgt as u64).unwrap_or(u32::MAX),
            bytes: u32::try_from(self.size).unwrap_or(u32::MAX),
        };
        let mirror = Mirror {
            phash: h.phash_flip,
            dhash: h.dhash_flip,
        };
        Some((item, mirror))
    }
}

/// The append-only journal of finished files.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Whole lines not yet written: one write per ~100 files instead of one per file. A
    /// killed run loses at most these, and resuming redoes those files.
    pending: Vec<u8>,
    /// Bytes in the file (lines already written).
    written: u64,
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
    pub fn load(out: &Path, fingerprint: &str) -> io::Result<HashMap<String, Vec<Earlier>>> {
        let path = Self::path_in(out);
        let mut map: HashMap<String, Vec<Earlier>> = HashMap::new();
        let Ok(f) = File::open(&path) else {
            return Ok(map);
        };
        let mut reader = BufReader::new(f);
        let mut line = Vec::new();
        let mut offset = reader.read_until(b'\n', &mut line)? as u64;
        if line.trim_ascii() != format!("fingerprint {fingerprint}").as_bytes() {
            drop(reader);
            fs::remove_file(&path)?;
            return Ok(map);
        }
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            let at = offset;
            offset += n as u64;
            let Some(body) = line.strip_suffix(b"\n") else {
                break; // torn
            };
            if let Ok(r) = serde_json::from_slice::<Record>(body) {
                let e = Earlier {
                    face: r.face,
                    stamp: (r.size, r.mtime),
                    line: LinePos {
                        offset: at,
                        len: body.len() as u32,
                    },
                    rejected: !r.reject.is_empty(),
                    item: r.dedup_item(),
                    output: r.output,
                };
                map.entry(r.file).or_default().push(e);
            }
        }
        // A file's records are written together: keep the last complete set.
        for recs in map.values_mut() {
            let last_stamp = recs.last().map(|r| r.stamp);
            recs.retain(|r| Some(r.stamp) == last_stamp);
            recs.dedup_by(|a, b| a.face == b.face);
        }
        Ok(map)
    }

    /// Opens the journal for appending, starting it with the fingerprint line if new.
    pub fn open(out: &Path, fingerprint: &str) -> io::Result<Self> {
        let path = Self::path_in(out);
        fs::create_dir_all(path.parent().unwrap_or(out))?;
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut written = file.metadata()?.len();
        if written == 0 {
            writeln!(file, "fingerprint {fingerprint}")?;
        } else {
            // A killed run may have left a torn last line: end it, so that the next
            // record starts a line of its own.
            let mut last = [0u8];
            file.seek(SeekFrom::Start(written - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        written = file.metadata()?.len();
        Ok(Journal {
            path,
            file,
            pending: Vec::with_capacity(JOURNAL_BATCH),
            written,
        })
    }

    /// Appends one file's records as whole lines and says where each will be; they reach
    /// the file in batches (see [`Journal::flush`]), each batch in one write of whole lines.
    pub fn append(&mut self, recs: &[Record]) -> io::Result<Vec<LinePos>> {
        let mut at = Vec::with_capacity(recs.len());
        for r in recs {
            let start = self.pending.len();
            serde_json::to_writer(&mut self.pending, r).map_err(io::Error::other)?;
            at.push(LinePos {
                offset: self.written + start as u64,
                len: (self.pending.len() - start) as u32,
            });
            self.pending.push(b'\n');
        }
        if self.pending.len() >= JOURNAL_BATCH {
            self.flush()?;
        }
        Ok(at)
    }

    /// Writes the lines gathered so far.
    pub fn flush(&mut self) -> io::Result<()> {
        let r = self.file.write_all(&self.pending);
        if r.is_ok() {
            self.written += self.pending.len() as u64;
        }
        self.pending.clear();
        r
    }

    /// Where the journal lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads records back from the journal by position, through one buffer: rows are read in
/// nearly the order their lines were written, so most reads make no system call.
pub struct JournalReader {
    file: BufReader<File>,
    /// File position of the reader's next byte.
    pos: u64,
}

impl JournalReader {
    /// Opens the journal of `out` for reading (lines flushed so far).
    pub fn open(out: &Path) -> io::Result<Self> {
        Ok(JournalReader {
            file: BufReader::with_capacity(1 << 16, File::open(Journal::path_in(out))?),
            pos: 0,
        })
    }

    /// The record at `at`.
    pub fn read(&mut self, at: LinePos, buf: &mut Vec<u8>) -> io::Result<Record> {
        // Within the buffer this only moves the buffer's cursor.
        self.file
            .seek_relative(at.offset as i64 - self.pos as i64)?;
        buf.resize(at.len as usize, 0);
        self.file.read_exact(buf)?;
        self.pos = at.offset + at.len as u64;
        parse_line(buf, at)
    }
}

fn parse_line(line: &[u8], at: LinePos) -> io::Result<Record> {
    serde_json::from_slice(line).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("journal line at byte {}: {e}", at.offset),
        )
    })
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Best effort: an error here only means those files are redone on resume.
        let _ = self.flush();
    }
}
