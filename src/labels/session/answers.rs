//! `label import`: a person's answers (or a wide CSV, or ImageFolder class folders) stored
//! as human labels.

use super::rounds::read_rounds;
use crate::labels::audit;
use crate::labels::import::{self as importer, Layout};
use crate::labels::index::DatasetIndex;
use crate::labels::store::{Label, LabelStore, Source};
use crate::labels::trust;
use crate::labels::{LabelError, Paths, Schema};
use serde::Serialize;
use std::path::Path;

/// What `import` read.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// `wide`, `answers` or `imagefolder`.
    pub layout: String,
    /// Answers the file holds (one per image and attribute), matched to images.
    pub answers: usize,
    /// Images they are about.
    pub images: usize,
    /// Of the answers, those that changed the store (a new label, or another value than
    /// the one stored); an answer the store already held counts 0.
    pub imported: usize,
    /// Rows naming images not in the dataset.
    pub unmatched: usize,
    /// The first few of those names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmatched_names: Vec<String>,
    /// Empty or skipped cells of the dataset's images.
    pub skipped: usize,
    /// Rows matched to an image in a sub-folder by their bare file name alone: another
    /// set's picture of the same name would be taken for it, so the summary warns.
    #[serde(skip_serializing_if = "super::rounds::is_zero")]
    pub by_file_name_only: usize,
    /// Entries of this dataset's own `label export` (`labels_wide.csv`, `imagefolder/`)
    /// that agree with its current labels: left as they are, so the machine's labels an
    /// export holds do not come back as a person's.
    #[serde(skip_serializing_if = "super::rounds::is_zero")]
    pub own_export_unchanged: usize,
    /// The file's answers against the colour heuristics' votes: attributes whose answers
    /// look swapped with another's or renamed ([`crate::labels::audit`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<audit::Finding>,
}

/// Whether `file` is `paths`'s own `label export` output (the wide CSV or a folder of
/// its ImageFolder tree).
fn own_export(paths: &Paths, file: &Path) -> bool {
    let canon = |p: &Path| p.canonicalize().ok();
    let Some(file) = canon(file) else {
        return false;
    };
    canon(&paths.wide()).is_some_and(|w| w == file)
        || canon(&paths.image_folder()).is_some_and(|tree| file.starts_with(tree))
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
        let file = &index.images[a.image];
        // The same answer again is no change: it keeps the round it was first given in
        // (a re-import counted it and stamped it with the current round).
        let held = store
            .get(file, &attr.name)
            .is_some_and(|l| l.source == Source::Human && l.value == attr.values[a.value]);
        if held {
            continue;
        }
        n += store.set(Label {
            file: file.clone(),
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
    let (layout, mut got) = importer::read_any(file, &schema, &index, attribute)?;
    importer::require_matches(file, &got)?;
    let round = read_rounds(&paths)?.last().map_or(0, |r| r.round);
    let own = own_export(&paths, file);
    // What the export wrote in each cell. An export from before that record was kept:
    // its cells were the store's labels or (`--all`) predictions.csv's, as far as can be
    // told now.
    let exported = match own {
        true => super::export::read_exported_cells(&paths),
        false => None,
    };
    let preds = match own && exported.is_none() && paths.predictions().is_file() {
        true => super::export::read_predictions_checked(&paths, &schema)?,
        false => Default::default(),
    };
    let (imported, audit, own_export_unchanged) =
        LabelStore::update(&paths.labels(), &schema, |store| {
            // Of this dataset's own export, only what a person changed is an answer: the
            // rest are its labels as they stand, heuristic and model ones included, and
            // read back whole they all became a person's (never replaced by a round). A
            // cell the export left empty, or filled otherwise, that a person filled in is
            // an answer, whatever the store or the predictions say.
            let before = got.answers.len();
            if let Some(cells) = &exported {
                got.answers.retain(|a| {
                    let attr = &schema.attributes[a.attribute];
                    let (file, value) = (&index.images[a.image], &attr.values[a.value]);
                    cells.get(&(file.clone(), attr.name.clone())) != Some(value)
                });
            } else if own {
                got.answers.retain(|a| {
                    let attr = &schema.attributes[a.attribute];
                    let (file, value) = (&index.images[a.image], &attr.values[a.value]);
                    let stored = store
                        .get(file, &attr.name)
                        .is_some_and(|l| &l.value == value);
                    let predicted = preds
                        .get(&(file.clone(), attr.name.clone()))
                        .is_some_and(|p| &p.0 == value);
                    !stored && !predicted
                });
            }
            // Against the votes before these answers replace any of them in the store.
            let votes = trust::heuristic_votes(&paths, &schema, store);
            let audit = audit::audit(&schema, &index, &got.answers, &votes);
            let imported = store_answers(store, &schema, &index, &got.answers, round);
            (imported, audit, before - got.answers.len())
        })?;
    // `skip` typed into queue.csv is the page's skip: the question leaves the queue (it
    // was asked again, and `label queue` would draw no new one while it waited).
    if !got.skips.is_empty() {
        let skips = got.skips.iter().map(|&(image, a)| {
            (
                index.images[image].clone(),
                schema.attributes[a].name.clone(),
            )
        });
        crate::labels::queue::add_skips(&paths, skips)?;
    }
    let layout = match layout {
        Layout::Wide => "wide",
        Layout::Answers => "answers",
        Layout::ImageFolder => "imagefolder",
    };
    let images: std::collections::HashSet<usize> = got.answers.iter().map(|a| a.image).collect();
    Ok(ImportReport {
        layout: layout.into(),
        answers: got.answers.len(),
        images: images.len(),
        imported,
        unmatched: got.unmatched,
        unmatched_names: got.unmatched_names,
        skipped: got.skipped,
        by_file_name_only: got.by_file_name_only,
        own_export_unchanged,
        audit,
    })
}
