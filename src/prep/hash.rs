//! Perceptual hashes, as the `imagehash` Python package defines them:
//! pHash (Zauner 2010): 32x32 grey, 2-D DCT-II, the 8x8 lowest frequencies against their
//! median; dHash (Krawetz 2013): 9x8 grey, each pixel against its right neighbour.
//! Bits are packed row-major, most significant first, so hex strings match imagehash's.

use image::{GrayImage, RgbImage};
use std::sync::OnceLock;

/// The 64-bit pHash of an image.
pub fn phash(img: &RgbImage) -> u64 {
    phash_of_luma(&crate::prep::quality::luma(img))
}

/// The 64-bit dHash of an image.
pub fn dhash(img: &RgbImage) -> u64 {
    dhash_of_luma(&crate::prep::quality::luma(img))
}

/// pHash of an image already converted to grey (full size).
pub fn phash_of_luma(grey: &GrayImage) -> u64 {
    phash_grey(&resize_grey(grey, 32, 32))
}

/// dHash of an image already converted to grey (full size).
pub fn dhash_of_luma(grey: &GrayImage) -> u64 {
    let g = resize_grey(grey, 9, 8);
    let mut bits = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            bits = (bits << 1) | (g.get_pixel(x + 1, y)[0] > g.get_pixel(x, y)[0]) as u64;
        }
    }
    bits
}

