//! Plots for the reports, drawn with plotters into an RGB buffer and encoded as PNG:
//! line charts (training curves), grouped bars (distributions, comparisons), heatmaps
//! (confusion matrices) and reliability diagrams.
//!
//! Text needs a TrueType font, loaded once at run time from the usual system paths (or
//! `FACESYNTH_FONT`, `none` for no text, or what `fc-match` names) and registered with plotters' `ab_glyph`
//! renderer; nothing is looked up at build time. Without one, plots are drawn without
//! any text and [`Png::text`] says so, so the page can tell the reader.

pub use super::squares::{heatmap, reliability, Bin, Heatmap};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// An encoded plot.
#[derive(Debug, Clone)]
pub struct Png {
    /// PNG bytes.
    pub bytes: Vec<u8>,
    /// Whether it has text (a font was found).
    pub text: bool,
}

/// Where fonts are looked for, in order (Debian/Ubuntu, Fedora, Arch, macOS, Windows).
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

pub(super) const FAMILY: &str = "sans-serif";

fn fc_match() -> Option<PathBuf> {
    let out = std::process::Command::new("fc-match")
        .args(["-f", "%{file}", "sans-serif:style=Regular"])
        .output()
        .ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!p.is_empty()).then(|| PathBuf::from(p))
}

/// The font file in use, loading and registering it on first call; `None` when no usable
/// font was found (plots then have no text).
pub fn font() -> Option<&'static Path> {
    static FONT: OnceLock<Option<PathBuf>> = OnceLock::new();
    FONT.get_or_init(|| {
        // `FACESYNTH_FONT=none`: plots without text (reproducible output, and the
        // no-font path can be tried on a machine that has fonts).
        if std::env::var_os("FACESYNTH_FONT").is_some_and(|v| v == "none") {
            return None;
        }
        let fixed = std::env::var_os("FACESYNTH_FONT")
            .map(PathBuf::from)
            .into_iter()
            .chain(FONT_PATHS.iter().map(PathBuf::from));
        // fontconfig is asked only when no usual path has a font.
        for p in fixed.chain(std::iter::once_with(fc_match).flatten()) {
            let Ok(bytes) = std::fs::read(&p) else {
                continue;
            };
            // plotters keeps `&'static` font data; one font per process is leaked once.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font(FAMILY, FontStyle::Normal, bytes).is_ok() {
                return Some(p);
            }
        }
        None
    })
    .as_deref()
}

/// A colour of the palette (matplotlib's tab10), by index.
pub fn color(i: usize) -> RGBColor {
    const P: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = P[i % P.len()];
    // Past ten series the palette repeats darker.
    let k = 0.6f64.powi((i / P.len()) as i32);
    RGBColor(
        (r as f64 * k) as u8,
        (g as f64 * k) as u8,
        (b as f64 * k) as u8,
    )
}

pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
pub(super) type DrawResult = Result<(), Box<dyn Error>>;

/// Draws into a white `w` x `h` canvas and encodes it as PNG. When drawing with text
/// fails (a glyph the font cannot render), the plot is drawn again without text.
pub(super) fn render(w: u32, h: u32, text: bool, draw: impl Fn(&Area, bool) -> DrawResult) -> Png {
    let mut last = image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    for with_text in [text, false] {
        let mut buf = vec![255u8; (w * h * 3) as usize];
        let ok = {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            draw(&root, with_text).is_ok() && root.present().is_ok()
        };
        if let Some(img) = image::RgbImage::from_raw(w, h, buf) {
            last = img;
        }
        if ok || !with_text {
            return Png {
                bytes: encode(&last),
                text: with_text && ok,
            };
        }
    }
    Png {
        bytes: encode(&last),
        text: false,
    }
}

/// PNG bytes of an RGB image.
pub fn encode(img: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    // Writing into memory cannot fail for a well-formed image buffer.
    let _ = img.write_to(&mut out, image::ImageFormat::Png);
    out.into_inner()
}

pub(super) fn style(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

/// One line of a line chart.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) points; non-finite y values are left out.
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    /// Title.
    pub title: String,
    /// X axis description.
    pub x_label: String,
    /// Y axis description.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Fixed y range (default: the data's, padded).
    pub y_range: Option<(f64, f64)>,
    /// Draw noisy series faintly with an exponential moving average over them.
    pub smooth: bool,
}

fn ema(points: &[(f64, f64)], alpha: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len());
    let mut acc: Option<f64> = None;
    for &(x, y) in points {
        let v = match acc {
            Some(a) => a + alpha * (y - a),
            None => y,
        };
        acc = Some(v);
        out.push((x, v));
    }
    out
}

