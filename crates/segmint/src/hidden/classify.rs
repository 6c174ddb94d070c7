//! A shallow classification tree that describes given labels (the mixture's components) by the
//! features, so that the segments have rules and new customers, whose target is not known yet,
//! can be assigned.
//!
//! CART with the Gini impurity (Breiman et al. 1984): a node is split at the feature and
//! threshold that most reduce the summed impurity of its children, when the reduction is at
//! least `min_gain` of the node's impurity and both children keep `min_rows` rows; candidate
//! thresholds as in the partitioning tree (every (n/256)-th row in the feature's order, then
//! every row around the best). Each leaf takes its majority label; sibling leaves with the same
//! label are merged, and the leaves of one label form one segment whose rule is the disjunction
//! of their paths.

use rayon::prelude::*;

use super::{Condition, Node, SegmentTree};

/// A grown node before flattening.
enum Grown {
    Split {
        feature: usize,
        threshold: f64,
        left: Box<Grown>,
        right: Box<Grown>,
    },
    Leaf {
        label: u32,
    },
}

/// The data of the tree search: filled feature values (n x d, row-major) and labels.
pub struct Labelled<'a> {
    /// Filled feature values of the rows, row-major.
    pub raw: &'a [f64],
    /// Features per row.
    pub d: usize,
    /// Label of every row, `0..k`.
    pub labels: &'a [u32],
    /// Number of labels.
    pub k: usize,
}

/// Settings of the tree.
#[derive(Debug, Clone, Copy)]
pub struct TreeSettings {
    /// Depth limit.
    pub max_depth: usize,
    /// Smallest leaf.
    pub min_rows: usize,
    /// Smallest accepted relative impurity reduction.
    pub min_gain: f64,
}

/// Grows the tree on `data` and returns it as a [`SegmentTree`] whose segments are the labels
/// that some leaf predicts, in label order (`segment_label[s]` is the label of segment `s`).
pub fn describe(
    data: &Labelled<'_>,
    fill: Vec<f64>,
    features: &[String],
    s: &TreeSettings,
) -> (SegmentTree, Vec<u32>) {
    let rows: Vec<usize> = (0..data.labels.len()).collect();
    let root = merge_siblings(grow(data, &rows, 0, s));
    let mut used = Vec::new();
    collect_labels(&root, &mut used);
    used.sort_unstable();
    used.dedup();
    let mut tree = SegmentTree {
        nodes: Vec::new(),
        fill,
        features: features.to_vec(),
        rules: vec![Vec::new(); used.len()],
    };
    flatten(&root, &used, features, Vec::new(), &mut tree);
    (tree, used)
}

fn counts(data: &Labelled<'_>, rows: &[usize]) -> Vec<usize> {
    let mut c = vec![0usize; data.k];
    for &i in rows {
        c[data.labels[i] as usize] += 1;
    }
    c
}

/// n times the Gini impurity of a node with these label counts.
fn impurity(c: &[usize]) -> f64 {
    let n: usize = c.iter().sum();
    if n == 0 {
        return 0.0;
    }
    let sq: f64 = c.iter().map(|&v| (v * v) as f64).sum();
    n as f64 - sq / n as f64
}

/// The majority label (ties to the lower label).
fn majority(c: &[usize]) -> u32 {
    let mut best = 0;
    for (l, &v) in c.iter().enumerate() {
        if v > c[best] {
            best = l;
        }
    }
    best as u32
}

fn grow(data: &Labelled<'_>, rows: &[usize], depth: usize, s: &TreeSettings) -> Grown {
    let c = counts(data, rows);
    let leaf = Grown::Leaf {
        label: majority(&c),
    };
    let base = impurity(&c);
    if depth >= s.max_depth || rows.len() < 2 * s.min_rows || base <= 0.0 {
        return leaf;
    }
    let Some((gain, feature, threshold)) = best_split(data, rows, &c, s.min_rows) else {
        return leaf;
    };
    if gain < s.min_gain * base {
        return leaf;
    }
    let (l, r): (Vec<usize>, Vec<usize>) = rows
        .iter()
        .partition(|&&i| data.raw[i * data.d + feature] <= threshold);
    Grown::Split {
        feature,
        threshold,
        left: Box::new(grow(data, &l, depth + 1, s)),
        right: Box::new(grow(data, &r, depth + 1, s)),
    }
}

