//! `segmint.clv`: the summary in lifetimes' conventions, the transaction models (BG/NBD,
//! MBG/NBD, Pareto/NBD), Gamma-Gamma and the discounted CLV.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_pyarrow::{PyArrowType, Table};
use pyo3::prelude::*;
use segmint::clv::bgbb::BgBb;
use segmint::clv::bgnbd::{BgNbd, Variant};
use segmint::clv::gamma_gamma::GammaGamma;
use segmint::clv::pareto_nbd::ParetoNbd;
use segmint::clv::{TimeUnit, TransactionModel};
use segmint::data::TableKind;
use segmint::progress::NoProgress;

use crate::{day, error, read_options, same_length, table, Input, SegmintError};

/// The per-customer summary in lifetimes' conventions (`frequency, recency, T,
/// monetary_value`), up to `observation_end` (default: the last transaction's day).
#[pyfunction]
#[pyo3(signature = (transactions, *, observation_end=None, time_unit="day", purchases="positive", columns=None, timestamp_format=None, timezone=None, missing_ids=None))]
#[allow(clippy::too_many_arguments)]
pub fn clv_summary(
    py: Python<'_>,
    transactions: &Bound<'_, PyAny>,
    observation_end: Option<&str>,
    time_unit: &str,
    purchases: &str,
    columns: Option<HashMap<String, String>>,
    timestamp_format: Option<&str>,
    timezone: Option<&str>,
    missing_ids: Option<&str>,
) -> PyResult<PyArrowType<Table>> {
    use segmint::clv::{summarize, PurchaseRule, SummaryParams};
    let map = read_options(columns, timestamp_format, timezone, missing_ids)?;
    let params = SummaryParams {
        calibration_end: day("observation_period_end", observation_end)?,
        holdout_end: None,
        time_unit: segmint::params::choice("time unit", time_unit).map_err(error)?,
        purchases: PurchaseRule::parse(purchases).map_err(error)?,
    };
    let tx = Input::from_py(transactions)?;
    let batch = py
        .detach(|| {
            let tx = tx.open(TableKind::Transactions, &map)?;
            let s = summarize(&tx, &params, &NoProgress)?;
            summary_batch(&s)
        })
        .map_err(error)?;
    table(batch)
}

fn summary_batch(s: &segmint::clv::Summary) -> segmint::Result<RecordBatch> {
    use arrow_array::{ArrayRef, Float64Array};
    let f = |v: &[f64]| Arc::new(Float64Array::from(v.to_vec())) as ArrayRef;
    RecordBatch::try_from_iter(vec![
        ("customer_id", Arc::new(s.customer_id.clone()) as ArrayRef),
        ("frequency", f(&s.frequency)),
        ("recency", f(&s.recency)),
        ("T", f(&s.t)),
        ("monetary_value", f(&s.monetary_value)),
    ])
    .map_err(|e| segmint::Error::Data(e.to_string()))
}

/// A fitted transaction model rebuilt from its name and parameters (lifetimes' order:
/// `r, alpha, a, b` or `r, alpha, s, beta`).
enum Model {
    Bg(BgNbd),
    Pareto(ParetoNbd),
}

impl Model {
    fn of(kind: &str, p: &[f64]) -> PyResult<Model> {
        let &[r, alpha, c, d] = p else {
            return Err(SegmintError::new_err(format!(
                "{kind} takes 4 parameters, got {}",
                p.len()
            )));
        };
        let bg = |variant| {
            Model::Bg(BgNbd {
                variant,
                r,
                alpha,
                a: c,
                b: d,
                log_likelihood: f64::NAN,
                customers: 0,
                penalizer: 0.0,
                estimates: Vec::new(),
                diagnostics: None,
            })
        };
        Ok(match kind {
            "bgnbd" => bg(Variant::Bgnbd),
            "mbgnbd" => bg(Variant::Mbgnbd),
            "pareto" => Model::Pareto(ParetoNbd {
                r,
                alpha,
                s: c,
                beta: d,
                log_likelihood: f64::NAN,
                customers: 0,
                penalizer: 0.0,
                estimates: Vec::new(),
                diagnostics: None,
            }),
            other => return Err(SegmintError::new_err(format!("unknown model {other:?}"))),
        })
    }

    fn as_dyn(&self) -> &dyn TransactionModel {
        match self {
            Model::Bg(m) => m,
            Model::Pareto(m) => m,
        }
    }
}

fn check_frt(frequency: &[f64], recency: &[f64], t: &[f64]) -> PyResult<()> {
    same_length(&[
        ("frequency", frequency.len()),
        ("recency", recency.len()),
        ("T", t.len()),
    ])
}

