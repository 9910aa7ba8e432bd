//! The evaluation sections of a run page, rendered from `RUN/eval/metrics.json`
//! ([`EvalSummary`]): the feature network, fidelity and diversity (overall and per
//! class), conditioning (confusion matrix), attribute distributions and memorization.

use super::html::{esc, figure, num, Cell, Page, Table};
use super::media::{file_uri, thumb_uri};
use super::plot::{self, BarChart, Heatmap};
use crate::eval::summary::{Conditioning, EvalSummary, Fidelity};
use std::path::Path;

/// Where `eval` writes its summary inside a run folder.
pub const METRICS_JSON: &str = "eval/metrics.json";

/// The words every page with these numbers carries.
pub const NOT_INCEPTION: &str = "These FID, KID, precision, recall, density and coverage \
    values are measured on the features of a network facesynth trained on the real set, \
    not on Inception-v3: they are not comparable with published FID numbers, only between \
    runs judged by the same feature network (same dataset hash).";

/// Reads `RUN/eval/metrics.json`, if there.
pub fn read_summary(run: &Path) -> Result<Option<EvalSummary>, super::ReportError> {
    let p = run.join(METRICS_JSON);
    if !p.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(&p).map_err(|e| super::ReportError::read(&p, e))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| super::ReportError::parse(&p, e))
}

/// The header of a fidelity table.
pub const FIDELITY_COLUMNS: [&str; 7] = [
    "FID",
    "KID",
    "KID s.e.",
    "precision",
    "recall",
    "density",
    "coverage",
];

/// A fidelity block as table cells, in [`FIDELITY_COLUMNS`] order.
pub fn fidelity_cells(f: &Fidelity) -> Vec<Cell> {
    vec![
        Cell::num(f.fid, 3),
        Cell::num(f.kid, 4),
        Cell::num(f.kid_se, 4),
        Cell::num(f.precision, 3),
        Cell::num(f.recall, 3),
        Cell::num(f.density, 3),
        Cell::num(f.coverage, 3),
    ]
}

