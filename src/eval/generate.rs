//! The generated side of an evaluation: N images from a run folder with a seeded RNG,
//! spread evenly over the classes of a conditional run (over InfoGAN's categorical code,
//! over the class models of a `--split-by` run), quantized to `u8` as a saved PNG would be.

use super::{EvalError, Images};
use crate::gan::batch;
use crate::gan::checkpoint::{self, ClassMap};
use crate::gan::generate::{load, Loaded};
use crate::gan::spec::ModelKind;
use crate::gan::train::trained_values;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::path::Path;

/// Images generated for evaluation and what each was asked for.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    /// Pixels, `[n, channels, size, size]`.
    pub px: Vec<u8>,
    /// 1 or 3.
    pub channels: usize,
    /// Side.
    pub size: u32,
    /// The attribute the images were asked for: the split attribute, a conditional run's
    /// first attribute, `code` for InfoGAN, `None` for an unconditional run.
    pub asked_attr: Option<String>,
    /// Its values (InfoGAN: `code0`, `code1`, ...).
    pub asked_values: Vec<String>,
    /// Per image: the index into `asked_values` it was generated for.
    pub asked: Vec<Option<usize>>,
    /// The model family (or `split:<attr>`).
    pub model: String,
    /// Training steps of the checkpoint (the largest over class models).
    pub step: u64,
    /// The run's other conditioning attributes (a CGAN on `hair_color,eye_color`:
    /// `eye_color`; a split run's class models' attributes): every image asks for a value
    /// drawn uniformly at random, recorded here so its conditioning can be measured.
    pub drawn: Vec<Drawn>,
}

/// A conditioning attribute whose value was drawn at random for each image.
#[derive(Debug, Clone, Default)]
pub struct Drawn {
    /// The attribute.
    pub attr: String,
    /// Its values (over a split run's class models: every value any of them knows).
    pub values: Vec<String>,
    /// Per image: the index into `values` it was generated for (`None`: a class model
    /// without this attribute).
    pub asked: Vec<Option<usize>>,
}

/// Adds the labels of `m` images sampled from `l` to `out.drawn`, for the conditioning
/// attributes from `from` on (1 when the first is the asked one). Call before `out.asked`
/// grows by the same images.
fn record_drawn(out: &mut Generated, l: &Loaded, labels: &[u32], m: usize, from: usize) {
    let na = l.shape.classes.len();
    let before = out.asked.len();
    for a in from..na.min(l.classes.attrs.len()) {
        let attr = &l.classes.attrs[a];
        let slot = match out.drawn.iter().position(|d| d.attr == attr.name) {
            Some(i) => i,
            None => {
                out.drawn.push(Drawn {
                    attr: attr.name.clone(),
                    values: Vec::new(),
                    asked: vec![None; before],
                });
                out.drawn.len() - 1
            }
        };
        let d = &mut out.drawn[slot];
        for i in 0..m {
            let value = &attr.values[labels[i * na + a] as usize];
            let k = match d.values.iter().position(|v| v == value) {
                Some(k) => k,
                None => {
                    d.values.push(value.clone());
                    d.values.len() - 1
                }
            };
            d.asked.push(Some(k));
        }
    }
    // Attributes this model lacks (another class model had them): nothing asked.
    for d in &mut out.drawn {
        d.asked.resize(before + m, None);
    }
}

impl Generated {
    /// The images as a view.
    pub fn images(&self) -> Images<'_> {
        Images {
            px: &self.px,
            channels: self.channels,
            size: self.size,
        }
    }
}

fn run_err(run: &Path) -> impl FnOnce(crate::gan::GanError) -> EvalError + '_ {
    move |source| EvalError::Run {
        path: run.to_path_buf(),
        source,
    }
}

/// How many of `n` images go to class `c` of `k` (even, the remainder to the first).
fn share(n: usize, k: usize, c: usize) -> usize {
    n / k + usize::from(c < n % k)
}

fn quantize(v: &[f32]) -> Vec<u8> {
    v.iter()
        .map(|x| ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8)
        .collect()
}

