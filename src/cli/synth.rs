//! `facesynth synth`.

use clap::Args;
use facesynth::progress::Verbosity;

/// Arguments of `facesynth synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output folder.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

pub fn run(_args: SynthArgs, _v: Verbosity) -> anyhow::Result<()> {
    anyhow::bail!("`synth` is not implemented yet")
}
