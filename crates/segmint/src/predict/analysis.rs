//! The prediction analysis: params -> data -> [`fit`] -> typed results and a saved model.
//!
//! ```no_run
//! use segmint::data::{ColumnMap, Inputs, TableKind};
//! use segmint::predict::analysis::{fit, PredictData, PredictParams, Task};
//! use segmint::progress::NoProgress;
//!
//! let inputs = Inputs::from_dir("data".as_ref());
//! let tx = inputs.open(TableKind::Transactions, &ColumnMap::new())?;
//! let params = PredictParams { task: Task::Churn, ..PredictParams::default() };
//! let data = PredictData::from_tables(Some(&tx), None, None, &params, &NoProgress)?;
//! let outcome = fit(&data, &params, None, &NoProgress)?;
//! println!("test ROC-AUC {:?}", outcome.result.metrics.test_auc);
//! outcome.write_to("churn".as_ref(), &data, &params)?;
//! # Ok::<(), segmint::Error>(())
//! ```

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::actions::{act_on, ActionParams, Insights, Scores};
use super::calibrate::{CalibrationMethod, CalibrationSummary, Calibrator};
use super::clickstream::CLICKSTREAM_FEATURES;
use super::explain::{ExplainParams, Explanation};
use super::features::{customer_dataset, WindowParams};
use super::gbdt::{Gbdt, GbdtParams, Objective};
use super::train_table::{read_train_table, TrainTableParams};
use super::{
    metrics_by_segment, stratified_folds, stratified_split, train_and_evaluate, EvalParams,
    Evaluation, Importance, Metrics, Part, Table,
};
use crate::data::customers::LeftOutColumn;
use crate::data::reader::TableReader;
use crate::data::timestamp::format_date;
use crate::error::{Error, Result};
use crate::output::{self, OutCol};
use crate::progress::Progress;

/// What to predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// 1 = no purchase in the label window after the cutoff (per customer).
    Churn,
    /// Net amount in the label window after the cutoff (per customer, regression).
    Value,
    /// 1 = the session has a purchase (per session of the events file).
    Conversion,
}

impl Task {
    /// Classification or regression.
    pub fn objective(self) -> Objective {
        match self {
            Task::Churn | Task::Conversion => Objective::Binary,
            Task::Value => Objective::Regression,
        }
    }

    /// Name of the label column.
    pub fn label(self) -> &'static str {
        match self {
            Task::Churn => "churn",
            Task::Value => "future_value",
            Task::Conversion => "converted",
        }
    }

    /// What one row is.
    pub fn rows(self) -> &'static str {
        match self {
            Task::Conversion => "sessions",
            _ => "customers",
        }
    }

    fn id_column(self) -> &'static str {
        match self {
            Task::Conversion => "session_id",
            _ => "customer_id",
        }
    }
}

/// How the conversion task splits sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionSplit {
    /// Test = the latest share of sessions by start (what deployment looks like).
    Time,
    /// Stratified random split.
    Random,
}

/// Settings of a prediction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictParams {
    /// What to predict (churn).
    pub task: Task,
    /// Cutoff day (days since 1970-01-01); `None`: the data's end minus `horizon_days`.
    pub cutoff_day: Option<i64>,
    /// Length of the label window in days (90).
    pub horizon_days: i64,
    /// Length of the recent-activity window in days (90).
    pub recent_days: i64,
    /// Churn, value: add the customer-level clickstream features (needs events).
    pub clickstream: bool,
    /// How the conversion task splits sessions (time).
    pub session_split: SessionSplit,
    /// Share of rows in the test split (0.3).
    pub test_size: f64,
    /// Cross-validation folds (5; 0 = none).
    pub folds: usize,
    /// The gradient boosting model (LightGBM's defaults); its objective follows `task`.
    pub gbdt: GbdtParams,
    /// Shuffles per feature of the permutation importance (3; 0 = skip).
    pub permutation_repeats: usize,
    /// Seed of every random choice: splits, bin sample, permutations (42).
    pub seed: u64,
    /// Thresholds of the risk bands, value categories and lists.
    pub actions: ActionParams,
    /// Churn, conversion: calibrate the probabilities (`isotonic` or `sigmoid`) on out-of-fold
    /// predictions of the training rows (`None`: the model's own).
    #[serde(default)]
    pub calibrate: Option<CalibrationMethod>,
}

