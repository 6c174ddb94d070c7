//! The whole CLV analysis in one call: summary, transaction model fits, Gamma-Gamma,
//! predictions, holdout scorecards and the model comparison (log-likelihood, AIC, BIC).
//!
//! ```no_run
//! use segmint::clv::analysis::{analyze, ClvParams};
//! use segmint::data::{ColumnMap, Inputs, TableKind};
//! use segmint::progress::NoProgress;
//!
//! let tx = Inputs::from_dir("data".as_ref()).open(TableKind::Transactions, &ColumnMap::new())?;
//! let a = analyze(&tx, &ClvParams::default(), &NoProgress)?;
//! for m in a.comparison() {
//!     println!("{}: AIC {:.1}", m.model, m.aic);
//! }
//! println!("CLV of all customers: {:.2}", a.predictions.clv.iter().sum::<f64>());
//! # Ok::<(), segmint::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use super::bgnbd::{BgNbd, Variant};
use super::gamma_gamma::GammaGamma;
use super::pareto_nbd::ParetoNbd;
use super::{
    predict, scorecard, summarize, PredictParams, Predictions, Scorecard, Summary, SummaryParams,
    TransactionModel,
};
use crate::data::reader::TableReader;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// A transaction (purchase and dropout) model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    /// BG/NBD (Fader, Hardie & Lee 2005).
    Bgnbd,
    /// MBG/NBD (Batislam, Denizel & Filiztekin 2007).
    Mbgnbd,
    /// Pareto/NBD (Schmittlein, Morrison & Colombo 1987).
    ParetoNbd,
}

impl TransactionKind {
    /// Its name in outputs: `bgnbd`, `mbgnbd`, `pareto_nbd`.
    pub fn key(self) -> &'static str {
        match self {
            TransactionKind::Bgnbd => "bgnbd",
            TransactionKind::Mbgnbd => "mbgnbd",
            TransactionKind::ParetoNbd => "pareto_nbd",
        }
    }
}

/// A fitted transaction model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum FittedModel {
    /// BG/NBD or MBG/NBD.
    Bg(BgNbd),
    /// Pareto/NBD.
    Pareto(ParetoNbd),
}

impl FittedModel {
    /// Its parameters in log space, in the order of its estimates.
    pub fn log_params(&self) -> Vec<f64> {
        match self {
            FittedModel::Bg(m) => [m.r, m.alpha, m.a, m.b].map(f64::ln).to_vec(),
            FittedModel::Pareto(m) => [m.r, m.alpha, m.s, m.beta].map(f64::ln).to_vec(),
        }
    }

    /// The same model with the parameters exp(`theta`) (for predictions at other parameters).
    pub fn with_log_params(&self, theta: &[f64]) -> FittedModel {
        let e = |k: usize| theta[k].exp();
        match self {
            FittedModel::Bg(m) => {
                let mut m = m.clone();
                (m.r, m.alpha, m.a, m.b) = (e(0), e(1), e(2), e(3));
                FittedModel::Bg(m)
            }
            FittedModel::Pareto(m) => {
                let mut m = m.clone();
                (m.r, m.alpha, m.s, m.beta) = (e(0), e(1), e(2), e(3));
                FittedModel::Pareto(m)
            }
        }
    }

    /// The estimates (with the covariance rows of the log-parameters).
    pub fn estimates(&self) -> &[super::bgnbd::Estimate] {
        match self {
            FittedModel::Bg(m) => &m.estimates,
            FittedModel::Pareto(m) => &m.estimates,
        }
    }

    /// The model for predictions.
    pub fn model(&self) -> &dyn TransactionModel {
        match self {
            FittedModel::Bg(m) => m,
            FittedModel::Pareto(m) => m,
        }
    }

    /// Log-likelihood at the optimum.
    pub fn log_likelihood(&self) -> f64 {
        match self {
            FittedModel::Bg(m) => m.log_likelihood,
            FittedModel::Pareto(m) => m.log_likelihood,
        }
    }

