//! The queue for a person: `queue.csv` (`file,attribute,value,suggestion,confidence,round`;
//! a person may fill in `value` and import it back) and a contact-sheet PNG of the
//! queued faces in queue order (row by row). Answers and skips leave the queue: an item
//! is pending while its (file, attribute) has no human label and was not skipped.

use super::index::DatasetIndex;
use super::store::{LabelStore, Source};
use super::{LabelError, Paths, Schema};
use image::{imageops, Rgb, RgbImage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Header of `queue.csv`.
pub const QUEUE_HEADER: [&str; 6] = [
    "file",
    "attribute",
    "value",
    "suggestion",
    "confidence",
    "round",
];

/// One queued question: a value of `attribute` for image `file`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueItem {
    /// Image path relative to the dataset (`images/...`).
    pub file: String,
    /// Attribute name.
    pub attribute: String,
    /// The model's best guess (may be empty).
    pub suggestion: String,
    /// Its confidence.
    pub confidence: f32,
}

/// Writes `queue.csv` for images `queued`: one row per attribute without a human label.
pub fn write_queue(
    paths: &Paths,
    schema: &Schema,
    index: &DatasetIndex,
    store: &LabelStore,
    queued: &[usize],
    probs: &[Vec<Vec<f32>>],
    round: u32,
) -> Result<(), LabelError> {
    let items = open_questions(schema, index, store, queued, |i, a| {
        probs
            .get(a)
            .and_then(|p| p.get(i))
            .and_then(|p| p.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1)))
            .map(|(b, &c)| (schema.attributes[a].values[b].clone(), c))
    });
    save_items(&paths.queue(), &items, round)
}

/// The questions of images `queued`: one per attribute without a human label, with
/// `guess(image, attribute)`'s value and confidence as the suggestion (empty and 0 when
/// it has none).
fn open_questions(
    schema: &Schema,
    index: &DatasetIndex,
    store: &LabelStore,
    queued: &[usize],
    guess: impl Fn(usize, usize) -> Option<(String, f32)>,
) -> Vec<QueueItem> {
    let mut items = Vec::new();
    for &i in queued {
        let file = &index.images[i];
        for (a, attr) in schema.attributes.iter().enumerate() {
            if store
                .get(file, &attr.name)
                .is_some_and(|l| l.source == Source::Human)
            {
                continue;
            }
            let (suggestion, confidence) = guess(i, a).unwrap_or_default();
            items.push(QueueItem {
                file: file.clone(),
                attribute: attr.name.clone(),
                suggestion,
                confidence,
            });
        }
    }
    items
}

fn save_items(path: &Path, items: &[QueueItem], round: u32) -> Result<(), LabelError> {
    crate::atomic::write_with(path, |w| {
        let mut wtr = csv::Writer::from_writer(w);
        wtr.write_record(QUEUE_HEADER)?;
        for it in items {
            wtr.write_record([
                it.file.as_str(),
                it.attribute.as_str(),
                "",
                it.suggestion.as_str(),
                &format!("{:.4}", it.confidence),
                &round.to_string(),
            ])?;
        }
        wtr.flush()
    })
    .map_err(|e| LabelError::io(path, e))
}

/// How the round's suggestions fared on the queue questions a person has answered:
/// labels the network never saw, on the images it was least sure of, so an
/// out-of-sample check of its confidence where it matters most.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueCheck {
    /// Answered questions.
    pub answered: usize,
    /// Of those, how many the person answered with the round's suggestion.
    pub suggestion_right: usize,
    /// The suggestions' mean calibrated confidence on them.
    pub mean_confidence: f32,
}

impl QueueCheck {
    /// Share of the answered questions whose suggestion was the answer; 0 with none.
    pub fn share_right(&self) -> f64 {
        self.suggestion_right as f64 / self.answered.max(1) as f64
    }

    /// "`whose` suggestion was the answer on R of N answered (P%), at a mean confidence
    /// of C%".
    pub fn summary(&self, whose: &str) -> String {
        format!(
            "{whose} suggestion was the answer on {} of {} answered ({:.0}%), at a mean confidence of {:.0}%",
            self.suggestion_right,
            self.answered,
            100.0 * self.share_right(),
            100.0 * self.mean_confidence
        )
    }
}

/// [`QueueCheck`] per attribute of `queue`, over the items `store` holds a person's
/// label for; only attributes with at least one such answer have an entry, so every
/// check's `answered` is at least 1. Items without a suggestion (a random warm-up's)
/// are left out.
pub fn check_answered(queue: &[QueueItem], store: &LabelStore) -> BTreeMap<String, QueueCheck> {
    let mut out: BTreeMap<String, QueueCheck> = BTreeMap::new();
    for it in queue.iter().filter(|it| !it.suggestion.is_empty()) {
        let Some(l) = store
            .get(&it.file, &it.attribute)
            .filter(|l| l.source == Source::Human)
        else {
            continue;
        };
        let c = out.entry(it.attribute.clone()).or_default();
        c.answered += 1;
        c.suggestion_right += usize::from(l.value == it.suggestion);
        c.mean_confidence += it.confidence;
    }
    for c in out.values_mut() {
        c.mean_confidence /= c.answered as f32;
    }
    out
}

