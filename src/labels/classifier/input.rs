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

/// A view of `image` flipped at random and shifted by up to `m` pixels each way.
pub(super) fn random_view(rng: &mut StdRng, image: usize, m: i32) -> View {
    let flip = rng.random_bool(0.5);
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
    let s = pixels.size;
    let mut buf = Vec::with_capacity(idx.len() * 3 * s * s);
    for v in idx {
        pixels.push(v, &mut buf);
    }
    Tensor::from_data(TensorData::new(buf, [idx.len(), 3, s, s]), device)
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
