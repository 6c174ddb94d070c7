//! `segmint predict churn|value` and `segmint score`

use std::path::PathBuf;

use anyhow::{Context, Result};
use segmint::data::timestamp::parse_date;
use segmint::data::TableKind;
use segmint::predict::analysis::{fit, RowSegments, SessionSplit};
use segmint::predict::calibrate::CalibrationMethod;
use segmint::predict::{PredictData, PredictParams};

use crate::model_options::{ActionArgs, ModelArgs};
use crate::ui::{note, segment_labels, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = include_str!("../help/predict.txt"))]
pub struct Args {
    /// What to predict
    #[arg(value_enum)]
    pub task: TaskArg,
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
    /// churn, conversion: calibrate the probabilities with isotonic regression or Platt's
    /// sigmoid, fitted on out-of-fold predictions of the training rows (5 folds; the test rows
    /// are never seen); metrics.json `calibration` has the test Brier score and ECE before and
    /// after
    #[arg(long, value_enum, value_name = "METHOD")]
    pub calibrate: Option<CalibrateArg>,
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

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum TaskArg {
    Churn,
    Value,
    Conversion,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
pub enum CalibrateArg {
    Isotonic,
    Sigmoid,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
pub enum SplitArg {
    Time,
    Random,
}

impl Args {
    pub fn params(&self) -> Result<PredictParams> {
        let cutoff_day = self
            .cutoff
            .as_deref()
            .map(|d| parse_date(d).with_context(|| format!("--cutoff {d:?}: expected YYYY-MM-DD")))
            .transpose()?;
        Ok(PredictParams {
            task: match self.task {
                TaskArg::Churn => segmint::predict::Task::Churn,
                TaskArg::Value => segmint::predict::Task::Value,
                TaskArg::Conversion => segmint::predict::Task::Conversion,
            },
            cutoff_day,
            horizon_days: self.horizon_days,
            recent_days: self.recent_days,
            clickstream: self.clickstream,
            session_split: match self.split {
                SplitArg::Time => SessionSplit::Time,
                SplitArg::Random => SessionSplit::Random,
            },
            test_size: self.test_size,
            folds: self.folds,
            gbdt: self.model.params(),
            permutation_repeats: self.model.permutation_repeats,
            seed: self.model.seed,
            actions: self.actions.params(),
            calibrate: self.calibrate.map(|c| match c {
                CalibrateArg::Isotonic => CalibrationMethod::Isotonic,
                CalibrateArg::Sigmoid => CalibrationMethod::Sigmoid,
            }),
        })
    }
}

/// The feature table: from --train-table, or built from the data.
fn prepare(g: &Global, a: &Args, p: &PredictParams, bars: &Bars) -> Result<PredictData> {
    let d = match &a.train_table {
        Some(path) => PredictData::from_train_table(path, a.label.as_deref(), &a.features, p)?,
        None => {
            let (inputs, map) = a.input.resolve()?;
            let conversion = p.task == segmint::predict::Task::Conversion;
            let tx = (!conversion)
                .then(|| inputs.open(TableKind::Transactions, &map))
                .transpose()?;
            let customers = inputs.open_optional(TableKind::Customers, &map)?;
            let events = if conversion || p.clickstream {
                Some(inputs.open(TableKind::Events, &map)?)
            } else {
                None
            };
            PredictData::from_tables(tx.as_ref(), customers.as_ref(), events.as_ref(), p, bars)?
        }
    };
    for c in &d.left_out {
        note(g, c.note());
    }
    if a.train_table.is_some() && d.split_made {
        note(
            g,
            format!(
                "no split column: a seeded {:.0}/{:.0} split{} made here",
                100.0 * (1.0 - p.test_size),
                100.0 * p.test_size,
                if d.folds.is_empty() { "" } else { " and folds" }
            ),
        );
    }
    Ok(d)
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let p = a.params()?;
    p.check()?;
    let bars = Bars::new(g);
    let d = prepare(g, a, &p, &bars)?;
    let labels = match &a.by {
        Some(col) if p.task != segmint::predict::Task::Conversion => {
            let (inputs, map) = a.input.resolve()?;
            Some(segment_labels(
                &inputs,
                &map,
                col,
                a.segments.as_deref(),
                &d.ids,
            )?)
        }
        Some(_) => anyhow::bail!("--by reports per customer segment: use it with churn or value"),
        None => None,
    };
    let segments = labels
        .as_ref()
        .map(|(names, labels)| RowSegments { names, labels });
    let out = fit(&d, &p, segments, &bars)?;
    out.write_to(&a.out, &d, &p)?;
    let m = &out.result.metrics;
    if !g.emit_json(&serde_json::to_value(m)?) {
        print!("{}", out.summary());
        note(
            g,
            format!(
                "predict {}: {} {} ({} train, {} test) in {:.2}s -> {}",
                p.task.label(),
                d.y.len(),
                p.task.rows(),
                m.train_rows,
                m.test_rows,
                m.seconds,
                a.out.display()
            ),
        );
    }
    Ok(0)
}
