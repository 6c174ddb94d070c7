//! Hidden segments: detect when one global model hides segments, and fit segment-aware models.
//!
//! A global linear regression of a customer-level target (spend) on the customer's features can
//! look acceptable overall and be wrong for every group inside it, when the groups follow
//! different relationships (in the bench data spend is a mixture of three hidden tiers with x1 /
//! x3 / x10 spend per order). [`discover`] searches for such groups and [`evaluate`] says whether
//! modelling them pays on held-out data:
//!
//! * **Model-based recursive partitioning** ([`MobTree`], after Zeileis, Hothorn & Hornik 2008,
//!   greedy form): a shallow tree over the features whose leaves each get their own linear
//!   regression; a node is split at the feature and threshold that most reduce the summed
//!   squared error of the two children's regressions on two thirds of the node's training rows
//!   (seeded), when that reduction is at least `min_gain` of the node's error, both children keep
//!   `min_share` of the training rows, and on the other third the children's regressions cut
//!   the absolute error by at least `min_gain` too (splits that fit noise or a few outliers of a
//!   heavy-tailed target do not survive that check).
//!   Candidate thresholds: midpoints between distinct values at every (n/256)-th row in the
//!   feature's order, then at every row around the best of those; the children's errors come
//!   from running sufficient statistics (Z'Z, Z'y, y'y), so a feature costs one sort and one or
//!   two passes over the node's rows. The leaves are the segments, each with its rule (the
//!   conjunction of the conditions on its path).
//! * **Evaluation** on the held-out rows: the global linear model, a global gradient-boosting
//!   model, and the segment-aware model (one linear regression per segment) by MAE, RMSE and R²,
//!   overall and per segment; the relative MAE improvement of the segment-aware model over the
//!   global linear one with a percentile bootstrap interval over the test rows; and a verdict:
//!   segment models when the improvement is at least `min_improvement` and its interval's lower
//!   end above zero, else the global model is enough.
//!
//! Missing feature values are replaced by the training mean everywhere (trees and regressions).

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::linalg::solve;
use crate::predict::gbdt::{Gbdt, GbdtParams, Objective};
use crate::predict::linear::Linear;
use crate::predict::{Part, Table};

pub mod analysis;

/// Settings of the search and the evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HiddenParams {
    /// Depth of the partitioning tree (at most 2^depth segments).
    pub max_depth: usize,
    /// Smallest segment, as a share of the training rows (and at least 50 rows): segments
    /// below 5% are rarely worth their own model or campaign, and their models overfit.
    pub min_share: f64,
    /// Smallest accepted split: relative reduction of the node's squared error.
    pub min_gain: f64,
    /// Ridge penalty of every linear regression (on standardised features, scikit-learn's
    /// `Ridge(alpha)`): keeps small segments' models from extrapolating wildly.
    pub alpha: f64,
    /// Bootstrap resamples of the test rows for the improvement's interval.
    pub bootstrap: usize,
    /// Improvement of the test MAE over the global linear model needed to recommend segments.
    pub min_improvement: f64,
    /// Seed of the split and the bootstrap.
    pub seed: u64,
}

impl Default for HiddenParams {
    fn default() -> Self {
        HiddenParams {
            max_depth: 3,
            min_share: 0.05,
            min_gain: 0.01,
            alpha: 1.0,
            bootstrap: 200,
            min_improvement: 0.10,
            seed: 42,
        }
    }
}

/// One condition of a segment's rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The feature.
    pub feature: String,
    /// `"<="` or `">"`.
    pub op: String,
    /// The split value.
    pub threshold: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Node {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf {
        segment: u32,
    },
}

/// A fitted partitioning tree: the segments and their rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MobTree {
    nodes: Vec<Node>,
    /// Training means that replace missing values.
    fill: Vec<f64>,
    /// The features the tree may split on.
    pub features: Vec<String>,
    /// The rule of each segment, in segment order.
    pub rules: Vec<Vec<Condition>>,
}

impl MobTree {
    /// The segment of every row of `x` (same feature columns as the training table).
    pub fn assign(&self, x: &Table) -> Vec<u32> {
        (0..x.rows)
            .map(|i| {
                let row = x.row(i);
                let mut n = 0;
                loop {
                    match &self.nodes[n] {
                        Node::Leaf { segment } => return *segment,
                        Node::Split {
                            feature,
                            threshold,
                            left,
                            right,
                        } => {
                            let mut v = row[*feature];
                            if v.is_nan() {
                                v = self.fill[*feature];
                            }
                            n = if v <= *threshold { *left } else { *right };
                        }
                    }
                }
            })
            .collect()
    }

