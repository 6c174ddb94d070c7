//! Histogram gradient-boosted decision trees, LightGBM's design: features binned once into at
//! most `max_bin` bins (plus one bin for missing values), trees grown leaf-wise (always split
//! the leaf with the largest gain, up to `num_leaves`), histograms built for the smaller child
//! only (the larger one is the parent minus it), L2-regularised leaf values, shrinkage, class
//! weights and early stopping on a validation set.
//!
//! Speed: histograms are built row-wise from a row-major copy of the bins, each stored as its
//! position in one flat histogram (feature offset plus bin, 16 bits), so that a row costs one
//! cache line and one load-add-store per feature; the rows of a leaf are prefetched a few rows
//! ahead as LightGBM does, and summed per chunk of 4,096 rows in f32 (gradient, hessian and
//! count in one 16-byte add; a count up to 4,096 is exact in f32) before the chunk sums are added
//! in f64. Binary gradients come from `exp(-score)`, kept per row and multiplied by
//! `exp(-leaf value)` after each tree, so no `exp` is taken per row and round.
//!
//! Determinism: histograms are summed over fixed chunks of rows and the chunk sums added in chunk
//! order, so a model is bit-identical at any thread count; ties between equal gains go to the
//! lower feature index, then the lower bin.
//!
//! ```
//! use segmint::predict::gbdt::{Gbdt, GbdtParams, Objective};
//! use segmint::predict::Table;
//! let x = Table::from_rows(vec!["x".into()], &[vec![1.0], vec![2.0], vec![3.0], vec![4.0]]);
//! let y = [0.0, 0.0, 1.0, 1.0];
//! let params = GbdtParams { objective: Objective::Binary, min_child_samples: 1, n_estimators: 20,
//!                           ..GbdtParams::default() };
//! let model = Gbdt::fit(&params, &x, &y, None, None).unwrap();
//! let p = model.predict(&x);
//! assert!(p[0] < 0.5 && p[3] > 0.5);
//! ```

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Table;
use crate::error::{Error, Result};

/// The loss being minimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Log loss for a 0/1 label; the model predicts a probability.
    Binary,
    /// Squared error; the model predicts the mean.
    Regression,
}

/// Parameters, named as in LightGBM; defaults are LightGBM's except `n_estimators` (200) and
/// `learning_rate` (0.05), the settings of the bench `churn` task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GbdtParams {
    /// Loss: binary log-loss or squared error.
    pub objective: Objective,
    /// Boosting rounds (trees), the most when early stopping is on.
    pub n_estimators: usize,
    /// Shrinkage applied to every leaf value.
    pub learning_rate: f64,
    /// Maximum leaves per tree (leaf-wise growth).
    pub num_leaves: usize,
    /// Maximum depth; 0 = no limit.
    pub max_depth: usize,
    /// Minimum rows in a leaf.
    pub min_child_samples: usize,
    /// Minimum sum of hessians in a leaf.
    pub min_child_weight: f64,
    /// L2 penalty on leaf values.
    pub reg_lambda: f64,
    /// Minimum gain of a split.
    pub min_split_gain: f64,
    /// Bins per feature (at most 255), from up to `bin_sample` rows.
    pub max_bin: usize,
    /// Rows sampled to find each feature's bin edges.
    pub bin_sample: usize,
    /// Weight of each class (`Binary` only): `None` = 1 and 1; see [`ClassWeight`].
    pub class_weight: ClassWeight,
    /// Stop when the validation loss has not improved for this many rounds (0 = off; needs a
    /// validation set).
    pub early_stopping_rounds: usize,
    /// Seed of the row sample used to find bin boundaries.
    pub seed: u64,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            objective: Objective::Binary,
            n_estimators: 200,
            learning_rate: 0.05,
            num_leaves: 31,
            max_depth: 0,
            min_child_samples: 20,
            min_child_weight: 1e-3,
            reg_lambda: 0.0,
            min_split_gain: 0.0,
            max_bin: 255,
            bin_sample: 200_000,
            class_weight: ClassWeight::None,
            early_stopping_rounds: 0,
            seed: 42,
        }
    }
}

/// Class weights of a binary model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// No subsampling.
    None,
    /// n / (2 n_class) for each class (scikit-learn's and LightGBM's "balanced").
    Balanced,
    /// Weight of class 0 and of class 1.
    Given(f64, f64),
}

impl GbdtParams {
    /// Checks the parameters, naming the one that is wrong.
    pub fn check(&self) -> Result<()> {
        let bad = |name: &str, v: String, want: &str| {
            Err(Error::param(name, format!("must be {want}, got {v}")))
        };
        if self.n_estimators == 0 {
            return bad("n_estimators", "0".into(), "at least 1");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad("learning_rate", self.learning_rate.to_string(), "> 0");
        }
        if self.num_leaves < 2 {
            return bad("num_leaves", self.num_leaves.to_string(), "at least 2");
        }
        if self.min_child_samples == 0 {
            return bad("min_child_samples", "0".into(), "at least 1");
        }
        for (name, v) in [
            ("reg_lambda", self.reg_lambda),
            ("min_child_weight", self.min_child_weight),
            ("min_split_gain", self.min_split_gain),
        ] {
            if v.is_nan() || v < 0.0 {
                return bad(name, v.to_string(), ">= 0");
            }
        }
        if !(2..=255).contains(&self.max_bin) {
            return bad("max_bin", self.max_bin.to_string(), "2..255");
        }
        if let ClassWeight::Given(a, b) = self.class_weight {
            if !(a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite()) {
                return bad("class_weight", format!("{a}, {b}"), "two weights > 0");
            }
        }
        Ok(())
    }
}