impl Default for PredictParams {
    fn default() -> Self {
        PredictParams {
            task: Task::Churn,
            cutoff_day: None,
            horizon_days: 90,
            recent_days: 90,
            clickstream: false,
            session_split: SessionSplit::Time,
            test_size: 0.3,
            folds: 5,
            gbdt: GbdtParams::default(),
            permutation_repeats: 3,
            seed: 42,
            actions: ActionParams::default(),
            calibrate: None,
        }
    }
}

impl PredictParams {
    /// Checks every parameter; the error names the parameter.
    pub fn check(&self) -> Result<()> {
        if !(self.test_size > 0.0 && self.test_size < 1.0) {
            return Err(Error::param(
                "test_size",
                format!("must be between 0 and 1, got {}", self.test_size),
            ));
        }
        if self.folds == 1 {
            return Err(Error::param("folds", "must be 0 (no CV) or at least 2"));
        }
        if self.horizon_days < 1 || self.recent_days < 1 {
            return Err(Error::param(
                if self.horizon_days < 1 {
                    "horizon_days"
                } else {
                    "recent_days"
                },
                "must be at least 1",
            ));
        }
        if self.calibrate.is_some() && self.task == Task::Value {
            return Err(Error::param(
                "calibrate",
                "calibrates probabilities: use it with churn or conversion",
            ));
        }
        self.actions.check()?;
        self.gbdt_params().check()
    }

    /// The model's settings with the task's objective and the seed.
    pub fn gbdt_params(&self) -> GbdtParams {
        GbdtParams {
            objective: self.task.objective(),
            seed: self.seed,
            ..self.gbdt.clone()
        }
    }

    fn windows(&self) -> WindowParams {
        WindowParams {
            cutoff_day: self.cutoff_day,
            horizon_days: self.horizon_days,
            recent_days: self.recent_days,
            ..WindowParams::default()
        }
    }
}

/// Features, labels and partitions of a prediction, from the data or a training table.
#[derive(Debug, Clone)]
pub struct PredictData {
    /// Customer or session ids (`row1`, ... for a training table without ids).
    pub ids: Vec<String>,
    /// The feature table.
    pub x: Table,
    /// The label.
    pub y: Vec<f64>,
    /// Train / test of each row.
    pub split: Vec<Part>,
    /// CV fold of each row (empty: no CV).
    pub folds: Vec<u32>,
    /// Net revenue before the cutoff, for priorities (NaN when unknown).
    pub revenue: Vec<f64>,
    /// The user of each session (conversion).
    pub users: Option<Vec<String>>,
    /// The cutoff day (customer tasks built from data).
    pub cutoff_day: Option<i64>,
    /// The training table read (`None`: built from the data).
    pub train_table: Option<String>,
    /// Columns that are not features, with the reason.
    pub left_out: Vec<LeftOutColumn>,
    /// Whether the split and folds were made here (a training table without them).
    pub split_made: bool,
}

impl PredictData {
    /// The feature table of `p.task` built from the data: customers of `tx` as of the cutoff
    /// (churn, value; with `customers` attributes and, when `p.clickstream`, `events`), or the
    /// sessions of `events` (conversion, `tx` unused).
    pub fn from_tables(
        tx: Option<&TableReader>,
        customers: Option<&TableReader>,
        events: Option<&TableReader>,
        p: &PredictParams,
        progress: &dyn Progress,
    ) -> Result<PredictData> {
        p.check()?;
        let need_events = || {
            events.ok_or_else(|| {
                Error::Config(format!(
                    "predict {} needs an events file",
                    if p.task == Task::Conversion {
                        "conversion"
                    } else {
                        "with clickstream features"
                    }
                ))
            })
        };
        if p.task == Task::Conversion {
            return Self::sessions(need_events()?, p, progress);
        }
        let tx = tx.ok_or_else(|| {
            Error::Config(format!("predict {:?} needs a transactions file", p.task))
        })?;
        let mut d = customer_dataset(tx, customers, &p.windows(), progress)?;
        if p.clickstream {
            d.add_clickstream(need_events()?, progress)?;
        }
        if !d.labels_observed {
            return Err(Error::param(
                "cutoff",
                format!(
                    "puts the label window {} .. {} past the end of the data ({}): choose an earlier cutoff",
                    format_date(d.cutoff_day),
                    format_date(d.cutoff_day + p.horizon_days),
                    format_date(d.window_end_day)
                ),
            ));
        }
        let y = if p.task == Task::Churn {
            d.churn
        } else {
            d.future_value
        };
        let (split, folds) = partitions(&y, p, true);
        let revenue =
            d.x.column_named("monetary")
                .unwrap_or_else(|| vec![f64::NAN; d.x.rows]);
        Ok(PredictData {
            ids: d.customer_id,
            x: d.x,
            y,
            split,
            folds,
            revenue,
            users: None,
            cutoff_day: Some(d.cutoff_day),
            train_table: None,
            left_out: d.left_out,
            split_made: true,
        })
    }

