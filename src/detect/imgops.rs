//! The pixel operations the detector needs, written to give OpenCV's exact values:
//! grey conversion (`cvtColor` BT.601 fixed point), `equalizeHist`, and the 8-bit
//! bit-exact bilinear resize (`INTER_LINEAR_EXACT`) that `detectMultiScale` uses for the
//! pyramid. (The plain `INTER_LINEAR` resize differs from it by one grey level on about a
//! tenth of the pixels, which moved boxes by a pixel and groups across `min_neighbors`.)

use image::{DynamicImage, GrayImage, RgbImage};

/// Grey image from RGB with OpenCV's `COLOR_RGB2GRAY` fixed-point weights
/// (0.299 R + 0.587 G + 0.114 B in units of 2^-14).
pub fn gray_from_rgb(rgb: &RgbImage) -> GrayImage {
    let (w, h) = rgb.dimensions();
    let data: Vec<u8> = rgb
        .as_raw()
        .chunks_exact(3)
        .map(|p| {
            let v = u32::from(p[0]) * 4899 + u32::from(p[1]) * 9617 + u32::from(p[2]) * 1868;
            ((v + (1 << 13)) >> 14) as u8
        })
        .collect();
    GrayImage::from_raw(w, h, data).unwrap_or_else(|| GrayImage::new(w, h))
}

/// Grey image from any decoded image: grey stays as is (16-bit is narrowed), colour
/// goes through [`gray_from_rgb`], alpha is ignored as `cv2.imread` does.
pub fn gray_from_dynamic(img: &DynamicImage) -> GrayImage {
    match img {
        DynamicImage::ImageLuma8(g) => g.clone(),
        DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_) => img.to_luma8(),
        DynamicImage::ImageRgb8(rgb) => gray_from_rgb(rgb),
        other => gray_from_rgb(&other.to_rgb8()),
    }
}

/// Histogram equalization exactly as `cv::equalizeHist`.
pub fn equalize_hist(img: &GrayImage) -> GrayImage {
    let mut hist = [0u32; 256];
    for &p in img.as_raw() {
        hist[p as usize] += 1;
    }
    let total = img.as_raw().len() as u32;
    let mut out = img.clone();
    let Some(first) = hist.iter().position(|&c| c != 0) else {
        return out;
    };
    let mut lut = [0u8; 256];
    if hist[first] == total {
        lut = [first as u8; 256];
    } else {
        let scale = 255.0f32 / (total - hist[first]) as f32;
        let mut sum = 0u32;
        for j in first + 1..256 {
            sum += hist[j];
            lut[j] = (sum as f32 * scale).round_ties_even().clamp(0.0, 255.0) as u8;
        }
    }
    for p in out.iter_mut() {
        *p = lut[*p as usize];
    }
    out
}

/// One output column (or row) of the bit-exact bilinear resize: the two source
/// indices it blends and their weights in 8-bit fixed point (256 = 1.0).
#[derive(Clone, Copy)]
struct Tap {
    i0: usize,
    i1: usize,
    w0: u32,
    w1: u32,
}

/// The taps of one axis, as OpenCV's `interpolationLinear::getCoeffs`.
///
/// The source position of output `d` is `scale * (d + 0.5) - 0.5` with
/// `scale = 1 / (dst / src)`, each step rounded once as OpenCV's `softdouble` does,
/// which plain (unfused) `f64` arithmetic reproduces. The weight of the right
/// neighbour is the fraction rounded half to even to 8 bits, the left one gets the
/// rest of 256. Positions left of the first pixel, at or right of the last one, or
/// on a 1-pixel side copy that edge pixel (weight 256 on it, 0 on the other tap).
fn taps(src: usize, dst: usize) -> Vec<Tap> {
    let scale = 1.0 / (dst as f64 / src as f64);
    let last = src - 1;
    let edge = |i| Tap {
        i0: i,
        i1: i,
        w0: 256,
        w1: 0,
    };
    (0..dst)
        .map(|d| {
            let pos = scale * (d as f64 + 0.5) - 0.5;
            let fl = pos.floor();
            if fl < 0.0 || src == 1 {
                edge(0)
            } else if fl >= last as f64 {
                edge(last)
            } else {
                let w1 = ((pos - fl) * 256.0).round_ties_even() as u32;
                let i0 = fl as usize;
                Tap {
                    i0,
                    i1: i0 + 1,
                    w0: 256 - w1,
                    w1,
                }
            }
        })
        .collect()
}

