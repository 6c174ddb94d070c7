//! `segmint profile`

use std::path::PathBuf;

use anyhow::{Context, Result};
use segmint::data::timestamp::{format_date, parse_date};
use segmint::data::TableKind;
use segmint::segment::profile::{self, read_segments, Profile};
use segmint::segment::rules::RuleSet;

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
    let ref_text = a
        .ref_date
        .clone()
        .or_else(|| seg.metadata.get("segmint.ref_date").cloned());
    let ref_day = ref_text
        .as_deref()
        .map(|d| {
            parse_date(d).with_context(|| format!("reference date {d:?}: expected YYYY-MM-DD"))
        })
        .transpose()?;
    let rules_spec = a
        .rules
        .clone()
        .or_else(|| seg.metadata.get("segmint.rules_source").cloned());
    let rules: Option<RuleSet> = match &rules_spec {
        Some(spec) if a.rules.is_some() => Some(load_rules(spec)?),
        Some(spec) => match load_rules(spec) {
            Ok(r) => Some(r),
            Err(e) => {
                note(g, format!("warning: rule set {spec:?} recorded in the segments file: {e:#}; no actions"));
                None
            }
        },
        None => None,
    };
    let (inputs, map) = a.input.resolve()?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let bars = Bars::new(g);
    let mart = crate::cmd::mart::rfm_mart(&tx, ref_day, &bars)?;
    let order: Vec<String> = rules
        .as_ref()
        .map(|r| {
            let mut v: Vec<String> = r.rules.iter().map(|x| x.name.clone()).collect();
            v.extend(r.default.clone());
            v
        })
        .unwrap_or_default();
    let (names, segment, not_in_mart) = seg.align(&mart.customer_id, &order);
    if not_in_mart > 0 {
        note(
            g,
            format!(
                "warning: {not_in_mart} customers of {} have no purchase in the transactions and are left out",
                a.segments.display()
            ),
        );
    }
    let attrs = customers
        .as_ref()
        .map(|c| profile::load_attributes(c, &mart, &bars))
        .transpose()?;
    for (column, reason) in attrs.iter().flat_map(|a| &a.left_out) {
        note(g, format!("column {column:?} left out: {reason}"));
    }
    if attrs.is_none() {
        note(
            g,
            "note: no customers file: demographic features and premium composition are left out",
        );
    }
    let actions = rules.as_ref().map(|r| r.actions()).unwrap_or_default();
    let p = profile::profile(&names, &segment, &mart, attrs.as_ref(), &actions);
    let meta = vec![
        ("segmint.task".to_string(), "profile".to_string()),
        ("segmint.ref_date".to_string(), format_date(mart.ref_day)),
        (
            "segmint.segments".to_string(),
            a.segments.display().to_string(),
        ),
    ];
    emit(g, &p, a.out.as_deref(), &meta)?;
    Ok(0)
}
