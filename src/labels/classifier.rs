//! The attribute classifier: a small CNN in burn with a shared convolutional body and one
//! softmax head per attribute, trained on human labels plus confident synthesized ones.
//! Four conv blocks (conv 3x3, batch norm, ReLU, 2x2 max pool); global average pooling
//! gives the embedding (which the diversity sampler uses) and a learned spatial weighting
//! per attribute ([`Net::forward`]) gives each head its own pooled features.
//! Missing targets are masked out of the loss, so an image may carry only some labels.

use super::consistency::{pseudo_labels, Alignment, Consistency};
use burn::module::{AutodiffModule, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::ConvOptions;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Training settings.
#[derive(Debug, Clone)]
pub struct TrainSpec {
    /// Optimizer steps (default 600: 300 left a 500-label network 4 points short on hair).
    pub steps: usize,
    /// Images per step (default 64).
    pub batch: usize,
    /// Adam learning rate (default 2e-3).
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
    /// Decoupled weight decay (AdamW, Loshchilov & Hutter 2019; default 0: plain Adam).
    pub weight_decay: f32,
    /// Decay of an exponential moving average of the weights, which
    /// [`train`] returns beside the last weights (default 0: none).
    pub ema: f64,
    /// Consistency training on the unlabeled images among the samples (those with no
    /// target; default off).
    pub consistency: Consistency,
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
            weight_decay: 0.0,
            ema: 0.0,
            consistency: Consistency::default(),
        }
    }
}

/// Decoded images at the classifier's input size: `n * 3 * size * size` floats in
/// -1..1, channel-major per image.
#[derive(Debug, Clone)]
pub struct Pixels {
    /// Side in pixels.
    pub size: usize,
    /// The data.
    pub data: Vec<f32>,
}

impl Pixels {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.data.len() / (3 * self.size * self.size)
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Copies image `v.image`, mirrored left-right when `v.flip`, moved by
    /// `(v.dx, v.dy)` pixels with the edge repeated and with `v.cut`'s square set to
    /// mid-grey, to the end of `out`.
    fn push(&self, v: &View, out: &mut Vec<f32>) {
        let s = self.size;
        let img = &self.data[v.image * 3 * s * s..(v.image + 1) * 3 * s * s];
        let start = out.len();
        if !v.flip && v.dx == 0 && v.dy == 0 {
            out.extend_from_slice(img);
        } else {
            self.push_moved(v, img, out);
        }
        if let Some((x0, y0, side)) = v.cut {
            for plane in out[start..].chunks_mut(s * s) {
                for y in y0.min(s)..(y0 + side).min(s) {
                    plane[y * s + x0.min(s)..y * s + (x0 + side).min(s)].fill(0.0);
                }
            }
        }
    }

    fn push_moved(&self, v: &View, img: &[f32], out: &mut Vec<f32>) {
        let s = self.size;
        let at = |p: usize, d: i32| (p as i32 + d).clamp(0, s as i32 - 1) as usize;
        for plane in img.chunks(s * s) {
            for y in 0..s {
                let row = &plane[at(y, v.dy) * s..][..s];
                out.extend((0..s).map(|x| {
                    let x = at(x, v.dx);
                    row[if v.flip { s - 1 - x } else { x }]
                }));
            }
        }
    }
}

/// An image as the network sees it in one batch: mirrored, shifted and cut (augmentation).
#[derive(Debug, Clone, Copy, Default)]
struct View {
    image: usize,
    flip: bool,
    dx: i32,
    dy: i32,
    /// A square `(x, y, side)` blanked out (the strong views of [`Consistency`]).
    cut: Option<(usize, usize, usize)>,
}

