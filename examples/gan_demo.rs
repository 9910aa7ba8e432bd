//! Trains the demo's small conditional GAN on synthetic faces and writes per-class grids.
//!
//! `cargo run --release --example gan_demo -- OUT` (default OUT: bench-out/gan-demo)

use facesynth::progress::Verbosity;
use facesynth::synth::{self, SynthSpec};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("bench-out/gan-demo"));
    let data = out.join("faces");
    synth::generate(
        &SynthSpec {
            n: 600,
            image_size: 32,
            seed: 1,
            ..SynthSpec::default()
        },
        &data,
    )?;
    let t = Instant::now();
    let r = facesynth::gan::demo_step(&data, &out, Verbosity::Normal)?;
    println!(
        "{} steps in {:.0} s ({:.0} images/s); grid: {}",
        r.train.steps,
        t.elapsed().as_secs_f32(),
        r.train.images_per_sec,
        r.grid.display()
    );
    for w in &r.train.warnings {
        println!("warning: {w}");
    }
    Ok(())
}
