//! The `segmint` command-line tool: a thin layer over the `segmint` library.
//! Every error goes through one path: a one-line message on stderr and exit code 2.

// mimalloc keeps freed memory for reuse: the Parquet decoder allocates large buffers per batch,
// which glibc returns to the OS and faults in again (30% of the mart time in a profile).
// Built with `no_thp`: with transparent huge pages the 1M-customer mart ran in 0.5 s or, when the
// kernel had to compact memory for them, 1.4 s; without them it takes 0.7-0.9 s every time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cmd;
mod engine;
mod model_options;
mod options;
mod png;
mod run_plan;
mod ui;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// segmint: customer analytics (mart, segments, CLV, predictions) in one fast, reproducible tool.
#[derive(Parser)]
#[command(name = "segmint", version, about, long_about = None, propagate_version = true,
    after_help = "Examples:\n  segmint demo --customers 20000 --out data\n  segmint validate --data data\n  segmint mart --data data --out mart.parquet\n  segmint rfm --data data --rules standard --out rfm.parquet --profile profile\n  segmint migrate --data data --from 2025-07-01 --to 2026-01-01\n  segmint clv --data data --out clv.parquet --metrics clv.json\n  segmint cohorts --data data --period month --out cohorts\n  segmint retention --cohorts cohorts.csv --out retention\n  segmint cluster --data data -k 4 --out clusters.parquet\n  segmint predict churn --data data --out churn\n  segmint compare --data data --out compare\n  segmint run --demo --out out\n  segmint report --results out\n\nExit codes: 0 success, 1 findings under --strict, 2 error.")]
pub struct Cli {
    #[command(flatten)]
    pub global: ui::Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Generate synthetic demo data with planted, known structure
    Demo(cmd::demo::Args),
    /// Check input files: types, ids, values, joins, returns, time window
    Validate(cmd::validate::Args),
    /// Build the per-customer mart (recency, frequency, monetary, tenure, modes)
    Mart(cmd::mart::Args),
    /// Score customers by recency, frequency and monetary value and assign rule-based segments
    Rfm(cmd::rfm::Args),
    /// Profile segments: size, revenue, feature distributions, what differs, actions
    Profile(cmd::profile::Args),
    /// Segment customers at two dates and show how they moved between segments
    Migrate(cmd::migrate::Args),
    /// Customer lifetime value: BG/NBD and Gamma-Gamma fits, P(alive), expected purchases, CLV
    Clv(cmd::clv::Args),
    /// Acquisition cohorts: retention, orders and revenue per cohort and period since
    /// acquisition, the cohort heatmap data and the empirical LTV curve
    Cohorts(cmd::cohorts::Args),
    /// Contractual retention per cohort (shifted-beta-geometric): fitted and projected survival,
    /// retention rates, DERL
    Retention(cmd::retention::Args),
    /// Cluster customers with k-means on log-RFM features
    Cluster(cmd::cluster::Args),
    /// Predict churn or 90-day value with gradient boosting: metrics, risk bands, target lists
    Predict(cmd::predict::Args),
    /// Score customers with a model saved by `segmint predict`
    Score(cmd::score::Args),
    /// Hidden segments: does one global model hide segments that need their own models?
    Segments(cmd::segments::Args),
    /// Group comparison: where does one group (seller team, channel) beat another? Validated
    /// rules, verdicts, and routing exported as SQL and Python
    Compare(cmd::compare::Args),
    /// The mart or RFM scoring as SQL for Spark, DuckDB, PostgreSQL or portable SQL
    Sql(cmd::sql::Args),
    /// Run every analysis on your data or on built-in demo data and write the HTML report
    Run(cmd::run::Args),
    /// Rebuild the HTML report from a results directory of `segmint run`
    Report(cmd::report::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Err(e) = ui::init_threads(cli.global.threads) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    let result = match &cli.command {
        Command::Demo(a) => cmd::demo::run(&cli.global, a),
        Command::Validate(a) => cmd::validate::run(&cli.global, a),
        Command::Mart(a) => cmd::mart::run(&cli.global, a),
        Command::Rfm(a) => cmd::rfm::run(&cli.global, a),
        Command::Profile(a) => cmd::profile::run(&cli.global, a),
        Command::Migrate(a) => cmd::migrate::run(&cli.global, a),
        Command::Clv(a) => cmd::clv::run(&cli.global, a),
        Command::Cohorts(a) => cmd::cohorts::run(&cli.global, a),
        Command::Retention(a) => cmd::retention::run(&cli.global, a),
        Command::Cluster(a) => cmd::cluster::run(&cli.global, a),
        Command::Predict(a) => cmd::predict::run(&cli.global, a),
        Command::Score(a) => cmd::score::run(&cli.global, a),
        Command::Segments(a) => cmd::segments::run(&cli.global, a),
        Command::Compare(a) => cmd::compare::run(&cli.global, a),
        Command::Sql(a) => cmd::sql::run(&cli.global, a),
        Command::Run(a) => cmd::run::run(&cli.global, a),
        Command::Report(a) => cmd::report::run(&cli.global, a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let mut s = match e.downcast_ref::<segmint::Error>() {
        // a library parameter is named as the flag that sets it
        Some(segmint::Error::Param { param, problem }) => {
            format!("--{} {problem}", param.replace('_', "-"))
        }
        _ => e.to_string(),
    };
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
    }
    s.replace('\n', " ")
}
