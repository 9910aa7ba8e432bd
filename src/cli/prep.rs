//! `facesynth prep`: flags over the pipeline file over defaults, then one library call.

use super::parse::number;
use anyhow::Context;
use clap::Args;
use facesynth::config::{Overlay, PipelineConfig};
use facesynth::prep::{self, crop, normalize, resize, PrepSection, PrepSpec};
use facesynth::progress::Verbosity;
use std::path::PathBuf;

/// Arguments of `facesynth prep`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  facesynth prep raw/ --out data/              centre crop, 64 px, dedup on
  facesynth prep raw/ --out data/ --crop trim --size 96 --normalize autocontrast
  facesynth prep raw/ --out data/ --crop bbox --bbox boxes.csv --margin 0.2
  facesynth prep raw/ --out data/ --detector lbpcascade_animeface.xml --faces all
  facesynth prep raw/ --out data/ --pipeline pipelines/photos-trim.toml --jobs 2

Re-running on the same OUT resumes: finished files are skipped, new ones processed.
Exit status: 0 when the run completed (rejected files are reported, not errors),
1 when it could not run (unreadable INPUT, bad pipeline file), 2 for a bad command line.")]
pub struct PrepArgs {
    /// Folder of raw images (searched recursively).
    pub input: PathBuf,
    /// Output folder: images/, manifest.csv, stats.json, report.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Pipeline file whose [prep] section gives the settings (flags win).
    #[arg(long)]
    pub pipeline: Option<PathBuf>,
    /// How to find the face.
    #[arg(long, value_enum)]
    pub crop: Option<crop::CropMode>,
    /// Box CSV (file,x,y,w,h) for --crop bbox (implies it when --crop is not given).
    #[arg(long, conflicts_with = "detector")]
    pub bbox: Option<PathBuf>,
    /// Border added around the crop box (center, trim, bbox, detect), as a fraction of its
    /// side, 0-2, clamped to the image [default: 0, 0.3 with --crop detect].
    #[arg(long, value_parser = in_range(0.0, 2.0))]
    pub margin: Option<f32>,
    /// OpenCV cascade XML for --crop detect (implies it when --crop is not given).
    #[arg(long, value_name = "FILE.xml")]
    pub detector: Option<PathBuf>,
    /// Detector pyramid step, 1.01 to 4 [default: 1.1].
    #[arg(long, value_parser = scale_factor)]
    pub scale_factor: Option<f64>,
    /// Raw detector hits a face needs [default: 5].
    #[arg(long)]
    pub min_neighbors: Option<u32>,
    /// Smallest face side for the detector, pixels [default: 24].
    #[arg(long)]
    pub min_face: Option<u32>,
    /// Keep the largest face or every face.
    #[arg(long, value_enum)]
    pub faces: Option<crop::Faces>,
    /// Output side in pixels, 8-2048 [default: 64].
    #[arg(long, value_parser = clap::value_parser!(u32).range(8..=2048))]
    pub size: Option<u32>,
    /// Resampling filter [default: lanczos3].
    #[arg(long, value_enum)]
    pub filter: Option<resize::Filter>,
    /// Non-square crops: crop, pad or stretch [default: crop].
    #[arg(long, value_enum)]
    pub aspect: Option<resize::Aspect>,
    /// Tone normalization [default: none].
    #[arg(long, value_enum)]
    pub normalize: Option<normalize::NormalizeMode>,
    /// Output format [default: png].
    #[arg(long, value_enum)]
    pub format: Option<prep::OutputFormat>,
    /// Largest pHash distance of near duplicates, at most 24 [default: 10].
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=24))]
    pub phash_max: Option<u32>,
    /// Turn off near-duplicate removal (exact duplicates are still removed).
    #[arg(long, overrides_with = "near_dedup")]
    pub no_near_dedup: bool,
    /// Turn near-duplicate removal on where a pipeline file turned it off.
    #[arg(long, overrides_with = "no_near_dedup")]
    pub near_dedup: bool,
    /// Match mirror images as duplicates too.
    #[arg(long, overrides_with = "no_flip_dedup")]
    pub flip_dedup: bool,
    /// Do not match mirror images, where a pipeline file asks for it.
    #[arg(long, overrides_with = "flip_dedup")]
    pub no_flip_dedup: bool,
    /// Worker threads (0: one per core) [default: all cores].
    #[arg(long, short)]
    pub jobs: Option<usize>,
}

