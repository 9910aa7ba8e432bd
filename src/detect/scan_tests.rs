//! Tests of the window scan: stage sums against a pixel-by-pixel reference of OpenCV's
//! formulas (upright, tilted and LBP features), and the pyramid's levels.

use super::super::cascade::{Cascade, Features};
use super::super::DetectSpec;
use super::resize_linear;
use image::GrayImage;

/// Regression: a NaN factor never stopped the pyramid, and 1 + 1e-12 under a large
/// minimum size looped about 10^12 times keeping no level.
#[test]
fn the_pyramid_ends_whatever_the_factor() {
    let levels = |scale_factor: f64, min: u32| {
        let spec = DetectSpec {
            scale_factor,
            min_size: (min, min),
            ..DetectSpec::default()
        };
        super::pyramid_scales((24, 24), (4000, 4000), &spec)
    };
    assert_eq!(levels(f64::NAN, 0), [1.0]);
    assert_eq!(levels(1.0, 0), [1.0]);
    // No level reaches 1,000 px within the levels visited: the nearest, level 1, alone.
    assert_eq!(levels(1.0 + 1e-12, 1000), [1.0]);
    let default = levels(1.1, 0);
    assert_eq!(default.len(), 54, "24 px to 4,000 px in steps of 1.1");
    assert!(levels(super::super::MIN_SCALE_FACTOR, 0).len() < super::MAX_LEVELS);
}

/// Regression: when the size limits kept no level, nothing was scanned; OpenCV 4.x scans
/// the one level whose window is nearest `min_size` (values checked against
/// `cv2.detectMultiScale` with an always-pass cascade). Window sizes are compared in f32,
/// as OpenCV computes them: 50 x 1.21 is 60.5 in f64 but rounds to 60 in f32.
#[test]
fn size_limits_that_keep_no_level_scan_the_nearest() {
    let levels = |window: u32, size: (u32, u32), f: f64, min: u32, max: Option<u32>| {
        let spec = DetectSpec {
            scale_factor: f,
            min_size: (min, min),
            max_size: max.map(|m| (m, m)),
            ..DetectSpec::default()
        };
        super::pyramid_scales((window, window), size, &spec)
    };
    let window = |s: &[f32]| {
        s.iter()
            .map(|&s| (24.0 * s).round_ties_even() as u32)
            .collect::<Vec<_>>()
    };
    assert_eq!(window(&levels(24, (96, 96), 1.1, 100, None)), [91]);
    assert_eq!(window(&levels(24, (96, 96), 1.1, 50, Some(50))), [51]);
    assert_eq!(window(&levels(24, (96, 96), 1.1, 30, Some(20))), [29]);
    assert_eq!(levels(24, (200, 120), 1.2, 10, Some(20)), [1.0]);
    // Levels that fit are kept as before, and an image smaller than the window has none.
    assert_eq!(
        levels(24, (96, 96), 1.1, 40, None).len(),
        9,
        "42 px to 91 px"
    );
    assert!(levels(24, (20, 20), 1.1, 0, None).is_empty());
    assert_eq!(
        levels(50, (100, 100), 1.1, 0, Some(60)).last(),
        Some(&1.21f32)
    );
}

/// Sum of `img` over a rectangle, by a plain loop.
fn block(img: &GrayImage, x: i32, y: i32, w: i32, h: i32) -> i32 {
    let mut s = 0;
    for yy in y..y + h {
        for xx in x..x + w {
            s += i32::from(img.get_pixel(xx as u32, yy as u32)[0]);
        }
    }
    s
}

/// The pixels of OpenCV's 45° rectangle with top corner (`x`, `y`), `w` steps down
/// to the right and `h` down to the left. OpenCV sums it as `T(top) - T(left) -
/// T(right) + T(bottom)` of the tilted integral, whose `T(X, Y)` sums the upward cone
/// of pixels `y < Y, |x - X + 1| <= Y - y - 1`: the pixels are those in the bottom
/// corner's cone and in neither side corner's.
fn tilted_pixels(x: i32, y: i32, w: i32, h: i32) -> Vec<(i32, i32)> {
    let cone = |cx: i32, cy: i32, px: i32, py: i32| py < cy && (px - cx + 1).abs() < cy - py;
    let (left, right, bottom) = ((x - h, y + h), (x + w, y + w), (x + w - h, y + w + h));
    let mut out = Vec::new();
    for py in y - 1..=bottom.1 {
        for px in left.0 - 1..=right.0 {
            if cone(bottom.0, bottom.1, px, py)
                && !cone(left.0, left.1, px, py)
                && !cone(right.0, right.1, px, py)
            {
                out.push((px, py));
            }
        }
    }
    out
}

/// Sum of `img` over a tilted rectangle, pixel by pixel.
fn tilted_block(img: &GrayImage, x: i32, y: i32, w: i32, h: i32) -> i32 {
    tilted_pixels(x, y, w, h)
        .into_iter()
        .map(|(px, py)| i32::from(img.get_pixel(px as u32, py as u32)[0]))
        .sum()
}

