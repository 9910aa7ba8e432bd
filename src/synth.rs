//! Procedural cartoon faces with known attributes: the demo's raw material and the ground
//! truth that label and GAN tests check against. Every attribute is drawn so that it is
//! visibly distinct (hair and eye colours from the anime schema's values), and every face
//! is a deterministic function of the seed.

use image::{Rgb, RgbImage};
use imageproc::drawing::{
    draw_filled_circle_mut, draw_filled_ellipse_mut, draw_filled_rect_mut, draw_hollow_circle_mut,
    draw_line_segment_mut,
};
use imageproc::rect::Rect;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use std::path::Path;

/// Hair colours: the anime schema's values and the colour each is drawn with.
pub const HAIR_COLORS: [(&str, [u8; 3]); 12] = [
    ("aqua", [40, 205, 200]),
    ("black", [25, 22, 28]),
    ("blonde", [248, 222, 120]),
    ("blue", [40, 70, 215]),
    ("brown", [115, 68, 32]),
    ("gray", [140, 140, 145]),
    ("green", [45, 150, 55]),
    ("orange", [245, 135, 30]),
    ("pink", [245, 150, 195]),
    ("purple", [130, 55, 175]),
    ("red", [205, 30, 40]),
    ("white", [245, 245, 242]),
];

/// Eye colours: the anime schema's values and the iris colour each is drawn with.
pub const EYE_COLORS: [(&str, [u8; 3]); 10] = [
    ("aqua", [40, 205, 200]),
    ("black", [20, 20, 22]),
    ("blue", [35, 70, 225]),
    ("brown", [120, 70, 30]),
    ("green", [40, 165, 50]),
    ("orange", [245, 135, 30]),
    ("pink", [245, 130, 190]),
    ("purple", [135, 50, 180]),
    ("red", [215, 25, 35]),
    ("yellow", [235, 215, 30]),
];

/// Skin tones.
pub const SKIN_TONES: [(&str, [u8; 3]); 4] = [
    ("light", [255, 228, 205]),
    ("medium", [232, 190, 150]),
    ("tan", [198, 145, 100]),
    ("dark", [130, 88, 60]),
];

/// Background colours.
pub const BACKGROUNDS: [(&str, [u8; 3]); 5] = [
    ("cream", [238, 232, 214]),
    ("sky", [190, 215, 238]),
    ("mint", [200, 232, 205]),
    ("slate", [92, 100, 112]),
    ("rose", [236, 205, 210]),
];

/// The attributes of one face: indices into the tables above, and its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaceAttrs {
    /// Index into [`HAIR_COLORS`].
    pub hair: usize,
    /// Index into [`EYE_COLORS`].
    pub eyes: usize,
    /// Index into [`SKIN_TONES`].
    pub skin: usize,
    /// Index into [`BACKGROUNDS`].
    pub background: usize,
    /// Whether the face wears glasses.
    pub glasses: bool,
}

impl FaceAttrs {
    /// Attributes drawn uniformly at random.
    pub fn random(rng: &mut StdRng) -> Self {
        FaceAttrs {
            hair: rng.random_range(0..HAIR_COLORS.len()),
            eyes: rng.random_range(0..EYE_COLORS.len()),
            skin: rng.random_range(0..SKIN_TONES.len()),
            background: rng.random_range(0..BACKGROUNDS.len()),
            glasses: rng.random_bool(0.3),
        }
    }
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct SynthSpec {
    /// Number of images.
    pub n: usize,
    /// Side of each square image in pixels (default 64).
    pub image_size: u32,
    /// The head's box side as a fraction of the image side, drawn uniformly from this
    /// range (default 0.9..=1.0: a centred, crop-ready face).
    pub face_fraction: (f32, f32),
    /// Seed: the same seed gives the same images and truth.
    pub seed: u64,
    /// Force one hair colour (index into [`HAIR_COLORS`]) instead of drawing it.
    pub hair: Option<usize>,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            n: 100,
            image_size: 64,
            face_fraction: (0.9, 1.0),
            seed: 0,
            hair: None,
        }
    }
}