/// A view of `image` flipped at random and shifted by up to `m` pixels each way.
fn random_view(rng: &mut StdRng, image: usize, m: i32) -> View {
    let flip = rng.random_bool(0.5);
    let (dx, dy) = if m > 0 {
        (rng.random_range(-m..=m), rng.random_range(-m..=m))
    } else {
        (0, 0) // no draws: the stream of batches is as without the option
    };
    View {
        image,
        flip,
        dx,
        dy,
        cut: None,
    }
}

/// One training example: an image and, per attribute, an optional target value.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Index into [`Pixels`].
    pub image: usize,
    /// Target value index per attribute (`None`: unknown, masked out).
    pub targets: Vec<Option<usize>>,
    /// Loss weight (1 for human labels, less for synthesized ones).
    pub weight: f32,
}

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

    /// The conv blocks: `[batch, 3, size, size]` to the last feature map.
    pub(crate) fn body(&self, mut x: Tensor<B, 4>) -> Tensor<B, 4> {
        for b in &self.blocks {
            let y = crate::flex_ops::conv2d(
                x,
                b.conv.weight.val(),
                b.conv.bias.as_ref().map(|p| p.val()),
                ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
            );
            // `b.pool` is 2x2 with stride 2; this is the same pooling, faster on flex.
            x = crate::flex_ops::max_pool2x2(crate::flex_ops::batch_norm_relu(&b.norm, y));
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

fn batch_tensor<B: Backend>(pixels: &Pixels, idx: &[View], device: &B::Device) -> Tensor<B, 4> {
    let s = pixels.size;
    let mut buf = Vec::with_capacity(idx.len() * 3 * s * s);
    for v in idx {
        pixels.push(v, &mut buf);
    }
    Tensor::from_data(TensorData::new(buf, [idx.len(), 3, s, s]), device)
}

/// Trains a fresh network on `samples`; `classes[a]` is the number of values of attribute
/// a. Returns the last weights and, when `spec.ema` is set, the moving average of them.
pub fn train<B: AutodiffBackend>(
    pixels: &Pixels,
    samples: &[Sample],
    classes: &[usize],
    spec: &TrainSpec,
    device: &B::Device,
    on_step: impl FnMut(usize, f32),
) -> (Net<B>, Option<Net<B>>) {
    // The weights are drawn at the first forward pass (burn's lazy parameters), inside
    // the training steps: hold the backend's generator until training is done.
    let _rng = crate::backend_rng::lock();
    B::seed(device, spec.seed);
    let model = Net::<B>::new(classes, spec.channels, device);
    train_more(model, pixels, samples, classes, spec, device, on_step)
}

/// Trains `model` further on `samples` for `spec.steps` steps with a fresh optimizer
/// (self-training's second pass starts from the first pass's network); returns as
/// [`train`] does.
pub fn train_more<B: AutodiffBackend>(
    model: Net<B>,
    pixels: &Pixels,
    samples: &[Sample],
    classes: &[usize],
    spec: &TrainSpec,
    device: &B::Device,
    on_step: impl FnMut(usize, f32),
) -> (Net<B>, Option<Net<B>>) {
    if spec.weight_decay > 0.0 {
        let optim = AdamWConfig::new()
            .with_weight_decay(spec.weight_decay)
            .init::<B, Net<B>>();
        steps(
            model, optim, pixels, samples, classes, spec, device, on_step,
        )
    } else {
        let optim = AdamConfig::new().init::<B, Net<B>>();
        steps(
            model, optim, pixels, samples, classes, spec, device, on_step,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn steps<B: AutodiffBackend, O: Optimizer<Net<B>, B>>(
    mut model: Net<B>,
    mut optim: O,
    pixels: &Pixels,
    samples: &[Sample],
    classes: &[usize],
    spec: &TrainSpec,
    device: &B::Device,
    mut on_step: impl FnMut(usize, f32),
) -> (Net<B>, Option<Net<B>>) {
    // The average lives on the inner backend: no autodiff graph grows across steps.
    let mut average = (spec.ema > 0.0).then(|| crate::gan::ema::flat_params(&model.valid()));
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x5EED);
    // With the consistency loss, the samples without a target are its unlabeled images;
    // without it every sample is drawn as before (the same stream of batches).
    let cons = &spec.consistency;
    let (samples, unlabeled): (Vec<&Sample>, Vec<usize>) = if cons.on() {
        let (l, u): (Vec<&Sample>, Vec<&Sample>) = samples
            .iter()
            .partition(|s| s.targets.iter().any(Option::is_some));
        (l, u.iter().map(|s| s.image).collect())
    } else {
        (samples.iter().collect(), Vec::new())
    };
    if samples.is_empty() {
        return (model, None);
    }
    let batch = spec.batch.min(samples.len()).max(2);
    let ubatch = if unlabeled.is_empty() { 0 } else { cons.batch };
    let mut align: Vec<Alignment> = if cons.align {
        (0..classes.len())
            .map(|a| {
                let mut counts = vec![0.0f32; classes[a]];
                for s in &samples {
                    if let Some(t) = s.targets[a] {
                        counts[t] += s.weight;
                    }
                }
                Alignment::new(&counts)
            })
            .collect()
    } else {
        Vec::new()
    };
    for step in 0..spec.steps {
        let picked: Vec<&Sample> = (0..batch)
            .map(|_| samples[rng.random_range(0..samples.len())])
            .collect();
        let m = spec.shift as i32;
        let mut idx: Vec<View> = picked
            .iter()
            .map(|s| random_view(&mut rng, s.image, m))
            .collect();
        // FixMatch: targets from the current weights on weak views (no gradient), the
        // loss on strong views of the same images, in the same batch as the labeled ones
        // so that batch norm sees one mix.
        let mut pseudo: Vec<Vec<Option<usize>>> = vec![Vec::new(); classes.len()];
        if ubatch > 0 {
            let images: Vec<usize> = (0..ubatch)
                .map(|_| unlabeled[rng.random_range(0..unlabeled.len())])
                .collect();
            let weak: Vec<View> = images
                .iter()
                .map(|&i| random_view(&mut rng, i, m))
                .collect();
            let (_, wl) = model
                .valid()
                .forward(batch_tensor::<B::InnerBackend>(pixels, &weak, device));
            for (a, lg) in wl.into_iter().enumerate() {
                let mut p = softmax(lg, 1)
                    .into_data()
                    .to_vec::<f32>()
                    .unwrap_or_default();
                if let Some(al) = align.get_mut(a) {
                    al.apply(&mut p);
                }
                pseudo[a] = pseudo_labels(&p, classes[a], cons.threshold);
            }
            // An image with no confident attribute adds nothing to the loss: it stays
            // out of the strong batch (early in training, most of them), which saves
            // its forward and backward pass. The loss is still over all `ubatch`.
            let confident: Vec<usize> = (0..images.len())
                .filter(|&r| pseudo.iter().any(|p| p[r].is_some()))
                .collect();
            for p in pseudo.iter_mut() {
                *p = confident.iter().map(|&r| p[r]).collect();
            }
            let side = cons.cutout.min(pixels.size);
            for &i in confident.iter().map(|&r| &images[r]) {
                let mut v = random_view(&mut rng, i, cons.shift as i32);
                if side > 0 {
                    let span = pixels.size - side + 1;
                    v.cut = Some((rng.random_range(0..span), rng.random_range(0..span), side));
                }
                idx.push(v);
            }
        }
        let rows = idx.len();
        let x = batch_tensor::<B>(pixels, &idx, device);
        let (_, logits) = model.forward(x);
        let mut loss: Option<Tensor<B, 1>> = None;
        for (a, lg) in logits.into_iter().enumerate() {
            let k = classes[a];
            let mut onehot = vec![0.0f32; rows * k];
            let mut total = 0.0;
            let spread = spec.smoothing / k as f32;
            for (r, s) in picked.iter().enumerate() {
                if let Some(t) = s.targets[a] {
                    let row = &mut onehot[r * k..(r + 1) * k];
                    row.iter_mut().for_each(|x| *x = s.weight * spread);
                    row[t] += s.weight * (1.0 - spec.smoothing);
                    total += s.weight;
                }
            }
            // The labeled rows' loss is over their total weight; each unlabeled row's
            // is over the unlabeled batch (confident or not, as FixMatch normalizes),
            // times the consistency weight, and is scaled into the target beforehand.
            let scale = if total > 0.0 { total } else { 1.0 };
            let mut confident = 0;
            for (r, t) in pseudo[a].iter().enumerate() {
                if let Some(t) = t {
                    onehot[(batch + r) * k + t] = scale * cons.weight / ubatch as f32;
                    confident += 1;
                }
            }
            if total <= 0.0 && confident == 0 {
                continue;
            }
            let target = Tensor::<B, 2>::from_data(TensorData::new(onehot, [rows, k]), device);
            let l = (log_softmax(lg, 1) * target).sum().neg().div_scalar(scale); // [1]
            loss = Some(match loss {
                Some(acc) => acc + l,
                None => l,
            });
        }
        let Some(loss) = loss else { continue };
        let value = loss.clone().into_scalar().elem::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = match spec.schedule {
            LrSchedule::Constant => spec.lr,
            LrSchedule::Cosine => {
                let done = step as f64 / spec.steps as f64;
                spec.lr * 0.5 * (1.0 + (std::f64::consts::PI * done).cos())
            }
        };
        model = optim.step(lr, model, grads);
        if let Some(avg) = average.as_mut() {
            let decay = crate::gan::ema::warmed_decay(spec.ema, step as u64);
            crate::gan::ema::update(avg, crate::gan::ema::flat_params(&model.valid()), decay);
        }
        on_step(step, value);
    }
    let averaged =
        average.map(|avg| Net::from_inner(crate::gan::ema::with_params(model.valid(), &avg)));
    (model, averaged)
}

/// Per-image outputs of a trained network.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// Logits per attribute, `[image][value]`.
    pub logits: Vec<Vec<Vec<f32>>>,
    /// Embedding per image.
    pub embeddings: Vec<Vec<f32>>,
}

/// Runs the inference copy of `model` over every image of `pixels`.
pub fn predict<B: AutodiffBackend>(model: &Net<B>, pixels: &Pixels, device: &B::Device) -> Outputs {
    let all: Vec<usize> = (0..pixels.len()).collect();
    predict_views(model, pixels, &all, device, false, (0, 0))
}

/// As [`predict`], with the logits and embeddings averaged over each image and its
/// mirror image (test-time augmentation with the training flips).
pub fn predict_mirrored<B: AutodiffBackend>(
    model: &Net<B>,
    pixels: &Pixels,
    device: &B::Device,
) -> Outputs {
    predict_shifted(model, pixels, device, &[(0, 0)])
}

/// As [`predict_mirrored`], over each of `shifts` (pixels `(dx, dy)`, the edge repeated as
/// in training's shifts) too: `2 * shifts.len()` views per image, logits and embeddings
/// averaged.
pub fn predict_shifted<B: AutodiffBackend>(
    model: &Net<B>,
    pixels: &Pixels,
    device: &B::Device,
    shifts: &[(i32, i32)],
) -> Outputs {
    let all: Vec<usize> = (0..pixels.len()).collect();
    let mut views = shifts.iter().flat_map(|&d| {
        [false, true].map(|flip| predict_views(model, pixels, &all, device, flip, d))
    });
    let Some(mut out) = views.next() else {
        return Outputs::default();
    };
    let mut n = 1.0f32;
    for v in views {
        n += 1.0;
        // A running mean, as in `average_outputs`, but of the embeddings too: here every
        // view comes from the one network, so they share a space.
        let mean = |a: &mut Vec<f32>, b: &[f32]| {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += (y - *x) / n);
        };
        for (la, lb) in out.logits.iter_mut().zip(&v.logits) {
            la.iter_mut().zip(lb).for_each(|(a, b)| mean(a, b));
        }
        out.embeddings
            .iter_mut()
            .zip(&v.embeddings)
            .for_each(|(a, b)| mean(a, b));
    }
    out
}

/// The mean of several networks' logits, per attribute, image and value (an ensemble's
/// prediction); the embeddings are the first network's, since each network's embedding
/// lives in its own space. Empty for no outputs.
pub fn average_outputs(outs: impl IntoIterator<Item = Outputs>) -> Outputs {
    let mut outs = outs.into_iter();
    let Some(mut mean) = outs.next() else {
        return Outputs::default();
    };
    let mut n = 1.0f32;
    for o in outs {
        n += 1.0;
        // A running mean: no second copy of every network's logits is held.
        for (la, lb) in mean.logits.iter_mut().zip(&o.logits) {
            for (a, b) in la.iter_mut().zip(lb) {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += (y - *x) / n);
            }
        }
    }
    mean
}

/// The four one-pixel shifts of [`refine_uncertain`]'s views (with the mirror: ten views
/// with the unshifted pair).
pub const CROSS_1PX: [(i32, i32); 4] = [(1, 0), (-1, 0), (0, 1), (0, -1)];

/// Shifted test-time views where they can change an answer: the images whose prediction
/// in `out` (the two mirrored views' mean, from [`predict_mirrored`]) has a top softmax
/// probability under `below` for some attribute are predicted again at each of `shifts`,
/// as is and mirrored, and their logits become the mean of all `2 + 2 * shifts.len()`
/// views. A confident image keeps its answer under a one-pixel shift, so most of the
/// full views' cost buys nothing: on anime-faces-64, refining the third of the images
/// under 0.9 scored exactly as ten views of every image, at a sixth of the time
/// (BENCHMARKS.md, label, session 17). Embeddings stay the two views' mean, so distances
/// between images keep one basis. Returns the number refined.
pub fn refine_uncertain<B: AutodiffBackend>(
    model: &Net<B>,
    pixels: &Pixels,
    device: &B::Device,
    out: &mut Outputs,
    shifts: &[(i32, i32)],
    below: f32,
) -> usize {
    let n = out.embeddings.len();
    let unsure: Vec<usize> = (0..n)
        .filter(|&i| {
            out.logits
                .iter()
                .any(|l| softmax_t(&l[i], 1.0).iter().copied().fold(0.0, f32::max) < below)
        })
        .collect();
    if unsure.is_empty() || shifts.is_empty() {
        return 0;
    }
    let views = 2 * shifts.len();
    let mut sums: Vec<Vec<Vec<f32>>> = out
        .logits
        .iter()
        .map(|l| {
            unsure
                .iter()
                .map(|&i| l[i].iter().map(|x| 2.0 * x).collect())
                .collect()
        })
        .collect();
    for &d in shifts {
        for flip in [false, true] {
            let v = predict_views(model, pixels, &unsure, device, flip, d);
            for (sa, va) in sums.iter_mut().zip(&v.logits) {
                for (s, x) in sa.iter_mut().zip(va) {
                    s.iter_mut().zip(x).for_each(|(a, b)| *a += b);
                }
            }
        }
    }
    for (la, sa) in out.logits.iter_mut().zip(sums) {
        for (&i, s) in unsure.iter().zip(sa) {
            la[i] = s.into_iter().map(|x| x / (2 + views) as f32).collect();
        }
    }
    unsure.len()
}

/// One view (`flip`, shift `(dx, dy)`) of each of `images`, in their order.
fn predict_views<B: AutodiffBackend>(
    model: &Net<B>,
    pixels: &Pixels,
    images: &[usize],
    device: &B::Device,
    flip: bool,
    (dx, dy): (i32, i32),
) -> Outputs {
    let net = model.valid();
    let n = images.len();
    let mut logits = vec![Vec::with_capacity(n); net.heads.len()];
    let mut embeddings = Vec::with_capacity(n);
    for chunk in images.chunks(256) {
        let idx: Vec<View> = chunk
            .iter()
            .map(|&image| View {
                image,
                flip,
                dx,
                dy,
                cut: None,
            })
            .collect();
        let x = batch_tensor::<B::InnerBackend>(pixels, &idx, device);
        let (emb, lgs) = net.forward(x);
        let d = emb.dims()[1];
        let e: Vec<f32> = emb.into_data().to_vec().unwrap_or_default();
        embeddings.extend(e.chunks(d).map(|c| c.to_vec()));
        for (a, lg) in lgs.into_iter().enumerate() {
            let k = lg.dims()[1];
            let v: Vec<f32> = lg.into_data().to_vec().unwrap_or_default();
            logits[a].extend(v.chunks(k).map(|c| c.to_vec()));
        }
    }
    Outputs { logits, embeddings }
}

/// Softmax of `logits / temperature`.
pub fn softmax_t(logits: &[f32], temperature: f32) -> Vec<f32> {
    let t = temperature.max(1e-3);
    let m = logits.iter().copied().fold(f32::MIN, f32::max);
    let e: Vec<f32> = logits.iter().map(|&l| ((l - m) / t).exp()).collect();
    let z: f32 = e.iter().sum();
    e.into_iter().map(|x| x / z).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    type B = burn::backend::Flex;

    #[test]
    fn an_ensemble_averages_logits_and_keeps_the_first_embedding() {
        let out = |l: [f32; 2], e: f32| Outputs {
            logits: vec![vec![l.to_vec()]],
            embeddings: vec![vec![e]],
        };
        let mean = average_outputs([
            out([1.0, 4.0], 1.0),
            out([3.0, 0.0], 2.0),
            out([5.0, 2.0], 3.0),
        ]);
        assert_eq!(mean.logits, vec![vec![vec![3.0, 2.0]]]);
        assert_eq!(mean.embeddings, vec![vec![1.0]]);
        assert!(average_outputs(std::iter::empty()).logits.is_empty());
    }

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

    /// A cut view blanks its square in every channel and leaves the rest as the plain view.
    #[test]
    fn a_cut_view_blanks_only_its_square() {
        let size = 8;
        let pixels = Pixels {
            size,
            data: (0..3 * size * size)
                .map(|i| 0.5 + i as f32 * 1e-3)
                .collect(),
        };
        let (mut plain, mut cut) = (Vec::new(), Vec::new());
        pixels.push(&View::default(), &mut plain);
        let v = View {
            cut: Some((2, 5, 4)), // runs past the bottom edge: clipped
            ..View::default()
        };
        pixels.push(&v, &mut cut);
        for (i, (&p, &c)) in plain.iter().zip(&cut).enumerate() {
            let (y, x) = ((i / size) % size, i % size);
            let inside = (2..6).contains(&x) && y >= 5;
            assert_eq!(c, if inside { 0.0 } else { p }, "pixel {i}");
        }
    }

    /// `n` deterministic images of side `size`, values in -1..1.
    fn fixture_pixels(n: usize, size: usize) -> Pixels {
        Pixels {
            size,
            data: (0..n * 3 * size * size)
                .map(|i| ((i * 7919) % 255) as f32 / 127.5 - 1.0)
                .collect(),
        }
    }

    /// Refining only the unsure images gives them the full views' mean and leaves the
    /// sure ones, and their embeddings, as the two mirrored views left them.
    #[test]
    fn refining_the_unsure_images_matches_the_full_shifted_views_there() {
        type A = burn::backend::Autodiff<B>;
        let device = Default::default();
        let size = 16;
        let n = 6;
        let pixels = fixture_pixels(n, size);
        // The backend's generator is shared: hold it, as every test that draws weights does.
        let _rng = crate::backend_rng::lock();
        <A as burn::tensor::backend::Backend>::seed(&device, 5);
        let net = Net::<A>::new(&[3, 2], [4, 4, 4, 4], &device);
        let mirrored = predict_mirrored(&net, &pixels, &device);
        let full = predict_shifted(
            &net,
            &pixels,
            &device,
            &[(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)],
        );
        let mut none = mirrored.clone();
        assert_eq!(
            refine_uncertain(&net, &pixels, &device, &mut none, &CROSS_1PX, 0.0),
            0
        );
        assert_eq!(none.logits, mirrored.logits);
        // Under 1.01 every image is unsure: all logits become the ten views' mean.
        let mut all = mirrored.clone();
        assert_eq!(
            refine_uncertain(&net, &pixels, &device, &mut all, &CROSS_1PX, 1.01),
            n
        );
        for (la, lb) in all.logits.iter().zip(&full.logits) {
            for (a, b) in la.iter().flatten().zip(lb.iter().flatten()) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
        assert_eq!(all.embeddings, mirrored.embeddings);
        assert_ne!(
            all.logits, mirrored.logits,
            "a shifted view changes the logits"
        );
        // Between the two: an image refined only where some head's top probability is low.
        let least_sure = |i: usize| {
            (0..2)
                .map(|a| {
                    softmax_t(&mirrored.logits[a][i], 1.0)
                        .into_iter()
                        .fold(0.0, f32::max)
                })
                .fold(1.0, f32::min)
        };
        let below = (0..n).map(least_sure).sum::<f32>() / n as f32;
        let mut some = mirrored.clone();
        let k = refine_uncertain(&net, &pixels, &device, &mut some, &CROSS_1PX, below);
        let unsure: Vec<bool> = (0..n).map(|i| least_sure(i) < below).collect();
        for (i, &u) in unsure.iter().enumerate() {
            let want = if u { &full } else { &mirrored };
            assert!(
                (some.logits[0][i][0] - want.logits[0][i][0]).abs() < 1e-4,
                "image {i}"
            );
        }
        assert_eq!(k, unsure.iter().filter(|&&u| u).count());
    }

    /// Confident predictions on images without labels change what the network learns;
    /// with no prediction confident enough, the same draws train the same network.
    #[test]
    fn unlabeled_images_train_only_with_the_consistency_loss() {
        type A = burn::backend::Autodiff<B>;
        let device = Default::default();
        let size = 16;
        let n = 12;
        let pixels = fixture_pixels(n, size);
        let mut samples: Vec<Sample> = (0..4)
            .map(|i| Sample {
                image: i,
                targets: vec![Some(i % 2)],
                weight: 1.0,
            })
            .collect();
        samples.extend((4..n).map(|image| Sample {
            image,
            targets: vec![None],
            weight: 0.0,
        }));
        let spec = |threshold| TrainSpec {
            steps: 3,
            batch: 4,
            channels: [4, 4, 4, 4],
            consistency: Consistency {
                batch: 4,
                threshold,
                ..Consistency::default()
            },
            ..TrainSpec::default()
        };
        let logits = |spec: &TrainSpec| {
            let (net, _) = train::<A>(&pixels, &samples, &[2], spec, &device, |_, _| {});
            predict(&net, &pixels, &device).logits[0].concat()
        };
        let off = logits(&spec(1.5)); // no softmax reaches it
        let on = logits(&spec(0.0)); // every prediction is a target
        assert_eq!(off.len(), on.len());
        let moved = off
            .iter()
            .zip(&on)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            moved > 1e-4,
            "the unlabeled images changed nothing ({moved})"
        );
        assert_eq!(off, logits(&spec(1.5)), "training is deterministic");
    }
}