/// A chroma layout signature: the mean Cb and Cr (BT.601) of each cell of a 4x4 grid,
/// after the MPEG-7 Colour Layout Descriptor but without its DCT. pHash and dHash look at
/// grey levels only; this tells a green background from a pink one of the same grey,
/// and is nearly blind to brightness changes, which move luma, not chroma.
pub fn chroma_grid(img: &RgbImage) -> [u8; 32] {
    let (w, h) = (img.width() as usize, img.height() as usize);
    // Sums of R, G and B per cell first (integers, no division per pixel); the colour
    // transform is linear, so it applies to the cell means afterwards. Pixel x is in
    // column cell x * 4 / w, so cell c starts at ceil(c * w / 4); each row is summed
    // cell by cell over plain slices (no per-pixel cell lookup or bounds check).
    let start = |c: usize, n: usize| (c * n).div_ceil(4);
    let mut sums = [[0u64; 4]; 16];
    let raw = img.as_raw();
    for cy in 0..4 {
        for y in start(cy, h)..start(cy + 1, h) {
            let row = &raw[y * w * 3..(y + 1) * w * 3];
            for cx in 0..4 {
                let (x0, x1) = (start(cx, w), start(cx + 1, w));
                let (mut r, mut g, mut b) = (0u32, 0u32, 0u32);
                for p in row[x0 * 3..x1 * 3].chunks_exact(3) {
                    r += u32::from(p[0]);
                    g += u32::from(p[1]);
                    b += u32::from(p[2]);
                }
                let s = &mut sums[cy * 4 + cx];
                s[0] += u64::from(r);
                s[1] += u64::from(g);
                s[2] += u64::from(b);
                s[3] += (x1 - x0) as u64;
            }
        }
    }
    let mut acc = [[0f64; 3]; 16];
    for (a, s) in acc.iter_mut().zip(&sums) {
        let (r, g, b, n) = (s[0] as f64, s[1] as f64, s[2] as f64, s[3] as f64);
        a[0] = 128.0 * n - 0.168736 * r - 0.331264 * g + 0.5 * b;
        a[1] = 128.0 * n + 0.5 * r - 0.418688 * g - 0.081312 * b;
        a[2] = n;
    }
    let mut out = [0u8; 32];
    for (c, a) in acc.iter().enumerate() {
        let n = a[2].max(1.0);
        out[2 * c] = (a[0] / n).round().clamp(0.0, 255.0) as u8;
        out[2 * c + 1] = (a[1] / n).round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// Side of the luma layout ([`luma_grid`]).
pub const LUMA_SIDE: usize = 16;

/// A luma layout signature: the mean grey level of each cell of a 16x16 grid. pHash keeps
/// the 8x8 lowest frequencies, which distinct faces aligned by the crop share (on
/// anime-faces-64, 364 pairs of different drawings fall within pHash and dHash 10); the
/// layout's finer cells tell them apart ([`luma_similarity`]).
///
/// On a side under 16 px some cells hold no pixel: those take the pixel under them
/// (they were 0, the same in every image, which made unrelated images alike).
pub fn luma_grid(grey: &GrayImage) -> [u8; LUMA_SIDE * LUMA_SIDE] {
    let (w, h) = (grey.width() as usize, grey.height() as usize);
    let span = |c: usize, n: usize| {
        let (a, b) = (
            (c * n).div_ceil(LUMA_SIDE),
            ((c + 1) * n).div_ceil(LUMA_SIDE),
        );
        match a < b {
            true => (a, b),
            false => {
                let under = (c * n / LUMA_SIDE).min(n.saturating_sub(1));
                (under, (under + 1).min(n))
            }
        }
    };
    let raw = grey.as_raw();
    let mut out = [0u8; LUMA_SIDE * LUMA_SIDE];
    for cy in 0..LUMA_SIDE {
        let (y0, y1) = span(cy, h);
        for cx in 0..LUMA_SIDE {
            let (x0, x1) = span(cx, w);
            let mut sum = 0u64;
            for y in y0..y1 {
                sum += raw[y * w + x0..y * w + x1]
                    .iter()
                    .map(|&v| u64::from(v))
                    .sum::<u64>();
            }
            let n = ((y1 - y0) * (x1 - x0)).max(1) as u64;
            out[cy * LUMA_SIDE + cx] = ((sum + n / 2) / n) as u8;
        }
    }
    out
}

/// The luma layout of the mirror image (columns swapped).
pub fn mirror_luma(g: &[u8; LUMA_SIDE * LUMA_SIDE]) -> [u8; LUMA_SIDE * LUMA_SIDE] {
    let mut out = [0u8; LUMA_SIDE * LUMA_SIDE];
    for (row_out, row) in out
        .chunks_exact_mut(LUMA_SIDE)
        .zip(g.chunks_exact(LUMA_SIDE))
    {
        for (o, v) in row_out.iter_mut().zip(row.iter().rev()) {
            *o = *v;
        }
    }
    out
}

/// How alike two luma layouts are once aligned: the largest normalized cross-correlation
/// (Pearson's r over the inner 14x14 cells, so blind to brightness and contrast) of `a`
/// with `b` zoomed by 0.94 to 1.064 in five steps about the centre and shifted in quarter
/// cells by up to half a cell (2 px of a 64 px image) each way, sampled bilinearly: a
/// small template registration.
/// The default threshold, 0.95, keeps every planted copy (a JPEG at quality 40, a 0.7x
/// resize, +12% brightness, a 3% border crop) of 60 images from each of four shared sets
/// together, and on their real images merges no two different anime drawings (364 such
/// pairs within pHash and dHash 10 on anime-faces-64: 0.94 at the most over session 35's
/// 27 alignments) nor different people (Yale, ORL), where re-crops of one illustration
/// and one person's shots a moment apart do merge. BENCHMARKS.md, prep, session 35. Dedup
/// also asks that no cell be far off at that alignment ([`LumaMatch::spot`], session 36);
/// with the 125 alignments of session 51 that pair check still merges no two different
/// drawings of anime-faces-64 (its whole set keeps every image but its byte copies).
pub fn luma_similarity(a: &[u8; LUMA_SIDE * LUMA_SIDE], b: &[u8; LUMA_SIDE * LUMA_SIDE]) -> f32 {
    aligned_correlations(a, b).map(|m| m.r).fold(-1.0, f32::max)
}

/// The best alignment's correlation and its largest local difference ([`LumaMatch`]).
pub fn luma_match(a: &[u8; LUMA_SIDE * LUMA_SIDE], b: &[u8; LUMA_SIDE * LUMA_SIDE]) -> LumaMatch {
    aligned_correlations(a, b).fold(
        LumaMatch {
            r: -1.0,
            spot: f32::INFINITY,
        },
        |best, m| if m.r > best.r { m } else { best },
    )
}

/// Two luma layouts compared at one alignment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LumaMatch {
    /// Pearson's r over the inner cells.
    pub r: f32,
    /// The largest difference of one cell, both layouts in standard units (z-scores): a
    /// change in one place (glasses on, a smile, a hand) moves a few cells far while the
    /// rest correlate; a re-encode, resize or brightness change moves every cell a little.
    pub spot: f32,
}

/// Whether some alignment correlates to `min` with no cell further apart than
/// `spot_max` standard units ([`LumaMatch`]), stopping at the first that does (the
/// unmoved one comes first: a re-save or a resize passes there, at a 125th of the work).
pub fn luma_similar(
    a: &[u8; LUMA_SIDE * LUMA_SIDE],
    b: &[u8; LUMA_SIDE * LUMA_SIDE],
    min: f32,
    spot_max: f32,
) -> bool {
    aligned_correlations(a, b).any(|m| m.r >= min && m.spot <= spot_max)
}

/// `a` against each of the 125 alignments of `b`, the unmoved one first.
fn aligned_correlations<'a>(
    a: &'a [u8; LUMA_SIDE * LUMA_SIDE],
    b: &'a [u8; LUMA_SIDE * LUMA_SIDE],
) -> impl Iterator<Item = LumaMatch> + 'a {
    const ZOOMS: [f32; 5] = [1.0, 0.97, 1.03, 0.94, 1.064];
    // Quarter-cell and 3% steps: a box rounded to whole pixels at another scale (a
    // thumbnail's) lands about a quarter cell off, where half-cell and 6% steps alone left
    // a cell far apart (BENCHMARKS.md, prep, session 51).
    const SHIFTS: [f32; 5] = [0.0, -0.25, 0.25, -0.5, 0.5];
    const INNER: std::ops::Range<usize> = 1..LUMA_SIDE - 1;
    let n = LUMA_SIDE as f32;
    let centre = (n - 1.0) / 2.0;
    let at = move |x: f32, y: f32| -> f32 {
        let (x, y) = (x.clamp(0.0, n - 1.0), y.clamp(0.0, n - 1.0));
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(LUMA_SIDE - 1), (y0 + 1).min(LUMA_SIDE - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let v = |x: usize, y: usize| f32::from(b[y * LUMA_SIDE + x]);
        v(x0, y0) * (1.0 - fx) * (1.0 - fy)
            + v(x1, y0) * fx * (1.0 - fy)
            + v(x0, y1) * (1.0 - fx) * fy
            + v(x1, y1) * fx * fy
    };
    let xs: Vec<f32> = INNER
        .flat_map(|y| INNER.map(move |x| f32::from(a[y * LUMA_SIDE + x])))
        .collect();
    let mut ys = Vec::with_capacity(xs.len());
    ZOOMS
        .into_iter()
        .flat_map(|z| {
            SHIFTS
                .into_iter()
                .flat_map(move |dy| SHIFTS.map(|dx| (z, dy, dx)))
        })
        .map(move |(z, dy, dx)| {
            ys.clear();
            for y in INNER {
                for x in INNER {
                    let sx = (x as f32 - centre) / z + centre + dx;
                    let sy = (y as f32 - centre) / z + centre + dy;
                    ys.push(at(sx, sy));
                }
            }
            compare(&xs, &ys)
        })
}

