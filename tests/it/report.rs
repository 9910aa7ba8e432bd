//! Report pages on fixtures the tests make: a fake training run (conditional and split)
//! with a hand-made `EvalSummary`, a comparison, a tiny prep run with a truncated JPEG and
//! a planted duplicate, and a labeled dataset after a short round; then every page in
//! headless Chromium (no console errors, every image decoded, a screenshot that is not
//! blank).

use crate::common::Browser;
use facesynth::eval::summary::*;
use facesynth::labels::{self, classifier::TrainSpec, RoundSpec};
use facesynth::prep::{self, PrepSpec};
use facesynth::progress::Verbosity::Quiet;
use facesynth::report;
use facesynth::synth::{self, SynthSpec};
use image::{DynamicImage, Rgb, RgbImage};
use std::path::{Path, PathBuf};

const SIDE: u32 = 8;

fn save(path: &Path, img: &RgbImage) {
    facesynth::atomic::save_image(path, &DynamicImage::ImageRgb8(img.clone())).unwrap();
}

/// A sample grid as the trainer writes it: `rows` x 8 images of SIDE px, 2 px apart.
fn grid(rows: u32, shade: u8) -> RgbImage {
    let (w, h) = (8 * (SIDE + 2) + 2, rows * (SIDE + 2) + 2);
    RgbImage::from_fn(w, h, |x, y| {
        if x % (SIDE + 2) < 2 || y % (SIDE + 2) < 2 {
            Rgb([255, 255, 255])
        } else {
            Rgb([shade, (x * 3) as u8, (y * 5) as u8])
        }
    })
}

/// A run folder: settings, classes, metrics.csv and sample grids at steps 100..600.
fn fake_run(dir: &Path, model: &str, values: &[&str], split: Option<(&str, &[&str])>) {
    std::fs::create_dir_all(dir.join("samples")).unwrap();
    let settings = serde_json::json!({"model": model, "size": SIDE, "steps": 600, "batch": 16,
        "loss": "bce", "seed": 42, "split_by": split.map(|s| s.0), "note": "<b>not bold</b>"});
    facesynth::atomic::write_json(&dir.join("settings.json"), &settings).unwrap();
    let attrs: Vec<_> = if values.is_empty() {
        vec![]
    } else {
        vec![serde_json::json!({"name": "hair_color", "values": values})]
    };
    let classes = serde_json::json!({"channels": 3, "attrs": attrs,
        "split": split.map(|(a, v)| serde_json::json!({"name": a, "values": v}))});
    facesynth::atomic::write_json(&dir.join("classes.json"), &classes).unwrap();
    facesynth::atomic::write_json(
        &dir.join("latest.json"),
        &serde_json::json!({"step": 600, "rollbacks": 0, "dir": "checkpoints/step-00000600", "ema": false}),
    )
    .unwrap();
    let mut csv = String::from("step,loss_d,loss_g,d_real,d_fake,aux_acc,grad_d,grad_g,seconds\n");
    for i in 1..=60 {
        let s = i as f64 * 10.0;
        let aux = if model == "acgan" {
            format!("{:.3}", 0.3 + i as f64 / 100.0)
        } else {
            "NaN".into()
        };
        csv.push_str(&format!(
            "{s},{:.4},{:.4},{:.3},{:.3},{aux},{:.4},{:.4},{:.2}\n",
            1.4 - i as f64 / 100.0 + (i as f64).sin() * 0.1,
            0.7 + i as f64 / 80.0,
            0.6 + (i as f64).cos() * 0.1,
            0.4,
            0.5 + i as f64 / 30.0,
            0.05 * i as f64,
            s / 50.0
        ));
    }
    std::fs::write(dir.join("metrics.csv"), csv).unwrap();
    let rows = if values.is_empty() {
        8
    } else {
        values.len() as u32
    };
    for step in (100..=600).step_by(100) {
        save(
            &dir.join(format!("samples/step-{step:08}.png")),
            &grid(rows, (step / 3) as u8),
        );
    }
    save(&dir.join("samples/latest.png"), &grid(rows, 200));
    save(&dir.join("samples/real.png"), &grid(8, 90));
}

