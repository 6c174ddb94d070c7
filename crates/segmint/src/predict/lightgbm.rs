//! The gradient-boosting model in LightGBM's text model format (`model.txt`), so that
//! LightGBM (`lightgbm.Booster(model_file=...)`), SHAP, Treelite/ONNX converters and serving
//! stacks load a segmint model.
//!
//! The mapping is exact: a node sends a row left when `x <= threshold` (LightGBM's numerical
//! decision) and a missing value to the side segmint learnt (`decision_type` = missing type NaN
//! plus the default-left bit); thresholds are written with the shortest decimal that reads back
//! as the same double; leaf values are segmint's (the learning rate already applied, so
//! `shrinkage=1`); the initial score (LightGBM's `boost_from_average`) is added to the leaves of
//! the first tree; `internal_count` and `leaf_count` are the training rows per node, the cover
//! LightGBM's `pred_contrib` uses, so its TreeSHAP values equal segmint's. Written by reading
//! LightGBM 4's `Tree::ToString` / `GBDT::SaveModelToString` (src/io/tree.cpp,
//! src/boosting/gbdt_model_text.cpp); the sections LightGBM does not need to predict
//! (`feature_infos` ranges, the parameters) are written as LightGBM writes them for unknown
//! values.

use std::fmt::Write;

use super::gbdt::{Gbdt, Objective, Tree};
use crate::error::Result;

/// LightGBM's `decision_type` bits: default left = 2, missing type NaN = 2 << 2.
const DEFAULT_LEFT: u8 = 2;
const MISSING_NAN: u8 = 2 << 2;

