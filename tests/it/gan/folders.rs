//! What a person gets wrong around training and generating, each once a defect: a run
//! folder reused, a checkpoint of another network, relative paths, bad command lines,
//! pipeline sections, class lists that changed, output folders, label files of other
//! layouts, and the demo's own folder.

use super::*;

/// Regression: training into a folder that holds a run, without `--resume`, mixed the new
/// settings with the old checkpoints and samples. It is refused, the folder untouched.
#[test]
fn a_folder_holding_a_run_is_refused_without_resume() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let spec = tiny(ModelKind::Acgan, 3);
    train_dataset(&spec, faces(24), &run, false, Verbosity::Quiet).unwrap();
    let settings = std::fs::read(run.join("settings.json")).unwrap();
    let other = TrainSpec {
        model: ModelKind::Dcgan,
        ngf: 16,
        ..spec.clone()
    };
    let e = train_dataset(&other, faces(24), &run, false, Verbosity::Quiet)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&run.display().to_string()) && e.contains("--resume") && e.contains("--out"),
        "{e}"
    );
    assert_eq!(std::fs::read(run.join("settings.json")).unwrap(), settings);
    // The same settings, stopped early (as a killed run is): still --resume, said so.
    let half = dir.path().join("half");
    train_dataset(&spec, faces(24), &half, false, Verbosity::Quiet).unwrap();
    let mut saved: TrainSpec =
        serde_json::from_slice(&std::fs::read(half.join("settings.json")).unwrap()).unwrap();
    saved.steps = 6;
    facesynth::atomic::write_json(&half.join("settings.json"), &saved).unwrap();
    let again = TrainSpec {
        steps: 6,
        ..spec.clone()
    };
    let e = train_dataset(&again, faces(24), &half, false, Verbosity::Quiet)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unfinished run") && e.contains("step 3 of 6"),
        "{e}"
    );
    let r = train_dataset(&again, faces(24), &half, true, Verbosity::Quiet).unwrap();
    assert_eq!((r.started_at, r.steps), (3, 6));
}