/// Bin boundaries of one feature: value `x` falls in the first bin `b` with `x <= upper[b]`,
/// or in bin `upper.len()` when it is above every bound; missing values (NaN) in the bin after
/// that. (The bounds are finite, so a model serialises to plain JSON.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BinMapper {
    /// Upper bound of each bin (the last is infinity).
    pub upper: Vec<f64>,
}

impl BinMapper {
    /// Boundaries from the sorted non-missing values: every distinct value its own bin when
    /// there are at most `max_bin` (bounds at midpoints, as LightGBM), else bins of about equal
    /// counts that never split a value.
    fn new(sorted: &[f64], max_bin: usize) -> BinMapper {
        let mut distinct: Vec<(f64, usize)> = Vec::new();
        for &v in sorted {
            match distinct.last_mut() {
                Some(d) if d.0 == v => d.1 += 1,
                _ => distinct.push((v, 1)),
            }
        }
        let mut upper = Vec::new();
        if distinct.len() <= max_bin {
            for w in distinct.windows(2) {
                upper.push(midpoint(w[0].0, w[1].0));
            }
        } else {
            let mut left = sorted.len();
            let mut bins_left = max_bin;
            let mut acc = 0usize;
            for (i, w) in distinct.windows(2).enumerate() {
                acc += w[0].1;
                let target = left as f64 / bins_left as f64;
                // close the bin when it is full, or when adding the next value overshoots more
                // than stopping here undershoots
                if acc as f64 >= target
                    || (acc as f64 + w[1].1 as f64 - target) > (target - acc as f64)
                        && acc as f64 >= 0.5 * target
                {
                    upper.push(midpoint(w[0].0, w[1].0));
                    left -= acc;
                    acc = 0;
                    bins_left -= 1;
                    if bins_left == 1 || upper.len() + 1 == max_bin {
                        break;
                    }
                }
                let _ = i;
            }
        }
        BinMapper { upper }
    }

    /// Bins of non-missing values (the missing bin is one more).
    pub fn n_bins(&self) -> usize {
        self.upper.len() + 1
    }

    #[inline]
    /// The bin of `x` (NaN: the missing-value bin).
    pub fn bin(&self, x: f64) -> u8 {
        if x.is_nan() {
            self.upper.len() as u8 + 1
        } else {
            self.upper.partition_point(|&u| u < x) as u8
        }
    }
}

fn midpoint(a: f64, b: f64) -> f64 {
    let m = a + (b - a) / 2.0;
    // the bound must separate a (<= bound) from b (> bound) even when they are adjacent floats
    if m < b {
        m
    } else {
        a
    }
}

/// A tree node: go left when `x[feature] <= threshold` (missing values: `missing_left`).
/// Children >= 0 are nodes, < 0 are leaves `!child`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    /// The feature split on.
    pub feature: u32,
    /// Values up to it go left.
    pub threshold: f64,
    /// Missing values go left.
    pub missing_left: bool,
    /// Left child: a node index, or a leaf as `!index`.
    pub left: i32,
    /// Right child: a node index, or a leaf as `!index`.
    pub right: i32,
    /// Split gain.
    pub gain: f64,
    /// Training rows that reached the node (the cover of TreeSHAP; 0 in models written before
    /// it was recorded).
    #[serde(default)]
    pub count: u32,
}

/// One tree: nodes (root first) and leaf values (already multiplied by the learning rate).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tree {
    /// Split nodes (the root first).
    pub nodes: Vec<Node>,
    /// Leaf values.
    pub leaves: Vec<f64>,
    /// Training rows in each leaf (empty in models written before they were recorded).
    #[serde(default)]
    pub leaf_counts: Vec<u32>,
}

impl Tree {
    #[inline]
    /// The tree's value for one row of raw features.
    pub fn predict_row(&self, row: &[f64]) -> f64 {
        if self.nodes.is_empty() {
            return self.leaves[0];
        }
        let mut i = 0i32;
        loop {
            let n = &self.nodes[i as usize];
            let x = row[n.feature as usize];
            let left = if x.is_nan() {
                n.missing_left
            } else {
                x <= n.threshold
            };
            i = if left { n.left } else { n.right };
            if i < 0 {
                return self.leaves[(!i) as usize];
            }
        }
    }
}

/// A tree laid out for branch-free prediction: leaves are nodes that point to themselves, so
/// every row takes exactly `depth` steps and the next node is chosen by an index, not a branch
/// (a mispredicted branch per level cost more than the extra steps). Rows are walked 8 at a
/// time so their independent steps overlap.
struct Flat {
    feature: Vec<u32>,
    threshold: Vec<f64>,
    /// 1 when a missing value goes right
    missing_right: Vec<bool>,
    child: Vec<[u32; 2]>,
    value: Vec<f64>,
    depth: usize,
}

impl Flat {
    fn new(t: &Tree) -> Flat {
        let n_nodes = t.nodes.len();
        let total = n_nodes + t.leaves.len();
        let mut f = Flat {
            feature: vec![0; total],
            threshold: vec![0.0; total],
            missing_right: vec![false; total],
            child: vec![[0, 0]; total],
            value: vec![0.0; total],
            depth: 0,
        };
        let id = |c: i32| {
            if c < 0 {
                n_nodes as u32 + (!c) as u32
            } else {
                c as u32
            }
        };
        for (i, n) in t.nodes.iter().enumerate() {
            f.feature[i] = n.feature;
            f.threshold[i] = n.threshold;
            f.missing_right[i] = !n.missing_left;
            f.child[i] = [id(n.left), id(n.right)];
        }
        for (k, &v) in t.leaves.iter().enumerate() {
            let i = n_nodes + k;
            // a leaf: compares anything (NaN threshold: never right) and stays put
            f.threshold[i] = f64::NAN;
            f.child[i] = [i as u32, i as u32];
            f.value[i] = v;
        }
        // depth of the deepest leaf
        let mut stack = vec![(0u32, 0usize)];
        if n_nodes == 0 {
            stack.clear();
        }
        while let Some((i, d)) = stack.pop() {
            if (i as usize) < n_nodes {
                for c in f.child[i as usize] {
                    stack.push((c, d + 1));
                }
            } else {
                f.depth = f.depth.max(d);
            }
        }
        f
    }

