//! What a prediction is used for: risk bands, value categories, the retention priority and the
//! lists a team acts on (retention targets, VIPs, likely conversions), as typed results.

use serde::{Deserialize, Serialize};

use super::{risk_band, value_categories, Task};
use crate::error::{Error, Result};
use crate::output::OutCol;

/// Thresholds of the actionable outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionParams {
    /// Churn risk bands: `Low` below the first probability, `High` from the second (0.3, 0.7).
    pub risk_thresholds: Vec<f64>,
    /// Value categories `Medium`, `High`, `VIP` from these quantiles of customer value
    /// (0.5, 0.8, 0.95).
    pub value_quantiles: Vec<f64>,
    /// Retention targets: high-risk customers with more revenue than this (200).
    pub min_revenue: f64,
    /// Length of each list (20).
    pub top: usize,
    /// Sessions listed as likely conversions: probability above this (0.7).
    #[serde(default = "default_hot")]
    pub hot_threshold: f64,
    /// Features per row in the drivers columns and lists (3; 0 = none, at most 10).
    #[serde(default = "default_drivers")]
    pub drivers: usize,
    /// Drivers for every row, not only the test split and the lists (`segmint score`: every
    /// scored row always).
    #[serde(default)]
    pub drivers_all: bool,
}

fn default_hot() -> f64 {
    0.7
}

fn default_drivers() -> usize {
    3
}

impl Default for ActionParams {
    fn default() -> Self {
        ActionParams {
            risk_thresholds: vec![0.3, 0.7],
            value_quantiles: vec![0.5, 0.8, 0.95],
            min_revenue: 200.0,
            top: 20,
            hot_threshold: default_hot(),
            drivers: default_drivers(),
            drivers_all: false,
        }
    }
}

impl ActionParams {
    /// Checks the thresholds; the error names the parameter.
    pub fn check(&self) -> Result<()> {
        self.bands().map(|_| ())?;
        self.quantiles().map(|_| ())?;
        if self.drivers > super::drivers::MAX_DRIVERS {
            return Err(Error::param(
                "drivers",
                format!(
                    "at most {} per row, got {}",
                    super::drivers::MAX_DRIVERS,
                    self.drivers
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.hot_threshold) {
            return Err(Error::param(
                "hot_threshold",
                format!("must be a probability, got {}", self.hot_threshold),
            ));
        }
        Ok(())
    }

    fn bands(&self) -> Result<(f64, f64)> {
        match self.risk_thresholds[..] {
            [lo, hi] if (0.0..=1.0).contains(&lo) && (lo..=1.0).contains(&hi) => Ok((lo, hi)),
            _ => Err(Error::param(
                "risk_thresholds",
                format!(
                    "needs two probabilities LOW <= HIGH, got {:?}",
                    self.risk_thresholds
                ),
            )),
        }
    }

    fn quantiles(&self) -> Result<[f64; 3]> {
        match self.value_quantiles[..] {
            [a, b, c] if 0.0 <= a && a <= b && b <= c && c <= 1.0 => Ok([a, b, c]),
            _ => Err(Error::param(
                "value_quantiles",
                format!(
                    "needs three increasing quantiles in 0..1, got {:?}",
                    self.value_quantiles
                ),
            )),
        }
    }
}

/// Customers (or sessions) per band or category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandCounts {
    /// The probabilities (risk bands) or quantiles (value categories) of the cuts.
    #[serde(alias = "quantiles")]
    pub thresholds: Vec<f64>,
    #[serde(rename = "Low")]
    /// Customers in the low band.
    pub low: usize,
    #[serde(rename = "Medium")]
    /// Customers in the medium band.
    pub medium: usize,
    #[serde(rename = "High")]
    /// Customers in the high band.
    pub high: usize,
    /// Value categories only.
    #[serde(rename = "VIP", default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<usize>,
}

/// One entry of an insight list (the keys of `insights.json`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListEntry {
    /// Customer id (churn, value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Session id (conversion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Predicted churn probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn_probability: Option<f64>,
    /// Predicted conversion probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_probability: Option<f64>,
    /// Predicted value (value task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_value: Option<f64>,
    /// Net revenue before the cutoff (`NaN` when unknown).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nan_opt"
    )]
    pub revenue: Option<f64>,
    /// Churn probability x revenue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_priority: Option<f64>,
    /// Risk band of a VIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_band: Option<String>,
    /// The features that moved this prediction most (TreeSHAP), largest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drivers: Option<Vec<super::drivers::Driver>>,
    /// The drivers that raise the prediction, in words: `recency_days = 94 (+0.81), ...`
    /// (contributions to the log-odds for churn and conversion, to the value for value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub because: Option<String>,
}

