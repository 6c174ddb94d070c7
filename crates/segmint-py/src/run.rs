//! `segmint.run`: the whole analysis and its report, as `segmint run` makes them.

use std::collections::HashMap;
use std::path::PathBuf;

use pyo3::prelude::*;
use segmint::data::{Inputs, TableKind};
use segmint::pipeline::{run_all, Data, PlanOptions, RUN_STAGES};
use segmint::segment::rules::RuleSet;

use crate::{day, error, optional_input, progress, read_options, SegmintError};

/// Runs the default stages on a data directory (`data`) or on the tables given, into `out`:
/// the run's summary as JSON (`summary.json`).
#[pyfunction]
#[pyo3(signature = (out, data=None, transactions=None, customers=None, events=None, *, stages=None, skip=Vec::new(), seed=42, ref_date=None, rules="default", group="seller_group", outcome="sale_success", columns=None, timestamp_format=None, timezone=None, missing_ids=None, progress=false))]
#[allow(clippy::too_many_arguments)]
pub fn run(
    py: Python<'_>,
    out: PathBuf,
    data: Option<PathBuf>,
    transactions: Option<&Bound<'_, PyAny>>,
    customers: Option<&Bound<'_, PyAny>>,
    events: Option<&Bound<'_, PyAny>>,
    stages: Option<Vec<String>>,
    skip: Vec<String>,
    seed: u64,
    ref_date: Option<&str>,
    rules: &str,
    group: &str,
    outcome: &str,
    columns: Option<HashMap<String, String>>,
    timestamp_format: Option<&str>,
    timezone: Option<&str>,
    missing_ids: Option<&str>,
    progress: bool,
) -> PyResult<String> {
    for s in stages.iter().flatten().chain(&skip) {
        if !RUN_STAGES.contains(&s.as_str()) {
            return Err(SegmintError::new_err(format!(
                "unknown stage {s:?} (stages: {})",
                RUN_STAGES.join(", ")
            )));
        }
    }
    let map = read_options(columns, timestamp_format, timezone, missing_ids)?;
    let options = PlanOptions {
        seed,
        ref_day: day("ref_date", ref_date)?,
        rules: RuleSet::load(rules).map_err(error)?,
        group: group.to_string(),
        outcome: outcome.to_string(),
    };
    let tables = [
        optional_input(transactions)?,
        optional_input(customers)?,
        optional_input(events)?,
    ];
    if data.is_none() && tables[0].is_none() {
        return Err(SegmintError::new_err(
            "no input: pass data=DIR or the transactions table",
        ));
    }
    let wanted = |s: &str| {
        stages.as_ref().is_none_or(|v| v.iter().any(|x| x == s)) && !skip.iter().any(|x| x == s)
    };
    let summary = py
        .detach(|| -> segmint::Result<_> {
            let [tx, cu, ev] = tables;
            let d = match data {
                Some(dir) => Data::open(&Inputs::from_dir(&dir), &map)?,
                None => Data {
                    tx: tx.expect("checked").open(TableKind::Transactions, &map)?,
                    customers: cu.map(|c| c.open(TableKind::Customers, &map)).transpose()?,
                    events: ev.map(|e| e.open(TableKind::Events, &map)).transpose()?,
                },
            };
            run_all(&d, &options, &wanted, &out, self::progress(progress))
        })
        .map_err(error)?;
    serde_json::to_string(&summary).map_err(|e| SegmintError::new_err(e.to_string()))
}

/// Writes the built-in demo data (`segmint demo`: customers, transactions, events, products and
/// the planted ground truth, Parquet) into `out`: the summary as JSON.
#[pyfunction]
#[pyo3(signature = (out, customers=2000, seed=42, progress=false))]
pub fn demo(
    py: Python<'_>,
    out: PathBuf,
    customers: u64,
    seed: u64,
    progress: bool,
) -> PyResult<String> {
    let p = segmint::demo::DemoParams {
        customers,
        seed,
        ..Default::default()
    };
    let s = py
        .detach(|| segmint::demo::generate(&p, &out, self::progress(progress)))
        .map_err(error)?;
    serde_json::to_string(&s).map_err(|e| SegmintError::new_err(e.to_string()))
}
