//! The hidden-segments analysis in one call: a target column of the customer table, the
//! features, a seeded split -> [`discover`] -> a typed report (`report.json`) with the rules,
//! the held-out evaluation and the verdict; optionally the agreement with a known segment
//! column and the evaluation of a user's own segments.
//!
//! ```no_run
//! use segmint::data::{ColumnMap, Inputs, TableKind};
//! use segmint::hidden::analysis::{analyze, HiddenAnalysisParams};
//! use segmint::hidden::customer_table;
//! use segmint::progress::NoProgress;
//!
//! let inputs = Inputs::from_dir("data".as_ref());
//! let tx = inputs.open(TableKind::Transactions, &ColumnMap::new())?;
//! let table = customer_table(&tx, None, &[], &NoProgress)?;
//! let r = analyze(&table, &HiddenAnalysisParams::default())?;
//! print!("{}", r.report.markdown());
//! # Ok::<(), segmint::Error>(())
//! ```

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{
    discover, evaluate, random_split, Condition, CustomerTable, Discovery, Evaluation,
    HiddenParams, Method, MethodScore, MixtureSummary, Transform, TransformScore, Verdict,
    SPEND_COLUMNS,
};
use crate::error::{Error, Result};
use crate::output::{self, OutCol};
use crate::predict::Part;

/// Settings of the analysis.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HiddenAnalysisParams {
    /// The column to explain (`monetary`).
    pub target: String,
    /// Feature columns; empty: every other column but the spend columns, `exclude` and
    /// `truth`.
    pub features: Vec<String>,
    /// Columns never used as default features.
    pub exclude: Vec<String>,
    /// A known segment column to compare with (never a feature).
    pub truth: Option<String>,
    /// Share of customers held out for the evaluation (0.3).
    pub test_size: f64,
    /// The search and the evaluation.
    pub search: HiddenParams,
}

impl Default for HiddenAnalysisParams {
    fn default() -> Self {
        HiddenAnalysisParams {
            target: "monetary".into(),
            features: Vec::new(),
            exclude: Vec::new(),
            truth: None,
            test_size: 0.3,
            search: HiddenParams::default(),
        }
    }
}

impl HiddenAnalysisParams {
    /// Checks the parameters; the error names the parameter.
    pub fn check(&self) -> Result<()> {
        if !(self.test_size > 0.0 && self.test_size < 1.0) {
            return Err(Error::param(
                "test_size",
                format!("must be between 0 and 1, got {}", self.test_size),
            ));
        }
        if !(0.0..0.5).contains(&self.search.min_share) {
            return Err(Error::param(
                "min_share",
                format!("must be in [0, 0.5), got {}", self.search.min_share),
            ));
        }
        if self.features.contains(&self.target) {
            return Err(Error::param(
                "features",
                format!("lists the target {:?}", self.target),
            ));
        }
        Ok(())
    }

    /// The features used on `table`: the given ones, or the default choice.
    fn features_of(&self, table: &CustomerTable) -> Vec<String> {
        if !self.features.is_empty() {
            return self.features.clone();
        }
        table
            .columns
            .names
            .iter()
            .filter(|n| {
                **n != self.target
                    && !SPEND_COLUMNS.contains(&n.as_str())
                    && !self.exclude.contains(n)
                    && Some(n.as_str()) != self.truth.as_deref()
            })
            .cloned()
            .collect()
    }
}

/// A discovered segment and its rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentRule {
    /// Its name (`S1`, ...).
    pub segment: String,
    /// Its rule in words.
    pub rule: String,
    /// The rule's conditions: a customer is in the segment when any of these conjunctions
    /// holds (one per leaf of the tree; partitioning gives one).
    pub any_of: Vec<Vec<Condition>>,
}

/// Agreement of the discovered segments with a known segment column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TruthAgreement {
    /// The column.
    pub column: String,
    /// Its values.
    pub values: Vec<String>,
    /// Adjusted Rand index (1 = the same partition, 0 = chance).
    pub ari: f64,
}

/// The evaluation of a user's own segments (`--by`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GivenSegments {
    /// The segment column.
    pub column: String,
    /// Segment-aware models on those segments, held out.
    pub evaluation: Evaluation,
}

