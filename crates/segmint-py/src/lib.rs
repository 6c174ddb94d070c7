//! `segmint._native`: the Python front end of the segmint library. Tables arrive as Arrow
//! streams (the PyCapsule interface: pyarrow, Polars, pandas, DuckDB) or file paths, leave as
//! `pyarrow.Table`; the Python layer (`python/segmint`) turns them back into the caller's kind.
//! Every call releases the GIL while the library works. Errors are `segmint.SegmintError` (a
//! `ValueError`) with the library's one-line message.

mod clv;
mod compare;
mod predict;
mod retention;
mod run;
mod segments;

use std::collections::HashMap;
use std::path::PathBuf;

use arrow_array::ffi_stream::RecordBatchStreamReader;
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_pyarrow::{FromPyArrow, PyArrowType, Table};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use segmint::data::mapping::{MissingIds, TimeZone};
use segmint::data::{ColumnMap, TableKind, TableReader};
use segmint::progress::{NoProgress, Progress};

create_exception!(
    _native,
    SegmintError,
    PyValueError,
    "Bad input or parameters: the message names the table, row, column and value."
);

/// The library's error as a Python exception, on one line.
pub(crate) fn error(e: segmint::Error) -> PyErr {
    SegmintError::new_err(e.to_string().replace('\n', " "))
}

/// A table handed over from Python: a file path, or Arrow record batches read from a stream.
pub(crate) enum Input {
    Path(PathBuf),
    Batches(Vec<RecordBatch>),
}

impl Input {
    /// A `str`/`os.PathLike` path, or any object with `__arrow_c_stream__`.
    pub(crate) fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Input> {
        if let Ok(p) = obj.extract::<PathBuf>() {
            return Ok(Input::Path(p));
        }
        let reader = RecordBatchStreamReader::from_pyarrow_bound(obj)?;
        let schema = reader.schema();
        let mut batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SegmintError::new_err(format!("reading the Arrow stream: {e}")))?;
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(schema));
        }
        Ok(Input::Batches(batches))
    }

    /// Opens it as `kind` (the GIL is not needed).
    pub(crate) fn open(self, kind: TableKind, map: &ColumnMap) -> segmint::Result<TableReader> {
        match self {
            Input::Path(p) => TableReader::open(kind, &p, map),
            Input::Batches(b) => TableReader::from_batches(kind, kind.name(), b, map),
        }
    }
}

pub(crate) fn optional_input(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Input>> {
    obj.filter(|o| !o.is_none()).map(Input::from_py).transpose()
}

/// The reading options of the keyword arguments shared by every function.
pub(crate) fn read_options(
    columns: Option<HashMap<String, String>>,
    timestamp_format: Option<&str>,
    timezone: Option<&str>,
    missing_ids: Option<&str>,
) -> PyResult<ColumnMap> {
    let mut map = ColumnMap::new();
    for (canonical, source) in columns.unwrap_or_default() {
        map.parse_cli(&format!("{canonical}={source}"))
            .map_err(error)?;
    }
    if let Some(f) = timestamp_format {
        map.parse_time_formats(f).map_err(error)?;
    }
    if let Some(z) = timezone {
        map.timezone = Some(TimeZone::parse(z).map_err(error)?);
    }
    if let Some(m) = missing_ids {
        map.missing_ids = MissingIds::parse(m).map_err(error)?;
    }
    Ok(map)
}

/// A `YYYY-MM-DD` parameter as days since 1970-01-01.
pub(crate) fn day(name: &str, value: Option<&str>) -> PyResult<Option<i64>> {
    value
        .map(|d| {
            segmint::data::timestamp::parse_date(d).ok_or_else(|| {
                SegmintError::new_err(format!("{name} {d:?}: expected a date YYYY-MM-DD"))
            })
        })
        .transpose()
}

/// Phases on stderr when `progress=True` (no bars: notebooks render them badly).
struct Phases;

impl Progress for Phases {
    fn begin(&self, what: &str, _total: u64) {
        eprintln!("segmint: {what}");
    }
}

pub(crate) fn progress(on: bool) -> &'static dyn Progress {
    if on {
        &Phases
    } else {
        &NoProgress
    }
}

