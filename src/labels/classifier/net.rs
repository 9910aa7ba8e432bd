//! The network: four conv blocks (conv 3x3, batch norm, ReLU, 2x2 max pool), global
//! average pooling for the embedding, and per attribute a learned spatial weighting of
//! the last feature map before its linear head.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::ops::ConvOptions;

#[derive(Module, Debug)]
struct Block<B: Backend> {
    conv: Conv2d<B>,
    norm: BatchNorm<B>,
    pool: MaxPool2d,
}

/// Side of the grid over which each head learns where to look.
const FOCUS_GRID: usize = 3;
/// Scale of the focus logits: Adam moves a parameter by about the learning rate per step,
/// so without it 600 steps of 2e-3 could shift the weights by a factor of e^1 at most.
const FOCUS_GAIN: f32 = 5.0;

/// The CNN: shared body, one head per attribute.
#[derive(Module, Debug)]
pub struct Net<B: Backend> {
    blocks: Vec<Block<B>>,
    gap: AdaptiveAvgPool2d,
    grid: AdaptiveAvgPool2d,
    /// Per attribute, logits of a softmax over the grid's cells (zero: plain averaging).
    focus: Vec<Param<Tensor<B, 1>>>,
    heads: Vec<Linear<B>>,
}

impl<B: Backend> Net<B> {
    /// A fresh network for attributes with `classes[a]` values each.
    pub fn new(classes: &[usize], channels: [usize; 4], device: &B::Device) -> Self {
        let mut cin = 3;
        let blocks = channels
            .iter()
            .map(|&c| {
                let b = Block {
                    conv: Conv2dConfig::new([cin, c], [3, 3])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device),
                    norm: BatchNormConfig::new(c).init(device),
                    pool: MaxPool2dConfig::new([2, 2]).init(),
                };
                cin = c;
                b
            })
            .collect();
        let heads = classes
            .iter()
            .map(|&k| LinearConfig::new(cin, k).init(device))
            .collect();
        let focus = classes
            .iter()
            .map(|_| Param::from_tensor(Tensor::zeros([FOCUS_GRID * FOCUS_GRID], device)))
            .collect();
        Net {
            blocks,
            gap: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            grid: AdaptiveAvgPool2dConfig::new([FOCUS_GRID, FOCUS_GRID]).init(),
            focus,
            heads,
        }
    }

    /// Values per attribute head (to check that a saved network fits a schema).
    pub fn classes(&self) -> Vec<usize> {
        self.heads.iter().map(|h| h.weight.dims()[1]).collect()
    }

    /// The network a round saved at `path` (`labels/model.mpk`), built with heads of
    /// `classes` values and conv blocks of `channels`; `None` when the file cannot be
    /// read or its weights do not fit (a re-initialized schema with other heads, or
    /// another number of attributes).
    pub fn load(
        path: &std::path::Path,
        classes: &[usize],
        channels: [usize; 4],
        device: &B::Device,
    ) -> Option<Self> {
        let _rng = crate::backend_rng::lock(); // lazy parameters may draw when replaced
        let net = Net::new(classes, channels, device);
        crate::gan::checkpoint::load_checked(path, net, device).ok()
    }

    /// The conv blocks: `[batch, 3, size, size]` to the last feature map.
    pub(crate) fn body(&self, mut x: Tensor<B, 4>) -> Tensor<B, 4> {
        for b in &self.blocks {
            let y = crate::flex_ops::conv2d(
                x,
                b.conv.weight.val(),
                b.conv.bias.as_ref().map(|p| p.val()),
                ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
            );
            // `b.pool` is 2x2 with stride 2; this is the same pooling, batch norm and ReLU
            // included, faster on flex.
            x = crate::flex_ops::batch_norm_relu_pool2x2(&b.norm, y);
        }
        x
    }

    /// Embedding `[batch, channels]` and one logits tensor `[batch, values]` per attribute.
    ///
    /// Each head sees the body's last feature map averaged over a 3x3 grid with weights of
    /// its own (a softmax over the cells, learned, the same for every image): the eye head
    /// can learn to look at the middle band and the hair head at the top and sides, where
    /// global average pooling hands both the same mix. Hair and eye colours are
    /// correlated in anime art, and with few labels a network pooling globally leans on
    /// hair for eyes. This is class-specific spatial pooling in the spirit of CSRA (Zhu &
    /// Wu, ICCV 2021), reduced to a fixed map per attribute; at zero it is average
    /// pooling. On 500 random labels: eye +2.3 points alone (two seeds), +3.8 with shifts
    /// (three seeds; BENCHMARKS.md, label, session 9).
    pub fn forward(&self, x: Tensor<B, 4>) -> (Tensor<B, 2>, Vec<Tensor<B, 2>>) {
        let x = self.body(x);
        let emb: Tensor<B, 2> = self.gap.forward(x.clone()).flatten(1, 3); // [batch, channels]
        let cells = FOCUS_GRID * FOCUS_GRID;
        let g = self.grid.forward(x); // [batch, channels, 3, 3]
        let [b, c, _, _] = g.dims();
        let g: Tensor<B, 3> = g.reshape([b, c, cells]);
        let logits = self
            .heads
            .iter()
            .zip(&self.focus)
            .map(|(h, f)| {
                let w = softmax(f.val().mul_scalar(FOCUS_GAIN), 0).reshape([1, 1, cells]);
                h.forward((g.clone() * w).sum_dim(2).reshape([b, c]))
            })
            .collect();
        (emb, logits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    type B = burn::backend::Flex;

    /// A fresh network's focus is zero, so every head sees plain average pooling, the
    /// embedding; a focus that favours one cell makes the head see (nearly) that cell.
    #[test]
    fn focus_starts_as_average_pooling_and_can_pick_a_cell() {
        let device = Default::default();
        let _rng = crate::backend_rng::lock();
        B::seed(&device, 3);
        let mut net = Net::<B>::new(&[4], [4, 4, 4, 4], &device);
        let x = Tensor::<B, 4>::random([2, 3, 48, 48], Distribution::Default, &device);
        let (emb, logits) = net.forward(x.clone());
        let from_emb = net.heads[0].forward(emb);
        let diff = (logits[0].clone() - from_emb).abs().max().into_scalar();
        assert!(diff < 1e-4, "zero focus is average pooling ({diff})");

        // All weight on the middle cell: the head sees the feature map's centre.
        let mut f = vec![-10.0f32; 9];
        f[4] = 10.0;
        net.focus[0] = Param::from_tensor(Tensor::from_data(TensorData::new(f, [9]), &device));
        let (_, picked) = net.forward(x.clone());
        let feat = net.body(x);
        let centre: Tensor<B, 2> = feat.slice([0..2, 0..4, 1..2, 1..2]).flatten(1, 3);
        let from_centre = net.heads[0].forward(centre);
        let diff = (picked[0].clone() - from_centre).abs().max().into_scalar();
        assert!(diff < 1e-4, "focus on the centre cell ({diff})");
        let moved = (picked[0].clone() - logits[0].clone())
            .abs()
            .max()
            .into_scalar();
        assert!(
            moved > 1e-3,
            "the focus changes what the head sees ({moved})"
        );
    }

    /// Regression: a saved network with another number of heads (a store re-initialized
    /// with another schema) panicked inside burn's `load_record`; now it is not loaded.
    #[test]
    fn a_network_of_other_heads_is_not_loaded() {
        let device = Default::default();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.mpk");
        let net = {
            let _rng = crate::backend_rng::lock();
            Net::<B>::new(&[4, 3], [4, 4, 4, 4], &device)
        };
        let record = burn::module::Module::into_record(net);
        crate::gan::checkpoint::write_record::<B, _>(&path, record).unwrap();
        assert!(Net::<B>::load(&path, &[4, 3], [4, 4, 4, 4], &device).is_some());
        for other in [&[4][..], &[4, 3, 2], &[4, 5]] {
            assert!(Net::<B>::load(&path, other, [4, 4, 4, 4], &device).is_none());
        }
        assert!(Net::<B>::load(&path, &[4, 3], [8, 4, 4, 4], &device).is_none());
    }
}