    /// Number of estimated parameters (r, alpha, a, b or r, alpha, s, beta), for AIC and BIC.
    pub fn parameter_count(&self) -> usize {
        match self {
            FittedModel::Bg(m) => m.estimates.len(),
            FittedModel::Pareto(m) => m.estimates.len(),
        }
    }

    /// The parameters in one line.
    pub fn describe(&self) -> String {
        match self {
            FittedModel::Bg(m) => format!(
                "r {:.4}, alpha {:.4}, a {:.4}, b {:.4}",
                m.r, m.alpha, m.a, m.b
            ),
            FittedModel::Pareto(m) => format!(
                "r {:.4}, alpha {:.4}, s {:.4}, beta {:.4}",
                m.r, m.alpha, m.s, m.beta
            ),
        }
    }

    /// Parameters, log-likelihood, estimates with standard errors and diagnostics, as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            FittedModel::Bg(m) => {
                serde_json::json!({"r": m.r, "alpha": m.alpha, "a": m.a, "b": m.b,
                "log_likelihood": m.log_likelihood, "estimates": m.estimates, "diagnostics": m.diagnostics})
            }
            FittedModel::Pareto(m) => {
                serde_json::json!({"r": m.r, "alpha": m.alpha, "s": m.s, "beta": m.beta,
                "log_likelihood": m.log_likelihood, "estimates": m.estimates, "diagnostics": m.diagnostics})
            }
        }
    }
}

/// Fits a transaction model of `kind` to summary columns.
pub fn fit_transaction(
    kind: TransactionKind,
    frequency: &[f64],
    recency: &[f64],
    t: &[f64],
    penalizer: f64,
) -> Result<FittedModel> {
    let (f, r) = (frequency, recency);
    match kind {
        TransactionKind::Bgnbd => {
            BgNbd::fit_variant(Variant::Bgnbd, f, r, t, penalizer).map(FittedModel::Bg)
        }
        TransactionKind::Mbgnbd => {
            BgNbd::fit_variant(Variant::Mbgnbd, f, r, t, penalizer).map(FittedModel::Bg)
        }
        TransactionKind::ParetoNbd => ParetoNbd::fit(f, r, t, penalizer).map(FittedModel::Pareto),
    }
}

/// Settings of [`analyze`], with their defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClvParams {
    /// Calibration and holdout periods and the time unit.
    pub summary: SummaryParams,
    /// Transaction models to fit; the first one predicts (default: BG/NBD).
    pub models: Vec<TransactionKind>,
    /// L2 penalty on the log-parameters (0, lifetimes' `penalizer_coef`).
    pub penalizer: f64,
    /// Prediction horizon, CLV months and discount rate.
    pub predict: PredictParams,
    /// Intervals of the predictions (none by default).
    #[serde(default)]
    pub interval: Option<super::intervals::IntervalParams>,
}

impl Default for ClvParams {
    fn default() -> Self {
        ClvParams {
            summary: SummaryParams::default(),
            models: vec![TransactionKind::Bgnbd],
            penalizer: 0.0,
            predict: PredictParams::default(),
            interval: None,
        }
    }
}

impl ClvParams {
    /// Checks the parameters; the error names the parameter and its value.
    pub fn check(&self) -> Result<()> {
        let bad = |param: &str, m: String| Err(Error::param(param, m));
        if self.models.is_empty() {
            return bad(
                "models",
                "needs a transaction model (bgnbd, mbgnbd, pareto-nbd) and gamma-gamma (for order value and CLV)".into(),
            );
        }
        let h = self.predict.horizon;
        if !(h >= 0.0 && h.is_finite()) {
            return bad("horizon", format!("must be >= 0, got {h}"));
        }
        let d = self.predict.discount_rate;
        if !(d > -1.0 && d.is_finite()) {
            return bad("discount_rate", format!("must be > -1, got {d}"));
        }
        if !(self.penalizer >= 0.0 && self.penalizer.is_finite()) {
            return bad("penalizer", format!("must be >= 0, got {}", self.penalizer));
        }
        if let Some(i) = &self.interval {
            i.check()?;
        }
        if let (Some(c), Some(h)) = (self.summary.calibration_end, self.summary.holdout_end) {
            if h <= c {
                return bad("holdout_end", "must be after the calibration end".into());
            }
        }
        Ok(())
    }
}

