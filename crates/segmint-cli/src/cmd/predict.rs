//! `segmint predict churn|value` and `segmint score`

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use segmint::data::timestamp::{format_date, parse_date};
use segmint::data::TableKind;
use segmint::output::OutCol;
use segmint::predict::clickstream::CLICKSTREAM_FEATURES;
use segmint::predict::features::{customer_dataset, WindowParams};
use segmint::predict::gbdt::{ClassWeight, Gbdt, GbdtParams, Objective};
use segmint::predict::train_table::{read_train_table, TrainTableParams};
use segmint::predict::{
    metrics_by_segment, risk_band, stratified_folds, stratified_split, train_and_evaluate,
    value_categories, EvalParams, Evaluation, Metrics, Part, Table,
};
use serde::{Deserialize, Serialize};

use crate::ui::{note, segment_labels, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint predict churn --data data --out churn
  segmint predict value --data data --out value --by tier
  segmint predict churn --train-table churn_features.parquet --out churn
  segmint score --model churn/model.json --data data --out scores.parquet

Tasks (all features from before the cutoff, labels after it; see README, 'Predictions'):
  churn  1 = no purchase in the --horizon-days after the cutoff (default cutoff: day after the
         last transaction minus --horizon-days); 15 features: mart columns at the cutoff,
         orders and spend of the last --recent-days, returns, customer attributes; with
         --clickstream 15 more from the events file (sessions, views, carts, checkouts, the
         last 30 / 90 days)
  value  net amount in the --horizon-days after the cutoff (regression), same features
  conversion  one row per session of the events file: 1 = the session has a purchase; 25
         features known before the purchase (event counts by type, duration, depth, cart value,
         device, traffic source, the user's earlier sessions, views, carts, checkouts and
         purchases); --split time
         (default: test = the latest sessions) or random

Model: histogram gradient boosting (leaf-wise, LightGBM's defaults: --num-leaves 31,
--min-child-samples 20), plus a logistic / linear baseline. Split: seeded, stratified for
churn, --test-size test rows, --folds-fold CV over all rows; --train-table uses the file's
split and cv_fold columns instead.

Files in --out: metrics.json (test, CV, baseline, per segment, importance), predictions.parquet
(one row per customer: label, prediction, risk band / value category, priority, split),
insights.json (retention targets, VIP list), model.json (for segmint score), features.parquet
(the training table: features, label, split, cv_fold; reusable with --train-table).")]
pub struct Args {
    /// What to predict
    #[arg(value_enum)]
    pub task: Task,
    #[command(flatten)]
    pub input: InputArgs,
    /// Train and evaluate on this feature table (Parquet or CSV with the label; its split and
    /// cv_fold columns when it has them, e.g. the bench peers' churn_features.parquet, else a
    /// seeded split is made) instead of building one
    #[arg(long, value_name = "FILE")]
    pub train_table: Option<PathBuf>,
    /// Label column of --train-table (default: churn, or future_value)
    #[arg(long, value_name = "COLUMN", requires = "train_table")]
    pub label: Option<String>,
    /// Feature columns of --train-table (default: every other numeric column)
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "COLUMNS",
        requires = "train_table"
    )]
    pub features: Vec<String>,
    /// Cutoff date: features use rows before it, labels the --horizon-days from it
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub cutoff: Option<String>,
    /// Length of the label window in days
    #[arg(long, default_value_t = 90)]
    pub horizon_days: i64,
    /// Length of the recent-activity window (orders_90d, spend_90d) in days
    #[arg(long, default_value_t = 90)]
    pub recent_days: i64,
    /// churn, value: also use the customer-level clickstream features of the events file
    /// (sessions, page / product views, carts, checkouts, web purchases, the last 30 / 90
    /// days, days since the last session; all before the cutoff)
    #[arg(long)]
    pub clickstream: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    /// How the conversion task splits sessions: time (test = the latest --test-size share by
    /// session start; what deployment looks like) or random (stratified)
    #[arg(long, value_enum, default_value_t = SplitArg::Time)]
    pub split: SplitArg,
    /// Share of rows in the test split
    #[arg(long, default_value_t = 0.3)]
    pub test_size: f64,
    /// Folds of the cross-validation (0 = none)
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Also report metrics per segment of this column (a customer attribute, or a column of
    /// --segments such as an RFM segment or a cluster)
    #[arg(long, value_name = "COLUMN")]
    pub by: Option<String>,
    /// Segments file (Parquet or CSV with customer_id) holding the --by column
    #[arg(long, value_name = "FILE", requires = "by")]
    pub segments: Option<PathBuf>,
    #[command(flatten)]
    pub actions: ActionArgs,
    /// Output directory
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Churn,
    Value,
    Conversion,
}

