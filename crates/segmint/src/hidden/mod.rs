//! Hidden segments: detect when one global model hides segments, and fit segment-aware models.
//!
//! A global linear regression of a customer-level target (spend) on the customer's features can
//! look acceptable overall and be wrong for every group inside it, when the groups follow
//! different relationships (in the bench data spend is a mixture of three hidden tiers with x1 /
//! x3 / x10 spend per order). [`discover`] searches for such groups and [`evaluate`] says whether
//! modelling them pays on held-out data:
//!
//! * **Model-based recursive partitioning** ([`mob_tree`], after Zeileis, Hothorn & Hornik 2008,
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
//! * **Mixture of regressions** ([`mixture`]): k linear regressions fitted by EM, k by BIC; each
//!   customer's most probable component, described by a shallow classification tree over the
//!   features (`classify`), so that the segments have rules and a customer is assigned without
//!   the target. It finds groups that differ in the level of a heavy-tailed target where a split
//!   search, led by a few large values, does not.
//! * **Target transformation** ([`Transform`]): `log1p` for positive heavy-tailed targets:
//!   every model, global or per segment, is fitted on `ln(1 + y)` and its predictions (clipped
//!   to the training range) mapped back, so the errors stay on the original scale.
//! * **Choices** (the defaults, transformation `auto` and method `both`), on four fifths of the
//!   training rows against the other fifth, the test rows never looked at: log1p when the
//!   global linear model on it has the lower MAE; then the method whose segment models have the
//!   lower MAE, refitted on all training rows. A more complex candidate (log1p, the mixture)
//!   must win by more than one standard error of the paired difference.
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
mod classify;
pub mod mixture;

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
    /// How the segments are searched.
    #[serde(default)]
    pub method: Method,
    /// Largest number of mixture components tried (chosen by BIC).
    #[serde(default = "default_components")]
    pub max_components: usize,
    /// EM starts per number of components.
    #[serde(default = "default_restarts")]
    pub restarts: usize,
    /// Transformation of the target before any model sees it (errors stay on its scale).
    #[serde(default)]
    pub transform: Transform,
}

fn default_components() -> usize {
    5
}

fn default_restarts() -> usize {
    4
}

/// How `segments discover` searches for segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Model-based recursive partitioning.
    Mob,
    /// A mixture of linear regressions, described by a classification tree.
    Mixture,
    /// Both; the one with the lower error on a validation part of the training rows.
    #[default]
    Both,
}

impl Method {
    /// `mob`, `mixture` or `both`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Mob => "mob",
            Method::Mixture => "mixture",
            Method::Both => "both",
        }
    }

    /// Reads [`Method::name`].
    pub fn parse(s: &str) -> Result<Method> {
        match s {
            "mob" => Ok(Method::Mob),
            "mixture" => Ok(Method::Mixture),
            "both" => Ok(Method::Both),
            _ => Err(Error::param(
                "method",
                format!("{s:?}: expected mob, mixture or both"),
            )),
        }
    }

    /// What the method does, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Method::Mob => "model-based recursive partitioning (linear regression per leaf)",
            Method::Mixture => {
                "mixture of linear regressions (EM, k by BIC), described by a classification tree"
            }
            Method::Both => "the better of partitioning and mixture on validation rows",
        }
    }
}

/// Transformation of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// log1p when the target has no negative values and the global linear model fitted on
    /// `log1p(y)` has a clearly lower MAE on validation rows (one-SE rule), else none.
    #[default]
    Auto,
    /// The target as it is.
    None,
    /// `ln(1 + y)`; predictions are mapped back with `exp(.) - 1`.
    Log1p,
}

