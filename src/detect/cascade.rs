//! The in-memory cascade (stages, weak trees, features) and the multi-scale entry point.
//!
//! The layout mirrors OpenCV's `CascadeClassifierImpl::Data`: stages own consecutive
//! weak trees, trees own consecutive nodes and `nodes + 1` leaves, and LBP nodes carry a
//! 256-bit category subset.

use std::path::{Path, PathBuf};

use image::GrayImage;
use rayon::prelude::*;

use super::group::{group_rectangles, Rect};
use super::imgops::equalize_hist;
use super::scan::{pyramid_scales, scan_scale, Compiled};
use super::{DetectError, DetectSpec, Detection};

/// The kind of feature a cascade evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureKind {
    /// Haar-like rectangle features with variance normalization.
    Haar,
    /// Local binary patterns on 3x3 blocks.
    Lbp,
}

/// One weighted rectangle of a Haar feature (window coordinates).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HaarRect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
    pub weight: f32,
}

/// A Haar feature: up to three rectangles (unused ones have weight 0), maybe tilted 45°.
#[derive(Debug, Clone)]
pub(crate) struct HaarFeature {
    pub rects: [HaarRect; 3],
    pub tilted: bool,
}

/// An LBP feature: the top-left block of a 3x3 grid of `w` x `h` blocks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LbpFeature {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

/// The cascade's feature pool.
#[derive(Debug, Clone)]
pub(crate) enum Features {
    Haar(Vec<HaarFeature>),
    Lbp(Vec<LbpFeature>),
}

/// A boosted stage: `ntrees` consecutive weak trees and the threshold their sum must reach.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stage {
    pub ntrees: u32,
    pub threshold: f32,
}

/// A tree node; `left`/`right` > 0 are node indices inside the tree, <= 0 are `-leaf`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    pub feature: u32,
    pub threshold: f32,
    pub left: i32,
    pub right: i32,
}

/// A trained cascade read from an OpenCV XML file.
#[derive(Debug, Clone)]
pub struct Cascade {
    pub(crate) path: PathBuf,
    pub(crate) window: (u32, u32),
    pub(crate) features: Features,
    pub(crate) stages: Vec<Stage>,
    /// Node count of each weak tree, in order.
    pub(crate) tree_nodes: Vec<u32>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) leaves: Vec<f32>,
    /// Category subsets, one per node (LBP only).
    pub(crate) subsets: Vec<[u32; 8]>,
    /// Every tree is a single node (OpenCV's stump fast path).
    pub(crate) stumps: bool,
    pub(crate) has_tilted: bool,
}

impl Cascade {
    pub(crate) fn empty(path: &Path, window: (u32, u32), features: Features) -> Cascade {
        let has_tilted = matches!(&features, Features::Haar(f) if f.iter().any(|f| f.tilted));
        Cascade {
            path: path.to_path_buf(),
            window,
            features,
            stages: Vec::new(),
            tree_nodes: Vec::new(),
            nodes: Vec::new(),
            leaves: Vec::new(),
            subsets: Vec::new(),
            stumps: false,
            has_tilted,
        }
    }

    pub(crate) fn finish(&mut self) {
        self.stumps = self.tree_nodes.iter().all(|&n| n == 1);
    }

    /// Reads a cascade from an OpenCV XML file (`opencv_storage` format).
    pub fn load(path: impl AsRef<Path>) -> Result<Cascade, DetectError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| DetectError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_xml(path, &text)
    }

    /// Parses cascade XML already in memory; `path` only names it in errors.
    pub fn from_xml(path: impl AsRef<Path>, text: &str) -> Result<Cascade, DetectError> {
        super::xml::parse(path.as_ref(), text)
    }

    /// The file the cascade was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The trained window size (width, height) in pixels.
    pub fn window_size(&self) -> (u32, u32) {
        self.window
    }

    /// Haar or LBP.
    pub fn feature_kind(&self) -> FeatureKind {
        match self.features {
            Features::Haar(_) => FeatureKind::Haar,
            Features::Lbp(_) => FeatureKind::Lbp,
        }
    }

    /// Number of boosted stages.
    pub fn stage_count(&self) -> usize {
        self.stages.len()
    }

    /// Detects objects in a grey image, as OpenCV's `detectMultiScale` does.
    ///
    /// Scales run in parallel on rayon's pool (inside an outer `par_iter` over images
    /// this nests without oversubscribing). Boxes are in image pixels, clipped to it.
    pub fn detect(&self, image: &GrayImage, spec: &DetectSpec) -> Vec<Detection> {
        let candidates = self.candidates(image, spec);
        let threshold = spec.min_neighbors.min(i32::MAX as u32) as i32;
        let (w, h) = image.dimensions();
        group_rectangles(&candidates, threshold, 0.2)
            .into_iter()
            .filter_map(|(r, n)| clip(r, w as i32, h as i32, n))
            .collect()
    }

    /// Raw window hits before grouping (`detectMultiScaleNoGrouping`), in image pixels.
    pub fn candidates(&self, image: &GrayImage, spec: &DetectSpec) -> Vec<Rect> {
        let equalized;
        let gray = if spec.equalize {
            equalized = equalize_hist(image);
            &equalized
        } else {
            image
        };
        let scales = pyramid_scales(self.window, gray.dimensions(), spec);
        if scales.is_empty() {
            return Vec::new();
        }
        let compiled = Compiled::new(self, gray.width() as usize + 1);
        scales
            .par_iter()
            .map(|&s| scan_scale(self, &compiled, gray, s))
            .flatten_iter()
            .collect()
    }
}

/// OpenCV's `clipObjects`: intersect with the image, drop empty boxes.
fn clip(r: Rect, w: i32, h: i32, n: i32) -> Option<Detection> {
    let x0 = r.x.max(0);
    let y0 = r.y.max(0);
    let x1 = (r.x + r.width).min(w);
    let y1 = (r.y + r.height).min(h);
    (x1 > x0 && y1 > y0).then(|| Detection {
        x: x0 as u32,
        y: y0 as u32,
        width: (x1 - x0) as u32,
        height: (y1 - y0) as u32,
        neighbors: n.max(0) as u32,
    })
}
