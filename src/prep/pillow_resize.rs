//! Pillow's Lanczos resize of 8-bit grey images, bit for bit: the resize of the perceptual
//! hashes, so that they equal Python imagehash's (which resizes with Pillow).
//!
//! A port of `src/libImaging/Resample.c` of Pillow 13.0.0: `precompute_coeffs` with the
//! `lanczos` filter (support 3), `normalize_coeffs_8bpc`, and the two passes
//! `ImagingResampleHorizontal_8bpc` and `ImagingResampleVertical_8bpc`, chained as
//! `ImagingResampleInner` chains them. An axis whose size does not change is not
//! resampled; when neither does, `Image.resize` returns a copy. Horizontal first, over
//! only the source rows the vertical pass reads (`ybox`), except (Pillow 13, PR #9549)
//! where the height loses more than twice as many pixels as the width: then vertical
//! first, over every column. Pillow 4 to 12 always go horizontal first; the two orders
//! give different bytes where they differ, but not for a square source resized to the
//! hashes' 32x32 or 9x8.
//!
//! Fixed point: each weight is computed in `f64`, divided by the sum of its output
//! pixel's weights, then scaled by 2^22 (`PRECISION_BITS = 32 - 8 - 2`: 8 bits of pixel
//! and 2 of headroom for the lobes' overshoot) and rounded half away from zero to an
//! `i32`. An output sample is `1 << 21` (one half, so the shift rounds) plus the sum of
//! `pixel * weight`, shifted right by 22 (arithmetic) and clamped to 0..=255 (`clip8`).
//! The first pass writes 8-bit samples, which the second reads.
//!
//! The weights go through the platform's `sin`, as Pillow's do; both call the C
//! library's, so on one machine they agree exactly.

/// One axis' fixed-point weights: output pixel `i` reads `len[i]` input pixels from
/// `start[i]`, weighted by `weights[i * stride..][..len[i]]`.
#[derive(Clone)]
struct Axis {
    start: Vec<usize>,
    len: Vec<usize>,
    stride: usize,
    weights: Vec<i32>,
}

/// `PRECISION_BITS` of Resample.c.
const PRECISION_BITS: u32 = 32 - 8 - 2;
/// The Lanczos filter's support, in input pixels at scale 1.
const SUPPORT: f64 = 3.0;

/// Resample.c `sinc_filter`.
#[inline]
fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * std::f64::consts::PI;
        x.sin() / x
    }
}

