//! Crop: find the face's box in source pixels. Modes: `none` (whole image), `center`
//! (the centred square), `trim` (uniform borders removed, then centred), `bbox` (boxes
//! from a CSV `file,x,y,w,h`), `detect` (faces found by an OpenCV cascade file run by
//! [`crate::detect`]). Every mode but `none` yields boxes that then get the same margin
//! and squareness treatment (the whole image has no room to grow).

use crate::detect::{self, Cascade, DetectError, DetectSpec};
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How to find the face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CropMode {
    /// The whole image.
    None,
    /// The centred square (default).
    #[default]
    Center,
    /// Remove uniform borders, then take the centred square of what remains.
    Trim,
    /// Boxes from a CSV `file,x,y,w,h` (file relative to INPUT).
    Bbox,
    /// Faces found by an OpenCV cascade file (`--detector FILE.xml`); none is `no_face`.
    Detect,
}

/// Which faces of an image become dataset images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Faces {
    /// Only the largest (default).
    #[default]
    Largest,
    /// Every face, each its own manifest row `source#k` (when there are several).
    All,
}

/// A box in source pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CropBox {
    /// Left.
    pub x: u32,
    /// Top.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// Crop settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CropSpec {
    /// The mode.
    pub mode: CropMode,
    /// Extra border around a found box, as a fraction of its side (default 0.0; boxes from
    /// `center` and `trim` get none).
    pub margin: f32,
    /// Grow the shorter side so the box is square (default true); in `trim` mode, false
    /// keeps the trimmed box as it is (for `aspect = "pad"`) instead of its centre square;
    /// the pad bands then weigh in the near-duplicate hashes (on the Yale and ORL photos
    /// they matched different people: measured, not shipped in `photos-trim.toml`).
    pub square: bool,
    /// Largest channel difference from the corner colour that still counts as border
    /// in `trim` mode (default 12).
    pub trim_tolerance: u8,
    /// The CSV for `bbox` mode.
    pub bbox_csv: Option<PathBuf>,
    /// Which faces to keep when several are found.
    pub faces: Faces,
    /// The cascade XML for `detect` mode.
    pub detector: Option<PathBuf>,
    /// Detection settings for `detect` mode (see [`DetectSpec`]; default 5 neighbours,
    /// 24 px minimum face, equalized).
    pub detect: DetectSpec,
}

impl Default for CropSpec {
    fn default() -> Self {
        CropSpec {
            mode: CropMode::Center,
            margin: 0.0,
            square: true,
            trim_tolerance: 12,
            bbox_csv: None,
            faces: Faces::Largest,
            detector: None,
            detect: default_detect_spec(),
        }
    }
}

/// `detect` mode's defaults: OpenCV's usual settings for faces in illustrations.
pub fn default_detect_spec() -> DetectSpec {
    DetectSpec {
        min_neighbors: 5,
        min_size: (24, 24),
        equalize: true,
        ..DetectSpec::default()
    }
}

/// A crop stage ready to run: the spec plus what it loaded (box table, cascade).
#[derive(Debug, Clone)]
pub struct Cropper {
    spec: CropSpec,
    boxes: HashMap<String, Vec<CsvBox>>,
    cascade: Option<Cascade>,
}

