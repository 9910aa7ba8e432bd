//! `facesynth eval compare`: the numbers of several evaluated runs in one table
//! (markdown for the terminal, CSV for spreadsheets; the report pages draw the same rows).
//! Runs judged by different feature networks are flagged: their distances do not compare.

use super::summary::EvalSummary;
use super::{EvalError, METRICS_FILE};
use std::path::PathBuf;

/// One run's row.
#[derive(Debug, Clone)]
pub struct CompareRow {
    /// The run folder as given.
    pub run: PathBuf,
    /// Its `eval/metrics.json`.
    pub summary: EvalSummary,
}

/// Every run's summary, in the order given.
#[derive(Debug, Clone, Default)]
pub struct CompareTable {
    /// The rows.
    pub rows: Vec<CompareRow>,
}

/// Reads `RUN/eval/metrics.json` of each run.
pub fn compare(runs: &[PathBuf]) -> Result<CompareTable, EvalError> {
    let rows = runs
        .iter()
        .map(|run| {
            let p = run.join(METRICS_FILE);
            let text = std::fs::read(&p).map_err(|e| EvalError::Io {
                path: p.clone(),
                reason: format!("{e} (run `facesynth eval --run {}` first)", run.display()),
            })?;
            let summary = serde_json::from_slice(&text).map_err(|e| EvalError::Io {
                path: p.clone(),
                reason: e.to_string(),
            })?;
            Ok(CompareRow {
                run: run.clone(),
                summary,
            })
        })
        .collect::<Result<_, EvalError>>()?;
    Ok(CompareTable { rows })
}

/// Which way a column is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Lower values are better.
    Lower,
    /// Higher values are better.
    Higher,
    /// Neither (a baseline or a spread).
    None,
}

/// One column of the comparison: its name, which way is better, its value for a run.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The header.
    pub name: &'static str,
    /// Which way is better (the page highlights the best).
    pub better: Better,
    /// The value for one run (NaN when the run has none).
    pub value: fn(&EvalSummary) -> f64,
}

/// The columns before the numbers: run (folder name), model, step, generated images.
pub const LEAD: [&str; 4] = ["run", "model", "step", "generated"];

/// The number columns of every comparison: the terminal's, the page's, compare.csv's and
/// compare.md's, one list so they cannot drift apart.
pub fn columns() -> Vec<Column> {
    let col = |name, better, value| Column {
        name,
        better,
        value,
    };
    vec![
        col("FID", Better::Lower, |s| s.overall.fid),
        col("KID", Better::Lower, |s| s.overall.kid),
        col("KID s.e.", Better::None, |s| s.overall.kid_se),
        col("precision", Better::Higher, |s| s.overall.precision),
        col("recall", Better::Higher, |s| s.overall.recall),
        col("density", Better::Higher, |s| s.overall.density),
        col("coverage", Better::Higher, |s| s.overall.coverage),
        col("mean intra-class FID", Better::Lower, mean_intra_fid),
        col("cond. accuracy", Better::Higher, |s| {
            s.conditioning.as_ref().map_or(f64::NAN, |c| c.accuracy)
        }),
        col("mean JS", Better::Lower, |s| {
            finite_mean(s.distributions.iter().map(|d| d.js))
        }),
        col("near-dup of train", Better::Lower, |s| {
            s.memorization.near_dup_train
        }),
        col("near-dup of self", Better::Lower, |s| {
            s.memorization.near_dup_self
        }),
        col("near-dup within real", Better::None, |s| {
            s.memorization.near_dup_real
        }),
        col("NN ratio", Better::None, |s| {
            s.memorization.feature_nn_ratio
        }),
    ]
}