impl PrepArgs {
    /// The flags as a pipeline section, so they overlay the file field by field.
    fn as_section(&self) -> PrepSection {
        let mut s = PrepSection {
            jobs: self.jobs,
            format: self.format,
            ..Default::default()
        };
        // `--detector` names the cascade of crop mode detect: alone, it asks for that
        // mode, over a pipeline file's other one (which once won, and the run cropped
        // the centre without a word).
        // `--bbox` likewise asks for crop mode bbox (it was ignored, and the centre cropped).
        s.crop.mode = self.crop.or(match (&self.detector, &self.bbox) {
            (Some(_), _) => Some(crop::CropMode::Detect),
            (_, Some(_)) => Some(crop::CropMode::Bbox),
            _ => None,
        });
        s.crop.bbox_csv = self.bbox.clone();
        s.crop.margin = self.margin;
        s.crop.faces = self.faces;
        s.detect.detector = self.detector.clone();
        s.detect.scale_factor = self.scale_factor;
        s.detect.min_neighbors = self.min_neighbors;
        s.detect.min_size = self.min_face;
        s.resize.size = self.size;
        s.resize.filter = self.filter;
        s.resize.aspect = self.aspect;
        s.normalize.mode = self.normalize;
        s.dedup.phash_max = self.phash_max;
        s.dedup.near = switch(self.near_dedup, self.no_near_dedup);
        s.dedup.flip = switch(self.flip_dedup, self.no_flip_dedup);
        s
    }

    /// Flags over pipeline file over defaults.
    pub fn resolve(&self) -> anyhow::Result<PrepSpec> {
        let file = PipelineConfig::load_or_default(self.pipeline.as_deref())?;
        self.check_companions(&file.prep)?;
        let spec =
            PrepSpec::resolve(file.prep.clone().overlay(self.as_section())).map_err(|e| {
                // Flags are range-checked as they are parsed: a value out of range that the
                // file alone gives too is the file's, and the reason names it.
                match (&self.pipeline, PrepSpec::resolve(file.prep)) {
                    (Some(p), Err(alone)) if alone.to_string() == e.to_string() => {
                        anyhow::anyhow!("pipeline file {}: {e}", p.display())
                    }
                    _ => e.into(),
                }
            })?;
        self.check_against(&spec)?;
        Ok(spec)
    }

    /// A crop mode given by flag without the file it reads, from a flag or the pipeline
    /// file, and `--jobs` over [`prep::MAX_JOBS`]: a bad command line (exit 2), named by
    /// its flags (the pipeline key was named though no file was given).
    fn check_companions(&self, file: &PrepSection) -> anyhow::Result<()> {
        if let Some(j) = self.jobs.filter(|&j| j > prep::MAX_JOBS) {
            return Err(super::usage(format!(
                "--jobs {j} is over {}: each worker holds a whole decoded image",
                prep::MAX_JOBS
            )));
        }
        match self.crop {
            Some(crop::CropMode::Bbox) if self.bbox.is_none() && file.crop.bbox_csv.is_none() => {
                return Err(super::usage("--crop bbox needs --bbox FILE.csv".into()))
            }
            Some(crop::CropMode::Detect)
                if self.detector.is_none() && file.detect.detector.is_none() =>
            {
                return Err(super::usage(
                    "--crop detect needs --detector FILE.xml".into(),
                ))
            }
            _ => {}
        }
        Ok(())
    }

    /// Flags that the resolved settings would not use are a bad command line (exit 2):
    /// `--crop center --bbox boxes.csv` cropped the centre and never read the boxes.
    fn check_against(&self, spec: &PrepSpec) -> anyhow::Result<()> {
        use crop::CropMode::*;
        let mode = spec.crop.mode;
        let name = |m: crop::CropMode| format!("{m:?}").to_lowercase();
        let unused = |flag: &str, wants: &str| {
            Err(super::usage(format!(
                "{flag} applies to {wants}, but the crop mode is {}",
                name(mode)
            )))
        };
        if self.bbox.is_some() && mode != Bbox {
            return unused("--bbox", "--crop bbox");
        }
        let tuning = self.scale_factor.is_some() || self.min_neighbors.is_some();
        if (self.detector.is_some() || tuning || self.min_face.is_some()) && mode != Detect {
            let flag = match () {
                _ if self.detector.is_some() => "--detector",
                _ if self.scale_factor.is_some() => "--scale-factor",
                _ if self.min_neighbors.is_some() => "--min-neighbors",
                _ => "--min-face",
            };
            return unused(flag, "--crop detect");
        }
        if self.faces.is_some() && !matches!(mode, Bbox | Detect) {
            return unused("--faces", "--crop bbox and detect");
        }
        if self.margin.is_some() && mode == None {
            return unused("--margin", "a crop box (every mode but none)");
        }
        if !spec.dedup.near && (self.phash_max.is_some() || self.flip_dedup) {
            let flag = if self.flip_dedup {
                "--flip-dedup"
            } else {
                "--phash-max"
            };
            return Err(super::usage(format!(
                "{flag} tunes near-duplicate removal, which is off"
            )));
        }
        Ok(())
    }
}