/// Why the crop stage cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CropError {
    /// The box CSV is unusable.
    #[error(transparent)]
    BoxCsv(#[from] BoxCsvError),
    /// The detector's cascade file is unusable.
    #[error(transparent)]
    Detector(#[from] DetectError),
    /// `detect` mode without a cascade file.
    #[error("crop mode detect needs a cascade file (--detector FILE.xml or prep.detect.detector)")]
    NoDetector,
}

/// Why a box CSV could not be used.
#[derive(Debug, thiserror::Error)]
#[error("bad box CSV {path}: {message}")]
pub struct BoxCsvError {
    /// The CSV.
    pub path: PathBuf,
    /// What is wrong, with the line.
    pub message: String,
}

impl Cropper {
    /// Prepares the stage; loads the box CSV in `bbox` mode, the cascade in `detect` mode.
    pub fn new(spec: CropSpec) -> Result<Self, CropError> {
        let mut boxes = HashMap::new();
        if spec.mode == CropMode::Bbox {
            let path = spec.bbox_csv.clone().ok_or_else(|| BoxCsvError {
                path: PathBuf::new(),
                message: "crop mode bbox needs a box CSV (--bbox FILE or prep.crop.bbox_csv)"
                    .into(),
            })?;
            boxes = load_boxes(&path)?;
        }
        let mut cascade = None;
        if spec.mode == CropMode::Detect {
            let path = spec.detector.as_ref().ok_or(CropError::NoDetector)?;
            cascade = Some(Cascade::load(path)?);
        }
        Ok(Cropper {
            spec,
            boxes,
            cascade,
        })
    }

    /// The box CSV's boxes of the input at `rel` (`/`-separated): under its path as
    /// written, or with a Windows CSV's backslashes.
    fn boxes_of(&self, rel: &str) -> Option<&Vec<CsvBox>> {
        self.boxes
            .get(rel)
            .or_else(|| self.boxes.get(&rel.replace('/', "\\")))
    }

    /// In `bbox` mode, how many of the box CSV's files are not among `inputs` (paths
    /// relative to INPUT), and the first few of them: a CSV written relative to another
    /// folder matches nothing, and every image would be `no_bbox` without a word why.
    pub fn unmatched_boxes(
        &self,
        inputs: &std::collections::HashSet<String>,
    ) -> (usize, Vec<String>) {
        let mut missing: Vec<&String> = self
            .boxes
            .keys()
            .filter(|f| !inputs.contains(*f) && !inputs.contains(&f.replace('\\', "/")))
            .collect();
        missing.sort();
        let first = missing.iter().take(3).map(|f| f.to_string()).collect();
        (missing.len(), first)
    }

    /// `b` grown by the margin ([`adjust`]) when there is one.
    fn with_margin(&self, b: CropBox, w: u32, h: u32) -> CropBox {
        match self.spec.margin > 0.0 {
            true => adjust(b, self.spec.margin, self.spec.square, w, h),
            false => b,
        }
    }

    /// The face boxes of `rgb` (source `rel` to INPUT), largest first, with margin and
    /// squareness applied and clamped to the image. `Err(reason)` when there is none.
    pub fn boxes(&self, rel: &str, rgb: &RgbImage) -> Result<Vec<CropBox>, &'static str> {
        let (w, h) = rgb.dimensions();
        let raw = match self.spec.mode {
            CropMode::None => vec![CropBox { x: 0, y: 0, w, h }],
            // A margin widens the centred square and the trimmed box too (it was
            // ignored there without a word); at 0, their boxes are as they were.
            CropMode::Center => {
                vec![self.with_margin(center_square(CropBox { x: 0, y: 0, w, h }), w, h)]
            }
            // Squared unless asked not to: `square = false` keeps the whole trimmed
            // content for the resize to pad (`aspect = "pad"`).
            CropMode::Trim => {
                let b = trim_box(rgb, self.spec.trim_tolerance);
                let b = if self.spec.square {
                    center_square(b)
                } else {
                    b
                };
                vec![self.with_margin(b, w, h)]
            }
            CropMode::Detect => {
                let cascade = self.cascade.as_ref().ok_or("no_face")?;
                let found = cascade.detect(&detect::gray_from_rgb(rgb), &self.spec.detect);
                if found.is_empty() {
                    return Err("no_face");
                }
                let found: Vec<CropBox> = found
                    .iter()
                    .map(|d| CropBox {
                        x: d.x,
                        y: d.y,
                        w: d.width,
                        h: d.height,
                    })
                    .collect();
                self.adjust_largest_first(found, w, h)
            }
            CropMode::Bbox => {
                let found = self.boxes_of(rel).ok_or("no_bbox")?;
                // A box mostly off the image was measured on another image or scale:
                // moved onto it, it would crop some other part of the picture.
                let inside: Vec<CropBox> = found.iter().filter_map(|b| within(*b, w, h)).collect();
                if inside.is_empty() {
                    return Err("bbox_outside");
                }
                self.adjust_largest_first(inside, w, h)
            }
        };
        let mut out: Vec<CropBox> = raw.into_iter().filter(|b| b.w > 0 && b.h > 0).collect();
        if out.is_empty() {
            return Err("no_bbox");
        }
        if self.spec.faces == Faces::Largest {
            out.truncate(1);
        }
        Ok(out)
    }

    /// `boxes` largest first (then top to bottom, left to right, as
    /// [`crate::detect::face_box`] orders them), each with the margin and squaring. The
    /// order is the found faces': after the margin two boxes clamped to the image's short
    /// side are the same size, and `--faces largest` kept the smaller face.
    fn adjust_largest_first(&self, mut boxes: Vec<CropBox>, w: u32, h: u32) -> Vec<CropBox> {
        boxes.sort_by(|a, b| {
            (b.w as u64 * b.h as u64)
                .cmp(&(a.w as u64 * a.h as u64))
                .then(a.y.cmp(&b.y))
                .then(a.x.cmp(&b.x))
        });
        boxes
            .into_iter()
            .map(|b| adjust(b, self.spec.margin, self.spec.square, w, h))
            .collect()
    }
}

