//! Scan: read a file, identify its format by content (not extension), decode it under
//! limits that stop decompression bombs, apply its EXIF orientation, and bring every
//! colour model (grey, 16-bit, alpha, CMYK, palette) to RGB8.

use image::{DynamicImage, ImageDecoder, ImageReader, Limits, Rgb, RgbImage};
use std::io::Cursor;
use std::path::Path;
use xxhash_rust::xxh3::xxh3_128;

/// Decoder limits: the largest image facesynth will decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeSpec {
    /// Largest width or height in pixels (default 16384).
    pub max_side: u32,
    /// Largest decoder allocation in bytes (default 512 MiB).
    pub max_alloc: u64,
    /// Colour that transparent pixels are composited onto (default white).
    pub background: [u8; 3],
}

impl Default for DecodeSpec {
    fn default() -> Self {
        DecodeSpec {
            max_side: 16384,
            max_alloc: 512 << 20,
            background: [255, 255, 255],
        }
    }
}

/// A decoded source image.
#[derive(Debug)]
pub struct Decoded {
    /// The pixels, oriented, as RGB8.
    pub rgb: RgbImage,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Hash of the file's bytes (exact copies).
    pub file_hash: u128,
    /// Hash of the decoded pixels and size (same pixels in another container).
    pub pixel_hash: u128,
}

/// Reads and decodes `path`. The error is the manifest's reason text (`decode: ...`).
pub fn decode_file(path: &Path, spec: &DecodeSpec) -> Result<Decoded, String> {
    let (data, _) = read_file(path, spec.max_alloc).map_err(|e| format!("read: {e}"))?;
    decode_bytes(&data, spec)
}

/// Reads `path` whole, with the metadata of the file actually read (`fstat` on the open
/// file: the same system calls as `std::fs::read`, and no second lookup of the path to
/// learn its size and time). A file over `max_bytes` (a video, a disk image) is an error
/// before anything is read: each worker holds its file whole, and an image that large
/// would pass the decoder's allocation limit anyway.
pub fn read_file(path: &Path, max_bytes: u64) -> std::io::Result<(Vec<u8>, std::fs::Metadata)> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // A FIFO's open would wait for a writer: opened without waiting, it is then refused
    // as not a regular file, as a socket or a device (a link to /dev/zero) is.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let mut file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, socket or device)",
        ));
    }
    if meta.len() > max_bytes {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!(
                "{} MiB, over the {} MiB limit of an input file",
                meta.len() >> 20,
                max_bytes >> 20
            ),
        ));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut data)?;
    Ok((data, meta))
}

/// Decodes an in-memory file.
pub fn decode_bytes(data: &[u8], spec: &DecodeSpec) -> Result<Decoded, String> {
    decode_bytes_hinted(data, None, spec)
}

/// The format `path`'s extension names where that format has no signature to guess it
/// from the content by (TGA; every other format is told by its bytes, whatever the
/// name): a `.tga` file was refused as "not a known image format".
pub fn unsigned_format(path: &Path) -> Option<image::ImageFormat> {
    match image::ImageFormat::from_path(path).ok()? {
        image::ImageFormat::Tga => Some(image::ImageFormat::Tga),
        _ => None,
    }
}

/// [`decode_bytes`], taking `hint` ([`unsigned_format`]) where the content names no
/// format.
pub fn decode_bytes_hinted(
    data: &[u8],
    hint: Option<image::ImageFormat>,
    spec: &DecodeSpec,
) -> Result<Decoded, String> {
    match decode_once(data, hint, spec) {
        // A PNG cut after its image data, before the closing IEND chunk (some writers and
        // interrupted copies leave it so): PIL decodes it, and so does prep, with the
        // chunk put back. Image data cut short still fails.
        Err(e) if data.starts_with(PNG_SIGNATURE) && !data.ends_with(&PNG_IEND[4..]) => {
            let mut whole = data.to_vec();
            whole.extend_from_slice(&PNG_IEND);
            let mut d = decode_once(&whole, hint, spec).map_err(|_| e)?;
            d.bytes = data.len() as u64;
            d.file_hash = xxh3_128(data);
            Ok(d)
        }
        other => other,
    }
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// An empty IEND chunk: length 0, type, CRC.
const PNG_IEND: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82];

