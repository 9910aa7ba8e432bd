//! `facesynth label`: schemas and validation, the store, importers, heuristics on
//! synthetic faces, a real round on shared anime faces, and the web page in Chromium.

use crate::common::{bin, run_ok, webdriver, Browser};
use facesynth::labels::{self, classifier::TrainSpec, RoundSpec, Schema, Source, Strategy};
use facesynth::progress::Verbosity::Quiet;
use facesynth::synth::{self, SynthSpec};
use std::path::PathBuf;

mod audit;
mod heuristics;
mod page;
mod rounds;
mod store;

const Q: facesynth::progress::Verbosity = Quiet;

/// The rounds' CPU backend.
type Cpu = burn::backend::Autodiff<burn::backend::Flex>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn anime() -> PathBuf {
    root().join("labels/anime.toml")
}

/// A classifier small and short enough for the loop's mechanics, not its accuracy.
fn tiny_train() -> TrainSpec {
    TrainSpec {
        steps: 2,
        batch: 8,
        channels: [4, 4, 4, 4],
        ..TrainSpec::default()
    }
}

/// A round of [`tiny_train`] at 16 px queueing `queue` images.
fn tiny_round(queue: usize) -> RoundSpec {
    RoundSpec {
        queue,
        size: 16,
        train: tiny_train(),
        ..RoundSpec::default()
    }
}

/// `label simulate` on a synthetic folder's own truth, with a round of `tiny_train`
/// at 16 px; `more` sets the round's other fields.
fn tiny_simulate(
    d: &std::path::Path,
    budget: usize,
    rounds: usize,
    holdout: f32,
    more: RoundSpec,
) -> labels::SimulateSpec {
    labels::SimulateSpec {
        oracle: d.join("truth.csv"),
        budget,
        rounds,
        schedule: None,
        holdout,
        round: RoundSpec {
            size: 16,
            train: tiny_train(),
            ..more
        },
    }
}

/// A synthetic dataset folder (images/ + truth.csv) of `n` faces.
fn synth_data(n: usize, seed: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    synth::generate(
        &SynthSpec {
            n,
            seed,
            ..SynthSpec::default()
        },
        dir.path(),
    )
    .unwrap();
    dir
}

/// A temp dataset of symlinks to the first `n` shared anime faces, and its truth file.
fn shared_subset(n: usize) -> Option<(tempfile::TempDir, PathBuf)> {
    shared_subset_of("anime-faces-64", "tags.csv", n, 7)
}

/// A temp dataset of symlinks to `n` images of the shared set `set` (every `step`-th row
/// of its wide truth file `tags`), and their truth file; `None`, saying why, where the
/// set is missing.
fn shared_subset_of(
    set: &str,
    tags: &str,
    n: usize,
    step: usize,
) -> Option<(tempfile::TempDir, PathBuf)> {
    let src = root().join("../shared/data").join(set);
    let tags = src.join(tags);
    if !tags.is_file() {
        eprintln!("skip: {} not found", tags.display());
        return None;
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("images")).unwrap();
    let text = std::fs::read_to_string(&tags).unwrap();
    let mut truth = String::from("file,hair_color,eye_color\n");
    for line in text.lines().skip(1).step_by(step).take(n) {
        let file = line.split(',').next().unwrap();
        std::os::unix::fs::symlink(src.join(file), d.path().join(file)).unwrap();
        truth.push_str(line);
        truth.push('\n');
    }
    let t = d.path().join("truth.csv");
    std::fs::write(&t, truth).unwrap();
    Some((d, t))
}

/// Imports `csv` (a person's answers file, `file,attribute,value`) into the folder `d`.
fn import_answers(d: &std::path::Path, csv: &str) {
    let answers = d.join("answers.csv");
    std::fs::write(&answers, csv).unwrap();
    labels::import(d, &answers, None).unwrap();
}
