//! How the model uses its features over many customers (`explain.json`): the TreeSHAP
//! contributions of a seeded sample of test rows per feature (the data of a SHAP summary
//! "beeswarm" and of dependence plots) and partial dependence with individual conditional
//! expectation (ICE) quantiles for the top features.
//!
//! Partial dependence (Friedman 2001, section 8.2) of feature j at value v: the mean prediction
//! over the rows with feature j set to v; the ICE curves (Goldstein et al. 2015) are the rows'
//! own curves, of which the 10th, 50th and 90th percentile at each v show how much customers
//! differ (a flat mean over diverging curves means the feature interacts with others).
//! scikit-learn's `partial_dependence(kind="both")` computes the same on its grid.

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::gbdt::Gbdt;
use super::Table;
use crate::error::Result;
use crate::stats::quantile_sorted;

/// Settings of the explanation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExplainParams {
    /// Test rows sampled for the contributions (2,000).
    pub rows: usize,
    /// Features kept, by mean absolute contribution (10).
    pub features: usize,
    /// Of them, features with partial dependence (5).
    pub dependence_features: usize,
    /// Rows whose ICE curves are computed (500, a subset of `rows`).
    pub ice_rows: usize,
    /// Grid points per feature (20: its distinct values if fewer, else quantiles 5%..95%).
    pub grid: usize,
    /// Seed of the samples.
    pub seed: u64,
}

impl Default for ExplainParams {
    fn default() -> Self {
        ExplainParams {
            rows: 2_000,
            features: 10,
            dependence_features: 5,
            ice_rows: 500,
            grid: 20,
            seed: 42,
        }
    }
}

/// `explain.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Explanation {
    /// Format of this file: [`Explanation::FORMAT`].
    pub format: String,
    /// Test rows sampled.
    pub rows: usize,
    /// Test rows there were.
    pub test_rows: usize,
    /// The raw score with no feature known (contributions add to it).
    pub expected_value: f64,
    /// What the contributions are in: `log-odds` or the label's unit.
    pub scale: String,
    /// The features by mean absolute contribution, largest first.
    pub features: Vec<FeatureEffect>,
}

impl Explanation {
    /// The format written in `format`.
    pub const FORMAT: &'static str = "predict-explain/1";
}

/// One feature over the sampled rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureEffect {
    /// The feature.
    pub feature: String,
    /// Mean absolute contribution (its SHAP importance).
    pub mean_abs_contribution: f64,
    /// Its value in each sampled row (`null`: missing).
    #[serde(deserialize_with = "crate::output::nan::vec")]
    pub values: Vec<f64>,
    /// Its contribution in each sampled row.
    pub contributions: Vec<f64>,
    /// Partial dependence and ICE quantiles (the top `dependence_features`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependence: Option<PartialDependence>,
}

/// The prediction as one feature is set to each grid value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartialDependence {
    /// Feature values.
    pub grid: Vec<f64>,
    /// Mean prediction at each (the partial dependence).
    pub mean: Vec<f64>,
    /// 10th, 50th and 90th percentile of the rows' ICE curves at each.
    pub ice_p10: Vec<f64>,
    /// See `ice_p10`.
    pub ice_p50: Vec<f64>,
    /// See `ice_p10`.
    pub ice_p90: Vec<f64>,
    /// Rows with an ICE curve.
    pub rows: usize,
}

/// A seeded sample of at most `k` of `0..n`, in order.
fn sample_rows(n: usize, k: usize, seed: u64) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut idx = sample(&mut rng, n, k).into_vec();
    idx.sort_unstable();
    idx
}

/// The grid of a feature: its distinct values when there are at most `n`, else `n` quantiles
/// from 5% to 95% (distinct).
pub fn grid(values: &[f64], n: usize) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_unstable_by(f64::total_cmp);
    let mut distinct = v.clone();
    distinct.dedup();
    if distinct.len() <= n {
        return distinct;
    }
    let mut g: Vec<f64> = (0..n)
        .map(|i| quantile_sorted(&v, 0.05 + 0.9 * i as f64 / (n - 1).max(1) as f64))
        .collect();
    g.dedup();
    g
}