    /// A readable rule: `loyalty_points_per_year > 1890.3 and tenure_days <= 36`; conditions on
    /// the same feature are merged into one range (`998.3 < loyalty_points_per_year <= 2088.8`,
    /// not two lines of the path).
    pub fn rule_text(&self, segment: usize) -> String {
        let r = &self.rules[segment];
        if r.is_empty() {
            return "all customers".into();
        }
        // per feature in order of appearance: the largest lower and smallest upper bound
        let mut bounds: Vec<(&str, Option<f64>, Option<f64>)> = Vec::new();
        for c in r {
            let k = match bounds.iter().position(|b| b.0 == c.feature) {
                Some(k) => k,
                None => {
                    bounds.push((&c.feature, None, None));
                    bounds.len() - 1
                }
            };
            let b = &mut bounds[k];
            if c.op == ">" {
                b.1 = Some(b.1.map_or(c.threshold, |l: f64| l.max(c.threshold)));
            } else {
                b.2 = Some(b.2.map_or(c.threshold, |h: f64| h.min(c.threshold)));
            }
        }
        bounds
            .iter()
            .map(|(f, lo, hi)| match (lo, hi) {
                (Some(l), Some(h)) => {
                    format!("{} < {f} <= {}", fmt_threshold(*l), fmt_threshold(*h))
                }
                (Some(l), None) => format!("{f} > {}", fmt_threshold(*l)),
                (None, Some(h)) => format!("{f} <= {}", fmt_threshold(*h)),
                (None, None) => String::new(),
            })
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

fn fmt_threshold(t: f64) -> String {
    if t == t.round() && t.abs() < 1e15 {
        format!("{t:.0}")
    } else {
        let s = format!("{t:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Column means over the rows `rows`, ignoring NaN (0 for an all-missing column).
fn column_means(x: &Table, rows: &[usize]) -> Vec<f64> {
    let mut s = vec![0.0; x.cols];
    let mut c = vec![0usize; x.cols];
    for &i in rows {
        for (j, &v) in x.row(i).iter().enumerate() {
            if !v.is_nan() {
                s[j] += v;
                c[j] += 1;
            }
        }
    }
    s.iter()
        .zip(&c)
        .map(|(&a, &n)| if n > 0 { a / n as f64 } else { 0.0 })
        .collect()
}

/// Sufficient statistics of a least-squares fit with an intercept: z = (1, standardised x).
#[derive(Clone)]
struct Stats {
    p: usize,
    /// upper triangle of Z'Z, row-major p x p (full matrix kept for simplicity)
    zz: Vec<f64>,
    zy: Vec<f64>,
    yy: f64,
    n: usize,
}

impl Stats {
    fn new(p: usize) -> Stats {
        Stats {
            p,
            zz: vec![0.0; p * p],
            zy: vec![0.0; p],
            yy: 0.0,
            n: 0,
        }
    }
    #[inline]
    fn add(&mut self, z: &[f64], y: f64) {
        let p = self.p;
        for a in 0..p {
            let za = z[a];
            self.zy[a] += za * y;
            let row = &mut self.zz[a * p..(a + 1) * p];
            for b in a..p {
                row[b] += za * z[b];
            }
        }
        self.yy += y * y;
        self.n += 1;
    }
    fn minus(&self, o: &Stats) -> Stats {
        let mut r = self.clone();
        for (a, b) in r.zz.iter_mut().zip(&o.zz) {
            *a -= b;
        }
        for (a, b) in r.zy.iter_mut().zip(&o.zy) {
            *a -= b;
        }
        r.yy -= o.yy;
        r.n -= o.n;
        r
    }
    /// Coefficients of the ridge fit (penalty `alpha` on all but the intercept).
    fn coef(&self, alpha: f64) -> Option<Vec<f64>> {
        let p = self.p;
        let a: Vec<Vec<f64>> = (0..p)
            .map(|i| {
                (0..p)
                    .map(|j| {
                        let v = if i <= j {
                            self.zz[i * p + j]
                        } else {
                            self.zz[j * p + i]
                        };
                        v + if i == j && i > 0 {
                            alpha.max(1e-9)
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        solve(&a, &self.zy)
    }
    /// Residual sum of squares of the ridge fit.
    fn sse(&self, alpha: f64) -> f64 {
        match self.coef(alpha) {
            // y'y - 2 b'Z'y + b'Z'Zb = y'y - b'Z'y at the normal equations' solution (up to
            // the small ridge term)
            Some(b) => {
                let fit: f64 = b.iter().zip(&self.zy).map(|(x, y)| x * y).sum();
                (self.yy - fit).max(0.0)
            }
            None => self.yy,
        }
    }
}

/// Absolute error of the ridge fit of `fit_rows` on `check_rows`.
fn check_error(
    z: &[f64],
    y: &[f64],
    p: usize,
    fit_rows: &[usize],
    check_rows: &[usize],
    alpha: f64,
) -> f64 {
    let mut st = Stats::new(p);
    for &i in fit_rows {
        st.add(&z[i * p..(i + 1) * p], y[i]);
    }
    let b = st.coef(alpha);
    check_rows
        .iter()
        .map(|&i| {
            let pred = match &b {
                Some(b) => z[i * p..(i + 1) * p]
                    .iter()
                    .zip(b)
                    .map(|(a, c)| a * c)
                    .sum(),
                None => 0.0,
            };
            (y[i] - pred).abs()
        })
        .sum()
}

/// Fits the partitioning tree on the rows `train` of `x`, `y`.
pub fn mob_tree(x: &Table, y: &[f64], train: &[usize], params: &HiddenParams) -> Result<MobTree> {
    let d = x.cols;
    if train.len() < 2 || d == 0 {
        return Err(Error::Data(
            "segment search needs training rows and at least one feature".into(),
        ));
    }
    let fill = column_means(x, train);
    // standardised, filled copy of the training rows: z = (1, (x - mean) / sd)
    let mut sd = vec![0.0; d];
    for &i in train {
        for (j, &v) in x.row(i).iter().enumerate() {
            let v = if v.is_nan() { fill[j] } else { v };
            sd[j] += (v - fill[j]) * (v - fill[j]);
        }
    }
    for s in &mut sd {
        *s = (*s / train.len() as f64).sqrt();
        if *s == 0.0 {
            *s = 1.0;
        }
    }
    let p = d + 1;
    let raw: Vec<f64> = train
        .iter()
        .flat_map(|&i| {
            x.row(i)
                .iter()
                .enumerate()
                .map(|(j, &v)| if v.is_nan() { fill[j] } else { v })
                .collect::<Vec<_>>()
        })
        .collect();
    let z: Vec<f64> = raw
        .chunks(d)
        .flat_map(|r| {
            std::iter::once(1.0).chain(r.iter().enumerate().map(|(j, &v)| (v - fill[j]) / sd[j]))
        })
        .collect();
    let yt: Vec<f64> = train.iter().map(|&i| y[i]).collect();
    let min_rows = ((params.min_share * train.len() as f64).ceil() as usize).max(50);
    let mut tree = MobTree {
        nodes: Vec::new(),
        fill,
        features: x.names.clone(),
        rules: Vec::new(),
    };
    // a seeded third of the training rows checks each split chosen on the other two thirds
    let checking: Vec<bool> = {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed ^ 0x005e_ed0f_c4ec);
        (0..train.len())
            .map(|_| rng.random_range(0..3) == 0)
            .collect()
    };
    // depth-first over (local rows, depth, path), children pushed right first
    let all: Vec<usize> = (0..train.len()).collect();
    // (local rows, depth, path, (parent node, is left child))
    type Pending = (Vec<usize>, usize, Vec<Condition>, Option<(usize, bool)>);
    let mut stack: Vec<Pending> = vec![(all, 0, Vec::new(), None)];
    while let Some((rows, depth, path, parent)) = stack.pop() {
        let me = tree.nodes.len();
        if let Some((pi, is_left)) = parent {
            if let Node::Split { left, right, .. } = &mut tree.nodes[pi] {
                if is_left {
                    *left = me;
                } else {
                    *right = me;
                }
            }
        }
        // the split is chosen on the node's fitting rows and kept only when the children's
        // regressions also beat the node's on its checking rows (absolute error): a split that
        // only fits noise or a few outliers does not survive
        let split = if depth < params.max_depth && rows.len() >= 2 * min_rows {
            let (fit, check): (Vec<usize>, Vec<usize>) = rows.iter().partition(|&&i| !checking[i]);
            let fit_min = (min_rows * 2).div_ceil(3);
            best_split(&raw, &z, &yt, d, p, &fit, fit_min, params).filter(|&(f, t)| {
                let side = |rs: &[usize], left: bool| -> Vec<usize> {
                    rs.iter()
                        .copied()
                        .filter(|&i| (raw[i * d + f] <= t) == left)
                        .collect()
                };
                let parent = check_error(&z, &yt, p, &fit, &check, params.alpha);
                let children = check_error(
                    &z,
                    &yt,
                    p,
                    &side(&fit, true),
                    &side(&check, true),
                    params.alpha,
                ) + check_error(
                    &z,
                    &yt,
                    p,
                    &side(&fit, false),
                    &side(&check, false),
                    params.alpha,
                );
                let sizes = side(&rows, true).len().min(side(&rows, false).len());
                sizes >= min_rows && children < parent * (1.0 - params.min_gain)
            })
        } else {
            None
        };
        match split {
            Some((feature, threshold)) => {
                tree.nodes.push(Node::Split {
                    feature,
                    threshold,
                    left: 0,
                    right: 0,
                });
                let (l, r): (Vec<usize>, Vec<usize>) = rows
                    .iter()
                    .partition(|&&i| raw[i * d + feature] <= threshold);
                let cond = |op: &str| Condition {
                    feature: x.names[feature].clone(),
                    op: op.into(),
                    threshold,
                };
                let mut rp = path.clone();
                rp.push(cond(">"));
                let mut lp = path;
                lp.push(cond("<="));
                stack.push((r, depth + 1, rp, Some((me, false))));
                stack.push((l, depth + 1, lp, Some((me, true))));
            }
            None => {
                tree.nodes.push(Node::Leaf {
                    segment: tree.rules.len() as u32,
                });
                tree.rules.push(path);
            }
        }
    }
    Ok(tree)
}

/// The best (feature, threshold) of a node, or `None` when no split gains `min_gain`.
#[allow(clippy::too_many_arguments)]
fn best_split(
    raw: &[f64],
    z: &[f64],
    y: &[f64],
    d: usize,
    p: usize,
    rows: &[usize],
    min_rows: usize,
    params: &HiddenParams,
) -> Option<(usize, f64)> {
    let mut total = Stats::new(p);
    for &i in rows {
        total.add(&z[i * p..(i + 1) * p], y[i]);
    }
    let base = total.sse(params.alpha);
    if base <= 0.0 {
        return None;
    }
    // per feature: the node's rows sorted by it; the split error at every `step`-th row
    // (moved to the next change of value), then at every row around the best of those
    let n = rows.len();
    let step = (n / 256).max(1);
    let scan = |f: usize, order: &[usize], lo: usize, hi: usize, every: usize| {
        let v = |k: usize| raw[order[k] * d + f];
        let mut left = Stats::new(p);
        let mut best: Option<(f64, usize)> = None;
        let mut next = lo.max(min_rows);
        for k in 1..=hi.min(n - min_rows) {
            let i = order[k - 1];
            left.add(&z[i * p..(i + 1) * p], y[i]);
            if k < next || v(k - 1) == v(k) {
                continue;
            }
            next = k + every;
            let s = left.sse(params.alpha) + total.minus(&left).sse(params.alpha);
            if best.is_none_or(|b| s < b.0) {
                best = Some((s, k));
            }
        }
        best.map(|(s, k)| (s, k, (v(k - 1) + v(k)) / 2.0))
    };
    let best = (0..d)
        .into_par_iter()
        .filter_map(|f| {
            let mut order = rows.to_vec();
            order.sort_by(|&a, &b| raw[a * d + f].total_cmp(&raw[b * d + f]));
            let (s, k, t) = scan(f, &order, min_rows, n, step)?;
            let fine = if step > 1 {
                scan(f, &order, k.saturating_sub(step), k + step, 1)
            } else {
                None
            };
            let (s, t) = match fine {
                Some((s2, _, t2)) if s2 < s => (s2, t2),
                _ => (s, t),
            };
            Some((s, f, t))
        })
        .collect::<Vec<_>>()
        .into_iter()
        // lowest error; ties to the lower feature index
        .fold(None, |acc: Option<(f64, usize, f64)>, c| match acc {
            Some(a) if a.0 <= c.0 => Some(a),
            _ => Some(c),
        })?;
    (best.0 < base * (1.0 - params.min_gain)).then_some((best.1, best.2))
}

/// Held-out accuracy of a regression.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Fit {
    /// Test rows.
    pub n: usize,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Coefficient of determination.
    pub r2: f64,
}

fn fit_metrics(y: &[f64], p: &[f64]) -> Fit {
    let n = y.len();
    if n == 0 {
        return Fit {
            n,
            mae: f64::NAN,
            rmse: f64::NAN,
            r2: f64::NAN,
        };
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let (mut ae, mut se, mut tot) = (0.0, 0.0, 0.0);
    for (a, b) in y.iter().zip(p) {
        ae += (a - b).abs();
        se += (a - b) * (a - b);
        tot += (a - mean) * (a - mean);
    }
    Fit {
        n,
        mae: ae / n as f64,
        rmse: (se / n as f64).sqrt(),
        r2: if tot > 0.0 { 1.0 - se / tot } else { f64::NAN },
    }
}

/// One segment on the test rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentFit {
    /// The segment's name.
    pub segment: String,
    /// Its rule (`None` for the only segment).
    pub rule: Option<String>,
    /// Training rows in it.
    pub train_rows: usize,
    /// Test rows in it.
    pub test_rows: usize,
    /// Its share of the rows.
    pub share: f64,
    /// Mean target in it.
    pub target_mean: f64,
    /// The global linear model on its test rows.
    pub global_linear: Fit,
    /// The global gradient-boosting model on its test rows.
    pub global_gbdt: Fit,
    /// Its own linear model on its test rows.
    pub segment_linear: Fit,
    /// 1 - segment MAE / global linear MAE on this segment's test rows.
    pub improvement: f64,
}

/// Whether the segments pay on held-out data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The segment-aware models beat the global one by enough: use them.
    UseSegmentModels,
    /// One global model is enough.
    GlobalModelIsEnough,
}

/// The comparison of the global and the segment-aware models on the test rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    /// The global linear model on the test rows.
    pub global_linear: Fit,
    /// The global gradient-boosting model on the test rows.
    pub global_gbdt: Fit,
    /// The segment-aware linear models on the test rows.
    pub segment_linear: Fit,
    /// 1 - segment-aware MAE / global linear MAE, with its 95% bootstrap interval.
    pub improvement: f64,
    /// 95% bootstrap interval of `improvement`.
    pub improvement_ci: [f64; 2],
    /// 1 - segment-aware MAE / global gradient-boosting MAE.
    pub improvement_over_gbdt: f64,
    /// Per segment.
    pub segments: Vec<SegmentFit>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in a sentence.
    pub reason: String,
}

/// Fits the global models and one linear model per segment (`labels`, one per row; segment
/// names `names`) on the train rows and compares them on the test rows.
pub fn evaluate(
    x: &Table,
    y: &[f64],
    split: &[Part],
    labels: &[u32],
    names: &[String],
    rules: Option<&[String]>,
    params: &HiddenParams,
) -> Result<Evaluation> {
    let (train, test) = crate::predict::split_rows(split)?;
    let pick = |idx: &[usize]| idx.iter().map(|&i| y[i]).collect::<Vec<f64>>();
    let (xtr, ytr) = (x.select(&train), pick(&train));
    let (xte, yte) = (x.select(&test), pick(&test));
    let global = Linear::fit(Objective::Regression, &xtr, &ytr, params.alpha)?;
    let p_lin = global.predict(&xte);
    let gbdt_params = GbdtParams {
        objective: Objective::Regression,
        seed: params.seed,
        ..GbdtParams::default()
    };
    let gbdt = Gbdt::fit(&gbdt_params, &xtr, &ytr, None, None)?;
    let p_gbdt = gbdt.predict(&xte);
    // segment models; a segment with too few training rows keeps the global prediction
    let k = names.len();
    let mut p_seg = p_lin.clone();
    let mut train_rows = vec![0usize; k];
    for &i in &train {
        train_rows[labels[i] as usize] += 1;
    }
    let fits: Vec<Option<Linear>> = (0..k as u32)
        .into_par_iter()
        .map(|s| {
            let rows: Vec<usize> = train.iter().copied().filter(|&i| labels[i] == s).collect();
            if rows.len() < (x.cols + 2).max(10) {
                return None;
            }
            Linear::fit(
                Objective::Regression,
                &x.select(&rows),
                &pick(&rows),
                params.alpha,
            )
            .ok()
        })
        .collect();
    for (s, m) in fits.iter().enumerate() {
        let Some(m) = m else { continue };
        let rows: Vec<usize> = (0..test.len())
            .filter(|&t| labels[test[t]] as usize == s)
            .collect();
        let pred = m.predict(&x.select(&rows.iter().map(|&t| test[t]).collect::<Vec<_>>()));
        for (&t, v) in rows.iter().zip(pred) {
            p_seg[t] = v;
        }
    }
    let (gl, gb, sg) = (
        fit_metrics(&yte, &p_lin),
        fit_metrics(&yte, &p_gbdt),
        fit_metrics(&yte, &p_seg),
    );
    let segments: Vec<SegmentFit> = (0..k)
        .map(|s| {
            let t: Vec<usize> = (0..test.len())
                .filter(|&t| labels[test[t]] as usize == s)
                .collect();
            let sub = |v: &[f64]| t.iter().map(|&i| v[i]).collect::<Vec<f64>>();
            let ys = sub(&yte);
            let (a, b, c) = (
                fit_metrics(&ys, &sub(&p_lin)),
                fit_metrics(&ys, &sub(&p_gbdt)),
                fit_metrics(&ys, &sub(&p_seg)),
            );
            SegmentFit {
                segment: names[s].clone(),
                rule: rules.map(|r| r[s].clone()),
                train_rows: train_rows[s],
                test_rows: t.len(),
                share: t.len() as f64 / test.len() as f64,
                target_mean: ys.iter().sum::<f64>() / ys.len().max(1) as f64,
                global_linear: a,
                global_gbdt: b,
                segment_linear: c,
                improvement: 1.0 - c.mae / a.mae,
            }
        })
        .collect();
    // percentile bootstrap of the MAE improvement over the test rows
    let err_lin: Vec<f64> = yte.iter().zip(&p_lin).map(|(a, b)| (a - b).abs()).collect();
    let err_seg: Vec<f64> = yte.iter().zip(&p_seg).map(|(a, b)| (a - b).abs()).collect();
    let nt = test.len();
    let mut boots: Vec<f64> = (0..params.bootstrap)
        .into_par_iter()
        .map(|b| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed ^ (b as u64 + 1) << 20);
            let (mut a, mut s) = (0.0, 0.0);
            for _ in 0..nt {
                let i = rng.random_range(0..nt);
                a += err_lin[i];
                s += err_seg[i];
            }
            if a > 0.0 {
                1.0 - s / a
            } else {
                0.0
            }
        })
        .collect();
    boots.sort_unstable_by(f64::total_cmp);
    let ci = if boots.is_empty() {
        [f64::NAN, f64::NAN]
    } else {
        [
            crate::stats::quantile_sorted(&boots, 0.025),
            crate::stats::quantile_sorted(&boots, 0.975),
        ]
    };
    let improvement = 1.0 - sg.mae / gl.mae;
    let (verdict, reason) = if k < 2 {
        (
            Verdict::GlobalModelIsEnough,
            "no segments: the search found no split that reduces the error".to_string(),
        )
    } else if improvement >= params.min_improvement && ci[0] > 0.0 {
        (
            Verdict::UseSegmentModels,
            format!(
                "segment models cut the held-out MAE by {:.1}% (95% interval {:.1}% .. {:.1}%), at least the {:.0}% required",
                100.0 * improvement,
                100.0 * ci[0],
                100.0 * ci[1],
                100.0 * params.min_improvement
            ),
        )
    } else {
        (
            Verdict::GlobalModelIsEnough,
            format!(
                "segment models cut the held-out MAE by {:.1}% (95% interval {:.1}% .. {:.1}%; negative: worse), not the {:.0}% required with an interval above zero",
                100.0 * improvement,
                100.0 * ci[0],
                100.0 * ci[1],
                100.0 * params.min_improvement
            ),
        )
    };
    Ok(Evaluation {
        global_linear: gl,
        global_gbdt: gb,
        segment_linear: sg,
        improvement,
        improvement_ci: ci,
        improvement_over_gbdt: 1.0 - sg.mae / gb.mae,
        segments,
        verdict,
        reason,
    })
}

/// A discovered segmentation and its evaluation.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// The partitioning tree.
    pub tree: MobTree,
    /// Segment of every row.
    pub labels: Vec<u32>,
    /// Segment names.
    pub names: Vec<String>,
    /// The models compared on the test rows.
    pub evaluation: Evaluation,
}

/// Searches segments on the train rows and evaluates them on the test rows.
pub fn discover(x: &Table, y: &[f64], split: &[Part], params: &HiddenParams) -> Result<Discovery> {
    if let Some(bad) = y.iter().position(|v| !v.is_finite()) {
        return Err(Error::Data(format!(
            "target of row {} is {} (expected a finite number)",
            bad + 1,
            y[bad]
        )));
    }
    let train: Vec<usize> = (0..y.len()).filter(|&i| split[i] == Part::Train).collect();
    let tree = mob_tree(x, y, &train, params)?;
    let labels = tree.assign(x);
    let names: Vec<String> = (1..=tree.rules.len()).map(|s| format!("S{s}")).collect();
    let rules: Vec<String> = (0..tree.rules.len()).map(|s| tree.rule_text(s)).collect();
    let evaluation = evaluate(x, y, split, &labels, &names, Some(&rules), params)?;
    Ok(Discovery {
        tree,
        labels,
        names,
        evaluation,
    })
}

/// Mart columns that measure spend: never default features when one of them is the target.
pub const SPEND_COLUMNS: [&str; 3] = ["monetary", "avg_order_value", "total_quantity"];

/// Customer attributes that accumulate over the membership: also given per year of tenure.
pub const PER_YEAR: [&str; 2] = ["loyalty_points", "support_tickets"];

/// Columns of the reference schema that are never candidate columns: the answer key of the
/// generated data (`tier`), its A/B experiment (`seller_group`, `sale_success`) and the signup
/// date. A user's own columns are all candidates.
pub const NOT_CANDIDATES: [&str; 4] = ["tier", "seller_group", "sale_success", "signup_date"];

/// One row per customer of the mart: every numeric candidate column for targets and features.
#[derive(Debug, Clone)]
pub struct CustomerTable {
    /// Customer id per row.
    pub customer_id: Vec<String>,
    /// The candidate columns.
    pub columns: Table,
    /// Customer columns that are not candidates, with the reason.
    pub left_out: Vec<crate::data::customers::LeftOutColumn>,
}

/// The mart (`recency_days, frequency, monetary, tenure_days, avg_order_value,
/// total_quantity`) and every column of the customers file but [`NOT_CANDIDATES`] and
/// `exclude` (e.g. the answer key): numbers (dates as days before the reference date) as they
/// are, booleans as 0/1, categories one-hot (`region_North`, ...); [`PER_YEAR`] attributes also
/// divided by the tenure in years (at least 30 days: `loyalty_points_per_year`, ...). A customer
/// column named like a mart column is called `customers.NAME`.
pub fn customer_table(
    tx: &crate::data::reader::TableReader,
    customers: Option<&crate::data::reader::TableReader>,
    exclude: &[&str],
    progress: &dyn crate::progress::Progress,
) -> Result<CustomerTable> {
    use crate::mart::{build_mart, MartColumns, MartParams};
    let mart = build_mart(
        tx,
        &MartParams {
            ref_day: None,
            columns: MartColumns::All,
            before_us: None,
        },
        progress,
    )?;
    customer_table_from_mart(&mart, customers, exclude, progress)
}

/// [`customer_table`] on a mart already built with every column.
pub fn customer_table_from_mart(
    mart: &crate::mart::Mart,
    customers: Option<&crate::data::reader::TableReader>,
    exclude: &[&str],
    progress: &dyn crate::progress::Progress,
) -> Result<CustomerTable> {
    use crate::data::customers::{AttrColumn, Attributes, LeftOutColumn};
    use crate::mart::Mart;
    let mut names: Vec<String> = Mart::NUMERIC.iter().map(|s| s.to_string()).collect();
    let mut cols = mart.numeric_columns();
    let mut left_out = Vec::new();
    if let Some(c) = customers {
        let attrs = Attributes::load_all(c, Some(mart.ref_day), progress)?;
        left_out.extend(attrs.left_out.iter().map(|(column, reason)| LeftOutColumn {
            column: column.clone(),
            reason: reason.clone(),
        }));
        let rows = attrs.rows_for(&mart.customer_id);
        let years: Vec<f64> = mart
            .tenure_days
            .iter()
            .map(|&t| (t.max(30)) as f64 / 365.25)
            .collect();
        for (source, col) in &attrs.columns {
            if NOT_CANDIDATES.contains(&source.as_str()) || exclude.contains(&source.as_str()) {
                continue;
            }
            let name = if Mart::NUMERIC.contains(&source.as_str()) {
                format!("customers.{source}")
            } else {
                source.clone()
            };
            match col {
                AttrColumn::Num(_) | AttrColumn::Bool(_) => {
                    let vals = col.numbers(&rows).expect("a number or boolean column");
                    if PER_YEAR.contains(&name.as_str()) {
                        names.push(format!("{name}_per_year"));
                        cols.push(vals.iter().zip(&years).map(|(a, y)| a / y).collect());
                    }
                    names.push(name);
                    cols.push(vals);
                }
                AttrColumn::Str(codes, dict) => {
                    let mut order: Vec<usize> = (0..dict.len()).collect();
                    order.sort_by(|&a, &b| dict[a].cmp(&dict[b]));
                    for k in order {
                        names.push(format!("{name}_{}", dict[k]));
                        cols.push(
                            rows.iter()
                                .map(|r| match r.and_then(|r| codes[r as usize]) {
                                    Some(c) => (c as usize == k) as u8 as f64,
                                    None => f64::NAN,
                                })
                                .collect(),
                        );
                    }
                }
            }
        }
    }
    Ok(CustomerTable {
        customer_id: mart.customer_id.clone(),
        columns: Table::from_columns(names, &cols),
        left_out,
    })
}

/// A random split with `test_size` of the rows in the test part (seeded).
pub fn random_split(n: usize, test_size: f64, seed: u64) -> Vec<Part> {
    let y = vec![0.0; n];
    crate::predict::stratified_split(&y, test_size, false, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two groups with opposite slopes on x0, told apart by x1: the tree splits on x1 and the
    /// segment models beat the global line.
    #[test]
    fn finds_groups_with_different_slopes() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let n = 4000;
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let x0: f64 = rng.random_range(0.0..10.0);
            let g = i % 2;
            let x1 = g as f64 * 5.0 + rng.random_range(0.0..1.0);
            y.push(if g == 0 { 2.0 * x0 } else { 20.0 - 2.0 * x0 } + rng.random_range(-0.5..0.5));
            rows.push(vec![x0, x1]);
        }
        let x = Table::from_rows(vec!["x0".into(), "x1".into()], &rows);
        let split = random_split(n, 0.3, 42);
        let d = discover(&x, &y, &split, &HiddenParams::default()).unwrap();
        assert_eq!(d.tree.rules.len(), 2, "{:?}", d.tree.rules);
        assert_eq!(d.tree.rules[0][0].feature, "x1");
        assert!(d.tree.rules[0][0].threshold > 1.0 && d.tree.rules[0][0].threshold < 5.0);
        let e = &d.evaluation;
        assert_eq!(e.verdict, Verdict::UseSegmentModels, "{}", e.reason);
        // noise is uniform(-0.5, 0.5): MAE 0.25 for the right model
        assert!(
            (e.segment_linear.mae - 0.25).abs() < 0.03,
            "{:?}",
            e.segment_linear
        );
        assert!(e.global_linear.mae > 3.0);
        assert!(e.improvement_ci[0] > 0.8);
    }

    #[test]
    fn rule_text_merges_conditions_on_one_feature() {
        let c = |f: &str, op: &str, t: f64| Condition {
            feature: f.into(),
            op: op.into(),
            threshold: t,
        };
        let tree = MobTree {
            nodes: Vec::new(),
            fill: Vec::new(),
            features: vec!["a".into(), "b".into()],
            rules: vec![vec![
                c("a", "<=", 2088.84261),
                c("a", "<=", 998.28),
                c("b", ">", 3.0),
                c("a", ">", 10.5),
            ]],
        };
        assert_eq!(tree.rule_text(0), "10.5 < a <= 998.28 and b > 3");
    }

    /// One linear relationship: no split, the global model is enough.
    #[test]
    fn one_relationship_needs_no_segments() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        let n = 3000;
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|_| vec![rng.random_range(0.0..10.0), rng.random_range(0.0..10.0)])
            .collect();
        let y: Vec<f64> = rows
            .iter()
            .map(|r| 3.0 * r[0] - r[1] + rng.random_range(-1.0..1.0))
            .collect();
        let x = Table::from_rows(vec!["a".into(), "b".into()], &rows);
        let split = random_split(n, 0.3, 42);
        let d = discover(&x, &y, &split, &HiddenParams::default()).unwrap();
        assert_eq!(d.tree.rules.len(), 1);
        assert_eq!(d.evaluation.verdict, Verdict::GlobalModelIsEnough);
        assert_eq!(d.tree.rule_text(0), "all customers");
    }
}
