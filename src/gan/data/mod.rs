//! Training data: images decoded once (in parallel) into one compact `u8` buffer at the
//! training size, with class indices per attribute. Sources: a folder with a wide labels
//! CSV (`labels_wide.csv`, `truth.csv`, `tags.csv` or `--labels`), an ImageFolder layout
//! (one folder per class), any image folder for unconditional models (labels ignored),
//! MNIST IDX files, or images in memory.

mod listing;
mod mnist;

pub use mnist::load_mnist;

use super::GanError;
use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};
use listing::wide_listing;
pub(crate) use listing::{folder_tree, image_folder, long_format, row_name, FolderTree};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One conditioning attribute and its values; a class index is a position in `values`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attribute {
    /// Column name (`hair_color`, `digit`, `class`).
    pub name: String,
    /// Values in class-index order (sorted).
    pub values: Vec<String>,
}

/// Decoded images, `[n, channels, size, size]` as `u8`, and their labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Image side.
    pub size: u32,
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Pixels, channel-major per image.
    pub pixels: Vec<u8>,
    /// Class index of each image for each attribute: `labels[i * attrs.len() + a]`.
    pub labels: Vec<u32>,
    /// The attributes, in the order of `labels`.
    pub attrs: Vec<Attribute>,
    /// Files skipped, as `path: reason`: undecodable, or named by the labels CSV but not
    /// in the dataset folder.
    pub skipped: Vec<String>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / self.image_len().max(1)
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values per image (`channels * size * size`).
    pub fn image_len(&self) -> usize {
        self.channels * (self.size * self.size) as usize
    }

    /// Builds a dataset from images and their label values (one per attribute name).
    pub fn from_images(
        images: Vec<(DynamicImage, Vec<String>)>,
        attr_names: &[String],
        size: u32,
        channels: usize,
    ) -> Dataset {
        let mut values: Vec<BTreeSet<String>> = vec![BTreeSet::new(); attr_names.len()];
        for (_, labels) in &images {
            for (set, v) in values.iter_mut().zip(labels) {
                set.insert(v.clone());
            }
        }
        let attrs: Vec<Attribute> = attr_names
            .iter()
            .zip(values)
            .map(|(name, set)| Attribute {
                name: name.clone(),
                values: set.into_iter().collect(),
            })
            .collect();
        let encoded: Vec<(Vec<u8>, Vec<u32>)> = images
            .into_par_iter()
            .map(|(img, labels)| {
                let idx = labels
                    .iter()
                    .zip(&attrs)
                    .map(|(v, a)| a.values.iter().position(|x| x == v).unwrap_or(0) as u32)
                    .collect();
                (to_chw(&img, size, channels), idx)
            })
            .collect();
        let mut pixels = Vec::with_capacity(encoded.len() * channels * (size * size) as usize);
        let mut labels = Vec::new();
        for (p, l) in encoded {
            pixels.extend(p);
            labels.extend(l);
        }
        Dataset {
            size,
            channels,
            pixels,
            labels,
            attrs,
            skipped: Vec::new(),
        }
    }

    /// The images whose attribute `attr` has value `value`, with that attribute removed.
    pub fn subset(&self, attr: &str, value: &str) -> Option<Dataset> {
        let a = self.attrs.iter().position(|x| x.name == attr)?;
        let v = self.attrs[a].values.iter().position(|x| x == value)? as u32;
        let (na, il) = (self.attrs.len(), self.image_len());
        let mut out = Dataset {
            attrs: self
                .attrs
                .iter()
                .filter(|x| x.name != attr)
                .cloned()
                .collect(),
            pixels: Vec::new(),
            labels: Vec::new(),
            skipped: Vec::new(),
            ..*self
        };
        for i in 0..self.len() {
            let l = &self.labels[i * na..(i + 1) * na];
            if l[a] == v {
                out.pixels
                    .extend_from_slice(&self.pixels[i * il..(i + 1) * il]);
                out.labels.extend(
                    l.iter()
                        .enumerate()
                        .filter(|(j, _)| *j != a)
                        .map(|(_, x)| *x),
                );
            }
        }
        out.keep_present_values();
        Some(out)
    }

    /// How many images have each value of attribute `a`.
    pub fn value_counts(&self, a: usize) -> Vec<usize> {
        let mut counts = vec![0usize; self.attrs[a].values.len()];
        for &l in self.labels.iter().skip(a).step_by(self.attrs.len()) {
            counts[l as usize] += 1;
        }
        counts
    }

    /// Drops the values no image has from each attribute's list, and renumbers the
    /// labels. A class model of a split run knew every value of the whole set: values
    /// its images never had kept their untrained embeddings, and `generate` drew them
    /// (and took them when asked) without a word.
    fn keep_present_values(&mut self) {
        let present = (0..self.attrs.len())
            .map(|a| {
                let counts = self.value_counts(a);
                let values = self.attrs[a].values.iter().zip(counts);
                values
                    .filter(|(_, n)| *n > 0)
                    .map(|(v, _)| v.clone())
                    .collect()
            })
            .collect();
        let renumbered = self.renumber(present);
        debug_assert!(renumbered, "every present value is in its own list");
    }

    /// Takes `saved`'s value lists (a class model's `classes.json`) where they hold every
    /// value this dataset's images have, renumbering the labels; false, and nothing
    /// changed, where they do not. A split's class model resumes with the values it was
    /// saved with: one that gained a value since (labeling goes on) keeps its slots.
    pub fn relabel_onto(&mut self, saved: &[Attribute]) -> bool {
        if saved.len() != self.attrs.len()
            || self.attrs.iter().zip(saved).any(|(a, s)| a.name != s.name)
        {
            return false;
        }
        self.renumber(saved.iter().map(|s| s.values.clone()).collect())
    }

    /// Gives each attribute the value list of `lists` (one per attribute), its labels
    /// renumbered to it; false, and nothing changed, where a value an image has is not
    /// in its new list.
    fn renumber(&mut self, lists: Vec<Vec<String>>) -> bool {
        let na = self.attrs.len();
        let mut maps: Vec<Vec<u32>> = Vec::with_capacity(na);
        for (a, list) in lists.iter().enumerate() {
            let counts = self.value_counts(a);
            let map: Option<Vec<u32>> = self.attrs[a]
                .values
                .iter()
                .zip(counts)
                .map(|(v, n)| match n {
                    // No image has it: no label to renumber.
                    0 => Some(0),
                    _ => list.iter().position(|x| x == v).map(|p| p as u32),
                })
                .collect();
            match map {
                Some(m) => maps.push(m),
                None => return false,
            }
        }
        for (k, l) in self.labels.iter_mut().enumerate() {
            *l = maps[k % na][*l as usize];
        }
        for (attr, list) in self.attrs.iter_mut().zip(lists) {
            attr.values = list;
        }
        true
    }

    /// Keeps only the attributes named in `names` (in that order).
    pub fn select_attrs(&mut self, names: &[String]) {
        let na = self.attrs.len();
        let idx: Vec<usize> = names
            .iter()
            .filter_map(|n| self.attrs.iter().position(|a| &a.name == n))
            .collect();
        let mut labels = Vec::with_capacity(self.len() * idx.len());
        for i in 0..self.len() {
            labels.extend(idx.iter().map(|&j| self.labels[i * na + j]));
        }
        self.labels = labels;
        self.attrs = idx.iter().map(|&j| self.attrs[j].clone()).collect();
    }
}