/// Fits `kind` (`bgnbd`, `mbgnbd`, `pareto`) by maximum likelihood: its four parameters in
/// lifetimes' order and the log-likelihood.
#[pyfunction]
#[pyo3(signature = (kind, frequency, recency, t, penalizer=0.0))]
pub fn transaction_fit(
    py: Python<'_>,
    kind: &str,
    frequency: Vec<f64>,
    recency: Vec<f64>,
    t: Vec<f64>,
    penalizer: f64,
) -> PyResult<(Vec<f64>, f64)> {
    check_frt(&frequency, &recency, &t)?;
    let fit = |variant| BgNbd::fit_variant(variant, &frequency, &recency, &t, penalizer);
    let out = py.detach(|| -> segmint::Result<(Vec<f64>, f64)> {
        Ok(match kind {
            "bgnbd" | "mbgnbd" => {
                let variant = if kind == "bgnbd" {
                    Variant::Bgnbd
                } else {
                    Variant::Mbgnbd
                };
                let m = fit(variant)?;
                (vec![m.r, m.alpha, m.a, m.b], m.log_likelihood)
            }
            "pareto" => {
                let m = ParetoNbd::fit(&frequency, &recency, &t, penalizer)?;
                (vec![m.r, m.alpha, m.s, m.beta], m.log_likelihood)
            }
            other => {
                return Err(segmint::Error::Config(format!("unknown model {other:?}")));
            }
        })
    });
    out.map_err(error)
}

/// Per customer: P(alive) (`horizon` None) or the expected purchases in the next `horizon`
/// time units.
#[pyfunction]
#[pyo3(signature = (kind, params, frequency, recency, t, horizon=None))]
pub fn transaction_predict(
    py: Python<'_>,
    kind: &str,
    params: Vec<f64>,
    frequency: Vec<f64>,
    recency: Vec<f64>,
    t: Vec<f64>,
    horizon: Option<f64>,
) -> PyResult<Vec<f64>> {
    check_frt(&frequency, &recency, &t)?;
    let model = Model::of(kind, &params)?;
    let m = model.as_dyn();
    Ok(py.detach(|| {
        (0..frequency.len())
            .map(|i| match horizon {
                None => m.p_alive(frequency[i], recency[i], t[i]),
                Some(h) => m.expected_purchases(h, frequency[i], recency[i], t[i]),
            })
            .collect()
    }))
}

/// Gamma-Gamma by maximum likelihood on the repeat customers: `(p, q, v, log_likelihood)`.
#[pyfunction]
#[pyo3(signature = (frequency, monetary_value, penalizer=0.0))]
pub fn gamma_gamma_fit(
    py: Python<'_>,
    frequency: Vec<f64>,
    monetary_value: Vec<f64>,
    penalizer: f64,
) -> PyResult<(f64, f64, f64, f64)> {
    same_length(&[
        ("frequency", frequency.len()),
        ("monetary_value", monetary_value.len()),
    ])?;
    let m = py
        .detach(|| GammaGamma::fit(&frequency, &monetary_value, penalizer))
        .map_err(error)?;
    Ok((m.p, m.q, m.v, m.log_likelihood))
}

fn gamma_gamma(params: (f64, f64, f64)) -> GammaGamma {
    let (p, q, v) = params;
    GammaGamma {
        p,
        q,
        v,
        log_likelihood: f64::NAN,
        customers: 0,
        zero_spend_left_out: 0,
        penalizer: 0.0,
        frequency_monetary_correlation: f64::NAN,
        estimates: Vec::new(),
        diagnostics: None,
    }
}

/// The expected average order value per customer with parameters `(p, q, v)`.
#[pyfunction]
pub fn gamma_gamma_expected(
    params: (f64, f64, f64),
    frequency: Vec<f64>,
    monetary_value: Vec<f64>,
) -> PyResult<Vec<f64>> {
    same_length(&[
        ("frequency", frequency.len()),
        ("monetary_value", monetary_value.len()),
    ])?;
    let m = gamma_gamma(params);
    Ok(frequency
        .iter()
        .zip(&monetary_value)
        .map(|(&x, &mv)| m.expected_order_value(x, mv))
        .collect())
}

/// lifetimes' `customer_lifetime_value`: per customer, over `months` months, the monthly
/// increments of the expected purchases of `kind` times the Gamma-Gamma order value,
/// discounted by `(1 + discount_rate)^month`; months are 30 days, 4.345 weeks or 1 month by
/// `time_unit`.
#[pyfunction]
#[pyo3(signature = (kind, params, gg_params, frequency, recency, t, monetary_value, time_unit="day", months=12, discount_rate=0.01))]
#[allow(clippy::too_many_arguments)]
pub fn customer_lifetime_value(
    py: Python<'_>,
    kind: &str,
    params: Vec<f64>,
    gg_params: (f64, f64, f64),
    frequency: Vec<f64>,
    recency: Vec<f64>,
    t: Vec<f64>,
    monetary_value: Vec<f64>,
    time_unit: &str,
    months: u32,
    discount_rate: f64,
) -> PyResult<Vec<f64>> {
    check_frt(&frequency, &recency, &t)?;
    same_length(&[
        ("frequency", frequency.len()),
        ("monetary_value", monetary_value.len()),
    ])?;
    let unit: TimeUnit = segmint::params::choice("time unit", time_unit).map_err(error)?;
    let model = Model::of(kind, &params)?;
    let gg = gamma_gamma(gg_params);
    let n = frequency.len();
    let summary = segmint::clv::Summary {
        time_unit: unit,
        customer_id: arrow_array::StringArray::from(vec![""; n]),
        frequency,
        recency,
        t,
        monetary_value,
        ..Default::default()
    };
    let p = segmint::clv::PredictParams {
        horizon: 1.0,
        clv_months: months,
        discount_rate,
    };
    let pred = py.detach(|| segmint::clv::predict(&summary, model.as_dyn(), &gg, &p));
    Ok(pred.clv)
}

