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
//!    * `iv_woe`: monotonic optimal binning of every feature per group (`uplift::woe`), the union
//!      of both groups' bin edges, and the bins, prefixes and suffixes where the groups differ
//!      most, plus their two- and three-feature crossings.
//!    * `l1_logistic`: L1-penalised logistic (or linear) regression with group x bin
//!      interactions (`uplift::lasso`); the non-zero interactions and their crossings.
//!
//!    Every candidate and each of its sub-rules is then refined on the training rows
//!    (`uplift::refine`): each condition's boundary or set is re-chosen, a condition may be added or
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

pub mod arms;
pub(crate) mod bins;
mod compare;
pub mod export;
pub(crate) mod inference;
pub(crate) mod lasso;
pub mod policy;
pub(crate) mod refine;
pub(crate) mod tree;
pub(crate) mod woe;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::data::customers::{AttrColumn, Attributes, LeftOutColumn};
use crate::data::reader::TableReader;
use crate::error::{Error, Result};
use crate::predict::Part;
use crate::progress::Progress;
pub use bins::{Condition, Feature, FeatureValues, Test};
pub use inference::UpliftCurves;

pub use compare::compare;

/// Starting points refined per candidate tested: the raw candidates with the best penalised
/// training score, `REFINED_PER_CANDIDATE x max_candidates` of them.
const REFINED_PER_CANDIDATE: usize = 4;

/// Discovery methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// T-learner trees.
    Tree,
    /// Information value and weight of evidence binning.
    IvWoe,
    /// L1-penalised regression with group interactions.
    L1Logistic,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 3] = [Method::Tree, Method::IvWoe, Method::L1Logistic];
    /// `tree`, `iv_woe` or `l1_logistic`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Tree => "tree",
            Method::IvWoe => "iv_woe",
            Method::L1Logistic => "l1_logistic",
        }
    }
    /// The method of a name (`iv-woe` and `l1-logistic` too).
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
    /// Discovery methods to run.
    pub methods: Vec<Method>,
    /// Route of customers no rule matches ("default").
    pub default_label: String,
    /// The control group of an experiment with k arms: every other group's lift over it
    /// (`arms.json`) and a policy of which arm to give whom (`policy.json`); `None`: the
    /// pairwise comparison only.
    #[serde(default)]
    pub control: Option<String>,
    /// The policy's settings (with `control`).
    #[serde(default)]
    pub policy: policy::PolicyParams,
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
            control: None,
            policy: policy::PolicyParams::default(),
        }
    }
}

impl CompareParams {
    /// Checks the parameters; the error names the parameter.
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
    /// Customer id per row.
    pub customer_id: Vec<String>,
    /// Candidate features.
    pub features: Vec<Feature>,
    /// Index into `groups` (sorted labels).
    pub group: Vec<u32>,
    /// Group labels, sorted.
    pub groups: Vec<String>,
    /// Outcome per row (0/1 for a binary outcome).
    pub outcome: Vec<f64>,
    /// Column names: group, outcome.
    pub group_column: String,
    /// See `group_column`.
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

    /// What was left out, one line each: customers without a group or outcome value (counted)
    /// and columns that cannot be features (with why).
    pub fn left_out_notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.dropped > 0 {
            notes.push(format!(
                "{} customer(s) without a {} or {} value left out",
                self.dropped, self.group_column, self.outcome_column
            ));
        }
        notes.extend(self.columns_left_out.iter().map(|c| c.note()));
        notes
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
    /// Significant, large enough and stable: route customers by it now.
    ImplementNow,
    #[serde(rename = "PILOT")]
    /// Promising: try it on part of the customers first.
    Pilot,
    #[serde(rename = "COLLECT MORE DATA")]
    /// Not significant or too few customers yet.
    CollectMoreData,
    #[serde(rename = "SKIP")]
    /// Does not hold on held-out customers.
    Skip,
}

impl Verdict {
    /// The label shown (`IMPLEMENT NOW`, ...).
    pub fn label(self) -> &'static str {
        match self {
            Verdict::ImplementNow => "IMPLEMENT NOW",
            Verdict::Pilot => "PILOT",
            Verdict::CollectMoreData => "COLLECT MORE DATA",
            Verdict::Skip => "SKIP",
        }
    }
    /// Whether customers are routed by rules with this verdict.
    pub fn routed(self) -> bool {
        matches!(self, Verdict::ImplementNow | Verdict::Pilot)
    }
}

/// One group's customers and outcome in a rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupStat {
    /// The group.
    pub group: String,
    /// Its customers.
    pub customers: usize,
    /// Success rate (0/1 outcome) or mean outcome; null without customers.
    pub mean: Option<f64>,
}

