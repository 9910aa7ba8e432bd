//! Resize: the crop to the training size, with a chosen filter (Lanczos3 by default) and
//! an aspect policy for crops that are not square (pad, crop or stretch). The
//! convolution is `fast_image_resize`'s (SIMD, the same separable filters as PIL), several
//! times faster than `image`'s own resize; the crop is read in place, never copied.

use fast_image_resize::{self as fr, ResizeAlg, ResizeOptions, Resizer};
use image::imageops;
use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// Resampling filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    /// Nearest neighbour.
    Nearest,
    /// Linear (triangle).
    Triangle,
    /// Cubic (Catmull-Rom). One spelling on the command line and in pipeline files.
    #[value(name = "catmullrom", alias = "catmull-rom")]
    #[serde(alias = "catmull-rom")]
    CatmullRom,
    /// Gaussian.
    Gaussian,
    /// Lanczos with window 3 (default; what PIL's ANTIALIAS/LANCZOS does).
    #[default]
    Lanczos3,
}

impl From<Filter> for ResizeAlg {
    fn from(f: Filter) -> Self {
        match f {
            Filter::Nearest => ResizeAlg::Nearest,
            Filter::Triangle => ResizeAlg::Convolution(fr::FilterType::Bilinear),
            Filter::CatmullRom => ResizeAlg::Convolution(fr::FilterType::CatmullRom),
            Filter::Gaussian => ResizeAlg::Convolution(fr::FilterType::Gaussian),
            Filter::Lanczos3 => ResizeAlg::Convolution(lanczos3_tabled()),
        }
    }
}

/// Lanczos3 with the kernel read from a table. fast_image_resize computes the kernel
/// weights afresh for every image, two `sin` calls per tap: about 5,000 per image for
/// prep's resize and hashes, a tenth of prep's CPU time. The table (4,096 samples per
/// pixel, linear interpolation, error < 1e-7) gives the same i16 weights the convolution
/// uses.
fn lanczos3_tabled() -> fr::FilterType {
    fr::FilterType::Custom(
        fr::Filter::new("Lanczos3", lanczos3, 3.0).unwrap_or_else(|e| unreachable!("{e}")),
    )
}

/// The Lanczos3 kernel `sinc(x) sinc(x / 3)` on |x| < 3, read from a table (see
/// [`lanczos3_tabled`]).
pub(crate) fn lanczos3(x: f64) -> f64 {
    const PER_UNIT: usize = 4096;
    static TABLE: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    fn exact(x: f64) -> f64 {
        let sinc = |x: f64| {
            if x == 0.0 {
                1.0
            } else {
                let px = std::f64::consts::PI * x;
                px.sin() / px
            }
        };
        if x.abs() < 3.0 {
            sinc(x) * sinc(x / 3.0)
        } else {
            0.0
        }
    }
    let t = TABLE.get_or_init(|| {
        (0..=3 * PER_UNIT + 1)
            .map(|i| exact(i as f64 / PER_UNIT as f64))
            .collect()
    });
    let p = x.abs() * PER_UNIT as f64;
    let i = p as usize;
    if i >= 3 * PER_UNIT {
        return 0.0;
    }
    let f = p - i as f64;
    t[i] + (t[i + 1] - t[i]) * f
}

thread_local! {
    // A resizer keeps scratch buffers: one per worker thread, reused for every image.
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
}

/// The region `(x, y, w, h)` of `src` resized to `nw` x `nh`.
pub fn resize_region(
    src: &RgbImage,
    region: (u32, u32, u32, u32),
    nw: u32,
    nh: u32,
    filter: Filter,
) -> RgbImage {
    // Lanczos3 (the default) with weights cached per size: the same bytes, faster.
    if filter == Filter::Lanczos3 {
        return super::resample::resize_rgb(src, region, nw, nh);
    }
    resize_region_fir(src, region, nw, nh, filter)
}

/// [`resize_region`] by fast_image_resize for every filter.
pub fn resize_region_fir(
    src: &RgbImage,
    region: (u32, u32, u32, u32),
    nw: u32,
    nh: u32,
    filter: Filter,
) -> RgbImage {
    let mut dst = RgbImage::new(nw, nh);
    let (x, y, w, h) = region;
    let opts = ResizeOptions::new()
        .resize_alg(filter.into())
        .crop(x as f64, y as f64, w as f64, h as f64);
    RESIZER
        .with(|r| r.borrow_mut().resize(src, &mut dst, &opts))
        .unwrap_or_else(|e| unreachable!("RGB8 to RGB8 resize failed: {e}"));
    dst
}

/// What to do with a crop that is not square.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Aspect {
    /// Take the centred square (default).
    #[default]
    Crop,
    /// Letterbox onto the pad colour.
    Pad,
    /// Scale each axis on its own.
    Stretch,
}

/// Resize settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResizeSpec {
    /// Output side in pixels (default 64).
    pub size: u32,
    /// The filter (default Lanczos3).
    pub filter: Filter,
    /// The aspect policy (default crop).
    pub aspect: Aspect,
    /// Pad colour for [`Aspect::Pad`] (default black).
    pub pad: [u8; 3],
}

impl Default for ResizeSpec {
    fn default() -> Self {
        ResizeSpec {
            size: 64,
            filter: Filter::Lanczos3,
            aspect: Aspect::Crop,
            pad: [0, 0, 0],
        }
    }
}