    fn sessions(
        events: &TableReader,
        p: &PredictParams,
        progress: &dyn Progress,
    ) -> Result<PredictData> {
        let d = super::conversion::session_dataset(events, progress)?;
        let split = match p.session_split {
            SessionSplit::Time => super::conversion::time_split(d.converted.len(), p.test_size),
            SessionSplit::Random => stratified_split(&d.converted, p.test_size, true, p.seed),
        };
        let (_, folds) = partitions(&d.converted, p, false);
        let n = d.converted.len();
        Ok(PredictData {
            ids: d.session_id,
            x: d.x,
            y: d.converted,
            split,
            folds,
            revenue: vec![f64::NAN; n],
            users: Some(d.user_id),
            cutoff_day: None,
            train_table: None,
            left_out: Vec::new(),
            split_made: true,
        })
    }

    /// A ready-made training table (Parquet or CSV): `label` (default: the task's label) and
    /// `features` (default: every other numeric column); its `split` and `cv_fold` columns
    /// when it has them, else a seeded split and folds made here.
    pub fn from_train_table(
        path: &Path,
        label: Option<&str>,
        features: &[String],
        p: &PredictParams,
    ) -> Result<PredictData> {
        p.check()?;
        let t = read_train_table(
            path,
            &TrainTableParams {
                label: label.unwrap_or(p.task.label()).to_string(),
                features: features.to_vec(),
                test_size: p.test_size,
                folds: p.folds,
                seed: p.seed,
            },
        )?;
        let n = t.y.len();
        let ids = t
            .customer_id
            .unwrap_or_else(|| (1..=n).map(|i| format!("row{i}")).collect());
        let revenue =
            t.x.column_named("monetary")
                .unwrap_or_else(|| vec![f64::NAN; n]);
        Ok(PredictData {
            ids,
            x: t.x,
            y: t.y,
            split: t.split,
            folds: if p.folds == 0 { Vec::new() } else { t.folds },
            revenue,
            users: None,
            cutoff_day: None,
            train_table: Some(path.display().to_string()),
            left_out: t.left_out,
            split_made: t.split_made,
        })
    }
}

/// The seeded split and folds of a label (stratified for a 0/1 label).
fn partitions(y: &[f64], p: &PredictParams, split: bool) -> (Vec<Part>, Vec<u32>) {
    let stratify = p.task.objective() == Objective::Binary;
    let s = if split {
        stratified_split(y, p.test_size, stratify, p.seed)
    } else {
        Vec::new()
    };
    let f = if p.folds >= 2 {
        stratified_folds(y, p.folds, stratify, p.seed)
    } else {
        Vec::new()
    };
    (s, f)
}

/// Metrics of the model and the baseline on the test rows of one segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentMetrics {
    /// The segment's name.
    pub segment: String,
    /// Gradient boosting on the segment's test rows.
    pub model: Metrics,
    /// The linear / logistic baseline on them.
    pub baseline: Metrics,
}

