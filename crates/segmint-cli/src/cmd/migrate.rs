//! `segmint migrate`

use std::path::PathBuf;

use anyhow::{Context, Result};
use segmint::data::timestamp::{format_date, parse_date};
use segmint::data::TableKind;
use segmint::segment::migrate::{migrate, MigrateParams};

use crate::options::{load_rules, ScoringArgs};
use crate::ui::{Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint migrate --data data --from 2025-07-01 --to 2026-01-01
  segmint migrate --data data --from 2025-07-01 --to 2026-01-01 --rules standard --out moves.parquet --json

Segments every customer twice, as of --from and as of --to: each time only the transactions
before that day (00:00 UTC) count and that day is the reference date for recency; scores are
quintiles within each date's customers. Prints the transition matrix (counts and row shares;
customers without a purchase before --from are the '(new customer)' row) and the biggest flows.")]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// First reference date
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: String,
    /// Second reference date (after --from)
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: String,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// How many of the biggest flows to name
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Per-customer output (customer_id, segment_from, segment_to), Parquet or CSV
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn date(flag: &str, s: &str) -> Result<i64> {
    parse_date(s).with_context(|| format!("--{flag} {s:?}: expected a date YYYY-MM-DD"))
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let rules = load_rules(&a.scoring.rules)?;
    let params = MigrateParams {
        scoring: a.scoring.params(),
        from_day: date("from", &a.from)?,
        to_day: date("to", &a.to)?,
    };
    let (inputs, map) = a.input.resolve()?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let m = migrate(&tx, customers.as_ref(), &rules, &params, &Bars::new(g))?;
    if let Some(out) = &a.out {
        let meta = vec![
            ("segmint.task".to_string(), "migrate".to_string()),
            ("segmint.from".to_string(), format_date(params.from_day)),
            ("segmint.to".to_string(), format_date(params.to_day)),
            ("segmint.rules".to_string(), rules.name.clone()),
        ];
        segmint::output::write_table(&m.to_record_batch()?, out, &meta)?;
    }
    let summary = m.summary(&rules.name, a.top);
    if g.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", summary.markdown());
    }
    Ok(0)
}
