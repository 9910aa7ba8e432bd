//! `label status`: labels by source and value, coverage, pending questions and the last
//! round's calibration.

use super::rounds::{read_rounds, RoundInfo};
use crate::labels::index::DatasetIndex;
use crate::labels::queue::{check_answered, QueueCheck};
use crate::labels::store::{LabelStore, Source};
use crate::labels::{LabelError, Paths};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Counts and coverage of the store.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Images in the dataset.
    pub images: usize,
    /// Per attribute: labels per source.
    pub by_source: BTreeMap<String, BTreeMap<String, usize>>,
    /// Per attribute: labels per value.
    pub by_value: BTreeMap<String, BTreeMap<String, usize>>,
    /// Per attribute: share of images with a label.
    pub coverage: BTreeMap<String, f32>,
    /// Queue items still waiting for a person.
    pub pending: usize,
    /// Per attribute, the queue's answered questions against the round's suggestions.
    pub answered_queue: BTreeMap<String, QueueCheck>,
    /// The last round, if any.
    pub last_round: Option<RoundInfo>,
    /// Labels in the store for images the dataset no longer has (a re-prep removed them):
    /// kept, so that they count again if the images come back, but not counted above.
    #[serde(default)]
    pub elsewhere: usize,
}

impl std::fmt::Display for StatusReport {
    /// The summary `label status` prints on a terminal: one line per attribute with its
    /// labels by source and its coverage, the values' counts, and the last round.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} images, {} questions pending",
            self.images, self.pending
        )?;
        if self.elsewhere > 0 {
            writeln!(
                f,
                "{} labels name images the dataset no longer has (kept, not counted)",
                self.elsewhere
            )?;
        }
        let width = self
            .by_source
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(9)
            .max(9);
        writeln!(
            f,
            "{:<width$}  {:>7}  {:>9}  {:>7}  {:>8}",
            "attribute", "human", "heuristic", "model", "coverage"
        )?;
        for (attr, sources) in &self.by_source {
            let n = |s: Source| sources.get(&s.to_string()).copied().unwrap_or(0);
            writeln!(
                f,
                "{attr:<width$}  {:>7}  {:>9}  {:>7}  {:>7.1}%",
                n(Source::Human),
                n(Source::Heuristic),
                n(Source::Model),
                100.0 * self.coverage.get(attr).copied().unwrap_or(0.0)
            )?;
        }
        for (attr, values) in &self.by_value {
            let counts: Vec<String> = values.iter().map(|(v, n)| format!("{v} {n}")).collect();
            writeln!(f, "{attr}: {}", counts.join(", "))?;
        }
        for (attr, c) in &self.answered_queue {
            writeln!(f, "{attr}: {}", c.summary("the queue's"))?;
        }
        let Some(r) = &self.last_round else {
            return writeln!(f, "no round yet (`facesynth label round --data DIR`)");
        };
        write!(f, "last {r}")
    }
}

