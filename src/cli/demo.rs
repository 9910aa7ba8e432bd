//! `facesynth demo`.

use clap::Args;
use facesynth::progress::Verbosity;

/// Arguments of `facesynth demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output folder.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

pub fn run(_args: DemoArgs, _v: Verbosity) -> anyhow::Result<()> {
    anyhow::bail!("`demo` is not implemented yet")
}
