//! What prep learns about each input, kept in a journal (`OUT/.facesynth/journal.jsonl`,
//! one JSON line per finished file, appended as files finish) so that a killed run
//! resumes where it stopped and a re-run only processes new or changed files.

use super::crop::CropBox;
use super::dedup::{DedupItem, Mirror};
use super::normalize::ChannelSums;
use serde::{Deserialize, Serialize};
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
    /// Records in this file's set (its faces with `--faces all`, else 1): a set the
    /// journal holds only part of (a write cut short by a full disk) is not resumed
    /// but done again. 0 in journals written before it: taken as whole.
    #[serde(default)]
    pub faces: u32,
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
    /// Luma layout signature ([`super::hash::luma_grid`]), as hex in the journal.
    #[serde(with = "hex_luma")]
    pub luma: [u8; LUMA_CELLS],
}

const LUMA_CELLS: usize = super::hash::LUMA_SIDE * super::hash::LUMA_SIDE;

/// The luma layout as 512 hex digits (serde writes arrays over 32 long only by hand).
mod hex_luma {
    use super::LUMA_CELLS;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; LUMA_CELLS], s: S) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(2 * LUMA_CELLS);
        for b in v {
            text.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; LUMA_CELLS], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = text.as_bytes();
        if bytes.len() != 2 * LUMA_CELLS {
            return Err(D::Error::custom("luma layout: not 512 hex digits"));
        }
        let mut out = [0u8; LUMA_CELLS];
        for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(D::Error::custom)?;
            *o = u8::from_str_radix(pair, 16).map_err(D::Error::custom)?;
        }
        Ok(out)
    }
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

/// A record of an earlier run, as the run holds it while deciding what to redo: keys
/// and where the record is (56 bytes). The record itself, dedup hashes included, is read
/// back from the journal when its row joins the ledger. Holding the parsed records with
/// their paths cost about 0.9 KiB per input: 94 MB to resume a run of 100k inputs
/// (BENCHMARKS.md, prep, session 10).
#[derive(Debug, Clone, Copy)]
pub struct Earlier {
    /// [`path_key`] of the source file.
    pub path: u64,
    /// Face index (`file#k`).
    pub face: Option<u32>,
    /// [`stamp_key`] of the file size and modification time when processed.
    pub stamp: u64,
    /// [`output_key`] of the output path relative to OUT (0: none was written).
    pub output: u64,
    /// The record's line.
    pub line: LinePos,
    /// The record was rejected.
    pub rejected: bool,
    /// [`Record::faces`].
    pub faces: u32,
}

/// The key of a source path (relative to INPUT) among an earlier run's records. Two
/// paths sharing one (odds 2^-64 a pair) only make a file's stamp check fail, and the
/// file is processed again.
pub fn path_key(rel: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(rel.as_bytes())
}

/// The key of a file stamp ([`file_stamp`]), compared for equality only.
pub fn stamp_key(stamp: (u64, i128)) -> u64 {
    let mut b = [0u8; 24];
    b[..8].copy_from_slice(&stamp.0.to_le_bytes());
    b[8..].copy_from_slice(&stamp.1.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&b)
}

/// The key of an output path (never 0, which stands for none).
pub fn output_key(rel: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(rel.as_bytes()).max(1)
}

/// Where the records of source `path_key` are in `done` (sorted by path, as
/// [`Journal::load`] returns them).
pub fn records_of(done: &[Earlier], path_key: u64) -> std::ops::Range<usize> {
    let start = done.partition_point(|e| e.path < path_key);
    start..start + done[start..].partition_point(|e| e.path == path_key)
}

