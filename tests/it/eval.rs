//! `facesynth eval` end to end on tiny runs trained in the test (CPU, seconds): a CGAN,
//! an InfoGAN and a split run on synthetic faces; metrics.json written, same seed same
//! numbers, the feature network cached, `eval compare`; and the metrics' known answers on
//! the feature network's own features (real vs real, vs noise, vs one repeated image).

use facesynth::eval::metrics::{fid::fid, prdc::prdc, Feats};
use facesynth::eval::{self, EvalSpec, EvalSummary, FeatureSpec, KidSpec};
use facesynth::gan::spec::ModelKind;
use facesynth::gan::TrainSpec;
use facesynth::progress::Verbosity;
use facesynth::synth::SynthSpec;
use std::path::{Path, PathBuf};

fn synth_data(dir: &Path, n: usize) -> PathBuf {
    let data = dir.join("data");
    facesynth::synth::generate(
        &SynthSpec {
            n,
            image_size: 32,
            seed: 5,
            ..SynthSpec::default()
        },
        &data,
    )
    .unwrap();
    data
}

fn train(data: &Path, run: &Path, model: ModelKind, split: bool) {
    let spec = TrainSpec {
        data: Some(data.to_path_buf()),
        attrs: if split || !matches!(model, ModelKind::Cgan | ModelKind::Acgan) {
            Vec::new()
        } else {
            vec!["hair_color".into()]
        },
        split_by: split.then(|| "hair_color".into()),
        model,
        size: 16,
        steps: 3,
        batch: 8,
        nz: 8,
        ngf: 8,
        ndf: 8,
        embed_dim: 4,
        info_cat: 4,
        sample_every: 1000,
        checkpoint_every: 3,
        ..TrainSpec::default()
    };
    facesynth::gan::train(&spec, run, false, Verbosity::Quiet).unwrap();
}

fn spec(run: &Path, data: &Path, cache: &Path) -> EvalSpec {
    EvalSpec {
        run: run.to_path_buf(),
        data: Some(data.to_path_buf()),
        n: 40,
        cache: Some(cache.to_path_buf()),
        features: FeatureSpec {
            steps: 40,
            channels: [8, 16, 32, 32],
            ..FeatureSpec::default()
        },
        kid: KidSpec {
            subsets: 5,
            subset_size: 1000,
        },
        verbosity: Verbosity::Quiet,
        ..EvalSpec::default()
    }
}

/// The summary without its wall times, as JSON (NaN-safe to compare).
fn numbers(s: &EvalSummary) -> String {
    serde_json::to_string(&EvalSummary {
        seconds: 0.0,
        timings: Vec::new(),
        ..s.clone()
    })
    .unwrap()
}

#[test]
fn eval_of_tiny_runs_writes_metrics_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_data(dir.path(), 60);
    let cache = dir.path().join("cache");
    let cgan = dir.path().join("cgan");
    train(&data, &cgan, ModelKind::Cgan, false);
    let a = eval::evaluate(&spec(&cgan, &data, &cache)).unwrap();
    assert_eq!(
        (a.model.as_str(), a.n_generated, a.n_real),
        ("cgan", 40, 60)
    );
    assert_eq!(a.features.dim, 32);
    assert!(a
        .features
        .heldout_accuracy
        .iter()
        .any(|(n, _)| n == "hair_color"));
    let o = &a.overall;
    assert!(
        o.fid.is_finite() && o.fid >= 0.0 && o.kid.is_finite(),
        "{o:?}"
    );
    for x in [o.precision, o.recall, o.coverage] {
        assert!((0.0..=1.0).contains(&x), "{o:?}");
    }
    let c = a.conditioning.as_ref().expect("a cgan has conditioning");
    assert_eq!(c.attribute, "hair_color");
    assert_eq!(c.confusion.iter().flatten().sum::<u64>(), 40);
    assert!(!a.per_class.is_empty());
    assert!(a.distributions.iter().all(|d| d.attribute != "hair_color"));
    assert!(a.distributions.iter().all(|d| (0.0..=1.0).contains(&d.js)));
    let m = &a.memorization;
    assert_eq!(m.closest.len(), 8);
    for p in &m.closest {
        assert!(cgan.join("eval").join(&p.generated).is_file());
        assert!(cgan.join("eval").join(&p.train_image).is_file());
        assert!(data.join(&p.train).is_file(), "{}", p.train);
    }
    let written: EvalSummary =
        serde_json::from_slice(&std::fs::read(cgan.join("eval/metrics.json")).unwrap()).unwrap();
    // serde_json's float parsing may differ in the last digit: compare loosely.
    assert_eq!(written.per_class.len(), a.per_class.len());
    assert!((written.overall.fid - a.overall.fid).abs() < 1e-9 * (1.0 + a.overall.fid));
    // Same seed, same numbers (the second run takes the feature network from the cache).
    let b = eval::evaluate(&spec(&cgan, &data, &cache)).unwrap();
    assert_eq!(numbers(&a), numbers(&b));
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        1,
        "one cached network"
    );
    let other = eval::evaluate(&EvalSpec {
        seed: 7,
        ..spec(&cgan, &data, &cache)
    })
    .unwrap();
    assert_ne!(a.overall, other.overall);
}

