//! `facesynth generate`: images from a run folder alone (settings, class mapping and
//! weights are all there). Fixed attributes, per-class sets (from each class's model in
//! split runs), N(mu, sigma) sampling with truncation, latent interpolation, and the mean
//! face over a sweep of mu. Each call lists what it wrote in `OUT/generate.json` and the
//! next call into the same `OUT` removes those files first ([`MANIFEST`]).

mod grids;
mod split;

use super::backend::Cpu;
use super::batch::{normal, step_rng};
use super::checkpoint::{self, ClassMap};
use super::dcgan::{make_cond, NetShape};
use super::model::{net_shape, Generator};
use super::monitor;
use super::outdir::OutDir;
pub use super::outdir::MANIFEST;
use super::spec::{ModelKind, TrainSpec};
use super::train::value_dirs;
use super::GanError;
use burn::prelude::*;
use grids::{interpolation, mean_sweep};
use rand::RngExt;
use split::{generate_split, split_models, ClassModel};
use std::path::{Path, PathBuf};

/// Fixed class indices: `(attribute position, class index)`.
type Fixed = Vec<(usize, u32)>;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateSpec {
    /// The run folder (`train --out`).
    pub run: PathBuf,
    /// Output folder.
    pub out: PathBuf,
    /// Number of images (without `per_class`). Default 64.
    pub n: usize,
    /// Fixed attribute values, `(attr, value)`; InfoGAN's categorical code is `code`.
    pub attrs: Vec<(String, String)>,
    /// Images per value of the first attribute (or split value / InfoGAN code).
    pub per_class: Option<usize>,
    /// Interpolation: rows of this many steps between two latent points.
    pub interpolate: Option<usize>,
    /// Mean of the noise. Default 0.
    pub mu: f32,
    /// Standard deviation of the noise. Default 1.
    pub sigma: f32,
    /// Truncation: redraw noise values beyond this many sigmas.
    pub truncation: Option<f32>,
    /// Write the mean face for mu in -2..=2 (9 values) as `mean_sweep.png`.
    pub mean_sweep: bool,
    /// Seed. Default 0.
    pub seed: u64,
}

impl Default for GenerateSpec {
    fn default() -> Self {
        GenerateSpec {
            run: PathBuf::new(),
            out: PathBuf::new(),
            n: 64,
            attrs: Vec::new(),
            per_class: None,
            interpolate: None,
            mu: 0.0,
            sigma: 1.0,
            truncation: None,
            mean_sweep: false,
            seed: 0,
        }
    }
}

/// What `generate` wrote.
#[derive(Debug, Clone, Default)]
pub struct GenerateReport {
    /// Image files written (grids not counted).
    pub images: usize,
    /// Grid and strip files.
    pub grids: Vec<PathBuf>,
    /// What was left out and why (a split run's class model without a value asked for).
    pub warnings: Vec<String>,
}

/// A trained generator with what it needs to be sampled.
pub struct Loaded {
    /// The network (EMA weights when the run kept them).
    pub g: Generator<Cpu>,
    /// Its settings.
    pub spec: TrainSpec,
    /// Its classes.
    pub classes: ClassMap,
    /// Its shape.
    pub shape: NetShape,
    /// The training step of the weights loaded (read with them: a checkpoint committed
    /// since is not these weights).
    pub step: u64,
}

/// Loads the newest weights of a (non-split) run.
pub fn load(run: &Path) -> Result<Loaded, GanError> {
    let (spec, classes) = checkpoint::read_meta(run)?;
    let latest = checkpoint::latest(run)?.ok_or_else(|| GanError::Checkpoint {
        path: run.to_path_buf(),
        reason: "no checkpoint yet (latest.json missing)".into(),
    })?;
    let counts: Vec<usize> = classes.attrs.iter().map(|a| a.values.len()).collect();
    let shape = net_shape(&spec, classes.channels, &counts);
    let dev = Default::default();
    let file = if latest.ema { "g_ema.mpk" } else { "g.mpk" };
    let path = run.join(&latest.dir).join(file);
    let g = {
        let _rng = crate::backend_rng::lock(); // construction draws (spectral-norm vectors)
        let g = Generator::<Cpu>::new(spec.arch, &shape, &dev);
        if let Some(saved) = &latest.shapes {
            checkpoint::check_shapes(&path, &saved.g, &g)?;
        }
        checkpoint::load_checked(&path, g, &dev)?
    };
    Ok(Loaded {
        g,
        spec,
        classes,
        shape,
        step: latest.step,
    })
}

