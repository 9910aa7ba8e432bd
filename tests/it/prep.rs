//! prep end to end: bad inputs, dedup precision and recall on real images, resume after
//! SIGKILL, re-runs that pick up new files, pipeline files.

use crate::common::{first_files, run_ok, shared_data};
use facesynth::dataset::manifest::{self, ManifestRow, Status};
use facesynth::prep::{self, PrepSpec};
use facesynth::progress::Verbosity;
use image::{DynamicImage, ImageFormat, RgbImage};
use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::path::{Path, PathBuf};

pub(crate) fn encode(img: &DynamicImage, f: ImageFormat) -> Vec<u8> {
    let mut c = Cursor::new(Vec::new());
    img.write_to(&mut c, f).unwrap();
    c.into_inner()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid PNG header that declares a 60000 x 60000 image (a decompression bomb).
fn png_bomb() -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&60000u32.to_be_bytes());
    ihdr.extend_from_slice(&60000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    v.extend_from_slice(&13u32.to_be_bytes());
    v.extend_from_slice(&ihdr);
    v.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(b"IEND");
    v.extend_from_slice(&crc32(b"IEND").to_be_bytes());
    v
}

pub(crate) fn face(i: usize, size: u32) -> DynamicImage {
    let spec = facesynth::synth::SynthSpec {
        n: 1,
        image_size: size,
        seed: 99,
        ..Default::default()
    };
    DynamicImage::ImageRgb8(facesynth::synth::synth_one(&spec, i).1)
}

