//! Probability calibration: a monotone map from the model's probabilities to observed rates,
//! fitted on out-of-fold predictions of the training rows so that "0.7" means about 70%.
//!
//! * **isotonic**: the non-decreasing step function closest to the outcomes in squared error
//!   (pool-adjacent-violators), interpolated linearly between its points and clipped outside
//!   them; scikit-learn's `IsotonicRegression(out_of_bounds="clip")` as `CalibratedClassifierCV`
//!   uses it.
//! * **sigmoid**: Platt scaling, `1 / (1 + exp(a s + b))` of the model's log-odds `s`, fitted by
//!   Newton's method with Platt's smoothed targets ((N+ + 1) / (N+ + 2) and 1 / (N- + 2)),
//!   following Lin, Lin & Weng (2007), "A note on Platt's probabilistic outputs for support
//!   vector machines", Algorithm 1. scikit-learn fits the same loss (on the probability rather
//!   than the log-odds when the model has no `decision_function`).
//!
//! Calibration maps probabilities monotonically, so the ranking of customers (ROC-AUC, gain,
//! lift) changes only where isotonic regression ties neighbouring scores.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How to calibrate (`--calibrate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CalibrationMethod {
    /// Isotonic regression (non-parametric; needs a few thousand rows).
    Isotonic,
    /// Platt's sigmoid of the log-odds (two parameters; for small data).
    Sigmoid,
}

impl CalibrationMethod {
    /// The method's name as the CLI spells it.
    pub fn label(self) -> &'static str {
        match self {
            CalibrationMethod::Isotonic => "isotonic",
            CalibrationMethod::Sigmoid => "sigmoid",
        }
    }
}

/// A fitted calibration map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Calibrator {
    /// The isotonic fit at the distinct probabilities it was fitted on (`x` increasing).
    Isotonic {
        /// Probabilities.
        x: Vec<f64>,
        /// Calibrated probabilities (non-decreasing).
        y: Vec<f64>,
    },
    /// `1 / (1 + exp(a s + b))` of the log-odds `s`.
    Sigmoid {
        /// Slope (negative when the model ranks the right way round).
        a: f64,
        /// Intercept.
        b: f64,
    },
}

/// Log-odds of a probability, finite for 0 and 1.
fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-15, 1.0 - 1e-15);
    (p / (1.0 - p)).ln()
}

impl Calibrator {
    /// Fits `method` to probabilities `p` and 0/1 outcomes `y`.
    pub fn fit(method: CalibrationMethod, p: &[f64], y: &[f64]) -> Result<Calibrator> {
        if p.len() != y.len() || p.is_empty() {
            return Err(Error::Config(
                "calibration needs predictions for at least one row".into(),
            ));
        }
        let positives = y.iter().filter(|&&v| v == 1.0).count();
        if positives == 0 || positives == y.len() {
            return Err(Error::Config(format!(
                "calibration needs both outcomes among the {} out-of-fold rows, got only {}",
                y.len(),
                if positives == 0 { "0s" } else { "1s" }
            )));
        }
        Ok(match method {
            CalibrationMethod::Isotonic => isotonic(p, y),
            CalibrationMethod::Sigmoid => {
                let s: Vec<f64> = p.iter().map(|&v| logit(v)).collect();
                let (a, b) = platt(&s, y);
                Calibrator::Sigmoid { a, b }
            }
        })
    }

    /// The calibrated probability of a model probability.
    pub fn apply(&self, p: f64) -> f64 {
        match self {
            Calibrator::Isotonic { x, y } => interpolate(x, y, p),
            Calibrator::Sigmoid { a, b } => 1.0 / (1.0 + (a * logit(p) + b).exp()),
        }
    }

    /// [`Calibrator::apply`] to every probability.
    pub fn apply_all(&self, p: &[f64]) -> Vec<f64> {
        p.iter().map(|&v| self.apply(v)).collect()
    }
}