impl Task {
    fn objective(self) -> Objective {
        match self {
            Task::Churn | Task::Conversion => Objective::Binary,
            Task::Value => Objective::Regression,
        }
    }
    fn label(self) -> &'static str {
        match self {
            Task::Churn => "churn",
            Task::Value => "future_value",
            Task::Conversion => "converted",
        }
    }
}

/// Gradient boosting settings (LightGBM names).
#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// Boosting rounds
    #[arg(long, default_value_t = 200)]
    pub n_estimators: usize,
    #[arg(long, default_value_t = 0.05)]
    pub learning_rate: f64,
    /// Maximum leaves per tree
    #[arg(long, default_value_t = 31)]
    pub num_leaves: usize,
    /// Maximum tree depth (0 = no limit)
    #[arg(long, default_value_t = 0)]
    pub max_depth: usize,
    /// Minimum customers in a leaf
    #[arg(long, default_value_t = 20)]
    pub min_child_samples: usize,
    /// L2 penalty on leaf values
    #[arg(long, default_value_t = 0.0)]
    pub reg_lambda: f64,
    /// Bins per feature (2..255)
    #[arg(long, default_value_t = 255)]
    pub max_bin: usize,
    /// Class weights of churn: none, or balanced (n / (2 n_class))
    #[arg(long, value_enum, default_value_t = WeightArg::None)]
    pub class_weight: WeightArg,
    /// Stop when the loss on a validation share of the training rows (10%) has not improved
    /// for this many rounds (0 = off: exactly --n-estimators rounds)
    #[arg(long, default_value_t = 0)]
    pub early_stopping: usize,
    /// Shuffles per feature of the permutation importance on the test split (0 = skip)
    #[arg(long, default_value_t = 3)]
    pub permutation_repeats: usize,
    /// Seed of every random choice (splits, bin sample, permutations)
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
pub enum SplitArg {
    Time,
    Random,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum WeightArg {
    None,
    Balanced,
}

impl ModelArgs {
    fn params(&self, objective: Objective) -> GbdtParams {
        GbdtParams {
            objective,
            n_estimators: self.n_estimators,
            learning_rate: self.learning_rate,
            num_leaves: self.num_leaves,
            max_depth: self.max_depth,
            min_child_samples: self.min_child_samples,
            reg_lambda: self.reg_lambda,
            max_bin: self.max_bin,
            class_weight: match self.class_weight {
                WeightArg::None => ClassWeight::None,
                WeightArg::Balanced => ClassWeight::Balanced,
            },
            early_stopping_rounds: self.early_stopping,
            seed: self.seed,
            ..GbdtParams::default()
        }
    }
}

/// Thresholds of the actionable outputs.
#[derive(clap::Args, Clone, Serialize, Deserialize)]
pub struct ActionArgs {
    /// Churn risk bands: Low below the first, High from the second probability
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.3,0.7",
        value_name = "LOW,HIGH"
    )]
    pub risk_thresholds: Vec<f64>,
    /// Value categories: Medium, High, VIP from these quantiles of customer value
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.5,0.8,0.95",
        value_name = "Q1,Q2,Q3"
    )]
    pub value_quantiles: Vec<f64>,
    /// Retention targets: high-risk customers with more revenue than this
    #[arg(long, default_value_t = 200.0)]
    pub min_revenue: f64,
    /// Length of the insight lists
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Sessions listed in insights.json (conversion): probability above this
    #[arg(long, default_value_t = 0.7)]
    #[serde(default = "default_hot")]
    pub hot_threshold: f64,
}

