//! One page (and a CSV and Markdown table) across several evaluated runs: which model,
//! loss or data preparation gives better faces. Each run's numbers come from its
//! `RUN/eval/metrics.json`; the best value of each column is highlighted.

use super::evalpage::{read_summary, NOT_INCEPTION};
use super::html::{Cell, Page, Table};
use super::plot::{self, BarChart};
use super::{write_page, ReportError};
use crate::eval::compare::{
    columns, run_name, sample_size, Better, CompareRow, CompareTable, LEAD,
};
use crate::eval::summary::EvalSummary;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Which entries hold the best value (ties all count); none when fewer than two are set.
fn best_of(vals: &[f64], better: Better) -> Vec<bool> {
    let finite: Vec<f64> = vals.iter().copied().filter(|v| v.is_finite()).collect();
    let best = match better {
        _ if finite.len() < 2 => None,
        Better::Lower => finite.iter().copied().reduce(f64::min),
        Better::Higher => finite.iter().copied().reduce(f64::max),
        Better::None => None,
    };
    vals.iter()
        .map(|v| best.is_some_and(|b| (v - b).abs() <= 1e-12 * b.abs().max(1.0)))
        .collect()
}

/// Writes a comparison of `runs` (each with `RUN/eval/metrics.json`) to `out`: an
/// `.html` path is the page itself, anything else a folder that gets `compare.html`.
/// `compare.csv` and `compare.md` (the same table) are written beside the page.
pub fn write_compare_report(runs: &[PathBuf], out: &Path) -> Result<PathBuf, ReportError> {
    let page_path = if out.extension().is_some_and(|e| e == "html") {
        out.to_path_buf()
    } else {
        out.join("compare.html")
    };
    let mut rows: Vec<(String, PathBuf, EvalSummary)> = Vec::new();
    let mut missing = Vec::new();
    for r in runs {
        // A path that is no run (a typo, a deleted run) is an error, not a row that
        // waits to be evaluated.
        if super::detect(r) != Some(super::FolderKind::Run) {
            let what = if r.exists() {
                "not a training run (no settings.json and classes.json)"
            } else {
                "no such folder"
            };
            return Err(ReportError::NotReportable {
                path: r.clone(),
                reason: format!("{what}: every path to compare must be a run folder"),
            });
        }
        match read_summary(r)? {
            Some(s) => rows.push((run_name(r), r.clone(), s)),
            None => missing.push(r.display().to_string()),
        }
    }
    if rows.is_empty() {
        return Err(ReportError::NotReportable {
            path: runs.first().cloned().unwrap_or_default(),
            reason: "no run has eval/metrics.json; run `facesynth eval` on each first".into(),
        });
    }
    let cols = columns();
    let values: Vec<Vec<f64>> = cols
        .iter()
        .map(|c| rows.iter().map(|r| (c.value)(&r.2)).collect())
        .collect();
    let sizes: BTreeSet<(usize, usize, usize)> = rows.iter().map(|r| sample_size(&r.2)).collect();
    let hashes: BTreeSet<&str> = rows
        .iter()
        .map(|r| r.2.features.dataset_hash.as_str())
        .collect();
    // No best where the runs were evaluated on different sample sizes or judged by
    // different feature networks (they do not rank).
    let rank = |v: &[f64], better: Better| match (sizes.len(), hashes.len()) {
        (1, 1) => best_of(v, better),
        _ => vec![false; v.len()],
    };
    let best: Vec<Vec<bool>> = cols
        .iter()
        .zip(&values)
        .map(|(c, v)| rank(v, c.better))
        .collect();

    let mut page = Page::new(
        "Run comparison",
        &format!(
            "{} runs{}",
            rows.len(),
            match (sizes.len(), hashes.len()) {
                (1, 1) => " · best value of each column highlighted",
                _ => "",
            }
        ),
    );
    super::font_note(&mut page);
    page.section("table", "Comparison");
    page.note(NOT_INCEPTION);
    if hashes.len() > 1 {
        page.note("These runs were judged by different feature networks (different dataset hashes): their FID/KID and nearest-neighbour numbers are not comparable with each other; no best value is highlighted.");
    }
    if sizes.len() > 1 {
        let mut say = crate::eval::compare::SIZES_DIFFER.to_string();
        say[..1].make_ascii_uppercase();
        page.note(&format!("{say}; no best value is highlighted."));
    }
    let mut head = LEAD.to_vec();
    head.extend(cols.iter().map(|c| c.name));
    let mut t = Table::new(&head);
    for (i, (name, _, s)) in rows.iter().enumerate() {
        let mut row = vec![
            Cell::text(name),
            Cell::text(&s.model),
            Cell::int(s.step),
            Cell::int(s.n_generated),
        ];
        for (k, v) in values.iter().enumerate() {
            let prec = if cols[k].name.starts_with("KID") {
                4
            } else {
                3
            };
            row.push(Cell::num(v[i], prec).best(best[k][i]));
        }
        t.row(row);
    }
    page.table(&t);
    page.p("Lower is better for FID, KID, JS and the near-duplicate shares; higher for precision, recall, density, coverage and conditional accuracy. NN ratio (generated-to-train over real-to-real nearest-neighbour distance) well below 1 hints at memorization.");
    if !missing.is_empty() {
        page.note(&format!(
            "Not evaluated yet (no eval/metrics.json): {}",
            missing.join(", ")
        ));
    }

    let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    page.section("plots", "Plots");
    let fid = BarChart {
        title: "FID on facesynth features (lower is better)".into(),
        y_label: "FID".into(),
        x_label: "run".into(),
        categories: names.clone(),
        groups: vec![("FID".into(), values[0].clone())],
        y_range: None,
    };
    page.plot(&plot::bar_chart(&fid).bytes, "FID per run");
    let prdc = BarChart {
        title: "Precision, recall, density, coverage (higher is better)".into(),
        y_label: "value".into(),
        x_label: "run".into(),
        categories: names.clone(),
        groups: cols
            .iter()
            .zip(&values)
            .filter(|(c, _)| ["precision", "recall", "density", "coverage"].contains(&c.name))
            .map(|(c, v)| (c.name.to_string(), v.clone()))
            .collect(),
        y_range: None,
    };
    page.plot(
        &plot::bar_chart(&prdc).bytes,
        "precision recall density coverage per run",
    );

    // Per-class FID side by side: a split run against a conditional run on one attribute.
    let classes: BTreeSet<(String, String)> = rows
        .iter()
        .flat_map(|r| {
            r.2.per_class
                .iter()
                .map(|c| (c.attribute.clone(), c.value.clone()))
        })
        .collect();
    if !classes.is_empty() {
        page.section("per-class", "Per class");
        page.p("Intra-class FID of each class (generated for the class against real images of the class); a --split-by run's class models sit next to a conditional model's classes.");
        let mut head = vec!["class".to_string()];
        head.extend(names.iter().cloned());
        let mut t = Table::new(&head);
        for (a, v) in &classes {
            let vals: Vec<f64> = rows
                .iter()
                .map(|r| {
                    r.2.per_class
                        .iter()
                        .find(|c| &c.attribute == a && &c.value == v)
                        .map_or(f64::NAN, |c| c.fidelity.fid)
                })
                .collect();
            let b = rank(&vals, Better::Lower);
            let mut row = vec![Cell::text(format!("{a}={v}"))];
            row.extend(vals.iter().zip(b).map(|(x, b)| Cell::num(*x, 3).best(b)));
            t.row(row);
        }
        page.table(&t);
    }
    let html = page.finish();
    let table = CompareTable {
        rows: rows
            .into_iter()
            .map(|(_, run, summary)| CompareRow { run, summary })
            .collect(),
    };
    write_tables(&page_path, &table)?;
    write_page(&page_path, &html)
}

