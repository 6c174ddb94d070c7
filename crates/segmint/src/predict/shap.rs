//! Per-row feature contributions of the gradient-boosting models: exact path-dependent TreeSHAP.
//!
//! Lundberg, Erion & Lee (2018), "Consistent individualized feature attribution for tree
//! ensembles", Algorithm 2 (and Lundberg et al. 2020, Nature Machine Intelligence): the Shapley
//! values of the tree's prediction with the value of a feature subset S defined as the tree
//! evaluated with the features outside S integrated out along the tree's own splits, each
//! branch weighted by the training rows that took it (the node's "cover"). The algorithm keeps,
//! along the root-to-leaf path, the weights of every subset size of the features seen so far,
//! so a tree costs O(leaves x depth²) per row instead of the 2^M subsets of the definition.
//! LightGBM's `predict(pred_contrib=True)` and the `shap` package compute the same quantity
//! (LightGBM: `Tree::TreeSHAP` in `src/io/tree.cpp`, which this follows, with the node counts of
//! the training rows as cover).
//!
//! The contributions of a row plus the expected value (the cover-weighted mean of the leaves,
//! plus the model's initial score) sum to the row's raw score (log-odds for churn and
//! conversion).

use rayon::prelude::*;

use super::gbdt::{Gbdt, Tree};
use super::Table;
use crate::error::{Error, Result};

/// One step of the path from the root: the feature split on, the share of the cover that
/// follows the path when the feature is unknown (`zero`) and whether the row's value follows it
/// (`one`, 0 or 1), and the weight of the subsets of this size.
#[derive(Debug, Clone, Copy)]
struct PathElement {
    feature: i64,
    zero: f64,
    one: f64,
    weight: f64,
}

/// Adds a split as element `d` of `path` (elements `0..d` are the path so far) and updates the
/// subset-size weights.
fn extend(path: &mut [PathElement], d: usize, zero: f64, one: f64, feature: i64) {
    path[d] = PathElement {
        feature,
        zero,
        one,
        weight: if d == 0 { 1.0 } else { 0.0 },
    };
    let d1 = (d + 1) as f64;
    for i in (0..d).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / d1;
        path[i].weight = zero * path[i].weight * (d - i) as f64 / d1;
    }
}

