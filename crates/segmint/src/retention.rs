//! Contractual retention: subscriptions, memberships, anything customers renew period by period
//! and leave observably. The shifted-beta-geometric model (sBG; Fader & Hardie 2007, "How to
//! project customer retention", Journal of Interactive Marketing 21(1)) fitted per acquisition
//! cohort: each customer renews with her own probability 1 - θ, θ ~ Beta(α, β) across customers,
//! so the cohort's retention rate rises over time as the likely churners leave, which a single
//! churn rate (or a curve fitted by eye) cannot project.
//!
//! ```text
//! P(T = t) = B(α+1, β+t-1) / B(α, β)      churn at the t-th renewal
//! S(t)     = B(α, β+t) / B(α, β)          still active after t renewals
//! r_t      = S(t) / S(t-1) = (β+t-1) / (α+β+t-1)
//! LL       = Σ_t lost_t ln P(T = t) + Σ_t active-at-the-end_t ln S(t)
//! ```
//!
//! Input: a cohort table `cohort, period, active` (customers still active at the start of each
//! period; period 0 is the cohort's size) or one row per customer `cohort, renewals, churned`
//! (how often the customer renewed; whether she has left since). Output per cohort: α, β and
//! their standard errors, the survival curve observed and projected `horizon` periods beyond
//! the data, the retention rates, and the DERL of a customer still active at the end (Fader &
//! Hardie 2010, "Customer-base valuation in a contractual setting", equation 6).
//!
//! ```
//! use segmint::retention::ShiftedBetaGeometric;
//!
//! // the "regular" cohort of Fader & Hardie (2007): 1,000 customers over 7 years
//! let active = [1000.0, 631.0, 468.0, 382.0, 326.0, 289.0, 262.0, 241.0];
//! let m = ShiftedBetaGeometric::fit_active(&active)?;
//! assert!((m.alpha - 0.704).abs() < 1e-3 && (m.beta - 1.182).abs() < 1e-3);
//! println!("year 12: {:.1}% still active", 100.0 * m.survival(12.0));
//! # Ok::<(), segmint::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use serde::{Deserialize, Serialize};

use crate::clv::bgnbd::Estimate;
use crate::data::columns::{number_column, read_columns, texts};
use crate::data::reader::TableReader;
use crate::data::{ColumnMap, TableKind};
use crate::error::{show_value, Error, Result};
use crate::stats::{hyp2f1, ln_beta};

/// A fitted shifted-beta-geometric model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShiftedBetaGeometric {
    /// Beta shape α of the churn probability.
    pub alpha: f64,
    /// Beta shape β of the churn probability.
    pub beta: f64,
    /// Log-likelihood at the optimum.
    pub log_likelihood: f64,
    /// Customers it was fitted on.
    pub customers: f64,
    /// Estimates with standard errors and 95% intervals.
    pub estimates: Vec<Estimate>,
    /// How the optimiser converged.
    pub diagnostics: Option<crate::clv::optim::Diagnostics>,
}

/// What a cohort's customers did: `lost[t]` churned at the t-th renewal (t >= 1), `still[t]`
/// were still active after t renewals when observation ended (right-censored).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifetimes {
    /// Customers lost at renewal t (index 0 unused, 0).
    pub lost: Vec<f64>,
    /// Customers still active after t renewals at the end of observation.
    pub still: Vec<f64>,
}

