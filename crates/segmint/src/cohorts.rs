//! Acquisition cohorts: customers grouped by the period of their first purchase (or of a date
//! column of the customers file, e.g. the signup date), and per cohort and period since
//! acquisition how many buy, how many orders and how much net revenue they bring.
//!
//! Definitions (the same in the pandas check of the tests, `testdata/reference/cohorts_pandas.py`):
//!
//! * Days are UTC days of the transaction timestamps. Periods are calendar months, quarters or
//!   ISO weeks (Monday to Sunday); `cohort` is the first day of the acquisition period and
//!   `period` counts periods from it (0 = the acquisition period).
//! * Cohort of a customer: the period of its first purchase row (`amount > 0`), or with
//!   `cohort_column` the period of that date. Customers without one (only returns; no value in
//!   the column or not in the customers file) are left out and counted.
//! * `customers`: the cohort's size (with `cohort_column`: every customer of the customers file
//!   with that date, buyers or not). `active`: customers of the cohort with a purchase row in
//!   the period; `retention` = active / customers. `orders`: distinct `order_id` of their purchase
//!   rows in the period (as the mart counts orders). `revenue`: the net amount of all their rows
//!   in the period (purchases minus returns, by the return row's own day; exact in cents),
//!   `revenue_per_customer` = revenue / customers and `cumulative_revenue_per_customer` the
//!   revenue of periods 0..=period (summed in cents) / customers (the empirical LTV curve). Rows dated before their customer's
//!   cohort start are left out and counted.
//! * Every period from 0 to the last one the data reach (the period of the last transaction
//!   row) is listed for every cohort, with zeros where nobody bought.
//! * The averaged curve weighs the cohorts by size: at each period, Σ active / Σ customers and
//!   Σ cumulative revenue / Σ customers over the cohorts observed that long.
//!
//! ```no_run
//! use segmint::cohorts::{analyze, CohortParams, Period};
//! use segmint::data::{ColumnMap, Inputs, TableKind};
//! use segmint::progress::NoProgress;
//!
//! let inputs = Inputs::from_dir("data".as_ref());
//! let tx = inputs.open(TableKind::Transactions, &ColumnMap::new())?;
//! let params = CohortParams { period: Period::Month, ..Default::default() };
//! let c = analyze(&tx, None, &params, &NoProgress)?;
//! for p in &c.curve {
//!     println!("month {}: {:.1}% buy", p.period, 100.0 * p.retention);
//! }
//! c.write("cohorts".as_ref(), false)?;
//! # Ok::<(), segmint::Error>(())
//! ```

use std::hash::BuildHasher;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::customers::{AttrColumn, AttrKind, Attributes};
use crate::data::keys::KeyTable;
use crate::data::reader::{Ids, TableReader};
use crate::data::timestamp::{civil_from_days, days_from_civil, format_date, US_PER_DAY};
use crate::error::{Error, Result};
use crate::mart::Money;
use crate::progress::Progress;

/// The length of a cohort period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// ISO weeks, Monday to Sunday.
    Week,
    /// Calendar months.
    #[default]
    Month,
    /// Calendar quarters.
    Quarter,
}

impl Period {
    /// `week`, `month` or `quarter`.
    pub fn name(self) -> &'static str {
        match self {
            Period::Week => "week",
            Period::Month => "month",
            Period::Quarter => "quarter",
        }
    }

    /// The index of the period holding `day` (days since 1970-01-01): consecutive periods have
    /// consecutive indices.
    pub fn index(self, day: i64) -> i64 {
        match self {
            // 1970-01-01 is a Thursday: day + 3 counts from the Monday before
            Period::Week => (day + 3).div_euclid(7),
            Period::Month => {
                let (y, m, _) = civil_from_days(day);
                y * 12 + m as i64 - 1
            }
            Period::Quarter => Period::Month.index(day).div_euclid(3),
        }
    }

    /// The first day of the period with index `index`.
    pub fn start(self, index: i64) -> i64 {
        match self {
            Period::Week => index * 7 - 3,
            Period::Month => {
                days_from_civil(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1)
            }
            Period::Quarter => Period::Month.start(index * 3),
        }
    }
}

