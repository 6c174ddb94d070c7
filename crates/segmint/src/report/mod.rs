//! The report: one self-contained HTML file (no scripts, no external resources; figures are
//! inline SVG from `report::svg`), the same content as Markdown, and every figure as an SVG file.
//! Every string that can come from data (ids, category values, column and segment names) is
//! escaped where it is written, so values such as `<script>` render as text.
//!
//! A [`Report`] is a list of [`Section`]s of [`Block`]s; `report::sections` builds them from each
//! analysis's results.

pub(crate) mod evaluation;
pub mod results;
pub(crate) mod sections;
pub(crate) mod svg;

use std::path::Path;

use crate::error::Result;
use svg::escape;

/// A piece of a section.
#[derive(Debug, Clone)]
pub enum Block {
    /// A paragraph of plain text.
    Text(String),
    /// A figure: `name` is its file stem in `figures/`.
    Figure {
        /// File stem in `figures/`.
        name: String,
        /// The SVG.
        svg: String,
        /// Caption.
        caption: String,
    },
    /// A table of plain-text cells.
    Table {
        /// Column names.
        header: Vec<String>,
        /// Rows of cells.
        rows: Vec<Vec<String>>,
    },
    /// Plain-language actions per segment.
    Actions(Vec<(String, Vec<String>)>),
}

/// A titled section.
#[derive(Debug, Clone)]
pub struct Section {
    /// Anchor id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Content.
    pub blocks: Vec<Block>,
}

/// The whole report.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Title.
    pub title: String,
    /// Subtitle.
    pub subtitle: String,
    /// Sections in order.
    pub sections: Vec<Section>,
}

const CSS: &str = "body{font-family:Helvetica,Arial,sans-serif;margin:0;background:#f4f5f7;color:#222}\
header{background:#0b3d5c;color:#fff;padding:20px 32px}header h1{margin:0 0 4px;font-size:24px}\
nav{padding:8px 32px;background:#fff;border-bottom:1px solid #ddd}nav a{margin-right:14px;color:#0b3d5c;text-decoration:none}\
main{max-width:1100px;margin:0 auto;padding:16px 24px}section{background:#fff;border-radius:6px;padding:16px 24px;margin:16px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}\
h2{margin-top:4px;color:#0b3d5c}figure{margin:12px 0;display:inline-block;vertical-align:top}figcaption{font-size:13px;color:#555;max-width:640px}\
table{border-collapse:collapse;margin:10px 0;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#eef2f5}td.num{text-align:right}.actions li{margin:4px 0}footer{color:#777;font-size:12px;padding:16px 32px}";

