//! The feature network every distance is measured in. Standard FID uses Inception-v3
//! weights from the internet; facesynth instead trains the label CNN
//! ([`crate::labels::classifier`]) on the real images and their labels (without labels,
//! on which way up each image is: [`super::rotation`]), holds out a share of them to
//! report its accuracy, and caches it under a hash of the dataset (decoded
//! pixels, file list, labels) and of its settings, so every run on one dataset is judged
//! by the same network. Features are its global-average-pooled embedding (the layer
//! before the heads); class probabilities come from its heads.

use super::metrics::Feats;
use super::realset::RealSet;
use super::rotation;
use super::summary::FeatureNetInfo;
use super::EvalError;
use crate::gan::backend::CpuTrain;
use crate::gan::checkpoint;
use crate::gan::data::Attribute;
use crate::labels::classifier::{self, softmax_t, Net, Pixels, Sample, TrainSpec};
use burn::module::Module;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How the feature network is trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Optimizer steps (default 600).
    pub steps: usize,
    /// Images per step (default 64).
    pub batch: usize,
    /// Adam learning rate (default 2e-3).
    pub lr: f64,
    /// Channels of the four conv blocks; the last is the feature dimension
    /// (default 32, 64, 128, 128).
    pub channels: [usize; 4],
    /// Share of labeled images held out to measure accuracy (default 0.1).
    pub heldout: f64,
    /// Seed of the initialization, batches and the held-out draw (default 0).
    pub seed: u64,
}

impl Default for FeatureSpec {
    fn default() -> Self {
        FeatureSpec {
            steps: 600,
            batch: 64,
            lr: 2e-3,
            channels: [32, 64, 128, 128],
            heldout: 0.1,
            seed: 0,
        }
    }
}

/// What is cached beside the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    info: FeatureNetInfo,
    attrs: Vec<Attribute>,
    spec: FeatureSpec,
    size: u32,
}

/// A trained (or cached) feature network.
pub struct FeatureNet {
    net: Net<CpuTrain>,
    /// What the report says about it.
    pub info: FeatureNetInfo,
    /// The attributes its heads classify, in head order.
    pub attrs: Vec<Attribute>,
    /// Input side in pixels.
    pub size: u32,
    /// Whether it came from the cache.
    pub from_cache: bool,
    /// Its cache folder.
    pub dir: PathBuf,
}

/// Features and class probabilities of a set of images.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// Embeddings, one row per image.
    pub feats: Feats,
    /// `probs[a][i]`: softmax over attribute a's values for image i.
    pub probs: Vec<Vec<Vec<f32>>>,
}

impl Embedded {
    /// The most likely value of attribute `a` for each image.
    pub fn predicted(&self, a: usize) -> Vec<usize> {
        self.probs[a].iter().map(|p| argmax(p)).collect()
    }
}

/// The default cache root: `$XDG_CACHE_HOME/facesynth/featnet`, else
/// `~/.cache/facesynth/featnet`, else the temp folder's.
pub fn default_cache() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("facesynth").join("featnet")
}

/// The cache key of a real set and settings (hex).
pub fn dataset_hash(real: &RealSet, spec: &FeatureSpec) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(b"facesynth featnet v2\0");
    h.update(&serde_json::to_vec(spec).unwrap_or_default());
    h.update(&[real.channels as u8]);
    h.update(&real.size.to_le_bytes());
    // The attributes' values, not their names: plain class folders are `class` to an
    // unconditional run and `hair_color` to one conditioned on it, and the two runs must
    // be judged by one network to be compared.
    let values: Vec<&Vec<String>> = real.attrs.iter().map(|a| &a.values).collect();
    h.update(&serde_json::to_vec(&values).unwrap_or_default());
    for f in &real.files {
        h.update(f.as_bytes());
        h.update(b"\0");
    }
    for l in &real.labels {
        h.update(&l.map_or(u32::MAX, |v| v).to_le_bytes());
    }
    h.update(&real.pixels);
    format!("{:032x}", h.digest128())
}

/// Images as the classifier's input: 3 channels (grey repeated), values in -1..1.
pub fn to_pixels(px: &[u8], channels: usize, size: u32, idx: &[usize]) -> Pixels {
    let plane = (size * size) as usize;
    let il = channels * plane;
    let mut data = Vec::with_capacity(idx.len() * 3 * plane);
    for &i in idx {
        let img = &px[i * il..(i + 1) * il];
        for c in 0..3 {
            let ch = &img[c.min(channels - 1) * plane..(c.min(channels - 1) + 1) * plane];
            data.extend(ch.iter().map(|&v| v as f32 / 127.5 - 1.0));
        }
    }
    Pixels {
        size: size as usize,
        data,
    }
}