/// `OUT/report.json`.
fn report_of(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

/// `facesynth prep RAW --out OUT -q MORE...`, which must succeed; its report.
fn prep_quietly(raw: &Path, out: &Path, more: &[&str]) -> serde_json::Value {
    let args = [
        "prep",
        raw.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ];
    run_ok(&[&args[..], more].concat());
    report_of(out)
}

fn by_source(rows: &[ManifestRow]) -> HashMap<String, ManifestRow> {
    rows.iter().map(|r| (r.source.clone(), r.clone())).collect()
}

#[test]
fn every_bad_input_is_a_rejected_row_and_the_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(raw.join("sub dir/ünï")).unwrap();
    let good = face(0, 96);
    let jpeg = encode(&good, ImageFormat::Jpeg);
    let png = encode(&good, ImageFormat::Png);
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("good.png", png.clone()),
        (
            "sub dir/ünï/good two.jpg",
            encode(&face(1, 96), ImageFormat::Jpeg),
        ),
        ("truncated.jpg", jpeg[..jpeg.len() / 2].to_vec()),
        ("truncated.png", png[..png.len() / 2].to_vec()),
        ("empty.jpg", vec![]),
        (
            "random.png",
            (0..5000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        ),
        ("text.jpg", b"this is a text file, not a JPEG".to_vec()),
        ("bomb.png", png_bomb()),
        (
            "tiny.png",
            encode(
                &DynamicImage::ImageRgb8(RgbImage::new(1, 1)),
                ImageFormat::Png,
            ),
        ),
        ("png named.jpg", encode(&face(2, 96), ImageFormat::Png)),
    ];
    for (name, bytes) in &files {
        std::fs::write(raw.join(name), bytes).unwrap();
    }
    let out = dir.path().join("out");
    let o = run_ok(&[
        "prep",
        raw.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        o.stderr.is_empty(),
        "--quiet printed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows = by_source(&manifest::read(&out.join("manifest.csv")).unwrap());
    assert_eq!(rows.len(), files.len());
    for name in ["good.png", "sub dir/ünï/good two.jpg", "png named.jpg"] {
        assert_eq!(rows[name].status, Status::Kept, "{name}: {:?}", rows[name]);
        assert!(out.join(&rows[name].output).is_file());
    }
    for name in [
        "truncated.jpg",
        "truncated.png",
        "empty.jpg",
        "random.png",
        "text.jpg",
        "bomb.png",
    ] {
        let r = &rows[name];
        assert_eq!(r.status, Status::Rejected, "{name}: {r:?}");
        assert!(
            r.reason.starts_with("decode"),
            "{name}: reason {}",
            r.reason
        );
        assert!(r.output.is_empty());
    }
    assert_eq!(rows["tiny.png"].reason, "too_small");
    assert!(out.join("report.json").is_file() && out.join("stats.json").is_file());
}

#[test]
fn unreadable_input_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let o = crate::common::bin()
        .args(["prep", "/nonexistent/facesynth-input", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/nonexistent/facesynth-input") && err.lines().count() == 1,
        "{err}"
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[prep]\nsize = \"big\"\n").unwrap();
    let o = crate::common::bin()
        .args([
            "prep",
            dir.path().to_str().unwrap(),
            "--out",
            "/tmp/x",
            "--pipeline",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.toml"));
    // Regression: a value out of range in the file was named by its key alone.
    std::fs::write(&bad, "[prep.resize]\nsize = 4\n").unwrap();
    let run = |more: &[&str]| {
        crate::common::bin()
            .args(["prep", dir.path().to_str().unwrap(), "--out"])
            .arg(dir.path().join("o"))
            .args(["--pipeline", bad.to_str().unwrap()])
            .args(more)
            .output()
            .unwrap()
    };
    let o = run(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bad.toml") && err.contains("resize.size"),
        "{err}"
    );
    // A flag over the file's value: the run goes on.
    let o = run(&["--size", "32"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Makes the dedup benchmark set of the issue from real images: 6 variants of each of
/// `n` originals and `m` unrelated images. Returns each file's original (its group).
fn make_dedup_set(src: &Path, raw: &Path, n: usize, m: usize) -> HashMap<String, String> {
    let mut group = HashMap::new();
    std::fs::create_dir_all(raw).unwrap();
    // The source set itself holds duplicates: take only images whose 16x16 grey
    // thumbnails differ clearly (mean absolute difference >= 8 levels) from those taken,
    // a criterion independent of the hashes under test.
    let mut chosen: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for p in first_files(src, 3 * (n + m)) {
        let thumb = image::open(&p)
            .unwrap()
            .resize_exact(16, 16, image::imageops::FilterType::Triangle)
            .into_luma8()
            .into_raw();
        let distinct = chosen.iter().all(|(_, t)| {
            t.iter()
                .zip(&thumb)
                .map(|(a, b)| a.abs_diff(*b) as u32)
                .sum::<u32>() as f32
                / 256.0
                >= 8.0
        });
        if distinct {
            chosen.push((p, thumb));
        }
        if chosen.len() == n + m {
            break;
        }
    }
    for (i, p) in chosen.into_iter().map(|c| c.0).enumerate() {
        let bytes = std::fs::read(&p).unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        let id = format!("g{i}");
        let mut put = |name: String, data: Vec<u8>| {
            std::fs::write(raw.join(&name), data).unwrap();
            group.insert(name, id.clone());
        };
        put(format!("{id}.jpg"), bytes.clone());
        if i >= n {
            continue;
        }
        let rgb = img.to_rgb8();
        let (w, h) = rgb.dimensions();
        let mut q40 = Cursor::new(Vec::new());
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut q40, 40)
            .encode_image(&rgb)
            .unwrap();
        put(format!("{id}_q40.jpg"), q40.into_inner());
        let small = img.resize_exact(
            w * 7 / 10,
            h * 7 / 10,
            image::imageops::FilterType::Lanczos3,
        );
        put(format!("{id}_small.png"), encode(&small, ImageFormat::Png));
        let bright = image::ImageBuffer::from_fn(w, h, |x, y| {
            let p = rgb.get_pixel(x, y);
            image::Rgb(p.0.map(|c| (c as f32 * 1.12).min(255.0) as u8))
        });
        put(
            format!("{id}_bright.png"),
            encode(&DynamicImage::ImageRgb8(bright), ImageFormat::Png),
        );
        let b = (w * 3 / 100).max(1);
        let cropped = img.crop_imm(b, b, w - 2 * b, h - 2 * b);
        put(format!("{id}_crop.png"), encode(&cropped, ImageFormat::Png));
        put(format!("{id}_resave.png"), encode(&img, ImageFormat::Png));
        put(format!("{id}_copy.jpg"), bytes);
    }
    group
}

/// Pair precision and recall of the manifest's groups against the true groups.
fn pair_scores(rows: &[ManifestRow], truth: &HashMap<String, String>) -> (f64, f64) {
    let pred: HashMap<&str, &str> = rows
        .iter()
        .filter(|r| r.status != Status::Rejected)
        .map(|r| {
            (
                r.source.as_str(),
                if r.dup_of.is_empty() {
                    r.source.as_str()
                } else {
                    r.dup_of.as_str()
                },
            )
        })
        .collect();
    let names: Vec<&String> = truth.keys().collect();
    let (mut tp, mut fp, mut fnn) = (0, 0, 0);
    for i in 0..names.len() {
        for j in i + 1..names.len() {
            let same_truth = truth[names[i]] == truth[names[j]];
            let same_pred = matches!((pred.get(names[i].as_str()), pred.get(names[j].as_str())), (Some(a), Some(b)) if a == b);
            match (same_truth, same_pred) {
                (true, true) => tp += 1,
                (false, true) => {
                    fp += 1;
                    eprintln!("false pair: {} {}", names[i], names[j]);
                }
                (true, false) => fnn += 1,
                _ => {}
            }
        }
    }
    (
        tp as f64 / (tp + fp).max(1) as f64,
        tp as f64 / (tp + fnn).max(1) as f64,
    )
}

/// Regression: different faces the coarse hashes put within pHash and dHash 10 of each
/// other (anime drawings aligned by their crop, people photographed under one light) were
/// dropped as near duplicates, and chains of such pairs grouped dozens under one keeper.
/// None of these is a duplicate of another.
#[test]
fn different_faces_alike_in_the_hashes_are_kept() {
    let (Some(anime), Some(yale)) = (
        shared_data("anime-faces-64/images"),
        shared_data("photos/yale"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    // Pairs and a star the reviewer found merged (anime), and ten people's happy and
    // left-lit photos (Yale).
    for n in [
        22506, 22923, 23034, 26326, 33076, 8197, 27315, 23739, 825, 22589, 23749, 24067, 24852,
    ] {
        std::fs::copy(anime.join(format!("{n}.jpg")), raw.join(format!("{n}.jpg"))).unwrap();
    }
    for s in ["01", "02", "03", "06", "07", "09", "10", "13", "14", "15"] {
        for light in ["happy", "leftlight"] {
            let name = format!("subject{s}.{light}");
            std::fs::copy(yale.join(&name), raw.join(&name)).unwrap();
        }
    }
    let out = dir.path().join("out");
    prep::run(&raw, &out, &PrepSpec::default(), Verbosity::Quiet).unwrap();
    let rows = manifest::read(&out.join("manifest.csv")).unwrap();
    assert_eq!(rows.len(), 33);
    let merged: Vec<String> = rows
        .iter()
        .filter(|r| r.status != Status::Kept)
        .map(|r| format!("{} {} {}", r.source, r.reason, r.dup_of))
        .collect();
    assert!(merged.is_empty(), "{merged:?}");
}

/// Regression: a run killed while writing its manifest left `.manifest.csv.PID.tmp` in
/// OUT for good (the pid in its name: no later write replaces it); a rerun removes it.
#[test]
fn a_killed_runs_temporaries_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    face(3, 96).save(raw.join("a.png")).unwrap();
    let out = dir.path().join("out");
    prep::run(&raw, &out, &PrepSpec::default(), Verbosity::Quiet).unwrap();
    let torn = out.join(".manifest.csv.99999999.tmp");
    std::fs::write(&torn, "source,output\n").unwrap();
    prep::run(&raw, &out, &PrepSpec::default(), Verbosity::Quiet).unwrap();
    assert!(!torn.exists());
}

/// Regression: a source folder whose every image was a duplicate left an empty folder in
/// `OUT/images` (20,000 inputs: 19 of them).
#[test]
fn folders_left_empty_by_duplicates_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    for sub in ["first", "second/deeper"] {
        std::fs::create_dir_all(raw.join(sub)).unwrap();
        face(7, 96).save(raw.join(sub).join("a.png")).unwrap();
    }
    face(8, 96).save(raw.join("second/b.png")).unwrap();
    let out = dir.path().join("out");
    prep::run(&raw, &out, &PrepSpec::default(), Verbosity::Quiet).unwrap();
    assert!(out.join("images/first/a.png").is_file());
    assert!(out.join("images/second/b.png").is_file());
    assert!(!out.join("images/second/deeper").exists());
}

#[test]
fn dedup_pair_precision_and_recall_on_real_images() {
    let Some(src) = shared_data("anime-faces-64/images") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let truth = make_dedup_set(&src, &raw, 60, 240);
    let out = dir.path().join("out");
    prep::run(&raw, &out, &PrepSpec::default(), Verbosity::Quiet).unwrap();
    let rows = manifest::read(&out.join("manifest.csv")).unwrap();
    let (precision, recall) = pair_scores(&rows, &truth);
    eprintln!("dedup pairs: precision {precision:.4}, recall {recall:.4}");
    assert!(precision >= 0.98, "precision {precision}");
    assert!(recall >= 0.98, "recall {recall}");
    // A byte copy and its original share a group and a keeper; exact kinds are named.
    let r = by_source(&rows);
    let keeper = |s: &str| {
        if r[s].dup_of.is_empty() {
            s.to_string()
        } else {
            r[s].dup_of.clone()
        }
    };
    assert_eq!(keeper("g0_copy.jpg"), keeper("g0.jpg"));
    assert!(r.values().any(|row| row.reason == "exact_pixels"));
    // The keeper has the largest source resolution: never the 0.7x copy.
    assert_eq!(r["g0_small.png"].status, Status::Duplicate);
}

/// 240 synthetic faces of 96 px in `dir/raw`, drawn with `seed`: enough for a prep with
/// one job to be killed halfway.
fn synth_raw(dir: &Path, seed: u64) -> PathBuf {
    let raw = dir.join("raw");
    let spec = facesynth::synth::SynthSpec {
        n: 240,
        image_size: 96,
        face_fraction: (0.6, 0.9),
        seed,
        hair: None,
    };
    facesynth::synth::generate(&spec, &raw).unwrap();
    raw
}

/// Kills (SIGKILL) the prep `child` writing into `out` once its journal holds a number of
/// lines in `lines` (or it ended, or a minute passed).
fn kill_midway(mut child: std::process::Child, out: &Path, lines: std::ops::Range<usize>) {
    let journal = out.join(".facesynth/journal.jsonl");
    let t0 = std::time::Instant::now();
    loop {
        let now = std::fs::read_to_string(&journal)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if lines.contains(&now)
            || t0.elapsed().as_secs() > 60
            || child.try_wait().unwrap().is_some()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn killed_run_resumes_to_the_same_manifest_and_reruns_pick_up_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let raw = synth_raw(dir.path(), 5);
    let full = dir.path().join("full");
    let killed = dir.path().join("killed");
    let args = |out: &Path| {
        vec![
            "prep".to_string(),
            raw.to_str().unwrap().into(),
            "--out".into(),
            out.to_str().unwrap().into(),
            "--jobs".into(),
            "1".into(),
            "-q".into(),
        ]
    };
    run_ok(&args(&full).iter().map(String::as_str).collect::<Vec<_>>());

    kill_midway(
        crate::common::bin().args(args(&killed)).spawn().unwrap(),
        &killed,
        41..usize::MAX,
    );
    let o = run_ok(&args(&killed).iter().map(String::as_str).collect::<Vec<_>>());
    drop(o);
    let a = std::fs::read_to_string(full.join("manifest.csv")).unwrap();
    let b = std::fs::read_to_string(killed.join("manifest.csv")).unwrap();
    assert_eq!(a, b, "resumed manifest differs");
    let report = report_of(&killed);
    assert!(
        report["resumed"].as_u64().unwrap() > 0,
        "nothing was resumed"
    );
    // No temporary files anywhere in OUT.
    for e in walkdir::WalkDir::new(&killed) {
        let e = e.unwrap();
        assert!(
            !e.file_name().to_string_lossy().ends_with(".tmp"),
            "left behind: {}",
            e.path().display()
        );
    }
    let kept_images = walkdir::WalkDir::new(killed.join("images"))
        .into_iter()
        .filter(|e| e.as_ref().unwrap().file_type().is_file())
        .count();
    let kept_rows = manifest::kept_images(&killed).unwrap().len();
    assert_eq!(kept_images, kept_rows);

    // A re-run with two new files processes only those.
    face(500, 96).save(raw.join("images/new_a.png")).unwrap();
    face(501, 96).save(raw.join("images/new_b.png")).unwrap();
    run_ok(&args(&killed).iter().map(String::as_str).collect::<Vec<_>>());
    let report = report_of(&killed);
    assert_eq!(
        report["resumed"].as_u64().unwrap(),
        report["files"].as_u64().unwrap() - 2
    );
    let rows = by_source(&manifest::read(&killed.join("manifest.csv")).unwrap());
    assert_eq!(rows["images/new_a.png"].status, Status::Kept);
}

/// Regression: a file whose output name moved (another source took `a.png`) was redone
/// on every later run, its journal keeping the first record of the stamp.
#[test]
fn a_file_whose_output_name_moved_is_resumed_on_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    face(3, 96).save(raw.join("a.jpg")).unwrap();
    let out = dir.path().join("out");
    let resumed = || prep_quietly(&raw, &out, &[])["resumed"].as_u64().unwrap();
    assert_eq!(resumed(), 0);
    face(4, 96).save(raw.join("a.png")).unwrap();
    // The rename is said: labels keyed by `images/a.png` no longer find a.jpg's face.
    let warned = prep_quietly(&raw, &out, &[])["warnings"].to_string();
    assert!(
        warned.contains("1 unchanged file(s) got new output names")
            && warned.contains("a.jpg is now images/a_jpg.png"),
        "{warned}"
    );
    let rows = by_source(&manifest::read(&out.join("manifest.csv")).unwrap());
    assert_ne!(rows["a.jpg"].output, rows["a.png"].output);
    assert_eq!(resumed(), 2, "both files done, neither redone");
}

#[test]
fn a_duplicate_whose_keeper_is_gone_is_written_on_rerun_and_a_torn_journal_line_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    face(7, 96).save(raw.join("a.png")).unwrap();
    std::fs::copy(raw.join("a.png"), raw.join("b.png")).unwrap();
    face(8, 96).save(raw.join("c.png")).unwrap();
    let out = dir.path().join("out");
    prep_quietly(&raw, &out, &[]);
    let rows = by_source(&manifest::read(&out.join("manifest.csv")).unwrap());
    assert_eq!(rows["a.png"].status, Status::Kept);
    assert_eq!(rows["b.png"].dup_of, "a.png");
    assert!(!out.join("images/b.png").exists());

    // A run killed mid-line leaves a torn record; the keeper disappears from INPUT.
    let journal = out.join(".facesynth/journal.jsonl");
    let mut j = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    std::io::Write::write_all(&mut j, br#"{"file":"c.png","fa"#).unwrap();
    drop(j);
    std::fs::remove_file(raw.join("a.png")).unwrap();
    let report = prep_quietly(&raw, &out, &[]);
    let rows = by_source(&manifest::read(&out.join("manifest.csv")).unwrap());
    assert_eq!(rows.len(), 2);
    assert_eq!(rows["b.png"].status, Status::Kept);
    assert_eq!(rows["b.png"].output, "images/b.png");
    assert!(
        out.join("images/b.png").is_file(),
        "the new keeper's image was not made"
    );
    assert!(
        !out.join("images/a.png").exists(),
        "the removed input's image stayed"
    );
    assert_eq!(report["resumed"].as_u64(), Some(2));

    // Every journal line after the fingerprint is a whole record again, and a third run
    // reads its rows back to the same manifest.
    let text = std::fs::read_to_string(&journal).unwrap();
    let whole = text
        .lines()
        .skip(1)
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count();
    assert_eq!(
        whole,
        text.lines().count() - 2,
        "only the torn line may not parse"
    );
    let before = std::fs::read_to_string(out.join("manifest.csv")).unwrap();
    prep_quietly(&raw, &out, &[]);
    assert_eq!(
        std::fs::read_to_string(out.join("manifest.csv")).unwrap(),
        before
    );
}

#[test]
fn crop_modes_write_boxes_in_source_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    face(3, 120)
        .crop_imm(0, 0, 120, 80)
        .save(raw.join("wide.png"))
        .unwrap();
    std::fs::write(
        dir.path().join("boxes.csv"),
        "file,x,y,w,h\nwide.png,10,5,40,30\n",
    )
    .unwrap();
    let out = dir.path().join("center");
    prep_quietly(&raw, &out, &["--size", "32"]);
    let r = &manifest::read(&out.join("manifest.csv")).unwrap()[0];
    assert_eq!(
        (r.crop_x, r.crop_y, r.crop_w, r.crop_h),
        (Some(20), Some(0), Some(80), Some(80))
    );
    let img = image::open(out.join(&r.output)).unwrap();
    assert_eq!((img.width(), img.height()), (32, 32));
    let out = dir.path().join("bbox");
    let boxes = dir.path().join("boxes.csv");
    let bbox = boxes.to_str().unwrap();
    prep_quietly(
        &raw,
        &out,
        &["--crop", "bbox", "--bbox", bbox, "--margin", "0.25"],
    );
    let r = &manifest::read(&out.join("manifest.csv")).unwrap()[0];
    // 40x30 box, 25% margin each side -> 60x45, squared -> 60x60 around centre (30, 20).
    assert_eq!(
        (r.crop_x, r.crop_y, r.crop_w, r.crop_h),
        (Some(0), Some(0), Some(60), Some(60))
    );
    // `--bbox` alone asks for the box crop (it was ignored: a centre crop).
    let out = dir.path().join("bbox-alone");
    prep_quietly(&raw, &out, &["--bbox", bbox, "--margin", "0.25"]);
    let r = &manifest::read(&out.join("manifest.csv")).unwrap()[0];
    assert_eq!((r.crop_x, r.crop_w), (Some(0), Some(60)));
}

#[test]
fn every_checked_in_pipeline_file_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let cfg = facesynth::config::PipelineConfig::load(&p)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            PrepSpec::resolve(cfg.prep).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            n += 1;
        }
    }
    assert!(n >= 2);
}

/// Regression: 28 px digits (a white stroke on black) were all rejected by the face
/// defaults (too_small, then low_information); `pipelines/digits.toml` keeps them whole,
/// two writers' alike digits included.
#[test]
fn the_digits_pipeline_keeps_mnist_like_digits() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    for k in 0..6u32 {
        let img = image::GrayImage::from_fn(28, 28, |x, y| {
            // A slanted bar, one pixel further right per digit.
            let on = (8..20).contains(&y) && x.abs_diff(10 + k + y / 4) <= 1;
            image::Luma([if on { 255 } else { 0 }])
        });
        img.save(raw.join(format!("{k}.png"))).unwrap();
    }
    let spec = |file: Option<&str>| {
        let cfg = match file {
            Some(f) => {
                let p = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("pipelines")
                    .join(f);
                facesynth::config::PipelineConfig::load(&p).unwrap().prep
            }
            None => Default::default(),
        };
        PrepSpec::resolve(cfg).unwrap()
    };
    let kept = |spec: &PrepSpec, out: &str| {
        let out = dir.path().join(out);
        let r = prep::run(&raw, &out, spec, Verbosity::Quiet).unwrap();
        let rows = manifest::read(&out.join("manifest.csv")).unwrap();
        let kept = rows.iter().filter(|r| r.status == Status::Kept).count();
        // An empty dataset says so (it exited 0 without a word).
        assert_eq!(
            kept == 0,
            r.to_string()
                .contains("no image was kept (most rows: too_small)")
                && r.to_string().contains("pipelines/digits.toml"),
            "{r}"
        );
        kept
    };
    assert_eq!(
        kept(&spec(None), "faces"),
        0,
        "the face defaults reject digits"
    );
    let digits = spec(Some("digits.toml"));
    assert_eq!(kept(&digits, "digits"), 6);
    let side = image::open(dir.path().join("digits/images/0.png"))
        .unwrap()
        .width();
    assert_eq!(side, 28);
}

#[test]
fn demo_runs_and_writes_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = run_ok(&["demo", "--out", out.to_str().unwrap(), "--until", "prep"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("prepared dataset"), "{err}");
    // The prep page of the demo (the label and run pages come with later stages).
    assert!(err.contains("report: "), "{err}");
    let page = std::fs::read_to_string(out.join("data/report.html")).unwrap();
    assert!(page.contains("<section id=\"duplicates\">") && page.contains("truncated.png"));
    let rows = manifest::read(&out.join("data/manifest.csv")).unwrap();
    let count = |s| rows.iter().filter(|r| r.status == s).count();
    // The 240 faces kept, and every planted copy and thumbnail found: the default seed's
    // `thumb_0139` sits a quarter of a luma cell off its original, which half-cell
    // alignment steps split (BENCHMARKS.md, prep, session 51).
    assert_eq!(count(Status::Kept), 240);
    assert_eq!(count(Status::Duplicate), 40);
    let near = rows.iter().filter(|r| r.reason == "near");
    assert!(near.clone().all(|r| r.source.starts_with("misc/thumb_")));
    assert_eq!(near.count(), 20);
    assert_eq!(count(Status::Rejected), 3);
    let kept: HashSet<_> = manifest::kept_images(&out.join("data"))
        .unwrap()
        .into_iter()
        .collect();
    assert!(kept.iter().all(|p| out.join("data").join(p).is_file()));
    // Regression: a folder the demo made, replaced since by someone's own (their photos
    // as raw/), was deleted by the next demo there; a rerun over its own folders is fine.
    let again = || {
        crate::common::bin()
            .args(["demo", "--out", out.to_str().unwrap(), "--until", "prep"])
            .output()
            .unwrap()
    };
    std::fs::remove_dir_all(out.join("raw")).unwrap();
    std::fs::create_dir_all(out.join("raw")).unwrap();
    std::fs::write(out.join("raw/mine.txt"), "my photos").unwrap();
    let o = again();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("raw is not the one"), "{err}");
    assert!(out.join("raw/mine.txt").is_file() && out.join("data/manifest.csv").is_file());
    std::fs::remove_dir_all(out.join("raw")).unwrap();
    assert!(again().status.success());
    assert!(again().status.success(), "a rerun over its own folders");
    // Regression: `synth --n 0` wrote a truth.csv without its header; a bad command line.
    let o = crate::common::bin()
        .args(["synth", "--n", "0", "--out"])
        .arg(dir.path().join("none"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!dir.path().join("none").exists());
}

/// `--flip`: a face and its mirror image are near duplicates only when flip matching is
/// on; an unrelated face is kept either way.
#[test]
fn flip_aware_dedup_groups_a_mirrored_copy() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    // A face with a dark block at its left edge, so that its mirror image differs.
    let mut img = face(3, 96).to_rgb8();
    for y in 0..96 {
        for x in 0..24 {
            img.put_pixel(x, y, image::Rgb([20, 30, 120]));
        }
    }
    let mirrored = image::imageops::flip_horizontal(&img);
    let save = |name: &str, im: &RgbImage| {
        let bytes = encode(&DynamicImage::ImageRgb8(im.clone()), ImageFormat::Png);
        std::fs::write(raw.join(name), bytes).unwrap();
    };
    save("a.png", &img);
    save("b_mirror.png", &mirrored);
    save("c_other.png", &face(11, 96).to_rgb8());
    let statuses = |flip: bool, out: &Path| {
        let mut spec = PrepSpec::default();
        spec.dedup.flip = flip;
        prep::run(&raw, out, &spec, Verbosity::Quiet).unwrap();
        let rows = manifest::read(&out.join("manifest.csv")).unwrap();
        let r = by_source(&rows);
        ["a.png", "b_mirror.png", "c_other.png"].map(|s| (r[s].status, r[s].reason.clone()))
    };
    let plain = statuses(false, &dir.path().join("plain"));
    assert!(plain.iter().all(|(s, _)| *s == Status::Kept), "{plain:?}");
    let flip = statuses(true, &dir.path().join("flip"));
    assert_eq!(flip[0].0, Status::Kept, "{flip:?}");
    assert_eq!(flip[1], (Status::Duplicate, "near".to_string()), "{flip:?}");
    assert_eq!(flip[2].0, Status::Kept, "{flip:?}");
    // Mirror matching asked for on a folder prepped without it: the mirror hashes are made.
    let again = statuses(true, &dir.path().join("plain"));
    assert_eq!(
        again[1],
        (Status::Duplicate, "near".to_string()),
        "{again:?}"
    );
    // A pipeline file turns mirror matching on; --no-flip-dedup turns it off again.
    let pipe = dir.path().join("flip.toml");
    std::fs::write(&pipe, "[prep.dedup]\nflip = true\n").unwrap();
    for (flag, mirror) in [
        (None, Status::Duplicate),
        (Some("--no-flip-dedup"), Status::Kept),
    ] {
        let out = dir.path().join(format!("cli-{}", flag.is_some()));
        let mut more = vec!["--pipeline", pipe.to_str().unwrap()];
        more.extend(flag);
        prep_quietly(&raw, &out, &more);
        let r = by_source(&manifest::read(&out.join("manifest.csv")).unwrap());
        assert_eq!(r["b_mirror.png"].status, mirror, "{flag:?}");
    }
}

