//! `segmint sql`: the mart or RFM scoring as SQL for a warehouse.

use std::path::PathBuf;

use anyhow::{bail, Result};
use segmint::data::mapping::ColumnMap;
use segmint::sql::Dialect;

use crate::options::{statement, ScoringArgs, Task};
use crate::ui::{note, Global};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint sql --dialect duckdb --task mart
  segmint sql --dialect spark --task rfm --rules standard --transactions-table sales.orders
  segmint sql --dialect postgres --task rfm --rules my_rules.toml --ties average --out rfm.sql
  segmint sql --dialect portable --task mart --columns amount=revenue,timestamp=order_date
  segmint sql --dialect spark --task cohorts --period quarter --transactions-table sales.orders

The statement computes what `segmint mart` / `segmint rfm` / `segmint cohorts` (first-purchase
cohorts, without --by or --cohort-column) compute in process, row for row: the same
purchase/return rules, reference date, modes with their tie rule, score ranks and rule sets. It reads the tables --transactions-table (and --customers-table when a rule uses a
customer attribute) with segmint's column names, or the names given by --columns. PostgreSQL
statements compare strings with COLLATE \"C\" (byte order, as segmint); run the portable dialect
where strings compare by bytes and the session time zone is UTC.")]
pub struct Args {
    /// SQL dialect
    #[arg(long, value_parser = parse_dialect, value_name = "spark|duckdb|postgres|portable")]
    pub dialect: Dialect,
    /// What the statement computes
    #[arg(long, value_enum, default_value_t = Task::Rfm)]
    pub task: Task,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Period of --task cohorts
    #[arg(long, value_enum, default_value_t = crate::cmd::cohorts::PeriodArg::Month)]
    pub period: crate::cmd::cohorts::PeriodArg,
    /// Reference date for recency and tenure (default: day of the last transaction + 1)
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub ref_date: Option<String>,
    /// Table with the transactions (schema.table allowed)
    #[arg(long, default_value = "transactions", value_name = "NAME")]
    pub transactions_table: String,
    /// Table with the customers (read when a rule uses a customer attribute)
    #[arg(long, default_value = "customers", value_name = "NAME")]
    pub customers_table: String,
    /// Column mapping CANONICAL=SOURCE[,...], e.g. amount=revenue,customers.premium=is_premium
    #[arg(long, value_name = "MAP")]
    pub columns: Vec<String>,
    /// Write the statement to this file instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn parse_dialect(s: &str) -> std::result::Result<Dialect, String> {
    Dialect::parse(s).ok_or_else(|| {
        format!("unknown dialect {s:?}: expected spark, duckdb, postgres or portable")
    })
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let mut map = ColumnMap::new();
    for spec in &a.columns {
        map.parse_cli(spec)?;
    }
    if a.transactions_table.trim().is_empty() || a.customers_table.trim().is_empty() {
        bail!("--transactions-table and --customers-table must not be empty");
    }
    let sql = statement(
        a.dialect,
        a.task,
        Some(&a.scoring),
        crate::options::parse_ref_date(&a.ref_date)?,
        map,
        &a.transactions_table,
        &a.customers_table,
        crate::cmd::cohorts::period(a.period),
    )?;
    match &a.out {
        Some(path) => {
            segmint::output::write_text(path, &sql)?;
            note(g, format!("sql ({}) -> {}", a.dialect, path.display()));
        }
        None => print!("{sql}"),
    }
    Ok(0)
}
