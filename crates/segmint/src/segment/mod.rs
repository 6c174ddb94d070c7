//! RFM scores and rule-based segments.
//!
//! ```no_run
//! use segmint::data::{ColumnMap, Inputs, TableKind};
//! use segmint::mart::{build_mart, MartParams};
//! use segmint::progress::NoProgress;
//! use segmint::segment::{rfm, RfmParams, rules::RuleSet};
//!
//! let inputs = Inputs::from_dir("data".as_ref());
//! let tx = inputs.open(TableKind::Transactions, &ColumnMap::new())?;
//! let customers = inputs.open_optional(TableKind::Customers, &ColumnMap::new())?;
//! let mart = build_mart(&tx, &MartParams::default(), &NoProgress)?;
//! let rules = RuleSet::builtin("default").unwrap();
//! let result = rfm(mart, customers.as_ref(), &rules, &RfmParams::default(), &NoProgress)?;
//! println!("{} customers in {} segments", result.len(), result.segment_names.len());
//! # Ok::<(), segmint::Error>(())
//! ```

pub mod analysis;
pub mod migrate;
pub mod profile;
pub mod rules;
pub mod scores;

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::customers::Attributes;
use crate::data::reader::TableReader;
use crate::data::schema::TableKind;
use crate::error::{Error, Result};
use crate::mart::{Categorical, Mart, MartColumns};
use crate::progress::Progress;
use rules::{Column, RuleSet};
pub use scores::{quantile_scores, Ties};

/// Parameters of RFM scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RfmParams {
    /// Number of score bins (5 = quintiles).
    pub bins: u32,
    /// How equal values are ranked.
    pub ties: Ties,
}

impl RfmParams {
    /// Checks the parameters: `bins` in 2..=100.
    pub fn check(&self) -> Result<()> {
        if !(2..=100).contains(&self.bins) {
            return Err(Error::param(
                "bins",
                format!("must be 2..100, got {}", self.bins),
            ));
        }
        Ok(())
    }
}

impl Default for RfmParams {
    fn default() -> Self {
        RfmParams {
            bins: 5,
            ties: Ties::First,
        }
    }
}

/// A finding about the rule set on this data (unmatched customers, unreachable rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleWarning {
    /// The segment concerned, if one.
    pub segment: Option<String>,
    /// What was found.
    pub message: String,
    /// Customers concerned.
    pub count: u64,
}

/// Scores and segments, in mart order (sorted by `customer_id`).
#[derive(Debug, Clone)]
pub struct Rfm {
    /// The mart it was computed from.
    pub mart: Mart,
    /// R score per customer (1 = least recent ... bins = most recent).
    pub r: Vec<u8>,
    /// F score per customer.
    pub f: Vec<u8>,
    /// M score per customer.
    pub m: Vec<u8>,
    /// Index into `segment_names`; `None` when no rule matched and the set has no default.
    pub segment: Vec<Option<u32>>,
    /// Rule names in order, then the default.
    pub segment_names: Vec<String>,
    /// Findings about the rule set on this data.
    pub warnings: Vec<RuleWarning>,
    /// Bins and ties used.
    pub params: RfmParams,
}

impl Rfm {
    /// Customers.
    pub fn len(&self) -> usize {
        self.r.len()
    }
    /// No customer.
    pub fn is_empty(&self) -> bool {
        self.r.is_empty()
    }
    /// Customers per segment, in rule order.
    pub fn counts(&self) -> Vec<(String, u64)> {
        let mut c = vec![0u64; self.segment_names.len()];
        for s in self.segment.iter().flatten() {
            c[*s as usize] += 1;
        }
        self.segment_names.iter().cloned().zip(c).collect()
    }
}

/// Mart columns rules can refer to.
pub const MART_VARIABLES: &[&str] = &[
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "avg_order_value",
    "total_quantity",
    "primary_region",
    "preferred_payment",
];

fn categorical(c: &Option<Categorical>) -> Column<'_> {
    match c {
        Some(c) => Column::Str(Cow::Borrowed(&c.codes), &c.values),
        None => Column::Null,
    }
}

/// Customer attributes rules can refer to.
fn attribute_names() -> Vec<&'static str> {
    TableKind::Customers
        .columns()
        .iter()
        .map(|c| c.name)
        .filter(|n| *n != "customer_id")
        .collect()
}

/// The compiled conditions and the indices of the variables they use. Variable indices:
/// R, F, M, then [`MART_VARIABLES`] in order, then the customer attributes.
fn compile_rules(rules: &RuleSet) -> Result<(Vec<rules::Cond>, Vec<usize>)> {
    let (conds, _) = compile_rules_with_names(rules)?;
    let mut used = Vec::new();
    for c in &conds {
        c.variables(&mut used);
    }
    Ok((conds, used))
}

