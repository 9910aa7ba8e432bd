//! Importers for label layouts users already have: a wide CSV (`file,hair_color,...`,
//! also synth's `truth.csv` and oracle files), ImageFolder class folders
//! (`ROOT/<value>/<image>`), and a person's answers file (`file,attribute,value`, e.g. a
//! filled-in `queue.csv`). Every value is checked against the schema; a bad one is
//! rejected naming the file, line and value.

use super::index::DatasetIndex;
use super::schema::Schema;
use super::LabelError;
use std::path::Path;

/// One imported answer: image index, attribute index, value index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Index into [`DatasetIndex::images`].
    pub image: usize,
    /// Index into the schema's attributes.
    pub attribute: usize,
    /// Index into the attribute's values.
    pub value: usize,
}

/// What an import read.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// The answers for images of the dataset.
    pub answers: Vec<Answer>,
    /// Rows naming an image the dataset does not have.
    pub unmatched: usize,
    /// The first few names that matched no image, to show the person.
    pub unmatched_names: Vec<String>,
    /// Rows (or cells) of the dataset's images left empty or marked `skip`.
    pub skipped: usize,
    /// Rows (or files) matched to an image in a sub-folder by their bare file name
    /// ([`DatasetIndex::by_file_name_only`]), for the person to check.
    pub by_file_name_only: usize,
    /// Of an answers file's rows, those marked `skip` for an image of the dataset
    /// (image, attribute): recorded as the page records a skip.
    pub skips: Vec<(usize, usize)>,
    /// Where each question was answered first: (image, attribute) -> (value, line or
    /// folder), to refuse a file that answers one question two ways.
    first: std::collections::HashMap<(usize, usize), (usize, String)>,
}

impl Imported {
    /// Adds an answer read at `whence` (`line 3`, a folder) of `path`. The same question
    /// answered otherwise elsewhere in the file is an error naming both places: applied
    /// in order, the last silently won (an image copied into two value folders, or named
    /// by two rows as `images/a.png` and `a.png`).
    fn answer(
        &mut self,
        a: Answer,
        path: &Path,
        line: u64,
        whence: impl FnOnce() -> String,
        schema: &Schema,
        index: &DatasetIndex,
    ) -> Result<(), LabelError> {
        use std::collections::hash_map::Entry;
        match self.first.entry((a.image, a.attribute)) {
            Entry::Occupied(e) if e.get().0 != a.value => {
                let attr = &schema.attributes[a.attribute];
                let (value, at) = e.get();
                return Err(LabelError::invalid(
                    path,
                    line,
                    format!(
                        "{} is answered twice for {}: {:?} at {at} and {:?} at {}; keep one",
                        attr.name,
                        index.images[a.image],
                        attr.values[*value],
                        attr.values[a.value],
                        whence()
                    ),
                ));
            }
            Entry::Occupied(_) => {}
            Entry::Vacant(e) => {
                e.insert((a.value, whence()));
            }
        }
        self.answers.push(a);
        Ok(())
    }

    /// [`Imported::answer`] of `[image, attribute, value]` read at `line` of a CSV file.
    fn answer_on_line(
        &mut self,
        [image, attribute, value]: [usize; 3],
        path: &Path,
        line: u64,
        schema: &Schema,
        index: &DatasetIndex,
    ) -> Result<(), LabelError> {
        let a = Answer {
            image,
            attribute,
            value,
        };
        self.answer(a, path, line, || format!("line {line}"), schema, index)
    }

    /// The image `name` refers to ([`DatasetIndex::resolve`]), counting a match by the
    /// bare file name of an image in a sub-folder.
    fn resolve(&mut self, name: &str, index: &DatasetIndex) -> Option<usize> {
        let image = index.resolve(name)?;
        self.by_file_name_only += usize::from(index.by_file_name_only(name, image));
        Some(image)
    }

