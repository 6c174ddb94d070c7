//! Intervals of the CLV predictions from the uncertainty of the fitted parameters: per customer
//! for P(alive), the expected purchases, the expected order value and the CLV, and for the
//! customer base's totals (expected purchases, CLV, and with a holdout period its expected
//! purchases there, to check against what happened).
//!
//! Three methods, all from the fits' asymptotics or the data themselves:
//!
//! * `delta` (default): the delta method on a scale where the normal approximation holds
//!   (logit for P(alive), log for the positive quantities), with the covariance of the
//!   log-parameters from the Hessian and the gradients by forward differences of the
//!   predictions (one extra prediction pass per transaction-model parameter, the order-value
//!   parameters in closed form). Exact in the limit, no Monte Carlo noise, and cheap: the cost
//!   does not grow with a number of draws.
//! * `draws`: `draws` parameter vectors from the asymptotic normal of the log-parameters
//!   (seeded; draw d is the same at any thread count), the predictions at each, the interval
//!   from their quantiles. Customers are processed in blocks, so memory holds one block's
//!   draws, not all customers' (it does not grow with the data).
//! * `bootstrap`: the same quantiles over refits on customers resampled with replacement
//!   (CLVTools' check; costs `draws` fits).
//!
//! The transaction model and Gamma-Gamma are fitted separately; their parameters are treated as
//! independent. The intervals are of the *expected* values given the data (parameter
//! uncertainty), not of what one customer will do.

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::analysis::{fit_transaction, FittedModel, TransactionKind};
use super::bgnbd::log_covariance;
use super::gamma_gamma::GammaGamma;
use super::{pair_tables, predict_with_holdout, Pairs, PredictParams, Summary};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// How the intervals are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntervalMethod {
    /// The delta method with the Hessian's covariance (default).
    #[default]
    Delta,
    /// Quantiles over draws from the asymptotic normal of the log-parameters.
    Draws,
    /// Quantiles over refits on resampled customers.
    Bootstrap,
}

impl IntervalMethod {
    /// Its name: `delta`, `draws`, `bootstrap`.
    pub fn name(self) -> &'static str {
        match self {
            IntervalMethod::Delta => "delta",
            IntervalMethod::Draws => "draws",
            IntervalMethod::Bootstrap => "bootstrap",
        }
    }
}

/// Settings of [`intervals`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntervalParams {
    /// Coverage of the intervals (0.9: from the 5th to the 95th percentile).
    pub level: f64,
    /// How they are computed.
    #[serde(default)]
    pub method: IntervalMethod,
    /// Parameter draws (or bootstrap refits) of `draws` and `bootstrap`.
    pub draws: u32,
    /// Seed of the draws and resamples.
    pub seed: u64,
}

impl Default for IntervalParams {
    fn default() -> Self {
        IntervalParams {
            level: 0.9,
            method: IntervalMethod::Delta,
            draws: 200,
            seed: 42,
        }
    }
}

impl IntervalParams {
    /// Checks the parameters; the error names the parameter and its value.
    pub fn check(&self) -> Result<()> {
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(Error::param(
                "interval",
                format!(
                    "is a coverage between 0 and 1 (0.9 = 90%), got {}",
                    self.level
                ),
            ));
        }
        if self.method != IntervalMethod::Delta && !(20..=100_000).contains(&self.draws) {
            return Err(Error::param(
                "draws",
                format!("must be 20 to 100000, got {}", self.draws),
            ));
        }
        Ok(())
    }
}

/// An estimate with its interval.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Interval {
    /// The estimate at the fitted parameters.
    pub estimate: f64,
    /// Lower end.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
}

/// Lower and upper ends per customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bounds {
    /// Lower end per customer.
    pub lower: Vec<f64>,
    /// Upper end per customer.
    pub upper: Vec<f64>,
}

/// Intervals of the customer base's totals.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Totals {
    /// Expected purchases of all customers over the horizon.
    pub expected_purchases: Interval,
    /// CLV of all customers.
    pub clv: Interval,
    /// With a holdout period: the expected purchases of the calibration customers in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout_purchases: Option<Interval>,
    /// With a holdout period: the purchases that happened in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout_actual: Option<f64>,
    /// Prediction interval of the purchases all customers will make over the horizon: the
    /// interval of the expectation widened by the purchase process's own variation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchases_prediction: Option<Interval>,
    /// With a holdout period: the prediction interval of its purchases (what the actual is
    /// checked against).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout_prediction: Option<Interval>,
}