/// Why a feature network whose features cannot tell images apart (NaN, infinite, or the
/// same for every image) is refused.
pub(crate) const DIVERGED: &str = "its features are NaN, infinite or the same for every \
     image (its training diverged); delete this folder to train it again";

fn net_err(dir: &Path, reason: impl Into<String>) -> EvalError {
    EvalError::FeatureNet {
        path: dir.to_path_buf(),
        reason: reason.into(),
    }
}

/// Loads the network for `real` from the cache under `cache`, or trains and caches it.
pub fn prepare(real: &RealSet, spec: &FeatureSpec, cache: &Path) -> Result<FeatureNet, EvalError> {
    let hash = dataset_hash(real, spec);
    let dir = cache.join(&hash);
    let (weights, meta) = (dir.join("net.mpk"), dir.join("info.json"));
    // No labels: the network learns which way up each image is instead (`rotation`).
    let self_supervised = real.attrs.is_empty();
    let counts: Vec<usize> = match self_supervised {
        true => vec![rotation::CLASSES],
        false => real.attrs.iter().map(|a| a.values.len()).collect(),
    };
    let dev = Default::default();
    if weights.is_file() && meta.is_file() {
        let text = std::fs::read(&meta).map_err(|e| net_err(&meta, e.to_string()))?;
        let c: Cached = serde_json::from_slice(&text).map_err(|e| net_err(&meta, e.to_string()))?;
        let net = {
            let _rng = crate::backend_rng::lock(); // lazy parameters may draw when replaced
            let net = Net::<CpuTrain>::new(&counts, spec.channels, &dev);
            checkpoint::load_checked(&weights, net, &dev)
                .map_err(|e| net_err(&weights, e.to_string()))?
        };
        // The same values in the same order (the key holds them); the names are this
        // real set's.
        let mut info = c.info;
        for (name, _) in &mut info.heldout_accuracy {
            if let Some(a) = c.attrs.iter().position(|x| x.name == *name) {
                if let Some(now) = real.attrs.get(a) {
                    name.clone_from(&now.name);
                }
            }
        }
        return Ok(FeatureNet {
            net,
            info,
            attrs: real.attrs.clone(),
            size: c.size,
            from_cache: true,
            dir,
        });
    }
    let n = real.len();
    let na = real.attrs.len();
    let labeled: Vec<usize> = (0..n)
        .filter(|&i| self_supervised || (0..na).any(|a| real.label(i, a).is_some()))
        .collect();
    let n_held = ((labeled.len() as f64 * spec.heldout).round() as usize).min(labeled.len() / 2);
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x4845_4C44);
    let mut held = vec![false; n];
    for k in rand::seq::index::sample(&mut rng, labeled.len(), n_held) {
        held[labeled[k]] = true;
    }
    let train_idx: Vec<usize> = labeled.iter().copied().filter(|&i| !held[i]).collect();
    let held_idx: Vec<usize> = labeled.iter().copied().filter(|&i| held[i]).collect();
    let (pixels, samples) = match self_supervised {
        true => {
            let some = rotation::spread(&train_idx, rotation::MAX_IMAGES);
            rotation::views(&to_pixels(&real.pixels, real.channels, real.size, &some))
        }
        false => {
            let pixels = to_pixels(&real.pixels, real.channels, real.size, &train_idx);
            let samples: Vec<Sample> = train_idx
                .iter()
                .enumerate()
                .map(|(k, &i)| {
                    let targets = (0..na)
                        .map(|a| real.label(i, a).map(|v| v as usize))
                        .collect();
                    Sample::new(k, targets, 1.0)
                })
                .collect();
            (pixels, samples)
        }
    };
    let trained_on = samples.len();
    let ts = TrainSpec {
        steps: spec.steps,
        batch: spec.batch,
        lr: spec.lr,
        channels: spec.channels,
        seed: spec.seed,
        shift: 0,
        // The judge network of earlier figures: changing it would change every figure.
        schedule: classifier::LrSchedule::Constant,
        smoothing: 0.0,
        mixup: 0.0,
        weight_decay: 0.0,
        ema: 0.0,
        consistency: Default::default(),
        // The judge network of earlier figures (rotation's three classes allow for it).
        mirror: true,
    };
    let (net, _) = classifier::train::<CpuTrain>(&pixels, &samples, &counts, &ts, &dev, |_, _| {});
    drop(pixels);
    let mut fnet = FeatureNet {
        net,
        info: FeatureNetInfo::default(),
        attrs: real.attrs.clone(),
        size: real.size,
        from_cache: false,
        dir: dir.clone(),
    };
    let out = fnet.embed(&real.pixels, real.channels, real.size, &held_idx);
    // A diverged network would judge every later run by features that do not vary (FID
    // 0, a perfect score): refuse it rather than cache it.
    if out.feats.degenerate() {
        return Err(net_err(&dir, DIVERGED));
    }
    let mut heldout_accuracy: Vec<(String, f64)> = real
        .attrs
        .iter()
        .enumerate()
        .filter_map(|(a, attr)| {
            let pred = out.predicted(a);
            let (mut hit, mut tot) = (0usize, 0usize);
            for (k, &i) in held_idx.iter().enumerate() {
                if let Some(t) = real.label(i, a) {
                    tot += 1;
                    hit += (pred[k] == t as usize) as usize;
                }
            }
            // Attributes with no held-out label are left out (JSON has no NaN).
            (tot > 0).then(|| (attr.name.clone(), hit as f64 / tot as f64))
        })
        .collect();
    let description = if self_supervised {
        let some = rotation::spread(&held_idx, rotation::MAX_IMAGES);
        let (views, samples) =
            rotation::views(&to_pixels(&real.pixels, real.channels, real.size, &some));
        let out = classifier::predict(&fnet.net, &views, &dev);
        let right = samples
            .iter()
            .zip(&out.logits[0])
            .filter(|(s, l)| s.targets[0] == Some(argmax(l)))
            .count();
        if !samples.is_empty() {
            heldout_accuracy.push((
                "which way up (self-supervised)".into(),
                right as f64 / samples.len() as f64,
            ));
        }
        format!(
            "facesynth label CNN (4 conv blocks, {:?} channels) trained {} steps to tell which \
             way up each image is (upright, sideways, upside down: rotation prediction, \
             Gidaris et al. 2018; the real set has no labels) on {} views of {} real images, \
             accuracy on {} views of {} held-out ones; not Inception, so numbers compare \
             only between runs judged by this same network",
            spec.channels,
            spec.steps,
            trained_on,
            // The images the views came from (at most rotation::MAX_IMAGES a side).
            trained_on / 4,
            samples.len(),
            some.len()
        )
    } else {
        format!(
            "facesynth label CNN (4 conv blocks, {:?} channels) trained {} steps on {} of the \
             real images and their labels, accuracy on the other {} held out; not Inception, \
             so numbers compare only between runs judged by this same network",
            spec.channels,
            spec.steps,
            train_idx.len(),
            held_idx.len()
        )
    };
    fnet.info = FeatureNetInfo {
        description,
        dataset_hash: hash,
        dim: spec.channels[3],
        heldout_accuracy,
    };
    let bytes = checkpoint::to_bytes::<CpuTrain, _>(fnet.net.clone().into_record(), &weights)
        .map_err(|e| net_err(&weights, e.to_string()))?;
    crate::atomic::write(&weights, &bytes).map_err(|e| net_err(&weights, e.to_string()))?;
    let cached = Cached {
        info: fnet.info.clone(),
        attrs: fnet.attrs.clone(),
        spec: *spec,
        size: real.size,
    };
    crate::atomic::write_json(&meta, &cached).map_err(|e| net_err(&meta, e.to_string()))?;
    Ok(fnet)
}

