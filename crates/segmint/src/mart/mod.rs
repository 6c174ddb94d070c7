//! The customer mart: one row per customer with at least one purchase row, sorted by
//! `customer_id`, exactly the `mart` task of `../shared/bench/README.md`:
//!
//! | column | definition |
//! | --- | --- |
//! | `recency_days` | ref_date - day(last purchase) |
//! | `frequency` | distinct `order_id` among purchase rows (`amount > 0`) |
//! | `monetary` | round(sum of `amount` over all rows, returns included, 2) |
//! | `first_purchase`, `last_purchase` | min / max `timestamp` of purchase rows |
//! | `tenure_days` | ref_date - day(first purchase) |
//! | `avg_order_value` | monetary / frequency |
//! | `total_quantity` | purchase quantity minus returned quantity |
//! | `primary_region`, `preferred_payment` | most frequent value among purchase rows; ties: smallest in byte order |
//!
//! day(ts) is the UTC date; the reference date is `--ref-date` or day(max timestamp of all
//! transaction rows) + 1, never the clock.
//!
//! Exactness: amounts that are whole cents (the usual case) are summed as integer cents, so the
//! result is the float64 nearest to the exact sum, as in pandas, DuckDB and Polars whatever the
//! summation order. A customer with a non-cent amount is summed with Neumaier compensation and
//! rounded half-to-even like pandas. Distinct orders are counted by 64-bit hashes of `order_id`
//! within one customer (a collision needs ~2^32 orders of one customer).

mod aggregate;
mod columns;
mod merge;

use arrow_array::StringArray;
use rayon::prelude::*;

use crate::data::reader::TableReader;
use crate::data::timestamp::US_PER_DAY;
use crate::error::{Error, Result};
use crate::progress::Progress;
pub(crate) use aggregate::Money;
use aggregate::Unit;
pub use columns::mart_schema;
use columns::{Columns, Shape};
use merge::Part;

/// Parameters of the mart.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MartParams {
    /// Reference date as days since 1970-01-01; `None`: day of the last transaction + 1.
    pub ref_day: Option<i64>,
    /// Which columns to compute.
    #[serde(default)]
    pub columns: MartColumns,
    /// Only transaction rows before this instant (microseconds since the epoch, UTC) count:
    /// the mart as it was then (see `segmint migrate`). `None`: all rows.
    #[serde(default)]
    pub before_us: Option<i64>,
}

/// The columns [`build_mart`] computes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MartColumns {
    /// Every column of the mart.
    #[default]
    All,
    /// Only what recency, frequency, monetary, tenure and order value need: `quantity`,
    /// `region` and `payment_method` are not read, and `total_quantity`, `primary_region` and
    /// `preferred_payment` are `None`. About a third faster; what `segmint rfm` uses when
    /// its rules do not refer to those columns.
    Rfm,
}

/// The computed mart, column by column, sorted by `customer_id`.
#[derive(Debug, Clone, Default)]
pub struct Mart {
    /// Reference day (days since 1970-01-01).
    pub ref_day: i64,
    /// Customer ids, ascending.
    pub customer_id: Vec<String>,
    /// Days from the last purchase to the reference day.
    pub recency_days: Vec<i64>,
    /// Distinct orders with a purchase row.
    pub frequency: Vec<i64>,
    /// Net spend (returns included), rounded to cents.
    pub monetary: Vec<f64>,
    /// First purchase (microseconds since the epoch, UTC).
    pub first_purchase_us: Vec<i64>,
    /// Last purchase (microseconds since the epoch, UTC).
    pub last_purchase_us: Vec<i64>,
    /// Days from the first purchase to the reference day.
    pub tenure_days: Vec<i64>,
    /// `monetary / frequency`.
    pub avg_order_value: Vec<f64>,
    /// `None` when the input has no `quantity` column.
    pub total_quantity: Option<Vec<i64>>,
    /// `None` per customer when all the region values are null; the whole column `None` when the
    /// input has no `region` column.
    pub primary_region: Option<Categorical>,
    /// Most frequent payment method among purchase rows (`None` without the column).
    pub preferred_payment: Option<Categorical>,
    /// Transaction rows read.
    pub rows_read: u64,
}

impl Mart {
    /// Customers.
    pub fn len(&self) -> usize {
        self.customer_id.len()
    }
    /// No customer.
    pub fn is_empty(&self) -> bool {
        self.customer_id.is_empty()
    }

    /// Names of [`Mart::numeric_columns`].
    pub const NUMERIC: [&'static str; 6] = [
        "recency_days",
        "frequency",
        "monetary",
        "tenure_days",
        "avg_order_value",
        "total_quantity",
    ];

    /// The numeric columns as f64, in [`Mart::NUMERIC`] order (`total_quantity` NaN without a
    /// quantity column): the mart part of every model's feature table.
    pub fn numeric_columns(&self) -> Vec<Vec<f64>> {
        vec![
            self.recency_days.iter().map(|&v| v as f64).collect(),
            self.frequency.iter().map(|&v| v as f64).collect(),
            self.monetary.clone(),
            self.tenure_days.iter().map(|&v| v as f64).collect(),
            self.avg_order_value.clone(),
            match &self.total_quantity {
                Some(q) => q.iter().map(|&v| v as f64).collect(),
                None => vec![f64::NAN; self.len()],
            },
        ]
    }
}

/// A string column stored as codes into a small dictionary (regions, payment methods).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Categorical {
    /// The distinct values.
    pub values: Vec<String>,
    /// Per customer, the index of its value (`None`: no value).
    pub codes: Vec<Option<u32>>,
}

