//! `segmint.retention`: the shifted-beta-geometric model per cohort.

use arrow_pyarrow::{PyArrowType, Table};
use pyo3::prelude::*;
use segmint::data::{ColumnMap, TableKind};
use segmint::retention::{analyze, Cohorts, RetentionParams, ShiftedBetaGeometric};

use crate::{error, table, Input};

/// sBG by maximum likelihood on the active customers at the start of each period:
/// `(alpha, beta, log_likelihood)`.
#[pyfunction]
pub fn sbg_fit(active: Vec<f64>) -> PyResult<(f64, f64, f64)> {
    let m = ShiftedBetaGeometric::fit_active(&active).map_err(error)?;
    Ok((m.alpha, m.beta, m.log_likelihood))
}

/// The sBG fit of every cohort of a cohort table or per-customer lifetimes: the results as
/// JSON text and the curves in long form.
#[pyfunction]
#[pyo3(signature = (data, *, horizon=5, discount_rate=0.1))]
pub fn retention(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    horizon: u32,
    discount_rate: f64,
) -> PyResult<(String, PyArrowType<Table>)> {
    let params = RetentionParams {
        horizon,
        discount_rate,
    };
    let input = Input::from_py(data)?;
    let source = match &input {
        Input::Path(p) => p.clone(),
        Input::Batches(_) => "the cohorts table".into(),
    };
    let (json, batch) = py
        .detach(|| -> segmint::Result<_> {
            let reader = input.open(TableKind::Other, &ColumnMap::new())?;
            let cohorts = Cohorts::from_reader(&source, &reader)?;
            let r = analyze(&cohorts, &params)?;
            Ok((r.to_json().to_string(), r.to_record_batch()?))
        })
        .map_err(error)?;
    Ok((json, table(batch)?))
}

/// sBG curves with parameters `(alpha, beta)`: `what` is `survival` (at each t),
/// `retention_rate` (at each t >= 1), `churn_probability` (at each t >= 1) or `derl` (for each
/// number of renewals, at discount rate `discount`).
#[pyfunction]
#[pyo3(signature = (alpha, beta, what, t, discount=0.1))]
pub fn sbg_predict(
    alpha: f64,
    beta: f64,
    what: &str,
    t: Vec<f64>,
    discount: f64,
) -> PyResult<Vec<f64>> {
    let m = ShiftedBetaGeometric {
        alpha,
        beta,
        log_likelihood: f64::NAN,
        customers: 0.0,
        estimates: Vec::new(),
        diagnostics: None,
    };
    let f = |t: f64| match what {
        "survival" => Ok(m.survival(t)),
        "retention_rate" => Ok(m.retention_rate(t)),
        "churn_probability" => Ok(m.churn_probability(t)),
        "derl" => Ok(m.derl(discount, t)),
        other => Err(crate::SegmintError::new_err(format!(
            "unknown curve {other:?}"
        ))),
    };
    t.into_iter().map(f).collect()
}
