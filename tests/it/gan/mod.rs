//! GAN training and generation mechanics on tiny synthetic faces (CPU, seconds): finite
//! losses, per-class samples that differ, exact resume (also with spectral norm and
//! self-attention), one model per class, and the CUDA-unavailable error. Run folders,
//! outputs and inputs a person gets wrong are in `folders`.

mod folders;

use crate::common::bin;
use facesynth::gan::data::Dataset;
use facesynth::gan::spec::{BackendKind, ModelKind, SnWhere};
use facesynth::gan::train::train_dataset;
use facesynth::gan::{generate, GenerateSpec, TrainSpec};
use facesynth::progress::Verbosity;
use facesynth::synth::{synth_one, SynthSpec};
use std::path::Path;

/// `n` synthetic faces with 3 hair colours, 16 px, in memory.
fn faces(n: usize) -> Dataset {
    Dataset::from_images(faces_at(n, 32), &["hair_color".to_string()], 16, 3)
}

/// `n` synthetic faces drawn at `side` px with their hair colour, blonde, red and black
/// in turn.
fn faces_at(n: usize, side: u32) -> Vec<(image::DynamicImage, Vec<String>)> {
    let spec = SynthSpec {
        n,
        image_size: side,
        seed: 3,
        ..SynthSpec::default()
    };
    (0..n)
        .map(|i| {
            let s = SynthSpec {
                hair: Some([2, 10, 1][i % 3]), // blonde, red, black
                ..spec.clone()
            };
            let (row, img) = synth_one(&s, i);
            (
                image::DynamicImage::ImageRgb8(img),
                vec![row.hair_color.to_string()],
            )
        })
        .collect()
}

fn tiny(model: ModelKind, steps: u64) -> TrainSpec {
    TrainSpec {
        data: Some("memory".into()),
        attrs: vec!["hair_color".into()],
        model,
        size: 16,
        steps,
        batch: 8,
        nz: 8,
        ngf: 8,
        ndf: 8,
        embed_dim: 4,
        info_cat: 3,
        sample_every: 1000,
        checkpoint_every: 3,
        log_every: 1,
        ..TrainSpec::default()
    }
}

/// A two-step DCGAN per hair colour (`--split-by hair_color`).
fn tiny_split() -> TrainSpec {
    TrainSpec {
        split_by: Some("hair_color".into()),
        attrs: Vec::new(),
        ..tiny(ModelKind::Dcgan, 2)
    }
}

fn metrics(run: &Path) -> Vec<Vec<f64>> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .map(|x| x.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect()
}

#[test]
fn tiny_conditional_runs_have_finite_losses_and_distinct_classes() {
    for model in [ModelKind::Acgan, ModelKind::Cgan, ModelKind::Infogan] {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let r = train_dataset(&tiny(model, 6), faces(24), &run, false, Verbosity::Quiet).unwrap();
        assert_eq!(r.steps, 6);
        let rows = metrics(&run);
        assert_eq!(rows.len(), 6, "{model}");
        for row in &rows {
            assert!(row[1].is_finite() && row[2].is_finite(), "{model}: {row:?}");
        }
        assert!(run.join("samples/latest.png").is_file());
        let out = dir.path().join("gen");
        let g = generate(&GenerateSpec {
            run: run.clone(),
            out: out.clone(),
            per_class: Some(2),
            ..GenerateSpec::default()
        })
        .unwrap();
        assert_eq!(g.images, 6, "{model}");
        let names: Vec<&str> = if model == ModelKind::Infogan {
            vec!["code0", "code1", "code2"]
        } else {
            vec!["black", "blonde", "red"]
        };
        let read = |c: &str| {
            image::open(out.join(c).join("0.png"))
                .unwrap()
                .to_rgb8()
                .into_raw()
        };
        // Same noise, different class: the images must differ.
        assert_ne!(read(names[0]), read(names[1]), "{model}");
        assert_ne!(read(names[1]), read(names[2]), "{model}");
        // Regression: a class fixed by --attr was ignored, every row drawn.
        if model != ModelKind::Infogan {
            let only = dir.path().join("only");
            let g = generate(&GenerateSpec {
                run: run.clone(),
                out: only.clone(),
                per_class: Some(2),
                attrs: vec![("hair_color".into(), "blonde".into())],
                ..GenerateSpec::default()
            })
            .unwrap();
            assert_eq!(g.images, 2, "{model}");
            assert!(only.join("blonde/1.png").is_file() && !only.join("red").exists());
        }
    }
}

/// Trains `spec` (6 steps) straight and in two halves; both must agree.
fn check_resume(spec: TrainSpec) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    train_dataset(&spec, faces(24), &a, false, Verbosity::Quiet).unwrap();
    let half = TrainSpec {
        steps: 3,
        ..spec.clone()
    };
    train_dataset(&half, faces(24), &b, false, Verbosity::Quiet).unwrap();
    let r = train_dataset(&spec, faces(24), &b, true, Verbosity::Quiet).unwrap();
    assert_eq!((r.started_at, r.steps), (3, 6));
    let (ma, mb) = (metrics(&a), metrics(&b));
    assert_eq!(ma.len(), mb.len());
    for (x, y) in ma.iter().zip(&mb) {
        for j in 1..8 {
            let (p, q) = (x[j], y[j]);
            assert!(
                (p.is_nan() && q.is_nan()) || (p - q).abs() <= 1e-4 * (1.0 + p.abs()),
                "step {}: column {j}: {p} vs {q}",
                x[0]
            );
        }
    }
    let gen = |run: &Path, out: &Path| {
        generate(&GenerateSpec {
            run: run.to_path_buf(),
            out: out.to_path_buf(),
            n: 4,
            ..GenerateSpec::default()
        })
        .unwrap();
        image::open(out.join("grid.png"))
            .unwrap()
            .to_rgb8()
            .into_raw()
    };
    let (ga, gb) = (
        gen(&a, &dir.path().join("ga")),
        gen(&b, &dir.path().join("gb")),
    );
    let diff = ga
        .iter()
        .zip(&gb)
        .map(|(p, q)| p.abs_diff(*q))
        .max()
        .unwrap_or(0);
    assert!(diff <= 1, "resumed weights differ (max pixel diff {diff})");
}