/// (impurity reduction, feature, threshold) of the best split of `rows`.
fn best_split(
    data: &Labelled<'_>,
    rows: &[usize],
    total: &[usize],
    min_rows: usize,
) -> Option<(f64, usize, f64)> {
    let n = rows.len();
    let d = data.d;
    let base = impurity(total);
    let step = (n / 256).max(1);
    let scan = |f: usize, order: &[usize], lo: usize, hi: usize, every: usize| {
        let v = |k: usize| data.raw[order[k] * d + f];
        let mut left = vec![0usize; data.k];
        let mut right = total.to_vec();
        let mut best: Option<(f64, usize)> = None;
        let mut next = lo.max(min_rows);
        for k in 1..=hi.min(n - min_rows) {
            let l = data.labels[order[k - 1]] as usize;
            left[l] += 1;
            right[l] -= 1;
            if k < next || v(k - 1) == v(k) {
                continue;
            }
            next = k + every;
            let gain = base - impurity(&left) - impurity(&right);
            if best.is_none_or(|b| gain > b.0) {
                best = Some((gain, k));
            }
        }
        best.map(|(g, k)| (g, k, (v(k - 1) + v(k)) / 2.0))
    };
    (0..d)
        .into_par_iter()
        .filter_map(|f| {
            let mut order = rows.to_vec();
            order.sort_by(|&a, &b| data.raw[a * d + f].total_cmp(&data.raw[b * d + f]));
            let (g, k, t) = scan(f, &order, min_rows, n, step)?;
            let fine = if step > 1 {
                scan(f, &order, k.saturating_sub(step), k + step, 1)
            } else {
                None
            };
            Some(match fine {
                Some((g2, _, t2)) if g2 > g => (g2, f, t2),
                _ => (g, f, t),
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        // largest reduction; ties to the lower feature index
        .fold(None, |acc: Option<(f64, usize, f64)>, c| match acc {
            Some(a) if a.0 >= c.0 => Some(a),
            _ => Some(c),
        })
}

/// Sibling leaves with the same label become one leaf (bottom up).
fn merge_siblings(g: Grown) -> Grown {
    match g {
        Grown::Split {
            feature,
            threshold,
            left,
            right,
        } => {
            let (l, r) = (merge_siblings(*left), merge_siblings(*right));
            match (&l, &r) {
                (Grown::Leaf { label: a }, Grown::Leaf { label: b }) if a == b => {
                    Grown::Leaf { label: *a }
                }
                _ => Grown::Split {
                    feature,
                    threshold,
                    left: Box::new(l),
                    right: Box::new(r),
                },
            }
        }
        leaf => leaf,
    }
}

fn collect_labels(g: &Grown, out: &mut Vec<u32>) {
    match g {
        Grown::Leaf { label } => out.push(*label),
        Grown::Split { left, right, .. } => {
            collect_labels(left, out);
            collect_labels(right, out);
        }
    }
}

/// Appends `g` to `tree.nodes` depth first (left child first) and records each leaf's path
/// as one alternative of its segment's rule; returns the node's index.
fn flatten(
    g: &Grown,
    used: &[u32],
    features: &[String],
    path: Vec<Condition>,
    tree: &mut SegmentTree,
) -> usize {
    let me = tree.nodes.len();
    match g {
        Grown::Leaf { label } => {
            let segment = used.binary_search(label).expect("a collected label") as u32;
            tree.nodes.push(Node::Leaf { segment });
            tree.rules[segment as usize].push(path);
        }
        Grown::Split {
            feature,
            threshold,
            left,
            right,
        } => {
            tree.nodes.push(Node::Split {
                feature: *feature,
                threshold: *threshold,
                left: 0,
                right: 0,
            });
            let cond = |op: &str| Condition {
                feature: features[*feature].clone(),
                op: op.into(),
                threshold: *threshold,
            };
            let mut lp = path.clone();
            lp.push(cond("<="));
            let l = flatten(left, used, features, lp, tree);
            let mut rp = path;
            rp.push(cond(">"));
            let r = flatten(right, used, features, rp, tree);
            if let Node::Split { left, right, .. } = &mut tree.nodes[me] {
                *left = l;
                *right = r;
            }
        }
    }
    me
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::Table;

    /// Two labels described by one feature `x`, depth 3, `min_rows` per leaf.
    fn describe_one_feature(
        xs: &[f64],
        labels: &[u32],
        min_rows: usize,
    ) -> (SegmentTree, Vec<u32>) {
        let data = Labelled {
            raw: xs,
            d: 1,
            labels,
            k: 2,
        };
        let s = TreeSettings {
            max_depth: 3,
            min_rows,
            min_gain: 0.01,
        };
        describe(&data, vec![0.0], &["x".into()], &s)
    }

    /// Labels 0 for x <= 3, 1 for 3 < x <= 7 and 0 again above: two leaves of label 0 form one
    /// segment with two alternatives, the middle is the other; every row is assigned its label.
    #[test]
    fn describes_labels_and_merges_leaves_of_one_label() {
        let n = 1000;
        let xs: Vec<f64> = (0..n).map(|i| i as f64 / 100.0).collect();
        let labels: Vec<u32> = xs.iter().map(|&x| (x > 3.0 && x <= 7.0) as u32).collect();
        let (tree, used) = describe_one_feature(&xs, &labels, 50);
        assert_eq!(used, vec![0, 1]);
        assert_eq!(tree.rules[0].len(), 2, "{:?}", tree.rules);
        assert_eq!(tree.rules[1].len(), 1);
        // thresholds halfway between neighbouring values (3.00 and 3.01)
        assert_eq!(tree.rule_text(1), "3.005 < x <= 7.005");
        assert_eq!(tree.rule_text(0), "x <= 3.005 or x > 7.005");
        let x = Table::from_rows(
            vec!["x".into()],
            &xs.iter().map(|&v| vec![v]).collect::<Vec<_>>(),
        );
        assert_eq!(tree.assign(&x), labels);
    }

    /// Labels unrelated to the feature: no split, one segment.
    #[test]
    fn random_labels_give_one_leaf() {
        let n = 2000;
        let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let labels: Vec<u32> = (0..n).map(|i| ((i * 7919) % 3 == 0) as u32).collect();
        let (tree, used) = describe_one_feature(&xs, &labels, 100);
        assert_eq!(used, vec![0]);
        assert_eq!(tree.rule_text(0), "all customers");
    }
}