#[test]
fn infogan_and_split_runs_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_data(dir.path(), 48);
    let cache = dir.path().join("cache");
    let (info, split) = (dir.path().join("info"), dir.path().join("split"));
    train(&data, &info, ModelKind::Infogan, false);
    train(&data, &split, ModelKind::Dcgan, true);
    let i = eval::evaluate(&spec(&info, &data, &cache)).unwrap();
    let c = i.conditioning.as_ref().expect("infogan codes are matched");
    let m = c.matching.as_ref().unwrap();
    assert_eq!(m.len(), 4);
    let mut used: Vec<usize> = m.iter().copied().filter(|&x| x < c.values.len()).collect();
    used.sort();
    used.dedup();
    assert_eq!(used.len(), m.len().min(c.values.len()), "one-to-one: {m:?}");
    let s = eval::evaluate(&spec(&split, &data, &cache)).unwrap();
    assert_eq!(s.model, "split:hair_color");
    assert_eq!(s.n_generated, 40);
    assert!(s.conditioning.is_some() && !s.per_class.is_empty());
    let out = dir.path().join("cmp");
    let o = compare_cli(&[], &[&info, &split], &out);
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(
        md.contains("| infogan |") && md.contains("split:hair_color"),
        "{md}"
    );
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3);
}

#[test]
fn cli_eval_prints_a_table_and_writes_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_data(dir.path(), 36);
    let run = dir.path().join("acgan");
    train(&data, &run, ModelKind::Acgan, false);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_facesynth"))
        .args([
            "eval",
            "--n",
            "24",
            "--feature-steps",
            "20",
            "--kid-subsets",
            "3",
            "--k",
            "3",
            "--run",
        ])
        .arg(&run)
        .arg("--data")
        .arg(&data)
        .arg("--cache")
        .arg(dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("| FID |") && text.contains("conditional accuracy"),
        "{text}"
    );
    let s: EvalSummary =
        serde_json::from_slice(&std::fs::read(run.join("eval/metrics.json")).unwrap()).unwrap();
    assert_eq!(s.overall.k, 3, "--k is the neighbours' count");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_facesynth"))
        .args(["eval", "--run"])
        .arg(dir.path().join("nope"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nope: no such folder"));
    // A folder that is not a run says what it lacks.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_facesynth"))
        .args(["eval", "--run"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("settings.json"));
}

#[test]
fn known_answers_on_learned_features() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_data(dir.path(), 120);
    let s = spec(Path::new("none"), &data, &dir.path().join("cache"));
    let (real, net) = eval::load_reference(&s, &data, 16, 3).unwrap();
    let er = net.embed_all(&real.pixels, 3, 16);
    let d = er.feats.d;
    // Real against itself: FID 0, precision = recall = coverage = 1.
    assert!(fid(&er.feats, &er.feats).abs() < 1e-6);
    let p = prdc(&er.feats, &er.feats, 5);
    assert_eq!((p.precision, p.recall, p.coverage), (1.0, 1.0, 1.0));
    // Against uniform noise images: far away, nothing covered.
    let mut x = 12345u64;
    let noise: Vec<u8> = (0..real.pixels.len())
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let en = net.embed_all(&noise, 3, 16);
    let pn = prdc(&er.feats, &en.feats, 5);
    assert!(pn.coverage < 0.05 && pn.recall < 0.05, "{pn:?}");
    assert!(fid(&er.feats, &en.feats) > 10.0 * fid(&er.feats, &er.feats).abs());
    // Against one image repeated: recall 0, coverage about k / n.
    let one = Feats::new(d, er.feats.row(3).repeat(100));
    let p1 = prdc(&er.feats, &one, 5);
    assert_eq!(p1.recall, 0.0);
    assert!(p1.coverage < 0.15, "{p1:?}");
}

/// Regression: a feature network whose training diverged (NaN weights, which ReLU turns
/// into the same all-zero features for every image) was cached and judged every later
/// run, with FID 0.0, a perfect score. It is refused, named, and not cached.
#[test]
fn a_diverged_feature_network_is_refused_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_data(dir.path(), 60);
    let cache = dir.path().join("cache");
    let mut s = spec(Path::new("none"), &data, &cache);
    s.features.lr = f64::INFINITY; // the first step sends the weights to infinity
    let err = eval::load_reference(&s, &data, 16, 3)
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("diverged") && text.contains("cache"),
        "{text}"
    );
    let cached = walkdir::WalkDir::new(&cache)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .count();
    assert_eq!(cached, 0, "nothing cached");
}

