//! The `facesynth` command: parses arguments, runs one library call, maps the outcome
//! to an exit code.
//!
//! Exit codes: 0 the run completed (rejected files are normal and reported), 1 the run
//! could not be done (unreadable input, bad pipeline file, ...), 2 bad command line.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    facesynth::heap::keep_freed_memory();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("facesynth: error: {err:#}");
            ExitCode::from(1)
        }
    }
}