impl FeatureNet {
    /// Features and class probabilities of images `idx` of `px` (`[n, channels, size,
    /// size]` u8), in chunks to bound memory.
    pub fn embed(&self, px: &[u8], channels: usize, size: u32, idx: &[usize]) -> Embedded {
        let dev = Default::default();
        let mut feats = Vec::new();
        let mut probs = vec![Vec::with_capacity(idx.len()); self.attrs.len()];
        let mut d = self.info.dim.max(1);
        for chunk in idx.chunks(1024) {
            let p = to_pixels(px, channels, size, chunk);
            let out = classifier::predict(&self.net, &p, &dev);
            for e in &out.embeddings {
                d = e.len();
                feats.extend_from_slice(e);
            }
            // A self-supervised network's head is no attribute: `probs` has none.
            for (p, lg) in probs.iter_mut().zip(&out.logits) {
                p.extend(lg.iter().map(|l| softmax_t(l, 1.0)));
            }
        }
        Embedded {
            feats: Feats::new(d, feats),
            probs,
        }
    }

    /// [`Self::embed`] over every image.
    pub fn embed_all(&self, px: &[u8], channels: usize, size: u32) -> Embedded {
        let n = px.len() / (channels * (size * size) as usize).max(1);
        self.embed(px, channels, size, &(0..n).collect::<Vec<_>>())
    }
}

/// Index of the largest value (the first of equal ones) of logits or probabilities.
fn argmax(l: &[f32]) -> usize {
    l.iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
        .0
}