/// One drawn face and where its head is, in image pixels.
#[derive(Debug, Clone, Serialize)]
pub struct TruthRow {
    /// Image path relative to the output folder (`images/00000.png`).
    pub file: String,
    /// Hair colour name.
    pub hair_color: &'static str,
    /// Eye colour name.
    pub eye_color: &'static str,
    /// Skin tone name.
    pub skin_tone: &'static str,
    /// Background name.
    pub background: &'static str,
    /// `yes` or `no`.
    pub glasses: &'static str,
    /// Head box left.
    pub face_x: u32,
    /// Head box top.
    pub face_y: u32,
    /// Head box width.
    pub face_w: u32,
    /// Head box height.
    pub face_h: u32,
}

/// Draws one face of head-box side `face` at `(x, y)` on a `size` x `size` image. Beyond
/// the attributes, the layout varies at random (background gradient and blobs, hair
/// volume, locks and fringe, face shape, eye spacing), so that two faces of the same
/// attributes are still different pictures to a perceptual hash.
pub fn draw_face(
    attrs: &FaceAttrs,
    size: u32,
    x: u32,
    y: u32,
    face: u32,
    rng: &mut StdRng,
) -> RgbImage {
    let bg = BACKGROUNDS[attrs.background].1;
    // Background: a gradient of random direction and strength, plus soft blobs.
    let (gx, gy) = (
        rng.random_range(-1.0f32..1.0),
        rng.random_range(-1.0f32..1.0),
    );
    let strength = rng.random_range(15.0f32..45.0);
    let mut img = RgbImage::from_fn(size, size, |px, py| {
        let t = (px as f32 / size as f32 - 0.5) * gx + (py as f32 / size as f32 - 0.5) * gy;
        let wave = ((px as f32 * 0.31).sin() + (py as f32 * 0.23).cos()) * 4.0;
        Rgb(bg.map(|c| (c as f32 + t * strength * 2.0 + wave).clamp(0.0, 255.0) as u8))
    });
    for _ in 0..rng.random_range(1..4) {
        let c = (
            rng.random_range(0..size) as i32,
            rng.random_range(0..size) as i32,
        );
        let r = rng.random_range(size / 10..size / 3).max(1) as i32;
        let shade = rng.random_range(-40i16..40);
        let col = Rgb(bg.map(|v| (v as i16 + shade).clamp(0, 255) as u8));
        draw_filled_circle_mut(&mut img, c, r, col);
    }
    let hair = Rgb(HAIR_COLORS[attrs.hair].1);
    let skin = Rgb(SKIN_TONES[attrs.skin].1);
    let iris = Rgb(EYE_COLORS[attrs.eyes].1);
    let s = face as f32;
    let cx = x as f32 + s / 2.0 + rng.random_range(-0.04..0.04) * s;
    let cy = y as f32 + s / 2.0 + rng.random_range(-0.03..0.03) * s;
    let p = |dx: f32, dy: f32| ((cx + dx * s) as i32, (cy + dy * s) as i32);
    let r = |f: f32| ((f * s) as i32).max(1);

    // Hair behind the head: a big ellipse of random volume and locks of random length.
    let (hw, hh) = (rng.random_range(0.40..0.50), rng.random_range(0.38..0.46));
    draw_filled_ellipse_mut(&mut img, p(0.0, -0.06), r(hw), r(hh), hair);
    for side in [-1.0f32, 1.0] {
        let lock = rng.random_range(0.15..0.48);
        let width = rng.random_range(0.12..0.22);
        let left = if side < 0.0 {
            -hw + 0.02
        } else {
            hw - 0.02 - width
        };
        draw_filled_rect_mut(
            &mut img,
            Rect::at(p(left, 0.0).0, p(0.0, -0.05).1)
                .of_size(r(width) as u32, r(lock + 0.1) as u32),
            hair,
        );
    }
    // The face, of random shape, and a fringe with a random parting.
    let (fw, fh) = (rng.random_range(0.29..0.36), rng.random_range(0.34..0.41));
    draw_filled_ellipse_mut(&mut img, p(0.0, 0.08), r(fw), r(fh), skin);
    let part = rng.random_range(-0.12..0.12);
    let fringe = rng.random_range(0.12..0.20);
    draw_filled_ellipse_mut(&mut img, p(part, -0.24), r(0.36), r(fringe), hair);
    for k in 0..rng.random_range(0..4) {
        let dx = -0.25 + 0.17 * k as f32 + rng.random_range(-0.05..0.05);
        draw_filled_ellipse_mut(
            &mut img,
            p(dx, -0.12),
            r(0.05),
            r(rng.random_range(0.05..0.1)),
            hair,
        );
    }
    // Eyes: white, a large coloured iris (anime style), a pupil and a highlight.
    let spread = rng.random_range(0.13..0.17);
    let eye_y = rng.random_range(0.06..0.11);
    for side in [-1.0f32, 1.0] {
        let e = p(side * spread, eye_y);
        draw_filled_ellipse_mut(&mut img, e, r(0.09), r(0.085), Rgb([250, 250, 250]));
        draw_filled_ellipse_mut(&mut img, (e.0, e.1 + 1), r(0.07), r(0.08), iris);
        draw_filled_circle_mut(&mut img, (e.0, e.1 + 1), r(0.025), Rgb([15, 15, 20]));
        draw_filled_circle_mut(
            &mut img,
            (e.0 - r(0.03), e.1 - r(0.03)),
            r(0.015),
            Rgb([255, 255, 255]),
        );
    }
    // Mouth.
    let mouth_y = rng.random_range(0.27..0.33);
    let m0 = p(-0.06, mouth_y);
    let m1 = p(0.06, mouth_y);
    draw_line_segment_mut(
        &mut img,
        (m0.0 as f32, m0.1 as f32),
        (m1.0 as f32, m1.1 as f32),
        Rgb([150, 50, 60]),
    );
    if attrs.glasses {
        let frame = Rgb([30, 30, 30]);
        for side in [-1.0f32, 1.0] {
            let e = p(side * spread, eye_y);
            for dr in 0..(s / 40.0).max(1.0) as i32 {
                draw_hollow_circle_mut(&mut img, e, r(0.12) + dr, frame);
            }
        }
        let b0 = p(-spread + 0.12, eye_y);
        let b1 = p(spread - 0.12, eye_y);
        draw_line_segment_mut(
            &mut img,
            (b0.0 as f32, b0.1 as f32),
            (b1.0 as f32, b1.1 as f32),
            frame,
        );
    }
    img
}

