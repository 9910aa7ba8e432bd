//! The seeds' own Keras models as presets, layer for layer, so their results can be
//! reproduced and compared (`pipelines/mnist-dcgan-keras.toml`,
//! `pipelines/anime-dcgan-keras.toml`).
//!
//! Keras details kept: "same" padding with TensorFlow's odd-pixel-after rule, LeakyReLU's
//! default slope 0.3, BatchNormalization's momentum 0.99 (burn's 0.01) and epsilon 1e-3,
//! Glorot-uniform init. Parameter counts match Keras' `model.summary()` (burn counts
//! batch-norm running statistics as Keras does).

use super::blocks::{glorot, keras_conv, keras_up};
use super::dcgan::DOut;
use crate::batch_norm::batch_norm;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;

const KERAS_SLOPE: f64 = 0.3;

fn lrelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    burn::tensor::activation::leaky_relu(x, KERAS_SLOPE)
}

fn dense<B: Backend>(i: usize, o: usize, bias: bool, device: &B::Device) -> Linear<B> {
    LinearConfig::new(i, o)
        .with_bias(bias)
        .with_initializer(glorot(i, o))
        .init(device)
}

fn keras_bn<B: Backend>(n: usize, device: &B::Device) -> BatchNorm<B> {
    BatchNormConfig::new(n)
        .with_momentum(0.01)
        .with_epsilon(1e-3)
        .init(device)
}

/// Generator of the TensorFlow DCGAN tutorial (MNIST, 28x28x1).
#[derive(Module, Debug)]
pub struct KerasMnistG<B: Backend> {
    fc: Linear<B>,
    bn0: BatchNorm<B>,
    up1: ConvTranspose2d<B>,
    bn1: BatchNorm<B>,
    up2: ConvTranspose2d<B>,
    bn2: BatchNorm<B>,
    up3: ConvTranspose2d<B>,
}

impl<B: Backend> KerasMnistG<B> {
    /// Builds it for noise size `nz` (100 in the tutorial).
    pub fn new(nz: usize, device: &B::Device) -> Self {
        KerasMnistG {
            fc: dense(nz, 7 * 7 * 256, false, device),
            bn0: keras_bn(7 * 7 * 256, device),
            up1: keras_up([256, 128], 5, 1, false, device),
            bn1: keras_bn(128, device),
            up2: keras_up([128, 64], 5, 2, false, device),
            bn2: keras_bn(64, device),
            up3: keras_up([64, 1], 5, 2, false, device),
        }
    }

    /// `[batch, nz]` -> `[batch, 1, 28, 28]`.
    pub fn forward(&self, z: Tensor<B, 2>) -> Tensor<B, 4> {
        let b = z.dims()[0];
        let x = lrelu(batch_norm(&self.bn0, self.fc.forward(z))); // [batch, 12544]
        let x = x.reshape([b, 7, 7, 256]).permute([0, 3, 1, 2]); // Keras' NHWC reshape
        let x = lrelu(batch_norm(&self.bn1, self.up1.forward(x))); // [batch, 128, 7, 7]
        let x = lrelu(batch_norm(&self.bn2, self.up2.forward(x))); // [batch, 64, 14, 14]
        self.up3.forward(x).tanh() // [batch, 1, 28, 28]
    }
}

/// Discriminator of the TensorFlow DCGAN tutorial.
#[derive(Module, Debug)]
pub struct KerasMnistD<B: Backend> {
    conv1: Conv2d<B>,
    conv2: Conv2d<B>,
    drop: Dropout,
    fc: Linear<B>,
}

impl<B: Backend> KerasMnistD<B> {
    /// Builds it.
    pub fn new(device: &B::Device) -> Self {
        KerasMnistD {
            conv1: keras_conv([1, 64], 5, 2, 28, true, device),
            conv2: keras_conv([64, 128], 5, 2, 14, true, device),
            drop: DropoutConfig::new(0.3).init(),
            fc: dense(7 * 7 * 128, 1, true, device),
        }
    }

