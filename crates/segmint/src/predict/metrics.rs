//! Evaluation metrics, defined as in scikit-learn (cited per function).

use serde::{Deserialize, Serialize};

/// ROC-AUC with ties handled as scikit-learn's `roc_auc_score` (trapezoids over distinct scores,
/// equal to the Mann-Whitney statistic with average ranks). `None` when one class is absent.
pub fn roc_auc(y: &[f64], score: &[f64]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..y.len()).collect();
    idx.sort_unstable_by(|&a, &b| score[a].total_cmp(&score[b]));
    let n1 = y.iter().filter(|&&v| v == 1.0).count() as f64;
    let n0 = y.len() as f64 - n1;
    if n1 == 0.0 || n0 == 0.0 {
        return None;
    }
    // sum of average ranks of the positives
    let (mut rank_sum, mut before) = (0.0, 0usize);
    for_each_tie(&idx, score, |group| {
        let avg = before as f64 + (group.len() + 1) as f64 / 2.0;
        let pos = group.iter().filter(|&&k| y[k] == 1.0).count() as f64;
        rank_sum += avg * pos;
        before += group.len();
    });
    Some((rank_sum - n1 * (n1 + 1.0) / 2.0) / (n1 * n0))
}

/// Calls `f` with every run of equal scores of `idx` (row indices sorted by score), in order.
fn for_each_tie(idx: &[usize], score: &[f64], mut f: impl FnMut(&[usize])) {
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && score[idx[j + 1]] == score[idx[i]] {
            j += 1;
        }
        f(&idx[i..=j]);
        i = j + 1;
    }
}

/// True and false positives of `group` (outcome 1 = positive).
fn count_outcomes(y: &[f64], group: &[usize]) -> (f64, f64) {
    let tp = group.iter().filter(|&&k| y[k] == 1.0).count() as f64;
    (tp, group.len() as f64 - tp)
}

/// Average precision, scikit-learn's `average_precision_score`: sum over thresholds of
/// (R_n - R_{n-1}) P_n, thresholds at the distinct scores (descending).
pub fn average_precision(y: &[f64], score: &[f64]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..y.len()).collect();
    idx.sort_unstable_by(|&a, &b| score[b].total_cmp(&score[a]));
    let n1 = y.iter().filter(|&&v| v == 1.0).count() as f64;
    if n1 == 0.0 {
        return None;
    }
    let (mut tp, mut fp, mut ap, mut prev_recall) = (0.0, 0.0, 0.0, 0.0);
    for_each_tie(&idx, score, |group| {
        let (t, f) = count_outcomes(y, group);
        tp += t;
        fp += f;
        let recall = tp / n1;
        ap += (recall - prev_recall) * tp / (tp + fp);
        prev_recall = recall;
    });
    Some(ap)
}

/// Points of the ROC and precision-recall curves, for figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Curves {
    /// (false positive rate, true positive rate) from (0, 0) to (1, 1).
    pub roc: Vec<(f64, f64)>,
    /// (recall, precision) at the same thresholds, highest threshold first.
    pub pr: Vec<(f64, f64)>,
}

/// The ROC and precision-recall curves at the distinct scores (scikit-learn's `roc_curve` and
/// `precision_recall_curve` points, from the highest threshold down), thinned to at most
/// `max_points` evenly spaced thresholds plus the ends. Empty with one class only.
pub fn curves(y: &[f64], score: &[f64], max_points: usize) -> Curves {
    let mut idx: Vec<usize> = (0..y.len()).collect();
    idx.sort_unstable_by(|&a, &b| score[b].total_cmp(&score[a]));
    let n1 = y.iter().filter(|&&v| v == 1.0).count() as f64;
    let n0 = y.len() as f64 - n1;
    if n1 == 0.0 || n0 == 0.0 {
        return Curves::default();
    }
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut all = Vec::new();
    for_each_tie(&idx, score, |group| {
        let (t, f) = count_outcomes(y, group);
        tp += t;
        fp += f;
        all.push((tp, fp));
    });
    let step = all.len().div_ceil(max_points.max(1)).max(1);
    let kept: Vec<(f64, f64)> = all
        .iter()
        .enumerate()
        .filter(|&(i, _)| i % step == 0 || i + 1 == all.len())
        .map(|(_, &p)| p)
        .collect();
    let mut roc = vec![(0.0, 0.0)];
    roc.extend(kept.iter().map(|&(tp, fp)| (fp / n0, tp / n1)));
    Curves {
        roc,
        pr: kept
            .iter()
            .map(|&(tp, fp)| (tp / n1, tp / (tp + fp)))
            .collect(),
    }
}

