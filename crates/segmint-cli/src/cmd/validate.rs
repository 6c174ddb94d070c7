//! `segmint validate`

use anyhow::{Context, Result};
use segmint::data::timestamp::parse_timestamp_us;
use segmint::data::validate::{validate, ValidateParams};

use crate::ui::{Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint validate --data data
  segmint validate --transactions orders.csv --columns amount=revenue --strict
  segmint validate --data data --window 2024-01-01..2026-01-01 --json

Hard errors (missing or mistyped columns, null or empty ids, unparseable timestamps or amounts,
NaN or infinite numbers) stop with exit code 2 and one line naming file, row, column and value.
Warnings (duplicate customers, unknown customers, zero amounts, returns refunding more than
their order, timestamps outside the window) are listed with counts and the first examples;
they give exit code 0, or 1 with --strict.")]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Data window START..END (END exclusive) for the timestamp check; default from meta.json
    #[arg(long, value_name = "START..END")]
    pub window: Option<String>,
    /// Examples shown per finding
    #[arg(long, default_value_t = 5)]
    pub examples: usize,
    /// Exit with code 1 when there are warnings
    #[arg(long)]
    pub strict: bool,
}

pub fn parse_window(s: &str) -> Result<(i64, i64)> {
    let (a, b) = s
        .split_once("..")
        .context("--window: expected START..END, e.g. 2024-01-01..2026-01-01")?;
    let p = |x: &str| {
        parse_timestamp_us(x).with_context(|| format!("--window: {x:?} is not a date or timestamp"))
    };
    let (s, e) = (p(a)?, p(b)?);
    anyhow::ensure!(s < e, "--window: START must be before END");
    Ok((s, e))
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let (inputs, map) = a.input.resolve()?;
    let params = ValidateParams {
        window: a.window.as_deref().map(parse_window).transpose()?,
        max_examples: a.examples,
    };
    let report = validate(&inputs, &map, &params, &Bars::new(g))?;
    let warnings = report.warnings();
    if g.json {
        let mut v = serde_json::to_value(&report)?;
        v["ok"] = serde_json::json!(warnings == 0);
        println!("{v}");
    } else {
        print!("{}", report.to_text());
    }
    Ok(if a.strict && warnings > 0 { 1 } else { 0 })
}
