//! `facesynth prep`.

use clap::Args;
use facesynth::progress::Verbosity;

/// Arguments of `facesynth prep`.
#[derive(Debug, Args)]
pub struct PrepArgs {
    /// Output folder.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

pub fn run(_args: PrepArgs, _v: Verbosity) -> anyhow::Result<()> {
    anyhow::bail!("`prep` is not implemented yet")
}
