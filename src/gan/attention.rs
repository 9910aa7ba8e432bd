//! The self-attention block of SAGAN (Zhang et al. 2019), insertable in G and D at one
//! feature-map resolution (`--attention SIDE`).
//!
//! For features `x` `[b, c, h, w]` with `n = h*w` positions: 1x1 convolutions
//! `f`, `g` (`c/8` channels, at least 1) and `h` (`c` channels); attention
//! `β[j, i] = softmax_i(f(x_i)ᵀ g(x_j))`; output `o_j = Σ_i β[j, i] h(x_i)`; the block returns
//! `γ·o + x` with the learned scalar `γ` initialised at 0, so at init it is the identity.
//! Its convolutions are spectrally normalized when the network is (as in SAGAN).

use super::blocks::DCGAN_INIT;
use super::sn::{conv_fwd, conv_matrix, for_conv, SpectralNorm};
use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

/// A SAGAN self-attention block over `channels` feature maps.
#[derive(Module, Debug)]
pub struct SelfAttention<B: Backend> {
    f: Conv2d<B>,
    g: Conv2d<B>,
    h: Conv2d<B>,
    gamma: Param<Tensor<B, 1>>,
    sn: Option<Vec<SpectralNorm<B>>>,
}

impl<B: Backend> SelfAttention<B> {
    /// A block over `channels` maps; `spectral` adds spectral normalization to f, g, h.
    pub fn new(channels: usize, spectral: bool, device: &B::Device) -> Self {
        let c8 = (channels / 8).max(1);
        let conv = |cout: usize| {
            Conv2dConfig::new([channels, cout], [1, 1])
                .with_bias(false)
                .with_initializer(DCGAN_INIT)
                .init(device)
        };
        let (f, g, h) = (conv(c8), conv(c8), conv(channels));
        let sn = spectral.then(|| {
            [&f, &g, &h]
                .into_iter()
                .map(|c| for_conv(c, device))
                .collect()
        });
        SelfAttention {
            f,
            g,
            h,
            gamma: Param::from_tensor(Tensor::zeros([1], device)),
            sn,
        }
    }

    /// The learned residual weight γ.
    pub fn gamma(&self) -> Tensor<B, 1> {
        self.gamma.val()
    }

    /// One power iteration for each normalized convolution.
    pub fn sn_iterate(&self) {
        if let Some(sn) = &self.sn {
            for (s, c) in sn.iter().zip([&self.f, &self.g, &self.h]) {
                s.iterate(conv_matrix(c.weight.val()));
            }
        }
    }

    /// `x` `[b, c, h, w]` -> `γ·attention(x) + x`, same shape.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, c, hh, ww] = x.dims();
        let n = hh * ww;
        let sn = |i: usize| self.sn.as_ref().map(|v| &v[i]);
        let f = conv_fwd(&self.f, sn(0), x.clone());
        let c8 = f.dims()[1];
        let f = f.reshape([b, c8, n]);
        let g = conv_fwd(&self.g, sn(1), x.clone()).reshape([b, c8, n]);
        let h = conv_fwd(&self.h, sn(2), x.clone()).reshape([b, c, n]);
        let s = f.swap_dims(1, 2).matmul(g); // [b, n_i, n_j] = f_iᵀ g_j
        let beta = softmax(s, 1); // over i, for each output position j
        let o = h.matmul(beta).reshape([b, c, hh, ww]); // o_j = Σ_i β[j,i] h_i
        o * self.gamma.val().reshape([1, 1, 1, 1]) + x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::{Distribution, Tolerance};

    type B = Flex;

    #[test]
    fn gamma_zero_is_the_identity_and_shapes_hold() {
        // Draws from the backend's one generator: held, so that a training test's
        // seeded draws beside it stay its own.
        let _rng = crate::backend_rng::lock();
        let dev = Default::default();
        for (c, spectral) in [(16, false), (4, true)] {
            let a = SelfAttention::<B>::new(c, spectral, &dev);
            a.sn_iterate();
            let x = Tensor::<B, 4>::random([2, c, 5, 6], Distribution::Default, &dev);
            let y = a.forward(x.clone());
            assert_eq!(y.dims(), [2, c, 5, 6]);
            y.to_data()
                .assert_approx_eq::<f32>(&x.to_data(), Tolerance::default());
        }
    }

    #[test]
    fn nonzero_gamma_mixes_positions_and_gamma_gets_a_gradient() {
        // Draws from the backend's one generator: held, so that a training test's
        // seeded draws beside it stay its own.
        let _rng = crate::backend_rng::lock();
        type A = Autodiff<Flex>;
        let dev = Default::default();
        let mut a = SelfAttention::<A>::new(8, false, &dev);
        let x = Tensor::<A, 4>::random([1, 8, 4, 4], Distribution::Default, &dev);
        let y = a.forward(x.clone());
        let grads = y.sum().backward();
        let gg = a.gamma.val().grad(&grads).expect("γ has a gradient");
        assert!(gg.into_scalar().abs() > 0.0);
        a.gamma = Param::from_tensor(Tensor::ones([1], &dev));
        let diff = (a.forward(x.clone()) - x).abs().sum().into_scalar();
        assert!(diff > 1e-4);
    }
}
