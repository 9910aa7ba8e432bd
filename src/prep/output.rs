//! Output: output names, image encoding, the dedup pass over all records, and the
//! atomic writing of `OUT/manifest.csv`, `OUT/stats.json` and `OUT/report.json`.

use super::dedup::{self, DedupItem};
use super::normalize::{ChannelSums, DatasetStats};
use super::record::Record;
use super::settings::{OutputFormat, PrepSpec};
use super::{out_err, Cropper, PrepError};
use crate::dataset::manifest::{self, ManifestRow, Status};
use image::{ImageEncoder, RgbImage};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// Output base paths (relative to OUT, no extension) mirroring each source's relative
/// path under `images/`; sources that would collide (`a.jpg` and `a.png`) keep their
/// extension in the name.
pub fn output_names(rels: &[String], _format: OutputFormat) -> Vec<String> {
    let strip = |r: &str| match r.rfind('.') {
        Some(dot) if dot > r.rfind('/').map_or(0, |s| s + 1) => r[..dot].to_string(),
        _ => r.to_string(),
    };
    let mut count: HashMap<String, usize> = HashMap::new();
    for r in rels {
        *count.entry(strip(r)).or_default() += 1;
    }
    rels.iter()
        .map(|r| {
            let s = strip(r);
            if count[&s] > 1 {
                format!("images/{}", r.replace('.', "_"))
            } else {
                format!("images/{s}")
            }
        })
        .collect()
}

fn ext(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Png => "png",
        OutputFormat::Jpeg => "jpg",
    }
}

/// The output path of face `face` (or the only face) of a source with base `base`.
pub fn face_output(base: &str, face: Option<u32>, format: OutputFormat) -> String {
    match face {
        Some(k) => format!("{base}_{k}.{}", ext(format)),
        None => format!("{base}.{}", ext(format)),
    }
}

/// The base of an output path (inverse of [`face_output`]).
pub fn strip_ext(output: &str, face: Option<u32>) -> String {
    let no_ext = output.rsplit_once('.').map_or(output, |(b, _)| b);
    match face {
        Some(k) => no_ext
            .strip_suffix(&format!("_{k}"))
            .unwrap_or(no_ext)
            .to_string(),
        None => no_ext.to_string(),
    }
}

/// Encodes and writes one output image atomically.
pub fn save(path: &Path, img: &RgbImage, format: OutputFormat) -> std::io::Result<()> {
    // Room for the raw pixels: the encoded file fits without the buffer growing.
    let mut buf = std::io::Cursor::new(Vec::with_capacity(img.as_raw().len() + 1024));
    match format {
        // Fast deflate: a 64 px face compresses a little worse and several times faster.
        // Paeth on every row instead of trying all five filters per row (adaptive): on
        // 2,000 prepared anime faces, 19 µs per image instead of 24, files 1% larger.
        OutputFormat::Png => image::codecs::png::PngEncoder::new_with_quality(
            &mut buf,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Paeth,
        )
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        ),
        OutputFormat::Jpeg => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 95).encode_image(img)
        }
    }
    .map_err(std::io::Error::other)?;
    crate::atomic::write(path, buf.get_ref())
}

/// The records after dedup: what the manifest says, held once. Rows are made one at a
/// time as the manifest is written, so a run holds one record per input and no second
/// copy of the manifest (the peak-memory figure in BENCHMARKS.md, prep).
pub(super) struct Outcome {
    records: Vec<Record>,
    /// Duplicate record -> (kept record, reason).
    dup_of: HashMap<usize, (usize, &'static str)>,
}

impl Outcome {
    fn status(&self, i: usize) -> (Status, &str) {
        if !self.records[i].reject.is_empty() {
            (Status::Rejected, &self.records[i].reject)
        } else if let Some((_, why)) = self.dup_of.get(&i) {
            (Status::Duplicate, why)
        } else {
            (Status::Kept, "")
        }
    }

    /// Manifest rows, in record order.
    pub(super) fn rows(&self) -> impl Iterator<Item = ManifestRow> + '_ {
        (0..self.records.len()).map(|i| self.row(i))
    }

    fn row(&self, i: usize) -> ManifestRow {
        let r = &self.records[i];
        let (status, reason) = self.status(i);
        let h = r.hashes;
        ManifestRow {
            source: r.source(),
            output: if status == Status::Kept {
                r.output.clone()
            } else {
                String::new()
            },
            status,
            reason: reason.to_string(),
            dup_of: self
                .dup_of
                .get(&i)
                .map(|&(keep, _)| self.records[keep].source())
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
        }
    }

    /// Output paths (relative to OUT) of the kept images.
    fn kept_outputs(&self) -> HashSet<&str> {
        (0..self.records.len())
            .filter(|&i| self.status(i).0 == Status::Kept && !self.records[i].output.is_empty())
            .map(|i| self.records[i].output.as_str())
            .collect()
    }
}