impl Lifetimes {
    /// From the active customers at the start of each period (`active[0]` the cohort size),
    /// all observed up to the last period.
    pub fn from_active(active: &[f64]) -> Result<Lifetimes> {
        if active.is_empty() {
            return Err(Error::Data("sBG: no periods".into()));
        }
        for (t, w) in active.windows(2).enumerate() {
            if w[1] > w[0] {
                return Err(Error::Data(format!(
                    "sBG: active customers rise from {} in period {t} to {} in period {}: a cohort \
                     only loses customers",
                    w[0],
                    w[1],
                    t + 1
                )));
            }
        }
        if let Some(v) = active.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(Error::Data(format!(
                "sBG: active customers must be numbers >= 0, got {v}"
            )));
        }
        let last = active.len() - 1;
        let mut l = Lifetimes {
            lost: vec![0.0; last + 1],
            still: vec![0.0; last + 1],
        };
        for t in 1..=last {
            l.lost[t] = active[t - 1] - active[t];
        }
        l.still[last] = active[last];
        Ok(l)
    }

    /// Customers in all.
    pub fn customers(&self) -> f64 {
        self.lost.iter().sum::<f64>() + self.still.iter().sum::<f64>()
    }

    fn log_likelihood(&self, alpha: f64, beta: f64) -> f64 {
        let b0 = ln_beta(alpha, beta);
        let mut ll = 0.0;
        for t in 0..self.lost.len().max(self.still.len()) {
            let tf = t as f64;
            if let Some(&n) = self.lost.get(t).filter(|n| **n > 0.0) {
                ll += n * (ln_beta(alpha + 1.0, beta + tf - 1.0) - b0);
            }
            if let Some(&n) = self.still.get(t).filter(|n| **n > 0.0) {
                ll += n * (ln_beta(alpha, beta + tf) - b0);
            }
        }
        if ll.is_nan() {
            f64::NEG_INFINITY
        } else {
            ll
        }
    }
}

impl ShiftedBetaGeometric {
    /// Fits the model to the active customers at the start of each period (`active[0]` the
    /// cohort size).
    pub fn fit_active(active: &[f64]) -> Result<ShiftedBetaGeometric> {
        ShiftedBetaGeometric::fit(&Lifetimes::from_active(active)?)
    }

    /// Fits the model to the lifetimes of a cohort's customers.
    pub fn fit(data: &Lifetimes) -> Result<ShiftedBetaGeometric> {
        let lost: f64 = data.lost.iter().sum();
        let customers = data.customers();
        if customers.is_nan() || customers <= 0.0 {
            return Err(Error::Data("sBG: no customers".into()));
        }
        if lost == 0.0 {
            return Err(Error::Data(
                "sBG needs churned customers: nobody left in the periods observed".into(),
            ));
        }
        if data.still.iter().skip(1).all(|&n| n == 0.0)
            && data.lost.iter().skip(2).all(|&n| n == 0.0)
        {
            return Err(Error::Data(
                "sBG needs customers who renewed at least once: everyone left at the first renewal"
                    .into(),
            ));
        }
        let ll = |th: &[f64]| data.log_likelihood(th[0].exp(), th[1].exp());
        let starts = vec![vec![0.0, 0.0], vec![-1.0, 1.0], vec![1.0, 2.0]];
        let o = crate::clv::optim::maximize_by_differences("sBG", &ll, customers, 0.0, &starts)?;
        let th = &o.theta;
        Ok(ShiftedBetaGeometric {
            alpha: th[0].exp(),
            beta: th[1].exp(),
            log_likelihood: ll(th),
            customers,
            estimates: crate::clv::bgnbd::estimates(&["alpha", "beta"], th, &o.hessian),
            diagnostics: Some(o.diagnostics),
        })
    }

    /// P(T = t): the probability of leaving at the t-th renewal (t >= 1).
    pub fn churn_probability(&self, t: f64) -> f64 {
        (ln_beta(self.alpha + 1.0, self.beta + t - 1.0) - ln_beta(self.alpha, self.beta)).exp()
    }

    /// S(t): the share of the cohort still active after t renewals (S(0) = 1).
    pub fn survival(&self, t: f64) -> f64 {
        (ln_beta(self.alpha, self.beta + t) - ln_beta(self.alpha, self.beta)).exp()
    }

    /// r_t = S(t)/S(t-1): the share of those active after t-1 renewals who renew a t-th time.
    pub fn retention_rate(&self, t: f64) -> f64 {
        (self.beta + t - 1.0) / (self.alpha + self.beta + t - 1.0)
    }

