//! A per-customer summary read as it is (`frequency, recency, T[, monetary_value]`, as
//! lifetimes' `summary_data_from_transaction_data`, `cdnow_customers_summary.csv` or
//! pymc-marketing's `clv_quickstart.csv` write it), for data that arrive summarised, and the
//! BG/BB analysis of such a table in discrete periods (`segmint clv --summary FILE --models
//! bgbb`).
//!
//! ```no_run
//! use segmint::clv::summary_table::{analyze_bgbb, BgBbParams, SummaryTable};
//!
//! let table = SummaryTable::read("donations.csv".as_ref())?;
//! let a = analyze_bgbb(&table, &BgBbParams::default())?;
//! println!("alpha {:.3}, LL {:.1}", a.model.alpha, a.model.log_likelihood);
//! # Ok::<(), segmint::Error>(())
//! ```

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use serde::{Deserialize, Serialize};

use super::bgbb::BgBb;
use super::{Summary, TimeUnit};
use crate::data::columns::{number_column, read_columns, texts};
use crate::data::reader::TableReader;
use crate::data::{ColumnMap, TableKind};
use crate::error::{Error, Result};

/// Accepted names of the columns, first match wins (case-sensitive, then case-insensitive).
const ID_NAMES: [&str; 3] = ["customer_id", "ID", "id"];
const T_NAMES: [&str; 5] = ["T", "n_periods", "periods", "n", "t"];
const WEIGHT_NAMES: [&str; 3] = ["weights", "weight", "count"];

/// A per-customer summary table.
#[derive(Debug, Clone, Default)]
pub struct SummaryTable {
    /// The id column's name and values, when the table has one.
    pub customer_id: Option<(String, Vec<String>)>,
    /// Repeat purchases (`frequency`).
    pub frequency: Vec<f64>,
    /// Time of the last purchase since the first (`recency`).
    pub recency: Vec<f64>,
    /// Age since the first purchase (`T`), or the purchase opportunities after the first one
    /// (`n_periods`, `periods`) in discrete time.
    pub t: Vec<f64>,
    /// The name `t` was read from.
    pub t_column: String,
    /// Mean order value of the repeat purchases, when present.
    pub monetary_value: Option<Vec<f64>>,
    /// How many customers each row stands for (`weights`, `weight` or `count`), when present.
    pub weights: Option<Vec<f64>>,
}

/// The first of `names` that is a column of the reader (exact, then ignoring case).
fn find(reader: &TableReader, names: &[&str]) -> Option<String> {
    let cols = reader.column_names();
    names
        .iter()
        .find(|n| cols.contains(n))
        .map(|n| n.to_string())
        .or_else(|| {
            names.iter().find_map(|n| {
                cols.iter()
                    .find(|c| c.eq_ignore_ascii_case(n))
                    .map(|c| c.to_string())
            })
        })
}