impl Categorical {
    /// The value of row `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.codes[i].map(|c| self.values[c as usize].as_str())
    }
    /// Customers.
    pub fn len(&self) -> usize {
        self.codes.len()
    }
    /// No customer.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }
    fn to_array(&self) -> StringArray {
        self.codes
            .iter()
            .map(|c| c.map(|c| self.values[c as usize].as_str()))
            .collect()
    }
}

/// The columns the mart reads from `transactions`.
pub const MART_INPUT_COLUMNS: &[&str] = &[
    "customer_id",
    "order_id",
    "timestamp",
    "amount",
    "quantity",
    "region",
    "payment_method",
];

/// Builds the mart from a transactions table. Runs on the current rayon pool.
pub fn build_mart(tx: &TableReader, params: &MartParams, progress: &dyn Progress) -> Result<Mart> {
    progress.begin("reading transactions", tx.num_rows_hint().unwrap_or(0));
    let input_columns = match params.columns {
        MartColumns::All => MART_INPUT_COLUMNS,
        MartColumns::Rfm => &MART_INPUT_COLUMNS[..4],
    };
    let units = tx.fold_with(
        input_columns,
        &["customer_id"],
        || Unit::new(params.before_us.unwrap_or(i64::MAX)),
        |u, c| u.fold(c),
        progress,
    )?;
    progress.finish();
    progress.begin("merging customers", 0);
    let rows_read: u64 = units.iter().map(|u| u.rows).sum();
    if rows_read == 0 {
        return Err(Error::Empty {
            path: tx.path.clone(),
            message: "no data rows (header only?)".into(),
        });
    }
    let max_ts = units.iter().map(|u| u.max_ts).max().unwrap_or(i64::MIN);
    let ref_day = params.ref_day.unwrap_or(max_ts.div_euclid(US_PER_DAY) + 1);
    let (units, region_names, pay_names) = merge::global_dictionaries(units);
    let all = params.columns == MartColumns::All;
    let shape = Shape {
        ref_day,
        has_q: all && tx.has("quantity"),
        has_r: all && tx.has("region"),
        has_p: all && tx.has("payment_method"),
        region_names: &region_names,
        pay_names: &pay_names,
    };
    // Each part's customers get their rows of the mart columns, filled in place in parallel:
    // counts first, so the parts are never concatenated.
    let parts = merge::into_parts(units);
    let counts: Vec<usize> = parts.par_iter().map(Part::customers).collect();
    let n: usize = counts.iter().sum();
    if n == 0 {
        return Err(empty_mart_error(tx, params));
    }
    let mut c = Columns::with_len(n, &shape);
    c.fill(parts, &counts, &shape);
    let m = c.into_mart(&shape, rows_read, region_names.clone(), pay_names.clone());
    progress.finish();
    Ok(m)
}

/// No customer has a purchase row (before `params.before_us`).
fn empty_mart_error(tx: &TableReader, params: &MartParams) -> Error {
    let when = match params.before_us {
        Some(t) => format!(" before {}", crate::data::timestamp::format_timestamp_us(t)),
        None => String::new(),
    };
    Error::Data(format!(
        "{}: no purchase rows (amount > 0){when}: the mart would be empty",
        tx.path.display()
    ))
}

/// The summary of a mart (`segmint mart --json`, `mart` in `summary.json`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MartSummary {
    /// [`MartSummary::FORMAT`].
    #[serde(default)]
    pub format: String,
    /// `mart`.
    pub task: String,
    /// Where it was computed (`segmint` or `spark`).
    pub engine: String,
    /// Customers with a purchase.
    pub customers: usize,
    /// Transaction rows read (`None` when Spark read them).
    pub rows: Option<u64>,
    /// Reference date (YYYY-MM-DD).
    pub ref_date: String,
    /// Sum of `monetary` (net spend), summed in cents.
    pub monetary_total: f64,
    /// Sum of `frequency` (orders).
    pub frequency_total: i64,
    /// Wall time.
    pub seconds: f64,
    /// Threads used.
    pub threads: usize,
    /// Where the mart was written.
    pub output: Option<String>,
    /// Where Spark also wrote it (`--spark-write`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_write: Option<String>,
}

impl MartSummary {
    /// The format written in `format`.
    pub const FORMAT: &'static str = "mart-summary/1";

    /// One line: customers, rows, reference date, monetary total, time.
    pub fn line(&self) -> String {
        format!(
            "mart: {} customers from {} transaction rows (reference date {}), monetary total {}, in {:.2}s",
            self.customers,
            self.rows.map_or_else(|| "?".into(), |r| r.to_string()),
            self.ref_date,
            self.monetary_total,
            self.seconds
        )
    }
}

impl Mart {
    /// The summary of this mart, computed in `seconds` (engine `segmint`, no output yet).
    pub fn summary(&self, seconds: f64) -> MartSummary {
        let cents: i128 = self
            .monetary
            .iter()
            .map(|m| (m * 100.0).round() as i128)
            .sum();
        MartSummary {
            format: MartSummary::FORMAT.into(),
            task: "mart".into(),
            engine: "segmint".into(),
            customers: self.len(),
            rows: Some(self.rows_read),
            ref_date: crate::data::timestamp::format_date(self.ref_day),
            monetary_total: cents as f64 / 100.0,
            frequency_total: self.frequency.iter().sum(),
            seconds: (seconds * 10_000.0).round() / 10_000.0,
            threads: rayon::current_num_threads(),
            output: None,
            spark_write: None,
        }
    }

    /// The Parquet metadata of a written mart built from `source`.
    pub fn metadata(&self, source: &std::path::Path) -> Vec<(String, String)> {
        vec![
            ("segmint.task".to_string(), "mart".to_string()),
            (
                "segmint.ref_date".to_string(),
                crate::data::timestamp::format_date(self.ref_day),
            ),
            ("segmint.source".to_string(), source.display().to_string()),
        ]
    }
}