/// Dedups the records, removes the outputs of duplicates and of inputs that are gone,
/// and re-makes missing outputs of kept images.
pub(super) fn finish(
    input: &Path,
    out: &Path,
    spec: &PrepSpec,
    mut records: Vec<Record>,
    resumed: &[bool],
    cropper: &Cropper,
) -> Result<(Outcome, DatasetStats), PrepError> {
    let cand: Vec<usize> = (0..records.len())
        .filter(|&i| records[i].reject.is_empty() && records[i].hashes.is_some())
        .collect();
    let items: Vec<DedupItem> = cand
        .iter()
        .map(|&i| {
            let r = &records[i];
            let h = r.hashes.unwrap_or_else(|| unreachable!("filtered above"));
            let (w, hgt) = r.src.unwrap_or((0, 0));
            DedupItem {
                file_hash: h.file,
                pixel_hash: h.pixels,
                phash: h.phash,
                dhash: h.dhash,
                phash_flip: h.phash_flip,
                dhash_flip: h.dhash_flip,
                chroma: h.chroma,
                area: w as u64 * hgt as u64,
                bytes: r.size,
            }
        })
        .collect();
    let assignment = dedup::dedup(&items, &spec.dedup);
    drop(items);
    let mut dup_of: HashMap<usize, (usize, &'static str)> = HashMap::new();
    for (k, a) in assignment.iter().enumerate() {
        if let Some((keep, kind)) = a {
            dup_of.insert(cand[k], (cand[*keep], kind.reason()));
        }
    }
    // Kept images whose file went missing are made again; duplicates' files are removed.
    let kept = cand.iter().filter(|i| !dup_of.contains_key(i));
    super::redo_missing(
        input,
        out,
        spec,
        cropper,
        &mut records,
        kept.copied(),
        resumed,
    );
    let outcome = Outcome { records, dup_of };
    remove_stale(out, &outcome.kept_outputs())?;
    let mut sums = ChannelSums::default();
    let mut kept_n = 0;
    for (i, r) in outcome.records.iter().enumerate() {
        if outcome.status(i).0 == Status::Kept {
            kept_n += 1;
            if let Some(s) = &r.sums {
                sums.add(s);
            }
        }
    }
    Ok((outcome, sums.stats(kept_n, spec.resize.size)))
}

/// Deletes image files under `OUT/images` that no kept row names (duplicates, inputs
/// that were removed, outputs of older settings).
fn remove_stale(out: &Path, keep: &HashSet<&str>) -> Result<(), PrepError> {
    let images = out.join("images");
    if !images.is_dir() {
        return Ok(());
    }
    // Walk everything, hidden temporaries of a killed run included.
    for entry in walkdir::WalkDir::new(&images).into_iter().flatten() {
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = crate::dataset::walk::relative(out, entry.path());
        if !keep.contains(rel.as_str()) {
            std::fs::remove_file(entry.path()).map_err(out_err(entry.path()))?;
        }
    }
    Ok(())
}

/// What a prep run did: counts by status and reason, timing.
#[derive(Debug, Clone, Serialize)]
pub struct PrepReport {
    /// Files found under INPUT.
    pub files: usize,
    /// Manifest rows (files, or faces of files).
    pub rows: usize,
    /// Rows per status.
    pub by_status: BTreeMap<String, usize>,
    /// Rows per reason (rejections and duplicates; `decode: ...` counted as `decode`).
    pub by_reason: BTreeMap<String, usize>,
    /// Files taken from an earlier run's journal instead of processed again.
    pub resumed: usize,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Files per second.
    pub files_per_second: f64,
    /// Mean and std of the kept set.
    pub stats: Option<DatasetStats>,
    /// The input folder (absolute when it could be resolved), for the report page's
    /// thumbnails of rejected and duplicate sources.
    pub input: Option<std::path::PathBuf>,
    /// The report page written (`OUT/report.html`), if it could be.
    #[serde(skip)]
    pub page: Result<std::path::PathBuf, String>,
}

impl PrepReport {
    pub(super) fn new(outcome: &Outcome, files: usize, resumed: usize, took: Duration) -> Self {
        let mut by_status = BTreeMap::new();
        let mut by_reason = BTreeMap::new();
        let rows = outcome.records.len();
        for i in 0..rows {
            let (status, reason) = outcome.status(i);
            *by_status.entry(status.to_string()).or_default() += 1;
            if !reason.is_empty() {
                let key = reason.split(':').next().unwrap_or("").trim().to_string();
                *by_reason.entry(key).or_default() += 1;
            }
        }
        let seconds = took.as_secs_f64();
        PrepReport {
            files,
            rows,
            by_status,
            by_reason,
            resumed,
            seconds,
            files_per_second: files as f64 / seconds.max(1e-9),
            stats: None,
            input: None,
            page: Err("not written yet".into()),
        }
    }

    /// Rows with this status.
    pub fn count(&self, status: Status) -> usize {
        self.by_status
            .get(&status.to_string())
            .copied()
            .unwrap_or(0)
    }
}

impl fmt::Display for PrepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} files: {} kept, {} duplicate, {} rejected ({} resumed) in {:.1} s, {:.0} files/s",
            self.files,
            self.count(Status::Kept),
            self.count(Status::Duplicate),
            self.count(Status::Rejected),
            self.resumed,
            self.seconds,
            self.files_per_second
        )?;
        for (reason, n) in &self.by_reason {
            writeln!(f, "  {reason:<16} {n}")?;
        }
        Ok(())
    }
}

/// Writes the manifest, `stats.json` and `report.json` atomically.
pub(super) fn write_all(
    out: &Path,
    outcome: &Outcome,
    report: &PrepReport,
) -> Result<(), PrepError> {
    let path = out.join(manifest::MANIFEST_FILE);
    manifest::write(&path, outcome.rows()).map_err(out_err(&path))?;
    if let Some(stats) = &report.stats {
        let path = out.join("stats.json");
        crate::atomic::write_json(&path, stats).map_err(out_err(&path))?;
    }
    let path = out.join("report.json");
    crate::atomic::write_json(&path, report).map_err(out_err(&path))
}
