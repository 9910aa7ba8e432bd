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

fn resize_grey(grey: &GrayImage, w: u32, h: u32) -> GrayImage {
    // Grey first (as PIL's convert("L")), then the antialiasing resize.
    crate::prep::resample::resize_grey(grey, w, h)
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

/// The first eight rows of [`dct_basis`] by pixel, then frequency (`[x][u]`), so the row
/// pass of [`low_frequencies`] reads them contiguously; made once, like the basis.
fn dct_basis_by_x() -> &'static [[f64; 8]; 32] {
    static BY_X: OnceLock<[[f64; 8]; 32]> = OnceLock::new();
    BY_X.get_or_init(|| {
        let basis = dct_basis();
        let mut by_x = [[0.0; 8]; 32];
        for (x, b) in by_x.iter_mut().enumerate() {
            for (u, v) in b.iter_mut().enumerate() {
                *v = basis[u][x];
            }
        }
        by_x
    })
}

/// pHash of a 32x32 grey image: a separable DCT computing only the 8x8 block needed.
pub fn phash_grey(g: &GrayImage) -> u64 {
    debug_assert_eq!(g.dimensions(), (32, 32));
    let px: &[u8; 1024] = g
        .as_raw()
        .as_slice()
        .try_into()
        .unwrap_or_else(|_| panic!("pHash needs a 32x32 grey image"));
    let low = low_frequencies(px, dct_basis(), dct_basis_by_x());
    // The median of the 64: the mean of the 32nd and 33rd smallest (a selection, not a
    // sort).
    let mut sorted = low;
    let (below, &mut upper, _) = sorted.select_nth_unstable_by(32, f64::total_cmp);
    let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let median = (lower + upper) / 2.0;
    low.iter()
        .fold(0u64, |bits, &c| (bits << 1) | (c > median) as u64)
}

crate::simd::avx2_or_plain! {
    /// The 8x8 lowest DCT-II frequencies of 32x32 pixels, `[v][u]` row-major. Each sum runs
    /// over x (then y) in order, as a plain dot product would, but the eight frequencies
    /// are the inner loop: eight independent sums side by side vectorize, where one long
    /// sum of f64 waits on each addition (bit-identical to the dot products).
    fn low_frequencies(
        px: &[u8; 1024],
        basis: &[[f64; 32]; 32],
        by_x: &[[f64; 8]; 32],
    ) -> [f64; 64] {
        // Rows: [32 rows][8 frequencies].
        let mut rows = [[0.0f64; 8]; 32];
        for (row, line) in rows.iter_mut().zip(px.chunks_exact(32)) {
            for (&p, b) in line.iter().zip(by_x) {
                let p = f64::from(p);
                for (r, &w) in row.iter_mut().zip(b) {
                    *r += p * w;
                }
            }
        }
        // Columns: [8 frequencies v][8 frequencies u].
        let mut low = [0.0f64; 64];
        for (out, bv) in low.chunks_exact_mut(8).zip(basis) {
            for (row, &w) in rows.iter().zip(bv) {
                for (o, &r) in out.iter_mut().zip(row) {
                    *o += r * w;
                }
            }
        }
        low
    }
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