impl ActionArgs {
    fn check(&self) -> Result<((f64, f64), [f64; 3])> {
        let r = &self.risk_thresholds;
        if r.len() != 2 || !(0.0..=1.0).contains(&r[0]) || !(r[0]..=1.0).contains(&r[1]) {
            anyhow::bail!("--risk-thresholds needs two probabilities LOW <= HIGH, got {r:?}");
        }
        let q = &self.value_quantiles;
        if q.len() != 3 || !(0.0..=1.0).contains(&q[0]) || q[0] > q[1] || q[1] > q[2] || q[2] > 1.0
        {
            anyhow::bail!("--value-quantiles needs three increasing quantiles in 0..1, got {q:?}");
        }
        Ok(((r[0], r[1]), [q[0], q[1], q[2]]))
    }
}

fn default_hot() -> f64 {
    0.7
}

/// What `model.json` holds: everything `segmint score` needs to rebuild the features.
#[derive(Serialize, Deserialize)]
pub struct SavedModel {
    pub kind: String,
    pub segmint_version: String,
    pub task: Task,
    /// `None` when trained on a --train-table (score then needs a table with those columns)
    pub windows: Option<WindowParams>,
    pub actions: ActionArgs,
    pub model: Gbdt,
}

const MODEL_KIND: &str = "predict/1";

/// Features, labels and partitions, from the data or a training table.
struct Prepared {
    ids: Vec<String>,
    x: Table,
    y: Vec<f64>,
    split: Vec<Part>,
    folds: Vec<u32>,
    /// revenue to date (monetary), for priorities; NaN when unknown
    revenue: Vec<f64>,
    /// the user of each session (conversion)
    users: Option<Vec<String>>,
    cutoff: Option<i64>,
}

