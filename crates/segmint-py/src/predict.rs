//! `segmint.predict`: churn, value and conversion models (`segmint predict`), scoring with a
//! saved model (`segmint score`), and the report section of a results directory.

use std::collections::HashMap;
use std::path::PathBuf;

use arrow_pyarrow::{PyArrowType, Table};
use pyo3::prelude::*;
use segmint::data::TableKind;
use segmint::predict::analysis::{fit, PredictModel, Task};
use segmint::predict::{PredictData, PredictParams};

use crate::{
    day, error, optional_input, overrides, progress, read_options, table, Input, SegmintError,
};

/// Trains and evaluates a `task` model, writing `segmint predict`'s files into `out`:
/// `(metrics JSON, printed summary, notes)`.
#[pyfunction]
#[pyo3(signature = (task, out, transactions=None, customers=None, events=None, *, cutoff=None, params=None, columns=None, timestamp_format=None, timezone=None, missing_ids=None, progress=false))]
#[allow(clippy::too_many_arguments)]
pub fn predict(
    py: Python<'_>,
    task: &str,
    out: PathBuf,
    transactions: Option<&Bound<'_, PyAny>>,
    customers: Option<&Bound<'_, PyAny>>,
    events: Option<&Bound<'_, PyAny>>,
    cutoff: Option<&str>,
    params: Option<&str>,
    columns: Option<HashMap<String, String>>,
    timestamp_format: Option<&str>,
    timezone: Option<&str>,
    missing_ids: Option<&str>,
    progress: bool,
) -> PyResult<(String, String, Vec<String>)> {
    let map = read_options(columns, timestamp_format, timezone, missing_ids)?;
    let mut p: PredictParams = overrides(&PredictParams::default(), params)?;
    p.task = segmint::params::choice("task", task).map_err(error)?;
    p.cutoff_day = day("cutoff", cutoff)?;
    p.check().map_err(error)?;
    let tx = optional_input(transactions)?;
    let customers = optional_input(customers)?;
    let events = optional_input(events)?;
    let conversion = p.task == Task::Conversion;
    if !conversion && tx.is_none() {
        return Err(SegmintError::new_err(format!(
            "predict {task} needs a transactions table"
        )));
    }
    if (conversion || p.clickstream) && events.is_none() {
        return Err(SegmintError::new_err(format!(
            "predict {task}{} needs an events table",
            if conversion { "" } else { " with clickstream" }
        )));
    }
    let r = py
        .detach(|| -> segmint::Result<_> {
            let open = |t: Option<Input>, kind| t.map(|t| t.open(kind, &map)).transpose();
            let tx = open(if conversion { None } else { tx }, TableKind::Transactions)?;
            let customers = open(customers, TableKind::Customers)?;
            let events = open(events, TableKind::Events)?;
            let bars = self::progress(progress);
            let d = PredictData::from_tables(
                tx.as_ref(),
                customers.as_ref(),
                events.as_ref(),
                &p,
                bars,
            )?;
            let notes: Vec<String> = d.left_out.iter().map(|c| c.note()).collect();
            let outcome = fit(&d, &p, None, bars)?;
            outcome.write_to(&out, &d, &p)?;
            Ok((outcome, notes))
        })
        .map_err(error)?;
    let (outcome, notes) = r;
    let metrics = serde_json::to_string(&outcome.result.metrics)
        .map_err(|e| SegmintError::new_err(e.to_string()))?;
    Ok((metrics, outcome.summary(), notes))
}

/// Scores new customers (or sessions) with a saved `model.json`.
#[pyfunction]
#[pyo3(signature = (model, transactions=None, customers=None, events=None, *, cutoff=None, columns=None, timestamp_format=None, timezone=None, missing_ids=None, progress=false))]
#[allow(clippy::too_many_arguments)]
pub fn score(
    py: Python<'_>,
    model: PathBuf,
    transactions: Option<&Bound<'_, PyAny>>,
    customers: Option<&Bound<'_, PyAny>>,
    events: Option<&Bound<'_, PyAny>>,
    cutoff: Option<&str>,
    columns: Option<HashMap<String, String>>,
    timestamp_format: Option<&str>,
    timezone: Option<&str>,
    missing_ids: Option<&str>,
    progress: bool,
) -> PyResult<PyArrowType<Table>> {
    let map = read_options(columns, timestamp_format, timezone, missing_ids)?;
    let cutoff = day("cutoff", cutoff)?;
    let m = PredictModel::load(&model).map_err(error)?;
    let tx = optional_input(transactions)?;
    let customers = optional_input(customers)?;
    let events = optional_input(events)?;
    let batch = py
        .detach(|| -> segmint::Result<_> {
            let open = |t: Option<Input>, kind| t.map(|t| t.open(kind, &map)).transpose();
            let tx = open(tx, TableKind::Transactions)?;
            let customers = open(customers, TableKind::Customers)?;
            let events = open(events, TableKind::Events)?;
            let scored = m.score(
                tx.as_ref(),
                customers.as_ref(),
                events.as_ref(),
                cutoff,
                self::progress(progress),
            )?;
            segmint::output::batch(scored.columns(m.task))
        })
        .map_err(error)?;
    table(batch)
}

/// The report section (HTML) of a results directory of `kind`: churn, value, conversion or
/// hidden.
#[pyfunction]
pub fn section_html(kind: &str, dir: PathBuf) -> PyResult<String> {
    use segmint::report::results;
    let section = match kind {
        "churn" => results::churn(&dir),
        "value" => results::value(&dir),
        "conversion" => results::conversion(&dir),
        "hidden" => results::hidden(&dir),
        other => return Err(SegmintError::new_err(format!("no section {other:?}"))),
    };
    Ok(section.map_err(error)?.html())
}

/// TreeSHAP contributions of the rows of `x` (columns named as the model's features, any
/// order) to the raw score of the model in `model` (`model.json`): `(one column per feature,
/// expected value)`.
#[pyfunction]
pub fn contributions(
    py: Python<'_>,
    model: PathBuf,
    x: &Bound<'_, PyAny>,
) -> PyResult<(PyArrowType<Table>, f64)> {
    let m = PredictModel::load(&model).map_err(error)?.model;
    let x = crate::segments::feature_table(x)?
        .project(&m.features)
        .map_err(error)?;
    let c = py.detach(|| m.contributions(&x)).map_err(error)?;
    let d = m.features.len();
    let columns: Vec<(String, arrow_array::ArrayRef)> = m
        .features
        .iter()
        .enumerate()
        .map(|(j, f)| {
            let v: Vec<f64> = (0..x.rows).map(|i| c.values[i * d + j]).collect();
            let a: arrow_array::ArrayRef = std::sync::Arc::new(arrow_array::Float64Array::from(v));
            (f.clone(), a)
        })
        .collect();
    let batch = arrow_array::RecordBatch::try_from_iter(columns)
        .map_err(|e| SegmintError::new_err(e.to_string()))?;
    Ok((table(batch)?, c.expected_value))
}
