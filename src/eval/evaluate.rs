//! [`evaluate`]: one run against its real set, start to end. Loads the real images and the
//! feature network (trained once per dataset, then cached), generates N images, embeds
//! both sides, computes every number of [`EvalSummary`], saves the closest
//! generated/training pairs as images and writes `RUN/eval/metrics.json` atomically.

use super::features::{self, Embedded, FeatureNet, FeatureSpec};
use super::generate::{generate_for_eval, Generated};
use super::memorize::{self, Images};
use super::metrics::classes::{accuracy, confusion, js_divergence, max_matching};
use super::metrics::kid::{kid, KidSpec};
use super::metrics::{fid::fid, prdc::prdc, Feats};
use super::realset::{self, RealSet};
use super::summary::*;
use super::{io_err, EvalError, METRICS_FILE};
use crate::gan::checkpoint;
use crate::progress::{self, Verbosity};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to evaluate and how.
#[derive(Debug, Clone)]
pub struct EvalSpec {
    /// The run folder (`train --out`).
    pub run: PathBuf,
    /// The real dataset (prep output, ImageFolder, wide-CSV folder or MNIST IDX folder);
    /// default: the run's own `data` or `mnist` setting.
    pub data: Option<PathBuf>,
    /// Wide labels CSV; default: the run's `labels`, else `DATA/labels_wide.csv`,
    /// `truth.csv` or `tags.csv`.
    pub labels: Option<PathBuf>,
    /// Generated images to evaluate (default 2000).
    pub n: usize,
    /// Seed of the latent points and KID subsets (default 0).
    pub seed: u64,
    /// Feature network cache root; default [`features::default_cache`].
    pub cache: Option<PathBuf>,
    /// Feature network training.
    pub features: FeatureSpec,
    /// KID subsets (per class: a fifth as many, at least 10).
    pub kid: KidSpec,
    /// k of precision/recall/density/coverage (default 5).
    pub k: usize,
    /// Closest generated/training pairs to save (default 8).
    pub closest: usize,
    /// Progress display.
    pub verbosity: Verbosity,
}

impl Default for EvalSpec {
    fn default() -> Self {
        EvalSpec {
            run: PathBuf::new(),
            data: None,
            labels: None,
            n: 2000,
            seed: 0,
            cache: None,
            features: FeatureSpec::default(),
            kid: KidSpec::default(),
            k: 5,
            closest: 8,
            verbosity: Verbosity::Normal,
        }
    }
}

struct Clock(Instant, Vec<(String, f64)>);

impl Clock {
    fn lap(&mut self, what: &str) {
        let now = Instant::now();
        self.1.push((what.into(), (now - self.0).as_secs_f64()));
        self.0 = now;
    }
}

/// Fidelity of `gen` against `real` (and the PRDC pass's by-products). Precision,
/// recall, density and coverage are NaN when either side has fewer than
/// [`prdc_min_count`] images: their k-NN balls would be infinite and the numbers 1.0.
fn fidelity(
    real: &Feats,
    gen: &Feats,
    spec: &EvalSpec,
    kid_spec: &KidSpec,
) -> (Fidelity, super::metrics::prdc::Prdc) {
    let p = prdc(real, gen, spec.k);
    let kd = kid(real, gen, kid_spec, spec.seed);
    let min = prdc_min_count(spec.k);
    let shown = |x: f64| {
        if real.len() < min || gen.len() < min {
            f64::NAN
        } else {
            x
        }
    };
    let f = Fidelity {
        fid: fid(real, gen),
        kid: kd.mean,
        kid_se: kd.std,
        precision: shown(p.precision),
        recall: shown(p.recall),
        density: shown(p.density),
        coverage: shown(p.coverage),
        k: spec.k,
    };
    (f, p)
}

