//! `segmint rfm`

use std::path::PathBuf;

use anyhow::Result;
use segmint::data::TableKind;
use segmint::segment::analysis::{analyze, RfmAnalysisParams};

use crate::options::{load_rules, ScoringArgs};
use crate::ui::{note, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint rfm --data data --out rfm.parquet
  segmint rfm --data data --rules standard --ties average --out rfm.parquet
  segmint rfm --data data --rules my_rules.toml --bins 4 --ref-date 2025-10-03 --out rfm.parquet --json
  segmint rfm --transactions s3a://bucket/tx.parquet --customers s3a://bucket/customers.parquet \
      --engine spark --spark-remote sc://spark:15002 --spark-write s3a://bucket/rfm --out rfm.parquet

Scores R, F, M from 1 to --bins (recent = high R) by rank: score = max(1, ceil(bins (i-1)/(n-1)))
for rank i of n. --ties first breaks ties by customer_id (pandas qcut(rank(method=\"first\")));
--ties average gives equal values equal scores (the score of their mean rank).
Rule sets: default (the 5 bench rules), standard (11 segments: Champions ... Lost) or a TOML file
with [[segments]] name/when/actions, first match wins (see README).")]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output Parquet file (customer_id, recency_days, frequency, monetary, R, F, M, segment)
    #[arg(long, short)]
    pub out: PathBuf,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Reference date for recency (default: day of the last transaction + 1)
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub ref_date: Option<String>,
    /// Also profile the segments (as `segmint profile`) into this directory
    #[arg(long, value_name = "DIR")]
    pub profile: Option<PathBuf>,
    #[command(flatten)]
    pub engine: crate::engine::EngineArgs,
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    a.engine.check()?;
    if a.engine.is_spark() {
        return spark_rfm(g, a);
    }
    let rules = load_rules(&a.scoring.rules)?;
    let (inputs, map) = a.input.resolve()?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let bars = Bars::new(g);
    let params = RfmAnalysisParams {
        scoring: a.scoring.params(),
        ref_day: crate::options::parse_ref_date(&a.ref_date)?,
        profile: a.profile.is_some(),
    };
    let mut r = analyze(&tx, customers.as_ref(), &rules, &params, &bars)?;
    r.metadata
        .push(("segmint.rules_source".into(), a.scoring.rules.clone()));
    r.summary.output = Some(a.out.display().to_string());
    bars.timed("writing output", || r.write_table(&a.out))?;
    if let Some(dir) = &a.profile {
        r.write_profile(dir)?;
        note(
            g,
            format!("profile -> {}", dir.join("profile.md").display()),
        );
    }
    if g.json {
        println!("{}", serde_json::to_string(&r.summary)?);
    } else {
        print!("{}", r.summary.markdown());
        for w in r.summary.warning_lines() {
            eprintln!("warning: {w}");
        }
        note(
            g,
            format!(
                "rfm: {} customers, rules {:?}, in {:.2}s -> {}",
                r.summary.customers,
                rules.name,
                r.summary.seconds,
                a.out.display()
            ),
        );
    }
    crate::ui::reading_notes(g, &[Some(&tx), customers.as_ref()]);
    // The process ends here: leave the million small allocations to the OS instead of freeing
    // them one by one (~0.1 s per million customers).
    std::mem::forget(r);
    Ok(0)
}

/// `segmint rfm --engine spark`: scores and segments computed by Spark (the statement of
/// `segmint sql --dialect spark --task rfm`), written like the local result.
fn spark_rfm(g: &Global, a: &Args) -> Result<u8> {
    if a.profile.is_some() {
        anyhow::bail!(
            "--profile needs the customers' attributes locally: run `segmint profile --segments {}` on the result instead",
            a.out.display()
        );
    }
    let rules = load_rules(&a.scoring.rules)?;
    let params = a.scoring.params();
    let bars = Bars::new(g);
    let schema = segmint::segment::rfm_schema();
    let (inputs, map) = a.input.resolve()?;
    let r = crate::engine::run(
        &a.engine,
        &inputs,
        map,
        crate::options::Task::Rfm,
        Some(&a.scoring),
        crate::options::parse_ref_date(&a.ref_date)?,
        schema,
        Default::default(),
        &bars,
    )?;
    let meta = vec![
        ("segmint.task".to_string(), "rfm".to_string()),
        ("segmint.engine".to_string(), "spark".to_string()),
        ("segmint.rules".to_string(), rules.name.clone()),
        ("segmint.rules_source".to_string(), a.scoring.rules.clone()),
        (
            "segmint.params".to_string(),
            serde_json::to_string(&params)?,
        ),
    ];
    segmint::output::write_table(&r.batch, &a.out, &meta)?;
    use arrow_array::cast::AsArray;
    let seg = r
        .batch
        .column_by_name("segment")
        .expect("rfm schema has segment")
        .as_string::<i32>();
    let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
    for v in seg.iter() {
        *counts.entry(v.unwrap_or("(none)").to_string()).or_default() += 1;
    }
    let n = r.batch.num_rows();
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "task": "rfm", "engine": "spark", "customers": n, "rules": rules.name,
                "bins": a.scoring.bins, "ties": params.ties, "segments": counts,
                "seconds": (r.seconds * 10_000.0).round() / 10_000.0,
                "spark_remote": a.engine.spark_remote, "spark_write": a.engine.spark_write,
                "output": a.out.display().to_string(),
            })
        );
    } else {
        println!("| segment | customers | share |\n| --- | ---: | ---: |");
        for (k, v) in &counts {
            println!(
                "| {k} | {v} | {:.1}% |",
                100.0 * *v as f64 / (n as f64).max(1.0)
            );
        }
        note(
            g,
            format!(
                "rfm (Spark at {}): {n} customers, rules {:?}, in {:.2}s -> {}",
                a.engine.spark_remote,
                rules.name,
                r.seconds,
                a.out.display()
            ),
        );
    }
    Ok(0)
}
