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
    /// Empty or skipped cells.
    pub skipped: usize,
    /// The file's answers against the colour heuristics' votes: attributes whose answers
    /// look swapped with another's or renamed ([`crate::labels::audit`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<audit::Finding>,
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
    let (layout, got) = importer::read_any(file, &schema, &index, attribute)?;
    importer::require_matches(file, &got)?;
    let round = read_rounds(&paths)?.last().map_or(0, |r| r.round);
    let (imported, audit) = LabelStore::update(&paths.labels(), &schema, |store| {
        // Against the votes before these answers replace any of them in the store.
        let votes = trust::heuristic_votes(&paths, &schema, store);
        let audit = audit::audit(&schema, &index, &got.answers, &votes);
        let imported = store_answers(store, &schema, &index, &got.answers, round);
        (imported, audit)
    })?;
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
        audit,
    })
}
