//! `OUT/manifest.csv`: one row per source image (or per face, `source#k`), saying what
//! prep did with it. Later stages read the kept rows to find the dataset's images.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// File name of the manifest inside a prepared dataset folder.
pub const MANIFEST_FILE: &str = "manifest.csv";

/// What became of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Written to `OUT/images`.
    Kept,
    /// An exact or near duplicate of a kept image (`dup_of` names it).
    Duplicate,
    /// Could not be decoded, failed a quality check or had no face (`reason` says which).
    Rejected,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Kept => "kept",
            Status::Duplicate => "duplicate",
            Status::Rejected => "rejected",
        })
    }
}

/// One manifest row. Paths use `/` and are relative: `source` to INPUT, `output` to OUT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRow {
    /// Source path relative to INPUT; `path#k` for the k-th face of a multi-face image.
    pub source: String,
    /// Output image relative to OUT (`images/...`), empty unless kept.
    pub output: String,
    /// What happened.
    pub status: Status,
    /// Why (`decode: ...`, `too_small`, `blurry`, `exact_file`, `exact_pixels`, `near`, ...).
    pub reason: String,
    /// The kept source this one duplicates, empty otherwise.
    pub dup_of: String,
    /// Crop box in source pixels (after EXIF orientation).
    pub crop_x: Option<u32>,
    /// Crop box top.
    pub crop_y: Option<u32>,
    /// Crop box width.
    pub crop_w: Option<u32>,
    /// Crop box height.
    pub crop_h: Option<u32>,
    /// Decoded source width in pixels.
    pub src_w: Option<u32>,
    /// Decoded source height in pixels.
    pub src_h: Option<u32>,
    /// Source file size in bytes.
    pub bytes: Option<u64>,
    /// 64-bit perceptual hash of the output, hex.
    pub phash: String,
    /// 64-bit difference hash of the output, hex.
    pub dhash: String,
}

/// The manifest's columns, [`ManifestRow`]'s fields in order: csv writes the header with
/// the first row, so a run with no rows writes these itself (a file with no header has no
/// columns for pandas, and is not recognisably prep's).
pub const COLUMNS: [&str; 14] = [
    "source", "output", "status", "reason", "dup_of", "crop_x", "crop_y", "crop_w", "crop_h",
    "src_w", "src_h", "bytes", "phash", "dhash",
];

/// Reads a manifest file.
pub fn read(path: &Path) -> Result<Vec<ManifestRow>, csv::Error> {
    let mut rdr = csv::Reader::from_path(path)?;
    rdr.deserialize().collect()
}

/// Visits the rows of a manifest file one at a time (nothing held beyond the row).
pub fn for_each(path: &Path, mut f: impl FnMut(ManifestRow)) -> Result<(), csv::Error> {
    let mut rdr = csv::Reader::from_path(path)?;
    for row in rdr.deserialize() {
        f(row?);
    }
    Ok(())
}

/// Writes a manifest atomically (rows as they come: a caller need not hold them all).
pub fn write<R: std::borrow::Borrow<ManifestRow>>(
    path: &Path,
    rows: impl IntoIterator<Item = R>,
) -> std::io::Result<()> {
    crate::atomic::write_with(path, |w| {
        let mut wtr = csv::Writer::from_writer(w);
        for row in rows {
            wtr.serialize(row.borrow()).map_err(std::io::Error::other)?;
        }
        wtr.flush()
    })
}

/// Whether `dir` holds a prep run's journal (`.facesynth/`) but no manifest: a prep into
/// it is running or was stopped, and its `images/` may hold two settings' outputs (a
/// rerun with other settings retracts the old manifest before rewriting them).
pub fn prep_unfinished(dir: &Path) -> bool {
    !dir.join(MANIFEST_FILE).is_file() && dir.join(".facesynth").is_dir()
}

/// An error where a prep into `dir` has not finished ([`prep_unfinished`]): every reader
/// of a dataset folder (listing, labels, training, evaluation, another prep) asks first.
pub fn refuse_unfinished(dir: &Path) -> std::io::Result<()> {
    match prep_unfinished(dir) {
        true => Err(std::io::Error::other(format!(
            "a prep into {} has not finished (no {MANIFEST_FILE} beside .facesynth/): run it \
             again to finish it",
            dir.display()
        ))),
        false => Ok(()),
    }
}

/// The kept images of a prepared dataset folder, as paths relative to `dir`, in
/// manifest order. Without a manifest, every image file under `dir/images` is taken,
/// unless a prep into `dir` has not finished ([`refuse_unfinished`]).
pub fn kept_images(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    refuse_unfinished(dir)?;
    let manifest = dir.join(MANIFEST_FILE);
    if manifest.is_file() {
        let rows = read(&manifest).map_err(std::io::Error::other)?;
        return Ok(rows
            .into_iter()
            .filter(|r| r.status == Status::Kept && !r.output.is_empty())
            .map(|r| PathBuf::from(r.output))
            .collect());
    }
    let images = dir.join("images");
    let mut out = Vec::new();
    for p in super::walk::image_files(&images)? {
        if let Ok(rel) = p.strip_prefix(dir) {
            out.push(rel.to_path_buf());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_the_header_a_row_writes() {
        let row = ManifestRow {
            source: "a.png".into(),
            output: "images/a.png".into(),
            status: Status::Kept,
            reason: String::new(),
            dup_of: String::new(),
            crop_x: Some(0),
            crop_y: Some(0),
            crop_w: Some(8),
            crop_h: Some(8),
            src_w: Some(8),
            src_h: Some(8),
            bytes: Some(10),
            phash: String::new(),
            dhash: String::new(),
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(&row).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), COLUMNS.join(","));
    }
}
