//! Predictive models: churn, session conversion and future value.
//!
//! * [`features`] builds time-correct feature tables (everything from before the cutoff, the
//!   label from after it) for the `churn` and `value` tasks, and [`conversion`] one row per
//!   session for the `conversion` task; [`clickstream`] adds customer-level clickstream features
//!   (sessions, views, carts, checkouts, last 30 / 90 days) to the customer tasks.
//! * [`gbdt`] is a histogram gradient-boosting machine (LightGBM's design, deterministic at any
//!   thread count); [`linear`] the logistic / linear baselines; [`metrics`] the evaluation.
//! * [`analysis`] is the analysis in one call: [`PredictParams`] -> [`PredictData`] ->
//!   [`fit`] -> [`PredictResult`] and a saved [`PredictModel`] that scores new data;
//!   [`actions`] turns predictions into risk bands, value categories and lists to act on.
//! * [`train_and_evaluate`] runs the whole protocol on a table with a train/test split and CV
//!   folds: fit on train, score the test split, k-fold CV, baselines, importance.
//!
//! Splits: [`stratified_split`] and [`stratified_folds`] (classification; plain random ones for
//! regression) are seeded; `--train-table` reuses someone else's split and folds instead.

pub mod actions;
pub mod analysis;
pub mod calibrate;
pub mod clickstream;
pub mod conversion;
pub mod drivers;
pub mod explain;
pub mod features;
pub mod gbdt;
pub mod lightgbm;
pub mod linear;
pub mod metrics;
pub mod shap;
pub mod train_table;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use crate::table::Table;
pub use analysis::{fit, PredictData, PredictModel, PredictParams, PredictResult, Task};
use gbdt::{Gbdt, GbdtParams, Objective};
use linear::Linear;

/// The train and the test row indices of a split; an error when either part is empty.
pub fn split_rows(split: &[Part]) -> Result<(Vec<usize>, Vec<usize>)> {
    let part = |p: Part| -> Vec<usize> { (0..split.len()).filter(|&i| split[i] == p).collect() };
    let (train, test) = (part(Part::Train), part(Part::Test));
    if train.is_empty() || test.is_empty() {
        return Err(Error::Data(format!(
            "the split needs train and test rows ({} train, {} test)",
            train.len(),
            test.len()
        )));
    }
    Ok((train, test))
}

/// Per-unit accumulators keyed by id (from the parallel folds of a reader) merged into one map;
/// the first unit's value of an id absorbs the later ones with `merge`.
pub(crate) fn merge_units<A, U, I>(
    units: U,
    merge: impl Fn(&mut A, A),
) -> hashbrown::HashMap<Box<str>, A>
where
    U: IntoIterator<Item = I>,
    I: IntoIterator<Item = (Box<str>, A)>,
{
    let mut all: hashbrown::HashMap<Box<str>, A> = hashbrown::HashMap::new();
    for u in units {
        for (k, a) in u {
            match all.get_mut(&k) {
                Some(e) => merge(e, a),
                None => {
                    all.insert(k, a);
                }
            }
        }
    }
    all
}

/// Train or test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// Rows the model is fitted on.
    Train,
    /// Held-out rows it is evaluated on.
    Test,
}

impl Part {
    /// `train` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Test => "test",
        }
    }
}

/// A seeded train/test split; stratified on `y` when `stratify` (each class contributes
/// round(test_size x its count) test rows).
pub fn stratified_split(y: &[f64], test_size: f64, stratify: bool, seed: u64) -> Vec<Part> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut part = vec![Part::Train; y.len()];
    for group in groups(y, stratify) {
        let mut g = group;
        g.shuffle(&mut rng);
        let n_test = (g.len() as f64 * test_size).round() as usize;
        for &i in &g[..n_test.min(g.len())] {
            part[i] = Part::Test;
        }
    }
    part
}

/// Seeded k folds (0..k), stratified on `y` when `stratify`: each class is shuffled and dealt
/// round-robin, so fold sizes differ by at most one per class.
pub fn stratified_folds(y: &[f64], k: usize, stratify: bool, seed: u64) -> Vec<u32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut fold = vec![0u32; y.len()];
    let mut next = 0usize;
    for group in groups(y, stratify) {
        let mut g = group;
        g.shuffle(&mut rng);
        for &i in &g {
            fold[i] = (next % k) as u32;
            next += 1;
        }
    }
    fold
}