impl SummaryTable {
    /// Reads a summary table (Parquet, CSV or any format segmint reads). Needs `frequency`,
    /// `recency` and one of `T`, `n_periods`, `periods`; reads `customer_id` (or `ID`),
    /// `monetary_value` and `weights` (or `count`) when present. Missing values are errors
    /// naming the row.
    pub fn read(path: &Path) -> Result<SummaryTable> {
        let reader = TableReader::open(TableKind::Other, path, &ColumnMap::new())?;
        let need = |names: &[&str]| {
            find(&reader, names).ok_or_else(|| {
                Error::format(
                    path,
                    format!(
                        "a per-customer summary needs a column {} (found {})",
                        names.join(" or "),
                        reader.column_names().join(", ")
                    ),
                )
            })
        };
        let f = need(&["frequency"])?;
        let r = need(&["recency"])?;
        let t = need(&T_NAMES)?;
        let id = find(&reader, &ID_NAMES);
        let m = find(&reader, &["monetary_value"]);
        let w = find(&reader, &WEIGHT_NAMES);
        let mut wanted: Vec<&str> = vec![&f, &r, &t];
        wanted.extend([&id, &m, &w].into_iter().flatten().map(String::as_str));
        let cols = read_columns(&reader, &wanted)?;
        let col = |name: &str| &cols[wanted.iter().position(|w| *w == name).expect("wanted")];
        let numbers = |name: &str| -> Result<Vec<f64>> {
            let v = number_column(path, name, col(name))?;
            match v.iter().position(|x| !x.is_finite()) {
                Some(i) => Err(Error::Value {
                    path: path.to_path_buf(),
                    row: i as u64 + 1,
                    column: name.to_string(),
                    value: "null".into(),
                    problem: "a missing value in a summary column".into(),
                }),
                None => Ok(v),
            }
        };
        let table = SummaryTable {
            customer_id: id.as_ref().map(|name| {
                let ids = texts(col(name))
                    .into_iter()
                    .map(Option::unwrap_or_default)
                    .collect();
                (name.clone(), ids)
            }),
            frequency: numbers(&f)?,
            recency: numbers(&r)?,
            t: numbers(&t)?,
            t_column: t.clone(),
            monetary_value: m.as_deref().map(numbers).transpose()?,
            weights: w.as_deref().map(numbers).transpose()?,
        };
        if table.frequency.is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
                message: "no customers in the summary".into(),
            });
        }
        Ok(table)
    }

    /// The table as a [`Summary`] in `time_unit` for the continuous-time models (BG/NBD,
    /// Pareto/NBD, Gamma-Gamma): one row per customer (no `weights`), a `monetary_value`
    /// column for Gamma-Gamma; ids from the id column or the row numbers.
    pub fn to_summary(&self, time_unit: TimeUnit) -> Result<Summary> {
        if self.weights.is_some() {
            return Err(Error::Data(
                "a weights column groups customers into patterns, which only BG/BB (--models \
                 bgbb) takes: the continuous-time models need one row per customer"
                    .into(),
            ));
        }
        let monetary_value = self.monetary_value.clone().ok_or_else(|| {
            Error::Data(
                "Gamma-Gamma (order value and CLV) needs a monetary_value column in the summary \
                 (or use --models bgbb for discrete-time data)"
                    .into(),
            )
        })?;
        let ids: Vec<String> = match &self.customer_id {
            Some((_, ids)) => ids.clone(),
            None => (1..=self.len()).map(|i| i.to_string()).collect(),
        };
        Ok(Summary {
            time_unit,
            customer_id: StringArray::from(ids),
            frequency: self.frequency.clone(),
            recency: self.recency.clone(),
            t: self.t.clone(),
            monetary_value,
            first_day: vec![0; self.len()],
            from_table: true,
            ..Default::default()
        })
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.frequency.len()
    }

    /// No row.
    pub fn is_empty(&self) -> bool {
        self.frequency.is_empty()
    }
}

/// Settings of [`analyze_bgbb`], with their defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BgBbParams {
    /// Opportunities ahead of the expected purchases (default 5, the paper's holdout).
    pub horizon: f64,
    /// Discount rate per opportunity of the DERT (default 0.1).
    pub discount_rate: f64,
    /// L2 penalty on the parameters (default 0).
    pub penalizer: f64,
}

impl Default for BgBbParams {
    fn default() -> Self {
        BgBbParams {
            horizon: 5.0,
            discount_rate: 0.1,
            penalizer: 0.0,
        }
    }
}

impl BgBbParams {
    /// Checks the parameters; the error names the parameter and its value.
    pub fn check(&self) -> Result<()> {
        let h = self.horizon;
        if !(h >= 0.0 && h.fract() == 0.0 && h <= 1e6) {
            return Err(Error::param(
                "horizon",
                format!("BG/BB counts whole opportunities: a whole number >= 0, got {h}"),
            ));
        }
        let d = self.discount_rate;
        if !(d > 0.0 && d.is_finite()) {
            return Err(Error::param(
                "discount_rate",
                format!("the DERT needs a rate > 0, got {d}"),
            ));
        }
        if !(self.penalizer >= 0.0 && self.penalizer.is_finite()) {
            return Err(Error::param(
                "penalizer",
                format!("must be >= 0, got {}", self.penalizer),
            ));
        }
        Ok(())
    }
}