fn fidelity(fid: f64) -> Fidelity {
    Fidelity {
        fid,
        kid: fid / 1000.0,
        kid_se: 0.0004,
        precision: 0.71,
        recall: 0.4 + fid / 100.0,
        density: 0.9,
        coverage: 0.6,
        k: 5,
    }
}

/// A hand-made summary; generated images under RUN/eval/gen, training ones under `data`.
fn summary(run: &Path, data: &Path, model: &str, fid: f64) -> EvalSummary {
    save(&run.join("eval/gen/0.png"), &grid(1, 10));
    let values = vec!["black".to_string(), "<b>lond".to_string()];
    EvalSummary {
        run: run.display().to_string(),
        data: data.display().to_string(),
        model: model.into(),
        step: 600,
        seed: 7,
        n_generated: 200,
        n_real: 180,
        features: FeatureNetInfo {
            description: "facesynth label CNN trained on the real set (not Inception)".into(),
            dataset_hash: "abc123".into(),
            dim: 64,
            heldout_accuracy: vec![("hair_color".into(), 0.93)],
        },
        overall: fidelity(fid),
        per_class: values
            .iter()
            .enumerate()
            .map(|(i, v)| ClassFidelity {
                attribute: "hair_color".into(),
                value: v.clone(),
                n_generated: 100,
                n_real: 90,
                fidelity: fidelity(fid + i as f64),
            })
            .collect(),
        conditioning: Some(Conditioning {
            attribute: "hair_color".into(),
            values: values.clone(),
            accuracy: 0.85,
            per_class_accuracy: vec![0.9, 0.8],
            confusion: vec![vec![90, 10], vec![20, 80]],
            matching: None,
        }),
        more_conditioning: Vec::new(),
        distributions: vec![AttrDistribution {
            attribute: "hair_color".into(),
            values,
            real: vec![0.5, 0.5],
            generated: vec![0.55, 0.45],
            js: 0.0036,
        }],
        memorization: Memorization {
            mean_feature_nn: 1.2,
            feature_nn_ratio: 1.1,
            mean_pixel_nn: 0.12,
            near_dup_train: 0.0,
            near_dup_self: 0.01,
            near_dup_real: 0.02,
            closest: vec![
                NearestPair {
                    generated: "gen/0.png".into(),
                    train: "images/a.png".into(),
                    feature_distance: 0.5,
                    pixel_distance: 0.08,
                    train_image: String::new(),
                },
                NearestPair {
                    generated: "gen/missing.png".into(),
                    train: "images/a.png".into(),
                    feature_distance: 0.6,
                    pixel_distance: 0.09,
                    train_image: String::new(),
                },
            ],
        },
        seconds: 3.5,
        timings: vec![("features".into(), 1.5), ("fidelity".into(), 2.0)],
        notes: vec!["a note for the <reader>".into()],
    }
}

fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}

/// Checks every page shares: self-contained, escaped, sections present.
fn assert_page(html: &str, sections: &[&str]) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "pages carry no script");
    assert!(!html.contains("src=\"http"), "pages fetch nothing");
    assert!(!html.contains("<b>"), "unescaped text");
    for s in sections {
        assert!(
            html.contains(&format!("<section id=\"{s}\">")),
            "no section {s}"
        );
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    cond: PathBuf,
    split: PathBuf,
}

fn runs() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    save(&data.join("images/a.png"), &grid(1, 30));
    let cond = tmp.path().join("acgan");
    fake_run(&cond, "acgan", &["black", "<b>lond"], None);
    let s = summary(&cond, &data, "acgan", 12.5);
    facesynth::atomic::write_json(&cond.join("eval/metrics.json"), &s).unwrap();
    let split = tmp.path().join("per-hair");
    let vals: &[&str] = &["black", "<b>lond"];
    fake_run(&split, "dcgan", &[], Some(("hair_color", vals)));
    let mut sum =
        String::from("value,images,steps,loss_d,loss_g,d_real,d_fake,images_per_sec,warnings\n");
    for v in vals {
        let sub = split.join(facesynth::gan::train::value_dir(v));
        fake_run(&sub, "dcgan", &[], None);
        sum.push_str(&format!("{v},90,600,1.1,0.9,0.6,0.4,120.0,0\n"));
    }
    std::fs::write(split.join("summary.csv"), sum).unwrap();
    let s = summary(&split, &data, "split:hair_color", 9.0);
    facesynth::atomic::write_json(&split.join("eval/metrics.json"), &s).unwrap();
    Fixture {
        _tmp: tmp,
        cond,
        split,
    }
}

