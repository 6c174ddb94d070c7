//! Shallow CART trees over the fine bins (squared error; for a 0/1 outcome that is the Gini
//! criterion up to a factor, so the splits are scikit-learn's `DecisionTreeClassifier`'s on
//! the same thresholds). Missing values go to whichever side fits better, as in LightGBM;
//! categories are ordered by their mean and split into two sets (Breiman's ordering, exact for
//! squared error).

use rayon::prelude::*;

use super::bins::{BinCond, BinRule, Binned};
use super::inference::Acc;

/// A node: the rule of its path, its mean outcome and its children.
#[derive(Debug, Clone)]
pub struct Node {
    pub rule: BinRule,
    pub value: f64,
    /// (left condition, left child, right child).
    pub split: Option<(BinCond, usize, usize)>,
}

#[derive(Debug, Clone)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Mean outcome of the leaf a row falls in.
    pub fn predict(&self, bins: &[Binned], row: usize) -> f64 {
        let mut k = 0;
        loop {
            match &self.nodes[k].split {
                None => return self.nodes[k].value,
                Some((c, l, r)) => {
                    k = if c.allowed[bins[c.feature].bins[row] as usize] {
                        *l
                    } else {
                        *r
                    }
                }
            }
        }
    }
}

/// Fits a tree on `rows` (depth <= `max_depth`, every leaf >= `min_leaf` rows).
pub fn fit(bins: &[Binned], rows: &[u32], y: &[f64], max_depth: usize, min_leaf: usize) -> Tree {
    let mut tree = Tree { nodes: Vec::new() };
    grow(
        &mut tree,
        bins,
        rows.to_vec(),
        y,
        BinRule::default(),
        0,
        max_depth,
        min_leaf.max(1),
    );
    tree
}

#[allow(clippy::too_many_arguments)]
fn grow(
    tree: &mut Tree,
    bins: &[Binned],
    rows: Vec<u32>,
    y: &[f64],
    rule: BinRule,
    depth: usize,
    max_depth: usize,
    min_leaf: usize,
) -> usize {
    let mut total = Acc::default();
    rows.iter().for_each(|&i| total.add(y[i as usize]));
    let id = tree.nodes.len();
    tree.nodes.push(Node {
        rule: rule.clone(),
        value: total.mean(),
        split: None,
    });
    if depth >= max_depth || rows.len() < 2 * min_leaf {
        return id;
    }
    let Some(cond) = best_split(bins, &rows, y, &total, min_leaf) else {
        return id;
    };
    let (left, right): (Vec<u32>, Vec<u32>) = rows
        .iter()
        .partition(|&&i| cond.allowed[bins[cond.feature].bins[i as usize] as usize]);
    let not = BinCond {
        feature: cond.feature,
        allowed: cond.allowed.iter().map(|a| !a).collect(),
    };
    let lrule = rule.and(&cond, usize::MAX).unwrap_or_default();
    let rrule = rule.and(&not, usize::MAX).unwrap_or_default();
    let l = grow(tree, bins, left, y, lrule, depth + 1, max_depth, min_leaf);
    let r = grow(tree, bins, right, y, rrule, depth + 1, max_depth, min_leaf);
    tree.nodes[id].split = Some((cond, l, r));
    id
}

