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
    // A file and its gzipped copy (torchvision's `raw/` keeps both) are one set: the
    // uncompressed one is read.
    let name = |p: &PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let set_of = |p: &PathBuf| name(p).trim_end_matches(".gz").to_string();
    hits.sort_by_key(|p| (set_of(p), name(p).ends_with(".gz")));
    hits.dedup_by_key(|p| set_of(p));
    // The official download holds `train-*` (60,000) and `t10k-*` (10,000): the first
    // name in order was t10k's, and training ran on the test set without a word.
    if hits.len() > 1 {
        let train: Vec<&PathBuf> = hits
            .iter()
            .filter(|p| name(p).starts_with("train"))
            .collect();
        if let [one] = train[..] {
            return Ok(one.clone());
        }
        let names: Vec<String> = hits.iter().map(name).collect();
        return Err(GanError::Data {
            path: dir.to_path_buf(),
            reason: format!(
                "{} *{kind}* IDX files ({}): keep one set in the folder, or name the \
                 training set's files train-*",
                hits.len(),
                names.join(", ")
            ),
        });
    }
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
    // Checked: a damaged header's count times its sides wrapped past the length check
    // and the slicing below panicked.
    let bytes = n.checked_mul(h).and_then(|x| x.checked_mul(w));
    if h == 0 || w == 0 {
        return Err(bad(&ip, &format!("the header says {h}x{w} px images")));
    }
    if bytes.is_none_or(|b| img.len() - 16 < b) {
        return Err(bad(
            &ip,
            &format!("truncated IDX file: the header says {n} images of {h}x{w} px"),
        ));
    }
    let labels = be(&lab, 4);
    if labels != n {
        return Err(bad(
            &lp,
            &format!("{labels} labels for {n} images in {}", ip.display()),
        ));
    }
    if lab.len() - 8 < n {
        return Err(bad(
            &lp,
            &format!("truncated IDX file: the header says {n} labels"),
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An IDX header: magic, then the sizes, big-endian.
    fn idx(magic: u32, sizes: &[u32], body: usize) -> Vec<u8> {
        let mut b: Vec<u8> = std::iter::once(magic)
            .chain(sizes.iter().copied())
            .flat_map(u32::to_be_bytes)
            .collect();
        b.resize(b.len() + body, 3);
        b
    }

    fn load(images: Vec<u8>, labels: Vec<u8>) -> Result<Dataset, GanError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), images).unwrap();
        std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), labels).unwrap();
        load_mnist(dir.path(), 16)
    }

    fn reason_and_file(e: GanError) -> (String, String) {
        match e {
            GanError::Data { path, reason } => (reason, path.display().to_string()),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn reads_a_small_pair() {
        let ds = load(idx(2051, &[3, 4, 4], 48), idx(2049, &[3], 3)).unwrap();
        assert_eq!(ds.len(), 3);
    }

    /// Regression: beside the official training set, the test set's `t10k-*` files came
    /// first in name order and were trained on.
    #[test]
    fn the_training_set_is_read_beside_the_test_set() {
        let dir = tempfile::tempdir().unwrap();
        let put = |name: &str, b: Vec<u8>| std::fs::write(dir.path().join(name), b).unwrap();
        put("t10k-images-idx3-ubyte", idx(2051, &[2, 4, 4], 32));
        put("t10k-labels-idx1-ubyte", idx(2049, &[2], 2));
        put("train-images-idx3-ubyte.gz", idx(2051, &[5, 4, 4], 80));
        put("train-labels-idx1-ubyte.gz", idx(2049, &[5], 5));
        assert_eq!(load_mnist(dir.path(), 16).unwrap().len(), 5);
        // torchvision's raw/ keeps each file beside its .gz: one set, read uncompressed.
        put("train-images-idx3-ubyte", idx(2051, &[5, 4, 4], 80));
        put("train-labels-idx1-ubyte", idx(2049, &[5], 5));
        assert_eq!(load_mnist(dir.path(), 16).unwrap().len(), 5);
        std::fs::remove_file(dir.path().join("train-images-idx3-ubyte")).unwrap();
        // Two sets, neither named train-*: which to read is the user's to say.
        std::fs::rename(
            dir.path().join("train-images-idx3-ubyte.gz"),
            dir.path().join("other-images-idx3-ubyte"),
        )
        .unwrap();
        let (reason, _) = reason_and_file(load_mnist(dir.path(), 16).unwrap_err());
        assert!(
            reason.contains("2 *images-idx3* IDX files (other-images-idx3-ubyte, t10k-images"),
            "{reason}"
        );
    }

    /// Regression: a labels file with fewer labels than images was called a truncated
    /// images file.
    #[test]
    fn a_short_labels_file_is_named() {
        let (reason, file) =
            reason_and_file(load(idx(2051, &[3, 4, 4], 48), idx(2049, &[2], 2)).unwrap_err());
        assert!(file.ends_with("labels-idx1-ubyte"), "{file}: {reason}");
        assert!(reason.contains("2 labels for 3 images"), "{reason}");
        let (reason, file) =
            reason_and_file(load(idx(2051, &[3, 4, 4], 48), idx(2049, &[3], 1)).unwrap_err());
        assert!(
            file.ends_with("labels-idx1-ubyte") && reason.contains("truncated"),
            "{reason}"
        );
    }

    /// Regression: sizes whose product wraps passed the length check, then the slicing
    /// panicked.
    #[test]
    fn a_header_whose_sizes_overflow_is_an_error() {
        let e = load(
            idx(2051, &[u32::MAX, u32::MAX, u32::MAX], 48),
            idx(2049, &[3], 3),
        )
        .unwrap_err();
        let (reason, file) = reason_and_file(e);
        assert!(
            file.ends_with("images-idx3-ubyte") && reason.contains("truncated"),
            "{reason}"
        );
    }
}