/// Evaluates `spec.run` and writes `RUN/eval/metrics.json`.
pub fn evaluate(spec: &EvalSpec) -> Result<EvalSummary, EvalError> {
    let start = Instant::now();
    let mut clock = Clock(start, Vec::new());
    let run = &spec.run;
    let (tspec, classes) = checkpoint::read_meta(run).map_err(|source| EvalError::Run {
        path: run.clone(),
        source,
    })?;
    // What a killed eval was writing (the closest pairs' images too).
    crate::atomic::sweep_stale(&run.join("eval"));
    crate::atomic::sweep_stale(&run.join("eval").join("nearest"));
    let data = real_data(spec, &tspec)?;
    // The run's labels CSV belongs to its own dataset; settings.json holds that folder
    // as an absolute path, `--data` may name it relative.
    let same = |a: &Path, b: &Path| a.canonicalize().ok() == b.canonicalize().ok();
    let own_data = match (&spec.data, &tspec.data) {
        (None, _) => true,
        (Some(d), Some(t)) => same(d, t),
        (Some(_), None) => false,
    };
    let labels = spec
        .labels
        .clone()
        .or_else(|| tspec.labels.clone().filter(|_| own_data));
    let mut want: Vec<String> = classes.attrs.iter().map(|a| a.name.clone()).collect();
    want.extend(classes.split.iter().map(|s| s.name.clone()));
    let bar = progress::bar(7, "eval", spec.verbosity);
    let real = realset::load(
        &data,
        labels.as_deref(),
        tspec.size,
        classes.channels,
        &want,
    )?;
    // Before the feature network trains (minutes) on a set too small to judge.
    if spec.n < 2 || real.len() < 2 {
        return Err(EvalError::Settings {
            reason: format!(
                "need at least 2 generated and 2 real images (asked {}, found {} real)",
                spec.n,
                real.len()
            ),
        });
    }
    let mut notes = Vec::new();
    if spec.labels.is_some() && realset::is_mnist(&data) {
        notes.push(
            "--labels was not read: MNIST's IDX files carry their own digit labels".to_string(),
        );
    }
    if !real.skipped.is_empty() {
        notes.push(format!(
            "{} real image(s) could not be decoded and were left out: {}",
            real.skipped.len(),
            first_few(&real.skipped, 5)
        ));
    }
    if !real.missing.is_empty() {
        notes.push(format!(
            "{} file name(s) of the labels are no image of {} and were left out: {}",
            real.missing.len(),
            data.display(),
            first_few(&real.missing, 5)
        ));
    }
    clock.lap("load");
    bar.inc(1);
    let cache = spec.cache.clone().unwrap_or_else(features::default_cache);
    let net = features::prepare(&real, &spec.features, &cache)?;
    clock.lap("features");
    bar.inc(1);
    let gen = generate_for_eval(run, spec.n, spec.seed)?;
    clock.lap("generate");
    bar.inc(1);
    let er = net.embed_all(&real.pixels, real.channels, real.size);
    let eg = net.embed_all(&gen.px, gen.channels, gen.size);
    clock.lap("embed");
    bar.inc(1);
    // (Not the generated side: a collapsed generator's images may all embed alike.)
    if er.feats.degenerate() {
        return Err(EvalError::FeatureNet {
            path: net.dir.clone(),
            reason: features::DIVERGED.into(),
        });
    }
    let (overall, p) = fidelity(&er.feats, &eg.feats, spec, &spec.kid);
    let min = prdc_min_count(spec.k);
    if real.len() < min || gen.asked.len() < min {
        notes.push(format!(
            "precision, recall, density and coverage need at least {min} real and {min} \
             generated images (k = {} neighbours); there are {} and {}: left out",
            spec.k,
            real.len(),
            gen.asked.len()
        ));
    }
    clock.lap("fidelity");
    bar.inc(1);
    let (conditioning, asked_class) = conditioning(&net, &gen, &eg, &mut notes);
    let more_conditioning: Vec<Conditioning> = gen
        .drawn
        .iter()
        .filter_map(|d| {
            notes.push(format!(
                "{} is conditioned too: each image asked for a value drawn at random; its \
                 accuracy is measured under more_conditioning, and it has no distribution \
                 row (the generated distribution is the one asked for)",
                d.attr
            ));
            asked_accuracy(&net, &d.attr, &d.values, &d.asked, &eg, &mut notes).0
        })
        .collect();
    let per_class = per_class(
        spec,
        &net,
        &real,
        (&er, &eg),
        &asked_class,
        &conditioning,
        &mut notes,
    );
    let distributions = distributions(&net, &gen, &er, &eg, &conditioning);
    clock.lap("per_class");
    bar.inc(1);
    let memorization = memorization(spec, &real, &gen, &p)?;
    clock.lap("memorization");
    bar.finish_and_clear();
    let summary = EvalSummary {
        run: run.display().to_string(),
        data: data.display().to_string(),
        model: gen.model.clone(),
        step: gen.step,
        seed: spec.seed,
        n_generated: gen.asked.len(),
        n_real: real.len(),
        features: net.info.clone(),
        overall,
        per_class,
        conditioning,
        more_conditioning,
        distributions,
        memorization,
        seconds: start.elapsed().as_secs_f64(),
        timings: clock.1,
        notes,
    };
    let out = run.join(METRICS_FILE);
    crate::atomic::write_json(&out, &summary).map_err(io_err(&out))?;
    Ok(summary)
}

