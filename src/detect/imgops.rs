//! The pixel operations the detector needs, written to give OpenCV's exact values:
//! grey conversion (`cvtColor` BT.601 fixed point), `equalizeHist`, and the 8-bit
//! `INTER_LINEAR` resize (11-bit fixed-point coefficients) used for the pyramid.

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

/// Bilinear resize of an 8-bit grey buffer to `dw` x `dh` as `cv::resize(..., INTER_LINEAR)`:
/// pixel-centre mapping, 2048-scaled coefficients, edge clamping, and the rounding of
/// OpenCV's vectorised vertical pass.
pub(crate) fn resize_linear(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    const ONE: f32 = 2048.0;
    let scale_x = 1.0 / (dw as f64 / sw as f64);
    let scale_y = 1.0 / (dh as f64 / sh as f64);
    let mut xofs = Vec::with_capacity(dw);
    let mut alpha = Vec::with_capacity(dw);
    for dx in 0..dw {
        let mut fx = ((dx as f64 + 0.5) * scale_x - 0.5) as f32;
        let mut sx = fx.floor() as i64;
        fx -= sx as f32;
        if sx < 0 {
            fx = 0.0;
            sx = 0;
        }
        if sx >= sw as i64 - 1 {
            fx = 0.0;
            sx = sw as i64 - 1;
        }
        xofs.push(sx as usize);
        let a0 = ((1.0 - fx) * ONE).round_ties_even() as i32;
        let a1 = (fx * ONE).round_ties_even() as i32;
        alpha.push((a0, a1));
    }
    let hrow = |sy: usize, buf: &mut Vec<i32>| {
        let row = &src[sy * sw..(sy + 1) * sw];
        buf.clear();
        buf.extend(xofs.iter().zip(&alpha).map(|(&sx, &(a0, a1))| {
            let next = if a1 != 0 {
                i32::from(row[sx + 1]) * a1
            } else {
                0
            };
            i32::from(row[sx]) * a0 + next
        }));
    };
    let mut out = vec![0u8; dw * dh];
    let (mut r0, mut r1) = (Vec::with_capacity(dw), Vec::with_capacity(dw));
    let mut cached: (Option<usize>, Option<usize>) = (None, None);
    for dy in 0..dh {
        let mut fy = ((dy as f64 + 0.5) * scale_y - 0.5) as f32;
        let sy = fy.floor() as i64;
        fy -= sy as f32;
        let b0 = ((1.0 - fy) * ONE).round_ties_even() as i32;
        let b1 = (fy * ONE).round_ties_even() as i32;
        let y0 = sy.clamp(0, sh as i64 - 1) as usize;
        let y1 = (sy + 1).clamp(0, sh as i64 - 1) as usize;
        if cached.0 != Some(y0) {
            if cached.1 == Some(y0) {
                std::mem::swap(&mut r0, &mut r1);
                cached.1 = None;
            } else {
                hrow(y0, &mut r0);
            }
            cached.0 = Some(y0);
        }
        if cached.1 != Some(y1) {
            hrow(y1, &mut r1);
            cached.1 = Some(y1);
        }
        let dst = &mut out[dy * dw..(dy + 1) * dw];
        for ((d, &s0), &s1) in dst.iter_mut().zip(&r0).zip(&r1) {
            // v_mul_hi on (s >> 4) as in VResizeLinearVec_32s8u, then rounding shift by 2.
            let v = (((s0 >> 4) * b0) >> 16) + (((s1 >> 4) * b1) >> 16);
            *d = ((v + 2) >> 2).clamp(0, 255) as u8;
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

    #[test]
    fn grey_uses_bt601_weights() {
        let rgb = RgbImage::from_raw(3, 1, vec![255, 0, 0, 0, 255, 0, 0, 0, 255]).unwrap();
        assert_eq!(gray_from_rgb(&rgb).as_raw(), &vec![76, 150, 29]);
    }
}
