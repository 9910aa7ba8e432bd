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
    /// Rows (or cells) left empty or marked `skip`.
    pub skipped: usize,
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
                return Err(LabelError::invalid(
                    path,
                    0,
                    "an ImageFolder import needs --attribute".into(),
                ));
            }
        };
        return Ok((
            Layout::ImageFolder,
            read_image_folder(path, &attr, schema, index)?,
        ));
    }
    let mut rdr = csv::Reader::from_path(path).map_err(|e| LabelError::csv(path, e))?;
    let header = rdr.headers().map_err(|e| LabelError::csv(path, e))?;
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
    let header = header.iter().map(|h| h.trim().to_string()).collect();
    Ok((rdr, header))
}

fn value_of(
    schema: &Schema,
    attr: usize,
    v: &str,
    path: &Path,
    line: u64,
) -> Result<Option<usize>, LabelError> {
    let v = v.trim();
    if v.is_empty() || v == "skip" {
        return Ok(None);
    }
    let a = &schema.attributes[attr];
    a.index_of(v).map(Some).ok_or_else(|| {
        LabelError::invalid(
            path,
            line,
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
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| LabelError::csv(path, e))?;
        let image = index.resolve(&rec[file_col]);
        for &(c, a) in &cols {
            let Some(value) = value_of(schema, a, &rec[c], path, line)? else {
                out.skipped += 1;
                continue;
            };
            if let Some(image) = image {
                out.answers.push(Answer {
                    image,
                    attribute: a,
                    value,
                });
            }
        }
        if image.is_none() {
            out.unmatched += 1;
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
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| LabelError::csv(path, e))?;
        let attr = rec[ac].trim();
        let a = schema.attribute_index(attr).ok_or_else(|| {
            LabelError::invalid(
                path,
                line,
                format!("attribute {attr:?} is not in schema {}", schema.name),
            )
        })?;
        let Some(value) = value_of(schema, a, &rec[vc], path, line)? else {
            out.skipped += 1;
            continue;
        };
        match index.resolve(&rec[fc]) {
            Some(image) => out.answers.push(Answer {
                image,
                attribute: a,
                value,
            }),
            None => out.unmatched += 1,
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
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let value = value_of(schema, a, &name, &d, 0)?;
        let Some(value) = value else { continue };
        for f in crate::dataset::walk::files(&d).map_err(|e| LabelError::io(&d, e))? {
            let rel = f
                .strip_prefix(&d)
                .unwrap_or(&f)
                .to_string_lossy()
                .replace('\\', "/");
            match index.resolve(&rel) {
                Some(image) => out.answers.push(Answer {
                    image,
                    attribute: a,
                    value,
                }),
                None => out.unmatched += 1,
            }
        }
    }
    Ok(out)
}
