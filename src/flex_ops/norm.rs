//! Batch normalization followed by ReLU as one operation on flex, split over threads.
//!
//! flex runs its element-wise operations on one thread. `relu(batch_norm(x))` built from
//! them is about fifteen passes over the activation in a training step (statistics,
//! centring, scaling, shifting, the ReLU and each one's gradient), and in a label round on
//! two cores the main thread worked alone about 45% of the time (perf, BENCHMARKS.md,
//! label, session 13). Here the forward pass is two passes over the data (per-channel
//! statistics; normalise, scale, shift and clamp) and the backward pass two (the two
//! per-channel sums; the input gradient), each split across threads. The arithmetic is
//! that of [`crate::batch_norm`] (Ioffe & Szegedy 2015): biased batch variance, `running =
//! (1 - m) * running + m * batch`; the gradient is the textbook one,
//! `dx = γ / σ · (dy' - mean(dy') - x̂ · mean(dy' · x̂))` with `dy'` the output gradient
//! where the ReLU passed.

use super::planes::{par_planes2_written, par_planes_written};
use super::{cast, cast_back, dims4, Ad};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::FlexTensor;
use burn::backend::Flex;
use burn::module::RunningState;
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::{DType, TensorPrimitive};
use rayon::prelude::*;
use std::any::Any;
use std::mem::MaybeUninit;

/// `relu(batch_norm(bn, x))` for `x` of `[batch, channels, height, width]`: batch
/// statistics (and a running-state update) when `B` records gradients, the running
/// statistics otherwise, as [`crate::batch_norm::batch_norm`] does.
pub fn batch_norm_relu<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    if x.dtype() != DType::F32 {
        return burns(bn, x);
    }
    by_backend(bn, x, training, inference, burns)
}

/// `train` when `B` is flex recording gradients, `infer` on plain flex, `other` on every
/// other backend: a batch-norm kernel's dispatch by type.
pub(super) fn by_backend<B: Backend>(
    bn: &BatchNorm<B>,
    x: Tensor<B, 4>,
    train: fn(&BatchNorm<Ad>, Tensor<Ad, 4>) -> Tensor<Ad, 4>,
    infer: fn(&BatchNorm<Flex>, Tensor<Flex, 4>) -> Tensor<Flex, 4>,
    other: impl FnOnce(&BatchNorm<B>, Tensor<B, 4>) -> Tensor<B, 4>,
) -> Tensor<B, 4> {
    let module: &dyn Any = bn;
    let x = match cast::<Tensor<Ad, 4>, _>(x) {
        Ok(x) => {
            let bn = module
                .downcast_ref::<BatchNorm<Ad>>()
                .expect("bn on x's backend");
            return cast_back(train(bn, x));
        }
        Err(x) => x,
    };
    match cast::<Tensor<Flex, 4>, _>(x) {
        Ok(x) => {
            let bn = module
                .downcast_ref::<BatchNorm<Flex>>()
                .expect("bn on x's backend");
            cast_back(infer(bn, x))
        }
        Err(x) => other(bn, x),
    }
}

/// The same through burn's element-wise operations, for every other backend.
fn burns<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    relu(crate::batch_norm::batch_norm(bn, x))
}

/// The values of a 1-D parameter.
pub(super) fn values(t: &FlexTensor) -> Vec<f32> {
    let t = t.to_contiguous();
    t.storage::<f32>().to_vec()
}

/// `Σ f(x)` over a slice, in eight lanes (so that it vectorises), in f64 at the end.
fn sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l += f(v);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    lanes.iter().map(|&l| l as f64).sum::<f64>() + tail as f64
}

/// Per channel of `data` (`[n, c, hw]`), `f(channel, plane)` summed over the planes of
/// that channel, channels split across threads.
fn per_channel(
    data: &[f32],
    n: usize,
    c: usize,
    hw: usize,
    f: impl Fn(usize, &[f32]) -> f64 + Sync,
) -> Vec<f64> {
    (0..c)
        .into_par_iter()
        .map(|ch| {
            (0..n)
                .map(|i| f(ch, &data[(i * c + ch) * hw..(i * c + ch + 1) * hw]))
                .sum()
        })
        .collect()
}