/// A box of a box CSV, in whole pixels: it may start before the image's left or top
/// edge (detectors and pandas write such boxes at an edge).
#[derive(Debug, Clone, Copy, PartialEq)]
struct CsvBox {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
}

/// The part of box `b` inside a `w` x `h` image, when that is at least half the box: on
/// every side alike (a box off the left edge once lost its width before this test and
/// stopped the run as "an empty box", where one off the right edge was rejected alone).
fn within(b: CsvBox, w: u32, h: u32) -> Option<CropBox> {
    let (x0, y0) = (b.x.max(0), b.y.max(0));
    let (x1, y1) = ((b.x + b.w).min(w as i64), (b.y + b.h).min(h as i64));
    let (iw, ih) = ((x1 - x0).max(0), (y1 - y0).max(0));
    let kept = iw as i128 * ih as i128;
    (kept > 0 && 2 * kept >= b.w as i128 * b.h as i128).then_some(CropBox {
        x: x0 as u32,
        y: y0 as u32,
        w: iw as u32,
        h: ih as u32,
    })
}

/// The largest square centred in `b`.
pub fn center_square(b: CropBox) -> CropBox {
    let s = b.w.min(b.h);
    CropBox {
        x: b.x + (b.w - s) / 2,
        y: b.y + (b.h - s) / 2,
        w: s,
        h: s,
    }
}

/// Grows `b` by `margin` of its side on every side, squares it around its centre when
/// asked, and clamps it to a `w` x `h` image (shifting before shrinking, so a face near
/// an edge keeps its size where the image allows).
pub fn adjust(b: CropBox, margin: f32, square: bool, w: u32, h: u32) -> CropBox {
    let cx = b.x as f32 + b.w as f32 / 2.0;
    let cy = b.y as f32 + b.h as f32 / 2.0;
    let mut bw = b.w as f32 * (1.0 + 2.0 * margin);
    let mut bh = b.h as f32 * (1.0 + 2.0 * margin);
    if square {
        let s = bw.max(bh).min(w as f32).min(h as f32);
        bw = s;
        bh = s;
    }
    let bw = bw.min(w as f32).round().max(1.0);
    let bh = bh.min(h as f32).round().max(1.0);
    let x = (cx - bw / 2.0).clamp(0.0, w as f32 - bw).round();
    let y = (cy - bh / 2.0).clamp(0.0, h as f32 - bh).round();
    CropBox {
        x: x as u32,
        y: y as u32,
        w: bw as u32,
        h: bh as u32,
    }
}

/// The box left after removing uniform borders: rows and columns whose every pixel is
/// within `tol` of the top-left corner's colour (ImageMagick's `-trim`).
pub fn trim_box(rgb: &RgbImage, tol: u8) -> CropBox {
    let (w, h) = rgb.dimensions();
    let bg = rgb.get_pixel(0, 0).0;
    let is_bg = |x: u32, y: u32| {
        let p = rgb.get_pixel(x, y).0;
        (0..3).all(|c| p[c].abs_diff(bg[c]) <= tol)
    };
    let row_bg = |y: u32| (0..w).all(|x| is_bg(x, y));
    let col_bg = |x: u32, y0: u32, y1: u32| (y0..y1).all(|y| is_bg(x, y));
    let top = (0..h).find(|&y| !row_bg(y));
    let Some(top) = top else {
        return CropBox { x: 0, y: 0, w, h };
    };
    let bottom = (0..h).rev().find(|&y| !row_bg(y)).unwrap_or(h - 1) + 1;
    let left = (0..w).find(|&x| !col_bg(x, top, bottom)).unwrap_or(0);
    let right = (0..w)
        .rev()
        .find(|&x| !col_bg(x, top, bottom))
        .unwrap_or(w - 1)
        + 1;
    CropBox {
        x: left,
        y: top,
        w: right - left,
        h: bottom - top,
    }
}

