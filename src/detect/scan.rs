//! The image pyramid and the sliding-window scan of one pyramid level.
//!
//! As in OpenCV >= 3, each level is the image resized by `1 / scale` (bilinear) and
//! scanned with the cascade's trained window; hits are mapped back by `scale`. The step
//! is 2 px below scale 2 and 1 px from there on, and a window whose first stage fails
//! also skips the next position (`CascadeClassifierInvoker`). Haar windows with a
//! standard deviation of 10 grey levels or less are rejected before any stage
//! (`HaarEvaluator::setWindow`).

use image::GrayImage;

use super::cascade::{Cascade, Features, Stage};
use super::group::Rect;
use super::imgops::resize_linear;
use super::integral::{integral_strided, squared_integral_strided, tilted_integral_strided};
use super::DetectSpec;

/// Pyramid levels visited at most (1.01^4096 is about 10^17: no image is that large).
const MAX_LEVELS: usize = 4096;

/// The pyramid scales OpenCV's `detectMultiScaleNoGrouping` would scan.
///
/// As OpenCV: first every factor `scale_factor^k` whose window (rounded half to even in
/// f64) fits the image, kept as f32; then those whose window, recomputed as OpenCV does
/// in f32 (`int * float`), lies within `min_size`..=`max_size`. When the size limits
/// leave none, the one factor whose window is nearest `min_size` (squared distance,
/// first on ties) is scanned alone, so that `min_size == max_size` off the pyramid's
/// grid still scans one level. A `scale_factor` of 1 or less (or NaN) gives the single
/// level 1.
pub(crate) fn pyramid_scales(window: (u32, u32), size: (u32, u32), spec: &DetectSpec) -> Vec<f32> {
    let (w, h) = size;
    let (max_w, max_h) = match spec.max_size {
        Some((mw, mh)) if mw > 0 && mh > 0 => (mw, mh),
        _ => (w, h),
    };
    let mut all = Vec::new();
    let mut factor = 1.0f64;
    // Bounded by levels visited: a factor of 1 + 1e-12 looped about 10^12 times.
    for _ in 0..MAX_LEVELS {
        let ww = (f64::from(window.0) * factor).round_ties_even();
        let wh = (f64::from(window.1) * factor).round_ties_even();
        if ww > f64::from(w) || wh > f64::from(h) {
            break;
        }
        all.push(factor as f32);
        // NaN too, which no comparison stopped.
        if spec.scale_factor.is_nan() || spec.scale_factor <= 1.0 {
            break;
        }
        factor *= spec.scale_factor;
    }
    // The window of a kept level as OpenCV's filter computes it: `cvRound(int * float)`.
    let win = |s: f32| {
        let side = |n: u32| (n as f32 * s).round_ties_even() as i64;
        (side(window.0), side(window.1))
    };
    let (min_w, min_h) = (i64::from(spec.min_size.0), i64::from(spec.min_size.1));
    let mut out = Vec::new();
    for &s in &all {
        let (ww, wh) = win(s);
        if ww > i64::from(max_w) || wh > i64::from(max_h) {
            break;
        }
        if ww >= min_w && wh >= min_h {
            out.push(s);
        }
    }
    if out.is_empty() {
        let nearest = all.iter().copied().min_by_key(|&s| {
            let (ww, wh) = win(s);
            (min_w - ww).pow(2) + (min_h - wh).pow(2)
        });
        out.extend(nearest);
    }
    out
}

/// Scans one pyramid level and returns its hits in image pixels.
///
/// `compiled` must have been made for a stride of at least `gray.width() + 1`.
pub(crate) fn scan_scale(
    c: &Cascade,
    compiled: &Compiled,
    gray: &GrayImage,
    scale: f32,
) -> Vec<Rect> {
    let (sw, sh) = (gray.width() as usize, gray.height() as usize);
    // At most the image (a side past 2^24 px rounds up in f32 at scale 1).
    let dw = ((sw as f32 / scale).round_ties_even() as usize).min(sw);
    let dh = ((sh as f32 / scale).round_ties_even() as usize).min(sh);
    let (ww, wh) = (c.window.0 as usize, c.window.1 as usize);
    if dw < ww || dh < wh || sw == 0 || sh == 0 {
        return Vec::new();
    }
    // What the unchecked reads ([`at`]) rely on, once per level: a level's rows fit the
    // integral's stride, and the compiled features are this cascade's window's.
    assert!(
        compiled.stride > dw && compiled.window == c.window,
        "a cascade compiled for another image or cascade"
    );
    let resized;
    let img: &[u8] = if (dw, dh) == (sw, sh) {
        gray.as_raw()
    } else {
        resized = resize_linear(gray.as_raw(), sw, sh, dw, dh);
        &resized
    };
    let level = Level::new(c, compiled, img, dw, dh);
    let step = if scale >= 2.0 { 1 } else { 2 };
    let win_w = (ww as f32 * scale).round_ties_even() as i32;
    let win_h = (wh as f32 * scale).round_ties_even() as i32;
    let mut hits = Vec::new();
    let stages = &c.stages;
    for y in (0..=dh - wh).step_by(step) {
        let mut x = 0;
        while x + ww <= dw {
            let result = level.run(y * level.stride + x, |si, sum| {
                sum < f64::from(stages[si].threshold)
            });
            if result > 0 {
                hits.push(Rect {
                    x: (x as f32 * scale).round_ties_even() as i32,
                    y: (y as f32 * scale).round_ties_even() as i32,
                    width: win_w,
                    height: win_h,
                });
            }
            if result == 0 {
                x += step;
            }
            x += step;
        }
    }
    hits
}