/// The quality checks judge the resized crop before `--normalize`: auto-contrast would
/// stretch a nearly black picture into a bright, noisy one and let it through.
#[test]
fn a_dark_image_is_rejected_before_auto_contrast_could_hide_it() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let bright = face(0, 96).to_rgb8();
    let dark = RgbImage::from_fn(96, 96, |x, y| {
        image::Rgb(bright.get_pixel(x, y).0.map(|c| c / 8))
    });
    std::fs::write(
        raw.join("bright.png"),
        encode(&DynamicImage::ImageRgb8(bright), ImageFormat::Png),
    )
    .unwrap();
    std::fs::write(
        raw.join("dark.png"),
        encode(&DynamicImage::ImageRgb8(dark), ImageFormat::Png),
    )
    .unwrap();
    let out = dir.path().join("out");
    prep_quietly(&raw, &out, &["--normalize", "autocontrast"]);
    let rows = by_source(&manifest::read(&out.join("manifest.csv")).unwrap());
    assert_eq!(rows["bright.png"].status, Status::Kept, "{rows:?}");
    let dark = &rows["dark.png"];
    assert_eq!(
        (dark.status, dark.reason.as_str()),
        (Status::Rejected, "too_dark")
    );
}

/// A rerun with other settings rewrites every image; killed halfway, its folder must not
/// pass for the old run's: the old manifest goes first, readers refuse the folder until
/// the rerun finishes, and the finished rerun's images are all of the new settings.
#[test]
fn a_killed_rerun_with_other_settings_leaves_no_manifest_over_mixed_images() {
    let dir = tempfile::tempdir().unwrap();
    let raw = synth_raw(dir.path(), 6);
    let out = dir.path().join("out");
    let args = |size: &str| {
        let (raw, out) = (raw.to_str().unwrap(), out.to_str().unwrap());
        [
            "prep", raw, "--out", out, "--jobs", "1", "-q", "--size", size,
        ]
        .map(String::from)
    };
    run_ok(&args("64").each_ref().map(String::as_str));
    assert!(manifest::kept_images(&out).unwrap().len() > 100);

    // Over 40 lines of the new settings' journal, not the old one's 241.
    let child = crate::common::bin().args(args("32")).spawn().unwrap();
    kill_midway(child, &out, 41..200);
    assert!(
        !out.join("manifest.csv").exists(),
        "the old manifest stayed"
    );
    let e = manifest::kept_images(&out).unwrap_err().to_string();
    assert!(e.contains("has not finished"), "{e}");
    let o = crate::common::bin()
        .args(["label", "init", "--schema", "labels/anime.toml", "--data"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("has not finished"));
    // A class-conditional training's labels file beside it does not let it through.
    std::fs::write(out.join("labels_wide.csv"), "file,hair_color\n").unwrap();
    let labeled = facesynth::gan::data::DataSource {
        data: Some(&out),
        labels: None,
        mnist: None,
        attrs: vec!["hair_color".into()],
        need_labels: true,
        size: 32,
    };
    let e = facesynth::gan::data::load(&labeled)
        .unwrap_err()
        .to_string();
    assert!(e.contains("has not finished"), "{e}");
    // Nor does another prep read it as its input.
    let again = dir.path().join("again");
    let o = crate::common::bin()
        .args([
            "prep",
            out.to_str().unwrap(),
            "--out",
            again.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("has not finished"));
    std::fs::remove_file(out.join("labels_wide.csv")).unwrap();

    run_ok(&args("32").each_ref().map(String::as_str));
    let kept = manifest::kept_images(&out).unwrap();
    assert!(kept.len() > 100);
    for rel in kept {
        assert_eq!(
            image::image_dimensions(out.join(&rel)).unwrap(),
            (32, 32),
            "{rel:?}"
        );
    }
}

/// Regression: the blur score was taken after the resize to `--size`, so a larger output
/// (upscaling softens) rejected as `blurry` faces that passed at 64 px. It is measured at
/// one side now: a fine-grained 96 px face passes at every size.
#[test]
fn blur_does_not_depend_on_the_output_size() {
    use rand::{RngExt, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    // Low-contrast grain (sd about 6 grey levels) on mid grey: sharp at 64 px.
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let img = RgbImage::from_fn(96, 96, |_, _| {
        let v = 128 + rng.random_range(-10i32..=10);
        image::Rgb([v as u8; 3])
    });
    img.save(raw.join("grain.png")).unwrap();
    for size in ["64", "192", "256"] {
        let out = dir.path().join(format!("out{size}"));
        prep_quietly(&raw, &out, &["--size", size]);
        let rows = manifest::read(&out.join("manifest.csv")).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, Status::Kept, "--size {size}: {:?}", rows[0]);
    }
}

/// Regression: the keep rule compared whole sources, so with boxes a small face in a large
/// picture (a collage) was kept over the same face at full size in its own file.
#[test]
fn the_keep_rule_weighs_the_face_not_the_whole_source() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let face = RgbImage::from_fn(120, 120, |x, y| {
        let (fx, fy) = (x as f32 / 120.0, y as f32 / 120.0);
        let v = |a: f32| (128.0 + 100.0 * a) as u8;
        image::Rgb([
            v((fx * 6.0).sin() * (fy * 4.0).cos()),
            v((fy * 5.0).sin()),
            v(((fx + fy) * 3.0).cos()),
        ])
    });
    face.save(raw.join("portrait.png")).unwrap();
    let mut collage = RgbImage::from_pixel(400, 400, image::Rgb([90, 90, 90]));
    let small = image::imageops::resize(&face, 60, 60, image::imageops::FilterType::Lanczos3);
    image::imageops::replace(&mut collage, &small, 10, 10);
    collage.save(raw.join("collage.png")).unwrap();
    let boxes = dir.path().join("boxes.csv");
    std::fs::write(
        &boxes,
        "file,x,y,w,h\ncollage.png,10,10,60,60\nportrait.png,0,0,120,120\n",
    )
    .unwrap();
    // Smooth on purpose (so the two copies hash alike): not a blur test.
    let pipeline = dir.path().join("smooth.toml");
    std::fs::write(&pipeline, "[prep.quality]\nmin_laplacian_var = 0.0\n").unwrap();
    let out = dir.path().join("out");
    let (b, p) = (boxes.to_str().unwrap(), pipeline.to_str().unwrap());
    prep_quietly(
        &raw,
        &out,
        &["--crop", "bbox", "--bbox", b, "--pipeline", p],
    );
    let rows = by_source(&manifest::read(&out.join("manifest.csv")).unwrap());
    assert_eq!(rows["portrait.png"].status, Status::Kept, "{rows:?}");
    assert_eq!(rows["collage.png"].reason, "near", "{rows:?}");
}

/// An empty dataset's warning follows its commonest reason (it blamed the quality limits
/// when no file decoded), and an empty INPUT is named.
#[test]
fn an_empty_result_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let empty = prep::run(
        &raw,
        &dir.path().join("o1"),
        &PrepSpec::default(),
        Verbosity::Quiet,
    )
    .unwrap();
    assert!(empty.to_string().contains("holds no file"), "{empty}");
    std::fs::write(raw.join("a.jpg"), "not an image").unwrap();
    std::fs::write(raw.join("b.png"), "nor this").unwrap();
    let r = prep::run(
        &raw,
        &dir.path().join("o2"),
        &PrepSpec::default(),
        Verbosity::Quiet,
    )
    .unwrap();
    let text = r.to_string();
    assert!(text.contains("most rows: decode"), "{text}");
    assert!(!text.contains("[prep.quality]"), "{text}");
    // No kept image, no stats.json (its std of 0 would be divided by).
    assert!(!dir.path().join("o2/stats.json").exists());
}