fn range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// Draws a line chart (900 x 400).
pub fn line_chart(c: &LineChart) -> Png {
    line_chart_with(c, font().is_some())
}

fn line_chart_with(c: &LineChart, text: bool) -> Png {
    render(900, 400, text, |root, text| {
        let series: Vec<Series> = c
            .series
            .iter()
            .map(|s| Series {
                name: s.name.clone(),
                points: s
                    .points
                    .iter()
                    .copied()
                    .filter(|p| p.0.is_finite() && p.1.is_finite())
                    .collect(),
            })
            .collect();
        let (x0, x1) = range(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
        let (y0, y1) = c
            .y_range
            .unwrap_or_else(|| range(series.iter().flat_map(|s| s.points.iter().map(|p| p.1))));
        let mut b = ChartBuilder::on(root);
        b.margin(12);
        if text {
            b.caption(&c.title, style(22.0))
                .x_label_area_size(48)
                .y_label_area_size(72);
        }
        let mut chart = b.build_cartesian_2d(x0..x1, y0..y1)?;
        let fmt = |v: &f64| short(*v);
        let mut mesh = chart.configure_mesh();
        mesh.light_line_style(RGBColor(235, 235, 235));
        if text {
            mesh.x_desc(&c.x_label)
                .y_desc(&c.y_label)
                .label_style(style(14.0))
                .axis_desc_style(style(17.0))
                .x_label_formatter(&fmt)
                .y_label_formatter(&fmt);
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw()?;
        for (i, s) in series.iter().enumerate() {
            let col = color(i);
            let smooth = c.smooth && s.points.len() > 40;
            if smooth {
                chart.draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    col.mix(0.25).stroke_width(1),
                ))?;
                let alpha = (8.0 / s.points.len() as f64).clamp(0.02, 0.3);
                chart
                    .draw_series(LineSeries::new(ema(&s.points, alpha), col.stroke_width(2)))?
                    .label(format!("{} (smoothed)", s.name))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], col.stroke_width(3))
                    });
            } else {
                chart
                    .draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        col.stroke_width(2),
                    ))?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], col.stroke_width(3))
                    });
            }
        }
        if text && !series.is_empty() {
            // The legend goes in the right-hand corner the lines end away from: rising
            // curves (accuracy) end at the top, falling ones (losses) at the bottom.
            let ends_high = series
                .iter()
                .filter_map(|s| s.points.last())
                .any(|p| p.1 > (y0 + y1) / 2.0);
            chart
                .configure_series_labels()
                .label_font(style(15.0))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .position(if ends_high {
                    SeriesLabelPosition::LowerRight
                } else {
                    SeriesLabelPosition::UpperRight
                })
                .draw()?;
        }
        Ok(())
    })
}