/// The real dataset: `--data`, else the run's own `data` (when it is a folder here) or
/// `mnist` setting.
fn real_data(spec: &EvalSpec, tspec: &crate::gan::TrainSpec) -> Result<PathBuf, EvalError> {
    if let Some(d) = &spec.data {
        return Ok(d.clone());
    }
    match (&tspec.data, &tspec.mnist) {
        (Some(d), _) if d.is_dir() => Ok(d.clone()),
        (_, Some(m)) => Ok(m.clone()),
        (Some(d), None) => {
            let what = if d.exists() {
                "is not a folder"
            } else {
                "does not exist"
            };
            // Runs trained before settings.json held absolute paths name it relative to
            // the folder training ran in.
            let hint = if d.is_relative() {
                " (a relative path: run eval from the folder training ran in)"
            } else {
                ""
            };
            Err(EvalError::Settings {
                reason: format!(
                    "give --data: the run's dataset {} (from settings.json) {what}{hint}",
                    d.display()
                ),
            })
        }
        (None, None) => Err(EvalError::Settings {
            reason: "give --data: the run's settings.json names no dataset".into(),
        }),
    }
}

/// The first `n` entries of `list` (`file: reason`), `; `-separated, and how many more.
fn first_few(list: &[String], n: usize) -> String {
    let mut s = list.iter().take(n).cloned().collect::<Vec<_>>().join("; ");
    if list.len() > n {
        s.push_str(&format!("; and {} more", list.len() - n));
    }
    s
}

/// Conditional accuracy and confusion; returns it and, per generated image, the feature
/// network's class index it was asked for (InfoGAN: through the best matching).
fn conditioning(
    net: &FeatureNet,
    gen: &Generated,
    eg: &Embedded,
    notes: &mut Vec<String>,
) -> (Option<Conditioning>, Vec<Option<usize>>) {
    let none = vec![None; gen.asked.len()];
    let Some(attr) = &gen.asked_attr else {
        return (None, none);
    };
    if attr != "code" {
        return asked_accuracy(net, attr, &gen.asked_values, &gen.asked, eg, notes);
    }
    // InfoGAN's code is matched to the first attribute the network knows.
    let Some(fattr) = net.attrs.first() else {
        return (None, none);
    };
    let k = fattr.values.len();
    let pred = eg.predicted(0);
    let codes = gen.asked_values.len();
    let mut w = vec![vec![0.0; k]; codes];
    for (q, p) in gen.asked.iter().zip(&pred) {
        if let Some(q) = q {
            w[*q][*p] += 1.0;
        }
    }
    let m = max_matching(&w);
    let asked: Vec<Option<usize>> = gen.asked.iter().map(|q| q.and_then(|q| m[q])).collect();
    let (conf, per) = confusion_of(&asked, &pred, k);
    let total = gen.asked.len().max(1) as f64;
    let cond = Conditioning {
        attribute: format!("code -> {}", fattr.name),
        values: fattr.values.clone(),
        // Agreement over all images (codes left unmatched count as misses).
        accuracy: (0..k).map(|c| conf[c][c]).sum::<u64>() as f64 / total,
        per_class_accuracy: per.1,
        confusion: conf,
        matching: Some(m.iter().map(|x| x.unwrap_or(k)).collect()),
    };
    (Some(cond), asked)
}

/// The confusion matrix of the images with an asked class, and (accuracy, per class).
fn confusion_of(
    asked: &[Option<usize>],
    pred: &[usize],
    k: usize,
) -> (Vec<Vec<u64>>, (f64, Vec<f64>)) {
    let pairs: (Vec<usize>, Vec<usize>) = asked
        .iter()
        .zip(pred)
        .filter_map(|(q, p)| q.map(|q| (q, *p)))
        .unzip();
    let conf = confusion(&pairs.0, &pairs.1, k);
    let acc = accuracy(&conf);
    (conf, acc)
}

