//! Batch normalization, ReLU and 2x2 max pooling as one operation on flex, for the
//! classifier's conv blocks, in training and at inference.
//!
//! [`super::batch_norm_relu`] then [`super::max_pool2x2`] write the full-size activation
//! and read it back to pool it, and in the backward pass pooling writes a full-size
//! gradient, three quarters zeros, that batch norm reads twice. Both are memory-bound
//! passes over the largest tensors of a step. Here the forward pass pools each pair of
//! rows as it normalises them (only the normalised input, which the backward pass needs,
//! is written at full size; at inference nothing is), and the backward pass reads the
//! pooled gradient and the winners: the per-channel sums visit only the winners (every
//! other value's gradient is zero), and the input gradient is written once.
//!
//! Every value is the two operations' own, bit for bit: the same expressions, and the
//! sums' terms in the same lanes in the same order (batch norm's sums put value `k` of
//! a plane in lane `k % 8` in increasing `k`; the zeros skipped add nothing).

use super::norm::{
    by_backend, inference_factors, register_affine_grads, statistics, values, Saved,
};
use super::planes::{par_planes_pooled_written, par_planes_written};
use super::pool::window_max;
use super::{dims4, Ad};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::Flex;
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::{DType, TensorPrimitive};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// `max_pool2x2(batch_norm_relu(bn, x))`: one operation on flex, training or not, the
/// two on other backends.
pub fn batch_norm_relu_pool2x2<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let composed = |bn: &BatchNorm<B>, x| super::max_pool2x2(super::batch_norm_relu(bn, x));
    let [_, _, h, w] = x.dims();
    // A plane smaller than the window pools to nothing: left to the two operations.
    if x.dtype() != DType::F32 || h < 2 || w < 2 {
        return composed(bn, x);
    }
    by_backend(bn, x, training, inference, composed)
}

/// Inference: from the running statistics, each pair of rows normalised, rectified and
/// pooled in place of writing the full-size activation.
fn inference(bn: &BatchNorm<Flex>, x: Tensor<Flex, 4>) -> Tensor<Flex, 4> {
    let [n, c, h, w] = x.dims();
    let (oh, ow) = (h / 2, w / 2);
    let (rm, scale, b) = inference_factors(bn);
    let xc = x.into_primitive().tensor().to_contiguous();
    let xs: &[f32] = xc.storage();
    let fill = |p: usize, out: &mut [MaybeUninit<f32>]| {
        let ch = p % c;
        let (mu, a, beta) = (rm[ch], scale[ch], b[ch]);
        let src = &xs[p * h * w..(p + 1) * h * w];
        let mut y = vec![0.0f32; 2 * w];
        for oy in 0..oh {
            let rows = 2 * oy * w..(2 * oy + 2) * w;
            for (y, &v) in y.iter_mut().zip(&src[rows]) {
                *y = ((v - mu) * a + beta).max(0.0);
            }
            let (top, bottom) = y.split_at(w);
            for (o, ox) in out[oy * ow..(oy + 1) * ow].iter_mut().zip(0..) {
                o.write(window_max(top, bottom, ox).0);
            }
        }
    };
    // SAFETY: `fill` writes every value of each `oh * ow` plane, row by row.
    let y = unsafe { par_planes_written(n * c * oh * ow, oh * ow, fill) };
    let y = FlexTensor::from_data(TensorData::new(y, [n, c, oh, ow]));
    Tensor::from_primitive(TensorPrimitive::Float(y))
}