/// Regression: a run whose settings name a dataset folder that is not there (a relative
/// path saved by an older facesynth, read from another folder) said the settings named
/// "no real dataset folder"; now it says which path and that it does not exist.
#[test]
fn a_missing_dataset_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_data(dir.path(), 16);
    let run = dir.path().join("run");
    train(&data, &run, ModelKind::Cgan, false);
    let saved: TrainSpec =
        serde_json::from_slice(&std::fs::read(run.join("settings.json")).unwrap()).unwrap();
    assert!(saved.data.as_ref().unwrap().is_absolute(), "{saved:?}");
    let old = TrainSpec {
        data: Some("demo/data".into()),
        ..saved
    };
    facesynth::atomic::write_json(&run.join("settings.json"), &old).unwrap();
    let e = eval::evaluate(&EvalSpec {
        data: None,
        ..spec(&run, &data, &dir.path().join("cache"))
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("demo/data") && e.contains("does not exist"),
        "{e}"
    );
}

/// Regression: undecodable real images were counted in the notes, never named.
#[test]
fn undecodable_real_images_are_named_in_the_notes() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_data(dir.path(), 36);
    std::fs::write(data.join("images/broken.png"), b"not a png").unwrap();
    let truth = data.join("truth.csv");
    let text = std::fs::read_to_string(&truth).unwrap();
    let first = text.lines().nth(1).unwrap();
    let rest = first.split_once(',').unwrap().1;
    std::fs::write(&truth, format!("{text}images/broken.png,{rest}\n")).unwrap();
    let run = dir.path().join("run");
    train(&data, &run, ModelKind::Cgan, false);
    // A row naming an image prep dropped is no decoding failure: noted apart.
    let text = std::fs::read_to_string(&truth).unwrap();
    std::fs::write(&truth, format!("{text}images/gone.png,{rest}\n")).unwrap();
    let s = eval::evaluate(&spec(&run, &data, &dir.path().join("cache"))).unwrap();
    let note = s
        .notes
        .iter()
        .find(|n| n.contains("could not be decoded"))
        .expect("a note on the broken file");
    assert!(note.contains("images/broken.png"), "{note}");
    assert!(!note.contains("gone.png"), "{note}");
    let gone = s.notes.iter().find(|n| n.contains("gone.png"));
    assert!(
        gone.is_some_and(|n| n.contains("no image of")),
        "{:?}",
        s.notes
    );
    let written = std::fs::read_to_string(run.join("eval/metrics.json")).unwrap();
    assert!(written.contains("images/broken.png"));
}