#[test]
fn run_page_has_settings_curves_samples_and_metrics() {
    let f = runs();
    let page = report::write_run_report(&f.cond).unwrap();
    assert_eq!(page, f.cond.join("report.html"));
    // Regression: `eval --out pages` wrote a file named `pages`, and an existing folder
    // failed; both take report.html inside, as `report --out` does.
    let elsewhere = f._tmp.path().join("pages");
    let at = |out: &Path| report::write_run_report_at(&f.cond, out).unwrap();
    assert_eq!(at(&elsewhere), elsewhere.join("report.html"));
    assert_eq!(
        at(&elsewhere),
        elsewhere.join("report.html"),
        "an existing folder"
    );
    let named = f._tmp.path().join("run.html");
    assert_eq!(at(&named), named);
    let html = std::fs::read_to_string(&page).unwrap();
    assert_page(
        &html,
        &[
            "settings",
            "curves",
            "samples",
            "features",
            "metrics",
            "conditioning",
            "distributions",
            "memorization",
        ],
    );
    assert!(html.contains("&lt;b&gt;not bold&lt;/b&gt;"));
    assert!(html.contains("hair_color=&lt;b&gt;lond"));
    assert!(html.contains("not on Inception-v3"));
    assert!(html.contains("0.930"), "held-out accuracy shown");
    assert!(
        html.contains("a note for the &lt;reader&gt;"),
        "eval notes shown"
    );
    assert!(html.contains("features 1.5 s"), "stage timings shown");
    assert!(
        html.contains("within the real set"),
        "near-duplicate baseline shown"
    );
    // 4 curve plots (losses, D outputs, gradients, aux accuracy), latest + real grids,
    // 2 classes x 6 steps of strips, heatmap, distribution, 2 pair images.
    let imgs = count(&html, "src=\"data:image/png;base64,");
    assert!(imgs >= 4 + 2 + 12 + 2 + 2, "{imgs} inline images");
    assert!(html.contains("gen/missing.png (not found)"));
    assert!(html.contains("step 600") && html.contains("step 100"));
    assert!(!html.contains("eval-age"), "evaluated at the run's step");
    // Regression: training on after an eval rewrote this page with the old figures and
    // nothing said they were of an earlier step.
    facesynth::atomic::write_json(
        &f.cond.join("latest.json"),
        &serde_json::json!({"step": 900, "rollbacks": 0, "dir": "checkpoints/step-00000900", "ema": false}),
    )
    .unwrap();
    let html = std::fs::read_to_string(report::write_run_report(&f.cond).unwrap()).unwrap();
    assert!(
        html.contains("of step 600; the run is now at step 900"),
        "stale figures said"
    );
}