/// Resizes `img` to `size` x `size`.
pub fn resize(img: &RgbImage, spec: &ResizeSpec) -> RgbImage {
    let (w, h) = img.dimensions();
    resize_crop(img, (0, 0, w, h), spec)
}

/// Resizes the crop box `(x, y, w, h)` of `img` to `size` x `size`, read in place.
pub fn resize_crop(img: &RgbImage, region: (u32, u32, u32, u32), spec: &ResizeSpec) -> RgbImage {
    let (x, y, w, h) = region;
    let n = spec.size;
    let filter = spec.filter;
    if w == h || spec.aspect == Aspect::Stretch {
        return resize_region(img, region, n, n, filter);
    }
    match spec.aspect {
        Aspect::Crop => {
            let s = w.min(h);
            resize_region(img, (x + (w - s) / 2, y + (h - s) / 2, s, s), n, n, filter)
        }
        Aspect::Pad => {
            let scale = n as f32 / w.max(h) as f32;
            let nw = ((w as f32 * scale).round() as u32).clamp(1, n);
            let nh = ((h as f32 * scale).round() as u32).clamp(1, n);
            let inner = resize_region(img, region, nw, nh, filter);
            let mut out = RgbImage::from_pixel(n, n, Rgb(spec.pad));
            imageops::replace(
                &mut out,
                &inner,
                ((n - nw) / 2) as i64,
                ((n - nh) / 2) as i64,
            );
            out
        }
        Aspect::Stretch => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Separable Lanczos3 written directly from its definition, for one grey channel.
    fn naive_lanczos(src: &[f64], sw: usize, sh: usize, n: usize) -> Vec<f64> {
        fn sinc(x: f64) -> f64 {
            if x == 0.0 {
                1.0
            } else {
                (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
            }
        }
        let lanczos = |x: f64| {
            if x.abs() < 3.0 {
                sinc(x) * sinc(x / 3.0)
            } else {
                0.0
            }
        };
        let pass = |src: &[f64], len: usize, stride_out: usize, other: usize, horizontal: bool| {
            let ratio = len as f64 / n as f64;
            let support = 3.0 * ratio.max(1.0);
            let mut out = vec![0.0; n * other];
            for o in 0..other {
                for i in 0..n {
                    let center = (i as f64 + 0.5) * ratio;
                    let lo = (center - support).floor().max(0.0) as usize;
                    let hi = ((center + support).ceil() as usize).min(len);
                    let (mut acc, mut wsum) = (0.0, 0.0);
                    for k in lo..hi {
                        let wgt = lanczos((k as f64 + 0.5 - center) / ratio.max(1.0));
                        let v = if horizontal {
                            src[o * len + k]
                        } else {
                            src[k * other + o]
                        };
                        acc += wgt * v;
                        wsum += wgt;
                    }
                    let idx = if horizontal {
                        o * n + i
                    } else {
                        i * stride_out + o
                    };
                    out[idx] = acc / wsum;
                }
            }
            out
        };
        let h = pass(src, sw, 0, sh, true); // sh rows of n
        pass(&h, sh, n, n, false)
    }

    #[test]
    fn tabled_lanczos_gives_the_crates_own_output() {
        let img = RgbImage::from_fn(97, 61, |x, y| {
            Rgb([(x * 7 + y * 3) as u8, (x * y) as u8, (200 - x - y) as u8])
        });
        let ours = resize_region(&img, (0, 0, 97, 61), 40, 23, Filter::Lanczos3);
        let mut theirs = RgbImage::new(40, 23);
        let opts =
            ResizeOptions::new().resize_alg(ResizeAlg::Convolution(fr::FilterType::Lanczos3));
        Resizer::new().resize(&img, &mut theirs, &opts).unwrap();
        let worst = ours
            .as_raw()
            .iter()
            .zip(theirs.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max();
        assert!(worst <= Some(1), "largest difference {worst:?}");
    }

    #[test]
    fn lanczos_matches_naive_reference() {
        let (sw, sh, n) = (40usize, 40usize, 16usize);
        let img = RgbImage::from_fn(sw as u32, sh as u32, |x, y| {
            let v = (128.0 + 60.0 * ((x as f64) * 0.3).sin() * ((y as f64) * 0.2).cos()) as u8;
            Rgb([v, v, v])
        });
        let ours = resize(
            &img,
            &ResizeSpec {
                size: n as u32,
                ..Default::default()
            },
        );
        let src: Vec<f64> = img.pixels().map(|p| p[0] as f64).collect();
        let want = naive_lanczos(&src, sw, sh, n);
        let mut worst = 0.0f64;
        for y in 0..n {
            for x in 0..n {
                let d = (ours.get_pixel(x as u32, y as u32)[0] as f64 - want[y * n + x]).abs();
                worst = worst.max(d);
            }
        }
        assert!(worst <= 2.0, "largest difference {worst}");
    }

    #[test]
    fn pad_letterboxes_and_keeps_size() {
        let img = RgbImage::from_pixel(40, 20, Rgb([200, 10, 10]));
        let out = resize(
            &img,
            &ResizeSpec {
                size: 20,
                aspect: Aspect::Pad,
                ..Default::default()
            },
        );
        assert_eq!(out.dimensions(), (20, 20));
        assert_eq!(out.get_pixel(10, 0), &Rgb([0, 0, 0]));
        assert_eq!(out.get_pixel(10, 10)[0], 200);
    }
}