/// Pearson's correlation of two equally long samples (1 when both are flat, 0 when one
/// is) and their largest difference in standard units (0 when either is flat).
fn compare(x: &[f32], y: &[f32]) -> LumaMatch {
    let n = x.len() as f64;
    let (mx, my) = (
        x.iter().map(|&v| v as f64).sum::<f64>() / n,
        y.iter().map(|&v| v as f64).sum::<f64>() / n,
    );
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (a, b) = (a as f64 - mx, b as f64 - my);
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    let r = match (sxx < 1e-9, syy < 1e-9) {
        (true, true) => 1.0,
        (true, false) | (false, true) => 0.0,
        _ => (sxy / (sxx * syy).sqrt()) as f32,
    };
    if sxx < 1e-9 || syy < 1e-9 {
        return LumaMatch { r, spot: 0.0 };
    }
    let (sx, sy) = ((sxx / n).sqrt(), (syy / n).sqrt());
    let spot = x
        .iter()
        .zip(y)
        .map(|(&a, &b)| ((a as f64 - mx) / sx - (b as f64 - my) / sy).abs())
        .fold(0.0, f64::max) as f32;
    LumaMatch { r, spot }
}

/// Mean absolute difference of two chroma signatures (0-255 scale).
pub fn chroma_distance(a: &[u8; 32], b: &[u8; 32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y) as u32)
        .sum::<u32>() as f32
        / 32.0
}