/// Mean log loss with probabilities clipped to [1e-15, 1 - 1e-15].
pub fn log_loss(y: &[f64], p: &[f64]) -> f64 {
    let s: f64 = y
        .iter()
        .zip(p)
        .map(|(&t, &q)| {
            let q = q.clamp(1e-15, 1.0 - 1e-15);
            -(t * q.ln() + (1.0 - t) * (1.0 - q).ln())
        })
        .sum();
    s / y.len().max(1) as f64
}

/// One row of a calibration table: predictions in `[lower, upper)`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CalibrationBin {
    /// Lowest predicted probability in the bin.
    pub lower: f64,
    /// Highest predicted probability in the bin.
    pub upper: f64,
    /// Rows in the bin.
    pub count: usize,
    /// Mean predicted probability.
    pub mean_predicted: f64,
    /// Observed positive rate.
    pub observed_rate: f64,
}

/// One tenth of the rows ranked by prediction, highest first: the gain / lift table of
/// marketing (scikit-plot's `plot_cumulative_gain` and `plot_lift_curve`, `kds.metrics.decile_table`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Decile {
    /// 1 = the highest predictions.
    pub decile: u32,
    /// Rows in it.
    pub rows: usize,
    /// Lowest prediction in it.
    pub min_predicted: f64,
    /// Highest prediction in it.
    pub max_predicted: f64,
    /// Mean prediction.
    pub mean_predicted: f64,
    /// Sum of the outcomes (positives for churn and conversion, value for value).
    pub total_actual: f64,
    /// Mean outcome (the positive rate, or the mean value).
    pub mean_actual: f64,
    /// Share of all outcomes in this and the higher deciles: the cumulative gain (capture).
    pub cumulative_gain: f64,
    /// Mean outcome over the overall mean.
    pub lift: f64,
    /// Cumulative mean outcome of this and the higher deciles over the overall mean.
    pub cumulative_lift: f64,
    /// Classification: cumulative share of the positives minus that of the negatives (the KS
    /// statistic at this decile's lower edge).
    pub ks: Option<f64>,
}

/// The decile table of predictions `pred` for outcomes `y`: rows sorted by prediction,
/// highest first (ties by row order), row at position r (0-based) in decile
/// floor(10 r / n) + 1. `binary`: the outcomes are 0/1 and each decile gets its KS.
pub fn deciles(y: &[f64], pred: &[f64], binary: bool) -> Vec<Decile> {
    let n = y.len();
    if n == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| pred[b].total_cmp(&pred[a]).then(a.cmp(&b)));
    let total: f64 = y.iter().sum();
    let positives = total;
    let negatives = n as f64 - total;
    let mean = total / n as f64;
    let (mut cum, mut cum_rows, mut cum_neg) = (0.0, 0usize, 0.0);
    let mut out = Vec::new();
    let mut start = 0;
    for d in 0..10 {
        // the first position r with floor(10 r / n) > d
        let end = ((d + 1) * n).div_ceil(10);
        if end == start {
            continue;
        }
        let rows = &order[start..end];
        let k = rows.len() as f64;
        let actual: f64 = rows.iter().map(|&i| y[i]).sum();
        cum += actual;
        cum_rows += rows.len();
        cum_neg += k - actual;
        let ratio = |a: f64, b: f64| if b != 0.0 { a / b } else { f64::NAN };
        out.push(Decile {
            decile: d as u32 + 1,
            rows: rows.len(),
            min_predicted: pred[*rows.last().expect("a row")],
            max_predicted: pred[rows[0]],
            mean_predicted: rows.iter().map(|&i| pred[i]).sum::<f64>() / k,
            total_actual: actual,
            mean_actual: actual / k,
            cumulative_gain: ratio(cum, total),
            lift: ratio(actual / k, mean),
            cumulative_lift: ratio(cum / cum_rows as f64, mean),
            ks: binary.then(|| ratio(cum, positives) - ratio(cum_neg, negatives)),
        });
        start = end;
    }
    out
}