#[test]
fn resume_reproduces_the_uninterrupted_run() {
    check_resume(tiny(ModelKind::Acgan, 6));
}

/// Spectral norm (G and D), self-attention and the FC layer: losses stay finite and the
/// power-iteration state travels with the checkpoint (else the resumed run would differ).
#[test]
fn spectral_norm_and_attention_train_finite_and_resume_exactly() {
    let spec = TrainSpec {
        spectral_norm: SnWhere::Both,
        attention: Some(8),
        fc: 8,
        ..tiny(ModelKind::Acgan, 6)
    };
    spec.validate().unwrap();
    check_resume(spec.clone());
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let spec = TrainSpec {
        model: ModelKind::Cgan,
        spectral_norm: SnWhere::D,
        ..spec
    };
    train_dataset(&spec, faces(24), &run, false, Verbosity::Quiet).unwrap();
    for row in metrics(&run) {
        assert!(row[1].is_finite() && row[2].is_finite(), "{row:?}");
    }
    let bad = TrainSpec {
        attention: Some(5),
        ..spec
    };
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("attention at side 5"), "{e}");
}

#[test]
fn split_by_trains_one_model_per_class() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let spec = tiny_split();
    let r = train_dataset(&spec, faces(18), &run, false, Verbosity::Quiet).unwrap();
    assert_eq!(r.split.len(), 3);
    for v in ["black", "blonde", "red"] {
        assert!(
            run.join(v).join("latest.json").is_file(),
            "no model for {v}"
        );
    }
    assert!(run.join("summary.csv").is_file());
    // Resumed with a target below the steps done: refused before the split's settings
    // take it (they did, and every later --resume read the lower target back).
    let settings = || std::fs::read_to_string(run.join("settings.json")).unwrap();
    let before = settings();
    let lower = facesynth::gan::TrainSpec {
        steps: 1,
        ..spec.clone()
    };
    let e = train_dataset(&lower, faces(18), &run, true, Verbosity::Quiet).unwrap_err();
    assert!(e.to_string().contains("past --steps 1"), "{e}");
    assert_eq!(settings(), before);
    let out = dir.path().join("gen");
    let g = generate(&GenerateSpec {
        run: run.clone(),
        out: out.clone(),
        per_class: Some(2),
        ..GenerateSpec::default()
    })
    .unwrap();
    assert_eq!(g.images, 6);
    assert!(out.join("red/1.png").is_file() && out.join("grid.png").is_file());
    // Regression: --interpolate and --mean-sweep were silently ignored on split runs;
    // they come from the chosen class's model.
    let one = dir.path().join("one");
    let g = generate(&GenerateSpec {
        run: run.clone(),
        out: one.clone(),
        n: 2,
        attrs: vec![("hair_color".into(), "red".into())],
        interpolate: Some(3),
        mean_sweep: true,
        ..GenerateSpec::default()
    })
    .unwrap();
    assert_eq!(g.images, 2);
    assert!(one.join("interpolation.png").is_file() && one.join("mean_sweep.png").is_file());
}

#[test]
fn cli_trains_on_a_synth_folder_and_generates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    facesynth::synth::generate(
        &SynthSpec {
            n: 12,
            image_size: 32,
            seed: 1,
            ..SynthSpec::default()
        },
        &data,
    )
    .unwrap();
    let run = dir.path().join("run");
    let out = bin()
        .args([
            "--quiet",
            "train",
            "--model",
            "acgan",
            "--attr",
            "hair_color",
            "--size",
            "16",
        ])
        .args(["--steps", "2", "--batch", "4", "--width", "8", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let values: Vec<String> = serde_json::from_slice::<serde_json::Value>(
        &std::fs::read(run.join("classes.json")).unwrap(),
    )
    .unwrap()["attrs"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let gen = dir.path().join("gen");
    let out = bin()
        .args(["generate", "--n", "3", "--attr"])
        .arg(format!("hair_color={}", values[0]))
        .arg("--checkpoint")
        .arg(&run)
        .arg("--out")
        .arg(&gen)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(gen.join("2.png").is_file() && gen.join("grid.png").is_file());
    let out = bin()
        .args(["generate", "--attr", "hair_color=nope", "--checkpoint"])
        .arg(&run)
        .arg("--out")
        .arg(&gen)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown value"));
}

#[test]
fn cuda_request_without_cuda_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "train",
            "--backend",
            "cuda",
            "--size",
            "16",
            "--steps",
            "1",
            "--data",
        ])
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    #[cfg(not(feature = "cuda"))]
    assert!(err.contains("--features cuda"), "{err}");
    #[cfg(feature = "cuda")]
    assert!(
        err.contains("backend unavailable") || err.contains("no images"),
        "{err}"
    );
    let _ = BackendKind::Cuda;
}