/// `metrics.json`: what the prediction measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictMetrics {
    /// Format of this file: [`PredictMetrics::FORMAT`].
    #[serde(default)]
    pub format: String,
    /// Version of segmint that wrote it.
    #[serde(default)]
    pub segmint_version: String,
    /// The label (`churn`, `future_value`, `converted`).
    pub task: String,
    /// Always `segmint` (the bench compares engines by this key).
    pub engine: String,
    /// Rows of the table (customers or sessions).
    pub customers: usize,
    /// Cutoff date (customer tasks built from data).
    pub cutoff: Option<String>,
    /// Label window in days (customer tasks built from data).
    #[serde(default)]
    pub horizon_days: Option<i64>,
    /// The training table read, if any.
    pub train_table: Option<String>,
    /// Feature names in model order.
    pub features: Vec<String>,
    /// Rows in the train and test split.
    pub train_rows: usize,
    /// Rows in the test split.
    pub test_rows: usize,
    /// The model on the test split.
    pub test: Metrics,
    /// The baseline on the test split.
    pub baseline_test: Metrics,
    /// Headline metric (ROC-AUC or RMSE) per CV fold.
    #[serde(deserialize_with = "output::nan::vec")]
    pub cv_folds: Vec<f64>,
    /// The ten most important features.
    pub importance: Vec<Importance>,
    /// All features by importance.
    pub importance_all: Vec<Importance>,
    /// Metrics per segment of the test split (`--by`).
    pub by_segment: Option<Vec<SegmentMetrics>>,
    /// `--calibrate`: the method and the test split's Brier score, ECE and reliability bins
    /// before and after (`test` holds the calibrated probabilities' metrics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationSummary>,
    /// The model's settings.
    pub model_params: GbdtParams,
    /// Best round by the validation loss (early stopping), else the last.
    pub best_iteration: usize,
    /// Rounds trained.
    pub rounds_run: usize,
    /// Seconds of training the final model.
    pub train_seconds: f64,
    /// Seconds of the whole analysis.
    pub seconds: f64,
    /// Worker threads.
    pub threads: usize,
    /// Classification: the test ROC-AUC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_auc: Option<f64>,
    /// Classification: mean and std of the CV ROC-AUC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cv_auc_mean: Option<f64>,
    /// See `cv_auc_mean`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cv_auc_std: Option<f64>,
    /// Classification: the share of positive labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn_rate: Option<f64>,
    /// Regression: test RMSE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
    /// Regression: test MAE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
    /// Regression: test R².
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r2: Option<f64>,
    /// Regression: mean and std of the CV RMSE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cv_rmse_mean: Option<f64>,
    /// See `cv_rmse_mean`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cv_rmse_std: Option<f64>,
}

impl PredictMetrics {
    /// The format written in `format`.
    pub const FORMAT: &'static str = "predict-metrics/1";
}

/// The typed result of a prediction: `metrics.json` and `insights.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictResult {
    /// What was measured.
    pub metrics: PredictMetrics,
    /// Band counts and the lists to act on.
    pub insights: Insights,
}

impl PredictResult {
    /// Writes `metrics.json` and `insights.json` into `dir`.
    pub fn write_to(&self, dir: &Path) -> Result<()> {
        output::write_json(&dir.join("metrics.json"), &self.metrics)?;
        output::write_json(&dir.join("insights.json"), &self.insights)
    }

    /// Reads what [`PredictResult::write_to`] wrote.
    pub fn read_from(dir: &Path) -> Result<PredictResult> {
        Ok(PredictResult {
            metrics: output::read_json(&dir.join("metrics.json"))?,
            insights: output::read_json(&dir.join("insights.json"))?,
        })
    }
}

/// Everything a fit produced: the evaluation, the per-row scores, the typed result, the model.
#[derive(Debug, Clone)]
pub struct PredictOutcome {
    /// Test, CV, baseline, importance, and the predictions of every row.
    pub evaluation: Evaluation,
    /// Per-row outputs (bands, categories, priorities).
    pub scores: Scores,
    /// `metrics.json` and `insights.json`.
    pub result: PredictResult,
    /// The model for [`PredictModel::score`].
    pub model: PredictModel,
    /// TreeSHAP over a sample of test rows and partial dependence (`explain.json`).
    pub explanation: Explanation,
}