impl Transform {
    /// `auto`, `none` or `log1p`.
    pub fn name(self) -> &'static str {
        match self {
            Transform::Auto => "auto",
            Transform::None => "none",
            Transform::Log1p => "log1p",
        }
    }

    /// Reads [`Transform::name`].
    pub fn parse(s: &str) -> Result<Transform> {
        match s {
            "auto" => Ok(Transform::Auto),
            "none" => Ok(Transform::None),
            "log1p" => Ok(Transform::Log1p),
            _ => Err(Error::param(
                "target_transform",
                format!("{s:?}: expected auto, none or log1p"),
            )),
        }
    }

    /// The transformations to try on the target `y` of the rows `train`: `auto` gives none and
    /// log1p (none alone for a target with negative values), `log1p` is checked (no value at or
    /// below -1).
    pub fn candidates(self, y: &[f64], train: &[usize]) -> Result<Vec<Transform>> {
        let min = train.iter().map(|&i| y[i]).fold(f64::INFINITY, f64::min);
        match self {
            Transform::Log1p if min <= -1.0 => Err(Error::param(
                "target_transform",
                format!("log1p needs values above -1; the target has {min}"),
            )),
            Transform::Auto if min < 0.0 => Ok(vec![Transform::None]),
            Transform::Auto => Ok(vec![Transform::None, Transform::Log1p]),
            t => Ok(vec![t]),
        }
    }

    /// The transformed value.
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Transform::Log1p => v.ln_1p(),
            _ => v,
        }
    }

    /// A prediction on the original scale. On the log scale a linear model extrapolates
    /// exponentially, so the prediction is first clipped to `range`, the transformed training
    /// targets' (one customer with a frequency far beyond the training rows would otherwise
    /// get a predicted spend of millions).
    pub fn invert(self, v: f64, range: (f64, f64)) -> f64 {
        match self {
            Transform::Log1p => v.clamp(range.0, range.1).exp_m1(),
            _ => v,
        }
    }
}

