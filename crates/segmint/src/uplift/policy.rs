//! Which arm for whom: a shallow policy tree over doubly-robust scores, with its value on
//! held-out customers next to the simple alternatives.
//!
//! 1. **Scores.** For every customer i and arm a, the augmented inverse-propensity (doubly
//!    robust) score Γ_ia = μ_a(x_i) + 1[A_i = a] (Y_i - μ_a(x_i)) / e_a (Robins, Rotnitzky &
//!    Zhao 1994; Athey & Wager 2021, "Policy learning with observational data", eq. 7): its mean
//!    over any set of customers estimates their outcome had they all received arm a. The
//!    propensity e_a is the arm's share of the customers (a randomised experiment); the outcome
//!    model μ_a is a depth-3 regression tree per arm over the comparison's bins, cross-fitted on
//!    two halves of the training rows (each half scored by the trees of the other) and fitted on
//!    all training rows for the test rows. The reward of giving arm a is
//!    `value` x Γ_ia - cost_a.
//! 2. **Tree.** The policy is a tree of depth `depth` (2) whose leaves each give one arm,
//!    chosen to maximise the summed reward of the training rows: the search is exact at depth
//!    <= 2 (every pair of splits, as R's `policytree` does, from per-bin sums updated as the
//!    first split sweeps a feature's bins) and greedy below. Splits are the comparison's bin
//!    boundaries of numeric features (missing values on either side) and one category against
//!    the rest; every leaf keeps at least `min_share` of the training rows. A leaf gives a
//!    treatment only if it beats control there (ties go to control), and with a `risk_level`
//!    only if the lower bound of its gain over control is positive (a conservative policy).
//! 3. **Value.** On the test rows, the mean reward of the arm the policy gives each customer,
//!    with a 95% interval from the scores' standard error, next to everyone getting control,
//!    everyone getting the best single arm (best on the training rows) and a random arm. For a
//!    0/1 outcome the interval is the normal one of the per-customer scores' mean. For amounts
//!    (spend: zero for most customers, a heavy tail) the scores are not trimmed (that would bias
//!    the value) and the interval is the bootstrap-t one, which follows the mean's skew: in the
//!    test's simulation (1% non-zero log-normal amounts, 1,200 customers) the normal interval
//!    covers the true mean in about two thirds of the samples, the bootstrap-t one in about 90%;
//!    still below 95%, so such intervals remain somewhat optimistic.

use serde::{Deserialize, Serialize};

use super::bins::{condition, BinCond, BinRule, Binned, Condition};
use super::inference::{Acc, Z95};
use super::tree;
use crate::error::{Error, Result};
use crate::stats::quantile_sorted;

/// Settings of the policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyParams {
    /// Depth of the tree (2; exact search up to 2, greedy below).
    pub depth: usize,
    /// Smallest leaf, as a share of the training rows (0.05).
    pub min_share: f64,
    /// Cost per treated customer, per arm (control's is 0).
    pub costs: Vec<(String, f64)>,
    /// Value of one unit of the outcome (1: a rate's unit, or the amount itself).
    pub value: f64,
    /// Route on the lower bound of the gain over control at this level (e.g. 0.1: a one-sided
    /// 90% bound); `None`: on the estimate.
    pub risk_level: Option<f64>,
    /// Resamples of the bootstrap-t intervals of a numeric outcome's values (200).
    #[serde(default = "default_bootstrap")]
    pub bootstrap: usize,
}

fn default_bootstrap() -> usize {
    200
}

impl Default for PolicyParams {
    fn default() -> Self {
        PolicyParams {
            depth: 2,
            min_share: 0.05,
            costs: Vec::new(),
            value: 1.0,
            risk_level: None,
            bootstrap: default_bootstrap(),
        }
    }
}

impl PolicyParams {
    /// Checks the settings against the groups; the error names the setting.
    pub fn check(&self, groups: &[String], control: &str) -> Result<()> {
        if !(1..=4).contains(&self.depth) {
            return Err(Error::param("policy_depth", "must be 1, 2, 3 or 4"));
        }
        if !(self.min_share > 0.0 && self.min_share < 0.5) {
            return Err(Error::param("policy_min_share", "must be in (0, 0.5)"));
        }
        if !(self.value.is_finite() && self.value > 0.0) {
            return Err(Error::param("value", "must be a positive number"));
        }
        if let Some(r) = self.risk_level {
            if !(r > 0.0 && r < 0.5) {
                return Err(Error::param("risk_level", "must be in (0, 0.5), e.g. 0.1"));
            }
        }
        for (arm, c) in &self.costs {
            if !groups.contains(arm) {
                return Err(Error::param(
                    "cost",
                    format!("{arm:?} is not a group (groups: {})", groups.join(", ")),
                ));
            }
            if arm == control && *c != 0.0 {
                return Err(Error::param(
                    "cost",
                    format!("the control {control:?} has no cost per treated customer"),
                ));
            }
            if !c.is_finite() || *c < 0.0 {
                return Err(Error::param(
                    "cost",
                    format!("{arm:?}: must be a non-negative number"),
                ));
            }
        }
        Ok(())
    }
}

/// One leaf of the policy: who gets which arm.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyLeaf {
    /// The leaf's path as text (`everyone` at depth 0).
    pub rule: String,
    /// Its conditions.
    pub conditions: Vec<Condition>,
    /// The arm given.
    pub arm: String,
    /// Training customers in it.
    pub train_customers: usize,
    /// Test customers in it.
    pub test_customers: usize,
    /// Mean reward of every arm on its training rows (in `arms` order).
    #[serde(deserialize_with = "crate::output::nan::vec")]
    pub train_reward: Vec<f64>,
    /// Mean reward of every arm on its test rows.
    #[serde(deserialize_with = "crate::output::nan::vec")]
    pub test_reward: Vec<f64>,
}