/// `compare.csv` and `compare.md` beside the page: the table `eval compare` prints.
fn write_tables(page: &Path, table: &CompareTable) -> Result<(), ReportError> {
    let csv_path = page.with_file_name("compare.csv");
    crate::atomic::write_with(&csv_path, |w| {
        let mut wtr = csv::Writer::from_writer(w);
        wtr.write_record(table.head())?;
        for l in table.lines() {
            wtr.write_record(&l)?;
        }
        wtr.flush()
    })
    .map_err(|e| ReportError::Write {
        path: csv_path.clone(),
        reason: e.to_string(),
    })?;
    let md_path = page.with_file_name("compare.md");
    crate::atomic::write(&md_path, table.to_markdown().as_bytes()).map_err(|e| ReportError::Write {
        path: md_path.clone(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_respects_direction_ties_and_nan() {
        assert_eq!(
            best_of(&[3.0, 1.0, f64::NAN], Better::Lower),
            [false, true, false]
        );
        assert_eq!(
            best_of(&[3.0, 1.0, 3.0], Better::Higher),
            [true, false, true]
        );
        assert_eq!(best_of(&[3.0, f64::NAN], Better::Higher), [false, false]);
        assert_eq!(best_of(&[3.0, 1.0], Better::None), [false, false]);
    }
}