impl Default for HiddenParams {
    fn default() -> Self {
        HiddenParams {
            max_depth: 3,
            min_share: 0.05,
            min_gain: 0.01,
            alpha: 1.0,
            bootstrap: 200,
            min_improvement: 0.05,
            seed: 42,
            method: Method::Both,
            max_components: default_components(),
            restarts: default_restarts(),
            transform: Transform::Auto,
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
pub(crate) enum Node {
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

/// A tree over the features whose leaves are segments: the partitioning tree, or the
/// classification tree describing the mixture's components (where several leaves may form one
/// segment).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentTree {
    nodes: Vec<Node>,
    /// Training means that replace missing values.
    fill: Vec<f64>,
    /// The features the tree may split on.
    pub features: Vec<String>,
    /// The rule of each segment, in segment order: any of these conjunctions (one per leaf of
    /// the segment; an empty conjunction holds for everyone).
    pub rules: Vec<Vec<Vec<Condition>>>,
}

impl SegmentTree {
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
    /// not two lines of the path); the leaves of one segment are joined by `or`, each in
    /// parentheses when it has several conditions.
    pub fn rule_text(&self, segment: usize) -> String {
        let alternatives = &self.rules[segment];
        if alternatives.is_empty() || alternatives.iter().any(|a| a.is_empty()) {
            return "all customers".into();
        }
        if alternatives.len() == 1 {
            return conjunction_text(&alternatives[0]);
        }
        alternatives
            .iter()
            .map(|a| {
                let t = conjunction_text(a);
                if t.contains(" and ") {
                    format!("({t})")
                } else {
                    t
                }
            })
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// One leaf's conditions in words, conditions on one feature merged into a range.
fn conjunction_text(r: &[Condition]) -> String {
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
    /// Adds a row with weight `w` (the mixture's posterior probability).
    #[inline]
    fn add_weighted(&mut self, z: &[f64], y: f64, w: f64) {
        let p = self.p;
        for a in 0..p {
            let za = w * z[a];
            self.zy[a] += za * y;
            let row = &mut self.zz[a * p..(a + 1) * p];
            for b in a..p {
                row[b] += za * z[b];
            }
        }
        self.yy += w * y * y;
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

/// The training rows of a feature table ready for the searches: missing values filled with the
/// training mean (`raw`, n x d) and standardised with an intercept (`z`, n x (d + 1)).
struct Prepared {
    fill: Vec<f64>,
    raw: Vec<f64>,
    z: Vec<f64>,
    d: usize,
    p: usize,
}

fn prepare(x: &Table, train: &[usize]) -> Prepared {
    let d = x.cols;
    let fill = column_means(x, train);
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
    let mut sd = vec![0.0; d];
    for r in raw.chunks(d) {
        for (j, &v) in r.iter().enumerate() {
            sd[j] += (v - fill[j]) * (v - fill[j]);
        }
    }
    for s in &mut sd {
        *s = (*s / train.len() as f64).sqrt();
        if *s == 0.0 {
            *s = 1.0;
        }
    }
    let z: Vec<f64> = raw
        .chunks(d)
        .flat_map(|r| {
            std::iter::once(1.0).chain(r.iter().enumerate().map(|(j, &v)| (v - fill[j]) / sd[j]))
        })
        .collect();
    Prepared {
        fill,
        raw,
        z,
        d,
        p: d + 1,
    }
}

fn check_search_input(x: &Table, train: &[usize]) -> Result<()> {
    if train.len() < 2 || x.cols == 0 {
        return Err(Error::Data(
            "segment search needs training rows and at least one feature".into(),
        ));
    }
    Ok(())
}

/// Smallest segment in rows: `min_share` of the training rows, at least 50.
fn min_rows(params: &HiddenParams, train: usize) -> usize {
    ((params.min_share * train as f64).ceil() as usize).max(50)
}

/// Fits the partitioning tree on the rows `train` of `x`, `y`.
pub fn mob_tree(
    x: &Table,
    y: &[f64],
    train: &[usize],
    params: &HiddenParams,
) -> Result<SegmentTree> {
    check_search_input(x, train)?;
    let Prepared {
        fill, raw, z, d, p, ..
    } = prepare(x, train);
    let yt: Vec<f64> = train.iter().map(|&i| y[i]).collect();
    let min_rows = min_rows(params, train.len());
    let mut tree = SegmentTree {
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
                tree.rules.push(vec![path]);
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

/// Smallest and largest value of `yt` on the rows `rows`.
fn range_of(yt: &[f64], rows: &[usize]) -> (f64, f64) {
    rows.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| {
            (lo.min(yt[i]), hi.max(yt[i]))
        })
}

/// Predictions on the original scale for the rows `test` of linear models fitted on the
/// transformed target of the rows `train`: one per segment of `labels` (`k` segments), the
/// global model for a segment with too few training rows (`global`, already on the original
/// scale).
#[allow(clippy::too_many_arguments)]
fn segment_predictions(
    x: &Table,
    yt: &[f64],
    train: &[usize],
    test: &[usize],
    labels: &[u32],
    k: usize,
    global: &[f64],
    alpha: f64,
    transform: Transform,
) -> Vec<f64> {
    let pick = |idx: &[usize]| idx.iter().map(|&i| yt[i]).collect::<Vec<f64>>();
    let range = range_of(yt, train);
    let mut out = global.to_vec();
    let fits: Vec<Option<Linear>> = (0..k as u32)
        .into_par_iter()
        .map(|s| {
            let rows: Vec<usize> = train.iter().copied().filter(|&i| labels[i] == s).collect();
            if rows.len() < (x.cols + 2).max(10) {
                return None;
            }
            Linear::fit(Objective::Regression, &x.select(&rows), &pick(&rows), alpha).ok()
        })
        .collect();
    for (s, m) in fits.iter().enumerate() {
        let Some(m) = m else { continue };
        let rows: Vec<usize> = (0..test.len())
            .filter(|&t| labels[test[t]] as usize == s)
            .collect();
        let pred = m.predict(&x.select(&rows.iter().map(|&t| test[t]).collect::<Vec<_>>()));
        for (&t, v) in rows.iter().zip(pred) {
            out[t] = transform.invert(v, range);
        }
    }
    out
}

/// The global linear model fitted on the transformed target of `train`, predicting `test` on
/// the original scale.
fn global_predictions(
    x: &Table,
    yt: &[f64],
    train: &[usize],
    test: &[usize],
    alpha: f64,
    transform: Transform,
) -> Result<Vec<f64>> {
    let ytr: Vec<f64> = train.iter().map(|&i| yt[i]).collect();
    let global = Linear::fit(Objective::Regression, &x.select(train), &ytr, alpha)?;
    let range = range_of(yt, train);
    Ok(global
        .predict(&x.select(test))
        .into_iter()
        .map(|v| transform.invert(v, range))
        .collect())
}

/// Fits the global models and one linear model per segment (`labels`, one per row; segment
/// names `names`) on the train rows and compares them on the test rows. The models see the
/// target after `transform` (not [`Transform::Auto`]); the errors are on the original scale.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    x: &Table,
    y: &[f64],
    split: &[Part],
    labels: &[u32],
    names: &[String],
    rules: Option<&[String]>,
    params: &HiddenParams,
    transform: Transform,
) -> Result<Evaluation> {
    let (train, test) = crate::predict::split_rows(split)?;
    let yt: Vec<f64> = y.iter().map(|&v| transform.apply(v)).collect();
    let yte: Vec<f64> = test.iter().map(|&i| y[i]).collect();
    let p_lin = global_predictions(x, &yt, &train, &test, params.alpha, transform)?;
    let gbdt_params = GbdtParams {
        objective: Objective::Regression,
        seed: params.seed,
        ..GbdtParams::default()
    };
    let ytr: Vec<f64> = train.iter().map(|&i| yt[i]).collect();
    let gbdt = Gbdt::fit(&gbdt_params, &x.select(&train), &ytr, None, None)?;
    let range = range_of(&yt, &train);
    let p_gbdt: Vec<f64> = gbdt
        .predict(&x.select(&test))
        .into_iter()
        .map(|v| transform.invert(v, range))
        .collect();
    let k = names.len();
    let mut train_rows = vec![0usize; k];
    for &i in &train {
        train_rows[labels[i] as usize] += 1;
    }
    let p_seg = segment_predictions(
        x,
        &yt,
        &train,
        &test,
        labels,
        k,
        &p_lin,
        params.alpha,
        transform,
    );
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

/// What the mixture search found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MixtureSummary {
    /// Components chosen by BIC.
    pub components: usize,
    /// BIC per number of components tried.
    pub bic: Vec<mixture::KBic>,
    /// Per component, from the lowest mean target to the highest: mixing weight.
    pub weights: Vec<f64>,
    /// Per component: residual standard deviation (on the transformed scale).
    pub sigma: Vec<f64>,
    /// Per component: mean target (original scale) of the training customers most probably in it.
    pub target_mean: Vec<f64>,
    /// The component each segment stands for (segments are the components some leaf of the
    /// describing tree predicts).
    pub component_of_segment: Vec<usize>,
    /// Share of the training customers whose segment by the tree's rules is their most probable
    /// component.
    pub tree_agreement: f64,
    /// EM iterations of the chosen fit.
    pub iterations: usize,
    /// Training customers it was fitted on (all, or a sample of [`MIXTURE_ROWS`]).
    pub rows: usize,
}

/// The global linear model's error with a transformation of the target, on the validation
/// part of the training rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransformScore {
    /// The transformation.
    pub transform: Transform,
    /// MAE (original scale) of the global linear model on the validation rows.
    pub global_validation_mae: f64,
    /// Whether it was chosen.
    pub chosen: bool,
}

/// The error of a method's segment models on the validation part of the training rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodScore {
    /// The method.
    pub method: Method,
    /// Whether it was chosen.
    pub chosen: bool,
    /// Segments it found on the fitting part.
    pub segments: usize,
    /// MAE (original scale) of its segment-aware models on the validation part.
    pub validation_mae: f64,
}

/// A discovered segmentation and its evaluation.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// The method used (never [`Method::Both`]).
    pub method: Method,
    /// The target's transformation (never [`Transform::Auto`]).
    pub transform: Transform,
    /// The tree whose rules assign the segments.
    pub tree: SegmentTree,
    /// Segment of every row.
    pub labels: Vec<u32>,
    /// Segment names.
    pub names: Vec<String>,
    /// The mixture, when the method is [`Method::Mixture`].
    pub mixture: Option<MixtureSummary>,
    /// With [`Transform::Auto`]: the global model's validation error with each transformation.
    pub transforms: Vec<TransformScore>,
    /// With [`Method::Both`]: each method's validation error.
    pub selection: Vec<MethodScore>,
    /// The models compared on the test rows.
    pub evaluation: Evaluation,
}

/// A segmentation fitted on some rows.
struct Found {
    tree: SegmentTree,
    mixture: Option<MixtureSummary>,
}

/// Segments of `method` (not `Both`) fitted on the rows `train` of `x` and the transformed
/// target `yt` (`y` on the original scale, for the summary).
fn search(
    method: Method,
    x: &Table,
    y: &[f64],
    yt: &[f64],
    train: &[usize],
    params: &HiddenParams,
) -> Result<Found> {
    match method {
        Method::Mixture => mixture_segments(x, y, yt, train, params),
        _ => Ok(Found {
            tree: mob_tree(x, yt, train, params)?,
            mixture: None,
        }),
    }
}

/// Rows the mixture and its describing tree are fitted on at most: EM costs (rows x features²
/// x components) per iteration for every k and start, and 50,000 customers pin the components
/// down to far below the differences that matter for a segment.
pub const MIXTURE_ROWS: usize = 50_000;

/// The training rows, or a seeded sample of [`MIXTURE_ROWS`] of them (in row order).
fn mixture_sample(train: &[usize], seed: u64) -> Vec<usize> {
    if train.len() <= MIXTURE_ROWS {
        return train.to_vec();
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x005a_3d1e);
    let mut rows = train.to_vec();
    // partial Fisher-Yates: the first MIXTURE_ROWS positions are a uniform sample
    for i in 0..MIXTURE_ROWS {
        let j = rng.random_range(i..rows.len());
        rows.swap(i, j);
    }
    rows.truncate(MIXTURE_ROWS);
    rows.sort_unstable();
    rows
}

/// The mixture of regressions on the training rows (a sample of [`MIXTURE_ROWS`] of them at
/// most), its components described by a classification tree over the features.
fn mixture_segments(
    x: &Table,
    y: &[f64],
    yt: &[f64],
    train: &[usize],
    params: &HiddenParams,
) -> Result<Found> {
    check_search_input(x, train)?;
    let sample = mixture_sample(train, params.seed);
    let train = &sample[..];
    let pr = prepare(x, train);
    let yv: Vec<f64> = train.iter().map(|&i| yt[i]).collect();
    let settings = mixture::EmSettings {
        max_components: params.max_components,
        restarts: params.restarts,
        alpha: params.alpha,
        min_share: params.min_share,
        seed: params.seed,
    };
    let (m, bic) = mixture::select(&pr.z, &yv, pr.p, &settings);
    let component = m.classify(&pr.z, &yv, pr.p);
    // components renumbered from the lowest mean target to the highest
    let k = m.k;
    let mut sum = vec![0.0; k];
    let mut count = vec![0usize; k];
    for (t, &c) in component.iter().enumerate() {
        sum[c as usize] += yv[t];
        count[c as usize] += 1;
    }
    let mean: Vec<f64> = (0..k)
        .map(|c| {
            if count[c] > 0 {
                sum[c] / count[c] as f64
            } else {
                f64::INFINITY
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| mean[a].total_cmp(&mean[b]));
    let mut rank = vec![0u32; k];
    for (r, &c) in order.iter().enumerate() {
        rank[c] = r as u32;
    }
    let ranked: Vec<u32> = component.iter().map(|&c| rank[c as usize]).collect();
    let data = classify::Labelled {
        raw: &pr.raw,
        d: pr.d,
        labels: &ranked,
        k,
    };
    let tree_settings = classify::TreeSettings {
        max_depth: params.max_depth,
        min_rows: min_rows(params, train.len()),
        min_gain: params.min_gain,
    };
    let (tree, used) = classify::describe(&data, pr.fill, &x.names, &tree_settings);
    let by_rules = tree.assign(&x.select(train));
    let agree = by_rules
        .iter()
        .zip(&ranked)
        .filter(|(s, l)| used[**s as usize] == **l)
        .count();
    let mut original_mean = vec![0.0; k];
    for (t, &i) in train.iter().enumerate() {
        original_mean[ranked[t] as usize] += y[i];
    }
    let summary = MixtureSummary {
        components: k,
        bic,
        weights: order.iter().map(|&c| m.weights[c]).collect(),
        sigma: order.iter().map(|&c| m.sigma[c]).collect(),
        target_mean: order
            .iter()
            .enumerate()
            .map(|(r, &c)| original_mean[r] / count[c].max(1) as f64)
            .collect(),
        component_of_segment: used.iter().map(|&l| l as usize).collect(),
        tree_agreement: agree as f64 / train.len() as f64,
        iterations: m.iterations,
        rows: train.len(),
    };
    Ok(Found {
        tree,
        mixture: Some(summary),
    })
}

/// The training rows split into four fifths to fit on and one fifth to validate on (seeded),
/// for the choices made before the test rows are looked at: the method and the transformation.
pub fn validation_split(train: &[usize], seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x7a11_da7e);
    let (val, fit): (Vec<usize>, Vec<usize>) =
        train.iter().partition(|_| rng.random_range(0..5) == 0);
    (fit, val)
}

/// MAE of the predictions `pred` of the rows `rows` of `y`.
fn mean_abs_error(y: &[f64], rows: &[usize], pred: &[f64]) -> f64 {
    rows.iter()
        .zip(pred)
        .map(|(&i, p)| (y[i] - p).abs())
        .sum::<f64>()
        / rows.len().max(1) as f64
}

/// The candidate to keep by the one-standard-error rule (Breiman et al. 1984, section 3.4.3;
/// Hastie, Tibshirani & Friedman 2009, section 7.10): the first, that is the simplest,
/// candidate whose validation MAE is within one standard error of the lowest, the standard
/// error from the paired per-row differences of absolute errors. A single validation fifth of a
/// heavy-tailed target is noisy; a more complex candidate has to win clearly.
fn one_se_choice(y: &[f64], val: &[usize], preds: &[Vec<f64>]) -> usize {
    let errs: Vec<Vec<f64>> = preds
        .iter()
        .map(|p| val.iter().zip(p).map(|(&i, v)| (y[i] - v).abs()).collect())
        .collect();
    let mae = |e: &[f64]| e.iter().sum::<f64>() / e.len().max(1) as f64;
    let mut best = 0;
    for c in 1..errs.len() {
        if mae(&errs[c]) < mae(&errs[best]) {
            best = c;
        }
    }
    let n = val.len() as f64;
    (0..errs.len())
        .find(|&c| {
            let d: Vec<f64> = errs[c]
                .iter()
                .zip(&errs[best])
                .map(|(a, b)| a - b)
                .collect();
            let mean = mae(&d);
            let var = d.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0).max(1.0);
            mean <= (var / n).sqrt()
        })
        .unwrap_or(best)
}

/// The transformation of the target: with several candidates, the global linear model fitted
/// with each on four fifths of the training rows, compared on the other fifth (one-SE rule,
/// the first candidate, no transformation, preferred).
fn choose_transform(
    x: &Table,
    y: &[f64],
    train: &[usize],
    params: &HiddenParams,
) -> Result<(Transform, Vec<TransformScore>)> {
    let candidates = params.transform.candidates(y, train)?;
    if candidates.len() == 1 {
        return Ok((candidates[0], Vec::new()));
    }
    let (fit, val) = validation_split(train, params.seed);
    let preds = candidates
        .iter()
        .map(|&t| {
            let yt: Vec<f64> = y.iter().map(|&v| t.apply(v)).collect();
            global_predictions(x, &yt, &fit, &val, params.alpha, t)
        })
        .collect::<Result<Vec<_>>>()?;
    let pick = one_se_choice(y, &val, &preds);
    let scores = candidates
        .iter()
        .zip(&preds)
        .enumerate()
        .map(|(c, (&transform, p))| TransformScore {
            transform,
            global_validation_mae: mean_abs_error(y, &val, p),
            chosen: c == pick,
        })
        .collect();
    Ok((candidates[pick], scores))
}

/// The method: with `both`, partitioning and mixture fitted on four fifths of the training
/// rows and their segment models compared on the other fifth (one-SE rule, partitioning, whose
/// rules are simpler, preferred). The test rows are not touched.
fn choose_method(
    x: &Table,
    y: &[f64],
    yt: &[f64],
    train: &[usize],
    params: &HiddenParams,
    transform: Transform,
) -> Result<(Method, Vec<MethodScore>)> {
    if params.method != Method::Both {
        return Ok((params.method, Vec::new()));
    }
    let methods = [Method::Mob, Method::Mixture];
    let (fit, val) = validation_split(train, params.seed);
    let global = global_predictions(x, yt, &fit, &val, params.alpha, transform)?;
    let mut preds = Vec::new();
    let mut segments = Vec::new();
    for method in methods {
        let found = search(method, x, y, yt, &fit, params)?;
        let labels = found.tree.assign(x);
        let k = found.tree.rules.len();
        preds.push(segment_predictions(
            x,
            yt,
            &fit,
            &val,
            &labels,
            k,
            &global,
            params.alpha,
            transform,
        ));
        segments.push(k);
    }
    let pick = one_se_choice(y, &val, &preds);
    let scores = methods
        .iter()
        .enumerate()
        .map(|(c, &method)| MethodScore {
            method,
            segments: segments[c],
            validation_mae: mean_abs_error(y, &val, &preds[c]),
            chosen: c == pick,
        })
        .collect();
    Ok((methods[pick], scores))
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
    let (transform, transforms) = choose_transform(x, y, &train, params)?;
    let yt: Vec<f64> = y.iter().map(|&v| transform.apply(v)).collect();
    let (method, selection) = choose_method(x, y, &yt, &train, params, transform)?;
    let found = search(method, x, y, &yt, &train, params)?;
    let tree = found.tree;
    let labels = tree.assign(x);
    let names: Vec<String> = (1..=tree.rules.len()).map(|s| format!("S{s}")).collect();
    let rules: Vec<String> = (0..tree.rules.len()).map(|s| tree.rule_text(s)).collect();
    let evaluation = evaluate(
        x,
        y,
        split,
        &labels,
        &names,
        Some(&rules),
        params,
        transform,
    )?;
    Ok(Discovery {
        method,
        transform,
        tree,
        labels,
        names,
        mixture: found.mixture,
        transforms,
        selection,
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
        let first = &d.tree.rules[0][0][0];
        assert_eq!(first.feature, "x1");
        assert!(first.threshold > 1.0 && first.threshold < 5.0);
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

    /// The same two groups through the mixture: EM finds two components (one per slope), the
    /// classification tree describes them by x1, and the segment models win.
    #[test]
    fn mixture_finds_groups_with_different_slopes() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let n = 4000;
        let (mut rows, mut y, mut group) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            let x0: f64 = rng.random_range(0.0..10.0);
            let g = i % 2;
            let x1 = g as f64 * 5.0 + rng.random_range(0.0..1.0);
            y.push(if g == 0 { 2.0 * x0 } else { 20.0 - 2.0 * x0 } + rng.random_range(-0.5..0.5));
            rows.push(vec![x0, x1]);
            group.push(g as u32);
        }
        let x = Table::from_rows(vec!["x0".into(), "x1".into()], &rows);
        let split = random_split(n, 0.3, 42);
        let params = HiddenParams {
            method: Method::Mixture,
            transform: Transform::None,
            ..HiddenParams::default()
        };
        let d = discover(&x, &y, &split, &params).unwrap();
        assert_eq!(d.method, Method::Mixture);
        let m = d.mixture.as_ref().unwrap();
        assert_eq!(m.components, 2, "{:?}", m.bic);
        assert!((m.weights[0] - 0.5).abs() < 0.05, "{:?}", m.weights);
        assert!(m.tree_agreement > 0.95, "{}", m.tree_agreement);
        assert_eq!(d.names.len(), 2);
        let rule = d.tree.rule_text(0);
        assert!(rule.starts_with("x1 "), "{rule}");
        let ari = crate::cluster::adjusted_rand_index(&d.labels, &group);
        assert!(ari > 0.95, "ARI {ari}");
        assert_eq!(d.evaluation.verdict, Verdict::UseSegmentModels);
        // both: the validation error of each method is reported and the better one is used
        let both = discover(&x, &y, &split, &HiddenParams::default()).unwrap();
        assert_eq!(both.selection.len(), 2);
        let best = both
            .selection
            .iter()
            .min_by(|a, b| a.validation_mae.total_cmp(&b.validation_mae))
            .unwrap();
        assert_eq!(both.method, best.method);
    }

    /// log1p: the models see ln(1 + y), the errors stay on y's scale; auto picks it for a
    /// target that is exponential in the features and keeps y for a linear one.
    #[test]
    fn log1p_transform_fits_multiplicative_targets() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let n = 3000;
        let rows: Vec<Vec<f64>> = (0..n).map(|_| vec![rng.random_range(0.0..4.0)]).collect();
        let y: Vec<f64> = rows
            .iter()
            .map(|r| (1.0 + r[0] + rng.random_range(-0.3..0.3)).exp() - 1.0)
            .collect();
        let x = Table::from_rows(vec!["a".into()], &rows);
        let split = random_split(n, 0.3, 42);
        let d = discover(&x, &y, &split, &HiddenParams::default()).unwrap();
        assert_eq!(d.transform, Transform::Log1p);
        // noise uniform(-0.3, 0.3) on the log scale: the MAE of exp(1 + a) - 1 predicted
        // exactly is E|e^(1+a)(e^u - 1)| ~ 0.15 E[e^(1+a)] = 0.15 (e^5 - e) / 4 = 5.46
        let e = &d.evaluation;
        assert!(
            (e.global_linear.mae - 5.46).abs() < 0.6,
            "{:?}",
            e.global_linear
        );
        let linear: Vec<f64> = rows
            .iter()
            .map(|r| 3.0 * r[0] + rng.random_range(-1.0..1.0))
            .collect();
        let d = discover(&x, &linear, &split, &HiddenParams::default()).unwrap();
        assert_eq!(d.transform, Transform::None);
        let all: Vec<usize> = (0..n).collect();
        assert!(Transform::Log1p.candidates(&[-2.0; 3000], &all).is_err());
        assert_eq!(
            Transform::Auto.candidates(&[-0.5; 3000], &all).unwrap(),
            [Transform::None]
        );
    }

    #[test]
    fn rule_text_merges_conditions_on_one_feature() {
        let c = |f: &str, op: &str, t: f64| Condition {
            feature: f.into(),
            op: op.into(),
            threshold: t,
        };
        let tree = SegmentTree {
            nodes: Vec::new(),
            fill: Vec::new(),
            features: vec!["a".into(), "b".into()],
            rules: vec![
                vec![vec![
                    c("a", "<=", 2088.84261),
                    c("a", "<=", 998.28),
                    c("b", ">", 3.0),
                    c("a", ">", 10.5),
                ]],
                vec![
                    vec![c("a", "<=", 1.0)],
                    vec![c("a", ">", 5.0), c("b", "<=", 2.0)],
                ],
            ],
        };
        assert_eq!(tree.rule_text(0), "10.5 < a <= 998.28 and b > 3");
        assert_eq!(tree.rule_text(1), "a <= 1 or (a > 5 and b <= 2)");
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
