//! `facesynth demo`: the whole job on an embedded dataset, with no download. It draws
//! synthetic faces on larger canvases, makes the folder messy the way real scrapes are
//! (nested and oddly named folders, exact and near duplicates, broken files), writes the
//! box CSV a labeling tool would export, runs `prep` on it, then labels the prepared
//! faces (colour heuristics and a short simulated active-learning loop answered from the
//! known truth).

use crate::prep::{self, crop::CropMode, PrepReport, PrepSpec};
use crate::progress::Verbosity;
use crate::synth::{self, SynthSpec};
use image::{imageops, DynamicImage};
use std::path::{Path, PathBuf};

/// Demo settings.
#[derive(Debug, Clone)]
pub struct DemoSpec {
    /// Where everything goes.
    pub out: PathBuf,
    /// Number of distinct synthetic faces (default 240).
    pub faces: usize,
    /// Seed.
    pub seed: u64,
    /// The last stage to run (default [`DemoStage::Train`]).
    pub until: DemoStage,
}

/// Stages of the demo, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum DemoStage {
    /// Make the messy folder and prepare it.
    Prep,
    /// Also label the prepared faces.
    Label,
    /// Also train a conditional GAN and draw per-class grids.
    Train,
}

/// What the demo made.
#[derive(Debug)]
pub struct DemoReport {
    /// The messy input folder.
    pub raw: PathBuf,
    /// The prepared dataset.
    pub data: PathBuf,
    /// Truth for the raw files (`file` relative to `raw`).
    pub truth: PathBuf,
    /// prep's report.
    pub prep: PrepReport,
    /// Planted exact duplicates, near duplicates and broken files.
    pub planted: (usize, usize, usize),
    /// The label step, when run.
    pub labels: Option<crate::labels::DemoLabelReport>,
    /// The training step, when run (its folder is `OUT/gan`).
    pub gan: Option<crate::gan::DemoGanReport>,
    /// The report pages written (prep, labels, training run).
    pub pages: Vec<PathBuf>,
}

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// A demo file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// prep failed.
    #[error(transparent)]
    Prep(#[from] prep::PrepError),
    /// Labeling failed.
    #[error(transparent)]
    Label(#[from] crate::labels::LabelError),
    /// Training failed.
    #[error(transparent)]
    Gan(#[from] crate::gan::GanError),
    /// `--out` holds files a demo would replace, but no demo made them.
    #[error(
        "{}: it holds {found} but no {MARKER}, so no demo made them: give the demo a new \
         --out (or remove them)",
        path.display()
    )]
    NotDemo {
        /// The folder.
        path: PathBuf,
        /// What is there, comma-separated.
        found: String,
    },
    /// A folder the demo made was replaced since (by a user's own work): not removed.
    #[error(
        "{}: its {name} is not the one the last demo made (replaced since?), so a rerun \
         would delete someone's work: give the demo a new --out (or remove it)",
        path.display()
    )]
    Replaced {
        /// The demo folder.
        path: PathBuf,
        /// The entry (`raw`, `data`, `gan`).
        name: String,
    },
}

/// The file a demo writes first into its folder: a rerun removes and redoes what a demo
/// made there only when it finds this, never a folder of someone else's.
pub const MARKER: &str = "facesynth-demo.json";

/// What a demo makes in its folder, all of it redone by a rerun.
const OWN: [&str; 5] = ["raw", "data", "gan", "raw-truth.csv", "raw-boxes.csv"];