    /// Adds this tree's value for each row to `out`.
    #[inline]
    fn add(&self, rows: &[&[f64]], out: &mut [f64]) {
        let mut idx = [0u32; 8];
        if self.feature.len() == 1 {
            // a single leaf
            for o in out.iter_mut() {
                *o += self.value[0];
            }
            return;
        }
        for _ in 0..self.depth {
            for (j, row) in rows.iter().enumerate() {
                let n = idx[j] as usize;
                let x = row[self.feature[n] as usize];
                let right = (x > self.threshold[n]) | (x.is_nan() & self.missing_right[n]);
                idx[j] = self.child[n][right as usize];
            }
        }
        for (j, o) in out.iter_mut().enumerate() {
            *o += self.value[idx[j] as usize];
        }
    }
}

/// A fitted model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gbdt {
    /// The settings it was trained with.
    pub params: GbdtParams,
    /// Feature names in column order.
    pub features: Vec<String>,
    /// Raw score before the first tree (log-odds of the weighted base rate, or the mean).
    pub init_score: f64,
    /// The trees in boosting order.
    pub trees: Vec<Tree>,
    /// Rounds kept (early stopping keeps the best one) and rounds run.
    pub best_iteration: usize,
    /// Boosting rounds run (fewer than asked with early stopping).
    pub rounds_run: usize,
    /// Validation loss per round, when a validation set was given.
    pub valid_loss: Vec<f64>,
    /// Each feature's bin edges.
    pub bin_mappers: Vec<BinMapper>,
}

/// Rows per histogram block: block sums are added in block order (determinism).
const BLOCK: usize = 8192;

#[derive(Clone, Copy, Default)]
struct Bin {
    g: f64,
    h: f64,
    c: u32,
}

#[derive(Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    /// bins `0..=bin` go left
    bin: usize,
    missing_left: bool,
    left_g: f64,
    left_h: f64,
    left_c: u32,
}

struct Leaf {
    start: usize,
    len: usize,
    g: f64,
    h: f64,
    depth: usize,
    hist: Vec<Vec<Bin>>,
    best: Option<Split>,
    /// where this leaf hangs in the tree: (node, is_left); None for the root
    parent: Option<(usize, bool)>,
}

/// Row-major histogram positions: 16 bits while a flat histogram has at most 65,536 bins
/// (256 features of 255 bins), else 32.
enum RowBins {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

/// Binned training data, column-major: `cols[f][r]` (a split's partition and a histogram read
/// one feature's column at a time, which stays in cache; rows of a leaf are scattered).
struct Binned {
    cols: Vec<Vec<u8>>,
    /// the same bins row-major as positions in a chunk's flat histogram (the feature's offset
    /// plus its bin), `rows[r * d + f]`: histograms read a row's bins together
    rows: RowBins,
    /// bin count of each feature including the missing bin
    sizes: Vec<usize>,
    /// where each feature's bins start in a chunk's flat histogram ([`histogram`]), and its length
    offsets: Vec<usize>,
}

impl Gbdt {
    /// Fits on `x` (rows x features) with labels `y` (0/1 for `Binary`), optional per-row
    /// weights, and an optional validation set for the loss curve and early stopping.
    pub fn fit(
        params: &GbdtParams,
        x: &Table,
        y: &[f64],
        weights: Option<&[f64]>,
        valid: Option<(&Table, &[f64])>,
    ) -> Result<Gbdt> {
        params.check()?;
        let n = x.rows;
        if n == 0 || y.len() != n {
            return Err(Error::Data(format!(
                "training needs rows and one label per row ({} rows, {} labels)",
                n,
                y.len()
            )));
        }
        if let Some(bad) = y.iter().position(|v| !v.is_finite()) {
            return Err(Error::Data(format!(
                "label of training row {} is {} (expected a finite number)",
                bad + 1,
                y[bad]
            )));
        }
        if params.objective == Objective::Binary {
            if let Some(bad) = y.iter().position(|&v| v != 0.0 && v != 1.0) {
                return Err(Error::Data(format!(
                    "label of training row {} is {} (a binary model needs 0 or 1)",
                    bad + 1,
                    y[bad]
                )));
            }
        }
        if params.early_stopping_rounds > 0 && valid.is_none() {
            return Err(Error::Config(
                "early stopping needs a validation set".into(),
            ));
        }
        let mut w: Vec<f64> = match weights {
            Some(w) => w.to_vec(),
            None => vec![1.0; n],
        };
        if params.objective == Objective::Binary {
            let n1 = y.iter().filter(|&&v| v == 1.0).count() as f64;
            let n0 = n as f64 - n1;
            let (w0, w1) = match params.class_weight {
                ClassWeight::None => (1.0, 1.0),
                ClassWeight::Balanced => (
                    n as f64 / (2.0 * n0.max(1.0)),
                    n as f64 / (2.0 * n1.max(1.0)),
                ),
                ClassWeight::Given(a, b) => (a, b),
            };
            for (wi, &yi) in w.iter_mut().zip(y) {
                *wi *= if yi == 1.0 { w1 } else { w0 };
            }
        }
        let mappers = bin_mappers(x, params);
        let data = bin_table(x, &mappers);
        let sw: f64 = w.iter().sum();
        let init_score = match params.objective {
            Objective::Binary => {
                let p = w.iter().zip(y).map(|(a, b)| a * b).sum::<f64>() / sw;
                let p = p.clamp(1e-15, 1.0 - 1e-15);
                (p / (1.0 - p)).ln()
            }
            Objective::Regression => w.iter().zip(y).map(|(a, b)| a * b).sum::<f64>() / sw,
        };
        let mut model = Gbdt {
            params: params.clone(),
            features: x.names.clone(),
            init_score,
            trees: Vec::new(),
            best_iteration: 0,
            rounds_run: 0,
            valid_loss: Vec::new(),
            bin_mappers: mappers,
        };
        // what the gradients need of each row's raw score: the score (Regression) or
        // exp(-score) (Binary), which a tree updates by one product per row (exp(-leaf value)
        // per leaf): no exp per row and round
        let mut state = match params.objective {
            Objective::Binary => vec![(-init_score).exp(); n],
            Objective::Regression => vec![init_score; n],
        };
        let mut valid_score = valid.map(|(v, _)| vec![init_score; v.rows]);
        let mut gh: Vec<[f32; 2]> = vec![[0.0; 2]; n];
        let mut rows: Vec<u32> = (0..n as u32).collect();
        let mut best = (f64::INFINITY, 0usize);
        for round in 0..params.n_estimators {
            gradients(params.objective, &state, y, &w, &mut gh);
            // rows in ascending order: stable partitions keep every leaf's rows ascending, so
            // the column reads of histograms and partitions move forward through memory
            for (i, r) in rows.iter_mut().enumerate() {
                *r = i as u32;
            }
            let (tree, leaf_rows) = grow_tree(params, &data, &gh, &mut rows, &model.bin_mappers);
            // training scores: every row sits in exactly one leaf's range of `rows`
            for (&value, &(start, len)) in tree.leaves.iter().zip(&leaf_rows) {
                let leaf = &rows[start..start + len];
                match params.objective {
                    Objective::Binary => {
                        let m = (-value).exp();
                        leaf.iter().for_each(|&r| state[r as usize] *= m);
                    }
                    Objective::Regression => leaf.iter().for_each(|&r| state[r as usize] += value),
                }
            }
            if let (Some(vs), Some((vx, vy))) = (valid_score.as_mut(), valid) {
                vs.par_iter_mut()
                    .enumerate()
                    .for_each(|(i, s)| *s += tree.predict_row(vx.row(i)));
                let loss = loss(params.objective, vs, vy);
                model.valid_loss.push(loss);
                if loss < best.0 {
                    best = (loss, round + 1);
                }
            }
            model.trees.push(tree);
            model.rounds_run = round + 1;
            if params.early_stopping_rounds > 0
                && round + 1 - best.1 >= params.early_stopping_rounds
            {
                break;
            }
            if model.trees.last().is_some_and(|t| t.nodes.is_empty()) {
                break; // no split possible: further rounds add the same constant
            }
        }
        model.best_iteration = if params.early_stopping_rounds > 0 {
            best.1
        } else {
            model.trees.len()
        };
        model.trees.truncate(model.best_iteration);
        Ok(model)
    }

