//! `RUN/report.html`: a training run's settings, loss and diagnostic curves, sample grids
//! per class over training, and, once `facesynth eval` has run, its metrics. Split runs
//! (`--split-by`) show one curve and one sample strip per value.

use super::html::{esc, figure, Cell, Page, Table};
use super::media::{file_uri, image_uri, spread, step_grids, GridShape};
use super::plot::{self, LineChart, Series};
use super::{evalpage, read_json, write_page, ReportError, PAGE};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Sample steps shown per class.
const STEPS_SHOWN: usize = 6;

/// The columns of a `metrics.csv`, by header name.
#[derive(Debug, Default)]
pub struct MetricsTable {
    /// Column name -> values (NaN where empty or unparsable).
    pub columns: BTreeMap<String, Vec<f64>>,
}

impl MetricsTable {
    /// Reads `path`; a missing file is an empty table.
    pub fn read(path: &Path) -> Result<MetricsTable, ReportError> {
        let mut t = MetricsTable::default();
        if !path.is_file() {
            return Ok(t);
        }
        let mut rdr = csv::Reader::from_path(path).map_err(|e| ReportError::read(path, e))?;
        let header: Vec<String> = rdr
            .headers()
            .map_err(|e| ReportError::parse(path, e))?
            .iter()
            .map(String::from)
            .collect();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| ReportError::parse(path, e))?;
            for (i, h) in header.iter().enumerate() {
                let v = rec.get(i).and_then(|s| s.trim().parse().ok());
                t.columns
                    .entry(h.clone())
                    .or_default()
                    .push(v.unwrap_or(f64::NAN));
            }
        }
        Ok(t)
    }

    /// (step, value) points of a column.
    pub fn points(&self, col: &str) -> Vec<(f64, f64)> {
        match (self.columns.get("step"), self.columns.get(col)) {
            (Some(x), Some(y)) => x.iter().copied().zip(y.iter().copied()).collect(),
            _ => Vec::new(),
        }
    }

    fn has(&self, col: &str) -> bool {
        self.columns
            .get(col)
            .is_some_and(|v| v.iter().any(|x| x.is_finite()))
    }
}

