//! `segmint segments discover`: does one global model hide segments?

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use segmint::data::TableKind;
use segmint::hidden::{
    customer_table, discover, evaluate, random_split, Evaluation, HiddenParams, SPEND_COLUMNS,
};
use segmint::output::OutCol;

use crate::ui::{note, segment_labels, Bars, Global, InputArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: SegmentsCommand,
}

#[derive(clap::Subcommand)]
pub enum SegmentsCommand {
    /// Fit global models for a customer-level target, search segments where they fail, and
    /// compare segment-aware models with them on held-out customers
    Discover(DiscoverArgs),
}

#[derive(clap::Args)]
#[command(after_help = include_str!("../help/segments.txt"))]
pub struct DiscoverArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Customer-level target: a column of the table (see below), e.g. monetary (spend),
    /// avg_order_value, frequency
    #[arg(long, default_value = "monetary")]
    pub target: String,
    /// Feature columns (default: every column except the target, the spend columns monetary,
    /// avg_order_value, total_quantity and --exclude)
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub features: Vec<String>,
    /// Columns never used as features
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub exclude: Vec<String>,
    /// A known segmentation (customer attribute such as tier) to measure the discovered one
    /// against (adjusted Rand index); never a feature
    #[arg(long, value_name = "COLUMN")]
    pub truth: Option<String>,
    /// Also evaluate an existing segmentation: a customer attribute or a column of --segments
    #[arg(long, value_name = "COLUMN")]
    pub by: Option<String>,
    /// Segments file (Parquet or CSV with customer_id) holding the --by column
    #[arg(long, value_name = "FILE", requires = "by")]
    pub segments: Option<PathBuf>,
    /// Depth of the segment tree (at most 2^depth segments)
    #[arg(long, default_value_t = 3)]
    pub max_depth: usize,
    /// Smallest segment as a share of the training customers
    #[arg(long, default_value_t = 0.05)]
    pub min_share: f64,
    /// Smallest accepted split: relative reduction of a node's regression error
    #[arg(long, default_value_t = 0.01)]
    pub min_gain: f64,
    /// MAE improvement over the global linear model needed to recommend segment models
    #[arg(long, default_value_t = 0.10)]
    pub min_improvement: f64,
    /// Ridge penalty of the linear regressions (on standardised features, as scikit-learn's
    /// Ridge alpha); a small one keeps small segments' models from extrapolating wildly
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
    /// Bootstrap resamples for the improvement's interval
    #[arg(long, default_value_t = 200)]
    pub bootstrap: usize,
    /// Share of customers in the test split
    #[arg(long, default_value_t = 0.3)]
    pub test_size: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output directory
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    match &a.command {
        SegmentsCommand::Discover(d) => run_discover(g, d),
    }
}

