//! Group comparison: where does group A beat group B (or one of many groups), as a short list of
//! simple rules that hold up on held-out customers, with a verdict per rule and the rules
//! exported as routing logic ([`export`]).
//!
//! 1. **Split**: a seeded train/test split stratified by group (and outcome for a 0/1 outcome).
//! 2. **Candidates** from three methods on the training rows (at most `max_search_rows` per pair,
//!    a seeded sample above that), for every pair of groups:
//!    * `tree`: T-learner, one shallow CART tree per group (depth <= 3, leaves >= `min_share`
//!      of the group); the predicted uplift of each row is the difference of the two trees'
//!      leaf means, and a third tree of the same depth fitted to that uplift gives the
//!      candidates (every node of it, and every node of the two group trees).
//!    * `iv_woe`: monotonic optimal binning of every feature per group ([`woe`]), the union
//!      of both groups' bin edges, and the bins, prefixes and suffixes where the groups differ
//!      most, plus their two- and three-feature crossings.
//!    * `l1_logistic`: L1-penalised logistic (or linear) regression with group x bin
//!      interactions ([`lasso`]); the non-zero interactions and their crossings.
//!
//!    Every candidate and each of its sub-rules is then refined on the training rows
//!    ([`refine`]): each condition's boundary or set is re-chosen, a condition may be added or
//!    dropped, all to maximise the penalised score |z| / penalty^(complexity - 1) (z: the
//!    difference over its standard error). Identical rules from several methods are one
//!    candidate (its `methods` lists them all). At most `max_candidates` per pair go on, by
//!    that score (at least `min_train_score`), skipping rules that share over half their
//!    customers with a stronger one in the same direction.
//! 3. **Validation** on the test rows: per rule and group the customers and success rate (or
//!    mean), the difference with a 95% interval (Newcombe's hybrid score interval for rates,
//!    Welch for means) and p-value (two-proportion z test, Welch t test), Benjamini-Hochberg
//!    q-values over all candidates tested, and the stability: the share of `bootstrap`
//!    resamples of the test rows in which the difference keeps its training sign.
//! 4. **Verdict** (thresholds in [`Verdict`]), ranking, and routing: the IMPLEMENT NOW and
//!    PILOT rules, in rank order, first match wins; the recommended group of a rule is the
//!    group with the best training outcome in it.
//! 5. **Predicted outcome per group** for every customer: the training rate of each group
//!    among the training customers the customer's routing rule routes (first match), or among
//!    those no routing rule matches; `predicted_uplift` = first group - second group.
//!    The T-learner's own prediction is given too, and both are scored on the test rows with
//!    the Qini coefficient and AUUC.

pub mod bins;
pub mod export;
pub mod inference;
pub mod lasso;
pub mod refine;
pub mod tree;
pub mod woe;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::customers::{AttrColumn, Attributes, LeftOutColumn};
use crate::data::reader::TableReader;
use crate::error::{Error, Result};
use crate::predict::{stratified_split, Part};
use crate::progress::Progress;
use bins::{condition, BinCond, BinRule, Binned, Condition, Feature, FeatureValues};
use inference::{benjamini_hochberg, newcombe, two_proportion_p, welch, Acc};
use refine::PairRows;

/// Starting points refined per candidate tested: the raw candidates with the best penalised
/// training score, `REFINED_PER_CANDIDATE x max_candidates` of them.
const REFINED_PER_CANDIDATE: usize = 4;

/// Discovery methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Tree,
    IvWoe,
    L1Logistic,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Tree, Method::IvWoe, Method::L1Logistic];
    pub fn name(self) -> &'static str {
        match self {
            Method::Tree => "tree",
            Method::IvWoe => "iv_woe",
            Method::L1Logistic => "l1_logistic",
        }
    }
    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// Settings of [`compare`], with their defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompareParams {
    /// Share of customers held out for validation (0.3).
    pub test_size: f64,
    /// Seed of the split and the bootstrap (42).
    pub seed: u64,
    /// Depth of the trees and most conditions per rule (3).
    pub max_conditions: usize,
    /// Smallest rule and tree leaf, as a share of a group's training customers (0.02) ...
    pub min_share: f64,
    /// ... and in customers per group (50).
    pub min_customers: usize,
    /// Candidates per pair of groups validated on the test rows (20): every test costs the
    /// others power under the false-discovery control.
    pub max_candidates: usize,
    /// Smallest penalised training score (|z| / penalty^(complexity - 1)) a candidate needs
    /// to be tested (3).
    pub min_train_score: f64,
    /// Training customers per pair of groups the search looks at (250,000; a seeded sample
    /// when there are more): enough to place a boundary within a fraction of a percent of the
    /// customers, and the search's time stops growing with the data. Validation, verdicts and
    /// routing always use every customer.
    pub max_search_rows: usize,
    /// Factor by which a rule's training |z| must grow to pay for one more condition or a
    /// two-sided range (1.15): with dozens of thresholds per feature, noise alone easily adds
    /// a few percent.
    pub complexity_penalty: f64,
    /// Bootstrap resamples of the test rows for the stability (200).
    pub bootstrap: usize,
    /// Smallest difference worth acting on: 0.05 (5 points) for a 0/1 outcome; `None` = 0.05
    /// for rates, 0.1 standard deviations of the outcome for means.
    pub min_effect: Option<f64>,
    /// q-value for IMPLEMENT NOW (0.05) ...
    pub fdr: f64,
    /// ... and for PILOT (0.20).
    pub pilot_fdr: f64,
    /// Test customers per group a rule needs for a verdict above COLLECT MORE DATA (30).
    pub min_test_customers: usize,
    /// Rules in the printed table (10).
    pub top: usize,
    pub methods: Vec<Method>,
    /// Route of customers no rule matches ("default").
    pub default_label: String,
}

