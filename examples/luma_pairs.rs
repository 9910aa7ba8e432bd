//! The luma layout similarity of every near-duplicate candidate pair of a prep output, to
//! choose `[prep.dedup] luma_min`: `cargo run --release --example luma_pairs -- OUT` (OUT
//! prepped with `--no-near-dedup`, so every image is written). Prints one line per pair
//! within pHash and dHash 10: `a b phash dhash r spot` (the best alignment's correlation and largest local
//! difference, [`facesynth::prep::hash::LumaMatch`]).

use facesynth::prep::hash::{luma_grid, luma_match};

fn main() -> anyhow::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let rows = facesynth::dataset::manifest::read(&dir.join("manifest.csv"))?;
    let mut items = Vec::new();
    for r in rows
        .iter()
        .filter(|r| !r.phash.is_empty() && !r.output.is_empty())
    {
        let Ok(img) = image::open(dir.join(&r.output)) else {
            continue;
        };
        items.push((
            r.source.clone(),
            u64::from_str_radix(&r.phash, 16)?,
            u64::from_str_radix(&r.dhash, 16)?,
            luma_grid(&img.to_luma8()),
        ));
    }
    for i in 0..items.len() {
        for j in i + 1..items.len() {
            let (a, b) = (&items[i], &items[j]);
            let (p, d) = ((a.1 ^ b.1).count_ones(), (a.2 ^ b.2).count_ones());
            if p <= 10 && d <= 10 {
                let m = luma_match(&a.3, &b.3);
                println!("{} {} {p} {d} {:.4} {:.3}", a.0, b.0, m.r, m.spot);
            }
        }
    }
    Ok(())
}