/// Everything [`intervals`] computes.
#[derive(Debug, Clone)]
pub struct Intervals {
    /// The settings they were computed with.
    pub params: IntervalParams,
    /// P(alive).
    pub p_alive: Bounds,
    /// Expected purchases over the horizon.
    pub expected_purchases: Bounds,
    /// Expected order value.
    pub expected_order_value: Bounds,
    /// CLV.
    pub clv: Bounds,
    /// The totals.
    pub totals: Totals,
    /// Bootstrap refits that failed (left out of the quantiles).
    pub failed_refits: u32,
}

/// Intervals of the predictions of `model` (a `kind` fit with `penalizer`) and `gg` for the
/// customers of `s`.
#[allow(clippy::too_many_arguments)]
pub fn intervals(
    s: &Summary,
    model: &FittedModel,
    kind: TransactionKind,
    gg: &GammaGamma,
    predict: &PredictParams,
    penalizer: f64,
    params: &IntervalParams,
    progress: &dyn Progress,
) -> Result<Intervals> {
    params.check()?;
    let holdout = s.holdout.as_ref().map(|h| h.duration);
    progress.begin(
        &format!("intervals ({})", params.method.name()),
        if params.method == IntervalMethod::Delta {
            0
        } else {
            params.draws as u64
        },
    );
    let out = match params.method {
        IntervalMethod::Delta => delta(s, model, gg, predict, holdout, params),
        IntervalMethod::Draws => {
            let (tx, g) = normal_draws(model, gg, params)?;
            Ok(from_draws(
                s, &tx, &g, predict, holdout, params, 0, progress,
            ))
        }
        IntervalMethod::Bootstrap => {
            let (tx, g, failed) = refits(s, kind, penalizer, params, progress)?;
            Ok(from_draws(
                s, &tx, &g, predict, holdout, params, failed, progress,
            ))
        }
    };
    progress.finish();
    let mut out = out?;
    if params.method != IntervalMethod::Delta {
        // the estimates are those at the fitted parameters, as in the predictions
        let (p, held) = predict_with_holdout(s, &Pairs::of(s), model.model(), gg, predict, holdout);
        out.totals.expected_purchases.estimate = p.expected_purchases.iter().sum();
        out.totals.clv.estimate = p.clv.iter().sum();
        if let Some(h) = out.totals.holdout_purchases.as_mut() {
            h.estimate = held.iter().sum();
        }
    }
    // prediction intervals: the expectation's interval widened, in quadrature, by the purchase
    // process's own variation around it
    let z = crate::stats::normal_quantile(0.5 + params.level / 2.0);
    let widen = |ci: &Interval, horizon: f64| -> Interval {
        progress.begin("intervals: the purchase process's variation", 0);
        let sd = process_variance(s, model, horizon, params.seed).sqrt();
        progress.finish();
        let (lo, hi) = (ci.estimate - ci.lower, ci.upper - ci.estimate);
        Interval {
            estimate: ci.estimate,
            lower: (ci.estimate - (lo * lo + (z * sd).powi(2)).sqrt()).max(0.0),
            upper: ci.estimate + (hi * hi + (z * sd).powi(2)).sqrt(),
        }
    };
    out.totals.purchases_prediction = Some(widen(&out.totals.expected_purchases, predict.horizon));
    if let (Some(h), Some(ci)) = (&s.holdout, &out.totals.holdout_purchases) {
        out.totals.holdout_prediction = Some(widen(ci, h.duration));
        out.totals.holdout_actual = Some(h.frequency.iter().sum());
    }
    Ok(out)
}

/// Customers whose future purchases are simulated for the process variance: all of them up to
/// this many, a systematic sample of about this many above (the variance of a sum of
/// independent customers scales exactly; the sample only adds a little noise to it).
const PROCESS_SAMPLE: usize = 10_000;
/// Simulated futures per sampled customer (the sum over customers of the variance estimates
/// is what matters: its noise falls with the customers, not only the runs).
const PROCESS_RUNS: usize = 32;