/// BG/BB (Fader, Hardie & Shang 2010) by maximum likelihood on discrete-time histories, each
/// counted `weights` times: `([alpha, beta, gamma, delta], log_likelihood)`.
#[pyfunction]
#[pyo3(signature = (frequency, recency, n_periods, weights=None, penalizer=0.0))]
pub fn bgbb_fit(
    py: Python<'_>,
    frequency: Vec<f64>,
    recency: Vec<f64>,
    n_periods: Vec<f64>,
    weights: Option<Vec<f64>>,
    penalizer: f64,
) -> PyResult<(Vec<f64>, f64)> {
    check_frt(&frequency, &recency, &n_periods)?;
    if let Some(w) = &weights {
        same_length(&[("frequency", frequency.len()), ("weights", w.len())])?;
    }
    let m = py
        .detach(|| {
            BgBb::fit(
                &frequency,
                &recency,
                &n_periods,
                weights.as_deref(),
                penalizer,
            )
        })
        .map_err(error)?;
    Ok((vec![m.alpha, m.beta, m.gamma, m.delta], m.log_likelihood))
}

/// BG/BB predictions per history with parameters `[alpha, beta, gamma, delta]`: `what` is
/// `p_alive` (alive at opportunity n + `arg`), `expected` (purchases in the next `arg`
/// opportunities) or `dert` (at discount rate `arg`).
#[pyfunction]
pub fn bgbb_predict(
    py: Python<'_>,
    what: &str,
    params: Vec<f64>,
    frequency: Vec<f64>,
    recency: Vec<f64>,
    n_periods: Vec<f64>,
    arg: f64,
) -> PyResult<Vec<f64>> {
    check_frt(&frequency, &recency, &n_periods)?;
    let &[alpha, beta, gamma, delta] = params.as_slice() else {
        return Err(SegmintError::new_err("BG/BB takes 4 parameters"));
    };
    let m = BgBb {
        alpha,
        beta,
        gamma,
        delta,
        log_likelihood: f64::NAN,
        customers: 0.0,
        patterns: 0,
        penalizer: 0.0,
        estimates: Vec::new(),
        diagnostics: None,
    };
    let f: fn(&BgBb, f64, f64, f64, f64) -> f64 = match what {
        "p_alive" => BgBb::p_alive,
        "expected" => BgBb::expected_purchases,
        "dert" => BgBb::dert,
        other => {
            return Err(SegmintError::new_err(format!(
                "unknown prediction {other:?}"
            )))
        }
    };
    Ok(py.detach(|| {
        (0..frequency.len())
            .map(|i| f(&m, arg, frequency[i], recency[i], n_periods[i]))
            .collect()
    }))
}

/// Static covariates: `kind`'s (`bgnbd`, `mbgnbd`, `pareto`) purchase and dropout and
/// Gamma-Gamma's spend scaled by exp(γ'z) of the numeric `covariates` (name, one value per
/// customer; NaN = missing): the fits with coefficients and likelihood-ratio tests, as JSON.
#[pyfunction]
#[pyo3(signature = (kind, frequency, recency, t, monetary_value, covariates))]
pub fn covariate_fit(
    py: Python<'_>,
    kind: &str,
    frequency: Vec<f64>,
    recency: Vec<f64>,
    t: Vec<f64>,
    monetary_value: Vec<f64>,
    covariates: Vec<(String, Vec<f64>)>,
) -> PyResult<String> {
    use segmint::clv::analysis::TransactionKind;
    use segmint::clv::covariates::{fit_covariates, Design};
    check_frt(&frequency, &recency, &t)?;
    same_length(&[
        ("frequency", frequency.len()),
        ("monetary_value", monetary_value.len()),
    ])?;
    let kind = match kind {
        "bgnbd" => TransactionKind::Bgnbd,
        "mbgnbd" => TransactionKind::Mbgnbd,
        "pareto" => TransactionKind::ParetoNbd,
        other => {
            return Err(SegmintError::new_err(format!(
                "model {other:?}: bgnbd, mbgnbd or pareto"
            )))
        }
    };
    let ids: Vec<String> = (1..=frequency.len()).map(|i| i.to_string()).collect();
    let s = segmint::clv::Summary {
        customer_id: arrow_array::StringArray::from(ids),
        frequency,
        recency,
        t,
        monetary_value,
        from_table: true,
        ..Default::default()
    };
    let fit = py
        .detach(|| {
            let d = Design::from_columns(covariates)?;
            fit_covariates(&s, &d, kind, &NoProgress)
        })
        .map_err(error)?;
    serde_json::to_string(&fit).map_err(|e| SegmintError::new_err(e.to_string()))
}