#[test]
fn split_run_page_and_comparison() {
    let f = runs();
    let html = std::fs::read_to_string(report::write_run_report(&f.split).unwrap()).unwrap();
    assert_page(&html, &["settings", "curves", "samples", "metrics"]);
    assert!(html.contains("summary.csv"));
    assert!(html.contains("<h3>hair_color=black</h3>"));
    assert!(
        !html.contains("eval-age"),
        "the class models are at the evaluated step"
    );

    let out = f.cond.parent().unwrap().join("cmp");
    let page = report::write_compare_report(&[f.cond.clone(), f.split.clone()], &out).unwrap();
    assert_eq!(page, out.join("compare.html"));
    let html = std::fs::read_to_string(&page).unwrap();
    assert_page(&html, &["table", "plots", "per-class"]);
    // The split run has the lower FID (9 < 12.5): its FID cell is the best one.
    assert!(html.contains("<td class=\"n best\">9.000</td>"), "{html}");
    assert!(html.contains("split:hair_color"));
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3);
    assert!(out.join("compare.md").is_file());
    assert!(!html.contains("do not rank"));
    // Regression: runs evaluated on different numbers of images got a best value
    // without a word (FID is biased up at small n).
    let metrics = f.split.join("eval/metrics.json");
    let mut s: EvalSummary = serde_json::from_slice(&std::fs::read(&metrics).unwrap()).unwrap();
    let original = s.clone();
    s.n_generated = 5000;
    facesynth::atomic::write_json(&metrics, &s).unwrap();
    let page = report::write_compare_report(&[f.cond.clone(), f.split.clone()], &out).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("do not rank"), "{html}");
    assert!(!html.contains("n best"), "no best value highlighted");
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(
        md.contains("Warning: these runs were evaluated on different numbers"),
        "{md}"
    );
    // Regression: runs judged by different feature networks got a best value too.
    let mut s = original.clone();
    s.features.dataset_hash = "another-network".into();
    facesynth::atomic::write_json(&metrics, &s).unwrap();
    let page = report::write_compare_report(&[f.cond.clone(), f.split.clone()], &out).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("different feature networks"), "{html}");
    assert!(!html.contains("n best"), "no best value highlighted");
    facesynth::atomic::write_json(&metrics, &original).unwrap();
    // Unevaluated runs alone are an error, not an empty page.
    let bare = f.cond.parent().unwrap().join("bare");
    fake_run(&bare, "dcgan", &[], None);
    assert!(report::write_compare_report(&[bare], &out).is_err());
}

/// A raw folder of synthetic faces with a truncated JPEG, a tiny image, a flat image and
/// a planted exact duplicate; prepared (prep writes its page itself).
fn prepped() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let spec = SynthSpec {
        n: 1,
        image_size: 96,
        seed: 5,
        ..Default::default()
    };
    for i in 0..8 {
        save(
            &raw.join(format!("f{i}.png")),
            &synth::synth_one(&spec, i).1,
        );
    }
    std::fs::copy(raw.join("f1.png"), raw.join("copy <of> f1.png")).unwrap();
    let jpg = raw.join("whole.jpg");
    save(&jpg, &synth::synth_one(&spec, 9).1);
    let bytes = std::fs::read(&jpg).unwrap();
    std::fs::write(raw.join("truncated.jpg"), &bytes[..bytes.len() / 3]).unwrap();
    save(
        &raw.join("tiny.png"),
        &RgbImage::from_pixel(6, 6, Rgb([9, 9, 9])),
    );
    save(
        &raw.join("flat.png"),
        &RgbImage::from_pixel(96, 96, Rgb([128, 128, 128])),
    );
    std::fs::write(raw.join("notes.jpg"), b"not an image").unwrap();
    let out = tmp.path().join("data");
    let r = prep::run(&raw, &out, &PrepSpec::default(), Quiet).unwrap();
    assert_eq!(
        r.page.as_deref().ok(),
        Some(out.join("report.html").as_path())
    );
    (tmp, out)
}

#[test]
fn prep_page_shows_reasons_and_duplicate_groups() {
    let (_tmp, out) = prepped();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_page(&html, &["counts", "rejected", "duplicates", "kept"]);
    assert!(
        html.contains("<h3>decode"),
        "decode failures have a heading"
    );
    assert!(html.contains("<h3>too_small"));
    assert!(
        html.contains("notes.jpg"),
        "unreadable files are listed by name"
    );
    assert!(
        html.contains("copy &lt;of&gt; f1.png"),
        "the dropped duplicate is named, escaped"
    );
    assert!(html.contains("kept: f1.png") || html.contains("kept: copy &lt;of&gt; f1.png"));
    assert!(count(&html, "src=\"data:image/png;base64,") >= 8 + 2);
    // `facesynth report DATA` rewrites it.
    std::fs::remove_file(out.join("report.html")).unwrap();
    let pages = report::write_for(&out).unwrap();
    assert_eq!(pages, vec![out.join("report.html")]);
    assert!(html.contains("notes.jpg — decode") && html.contains("cannot be decoded"));
    // Regression: a source deleted since prep ran was called undecodable.
    let raw = out.parent().unwrap().join("raw");
    std::fs::remove_file(raw.join("tiny.png")).unwrap();
    let html = std::fs::read_to_string(report::write_for(&out).unwrap()[0].clone()).unwrap();
    assert!(
        html.contains(
            "tiny.png — too_small (no thumbnail: the file is no longer in the input folder)"
        ),
        "{html}"
    );
}