pub(crate) fn table(batch: RecordBatch) -> PyResult<PyArrowType<Table>> {
    let schema = batch.schema();
    Table::try_new(vec![batch], schema)
        .map(PyArrowType)
        .map_err(|e| SegmintError::new_err(e.to_string()))
}

/// The customer mart of a transactions table (one row per customer with a purchase).
#[pyfunction]
#[pyo3(signature = (transactions, *, ref_date=None, columns=None, timestamp_format=None, timezone=None, missing_ids=None, progress=false))]
#[allow(clippy::too_many_arguments)]
fn mart(
    py: Python<'_>,
    transactions: &Bound<'_, PyAny>,
    ref_date: Option<&str>,
    columns: Option<HashMap<String, String>>,
    timestamp_format: Option<&str>,
    timezone: Option<&str>,
    missing_ids: Option<&str>,
    progress: bool,
) -> PyResult<PyArrowType<Table>> {
    let map = read_options(columns, timestamp_format, timezone, missing_ids)?;
    let ref_day = day("ref_date", ref_date)?;
    let input = Input::from_py(transactions)?;
    let batch = py
        .detach(|| {
            let tx = input.open(TableKind::Transactions, &map)?;
            let params = segmint::mart::MartParams {
                ref_day,
                ..Default::default()
            };
            segmint::mart::build_mart(&tx, &params, self::progress(progress))?.into_record_batch()
        })
        .map_err(error)?;
    table(batch)
}

/// RFM scores and rule-based segments, one row per customer.
#[pyfunction]
#[pyo3(signature = (transactions, customers=None, *, rules="default", bins=5, ties="first", ref_date=None, columns=None, timestamp_format=None, timezone=None, missing_ids=None, progress=false))]
#[allow(clippy::too_many_arguments)]
fn rfm(
    py: Python<'_>,
    transactions: &Bound<'_, PyAny>,
    customers: Option<&Bound<'_, PyAny>>,
    rules: &str,
    bins: u32,
    ties: &str,
    ref_date: Option<&str>,
    columns: Option<HashMap<String, String>>,
    timestamp_format: Option<&str>,
    timezone: Option<&str>,
    missing_ids: Option<&str>,
    progress: bool,
) -> PyResult<PyArrowType<Table>> {
    use segmint::segment::analysis::{analyze, RfmAnalysisParams};
    use segmint::segment::rules::RuleSet;
    use segmint::segment::{RfmParams, Ties};
    let map = read_options(columns, timestamp_format, timezone, missing_ids)?;
    let ties: Ties = segmint::params::choice("ties", ties).map_err(error)?;
    let params = RfmAnalysisParams {
        scoring: RfmParams { bins, ties },
        ref_day: day("ref_date", ref_date)?,
        profile: false,
    };
    let rules = RuleSet::load(rules).map_err(error)?;
    let tx = Input::from_py(transactions)?;
    let customers = optional_input(customers)?;
    let batch = py
        .detach(|| {
            let tx = tx.open(TableKind::Transactions, &map)?;
            let customers = customers
                .map(|c| c.open(TableKind::Customers, &map))
                .transpose()?;
            let r = analyze(
                &tx,
                customers.as_ref(),
                &rules,
                &params,
                self::progress(progress),
            )?;
            r.rfm.to_record_batch()
        })
        .map_err(error)?;
    table(batch)
}

