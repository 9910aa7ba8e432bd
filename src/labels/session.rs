//! The store-level commands: `init` (schema copy + heuristic labels), `status`,
//! `export` (wide CSV and ImageFolder) and `import` (human answers), plus the helpers
//! the rounds share: decoding the dataset's images and the per-round records.

use super::classifier::Pixels;
use super::heuristics::{self, HeuristicSpec};
use super::import::{self as importer, Layout};
use super::index::DatasetIndex;
use super::store::{Label, LabelStore, Source};
use super::{LabelError, Paths, Schema};
use crate::progress::{self, Verbosity};
use image::imageops::FilterType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `init` did.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    /// Images in the dataset.
    pub images: usize,
    /// Heuristic votes per attribute (the rest abstained).
    pub heuristic_votes: BTreeMap<String, usize>,
    /// Images that could not be decoded.
    pub unreadable: usize,
}

/// Decodes every image of `index` as RGB (unreadable ones become `None`).
pub fn decode_all(index: &DatasetIndex, what: &str, v: Verbosity) -> Vec<Option<image::RgbImage>> {
    let pb = progress::bar(index.len() as u64, what, v);
    let out = (0..index.len())
        .into_par_iter()
        .map(|i| {
            pb.inc(1);
            image::open(index.path(i)).ok().map(|im| im.to_rgb8())
        })
        .collect();
    pb.finish_and_clear();
    out
}

/// The colour space of the classifier's input planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputColour {
    /// sRGB, each channel scaled to -1..1 (default).
    #[default]
    Rgb,
    /// CIE Lab (D65, [`heuristics::rgb_to_lab`]): L/50 - 1, a/100, b/100. Lightness and the
    /// two opponent axes are what tells neighbouring hair and eye colours apart (orange
    /// from brown, red from pink); trained once on 500 random labels it gave +0.3 / +0.4
    /// points hair / eye over RGB on three draws, but in the loop (one draw) nothing at
    /// 500 answers (BENCHMARKS.md, label, session 18).
    Lab,
}

/// Resizes decoded images to the classifier's input (`size` px, values in about -1..1, in
/// the colour space `colour`).
pub fn to_pixels(images: &[Option<image::RgbImage>], size: usize, colour: InputColour) -> Pixels {
    let plane = size * size;
    let per = 3 * plane;
    let chunks: Vec<Vec<f32>> = images
        .par_iter()
        .map(|im| {
            let mut v = vec![0.0f32; per];
            if let Some(im) = im {
                let small = if im.width() as usize == size && im.height() as usize == size {
                    im.clone()
                } else {
                    image::imageops::resize(im, size as u32, size as u32, FilterType::Triangle)
                };
                for (x, y, p) in small.enumerate_pixels() {
                    let at = y as usize * size + x as usize;
                    let c = match colour {
                        InputColour::Rgb => p.0.map(|c| c as f32 / 127.5 - 1.0),
                        InputColour::Lab => {
                            let [l, a, b] = heuristics::rgb_to_lab(p.0);
                            [l / 50.0 - 1.0, a / 100.0, b / 100.0]
                        }
                    };
                    for (k, c) in c.into_iter().enumerate() {
                        v[k * plane + at] = c;
                    }
                }
            }
            v
        })
        .collect();
    Pixels {
        size,
        data: chunks.concat(),
    }
}

/// Runs the colour heuristics on every image and returns their labels.
pub fn heuristic_labels(
    schema: &Schema,
    index: &DatasetIndex,
    images: &[Option<image::RgbImage>],
) -> Vec<Label> {
    let spec = HeuristicSpec::default();
    let per_image: Vec<Vec<Label>> = images
        .par_iter()
        .enumerate()
        .map(|(i, im)| {
            let Some(im) = im else { return Vec::new() };
            schema
                .attributes
                .iter()
                .filter_map(|a| {
                    let v = heuristics::vote(im, a, &spec)?;
                    Some(Label {
                        file: index.images[i].clone(),
                        attribute: a.name.clone(),
                        value: a.values[v.value].clone(),
                        confidence: v.confidence,
                        source: Source::Heuristic,
                        round: 0,
                    })
                })
                .collect()
        })
        .collect();
    per_image.into_iter().flatten().collect()
}

