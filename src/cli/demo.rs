//! `facesynth demo`: the whole pipeline on embedded synthetic data.

use anyhow::Context;
use clap::Args;
use facesynth::demo::{self, DemoSpec};
use facesynth::progress::Verbosity;
use std::path::PathBuf;

/// Arguments of `facesynth demo`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  facesynth demo                      writes ./facesynth-demo
  facesynth demo --out /tmp/demo --faces 400")]
pub struct DemoArgs {
    /// Output folder.
    #[arg(long, default_value = "facesynth-demo")]
    pub out: PathBuf,
    /// Number of distinct synthetic faces.
    #[arg(long, default_value_t = 240)]
    pub faces: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(a: DemoArgs, v: Verbosity) -> anyhow::Result<()> {
    let spec = DemoSpec {
        out: a.out.clone(),
        faces: a.faces,
        seed: a.seed,
    };
    let r = demo::run(&spec, v).with_context(|| format!("demo in {}", a.out.display()))?;
    if v != Verbosity::Quiet {
        let (exact, near, broken) = r.planted;
        eprintln!("raw folder: {} ({exact} exact and {near} near duplicates, {broken} broken files planted)", r.raw.display());
        eprint!("prep: {}", r.prep);
        eprintln!(
            "prepared dataset: {} (manifest.csv, images/, stats.json, report.json)",
            r.data.display()
        );
    }
    Ok(())
}
