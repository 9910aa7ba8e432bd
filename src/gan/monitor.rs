//! Watching a run: the metrics CSV (losses, D(x), D(G(z)), auxiliary accuracy, gradient
//! norms), a loss plot, sample grids, and the warnings a person would want while training:
//! D's or G's gradient vanishing, D overpowering G, samples collapsing.

use super::{io_err, GanError};
use crate::atomic;
use image::{Rgb, RgbImage};
use std::io::Write;
use std::path::Path;

/// One metrics row.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    /// Step (1-based: steps done).
    pub step: u64,
    /// D's loss.
    pub loss_d: f32,
    /// G's loss.
    pub loss_g: f32,
    /// Mean sigmoid of D's logits on reals.
    pub d_real: f32,
    /// Mean sigmoid of D's logits on fakes (D step).
    pub d_fake: f32,
    /// ACGAN: D's class accuracy on reals (NaN otherwise).
    pub aux_acc: f32,
    /// L2 norm of D's gradient.
    pub grad_d: f32,
    /// L2 norm of G's gradient.
    pub grad_g: f32,
    /// Seconds since the run (or resume) started.
    pub seconds: f32,
}

const HEADER: &str = "step,loss_d,loss_g,d_real,d_fake,aux_acc,grad_d,grad_g,seconds";

/// The metrics log, rewritten atomically at each flush.
#[derive(Debug, Default)]
pub struct Log {
    /// Rows so far.
    pub rows: Vec<Metrics>,
}

impl Log {
    /// Reads `metrics.csv`, keeping rows up to `step` (a resumed run rewrites the rest).
    pub fn resume(path: &Path, step: u64) -> Log {
        let mut rows = Vec::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines().skip(1) {
                let v: Vec<f32> = line.split(',').filter_map(|x| x.parse().ok()).collect();
                if v.len() == 9 && (v[0] as u64) <= step {
                    rows.push(Metrics {
                        step: v[0] as u64,
                        loss_d: v[1],
                        loss_g: v[2],
                        d_real: v[3],
                        d_fake: v[4],
                        aux_acc: v[5],
                        grad_d: v[6],
                        grad_g: v[7],
                        seconds: v[8],
                    });
                }
            }
        }
        Log { rows }
    }

    /// Writes `metrics.csv` and `metrics.png`.
    pub fn flush(&self, run: &Path) -> Result<(), GanError> {
        let p = run.join("metrics.csv");
        atomic::write_with(&p, |w| {
            writeln!(w, "{HEADER}")?;
            for m in &self.rows {
                writeln!(
                    w,
                    "{},{:.5},{:.5},{:.4},{:.4},{:.4},{:.5},{:.5},{:.3}",
                    m.step,
                    m.loss_d,
                    m.loss_g,
                    m.d_real,
                    m.d_fake,
                    m.aux_acc,
                    m.grad_d,
                    m.grad_g,
                    m.seconds
                )?;
            }
            Ok(())
        })
        .map_err(io_err(&p))?;
        let p = run.join("metrics.png");
        atomic::save_image(&p, &image::DynamicImage::ImageRgb8(self.plot())).map_err(io_err(&p))
    }

    /// A plot of D's loss (red) and G's loss (blue) over the steps, no text: axes at
    /// zero and at the maximum loss.
    pub fn plot(&self) -> RgbImage {
        let (w, h, m) = (640u32, 320u32, 10i64);
        let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
        let finite = |x: f32| if x.is_finite() { x } else { 0.0 };
        let max = self
            .rows
            .iter()
            .flat_map(|r| [finite(r.loss_d), finite(r.loss_g)])
            .fold(1e-6f32, f32::max);
        let min = self
            .rows
            .iter()
            .flat_map(|r| [finite(r.loss_d), finite(r.loss_g)])
            .fold(0f32, f32::min);
        let n = self.rows.len().max(2);
        let px = |i: usize| m + (i as i64 * (w as i64 - 2 * m)) / (n as i64 - 1);
        let py = |v: f32| {
            let t = (finite(v) - min) / (max - min).max(1e-6);
            h as i64 - m - (t * (h as i64 - 2 * m) as f32) as i64
        };
        for x in m..w as i64 - m {
            put(&mut img, x, py(0.0), [180, 180, 180]);
        }
        for (series, color) in [(0usize, [200u8, 30, 30]), (1, [30, 60, 200])] {
            let val = |r: &Metrics| if series == 0 { r.loss_d } else { r.loss_g };
            for i in 1..self.rows.len() {
                line(
                    &mut img,
                    (px(i - 1), py(val(&self.rows[i - 1]))),
                    (px(i), py(val(&self.rows[i]))),
                    color,
                );
            }
        }
        img
    }
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, Rgb(c));
    }
}

fn line(img: &mut RgbImage, a: (i64, i64), b: (i64, i64), c: [u8; 3]) {
    let steps = (b.0 - a.0).abs().max((b.1 - a.1).abs()).max(1);
    for s in 0..=steps {
        let x = a.0 + (b.0 - a.0) * s / steps;
        let y = a.1 + (b.1 - a.1) * s / steps;
        put(img, x, y, c);
    }
}