/// Bilinear resize of an 8-bit grey buffer as `cv::resize(..., INTER_LINEAR_EXACT)`, the
/// resize `detectMultiScale` builds its pyramid with (OpenCV 4.x), a port of
/// `resize_bitExact` (imgproc/src/resize.cpp; types in fixedpoint.inl.hpp).
/// Weights are `ufixedpoint16`: 8 fractional bits, 256 = 1.0, the two taps summing to 256.
/// The horizontal pass keeps `w0 * p0 + w1 * p1` (8 fractional bits); the vertical pass weighs
/// two of those into a `ufixedpoint32` (16 fractional bits), rounded as `(v + 2^15) >> 16`.
/// Edge positions copy the edge pixel; OpenCV's exact-2x and same-size shortcuts agree with it.
pub(crate) fn resize_linear(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    assert!(
        src.len() >= sw * sh,
        "source buffer smaller than {sw} x {sh}"
    );
    if dw == 0 || dh == 0 {
        return Vec::new();
    }
    if sw == 0 || sh == 0 {
        return vec![0; dw * dh];
    }
    let xt = taps(sw, dw);
    let yt = taps(sh, dh);
    let hrow = |sy: usize, buf: &mut [u32]| {
        let row = &src[sy * sw..(sy + 1) * sw];
        for (h, t) in buf.iter_mut().zip(&xt) {
            *h = u32::from(row[t.i0]) * t.w0 + u32::from(row[t.i1]) * t.w1;
        }
    };
    let mut out = vec![0u8; dw * dh];
    // The horizontal passes of the two source rows last used, kept across output rows.
    let (mut r0, mut r1) = (vec![0u32; dw], vec![0u32; dw]);
    let (mut y0, mut y1) = (usize::MAX, usize::MAX);
    for (t, dst) in yt.iter().zip(out.chunks_exact_mut(dw)) {
        if y0 != t.i0 {
            if y1 == t.i0 {
                std::mem::swap(&mut r0, &mut r1);
                std::mem::swap(&mut y0, &mut y1);
            } else {
                hrow(t.i0, &mut r0);
                y0 = t.i0;
            }
        }
        if y1 != t.i1 && t.w1 != 0 {
            hrow(t.i1, &mut r1);
            y1 = t.i1;
        }
        if t.w1 == 0 {
            for (d, &a) in dst.iter_mut().zip(&r0) {
                *d = ((a * t.w0 + (1 << 15)) >> 16) as u8;
            }
        } else {
            for ((d, &a), &b) in dst.iter_mut().zip(&r0).zip(&r1) {
                *d = ((a * t.w0 + b * t.w1 + (1 << 15)) >> 16) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equalize_spreads_two_levels() {
        let img = GrayImage::from_raw(2, 2, vec![10, 10, 20, 20]).unwrap();
        assert_eq!(equalize_hist(&img).as_raw(), &vec![0, 0, 255, 255]);
        let flat = GrayImage::from_raw(2, 1, vec![7, 7]).unwrap();
        assert_eq!(equalize_hist(&flat).as_raw(), &vec![7, 7]);
    }

    #[test]
    fn resize_keeps_flat_images_flat_and_halves_ramps() {
        let flat = vec![100u8; 40 * 30];
        assert!(resize_linear(&flat, 40, 30, 17, 11)
            .iter()
            .all(|&v| v == 100));
        let ramp: Vec<u8> = (0..8).map(|x| x as u8 * 10).collect();
        // Downscale 8 -> 4 samples at source x = 0.5, 2.5, 4.5, 6.5.
        assert_eq!(resize_linear(&ramp, 8, 1, 4, 1), vec![5, 25, 45, 65]);
    }

    /// Regression: the pyramid was resized as `INTER_LINEAR`, where `detectMultiScale`
    /// uses `INTER_LINEAR_EXACT` (values from cv2 4.14's `INTER_LINEAR_EXACT`; the old
    /// resize gave `[0, 11, 23, 34, 45, 55, 66, 78, 89, 100]`).
    #[test]
    fn resize_is_opencvs_bit_exact_linear() {
        let src: Vec<u8> = (0..=10).map(|v| v * 10).collect();
        assert_eq!(
            resize_linear(&src, 11, 1, 10, 1),
            [1, 11, 23, 34, 44, 56, 66, 78, 89, 99]
        );
    }

    #[test]
    fn grey_uses_bt601_weights() {
        let rgb = RgbImage::from_raw(3, 1, vec![255, 0, 0, 0, 255, 0, 0, 0, 255]).unwrap();
        assert_eq!(gray_from_rgb(&rgb).as_raw(), &vec![76, 150, 29]);
    }
}