/// The Kolmogorov-Smirnov statistic of a binary classifier: the largest difference between the
/// true and the false positive rate over all thresholds (max of `tpr - fpr` of scikit-learn's
/// `roc_curve`), with the threshold where it is reached. `None` with one class only.
pub fn ks_statistic(y: &[f64], score: &[f64]) -> Option<(f64, f64)> {
    let n1 = y.iter().filter(|&&v| v == 1.0).count() as f64;
    let n0 = y.len() as f64 - n1;
    if n1 == 0.0 || n0 == 0.0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..y.len()).collect();
    idx.sort_unstable_by(|&a, &b| score[b].total_cmp(&score[a]));
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut best = (0.0, f64::INFINITY);
    for_each_tie(&idx, score, |group| {
        let (t, f) = count_outcomes(y, group);
        tp += t;
        fp += f;
        let d = tp / n1 - fp / n0;
        if d > best.0 {
            best = (d, score[group[0]]);
        }
    });
    Some(best)
}

/// Classification metrics at a probability threshold.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Classification {
    /// Rows.
    pub n: usize,
    /// Positive rows.
    pub positives: usize,
    /// Threshold of the predicted class.
    pub threshold: f64,
    /// Share of rows predicted right.
    pub accuracy: f64,
    /// Of the rows predicted positive, the share positive.
    pub precision: f64,
    /// Of the positive rows, the share predicted positive.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Area under the ROC curve (`None` with one class only).
    pub roc_auc: Option<f64>,
    /// Area under the precision-recall curve (`None` with one class only).
    pub pr_auc: Option<f64>,
    /// Mean binary log-loss.
    pub log_loss: f64,
    /// Reliability bins (predicted vs observed).
    pub calibration: Vec<CalibrationBin>,
    /// The Kolmogorov-Smirnov statistic (max TPR - FPR over thresholds).
    #[serde(default)]
    pub ks: Option<f64>,
    /// The probability where the KS statistic is reached.
    #[serde(default)]
    pub ks_threshold: Option<f64>,
    /// Gain, lift and KS by decile of predicted probability.
    #[serde(default)]
    pub deciles: Vec<Decile>,
    /// Brier score: mean squared difference of probability and outcome.
    #[serde(default)]
    pub brier: Option<f64>,
    /// Expected calibration error over the ten reliability bins.
    #[serde(default)]
    pub ece: Option<f64>,
    /// ROC and precision-recall curves (at most 100 thresholds).
    #[serde(default)]
    pub curves: Curves,
}

/// Accuracy, precision, recall, F1 (positive = 1, predicted positive when p >= threshold;
/// precision is 0 when nothing is predicted positive, as scikit-learn's `zero_division=0`),
/// ROC-AUC, PR-AUC (average precision), log loss and a 10-bin calibration table.
pub fn classification(y: &[f64], p: &[f64], threshold: f64) -> Classification {
    let (mut tp, mut fp, mut fneg, mut tn) = (0usize, 0usize, 0usize, 0usize);
    for (&t, &q) in y.iter().zip(p) {
        match (t == 1.0, q >= threshold) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fneg += 1,
            (false, false) => tn += 1,
        }
    }
    let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = div(tp, tp + fp);
    let recall = div(tp, tp + fneg);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    let ks = ks_statistic(y, p);
    let mut calibration = Vec::new();
    for b in 0..10 {
        let (lo, hi) = (b as f64 / 10.0, (b + 1) as f64 / 10.0);
        let inside: Vec<usize> = (0..y.len())
            .filter(|&i| p[i] >= lo && (p[i] < hi || (b == 9 && p[i] <= 1.0)))
            .collect();
        if inside.is_empty() {
            continue;
        }
        let c = inside.len() as f64;
        calibration.push(CalibrationBin {
            lower: lo,
            upper: hi,
            count: inside.len(),
            mean_predicted: inside.iter().map(|&i| p[i]).sum::<f64>() / c,
            observed_rate: inside.iter().map(|&i| y[i]).sum::<f64>() / c,
        });
    }
    Classification {
        n: y.len(),
        positives: tp + fneg,
        threshold,
        accuracy: div(tp + tn, y.len()),
        precision,
        recall,
        f1,
        roc_auc: roc_auc(y, p),
        pr_auc: average_precision(y, p),
        log_loss: log_loss(y, p),
        brier: Some(super::calibrate::brier_score(y, p)),
        ece: Some(super::calibrate::expected_calibration_error(&calibration)),
        calibration,
        ks: ks.map(|k| k.0),
        ks_threshold: ks.map(|k| k.1),
        deciles: deciles(y, p, true),
        curves: curves(y, p, 100),
    }
}