impl Loaded {
    /// Generates `n` images (`[n, c, s, s]` values in [-1, 1]) with the given per-image
    /// class indices per attribute (`[n, attrs]`) and InfoGAN codes, from noise `z`.
    pub fn sample(&self, z: Vec<f32>, labels: &[u32], code: &[f32], n: usize) -> Vec<f32> {
        let dev = Default::default();
        let mut out = Vec::with_capacity(n * self.image_len());
        let (na, cd, nz) = (
            self.shape.classes.len(),
            self.shape.code_dim(),
            self.shape.nz,
        );
        let chunk = 64;
        for s in (0..n).step_by(chunk) {
            let e = (s + chunk).min(n);
            let m = e - s;
            let l = if labels.len() >= e * na {
                &labels[s * na..e * na]
            } else {
                &[]
            };
            let c = if code.len() >= e * cd {
                &code[s * cd..e * cd]
            } else {
                &[]
            };
            let cond = make_cond::<Cpu>(&self.shape, l, c, m, &dev);
            let zt = Tensor::from_data(TensorData::new(z[s * nz..e * nz].to_vec(), [m, nz]), &dev);
            out.extend(self.g.forward(zt, &cond).into_data().iter::<f32>());
        }
        out
    }

    fn image_len(&self) -> usize {
        self.classes.channels * (self.spec.size * self.spec.size) as usize
    }
}

fn noise(spec: &GenerateSpec, stream: u64, n: usize) -> Vec<f32> {
    let mut rng = step_rng(spec.seed, stream, 11);
    let mut z = normal(&mut rng, n);
    if let Some(t) = spec.truncation {
        for v in z.iter_mut() {
            if v.abs() > t {
                *v = truncated(&mut rng, t);
            }
        }
    }
    z.iter().map(|v| spec.mu + spec.sigma * v).collect()
}

/// One N(0, 1) draw conditioned on |v| <= t (t > 0), in bounded expected time. Redrawing
/// from N(0, 1) accepts with P(|v| <= t), 0.2 at t = 0.25 but 8e-7 at t = 1e-6; below
/// 0.25 a uniform proposal on [-t, t] accepted with density ratio exp(-v²/2) (at least
/// 0.97 there) samples the same distribution.
fn truncated(rng: &mut rand::rngs::StdRng, t: f32) -> f32 {
    if t >= 0.25 {
        loop {
            let v = normal(rng, 1)[0];
            if v.abs() <= t {
                return v;
            }
        }
    }
    loop {
        let v = rng.random_range(-t..=t);
        if rng.random::<f32>() <= (-0.5 * v * v).exp() {
            return v;
        }
    }
}

/// Most images of one `generate` call (per class with `--per-class`): 100,000 of 64 px
/// hold about 1.2 GB.
pub const MAX_IMAGES: usize = 100_000;

/// Most steps of `--interpolate`.
pub const MAX_WALK: usize = 1_000;

/// Settings that would write nothing or never finish, refused before any work.
fn check(spec: &GenerateSpec) -> Result<(), GanError> {
    let bad = |reason: String| Err(GanError::Usage { reason });
    if let Some(t) = spec.truncation {
        // NaN fails this too: the redraw loop could never accept a value.
        if !(t > 0.0 && t.is_finite()) {
            return bad(format!(
                "truncation {t}: give a positive number of standard deviations (e.g. 2)"
            ));
        }
    }
    if spec.n == 0 || spec.per_class == Some(0) {
        return bad("nothing to generate: --n and --per-class must be at least 1".into());
    }
    // Every image of a call is held until written: 10^8 aborted out of memory with a
    // backtrace.
    let most = spec.per_class.unwrap_or(spec.n);
    if most > MAX_IMAGES {
        return bad(format!(
            "{most} images in one call: at most {MAX_IMAGES} (each is held in memory until \
             written); generate in several calls into several folders"
        ));
    }
    if let Some(k) = spec.interpolate.filter(|&k| k > MAX_WALK) {
        return bad(format!("--interpolate {k}: at most {MAX_WALK} steps"));
    }
    // A walk has two ends: 0 and 1 drew two steps without a word.
    if let Some(k @ 0..=1) = spec.interpolate {
        return bad(format!(
            "--interpolate {k}: a latent walk needs at least 2 steps"
        ));
    }
    if !(spec.mu.is_finite() && spec.sigma.is_finite() && spec.sigma >= 0.0) {
        return bad(format!(
            "mu {} and sigma {} must be finite numbers, sigma not negative",
            spec.mu, spec.sigma
        ));
    }
    Ok(())
}

