//! The tracking series: cumulative repeat purchases of the whole customer base, actual and as
//! the model expects them, period by period from the first purchase in the data through the
//! calibration and holdout periods (Fader, Hardie & Lee 2005, figure 2; lifetimes'
//! `expected_cumulative_transactions` and `plot_cumulative_transactions`). The first thing an
//! analyst checks: a model that tracks the calibration period and keeps tracking after the
//! calibration end can be trusted with forecasts.
//!
//! Periods are `time_unit` long and counted from the first purchase day; the value at the end
//! of period j counts the days before `start + j·unit`:
//!
//! ```text
//! actual(j)   = Σ_{d < j·unit} repeat purchase days on day d
//! expected(j) = Σ_{d < j·unit} (customers whose first purchase was on day d)
//!                               × E[X((j·unit − d) / unit)]
//! ```
//!
//! with E[X(t)] the expected repeat purchases of a new customer within t units of the first
//! purchase. Customers who first bought after the calibration end are counted from their first
//! purchase, as lifetimes does.

use serde::{Deserialize, Serialize};

use super::{Summary, TransactionModel};

/// The tracking series of a summary under a model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tracking {
    /// Length of a period in days (the time unit).
    pub period_days: f64,
    /// First purchase day of the data (YYYY-MM-DD): period 1 starts there.
    pub start: String,
    /// Periods that end on or before the calibration end (the rest are the holdout).
    pub calibration_periods: usize,
    /// Actual cumulative repeat purchase days at the end of each period.
    pub actual: Vec<f64>,
    /// Expected cumulative repeat purchases at the end of each period.
    pub expected: Vec<f64>,
}

impl Tracking {
    /// Repeat purchases in each period (differences of the cumulative series): actual,
    /// expected.
    pub fn incremental(&self) -> (Vec<f64>, Vec<f64>) {
        let diff = |v: &[f64]| -> Vec<f64> {
            v.iter()
                .enumerate()
                .map(|(i, x)| if i == 0 { *x } else { x - v[i - 1] })
                .collect()
        };
        (diff(&self.actual), diff(&self.expected))
    }
}

/// The tracking series of `summary` (from [`super::summarize`]) under `model`; `None` for a
/// summary without daily purchases (a summary table) or shorter than one period.
pub fn tracking(summary: &Summary, model: &dyn TransactionModel) -> Option<Tracking> {
    let daily = &summary.daily;
    if daily.first.is_empty() {
        return None;
    }
    let unit = summary.time_unit.days();
    let days = daily.first.len();
    let periods = (days as f64 / unit).floor() as usize;
    if periods == 0 {
        return None;
    }
    // day offsets with first purchases, and the cumulative repeat purchase days
    let firsts: Vec<(usize, f64)> = daily
        .first
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(d, n)| (d, *n as f64))
        .collect();
    let mut cumulative_repeat = Vec::with_capacity(days + 1);
    cumulative_repeat.push(0.0);
    for r in &daily.repeat {
        cumulative_repeat.push(cumulative_repeat.last().copied().unwrap_or(0.0) + *r as f64);
    }
    let calibration_days = summary.calibration_end - daily.start + 1;
    let mut t = Tracking {
        period_days: unit,
        start: crate::data::timestamp::format_date(daily.start),
        calibration_periods: 0,
        actual: Vec::with_capacity(periods),
        expected: Vec::with_capacity(periods),
    };
    // E[X] of a new customer depends only on the days since the first purchase: once per lag
    let last_end = (periods as f64 * unit).ceil() as usize;
    let by_lag: Vec<f64> = (0..=last_end)
        .map(|lag| model.expected_purchases_new(lag as f64 / unit))
        .collect();
    for j in 1..=periods {
        let end = (j as f64 * unit).ceil() as usize; // days before the end of period j
        t.actual.push(cumulative_repeat[end.min(days)]);
        let expected = firsts
            .iter()
            .take_while(|(d, _)| *d < end)
            .map(|&(d, n)| n * by_lag[end - d])
            .sum();
        t.expected.push(expected);
        if end as i64 <= calibration_days {
            t.calibration_periods = j;
        }
    }
    Some(t)
}
