//! MNIST's IDX files as a folder of PNG digits, for `prep` and the label loop on
//! `labels/digits.toml` (`train` and `eval` read IDX themselves with `--mnist`):
//! `cargo run --release --example mnist_folder -- MNIST_DIR OUT [N]` writes the first N
//! digits (default all) to `OUT/raw/NNNNN.png` and their labels to `OUT/truth.csv`
//! (`file,digit`, the names `label import` and `label simulate --oracle` resolve). Then:
//! `facesynth prep OUT/raw --out OUT/data --pipeline pipelines/digits.toml`.

use std::io::Write;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mnist), Some(out)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: mnist_folder MNIST_DIR OUT [N]");
    };
    let ds = facesynth::gan::data::load_mnist(std::path::Path::new(mnist), 28)?;
    let n = args
        .get(3)
        .map_or(Ok(ds.len()), |s| s.parse())?
        .min(ds.len());
    let raw = std::path::Path::new(out).join("raw");
    std::fs::create_dir_all(&raw)?;
    let mut truth = std::fs::File::create(std::path::Path::new(out).join("truth.csv"))?;
    writeln!(truth, "file,digit")?;
    let len = ds.image_len();
    for i in 0..n {
        let px = ds.pixels[i * len..(i + 1) * len].to_vec();
        let img = image::GrayImage::from_raw(ds.size, ds.size, px)
            .ok_or_else(|| anyhow::anyhow!("digit {i}: not {0}x{0} pixels", ds.size))?;
        img.save(raw.join(format!("{i:05}.png")))?;
        let digit = &ds.attrs[0].values[ds.labels[i] as usize];
        writeln!(truth, "{i:05}.png,{digit}")?;
    }
    eprintln!("{n} digits in {} and {out}/truth.csv", raw.display());
    Ok(())
}