/// The split with the largest reduction of the squared error; ties go to the first feature and
/// bin, so the tree does not depend on thread scheduling.
pub fn best_split(
    bins: &[Binned],
    rows: &[u32],
    y: &[f64],
    total: &Acc,
    min_leaf: usize,
) -> Option<BinCond> {
    let base = total.sum * total.sum / total.n;
    let min = min_leaf as f64;
    let best: Vec<Option<(f64, BinCond)>> = (0..bins.len())
        .into_par_iter()
        .map(|f| {
            let b = &bins[f];
            let mut hist = vec![Acc::default(); b.n_bins()];
            for &i in rows {
                hist[b.bins[i as usize] as usize].add(y[i as usize]);
            }
            let score = |l: &Acc| -> f64 {
                let r = total.minus(l);
                if l.n < min || r.n < min {
                    return f64::NEG_INFINITY;
                }
                l.sum * l.sum / l.n + r.sum * r.sum / r.n - base
            };
            let mut best: Option<(f64, BinCond)> = None;
            let mut consider = |gain: f64, allowed: &dyn Fn() -> Vec<bool>| {
                if gain > 1e-12 * total.n.max(1.0) && best.as_ref().is_none_or(|(g, _)| gain > *g) {
                    best = Some((
                        gain,
                        BinCond {
                            feature: f,
                            allowed: allowed(),
                        },
                    ));
                }
            };
            let miss = b.missing_bin();
            if b.is_numeric() {
                let nv = b.n_values();
                let mut left = Acc::default();
                for k in 0..nv.saturating_sub(1) {
                    left.merge(&hist[k]);
                    for missing_left in [false, true] {
                        let mut l = left;
                        if missing_left {
                            l.merge(&hist[miss]);
                        }
                        consider(score(&l), &|| {
                            let mut a = vec![false; b.n_bins()];
                            a[..=k].iter_mut().for_each(|x| *x = true);
                            a[miss] = missing_left;
                            a
                        });
                    }
                }
                // missing values on their own
                consider(score(&hist[miss]), &|| {
                    let mut a = vec![false; b.n_bins()];
                    a[miss] = true;
                    a
                });
            } else {
                let mut cats: Vec<usize> = (0..b.n_bins()).filter(|&c| hist[c].n > 0.0).collect();
                cats.sort_by(|&a, &c| hist[a].mean().total_cmp(&hist[c].mean()).then(a.cmp(&c)));
                let mut left = Acc::default();
                for k in 0..cats.len().saturating_sub(1) {
                    left.merge(&hist[cats[k]]);
                    consider(score(&left), &|| {
                        let mut a = vec![false; b.n_bins()];
                        cats[..=k].iter().for_each(|&c| a[c] = true);
                        a
                    });
                }
            }
            best
        })
        .collect();
    let mut out: Option<(f64, BinCond)> = None;
    for b in best.into_iter().flatten() {
        if out.as_ref().is_none_or(|(g, _)| b.0 > *g) {
            out = Some(b);
        }
    }
    out.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uplift::bins::{Feature, FeatureValues};

    #[test]
    fn finds_the_step_and_the_category() {
        let n = 2000;
        let x: Vec<f64> = (0..n).map(|i| (i % 100) as f64).collect();
        let codes: Vec<Option<u32>> = (0..n).map(|i| Some((i / 7 % 3) as u32)).collect();
        let y: Vec<f64> = (0..n)
            .map(|i| ((x[i] > 60.0) as u8 as f64) + 0.5 * ((codes[i] == Some(2)) as u8 as f64))
            .collect();
        let feats = [
            Feature {
                name: "x".into(),
                values: FeatureValues::Num(x),
            },
            Feature {
                name: "c".into(),
                values: FeatureValues::Cat {
                    codes,
                    labels: vec!["a".into(), "b".into(), "z".into()],
                    boolean: false,
                },
            },
        ];
        let rows: Vec<u32> = (0..n as u32).collect();
        let bins: Vec<Binned> = feats.iter().map(|f| Binned::new(f, &rows)).collect();
        let t = fit(&bins, &rows, &y, 2, 10);
        let (root, l, _) = t.nodes[0].split.as_ref().unwrap();
        assert_eq!(root.feature, 0);
        let c = crate::uplift::bins::condition(&bins, root);
        assert_eq!(c.text(), "x <= 60");
        let (second, _, _) = t.nodes[*l].split.as_ref().unwrap();
        assert_eq!(second.feature, 1);
        // the leaves reproduce y exactly
        for (i, &yi) in y.iter().enumerate() {
            assert!((t.predict(&bins, i) - yi).abs() < 1e-12);
        }
    }
}
