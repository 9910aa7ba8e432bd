//! From detections to crop boxes: the step `prep --crop detect` needs.
//!
//! Detector boxes are tight around the face; datasets for face GANs usually keep the
//! hair and some context, so the box grows by a margin on every side, is made square
//! (training images are square), and is shifted (then, if still too large, clamped)
//! to stay inside the image.

use image::RgbImage;

use super::{gray_from_rgb, Cascade, DetectSpec};

/// How to turn detections into crop boxes.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceCropSpec {
    /// Detection parameters. Default: OpenCV's defaults with `min_neighbors` 5,
    /// `min_size` 24 x 24 and histogram equalization (the usual anime-face settings).
    pub detect: DetectSpec,
    /// Margin added on each side, as a fraction of the detected box's size. Default 0.3.
    pub margin: f32,
    /// Make the box square (around the same centre). Default true.
    pub square: bool,
}

impl Default for FaceCropSpec {
    fn default() -> Self {
        FaceCropSpec {
            detect: DetectSpec {
                min_neighbors: 5,
                min_size: (24, 24),
                equalize: true,
                ..DetectSpec::default()
            },
            margin: 0.3,
            square: true,
        }
    }
}

/// Detects faces in `img` and returns crop boxes `(x, y, w, h)` in source pixels:
/// margin-expanded, squared if asked, inside the image, largest face first.
/// Empty when no face is found.
pub fn face_box(
    cascade: &Cascade,
    img: &RgbImage,
    spec: &FaceCropSpec,
) -> Vec<(u32, u32, u32, u32)> {
    let gray = gray_from_rgb(img);
    let mut faces = cascade.detect(&gray, &spec.detect);
    faces.sort_by(|a, b| {
        b.area()
            .cmp(&a.area())
            .then(a.y.cmp(&b.y))
            .then(a.x.cmp(&b.x))
    });
    faces
        .iter()
        .map(|f| expand((f.x, f.y, f.width, f.height), img.dimensions(), spec))
        .collect()
}

/// Grows a box by the margin, squares it, and fits it into an image of `size`.
pub(crate) fn expand(
    b: (u32, u32, u32, u32),
    size: (u32, u32),
    spec: &FaceCropSpec,
) -> (u32, u32, u32, u32) {
    let (iw, ih) = (f64::from(size.0), f64::from(size.1));
    let m = f64::from(spec.margin.max(0.0));
    let (cx, cy) = (
        f64::from(b.0) + f64::from(b.2) / 2.0,
        f64::from(b.1) + f64::from(b.3) / 2.0,
    );
    let mut w = f64::from(b.2) * (1.0 + 2.0 * m);
    let mut h = f64::from(b.3) * (1.0 + 2.0 * m);
    if spec.square {
        let side = w.max(h).min(iw.min(ih));
        w = side;
        h = side;
    }
    let w = w.min(iw).round().max(1.0);
    let h = h.min(ih).round().max(1.0);
    // Shift inside the image rather than cut, so squares stay square.
    let x = (cx - w / 2.0).round().clamp(0.0, iw - w);
    let y = (cy - h / 2.0).round().clamp(0.0, ih - h);
    (x as u32, y as u32, w as u32, h as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_square_and_shift_inside() {
        let spec = FaceCropSpec::default();
        // 100x80 box at (50, 60) in a 400x300 image: 0.3 margin -> 160x128, squared to 160.
        assert_eq!(
            expand((50, 60, 100, 80), (400, 300), &spec),
            (20, 20, 160, 160)
        );
        // Near the left edge the square is shifted, not cut.
        assert_eq!(expand((0, 100, 50, 50), (400, 300), &spec), (0, 85, 80, 80));
        // Larger than the image: clamped to the shorter side.
        assert_eq!(
            expand((0, 0, 300, 300), (400, 300), &spec),
            (0, 0, 300, 300)
        );
    }
}