/// A policy's (or baseline's) value on the test rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyValue {
    /// `policy`, `control`, `best single arm: <arm>`, `random`.
    pub name: String,
    /// Mean reward per customer.
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub value: f64,
    /// 95% interval.
    #[serde(deserialize_with = "crate::output::nan::pair")]
    pub ci: [f64; 2],
    /// Share of customers given a treatment (not control).
    pub treated_share: f64,
}

/// `policy.json`: the tree as rules, its value and the baselines'.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    /// The arms, control first.
    pub arms: Vec<String>,
    /// Each arm's share of the customers (its propensity).
    pub propensities: Vec<f64>,
    /// Each arm's cost per treated customer.
    pub costs: Vec<f64>,
    /// Value of one unit of the outcome.
    pub value_per_unit: f64,
    /// Settings.
    pub params: PolicyParams,
    /// The leaves, in tree order.
    pub leaves: Vec<PolicyLeaf>,
    /// The policy and the baselines on the test rows: policy, control, best single arm, random.
    pub value_test: Vec<PolicyValue>,
    /// The policy's gain over the best single arm on the test rows, with its 95% interval
    /// (paired over customers).
    pub gain_over_best_arm: PolicyValue,
    /// How the scores were made, in a sentence.
    pub method: String,
    /// Each arm against control on its test customers, ranked by the outcome model's predicted
    /// uplift (μ_arm - μ_control): the Qini coefficient and AUUC (scikit-uplift's normalised
    /// definitions, 0/1 outcomes) and the Qini curve.
    pub uplift_by_arm: Vec<ArmUplift>,
    /// The profit curve: the mean reward per test customer when only the given share of them,
    /// those with the largest predicted gain, get their best arm by the outcome model (the
    /// rest control), at 0%, 5%, ..., 100%.
    pub profit_curve: Vec<ProfitPoint>,
}

/// One point of the profit curve.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfitPoint {
    /// Share of the test customers treated.
    pub share_treated: f64,
    /// Mean reward per test customer (doubly robust).
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub value: f64,
}

/// The profit curve of [`Policy::profit_curve`]: test customers ranked by the outcome model's
/// best predicted gain over control, the first share treated with their best arm.
fn profit_curve(
    test: &[u32],
    mu: &[f64],
    rewards: &Rewards,
    costs: &[f64],
    value: f64,
) -> Vec<ProfitPoint> {
    let k = rewards.k;
    // (predicted gain, best arm) per test customer
    let mut ranked: Vec<(f64, usize, usize)> = test
        .iter()
        .map(|&i| {
            let i = i as usize;
            let pred = |a: usize| value * mu[i * k + a] - costs[a];
            let best = (1..k)
                .max_by(|&a, &b| pred(a).total_cmp(&pred(b)).then(b.cmp(&a)))
                .unwrap_or(0);
            (pred(best) - pred(0), best, i)
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)));
    let n = ranked.len().max(1) as f64;
    let base: f64 = ranked.iter().map(|r| rewards.row(r.2)[0]).sum();
    let mut gains = vec![0.0];
    for r in &ranked {
        let row = rewards.row(r.2);
        gains.push(gains.last().expect("a start") + row[r.1] - row[0]);
    }
    (0..=20)
        .map(|s| {
            let share = s as f64 / 20.0;
            let top = (share * ranked.len() as f64).round() as usize;
            ProfitPoint {
                share_treated: share,
                value: (base + gains[top]) / n,
            }
        })
        .collect()
}

/// One arm's uplift curves against control.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmUplift {
    /// The arm.
    pub arm: String,
    /// Its Qini coefficient, AUUC and Qini curve.
    pub curves: super::inference::UpliftCurves,
    /// 95% bootstrap percentile interval of the Qini coefficient (0/1 outcomes).
    #[serde(default)]
    pub qini_ci: Option<[f64; 2]>,
    /// Bootstrap resamples behind `qini_ci`.
    #[serde(default)]
    pub bootstrap: usize,
}

/// Resampled rows the Qini bands may cost in all (each resample sorts its rows): above it the
/// number of resamples shrinks, to no fewer than 50.
const QINI_BOOTSTRAP_ROWS: usize = 20_000_000;

/// The 95% percentile interval of the Qini coefficient over `b` seeded resamples of the rows
/// (each resample its own stream: the same at any thread count), and the resamples used.
fn qini_band(
    y: &[f64],
    treated: &[bool],
    score: &[f64],
    b: usize,
    seed: u64,
) -> (Option<[f64; 2]>, usize) {
    use rand::{Rng, SeedableRng};
    use rayon::prelude::*;
    let n = y.len();
    if n == 0 || b == 0 {
        return (None, 0);
    }
    let b = b.min((QINI_BOOTSTRAP_ROWS / n).max(50));
    let mut q: Vec<f64> = (0..b)
        .into_par_iter()
        .filter_map(|r| {
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(
                seed ^ (r as u64 + 1).wrapping_mul(0xd1b5_4a32_d192_ed03),
            );
            let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            let pick = |v: &[f64]| -> Vec<f64> { idx.iter().map(|&i| v[i]).collect() };
            let t: Vec<bool> = idx.iter().map(|&i| treated[i]).collect();
            super::inference::uplift_curves(&pick(y), &t, &pick(score), true).qini_coefficient
        })
        .collect();
    if q.len() < b / 2 {
        return (None, b);
    }
    q.sort_unstable_by(f64::total_cmp);
    let at = |p: f64| quantile_sorted(&q, p);
    (Some([at(0.025), at(0.975)]), b)
}