/// Segment labels of the rows for metrics per segment: `labels[i]` indexes `names`.
pub struct RowSegments<'a> {
    /// Segment names.
    pub names: &'a [String],
    /// The segment of each row of the data (`None`: none).
    pub labels: &'a [Option<u32>],
}

/// Trains and evaluates the model on `data` (fit on train, test split, CV, baseline,
/// importance), then scores every row and makes the lists.
pub fn fit(
    data: &PredictData,
    p: &PredictParams,
    segments: Option<RowSegments>,
    progress: &dyn Progress,
) -> Result<PredictOutcome> {
    p.check()?;
    let t0 = Instant::now();
    let eval_params = EvalParams {
        gbdt: p.gbdt_params(),
        seed: p.seed,
        permutation_repeats: p.permutation_repeats,
        calibrate: p.calibrate,
        ..EvalParams::default()
    };
    let e = train_and_evaluate(
        &data.x,
        &data.y,
        &data.split,
        &data.folds,
        &eval_params,
        progress,
    )?;
    let by_segment = match segments {
        Some(_) if p.task == Task::Conversion => {
            return Err(Error::param(
                "by",
                "reports per customer segment: use it with churn or value",
            ))
        }
        Some(s) => Some(segment_metrics(data, &e, &s, eval_params.threshold)),
        None => None,
    };
    let (mut scores, mut insights) =
        act_on(p.task, &data.ids, &data.revenue, &e.predictions, &p.actions)?;
    // why: the test customers (whose predictions are honest) and everyone on a list
    let test: Vec<usize> = (0..data.split.len())
        .filter(|&i| data.split[i] == Part::Test)
        .collect();
    scores.drivers = Some(super::drivers::explain(
        &e.model,
        &data.x,
        &data.ids,
        &mut insights,
        &test,
        p.actions.drivers,
        p.actions.drivers_all,
    )?);
    progress.begin("explaining", 0);
    let calibrator = e.calibration.as_ref().map(|c| &c.0);
    let predict = |t: &Table| -> Vec<f64> {
        let raw = e.model.predict(t);
        match calibrator {
            Some(c) => c.apply_all(&raw),
            None => raw,
        }
    };
    let scale = match p.task {
        Task::Value => "value",
        _ => "log-odds",
    };
    let explanation = super::explain::explain(
        &e.model,
        &data.x,
        &test,
        scale,
        &predict,
        &ExplainParams {
            seed: p.seed,
            ..ExplainParams::default()
        },
    )?;
    progress.finish();
    let metrics = metrics(data, p, &e, by_segment, t0.elapsed().as_secs_f64());
    let model = PredictModel {
        kind: PredictModel::KIND.into(),
        segmint_version: crate::VERSION.into(),
        task: p.task,
        windows: (data.train_table.is_none() && p.task != Task::Conversion).then(|| WindowParams {
            horizon_days: p.horizon_days,
            recent_days: p.recent_days,
            ..WindowParams::default()
        }),
        actions: p.actions.clone(),
        model: e.model.clone(),
        calibrator: e.calibration.as_ref().map(|c| c.0.clone()),
    };
    Ok(PredictOutcome {
        evaluation: e,
        scores,
        result: PredictResult { metrics, insights },
        model,
        explanation,
    })
}