/// `report.json` of the hidden-segments analysis.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HiddenReport {
    /// Format of this file: [`HiddenReport::FORMAT`].
    #[serde(default)]
    pub format: String,
    /// Always `segments discover`.
    pub task: String,
    /// The target column.
    pub target: String,
    /// The features used.
    pub features: Vec<String>,
    /// Customers, and rows in the train and test split.
    pub customers: usize,
    /// See `customers`.
    pub train_rows: usize,
    /// See `customers`.
    pub test_rows: usize,
    /// How the segments were found: `mob` or `mixture` (with `both`, the one chosen).
    pub method: Method,
    /// The method in words.
    pub method_description: String,
    /// The transformation of the target the models saw (`none` or `log1p`).
    pub transform: Transform,
    /// The mixture's components and BIC per k, when the method is `mixture`.
    pub mixture: Option<MixtureSummary>,
    /// With `--target-transform auto`: the global linear model's validation error with each
    /// transformation.
    pub transforms: Vec<TransformScore>,
    /// With `--method both`: each method's error on the validation rows.
    pub selection: Vec<MethodScore>,
    /// The search's settings.
    pub params: HiddenParams,
    /// The discovered segments.
    pub segments: Vec<SegmentRule>,
    /// Held-out evaluation: global vs segment-aware models.
    pub evaluation: Evaluation,
    /// Use segment models, or the global model is enough.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
    /// Agreement with a known segment column.
    pub truth: Option<TruthAgreement>,
    /// The user's own segments evaluated the same way.
    pub by: Option<GivenSegments>,
    /// Seconds and worker threads.
    pub seconds: f64,
    /// See `seconds`.
    pub threads: usize,
    /// Version of segmint that wrote it.
    pub segmint_version: String,
}

/// Everything the analysis produced.
#[derive(Debug, Clone)]
pub struct HiddenAnalysis {
    /// The customers, in table order.
    pub customer_id: Vec<String>,
    /// Train / test of each customer.
    pub split: Vec<Part>,
    /// The segmentation found.
    pub discovery: Discovery,
    /// The typed report.
    pub report: HiddenReport,
    features: crate::predict::Table,
    target: Vec<f64>,
}

/// Finds the segments of `p.target` in `table` and evaluates them on held-out customers.
pub fn analyze(table: &CustomerTable, p: &HiddenAnalysisParams) -> Result<HiddenAnalysis> {
    p.check()?;
    let t0 = Instant::now();
    let cols = &table.columns;
    let y = cols.column_named(&p.target).ok_or_else(|| {
        Error::param(
            "target",
            format!(
                "{:?}: not a column (columns: {})",
                p.target,
                cols.names.join(", ")
            ),
        )
    })?;
    // customers whose target is missing (e.g. no quantity column) cannot be used
    if let Some(bad) = y.iter().position(|v| !v.is_finite()) {
        return Err(Error::param(
            "target",
            format!(
                "{}: customer {} has no value ({}); choose another target",
                p.target, table.customer_id[bad], y[bad]
            ),
        ));
    }
    let features = p.features_of(table);
    let x = cols.project(&features)?;
    let split = random_split(y.len(), p.test_size, p.search.seed);
    let d = discover(&x, &y, &split, &p.search)?;
    let count = |part: Part| split.iter().filter(|s| **s == part).count();
    let report = HiddenReport {
        format: HiddenReport::FORMAT.into(),
        task: "segments discover".into(),
        target: p.target.clone(),
        features,
        customers: y.len(),
        train_rows: count(Part::Train),
        test_rows: count(Part::Test),
        method: d.method,
        method_description: d.method.describe().into(),
        transform: d.transform,
        mixture: d.mixture.clone(),
        transforms: d.transforms.clone(),
        selection: d.selection.clone(),
        params: p.search.clone(),
        segments: d
            .names
            .iter()
            .enumerate()
            .map(|(s, n)| SegmentRule {
                segment: n.clone(),
                rule: d.tree.rule_text(s),
                any_of: d.tree.rules[s].clone(),
            })
            .collect(),
        evaluation: d.evaluation.clone(),
        verdict: d.evaluation.verdict,
        reason: d.evaluation.reason.clone(),
        truth: None,
        by: None,
        seconds: ((t0.elapsed().as_secs_f64()) * 1e4).round() / 1e4,
        threads: rayon::current_num_threads(),
        segmint_version: crate::VERSION.into(),
    };
    Ok(HiddenAnalysis {
        customer_id: table.customer_id.clone(),
        split,
        discovery: d,
        report,
        features: x,
        target: y,
    })
}

/// Labels of the customers as integers, a missing one as its own last label `(missing)`.
fn dense(names: &[String], labels: &[Option<u32>]) -> (Vec<String>, Vec<u32>) {
    let mut names = names.to_vec();
    let missing = names.len() as u32;
    if labels.iter().any(Option::is_none) {
        names.push("(missing)".into());
    }
    (names, labels.iter().map(|l| l.unwrap_or(missing)).collect())
}

impl HiddenAnalysis {
    /// Adds the agreement with a known segment column (`labels[i]` of customer `i` indexes
    /// `names`).
    pub fn compare_with(&mut self, column: &str, names: &[String], labels: &[Option<u32>]) {
        let (_, t) = dense(names, labels);
        let ari = crate::cluster::adjusted_rand_index(&self.discovery.labels, &t);
        self.report.truth = Some(TruthAgreement {
            column: column.into(),
            values: names.to_vec(),
            ari,
        });
    }

