//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared/data` beside the crate, or `None` (with a note on stderr) when absent.
pub fn shared_data(sub: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(sub);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipping: {} not found (the shared test data is not beside the checkout)",
            p.display()
        );
        None
    }
}

/// `../shared/models/NAME`, or `None` with a note.
pub fn shared_model(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/models")
        .join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found", p.display());
        None
    }
}

/// The facesynth binary built for these tests.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_facesynth"))
}

/// Runs facesynth with `args`, asserting success; returns its output.
pub fn run_ok(args: &[&str]) -> Output {
    let out = bin().args(args).output().expect("run facesynth");
    assert!(
        out.status.success(),
        "facesynth {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The first `n` files of a folder, sorted.
pub fn first_files(dir: &Path, n: usize) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.truncate(n);
    v
}