impl Record {
    /// What dedup compares, for a record that passed every check.
    pub fn dedup_item(&self) -> Option<(DedupItem, Mirror)> {
        let h = self.hashes.filter(|_| self.reject.is_empty())?;
        // The face's pixels in its source (the crop box), not the whole source's: in
        // detect and bbox modes a small face in a large collage beat the same face at
        // full size. In centre and none modes the box grows with the source as before.
        let (w, hgt) = self.crop.map(|b| (b.w, b.h)).or(self.src).unwrap_or((0, 0));
        let item = DedupItem {
            file_hash: h.file as u32,
            pixel_hash: h.pixels as u64,
            phash: h.phash,
            dhash: h.dhash,
            layout_key: super::dedup::layout_key(&super::dedup::Layouts {
                chroma: h.chroma,
                luma: h.luma,
            }),
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

/// Superseded journal lines tolerated beyond as many as are live before a rewrite.
const COMPACT_SLACK: usize = 1000;

/// Rewrites the journal at `path` with the lines of `done` only (in their order in the
/// file), atomically, and points `done` at their new places.
fn compact(path: &Path, fingerprint: &str, done: &mut [Earlier]) -> io::Result<()> {
    let old = fs::read(path)?;
    let mut order: Vec<usize> = (0..done.len()).collect();
    order.sort_by_key(|&k| done[k].line.offset);
    let mut out = format!("fingerprint {fingerprint}\n").into_bytes();
    for k in order {
        let LinePos { offset, len } = done[k].line;
        let bytes = old
            .get(offset as usize..offset as usize + len as usize)
            .ok_or_else(|| io::Error::other("journal changed while it was read"))?;
        done[k].line.offset = out.len() as u64;
        out.extend_from_slice(bytes);
        out.push(b'\n');
    }
    crate::atomic::write(path, &out)
}

/// Bytes of journal lines gathered before they are written.
const JOURNAL_BATCH: usize = 32 * 1024;

impl Journal {
    /// The journal's path inside OUT.
    pub fn path_in(out: &Path) -> PathBuf {
        out.join(".facesynth").join("journal.jsonl")
    }

    /// Reads the records of an earlier run made with the same settings `fingerprint`,
    /// sorted by source path key ([`records_of`] finds a file's). A journal of other
    /// settings is discarded; a torn last line (the run was killed mid-write) is ignored.
    pub fn load(out: &Path, fingerprint: &str) -> io::Result<Vec<Earlier>> {
        let path = Self::path_in(out);
        let mut done: Vec<Earlier> = Vec::new();
        let Ok(f) = File::open(&path) else {
            return Ok(done);
        };
        let mut reader = BufReader::new(f);
        let mut line = Vec::new();
        let mut offset = reader.read_until(b'\n', &mut line)? as u64;
        if line.trim_ascii() != format!("fingerprint {fingerprint}").as_bytes() {
            drop(reader);
            fs::remove_file(&path)?;
            return Ok(done);
        }
        let mut lines = 0usize;
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            lines += 1;
            let at = offset;
            offset += n as u64;
            let Some(body) = line.strip_suffix(b"\n") else {
                break; // torn
            };
            if let Ok(r) = serde_json::from_slice::<Record>(body) {
                done.push(Earlier {
                    path: path_key(&r.file),
                    face: r.face,
                    stamp: stamp_key((r.size, r.mtime)),
                    output: if r.output.is_empty() {
                        0
                    } else {
                        output_key(&r.output)
                    },
                    line: LinePos {
                        offset: at,
                        len: body.len() as u32,
                    },
                    rejected: !r.reject.is_empty(),
                    faces: r.faces,
                });
            }
        }
        // Stable: a file's records stay in journal order.
        done.sort_by_key(|e| e.path);
        // A file's records are written together: keep the last set, once per face, the
        // last record of a face. A file redone with its stamp unchanged (its output
        // name moved when another source took the name) appends a set of the same stamp;
        // the first of a face kept the old output name, which failed the output check,
        // so the file was redone and appended again on every later run.
        let mut kept = 0;
        let mut start = 0;
        while start < done.len() {
            let end = start + done[start..].partition_point(|e| e.path == done[start].path);
            let last_stamp = done[end - 1].stamp;
            let mut group: Vec<Earlier> = Vec::new();
            for k in (start..end).rev() {
                let e = done[k];
                if e.stamp == last_stamp && !group.iter().any(|f| f.face == e.face) {
                    group.push(e);
                }
            }
            // A set cut short (its other lines never reached the disk) is left out:
            // resumed, the file's missing faces would be lost.
            let whole = group
                .iter()
                .all(|e| e.faces == 0 || e.faces as usize == group.len());
            for e in group.into_iter().rev().filter(|_| whole) {
                done[kept] = e;
                kept += 1;
            }
            start = end;
        }
        done.truncate(kept);
        done.shrink_to_fit();
        // Every redo appends its lines and leaves the old ones: a journal mostly of lines
        // superseded (files that change between runs) is rewritten with the live ones.
        if lines > 2 * done.len() + COMPACT_SLACK {
            compact(&path, fingerprint, &mut done)?;
        }
        Ok(done)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(file: &str, face: Option<u32>, mtime: i128, output: &str) -> String {
        serde_json::json!({
            "file": file, "face": face, "size": 10, "mtime": mtime, "output": output,
            "reject": "", "crop": null, "src": null, "hashes": null, "sums": null,
        })
        .to_string()
    }

    /// The last set of a file's records wins (it was processed again after a change),
    /// a face recorded twice with the same stamp counts once, and a torn last line is
    /// dropped; another fingerprint discards the journal.
    #[test]
    fn load_keeps_each_files_last_set_once_per_face() {
        let dir = tempfile::tempdir().unwrap();
        let path = Journal::path_in(dir.path());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let lines = [
            "fingerprint f1".to_string(),
            line("a.png", None, 1, "images/a.png"),
            line("b.png", Some(0), 1, "images/b_0.png"),
            line("b.png", Some(1), 1, ""),
            line("b.png", Some(0), 2, "images/b_0.png"),
            line("a.png", None, 1, "images/a.png"),
            // Redone with its stamp unchanged under a new output name: the new one holds.
            line("d.jpg", None, 1, "images/d.png"),
            line("d.jpg", None, 1, "images/d_jpg.png"),
        ];
        let text = lines.join("\n") + "\n" + &line("c.png", None, 1, "")[..20];
        fs::write(&path, text).unwrap();
        let done = Journal::load(dir.path(), "f1").unwrap();
        let a = &done[records_of(&done, path_key("a.png"))];
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].output, output_key("images/a.png"));
        assert_eq!(a[0].stamp, stamp_key((10, 1)));
        let b = &done[records_of(&done, path_key("b.png"))];
        assert_eq!(b.len(), 1, "only the stamp-2 set");
        assert_eq!((b[0].face, b[0].stamp), (Some(0), stamp_key((10, 2))));
        assert!(records_of(&done, path_key("c.png")).is_empty(), "torn line");
        let d = &done[records_of(&done, path_key("d.jpg"))];
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].output, output_key("images/d_jpg.png"));
        // The line position reads the record back.
        let r = JournalReader::open(dir.path())
            .unwrap()
            .read(b[0].line, &mut Vec::new())
            .unwrap();
        assert_eq!((r.file.as_str(), r.mtime), ("b.png", 2));