fn groups(y: &[f64], stratify: bool) -> Vec<Vec<usize>> {
    if !stratify {
        return vec![(0..y.len()).collect()];
    }
    let mut classes: Vec<f64> = y.to_vec();
    classes.sort_unstable_by(f64::total_cmp);
    classes.dedup();
    classes
        .iter()
        .map(|c| (0..y.len()).filter(|&i| y[i] == *c).collect())
        .collect()
}

/// Settings of [`train_and_evaluate`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalParams {
    /// The gradient-boosting settings.
    pub gbdt: GbdtParams,
    /// Penalty of the linear / logistic baseline.
    pub baseline_alpha: f64,
    /// Probability threshold of accuracy, precision, recall and F1.
    pub threshold: f64,
    /// Share of the training rows held out for early stopping (when it is on).
    pub validation_fraction: f64,
    /// Shuffles per feature of the permutation importance (0 = skip it), on at most
    /// `permutation_rows` test rows (a seeded sample).
    pub permutation_repeats: usize,
    /// Test rows for permutation importance (a seeded sample above).
    pub permutation_rows: usize,
    /// Seed of the split, folds, sampling and permutations.
    pub seed: u64,
    /// Calibrate the probabilities of a classifier on out-of-fold predictions of the training
    /// rows (`None`: the model's own probabilities).
    pub calibrate: Option<calibrate::CalibrationMethod>,
    /// Folds of the training rows for the calibration's out-of-fold predictions.
    pub calibration_folds: usize,
}

impl Default for EvalParams {
    fn default() -> Self {
        EvalParams {
            gbdt: GbdtParams::default(),
            baseline_alpha: 1.0,
            threshold: 0.5,
            validation_fraction: 0.1,
            permutation_repeats: 3,
            permutation_rows: 5_000,
            seed: 42,
            calibrate: None,
            calibration_folds: 5,
        }
    }
}

/// Metrics of one model on one set of rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Metrics {
    /// Churn and conversion.
    Classification(metrics::Classification),
    /// Value.
    Regression(metrics::Regression),
}

impl Metrics {
    /// The metrics of predictions `p` for outcomes `y` (classification at `threshold`).
    pub fn of(objective: Objective, y: &[f64], p: &[f64], threshold: f64) -> Metrics {
        match objective {
            Objective::Binary => Metrics::Classification(metrics::classification(y, p, threshold)),
            Objective::Regression => Metrics::Regression(metrics::regression(y, p)),
        }
    }
    /// The headline number: ROC-AUC, or RMSE.
    pub fn headline(&self) -> f64 {
        match self {
            Metrics::Classification(c) => c.roc_auc.unwrap_or(f64::NAN),
            Metrics::Regression(r) => r.rmse,
        }
    }
}

/// Importance of one feature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Importance {
    /// The feature.
    pub feature: String,
    /// Total split gain, and its share of the total.
    pub gain: f64,
    /// Its share of the total split gain.
    pub gain_share: f64,
    /// Splits on it.
    pub splits: usize,
    /// Mean drop of the test ROC-AUC (or rise of the test RMSE) when the feature is shuffled.
    pub permutation: Option<f64>,
}

/// Everything [`train_and_evaluate`] measured, and the model trained on the train split.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    /// Classification or regression.
    pub objective: Objective,
    /// Training rows.
    pub train_rows: usize,
    /// Test rows.
    pub test_rows: usize,
    /// The model on the test rows.
    pub test: Metrics,
    /// The linear baseline on the test rows.
    pub baseline_test: Metrics,
    /// Headline metric (ROC-AUC or RMSE) of each CV fold, their mean and (population) std.
    pub cv_folds: Vec<f64>,
    /// Mean of the cross-validation metric (AUC or RMSE).
    pub cv_mean: f64,
    /// Standard deviation of the cross-validation metric.
    pub cv_std: f64,
    /// Gain and permutation importance per feature.
    pub importance: Vec<Importance>,
    /// The fitted model.
    pub model: Gbdt,
    /// The fitted baseline.
    pub baseline: Linear,
    /// Predictions of the model for every row of the table (calibrated when `calibration`
    /// is set).
    pub predictions: Vec<f64>,
    /// The calibration map and what it changed on the test split.
    #[serde(default)]
    pub calibration: Option<(calibrate::Calibrator, calibrate::CalibrationSummary)>,
    /// Seconds of training.
    pub train_seconds: f64,
}

