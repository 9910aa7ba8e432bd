//! Colour heuristics that may abstain, after animeface-2009 (nagadomi): look at the
//! schema's region of the face crop, drop skin-like pixels, cluster the rest with
//! k-means in CIE Lab, and map the dominant cluster to the nearest reference colour.
//! Each vote carries a confidence; a vote with a weak cluster or no close reference
//! abstains.

use super::schema::{Attribute, Pick, Schema};
use image::RgbImage;

/// Tuning of the colour heuristic.
#[derive(Debug, Clone)]
pub struct HeuristicSpec {
    /// Clusters per region (default 4).
    pub k: usize,
    /// k-means iterations (default 8).
    pub iterations: usize,
    /// Farthest allowed Lab distance from the dominant cluster to its reference colour
    /// (default 40): farther, the heuristic abstains.
    pub max_distance: f32,
    /// Smallest share of the region's kept pixels the dominant cluster must hold (0.2).
    pub min_share: f32,
    /// Softness of the reference match in Lab units (default 12).
    pub temperature: f32,
}

impl Default for HeuristicSpec {
    fn default() -> Self {
        HeuristicSpec {
            k: 4,
            iterations: 8,
            max_distance: 40.0,
            min_share: 0.2,
            temperature: 12.0,
        }
    }
}

/// A heuristic's answer for one attribute of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vote {
    /// Index of the value.
    pub value: usize,
    /// Confidence in 0..1.
    pub confidence: f32,
}

/// sRGB (0..255) to CIE Lab (D65).
pub fn rgb_to_lab(rgb: [u8; 3]) -> [f32; 3] {
    let lin = |c: u8| {
        let c = c as f32 / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let (r, g, b) = (lin(rgb[0]), lin(rgb[1]), lin(rgb[2]));
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    let f = |t: f32| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

fn dist2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

/// Whether a Lab colour looks like (anime or photo) skin: light to mid lightness, a warm
/// hue between red and yellow, and low to moderate chroma.
pub fn is_skin(lab: &[f32; 3]) -> bool {
    let [l, a, b] = *lab;
    let chroma = (a * a + b * b).sqrt();
    let hue = b.atan2(a).to_degrees();
    l > 55.0 && (6.0..=38.0).contains(&chroma) && (35.0..=80.0).contains(&hue) && a > 2.0
}

/// Plain k-means with a deterministic farthest-point start; returns centres and sizes.
pub fn kmeans(points: &[[f32; 3]], k: usize, iterations: usize) -> Vec<([f32; 3], usize)> {
    if points.is_empty() || k == 0 {
        return Vec::new();
    }
    // Start at the mean's nearest point, then repeatedly the point farthest from all centres.
    let mut centres: Vec<[f32; 3]> = vec![points[points.len() / 2]];
    let mut near = vec![f32::MAX; points.len()];
    while centres.len() < k.min(points.len()) {
        let c = *centres.last().unwrap_or(&points[0]);
        let mut best = (0, -1.0f32);
        for (i, p) in points.iter().enumerate() {
            near[i] = near[i].min(dist2(p, &c));
            if near[i] > best.1 {
                best = (i, near[i]);
            }
        }
        if best.1 <= 1e-6 {
            break;
        }
        centres.push(points[best.0]);
    }
    let mut assign = vec![0usize; points.len()];
    for _ in 0..iterations.max(1) {
        for (i, p) in points.iter().enumerate() {
            assign[i] = (0..centres.len())
                .min_by(|&a, &b| dist2(p, &centres[a]).total_cmp(&dist2(p, &centres[b])))
                .unwrap_or(0);
        }
        let mut sum = vec![[0.0f32; 3]; centres.len()];
        let mut n = vec![0usize; centres.len()];
        for (p, &c) in points.iter().zip(&assign) {
            for d in 0..3 {
                sum[c][d] += p[d];
            }
            n[c] += 1;
        }
        for c in 0..centres.len() {
            if n[c] > 0 {
                centres[c] = [
                    sum[c][0] / n[c] as f32,
                    sum[c][1] / n[c] as f32,
                    sum[c][2] / n[c] as f32,
                ];
            }
        }
    }
    let mut n = vec![0usize; centres.len()];
    for &c in &assign {
        n[c] += 1;
    }
    centres.into_iter().zip(n).collect()
}

/// Lab distance within which a pixel counts as the colour to avoid ([`vote_avoiding`]):
/// a flat hair colour, its anti-aliased edge and the shading of real hair.
pub const AVOID_DISTANCE: f32 = 20.0;

/// The Lab pixels of `attr`'s region of `img`, skin-like ones dropped, and those within
/// [`AVOID_DISTANCE`] of `avoid`.
fn region_pixels(
    img: &RgbImage,
    region: [f32; 4],
    pick: Pick,
    avoid: Option<[f32; 3]>,
) -> (Vec<[f32; 3]>, usize) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let x0 = (region[0] * w).floor() as u32;
    let y0 = (region[1] * h).floor() as u32;
    let x1 = ((region[2] * w).ceil() as u32).min(img.width());
    let y1 = ((region[3] * h).ceil() as u32).min(img.height());
    let mut out = Vec::new();
    let mut total = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            total += 1;
            let lab = rgb_to_lab(img.get_pixel(x, y).0);
            let pale = pick == Pick::Chromatic
                && lab[0] > 75.0
                && (lab[1] * lab[1] + lab[2] * lab[2]).sqrt() < 18.0;
            let avoided = avoid.is_some_and(|c| dist2(&lab, &c) < AVOID_DISTANCE * AVOID_DISTANCE);
            if !is_skin(&lab) && !pale && !avoided {
                out.push(lab);
            }
        }
    }
    (out, total)
}