/// Partial dependence of column `j` of `x` under `predict`, with ICE percentiles.
pub fn partial_dependence(
    x: &Table,
    j: usize,
    grid: &[f64],
    predict: &dyn Fn(&Table) -> Vec<f64>,
) -> PartialDependence {
    let mut curves = vec![Vec::with_capacity(grid.len()); x.rows];
    let mut mean = Vec::with_capacity(grid.len());
    let mut at = x.clone();
    for &v in grid {
        for i in 0..x.rows {
            at.data[i * x.cols + j] = v;
        }
        let p = predict(&at);
        mean.push(p.iter().sum::<f64>() / p.len().max(1) as f64);
        for (c, v) in curves.iter_mut().zip(p) {
            c.push(v);
        }
    }
    let pct = |q: f64| -> Vec<f64> {
        (0..grid.len())
            .map(|g| {
                let mut col: Vec<f64> = curves.iter().map(|c| c[g]).collect();
                col.sort_unstable_by(f64::total_cmp);
                quantile_sorted(&col, q)
            })
            .collect()
    };
    PartialDependence {
        grid: grid.to_vec(),
        mean,
        ice_p10: pct(0.1),
        ice_p50: pct(0.5),
        ice_p90: pct(0.9),
        rows: x.rows,
    }
}

/// The explanation of `model` on the rows `test` of `x` (the model's features); `predict`
/// gives the predictions on the scale users read (probabilities, calibrated if so).
pub fn explain(
    model: &Gbdt,
    x: &Table,
    test: &[usize],
    scale: &str,
    predict: &dyn Fn(&Table) -> Vec<f64>,
    p: &ExplainParams,
) -> Result<Explanation> {
    let picked: Vec<usize> = sample_rows(test.len(), p.rows, p.seed)
        .into_iter()
        .map(|t| test[t])
        .collect();
    let sub = x.select(&picked);
    let c = model.contributions(&sub)?;
    let d = sub.cols;
    let mut mean_abs: Vec<(usize, f64)> = (0..d)
        .map(|j| {
            let s: f64 = (0..sub.rows).map(|i| c.values[i * d + j].abs()).sum();
            (j, s / sub.rows.max(1) as f64)
        })
        .collect();
    mean_abs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let ice = sub.select(&sample_rows(sub.rows, p.ice_rows, p.seed.wrapping_add(1)));
    let features = mean_abs
        .into_iter()
        .take(p.features)
        .filter(|&(_, m)| m > 0.0)
        .enumerate()
        .map(|(rank, (j, m))| {
            let values = sub.column(j);
            let dependence = (rank < p.dependence_features && ice.rows > 0)
                .then(|| partial_dependence(&ice, j, &grid(&values, p.grid), predict));
            FeatureEffect {
                feature: sub.names[j].clone(),
                mean_abs_contribution: m,
                contributions: (0..sub.rows).map(|i| c.values[i * d + j]).collect(),
                values,
                dependence,
            }
        })
        .collect();
    Ok(Explanation {
        format: Explanation::FORMAT.into(),
        rows: sub.rows,
        test_rows: test.len(),
        expected_value: c.expected_value,
        scale: scale.into(),
        features,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_distinct_values_or_quantiles() {
        assert_eq!(
            grid(&[3.0, 1.0, f64::NAN, 3.0, 2.0], 20),
            vec![1.0, 2.0, 3.0]
        );
        let v: Vec<f64> = (0..=100).map(|i| i as f64).collect();
        // numpy.quantile(range(101), [0.05, 0.5, 0.95]) = 5, 50, 95
        assert_eq!(grid(&v, 3), vec![5.0, 50.0, 95.0]);
    }

    /// On a function of known shape: f = 2 x0 + x0 x1 with x1 in {0, 1} half each; the
    /// partial dependence of x0 is 2.5 x0 (mean over x1), the ICE curves have slopes 2 and 3.
    #[test]
    fn partial_dependence_of_a_known_function() {
        let rows: Vec<Vec<f64>> = (0..10)
            .map(|i| vec![i as f64 / 10.0, (i % 2) as f64])
            .collect();
        let x = Table::from_rows(vec!["x0".into(), "x1".into()], &rows);
        let f = |t: &Table| -> Vec<f64> {
            (0..t.rows)
                .map(|i| {
                    let r = t.row(i);
                    2.0 * r[0] + r[0] * r[1]
                })
                .collect()
        };
        let pd = partial_dependence(&x, 0, &[0.0, 1.0, 2.0], &f);
        assert_eq!(pd.mean, vec![0.0, 2.5, 5.0]);
        // five curves of slope 2 and five of slope 3: numpy's 10th percentile 2 v, 90th 3 v
        assert_eq!(pd.ice_p10, vec![0.0, 2.0, 4.0]);
        assert_eq!(pd.ice_p90, vec![0.0, 3.0, 6.0]);
        assert_eq!(pd.ice_p50, vec![0.0, 2.5, 5.0]);
        assert_eq!(pd.rows, 10);
    }
}