    /// Evaluates the user's own segments the same way (held-out, global vs per segment).
    pub fn evaluate_given(
        &mut self,
        column: &str,
        names: &[String],
        labels: &[Option<u32>],
    ) -> Result<()> {
        let (names, l) = dense(names, labels);
        let e = evaluate(
            &self.features,
            &self.target,
            &self.split,
            &l,
            &names,
            None,
            &self.report.params,
            self.report.transform,
        )?;
        self.report.by = Some(GivenSegments {
            column: column.into(),
            evaluation: e,
        });
        Ok(())
    }

    /// Writes `segments.parquet` (customer, segment, split) and `report.json` into `dir`.
    pub fn write_to(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let d = &self.discovery;
        let names = d.labels.iter().map(|&l| d.names[l as usize].clone());
        let cols = vec![
            ("customer_id", OutCol::Str(self.customer_id.clone())),
            ("segment", OutCol::Str(names.collect())),
            (
                "split",
                OutCol::Str(self.split.iter().map(|s| s.name().to_string()).collect()),
            ),
        ];
        let meta = vec![(
            "segmint.task".to_string(),
            format!("segments discover --target {}", self.report.target),
        )];
        let path = dir.join("segments.parquet");
        output::write_table(&output::batch(cols)?, &path, &meta)?;
        self.report.write_to(dir)
    }
}

impl HiddenReport {
    /// The format written in `format`.
    pub const FORMAT: &'static str = "hidden-report/2";

    /// Writes `report.json` into `dir`.
    pub fn write_to(&self, dir: &Path) -> Result<()> {
        output::write_json(&dir.join("report.json"), self)
    }

    /// Reads what [`HiddenReport::write_to`] wrote.
    pub fn read_from(dir: &Path) -> Result<HiddenReport> {
        output::read_json(&dir.join("report.json"))
    }

    /// The held-out comparison, the segments, the agreement and the verdict as Markdown.
    pub fn markdown(&self) -> String {
        use std::fmt::Write;
        let e = &self.evaluation;
        let mut o = format!("Target {}: {}", self.target, self.method_description);
        if self.transform == Transform::Log1p {
            o.push_str("; models fitted on log1p(target), errors on its own scale");
        }
        o.push('\n');
        let mark = |chosen: bool| if chosen { "  <- chosen" } else { "" };
        for t in &self.transforms {
            let _ = writeln!(
                o,
                "  validation MAE, global linear, target {:<5}: {:.2}{}",
                t.transform.name(),
                t.global_validation_mae,
                mark(t.chosen)
            );
        }
        for m in &self.selection {
            let _ = writeln!(
                o,
                "  validation MAE, segments by {:<7}: {:.2} ({} segments){}",
                m.method.name(),
                m.validation_mae,
                m.segments,
                mark(m.chosen)
            );
        }
        if let Some(m) = &self.mixture {
            let _ = writeln!(
                o,
                "  mixture: {} components by BIC (weights {}); the tree's rules give {:.1}% of the training customers their most probable component",
                m.components,
                m.weights
                    .iter()
                    .map(|w| format!("{:.2}", w))
                    .collect::<Vec<_>>()
                    .join(" / "),
                100.0 * m.tree_agreement
            );
        }
        o.push_str("Held-out MAE (RMSE, R²)\n");
        let f = |m: &super::Fit| format!("{:.2} ({:.2}, {:.3})", m.mae, m.rmse, m.r2);
        let _ = writeln!(o, "  global linear        {}", f(&e.global_linear));
        let _ = writeln!(o, "  global boosting      {}", f(&e.global_gbdt));
        let _ = writeln!(o, "  segment-aware linear {}", f(&e.segment_linear));
        let _ = writeln!(
            o,
            "  improvement over the global linear model: {:.1}% (95% interval {:.1}% .. {:.1}%)\n",
            100.0 * e.improvement,
            100.0 * e.improvement_ci[0],
            100.0 * e.improvement_ci[1]
        );
        o.push_str("| segment | rule | test customers | share | mean target | MAE global linear | MAE segment model | improvement |\n");
        o.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for s in &e.segments {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:.1}% | {:.2} | {:.2} | {:.2} | {:.1}% |",
                s.segment,
                s.rule.as_deref().unwrap_or(""),
                s.test_rows,
                100.0 * s.share,
                s.target_mean,
                s.global_linear.mae,
                s.segment_linear.mae,
                100.0 * s.improvement
            );
        }
        if let Some(t) = &self.truth {
            let _ = writeln!(
                o,
                "\nAgreement with {}: adjusted Rand index {:.3}",
                t.column, t.ari
            );
        }
        let verdict = match e.verdict {
            Verdict::UseSegmentModels => "USE SEGMENT MODELS",
            Verdict::GlobalModelIsEnough => "THE GLOBAL MODEL IS ENOUGH",
        };
        let _ = writeln!(o, "\nVerdict: {verdict}: {}", e.reason);
        o
    }
}
