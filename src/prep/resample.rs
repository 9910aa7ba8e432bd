//! Lanczos3 resizing with the kernel weights computed once per size pair: prep's main
//! resize (every face to 64 px, RGB). (The perceptual hashes resize as Pillow does,
//! [`super::pillow_resize`], to equal imagehash's.)
//!
//! fast_image_resize recomputes its weights for every image, which made up about a sixth
//! of prep's CPU time (`perf`, BENCHMARKS.md, prep, session 7), although prep's images
//! mostly share a size. This module computes them with fast_image_resize's own arithmetic
//! (`precompute_coefficients` with the adaptive kernel, then `Normalizer16`'s i16 fixed
//! point; both from Pillow-SIMD) and keeps them per thread, so its output is the same
//! bytes (the tests below compare the two on many sizes and crops). Both passes run as
//! vertical passes, which vectorize: the horizontal one on the transposed image.

use image::RgbImage;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// The fixed-point weights of one axis: for each output pixel the first input pixel and
/// its taps.
struct Taps {
    precision: u8,
    starts: Vec<usize>,
    /// Offsets into `weights` of each output pixel's taps, plus the end.
    offsets: Vec<usize>,
    weights: Vec<i16>,
}

thread_local! {
    /// By (axis length, first and end of the crop on it, output length).
    static TAPS: RefCell<HashMap<[u32; 4], Rc<Taps>>> = RefCell::new(HashMap::new());
}

/// The weights for resizing pixels `in0..in1` of an axis of `in_size` pixels to
/// `out_size`, from the cache.
fn taps(in_size: u32, in0: u32, in1: u32, out_size: u32) -> Rc<Taps> {
    per_thread(&TAPS, [in_size, in0, in1, out_size], || {
        compute(in_size, in0, in1, out_size)
    })
}

/// `cache`'s value for `key`, made by `make` the first time: resize weights per size
/// pair, kept per thread. Sizes seen by one thread are few; a folder of all-different
/// sizes stays bounded (the cache is emptied past 4,096).
pub(super) fn per_thread<K: std::hash::Hash + Eq, V>(
    cache: &'static std::thread::LocalKey<RefCell<HashMap<K, Rc<V>>>>,
    key: K,
    make: impl FnOnce() -> V,
) -> Rc<V> {
    cache.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 4096 {
            c.clear();
        }
        c.entry(key).or_insert_with(|| Rc::new(make())).clone()
    })
}

/// fast_image_resize 6.1 `convolution::precompute_coefficients` (adaptive kernel, crop on
/// whole pixels) followed by `Normalizer16::new`, step for step.
fn compute(in_size: u32, in0: u32, in1: u32, out_size: u32) -> Taps {
    const SUPPORT: f64 = 3.0;
    let (in0, in1) = (in0 as f64, in1 as f64);
    let scale = (in1 - in0) / out_size as f64;
    let filter_scale = scale.max(1.0);
    let radius = SUPPORT * filter_scale;
    let window = radius.ceil() as usize * 2 + 1;
    let recip = 1.0 / filter_scale;
    let mut coeffs: Vec<f64> = Vec::with_capacity(window * out_size as usize);
    let mut bounds = Vec::with_capacity(out_size as usize);
    for out_x in 0..out_size {
        let in_center = in0 + (out_x as f64 + 0.5) * scale;
        let x_min = (in_center - radius).floor().max(0.) as u32;
        let x_max = (in_center + radius).ceil().min(in_size as f64) as u32;
        let first = coeffs.len();
        let mut sum = 0.0;
        let center = in_center - 0.5;
        let (mut start, mut end) = (x_min, x_max);
        for x in x_min..x_max {
            let w = super::resize::lanczos3((x as f64 - center) * recip);
            if x == start && w == 0. {
                start += 1;
            } else {
                coeffs.push(w);
                sum += w;
            }
        }
        for &c in coeffs.iter().rev() {
            if end <= start || c != 0. {
                break;
            }
            end -= 1;
        }
        if sum != 0.0 {
            coeffs[first..].iter_mut().for_each(|w| *w /= sum);
        }
        coeffs.resize(first + window, 0.);
        bounds.push((start as usize, (end - start) as usize));
    }
    // Normalizer16: the most fractional bits that keep the largest weight in an i16.
    let max_weight = coeffs.iter().copied().fold(0.0, f64::max);
    let mut precision = 0u8;
    for p in 0..(32 - 8 - 2) {
        precision = p;
        if (max_weight * (1 << (p + 1)) as f64).round() as i32 >= 1 << 15 {
            break;
        }
    }
    let unit = (1 << precision) as f64;
    let mut taps = Taps {
        precision,
        starts: Vec::with_capacity(bounds.len()),
        offsets: vec![0],
        weights: Vec::new(),
    };
    for (chunk, &(start, size)) in coeffs.chunks_exact(window).zip(&bounds) {
        taps.starts.push(start);
        taps.weights
            .extend(chunk[..size].iter().map(|&v| (v * unit).round() as i16));
        taps.offsets.push(taps.weights.len());
    }
    taps
}

