//! Training: Adam (or AdamW) on the masked cross-entropy of the labeled images, with
//! shifted and mirrored views, a cosine learning rate, and the consistency loss on the
//! images nobody labeled.

use super::input::{batch_tensor, mixed_batch_tensor, random_view, Mix, Pixels, View};
use super::net::Net;
use super::{LrSchedule, TrainSpec};
use crate::labels::consistency::{pseudo_labels, Alignment};
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::backend::AutodiffBackend;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// One training example: an image and, per attribute, an optional target value.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Index into [`Pixels`].
    pub image: usize,
    /// Target value index per attribute (`None`: unknown, masked out).
    pub targets: Vec<Option<usize>>,
    /// Loss weight per attribute, of `targets[a]` (1 for people's labels, less for
    /// synthesized ones): an image a person answered for one attribute and a heuristic
    /// voted on for another trains each at its own weight.
    pub weights: Vec<f32>,
}

impl Sample {
    /// An image with these targets, each at `weight`.
    pub fn new(image: usize, targets: Vec<Option<usize>>, weight: f32) -> Self {
        let weights = vec![weight; targets.len()];
        Sample {
            image,
            targets,
            weights,
        }
    }

    /// An image without a target for any of `attributes` attributes.
    pub fn unlabeled(image: usize, attributes: usize) -> Self {
        Sample::new(image, vec![None; attributes], 0.0)
    }

    /// Sets attribute `a`'s target and its weight.
    pub fn set(&mut self, a: usize, value: usize, weight: f32) {
        self.targets[a] = Some(value);
        self.weights[a] = weight;
    }
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
                        counts[t] += s.weights[a];
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
            .map(|s| random_view(&mut rng, s.image, m, spec.mirror))
            .collect();
        let mix = (spec.mixup > 0.0).then(|| Mix::draw(&mut rng, batch, spec.mixup));
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
                .map(|&i| random_view(&mut rng, i, m, spec.mirror))
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
                let mut v = random_view(&mut rng, i, cons.shift as i32, spec.mirror);
                if side > 0 {
                    let span = pixels.size - side + 1;
                    v.cut = Some((rng.random_range(0..span), rng.random_range(0..span), side));
                }
                idx.push(v);
            }
        }
        let rows = idx.len();
        let x = mixed_batch_tensor::<B>(pixels, &idx, mix.as_ref(), device);
        let (_, logits) = model.forward(x);
        let mut loss: Option<Tensor<B, 1>> = None;
        for (a, lg) in logits.into_iter().enumerate() {
            let k = classes[a];
            let mut onehot = vec![0.0f32; rows * k];
            let mut total = 0.0;
            let spread = spec.smoothing / k as f32;
            for r in 0..picked.len() {
                // A mixed row's target is the same blend of its two targets; a row whose
                // partner has no label for this attribute sits out of its loss.
                let parts = match &mix {
                    None => [(picked[r], 1.0), (picked[r], 0.0)],
                    Some(m) => [
                        (picked[r], m.lam[r]),
                        (picked[m.partner[r]], 1.0 - m.lam[r]),
                    ],
                };
                if parts.iter().any(|(s, _)| s.targets[a].is_none()) {
                    continue;
                }
                let row = &mut onehot[r * k..(r + 1) * k];
                for (s, share) in parts {
                    let (w, t) = (s.weights[a] * share, s.targets[a].unwrap_or_default());
                    row.iter_mut().for_each(|x| *x += w * spread);
                    row[t] += w * (1.0 - spec.smoothing);
                    total += w;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::classifier::predict;
    use crate::labels::consistency::Consistency;
    type B = burn::backend::Flex;

    /// Confident predictions on images without labels change what the network learns;
    /// with no prediction confident enough, the same draws train the same network.
    #[test]
    fn unlabeled_images_train_only_with_the_consistency_loss() {
        type A = burn::backend::Autodiff<B>;
        let device = Default::default();
        let size = 16;
        let n = 12;
        let pixels = Pixels::fixture(n, size);
        let mut samples: Vec<Sample> = (0..4)
            .map(|i| Sample::new(i, vec![Some(i % 2)], 1.0))
            .collect();
        samples.extend((4..n).map(|image| Sample::unlabeled(image, 1)));
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
