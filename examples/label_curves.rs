//! The label benchmark's plot: accuracy on the test split against the number of oracle
//! labels, one line per query strategy, one panel per attribute, from the
//! `DIR/*/labels/simulate.json` files that `scripts/bench-label.sh` leaves.
//!
//! ```text
//! cargo run --release --example label_curves -- bench-out/label bench-out/label/curves.png
//! ```
//! A run named `all-labels` (one point, every training label) is drawn as a flat line:
//! the ceiling the strategies are measured against.

use facesynth::report::plot::{line_chart, LineChart, Series};
use serde_json::Value;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, out] = args.as_slice() else {
        anyhow::bail!("usage: label_curves BENCH_DIR OUT.png");
    };
    let mut runs: Vec<(String, Value)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path().join("labels/simulate.json");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let name = path
                .ancestors()
                .nth(2)
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            runs.push((name, serde_json::from_str(&text)?));
        }
    }
    runs.sort_by(|a, b| a.0.cmp(&b.0));
    anyhow::ensure!(!runs.is_empty(), "no */labels/simulate.json under {dir}");
    let x_max = runs
        .iter()
        .filter(|(n, _)| n != "all-labels")
        .flat_map(|(_, r)| curve(r, "hair_color"))
        .map(|p| p.0)
        .fold(0.0, f64::max);
    let mut panels = Vec::new();
    for attr in ["hair_color", "eye_color"] {
        let series = runs
            .iter()
            .map(|(name, r)| {
                let mut points = curve(r, attr);
                if name == "all-labels" {
                    // Every training label: a ceiling across the plot.
                    let y = points.last().map_or(f64::NAN, |p| p.1);
                    let n = points.last().map_or(0.0, |p| p.0);
                    points = vec![(0.0, y), (x_max, y)];
                    return Series {
                        name: format!("all {n:.0} labels"),
                        points,
                    };
                }
                Series {
                    name: name.clone(),
                    points,
                }
            })
            .collect();
        let png = line_chart(&LineChart {
            title: format!("{attr}: CNN accuracy on the test split (full coverage)"),
            x_label: "oracle labels".into(),
            y_label: "accuracy".into(),
            series,
            y_range: None,
            smooth: false,
        });
        panels.push(image::load_from_memory(&png.bytes)?.to_rgb8());
    }
    // The two panels stacked.
    let (w, h) = panels[0].dimensions();
    let mut sheet = image::RgbImage::new(w, h * panels.len() as u32);
    for (i, p) in panels.iter().enumerate() {
        image::imageops::replace(&mut sheet, p, 0, (i as u32 * h) as i64);
    }
    let out = PathBuf::from(out);
    facesynth::atomic::save_image(&out, &image::DynamicImage::ImageRgb8(sheet))?;
    println!("{}", out.display());
    Ok(())
}

/// (labels, accuracy) per round of a simulation.
fn curve(r: &Value, attr: &str) -> Vec<(f64, f64)> {
    r["curve"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["labels"].as_f64()?, c["accuracy"][attr].as_f64()?)))
        .collect()
}