/// Regression: a checkpoint whose shapes do not fit the network settings.json describes
/// (two runs mixed in one folder) panicked in burn on resume and generate; now an error
/// naming the checkpoint file, also for checkpoints saved without the shape list.
#[test]
fn a_checkpoint_of_another_network_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    train_dataset(
        &tiny(ModelKind::Acgan, 3),
        faces(24),
        &a,
        false,
        Verbosity::Quiet,
    )
    .unwrap();
    let wide = TrainSpec {
        ngf: 12,
        ndf: 12,
        ..tiny(ModelKind::Acgan, 3)
    };
    train_dataset(&wide, faces(24), &b, false, Verbosity::Quiet).unwrap();
    // a's weights under b's settings, as the reviewer's killed rerun left them.
    for f in ["settings.json", "classes.json"] {
        std::fs::copy(b.join(f), a.join(f)).unwrap();
    }
    let check = |run: &Path| {
        let e = generate(&GenerateSpec {
            run: run.to_path_buf(),
            out: dir.path().join("gen"),
            n: 2,
            ..GenerateSpec::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("g.mpk") && e.contains("do not fit"), "{e}");
        let e = train_dataset(&wide, faces(24), run, true, Verbosity::Quiet)
            .unwrap_err()
            .to_string();
        assert!(e.contains("g.mpk") && e.contains("do not fit"), "{e}");
    };
    check(&a);
    // A run saved before latest.json listed shapes: caught after loading instead.
    let latest = a.join("latest.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&latest).unwrap()).unwrap();
    assert!(meta.as_object_mut().unwrap().remove("shapes").is_some());
    facesynth::atomic::write_json(&latest, &meta).unwrap();
    check(&a);
    // Nor one of another image size, whose networks have another layer count: burn's
    // `load_record` panicked on it before any shape could be compared.
    let big = dir.path().join("big");
    let at_32 = TrainSpec {
        size: 32,
        ..wide.clone()
    };
    let faces_32 = Dataset::from_images(faces_at(24, 32), &["hair_color".to_string()], 32, 3);
    train_dataset(&at_32, faces_32, &big, false, Verbosity::Quiet).unwrap();
    for f in ["settings.json", "classes.json"] {
        std::fs::copy(b.join(f), big.join(f)).unwrap();
    }
    let latest = big.join("latest.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&latest).unwrap()).unwrap();
    meta.as_object_mut().unwrap().remove("shapes");
    facesynth::atomic::write_json(&latest, &meta).unwrap();
    check(&big);
}

/// Regression: `--truncation 0` (or below, or NaN) redrew noise forever.
#[test]
fn truncation_must_be_positive() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_dataset(
        &tiny(ModelKind::Dcgan, 2),
        faces(12),
        &run,
        false,
        Verbosity::Quiet,
    )
    .unwrap();
    let spec = |t: f32| GenerateSpec {
        run: run.clone(),
        out: dir.path().join("gen"),
        n: 2,
        truncation: Some(t),
        ..GenerateSpec::default()
    };
    for t in [0.0, -1.0, f32::NAN] {
        let e = generate(&spec(t)).unwrap_err().to_string();
        assert!(e.contains("truncation"), "{t}: {e}");
    }
    // A tiny positive T finishes (uniform proposals, not redraws from N(0, 1)).
    assert_eq!(generate(&spec(1e-6)).unwrap().images, 2);
    let out = bin()
        .args(["generate", "--truncation", "0", "--n", "2", "--checkpoint"])
        .arg(&run)
        .arg("--out")
        .arg(dir.path().join("g2"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Regression: bad command lines exited 1 or panicked (exit 101), and `--mnist` with
/// `--data` silently used MNIST. All are usage errors now (exit 2).
#[test]
fn bad_command_lines_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = format!("{d}/run");
    // `train --data D ... --out RUN` and `generate --checkpoint D ... --out RUN`.
    fn with<'a>(head: [&'a str; 3], flags: &[&'a str], out: &'a str) -> Vec<&'a str> {
        [&head[..], flags, &["--out", out]].concat()
    }
    let train = |flags| with(["train", "--data", d], flags, &out);
    let generate = |flags| with(["generate", "--checkpoint", d], flags, &out);
    let cases: Vec<Vec<&str>> = vec![
        train(&["--steps", "0"]),
        train(&["--width", "0"]),
        train(&["--batch", "1"]),
        vec!["train", "--out", &out],
        train(&["--mnist", d]),
        // Settings no run could use exited 1, or trained (smoothing 2: a loss of -10).
        train(&["--label-smoothing", "2"]),
        train(&["--attr", "hair_color"]),
        // A size no layout has exited 1; an interval of 0 checkpointed every step.
        train(&["--size", "48"]),
        train(&["--checkpoint-every", "0"]),
        train(&["--loss", "hinge", "--label-smoothing", "0.1"]),
        train(&["--sample-every", "0"]),
        // A class model cannot condition on the attribute it is split by.
        train(&[
            "--model",
            "cgan",
            "--attr",
            "hair_color",
            "--split-by",
            "hair_color",
        ]),
        // `synth --size` under 8 panicked in `clamp`.
        vec!["synth", "--size", "4", "--out", &out],
        vec![
            "synth",
            "--face-min",
            "0.8",
            "--face-max",
            "0.5",
            "--out",
            &out,
        ],
        generate(&["--interpolate", "1"]),
        generate(&["--attr", "a=x", "--attr", "a=y"]),
        generate(&["--n", "0"]),
        // --n is for runs without --per-class (it was dropped without a word).
        generate(&["--n", "4", "--per-class", "2"]),
        generate(&["--per-class", "0"]),
        generate(&["--attr", "digit"]),
        generate(&["--truncation=-1"]),
        // Sizes that aborted out of memory with a backtrace (exit 134).
        train(&["--width", "100000"]),
        train(&["--batch", "100000"]),
        generate(&["--n", "100000000"]),
        generate(&["--per-class", "100000000"]),
        generate(&["--interpolate", "100000000"]),
        generate(&["--sigma", "-1"]),
        vec!["label", "round", "--data", d, "--size", "100000"],
        vec!["eval"],
        vec!["eval", "--run", d, "--n", "1"],
    ];
    for args in cases {
        let o = bin().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert!(!Path::new(&out).exists());
}

/// `n` synthetic faces in `dir/data` (prep-like: images/ and truth.csv).
fn synth_folder(dir: &Path, n: usize) -> std::path::PathBuf {
    let data = dir.join("data");
    facesynth::synth::generate(
        &SynthSpec {
            n,
            image_size: 32,
            seed: 1,
            ..SynthSpec::default()
        },
        &data,
    )
    .unwrap();
    data
}

/// Regression: an unconditional run given labels (MNIST's digits, a `--labels` file)
/// saved their first column as its `attrs`, and `validate` refused every `--resume` of
/// it ("dcgan is unconditional: --attr ..."), the very command its Ctrl-C message gives.
#[test]
fn an_unconditional_run_with_labels_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_folder(dir.path(), 12);
    let run = dir.path().join("run");
    let train = |extra: &[&str]| {
        bin()
            .args(["train", "--model", "dcgan", "--size", "16", "--batch", "4"])
            .args(["--width", "4", "--quiet", "--out"])
            .arg(&run)
            .args(extra)
            .output()
            .unwrap()
    };
    let labels = data.join("truth.csv");
    let first = [
        "--data",
        data.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
    ];
    let out = train(&[&first[..], &["--steps", "2"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Regression: without latest.json a resume started over at step 0 and deleted the
    // checkpoints; and a killed checkpoint write's temporary stayed for good.
    std::fs::remove_file(run.join("latest.json")).unwrap();
    let stale = run.join("checkpoints/step-00000002/.g.mpk.99999999.tmp");
    std::fs::write(&stale, b"half").unwrap();
    let out = train(&["--resume", "--steps", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stale.exists());
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("latest.json")).unwrap()).unwrap();
    assert_eq!(latest["step"], 3, "{latest}");
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]),
        "none twice: {metrics}"
    );
    // Settings that `validate` refuses since, as older runs saved them (smoothing under
    // the hinge loss, which ignored it; a checkpoint interval of 0, taken as 1): such a
    // run still resumes.
    let path = run.join("settings.json");
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    saved["loss"] = "hinge".into();
    saved["label_smoothing"] = 0.1.into();
    saved["checkpoint_every"] = 0.into();
    std::fs::write(&path, saved.to_string()).unwrap();
    let out = train(&["--resume", "--steps", "4"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Regression: generated faces could be written into a prep output's images/, whose
    // next rerun deleted them.
    let prepped = dir.path().join("prepped");
    std::fs::create_dir_all(prepped.join("images")).unwrap();
    let header = facesynth::dataset::manifest::COLUMNS.join(",") + "\n";
    std::fs::write(prepped.join("manifest.csv"), header).unwrap();
    let generate = |into: &str| {
        let out = bin()
            .args(["generate", "--n", "2", "--checkpoint"])
            .arg(&run)
            .arg("--out")
            .arg(prepped.join(into))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = generate("images/gen");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("prep output"), "{err}");
    assert!(!prepped.join("images/gen").exists());
    // `images/../gen` is beside images/, not in it.
    let (code, err) = generate("images/../gen");
    assert_eq!(code, Some(0), "{err}");
    assert!(prepped.join("gen").is_dir());
}

/// Regression: a conditional split run whose data has no attribute but the split one
/// failed in its first class model, after writing the run's settings: the folder then
/// refused the corrected command as a run already there.
#[test]
fn a_conditional_split_with_nothing_to_condition_on_is_refused_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_folder(dir.path(), 12);
    let truth = std::fs::read_to_string(data.join("truth.csv")).unwrap();
    let hair_only: String = truth
        .lines()
        .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    let labels = dir.path().join("hair.csv");
    std::fs::write(&labels, hair_only).unwrap();
    let run = dir.path().join("run");
    let out = bin()
        .args([
            "train",
            "--model",
            "cgan",
            "--split-by",
            "hair_color",
            "--size",
            "16",
        ])
        .args([
            "--batch", "4", "--width", "4", "--steps", "1", "--quiet", "--data",
        ])
        .arg(&data)
        .arg("--labels")
        .arg(&labels)
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // What the data lacks, as "cgan needs labels" (exit 1), not a bad command line.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--split-by hair_color") && err.contains("--attr"),
        "{err}"
    );
    assert!(!run.exists(), "the refused run left {}", run.display());
}

