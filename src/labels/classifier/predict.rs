//! Prediction: every image through a trained network, as is, mirrored or at shifted
//! views with their logits averaged, and the members of an ensemble averaged.

use super::input::{batch_tensor, Pixels, View};
use super::net::Net;
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;

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
    let mut logits = vec![Vec::with_capacity(n); net.classes().len()];
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

    /// Refining only the unsure images gives them the full views' mean and leaves the
    /// sure ones, and their embeddings, as the two mirrored views left them.
    #[test]
    fn refining_the_unsure_images_matches_the_full_shifted_views_there() {
        type A = burn::backend::Autodiff<B>;
        let device = Default::default();
        let size = 16;
        let n = 6;
        let pixels = Pixels::fixture(n, size);
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
}