    /// Raw scores (log-odds for `Binary`): the same sums as [`Tree::predict_row`] tree by
    /// tree, computed branch-free on 8 rows at a time (see `Flat`).
    pub fn predict_raw(&self, x: &Table) -> Vec<f64> {
        let flat: Vec<Flat> = self.trees.iter().map(Flat::new).collect();
        let mut out = vec![self.init_score; x.rows];
        out.par_chunks_mut(1024).enumerate().for_each(|(c, chunk)| {
            let first = c * 1024;
            for (g, group) in chunk.chunks_mut(8).enumerate() {
                let rows: Vec<&[f64]> =
                    (0..group.len()).map(|j| x.row(first + g * 8 + j)).collect();
                for t in &flat {
                    t.add(&rows, group);
                }
            }
        });
        out
    }

    /// Predictions: probabilities for `Binary`, values for `Regression`.
    pub fn predict(&self, x: &Table) -> Vec<f64> {
        let raw = self.predict_raw(x);
        match self.params.objective {
            Objective::Binary => raw.into_iter().map(sigmoid).collect(),
            Objective::Regression => raw,
        }
    }

    /// Total split gain per feature (LightGBM's `importance_type="gain"`).
    pub fn gain_importance(&self) -> Vec<f64> {
        let mut imp = vec![0.0; self.features.len()];
        for t in &self.trees {
            for n in &t.nodes {
                imp[n.feature as usize] += n.gain;
            }
        }
        imp
    }