/// One transaction model in the comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelComparison {
    /// `bgnbd`, `mbgnbd` or `pareto_nbd`.
    pub model: String,
    /// Log-likelihood at the optimum.
    pub log_likelihood: f64,
    /// 2 k - 2 LL, k the number of parameters.
    pub aic: f64,
    /// k ln(n) - 2 LL, n the number of customers.
    pub bic: f64,
    /// Predicted vs actual holdout purchases, when there is a holdout period.
    pub holdout_purchases: Option<super::Accuracy>,
}

/// Customers with a number of repeat purchases in the calibration period.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepeatPurchases {
    /// `0` to `6`, or `7+`.
    pub repeat_purchases: String,
    /// Customers with that many.
    pub actual: u64,
    /// Customers the model expects with that many.
    pub expected: f64,
}

/// Everything [`analyze`] computes.
#[derive(Debug, Clone)]
pub struct ClvAnalysis {
    /// The per-customer summary (frequency, recency, T, monetary value).
    pub summary: Summary,
    /// The transaction models in the order asked for; the first one predicts.
    pub fits: Vec<(TransactionKind, FittedModel)>,
    /// Gamma-Gamma on the repeat customers.
    pub gamma_gamma: GammaGamma,
    /// Per-customer P(alive), expected purchases, order value and CLV (first model).
    pub predictions: Predictions,
    /// Per model, the holdout scorecard (with a holdout period).
    pub scorecards: Vec<Option<Scorecard>>,
    /// Seconds spent on the summary.
    pub summary_seconds: f64,
    /// Actual vs expected cumulative repeat purchases per period (first model; `None` for a
    /// summary table).
    pub tracking: Option<super::tracking::Tracking>,
    /// Intervals of the predictions, when asked for.
    pub intervals: Option<super::intervals::Intervals>,
}

/// Summarises the transactions and fits, predicts and scores the models of `params`.
pub fn analyze(
    tx: &TableReader,
    params: &ClvParams,
    progress: &dyn Progress,
) -> Result<ClvAnalysis> {
    params.check()?;
    let t0 = std::time::Instant::now();
    let summary = summarize(tx, &params.summary, progress)?;
    let summary_seconds = t0.elapsed().as_secs_f64();
    let mut a = analyze_summary(summary, params, progress)?;
    a.summary_seconds = summary_seconds;
    Ok(a)
}

/// Fits, predicts and scores the models of `params` on a ready summary (from [`summarize`],
/// or a per-customer table: [`super::summary_table::SummaryTable::to_summary`]).
pub fn analyze_summary(
    summary: Summary,
    params: &ClvParams,
    progress: &dyn Progress,
) -> Result<ClvAnalysis> {
    params.check()?;
    let mut fits: Vec<(TransactionKind, FittedModel)> = Vec::new();
    for &kind in &params.models {
        if fits.iter().any(|(k, _)| *k == kind) {
            continue;
        }
        progress.begin(&format!("fitting {}", kind.key()), 0);
        let (f, r, t) = (&summary.frequency, &summary.recency, &summary.t);
        let fitted = fit_transaction(kind, f, r, t, params.penalizer);
        progress.finish();
        fits.push((kind, fitted?));
    }
    progress.begin("fitting Gamma-Gamma", 0);
    let gamma_gamma = GammaGamma::fit(
        &summary.frequency,
        &summary.monetary_value,
        params.penalizer,
    );
    progress.finish();
    let gamma_gamma = gamma_gamma?;
    progress.begin("predicting", 0);
    let predictions = predict(&summary, fits[0].1.model(), &gamma_gamma, &params.predict);
    progress.finish();
    let scorecards = fits
        .iter()
        .map(|(_, m)| scorecard(&summary, m.model(), &gamma_gamma))
        .collect();
    progress.begin("tracking", 0);
    let tracking = super::tracking::tracking(&summary, fits[0].1.model());
    progress.finish();
    let intervals = params
        .interval
        .as_ref()
        .map(|ip| {
            super::intervals::intervals(
                &summary,
                &fits[0].1,
                fits[0].0,
                &gamma_gamma,
                &params.predict,
                params.penalizer,
                ip,
                progress,
            )
        })
        .transpose()?;
    Ok(ClvAnalysis {
        intervals,
        summary,
        fits,
        gamma_gamma,
        tracking,
        predictions,
        scorecards,
        summary_seconds: 0.0,
    })
}