impl Default for CompareParams {
    fn default() -> Self {
        CompareParams {
            test_size: 0.3,
            seed: 42,
            max_conditions: 3,
            min_share: 0.02,
            min_customers: 50,
            max_candidates: 20,
            min_train_score: 3.0,
            complexity_penalty: 1.15,
            max_search_rows: 250_000,
            bootstrap: 200,
            min_effect: None,
            fdr: 0.05,
            pilot_fdr: 0.20,
            min_test_customers: 30,
            top: 10,
            methods: Method::ALL.to_vec(),
            default_label: "default".into(),
        }
    }
}

impl CompareParams {
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(self.test_size > 0.0 && self.test_size < 1.0) {
            return bad(format!(
                "test size must be in (0, 1), got {}",
                self.test_size
            ));
        }
        if !(1..=3).contains(&self.max_conditions) {
            return bad(format!(
                "max conditions must be 1, 2 or 3, got {}",
                self.max_conditions
            ));
        }
        if !(self.min_share >= 0.0 && self.min_share < 0.5) {
            return bad(format!(
                "min share must be in [0, 0.5), got {}",
                self.min_share
            ));
        }
        if !(self.complexity_penalty >= 1.0 && self.complexity_penalty.is_finite()) {
            return bad(format!(
                "complexity penalty must be at least 1, got {}",
                self.complexity_penalty
            ));
        }
        if self.max_search_rows < 1000 {
            return bad(format!(
                "max search rows must be at least 1000, got {}",
                self.max_search_rows
            ));
        }
        if self.methods.is_empty() {
            return bad("no discovery method selected".into());
        }
        for (name, v) in [("fdr", self.fdr), ("pilot fdr", self.pilot_fdr)] {
            if !(v > 0.0 && v < 1.0) {
                return bad(format!("{name} must be in (0, 1), got {v}"));
            }
        }
        if let Some(e) = self.min_effect {
            if !(e > 0.0 && e.is_finite()) {
                return bad(format!("min effect must be positive, got {e}"));
            }
        }
        if self.default_label.is_empty() {
            return bad("the default route label must not be empty".into());
        }
        Ok(())
    }
}

/// The comparison table: one row per customer with a group and an outcome.
#[derive(Debug, Clone)]
pub struct CompareData {
    pub customer_id: Vec<String>,
    pub features: Vec<Feature>,
    /// Index into `groups` (sorted labels).
    pub group: Vec<u32>,
    pub groups: Vec<String>,
    pub outcome: Vec<f64>,
    /// Column names: group, outcome.
    pub group_column: String,
    pub outcome_column: String,
    /// Customers left out for a missing group or outcome.
    pub dropped: usize,
    /// Columns of the customers file that cannot be features, with the reason.
    pub columns_left_out: Vec<LeftOutColumn>,
}

/// Customer attributes that are never default features: identifiers, dates and the answer
/// key of the generated data.
pub const NOT_FEATURES: [&str; 3] = ["customer_id", "signup_date", "tier"];