/// `label status`.
pub fn status(data: &Path) -> Result<StatusReport, LabelError> {
    let paths = Paths::new(data);
    let schema = paths.load_schema()?;
    let index = DatasetIndex::open(data)?;
    let store = LabelStore::load(&paths.labels(), &schema)?;
    let mut by_source: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut by_value: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for a in &schema.attributes {
        by_source.insert(a.name.clone(), BTreeMap::new());
        by_value.insert(
            a.name.clone(),
            a.values.iter().map(|v| (v.clone(), 0)).collect(),
        );
    }
    let present = index.positions();
    let mut elsewhere = 0;
    for l in store.iter() {
        if !present.contains_key(l.file.as_str()) {
            elsewhere += 1;
            continue;
        }
        *by_source
            .entry(l.attribute.clone())
            .or_default()
            .entry(l.source.to_string())
            .or_insert(0) += 1;
        *by_value
            .entry(l.attribute.clone())
            .or_default()
            .entry(l.value.clone())
            .or_insert(0) += 1;
    }
    let coverage = by_source
        .iter()
        .map(|(a, m)| {
            (
                a.clone(),
                m.values().sum::<usize>() as f32 / index.len() as f32,
            )
        })
        .collect();
    let pending = crate::labels::queue::pending(&paths, &schema, &store)?.len();
    let answered_queue = check_answered(&crate::labels::queue::read_queue(&paths)?, &store);
    Ok(StatusReport {
        images: index.len(),
        by_source,
        by_value,
        coverage,
        pending,
        answered_queue,
        last_round: read_rounds(&paths)?.pop(),
        elsewhere,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::queue::QueueItem;
    use crate::labels::store::Label;

    #[test]
    fn the_answered_queue_is_scored_against_its_suggestions() {
        let item = |file: &str, suggestion: &str, confidence| QueueItem {
            file: file.into(),
            attribute: "hair_color".into(),
            suggestion: suggestion.into(),
            confidence,
        };
        let queue = [
            item("a", "black", 0.6),
            item("b", "red", 0.4),
            item("c", "red", 0.5),
            item("d", "", 0.0),
        ];
        let mut store = LabelStore::new();
        let label = |file: &str, value: &str, source| Label {
            file: file.into(),
            attribute: "hair_color".into(),
            value: value.into(),
            confidence: 1.0,
            source,
            round: 1,
        };
        store.set(label("a", "black", Source::Human));
        store.set(label("b", "black", Source::Human));
        // Not answered: a model label, and no label at all; no suggestion.
        store.set(label("c", "red", Source::Model));
        store.set(label("d", "red", Source::Human));
        let c = &check_answered(&queue, &store)["hair_color"];
        assert_eq!((c.answered, c.suggestion_right), (2, 1));
        assert!((c.mean_confidence - 0.5).abs() < 1e-6, "{c:?}");
        let report = StatusReport {
            images: 4,
            by_source: BTreeMap::new(),
            by_value: BTreeMap::new(),
            coverage: BTreeMap::new(),
            pending: 1,
            answered_queue: [("hair_color".to_string(), c.clone())].into(),
            last_round: None,
            elsewhere: 0,
        };
        assert!(
            report.to_string().contains(
                "hair_color: the queue's suggestion was the answer on 1 of 2 answered (50%), at a mean confidence of 50%"
            ),
            "{report}"
        );
    }

    #[test]
    fn status_summary_reads_as_a_table() {
        let map = |kv: &[(&str, usize)]| -> BTreeMap<String, usize> {
            kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        let mut report = StatusReport {
            images: 200,
            by_source: [(
                "hair_color".to_string(),
                map(&[("human", 40), ("model", 110)]),
            )]
            .into(),
            by_value: [("hair_color".to_string(), map(&[("black", 90), ("red", 60)]))].into(),
            coverage: [("hair_color".to_string(), 0.75)].into(),
            pending: 12,
            answered_queue: BTreeMap::new(),
            last_round: None,
            elsewhere: 0,
        };
        let text = report.to_string();
        assert!(
            text.starts_with("200 images, 12 questions pending\n"),
            "{text}"
        );
        let row = text.lines().find(|l| l.starts_with("hair_color ")).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells, ["hair_color", "40", "0", "110", "75.0%"], "{text}");
        assert!(text.contains("hair_color: black 90, red 60"), "{text}");
        assert!(text.contains("no round yet"), "{text}");
        assert!(!text.contains("the queue's suggestion"), "{text}");
        report.last_round = Some(RoundInfo {
            round: 2,
            human: 40,
            temperature: [("hair_color".to_string(), 1.5)].into(),
            ece: [("hair_color".to_string(), 0.031)].into(),
            calibration_size: [("hair_color".to_string(), 8)].into(),
            heuristic_agreement: [("hair_color".to_string(), (0.92, 50, false))].into(),
            ..Default::default()
        });
        let text = report.to_string();
        assert!(text.contains("last round 2: 40 people's labels"), "{text}");
        assert!(
            text.contains("heuristic agrees with people on 92% of 50 (lower bound 87%): left out"),
            "{text}"
        );
        // Under MIN_OVERLAP images both labeled the heuristic trains unjudged, and says so.
        if let Some(r) = report.last_round.as_mut() {
            r.heuristic_agreement = [("hair_color".to_string(), (0.86, 14, true))].into();
        }
        let text = report.to_string();
        assert!(
            text.contains("on 86% of 14 (under 20, not judged yet): trains"),
            "{text}"
        );
        assert!(
            text.contains("hair_color: temperature 1.50, ECE 0.031 on 8 held-out labels"),
            "{text}"
        );
        // How far the temperature could be off, when the round measured it.
        if let Some(r) = report.last_round.as_mut() {
            r.temperature_range = [("hair_color".to_string(), (1.2, 1.9))].into();
        }
        let text = report.to_string();
        assert!(
            text.contains(
                "hair_color: temperature 1.50 (held-out answers' 90% range 1.20-1.90), ECE 0.031"
            ),
            "{text}"
        );
        // The share of the held-out labels the network got right, when recorded.
        if let Some(r) = report.last_round.as_mut() {
            let pairs = [(0.9, true), (0.8, true), (0.6, false), (0.7, true)];
            r.held_out = [("hair_color".to_string(), pairs.to_vec())].into();
        }
        let text = report.to_string();
        assert!(
            text.contains("ECE 0.031 on 8 held-out labels (75% right), "),
            "{text}"
        );
    }
}