    /// Discounted expected residual lifetime, in payments, of a customer who has renewed
    /// `renewals` times and is up for the next renewal (Fader & Hardie 2010, equation 6):
    /// Σ_{k>=0} S(renewals+1+k) / S(renewals) / (1+d)^k, the next payment (if she renews)
    /// undiscounted. Multiply by the margin per period for a value.
    pub fn derl(&self, discount: f64, renewals: f64) -> f64 {
        let (a, b, n) = (self.alpha, self.beta, renewals + 1.0);
        let z = 1.0 / (1.0 + discount);
        (b + n - 1.0) / (a + b + n - 1.0) * hyp2f1(1.0, b + n, a + b + n, z).unwrap_or(f64::NAN)
    }
}

/// Settings of [`analyze`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetentionParams {
    /// Periods projected beyond each cohort's last observed period (default 5).
    pub horizon: u32,
    /// Discount rate per period of the DERL (default 0.1).
    pub discount_rate: f64,
}

impl Default for RetentionParams {
    fn default() -> Self {
        RetentionParams {
            horizon: 5,
            discount_rate: 0.1,
        }
    }
}

impl RetentionParams {
    /// Checks the parameters; the error names the parameter and its value.
    pub fn check(&self) -> Result<()> {
        if self.horizon > 1000 {
            return Err(Error::param(
                "horizon",
                format!("at most 1000 periods, got {}", self.horizon),
            ));
        }
        let d = self.discount_rate;
        if !(d > -1.0 && d.is_finite()) {
            return Err(Error::param(
                "discount_rate",
                format!("must be > -1, got {d}"),
            ));
        }
        Ok(())
    }
}

/// The lifetimes of each cohort, in cohort order (as text, sorted).
#[derive(Debug, Clone, Default)]
pub struct Cohorts {
    /// (cohort, its customers' lifetimes, last period observed).
    pub cohorts: Vec<(String, Lifetimes)>,
    /// Rows read.
    pub rows: u64,
}

impl Cohorts {
    /// Reads a cohort table (`cohort, period, active`) or per-customer lifetimes (`cohort,
    /// renewals, churned`); `cohort` is optional (one cohort, named `all`).
    pub fn read(path: &Path) -> Result<Cohorts> {
        let reader = TableReader::open(TableKind::Other, path, &ColumnMap::new())?;
        Cohorts::from_reader(path, &reader)
    }

    /// [`Cohorts::read`] of an opened table (a file or Arrow batches); errors name `path`.
    pub fn from_reader(path: &Path, reader: &TableReader) -> Result<Cohorts> {
        let has = |c: &str| reader.has_column(c);
        if has("active") && has("period") {
            read_active(path, reader)
        } else if has("renewals") && has("churned") {
            read_customers(path, reader)
        } else {
            Err(Error::format(
                path,
                format!(
                    "needs columns period and active (a cohort table) or renewals and churned (one row \
                     per customer), each with an optional cohort column; found {}",
                    reader.column_names().join(", ")
                ),
            ))
        }
    }
}

/// The cohort label of each row (missing labels are an error).
fn cohort_labels(path: &Path, arrays: &[ArrayRef]) -> Result<Vec<String>> {
    texts(arrays)
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.filter(|s| !s.trim().is_empty())
                .ok_or_else(|| Error::Value {
                    path: path.to_path_buf(),
                    row: i as u64 + 1,
                    column: "cohort".into(),
                    value: "null".into(),
                    problem: "a row without a cohort".into(),
                })
        })
        .collect()
}

fn whole(path: &Path, column: &str, values: &[f64], max: f64) -> Result<Vec<f64>> {
    for (i, &v) in values.iter().enumerate() {
        if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= max) {
            return Err(Error::Value {
                path: path.to_path_buf(),
                row: i as u64 + 1,
                column: column.into(),
                value: show_value(&v.to_string()),
                problem: format!("expected a whole number from 0 to {max}"),
            });
        }
    }
    Ok(values.to_vec())
}