impl CompareData {
    /// Reads the group, the outcome and the features from the customers table, every column by
    /// its own name. Default features: every other usable column except [`NOT_FEATURES`] and
    /// `exclude` (e.g. other outcomes measured after the treatment).
    pub fn load(
        customers: &TableReader,
        group: &str,
        outcome: &str,
        features: Option<&[String]>,
        exclude: &[String],
        progress: &dyn Progress,
    ) -> Result<CompareData> {
        if let Some(name) = exclude.iter().find(|n| !customers.has_column(n)) {
            return Err(Error::Config(format!(
                "exclude: {name:?} is not a column of {}",
                customers.path.display()
            )));
        }
        let path = &customers.path;
        for (what, name) in [("group column", group), ("outcome column", outcome)] {
            if !customers.has_column(name) {
                return Err(Error::Format {
                    path: path.clone(),
                    message: format!(
                        "{what} {name:?} is not a column of this customers file (found: {})",
                        customers.column_names().join(", ")
                    ),
                });
            }
        }
        if group == outcome {
            return Err(Error::Config(format!(
                "{group:?} cannot be both the group and the outcome"
            )));
        }
        let attrs = match features {
            Some(f) => {
                for name in f {
                    if name == group || name == outcome {
                        return Err(Error::Config(format!(
                            "{name:?} is the group or the outcome and cannot be a feature"
                        )));
                    }
                }
                let mut wanted: Vec<&str> = vec![group, outcome];
                wanted.extend(f.iter().map(|s| s.as_str()));
                Attributes::load(customers, &wanted, progress)?
            }
            None => Attributes::load_all(customers, None, progress)?,
        };
        for name in [group, outcome] {
            if attrs.column(name).is_none() {
                return Err(Error::Format {
                    path: path.clone(),
                    message: attrs.why_missing(customers, name),
                });
            }
        }
        let feature_names: Vec<String> = match features {
            Some(f) => {
                if let Some(name) = f.iter().find(|n| attrs.column(n).is_none()) {
                    return Err(Error::Format {
                        path: path.clone(),
                        message: attrs.why_missing(customers, name),
                    });
                }
                f.to_vec()
            }
            None => attrs
                .columns
                .iter()
                .map(|(n, _)| n.as_str())
                .filter(|n| {
                    !NOT_FEATURES.contains(n)
                        && *n != group
                        && *n != outcome
                        && !exclude.iter().any(|e| e == n)
                })
                .map(str::to_string)
                .collect(),
        };
        if feature_names.is_empty() {
            return Err(Error::Format {
                path: path.clone(),
                message: "no feature columns to describe segments with".into(),
            });
        }
        let columns_left_out = attrs
            .left_out
            .iter()
            .map(|(column, reason)| LeftOutColumn {
                column: column.clone(),
                reason: reason.clone(),
            })
            .collect();
        let n = attrs.len();
        let gcol = attrs.column(group).expect("loaded");
        let ocol = attrs.column(outcome).expect("loaded");
        let y_all: Vec<Option<f64>> = match ocol {
            AttrColumn::Num(v) => v.clone(),
            AttrColumn::Bool(v) => v.iter().map(|b| b.map(|b| b as u8 as f64)).collect(),
            AttrColumn::Str(..) => {
                return Err(Error::Format {
                    path: path.clone(),
                    message: format!(
                    "outcome column {outcome:?} holds text; it must be 0/1, a boolean or a number"
                ),
                })
            }
        };
        let g_all: Vec<Option<String>> = (0..n as u32).map(|r| gcol.text(r)).collect();
        let keep: Vec<usize> = (0..n)
            .filter(|&i| g_all[i].is_some() && y_all[i].is_some_and(|y| y.is_finite()))
            .collect();
        let groups: Vec<String> = g_all
            .iter()
            .flatten()
            .cloned()
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        let group_code: HashMap<&str, u32> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.as_str(), i as u32))
            .collect();
        let ids = attrs.ids();
        let mut feats = Vec::new();
        for name in &feature_names {
            let values = match attrs.column(name).expect("loaded") {
                AttrColumn::Num(v) => {
                    FeatureValues::Num(keep.iter().map(|&i| v[i].unwrap_or(f64::NAN)).collect())
                }
                AttrColumn::Bool(v) => FeatureValues::Cat {
                    codes: keep.iter().map(|&i| v[i].map(|b| b as u32)).collect(),
                    labels: vec!["false".into(), "true".into()],
                    boolean: true,
                },
                AttrColumn::Str(codes, dict) => {
                    // labels in byte order, so results do not depend on the file's row order
                    let mut order: Vec<usize> = (0..dict.len()).collect();
                    order.sort_by(|&a, &b| dict[a].cmp(&dict[b]));
                    let mut recode = vec![0u32; dict.len()];
                    for (new, &old) in order.iter().enumerate() {
                        recode[old] = new as u32;
                    }
                    FeatureValues::Cat {
                        codes: keep
                            .iter()
                            .map(|&i| codes[i].map(|c| recode[c as usize]))
                            .collect(),
                        labels: order.iter().map(|&k| dict[k].clone()).collect(),
                        boolean: false,
                    }
                }
            };
            feats.push(Feature {
                name: name.clone(),
                values,
            });
        }
        Ok(CompareData {
            customer_id: keep.iter().map(|&i| ids.value(i).to_string()).collect(),
            features: feats,
            group: keep
                .iter()
                .map(|&i| group_code[g_all[i].as_deref().expect("kept")])
                .collect(),
            groups,
            outcome: keep.iter().map(|&i| y_all[i].expect("kept")).collect(),
            group_column: group.to_string(),
            outcome_column: outcome.to_string(),
            dropped: n - keep.len(),
            columns_left_out,
        })
    }

    /// True when every outcome is 0 or 1.
    pub fn binary(&self) -> bool {
        self.outcome.iter().all(|&y| y == 0.0 || y == 1.0)
    }
}

/// A rule's verdict. With d the test difference between the pair's groups and e the minimum
/// effect:
/// * IMPLEMENT NOW: same sign as on training, q <= `fdr`, |d| >= e, the 95% interval excludes
///   0, stability >= 0.9, and >= `min_test_customers` test customers in each group;
/// * PILOT: same sign, q <= `pilot_fdr`, |d| >= e / 2, stability >= 0.8, enough customers;
/// * COLLECT MORE DATA: same sign and |d| >= e / 2, but not (yet) significant or too few
///   customers;
/// * SKIP: the sign flipped on the test rows, or the difference is below e / 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Verdict {
    #[serde(rename = "IMPLEMENT NOW")]
    ImplementNow,
    #[serde(rename = "PILOT")]
    Pilot,
    #[serde(rename = "COLLECT MORE DATA")]
    CollectMoreData,
    #[serde(rename = "SKIP")]
    Skip,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::ImplementNow => "IMPLEMENT NOW",
            Verdict::Pilot => "PILOT",
            Verdict::CollectMoreData => "COLLECT MORE DATA",
            Verdict::Skip => "SKIP",
        }
    }
    pub fn routed(self) -> bool {
        matches!(self, Verdict::ImplementNow | Verdict::Pilot)
    }
}

/// One group's customers and outcome in a rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupStat {
    pub group: String,
    pub customers: usize,
    /// Success rate (0/1 outcome) or mean outcome; null without customers.
    pub mean: Option<f64>,
}

/// A rule's numbers on one part of the data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartStats {
    pub customers: usize,
    /// Share of the part's customers the rule matches.
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub share: f64,
    pub groups: Vec<GroupStat>,
    /// First group of the pair minus the second.
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub difference: f64,
}

/// A validated rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleResult {
    /// Rank (1 = first).
    pub id: usize,
    pub rule: String,
    pub conditions: Vec<Condition>,
    pub methods: Vec<Method>,
    /// The pair compared: difference = first - second.
    pub pair: [String; 2],
    /// The pair's group with the higher training outcome.
    pub better_group: String,
    /// The group with the best training outcome among all groups (the route).
    pub recommended_group: String,
    pub train: PartStats,
    pub test: PartStats,
    /// 95% interval of the test difference.
    #[serde(deserialize_with = "crate::output::nan::pair")]
    pub ci: [f64; 2],
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub p_value: f64,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub q_value: f64,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub stability: f64,
    pub verdict: Verdict,
    pub reason: String,
    /// Part of the routing (IMPLEMENT NOW and PILOT).
    pub routed: bool,
}

/// Information value of each feature per group (0/1 outcome; for a continuous outcome the
/// share of variance the bins explain).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureStrength {
    pub feature: String,
    pub pair: [String; 2],
    #[serde(deserialize_with = "crate::output::nan::pair")]
    pub iv: [f64; 2],
}