/// `label init`: copies the schema into `DATA/labels/`, runs the heuristics on every
/// image and writes the store (keeping any labels already there; human ones win).
pub fn init(schema_path: &Path, data: &Path, v: Verbosity) -> Result<InitReport, LabelError> {
    let schema = Schema::load(schema_path)?;
    let paths = Paths::new(data);
    let index = DatasetIndex::open(data)?;
    let text = std::fs::read(schema_path).map_err(|e| LabelError::io(schema_path, e))?;
    crate::atomic::write(&paths.schema(), &text).map_err(|e| LabelError::io(&paths.schema(), e))?;
    let mut store = LabelStore::load(&paths.labels(), &schema)?;
    let images = decode_all(&index, "decode", v);
    let unreadable = images.iter().filter(|i| i.is_none()).count();
    store.clear_source(Source::Heuristic);
    let mut heuristic_votes: BTreeMap<String, usize> = schema
        .attributes
        .iter()
        .map(|a| (a.name.clone(), 0))
        .collect();
    let mut votes = LabelStore::new();
    for l in heuristic_labels(&schema, &index, &images) {
        *heuristic_votes.entry(l.attribute.clone()).or_insert(0) += 1;
        votes.set(l.clone());
        store.set(l);
    }
    votes.save(&paths.heuristics())?;
    store.save(&paths.labels())?;
    Ok(InitReport {
        images: index.len(),
        heuristic_votes,
        unreadable,
    })
}

/// The record of one round (`rounds.json` holds all of them).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RoundInfo {
    /// Round number, from 1.
    pub round: u32,
    /// Human labels in the store when the round trained.
    pub human: usize,
    /// Training examples (human + trusted heuristic).
    pub train_samples: usize,
    /// Per attribute: the heuristic's agreement with people on the images both
    /// labeled, the number of such images, and whether its labels trained this round.
    #[serde(default)]
    pub heuristic_agreement: BTreeMap<String, (f32, usize, bool)>,
    /// The same over all the heuristic's votes, whatever their confidence, and whether
    /// its votes stand as labels in the store.
    #[serde(default)]
    pub heuristic_labels: BTreeMap<String, (f32, usize, bool)>,
    /// One human label in this many was held out for calibration (`RoundSpec`).
    #[serde(default = "default_calibration_every")]
    pub calibration_every: u64,
    /// Held-out human labels used for temperature scaling, per attribute.
    pub calibration_size: BTreeMap<String, usize>,
    /// Fitted temperature per attribute.
    pub temperature: BTreeMap<String, f32>,
    /// Expected calibration error on the held-out labels after scaling, per attribute.
    pub ece: BTreeMap<String, f32>,
    /// Model labels accepted (confidence at or above the threshold), per attribute.
    pub accepted: BTreeMap<String, usize>,
    /// Images queued for a person.
    pub queued: usize,
    /// Of those, how many were drawn at random: the warm-up's (`RoundSpec::warmup`), or all
    /// of them under the random strategy.
    #[serde(default)]
    pub queued_random: usize,
    /// Seconds the round took.
    pub seconds: f64,
    /// Of those, training the network(s) (0 in rounds recorded before it was kept).
    #[serde(default)]
    pub train_seconds: f64,
    /// And predicting every image.
    #[serde(default)]
    pub predict_seconds: f64,
}

