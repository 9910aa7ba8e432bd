//! `OUT/report.html` for a prep output: counts by status and reason, example thumbnails
//! of each rejection reason (cut from the source files; unreadable ones listed by name)
//! and of duplicate groups (the kept image beside the dropped ones), a sample of the kept
//! faces and the dataset statistics.

use super::html::{esc, figure, Cell, Page, Table};
use super::media::{decode_as_prep, file_uri, image_uri, thumb_uri};
use super::plot::{self, BarChart};
use super::{read_json, write_page, ReportError, PAGE};
use crate::dataset::manifest::{self, ManifestRow, Status};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Example thumbnails per rejection reason.
const EXAMPLES: usize = 6;
/// Duplicate groups shown.
const GROUPS: usize = 8;
/// Dropped copies shown per duplicate group.
const DUPS_SHOWN: usize = 12;
/// Kept images shown.
const KEPT_SHOWN: usize = 32;
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
/// Decoded as prep decodes (by content, not by the name's extension; EXIF orientation
/// applied, as the crop box's pixels are), under the page's limits: `image::open` read a
/// PNG named `.jpg` as no image, and cut an EXIF-rotated photo's box from its unrotated
/// pixels. A source prep could not read falls back to [`thumb_uri`]'s plain attempt.
fn judged_thumb(input: &Path, row: &ManifestRow) -> Option<String> {
    let path = source_file(input, &row.source);
    let Some(img) = decode_as_prep(&path) else {
        return thumb_uri(&path, THUMB);
    };
    let region = match (row.crop_x, row.crop_y, row.crop_w, row.crop_h) {
        (Some(x), Some(y), Some(w), Some(h))
            if w > 0 && h > 0 && x + w <= img.width() && y + h <= img.height() =>
        {
            image::imageops::crop_imm(&img, x, y, w, h).to_image()
        }
        _ if img.width() <= THUMB && img.height() <= THUMB => return Some(image_uri(&img)),
        _ => img,
    };
    let t = image::DynamicImage::ImageRgb8(region).thumbnail(THUMB, THUMB);
    Some(image_uri(&t.to_rgb8()))
}

/// The reason's key (`decode: ...` counts as `decode`).
fn reason_key(r: &str) -> String {
    r.split(':').next().unwrap_or("").trim().to_string()
}

/// What the page shows of a manifest, gathered in one pass over its rows: counts, a few
/// examples per reason and the first duplicate groups. A 100k-row manifest is never held
/// (it would be most of a prep run's peak memory).
#[derive(Default)]
struct Digest {
    rows: usize,
    by_status: BTreeMap<Status, usize>,
    /// Per (status, reason): the count and the first [`EXAMPLES`] rows.
    by_reason: BTreeMap<(Status, String), (usize, Vec<ManifestRow>)>,
    /// The [`GROUPS`] first duplicate groups by kept source: their dropped rows.
    groups: BTreeMap<String, Vec<ManifestRow>>,
    /// Hashes of every kept source that has duplicates (8 bytes a group).
    keepers: HashSet<u64>,
    /// The first kept outputs.
    kept: Vec<String>,
}

impl Digest {
    fn add(&mut self, r: ManifestRow) {
        self.rows += 1;
        *self.by_status.entry(r.status).or_default() += 1;
        match r.status {
            Status::Kept => {
                if self.kept.len() < KEPT_SHOWN {
                    self.kept.push(r.output);
                }
                return;
            }
            Status::Duplicate => {
                self.keepers
                    .insert(xxhash_rust::xxh3::xxh3_64(r.dup_of.as_bytes()));
                let full = self.groups.len() >= GROUPS;
                if self.groups.contains_key(&r.dup_of)
                    || !full
                    || self
                        .groups
                        .last_key_value()
                        .is_some_and(|(k, _)| r.dup_of < *k)
                {
                    let g = self.groups.entry(r.dup_of.clone()).or_default();
                    if g.len() < DUPS_SHOWN {
                        g.push(r.clone());
                    }
                    if self.groups.len() > GROUPS {
                        self.groups.pop_last();
                    }
                }
            }
            Status::Rejected => {}
        }
        let e = self
            .by_reason
            .entry((r.status, reason_key(&r.reason)))
            .or_default();
        e.0 += 1;
        if e.1.len() < EXAMPLES {
            e.1.push(r);
        }
    }