/// Regression: a re-prep with other settings over a labeled dataset said nothing, and
/// the label store's exports kept the old images.
#[test]
fn a_reprep_over_a_label_store_says_to_redo_its_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    for (i, v) in [40u8, 120, 200].into_iter().enumerate() {
        let img = image::RgbImage::from_fn(80, 80, |x, y| {
            image::Rgb([v, (x * 3) as u8, (y * 3 + i as u32 * 50) as u8])
        });
        img.save(raw.join(format!("{i}.png"))).unwrap();
    }
    let out = dir.path().join("out");
    let run = |size: u32| {
        let mut spec = PrepSpec::default();
        spec.resize.size = size;
        prep::run(&raw, &out, &spec, Verbosity::Quiet)
            .unwrap()
            .to_string()
    };
    assert!(!run(64).contains("label store"));
    let schema = facesynth::labels::Paths::new(&out).schema();
    std::fs::create_dir_all(schema.parent().unwrap()).unwrap();
    std::fs::write(&schema, "").unwrap();
    // The same settings: every file resumed, nothing changed.
    assert!(!run(64).contains("label store"));
    let text = run(32);
    assert!(
        text.contains("label store") && text.contains("label export"),
        "{text}"
    );
    // A source replaced by another picture under its name: named, as its labels are of
    // the old one.
    run(32);
    let other = image::RgbImage::from_fn(90, 70, |x, y| image::Rgb([(x * 2) as u8, 9, y as u8]));
    other.save(raw.join("1.png")).unwrap();
    let text = run(32);
    assert!(
        text.contains("1 source file(s) changed") && text.contains("images/1.png"),
        "{text}"
    );
}