/// How many rows of `queue.csv` carry a value typed into the `value` column (not empty,
/// not `skip`, as `label import` reads them) for a question `store` holds no person's
/// label of: answers a new queue would write over. A question a person has answered
/// since (on the page, or in another file) is done, whatever its cell says: counting it
/// refused the round, and importing it as advised undid the later answer.
pub fn unimported_answers(paths: &Paths, store: &LabelStore) -> Result<usize, LabelError> {
    let path = paths.queue();
    if !path.is_file() {
        return Ok(0);
    }
    let mut rdr = csv::Reader::from_path(&path).map_err(|e| LabelError::csv(&path, e))?;
    let mut n = 0;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| LabelError::csv(&path, e))?;
        let value = rec.get(2).unwrap_or("").trim();
        if rec.len() < 3 || value.is_empty() || value == "skip" {
            continue;
        }
        let held = store
            .get(&rec[0], &rec[1])
            .is_some_and(|l| l.source == Source::Human);
        n += usize::from(!held);
    }
    Ok(n)
}

/// [`LabelError::Unimported`] where `queue.csv` holds typed answers `store` lacks: what
/// writes a new queue over the file checks this first.
pub fn require_imported(paths: &Paths, data: &Path, store: &LabelStore) -> Result<(), LabelError> {
    match unimported_answers(paths, store)? {
        0 => Ok(()),
        answers => Err(LabelError::Unimported {
            path: paths.queue(),
            data: data.to_path_buf(),
            answers,
        }),
    }
}

/// Every row of `queue.csv` (empty when absent).
pub fn read_queue(paths: &Paths) -> Result<Vec<QueueItem>, LabelError> {
    let path = paths.queue();
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let mut rdr = csv::Reader::from_path(&path).map_err(|e| LabelError::csv(&path, e))?;
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| LabelError::csv(&path, e))?;
        if rec.len() < 5 {
            continue;
        }
        out.push(QueueItem {
            file: rec[0].to_string(),
            attribute: rec[1].to_string(),
            suggestion: rec[3].to_string(),
            confidence: rec[4].parse().unwrap_or(0.0),
        });
    }
    Ok(out)
}

/// The (file, attribute) pairs a person skipped (none when `skipped.csv` is absent). A
/// file that does not read is an error naming it: its rows were dropped without a word,
/// the skipped questions came back, and the next skip rewrote the file without them.
pub fn read_skipped(paths: &Paths) -> Result<HashSet<(String, String)>, LabelError> {
    let path = paths.skipped();
    let mut out = HashSet::new();
    if !path.is_file() {
        return Ok(out);
    }
    let mut rdr = csv::Reader::from_path(&path).map_err(|e| LabelError::csv(&path, e))?;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| LabelError::csv(&path, e))?;
        if rec.len() >= 2 {
            out.insert((rec[0].to_string(), rec[1].to_string()));
        }
    }
    Ok(out)
}

/// Records a skip (rewrites `skipped.csv` atomically).
pub fn add_skip(paths: &Paths, file: &str, attribute: &str) -> Result<(), LabelError> {
    add_skips(paths, [(file.to_string(), attribute.to_string())])
}

/// Records several (file, attribute) skips in one rewrite of `skipped.csv`.
pub fn add_skips(
    paths: &Paths,
    skips: impl IntoIterator<Item = (String, String)>,
) -> Result<(), LabelError> {
    // Under the store's lock, as answers are: `label serve` and `label simulate` (or an
    // import) each read, change and rewrite the file.
    let _lock = LabelStore::lock(&paths.labels())?;
    let mut all = read_skipped(paths)?;
    all.extend(skips);
    write_skipped(paths, all)
}

/// Takes a skip back (`label serve`'s undo): the question is pending again. Returns
/// whether there was one.
pub fn remove_skip(paths: &Paths, file: &str, attribute: &str) -> Result<bool, LabelError> {
    let _lock = LabelStore::lock(&paths.labels())?;
    let mut all = read_skipped(paths)?;
    if !all.remove(&(file.to_string(), attribute.to_string())) {
        return Ok(false);
    }
    write_skipped(paths, all).map(|()| true)
}