fn nan_opt<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<f64>, D::Error> {
    Ok(Some(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN)))
}

/// A list to act on: the rule, how many qualify (`eligible`), the first `top`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionList {
    /// Who qualifies, in words.
    pub rule: String,
    /// How many qualify.
    pub eligible: usize,
    /// The first of them, highest priority first (ties by id).
    pub top: Vec<ListEntry>,
}

/// The lists and counts of one prediction (`insights.json`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Insights {
    /// Churn: customers per risk band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_bands: Option<BandCounts>,
    /// Value: customers per value category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_categories: Option<BandCounts>,
    /// Churn: high-risk, high-revenue customers by retention priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_targets: Option<ActionList>,
    /// Churn and value: the most valuable customers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<ActionList>,
    /// Conversion: sessions most likely to convert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likely_conversions: Option<ActionList>,
}

/// The per-row outputs of a prediction: what `predictions.parquet` and `segmint score` hold.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    /// Customer or session ids.
    pub ids: Vec<String>,
    /// The prediction: churn or conversion probability, or predicted value.
    pub prediction: Vec<f64>,
    /// Churn: `Low` / `Medium` / `High`.
    pub risk_band: Vec<&'static str>,
    /// Net revenue before the cutoff (NaN when unknown).
    pub revenue: Vec<f64>,
    /// Churn: probability x revenue.
    pub retention_priority: Vec<f64>,
    /// Churn: of the revenue to date; value: of the predicted value.
    pub value_category: Vec<&'static str>,
    /// The features that moved each prediction most, where computed.
    pub drivers: Option<super::drivers::RowDrivers>,
}

/// Sorts row indices by `key`, largest first, ties by id: the order of every insight list.
fn rank_desc(idx: &mut [usize], key: &[f64], ids: &[String]) {
    idx.sort_by(|&x, &y| key[y].total_cmp(&key[x]).then(ids[x].cmp(&ids[y])));
}

fn count(v: &[&str], of: &str) -> usize {
    v.iter().filter(|&&x| x == of).count()
}

/// Scores and insight lists of `prediction` for `ids` (with each one's revenue to date).
pub fn act_on(
    task: Task,
    ids: &[String],
    revenue: &[f64],
    prediction: &[f64],
    p: &ActionParams,
) -> Result<(Scores, Insights)> {
    let bands = p.bands()?;
    let quantiles = p.quantiles()?;
    let n = ids.len();
    let mut s = Scores {
        ids: ids.to_vec(),
        prediction: prediction.to_vec(),
        revenue: revenue.to_vec(),
        ..Scores::default()
    };
    let mut ins = Insights::default();
    let entry = |i: usize| ListEntry {
        customer_id: Some(ids[i].clone()),
        ..ListEntry::default()
    };
    match task {
        Task::Churn => {
            s.risk_band = prediction.iter().map(|&q| risk_band(q, bands)).collect();
            s.retention_priority = prediction
                .iter()
                .zip(revenue)
                .map(|(q, r)| q * r.max(0.0))
                .collect();
            s.value_category = value_categories(revenue, quantiles);
            let mut idx: Vec<usize> = (0..n)
                .filter(|&i| s.risk_band[i] == "High" && revenue[i] > p.min_revenue)
                .collect();
            rank_desc(&mut idx, &s.retention_priority, ids);
            let mut vip: Vec<usize> = (0..n).filter(|&i| s.value_category[i] == "VIP").collect();
            rank_desc(&mut vip, revenue, ids);
            ins.risk_bands = Some(BandCounts {
                thresholds: vec![bands.0, bands.1],
                low: count(&s.risk_band, "Low"),
                medium: count(&s.risk_band, "Medium"),
                high: count(&s.risk_band, "High"),
                vip: None,
            });
            ins.retention_targets = Some(ActionList {
                rule: format!("risk band High and revenue > {}", p.min_revenue),
                eligible: idx.len(),
                top: idx
                    .iter()
                    .take(p.top)
                    .map(|&i| ListEntry {
                        churn_probability: Some(prediction[i]),
                        revenue: Some(revenue[i]),
                        retention_priority: Some(s.retention_priority[i]),
                        ..entry(i)
                    })
                    .collect(),
            });
            ins.vip = Some(ActionList {
                rule: format!("revenue from the {} quantile", quantiles[2]),
                eligible: vip.len(),
                top: vip
                    .iter()
                    .take(p.top)
                    .map(|&i| ListEntry {
                        churn_probability: Some(prediction[i]),
                        revenue: Some(revenue[i]),
                        risk_band: Some(s.risk_band[i].to_string()),
                        ..entry(i)
                    })
                    .collect(),
            });
        }
        Task::Conversion => {
            let mut hot: Vec<usize> = (0..n)
                .filter(|&i| prediction[i] > p.hot_threshold)
                .collect();
            rank_desc(&mut hot, prediction, ids);
            ins.likely_conversions = Some(ActionList {
                rule: format!("conversion probability > {}", p.hot_threshold),
                eligible: hot.len(),
                top: hot
                    .iter()
                    .take(p.top)
                    .map(|&i| ListEntry {
                        session_id: Some(ids[i].clone()),
                        conversion_probability: Some(prediction[i]),
                        ..ListEntry::default()
                    })
                    .collect(),
            });
        }
        Task::Value => {
            s.value_category = value_categories(prediction, quantiles);
            let mut vip: Vec<usize> = (0..n).filter(|&i| s.value_category[i] == "VIP").collect();
            rank_desc(&mut vip, prediction, ids);
            ins.value_categories = Some(BandCounts {
                thresholds: quantiles.to_vec(),
                low: count(&s.value_category, "Low"),
                medium: count(&s.value_category, "Medium"),
                high: count(&s.value_category, "High"),
                vip: Some(count(&s.value_category, "VIP")),
            });
            ins.vip = Some(ActionList {
                rule: format!("predicted value from the {} quantile", quantiles[2]),
                eligible: vip.len(),
                top: vip
                    .iter()
                    .take(p.top)
                    .map(|&i| ListEntry {
                        predicted_value: Some(prediction[i]),
                        revenue: Some(revenue[i]),
                        ..entry(i)
                    })
                    .collect(),
            });
        }
    }
    Ok((s, ins))
}

