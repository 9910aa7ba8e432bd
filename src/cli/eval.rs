//! `facesynth eval` and `facesynth eval compare`: flags into an `EvalSpec`, one library
//! call, a short table.

use super::parse::at_least;
use anyhow::Context;
use clap::{Args, Subcommand};
use facesynth::eval::{self, EvalSpec, FeatureSpec, KidSpec};
use facesynth::progress::Verbosity;
use std::path::PathBuf;

/// Arguments of `facesynth eval`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(after_help = "Examples:
  facesynth eval --run runs/acgan --data prepped --n 2000
  facesynth eval --run runs/mnist-cgan --data ../shared/data/mnist --n 10000 --seed 1
  facesynth eval compare runs/mnist-dcgan runs/mnist-cgan runs/mnist-split --out cmp

The feature network is facesynth's label CNN trained on the real set (not Inception); it is
trained once per dataset and cached (--cache, default $XDG_CACHE_HOME/facesynth/featnet,
or ~/.cache/facesynth/featnet without it).")]
pub struct EvalArgs {
    /// `compare`: one table across evaluated runs.
    #[command(subcommand)]
    pub command: Option<EvalCommand>,
    /// Run folder written by `facesynth train --out` (required unless `compare`).
    #[arg(long, required = true)]
    pub run: Option<PathBuf>,
    /// Real dataset: prep output with labels, ImageFolder, or MNIST IDX folder
    /// (default: the run's own --data / --mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Wide labels CSV (default: DATA/labels_wide.csv, truth.csv or tags.csv).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Generated images to evaluate (spread evenly over classes of conditional runs).
    #[arg(long, default_value_t = 2000, value_parser = at_least::<usize, 2>)]
    pub n: usize,
    /// Seed of the latent points and KID subsets: same seed, same numbers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Feature network cache folder.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Training steps of the feature network (part of its cache key).
    #[arg(long, default_value_t = FeatureSpec::default().steps)]
    pub feature_steps: usize,
    /// KID subsets (of at most 1000 images each).
    #[arg(long, default_value_t = KidSpec::default().subsets, value_parser = at_least::<usize, 1>)]
    pub kid_subsets: usize,
    /// Neighbours of precision, recall, density and coverage (the k-th neighbour's
    /// distance is each ball's radius; prdc's and StudioGAN's default 5).
    #[arg(long, default_value_t = 5, value_parser = at_least::<usize, 1>)]
    pub k: usize,
    /// Report page to write (default RUN/report.html); a folder, or a path not ending in
    /// .html, gets report.html in it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Subcommands of `facesynth eval`.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// One table across runs, each evaluated first with `eval --run`: markdown on stdout,
    /// compare.csv.
    Compare(CompareArgs),
}

/// Arguments of `facesynth eval compare`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  facesynth eval --run runs/a && facesynth eval --run runs/b
  facesynth eval compare runs/a runs/b --out runs/compare     compare.html, .csv, .md
  facesynth eval compare runs/* --out table.html")]
pub struct CompareArgs {
    /// Run folders with eval/metrics.json.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Output folder for compare.html, compare.csv and compare.md (or a .html path).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

pub fn run(a: EvalArgs, v: Verbosity) -> anyhow::Result<()> {
    if let Some(EvalCommand::Compare(c)) = a.command {
        return compare(c, v);
    }
    let run = a
        .run
        .context("give --run RUN (or `facesynth eval compare RUN...`)")?;
    let spec = EvalSpec {
        run: run.clone(),
        data: a.data,
        labels: a.labels,
        n: a.n,
        seed: a.seed,
        cache: a.cache,
        features: FeatureSpec {
            steps: a.feature_steps,
            ..FeatureSpec::default()
        },
        kid: KidSpec {
            subsets: a.kid_subsets,
            ..KidSpec::default()
        },
        k: a.k,
        verbosity: v,
        ..EvalSpec::default()
    };
    let s = eval::evaluate(&spec).with_context(|| format!("evaluating {}", run.display()))?;
    let page = match &a.out {
        Some(out) => facesynth::report::write_run_report_at(&run, out),
        None => facesynth::report::write_run_report(&run),
    }
    .context("writing the report page")?;
    if v != Verbosity::Quiet {
        print!("{}", eval::compare::brief(&s));
        println!("wrote {}", run.join(eval::METRICS_FILE).display());
        println!("report: {}", page.display());
    }
    Ok(())
}

fn compare(c: CompareArgs, v: Verbosity) -> anyhow::Result<()> {
    let table = eval::compare(&c.runs)?;
    // The page writes compare.csv and compare.md beside itself.
    let page = facesynth::report::write_compare_report(&c.runs, &c.out)?;
    // The table is the command's output (`--quiet` too, as `label status --json`): quiet
    // drops only the line that says where the page went.
    print!("{}", table.to_markdown());
    if v != Verbosity::Quiet {
        println!("report: {}", page.display());
    }
    Ok(())
}