/// Pool-adjacent-violators over the distinct values of `p` (outcomes of equal `p` averaged
/// first, as scikit-learn does).
fn isotonic(p: &[f64], y: &[f64]) -> Calibrator {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    // distinct x with the sum and count of their outcomes
    let mut xs: Vec<f64> = Vec::new();
    let mut sums: Vec<f64> = Vec::new();
    let mut weights: Vec<f64> = Vec::new();
    for &i in &order {
        if xs.last() == Some(&p[i]) {
            *sums.last_mut().expect("a value") += y[i];
            *weights.last_mut().expect("a value") += 1.0;
        } else {
            xs.push(p[i]);
            sums.push(y[i]);
            weights.push(1.0);
        }
    }
    // blocks of pooled neighbours: (sum, weight, number of distinct x)
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(xs.len());
    for (s, w) in sums.iter().zip(&weights) {
        blocks.push((*s, *w, 1));
        while blocks.len() > 1 {
            let (s2, w2, n2) = blocks[blocks.len() - 1];
            let (s1, w1, n1) = blocks[blocks.len() - 2];
            if s1 / w1 <= s2 / w2 {
                break;
            }
            blocks.pop();
            *blocks.last_mut().expect("two blocks") = (s1 + s2, w1 + w2, n1 + n2);
        }
    }
    let mut fitted = Vec::with_capacity(xs.len());
    for (s, w, n) in blocks {
        fitted.extend(std::iter::repeat_n(s / w, n));
    }
    Calibrator::Isotonic { x: xs, y: fitted }
}

/// Linear interpolation of the points (`x` increasing), constant outside them (`np.interp`).
fn interpolate(x: &[f64], y: &[f64], v: f64) -> f64 {
    let last = x.len() - 1;
    if v <= x[0] {
        return y[0];
    }
    if v >= x[last] {
        return y[last];
    }
    // first point above v
    let hi = x.partition_point(|&t| t <= v);
    let lo = hi - 1;
    let t = (v - x[lo]) / (x[hi] - x[lo]);
    y[lo] + t * (y[hi] - y[lo])
}

/// Platt's `(a, b)` for scores `s` and outcomes `y`: Newton's method with backtracking on the
/// cross-entropy against smoothed targets (Lin, Lin & Weng 2007, Algorithm 1).
fn platt(s: &[f64], y: &[f64]) -> (f64, f64) {
    let n_pos = y.iter().filter(|&&v| v == 1.0).count() as f64;
    let n_neg = y.len() as f64 - n_pos;
    let hi = (n_pos + 1.0) / (n_pos + 2.0);
    let lo = 1.0 / (n_neg + 2.0);
    let t: Vec<f64> = y.iter().map(|&v| if v == 1.0 { hi } else { lo }).collect();
    // the loss in the numerically stable form of the paper
    let loss = |a: f64, b: f64| -> f64 {
        s.iter()
            .zip(&t)
            .map(|(&si, &ti)| {
                let f = a * si + b;
                if f >= 0.0 {
                    ti * f + (1.0 + (-f).exp()).ln()
                } else {
                    (ti - 1.0) * f + (1.0 + f.exp()).ln()
                }
            })
            .sum()
    };
    let (mut a, mut b) = (0.0, ((n_neg + 1.0) / (n_pos + 1.0)).ln());
    let mut f = loss(a, b);
    for _ in 0..100 {
        // gradient and Hessian (with the paper's 1e-12 ridge)
        let (mut h11, mut h22, mut h21, mut g1, mut g2) = (1e-12, 1e-12, 0.0, 0.0, 0.0);
        for (&si, &ti) in s.iter().zip(&t) {
            let fv = a * si + b;
            let (p, q) = if fv >= 0.0 {
                let e = (-fv).exp();
                (e / (1.0 + e), 1.0 / (1.0 + e))
            } else {
                let e = fv.exp();
                (1.0 / (1.0 + e), e / (1.0 + e))
            };
            let d2 = p * q;
            h11 += si * si * d2;
            h22 += d2;
            h21 += si * d2;
            let d1 = ti - p;
            g1 += si * d1;
            g2 += d1;
        }
        if g1.abs() < 1e-10 && g2.abs() < 1e-10 {
            break;
        }
        let det = h11 * h22 - h21 * h21;
        let da = -(h22 * g1 - h21 * g2) / det;
        let db = -(-h21 * g1 + h11 * g2) / det;
        let gd = g1 * da + g2 * db;
        let mut step = 1.0;
        let mut moved = false;
        while step >= 1e-10 {
            let (na, nb) = (a + step * da, b + step * db);
            let nf = loss(na, nb);
            if nf < f + 1e-4 * step * gd {
                (a, b, f) = (na, nb, nf);
                moved = true;
                break;
            }
            step /= 2.0;
        }
        if !moved {
            break;
        }
    }
    (a, b)
}

