//! MNIST's IDX files (optionally gzipped) as a [`Dataset`] of grey digits.

use super::Dataset;
use crate::gan::{io_err, GanError};
use image::DynamicImage;
use std::io::Read;
use std::path::{Path, PathBuf};

fn read_gz(path: &Path) -> Result<Vec<u8>, GanError> {
    let raw = std::fs::read(path).map_err(io_err(path))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(io_err(path))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn find_idx(dir: &Path, kind: &str) -> Result<PathBuf, GanError> {
    let mut hits: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(kind))
        })
        .collect();
    hits.sort();
    hits.into_iter().next().ok_or_else(|| GanError::Data {
        path: dir.to_path_buf(),
        reason: format!("no *{kind}* IDX file"),
    })
}

/// MNIST IDX files (optionally gzipped): `*images-idx3-ubyte*` and `*labels-idx1-ubyte*`.
/// One attribute, `digit`, with values `0`..`9`.
pub fn load_mnist(dir: &Path, size: u32) -> Result<Dataset, GanError> {
    let (ip, lp) = (find_idx(dir, "images-idx3")?, find_idx(dir, "labels-idx1")?);
    let (img, lab) = (read_gz(&ip)?, read_gz(&lp)?);
    let be = |b: &[u8], i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    let bad = |p: &Path, r: &str| GanError::Data {
        path: p.to_path_buf(),
        reason: r.into(),
    };
    if img.len() < 16 || be(&img, 0) != 2051 {
        return Err(bad(&ip, "not an IDX3 image file"));
    }
    if lab.len() < 8 || be(&lab, 0) != 2049 {
        return Err(bad(&lp, "not an IDX1 label file"));
    }
    let (n, h, w) = (be(&img, 4), be(&img, 8), be(&img, 12));
    if img.len() < 16 + n * h * w || lab.len() < 8 + n {
        return Err(bad(&ip, "truncated IDX file"));
    }
    let images: Vec<(DynamicImage, Vec<String>)> = (0..n)
        .map(|i| {
            let px = img[16 + i * h * w..16 + (i + 1) * h * w].to_vec();
            let g = image::GrayImage::from_raw(w as u32, h as u32, px).unwrap_or_default();
            (DynamicImage::ImageLuma8(g), vec![lab[8 + i].to_string()])
        })
        .collect();
    Ok(Dataset::from_images(
        images,
        &["digit".to_string()],
        size,
        1,
    ))
}