/// Hamming distance of two hashes.
#[inline]
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// A hash as 16 hex digits.
pub fn to_hex(h: u64) -> String {
    format!("{h:016x}")
}

/// Grey first (as PIL's `convert("L")`), then Pillow's Lanczos resize, as imagehash does.
fn resize_grey(grey: &GrayImage, w: u32, h: u32) -> GrayImage {
    let (sw, sh) = (grey.width() as usize, grey.height() as usize);
    if sw == 0 || sh == 0 {
        return GrayImage::new(w, h);
    }
    let px = crate::prep::pillow_resize::resize_grey_pillow(
        grey.as_raw(),
        sw,
        sh,
        w as usize,
        h as usize,
    );
    GrayImage::from_raw(w, h, px).unwrap_or_else(|| unreachable!("buffer sized from the image"))
}

/// The orthonormal-free DCT-II basis `cos(pi (2x + 1) u / 2N)` for N = 32, as scipy's
/// `dct` uses (scaling does not change which coefficients exceed the median).
fn dct_basis() -> &'static [[f64; 32]; 32] {
    static BASIS: OnceLock<[[f64; 32]; 32]> = OnceLock::new();
    BASIS.get_or_init(|| {
        let mut b = [[0.0; 32]; 32];
        for (u, row) in b.iter_mut().enumerate() {
            for (x, v) in row.iter_mut().enumerate() {
                *v = (std::f64::consts::PI * (2 * x + 1) as f64 * u as f64 / 64.0).cos();
            }
        }
        b
    })
}

/// The first eight rows of [`dct_basis`] over half the samples (`[u][x]`, x < 16): what
/// [`dct32_low8`] multiplies its folded sums by.
fn dct_half_basis() -> &'static [[f64; 16]; 8] {
    static HALF: OnceLock<[[f64; 16]; 8]> = OnceLock::new();
    HALF.get_or_init(|| std::array::from_fn(|u| std::array::from_fn(|x| dct_basis()[u][x])))
}

/// The eight lowest DCT-II coefficients of 32 samples, the samples folded first (x with
/// 31 - x, then 15 - x, then 7 - x: the even-odd decomposition of fast DCTs). Where a
/// coefficient is exactly 0 (a flat image, a straight ramp, a mirror-symmetric one) the
/// folded sums cancel exactly, as scipy's FFT-based DCT gives them, so imagehash's median
/// of those zeros is 0; plain dot products left rounding noise there that decided the
/// bits (a flat image hashed 23-31 bits away from imagehash's `8000000000000000`).
fn dct32_low8(p: &[f64; 32], cos: &[[f64; 16]; 8]) -> [f64; 8] {
    let a: [f64; 16] = std::array::from_fn(|x| p[x] + p[31 - x]);
    let b: [f64; 16] = std::array::from_fn(|x| p[x] - p[31 - x]);
    let a2: [f64; 8] = std::array::from_fn(|x| a[x] + a[15 - x]);
    let b2: [f64; 8] = std::array::from_fn(|x| a[x] - a[15 - x]);
    let a3: [f64; 4] = std::array::from_fn(|x| a2[x] + a2[7 - x]);
    let b3: [f64; 4] = std::array::from_fn(|x| a2[x] - a2[7 - x]);
    let dot = |v: &[f64], u: usize| v.iter().zip(&cos[u]).fold(0.0, |s, (&v, &c)| s + v * c);
    let mut out = [0.0; 8];
    out[0] = a3.iter().fold(0.0, |s, &v| s + v);
    out[4] = dot(&b3, 4);
    out[2] = dot(&b2, 2);
    out[6] = dot(&b2, 6);
    for u in [1, 3, 5, 7] {
        out[u] = dot(&b, u);
    }
    out
}

