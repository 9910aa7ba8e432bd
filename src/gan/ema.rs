//! Exponential moving average of G's weights (Yazıcı et al. 2019, as in BigGAN and
//! StyleGAN): the averaged weights are kept flat, in the order burn visits parameters, and
//! mapped into a copy of G when sampling or saving. burn visits batch-norm running
//! statistics as float parameters, so they are averaged with the weights they belong to;
//! so is spectral norm's `u`, whose average is shorter than one (`sn` normalizes it in σ).
//! Also the L2 norm of a gradient, for the metrics log.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

/// Flat copies of every float parameter of a module, in visiting order.
pub fn flat_params<B: Backend, M: Module<B>>(module: &M) -> Vec<Tensor<B, 1>> {
    struct Collect<B: Backend>(Vec<Tensor<B, 1>>);
    impl<B: Backend> ModuleVisitor<B> for Collect<B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let t = param.val();
            let n = t.shape().num_elements();
            self.0.push(t.reshape([n]));
        }
    }
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    c.0
}

/// The decay used after `step` updates: `min(decay, (1 + step) / (10 + step))`, the
/// warm-up of TensorFlow's `ExponentialMovingAverage(num_updates)`. Without it the
/// randomly initialised weights keep a share of `decay^step` in the average (5% after
/// 3,000 steps at 0.999), enough to blur a short run's samples.
pub fn warmed_decay(decay: f64, step: u64) -> f64 {
    decay.min((1.0 + step as f64) / (10.0 + step as f64))
}

/// `ema = decay * ema + (1 - decay) * current`.
pub fn update<B: Backend>(ema: &mut [Tensor<B, 1>], current: Vec<Tensor<B, 1>>, decay: f64) {
    for (e, c) in ema.iter_mut().zip(current) {
        *e = e.clone().mul_scalar(decay) + c.mul_scalar(1.0 - decay);
    }
}

/// `module` with its float parameters replaced by `flat` (same visiting order).
pub fn with_params<B: Backend, M: Module<B>>(module: M, flat: &[Tensor<B, 1>]) -> M {
    struct Put<'a, B: Backend> {
        flat: &'a [Tensor<B, 1>],
        i: usize,
    }
    impl<B: Backend> ModuleMapper<B> for Put<'_, B> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let Some(v) = self.flat.get(self.i) else {
                return param;
            };
            self.i += 1;
            let v = v.clone();
            param.map(|t| {
                let shape = t.shape();
                v.reshape(shape)
            })
        }
    }
    module.map(&mut Put { flat, i: 0 })
}

/// L2 norm of the gradient of `module`'s parameters.
pub fn grad_norm<B: AutodiffBackend, M: Module<B>>(module: &M, grads: &GradientsParams) -> f32 {
    struct Norm<'a, B: AutodiffBackend> {
        grads: &'a GradientsParams,
        sum: Option<Tensor<B::InnerBackend, 1>>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Norm<'_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            // One device read at the end, not one per parameter.
            if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
                let s = g.powi_scalar(2).sum();
                self.sum = Some(match self.sum.take() {
                    Some(acc) => acc + s,
                    None => s,
                });
            }
        }
    }
    let mut n = Norm::<B> { grads, sum: None };
    module.visit(&mut n);
    n.sum
        .map(|s| s.sqrt().into_scalar().elem::<f32>())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::warmed_decay;

    #[test]
    fn warm_up_forgets_the_initial_weights() {
        assert!((warmed_decay(0.999, 0) - 0.1).abs() < 1e-12);
        assert_eq!(warmed_decay(0.999, 100_000), 0.999);
        // Share of the initial weights left after 3,000 updates.
        let left: f64 = (0..3000).map(|t| warmed_decay(0.999, t)).product();
        assert!(left < 1e-3, "{left}");
        assert!(0.999f64.powi(3000) > 0.04);
    }
}