/// Markdown text from data: table pipes escaped, and `<` `>` as entities so that a Markdown
/// viewer that renders HTML shows them as text.
fn md_text(s: &str) -> String {
    crate::uplift::export::md_cell(s)
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn is_number(s: &str) -> bool {
    let t = s.trim_end_matches('%').replace(',', "");
    !t.is_empty() && t.parse::<f64>().is_ok()
}

impl Section {
    /// The section as an HTML `<section>` element (figures inline, data escaped): a piece of
    /// the report, also what a Python result shows in Jupyter.
    pub fn html(&self) -> String {
        let mut h = format!(
            "<section id=\"{}\"><h2>{}</h2>\n",
            escape(&self.id),
            escape(&self.title)
        );
        for b in &self.blocks {
            match b {
                Block::Text(t) => h.push_str(&format!("<p>{}</p>\n", escape(t))),
                Block::Figure { name, svg, caption } => h.push_str(&format!(
                    "<figure data-name=\"{}\">{svg}<figcaption>{}</figcaption></figure>\n",
                    escape(name),
                    escape(caption)
                )),
                Block::Table { header, rows } => {
                    h.push_str("<table><thead><tr>");
                    for c in header {
                        h.push_str(&format!("<th>{}</th>", escape(c)));
                    }
                    h.push_str("</tr></thead><tbody>");
                    for r in rows {
                        h.push_str("<tr>");
                        for c in r {
                            let class = if is_number(c) { " class=\"num\"" } else { "" };
                            h.push_str(&format!("<td{class}>{}</td>", escape(c)));
                        }
                        h.push_str("</tr>");
                    }
                    h.push_str("</tbody></table>\n");
                }
                Block::Actions(list) => {
                    h.push_str("<ul class=\"actions\">");
                    for (seg, acts) in list {
                        h.push_str(&format!(
                            "<li><b>{}</b>: {}</li>",
                            escape(seg),
                            escape(&sentences(acts))
                        ));
                    }
                    h.push_str("</ul>\n");
                }
            }
        }
        h.push_str("</section>\n");
        h
    }
}

/// The report section of a segmentation's profile (`rule_set` names the rules; `revenue` is
/// every customer's net spend).
pub fn segments_section(
    p: &crate::segment::profile::Profile,
    rule_set: &str,
    revenue: &[f64],
) -> Section {
    sections::segments(p, rule_set, revenue)
}

/// The report section of a comparison (`segmint compare`).
pub fn compare_section(c: &crate::uplift::Comparison) -> Section {
    sections::compare(c)
}

impl Report {
    /// The report as one HTML document.
    pub fn html(&self) -> String {
        let mut h = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{CSS}</style></head><body>\n<header><h1>{}</h1><div>{}</div></header>\n<nav>",
            escape(&self.title),
            escape(&self.title),
            escape(&self.subtitle)
        );
        for s in &self.sections {
            h.push_str(&format!(
                "<a href=\"#{}\">{}</a>",
                escape(&s.id),
                escape(&s.title)
            ));
        }
        h.push_str("</nav>\n<main>\n");
        for s in &self.sections {
            h.push_str(&s.html());
        }
        h.push_str(&format!(
            "</main><footer>segmint {} · self-contained report: no scripts, no external resources</footer></body></html>\n",
            crate::VERSION
        ));
        h
    }

    /// The report as Markdown (figures linked from `figures/`).
    pub fn markdown(&self) -> String {
        let cell = md_text;
        let mut m = format!("# {}\n\n{}\n", cell(&self.title), cell(&self.subtitle));
        for s in &self.sections {
            m.push_str(&format!("\n## {}\n\n", cell(&s.title)));
            for b in &s.blocks {
                match b {
                    Block::Text(t) => m.push_str(&format!("{}\n\n", cell(t))),
                    Block::Figure { name, caption, .. } => {
                        m.push_str(&format!("![{}](figures/{}.svg)\n\n", cell(caption), name))
                    }
                    Block::Table { header, rows } => {
                        m.push_str(&format!(
                            "| {} |\n|{}\n",
                            header
                                .iter()
                                .map(|c| cell(c))
                                .collect::<Vec<_>>()
                                .join(" | "),
                            "---|".repeat(header.len())
                        ));
                        for r in rows {
                            m.push_str(&format!(
                                "| {} |\n",
                                r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
                            ));
                        }
                        m.push('\n');
                    }
                    Block::Actions(list) => {
                        for (seg, acts) in list {
                            m.push_str(&format!(
                                "* **{}**: {}\n",
                                cell(seg),
                                cell(&sentences(acts))
                            ));
                        }
                        m.push('\n');
                    }
                }
            }
        }
        m
    }

    /// Figures by file stem.
    pub fn figures(&self) -> Vec<(&str, &str)> {
        self.sections
            .iter()
            .flat_map(|s| s.blocks.iter())
            .filter_map(|b| match b {
                Block::Figure { name, svg, .. } => Some((name.as_str(), svg.as_str())),
                _ => None,
            })
            .collect()
    }

    /// Writes `report.html`, `report.md` and `figures/<name>.svg` into `dir`. SVG and PNG files
    /// in `figures/` that are not figures of this report (left by an earlier report with more
    /// sections) are removed.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let figures = dir.join("figures");
        std::fs::create_dir_all(&figures).map_err(|e| crate::Error::io(&figures, e))?;
        let current: std::collections::HashSet<&str> =
            self.figures().iter().map(|(n, _)| *n).collect();
        for entry in std::fs::read_dir(&figures).map_err(|e| crate::Error::io(&figures, e))? {
            let path = entry.map_err(|e| crate::Error::io(&figures, e))?.path();
            let stale = path.extension().is_some_and(|x| x == "svg" || x == "png")
                && path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .is_some_and(|s| !current.contains(s));
            if stale {
                std::fs::remove_file(&path).map_err(|e| crate::Error::io(&path, e))?;
            }
        }
        for (name, svg) in self.figures() {
            crate::output::write_text(
                &figures.join(format!("{name}.svg")),
                &format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{svg}\n"),
            )?;
        }
        crate::output::write_text(&dir.join("report.md"), &self.markdown())?;
        crate::output::write_text(&dir.join("report.html"), &self.html())
    }
}

/// Actions as running text: each one a sentence (a full stop added where it has none).
fn sentences(acts: &[String]) -> String {
    acts.iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .map(|a| {
            if a.ends_with(['.', '!', '?']) {
                a.to_string()
            } else {
                format!("{a}.")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_strings_render_as_text() {
        let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
        let r = Report {
            title: evil.into(),
            subtitle: evil.into(),
            sections: vec![Section {
                id: evil.into(),
                title: evil.into(),
                blocks: vec![
                    Block::Text(evil.into()),
                    Block::Table {
                        header: vec![evil.into()],
                        rows: vec![vec![evil.into()]],
                    },
                    Block::Actions(vec![(evil.into(), vec![evil.into()])]),
                    Block::Figure {
                        name: "f".into(),
                        svg: svg::bar_chart(
                            &svg::Chart::new(evil, evil, evil),
                            &[evil.into()],
                            &[1.0],
                            svg::Format::Number,
                        ),
                        caption: evil.into(),
                    },
                ],
            }],
        };
        let h = r.html();
        assert!(!h.contains("<script") && !h.contains("<img"), "{h}");
        assert!(h.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"
        ));
        let m = r.markdown();
        assert!(!m.contains("<script") && !m.contains("<img"), "{m}");
    }

    #[test]
    fn actions_read_as_sentences() {
        let acts = vec![
            "Reward: loyalty perks".to_string(),
            "Ask for reviews!".to_string(),
            " ".to_string(),
        ];
        assert_eq!(
            super::sentences(&acts),
            "Reward: loyalty perks. Ask for reviews!"
        );
    }
}
