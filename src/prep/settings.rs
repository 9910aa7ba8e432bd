//! prep's settings: the `[prep]` section of a pipeline file (every field optional), the
//! flags over it, and the resolved [`PrepSpec`] with defaults filled in and values checked.

use super::crop::{CropMode, CropSpec, Faces};
use super::dedup::DedupSpec;
use super::normalize::NormalizeMode;
use super::quality::QualitySpec;
use super::resize::{Aspect, Filter, ResizeSpec};
use super::scan::DecodeSpec;
use crate::config::{ConfigError, Overlay};
use crate::detect::DetectSpec;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Output image encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Lossless PNG (default).
    #[default]
    Png,
    /// JPEG at quality 95.
    Jpeg,
}

macro_rules! section {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name { $($(#[$fm])* pub $field: Option<$ty>),* }
        impl Overlay for $name {
            fn overlay(self, over: Self) -> Self {
                $name { $($field: over.$field.or(self.$field)),* }
            }
        }
    };
}

/// An RGB colour of exactly three numbers: serde's fixed arrays took the first three of
/// `[1, 2, 3, 4, 5]` and `[9, 9, 9, "x"]` and dropped the rest without a word.
fn rgb<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<[u8; 3]>, D::Error> {
    let v: Vec<u8> = Vec::deserialize(d)?;
    let n = v.len();
    <[u8; 3]>::try_from(v)
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("an RGB colour is 3 numbers, not {n}")))
}

section!(
    /// `[prep.decode]`.
    DecodeSection {
        /// Largest width or height decoded, pixels (16384).
        max_side: u32,
        /// Colour transparent pixels are composited onto, RGB ([255, 255, 255]).
        #[serde(default, deserialize_with = "rgb")]
        background: [u8; 3],
    }
);
section!(
    /// `[prep.quality]`: thresholds; 0 turns a check off.
    QualitySection {
        /// Smallest source side, pixels (32).
        min_side: u32,
        /// Largest long/short side ratio (3.0).
        max_aspect: f32,
        /// Too dark below this 99th-percentile brightness, 0-255 (40).
        dark_p99: f32,
        /// Too light above this 1st-percentile brightness, 0-255 (215; 0 = off).
        light_p01: f32,
        /// Blurry below this variance of the Laplacian, measured at 64 px (30).
        min_laplacian_var: f32,
        /// Low information below this grey entropy, bits (3.0).
        min_entropy: f32,
    }
);
section!(
    /// `[prep.crop]`.
    CropSection {
        /// none, center, trim, bbox (center).
        mode: CropMode,
        /// Border added around a found box, fraction of its side (0.0).
        margin: f32,
        /// Make boxes square (true).
        square: bool,
        /// Border colour tolerance for trim (12).
        trim_tolerance: u8,
        /// Box CSV for bbox mode, `file,x,y,w,h`.
        bbox_csv: PathBuf,
        /// largest or all faces (largest).
        faces: Faces,
    }
);
section!(
    /// `[prep.detect]`: the face detector of crop mode `detect` (margin and squareness
    /// are `[prep.crop]`'s).
    DetectSection {
        /// OpenCV cascade XML, e.g. lbpcascade_animeface.xml (none; setting it makes
        /// `detect` the default crop mode).
        detector: PathBuf,
        /// Pyramid scale step, > 1 (1.1).
        scale_factor: f64,
        /// Raw hits a face needs (5).
        min_neighbors: u32,
        /// Smallest face side, pixels (24).
        min_size: u32,
        /// Largest face side, pixels (0 = the image).
        max_size: u32,
        /// Histogram-equalize before detecting (true).
        equalize: bool,
    }
);
section!(
    /// `[prep.resize]`.
    ResizeSection {
        /// Output side, pixels (64).
        size: u32,
        /// nearest, triangle, catmullrom, gaussian, lanczos3 (lanczos3).
        filter: Filter,
        /// crop, pad, stretch (crop).
        aspect: Aspect,
        /// Pad colour, RGB ([0, 0, 0]).
        #[serde(default, deserialize_with = "rgb")]
        pad: [u8; 3],
    }
);
section!(
    /// `[prep.normalize]`.
    NormalizeSection {
        /// none, autocontrast, equalize (none).
        mode: NormalizeMode,
    }
);
section!(
    /// `[prep.dedup]`.
    DedupSection {
        /// Exact duplicates (true).
        exact: bool,
        /// Near duplicates (true).
        near: bool,
        /// Largest pHash distance of a near pair (10).
        phash_max: u32,
        /// Largest dHash distance confirming it (10).
        dhash_max: u32,
        /// Largest mean chroma-layout difference confirming it, 0-255 (6.0).
        chroma_max: f32,
        /// Least aligned luma-layout correlation confirming it, 0-1 (0.95; 0: off).
        luma_min: f32,
        /// Largest one-cell difference at that alignment, in standard units (1.0).
        luma_spot_max: f32,
        /// Match mirror images too (false).
        flip: bool,
    }
);

