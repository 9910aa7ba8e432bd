//! `facesynth synth`: procedural faces with known attributes.

use anyhow::Context;
use clap::Args;
use facesynth::progress::Verbosity;
use facesynth::synth::{self, SynthSpec};
use std::path::PathBuf;

/// Arguments of `facesynth synth`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  facesynth synth --out faces/ --n 500 --seed 1          64 px, centred faces
  facesynth synth --out raw/ --n 200 --size 160 --face-min 0.3 --face-max 0.6

Writes OUT/images/NNNNN.png and OUT/truth.csv (hair_color, eye_color, skin_tone,
background, glasses, and the head box face_x,face_y,face_w,face_h).")]
pub struct SynthArgs {
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of faces (at least 1).
    #[arg(long, default_value_t = 100, value_parser = super::parse::at_least::<usize, 1>)]
    pub n: usize,
    /// Image side in pixels (at least 8).
    #[arg(long, default_value_t = 64, value_parser = super::parse::at_least::<u32, 8>)]
    pub size: u32,
    /// Smallest head box as a fraction of the image side.
    #[arg(long, default_value_t = 0.9)]
    pub face_min: f32,
    /// Largest head box as a fraction of the image side.
    #[arg(long, default_value_t = 1.0)]
    pub face_max: f32,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(a: SynthArgs, v: Verbosity) -> anyhow::Result<()> {
    if !(0.0 < a.face_min && a.face_min <= a.face_max && a.face_max <= 1.0) {
        return Err(super::usage(
            "need 0 < --face-min <= --face-max <= 1".into(),
        ));
    }
    let spec = SynthSpec {
        n: a.n,
        image_size: a.size,
        face_fraction: (a.face_min, a.face_max),
        seed: a.seed,
        hair: None,
    };
    let rows =
        synth::generate(&spec, &a.out).with_context(|| format!("synth -> {}", a.out.display()))?;
    if v != Verbosity::Quiet {
        eprintln!(
            "{} faces in {} (truth: {})",
            rows.len(),
            a.out.join("images").display(),
            a.out.join("truth.csv").display()
        );
    }
    Ok(())
}
