//! Time-correct customer feature tables for the `churn` and `value` tasks: the `churn` task of
//! `../shared/bench/README.md` exactly.
//!
//! * window end = day(last transaction) + 1 (or given); cutoff = window end - `horizon_days`
//!   (or given). History = transaction rows with `timestamp < cutoff`; population = customers
//!   with a purchase row (amount > 0) in the history.
//! * Features, all from the history, reference date = the cutoff: `recency_days, frequency,
//!   monetary, tenure_days, avg_order_value, total_quantity` (the mart), `orders_90d` (distinct
//!   orders with purchase rows in [cutoff - `recent_days`, cutoff)), `spend_90d` (their amount,
//!   rounded to cents), `n_returns` (return rows), and from `customers`: `age, income,
//!   credit_score, premium` (0/1)`, loyalty_points, support_tickets` (missing = NaN), then
//!   every column of the customers file outside the reference schema by its own name
//!   (numbers; booleans 0/1; dates as days before the cutoff; categories one-hot as
//!   `NAME=value`; a name taken by a feature above becomes `customers.NAME`).
//! * Labels from [cutoff, cutoff + horizon): `churn` = 1 when the customer has no purchase row
//!   there; `value` = the net amount there (purchases minus returns).
//!
//! Nothing from on or after the cutoff reaches a feature: the mart is built with `before_us`,
//! the extra columns skip those rows, and the customer attributes are static (see SCHEMA.md).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use super::Table;
use crate::data::customers::{AttrColumn, Attributes, LeftOutColumn};
use crate::data::keys::KeyTable;
use crate::data::reader::TableReader;
use crate::data::timestamp::US_PER_DAY;
use crate::error::{Error, Result};
use crate::mart::{build_mart, MartColumns, MartParams};
use crate::progress::Progress;

/// The customer attributes used as features, in order.
pub const ATTRIBUTE_FEATURES: [&str; 6] = [
    "age",
    "income",
    "credit_score",
    "premium",
    "loyalty_points",
    "support_tickets",
];

/// The churn features in the bench task's order.
pub const CHURN_FEATURES: [&str; 15] = [
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "avg_order_value",
    "total_quantity",
    "orders_90d",
    "spend_90d",
    "n_returns",
    "age",
    "income",
    "credit_score",
    "premium",
    "loyalty_points",
    "support_tickets",
];

/// Windows of the feature table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowParams {
    /// Cutoff day (days since 1970-01-01); `None`: window end - `horizon_days`.
    pub cutoff_day: Option<i64>,
    /// Exclusive end day of the data; `None`: day of the last transaction + 1.
    pub window_end_day: Option<i64>,
    /// Length of the label window after the cutoff.
    pub horizon_days: i64,
    /// Length of the recent-activity window before the cutoff (`orders_90d`, `spend_90d`).
    pub recent_days: i64,
    /// Without a cutoff: put it at the window end (scoring now; the labels are unobserved)
    /// instead of `horizon_days` before it.
    #[serde(default)]
    pub cutoff_at_end: bool,
}

impl Default for WindowParams {
    fn default() -> Self {
        WindowParams {
            cutoff_day: None,
            window_end_day: None,
            horizon_days: 90,
            recent_days: 90,
            cutoff_at_end: false,
        }
    }
}

/// A customer feature table with its labels.
#[derive(Debug, Clone)]
pub struct CustomerDataset {
    /// Customer id per row.
    pub customer_id: Vec<String>,
    /// Features per customer.
    pub x: Table,
    /// 1 when the customer made no purchase in the label window.
    pub churn: Vec<f64>,
    /// Net amount in the label window.
    pub future_value: Vec<f64>,
    /// The cutoff day: features see the data before it.
    pub cutoff_day: i64,
    /// Last day of the data (days since 1970-01-01).
    pub window_end_day: i64,
    /// Whether the label window lies inside the data (false when scoring at the data's end).
    pub labels_observed: bool,
    /// Columns of the customers file that are not features, with the reason.
    pub left_out: Vec<LeftOutColumn>,
}

#[derive(Default, Clone)]
struct Acc {
    recent_orders: SmallVec<[u64; 4]>,
    recent_cents: i64,
    recent_sum: f64,
    recent_exact: bool,
    returns: u32,
    future_purchase: bool,
    future_cents: i64,
    future_sum: f64,
    future_exact: bool,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            recent_exact: true,
            future_exact: true,
            ..Default::default()
        }
    }
    fn merge(&mut self, o: Acc) {
        for h in o.recent_orders {
            if !self.recent_orders.contains(&h) {
                self.recent_orders.push(h);
            }
        }
        self.recent_cents += o.recent_cents;
        self.recent_sum += o.recent_sum;
        self.recent_exact &= o.recent_exact;
        self.returns += o.returns;
        self.future_purchase |= o.future_purchase;
        self.future_cents += o.future_cents;
        self.future_sum += o.future_sum;
        self.future_exact &= o.future_exact;
    }
}