/// A rule's numbers on one part of the data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartStats {
    /// Customers matching.
    pub customers: usize,
    /// Share of the part's customers the rule matches.
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub share: f64,
    /// Per group.
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
    /// The rule as text.
    pub rule: String,
    /// Its conditions.
    pub conditions: Vec<Condition>,
    /// Methods that found it.
    pub methods: Vec<Method>,
    /// The pair compared: difference = first - second.
    pub pair: [String; 2],
    /// The pair's group with the higher training outcome.
    pub better_group: String,
    /// The route: the better group of the pair on the training rows (a rule comparing two
    /// groups routes to one of them).
    pub recommended_group: String,
    /// On the training rows.
    pub train: PartStats,
    /// On the test rows.
    pub test: PartStats,
    /// 95% interval of the test difference.
    #[serde(deserialize_with = "crate::output::nan::pair")]
    pub ci: [f64; 2],
    #[serde(deserialize_with = "crate::output::nan::f64")]
    /// p-value of the test difference.
    pub p_value: f64,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    /// Benjamini-Hochberg q-value over every rule tested.
    pub q_value: f64,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    /// Share of bootstrap resamples of the test rows in which the difference keeps its sign.
    pub stability: f64,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in a sentence.
    pub reason: String,
    /// Part of the routing (IMPLEMENT NOW and PILOT).
    pub routed: bool,
    /// Customers (of all) this rule routes, first match wins: 0 for a routing rule whose
    /// customers earlier rules take; `None` for a rule outside the routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customers_routed: Option<usize>,
}

/// Information value of each feature per group (0/1 outcome; for a continuous outcome the
/// share of variance the bins explain).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureStrength {
    /// The feature.
    pub feature: String,
    /// The pair of groups.
    pub pair: [String; 2],
    #[serde(deserialize_with = "crate::output::nan::pair")]
    /// Information value in each group.
    pub iv: [f64; 2],
}

/// Per customer: split, route and predicted outcome per group.
#[derive(Debug, Clone, Default)]
pub struct Assignments {
    /// Train or test per customer.
    pub split: Vec<Part>,
    /// Routing rule id (1-based rank) or none.
    pub rule: Vec<Option<usize>>,
    /// Recommended group per customer.
    pub recommended: Vec<String>,
    /// Predicted outcome of each group (by `groups` order), per customer.
    pub predicted: Vec<Vec<f64>>,
    /// Predicted outcome of the first group minus the second (the routing-rule model).
    pub predicted_uplift: Vec<f64>,
    /// The T-learner trees' uplift (first pair).
    pub tlearner_uplift: Vec<f64>,
    /// With a control: the arm the policy gives each customer.
    pub recommended_arm: Option<Vec<String>>,
}

/// Everything [`compare`] finds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    /// Version of segmint.
    pub segmint: String,
    /// Group column.
    pub group_column: String,
    /// Outcome column.
    pub outcome_column: String,
    /// `binary` or `continuous`.
    pub outcome: String,
    /// Group labels.
    pub groups: Vec<String>,
    /// Customers compared.
    pub customers: usize,
    /// Customers left out for a missing group or outcome.
    pub dropped_customers: usize,
    /// Columns of the customers file that could not be features, with the reason.
    #[serde(default)]
    pub columns_left_out: Vec<LeftOutColumn>,
    /// Training customers.
    pub train_customers: usize,
    /// Test customers.
    pub test_customers: usize,
    /// Parameters.
    pub params: CompareParams,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    /// Smallest difference worth acting on.
    pub min_effect: f64,
    /// Every group's customers and outcome over all customers (train, test).
    pub overall: [PartStats; 2],
    /// Raw candidates per method.
    pub candidates_by_method: BTreeMap<String, usize>,
    /// Candidates validated.
    pub candidates_tested: usize,
    /// The rules, ranked.
    pub rules: Vec<RuleResult>,
    /// Information value of every feature per pair.
    pub feature_strength: Vec<FeatureStrength>,
    /// Test-set Qini / AUUC of the routing-rule model and of the T-learner (first pair).
    pub model_view: BTreeMap<String, UpliftCurves>,
    /// Label of customers no routing rule matches.
    pub default_label: String,
    /// With a control: each arm's lift over it, overall and per rule (`arms.json`).
    #[serde(skip)]
    pub arms: Option<arms::ArmsReport>,
    /// With a control: the policy tree and its value (`policy.json`).
    #[serde(skip)]
    pub policy: Option<policy::Policy>,
    #[serde(skip)]
    /// Per customer assignments.
    pub assignments: Assignments,
    #[serde(skip)]
    /// Customer ids.
    pub customer_id: Vec<String>,
}

impl Comparison {
    /// Ids of the routing rules in order.
    pub fn routing(&self) -> Vec<&RuleResult> {
        self.rules.iter().filter(|r| r.routed).collect()
    }
}