/// Regression: a run conditioned on two attributes had the second drawn at random for
/// each image and then scored by a JS divergence as if the model had chosen it; its
/// conditioning was never measured. And per-class precision, recall, density and
/// coverage read 1.0 for classes with a handful of images (unbounded k-NN balls).
#[test]
fn every_conditioning_attribute_is_measured_and_tiny_classes_have_no_prdc() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_data(dir.path(), 60);
    let run = dir.path().join("multi");
    let tspec = TrainSpec {
        data: Some(data.clone()),
        attrs: vec!["hair_color".into(), "eye_color".into()],
        model: ModelKind::Cgan,
        size: 16,
        steps: 2,
        batch: 8,
        nz: 8,
        ngf: 8,
        ndf: 8,
        embed_dim: 4,
        sample_every: 1000,
        checkpoint_every: 2,
        ..TrainSpec::default()
    };
    facesynth::gan::train(&tspec, &run, false, Verbosity::Quiet).unwrap();
    let s = eval::evaluate(&spec(&run, &data, &dir.path().join("cache"))).unwrap();
    assert_eq!(s.conditioning.as_ref().unwrap().attribute, "hair_color");
    let eye: Vec<_> = s
        .more_conditioning
        .iter()
        .filter(|c| c.attribute == "eye_color")
        .collect();
    assert_eq!(eye.len(), 1, "{:?}", s.more_conditioning);
    assert_eq!(eye[0].confusion.iter().flatten().sum::<u64>(), 40);
    assert!(
        s.distributions
            .iter()
            .all(|d| d.attribute != "eye_color" && d.attribute != "hair_color"),
        "{:?}",
        s.distributions
    );
    assert!(s
        .notes
        .iter()
        .any(|n| n.contains("eye_color is conditioned too")));
    // 40 images over about a dozen hair colours: no class has k + 1 = 6 of each.
    let min = facesynth::eval::summary::prdc_min_count(5);
    assert!(!s.per_class.is_empty());
    for c in &s.per_class {
        let f = &c.fidelity;
        let tiny = c.n_real < min || c.n_generated < min;
        assert_eq!(f.precision.is_nan(), tiny, "{c:?}");
        assert_eq!(f.coverage.is_nan(), tiny, "{c:?}");
        assert!(f.fid.is_finite(), "{c:?}");
    }
    assert!(
        s.notes.iter().any(|n| n.contains("left out")),
        "{:?}",
        s.notes
    );
    // metrics.json (NaN written as null) reads back for the pages.
    let written: EvalSummary =
        serde_json::from_slice(&std::fs::read(run.join("eval/metrics.json")).unwrap()).unwrap();
    assert_eq!(written.per_class.len(), s.per_class.len());
    for (w, c) in written.per_class.iter().zip(&s.per_class) {
        assert_eq!(w.fidelity.precision.is_nan(), c.fidelity.precision.is_nan());
    }
    assert_eq!(written.more_conditioning.len(), 1);
    let page = facesynth::report::write_run_report(&run).unwrap();
    let html = std::fs::read_to_string(page).unwrap();
    assert!(html.contains("eye_color is conditioned too: each image asked"));
    assert!(html.contains("precision, recall, density and coverage are left out"));
}