impl Cascade {
    /// Every stage's sum for the window at (`x`, `y`) of `image` at scale 1, without early
    /// exit; `None` if the window does not fit or (Haar) is rejected as too flat.
    /// A diagnostic for checking the evaluator against a reference.
    pub fn stage_sums(&self, image: &GrayImage, x: u32, y: u32) -> Option<Vec<f64>> {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let (x, y) = (x as usize, y as usize);
        if x + self.window.0 as usize > w || y + self.window.1 as usize > h {
            return None;
        }
        let compiled = Compiled::new(self, w + 1);
        let level = Level::new(self, &compiled, image.as_raw(), w, h);
        let mut sums = Vec::new();
        let r = level.run(y * level.stride + x, |_, s| {
            sums.push(s);
            false
        });
        (r != -1).then_some(sums)
    }
}

/// Offsets of one Haar feature's rectangles relative to the window origin.
#[derive(Clone, Copy)]
struct HaarOpt {
    ofs: [[u32; 4]; 3],
    weight: [f32; 3],
    tilted: bool,
}

/// A Haar stump with its feature inlined.
struct HaarStump {
    f: HaarOpt,
    threshold: f32,
    left: f32,
    right: f32,
}

/// An LBP stump with its 16 grid offsets and category subset inlined.
struct LbpStump {
    ofs: [u32; 16],
    subset: [u32; 8],
    left: f32,
    right: f32,
}

enum CompiledKind {
    HaarStumps(Vec<HaarStump>),
    HaarTrees(Vec<HaarOpt>),
    LbpStumps(Vec<LbpStump>),
    LbpTrees(Vec<[u32; 16]>),
}

/// The cascade with feature offsets resolved for one integral-image stride; every
/// pyramid level of an image uses the stride of the largest, so this is built once.
pub(crate) struct Compiled {
    stride: usize,
    /// The window the features were compiled for.
    window: (u32, u32),
    norm: [u32; 4],
    norm_area: f64,
    kind: CompiledKind,
}

/// One pyramid level: its integral images (rows `compiled.stride` apart).
struct Level<'a> {
    c: &'a Cascade,
    k: &'a Compiled,
    stride: usize,
    sum: Vec<i32>,
    sq: Vec<u32>,
    tilted: Vec<i32>,
}

/// Reads `buf[i]` without a bounds check.
///
/// Safety (upheld by callers): `Level::run` is only called for windows lying inside the
/// level, and the reader (`xml.rs`) checked that every feature rectangle lies inside the
/// window, so `i <= (y + wh) * stride + x + ww < buf.len()`.
#[inline(always)]
fn at<T: Copy>(buf: &[T], i: usize) -> T {
    debug_assert!(i < buf.len());
    // SAFETY: see the function comment; the debug assertion checks it in tests.
    unsafe { *buf.get_unchecked(i) }
}

fn corners(x: i32, y: i32, w: i32, h: i32, stride: usize) -> [u32; 4] {
    let p = |px: i32, py: i32| (py as usize * stride + px as usize) as u32;
    [p(x, y), p(x + w, y), p(x, y + h), p(x + w, y + h)]
}

fn tilted_corners(x: i32, y: i32, w: i32, h: i32, stride: usize) -> [u32; 4] {
    let p = |px: i32, py: i32| (py as usize * stride + px as usize) as u32;
    [
        p(x, y),
        p(x - h, y + h),
        p(x + w, y + w),
        p(x + w - h, y + w + h),
    ]
}