/// The `[prep]` section of a pipeline file, or the flags given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepSection {
    /// Worker threads (the number of cores).
    pub jobs: Option<usize>,
    /// png or jpeg (png).
    pub format: Option<OutputFormat>,
    /// Decoding.
    #[serde(default)]
    pub decode: DecodeSection,
    /// Quality thresholds.
    #[serde(default)]
    pub quality: QualitySection,
    /// Cropping.
    #[serde(default)]
    pub crop: CropSection,
    /// Face detection (crop mode `detect`).
    #[serde(default)]
    pub detect: DetectSection,
    /// Resizing.
    #[serde(default)]
    pub resize: ResizeSection,
    /// Tone normalization.
    #[serde(default)]
    pub normalize: NormalizeSection,
    /// Duplicates.
    #[serde(default)]
    pub dedup: DedupSection,
}

impl Overlay for PrepSection {
    fn overlay(mut self, over: Self) -> Self {
        // A crop mode given over another one: the lower layer's margin was for its own
        // mode (`pipelines/default.toml`'s 0 for centre crops), not this one (detect's
        // default 0.3 keeps the hair around a tight box).
        if over.crop.mode.is_some() && self.crop.mode.is_some() && over.crop.mode != self.crop.mode
        {
            self.crop.margin = None;
        }
        PrepSection {
            jobs: over.jobs.or(self.jobs),
            format: over.format.or(self.format),
            decode: self.decode.overlay(over.decode),
            quality: self.quality.overlay(over.quality),
            crop: self.crop.overlay(over.crop),
            detect: self.detect.overlay(over.detect),
            resize: self.resize.overlay(over.resize),
            normalize: self.normalize.overlay(over.normalize),
            dedup: self.dedup.overlay(over.dedup),
        }
    }
}

/// prep's resolved settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepSpec {
    /// Worker threads; 0 means the number of cores.
    pub jobs: usize,
    /// Output encoding.
    pub format: OutputFormat,
    /// Decoding.
    pub decode: DecodeSpec,
    /// Quality thresholds.
    pub quality: QualitySpec,
    /// Cropping.
    pub crop: CropSpec,
    /// Resizing.
    pub resize: ResizeSpec,
    /// Tone normalization.
    pub normalize: NormalizeMode,
    /// Duplicates.
    pub dedup: DedupSpec,
}

impl Default for PrepSpec {
    fn default() -> Self {
        PrepSpec::resolve(PrepSection::default()).expect("defaults are valid")
    }
}

/// The most worker threads `jobs` takes: rayon starts them all before any work
/// (`--jobs 100000` ran for minutes on five files), and each holds a decoded image.
pub const MAX_JOBS: usize = 1024;

/// Default `[prep.crop] margin` in `detect` mode, a fraction of the face box per side.
pub const DETECT_MARGIN: f32 = 0.3;

fn positive(v: f32) -> Option<f32> {
    (v > 0.0).then_some(v)
}