    /// Counts a row whose name `name` matched no image of the dataset, or several.
    fn unmatched(&mut self, name: &str, index: &DatasetIndex) {
        self.unmatched += 1;
        if self.unmatched_names.len() < 3 {
            self.unmatched_names.push(match index.is_ambiguous(name) {
                true => format!("{name} (names several images: give the path)"),
                false => name.to_string(),
            });
        }
    }
}

/// An error when `got` from `path` matched no image of the dataset at all but named some
/// (a truth file written for another folder layout): nothing would be imported, or a
/// simulation would measure nothing, and the person should see the names that failed.
pub fn require_matches(path: &Path, got: &Imported) -> Result<(), LabelError> {
    if !got.answers.is_empty() || got.unmatched == 0 {
        return Ok(());
    }
    Err(LabelError::invalid(
        path,
        0,
        format!(
            "none of its {} names is an image of the dataset (first: {}); a name may be \
             the image's path (images/...), its path under images/, its manifest source \
             path, or a file name found once, with or without its extension",
            got.unmatched,
            got.unmatched_names.join(", ")
        ),
    ))
}

/// The layouts [`read_any`] tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `file,<attr>,<attr>...`.
    Wide,
    /// `file,attribute,value[,...]`.
    Answers,
    /// A folder of class folders.
    ImageFolder,
}

/// Reads a wide CSV, an answers file, or an ImageFolder (`attribute` names its attribute).
pub fn read_any(
    path: &Path,
    schema: &Schema,
    index: &DatasetIndex,
    attribute: Option<&str>,
) -> Result<(Layout, Imported), LabelError> {
    if path.is_dir() {
        let attr = match attribute {
            Some(a) => a.to_string(),
            None if schema.attributes.len() == 1 => schema.attributes[0].name.clone(),
            None => {
                return Err(LabelError::Usage {
                    path: path.to_path_buf(),
                    reason: format!(
                        "an ImageFolder: give --attribute, the attribute its class folders \
                         name ({})",
                        schema.names().join(", ")
                    ),
                });
            }
        };
        return Ok((
            Layout::ImageFolder,
            read_image_folder(path, &attr, schema, index)?,
        ));
    }
    let (_, header) = open(path)?;
    if header.iter().any(|h| h == "attribute") && header.iter().any(|h| h == "value") {
        Ok((Layout::Answers, read_answers(path, schema, index)?))
    } else {
        Ok((Layout::Wide, read_wide(path, schema, index)?))
    }
}

fn open(path: &Path) -> Result<(csv::Reader<std::fs::File>, Vec<String>), LabelError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| LabelError::csv(path, e))?;
    let header = rdr.headers().map_err(|e| LabelError::csv(path, e))?;
    let header = header
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    Ok((rdr, header))
}

fn value_of(
    schema: &Schema,
    attr: usize,
    v: &str,
    path: &Path,
    line: impl Fn() -> u64,
) -> Result<Option<usize>, LabelError> {
    let v = v.trim();
    if v.is_empty() || v == "skip" {
        return Ok(None);
    }
    let a = &schema.attributes[attr];
    a.index_of(v).map(Some).ok_or_else(|| {
        LabelError::invalid(
            path,
            line(),
            format!(
                "value {v:?} is not a value of {} ({})",
                a.name,
                a.values.join(" ")
            ),
        )
    })
}

