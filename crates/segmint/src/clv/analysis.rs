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
#[derive(Debug, Clone)]
pub enum FittedModel {
    /// BG/NBD or MBG/NBD.
    Bg(BgNbd),
    /// Pareto/NBD.
    Pareto(ParetoNbd),
}

impl FittedModel {
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
}

impl Default for ClvParams {
    fn default() -> Self {
        ClvParams {
            summary: SummaryParams::default(),
            models: vec![TransactionKind::Bgnbd],
            penalizer: 0.0,
            predict: PredictParams::default(),
        }
    }
}

impl ClvParams {
    /// Checks the parameters; the error names the parameter and its value.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.models.is_empty() {
            return bad(
                "models: at least one transaction model (bgnbd, mbgnbd, pareto_nbd)".into(),
            );
        }
        let h = self.predict.horizon;
        if !(h >= 0.0 && h.is_finite()) {
            return bad(format!("horizon must be >= 0, got {h}"));
        }
        let d = self.predict.discount_rate;
        if !(d > -1.0 && d.is_finite()) {
            return bad(format!("discount rate must be > -1, got {d}"));
        }
        if !(self.penalizer >= 0.0 && self.penalizer.is_finite()) {
            return bad(format!("penalizer must be >= 0, got {}", self.penalizer));
        }
        if let (Some(c), Some(h)) = (self.summary.calibration_end, self.summary.holdout_end) {
            if h <= c {
                return bad("holdout end must be after the calibration end".into());
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
    let mut fits: Vec<(TransactionKind, FittedModel)> = Vec::new();
    for &kind in &params.models {
        if fits.iter().any(|(k, _)| *k == kind) {
            continue;
        }
        progress.begin(&format!("fitting {}", kind.key()), 0);
        let (f, r, t) = (&summary.frequency, &summary.recency, &summary.t);
        let fitted = match kind {
            TransactionKind::Bgnbd => {
                BgNbd::fit_variant(Variant::Bgnbd, f, r, t, params.penalizer).map(FittedModel::Bg)
            }
            TransactionKind::Mbgnbd => {
                BgNbd::fit_variant(Variant::Mbgnbd, f, r, t, params.penalizer).map(FittedModel::Bg)
            }
            TransactionKind::ParetoNbd => {
                ParetoNbd::fit(f, r, t, params.penalizer).map(FittedModel::Pareto)
            }
        };
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
    Ok(ClvAnalysis {
        summary,
        fits,
        gamma_gamma,
        predictions,
        scorecards,
        summary_seconds,
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

    /// P(n repeat purchases within `horizon`) for a new customer, n = 0..=max, from the first
    /// BG/NBD-family fit; `None` without one (or when a probability cannot be computed).
    pub fn purchase_distribution(&self, horizon: f64, max: u32) -> Option<Vec<(u32, f64)>> {
        let m = self.bgnbd()?;
        (0..=max)
            .map(|k| m.probability_of_n_purchases(horizon, k).map(|p| (k, p)))
            .collect()
    }
}
