//! Output images: their names under `OUT/images/` and their encoding (PNG or JPEG), each
//! written atomically.

use super::settings::OutputFormat;
use image::{ImageEncoder, RgbImage};
use std::path::Path;

pub(super) fn ext(format: OutputFormat) -> &'static str {
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

/// Encodes and writes one output image atomically.
pub fn save(path: &Path, img: &RgbImage, format: OutputFormat) -> std::io::Result<()> {
    crate::atomic::write(path, &encode(img, format)?)
}

/// One output image's file bytes.
pub fn encode(img: &RgbImage, format: OutputFormat) -> std::io::Result<Vec<u8>> {
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
    Ok(buf.into_inner())
}