/// Training: batch statistics (the running state updated), then per plane each pair of
/// rows normalised, kept, rectified and pooled.
fn training(bn: &BatchNorm<Ad>, x: Tensor<Ad, 4>) -> Tensor<Ad, 4> {
    let gamma = bn.gamma.val().into_primitive().tensor();
    let beta = bn.beta.val().into_primitive().tensor();
    let x = x.into_primitive().tensor();
    let shape = dims4(&x.primitive);
    let [n, c, h, w] = shape;
    let (oh, ow) = (h / 2, w / 2);
    let xc = x.primitive.to_contiguous();
    let xs: &[f32] = xc.storage();
    let (mean, inv) = statistics(bn, xs, shape);
    let g = values(&gamma.primitive);
    let b = values(&beta.primitive);
    let fill = |p: usize,
                xh: &mut [MaybeUninit<f32>],
                out: &mut [MaybeUninit<f32>],
                win: &mut [MaybeUninit<u8>]| {
        let ch = p % c;
        let src = &xs[p * h * w..(p + 1) * h * w];
        let (mu, s, g, b) = (mean[ch], inv[ch], g[ch], b[ch]);
        // batch norm's output for one pair of rows, pooled from here.
        let mut y = vec![0.0f32; 2 * w];
        for oy in 0..oh {
            let rows = 2 * oy * w..(2 * oy + 2) * w;
            for ((y, xh), &v) in y.iter_mut().zip(&mut xh[rows.clone()]).zip(&src[rows]) {
                let n = (v - mu) * s;
                xh.write(n);
                *y = (n * g + b).max(0.0);
            }
            let (top, bottom) = y.split_at(w);
            let row = oy * ow..(oy + 1) * ow;
            for ((o, k), ox) in out[row.clone()].iter_mut().zip(&mut win[row]).zip(0..) {
                let (m, i) = window_max(top, bottom, ox);
                o.write(m);
                k.write(i);
            }
        }
        // The odd last row, which no window covers, is normalised all the same.
        let rest = 2 * oh * w..h * w;
        for (xh, &v) in xh[rest.clone()].iter_mut().zip(&src[rest]) {
            xh.write((v - mu) * s);
        }
    };
    // SAFETY: `fill` writes every value of each `h * w` plane of the normalised input
    // (the row pairs, then the rows below them) and of each `oh * ow` plane of the
    // output and the winners (row by row).
    let (xhat, out, winners) = unsafe { par_planes_pooled_written(n * c, h * w, oh * ow, fill) };
    let y = FlexTensor::from_data(TensorData::new(out, [n, c, oh, ow]));
    let prep = BnReluPoolBackward
        .prepare::<NoCheckpointing>([x.node.clone(), gamma.node.clone(), beta.node.clone()])
        .compute_bound()
        .stateful();
    let out = match prep {
        OpsKind::Tracked(prep) => prep.finish(
            (
                Saved {
                    xhat,
                    inv,
                    gamma: g,
                    beta: b,
                    shape,
                },
                winners,
            ),
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

#[derive(Debug)]
struct BnReluPoolBackward;

impl Backward<Flex, 3> for BnReluPoolBackward {
    /// Batch norm's state, and per pooled output which of its window's four inputs won
    /// (`2 * row + column`).
    type State = (Saved, Vec<u8>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_g, node_b] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let dy: &[f32] = dy.storage();
        let (s, winners) = ops.state;
        let [n, c, h, w] = s.shape;
        let (oh, ow) = (h / 2, w / 2);
        // The gradient reaching batch norm's output at window `ox` of row pair `oy` of
        // plane `p`, tap `t`: the pooled gradient at the winner where the ReLU passed.
        let sums: Vec<(f64, f64)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let passed = s.relu(ch);
                let (mut sb, mut sg) = (0.0f64, 0.0f64);
                for i in 0..n {
                    let p = i * c + ch;
                    let xh = &s.xhat[p * h * w..(p + 1) * h * w];
                    let (d, win) = (
                        &dy[p * oh * ow..(p + 1) * oh * ow],
                        &winners[p * oh * ow..(p + 1) * oh * ow],
                    );
                    // Value `k` in lane `k % 8` in increasing `k`, as batch norm sums its
                    // full gradient: each row pair's top row before its bottom row.
                    let (mut lb, mut lg) = ([0.0f32; 8], [0.0f32; 8]);
                    for oy in 0..oh {
                        let row = oy * ow..(oy + 1) * ow;
                        for bottom in [false, true] {
                            for ((&v, &t), ox) in
                                d[row.clone()].iter().zip(&win[row.clone()]).zip(0..)
                            {
                                if (t >= 2) != bottom {
                                    continue;
                                }
                                let k = (2 * oy + usize::from(t >> 1)) * w
                                    + 2 * ox
                                    + usize::from(t & 1);
                                if passed(xh[k]) {
                                    lb[k % 8] += v;
                                    lg[k % 8] += v * xh[k];
                                }
                            }
                        }
                    }
                    sb += lb.iter().map(|&v| v as f64).sum::<f64>();
                    sg += lg.iter().map(|&v| v as f64).sum::<f64>();
                }
                (sb, sg)
            })
            .collect();
        register_affine_grads(grads, [node_g, node_b].map(|n| n.map(|n| n.id)), &sums);
        if let Some(node) = node_x {
            let m = (n * h * w).max(1) as f64;
            let input_grad = |p: usize, dx: &mut [MaybeUninit<f32>]| {
                let grad = s.input_grad(p % c, sums[p % c], m);
                let xh = &s.xhat[p * h * w..(p + 1) * h * w];
                let d = &dy[p * oh * ow..(p + 1) * oh * ow];
                let win = &winners[p * oh * ow..(p + 1) * oh * ow];
                for oy in 0..oh {
                    let (top, bottom) = dx[2 * oy * w..(2 * oy + 2) * w].split_at_mut(w);
                    let (xt, xb) = xh[2 * oy * w..(2 * oy + 2) * w].split_at(w);
                    let row = oy * ow..(oy + 1) * ow;
                    for ((&v, &t), ox) in d[row.clone()].iter().zip(&win[row]).zip(0..) {
                        let at = |tap: u8| if t == tap { v } else { 0.0 };
                        let (l, r) = (2 * ox, 2 * ox + 1);
                        top[l].write(grad(at(0), xt[l]));
                        top[r].write(grad(at(1), xt[r]));
                        bottom[l].write(grad(at(2), xb[l]));
                        bottom[r].write(grad(at(3), xb[r]));
                    }
                    if w % 2 == 1 {
                        top[w - 1].write(grad(0.0, xt[w - 1]));
                        bottom[w - 1].write(grad(0.0, xb[w - 1]));
                    }
                }
                let rest = 2 * oh * w..h * w;
                for (o, &xh) in dx[rest.clone()].iter_mut().zip(&xh[rest]) {
                    o.write(grad(0.0, xh));
                }
            };
            // SAFETY: `input_grad` writes every value of each `h * w` plane: each row
            // pair whole (every window, and the last column when `w` is odd), then
            // every row below them.
            let dx = unsafe { par_planes_written(n * c * h * w, h * w, input_grad) };
            let dx = FlexTensor::from_data(TensorData::new(dx, s.shape));
            grads.register::<Flex>(node.id, dx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::AutodiffModule;
    use burn::nn::BatchNormConfig;
    use burn::tensor::Distribution;

    fn vec_of<const D: usize>(t: Tensor<Flex, D>) -> Vec<f32> {
        t.into_data().to_vec::<f32>().unwrap()
    }

    /// `a == b` bit for bit, naming the first value that differs.
    fn same(a: &[f32], b: &[f32], what: String) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        if let Some(i) = (0..a.len()).find(|&i| a[i].to_bits() != b[i].to_bits()) {
            panic!("{what}[{i}]: {} vs {}", a[i], b[i]);
        }
    }

    /// Output, the three gradients and the running state equal to the two operations'
    /// bit for bit, on planes of even and odd sides, with widths that are and are not
    /// multiples of 8 (the sums' lanes), ties in the windows (values on a coarse grid)
    /// and γ, β that make the ReLU cut part of each channel.
    #[test]
    fn equals_batch_norm_relu_then_pooling() {
        // Draws from the backend's one generator: held, so that a training test's
        // seeded draws beside it stay its own.
        let _rng = crate::backend_rng::lock();
        let dev = Default::default();
        for shape in [[3, 4, 16, 16], [2, 4, 7, 9], [2, 4, 6, 12], [1, 4, 5, 24]] {
            let x = Tensor::<Flex, 4>::random(shape, Distribution::Normal(0.5, 2.0), &dev)
                .mul_scalar(2.0)
                .round();
            let gamma = Tensor::<Flex, 1>::from_floats([1.5, -0.7, 0.3, 2.0], &dev);
            let beta = Tensor::<Flex, 1>::from_floats([0.2, 0.1, -0.4, 0.0], &dev);
            let run = |fused: bool| {
                let mut bn = BatchNormConfig::new(4).init::<Ad>(&dev);
                bn.gamma = burn::module::Param::from_tensor(Tensor::from_inner(gamma.clone()));
                bn.beta = burn::module::Param::from_tensor(Tensor::from_inner(beta.clone()));
                let xa = Tensor::<Ad, 4>::from_inner(x.clone()).require_grad();
                let y = if fused {
                    batch_norm_relu_pool2x2(&bn, xa.clone())
                } else {
                    super::super::max_pool2x2(super::super::batch_norm_relu(&bn, xa.clone()))
                };
                let weights = Tensor::<Ad, 4>::from_inner(y.clone().inner().cos().add_scalar(0.3));
                let g = (y.clone() * weights).sum().backward();
                let valid = bn.valid();
                let at_inference = if fused {
                    batch_norm_relu_pool2x2(&valid, x.clone())
                } else {
                    super::super::max_pool2x2(super::super::batch_norm_relu(&valid, x.clone()))
                };
                (
                    vec_of(at_inference),
                    vec_of(y.inner()),
                    vec_of(xa.grad(&g).unwrap()),
                    vec_of(bn.gamma.grad(&g).unwrap()),
                    vec_of(bn.beta.grad(&g).unwrap()),
                    vec_of(valid.running_mean.value()),
                    vec_of(valid.running_var.value()),
                )
            };
            let (fused, two) = (run(true), run(false));
            assert!(two.1.contains(&0.0), "{shape:?}: the ReLU cuts something");
            same(&fused.0, &two.0, format!("{shape:?}: inference output"));
            same(&fused.1, &two.1, format!("{shape:?}: output"));
            same(&fused.2, &two.2, format!("{shape:?}: input gradient"));
            same(&fused.3, &two.3, format!("{shape:?}: gamma gradient"));
            same(&fused.4, &two.4, format!("{shape:?}: beta gradient"));
            same(&fused.5, &two.5, format!("{shape:?}: running mean"));
            same(&fused.6, &two.6, format!("{shape:?}: running variance"));
        }
    }
}