/// Settings of [`analyze`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CohortParams {
    /// Period length (month by default).
    pub period: Period,
    /// A date column of the customers file that defines the cohort (e.g. `signup_date`)
    /// instead of the first purchase.
    #[serde(default)]
    pub cohort_column: Option<String>,
    /// A customer column that splits the cohorts (any column; its values as text, a missing
    /// value as `(missing)`).
    #[serde(default)]
    pub by: Option<String>,
}

/// One cohort in one period since acquisition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CohortRow {
    /// The `by` group (`None` without `by`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// First day of the acquisition period (days since 1970-01-01).
    pub cohort: i64,
    /// Periods since acquisition (0 = the acquisition period).
    pub period: u32,
    /// Customers in the cohort.
    pub customers: u64,
    /// Of them, those with a purchase in the period.
    pub active: u64,
    /// active / customers.
    pub retention: f64,
    /// Distinct orders of their purchase rows in the period.
    pub orders: u64,
    /// Net amount of their rows in the period.
    pub revenue: f64,
    /// revenue / customers.
    pub revenue_per_customer: f64,
    /// Revenue of periods 0..=period (summed in cents) / customers.
    pub cumulative_revenue_per_customer: f64,
}

/// The cohorts averaged, weighted by size, at one period since acquisition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CurvePoint {
    /// The `by` group (`None` without `by`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Periods since acquisition.
    pub period: u32,
    /// Cohorts observed that long.
    pub cohorts: usize,
    /// Their customers.
    pub customers: u64,
    /// Σ active / Σ customers.
    pub retention: f64,
    /// Σ cumulative revenue / Σ customers.
    pub cumulative_revenue_per_customer: f64,
}

/// Do recent cohorts retain better or worse than earlier ones? Retention in the first period
/// after acquisition (period 1), the later half of the cohorts observed that long against the
/// earlier half, pooled, with a two-proportion z-test.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Trend {
    /// The period compared (1).
    pub period: u32,
    /// First and last cohort of the earlier half (YYYY-MM-DD).
    pub earlier: (String, String),
    /// First and last cohort of the recent half.
    pub recent: (String, String),
    /// Pooled retention of the earlier half.
    pub earlier_retention: f64,
    /// Pooled retention of the recent half.
    pub recent_retention: f64,
    /// z statistic of the difference (recent - earlier).
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// `better`, `worse` or `no clear difference` (p >= 0.05).
    pub verdict: String,
    /// The finding in one sentence.
    pub sentence: String,
}

/// What was left out, counted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CohortLeftOut {
    /// Customers of the transactions without a cohort (no purchase row; with a cohort column:
    /// no value or not in the customers file).
    pub customers_without_cohort: u64,
    /// Their transaction rows.
    pub rows_of_customers_without_cohort: u64,
    /// Rows dated before their customer's cohort start.
    pub rows_before_cohort: u64,
}

/// Everything [`analyze`] computes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CohortAnalysis {
    /// [`CohortAnalysis::FORMAT`].
    pub format: String,
    /// The settings.
    pub params: CohortParams,
    /// Customers in a cohort.
    pub customers: u64,
    /// Cohorts (per group).
    pub cohorts: usize,
    /// The last period the data reach: first day (YYYY-MM-DD).
    pub last_period: String,
    /// The long table, by group, cohort and period.
    pub rows: Vec<CohortRow>,
    /// The size-weighted averages per period (per group).
    pub curve: Vec<CurvePoint>,
    /// Recent vs earlier cohorts (all groups together), when at least two cohorts reach period 1.
    pub trend: Option<Trend>,
    /// What was left out.
    pub left_out: CohortLeftOut,
}

/// One transaction row: customer (unit-local, then global index), day, amount, order hash.
type Row = (u32, i32, f64, u64);

/// A unit of rows with its own customer keys.
#[derive(Default)]
struct Unit {
    keys: KeyTable,
    rows: Vec<Row>,
}