/// Resizes and converts an image to channel-major `u8`.
pub fn to_chw(img: &DynamicImage, size: u32, channels: usize) -> Vec<u8> {
    let img = if img.width() != size || img.height() != size {
        img.resize_exact(size, size, FilterType::Triangle)
    } else {
        img.clone()
    };
    let n = (size * size) as usize;
    if channels == 1 {
        return img.to_luma8().into_raw();
    }
    let rgb: RgbImage = img.to_rgb8();
    let mut out = vec![0u8; 3 * n];
    for (i, px) in rgb.pixels().enumerate() {
        for c in 0..3 {
            out[c * n + i] = px.0[c];
        }
    }
    out
}

/// What to load: resolved from the training settings.
#[derive(Debug, Clone)]
pub struct DataSource<'a> {
    /// Dataset folder.
    pub data: Option<&'a Path>,
    /// Labels CSV.
    pub labels: Option<&'a Path>,
    /// MNIST IDX folder.
    pub mnist: Option<&'a Path>,
    /// Attributes needed (conditioning + split); empty with `need_labels`: the first.
    pub attrs: Vec<String>,
    /// Whether labels are required.
    pub need_labels: bool,
    /// Training image side.
    pub size: u32,
}

/// Loads a dataset as `src` says.
pub fn load(src: &DataSource) -> Result<Dataset, GanError> {
    if let Some(dir) = src.mnist {
        return load_mnist(dir, src.size);
    }
    let dir = src.data.ok_or_else(|| GanError::Settings {
        reason: "no --data or --mnist given".into(),
    })?;
    if !dir.is_dir() {
        return Err(GanError::Data {
            path: dir.to_path_buf(),
            reason: "not a folder".into(),
        });
    }
    crate::dataset::manifest::refuse_unfinished(dir).map_err(|e| GanError::Data {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let csv = src.labels.map(Path::to_path_buf).or_else(|| {
        LABEL_FILES
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
    });
    let mut unmatched = Vec::new();
    let (files, names, values) = match csv {
        Some(csv) if src.need_labels || src.labels.is_some() => {
            let (listing, missing) = wide_listing(dir, &csv, &src.attrs)?;
            unmatched = missing;
            listing
        }
        // A label store without its export: the folders under `images/` are where the
        // files came from, not labels, and training on them would condition on that.
        _ if src.need_labels && names_schema_attributes(dir, &src.attrs) => {
            return Err(GanError::Data {
                path: dir.to_path_buf(),
                reason: "it holds a label store (labels/) but no labels_wide.csv: run \
                         `facesynth label export --data DIR` first, or give --labels CSV"
                    .into(),
            });
        }
        _ if src.need_labels => image_folder(dir, &src.attrs)?,
        _ => {
            let files = unlabeled_images(dir)?;
            let n = files.len();
            (files, Vec::new(), vec![Vec::new(); n])
        }
    };
    if files.is_empty() {
        return Err(GanError::Data {
            path: dir.to_path_buf(),
            reason: "no images found".into(),
        });
    }
    let decoded: Vec<Result<(DynamicImage, Vec<String>), String>> = files
        .par_iter()
        .zip(values)
        .map(|(f, v)| {
            let p = dir.join(f);
            // Resize right away: only training-size images are ever held.
            image::open(&p)
                .map(|img| {
                    let img = if img.width() != src.size || img.height() != src.size {
                        img.resize_exact(src.size, src.size, FilterType::Triangle)
                    } else {
                        img
                    };
                    (img, v)
                })
                .map_err(|e| format!("{}: {e}", p.display()))
        })
        .collect();
    let (mut ok, mut skipped) = (Vec::new(), Vec::new());
    for d in decoded {
        match d {
            Ok(x) => ok.push(x),
            Err(e) => skipped.push(e),
        }
    }
    let mut ds = Dataset::from_images(ok, &names, src.size, 3);
    skipped.extend(unmatched);
    ds.skipped = skipped;
    if ds.is_empty() {
        return Err(GanError::Data {
            path: dir.to_path_buf(),
            reason: "no image could be decoded".into(),
        });
    }
    Ok(ds)
}

/// Whether `dir` holds a label store and `attrs` ask for its attributes (or name none):
/// then its class folders are not what is asked for. A store's schema that cannot be
/// read counts as asking.
fn names_schema_attributes(dir: &Path, attrs: &[String]) -> bool {
    let path = crate::labels::Paths::new(dir).schema();
    if !path.is_file() {
        return false;
    }
    match crate::labels::Schema::load(&path) {
        Ok(schema) => attrs.is_empty() || attrs.iter().any(|a| schema.attribute_index(a).is_some()),
        Err(_) => true,
    }
}

/// Wide label files looked for in a dataset folder, in this order: `facesynth label
/// export`'s, the synthetic faces' truth, and the tags of a scraped set (anime-faces).
pub const LABEL_FILES: [&str; 3] = ["labels_wide.csv", "truth.csv", "tags.csv"];

/// Every image of a dataset folder, labels ignored, relative to `dir`: the kept rows of a
/// prep output's manifest, else every image below `DIR/images/`, else below `DIR`
/// (an ImageFolder's class folders or a flat folder). Its callers have refused a folder
/// whose prep has not finished ([`refuse_unfinished`](crate::dataset::manifest::refuse_unfinished)).
pub fn unlabeled_images(dir: &Path) -> Result<Vec<PathBuf>, GanError> {
    use crate::dataset::manifest;
    if dir.join(manifest::MANIFEST_FILE).is_file() {
        return manifest::kept_images(dir).map_err(|e| GanError::Data {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        });
    }
    let root = if dir.join("images").is_dir() {
        dir.join("images")
    } else {
        dir.to_path_buf()
    };
    let files = crate::dataset::walk::image_files(&root).map_err(|e| GanError::Data {
        path: root.clone(),
        reason: e.to_string(),
    })?;
    Ok(files
        .iter()
        .map(|f| f.strip_prefix(dir).unwrap_or(f).to_path_buf())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_and_select() {
        let img =
            |v: u8| DynamicImage::ImageRgb8(RgbImage::from_pixel(4, 4, image::Rgb([v, v, v])));
        let names = vec!["a".to_string(), "b".to_string()];
        let ds = Dataset::from_images(
            vec![
                (img(1), vec!["x".into(), "p".into()]),
                (img(2), vec!["y".into(), "q".into()]),
                (img(3), vec!["x".into(), "q".into()]),
            ],
            &names,
            4,
            3,
        );
        assert_eq!(ds.len(), 3);
        assert_eq!(ds.labels, vec![0, 0, 1, 1, 0, 1]);
        let s = ds.subset("a", "x").unwrap();
        assert_eq!(
            (s.len(), s.attrs.len(), s.labels.clone()),
            (2, 1, vec![0, 1])
        );
        assert_eq!(s.pixels[s.image_len()], 3);
        // Regression: y's model knew b=p, which no y image has, and generate drew it.
        let y = ds.subset("a", "y").unwrap();
        assert_eq!(
            (y.attrs[0].values.clone(), y.labels.clone()),
            (vec!["q".to_string()], vec![0])
        );
        // On --resume, a class model saved with more values (an older build's whole-set
        // lists) keeps them; one saved without a value its images have now does not.
        let mut resumed = y.clone();
        assert!(resumed.relabel_onto(&ds.attrs[1..]));
        assert_eq!(
            (resumed.attrs[0].values.clone(), resumed.labels.clone()),
            (vec!["p".to_string(), "q".to_string()], vec![1])
        );
        let mut other = y.clone();
        let only_p = vec![super::Attribute {
            name: "b".into(),
            values: vec!["p".into()],
        }];
        assert!(!other.relabel_onto(&only_p));
        assert_eq!(other.labels, y.labels);
        let mut t = ds.clone();
        t.select_attrs(&["b".into()]);
        assert_eq!(t.labels, vec![0, 1, 1]);
    }

    /// `label export`'s tree trains on the attributes named (it trained on a `class`
    /// whose values were the attribute names, every image twice); a one-level folder
    /// takes the one `--attr` name.
    /// Regression: a prep output with a label store and no `labels_wide.csv` trained a
    /// conditional model on the names of the source folders under `images/`.
    #[test]
    fn a_label_store_without_its_export_is_no_class_folder() {
        let d = tempfile::tempdir().unwrap();
        for rel in ["images/anime/a.png", "images/noisy/b.png"] {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            RgbImage::from_pixel(4, 4, image::Rgb([9, 9, 9]))
                .save(&p)
                .unwrap();
        }
        let src = DataSource {
            data: Some(d.path()),
            labels: None,
            mnist: None,
            attrs: vec!["hair_color".into()],
            need_labels: true,
            size: 4,
        };
        // Class folders of a prep output are read as such...
        let ds = load(&src).unwrap();
        assert_eq!(ds.len(), 2);
        // ...but not once a label store says the labels are elsewhere.
        let schema = crate::labels::Paths::new(d.path()).schema();
        std::fs::create_dir_all(schema.parent().unwrap()).unwrap();
        let anime = Path::new(env!("CARGO_MANIFEST_DIR")).join("labels/anime.toml");
        std::fs::copy(anime, &schema).unwrap();
        let e = load(&src).unwrap_err().to_string();
        assert!(
            e.contains("label export") && e.contains("labels_wide.csv"),
            "{e}"
        );
        // Folders asked for by a name the schema does not hold are still classes.
        let classes = DataSource {
            attrs: vec!["class".into()],
            ..src.clone()
        };
        assert_eq!(load(&classes).unwrap().len(), 2);
        // An unconditional run needs no labels.
        let ds = load(&DataSource {
            need_labels: false,
            attrs: Vec::new(),
            ..src
        })
        .unwrap();
        assert_eq!(ds.len(), 2);
    }

    #[test]
    fn an_export_tree_is_read_as_attributes() {
        let d = tempfile::tempdir().unwrap();
        let put = |rel: &str| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            RgbImage::from_pixel(4, 4, image::Rgb([9, 9, 9]))
                .save(&p)
                .unwrap();
        };
        put("hair_color/red/a.png");
        put("hair_color/blue/b.png");
        put("hair_color/blue/c.png");
        put("eye_color/green/a.png");
        put("eye_color/green/b.png");
        std::fs::create_dir_all(d.path().join("notes")).unwrap();
        std::fs::write(d.path().join("notes/README.txt"), "mine").unwrap();
        let (files, names, values) = image_folder(d.path(), &["hair_color".into()]).unwrap();
        assert_eq!(names, vec!["hair_color"]);
        assert_eq!(files.len(), 3);
        assert_eq!(values, vec![vec!["red"], vec!["blue"], vec!["blue"]]);
        // Each image read from below the attribute asked for, not the first one it is in.
        assert!(
            files.iter().all(|f| f.starts_with("hair_color")),
            "{files:?}"
        );
        let both = ["eye_color".to_string(), "hair_color".to_string()];
        let (files, _, values) = image_folder(d.path(), &both).unwrap();
        assert_eq!(files.len(), 2, "c.png has no eye colour");
        assert_eq!(values[0], vec!["green", "red"]);
        let e = image_folder(d.path(), &[]).unwrap_err().to_string();
        assert!(
            e.contains("eye_color, hair_color") && e.contains("--attr"),
            "{e}"
        );
        let e = image_folder(d.path(), &["glasses".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("glasses"), "{e}");
        // One attribute's folder: its classes, under the name asked for.
        let (files, names, _) =
            image_folder(&d.path().join("hair_color"), &["hair_color".into()]).unwrap();
        assert_eq!((files.len(), names), (3, vec!["hair_color".to_string()]));
        let (_, names, _) = image_folder(&d.path().join("hair_color"), &[]).unwrap();
        assert_eq!(names, vec!["class"]);
    }

    #[test]
    fn mnist_loads_when_present() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
        if !dir.is_dir() {
            eprintln!("skip: {} absent", dir.display());
            return;
        }
        let ds = load_mnist(&dir, 28).unwrap();
        assert_eq!(
            (ds.len(), ds.channels, ds.attrs[0].values.len()),
            (10_000, 1, 10)
        );
    }
}