/// The dominant colour of `region` of `img` (skin dropped): the largest k-means
/// cluster's Lab centre and its share of the kept pixels, or `None` when the region is
/// mostly skin.
pub fn dominant(
    img: &RgbImage,
    region: [f32; 4],
    pick: Pick,
    spec: &HeuristicSpec,
) -> Option<([f32; 3], f32)> {
    dominant_avoiding(img, region, pick, spec, None)
}

/// [`dominant`] with the pixels near `avoid` dropped as skin is.
pub fn dominant_avoiding(
    img: &RgbImage,
    region: [f32; 4],
    pick: Pick,
    spec: &HeuristicSpec,
    avoid: Option<[f32; 3]>,
) -> Option<([f32; 3], f32)> {
    let (pixels, total) = region_pixels(img, region, pick, avoid);
    let min_kept = if pick == Pick::Chromatic { 20 } else { 4 };
    if pixels.len() * min_kept < total || pixels.is_empty() {
        return None; // mostly skin: the region missed the hair or eyes
    }
    let clusters = kmeans(&pixels, spec.k, spec.iterations);
    let score = |c: &([f32; 3], usize)| match pick {
        Pick::Dominant => c.1 as f32,
        Pick::Chromatic => c.1 as f32 * ((c.0[1] * c.0[1] + c.0[2] * c.0[2]).sqrt() + 10.0),
    };
    let (centre, size) = clusters
        .into_iter()
        .max_by(|a, b| score(a).total_cmp(&score(b)))?;
    Some((centre, size as f32 / pixels.len() as f32))
}

/// The colour heuristic's vote for `attr` on `img`, or `None` (abstain, or no region).
pub fn vote(img: &RgbImage, attr: &Attribute, spec: &HeuristicSpec) -> Option<Vote> {
    vote_avoiding(img, attr, spec, None)
}

/// [`vote`] as `schema` declares it: with `attr.exclude`'s colour (the dominant cluster
/// of that attribute's region) left out of `attr`'s region. For every attribute of one
/// image at once, [`votes_in_schema`] finds each region's dominant cluster only once.
pub fn vote_in_schema(
    img: &RgbImage,
    schema: &Schema,
    attr: &Attribute,
    spec: &HeuristicSpec,
) -> Option<Vote> {
    let avoid = attr.exclude.as_deref().and_then(|x| {
        let other = schema.attribute(x)?;
        dominant(img, other.region?, other.pick, spec).map(|d| d.0)
    });
    vote_avoiding(img, attr, spec, avoid)
}

/// [`vote_in_schema`] for each of `schema`'s attributes, in order. An attribute's plain
/// dominant cluster is found once and serves both its own vote and the vote of any
/// attribute that excludes it (the eye band drops the hair's colour), where calling
/// [`vote_in_schema`] per attribute clusters the hair region twice.
pub fn votes_in_schema(img: &RgbImage, schema: &Schema, spec: &HeuristicSpec) -> Vec<Option<Vote>> {
    type Dominant = Option<([f32; 3], f32)>;
    let attrs = &schema.attributes;
    let mut plain: Vec<Option<Dominant>> = vec![None; attrs.len()];
    let mut plain_of = |i: usize| -> Dominant {
        *plain[i].get_or_insert_with(|| {
            let a = &attrs[i];
            a.region.and_then(|r| dominant(img, r, a.pick, spec))
        })
    };
    (0..attrs.len())
        .map(|i| {
            let a = &attrs[i];
            let refs = reference_labs(a)?;
            let found = match a.exclude.as_deref() {
                None => plain_of(i),
                Some(x) => {
                    let avoid = schema
                        .attribute_index(x)
                        .and_then(|j| plain_of(j).map(|d| d.0));
                    dominant_avoiding(img, a.region?, a.pick, spec, avoid)
                }
            };
            match_reference(a, spec, &refs, found?)
        })
        .collect()
}

