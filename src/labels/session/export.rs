//! `label export`: the store's labels as a wide CSV and an ImageFolder layout (with `fill`,
//! the gaps take the last round's prediction).

use crate::labels::index::DatasetIndex;
use crate::labels::store::{LabelStore, Source};
use crate::labels::{LabelError, Paths, Schema};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

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
    /// Images the dataset lists but that could not be read (deleted by hand since
    /// `prep`), with the reason: left out of the ImageFolder tree; the rest is written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// The list of files an export wrote under the ImageFolder root (relative paths, one per
/// line), so that the next export removes them all, those of images the dataset no
/// longer has included.
const WRITTEN_LIST: &str = ".facesynth-export";

/// The cells the last export wrote, (file, attribute) -> value ([`Paths::exported_cells`]);
/// `None` for an export from before the record was kept.
pub fn read_exported_cells(paths: &Paths) -> Option<BTreeMap<(String, String), String>> {
    let mut rdr = csv::Reader::from_path(paths.exported_cells()).ok()?;
    let header = rdr.headers().ok()?.clone();
    let mut out = BTreeMap::new();
    for rec in rdr.records() {
        let rec = rec.ok()?;
        for (attr, value) in header.iter().zip(rec.iter()).skip(1) {
            if !value.is_empty() {
                out.insert((rec[0].to_string(), attr.to_string()), value.to_string());
            }
        }
    }
    Some(out)
}

/// Reads `predictions.csv` into (file, attribute) -> (value, confidence).
pub fn read_predictions(paths: &Paths) -> Predictions {
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

/// The last round's prediction per (file, attribute): value and calibrated confidence.
pub type Predictions = BTreeMap<(String, String), (String, f32)>;

/// [`read_predictions`] for writing out: every attribute and value checked against
/// `schema` (an edited or stale `predictions.csv` must not put a value the schema does not
/// have into the export's files and folders); a missing file is no predictions.
pub fn read_predictions_checked(paths: &Paths, schema: &Schema) -> Result<Predictions, LabelError> {
    let path = paths.predictions();
    let mut out = BTreeMap::new();
    if !path.is_file() {
        return Ok(out);
    }
    let mut rdr = csv::Reader::from_path(&path).map_err(|e| LabelError::csv(&path, e))?;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| LabelError::csv(&path, e))?;
        let line = crate::csv_line::Line::of(&path, &rec);
        if rec.len() < 4 {
            continue;
        }
        let known = schema
            .attribute(&rec[1])
            .is_some_and(|a| a.index_of(&rec[2]).is_some());
        if !known {
            return Err(LabelError::invalid(
                &path,
                line.get(),
                format!(
                    "{:?} is not a value of an attribute {:?} of schema {}",
                    &rec[2], &rec[1], schema.name
                ),
            ));
        }
        let c = rec[3].parse().unwrap_or(0.0);
        out.insert(
            (rec[0].to_string(), rec[1].to_string()),
            (rec[2].to_string(), c),
        );
    }
    Ok(out)
}

