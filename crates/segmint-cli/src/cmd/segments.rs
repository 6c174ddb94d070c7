//! `segmint segments discover`: does one global model hide segments?

use std::path::PathBuf;

use anyhow::Result;
use segmint::data::TableKind;
use segmint::hidden::analysis::{analyze, HiddenAnalysisParams};
use segmint::hidden::{customer_table, HiddenParams, Method, Transform};

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
    /// How segments are searched: mob (model-based recursive partitioning), mixture (mixture
    /// of linear regressions by EM, k by BIC, described by a classification tree) or both (the
    /// one with the lower error on a validation fifth of the training customers)
    #[arg(long, default_value = "both", value_parser = ["mob", "mixture", "both"])]
    pub method: String,
    /// Transformation of the target for every model: log1p fits ln(1 + y) and maps predictions
    /// back (errors stay on the target's scale); auto uses log1p for a target without negative
    /// values when the global linear model on log1p has the lower MAE on the validation fifth of
    /// the training customers (order values, usually), none otherwise
    #[arg(long, default_value = "auto", value_parser = ["auto", "none", "log1p"])]
    pub target_transform: String,
    /// Largest number of mixture components tried (k chosen by BIC)
    #[arg(long, default_value_t = 5)]
    pub max_components: usize,
    /// EM starts per number of mixture components
    #[arg(long, default_value_t = 4)]
    pub restarts: usize,
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
    #[arg(long, default_value_t = 0.05)]
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

/// The analysis parameters of the flags.
pub fn params(a: &DiscoverArgs) -> Result<HiddenAnalysisParams> {
    Ok(HiddenAnalysisParams {
        target: a.target.clone(),
        features: a.features.clone(),
        exclude: a.exclude.clone(),
        truth: a.truth.clone(),
        test_size: a.test_size,
        search: HiddenParams {
            max_depth: a.max_depth,
            min_share: a.min_share,
            min_gain: a.min_gain,
            bootstrap: a.bootstrap,
            min_improvement: a.min_improvement,
            seed: a.seed,
            alpha: a.alpha,
            method: Method::parse(&a.method)?,
            max_components: a.max_components,
            restarts: a.restarts,
            transform: Transform::parse(&a.target_transform)?,
        },
    })
}

fn run_discover(g: &Global, a: &DiscoverArgs) -> Result<u8> {
    let params = params(a)?;
    params.check()?;
    let bars = Bars::new(g);
    let (inputs, map) = a.input.resolve()?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let exclude: Vec<&str> = a.truth.as_deref().into_iter().collect();
    let table = customer_table(&tx, customers.as_ref(), &exclude, &bars)?;
    for c in &table.left_out {
        note(g, c.note());
    }
    let mut r = analyze(&table, &params)?;
    if let Some(col) = &a.truth {
        let (names, labels) = segment_labels(&inputs, &map, col, None, &table.customer_id)?;
        r.compare_with(col, &names, &labels);
    }
    if let Some(col) = &a.by {
        let segments = a.segments.as_deref();
        let (names, labels) = segment_labels(&inputs, &map, col, segments, &table.customer_id)?;
        r.evaluate_given(col, &names, &labels)?;
    }
    r.write_to(&a.out)?;
    if !g.emit_json(&serde_json::to_value(&r.report)?) {
        print!("{}", r.report.markdown());
    }
    note(
        g,
        format!(
            "segments discover: {} customers, {} segments in {:.2}s -> {}",
            r.report.customers,
            r.report.segments.len(),
            r.report.seconds,
            a.out.display()
        ),
    );
    Ok(0)
}