/// A node of the fitted tree.
#[derive(Debug, Clone)]
enum Node {
    Leaf(usize),
    Split(BinCond, Box<Node>, Box<Node>),
}

/// The rewards of every customer and arm (row-major, `k` per customer).
struct Rewards {
    k: usize,
    r: Vec<f64>,
}

impl Rewards {
    fn row(&self, i: usize) -> &[f64] {
        &self.r[i * self.k..(i + 1) * self.k]
    }
}

/// Per-arm reward sums of a set of rows: count, sums and sums of squares.
#[derive(Debug, Clone, Default)]
struct Sums {
    n: f64,
    sum: Vec<f64>,
    sq: Vec<f64>,
}

impl Sums {
    fn new(k: usize) -> Sums {
        Sums {
            n: 0.0,
            sum: vec![0.0; k],
            sq: vec![0.0; k],
        }
    }
    fn add(&mut self, r: &[f64]) {
        self.n += 1.0;
        for (a, &v) in r.iter().enumerate() {
            self.sum[a] += v;
            self.sq[a] += v * v;
        }
    }
}

/// Choosing a leaf's arm: the control unless a treatment beats it (on the lower bound of the
/// gain with a risk level).
struct Chooser {
    control: usize,
    z: Option<f64>,
    k: usize,
}

impl Chooser {
    /// The arm and the leaf's summed reward, from a cell of channels `[n, sums.., squares..]`.
    fn choose(&self, cell: &[f64]) -> (usize, f64) {
        let (n, sum, sq) = (cell[0], &cell[1..1 + self.k], &cell[1 + self.k..]);
        let c = self.control;
        let mut best = (c, sum[c]);
        for a in 0..self.k {
            if a == c {
                continue;
            }
            let gain = match self.z {
                None => sum[a] - sum[c],
                Some(z) => {
                    let var = |x: usize| ((sq[x] - sum[x] * sum[x] / n) / (n - 1.0)).max(0.0);
                    let se = ((var(a) + var(c)) / n).sqrt();
                    n * ((sum[a] - sum[c]) / n - z * se)
                }
            };
            if gain > 0.0 && sum[a] > best.1 {
                best = (a, sum[a]);
            }
        }
        best
    }
}

/// The search's layout: per feature and bin one cell of `1 + 2k` channels (count, reward sums,
/// sums of squares), features after each other in one flat table.
struct Layout {
    channels: usize,
    /// Start of each feature's cells.
    offset: Vec<usize>,
    len: usize,
}

impl Layout {
    fn new(bins: &[Binned], k: usize) -> Layout {
        let channels = 1 + 2 * k;
        let mut offset = Vec::with_capacity(bins.len());
        let mut at = 0;
        for b in bins {
            offset.push(at);
            at += b.n_bins() * channels;
        }
        Layout {
            channels,
            offset,
            len: at,
        }
    }

    /// The sums of `rows` per feature and bin.
    fn table(&self, bins: &[Binned], rewards: &Rewards, rows: &[u32]) -> Vec<f64> {
        let k = rewards.k;
        let mut t = vec![0.0; self.len];
        for &i in rows {
            let r = rewards.row(i as usize);
            for (j, b) in bins.iter().enumerate() {
                let at = self.offset[j] + b.bins[i as usize] as usize * self.channels;
                let cell = &mut t[at..at + self.channels];
                cell[0] += 1.0;
                for a in 0..k {
                    cell[1 + a] += r[a];
                    cell[1 + k + a] += r[a] * r[a];
                }
            }
        }
        t
    }
}

fn add_into(dst: &mut [f64], src: &[f64]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
}