fn decode_once(
    data: &[u8],
    hint: Option<image::ImageFormat>,
    spec: &DecodeSpec,
) -> Result<Decoded, String> {
    if data.is_empty() {
        return Err("decode: empty file".into());
    }
    let mut reader = ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .map_err(|e| format!("decode: {e}"))?;
    if let (None, Some(format)) = (reader.format(), hint) {
        reader.set_format(format);
    }
    match reader.format() {
        None => return Err("decode: not a known image format".into()),
        // The JPEG decoder fills a truncated scan with grey instead of failing.
        Some(image::ImageFormat::Jpeg) if !jpeg_complete(data) => {
            return Err("decode: truncated JPEG (no end-of-image marker after the scan)".into())
        }
        _ => {}
    }
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        if let Some(img) = decode_jpeg(data, spec)? {
            return Ok(decoded(img, data, spec));
        }
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(spec.max_side);
    limits.max_image_height = Some(spec.max_side);
    limits.max_alloc = Some(spec.max_alloc);
    reader.limits(limits);
    // The library's own text ("Image size exceeds limit") names no limit.
    let limit_err = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => format!(
            "decode: larger than the decode limits (a side over {} px, [prep.decode] \
             max_side; or over {} MiB of pixels)",
            spec.max_side,
            spec.max_alloc >> 20
        ),
        e => format!("decode: {e}"),
    };
    let mut decoder = reader.into_decoder().map_err(limit_err)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err("decode: zero-sized image".into());
    }
    // Every image becomes RGB8: the limit holds for that copy, not only for the decoder's
    // own (a 15,000 px square grey PNG passed at 225 MB and peaked at 1.56 GB converted).
    if (w as u64) * (h as u64) * 3 > spec.max_alloc {
        return Err(too_large(w, h, spec));
    }
    let mut img = DynamicImage::from_decoder(decoder).map_err(limit_err)?;
    img.apply_orientation(orientation);
    Ok(decoded(img, data, spec))
}

/// The RGB8 pixels of an oriented image and the hashes of them and of the file.
fn decoded(img: DynamicImage, data: &[u8], spec: &DecodeSpec) -> Decoded {
    let rgb = to_rgb8(img, spec.background);
    let pixel_hash = pixel_hash(&rgb);
    Decoded {
        rgb,
        bytes: data.len() as u64,
        file_hash: xxh3_128(data),
        pixel_hash,
    }
}

/// The reason of an image whose RGB8 pixels would pass the decoder limit.
fn too_large(w: u32, h: u32, spec: &DecodeSpec) -> String {
    format!(
        "decode: {w}x{h} needs more than the {} MiB decoder limit as RGB",
        spec.max_alloc >> 20
    )
}

/// A colour JPEG (YCbCr or RGB) straight through zune-jpeg, the decoder `image` wraps,
/// oriented; `None` for the other colour models (grey, CMYK, YCCK), which take `image`'s
/// path. `image`'s wrapper copies the file and parses its headers three times (to open
/// it, for the orientation, and to decode): on a 96 px face, a ninth of the decode
/// (83 -> 74 us, BENCHMARKS.md, prep, session 19).
/// The pixels are the same: the same decoder, the same output colour space.
fn decode_jpeg(data: &[u8], spec: &DecodeSpec) -> Result<Option<DynamicImage>, String> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let options = DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(spec.max_side as usize)
        .set_max_height(spec.max_side as usize)
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), options);
    decoder
        .decode_headers()
        .map_err(|e| format!("decode: {e}"))?;
    if !matches!(
        decoder.input_colorspace(),
        Some(ColorSpace::YCbCr | ColorSpace::RGB)
    ) {
        return Ok(None);
    }
    let (w, h) = decoder.dimensions().unwrap_or((0, 0));
    if w == 0 || h == 0 {
        return Err("decode: zero-sized image".into());
    }
    if (w as u64) * (h as u64) * 3 > spec.max_alloc {
        return Err(too_large(w as u32, h as u32, spec));
    }
    let orientation = decoder
        .exif()
        .and_then(|exif| image::metadata::Orientation::from_exif_chunk(exif))
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let pixels = decoder.decode().map_err(|e| format!("decode: {e}"))?;
    let rgb = RgbImage::from_raw(w as u32, h as u32, pixels)
        .ok_or_else(|| "decode: fewer pixels than the header declares".to_string())?;
    let mut img = DynamicImage::ImageRgb8(rgb);
    img.apply_orientation(orientation);
    Ok(Some(img))
}