impl std::fmt::Display for RoundInfo {
    /// What the round did, for a person: one line for the round, one per attribute
    /// (temperature, calibration, accepted labels, the heuristic's standing).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "round {}: {} people's labels, {} training images, {} queued ({} at random), {:.1} s (training {:.1} s)",
            self.round,
            self.human,
            self.train_samples,
            self.queued,
            self.queued_random,
            self.seconds,
            self.train_seconds
        )?;
        for (attr, t) in &self.temperature {
            let held = self.calibration_size.get(attr).copied().unwrap_or(0);
            let ece = self
                .ece
                .get(attr)
                .map_or("-".to_string(), |e| format!("{e:.3}"));
            let accepted = self.accepted.get(attr).copied().unwrap_or(0);
            write!(
                f,
                "  {attr}: temperature {t:.2}, ECE {ece} on {held} held-out labels, {accepted} model labels accepted"
            )?;
            if let Some((share, n, trains)) = self.heuristic_agreement.get(attr) {
                let verdict = if *trains { "trains" } else { "left out" };
                write!(
                    f,
                    "; heuristic agrees with people on {:.0}% of {n}: {verdict}",
                    100.0 * share
                )?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Rounds recorded before `calibration_every` existed held out one label in five.
fn default_calibration_every() -> u64 {
    5
}

/// Reads `rounds.json` (empty when absent).
pub fn read_rounds(paths: &Paths) -> Vec<RoundInfo> {
    std::fs::read(paths.rounds())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Counts and coverage of the store.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Images in the dataset.
    pub images: usize,
    /// Per attribute: labels per source.
    pub by_source: BTreeMap<String, BTreeMap<String, usize>>,
    /// Per attribute: labels per value.
    pub by_value: BTreeMap<String, BTreeMap<String, usize>>,
    /// Per attribute: share of images with a label.
    pub coverage: BTreeMap<String, f32>,
    /// Queue items still waiting for a person.
    pub pending: usize,
    /// The last round, if any.
    pub last_round: Option<RoundInfo>,
}

impl std::fmt::Display for StatusReport {
    /// The summary `label status` prints on a terminal: one line per attribute with its
    /// labels by source and its coverage, the values' counts, and the last round.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} images, {} questions pending",
            self.images, self.pending
        )?;
        let width = self
            .by_source
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(9)
            .max(9);
        writeln!(
            f,
            "{:<width$}  {:>7}  {:>9}  {:>7}  {:>8}",
            "attribute", "human", "heuristic", "model", "coverage"
        )?;
        for (attr, sources) in &self.by_source {
            let n = |s: Source| sources.get(&s.to_string()).copied().unwrap_or(0);
            writeln!(
                f,
                "{attr:<width$}  {:>7}  {:>9}  {:>7}  {:>7.1}%",
                n(Source::Human),
                n(Source::Heuristic),
                n(Source::Model),
                100.0 * self.coverage.get(attr).copied().unwrap_or(0.0)
            )?;
        }
        for (attr, values) in &self.by_value {
            let counts: Vec<String> = values.iter().map(|(v, n)| format!("{v} {n}")).collect();
            writeln!(f, "{attr}: {}", counts.join(", "))?;
        }
        let Some(r) = &self.last_round else {
            return writeln!(f, "no round yet (`facesynth label round --data DIR`)");
        };
        write!(f, "last {r}")
    }
}

/// `label status`.
pub fn status(data: &Path) -> Result<StatusReport, LabelError> {
    let paths = Paths::new(data);
    let schema = paths.load_schema()?;
    let index = DatasetIndex::open(data)?;
    let store = LabelStore::load(&paths.labels(), &schema)?;
    let mut by_source: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut by_value: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for a in &schema.attributes {
        by_source.insert(a.name.clone(), BTreeMap::new());
        by_value.insert(
            a.name.clone(),
            a.values.iter().map(|v| (v.clone(), 0)).collect(),
        );
    }
    for l in store.iter() {
        *by_source
            .entry(l.attribute.clone())
            .or_default()
            .entry(l.source.to_string())
            .or_insert(0) += 1;
        *by_value
            .entry(l.attribute.clone())
            .or_default()
            .entry(l.value.clone())
            .or_insert(0) += 1;
    }
    let coverage = by_source
        .iter()
        .map(|(a, m)| {
            (
                a.clone(),
                m.values().sum::<usize>() as f32 / index.len() as f32,
            )
        })
        .collect();
    let pending = super::queue::pending(&paths, &schema, &store)?.len();
    Ok(StatusReport {
        images: index.len(),
        by_source,
        by_value,
        coverage,
        pending,
        last_round: read_rounds(&paths).pop(),
    })
}

/// What `export` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// The wide CSV.
    pub wide: PathBuf,
    /// The ImageFolder root (`DATA/imagefolder/<attribute>/<value>/`).
    pub image_folder: PathBuf,
    /// Rows of the wide CSV (images).
    pub rows: usize,
    /// Per attribute: cells filled.
    pub filled: BTreeMap<String, usize>,
}

/// Reads `predictions.csv` into (file, attribute) -> (value, confidence).
pub fn read_predictions(paths: &Paths) -> BTreeMap<(String, String), (String, f32)> {
    let mut out = BTreeMap::new();
    let Ok(mut rdr) = csv::Reader::from_path(paths.predictions()) else {
        return out;
    };
    for rec in rdr.records().flatten() {
        if rec.len() >= 4 {
            let c = rec[3].parse().unwrap_or(0.0);
            out.insert(
                (rec[0].to_string(), rec[1].to_string()),
                (rec[2].to_string(), c),
            );
        }
    }
    out
}

