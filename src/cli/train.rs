//! `facesynth train`.

use clap::Args;
use facesynth::progress::Verbosity;

/// Arguments of `facesynth train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Run folder.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

pub fn run(_args: TrainArgs, _v: Verbosity) -> anyhow::Result<()> {
    anyhow::bail!("`train` is not implemented yet")
}
