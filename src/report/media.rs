//! Images for the pages: files inlined as PNG data URIs, thumbnails of source images,
//! and rows cut out of the training sample grids.

use super::html::png_uri;
use super::plot::encode;
use image::{imageops, RgbImage};
use std::path::Path;

/// A PNG file as a data URI (other formats are decoded and re-encoded); `None` when the
/// file is missing or cannot be decoded.
pub fn file_uri(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(png_uri(&bytes));
    }
    let img = image::load_from_memory(&bytes).ok()?.to_rgb8();
    Some(png_uri(&encode(&img)))
}

// A page's limits on a source it shows (a rejected source may be a video or a
// decompression bomb): 64 MiB read at most, 8192 px a side and 256 MiB decoded. Files
// are read by prep's reader: no FIFO (whose open waits) nor device (/dev/zero never
// ends) is read.
const MAX_BYTES: u64 = 64 << 20;
const MAX_SIDE: u32 = 8192;
const MAX_ALLOC: u64 = 256 << 20;

/// A thumbnail (longest side at most `side` px) of any decodable image file; `None` when
/// it cannot be read or decoded (a truncated file, not an image) or is over the limits
/// above.
pub fn thumb_uri(path: &Path, side: u32) -> Option<String> {
    let (bytes, _) = crate::prep::scan::read_file(path, MAX_BYTES).ok()?;
    let mut reader = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .ok()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let img = reader.decode().ok()?;
    let img = if img.width() > side || img.height() > side {
        img.thumbnail(side, side)
    } else {
        img
    };
    Some(png_uri(&encode(&img.to_rgb8())))
}

/// A source image as prep decoded it (by content, EXIF orientation applied, so that a
/// crop box of the manifest cuts the pixels prep cut), under the limits above; `None`
/// where prep's decoder refuses it.
pub fn decode_as_prep(path: &Path) -> Option<RgbImage> {
    use crate::prep::scan;
    let (bytes, _) = scan::read_file(path, MAX_BYTES).ok()?;
    let spec = scan::DecodeSpec {
        max_side: MAX_SIDE,
        max_alloc: MAX_ALLOC,
        ..Default::default()
    };
    let hint = scan::unsigned_format(path);
    scan::decode_bytes_hinted(&bytes, hint, &spec)
        .ok()
        .map(|d| d.rgb)
}

/// An RGB image as a PNG data URI.
pub fn image_uri(img: &RgbImage) -> String {
    png_uri(&encode(img))
}

/// The geometry of a sample grid written by the trainer: `rows` rows of `side` px images,
/// 2 px apart (see `gan::monitor::grid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridShape {
    /// Rows of the grid.
    pub rows: u32,
    /// Image side in pixels.
    pub side: u32,
}

const PAD: u32 = 2;

impl GridShape {
    /// Whether an image of this height has this shape.
    pub fn fits(&self, height: u32) -> bool {
        self.rows * (self.side + PAD) + PAD == height
    }

    /// Row `r` of a grid image (with its padding).
    pub fn row(&self, grid: &RgbImage, r: u32) -> Option<RgbImage> {
        if r >= self.rows || !self.fits(grid.height()) {
            return None;
        }
        let y = r * (self.side + PAD);
        Some(imageops::crop_imm(grid, 0, y, grid.width(), self.side + 2 * PAD).to_image())
    }
}

/// Sample grids `samples/step-NNNNNNNN.png` of a run folder, sorted by step.
pub fn step_grids(run: &Path) -> Vec<(u64, std::path::PathBuf)> {
    let mut v: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(run.join("samples"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name
                .strip_prefix("step-")?
                .strip_suffix(".png")?
                .parse()
                .ok()?;
            Some((step, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// At most `k` items spread evenly over `v`, always keeping the first and the last.
pub fn spread<T: Clone>(v: &[T], k: usize) -> Vec<T> {
    if v.len() <= k || k < 2 {
        return v.iter().take(k.max(v.len().min(1))).cloned().collect();
    }
    (0..k)
        .map(|i| v[i * (v.len() - 1) / (k - 1)].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_cut_from_grids() {
        let g = GridShape { rows: 3, side: 4 };
        let img = RgbImage::new(8 * 6 + 2, 3 * 6 + 2);
        assert!(g.fits(img.height()));
        let r = g.row(&img, 2).unwrap();
        assert_eq!(r.dimensions(), (50, 8));
        assert!(g.row(&img, 3).is_none());
        assert!(GridShape { rows: 2, side: 4 }.row(&img, 0).is_none());
    }

    #[test]
    fn spread_keeps_ends() {
        let v: Vec<u32> = (0..10).collect();
        assert_eq!(spread(&v, 4), vec![0, 3, 6, 9]);
        assert_eq!(spread(&v[..2], 4), vec![0, 1]);
        assert_eq!(spread::<u32>(&[], 4), Vec::<u32>::new());
    }
}
