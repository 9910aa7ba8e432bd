//! A small HTML page builder for the reports: one self-contained file (inline CSS, images
//! as `data:` URIs, no script, nothing fetched), every string escaped on the way in.

use base64::Engine;
use std::fmt::Write;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text and sets spans between backticks as `<code>`.
pub fn inline(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len().is_multiple_of(2) {
        // An unpaired backtick: plain text.
        return esc(s);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", esc(p))
            } else {
                esc(p)
            }
        })
        .collect()
}

/// A `data:image/png;base64,...` URI of PNG bytes.
pub fn png_uri(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

/// A formatted number: `-` for NaN/infinite, else `prec` decimals.
pub fn num(x: f64, prec: usize) -> String {
    if x.is_finite() {
        format!("{x:.prec$}")
    } else {
        "-".into()
    }
}

const CSS: &str = "
body{font-family:system-ui,-apple-system,'DejaVu Sans',Helvetica,Arial,sans-serif;margin:0;color:#1d2330;background:#f6f7f9;line-height:1.45}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:1.5em}header p{margin:4px 0 0;color:#c7cbd4}
nav{background:#fff;border-bottom:1px solid #dde1e7;padding:8px 28px;font-size:.92em}
nav a{margin-right:16px;color:#2456a6;text-decoration:none}
main{padding:8px 28px 40px;max-width:1500px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:6px 20px 16px;margin:18px 0}
h2{font-size:1.2em;border-bottom:1px solid #eef0f3;padding-bottom:6px}
h3{font-size:1.02em;margin:16px 0 6px}
table{border-collapse:collapse;margin:8px 0;font-size:.92em}
th,td{border:1px solid #dde1e7;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.best{background:#d7f3dc;font-weight:700}
tr:nth-child(even) td{background-color:#fafbfc}
tr:nth-child(even) td.best{background:#d7f3dc}
img.plot{max-width:100%;border:1px solid #eef0f3;margin:6px 8px 6px 0}
img.px{image-rendering:pixelated;border:1px solid #dde1e7;background:#fff}
figure img{min-width:64px;height:auto}
figure{display:inline-block;margin:6px 12px 6px 0;vertical-align:top}
figcaption{font-size:.82em;color:#555;max-width:280px;word-break:break-all}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
.card{border:1px solid #e3e6eb;border-radius:5px;padding:6px 10px}
.note{background:#fff7e0;border-left:4px solid #e8b400;padding:6px 12px;margin:8px 0}
.muted{color:#666;font-size:.9em}
code{background:#f0f2f5;padding:1px 4px;border-radius:3px}
";

/// A report page under construction.
#[derive(Debug, Default)]
pub struct Page {
    title: String,
    subtitle: String,
    nav: Vec<(String, String)>,
    body: String,
    open: bool,
}

impl Page {
    /// A page with a title and a line under it (both plain text).
    pub fn new(title: &str, subtitle: &str) -> Page {
        Page {
            title: title.into(),
            subtitle: subtitle.into(),
            ..Default::default()
        }
    }

    /// Starts a section (closing the previous one), listed in the navigation bar.
    pub fn section(&mut self, id: &str, title: &str) {
        self.close();
        self.nav.push((id.into(), title.into()));
        let _ = writeln!(
            self.body,
            "<section id=\"{}\"><h2>{}</h2>",
            esc(id),
            esc(title)
        );
        self.open = true;
    }

    fn close(&mut self) {
        if self.open {
            self.body.push_str("</section>\n");
            self.open = false;
        }
    }

    /// A sub-heading.
    pub fn h3(&mut self, text: &str) {
        let _ = writeln!(self.body, "<h3>{}</h3>", esc(text));
    }

    /// A paragraph of plain text (`backticks` set as code).
    pub fn p(&mut self, text: &str) {
        let _ = writeln!(self.body, "<p>{}</p>", inline(text));
    }

    /// A highlighted note (plain text, `backticks` set as code).
    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.body, "<p class=\"note\">{}</p>", inline(text));
    }

    /// Raw HTML, for callers that escaped their parts themselves.
    pub fn raw(&mut self, html: &str) {
        self.body.push_str(html);
        self.body.push('\n');
    }

    /// A plot image (PNG bytes) at its natural size, with alt text.
    pub fn plot(&mut self, png: &[u8], alt: &str) {
        let _ = writeln!(
            self.body,
            "<img class=\"plot\" src=\"{}\" alt=\"{}\">",
            png_uri(png),
            esc(alt)
        );
    }

    /// A table.
    pub fn table(&mut self, t: &Table) {
        self.body.push_str(&t.html());
    }

    /// The finished document. The body (megabytes once it embeds a hundred images) is
    /// not copied: the head is put in front of it in its own buffer.
    pub fn finish(mut self) -> String {
        self.close();
        let mut nav = String::new();
        for (id, title) in &self.nav {
            let _ = write!(nav, "<a href=\"#{}\">{}</a>", esc(id), esc(title));
        }
        let head = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{t}</title><style>{CSS}</style></head><body>\n\
             <header><h1>{t}</h1><p>{s}</p></header>\n<nav>{nav}</nav>\n<main>\n",
            t = esc(&self.title),
            s = esc(&self.subtitle),
        );
        let mut html = std::mem::take(&mut self.body);
        html.insert_str(0, &head);
        let _ = write!(
            html,
            "</main>\n<footer class=\"muted\" style=\"padding:0 28px 20px\">Written by facesynth {}.</footer>\
             </body></html>\n",
            env!("CARGO_PKG_VERSION")
        );
        html
    }
}

/// An image figure with a caption, as HTML (`width` in CSS pixels, 0: natural).
pub fn figure(uri: &str, caption: &str, width: u32) -> String {
    let w = if width > 0 {
        format!(" width=\"{width}\"")
    } else {
        String::new()
    };
    format!(
        "<figure><img class=\"px\" src=\"{uri}\" alt=\"{c}\"{w}><figcaption>{c}</figcaption></figure>",
        c = esc(caption)
    )
}

/// One table cell.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    text: String,
    numeric: bool,
    best: bool,
}

impl Cell {
    /// A text cell.
    pub fn text(s: impl Into<String>) -> Cell {
        Cell {
            text: s.into(),
            ..Default::default()
        }
    }
    /// A right-aligned number with `prec` decimals (`-` when not finite).
    pub fn num(x: f64, prec: usize) -> Cell {
        Cell {
            text: num(x, prec),
            numeric: true,
            best: false,
        }
    }
    /// A right-aligned integer.
    pub fn int(x: impl std::fmt::Display) -> Cell {
        Cell {
            text: x.to_string(),
            numeric: true,
            best: false,
        }
    }
    /// Marks the cell as the best of its column.
    pub fn best(mut self, yes: bool) -> Cell {
        self.best = yes;
        self
    }
}

/// A table of text cells with a header row.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with these column names.
    pub fn new<S: AsRef<str>>(header: &[S]) -> Table {
        Table {
            header: header.iter().map(|s| s.as_ref().to_string()).collect(),
            rows: Vec::new(),
        }
    }
    /// Appends a row.
    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }
    /// Rows so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    /// The table as HTML.
    pub fn html(&self) -> String {
        let mut s = String::from("<table><thead><tr>");
        for h in &self.header {
            let _ = write!(s, "<th>{}</th>", esc(h));
        }
        s.push_str("</tr></thead><tbody>\n");
        for r in &self.rows {
            s.push_str("<tr>");
            for c in r {
                let class = match (c.numeric, c.best) {
                    (true, true) => " class=\"n best\"",
                    (true, false) => " class=\"n\"",
                    (false, true) => " class=\"best\"",
                    (false, false) => "",
                };
                let _ = write!(s, "<td{class}>{}</td>", esc(&c.text));
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody></table>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_escaped() {
        let mut p = Page::new("<t>", "a & b");
        p.section("s\"1", "<script>alert(1)</script>");
        let mut t = Table::new(&["<h>"]);
        t.row(vec![Cell::text("x<y>'z'")]);
        p.table(&t);
        let html = p.finish();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("x&lt;y&gt;&#39;z&#39;"));
        assert!(html.contains("<title>&lt;t&gt;</title>"));
        assert!(html.contains("id=\"s&quot;1\""));
    }

    #[test]
    fn numbers_and_best_cells() {
        let mut t = Table::new(&["a"]);
        t.row(vec![Cell::num(f64::NAN, 2)]);
        t.row(vec![Cell::num(1.23456, 2).best(true)]);
        let h = t.html();
        assert!(h.contains("<td class=\"n\">-</td>"));
        assert!(h.contains("<td class=\"n best\">1.23</td>"));
        assert!(png_uri(b"abc").ends_with("YWJj"));
        assert_eq!(inline("run `a<b>` now"), "run <code>a&lt;b&gt;</code> now");
        assert_eq!(inline("odd ` tick"), "odd ` tick");
    }
}
