//! `segmint report`: the report from an existing results directory of `segmint run`.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::ui::{note, Global};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint report --results out                 rebuild out/report.html from out/
  segmint report --results out --out shared    write the report to shared/ instead

Reads what `segmint run` wrote into DIR: mart.parquet (required), validate.json, rfm.parquet and
profile/, compare/, clusters/, clv/, churn/, value/, conversion/ and hidden/; a section whose
files are absent is left out. Writes report.html (self-contained), report.md and figures/*.svg
and *.png. Results of the single commands can be placed there by hand, e.g.
`segmint clv --data data --out out/clv/clv.parquet --metrics out/clv/clv.json`.")]
pub struct Args {
    /// Results directory written by `segmint run`
    #[arg(long, value_name = "DIR")]
    pub results: PathBuf,
    /// Output directory of the report (default: the results directory)
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// What [`render`] wrote.
pub struct Rendered {
    /// Sections left out, with the reason.
    pub notes: Vec<String>,
    pub sections: Vec<String>,
    pub pngs: usize,
}

/// Builds the report from `results` and writes it, with PNG copies of the figures, to `out`.
pub fn render(results: &Path, out: &Path) -> Result<Rendered> {
    let (report, mut notes) = segmint::report::results::build(results)?;
    std::fs::create_dir_all(out)?;
    report.write(out)?;
    if crate::png::options().1.is_none() {
        notes.push("figure text in PNG: no fonts installed (the SVG and HTML figures are complete; install e.g. fonts-dejavu-core)".into());
    }
    let pngs = crate::png::render_dir(&out.join("figures"), 2.0)?;
    Ok(Rendered {
        notes,
        sections: report.sections.iter().map(|s| s.id.clone()).collect(),
        pngs,
    })
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let out = a.out.clone().unwrap_or_else(|| a.results.clone());
    let r = render(&a.results, &out)?;
    for n in &r.notes {
        note(g, format!("skipped {n}"));
    }
    let html = out.join("report.html");
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "report": html,
                "sections": r.sections,
                "figures": r.pngs,
                "skipped": r.notes,
            })
        );
    } else {
        note(
            g,
            format!(
                "report ({} sections, {} figures) -> {}",
                r.sections.len(),
                r.pngs,
                html.display()
            ),
        );
    }
    Ok(0)
}
