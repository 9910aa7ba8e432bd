//! The classifier's input: images decoded to planes at its input size, and the views a
//! batch takes of them (mirrored, shifted, cut) for augmentation.

use burn::prelude::*;
use rand::rngs::StdRng;
use rand::RngExt;

/// Decoded images at the classifier's input size: `n * 3 * size * size` floats in
/// -1..1, channel-major per image.
#[derive(Debug, Clone)]
pub struct Pixels {
    /// Side in pixels.
    pub size: usize,
    /// The data.
    pub data: Vec<f32>,
}

impl Pixels {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.data.len() / (3 * self.size * self.size)
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The images `images` (indices into these), in that order.
    pub fn select(&self, images: &[usize]) -> Pixels {
        let plane = 3 * self.size * self.size;
        Pixels {
            size: self.size,
            data: images
                .iter()
                .flat_map(|&i| &self.data[i * plane..(i + 1) * plane])
                .copied()
                .collect(),
        }
    }

    /// Copies image `v.image`, mirrored left-right when `v.flip`, moved by
    /// `(v.dx, v.dy)` pixels with the edge repeated and with `v.cut`'s square set to
    /// mid-grey, to the end of `out`.
    pub(super) fn push(&self, v: &View, out: &mut Vec<f32>) {
        let s = self.size;
        let img = &self.data[v.image * 3 * s * s..(v.image + 1) * 3 * s * s];
        let start = out.len();
        if !v.flip && v.dx == 0 && v.dy == 0 {
            out.extend_from_slice(img);
        } else {
            self.push_moved(v, img, out);
        }
        if let Some((x0, y0, side)) = v.cut {
            for plane in out[start..].chunks_mut(s * s) {
                for y in y0.min(s)..(y0 + side).min(s) {
                    plane[y * s + x0.min(s)..y * s + (x0 + side).min(s)].fill(0.0);
                }
            }
        }
    }

    fn push_moved(&self, v: &View, img: &[f32], out: &mut Vec<f32>) {
        let s = self.size;
        let at = |p: usize, d: i32| (p as i32 + d).clamp(0, s as i32 - 1) as usize;
        for plane in img.chunks(s * s) {
            for y in 0..s {
                let row = &plane[at(y, v.dy) * s..][..s];
                out.extend((0..s).map(|x| {
                    let x = at(x, v.dx);
                    row[if v.flip { s - 1 - x } else { x }]
                }));
            }
        }
    }
}

/// An image as the network sees it in one batch: mirrored, shifted and cut (augmentation).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct View {
    pub(super) image: usize,
    pub(super) flip: bool,
    pub(super) dx: i32,
    pub(super) dy: i32,
    /// A square `(x, y, side)` blanked out (the strong views of [`Consistency`]).
    pub(super) cut: Option<(usize, usize, usize)>,
}

/// A view of `image` flipped at random (when `mirror`) and shifted by up to `m` pixels
/// each way. The flip is drawn either way, so the rest of the stream stays the same.
pub(super) fn random_view(rng: &mut StdRng, image: usize, m: i32, mirror: bool) -> View {
    let flip = rng.random_bool(0.5) && mirror;
    let (dx, dy) = if m > 0 {
        (rng.random_range(-m..=m), rng.random_range(-m..=m))
    } else {
        (0, 0) // no draws: the stream of batches is as without the option
    };
    View {
        image,
        flip,
        dx,
        dy,
        cut: None,
    }
}

/// The views `idx` of `pixels` as one input batch `[n, 3, size, size]`.
pub(super) fn batch_tensor<B: Backend>(
    pixels: &Pixels,
    idx: &[View],
    device: &B::Device,
) -> Tensor<B, 4> {
    mixed_batch_tensor(pixels, idx, None, device)
}

/// [`batch_tensor`] with the first rows mixed by `mix`.
pub(super) fn mixed_batch_tensor<B: Backend>(
    pixels: &Pixels,
    idx: &[View],
    mix: Option<&Mix>,
    device: &B::Device,
) -> Tensor<B, 4> {
    let s = pixels.size;
    let mut buf = Vec::with_capacity(idx.len() * 3 * s * s);
    for v in idx {
        pixels.push(v, &mut buf);
    }
    if let Some(m) = mix {
        m.apply(&mut buf, s);
    }
    Tensor::from_data(TensorData::new(buf, [idx.len(), 3, s, s]), device)
}

/// Mixup's pairing of a batch's first rows (Zhang et al. 2018, "mixup: Beyond Empirical
/// Risk Minimization"): row `r` becomes `lam[r]` of itself and `1 - lam[r]` of row
/// `partner[r]`, input and target alike.
#[derive(Debug, Clone)]
pub(super) struct Mix {
    pub(super) partner: Vec<usize>,
    pub(super) lam: Vec<f32>,
}

impl Mix {
    /// A random pairing of `rows` rows with weights drawn from Beta(alpha, alpha) and
    /// folded to at least 0.5 (MixMatch, Berthelot et al. 2019), so every row stays
    /// mostly itself.
    pub(super) fn draw(rng: &mut StdRng, rows: usize, alpha: f32) -> Mix {
        let mut partner: Vec<usize> = (0..rows).collect();
        for i in (1..rows).rev() {
            partner.swap(i, rng.random_range(0..=i));
        }
        let lam = (0..rows)
            .map(|_| {
                let l = beta(rng, alpha);
                l.max(1.0 - l)
            })
            .collect();
        Mix { partner, lam }
    }

