//! `DIR/labels/report.html` for a labeled dataset: counts by source and value, coverage,
//! the rounds (temperature, ECE, accepted labels), a reliability diagram per attribute
//! and, after `label simulate`, the accuracy-versus-labels curve.
//!
//! The reliability diagram is of what the round recorded in `rounds.json` (`held_out`):
//! its split network's calibrated confidence on each human label of the calibration
//! split, which that network never trained on, and whether it was right. Not
//! `predictions.csv` scored against those labels: with the refit (the default) the
//! network that predicted it learned from them (see `labels::round`).

use super::html::{num, Cell, Page, Table};
use super::plot::{self, BarChart, Bin, LineChart, Series};
use super::{read_json, write_page, ReportError, PAGE};
use crate::labels::{self, calibrate, session, temperature_range, LabelStore, Paths, Source};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn lerr(data: &Path) -> impl Fn(labels::LabelError) -> ReportError + '_ {
    move |e| match e {
        labels::LabelError::NotInitialized { dir } => ReportError::NotReportable {
            path: dir,
            reason: "no label store (run `facesynth label init` first)".into(),
        },
        other => ReportError::Read {
            path: data.join("labels"),
            reason: other.to_string(),
        },
    }
}

/// Reliability bins of (confidence, correct) pairs, [`calibrate::ECE_BINS`] wide.
pub fn bins(pairs: &[(f32, bool)]) -> Vec<Bin> {
    let k = calibrate::ECE_BINS;
    let mut out: Vec<Bin> = (0..k)
        .map(|b| Bin {
            lo: b as f64 / k as f64,
            hi: (b + 1) as f64 / k as f64,
            ..Default::default()
        })
        .collect();
    for &(c, ok) in pairs {
        let b = ((c * k as f32) as usize).min(k - 1);
        out[b].confidence += c as f64;
        out[b].accuracy += ok as u8 as f64;
        out[b].count += 1;
    }
    for b in &mut out {
        if b.count > 0 {
            b.confidence /= b.count as f64;
            b.accuracy /= b.count as f64;
        }
    }
    out
}