    /// Number of splits per feature.
    pub fn split_importance(&self) -> Vec<usize> {
        let mut imp = vec![0; self.features.len()];
        for t in &self.trees {
            for n in &t.nodes {
                imp[n.feature as usize] += 1;
            }
        }
        imp
    }
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Mean loss of raw scores: log loss (Binary) or squared error (Regression).
fn loss(obj: Objective, raw: &[f64], y: &[f64]) -> f64 {
    let s: f64 = raw
        .iter()
        .zip(y)
        .map(|(&z, &t)| match obj {
            // log(1 + e^z) - t z, stable for large |z|
            Objective::Binary => z.max(0.0) + (-z.abs()).exp().ln_1p() - t * z,
            Objective::Regression => (z - t) * (z - t),
        })
        .sum();
    s / y.len().max(1) as f64
}

/// Gradient and hessian of each row from its `state` (see `Gbdt::fit`: `exp(-score)` for
/// `Binary`, the score for `Regression`), in f32 for the histograms.
fn gradients(obj: Objective, state: &[f64], y: &[f64], w: &[f64], gh: &mut [[f32; 2]]) {
    gh.par_chunks_mut(BLOCK)
        .zip(state.par_chunks(BLOCK))
        .zip(y.par_chunks(BLOCK).zip(w.par_chunks(BLOCK)))
        .for_each(|((out, s), (y, w))| {
            let rows = out.iter_mut().zip(s).zip(y.iter().zip(w));
            match obj {
                Objective::Binary => rows.for_each(|((e, &ez), (&y, &w))| {
                    let p = 1.0 / (1.0 + ez);
                    *e = [
                        ((p - y) * w) as f32,
                        ((p * (1.0 - p)).max(1e-16) * w) as f32,
                    ];
                }),
                Objective::Regression => rows.for_each(|((e, &s), (&y, &w))| {
                    *e = [((s - y) * w) as f32, w as f32];
                }),
            }
        });
}

fn bin_mappers(x: &Table, params: &GbdtParams) -> Vec<BinMapper> {
    let n = x.rows;
    // a seeded sample of rows when the table is large (LightGBM: bin_construct_sample_cnt)
    let sample: Vec<usize> = if n <= params.bin_sample {
        (0..n).collect()
    } else {
        use rand::seq::index::sample;
        use rand::SeedableRng;
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(params.seed);
        let mut s = sample(&mut rng, n, params.bin_sample).into_vec();
        s.sort_unstable();
        s
    };
    (0..x.cols)
        .into_par_iter()
        .map(|f| {
            let mut v: Vec<f64> = sample
                .iter()
                .map(|&i| x.data[i * x.cols + f])
                .filter(|v| !v.is_nan())
                .collect();
            v.sort_unstable_by(f64::total_cmp);
            BinMapper::new(&v, params.max_bin)
        })
        .collect()
}

fn bin_table(x: &Table, mappers: &[BinMapper]) -> Binned {
    let d = x.cols;
    let cols: Vec<Vec<u8>> = (0..d)
        .into_par_iter()
        .map(|f| {
            let m = &mappers[f];
            (0..x.rows).map(|i| m.bin(x.data[i * d + f])).collect()
        })
        .collect();
    let sizes: Vec<usize> = mappers.iter().map(|m| m.n_bins() + 1).collect();
    let offsets = hist_offsets(&sizes);
    // `histogram` indexes without bounds checks: every position must be below offsets[d]
    assert!(cols
        .iter()
        .zip(&sizes)
        .all(|(c, &s)| c.iter().all(|&b| (b as usize) < s)));
    let rows = if offsets[d] <= 1 << 16 {
        RowBins::Narrow(row_major(&cols, &offsets, x.rows, |i| i as u16))
    } else {
        RowBins::Wide(row_major(&cols, &offsets, x.rows, |i| i as u32))
    };
    Binned {
        cols,
        rows,
        offsets,
        sizes,
    }
}

/// The bins of `cols` row-major, each as its histogram position `offsets[f] + bin`.
fn row_major<T: Copy + Default + Send>(
    cols: &[Vec<u8>],
    offsets: &[usize],
    n: usize,
    cast: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    let d = cols.len();
    let mut rows = vec![T::default(); n * d];
    rows.par_chunks_mut(d * 4096)
        .enumerate()
        .for_each(|(c, chunk)| {
            for (k, row) in chunk.chunks_mut(d).enumerate() {
                let r = c * 4096 + k;
                for (f, b) in row.iter_mut().enumerate() {
                    *b = cast(offsets[f] + cols[f][r] as usize);
                }
            }
        });
    rows
}

/// Start of each feature's bins in a flat histogram, then its total length: features packed one
/// after another with one spare bin between them, so that the bins of different features are not
/// 4,096 bytes apart (a store to one would then stall the loads of the others: 4K aliasing).
fn hist_offsets(sizes: &[usize]) -> Vec<usize> {
    let mut offsets = Vec::with_capacity(sizes.len() + 1);
    let mut at = 0;
    for &s in sizes {
        offsets.push(at);
        at += s + 1;
    }
    offsets.push(at);
    offsets
}

/// Rows per histogram chunk: fixed, so the sums do not depend on the thread count; small
/// enough that a chunk's f32 sums stay exact in the count and close in g and h.
const HIST_CHUNK: usize = 4096;

/// How many rows ahead the gathers of a leaf's scattered rows are prefetched.
const PREFETCH: usize = 16;

/// Hints the CPU to load the cache line holding `p` (a no-op elsewhere than on x86-64).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and reads nothing, whatever `p` is.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A chunk's histogram bin: gradient, hessian and count summed in f32 (one 16-byte add per
/// row and feature), added to the f64 [`Bin`]s chunk by chunk.
#[derive(Clone, Copy)]
#[repr(align(16))]
struct Quad([f32; 4]);

/// Per-feature histograms of the rows `rows` (`None`: all rows in order), row-wise: each row's
/// gradient pair is read once and added to every feature's histogram from the row's bins
/// (contiguous in [`Binned::rows`]), so a leaf with scattered rows costs one cache line per row
/// instead of one per row and feature. Rows are cut in fixed chunks of [`HIST_CHUNK`]; the
/// chunks' histograms are added in chunk order: the result does not depend on the thread count.
fn histogram(data: &Binned, gh: &[[f32; 2]], rows: Option<&[u32]>) -> Vec<Vec<Bin>> {
    match &data.rows {
        RowBins::Narrow(pos) => histogram_of(data, pos, gh, rows),
        RowBins::Wide(pos) => histogram_of(data, pos, gh, rows),
    }
}

/// [`histogram`] over the row-major positions `pos` ([`Binned::rows`]).
fn histogram_of<T: Copy + Into<u32> + Sync>(
    data: &Binned,
    pos: &[T],
    gh: &[[f32; 2]],
    rows: Option<&[u32]>,
) -> Vec<Vec<Bin>> {
    let d = data.cols.len();
    let n = rows.map_or(gh.len(), |r| r.len());
    let off = &data.offsets;
    let chunk = |lo: usize, hi: usize| -> Vec<Quad> {
        let mut h = vec![Quad([0.0; 4]); off[d]];
        let mut add = |r: usize| {
            let e = gh[r];
            let v = [e[0], e[1], 1.0, 0.0];
            for &p in &pos[r * d..(r + 1) * d] {
                // SAFETY: every position is below off[d] = h.len(): bin_table asserts that
                // each bin is below its feature's size, and offsets leave each feature room
                // for its size (hist_offsets).
                let q = unsafe { &mut h.get_unchecked_mut(p.into() as usize).0 };
                for k in 0..4 {
                    q[k] += v[k];
                }
            }
        };
        match rows {
            None => (lo..hi).for_each(&mut add),
            Some(rows) => {
                // a leaf's rows are scattered: fetch the bins and gradients of the row
                // PREFETCH rows ahead while this one is added (LightGBM does the same)
                for i in lo..hi {
                    if let Some(&ahead) = rows.get(i + PREFETCH) {
                        let a = ahead as usize;
                        // a row's positions may straddle two cache lines
                        prefetch(pos.as_ptr().wrapping_add(a * d));
                        prefetch(pos.as_ptr().wrapping_add(a * d + d - 1));
                        prefetch(gh.as_ptr().wrapping_add(a));
                    }
                    add(rows[i] as usize);
                }
            }
        }
        h
    };
    let n_chunks = n.div_ceil(HIST_CHUNK).max(1);
    let parts: Vec<Vec<Quad>> = if n_chunks == 1 {
        vec![chunk(0, n)]
    } else {
        (0..n_chunks)
            .into_par_iter()
            .map(|c| chunk(c * HIST_CHUNK, ((c + 1) * HIST_CHUNK).min(n)))
            .collect()
    };
    // chunk sums added in f64 in chunk order, bin by bin (in parallel over blocks of bins:
    // the order of the additions into one bin does not depend on the thread count)
    let mut acc = vec![[0f64; 4]; off[d]];
    let add_parts = |lo: usize, block: &mut [[f64; 4]]| {
        for p in &parts {
            for (a, q) in block.iter_mut().zip(&p[lo..]) {
                for (x, &v) in a.iter_mut().zip(&q.0) {
                    *x += v as f64;
                }
            }
        }
    };
    if n_chunks == 1 {
        add_parts(0, &mut acc);
    } else {
        acc.par_chunks_mut(1024)
            .enumerate()
            .for_each(|(b, block)| add_parts(b * 1024, block));
    }
    (0..d)
        .map(|f| {
            acc[off[f]..off[f] + data.sizes[f]]
                .iter()
                .map(|a| Bin {
                    g: a[0],
                    h: a[1],
                    c: a[2] as u32,
                })
                .collect()
        })
        .collect()
}

fn leaf_value(g: f64, h: f64, lambda: f64) -> f64 {
    -g / (h + lambda)
}

fn score_of(g: f64, h: f64, lambda: f64) -> f64 {
    g * g / (h + lambda)
}

/// Best split of a leaf over all features; `None` when no split satisfies the constraints.
fn best_split(params: &GbdtParams, leaf: &Leaf) -> Option<Split> {
    if leaf.len < 2 * params.min_child_samples
        || (params.max_depth > 0 && leaf.depth >= params.max_depth)
    {
        return None;
    }
    let lambda = params.reg_lambda;
    let parent = score_of(leaf.g, leaf.h, lambda);
    let total_c = leaf.len as u32;
    let mut best: Option<Split> = None;
    for (f, hist) in leaf.hist.iter().enumerate() {
        let (values, missing) = hist.split_at(hist.len() - 1);
        let miss = missing[0];
        let directions: &[bool] = if miss.c > 0 { &[false, true] } else { &[false] };
        for &missing_left in directions {
            let (mut lg, mut lh, mut lc) = if missing_left {
                (miss.g, miss.h, miss.c)
            } else {
                (0.0, 0.0, 0)
            };
            for (b, e) in values[..values.len() - 1].iter().enumerate() {
                lg += e.g;
                lh += e.h;
                lc += e.c;
                if (lc as usize) < params.min_child_samples || lh < params.min_child_weight {
                    continue;
                }
                let rc = total_c - lc;
                let rh = leaf.h - lh;
                if (rc as usize) < params.min_child_samples || rh < params.min_child_weight {
                    break;
                }
                let rg = leaf.g - lg;
                let gain = score_of(lg, lh, lambda) + score_of(rg, rh, lambda) - parent;
                if gain > params.min_split_gain && best.is_none_or(|s| gain > s.gain) {
                    best = Some(Split {
                        gain,
                        feature: f,
                        bin: b,
                        missing_left,
                        left_g: lg,
                        left_h: lh,
                        left_c: lc,
                    });
                }
            }
        }
    }
    best
}

/// Stable partition of `rows` by `left_of[col[row]]` (1 = left); returns the left count.
/// Large leaves are cut in fixed chunks partitioned in parallel and joined in chunk order (the
/// same result as one pass).
#[inline(never)]
fn partition(rows: &mut [u32], col: &[u8], left_of: &[u8; 256], scratch: &mut Vec<u32>) -> usize {
    const CHUNK: usize = 1 << 14;
    // branch-free: every row is written to both sides, the counters decide which copy stays
    let split_into = |part: &[u32], left: &mut [u32], right: &mut [u32]| -> usize {
        let (mut nl, mut nr) = (0usize, 0usize);
        for (k, &r) in part.iter().enumerate() {
            if let Some(&ahead) = part.get(k + PREFETCH) {
                prefetch(col.as_ptr().wrapping_add(ahead as usize));
            }
            let l = left_of[col[r as usize] as usize] as usize;
            left[nl] = r;
            right[nr] = r;
            nl += l;
            nr += 1 - l;
        }
        nl
    };
    if rows.len() <= CHUNK {
        scratch.clear();
        scratch.resize(rows.len() + 1, 0);
        // in place: the write position nl never passes the read position
        let (mut nl, mut nr) = (0usize, 0usize);
        for k in 0..rows.len() {
            if let Some(&ahead) = rows.get(k + PREFETCH) {
                prefetch(col.as_ptr().wrapping_add(ahead as usize));
            }
            let r = rows[k];
            let l = left_of[col[r as usize] as usize] as usize;
            rows[nl] = r;
            scratch[nr] = r;
            nl += l;
            nr += 1 - l;
        }
        rows[nl..].copy_from_slice(&scratch[..nr]);
        return nl;
    }
    let parts: Vec<(Vec<u32>, usize)> = rows
        .par_chunks(CHUNK)
        .map(|part| {
            let mut left = vec![0u32; part.len() + 1];
            let mut right = vec![0u32; part.len() + 1];
            let nl = split_into(part, &mut left, &mut right);
            left.truncate(nl);
            left.extend_from_slice(&right[..part.len() - nl]);
            (left, nl)
        })
        .collect();
    let nl: usize = parts.iter().map(|p| p.1).sum();
    let (mut a, mut b) = (0, nl);
    for (v, l) in &parts {
        rows[a..a + l].copy_from_slice(&v[..*l]);
        rows[b..b + v.len() - l].copy_from_slice(&v[*l..]);
        a += l;
        b += v.len() - l;
    }
    nl
}

/// Grows one tree leaf-wise; returns it and each leaf's (start, len) range in `rows`.
fn grow_tree(
    params: &GbdtParams,
    data: &Binned,
    gh: &[[f32; 2]],
    rows: &mut [u32],
    mappers: &[BinMapper],
) -> (Tree, Vec<(usize, usize)>) {
    let n = rows.len();
    let (g, h) = {
        let mut g = 0.0;
        let mut h = 0.0;
        for e in gh {
            g += e[0] as f64;
            h += e[1] as f64;
        }
        (g, h)
    };
    let hist = histogram(data, gh, None);
    let mut root = Leaf {
        start: 0,
        len: n,
        g,
        h,
        depth: 0,
        hist,
        best: None,
        parent: None,
    };
    root.best = best_split(params, &root);
    let mut leaves = vec![root];
    let mut nodes: Vec<Node> = Vec::new();
    let mut scratch: Vec<u32> = Vec::new();
    while leaves.len() < params.num_leaves {
        // the leaf with the largest gain (first one on ties)
        let Some((li, split)) = leaves
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.best.map(|s| (i, s)))
            .fold(None, |acc: Option<(usize, Split)>, (i, s)| match acc {
                Some((_, b)) if b.gain >= s.gain => acc,
                _ => Some((i, s)),
            })
        else {
            break;
        };
        let leaf = &leaves[li];
        let (start, len) = (leaf.start, leaf.len);
        // stable partition of the leaf's rows: left rows first
        let f = split.feature;
        let missing_bin = data.sizes[f] - 1;
        let mut left_of = [0u8; 256];
        for (b, l) in left_of.iter_mut().enumerate().take(data.sizes[f]) {
            *l = if b == missing_bin {
                split.missing_left as u8
            } else {
                (b <= split.bin) as u8
            };
        }
        let nl = partition(
            &mut rows[start..start + len],
            &data.cols[f],
            &left_of,
            &mut scratch,
        );
        debug_assert_eq!(nl, split.left_c as usize);
        // the node replacing this leaf
        let node_index = nodes.len();
        nodes.push(Node {
            feature: f as u32,
            threshold: mappers[f].upper[split.bin],
            missing_left: split.missing_left,
            left: 0,
            right: 0,
            gain: split.gain,
            count: len as u32,
        });
        if let Some((p, is_left)) = leaf.parent {
            if is_left {
                nodes[p].left = node_index as i32;
            } else {
                nodes[p].right = node_index as i32;
            }
        }
        // histogram of the smaller child; the larger one is parent - smaller
        let (lg, lh) = (split.left_g, split.left_h);
        let (rg, rh) = (leaf.g - lg, leaf.h - lh);
        let left_rows = &rows[start..start + nl];
        let right_rows = &rows[start + nl..start + len];
        let small_left = nl <= len - nl;
        let small = histogram(
            data,
            gh,
            Some(if small_left { left_rows } else { right_rows }),
        );
        let mut large = std::mem::take(&mut leaves[li].hist);
        for (la, sa) in large.iter_mut().zip(&small) {
            for (a, b) in la.iter_mut().zip(sa) {
                a.g -= b.g;
                a.h -= b.h;
                a.c -= b.c;
            }
        }
        let (lhist, rhist) = if small_left {
            (small, large)
        } else {
            (large, small)
        };
        let depth = leaves[li].depth + 1;
        let mut left = Leaf {
            start,
            len: nl,
            g: lg,
            h: lh,
            depth,
            hist: lhist,
            best: None,
            parent: Some((node_index, true)),
        };
        let mut right = Leaf {
            start: start + nl,
            len: len - nl,
            g: rg,
            h: rh,
            depth,
            hist: rhist,
            best: None,
            parent: Some((node_index, false)),
        };
        if leaves.len() + 1 < params.num_leaves {
            (left.best, right.best) =
                rayon::join(|| best_split(params, &left), || best_split(params, &right));
        }
        leaves[li] = left;
        leaves.push(right);
    }
    // leaf values; link leaves into their parents
    let lambda = params.reg_lambda;
    let mut values = Vec::with_capacity(leaves.len());
    let mut ranges = Vec::with_capacity(leaves.len());
    for (i, l) in leaves.iter().enumerate() {
        values.push(params.learning_rate * leaf_value(l.g, l.h, lambda));
        ranges.push((l.start, l.len));
        if let Some((p, is_left)) = l.parent {
            if is_left {
                nodes[p].left = !(i as i32);
            } else {
                nodes[p].right = !(i as i32);
            }
        }
    }
    (
        Tree {
            nodes,
            leaves: values,
            leaf_counts: leaves.iter().map(|l| l.len as u32).collect(),
        },
        ranges,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_gradients_from_exp_minus_score() {
        // p = sigmoid(s) = 1 / (1 + e^-s); g = (p - y) w, h = p (1 - p) w
        let scores = [-3.0f64, 0.0, 0.5, 4.0];
        let state: Vec<f64> = scores.iter().map(|s| (-s).exp()).collect();
        let (y, w) = ([0.0, 1.0, 1.0, 0.0], [1.0, 2.0, 1.0, 0.5]);
        let mut gh = vec![[0f32; 2]; 4];
        gradients(Objective::Binary, &state, &y, &w, &mut gh);
        for i in 0..4 {
            let p = sigmoid(scores[i]);
            assert!((gh[i][0] as f64 - (p - y[i]) * w[i]).abs() < 1e-7);
            assert!((gh[i][1] as f64 - p * (1.0 - p) * w[i]).abs() < 1e-7);
        }
        assert_eq!(gh[1], [-1.0, 0.5]);
    }

    #[test]
    fn bins_every_distinct_value_when_few() {
        let m = BinMapper::new(&[1.0, 1.0, 2.0, 5.0], 255);
        assert_eq!(m.upper, vec![1.5, 3.5]);
        assert_eq!(m.bin(1.0), 0);
        assert_eq!(m.bin(1.5), 0);
        assert_eq!(m.bin(2.0), 1);
        assert_eq!(m.bin(100.0), 2);
        assert_eq!(m.bin(f64::NAN), 3);
    }

    /// The branch-free batch predictor walks the same paths as the plain tree walk, missing
    /// values included; and a model learns a planted signal.
    #[test]
    fn batch_prediction_equals_the_tree_walk() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let n = 3001;
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|_| {
                (0..4)
                    .map(|_| {
                        if rng.random::<f64>() < 0.05 {
                            f64::NAN
                        } else {
                            rng.random::<f64>()
                        }
                    })
                    .collect()
            })
            .collect();
        let y: Vec<f64> = rows
            .iter()
            .map(|r| ((r[0] > 0.5) as u8 as f64 + (r[1].is_nan() as u8 as f64) > 0.5) as u8 as f64)
            .collect();
        let x = Table::from_rows((0..4).map(|j| format!("x{j}")).collect(), &rows);
        let params = GbdtParams {
            n_estimators: 30,
            ..GbdtParams::default()
        };
        let m = Gbdt::fit(&params, &x, &y, None, None).unwrap();
        let fast = m.predict_raw(&x);
        for (i, r) in rows.iter().enumerate() {
            let slow = m
                .trees
                .iter()
                .fold(m.init_score, |s, t| s + t.predict_row(r));
            assert!(
                (fast[i] - slow).abs() < 1e-12,
                "row {i}: {} vs {slow}",
                fast[i]
            );
        }
        let auc = super::super::metrics::roc_auc(&y, &fast).unwrap();
        assert!(auc > 0.99, "AUC {auc}");
    }