/// Resample.c `lanczos_filter`: the sinc truncated to [-3, 3) by a sinc three times wider.
#[inline]
fn lanczos(x: f64) -> f64 {
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

impl Axis {
    /// Resample.c `precompute_coeffs` for the whole axis (`in0 = 0`, `in1 = in_size`, as
    /// `Image.resize` without a box passes them) followed by `normalize_coeffs_8bpc`.
    fn new(in_size: usize, out_size: usize) -> Axis {
        let scale = in_size as f64 / out_size as f64;
        let filterscale = scale.max(1.0);
        let support = SUPPORT * filterscale;
        let stride = support.ceil() as usize * 2 + 1;
        let inv_filterscale = 1.0 / filterscale;
        let mut axis = Axis {
            start: Vec::with_capacity(out_size),
            len: Vec::with_capacity(out_size),
            stride,
            weights: vec![0; out_size * stride],
        };
        // One output pixel's weights before normalization, reused.
        let mut w = Vec::with_capacity(stride);
        for (xx, k) in axis.weights.chunks_exact_mut(stride).enumerate() {
            let center = (xx as f64 + 0.5) * scale;
            // C's `(int)` truncates toward zero; the clamp makes that a floor here.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin;
            w.clear();
            w.extend(
                (0..xmax).map(|x| lanczos(((x + xmin) as f64 - center + 0.5) * inv_filterscale)),
            );
            // Summed in order, as Resample.c does.
            let ww: f64 = w.iter().fold(0.0, |s, &v| s + v);
            for (k, &v) in k.iter_mut().zip(&w) {
                let v = if ww != 0.0 { v / ww } else { v };
                let scaled = v * f64::from(1u32 << PRECISION_BITS);
                // `(int)(±0.5 + v)`: rounding half away from zero, then truncation.
                *k = if v < 0.0 {
                    (scaled - 0.5) as i32
                } else {
                    (scaled + 0.5) as i32
                };
            }
            axis.start.push(xmin);
            axis.len.push(xmax);
        }
        axis
    }

    /// The taps of output pixel `i`: its first input pixel and its weights.
    #[inline]
    fn taps(&self, i: usize) -> (usize, &[i32]) {
        (
            self.start[i],
            &self.weights[i * self.stride..][..self.len[i]],
        )
    }
}

/// Resample.c `clip8`: a sum in fixed point to a byte.
#[inline]
fn clip8(ss: i32) -> u8 {
    (ss >> PRECISION_BITS).clamp(0, 255) as u8
}

/// The rounding half that every sum starts from.
const HALF: i32 = 1 << (PRECISION_BITS - 1);

/// The weights of a resize from one size to another, computed once and applied to any
/// number of images of the source size: `Image.resize((dw, dh), Image.Resampling.LANCZOS)`
/// of Pillow, for mode `"L"`.
pub struct PillowResize {
    src: (usize, usize),
    dst: (usize, usize),
    /// `None` where the axis keeps its size (Pillow skips that pass).
    horizontal: Option<Axis>,
    vertical: Option<Axis>,
    vertical_first: bool,
}

impl PillowResize {
    /// The resize from `sw` x `sh` to `dw` x `dh` pixels, in Pillow 13's pass order.
    ///
    /// # Panics
    /// If a size is 0 (Pillow raises "height and width must be > 0").
    pub fn new(sw: usize, sh: usize, dw: usize, dh: usize) -> PillowResize {
        assert!(
            sw > 0 && sh > 0 && dw > 0 && dh > 0,
            "height and width must be > 0"
        );
        // Resample.c computes this in C `int`s: the width's change may be negative.
        let (lost_h, lost_w) = (sh as i64 - dh as i64, sw as i64 - dw as i64);
        let vertical_first = lost_h > 0 && lost_h > 2 * lost_w;
        let horizontal = (dw != sw).then(|| Axis::new(sw, dw));
        // A square to a square: the same weights both ways.
        let vertical = match &horizontal {
            Some(h) if (sh, dh) == (sw, dw) => Some(h.clone()),
            _ => (dh != sh).then(|| Axis::new(sh, dh)),
        };
        PillowResize {
            src: (sw, sh),
            dst: (dw, dh),
            horizontal,
            vertical,
            vertical_first,
        }
    }

    /// Resizes `src`, row-major `sw * sh` grey bytes, to `dw * dh` bytes.
    ///
    /// # Panics
    /// If `src` is not `sw * sh` bytes long.
    pub fn apply(&self, src: &[u8]) -> Vec<u8> {
        let ((sw, sh), (dw, dh)) = (self.src, self.dst);
        assert_eq!(src.len(), sw * sh, "source of {sw}x{sh} grey pixels");
        match (&self.horizontal, &self.vertical) {
            (None, None) => src.to_vec(),
            (Some(h), None) => horizontal(src, sw, sh, h),
            (None, Some(v)) => vertical(src, sw, v, 0),
            (Some(h), Some(v)) if self.vertical_first => {
                horizontal(&vertical(src, sw, v, 0), sw, dh, h)
            }
            (Some(h), Some(v)) => {
                // ybox: from the first output row's first tap to the last one's end (the
                // taps only move forward); the horizontal pass runs on those rows only.
                let rows = v.start[0]..v.start[dh - 1] + v.len[dh - 1];
                let band = &src[rows.start * sw..rows.end * sw];
                vertical(&horizontal(band, sw, rows.len(), h), dw, v, rows.start)
            }
        }
    }
}

/// `ImagingResampleVertical_8bpc`: `src` (rows `w` bytes wide, the first being the axis'
/// row `first`) to one row per output pixel of `axis`.
fn vertical(src: &[u8], w: usize, axis: &Axis, first: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * axis.start.len()];
    for (yy, line_out) in out.chunks_exact_mut(w).enumerate() {
        let (ymin, k) = axis.taps(yy);
        weighted_rows(&src[(ymin - first) * w..], w, k, line_out);
    }
    out
}

crate::simd::avx2_or_plain! {
    /// One output row: the sum of the rows of `src` (each `w` bytes) weighted by `k`,
    /// from `HALF`, through [`clip8`]. Columns go `BLOCK` at a time, their sums held in
    /// registers across all the taps, then the rest one at a time; the sums are of
    /// integers, so their order does not change them.
    fn weighted_rows(src: &[u8], w: usize, k: &[i32], out: &mut [u8]) {
        const BLOCK: usize = 32;
        let blocks = w / BLOCK * BLOCK;
        for (x, out) in out[..blocks].chunks_exact_mut(BLOCK).enumerate() {
            let mut acc = [HALF; BLOCK];
            for (row, &k) in src[x * BLOCK..].chunks(w).zip(k) {
                let row: &[u8; BLOCK] = row[..BLOCK].try_into().unwrap_or_else(|_| unreachable!());
                for (a, &p) in acc.iter_mut().zip(row) {
                    *a += i32::from(p) * k;
                }
            }
            for (o, &a) in out.iter_mut().zip(&acc) {
                *o = clip8(a);
            }
        }
        for (x, o) in out.iter_mut().enumerate().skip(blocks) {
            let column = src[x..].iter().step_by(w);
            *o = clip8(column.zip(k).fold(HALF, |a, (&p, &k)| a + i32::from(p) * k));
        }
    }
}

