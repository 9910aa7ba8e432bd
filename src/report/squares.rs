//! Square plots for the reports: a heatmap of counts (confusion matrices) and a
//! reliability diagram (calibration), drawn like the other plots in [`super::plot`].

use super::plot::{render, style, Png, FAMILY};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A heatmap of counts (a confusion matrix): rows top to bottom, shaded per row share.
#[derive(Debug, Clone, Default)]
pub struct Heatmap {
    /// Title.
    pub title: String,
    /// Row axis description (e.g. "asked class").
    pub row_label: String,
    /// Column axis description (e.g. "predicted class").
    pub col_label: String,
    /// Row names.
    pub rows: Vec<String>,
    /// Column names.
    pub cols: Vec<String>,
    /// `values[row][col]`.
    pub values: Vec<Vec<f64>>,
}

/// Draws a heatmap with the count in each cell.
pub fn heatmap(c: &Heatmap) -> Png {
    heatmap_with(c, super::plot::font().is_some())
}

pub(super) fn heatmap_with(c: &Heatmap, text: bool) -> Png {
    let (nr, nc) = (c.rows.len().max(1), c.cols.len().max(1));
    let cell = (560 / nr.max(nc)).clamp(24, 64) as u32;
    let (w, h) = (nc as u32 * cell + 220, nr as u32 * cell + 170);
    render(w, h, text, |root, text| {
        let mut b = ChartBuilder::on(root);
        b.margin(12);
        if text {
            b.caption(&c.title, style(20.0))
                .x_label_area_size(70)
                .y_label_area_size(120);
        }
        let mut chart = b.build_cartesian_2d(0f64..nc as f64, 0f64..nr as f64)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .draw()?;
        for (r, row) in c.values.iter().enumerate() {
            let total: f64 = row.iter().sum::<f64>().max(1e-12);
            for (k, &v) in row.iter().enumerate() {
                let share = (v / total).clamp(0.0, 1.0);
                // White to dark blue by the row share.
                let col = RGBColor(
                    (255.0 - share * 220.0) as u8,
                    (255.0 - share * 175.0) as u8,
                    (255.0 - share * 95.0) as u8,
                );
                let y = (nr - 1 - r) as f64;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(k as f64, y), (k as f64 + 1.0, y + 1.0)],
                    col.filled(),
                )))?;
                if text && cell >= 24 {
                    let fg = if share > 0.5 { WHITE } else { BLACK };
                    let (px, py) = chart.backend_coord(&(k as f64 + 0.5, y + 0.5));
                    let ts = (FAMILY, (cell as f64 / 2.6).min(16.0))
                        .into_font()
                        .color(&fg)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    root.draw_text(&format!("{v:.0}"), &ts, (px, py))?;
                }
            }
        }
        if text {
            let ts = style(13.0).pos(Pos::new(HPos::Center, VPos::Top));
            for (k, name) in c.cols.iter().enumerate() {
                let (px, py) = chart.backend_coord(&(k as f64 + 0.5, 0.0));
                root.draw_text(name, &ts, (px, py + 6))?;
            }
            let ts = style(13.0).pos(Pos::new(HPos::Right, VPos::Center));
            for (r, name) in c.rows.iter().enumerate() {
                let (px, py) = chart.backend_coord(&(0.0, (nr - 1 - r) as f64 + 0.5));
                root.draw_text(name, &ts, (px - 8, py))?;
            }
            let (cx, cy) = chart.backend_coord(&(nc as f64 / 2.0, 0.0));
            root.draw_text(
                &c.col_label,
                &style(16.0).pos(Pos::new(HPos::Center, VPos::Top)),
                (cx, cy + 30),
            )?;
            let (_, ly) = chart.backend_coord(&(0.0, nr as f64 / 2.0));
            root.draw_text(
                &c.row_label,
                &style(16.0)
                    .transform(FontTransform::Rotate270)
                    .pos(Pos::new(HPos::Center, VPos::Top)),
                (14, ly),
            )?;
        }
        Ok(())
    })
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bin {
    /// Lower edge of the confidence bin.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Mean confidence in the bin.
    pub confidence: f64,
    /// Share right in the bin.
    pub accuracy: f64,
    /// Predictions in the bin.
    pub count: usize,
}

/// Draws a reliability diagram: accuracy per confidence bin against the diagonal.
pub fn reliability(title: &str, bins: &[Bin]) -> Png {
    reliability_with(title, bins, super::plot::font().is_some())
}

pub(super) fn reliability_with(title: &str, bins: &[Bin], text: bool) -> Png {
    render(520, 480, text, |root, text| {
        let mut b = ChartBuilder::on(root);
        b.margin(14);
        if text {
            b.caption(title, style(19.0))
                .x_label_area_size(48)
                .y_label_area_size(64);
        }
        let mut chart = b.build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
        let mut mesh = chart.configure_mesh();
        mesh.light_line_style(RGBColor(235, 235, 235));
        if text {
            mesh.x_desc("confidence")
                .y_desc("accuracy")
                .label_style(style(14.0))
                .axis_desc_style(style(16.0));
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw()?;
        let blue = super::plot::color(0);
        chart
            .draw_series(bins.iter().filter(|b| b.count > 0).map(|b| {
                Rectangle::new([(b.lo, 0.0), (b.hi, b.accuracy)], blue.mix(0.75).filled())
            }))?
            .label("accuracy per bin")
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], blue.filled()));
        let red = super::plot::color(3);
        chart
            .draw_series(bins.iter().filter(|b| b.count > 0).map(|b| {
                Rectangle::new(
                    [(b.lo, b.accuracy), (b.hi, b.confidence)],
                    red.mix(0.25).filled(),
                )
            }))?
            .label("gap to mean confidence")
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 14, y + 6)], red.mix(0.4).filled())
            });
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                BLACK.mix(0.6).stroke_width(1),
            ))?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.stroke_width(1)));
        if text {
            chart
                .configure_series_labels()
                .label_font(style(14.0))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()?;
        }
        Ok(())
    })
}
