//! `OUT/report.html` for a prep output: counts by status and reason, example thumbnails
//! of each rejection reason (cut from the source files; unreadable ones listed by name)
//! and of duplicate groups (the kept image beside the dropped ones), a sample of the kept
//! faces and the dataset statistics.

use super::html::{esc, figure, Cell, Page, Table};
use super::media::{file_uri, image_uri, thumb_uri};
use super::plot::{self, BarChart};
use super::{read_json, write_page, ReportError, PAGE};
use crate::dataset::manifest::{self, ManifestRow, Status};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Example thumbnails per rejection reason.
const EXAMPLES: usize = 6;
/// Duplicate groups shown.
const GROUPS: usize = 8;
/// Thumbnail side in pixels.
const THUMB: u32 = 128;

/// The source file of a manifest row (`path#k` names face k of `path`).
fn source_file(input: &Path, source: &str) -> PathBuf {
    let base = source.rsplit_once('#').map_or(source, |(b, k)| {
        if k.chars().all(|c| c.is_ascii_digit()) {
            b
        } else {
            source
        }
    });
    input.join(base)
}

/// A thumbnail of what prep judged: the crop when the row has one, else the whole source.
fn judged_thumb(input: &Path, row: &ManifestRow) -> Option<String> {
    let path = source_file(input, &row.source);
    if let (Some(x), Some(y), Some(w), Some(h)) = (row.crop_x, row.crop_y, row.crop_w, row.crop_h) {
        let img = image::open(&path).ok()?.to_rgb8();
        if w > 0 && h > 0 && x + w <= img.width() && y + h <= img.height() {
            let crop = image::imageops::crop_imm(&img, x, y, w, h).to_image();
            let t = image::DynamicImage::ImageRgb8(crop).thumbnail(THUMB, THUMB);
            return Some(image_uri(&t.to_rgb8()));
        }
    }
    thumb_uri(&path, THUMB)
}

/// The reason's key (`decode: ...` counts as `decode`).
fn reason_key(r: &str) -> String {
    r.split(':').next().unwrap_or("").trim().to_string()
}

