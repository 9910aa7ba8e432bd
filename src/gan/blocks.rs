//! Building blocks shared by the networks: the DCGAN size layout, N(0, 0.02)
//! initialisation (Radford et al.), convolution builders and Keras' "same" padding.

use burn::module::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::PaddingConfig2d;
use burn::prelude::*;

/// DCGAN weight init: N(0, 0.02) for convolutions (pytorch/examples' `weights_init`).
pub const DCGAN_INIT: Initializer = Initializer::Normal {
    mean: 0.0,
    std: 0.02,
};

/// The DCGAN layout of an image side: `(base, stages)` with `size = base * 2^stages`,
/// base 4 (or 7 for 28 px MNIST) and at least two stages. `None` when unsupported.
pub fn layout(size: u32) -> Option<(usize, usize)> {
    let base = if size.is_multiple_of(7) { 7 } else { 4 };
    let mut s = size as usize;
    if !s.is_multiple_of(base) {
        return None;
    }
    s /= base;
    if !s.is_power_of_two() || s < 4 {
        return None;
    }
    let stages = s.trailing_zeros() as usize;
    (stages <= 6).then_some((base, stages))
}

/// A 4x4 stride-2 padding-1 transposed convolution (doubles the side), no bias.
pub fn up<B: Backend>(cin: usize, cout: usize, device: &B::Device) -> ConvTranspose2d<B> {
    ConvTranspose2dConfig::new([cin, cout], [4, 4])
        .with_stride([2, 2])
        .with_padding([1, 1])
        .with_bias(false)
        .with_initializer(DCGAN_INIT)
        .init(device)
}

/// A 4x4 stride-2 padding-1 convolution (halves the side).
pub fn down<B: Backend>(cin: usize, cout: usize, bias: bool, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([cin, cout], [4, 4])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(bias)
        .with_initializer(DCGAN_INIT)
        .init(device)
}

/// A `k`x`k` valid convolution (a head over the `k`x`k` feature map), with bias.
pub fn head<B: Backend>(cin: usize, cout: usize, k: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_initializer(DCGAN_INIT)
        .init(device)
}

/// Keras/TensorFlow "same" padding for a convolution with kernel `k` and stride `s` on
/// side `n`: `(before, after)`, the odd pixel after (TensorFlow's rule).
pub fn tf_same(n: usize, k: usize, s: usize) -> (usize, usize) {
    let out = n.div_ceil(s);
    let total = ((out - 1) * s + k).saturating_sub(n);
    (total / 2, total - total / 2)
}

/// A Keras `Conv2D(cout, k, strides=s, padding="same")` for side `n` (Glorot-uniform init).
pub fn keras_conv<B: Backend>(
    [cin, cout]: [usize; 2],
    k: usize,
    s: usize,
    n: usize,
    bias: bool,
    device: &B::Device,
) -> Conv2d<B> {
    let (a, b) = tf_same(n, k, s);
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([s, s])
        .with_padding(PaddingConfig2d::Explicit(a, a, b, b))
        .with_bias(bias)
        .with_initializer(glorot(cin * k * k, cout * k * k))
        .init(device)
}

/// A Keras `Conv2DTranspose(cout, k, strides=s, padding="same")`: output side `n * s`.
pub fn keras_up<B: Backend>(
    [cin, cout]: [usize; 2],
    k: usize,
    s: usize,
    bias: bool,
    device: &B::Device,
) -> ConvTranspose2d<B> {
    // out = (n-1)s - 2p + k + po = n*s  =>  2p - po = k - s
    let p = (k - s).div_ceil(2);
    let po = 2 * p - (k - s);
    ConvTranspose2dConfig::new([cin, cout], [k, k])
        .with_stride([s, s])
        .with_padding([p, p])
        .with_padding_out([po, po])
        .with_bias(bias)
        .with_initializer(glorot(cin * k * k, cout * k * k))
        .init(device)
}

/// Glorot-uniform (Keras' default) for a layer with these fans: U(-b, b),
/// b = sqrt(6 / (fan_in + fan_out)).
pub fn glorot(fan_in: usize, fan_out: usize) -> Initializer {
    let b = (6.0 / (fan_in + fan_out) as f64).sqrt();
    Initializer::Uniform { min: -b, max: b }
}

/// Leaky ReLU with slope 0.2 (DCGAN's D).
pub fn lrelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    burn::tensor::activation::leaky_relu(x, 0.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert_eq!(layout(64), Some((4, 4)));
        assert_eq!(layout(32), Some((4, 3)));
        assert_eq!(layout(28), Some((7, 2)));
        assert_eq!(layout(128), Some((4, 5)));
        assert_eq!(layout(16), Some((4, 2)));
        assert_eq!(layout(48), None);
        assert_eq!(layout(8), None);
    }

    #[test]
    fn tf_same_padding_puts_odd_pixel_after() {
        assert_eq!(tf_same(28, 5, 2), (1, 2));
        assert_eq!(tf_same(64, 5, 1), (2, 2));
    }
}