impl PrepSpec {
    /// Fills defaults into a (merged) section and checks ranges.
    pub fn resolve(s: PrepSection) -> Result<Self, ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        };
        let q = &s.quality;
        // Out-of-range values were taken: a negative limit turned its check off without a
        // word, NaN too, and `dark_p99 = 999` rejected every image.
        for (key, v, most) in [
            ("prep.quality.max_aspect", q.max_aspect, f32::INFINITY),
            ("prep.quality.dark_p99", q.dark_p99, 255.0),
            ("prep.quality.light_p01", q.light_p01, 255.0),
            (
                "prep.quality.min_laplacian_var",
                q.min_laplacian_var,
                f32::INFINITY,
            ),
            ("prep.quality.min_entropy", q.min_entropy, 8.0),
        ] {
            if v.is_some_and(|v| !(0.0..=most).contains(&v)) {
                return Err(invalid(key, &format!("must be 0 (off) to {most}")));
            }
        }
        if q.max_aspect.is_some_and(|v| v > 0.0 && v < 1.0) {
            return Err(invalid(
                "prep.quality.max_aspect",
                "a long/short side ratio is at least 1 (0: off)",
            ));
        }
        let qd = QualitySpec::default();
        let quality = QualitySpec {
            min_side: q.min_side.map_or(qd.min_side, |v| (v > 0).then_some(v)),
            max_aspect: q.max_aspect.map_or(qd.max_aspect, positive),
            dark_p99: q.dark_p99.map_or(qd.dark_p99, positive),
            light_p01: q.light_p01.map_or(qd.light_p01, positive),
            min_laplacian_var: q.min_laplacian_var.map_or(qd.min_laplacian_var, positive),
            min_entropy: q.min_entropy.map_or(qd.min_entropy, positive),
        };
        let cd = CropSpec::default();
        let dd = &cd.detect;
        let de = &s.detect;
        // A detector or a box CSV given without a mode picks its mode (a copy of
        // default.toml with only `bbox_csv` set cropped the centre without a word).
        let mode = s.crop.mode.unwrap_or(if de.detector.is_some() {
            CropMode::Detect
        } else if s.crop.bbox_csv.is_some() {
            CropMode::Bbox
        } else {
            cd.mode
        });
        let detect = DetectSpec {
            scale_factor: de.scale_factor.unwrap_or(dd.scale_factor),
            min_neighbors: de.min_neighbors.unwrap_or(dd.min_neighbors),
            min_size: de.min_size.map_or(dd.min_size, |v| (v, v)),
            max_size: de.max_size.filter(|&v| v > 0).map(|v| (v, v)),
            equalize: de.equalize.unwrap_or(dd.equalize),
        };
        use crate::detect::{MAX_SCALE_FACTOR, MIN_SCALE_FACTOR};
        if !(MIN_SCALE_FACTOR..=MAX_SCALE_FACTOR).contains(&detect.scale_factor) {
            return Err(invalid("prep.detect.scale_factor", "must be 1.01 to 4"));
        }
        if detect.max_size.is_some_and(|(m, _)| m < detect.min_size.0) {
            return Err(invalid(
                "prep.detect.max_size",
                "is below min_size: no face could be found (0: no limit)",
            ));
        }
        if mode == CropMode::Detect && de.detector.is_none() {
            return Err(invalid(
                "prep.detect.detector",
                "crop mode detect needs a cascade file (--detector FILE.xml)",
            ));
        }
        let crop = CropSpec {
            mode,
            // Detector boxes are tight on the face: by default keep the hair around it.
            margin: s.crop.margin.unwrap_or(if mode == CropMode::Detect {
                DETECT_MARGIN
            } else {
                cd.margin
            }),
            square: s.crop.square.unwrap_or(cd.square),
            trim_tolerance: s.crop.trim_tolerance.unwrap_or(cd.trim_tolerance),
            bbox_csv: s.crop.bbox_csv.clone(),
            faces: s.crop.faces.unwrap_or(cd.faces),
            detector: de.detector.clone(),
            detect,
        };
        if !(0.0..=2.0).contains(&crop.margin) {
            return Err(invalid("prep.crop.margin", "must be between 0 and 2"));
        }
        if crop.mode == CropMode::Bbox && crop.bbox_csv.is_none() {
            return Err(invalid(
                "prep.crop.bbox_csv",
                "crop mode bbox needs a box CSV (--bbox FILE)",
            ));
        }
        let rd = ResizeSpec::default();
        let resize = ResizeSpec {
            size: s.resize.size.unwrap_or(rd.size),
            filter: s.resize.filter.unwrap_or(rd.filter),
            aspect: s.resize.aspect.unwrap_or(rd.aspect),
            pad: s.resize.pad.unwrap_or(rd.pad),
        };
        if !(8..=2048).contains(&resize.size) {
            return Err(invalid("prep.resize.size", "must be between 8 and 2048"));
        }
        let dd = DedupSpec::default();
        let dedup = DedupSpec {
            exact: s.dedup.exact.unwrap_or(dd.exact),
            near: s.dedup.near.unwrap_or(dd.near),
            phash_max: s.dedup.phash_max.unwrap_or(dd.phash_max),
            dhash_max: s.dedup.dhash_max.unwrap_or(dd.dhash_max),
            chroma_max: s.dedup.chroma_max.unwrap_or(dd.chroma_max),
            luma_min: s.dedup.luma_min.unwrap_or(dd.luma_min),
            luma_spot_max: s.dedup.luma_spot_max.unwrap_or(dd.luma_spot_max),
            flip: s.dedup.flip.unwrap_or(dd.flip),
        };
        // NaN fails too.
        if dedup.luma_spot_max.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err(invalid(
                "prep.dedup.luma_spot_max",
                "must be above 0 (inf: off)",
            ));
        }
        if !(0.0..=1.0).contains(&dedup.luma_min) {
            return Err(invalid(
                "prep.dedup.luma_min",
                "must be between 0 (off) and 1",
            ));
        }
        if dedup.dhash_max > 64 {
            return Err(invalid(
                "prep.dedup.dhash_max",
                "must be at most 64 bits (64: off)",
            ));
        }
        if !(0.0..=255.0).contains(&dedup.chroma_max) {
            return Err(invalid(
                "prep.dedup.chroma_max",
                "must be 0 to 255 (255: off)",
            ));
        }
        if dedup.phash_max > 24 {
            return Err(invalid(
                "prep.dedup.phash_max",
                "must be at most 24 of 64 bits",
            ));
        }
        let ded = DecodeSpec::default();
        let decode = DecodeSpec {
            max_side: s.decode.max_side.unwrap_or(ded.max_side),
            background: s.decode.background.unwrap_or(ded.background),
            ..ded
        };
        if decode.max_side == 0 {
            return Err(invalid(
                "prep.decode.max_side",
                "must be at least 1 (0 rejected every file)",
            ));
        }
        if s.jobs.is_some_and(|j| j > MAX_JOBS) {
            return Err(invalid("prep.jobs", &format!("must be at most {MAX_JOBS}")));
        }
        Ok(PrepSpec {
            jobs: s.jobs.unwrap_or(0),
            format: s.format.unwrap_or_default(),
            decode,
            quality,
            crop,
            resize,
            normalize: s.normalize.mode.unwrap_or_default(),
            dedup,
        })
    }

    /// A fingerprint of everything that changes an output image or a journaled record: a
    /// resumed run reuses earlier results only when it matches. The box CSV and the
    /// cascade count by their contents (an edited file at the same path must redo the
    /// crops), and mirror matching because only then are the mirror hashes computed.
    pub fn fingerprint(&self) -> String {
        let contents = |p: &Option<std::path::PathBuf>| {
            p.as_ref()
                .and_then(|p| std::fs::read(p).ok())
                .map_or(0, |b| xxhash_rust::xxh3::xxh3_64(&b))
        };
        // `luma16`: journals from before the luma layout was recorded hold none; such a
        // journal is discarded and its files done again. `blur64|tga`: verdicts of the
        // builds before blur was measured at 64 px and `.tga` files decoded (resumed, one
        // dataset would hold files judged by two rules).
        // The files count by their contents, not by how their paths were written
        // (`p.toml`'s folder, `./boxes.csv`): a rerun naming them otherwise resumes.
        let crop = CropSpec {
            bbox_csv: None,
            detector: None,
            ..self.crop.clone()
        };
        let text = format!(
            "luma16|blur64|tga|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:x}|{:x}|{}",
            self.format,
            self.decode,
            self.quality,
            crop,
            self.resize,
            self.normalize,
            contents(&self.crop.bbox_csv),
            contents(&self.crop.detector),
            self.dedup.flip
        );
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: these were taken; a negative or NaN limit turned its check off
    /// without a word, `dark_p99 = 999` or `max_side = 0` rejected every file, and
    /// `max_size` under `min_size` could find no face.
    #[test]
    fn out_of_range_settings_are_refused_by_key() {
        let cases = [
            ("[quality]\nmax_aspect = -3.0", "max_aspect"),
            ("[quality]\nmax_aspect = 0.5", "max_aspect"),
            ("[quality]\ndark_p99 = 999.0", "dark_p99"),
            ("[quality]\nlight_p01 = -5.0", "light_p01"),
            ("[quality]\nmin_laplacian_var = nan", "min_laplacian_var"),
            ("[dedup]\ndhash_max = 99", "dhash_max"),
            ("[dedup]\nchroma_max = -1.0", "chroma_max"),
            ("[decode]\nmax_side = 0", "max_side"),
            ("[detect]\nmin_size = 40\nmax_size = 30", "max_size"),
        ];
        for (text, key) in cases {
            let section: PrepSection = toml::from_str(text).unwrap();
            let e = PrepSpec::resolve(section).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        // Colours of other than three numbers (the extras were dropped without a word).
        for text in [
            "[decode]\nbackground = [1, 2, 3, 4, 5]",
            "[resize]\npad = [9, 9]",
        ] {
            let e = toml::from_str::<PrepSection>(text).unwrap_err().to_string();
            assert!(e.contains("3 numbers"), "{text}: {e}");
        }
        let ok: PrepSection = toml::from_str("[resize]\npad = [9, 8, 7]").unwrap();
        assert_eq!(PrepSpec::resolve(ok).unwrap().resize.pad, [9, 8, 7]);
        // The documented "off" values stay allowed.
        let off = "[quality]\nmax_aspect = 0.0\nlight_p01 = 0.0\n[dedup]\ndhash_max = 64\n\
                   chroma_max = 255.0\n[detect]\nmax_size = 0";
        PrepSpec::resolve(toml::from_str(off).unwrap()).unwrap();
    }
}
