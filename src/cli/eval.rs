//! `facesynth eval`.

use clap::Args;
use facesynth::progress::Verbosity;

/// Arguments of `facesynth eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Run folder.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

pub fn run(_args: EvalArgs, _v: Verbosity) -> anyhow::Result<()> {
    anyhow::bail!("`eval` is not implemented yet")
}