/// Removes element `index` from the path of elements `0..=d`, undoing its [`extend`].
fn unwind(path: &mut [PathElement], d: usize, index: usize) {
    let (one, zero) = (path[index].one, path[index].zero);
    let d1 = (d + 1) as f64;
    let mut next = path[d].weight;
    for i in (0..d).rev() {
        if one != 0.0 {
            let tmp = path[i].weight;
            path[i].weight = next * d1 / ((i + 1) as f64 * one);
            next = tmp - path[i].weight * zero * (d - i) as f64 / d1;
        } else {
            path[i].weight = path[i].weight * d1 / (zero * (d - i) as f64);
        }
    }
    for i in index..d {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

/// The total weight the path of elements `0..=d` would have with element `index` removed.
fn unwound_sum(path: &[PathElement], d: usize, index: usize) -> f64 {
    let (one, zero) = (path[index].one, path[index].zero);
    let d1 = (d + 1) as f64;
    let mut next = path[d].weight;
    let mut total = 0.0;
    for i in (0..d).rev() {
        if one != 0.0 {
            let tmp = next * d1 / ((i + 1) as f64 * one);
            total += tmp;
            next = path[i].weight - tmp * zero * (d - i) as f64 / d1;
        } else if zero != 0.0 {
            total += path[i].weight / zero / ((d - i) as f64 / d1);
        }
    }
    total
}

/// A child index of [`Tree`]'s layout: a node (>= 0) or a leaf (`!leaf`).
#[derive(Clone, Copy)]
enum At {
    Node(usize),
    Leaf(usize),
}

fn at(child: i32) -> At {
    if child < 0 {
        At::Leaf((!child) as usize)
    } else {
        At::Node(child as usize)
    }
}

fn cover(tree: &Tree, a: At) -> f64 {
    match a {
        At::Node(i) => tree.nodes[i].count as f64,
        At::Leaf(i) => tree.leaf_counts[i] as f64,
    }
}

fn goes_left(tree: &Tree, node: usize, row: &[f64]) -> bool {
    let n = &tree.nodes[node];
    let x = row[n.feature as usize];
    if x.is_nan() {
        n.missing_left
    } else {
        x <= n.threshold
    }
}

/// One node of the walk. The paths of all levels share `buf` as in LightGBM: this node's path
/// of `d + 1` elements starts at `parent + d`, a copy of the parent's `d` elements plus the
/// split that led here, so a row needs no allocation per node.
#[allow(clippy::too_many_arguments)]
fn recurse(
    tree: &Tree,
    row: &[f64],
    phi: &mut [f64],
    a: At,
    buf: &mut [PathElement],
    parent: usize,
    d: usize,
    zero: f64,
    one: f64,
    feature: i64,
) {
    let me = parent + d;
    if d > 0 {
        buf.copy_within(parent..parent + d, me);
    }
    let path = &mut buf[me..];
    extend(path, d, zero, one, feature);
    match a {
        At::Leaf(l) => {
            let value = tree.leaves[l];
            for i in 1..=d {
                let w = unwound_sum(path, d, i);
                let e = path[i];
                phi[e.feature as usize] += w * (e.one - e.zero) * value;
            }
        }
        At::Node(i) => {
            let n = &tree.nodes[i];
            let (hot, cold) = if goes_left(tree, i, row) {
                (at(n.left), at(n.right))
            } else {
                (at(n.right), at(n.left))
            };
            let w = n.count as f64;
            let (hot_zero, cold_zero) = (cover(tree, hot) / w, cover(tree, cold) / w);
            // a feature met again on the path is taken out and put back with both splits'
            // fractions multiplied
            let (mut in_zero, mut in_one, mut child_d) = (1.0, 1.0, d + 1);
            let f = n.feature as i64;
            if let Some(k) = (1..=d).find(|&k| path[k].feature == f) {
                in_zero = path[k].zero;
                in_one = path[k].one;
                unwind(path, d, k);
                child_d = d;
            }
            recurse(
                tree,
                row,
                phi,
                hot,
                buf,
                me,
                child_d,
                hot_zero * in_zero,
                in_one,
                f,
            );
            recurse(
                tree,
                row,
                phi,
                cold,
                buf,
                me,
                child_d,
                cold_zero * in_zero,
                0.0,
                f,
            );
        }
    }
}

/// Elements of the shared path buffer for a tree of this depth (levels 0..=depth hold paths
/// of 1..=depth + 1 elements, each starting where the previous one's copy did).
fn buffer_len(depth: usize) -> usize {
    (depth + 2) * (depth + 3) / 2
}

fn depth(tree: &Tree) -> usize {
    fn walk(tree: &Tree, child: i32) -> usize {
        if child < 0 {
            return 0;
        }
        let n = &tree.nodes[child as usize];
        1 + walk(tree, n.left).max(walk(tree, n.right))
    }
    if tree.nodes.is_empty() {
        0
    } else {
        walk(tree, 0)
    }
}

/// The cover-weighted mean of the tree's leaves: its prediction with no feature known.
pub fn expected_value(tree: &Tree) -> f64 {
    let total: f64 = tree.leaf_counts.iter().map(|&c| c as f64).sum();
    if tree.nodes.is_empty() || total == 0.0 {
        return tree.leaves[0];
    }
    tree.leaves
        .iter()
        .zip(&tree.leaf_counts)
        .map(|(v, &c)| v * c as f64)
        .sum::<f64>()
        / total
}

/// Adds the contributions of `tree` for `row` to `phi` (one per feature).
pub fn tree_contributions(tree: &Tree, row: &[f64], phi: &mut [f64]) {
    if tree.nodes.is_empty() {
        return;
    }
    let mut buf = vec![EMPTY; buffer_len(depth(tree))];
    recurse(tree, row, phi, At::Node(0), &mut buf, 0, 0, 1.0, 1.0, -1);
}

const EMPTY: PathElement = PathElement {
    feature: -1,
    zero: 0.0,
    one: 0.0,
    weight: 0.0,
};

// ---------------------------------------------------------------------------------------------
// Subset tables: the same values, computed once per leaf and looked up per row.
//
// For one leaf with value v whose path splits on d distinct features, feature i having the
// cover share z_i (the product of its splits' child/parent counts along the path), a row's
// contributions depend only on the set H of path features whose every split the row follows
// (Yang 2021, "Fast TreeSHAP", which tabulates them per subset). With
// w(s) = s! (d - s - 1)! / d!, E(H) = sum over S in H of w(|S|) prod_{j in H \ S} z_j and
// Q(H) = prod_{j not in H} z_j, the leaf adds
//   v (1 - z_i) Q(H) E(H \ {i})   to each feature i in H, and
//   -v Q(H) E(H)                  to each path feature not in H
// (the Shapley sum restricted to the subsets of H, since a subset holding a feature the row
// does not follow makes the leaf unreachable). Two tables of 2^d values per leaf replace the
// O(d²) path arithmetic per row and leaf by O(d) lookups; trees with a leaf deeper than
// `MAX_TABLE_BITS` distinct features, or too few rows to repay the tables, use the path
// algorithm above.
// ---------------------------------------------------------------------------------------------

/// Distinct features on a leaf's path above which the path algorithm is used (2^16 entries).
const MAX_TABLE_BITS: usize = 16;

/// One leaf's tables.
struct LeafTable {
    /// The path's distinct features, in the order of their bits.
    features: Vec<u32>,
    /// `1 - z_i` per bit.
    one_minus_zero: Vec<f64>,
    /// Q(H) per bit mask H.
    q: Vec<f64>,
    /// v E(H) per bit mask H.
    value_e: Vec<f64>,
}

/// A tree's tables: each split node's bit (its feature's position on the node's path) and
/// each leaf's tables.
struct TreeTables {
    node_bit: Vec<u8>,
    leaves: Vec<LeafTable>,
}

/// Shapley weights w(s) = s! (d - s - 1)! / d! for s = 0..d, with w(d) = 0 (never used: a
/// full H has no feature outside it).
fn shapley_weights(d: usize) -> Vec<f64> {
    let mut w = vec![0.0; d + 1];
    if d == 0 {
        return w;
    }
    // w(0) = 1/d; w(s+1) = w(s) (s+1) / (d - s - 1)
    w[0] = 1.0 / d as f64;
    for s in 0..d - 1 {
        w[s + 1] = w[s] * (s + 1) as f64 / (d - s - 1) as f64;
    }
    w
}

/// The tables of a leaf of value `value` whose path has the cover shares `zero` (one per
/// distinct feature, in bit order).
fn leaf_table(value: f64, path: &[(u32, f64)]) -> LeafTable {
    let d = path.len();
    let size = 1usize << d;
    let z: Vec<f64> = path.iter().map(|p| p.1).collect();
    let w = shapley_weights(d);
    // elementary symmetric polynomials of the z in each mask, by adding the highest bit to
    // the mask without it: e_k(H) = e_k(H') + z_b e_{k-1}(H')
    let stride = d + 1;
    let mut e = vec![0.0; size * stride];
    e[0] = 1.0;
    let mut value_e = vec![0.0; size];
    value_e[0] = value * w[0];
    for (mask, ve) in value_e.iter_mut().enumerate().skip(1) {
        let b = usize::BITS as usize - 1 - mask.leading_zeros() as usize;
        let prev = mask ^ (1 << b);
        let (lo, hi) = e.split_at_mut(mask * stride);
        let (src, dst) = (
            &lo[prev * stride..prev * stride + stride],
            &mut hi[..stride],
        );
        let count = mask.count_ones() as usize;
        dst[0] = 1.0;
        for k in 1..=count {
            dst[k] = src[k] + z[b] * src[k - 1];
        }
        // E(H) = sum_k e_k(H) w(|H| - k)
        *ve = value * (0..=count).map(|k| dst[k] * w[count - k]).sum::<f64>();
    }
    // Q(H) = z_b Q(H + b) for the lowest bit b outside H
    let mut q = vec![1.0; size];
    for mask in (0..size - 1).rev() {
        let b = (!mask).trailing_zeros() as usize;
        q[mask] = z[b] * q[mask | (1 << b)];
    }
    LeafTable {
        features: path.iter().map(|p| p.0).collect(),
        one_minus_zero: z.iter().map(|z| 1.0 - z).collect(),
        q,
        value_e,
    }
}

/// The distinct features with their cover shares along the path to every leaf, and each
/// split's bit; `None` when a path has more than [`MAX_TABLE_BITS`] distinct features.
fn tree_tables(tree: &Tree) -> Option<TreeTables> {
    fn walk(
        tree: &Tree,
        a: At,
        path: &mut Vec<(u32, f64)>,
        node_bit: &mut [u8],
        leaves: &mut [Option<LeafTable>],
    ) -> bool {
        match a {
            At::Leaf(l) => {
                leaves[l] = Some(leaf_table(tree.leaves[l], path));
                true
            }
            At::Node(i) => {
                let n = &tree.nodes[i];
                let known = path.iter().position(|p| p.0 == n.feature);
                let bit = known.unwrap_or(path.len());
                if known.is_none() {
                    if bit >= MAX_TABLE_BITS {
                        return false;
                    }
                    path.push((n.feature, 1.0));
                }
                node_bit[i] = bit as u8;
                let parent = n.count as f64;
                let before = path[bit].1;
                for child in [at(n.left), at(n.right)] {
                    path[bit].1 = before * cover(tree, child) / parent;
                    if !walk(tree, child, path, node_bit, leaves) {
                        return false;
                    }
                }
                path[bit].1 = before;
                if known.is_none() {
                    path.pop();
                }
                true
            }
        }
    }
    let mut node_bit = vec![0u8; tree.nodes.len()];
    let mut leaves: Vec<Option<LeafTable>> = (0..tree.leaves.len()).map(|_| None).collect();
    if !walk(
        tree,
        At::Node(0),
        &mut Vec::new(),
        &mut node_bit,
        &mut leaves,
    ) {
        return None;
    }
    Some(TreeTables {
        node_bit,
        leaves: leaves
            .into_iter()
            .map(|l| l.expect("every leaf is reached"))
            .collect(),
    })
}

/// What tables for `tree` would cost: their entries (2^d per leaf), the work of building them
/// (about d 2^d per leaf) and the work of the path algorithm per row (about d² per leaf).
fn table_cost(tree: &Tree) -> (usize, f64, f64) {
    fn walk(tree: &Tree, a: At, path: &mut Vec<u32>, cost: &mut (usize, f64, f64)) {
        match a {
            At::Leaf(_) => {
                let d = path.len();
                cost.0 = cost.0.saturating_add(1usize << d.min(MAX_TABLE_BITS + 1));
                cost.1 += (d + 1) as f64 * 2f64.powi(d.min(62) as i32);
                cost.2 += (d * d) as f64;
            }
            At::Node(i) => {
                let n = &tree.nodes[i];
                let new = !path.contains(&n.feature);
                if new {
                    path.push(n.feature);
                }
                walk(tree, at(n.left), path, cost);
                walk(tree, at(n.right), path, cost);
                if new {
                    path.pop();
                }
            }
        }
    }
    let mut cost = (0, 0.0, 0.0);
    if !tree.nodes.is_empty() {
        walk(tree, At::Node(0), &mut Vec::new(), &mut cost);
    }
    cost
}

/// Table entries held at once: trees are explained in batches whose tables fit this.
const TABLE_BUDGET: usize = 1 << 22;

/// Adds the contributions of the leaves under `a` for `row`, `mask` holding the bits of the
/// path features whose splits so far the row follows.
fn add_from_tables(
    tree: &Tree,
    tables: &TreeTables,
    row: &[f64],
    phi: &mut [f64],
    a: At,
    mask: usize,
) {
    match a {
        At::Leaf(l) => {
            let t = &tables.leaves[l];
            let h = mask & ((1usize << t.features.len()) - 1);
            let q = t.q[h];
            let cold = -q * t.value_e[h];
            for (bit, &f) in t.features.iter().enumerate() {
                phi[f as usize] += if h & (1 << bit) != 0 {
                    t.one_minus_zero[bit] * q * t.value_e[h ^ (1 << bit)]
                } else {
                    cold
                };
            }
        }
        At::Node(i) => {
            let n = &tree.nodes[i];
            let off = !(1usize << tables.node_bit[i]);
            let (l, r) = if goes_left(tree, i, row) {
                (mask, mask & off)
            } else {
                (mask & off, mask)
            };
            add_from_tables(tree, tables, row, phi, at(n.left), l);
            add_from_tables(tree, tables, row, phi, at(n.right), r);
        }
    }
}

/// The trees with splits in batches whose tables fit [`TABLE_BUDGET`], each marked whether
/// tables pay for `rows` rows (the rest use the path algorithm). Every row still adds the trees
/// in the model's order.
fn table_batches(trees: &[Tree], rows: usize) -> Vec<Vec<(&Tree, bool)>> {
    let mut batches = vec![Vec::new()];
    let mut held = 0usize;
    for t in trees.iter().filter(|t| !t.nodes.is_empty()) {
        let (entries, build, per_row) = table_cost(t);
        let use_tables = entries <= TABLE_BUDGET && build <= per_row * rows as f64;
        let entries = if use_tables { entries } else { 0 };
        if held + entries > TABLE_BUDGET {
            batches.push(Vec::new());
            held = 0;
        }
        held += entries;
        batches.last_mut().expect("one batch").push((t, use_tables));
    }
    batches
}

/// Per-row contributions of a fitted model.
#[derive(Debug, Clone)]
pub struct Contributions {
    /// Features, as the columns of `values`.
    pub features: Vec<String>,
    /// Row-major, `features.len()` per row.
    pub values: Vec<f64>,
    /// The raw score with no feature known: the initial score plus every tree's expected value.
    pub expected_value: f64,
}

impl Contributions {
    /// The contributions of row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        let d = self.features.len();
        &self.values[i * d..(i + 1) * d]
    }
}

impl Gbdt {
    /// TreeSHAP contributions of every row of `x` (the model's feature columns) to the raw
    /// score. Rows are independent and every row sums the trees in order, so the values are the
    /// same at any thread count.
    pub fn contributions(&self, x: &Table) -> Result<Contributions> {
        if self
            .trees
            .iter()
            .any(|t| !t.nodes.is_empty() && t.leaf_counts.len() != t.leaves.len())
        {
            return Err(Error::Config(
                "the model has no training counts per node (written by an older segmint); fit it again to explain it".into(),
            ));
        }
        let d = x.cols;
        let deepest = self.trees.iter().map(depth).max().unwrap_or(0);
        let mut values = vec![0.0; x.rows * d];
        for batch in table_batches(&self.trees, x.rows) {
            let tables: Vec<Option<TreeTables>> = batch
                .par_iter()
                .map(|&(t, use_tables)| if use_tables { tree_tables(t) } else { None })
                .collect();
            values.par_chunks_mut(d.max(1)).enumerate().for_each_init(
                || vec![EMPTY; buffer_len(deepest)],
                |buf, (i, phi)| {
                    let row = x.row(i);
                    for (&(t, _), tables) in batch.iter().zip(&tables) {
                        match tables {
                            Some(tables) => {
                                add_from_tables(t, tables, row, phi, At::Node(0), usize::MAX)
                            }
                            None => recurse(t, row, phi, At::Node(0), buf, 0, 0, 1.0, 1.0, -1),
                        }
                    }
                },
            );
        }
        let expected_value = self.init_score + self.trees.iter().map(expected_value).sum::<f64>();
        Ok(Contributions {
            features: x.names.clone(),
            values,
            expected_value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::gbdt::{GbdtParams, Node, Objective};
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// The value of a feature subset as TreeSHAP defines it: split on a known feature -> the
    /// row's branch; on an unknown one -> both branches weighted by their training counts.
    fn subset_value(tree: &Tree, row: &[f64], known: &[bool], a: At) -> f64 {
        match a {
            At::Leaf(l) => tree.leaves[l],
            At::Node(i) => {
                let n = &tree.nodes[i];
                let (l, r) = (at(n.left), at(n.right));
                if known[n.feature as usize] {
                    let next = if goes_left(tree, i, row) { l } else { r };
                    subset_value(tree, row, known, next)
                } else {
                    let w = n.count as f64;
                    (cover(tree, l) * subset_value(tree, row, known, l)
                        + cover(tree, r) * subset_value(tree, row, known, r))
                        / w
                }
            }
        }
    }

    /// Shapley values by their definition: every subset of the other features, weighted
    /// |S|! (M - |S| - 1)! / M!.
    fn brute_force(tree: &Tree, row: &[f64], m: usize) -> Vec<f64> {
        let fact = |k: usize| (1..=k).map(|v| v as f64).product::<f64>();
        let mut phi = vec![0.0; m];
        for (f, p) in phi.iter_mut().enumerate() {
            for mask in 0..(1u32 << m) {
                if mask & (1 << f) != 0 {
                    continue;
                }
                let mut known: Vec<bool> = (0..m).map(|j| mask & (1 << j) != 0).collect();
                let s = known.iter().filter(|&&k| k).count();
                let without = subset_value(tree, row, &known, At::Node(0));
                known[f] = true;
                let with = subset_value(tree, row, &known, At::Node(0));
                *p += fact(s) * fact(m - s - 1) / fact(m) * (with - without);
            }
        }
        phi
    }

    /// The contributions of `tree` for `row` from its subset tables.
    fn by_tables(tree: &Tree, row: &[f64], m: usize) -> Vec<f64> {
        let tables = tree_tables(tree).expect("a shallow tree has tables");
        let mut phi = vec![0.0; m];
        add_from_tables(tree, &tables, row, &mut phi, At::Node(0), usize::MAX);
        phi
    }

    fn assert_close(a: &[f64], b: &[f64], tol: f64) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn shapley_weights_match_factorials() {
        let fact = |k: usize| (1..=k).map(|v| v as f64).product::<f64>();
        for d in 1..8 {
            let w = shapley_weights(d);
            for (s, ws) in w.iter().enumerate().take(d) {
                assert!((ws - fact(s) * fact(d - s - 1) / fact(d)).abs() < 1e-15);
            }
        }
    }

    fn node(feature: u32, threshold: f64, left: i32, right: i32, count: u32) -> Node {
        Node {
            feature,
            threshold,
            missing_left: true,
            left,
            right,
            gain: 1.0,
            count,
        }
    }

    /// A hand-made tree of depth 3 that splits on feature 0 twice on one path, with a missing
    /// value, against the definition by enumeration.
    #[test]
    fn equals_shapley_values_by_enumeration() {
        // 0: x0 <= 5 ? 1 : 2;  1: x1 <= 2 ? leaf0 : 3;  2: x2 <= 1 ? leaf1 : leaf2;
        // 3: x0 <= 1 ? leaf3 : leaf4
        let tree = Tree {
            nodes: vec![
                node(0, 5.0, 1, 2, 100),
                node(1, 2.0, !0, 3, 60),
                node(2, 1.0, !1, !2, 40),
                node(0, 1.0, !3, !4, 35),
            ],
            leaves: vec![1.0, -2.0, 3.5, 0.25, -1.5],
            leaf_counts: vec![25, 30, 10, 20, 15],
        };
        let rows = [
            [0.5, 3.0, 0.0, 9.0],
            [4.0, 1.0, 2.0, 9.0],
            [7.0, 5.0, 0.5, 9.0],
            [f64::NAN, 3.0, f64::NAN, 9.0],
        ];
        let ev = expected_value(&tree);
        for row in rows {
            let mut phi = vec![0.0; 4];
            tree_contributions(&tree, &row, &mut phi);
            let want = brute_force(&tree, &row, 4);
            assert_close(&phi, &want, 1e-12);
            assert_close(&by_tables(&tree, &row, 4), &want, 1e-12);
            // a feature the tree never splits on gets nothing
            assert_eq!(phi[3], 0.0);
            let sum: f64 = phi.iter().sum::<f64>() + ev;
            assert!((sum - tree.predict_row(&row)).abs() < 1e-12);
        }
    }

    /// A fitted model: every row's contributions plus the expected value give its raw score,
    /// and a small fitted tree equals the enumeration.
    #[test]
    fn contributions_sum_to_the_raw_score() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let n = 2000;
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|_| {
                (0..5)
                    .map(|j| {
                        if j == 4 && rng.random_range(0.0..1.0) < 0.1 {
                            f64::NAN
                        } else {
                            rng.random_range(0.0..1.0)
                        }
                    })
                    .collect()
            })
            .collect();
        let y: Vec<f64> = rows
            .iter()
            .map(|r| {
                let s = 2.0 * r[0] - r[1] + if r[4].is_nan() { 1.0 } else { r[4] * r[2] };
                (s + rng.random_range(-0.5..0.5) > 0.8) as u8 as f64
            })
            .collect();
        let names: Vec<String> = (0..5).map(|j| format!("x{j}")).collect();
        let x = Table::from_rows(names, &rows);
        let params = GbdtParams {
            objective: Objective::Binary,
            n_estimators: 30,
            num_leaves: 6,
            ..GbdtParams::default()
        };
        let model = Gbdt::fit(&params, &x, &y, None, None).unwrap();
        let c = model.contributions(&x).unwrap();
        let raw = model.predict_raw(&x);
        for (i, r) in raw.iter().enumerate() {
            let sum = c.row(i).iter().sum::<f64>() + c.expected_value;
            assert!((sum - r).abs() < 1e-9, "row {i}: {sum} vs {r}");
        }
        for t in model.trees.iter().take(5) {
            for r in rows.iter().take(20) {
                let mut phi = vec![0.0; 5];
                tree_contributions(t, r, &mut phi);
                let want = brute_force(t, r, 5);
                assert_close(&phi, &want, 1e-12);
                assert_close(&by_tables(t, r, 5), &want, 1e-12);
            }
        }
    }

    /// Deeper trees over more features: the tables equal the path algorithm leaf by leaf, and a
    /// single row (too few to pay for tables) gets the same values through the path algorithm.
    #[test]
    fn tables_equal_the_path_algorithm_on_deep_trees() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let (n, m) = (3000, 12);
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..m).map(|_| rng.random_range(0.0..1.0)).collect())
            .collect();
        let y: Vec<f64> = rows
            .iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(j, v)| v * (j % 3) as f64)
                    .sum::<f64>()
            })
            .collect();
        let names: Vec<String> = (0..m).map(|j| format!("x{j}")).collect();
        let x = Table::from_rows(names.clone(), &rows);
        let params = GbdtParams {
            objective: Objective::Regression,
            n_estimators: 20,
            num_leaves: 40,
            min_child_samples: 5,
            ..GbdtParams::default()
        };
        let model = Gbdt::fit(&params, &x, &y, None, None).unwrap();
        let widest = model
            .trees
            .iter()
            .map(|t| table_cost(t).2)
            .fold(0.0, f64::max);
        assert!(widest > 100.0, "the trees should have long paths: {widest}");
        for t in &model.trees {
            for r in rows.iter().take(50) {
                let mut phi = vec![0.0; m];
                tree_contributions(t, r, &mut phi);
                assert_close(&by_tables(t, r, m), &phi, 1e-12);
            }
        }
        let all = model.contributions(&x).unwrap();
        let one = model
            .contributions(&Table::from_rows(names, &rows[7..8]))
            .unwrap();
        assert_close(one.row(0), all.row(7), 1e-12);
    }
}
