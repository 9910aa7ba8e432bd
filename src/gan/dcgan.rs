//! The DCGAN of pytorch/examples (Radford et al. 2015), scaled to the image size, with the
//! conditioning of the other families built in:
//! - CGAN (Mirza & Osindero 2014): per-attribute label embeddings joined to z; D sees the
//!   labels by projection (cGAN-pd, Miyato & Koyama 2018) or as one-hot input channels.
//! - ACGAN (Odena et al. 2017): D gets an auxiliary classifier head (logits, one block of
//!   classes per attribute) beside the adversarial one.
//! - InfoGAN (Chen et al. 2016): G takes categorical + continuous codes; the Q head shares
//!   D's convolutional body.
//!
//! Options of every family: spectral normalization of G's and/or D's layers (D then has no
//! batch norm, as SN-DCGAN), a SAGAN self-attention block at one feature-map side, and a
//! fully connected layer between the body and the heads (the InfoGAN paper's MNIST
//! networks: FC 1024 in D, shared with Q, and FC 1024 first in G).

use super::attention::SelfAttention;
use super::blocks::{down, head, layout, lrelu, up};
use super::sn::{self, conv_fwd, conv_t_fwd, SpectralNorm};
use super::spec::{CondKind, ModelKind};
use crate::batch_norm::batch_norm;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Embedding, EmbeddingConfig};
use burn::prelude::*;

/// Sizes a DCGAN-family network is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct NetShape {
    /// Family (decides the conditioning and heads).
    pub model: ModelKind,
    /// Image side.
    pub size: u32,
    /// Image channels (1 or 3).
    pub channels: usize,
    /// Noise size.
    pub nz: usize,
    /// G width.
    pub ngf: usize,
    /// D width.
    pub ndf: usize,
    /// Number of classes of each conditioning attribute.
    pub classes: Vec<usize>,
    /// Embedding size per attribute.
    pub embed_dim: usize,
    /// CGAN's D conditioning.
    pub cond: CondKind,
    /// InfoGAN categorical code size.
    pub info_cat: usize,
    /// InfoGAN continuous codes.
    pub info_cont: usize,
    /// Spectral normalization of G's layers.
    pub sn_g: bool,
    /// Spectral normalization of D's layers (D then drops batch norm).
    pub sn_d: bool,
    /// Feature-map side of the self-attention block in G and D (none: no block).
    pub attention: Option<u32>,
    /// Width of the fully connected layer between the body and the heads (0: none).
    pub fc: usize,
}

impl NetShape {
    /// Total classes over all attributes (labels are offset into this range).
    pub fn total_classes(&self) -> usize {
        self.classes.iter().sum()
    }

    /// InfoGAN code width (`info_cat + info_cont`), 0 for other families.
    pub fn code_dim(&self) -> usize {
        if self.model == ModelKind::Infogan {
            self.info_cat + self.info_cont
        } else {
            0
        }
    }

    fn conditional(&self) -> bool {
        self.model.conditional() && !self.classes.is_empty()
    }
}

/// What a forward pass is conditioned on; built on the host per batch.
#[derive(Debug, Clone)]
pub struct Cond<B: Backend> {
    /// Offset class indices, `[batch, attrs]` (CGAN/ACGAN).
    pub labels: Option<Tensor<B, 2, Int>>,
    /// The same labels one-hot over all classes, `[batch, total_classes]`.
    pub onehot: Option<Tensor<B, 2>>,
    /// InfoGAN codes, `[batch, info_cat + info_cont]` (one-hot categorical, then continuous).
    pub code: Option<Tensor<B, 2>>,
}

impl<B: Backend> Cond<B> {
    /// No conditioning.
    pub fn none() -> Self {
        Cond {
            labels: None,
            onehot: None,
            code: None,
        }
    }
}