/// `label export`: `DATA/labels_wide.csv` (`file,<attr>...`, empty cells where there is
/// no label; with `fill`, gaps take the last round's prediction) and an ImageFolder
/// layout of hard links (copies where links fail), one tree per attribute.
pub fn export(data: &Path, fill: bool) -> Result<ExportReport, LabelError> {
    let paths = Paths::new(data);
    let schema = paths.load_schema()?;
    let index = DatasetIndex::open(data)?;
    let store = LabelStore::load(&paths.labels(), &schema)?;
    let preds = if fill {
        read_predictions(&paths)
    } else {
        BTreeMap::new()
    };
    let mut filled: BTreeMap<String, usize> = schema
        .attributes
        .iter()
        .map(|a| (a.name.clone(), 0))
        .collect();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for file in &index.images {
        let mut row = vec![file.clone()];
        for a in &schema.attributes {
            let v = store
                .get(file, &a.name)
                .map(|l| l.value.clone())
                .or_else(|| {
                    preds
                        .get(&(file.clone(), a.name.clone()))
                        .map(|p| p.0.clone())
                })
                .unwrap_or_default();
            if !v.is_empty() {
                *filled.entry(a.name.clone()).or_insert(0) += 1;
            }
            row.push(v);
        }
        rows.push(row);
    }
    let wide = paths.wide();
    crate::atomic::write_with(&wide, |w| {
        let mut wtr = csv::Writer::from_writer(w);
        let mut header = vec!["file".to_string()];
        header.extend(schema.attributes.iter().map(|a| a.name.clone()));
        wtr.write_record(&header)?;
        for r in &rows {
            wtr.write_record(r)?;
        }
        wtr.flush()
    })
    .map_err(|e| LabelError::io(&wide, e))?;
    let root = paths.image_folder();
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(|e| LabelError::io(&root, e))?;
    }
    for r in &rows {
        let under = r[0]
            .strip_prefix("images/")
            .unwrap_or(&r[0])
            .replace('/', "__");
        for (a, value) in schema.attributes.iter().zip(&r[1..]) {
            if value.is_empty() {
                continue;
            }
            let dst = root.join(&a.name).join(value).join(&under);
            if let Some(p) = dst.parent() {
                std::fs::create_dir_all(p).map_err(|e| LabelError::io(p, e))?;
            }
            let src = data.join(&r[0]);
            if std::fs::hard_link(&src, &dst).is_err() {
                let bytes = std::fs::read(&src).map_err(|e| LabelError::io(&src, e))?;
                crate::atomic::write(&dst, &bytes).map_err(|e| LabelError::io(&dst, e))?;
            }
        }
    }
    Ok(ExportReport {
        wide,
        image_folder: root,
        rows: rows.len(),
        filled,
    })
}

/// What `import` read.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// `wide`, `answers` or `imagefolder`.
    pub layout: String,
    /// Human labels stored.
    pub imported: usize,
    /// Rows naming images not in the dataset.
    pub unmatched: usize,
    /// Empty or skipped cells.
    pub skipped: usize,
}

/// Stores `answers` as human labels of `round`.
pub fn store_answers(
    store: &mut LabelStore,
    schema: &Schema,
    index: &DatasetIndex,
    answers: &[importer::Answer],
    round: u32,
) -> usize {
    let mut n = 0;
    for a in answers {
        let attr = &schema.attributes[a.attribute];
        n += store.set(Label {
            file: index.images[a.image].clone(),
            attribute: attr.name.clone(),
            value: attr.values[a.value].clone(),
            confidence: 1.0,
            source: Source::Human,
            round,
        }) as usize;
    }
    n
}