impl ClvAnalysis {
    /// The model that predicts (the first one fitted).
    pub fn prediction_model(&self) -> TransactionKind {
        self.fits[0].0
    }

    /// Log-likelihood, AIC and BIC of each transaction model (parameter counts from the fits),
    /// and its holdout accuracy.
    pub fn comparison(&self) -> Vec<ModelComparison> {
        let n = self.summary.len() as f64;
        self.fits
            .iter()
            .zip(&self.scorecards)
            .map(|((kind, m), card)| {
                let (ll, k) = (m.log_likelihood(), m.parameter_count() as f64);
                ModelComparison {
                    model: kind.key().to_string(),
                    log_likelihood: ll,
                    aic: 2.0 * k - 2.0 * ll,
                    bic: k * n.ln() - 2.0 * ll,
                    holdout_purchases: card.as_ref().map(|c| c.purchases.clone()),
                }
            })
            .collect()
    }

    /// The first BG/NBD-family fit, if any.
    pub fn bgnbd(&self) -> Option<&BgNbd> {
        self.fits.iter().find_map(|(_, f)| match f {
            FittedModel::Bg(m) => Some(m),
            FittedModel::Pareto(_) => None,
        })
    }

    /// Customers by repeat purchases in the calibration period (0..=6 and 7 or more), actual
    /// and as the first BG/NBD fit expects them given each customer's age T (Σ P(X(T) = n);
    /// lifetimes' `plot_period_transactions` simulates the same expectation). `None` without a
    /// BG/NBD fit or for a summary table without ages.
    pub fn repeat_purchase_histogram(&self) -> Option<Vec<RepeatPurchases>> {
        let m = self.bgnbd()?;
        let s = &self.summary;
        // P(X(T) = n) per distinct T, n = 0..=6
        let mut by_t: hashbrown::HashMap<u64, u64> = hashbrown::HashMap::new();
        for &t in &s.t {
            *by_t.entry(t.to_bits()).or_default() += 1;
        }
        // summed in the order of T: the same bits every run
        let mut by_t: Vec<(f64, u64)> = by_t
            .into_iter()
            .map(|(t, c)| (f64::from_bits(t), c))
            .collect();
        by_t.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut expected = [0.0f64; 8];
        for (t, count) in &by_t {
            let mut below = 0.0;
            for (n, e) in expected.iter_mut().enumerate().take(7) {
                let p = m.probability_of_n_purchases(*t, n as u32)?;
                *e += p * *count as f64;
                below += p;
            }
            expected[7] += (1.0 - below).max(0.0) * *count as f64;
        }
        let mut actual = [0u64; 8];
        for &x in &s.frequency {
            actual[(x as usize).min(7)] += 1;
        }
        Some(
            (0..8)
                .map(|n| RepeatPurchases {
                    repeat_purchases: if n == 7 { "7+".into() } else { n.to_string() },
                    actual: actual[n],
                    expected: expected[n],
                })
                .collect(),
        )
    }

