//! Batches prepared off the training thread: class-balanced sampling, flips, scaling to
//! [-1, 1], noise and fake labels. Every step draws from its own RNG stream seeded by
//! `(seed, step)`, so a resumed run sees exactly the batches the uninterrupted one would
//! have: the "RNG state" of a checkpoint is its step.

use super::data::Dataset;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

/// A batch on the host, ready to become tensors.
#[derive(Debug, Clone)]
pub struct HostBatch {
    /// Its step.
    pub step: u64,
    /// Real images `[batch, channels, size, size]` in [-1, 1].
    pub real: Vec<f32>,
    /// Class index per attribute of the real images, `[batch, attrs]`.
    pub real_labels: Vec<u32>,
    /// Noise `[batch, nz]`, N(0, 1).
    pub z: Vec<f32>,
    /// Labels asked of G, `[batch, attrs]`.
    pub fake_labels: Vec<u32>,
    /// InfoGAN codes `[batch, cat + cont]`: one-hot categorical, U(-1, 1) continuous.
    pub code: Vec<f32>,
    /// U(0, 1) per real and fake sample, for noisy labels: `[2 * batch]`.
    pub uniform: Vec<f32>,
}

/// What the sampler needs besides the data.
#[derive(Debug, Clone)]
pub struct BatchSpec {
    /// Batch size.
    pub batch: usize,
    /// Noise size.
    pub nz: usize,
    /// InfoGAN categorical / continuous code sizes (0 when not InfoGAN).
    pub info: (usize, usize),
    /// Random horizontal flips.
    pub flip: bool,
    /// Class-balanced over the first attribute.
    pub balance: bool,
    /// Run seed.
    pub seed: u64,
}

/// The RNG stream of `(seed, step, stream)`.
pub fn step_rng(seed: u64, step: u64, stream: u64) -> StdRng {
    let mix = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(step.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(stream.wrapping_mul(0x94D0_49BB_1331_11EB));
    StdRng::seed_from_u64(mix)
}

/// `n` N(0, 1) draws (Box-Muller).
pub fn normal(rng: &mut StdRng, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f64 = rng.random::<f64>().max(1e-12);
        let u2: f64 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        out.push((r * t.cos()) as f32);
        out.push((r * t.sin()) as f32);
    }
    out.truncate(n);
    out
}

/// Per-class image indices of the first attribute (all images in one class if none).
pub fn class_index(ds: &Dataset) -> Vec<Vec<usize>> {
    let na = ds.attrs.len();
    if na == 0 {
        return vec![(0..ds.len()).collect()];
    }
    let mut by = vec![Vec::new(); ds.attrs[0].values.len()];
    for i in 0..ds.len() {
        by[ds.labels[i * na] as usize].push(i);
    }
    by.retain(|v| !v.is_empty());
    by
}

fn pick(rng: &mut StdRng, ds: &Dataset, classes: &[Vec<usize>], balance: bool) -> usize {
    if balance {
        let c = &classes[rng.random_range(0..classes.len())];
        c[rng.random_range(0..c.len())]
    } else {
        rng.random_range(0..ds.len())
    }
}

/// Appends one image's class per attribute (`classes[a]` values each): `fixed(a)`, else
/// one drawn uniformly.
pub fn draw_labels(
    rng: &mut StdRng,
    labels: &mut Vec<u32>,
    classes: &[usize],
    fixed: impl Fn(usize) -> Option<u32>,
) {
    for (a, &n) in classes.iter().enumerate() {
        labels.push(fixed(a).unwrap_or_else(|| rng.random_range(0..n as u32)));
    }
}

/// Appends one InfoGAN code `[cat + cont]`: the one-hot of categorical value `k`, then
/// the continuous values `cont` yields (Chen et al. 2016, section 5: a categorical and
/// uniform continuous codes).
pub fn push_code(code: &mut Vec<f32>, cat: usize, k: usize, cont: impl IntoIterator<Item = f32>) {
    code.extend((0..cat).map(|j| if j == k { 1.0 } else { 0.0 }));
    code.extend(cont);
}