/// Conditioning tensors from class indices (`[batch, attrs]`) and InfoGAN codes.
pub fn make_cond<BB: Backend>(
    shape: &NetShape,
    labels: &[u32],
    code: &[f32],
    b: usize,
    dev: &BB::Device,
) -> Cond<BB> {
    let na = shape.classes.len();
    let mut cond = Cond::none();
    if na > 0 && labels.len() >= b * na {
        let total = shape.total_classes();
        let mut idx = Vec::with_capacity(b * na);
        let mut onehot = vec![0f32; b * total];
        for i in 0..b {
            let mut off = 0;
            for (a, &k) in shape.classes.iter().enumerate() {
                let l = off + (labels[i * na + a] as usize).min(k - 1);
                idx.push(l as i64);
                onehot[i * total + l] = 1.0;
                off += k;
            }
        }
        cond.labels = Some(Tensor::from_data(TensorData::new(idx, [b, na]), dev));
        cond.onehot = Some(Tensor::from_data(TensorData::new(onehot, [b, total]), dev));
    }
    let cd = shape.code_dim();
    if cd > 0 && code.len() >= b * cd {
        cond.code = Some(Tensor::from_data(
            TensorData::new(code[..b * cd].to_vec(), [b, cd]),
            dev,
        ));
    }
    cond
}

/// The discriminator's outputs.
#[derive(Debug, Clone)]
pub struct DOut<B: Backend> {
    /// Adversarial logits, `[batch]`.
    pub adv: Tensor<B, 1>,
    /// ACGAN class logits or InfoGAN Q outputs, `[batch, k]`.
    pub aux: Option<Tensor<B, 2>>,
}

/// The feature-map sides of a DCGAN body in G's order: `base, 2*base, ... size/2`
/// (D visits them in reverse). The attention side must be one of them.
pub fn feature_sides(size: u32) -> Vec<u32> {
    let (base, stages) = layout(size).unwrap_or((4, 4));
    (0..stages).map(|k| (base << k) as u32).collect()
}

/// DCGAN generator: z (+ label embeddings or codes) -> `[batch, channels, size, size]` in [-1, 1].
#[derive(Module, Debug)]
pub struct DcGenerator<B: Backend> {
    embed: Option<Embedding<B>>,
    /// The fully connected first layer (a 1x1 transposed convolution to `fc` units).
    fc: Option<burn::nn::conv::ConvTranspose2d<B>>,
    fc_bn: Option<BatchNorm<B>>,
    input: burn::nn::conv::ConvTranspose2d<B>,
    input_bn: BatchNorm<B>,
    ups: Vec<burn::nn::conv::ConvTranspose2d<B>>,
    bns: Vec<BatchNorm<B>>,
    output: burn::nn::conv::ConvTranspose2d<B>,
    /// Spectral-norm states: input, ups..., output, then fc when there is one.
    sn: Option<Vec<SpectralNorm<B>>>,
    /// Self-attention after the layer at index `attn_at` (0: input, i: ups[i-1]).
    attn: Option<SelfAttention<B>>,
    attn_at: usize,
}

impl<B: Backend> DcGenerator<B> {
    /// Builds G for `shape` (its size must have a [`layout`]).
    pub fn new(shape: &NetShape, device: &B::Device) -> Self {
        let (base, stages) = layout(shape.size).unwrap_or((4, 4));
        let mut c = shape.ngf << (stages - 1);
        let conditional = shape.conditional();
        let in_dim = shape.nz
            + shape.code_dim()
            + if conditional {
                shape.classes.len() * shape.embed_dim
            } else {
                0
            };
        let embed = conditional
            .then(|| EmbeddingConfig::new(shape.total_classes(), shape.embed_dim).init(device));
        let fc = (shape.fc > 0).then(|| {
            ConvTranspose2dConfig::new([in_dim, shape.fc], [1, 1])
                .with_bias(false)
                .with_initializer(super::blocks::DCGAN_INIT)
                .init(device)
        });
        let fc_bn = fc
            .as_ref()
            .map(|_| BatchNormConfig::new(shape.fc).init(device));
        let in_dim = if shape.fc > 0 { shape.fc } else { in_dim };
        let input = ConvTranspose2dConfig::new([in_dim, c], [base, base])
            .with_bias(false)
            .with_initializer(super::blocks::DCGAN_INIT)
            .init(device);
        let input_bn = BatchNormConfig::new(c).init(device);
        let (mut ups, mut bns) = (Vec::new(), Vec::new());
        for _ in 1..stages {
            ups.push(up(c, c / 2, device));
            bns.push(BatchNormConfig::new(c / 2).init(device));
            c /= 2;
        }
        let output = up(c, shape.channels, device);
        let sides = feature_sides(shape.size);
        let attn_at = shape
            .attention
            .and_then(|a| sides.iter().position(|&s| s == a));
        let mut g = DcGenerator {
            embed,
            fc,
            fc_bn,
            input,
            input_bn,
            ups,
            bns,
            output,
            sn: None,
            attn: None,
            attn_at: attn_at.unwrap_or(0),
        };
        // The spectral-norm states are drawn before the attention block's weights, from
        // the backend's seeded generator, as they always were: a seed gives the same
        // network as in earlier builds.
        if shape.sn_g {
            g.sn = Some(g.sn_layers().map(|c| sn::for_conv_t(c, device)).collect());
        }
        g.attn = attn_at.map(|k| {
            let ch = shape.ngf << (stages - 1 - k);
            SelfAttention::new(ch, shape.sn_g, device)
        });
        g
    }

