//! `segmint mart`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use segmint::data::TableKind;
use segmint::mart::{build_mart, Mart, MartParams, MartSummary};

use crate::ui::{note, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint mart --data data --out mart.parquet
  segmint mart --transactions orders.csv --columns amount=revenue,timestamp=order_date --out mart.parquet
  segmint mart --data data --ref-date 2025-10-03 --out mart_oct.parquet --json
  segmint mart --data data --engine spark --spark-remote sc://127.0.0.1:15002 --out mart.parquet

One row per customer with at least one purchase (amount > 0), sorted by customer_id:
recency_days, frequency, monetary, first_purchase, last_purchase, tenure_days,
avg_order_value, total_quantity, primary_region, preferred_payment.
The reference date is --ref-date, else the day after the last transaction (never the clock).")]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output Parquet file
    #[arg(long, short)]
    pub out: PathBuf,
    /// Reference date for recency and tenure (default: day of the last transaction + 1)
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub ref_date: Option<String>,
    #[command(flatten)]
    pub engine: crate::engine::EngineArgs,
}

/// Builds and writes the mart; shared with `segmint run`. Returns the JSON summary.
pub fn build_and_write(
    g: &Global,
    input: &InputArgs,
    ref_date: Option<i64>,
    out: &std::path::Path,
) -> Result<MartSummary> {
    let (inputs, map) = input.resolve()?;
    let t0 = Instant::now();
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let mart = build_mart(
        &tx,
        &MartParams {
            ref_day: ref_date,
            ..Default::default()
        },
        &Bars::new(g),
    )?;
    crate::ui::reading_notes(g, &[Some(&tx)]);
    let mut summary = mart.summary(t0.elapsed().as_secs_f64());
    summary.output = Some(out.display().to_string());
    let meta = mart.metadata(&tx.path);
    segmint::output::write_parquet(&mart.into_record_batch()?, out, &meta)?;
    Ok(summary)
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let ref_day = crate::options::parse_ref_date(&a.ref_date)?;
    a.engine.check()?;
    let s = if a.engine.is_spark() {
        spark_mart(g, a)?
    } else {
        build_and_write(g, &a.input, ref_day, &a.out)?
    };
    if g.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        note(g, format!("{} -> {}", s.line(), a.out.display()));
    }
    Ok(0)
}

/// `segmint mart --engine spark`: the mart computed by Spark, written like the local one.
fn spark_mart(g: &Global, a: &Args) -> Result<MartSummary> {
    let bars = Bars::new(g);
    let (inputs, map) = a.input.resolve()?;
    let r = crate::engine::run(
        &a.engine,
        &inputs,
        map,
        crate::options::Task::Mart,
        None,
        crate::options::parse_ref_date(&a.ref_date)?,
        segmint::mart::mart_schema(),
        Default::default(),
        &bars,
    )?;
    let mart = Mart::from_record_batch(&r.batch)?;
    let mut meta = mart.metadata(std::path::Path::new(&r.transactions));
    meta.push(("segmint.engine".into(), "spark".into()));
    segmint::output::write_parquet(&r.batch, &a.out, &meta)?;
    let mut summary = mart.summary(r.seconds);
    summary.engine = "spark".into();
    summary.rows = None;
    summary.output = Some(a.out.display().to_string());
    summary.spark_write = a.engine.spark_write.clone();
    Ok(summary)
}

/// The full mart of `tx`, built here or by Spark (`--engine spark`), with its file metadata.
pub fn build_with(
    engine: &crate::engine::EngineArgs,
    inputs: &segmint::data::Inputs,
    map: &segmint::data::ColumnMap,
    tx: &segmint::data::TableReader,
    ref_day: Option<i64>,
    bars: &Bars,
) -> Result<(Mart, Vec<(String, String)>)> {
    if engine.is_spark() {
        let r = crate::engine::run(
            engine,
            inputs,
            map.clone(),
            crate::options::Task::Mart,
            None,
            ref_day,
            segmint::mart::mart_schema(),
            Default::default(),
            bars,
        )?;
        let mart = Mart::from_record_batch(&r.batch)?;
        let meta = mart.metadata(std::path::Path::new(&r.transactions));
        return Ok((mart, meta));
    }
    let params = segmint::mart::MartParams {
        ref_day,
        ..Default::default()
    };
    let mart = segmint::mart::build_mart(tx, &params, bars)?;
    let meta = mart.metadata(&tx.path);
    Ok((mart, meta))
}
