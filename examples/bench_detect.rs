//! Timing half of `scripts/bench-detect.sh` (not a user-facing tool).
//!
//! `cargo run --release --example bench_detect -- OUT SET CASCADE.xml THREADS`
//!
//! Loads the grey PNGs of `OUT/SET/`, detects with OpenCV's benchmark settings (scale
//! factor 1.1, 5 neighbours, 24 px minimum, equalized) on a rayon pool of THREADS
//! (images in parallel, scales nested), keeps the best of 2 timed passes, and writes
//! `OUT/facesynth.SET.CASCADE.tTHREADS.json` in the format the Python side reads.

use std::collections::BTreeMap;
use std::path::Path;

use facesynth::detect::{Cascade, DetectSpec};
use rayon::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, set, cascade, threads] = &args[..] else {
        return Err("usage: bench_detect OUT SET CASCADE.xml THREADS".into());
    };
    let cascade_path = Path::new(cascade);
    let cascade = Cascade::load(cascade_path)?;
    let mut files: Vec<_> = std::fs::read_dir(Path::new(out).join(set))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    let images: Vec<_> = files
        .iter()
        .map(|f| image::open(f).map(|i| i.to_luma8()))
        .collect::<Result<_, _>>()?;
    let spec = DetectSpec {
        min_neighbors: 5,
        min_size: (24, 24),
        equalize: true,
        ..DetectSpec::default()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.parse()?)
        .build()?;
    let mut best = f64::INFINITY;
    let mut boxes = Vec::new();
    for _ in 0..2 {
        let start = std::time::Instant::now();
        let found: Vec<_> = pool.install(|| {
            images
                .par_iter()
                .map(|g| cascade.detect(g, &spec))
                .collect()
        });
        let secs = start.elapsed().as_secs_f64();
        if secs < best {
            best = secs;
            boxes = found;
        }
    }
    let map: BTreeMap<String, Vec<[u32; 4]>> = files
        .iter()
        .zip(&boxes)
        .map(|(f, b)| {
            let name = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (
                name,
                b.iter().map(|d| [d.x, d.y, d.width, d.height]).collect(),
            )
        })
        .collect();
    let tag = cascade_path
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy();
    let json = serde_json::json!({ "seconds": best, "images": images.len(), "boxes": map });
    std::fs::write(
        Path::new(out).join(format!("facesynth.{set}.{tag}.t{threads}.json")),
        json.to_string(),
    )?;
    println!(
        "{set} {tag} t{threads}: {:.1} images/s",
        images.len() as f64 / best
    );
    Ok(())
}
