//! Baselines: L2-penalised logistic regression (Newton's method) and ridge linear regression
//! (normal equations), both on standardised features with an unpenalised intercept. Missing
//! values are replaced by the training mean. The penalty is scikit-learn's: `alpha` on
//! sum(coef^2) / 2 against the summed loss (`LogisticRegression(C = 1 / alpha)`, `Ridge(alpha)`,
//! on the standardised features).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::gbdt::{sigmoid, Objective};
use super::Table;
use crate::error::{Error, Result};
use crate::linalg::solve;

/// A fitted linear model: prediction = intercept + sum coef_j (x_j - mean_j) / scale_j,
/// through the logistic function for `Binary`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Linear {
    /// Classification or regression.
    pub objective: Objective,
    /// Feature names in column order.
    pub features: Vec<String>,
    /// Per feature: the mean subtracted before scaling.
    pub mean: Vec<f64>,
    /// Per feature: the standard deviation divided by.
    pub scale: Vec<f64>,
    /// Intercept.
    pub intercept: f64,
    /// Coefficients of the scaled features.
    pub coef: Vec<f64>,
    /// L2 penalty.
    pub alpha: f64,
    /// Iterations run.
    pub iterations: usize,
}

impl Linear {
    /// Fits on `x`, `y` with penalty `alpha` (>= 0).
    #[allow(clippy::needless_range_loop)] // matrix code: indices read as the formulas
    pub fn fit(objective: Objective, x: &Table, y: &[f64], alpha: f64) -> Result<Linear> {
        if !(alpha >= 0.0 && alpha.is_finite()) {
            return Err(Error::Config(format!("alpha = {alpha}: expected >= 0")));
        }
        let (n, d) = (x.rows, x.cols);
        if n == 0 || y.len() != n {
            return Err(Error::Data(format!(
                "training needs rows and one label per row ({n} rows, {} labels)",
                y.len()
            )));
        }
        let mut mean = vec![0.0; d];
        let mut count = vec![0usize; d];
        for i in 0..n {
            for (j, &v) in x.row(i).iter().enumerate() {
                if !v.is_nan() {
                    mean[j] += v;
                    count[j] += 1;
                }
            }
        }
        for j in 0..d {
            mean[j] = if count[j] > 0 {
                mean[j] / count[j] as f64
            } else {
                0.0
            };
        }
        let mut scale = vec![0.0; d];
        for i in 0..n {
            for (j, &v) in x.row(i).iter().enumerate() {
                if !v.is_nan() {
                    scale[j] += (v - mean[j]) * (v - mean[j]);
                }
            }
        }
        for j in 0..d {
            let s = (scale[j] / count[j].max(1) as f64).sqrt();
            scale[j] = if s > 0.0 { s } else { 1.0 };
        }
        let mut model = Linear {
            objective,
            features: x.names.clone(),
            mean,
            scale,
            intercept: 0.0,
            coef: vec![0.0; d],
            alpha,
            iterations: 0,
        };
        // standardised rows with a leading 1 for the intercept, computed once
        let p = d + 1;
        let mut zs = vec![0.0; n * p];
        zs.par_chunks_mut(p).enumerate().for_each(|(i, row)| {
            row[0] = 1.0;
            for j in 0..d {
                let v = x.data[i * d + j];
                row[j + 1] = if v.is_nan() {
                    0.0
                } else {
                    (v - model.mean[j]) / model.scale[j]
                };
            }
        });
        let max_iter = if objective == Objective::Binary {
            100
        } else {
            1
        };
        // rows are summed in fixed blocks, in parallel, and the block sums in block order: the
        // same model at any thread count
        const BLOCK: usize = 4096;
        let mut beta = vec![0.0; p];
        for it in 0..max_iter {
            // gradient and (lower triangle of the) Hessian of the loss in (intercept, coef)
            let parts: Vec<(Vec<f64>, Vec<f64>)> = zs
                .par_chunks(BLOCK * p)
                .enumerate()
                .map(|(blk, rows)| {
                    let mut grad = vec![0.0; p];
                    let mut hess = vec![0.0; p * p];
                    for (k, row) in rows.chunks_exact(p).enumerate() {
                        let i = blk * BLOCK + k;
                        let eta: f64 = row.iter().zip(&beta).map(|(a, b)| a * b).sum();
                        let (r, w) = match objective {
                            Objective::Binary => {
                                let q = sigmoid(eta);
                                (q - y[i], (q * (1.0 - q)).max(1e-12))
                            }
                            Objective::Regression => (eta - y[i], 1.0),
                        };
                        for a in 0..p {
                            grad[a] += r * row[a];
                            let wa = w * row[a];
                            let h = &mut hess[a * p..a * p + a + 1];
                            for (hb, rb) in h.iter_mut().zip(&row[..=a]) {
                                *hb += wa * rb;
                            }
                        }
                    }
                    (grad, hess)
                })
                .collect();
            let mut grad = vec![0.0; p];
            let mut flat = vec![0.0; p * p];
            for (g, h) in &parts {
                for (a, b) in grad.iter_mut().zip(g) {
                    *a += b;
                }
                for (a, b) in flat.iter_mut().zip(h) {
                    *a += b;
                }
            }
            let mut hess: Vec<Vec<f64>> = flat.chunks(p).map(|r| r.to_vec()).collect();
            for a in 0..p {
                for b in 0..a {
                    hess[b][a] = hess[a][b];
                }
            }
            for j in 0..d {
                grad[j + 1] += alpha * beta[j + 1];
                hess[j + 1][j + 1] += alpha;
            }
            // a tiny ridge keeps constant columns solvable
            for (a, h) in hess.iter_mut().enumerate() {
                h[a] += 1e-10 * n as f64;
            }
            let step = solve(&hess, &grad).ok_or_else(|| {
                Error::Data("linear model: the normal equations are singular".into())
            })?;
            for (b, s) in beta.iter_mut().zip(&step) {
                *b -= s;
            }
            model.intercept = beta[0];
            model.coef = beta[1..].to_vec();
            model.iterations = it + 1;
            let size = step.iter().map(|s| s.abs()).fold(0.0, f64::max);
            if size < 1e-10 {
                break;
            }
        }
        Ok(model)
    }