/// Samples `n` images from one loaded model; `first` fixes the first attribute's class
/// (conditional) or the categorical code (InfoGAN) of every image. Returns the images and
/// their class indices (`[n, attrs]`).
fn sample(l: &Loaded, n: usize, first: Option<usize>, rng: &mut StdRng) -> (Vec<u8>, Vec<u32>) {
    let na = l.shape.classes.len();
    let mut labels = Vec::with_capacity(n * na);
    let mut code = Vec::new();
    for _ in 0..n {
        batch::draw_labels(rng, &mut labels, &l.shape.classes, |a| match first {
            Some(c) if a == 0 && l.spec.model != ModelKind::Infogan => Some(c as u32),
            _ => None,
        });
        if l.shape.code_dim() > 0 {
            batch::draw_code(rng, &mut code, (l.shape.info_cat, l.shape.info_cont), first);
        }
    }
    let z = batch::normal(rng, n * l.shape.nz);
    (quantize(&l.sample(z, &labels, &code, n)), labels)
}

/// Generates `n` images from `run` with `seed`.
pub fn generate_for_eval(run: &Path, n: usize, seed: u64) -> Result<Generated, EvalError> {
    let (spec, classes): (_, ClassMap) = checkpoint::read_meta(run).map_err(run_err(run))?;
    let mut out = Generated {
        channels: classes.channels,
        size: spec.size,
        ..Generated::default()
    };
    if let Some(split) = &classes.split {
        let present = trained_values(run, &split.values);
        if present.is_empty() {
            return Err(EvalError::Settings {
                reason: format!("split run {} has no class models yet", run.display()),
            });
        }
        out.model = format!("split:{}", split.name);
        out.asked_attr = Some(split.name.clone());
        out.asked_values = split.values.clone();
        for (c, (v, dir)) in present.iter().enumerate() {
            let sub = run.join(dir);
            let l = load(&sub).map_err(run_err(&sub))?;
            let m = share(n, present.len(), c);
            let mut rng = StdRng::seed_from_u64(seed ^ (0xC1A5 + c as u64));
            let (px, labels) = sample(&l, m, None, &mut rng);
            out.px.extend(px);
            record_drawn(&mut out, &l, &labels, m, 0);
            let idx = split.values.iter().position(|x| x == *v);
            out.asked.extend(std::iter::repeat_n(idx, m));
            out.step = out.step.max(l.step);
        }
        return Ok(out);
    }
    let l = load(run).map_err(run_err(run))?;
    out.model = spec.model.to_string();
    out.step = l.step;
    let mut rng = StdRng::seed_from_u64(seed);
    let rows: Vec<String> = if l.spec.model == ModelKind::Infogan && l.shape.info_cat > 0 {
        out.asked_attr = Some("code".into());
        (0..l.shape.info_cat).map(|k| format!("code{k}")).collect()
    } else if let Some(a) = classes
        .attrs
        .first()
        .filter(|_| !l.shape.classes.is_empty())
    {
        out.asked_attr = Some(a.name.clone());
        a.values.clone()
    } else {
        out.px = sample(&l, n, None, &mut rng).0;
        out.asked = vec![None; n];
        return Ok(out);
    };
    for c in 0..rows.len() {
        let m = share(n, rows.len(), c);
        let (px, labels) = sample(&l, m, Some(c), &mut rng);
        out.px.extend(px);
        if l.spec.model != ModelKind::Infogan {
            record_drawn(&mut out, &l, &labels, m, 1);
        }
        out.asked.extend(std::iter::repeat_n(Some(c), m));
    }
    out.asked_values = rows;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normals_and_shares() {
        let mut rng = StdRng::seed_from_u64(1);
        let z = batch::normal(&mut rng, 20_001);
        let mean = z.iter().sum::<f32>() / z.len() as f32;
        let var = z.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / z.len() as f32;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        assert_eq!(
            (0..3).map(|c| share(10, 3, c)).collect::<Vec<_>>(),
            vec![4, 3, 3]
        );
        assert_eq!(quantize(&[-1.0, 0.0, 1.0, 2.0]), vec![0, 128, 255, 255]);
    }
}