fn order_hasher() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(0x0c0_4e47)
}

/// Every transaction row with a global customer index, and the customer ids.
fn read_rows(tx: &TableReader, progress: &dyn Progress) -> Result<(Vec<Box<str>>, Vec<Row>)> {
    progress.begin("reading transactions", tx.num_rows_hint().unwrap_or(0));
    let units = tx.fold_with(
        &["customer_id", "timestamp", "amount", "order_id"],
        &["customer_id", "order_id"],
        Unit::default,
        |u, c| {
            let ids = c.ids("customer_id").expect("required");
            let orders = c.ids("order_id").expect("always present");
            let ts = c.ts("timestamp").expect("required").values();
            let am = c.f64("amount").expect("required").values();
            let h = order_hasher();
            let mut prev: Option<(usize, u32)> = None;
            for i in 0..c.len() {
                let same = match (&ids, prev) {
                    (Ids::Dict { keys, .. }, Some((p, k))) if keys[p] == keys[i] => Some(k),
                    _ => None,
                };
                let k = match same {
                    Some(k) => k,
                    None => u.keys.index(ids.value(i)).0 as u32,
                };
                prev = Some((i, k));
                let day = ts[i].div_euclid(US_PER_DAY) as i32;
                u.rows.push((k, day, am[i], h.hash_one(orders.value(i))));
            }
            Ok(())
        },
        progress,
    )?;
    progress.finish();
    let mut global = KeyTable::new();
    let mut rows = Vec::with_capacity(units.iter().map(|u| u.rows.len()).sum());
    for u in units {
        let map: Vec<u32> = u
            .keys
            .keys
            .iter()
            .map(|k| global.index(k).0 as u32)
            .collect();
        rows.extend(
            u.rows
                .into_iter()
                .map(|(k, d, a, o)| (map[k as usize], d, a, o)),
        );
    }
    if rows.is_empty() {
        return Err(Error::Empty {
            path: tx.path.clone(),
            message: "no data rows".into(),
        });
    }
    // by customer, then day: a customer's rows are contiguous (the sort is stable for the
    // amounts' summation order, which exact cents make irrelevant anyway)
    rows.par_sort_by_key(|r| (r.0, r.1));
    Ok((global.keys, rows))
}

/// Cohort start and group of each customer (by global index), and the cohort sizes of
/// customers who never bought (with a cohort column).
struct Assignment {
    /// Cohort day per customer (`None`: no cohort).
    cohort_day: Vec<Option<i64>>,
    /// Group per customer.
    group: Vec<u32>,
    /// Group names.
    groups: Vec<String>,
    /// (group, cohort period) -> customers that never bought.
    non_buyers: hashbrown::HashMap<(u32, i64), u64>,
}

const MISSING: &str = "(missing)";

/// The text label of every row of `col` (missing as [`MISSING`]) as codes into `groups`.
fn labels(col: &AttrColumn, rows: &[Option<u32>], groups: &mut Vec<String>) -> Vec<u32> {
    let mut index: hashbrown::HashMap<String, u32> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.clone(), i as u32))
        .collect();
    rows.iter()
        .map(|r| {
            let text = r
                .and_then(|r| col.text(r))
                .unwrap_or_else(|| MISSING.into());
            let next = index.len() as u32;
            *index.entry(text.clone()).or_insert_with(|| {
                groups.push(text);
                next
            })
        })
        .collect()
}

