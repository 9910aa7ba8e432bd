//! prep and what it must not do: delete or overwrite files it did not write, give two
//! sources or two faces one output, take a write failure for a bad file, or drop an entry
//! it cannot read without a word.

use super::prep::{encode, face};
use crate::common::bin;
use facesynth::dataset::manifest::{self, ManifestRow, Status};
use image::ImageFormat;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Output;

fn prep(input: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .args([
            "prep",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn prep_ok(input: &Path, out: &Path) {
    let o = prep(input, out, &["-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn rows(out: &Path) -> HashMap<String, ManifestRow> {
    manifest::read(&out.join("manifest.csv"))
        .unwrap()
        .into_iter()
        .map(|r| (r.source.clone(), r))
        .collect()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Regression: two legal 255-byte names sharing a stem gave a 259-byte output name; the
/// write failed, the run stopped with exit 1, and so did every rerun.
#[test]
fn sources_with_the_longest_names_are_prepped() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let long = "a".repeat(251);
    face(0, 64).save(raw.join(format!("{long}.jpg"))).unwrap();
    face(1, 64).save(raw.join(format!("{long}.png"))).unwrap();
    let out = dir.path().join("out");
    prep_ok(&raw, &out);
    prep_ok(&raw, &out); // and a rerun
    let rows = rows(&out);
    assert_eq!(rows.len(), 2);
    for r in rows.values() {
        assert_eq!(r.status, Status::Kept, "{r:?}");
        assert!(out.join(&r.output).is_file(), "{}", r.output);
    }
}

/// Regression: an empty INPUT wrote a 0-byte manifest, with no header (no columns for
/// pandas, and not recognisably prep's own file on the next run).
#[test]
fn an_empty_input_writes_a_manifest_with_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let out = dir.path().join("out");
    prep_ok(&raw, &out);
    let text = std::fs::read_to_string(out.join("manifest.csv")).unwrap();
    assert_eq!(text, format!("{}\n", manifest::COLUMNS.join(",")));
    assert!(rows(&out).is_empty());
    // A file appears: the rerun takes the folder for its own and goes on.
    face(0, 64).save(raw.join("a.png")).unwrap();
    prep_ok(&raw, &out);
    assert_eq!(rows(&out)["a.png"].status, Status::Kept);
}

#[test]
fn prep_refuses_layouts_in_which_it_would_delete_the_users_files() {
    let dir = tempfile::tempdir().unwrap();
    // A raw folder laid out as images/ (anime-faces-96-raw is), prepped into itself.
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(raw.join("images")).unwrap();
    face(0, 64).save(raw.join("images/a.png")).unwrap();
    std::fs::write(raw.join("images/notes.txt"), "mine").unwrap();
    for (input, out, names_it) in [
        (raw.clone(), raw.clone(), "same folder"),
        (raw.join("images"), raw.clone(), "inside OUT/images"),
        (dir.path().join("elsewhere"), raw.clone(), "did not write"),
    ] {
        std::fs::create_dir_all(&input).unwrap();
        face(1, 64).save(input.join("b.png")).ok();
        let o = prep(&input, &out, &["-q"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(names_it), "{names_it}: {err}");
        std::fs::remove_file(input.join("b.png")).ok();
    }
    assert_eq!(names(&raw.join("images")), ["a.png", "notes.txt"]);
    // A fresh OUT, then a rerun into it (its images/ is prep's own now), then OUT inside
    // INPUT: all fine.
    let out = dir.path().join("out");
    prep_ok(&raw, &out);
    prep_ok(&raw, &out);
    assert_eq!(rows(&out)["images/a.png"].status, Status::Kept);
    let inner = raw.join("prepped");
    prep_ok(&raw, &inner);
    assert_eq!(
        rows(&inner).len(),
        2,
        "a.png and notes.txt, not its own outputs"
    );
    assert_eq!(names(&raw.join("images")), ["a.png", "notes.txt"]);
    // Another INPUT into that OUT was taken for a resume and deleted the first one's
    // images (exit 0); it is refused, naming both, and nothing is removed.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    face(2, 64).save(other.join("c.png")).unwrap();
    let o = prep(&other, &out, &["-q"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("prepared from") && err.contains("other"),
        "{err}"
    );
    assert!(out.join("images/images/a.png").is_file());
    // An OUT from before the record: report.json names its INPUT, and is named.
    std::fs::remove_file(out.join(".facesynth/input")).unwrap();
    let o = prep(&other, &out, &["-q"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("report.json"), "{err}");
    // As the message says: without either, the other INPUT is taken.
    std::fs::remove_file(out.join("report.json")).unwrap();
    prep_ok(&other, &out);
    assert_eq!(names(&out.join("images")), ["c.png"]);
    assert_eq!(rows(&out)["c.png"].status, Status::Kept);
    // A run that fails before it writes (a box CSV misnamed) ties a fresh OUT to nothing.
    let fresh = dir.path().join("fresh");
    let o = prep(&raw, &fresh, &["--bbox", "no-such.csv"]);
    assert_eq!(o.status.code(), Some(1));
    prep_ok(&other, &fresh);
}

#[test]
fn no_two_sources_or_faces_share_an_output_and_faces_of_one_file_are_not_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    // a.jpg and a.png keep their extensions (a_jpg, a_png); a_jpg.png would be a_jpg too.
    // x.png has two boxes (faces x_0, x_1); x_1.jpg would be x_1.
    let files = [
        ("a.jpg", 1, ImageFormat::Jpeg),
        ("a.png", 2, ImageFormat::Png),
        ("a_jpg.png", 3, ImageFormat::Png),
        ("x.png", 4, ImageFormat::Png),
        ("x_1.jpg", 5, ImageFormat::Jpeg),
    ];
    let mut csv = String::from("file,x,y,w,h\n");
    for (name, seed, format) in files {
        // Two faces side by side; only x.png has a box on the second.
        let mut img = image::RgbImage::new(256, 128);
        image::imageops::overlay(&mut img, &face(seed, 128).to_rgb8(), 0, 0);
        image::imageops::overlay(&mut img, &face(seed + 10, 128).to_rgb8(), 128, 0);
        let img = image::DynamicImage::ImageRgb8(img);
        std::fs::write(raw.join(name), encode(&img, format)).unwrap();
        csv += &format!("./{name},8,8,112,112\n");
    }
    csv += "x.png,136,8,112,112\n";
    let boxes = dir.path().join("boxes.csv");
    std::fs::write(&boxes, csv).unwrap();
    let out = dir.path().join("out");
    let o = prep(
        &raw,
        &out,
        &[
            "--crop",
            "bbox",
            "--bbox",
            boxes.to_str().unwrap(),
            "--faces",
            "all",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = rows(&out);
    assert_eq!(rows.len(), 6, "{rows:?}");
    let outputs: HashSet<&str> = rows.values().map(|r| r.output.as_str()).collect();
    for r in rows.values() {
        assert_eq!(r.status, Status::Kept, "{r:?}");
        assert!(out.join(&r.output).is_file(), "{r:?}");
    }
    assert_eq!(outputs.len(), 6, "one output each: {outputs:?}");
    assert_eq!(names(&out.join("images")).len(), 6);
    assert!(rows.contains_key("x.png#0") && rows.contains_key("x.png#1"));
}

#[test]
fn box_csv_mistakes_are_named_and_off_image_boxes_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    for (name, seed) in [("in.png", 1), ("off.png", 2), ("half.png", 3)] {
        face(seed, 96).save(raw.join(name)).unwrap();
    }
    let boxes = dir.path().join("boxes.csv");
    std::fs::write(
        &boxes,
        "file,x,y,w,h\nin.png,8,8,80,80\noff.png,5000,5000,40,40\n\
         half.png,90,90,500,500\nelsewhere/z.png,0,0,9,9\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = prep(
        &raw,
        &out,
        &["--crop", "bbox", "--bbox", boxes.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("warning: 1 file(s) of the box CSV") && err.contains("elsewhere/z.png"),
        "{err}"
    );
    let rows = rows(&out);
    assert_eq!(rows["in.png"].status, Status::Kept);
    assert_eq!(rows["off.png"].reason, "bbox_outside");
    assert_eq!(rows["half.png"].reason, "bbox_outside");
    // Without its header the CSV's first box would vanish: an error naming line 1.
    std::fs::write(&boxes, "in.png,10,10,40,40\n").unwrap();
    let o = prep(
        &raw,
        &dir.path().join("o2"),
        &["--crop", "bbox", "--bbox", boxes.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("boxes.csv") && err.contains("line 1"), "{err}");
    // A bad value after a blank line: the line an editor shows.
    std::fs::write(
        &boxes,
        "file,x,y,w,h\nin.png,1,1,9,9\n\noff.png,1,1,zero,9\n",
    )
    .unwrap();
    let o = prep(
        &raw,
        &dir.path().join("o3"),
        &["--crop", "bbox", "--bbox", boxes.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("line 4") && err.contains("w \"zero\""),
        "{err}"
    );
    // Fractional and slightly negative values (a detector's, pandas') are rounded and
    // cut at the edge, under a header in capitals; a word is named with its value.
    std::fs::write(&boxes, "File,X,Y,W,H\nin.png,-3.4,8.6,80.2,80\n").unwrap();
    let out4 = dir.path().join("o4");
    let o = prep(
        &raw,
        &out4,
        &[
            "--crop",
            "bbox",
            "--bbox",
            boxes.to_str().unwrap(),
            "--no-near-dedup",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = &self::rows(&out4)["in.png"];
    // x -3 -> 0 (w 77), y 8.6 -> 9; squared to 80 around the cut box's centre.
    assert_eq!(
        (r.crop_x, r.crop_y, r.crop_w),
        (Some(0), Some(9), Some(80)),
        "{r:?}"
    );
    std::fs::write(&boxes, "file,x,y,w,h\nin.png,ten,1,9,9\n").unwrap();
    let o = prep(
        &raw,
        &dir.path().join("o6"),
        &["--crop", "bbox", "--bbox", boxes.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 2") && err.contains("x \"ten\""), "{err}");
    // A bad flag is a bad command line.
    for bad in [["--size", "0"], ["--margin", "3"], ["--phash-max", "40"]] {
        let o = prep(&raw, &dir.path().join("o5"), &bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
    // So is a flag the resolved settings would not use (`--crop center --bbox` cropped the
    // centre without reading the boxes), and a crop mode's missing file (exit 1 before).
    let b = boxes.to_str().unwrap();
    for (bad, says) in [
        (
            &["--crop", "center", "--bbox", b][..],
            "--bbox applies to --crop bbox",
        ),
        (&["--crop", "bbox"], "--crop bbox needs --bbox"),
        (&["--crop", "detect"], "--crop detect needs --detector"),
        (
            &["--min-neighbors", "3"],
            "--min-neighbors applies to --crop detect",
        ),
        (&["--faces", "all"], "--faces applies"),
        (&["--crop", "none", "--margin", "0.1"], "--margin applies"),
        (&["--no-near-dedup", "--flip-dedup"], "--flip-dedup tunes"),
        (&["--jobs", "100000"], "--jobs 100000 is over"),
    ] {
        let o = prep(&raw, &dir.path().join("o7"), bad);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {err}");
        assert!(err.contains(says), "{bad:?}: {err}");
    }
    assert!(!dir.path().join("o7").exists(), "refused before any write");
}

#[cfg(unix)]
#[test]
fn appended_data_a_dangling_link_and_a_write_failure() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(raw.join("sub")).unwrap();
    // A whole JPEG with bytes after its end (a motion photo's video), markers among them.
    let mut motion = encode(&face(1, 96), ImageFormat::Jpeg);
    motion.extend_from_slice(&[0xFF, 0xD9, 0xFF, 0xDA, 0, 9]);
    motion.extend((0..200_000u32).map(|k| (k.wrapping_mul(2654435761) >> 13) as u8));
    std::fs::write(raw.join("motion.jpg"), motion).unwrap();
    std::os::unix::fs::symlink(raw.join("gone.png"), raw.join("link.png")).unwrap();
    face(2, 96).save(raw.join("sub/a.png")).unwrap();
    // A FIFO (whose open would wait for a writer) and a link to a device: rows, no hang.
    let fifo = raw.join("pipe.jpg");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    std::os::unix::fs::symlink("/dev/zero", raw.join("zero.png")).unwrap();
    let out = dir.path().join("out");
    prep_ok(&raw, &out);
    let r = rows(&out);
    for f in ["pipe.jpg", "zero.png"] {
        assert_eq!(r[f].status, Status::Rejected, "{:?}", r[f]);
        assert!(r[f].reason.contains("not a regular file"), "{:?}", r[f]);
    }
    assert_eq!(
        r["motion.jpg"].status,
        Status::Kept,
        "{:?}",
        r["motion.jpg"]
    );
    assert_eq!(r["link.png"].status, Status::Rejected);
    assert!(
        r["link.png"].reason.starts_with("read"),
        "{:?}",
        r["link.png"]
    );
    // A new input whose output cannot be written (a file where its folder must go): the
    // run fails naming it, and once the way is clear the rerun does the file.
    face(3, 96).save(raw.join("sub/b.png")).unwrap();
    std::fs::remove_dir_all(out.join("images/sub")).unwrap();
    std::fs::write(out.join("images/sub"), "in the way").unwrap();
    let o = prep(&raw, &out, &["-q"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("images/sub"), "{err}");
    std::fs::remove_file(out.join("images/sub")).unwrap();
    prep_ok(&raw, &out);
    let r = rows(&out);
    for f in ["sub/a.png", "sub/b.png"] {
        assert_eq!(r[f].status, Status::Kept, "{:?}", r[f]);
        assert!(out.join(&r[f].output).is_file());
    }
}

/// Second review: a user's own `manifest.csv` is no sign of a prep run; an edited box
/// CSV redoes the crops; an earlier OUT inside INPUT is not read back in; a second prep
/// into the same OUT stops at once.
#[test]
fn own_manifests_edited_box_files_earlier_outputs_and_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    for (name, seed) in [("a.png", 1), ("b.png", 2)] {
        face(seed, 96).save(raw.join(name)).unwrap();
    }
    // A folder of the user's: images/ and a manifest of their own.
    let ds = dir.path().join("ds");
    std::fs::create_dir_all(ds.join("images")).unwrap();
    face(3, 64).save(ds.join("images/mine.png")).unwrap();
    std::fs::write(ds.join("manifest.csv"), "file,label\nimages/mine.png,cat\n").unwrap();
    let o = prep(&raw, &ds, &["-q"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(names(&ds.join("images")), ["mine.png"]);
    // An edited box CSV at the same path: the crops follow it.
    let boxes = dir.path().join("boxes.csv");
    let out = raw.join("v1");
    let crop_x = |out: &Path| rows(out)["a.png"].crop_x;
    for x in [8, 16] {
        std::fs::write(
            &boxes,
            format!("file,x,y,w,h\na.png,{x},8,72,72\nb.png,8,8,72,72\n"),
        )
        .unwrap();
        let o = prep(
            &raw,
            &out,
            &["-q", "--crop", "bbox", "--bbox", boxes.to_str().unwrap()],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(crop_x(&out), Some(x));
    }
    // v1 lies inside INPUT: a run into v2 reads a.png and b.png only.
    let v2 = raw.join("v2");
    prep_ok(&raw, &v2);
    let got: HashSet<String> = rows(&v2).into_keys().collect();
    assert_eq!(
        got,
        HashSet::from(["a.png".to_string(), "b.png".to_string()])
    );
    // A prep output prepped again (another size): its images, not its manifest or reports.
    let v3 = dir.path().join("v3");
    let o = prep(&v2, &v3, &["-q", "--size", "32"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: HashSet<String> = rows(&v3).into_keys().collect();
    assert_eq!(
        got,
        HashSet::from(["images/a.png".to_string(), "images/b.png".to_string()])
    );
    // While one prep holds OUT, another stops at once and names the folder.
    let lock = std::fs::File::open(v2.join(".facesynth/lock")).unwrap();
    lock.lock().unwrap();
    let o = prep(&raw, &v2, &["-q"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("another prep"), "{err}");
}