/// Conditional accuracy of the attribute `attr` (values `values`, per image the index
/// asked for), by the feature network's classifier; and per image the network's class
/// index asked for.
fn asked_accuracy(
    net: &FeatureNet,
    attr: &str,
    values: &[String],
    asked: &[Option<usize>],
    eg: &Embedded,
    notes: &mut Vec<String>,
) -> (Option<Conditioning>, Vec<Option<usize>>) {
    let Some(a) = net.attrs.iter().position(|x| x.name == attr) else {
        notes.push(format!(
            "the feature network has no `{attr}` head: no conditional accuracy for it"
        ));
        return (None, vec![None; asked.len()]);
    };
    let fattr = &net.attrs[a];
    let k = fattr.values.len();
    // The run's value index -> the network's value index, by name.
    let map: Vec<Option<usize>> = values
        .iter()
        .map(|v| fattr.values.iter().position(|x| x == v))
        .collect();
    let asked: Vec<Option<usize>> = asked
        .iter()
        .map(|q| q.and_then(|q| map.get(q).copied().flatten()))
        .collect();
    let (conf, (acc, per)) = confusion_of(&asked, &eg.predicted(a), k);
    let cond = Conditioning {
        attribute: fattr.name.clone(),
        values: fattr.values.clone(),
        accuracy: acc,
        per_class_accuracy: per,
        confusion: conf,
        matching: None,
    };
    (Some(cond), asked)
}

/// Intra-class fidelity over the classes images were asked for.
fn per_class(
    spec: &EvalSpec,
    net: &FeatureNet,
    real: &RealSet,
    (er, eg): (&Embedded, &Embedded),
    asked: &[Option<usize>],
    cond: &Option<Conditioning>,
    notes: &mut Vec<String>,
) -> Vec<ClassFidelity> {
    let Some(cond) = cond else { return Vec::new() };
    let name = cond
        .attribute
        .rsplit("-> ")
        .next()
        .unwrap_or(&cond.attribute);
    let (Some(a_net), Some(a_real)) = (
        net.attrs.iter().position(|x| x.name == name),
        real.attrs.iter().position(|x| x.name == name),
    ) else {
        return Vec::new();
    };
    let kid_spec = KidSpec {
        subsets: (spec.kid.subsets / 5).max(10),
        ..spec.kid
    };
    let values = &net.attrs[a_net].values;
    let mut out = Vec::new();
    let mut small = Vec::new();
    for (c, value) in values.iter().enumerate() {
        let gi: Vec<usize> = (0..asked.len()).filter(|&i| asked[i] == Some(c)).collect();
        if gi.is_empty() {
            continue;
        }
        let rc = real.attrs[a_real].values.iter().position(|x| x == value);
        let ri: Vec<usize> = (0..real.len())
            .filter(|&i| rc.is_some() && real.label(i, a_real).map(|v| v as usize) == rc)
            .collect();
        if ri.len() < 2 || gi.len() < 2 {
            notes.push(format!(
                "{name}={value}: {} real and {} generated image(s), too few for intra-class metrics",
                ri.len(),
                gi.len()
            ));
            continue;
        }
        let (f, _) = fidelity(
            &er.feats.select(&ri),
            &eg.feats.select(&gi),
            spec,
            &kid_spec,
        );
        if f.precision.is_nan() {
            small.push(format!(
                "{value} ({} real, {} generated)",
                ri.len(),
                gi.len()
            ));
        }
        out.push(ClassFidelity {
            attribute: name.to_string(),
            value: value.clone(),
            n_generated: gi.len(),
            n_real: ri.len(),
            fidelity: f,
        });
    }
    if !small.is_empty() {
        let min = prdc_min_count(spec.k);
        notes.push(format!(
            "{name}: precision, recall, density and coverage are left out for {} (fewer \
             than {min} real or generated images: with k = {} their k-NN balls are unbounded \
             and the numbers would read 1.0)",
            small.join(", "),
            spec.k
        ));
    }
    out
}