/// Per customer: split, route and predicted outcome per group.
#[derive(Debug, Clone, Default)]
pub struct Assignments {
    pub split: Vec<Part>,
    /// Routing rule id (1-based rank) or none.
    pub rule: Vec<Option<usize>>,
    pub recommended: Vec<String>,
    /// Predicted outcome of each group (by `groups` order), per customer.
    pub predicted: Vec<Vec<f64>>,
    /// Predicted outcome of the first group minus the second (the routing-rule model).
    pub predicted_uplift: Vec<f64>,
    /// The T-learner trees' uplift (first pair).
    pub tlearner_uplift: Vec<f64>,
}

/// Everything [`compare`] finds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub segmint: String,
    pub group_column: String,
    pub outcome_column: String,
    pub outcome: String,
    pub groups: Vec<String>,
    pub customers: usize,
    pub dropped_customers: usize,
    /// Columns of the customers file that could not be features, with the reason.
    #[serde(default)]
    pub columns_left_out: Vec<LeftOutColumn>,
    pub train_customers: usize,
    pub test_customers: usize,
    pub params: CompareParams,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub min_effect: f64,
    /// Every group's customers and outcome over all customers (train, test).
    pub overall: [PartStats; 2],
    pub candidates_by_method: BTreeMap<String, usize>,
    pub candidates_tested: usize,
    pub rules: Vec<RuleResult>,
    pub feature_strength: Vec<FeatureStrength>,
    /// Test-set Qini / AUUC of the routing-rule model and of the T-learner (first pair).
    pub model_view: BTreeMap<String, inference::UpliftCurves>,
    pub default_label: String,
    #[serde(skip)]
    pub assignments: Assignments,
    #[serde(skip)]
    pub customer_id: Vec<String>,
}

impl Comparison {
    /// Ids of the routing rules in order.
    pub fn routing(&self) -> Vec<&RuleResult> {
        self.rules.iter().filter(|r| r.routed).collect()
    }
}

struct Candidate {
    rule: BinRule,
    methods: BTreeSet<Method>,
    pair: (u32, u32),
    z_train: f64,
}