/// Writes `OUT/report.html` for the prep output `out`; returns its path. The source
/// images are looked up under the input folder named in `OUT/report.json`.
pub fn write_prep_report(out: &Path) -> Result<PathBuf, ReportError> {
    let mpath = out.join(manifest::MANIFEST_FILE);
    let rows = manifest::read(&mpath).map_err(|e| ReportError::parse(&mpath, e))?;
    let report = read_json(&out.join("report.json")).unwrap_or(Value::Null);
    let input: Option<PathBuf> = report["input"].as_str().map(PathBuf::from);
    let mut page = Page::new(
        &format!(
            "Prepared dataset {}",
            out.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned())
        ),
        &format!(
            "{} → {}",
            input
                .as_ref()
                .map_or("(input folder not recorded)".into(), |p| p
                    .display()
                    .to_string()),
            out.display()
        ),
    );
    super::font_note(&mut page);

    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_reason: BTreeMap<(Status, String), Vec<&ManifestRow>> = BTreeMap::new();
    for r in &rows {
        *by_status.entry(r.status.to_string()).or_default() += 1;
        if r.status != Status::Kept {
            by_reason
                .entry((r.status, reason_key(&r.reason)))
                .or_default()
                .push(r);
        }
    }
    page.section("counts", "Counts");
    if let Value::Object(_) = report {
        page.p(&format!(
            "{} files, {} manifest rows ({} resumed from an earlier run), {:.1} s, {:.0} files/s.",
            report["files"].as_u64().unwrap_or(0),
            rows.len(),
            report["resumed"].as_u64().unwrap_or(0),
            report["seconds"].as_f64().unwrap_or(f64::NAN),
            report["files_per_second"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    let mut t = Table::new(&["status", "rows", "share"]);
    for s in [Status::Kept, Status::Duplicate, Status::Rejected] {
        let n = by_status.get(&s.to_string()).copied().unwrap_or(0);
        t.row(vec![
            Cell::text(s.to_string()),
            Cell::int(n),
            Cell::num(n as f64 / rows.len().max(1) as f64, 3),
        ]);
    }
    page.table(&t);
    let mut t = Table::new(&["status", "reason", "rows"]);
    for ((s, reason), v) in &by_reason {
        t.row(vec![
            Cell::text(s.to_string()),
            Cell::text(reason),
            Cell::int(v.len()),
        ]);
    }
    if !t.is_empty() {
        page.table(&t);
        let chart = BarChart {
            title: "Rows dropped, by reason".into(),
            y_label: "rows".into(),
            x_label: "reason".into(),
            categories: by_reason.keys().map(|k| k.1.clone()).collect(),
            groups: vec![(
                "rows".into(),
                by_reason.values().map(|v| v.len() as f64).collect(),
            )],
            y_range: None,
        };
        page.plot(&plot::bar_chart(&chart).bytes, "rows dropped by reason");
    }

    page.section("rejected", "Rejections");
    let rejected: Vec<_> = by_reason
        .iter()
        .filter(|(k, _)| k.0 == Status::Rejected)
        .collect();
    if rejected.is_empty() {
        page.p("Nothing was rejected.");
    }
    for ((_, reason), v) in rejected {
        page.h3(&format!("{reason} ({} rows)", v.len()));
        let mut html = String::new();
        let mut unreadable = Vec::new();
        for r in v.iter().take(EXAMPLES) {
            match input.as_deref().and_then(|i| judged_thumb(i, r)) {
                Some(uri) => {
                    html.push_str(&figure(&uri, &format!("{} ({})", r.source, r.reason), 0))
                }
                None => unreadable.push(format!("{} — {}", r.source, r.reason)),
            }
        }
        page.raw(&html);
        if !unreadable.is_empty() {
            let items: String = unreadable
                .iter()
                .map(|s| format!("<li><code>{}</code></li>", esc(s)))
                .collect();
            page.raw(&format!(
                "<p class=\"muted\">No thumbnail (the file cannot be decoded{}):</p><ul>{items}</ul>",
                if input.is_none() { ", or the input folder is unknown" } else { "" }
            ));
        }
    }

    page.section("duplicates", "Duplicate groups");
    duplicates(&mut page, out, input.as_deref(), &rows);

    page.section("kept", "Kept images");
    let kept: Vec<&ManifestRow> = rows.iter().filter(|r| r.status == Status::Kept).collect();
    let mut html = String::new();
    for r in kept.iter().take(32) {
        if let Some(uri) = file_uri(&out.join(&r.output)) {
            html.push_str(&format!(
                "<img class=\"px\" src=\"{uri}\" alt=\"{a}\" title=\"{a}\" width=\"64\" style=\"margin:2px\">",
                a = esc(&r.output)
            ));
        }
    }
    page.p(&format!(
        "{} kept; the first {} shown.",
        kept.len(),
        kept.len().min(32)
    ));
    page.raw(&format!("<div>{html}</div>"));
    if let Ok(Value::Object(stats)) = read_json(&out.join("stats.json")) {
        page.h3("Dataset statistics (stats.json, 0..1 scale)");
        let mut t = Table::new(&["statistic", "value"]);
        for (k, v) in stats {
            let text = match &v {
                Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_f64().map_or(x.to_string(), |f| format!("{f:.4}")))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            t.row(vec![Cell::text(k), Cell::text(text)]);
        }
        page.table(&t);
    }
    write_page(&out.join(PAGE), &page.finish())
}

fn duplicates(page: &mut Page, out: &Path, input: Option<&Path>, rows: &[ManifestRow]) {
    let mut groups: BTreeMap<&str, Vec<&ManifestRow>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.status == Status::Duplicate) {
        groups.entry(r.dup_of.as_str()).or_default().push(r);
    }
    if groups.is_empty() {
        page.p("No duplicates.");
        return;
    }
    page.p(&format!(
        "{} groups; the first {} shown: the kept image (prep's output), then each dropped copy (its source) with the reason.",
        groups.len(),
        groups.len().min(GROUPS)
    ));
    let mut html = String::from("<div class=\"cards\">");
    for (keeper, dups) in groups.iter().take(GROUPS) {
        html.push_str("<div class=\"card\">");
        let kept = rows
            .iter()
            .find(|r| r.source == *keeper && r.status == Status::Kept);
        let uri = kept
            .and_then(|k| file_uri(&out.join(&k.output)))
            .or_else(|| input.and_then(|i| thumb_uri(&source_file(i, keeper), THUMB)));
        match uri {
            Some(u) => html.push_str(&figure(&u, &format!("kept: {keeper}"), 96)),
            None => html.push_str(&format!("<p>kept: <code>{}</code></p>", esc(keeper))),
        }
        for d in dups {
            let cap = format!("{} ({})", d.source, d.reason);
            match input.and_then(|i| judged_thumb(i, d)) {
                Some(u) => html.push_str(&figure(&u, &cap, 96)),
                None => html.push_str(&format!("<p class=\"muted\">{}</p>", esc(&cap))),
            }
        }
        html.push_str("</div>");
    }
    html.push_str("</div>");
    page.raw(&html);
}
