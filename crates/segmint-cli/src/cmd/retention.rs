//! `segmint retention`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use segmint::retention::{analyze, Cohorts, RetentionParams};

use crate::ui::{note, Global};

#[derive(clap::Args)]
#[command(after_help = include_str!("../help/retention.txt"))]
pub struct Args {
    /// Cohort table (cohort, period, active: customers still active at the start of each
    /// period, period 0 = the cohort's size) or one row per customer (cohort, renewals,
    /// churned); cohort is optional; Parquet, CSV or any format segmint reads
    #[arg(long, value_name = "FILE")]
    pub cohorts: PathBuf,
    /// Periods to project beyond each cohort's last observed period
    #[arg(long, default_value_t = 5)]
    pub horizon: u32,
    /// Discount rate per period of the DERL (discounted expected residual lifetime)
    #[arg(long, default_value_t = 0.1)]
    pub discount_rate: f64,
    /// Output directory: retention.json (per cohort alpha, beta, fit, projected survival,
    /// DERL) and retention.parquet (one row per cohort and period)
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Write retention.csv instead of retention.parquet
    #[arg(long)]
    pub csv: bool,
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let t0 = Instant::now();
    let params = RetentionParams {
        horizon: a.horizon,
        discount_rate: a.discount_rate,
    };
    params.check()?;
    let cohorts = Cohorts::read(&a.cohorts)?;
    let r = analyze(&cohorts, &params)?;
    r.write(&a.out, a.csv)?;
    let mut v = r.to_json();
    v["seconds"] = serde_json::json!((t0.elapsed().as_secs_f64() * 1e4).round() / 1e4);
    v["output"] = serde_json::json!(a.out.display().to_string());
    if g.emit_json(&v) {
        return Ok(0);
    }
    println!("## Retention by cohort (shifted-beta-geometric)\n");
    println!(
        "| cohort | customers | periods | alpha | beta | survival now | in {} periods | next retention rate | DERL |",
        a.horizon
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for c in &r.cohorts {
        let last = c.periods_observed as usize;
        let end = c.survival.len() - 1;
        println!(
            "| {} | {} | {} | {:.3} | {:.3} | {:.1}% | {:.1}% | {:.1}% | {:.2} |",
            c.cohort,
            c.customers,
            c.periods_observed,
            c.model.alpha,
            c.model.beta,
            100.0 * c.observed_survival[last],
            100.0 * c.survival[end],
            100.0 * c.model.retention_rate(last as f64 + 1.0),
            c.derl
        );
    }
    for (cohort, why) in &r.left_out {
        note(g, format!("cohort {cohort} left out: {why}"));
    }
    note(
        g,
        format!(
            "retention: {} cohorts ({} rows of {}) in {:.2}s -> {}",
            r.cohorts.len(),
            cohorts.rows,
            a.cohorts.display(),
            t0.elapsed().as_secs_f64(),
            a.out.display()
        ),
    );
    Ok(0)
}