/// The variance of the total purchases of the customers of `s` over `horizon` around its
/// expectation, at the fitted parameters: the sum over customers of the variance of each one's
/// future purchases given the history (alive or not, her purchase rate and dropout drawn from
/// their posteriors), estimated by simulation (seeded per customer).
fn process_variance(s: &Summary, model: &FittedModel, horizon: f64, seed: u64) -> f64 {
    use rand_distr::{Beta, Distribution, Exp, Gamma, Poisson};
    let n = s.len();
    if n == 0 || horizon.is_nan() || horizon <= 0.0 {
        return 0.0;
    }
    let stride = n.div_ceil(PROCESS_SAMPLE).max(1);
    let sampled: Vec<usize> = (0..n).step_by(stride).collect();
    let m = model.model();
    let one = |i: usize| -> f64 {
        let (x, tx, t) = (s.frequency[i], s.recency[i], s.t[i]);
        let alive = m.p_alive(x, tx, t);
        let mut rng = rng_for(seed ^ 0x005E_ED0F_FA7E, i as u64);
        let mut counts = [0.0f64; PROCESS_RUNS];
        for c in counts.iter_mut() {
            if rng.random::<f64>() >= alive {
                continue;
            }
            *c = match model {
                FittedModel::Bg(b) => {
                    let extra = if b.variant == super::bgnbd::Variant::Mbgnbd {
                        1.0
                    } else {
                        0.0
                    };
                    let (Ok(rate), Ok(drop)) = (
                        Gamma::new(b.r + x, 1.0 / (b.alpha + t)),
                        Beta::new(b.a, b.b + x + extra),
                    ) else {
                        return 0.0;
                    };
                    let (lambda, p) = (rate.sample(&mut rng), drop.sample(&mut rng));
                    let Ok(gap) = Exp::new(lambda) else {
                        continue;
                    };
                    let (mut at, mut k) = (0.0, 0.0);
                    loop {
                        at += gap.sample(&mut rng);
                        if at > horizon {
                            break k;
                        }
                        k += 1.0;
                        if rng.random::<f64>() < p {
                            break k;
                        }
                    }
                }
                FittedModel::Pareto(pn) => {
                    let (Ok(rate), Ok(death)) = (
                        Gamma::new(pn.r + x, 1.0 / (pn.alpha + t)),
                        Gamma::new(pn.s, 1.0 / (pn.beta + t)),
                    ) else {
                        return 0.0;
                    };
                    let (lambda, mu) = (rate.sample(&mut rng), death.sample(&mut rng));
                    let life = Exp::new(mu).map_or(horizon, |e| e.sample(&mut rng).min(horizon));
                    Poisson::new(lambda * life).map_or(0.0, |p| p.sample(&mut rng))
                }
            };
        }
        let mean = counts.iter().sum::<f64>() / PROCESS_RUNS as f64;
        counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (PROCESS_RUNS - 1) as f64
    };
    let vars: Vec<f64> = sampled.par_iter().map(|&i| one(i)).collect();
    // summed in customer order, scaled from the sample to all customers
    vars.iter().sum::<f64>() * n as f64 / sampled.len() as f64
}

/// The intervals' settings and totals, as `clv.json` keeps them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntervalSummary {
    /// Coverage.
    pub level: f64,
    /// `delta`, `draws` or `bootstrap`.
    pub method: IntervalMethod,
    /// Draws or refits used (0 for `delta`).
    pub draws: u32,
    /// Seed of the draws.
    pub seed: u64,
    /// Bootstrap refits that failed and were left out.
    pub failed_refits: u32,
    /// The totals with their intervals.
    pub totals: Totals,
}

impl Intervals {
    /// Settings and totals for `clv.json`.
    pub fn summary(&self) -> IntervalSummary {
        let p = &self.params;
        IntervalSummary {
            level: p.level,
            method: p.method,
            draws: if p.method == IntervalMethod::Delta {
                0
            } else {
                p.draws - self.failed_refits
            },
            seed: p.seed,
            failed_refits: self.failed_refits,
            totals: self.totals.clone(),
        }
    }

    /// `batch` (the per-customer table, same rows) with `p_alive_lower, p_alive_upper,
    /// expected_purchases_lower, ..., clv_upper` appended.
    pub fn append_columns(
        &self,
        batch: &arrow_array::RecordBatch,
    ) -> Result<arrow_array::RecordBatch> {
        use arrow_array::{ArrayRef, Float64Array};
        use std::sync::Arc;
        let mut fields: Vec<arrow_schema::Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for (name, b) in [
            ("p_alive", &self.p_alive),
            ("expected_purchases", &self.expected_purchases),
            ("expected_order_value", &self.expected_order_value),
            ("clv", &self.clv),
        ] {
            for (end, v) in [("lower", &b.lower), ("upper", &b.upper)] {
                fields.push(arrow_schema::Field::new(
                    format!("{name}_{end}"),
                    arrow_schema::DataType::Float64,
                    false,
                ));
                columns.push(Arc::new(Float64Array::from(v.clone())));
            }
        }
        arrow_array::RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns)
            .map_err(|e| Error::Data(format!("adding the interval columns: {e}")))
    }
}

