//! A fitted CLV model as a file: the predicting transaction model, Gamma-Gamma, the time unit
//! and the prediction settings, so that new or later transactions are scored without a refit
//! (`segmint clv --save-model` / `--model`).
//!
//! ```no_run
//! use segmint::clv::analysis::{analyze, ClvParams};
//! use segmint::clv::model::ClvModel;
//! use segmint::data::{ColumnMap, TableKind, TableReader};
//! use segmint::progress::NoProgress;
//!
//! let tx = TableReader::open(TableKind::Transactions, "2025.parquet".as_ref(), &ColumnMap::new())?;
//! let params = ClvParams::default();
//! let a = analyze(&tx, &params, &NoProgress)?;
//! a.model(&params).save("clv_model.json".as_ref())?;
//!
//! let later = TableReader::open(TableKind::Transactions, "2026.parquet".as_ref(), &ColumnMap::new())?;
//! let model = ClvModel::load("clv_model.json".as_ref())?;
//! let (summary, predictions) = model.score(&later, None, &NoProgress)?;
//! println!("{} customers, first CLV {:.2}", summary.len(), predictions.clv[0]);
//! # Ok::<(), segmint::Error>(())
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::analysis::{ClvAnalysis, ClvParams, FittedModel, TransactionKind};
use super::gamma_gamma::GammaGamma;
use super::{predict, summarize, PredictParams, Predictions, Summary, SummaryParams, TimeUnit};
use crate::data::reader::TableReader;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// A fitted CLV model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClvModel {
    /// [`ClvModel::KIND`]: what kind of file this is.
    pub segmint_model: String,
    /// The version of segmint that fitted it.
    pub segmint_version: String,
    /// Which transaction model predicts.
    pub kind: TransactionKind,
    /// Its parameters.
    pub transaction: FittedModel,
    /// The order-value model.
    pub gamma_gamma: GammaGamma,
    /// The time unit of the rates (recency and T are measured in it when scoring).
    pub time_unit: TimeUnit,
    /// Horizon, CLV months and discount rate of the predictions.
    pub predict: PredictParams,
    /// Last day of the calibration period it was fitted on (YYYY-MM-DD).
    pub calibration_end: String,
    /// Which rows were purchases when it was fitted (scoring uses the same rule).
    #[serde(default)]
    pub purchases: super::PurchaseRule,
}

impl ClvAnalysis {
    /// The predicting model of the analysis as a [`ClvModel`].
    pub fn model(&self, params: &ClvParams) -> ClvModel {
        let (kind, transaction) = self.fits[0].clone();
        ClvModel {
            segmint_model: ClvModel::KIND.into(),
            segmint_version: crate::VERSION.into(),
            kind,
            transaction,
            gamma_gamma: self.gamma_gamma.clone(),
            time_unit: self.summary.time_unit,
            predict: params.predict.clone(),
            calibration_end: self.summary.calibration_end_text(),
            purchases: params.summary.purchases,
        }
    }
}

impl ClvModel {
    /// The kind written in `segmint_model`.
    pub const KIND: &'static str = "clv/1";

    /// Writes the model as JSON (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::output::write_json(path, self)
    }

    /// Reads a model written by [`ClvModel::save`]; refuses another kind of file.
    pub fn load(path: &Path) -> Result<ClvModel> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let kind: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::format(path, format!("not a segmint CLV model: {e}")))?;
        let found = kind.get("segmint_model").and_then(|k| k.as_str());
        if found != Some(Self::KIND) {
            return Err(Error::format(
                path,
                format!(
                    "model kind {}, expected {:?}",
                    found.map_or("none".to_string(), |k| format!("{k:?}")),
                    Self::KIND
                ),
            ));
        }
        serde_json::from_value(kind)
            .map_err(|e| Error::format(path, format!("not a segmint CLV model: {e}")))
    }

    /// Predictions for the customers of `summary` (summarised in the model's time unit).
    pub fn predict(&self, summary: &Summary) -> Result<Predictions> {
        if summary.time_unit != self.time_unit {
            return Err(Error::param(
                "time_unit",
                format!(
                    "the summary is in {}s, the model in {}s",
                    summary.time_unit.name(),
                    self.time_unit.name()
                ),
            ));
        }
        Ok(predict(
            summary,
            self.transaction.model(),
            &self.gamma_gamma,
            &self.predict,
        ))
    }

    /// Summarises the transactions of `tx` up to `calibration_end` (default: the day of the
    /// last transaction) in the model's time unit and predicts for every customer.
    pub fn score(
        &self,
        tx: &TableReader,
        calibration_end: Option<i64>,
        progress: &dyn Progress,
    ) -> Result<(Summary, Predictions)> {
        let p = SummaryParams {
            calibration_end,
            holdout_end: None,
            time_unit: self.time_unit,
            purchases: self.purchases,
        };
        let summary = summarize(tx, &p, progress)?;
        let predictions = self.predict(&summary)?;
        Ok((summary, predictions))
    }
}