crate::simd::avx2_or_plain! {
    /// Resamples the columns `x0..x0 + w` of a row-major image whose rows are `stride`
    /// bytes (`src`) to `taps.starts.len()` rows of `w` bytes; `shift` is subtracted from
    /// the taps' first rows (`src` may start below the axis' row 0). With AVX2 the
    /// multiply-adds of a row run 8 or 16 at once (the baseline x86-64 target has no 32-bit
    /// vector multiply).
    fn vertical(
        src: &[u8],
        stride: usize,
        x0: usize,
        w: usize,
        taps: &Taps,
        shift: usize,
    ) -> Vec<u8> {
        /// Columns summed at once, their sums held in registers across all the taps.
        const BLOCK: usize = 32;
        let rows = taps.starts.len();
        let mut out = vec![0u8; rows * w];
        let initial = 1i32 << (taps.precision - 1);
        let clip = |a: i32| (a >> taps.precision).clamp(0, 255) as u8;
        for (r, dst) in out.chunks_exact_mut(w).enumerate() {
            let weights = &taps.weights[taps.offsets[r]..taps.offsets[r + 1]];
            let first = (taps.starts[r] - shift) * stride + x0;
            let mut x = 0;
            while x + BLOCK <= w {
                let mut acc = [initial; BLOCK];
                for (t, &k) in weights.iter().enumerate() {
                    let row: &[u8; BLOCK] = src[first + t * stride + x..][..BLOCK]
                        .try_into()
                        .unwrap_or_else(|_| unreachable!("a slice of BLOCK bytes"));
                    for (a, &p) in acc.iter_mut().zip(row) {
                        // i16 x i16 -> i32: a widening multiply the vectorizer knows.
                        *a += i32::from(p as i16) * i32::from(k);
                    }
                }
                for (d, &a) in dst[x..x + BLOCK].iter_mut().zip(&acc) {
                    *d = clip(a);
                }
                x += BLOCK;
            }
            for (xx, d) in dst.iter_mut().enumerate().skip(x) {
                let mut a = initial;
                for (t, &k) in weights.iter().enumerate() {
                    a += i32::from(src[first + t * stride + xx] as i16) * i32::from(k);
                }
                *d = clip(a);
            }
        }
        out
    }
}

/// The `w` x `h` image of `ch`-byte pixels `src`, transposed (`h` x `w`).
fn transpose(src: &[u8], w: usize, h: usize, ch: usize) -> Vec<u8> {
    match ch {
        1 => transpose_px::<1>(src, w, h),
        3 => transpose_px::<3>(src, w, h),
        _ => unreachable!("grey or RGB only"),
    }
}

/// [`transpose`] for pixels of `CH` bytes, moved as `[u8; CH]` (no copy call per pixel),
/// written in order.
fn transpose_px<const CH: usize>(src: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * h * CH];
    let (src, _) = src.as_chunks::<CH>();
    let (dst, _) = out.as_chunks_mut::<CH>();
    for (x, column) in dst.chunks_exact_mut(h).enumerate() {
        for (px, from) in column.iter_mut().zip(src[x..].iter().step_by(w)) {
            *px = *from;
        }
    }
    out
}