/// `facesynth [flags] eval compare RUNS --out OUT`, which must succeed.
fn compare_cli(
    flags: &[&str],
    runs: &[&std::path::PathBuf],
    out: &std::path::Path,
) -> std::process::Output {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_facesynth"))
        .args(flags)
        .args(["eval", "compare"])
        .args(runs)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Regression: `eval compare` printed other columns than compare.md and compare.csv
/// held, and `report A MISSING --out` listed a path that is no run as "not evaluated".
#[test]
fn compare_prints_the_table_it_writes_and_refuses_paths_that_are_no_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_data(dir.path(), 36);
    let cache = dir.path().join("cache");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for r in [&a, &b] {
        train(&data, r, ModelKind::Cgan, false);
        eval::evaluate(&spec(r, &data, &cache)).unwrap();
    }
    let out = dir.path().join("cmp");
    let o = compare_cli(&[], &[&a, &b], &out);
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.starts_with(&md), "{stdout}\n---\n{md}");
    for col in ["KID s.e.", "mean JS", "near-dup within real"] {
        assert!(md.contains(col), "{md}");
    }
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    let md_head: Vec<&str> = md
        .lines()
        .next()
        .unwrap()
        .trim_matches('|')
        .split(" | ")
        .map(str::trim)
        .collect();
    let csv_head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(md_head, csv_head);
    // Quiet drops the page's path, not the table (it printed nothing).
    let o = compare_cli(&["-q"], &[&a, &b], &out);
    assert_eq!(String::from_utf8_lossy(&o.stdout), md);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_facesynth"))
        .arg("report")
        .arg(&a)
        .arg(dir.path().join("nonexist"))
        .arg("--out")
        .arg(dir.path().join("c3"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nonexist") && err.contains("no such folder"),
        "{err}"
    );
}

/// Labels that name `images/5.jpg` for the `images/5.png` on disk train (the names are
/// looked up as the label store does), so eval reads them the same way instead of
/// finding "no image could be decoded"; names of another folder are said to match nothing.
#[test]
fn eval_reads_labels_by_the_names_training_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_data(dir.path(), 24);
    let truth = std::fs::read_to_string(data.join("truth.csv")).unwrap();
    let tags = dir.path().join("tags.csv");
    std::fs::write(&tags, truth.replace(".png,", ".jpg,")).unwrap();
    let run = dir.path().join("run");
    let tspec = TrainSpec {
        data: Some(data.clone()),
        labels: Some(tags.clone()),
        attrs: vec!["hair_color".into()],
        model: ModelKind::Cgan,
        size: 16,
        steps: 1,
        batch: 8,
        nz: 8,
        ngf: 8,
        ndf: 8,
        embed_dim: 4,
        sample_every: 1000,
        checkpoint_every: 1,
        ..TrainSpec::default()
    };
    facesynth::gan::train(&tspec, &run, false, Verbosity::Quiet).unwrap();
    let cache = dir.path().join("cache");
    let s = eval::evaluate(&EvalSpec {
        n: 8,
        ..spec(&run, &data, &cache)
    })
    .unwrap();
    assert_eq!(s.n_real, 24);
    std::fs::write(&tags, truth.replace("images/", "faces/")).unwrap();
    let e = eval::evaluate(&EvalSpec {
        labels: Some(tags.clone()),
        n: 8,
        ..spec(&run, &data, &cache)
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("tags.csv") && e.contains("none of its 24 file names matches"),
        "{e}"
    );
    let long = dir.path().join("answers.csv");
    std::fs::write(
        &long,
        "file,attribute,value\nimages/00000.png,hair_color,red\n",
    )
    .unwrap();
    let e = eval::evaluate(&EvalSpec {
        labels: Some(long),
        n: 8,
        ..spec(&run, &data, &cache)
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("answers.csv") && e.contains("long-format"),
        "{e}"
    );
}

/// Regression: an unconditional run on a set without labels could not be evaluated ("the
/// real set has no labels to train the feature network on"); the feature network learns
/// which way up each real image is instead.
#[test]
fn an_unlabeled_set_is_judged_by_a_self_supervised_network() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_data(dir.path(), 36);
    std::fs::remove_file(data.join("truth.csv")).unwrap();
    let run = dir.path().join("run");
    train(&data, &run, ModelKind::Dcgan, false);
    let s = eval::evaluate(&spec(&run, &data, &dir.path().join("cache"))).unwrap();
    assert!(
        s.features.description.contains("which way up"),
        "{}",
        s.features.description
    );
    let (name, acc) = &s.features.heldout_accuracy[0];
    assert!(
        name.contains("self-supervised") && (0.0..=1.0).contains(acc),
        "{name} {acc}"
    );
    assert!(
        s.overall.fid.is_finite() && s.overall.fid >= 0.0,
        "{}",
        s.overall.fid
    );
    assert!(s.conditioning.is_none() && s.distributions.is_empty());
}