    /// P(n repeat purchases within `horizon`) for a new customer, n = 0..=max, from the first
    /// BG/NBD-family fit; `None` without one (or when a probability cannot be computed).
    pub fn purchase_distribution(&self, horizon: f64, max: u32) -> Option<Vec<(u32, f64)>> {
        let m = self.bgnbd()?;
        (0..=max)
            .map(|k| m.probability_of_n_purchases(horizon, k).map(|p| (k, p)))
            .collect()
    }
}

/// Gamma-Gamma's part of [`ClvSummary`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GammaGammaSummary {
    /// Shape and scale parameters.
    pub p: f64,
    /// See `p`.
    pub q: f64,
    /// See `p`.
    pub v: f64,
    /// At the maximum.
    pub log_likelihood: f64,
    /// Repeat customers with a mean spend of 0, left out of the fit.
    #[serde(default)]
    pub zero_spend_left_out: usize,
    /// Among repeat customers; Gamma-Gamma assumes none.
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub frequency_monetary_correlation: f64,
    /// Estimates with standard errors.
    pub estimates: serde_json::Value,
    /// Convergence and fit diagnostics.
    pub diagnostics: serde_json::Value,
}

/// Totals of the predictions in [`ClvSummary`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictionTotals {
    /// Horizon of the expected purchases, in time units.
    pub horizon: f64,
    /// CLV horizon in months and monthly discount rate.
    pub clv_months: u32,
    /// See `clv_months`.
    pub discount_rate: f64,
    /// Mean P(alive).
    pub p_alive_mean: f64,
    /// Expected purchases of all customers over the horizon.
    pub expected_purchases_total: f64,
    /// CLV of all customers.
    pub clv_total: f64,
}

/// One point of the purchase-count distribution of a new customer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurchaseProbability {
    /// Number of purchases.
    pub purchases: u32,
    /// Its probability.
    pub probability: f64,
}

/// `clv.json`: the fits, their comparison, the totals and the holdout scorecard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClvSummary {
    /// Format of this file: [`ClvSummary::FORMAT`].
    #[serde(default)]
    pub format: String,
    /// Version of segmint that wrote it.
    #[serde(default)]
    pub segmint_version: String,
    /// Always `clv`.
    pub task: String,
    /// Always `segmint`.
    pub engine: String,
    /// Customers in the summary.
    pub customers: usize,
    /// Which rows were purchases.
    #[serde(default)]
    pub purchases: super::PurchaseRule,
    /// Rows and customers the purchase rule left out (on or before the calibration end).
    #[serde(default)]
    pub left_out: super::LeftOut,
    /// Last day of the calibration period.
    pub calibration_end: String,
    /// Unit of recency, T and the horizon.
    pub time_unit: super::TimeUnit,
    /// Customers with a repeat purchase (Gamma-Gamma's data).
    pub repeat_customers: usize,
    /// The transaction model that made the predictions.
    pub prediction_model: String,
    /// The transaction models compared (log-likelihood, AIC, BIC, holdout).
    pub models: Vec<ModelComparison>,
    /// The order-value model.
    pub gamma_gamma: GammaGammaSummary,
    /// Totals of the predictions.
    pub predictions: PredictionTotals,
    /// The holdout scorecard of the prediction model.
    pub holdout: Option<super::Scorecard>,
    /// Per-segment fits compared with the pooled ones.
    pub by_segment: Option<super::BySegment>,
    /// Actual vs expected cumulative repeat purchases per period through calibration and
    /// holdout (the tracking plot's data; none for a summary table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<super::tracking::Tracking>,
    /// Customers by calibration repeat purchases, actual vs expected (BG/NBD fits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_purchases: Option<Vec<RepeatPurchases>>,
    /// With intervals: their settings and the totals' intervals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervals: Option<super::intervals::IntervalSummary>,
    /// With covariates: the models fitted with them, their coefficients and likelihood-ratio
    /// tests (front ends fill it in from [`super::covariates::fit_covariates`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covariates: Option<super::covariates::CovariateAnalysis>,
    /// The prediction model's expected purchases and P(alive) on a frequency x recency grid,
    /// with the customers per cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrices: Option<super::matrices::FrequencyRecencyMatrices>,
    /// P(k purchases over the horizon) for a new customer (BG/NBD).
    pub purchase_distribution: Option<Vec<PurchaseProbability>>,
    /// Seconds of the analysis, of the summary step, and worker threads.
    pub seconds: f64,
    /// See `seconds`.
    pub summary_s: f64,
    /// See `seconds`.
    pub threads: usize,
    /// Where the per-customer table was written (front ends fill it in).
    #[serde(default)]
    pub output: Option<String>,
    /// Each transaction model's parameters, estimates and diagnostics, by its key (`bgnbd`).
    #[serde(flatten)]
    pub fits: std::collections::BTreeMap<String, serde_json::Value>,
}