fn run_discover(g: &Global, a: &DiscoverArgs) -> Result<u8> {
    if !(a.test_size > 0.0 && a.test_size < 1.0) {
        anyhow::bail!("--test-size must be between 0 and 1, got {}", a.test_size);
    }
    if !(0.0..0.5).contains(&a.min_share) {
        anyhow::bail!("--min-share must be in [0, 0.5), got {}", a.min_share);
    }
    let t0 = Instant::now();
    let bars = Bars::new(g);
    let (inputs, map) = a.input.resolve()?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let exclude: Vec<&str> = a.truth.as_deref().into_iter().collect();
    let table = customer_table(&tx, customers.as_ref(), &exclude, &bars)?;
    for c in &table.left_out {
        note(g, format!("column {:?} left out: {}", c.column, c.reason));
    }
    let cols = &table.columns;
    let tj = cols
        .names
        .iter()
        .position(|n| *n == a.target)
        .with_context(|| {
            format!(
                "--target {:?}: not a column (columns: {})",
                a.target,
                cols.names.join(", ")
            )
        })?;
    let y = cols.column(tj);
    let features: Vec<String> = if a.features.is_empty() {
        cols.names
            .iter()
            .filter(|n| {
                **n != a.target
                    && !SPEND_COLUMNS.contains(&n.as_str())
                    && !a.exclude.contains(n)
                    && Some(n.as_str()) != a.truth.as_deref()
            })
            .cloned()
            .collect()
    } else {
        if a.features.contains(&a.target) {
            anyhow::bail!("--features lists the target {:?}", a.target);
        }
        a.features.clone()
    };
    let x = cols.project(&features)?;
    // customers whose target is missing (e.g. no quantity column) cannot be used
    if let Some(bad) = y.iter().position(|v| !v.is_finite()) {
        anyhow::bail!(
            "--target {}: customer {} has no value ({}); choose another target",
            a.target,
            table.customer_id[bad],
            y[bad]
        );
    }
    let params = HiddenParams {
        max_depth: a.max_depth,
        min_share: a.min_share,
        min_gain: a.min_gain,
        bootstrap: a.bootstrap,
        min_improvement: a.min_improvement,
        seed: a.seed,
        alpha: a.alpha,
    };
    let split = random_split(y.len(), a.test_size, a.seed);
    let d = discover(&x, &y, &split, &params)?;
    let truth = match &a.truth {
        Some(col) => {
            let (names, labels) = segment_labels(&inputs, &map, col, None, &table.customer_id)?;
            let missing = names.len() as u32;
            let t: Vec<u32> = labels.iter().map(|l| l.unwrap_or(missing)).collect();
            let ari = segmint::cluster::adjusted_rand_index(&d.labels, &t);
            Some(serde_json::json!({"column": col, "values": names, "ari": ari}))
        }
        None => None,
    };
    let by = match &a.by {
        Some(col) => {
            let (mut names, labels) = segment_labels(
                &inputs,
                &map,
                col,
                a.segments.as_deref(),
                &table.customer_id,
            )?;
            let missing = names.len() as u32;
            if labels.iter().any(|l| l.is_none()) {
                names.push("(missing)".into());
            }
            let l: Vec<u32> = labels.iter().map(|l| l.unwrap_or(missing)).collect();
            let e = evaluate(&x, &y, &split, &l, &names, None, &params)?;
            Some(serde_json::json!({"column": col, "evaluation": e}))
        }
        None => None,
    };
    let secs = t0.elapsed().as_secs_f64();
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let seg_names: Vec<String> = d
        .labels
        .iter()
        .map(|&l| d.names[l as usize].clone())
        .collect();
    let out_cols = vec![
        ("customer_id", OutCol::Str(table.customer_id.clone())),
        ("segment", OutCol::Str(seg_names)),
        (
            "split",
            OutCol::Str(split.iter().map(|s| s.name().to_string()).collect()),
        ),
    ];
    let meta = vec![(
        "segmint.task".to_string(),
        format!("segments discover --target {}", a.target),
    )];
    segmint::output::write_table(
        &segmint::output::batch(out_cols)?,
        &a.out.join("segments.parquet"),
        &meta,
    )?;
    let report = serde_json::json!({
        "task": "segments discover",
        "target": a.target,
        "features": features,
        "customers": y.len(),
        "train_rows": split.iter().filter(|s| **s == segmint::predict::Part::Train).count(),
        "test_rows": split.iter().filter(|s| **s == segmint::predict::Part::Test).count(),
        "method": "model-based recursive partitioning (linear regression per leaf)",
        "params": params,
        "segments": d.names.iter().enumerate().map(|(s, n)| serde_json::json!({
            "segment": n, "rule": d.tree.rule_text(s), "conditions": d.tree.rules[s],
        })).collect::<Vec<_>>(),
        "evaluation": d.evaluation,
        "verdict": d.evaluation.verdict,
        "reason": d.evaluation.reason,
        "truth": truth,
        "by": by,
        "seconds": (secs * 1e4).round() / 1e4,
        "threads": rayon::current_num_threads(),
        "segmint_version": segmint::VERSION,
    });
    segmint::output::write_text(
        &a.out.join("report.json"),
        &serde_json::to_string_pretty(&report)?,
    )?;
    if !g.emit_json(&report) {
        print_summary(&a.target, &d.evaluation, truth.as_ref());
    }
    note(
        g,
        format!(
            "segments discover: {} customers, {} segments in {secs:.2}s -> {}",
            y.len(),
            d.names.len(),
            a.out.display()
        ),
    );
    Ok(0)
}

fn print_summary(target: &str, e: &Evaluation, truth: Option<&serde_json::Value>) {
    println!("Target {target}: held-out MAE (RMSE, R²)");
    let f = |m: &segmint::hidden::Fit| format!("{:.2} ({:.2}, {:.3})", m.mae, m.rmse, m.r2);
    println!("  global linear        {}", f(&e.global_linear));
    println!("  global boosting      {}", f(&e.global_gbdt));
    println!("  segment-aware linear {}", f(&e.segment_linear));
    println!(
        "  improvement over the global linear model: {:.1}% (95% interval {:.1}% .. {:.1}%)\n",
        100.0 * e.improvement,
        100.0 * e.improvement_ci[0],
        100.0 * e.improvement_ci[1]
    );
    println!("| segment | rule | test customers | share | mean target | MAE global linear | MAE segment model | improvement |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for s in &e.segments {
        println!(
            "| {} | {} | {} | {:.1}% | {:.2} | {:.2} | {:.2} | {:.1}% |",
            s.segment,
            s.rule.as_deref().unwrap_or(""),
            s.test_rows,
            100.0 * s.share,
            s.target_mean,
            s.global_linear.mae,
            s.segment_linear.mae,
            100.0 * s.improvement
        );
    }
    if let Some(t) = truth {
        println!(
            "\nAgreement with {}: adjusted Rand index {:.3}",
            t["column"].as_str().unwrap_or("?"),
            t["ari"].as_f64().unwrap_or(f64::NAN)
        );
    }
    let verdict = match e.verdict {
        segmint::hidden::Verdict::UseSegmentModels => "USE SEGMENT MODELS",
        segmint::hidden::Verdict::GlobalModelIsEnough => "THE GLOBAL MODEL IS ENOUGH",
    };
    println!("\nVerdict: {verdict}: {}", e.reason);
}
