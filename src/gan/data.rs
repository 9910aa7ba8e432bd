//! Training data: images decoded once (in parallel) into one compact `u8` buffer at the
//! training size, with class indices per attribute. Sources: a folder with a wide labels
//! CSV (`labels_wide.csv`, `truth.csv`, `tags.csv` or `--labels`), an ImageFolder layout
//! (one folder per class), any image folder for unconditional models (labels ignored),
//! MNIST IDX files, or images in memory.

use super::{io_err, GanError};
use crate::labels::index::FolderNames;
use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
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
        Some(out)
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
    let csv = src.labels.map(Path::to_path_buf).or_else(|| {
        LABEL_FILES
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
    });
    let mut unmatched = Vec::new();
    let (files, names, values) = match csv {
        Some(csv) if src.need_labels || src.labels.is_some() => {
            let wide = read_wide_csv(&csv, &src.attrs)?;
            let (listing, missing) = match_rows(dir, &csv, wide)?;
            unmatched = missing;
            listing
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

type Listing = (Vec<PathBuf>, Vec<String>, Vec<Vec<String>>);

/// Wide label files looked for in a dataset folder, in this order: `facesynth label
/// export`'s, the synthetic faces' truth, and the tags of a scraped set (anime-faces).
pub const LABEL_FILES: [&str; 3] = ["labels_wide.csv", "truth.csv", "tags.csv"];

/// Every image of a dataset folder, labels ignored, relative to `dir`: the kept rows of a
/// prep output's manifest, else every image below `DIR/images/`, else below `DIR`
/// (an ImageFolder's class folders or a flat folder).
pub fn unlabeled_images(dir: &Path) -> Result<Vec<PathBuf>, GanError> {
    if dir.join(crate::dataset::manifest::MANIFEST_FILE).is_file() {
        return crate::dataset::manifest::kept_images(dir).map_err(|e| GanError::Data {
            path: dir.join(crate::dataset::manifest::MANIFEST_FILE),
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

/// One labeled row of a wide CSV.
struct WideRow {
    /// Where the row is in the file (for messages: see [`crate::csv_line::Lines`]).
    pos: Option<csv::Position>,
    /// The `file` column as written.
    file: String,
    /// The wanted attributes' values.
    values: Vec<String>,
}

/// A wide CSV's wanted attribute names and its rows that have every one of them.
struct Wide {
    names: Vec<String>,
    rows: Vec<WideRow>,
}

/// Reads a wide labels CSV: `file` + one column per attribute. Rows missing a wanted
/// value are left out. A long-format answers file (`file,attribute,value`, what `label
/// import` reads) is refused: read as wide it would train on an attribute named
/// `attribute` whose values are the attribute names.
fn read_wide_csv(path: &Path, want: &[String]) -> Result<Wide, GanError> {
    let bad = |reason: String| GanError::Data {
        path: path.to_path_buf(),
        reason,
    };
    let mut rdr = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
    let header = rdr.headers().map_err(|e| bad(e.to_string()))?.clone();
    let has = |name: &str| header.iter().any(|h| h == name);
    let wants = |name: &str| want.iter().any(|w| w == name);
    if has("attribute") && has("value") && !wants("attribute") && !wants("value") {
        return Err(bad(
            "a long-format answers file (file,attribute,value: one answer per row), not a \
             wide labels CSV (file,<attribute>,...: one image per row); `facesynth label \
             import` reads this format, then `facesynth label export` writes the wide \
             labels_wide.csv that training reads"
                .into(),
        ));
    }
    let file_col = header
        .iter()
        .position(|h| h == "file")
        .ok_or_else(|| bad("no `file` column".into()))?;
    let names: Vec<String> = if want.is_empty() {
        header
            .iter()
            .enumerate()
            .find(|(i, _)| *i != file_col)
            .map(|(_, h)| vec![h.to_string()])
            .ok_or_else(|| bad("no attribute column".into()))?
    } else {
        want.to_vec()
    };
    let cols: Vec<usize> = names
        .iter()
        .map(|n| {
            header.iter().position(|h| h == n).ok_or_else(|| {
                let have: Vec<&str> = header.iter().collect();
                bad(format!("no column `{n}` (columns: {})", have.join(", ")))
            })
        })
        .collect::<Result<_, _>>()?;
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        let values: Vec<String> = cols
            .iter()
            .map(|&c| rec.get(c).unwrap_or("").trim().to_string())
            .collect();
        if values.iter().any(|x| x.is_empty()) {
            continue;
        }
        rows.push(WideRow {
            pos: rec.position().cloned(),
            file: rec.get(file_col).unwrap_or("").to_string(),
            values,
        });
    }
    Ok(Wide { names, rows })
}

/// `shown` (the first few of `total` items), comma-separated, and how many more there are.
fn first_few_of(shown: &[String], total: usize) -> String {
    let mut s = shown.join(", ");
    if total > shown.len() {
        s.push_str(&format!(" and {} more", total - shown.len()));
    }
    s
}

/// Matches a wide CSV's rows to the images of `dir` through [`FolderNames`]: a name that
/// is a file there is used as it is; any other goes through the label store's index (a
/// prep output's `source` path, the name under `images/`, a unique file name, or
/// `images/5.jpg` for the `images/5.png` prep wrote). Returns the listing and the rows that name no image, as
/// `skipped` entries; an error when no row names an image (the names are of another
/// folder, not a decoding problem) or when two rows label one image differently.
fn match_rows(dir: &Path, csv: &Path, wide: Wide) -> Result<(Listing, Vec<String>), GanError> {
    let csv_name = csv
        .file_name()
        .map_or_else(|| csv.display().to_string(), |n| n.to_string_lossy().into());
    let mut folder = FolderNames::new(dir);
    // Per image: the row that labeled it first and its place in `files`.
    let mut seen: HashMap<PathBuf, (Option<csv::Position>, usize)> = HashMap::new();
    let (mut files, mut values): (Vec<PathBuf>, Vec<Vec<String>>) = (Vec::new(), Vec::new());
    let (mut unmatched, mut conflicts) = (Vec::new(), Vec::new());
    for row in wide.rows {
        let name = row.file.trim().trim_start_matches("./").replace('\\', "/");
        let Some(file) = folder.find(&name).map(PathBuf::from) else {
            unmatched.push((row.pos, row.file));
            continue;
        };
        match seen.get(&file) {
            Some((first, i)) => {
                if values[*i] != row.values {
                    conflicts.push((first.clone(), row.pos, file, row.values));
                }
                // The same labels twice: one image, trained on once.
            }
            None => {
                seen.insert(file.clone(), (row.pos, files.len()));
                files.push(file);
                values.push(row.values);
            }
        }
    }
    let bad = |reason: String| GanError::Data {
        path: csv.to_path_buf(),
        reason,
    };
    // Line numbers as an editor counts them, the file read once for all the messages.
    let lines =
        (!conflicts.is_empty() || !unmatched.is_empty()).then(|| crate::csv_line::Lines::open(csv));
    let line = |pos: &Option<csv::Position>| match (&lines, pos) {
        (Some(l), Some(p)) => l.line(p),
        _ => 0,
    };
    if !conflicts.is_empty() {
        let said: Vec<String> = conflicts
            .iter()
            .take(3)
            .map(|(first, pos, file, v)| {
                let i = seen[file].1;
                format!(
                    "lines {} and {} label {} as {} and as {}",
                    line(first),
                    line(pos),
                    file.display(),
                    values[i].join("/"),
                    v.join("/")
                )
            })
            .collect();
        return Err(bad(format!(
            "{} row(s) give an image other labels than an earlier row ({}): keep one row \
             per image",
            conflicts.len(),
            first_few_of(&said, conflicts.len())
        )));
    }
    if files.is_empty() && !unmatched.is_empty() {
        let names: Vec<String> = unmatched
            .iter()
            .take(3)
            .map(|(pos, f)| format!("`{f}` (line {})", line(pos)))
            .collect();
        let like = folder
            .example()
            .map(|f| format!(", e.g. `{f}`"))
            .unwrap_or_default();
        return Err(bad(format!(
            "none of its {} file names matches an image in {}: {}; the `file` column must \
             name images of that folder{like}",
            unmatched.len(),
            dir.display(),
            first_few_of(&names, unmatched.len())
        )));
    }
    let missing = unmatched
        .iter()
        .map(|(pos, f)| {
            format!(
                "{f}: named on line {} of {csv_name}, but no such image in {}",
                line(pos),
                dir.display()
            )
        })
        .collect();
    Ok(((files, wide.names, values), missing))
}

/// ImageFolder: `DIR/<class>/...` (or `DIR/images/<class>/...` for a prep output), the
/// attribute named `class`, or the one `want` names; or `label export`'s tree,
/// `DIR/<attribute>/<value>/<image>`, told by top folders with no image directly in
/// them: the attributes `want` names (the only one when it names none), each image (by
/// file name) with a value for every one of them, as a wide CSV's rows.
fn image_folder(dir: &Path, want: &[String]) -> Result<Listing, GanError> {
    let root = if dir.join("images").is_dir() {
        dir.join("images")
    } else {
        dir.to_path_buf()
    };
    let classes = sub_folders(&root)?;
    if classes.is_empty() {
        return Err(GanError::Data {
            path: dir.to_path_buf(),
            reason: "no labels: give --labels CSV, put labels_wide.csv in the folder \
                     (`facesynth label export`), or use one sub-folder per class"
                .into(),
        });
    }
    let folder_name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut per_class = Vec::new();
    for c in &classes {
        let files = crate::dataset::walk::image_files(c).map_err(io_err(c))?;
        per_class.push(files);
    }
    // Images directly in a class folder make it a class; none anywhere, only below
    // value folders, make the tree an export's.
    let nested = per_class.iter().any(|files| !files.is_empty())
        && classes
            .iter()
            .zip(&per_class)
            .all(|(c, files)| files.iter().all(|f| f.parent() != Some(c.as_path())));
    if !nested {
        let attribute = match want {
            [one] => one.clone(),
            _ => "class".to_string(),
        };
        let (mut files, mut values) = (Vec::new(), Vec::new());
        for (c, found) in classes.iter().zip(per_class) {
            let name = folder_name(c);
            for f in found {
                files.push(f.strip_prefix(dir).unwrap_or(&f).to_path_buf());
                values.push(vec![name.clone()]);
            }
        }
        return Ok((files, vec![attribute], values));
    }
    // label export's tree: attribute folders (those holding images) of value folders.
    let (classes, per_class): (Vec<PathBuf>, Vec<Vec<PathBuf>>) = classes
        .into_iter()
        .zip(per_class)
        .filter(|(_, files)| !files.is_empty())
        .unzip();
    let attributes: Vec<String> = classes.iter().map(|c| folder_name(c)).collect();
    let names: Vec<String> = if want.is_empty() {
        // A wide CSV's first column is its schema's first attribute; folders carry no
        // order, so the choice is the user's.
        match attributes.as_slice() {
            [one] => vec![one.clone()],
            // A choice the command line must make: exit 2.
            _ => {
                return Err(GanError::Usage {
                    reason: format!(
                        "{} is a `label export` tree of attributes {}: name the ones to \
                         train on with --attr",
                        dir.display(),
                        attributes.join(", ")
                    ),
                })
            }
        }
    } else {
        for w in want {
            if !attributes.contains(w) {
                return Err(GanError::Data {
                    path: dir.to_path_buf(),
                    reason: format!(
                        "no attribute folder {w:?} (the folder has: {})",
                        attributes.join(", ")
                    ),
                });
            }
        }
        want.to_vec()
    };
    // Per image name: its first path and its value per wanted attribute.
    let mut images: BTreeMap<String, (PathBuf, Vec<String>)> = BTreeMap::new();
    for (a, name) in names.iter().enumerate() {
        let k = attributes
            .iter()
            .position(|x| x == name)
            .expect("checked above");
        for f in &per_class[k] {
            let (Some(file), Some(value)) = (
                f.file_name().map(|n| n.to_string_lossy().into_owned()),
                f.parent().map(folder_name),
            ) else {
                continue;
            };
            let entry = images.entry(file).or_insert_with(|| {
                (
                    f.strip_prefix(dir).unwrap_or(f).to_path_buf(),
                    vec![String::new(); names.len()],
                )
            });
            entry.1[a] = value;
        }
    }
    let (files, values) = images
        .into_values()
        .filter(|(_, v)| v.iter().all(|x| !x.is_empty()))
        .unzip();
    Ok((files, names, values))
}

/// The folders directly below `root`, hidden ones left out, sorted.
fn sub_folders(root: &Path) -> Result<Vec<PathBuf>, GanError> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(io_err(root))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn read_gz(path: &Path) -> Result<Vec<u8>, GanError> {
    let raw = std::fs::read(path).map_err(io_err(path))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(io_err(path))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn find_idx(dir: &Path, kind: &str) -> Result<PathBuf, GanError> {
    let mut hits: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(kind))
        })
        .collect();
    hits.sort();
    hits.into_iter().next().ok_or_else(|| GanError::Data {
        path: dir.to_path_buf(),
        reason: format!("no *{kind}* IDX file"),
    })
}

/// MNIST IDX files (optionally gzipped): `*images-idx3-ubyte*` and `*labels-idx1-ubyte*`.
/// One attribute, `digit`, with values `0`..`9`.
pub fn load_mnist(dir: &Path, size: u32) -> Result<Dataset, GanError> {
    let (ip, lp) = (find_idx(dir, "images-idx3")?, find_idx(dir, "labels-idx1")?);
    let (img, lab) = (read_gz(&ip)?, read_gz(&lp)?);
    let be = |b: &[u8], i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    let bad = |p: &Path, r: &str| GanError::Data {
        path: p.to_path_buf(),
        reason: r.into(),
    };
    if img.len() < 16 || be(&img, 0) != 2051 {
        return Err(bad(&ip, "not an IDX3 image file"));
    }
    if lab.len() < 8 || be(&lab, 0) != 2049 {
        return Err(bad(&lp, "not an IDX1 label file"));
    }
    let (n, h, w) = (be(&img, 4), be(&img, 8), be(&img, 12));
    if img.len() < 16 + n * h * w || lab.len() < 8 + n {
        return Err(bad(&ip, "truncated IDX file"));
    }
    let images: Vec<(DynamicImage, Vec<String>)> = (0..n)
        .map(|i| {
            let px = img[16 + i * h * w..16 + (i + 1) * h * w].to_vec();
            let g = image::GrayImage::from_raw(w as u32, h as u32, px).unwrap_or_default();
            (DynamicImage::ImageLuma8(g), vec![lab[8 + i].to_string()])
        })
        .collect();
    Ok(Dataset::from_images(
        images,
        &["digit".to_string()],
        size,
        1,
    ))
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
        let mut t = ds.clone();
        t.select_attrs(&["b".into()]);
        assert_eq!(t.labels, vec![0, 1, 1]);
    }

    /// `label export`'s tree trains on the attributes named (it trained on a `class`
    /// whose values were the attribute names, every image twice); a one-level folder
    /// takes the one `--attr` name.
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
