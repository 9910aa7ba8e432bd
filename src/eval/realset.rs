//! The real images a run is judged against, with every categorical label the dataset
//! has (not only the run's conditioning attributes, so all runs on one dataset share one
//! feature network): a folder with a wide labels CSV (`labels_wide.csv`, `truth.csv`,
//! `tags.csv` or `--labels`), an ImageFolder (`DIR/<class>/...`), MNIST IDX files, or an
//! unlabeled prep output. Images are decoded in parallel to `u8` at the run's size, as
//! `gan::data` does for training.

use super::EvalError;
use crate::gan::data::{load_mnist, to_chw, Attribute};
use crate::labels::index::FolderNames;
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;

/// Decoded real images and their (possibly missing) labels.
#[derive(Debug, Clone)]
pub struct RealSet {
    /// Image side.
    pub size: u32,
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Pixels, `[n, channels, size, size]`.
    pub pixels: Vec<u8>,
    /// Each image's file relative to the data folder (`mnist:<index>` for IDX files).
    pub files: Vec<String>,
    /// Categorical attributes, values sorted.
    pub attrs: Vec<Attribute>,
    /// `labels[i * attrs.len() + a]`: value index, `None` when unlabeled.
    pub labels: Vec<Option<u32>>,
    /// Files that could not be decoded, as `file: reason`.
    pub skipped: Vec<String>,
    /// Names of the labels file that are no image of the folder (prep dropped them as
    /// duplicates, say), left out.
    pub missing: Vec<String>,
}

impl RealSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Values per image.
    pub fn image_len(&self) -> usize {
        self.channels * (self.size * self.size) as usize
    }

    /// Label of image `i` for attribute `a`.
    pub fn label(&self, i: usize, a: usize) -> Option<u32> {
        self.labels[i * self.attrs.len() + a]
    }

    /// Image `i`'s pixels.
    pub fn image(&self, i: usize) -> &[u8] {
        let l = self.image_len();
        &self.pixels[i * l..(i + 1) * l]
    }
}

fn data_err(path: &Path, reason: impl Into<String>) -> EvalError {
    EvalError::Data {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Whether `dir` holds MNIST IDX files.
pub fn is_mnist(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().contains("images-idx3"))
    })
}

