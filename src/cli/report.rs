//! `facesynth report`: (re)writes the HTML page of a folder, or compares runs.

use anyhow::Context;
use clap::Args;
use facesynth::progress::Verbosity;
use facesynth::report;
use std::path::PathBuf;

/// Arguments of `facesynth report`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  facesynth report runs/acgan              RUN/report.html (with eval/metrics.json if there)
  facesynth report runs/acgan --out a.html the run's page at a.html
  facesynth report data/                   data/report.html (+ data/labels/report.html)
  facesynth report runs/a runs/b --out cmp.html    one comparison page of evaluated runs

The kind of folder is detected: a training run (settings.json, classes.json), a prep
output (manifest.csv) or a labeled dataset (labels/schema.toml).")]
pub struct ReportArgs {
    /// A run folder, prep output or labeled dataset; several runs to compare them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Page to write: with one run, its page (as `eval --out`); with several, the
    /// comparison page, an .html file or a folder (compare.html) [default: ./compare.html].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: ReportArgs, v: Verbosity) -> anyhow::Result<()> {
    let pages = match (&a.paths[..], &a.out) {
        // One run and a page path: that run's page there, as `eval --out` writes it.
        ([run], Some(out)) if report::detect(run) == Some(report::FolderKind::Run) => {
            vec![report::write_run_report_at(run, out).context("report")?]
        }
        // A prep output or label store has its pages where they belong: `--out` is for a
        // run's page or a comparison (it fell through to a comparison and said "not a
        // training run").
        ([one], Some(_)) if report::detect(one).is_some() => {
            return Err(super::usage(format!(
                "--out places a run's page or a comparison; {} is a prep output or a \
                 labeled dataset, whose pages go inside it: leave --out out",
                one.display()
            )));
        }
        _ => report::write_pages(&a.paths, a.out.as_deref()).context("report")?,
    };
    if v != Verbosity::Quiet {
        for p in pages {
            println!("{}", p.display());
        }
    }
    Ok(())
}