/// Stage sums computed straight from pixels, following OpenCV's formulas.
fn naive_stage_sums(c: &Cascade, img: &GrayImage, x0: i32, y0: i32) -> Option<Vec<f64>> {
    let (ww, wh) = (c.window.0 as i32, c.window.1 as i32);
    let feature = |fi: usize, vnf: f32| -> (f32, u32) {
        match &c.features {
            Features::Haar(f) => {
                let f = &f[fi];
                let r = |k: usize| {
                    let r = f.rects[k];
                    let (x, y) = (x0 + r.x, y0 + r.y);
                    if f.tilted {
                        tilted_block(img, x, y, r.w, r.h) as f32
                    } else {
                        block(img, x, y, r.w, r.h) as f32
                    }
                };
                let mut v = f.rects[0].weight * r(0) + f.rects[1].weight * r(1);
                if f.rects[2].weight != 0.0 {
                    v += f.rects[2].weight * r(2);
                }
                (v * vnf, 0)
            }
            Features::Lbp(f) => {
                let f = f[fi];
                let b = |col: i32, row: i32| {
                    block(img, x0 + f.x + col * f.w, y0 + f.y + row * f.h, f.w, f.h)
                };
                let cv = b(1, 1);
                let order = [
                    (0, 0),
                    (1, 0),
                    (2, 0),
                    (2, 1),
                    (2, 2),
                    (1, 2),
                    (0, 2),
                    (0, 1),
                ];
                let code = order.iter().fold(0u32, |acc, &(col, row)| {
                    (acc << 1) | u32::from(b(col, row) >= cv)
                });
                (0.0, code)
            }
        }
    };
    let mut vnf = 1.0f32;
    if matches!(c.features, Features::Haar(_)) {
        let (area, mut s, mut q) = (f64::from((ww - 2) * (wh - 2)), 0f64, 0f64);
        for yy in y0 + 1..y0 + wh - 1 {
            for xx in x0 + 1..x0 + ww - 1 {
                let v = f64::from(img.get_pixel(xx as u32, yy as u32)[0]);
                s += v;
                q += v * v;
            }
        }
        let nf = area * q - s * s;
        if nf <= 0.0 {
            return None;
        }
        vnf = (1.0 / nf.sqrt()) as f32;
        if area * f64::from(vnf) >= 0.1 {
            return None;
        }
    }
    let (mut node0, mut leaf0, mut tree) = (0usize, 0usize, 0usize);
    let mut out = Vec::new();
    for st in &c.stages {
        let mut sum = 0f64;
        for _ in 0..st.ntrees {
            let n = c.tree_nodes[tree] as usize;
            let mut idx = 0i32;
            loop {
                let node = c.nodes[node0 + idx as usize];
                let (v, code) = feature(node.feature as usize, vnf);
                let left = match c.features {
                    Features::Haar(_) => v < node.threshold,
                    Features::Lbp(_) => {
                        c.subsets[node0 + idx as usize][(code / 32) as usize] >> (code % 32) & 1
                            == 1
                    }
                };
                idx = if left { node.left } else { node.right };
                if idx <= 0 {
                    break;
                }
            }
            sum += f64::from(c.leaves[leaf0 + (-idx) as usize]);
            node0 += n;
            leaf0 += n + 1;
            tree += 1;
        }
        out.push(sum);
    }
    Some(out)
}

fn test_image(w: u32, h: u32) -> GrayImage {
    // Smooth blobs plus noise: varied enough to pass the variance test.
    GrayImage::from_fn(w, h, |x, y| {
        let v = 128.0
            + 60.0 * ((x as f32 * 0.21).sin() * (y as f32 * 0.17).cos())
            + ((x * 7919 + y * 104_729) % 41) as f32;
        image::Luma([v.clamp(0.0, 255.0) as u8])
    })
}

#[test]
fn stage_sums_match_naive_reference() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/models");
    let names = [
        "haarcascade_frontalface_default.xml",
        "haarcascade_frontalface_alt2.xml",
        "lbpcascade_animeface.xml",
    ];
    let img = test_image(64, 60);
    for name in names {
        let path = std::path::Path::new(dir).join(name);
        if !path.exists() {
            eprintln!("skipping {name}: shared models absent");
            continue;
        }
        let c = Cascade::load(&path).unwrap();
        let mut compared = 0;
        for (x, y) in [(0, 0), (5, 3), (17, 11), (30, 30), (40, 36)] {
            let fast = c.stage_sums(&img, x, y);
            let slow = naive_stage_sums(&c, &img, x as i32, y as i32);
            assert_eq!(fast, slow, "{name} at ({x},{y})");
            compared += usize::from(fast.is_some());
        }
        assert!(compared > 0, "{name}: every window was rejected as flat");
    }
}