/// The curves of one run (several runs overlaid for split runs, named by value).
fn curves(page: &mut Page, runs: &[(String, MetricsTable)]) {
    let name = |label: &str, run: &str| {
        if runs.len() > 1 {
            format!("{run}: {label}")
        } else {
            label.to_string()
        }
    };
    let chart = |title: &str, y: &str, cols: &[(&str, &str)], log: bool, range| {
        let mut series = Vec::new();
        for (run, t) in runs {
            for (col, label) in cols {
                if !t.has(col) {
                    continue;
                }
                let mut pts = t.points(col);
                if log {
                    pts = pts
                        .into_iter()
                        .map(|(x, v)| (x, v.max(1e-12).log10()))
                        .collect();
                }
                series.push(Series {
                    name: name(label, run),
                    points: pts,
                });
            }
        }
        (!series.is_empty()).then(|| LineChart {
            title: title.into(),
            x_label: "training step".into(),
            y_label: y.into(),
            series,
            y_range: range,
            smooth: true,
        })
    };
    let known = [
        chart(
            "Losses",
            "loss",
            &[("loss_d", "D loss"), ("loss_g", "G loss")],
            false,
            None,
        ),
        chart(
            "Discriminator outputs",
            "mean sigmoid of D's logits",
            &[("d_real", "D(x) on real"), ("d_fake", "D(G(z)) on fake")],
            false,
            Some((0.0, 1.0)),
        ),
        chart(
            "Gradient norms",
            "log10 of the L2 gradient norm",
            &[("grad_d", "D"), ("grad_g", "G")],
            true,
            None,
        ),
        chart(
            "Auxiliary classifier accuracy on real images",
            "accuracy",
            &[("aux_acc", "accuracy")],
            false,
            Some((0.0, 1.0)),
        ),
    ];
    let mut any = false;
    // Several runs (a split): one chart per quantity, a line per run, so legends stay short.
    let known: Vec<Option<LineChart>> = if runs.len() > 1 {
        known
            .into_iter()
            .flatten()
            .flat_map(|c| {
                let mut labels: Vec<String> = Vec::new();
                for s in &c.series {
                    if let Some((_, l)) = s.name.split_once(": ") {
                        if !labels.iter().any(|x| x == l) {
                            labels.push(l.to_string());
                        }
                    }
                }
                labels
                    .into_iter()
                    .map(|l| {
                        let series = c
                            .series
                            .iter()
                            .filter(|s| s.name.ends_with(&format!(": {l}")))
                            .map(|s| Series {
                                name: s.name.trim_end_matches(&format!(": {l}")).to_string(),
                                points: s.points.clone(),
                            })
                            .collect();
                        Some(LineChart {
                            title: format!("{}: {l}", c.title),
                            series,
                            ..c.clone()
                        })
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    } else {
        known.into_iter().collect()
    };
    for c in known.into_iter().flatten() {
        page.plot(&plot::line_chart(&c).bytes, &c.title);
        any = true;
    }
    // Columns the trainer may add later get a plot each.
    let skip = [
        "step", "seconds", "loss_d", "loss_g", "d_real", "d_fake", "grad_d", "grad_g", "aux_acc",
    ];
    let mut extra: Vec<String> = runs
        .iter()
        .flat_map(|(_, t)| t.columns.keys().cloned())
        .filter(|c| !skip.contains(&c.as_str()))
        .collect();
    extra.sort();
    extra.dedup();
    for col in extra {
        if let Some(c) = chart(&col, &col, &[(col.as_str(), col.as_str())], false, None) {
            page.plot(&plot::line_chart(&c).bytes, &c.title);
            any = true;
        }
    }
    if !any {
        page.p("No metrics.csv rows yet.");
    }
}

/// Cards of sample strips: for each (name, run folder, grid row), the row at a few steps.
fn strips(
    page: &mut Page,
    cards: &[(String, PathBuf, u32)],
    shape_of: impl Fn(&Path) -> GridShape,
) {
    let mut html = String::from("<div class=\"cards\">");
    let mut shown = 0;
    for (name, dir, row) in cards {
        let shape = shape_of(dir);
        let grids = spread(&step_grids(dir), STEPS_SHOWN);
        html.push_str(&format!("<div class=\"card\"><h3>{}</h3>", esc(name)));
        for (step, path) in grids {
            let Some(img) = image::open(&path).ok().map(|i| i.to_rgb8()) else {
                continue;
            };
            if let Some(strip) = shape.row(&img, *row) {
                // Small faces are shown at an integer zoom (pixelated), about 280 px wide.
                let w = strip.width() * (280 / strip.width()).max(1);
                html.push_str(&format!(
                    "<div class=\"muted\">step {step}</div><img class=\"px\" src=\"{}\" alt=\"{} at step {step}\" style=\"width:{}px;max-width:100%\">",
                    image_uri(&strip),
                    esc(name),
                    w
                ));
                shown += 1;
            }
        }
        html.push_str("</div>");
    }
    html.push_str("</div>");
    if shown > 0 {
        page.raw(&html);
    } else {
        page.p("No sample grids of the expected shape under samples/ yet.");
    }
}

fn settings_table(page: &mut Page, settings: &Value) {
    let mut t = Table::new(&["setting", "value"]);
    if let Value::Object(m) = settings {
        for (k, v) in m {
            let text = match v {
                Value::Null => "-".to_string(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            t.row(vec![Cell::text(k), Cell::text(text)]);
        }
    }
    page.table(&t);
}

/// (name, values) of the attributes in a `classes.json`, and the split attribute.
/// An attribute and its values.
type Attr = (String, Vec<String>);

fn attrs(classes: &Value) -> (Vec<Attr>, Option<Attr>) {
    let one = |a: &Value| {
        let name = a["name"].as_str()?.to_string();
        let values = a["values"]
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        Some((name, values))
    };
    let list = classes["attrs"]
        .as_array()
        .map(|v| v.iter().filter_map(one).collect())
        .unwrap_or_default();
    (list, one(&classes["split"]))
}

/// Rows and side of a run's sample grids, as the trainer lays them out: one row per class
/// of the first attribute (conditional models), per InfoGAN code value, else 8.
fn grid_shape(run: &Path) -> GridShape {
    let settings = read_json(&run.join("settings.json")).unwrap_or(Value::Null);
    let classes = read_json(&run.join("classes.json")).unwrap_or(Value::Null);
    let side = settings["size"].as_u64().unwrap_or(64) as u32;
    let model = settings["model"].as_str().unwrap_or("dcgan");
    let (list, _) = attrs(&classes);
    let rows = match (model, list.first()) {
        ("cgan" | "acgan", Some((_, v))) => v.len().clamp(1, 16),
        ("infogan", _) => settings["info_cat"].as_u64().unwrap_or(10).clamp(1, 16) as usize,
        _ => 8,
    };
    GridShape {
        rows: rows as u32,
        side,
    }
}

/// Writes `RUN/report.html` for the training run `run`; returns its path.
pub fn write_run_report(run: &Path) -> Result<PathBuf, ReportError> {
    write_run_report_at(run, &run.join(PAGE))
}

/// Writes the page of the training run `run` to `page` (`eval --out`, `report --out`);
/// returns the page's path. The page is self-contained, so it can live anywhere. A folder
/// (one that exists, or a path not ending in `.html`) gets `report.html` in it, as
/// `eval compare --out` reads its path (`eval --out pages` wrote a file named `pages`, and
/// failed on an existing folder).
pub fn write_run_report_at(run: &Path, page_path: &Path) -> Result<PathBuf, ReportError> {
    let folder = page_path.is_dir() || page_path.extension().is_none_or(|e| e != "html");
    let page_path = &match folder {
        true => {
            std::fs::create_dir_all(page_path).map_err(|e| ReportError::Write {
                path: page_path.to_path_buf(),
                reason: e.to_string(),
            })?;
            page_path.join(PAGE)
        }
        false => page_path.to_path_buf(),
    };
    let settings = read_json(&run.join("settings.json"))?;
    let classes = read_json(&run.join("classes.json"))?;
    let (list, split) = attrs(&classes);
    let model = settings["model"].as_str().unwrap_or("?").to_string();
    let name = run.file_name().map_or_else(
        || run.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let latest = read_json(&run.join("latest.json")).ok();
    let step = latest.as_ref().and_then(|l| l["step"].as_u64());
    let subtitle = match (&split, step) {
        (Some((a, v)), _) => format!(
            "{model}, one model per {a} ({} values) · {}",
            v.len(),
            run.display()
        ),
        (None, Some(s)) => format!("{model} · {s} steps · {}", run.display()),
        (None, None) => format!("{model} · {}", run.display()),
    };
    let mut page = Page::new(&format!("Training run {name}"), &subtitle);
    super::font_note(&mut page);

    page.section("settings", "Settings");
    settings_table(&mut page, &settings);
    if !list.is_empty() {
        page.h3("Classes");
        let mut t = Table::new(&["attribute", "values (class-index order)"]);
        for (a, v) in &list {
            t.row(vec![Cell::text(a), Cell::text(v.join(", "))]);
        }
        page.table(&t);
    }

    page.section("curves", "Training curves");
    if let Some((attr, values)) = &split {
        split_summary(&mut page, run, attr)?;
        // The folder names `train` gave the values (two that sanitize alike differ).
        let dirs = crate::gan::train::value_dirs(values);
        let subs: Vec<(String, MetricsTable)> = values
            .iter()
            .zip(&dirs)
            .map(|(v, d)| {
                MetricsTable::read(&run.join(d).join("metrics.csv")).map(|t| (v.clone(), t))
            })
            .collect::<Result<_, _>>()?;
        curves(&mut page, &subs);
        page.section("samples", "Samples over training");
        page.p(&format!("One model per {attr}: the first row of each model's fixed-noise grid at several steps."));
        let cards: Vec<(String, PathBuf, u32)> = values
            .iter()
            .zip(&dirs)
            .map(|(v, d)| (format!("{attr}={v}"), run.join(d), 0))
            .filter(|c| c.1.is_dir())
            .collect();
        strips(&mut page, &cards, grid_shape);
    } else {
        let t = MetricsTable::read(&run.join("metrics.csv"))?;
        curves(&mut page, &[(name.clone(), t)]);
        page.section("samples", "Samples over training");
        let mut html = String::new();
        for (file, cap, w) in [
            ("samples/latest.png", "latest fixed-noise grid", 0),
            ("samples/real.png", "real images as D sees them", 0),
        ] {
            let p = run.join(file);
            if let Some(uri) = file_uri(&p) {
                let natural = image::image_dimensions(&p).map_or(0, |d| d.0);
                let w = if w == 0 {
                    natural * (320 / natural.max(1)).max(1)
                } else {
                    w
                };
                html.push_str(&figure(&uri, cap, w));
            }
        }
        page.raw(&html);
        let shape = grid_shape(run);
        let labels: Vec<String> = match (model.as_str(), list.first()) {
            ("cgan" | "acgan", Some((a, v))) => {
                v.iter().take(16).map(|x| format!("{a}={x}")).collect()
            }
            ("infogan", _) => (0..shape.rows).map(|i| format!("code {i}")).collect(),
            _ => Vec::new(),
        };
        if labels.is_empty() {
            page.p("Unconditional model: the first rows of the fixed-noise grid at several steps.");
            let cards: Vec<_> = (0..2)
                .map(|r| (format!("row {}", r + 1), run.to_path_buf(), r))
                .collect();
            strips(&mut page, &cards, |_| shape);
        } else {
            page.p("One card per class: its row of the fixed-noise grid (same noise in each column) at several steps.");
            let cards: Vec<_> = labels
                .into_iter()
                .enumerate()
                .map(|(r, l)| (l, run.to_path_buf(), r as u32))
                .collect();
            strips(&mut page, &cards, |_| shape);
        }
    }

    match evalpage::read_summary(run)? {
        Some(s) => {
            // `train` rewrites this page at its end with the metrics of an earlier eval:
            // said, where the weights eval would read now are of another step.
            let now = match &split {
                Some((_, values)) => crate::gan::train::trained_values(run, values)
                    .iter()
                    .filter_map(|(_, d)| {
                        read_json(&run.join(d).join("latest.json")).ok()?["step"].as_u64()
                    })
                    .max(),
                None => step,
            };
            if let Some(now) = now.filter(|&now| now != s.step) {
                page.section("eval-age", "Evaluation");
                page.note(&format!(
                    "The figures below are of step {}; the run is now at step {now}. Run \
                     `facesynth eval` again for the current weights.",
                    s.step
                ));
            }
            evalpage::add_sections(&mut page, &s, run)
        }
        None => {
            page.section("metrics", "Metrics");
            page.p("No evaluation yet: run `facesynth eval` on this run to add FID/KID, precision and recall, the confusion matrix and nearest-neighbour pairs here.");
        }
    }
    write_page(page_path, &page.finish())
}

fn split_summary(page: &mut Page, run: &Path, attr: &str) -> Result<(), ReportError> {
    let p = run.join("summary.csv");
    if !p.is_file() {
        return Ok(());
    }
    let mut rdr = csv::Reader::from_path(&p).map_err(|e| ReportError::read(&p, e))?;
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| ReportError::parse(&p, e))?
        .iter()
        .map(String::from)
        .collect();
    let mut t = Table::new(&header);
    for rec in rdr.records() {
        let rec = rec.map_err(|e| ReportError::parse(&p, e))?;
        t.row(
            rec.iter()
                .enumerate()
                .map(|(i, s)| match (i, s.parse::<f64>()) {
                    (0, _) | (_, Err(_)) => Cell::text(s),
                    (_, Ok(_)) => Cell::int(s),
                })
                .collect(),
        );
    }
    page.h3(&format!("Per-{attr} models (summary.csv)"));
    page.table(&t);
    Ok(())
}