/// Runs the comparison (see the module documentation).
pub fn compare(
    data: &CompareData,
    params: &CompareParams,
    progress: &dyn Progress,
) -> Result<Comparison> {
    params.check()?;
    let n = data.outcome.len();
    let k = data.groups.len();
    if k < 2 {
        return Err(Error::Data(format!(
            "group column {:?} has {} distinct value(s) ({}); a comparison needs at least two groups",
            data.group_column,
            k,
            data.groups.join(", ")
        )));
    }
    let binary = data.binary();
    let mut sizes = vec![0usize; k];
    data.group.iter().for_each(|&g| sizes[g as usize] += 1);
    let need = 4 * params.min_customers.max(10);
    if let Some(g) = (0..k).find(|&g| sizes[g] < need) {
        return Err(Error::Data(format!(
            "group {:?} has {} customers; each group needs at least {need}",
            data.groups[g], sizes[g]
        )));
    }
    let strata: Vec<f64> = data
        .group
        .iter()
        .zip(&data.outcome)
        .map(|(&g, &y)| g as f64 * 2.0 + if binary { y } else { 0.0 })
        .collect();
    let split = stratified_split(&strata, params.test_size, true, params.seed);
    let train: Vec<u32> = (0..n as u32)
        .filter(|&i| split[i as usize] == Part::Train)
        .collect();
    let test: Vec<u32> = (0..n as u32)
        .filter(|&i| split[i as usize] == Part::Test)
        .collect();
    progress.begin("binning features", data.features.len() as u64);
    let bins: Vec<Binned> = data
        .features
        .par_iter()
        .map(|f| Binned::new(f, &train))
        .collect();
    progress.finish();
    let y = &data.outcome;
    let min_effect = params.min_effect.unwrap_or_else(|| {
        if binary {
            0.05
        } else {
            let mut a = Acc::default();
            y.iter().for_each(|&v| a.add(v));
            0.1 * a.variance().sqrt()
        }
    });

    let pairs: Vec<(u32, u32)> = (0..k as u32)
        .flat_map(|a| (a + 1..k as u32).map(move |b| (a, b)))
        .collect();
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut by_method: BTreeMap<String, usize> = BTreeMap::new();
    let mut strength = Vec::new();
    let mut tlearner_uplift = vec![0.0; n];
    progress.begin("searching rules", pairs.len() as u64);
    for (pi, &(ga, gb)) in pairs.iter().enumerate() {
        let mut rows: Vec<u32> = train
            .iter()
            .copied()
            .filter(|&i| data.group[i as usize] == ga || data.group[i as usize] == gb)
            .collect();
        if rows.len() > params.max_search_rows {
            // a seeded sample bounds the search's cost; the validation uses every customer
            use rand::seq::SliceRandom;
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed ^ (0x5ea4c4 + pi as u64));
            rows.shuffle(&mut rng);
            rows.truncate(params.max_search_rows);
            rows.sort_unstable();
        }
        let is_a: Vec<bool> = data.group.iter().map(|&g| g == ga).collect();
        let rows_a: Vec<u32> = rows.iter().copied().filter(|&i| is_a[i as usize]).collect();
        let rows_b: Vec<u32> = rows
            .iter()
            .copied()
            .filter(|&i| !is_a[i as usize])
            .collect();
        let min_rows = (params.min_share * rows_a.len().min(rows_b.len()) as f64)
            .max(params.min_customers as f64);
        let ctx = PairRows::new(
            &bins,
            &rows,
            y,
            &is_a,
            binary,
            min_rows,
            params.max_conditions,
            params.complexity_penalty,
        );
        let mut raw: Vec<(BinRule, Method)> = Vec::new();
        // coarse IV bins: used by the IV method and as the L1 design
        let mut coarse: Vec<Vec<BinCond>> = Vec::new();
        for (f, b) in bins.iter().enumerate() {
            let ha = woe::histogram(b, &rows_a, y);
            let hb = woe::histogram(b, &rows_b, y);
            let (edges, iv) = if b.is_numeric() {
                let (ea, iva) = woe::monotonic_edges(&ha, b.n_values(), binary, 0.05);
                let (eb, ivb) = woe::monotonic_edges(&hb, b.n_values(), binary, 0.05);
                ([ea, eb].concat(), [iva, ivb])
            } else {
                let iv = |h: &[Acc]| {
                    if binary {
                        woe::information_value(h)
                    } else {
                        0.0
                    }
                };
                (Vec::new(), [iv(&ha), iv(&hb)])
            };
            strength.push(FeatureStrength {
                feature: b.name.clone(),
                pair: [
                    data.groups[ga as usize].clone(),
                    data.groups[gb as usize].clone(),
                ],
                iv,
            });
            let missing = ha[b.missing_bin()].n + hb[b.missing_bin()].n;
            coarse.push(woe::coarse_bins(b, f, &edges, missing));
        }
        if params.methods.contains(&Method::Tree) {
            let depth = params.max_conditions;
            let ta = tree::fit(&bins, &rows_a, y, depth, min_rows as usize);
            let tb = tree::fit(&bins, &rows_b, y, depth, min_rows as usize);
            let mut tau = vec![0.0; n];
            for (i, t) in tau.iter_mut().enumerate() {
                *t = ta.predict(&bins, i) - tb.predict(&bins, i);
            }
            if pi == 0 {
                tlearner_uplift.clone_from(&tau);
            }
            let tt = tree::fit(&bins, &rows, &tau, depth, (2.0 * min_rows) as usize);
            for t in [&tt, &ta, &tb] {
                for node in t.nodes.iter().skip(1) {
                    raw.push((node.rule.clone(), Method::Tree));
                }
            }
        }
        if params.methods.contains(&Method::IvWoe) {
            raw.extend(
                iv_candidates(&ctx, &coarse)
                    .into_iter()
                    .map(|r| (r, Method::IvWoe)),
            );
        }
        if params.methods.contains(&Method::L1Logistic) {
            let inter = lasso::interactions(&bins, &coarse, &rows, y, &is_a, binary);
            raw.extend(
                crossings(&ctx, inter, 8)
                    .into_iter()
                    .map(|r| (r, Method::L1Logistic)),
            );
        }
        for (_, m) in &raw {
            *by_method.entry(m.name().to_string()).or_default() += 1;
        }
        // refine each distinct raw candidate; identical results merge their methods
        let mut distinct: BTreeMap<BinRule, BTreeSet<Method>> = BTreeMap::new();
        // every sub-rule is a starting point too: a tree path often carries a condition that
        // only looks useful beside the others
        for (r, m) in raw {
            let k = r.conds.len();
            for mask in 1..(1u32 << k) {
                let sub = BinRule {
                    conds: (0..k)
                        .filter(|j| mask & (1 << j) != 0)
                        .map(|j| r.conds[j].clone())
                        .collect(),
                };
                distinct.entry(sub).or_default().insert(m);
            }
        }
        // screening: only the strongest starting points are refined (many converge anyway)
        let mut distinct: Vec<(f64, BinRule, BTreeSet<Method>)> = distinct
            .into_par_iter()
            .map(|(r, m)| (ctx.score(&r), r, m))
            .collect();
        distinct.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        distinct.truncate(REFINED_PER_CANDIDATE * params.max_candidates.max(10));
        let distinct: Vec<(BinRule, BTreeSet<Method>)> =
            distinct.into_iter().map(|(_, r, m)| (r, m)).collect();
        let refined: Vec<(BinRule, f64)> = distinct
            .par_iter()
            .map(|(r, _)| {
                let mut rule = ctx.refine(r);
                for _ in 0..2 {
                    match ctx.extend(&rule) {
                        Some(e) => rule = ctx.refine(&e),
                        None => break,
                    }
                }
                // signed z, ranked by the penalised score
                let z = ctx.z(&rule);
                let score = ctx.score(&rule);
                (rule, z.signum() * score)
            })
            .collect();
        let mut merged: BTreeMap<BinRule, (BTreeSet<Method>, f64)> = BTreeMap::new();
        for ((rule, z), (_, methods)) in refined.into_iter().zip(distinct) {
            if rule.conds.is_empty() || z == 0.0 {
                continue;
            }
            let e = merged.entry(rule).or_insert((BTreeSet::new(), z));
            e.0.extend(methods);
        }
        let mut list: Vec<(BinRule, BTreeSet<Method>, f64)> =
            merged.into_iter().map(|(r, (m, z))| (r, m, z)).collect();
        list.sort_by(|a, b| b.2.abs().total_cmp(&a.2.abs()).then(a.0.cmp(&b.0)));
        let mut kept: Vec<(Vec<bool>, usize, bool)> = Vec::new();
        for (rule, methods, z) in list {
            if kept.len() >= params.max_candidates || z.abs() < params.min_train_score {
                break;
            }
            let cover = ctx.cover(&rule);
            let size = cover.iter().filter(|&&c| c).count();
            // a rule that mostly re-covers a stronger one in the same direction adds tests,
            // not findings
            if kept
                .iter()
                .any(|(c, s, pos)| *pos == (z > 0.0) && jaccard(c, *s, &cover, size) > 0.5)
            {
                continue;
            }
            kept.push((cover, size, z > 0.0));
            candidates.push(Candidate {
                rule,
                methods,
                pair: (ga, gb),
                z_train: z,
            });
        }
        progress.advance(1);
    }
    progress.finish();

    // validation on the test rows
    progress.begin("validating rules", candidates.len() as u64);
    let part_stats = |rule: &BinRule, rows: &[u32], pair: (u32, u32)| -> (PartStats, Vec<Acc>) {
        let mut accs = vec![Acc::default(); k];
        let mut covered = 0usize;
        for &i in rows {
            let i = i as usize;
            if rule.matches(&bins, i) {
                accs[data.group[i] as usize].add(y[i]);
                covered += 1;
            }
        }
        let stats = PartStats {
            customers: covered,
            share: covered as f64 / rows.len().max(1) as f64,
            groups: (0..k)
                .map(|g| GroupStat {
                    group: data.groups[g].clone(),
                    customers: accs[g].n as usize,
                    mean: (accs[g].n > 0.0).then(|| accs[g].mean()),
                })
                .collect(),
            difference: accs[pair.0 as usize].mean() - accs[pair.1 as usize].mean(),
        };
        (stats, accs)
    };
    let test_cover: Vec<Vec<u32>> = candidates
        .par_iter()
        .map(|c| {
            test.iter()
                .copied()
                .filter(|&i| {
                    let g = data.group[i as usize];
                    (g == c.pair.0 || g == c.pair.1) && c.rule.matches(&bins, i as usize)
                })
                .collect()
        })
        .collect();
    let stability = bootstrap_stability(data, &test, &candidates, &test_cover, params);
    let mut results: Vec<(RuleResult, Vec<Acc>)> = candidates
        .par_iter()
        .zip(&stability)
        .map(|(c, &stab)| {
            let (tr, tr_acc) = part_stats(&c.rule, &train, c.pair);
            let (te, te_acc) = part_stats(&c.rule, &test, c.pair);
            let (a, b) = (&te_acc[c.pair.0 as usize], &te_acc[c.pair.1 as usize]);
            let (ci, p) = if a.n < 2.0 || b.n < 2.0 {
                ((f64::NAN, f64::NAN), 1.0)
            } else if binary {
                (
                    newcombe(a.sum, a.n, b.sum, b.n),
                    two_proportion_p(a.sum, a.n, b.sum, b.n),
                )
            } else {
                let (_, ci, p) = welch(a, b);
                (ci, p)
            };
            let best = (0..k)
                .filter(|&g| tr_acc[g].n > 0.0)
                .max_by(|&x, &w| {
                    tr_acc[x]
                        .mean()
                        .total_cmp(&tr_acc[w].mean())
                        .then(w.cmp(&x))
                })
                .unwrap_or(c.pair.0 as usize);
            let better = if c.z_train >= 0.0 { c.pair.0 } else { c.pair.1 };
            let conditions: Vec<Condition> =
                c.rule.conds.iter().map(|bc| condition(&bins, bc)).collect();
            let text = conditions
                .iter()
                .map(|c| c.text())
                .collect::<Vec<_>>()
                .join(" and ");
            (
                RuleResult {
                    id: 0,
                    rule: text,
                    conditions,
                    methods: c.methods.iter().copied().collect(),
                    pair: [
                        data.groups[c.pair.0 as usize].clone(),
                        data.groups[c.pair.1 as usize].clone(),
                    ],
                    better_group: data.groups[better as usize].clone(),
                    recommended_group: data.groups[best].clone(),
                    train: tr,
                    test: te,
                    ci: [ci.0, ci.1],
                    p_value: p,
                    q_value: 1.0,
                    stability: stab,
                    verdict: Verdict::Skip,
                    reason: String::new(),
                    routed: false,
                },
                tr_acc,
            )
        })
        .collect();
    let q = benjamini_hochberg(&results.iter().map(|r| r.0.p_value).collect::<Vec<_>>());
    let tested = results.len();
    for ((r, _), q) in results.iter_mut().zip(q) {
        r.q_value = q;
        let (v, reason) = verdict(r, params, min_effect, binary, tested);
        r.verdict = v;
        r.reason = reason;
    }
    progress.finish();

    // ranking, overlap filter, routing
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, w) = (&results[a].0, &results[b].0);
        x.verdict
            .cmp(&w.verdict)
            .then(x.q_value.total_cmp(&w.q_value))
            .then(w.test.difference.abs().total_cmp(&x.test.difference.abs()))
            .then(a.cmp(&b))
    });
    let train_cover = |i: usize| -> (Vec<bool>, usize) {
        let c: Vec<bool> = train
            .iter()
            .map(|&r| candidates[i].rule.matches(&bins, r as usize))
            .collect();
        let s = c.iter().filter(|&&x| x).count();
        (c, s)
    };
    let mut chosen: Vec<usize> = Vec::new();
    let mut covers: Vec<(Vec<bool>, usize, String)> = Vec::new();
    for &i in &order {
        let (c, s) = train_cover(i);
        let better = &results[i].0.better_group;
        if covers
            .iter()
            .any(|(c2, s2, b2)| b2 == better && jaccard(c2, *s2, &c, s) > 0.5)
        {
            continue;
        }
        covers.push((c, s, better.clone()));
        chosen.push(i);
    }
    let mut rules: Vec<RuleResult> = Vec::new();
    let mut chosen_rules: Vec<BinRule> = Vec::new();
    for (rank, &i) in chosen.iter().enumerate() {
        let mut r = results[i].0.clone();
        r.id = rank + 1;
        r.routed = r.verdict.routed();
        chosen_rules.push(candidates[i].rule.clone());
        rules.push(r);
    }

    // assignments: the routing-rule model
    let routed: Vec<usize> = (0..rules.len()).filter(|&r| rules[r].routed).collect();
    let rule_of: Vec<Option<usize>> = (0..n)
        .into_par_iter()
        .map(|i| {
            routed
                .iter()
                .copied()
                .find(|&r| chosen_rules[r].matches(&bins, i))
        })
        .collect();
    // each routed rule's rates on the training customers it routes (first match), so that a
    // later rule's estimate is not inflated by customers an earlier rule took
    let mut rest = vec![Acc::default(); k];
    let mut routed_accs = vec![vec![Acc::default(); k]; rules.len()];
    for &i in &train {
        let (g, v) = (data.group[i as usize] as usize, y[i as usize]);
        match rule_of[i as usize] {
            Some(r) => routed_accs[r][g].add(v),
            None => rest[g].add(v),
        }
    }
    let mut overall_train = vec![Acc::default(); k];
    train
        .iter()
        .for_each(|&i| overall_train[data.group[i as usize] as usize].add(y[i as usize]));
    let mean_or = |a: &Acc, fallback: &Acc| {
        if a.n > 0.0 {
            a.mean()
        } else {
            fallback.mean()
        }
    };
    let predicted: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let accs = match rule_of[i] {
                Some(r) => &routed_accs[r],
                None => &rest,
            };
            (0..k)
                .map(|g| mean_or(&accs[g], &overall_train[g]))
                .collect()
        })
        .collect();
    let predicted_uplift: Vec<f64> = predicted.iter().map(|p| p[0] - p[1]).collect();
    let recommended: Vec<String> = rule_of
        .iter()
        .map(|r| match r {
            Some(r) => rules[*r].recommended_group.clone(),
            None => params.default_label.clone(),
        })
        .collect();
    let test_y: Vec<f64> = test.iter().map(|&i| y[i as usize]).collect();
    let test_treated: Vec<bool> = test.iter().map(|&i| data.group[i as usize] == 0).collect();
    let first_pair: Vec<usize> = (0..test.len())
        .filter(|&j| data.group[test[j] as usize] <= 1)
        .collect();
    let pick = |v: &[f64]| -> Vec<f64> { first_pair.iter().map(|&j| v[j]).collect() };
    let sel_y = pick(&test_y);
    let sel_t: Vec<bool> = first_pair.iter().map(|&j| test_treated[j]).collect();
    let mut model_view = BTreeMap::new();
    for (name, score) in [
        ("routing_rules", &predicted_uplift),
        ("t_learner", &tlearner_uplift),
    ] {
        if name == "t_learner" && !params.methods.contains(&Method::Tree) {
            continue;
        }
        let s: Vec<f64> = test.iter().map(|&i| score[i as usize]).collect();
        model_view.insert(
            name.to_string(),
            inference::uplift_curves(&sel_y, &sel_t, &pick(&s), binary),
        );
    }
    let overall = [&train, &test].map(|rows| part_stats(&BinRule::default(), rows, (0, 1)).0);
    Ok(Comparison {
        segmint: crate::VERSION.to_string(),
        group_column: data.group_column.clone(),
        outcome_column: data.outcome_column.clone(),
        outcome: if binary { "binary" } else { "continuous" }.to_string(),
        groups: data.groups.clone(),
        customers: n,
        dropped_customers: data.dropped,
        columns_left_out: data.columns_left_out.clone(),
        train_customers: train.len(),
        test_customers: test.len(),
        params: params.clone(),
        min_effect,
        overall,
        candidates_by_method: by_method,
        candidates_tested: results.len(),
        rules,
        feature_strength: strength,
        model_view,
        default_label: params.default_label.clone(),
        assignments: Assignments {
            split,
            rule: rule_of.iter().map(|r| r.map(|r| r + 1)).collect(),
            recommended,
            predicted,
            predicted_uplift,
            tlearner_uplift,
        },
        customer_id: data.customer_id.clone(),
    })
}