/// Per channel of `xs` (`[n, c, h, w]`): the batch mean and `1 / sqrt(var + ε)` (biased
/// variance, centred before squaring as the element-wise version does), with `bn`'s
/// running state updated, `running = (1 - m) * running + m * batch`.
pub(super) fn statistics(
    bn: &BatchNorm<Ad>,
    xs: &[f32],
    shape: [usize; 4],
) -> (Vec<f32>, Vec<f32>) {
    let [n, c, h, w] = shape;
    let hw = h * w;
    let m = (n * hw).max(1) as f64;
    let device = bn.gamma.val().device();
    let mean: Vec<f64> = per_channel(xs, n, c, hw, |_, p| sum(p, |v| v))
        .into_iter()
        .map(|s| s / m)
        .collect();
    // Two passes, as the element-wise version centres before squaring.
    let var: Vec<f64> = per_channel(xs, n, c, hw, |ch, p| {
        let mu = mean[ch] as f32;
        sum(p, |v| (v - mu) * (v - mu))
    })
    .into_iter()
    .map(|s| s / m)
    .collect();
    let update = |state: &RunningState<Tensor<Ad, 1>>, batch: &[f64]| {
        let batch: Vec<f32> = batch.iter().map(|&v| v as f32).collect();
        let batch = Tensor::<Ad, 1>::from_data(TensorData::new(batch, [c]), &device);
        let old = state.value_sync().to_device(&device);
        let m = bn.momentum;
        state.update(old.mul_scalar(1.0 - m).add(batch.mul_scalar(m)).detach());
    };
    update(&bn.running_mean, &mean);
    update(&bn.running_var, &var);
    let inv: Vec<f32> = var
        .iter()
        .map(|&v| (1.0 / (v + bn.epsilon).sqrt()) as f32)
        .collect();
    let mean: Vec<f32> = mean.iter().map(|&v| v as f32).collect();
    (mean, inv)
}