fn segment_metrics(
    d: &PredictData,
    e: &Evaluation,
    s: &RowSegments,
    threshold: f64,
) -> Vec<SegmentMetrics> {
    let test: Vec<usize> = (0..d.y.len())
        .filter(|&i| d.split[i] == Part::Test)
        .collect();
    let pick = |v: &[f64]| test.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let labels: Vec<Option<u32>> = test.iter().map(|&i| s.labels[i]).collect();
    let base = e.baseline.predict(&d.x.select(&test));
    let y = pick(&d.y);
    let model = metrics_by_segment(
        e.objective,
        &y,
        &pick(&e.predictions),
        &labels,
        s.names,
        threshold,
    );
    let lin = metrics_by_segment(e.objective, &y, &base, &labels, s.names, threshold);
    model
        .into_iter()
        .zip(lin)
        .map(|((segment, model), (_, baseline))| SegmentMetrics {
            segment,
            model,
            baseline,
        })
        .collect()
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn metrics(
    d: &PredictData,
    p: &PredictParams,
    e: &Evaluation,
    by_segment: Option<Vec<SegmentMetrics>>,
    secs: f64,
) -> PredictMetrics {
    let mut m = PredictMetrics {
        format: PredictMetrics::FORMAT.into(),
        segmint_version: crate::VERSION.into(),
        task: p.task.label().into(),
        engine: "segmint".into(),
        customers: d.y.len(),
        cutoff: d.cutoff_day.map(format_date),
        horizon_days: d.cutoff_day.map(|_| p.horizon_days),
        train_table: d.train_table.clone(),
        features: d.x.names.clone(),
        train_rows: e.train_rows,
        test_rows: e.test_rows,
        test: e.test.clone(),
        baseline_test: e.baseline_test.clone(),
        cv_folds: e.cv_folds.iter().map(|&v| round6(v)).collect(),
        importance: e.importance.iter().take(10).cloned().collect(),
        importance_all: e.importance.clone(),
        by_segment,
        calibration: e.calibration.as_ref().map(|c| c.1.clone()),
        model_params: e.model.params.clone(),
        best_iteration: e.model.best_iteration,
        rounds_run: e.model.rounds_run,
        train_seconds: round6(e.train_seconds),
        seconds: (secs * 10_000.0).round() / 10_000.0,
        threads: rayon::current_num_threads(),
        test_auc: None,
        cv_auc_mean: None,
        cv_auc_std: None,
        churn_rate: None,
        rmse: None,
        mae: None,
        r2: None,
        cv_rmse_mean: None,
        cv_rmse_std: None,
    };
    match &e.test {
        Metrics::Classification(c) => {
            m.test_auc = c.roc_auc.map(round6);
            m.cv_auc_mean = Some(round6(e.cv_mean));
            m.cv_auc_std = Some(round6(e.cv_std));
            m.churn_rate = Some(round6(d.y.iter().sum::<f64>() / d.y.len() as f64));
        }
        Metrics::Regression(r) => {
            m.rmse = Some(r.rmse);
            m.mae = Some(r.mae);
            m.r2 = r.r2;
            m.cv_rmse_mean = Some(e.cv_mean);
            m.cv_rmse_std = Some(e.cv_std);
        }
    }
    m
}

impl PredictOutcome {
    /// The test metrics of the model and the baseline, the CV and the top features, as
    /// Markdown tables (what `segmint predict` prints).
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let e = &self.evaluation;
        let mut s = String::new();
        match (&e.test, &e.baseline_test) {
            (Metrics::Classification(m), Metrics::Classification(b)) => {
                let _ = writeln!(s, "| model | ROC-AUC | PR-AUC | log loss | accuracy | precision | recall | F1 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
                for (name, c) in [("gradient boosting", m), ("logistic baseline", b)] {
                    let _ = writeln!(
                        s,
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
                    let _ = writeln!(
                        s,
                        "\nCV ROC-AUC {:.4} ± {:.4} over {} folds",
                        e.cv_mean,
                        e.cv_std,
                        e.cv_folds.len()
                    );
                }
                if let Some((_, c)) = &e.calibration {
                    let _ = writeln!(
                        s,
                        "\nCalibrated ({}, out-of-fold predictions of {} training rows in {} folds): \
                         test Brier {:.4} -> {:.4}, ECE {:.4} -> {:.4}, log loss {:.4} -> {:.4}",
                        c.method.label(),
                        c.rows,
                        c.folds,
                        c.before.brier,
                        c.after.brier,
                        c.before.ece,
                        c.after.ece,
                        c.before.log_loss,
                        c.after.log_loss
                    );
                }
            }
            (Metrics::Regression(m), Metrics::Regression(b)) => {
                let _ = writeln!(s, "| model | RMSE | MAE | R² | MAPE (non-zero) | WAPE |\n| --- | ---: | ---: | ---: | ---: | ---: |");
                for (name, r) in [("gradient boosting", m), ("linear baseline", b)] {
                    let _ = writeln!(
                        s,
                        "| {name} | {:.3} | {:.3} | {:.4} | {:.4} | {:.4} |",
                        r.rmse,
                        r.mae,
                        r.r2.unwrap_or(f64::NAN),
                        r.mape.unwrap_or(f64::NAN),
                        r.wape.unwrap_or(f64::NAN)
                    );
                }
                if !e.cv_folds.is_empty() {
                    let _ = writeln!(
                        s,
                        "\nCV RMSE {:.3} ± {:.3} over {} folds",
                        e.cv_mean,
                        e.cv_std,
                        e.cv_folds.len()
                    );
                }
            }
            _ => {}
        }
        let _ = writeln!(
            s,
            "\n| feature | gain share | splits | permutation |\n| --- | ---: | ---: | ---: |"
        );
        for i in e.importance.iter().take(10) {
            let _ = writeln!(
                s,
                "| {} | {:.3} | {} | {} |",
                i.feature,
                i.gain_share,
                i.splits,
                i.permutation.map_or("–".into(), |v| format!("{v:.4}"))
            );
        }
        s
    }

    /// Writes `predictions.parquet`, `model.json`, `model.txt` (the model in LightGBM's text
    /// format), `metrics.json`, `insights.json` and (for
    /// tables built from data) `features.parquet`, the training table in the bench peers'
    /// layout, reusable as a training table.
    pub fn write_to(&self, dir: &Path, data: &PredictData, p: &PredictParams) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let meta = vec![
            (
                "segmint.task".to_string(),
                format!("predict {}", p.task.label()),
            ),
            (
                "segmint.params".to_string(),
                serde_json::to_string(p).map_err(|e| Error::Data(e.to_string()))?,
            ),
        ];
        let split = || OutCol::Str(data.split.iter().map(|s| s.name().to_string()).collect());
        let mut cols = self.scores.columns(p.task);
        if let Some(u) = &data.users {
            cols.insert(1, ("user_id", OutCol::Str(u.clone())));
        }
        cols.insert(1, ("split", split()));
        cols.insert(2, (p.task.label(), OutCol::F64(data.y.clone())));
        output::write_table(
            &output::batch(cols)?,
            &dir.join("predictions.parquet"),
            &meta,
        )?;
        self.model.save(&dir.join("model.json"))?;
        self.model.model.save_lightgbm(&dir.join("model.txt"))?;
        output::write_json(&dir.join("explain.json"), &self.explanation)?;
        if data.train_table.is_none() {
            let mut cols: Vec<(&str, OutCol)> =
                vec![(p.task.id_column(), OutCol::Str(data.ids.clone()))];
            for (j, name) in data.x.names.iter().enumerate() {
                cols.push((name.as_str(), OutCol::F64(data.x.column(j))));
            }
            cols.push((p.task.label(), OutCol::F64(data.y.clone())));
            cols.push(("split", split()));
            if !data.folds.is_empty() {
                let f = data.folds.iter().map(|&f| f as i64).collect();
                cols.push(("cv_fold", OutCol::I64(f)));
            }
            output::write_table(&output::batch(cols)?, &dir.join("features.parquet"), &meta)?;
        }
        self.result.write_to(dir)
    }
}

/// A saved prediction model (`model.json`): everything scoring needs to rebuild the features.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictModel {
    /// Format of the file: [`PredictModel::KIND`].
    pub kind: String,
    /// Version of segmint that wrote it.
    pub segmint_version: String,
    /// The task it predicts.
    pub task: Task,
    /// Feature windows; `None` when trained on a training table (scoring then needs data).
    pub windows: Option<WindowParams>,
    /// Thresholds of the bands, categories and lists.
    pub actions: ActionParams,
    /// The trained gradient boosting model, with its feature names.
    pub model: Gbdt,
    /// The calibration map applied to its probabilities (`--calibrate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibrator: Option<Calibrator>,
}