fn load_boxes(path: &Path) -> Result<HashMap<String, Vec<CsvBox>>, BoxCsvError> {
    let err = |message: String| BoxCsvError {
        path: path.to_path_buf(),
        message,
    };
    let mut rdr = csv::Reader::from_path(path).map_err(|e| err(e.to_string()))?;
    // A file without the header would lose its first box to it unnoticed.
    let header = rdr.headers().map_err(|e| err(e.to_string()))?;
    let mut cols = [0usize; 5];
    for (col, want) in cols.iter_mut().zip(["file", "x", "y", "w", "h"]) {
        let at = header.iter().position(|c| {
            c.trim_start_matches('\u{feff}')
                .trim()
                .eq_ignore_ascii_case(want)
        });
        let Some(at) = at else {
            let found = header.iter().collect::<Vec<_>>().join(",");
            return Err(err(format!(
                "line 1: the header must name file,x,y,w,h (found \"{found}\")"
            )));
        };
        *col = at;
    }
    let mut out: HashMap<String, Vec<CsvBox>> = HashMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| err(crate::csv_line::describe(path, &e)))?;
        let line = crate::csv_line::Line::of(path, &rec);
        let field = |k: usize| rec.get(cols[k]).unwrap_or("").trim();
        // No coordinates at all: how pandas writes "no face found" for a file. Its image
        // is then rejected alone (no_bbox), as one missing from the file is.
        if (1..=4).all(|k| field(k).is_empty()) {
            continue;
        }
        // Detectors and pandas write fractional pixels, and boxes at an edge may start a
        // little before it: rounded; the part off the image is cut off per image.
        let mut v = [0f64; 4];
        for (k, name) in ["x", "y", "w", "h"].iter().enumerate() {
            v[k] = field(k + 1)
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| {
                    err(format!(
                        "line {}: {name} {:?} is not a number of pixels",
                        line.get(),
                        field(k + 1)
                    ))
                })?
                .round();
        }
        // Within u32's range either way, so sums cannot overflow an i64.
        let clamp = |n: f64| n.clamp(-(u32::MAX as f64), u32::MAX as f64) as i64;
        let [x, y, w, h] = v.map(clamp);
        if w <= 0 || h <= 0 {
            return Err(err(format!(
                "line {}: an empty box ({w} x {h})",
                line.get()
            )));
        }
        // Kept as written: a backslash may be part of a Unix file name. A Windows CSV's
        // separators are matched at lookup ([`Cropper::boxes_of`]).
        let file = field(0);
        let file = file
            .strip_prefix("./")
            .or_else(|| file.strip_prefix(".\\"))
            .unwrap_or(file)
            .to_string();
        out.entry(file).or_default().push(CsvBox { x, y, w, h });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// Regression: the boxes were ordered after the margin, where two faces clamped to
    /// the image's short side are alike, and `--faces largest` kept the smaller one.
    #[test]
    fn the_largest_face_is_kept_when_the_margin_makes_boxes_alike() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("boxes.csv");
        std::fs::write(
            &csv,
            "file,x,y,w,h\na.png,20,25,100,100\na.png,250,10,130,130\n",
        )
        .unwrap();
        let spec = CropSpec {
            mode: CropMode::Bbox,
            margin: 0.3,
            bbox_csv: Some(csv),
            ..CropSpec::default()
        };
        let img = RgbImage::new(400, 150);
        let kept = Cropper::new(spec).unwrap().boxes("a.png", &img).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(
            (kept[0].w, kept[0].h),
            (150, 150),
            "both clamp to 150 x 150"
        );
        assert!(
            kept[0].x > 200,
            "the 130 px face, not the 100 px one: {kept:?}"
        );
    }

    /// Regression: every backslash of a box CSV's names was read as a separator, so a
    /// Unix file named `back\\slash.png` never found its box; a Windows CSV's still match.
    #[test]
    fn box_csv_names_keep_their_backslashes() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("boxes.csv");
        std::fs::write(
            &csv,
            "file,x,y,w,h\nback\\slash.png,1,1,10,10\n.\\sub\\a.png,2,2,20,20\n",
        )
        .unwrap();
        let spec = CropSpec {
            mode: CropMode::Bbox,
            bbox_csv: Some(csv),
            ..CropSpec::default()
        };
        let img = RgbImage::new(60, 60);
        let c = Cropper::new(spec).unwrap();
        assert_eq!(c.boxes("back\\slash.png", &img).unwrap()[0].w, 10);
        assert_eq!(c.boxes("sub/a.png", &img).unwrap()[0].w, 20);
        let inputs = ["back\\slash.png", "sub/a.png"].map(String::from).into();
        assert_eq!(c.unmatched_boxes(&inputs).0, 0);
    }

    #[test]
    fn trim_keeps_the_whole_content_when_not_squared() {
        let mut img = RgbImage::from_pixel(60, 60, Rgb([250, 250, 250]));
        for y in 5..55 {
            for x in 20..40 {
                img.put_pixel(x, y, Rgb([10, 100, 200]));
            }
        }
        let boxes = |square| {
            let spec = CropSpec {
                mode: CropMode::Trim,
                square,
                ..CropSpec::default()
            };
            Cropper::new(spec).unwrap().boxes("a.png", &img).unwrap()[0]
        };
        assert_eq!(
            boxes(false),
            CropBox {
                x: 20,
                y: 5,
                w: 20,
                h: 50
            }
        );
        assert_eq!(
            boxes(true),
            CropBox {
                x: 20,
                y: 20,
                w: 20,
                h: 20
            }
        );
        // Regression: a margin was ignored for trim and center crops.
        let with_margin = |mode| {
            let spec = CropSpec {
                mode,
                margin: 0.5,
                ..CropSpec::default()
            };
            Cropper::new(spec).unwrap().boxes("a.png", &img).unwrap()[0]
        };
        // The 20 px trimmed square grows by 10 px each side.
        let t = with_margin(CropMode::Trim);
        assert_eq!((t.x, t.y, t.w, t.h), (10, 10, 40, 40));
        // The centred 60 px square has nowhere to grow: clamped to the image.
        let c = with_margin(CropMode::Center);
        assert_eq!((c.x, c.y, c.w, c.h), (0, 0, 60, 60));
    }

    #[test]
    fn trim_finds_the_content() {
        let mut img = RgbImage::from_pixel(50, 40, Rgb([250, 250, 250]));
        for y in 10..30 {
            for x in 5..25 {
                img.put_pixel(x, y, Rgb([10, 100, 200]));
            }
        }
        assert_eq!(
            trim_box(&img, 12),
            CropBox {
                x: 5,
                y: 10,
                w: 20,
                h: 20
            }
        );
    }

    #[test]
    fn adjust_grows_squares_and_clamps() {
        let b = adjust(
            CropBox {
                x: 40,
                y: 40,
                w: 20,
                h: 10,
            },
            0.5,
            true,
            100,
            100,
        );
        assert_eq!((b.w, b.h), (40, 40));
        assert_eq!((b.x, b.y), (30, 25));
        // Near the corner: shifted inside, size kept.
        let c = adjust(
            CropBox {
                x: 0,
                y: 0,
                w: 20,
                h: 20,
            },
            0.25,
            true,
            100,
            100,
        );
        assert_eq!(
            c,
            CropBox {
                x: 0,
                y: 0,
                w: 30,
                h: 30
            }
        );
        // Larger than the image: clamped.
        let d = adjust(
            CropBox {
                x: 0,
                y: 0,
                w: 90,
                h: 60,
            },
            0.5,
            true,
            100,
            80,
        );
        assert_eq!((d.w, d.h), (80, 80));
    }

    /// A box off the left or top edge is judged as one off the right or bottom: cut to
    /// the image when at least half of it is on it, else that image's bbox_outside (it
    /// once stopped the whole run as "an empty box"); a row without coordinates is no
    /// box for its file.
    #[test]
    fn boxes_off_every_edge_alike_and_empty_rows_are_no_box() {
        let d = tempfile::tempdir().unwrap();
        let csv = d.path().join("boxes.csv");
        std::fs::write(
            &csv,
            "file,x,y,w,h\nleft.png,-100,10,50,50\nright.png,5000,10,50,50\n\
             l.png,-20,0,100,90\nr.png,16,0,100,90\nnone.png,,,,\n",
        )
        .unwrap();
        let boxes = load_boxes(&csv).unwrap();
        assert!(!boxes.contains_key("none.png"));
        let inside = |f: &str| within(boxes[f][0], 96, 96);
        assert_eq!((inside("left.png"), inside("right.png")), (None, None));
        let (l, r) = (inside("l.png").unwrap(), inside("r.png").unwrap());
        assert_eq!((l.x, l.w, l.h), (0, 80, 90));
        assert_eq!((r.x, r.w, r.h), (16, 80, 90));
        // A size of zero is still a bad file, named by its line.
        std::fs::write(&csv, "file,x,y,w,h\na.png,1,1,0,5\n").unwrap();
        let e = load_boxes(&csv).unwrap_err().message;
        assert!(e.contains("line 2") && e.contains("empty box"), "{e}");
    }

    #[test]
    fn center_square_of_landscape() {
        assert_eq!(
            center_square(CropBox {
                x: 0,
                y: 0,
                w: 100,
                h: 60
            }),
            CropBox {
                x: 20,
                y: 0,
                w: 60,
                h: 60
            }
        );
    }
}