    /// `[batch, 1, 28, 28]` -> logits.
    pub fn forward(&self, x: Tensor<B, 4>) -> DOut<B> {
        let b = x.dims()[0];
        let x = self.drop.forward(lrelu(self.conv1.forward(x))); // [batch, 64, 14, 14]
        let x = self.drop.forward(lrelu(self.conv2.forward(x))); // [batch, 128, 7, 7]
        let adv = self.fc.forward(x.reshape([b, 7 * 7 * 128])).reshape([b]);
        DOut { adv, aux: None }
    }
}

/// Generator of the Keras anime-face seed (64x64x3).
#[derive(Module, Debug)]
pub struct KerasAnimeG<B: Backend> {
    fc: Linear<B>,
    conv1: Conv2d<B>,
    up: ConvTranspose2d<B>,
    conv2: Conv2d<B>,
    conv3: Conv2d<B>,
    out: Conv2d<B>,
}

impl<B: Backend> KerasAnimeG<B> {
    /// Builds it for noise size `nz` (100 in the seed).
    pub fn new(nz: usize, device: &B::Device) -> Self {
        KerasAnimeG {
            fc: dense(nz, 32 * 32 * 128, true, device),
            conv1: keras_conv([128, 256], 5, 1, 32, true, device),
            up: keras_up([256, 256], 4, 2, true, device),
            conv2: keras_conv([256, 256], 5, 1, 64, true, device),
            conv3: keras_conv([256, 256], 5, 1, 64, true, device),
            out: keras_conv([256, 3], 7, 1, 64, true, device),
        }
    }

    /// `[batch, nz]` -> `[batch, 3, 64, 64]`.
    pub fn forward(&self, z: Tensor<B, 2>) -> Tensor<B, 4> {
        let b = z.dims()[0];
        let x = lrelu(self.fc.forward(z)); // [batch, 131072]
        let x = x.reshape([b, 32, 32, 128]).permute([0, 3, 1, 2]); // [batch, 128, 32, 32]
        let x = lrelu(self.conv1.forward(x)); // [batch, 256, 32, 32]
        let x = lrelu(self.up.forward(x)); // [batch, 256, 64, 64]
        let x = lrelu(self.conv2.forward(x));
        let x = lrelu(self.conv3.forward(x));
        self.out.forward(x).tanh() // [batch, 3, 64, 64]
    }
}

/// Discriminator of the Keras anime-face seed.
#[derive(Module, Debug)]
pub struct KerasAnimeD<B: Backend> {
    conv1: Conv2d<B>,
    convs: Vec<Conv2d<B>>,
    drop: Dropout,
    fc: Linear<B>,
}

impl<B: Backend> KerasAnimeD<B> {
    /// Builds it.
    pub fn new(device: &B::Device) -> Self {
        let valid = |cin, k, s| {
            burn::nn::conv::Conv2dConfig::new([cin, 128], [k, k])
                .with_stride([s, s])
                .with_initializer(glorot(cin * k * k, 128 * k * k))
                .init(device)
        };
        KerasAnimeD {
            conv1: valid(3, 3, 1),
            convs: (0..3).map(|_| valid(128, 4, 2)).collect(),
            drop: DropoutConfig::new(0.4).init(),
            fc: dense(6 * 6 * 128, 1, true, device),
        }
    }

    /// `[batch, 3, 64, 64]` -> logits.
    pub fn forward(&self, x: Tensor<B, 4>) -> DOut<B> {
        let b = x.dims()[0];
        let mut x = lrelu(self.conv1.forward(x)); // [batch, 128, 62, 62]
        for conv in &self.convs {
            x = lrelu(conv.forward(x)); // 30, 14, 6
        }
        let x = self.drop.forward(x.reshape([b, 6 * 6 * 128]));
        let adv = self.fc.forward(x).reshape([b]);
        DOut { adv, aux: None }
    }
}