struct Unit {
    keys: KeyTable,
    accs: Vec<Acc>,
    max_ts: i64,
}

/// Cents of an amount when it is a whole number of cents.
fn cents(a: f64) -> Option<i64> {
    let c = (a * 100.0).round();
    (c.abs() < 9e15 && ((c / 100.0) - a).abs() <= a.abs() * 1e-15).then_some(c as i64)
}

impl CustomerDataset {
    /// Appends the customer-level clickstream features at the cutoff
    /// ([`super::clickstream::CLICKSTREAM_FEATURES`]) from the events file.
    pub fn add_clickstream(&mut self, events: &TableReader, progress: &dyn Progress) -> Result<()> {
        let cols = super::clickstream::customer_clickstream(
            events,
            &self.customer_id,
            self.cutoff_day,
            progress,
        )?;
        self.x
            .append_columns(&super::clickstream::CLICKSTREAM_FEATURES, &cols);
        Ok(())
    }
}

/// Builds the customer table at the cutoff: features from before it, labels after it.
pub fn customer_dataset(
    tx: &TableReader,
    customers: Option<&TableReader>,
    params: &WindowParams,
    progress: &dyn Progress,
) -> Result<CustomerDataset> {
    if params.horizon_days <= 0 || params.recent_days <= 0 {
        return Err(Error::Config(format!(
            "the label and recent windows must be at least one day (got {} and {})",
            params.horizon_days, params.recent_days
        )));
    }
    // pass 1 (cheap, one column) only when the cutoff comes from the data's end
    let window_end = match (params.window_end_day, params.cutoff_day) {
        (Some(e), _) => e,
        (None, Some(c)) if !params.cutoff_at_end => c + params.horizon_days,
        (None, _) => {
            let maxes = tx.fold(
                &["timestamp"],
                || i64::MIN,
                |m, c| {
                    let ts = c.ts("timestamp").expect("required").values();
                    *m = ts.iter().copied().fold(*m, i64::max);
                    Ok(())
                },
                &crate::progress::NoProgress,
            )?;
            let m = maxes.into_iter().max().unwrap_or(i64::MIN);
            if m == i64::MIN {
                return Err(Error::Empty {
                    path: tx.path.clone(),
                    message: "no data rows".into(),
                });
            }
            m.div_euclid(US_PER_DAY) + 1
        }
    };
    let cutoff = params.cutoff_day.unwrap_or(if params.cutoff_at_end {
        window_end
    } else {
        window_end - params.horizon_days
    });
    let label_end = cutoff + params.horizon_days;
    let cut_us = cutoff * US_PER_DAY;
    let recent_us = (cutoff - params.recent_days) * US_PER_DAY;
    let label_end_us = label_end * US_PER_DAY;
    let mart = build_mart(
        tx,
        &MartParams {
            ref_day: Some(cutoff),
            columns: MartColumns::All,
            before_us: Some(cut_us),
        },
        progress,
    )?;
    if mart.is_empty() {
        return Err(Error::Data(format!(
            "{}: no customer has a purchase before the cutoff {}",
            tx.path.display(),
            crate::data::timestamp::format_date(cutoff)
        )));
    }
    progress.begin("windows", tx.num_rows_hint().unwrap_or(0));
    let hasher = foldhash::fast::FixedState::with_seed(7);
    let units = tx.fold(
        &["customer_id", "order_id", "timestamp", "amount"],
        || Unit {
            keys: KeyTable::new(),
            accs: Vec::new(),
            max_ts: i64::MIN,
        },
        |u, c| {
            use std::hash::BuildHasher;
            let ids = c.ids("customer_id").expect("required");
            let orders = c.ids("order_id").expect("required");
            let ts = c.ts("timestamp").expect("required").values();
            let am = c.f64("amount").expect("required").values();
            for i in 0..c.len() {
                let t = ts[i];
                u.max_ts = u.max_ts.max(t);
                let a = am[i];
                let in_recent = t >= recent_us && t < cut_us && a > 0.0;
                let is_return = t < cut_us && a < 0.0;
                let in_label = t >= cut_us && t < label_end_us;
                if !(in_recent || is_return || in_label) {
                    continue;
                }
                let (slot, new) = u.keys.index(ids.value(i));
                if new {
                    u.accs.push(Acc::new());
                }
                let e = &mut u.accs[slot];
                if in_recent {
                    let h = hasher.hash_one(orders.value(i));
                    if !e.recent_orders.contains(&h) {
                        e.recent_orders.push(h);
                    }
                    match cents(a) {
                        Some(c) => e.recent_cents += c,
                        None => e.recent_exact = false,
                    }
                    e.recent_sum += a;
                }
                if is_return {
                    e.returns += 1;
                }
                if in_label {
                    e.future_purchase |= a > 0.0;
                    match cents(a) {
                        Some(c) => e.future_cents += c,
                        None => e.future_exact = false,
                    }
                    e.future_sum += a;
                }
            }
            Ok(())
        },
        progress,
    )?;
    progress.finish();
    let max_ts = units.iter().map(|u| u.max_ts).max().unwrap_or(i64::MIN);
    let accs = super::merge_units(
        units
            .into_iter()
            .map(|u| u.keys.keys.into_iter().zip(u.accs)),
        Acc::merge,
    );
    let n = mart.len();
    let empty = Acc::new();
    let per: Vec<&Acc> = mart
        .customer_id
        .iter()
        .map(|id| accs.get(id.as_str()).unwrap_or(&empty))
        .collect();
    let money = |exact: bool, c: i64, s: f64| {
        if exact {
            c as f64 / 100.0
        } else {
            (s * 100.0).round_ties_even() / 100.0
        }
    };
    // the mart's columns first (CHURN_FEATURES starts with Mart::NUMERIC)
    let mut cols = mart.numeric_columns();
    cols.extend([
        per.iter().map(|a| a.recent_orders.len() as f64).collect(),
        per.iter()
            .map(|a| money(a.recent_exact, a.recent_cents, a.recent_sum))
            .collect(),
        per.iter().map(|a| a.returns as f64).collect::<Vec<f64>>(),
    ]);
    let attrs = match customers {
        Some(c) => {
            let mut wanted: Vec<&str> = ATTRIBUTE_FEATURES.to_vec();
            wanted.extend(c.extras().iter().map(|e| e.name.as_str()));
            Some(Attributes::load_at(c, &wanted, Some(cutoff), progress)?)
        }
        None => None,
    };
    let rows = attrs.as_ref().map(|a| a.rows_for(&mart.customer_id));
    for name in ATTRIBUTE_FEATURES {
        let col = match (&attrs, &rows) {
            (Some(a), Some(rows)) => numeric(a.column(name), rows),
            _ => vec![f64::NAN; n],
        };
        cols.push(col);
    }
    let mut names: Vec<String> = CHURN_FEATURES.iter().map(|s| s.to_string()).collect();
    let mut left_out = Vec::new();
    if let (Some(a), Some(rows)) = (&attrs, &rows) {
        for (name, col) in a
            .columns
            .iter()
            .filter(|(n, _)| !ATTRIBUTE_FEATURES.contains(&n.as_str()))
        {
            let name = if CHURN_FEATURES.contains(&name.as_str()) {
                format!("customers.{name}")
            } else {
                name.clone()
            };
            match col {
                AttrColumn::Str(codes, dict) => {
                    let mut order: Vec<usize> = (0..dict.len()).collect();
                    order.sort_by(|&x, &y| dict[x].cmp(&dict[y]));
                    for k in order {
                        names.push(format!("{name}={}", dict[k]));
                        cols.push(
                            rows.iter()
                                .map(|r| match r {
                                    Some(r) => codes[*r as usize]
                                        .map_or(f64::NAN, |c| (c as usize == k) as u8 as f64),
                                    None => f64::NAN,
                                })
                                .collect(),
                        );
                    }
                }
                _ => {
                    names.push(name);
                    cols.push(numeric(Some(col), rows));
                }
            }
        }
        left_out.extend(a.left_out.iter().map(|(column, reason)| LeftOutColumn {
            column: column.clone(),
            reason: reason.clone(),
        }));
    }
    let x = Table::from_columns(names, &cols);
    let churn = per
        .par_iter()
        .map(|a| if a.future_purchase { 0.0 } else { 1.0 })
        .collect();
    let future_value = per
        .iter()
        .map(|a| money(a.future_exact, a.future_cents, a.future_sum))
        .collect();
    Ok(CustomerDataset {
        customer_id: mart.customer_id,
        x,
        churn,
        future_value,
        cutoff_day: cutoff,
        window_end_day: window_end,
        labels_observed: max_ts >= cut_us && label_end <= window_end,
        left_out,
    })
}

/// A customer attribute as numbers: booleans 0/1, missing (or no such column / no customer
/// row) NaN; text columns are not numeric features and give NaN.
fn numeric(col: Option<&AttrColumn>, rows: &[Option<u32>]) -> Vec<f64> {
    col.and_then(|c| c.numbers(rows))
        .unwrap_or_else(|| vec![f64::NAN; rows.len()])
}