/// Fits the model on the rows of `split` = train, evaluates on test, runs k-fold CV over all rows
/// (`folds`, values 0..k), fits the linear baseline and measures importance.
pub fn train_and_evaluate(
    x: &Table,
    y: &[f64],
    split: &[Part],
    folds: &[u32],
    params: &EvalParams,
    progress: &dyn crate::progress::Progress,
) -> Result<Evaluation> {
    let obj = params.gbdt.objective;
    let (train, test) = split_rows(split)?;
    let k = folds.iter().copied().max().map_or(0, |m| m as usize + 1);
    progress.begin("training", (k + 1) as u64);
    let t0 = std::time::Instant::now();
    let model = fit_with_validation(x, y, &train, params)?;
    let train_seconds = t0.elapsed().as_secs_f64();
    progress.advance(1);
    let xt = x.select(&test);
    let yt: Vec<f64> = test.iter().map(|&i| y[i]).collect();
    let mut pt = model.predict(&xt);
    let calibrator = match params.calibrate {
        Some(method) if obj == Objective::Binary => {
            Some(fit_calibrator(x, y, &train, method, params, progress)?)
        }
        Some(_) => {
            return Err(Error::param(
                "calibrate",
                "calibrates probabilities: use it with churn or conversion",
            ))
        }
        None => None,
    };
    let uncalibrated = calibrator
        .as_ref()
        .map(|_| Metrics::of(obj, &yt, &pt, params.threshold));
    if let Some(c) = &calibrator {
        pt = c.apply_all(&pt);
    }
    let test_metrics = Metrics::of(obj, &yt, &pt, params.threshold);
    let calibration = calibrator.zip(uncalibrated).map(|(c, before)| {
        let scores = |m: &Metrics| match m {
            Metrics::Classification(c) => calibrate::CalibrationScores::of(c),
            Metrics::Regression(_) => unreachable!("calibration is for classifiers"),
        };
        let summary = calibrate::CalibrationSummary {
            method: params.calibrate.expect("calibrating"),
            folds: params.calibration_folds,
            rows: train.len(),
            before: scores(&before),
            after: scores(&test_metrics),
        };
        (c, summary)
    });
    let mut cv_folds = Vec::with_capacity(k);
    for f in 0..k as u32 {
        let tr: Vec<usize> = (0..y.len()).filter(|&i| folds[i] != f).collect();
        let te: Vec<usize> = (0..y.len()).filter(|&i| folds[i] == f).collect();
        if te.is_empty() || tr.is_empty() {
            continue;
        }
        let m = fit_with_validation(x, y, &tr, params)?;
        let yf: Vec<f64> = te.iter().map(|&i| y[i]).collect();
        let pf = m.predict(&x.select(&te));
        cv_folds.push(Metrics::of(obj, &yf, &pf, params.threshold).headline());
        progress.advance(1);
    }
    progress.finish();
    let (cv_mean, cv_std) = mean_std(&cv_folds);
    progress.begin("baseline", 0);
    let xtr = x.select(&train);
    let ytr: Vec<f64> = train.iter().map(|&i| y[i]).collect();
    let baseline = Linear::fit(obj, &xtr, &ytr, params.baseline_alpha)?;
    let baseline_test = Metrics::of(obj, &yt, &baseline.predict(&xt), params.threshold);
    progress.finish();
    progress.begin("importance", 0);
    let permutation = (params.permutation_repeats > 0).then(|| {
        // on a seeded sample of at most `permutation_rows` test rows: the cost is features x
        // repeats predictions of it
        if test.len() <= params.permutation_rows {
            permutation_importance(&model, &xt, &yt, test_metrics.headline(), params)
        } else {
            use rand::seq::index::sample;
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed.wrapping_add(99));
            let mut idx = sample(&mut rng, test.len(), params.permutation_rows).into_vec();
            idx.sort_unstable();
            let xs = xt.select(&idx);
            let ys: Vec<f64> = idx.iter().map(|&i| yt[i]).collect();
            let base = Metrics::of(obj, &ys, &model.predict(&xs), params.threshold).headline();
            permutation_importance(&model, &xs, &ys, base, params)
        }
    });
    let gain = model.gain_importance();
    let splits = model.split_importance();
    let total: f64 = gain.iter().sum();
    let mut importance: Vec<Importance> = (0..x.cols)
        .map(|j| Importance {
            feature: x.names[j].clone(),
            gain: gain[j],
            gain_share: if total > 0.0 { gain[j] / total } else { 0.0 },
            splits: splits[j],
            permutation: permutation.as_ref().map(|p| p[j]),
        })
        .collect();
    importance.sort_by(|a, b| b.gain.total_cmp(&a.gain));
    progress.finish();
    progress.begin("predicting", 0);
    let mut predictions = model.predict(x);
    if let Some((c, _)) = &calibration {
        predictions = c.apply_all(&predictions);
    }
    progress.finish();
    Ok(Evaluation {
        objective: obj,
        train_rows: train.len(),
        test_rows: test.len(),
        test: test_metrics,
        baseline_test,
        cv_folds,
        cv_mean,
        cv_std,
        importance,
        model,
        baseline,
        predictions,
        calibration,
        train_seconds,
    })
}

