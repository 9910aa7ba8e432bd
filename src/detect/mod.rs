//! Face detection with OpenCV cascade files (Haar and LBP), run natively.
//!
//! [`Cascade::load`] reads the `opencv_storage` XML that `opencv_traincascade` writes
//! (BOOST stages, HAAR features including tilted ones, LBP features, stumps and small
//! trees), and [`Cascade::detect`] runs it the way OpenCV 4's
//! `CascadeClassifier::detectMultiScale` does: optional histogram equalization, an image
//! pyramid (the image is resized per scale, the window keeps its trained size), sliding
//! windows with OpenCV's step rule, stage evaluation with early exit, and
//! `groupRectangles` with eps 0.2. Arithmetic follows OpenCV's (f32 feature values,
//! f64 stage sums, wrapping 32-bit integral images) so that the same boxes come out.
//!
//! ```no_run
//! use facesynth::detect::{Cascade, DetectSpec};
//! let cascade = Cascade::load("lbpcascade_animeface.xml")?;
//! let gray = image::open("page.png")?.to_luma8();
//! for face in cascade.detect(&gray, &DetectSpec::default()) {
//!     println!("{} {} {} {} ({} neighbours)", face.x, face.y, face.width, face.height, face.neighbors);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cascade;
mod facebox;
mod group;
mod imgops;
mod integral;
mod scan;
mod xml;

use std::path::PathBuf;

pub use cascade::{Cascade, FeatureKind};
pub use facebox::{face_box, FaceCropSpec};
pub use group::{group_rectangles, Rect};
pub use imgops::{equalize_hist, gray_from_dynamic, gray_from_rgb};
pub use integral::{integral, squared_integral, tilted_integral};

/// Errors from reading a cascade file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// The file could not be read.
    #[error("cannot read cascade file {path}")]
    Io {
        /// The cascade file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not well-formed XML (for example truncated).
    #[error("cascade file {path} is not well-formed XML")]
    Xml {
        /// The cascade file.
        path: PathBuf,
        /// The XML parser's error.
        #[source]
        source: roxmltree::Error,
    },
    /// The XML is well formed but not a valid cascade (missing or bad element).
    #[error("cascade file {path}: {reason}")]
    Format {
        /// The cascade file.
        path: PathBuf,
        /// What is wrong, naming the element.
        reason: String,
    },
    /// A valid cascade of a kind this detector does not run.
    #[error("cascade file {path}: {what} is not supported (only BOOST stages with HAAR or LBP features)")]
    Unsupported {
        /// The cascade file.
        path: PathBuf,
        /// What is unsupported.
        what: String,
    },
}

/// The smallest pyramid step `prep` takes: below it the levels barely differ (1.001 makes
/// about 5,000 levels from a 24 px window to a 4,000 px image) and a scan takes minutes.
pub const MIN_SCALE_FACTOR: f64 = 1.01;

/// The largest pyramid step `prep` takes (a coarser pyramid skips the face sizes between
/// its levels).
pub const MAX_SCALE_FACTOR: f64 = 4.0;

/// Parameters of one multi-scale detection, with OpenCV's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectSpec {
    /// Ratio between pyramid levels (> 1; 1 or less, or NaN, scans scale 1 alone). At
    /// most 4,096 levels are visited, which cuts large faces off only below
    /// [`MIN_SCALE_FACTOR`]. Default 1.1.
    pub scale_factor: f64,
    /// Neighbours a grouped box needs to be kept (`minNeighbors`). Default 3.
    pub min_neighbors: u32,
    /// Smallest face box (width, height) in image pixels. Default (0, 0): no limit.
    pub min_size: (u32, u32),
    /// Largest face box (width, height) in image pixels. Default `None`: the image size.
    pub max_size: Option<(u32, u32)>,
    /// Histogram-equalize the grey image first (`cv2.equalizeHist`). Default false.
    pub equalize: bool,
}

impl Default for DetectSpec {
    fn default() -> Self {
        DetectSpec {
            scale_factor: 1.1,
            min_neighbors: 3,
            min_size: (0, 0),
            max_size: None,
            equalize: false,
        }
    }
}

/// One detected object: its box in image pixels and how many raw windows voted for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    /// Left edge, pixels.
    pub x: u32,
    /// Top edge, pixels.
    pub y: u32,
    /// Box width, pixels.
    pub width: u32,
    /// Box height, pixels.
    pub height: u32,
    /// Number of raw detections grouped into this box (OpenCV's `numDetections`).
    pub neighbors: u32,
}

impl Detection {
    /// Box area in pixels.
    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Intersection over union with another box (0 when disjoint).
    pub fn iou(&self, other: &Detection) -> f64 {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = (self.x + self.width).min(other.x + other.width);
        let y1 = (self.y + self.height).min(other.y + other.height);
        if x1 <= x0 || y1 <= y0 {
            return 0.0;
        }
        let inter = u64::from(x1 - x0) * u64::from(y1 - y0);
        inter as f64 / (self.area() + other.area() - inter) as f64
    }
}