/// Regression metrics.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Regression {
    /// Rows.
    pub n: usize,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// 1 - SS_res / SS_tot (scikit-learn's `r2_score`; 0 when the target is constant and the
    /// predictions exact would be 1, here `None` when SS_tot = 0).
    pub r2: Option<f64>,
    /// Mean |error| / |actual| over rows with a non-zero actual value.
    pub mape: Option<f64>,
    /// Sum |error| / sum |actual| (weighted absolute percentage error).
    pub wape: Option<f64>,
    /// Sum of the outcomes.
    pub total_actual: f64,
    /// Sum of the predictions.
    pub total_predicted: f64,
    /// Predicted and actual value by decile of the prediction.
    #[serde(default)]
    pub deciles: Vec<Decile>,
}

/// The metrics of predictions `pred` for outcomes `y`.
pub fn regression(y: &[f64], pred: &[f64]) -> Regression {
    let n = y.len().max(1) as f64;
    let mean = y.iter().sum::<f64>() / n;
    let (mut se, mut ae, mut tot, mut ape, mut nz, mut abs_y) = (0.0, 0.0, 0.0, 0.0, 0usize, 0.0);
    for (&t, &q) in y.iter().zip(pred) {
        let e = q - t;
        se += e * e;
        ae += e.abs();
        tot += (t - mean) * (t - mean);
        abs_y += t.abs();
        if t != 0.0 {
            ape += e.abs() / t.abs();
            nz += 1;
        }
    }
    Regression {
        n: y.len(),
        rmse: (se / n).sqrt(),
        mae: ae / n,
        r2: (tot > 0.0).then(|| 1.0 - se / tot),
        mape: (nz > 0).then(|| ape / nz as f64),
        wape: (abs_y > 0.0).then(|| ae / abs_y),
        total_actual: y.iter().sum(),
        total_predicted: pred.iter().sum(),
        deciles: deciles(y, pred, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values: scikit-learn 1.5 (roc_auc_score, average_precision_score, log_loss,
    // r2_score) on the same vectors.
    #[test]
    fn auc_and_average_precision_match_scikit_learn() {
        let y = [0.0, 0.0, 1.0, 1.0];
        let s = [0.1, 0.4, 0.35, 0.8];
        assert!((roc_auc(&y, &s).unwrap() - 0.75).abs() < 1e-12);
        // average_precision_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.8333333333333333
        assert!((average_precision(&y, &s).unwrap() - 0.8333333333333333).abs() < 1e-12);
        // ties: roc_auc_score([0,1,0,1],[0.5,0.5,0.2,0.9]) = 0.875
        assert!(
            (roc_auc(&[0.0, 1.0, 0.0, 1.0], &[0.5, 0.5, 0.2, 0.9]).unwrap() - 0.875).abs() < 1e-12
        );
        assert_eq!(roc_auc(&[1.0, 1.0], &[0.1, 0.2]), None);
    }

    /// scikit-learn 1.9.1 on y = [0, 0, 1, 1, 0, 1], s = [.1, .4, .35, .8, .4, .9]:
    /// `roc_curve(..., drop_intermediate=False)` fpr [0, 0, 0, 1/3, 2/3, 1], tpr [0, 1/3, 2/3,
    /// 2/3, 1, 1]; `precision_recall_curve` (reversed) recall [1/3, 2/3, 2/3, 1, 1],
    /// precision [1, 1, 1/2, 3/5, 1/2].
    #[test]
    fn curves_match_scikit_learn() {
        let y = [0.0, 0.0, 1.0, 1.0, 0.0, 1.0];
        let s = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9];
        let c = curves(&y, &s, 100);
        let t = 1.0 / 3.0;
        let want_roc = [
            (0.0, 0.0),
            (0.0, t),
            (0.0, 2.0 * t),
            (2.0 * t, 2.0 * t),
            (2.0 * t, 1.0),
            (1.0, 1.0),
        ];
        let want_pr = [
            (t, 1.0),
            (2.0 * t, 1.0),
            (2.0 * t, 0.5),
            (1.0, 0.6),
            (1.0, 0.5),
        ];
        assert_eq!(c.roc.len(), want_roc.len());
        for (a, b) in c.roc.iter().zip(want_roc) {
            assert!(
                (a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12,
                "{:?}",
                c.roc
            );
        }
        for (a, b) in c.pr.iter().zip(want_pr) {
            assert!(
                (a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12,
                "{:?}",
                c.pr
            );
        }
        // thinned: at most 2 + 1 points kept of 5 thresholds, the last always
        let thin = curves(&y, &s, 2);
        assert_eq!(thin.pr.last(), c.pr.last());
        assert!(thin.pr.len() <= 3);
    }

    #[test]
    fn log_loss_and_threshold_metrics() {
        // log_loss([0,1,1],[0.2,0.7,0.9]) = (−ln 0.8 − ln 0.7 − ln 0.9) / 3 = 0.2283...
        let y = [0.0, 1.0, 1.0];
        let p = [0.2, 0.7, 0.9];
        let want = -(0.8f64.ln() + 0.7f64.ln() + 0.9f64.ln()) / 3.0;
        assert!((log_loss(&y, &p) - want).abs() < 1e-15);
        let c = classification(&[0.0, 1.0, 1.0, 0.0], &[0.6, 0.7, 0.2, 0.1], 0.5);
        assert_eq!((c.accuracy, c.precision, c.recall), (0.5, 0.5, 0.5));
        assert_eq!(c.f1, 0.5);
        assert_eq!(c.calibration.iter().map(|b| b.count).sum::<usize>(), 4);
    }

    /// 20 rows, 4 positives: deciles of 2 rows each from the highest score; by hand.
    #[test]
    fn deciles_gain_lift_and_ks_by_hand() {
        let p: Vec<f64> = (0..20).map(|i| 1.0 - i as f64 / 20.0).collect();
        let mut y = vec![0.0; 20];
        for i in [0, 1, 2, 7] {
            y[i] = 1.0;
        }
        let d = deciles(&y, &p, true);
        assert_eq!(d.len(), 10);
        assert_eq!(
            (d[0].rows, d[0].total_actual, d[0].max_predicted),
            (2, 2.0, 1.0)
        );
        // overall rate 0.2: decile 1 has rate 1.0, lift 5; deciles 1-2 hold 3 of 4 positives
        assert!((d[0].lift - 5.0).abs() < 1e-12);
        assert_eq!(d[1].cumulative_gain, 0.75);
        assert!((d[1].cumulative_lift - 3.75).abs() < 1e-12);
        // KS at decile 2: 3/4 of the positives, 1/16 of the negatives
        assert!((d[1].ks.unwrap() - (0.75 - 1.0 / 16.0)).abs() < 1e-15);
        assert_eq!(d[9].cumulative_gain, 1.0);
        // max TPR - FPR: 0.75 after row 2 (3 of 4 positives, no negative), reached again
        // after row 7 (all positives, 4 of 16 negatives); the first threshold is reported, as
        // numpy's argmax over scikit-learn's roc_curve
        let (ks, at) = ks_statistic(&y, &p).unwrap();
        assert_eq!((ks, at), (0.75, p[2]));
        // rows not divisible by 10: 13 rows give deciles of 1 or 2 rows, every row once
        let d = deciles(&y[..13], &p[..13], true);
        assert_eq!(d.iter().map(|d| d.rows).sum::<usize>(), 13);
    }

    #[test]
    fn regression_metrics_by_formula() {
        let y = [1.0, 0.0, 3.0];
        let p = [2.0, 0.0, 1.0];
        let r = regression(&y, &p);
        assert!((r.rmse - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(r.mae, 1.0);
        // SS_tot = (1-4/3)^2 + (4/3)^2 + (5/3)^2 = 14/3; r2 = 1 - 5 / (14/3)
        assert!((r.r2.unwrap() - (1.0 - 15.0 / 14.0)).abs() < 1e-15);
        assert!((r.mape.unwrap() - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-15);
        assert!((r.wape.unwrap() - 3.0 / 4.0).abs() < 1e-15);
    }
}