/// The covariance of a fit's log-parameters, or an error saying why there is none.
fn covariance(what: &str, estimates: &[super::bgnbd::Estimate]) -> Result<Vec<Vec<f64>>> {
    log_covariance(estimates).ok_or_else(|| {
        Error::Data(format!(
            "no intervals: the Hessian of the {what} fit is not invertible (a parameter is not \
             identified by the data; see its standard errors)"
        ))
    })
}

fn quad(g: &[f64], cov: &[Vec<f64>]) -> f64 {
    let mut v = 0.0;
    for (i, gi) in g.iter().enumerate() {
        for (j, gj) in g.iter().enumerate() {
            v += gi * cov[i][j] * gj;
        }
    }
    v.max(0.0)
}

/// The delta method: gradients of the predictions in the log-parameters by forward
/// differences, variance g'Σg on the logit (P(alive)) or log scale (the rest).
fn delta(
    s: &Summary,
    model: &FittedModel,
    gg: &GammaGamma,
    predict: &PredictParams,
    holdout: Option<f64>,
    params: &IntervalParams,
) -> Result<Intervals> {
    let cov_tx = covariance("transaction model", model.estimates())?;
    let cov_gg = covariance("Gamma-Gamma", &gg.estimates)?;
    let z = crate::stats::normal_quantile(0.5 + params.level / 2.0);
    let h = 1e-5;
    let theta = model.log_params();
    let kt = theta.len();
    let pairs = Pairs::of(s);
    let unit = s.time_unit;
    // per distinct (x, T): G at the horizon, the discounted CLV sum and G over the holdout, at
    // the fitted parameters and with each log-parameter shifted by h
    let tables = |m: &FittedModel| pair_tables(unit, &pairs, m.model(), predict, holdout);
    let base = tables(model);
    let shifted_models: Vec<FittedModel> = (0..kt)
        .map(|k| {
            let mut t = theta.clone();
            t[k] += h;
            model.with_log_params(&t)
        })
        .collect();
    let shifted: Vec<Vec<[f64; 3]>> = shifted_models.iter().map(tables).collect();
    // d ln(table value) / d theta_k per pair
    let ratio = |a: f64, b: f64| if b > 0.0 { (a / b - 1.0) / h } else { 0.0 };
    let pair_grads: Vec<[[f64; 4]; 3]> = (0..base.len())
        .map(|j| {
            let mut g = [[0.0; 4]; 3];
            for k in 0..kt {
                for q in 0..3 {
                    g[q][k] = ratio(shifted[k][j][q], base[j][q]);
                }
            }
            g
        })
        .collect();
    let theta_gg = gg.log_params();
    let gg_shifted: Vec<GammaGamma> = (0..3)
        .map(|k| {
            let mut t = theta_gg.clone();
            t[k] += h;
            gg.with_log_params(&t)
        })
        .collect();
    let n = s.len();
    // Per block of customers (fixed blocks, added in order: the same bits at any thread
    // count): each customer's bounds, and the block's sums of the totals' gradients. Ratios of
    // values h apart in the log-parameters are 1 + O(h), so ln(a/b)/h is taken as (a/b - 1)/h
    // (the difference, O(h) relative, is far below what an interval can show).
    const BLOCK: usize = 4096;
    type Sums = [f64; 18];
    let m = model.model();
    let parts: Vec<(Vec<[f64; 8]>, Sums)> = (0..n.div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            let (from, to) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
            let mut rows = Vec::with_capacity(to - from);
            let mut sums: Sums = [0.0; 18];
            let mut gv = [0.0; 3];
            for i in from..to {
                let (x, tx, t, mv) = (s.frequency[i], s.recency[i], s.t[i], s.monetary_value[i]);
                let pg = &pair_grads[pairs.of_customer(i)];
                let [g_h, disc, g_hold] = base[pairs.of_customer(i)];
                let mut row = [0.0; 8];
                // P(alive) on the logit scale, its gradient in closed form (BG/NBD, MBG/NBD)
                // or by differences (Pareto/NBD); certain at 0 or 1: no interval
                let p = m.p_alive(x, tx, t);
                let mut dlogit = [0.0; 4];
                if p > 0.0 && p < 1.0 {
                    match model {
                        FittedModel::Bg(bg) => dlogit = bg.logit_p_alive_gradient(x, tx, t),
                        FittedModel::Pareto(_) => {
                            for k in 0..kt {
                                let pk = shifted_models[k].model().p_alive(x, tx, t);
                                dlogit[k] = (pk - p) / (p * (1.0 - p) * h);
                            }
                        }
                    }
                    let e = (z * quad(&dlogit[..kt], &cov_tx).sqrt()).exp();
                    let w = (1.0 - p) / p;
                    (row[0], row[1]) = (1.0 / (1.0 + w * e), 1.0 / (1.0 + w / e));
                } else {
                    (row[0], row[1]) = (p, p);
                }
                // d ln P(alive) = (1 - P) d logit P; E = P G, CLV = value P disc
                let mut ge = [0.0; 4];
                let mut gc = [0.0; 4];
                let mut gh = [0.0; 4];
                for k in 0..kt {
                    let dlp = (1.0 - p) * dlogit[k];
                    ge[k] = dlp + pg[0][k];
                    gc[k] = dlp + pg[1][k];
                    gh[k] = dlp + pg[2][k];
                }
                let v = gg.expected_order_value(x, mv);
                for (j, g) in gg_shifted.iter().enumerate() {
                    gv[j] = ratio(g.expected_order_value(x, mv), v);
                }
                let (e, c, hold) = (p * g_h, v * p * disc, p * g_hold);
                // a positive value on the log scale: v / f .. v f, f = exp(z sd)
                let spread = |value: f64, var: f64| -> (f64, f64) {
                    if value.is_nan() || value <= 0.0 {
                        return (value, value);
                    }
                    let f = (z * var.sqrt()).exp();
                    (value / f, value * f)
                };
                (row[2], row[3]) = spread(e, quad(&ge[..kt], &cov_tx));
                (row[4], row[5]) = spread(v, quad(&gv, &cov_gg));
                (row[6], row[7]) = spread(c, quad(&gc[..kt], &cov_tx) + quad(&gv, &cov_gg));
                rows.push(row);
                // the totals: the gradient of a sum is the sum of the gradients
                for k in 0..kt {
                    sums[k] += e * ge[k];
                    sums[4 + k] += c * gc[k];
                    sums[11 + k] += hold * gh[k];
                }
                for j in 0..3 {
                    sums[8 + j] += c * gv[j];
                }
                sums[15] += e;
                sums[16] += c;
                sums[17] += hold;
            }
            (rows, sums)
        })
        .collect();
    let empty = || Bounds {
        lower: Vec::with_capacity(n),
        upper: Vec::with_capacity(n),
    };
    let mut bounds = [empty(), empty(), empty(), empty()];
    let mut sums: Sums = [0.0; 18];
    for (rows, part) in parts {
        for row in rows {
            for (q, b) in bounds.iter_mut().enumerate() {
                b.lower.push(row[2 * q]);
                b.upper.push(row[2 * q + 1]);
            }
        }
        for (acc, v) in sums.iter_mut().zip(part) {
            *acc += v;
        }
    }
    let total = |estimate: f64, g_tx: &[f64], g_gg: &[f64]| -> Interval {
        let sd = (quad(g_tx, &cov_tx) + quad(g_gg, &cov_gg)).sqrt();
        let rel = if estimate > 0.0 { sd / estimate } else { 0.0 };
        Interval {
            estimate,
            lower: estimate * (-z * rel).exp(),
            upper: estimate * (z * rel).exp(),
        }
    };
    let [p_alive, expected_purchases, expected_order_value, clv] = bounds;
    Ok(Intervals {
        params: params.clone(),
        p_alive,
        expected_purchases,
        expected_order_value,
        clv,
        totals: Totals {
            expected_purchases: total(sums[15], &sums[..kt], &[]),
            clv: total(sums[16], &sums[4..4 + kt], &sums[8..11]),
            holdout_purchases: holdout.map(|_| total(sums[17], &sums[11..11 + kt], &[])),
            holdout_actual: None,
            purchases_prediction: None,
            holdout_prediction: None,
        },
        failed_refits: 0,
    })
}