fn assign(
    ids: &[Box<str>],
    rows: &[Row],
    customers: Option<&TableReader>,
    params: &CohortParams,
    progress: &dyn Progress,
) -> Result<Assignment> {
    let n = ids.len();
    let wanted: Vec<&str> = params
        .cohort_column
        .iter()
        .chain(params.by.iter())
        .map(String::as_str)
        .collect();
    let attrs = match (customers, wanted.is_empty()) {
        (_, true) => None,
        (None, false) => {
            return Err(Error::param(
                if params.cohort_column.is_some() {
                    "cohort_column"
                } else {
                    "by"
                },
                "needs a customers file",
            ))
        }
        (Some(c), false) => {
            let a = Attributes::load(c, &wanted, progress)?;
            for w in &wanted {
                if a.column(w).is_none() {
                    let param = if Some(*w) == params.cohort_column.as_deref() {
                        "cohort_column"
                    } else {
                        "by"
                    };
                    return Err(Error::param(param, a.why_missing(c, w)));
                }
            }
            Some((a, c))
        }
    };
    let id_strings: Vec<String> = ids.iter().map(|k| k.to_string()).collect();
    let rows_of = attrs.as_ref().map(|(a, _)| a.rows_for(&id_strings));
    let mut groups: Vec<String> = Vec::new();
    let group = match (&params.by, &attrs, &rows_of) {
        (Some(by), Some((a, _)), Some(r)) => labels(a.column(by).expect("checked"), r, &mut groups),
        _ => vec![0; n],
    };
    let mut non_buyers = hashbrown::HashMap::new();
    let cohort_day: Vec<Option<i64>> = match (&params.cohort_column, &attrs, &rows_of) {
        (Some(col), Some((a, reader)), Some(r)) => {
            if a.kind(col) != Some(AttrKind::Date) {
                return Err(Error::param(
                    "cohort_column",
                    format!(
                        "column {col:?} of {} is not a date (found {:?} values)",
                        reader.path.display(),
                        a.kind(col)
                    ),
                ));
            }
            let c = a.column(col).expect("checked");
            let all: Vec<Option<u32>> = (0..a.len() as u32).map(Some).collect();
            let days = c.numbers(&all).expect("a date column holds numbers");
            // sizes: every customer of the file with a date, buyer or not
            let mut buyer = vec![false; a.len()];
            for row in r.iter().flatten() {
                buyer[*row as usize] = true;
            }
            // the group of every row of the file, labelled once
            let file_groups = params
                .by
                .as_ref()
                .map(|b| labels(a.column(b).expect("checked"), &all, &mut groups));
            for (row, &d) in days.iter().enumerate() {
                if buyer[row] || !d.is_finite() {
                    continue;
                }
                let g = file_groups.as_ref().map_or(0, |f| f[row]);
                *non_buyers
                    .entry((g, params.period.index(d as i64)))
                    .or_insert(0u64) += 1;
            }
            r.iter()
                .map(|row| {
                    row.and_then(|row| {
                        days[row as usize]
                            .is_finite()
                            .then(|| days[row as usize] as i64)
                    })
                })
                .collect()
        }
        _ => {
            let mut first = vec![None; n];
            for &(c, d, a, _) in rows {
                if a > 0.0 && first[c as usize].is_none() {
                    first[c as usize] = Some(d as i64); // rows are sorted by day per customer
                }
            }
            first
        }
    };
    if groups.is_empty() {
        groups.push(String::new());
    }
    Ok(Assignment {
        cohort_day,
        group,
        groups,
        non_buyers,
    })
}

/// Activity of one (group, cohort period, period since acquisition) cell.
#[derive(Default, Clone)]
struct Cell {
    active: u64,
    orders: u64,
    revenue: Option<Money>,
}