/// Errors of [`generate`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    /// A file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Draws `spec.n` faces into `out/images/NNNNN.png` and writes `out/truth.csv`; returns
/// the truth rows. Faces an earlier, larger run drew there (those its `truth.csv` listed
/// beyond `n`) are removed: the new `truth.csv` no longer lists them, and a training run
/// on the folder took them. Other files are never touched.
pub fn generate(spec: &SynthSpec, out: &Path) -> Result<Vec<TruthRow>, SynthError> {
    let earlier = earlier_faces(&out.join("truth.csv"));
    let rows: Vec<(TruthRow, RgbImage)> = (0..spec.n).map(|i| synth_one(spec, i)).collect();
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SynthError::Write { path, source }
    };
    use rayon::prelude::*;
    rows.par_iter().try_for_each(|(row, img)| {
        let path = out.join(&row.file);
        crate::atomic::save_image(&path, &image::DynamicImage::ImageRgb8(img.clone()))
            .map_err(write_err(&path))
    })?;
    let truth: Vec<TruthRow> = rows.into_iter().map(|(r, _)| r).collect();
    let truth_path = out.join("truth.csv");
    crate::atomic::write_with(&truth_path, |w| {
        let mut wtr = csv::Writer::from_writer(w);
        for row in &truth {
            wtr.serialize(row).map_err(std::io::Error::other)?;
        }
        wtr.flush()
    })
    .map_err(write_err(&truth_path))?;
    let now: std::collections::HashSet<&str> = truth.iter().map(|r| r.file.as_str()).collect();
    for file in earlier.iter().filter(|f| !now.contains(f.as_str())) {
        let p = out.join(file);
        crate::atomic::remove_if_present(&p).map_err(write_err(&p))?;
    }
    Ok(truth)
}