/// Rewrites `skipped.csv` atomically, sorted.
fn write_skipped(paths: &Paths, skipped: HashSet<(String, String)>) -> Result<(), LabelError> {
    let mut all: Vec<(String, String)> = skipped.into_iter().collect();
    all.sort();
    let path = paths.skipped();
    crate::atomic::write_durable_with(&path, |w| {
        let mut wtr = csv::Writer::from_writer(w);
        wtr.write_record(["file", "attribute"])?;
        for (f, a) in &all {
            wtr.write_record([f, a])?;
        }
        wtr.flush()
    })
    .map_err(|e| LabelError::io(&path, e))
}

/// An error naming `queue.csv`'s line unless every question in it asks about an
/// attribute of `schema` for an image of `index` (a hand-edited queue with a misspelt
/// attribute would otherwise lose that question without a word).
pub fn check_queue(
    paths: &Paths,
    schema: &Schema,
    index: &super::index::DatasetIndex,
) -> Result<(), LabelError> {
    let path = paths.queue();
    if !path.is_file() {
        return Ok(());
    }
    let mut rdr = csv::Reader::from_path(&path).map_err(|e| LabelError::csv(&path, e))?;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| LabelError::csv(&path, e))?;
        if rec.len() < 2 {
            continue;
        }
        let line = crate::csv_line::Line::of(&path, &rec);
        // The exact path: the page, the store and the answers key on it, and a row named
        // otherwise (`a.png`) passed this check, showed no image and took no answer.
        let reason = if schema.attribute(&rec[1]).is_none() {
            format!("attribute {:?} is not in schema {}", &rec[1], schema.name)
        } else {
            match index.resolve(&rec[0]) {
                None => format!("{:?} is not an image of the dataset", &rec[0]),
                Some(i) if index.images[i] != rec[0] => format!(
                    "{:?} is not an image path of the dataset; write it as {:?}",
                    &rec[0], index.images[i]
                ),
                Some(_) => continue,
            }
        };
        return Err(LabelError::invalid(
            &path,
            line.get(),
            format!("{reason} (mend the row, or let `label round` write a new queue)"),
        ));
    }
    Ok(())
}

/// Queue items still waiting for a person, in queue order.
pub fn pending(
    paths: &Paths,
    schema: &Schema,
    store: &LabelStore,
) -> Result<Vec<QueueItem>, LabelError> {
    Ok(pending_in(
        read_queue(paths)?,
        &read_skipped(paths)?,
        schema,
        store,
    ))
}

/// The items of `queue` still waiting for a person, given the skipped questions (for a
/// caller that has read both files already).
pub fn pending_in(
    queue: Vec<QueueItem>,
    skipped: &HashSet<(String, String)>,
    schema: &Schema,
    store: &LabelStore,
) -> Vec<QueueItem> {
    queue
        .into_iter()
        .filter(|it| schema.attribute(&it.attribute).is_some())
        .filter(|it| {
            store
                .get(&it.file, &it.attribute)
                .is_none_or(|l| l.source != Source::Human)
        })
        .filter(|it| !skipped.contains(&(it.file.clone(), it.attribute.clone())))
        .collect()
}

/// Draws the images of `files` as a grid of `cell`-pixel thumbnails, `cols` per row,
/// with a 2-pixel grey gutter.
pub fn contact_sheet(data: &Path, files: &[String], cols: usize, cell: u32) -> RgbImage {
    let cols = cols.max(1);
    let rows = files.len().div_ceil(cols).max(1);
    let g = 2;
    let w = cols as u32 * (cell + g) + g;
    let h = rows as u32 * (cell + g) + g;
    let mut sheet = RgbImage::from_pixel(w, h, Rgb([90, 90, 90]));
    for (k, f) in files.iter().enumerate() {
        let Ok(img) = image::open(data.join(f)) else {
            continue;
        };
        let t = imageops::resize(&img.to_rgb8(), cell, cell, imageops::FilterType::Triangle);
        let x = g + (k % cols) as u32 * (cell + g);
        let y = g + (k / cols) as u32 * (cell + g);
        imageops::replace(&mut sheet, &t, x as i64, y as i64);
    }
    sheet
}

/// What `label queue` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct QueueReport {
    /// `queue.csv`.
    pub queue: PathBuf,
    /// The contact sheet.
    pub contact_sheet: PathBuf,
    /// Pending questions.
    pub items: usize,
    /// Distinct images among them.
    pub images: usize,
    /// Of those, the first ones the contact sheet shows (at most [`SHEET_MAX`]).
    pub on_sheet: usize,
    /// Whether this call drew a new queue of `k` images; false when questions of the
    /// last one were still pending, which stays as it is (`k` unused).
    pub drawn: bool,
}

/// Faces on a contact sheet: 20 rows of 10. A queue of 5,000 drew a 982 x 49,002 px PNG
/// that image viewers and browsers refuse; `queue.csv` and `label serve` have them all.
pub const SHEET_MAX: usize = 200;

