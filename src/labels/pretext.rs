//! Self-supervised pre-training of the classifier's body on unlabeled images (an
//! experiment, `examples/label_fit` with `PRETEXT=steps`): the network learns to tell
//! which colours appear in each cell of a 6x6 grid over the face, a task whose answers
//! come from the pixels. Colour attributes are what the labels ask for, and an eye is a
//! few pixels of one cell: presence, not share, is the target, so small regions count as
//! much as large ones.

use super::classifier::{Net, Pixels, TrainSpec};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::backend::AutodiffBackend;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Colour bins: 12 hues x 2 brightness levels for coloured pixels, 4 grey levels.
const BINS: usize = 28;
/// Sub-cells per side of each cell of the body's 3x3 output map.
const SUB: usize = 2;
/// Pixels of a bin a sub-cell needs for the colour to count as present.
const PRESENT: u32 = 3;

#[derive(Module, Debug)]
struct Pretext<B: Backend> {
    net: Net<B>,
    head: Linear<B>,
}

/// The colour bin of one pixel (components in 0..1).
fn bin(r: f32, g: f32, b: f32) -> usize {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let s = if max > 0.0 { (max - min) / max } else { 0.0 };
    if s < 0.25 || max < 0.15 {
        return 24 + ((max * 4.0) as usize).min(3);
    }
    let d = max - min;
    let h = if max == r {
        ((g - b) / d).rem_euclid(6.0)
    } else if max == g {
        (b - r) / d + 2.0
    } else {
        (r - g) / d + 4.0
    }; // 0..6
    let hue = ((h * 2.0) as usize).min(11);
    hue * 2 + usize::from(max >= 0.6)
}

/// Presence targets of one image (`3 * s * s` floats in -1..1, channel-major), mirrored
/// when `flip`, laid out as the head's outputs: per cell of the 3x3 map, per sub-cell,
/// per bin.
fn targets(img: &[f32], s: usize, flip: bool, out: &mut Vec<f32>) {
    let cells = 3 * SUB;
    let mut counts = vec![0u32; cells * cells * BINS];
    for y in 0..s {
        for x in 0..s {
            let xs = if flip { s - 1 - x } else { x };
            let at = y * s + xs;
            let c = |k: usize| (img[k * s * s + at] + 1.0) * 0.5;
            let (gy, gx) = (y * cells / s, x * cells / s);
            counts[(gy * cells + gx) * BINS + bin(c(0), c(1), c(2))] += 1;
        }
    }
    for cy in 0..3 {
        for cx in 0..3 {
            for sy in 0..SUB {
                for sx in 0..SUB {
                    let g = (cy * SUB + sy) * cells + cx * SUB + sx;
                    out.extend(counts[g * BINS..(g + 1) * BINS].iter().map(|&n| {
                        if n >= PRESENT {
                            1.0
                        } else {
                            0.0
                        }
                    }));
                }
            }
        }
    }
}

/// Trains `net`'s body for `steps` steps of `spec.batch` images drawn from `images` on
/// the colour-presence task (Adam at `spec.lr`, cosine decay, seeded by `spec.seed`);
/// returns the network (heads untouched) and the last loss.
pub fn pretrain<B: AutodiffBackend>(
    net: Net<B>,
    pixels: &Pixels,
    images: &[usize],
    steps: usize,
    spec: &TrainSpec,
    device: &B::Device,
) -> (Net<B>, f32) {
    let (batch, lr) = (spec.batch, spec.lr);
    let s = pixels.size;
    let per = 3 * s * s;
    let channels = {
        let x = Tensor::<B, 4>::zeros([1, 3, s, s], device);
        net.body(x).dims()[1]
    };
    let mut model = Pretext {
        net,
        head: LinearConfig::new(channels, SUB * SUB * BINS).init(device),
    };
    let mut optim = AdamConfig::new().init::<B, Pretext<B>>();
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0xC010);
    let mut last = 0.0;
    for step in 0..steps {
        let mut buf = Vec::with_capacity(batch * per);
        let mut tgt = Vec::with_capacity(batch * 9 * SUB * SUB * BINS);
        for _ in 0..batch {
            let i = images[rng.random_range(0..images.len())];
            let flip = rng.random_bool(0.5);
            let img = &pixels.data[i * per..(i + 1) * per];
            for plane in img.chunks(s * s) {
                for row in plane.chunks(s) {
                    if flip {
                        buf.extend(row.iter().rev());
                    } else {
                        buf.extend_from_slice(row);
                    }
                }
            }
            targets(img, s, flip, &mut tgt);
        }
        let x = Tensor::<B, 4>::from_data(TensorData::new(buf, [batch, 3, s, s]), device);
        let f = model.net.body(x); // [batch, c, 3, 3]
        let [b, c, h, w] = f.dims();
        let f: Tensor<B, 2> = f.swap_dims(1, 3).swap_dims(1, 2).reshape([b * h * w, c]);
        let z = model.head.forward(f); // [b*9, SUB*SUB*BINS]
        let y =
            Tensor::<B, 2>::from_data(TensorData::new(tgt, [b * h * w, SUB * SUB * BINS]), device);
        // Binary cross-entropy with logits, stable form: max(z,0) - z*y + log(1+e^-|z|).
        let loss = (relu(z.clone()) - z.clone() * y + z.abs().neg().exp().log1p()).mean();
        last = loss.clone().into_scalar().elem::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let rate = lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / steps as f64).cos());
        model = optim.step(rate, model, grads);
    }
    (model.net, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_bins() {
        assert_eq!(bin(1.0, 0.0, 0.0), 1); // bright red
        assert_eq!(bin(0.0, 0.0, 0.5), 16); // dark blue: hue 4 of 6 -> 8
        assert_eq!(bin(0.5, 0.5, 0.5), 26); // grey
        assert_eq!(bin(0.05, 0.0, 0.0), 24); // too dark for a hue
    }
}