/// Mean squared difference of probabilities and 0/1 outcomes.
pub fn brier_score(y: &[f64], p: &[f64]) -> f64 {
    let s: f64 = y.iter().zip(p).map(|(a, b)| (a - b) * (a - b)).sum();
    s / y.len().max(1) as f64
}

/// Expected calibration error over ten equal-width bins of the probability: the row-weighted
/// mean of |mean predicted - observed rate| (Naeini et al. 2015; Guo et al. 2017, eq. 3).
pub fn expected_calibration_error(bins: &[super::metrics::CalibrationBin]) -> f64 {
    let n: usize = bins.iter().map(|b| b.count).sum();
    if n == 0 {
        return 0.0;
    }
    bins.iter()
        .map(|b| b.count as f64 * (b.mean_predicted - b.observed_rate).abs())
        .sum::<f64>()
        / n as f64
}

/// How calibration changed the test split's probabilities (`metrics.json` `calibration`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CalibrationSummary {
    /// `isotonic` or `sigmoid`.
    pub method: CalibrationMethod,
    /// Folds of the training rows whose out-of-fold predictions it was fitted on.
    pub folds: usize,
    /// Training rows it was fitted on.
    pub rows: usize,
    /// The model's test-split probabilities before calibration.
    pub before: CalibrationScores,
    /// After.
    pub after: CalibrationScores,
}

/// Calibration measures of probabilities on the test split.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CalibrationScores {
    /// Brier score.
    pub brier: f64,
    /// Expected calibration error (10 bins).
    pub ece: f64,
    /// Mean log-loss.
    pub log_loss: f64,
    /// ROC-AUC.
    pub roc_auc: Option<f64>,
    /// The reliability bins.
    pub bins: Vec<super::metrics::CalibrationBin>,
}