/// The faces an earlier `synth` into this folder drew: its `truth.csv`'s `images/NNNNN.png`
/// names (none when there is no such file, or it does not read).
fn earlier_faces(truth: &Path) -> Vec<String> {
    let Ok(mut rdr) = csv::Reader::from_path(truth) else {
        return Vec::new();
    };
    let synth_name = |f: &str| {
        f.strip_prefix("images/")
            .and_then(|n| n.strip_suffix(".png"))
            .is_some_and(|d| d.len() == 5 && d.bytes().all(|b| b.is_ascii_digit()))
    };
    rdr.records()
        .flatten()
        .filter_map(|r| r.get(0).map(String::from))
        .filter(|f| synth_name(f))
        .collect()
}

/// Face `i` of `spec`: its own RNG stream, so any face can be drawn alone.
pub fn synth_one(spec: &SynthSpec, i: usize) -> (TruthRow, RgbImage) {
    let mut rng = StdRng::seed_from_u64(spec.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64);
    let mut attrs = FaceAttrs::random(&mut rng);
    if let Some(h) = spec.hair {
        attrs.hair = h % HAIR_COLORS.len();
    }
    let size = spec.image_size;
    let (lo, hi) = spec.face_fraction;
    let frac = if hi > lo {
        rng.random_range(lo..=hi)
    } else {
        lo
    };
    // `max` then `min`, not `clamp`: clamp panics on an image under 8 px.
    let face = ((size as f32 * frac) as u32).max(8).min(size);
    let x = rng.random_range(0..=size - face);
    let y = rng.random_range(0..=size - face);
    let img = draw_face(&attrs, size, x, y, face, &mut rng);
    let row = TruthRow {
        file: format!("images/{i:05}.png"),
        hair_color: HAIR_COLORS[attrs.hair].0,
        eye_color: EYE_COLORS[attrs.eyes].0,
        skin_tone: SKIN_TONES[attrs.skin].0,
        background: BACKGROUNDS[attrs.background].0,
        glasses: if attrs.glasses { "yes" } else { "no" },
        face_x: x,
        face_y: y,
        face_w: face,
        face_h: face,
    };
    (row, img)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a second run with a smaller n left the first run's later faces, which
    /// truth.csv no longer listed, for training to take.
    #[test]
    fn a_smaller_rerun_leaves_no_older_faces() {
        let dir = tempfile::tempdir().unwrap();
        let spec = |n| SynthSpec {
            n,
            image_size: 16,
            ..Default::default()
        };
        generate(&spec(5), dir.path()).unwrap();
        std::fs::write(dir.path().join("images/mine.png"), b"x").unwrap();
        generate(&spec(3), dir.path()).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path().join("images"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["00000.png", "00001.png", "00002.png", "mine.png"]);
    }

    #[test]
    fn same_seed_same_face_other_seed_other_face() {
        let spec = SynthSpec {
            n: 3,
            seed: 7,
            ..Default::default()
        };
        let (a, ia) = synth_one(&spec, 1);
        let (b, ib) = synth_one(&spec, 1);
        assert_eq!(a.hair_color, b.hair_color);
        assert_eq!(ia, ib);
        let other = SynthSpec { seed: 8, ..spec };
        let (_, ic) = synth_one(&other, 1);
        assert_ne!(ia, ic);
    }

    #[test]
    fn hair_colour_dominates_the_top_band() {
        // The hair colour must be what a colour heuristic sees above the eyes.
        let spec = SynthSpec {
            n: 24,
            seed: 1,
            image_size: 64,
            face_fraction: (1.0, 1.0),
            hair: None,
        };
        for i in 0..spec.n {
            let (row, img) = synth_one(&spec, i);
            let want = HAIR_COLORS
                .iter()
                .find(|h| h.0 == row.hair_color)
                .unwrap()
                .1;
            let px = img.get_pixel(32, 8).0;
            let d: i32 = (0..3).map(|c| (px[c] as i32 - want[c] as i32).abs()).sum();
            assert!(d < 40, "face {i}: top pixel {px:?} is not hair {want:?}");
        }
    }
}