/// A run's name in a comparison: its folder's name.
pub fn run_name(run: &std::path::Path) -> String {
    run.file_name().map_or_else(
        || run.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Mean of the finite values (NaN when there are none).
pub fn finite_mean(it: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = it.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Mean of the per-class FIDs (NaN when there are none).
pub fn mean_intra_fid(s: &EvalSummary) -> f64 {
    finite_mean(s.per_class.iter().map(|c| c.fidelity.fid))
}

impl CompareTable {
    /// The header: [`LEAD`] and the [`columns`].
    pub fn head(&self) -> Vec<String> {
        let mut v: Vec<String> = LEAD.map(String::from).to_vec();
        v.extend(columns().iter().map(|c| c.name.to_string()));
        v
    }

    /// One line per run, as written to compare.csv and compare.md: numbers with 4
    /// decimals, `-` where a run has none.
    pub fn lines(&self) -> Vec<Vec<String>> {
        let cols = columns();
        self.rows
            .iter()
            .map(|r| {
                let s = &r.summary;
                let mut l = vec![
                    run_name(&r.run),
                    s.model.clone(),
                    s.step.to_string(),
                    s.n_generated.to_string(),
                ];
                l.extend(cols.iter().map(|c| {
                    let x = (c.value)(s);
                    if x.is_finite() {
                        format!("{x:.4}")
                    } else {
                        "-".into()
                    }
                }));
                l
            })
            .collect()
    }

    /// Whether every run was judged by the same feature network.
    pub fn same_features(&self) -> bool {
        self.rows
            .windows(2)
            .all(|w| w[0].summary.features.dataset_hash == w[1].summary.features.dataset_hash)
    }

    /// Whether every run was evaluated on as many generated and real images with the
    /// same k: FID is biased up at small n, and the k-NN radii of precision, recall,
    /// density and coverage shrink as n grows, so runs evaluated otherwise do not rank.
    pub fn same_sample_sizes(&self) -> bool {
        self.rows
            .windows(2)
            .all(|w| sample_size(&w[0].summary) == sample_size(&w[1].summary))
    }

    /// The table in GitHub markdown (compare.md), with a warning line when feature
    /// networks or sample sizes differ.
    pub fn to_markdown(&self) -> String {
        let head = self.head();
        let mut s = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()));
        for row in self.lines() {
            s.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        if !self.same_features() {
            s.push_str(
                "\nWarning: these runs were judged by different feature networks (different \
                 datasets or settings); their distances do not compare.\n",
            );
        }
        if !self.same_sample_sizes() {
            s.push_str(&format!("\nWarning: {SIZES_DIFFER}\n"));
        }
        s
    }
}

/// What must agree between runs for their figures to rank: generated images, real
/// images and k ([`CompareTable::same_sample_sizes`]).
pub fn sample_size(s: &EvalSummary) -> (usize, usize, usize) {
    (s.n_generated, s.n_real, s.overall.k)
}

/// What a comparison says when its runs' sample sizes differ.
pub const SIZES_DIFFER: &str = "these runs were evaluated on different numbers of generated \
     or real images, or another k (--n, the real set, --k): FID is biased up at small n and \
     the nearest-neighbour radii shrink as n grows, so their numbers do not rank; evaluate \
     each with the same settings";

/// A few lines for the terminal: the feature network, the overall numbers, conditioning
/// and memorization.
pub fn brief(s: &EvalSummary) -> String {
    let o = &s.overall;
    let acc: Vec<String> = s
        .features
        .heldout_accuracy
        .iter()
        .map(|(a, x)| format!("{a} {:.1}%", 100.0 * x))
        .collect();
    let mut t = format!(
        "{} ({}, step {}): {} generated vs {} real, seed {}\n\
         features: {}-d, held-out accuracy {} (dataset {})\n\
         | FID | KID (± se) | precision | recall | density | coverage |\n\
         |---|---|---|---|---|---|\n\
         | {:.3} | {:.4} ± {:.4} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
        s.run,
        s.model,
        s.step,
        s.n_generated,
        s.n_real,
        s.seed,
        s.features.dim,
        acc.join(", "),
        &s.features.dataset_hash[..s.features.dataset_hash.len().min(12)],
        o.fid,
        o.kid,
        o.kid_se,
        o.precision,
        o.recall,
        o.density,
        o.coverage
    );
    if !s.per_class.is_empty() {
        t.push_str(&format!(
            "intra-class FID (mean over {} classes): {:.3}\n",
            s.per_class.len(),
            mean_intra_fid(s)
        ));
    }
    for c in s.conditioning.iter().chain(&s.more_conditioning) {
        t.push_str(&format!(
            "conditional accuracy ({}): {:.1}%\n",
            c.attribute,
            100.0 * c.accuracy
        ));
    }
    for d in &s.distributions {
        t.push_str(&format!(
            "JS divergence of {}: {:.4} bits\n",
            d.attribute, d.js
        ));
    }
    let m = &s.memorization;
    t.push_str(&format!(
        "memorization: feature NN {:.3} ({:.2}x real leave-one-out), pixel RMSE {:.3}, \
         near duplicates {:.1}% of training / {:.1}% of each other (real set: {:.1}%)\n",
        m.mean_feature_nn,
        m.feature_nn_ratio,
        m.mean_pixel_nn,
        100.0 * m.near_dup_train,
        100.0 * m.near_dup_self,
        100.0 * m.near_dup_real
    ));
    for n in &s.notes {
        t.push_str(&format!("note: {n}\n"));
    }
    t.push_str(&format!("{:.1} s\n", s.seconds));
    t
}