    /// The spectrally normalized layers, in the order of `sn` (forward indexes it so:
    /// input 0, ups 1.., output, fc last).
    fn sn_layers(&self) -> impl Iterator<Item = &ConvTranspose2d<B>> {
        std::iter::once(&self.input)
            .chain(&self.ups)
            .chain([&self.output])
            .chain(self.fc.as_ref())
    }

    /// One spectral-norm power iteration per normalized layer (once per training step).
    pub fn sn_iterate(&self) {
        if let Some(sn) = &self.sn {
            for (s, c) in sn.iter().zip(self.sn_layers()) {
                s.iterate(sn::conv_t_matrix(c.weight.val()));
            }
        }
        if let Some(a) = &self.attn {
            a.sn_iterate();
        }
    }

    /// `z`: `[batch, nz]` -> images `[batch, channels, size, size]`.
    pub fn forward(&self, z: Tensor<B, 2>, cond: &Cond<B>) -> Tensor<B, 4> {
        let mut parts = vec![z];
        if let (Some(embed), Some(labels)) = (&self.embed, &cond.labels) {
            let [b, a] = labels.dims();
            let e = embed.forward(labels.clone()); // [batch, attrs, embed]
            let d = e.dims()[2];
            parts.push(e.reshape([b, a * d]));
        }
        if let Some(code) = &cond.code {
            parts.push(code.clone());
        }
        let x = Tensor::cat(parts, 1); // [batch, nz + attrs*embed + code]
        let [b, n] = x.dims();
        let x = x.reshape([b, n, 1, 1]);
        let sn = |i: usize| self.sn.as_ref().map(|v| &v[i]);
        let attend = |x: Tensor<B, 4>, k: usize| match &self.attn {
            Some(a) if self.attn_at == k => a.forward(x),
            _ => x,
        };
        let x = match (&self.fc, &self.fc_bn) {
            (Some(fc), Some(bn)) => {
                let y = conv_t_fwd(fc, sn(self.ups.len() + 2), x); // [batch, fc, 1, 1]
                burn::tensor::activation::relu(batch_norm(bn, y))
            }
            _ => x,
        };
        let x = batch_norm(&self.input_bn, conv_t_fwd(&self.input, sn(0), x));
        let mut x = attend(burn::tensor::activation::relu(x), 0);
        for (i, (conv, bn)) in self.ups.iter().zip(&self.bns).enumerate() {
            let y = batch_norm(bn, conv_t_fwd(conv, sn(i + 1), x));
            x = attend(burn::tensor::activation::relu(y), i + 1);
        }
        conv_t_fwd(&self.output, sn(self.ups.len() + 1), x).tanh()
    }
}

/// Width of InfoGAN's Q hidden layer (the paper's MNIST Q: FC 128, then the codes).
pub const Q_HIDDEN: usize = 128;

