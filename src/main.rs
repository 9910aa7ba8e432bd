//! The `facesynth` command: parses arguments, runs one library call, maps the outcome
//! to an exit code.
//!
//! Exit codes: 0 the run completed (rejected files are normal and reported), 1 the run
//! could not be done (unreadable input, bad pipeline file, ...), 2 bad command line
//! (flags clap refuses, flags that contradict each other, and training or generating
//! settings no run could use).

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    facesynth::heap::keep_freed_memory();
    let args = cli::Cli::parse();
    if !cli::serves(&args) {
        end_quietly_on_closed_pipe();
    }
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("facesynth: error: {}", describe(&err));
            // Settings no run could use are a bad command line, as clap's refusals are.
            let usage = err.chain().any(|c| {
                matches!(
                    c.downcast_ref(),
                    Some(facesynth::gan::GanError::Usage { .. })
                ) || matches!(
                    c.downcast_ref(),
                    Some(facesynth::labels::LabelError::Usage { .. })
                ) || c.is::<cli::Usage>()
            });
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// The error and its causes, each cause once: an error whose own text already shows its
/// cause (`labels.csv: No such file or directory`) does not repeat it.
fn describe(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

/// A closed pipe (`facesynth label export ... | head -1`) ends the program as it ends any
/// Unix filter, instead of `println!` panicking on the write: Rust ignores SIGPIPE
/// unless told otherwise. Not for `label serve`: a server must not end with a client.
fn end_quietly_on_closed_pipe() {
    #[cfg(target_os = "linux")]
    // SAFETY: called first thing in `main`, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