    fn count(&self, s: Status) -> usize {
        self.by_status.get(&s).copied().unwrap_or(0)
    }
}

/// Writes `OUT/report.html` for the prep output `out`; returns its path. The source
/// images are looked up under the input folder named in `OUT/report.json`.
pub fn write_prep_report(out: &Path) -> Result<PathBuf, ReportError> {
    let mpath = out.join(manifest::MANIFEST_FILE);
    let mut d = Digest::default();
    manifest::for_each(&mpath, |r| d.add(r)).map_err(|e| ReportError::parse(&mpath, e))?;
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

    page.section("counts", "Counts");
    if let Value::Object(_) = report {
        page.p(&format!(
            "{} files, {} manifest rows ({} resumed from an earlier run), {:.1} s, {:.0} files/s.",
            report["files"].as_u64().unwrap_or(0),
            d.rows,
            report["resumed"].as_u64().unwrap_or(0),
            report["seconds"].as_f64().unwrap_or(f64::NAN),
            report["files_per_second"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    let mut t = Table::new(&["status", "rows", "share"]);
    for s in [Status::Kept, Status::Duplicate, Status::Rejected] {
        let n = d.count(s);
        t.row(vec![
            Cell::text(s.to_string()),
            Cell::int(n),
            Cell::num(n as f64 / d.rows.max(1) as f64, 3),
        ]);
    }
    page.table(&t);
    let mut t = Table::new(&["status", "reason", "rows"]);
    for ((s, reason), (n, _)) in &d.by_reason {
        t.row(vec![
            Cell::text(s.to_string()),
            Cell::text(reason),
            Cell::int(*n),
        ]);
    }
    if !t.is_empty() {
        page.table(&t);
        let chart = BarChart {
            title: "Rows dropped, by reason".into(),
            y_label: "rows".into(),
            x_label: "reason".into(),
            categories: d.by_reason.keys().map(|k| k.1.clone()).collect(),
            groups: vec![(
                "rows".into(),
                d.by_reason.values().map(|v| v.0 as f64).collect(),
            )],
            y_range: None,
        };
        page.plot(&plot::bar_chart(&chart).bytes, "rows dropped by reason");
    }

    page.section("rejected", "Rejections");
    let rejected: Vec<_> = d
        .by_reason
        .iter()
        .filter(|(k, _)| k.0 == Status::Rejected)
        .collect();
    if rejected.is_empty() {
        page.p("Nothing was rejected.");
    }
    for ((_, reason), (n, v)) in rejected {
        page.h3(&format!("{reason} ({n} rows)"));
        let mut html = String::new();
        let mut unreadable = Vec::new();
        for r in v {
            match input.as_deref().and_then(|i| judged_thumb(i, r)) {
                Some(uri) => {
                    html.push_str(&figure(&uri, &format!("{} ({})", r.source, r.reason), 0))
                }
                None => unreadable.push(format!(
                    "{} — {} (no thumbnail: {})",
                    r.source,
                    r.reason,
                    no_thumbnail(input.as_deref(), &r.source)
                )),
            }
        }
        page.raw(&html);
        if !unreadable.is_empty() {
            let items: String = unreadable
                .iter()
                .map(|s| format!("<li><code>{}</code></li>", esc(s)))
                .collect();
            page.raw(&format!("<ul class=\"muted\">{items}</ul>"));
        }
    }

    page.section("duplicates", "Duplicate groups");
    duplicates(&mut page, out, &mpath, input.as_deref(), &d);

    page.section("kept", "Kept images");
    let kept = d.count(Status::Kept);
    let mut html = String::new();
    for output in &d.kept {
        if let Some(uri) = file_uri(&out.join(output)) {
            html.push_str(&format!(
                "<img class=\"px\" src=\"{uri}\" alt=\"{a}\" title=\"{a}\" width=\"64\" style=\"margin:2px\">",
                a = esc(output)
            ));
        }
    }
    page.p(&format!(
        "{kept} kept; the first {} shown.",
        kept.min(KEPT_SHOWN)
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

/// A group's dropped rows bunched by image (same pHash, dHash and reason), first seen
/// first: copies of one file in many folders get one thumbnail, not one each. Exact copies
/// make most of a large run's duplicates, and a thumbnail apiece was most of the page
/// (4.3 MB at 100k inputs, and most of prep's peak memory).
fn same_image(dups: &[ManifestRow]) -> Vec<Vec<&ManifestRow>> {
    let mut out: Vec<Vec<&ManifestRow>> = Vec::new();
    for d in dups {
        let same = |r: &&ManifestRow| {
            !d.phash.is_empty() && r.phash == d.phash && r.dhash == d.dhash && r.reason == d.reason
        };
        match out.iter_mut().find(|b| same(&b[0])) {
            Some(b) => b.push(d),
            None => out.push(vec![d]),
        }
    }
    out
}

/// Why a source has no thumbnail: the input folder is unknown, the file has gone from it
/// since prep ran (it was said to be undecodable), or it cannot be decoded.
fn no_thumbnail(input: Option<&Path>, source: &str) -> &'static str {
    match input {
        None => "the input folder is unknown",
        Some(i) if !source_file(i, source).exists() => "the file is no longer in the input folder",
        Some(_) => "the file cannot be decoded",
    }
}

fn duplicates(page: &mut Page, out: &Path, mpath: &Path, input: Option<&Path>, d: &Digest) {
    if d.groups.is_empty() {
        page.p("No duplicates.");
        return;
    }
    // The shown keepers' outputs: a second pass over the manifest finds their rows.
    let mut outputs: BTreeMap<&str, String> = BTreeMap::new();
    let _ = manifest::for_each(mpath, |r| {
        if r.status == Status::Kept {
            if let Some((k, _)) = d.groups.get_key_value(&r.source) {
                outputs.insert(k.as_str(), r.output);
            }
        }
    });
    page.p(&format!(
        "{} groups; the first {} shown: the kept image (prep's output), then each dropped copy (its source) with the reason; identical copies share one thumbnail.",
        d.keepers.len(),
        d.groups.len()
    ));
    let mut html = String::from("<div class=\"cards\">");
    for (keeper, dups) in &d.groups {
        html.push_str("<div class=\"card\">");
        let uri = outputs
            .get(keeper.as_str())
            .and_then(|o| file_uri(&out.join(o)))
            .or_else(|| input.and_then(|i| thumb_uri(&source_file(i, keeper), THUMB)));
        match uri {
            Some(u) => html.push_str(&figure(&u, &format!("kept: {keeper}"), 96)),
            None => html.push_str(&format!("<p>kept: <code>{}</code></p>", esc(keeper))),
        }
        for copies in same_image(dups) {
            let first = copies[0];
            let mut cap = format!("{} ({})", first.source, first.reason);
            if copies.len() > 1 {
                let rest: Vec<&str> = copies[1..].iter().map(|r| r.source.as_str()).collect();
                cap.push_str(&format!(
                    " and {} identical copies: {}",
                    rest.len(),
                    rest.join(", ")
                ));
            }
            match input.and_then(|i| judged_thumb(i, first)) {
                Some(u) => html.push_str(&figure(&u, &cap, 96)),
                None => html.push_str(&format!(
                    "<p class=\"muted\">{} (no thumbnail: {})</p>",
                    esc(&cap),
                    no_thumbnail(input, &first.source)
                )),
            }
        }
        html.push_str("</div>");
    }
    html.push_str("</div>");
    page.raw(&html);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(source: String, status: Status, dup_of: String) -> ManifestRow {
        ManifestRow {
            source,
            output: String::new(),
            status,
            reason: if status == Status::Duplicate {
                "exact_file".into()
            } else {
                String::new()
            },
            dup_of,
            crop_x: None,
            crop_y: None,
            crop_w: None,
            crop_h: None,
            src_w: None,
            src_h: None,
            bytes: None,
            phash: String::new(),
            dhash: String::new(),
        }
    }

    #[test]
    fn the_digest_keeps_the_first_groups_by_keeper_whatever_the_row_order() {
        let mut d = Digest::default();
        // 20 groups of 3 copies each, keepers k00..k19, rows in a scrambled order.
        let mut rows = Vec::new();
        for g in 0..20 {
            rows.push(row(format!("k{g:02}"), Status::Kept, String::new()));
            for c in 0..3 {
                rows.push(row(
                    format!("d{g:02}_{c}"),
                    Status::Duplicate,
                    format!("k{g:02}"),
                ));
            }
        }
        let n = rows.len();
        for i in 0..n {
            d.add(rows[(i * 37) % n].clone()); // 37 is prime to 80: a permutation
        }
        assert_eq!(d.rows, 80);
        assert_eq!(d.count(Status::Duplicate), 60);
        assert_eq!(d.keepers.len(), 20);
        let keys: Vec<&str> = d.groups.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["k00", "k01", "k02", "k03", "k04", "k05", "k06", "k07"]
        );
        assert!(d.groups.values().all(|g| g.len() == 3));
        assert_eq!(d.by_reason[&(Status::Duplicate, "exact_file".into())].0, 60);
    }

    /// Copies of one image (same hashes and reason) share a thumbnail; another image, or
    /// the same hashes for another reason, or rows without hashes, stand alone.
    #[test]
    fn identical_copies_share_one_thumbnail() {
        let mk = |src: &str, reason: &str, hash: &str| ManifestRow {
            reason: reason.into(),
            phash: hash.into(),
            dhash: hash.into(),
            ..row(src.into(), Status::Duplicate, "k".into())
        };
        let dups = [
            mk("1/a", "exact_file", "aa"),
            mk("1/b", "near", "bb"),
            mk("2/a", "exact_file", "aa"),
            mk("2/b", "near", "bb"),
            mk("3/b", "exact_pixels", "bb"),
            mk("x", "near", ""),
            mk("y", "near", ""),
        ];
        let bunches: Vec<Vec<&str>> = same_image(&dups)
            .iter()
            .map(|b| b.iter().map(|r| r.source.as_str()).collect())
            .collect();
        assert_eq!(
            bunches,
            vec![
                vec!["1/a", "2/a"],
                vec!["1/b", "2/b"],
                vec!["3/b"],
                vec!["x"],
                vec!["y"]
            ]
        );
    }

    /// Regression: the crop's thumbnail was cut from `image::open`'s pixels: a PNG named
    /// `.jpg` was no image (the page said the file could not be decoded, which prep had
    /// decoded), and an EXIF-rotated photo's box, in oriented pixels, was cut from the
    /// unrotated image (or, not fitting it, the whole picture was shown sideways).
    #[test]
    fn judged_thumbnails_decode_as_prep_does() {
        use image::{ImageEncoder, Rgb, RgbImage};
        let dir = tempfile::tempdir().unwrap();
        let boxed = |source: &str, (x, y, w, h)| ManifestRow {
            crop_x: Some(x),
            crop_y: Some(y),
            crop_w: Some(w),
            crop_h: Some(h),
            ..row(source.into(), Status::Rejected, String::new())
        };
        // A PNG under a JPEG's name.
        let img = RgbImage::from_fn(16, 16, |x, y| Rgb([x as u8 * 16, y as u8 * 16, 7]));
        img.save_with_format(dir.path().join("x.jpg"), image::ImageFormat::Png)
            .unwrap();
        let t = judged_thumb(dir.path(), &boxed("x.jpg", (0, 0, 8, 8))).expect("a thumbnail");
        let crop = image::imageops::crop_imm(&img, 0, 0, 8, 8).to_image();
        let want = image::DynamicImage::ImageRgb8(crop).thumbnail(THUMB, THUMB);
        assert_eq!(t, image_uri(&want.to_rgb8()));
        // A 20 x 10 JPEG, red left and blue right, turned by EXIF orientation 6 into
        // 10 x 20, red on top: the box (0, 10, 10, 10) is the blue bottom half.
        let img = RgbImage::from_fn(20, 10, |x, _| match x < 10 {
            true => Rgb([255, 0, 0]),
            false => Rgb([0, 0, 255]),
        });
        let mut buf = Vec::new();
        let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 95);
        enc.set_exif_metadata(crate::prep::scan::exif_orientation(6))
            .unwrap();
        enc.write_image(img.as_raw(), 20, 10, image::ExtendedColorType::Rgb8)
            .unwrap();
        std::fs::write(dir.path().join("turned.jpg"), &buf).unwrap();
        let t = judged_thumb(dir.path(), &boxed("turned.jpg", (0, 10, 10, 10))).unwrap();
        let oriented = crate::prep::scan::decode_bytes(&buf, &Default::default())
            .unwrap()
            .rgb;
        assert!(oriented.get_pixel(5, 15)[2] > 200, "blue at the bottom");
        let crop = image::imageops::crop_imm(&oriented, 0, 10, 10, 10).to_image();
        let want = image::DynamicImage::ImageRgb8(crop).thumbnail(THUMB, THUMB);
        assert_eq!(t, image_uri(&want.to_rgb8()));
    }
}
