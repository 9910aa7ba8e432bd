//! Throughput figures for `scripts/bench-prep.sh`: decode-only and full prep on the same
//! files with the same thread count, so their ratio is measured in one run.
//!
//! `cargo run --release --example prep_bench -- DIR JOBS OUT`

use facesynth::dataset::walk;
use facesynth::prep::{self, scan, PrepSpec};
use facesynth::progress::Verbosity;
use rayon::prelude::*;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 4, "usage: prep_bench DIR JOBS OUT");
    let (dir, jobs, out) = (
        std::path::Path::new(&args[1]),
        args[2].parse::<usize>()?,
        std::path::Path::new(&args[3]),
    );
    let files = walk::files(dir)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?;

    // Read every file once, untimed: decode-only runs first, and on a cold page cache it
    // would time the disk (8,750 files/s one run, 14,000-28,000 others) while prep, run
    // after it, reads from memory.
    pool.install(|| {
        files.par_iter().for_each(|p| {
            let _ = std::fs::read(p);
        })
    });

    // Each timed phase starts with no written data waiting for the disk: without this the
    // files of the write-only phase were still being written back while prep ran, and
    // prep paid for them (prep / peer moved 4.0x-5.0x between runs on one machine).
    settle();
    // Decode only: read + decode + RGB8, the floor any prep must pay.
    let t = Instant::now();
    let ok = pool.install(|| {
        files
            .par_iter()
            .filter(|p| scan::decode_file(p, &Default::default()).is_ok())
            .count()
    });
    let decode = files.len() as f64 / t.elapsed().as_secs_f64();

    // Write only: one ~10 KB file per input (the size of a 64 px PNG face), written the
    // way prep writes its images (atomically), with the same threads. Decoding and writing
    // alone bound what any prep that writes one file per image can reach.
    let written = &out.join(format!("write-{}", std::process::id()));
    let bytes = vec![0x5au8; 10 * 1024];
    let t = Instant::now();
    pool.install(|| {
        (0..files.len())
            .into_par_iter()
            .try_for_each(|i| facesynth::atomic::write(&written.join(format!("{i}.png")), &bytes))
    })?;
    let write = files.len() as f64 / t.elapsed().as_secs_f64();
    // Decode then write, back to back: files per second of the two costs added.
    let floor = 1.0 / (1.0 / decode + 1.0 / write);

    // Full prep: centre crop, 64 px, dedup on, into a folder that never existed (deleting
    // an earlier run's thousands of files just before would load the file system while
    // timing). Left in place: the script deletes it once every figure is taken.
    let out = &out.join(format!("run-{}", std::process::id()));
    settle();
    let spec = PrepSpec {
        jobs,
        ..PrepSpec::default()
    };
    let t = Instant::now();
    let report = prep::run(dir, out, &spec, Verbosity::Quiet)?;
    let full = files.len() as f64 / t.elapsed().as_secs_f64();
    println!(
        "{{\"files\": {}, \"decoded\": {ok}, \"jobs\": {jobs}, \"decode_per_s\": {decode:.1}, \"write_per_s\": {write:.1}, \"decode_and_write_per_s\": {floor:.1}, \"prep_per_s\": {full:.1}, \"ratio\": {:.3}, \"bound\": {:.3}, \"kept\": {}}}",
        files.len(),
        full / decode,
        floor / decode,
        report.count(facesynth::dataset::manifest::Status::Kept)
    );
    Ok(())
}

/// Writes every dirty page to disk (`sync(2)`), outside the timed phases.
fn settle() {
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
}