/// Regression: a rerun deleted everything under OUT/images its manifest did not name: a
/// second prep output made there, and a person's notes.
#[test]
fn a_rerun_prunes_only_its_own_images() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    face(7, 96).save(raw.join("a.png")).unwrap();
    face(8, 96).save(raw.join("b.png")).unwrap();
    let out = dir.path().join("out");
    let run = |out: &Path| prep::run(&raw, out, &PrepSpec::default(), Verbosity::Quiet);
    run(&out).unwrap();
    // A prep into the first one's images/ is refused...
    let e = run(&out.join("images/x")).unwrap_err().to_string();
    assert!(e.contains("another prep output"), "{e}");
    let e = run(&out.join("images")).unwrap_err().to_string();
    assert!(e.contains("another prep output"), "{e}");
    // ...and one put there by hand (or made before the check) survives the rerun, as do
    // a person's files; a stale image of prep's own goes.
    let nested = out.join("images/nested");
    run(&dir.path().join("elsewhere")).unwrap();
    std::fs::rename(dir.path().join("elsewhere"), &nested).unwrap();
    std::fs::write(out.join("images/NOTES.txt"), "mine").unwrap();
    face(9, 64).save(out.join("images/stale.png")).unwrap();
    run(&out).unwrap();
    assert!(nested.join("manifest.csv").is_file() && nested.join("images/a.png").is_file());
    assert!(out.join("images/NOTES.txt").is_file());
    assert!(!out.join("images/stale.png").exists());
    assert!(out.join("images/a.png").is_file());
}