/// The cohort table of the transactions `tx` (and `customers` for `cohort_column` and `by`).
pub fn analyze(
    tx: &TableReader,
    customers: Option<&TableReader>,
    params: &CohortParams,
    progress: &dyn Progress,
) -> Result<CohortAnalysis> {
    let (ids, rows) = read_rows(tx, progress)?;
    progress.begin("building cohorts", 0);
    let a = assign(&ids, &rows, customers, params, progress)?;
    let per = params.period;
    let last = per.index(rows.iter().map(|r| r.1 as i64).max().expect("rows"));
    let mut cells: hashbrown::HashMap<(u32, i64, i64), Cell> = hashbrown::HashMap::new();
    let mut sizes: hashbrown::HashMap<(u32, i64), u64> = a.non_buyers.clone();
    let mut left = CohortLeftOut::default();
    // one customer's rows at a time (contiguous after the sort)
    let mut start = 0;
    while start < rows.len() {
        let c = rows[start].0;
        let end = start + rows[start..].iter().take_while(|r| r.0 == c).count();
        let mine = &rows[start..end];
        start = end;
        let Some(day0) = a.cohort_day[c as usize] else {
            left.customers_without_cohort += 1;
            left.rows_of_customers_without_cohort += mine.len() as u64;
            continue;
        };
        let (g, p0) = (a.group[c as usize], per.index(day0));
        *sizes.entry((g, p0)).or_insert(0) += 1;
        let mut seen: Vec<(i64, u64)> = Vec::new(); // (k, order) of purchase rows
        let mut active_k: Vec<i64> = Vec::new();
        for &(_, d, amount, order) in mine {
            let k = per.index(d as i64) - p0;
            if k < 0 {
                left.rows_before_cohort += 1;
                continue;
            }
            let cell = cells.entry((g, p0, k)).or_default();
            cell.revenue.get_or_insert(Money::ZERO).add(amount);
            if amount > 0.0 {
                if !active_k.contains(&k) {
                    active_k.push(k);
                    cell.active += 1;
                }
                if !seen.contains(&(k, order)) {
                    seen.push((k, order));
                    cell.orders += 1;
                }
            }
        }
    }
    let mut keys: Vec<(u32, i64)> = sizes.keys().copied().collect();
    keys.sort_by(|x, y| {
        a.groups[x.0 as usize]
            .cmp(&a.groups[y.0 as usize])
            .then(x.1.cmp(&y.1))
    });
    let named = params.by.is_some();
    let name = |g: u32| named.then(|| a.groups[g as usize].clone());
    let mut out = Vec::new();
    for &(g, p0) in &keys {
        let customers = sizes[&(g, p0)];
        // the running revenue in whole cents (every revenue is rounded to cents), divided by
        // the cohort's size: the same doubles as the SQL's rounded running sum
        let mut cumulative_cents = 0i64;
        for k in 0..=(last - p0).max(-1) {
            let cell = cells.get(&(g, p0, k)).cloned().unwrap_or_default();
            let revenue = cell.revenue.map_or(0.0, |m| m.value());
            let per_customer = revenue / customers as f64;
            cumulative_cents += (revenue * 100.0).round() as i64;
            let cumulative = cumulative_cents as f64 / 100.0 / customers as f64;
            out.push(CohortRow {
                group: name(g),
                cohort: per.start(p0),
                period: k as u32,
                customers,
                active: cell.active,
                retention: cell.active as f64 / customers as f64,
                orders: cell.orders,
                revenue,
                revenue_per_customer: per_customer,
                cumulative_revenue_per_customer: cumulative,
            });
        }
    }
    progress.finish();
    let curve = curve(&out);
    let trend = trend(&out, per);
    Ok(CohortAnalysis {
        format: CohortAnalysis::FORMAT.into(),
        params: params.clone(),
        customers: keys.iter().map(|k| sizes[k]).sum(),
        cohorts: keys.len(),
        last_period: format_date(per.start(last)),
        rows: out,
        curve,
        trend,
        left_out: left,
    })
}

/// The size-weighted average per group and period.
fn curve(rows: &[CohortRow]) -> Vec<CurvePoint> {
    // (group, period) -> (cohorts, customers, active, Σ cumulative revenue)
    type Sums = (usize, u64, u64, f64);
    let mut acc: std::collections::BTreeMap<(Option<String>, u32), Sums> = Default::default();
    for r in rows {
        let e = acc.entry((r.group.clone(), r.period)).or_default();
        e.0 += 1;
        e.1 += r.customers;
        e.2 += r.active;
        e.3 += r.cumulative_revenue_per_customer * r.customers as f64;
    }
    acc.into_iter()
        .map(
            |((group, period), (cohorts, customers, active, revenue))| CurvePoint {
                group,
                period,
                cohorts,
                customers,
                retention: active as f64 / customers as f64,
                cumulative_revenue_per_customer: revenue / customers as f64,
            },
        )
        .collect()
}