/// Class indices and codes for `n` images: `fixed` values win, `row` (if any) sets the
/// first attribute / code, the rest are drawn at random.
fn conditions(
    l: &Loaded,
    fixed: &[(usize, u32)],
    fixed_code: Option<usize>,
    n: usize,
    seed: u64,
) -> (Vec<u32>, Vec<f32>) {
    let mut rng = step_rng(seed, 0, 12);
    let na = l.shape.classes.len();
    let mut labels = Vec::with_capacity(n * na);
    let mut code = Vec::new();
    for _ in 0..n {
        super::batch::draw_labels(&mut rng, &mut labels, &l.shape.classes, |a| {
            fixed.iter().find(|(i, _)| *i == a).map(|(_, v)| *v)
        });
        if l.shape.code_dim() > 0 {
            let info = (l.shape.info_cat, l.shape.info_cont);
            super::batch::draw_code(&mut rng, &mut code, info, fixed_code);
        }
    }
    (labels, code)
}

fn resolve_fixed(
    l: &Loaded,
    attrs: &[(String, String)],
) -> Result<(Fixed, Option<usize>), GanError> {
    let mut fixed = Vec::new();
    let mut code = None;
    for (name, value) in attrs {
        if l.spec.model == ModelKind::Infogan && name == "code" {
            let k: usize = value
                .parse()
                .ok()
                .filter(|k| *k < l.spec.info_cat)
                .ok_or_else(|| GanError::Settings {
                    reason: format!(
                        "code={value}: expected a whole number from 0 to {}",
                        l.spec.info_cat.saturating_sub(1)
                    ),
                })?;
            code = Some(k);
            continue;
        }
        let (a, attr) = l
            .classes
            .attrs
            .iter()
            .enumerate()
            .find(|(_, a)| &a.name == name)
            .ok_or_else(|| {
                let have: Vec<&str> = l.classes.attrs.iter().map(|a| a.name.as_str()).collect();
                if have.is_empty() {
                    return GanError::Settings {
                        reason: format!(
                            "the run is unconditional ({}): --attr {name}=... needs a cgan, \
                             acgan or --split-by run",
                            l.spec.model
                        ),
                    };
                }
                GanError::Settings {
                    reason: format!(
                        "the run is not conditioned on `{name}` (it knows: {})",
                        have.join(", ")
                    ),
                }
            })?;
        let v = attr
            .values
            .iter()
            .position(|x| x == value)
            .ok_or_else(|| GanError::Settings {
                reason: format!(
                    "{name}={value}: unknown value (known: {})",
                    attr.values.join(", ")
                ),
            })?;
        if a >= l.shape.classes.len() {
            return Err(GanError::Settings {
                reason: format!(
                    "the run is an unconditional {}: it cannot be asked for {name}={value} \
                     (train cgan/acgan, or --split-by {name})",
                    l.spec.model
                ),
            });
        }
        fixed.push((a, v as u32));
    }
    Ok((fixed, code))
}

fn write_images(
    l: &Loaded,
    px: &[f32],
    n: usize,
    dir: &Path,
    out: &mut OutDir,
) -> Result<usize, GanError> {
    let side = l.spec.size as usize;
    let il = l.image_len();
    for i in 0..n {
        out.save(
            &dir.join(format!("{i}.png")),
            monitor::grid_plain(&px[i * il..(i + 1) * il], l.classes.channels, side),
        )?;
    }
    Ok(n)
}

/// An error when an attribute is given twice: only one of the values could be used.
fn check_unique(attrs: &[(String, String)]) -> Result<(), GanError> {
    for (i, (name, value)) in attrs.iter().enumerate() {
        if let Some((_, other)) = attrs[..i].iter().find(|(n, _)| n == name) {
            return Err(GanError::Usage {
                reason: format!(
                    "`{name}` is given twice ({name}={other}, {name}={value}): give each \
                     attribute once (--per-class N gives every value)"
                ),
            });
        }
    }
    Ok(())
}

