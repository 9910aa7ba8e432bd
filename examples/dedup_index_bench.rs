//! Growth of near-duplicate grouping with input size, for `scripts/bench-prep.sh`:
//! random 64-bit hashes with 10% planted near copies (1-10 bits flipped), grouped at the
//! default radius; prints the time per size, the share of planted copies found (by
//! distance 9-10 separately) and the fitted growth exponent.
//!
//! `cargo run --release --example dedup_index_bench -- 10000 100000 1000000`

use facesynth::prep::dedup::{dedup, DedupItem, DedupSpec, Layouts};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::time::Instant;

fn items(n: usize, seed: u64) -> Vec<DedupItem> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v: Vec<DedupItem> = Vec::with_capacity(n);
    for i in 0..n {
        let (phash, dhash) = if i % 10 == 9 {
            let src = v[rng.random_range(0..i)];
            let mut p = src.phash;
            // Flip exactly k distinct bits.
            let k = rng.random_range(1..=10);
            while (p ^ src.phash).count_ones() < k {
                p ^= 1 << rng.random_range(0..64);
            }
            (p, src.dhash)
        } else {
            (rng.random(), rng.random())
        };
        v.push(DedupItem {
            file_hash: i as u32,
            pixel_hash: i as u64,
            phash,
            dhash,
            layout_key: 0,
            area: 1,
            bytes: 1,
        });
    }
    v
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000, 1_000_000]
    } else {
        sizes
    };
    let mut points = Vec::new();
    for &n in &sizes {
        let v = items(n, n as u64);
        let t = Instant::now();
        let a = dedup(&v, &[], |_| Layouts::BLANK, &DedupSpec::default());
        let s = t.elapsed().as_secs_f64();
        let dups = a.iter().filter(|x| x.is_some()).count();
        // Planted copies at distance 9-10 from their source: how many were grouped.
        let far: Vec<usize> = (0..n).filter(|&i| i % 10 == 9 && a[i].is_some()).collect();
        let planted = n / 10;
        println!("{{\"n\": {n}, \"seconds\": {s:.4}, \"duplicates\": {dups}, \"planted\": {planted}, \"planted_found\": {}}}", far.len());
        points.push(((n as f64).ln(), s.max(1e-6).ln()));
    }
    if points.len() >= 2 {
        let (a, b) = (points[0], points[points.len() - 1]);
        println!("{{\"growth_exponent\": {:.3}}}", (b.1 - a.1) / (b.0 - a.0));
    }
}
