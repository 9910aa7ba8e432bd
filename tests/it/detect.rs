//! The cascade detector against real data from `../shared` (skipped when absent) and
//! against fixtures the tests build themselves.

use std::path::{Path, PathBuf};

use facesynth::detect::{gray_from_dynamic, integral, Cascade, DetectError, DetectSpec, Detection};
use image::{imageops, GrayImage, Rgb, RgbImage};
use rayon::prelude::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");
const MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/models");

fn shared(rel: &str, base: &str) -> Option<PathBuf> {
    let p = Path::new(base).join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipping: {} not found (shared test data absent)",
            p.display()
        );
        None
    }
}

fn images_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("jpg" | "png")))
        .collect();
    v.sort();
    v
}

fn gray(path: &Path) -> GrayImage {
    gray_from_dynamic(&image::open(path).expect("test image decodes"))
}

/// A tiny hand-written LBP cascade: one stage, one stump on a 2x2-block feature.
const TINY: &str = r#"<?xml version="1.0"?>
<opencv_storage>
<cascade type_id="opencv-cascade-classifier">
  <stageType>BOOST</stageType>
  <featureType>LBP</featureType>
  <height>6</height>
  <width>6</width>
  <featureParams><maxCatCount>256</maxCatCount></featureParams>
  <stageNum>1</stageNum>
  <stages>
    <_>
      <maxWeakCount>1</maxWeakCount>
      <stageThreshold>-1.0e+00</stageThreshold>
      <weakClassifiers>
        <_>
          <internalNodes>0 -1 0 -1 -1 -1 -1 -1 -1 -1 -1</internalNodes>
          <leafValues>1. -2.</leafValues></_></weakClassifiers></_></stages>
  <features>
    <_><rect>0 0 2 2</rect></_></features></cascade>
</opencv_storage>
"#;

/// [`TINY`] as a Haar cascade whose one feature is the rectangle `rect`.
fn tiny_haar(rect: &str) -> String {
    TINY.replace("<featureType>LBP", "<featureType>HAAR")
        .replace("<maxCatCount>256", "<maxCatCount>0")
        .replace("0 -1 0 -1 -1 -1 -1 -1 -1 -1 -1", "0 -1 0 0.5")
        .replace(
            "<rect>0 0 2 2</rect>",
            &format!("<rects><_>{rect}</_></rects>"),
        )
}

#[test]
fn loads_every_shared_cascade() {
    let Some(dir) = shared("", MODELS) else {
        return;
    };
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("xml") {
            continue;
        }
        let c = Cascade::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            c.stage_count() > 0 && c.window_size().0 > 0,
            "{}",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 1, "no XML files in the models folder");
}

#[test]
fn broken_and_truncated_xml_are_clear_errors() {
    let tiny = Cascade::from_xml("tiny.xml", TINY).expect("fixture parses");
    Cascade::from_xml("haar.xml", &tiny_haar("0 0 2 2 -1.")).expect("the Haar fixture parses");
    assert_eq!(tiny.window_size(), (6, 6));
    // Every truncation is an error, never a panic.
    for cut in 0..TINY.len() - 2 {
        if let Ok(c) = Cascade::from_xml("cut.xml", &TINY[..cut]) {
            panic!("truncated at {cut} still parsed: {c:?}");
        }
    }
    let cases = [
        (
            TINY.replace("<featureType>LBP", "<featureType>HOG"),
            "not supported",
        ),
        (
            TINY.replace("<stageType>BOOST", "<stageType>GAB"),
            "not supported",
        ),
        (TINY.replace("0 -1 0 -1", "0 -1 7 -1"), "feature index 7"),
        // Regression: negating i32::MIN overflowed (a panic in debug builds).
        (
            TINY.replace("0 -1 0 -1", "0 -2147483648 0 -1"),
            "outside the tree",
        ),
        (TINY.replace("1. -2.", "1."), "leaf values"),
        (TINY.replace("0 0 2 2", "3 0 2 2"), "leaves the window"),
        // Regression: `x + 3 * w` wrapped in i32 and this block passed, to be read out of
        // bounds by the detector.
        (
            TINY.replace("0 0 2 2", "0 0 1431655766 1"),
            "leaves the window",
        ),
        (tiny_haar("2147483647 0 1 1 -1."), "whole numbers"),
        (tiny_haar("0 0 1e300 1 -1."), "whole numbers"),
        (tiny_haar("0 0 2 2 NaN"), "weight finite"),
        (tiny_haar("0.5 0 2 2 -1."), "whole numbers"),
        (tiny_haar("1 0 6 2 -1."), "leaves the window"),
        (TINY.replace("-1.0e+00", "minus one"), "stageThreshold"),
        (
            TINY.replace("<stages>", "<stagez>")
                .replace("</stages>", "</stagez>"),
            "missing <stages>",
        ),
    ];
    for (text, want) in cases {
        let err = Cascade::from_xml("bad.xml", &text).expect_err(want);
        let msg = err.to_string();
        assert!(
            msg.contains("bad.xml") && msg.contains(want),
            "{msg:?} should name {want:?}"
        );
    }
    let missing = Cascade::load("/nonexistent/cascade.xml").unwrap_err();
    assert!(matches!(missing, DetectError::Io { .. }));
    if let Some(path) = shared("haarcascade_frontalface_default.xml", MODELS) {
        let text = std::fs::read_to_string(&path).unwrap();
        for frac in [0.1, 0.5, 0.9, 0.999] {
            let cut = (text.len() as f64 * frac) as usize;
            let err = Cascade::from_xml(&path, &text[..cut]).unwrap_err();
            assert!(matches!(err, DetectError::Xml { .. }), "{err}");
        }
    }
}