fn minus(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// A split of one feature: for a numeric feature the value bins up to `upto` (and the
/// missing bin when `missing_left`), for a category its one bin; `missing_only`: the missing
/// bin alone.
#[derive(Debug, Clone, Copy)]
enum Split {
    UpTo { upto: usize, missing_left: bool },
    Category(usize),
    MissingOnly,
}

fn split_cond(b: &Binned, feature: usize, s: Split) -> BinCond {
    let mut allowed = vec![false; b.n_bins()];
    let miss = b.missing_bin();
    match s {
        Split::UpTo { upto, missing_left } => {
            allowed[..=upto].iter_mut().for_each(|a| *a = true);
            allowed[miss] = missing_left;
        }
        Split::Category(c) => allowed[c] = true,
        Split::MissingOnly => allowed[miss] = true,
    }
    BinCond { feature, allowed }
}

/// The splits of one feature with the left side's cell sums, from the feature's per-bin cells.
fn each_split(b: &Binned, cells: &[f64], ch: usize, mut f: impl FnMut(Split, &[f64])) {
    let miss = b.missing_bin();
    let missing = &cells[miss * ch..(miss + 1) * ch];
    if b.is_numeric() {
        let mut left = vec![0.0; ch];
        for s in 0..b.n_values().saturating_sub(1) {
            add_into(&mut left, &cells[s * ch..(s + 1) * ch]);
            f(
                Split::UpTo {
                    upto: s,
                    missing_left: false,
                },
                &left,
            );
            if missing[0] > 0.0 {
                let mut with = left.clone();
                add_into(&mut with, missing);
                f(
                    Split::UpTo {
                        upto: s,
                        missing_left: true,
                    },
                    &with,
                );
            }
        }
    } else {
        for c in 0..b.n_values() {
            f(Split::Category(c), &cells[c * ch..(c + 1) * ch]);
        }
    }
    if missing[0] > 0.0 {
        f(Split::MissingOnly, missing);
    }
}

/// The whole set's cell: the sum of any one feature's cells.
fn total_cell(t: &[f64], lay: &Layout, bins: &[Binned]) -> Vec<f64> {
    let ch = lay.channels;
    let mut total = vec![0.0; ch];
    for b in 0..bins[0].n_bins() {
        add_into(&mut total, &t[b * ch..(b + 1) * ch]);
    }
    total
}

/// The best single split (or none) of the rows whose table is `t`: (summed reward, split).
fn best_stump(
    t: &[f64],
    lay: &Layout,
    bins: &[Binned],
    chooser: &Chooser,
    min_leaf: f64,
) -> (f64, Option<BinCond>) {
    let ch = lay.channels;
    let total = total_cell(t, lay, bins);
    let (_, mut best_v) = chooser.choose(&total);
    let floor = best_v;
    let mut best = None;
    for (j, b) in bins.iter().enumerate() {
        let cells = &t[lay.offset[j]..lay.offset[j] + b.n_bins() * ch];
        each_split(b, cells, ch, |s, left| {
            let right = minus(&total, left);
            if left[0] < min_leaf || right[0] < min_leaf {
                return;
            }
            let (la, lv) = chooser.choose(left);
            let (ra, rv) = chooser.choose(&right);
            // a split must change the arm somewhere and gain more than rounding
            if la != ra && lv + rv > best_v + 1e-9 * floor.abs().max(1.0) {
                best_v = lv + rv;
                best = Some(split_cond(b, j, s));
            }
        });
    }
    (best_v, best)
}

/// The reward-maximising tree of `depth` on `rows` (exact for depth <= 2, greedy below).
fn grow(
    bins: &[Binned],
    rewards: &Rewards,
    rows: &[u32],
    depth: usize,
    chooser: &Chooser,
    min_leaf: f64,
    lay: &Layout,
) -> Node {
    let ch = lay.channels;
    if bins.is_empty() {
        let mut s = vec![0.0; ch];
        for &i in rows {
            let r = rewards.row(i as usize);
            s[0] += 1.0;
            for a in 0..rewards.k {
                s[1 + a] += r[a];
                s[1 + rewards.k + a] += r[a] * r[a];
            }
        }
        return Node::Leaf(chooser.choose(&s).0);
    }
    let table = lay.table(bins, rewards, rows);
    let total = total_cell(&table, lay, bins);
    let leaf = Node::Leaf(chooser.choose(&total).0);
    if depth == 0 || total[0] < 2.0 * min_leaf {
        return leaf;
    }
    let (stump_value, stump) = best_stump(&table, lay, bins, chooser, min_leaf);
    // exact two levels: every first split, each side's best stump from the first feature's
    // per-bin tables
    let mut best_two: Option<(f64, BinCond)> = None;
    if depth >= 2 {
        let floor = stump_value;
        let mut best_v = stump_value;
        for (j, b) in bins.iter().enumerate() {
            let per_bin = rows_by_bin(b, rows);
            let parts: Vec<Vec<f64>> = per_bin
                .iter()
                .map(|r| lay.table(bins, rewards, r))
                .collect();
            let cells = &table[lay.offset[j]..lay.offset[j] + b.n_bins() * ch];
            // the left side's table of each split, built as each_split walks the bins
            let miss = b.missing_bin();
            let mut cum = vec![0.0; lay.len];
            let mut last_upto: Option<usize> = None;
            each_split(b, cells, ch, |s, left_cell| {
                let right_n = total[0] - left_cell[0];
                if left_cell[0] < min_leaf || right_n < min_leaf {
                    if let Split::UpTo { upto, .. } = s {
                        if last_upto != Some(upto) {
                            add_into(&mut cum, &parts[upto]);
                            last_upto = Some(upto);
                        }
                    }
                    return;
                }
                let left: Vec<f64> = match s {
                    Split::UpTo { upto, missing_left } => {
                        if last_upto != Some(upto) {
                            add_into(&mut cum, &parts[upto]);
                            last_upto = Some(upto);
                        }
                        let mut l = cum.clone();
                        if missing_left {
                            add_into(&mut l, &parts[miss]);
                        }
                        l
                    }
                    Split::Category(c) => parts[c].clone(),
                    Split::MissingOnly => parts[miss].clone(),
                };
                let right = minus(&table, &left);
                let (lv, _) = best_stump(&left, lay, bins, chooser, min_leaf);
                let (rv, _) = best_stump(&right, lay, bins, chooser, min_leaf);
                if lv + rv > best_v + 1e-9 * floor.abs().max(1.0) {
                    best_v = lv + rv;
                    best_two = Some((best_v, split_cond(b, j, s)));
                }
            });
        }
    }
    let split = match (best_two, stump) {
        (Some((_, c)), _) => c,
        (None, Some(c)) => c,
        (None, None) => return leaf,
    };
    let (l, r): (Vec<u32>, Vec<u32>) = rows
        .iter()
        .partition(|&&i| split.allowed[bins[split.feature].bins[i as usize] as usize]);
    let left = grow(bins, rewards, &l, depth - 1, chooser, min_leaf, lay);
    let right = grow(bins, rewards, &r, depth - 1, chooser, min_leaf, lay);
    match (&left, &right) {
        (Node::Leaf(a), Node::Leaf(b)) if a == b => Node::Leaf(*a),
        _ => Node::Split(split, Box::new(left), Box::new(right)),
    }
}

fn rows_by_bin(b: &Binned, rows: &[u32]) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); b.n_bins()];
    for &i in rows {
        out[b.bins[i as usize] as usize].push(i);
    }
    out
}

