//! `segmint migrate`

use std::path::PathBuf;

use anyhow::{Context, Result};
use segmint::data::timestamp::{format_date, parse_date};
use segmint::data::TableKind;
use segmint::segment::migrate::{migrate, thousands};

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
    let (from, to) = (date("from", &a.from)?, date("to", &a.to)?);
    let (inputs, map) = a.input.resolve()?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let params = a.scoring.params();
    let m = migrate(
        &tx,
        customers.as_ref(),
        &rules,
        &params,
        from,
        to,
        &Bars::new(g),
    )?;
    let labels = m.row_labels();
    if let Some(out) = &a.out {
        let batch = m.to_record_batch()?;
        let meta = vec![
            ("segmint.task".to_string(), "migrate".to_string()),
            ("segmint.from".to_string(), format_date(from)),
            ("segmint.to".to_string(), format_date(to)),
            ("segmint.rules".to_string(), rules.name.clone()),
        ];
        segmint::output::write_table(&batch, out, &meta)?;
    }
    let flows = m.biggest_flows(a.top);
    let (stayed, both) = m.stayed();
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "task": "migrate", "from": format_date(from), "to": format_date(to),
                "rules": rules.name, "rows": labels, "columns": m.segments,
                "counts": m.counts, "row_shares": m.row_shares(), "flows": flows,
                "customers_from": m.customers_from, "customers_to": m.customers_to,
                "stayed": stayed, "segmented_at_both": both,
            })
        );
        return Ok(0);
    }
    let shares = m.row_shares();
    println!(
        "## Segment migration {} -> {} (rows: then, columns: now; count and row share)\n",
        format_date(from),
        format_date(to)
    );
    println!(
        "| then \\ now | {} | total |\n| --- |{} ---: |",
        m.segments.join(" | "),
        " ---: |".repeat(m.segments.len())
    );
    for (r, row) in m.counts.iter().enumerate() {
        let total: u64 = row.iter().sum();
        if total == 0 {
            continue;
        }
        let cells: Vec<String> = row
            .iter()
            .zip(&shares[r])
            .map(|(c, s)| format!("{} ({:.0}%)", thousands(*c), 100.0 * s))
            .collect();
        println!(
            "| {} | {} | {} |",
            labels[r],
            cells.join(" | "),
            thousands(total)
        );
    }
    println!(
        "\n{} of {} customers segmented at both dates stayed in their segment ({:.1}%).\n\nBiggest flows:",
        thousands(stayed),
        thousands(both),
        if both == 0 { 0.0 } else { 100.0 * stayed as f64 / both as f64 }
    );
    for f in &flows {
        println!(
            "* {} ({:.1}% of {})",
            f.sentence,
            100.0 * f.share_of_from,
            f.from
        );
    }
    Ok(0)
}