/// `label export`: `DATA/labels_wide.csv` (`file,<attr>...`, empty cells where there is
/// no label; with `fill`, gaps take the last round's prediction) and an ImageFolder
/// layout of hard links (copies where links fail), one tree per attribute. Synthesized
/// labels and predictions under `min_confidence` are left out (a person's always go):
/// right after `init` the eye votes stand at 0.26-0.29, 17-19% right, and `train` reads
/// the export as truth.
pub fn export(data: &Path, fill: bool, min_confidence: f32) -> Result<ExportReport, LabelError> {
    let paths = Paths::new(data);
    let schema = paths.load_schema()?;
    let index = DatasetIndex::open(data)?;
    let store = LabelStore::load(&paths.labels(), &schema)?;
    let preds = if fill {
        read_predictions_checked(&paths, &schema)?
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
                .filter(|l| l.source == Source::Human || l.confidence >= min_confidence)
                .map(|l| l.value.clone())
                .or_else(|| {
                    preds
                        .get(&(file.clone(), a.name.clone()))
                        .filter(|p| p.1 >= min_confidence)
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
    // The record of what was written first: an export interrupted between the two files
    // leaves a record that may name cells the wide CSV lacks, never the other way round.
    let mut wtr = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["file".to_string()];
    header.extend(schema.attributes.iter().map(|a| a.name.clone()));
    for r in std::iter::once(&header).chain(&rows) {
        wtr.write_record(r)
            .map_err(|e| LabelError::io(&wide, e.into()))?;
    }
    // Encoded once, written twice.
    let text = wtr
        .into_inner()
        .map_err(|e| LabelError::io(&wide, e.into_error()))?;
    for path in [paths.exported_cells(), wide.clone()] {
        crate::atomic::write(&path, &text).map_err(|e| LabelError::io(&path, e))?;
    }
    let root = paths.image_folder();
    let unique = export_names(&index.images);
    let names: HashSet<String> = unique.iter().cloned().collect();
    clear_earlier_export(&root, &names)?;
    let (mut written, mut missing) = (Vec::new(), Vec::new());
    for (r, under) in rows.iter().zip(&unique) {
        let src = data.join(&r[0]);
        // An image gone since `prep` is reported, not the end of the export: the tree
        // was cleared above and the other images still belong in it.
        if let Err(e) = std::fs::metadata(&src) {
            if r[1..].iter().any(|v| !v.is_empty()) {
                missing.push(format!("{}: {e}", src.display()));
            }
            continue;
        }
        for (a, value) in schema.attributes.iter().zip(&r[1..]) {
            if value.is_empty() {
                continue;
            }
            let rel = Path::new(&a.name).join(value).join(under);
            let dst = root.join(&rel);
            if let Some(p) = dst.parent() {
                std::fs::create_dir_all(p).map_err(|e| LabelError::io(p, e))?;
            }
            if std::fs::hard_link(&src, &dst).is_err() {
                let bytes = std::fs::read(&src).map_err(|e| LabelError::io(&src, e))?;
                crate::atomic::write(&dst, &bytes).map_err(|e| LabelError::io(&dst, e))?;
            }
            written.push(rel);
        }
    }
    if root.is_dir() {
        let list = root.join(WRITTEN_LIST);
        let text: String = written
            .iter()
            .map(|p| format!("{}\n", p.display()))
            .collect();
        crate::atomic::write(&list, text.as_bytes()).map_err(|e| LabelError::io(&list, e))?;
    }
    Ok(ExportReport {
        wide,
        image_folder: root,
        rows: rows.len(),
        filled,
        missing,
    })
}

/// An image's file name in the ImageFolder tree: its path below `images/`, folders joined
/// by `__` (one level under each value folder).
fn export_name(file: &str) -> String {
    file.strip_prefix("images/")
        .unwrap_or(file)
        .replace('/', "__")
}

/// Each image's [`export_name`], one per image: where two images meet on one name
/// (`images/a__b.png` and `images/a/b.png`) one takes `~2`, `~3`... before its extension
/// (the second once overwrote the first without a word). An image with no folder keeps
/// its name, which is its own path below `images/` (the dataset index reads it as that
/// image's); the others take their turn in path order.
pub(crate) fn export_names(images: &[String]) -> Vec<String> {
    let mut taken: HashSet<String> = HashSet::new();
    let flat = |f: &String| !f.strip_prefix("images/").unwrap_or(f).contains('/');
    let order = (0..images.len())
        .filter(|&i| flat(&images[i]))
        .chain((0..images.len()).filter(|&i| !flat(&images[i])));
    let mut names = vec![String::new(); images.len()];
    for i in order {
        let name = export_name(&images[i]);
        names[i] = if taken.insert(name.clone()) {
            name
        } else {
            let (stem, ext) = match name.rfind('.') {
                Some(dot) => (&name[..dot], &name[dot..]),
                None => (name.as_str(), ""),
            };
            let free = (2..)
                .map(|k| format!("{stem}~{k}{ext}"))
                .find(|n| !taken.contains(n))
                .expect("an unused name");
            taken.insert(free.clone());
            free
        };
    }
    names
}

/// Removes what an earlier export wrote: the files its list names ([`WRITTEN_LIST`]:
/// those of images a later `prep` removed included) and, for exports older than the list,
/// files named as one of the dataset's images two levels down
/// (`<attribute>/<value>/<name>`), then the folders that leaves empty. Anything else a
/// person put under the root stays (the whole tree was removed, notes included).
fn clear_earlier_export(root: &Path, names: &HashSet<String>) -> Result<(), LabelError> {
    let list = root.join(WRITTEN_LIST);
    let listed: HashSet<PathBuf> = std::fs::read_to_string(&list)
        .map(|t| {
            t.lines()
                .filter(|l| !l.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    // The folders in `p` (none when it cannot be listed: no earlier export).
    let dirs = |p: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    for attribute in dirs(root) {
        let mut emptied = false;
        for value in dirs(&attribute) {
            let mut removed = false;
            for e in std::fs::read_dir(&value)
                .map_err(|e| LabelError::io(&value, e))?
                .flatten()
            {
                let rel = e.path().strip_prefix(root).map(Path::to_path_buf);
                let ours = e.file_type().is_ok_and(|t| t.is_file())
                    && (names.contains(e.file_name().to_string_lossy().as_ref())
                        || rel.is_ok_and(|r| listed.contains(&r)));
                if ours {
                    std::fs::remove_file(e.path()).map_err(|err| LabelError::io(&e.path(), err))?;
                    removed = true;
                }
            }
            // Fails (and stays) where something else is left in it.
            if removed && std::fs::remove_dir(&value).is_ok() {
                emptied = true;
            }
        }
        if emptied {
            let _ = std::fs::remove_dir(&attribute);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::export_names;

    /// Regression: `images/a__b.png` and `images/a/b.png` were both exported as
    /// `a__b.png`, the second over the first.
    #[test]
    fn images_that_meet_on_one_export_name_get_their_own() {
        let images: Vec<String> = [
            "images/a__b.png",
            "images/a/b.png",
            "images/c.png",
            "x/a__b.png",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            export_names(&images),
            ["a__b.png", "a__b~2.png", "c.png", "x__a__b.png"]
        );
        // In path order `images/a/b.png` comes first; `images/a__b.png`, with no
        // folder, still keeps its own name.
        let sorted: Vec<String> = ["images/a/b.png", "images/a__b.png"]
            .map(String::from)
            .into();
        assert_eq!(export_names(&sorted), ["a__b~2.png", "a__b.png"]);
    }
}
