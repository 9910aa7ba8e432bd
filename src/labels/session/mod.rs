//! The store-level commands: `init` (schema copy + heuristic labels), `status`,
//! `export` (wide CSV and ImageFolder) and `import` (human answers), plus the helpers
//! the rounds share: decoding the dataset's images ([`decode_all`], [`to_pixels`]) and
//! the per-round records ([`RoundInfo`]).

mod answers;
pub(crate) mod export;
mod rounds;
mod status;

pub use answers::{import, store_answers, ImportReport};
pub use export::{export, read_predictions, ExportReport};
pub(crate) use rounds::is_zero;
pub use rounds::{read_rounds, RoundInfo};
pub use status::{status, StatusReport};

use super::classifier::Pixels;
use super::heuristics::{self, HeuristicSpec};
use super::index::DatasetIndex;
use super::store::{Label, LabelStore, Source};
use super::{LabelError, Paths, Schema};
use crate::progress::{self, Verbosity};
use image::imageops::FilterType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

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

/// The indices of the images [`decode_all`] could not decode.
pub fn unreadable(images: &[Option<image::RgbImage>]) -> std::collections::HashSet<usize> {
    (0..images.len()).filter(|&i| images[i].is_none()).collect()
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

/// A network a round saved (`model`: [`Paths::model`] or [`Paths::split_model`]; conv
/// blocks of `channels`, RGB input of side `size`, the defaults' input) predicting every
/// image of `index`, mirrored as the rounds do: to look at a finished run again (its
/// calibration, other labelers beside it).
pub fn predict_saved<B: burn::tensor::backend::AutodiffBackend>(
    model: &Path,
    schema: &Schema,
    index: &DatasetIndex,
    size: usize,
    channels: [usize; 4],
    device: &B::Device,
) -> Result<super::classifier::Outputs, LabelError> {
    let images = decode_all(index, "decode", Verbosity::Quiet);
    let pixels = to_pixels(&images, size, InputColour::default());
    predict_saved_on::<B>(model, schema, &pixels, channels, device)
}

/// [`predict_saved`] on images already decoded (`pixels`, e.g. [`to_pixels`] of
/// [`decode_all`]), for several networks over one decoding.
pub fn predict_saved_on<B: burn::tensor::backend::AutodiffBackend>(
    model: &Path,
    schema: &Schema,
    pixels: &super::classifier::Pixels,
    channels: [usize; 4],
    device: &B::Device,
) -> Result<super::classifier::Outputs, LabelError> {
    let classes: Vec<usize> = schema.attributes.iter().map(|a| a.values.len()).collect();
    let net =
        super::classifier::Net::<B>::load(model, &classes, channels, device).ok_or_else(|| {
            LabelError::io(
                model,
                std::io::Error::other("no network of this schema's shape"),
            )
        })?;
    Ok(super::classifier::predict_mirrored(&net, pixels, device))
}

/// Runs the colour heuristics on every image of `index`, each decoded as its turn comes
/// and dropped after (`label init` held the whole decoded set: 513 MB for 10,000 images of
/// 128 px, growing with the set); returns their labels and how many images could not be
/// decoded.
pub fn heuristic_labels(
    schema: &Schema,
    index: &DatasetIndex,
    v: Verbosity,
) -> (Vec<Label>, usize) {
    let spec = HeuristicSpec::default();
    let pb = progress::bar(index.len() as u64, "heuristics", v);
    let per_image: Vec<Option<Vec<Label>>> = (0..index.len())
        .into_par_iter()
        .map(|i| {
            pb.inc(1);
            let im = image::open(index.path(i)).ok()?.to_rgb8();
            Some(votes_of(schema, index, i, &im, &spec))
        })
        .collect();
    pb.finish_and_clear();
    let unreadable = per_image.iter().filter(|l| l.is_none()).count();
    (
        per_image.into_iter().flatten().flatten().collect(),
        unreadable,
    )
}

/// The colour heuristics' labels of the images `which` (indices into `images`, decoded).
fn heuristic_labels_of(
    schema: &Schema,
    index: &DatasetIndex,
    images: &[Option<image::RgbImage>],
    which: &[usize],
) -> Vec<Label> {
    let spec = HeuristicSpec::default();
    let per_image: Vec<Vec<Label>> = which
        .par_iter()
        .map(|&i| match &images[i] {
            Some(im) => votes_of(schema, index, i, im, &spec),
            None => Vec::new(),
        })
        .collect();
    per_image.into_iter().flatten().collect()
}

/// The heuristics' labels of image `i` of `index`, decoded as `im`.
fn votes_of(
    schema: &Schema,
    index: &DatasetIndex,
    i: usize,
    im: &image::RgbImage,
    spec: &HeuristicSpec,
) -> Vec<Label> {
    let votes = heuristics::votes_in_schema(im, schema, spec);
    schema
        .attributes
        .iter()
        .zip(votes)
        .filter_map(|(a, v)| {
            let v = v?;
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
}

/// Heuristic votes for the images `init` never judged, images a later `prep` added to
/// the folder: those with no vote in `heuristics.csv` (an image every heuristic abstains
/// on is judged again, about one in a thousand on anime-faces-64). The votes join
/// `heuristics.csv` and, where the image has no label for the attribute yet, `store`.
/// Returns how many images got a vote; none when `init` never ran (no `heuristics.csv`).
pub fn judge_new_images(
    paths: &Paths,
    schema: &Schema,
    index: &DatasetIndex,
    images: &[Option<image::RgbImage>],
    store: &mut LabelStore,
) -> Result<usize, LabelError> {
    let file = paths.heuristics();
    if !file.is_file() {
        return Ok(0);
    }
    let mut votes = LabelStore::load(&file, schema)?;
    let new: Vec<usize> = {
        let judged: HashSet<&str> = votes.iter().map(|l| l.file.as_str()).collect();
        (0..index.len())
            .filter(|&i| images[i].is_some() && !judged.contains(index.images[i].as_str()))
            .collect()
    };
    let labels = heuristic_labels_of(schema, index, images, &new);
    let voted: HashSet<String> = labels.iter().map(|l| l.file.clone()).collect();
    if voted.is_empty() {
        return Ok(0);
    }
    for l in labels {
        if store.get(&l.file, &l.attribute).is_none() {
            store.set(l.clone());
        }
        votes.set(l);
    }
    votes.save(&file)?;
    Ok(voted.len())
}

/// `label init`: copies the schema into `DATA/labels/`, runs the heuristics on every
/// image and writes the store (keeping any labels already there; human ones win).
pub fn init(schema_path: &Path, data: &Path, v: Verbosity) -> Result<InitReport, LabelError> {
    let schema = Schema::load(schema_path)?;
    let paths = Paths::new(data);
    let index = DatasetIndex::open(data)?;
    let _held = paths.hold()?;
    let text = std::fs::read(schema_path).map_err(|e| LabelError::io(schema_path, e))?;
    // The store is checked against the new schema before the old copy is replaced: a
    // store of another schema leaves the folder as it was.
    {
        let _lock = LabelStore::lock(&paths.labels())?;
        let store = LabelStore::load(&paths.labels(), &schema)?;
        // The store exists before the schema copy does: the other commands take a schema
        // without its store for a lost store, and people may answer on the page while the
        // heuristics run.
        if !paths.labels().is_file() {
            store.save(&paths.labels())?;
        }
    }
    crate::atomic::write(&paths.schema(), &text).map_err(|e| LabelError::io(&paths.schema(), e))?;
    // Minutes on thousands of images: the store's lock is not held over the heuristics'
    // pass (it froze `label serve`'s page and `import` for all of it), and the store is
    // read again after it, with the answers given meanwhile.
    let (labels, unreadable) = heuristic_labels(&schema, &index, v);
    let mut heuristic_votes: BTreeMap<String, usize> = schema
        .attributes
        .iter()
        .map(|a| (a.name.clone(), 0))
        .collect();
    let mut votes = LabelStore::new();
    for l in &labels {
        *heuristic_votes.entry(l.attribute.clone()).or_insert(0) += 1;
        votes.set(l.clone());
    }
    votes.save(&paths.heuristics())?;
    LabelStore::update(&paths.labels(), &schema, |store| {
        store.clear_source(Source::Heuristic);
        // A vote fills a gap only: the rounds' model labels (and people's) stay. A vote a
        // round withdrew returns until the next round judges the heuristic again.
        for l in labels {
            if store.get(&l.file, &l.attribute).is_none() {
                store.set(l);
            }
        }
    })?;
    Ok(InitReport {
        images: index.len(),
        heuristic_votes,
        unreadable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