#[test]
fn integral_matches_naive_sums() {
    let (w, h) = (13usize, 9usize);
    let img: Vec<u8> = (0..w * h).map(|i| ((i * 37 + 11) % 256) as u8).collect();
    let s = integral(&img, w, h);
    for y in 0..=h {
        for x in 0..=w {
            let want: i32 = (0..y)
                .flat_map(|yy| (0..x).map(move |xx| (xx, yy)))
                .map(|(xx, yy)| i32::from(img[yy * w + xx]))
                .sum();
            assert_eq!(s[y * (w + 1) + x], want);
        }
    }
}

#[test]
fn tiny_cascade_fires_where_its_stump_says() {
    // The stump's subset is all ones, so every window passes with sum 1 >= -1.
    let c = Cascade::from_xml("tiny.xml", TINY).unwrap();
    let img = GrayImage::from_pixel(20, 20, image::Luma([90]));
    let spec = DetectSpec {
        min_neighbors: 0,
        ..DetectSpec::default()
    };
    let raw = c.detect(&img, &spec);
    assert!(!raw.is_empty());
    assert_eq!(c.stage_sums(&img, 0, 0), Some(vec![1.0]));
}

/// The whole list in optimized builds; every 3rd item in debug builds, where the
/// detector is ~20x slower (`cargo test --release` runs the full sets; the benchmark
/// reports them too).
fn subset<T>(v: Vec<T>) -> Vec<T> {
    let step = if cfg!(debug_assertions) { 3 } else { 1 };
    v.into_iter().step_by(step).collect()
}

/// Share of images where `f` holds, computed in parallel.
fn share(paths: &[PathBuf], f: impl Fn(&Path) -> bool + Sync) -> (usize, usize) {
    let hits = paths.par_iter().filter(|p| f(p)).count();
    (hits, paths.len())
}

#[test]
fn haar_frontalface_on_caltech_photos() {
    let (Some(model), Some(faces), Some(nonfaces)) = (
        shared("haarcascade_frontalface_default.xml", MODELS),
        shared("photos/caltech-faces", DATA),
        shared("photos/caltech-nonfaces", DATA),
    ) else {
        return;
    };
    let c = Cascade::load(model).unwrap();
    // OpenCV 4.14 with these settings: 432/435 faces, 21/327 non-faces.
    let spec = DetectSpec {
        min_neighbors: 5,
        min_size: (30, 30),
        ..DetectSpec::default()
    };
    let found = |p: &Path| !c.detect(&gray(p), &spec).is_empty();
    let (f, nf) = share(&subset(images_in(&faces)), found);
    let (b, nb) = share(&subset(images_in(&nonfaces)), found);
    eprintln!("haar frontalface: faces found {f}/{nf}, non-faces with a box {b}/{nb}");
    assert!(f as f64 >= 0.95 * nf as f64, "faces found {f}/{nf}");
    assert!(
        b as f64 <= 0.10 * nb as f64,
        "non-faces with a box {b}/{nb}"
    );
}

/// An anime crop upscaled 2x and pasted on a plain canvas; returns the image and the box.
fn pasted(crop: &Path, i: usize) -> (GrayImage, Detection) {
    let (rgb, truth) = pasted_rgb(crop, i);
    (facesynth::detect::gray_from_rgb(&rgb), truth)
}

fn pasted_rgb(crop: &Path, i: usize) -> (RgbImage, Detection) {
    let rgb = image::open(crop).unwrap().to_rgb8();
    let big = imageops::resize(
        &rgb,
        rgb.width() * 2,
        rgb.height() * 2,
        imageops::FilterType::Triangle,
    );
    let (cw, ch) = (big.width() * 2, big.height() * 5 / 3);
    let shade = [230u8, 200, 245, 180][i % 4];
    let mut canvas = RgbImage::from_pixel(cw, ch, Rgb([shade, shade, shade.saturating_sub(10)]));
    let x = (i as u32 * 37) % (cw - big.width());
    let y = (i as u32 * 23) % (ch - big.height());
    imageops::overlay(&mut canvas, &big, i64::from(x), i64::from(y));
    let truth = Detection {
        x,
        y,
        width: big.width(),
        height: big.height(),
        neighbors: 0,
    };
    (canvas, truth)
}

