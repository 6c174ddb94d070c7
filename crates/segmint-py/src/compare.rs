//! `segmint.compare`: where one group beats another, as the `segmint compare` command finds it.

use std::collections::HashMap;

use arrow_pyarrow::{PyArrowType, Table};
use pyo3::prelude::*;
use segmint::data::TableKind;
use segmint::uplift::export::{routing_json, routing_python, routing_sql, ColumnNames, Dialect};
use segmint::uplift::{compare as run_compare, CompareData, CompareParams, Comparison};

use crate::{error, overrides, progress, read_options, table, Input, SegmintError};

/// A comparison: its rules, each customer's assignment and the routing as code.
#[pyclass(name = "Comparison", module = "segmint._native", frozen)]
pub struct PyComparison {
    cmp: Comparison,
    names: ColumnNames,
    id_column: String,
    notes: Vec<String>,
}

#[pymethods]
impl PyComparison {
    /// Every validated rule, in the order of the top table.
    fn rules(&self) -> PyResult<PyArrowType<Table>> {
        table(self.cmp.rules_batch().map_err(error)?)
    }

    /// Each customer's split, predictions, rule and recommended group.
    fn assignments(&self) -> PyResult<PyArrowType<Table>> {
        table(self.cmp.assignments_batch().map_err(error)?)
    }

    /// The routing as one SELECT in `dialect` (postgres, duckdb, spark) over `table`.
    #[pyo3(signature = (dialect="duckdb", table="customers"))]
    fn to_sql(&self, dialect: &str, table: &str) -> PyResult<String> {
        let d = Dialect::parse(dialect).ok_or_else(|| {
            SegmintError::new_err(format!(
                "dialect {dialect:?}: expected postgres, duckdb or spark"
            ))
        })?;
        routing_sql(d, &self.cmp, &self.names, table, &self.id_column).map_err(error)
    }

    /// The routing as a Python module with `route(row)` and `rule_id(row)`.
    fn to_python(&self) -> String {
        routing_python(&self.cmp, &self.names)
    }

    /// The routing as JSON (`routing.json`).
    fn routing_json(&self) -> String {
        routing_json(&self.cmp, &self.names)
    }

    /// The whole comparison as JSON (`rules.json`).
    fn json(&self) -> PyResult<String> {
        serde_json::to_string(&self.cmp).map_err(|e| SegmintError::new_err(e.to_string()))
    }

    /// With a control: `arms.json` and `policy.json` as JSON (`None` without one).
    fn arms_and_policy(&self) -> PyResult<Option<(String, String)>> {
        match (&self.cmp.arms, &self.cmp.policy) {
            (Some(a), Some(p)) => {
                let to = |r: serde_json::Result<String>| {
                    r.map_err(|e| SegmintError::new_err(e.to_string()))
                };
                Ok(Some((
                    to(serde_json::to_string(a))?,
                    to(serde_json::to_string(p))?,
                )))
            }
            _ => Ok(None),
        }
    }

    /// The printed summary of `segmint compare`.
    #[pyo3(signature = (top=10))]
    fn markdown(&self, top: usize) -> String {
        self.cmp.markdown(top)
    }

    /// The report section (HTML).
    fn html(&self) -> String {
        segmint::report::compare_section(&self.cmp).html()
    }

    /// Writes the files of `segmint compare --out DIR`.
    #[pyo3(signature = (out, table="customers"))]
    fn write(&self, out: std::path::PathBuf, table: &str) -> PyResult<()> {
        self.cmp
            .write_to(&out, &self.names, table, &self.id_column)
            .map_err(error)
    }

    /// What was left out (customers without a group or outcome, unusable columns).
    #[getter]
    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

/// Where does each group do better, on a customers table.
#[pyfunction]
#[pyo3(signature = (customers, group, outcome, *, features=None, exclude=Vec::new(), params=None, columns=None, timestamp_format=None, timezone=None, missing_ids=None, progress=false))]
#[allow(clippy::too_many_arguments)]
pub fn compare(
    py: Python<'_>,
    customers: &Bound<'_, PyAny>,
    group: &str,
    outcome: &str,
    features: Option<Vec<String>>,
    exclude: Vec<String>,
    params: Option<&str>,
    columns: Option<HashMap<String, String>>,
    timestamp_format: Option<&str>,
    timezone: Option<&str>,
    missing_ids: Option<&str>,
    progress: bool,
) -> PyResult<PyComparison> {
    let map = read_options(columns, timestamp_format, timezone, missing_ids)?;
    let p: CompareParams = overrides(&CompareParams::default(), params)?;
    p.check().map_err(error)?;
    let input = Input::from_py(customers)?;
    py.detach(|| {
        let customers = input.open(TableKind::Customers, &map)?;
        let data = CompareData::load(
            &customers,
            group,
            outcome,
            features.as_deref(),
            &exclude,
            self::progress(progress),
        )?;
        let mut notes = data.left_out_notes();
        notes.extend(customers.notes().iter().cloned());
        let cmp = run_compare(&data, &p, self::progress(progress))?;
        let names = customers.export_names();
        let id_column = names
            .get("customer_id")
            .cloned()
            .unwrap_or_else(|| "customer_id".into());
        Ok(PyComparison {
            cmp,
            names,
            id_column,
            notes,
        })
    })
    .map_err(error)
}
