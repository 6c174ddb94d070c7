//! `segmint profile`

use std::path::PathBuf;

use anyhow::Result;
use segmint::data::timestamp::format_date;
use segmint::data::TableKind;
use segmint::segment::profile::{analyze, read_segments, Profile, ProfileParams};

use crate::options::load_rules;
use crate::ui::{note, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint rfm --data data --rules standard --out rfm.parquet
  segmint profile --data data --segments rfm.parquet --out profile
  segmint profile --data data --segments clusters.parquet --segment-column cluster_name --json

Per segment: customers, share, revenue (net spend) and its share, premium composition, and
median [q25, q75] (mean) of behavioural (recency_days, frequency, monetary, loyalty_points,
support_tickets) and demographic (age, income, credit_score) features; the features ranked by
how much they differ between segments (Kruskal-Wallis H, effect size epsilon^2 = H/(N-1));
and the actions of each segment from the rule set. Prints Markdown (JSON with --json); --out
DIR also writes profile.json, profile.md, profile_segments.parquet, profile_features.parquet.")]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Segments file (Parquet or CSV) with customer_id and a segment column
    #[arg(long, value_name = "FILE")]
    pub segments: PathBuf,
    /// Name of the segment column
    #[arg(long, default_value = "segment", value_name = "NAME")]
    pub segment_column: String,
    /// Rule set for segment order and actions (default: the one recorded in the segments file)
    #[arg(long, value_name = "NAME|FILE")]
    pub rules: Option<String>,
    /// Reference date for recency (default: recorded in the segments file, else the day after
    /// the last transaction)
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub ref_date: Option<String>,
    /// Directory for profile.json, profile.md and the Parquet tables
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Prints the profile (Markdown or JSON) and writes it to `out` when given.
pub fn emit(
    g: &Global,
    p: &Profile,
    out: Option<&std::path::Path>,
    meta: &[(String, String)],
) -> Result<()> {
    if let Some(dir) = out {
        p.write(dir, meta)?;
    }
    if g.json {
        println!("{}", serde_json::to_string(p)?);
    } else {
        print!("{}", p.to_markdown());
    }
    Ok(())
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let seg = read_segments(&a.segments, &a.segment_column)?;
    let params = ProfileParams {
        ref_day: crate::options::parse_ref_date(&a.ref_date)?,
    };
    let rules = a.rules.as_deref().map(load_rules).transpose()?;
    let (inputs, map) = a.input.resolve()?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let r = analyze(
        &seg,
        &tx,
        customers.as_ref(),
        rules.as_ref(),
        &params,
        &Bars::new(g),
    )?;
    for n in &r.notes {
        note(g, format!("note: {n}"));
    }
    let meta = vec![
        ("segmint.task".to_string(), "profile".to_string()),
        ("segmint.ref_date".to_string(), format_date(r.ref_day)),
        (
            "segmint.segments".to_string(),
            a.segments.display().to_string(),
        ),
    ];
    emit(g, &r.profile, a.out.as_deref(), &meta)?;
    Ok(0)
}