/// Period-1 retention of the recent half of the cohorts against the earlier half.
fn trend(rows: &[CohortRow], per: Period) -> Option<Trend> {
    // per cohort (all groups together): customers and active at period 1
    let mut by_cohort: std::collections::BTreeMap<i64, (u64, u64)> = Default::default();
    for r in rows.iter().filter(|r| r.period == 1) {
        let e = by_cohort.entry(r.cohort).or_default();
        e.0 += r.customers;
        e.1 += r.active;
    }
    let cohorts: Vec<(i64, (u64, u64))> = by_cohort.into_iter().collect();
    if cohorts.len() < 2 {
        return None;
    }
    let (earlier, recent) = cohorts.split_at(cohorts.len() / 2);
    let pool = |part: &[(i64, (u64, u64))]| {
        let (n, x) = part
            .iter()
            .fold((0u64, 0u64), |(n, x), (_, (m, y))| (n + m, x + y));
        (n as f64, x as f64)
    };
    let ((n1, x1), (n2, x2)) = (pool(earlier), pool(recent));
    let (p1, p2) = (x1 / n1, x2 / n2);
    let p = (x1 + x2) / (n1 + n2);
    let se = (p * (1.0 - p) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let z = if se > 0.0 { (p2 - p1) / se } else { 0.0 };
    let p_value = crate::stats::chi2_sf(z * z, 1.0);
    let verdict = if p_value >= 0.05 {
        "no clear difference"
    } else if z > 0.0 {
        "better"
    } else {
        "worse"
    };
    let range =
        |part: &[(i64, (u64, u64))]| (format_date(part[0].0), format_date(part[part.len() - 1].0));
    let (e, r) = (range(earlier), range(recent));
    let unit = per.name();
    let sentence = format!(
        "Cohorts acquired from {} to {} keep {:.1}% as buyers in their first {unit} after acquisition, against {:.1}% for those from {} to {} (two-proportion z = {z:.2}, p = {}): {}.",
        r.0,
        r.1,
        100.0 * p2,
        100.0 * p1,
        e.0,
        e.1,
        crate::stats::p_text(p_value),
        match verdict {
            "better" => "recent cohorts retain better",
            "worse" => "recent cohorts retain worse",
            _ => "no clear difference between recent and earlier cohorts",
        }
    );
    Some(Trend {
        period: 1,
        earlier: e,
        recent: r,
        earlier_retention: p1,
        recent_retention: p2,
        z,
        p_value,
        verdict: verdict.into(),
        sentence,
    })
}

impl CohortAnalysis {
    /// The kind written in `format`.
    pub const FORMAT: &'static str = "segmint-cohorts/1";

    /// The long table as a record batch (`[group,] cohort, period, customers, active,
    /// retention, orders, revenue, revenue_per_customer, cumulative_revenue_per_customer`).
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let r = &self.rows;
        let f = |g: fn(&CohortRow) -> f64| {
            Arc::new(Float64Array::from_iter_values(r.iter().map(g))) as ArrayRef
        };
        let i = |g: fn(&CohortRow) -> i64| {
            Arc::new(Int64Array::from_iter_values(r.iter().map(g))) as ArrayRef
        };
        let mut cols: Vec<(&str, ArrayRef)> = Vec::new();
        if self.params.by.is_some() {
            cols.push((
                "group",
                Arc::new(StringArray::from_iter_values(
                    r.iter().map(|x| x.group.clone().unwrap_or_default()),
                )),
            ));
        }
        cols.push((
            "cohort",
            Arc::new(Date32Array::from_iter_values(
                r.iter().map(|x| x.cohort as i32),
            )),
        ));
        cols.extend([
            ("period", i(|x| x.period as i64)),
            ("customers", i(|x| x.customers as i64)),
            ("active", i(|x| x.active as i64)),
            ("retention", f(|x| x.retention)),
            ("orders", i(|x| x.orders as i64)),
            ("revenue", f(|x| x.revenue)),
            ("revenue_per_customer", f(|x| x.revenue_per_customer)),
            (
                "cumulative_revenue_per_customer",
                f(|x| x.cumulative_revenue_per_customer),
            ),
        ]);
        RecordBatch::try_from_iter(cols).map_err(|e| Error::Data(e.to_string()))
    }

    /// The schema of [`CohortAnalysis::to_record_batch`] without `by` (what the SQL of
    /// `segmint sql --task cohorts` returns).
    pub fn schema() -> arrow_schema::SchemaRef {
        use arrow_schema::{DataType, Field, Schema};
        let f = |n: &str, t: DataType| Field::new(n, t, false);
        Arc::new(Schema::new(vec![
            f("cohort", DataType::Date32),
            f("period", DataType::Int64),
            f("customers", DataType::Int64),
            f("active", DataType::Int64),
            f("retention", DataType::Float64),
            f("orders", DataType::Int64),
            f("revenue", DataType::Float64),
            f("revenue_per_customer", DataType::Float64),
            f("cumulative_revenue_per_customer", DataType::Float64),
        ]))
    }

    /// The analysis from a long table with [`CohortAnalysis::schema`] computed elsewhere (by
    /// the SQL on Spark): the curve and the trend follow from its rows.
    pub fn from_batch(batch: &RecordBatch, params: &CohortParams) -> Result<CohortAnalysis> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Date32Type, Float64Type, Int64Type};
        let bad =
            |c: &str| Error::Data(format!("the cohort table has no column {c:?} of its type"));
        let col = |c: &str| batch.column_by_name(c).ok_or_else(|| bad(c));
        let int = |c: &str| -> Result<Vec<i64>> {
            Ok(col(c)?
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(|| bad(c))?
                .values()
                .to_vec())
        };
        let float = |c: &str| -> Result<Vec<f64>> {
            Ok(col(c)?
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| bad(c))?
                .values()
                .to_vec())
        };
        let cohort = col("cohort")?
            .as_primitive_opt::<Date32Type>()
            .ok_or_else(|| bad("cohort"))?
            .values()
            .to_vec();
        let (period, customers, active, orders) = (
            int("period")?,
            int("customers")?,
            int("active")?,
            int("orders")?,
        );
        let (retention, revenue, per, cumulative) = (
            float("retention")?,
            float("revenue")?,
            float("revenue_per_customer")?,
            float("cumulative_revenue_per_customer")?,
        );
        let rows: Vec<CohortRow> = (0..batch.num_rows())
            .map(|i| CohortRow {
                group: None,
                cohort: cohort[i] as i64,
                period: period[i] as u32,
                customers: customers[i] as u64,
                active: active[i] as u64,
                retention: retention[i],
                orders: orders[i] as u64,
                revenue: revenue[i],
                revenue_per_customer: per[i],
                cumulative_revenue_per_customer: cumulative[i],
            })
            .collect();
        let per_ = params.period;
        let last = rows
            .iter()
            .map(|r| per_.index(r.cohort) + r.period as i64)
            .max()
            .ok_or_else(|| Error::Data("the cohort table is empty".into()))?;
        let starts: Vec<&CohortRow> = rows.iter().filter(|r| r.period == 0).collect();
        Ok(CohortAnalysis {
            format: CohortAnalysis::FORMAT.into(),
            params: params.clone(),
            customers: starts.iter().map(|r| r.customers).sum(),
            cohorts: starts.len(),
            last_period: format_date(per_.start(last)),
            curve: curve(&rows),
            trend: trend(&rows, per_),
            rows,
            left_out: CohortLeftOut::default(),
        })
    }

    /// A wide table as CSV: one row per (group and) cohort with its size, one column per
    /// period, the value of `value` (empty where the cohort is not observed that long).
    pub fn wide_csv(&self, value: fn(&CohortRow) -> f64) -> String {
        let periods = self
            .rows
            .iter()
            .map(|r| r.period)
            .max()
            .map_or(0, |p| p + 1);
        let mut head: Vec<String> = Vec::new();
        if self.params.by.is_some() {
            head.push("group".into());
        }
        head.extend(["cohort".into(), "customers".into()]);
        head.extend((0..periods).map(|p| p.to_string()));
        let mut out = head.join(",") + "\n";
        let mut k = 0;
        while k < self.rows.len() {
            let first = &self.rows[k];
            let mut line: Vec<String> = Vec::new();
            if let Some(g) = &first.group {
                line.push(format!("\"{}\"", g.replace('"', "\"\"")));
            }
            line.push(format_date(first.cohort));
            line.push(first.customers.to_string());
            let mut cells = vec![String::new(); periods as usize];
            while k < self.rows.len()
                && self.rows[k].cohort == first.cohort
                && self.rows[k].group == first.group
            {
                cells[self.rows[k].period as usize] = format!("{}", value(&self.rows[k]));
                k += 1;
            }
            line.extend(cells);
            out += &(line.join(",") + "\n");
        }
        out
    }

    /// Writes `cohorts.parquet` (or `cohorts.csv` with `csv`), `retention_wide.csv`,
    /// `cumulative_revenue_wide.csv` and `cohorts.json` into `dir` (each a temporary file, then
    /// renamed).
    pub fn write(&self, dir: &Path, csv: bool) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let table = dir.join(if csv {
            "cohorts.csv"
        } else {
            "cohorts.parquet"
        });
        let meta = vec![("segmint.task".to_string(), "cohorts".to_string())];
        crate::output::write_table(&self.to_record_batch()?, &table, &meta)?;
        crate::files::write_text(
            &dir.join("retention_wide.csv"),
            &self.wide_csv(|r| r.retention),
        )?;
        crate::files::write_text(
            &dir.join("cumulative_revenue_wide.csv"),
            &self.wide_csv(|r| r.cumulative_revenue_per_customer),
        )?;
        crate::files::write_json(&dir.join("cohorts.json"), self)
    }

    /// The summary as Markdown: the averaged curve, the trend, and retention per cohort for
    /// the first periods.
    pub fn markdown(&self) -> String {
        use std::fmt::Write;
        let unit = self.params.period.name();
        let mut o = format!(
            "## Cohorts by {unit} of {}\n\n{} customers in {} cohorts; data to the {unit} of {}.\n\n",
            self.params.cohort_column.as_deref().unwrap_or("first purchase"),
            self.customers,
            self.cohorts,
            self.last_period
        );
        o.push_str("| group | period | cohorts | customers | retention | cumulative revenue per customer |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
        for p in self
            .curve
            .iter()
            .filter(|p| [0, 1, 2, 3, 6, 12, 24].contains(&p.period))
        {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {:.1}% | {:.2} |",
                p.group.as_deref().unwrap_or("all"),
                p.period,
                p.cohorts,
                p.customers,
                100.0 * p.retention,
                p.cumulative_revenue_per_customer
            );
        }
        if let Some(t) = &self.trend {
            let _ = writeln!(o, "\n{}", t.sentence);
        }
        o
    }

    /// Reads `cohorts.json` written by [`CohortAnalysis::write`].
    pub fn read_from(path: &Path) -> Result<CohortAnalysis> {
        crate::files::read_json(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::timestamp::parse_date;

    #[test]
    fn periods_start_where_the_calendar_does() {
        let d = |s: &str| parse_date(s).unwrap();
        for (per, day, start) in [
            (Period::Month, "2024-02-29", "2024-02-01"),
            (Period::Month, "1969-12-31", "1969-12-01"),
            (Period::Quarter, "2024-08-15", "2024-07-01"),
            (Period::Week, "2024-01-07", "2024-01-01"), // a Sunday: its ISO week began Monday
            (Period::Week, "2024-01-08", "2024-01-08"),
        ] {
            assert_eq!(
                format_date(per.start(per.index(d(day)))),
                start,
                "{per:?} {day}"
            );
        }
        assert_eq!(
            Period::Month.index(d("2025-01-01")) - Period::Month.index(d("2024-12-31")),
            1
        );
        assert_eq!(
            Period::Week.index(d("2024-01-08")) - Period::Week.index(d("2024-01-07")),
            1
        );
    }
}
