//! Progress bars that show on a terminal and stay silent in logs or under `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Whether progress and summaries should be printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// Progress bar on a terminal, summary on stderr.
    #[default]
    Normal,
    /// Nothing but errors.
    Quiet,
}

/// A bar of `len` steps labeled `what`; hidden when quiet or when stderr is not a terminal.
pub fn bar(len: u64, what: &str, verbosity: Verbosity) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if verbosity == Verbosity::Quiet || !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
        return pb;
    }
    let style = ProgressStyle::with_template(
        "{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    pb.set_style(style);
    pb.set_prefix(what.to_string());
    pb
}