/// `label queue`: draws the contact sheet of the pending questions. With none pending (no
/// queue yet, or every question answered), first queues the `k` images whose labels are
/// least confident (unlabeled first); a queue with questions pending is left as it is.
pub fn queue(data: &Path, k: usize) -> Result<QueueReport, LabelError> {
    let paths = Paths::new(data);
    let schema = paths.load_schema()?;
    let index = DatasetIndex::open(data)?;
    let store = LabelStore::load(&paths.labels(), &schema)?;
    check_queue(&paths, &schema, &index)?;
    let mut items = pending(&paths, &schema, &store)?;
    // A queue with questions pending is never rewritten: a person may be typing answers
    // into its value column. One wholly answered (or none) gives way to a new one.
    let _held;
    let mut drawn = false;
    if items.is_empty() {
        // A round running meanwhile writes its own queue (and rounds.json, the
        // predictions) at its end: a queue drawn here from its predecessor's would
        // overwrite the round's or be overwritten. The lock is taken only to write one,
        // so drawing the sheet of a pending queue stays allowed mid-round; what was read
        // before it is read again.
        _held = paths.hold()?;
        let store = LabelStore::load(&paths.labels(), &schema)?;
        items = pending(&paths, &schema, &store)?;
        if items.is_empty() {
            // As a round does: answers typed into the old queue (a row the page skipped
            // is not pending, but a person may still type into it) go first.
            require_imported(&paths, data, &store)?;
            queue_least_confident(&paths, &schema, &index, &store, k)?;
            items = pending(&paths, &schema, &store)?;
            drawn = true;
        }
    }
    let mut files: Vec<String> = Vec::new();
    for it in &items {
        if files.last() != Some(&it.file) && !files.contains(&it.file) {
            files.push(it.file.clone());
        }
    }
    let on_sheet = files.len().min(SHEET_MAX);
    let sheet = contact_sheet(data, &files[..on_sheet], 10, 96);
    let out = paths.contact_sheet();
    crate::atomic::save_image(&out, &image::DynamicImage::ImageRgb8(sheet))
        .map_err(|e| LabelError::io(&out, e))?;
    Ok(QueueReport {
        queue: paths.queue(),
        contact_sheet: out,
        items: items.len(),
        images: files.len(),
        on_sheet,
        drawn,
    })
}

/// Queues the `k` images whose least sure open slot is least confident (unlabeled first).
fn queue_least_confident(
    paths: &Paths,
    schema: &Schema,
    index: &DatasetIndex,
    store: &LabelStore,
    k: usize,
) -> Result<(), LabelError> {
    let rounds = super::session::read_rounds(paths)?;
    let round = rounds.last().map_or(0, |r| r.round);
    // Each open question's best guess: the store's label, else the last round's
    // prediction (a slot without a label took confidence 0 and no suggestion, so
    // the queue was the first images by name, and Enter on the page had nothing
    // to take). A round whose network learned from nothing predicts nothing.
    let learned = rounds.last().is_some_and(|r| r.train_samples > 0);
    let predictions = match learned {
        true => super::session::read_predictions(paths),
        false => BTreeMap::new(),
    };
    let skipped = read_skipped(paths)?;
    let unreadable: std::collections::HashSet<&str> = rounds
        .last()
        .map(|r| r.unreadable.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let guess = |file: &str, attribute: &str| -> Option<(String, f32)> {
        match store.get(file, attribute) {
            Some(l) => Some((l.value.clone(), l.confidence)),
            None => predictions
                .get(&(file.to_string(), attribute.to_string()))
                .cloned(),
        }
    };
    let mut scored: Vec<(usize, f32)> = (0..index.len())
        .map(|i| {
            let c = schema
                .attributes
                .iter()
                .map(|a| match store.get(&index.images[i], &a.name) {
                    Some(l) if l.source == Source::Human => 2.0,
                    // A skip is "cannot tell": asked again, it would be skipped
                    // again, and a queue of such questions has none pending.
                    _ if skipped.contains(&(index.images[i].clone(), a.name.clone())) => 2.0,
                    _ => guess(&index.images[i], &a.name).map_or(0.0, |g| g.1),
                })
                .fold(f32::MAX, f32::min);
            (i, c)
        })
        .filter(|&(_, c)| c < 2.0)
        // An image the last round could not decode: no question about it.
        .filter(|&(i, _)| !unreadable.contains(index.images[i].as_str()))
        .collect();
    scored.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let chosen: Vec<usize> = scored.into_iter().take(k).map(|x| x.0).collect();
    let fresh = open_questions(schema, index, store, &chosen, |i, a| {
        guess(&index.images[i], &schema.attributes[a].name)
    });
    save_items(&paths.queue(), &fresh, round)
}