impl Compiled {
    pub(crate) fn new(c: &Cascade, stride: usize) -> Compiled {
        let (ww, wh) = (c.window.0 as i32, c.window.1 as i32);
        let kind = match &c.features {
            Features::Haar(feats) => {
                let opts: Vec<HaarOpt> = feats
                    .iter()
                    .map(|f| {
                        let mut o = HaarOpt {
                            ofs: [[0; 4]; 3],
                            weight: [0.0; 3],
                            tilted: f.tilted,
                        };
                        for (k, r) in f.rects.iter().enumerate() {
                            o.weight[k] = r.weight;
                            o.ofs[k] = if f.tilted {
                                tilted_corners(r.x, r.y, r.w, r.h, stride)
                            } else {
                                corners(r.x, r.y, r.w, r.h, stride)
                            };
                        }
                        o
                    })
                    .collect();
                if c.stumps {
                    let stumps = c
                        .nodes
                        .iter()
                        .enumerate()
                        .map(|(t, n)| HaarStump {
                            f: opts[n.feature as usize],
                            threshold: n.threshold,
                            left: c.leaves[2 * t],
                            right: c.leaves[2 * t + 1],
                        })
                        .collect();
                    CompiledKind::HaarStumps(stumps)
                } else {
                    CompiledKind::HaarTrees(opts)
                }
            }
            Features::Lbp(feats) => {
                let opts: Vec<[u32; 16]> = feats
                    .iter()
                    .map(|f| {
                        let mut o = [0u32; 16];
                        for (i, v) in o.iter_mut().enumerate() {
                            let (col, row) = ((i % 4) as i32, (i / 4) as i32);
                            *v = ((f.y + row * f.h) as usize * stride + (f.x + col * f.w) as usize)
                                as u32;
                        }
                        o
                    })
                    .collect();
                if c.stumps {
                    let stumps = c
                        .nodes
                        .iter()
                        .enumerate()
                        .map(|(t, n)| LbpStump {
                            ofs: opts[n.feature as usize],
                            subset: c.subsets[t],
                            left: c.leaves[2 * t],
                            right: c.leaves[2 * t + 1],
                        })
                        .collect();
                    CompiledKind::LbpStumps(stumps)
                } else {
                    CompiledKind::LbpTrees(opts)
                }
            }
        };
        Compiled {
            stride,
            window: c.window,
            norm: corners(1, 1, ww - 2, wh - 2, stride),
            norm_area: f64::from((ww - 2) * (wh - 2)),
            kind,
        }
    }
}