/// [`vote`] with the region's pixels near `avoid` (Lab) left out: the colour of the
/// attribute named by `attr.exclude` (hair that falls over the eye band would otherwise
/// be read as the eyes' colour).
pub fn vote_avoiding(
    img: &RgbImage,
    attr: &Attribute,
    spec: &HeuristicSpec,
    avoid: Option<[f32; 3]>,
) -> Option<Vote> {
    let region = attr.region?;
    let refs = reference_labs(attr)?;
    let found = dominant_avoiding(img, region, attr.pick, spec, avoid)?;
    match_reference(attr, spec, &refs, found)
}

/// Each value's reference colours in Lab, or `None` when a value has none (no colour
/// heuristic for this attribute).
fn reference_labs(attr: &Attribute) -> Option<Vec<Vec<[f32; 3]>>> {
    attr.values
        .iter()
        .map(|v| {
            attr.colors
                .get(v)
                .map(|c| c.as_slice().iter().map(|&x| rgb_to_lab(x)).collect())
        })
        .collect()
}

/// The vote for a region whose dominant cluster is `(centre, share)`: the nearest
/// reference value, or `None` when the cluster is too small or no reference is close.
fn match_reference(
    attr: &Attribute,
    spec: &HeuristicSpec,
    refs: &[Vec<[f32; 3]>],
    (centre, share): ([f32; 3], f32),
) -> Option<Vote> {
    let min_share = if attr.pick == Pick::Chromatic {
        spec.min_share / 2.0
    } else {
        spec.min_share
    };
    if share < min_share {
        return None;
    }
    let d: Vec<f32> = refs
        .iter()
        .map(|rs| {
            rs.iter()
                .map(|r| dist2(&centre, r).sqrt())
                .fold(f32::MAX, f32::min)
        })
        .collect();
    let (best, &d1) = d.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1))?;
    if d1 > spec.max_distance {
        return None;
    }
    // Softmax of negative distances: how clearly the centre is nearest to one reference.
    let t = spec.temperature;
    let z: f32 = d.iter().map(|&di| (-(di - d1) / t).exp()).sum();
    let p = 1.0 / z;
    let confidence = p * (share / 0.5).min(1.0) * attr.trust;
    Some(Vote {
        value: best,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_of_white_and_black() {
        let w = rgb_to_lab([255, 255, 255]);
        assert!(
            (w[0] - 100.0).abs() < 0.5 && w[1].abs() < 0.5 && w[2].abs() < 0.5,
            "{w:?}"
        );
        let k = rgb_to_lab([0, 0, 0]);
        assert!(k[0].abs() < 0.5);
    }

    #[test]
    fn skin_is_skin_and_hair_is_not() {
        for s in crate::synth::SKIN_TONES.iter().take(3) {
            assert!(is_skin(&rgb_to_lab(s.1)), "{}", s.0);
        }
        for h in ["blue", "green", "black", "white", "purple", "aqua", "gray"] {
            let c = crate::synth::HAIR_COLORS
                .iter()
                .find(|x| x.0 == h)
                .unwrap()
                .1;
            assert!(!is_skin(&rgb_to_lab(c)), "{h}");
        }
    }

    /// Hair strands that cover more of the eye band than the irises do win the
    /// chromatic pick; left out as the hair's colour, the irises are read.
    #[test]
    fn the_excluded_colour_leaves_the_eyes_to_be_read() {
        use crate::labels::schema::{Colors, Kind};
        let (hair, iris, skin) = ([40, 70, 215], [45, 160, 60], [255, 228, 205]);
        let img = RgbImage::from_fn(40, 40, |x, y| {
            let band = (10..20).contains(&y);
            if !(12..28).contains(&x) {
                image::Rgb(hair)
            } else if band && ((14..18).contains(&x) || (22..26).contains(&x)) {
                image::Rgb(iris)
            } else {
                image::Rgb(skin)
            }
        });
        let attr = Attribute {
            name: "eye_color".into(),
            kind: Kind::Categorical,
            values: vec!["blue".into(), "green".into()],
            region: Some([0.0, 0.25, 1.0, 0.5]),
            colors: [
                ("blue".to_string(), Colors::One([45, 80, 215])),
                ("green".to_string(), Colors::One(iris)),
            ]
            .into(),
            pick: Pick::Chromatic,
            trust: 1.0,
            exclude: None,
        };
        let spec = HeuristicSpec::default();
        let plain = vote(&img, &attr, &spec).unwrap();
        assert_eq!(
            attr.values[plain.value], "blue",
            "the hair wins without exclusion"
        );
        let avoid = Some(rgb_to_lab(hair));
        let v = vote_avoiding(&img, &attr, &spec, avoid).unwrap();
        assert_eq!(attr.values[v.value], "green");
    }

    #[test]
    fn kmeans_finds_two_blobs() {
        let mut pts = vec![[10.0, 0.0, 0.0]; 30];
        pts.extend(vec![[80.0, 20.0, 20.0]; 10]);
        let c = kmeans(&pts, 2, 5);
        let big = c.iter().max_by_key(|c| c.1).unwrap();
        assert_eq!(big.1, 30);
        assert!((big.0[0] - 10.0).abs() < 1e-3);
    }
}