/// pHash of a 32x32 grey image: the 8x8 lowest frequencies of a separable DCT-II (over y,
/// then x, as imagehash's `dct(dct(pixels, axis=0), axis=1)`) against their median.
pub fn phash_grey(g: &GrayImage) -> u64 {
    debug_assert_eq!(g.dimensions(), (32, 32));
    let px: &[u8; 1024] = g
        .as_raw()
        .as_slice()
        .try_into()
        .unwrap_or_else(|_| panic!("pHash needs a 32x32 grey image"));
    let cos = dct_half_basis();
    // cols[x][v]: the transform over y of column x.
    let cols: [[f64; 8]; 32] = std::array::from_fn(|x| {
        dct32_low8(&std::array::from_fn(|y| f64::from(px[y * 32 + x])), cos)
    });
    let mut low = [0.0f64; 64];
    for (v, out) in low.chunks_exact_mut(8).enumerate() {
        out.copy_from_slice(&dct32_low8(&std::array::from_fn(|x| cols[x][v]), cos));
    }
    // The median of the 64: the mean of the 32nd and 33rd smallest (a selection, not a
    // sort).
    let mut sorted = low;
    let (below, &mut upper, _) = sorted.select_nth_unstable_by(32, f64::total_cmp);
    let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let median = (lower + upper) / 2.0;
    low.iter()
        .fold(0u64, |bits, &c| (bits << 1) | (c > median) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::{self, FilterType};
    use image::{Luma, Pixel, Rgb};

    /// The full 32x32 DCT-II straight from its formula, then imagehash's rule.
    fn naive_phash(g: &GrayImage) -> u64 {
        let n = 32.0;
        let mut low = Vec::new();
        for v in 0..8 {
            for u in 0..8 {
                let mut s = 0.0;
                for y in 0..32 {
                    for x in 0..32 {
                        s += g.get_pixel(x, y)[0] as f64
                            * (std::f64::consts::PI * (2.0 * x as f64 + 1.0) * u as f64
                                / (2.0 * n))
                                .cos()
                            * (std::f64::consts::PI * (2.0 * y as f64 + 1.0) * v as f64
                                / (2.0 * n))
                                .cos();
                    }
                }
                low.push(s);
            }
        }
        let mut sorted = low.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let med = (sorted[31] + sorted[32]) / 2.0;
        low.iter().fold(0, |b, &c| (b << 1) | (c > med) as u64)
    }

    /// Regression: pHash and dHash differed from Python imagehash's on about half of
    /// smooth images, by 2 bits or so (a resize unlike Pillow's, another grey formula),
    /// and a flat image's pHash by 23-31 bits (rounding noise in the DCT's zeros). The
    /// expected hex strings are `str(imagehash.phash(img))` and `dhash` of the same RGB
    /// images, with Pillow 13.0.0 and imagehash 4.3.2 (the tall one takes Pillow 13's
    /// vertical-first pass).
    #[test]
    fn hashes_equal_imagehashs() {
        let make = |w, h, f: fn(u32, u32) -> [u32; 3]| {
            RgbImage::from_fn(w, h, |x, y| Rgb(f(x, y).map(|v| v as u8)))
        };
        let cases: [(RgbImage, &str, &str); 4] = [
            (
                make(64, 64, |x, y| {
                    [
                        (x * 37 + y * 91 + x * y * 7) % 256,
                        (x * 11 + y * 3) % 256,
                        (x * y) % 256,
                    ]
                }),
                "a9035754463e3e3e",
                "d9db9bb3b2362664",
            ),
            (
                make(96, 80, |x, y| {
                    [
                        (x * x + 3 * y + x * y) % 251,
                        (5 * x + y * y) % 256,
                        (x + 2 * y) % 256,
                    ]
                }),
                "a425a62caf2caf8e",
                "e79877ebb5a5b54b",
            ),
            (
                make(40, 120, |x, y| {
                    [
                        (x * 13 + y * 7) % 256,
                        (x * y + y) % 256,
                        (3 * x * x + y) % 256,
                    ]
                }),
                "8000273f3f77272f",
                "cc99e69833cc3166",
            ),
            (
                make(50, 50, |_, _| [128; 3]),
                "8000000000000000",
                "0000000000000000",
            ),
        ];
        for (img, p, d) in cases {
            let size = img.dimensions();
            assert_eq!(
                (to_hex(phash(&img)), to_hex(dhash(&img))),
                (p.into(), d.into()),
                "{size:?}"
            );
        }
        // Pillow's grey: (0, 0, 250) is 28 (the old formula gave 29).
        let blue = RgbImage::from_pixel(1, 1, Rgb([0, 0, 250]));
        assert_eq!(crate::prep::quality::luma(&blue).as_raw(), &[28]);
    }

    #[test]
    fn phash_matches_naive_dct() {
        let g = GrayImage::from_fn(32, 32, |x, y| Luma([((x * x + 3 * y + x * y) % 251) as u8]));
        assert_eq!(phash_grey(&g), naive_phash(&g));
    }

    #[test]
    fn chroma_grid_of_two_halves() {
        // Left half red, right half blue, 10 px wide so cells split unevenly.
        let img = RgbImage::from_fn(10, 9, |x, _| {
            if x < 5 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        });
        let g = chroma_grid(&img);
        // BT.601: red Cb 85, Cr 255.5 -> 255; blue Cb 255.5 -> 255, Cr 107.
        for row in 0..4 {
            assert_eq!(&g[row * 8..row * 8 + 2], &[85, 255], "row {row} left");
            assert_eq!(&g[row * 8 + 6..row * 8 + 8], &[255, 107], "row {row} right");
        }
    }

    #[test]
    fn luma_grid_cells_hold_a_pixel_below_16_px() {
        // Regression: at 8 px three quarters of the cells were empty, written 0.
        for side in [1, 8, 12, 15, 16, 23] {
            let flat = GrayImage::from_pixel(side, side, Luma([200]));
            assert_eq!(luma_grid(&flat), [200u8; 256], "{side} px");
        }
        // At 8 px each cell is the pixel under it: cell (cx, cy) is pixel (cx / 2, cy / 2).
        let img = GrayImage::from_fn(8, 8, |x, y| Luma([(10 * x + 80 * y / 8 + 1) as u8]));
        let g = luma_grid(&img);
        for (k, &v) in g.iter().enumerate() {
            let (cx, cy) = ((k % 16) as u32, (k / 16) as u32);
            assert_eq!(v, img.get_pixel(cx / 2, cy / 2)[0], "cell {cx},{cy}");
        }
    }

    /// A flat-coloured drawing (sharp edges, as the demo's faces and anime) whose copy was
    /// cropped by a box rounded at another scale, a pixel off and 3% larger, as a
    /// thumbnail's is: with half-cell and 6% alignment steps its best alignment had a cell
    /// 1.2 standard units off at an edge and the pair was split (the demo's `thumb_0139`).
    #[test]
    fn a_drawing_recropped_a_pixel_off_stays_near() {
        // Supersampled 4x4 per pixel: the crop seen through `(x, y) -> c + (p - c) s + d`.
        let draw = |s: f32, dx: f32, dy: f32| {
            GrayImage::from_fn(64, 64, |x, y| {
                let mut sum = 0.0;
                for k in 0..16 {
                    let px = x as f32 + (k % 4) as f32 / 4.0 + 0.125;
                    let py = y as f32 + (k / 4) as f32 / 4.0 + 0.125;
                    let (u, v) = (32.0 + (px - 32.0) * s + dx, 32.0 + (py - 32.0) * s + dy);
                    let in_circle = |cx: f32, cy: f32, r: f32| (u - cx).hypot(v - cy) < r;
                    sum += match () {
                        _ if in_circle(22.0, 30.0, 5.0) || in_circle(42.0, 30.0, 5.0) => 20.0,
                        _ if (26.0..38.0).contains(&u) && (44.0..47.0).contains(&v) => 60.0,
                        _ if in_circle(32.0, 34.0, 20.0) => 230.0,
                        _ if v < 20.0 => 90.0,
                        _ => 160.0,
                    };
                }
                Luma([(sum / 16.0) as u8])
            })
        };
        let g = luma_grid(&draw(1.0, 0.0, 0.0));
        let copy = luma_grid(&draw(1.03, 1.0, 0.4));
        assert!(
            luma_similar(&g, &copy, 0.95, 1.0),
            "{:?}",
            luma_match(&g, &copy)
        );
    }

    /// The luma layout is the mean of each cell; a copy shifted by 2 px, zoomed by 6% or
    /// brightened stays above 0.96 (the default asks 0.95) once aligned, where an unrelated image of
    /// the same smoothness does not come near, and the mirror's layout is the mirrored one.
    #[test]
    fn luma_layouts_align_small_moves_only() {
        let blobs = |seed: u32| {
            GrayImage::from_fn(64, 64, |x, y| {
                let (x, y) = (x as f32, y as f32);
                let s = seed as f32;
                let v = 128.0
                    + 60.0 * ((x / 7.0 + s).sin() * (y / 9.0 - s).cos())
                    + 40.0 * ((x + y) / 11.0 + 2.0 * s).sin();
                Luma([v.clamp(0.0, 255.0) as u8])
            })
        };
        let a = blobs(1);
        let g = luma_grid(&a);
        let cell = |cx: u32, cy: u32| {
            let sum: u32 = (0..4)
                .flat_map(|dy| (0..4).map(move |dx| (dx, dy)))
                .map(|(dx, dy)| a.get_pixel(cx * 4 + dx, cy * 4 + dy)[0] as u32)
                .sum();
            ((sum + 8) / 16) as u8
        };
        assert_eq!(g[3 * 16 + 5], cell(5, 3));
        assert!((luma_similarity(&g, &g) - 1.0).abs() < 1e-5);
        let shifted = GrayImage::from_fn(64, 64, |x, y| *a.get_pixel((x + 2).min(63), y));
        let zoomed = imageops::resize(
            &imageops::crop_imm(&a, 2, 2, 60, 60).to_image(),
            64,
            64,
            FilterType::Triangle,
        );
        let brighter = GrayImage::from_fn(64, 64, |x, y| {
            Luma([(a.get_pixel(x, y)[0] as f32 * 1.12).min(255.0) as u8])
        });
        for (what, img) in [("shift", shifted), ("zoom", zoomed), ("bright", brighter)] {
            let sim = luma_similarity(&g, &luma_grid(&img));
            assert!(sim >= 0.96, "{what}: {sim}");
            // A change everywhere, a little: no cell far off.
            let m = luma_match(&g, &luma_grid(&img));
            assert!(m.spot <= 1.0, "{what}: {m:?}");
        }
        // A change in one place (a dark bar two cells wide, as glasses across the eyes):
        // the layouts still correlate, but one cell is far off.
        let mut patched = a.clone();
        for y in 28..32 {
            for x in 24..32 {
                patched.put_pixel(x, y, Luma([0]));
            }
        }
        let m = luma_match(&g, &luma_grid(&patched));
        assert!(m.r >= 0.9 && m.spot > 1.0, "{m:?}");
        assert!(!luma_similar(&g, &luma_grid(&patched), 0.9, 1.0));
        assert!(luma_similar(&g, &luma_grid(&patched), 0.9, f32::INFINITY));
        let unrelated = GrayImage::from_fn(64, 64, |x, y| {
            let (x, y) = (x as f32, y as f32);
            let v =
                128.0 + 60.0 * (y / 6.0).sin() * (x / 13.0).cos() + 40.0 * ((x - y) / 8.0).cos();
            Luma([v as u8])
        });
        let other = luma_similarity(&g, &luma_grid(&unrelated));
        assert!(other < 0.5, "unrelated: {other}");
        let u = luma_grid(&unrelated);
        let inf = f32::INFINITY;
        assert!(luma_similar(&g, &g, 0.95, inf) && !luma_similar(&g, &u, 0.95, inf));
        assert!(luma_similar(&g, &u, other, inf) && !luma_similar(&g, &u, other + 1e-3, inf));
        let m = luma_grid(&imageops::flip_horizontal(&a));
        assert_eq!(mirror_luma(&g), m);
    }

    #[test]
    fn dhash_of_gradient() {
        // Brightness rising to the right: every bit set.
        let img = RgbImage::from_fn(90, 80, |x, _| Rgb([(x * 2) as u8; 3]));
        assert_eq!(dhash(&img), u64::MAX);
        let flipped = imageops::flip_horizontal(&img);
        assert_eq!(dhash(&flipped), 0);
    }

    #[test]
    fn hashes_survive_resize_and_brightness() {
        let img = RgbImage::from_fn(96, 96, |x, y| {
            let v = (128.0 + 90.0 * ((x as f32) * 0.11).sin() * ((y as f32) * 0.07).cos()) as u8;
            Rgb([v, v / 2, 255 - v])
        });
        let small = imageops::resize(&img, 67, 67, FilterType::Triangle);
        let bright = RgbImage::from_fn(96, 96, |x, y| {
            img.get_pixel(x, y)
                .map(|c| (c as u32 * 112 / 100).min(255) as u8)
        });
        assert!(distance(phash(&img), phash(&small)) <= 4);
        assert!(distance(phash(&img), phash(&bright)) <= 6);
        assert!(distance(dhash(&img), dhash(&small)) <= 6);
    }
}
