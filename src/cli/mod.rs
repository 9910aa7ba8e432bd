//! Command-line definitions: one `<Cmd>Args` per subcommand, each turned into resolved
//! settings and a single library call by its own module.

mod demo;
mod eval;
mod generate;
mod label;
mod parse;
mod prep;
mod report;
mod synth;
mod train;

use clap::{Parser, Subcommand};
use facesynth::progress::Verbosity;

/// facesynth: clean face datasets and attribute-conditioned GANs.
#[derive(Debug, Parser)]
#[command(name = "facesynth", version, about, long_about = None)]
#[command(
    after_help = "Start with `facesynth demo`: it makes a messy folder of synthetic faces \
and runs the whole pipeline on it, with no download.

Exit status: 0 the run completed (rejected files are reported, not errors), 1 it could \
not run (the one-line reason names the file), 2 a bad command line."
)]
pub struct Cli {
    /// Print nothing but errors (no progress bar, no summary; `label serve` prints only its
    /// address).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Draw procedural cartoon faces with known attributes (and truth.csv).
    Synth(synth::SynthArgs),
    /// Make a messy raw folder of synthetic faces and run the pipeline on it.
    Demo(demo::DemoArgs),
    /// Clean a raw image folder: decode, check quality, crop, resize, normalize, dedup.
    Prep(prep::PrepArgs),
    /// Active label synthesis: heuristics, a CNN and a person in the loop.
    #[command(
        subcommand,
        after_help = "The loop:
  facesynth label init --schema labels/anime.toml --data data/   heuristics label every image
  facesynth label round --data data/     train, accept confident labels, queue the unsure
  facesynth label serve --data data/     answer the queue on a local page (or: label import)
  facesynth label round --data data/     again, with the answers; repeat
  facesynth label export --data data/ --all   labels_wide.csv and imagefolder/"
    )]
    Label(label::LabelCommand),
    /// Train a GAN (DCGAN, CGAN, ACGAN, InfoGAN) on a prepared dataset or MNIST.
    Train(train::TrainArgs),
    /// Generate faces from a trained run.
    Generate(generate::GenerateArgs),
    /// Measure a trained run and write its report.
    Eval(eval::EvalArgs),
    /// (Re)write the HTML report page of a run, a prep output or a labeled dataset, or compare runs.
    Report(report::ReportArgs),
}

impl Cli {
    fn verbosity(&self) -> Verbosity {
        if self.quiet {
            Verbosity::Quiet
        } else {
            Verbosity::Normal
        }
    }
}

/// Whether the command runs a server (`label serve`), which must outlive its clients.
pub fn serves(cli: &Cli) -> bool {
    matches!(
        cli.command,
        Command::Label(label::LabelCommand::Serve { .. })
    )
}

/// Flags that parse one by one but contradict each other (`label simulate --queue`, a
/// falling `--schedule`): a bad command line, exit 2, as clap's own refusals are.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A [`Usage`] error for `?` and `return Err(..)`.
fn usage(reason: String) -> anyhow::Error {
    Usage(reason).into()
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let v = cli.verbosity();
    match cli.command {
        Command::Synth(a) => synth::run(a, v),
        Command::Demo(a) => demo::run(a, v),
        Command::Prep(a) => prep::run(a, v),
        Command::Label(a) => label::run(a, v),
        Command::Train(a) => train::run(a, v),
        Command::Generate(a) => generate::run(a, v),
        Command::Eval(a) => eval::run(a, v),
        Command::Report(a) => report::run(a, v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