/// Writes `DATA/labels/report.html` for the labeled dataset `data`; returns its path.
pub fn write_label_report(data: &Path) -> Result<PathBuf, ReportError> {
    let paths = Paths::new(data);
    let schema = paths.load_schema().map_err(lerr(data))?;
    let status = labels::status(data).map_err(lerr(data))?;
    let store = LabelStore::load(&paths.labels(), &schema).map_err(lerr(data))?;
    let rounds = session::read_rounds(&paths).map_err(lerr(data))?;
    let mut page = Page::new(
        &format!("Labels of {}", data.display()),
        &format!(
            "schema {} · {} images · {} rounds · {} questions pending",
            schema.name,
            status.images,
            rounds.len(),
            status.pending
        ),
    );
    super::font_note(&mut page);

    page.section("coverage", "Coverage");
    let sources = [Source::Human, Source::Heuristic, Source::Model];
    let mut head = vec!["attribute".to_string()];
    head.extend(sources.iter().map(|s| s.to_string()));
    head.extend(["unlabeled".into(), "coverage".into()]);
    let mut t = Table::new(&head);
    for a in &schema.attributes {
        let by = status.by_source.get(&a.name);
        let mut row = vec![Cell::text(&a.name)];
        let mut total = 0;
        for s in sources {
            let n = by.and_then(|m| m.get(s.as_str())).copied().unwrap_or(0);
            total += n;
            row.push(Cell::int(n));
        }
        row.push(Cell::int(status.images.saturating_sub(total)));
        row.push(Cell::num(
            status.coverage.get(&a.name).copied().unwrap_or(0.0) as f64,
            3,
        ));
        t.row(row);
    }
    page.table(&t);

    page.section("values", "Counts by value");
    for a in &schema.attributes {
        let groups: Vec<(String, Vec<f64>)> = sources
            .iter()
            .map(|s| {
                let counts = a
                    .values
                    .iter()
                    .map(|v| {
                        store
                            .iter()
                            .filter(|l| l.attribute == a.name && &l.value == v && l.source == *s)
                            .count() as f64
                    })
                    .collect();
                (s.to_string(), counts)
            })
            .collect();
        let chart = BarChart {
            title: format!("{}: labels per value and source", a.name),
            y_label: "labels".into(),
            x_label: a.name.clone(),
            categories: a.values.clone(),
            groups,
            y_range: None,
        };
        page.plot(&plot::bar_chart(&chart).bytes, &chart.title);
    }

    page.section("calibration", "Calibration");
    page.p(&format!("Confidences are temperature-scaled on human labels held out of training (the calibration split, one in five or more by file name). The {} is that of the temperatures fitted on bootstrap resamples of the held-out labels: with a few dozen of them it is wide, and the confidences are approximate until more answers come in. The table's share right, ECE and reliability diagram are of the last round's network on those held-out labels, unseen in its training (the refit that then learns from them predicts at a temperature matched to this one). A reliability diagram puts the share right in each confidence bin against the bin's mean confidence; the expected calibration error (ECE, 15 bins) is the count-weighted gap.", range_header()));
    calibration(&mut page, &paths, &schema, &store, &rounds);
    answered_queue(&mut page, &paths, &store);

    if !rounds.is_empty() {
        page.section("rounds", "Rounds");
        let mut t = Table::new(&[
            "round",
            "human labels",
            "training samples",
            "network",
            "temperature",
            "ECE",
            "accepted",
            "previous queue: suggestion right / mean confidence",
            "queued",
            "seconds",
        ]);
        let fmt_map = |m: &std::collections::BTreeMap<String, f32>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for r in &rounds {
            t.row(vec![
                Cell::int(r.round),
                Cell::int(r.human),
                Cell::int(r.train_samples),
                Cell::text(match &r.warm_start {
                    Some(file) => format!("continued {file}"),
                    None => "fresh".to_owned(),
                }),
                Cell::text(fmt_map(&r.temperature)),
                Cell::text(fmt_map(&r.ece)),
                Cell::text(
                    r.accepted
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                Cell::text(
                    r.previous_queue
                        .iter()
                        .map(|(k, c)| {
                            format!(
                                "{k} {:.0}% / {:.0}% ({})",
                                100.0 * c.share_right(),
                                100.0 * c.mean_confidence,
                                c.answered
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                Cell::int(r.queued),
                Cell::num(r.seconds, 1),
            ]);
        }
        page.table(&t);
        page.p("A round's network either continued the last round's (its split network after a refit: one that never saw this round's held-out labels) or started from fresh weights. The previous queue's column scores each round's queue as people answered it, before the next round replaced it: how often the suggestion shown was the answer, against its mean confidence. Those answers were unseen by the round that made the suggestions, on the images it was least sure of, so this is its calibration where it matters most.");
    }

    // A simulation's record when there is one: a damaged one is an error naming it, as a
    // damaged rounds.json is (it was left off the page without a word).
    let sim = paths.dir.join("simulate.json");
    if sim.is_file() {
        simulation(&mut page, &read_json(&sim)?);
    }
    write_page(&paths.dir.join(PAGE), &page.finish())
}

fn calibration(
    page: &mut Page,
    paths: &Paths,
    schema: &labels::Schema,
    store: &LabelStore,
    rounds: &[session::RoundInfo],
) {
    let Some(last) = rounds.last() else {
        page.p(
            "No round yet: run `facesynth label round` to train the classifier and calibrate it.",
        );
        return;
    };
    // Only a round recorded before `held_out` was kept, and without a refit, is scored
    // from `predictions.csv` (see `held_out_pairs`).
    let preds = if last.held_out.is_empty() && !last.refit {
        session::read_predictions(paths)
    } else {
        Default::default()
    };
    let mut table = Table::new(&[
        "attribute".to_string(),
        "held-out labels".into(),
        "right".into(),
        "temperature".into(),
        range_header(),
        "ECE".into(),
    ]);
    let mut unrecorded = false;
    let mut no_range = false;
    for a in &schema.attributes {
        no_range |= !last.temperature_range.contains_key(&a.name);
        let pairs = held_out_pairs(last, &a.name, store, &preds);
        unrecorded |= pairs.is_none();
        let pairs = pairs.unwrap_or_default();
        let (right, ece) = if pairs.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            (
                calibrate::share_right(&pairs) as f64,
                calibrate::ece(&pairs) as f64,
            )
        };
        table.row(vec![
            Cell::text(&a.name),
            Cell::int(last.calibration_size.get(&a.name).copied().unwrap_or(0)),
            Cell::num(right, 3),
            Cell::num(
                last.temperature.get(&a.name).copied().unwrap_or(f32::NAN) as f64,
                3,
            ),
            Cell::text(
                last.temperature_range
                    .get(&a.name)
                    .map_or("-".to_string(), |(lo, hi)| format!("{lo:.2}-{hi:.2}")),
            ),
            Cell::num(ece, 4),
        ]);
        if !pairs.is_empty() {
            let title = format!("{} (ECE {})", a.name, num(ece, 3));
            page.plot(&plot::reliability(&title, &bins(&pairs)).bytes, &title);
        }
    }
    page.table(&table);
    if no_range {
        // A dash alone read as a fitted temperature with its range lost.
        page.note(&format!(
            "A dash in the {} column: the attribute has fewer than {} held-out labels, so it \
             takes the temperature fitted on every attribute's together (1, the network's own \
             confidences, when they are fewer than {} in all), or its heuristic stands in for \
             the network; no range is drawn.",
            range_header(),
            calibrate::MIN_CALIBRATION,
            calibrate::MIN_CALIBRATION
        ));
    }
    if unrecorded {
        page.note("The last round was recorded before rounds kept their held-out confidences, and its refitted network learned from those labels: the next round draws the reliability diagram.");
    } else if last.calibration_size.values().all(|&n| n == 0) {
        page.note("No held-out human labels yet (a round holds some out once there are 40 human labels): no reliability diagram or ECE.");
    }
}

/// The current queue as people have answered it so far, against the suggestions shown
/// (`labels::queue::check_answered`): the last round's calibration on the images it was
/// least sure of, before the next round replaces the queue. Nothing until an answer.
fn answered_queue(page: &mut Page, paths: &Paths, store: &LabelStore) {
    let queue = labels::queue::read_queue(paths).unwrap_or_default();
    let checks = labels::queue::check_answered(&queue, store);
    if checks.is_empty() {
        return;
    }
    let lines: Vec<String> = checks
        .iter()
        .map(|(attr, c)| format!("{attr}: {}", c.summary("the queue's")))
        .collect();
    page.p(&format!(
        "The queue answered so far, against the last round's suggestions (labels it never saw, on the images it was least sure of; a share right under the mean confidence says its confidences run high there): {}.",
        lines.join("; ")
    ));
}

/// The last round's held-out `(confidence, right)` pairs for `attr`: as the round
/// recorded them (its split network, before any refit), or, for a round recorded before
/// it kept them and without a refit, `predictions.csv` scored against the calibration
/// split's human labels (the same network's outputs). `None` for such a round with a
/// refit: its predictions learned from those labels, and scoring them would show the
/// fit to its own training labels as calibration.
fn held_out_pairs(
    last: &session::RoundInfo,
    attr: &str,
    store: &LabelStore,
    preds: &std::collections::BTreeMap<(String, String), (String, f32)>,
) -> Option<Vec<(f32, bool)>> {
    if let Some(pairs) = last.held_out.get(attr) {
        return Some(pairs.clone());
    }
    if last.calibration_size.get(attr).copied().unwrap_or(0) == 0 {
        return Some(Vec::new());
    }
    if last.refit {
        return None;
    }
    Some(
        store
            .iter()
            .filter(|l| l.attribute == attr && l.source == Source::Human)
            .filter(|l| labels::calibrate::is_calibration(&l.file, last.calibration_every))
            .filter_map(|l| {
                let (v, c) = preds.get(&(l.file.clone(), attr.to_string()))?;
                Some((*c, *v == l.value))
            })
            .collect(),
    )
}

fn simulation(page: &mut Page, sim: &Value) {
    page.section("simulation", "Simulated labeling");
    let curve = sim["curve"].as_array().cloned().unwrap_or_default();
    page.p(&format!(
        "label simulate with the {} strategy: an oracle answered the queue from a truth file; {} test images were never trained on.",
        sim["strategy"].as_str().unwrap_or("?"),
        sim["test_images"].as_u64().unwrap_or(0)
    ));
    let attrs: Vec<String> = curve
        .first()
        .and_then(|p| p["accuracy"].as_object())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let series = |key: &str| -> Vec<Series> {
        attrs
            .iter()
            .map(|a| Series {
                name: a.clone(),
                points: curve
                    .iter()
                    .filter_map(|p| Some((p["labels"].as_f64()?, p[key][a].as_f64()?)))
                    .collect(),
            })
            .collect()
    };
    let acc = LineChart {
        title: "Held-out accuracy against oracle labels".into(),
        x_label: "images labeled by the oracle".into(),
        y_label: "accuracy on the test split".into(),
        series: series("accuracy"),
        y_range: Some((0.0, 1.0)),
        smooth: false,
    };
    page.plot(&plot::line_chart(&acc).bytes, &acc.title);
    let ece = LineChart {
        title: "Expected calibration error on the test split".into(),
        x_label: "images labeled by the oracle".into(),
        y_label: "ECE".into(),
        series: series("ece"),
        y_range: None,
        smooth: false,
    };
    page.plot(&plot::line_chart(&ece).bytes, &ece.title);
    if let Some(h) = sim["heuristic"].as_object() {
        let mut t = Table::new(&["attribute", "heuristic coverage", "heuristic accuracy"]);
        for (a, s) in h {
            t.row(vec![
                Cell::text(a),
                Cell::num(s["coverage"].as_f64().unwrap_or(f64::NAN), 3),
                Cell::num(s["accuracy"].as_f64().unwrap_or(f64::NAN), 3),
            ]);
        }
        page.table(&t);
    }
}

/// "90% range": the temperature's bootstrap range at [`temperature_range::RANGE_LEVEL`].
fn range_header() -> String {
    format!("{:.0}% range", 100.0 * temperature_range::RANGE_LEVEL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_average_confidence_and_accuracy() {
        let b = bins(&[(0.95, true), (0.97, false), (0.1, true)]);
        assert_eq!(b.len(), calibrate::ECE_BINS);
        let last = b[calibrate::ECE_BINS - 1];
        assert_eq!(last.count, 2);
        assert!((last.confidence - 0.96).abs() < 1e-6 && (last.accuracy - 0.5).abs() < 1e-9);
        assert_eq!(b[1].count, 1);
    }
}