/// Loads the real set at `size` and `channels`. `want` names attributes kept even if the
/// categorical test would drop them (the run's conditioning attributes).
pub fn load(
    dir: &Path,
    labels: Option<&Path>,
    size: u32,
    channels: usize,
    want: &[String],
) -> Result<RealSet, EvalError> {
    if is_mnist(dir) {
        let ds = load_mnist(dir, size).map_err(|e| data_err(dir, e.to_string()))?;
        let n = ds.len();
        let pixels = if channels == 3 {
            let plane = (size * size) as usize;
            ds.pixels
                .chunks(plane)
                .flat_map(|p| p.iter().chain(p).chain(p).copied().collect::<Vec<_>>())
                .collect()
        } else {
            ds.pixels
        };
        return Ok(RealSet {
            size,
            channels,
            pixels,
            files: (0..n).map(|i| format!("mnist:{i}")).collect(),
            attrs: ds.attrs,
            labels: ds.labels.into_iter().map(Some).collect(),
            skipped: Vec::new(),
            missing: Vec::new(),
        });
    }
    if !dir.is_dir() {
        return Err(data_err(dir, "not a folder"));
    }
    crate::dataset::manifest::refuse_unfinished(dir).map_err(|e| data_err(dir, e.to_string()))?;
    let csv = labels.map(Path::to_path_buf).or_else(|| {
        crate::gan::data::LABEL_FILES
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
    });
    let mut unmatched = Vec::new();
    let (files, names, values) = match &csv {
        Some(csv) => {
            let (files, names, values) = read_csv(csv, want)?;
            let (files, values, missing) = match_names(dir, files, values);
            unmatched = missing;
            (files, names, values)
        }
        None => match image_folder(dir, want)? {
            Some(x) => x,
            None => {
                let files = crate::gan::data::unlabeled_images(dir).map_err(|e| match e {
                    crate::gan::GanError::Data { path, reason } => data_err(&path, reason),
                    other => data_err(dir, other.to_string()),
                })?;
                let n = files.len();
                let files = files
                    .iter()
                    .map(|f| crate::dataset::walk::relative(Path::new(""), f))
                    .collect();
                (files, Vec::new(), vec![Vec::new(); n])
            }
        },
    };
    if files.is_empty() {
        return Err(data_err(dir, "no images found"));
    }
    let decoded: Vec<Result<Vec<u8>, String>> = files
        .par_iter()
        .map(|f| {
            let p = dir.join(f);
            image::open(&p)
                .map(|img| to_chw(&img, size, channels))
                .map_err(|e| format!("{f}: {e}"))
        })
        .collect();
    let attrs: Vec<Attribute> = names
        .iter()
        .enumerate()
        .map(|(a, name)| {
            let set: BTreeSet<&String> = values.iter().filter_map(|v| v[a].as_ref()).collect();
            Attribute {
                name: name.clone(),
                values: set.into_iter().cloned().collect(),
            }
        })
        .collect();
    let mut set = RealSet {
        size,
        channels,
        pixels: Vec::new(),
        files: Vec::new(),
        attrs,
        labels: Vec::new(),
        skipped: Vec::new(),
        missing: Vec::new(),
    };
    let unmatched_set: std::collections::HashSet<&str> =
        unmatched.iter().map(String::as_str).collect();
    let mut missing = Vec::new();
    for ((f, d), v) in files.into_iter().zip(decoded).zip(values) {
        match d {
            Err(_) if unmatched_set.contains(f.as_str()) => missing.push(f),
            Ok(px) => {
                set.pixels.extend(px);
                set.files.push(f);
                for (a, x) in v.iter().enumerate() {
                    let idx = x
                        .as_ref()
                        .and_then(|x| set.attrs[a].values.iter().position(|y| y == x));
                    set.labels.push(idx.map(|i| i as u32));
                }
            }
            Err(e) => set.skipped.push(e),
        }
    }
    set.missing = missing;
    if set.is_empty() && !unmatched.is_empty() && unmatched.len() == set.missing.len() {
        let shown: Vec<String> = unmatched.iter().take(3).map(|f| format!("`{f}`")).collect();
        let more = unmatched.len() - shown.len();
        return Err(data_err(
            csv.as_deref().unwrap_or(dir),
            format!(
                "none of its {} file names matches an image in {} ({}{}): the `file` column \
                 must name images of that folder",
                unmatched.len(),
                dir.display(),
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
        ));
    }
    if set.is_empty() {
        return Err(data_err(dir, "no image could be decoded"));
    }
    Ok(set)
}

/// Label names that are not files of `dir` looked up as training looks them up
/// ([`FolderNames`], the label store's index: `images/5.jpg` for the `images/5.png` prep
/// wrote, a manifest `source` path, a unique file name), so eval reads the images the run trained
/// on. Returns the names to open with their rows' values and the names that match no
/// image. An image named by several rows is read once, with its first row's values (it
/// counted twice in the real set; training reads it once too, and refuses rows that
/// disagree, so a run that trained has none).
fn match_names(
    dir: &Path,
    files: Vec<String>,
    values: Vec<Vec<Option<String>>>,
) -> (Vec<String>, Vec<Vec<Option<String>>>, Vec<String>) {
    let mut names = FolderNames::new(dir);
    let mut unmatched = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut kept = (Vec::new(), Vec::new());
    for (f, v) in files.into_iter().zip(values) {
        let f = crate::gan::data::row_name(&f);
        let (f, found) = match names.find(&f) {
            Some(found) => (found, true),
            None => (f, false),
        };
        if !seen.insert(f.clone()) {
            continue;
        }
        if !found {
            unmatched.push(f.clone());
        }
        kept.0.push(f);
        kept.1.push(v);
    }
    (kept.0, kept.1, unmatched)
}

type Listing = (Vec<String>, Vec<String>, Vec<Vec<Option<String>>>);

/// Whether a label column looks categorical: 2..=64 values, each used about twice or
/// more on average, and not numbers (box coordinates, scores: `truth.csv`'s `face_x`...)
/// unless they are class indices, every integer `0..K` written plainly (MNIST's `digit`,
/// a 0/1 flag), so that a run conditioning on such a column and one that does not are
/// judged by one network. A numeric column the run conditions on is kept anyway (see
/// `load`'s `want`).
fn categorical(values: &[Option<String>]) -> bool {
    let set: BTreeSet<&str> = values.iter().flatten().map(String::as_str).collect();
    let labeled = values.iter().flatten().count();
    let numeric = set.iter().all(|v| v.parse::<f64>().is_ok());
    let plain =
        |v: &&str| v.bytes().all(|b| b.is_ascii_digit()) && (*v == "0" || !v.starts_with('0'));
    let indices: BTreeSet<usize> = set.iter().filter_map(|v| v.parse().ok()).collect();
    let class_indices = set.iter().all(plain) && indices.iter().copied().eq(0..set.len());
    (2..=64).contains(&set.len()) && set.len() * 2 <= labeled && (!numeric || class_indices)
}

fn read_csv(path: &Path, want: &[String]) -> Result<Listing, EvalError> {
    let bad = |e: csv::Error| data_err(path, crate::csv_line::describe(path, &e));
    let mut rdr = csv::Reader::from_path(path).map_err(bad)?;
    let header = rdr.headers().map_err(bad)?.clone();
    if let Some(reason) = crate::gan::data::long_format(&header, want) {
        return Err(data_err(path, reason));
    }
    let file_col = header
        .iter()
        .position(|h| h == "file")
        .ok_or_else(|| data_err(path, "no `file` column"))?;
    let mut files = Vec::new();
    let mut cols: Vec<Vec<Option<String>>> = vec![Vec::new(); header.len()];
    for rec in rdr.records() {
        let rec = rec.map_err(bad)?;
        files.push(rec.get(file_col).unwrap_or("").to_string());
        for (c, col) in cols.iter_mut().enumerate() {
            let v = rec.get(c).unwrap_or("").trim();
            col.push((!v.is_empty()).then(|| v.to_string()));
        }
    }
    let keep: Vec<usize> = (0..header.len())
        .filter(|&c| c != file_col)
        .filter(|&c| want.iter().any(|w| w == &header[c]) || categorical(&cols[c]))
        .collect();
    if let Some(w) = want.iter().find(|w| !header.iter().any(|h| h == *w)) {
        return Err(data_err(path, format!("no column `{w}`")));
    }
    let names = keep.iter().map(|&c| header[c].to_string()).collect();
    let values = (0..files.len())
        .map(|i| keep.iter().map(|&c| cols[c][i].clone()).collect())
        .collect();
    Ok((files, names, values))
}

/// Class folders read as `train` reads them (`DIR/<value>/...`, or `label export`'s
/// `DIR/<attribute>/<value>/...`; under `DIR/images/` too), the folders' attribute named
/// by `want` where it names one: eval once called every folder `class`, read an export
/// tree's attribute folders as classes (each image once per attribute) and so found no
/// head to judge conditioning with. An export tree is read with every attribute it holds,
/// whatever the run conditions on, each image once with the values it has: a run on
/// `hair_color` and an unconditional one are judged by one feature network, so they can
/// be compared. `None` where there are no folders of two or more values: the images are
/// unlabeled.
fn image_folder(dir: &Path, want: &[String]) -> Result<Option<Listing>, EvalError> {
    use crate::gan::data::FolderTree;
    use crate::gan::GanError;
    let (files, names, values) = match crate::gan::data::folder_tree(dir) {
        // Plain class folders: the run's attribute where it names one.
        Ok(FolderTree::Classes(images)) => {
            let names = match want {
                [one] => vec![one.clone()],
                _ => vec!["class".to_string()],
            };
            let (files, values): (Vec<_>, Vec<_>) =
                images.into_iter().map(|(f, v)| (f, vec![Some(v)])).unzip();
            (files, names, values)
        }
        // An export tree: every attribute it holds, each image once, at its first path.
        Ok(FolderTree::Export { attributes, images }) => {
            let (files, values): (Vec<_>, Vec<_>) = images
                .into_iter()
                .filter_map(|image| {
                    let path = image.iter().flatten().next()?.0.clone();
                    let values = image.into_iter().map(|x| x.map(|(_, v)| v)).collect();
                    Some((path, values))
                })
                .unzip();
            (files, attributes, values)
        }
        // No sub-folders at all.
        Err(GanError::Data { .. }) if want.is_empty() => return Ok(None),
        Err(e) => return Err(data_err(dir, e.to_string())),
    };
    let distinct: std::collections::BTreeSet<&String> = values.iter().flatten().flatten().collect();
    if want.is_empty() && names.len() == 1 && names[0] == "class" && distinct.len() < 2 {
        return Ok(None);
    }
    // An export tree names its attributes: one the run conditions on must be among them.
    if names != ["class"] {
        if let Some(w) = want.iter().find(|w| !names.contains(w)) {
            return Err(data_err(
                dir,
                format!(
                    "no attribute folder {w:?} (the folder has: {})",
                    names.join(", ")
                ),
            ));
        }
    }
    let files = files
        .iter()
        .map(|f| crate::dataset::walk::relative(Path::new(""), f))
        .collect();
    Ok(Some((files, names, values)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categorical_columns() {
        let col = |v: &[&str]| -> Vec<Option<String>> {
            v.iter()
                .map(|s| (!s.is_empty()).then(|| s.to_string()))
                .collect()
        };
        assert!(categorical(&col(&["red", "blue", "red", "", "blue"])));
        assert!(!categorical(&col(&["a", "b", "c", "d"])), "each value once");
        let many: Vec<String> = (0..40).map(|i| (12 + i % 20).to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(!categorical(&col(&many)), "a coordinate, not a class");
        assert!(!categorical(&col(&["28", "29", "28", "29"])), "box sizes");
        assert!(categorical(&col(&["no", "yes", "yes", "no"])));
        // Class indices: MNIST's digits, a 0/1 flag; not with a gap, a sign or a point.
        let digits: Vec<String> = (0..40).map(|i| (i % 10).to_string()).collect();
        let digits: Vec<&str> = digits.iter().map(String::as_str).collect();
        assert!(categorical(&col(&digits)), "digits 0-9");
        assert!(categorical(&col(&["0", "1", "1", "0"])), "a 0/1 flag");
        assert!(!categorical(&col(&["0", "2", "2", "0"])), "a gap");
        assert!(!categorical(&col(&["0", "1.0", "1.0", "0"])), "a point");
        assert!(
            !categorical(&col(&["00", "1", "1", "00"])),
            "a leading zero"
        );
        assert!(!categorical(&col(&["0", "+1", "+1", "0"])), "a sign");
    }

    /// Regression: an image named by two rows (once as `./a.png`) counted twice in the
    /// real set, where training reads it once.
    #[test]
    fn an_image_named_twice_is_read_once() {
        let d = tempfile::tempdir().unwrap();
        for f in ["a.png", "b.png", "c.png"] {
            image::RgbImage::new(8, 8).save(d.path().join(f)).unwrap();
        }
        let csv = d.path().join("labels.csv");
        std::fs::write(
            &csv,
            "file,hair\na.png,red\n./a.png,red\nb.png,blue\nc.png,red\nb.png,blue\n",
        )
        .unwrap();
        let set = load(d.path(), Some(&csv), 8, 3, &["hair".into()]).unwrap();
        assert_eq!(set.files, ["a.png", "b.png", "c.png"]);
        assert_eq!(set.labels.len(), 3);
        // A long-format answers file is refused as training refuses it.
        std::fs::write(&csv, "file,attribute,value\na.png,hair,red\n").unwrap();
        let e = load(d.path(), Some(&csv), 8, 3, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("long-format") && e.contains("labels.csv"), "{e}");
    }

    #[test]
    fn class_folders_read_as_train_reads_them() {
        let d = tempfile::tempdir().unwrap();
        let put_in = |root: &Path, rel: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            image::RgbImage::new(8, 8).save(&p).unwrap();
        };
        let put = |rel: &str| put_in(d.path(), rel);
        // `label export`'s tree: four images, each under both attributes.
        for (f, hair, eye) in [
            ("a", "red", "blue"),
            ("b", "red", "green"),
            ("c", "blue", "blue"),
            ("d", "blue", "green"),
        ] {
            put(&format!("hair_color/{hair}/{f}.png"));
            put(&format!("eye_color/{eye}/{f}.png"));
        }
        // An image with only a hair colour.
        put("hair_color/red/e.png");
        let hair = load(d.path(), None, 8, 3, &["hair_color".into()]).unwrap();
        assert_eq!((hair.len(), hair.attrs.len()), (5, 2));
        let names: Vec<&str> = hair.attrs.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["eye_color", "hair_color"]);
        assert_eq!(hair.attrs[1].values, ["blue", "red"]);
        let e = hair
            .files
            .iter()
            .position(|f| f.ends_with("e.png"))
            .unwrap();
        assert_eq!((hair.label(e, 0), hair.label(e, 1)), (None, Some(1)));
        // An unconditional run: each image once still, and the same real set, so one
        // feature network judges both runs.
        let plain_run = load(d.path(), None, 8, 3, &[]).unwrap();
        assert_eq!(plain_run.len(), 5);
        let spec = super::super::features::FeatureSpec::default();
        let key = |r: &RealSet| super::super::features::dataset_hash(r, &spec);
        assert_eq!(key(&hair), key(&plain_run));
        let e = load(d.path(), None, 8, 3, &["age".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no attribute folder \"age\""), "{e}");
        // Plain class folders take the run's attribute name.
        let plain = tempfile::tempdir().unwrap();
        for rel in ["red/a.png", "red/b.png", "blue/c.png"] {
            put_in(plain.path(), rel);
        }
        let r = load(plain.path(), None, 8, 3, &["hair_color".into()]).unwrap();
        assert_eq!((r.len(), r.attrs[0].name.as_str()), (3, "hair_color"));
        let unconditional = load(plain.path(), None, 8, 3, &[]).unwrap();
        assert_eq!(unconditional.attrs[0].name, "class");
        assert_eq!(key(&r), key(&unconditional), "one feature network for both");
    }
}
