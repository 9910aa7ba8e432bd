//! What a prep run did: the manifest pass's counts, the report printed on stderr, and
//! `OUT/stats.json` and `OUT/report.json`, written atomically.

use super::normalize::{ChannelSums, DatasetStats};
use super::{out_err, PrepError};
use crate::dataset::manifest::Status;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// What the manifest pass counted: rows by status and reason, and the kept images'
/// channel sums for `stats.json`.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) rows: usize,
    pub(super) by_status: BTreeMap<String, usize>,
    pub(super) by_reason: BTreeMap<String, usize>,
    pub(super) sums: ChannelSums,
    pub(super) kept: usize,
}

impl Tally {
    pub(super) fn add(&mut self, status: Status, reason: &str) {
        self.rows += 1;
        *self.by_status.entry(status.to_string()).or_default() += 1;
        if !reason.is_empty() {
            let key = reason.split(':').next().unwrap_or("").trim().to_string();
            *self.by_reason.entry(key).or_default() += 1;
        }
    }

    /// Mean and std of the kept set.
    pub(super) fn stats(&self, size: u32) -> DatasetStats {
        self.sums.stats(self.kept, size)
    }
}

/// What a prep run did: counts by status and reason, timing.
#[derive(Debug, Clone, Serialize)]
pub struct PrepReport {
    /// Files found under INPUT.
    pub files: usize,
    /// Manifest rows (files, or faces of files).
    pub rows: usize,
    /// Rows per status.
    pub by_status: BTreeMap<String, usize>,
    /// Rows per reason (rejections and duplicates; `decode: ...` counted as `decode`).
    pub by_reason: BTreeMap<String, usize>,
    /// Files taken from an earlier run's journal instead of processed again.
    pub resumed: usize,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Files processed (not resumed) per second: a wholly resumed run reported
    /// thousands of files a second for reading its journal.
    pub files_per_second: f64,
    /// Mean and std of the kept set.
    pub stats: Option<DatasetStats>,
    /// The input folder (absolute when it could be resolved), for the report page's
    /// thumbnails of rejected and duplicate sources.
    pub input: Option<std::path::PathBuf>,
    /// What the run noticed that is not one file's fault (box CSV rows that name no
    /// input file), for the person to read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The report page written (`OUT/report.html`), if it could be.
    #[serde(skip)]
    pub page: Result<std::path::PathBuf, String>,
}

impl PrepReport {
    pub(super) fn new(tally: Tally, files: usize, resumed: usize, took: Duration) -> Self {
        let seconds = took.as_secs_f64();
        PrepReport {
            files,
            rows: tally.rows,
            by_status: tally.by_status,
            by_reason: tally.by_reason,
            resumed,
            seconds,
            files_per_second: files.saturating_sub(resumed) as f64 / seconds.max(1e-9),
            stats: None,
            input: None,
            warnings: Vec::new(),
            page: Err("not written yet".into()),
        }
    }

    /// Rows with this status.
    pub fn count(&self, status: Status) -> usize {
        self.by_status
            .get(&status.to_string())
            .copied()
            .unwrap_or(0)
    }
}

impl fmt::Display for PrepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // With `--faces all` a file yields a row per face: the counts are of rows then.
        let rows = match self.rows == self.files {
            true => String::new(),
            false => format!(", {} rows (a row per face)", self.rows),
        };
        writeln!(
            f,
            "{} files{rows}: {} kept, {} duplicate, {} rejected ({} resumed) in {:.1} s, {:.0} \
             files/s processed",
            self.files,
            self.count(Status::Kept),
            self.count(Status::Duplicate),
            self.count(Status::Rejected),
            self.resumed,
            self.seconds,
            self.files_per_second
        )?;
        for (reason, n) in &self.by_reason {
            writeln!(f, "  {reason:<16} {n}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

/// Writes `stats.json` and `report.json` atomically (after the manifest).
pub(super) fn write_reports(out: &Path, report: &PrepReport) -> Result<(), PrepError> {
    let path = out.join("stats.json");
    match &report.stats {
        Some(stats) => crate::atomic::write_json(&path, stats).map_err(out_err(&path))?,
        // An earlier run's would describe images this run did not keep.
        None => crate::atomic::remove_if_present(&path).map_err(out_err(&path))?,
    }
    let path = out.join("report.json");
    crate::atomic::write_json(&path, report).map_err(out_err(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: with `--faces all` the summary said "98 files: 45 kept, 0 duplicate,
    /// 54 rejected", counts of 99 rows under a count of 98 files.
    #[test]
    fn the_summary_names_rows_when_a_file_has_several() {
        let line = |files| {
            let mut tally = Tally::default();
            for (status, reason) in [
                (Status::Kept, ""),
                (Status::Kept, ""),
                (Status::Rejected, "decode"),
            ] {
                tally.add(status, reason);
            }
            PrepReport::new(tally, files, 0, Duration::from_secs(1))
                .to_string()
                .lines()
                .next()
                .unwrap()
                .to_string()
        };
        assert!(
            line(3).starts_with("3 files: 2 kept, 0 duplicate, 1 rejected"),
            "{}",
            line(3)
        );
        assert!(
            line(2).starts_with("2 files, 3 rows (a row per face): 2 kept"),
            "{}",
            line(2)
        );
    }
}