impl ClvSummary {
    /// The format written in `format`.
    pub const FORMAT: &'static str = "clv-summary/1";

    /// Writes the summary as JSON (temporary file, then rename).
    pub fn write_to(&self, path: &std::path::Path) -> Result<()> {
        crate::output::write_json(path, self)
    }

    /// Reads what [`ClvSummary::write_to`] wrote.
    pub fn read_from(path: &std::path::Path) -> Result<ClvSummary> {
        crate::output::read_json(path)
    }

    /// A fitted parameter of a transaction model (`("bgnbd", "r")`).
    pub fn parameter(&self, model: &str, name: &str) -> Option<f64> {
        self.fits.get(model)?.get(name)?.as_f64()
    }
}

fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

impl ClvAnalysis {
    /// Writes the per-customer table (summary, predictions, holdout actuals) to `path`
    /// (Parquet, or CSV for a `.csv` path).
    pub fn write_table(&self, path: &std::path::Path, params: &ClvParams) -> Result<()> {
        let s = &self.summary;
        let meta = vec![
            ("segmint.task".to_string(), "clv".to_string()),
            (
                "segmint.calibration_end".to_string(),
                s.calibration_end_text(),
            ),
            (
                "segmint.params".to_string(),
                serde_json::to_string(&(&params.summary, &params.predict))
                    .map_err(|e| Error::Data(e.to_string()))?,
            ),
        ];
        let card = self.scorecards.first().cloned().flatten();
        let mut batch = s.to_record_batch(&self.predictions, card.as_ref())?;
        if let Some(iv) = &self.intervals {
            batch = iv.append_columns(&batch)?;
        }
        crate::output::write_table(&batch, path, &meta)
    }