/// A generator for draw `d` of a run seeded with `seed`: the same numbers at any thread count.
fn rng_for(seed: u64, d: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed ^ d.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Cholesky factor L (lower) of a positive definite matrix, `None` when it is not.
fn cholesky(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = a[i][i] - s;
                if d.is_nan() || d <= 0.0 {
                    return None;
                }
                l[i][j] = d.sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    Some(l)
}

/// θ + L z with z standard normal from `rng`.
fn draw(theta: &[f64], l: &[Vec<f64>], rng: &mut Xoshiro256PlusPlus) -> Vec<f64> {
    let z: Vec<f64> = (0..theta.len())
        .map(|_| rng.sample(StandardNormal))
        .collect();
    theta
        .iter()
        .enumerate()
        .map(|(i, t)| t + (0..=i).map(|k| l[i][k] * z[k]).sum::<f64>())
        .collect()
}

/// `draws` models from the asymptotic normal of each fit's log-parameters.
fn normal_draws(
    model: &FittedModel,
    gg: &GammaGamma,
    params: &IntervalParams,
) -> Result<(Vec<FittedModel>, Vec<GammaGamma>)> {
    let not_pd =
        || Error::Data("no intervals: a covariance matrix is not positive definite".into());
    let l_tx = cholesky(&covariance("transaction model", model.estimates())?).ok_or_else(not_pd)?;
    let l_gg = cholesky(&covariance("Gamma-Gamma", &gg.estimates)?).ok_or_else(not_pd)?;
    let (t_tx, t_gg) = (model.log_params(), gg.log_params());
    Ok((0..params.draws as u64)
        .map(|d| {
            let mut rng = rng_for(params.seed, d);
            (
                model.with_log_params(&draw(&t_tx, &l_tx, &mut rng)),
                gg.with_log_params(&draw(&t_gg, &l_gg, &mut rng)),
            )
        })
        .unzip())
}

/// `draws` refits on customers resampled with replacement; failed refits are counted.
fn refits(
    s: &Summary,
    kind: TransactionKind,
    penalizer: f64,
    params: &IntervalParams,
    progress: &dyn Progress,
) -> Result<(Vec<FittedModel>, Vec<GammaGamma>, u32)> {
    let n = s.len();
    let fits: Vec<Option<(FittedModel, GammaGamma)>> = (0..params.draws as u64)
        .into_par_iter()
        .map(|d| {
            let mut rng = rng_for(params.seed, d);
            let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
            let (f, r, t, m) = (
                pick(&s.frequency),
                pick(&s.recency),
                pick(&s.t),
                pick(&s.monetary_value),
            );
            let fitted = fit_transaction(kind, &f, &r, &t, penalizer).ok()?;
            let g = GammaGamma::fit(&f, &m, penalizer).ok()?;
            progress.advance(1);
            Some((fitted, g))
        })
        .collect();
    let failed = fits.iter().filter(|f| f.is_none()).count() as u32;
    let (tx, g): (Vec<FittedModel>, Vec<GammaGamma>) = fits.into_iter().flatten().unzip();
    if tx.len() < 20 {
        return Err(Error::Data(format!(
            "bootstrap: {failed} of {} refits failed; too few left for intervals",
            params.draws
        )));
    }
    Ok((tx, g, failed))
}

/// The ends of the central `level` interval of `values` (sorted in place; quantiles linear
/// between order statistics, numpy's default).
fn ends(values: &mut [f64], level: f64) -> (f64, f64) {
    values.sort_unstable_by(f64::total_cmp);
    (
        crate::stats::quantile_sorted(values, 0.5 - level / 2.0),
        crate::stats::quantile_sorted(values, 0.5 + level / 2.0),
    )
}

/// Customers per block of the draws: one block's predictions at every draw are in memory.
const BLOCK: usize = 4096;

/// Quantile intervals over the predictions at each (transaction, order-value) model pair.
#[allow(clippy::too_many_arguments)]
fn from_draws(
    s: &Summary,
    tx: &[FittedModel],
    gg: &[GammaGamma],
    predict: &PredictParams,
    holdout: Option<f64>,
    params: &IntervalParams,
    failed_refits: u32,
    progress: &dyn Progress,
) -> Intervals {
    let n = s.len();
    let d = tx.len();
    let blocks: Vec<(usize, usize)> = (0..n.div_ceil(BLOCK))
        .map(|b| (b * BLOCK, ((b + 1) * BLOCK).min(n)))
        .collect();
    // per block: the customers' bounds, and per draw the block's totals
    type Part = ([Bounds; 4], Vec<[f64; 3]>);
    let parts: Vec<Part> = blocks
        .par_iter()
        .map(|&(from, to)| {
            let sub = block(s, from, to);
            let sub_pairs = Pairs::of(&sub);
            let len = to - from;
            // values[q][draw * len + i]
            let mut values = vec![vec![0.0; d * len]; 4];
            let mut totals = vec![[0.0; 3]; d];
            for k in 0..d {
                let (p, held) =
                    predict_with_holdout(&sub, &sub_pairs, tx[k].model(), &gg[k], predict, holdout);
                for (q, v) in [
                    &p.p_alive,
                    &p.expected_purchases,
                    &p.expected_order_value,
                    &p.clv,
                ]
                .into_iter()
                .enumerate()
                {
                    values[q][k * len..(k + 1) * len].copy_from_slice(v);
                }
                totals[k] = [
                    p.expected_purchases.iter().sum(),
                    p.clv.iter().sum(),
                    held.iter().sum(),
                ];
            }
            let mut bounds: [Bounds; 4] = Default::default();
            let mut scratch = vec![0.0; d];
            for (q, b) in bounds.iter_mut().enumerate() {
                for i in 0..len {
                    for k in 0..d {
                        scratch[k] = values[q][k * len + i];
                    }
                    let (lo, hi) = ends(&mut scratch, params.level);
                    b.lower.push(lo);
                    b.upper.push(hi);
                }
            }
            (bounds, totals)
        })
        .collect();
    progress.advance(d as u64);
    let mut all: [Bounds; 4] = Default::default();
    let mut totals = vec![[0.0; 3]; d];
    for (bounds, t) in parts {
        for (a, b) in all.iter_mut().zip(bounds) {
            a.lower.extend(b.lower);
            a.upper.extend(b.upper);
        }
        for (acc, v) in totals.iter_mut().zip(t) {
            for q in 0..3 {
                acc[q] += v[q];
            }
        }
    }
    // the estimates are set by the caller (those at the fitted parameters)
    let total = |q: usize| -> Interval {
        let mut v: Vec<f64> = totals.iter().map(|t| t[q]).collect();
        let (lower, upper) = ends(&mut v, params.level);
        Interval {
            estimate: f64::NAN,
            lower,
            upper,
        }
    };
    let [p_alive, expected_purchases, expected_order_value, clv] = all;
    Intervals {
        params: params.clone(),
        p_alive,
        expected_purchases,
        expected_order_value,
        clv,
        totals: Totals {
            expected_purchases: total(0),
            clv: total(1),
            holdout_purchases: holdout.map(|_| total(2)),
            holdout_actual: None,
            purchases_prediction: None,
            holdout_prediction: None,
        },
        failed_refits,
    }
}

/// Customers `from..to` of a summary as a summary of their own (what the predictions read).
fn block(s: &Summary, from: usize, to: usize) -> Summary {
    Summary {
        time_unit: s.time_unit,
        customer_id: arrow_array::StringArray::from(vec![""; to - from]),
        frequency: s.frequency[from..to].to_vec(),
        recency: s.recency[from..to].to_vec(),
        t: s.t[from..to].to_vec(),
        monetary_value: s.monetary_value[from..to].to_vec(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_reproduces_the_matrix() {
        let a = vec![
            vec![4.0, 2.0, 0.4],
            vec![2.0, 3.0, 0.5],
            vec![0.4, 0.5, 1.0],
        ];
        let l = cholesky(&a).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| l[i][k] * l[j][k]).sum();
                assert!((v - a[i][j]).abs() < 1e-12);
            }
        }
        assert!(cholesky(&[vec![1.0, 2.0], vec![2.0, 1.0]]).is_none());
    }

    #[test]
    fn quantiles_follow_numpy() {
        // numpy.quantile([1..=10], [0.05, 0.95]) = 1.45, 9.55
        let mut v: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let (lo, hi) = ends(&mut v, 0.9);
        assert!(
            (lo - 1.45).abs() < 1e-12 && (hi - 9.55).abs() < 1e-12,
            "{lo} {hi}"
        );
    }
}