/// Per-row scores of new data.
#[derive(Debug, Clone)]
pub struct Scored {
    /// Bands, categories, priorities.
    pub scores: Scores,
    /// The user of each session (conversion).
    pub users: Option<Vec<String>>,
    /// The cutoff scored at (customer tasks).
    pub cutoff_day: Option<i64>,
}

impl PredictModel {
    /// The format written in `kind`.
    pub const KIND: &'static str = "predict/1";

    /// Writes the model as JSON (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        output::write_json(path, self)
    }

    /// Reads a model written by [`PredictModel::save`]; refuses another kind of file.
    pub fn load(path: &Path) -> Result<PredictModel> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let m: PredictModel = serde_json::from_str(&text)
            .map_err(|e| Error::format(path, format!("not a segmint prediction model: {e}")))?;
        if m.kind != Self::KIND {
            return Err(Error::format(
                path,
                format!("model kind {:?}, expected {:?}", m.kind, Self::KIND),
            ));
        }
        m.actions.check()?;
        Ok(m)
    }

    /// The drivers of every scored row (the scored customers are the ones acted on).
    fn drivers_of_all(&self, x: &Table) -> Result<super::drivers::RowDrivers> {
        let all: Vec<usize> = (0..x.rows).collect();
        super::drivers::RowDrivers::of(&self.model, x, &all, self.actions.drivers)
    }

    /// The model's predictions for `x`, calibrated when it has a calibration map.
    pub fn predict(&self, x: &Table) -> Vec<f64> {
        let p = self.model.predict(x);
        match &self.calibrator {
            Some(c) => c.apply_all(&p),
            None => p,
        }
    }

    /// Whether scoring needs the events file.
    pub fn needs_events(&self) -> bool {
        self.task == Task::Conversion
            || self
                .model
                .features
                .iter()
                .any(|f| CLICKSTREAM_FEATURES.contains(&f.as_str()))
    }

    /// Scores new data: every session of `events` (conversion), or every customer as of
    /// `cutoff_day` (default: the day after the last transaction). The features are matched
    /// to the model's by name; a missing one is an error naming it.
    pub fn score(
        &self,
        tx: Option<&TableReader>,
        customers: Option<&TableReader>,
        events: Option<&TableReader>,
        cutoff_day: Option<i64>,
        progress: &dyn Progress,
    ) -> Result<Scored> {
        let events_needed =
            || events.ok_or_else(|| Error::Config("this model needs an events file".into()));
        if self.task == Task::Conversion {
            let d = super::conversion::session_dataset(events_needed()?, progress)?;
            let x = d.x.project(&self.model.features)?;
            let pred = self.predict(&x);
            let revenue = vec![f64::NAN; pred.len()];
            let (mut scores, _) = act_on(self.task, &d.session_id, &revenue, &pred, &self.actions)?;
            scores.drivers = Some(self.drivers_of_all(&x)?);
            return Ok(Scored {
                scores,
                users: Some(d.user_id),
                cutoff_day: None,
            });
        }
        let w = self.windows.as_ref().ok_or_else(|| {
            Error::Config(
                "the model was trained on a training table; scoring needs a model trained from data"
                    .into(),
            )
        })?;
        let tx = tx.ok_or_else(|| Error::Config("scoring needs a transactions file".into()))?;
        // scoring "now": the cutoff is the end of the data, the label window the future
        let w = WindowParams {
            cutoff_day,
            window_end_day: None,
            cutoff_at_end: true,
            ..w.clone()
        };
        let mut d = customer_dataset(tx, customers, &w, progress)?;
        if self.needs_events() {
            d.add_clickstream(events_needed()?, progress)?;
        }
        let x = d.x.project(&self.model.features)?;
        let pred = self.predict(&x);
        let revenue =
            d.x.column_named("monetary")
                .unwrap_or_else(|| vec![f64::NAN; d.x.rows]);
        let (mut scores, _) = act_on(self.task, &d.customer_id, &revenue, &pred, &self.actions)?;
        scores.drivers = Some(self.drivers_of_all(&x)?);
        Ok(Scored {
            scores,
            users: None,
            cutoff_day: Some(d.cutoff_day),
        })
    }
}

impl Scored {
    /// The output table of `task` (`segmint score`): the per-row columns.
    pub fn columns(&self, task: Task) -> Vec<(&'static str, OutCol)> {
        let mut cols = self.scores.columns(task);
        if let Some(u) = &self.users {
            cols.insert(1, ("user_id", OutCol::Str(u.clone())));
        }
        cols
    }
}