/// `ImagingResampleHorizontal_8bpc`: each of the `h` rows of `src` (`w` bytes wide) to
/// one byte per output pixel of `axis`. Run as a vertical pass on the transposed image:
/// the same sums, but vectorized across rows.
fn horizontal(src: &[u8], w: usize, h: usize, axis: &Axis) -> Vec<u8> {
    transpose(
        &vertical(&transpose(src, w, h), h, axis, 0),
        h,
        axis.start.len(),
    )
}

/// The `w` x `h` image `src`, transposed (`h` x `w`): eight rows at a time, so each
/// write is eight bytes in a row.
fn transpose(src: &[u8], w: usize, h: usize) -> Vec<u8> {
    const ROWS: usize = 8;
    let mut out = vec![0u8; w * h];
    let whole = h / ROWS * ROWS;
    for y0 in (0..whole).step_by(ROWS) {
        let rows: [&[u8]; ROWS] = std::array::from_fn(|i| &src[(y0 + i) * w..][..w]);
        for (x, column) in out.chunks_exact_mut(h).enumerate() {
            column[y0..y0 + ROWS]
                .copy_from_slice(&std::array::from_fn::<u8, ROWS, _>(|i| rows[i][x]));
        }
    }
    for y in whole..h {
        for (x, &p) in src[y * w..][..w].iter().enumerate() {
            out[x * h + y] = p;
        }
    }
    out
}

thread_local! {
    /// By (source width, height, output width, height): computing the weights costs more
    /// than applying them (8.9 µs against 5.1 µs for 64x64 to 32x32), and a dataset's
    /// images mostly share a size.
    static CACHE: std::cell::RefCell<std::collections::HashMap<[usize; 4], std::rc::Rc<PillowResize>>> =
        Default::default();
}

/// `Image.fromarray(src, "L").resize((dw, dh), Image.Resampling.LANCZOS)` of Pillow 13, bit
/// for bit: `src` is `sw * sh` grey bytes, row-major; the result is `dw * dh` bytes. The
/// weights are kept per thread and size pair.
pub fn resize_grey_pillow(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    super::resample::per_thread(&CACHE, [sw, sh, dw, dh], || {
        PillowResize::new(sw, sh, dw, dh)
    })
    .apply(src)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from Pillow 13.0.0's `Image.resize(..., LANCZOS)` on the same grey images
    /// (the third takes the vertical-first pass: 30 -> 5 rows loses more than twice
    /// 12 -> 8 columns).
    #[test]
    fn resizes_as_pillow_does() {
        let ramp: Vec<u8> = (0..11).map(|v| v * 10).collect();
        assert_eq!(resize_grey_pillow(&ramp, 11, 1, 4, 1), [9, 36, 64, 91]);
        let edges: Vec<u8> = (0..9)
            .flat_map(|y| {
                (0..6).map(move |x| match (x + y) % 3 {
                    0 => 255,
                    _ => ((x * 40 + y * 25) % 256) as u8,
                })
            })
            .collect();
        assert_eq!(
            resize_grey_pillow(&edges, 6, 9, 4, 3),
            [111, 139, 196, 216, 155, 215, 211, 129, 214, 196, 124, 154]
        );
        let tall: Vec<u8> = (0..30)
            .flat_map(|y| (0..12).map(move |x| ((x * 21 + y * 9) % 256) as u8))
            .collect();
        assert_eq!(
            resize_grey_pillow(&tall, 12, 30, 8, 5),
            [
                28, 59, 92, 121, 149, 198, 232, 148, 82, 111, 139, 181, 229, 182, 80, 37, 133, 168,
                221, 205, 111, 33, 52, 103, 203, 214, 146, 46, 40, 93, 128, 155, 193, 69, 27, 78,
                119, 145, 177, 208
            ]
        );
        // The same size is a copy.
        assert_eq!(resize_grey_pillow(&tall, 12, 30, 12, 30), tall);
    }
}