#[test]
fn tilted_rectangles_are_diamonds_of_twice_their_area() {
    for (w, h) in [(1, 1), (3, 3), (4, 2), (1, 5)] {
        let px = tilted_pixels(10, 0, w, h);
        assert_eq!(px.len() as i32, 2 * w * h, "{w}x{h}");
        // Inside the bounds the reader checks (`x - h >= 0`, `x + w <= width`,
        // `y + w + h <= height` for a window at the origin).
        assert!(px
            .iter()
            .all(|&(x, y)| x >= 10 - h && x < 10 + w && y >= 0 && y < w + h));
    }
    // A 2x1 rectangle: rows of 1, 2 and 1 pixels, going down to the right.
    let mut px = tilted_pixels(5, 2, 2, 1);
    px.sort_by_key(|&(x, y)| (y, x));
    assert_eq!(px, [(4, 2), (4, 3), (5, 3), (5, 4)]);
}

/// A cascade with a tilted feature, read from its XML, against the pixel-level
/// reference, and the detector's raw hits on two pyramid levels against a
/// window-by-window scan of the reference: the shared cascades have no tilted
/// features, so nothing else runs this path end to end.
#[test]
fn tilted_features_match_the_reference_through_the_pyramid() {
    // Stage 0 always passes (so a rejection is never stage 0's, whose windows the
    // scan skips a step after); stage 1 passes where a centred 3x3 diamond is brighter
    // than the 7x7 one around it (weight 98 / 18 makes a flat area 0).
    let xml = r#"<?xml version="1.0"?>
<opencv_storage>
<cascade type_id="opencv-cascade-classifier"><stageType>BOOST</stageType>
  <featureType>HAAR</featureType><height>16</height><width>16</width>
  <stageParams><maxWeakCount>1</maxWeakCount></stageParams>
  <featureParams><maxCatCount>0</maxCatCount></featureParams>
  <stageNum>2</stageNum>
  <stages>
<_><maxWeakCount>1</maxWeakCount><stageThreshold>0.5</stageThreshold>
  <weakClassifiers><_><internalNodes>0 -1 0 0.</internalNodes>
    <leafValues>1. 1.</leafValues></_></weakClassifiers></_>
<_><maxWeakCount>1</maxWeakCount><stageThreshold>0.</stageThreshold>
  <weakClassifiers><_><internalNodes>0 -1 1 0.5</internalNodes>
    <leafValues>-1. 1.</leafValues></_></weakClassifiers></_>
  </stages>
  <features>
<_><rects><_>2 2 12 12 -1.</_><_>2 2 6 6 4.</_></rects></_>
<_><rects><_>8 1 7 7 -1.</_><_>8 5 3 3 5.4444444</_></rects><tilted>1</tilted></_>
  </features>
</cascade>
</opencv_storage>
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tilted.xml");
    std::fs::write(&path, xml).unwrap();
    let c = Cascade::load(&path).unwrap();
    let Features::Haar(f) = &c.features else {
        panic!("read as LBP")
    };
    assert!(!f[0].tilted && f[1].tilted);

    // Noise with bright 3x3 diamonds planted at two window positions: one for
    // level 1 (even coordinates, its step is 2) and one twice as large for level 2.
    let mut seed = 7u32;
    let mut img = GrayImage::from_fn(96, 80, |_, _| {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        image::Luma([100 + (seed >> 16) as u8 % 64])
    });
    for (x, y) in tilted_pixels(8 + 10, 5 + 6, 3, 3) {
        img.put_pixel(x as u32, y as u32, image::Luma([250]));
    }
    for (x, y) in tilted_pixels(2 * (8 + 20), 2 * (5 + 18), 6, 6) {
        img.put_pixel(x as u32, y as u32, image::Luma([250]));
    }

    // Window by window from the pixels: level 1 on the image, level 2 on the image
    // resized as the detector resizes it, hits mapped back to image pixels.
    let mut want = Vec::new();
    let level2 = resize_linear(img.as_raw(), 96, 80, 48, 40);
    let level2 = GrayImage::from_raw(48, 40, level2).unwrap();
    for (level, scale, step) in [(&img, 1, 2), (&level2, 2, 1)] {
        for y in (0..=level.height() - 16).step_by(step) {
            for x in (0..=level.width() - 16).step_by(step) {
                let sums = naive_stage_sums(&c, level, x as i32, y as i32);
                assert_eq!(c.stage_sums(level, x, y), sums, "level {scale} ({x},{y})");
                if sums.is_some_and(|s| s[0] >= 0.5 && s[1] >= 0.0) {
                    want.push((x * scale, y * scale, 16 * scale));
                }
            }
        }
    }
    assert!(want.contains(&(10, 6, 16)), "the level-1 diamond: {want:?}");
    assert!(
        want.contains(&(40, 36, 32)),
        "the level-2 diamond: {want:?}"
    );
    assert!(want.len() < 40, "the texture passes too: {want:?}");

    let spec = DetectSpec {
        scale_factor: 2.0,
        max_size: Some((32, 32)),
        ..DetectSpec::default()
    };
    let mut got: Vec<(u32, u32, u32)> = c
        .candidates(&img, &spec)
        .into_iter()
        .map(|r| (r.x as u32, r.y as u32, r.width as u32))
        .collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
}