/// Joins numbers with spaces, each with the shortest round-trip decimal.
fn join<T: std::fmt::Display>(values: impl IntoIterator<Item = T>) -> String {
    values
        .into_iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Training rows under every node (`internal_count`) and the count-weighted mean leaf value
/// under it (`internal_value`), by a walk from the leaves up.
fn internal(tree: &Tree, shift: f64) -> (Vec<f64>, Vec<u64>) {
    fn walk(
        tree: &Tree,
        child: i32,
        shift: f64,
        value: &mut [f64],
        count: &mut [u64],
    ) -> (f64, u64) {
        if child < 0 {
            let l = (!child) as usize;
            let c = tree.leaf_counts.get(l).copied().unwrap_or(0) as u64;
            return ((tree.leaves[l] + shift) * c as f64, c);
        }
        let n = &tree.nodes[child as usize];
        let (a, ca) = walk(tree, n.left, shift, value, count);
        let (b, cb) = walk(tree, n.right, shift, value, count);
        let c = ca + cb;
        count[child as usize] = c;
        value[child as usize] = if c > 0 { (a + b) / c as f64 } else { 0.0 };
        (a + b, c)
    }
    let mut value = vec![0.0; tree.nodes.len()];
    let mut count = vec![0; tree.nodes.len()];
    if !tree.nodes.is_empty() {
        walk(tree, 0, shift, &mut value, &mut count);
    }
    (value, count)
}

/// One `Tree=i` block; `shift` is added to every leaf (the initial score, on the first tree).
fn tree_block(out: &mut String, i: usize, tree: &Tree, shift: f64) {
    let _ = writeln!(out, "Tree={i}");
    let _ = writeln!(out, "num_leaves={}", tree.leaves.len());
    let _ = writeln!(out, "num_cat=0");
    if tree.nodes.is_empty() {
        let _ = writeln!(out, "leaf_value={}", tree.leaves[0] + shift);
        let _ = writeln!(out, "is_linear=0\nshrinkage=1\n\n");
        return;
    }
    let n = &tree.nodes;
    let (internal_value, internal_count) = internal(tree, shift);
    let _ = writeln!(out, "split_feature={}", join(n.iter().map(|n| n.feature)));
    let _ = writeln!(out, "split_gain={}", join(n.iter().map(|n| n.gain)));
    let _ = writeln!(out, "threshold={}", join(n.iter().map(|n| n.threshold)));
    let decision = n
        .iter()
        .map(|n| MISSING_NAN | if n.missing_left { DEFAULT_LEFT } else { 0 });
    let _ = writeln!(out, "decision_type={}", join(decision));
    let _ = writeln!(out, "left_child={}", join(n.iter().map(|n| n.left)));
    let _ = writeln!(out, "right_child={}", join(n.iter().map(|n| n.right)));
    let _ = writeln!(
        out,
        "leaf_value={}",
        join(tree.leaves.iter().map(|v| v + shift))
    );
    let _ = writeln!(out, "leaf_count={}", join(tree.leaf_counts.iter()));
    let _ = writeln!(out, "internal_value={}", join(internal_value));
    let _ = writeln!(out, "internal_count={}", join(internal_count));
    let _ = writeln!(out, "is_linear=0\nshrinkage=1\n\n");
}

impl Gbdt {
    /// The model as LightGBM's text model format.
    pub fn to_lightgbm(&self) -> String {
        let mut out = String::new();
        out.push_str("tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n");
        let _ = writeln!(
            out,
            "max_feature_idx={}",
            self.features.len().saturating_sub(1)
        );
        let _ = writeln!(
            out,
            "objective={}",
            match self.params.objective {
                Objective::Binary => "binary sigmoid:1",
                Objective::Regression => "regression",
            }
        );
        // LightGBM's feature names may not contain spaces
        let names: Vec<String> = self
            .features
            .iter()
            .map(|f| f.replace(char::is_whitespace, "_"))
            .collect();
        let _ = writeln!(out, "feature_names={}", join(&names));
        let _ = writeln!(
            out,
            "feature_infos={}\n",
            join(self.features.iter().map(|_| "none"))
        );
        if self.trees.is_empty() {
            let only = Tree {
                nodes: Vec::new(),
                leaves: vec![0.0],
                leaf_counts: Vec::new(),
            };
            tree_block(&mut out, 0, &only, self.init_score);
        }
        for (i, t) in self.trees.iter().enumerate() {
            tree_block(&mut out, i, t, if i == 0 { self.init_score } else { 0.0 });
        }
        out.push_str("end of trees\n\nfeature_importances:\n");
        let gains = self.split_importance();
        let mut order: Vec<usize> = (0..gains.len()).filter(|&j| gains[j] > 0).collect();
        order.sort_by(|&a, &b| gains[b].cmp(&gains[a]).then(a.cmp(&b)));
        for j in order {
            let _ = writeln!(out, "{}={}", names[j], gains[j]);
        }
        out.push_str("\nparameters:\n[boosting: gbdt]\n");
        let _ = writeln!(
            out,
            "[objective: {}]",
            match self.params.objective {
                Objective::Binary => "binary",
                Objective::Regression => "regression",
            }
        );
        let _ = writeln!(out, "[num_iterations: {}]", self.trees.len());
        let _ = writeln!(out, "[learning_rate: {}]", self.params.learning_rate);
        let _ = writeln!(out, "[num_leaves: {}]", self.params.num_leaves);
        out.push_str("end of parameters\n\npandas_categorical:null\n");
        out
    }

    /// Writes [`Gbdt::to_lightgbm`] to `path` (temporary file, then rename).
    pub fn save_lightgbm(&self, path: &std::path::Path) -> Result<()> {
        crate::files::write_text(path, &self.to_lightgbm())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::gbdt::{GbdtParams, Node};

    /// The text of a two-leaf tree, checked field by field against the format LightGBM 4
    /// writes (`decision_type` 10 = NaN missing type with default left).
    #[test]
    fn writes_lightgbm_fields() {
        let tree = Tree {
            nodes: vec![Node {
                feature: 1,
                threshold: 0.1,
                missing_left: true,
                left: !0,
                right: !1,
                gain: 2.5,
                count: 10,
            }],
            leaves: vec![-0.5, 0.25],
            leaf_counts: vec![4, 6],
        };
        let model = Gbdt {
            params: GbdtParams::default(),
            features: vec!["a".into(), "b c".into()],
            init_score: 1.0,
            trees: vec![tree],
            best_iteration: 1,
            rounds_run: 1,
            valid_loss: Vec::new(),
            bin_mappers: Vec::new(),
        };
        let text = model.to_lightgbm();
        for line in [
            "max_feature_idx=1",
            "feature_names=a b_c",
            "split_feature=1",
            "threshold=0.1",
            "decision_type=10",
            "left_child=-1",
            "right_child=-2",
            "leaf_value=0.5 1.25",
            "leaf_count=4 6",
            "internal_count=10",
            // (0.5 * 4 + 1.25 * 6) / 10
            "internal_value=0.95",
            "shrinkage=1",
            "end of trees",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