        assert!(Journal::load(dir.path(), "f2").unwrap().is_empty());
        assert!(!path.exists(), "a journal of other settings is removed");
    }

    /// A journal mostly of superseded lines (files redone run after run) is rewritten
    /// with the live ones, which still read back at their new places.
    #[test]
    fn a_journal_of_mostly_superseded_lines_is_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = Journal::path_in(dir.path());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut lines = vec!["fingerprint f1".to_string()];
        for stamp in 1..=2 * COMPACT_SLACK as i128 {
            lines.push(line("busy.png", None, stamp, "images/busy.png"));
        }
        lines.push(line("still.png", None, 1, "images/still.png"));
        fs::write(&path, lines.join("\n") + "\n").unwrap();
        let done = Journal::load(dir.path(), "f1").unwrap();
        assert_eq!(done.len(), 2);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().count(),
            3,
            "the fingerprint and the two live lines"
        );
        let mut reader = JournalReader::open(dir.path()).unwrap();
        let busy = done[records_of(&done, path_key("busy.png"))][0];
        let r = reader.read(busy.line, &mut Vec::new()).unwrap();
        assert_eq!(
            (r.file.as_str(), r.mtime),
            ("busy.png", 2 * COMPACT_SLACK as i128)
        );
        let still = done[records_of(&done, path_key("still.png"))][0];
        let r = reader.read(still.line, &mut Vec::new()).unwrap();
        assert_eq!(r.file, "still.png");
        // Loaded again, the same records.
        let again = Journal::load(dir.path(), "f1").unwrap();
        assert_eq!(again.len(), 2);
    }

    /// A file's set of three faces of which two lines reached the disk (a write cut
    /// short) is done again, not resumed with a face missing; a whole set stays.
    #[test]
    fn a_set_the_journal_holds_only_part_of_is_not_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let path = Journal::path_in(dir.path());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let of = |file: &str, face: u32, faces: u32| {
            let mut v: serde_json::Value =
                serde_json::from_str(&line(file, Some(face), 1, "")).unwrap();
            v["faces"] = faces.into();
            v.to_string()
        };
        let lines = [
            "fingerprint f1".to_string(),
            of("whole.png", 0, 2),
            of("whole.png", 1, 2),
            of("cut.png", 0, 3),
            of("cut.png", 1, 3),
        ];
        fs::write(&path, lines.join("\n") + "\n").unwrap();
        let done = Journal::load(dir.path(), "f1").unwrap();
        assert_eq!(records_of(&done, path_key("whole.png")).len(), 2);
        assert!(records_of(&done, path_key("cut.png")).is_empty());
    }
}
