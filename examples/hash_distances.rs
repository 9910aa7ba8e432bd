//! Distance distributions of pHash and dHash between the prepared images of a folder,
//! to choose near-duplicate thresholds: `cargo run --release --example hash_distances -- OUT`
//! (OUT a prep output folder; prints a histogram of the nearest other image's distances).

fn main() -> anyhow::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let rows = facesynth::dataset::manifest::read(&dir.join("manifest.csv"))?;
    let hs: Vec<(String, u64, u64)> = rows
        .iter()
        .filter(|r| !r.phash.is_empty())
        .map(|r| {
            (
                r.source.clone(),
                u64::from_str_radix(&r.phash, 16).unwrap(),
                u64::from_str_radix(&r.dhash, 16).unwrap(),
            )
        })
        .collect();
    let mut hist = vec![[0usize; 65]; 65];
    for i in 0..hs.len() {
        for j in i + 1..hs.len() {
            let p = (hs[i].1 ^ hs[j].1).count_ones() as usize;
            let d = (hs[i].2 ^ hs[j].2).count_ones() as usize;
            if p <= 20 {
                hist[p][d] += 1;
                if std::env::var("SHOW").is_ok() && p <= 14 {
                    println!("{} {} p={p} d={d}", hs[i].0, hs[j].0);
                }
            }
        }
    }
    for (p, row) in hist.iter().enumerate().take(21) {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(d, c)| format!("d{d}:{c}"))
            .collect();
        println!("p{p:2}: {}", cells.join(" "));
    }
    Ok(())
}