/// Makes `spec.out` a fresh demo folder. A rerun starts from nothing, as the first run
/// did: left in place, the last demo's raw files (other seed, more faces) would be
/// prepared again, and its label store and GAN run continued, so the same arguments
/// would not give the same result.
fn claim(spec: &DemoSpec) -> Result<(), DemoError> {
    let out = &spec.out;
    let marker = out.join(MARKER);
    let present: Vec<&str> = OWN
        .iter()
        .copied()
        .filter(|n| out.join(n).symlink_metadata().is_ok())
        .collect();
    if !marker.is_file() && !present.is_empty() {
        return Err(DemoError::NotDemo {
            path: out.clone(),
            found: present.join(", "),
        });
    }
    // The mark names the folders the last demo made by their identity: one replaced since
    // (a user's own raw photos or label store put there) is not the demo's to remove. An
    // entry the mark does not name (a demo stopped mid-stage) is.
    let made = made_by_last_demo(&marker);
    if let Some(name) = present.iter().find(|n| {
        made.get(**n)
            .is_some_and(|id| identity(&out.join(n)).as_ref() != Some(id))
    }) {
        return Err(DemoError::Replaced {
            path: out.clone(),
            name: name.to_string(),
        });
    }
    for name in present {
        let p = out.join(name);
        // A link is removed, never followed.
        let is_dir = p.symlink_metadata().is_ok_and(|m| m.is_dir());
        let removed = if is_dir {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        removed.map_err(werr(&p))?;
    }
    mark(spec, &[])
}

/// Writes the demo's mark: its settings, and the identity of each folder of `made`.
fn mark(spec: &DemoSpec, made: &[&str]) -> Result<(), DemoError> {
    let marker = spec.out.join(MARKER);
    let made: serde_json::Map<String, serde_json::Value> = made
        .iter()
        .filter_map(|n| Some((n.to_string(), identity(&spec.out.join(n))?.into())))
        .collect();
    let stamp = serde_json::json!({
        "made_by": "facesynth demo",
        "faces": spec.faces,
        "seed": spec.seed,
        "until": format!("{:?}", spec.until).to_lowercase(),
        "made": made,
    });
    crate::atomic::write_json(&marker, &stamp).map_err(werr(&marker))
}

/// The folders a demo's mark names, by identity ([`identity`]); none for a mark from
/// before they were named.
fn made_by_last_demo(marker: &Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read(marker)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v.get("made")?.as_object().map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// What tells a folder from another put at its path: its creation time (to the
/// nanosecond where the file system keeps it), and on Unix its device and inode (a
/// removed folder's inode is often reused at once, so not that alone); `None` where
/// neither is known (no check).
fn identity(path: &Path) -> Option<String> {
    let m = path.symlink_metadata().ok()?;
    let born = m
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos());
    #[cfg(unix)]
    let node = {
        use std::os::unix::fs::MetadataExt;
        Some((m.dev(), m.ino()))
    };
    #[cfg(not(unix))]
    let node: Option<(u64, u64)> = None;
    match (born, node) {
        (None, None) => None,
        (born, node) => Some(format!("{born:?}:{node:?}")),
    }
}

fn werr(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes the messy folder, prepares it, labels it and trains on it (up to `spec.until`).
/// `spec.out` may be new, hold other files, or hold an earlier demo ([`MARKER`]), whose
/// outputs are removed first; the same settings then give the same results.
pub fn run(spec: &DemoSpec, v: Verbosity) -> Result<DemoReport, DemoError> {
    claim(spec)?;
    let raw = spec.out.join("raw");
    let data = spec.out.join("data");
    let truth_path = spec.out.join("raw-truth.csv");
    let planted = make_raw(spec, &raw, &truth_path)?;
    mark(spec, &["raw"])?;
    let mut prep_spec = PrepSpec::default();
    prep_spec.crop.mode = CropMode::Bbox;
    prep_spec.crop.bbox_csv = Some(spec.out.join("raw-boxes.csv"));
    prep_spec.crop.margin = 0.05;
    let report = prep::run(&raw, &data, &prep_spec, v)?;
    mark(spec, &["raw", "data"])?;
    let labels = match spec.until >= DemoStage::Label {
        true => Some(crate::labels::demo_step(&data, &truth_path, v)?),
        false => None,
    };
    let gan = match spec.until >= DemoStage::Train {
        true => Some(crate::gan::demo_step(&data, &spec.out.join("gan"), v)?),
        false => None,
    };
    if gan.is_some() {
        mark(spec, &["raw", "data", "gan"])?;
    }
    // Pages are views: one that cannot be drawn is left out, the demo goes on.
    let mut pages: Vec<PathBuf> = report.page.iter().cloned().collect();
    let label_page = data.join("labels").join(crate::report::PAGE);
    if labels.is_some() && label_page.is_file() {
        pages.push(label_page);
    }
    if let Some(g) = &gan {
        pages.extend(crate::report::write_run_report(&g.train.run).ok());
    }
    Ok(DemoReport {
        raw,
        data,
        truth: truth_path,
        prep: report,
        planted,
        labels,
        gan,
        pages,
    })
}

/// Writes the raw folder, its truth CSV and box CSV; returns the planted counts.
fn make_raw(
    spec: &DemoSpec,
    raw: &Path,
    truth_path: &Path,
) -> Result<(usize, usize, usize), DemoError> {
    let sspec = SynthSpec {
        n: spec.faces,
        image_size: 128,
        face_fraction: (0.45, 0.75),
        seed: spec.seed,
        hair: None,
    };
    let folders = ["2019/set a", "2020/naïve faces", "misc"];
    let mut truth = csv::Writer::from_writer(Vec::new());
    let mut boxes = csv::Writer::from_writer(Vec::new());
    let (mut exact, mut near) = (0, 0);
    let mut write_row = |file: &str, row: &synth::TruthRow, scale: f32| -> csv::Result<()> {
        let s = |v: u32| ((v as f32) * scale).round() as u32;
        truth.write_record([
            file,
            row.hair_color,
            row.eye_color,
            row.skin_tone,
            row.background,
            row.glasses,
        ])?;
        boxes.write_record([
            file.to_string(),
            s(row.face_x).to_string(),
            s(row.face_y).to_string(),
            s(row.face_w).to_string(),
            s(row.face_h).to_string(),
        ])
    };
    let csv_err = |e: csv::Error| DemoError::Write {
        path: truth_path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    for i in 0..spec.faces {
        let (row, img) = synth::synth_one(&sspec, i);
        let dir = folders[i % folders.len()];
        let img = DynamicImage::ImageRgb8(img);
        // Most as JPEG, some as PNG, like a scrape.
        let name = if i % 4 == 0 {
            format!("{dir}/face {i:04}.png")
        } else {
            format!("{dir}/face_{i:04}.jpg")
        };
        let path = raw.join(&name);
        crate::atomic::save_image(&path, &img).map_err(werr(&path))?;
        write_row(&name, &row, 1.0).map_err(csv_err)?;
        if i % 12 == 3 {
            // An exact copy under another name.
            let copy = format!(
                "misc/copy of face {i:04}.{}",
                if i % 4 == 0 { "png" } else { "jpg" }
            );
            std::fs::copy(&path, raw.join(&copy)).map_err(werr(&path))?;
            write_row(&copy, &row, 1.0).map_err(csv_err)?;
            exact += 1;
        }
        if i % 12 == 7 {
            // A near copy: smaller and re-encoded.
            let small = img.resize_exact(100, 100, imageops::FilterType::Triangle);
            let name = format!("misc/thumb_{i:04}.jpg");
            let p = raw.join(&name);
            crate::atomic::save_image(&p, &small).map_err(werr(&p))?;
            write_row(&name, &row, 100.0 / 128.0).map_err(csv_err)?;
            near += 1;
        }
    }
    // Broken files: truncated, empty, text named .jpg.
    let broken: [(&str, Vec<u8>); 3] = [
        ("misc/truncated.png", {
            let p = raw.join("2019/set a/face 0000.png");
            let b = std::fs::read(&p).map_err(werr(&p))?;
            b[..b.len() / 3].to_vec()
        }),
        ("misc/empty.jpg", Vec::new()),
        ("misc/notes.jpg", b"not an image, just notes".to_vec()),
    ];
    for (name, bytes) in &broken {
        let p = raw.join(name);
        crate::atomic::write(&p, bytes).map_err(werr(&p))?;
    }
    let truth_bytes = truth
        .into_inner()
        .map_err(|e| csv_err(e.into_error().into()))?;
    let header = "file,hair_color,eye_color,skin_tone,background,glasses\n";
    crate::atomic::write(truth_path, &[header.as_bytes(), &truth_bytes].concat())
        .map_err(werr(truth_path))?;
    let boxes_path = truth_path.with_file_name("raw-boxes.csv");
    let box_bytes = boxes
        .into_inner()
        .map_err(|e| csv_err(e.into_error().into()))?;
    crate::atomic::write(
        &boxes_path,
        &[b"file,x,y,w,h\n".as_slice(), &box_bytes].concat(),
    )
    .map_err(werr(&boxes_path))?;
    Ok((exact, near, broken.len()))
}