    /// Predictions for the rows of `x` (probabilities for classification).
    pub fn predict(&self, x: &Table) -> Vec<f64> {
        (0..x.rows)
            .map(|i| {
                let eta = self.intercept
                    + x.row(i)
                        .iter()
                        .enumerate()
                        .map(|(j, &v)| {
                            if v.is_nan() {
                                0.0
                            } else {
                                self.coef[j] * (v - self.mean[j]) / self.scale[j]
                            }
                        })
                        .sum::<f64>();
                match self.objective {
                    Objective::Binary => sigmoid(eta),
                    Objective::Regression => eta,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_regression_recovers_an_exact_line() {
        let rows: Vec<Vec<f64>> = (0..20)
            .map(|i| vec![i as f64, (i * i % 7) as f64])
            .collect();
        let y: Vec<f64> = rows.iter().map(|r| 3.0 + 2.0 * r[0] - 0.5 * r[1]).collect();
        let x = Table::from_rows(vec!["a".into(), "b".into()], &rows);
        let m = Linear::fit(Objective::Regression, &x, &y, 0.0).unwrap();
        for (p, t) in m.predict(&x).iter().zip(&y) {
            assert!((p - t).abs() < 1e-6, "{p} vs {t}");
        }
    }

    #[test]
    fn logistic_regression_matches_the_closed_form_of_one_binary_feature() {
        // one 0/1 feature: the unpenalised MLE reproduces each group's rate exactly
        // (group 0: 1 of 4 positive, group 1: 3 of 4)
        let rows: Vec<Vec<f64>> = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
            .iter()
            .map(|&v| vec![v])
            .collect();
        let y = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0];
        let x = Table::from_rows(vec!["g".into()], &rows);
        let m = Linear::fit(Objective::Binary, &x, &y, 0.0).unwrap();
        let p = m.predict(&x);
        assert!(
            (p[0] - 0.25).abs() < 1e-6 && (p[4] - 0.75).abs() < 1e-6,
            "{p:?}"
        );
    }
}
