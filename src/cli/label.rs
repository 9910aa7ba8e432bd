//! `facesynth label ...`: active label synthesis (see the label issue).

use clap::Subcommand;
use facesynth::progress::Verbosity;

/// Label subcommands.
#[derive(Debug, Subcommand)]
pub enum LabelCommand {
    /// Start a label store for a prepared dataset.
    Init {
        /// The attribute schema (labels/*.toml).
        #[arg(long)]
        schema: std::path::PathBuf,
        /// The prepared dataset (prep's OUT folder).
        #[arg(long)]
        data: std::path::PathBuf,
    },
}

pub fn run(cmd: LabelCommand, _v: Verbosity) -> anyhow::Result<()> {
    match cmd {
        LabelCommand::Init { .. } => anyhow::bail!("`label` is not implemented yet"),
    }
}