/// Whether a JPEG stream runs to its end-of-image marker (FF D9), as PIL's "image file
/// is truncated" asks: the JPEG decoder fills a cut scan with grey instead of failing.
/// The stream's segments are walked from the start (ITU T.81, B.1): each marker segment
/// skipped by its length (an EXIF thumbnail's own FF D9 inside APP1 with it), each scan's
/// entropy-coded data read up to the next marker that is not a restart (0xFF bytes there
/// are stuffed with 00), until the end-of-image. Bytes after it (a phone's motion photo
/// appends a video) are not looked at. A stream whose structure the walk cannot follow is
/// judged by its tail instead ([`jpeg_tail_complete`]), and the decoder decides.
fn jpeg_complete(data: &[u8]) -> bool {
    match jpeg_walk(data) {
        Some(complete) => complete,
        None => jpeg_tail_complete(data),
    }
}

/// [`jpeg_complete`]'s walk: `Some(true)` at the end-of-image, `Some(false)` when the
/// data ends first, `None` when the bytes are not the segments expected.
fn jpeg_walk(data: &[u8]) -> Option<bool> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2;
    loop {
        if i >= data.len() {
            return Some(false);
        }
        if data[i] != 0xFF {
            return None;
        }
        // Fill bytes: any number of 0xFF before a marker.
        while i + 1 < data.len() && data[i + 1] == 0xFF {
            i += 1;
        }
        let Some(&marker) = data.get(i + 1) else {
            return Some(false);
        };
        match marker {
            0xD9 => return Some(true),
            // Markers without a length: restarts, TEM, a stray start-of-image.
            0xD0..=0xD8 | 0x01 => {
                i += 2;
                continue;
            }
            0x00 => return None,
            _ => {}
        }
        let Some(len) = data.get(i + 2..i + 4) else {
            return Some(false);
        };
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        if len < 2 {
            return None;
        }
        i += 2 + len;
        if i > data.len() {
            return Some(false);
        }
        if marker == 0xDA {
            // Entropy-coded data up to the next marker other than a restart or a stuffed 0xFF.
            loop {
                let Some(ff) = memchr::memchr(0xFF, &data[i..]) else {
                    return Some(false);
                };
                i += ff;
                match data.get(i + 1) {
                    None => return Some(false),
                    Some(0x00 | 0xD0..=0xD7) => i += 2,
                    Some(0xFF) => i += 1,
                    Some(_) => break,
                }
            }
        }
    }
}

/// Whether an end-of-image marker follows the last start-of-scan, searched from the tail
/// (a cut file has none after its scan); for streams [`jpeg_walk`] cannot follow.
fn jpeg_tail_complete(data: &[u8]) -> bool {
    let is = |m: u8| move |w: &[u8]| w[0] == 0xFF && w[1] == m;
    match data.windows(2).rposition(is(0xD9)) {
        Some(eoi) => !data[eoi..].windows(2).any(is(0xDA)),
        None => false,
    }
}

/// Hash of an image's size and RGB8 pixels.
pub fn pixel_hash(rgb: &RgbImage) -> u128 {
    // Streamed: the same digest as hashing the bytes joined, without copying the image.
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    h.update(&rgb.width().to_le_bytes());
    h.update(&rgb.height().to_le_bytes());
    h.update(rgb.as_raw());
    h.digest128()
}

/// Any decoded image to RGB8: 16-bit and float scaled down, alpha composited onto
/// `background` (straight alpha, as PNG and WebP store it).
pub fn to_rgb8(img: DynamicImage, background: [u8; 3]) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = p[3] as u32;
        let mut c = [0u8; 3];
        for k in 0..3 {
            c[k] = ((p[k] as u32 * a + background[k] as u32 * (255 - a) + 127) / 255) as u8;
        }
        *o = Rgb(c);
    }
    out
}