impl<'a> Level<'a> {
    fn new(c: &'a Cascade, k: &'a Compiled, img: &[u8], w: usize, h: usize) -> Level<'a> {
        let stride = k.stride;
        debug_assert!(stride > w);
        let haar = matches!(c.features, Features::Haar(_));
        Level {
            c,
            k,
            stride,
            sum: integral_strided(img, w, h, stride),
            sq: if haar {
                squared_integral_strided(img, w, h, stride)
            } else {
                Vec::new()
            },
            tilted: if c.has_tilted {
                tilted_integral_strided(img, w, h, stride)
            } else {
                Vec::new()
            },
        }
    }

    /// Runs the cascade on the window at `base`; `stop(stage, sum)` decides whether a
    /// stage fails. Returns 1 (passed), `-stage` (failed there; 0 for the first stage),
    /// or -1 for a Haar window too flat to evaluate, like OpenCV's `runAt`.
    #[inline(always)]
    fn run(&self, base: usize, mut stop: impl FnMut(usize, f64) -> bool) -> i32 {
        let stages: &[Stage] = &self.c.stages;
        match &self.k.kind {
            CompiledKind::HaarStumps(stumps) => {
                let Some(vnf) = self.variance_factor(base) else {
                    return -1;
                };
                let mut k = 0;
                for (si, st) in stages.iter().enumerate() {
                    let n = st.ntrees as usize;
                    let mut sum = 0.0f64;
                    for s in &stumps[k..k + n] {
                        let v = self.haar(&s.f, base) * vnf;
                        sum += f64::from(if v < s.threshold { s.left } else { s.right });
                    }
                    k += n;
                    if stop(si, sum) {
                        return -(si as i32);
                    }
                }
                1
            }
            CompiledKind::LbpStumps(stumps) => {
                let mut k = 0;
                for (si, st) in stages.iter().enumerate() {
                    let n = st.ntrees as usize;
                    let mut sum = 0.0f64;
                    for s in &stumps[k..k + n] {
                        let code = self.lbp(&s.ofs, base);
                        let hit = s.subset[(code >> 5) as usize] & (1 << (code & 31)) != 0;
                        sum += f64::from(if hit { s.left } else { s.right });
                    }
                    k += n;
                    if stop(si, sum) {
                        return -(si as i32);
                    }
                }
                1
            }
            CompiledKind::HaarTrees(opts) => {
                let Some(vnf) = self.variance_factor(base) else {
                    return -1;
                };
                self.trees(stop, |node, _| {
                    let v = self.haar(&opts[node.feature as usize], base) * vnf;
                    v < node.threshold
                })
            }
            CompiledKind::LbpTrees(opts) => self.trees(stop, |node, ni| {
                let code = self.lbp(&opts[node.feature as usize], base);
                self.c.subsets[ni][(code >> 5) as usize] & (1 << (code & 31)) != 0
            }),
        }
    }

    /// Walks general trees (`predictOrdered`/`predictCategorical`); `go_left(node, index)`.
    #[inline(always)]
    fn trees(
        &self,
        mut stop: impl FnMut(usize, f64) -> bool,
        go_left: impl Fn(&super::cascade::Node, usize) -> bool,
    ) -> i32 {
        let c = self.c;
        let (mut tree, mut node_ofs, mut leaf_ofs) = (0usize, 0usize, 0usize);
        for (si, st) in c.stages.iter().enumerate() {
            let mut sum = 0.0f64;
            for _ in 0..st.ntrees {
                let count = c.tree_nodes[tree] as usize;
                let mut idx = 0i32;
                loop {
                    let ni = node_ofs + idx as usize;
                    let node = &c.nodes[ni];
                    idx = if go_left(node, ni) {
                        node.left
                    } else {
                        node.right
                    };
                    if idx <= 0 {
                        break;
                    }
                }
                sum += f64::from(c.leaves[leaf_ofs + (-idx) as usize]);
                node_ofs += count;
                leaf_ofs += count + 1;
                tree += 1;
            }
            if stop(si, sum) {
                return -(si as i32);
            }
        }
        1
    }

    /// `1 / (area * stddev)` of the window's inner rectangle as f32, or `None` when the
    /// window is flat or its stddev is at most 10 (OpenCV skips those windows).
    #[inline(always)]
    fn variance_factor(&self, base: usize) -> Option<f32> {
        let n = &self.k.norm;
        let s = |i: usize| at(&self.sum, base + n[i] as usize);
        let q = |i: usize| at(&self.sq, base + n[i] as usize);
        let valsum = s(0)
            .wrapping_sub(s(1))
            .wrapping_sub(s(2))
            .wrapping_add(s(3));
        let valsq = q(0)
            .wrapping_sub(q(1))
            .wrapping_sub(q(2))
            .wrapping_add(q(3));
        let area = self.k.norm_area;
        let nf = area * f64::from(valsq) - f64::from(valsum) * f64::from(valsum);
        if nf > 0.0 {
            let vnf = (1.0 / nf.sqrt()) as f32;
            (area * f64::from(vnf) < 0.1).then_some(vnf)
        } else {
            None
        }
    }

    #[inline(always)]
    fn haar(&self, f: &HaarOpt, base: usize) -> f32 {
        let buf = if f.tilted { &self.tilted } else { &self.sum };
        let rect = |o: &[u32; 4]| {
            let p = |i: usize| at(buf, base + o[i] as usize);
            p(0).wrapping_sub(p(1))
                .wrapping_sub(p(2))
                .wrapping_add(p(3)) as f32
        };
        let mut v = f.weight[0] * rect(&f.ofs[0]) + f.weight[1] * rect(&f.ofs[1]);
        if f.weight[2] != 0.0 {
            v += f.weight[2] * rect(&f.ofs[2]);
        }
        v
    }

    #[inline(always)]
    fn lbp(&self, ofs: &[u32; 16], base: usize) -> u32 {
        let mut p = [0i32; 16];
        for (v, &o) in p.iter_mut().zip(ofs) {
            *v = at(&self.sum, base + o as usize);
        }
        let b = |a: usize, b: usize, c: usize, d: usize| {
            p[a].wrapping_sub(p[b])
                .wrapping_sub(p[c])
                .wrapping_add(p[d])
        };
        let cv = b(5, 6, 9, 10);
        (u32::from(b(0, 1, 4, 5) >= cv) << 7)
            | (u32::from(b(1, 2, 5, 6) >= cv) << 6)
            | (u32::from(b(2, 3, 6, 7) >= cv) << 5)
            | (u32::from(b(6, 7, 10, 11) >= cv) << 4)
            | (u32::from(b(10, 11, 14, 15) >= cv) << 3)
            | (u32::from(b(9, 10, 13, 14) >= cv) << 2)
            | (u32::from(b(8, 9, 12, 13) >= cv) << 1)
            | u32::from(b(4, 5, 8, 9) >= cv)
    }
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