    /// The typed summary of the analysis (`clv.json`), with the per-segment fits if any and
    /// the seconds it took.
    pub fn to_summary(
        &self,
        params: &ClvParams,
        by_segment: Option<super::BySegment>,
        seconds: f64,
    ) -> ClvSummary {
        let (s, gg, pred) = (&self.summary, &self.gamma_gamma, &self.predictions);
        let n = s.len();
        let pp = &params.predict;
        ClvSummary {
            format: ClvSummary::FORMAT.into(),
            segmint_version: crate::VERSION.into(),
            task: "clv".into(),
            engine: "segmint".into(),
            customers: n,
            purchases: params.summary.purchases,
            left_out: s.left_out,
            calibration_end: s.calibration_end_text(),
            time_unit: params.summary.time_unit,
            repeat_customers: gg.customers,
            prediction_model: self.prediction_model().key().into(),
            models: self.comparison(),
            gamma_gamma: GammaGammaSummary {
                p: gg.p,
                q: gg.q,
                v: gg.v,
                log_likelihood: gg.log_likelihood,
                zero_spend_left_out: gg.zero_spend_left_out,
                frequency_monetary_correlation: gg.frequency_monetary_correlation,
                estimates: serde_json::to_value(&gg.estimates).unwrap_or_default(),
                diagnostics: serde_json::to_value(&gg.diagnostics).unwrap_or_default(),
            },
            predictions: PredictionTotals {
                horizon: pp.horizon,
                clv_months: pp.clv_months,
                discount_rate: pp.discount_rate,
                p_alive_mean: pred.p_alive.iter().sum::<f64>() / n as f64,
                expected_purchases_total: pred.expected_purchases.iter().sum::<f64>(),
                clv_total: pred.clv.iter().sum::<f64>(),
            },
            holdout: self.scorecards.first().cloned().flatten(),
            by_segment,
            tracking: self.tracking.clone(),
            intervals: self.intervals.as_ref().map(|i| i.summary()),
            covariates: None,
            matrices: super::matrices::matrices(s, self.fits[0].1.model(), pp.horizon),
            repeat_purchases: if s.from_table {
                None
            } else {
                self.repeat_purchase_histogram()
            },
            purchase_distribution: self.purchase_distribution(pp.horizon, 10).map(|d| {
                d.into_iter()
                    .map(|(purchases, probability)| PurchaseProbability {
                        purchases,
                        probability,
                    })
                    .collect()
            }),
            seconds: round4(seconds),
            summary_s: round4(self.summary_seconds),
            threads: rayon::current_num_threads(),
            output: None,
            fits: self
                .fits
                .iter()
                .map(|(k, m)| (k.key().to_string(), m.to_json()))
                .collect(),
        }
    }
}

/// One row of the intervals table.
fn rows_pi(o: &mut String, name: &str, i: &super::intervals::Interval) {
    use std::fmt::Write;
    let _ = writeln!(
        o,
        "| {name} | {:.1} | {:.1} | {:.1} |",
        i.estimate, i.lower, i.upper
    );
}

impl ClvSummary {
    /// What the purchase rule kept and left out, in one sentence.
    pub fn left_out_sentence(&self) -> String {
        let rule = self.purchases.describe();
        let l = &self.left_out;
        let mut s = format!(
            "Purchases are rows with {rule}: {} customers with a purchase on or before {}",
            self.customers, self.calibration_end
        );
        if l.rows == 0 {
            s.push_str("; no row left out");
        } else {
            s.push_str(&format!(
                "; {} rows left out (not {rule}), {} customers with no purchase row left out{}",
                l.rows,
                l.customers,
                if l.customers > 0 && self.purchases == super::PurchaseRule::Positive {
                    " (count $0 rows as purchases with --purchases non-negative)"
                } else {
                    ""
                }
            ));
        }
        if self.gamma_gamma.zero_spend_left_out > 0 {
            s.push_str(&format!(
                "; {} repeat customers with a mean spend of 0 left out of the Gamma-Gamma fit",
                self.gamma_gamma.zero_spend_left_out
            ));
        }
        s.push('.');
        s
    }