/// Tiles `n` channel-major images in [-1, 1] (`[n, channels, side, side]`) into rows of
/// `cols`, 2 px apart.
pub fn grid(pixels: &[f32], n: usize, channels: usize, side: usize, cols: usize) -> RgbImage {
    let cols = cols.max(1);
    let rows = n.div_ceil(cols).max(1);
    let pad = 2;
    let (w, h) = (cols * (side + pad) + pad, rows * (side + pad) + pad);
    let mut img = RgbImage::from_pixel(w as u32, h as u32, Rgb([255, 255, 255]));
    let plane = side * side;
    let to_u8 = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
    for i in 0..n {
        let base = i * channels * plane;
        let (ox, oy) = (
            pad + (i % cols) * (side + pad),
            pad + (i / cols) * (side + pad),
        );
        for y in 0..side {
            for x in 0..side {
                let at =
                    |c: usize| to_u8(pixels[base + c.min(channels - 1) * plane + y * side + x]);
                img.put_pixel((ox + x) as u32, (oy + y) as u32, Rgb([at(0), at(1), at(2)]));
            }
        }
    }
    img
}

/// One channel-major image in [-1, 1] as an RGB image (grey replicated).
pub fn grid_plain(pixels: &[f32], channels: usize, side: usize) -> RgbImage {
    let plane = side * side;
    let to_u8 = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
    RgbImage::from_fn(side as u32, side as u32, |x, y| {
        let i = y as usize * side + x as usize;
        let at = |c: usize| to_u8(pixels[c.min(channels - 1) * plane + i]);
        Rgb([at(0), at(1), at(2)])
    })
}

/// Diversity of a batch: mean per-pixel standard deviation across its images.
pub fn diversity(pixels: &[f32], n: usize) -> f32 {
    if n < 2 {
        return 0.0;
    }
    let len = pixels.len() / n;
    let mut total = 0f64;
    for j in 0..len {
        let vals = (0..n).map(|i| pixels[i * len + j] as f64);
        let mean = vals.clone().sum::<f64>() / n as f64;
        total += (vals.map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    }
    (total / len as f64) as f32
}

/// Turns metrics into warnings, each said once per run.
#[derive(Debug, Default)]
pub struct Watch {
    overpower_streak: u32,
    first_diversity: Option<f32>,
    said: Vec<&'static str>,
    /// The warnings so far, with their step.
    pub warnings: Vec<String>,
}

impl Watch {
    fn say(&mut self, key: &'static str, msg: String) -> Option<String> {
        if self.said.contains(&key) {
            return None;
        }
        self.said.push(key);
        self.warnings.push(msg.clone());
        Some(msg)
    }

    /// Checks a logged row; returns a new warning if one fired.
    pub fn metrics(&mut self, m: &Metrics) -> Option<String> {
        if m.grad_d.is_finite() && m.grad_d < 1e-6 && m.step > 20 {
            return self.say(
                "vanish_d",
                format!(
                    "step {}: D's gradient vanished (norm {:.1e})",
                    m.step, m.grad_d
                ),
            );
        }
        if m.grad_g.is_finite() && m.grad_g < 1e-6 && m.step > 20 {
            return self.say(
                "vanish_g",
                format!(
                    "step {}: G's gradient vanished (norm {:.1e}): D is saturated",
                    m.step, m.grad_g
                ),
            );
        }
        if m.d_real > 0.99 && m.d_fake < 0.01 {
            self.overpower_streak += 1;
        } else {
            self.overpower_streak = 0;
        }
        if self.overpower_streak >= 5 {
            return self.say(
                "overpower",
                format!(
                    "step {}: D overpowers G (D(x) {:.3}, D(G(z)) {:.3}); try instance noise, \
                     a lower D learning rate, --spectral-norm d, label smoothing (bce, ls) or \
                     another loss",
                    m.step, m.d_real, m.d_fake
                ),
            );
        }
        None
    }

    /// Checks the diversity of the fixed-noise batch; warns when it falls below a quarter
    /// of its first measurement after some training.
    pub fn diversity(&mut self, step: u64, d: f32) -> Option<String> {
        let first = *self.first_diversity.get_or_insert(d);
        if step > 100 && d < 0.25 * first {
            return self.say(
                "collapse",
                format!("step {step}: samples collapsing (diversity {d:.3}, was {first:.3})"),
            );
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_and_diversity() {
        let px = vec![-1.0f32, 1.0, -1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let g = grid(&px, 2, 1, 2, 2);
        assert_eq!(g.dimensions(), (10, 6));
        assert_eq!(g.get_pixel(2, 2).0, [0, 0, 0]);
        assert!(diversity(&px, 2) > 0.4);
        assert_eq!(diversity(&[0.5; 8], 2), 0.0);
    }

    #[test]
    fn overpower_warns_once() {
        let mut w = Watch::default();
        let m = Metrics {
            step: 50,
            d_real: 0.999,
            d_fake: 0.001,
            grad_d: 1.0,
            grad_g: 1.0,
            ..Default::default()
        };
        let fired: Vec<_> = (0..10).filter_map(|_| w.metrics(&m)).collect();
        assert_eq!(fired.len(), 1);
    }
}
