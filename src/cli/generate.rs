//! `facesynth generate`.

use clap::Args;
use facesynth::progress::Verbosity;

/// Arguments of `facesynth generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Run folder.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

pub fn run(_args: GenerateArgs, _v: Verbosity) -> anyhow::Result<()> {
    anyhow::bail!("`generate` is not implemented yet")
}
