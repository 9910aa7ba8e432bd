//! The attribute classifier: a small CNN in burn with a shared convolutional body and one
//! softmax head per attribute, trained on human labels plus confident synthesized ones.
//! Four conv blocks (conv 3x3, batch norm, ReLU, 2x2 max pool); global average pooling
//! gives the embedding (which the diversity sampler uses) and a learned spatial weighting
//! per attribute ([`Net::forward`]) gives each head its own pooled features.
//! Missing targets are masked out of the loss, so an image may carry only some labels.

mod input;
mod net;
mod predict;
mod train;

pub use input::Pixels;
pub use net::Net;
pub use predict::{
    average_outputs, predict, predict_mirrored, predict_shifted, refine_uncertain, softmax_t,
    Outputs, CROSS_1PX,
};
pub use train::{train, train_more, Sample};

use super::consistency::Consistency;

/// Training settings.
#[derive(Debug, Clone)]
pub struct TrainSpec {
    /// Optimizer steps (default 600: 300 left a 500-label network 4 points short on hair).
    pub steps: usize,
    /// Images per step (default 64).
    pub batch: usize,
    /// Adam's peak learning rate (default 2e-3; 1e-3 and 4e-3 each lost eye accuracy on
    /// two draws of 500 labels, BENCHMARKS.md, label, session 21).
    pub lr: f64,
    /// Channels of the four conv blocks (default 32, 64, 128, 128).
    pub channels: [usize; 4],
    /// Seed for initialization, batches and flips.
    pub seed: u64,
    /// Random shifts of up to this many pixels each way while training (default 4, with
    /// the edge repeated: the face need not sit where the crop put it; colour, the label,
    /// is left alone). On 500 random labels: eye +1.7 points, hair -0.1 on average alone
    /// (two seeds), and eye +3.8, hair -0.2 with the heads' spatial focus (three seeds;
    /// BENCHMARKS.md, label, session 9).
    pub shift: usize,
    /// How the learning rate moves over the steps (default cosine).
    pub schedule: LrSchedule,
    /// Label smoothing (Szegedy et al. 2016): the target puts this share of its weight
    /// evenly on every value (default 0).
    pub smoothing: f32,
    /// Mixup's Beta(alpha, alpha) (Zhang et al. 2018): each labeled row of a batch is
    /// blended with another, input and target, by a weight of at least 0.5 (default 0:
    /// none). Colour is what the labels name, and a blend of red and blue hair looks
    /// purple: with alpha 0.4 on 500 random labels, -1.5 / -3.2 points hair / eye on
    /// average over two draws (BENCHMARKS.md, label, session 22).
    pub mixup: f32,
    /// Decoupled weight decay (AdamW, Loshchilov & Hutter 2019; default 0: plain Adam).
    pub weight_decay: f32,
    /// Decay of an exponential moving average of the weights, which
    /// [`train`] returns beside the last weights (default 0: none).
    pub ema: f64,
    /// Consistency training on the unlabeled images among the samples (those with no
    /// target; default off).
    pub consistency: Consistency,
    /// Mirror views left-right at random (default true: a face's hair colour is the
    /// same mirrored). False for content a mirror changes, such as digits (a schema's
    /// `mirror = false`).
    pub mirror: bool,
}

/// The learning rate over training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LrSchedule {
    /// `lr` throughout.
    Constant,
    /// From `lr` down to zero along a half cosine (SGDR, Loshchilov & Hutter 2017, one
    /// cycle; default). With a constant rate Adam's last steps still jump around the
    /// minimum of a few hundred examples, and the network a round ends with is a lucky or
    /// unlucky snapshot. Trained once on 500 random labels, cosine was ahead on four seeds
    /// out of four (+2.7 / +3.8 points hair / eye on average); in `label simulate` at 500
    /// labels it gave -0.6 to +6.3 points over three runs (BENCHMARKS.md, label, session 7).
    #[default]
    Cosine,
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            steps: 600,
            batch: 64,
            lr: 2e-3,
            channels: [32, 64, 128, 128],
            seed: 0,
            shift: 4,
            schedule: LrSchedule::default(),
            smoothing: 0.0,
            mixup: 0.0,
            weight_decay: 0.0,
            ema: 0.0,
            consistency: Consistency::default(),
            mirror: true,
        }
    }
}