/// The leaves of a tree with their path rules.
fn leaves(node: &Node, rule: BinRule, depth: usize, out: &mut Vec<(BinRule, usize)>) {
    match node {
        Node::Leaf(a) => out.push((rule, *a)),
        Node::Split(c, l, r) => {
            let not = BinCond {
                feature: c.feature,
                allowed: c.allowed.iter().map(|a| !a).collect(),
            };
            if let Some(lr) = rule.and(c, depth) {
                leaves(l, lr, depth, out);
            }
            if let Some(rr) = rule.and(&not, depth) {
                leaves(r, rr, depth, out);
            }
        }
    }
}

fn assign(node: &Node, bins: &[Binned], row: usize) -> usize {
    match node {
        Node::Leaf(a) => *a,
        Node::Split(c, l, r) => {
            if c.allowed[bins[c.feature].bins[row] as usize] {
                assign(l, bins, row)
            } else {
                assign(r, bins, row)
            }
        }
    }
}

/// Doubly robust scores of every customer (row-major, `k` per customer) and the outcome
/// model's predictions they were built from; `arm[i]` is customer i's arm index (0 =
/// control), `e` the propensities.
fn dr_scores(
    bins: &[Binned],
    arm: &[usize],
    y: &[f64],
    train: &[u32],
    test: &[u32],
    e: &[f64],
    seed: u64,
) -> (Vec<f64>, Vec<f64>) {
    let k = e.len();
    let n = y.len();
    let mut mu = vec![0.0; n * k];
    // the outcome model of each arm: a shallow tree on that arm's rows of `fit_rows`, used for
    // the rows `score_rows`
    let mut fit_and_score = |fit_rows: &[u32], score_rows: &[u32]| {
        for a in 0..k {
            let rows: Vec<u32> = fit_rows
                .iter()
                .copied()
                .filter(|&i| arm[i as usize] == a)
                .collect();
            let min_leaf = (rows.len() / 50).max(30);
            let t = tree::fit(bins, &rows, y, 3, min_leaf);
            for &i in score_rows {
                mu[i as usize * k + a] = t.predict(bins, i as usize);
            }
        }
    };
    // two seeded halves of the training rows, each scored by the other's trees
    let mut halves = (Vec::new(), Vec::new());
    for &i in train {
        let h = (i as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(seed)
            .rotate_left(17);
        if h % 2 == 0 {
            halves.0.push(i)
        } else {
            halves.1.push(i)
        }
    }
    fit_and_score(&halves.0, &halves.1);
    fit_and_score(&halves.1, &halves.0);
    fit_and_score(train, test);
    let mut g = mu.clone();
    for i in 0..n {
        let a = arm[i];
        g[i * k + a] += (y[i] - g[i * k + a]) / e[a];
    }
    (g, mu)
}

/// Mean and normal 95% interval of per-customer values.
fn mean_ci(values: &[f64]) -> (f64, [f64; 2]) {
    let mut acc = Acc::default();
    values.iter().for_each(|&v| acc.add(v));
    let m = acc.mean();
    let se = (acc.variance() / acc.n).sqrt();
    (m, [m - Z95 * se, m + Z95 * se])
}

/// Mean and bootstrap-t 95% interval of per-customer values (Efron & Tibshirani 1993, ch. 12):
/// the studentised mean's 2.5% and 97.5% quantiles over `b` resamples replace the normal ±1.96.
/// For amounts that are zero for most customers the mean is skewed and the normal interval too
/// narrow; the studentised bootstrap follows the skew. Each resample has its own seeded stream,
/// so the interval is the same at any thread count.
fn mean_ci_bootstrap_t(values: &[f64], b: usize, seed: u64) -> (f64, [f64; 2]) {
    use rand::{Rng, SeedableRng};
    use rayon::prelude::*;
    let n = values.len();
    let (m, normal) = mean_ci(values);
    let se = (normal[1] - m) / Z95;
    if n < 2 || se.is_nan() || se <= 0.0 || b < 20 {
        return (m, normal);
    }
    let mut t: Vec<f64> = (0..b)
        .into_par_iter()
        .filter_map(|r| {
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(
                seed ^ (r as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            let mut acc = Acc::default();
            for _ in 0..n {
                acc.add(values[rng.random_range(0..n)]);
            }
            let seb = (acc.variance() / acc.n).sqrt();
            (seb > 0.0).then(|| (acc.mean() - m) / seb)
        })
        .collect();
    if t.len() < 20 {
        return (m, normal);
    }
    t.sort_unstable_by(f64::total_cmp);
    let q = |p: f64| quantile_sorted(&t, p);
    (m, [m - q(0.975) * se, m - q(0.025) * se])
}

/// The standard normal quantile of `1 - level` by bisection on the two-sided p-value.
fn z_upper(level: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 10.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if super::inference::normal_two_sided_p(mid) / 2.0 > level {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// A category condition that allows every category but one reads better as `x is not v`
/// (the other side of a one-category split); `None` for any other condition.
fn all_but_one_text(b: &Binned, c: &Condition) -> Option<String> {
    let (
        super::bins::BinKind::Cat {
            labels,
            boolean: false,
        },
        super::bins::Test::In { values },
    ) = (&b.kind, &c.test)
    else {
        return None;
    };
    if labels.len() < 3 || values.len() + 1 != labels.len() || c.missing {
        return None;
    }
    let left = labels.iter().find(|l| !values.contains(l))?;
    Some(format!("{} is not {left}", c.feature))
}

/// The inputs of [`fit_policy`].
pub struct PolicyInput<'a> {
    /// The comparison's bins.
    pub bins: &'a [Binned],
    /// Group labels (sorted) and each customer's group index.
    pub groups: &'a [String],
    /// Group index per customer.
    pub group: &'a [u32],
    /// Outcome per customer.
    pub outcome: &'a [f64],
    /// Training and test rows.
    pub train: &'a [u32],
    /// See `train`.
    pub test: &'a [u32],
    /// The control group's label.
    pub control: &'a str,
    /// Seed of the cross-fitting halves.
    pub seed: u64,
}

/// Fits the policy and values it on the test rows; also returns each customer's arm.
pub fn fit_policy(inp: &PolicyInput, p: &PolicyParams) -> Result<(Policy, Vec<String>)> {
    p.check(inp.groups, inp.control)?;
    let c = inp
        .groups
        .iter()
        .position(|g| g == inp.control)
        .ok_or_else(|| {
            Error::param(
                "control",
                format!(
                    "{:?} is not a group (groups: {})",
                    inp.control,
                    inp.groups.join(", ")
                ),
            )
        })?;
    // arms: control first, then the others in label order
    let mut order: Vec<usize> = vec![c];
    order.extend((0..inp.groups.len()).filter(|&g| g != c));
    let arms: Vec<String> = order.iter().map(|&g| inp.groups[g].clone()).collect();
    let k = arms.len();
    let arm_of_group: Vec<usize> = (0..inp.groups.len())
        .map(|g| order.iter().position(|&o| o == g).expect("every group"))
        .collect();
    let arm: Vec<usize> = inp
        .group
        .iter()
        .map(|&g| arm_of_group[g as usize])
        .collect();
    let n = arm.len();
    let mut e = vec![0.0; k];
    arm.iter().for_each(|&a| e[a] += 1.0);
    e.iter_mut().for_each(|v| *v /= n as f64);
    let costs: Vec<f64> = arms
        .iter()
        .map(|a| {
            p.costs
                .iter()
                .find(|(name, _)| name == a)
                .map_or(0.0, |x| x.1)
        })
        .collect();
    let (g, mu) = dr_scores(
        inp.bins,
        &arm,
        inp.outcome,
        inp.train,
        inp.test,
        &e,
        inp.seed,
    );
    let rewards = Rewards {
        k,
        r: g.chunks(k)
            .flat_map(|row| row.iter().zip(&costs).map(|(v, c)| p.value * v - c))
            .collect(),
    };
    let chooser = Chooser {
        control: 0,
        z: p.risk_level.map(z_upper),
        k,
    };
    let min_leaf = (p.min_share * inp.train.len() as f64).max(1.0);
    let lay = Layout::new(inp.bins, k);
    let root = grow(
        inp.bins, &rewards, inp.train, p.depth, &chooser, min_leaf, &lay,
    );
    let recommended: Vec<usize> = (0..n).map(|i| assign(&root, inp.bins, i)).collect();
    let mut paths = Vec::new();
    leaves(&root, BinRule::default(), p.depth, &mut paths);
    let mean_reward = |rows: &[u32], rule: &BinRule| -> (usize, Vec<f64>) {
        let mut s = Sums::new(k);
        rows.iter()
            .filter(|&&i| rule.matches(inp.bins, i as usize))
            .for_each(|&i| s.add(rewards.row(i as usize)));
        (s.n as usize, s.sum.iter().map(|v| v / s.n).collect())
    };
    // no customer has a missing value of a feature: its conditions do not mention missing
    let shown = |c: &BinCond| -> Condition {
        let b = &inp.bins[c.feature];
        let mut c = c.clone();
        if !b.occupied()[b.missing_bin()] {
            c.allowed[b.missing_bin()] = false;
        }
        condition(inp.bins, &c)
    };
    let leaves: Vec<PolicyLeaf> = paths
        .iter()
        .map(|(rule, a)| {
            let conditions: Vec<Condition> = rule.conds.iter().map(shown).collect();
            let text = if conditions.is_empty() {
                "everyone".to_string()
            } else {
                rule.conds
                    .iter()
                    .zip(&conditions)
                    .map(|(bc, c)| {
                        all_but_one_text(&inp.bins[bc.feature], c).unwrap_or_else(|| c.text())
                    })
                    .collect::<Vec<_>>()
                    .join(" and ")
            };
            let (train_customers, train_reward) = mean_reward(inp.train, rule);
            let (test_customers, test_reward) = mean_reward(inp.test, rule);
            PolicyLeaf {
                rule: text,
                conditions,
                arm: arms[*a].clone(),
                train_customers,
                test_customers,
                train_reward,
                test_reward,
            }
        })
        .collect();
    // the baselines
    let train_mean = mean_reward(inp.train, &BinRule::default()).1;
    let best_arm = (0..k)
        .max_by(|&a, &b| train_mean[a].total_cmp(&train_mean[b]).then(b.cmp(&a)))
        .expect("arms");
    let test = inp.test;
    // rates: the normal interval; amounts: the bootstrap-t interval (skewed means)
    let binary = inp.outcome.iter().all(|&v| v == 0.0 || v == 1.0);
    let value_of = |name: String, pick: &dyn Fn(usize) -> f64, treated: f64| {
        let v: Vec<f64> = test.iter().map(|&i| pick(i as usize)).collect();
        let (value, ci) = if binary {
            mean_ci(&v)
        } else {
            mean_ci_bootstrap_t(&v, p.bootstrap, inp.seed)
        };
        PolicyValue {
            name,
            value,
            ci,
            treated_share: treated,
        }
    };
    let treated = test
        .iter()
        .filter(|&&i| recommended[i as usize] != 0)
        .count() as f64
        / test.len().max(1) as f64;
    let value_test = vec![
        value_of(
            "policy".into(),
            &|i| rewards.row(i)[recommended[i]],
            treated,
        ),
        value_of("control".into(), &|i| rewards.row(i)[0], 0.0),
        value_of(
            format!("best single arm: {}", arms[best_arm]),
            &|i| rewards.row(i)[best_arm],
            if best_arm == 0 { 0.0 } else { 1.0 },
        ),
        value_of(
            "random".into(),
            &|i| rewards.row(i).iter().sum::<f64>() / k as f64,
            (k - 1) as f64 / k as f64,
        ),
    ];
    let gain_over_best_arm = value_of(
        "policy - best single arm".into(),
        &|i| rewards.row(i)[recommended[i]] - rewards.row(i)[best_arm],
        treated,
    );
    // each arm against control on its test customers, ranked by the outcome model's uplift
    let uplift_by_arm: Vec<ArmUplift> = (1..k)
        .map(|a| {
            let rows: Vec<usize> = test
                .iter()
                .map(|&i| i as usize)
                .filter(|&i| arm[i] == a || arm[i] == 0)
                .collect();
            let y: Vec<f64> = rows.iter().map(|&i| inp.outcome[i]).collect();
            let treated: Vec<bool> = rows.iter().map(|&i| arm[i] == a).collect();
            let score: Vec<f64> = rows.iter().map(|&i| mu[i * k + a] - mu[i * k]).collect();
            let (qini_ci, bootstrap) = if binary {
                qini_band(
                    &y,
                    &treated,
                    &score,
                    p.bootstrap,
                    inp.seed.wrapping_add(a as u64),
                )
            } else {
                (None, 0)
            };
            ArmUplift {
                arm: arms[a].clone(),
                curves: super::inference::uplift_curves(&y, &treated, &score, binary),
                qini_ci,
                bootstrap,
            }
        })
        .collect();
    let profit_curve = profit_curve(test, &mu, &rewards, &costs, p.value);
    let policy = Policy {
        profit_curve,
        uplift_by_arm,
        propensities: e,
        costs,
        value_per_unit: p.value,
        params: p.clone(),
        leaves,
        value_test,
        gain_over_best_arm,
        method: format!(
            "doubly robust scores (propensities: the arms' shares; outcome model: a depth-3 tree per arm, cross-fitted on two halves of the {} training customers), policy tree of depth {} ({}), valued on {} test customers",
            inp.train.len(),
            p.depth,
            if p.depth <= 2 { "exact search" } else { "exact two levels, greedy below" },
            test.len()
        ),
        arms: arms.clone(),
    };
    Ok((
        policy,
        recommended.iter().map(|&a| arms[a].clone()).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uplift::bins::{Feature, FeatureValues};
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// Three arms over three uniform features: arm "a" is best where x0 > 0.5, arm "b" where
    /// x0 <= 0.5 and x1 > 0.6, control elsewhere (`effects`: +15 points for the best arm, -5
    /// for the other); x2 is noise.
    struct Planted {
        bins: Vec<Binned>,
        groups: Vec<String>,
        group: Vec<u32>,
        y: Vec<f64>,
        truth: Vec<usize>,
        train: Vec<u32>,
        test: Vec<u32>,
    }

    impl Planted {
        fn new(n: usize, seed: u64, effects: bool) -> Planted {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let x: Vec<[f64; 3]> = (0..n)
                .map(|_| [rng.random(), rng.random(), rng.random()])
                .collect();
            let group: Vec<u32> = (0..n).map(|_| rng.random_range(0..3u32)).collect();
            let best = |r: &[f64; 3]| -> usize {
                if r[0] > 0.5 {
                    1
                } else if r[1] > 0.6 {
                    2
                } else {
                    0
                }
            };
            let y: Vec<f64> = x
                .iter()
                .zip(&group)
                .map(|(r, &g)| {
                    let mut p = 0.2;
                    if effects && g != 0 {
                        p += if best(r) == g as usize { 0.15 } else { -0.05 };
                    }
                    (rng.random::<f64>() < p) as u8 as f64
                })
                .collect();
            let all: Vec<u32> = (0..n as u32).collect();
            let bins = (0..3)
                .map(|j| {
                    Binned::new(
                        &Feature {
                            name: format!("x{j}"),
                            values: FeatureValues::Num(x.iter().map(|r| r[j]).collect()),
                        },
                        &all,
                    )
                })
                .collect();
            let (train, test) = all.iter().partition(|&&i| i % 10 < 7);
            Planted {
                bins,
                groups: vec!["control".into(), "a".into(), "b".into()],
                group,
                y,
                truth: x.iter().map(best).collect(),
                train,
                test,
            }
        }

        fn fit(&self, p: &PolicyParams) -> (Policy, Vec<String>) {
            let inp = PolicyInput {
                bins: &self.bins,
                groups: &self.groups,
                group: &self.group,
                outcome: &self.y,
                train: &self.train,
                test: &self.test,
                control: "control",
                seed: 42,
            };
            fit_policy(&inp, p).unwrap()
        }
    }

    #[test]
    fn recovers_the_planted_best_arms() {
        let d = Planted::new(30_000, 1, true);
        let (policy, rec) = d.fit(&PolicyParams::default());
        let right = d
            .test
            .iter()
            .filter(|&&i| rec[i as usize] == d.groups[d.truth[i as usize]])
            .count() as f64
            / d.test.len() as f64;
        assert!(
            right >= 0.9,
            "{right} of test customers get the planted best arm: {:#?}",
            policy.leaves
        );
        let v = &policy.value_test;
        assert_eq!(v[0].name, "policy");
        assert!(
            v[0].value > v[2].value,
            "policy {} vs best arm {}",
            v[0].value,
            v[2].value
        );
        // the true value of the right policy: 0.2 + 0.15 everywhere but the control region
        // (x0 <= 0.5 and x1 <= 0.6: 30% of customers)
        let truth = 0.2 + 0.15 * 0.7;
        assert!(
            v[0].ci[0] < truth && v[0].ci[1] > truth - 0.03,
            "{:?}",
            v[0]
        );
        assert_eq!(policy.arms[0], "control");
        // the profit curve starts at control's value and ends at the best arm per customer
        let pc = &policy.profit_curve;
        assert_eq!(pc.len(), 21);
        assert!((pc[0].value - v[1].value).abs() < 1e-12);
        assert!(pc[10].value > pc[0].value);
        // each arm's outcome-model uplift ranks its test customers better than random
        assert_eq!(policy.uplift_by_arm.len(), 2);
        for u in &policy.uplift_by_arm {
            let q = u.curves.qini_coefficient.unwrap();
            assert!(q > 0.1, "{}: Qini {q}", u.arm);
            // its bootstrap band holds it and excludes 0
            let [lo, hi] = u.qini_ci.unwrap();
            assert!(
                lo < q && q < hi && lo > 0.0,
                "{}: {lo} .. {hi} around {q}",
                u.arm
            );
            assert_eq!(u.bootstrap, 200);
        }
    }

    #[test]
    fn costs_above_any_lift_treat_nobody() {
        let d = Planted::new(20_000, 2, true);
        let p = PolicyParams {
            costs: vec![("a".into(), 0.5), ("b".into(), 0.5)],
            ..PolicyParams::default()
        };
        let (policy, rec) = d.fit(&p);
        assert!(rec.iter().all(|a| a == "control"), "{:#?}", policy.leaves);
        assert_eq!(policy.leaves.len(), 1);
        assert_eq!(policy.leaves[0].rule, "everyone");
        assert_eq!(policy.value_test[0].treated_share, 0.0);
    }

    /// No arm differs: whatever noise the training search fits, the held-out value of the
    /// policy is that of control within noise and its gain over the best single arm is not
    /// significant (the test rows are the honest check of a fitted policy).
    #[test]
    fn without_effects_the_policy_gains_nothing_on_test_rows() {
        for seed in 0..3 {
            let d = Planted::new(20_000, 10 + seed, false);
            let p = PolicyParams {
                risk_level: Some(0.05),
                ..PolicyParams::default()
            };
            let (policy, _) = d.fit(&p);
            let (pv, cv) = (&policy.value_test[0], &policy.value_test[1]);
            assert!(
                (pv.value - cv.value).abs() < 0.03,
                "{} vs {}",
                pv.value,
                cv.value
            );
            let g = &policy.gain_over_best_arm;
            assert!(g.ci[0] < 0.0 && g.ci[1] > -0.05, "{g:?}");
        }
    }

    /// Zero-inflated heavy-tailed amounts (1% non-zero, log-normal sigma 1.5, n = 1,200; true
    /// mean 0.01 e^1.125): over 200 samples the bootstrap-t interval covers the true mean far
    /// more often than the normal one.
    #[test]
    fn bootstrap_t_covers_skewed_means_better_than_normal() {
        use rand_distr::{Distribution, StandardNormal};
        let truth = 0.01 * (1.5f64 * 1.5 / 2.0).exp();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let (mut normal, mut boot) = (0, 0);
        let reps = 200;
        for r in 0..reps {
            let v: Vec<f64> = (0..1200)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    if rng.random::<f64>() < 0.01 {
                        (1.5 * z).exp()
                    } else {
                        0.0
                    }
                })
                .collect();
            let (_, a) = mean_ci(&v);
            let (_, b) = mean_ci_bootstrap_t(&v, 200, r);
            normal += (a[0] < truth && truth < a[1]) as usize;
            boot += (b[0] < truth && truth < b[1]) as usize;
        }
        let (n, b) = (normal as f64 / reps as f64, boot as f64 / reps as f64);
        eprintln!("coverage: normal {n}, bootstrap-t {b}");
        assert!(b >= 0.85, "bootstrap-t coverage {b}");
        assert!(b > n + 0.1, "normal {n}, bootstrap-t {b}");
    }

    #[test]
    fn all_but_one_category_reads_as_is_not() {
        let f = Feature {
            name: "channel".into(),
            values: FeatureValues::Cat {
                codes: vec![Some(0), Some(1), Some(2), Some(1)],
                labels: vec!["Phone".into(), "Web".into(), "Multichannel".into()],
                boolean: false,
            },
        };
        let b = Binned::new(&f, &[0, 1, 2, 3]);
        let c = |values: &[&str]| Condition {
            feature: "channel".into(),
            test: super::super::bins::Test::In {
                values: values.iter().map(|v| v.to_string()).collect(),
            },
            missing: false,
        };
        assert_eq!(
            all_but_one_text(&b, &c(&["Phone", "Multichannel"])).as_deref(),
            Some("channel is not Web")
        );
        assert_eq!(all_but_one_text(&b, &c(&["Phone"])), None);
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let groups = vec!["c".to_string(), "t".to_string()];
        let e = PolicyParams {
            costs: vec![("x".into(), 1.0)],
            ..PolicyParams::default()
        }
        .check(&groups, "c")
        .unwrap_err();
        assert!(e.to_string().contains("\"x\" is not a group"), "{e}");
        let e = PolicyParams {
            depth: 7,
            ..PolicyParams::default()
        }
        .check(&groups, "c")
        .unwrap_err();
        assert!(e.to_string().contains("policy_depth"), "{e}");
    }
}