/// A synthetic dataset with human labels for every image and one short round.
fn labeled() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    synth::generate(
        &SynthSpec {
            n: 60,
            seed: 3,
            ..SynthSpec::default()
        },
        d.path(),
    )
    .unwrap();
    let schema = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("labels/anime.toml");
    labels::init(&schema, d.path(), Quiet).unwrap();
    labels::import(d.path(), &d.path().join("truth.csv"), None).unwrap();
    let spec = RoundSpec {
        queue: 5,
        size: 16,
        train: TrainSpec {
            steps: 20,
            batch: 16,
            ..TrainSpec::default()
        },
        ..RoundSpec::default()
    };
    let r = labels::round(d.path(), &spec, Quiet).unwrap();
    assert_eq!(r.page, Some(d.path().join("labels/report.html")));
    d
}

#[test]
fn label_page_shows_coverage_and_calibration() {
    let d = labeled();
    let html = std::fs::read_to_string(d.path().join("labels/report.html")).unwrap();
    assert_page(&html, &["coverage", "values", "calibration", "rounds"]);
    assert!(html.contains("hair_color") && html.contains("eye_color"));
    assert!(html.contains("ECE"));
    // Each temperature's bootstrap range, as the round recorded it (here the heuristics
    // stand in for both heads, so the round fitted none: the page is drawn again with one).
    assert!(html.contains("90% range"), "{html}");
    // Regression: the range column's dash went unexplained.
    assert!(html.contains("A dash in the 90% range column"), "{html}");
    let paths = labels::Paths::new(d.path());
    let mut rounds = labels::session::read_rounds(&paths).unwrap();
    let last = rounds.last_mut().unwrap();
    last.temperature_range = [("hair_color".to_string(), (1.37, 2.46))].into();
    let check = labels::queue::QueueCheck {
        answered: 10,
        suggestion_right: 4,
        mean_confidence: 0.55,
    };
    last.previous_queue = [("hair_color".to_string(), check)].into();
    std::fs::write(paths.rounds(), serde_json::to_string(&rounds).unwrap()).unwrap();
    facesynth::report::write_label_report(d.path()).unwrap();
    let html = std::fs::read_to_string(d.path().join("labels/report.html")).unwrap();
    assert!(html.contains("1.37-2.46"), "{html}");
    // `facesynth report DIR/labels`, the folder the page lives in, draws it too.
    std::fs::remove_file(d.path().join("labels/report.html")).unwrap();
    let pages = facesynth::report::write_for(&d.path().join("labels")).unwrap();
    assert_eq!(pages, vec![d.path().join("labels/report.html")]);
    assert!(html.contains("hair_color 40% / 55% (10)"), "{html}");
    assert!(!html.contains("The queue answered so far"), "{html}");
    // A queue with two answered questions (the store holds every image's human label):
    // one suggestion right, one wrong; the page scores them.
    let store = labels::LabelStore::load(
        &paths.labels(),
        &labels::Schema::load(&paths.schema()).unwrap(),
    )
    .unwrap();
    let humans: Vec<&labels::Label> = store
        .iter()
        .filter(|l| l.attribute == "hair_color" && l.source == labels::Source::Human)
        .take(2)
        .collect();
    let other = |v: &str| if v == "black" { "red" } else { "black" }.to_string();
    let queue = format!(
        "file,attribute,value,suggestion,confidence,round\n{},hair_color,,{},0.8,1\n{},hair_color,,{},0.6,1\n",
        humans[0].file,
        humans[0].value,
        humans[1].file,
        other(&humans[1].value)
    );
    std::fs::write(paths.queue(), queue).unwrap();
    facesynth::report::write_label_report(d.path()).unwrap();
    let html = std::fs::read_to_string(d.path().join("labels/report.html")).unwrap();
    assert!(
        html.contains(
            "suggestion was the answer on 1 of 2 answered (50%), at a mean confidence of 70%"
        ),
        "{html}"
    );
    // Counts by value (2 attributes) and at least one reliability diagram.
    let diagrams = count(&html, "src=\"data:image/png;base64,");
    assert!(diagrams >= 3, "{html}");
    // The diagram is of the held-out pairs the round recorded (its split network's),
    // one per held-out label, whose ECE is the round's.
    let last = rounds.last().unwrap();
    for (attr, n) in &last.calibration_size {
        let pairs = last.held_out.get(attr).map_or(0, Vec::len);
        assert_eq!(pairs, *n, "{attr}: {:?}", last.held_out);
        if *n > 0 {
            let ece = labels::calibrate::ece(&last.held_out[attr]);
            assert!((ece - last.ece[attr]).abs() < 1e-6, "{attr}: {ece}");
        }
    }
    assert!(last.calibration_size.values().any(|&n| n > 0), "{last:?}");
    // A round recorded before the pairs were kept, with a refit: its predictions learned
    // from the held-out labels, so no diagram of them, and the page says why.
    let mut old = rounds.clone();
    let o = old.last_mut().unwrap();
    o.held_out.clear();
    o.refit = true;
    std::fs::write(paths.rounds(), serde_json::to_string(&old).unwrap()).unwrap();
    facesynth::report::write_label_report(d.path()).unwrap();
    let html = std::fs::read_to_string(d.path().join("labels/report.html")).unwrap();
    assert!(html.contains("recorded before rounds kept"), "{html}");
    assert!(
        count(&html, "src=\"data:image/png;base64,") < diagrams,
        "{html}"
    );
    // Regression: a damaged simulate.json was left off the page without a word.
    let sim = d.path().join("labels/simulate.json");
    std::fs::write(&sim, "{\"curve\": [").unwrap();
    let e = facesynth::report::write_label_report(d.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("simulate.json"), "{e}");
}