fn jaccard(a: &[bool], sa: usize, b: &[bool], sb: usize) -> f64 {
    let inter = a.iter().zip(b).filter(|(x, y)| **x && **y).count();
    let union = sa + sb - inter;
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

fn verdict(
    r: &RuleResult,
    p: &CompareParams,
    e: f64,
    binary: bool,
    tested: usize,
) -> (Verdict, String) {
    let d = r.test.difference;
    let unit = |x: f64| {
        if binary {
            format!("{:+.1} points", 100.0 * x)
        } else {
            format!("{x:+.4}")
        }
    };
    let train_d = r.train.difference;
    let pair_n = |part: &PartStats| {
        part.groups
            .iter()
            .filter(|g| r.pair.contains(&g.group))
            .map(|g| g.customers)
            .min()
            .unwrap_or(0)
    };
    let n_test = pair_n(&r.test);
    if d.is_nan() || d.signum() != train_d.signum() || d == 0.0 {
        return (
            Verdict::Skip,
            format!(
                "the difference does not hold on held-out customers ({} on training, {} on test)",
                unit(train_d),
                if d.is_nan() {
                    "no customers".into()
                } else {
                    unit(d)
                }
            ),
        );
    }
    if d.abs() < e / 2.0 {
        return (
            Verdict::Skip,
            format!(
                "the test difference {} is below half the minimum effect {}",
                unit(d),
                unit(e)
            ),
        );
    }
    let enough = n_test >= p.min_test_customers;
    let ci_clear = r.ci[0] > 0.0 || r.ci[1] < 0.0;
    if enough && r.q_value <= p.fdr && d.abs() >= e && ci_clear && r.stability >= 0.9 {
        return (
            Verdict::ImplementNow,
            format!(
                "{} on held-out customers (95% CI {} to {}), q = {:.2e}, same direction in {:.0}% of bootstrap resamples",
                unit(d),
                unit(r.ci[0]),
                unit(r.ci[1]),
                r.q_value,
                100.0 * r.stability
            ),
        );
    }
    if enough && r.q_value <= p.pilot_fdr && r.stability >= 0.8 {
        return (
            Verdict::Pilot,
            format!(
                "{} on held-out customers, q = {:.3} (needs q <= {} and |difference| >= {} to implement now); \
                 try it on part of the customers first",
                unit(d),
                r.q_value,
                p.fdr,
                unit(e)
            ),
        );
    }
    (
        Verdict::CollectMoreData,
        if enough {
            format!(
                "{} on held-out customers but not significant after testing {tested} rules (q = {:.3}, stability {:.0}%)",
                unit(d),
                r.q_value,
                100.0 * r.stability
            )
        } else {
            format!(
                "{} on held-out customers, but only {n_test} test customers in the smaller group (needs {})",
                unit(d),
                p.min_test_customers
            )
        },
    )
}

/// IV-method candidates: per feature the best coarse bins, prefixes and suffixes (at most
/// two per feature, by training |z|), and the crossings of the ten best across features.
fn iv_candidates(ctx: &PairRows, coarse: &[Vec<BinCond>]) -> Vec<BinRule> {
    let mut singles: Vec<(f64, BinCond)> = Vec::new();
    for conds in coarse {
        let mut options: Vec<BinCond> = conds.clone();
        let values: Vec<&BinCond> = conds
            .iter()
            .filter(|c| !c.allowed[ctx.bins[c.feature].missing_bin()])
            .collect();
        if let Some(first) = values.first() {
            if ctx.bins[first.feature].is_numeric() {
                // prefixes and suffixes of the value bins
                for cut in 1..values.len() {
                    let union = |part: &[&BinCond]| BinCond {
                        feature: first.feature,
                        allowed: (0..first.allowed.len())
                            .map(|k| part.iter().any(|c| c.allowed[k]))
                            .collect(),
                    };
                    options.push(union(&values[..cut]));
                    options.push(union(&values[cut..]));
                }
            }
        }
        let mut scored: Vec<(f64, BinCond)> = options
            .into_iter()
            .map(|c| {
                let r = BinRule {
                    conds: vec![c.clone()],
                };
                (ctx.z(&r).abs(), c)
            })
            .filter(|(z, _)| *z > 0.0)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        singles.extend(scored.into_iter().take(2));
    }
    singles.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let top: Vec<BinCond> = singles.iter().take(10).map(|(_, c)| c.clone()).collect();
    let mut out: Vec<BinRule> = singles
        .iter()
        .map(|(_, c)| BinRule {
            conds: vec![c.clone()],
        })
        .collect();
    out.extend(combine(ctx, &top, 15));
    out
}

/// L1 candidates: the `limit` strongest interactions, and crossings of same-sign ones.
fn crossings(ctx: &PairRows, mut inter: Vec<(BinCond, f64)>, limit: usize) -> Vec<BinRule> {
    inter.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
    inter.truncate(limit);
    let mut out: Vec<BinRule> = inter
        .iter()
        .map(|(c, _)| BinRule {
            conds: vec![c.clone()],
        })
        .collect();
    for sign in [1.0, -1.0] {
        let same: Vec<BinCond> = inter
            .iter()
            .filter(|(_, b)| b.signum() == sign)
            .map(|(c, _)| c.clone())
            .collect();
        out.extend(combine(ctx, &same, 10));
    }
    out
}

/// Two- and three-condition crossings of `conds` on distinct features: the `keep` best by
/// training |z|.
fn combine(ctx: &PairRows, conds: &[BinCond], keep: usize) -> Vec<BinRule> {
    let mut combos: Vec<BinRule> = Vec::new();
    for i in 0..conds.len() {
        for j in i + 1..conds.len() {
            let Some(r) = (BinRule {
                conds: vec![conds[i].clone()],
            })
            .and(&conds[j], ctx.max_conditions) else {
                continue;
            };
            if r.conds.len() == 2 {
                combos.push(r.clone());
            }
            for c in &conds[j + 1..] {
                if let Some(r3) = r.and(c, ctx.max_conditions) {
                    if r3.conds.len() == 3 {
                        combos.push(r3);
                    }
                }
            }
        }
    }
    combos.sort();
    combos.dedup();
    let mut scored: Vec<(f64, BinRule)> = combos
        .into_par_iter()
        .map(|r| (ctx.z(&r).abs(), r))
        .filter(|(z, _)| *z > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(keep).map(|(_, r)| r).collect()
}

/// Share of bootstrap resamples of the test rows in which each candidate's difference keeps
/// its training sign.
fn bootstrap_stability(
    data: &CompareData,
    test: &[u32],
    candidates: &[Candidate],
    cover: &[Vec<u32>],
    params: &CompareParams,
) -> Vec<f64> {
    let b = params.bootstrap;
    if b == 0 || candidates.is_empty() {
        return vec![f64::NAN; candidates.len()];
    }
    let n = data.outcome.len();
    let hits: Vec<Vec<bool>> = (0..b)
        .into_par_iter()
        .map(|r| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed ^ (0xb007 + r as u64));
            let mut weight = vec![0u32; n];
            for _ in 0..test.len() {
                weight[test[rng.random_range(0..test.len())] as usize] += 1;
            }
            candidates
                .iter()
                .zip(cover)
                .map(|(c, rows)| {
                    let (mut a, mut bb) = (Acc::default(), Acc::default());
                    for &i in rows {
                        let w = weight[i as usize] as f64;
                        if w > 0.0 {
                            if data.group[i as usize] == c.pair.0 {
                                a.add_weighted(data.outcome[i as usize], w);
                            } else {
                                bb.add_weighted(data.outcome[i as usize], w);
                            }
                        }
                    }
                    let d = a.mean() - bb.mean();
                    d.is_finite() && d.signum() == c.z_train.signum() && d != 0.0
                })
                .collect()
        })
        .collect();
    (0..candidates.len())
        .map(|c| hits.iter().filter(|h| h[c]).count() as f64 / b as f64)
        .collect()
}