fn prepare(g: &Global, a: &Args, bars: &Bars) -> Result<Prepared> {
    let obj = a.task.objective();
    if let Some(path) = &a.train_table {
        let label = a.label.as_deref().unwrap_or(a.task.label());
        let t = read_train_table(
            path,
            &TrainTableParams {
                label: label.to_string(),
                features: a.features.clone(),
                test_size: a.test_size,
                folds: a.folds,
                seed: a.model.seed,
            },
        )?;
        for c in &t.left_out {
            note(g, format!("column {:?} left out: {}", c.column, c.reason));
        }
        if t.split_made {
            note(
                g,
                format!(
                    "no split column: a seeded {:.0}/{:.0} split{} made here",
                    100.0 * (1.0 - a.test_size),
                    100.0 * a.test_size,
                    if t.folds.is_empty() { "" } else { " and folds" }
                ),
            );
        }
        let ids = t
            .customer_id
            .unwrap_or_else(|| (1..=t.y.len()).map(|i| format!("row{i}")).collect());
        let revenue =
            t.x.column_named("monetary")
                .unwrap_or_else(|| vec![f64::NAN; t.y.len()]);
        return Ok(Prepared {
            ids,
            x: t.x,
            y: t.y,
            split: t.split,
            folds: t.folds,
            revenue,
            users: None,
            cutoff: None,
        });
    }
    let (inputs, map) = a.input.resolve()?;
    if a.task == Task::Conversion {
        let events = inputs.open(TableKind::Events, &map)?;
        let d = segmint::predict::conversion::session_dataset(&events, bars)?;
        let split = match a.split {
            SplitArg::Time => {
                segmint::predict::conversion::time_split(d.converted.len(), a.test_size)
            }
            SplitArg::Random => stratified_split(&d.converted, a.test_size, true, a.model.seed),
        };
        let folds = if a.folds >= 2 {
            stratified_folds(&d.converted, a.folds, true, a.model.seed)
        } else {
            Vec::new()
        };
        let n = d.converted.len();
        return Ok(Prepared {
            ids: d.session_id,
            x: d.x,
            y: d.converted,
            split,
            folds,
            revenue: vec![f64::NAN; n],
            users: Some(d.user_id),
            cutoff: None,
        });
    }
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let cutoff = a
        .cutoff
        .as_deref()
        .map(|d| parse_date(d).with_context(|| format!("--cutoff {d:?}: expected YYYY-MM-DD")))
        .transpose()?;
    let windows = WindowParams {
        cutoff_day: cutoff,
        horizon_days: a.horizon_days,
        recent_days: a.recent_days,
        ..WindowParams::default()
    };
    let mut d = customer_dataset(&tx, customers.as_ref(), &windows, bars)?;
    for c in &d.left_out {
        note(g, format!("column {:?} left out: {}", c.column, c.reason));
    }
    if a.clickstream {
        let events = inputs.open(TableKind::Events, &map)?;
        d.add_clickstream(&events, bars)?;
    }
    if !d.labels_observed {
        anyhow::bail!(
            "the label window {} .. {} runs past the end of the data ({}): choose an earlier --cutoff",
            format_date(d.cutoff_day),
            format_date(d.cutoff_day + a.horizon_days),
            format_date(d.window_end_day)
        );
    }
    let y = match a.task {
        Task::Churn => d.churn,
        Task::Value => d.future_value,
        Task::Conversion => unreachable!("sessions are prepared above"),
    };
    let stratify = obj == Objective::Binary;
    let split = stratified_split(&y, a.test_size, stratify, a.model.seed);
    let folds = if a.folds >= 2 {
        stratified_folds(&y, a.folds, stratify, a.model.seed)
    } else {
        Vec::new()
    };
    // net spend before the cutoff, for the retention priority and the VIP list
    let revenue =
        d.x.column_named("monetary")
            .unwrap_or_else(|| vec![f64::NAN; d.x.rows]);
    Ok(Prepared {
        ids: d.customer_id,
        x: d.x,
        y,
        split,
        folds,
        revenue,
        users: None,
        cutoff: Some(d.cutoff_day),
    })
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let (bands, quantiles) = a.actions.check()?;
    if !(a.test_size > 0.0 && a.test_size < 1.0) {
        anyhow::bail!("--test-size must be between 0 and 1, got {}", a.test_size);
    }
    if a.folds == 1 {
        anyhow::bail!("--folds must be 0 (no CV) or at least 2");
    }
    let t0 = Instant::now();
    let bars = Bars::new(g);
    let mut p = prepare(g, a, &bars)?;
    if a.train_table.is_some() && a.folds == 0 {
        p.folds.clear();
    }
    let obj = a.task.objective();
    let params = EvalParams {
        gbdt: a.model.params(obj),
        seed: a.model.seed,
        permutation_repeats: a.model.permutation_repeats,
        ..EvalParams::default()
    };
    params.gbdt.check()?;
    // empty folds: no cross-validation
    let eval = train_and_evaluate(&p.x, &p.y, &p.split, &p.folds, &params, &bars)?;
    let by = match &a.by {
        Some(_) if a.task == Task::Conversion => {
            anyhow::bail!("--by reports per customer segment: use it with churn or value")
        }
        Some(col) => {
            let (inputs, map) = a.input.resolve()?;
            let (names, labels) =
                segment_labels(&inputs, &map, col, a.segments.as_deref(), &p.ids)?;
            let test: Vec<usize> = (0..p.y.len())
                .filter(|&i| p.split[i] == Part::Test)
                .collect();
            let pick = |v: &[f64]| test.iter().map(|&i| v[i]).collect::<Vec<f64>>();
            let lt: Vec<Option<u32>> = test.iter().map(|&i| labels[i]).collect();
            let base = eval.baseline.predict(&p.x.select(&test));
            let model = metrics_by_segment(
                obj,
                &pick(&p.y),
                &pick(&eval.predictions),
                &lt,
                &names,
                params.threshold,
            );
            let lin = metrics_by_segment(obj, &pick(&p.y), &base, &lt, &names, params.threshold);
            Some(
                model
                    .into_iter()
                    .zip(lin)
                    .map(|((name, m), (_, b))| serde_json::json!({"segment": name, "model": m, "baseline": b}))
                    .collect::<Vec<_>>(),
            )
        }
        None => None,
    };
    let secs = t0.elapsed().as_secs_f64();
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let (cols, insights) = actionable(
        a.task,
        &p.ids,
        &p.revenue,
        &eval.predictions,
        bands,
        quantiles,
        &a.actions,
    );
    let mut cols = cols;
    if let Some(u) = &p.users {
        cols.insert(1, ("user_id", OutCol::Str(u.clone())));
    }
    cols.insert(
        1,
        (
            "split",
            OutCol::Str(p.split.iter().map(|s| s.name().to_string()).collect()),
        ),
    );
    cols.insert(2, (a.task.label(), OutCol::F64(p.y.clone())));
    let meta = vec![
        (
            "segmint.task".to_string(),
            format!("predict {}", a.task.label()),
        ),
        (
            "segmint.params".to_string(),
            serde_json::to_string(&params)?,
        ),
    ];
    segmint::output::write_table(
        &segmint::output::batch(cols)?,
        &a.out.join("predictions.parquet"),
        &meta,
    )?;
    let saved = SavedModel {
        kind: MODEL_KIND.into(),
        segmint_version: segmint::VERSION.into(),
        task: a.task,
        windows: (a.train_table.is_none() && a.task != Task::Conversion).then_some(WindowParams {
            cutoff_day: None,
            window_end_day: None,
            horizon_days: a.horizon_days,
            recent_days: a.recent_days,
            cutoff_at_end: false,
        }),
        actions: a.actions.clone(),
        model: eval.model.clone(),
    };
    segmint::output::write_text(&a.out.join("model.json"), &serde_json::to_string(&saved)?)?;
    if a.train_table.is_none() {
        // the training table in the peers' layout: reusable with --train-table
        let id = if a.task == Task::Conversion {
            "session_id"
        } else {
            "customer_id"
        };
        let mut cols: Vec<(&str, OutCol)> = vec![(id, OutCol::Str(p.ids.clone()))];
        for (j, name) in p.x.names.iter().enumerate() {
            cols.push((name.as_str(), OutCol::F64(p.x.column(j))));
        }
        cols.push((a.task.label(), OutCol::F64(p.y.clone())));
        cols.push((
            "split",
            OutCol::Str(p.split.iter().map(|s| s.name().to_string()).collect()),
        ));
        cols.push((
            "cv_fold",
            OutCol::I64(p.folds.iter().map(|&f| f as i64).collect()),
        ));
        if p.folds.is_empty() {
            cols.pop();
        }
        segmint::output::write_table(
            &segmint::output::batch(cols)?,
            &a.out.join("features.parquet"),
            &meta,
        )?;
    }
    segmint::output::write_text(
        &a.out.join("insights.json"),
        &serde_json::to_string_pretty(&insights)?,
    )?;
    let json = metrics_json(a, &p, &eval, by, secs);
    segmint::output::write_text(
        &a.out.join("metrics.json"),
        &serde_json::to_string_pretty(&json)?,
    )?;
    if !g.emit_json(&json) {
        print_summary(&eval);
        note(
            g,
            format!(
                "predict {}: {} {} ({} train, {} test) in {secs:.2}s -> {}",
                a.task.label(),
                p.y.len(),
                if a.task == Task::Conversion {
                    "sessions"
                } else {
                    "customers"
                },
                eval.train_rows,
                eval.test_rows,
                a.out.display()
            ),
        );
    }
    Ok(0)
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn metrics_json(
    a: &Args,
    p: &Prepared,
    e: &Evaluation,
    by: Option<Vec<serde_json::Value>>,
    secs: f64,
) -> serde_json::Value {
    let mut j = serde_json::json!({
        "task": a.task.label(), "engine": "segmint", "customers": p.y.len(),
        "cutoff": p.cutoff.map(format_date),
        "train_table": a.train_table.as_ref().map(|t| t.display().to_string()),
        "features": p.x.names,
        "train_rows": e.train_rows, "test_rows": e.test_rows,
        "test": e.test, "baseline_test": e.baseline_test,
        "cv_folds": e.cv_folds.iter().map(|&v| round6(v)).collect::<Vec<_>>(),
        "importance": e.importance.iter().take(10).collect::<Vec<_>>(),
        "importance_all": e.importance,
        "by_segment": by,
        "model_params": e.model.params,
        "best_iteration": e.model.best_iteration, "rounds_run": e.model.rounds_run,
        "train_seconds": round6(e.train_seconds),
        "seconds": (secs * 10_000.0).round() / 10_000.0,
        "threads": rayon::current_num_threads(),
    });
    match &e.test {
        Metrics::Classification(c) => {
            j["test_auc"] = serde_json::json!(c.roc_auc.map(round6));
            j["cv_auc_mean"] = serde_json::json!(round6(e.cv_mean));
            j["cv_auc_std"] = serde_json::json!(round6(e.cv_std));
            j["churn_rate"] = serde_json::json!(round6(p.y.iter().sum::<f64>() / p.y.len() as f64));
        }
        Metrics::Regression(r) => {
            j["rmse"] = serde_json::json!(r.rmse);
            j["mae"] = serde_json::json!(r.mae);
            j["r2"] = serde_json::json!(r.r2);
            j["cv_rmse_mean"] = serde_json::json!(e.cv_mean);
            j["cv_rmse_std"] = serde_json::json!(e.cv_std);
        }
    }
    j
}

fn print_summary(e: &Evaluation) {
    match (&e.test, &e.baseline_test) {
        (Metrics::Classification(m), Metrics::Classification(b)) => {
            println!("| model | ROC-AUC | PR-AUC | log loss | accuracy | precision | recall | F1 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            for (name, c) in [("gradient boosting", m), ("logistic baseline", b)] {
                println!(
                    "| {name} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |",
                    c.roc_auc.unwrap_or(f64::NAN),
                    c.pr_auc.unwrap_or(f64::NAN),
                    c.log_loss,
                    c.accuracy,
                    c.precision,
                    c.recall,
                    c.f1
                );
            }
            if !e.cv_folds.is_empty() {
                println!(
                    "\nCV ROC-AUC {:.4} ± {:.4} over {} folds",
                    e.cv_mean,
                    e.cv_std,
                    e.cv_folds.len()
                );
            }
        }
        (Metrics::Regression(m), Metrics::Regression(b)) => {
            println!("| model | RMSE | MAE | R² | MAPE (non-zero) | WAPE |\n| --- | ---: | ---: | ---: | ---: | ---: |");
            for (name, r) in [("gradient boosting", m), ("linear baseline", b)] {
                println!(
                    "| {name} | {:.3} | {:.3} | {:.4} | {:.4} | {:.4} |",
                    r.rmse,
                    r.mae,
                    r.r2.unwrap_or(f64::NAN),
                    r.mape.unwrap_or(f64::NAN),
                    r.wape.unwrap_or(f64::NAN)
                );
            }
            if !e.cv_folds.is_empty() {
                println!(
                    "\nCV RMSE {:.3} ± {:.3} over {} folds",
                    e.cv_mean,
                    e.cv_std,
                    e.cv_folds.len()
                );
            }
        }
        _ => {}
    }
    println!("\n| feature | gain share | splits | permutation |\n| --- | ---: | ---: | ---: |");
    for i in e.importance.iter().take(10) {
        println!(
            "| {} | {:.3} | {} | {} |",
            i.feature,
            i.gain_share,
            i.splits,
            i.permutation.map_or("–".into(), |v| format!("{v:.4}"))
        );
    }
}

/// Sorts row indices by `key`, largest first, ties by id: the order of every insight list.
fn rank_desc(idx: &mut [usize], key: &[f64], ids: &[String]) {
    idx.sort_by(|&x, &y| key[y].total_cmp(&key[x]).then(ids[x].cmp(&ids[y])));
}

/// The per-customer output columns and the insight lists.
fn actionable(
    task: Task,
    ids: &[String],
    revenue: &[f64],
    pred: &[f64],
    bands: (f64, f64),
    quantiles: [f64; 3],
    actions: &ActionArgs,
) -> (Vec<(&'static str, OutCol)>, serde_json::Value) {
    let n = ids.len();
    match task {
        Task::Churn => {
            let band: Vec<&str> = pred.iter().map(|&p| risk_band(p, bands)).collect();
            let priority: Vec<f64> = pred
                .iter()
                .zip(revenue)
                .map(|(p, r)| p * r.max(0.0))
                .collect();
            let category = value_categories(revenue, quantiles);
            let mut idx: Vec<usize> = (0..n)
                .filter(|&i| band[i] == "High" && revenue[i] > actions.min_revenue)
                .collect();
            rank_desc(&mut idx, &priority, ids);
            let targets: Vec<serde_json::Value> = idx
                .iter()
                .take(actions.top)
                .map(|&i| serde_json::json!({"customer_id": ids[i], "churn_probability": pred[i], "revenue": revenue[i], "retention_priority": priority[i]}))
                .collect();
            let mut vip: Vec<usize> = (0..n).filter(|&i| category[i] == "VIP").collect();
            rank_desc(&mut vip, revenue, ids);
            let vips: Vec<serde_json::Value> = vip
                .iter()
                .take(actions.top)
                .map(|&i| serde_json::json!({"customer_id": ids[i], "revenue": revenue[i], "churn_probability": pred[i], "risk_band": band[i]}))
                .collect();
            let count = |b: &str| band.iter().filter(|&&x| x == b).count();
            let insights = serde_json::json!({
                "risk_bands": {"thresholds": [bands.0, bands.1], "Low": count("Low"), "Medium": count("Medium"), "High": count("High")},
                "retention_targets": {"rule": format!("risk band High and revenue > {}", actions.min_revenue), "eligible": idx.len(), "top": targets},
                "vip": {"rule": format!("revenue from the {} quantile", quantiles[2]), "customers": vip.len(), "top": vips},
            });
            (
                vec![
                    ("customer_id", OutCol::Str(ids.to_vec())),
                    ("churn_probability", OutCol::F64(pred.to_vec())),
                    (
                        "risk_band",
                        OutCol::Str(band.iter().map(|s| s.to_string()).collect()),
                    ),
                    ("revenue", OutCol::F64(revenue.to_vec())),
                    ("retention_priority", OutCol::F64(priority)),
                    (
                        "value_category",
                        OutCol::Str(category.iter().map(|s| s.to_string()).collect()),
                    ),
                ],
                insights,
            )
        }
        Task::Conversion => {
            let mut hot: Vec<usize> = (0..n)
                .filter(|&i| pred[i] > actions.hot_threshold)
                .collect();
            rank_desc(&mut hot, pred, ids);
            let top: Vec<serde_json::Value> = hot
                .iter()
                .take(actions.top)
                .map(|&i| serde_json::json!({"session_id": ids[i], "conversion_probability": pred[i]}))
                .collect();
            let insights = serde_json::json!({
                "likely_conversions": {"rule": format!("conversion probability > {}", actions.hot_threshold),
                                       "sessions": hot.len(), "top": top},
            });
            (
                vec![
                    ("session_id", OutCol::Str(ids.to_vec())),
                    ("conversion_probability", OutCol::F64(pred.to_vec())),
                ],
                insights,
            )
        }
        Task::Value => {
            let category = value_categories(pred, quantiles);
            let mut vip: Vec<usize> = (0..n).filter(|&i| category[i] == "VIP").collect();
            rank_desc(&mut vip, pred, ids);
            let vips: Vec<serde_json::Value> = vip
                .iter()
                .take(actions.top)
                .map(|&i| serde_json::json!({"customer_id": ids[i], "predicted_value": pred[i], "revenue": revenue[i]}))
                .collect();
            let count = |b: &str| category.iter().filter(|&&x| x == b).count();
            let insights = serde_json::json!({
                "value_categories": {"quantiles": quantiles, "Low": count("Low"), "Medium": count("Medium"), "High": count("High"), "VIP": count("VIP")},
                "vip": {"rule": format!("predicted value from the {} quantile", quantiles[2]), "customers": vip.len(), "top": vips},
            });
            (
                vec![
                    ("customer_id", OutCol::Str(ids.to_vec())),
                    ("predicted_value", OutCol::F64(pred.to_vec())),
                    (
                        "value_category",
                        OutCol::Str(category.iter().map(|s| s.to_string()).collect()),
                    ),
                    ("revenue", OutCol::F64(revenue.to_vec())),
                ],
                insights,
            )
        }
    }
}

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint score --model churn/model.json --data data --out scores.parquet

Rebuilds the model's features from the data as of the day after the last transaction (or
--cutoff) and writes the predictions with risk bands / value categories and priorities.")]
pub struct ScoreArgs {
    /// model.json written by segmint predict
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// Score as of this date (default: the day after the last transaction)
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub cutoff: Option<String>,
    /// Output file (Parquet, or CSV for a .csv path)
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
}

/// `segmint score` for a conversion model: every session of the events file.
fn score_sessions(g: &Global, a: &ScoreArgs, m: &SavedModel) -> Result<u8> {
    let (inputs, map) = a.input.resolve()?;
    let events = inputs.open(TableKind::Events, &map)?;
    let bars = Bars::new(g);
    let d = segmint::predict::conversion::session_dataset(&events, &bars)?;
    let x = d.x.project(&m.model.features)?;
    let pred = m.model.predict(&x);
    let (bands, quantiles) = m.actions.check()?;
    let n = pred.len();
    let (mut cols, _) = actionable(
        Task::Conversion,
        &d.session_id,
        &vec![f64::NAN; n],
        &pred,
        bands,
        quantiles,
        &m.actions,
    );
    cols.insert(1, ("user_id", OutCol::Str(d.user_id)));
    let meta = vec![("segmint.task".to_string(), "score converted".to_string())];
    segmint::output::write_table(&segmint::output::batch(cols)?, &a.out, &meta)?;
    note(
        g,
        format!("score converted: {n} sessions -> {}", a.out.display()),
    );
    Ok(0)
}

pub fn load_model(path: &Path) -> Result<SavedModel> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let m: SavedModel = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a segmint prediction model", path.display()))?;
    if m.kind != MODEL_KIND {
        anyhow::bail!(
            "{}: model kind {:?}, expected {MODEL_KIND:?}",
            path.display(),
            m.kind
        );
    }
    Ok(m)
}