#[test]
fn report_command_detects_the_folder() {
    let f = runs();
    let out = crate::common::run_ok(&["report", f.cond.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("report.html"));
    let cmp = f.cond.parent().unwrap().join("c.html");
    crate::common::run_ok(&[
        "report",
        f.cond.to_str().unwrap(),
        f.split.to_str().unwrap(),
        "--out",
        cmp.to_str().unwrap(),
    ]);
    assert!(cmp.is_file());
    // Regression: one run with --out wrote a one-row comparison; now the run's page
    // there, as `eval --out` writes it.
    let one = f.cond.parent().unwrap().join("one.html");
    crate::common::run_ok(&[
        "report",
        f.cond.to_str().unwrap(),
        "--out",
        one.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&one).unwrap();
    assert!(html.contains("Training curves"), "not the run page");
    // A folder that does not exist yet: made, the page in it.
    let pages = f.cond.parent().unwrap().join("pages/");
    crate::common::run_ok(&[
        "report",
        f.cond.to_str().unwrap(),
        "--out",
        pages.to_str().unwrap(),
    ]);
    assert!(pages.join("report.html").is_file());
    // Without a font the plots have no text and the page says so.
    let bare = crate::common::bin()
        .env("FACESYNTH_FONT", "none")
        .args(["report", f.cond.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(bare.status.success());
    let html = std::fs::read_to_string(f.cond.join("report.html")).unwrap();
    assert!(html.contains("No TrueType font was found"));
    let bad = crate::common::bin()
        .args(["report", f.cond.join("samples").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// Loads a page and checks it like a person would at a glance.
fn check_in_browser(b: &Browser, page: &Path) {
    b.console_problems(); // drop earlier messages
    b.goto(&format!("file://{}", page.display()));
    let broken = b.exec(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length",
    );
    assert_eq!(
        broken,
        serde_json::json!(0),
        "{}: images that did not decode",
        page.display()
    );
    let problems = b.console_problems();
    assert!(
        problems.is_empty(),
        "{}: console: {problems:?}",
        page.display()
    );
    let shot = image::load_from_memory(&b.screenshot()).unwrap().to_rgb8();
    let first = *shot.get_pixel(0, 0);
    let differing = shot.pixels().filter(|p| **p != first).count();
    assert!(
        differing > (shot.width() * shot.height() / 20) as usize,
        "{}: screenshot is blank",
        page.display()
    );
}

#[test]
fn pages_load_cleanly_in_headless_chromium() {
    let Some(b) = Browser::start() else {
        return;
    };
    let f = runs();
    let (_p, data) = prepped();
    let d = labeled();
    let pages = [
        report::write_run_report(&f.cond).unwrap(),
        report::write_run_report(&f.split).unwrap(),
        report::write_compare_report(&[f.cond.clone(), f.split.clone()], &f.cond.join("cmp.html"))
            .unwrap(),
        data.join("report.html"),
        d.path().join("labels/report.html"),
    ];
    for (i, p) in pages.iter().enumerate() {
        check_in_browser(&b, p);
        // To look at the pages: REPORT_PAGES=/some/dir cargo test --test it report::pages
        if let Some(dir) = std::env::var_os("REPORT_PAGES") {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::copy(
                p,
                dir.join(format!("{i}-{}", p.file_name().unwrap().to_string_lossy())),
            )
            .unwrap();
        }
    }
}

/// `n` synthetic faces with 3 hair colours, in memory (as the GAN tests make them).
fn faces(n: usize) -> facesynth::gan::data::Dataset {
    let spec = SynthSpec {
        n,
        image_size: 32,
        seed: 3,
        ..SynthSpec::default()
    };
    let items = (0..n)
        .map(|i| {
            let s = SynthSpec {
                hair: Some([2, 10, 1][i % 3]),
                ..spec.clone()
            };
            let (row, img) = synth::synth_one(&s, i);
            (
                DynamicImage::ImageRgb8(img),
                vec![row.hair_color.to_string()],
            )
        })
        .collect();
    facesynth::gan::data::Dataset::from_images(items, &["hair_color".to_string()], 16, 3)
}

/// The pages read what the trainer really writes: tiny ACGAN, InfoGAN and split DCGAN runs.
#[test]
fn pages_of_real_tiny_runs() {
    use facesynth::gan::{spec::ModelKind, train::train_dataset, TrainSpec};
    let dir = tempfile::tempdir().unwrap();
    let tiny = |model| TrainSpec {
        data: Some("memory".into()),
        attrs: vec!["hair_color".into()],
        model,
        size: 16,
        steps: 6,
        batch: 8,
        nz: 8,
        ngf: 8,
        ndf: 8,
        embed_dim: 4,
        sample_every: 2,
        checkpoint_every: 6,
        log_every: 1,
        ..TrainSpec::default()
    };
    let run = dir.path().join("acgan");
    train_dataset(&tiny(ModelKind::Acgan), faces(18), &run, false, Quiet).unwrap();
    let html = std::fs::read_to_string(report::write_run_report(&run).unwrap()).unwrap();
    assert_page(&html, &["settings", "curves", "samples", "metrics"]);
    for v in ["black", "blonde", "red"] {
        assert!(
            html.contains(&format!("<h3>hair_color={v}</h3>")),
            "no card for {v}"
        );
    }
    // 3 classes x 3 sampled steps (2, 4, 6), cut from the trainer's grids.
    assert_eq!(count(&html, "at step "), 9, "strips");
    assert!(html.contains("No evaluation yet"));

    let info = dir.path().join("infogan");
    let spec = TrainSpec {
        info_cat: 3,
        attrs: Vec::new(),
        ..tiny(ModelKind::Infogan)
    };
    train_dataset(&spec, faces(18), &info, false, Quiet).unwrap();
    let html = std::fs::read_to_string(report::write_run_report(&info).unwrap()).unwrap();
    assert!(html.contains("<h3>code 2</h3>"));
    assert_eq!(
        count(&html, "at step "),
        9,
        "one strip per code value and step"
    );

    let split = dir.path().join("split");
    let spec = TrainSpec {
        split_by: Some("hair_color".into()),
        attrs: Vec::new(),
        ..tiny(ModelKind::Dcgan)
    };
    train_dataset(&spec, faces(18), &split, false, Quiet).unwrap();
    let html = std::fs::read_to_string(report::write_run_report(&split).unwrap()).unwrap();
    assert!(html.contains("<h3>hair_color=red</h3>"));
    assert_eq!(count(&html, "at step "), 9, "one strip per value and step");

    // A value with a comma (a tag such as "blue, green"): `summary.csv` stays a table
    // the page reads (its row was cut at the comma and the page failed).
    let items = (0..12)
        .map(|i| {
            let s = SynthSpec {
                n: 12,
                image_size: 32,
                seed: 3,
                ..SynthSpec::default()
            };
            let tag = if i % 2 == 0 { "blue, green" } else { "red" };
            (
                DynamicImage::ImageRgb8(synth::synth_one(&s, i).1),
                vec![tag.to_string()],
            )
        })
        .collect();
    let tags = facesynth::gan::data::Dataset::from_images(items, &["tag".to_string()], 16, 3);
    let commas = dir.path().join("commas");
    let spec = TrainSpec {
        split_by: Some("tag".into()),
        attrs: Vec::new(),
        ..tiny(ModelKind::Dcgan)
    };
    train_dataset(&spec, tags, &commas, false, Quiet).unwrap();
    report::write_run_report(&commas).unwrap();
    let mut rdr = csv::Reader::from_path(commas.join("summary.csv")).unwrap();
    let values: Vec<String> = rdr.records().map(|r| r.unwrap()[0].to_string()).collect();
    assert_eq!(values, ["blue, green", "red"]);

    // Regression: a split by an id-like attribute (no value twice) trained nothing and
    // exited 0 with warnings.
    let ids: Vec<_> = (0..3)
        .map(|i| {
            let s = SynthSpec {
                n: 3,
                image_size: 32,
                ..SynthSpec::default()
            };
            (
                DynamicImage::ImageRgb8(synth::synth_one(&s, i).1),
                vec![format!("id{i}")],
            )
        })
        .collect();
    let ids = facesynth::gan::data::Dataset::from_images(ids, &["id".to_string()], 16, 3);
    let none = dir.path().join("none");
    let spec = TrainSpec {
        split_by: Some("id".into()),
        attrs: Vec::new(),
        ..tiny(ModelKind::Dcgan)
    };
    let e = train_dataset(&spec, ids, &none, false, Quiet)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no value has 2 or more images"), "{e}");
    assert!(!none.exists(), "nothing written");

    // Regression: two trainers in one run folder interleaved their checkpoints.
    let busy = dir.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    let lock = busy.join(facesynth::gan::train::RUN_LOCK);
    let _held = facesynth::atomic::try_lock_file(&lock).unwrap().unwrap();
    let e = train_dataset(&tiny(ModelKind::Dcgan), faces(6), &busy, false, Quiet)
        .unwrap_err()
        .to_string();
    assert!(e.contains("another `facesynth train`"), "{e}");
}

/// The browser check is not vacuous: a page with a console error and a broken image fails it.
#[test]
fn browser_check_sees_console_errors_and_broken_images() {
    let Some(b) = Browser::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><p>x</p><img src=\"data:image/png;base64,AAAA\">\
         <script>console.error('boom')</script></body></html>",
    )
    .unwrap();
    b.console_problems();
    b.goto(&format!("file://{}", bad.display()));
    let broken = b.exec(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length",
    );
    assert_eq!(broken, serde_json::json!(1));
    let problems = b.console_problems();
    assert!(problems.iter().any(|p| p.contains("boom")), "{problems:?}");
}