/// The BG/BB fit of a summary table and its per-row predictions.
#[derive(Debug, Clone)]
pub struct BgBbAnalysis {
    /// The parameters it ran with.
    pub params: BgBbParams,
    /// The fitted model.
    pub model: BgBb,
    /// P(alive at the next opportunity) per row.
    pub p_alive: Vec<f64>,
    /// Expected purchases in the next `horizon` opportunities per row.
    pub expected_purchases: Vec<f64>,
    /// Discounted expected residual transactions per row.
    pub dert: Vec<f64>,
}

/// Fits BG/BB to the table (`t` counts the opportunities after the first purchase) and
/// predicts for each row.
pub fn analyze_bgbb(table: &SummaryTable, params: &BgBbParams) -> Result<BgBbAnalysis> {
    params.check()?;
    let (x, tx, n) = (&table.frequency, &table.recency, &table.t);
    let model = BgBb::fit(x, tx, n, table.weights.as_deref(), params.penalizer)?;
    let each = |f: &dyn Fn(usize) -> f64| (0..table.len()).map(f).collect::<Vec<f64>>();
    Ok(BgBbAnalysis {
        p_alive: each(&|i| model.p_alive(1.0, x[i], tx[i], n[i])),
        expected_purchases: each(&|i| model.expected_purchases(params.horizon, x[i], tx[i], n[i])),
        dert: each(&|i| model.dert(params.discount_rate, x[i], tx[i], n[i])),
        model,
        params: params.clone(),
    })
}

impl BgBbAnalysis {
    /// The table with the predictions: the id (when the table has one), `frequency,
    /// recency, n_periods`, `weights` (when present), `p_alive, expected_purchases, dert`.
    pub fn to_record_batch(&self, table: &SummaryTable) -> Result<RecordBatch> {
        let f = |v: &[f64]| -> ArrayRef { Arc::new(Float64Array::from(v.to_vec())) };
        let mut cols: Vec<(String, ArrayRef)> = Vec::new();
        if let Some((name, ids)) = &table.customer_id {
            cols.push((name.clone(), Arc::new(StringArray::from(ids.clone()))));
        }
        cols.push(("frequency".into(), f(&table.frequency)));
        cols.push(("recency".into(), f(&table.recency)));
        cols.push(("n_periods".into(), f(&table.t)));
        if let Some(w) = &table.weights {
            cols.push(("weights".into(), f(w)));
        }
        cols.push(("p_alive".into(), f(&self.p_alive)));
        cols.push(("expected_purchases".into(), f(&self.expected_purchases)));
        cols.push(("dert".into(), f(&self.dert)));
        RecordBatch::try_from_iter(cols).map_err(|e| Error::Data(e.to_string()))
    }

    /// Parameters, fit and totals as JSON (the metrics file's `bgbb` entry and its settings).
    pub fn to_json(&self, table: &SummaryTable) -> serde_json::Value {
        let m = &self.model;
        let (customers, purchases, dert, p_alive) = self.totals(table);
        serde_json::json!({
            "task": "clv",
            "input": "summary",
            "prediction_model": "bgbb",
            "bgbb": {
                "alpha": m.alpha, "beta": m.beta, "gamma": m.gamma, "delta": m.delta,
                "log_likelihood": m.log_likelihood,
                "customers": m.customers, "patterns": m.patterns,
                "penalizer": m.penalizer,
                "estimates": m.estimates, "diagnostics": m.diagnostics,
            },
            "predictions": {
                "horizon_opportunities": self.params.horizon,
                "discount_rate": self.params.discount_rate,
                "expected_purchases_new_customer": m.expected_purchases_new(self.params.horizon),
                "customers": customers,
                "p_alive_mean": p_alive,
                "expected_purchases_total": purchases,
                "dert_total": dert,
            },
        })
    }

    /// Totals weighted by the table's weights: (customers, expected purchases, DERT), and the
    /// mean P(alive).
    pub fn totals(&self, table: &SummaryTable) -> (f64, f64, f64, f64) {
        let w = |i: usize| table.weights.as_ref().map_or(1.0, |w| w[i]);
        let n: f64 = (0..table.len()).map(w).sum();
        let sum = |v: &[f64]| (0..v.len()).map(|i| w(i) * v[i]).sum::<f64>();
        (
            n,
            sum(&self.expected_purchases),
            sum(&self.dert),
            sum(&self.p_alive) / n,
        )
    }
}