pub fn score(g: &Global, a: &ScoreArgs) -> Result<u8> {
    let m = load_model(&a.model)?;
    if m.task == Task::Conversion {
        return score_sessions(g, a, &m);
    }
    let windows = m.windows.clone().with_context(|| {
        format!(
            "{}: the model was trained on a --train-table; score needs a model trained from data",
            a.model.display()
        )
    })?;
    let (bands, quantiles) = m.actions.check()?;
    let (inputs, map) = a.input.resolve()?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let bars = Bars::new(g);
    let cutoff = match &a.cutoff {
        Some(d) => {
            Some(parse_date(d).with_context(|| format!("--cutoff {d:?}: expected YYYY-MM-DD"))?)
        }
        None => None,
    };
    // scoring "now": the cutoff is the end of the data, the label window the future
    let w = WindowParams {
        cutoff_day: cutoff,
        window_end_day: None,
        horizon_days: windows.horizon_days,
        recent_days: windows.recent_days,
        cutoff_at_end: true,
    };
    let mut d = customer_dataset(&tx, customers.as_ref(), &w, &bars)?;
    if m.model
        .features
        .iter()
        .any(|f| CLICKSTREAM_FEATURES.contains(&f.as_str()))
    {
        let events = inputs.open(TableKind::Events, &map)?;
        d.add_clickstream(&events, &bars)?;
    }
    let x = d.x.project(&m.model.features)?;
    let pred = m.model.predict(&x);
    // net spend before the cutoff, for the retention priority and the VIP list
    let revenue =
        d.x.column_named("monetary")
            .unwrap_or_else(|| vec![f64::NAN; d.x.rows]);
    let (cols, _) = actionable(
        m.task,
        &d.customer_id,
        &revenue,
        &pred,
        bands,
        quantiles,
        &m.actions,
    );
    let meta = vec![
        (
            "segmint.task".to_string(),
            format!("score {}", m.task.label()),
        ),
        ("segmint.cutoff".to_string(), format_date(d.cutoff_day)),
    ];
    segmint::output::write_table(&segmint::output::batch(cols)?, &a.out, &meta)?;
    note(
        g,
        format!(
            "score {}: {} customers as of {} -> {}",
            m.task.label(),
            d.customer_id.len(),
            format_date(d.cutoff_day),
            a.out.display()
        ),
    );
    Ok(0)
}