/// The compiled conditions and the names of the variables they index: R, F, M, then
/// [`MART_VARIABLES`] in order, then the customer attributes in schema order.
pub(crate) fn compile_rules_with_names(rules: &RuleSet) -> Result<(Vec<rules::Cond>, Vec<String>)> {
    let mut vars: Vec<String> = ["R", "F", "M"].iter().map(|s| s.to_string()).collect();
    vars.extend(MART_VARIABLES.iter().map(|s| s.to_string()));
    vars.extend(attribute_names().iter().map(|s| s.to_string()));
    let conds = rules.compile(&vars)?;
    Ok((conds, vars))
}

/// The mart columns `rules` need: [`MartColumns::Rfm`] unless a rule refers to
/// `total_quantity`, `primary_region` or `preferred_payment`.
pub fn mart_columns_for(rules: &RuleSet) -> Result<MartColumns> {
    let (_, used) = compile_rules(rules)?;
    let full = MART_VARIABLES
        .iter()
        .enumerate()
        .any(|(j, v)| used.contains(&(3 + j)) && LEAN_MISSING.contains(v));
    Ok(if full {
        MartColumns::All
    } else {
        MartColumns::Rfm
    })
}

/// Mart columns that [`MartColumns::Rfm`] leaves out.
const LEAN_MISSING: &[&str] = &["total_quantity", "primary_region", "preferred_payment"];

/// The rule set as it applies to this data: the built-in `default` set loses its premium split
/// when there is no `premium` column (see [`RuleSet::without_premium`]), with the note why.
pub fn rules_for_data<'a>(
    rules: &'a RuleSet,
    customers: Option<&TableReader>,
) -> (std::borrow::Cow<'a, RuleSet>, Option<String>) {
    if customers.is_some_and(|c| c.has("premium")) {
        return (std::borrow::Cow::Borrowed(rules), None);
    }
    match rules.without_premium() {
        Some(r) => (
            std::borrow::Cow::Owned(r),
            Some(format!(
                "no premium column{}: the default rule set's premium split is left out \
                 (\"Others - Premium\" / \"Others - Not premium\" are one segment, \"Others\")",
                customers
                    .map(|c| format!(" in {}", c.path.display()))
                    .unwrap_or_else(|| " (no customers file)".into())
            )),
        ),
        None => (std::borrow::Cow::Borrowed(rules), None),
    }
}