/// `label import FILE`: a wide CSV, an answers file or (a folder) an ImageFolder
/// layout for `attribute`, stored as human labels.
pub fn import(
    data: &Path,
    file: &Path,
    attribute: Option<&str>,
) -> Result<ImportReport, LabelError> {
    let paths = Paths::new(data);
    let schema = paths.load_schema()?;
    let index = DatasetIndex::open(data)?;
    let mut store = LabelStore::load(&paths.labels(), &schema)?;
    let (layout, got) = importer::read_any(file, &schema, &index, attribute)?;
    let round = read_rounds(&paths).last().map_or(0, |r| r.round);
    let imported = store_answers(&mut store, &schema, &index, &got.answers, round);
    store.save(&paths.labels())?;
    let layout = match layout {
        Layout::Wide => "wide",
        Layout::Answers => "answers",
        Layout::ImageFolder => "imagefolder",
    };
    Ok(ImportReport {
        layout: layout.into(),
        imported,
        unmatched: got.unmatched,
        skipped: got.skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_summary_reads_as_a_table() {
        let map = |kv: &[(&str, usize)]| -> BTreeMap<String, usize> {
            kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        let mut report = StatusReport {
            images: 200,
            by_source: [(
                "hair_color".to_string(),
                map(&[("human", 40), ("model", 110)]),
            )]
            .into(),
            by_value: [("hair_color".to_string(), map(&[("black", 90), ("red", 60)]))].into(),
            coverage: [("hair_color".to_string(), 0.75)].into(),
            pending: 12,
            last_round: None,
        };
        let text = report.to_string();
        assert!(
            text.starts_with("200 images, 12 questions pending\n"),
            "{text}"
        );
        let row = text.lines().find(|l| l.starts_with("hair_color ")).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells, ["hair_color", "40", "0", "110", "75.0%"], "{text}");
        assert!(text.contains("hair_color: black 90, red 60"), "{text}");
        assert!(text.contains("no round yet"), "{text}");
        report.last_round = Some(RoundInfo {
            round: 2,
            human: 40,
            temperature: [("hair_color".to_string(), 1.5)].into(),
            ece: [("hair_color".to_string(), 0.031)].into(),
            calibration_size: [("hair_color".to_string(), 8)].into(),
            heuristic_agreement: [("hair_color".to_string(), (0.92, 50, false))].into(),
            ..Default::default()
        });
        let text = report.to_string();
        assert!(text.contains("last round 2: 40 people's labels"), "{text}");
        assert!(
            text.contains("heuristic agrees with people on 92% of 50: left out"),
            "{text}"
        );
        assert!(
            text.contains("hair_color: temperature 1.50, ECE 0.031 on 8 held-out labels"),
            "{text}"
        );
    }

    #[test]
    fn input_planes_in_rgb_and_lab() {
        // White, black, red and a grey, one pixel each, at their own size (no resize).
        let mut im = image::RgbImage::new(2, 2);
        im.put_pixel(0, 0, image::Rgb([255, 255, 255]));
        im.put_pixel(1, 0, image::Rgb([0, 0, 0]));
        im.put_pixel(0, 1, image::Rgb([255, 0, 0]));
        im.put_pixel(1, 1, image::Rgb([128, 128, 128]));
        let images = [Some(im), None];
        let plane = |p: &Pixels, img: usize, c: usize| -> Vec<f32> {
            p.data[img * 12 + c * 4..img * 12 + c * 4 + 4].to_vec()
        };
        let rgb = to_pixels(&images, 2, InputColour::Rgb);
        assert_eq!(rgb.data.len(), 24);
        assert_eq!(plane(&rgb, 0, 0), vec![1.0, -1.0, 1.0, 128.0 / 127.5 - 1.0]);
        assert_eq!(
            plane(&rgb, 0, 1),
            vec![1.0, -1.0, -1.0, 128.0 / 127.5 - 1.0]
        );
        assert!(
            plane(&rgb, 1, 0).iter().all(|&v| v == 0.0),
            "no image: zeros"
        );
        let lab = to_pixels(&images, 2, InputColour::Lab);
        let (l, a, b) = (plane(&lab, 0, 0), plane(&lab, 0, 1), plane(&lab, 0, 2));
        let near = |x: f32, y: f32| (x - y).abs() < 0.01;
        // Lightness: white 1, black -1, mid grey about L 53.6; greys have no a or b.
        assert!(
            near(l[0], 1.0) && near(l[1], -1.0) && near(l[3], 53.59 / 50.0 - 1.0),
            "{l:?}"
        );
        for k in [0, 1, 3] {
            assert!(
                near(a[k], 0.0) && near(b[k], 0.0),
                "grey {k}: a {a:?} b {b:?}"
            );
        }
        // sRGB red: L 53.2, a 80.1, b 67.2.
        assert!(
            near(l[2], 53.24 / 50.0 - 1.0) && near(a[2], 0.801) && near(b[2], 0.672),
            "red: {l:?} {a:?} {b:?}"
        );
    }
}