fn read_active(path: &Path, reader: &TableReader) -> Result<Cohorts> {
    let with_cohort = reader.has_column("cohort");
    let mut wanted = vec!["period", "active"];
    if with_cohort {
        wanted.push("cohort");
    }
    let cols = read_columns(reader, &wanted)?;
    let period = whole(
        path,
        "period",
        &number_column(path, "period", &cols[0])?,
        10_000.0,
    )?;
    let active = number_column(path, "active", &cols[1])?;
    for (i, &v) in active.iter().enumerate() {
        if !(v.is_finite() && v >= 0.0) {
            return Err(Error::Value {
                path: path.to_path_buf(),
                row: i as u64 + 1,
                column: "active".into(),
                value: show_value(&v.to_string()),
                problem: "expected a number of customers >= 0".into(),
            });
        }
    }
    let labels = if with_cohort {
        cohort_labels(path, &cols[2])?
    } else {
        vec!["all".to_string(); period.len()]
    };
    // cohort -> period -> (active, row)
    let mut by: BTreeMap<String, BTreeMap<u32, (f64, usize)>> = BTreeMap::new();
    for i in 0..period.len() {
        let prev = by
            .entry(labels[i].clone())
            .or_default()
            .insert(period[i] as u32, (active[i], i + 1));
        if let Some((_, row)) = prev {
            return Err(Error::Value {
                path: path.to_path_buf(),
                row: i as u64 + 1,
                column: "period".into(),
                value: period[i].to_string(),
                problem: format!(
                    "cohort {:?} has this period already in row {row}",
                    labels[i]
                ),
            });
        }
    }
    let mut cohorts = Vec::new();
    for (cohort, periods) in by {
        let mut series = Vec::new();
        for (expected, (&p, &(a, row))) in periods.iter().enumerate() {
            if p as usize != expected {
                return Err(Error::Value {
                    path: path.to_path_buf(),
                    row: row as u64,
                    column: "period".into(),
                    value: p.to_string(),
                    problem: format!(
                        "cohort {cohort:?} has no period {expected}: periods must run 0, 1, 2, ... without gaps"
                    ),
                });
            }
            if let Some(&before) = series.last() {
                if a > before {
                    return Err(Error::Value {
                        path: path.to_path_buf(),
                        row: row as u64,
                        column: "active".into(),
                        value: a.to_string(),
                        problem: format!(
                            "cohort {cohort:?} has {before} active in period {}: active customers cannot rise",
                            p - 1
                        ),
                    });
                }
            }
            series.push(a);
        }
        cohorts.push((cohort, Lifetimes::from_active(&series)?));
    }
    Ok(Cohorts {
        cohorts,
        rows: period.len() as u64,
    })
}

fn read_customers(path: &Path, reader: &TableReader) -> Result<Cohorts> {
    let with_cohort = reader.has_column("cohort");
    let mut wanted = vec!["renewals", "churned"];
    if with_cohort {
        wanted.push("cohort");
    }
    let cols = read_columns(reader, &wanted)?;
    let renewals = whole(
        path,
        "renewals",
        &number_column(path, "renewals", &cols[0])?,
        10_000.0,
    )?;
    let churned = number_column(path, "churned", &cols[1])?;
    let labels = if with_cohort {
        cohort_labels(path, &cols[2])?
    } else {
        vec!["all".to_string(); renewals.len()]
    };
    let mut by: BTreeMap<String, Lifetimes> = BTreeMap::new();
    for i in 0..renewals.len() {
        let c = churned[i];
        if c != 0.0 && c != 1.0 {
            return Err(Error::Value {
                path: path.to_path_buf(),
                row: i as u64 + 1,
                column: "churned".into(),
                value: show_value(&c.to_string()),
                problem: "expected true/false (or 1/0)".into(),
            });
        }
        let l = by.entry(labels[i].clone()).or_default();
        let r = renewals[i] as usize;
        // churned after r renewals: lost at renewal r + 1; otherwise active after r renewals
        let (slot, at) = if c == 1.0 {
            (&mut l.lost, r + 1)
        } else {
            (&mut l.still, r)
        };
        if slot.len() <= at {
            slot.resize(at + 1, 0.0);
        }
        slot[at] += 1.0;
    }
    for l in by.values_mut() {
        let len = l.lost.len().max(l.still.len());
        l.lost.resize(len, 0.0);
        l.still.resize(len, 0.0);
    }
    Ok(Cohorts {
        cohorts: by.into_iter().collect(),
        rows: renewals.len() as u64,
    })
}