/// Scores the mart and assigns segments with `rules`. Customer attributes come from
/// `customers` when given (only the columns the rules use are read); without it they are null.
pub fn rfm(
    mart: Mart,
    customers: Option<&TableReader>,
    rules: &RuleSet,
    params: &RfmParams,
    progress: &dyn Progress,
) -> Result<Rfm> {
    params.check()?;
    let (rules, adapted) = rules_for_data(rules, customers);
    let rules: &RuleSet = &rules;
    let attr_names = attribute_names();
    let (conds, used) = compile_rules(rules)?;
    let first_attr = 3 + MART_VARIABLES.len();
    let used_attrs: Vec<&str> = attr_names
        .iter()
        .enumerate()
        .filter(|(j, _)| used.contains(&(first_attr + j)))
        .map(|(_, n)| *n)
        .collect();
    let attrs = match customers {
        Some(c) if !used_attrs.is_empty() => Some(Attributes::load(c, &used_attrs, progress)?),
        _ => None,
    };
    let mut warnings = Vec::new();
    if let Some(message) = adapted {
        warnings.push(RuleWarning {
            segment: None,
            message,
            count: mart.len() as u64,
        });
    }
    if customers.is_none() && !used_attrs.is_empty() {
        warnings.push(RuleWarning {
            segment: None,
            message: format!(
                "no customers file: {} are null for every customer",
                used_attrs.join(", ")
            ),
            count: mart.len() as u64,
        });
    }

    progress.begin("scoring", 0);
    let to_f = |v: &[i64]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let b = params.bins;
    let (r, (f, m)) = rayon::join(
        || {
            quantile_scores(&to_f(&mart.recency_days), b, params.ties)
                .into_iter()
                .map(|s| b as u8 + 1 - s)
                .collect::<Vec<u8>>()
        },
        || {
            rayon::join(
                || quantile_scores(&to_f(&mart.frequency), b, params.ties),
                || quantile_scores(&mart.monetary, b, params.ties),
            )
        },
    );

    // The variables the rules read, as columns in mart order. Indices follow
    // `compile_rules`: R, F, M, then MART_VARIABLES in order, then the customer attributes.
    let n = mart.len();
    let rows = attrs.as_ref().map(|a| a.rows_for(&mart.customer_id));
    let nums = |v: &[i64]| Column::Num(v.iter().map(|&x| x as f64).collect());
    let scores = |v: &[u8]| Column::Num(v.iter().map(|&x| x as f64).collect());
    let mut cols: Vec<Column> = vec![Column::Null; first_attr + attr_names.len()];
    for &v in &used {
        if !matches!(cols[v], Column::Null) {
            continue;
        }
        cols[v] = match v {
            0 => scores(&r),
            1 => scores(&f),
            2 => scores(&m),
            3 => nums(&mart.recency_days),
            4 => nums(&mart.frequency),
            5 => Column::Num(Cow::Borrowed(&mart.monetary)),
            6 => nums(&mart.tenure_days),
            7 => Column::Num(Cow::Borrowed(&mart.avg_order_value)),
            8 => mart.total_quantity.as_deref().map_or(Column::Null, nums),
            9 => categorical(&mart.primary_region),
            10 => categorical(&mart.preferred_payment),
            v => match (
                attrs
                    .as_ref()
                    .and_then(|a| a.column(attr_names[v - first_attr])),
                &rows,
            ) {
                (Some(col), Some(rows)) => col.gather(rows),
                _ => Column::Null,
            },
        };
    }
    let masks: Vec<Vec<bool>> = conds.par_iter().map(|c| c.eval_columns(&cols, n)).collect();
    drop(cols);

    let n_rules = conds.len();
    let mut segment_names: Vec<String> = rules.rules.iter().map(|r| r.name.clone()).collect();
    let default_idx = rules.default.as_ref().map(|d| {
        segment_names.push(d.clone());
        (segment_names.len() - 1) as u32
    });
    let matched: Vec<u64> = masks
        .iter()
        .map(|m| m.iter().filter(|&&x| x).count() as u64)
        .collect();
    // first matching rule wins
    let first: Vec<Option<u32>> = (0..n)
        .into_par_iter()
        .map(|i| masks.iter().position(|m| m[i]).map(|k| k as u32))
        .collect();
    let mut assigned = vec![0u64; n_rules];
    let mut unmatched = 0u64;
    let segment: Vec<Option<u32>> = first
        .into_iter()
        .map(|seg| match seg {
            Some(s) => {
                assigned[s as usize] += 1;
                Some(s)
            }
            None => {
                unmatched += 1;
                default_idx
            }
        })
        .collect();
    for k in 0..n_rules {
        let name = Some(rules.rules[k].name.clone());
        if matched[k] == 0 {
            warnings.push(RuleWarning {
                segment: name,
                message: "matches no customer".into(),
                count: 0,
            });
        } else if assigned[k] == 0 {
            warnings.push(RuleWarning {
                segment: name,
                message: format!(
                    "unreachable: the {} customers it matches are all taken by earlier rules",
                    matched[k]
                ),
                count: matched[k],
            });
        }
    }
    if default_idx.is_none() && unmatched > 0 {
        warnings.push(RuleWarning {
            segment: None,
            message: format!("{unmatched} customers match no rule and the rule set has no default: their segment is null"),
            count: unmatched,
        });
    }
    progress.finish();
    Ok(Rfm {
        mart,
        r,
        f,
        m,
        segment,
        segment_names,
        warnings,
        params: params.clone(),
    })
}

/// Schema of the RFM output: `customer_id, recency_days, frequency, monetary, R, F, M,
/// segment` (scores as int64 like pandas).
pub fn rfm_schema() -> arrow_schema::SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("recency_days", DataType::Int64, false),
        Field::new("frequency", DataType::Int64, false),
        Field::new("monetary", DataType::Float64, false),
        Field::new("R", DataType::Int64, false),
        Field::new("F", DataType::Int64, false),
        Field::new("M", DataType::Int64, false),
        Field::new("segment", DataType::Utf8, true),
    ]))
}

impl Rfm {
    /// `customer_id, recency_days, frequency, monetary, R, F, M, segment` (the bench `rfm`
    /// output; scores as int64 like pandas).
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let i64s = |v: &[u8]| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(v.iter().map(|&x| x as i64)))
        };
        let schema = rfm_schema();
        let seg: StringArray = self
            .segment
            .iter()
            .map(|s| s.map(|s| self.segment_names[s as usize].as_str()))
            .collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(&self.mart.customer_id)),
                Arc::new(Int64Array::from(self.mart.recency_days.clone())),
                Arc::new(Int64Array::from(self.mart.frequency.clone())),
                Arc::new(Float64Array::from(self.mart.monetary.clone())),
                i64s(&self.r),
                i64s(&self.f),
                i64s(&self.m),
                Arc::new(seg),
            ],
        )
        .map_err(|e| Error::Data(format!("building the rfm batch: {e}")))
    }
}