/// Validates the tables; the report as JSON text (`validate-report/1`).
#[pyfunction]
#[pyo3(signature = (transactions, customers=None, events=None, *, columns=None, timestamp_format=None, timezone=None, missing_ids=None))]
#[allow(clippy::too_many_arguments)]
fn validate(
    py: Python<'_>,
    transactions: &Bound<'_, PyAny>,
    customers: Option<&Bound<'_, PyAny>>,
    events: Option<&Bound<'_, PyAny>>,
    columns: Option<HashMap<String, String>>,
    timestamp_format: Option<&str>,
    timezone: Option<&str>,
    missing_ids: Option<&str>,
) -> PyResult<String> {
    use segmint::data::validate::{validate_tables, ValidateParams};
    let map = read_options(columns, timestamp_format, timezone, missing_ids)?;
    let tx = Input::from_py(transactions)?;
    let customers = optional_input(customers)?;
    let events = optional_input(events)?;
    let report = py
        .detach(|| {
            let tx = tx.open(TableKind::Transactions, &map)?;
            let customers = customers
                .map(|c| c.open(TableKind::Customers, &map))
                .transpose()?;
            let events = events
                .map(|e| e.open(TableKind::Events, &map))
                .transpose()?;
            validate_tables(
                customers.as_ref(),
                &tx,
                events.as_ref(),
                &ValidateParams::default(),
                &NoProgress,
            )
        })
        .map_err(error)?;
    serde_json::to_string(&report).map_err(|e| SegmintError::new_err(e.to_string()))
}

/// Checks that per-customer columns have one length.
pub(crate) fn same_length(columns: &[(&str, usize)]) -> PyResult<()> {
    let n = columns[0].1;
    match columns.iter().find(|(_, len)| *len != n) {
        Some((name, len)) => Err(SegmintError::new_err(format!(
            "{name} has {len} values, {} has {n}",
            columns[0].0
        ))),
        None => Ok(()),
    }
}

/// A params struct from its defaults and the JSON object of the keyword arguments given.
pub(crate) fn overrides<T: serde::Serialize + serde::de::DeserializeOwned>(
    defaults: &T,
    json: Option<&str>,
) -> PyResult<T> {
    let v: serde_json::Value = serde_json::from_str(json.unwrap_or("{}"))
        .map_err(|e| SegmintError::new_err(e.to_string()))?;
    segmint::params::with_overrides(defaults, &v).map_err(error)
}

/// segmint's version.
#[pyfunction]
fn version() -> &'static str {
    segmint::VERSION
}

#[pymodule]
#[pyo3(name = "_native")]
fn segmint_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SegmintError", m.py().get_type::<SegmintError>())?;
    m.add_function(wrap_pyfunction!(mart, m)?)?;
    m.add_function(wrap_pyfunction!(rfm, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(clv::clv_summary, m)?)?;
    m.add_function(wrap_pyfunction!(clv::transaction_fit, m)?)?;
    m.add_function(wrap_pyfunction!(clv::transaction_predict, m)?)?;
    m.add_function(wrap_pyfunction!(clv::gamma_gamma_fit, m)?)?;
    m.add_function(wrap_pyfunction!(clv::gamma_gamma_expected, m)?)?;
    m.add_function(wrap_pyfunction!(clv::customer_lifetime_value, m)?)?;
    m.add_function(wrap_pyfunction!(clv::covariate_fit, m)?)?;
    m.add_function(wrap_pyfunction!(clv::bgbb_fit, m)?)?;
    m.add_function(wrap_pyfunction!(clv::bgbb_predict, m)?)?;
    m.add_function(wrap_pyfunction!(retention::sbg_fit, m)?)?;
    m.add_function(wrap_pyfunction!(retention::sbg_predict, m)?)?;
    m.add_function(wrap_pyfunction!(retention::retention, m)?)?;
    m.add_function(wrap_pyfunction!(compare::compare, m)?)?;
    m.add_class::<compare::PyComparison>()?;
    m.add_function(wrap_pyfunction!(segments::kmeans_fit, m)?)?;
    m.add_function(wrap_pyfunction!(segments::kmeans_predict, m)?)?;
    m.add_function(wrap_pyfunction!(segments::profile, m)?)?;
    m.add_function(wrap_pyfunction!(segments::migrate, m)?)?;
    m.add_function(wrap_pyfunction!(segments::discover, m)?)?;
    m.add_function(wrap_pyfunction!(predict::predict, m)?)?;
    m.add_function(wrap_pyfunction!(predict::score, m)?)?;
    m.add_function(wrap_pyfunction!(predict::contributions, m)?)?;
    m.add_function(wrap_pyfunction!(predict::section_html, m)?)?;
    m.add_function(wrap_pyfunction!(run::run, m)?)?;
    m.add_function(wrap_pyfunction!(run::demo, m)?)?;
    Ok(())
}