/// The calibration map of `method`, fitted on out-of-fold predictions of the training rows
/// `train` (seeded stratified folds; the test rows are never seen).
fn fit_calibrator(
    x: &Table,
    y: &[f64],
    train: &[usize],
    method: calibrate::CalibrationMethod,
    params: &EvalParams,
    progress: &dyn crate::progress::Progress,
) -> Result<calibrate::Calibrator> {
    let k = params.calibration_folds;
    if k < 2 {
        return Err(Error::param("calibration_folds", "must be at least 2"));
    }
    let ytr: Vec<f64> = train.iter().map(|&i| y[i]).collect();
    let folds = stratified_folds(&ytr, k, true, params.seed.wrapping_add(2));
    let mut oof = vec![f64::NAN; train.len()];
    progress.begin("calibrating", k as u64);
    for f in 0..k as u32 {
        let fit_on: Vec<usize> = (0..train.len())
            .filter(|&j| folds[j] != f)
            .map(|j| train[j])
            .collect();
        let held: Vec<usize> = (0..train.len()).filter(|&j| folds[j] == f).collect();
        if held.is_empty() {
            continue;
        }
        let m = fit_with_validation(x, y, &fit_on, params)?;
        let rows: Vec<usize> = held.iter().map(|&j| train[j]).collect();
        for (&j, p) in held.iter().zip(m.predict(&x.select(&rows))) {
            oof[j] = p;
        }
        progress.advance(1);
    }
    progress.finish();
    calibrate::Calibrator::fit(method, &oof, &ytr)
}

/// Fits on the rows `idx`; with early stopping, a seeded share of them is the validation set.
fn fit_with_validation(x: &Table, y: &[f64], idx: &[usize], params: &EvalParams) -> Result<Gbdt> {
    let yi: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
    if params.gbdt.early_stopping_rounds == 0 {
        return Gbdt::fit(&params.gbdt, &x.select(idx), &yi, None, None);
    }
    let parts = stratified_split(
        &yi,
        params.validation_fraction,
        params.gbdt.objective == Objective::Binary,
        params.seed.wrapping_add(1),
    );
    let (mut tr, mut va) = (Vec::new(), Vec::new());
    for (k, &i) in idx.iter().enumerate() {
        if parts[k] == Part::Train {
            tr.push(i)
        } else {
            va.push(i)
        }
    }
    let ytr: Vec<f64> = tr.iter().map(|&i| y[i]).collect();
    let yva: Vec<f64> = va.iter().map(|&i| y[i]).collect();
    let xva = x.select(&va);
    Gbdt::fit(&params.gbdt, &x.select(&tr), &ytr, None, Some((&xva, &yva)))
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

/// Mean loss of the headline metric when one feature's test values are shuffled (seeded):
/// AUC drop for classification, RMSE rise for regression.
fn permutation_importance(
    model: &Gbdt,
    x: &Table,
    y: &[f64],
    base: f64,
    params: &EvalParams,
) -> Vec<f64> {
    let obj = model.params.objective;
    (0..x.cols)
        .map(|j| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed.wrapping_add(j as u64));
            let mut col = x.column(j);
            let mut total = 0.0;
            for _ in 0..params.permutation_repeats {
                col.shuffle(&mut rng);
                let mut xs = x.clone();
                for (i, &v) in col.iter().enumerate() {
                    xs.data[i * xs.cols + j] = v;
                }
                let m = Metrics::of(obj, y, &model.predict(&xs), params.threshold).headline();
                total += match obj {
                    Objective::Binary => base - m,
                    Objective::Regression => m - base,
                };
            }
            total / params.permutation_repeats as f64
        })
        .collect()
}