/// Regression: relative dataset paths were saved as given, so `--resume` from another
/// folder failed; and `--resume --data` without `--steps` reset the target to 2000.
#[test]
fn resume_works_from_another_folder_and_keeps_the_step_target() {
    let dir = tempfile::tempdir().unwrap();
    synth_folder(dir.path(), 12);
    let tiny_args = ["--size", "16", "--batch", "4", "--width", "4", "--quiet"];
    let out = bin()
        .current_dir(dir.path())
        .args(["train", "--data", "data", "--steps", "2", "--out", "run"])
        .args(tiny_args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = dir.path().join("run");
    let saved = |key: &str| -> serde_json::Value {
        serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(run.join("settings.json")).unwrap(),
        )
        .unwrap()[key]
            .clone()
    };
    let data = saved("data");
    assert!(Path::new(data.as_str().unwrap()).is_absolute(), "{data}");
    let elsewhere = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(elsewhere.path())
        .args(["train", "--resume", "--quiet", "--out"])
        .arg(&run)
        .arg("--data")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(saved("steps"), 2, "no --steps: the saved target stays");
    let out = bin()
        .current_dir(elsewhere.path())
        .args(["train", "--resume", "--quiet", "--steps", "3", "--out"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(saved("steps"), 3);
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("latest.json")).unwrap()).unwrap();
    assert_eq!(latest["step"], 3);
    // Regression: other flags were ignored without a word, and a target below the steps
    // done trained nothing and wrote the lower target into settings.json.
    let resume = |extra: &[&str]| {
        bin()
            .current_dir(elsewhere.path())
            .args(["train", "--resume", "--quiet", "--out"])
            .arg(&run)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = resume(&["--steps", "4", "--model", "cgan", "--size", "16"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a bad command line: {err}");
    assert!(
        err.contains("model \"cgan\"") && err.contains("dcgan"),
        "{err}"
    );
    assert!(!err.contains("size"), "the same size is no change: {err}");
    let out = resume(&["--steps", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("at step 3, past --steps 1"), "{err}");
    assert_eq!(saved("steps"), 3);
    // A pipeline file's key is a setting as a flag is: one that differs is refused (it
    // was ignored without a word), one that agrees is no change.
    let pipeline = elsewhere.path().join("p.toml");
    std::fs::write(&pipeline, "[train]\nlr_g = 0.5\n").unwrap();
    let out = resume(&["--pipeline", pipeline.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("lr_g 0.5"), "{err}");
    let lr = saved("lr_g");
    std::fs::write(&pipeline, format!("[train]\nlr_g = {lr}\n")).unwrap();
    let out = resume(&["--pipeline", pipeline.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Regression: a key the run never took (a cgan file's classes under `--model
    // dcgan`) was compared on `--resume`, and the command that started the run was
    // refused.
    std::fs::write(
        &pipeline,
        format!("[train]\nlr_g = {lr}\nmodel = \"cgan\"\nattrs = [\"hair_color\"]\n"),
    )
    .unwrap();
    let out = resume(&["--pipeline", pipeline.to_str().unwrap(), "--model", "dcgan"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Regression: a class-per-folder dataset could not train an unconditional model (the
/// error named a missing `images/` folder, twice); and undecodable files were counted,
/// not named.
#[test]
fn an_image_folder_trains_dcgan_and_bad_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_folder(dir.path(), 12);
    let folders = dir.path().join("if");
    for (i, f) in std::fs::read_dir(data.join("images")).unwrap().enumerate() {
        let f = f.unwrap().path();
        let class = folders.join(if i % 2 == 0 { "a" } else { "b" });
        std::fs::create_dir_all(&class).unwrap();
        std::fs::copy(&f, class.join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(folders.join("a/broken.png"), b"not a png").unwrap();
    let out = bin()
        .args(["train", "--model", "dcgan", "--size", "16", "--steps", "2"])
        .args(["--batch", "4", "--width", "4", "--data"])
        .arg(&folders)
        .arg("--out")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("on a dataset of 12 images"), "{err}");
    // An unconditional run names no classes (its data's folders are not used).
    assert!(!err.contains("classes:"), "{err}");
    assert!(err.contains("broken.png"), "{err}");
}

/// A misspelled section is refused by name (tested in `gan::spec`); a file with other
/// commands' sections trains.
#[test]
fn a_misspelled_pipeline_section_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth_folder(dir.path(), 8);
    let p = dir.path().join("p.toml");
    let train_with = |pipeline: &str| {
        std::fs::write(&p, pipeline).unwrap();
        let out = bin()
            .args(["train", "--size", "16", "--steps", "1", "--batch", "4"])
            .arg("--pipeline")
            .arg(&p)
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(dir.path().join("run"))
            .output()
            .unwrap();
        assert!(!dir.path().join("run").exists());
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = train_with("[trian]\nmodel = \"acgan\"\n");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("p.toml") && err.contains("trian") && err.contains("`train`"),
        "{err}"
    );
    // Regression: a value no run can use, from the file, did not say where it came from.
    let (code, err) = train_with("[train]\nlabel_smoothing = 2.0\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("label-smoothing 2") && err.contains("p.toml"),
        "{err}"
    );
}

/// `n` synthetic faces as [`faces`] makes them, each image's hair colour renamed by
/// `name(i, colour)`.
fn faces_named(n: usize, name: impl Fn(usize, &str) -> String) -> Dataset {
    let ds = faces(n);
    let items = (0..n)
        .map(|i| {
            let il = ds.image_len();
            let px = &ds.pixels[i * il..(i + 1) * il];
            let plane = 16 * 16;
            let img = image::RgbImage::from_fn(16, 16, |x, y| {
                let j = (y * 16 + x) as usize;
                image::Rgb([px[j], px[plane + j], px[2 * plane + j]])
            });
            let colour = &ds.attrs[0].values[ds.labels[i] as usize];
            (image::DynamicImage::ImageRgb8(img), vec![name(i, colour)])
        })
        .collect();
    Dataset::from_images(items, &["hair_color".to_string()], 16, 3)
}

/// Regression: `--resume` rebuilt the class map from the current labels, so after a
/// relabel the checkpoint's class slots silently trained on other values (or, with a
/// value added, failed blaming "a folder that may mix two runs").
#[test]
fn resume_refuses_classes_that_changed_since_the_run_began() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let spec = tiny(ModelKind::Acgan, 3);
    train_dataset(&spec, faces(24), &run, false, Verbosity::Quiet).unwrap();
    let classes = std::fs::read(run.join("classes.json")).unwrap();
    let longer = TrainSpec {
        steps: 6,
        ..spec.clone()
    };
    // Every blonde relabelled white: same count of values, other names.
    let renamed = faces_named(24, |_, c| {
        if c == "blonde" {
            "white".into()
        } else {
            c.into()
        }
    });
    // One image relabelled to a new value: one value more.
    let added = faces_named(24, |i, c| if i == 0 { "green".into() } else { c.into() });
    for (ds, now) in [
        (
            renamed,
            "now hair_color = [black, red, white] (gone: blonde; new: white)",
        ),
        (added, "new: green"),
    ] {
        let e = train_dataset(&longer, ds, &run, true, Verbosity::Quiet)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("classes.json")
                && e.contains("saved hair_color = [black, blonde, red]")
                && e.contains(now)
                && e.contains("new --out")
                && !e.contains("mix two runs"),
            "{e}"
        );
        assert_eq!(std::fs::read(run.join("classes.json")).unwrap(), classes);
    }
    // The same classes resume.
    let r = train_dataset(&longer, faces(24), &run, true, Verbosity::Quiet).unwrap();
    assert_eq!((r.started_at, r.steps), (3, 6));
}

/// Regression: two values that sanitize to one folder name (`light blue`, `light_blue`)
/// trained the first into it, then refused the second as "a folder that holds a run".
#[test]
fn split_values_with_colliding_folder_names_get_their_own_folders() {
    use facesynth::gan::train::value_dirs;
    let values = ["light blue", "light_blue", "red"].map(String::from);
    let dirs = value_dirs(&values);
    assert_eq!(
        dirs[2], "red",
        "a value without a twin keeps its plain name"
    );
    assert!(dirs[0].starts_with("light_blue-") && dirs[1].starts_with("light_blue-"));
    assert_ne!(dirs[0], dirs[1]);
    assert_eq!(value_dirs(&values), dirs, "stable");
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let spec = tiny_split();
    let ds = faces_named(18, |_, c| match c {
        "black" => "light blue".into(),
        "blonde" => "light_blue".into(),
        c => c.into(),
    });
    let r = train_dataset(&spec, ds, &run, false, Verbosity::Quiet).unwrap();
    assert_eq!(r.split.len(), 3);
    assert_eq!(
        std::fs::read_to_string(run.join("summary.csv"))
            .unwrap()
            .lines()
            .count(),
        4
    );
    let out = dir.path().join("gen");
    let g = generate(&GenerateSpec {
        run: run.clone(),
        out: out.clone(),
        per_class: Some(1),
        ..GenerateSpec::default()
    })
    .unwrap();
    assert_eq!(g.images, 3);
    for d in &dirs[..2] {
        assert!(run.join(d).join("latest.json").is_file(), "{d}");
        assert!(out.join(d).join("0.png").is_file(), "{d}");
    }
}

/// Regression: a second `generate` into the same `--out` left the first one's images,
/// strips and class folders beside its own.
#[test]
fn generate_replaces_its_own_earlier_outputs_and_refuses_other_folders() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_dataset(
        &tiny(ModelKind::Acgan, 2),
        faces(12),
        &run,
        false,
        Verbosity::Quiet,
    )
    .unwrap();
    let out = dir.path().join("gen");
    let spec = |n: usize| GenerateSpec {
        run: run.clone(),
        out: out.clone(),
        n,
        ..GenerateSpec::default()
    };
    generate(&GenerateSpec {
        attrs: vec![("hair_color".into(), "black".into())],
        interpolate: Some(3),
        mean_sweep: true,
        ..spec(6)
    })
    .unwrap();
    assert!(out.join("5.png").is_file() && out.join("mean_sweep.png").is_file());
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    generate(&spec(2)).unwrap();
    let names = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&out),
        ["0.png", "1.png", "generate.json", "grid.png", "notes.txt"]
    );
    // Regression: a call killed part way (its list still marked incomplete, its images
    // unlisted) made the folder look like someone else's and the rerun was refused; the
    // rerun now clears generate's names and keeps the person's file.
    let list = out.join(facesynth::gan::generate::MANIFEST);
    std::fs::write(&list, r#"{"files": [], "incomplete": true}"#).unwrap();
    std::fs::create_dir_all(out.join("black")).unwrap();
    for f in ["7.png", "black/0.png", ".8.png.4242.tmp"] {
        std::fs::write(out.join(f), "killed call").unwrap();
    }
    generate(&spec(2)).unwrap();
    assert_eq!(
        names(&out),
        ["0.png", "1.png", "generate.json", "grid.png", "notes.txt"]
    );
    let listed = std::fs::read_to_string(&list).unwrap();
    assert!(!listed.contains("incomplete"), "{listed}");
    generate(&GenerateSpec {
        per_class: Some(1),
        ..spec(2)
    })
    .unwrap();
    assert_eq!(
        names(&out),
        [
            "black",
            "blonde",
            "generate.json",
            "grid.png",
            "notes.txt",
            "red"
        ]
    );
    // A folder generate did not write is refused and left as it is.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("0.png"), "not ours").unwrap();
    let e = generate(&GenerateSpec {
        out: other.clone(),
        ..spec(2)
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&other.display().to_string()) && e.contains("generate.json"),
        "{e}"
    );
    assert_eq!(names(&other), ["0.png"]);
    // A folder an earlier version of generate filled (its names, a grid, no list): taken.
    let legacy = dir.path().join("legacy");
    std::fs::create_dir_all(&legacy).unwrap();
    for f in ["0.png", "1.png", "2.png", "grid.png"] {
        std::fs::write(legacy.join(f), "old").unwrap();
    }
    generate(&GenerateSpec {
        out: legacy.clone(),
        ..spec(2)
    })
    .unwrap();
    assert_eq!(
        names(&legacy),
        ["0.png", "1.png", "generate.json", "grid.png"]
    );
    // Regression: a repeated attribute was accepted, one of its values dropped.
    let e = generate(&GenerateSpec {
        attrs: vec![
            ("hair_color".into(), "black".into()),
            ("hair_color".into(), "red".into()),
        ],
        ..spec(2)
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("`hair_color` is given twice"), "{e}");
}

/// Regression: asking a split run for a value training skipped said only "no model".
#[test]
fn a_skipped_split_value_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let spec = tiny_split();
    let ds = faces_named(13, |i, c| if i == 12 { "green".into() } else { c.into() });
    let r = train_dataset(&spec, ds, &run, false, Verbosity::Quiet).unwrap();
    assert!(r.warnings.iter().any(|w| w.contains("green")), "{r:?}");
    let ask = |v: &str| {
        generate(&GenerateSpec {
            run: run.clone(),
            out: dir.path().join("gen"),
            n: 2,
            attrs: vec![("hair_color".into(), v.into())],
            ..GenerateSpec::default()
        })
        .unwrap_err()
        .to_string()
    };
    let e = ask("green");
    assert!(
        e.contains("fewer than 2 images") && e.contains("models: black, blonde, red"),
        "{e}"
    );
    let e = ask("purple");
    assert!(
        e.contains("unknown value (known: black, blonde, green, red)"),
        "{e}"
    );
}

/// Regression: a long-format answers file given as `--labels` trained on an attribute
/// named `attribute`; two rows labelling one image differently trained it under both.
#[test]
fn labels_in_long_format_or_with_conflicting_rows_are_refused() {
    use facesynth::gan::data::{load, DataSource};
    let dir = tempfile::tempdir().unwrap();
    let data = synth_folder(dir.path(), 8);
    let load_with = |csv: &Path| {
        load(&DataSource {
            data: Some(&data),
            labels: Some(csv),
            mnist: None,
            attrs: vec!["hair_color".into()],
            need_labels: true,
            size: 16,
        })
    };
    let long = dir.path().join("answers.csv");
    std::fs::write(
        &long,
        "file,attribute,value\nimages/00000.png,hair_color,red\n",
    )
    .unwrap();
    let e = load_with(&long).unwrap_err().to_string();
    assert!(
        e.contains("answers.csv") && e.contains("long-format"),
        "{e}"
    );
    let wide = dir.path().join("wide.csv");
    std::fs::write(
        &wide,
        "file,hair_color\r\nimages/00000.png,red\r\nimages/00001.png,red\r\n\
         images/00001.png,red\r\nimages/00000.png,black\r\n",
    )
    .unwrap();
    let e = load_with(&wide).unwrap_err().to_string();
    assert!(
        e.contains("wide.csv") && e.contains("lines 2 and 5") && e.contains("images/00000.png"),
        "{e}"
    );
    // The same row twice is one image.
    std::fs::write(
        &wide,
        "file,hair_color\nimages/00000.png,red\nimages/00001.png,red\nimages/00001.png,red\n",
    )
    .unwrap();
    assert_eq!(load_with(&wide).unwrap().len(), 2);
    // A row of the wrong length after blank lines: its editor line (the csv crate's
    // count, which skips blank lines, said line 3).
    std::fs::write(
        &wide,
        "file,hair_color
images/00000.png,red


images/00001.png,red,x
",
    )
    .unwrap();
    let e = load_with(&wide).unwrap_err().to_string();
    assert!(
        e.contains("wide.csv") && e.contains("line 5: 3 field(s)"),
        "{e}"
    );
}

/// Regression: labels whose names match no dataset file ("images/102.jpg" for a
/// prepared "images/102.png" in another folder layout) said "no image could be decoded".
#[test]
fn label_names_that_match_no_image_are_named() {
    use facesynth::gan::data::{load, DataSource};
    let dir = tempfile::tempdir().unwrap();
    let data = synth_folder(dir.path(), 8);
    let truth = std::fs::read_to_string(data.join("truth.csv")).unwrap();
    let load_with = |text: String| {
        let csv = dir.path().join("tags.csv");
        std::fs::write(&csv, text).unwrap();
        load(&DataSource {
            data: Some(&data),
            labels: Some(&csv),
            mnist: None,
            attrs: vec!["hair_color".into()],
            need_labels: true,
            size: 16,
        })
    };
    // `images/5.jpg` for the `images/5.png` prep wrote: found (the label store's names).
    let ds = load_with(truth.replace(".png,", ".jpg,")).unwrap();
    assert_eq!((ds.len(), ds.skipped.len()), (8, 0));
    // Names of another folder: said so, with the first few.
    let e = load_with(truth.replace("images/", "faces/"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tags.csv")
            && e.contains("none of its 8 file names matches an image")
            && e.contains("`faces/00000.png` (line 2)")
            && e.contains("and 5 more")
            && !e.contains("decoded"),
        "{e}"
    );
    // One stray name among good ones: skipped, named.
    let first = truth.lines().nth(1).unwrap();
    let stray = first.replacen("images/00000", "images/nope", 1);
    let ds = load_with(format!("{truth}{stray}\n")).unwrap();
    assert_eq!(ds.len(), 8);
    assert!(
        ds.skipped[0].contains("images/nope.png") && ds.skipped[0].contains("line 10"),
        "{:?}",
        ds.skipped
    );
}

/// The README's first command, whole: prep, label, train and the three report pages, at
/// the fewest faces it takes (a change to training's or labeling's checks broke it with
/// every other test green; about two minutes).
#[test]
fn the_whole_demo_runs() {
    let dir = tempfile::tempdir().unwrap();
    let demo = |faces: &str, out: &Path| {
        bin()
            .args(["demo", "--quiet", "--faces", faces, "--out"])
            .arg(out)
            .output()
            .unwrap()
    };
    let out = dir.path().join("demo");
    let o = demo("24", &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "data/manifest.csv",
        "data/labels_wide.csv",
        "data/report.html",
        "data/labels/report.html",
        "gan/run/report.html",
        "gan/run/latest.json",
        "gan/samples/grid.png",
    ] {
        assert!(out.join(f).is_file(), "no {f}");
    }
    // Too few faces to label and train on: a bad command line, nothing written.
    let few = dir.path().join("few");
    let o = demo("5", &few);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!few.exists());
}

/// Regression: a rerun of `demo` into its folder prepared the last demo's raw files too
/// and continued its label store, so the same arguments gave other results; a folder a
/// demo did not make is refused, not cleared.
#[test]
fn demo_reruns_from_scratch_and_spares_folders_it_did_not_make() {
    let dir = tempfile::tempdir().unwrap();
    let demo = |out: &Path, faces: &str, seed: &str| {
        bin()
            .args(["demo", "--quiet", "--until", "prep", "--faces", faces])
            .args(["--seed", seed, "--out"])
            .arg(out)
            .output()
            .unwrap()
    };
    let (again, fresh) = (dir.path().join("again"), dir.path().join("fresh"));
    assert!(demo(&again, "24", "1").status.success());
    // A label store from the last demo's later stages.
    std::fs::create_dir_all(again.join("data/labels")).unwrap();
    std::fs::write(again.join("data/labels/labels.csv"), "stale").unwrap();
    let o = demo(&again, "12", "2");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(demo(&fresh, "12", "2").status.success());
    for f in ["raw-truth.csv", "data/manifest.csv"] {
        assert_eq!(
            std::fs::read(again.join(f)).unwrap(),
            std::fs::read(fresh.join(f)).unwrap(),
            "{f}"
        );
    }
    assert!(!again.join("data/labels").exists());
    // Someone's folder with a raw/ of their own.
    let mine = dir.path().join("mine");
    std::fs::create_dir_all(mine.join("raw")).unwrap();
    std::fs::write(mine.join("raw/keep.txt"), "mine").unwrap();
    let o = demo(&mine, "12", "2");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("facesynth-demo.json") && err.contains("raw") && !err.contains("--resume"),
        "{err}"
    );
    assert!(mine.join("raw/keep.txt").is_file());
}

/// Regression: Ctrl-C during `train` lost every step since the last checkpoint (500 by
/// default) without a word. The run now saves at the step it reached, says so, and
/// `--resume` goes on from there.
#[cfg(unix)]
#[test]
fn ctrl_c_saves_a_checkpoint_and_resume_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    synth_folder(dir.path(), 12);
    let run = dir.path().join("run");
    let tiny_args = ["--size", "16", "--batch", "4", "--width", "4", "--quiet"];
    let mut cmd = bin();
    cmd.current_dir(dir.path())
        .args([
            "train", "--data", "data", "--steps", "100000", "--out", "run",
        ])
        .args(tiny_args)
        .stderr(std::process::Stdio::piped());
    // SIGINT as a terminal's foreground job has it: a test run started in the background
    // by a non-interactive shell ignores it, and so would the child, rightly.
    // SAFETY: only an async-signal-safe call between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    // Wait until training runs (the real-sample grid is written first), then Ctrl-C.
    let t0 = std::time::Instant::now();
    while !run.join("samples/real.png").exists() && t0.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("interrupted at step") && err.contains("--resume"),
        "{err}"
    );
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("latest.json")).unwrap()).unwrap();
    let step = latest["step"].as_u64().unwrap();
    assert!(step > 0 && step < 100000, "{latest}");
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(metrics.lines().count() > 1, "the steps' metrics are kept");
    // --resume starts at the saved step (it stops at a new, nearer target).
    let (target, run_dir) = ((step + 2).to_string(), run.to_str().unwrap());
    let resume = ["train", "--resume", "--steps", &target, "--out", run_dir];
    crate::common::run_ok(&[&resume[..], &tiny_args[..]].concat());
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("latest.json")).unwrap()).unwrap();
    assert_eq!(latest["step"].as_u64(), Some(step + 2));
}

/// Regression: a folder that does not exist was called "not a facesynth run folder" (no
/// settings.json) or a folder with "no label store; run label init".
#[test]
fn a_missing_folder_is_called_missing() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone");
    let g = gone.to_str().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    for args in [
        vec!["generate", "--checkpoint", g, "--out", o],
        vec!["eval", "--run", g],
        vec!["label", "round", "--data", g],
        vec!["label", "status", "--data", g],
    ] {
        let r = bin().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(g) && err.contains("no such folder"),
            "{args:?}: {err}"
        );
    }
}
