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

const HEADER: [&str; 17] = [
    "run",
    "model",
    "step",
    "n_gen",
    "fid",
    "kid",
    "kid_se",
    "precision",
    "recall",
    "density",
    "coverage",
    "intra_fid",
    "cond_acc",
    "nn_ratio",
    "dup_train",
    "dup_self",
    "dup_real",
];

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
    fn cells(&self) -> Vec<Vec<String>> {
        let f = |x: f64, p: usize| {
            if x.is_finite() {
                format!("{x:.p$}")
            } else {
                "-".into()
            }
        };
        self.rows
            .iter()
            .map(|r| {
                let s = &r.summary;
                let o = &s.overall;
                vec![
                    r.run.display().to_string(),
                    s.model.clone(),
                    s.step.to_string(),
                    s.n_generated.to_string(),
                    f(o.fid, 3),
                    f(o.kid, 4),
                    f(o.kid_se, 4),
                    f(o.precision, 3),
                    f(o.recall, 3),
                    f(o.density, 3),
                    f(o.coverage, 3),
                    f(mean_intra_fid(s), 3),
                    f(s.conditioning.as_ref().map_or(f64::NAN, |c| c.accuracy), 3),
                    f(s.memorization.feature_nn_ratio, 3),
                    f(s.memorization.near_dup_train, 3),
                    f(s.memorization.near_dup_self, 3),
                    f(s.memorization.near_dup_real, 3),
                ]
            })
            .collect()
    }

    /// Whether every run was judged by the same feature network.
    pub fn same_features(&self) -> bool {
        self.rows
            .windows(2)
            .all(|w| w[0].summary.features.dataset_hash == w[1].summary.features.dataset_hash)
    }

    /// The table in GitHub markdown, with a warning line when feature networks differ.
    pub fn to_markdown(&self) -> String {
        let mut s = format!("| {} |\n|", HEADER.join(" | "));
        s.push_str(&"---|".repeat(HEADER.len()));
        s.push('\n');
        for row in self.cells() {
            s.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        if !self.same_features() {
            s.push_str(
                "\nWarning: these runs were judged by different feature networks (different \
                 datasets or settings); their distances do not compare.\n",
            );
        }
        s
    }
}

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
    if let Some(c) = &s.conditioning {
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
