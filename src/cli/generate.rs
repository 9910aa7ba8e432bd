//! `facesynth generate`: flags into a `GenerateSpec`, one library call, a summary.

use super::parse::{at_least, number};
use anyhow::Context;
use clap::Args;
use facesynth::gan::{self, GenerateSpec};
use facesynth::progress::Verbosity;
use std::path::PathBuf;

/// Arguments of `facesynth generate`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  facesynth generate --checkpoint runs/acgan --attr hair_color=blonde --n 64 --out out/blonde
  facesynth generate --checkpoint runs/acgan --per-class 8 --out out/per-class
  facesynth generate --checkpoint runs/per-hair --per-class 8 --out out/split   (one model per class)
  facesynth generate --checkpoint runs/cgan --attr hair_color=red,eye_color=blue --truncation 1.5 --out out/red
  facesynth generate --checkpoint runs/info --attr code=3 --interpolate 10 --out out/three
  facesynth generate --checkpoint runs/dcgan --mu 0.5 --sigma 0.8 --mean-sweep --out out/sweep")]
pub struct GenerateArgs {
    /// Run folder written by `facesynth train --out`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Fixed attribute values, ATTR=VALUE, comma-separated or repeated (InfoGAN:
    /// code=K). A comma not followed by ATTR= belongs to the value ("tag=blue, green").
    #[arg(long, value_parser = attr_values)]
    pub attr: Vec<AttrList>,
    /// Number of images (without --per-class).
    #[arg(long, default_value_t = 64, value_parser = at_least::<usize, 1>, conflicts_with = "per_class")]
    pub n: usize,
    /// N images per class: OUT/<value>/<i>.png and a grid with one row per value.
    #[arg(long, value_parser = at_least::<usize, 1>)]
    pub per_class: Option<usize>,
    /// Also write interpolation.png: rows of K steps between two latent points.
    #[arg(long, value_name = "K")]
    pub interpolate: Option<usize>,
    /// Mean of the latent noise.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub mu: f32,
    /// Standard deviation of the latent noise.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub sigma: f32,
    /// Truncation trick: redraw noise values beyond T standard deviations (T > 0).
    #[arg(long, value_name = "T", value_parser = positive)]
    pub truncation: Option<f32>,
    /// Also write mean_sweep.png: the mean face for mu = -2, -1.5, ..., 2.
    #[arg(long)]
    pub mean_sweep: bool,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder: new, empty, or one an earlier `generate` wrote (the files it listed
    /// in generate.json are replaced; a folder of other files is refused).
    #[arg(long)]
    pub out: PathBuf,
}

/// `ATTR=VALUE` of `--attr`.
/// The pairs of one `--attr`.
#[derive(Debug, Clone)]
pub struct AttrList(Vec<(String, String)>);

/// `ATTR=VALUE[,ATTR=VALUE...]`: a comma starts a new pair only where `ATTR=` follows,
/// so a value may hold commas (a tag such as "blue, green": training takes those, and
/// the plain split on every comma refused them).
fn attr_values(list: &str) -> Result<AttrList, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for piece in list.split(',') {
        match (piece.split_once('='), out.last_mut()) {
            (Some((k, v)), _) => out.push((k.trim().to_string(), v.trim().to_string())),
            (None, Some((_, v))) => {
                v.push(',');
                v.push_str(piece.trim_end());
            }
            (None, None) => return Err("expected ATTR=VALUE, e.g. hair_color=blonde".into()),
        }
    }
    Ok(AttrList(out))
}

/// A finite number of standard deviations above 0 (`--truncation`).
fn positive(s: &str) -> Result<f32, String> {
    number(
        s,
        |t: f32| t > 0.0 && t.is_finite(),
        "a number of standard deviations above 0, e.g. 2",
    )
}

pub fn run(a: GenerateArgs, v: Verbosity) -> anyhow::Result<()> {
    let spec = GenerateSpec {
        run: a.checkpoint.clone(),
        out: a.out.clone(),
        n: a.n,
        attrs: a.attr.into_iter().flat_map(|l| l.0).collect(),
        per_class: a.per_class,
        interpolate: a.interpolate,
        mu: a.mu,
        sigma: a.sigma,
        truncation: a.truncation,
        mean_sweep: a.mean_sweep,
        seed: a.seed,
    };
    let r = gan::generate(&spec)
        .with_context(|| format!("generating from {}", a.checkpoint.display()))?;
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if v == Verbosity::Normal {
        eprintln!("wrote {} images to {}", r.images, a.out.display());
        for g in &r.grids {
            eprintln!("  {}", g.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::attr_values;

    /// Regression: every comma split the list, so a value holding one (a tag such as
    /// "blue, green") could not be asked for.
    #[test]
    fn a_value_may_hold_a_comma() {
        let pairs = |s: &str| attr_values(s).unwrap().0;
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            pairs("hair_color=red,eye_color=blue"),
            [p("hair_color", "red"), p("eye_color", "blue")]
        );
        assert_eq!(pairs("tag=blue, green"), [p("tag", "blue, green")]);
        assert_eq!(
            pairs("tag=blue, green,code=3"),
            [p("tag", "blue, green"), p("code", "3")]
        );
        assert!(attr_values("red").is_err());
    }
}
