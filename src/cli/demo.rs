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
  facesynth demo --out /tmp/demo --faces 400
  facesynth demo --until prep         only the messy folder and prep (seconds)")]
pub struct DemoArgs {
    /// Output folder. A rerun into a demo's folder (facesynth-demo.json) removes its raw/,
    /// data/ and gan/ and starts over; one holding them without that file is refused.
    #[arg(long, default_value = "facesynth-demo")]
    pub out: PathBuf,
    /// Number of distinct synthetic faces: at least 1, and 24 past `--until prep` (fewer
    /// leave too little for the labeling loop's held-out split and a training batch; 0
    /// failed on a missing file).
    #[arg(long, default_value_t = 240, value_parser = super::parse::at_least::<usize, 1>)]
    pub faces: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop after this stage.
    #[arg(long, value_enum, default_value = "train")]
    pub until: demo::DemoStage,
}

/// The fewest faces the labeling loop and training take.
const MIN_FACES_PAST_PREP: usize = 24;

pub fn run(a: DemoArgs, v: Verbosity) -> anyhow::Result<()> {
    if a.until > demo::DemoStage::Prep && a.faces < MIN_FACES_PAST_PREP {
        return Err(super::Usage(format!(
            "--faces {} is too few to label and train on (at least {MIN_FACES_PAST_PREP}; \
             fewer only with --until prep)",
            a.faces
        ))
        .into());
    }
    let spec = DemoSpec {
        out: a.out.clone(),
        faces: a.faces,
        seed: a.seed,
        until: a.until,
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
        if let Some(l) = &r.labels {
            if let Some(last) = l.simulate.curve.last() {
                let acc: Vec<String> = last
                    .accuracy
                    .iter()
                    .map(|(a, v)| format!("{a} {v:.2}"))
                    .collect();
                eprintln!(
                    "labels: {} images; after {} simulated answers, held-out accuracy {}",
                    l.images,
                    last.labels,
                    acc.join(", ")
                );
            }
            eprintln!("labels: {}", l.wide.display());
        }
        if let Some(g) = &r.gan {
            eprintln!(
                "gan: {} per-class samples, one row per hair colour in {}",
                g.images,
                g.grid.display()
            );
        }
        for p in &r.pages {
            eprintln!("report: {}", p.display());
        }
    }
    Ok(())
}