    /// The fits, the per-segment comparison and the holdout scorecard as Markdown.
    pub fn markdown(&self, analysis: &ClvAnalysis) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(o, "{}\n", self.left_out_sentence());
        o.push_str("| model | parameters | log-likelihood |\n| --- | --- | ---: |\n");
        for (kind, m) in &analysis.fits {
            let _ = writeln!(
                o,
                "| {} | {} | {:.2} |",
                kind.key(),
                m.describe(),
                m.log_likelihood()
            );
        }
        let gg = &self.gamma_gamma;
        let _ = writeln!(
            o,
            "| Gamma-Gamma | p {:.4}, q {:.4}, v {:.4} | {:.2} |",
            gg.p, gg.q, gg.v, gg.log_likelihood
        );
        if let Some(b) = &self.by_segment {
            o.push_str("\n## Per segment\n\n| segment | customers | r | alpha | a | b | p | q | v |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
            for f in &b.segments {
                let bgs = f.bgnbd.as_ref().map_or("– | – | – | –".to_string(), |m| {
                    format!("{:.4} | {:.4} | {:.4} | {:.4}", m.r, m.alpha, m.a, m.b)
                });
                let ggs = f.gamma_gamma.as_ref().map_or("– | – | –".to_string(), |m| {
                    format!("{:.4} | {:.4} | {:.4}", m.p, m.q, m.v)
                });
                let _ = writeln!(o, "| {} | {} | {bgs} | {ggs} |", f.segment, f.customers);
            }
            for (name, c) in [("BG/NBD", &b.bgnbd), ("Gamma-Gamma", &b.gamma_gamma)] {
                if let Some(c) = c {
                    let _ = writeln!(
                        o,
                        "\n{name}: pooled log-likelihood {:.2}, per segment {:.2}; LR {:.1} (df {}, p {:.3e}); AIC pooled {:.1} vs per segment {:.1}: {} is better",
                        c.pooled_log_likelihood, c.segments_log_likelihood, c.lr_statistic, c.df, c.p_value, c.aic_pooled, c.aic_segments, c.better
                    );
                }
            }
        }
        if let Some(c) = &self.holdout {
            let _ = writeln!(
                o,
                "\n## Holdout to {} ({:.1} {}s): predicted vs actual\n\n| | MAE | RMSE | total predicted | total actual | correlation |\n| --- | ---: | ---: | ---: | ---: | ---: |",
                c.holdout_end,
                c.duration,
                self.time_unit.name()
            );
            for (name, m) in [("purchases", &c.purchases), ("spend", &c.spend)] {
                let _ = writeln!(
                    o,
                    "| {name} | {:.3} | {:.3} | {:.1} | {:.1} | {:.3} |",
                    m.mae, m.rmse, m.total_predicted, m.total_actual, m.correlation
                );
            }
            o.push_str("\n| calibration frequency | customers | actual purchases | predicted | actual spend | predicted |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
            for r in &c.by_calibration_frequency {
                let _ = writeln!(
                    o,
                    "| {} | {} | {:.3} | {:.3} | {:.2} | {:.2} |",
                    r.calibration_frequency,
                    r.customers,
                    r.actual_purchases,
                    r.predicted_purchases,
                    r.actual_spend,
                    r.predicted_spend
                );
            }
        }
        if let Some(iv) = &self.intervals {
            let t = &iv.totals;
            let pct = (iv.level * 100.0).round();
            let _ = writeln!(
                o,
                "\n## {pct}% intervals ({})\n\n| total | estimate | lower | upper |\n| --- | ---: | ---: | ---: |",
                match iv.method {
                    super::intervals::IntervalMethod::Delta => "delta method".to_string(),
                    m => format!("{} over {} parameter sets", m.name(), iv.draws),
                }
            );
            let mut rows = vec![
                ("expected purchases", &t.expected_purchases),
                ("CLV", &t.clv),
            ];
            if let Some(h) = &t.holdout_purchases {
                rows.push(("holdout purchases", h));
            }
            for (name, i) in rows {
                let _ = writeln!(
                    o,
                    "| {name} | {:.1} | {:.1} | {:.1} |",
                    i.estimate, i.lower, i.upper
                );
            }
            if let Some(p) = &t.purchases_prediction {
                rows_pi(&mut o, "purchases (prediction interval)", p);
            }
            if let (Some(h), Some(actual)) = (&t.holdout_prediction, t.holdout_actual) {
                rows_pi(&mut o, "holdout purchases (prediction interval)", h);
                let inside = actual >= h.lower && actual <= h.upper;
                let _ = writeln!(
                    o,
                    "\n{actual:.0} purchases happened in the holdout period: {} the prediction interval (the intervals of the expectations leave out the purchase process's own variation; the prediction intervals add it).",
                    if inside { "inside" } else { "outside" }
                );
            }
        }
        if let Some(c) = &self.covariates {
            o.push_str(&c.markdown());
        }
        o
    }
}