/// Appends the evaluation sections for `s` (run folder `run`) to `page`.
pub fn add_sections(page: &mut Page, s: &EvalSummary, run: &Path) {
    page.section("features", "Feature network");
    page.note(NOT_INCEPTION);
    let mut t = Table::new(&["network", "dataset hash", "feature dim"]);
    t.row(vec![
        Cell::text(&s.features.description),
        Cell::text(&s.features.dataset_hash),
        Cell::int(s.features.dim),
    ]);
    page.table(&t);
    let mut t = Table::new(&["attribute", "held-out accuracy"]);
    for (a, acc) in &s.features.heldout_accuracy {
        t.row(vec![Cell::text(a), Cell::num(*acc, 3)]);
    }
    if !t.is_empty() {
        page.table(&t);
    }

    page.section("metrics", "Fidelity and diversity");
    page.p(&format!(
        "{} generated images (seed {}) against {} real images, checkpoint at step {}; \
         nearest-neighbour metrics with k = {}; evaluation took {:.1} s.",
        s.n_generated, s.seed, s.n_real, s.step, s.overall.k, s.seconds
    ));
    if !s.timings.is_empty() {
        let parts: Vec<String> = s
            .timings
            .iter()
            .map(|(stage, t)| format!("{stage} {t:.1} s"))
            .collect();
        page.p(&format!("Time by stage: {}.", parts.join(", ")));
    }
    for n in &s.notes {
        page.note(n);
    }
    let mut head = vec!["", "generated", "real"];
    head.extend(FIDELITY_COLUMNS);
    let mut t = Table::new(&head);
    let mut row = vec![
        Cell::text("all"),
        Cell::int(s.n_generated),
        Cell::int(s.n_real),
    ];
    row.extend(fidelity_cells(&s.overall));
    t.row(row);
    for c in &s.per_class {
        let mut row = vec![
            Cell::text(format!("{}={}", c.attribute, c.value)),
            Cell::int(c.n_generated),
            Cell::int(c.n_real),
        ];
        row.extend(fidelity_cells(&c.fidelity));
        t.row(row);
    }
    page.table(&t);
    if !s.per_class.is_empty() {
        page.p("Per-class rows compare the images generated for a class with the real images of that class (intra-class FID).");
    }

    if s.conditioning.is_some() || !s.more_conditioning.is_empty() {
        page.section("conditioning", "Conditioning");
    }
    if let Some(c) = &s.conditioning {
        conditioning(page, c);
    }
    for c in &s.more_conditioning {
        page.p(&format!(
            "{} is conditioned too: each image asked for a value of it drawn at random.",
            c.attribute
        ));
        conditioning(page, c);
    }

    if !s.distributions.is_empty() {
        page.section("distributions", "Attribute distributions");
        page.p("Share of real images per value against the share of generated images the classifier puts there; JS is the Jensen-Shannon divergence (base 2: 0 same, 1 disjoint).");
        let mut t = Table::new(&["attribute", "JS divergence"]);
        for d in &s.distributions {
            t.row(vec![Cell::text(&d.attribute), Cell::num(d.js, 4)]);
        }
        page.table(&t);
        for d in &s.distributions {
            let chart = BarChart {
                title: format!("{} (JS {})", d.attribute, num(d.js, 3)),
                y_label: "share of images".into(),
                x_label: d.attribute.clone(),
                categories: d.values.clone(),
                groups: vec![
                    ("real".into(), d.real.clone()),
                    ("generated".into(), d.generated.clone()),
                ],
                y_range: None,
            };
            page.plot(
                &plot::bar_chart(&chart).bytes,
                &format!("{} distribution", d.attribute),
            );
        }
    }

    page.section("memorization", "Memorization and uniqueness");
    let m = &s.memorization;
    let mut t = Table::new(&["measure", "value"]);
    for (k, v, p) in [
        (
            "mean feature distance to the nearest training image",
            m.mean_feature_nn,
            4,
        ),
        (
            "  as a ratio to the real set's own nearest-neighbour distance",
            m.feature_nn_ratio,
            3,
        ),
        (
            "mean pixel RMSE to the nearest training image (0..1)",
            m.mean_pixel_nn,
            4,
        ),
        (
            "share near-duplicating a training image (perceptual hash)",
            m.near_dup_train,
            4,
        ),
        (
            "share near-duplicating another generated image",
            m.near_dup_self,
            4,
        ),
        (
            "  the same within the real set (the baseline)",
            m.near_dup_real,
            4,
        ),
    ] {
        t.row(vec![Cell::text(k), Cell::num(v, p)]);
    }
    page.table(&t);
    if !m.closest.is_empty() {
        page.h3("Closest pairs (generated, nearest training image)");
        let data = Path::new(&s.data);
        let mut html = String::from("<div>");
        let mut missing = 0;
        for pair in &m.closest {
            let g = file_uri(&run.join("eval").join(&pair.generated));
            // The training image as compared (saved by eval) when there is one; else the
            // dataset's own file.
            let r = if pair.train_image.is_empty() {
                thumb_uri(&data.join(&pair.train), 256)
            } else {
                file_uri(&run.join("eval").join(&pair.train_image))
            };
            if g.is_none() || r.is_none() {
                missing += 1;
            }
            html.push_str("<div class=\"card\" style=\"display:inline-block;margin:4px\">");
            for (uri, cap) in [(g, &pair.generated), (r, &pair.train)] {
                match uri {
                    Some(u) => html.push_str(&figure(&u, cap, 96)),
                    None => html.push_str(&format!(
                        "<figure><figcaption>{} (not found)</figcaption></figure>",
                        esc(cap)
                    )),
                }
            }
            html.push_str(&format!(
                "<div class=\"muted\">feature {} · pixel {}</div></div>",
                num(pair.feature_distance, 3),
                num(pair.pixel_distance, 4)
            ));
        }
        html.push_str("</div>");
        page.raw(&html);
        if missing > 0 {
            page.note(&format!(
                "{missing} pair(s) have an image that could not be read: generated files are looked up under {}, training files under {}.",
                run.join("eval").display(),
                data.display()
            ));
        }
    }
}

/// The accuracy, InfoGAN's matching and the confusion matrix of one conditioning attribute.
fn conditioning(page: &mut Page, c: &Conditioning) {
    page.p(&format!(
        "Conditional accuracy on {}: {} (share of images generated for a class that the \
         feature network's classifier puts in that class).",
        c.attribute,
        num(c.accuracy, 3)
    ));
    if let Some(m) = &c.matching {
        let pairs: Vec<String> = m
            .iter()
            .enumerate()
            .map(|(code, &k)| {
                format!(
                    "code {code} → {}",
                    c.values.get(k).map_or("?", String::as_str)
                )
            })
            .collect();
        page.p(&format!(
            "InfoGAN code matched to classes: {}.",
            pairs.join(", ")
        ));
    }
    let heat = Heatmap {
        title: format!("Confusion matrix ({})", c.attribute),
        row_label: "asked".into(),
        col_label: "predicted by the classifier".into(),
        rows: c.values.clone(),
        cols: c.values.clone(),
        values: c
            .confusion
            .iter()
            .map(|r| r.iter().map(|&v| v as f64).collect())
            .collect(),
    };
    page.plot(&plot::heatmap(&heat).bytes, "confusion matrix");
    let mut head = vec!["asked \\ predicted".to_string()];
    head.extend(c.values.iter().cloned());
    head.push("accuracy".into());
    let mut t = Table::new(&head);
    for (i, v) in c.values.iter().enumerate() {
        let mut row = vec![Cell::text(v)];
        let counts = c.confusion.get(i).cloned().unwrap_or_default();
        for (k, n) in counts.iter().enumerate() {
            row.push(Cell::int(n).best(k == i));
        }
        row.push(Cell::num(
            c.per_class_accuracy.get(i).copied().unwrap_or(f64::NAN),
            3,
        ));
        t.row(row);
    }
    page.table(&t);
}