impl Scores {
    /// The output columns of `task`, in the order of `predictions.parquet`, then the drivers'
    /// columns when they were computed.
    pub fn columns(&self, task: Task) -> Vec<(&'static str, OutCol)> {
        let mut cols = self.task_columns(task);
        if let Some(d) = &self.drivers {
            cols.extend(d.columns());
        }
        cols
    }

    fn task_columns(&self, task: Task) -> Vec<(&'static str, OutCol)> {
        let text = |v: &[&str]| OutCol::Str(v.iter().map(|s| s.to_string()).collect());
        match task {
            Task::Churn => vec![
                ("customer_id", OutCol::Str(self.ids.clone())),
                ("churn_probability", OutCol::F64(self.prediction.clone())),
                ("risk_band", text(&self.risk_band)),
                ("revenue", OutCol::F64(self.revenue.clone())),
                (
                    "retention_priority",
                    OutCol::F64(self.retention_priority.clone()),
                ),
                ("value_category", text(&self.value_category)),
            ],
            Task::Conversion => vec![
                ("session_id", OutCol::Str(self.ids.clone())),
                (
                    "conversion_probability",
                    OutCol::F64(self.prediction.clone()),
                ),
            ],
            Task::Value => vec![
                ("customer_id", OutCol::Str(self.ids.clone())),
                ("predicted_value", OutCol::F64(self.prediction.clone())),
                ("value_category", text(&self.value_category)),
                ("revenue", OutCol::F64(self.revenue.clone())),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_lists_rank_by_priority_and_round_trip() {
        let ids: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let revenue = [1000.0, 300.0, 50.0, 5000.0];
        let pred = [0.9, 0.95, 0.99, 0.1];
        let (s, ins) =
            act_on(Task::Churn, &ids, &revenue, &pred, &ActionParams::default()).unwrap();
        assert_eq!(s.risk_band, ["High", "High", "High", "Low"]);
        let t = ins.retention_targets.as_ref().unwrap();
        // c is High but has revenue 50 <= 200; a (900) before b (285)
        assert_eq!(t.eligible, 2);
        assert_eq!(t.top[0].customer_id.as_deref(), Some("a"));
        assert_eq!(t.top[0].retention_priority, Some(900.0));
        let b = ins.risk_bands.as_ref().unwrap();
        assert_eq!((b.low, b.medium, b.high), (1, 0, 3));
        let json = serde_json::to_string(&ins).unwrap();
        assert!(json.contains("\"High\":3"), "{json}");
        assert_eq!(serde_json::from_str::<Insights>(&json).unwrap(), ins);
    }

    #[test]
    fn bad_thresholds_name_the_parameter() {
        let p = ActionParams {
            risk_thresholds: vec![0.8, 0.2],
            ..ActionParams::default()
        };
        let e = p.check().unwrap_err().to_string();
        assert!(e.starts_with("risk_thresholds needs two"), "{e}");
    }
}