/// A compact tick label: 3 significant digits, scientific beyond 1e5 or below 1e-3.
fn short(v: f64) -> String {
    let a = v.abs();
    // Tick positions carry float noise (2.2e-16 for 0).
    if a < 1e-12 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Grouped bars: one group of bars per category, one bar per named series.
#[derive(Debug, Clone, Default)]
pub struct BarChart {
    /// Title.
    pub title: String,
    /// Y axis description.
    pub y_label: String,
    /// X axis description.
    pub x_label: String,
    /// Category names (x axis).
    pub categories: Vec<String>,
    /// (series name, one value per category).
    pub groups: Vec<(String, Vec<f64>)>,
    /// Fixed y range (default 0 to the largest value, padded).
    pub y_range: Option<(f64, f64)>,
}

/// Draws grouped bars (900 x 400, wider for many categories).
pub fn bar_chart(c: &BarChart) -> Png {
    bar_chart_with(c, font().is_some())
}

fn bar_chart_with(c: &BarChart, text: bool) -> Png {
    let n = c.categories.len().max(1);
    let w = (900).max(60 * n as u32 + 140).min(2400);
    render(w, 400, text, |root, text| {
        let (lo, hi) = c.y_range.unwrap_or_else(|| {
            let top = c
                .groups
                .iter()
                .flat_map(|g| g.1.iter().copied())
                .filter(|v| v.is_finite())
                .fold(0.0f64, f64::max);
            // Headroom for the legend in the upper right.
            let room = if c.groups.len() > 1 { 1.3 } else { 1.12 };
            (0.0, if top > 0.0 { top * room } else { 1.0 })
        });
        let mut b = ChartBuilder::on(root);
        b.margin(12);
        if text {
            b.caption(&c.title, style(22.0))
                .x_label_area_size(56)
                .y_label_area_size(72);
        }
        let mut chart = b.build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..hi)?;
        let fmt = |v: &f64| short(*v);
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh()
            .x_labels(0)
            .light_line_style(RGBColor(235, 235, 235));
        if text {
            mesh.y_desc(&c.y_label)
                .label_style(style(14.0))
                .axis_desc_style(style(17.0))
                .y_label_formatter(&fmt);
        } else {
            mesh.y_labels(0);
        }
        mesh.draw()?;
        let k = c.groups.len().max(1) as f64;
        let width = 0.8 / k;
        for (gi, (name, vals)) in c.groups.iter().enumerate() {
            let col = color(gi);
            let bars = vals
                .iter()
                .enumerate()
                .filter(|v| v.1.is_finite())
                .map(|(i, &v)| {
                    let x = i as f64 - 0.4 + gi as f64 * width;
                    Rectangle::new(
                        [(x, lo.max(0.0).min(hi)), (x + width * 0.92, v)],
                        col.filled(),
                    )
                });
            chart
                .draw_series(bars)?
                .label(name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], col.filled()));
        }
        if text {
            let ts = style(14.0).pos(Pos::new(HPos::Center, VPos::Top));
            for (i, name) in c.categories.iter().enumerate() {
                let (px, py) = chart.backend_coord(&(i as f64, lo));
                root.draw_text(name, &ts, (px, py + 6))?;
            }
            let (cx, cy) = chart.backend_coord(&((n as f64 - 1.0) / 2.0, lo));
            root.draw_text(
                &c.x_label,
                &style(17.0).pos(Pos::new(HPos::Center, VPos::Top)),
                (cx, cy + 28),
            )?;
            if c.groups.len() > 1 {
                chart
                    .configure_series_labels()
                    .label_font(style(15.0))
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(180, 180, 180))
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(p: &Png) -> image::RgbImage {
        image::load_from_memory(&p.bytes).unwrap().to_rgb8()
    }

    fn colours(img: &image::RgbImage) -> usize {
        let mut set = std::collections::HashSet::new();
        for p in img.pixels() {
            set.insert(p.0);
        }
        set.len()
    }

    fn sample_line() -> LineChart {
        LineChart {
            title: "loss".into(),
            x_label: "step".into(),
            y_label: "loss".into(),
            series: vec![Series {
                name: "D".into(),
                points: (0..100)
                    .map(|i| (i as f64, (i as f64 / 9.0).sin()))
                    .collect(),
            }],
            smooth: true,
            ..Default::default()
        }
    }

    #[test]
    fn plots_draw_with_and_without_text() {
        for text in [false, true] {
            if text && font().is_none() {
                eprintln!("no system font: text plots not checked");
                continue;
            }
            let p = line_chart_with(&sample_line(), text);
            assert_eq!(p.text, text);
            let img = decode(&p);
            assert_eq!(img.dimensions(), (900, 400));
            assert!(colours(&img) > 3, "blank plot");
            let b = bar_chart_with(
                &BarChart {
                    title: "t".into(),
                    categories: vec!["a".into(), "b".into()],
                    groups: vec![
                        ("real".into(), vec![0.2, 0.8]),
                        ("gen".into(), vec![0.5, 0.5]),
                    ],
                    ..Default::default()
                },
                text,
            );
            assert!(colours(&decode(&b)) >= 3, "bars missing");
            let h = super::super::squares::heatmap_with(
                &Heatmap {
                    rows: vec!["a".into(), "b".into()],
                    cols: vec!["a".into(), "b".into()],
                    values: vec![vec![5.0, 1.0], vec![0.0, 6.0]],
                    ..Default::default()
                },
                text,
            );
            assert!(colours(&decode(&h)) > 3);
            let bins = [Bin {
                lo: 0.8,
                hi: 0.9,
                confidence: 0.85,
                accuracy: 0.7,
                count: 10,
            }];
            assert!(
                colours(&decode(&super::super::squares::reliability_with(
                    "r", &bins, text
                ))) > 3
            );
        }
    }

    #[test]
    fn text_plots_have_more_ink_than_bare_ones() {
        if font().is_none() {
            eprintln!("no system font: skipped");
            return;
        }
        let ink = |p: &Png| {
            decode(p)
                .pixels()
                .filter(|p| p.0[0] < 100 && p.0[1] < 100 && p.0[2] < 100)
                .count()
        };
        let with = line_chart_with(&sample_line(), true);
        let without = line_chart_with(&sample_line(), false);
        assert!(ink(&with) > ink(&without) + 500, "no text drawn");
    }

    #[test]
    fn short_tick_labels() {
        assert_eq!(short(0.0), "0");
        assert_eq!(short(1.5), "1.5");
        assert_eq!(short(250.0), "250");
        assert_eq!(short(0.125), "0.125");
        assert_eq!(short(2e6), "2.0e6");
    }
}
