//! Memorization and uniqueness: for each generated image its nearest training image in
//! pixels (RMSE on a 0..1 scale), and the share of generated images that are near
//! duplicates of a training image or of another generated image by prep's perceptual
//! hashes (pHash and dHash within 10 bits and the chroma layout within 6, prep's dedup
//! defaults). Feature-space neighbours come from the PRDC pass.
//!
//! The exact pixel search would cost `n_gen * n_train * pixels` (1.2e12 for 10,000 vs
//! 10,000 at 64 px RGB); instead candidates are the 32 nearest by an 8x8 thumbnail, and
//! the exact RMSE is taken among them (the usual coarse-to-fine search; a true copy is
//! always among the thumbnail's nearest).

use crate::prep::dedup::DedupSpec;
use crate::prep::hash;
use image::{Rgb, RgbImage};
use rayon::prelude::*;

/// Images as `[n, channels, size, size]` u8.
#[derive(Debug, Clone, Copy)]
pub struct Images<'a> {
    /// Pixels.
    pub px: &'a [u8],
    /// 1 or 3.
    pub channels: usize,
    /// Side.
    pub size: u32,
}

impl<'a> Images<'a> {
    /// Values per image.
    pub fn image_len(&self) -> usize {
        self.channels * (self.size * self.size) as usize
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.px.len() / self.image_len().max(1)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.px.is_empty()
    }

    /// Image `i`.
    pub fn image(&self, i: usize) -> &'a [u8] {
        let l = self.image_len();
        &self.px[i * l..(i + 1) * l]
    }

    /// Image `i` as RGB (grey repeated).
    pub fn rgb(&self, i: usize) -> RgbImage {
        let (s, c) = (self.size as usize, self.channels);
        let img = self.image(i);
        RgbImage::from_fn(self.size, self.size, |x, y| {
            let p = y as usize * s + x as usize;
            let at = |k: usize| img[k.min(c - 1) * s * s + p];
            Rgb([at(0), at(1), at(2)])
        })
    }

    fn thumb(&self, i: usize) -> Vec<f32> {
        let (s, t) = (self.size as usize, 8usize.min(self.size as usize));
        let img = self.image(i);
        let mut out = vec![0f32; self.channels * t * t];
        let mut cnt = vec![0f32; t * t];
        for y in 0..s {
            for x in 0..s {
                let cell = (y * t / s) * t + x * t / s;
                cnt[cell] += 1.0;
                for c in 0..self.channels {
                    out[c * t * t + cell] += img[c * s * s + y * s + x] as f32;
                }
            }
        }
        for (k, v) in out.iter_mut().enumerate() {
            *v /= cnt[k % (t * t)].max(1.0);
        }
        out
    }
}

/// Pixel RMSE (0..1) of two images of equal size.
pub fn rmse(a: &[u8], b: &[u8]) -> f64 {
    let s: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = x as i32 - y as i32;
            (d * d) as u64
        })
        .sum();
    (s as f64 / a.len().max(1) as f64).sqrt() / 255.0
}

/// For each generated image: its nearest training image in pixels, `(index, RMSE)`.
pub fn pixel_nearest(gen: Images, train: Images) -> Vec<(usize, f64)> {
    const CANDIDATES: usize = 32;
    let tt: Vec<Vec<f32>> = (0..train.len())
        .into_par_iter()
        .map(|i| train.thumb(i))
        .collect();
    (0..gen.len())
        .into_par_iter()
        .map(|g| {
            let tg = gen.thumb(g);
            let mut cand: Vec<(f32, usize)> = tt
                .iter()
                .enumerate()
                .map(|(i, t)| (super::metrics::sq_dist(&tg, t), i))
                .collect();
            let k = CANDIDATES.min(cand.len());
            if k == 0 {
                return (0, f64::NAN);
            }
            cand.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            cand[..k]
                .iter()
                .map(|&(_, i)| (i, rmse(gen.image(g), train.image(i))))
                .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
                .unwrap_or((0, f64::NAN))
        })
        .collect()
}