/// DCGAN discriminator with optional projection, label channels, aux or Q head.
#[derive(Module, Debug)]
pub struct DcDiscriminator<B: Backend> {
    input: burn::nn::conv::Conv2d<B>,
    downs: Vec<burn::nn::conv::Conv2d<B>>,
    bns: Vec<BatchNorm<B>>,
    /// The fully connected layer over the last feature map (`fc` units), shared by the heads.
    fc: Option<burn::nn::conv::Conv2d<B>>,
    fc_bn: Option<BatchNorm<B>>,
    adv: burn::nn::conv::Conv2d<B>,
    /// InfoGAN's Q: a hidden layer (`Q_HIDDEN` units, batch norm unless D is spectrally
    /// normalized) before the code outputs, as in the InfoGAN paper's MNIST network.
    q_hidden: Option<burn::nn::conv::Conv2d<B>>,
    q_bn: Option<BatchNorm<B>>,
    aux: Option<burn::nn::conv::Conv2d<B>>,
    proj: Option<Embedding<B>>,
    label_channels: usize,
    /// Spectral-norm states: input, downs..., adv, aux, then fc when there is one.
    sn: Option<Vec<SpectralNorm<B>>>,
    /// Self-attention after the layer at index `attn_at` (0: input, i: downs[i-1]).
    attn: Option<SelfAttention<B>>,
    attn_at: usize,
}

impl<B: Backend> DcDiscriminator<B> {
    /// Builds D for `shape`.
    pub fn new(shape: &NetShape, device: &B::Device) -> Self {
        let (base, stages) = layout(shape.size).unwrap_or((4, 4));
        let conditional = shape.conditional();
        let label_channels =
            if conditional && shape.model == ModelKind::Cgan && shape.cond == CondKind::Channels {
                shape.total_classes()
            } else {
                0
            };
        let mut c = shape.ndf;
        let input = down(shape.channels + label_channels, c, false, device);
        let (mut downs, mut bns) = (Vec::new(), Vec::new());
        for _ in 1..stages {
            downs.push(down(c, c * 2, false, device));
            if !shape.sn_d {
                bns.push(BatchNormConfig::new(c * 2).init(device));
            }
            c *= 2;
        }
        let fc = (shape.fc > 0).then(|| {
            Conv2dConfig::new([c, shape.fc], [base, base])
                .with_bias(shape.sn_d)
                .with_initializer(super::blocks::DCGAN_INIT)
                .init(device)
        });
        let fc_bn =
            (shape.fc > 0 && !shape.sn_d).then(|| BatchNormConfig::new(shape.fc).init(device));
        // The heads read the last feature map whole (a base x base kernel) or the fc units.
        let (c, k) = if shape.fc > 0 {
            (shape.fc, 1)
        } else {
            (c, base)
        };
        let adv = head(c, 1, k, device);
        let infogan = shape.model == ModelKind::Infogan;
        let q_hidden = infogan.then(|| head(c, Q_HIDDEN, k, device));
        let q_bn = (infogan && !shape.sn_d).then(|| BatchNormConfig::new(Q_HIDDEN).init(device));
        let aux = match shape.model {
            ModelKind::Acgan if conditional => Some(head(c, shape.total_classes(), k, device)),
            ModelKind::Infogan => Some(head(Q_HIDDEN, shape.code_dim(), 1, device)),
            _ => None,
        };
        let proj =
            (conditional && shape.model == ModelKind::Cgan && shape.cond == CondKind::Projection)
                .then(|| {
                    EmbeddingConfig::new(shape.total_classes(), c)
                        .with_initializer(super::blocks::DCGAN_INIT)
                        .init(device)
                });
        let mut sides = feature_sides(shape.size);
        sides.reverse();
        let attn_at = shape
            .attention
            .and_then(|a| sides.iter().position(|&s| s == a));
        let mut d = DcDiscriminator {
            input,
            downs,
            bns,
            fc,
            fc_bn,
            adv,
            q_hidden,
            q_bn,
            aux,
            proj,
            label_channels,
            sn: None,
            attn: None,
            attn_at: attn_at.unwrap_or(0),
        };
        if shape.sn_d {
            d.sn = Some(d.sn_layers().map(|c| sn::for_conv(c, device)).collect());
        }
        d.attn = attn_at.map(|k| SelfAttention::new(shape.ndf << k, shape.sn_d, device));
        d
    }

