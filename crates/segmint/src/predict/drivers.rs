//! Why this customer: the features that moved one prediction most, from the TreeSHAP
//! contributions ([`super::shap`]), as columns of `predictions.parquet` and as a sentence on the
//! insight lists ("at risk mainly because: recency_days = 94 (+0.81), ...").

use serde::{Deserialize, Serialize};

use super::actions::{ActionList, Insights, ListEntry};
use super::gbdt::Gbdt;
use super::Table;
use crate::error::Result;
use crate::output::OutCol;

/// Most drivers per row (the names of their columns are fixed).
pub const MAX_DRIVERS: usize = 10;

const COLUMNS: [[&str; 3]; MAX_DRIVERS] = [
    ["driver_1", "driver_1_value", "driver_1_contribution"],
    ["driver_2", "driver_2_value", "driver_2_contribution"],
    ["driver_3", "driver_3_value", "driver_3_contribution"],
    ["driver_4", "driver_4_value", "driver_4_contribution"],
    ["driver_5", "driver_5_value", "driver_5_contribution"],
    ["driver_6", "driver_6_value", "driver_6_contribution"],
    ["driver_7", "driver_7_value", "driver_7_contribution"],
    ["driver_8", "driver_8_value", "driver_8_contribution"],
    ["driver_9", "driver_9_value", "driver_9_contribution"],
    ["driver_10", "driver_10_value", "driver_10_contribution"],
];

/// One feature's part in one prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Driver {
    /// The feature.
    pub feature: String,
    /// The row's value of it (`NaN`: missing).
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub value: f64,
    /// Its TreeSHAP contribution to the raw score (log-odds for churn and conversion; the
    /// value's own unit for value), signed: positive raises the prediction.
    pub contribution: f64,
}

/// The `k` largest contributions of one row by absolute value (ties to the earlier feature).
fn top(features: &[String], row: &[f64], contrib: &[f64], k: usize) -> Vec<Driver> {
    let mut order: Vec<usize> = (0..contrib.len()).filter(|&j| contrib[j] != 0.0).collect();
    order.sort_by(|&a, &b| {
        contrib[b]
            .abs()
            .total_cmp(&contrib[a].abs())
            .then(a.cmp(&b))
    });
    order
        .into_iter()
        .take(k)
        .map(|j| Driver {
            feature: features[j].clone(),
            value: row[j],
            contribution: contrib[j],
        })
        .collect()
}

/// The drivers of some rows of a table.
#[derive(Debug, Clone, Default)]
pub struct RowDrivers {
    /// Drivers per row.
    pub k: usize,
    /// Per row of the table: its drivers, `None` where they were not computed.
    pub rows: Vec<Option<Vec<Driver>>>,
}

impl RowDrivers {
    /// The top `k` drivers of the rows `which` of `x` (`x` has the model's features).
    pub fn of(model: &Gbdt, x: &Table, which: &[usize], k: usize) -> Result<RowDrivers> {
        let mut rows = vec![None; x.rows];
        if k > 0 && !which.is_empty() {
            let sub = x.select(which);
            let c = model.contributions(&sub)?;
            for (t, &i) in which.iter().enumerate() {
                rows[i] = Some(top(&x.names, sub.row(t), c.row(t), k));
            }
        }
        Ok(RowDrivers { k, rows })
    }

    /// Rows with drivers.
    pub fn computed(&self) -> usize {
        self.rows.iter().filter(|r| r.is_some()).count()
    }

    /// `driver_1, driver_1_value, driver_1_contribution, ...` (`""` and `NaN` where not
    /// computed).
    pub fn columns(&self) -> Vec<(&'static str, OutCol)> {
        let mut out = Vec::new();
        for (d, [name, value, contribution]) in COLUMNS.iter().enumerate().take(self.k) {
            let pick = |f: &dyn Fn(&Driver) -> f64| -> Vec<f64> {
                self.rows
                    .iter()
                    .map(|r| r.as_ref().and_then(|r| r.get(d)).map_or(f64::NAN, f))
                    .collect()
            };
            let names = self
                .rows
                .iter()
                .map(|r| {
                    r.as_ref()
                        .and_then(|r| r.get(d))
                        .map_or(String::new(), |x| x.feature.clone())
                })
                .collect();
            out.push((*name, OutCol::Str(names)));
            out.push((*value, OutCol::F64(pick(&|x| x.value))));
            out.push((*contribution, OutCol::F64(pick(&|x| x.contribution))));
        }
        out
    }
}

/// Drivers for the rows `base` (e.g. the test split), every row on an insight list, or every
/// row with `all`; written into the lists' entries (`drivers`, `because`). `x` holds the
/// model's features for the rows `ids`.
pub fn explain(
    model: &Gbdt,
    x: &Table,
    ids: &[String],
    insights: &mut Insights,
    base: &[usize],
    k: usize,
    all: bool,
) -> Result<RowDrivers> {
    let mut want = vec![all; ids.len()];
    for &i in base {
        want[i] = true;
    }
    let lists = [
        &mut insights.retention_targets,
        &mut insights.vip,
        &mut insights.likely_conversions,
    ];
    let index: std::collections::HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let row_of = |e: &ListEntry| {
        let id = e.customer_id.as_deref().or(e.session_id.as_deref())?;
        index.get(id).copied()
    };
    let mut lists: Vec<&mut ActionList> = lists.into_iter().filter_map(|l| l.as_mut()).collect();
    for l in &lists {
        for e in &l.top {
            if let Some(i) = row_of(e) {
                want[i] = true;
            }
        }
    }
    let which: Vec<usize> = (0..ids.len()).filter(|&i| want[i]).collect();
    let d = RowDrivers::of(model, x, &which, k)?;
    for l in lists.iter_mut() {
        for e in l.top.iter_mut() {
            if let Some(Some(dr)) = row_of(e).map(|i| d.rows[i].clone()) {
                e.because = Some(sentence(&dr));
                e.drivers = Some(dr);
            }
        }
    }
    Ok(d)
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "missing".into()
    } else if v == v.round() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The drivers that raise the prediction, in words: `recency_days = 94 (+0.81),
/// support_tickets = 2 (+0.30)` (a customer on a risk list is there because of these; the
/// drivers that lower it are in `drivers`).
pub fn sentence(drivers: &[Driver]) -> String {
    let up: Vec<String> = drivers
        .iter()
        .filter(|d| d.contribution > 0.0)
        .map(|d| {
            format!(
                "{} = {} ({:+.2})",
                d.feature,
                number(d.value),
                d.contribution
            )
        })
        .collect();
    if up.is_empty() {
        format!(
            "none of the {} largest contributions raises the prediction",
            drivers.len()
        )
    } else {
        up.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_drivers_by_absolute_contribution() {
        let f: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let d = top(&f, &[1.0, f64::NAN, 2.5, 4.0], &[0.1, -0.7, 0.0, 0.3], 3);
        let names: Vec<&str> = d.iter().map(|d| d.feature.as_str()).collect();
        assert_eq!(names, ["b", "d", "a"]);
        assert_eq!(sentence(&d), "d = 4 (+0.30), a = 1 (+0.10)");
        assert_eq!(
            sentence(&d[..1]),
            "none of the 1 largest contributions raises the prediction"
        );
        // a feature that contributed nothing is never a driver
        assert_eq!(top(&f, &[0.0; 4], &[0.0, 0.0, 0.5, 0.0], 3).len(), 1);
    }
}