    /// Mixes the first `self.lam.len()` images of `buf` (`[n, 3, s, s]` flattened) in place.
    pub(super) fn apply(&self, buf: &mut [f32], s: usize) {
        let len = 3 * s * s;
        let rows = self.lam.len();
        let orig = buf[..rows * len].to_vec();
        for (r, (&p, &l)) in self.partner.iter().zip(&self.lam).enumerate() {
            let (a, b) = (&orig[r * len..][..len], &orig[p * len..][..len]);
            for ((o, &x), &y) in buf[r * len..][..len].iter_mut().zip(a).zip(b) {
                *o = l * x + (1.0 - l) * y;
            }
        }
    }
}

/// A draw from Beta(alpha, alpha) by Jöhnk's rejection method (Jöhnk 1964; Devroye 1986,
/// IX.3.5), which suits the small alphas mixup uses and needs only uniforms.
fn beta(rng: &mut StdRng, alpha: f32) -> f32 {
    loop {
        let x = rng.random::<f32>().powf(1.0 / alpha);
        let y = rng.random::<f32>().powf(1.0 / alpha);
        if x + y <= 1.0 && x + y > 0.0 {
            return x / (x + y);
        }
    }
}

#[cfg(test)]
impl Pixels {
    /// `n` deterministic images of side `size`, values in -1..1.
    pub(crate) fn fixture(n: usize, size: usize) -> Pixels {
        Pixels {
            size,
            data: (0..n * 3 * size * size)
                .map(|i| ((i * 7919) % 255) as f32 / 127.5 - 1.0)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_copies_the_asked_images_in_order() {
        let px = Pixels::fixture(4, 2);
        let sub = px.select(&[2, 0]);
        assert_eq!((sub.size, sub.len()), (2, 2));
        assert_eq!(sub.data[..12], px.data[24..36]);
        assert_eq!(sub.data[12..], px.data[..12]);
    }

    /// Without `mirror` no view is flipped, and the draws after it are the same.
    #[test]
    fn unmirrored_views_are_never_flipped() {
        use rand::SeedableRng;
        let (mut a, mut b) = (StdRng::seed_from_u64(3), StdRng::seed_from_u64(3));
        let on: Vec<View> = (0..200).map(|i| random_view(&mut a, i, 4, true)).collect();
        let off: Vec<View> = (0..200).map(|i| random_view(&mut b, i, 4, false)).collect();
        assert!(on.iter().any(|v| v.flip) && off.iter().all(|v| !v.flip));
        let shifts = |v: &[View]| v.iter().map(|v| (v.dx, v.dy)).collect::<Vec<_>>();
        assert_eq!(shifts(&on), shifts(&off));
    }

    /// Beta draws folded to 0.5..1 average near the folded Beta's mean, and a mixed
    /// row is that share of itself and the rest of its partner.
    #[test]
    fn mixup_pairs_rows_and_blends_them_by_the_drawn_weight() {
        use rand::SeedableRng;
        let mut rng = StdRng::seed_from_u64(1);
        let m = Mix::draw(&mut rng, 2000, 0.4);
        let mean = m.lam.iter().sum::<f32>() / 2000.0;
        assert!(m.lam.iter().all(|&l| (0.5..=1.0).contains(&l)));
        // E[max(L, 1-L)] for L ~ Beta(0.4, 0.4) is about 0.81.
        assert!((0.77..0.85).contains(&mean), "{mean}");
        let mut sorted = m.partner.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..2000).collect::<Vec<_>>(), "a permutation");
        let s = 2;
        let mix = Mix {
            partner: vec![1, 0, 2],
            lam: vec![0.75, 1.0, 0.5],
        };
        let mut buf: Vec<f32> = (0..4 * 3 * s * s).map(|i| (i / 12) as f32).collect();
        mix.apply(&mut buf, s);
        assert!(
            buf[..12].iter().all(|&v| v == 0.25),
            "0.75 of 0 and 0.25 of 1"
        );
        assert!(buf[12..24].iter().all(|&v| v == 1.0));
        assert!(buf[24..36].iter().all(|&v| v == 2.0), "its own partner");
        assert!(buf[36..].iter().all(|&v| v == 3.0), "past the mixed rows");
    }

    /// A cut view blanks its square in every channel and leaves the rest as the plain view.
    #[test]
    fn a_cut_view_blanks_only_its_square() {
        let size = 8;
        let pixels = Pixels {
            size,
            data: (0..3 * size * size)
                .map(|i| 0.5 + i as f32 * 1e-3)
                .collect(),
        };
        let (mut plain, mut cut) = (Vec::new(), Vec::new());
        pixels.push(&View::default(), &mut plain);
        let v = View {
            cut: Some((2, 5, 4)), // runs past the bottom edge: clipped
            ..View::default()
        };
        pixels.push(&v, &mut cut);
        for (i, (&p, &c)) in plain.iter().zip(&cut).enumerate() {
            let (y, x) = ((i / size) % size, i % size);
            let inside = (2..6).contains(&x) && y >= 5;
            assert_eq!(c, if inside { 0.0 } else { p }, "pixel {i}");
        }
    }
}