/// A number in `lo..=hi` (the same bounds the pipeline file's key has), so that a bad
/// flag is a bad command line (exit 2).
fn in_range(lo: f32, hi: f32) -> impl Fn(&str) -> Result<f32, String> + Clone {
    move |s: &str| {
        number(
            s,
            |v: f32| (lo..=hi).contains(&v),
            &format!("in {lo}..{hi}"),
        )
    }
}

/// A detector pyramid step: 1.01 to 4 (the range `prep`'s settings take).
fn scale_factor(s: &str) -> Result<f64, String> {
    use facesynth::detect::{MAX_SCALE_FACTOR, MIN_SCALE_FACTOR};
    number(
        s,
        |v: f64| (MIN_SCALE_FACTOR..=MAX_SCALE_FACTOR).contains(&v),
        "1.01 to 4",
    )
}

/// An on/off setting from a pair of flags: `Some` only when one was given, so that the
/// pipeline file's value stands otherwise (the last flag wins, `overrides_with`).
fn switch(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

pub fn run(args: PrepArgs, v: Verbosity) -> anyhow::Result<()> {
    let spec = args.resolve()?;
    facesynth::interrupt::announce(
        "facesynth prep: interrupted; what it wrote stands, and the same command resumes from it",
    );
    let report = prep::run(&args.input, &args.out, &spec, v)
        .with_context(|| format!("prep {} -> {}", args.input.display(), args.out.display()))?;
    if v != Verbosity::Quiet {
        eprint!("{report}");
        eprintln!("manifest: {}", args.out.join("manifest.csv").display());
        match &report.page {
            Ok(page) => eprintln!("report: {}", page.display()),
            Err(e) => eprintln!("warning: no report page: {e}"),
        }
    } else {
        // Quiet keeps the summary out of logs, not what went wrong beside the files.
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use facesynth::prep::crop::CropMode;

    /// Flags over the pipeline file: `--detector` over `pipelines/default.toml`'s centre
    /// mode crops by the detector, with detect's margin, not the centre's 0.
    #[test]
    fn a_detector_flag_beats_the_files_crop_mode_and_its_margin() {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/default.toml");
        let resolve = |more: &[&str]| {
            let mut args = vec!["facesynth", "prep", "raw", "--out", "o", "--pipeline", file];
            args.extend(more);
            match Cli::try_parse_from(args).unwrap().command {
                Command::Prep(a) => a.resolve().unwrap(),
                _ => unreachable!(),
            }
        };
        let s = resolve(&["--detector", "a.xml"]);
        assert_eq!((s.crop.mode, s.crop.margin), (CropMode::Detect, 0.3));
        let s = resolve(&["--crop", "detect", "--detector", "a.xml"]);
        assert_eq!((s.crop.mode, s.crop.margin), (CropMode::Detect, 0.3));
        let s = resolve(&["--detector", "a.xml", "--margin", "0.1"]);
        assert_eq!(s.crop.margin, 0.1);
        // The file alone: the default mode and margin.
        let s = resolve(&[]);
        assert_eq!((s.crop.mode, s.crop.margin), (CropMode::Center, 0.0));
        // Regression: a copy of the file with its detector (or box CSV) line uncommented
        // still cropped the centre, the file's `mode = "center"` standing.
        let text = std::fs::read_to_string(file)
            .unwrap()
            .replace("# detector = ", "detector = ");
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("mine.toml");
        std::fs::write(&copy, text).unwrap();
        let args = ["facesynth", "prep", "raw", "--out", "o", "--pipeline"];
        let parsed = Cli::try_parse_from(args.iter().copied().chain([copy.to_str().unwrap()]));
        let Command::Prep(a) = parsed.unwrap().command else {
            unreachable!()
        };
        let s = a.resolve().unwrap();
        assert_eq!((s.crop.mode, s.crop.margin), (CropMode::Detect, 0.3));
    }
}