/// Metrics of `pred` against `y` per segment (`labels[i]` indexes `names`; `None` = no segment).
pub fn metrics_by_segment(
    objective: Objective,
    y: &[f64],
    pred: &[f64],
    labels: &[Option<u32>],
    names: &[String],
    threshold: f64,
) -> Vec<(String, Metrics)> {
    names
        .iter()
        .enumerate()
        .filter_map(|(s, name)| {
            let idx: Vec<usize> = (0..y.len())
                .filter(|&i| labels[i] == Some(s as u32))
                .collect();
            if idx.is_empty() {
                return None;
            }
            let ys: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
            let ps: Vec<f64> = idx.iter().map(|&i| pred[i]).collect();
            Some((name.clone(), Metrics::of(objective, &ys, &ps, threshold)))
        })
        .collect()
}

/// The band of each probability: `Low` below `thresholds.0`, `High` from `thresholds.1`,
/// else `Medium`.
pub fn risk_band(p: f64, thresholds: (f64, f64)) -> &'static str {
    if p >= thresholds.1 {
        "High"
    } else if p >= thresholds.0 {
        "Medium"
    } else {
        "Low"
    }
}

/// Value categories Low / Medium / High / VIP at the given quantiles of `values` (type-7
/// quantiles; a value equal to a cut goes to the higher category).
pub fn value_categories(values: &[f64], quantiles: [f64; 3]) -> Vec<&'static str> {
    let mut s: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    s.sort_unstable_by(f64::total_cmp);
    if s.is_empty() {
        return vec!["Low"; values.len()];
    }
    let cuts: Vec<f64> = quantiles
        .iter()
        .map(|&q| crate::stats::quantile_sorted(&s, q))
        .collect();
    values
        .iter()
        .map(|&v| {
            if v >= cuts[2] {
                "VIP"
            } else if v >= cuts[1] {
                "High"
            } else if v >= cuts[0] {
                "Medium"
            } else {
                "Low"
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_stratified_seeded_and_complete() {
        let y: Vec<f64> = (0..1000)
            .map(|i| if i % 5 == 0 { 1.0 } else { 0.0 })
            .collect();
        let s = stratified_split(&y, 0.3, true, 7);
        let test_pos = (0..1000)
            .filter(|&i| s[i] == Part::Test && y[i] == 1.0)
            .count();
        let test = s.iter().filter(|&&p| p == Part::Test).count();
        assert_eq!((test, test_pos), (300, 60));
        assert_eq!(s, stratified_split(&y, 0.3, true, 7));
        assert_ne!(s, stratified_split(&y, 0.3, true, 8));
        let f = stratified_folds(&y, 5, true, 7);
        for k in 0..5 {
            let n = f.iter().filter(|&&v| v == k).count();
            let pos = (0..1000).filter(|&i| f[i] == k && y[i] == 1.0).count();
            assert_eq!((n, pos), (200, 40));
        }
    }

    #[test]
    fn value_categories_follow_the_quantiles() {
        let v: Vec<f64> = (1..=100).map(|i| i as f64).collect();
        let c = value_categories(&v, [0.5, 0.8, 0.95]);
        assert_eq!(c.iter().filter(|&&s| s == "VIP").count(), 5);
        assert_eq!(c.iter().filter(|&&s| s == "High").count(), 15);
        assert_eq!(c.iter().filter(|&&s| s == "Low").count(), 50);
        assert_eq!(risk_band(0.7, (0.3, 0.7)), "High");
        assert_eq!(risk_band(0.29, (0.3, 0.7)), "Low");
    }
}