/// Attribute distributions (by the feature network's predictions on both sides) of every
/// attribute the images were not asked for.
fn distributions(
    net: &FeatureNet,
    gen: &Generated,
    er: &Embedded,
    eg: &Embedded,
    cond: &Option<Conditioning>,
) -> Vec<AttrDistribution> {
    let asked = if gen.asked_attr.as_deref() == Some("code") {
        None
    } else {
        cond.as_ref().map(|c| c.attribute.clone())
    };
    // Attributes drawn at random for the images are asked for too: their generated
    // distribution is the draw's, not the model's.
    let conditioned =
        |name: &String| Some(name) == asked.as_ref() || gen.drawn.iter().any(|d| &d.attr == name);
    net.attrs
        .iter()
        .enumerate()
        .filter(|(_, a)| !conditioned(&a.name))
        .map(|(a, attr)| {
            let hist = |e: &Embedded| {
                let mut h = vec![0.0f64; attr.values.len()];
                for p in e.predicted(a) {
                    h[p] += 1.0;
                }
                let s: f64 = h.iter().sum::<f64>().max(1.0);
                h.iter().map(|x| x / s).collect::<Vec<f64>>()
            };
            let (r, g) = (hist(er), hist(eg));
            AttrDistribution {
                attribute: attr.name.clone(),
                values: attr.values.clone(),
                js: js_divergence(&r, &g),
                real: r,
                generated: g,
            }
        })
        .collect()
}

/// Nearest training images, near duplicates, and the closest pairs saved as images.
fn memorization(
    spec: &EvalSpec,
    real: &RealSet,
    gen: &Generated,
    p: &super::metrics::prdc::Prdc,
) -> Result<Memorization, EvalError> {
    let ri = Images {
        px: &real.pixels,
        channels: real.channels,
        size: real.size,
    };
    let gi = gen.images();
    let n = gi.len().max(1) as f64;
    let mean_feature_nn = p.nearest_real.iter().map(|x| x.1 as f64).sum::<f64>() / n;
    let real_loo = p.real_nn.iter().map(|&x| x as f64).sum::<f64>() / p.real_nn.len().max(1) as f64;
    let pix = memorize::pixel_nearest(gi, ri);
    let mean_pixel_nn = pix.iter().map(|x| x.1).sum::<f64>() / n;
    let hr = memorize::hashes(ri);
    let (near_dup_train, near_dup_self) = memorize::near_duplicates(&memorize::hashes(gi), &hr);
    let (_, near_dup_real) = memorize::near_duplicates(&hr, &[]);
    let mut order: Vec<usize> = (0..gi.len()).collect();
    order.sort_by(|&a, &b| {
        p.nearest_real[a]
            .1
            .total_cmp(&p.nearest_real[b].1)
            .then(a.cmp(&b))
    });
    let mut closest = Vec::new();
    for (rank, &g) in order.iter().take(spec.closest).enumerate() {
        let t = p.nearest_real[g].0;
        let (gf, tf) = (
            format!("nearest/gen-{rank:02}.png"),
            format!("nearest/train-{rank:02}.png"),
        );
        for (img, f) in [(gi.rgb(g), &gf), (ri.rgb(t), &tf)] {
            let path = spec.run.join("eval").join(f);
            crate::atomic::save_image(&path, &image::DynamicImage::ImageRgb8(img))
                .map_err(io_err(&path))?;
        }
        closest.push(NearestPair {
            generated: gf,
            train: real.files[t].clone(),
            feature_distance: p.nearest_real[g].1 as f64,
            pixel_distance: memorize::rmse(gi.image(g), ri.image(t)),
            train_image: tf,
        });
    }
    Ok(Memorization {
        mean_feature_nn,
        // All-identical real images have no leave-one-out distance: report 0, not inf.
        feature_nn_ratio: if real_loo > 0.0 {
            mean_feature_nn / real_loo
        } else {
            0.0
        },
        mean_pixel_nn,
        near_dup_train,
        near_dup_self,
        near_dup_real,
        closest,
    })
}

/// The real set and feature network of an evaluation, for callers that embed images of
/// their own (benchmarks, the reference comparison).
pub fn load_reference(
    spec: &EvalSpec,
    data: &Path,
    size: u32,
    channels: usize,
) -> Result<(RealSet, FeatureNet), EvalError> {
    let real = realset::load(data, spec.labels.as_deref(), size, channels, &[])?;
    let cache = spec.cache.clone().unwrap_or_else(features::default_cache);
    let net = features::prepare(&real, &spec.features, &cache)?;
    Ok((real, net))
}
