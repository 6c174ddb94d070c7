//! `segmint cohorts`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use segmint::cohorts::{analyze, CohortParams, Period};
use segmint::data::TableKind;

use crate::ui::{note, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint cohorts --data data --out cohorts
  segmint cohorts --data data --period quarter --by region --out cohorts
  segmint cohorts --data data --cohort-column signup_date --period week --csv --out cohorts

Customers grouped by the period of their first purchase (or of --cohort-column, a date of the
customers file); per cohort and period since acquisition: customers, active (buying in the
period), retention = active / customers, distinct orders, net revenue (purchases minus returns),
revenue per acquired customer and its running sum (the empirical LTV curve). Periods are
calendar months, quarters or ISO weeks (UTC days); cohort = the period's first day, period 0 =
the acquisition period. Writes cohorts.parquet (or .csv) in long form, retention_wide.csv and
cumulative_revenue_wide.csv (cohort x period) and cohorts.json (the tables, the curve averaged
over cohorts weighted by size, and whether recent cohorts retain better or worse than earlier
ones: period-1 retention of the later half of the cohorts against the earlier half, two-proportion
z-test). Customers without a cohort and rows before their cohort start are counted, not dropped
silently.")]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Period length
    #[arg(long, value_enum, default_value_t = PeriodArg::Month)]
    pub period: PeriodArg,
    /// A date column of the customers file that defines the cohort (e.g. signup_date) instead
    /// of the first purchase; its customers who never bought count in the cohort's size
    #[arg(long, value_name = "COLUMN")]
    pub cohort_column: Option<String>,
    /// Split the cohorts by a customer column (any column, by name)
    #[arg(long, value_name = "COLUMN")]
    pub by: Option<String>,
    /// Output directory
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Write cohorts.csv instead of cohorts.parquet
    #[arg(long)]
    pub csv: bool,
    #[command(flatten)]
    pub engine: crate::engine::EngineArgs,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum PeriodArg {
    Week,
    Month,
    Quarter,
}

/// The library's period of the flag.
pub fn period(p: PeriodArg) -> Period {
    match p {
        PeriodArg::Week => Period::Week,
        PeriodArg::Month => Period::Month,
        PeriodArg::Quarter => Period::Quarter,
    }
}

/// The analysis parameters of the flags.
pub fn params(a: &Args) -> CohortParams {
    CohortParams {
        period: period(a.period),
        cohort_column: a.cohort_column.clone(),
        by: a.by.clone(),
    }
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let t0 = Instant::now();
    let params = params(a);
    a.engine.check()?;
    let (inputs, map) = a.input.resolve()?;
    if a.engine.is_spark() {
        return spark(g, a, &params, &inputs, map, t0);
    }
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = if params.cohort_column.is_some() || params.by.is_some() {
        inputs.open_optional(TableKind::Customers, &map)?
    } else {
        None
    };
    let bars = Bars::new(g);
    let r = analyze(&tx, customers.as_ref(), &params, &bars)?;
    bars.timed(&format!("writing {}", a.out.display()), || {
        r.write(&a.out, a.csv)
    })?;
    crate::ui::reading_notes(g, &[Some(&tx), customers.as_ref()]);
    finish(g, a, &r, t0)
}

/// `segmint cohorts --engine spark`: the long table computed by Spark (the statement of
/// `segmint sql --task cohorts`), the curve and trend from it here.
fn spark(
    g: &Global,
    a: &Args,
    params: &CohortParams,
    inputs: &segmint::data::Inputs,
    map: segmint::data::ColumnMap,
    t0: Instant,
) -> Result<u8> {
    if params.cohort_column.is_some() || params.by.is_some() {
        anyhow::bail!("--engine spark computes first-purchase cohorts without --by or --cohort-column; run those here (without --engine spark)");
    }
    let bars = Bars::new(g);
    let s = crate::engine::run(
        &a.engine,
        inputs,
        map,
        crate::options::Task::Cohorts,
        None,
        None,
        segmint::cohorts::CohortAnalysis::schema(),
        params.period,
        &bars,
    )?;
    let r = segmint::cohorts::CohortAnalysis::from_batch(&s.batch, params)?;
    r.write(&a.out, a.csv)?;
    note(
        g,
        "note: on Spark the rows left out (customers with only returns, rows before a customer's first purchase) are not counted: left_out shows 0; run without --engine spark for the counts",
    );
    finish(g, a, &r, t0)
}

/// Prints the summary (or emits it as JSON) and the closing line.
fn finish(g: &Global, a: &Args, r: &segmint::cohorts::CohortAnalysis, t0: Instant) -> Result<u8> {
    let params = &r.params;
    let mut v = serde_json::json!({
        "task": "cohorts", "period": params.period.name(), "customers": r.customers,
        "cohorts": r.cohorts, "last_period": r.last_period, "left_out": r.left_out,
        "curve": r.curve, "trend": r.trend, "output": a.out.display().to_string(),
    });
    v["seconds"] = serde_json::json!((t0.elapsed().as_secs_f64() * 1e4).round() / 1e4);
    if g.emit_json(&v) {
        return Ok(0);
    }
    print!("{}", r.markdown());
    let l = &r.left_out;
    if l.customers_without_cohort > 0 {
        note(
            g,
            format!(
                "note: {} customers without a cohort ({} rows) left out",
                l.customers_without_cohort, l.rows_of_customers_without_cohort
            ),
        );
    }
    if l.rows_before_cohort > 0 {
        note(
            g,
            format!(
                "note: {} rows dated before their customer's cohort start left out",
                l.rows_before_cohort
            ),
        );
    }
    note(
        g,
        format!(
            "cohorts: {} customers in {} cohorts by {} in {:.2}s -> {}",
            r.customers,
            r.cohorts,
            params.period.name(),
            t0.elapsed().as_secs_f64(),
            a.out.display()
        ),
    );
    Ok(0)
}