/// Training: batch statistics, the running state updated, and the gradient recorded.
fn training(bn: &BatchNorm<Ad>, x: Tensor<Ad, 4>) -> Tensor<Ad, 4> {
    let gamma = bn.gamma.val().into_primitive().tensor();
    let beta = bn.beta.val().into_primitive().tensor();
    let x = x.into_primitive().tensor();
    let shape = dims4(&x.primitive);
    let [_, c, h, w] = shape;
    let hw = h * w;
    let xc = x.primitive.to_contiguous();
    let xs: &[f32] = xc.storage();
    let (mean, inv) = statistics(bn, xs, shape);
    let g = values(&gamma.primitive);
    let b = values(&beta.primitive);
    let normalise = |p: usize, y: &mut [MaybeUninit<f32>], xh: &mut [MaybeUninit<f32>]| {
        let ch = p % c;
        let src = &xs[p * hw..(p + 1) * hw];
        let (mu, s, g, b) = (mean[ch], inv[ch], g[ch], b[ch]);
        for ((y, xh), &v) in y.iter_mut().zip(xh.iter_mut()).zip(src) {
            let n = (v - mu) * s;
            xh.write(n);
            y.write((n * g + b).max(0.0));
        }
    };
    // SAFETY: `normalise` writes every value of both planes (all three are `hw` long).
    let (y, xhat) = unsafe { par_planes2_written(xs.len(), hw, normalise) };
    let y = FlexTensor::from_data(TensorData::new(y, shape));
    let prep = BnReluBackward
        .prepare::<NoCheckpointing>([x.node.clone(), gamma.node.clone(), beta.node.clone()])
        .compute_bound()
        .stateful();
    let out = match prep {
        OpsKind::Tracked(prep) => prep.finish(
            Saved {
                xhat,
                inv,
                gamma: g,
                beta: b,
                shape,
            },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// Per channel, the running mean `μ`, `a = γ / sqrt(running var + ε)` and `β`, for
/// [`inference`]'s `max(0, (x - μ) · a + β)`.
pub(super) fn inference_factors(bn: &BatchNorm<Flex>) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let rm = values(&bn.running_mean.value().into_primitive().tensor());
    let rv = values(&bn.running_var.value().into_primitive().tensor());
    let g = values(&bn.gamma.val().into_primitive().tensor());
    let b = values(&bn.beta.val().into_primitive().tensor());
    let scale = (0..g.len())
        .map(|ch| (1.0 / (rv[ch] as f64 + bn.epsilon).sqrt()) as f32 * g[ch])
        .collect();
    (rm, scale, b)
}

/// Inference: `max(0, (x - μ) · a + β)` per channel, from the running statistics. Centred
/// before scaling, as burn does: folded into `x · a + (β - μ · a)`, a channel whose mean
/// is large beside its spread lost the difference to cancellation.
fn inference(bn: &BatchNorm<Flex>, x: Tensor<Flex, 4>) -> Tensor<Flex, 4> {
    let [n, c, h, w] = x.dims();
    let hw = h * w;
    let (rm, scale, b) = inference_factors(bn);
    let xc = x.into_primitive().tensor().to_contiguous();
    let xs: &[f32] = xc.storage();
    let apply = |p: usize, y: &mut [MaybeUninit<f32>]| {
        let ch = p % c;
        let (mu, a, beta) = (rm[ch], scale[ch], b[ch]);
        for (y, &v) in y.iter_mut().zip(&xs[p * hw..(p + 1) * hw]) {
            y.write(((v - mu) * a + beta).max(0.0));
        }
    };
    // SAFETY: `apply` writes every value of each `hw`-long plane.
    let y = unsafe { par_planes_written(n * c * hw, hw, apply) };
    let y = FlexTensor::from_data(TensorData::new(y, [n, c, h, w]));
    Tensor::from_primitive(TensorPrimitive::Float(y))
}

/// What the backward pass needs: the normalised input and the per-channel factors.
#[derive(Debug, Clone)]
pub(super) struct Saved {
    pub(super) xhat: Vec<f32>,
    pub(super) inv: Vec<f32>,
    pub(super) gamma: Vec<f32>,
    pub(super) beta: Vec<f32>,
    /// The input's shape.
    pub(super) shape: [usize; 4],
}

impl Saved {
    /// Channel `ch`'s ReLU test: it passed where γ x̂ + β > 0 (the forward pass's own
    /// sum), with the channel's γ and β read once, not per value.
    pub(super) fn relu(&self, ch: usize) -> impl Fn(f32) -> bool {
        let (g, b) = (self.gamma[ch], self.beta[ch]);
        move |xh: f32| xh * g + b > 0.0
    }

    /// Channel `ch`'s input gradient from the output gradient `d` at a value whose
    /// normalised input is `x̂`, given the channel's sums of `dy'` and `dy' · x̂` over
    /// `m` values: `γ / σ · (dy' - mean(dy') - x̂ · mean(dy' · x̂))`.
    pub(super) fn input_grad(
        &self,
        ch: usize,
        sums: (f64, f64),
        m: f64,
    ) -> impl Fn(f32, f32) -> f32 {
        let passed = self.relu(ch);
        let k = self.gamma[ch] * self.inv[ch];
        let mb = (sums.0 / m) as f32;
        let mg = (sums.1 / m) as f32;
        move |d: f32, xh: f32| {
            let d = if passed(xh) { d } else { 0.0 };
            k * (d - mb - xh * mg)
        }
    }
}

/// Registers γ's and β's gradients (nodes `gamma`, `beta` where tracked): the
/// per-channel sums of `dy' · x̂` and `dy'`.
pub(super) fn register_affine_grads(
    grads: &mut Gradients,
    [gamma, beta]: [Option<NodeId>; 2],
    sums: &[(f64, f64)],
) {
    let c = sums.len();
    if let Some(id) = beta {
        let db: Vec<f32> = sums.iter().map(|&(b, _)| b as f32).collect();
        grads.register::<Flex>(id, FlexTensor::from_data(TensorData::new(db, [c])));
    }
    if let Some(id) = gamma {
        let dg: Vec<f32> = sums.iter().map(|&(_, g)| g as f32).collect();
        grads.register::<Flex>(id, FlexTensor::from_data(TensorData::new(dg, [c])));
    }
}

#[derive(Debug)]
struct BnReluBackward;

impl Backward<Flex, 3> for BnReluBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_g, node_b] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let dy: &[f32] = dy.storage();
        let s = ops.state;
        let [n, c, h, w] = s.shape;
        let hw = h * w;
        // dy' = dy where the ReLU passed.
        let sums: Vec<(f64, f64)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let passed = s.relu(ch);
                let (mut sb, mut sg) = (0.0f64, 0.0f64);
                for i in 0..n {
                    let r = (i * c + ch) * hw..(i * c + ch + 1) * hw;
                    // Eight lanes, value `k` in lane `k % 8`, as whole chunks so that
                    // the compiler keeps the lanes in vector registers.
                    let (mut lb, mut lg) = ([0.0f32; 8], [0.0f32; 8]);
                    let (d8, x8) = (dy[r.clone()].chunks_exact(8), s.xhat[r].chunks_exact(8));
                    let tail = d8.remainder().iter().zip(x8.remainder());
                    for (dc, xc) in d8.zip(x8) {
                        for l in 0..8 {
                            let d = if passed(xc[l]) { dc[l] } else { 0.0 };
                            lb[l] += d;
                            lg[l] += d * xc[l];
                        }
                    }
                    for (l, (&d, &xh)) in tail.enumerate() {
                        let d = if passed(xh) { d } else { 0.0 };
                        lb[l] += d;
                        lg[l] += d * xh;
                    }
                    sb += lb.iter().map(|&v| v as f64).sum::<f64>();
                    sg += lg.iter().map(|&v| v as f64).sum::<f64>();
                }
                (sb, sg)
            })
            .collect();
        register_affine_grads(grads, [node_g, node_b].map(|n| n.map(|n| n.id)), &sums);
        if let Some(node) = node_x {
            let m = (n * hw).max(1) as f64;
            let input_grad = |p: usize, dx: &mut [MaybeUninit<f32>]| {
                let grad = s.input_grad(p % c, sums[p % c], m);
                let r = p * hw..(p + 1) * hw;
                for ((o, &d), &xh) in dx.iter_mut().zip(&dy[r.clone()]).zip(&s.xhat[r]) {
                    o.write(grad(d, xh));
                }
            };
            // SAFETY: `input_grad` writes every value of each `hw`-long plane.
            let dx = unsafe { par_planes_written(dy.len(), hw, input_grad) };
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

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (p, q)) in a.iter().zip(b).enumerate() {
            assert!(
                (p - q).abs() <= 1e-4 * (1.0 + q.abs()),
                "{what}[{i}]: {p} vs {q}"
            );
        }
    }

    fn vec_of<const D: usize>(t: Tensor<Flex, D>) -> Vec<f32> {
        t.into_data().to_vec::<f32>().unwrap()
    }

    /// Output, the three gradients and the running state against the element-wise
    /// version, in training and at inference, with an off-centre input, learned γ and β
    /// that make the ReLU cut some of each channel, and a plane size not a multiple of 8.
    #[test]
    fn matches_the_element_wise_version() {
        // Draws from the backend's one generator: held, so that a training test's
        // seeded draws beside it stay its own.
        let _rng = crate::backend_rng::lock();
        let dev = Default::default();
        let x = Tensor::<Flex, 4>::random([3, 4, 5, 7], Distribution::Normal(0.5, 2.0), &dev);
        let gamma = Tensor::<Flex, 1>::from_floats([1.5, -0.7, 0.3, 2.0], &dev);
        let beta = Tensor::<Flex, 1>::from_floats([0.2, 0.1, -0.4, 0.0], &dev);
        let run = |fast: bool| {
            let mut bn = BatchNormConfig::new(4).init::<Ad>(&dev);
            bn.gamma = burn::module::Param::from_tensor(Tensor::from_inner(gamma.clone()));
            bn.beta = burn::module::Param::from_tensor(Tensor::from_inner(beta.clone()));
            let xa = Tensor::<Ad, 4>::from_inner(x.clone()).require_grad();
            let y = if fast {
                batch_norm_relu(&bn, xa.clone())
            } else {
                burns(&bn, xa.clone())
            };
            let weights = Tensor::<Ad, 4>::from_inner(y.clone().inner().cos().add_scalar(0.3));
            let g = (y.clone() * weights).sum().backward();
            let grads = (
                vec_of(xa.grad(&g).unwrap()),
                vec_of(bn.gamma.grad(&g).unwrap()),
                vec_of(bn.beta.grad(&g).unwrap()),
            );
            let valid = bn.valid();
            let state = (
                vec_of(valid.running_mean.value()),
                vec_of(valid.running_var.value()),
            );
            let at_inference = if fast {
                batch_norm_relu(&valid, x.clone())
            } else {
                burns(&valid, x.clone())
            };
            (vec_of(y.inner()), grads, state, vec_of(at_inference))
        };
        let (fast, slow) = (run(true), run(false));
        assert!(slow.0.contains(&0.0), "the ReLU cuts something");
        close(&fast.0, &slow.0, "output");
        close(&fast.1 .0, &slow.1 .0, "input gradient");
        close(&fast.1 .1, &slow.1 .1, "gamma gradient");
        close(&fast.1 .2, &slow.1 .2, "beta gradient");
        close(&fast.2 .0, &slow.2 .0, "running mean");
        close(&fast.2 .1, &slow.2 .1, "running variance");
        close(&fast.3, &slow.3, "inference output");
    }

    /// At inference a channel whose running mean is large beside its spread: centred
    /// before scaling, as burn does (folded into one multiply-add it was off by 0.5%).
    #[test]
    fn inference_centres_before_scaling() {
        use burn::module::RunningState;
        let dev = Default::default();
        let mut bn = BatchNormConfig::new(2).init::<Flex>(&dev);
        bn.running_mean = RunningState::new(Tensor::from_floats([1000.0, -500.0], &dev));
        bn.running_var = RunningState::new(Tensor::from_floats([1e-4, 4e-4], &dev));
        let deltas: Vec<f32> = (0..2 * 16).map(|i| 0.0013 * (i % 16) as f32).collect();
        let x: Vec<f32> = deltas
            .iter()
            .enumerate()
            .map(|(i, d)| if i < 16 { 1000.0 + d } else { -500.0 + d })
            .collect();
        let x = Tensor::<Flex, 4>::from_data(TensorData::new(x, [1, 2, 4, 4]), &dev);
        let fast = vec_of(batch_norm_relu(&bn, x.clone()));
        assert!(fast.iter().any(|&v| v > 0.5), "{fast:?}");
        close(&fast, &vec_of(burns(&bn, x)), "inference output");
    }
}