/// One cohort's fit and curves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CohortRetention {
    /// The cohort's label.
    pub cohort: String,
    /// Customers acquired.
    pub customers: f64,
    /// Last period with data.
    pub periods_observed: u32,
    /// The fitted model (α, β, log-likelihood, estimates).
    pub model: ShiftedBetaGeometric,
    /// Share still active at the start of each period as observed (period 0..=observed; from
    /// per-customer data, the Kaplan-Meier estimate).
    pub observed_survival: Vec<f64>,
    /// The model's share still active, periods 0..=observed+horizon.
    pub survival: Vec<f64>,
    /// The model's retention rate per period (period 0: none, NaN).
    pub retention_rate: Vec<f64>,
    /// DERL of a customer active in the last observed period (in payments, at the discount
    /// rate of the parameters).
    pub derl: f64,
}

/// Everything [`analyze`] computes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetentionAnalysis {
    /// The parameters it ran with.
    pub params: RetentionParams,
    /// One fit per cohort, in cohort order.
    pub cohorts: Vec<CohortRetention>,
    /// Cohorts that could not be fitted, with the reason (too few customers, nobody left).
    pub left_out: Vec<(String, String)>,
}

/// Kaplan-Meier survival after 0..=last renewals (equal to active[t]/active[0] for a cohort
/// table, where everyone is observed to the end).
fn kaplan_meier(l: &Lifetimes) -> Vec<f64> {
    let last = l.lost.len().max(l.still.len()).saturating_sub(1);
    let mut at_risk = l.customers();
    let mut s = 1.0;
    let mut out = vec![1.0];
    for t in 1..=last {
        // those still active after t-1 renewals (censored) leave the risk set before renewal t
        at_risk -= l.still.get(t - 1).copied().unwrap_or(0.0);
        let lost = l.lost.get(t).copied().unwrap_or(0.0);
        if at_risk > 0.0 {
            s *= 1.0 - lost / at_risk;
        }
        at_risk -= lost;
        out.push(s);
    }
    out
}

/// Fits the sBG model to each cohort and projects it.
pub fn analyze(cohorts: &Cohorts, params: &RetentionParams) -> Result<RetentionAnalysis> {
    params.check()?;
    let mut out = Vec::new();
    let mut left_out = Vec::new();
    for (cohort, l) in &cohorts.cohorts {
        let model = match ShiftedBetaGeometric::fit(l) {
            Ok(m) => m,
            Err(Error::Data(why)) => {
                left_out.push((cohort.clone(), why));
                continue;
            }
            Err(e) => return Err(e),
        };
        let observed_survival = kaplan_meier(l);
        let last = observed_survival.len() - 1;
        let end = last + params.horizon as usize;
        let survival = (0..=end).map(|t| model.survival(t as f64)).collect();
        let retention_rate = (0..=end)
            .map(|t| {
                if t == 0 {
                    f64::NAN
                } else {
                    model.retention_rate(t as f64)
                }
            })
            .collect();
        out.push(CohortRetention {
            cohort: cohort.clone(),
            customers: l.customers(),
            periods_observed: last as u32,
            derl: model.derl(params.discount_rate, last as f64),
            model,
            observed_survival,
            survival,
            retention_rate,
        });
    }
    if out.is_empty() {
        let why = left_out
            .iter()
            .map(|(c, w)| format!("{c}: {w}"))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::Data(format!("no cohort could be fitted ({why})")));
    }
    Ok(RetentionAnalysis {
        params: params.clone(),
        cohorts: out,
        left_out,
    })
}