/// Regression: Ctrl-C ended prep without a word (exit 130), so a run looked lost; it
/// says the rerun resumes, and the rerun does.
#[cfg(unix)]
#[test]
fn ctrl_c_says_the_rerun_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let raw = synth_raw(dir.path(), 3);
    let out = dir.path().join("out");
    let child = crate::common::bin()
        .args([
            "prep",
            raw.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--jobs", "1"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let journal = out.join(".facesynth/journal.jsonl");
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&journal).map_or(0, |s| s.lines().count()) < 5
        && t0.elapsed().as_secs() < 60
    {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // SAFETY: sends SIGINT to the child started above.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.success() {
        // It finished before the signal came: nothing to check.
        return;
    }
    assert!(
        err.contains("interrupted") && err.contains("resumes"),
        "{err}"
    );
    let r = prep_quietly(&raw, &out, &[]);
    assert!(r["resumed"].as_u64().unwrap() > 0, "{r}");
}

/// Regression: an --out naming a file said "File exists (os error 17)".
#[test]
fn an_out_that_is_a_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let file = dir.path().join("out.txt");
    std::fs::write(&file, "mine").unwrap();
    let e = prep::run(&raw, &file, &PrepSpec::default(), Verbosity::Quiet)
        .unwrap_err()
        .to_string();
    assert!(e.contains("out.txt") && e.contains("is a file"), "{e}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
}