/// The region `(x, y, w, h)` of a `width` x `height` image of `ch`-byte pixels resized to
/// `nw` x `nh` with Lanczos3: the bytes fast_image_resize gives. As it does for 8-bit
/// pixels: an axis whose size does not change is not resampled, the vertical pass runs
/// first over the columns the horizontal pass will read, and the kernel reaches outside
/// the region into the rest of the image.
fn resize(
    src: &[u8],
    (width, height, ch): (u32, u32, usize),
    (x, y, w, h): (u32, u32, u32, u32),
    (nw, nh): (u32, u32),
) -> Vec<u8> {
    if w == 0 || h == 0 || nw == 0 || nh == 0 {
        return vec![0; nw as usize * nh as usize * ch];
    }
    let across = (nw != w).then(|| taps(width, x, x + w, nw));
    let down = (nh != h).then(|| taps(height, y, y + h, nh));
    // The columns the horizontal pass reads (or the region's, when there is none).
    let (x0, x1) = match &across {
        Some(t) => {
            let last = t.starts.len() - 1;
            let end = t.starts[last] + t.offsets[last + 1] - t.offsets[last];
            (t.starts[0], end)
        }
        None => (x as usize, (x + w) as usize),
    };
    let cols = x1 - x0;
    let stride = width as usize * ch;
    let rows = match &down {
        Some(t) => vertical(src, stride, x0 * ch, cols * ch, t, 0),
        None => src[y as usize * stride..(y + h) as usize * stride]
            .chunks_exact(stride)
            .flat_map(|row| &row[x0 * ch..x1 * ch])
            .copied()
            .collect(),
    };
    match &across {
        Some(t) => {
            let nh = nh as usize;
            let turned = transpose(&rows, cols, nh, ch);
            let done = vertical(&turned, nh * ch, 0, nh * ch, t, x0);
            transpose(&done, nh, nw as usize, ch)
        }
        None => rows,
    }
}

/// The region `(x, y, w, h)` of `src` resized to `nw` x `nh` with Lanczos3.
pub fn resize_rgb(src: &RgbImage, region: (u32, u32, u32, u32), nw: u32, nh: u32) -> RgbImage {
    let (w, h) = src.dimensions();
    let px = resize(src.as_raw(), (w, h, 3), region, (nw, nh));
    RgbImage::from_raw(nw, nh, px).unwrap_or_else(|| unreachable!("buffer sized from the image"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random bytes (a 64-bit LCG's high bits): noise for the test images.
    fn noise(seed: u64) -> impl FnMut() -> u8 {
        let mut state = seed;
        move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        }
    }

    #[test]
    fn rgb_regions_same_bytes_as_fast_image_resize() {
        use super::super::resize::{self, Filter};
        let mut next = noise(11);
        let img = RgbImage::from_fn(96, 80, |x, y| {
            let n = next();
            image::Rgb([
                n,
                if (x / 4 + y / 7) % 2 == 0 { 250 } else { 5 },
                (x * 2) as u8,
            ])
        });
        // Whole image, centred and off-centre regions, regions at the edges, upscaling,
        // one axis unchanged.
        let cases = [
            ((0, 0, 96, 80), (64, 64)),
            ((8, 0, 80, 80), (64, 64)),
            ((3, 5, 61, 47), (64, 64)),
            ((0, 0, 40, 40), (64, 64)),
            ((56, 40, 40, 40), (32, 32)),
            ((10, 10, 64, 30), (64, 64)),
            ((10, 10, 30, 64), (64, 64)),
            ((0, 0, 96, 80), (9, 8)),
        ];
        for (region, (nw, nh)) in cases {
            let ours = resize_rgb(&img, region, nw, nh);
            let theirs = resize::resize_region_fir(&img, region, nw, nh, Filter::Lanczos3);
            assert_eq!(
                ours.as_raw(),
                theirs.as_raw(),
                "{region:?} -> {nw}x{nh} differs"
            );
        }
    }
}