    /// The spectrally normalized layers, in the order of `sn` (forward indexes it so:
    /// input 0, downs 1.., adv, aux, fc last).
    fn sn_layers(&self) -> impl Iterator<Item = &Conv2d<B>> {
        std::iter::once(&self.input)
            .chain(&self.downs)
            .chain([&self.adv])
            .chain(self.aux.as_ref())
            .chain(self.fc.as_ref())
    }

    /// One spectral-norm power iteration per normalized layer (once per training step).
    pub fn sn_iterate(&self) {
        if let Some(sn) = &self.sn {
            for (s, c) in sn.iter().zip(self.sn_layers()) {
                s.iterate(sn::conv_matrix(c.weight.val()));
            }
        }
        if let Some(a) = &self.attn {
            a.sn_iterate();
        }
    }

    /// Images `[batch, channels, size, size]` -> logits.
    pub fn forward(&self, x: Tensor<B, 4>, cond: &Cond<B>) -> DOut<B> {
        self.forward_with(x, cond, false)
    }

    /// As [`Self::forward`], but the auxiliary/Q head reads a detached copy of the body's
    /// features: a loss on `aux` then trains the head alone.
    pub fn forward_head_only_aux(&self, x: Tensor<B, 4>, cond: &Cond<B>) -> DOut<B> {
        self.forward_with(x, cond, true)
    }

    fn forward_with(&self, x: Tensor<B, 4>, cond: &Cond<B>, detach_aux: bool) -> DOut<B> {
        let [b, _, h, w] = x.dims();
        let x = match (&cond.onehot, self.label_channels) {
            (Some(onehot), n) if n > 0 => {
                let maps = onehot.clone().reshape([b, n, 1, 1]).expand([b, n, h, w]);
                Tensor::cat(vec![x, maps], 1) // [batch, channels + classes, h, w]
            }
            _ => x,
        };
        let sn = |i: usize| self.sn.as_ref().map(|v| &v[i]);
        let attend = |x: Tensor<B, 4>, k: usize| match &self.attn {
            Some(a) if self.attn_at == k => a.forward(x),
            _ => x,
        };
        let mut x = attend(lrelu(conv_fwd(&self.input, sn(0), x)), 0);
        for (i, conv) in self.downs.iter().enumerate() {
            let mut y = conv_fwd(conv, sn(i + 1), x);
            if let Some(bn) = self.bns.get(i) {
                y = batch_norm(bn, y);
            }
            x = attend(lrelu(y), i + 1);
        }
        let n = self.downs.len();
        if let Some(fc) = &self.fc {
            let at = n + 2 + usize::from(self.aux.is_some());
            let mut y = conv_fwd(fc, sn(at), x); // [batch, fc, 1, 1]
            if let Some(bn) = &self.fc_bn {
                y = batch_norm(bn, y);
            }
            x = lrelu(y);
        }
        let mut adv = conv_fwd(&self.adv, sn(n + 1), x.clone()).reshape([b]); // [batch]
        if let (Some(proj), Some(labels)) = (&self.proj, &cond.labels) {
            let [_, c, hh, ww] = x.dims();
            // Mean rather than sum pooling: without spectral normalization the sum lets the
            // projection term dwarf the adversarial one.
            let feat = x
                .clone()
                .reshape([b, c, hh * ww])
                .mean_dim(2)
                .reshape([b, c]);
            let e = proj.forward(labels.clone()).sum_dim(1).reshape([b, c]); // [batch, c]
            adv = adv + (feat * e).sum_dim(1).reshape([b]);
        }
        let x = if detach_aux { x.detach() } else { x };
        let x = match &self.q_hidden {
            Some(h) => {
                let y = h.forward(x); // [batch, Q_HIDDEN, 1, 1]
                lrelu(match &self.q_bn {
                    Some(bn) => batch_norm(bn, y),
                    None => y,
                })
            }
            None => x,
        };
        let aux = self.aux.as_ref().map(|head| {
            let y = conv_fwd(head, sn(n + 2), x); // [batch, k, 1, 1]
            let k = y.dims()[1];
            y.reshape([b, k])
        });
        DOut { adv, aux }
    }
}