#[test]
fn lbp_animeface_on_pasted_crops_and_photos() {
    let (Some(model), Some(crops), Some(nonfaces)) = (
        shared("lbpcascade_animeface.xml", MODELS),
        shared("anime-faces-96-raw/images", DATA),
        shared("photos/caltech-nonfaces", DATA),
    ) else {
        return;
    };
    let c = Cascade::load(model).unwrap();
    let spec = DetectSpec {
        min_neighbors: 5,
        min_size: (24, 24),
        equalize: true,
        ..DetectSpec::default()
    };
    // A fixed subset of 200 crops (every 40th by name; 67 of them in debug builds).
    let crops: Vec<PathBuf> = images_in(&crops)
        .into_iter()
        .step_by(40)
        .take(200)
        .collect();
    let indexed: Vec<(usize, PathBuf)> = subset(crops.into_iter().enumerate().collect());
    let hits = indexed
        .par_iter()
        .filter(|(i, p)| {
            let (img, truth) = pasted(p, *i);
            c.detect(&img, &spec).iter().any(|d| d.iou(&truth) >= 0.5)
        })
        .count();
    let (b, nb) = share(&subset(images_in(&nonfaces)), |p| {
        !c.detect(&gray(p), &spec).is_empty()
    });
    eprintln!(
        "lbp animeface: pasted crops found {hits}/{}, non-faces with a box {b}/{nb}",
        indexed.len()
    );
    assert!(
        hits as f64 >= 0.85 * indexed.len() as f64,
        "found {hits}/{}",
        indexed.len()
    );
    assert!(
        b as f64 <= 0.02 * nb as f64,
        "non-faces with a box {b}/{nb}"
    );
}

#[test]
fn prep_crop_detect_keeps_faces_and_rejects_faceless_images() {
    let (Some(model), Some(crops), Some(nonfaces)) = (
        shared("lbpcascade_animeface.xml", MODELS),
        shared("anime-faces-96-raw/images", DATA),
        shared("photos/caltech-nonfaces/cup", DATA),
    ) else {
        return;
    };
    let c = Cascade::load(&model).unwrap();
    let spec = facesynth::prep::crop::default_detect_spec();
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    // Two pasted faces the detector finds, and a photo where it finds nothing.
    let mut truths = Vec::new();
    for (i, p) in images_in(&crops).iter().step_by(40).enumerate().take(8) {
        let (rgb, truth) = pasted_rgb(p, i);
        let gray = facesynth::detect::gray_from_rgb(&rgb);
        if c.detect(&gray, &spec).iter().any(|d| d.iou(&truth) >= 0.5) && truths.len() < 2 {
            rgb.save(raw.join(format!("face{}.png", truths.len())))
                .unwrap();
            truths.push(truth);
        }
    }
    let empty = images_in(&nonfaces)
        .into_iter()
        .find(|p| c.detect(&gray(p), &spec).is_empty())
        .expect("a cup photo without detections");
    std::fs::copy(&empty, raw.join("cup.jpg")).unwrap();
    let out = tmp.path().join("out");
    let model = model.to_string_lossy().into_owned();
    let args = [
        "prep",
        raw.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--detector",
        &model,
        "--faces",
        "all",
    ];
    crate::common::run_ok(&args);
    let rows = facesynth::dataset::manifest::read(&out.join("manifest.csv")).unwrap();
    let cup = rows
        .iter()
        .find(|r| r.source.starts_with("cup"))
        .expect("cup row");
    assert_eq!(
        (cup.status.to_string().as_str(), cup.reason.as_str()),
        ("rejected", "no_face")
    );
    for (k, truth) in truths.iter().enumerate() {
        let row = rows
            .iter()
            .find(|r| r.source.starts_with(&format!("face{k}")) && r.status.to_string() == "kept")
            .unwrap_or_else(|| panic!("face{k} kept: {rows:?}"));
        let crop = Detection {
            x: row.crop_x.unwrap(),
            y: row.crop_y.unwrap(),
            width: row.crop_w.unwrap(),
            height: row.crop_h.unwrap(),
            neighbors: 0,
        };
        // The crop is square, in source pixels, and covers the pasted face with a margin.
        assert_eq!(crop.width, crop.height);
        assert!(
            crop.iou(truth) >= 0.3,
            "crop {crop:?} vs pasted face {truth:?}"
        );
    }
}