/// Appends one InfoGAN code of `(cat, cont)` values: categorical value `fixed`, else one
/// drawn uniformly; continuous values from U(-1, 1). Training, `generate` and `eval`
/// draw codes here, so all three sample what the Q head learned.
pub fn draw_code(
    rng: &mut StdRng,
    code: &mut Vec<f32>,
    (cat, cont): (usize, usize),
    fixed: Option<usize>,
) {
    let k = fixed.unwrap_or_else(|| if cat > 0 { rng.random_range(0..cat) } else { 0 });
    push_code(
        code,
        cat,
        k,
        (0..cont).map(|_| rng.random_range(-1.0f32..1.0)),
    );
}

/// Draws the batch of `step`.
pub fn make_batch(ds: &Dataset, classes: &[Vec<usize>], spec: &BatchSpec, step: u64) -> HostBatch {
    let mut rng = step_rng(spec.seed, step, 0);
    let (b, il, na) = (spec.batch, ds.image_len(), ds.attrs.len());
    let side = ds.size as usize;
    let mut real = Vec::with_capacity(b * il);
    let mut real_labels = Vec::with_capacity(b * na);
    for _ in 0..b {
        let i = pick(&mut rng, ds, classes, spec.balance);
        let img = &ds.pixels[i * il..(i + 1) * il];
        let flip = spec.flip && rng.random_bool(0.5);
        for row in img.chunks_exact(side) {
            let scale = |p: &u8| *p as f32 / 127.5 - 1.0;
            if flip {
                real.extend(row.iter().rev().map(scale));
            } else {
                real.extend(row.iter().map(scale));
            }
        }
        real_labels.extend_from_slice(&ds.labels[i * na..(i + 1) * na]);
    }
    let mut fake_labels = Vec::with_capacity(b * na);
    for _ in 0..b {
        let i = pick(&mut rng, ds, classes, spec.balance);
        fake_labels.extend_from_slice(&ds.labels[i * na..(i + 1) * na]);
    }
    let z = normal(&mut rng, b * spec.nz);
    let (cat, cont) = spec.info;
    let mut code = Vec::with_capacity(b * (cat + cont));
    for _ in 0..b {
        if cat + cont == 0 {
            break;
        }
        draw_code(&mut rng, &mut code, (cat, cont), None);
    }
    let uniform = (0..2 * b).map(|_| rng.random::<f32>()).collect();
    HostBatch {
        step,
        real,
        real_labels,
        z,
        fake_labels,
        code,
        uniform,
    }
}

/// Spawns a thread that prepares the batches of `steps` in order, two ahead.
pub fn spawn(ds: Arc<Dataset>, spec: BatchSpec, steps: Range<u64>) -> Receiver<HostBatch> {
    let (tx, rx) = sync_channel(2);
    std::thread::spawn(move || {
        let classes = class_index(&ds);
        for step in steps {
            if tx.send(make_batch(&ds, &classes, &spec, step)).is_err() {
                break;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, RgbImage};

    fn ds() -> Dataset {
        let img =
            |v: u8| DynamicImage::ImageRgb8(RgbImage::from_pixel(4, 4, image::Rgb([v, 0, 255])));
        let mut items = vec![(img(0), vec!["a".to_string()])];
        for _ in 0..99 {
            items.push((img(255), vec!["b".to_string()]));
        }
        Dataset::from_images(items, &["c".to_string()], 4, 3)
    }

    #[test]
    fn batches_are_reproducible_scaled_and_balanced() {
        let d = ds();
        let classes = class_index(&d);
        let spec = BatchSpec {
            batch: 400,
            nz: 3,
            info: (2, 1),
            flip: true,
            balance: true,
            seed: 7,
        };
        let a = make_batch(&d, &classes, &spec, 5);
        let b = make_batch(&d, &classes, &spec, 5);
        assert_eq!((a.real.clone(), a.z.clone()), (b.real, b.z));
        assert!(a.real.iter().all(|x| (-1.0..=1.0).contains(x)));
        let rare = a.real_labels.iter().filter(|&&l| l == 0).count();
        assert!((120..280).contains(&rare), "class 'a' drawn {rare} of 400");
        assert_eq!(a.code.len(), 400 * 3);
        assert_ne!(make_batch(&d, &classes, &spec, 6).z, a.z);
    }
}