/// Generates as `spec` says into `spec.out`. What an earlier `generate` wrote there
/// (listed in [`MANIFEST`]) is removed first; a non-empty folder without that list is
/// refused. Every setting is checked and every model loaded first, so a refused call
/// leaves the folder as it was.
pub fn generate(spec: &GenerateSpec) -> Result<GenerateReport, GanError> {
    check(spec)?;
    check_unique(&spec.attrs)?;
    let (_, classes) = checkpoint::read_meta(&spec.run)?;
    let mut warnings = Vec::new();
    let job = match &classes.split {
        Some(split) => {
            let (models, left_out) = split_models(spec, split)?;
            warnings = left_out;
            Job::Split(models)
        }
        None => {
            let l = load(&spec.run)?;
            let (fixed, code) = resolve_fixed(&l, &spec.attrs)?;
            if spec.per_class.is_some() {
                per_class_rows(&l, &fixed, code)?;
            }
            Job::One(Box::new(l), fixed, code)
        }
    };
    let mut out = OutDir::prepare(&spec.out)?;
    let mut report = GenerateReport {
        warnings,
        ..GenerateReport::default()
    };
    let result = match &job {
        Job::Split(models) => generate_split(spec, models, &mut report, &mut out),
        Job::One(l, fixed, code) => generate_one(spec, l, fixed, *code, &mut report, &mut out),
    };
    let listed = out.finish();
    result.and(listed).map(|_| report)
}

/// What `generate` samples from: one model, or a split run's class models.
enum Job {
    // Boxed: a loaded network is large beside a Vec.
    One(Box<Loaded>, Fixed, Option<usize>),
    Split(Vec<ClassModel>),
}

/// Rows of `--per-class` on one model: the first attribute's values, or InfoGAN's
/// categorical code; only the one `--attr` (or the code) fixes, when it does (the rows
/// ran over every value, the value asked for ignored).
fn per_class_rows(
    l: &Loaded,
    fixed: &Fixed,
    code: Option<usize>,
) -> Result<Vec<(String, Fixed, Option<usize>)>, GanError> {
    if let Some(a) = l
        .classes
        .attrs
        .first()
        .filter(|_| !l.shape.classes.is_empty())
    {
        let chosen = fixed
            .iter()
            .find(|(a, _)| *a == 0)
            .map(|&(_, i)| i as usize);
        Ok(a.values
            .iter()
            .enumerate()
            .filter(|(i, _)| chosen.is_none_or(|c| c == *i))
            .map(|(i, v)| {
                let mut f: Vec<(usize, u32)> =
                    fixed.iter().filter(|(a, _)| *a != 0).copied().collect();
                f.push((0, i as u32));
                (v.clone(), f, code)
            })
            .collect())
    } else if l.spec.model == ModelKind::Infogan {
        Ok((0..l.spec.info_cat)
            .filter(|k| code.is_none_or(|c| c == *k))
            .map(|k| (format!("code{k}"), fixed.clone(), Some(k)))
            .collect())
    } else {
        Err(GanError::Settings {
            reason:
                "--per-class needs a conditional run (cgan, acgan, infogan) or a --split-by run"
                    .into(),
        })
    }
}

fn generate_one(
    spec: &GenerateSpec,
    l: &Loaded,
    fixed: &Fixed,
    code: Option<usize>,
    report: &mut GenerateReport,
    out: &mut OutDir,
) -> Result<(), GanError> {
    let (c, side, nz) = (l.classes.channels, l.spec.size as usize, l.shape.nz);
    if let Some(per) = spec.per_class {
        let rows = per_class_rows(l, fixed, code)?;
        let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        let z = noise(spec, 0, per * nz);
        let mut all = Vec::new();
        for ((_, f, k), dir) in rows.iter().zip(value_dirs(&names)) {
            let (lab, cd) = conditions(l, f, *k, per, spec.seed);
            let px = l.sample(z.clone(), &lab, &cd, per);
            report.images += write_images(l, &px, per, &spec.out.join(dir), out)?;
            all.extend(px);
        }
        let g = spec.out.join("grid.png");
        out.save(&g, monitor::grid(&all, rows.len() * per, c, side, per))?;
        report.grids.push(g);
    } else {
        let n = spec.n;
        let z = noise(spec, 0, n * nz);
        let (lab, cd) = conditions(l, fixed, code, n, spec.seed);
        let px = l.sample(z, &lab, &cd, n);
        report.images += write_images(l, &px, n, &spec.out, out)?;
        let g = spec.out.join("grid.png");
        let cols = (n as f32).sqrt().ceil() as usize;
        out.save(&g, monitor::grid(&px, n, c, side, cols))?;
        report.grids.push(g);
    }
    if let Some(k) = spec.interpolate {
        report
            .grids
            .push(interpolation(l, spec, fixed, code, k, &spec.out, out)?);
    }
    if spec.mean_sweep {
        report
            .grids
            .push(mean_sweep(l, spec, fixed, code, &spec.out, out)?);
    }
    Ok(())
}