/// A minimal little-endian TIFF/EXIF block with one Orientation (0x0112) entry, for tests
/// of oriented sources.
#[cfg(test)]
pub(crate) fn exif_orientation(v: u16) -> Vec<u8> {
    let mut e = b"II*\0".to_vec();
    e.extend_from_slice(&8u32.to_le_bytes());
    e.extend_from_slice(&1u16.to_le_bytes());
    e.extend_from_slice(&0x0112u16.to_le_bytes());
    e.extend_from_slice(&3u16.to_le_bytes());
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&v.to_le_bytes());
    e.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Rgb, Rgba, RgbaImage};

    fn encode(img: &DynamicImage, f: ImageFormat) -> Vec<u8> {
        let mut c = Cursor::new(Vec::new());
        img.write_to(&mut c, f).unwrap();
        c.into_inner()
    }

    /// Regression: TGA has no signature, and a `.tga` file was refused as "not a known
    /// image format" though the decoder is built in.
    #[test]
    fn a_tga_file_decodes_by_its_extension() {
        let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(20, 12, |x, y| {
            image::Rgb([x as u8 * 10, y as u8 * 20, 90])
        }));
        let tga = encode(&img, ImageFormat::Tga);
        assert!(decode_bytes(&tga, &DecodeSpec::default()).is_err());
        let hint = unsigned_format(Path::new("a/face.TGA"));
        let d = decode_bytes_hinted(&tga, hint, &DecodeSpec::default()).unwrap();
        assert_eq!(d.rgb, img.to_rgb8());
        assert_eq!(unsigned_format(Path::new("face.png")), None);
    }

    #[test]
    fn pixel_hash_is_the_hash_of_size_and_pixels_joined() {
        let img = RgbImage::from_fn(7, 5, |x, y| Rgb([x as u8, y as u8, 9]));
        let mut joined = 7u32.to_le_bytes().to_vec();
        joined.extend(5u32.to_le_bytes());
        joined.extend(img.as_raw());
        assert_eq!(pixel_hash(&img), xxh3_128(&joined));
    }

    #[test]
    fn identifies_by_content_not_extension() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(5, 4, Rgb([1, 2, 3])));
        let d = decode_bytes(&encode(&img, ImageFormat::Png), &DecodeSpec::default()).unwrap();
        assert_eq!(d.rgb.dimensions(), (5, 4));
        assert_eq!(d.rgb.get_pixel(0, 0), &Rgb([1, 2, 3]));
    }

    #[test]
    fn alpha_is_composited_on_background() {
        let mut img = RgbaImage::from_pixel(2, 1, Rgba([200, 0, 0, 0]));
        img.put_pixel(1, 0, Rgba([200, 0, 0, 255]));
        let rgb = to_rgb8(DynamicImage::ImageRgba8(img), [10, 20, 30]);
        assert_eq!(rgb.get_pixel(0, 0), &Rgb([10, 20, 30]));
        assert_eq!(rgb.get_pixel(1, 0), &Rgb([200, 0, 0]));
    }

    #[test]
    fn png_resave_has_same_pixel_hash() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(9, 7, |x, y| {
            Rgb([x as u8 * 20, y as u8 * 30, 7])
        }));
        let a = decode_bytes(&encode(&img, ImageFormat::Png), &DecodeSpec::default()).unwrap();
        let b = decode_bytes(&encode(&img, ImageFormat::Bmp), &DecodeSpec::default()).unwrap();
        assert_eq!(a.pixel_hash, b.pixel_hash);
        assert_ne!(a.file_hash, b.file_hash);
    }

    #[test]
    fn exif_orientation_is_applied() {
        use image::ImageEncoder;
        let img = RgbImage::from_fn(20, 10, |x, _| {
            if x < 10 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let mut buf = Vec::new();
        let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 95);
        enc.set_exif_metadata(exif_orientation(6)).unwrap();
        enc.write_image(img.as_raw(), 20, 10, image::ExtendedColorType::Rgb8)
            .unwrap();
        let d = decode_bytes(&buf, &DecodeSpec::default()).unwrap();
        // Orientation 6: rotate 90 degrees clockwise, so the left (red) half goes on top.
        assert_eq!(d.rgb.dimensions(), (10, 20));
        assert!(d.rgb.get_pixel(5, 2)[0] > 200 && d.rgb.get_pixel(5, 17)[2] > 200);
    }

    #[test]
    fn a_jpeg_is_complete_when_an_end_of_image_follows_its_last_scan() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(16, 16, |x, y| {
            Rgb([(x * 16) as u8, (y * 16) as u8, 7])
        }));
        let whole = encode(&img, ImageFormat::Jpeg);
        assert!(jpeg_complete(&whole));
        assert!(!jpeg_complete(&whole[..whole.len() - 2]));
        assert!(!jpeg_complete(&whole[..whole.len() / 2]));
        // A thumbnail's end-of-image near the head does not complete a cut main image.
        let mut with_thumb = whole[..2].to_vec();
        with_thumb.extend_from_slice(&[0xFF, 0xE1, 0, 6, 0xFF, 0xD9]);
        with_thumb.extend_from_slice(&whole[2..whole.len() - 8]);
        assert!(!jpeg_complete(&with_thumb));
        assert!(!jpeg_complete(&[]));
        // A whole image with data appended (a motion photo's video) is complete, whatever
        // markers the appended bytes happen to hold; the same image cut is not.
        let mut appended = whole.clone();
        appended.extend_from_slice(&[0xFF, 0xD9, 0x12, 0xFF, 0xDA, 0, 8, 0xFF, 0xD8]);
        appended.extend((0..5000u32).map(|k| (k.wrapping_mul(2654435761) >> 13) as u8));
        assert_eq!(jpeg_walk(&appended), Some(true));
        assert!(jpeg_complete(&appended));
        assert_eq!(jpeg_walk(&whole[..whole.len() - 2]), Some(false));
        // A progressive JPEG's several scans are walked to the end.
        let prog = progressive_jpeg();
        assert_eq!(jpeg_walk(&prog), Some(true));
        assert_eq!(jpeg_walk(&prog[..prog.len() * 2 / 3]), Some(false));
    }

    /// A progressive JPEG from its segments: SOI, a DQT, SOF2, a DHT, two scans (one of
    /// them with a stuffed 0xFF and a restart marker in its data), EOI.
    fn progressive_jpeg() -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.extend_from_slice(&[0xFF, 0xDB, 0, 4, 0, 1]);
        v.extend_from_slice(&[0xFF, 0xC2, 0, 5, 8, 0, 16]);
        v.extend_from_slice(&[0xFF, 0xC4, 0, 3, 0]);
        v.extend_from_slice(&[0xFF, 0xDA, 0, 3, 1]);
        v.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0x78]);
        v.extend_from_slice(&[0xFF, 0xC4, 0, 3, 0]);
        v.extend_from_slice(&[0xFF, 0xDA, 0, 3, 2]);
        v.extend_from_slice(&[0x9A, 0xBC, 0xFF, 0x00, 0xDE]);
        v.extend_from_slice(&[0xFF, 0xD9]);
        v
    }

    #[test]
    fn jpegs_decode_as_image_decodes_them() {
        // A textured colour JPEG (zune-jpeg directly) and a grey one (image's path).
        let colour = DynamicImage::ImageRgb8(RgbImage::from_fn(37, 23, |x, y| {
            Rgb([(x * 7) as u8, (y * 11) as u8, ((x * y) % 256) as u8])
        }));
        let grey = DynamicImage::ImageLuma8(image::GrayImage::from_fn(17, 9, |x, y| {
            image::Luma([(x * 13 + y * 5) as u8])
        }));
        for img in [colour, grey] {
            let jpeg = encode(&img, ImageFormat::Jpeg);
            let ours = decode_bytes(&jpeg, &DecodeSpec::default()).unwrap();
            let theirs = image::load_from_memory(&jpeg).unwrap().into_rgb8();
            assert_eq!(ours.rgb, theirs);
        }
        // Past the side limit, a reason and no pixels.
        let wide = DynamicImage::ImageRgb8(RgbImage::new(300, 8));
        let spec = DecodeSpec {
            max_side: 256,
            ..Default::default()
        };
        let err = decode_bytes(&encode(&wide, ImageFormat::Jpeg), &spec).unwrap_err();
        assert!(err.starts_with("decode: ") && err.contains("256"), "{err}");
        // Regression: other formats gave the library's "Image size exceeds limit".
        let err = decode_bytes(&encode(&wide, ImageFormat::Png), &spec).unwrap_err();
        assert!(err.contains("max_side") && err.contains("256 px"), "{err}");
        let spec = DecodeSpec {
            max_alloc: 1000,
            ..Default::default()
        };
        let err = decode_bytes(&encode(&wide, ImageFormat::Jpeg), &spec).unwrap_err();
        assert!(err.contains("decoder limit"), "{err}");
        // A grey PNG within the limit as grey (600 bytes) but not as RGB (1,800).
        let grey = DynamicImage::ImageLuma8(image::GrayImage::new(300, 2));
        let err = decode_bytes(&encode(&grey, ImageFormat::Png), &spec).unwrap_err();
        assert!(err.contains("300x2 needs more than"), "{err}");
    }

    /// A PNG without its IEND chunk decodes (as PIL decodes it), to the same pixels and
    /// with the file's own hash; one cut inside its image data is still refused.
    #[test]
    fn a_png_without_iend_decodes_one_cut_short_does_not() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(40, 30, |x, y| {
            Rgb([(x * 6) as u8, (y * 8) as u8, ((x * y) % 256) as u8])
        }));
        let png = encode(&img, ImageFormat::Png);
        assert!(png.ends_with(&PNG_IEND));
        let spec = DecodeSpec::default();
        let whole = decode_bytes(&png, &spec).unwrap();
        let cut = &png[..png.len() - 12];
        let d = decode_bytes(cut, &spec).unwrap();
        assert_eq!(d.rgb, whole.rgb);
        assert_eq!((d.bytes, d.file_hash), (cut.len() as u64, xxh3_128(cut)));
        for keep in [png.len() - 40, png.len() / 2, 60] {
            assert!(decode_bytes(&png[..keep], &spec).is_err(), "{keep}");
        }
    }

    #[test]
    fn grey_16bit_and_palette_become_rgb8() {
        let spec = DecodeSpec::default();
        let grey = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(4, 4, image::Luma([77])));
        assert_eq!(
            decode_bytes(&encode(&grey, ImageFormat::Png), &spec)
                .unwrap()
                .rgb
                .get_pixel(1, 1),
            &Rgb([77, 77, 77])
        );
        let deep = DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(
            4,
            4,
            image::Rgb([65535u16, 0, 32896]),
        ));
        assert_eq!(
            decode_bytes(&encode(&deep, ImageFormat::Png), &spec)
                .unwrap()
                .rgb
                .get_pixel(0, 0),
            &Rgb([255, 0, 128])
        );
        let rgba = DynamicImage::ImageRgba8(RgbaImage::from_pixel(4, 4, Rgba([0, 200, 0, 255])));
        let gif = decode_bytes(&encode(&rgba, ImageFormat::Gif), &spec).unwrap();
        assert_eq!(gif.rgb.get_pixel(2, 2), &Rgb([0, 200, 0]));
    }

    #[test]
    fn garbage_and_empty_are_errors() {
        let spec = DecodeSpec::default();
        assert!(decode_bytes(b"", &spec).unwrap_err().contains("empty"));
        assert!(decode_bytes(b"hello, I am text", &spec).is_err());
        let img = DynamicImage::ImageRgb8(RgbImage::new(16, 16));
        let png = encode(&img, ImageFormat::Png);
        assert!(decode_bytes(&png[..png.len() / 2], &spec).is_err());
        let jpeg = encode(
            &DynamicImage::ImageRgb8(RgbImage::from_fn(64, 64, |x, y| {
                Rgb([x as u8 * 3, y as u8 * 3, 9])
            })),
            ImageFormat::Jpeg,
        );
        assert!(decode_bytes(&jpeg, &spec).is_ok());
        let cut = decode_bytes(&jpeg[..jpeg.len() * 2 / 3], &spec).unwrap_err();
        assert!(cut.contains("truncated"), "{cut}");
    }
}
