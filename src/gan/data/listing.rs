//! Which images a labeled dataset folder holds and their values: a wide labels CSV
//! matched to the folder's files, or an ImageFolder layout (one folder per value).

use crate::gan::{io_err, GanError};
use crate::labels::index::FolderNames;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Image paths (relative to the dataset folder), the attribute names, and each image's
/// values in that order.
pub(crate) type Listing = (Vec<PathBuf>, Vec<String>, Vec<Vec<String>>);

/// The images a wide labels CSV (`csv`) names in `dir`, with the wanted attributes'
/// values, and the rows that matched no image (as `file: reason`).
pub(super) fn wide_listing(
    dir: &Path,
    csv: &Path,
    want: &[String],
) -> Result<(Listing, Vec<String>), GanError> {
    match_rows(dir, csv, read_wide_csv(csv, want)?)
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
    // Lines as an editor numbers them, as the label store's reader says them.
    let csv_err = |e: csv::Error| bad(crate::csv_line::describe(path, &e));
    let mut rdr = csv::Reader::from_path(path).map_err(csv_err)?;
    let header = rdr.headers().map_err(csv_err)?.clone();
    if let Some(reason) = long_format(&header, want) {
        return Err(bad(reason.into()));
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
        let rec = rec.map_err(csv_err)?;
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

/// Why a labels CSV with this header is refused, where it is a long-format answers file
/// (`file,attribute,value`, what `label import` reads): read as wide it would train on an
/// attribute named `attribute` whose values are the attribute names. Training and eval
/// read labels CSVs alike.
pub(crate) fn long_format(header: &csv::StringRecord, want: &[String]) -> Option<&'static str> {
    let has = |name: &str| header.iter().any(|h| h == name);
    let wants = |name: &str| want.iter().any(|w| w == name);
    (has("attribute") && has("value") && !wants("attribute") && !wants("value")).then_some(
        "a long-format answers file (file,attribute,value: one answer per row), not a wide \
         labels CSV (file,<attribute>,...: one image per row); `facesynth label import` \
         reads this format, then `facesynth label export` writes the wide labels_wide.csv \
         that training and eval read",
    )
}

/// A `file` cell as a name to look up: trimmed, without a leading `./`. Backslashes
/// stay (a Unix file name may hold one); [`FolderNames::find`] also tries them as a
/// Windows CSV's separators.
pub(crate) fn row_name(cell: &str) -> String {
    cell.trim().trim_start_matches("./").to_string()
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
        let Some(file) = folder.find(&row_name(&row.file)).map(PathBuf::from) else {
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

/// An ImageFolder-like tree, walked once: plain class folders, or `label export`'s tree.
pub(crate) enum FolderTree {
    /// `DIR/<class>/...` (or `DIR/images/<class>/...`): images and their class folder's
    /// name, in folder order.
    Classes(Vec<(PathBuf, String)>),
    /// `DIR/<attribute>/<value>/<image>`: the attribute folders holding images, sorted,
    /// and per image file name (sorted), per attribute, the image's first path below it
    /// (relative to `DIR`) and its value folder's name; `None` where the image is in no
    /// value folder of that attribute.
    Export {
        /// Attribute folder names.
        attributes: Vec<String>,
        /// Per image, per attribute: path and value.
        images: Vec<Vec<Option<(PathBuf, String)>>>,
    },
}

/// Reads `dir` as an ImageFolder ([`FolderTree`]): a tree is an export's when some
/// image lies below a value folder and none directly in a top folder (images directly
/// in a class folder make it a class).
pub(crate) fn folder_tree(dir: &Path) -> Result<FolderTree, GanError> {
    let classes = class_folders(dir)?;
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
    let relative = |f: &Path| f.strip_prefix(dir).unwrap_or(f).to_path_buf();
    let nested = per_class.iter().any(|files| !files.is_empty())
        && classes
            .iter()
            .zip(&per_class)
            .all(|(c, files)| files.iter().all(|f| f.parent() != Some(c.as_path())));
    if !nested {
        let images = classes
            .iter()
            .zip(per_class)
            .flat_map(|(c, found)| {
                let name = folder_name(c);
                found.into_iter().map(move |f| (f, name.clone()))
            })
            .map(|(f, name)| (relative(&f), name))
            .collect();
        return Ok(FolderTree::Classes(images));
    }
    // Attribute folders without images (stray folders) are passed over.
    let (classes, per_class): (Vec<PathBuf>, Vec<Vec<PathBuf>>) = classes
        .into_iter()
        .zip(per_class)
        .filter(|(_, files)| !files.is_empty())
        .unzip();
    let attributes: Vec<String> = classes.iter().map(|c| folder_name(c)).collect();
    let mut images: BTreeMap<String, Vec<Option<(PathBuf, String)>>> = BTreeMap::new();
    for (a, files) in per_class.iter().enumerate() {
        for f in files {
            let (Some(file), Some(value)) = (
                f.file_name().map(|n| n.to_string_lossy().into_owned()),
                f.parent().map(folder_name),
            ) else {
                continue;
            };
            let entry = images
                .entry(file)
                .or_insert_with(|| vec![None; attributes.len()]);
            entry[a].get_or_insert_with(|| (relative(f), value));
        }
    }
    Ok(FolderTree::Export {
        attributes,
        images: images.into_values().collect(),
    })
}

/// ImageFolder: `DIR/<class>/...` (or `DIR/images/<class>/...` for a prep output), the
/// attribute named `class`, or the one `want` names; or `label export`'s tree,
/// `DIR/<attribute>/<value>/<image>`, told by top folders with no image directly in
/// them: the attributes `want` names (the only one when it names none), each image (by
/// file name) with a value for every one of them, as a wide CSV's rows.
pub(crate) fn image_folder(dir: &Path, want: &[String]) -> Result<Listing, GanError> {
    let (attributes, images) = match folder_tree(dir)? {
        FolderTree::Classes(images) => {
            let attribute = match want {
                [one] => one.clone(),
                _ => "class".to_string(),
            };
            let (files, values) = images.into_iter().map(|(f, v)| (f, vec![v])).unzip();
            return Ok((files, vec![attribute], values));
        }
        FolderTree::Export { attributes, images } => (attributes, images),
    };
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
    let columns: Vec<usize> = names
        .iter()
        .map(|n| {
            attributes
                .iter()
                .position(|x| x == n)
                .expect("checked above")
        })
        .collect();
    // Each image with a value for every wanted attribute, at its path below the first.
    let (files, values) = images
        .into_iter()
        .filter_map(|image| {
            let wanted: Option<Vec<&(PathBuf, String)>> =
                columns.iter().map(|&k| image[k].as_ref()).collect();
            let wanted = wanted?;
            let values = wanted.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>();
            Some((wanted[0].0.clone(), values))
        })
        .unzip();
    Ok((files, names, values))
}

/// The class folders of an ImageFolder dataset (attribute folders of `label export`'s
/// tree): those below `DIR/images/` where it exists, else below `DIR`.
pub(crate) fn class_folders(dir: &Path) -> Result<Vec<PathBuf>, GanError> {
    let root = if dir.join("images").is_dir() {
        dir.join("images")
    } else {
        dir.to_path_buf()
    };
    sub_folders(&root)
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