/// Perceptual hashes of one image.
#[derive(Debug, Clone, Copy)]
pub struct Hashes {
    phash: u64,
    dhash: u64,
    chroma: [u8; 32],
    luma: [u8; 256],
}

/// Hashes of every image.
pub fn hashes(imgs: Images) -> Vec<Hashes> {
    (0..imgs.len())
        .into_par_iter()
        .map(|i| {
            let rgb = imgs.rgb(i);
            let grey = crate::prep::quality::luma(&rgb);
            Hashes {
                phash: hash::phash_of_luma(&grey),
                dhash: hash::dhash_of_luma(&grey),
                chroma: hash::chroma_grid(&rgb),
                luma: hash::luma_grid(&grey),
            }
        })
        .collect()
}

fn near(a: &Hashes, b: &Hashes, spec: &DedupSpec) -> bool {
    hash::distance(a.phash, b.phash) <= spec.phash_max
        && hash::distance(a.dhash, b.dhash) <= spec.dhash_max
        && hash::chroma_distance(&a.chroma, &b.chroma) <= spec.chroma_max
        && hash::luma_similar(&a.luma, &b.luma, spec.luma_min, spec.luma_spot_max)
}

/// Share of `gen` near-duplicating some image of `train`, and share near-duplicating
/// another image of `gen`, with prep's default thresholds.
pub fn near_duplicates(gen: &[Hashes], train: &[Hashes]) -> (f64, f64) {
    let spec = DedupSpec::default();
    let n = gen.len().max(1) as f64;
    let vs_train = gen
        .par_iter()
        .filter(|g| train.iter().any(|t| near(g, t, &spec)))
        .count();
    let vs_self = (0..gen.len())
        .into_par_iter()
        .filter(|&i| (0..gen.len()).any(|j| j != i && near(&gen[i], &gen[j], &spec)))
        .count();
    (vs_train as f64 / n, vs_self as f64 / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_neighbours_and_duplicates() {
        // Four 16x16 grey images of random 4x4 blocks (pHash needs texture: on smooth
        // gradients most low DCT coefficients sit at the median and the bits are noise),
        // and as "generated": a copy of #2 with one pixel changed, and a fifth texture.
        let s = 16usize;
        let texture = |seed: u64| -> Vec<u8> {
            let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let blocks: Vec<u8> = (0..16)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 56) as u8
                })
                .collect();
            (0..s * s)
                .map(|p| blocks[(p / s / 4) * 4 + (p % s) / 4])
                .collect()
        };
        let train: Vec<u8> = (1..=4).flat_map(texture).collect();
        let mut gen = train[2 * s * s..3 * s * s].to_vec();
        gen[5] = if gen[5] > 127 {
            gen[5] - 40
        } else {
            gen[5] + 40
        };
        gen.extend(texture(9));
        let t = Images {
            px: &train,
            channels: 1,
            size: s as u32,
        };
        let g = Images {
            px: &gen,
            channels: 1,
            size: s as u32,
        };
        let nn = pixel_nearest(g, t);
        assert_eq!(nn[0].0, 2);
        assert!((nn[0].1 - (40.0f64 * 40.0 / 256.0).sqrt() / 255.0).abs() < 1e-12);
        let (hg, ht) = (hashes(g), hashes(t));
        let (dt, ds) = near_duplicates(&hg, &ht);
        assert_eq!((dt, ds), (0.5, 0.0));
        let twice = [gen[..s * s].to_vec(), gen[..s * s].to_vec()].concat();
        let g2 = Images {
            px: &twice,
            channels: 1,
            size: s as u32,
        };
        assert_eq!(near_duplicates(&hashes(g2), &hashes(t)), (1.0, 1.0));
        assert_eq!(rmse(&[0, 255], &[255, 0]), 1.0);
    }
}
