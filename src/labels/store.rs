//! The label store: `DIR/labels/labels.csv` in long form
//! (`file,attribute,value,confidence,source,round`), one row per image and attribute,
//! written atomically. A human label is never overwritten by a synthesized one.

use super::schema::Schema;
use super::LabelError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The header every labels file must have, in this order.
pub const HEADER: [&str; 6] = [
    "file",
    "attribute",
    "value",
    "confidence",
    "source",
    "round",
];

/// Where a label came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A person (answers, imports): always wins.
    Human,
    /// A colour heuristic.
    Heuristic,
    /// The classifier.
    Model,
}

impl Source {
    /// The lowercase name written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Human => "human",
            Source::Heuristic => "heuristic",
            Source::Model => "model",
        }
    }

    fn parse(s: &str) -> Option<Source> {
        match s {
            "human" => Some(Source::Human),
            "heuristic" => Some(Source::Heuristic),
            "model" => Some(Source::Model),
            _ => None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One label of one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// Image path relative to the dataset folder (`images/...`).
    pub file: String,
    /// Attribute name.
    pub attribute: String,
    /// One of the attribute's values.
    pub value: String,
    /// Confidence in 0..=1 (1 for human labels).
    pub confidence: f32,
    /// Who labeled it.
    pub source: Source,
    /// The round that made it (0: init or import before any round).
    pub round: u32,
}

/// All labels of a dataset, keyed by (file, attribute).
#[derive(Debug, Clone, Default)]
pub struct LabelStore {
    labels: BTreeMap<(String, String), Label>,
}

impl LabelStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `path`, checking the header and every value against `schema`. A missing
    /// file is an empty store.
    pub fn load(path: &Path, schema: &Schema) -> Result<LabelStore, LabelError> {
        let mut store = LabelStore::new();
        if !path.exists() {
            return Ok(store);
        }
        let mut rdr = csv::Reader::from_path(path).map_err(|e| LabelError::csv(path, e))?;
        let header = rdr.headers().map_err(|e| LabelError::csv(path, e))?.clone();
        // Excel's "CSV UTF-8" starts the file with a byte-order mark.
        let names: Vec<&str> = header
            .iter()
            .map(|c| c.trim_start_matches('\u{feff}'))
            .collect();
        if names != HEADER {
            return Err(LabelError::invalid(
                path,
                1,
                format!(
                    "header {:?} is not {:?}",
                    header.iter().collect::<Vec<_>>().join(","),
                    HEADER.join(",")
                ),
            ));
        }
        // Where each (file, attribute) was read: the store writes one row for each, so a
        // second is a hand edit, and which of two values counted depended on the reader
        // (a round kept the first, an import's rewrite the last).
        let mut seen: std::collections::HashMap<(String, String), Option<csv::Position>> =
            Default::default();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| LabelError::csv(path, e))?;
            let line = crate::csv_line::Line::of(path, &rec);
            let bad = |reason: String| LabelError::invalid(path, line.get(), reason);
            let (file, attr, value) = (&rec[0], &rec[1], &rec[2]);
            let a = schema.attribute(attr).ok_or_else(|| {
                bad(format!(
                    "attribute {attr:?} is not in schema {}",
                    schema.name
                ))
            })?;
            if a.index_of(value).is_none() {
                return Err(bad(format!("value {value:?} is not a value of {attr}")));
            }
            let confidence: f32 = rec[3]
                .parse()
                .ok()
                .filter(|c: &f32| (0.0..=1.0).contains(c))
                .ok_or_else(|| bad(format!("confidence {:?} is not a number in 0..1", &rec[3])))?;
            let source = Source::parse(&rec[4]).ok_or_else(|| {
                bad(format!(
                    "source {:?} is not human, heuristic or model",
                    &rec[4]
                ))
            })?;
            let round = rec[5]
                .parse()
                .map_err(|_| bad(format!("round {:?} is not a number", &rec[5])))?;
            if file.is_empty() {
                return Err(bad("empty file".into()));
            }
            let key = (file.to_string(), attr.to_string());
            if let Some(first) = seen.insert(key, rec.position().cloned()) {
                let first = first.map_or(0, |p| crate::csv_line::line_of(path, &p));
                return Err(bad(format!(
                    "{file} {attr} is also on line {first}; keep one row"
                )));
            }
            store.set(Label {
                file: file.to_string(),
                attribute: attr.to_string(),
                value: value.to_string(),
                confidence,
                source,
                round,
            });
        }
        Ok(store)
    }

    /// Takes the store's write lock: an advisory lock (`flock`) on `.labels.lock` beside
    /// `path`, held until the guard drops. Every writer that reads the file, changes it and
    /// writes it back (`label serve`'s answers, `import`, a round's save) holds it over all
    /// three, so that none writes back a file without another's change.
    pub fn lock(path: &Path) -> Result<std::fs::File, LabelError> {
        let lock_path = path.with_file_name(".labels.lock");
        let file =
            crate::atomic::open_lock_file(&lock_path).map_err(|e| LabelError::io(&lock_path, e))?;
        file.lock().map_err(|e| LabelError::io(&lock_path, e))?;
        Ok(file)
    }

    /// Loads `path`, applies `change` and saves it, under [`LabelStore::lock`].
    pub fn update<T>(
        path: &Path,
        schema: &Schema,
        change: impl FnOnce(&mut LabelStore) -> T,
    ) -> Result<T, LabelError> {
        let _lock = Self::lock(path)?;
        let mut store = Self::load(path, schema)?;
        let out = change(&mut store);
        store.save(path)?;
        Ok(out)
    }

    /// Saves a store that was loaded a while ago (a round's, loaded before it trained)
    /// with the people's labels as the file holds them now: answers given meanwhile
    /// (`label serve`, `import`) replace what the round synthesized for those images,
    /// and answers taken back meanwhile (undo) stay gone. The round writes no person's
    /// label itself, so the file is the truth for them.
    pub fn save_keeping_people(&mut self, path: &Path, schema: &Schema) -> Result<(), LabelError> {
        let _lock = Self::lock(path)?;
        let now = Self::load(path, schema)?;
        self.labels.retain(|_, l| l.source != Source::Human);
        for (key, l) in now.labels {
            if l.source == Source::Human {
                self.labels.insert(key, l);
            }
        }
        self.save(path)
    }

    /// Writes the store atomically and durably (synced: a person's answers survive a
    /// power cut), sorted by file then attribute.
    pub fn save(&self, path: &Path) -> Result<(), LabelError> {
        crate::atomic::write_durable_with(path, |w| {
            let mut wtr = csv::Writer::from_writer(w);
            wtr.write_record(HEADER)?;
            for l in self.labels.values() {
                wtr.write_record([
                    l.file.as_str(),
                    l.attribute.as_str(),
                    l.value.as_str(),
                    &format!("{:.4}", l.confidence),
                    l.source.as_str(),
                    &l.round.to_string(),
                ])?;
            }
            wtr.flush()
        })
        .map_err(|e| LabelError::io(path, e))
    }

    /// Adds or replaces a label; a human label is never replaced by a synthesized one.
    /// Returns whether the store changed.
    pub fn set(&mut self, label: Label) -> bool {
        let key = (label.file.clone(), label.attribute.clone());
        if let Some(old) = self.labels.get(&key) {
            if old.source == Source::Human && label.source != Source::Human {
                return false;
            }
            if *old == label {
                return false;
            }
        }
        self.labels.insert(key, label);
        true
    }

    /// Removes the label of `file` for `attribute`, whoever made it, and returns it
    /// (`label serve`'s undo takes a person's answer back).
    pub fn remove(&mut self, file: &str, attribute: &str) -> Option<Label> {
        self.labels
            .remove(&(file.to_string(), attribute.to_string()))
    }

    /// Removes every synthesized label of `source` (a round replaces the model's labels).
    pub fn clear_source(&mut self, source: Source) {
        debug_assert!(source != Source::Human);
        self.labels.retain(|_, l| l.source != source);
    }

    /// The label of `file` for `attribute`, if any.
    pub fn get(&self, file: &str, attribute: &str) -> Option<&Label> {
        self.labels.get(&(file.to_string(), attribute.to_string()))
    }

    /// All labels, sorted by file then attribute.
    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.labels.values()
    }

    /// The files a person has labeled (any attribute).
    pub fn human_files(&self) -> std::collections::HashSet<&str> {
        self.iter()
            .filter(|l| l.source == Source::Human)
            .map(|l| l.file.as_str())
            .collect()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Counts by (attribute, source).
    pub fn counts_by_source(&self) -> BTreeMap<(String, Source), usize> {
        let mut m = BTreeMap::new();
        for l in self.labels.values() {
            *m.entry((l.attribute.clone(), l.source)).or_insert(0) += 1;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("labels/anime.toml");
        Schema::load(&p).unwrap()
    }

    fn label(value: &str, source: Source) -> Label {
        Label {
            file: "images/a.png".into(),
            attribute: "hair_color".into(),
            value: value.into(),
            confidence: 0.5,
            source,
            round: 1,
        }
    }

    /// A round loads the store, trains for minutes and saves: answers given meanwhile
    /// (through [`LabelStore::update`], as `label serve` and `import` write) survive the
    /// save and replace what the round synthesized; one taken back meanwhile stays gone.
    #[test]
    fn a_rounds_save_keeps_answers_given_while_it_trained() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels.csv");
        let sc = schema();
        let other = |file: &str, value: &str, source| Label {
            file: file.into(),
            ..label(value, source)
        };
        LabelStore::update(&p, &sc, |s| {
            s.set(other("images/b.png", "red", Source::Human))
        })
        .unwrap();
        let mut round = LabelStore::load(&p, &sc).unwrap();
        // Meanwhile: a new answer for a.png, and b.png's answer undone.
        LabelStore::update(&p, &sc, |s| {
            s.set(label("blue", Source::Human));
            s.remove("images/b.png", "hair_color");
        })
        .unwrap();
        round.set(label("green", Source::Model));
        round.set(other("images/c.png", "pink", Source::Model));
        round.save_keeping_people(&p, &sc).unwrap();
        let back = LabelStore::load(&p, &sc).unwrap();
        assert_eq!(
            back.get("images/a.png", "hair_color"),
            Some(&label("blue", Source::Human))
        );
        assert!(back.get("images/b.png", "hair_color").is_none());
        assert_eq!(
            back.get("images/c.png", "hair_color").unwrap().value,
            "pink"
        );
    }

    #[test]
    fn human_wins() {
        let mut s = LabelStore::new();
        assert!(s.set(label("red", Source::Heuristic)));
        assert!(s.set(label("blue", Source::Human)));
        assert!(!s.set(label("green", Source::Model)));
        assert!(!s.set(label("pink", Source::Heuristic)));
        assert_eq!(s.get("images/a.png", "hair_color").unwrap().value, "blue");
        assert!(
            s.set(label("aqua", Source::Human)),
            "a person may correct a person"
        );
        s.clear_source(Source::Model);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn round_trip_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels.csv");
        let mut s = LabelStore::new();
        s.set(label("red", Source::Human));
        s.save(&p).unwrap();
        let back = LabelStore::load(&p, &schema()).unwrap();
        assert_eq!(
            back.get("images/a.png", "hair_color").unwrap().source,
            Source::Human
        );

        std::fs::write(&p, "file,attribute,value,confidence,source,round\nimages/a.png,hair_color,red,1,human,0\nimages/b.png,hair_color,mauve,1,human,0\n").unwrap();
        let e = LabelStore::load(&p, &schema()).unwrap_err().to_string();
        assert!(
            e.contains("labels.csv") && e.contains("line 3") && e.contains("mauve"),
            "{e}"
        );
        std::fs::write(&p, "file,attr,value\n").unwrap();
        let e = LabelStore::load(&p, &schema()).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("header"), "{e}");
        // Regression: one question on two rows was read, the first or the last winning
        // by reader; it is refused, naming both lines.
        std::fs::write(&p, "file,attribute,value,confidence,source,round\nimages/a.png,hair_color,red,1,human,0\nimages/b.png,hair_color,red,1,human,0\nimages/a.png,hair_color,red,0.5,model,1\n").unwrap();
        let e = LabelStore::load(&p, &schema()).unwrap_err().to_string();
        assert!(e.contains("line 4") && e.contains("also on line 2"), "{e}");
    }
}