impl CalibrationScores {
    /// The scores of a test split's classification metrics.
    pub fn of(c: &super::metrics::Classification) -> CalibrationScores {
        CalibrationScores {
            brier: c.brier.unwrap_or(f64::NAN),
            ece: c.ece.unwrap_or(f64::NAN),
            log_loss: c.log_loss,
            roc_auc: c.roc_auc,
            bins: c.calibration.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pool-adjacent-violators by hand: 0.1 -> 1 and 0.2 -> 0 violate the order and pool to 0.5;
    /// the two rows at 0.3 average to 0.5 and join that pool; 0.4 -> 1 stands alone.
    #[test]
    fn isotonic_pools_violators_and_interpolates() {
        let p = [0.3, 0.1, 0.2, 0.4, 0.3];
        let y = [1.0, 1.0, 0.0, 1.0, 0.0];
        let c = Calibrator::fit(CalibrationMethod::Isotonic, &p, &y).unwrap();
        let Calibrator::Isotonic { x, y: fitted } = &c else {
            panic!("isotonic")
        };
        assert_eq!(x, &vec![0.1, 0.2, 0.3, 0.4]);
        assert_eq!(fitted, &vec![0.5, 0.5, 0.5, 1.0]);
        assert_eq!(c.apply(0.0), 0.5);
        assert!((c.apply(0.35) - 0.75).abs() < 1e-12);
        assert_eq!(c.apply(0.9), 1.0);
    }

    /// scikit-learn 1.9.1 `IsotonicRegression(out_of_bounds="clip").fit(p, y).predict(q)`
    /// on the values below (computed in the peer venv).
    #[test]
    fn isotonic_matches_scikit_learn() {
        let p = [
            0.05, 0.12, 0.12, 0.2, 0.33, 0.35, 0.41, 0.5, 0.52, 0.6, 0.61, 0.7, 0.8, 0.81, 0.9,
        ];
        let y = [
            0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0,
        ];
        let q = [0.0, 0.1, 0.3, 0.45, 0.55, 0.75, 0.85, 1.0];
        let want = SKLEARN_ISOTONIC;
        let c = Calibrator::fit(CalibrationMethod::Isotonic, &p, &y).unwrap();
        for (v, w) in q.iter().zip(want) {
            assert!(
                (c.apply(*v) - w).abs() < 1e-12,
                "{v}: {} vs {w}",
                c.apply(*v)
            );
        }
    }

    const SKLEARN_ISOTONIC: [f64; 8] = [
        0.0,
        0.238_095_238_095_238_1,
        1.0 / 3.0,
        0.481_481_481_481_481_5,
        2.0 / 3.0,
        2.0 / 3.0,
        1.0,
        1.0,
    ];

    /// scikit-learn 1.9.1 `calibration._sigmoid_calibration(logit(p), y)` on the data of
    /// [`isotonic_matches_scikit_learn`] gives a = -0.475915, b = -0.237162 (its L-BFGS stops at
    /// a looser tolerance than Newton's method, hence 1e-4).
    #[test]
    fn platt_matches_scikit_learn() {
        let p: [f64; 15] = [
            0.05, 0.12, 0.12, 0.2, 0.33, 0.35, 0.41, 0.5, 0.52, 0.6, 0.61, 0.7, 0.8, 0.81, 0.9,
        ];
        let y = [
            0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0,
        ];
        let s: Vec<f64> = p.iter().map(|&v| logit(v)).collect();
        let (a, b) = platt(&s, &y);
        assert!((a + 0.475_914_6).abs() < 1e-4, "a = {a}");
        assert!((b + 0.237_162_3).abs() < 1e-4, "b = {b}");
    }

    /// Platt scaling recovers the slope and intercept of data drawn from a logistic model of
    /// the log-odds, and the fit is the minimum of the smoothed-target loss (zero gradient).
    #[test]
    fn platt_recovers_a_logistic_map() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let n = 20_000;
        let s: Vec<f64> = (0..n).map(|_| rng.random_range(-4.0..4.0)).collect();
        // true map: P(y = 1) = 1 / (1 + exp(-0.5 s + 0.8))
        let y: Vec<f64> = s
            .iter()
            .map(|&v| {
                (rng.random_range(0.0..1.0) < 1.0 / (1.0 + (-0.5 * v + 0.8f64).exp())) as u8 as f64
            })
            .collect();
        let (a, b) = platt(&s, &y);
        assert!((a + 0.5).abs() < 0.03, "a = {a}");
        assert!((b - 0.8).abs() < 0.05, "b = {b}");
    }

    #[test]
    fn brier_and_ece_by_hand() {
        assert!((brier_score(&[1.0, 0.0], &[0.8, 0.4]) - (0.04 + 0.16) / 2.0).abs() < 1e-15);
        let c = super::super::metrics::classification(
            &[1.0, 0.0, 1.0, 1.0],
            &[0.15, 0.12, 0.9, 0.95],
            0.5,
        );
        // bin [0.1, 0.2): predicted 0.135, observed 0.5; bin [0.9, 1.0]: 0.925 vs 1
        let want = (2.0 * (0.5 - 0.135) + 2.0 * (1.0 - 0.925)) / 4.0;
        assert!((expected_calibration_error(&c.calibration) - want).abs() < 1e-12);
    }

    #[test]
    fn one_outcome_only_is_an_error() {
        let e = Calibrator::fit(CalibrationMethod::Sigmoid, &[0.2, 0.4], &[0.0, 0.0]).unwrap_err();
        assert!(e.to_string().contains("only 0s"), "{e}");
    }
}