/// Reads a wide CSV: a `file` column and one column per schema attribute present (at
/// least one); other columns are ignored.
pub fn read_wide(
    path: &Path,
    schema: &Schema,
    index: &DatasetIndex,
) -> Result<Imported, LabelError> {
    let (mut rdr, header) = open(path)?;
    let file_col = header.iter().position(|h| h == "file").ok_or_else(|| {
        LabelError::invalid(
            path,
            1,
            format!("header {:?} has no `file` column", header.join(",")),
        )
    })?;
    let cols: Vec<(usize, usize)> = header
        .iter()
        .enumerate()
        .filter_map(|(c, h)| schema.attribute_index(h).map(|a| (c, a)))
        .collect();
    if cols.is_empty() {
        return Err(LabelError::invalid(
            path,
            1,
            format!(
                "header {:?} has none of the schema's attributes ({})",
                header.join(","),
                schema.names().join(", ")
            ),
        ));
    }
    let mut out = Imported::default();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| LabelError::csv(path, e))?;
        let line = crate::csv_line::Line::of(path, &rec);
        let image = out.resolve(&rec[file_col], index);
        for &(c, a) in &cols {
            let Some(value) = value_of(schema, a, &rec[c], path, || line.get())? else {
                // Counted for the dataset's images only: a tags file of a larger set
                // counted every other image's empty cells.
                out.skipped += usize::from(image.is_some());
                continue;
            };
            if let Some(image) = image {
                out.answer_on_line([image, a, value], path, line.get(), schema, index)?;
            }
        }
        if image.is_none() {
            out.unmatched(&rec[file_col], index);
        }
    }
    Ok(out)
}

/// Reads an answers file: columns `file`, `attribute`, `value` (others ignored); an
/// empty value or `skip` is no answer.
pub fn read_answers(
    path: &Path,
    schema: &Schema,
    index: &DatasetIndex,
) -> Result<Imported, LabelError> {
    let (mut rdr, header) = open(path)?;
    let col = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            LabelError::invalid(
                path,
                1,
                format!("header {:?} has no `{name}` column", header.join(",")),
            )
        })
    };
    let (fc, ac, vc) = (col("file")?, col("attribute")?, col("value")?);
    let mut out = Imported::default();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| LabelError::csv(path, e))?;
        let line = crate::csv_line::Line::of(path, &rec);
        let attr = rec[ac].trim();
        let a = schema.attribute_index(attr).ok_or_else(|| {
            LabelError::invalid(
                path,
                line.get(),
                format!("attribute {attr:?} is not in schema {}", schema.name),
            )
        })?;
        let image = out.resolve(&rec[fc], index);
        let Some(value) = value_of(schema, a, &rec[vc], path, || line.get())? else {
            if let Some(image) = image {
                out.skipped += 1;
                if rec[vc].trim() == "skip" {
                    out.skips.push((image, a));
                }
            }
            continue;
        };
        match image {
            Some(image) => {
                out.answer_on_line([image, a, value], path, line.get(), schema, index)?
            }
            None => out.unmatched(&rec[fc], index),
        }
    }
    Ok(out)
}

/// Reads an ImageFolder layout `root/<value>/<image>` for `attribute`; images are
/// matched to the dataset by name (see [`DatasetIndex::resolve`]). A folder that is not
/// a value of the attribute is rejected.
pub fn read_image_folder(
    root: &Path,
    attribute: &str,
    schema: &Schema,
    index: &DatasetIndex,
) -> Result<Imported, LabelError> {
    let a = schema.attribute_index(attribute).ok_or_else(|| {
        LabelError::invalid(
            root,
            0,
            format!("attribute {attribute:?} is not in schema {}", schema.name),
        )
    })?;
    let mut out = Imported::default();
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .map_err(|e| LabelError::io(root, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Hidden folders (`.ipynb_checkpoints`) and a zip's `__MACOSX` hold no answers:
        // read as values they refused the whole import.
        .filter(|p| {
            p.is_dir()
                && p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    !n.starts_with('.') && n != "__MACOSX"
                })
        })
        .collect();
    dirs.sort();
    for d in dirs {
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let value = value_of(schema, a, &name, &d, || 0)?;
        let Some(value) = value else { continue };
        for f in crate::dataset::walk::files(&d).map_err(|e| LabelError::io(&d, e))? {
            let rel = crate::dataset::walk::relative(&d, &f);
            match out.resolve(&rel, index) {
                Some(image) => {
                    let answer = Answer {
                        image,
                        attribute: a,
                        value,
                    };
                    let at = || format!("{name}/{rel}");
                    out.answer(answer, root, 0, at, schema, index)?;
                }
                None => out.unmatched(&rel, index),
            }
        }
    }
    Ok(out)
}