impl RetentionAnalysis {
    /// The curves in long form: one row per cohort and period, `cohort, period, observed,
    /// observed_survival` (null where projected), `survival, retention_rate` (null at period 0),
    /// `expected_active` (customers × survival).
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let mut cohort = Vec::new();
        let mut period = Vec::new();
        let mut observed = Vec::new();
        let mut obs_surv = Vec::new();
        let mut surv = Vec::new();
        let mut rate = Vec::new();
        let mut active = Vec::new();
        for c in &self.cohorts {
            for (t, &s) in c.survival.iter().enumerate() {
                cohort.push(c.cohort.as_str());
                period.push(t as i64);
                observed.push(t as u32 <= c.periods_observed);
                obs_surv.push(c.observed_survival.get(t).copied());
                surv.push(s);
                rate.push((t > 0).then(|| c.retention_rate[t]));
                active.push(c.customers * s);
            }
        }
        let cols: Vec<(&str, ArrayRef)> = vec![
            ("cohort", Arc::new(StringArray::from(cohort))),
            ("period", Arc::new(Int64Array::from(period))),
            ("observed", Arc::new(BooleanArray::from(observed))),
            ("observed_survival", Arc::new(Float64Array::from(obs_surv))),
            ("survival", Arc::new(Float64Array::from(surv))),
            ("retention_rate", Arc::new(Float64Array::from(rate))),
            ("expected_active", Arc::new(Float64Array::from(active))),
        ];
        RecordBatch::try_from_iter(cols).map_err(|e| Error::Data(e.to_string()))
    }

    /// The fits as JSON for `retention.json`: per cohort α, β, log-likelihood, estimates, the
    /// projected survival and retention rates, and the DERL.
    pub fn to_json(&self) -> serde_json::Value {
        let nan_null = |v: &[f64]| -> Vec<Option<f64>> {
            v.iter().map(|x| x.is_finite().then_some(*x)).collect()
        };
        serde_json::json!({
            "model": "shifted-beta-geometric (Fader & Hardie 2007)",
            "horizon": self.params.horizon,
            "discount_rate": self.params.discount_rate,
            "cohorts": self.cohorts.iter().map(|c| serde_json::json!({
                "cohort": c.cohort,
                "customers": c.customers,
                "periods_observed": c.periods_observed,
                "alpha": c.model.alpha,
                "beta": c.model.beta,
                "log_likelihood": c.model.log_likelihood,
                "estimates": c.model.estimates,
                "diagnostics": c.model.diagnostics,
                "observed_survival": c.observed_survival,
                "survival": c.survival,
                "retention_rate": nan_null(&c.retention_rate),
                "derl": c.derl,
            })).collect::<Vec<_>>(),
            "left_out": self.left_out.iter().map(|(c, w)| serde_json::json!({"cohort": c, "reason": w})).collect::<Vec<_>>(),
        })
    }

    /// Writes `retention.json` and `retention.parquet` (or `.csv` with `csv`) into `dir`.
    pub fn write(&self, dir: &Path, csv: bool) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        crate::files::write_json(&dir.join("retention.json"), &self.to_json())?;
        let table = if csv {
            "retention.csv"
        } else {
            "retention.parquet"
        };
        crate::output::write_table(&self.to_record_batch()?, &dir.join(table), &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fader & Hardie (2007), "How to project customer retention", Table 1 (years 0-7, the
    /// calibration period of the paper): % of 1,000 customers still active.
    const REGULAR: [f64; 8] = [1000.0, 631.0, 468.0, 382.0, 326.0, 289.0, 262.0, 241.0];
    const HIGH_END: [f64; 8] = [1000.0, 869.0, 743.0, 653.0, 593.0, 551.0, 517.0, 491.0];

    fn rel(got: f64, paper: f64) -> f64 {
        ((got - paper) / paper).abs()
    }

    #[test]
    fn reproduces_the_two_cohorts_of_the_paper() {
        // the paper's estimates: regular α 0.704, β 1.182; high end α 0.668, β 3.806
        for (active, alpha, beta) in [(REGULAR, 0.704, 1.182), (HIGH_END, 0.668, 3.806)] {
            let m = ShiftedBetaGeometric::fit_active(&active).unwrap();
            assert!(rel(m.alpha, alpha) < 1e-3, "alpha {} vs {alpha}", m.alpha);
            assert!(rel(m.beta, beta) < 1e-3, "beta {} vs {beta}", m.beta);
            assert_eq!(m.customers, 1000.0);
            // the model's survival is close to the data it was fitted on (within 2 points; the
            // paper's figure 3 shows the high-end cohort's year 1 as its largest miss)
            for (t, a) in active.iter().enumerate() {
                assert!((m.survival(t as f64) - a / 1000.0).abs() < 0.02, "year {t}");
            }
        }
    }

    #[test]
    fn projects_the_years_the_paper_held_out() {
        // Table 1 of the paper, years 8-12 (not used for the fit): the projections of the
        // seven-year fit stay within 2 points of what happened (the paper's figure 4)
        let later = [
            (REGULAR, [22.3, 20.7, 19.4, 18.3, 17.3]),
            (HIGH_END, [46.8, 44.5, 42.7, 40.9, 39.4]),
        ];
        for (active, actual) in later {
            let m = ShiftedBetaGeometric::fit_active(&active).unwrap();
            for (k, pct) in actual.iter().enumerate() {
                let year = 8.0 + k as f64;
                let projected = 100.0 * m.survival(year);
                assert!(
                    (projected - pct).abs() < 2.0,
                    "year {year}: {projected:.1} vs {pct}"
                );
            }
        }
    }

    #[test]
    fn curves_follow_their_definitions() {
        let m = ShiftedBetaGeometric::fit_active(&REGULAR).unwrap();
        // S(t) = 1 - Σ_{k<=t} P(T = k); r_t = S(t)/S(t-1)
        let mut s = 1.0;
        for t in 1..=12 {
            s -= m.churn_probability(t as f64);
            assert!((m.survival(t as f64) - s).abs() < 1e-12);
            let r = m.survival(t as f64) / m.survival(t as f64 - 1.0);
            assert!((m.retention_rate(t as f64) - r).abs() < 1e-12);
        }
        // DERL = Σ_k S(n+1+k)/S(n) / (1+d)^k by direct summation
        let (d, n): (f64, f64) = (0.1, 7.0);
        let direct: f64 = (0..3000)
            .map(|k| m.survival(n + 1.0 + k as f64) / m.survival(n) / (1.0 + d).powi(k))
            .sum();
        assert!(
            (m.derl(d, n) - direct).abs() < 1e-9 * direct,
            "{} vs {direct}",
            m.derl(d, n)
        );
        // retention rises with tenure (heterogeneity: the likely churners leave first)
        assert!(m.retention_rate(2.0) > m.retention_rate(1.0));
    }

    #[test]
    fn per_customer_lifetimes_equal_the_cohort_table() {
        // the regular cohort as 1,000 customers: 369 left at renewal 1, ..., 241 still active
        let mut l = Lifetimes {
            lost: vec![0.0; 8],
            still: vec![0.0; 8],
        };
        for t in 1..8 {
            l.lost[t] = REGULAR[t - 1] - REGULAR[t];
        }
        l.still[7] = REGULAR[7];
        assert_eq!(l, Lifetimes::from_active(&REGULAR).unwrap());
        let km = kaplan_meier(&l);
        for (t, a) in REGULAR.iter().enumerate() {
            assert!((km[t] - a / 1000.0).abs() < 1e-12, "{t}: {}", km[t]);
        }
    }

    #[test]
    fn a_rising_cohort_is_refused() {
        let e = ShiftedBetaGeometric::fit_active(&[100.0, 80.0, 90.0]).unwrap_err();
        assert!(e.to_string().contains("rise"), "{e}");
    }
}