    #[test]
    fn row_wise_histograms_equal_column_sums_with_16_and_32_bit_positions() {
        // 5 features fit 16-bit positions; 300 features of 255 bins (300 x 257 bins) need 32
        for (d, want_wide) in [(5usize, false), (300, true)] {
            let n = 5_000;
            let data: Vec<f64> = (0..n * d)
                .map(|k| {
                    // every 11th row missing
                    if (k / d) % 11 == 0 {
                        f64::NAN
                    } else {
                        ((k * 7_919 + k / d * 13) % 1_000) as f64
                    }
                })
                .collect();
            let x = Table {
                rows: n,
                cols: d,
                data,
                names: (0..d).map(|f| format!("f{f}")).collect(),
            };
            let params = GbdtParams::default();
            let binned = bin_table(&x, &bin_mappers(&x, &params));
            assert_eq!(matches!(binned.rows, RowBins::Wide(_)), want_wide);
            let gh: Vec<[f32; 2]> = (0..n)
                .map(|i| [((i % 17) as f32 - 8.0) / 8.0, 0.25 - (i % 5) as f32 / 40.0])
                .collect();
            let h = histogram(&binned, &gh, None);
            // the definition: per feature, sum over rows of its bin, in f64
            for f in [0, d / 2, d - 1] {
                let mut want = vec![(0.0f64, 0.0f64, 0u32); binned.sizes[f]];
                for (r, e) in gh.iter().enumerate() {
                    let b = binned.cols[f][r] as usize;
                    want[b].0 += e[0] as f64;
                    want[b].1 += e[1] as f64;
                    want[b].2 += 1;
                }
                assert_eq!(h[f].len(), want.len());
                for (got, w) in h[f].iter().zip(&want) {
                    assert_eq!(got.c, w.2, "feature {f}");
                    assert!((got.g - w.0).abs() < 1e-4 && (got.h - w.1).abs() < 1e-4);
                }
                assert!(want[want.len() - 1].2 > 0, "the missing bin is used");
            }
            // a leaf's rows (every third) against the same sums over those rows
            let leaf: Vec<u32> = (0..n as u32).filter(|r| r % 3 == 0).collect();
            let hl = histogram(&binned, &gh, Some(&leaf));
            let c: u32 = hl[d - 1].iter().map(|b| b.c).sum();
            assert_eq!(c as usize, leaf.len());
        }
    }

    #[test]
    fn bins_of_many_values_have_about_equal_counts() {
        let v: Vec<f64> = (0..10_000).map(|i| i as f64).collect();
        let m = BinMapper::new(&v, 10);
        assert_eq!(m.n_bins(), 10);
        let mut counts = vec![0; 11];
        for &x in &v {
            counts[m.bin(x) as usize] += 1;
        }
        assert!(
            counts[..10].iter().all(|&c| (900..=1100).contains(&c)),
            "{counts:?}"
        );
    }
}
