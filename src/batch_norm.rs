//! Batch normalization (Ioffe & Szegedy 2015) laid out for burn-flex's fast paths; a
//! drop-in for `burn::nn::BatchNorm::forward` on the same module and record.
//!
//! Why: burn's `BatchNorm` takes its statistics through `swap_dims(0, 1).reshape(..)` and
//! then broadcasts `[1, C, 1, 1]` tensors over `[N, C, H, W]`. On burn-flex 0.21 both fall
//! off the SIMD paths onto a per-element strided iterator: a DCGAN-32 training step spent
//! ~40% of its time there (perf). Here the input is viewed as `[N, C, H*W]`, reduced along
//! its last and first axes (contiguous reductions), and every per-channel tensor is
//! repeated to `[N, C, 1]` before it is broadcast, the "one scalar per row" layout flex
//! vectorizes. The arithmetic is burn's: biased batch variance, `running = (1 - m) *
//! running + m * batch`, `y = (x - mean) / sqrt(var + eps) * gamma + beta`.

use burn::nn::BatchNorm;
use burn::prelude::*;

/// `bn` applied to `x` (`[batch, channels, ...]`): batch statistics (and a running-state
/// update) when the backend records gradients, the running statistics otherwise, as
/// `BatchNorm::forward` does.
pub fn batch_norm<B: Backend, const D: usize>(bn: &BatchNorm<B>, x: Tensor<B, D>) -> Tensor<B, D> {
    let dims = x.dims();
    assert!(
        D >= 2,
        "batch norm needs [batch, channels, ...], got {D} dims"
    );
    let (n, c) = (dims[0], dims[1]);
    let rest: usize = dims[2..].iter().product();
    let x = x.reshape([n, c, rest]);
    let per_row = |t: Tensor<B, 3>| t.repeat_dim(0, n); // [1, c, 1] -> [n, c, 1]
    let y = if B::ad_enabled(&x.device()) {
        let mean = x.clone().mean_dim(2).mean_dim(0); // [1, c, 1]
        let centred = x - per_row(mean.clone()); // [n, c, rest]
        let var = centred.clone().square().mean_dim(2).mean_dim(0); // [1, c, 1]
        let m = bn.momentum;
        let update = |state: &burn::module::RunningState<Tensor<B, 1>>, batch: Tensor<B, 3>| {
            let old = state.value_sync().to_device(&batch.device());
            state.update(
                old.mul_scalar(1.0 - m)
                    .add(batch.detach().mul_scalar(m).reshape([c]))
                    .detach(),
            );
        };
        update(&bn.running_mean, mean);
        update(&bn.running_var, var.clone());
        scale_shift(bn, centred, var, n, c)
    } else {
        let dev = x.device();
        let mean = bn.running_mean.value().to_device(&dev).reshape([1, c, 1]);
        let var = bn.running_var.value().to_device(&dev).reshape([1, c, 1]);
        scale_shift(bn, x - per_row(mean), var, n, c)
    };
    y.reshape(dims)
}

/// `centred / sqrt(var + eps) * gamma + beta`, with one multiply and one add per element.
fn scale_shift<B: Backend>(
    bn: &BatchNorm<B>,
    centred: Tensor<B, 3>,
    var: Tensor<B, 3>,
    n: usize,
    c: usize,
) -> Tensor<B, 3> {
    let scale = var.add_scalar(bn.epsilon).sqrt().recip() * bn.gamma.val().reshape([1, c, 1]);
    let shift = bn.beta.val().reshape([1, c, 1]);
    centred * scale.repeat_dim(0, n) + shift.repeat_dim(0, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::module::AutodiffModule;
    use burn::nn::BatchNormConfig;
    use burn::tensor::Distribution;

    type A = Autodiff<Flex>;

    fn max_diff<const D: usize>(a: Tensor<Flex, D>, b: Tensor<Flex, D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    /// Same outputs, input and parameter gradients, and running statistics as burn's
    /// `BatchNorm::forward`, in training and in inference mode.
    #[test]
    fn matches_burns_batch_norm() {
        // Draws from the backend's one generator: held, so that a training test's
        // seeded draws beside it stay its own.
        let _rng = crate::backend_rng::lock();
        let dev = Default::default();
        // Two modules (a clone would share the running state).
        let bn_ours = BatchNormConfig::new(5).init::<A>(&dev);
        let bn_burn = BatchNormConfig::new(5).init::<A>(&dev);
        let x0 = Tensor::<A, 4>::random([3, 5, 4, 2], Distribution::Normal(1.0, 2.0), &dev);
        let w = Tensor::<A, 4>::random([3, 5, 4, 2], Distribution::Default, &dev);
        let run = |ours: bool| {
            let x = x0.clone().detach().require_grad();
            let bn = if ours { &bn_ours } else { &bn_burn };
            let y = if ours {
                batch_norm(bn, x.clone())
            } else {
                bn.forward(x.clone())
            };
            let grads = (y.clone() * w.clone()).sum().backward();
            let gx = x.grad(&grads).unwrap();
            let gg = bn.gamma.val().grad(&grads).unwrap();
            let gb = bn.beta.val().grad(&grads).unwrap();
            (y.inner(), gx, gg, gb)
        };
        let (y1, gx1, gg1, gb1) = run(true);
        let (y2, gx2, gg2, gb2) = run(false);
        assert!(max_diff(y1, y2) < 1e-5);
        assert!(max_diff(gx1, gx2) < 1e-5);
        assert!(max_diff(gg1, gg2) < 1e-4);
        assert!(max_diff(gb1, gb2) < 1e-4);
        let rm = |bn: &BatchNorm<A>| bn.running_mean.value().inner();
        let rv = |bn: &BatchNorm<A>| bn.running_var.value().inner();
        assert!(max_diff(rm(&bn_ours), rm(&bn_burn)) < 1e-6);
        assert!(max_diff(rv(&bn_ours), rv(&bn_burn)) < 1e-5);
        // Inference mode (no autodiff): running statistics.
        let valid = bn_ours.valid();
        let x = x0.inner();
        assert!(max_diff(batch_norm(&valid, x.clone()), valid.forward(x)) < 1e-5);
    }
}
