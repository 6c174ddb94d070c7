//! Clustering of customers: features from the mart and k-means.
//!
//! ```no_run
//! use segmint::cluster::{features, FeatureParams, KMeansParams};
//! use segmint::data::{ColumnMap, Inputs, TableKind};
//! use segmint::mart::{build_mart, MartParams};
//! use segmint::progress::NoProgress;
//!
//! let inputs = Inputs::from_dir("data".as_ref());
//! let tx = inputs.open(TableKind::Transactions, &ColumnMap::new())?;
//! let mart = build_mart(&tx, &MartParams::default(), &NoProgress)?;
//! let x = features(&mart, &FeatureParams::default())?;
//! let model = KMeansParams { n_clusters: 4, ..Default::default() }.fit(&x)?;
//! println!("inertia {}", model.inertia);
//! # Ok::<(), segmint::Error>(())
//! ```

pub mod analysis;
pub mod fit;
pub mod kmeans;
pub mod names;
pub mod other;
pub mod select;

pub use kmeans::{KMeans, KMeansParams};

use serde::{Deserialize, Serialize};

use crate::data::customers::{AttrColumn, Attributes};
use crate::data::values::ValueRef;
use crate::error::{Error, Result};
use crate::mart::Mart;
pub use crate::table::Table;

/// Transform applied to each numeric feature before scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// No transform.
    None,
    /// ln(1 + max(x, 0)): negative values (net refunds) are clipped to 0 first.
    Log1p,
}

/// Scaling of each numeric feature after the transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scaler {
    /// No scaling.
    None,
    /// (x - mean) / population standard deviation (scikit-learn's `StandardScaler`); a constant
    /// column is only centred.
    Standard,
    /// (x - median) / (q75 - q25) with linearly interpolated quartiles (scikit-learn's
    /// `RobustScaler`); a column with a zero interquartile range is only centred.
    Robust,
}

/// How the features are built. The default is the `kmeans` task of `../shared/bench/README.md`:
/// ln(1 + x) of recency_days, frequency and monetary, standardised.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeatureParams {
    /// Numeric mart columns (see [`NUMERIC_FEATURES`]).
    pub columns: Vec<String>,
    /// Transform of the numeric features before scaling.
    pub transform: Transform,
    /// Scaling of the numeric features.
    pub scaler: Scaler,
    /// Categorical mart columns (`primary_region`, `preferred_payment`), one-hot encoded: one
    /// feature per value seen in the fit, `categorical_weight` for the customer's value, 0
    /// otherwise (and for a missing value).
    pub categorical: Vec<String>,
    /// Weight of the one-hot categorical columns relative to the numeric ones.
    pub categorical_weight: f64,
}

impl Default for FeatureParams {
    fn default() -> Self {
        FeatureParams {
            columns: vec!["recency_days".into(), "frequency".into(), "monetary".into()],
            transform: Transform::Log1p,
            scaler: Scaler::Standard,
            categorical: Vec::new(),
            categorical_weight: 1.0,
        }
    }
}

/// Numeric features a user can choose, with what they are. Aliases name the same mart column
/// under the names analysts use.
pub const NUMERIC_FEATURES: &[(&str, &str)] = &[
    (
        "recency_days",
        "days from the last purchase to the reference date",
    ),
    ("frequency", "distinct orders"),
    ("monetary", "net spend (purchases minus returns)"),
    (
        "tenure_days",
        "days from the first purchase to the reference date",
    ),
    ("avg_order_value", "monetary / frequency"),
    ("total_quantity", "units bought, net of returns"),
    ("avg_basket_size", "total_quantity / frequency"),
    ("days_since_purchase", "alias of recency_days"),
    ("purchase_count", "alias of frequency"),
    ("total_spent", "alias of monetary"),
    ("avg_transaction_value", "alias of avg_order_value"),
];

/// Categorical features a user can choose.
pub const CATEGORICAL_FEATURES: &[&str] = &["primary_region", "preferred_payment"];

/// Whether `p` needs the full mart ([`crate::mart::MartColumns::All`]).
pub fn needs_full_mart(p: &FeatureParams) -> bool {
    !p.categorical.is_empty()
        || p.columns
            .iter()
            .any(|c| c == "total_quantity" || c == "avg_basket_size")
}

fn numeric_column(mart: &Mart, name: &str) -> Result<Vec<f64>> {
    let ints = |v: &[i64]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let quantity = || {
        mart.total_quantity.as_ref().ok_or_else(|| {
            Error::Config(format!(
                "feature {name:?} needs the full mart (total_quantity)"
            ))
        })
    };
    Ok(match name {
        "recency_days" | "days_since_purchase" => ints(&mart.recency_days),
        "frequency" | "purchase_count" => ints(&mart.frequency),
        "monetary" | "total_spent" => mart.monetary.clone(),
        "tenure_days" => ints(&mart.tenure_days),
        "avg_order_value" | "avg_transaction_value" => mart.avg_order_value.clone(),
        "total_quantity" => ints(quantity()?),
        "avg_basket_size" => quantity()?
            .iter()
            .zip(&mart.frequency)
            .map(|(&q, &f)| if f > 0 { q as f64 / f as f64 } else { 0.0 })
            .collect(),
        _ => {
            return Err(Error::Config(format!(
                "unknown feature {name:?}; numeric features: {}",
                NUMERIC_FEATURES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    })
}

fn categorical_column<'a>(mart: &'a Mart, name: &str) -> Result<&'a crate::mart::Categorical> {
    let c = match name {
        "primary_region" => mart.primary_region.as_ref(),
        "preferred_payment" => mart.preferred_payment.as_ref(),
        _ => {
            return Err(Error::Config(format!(
                "unknown categorical feature {name:?}; categorical features: {}",
                CATEGORICAL_FEATURES.join(", ")
            )))
        }
    };
    c.ok_or_else(|| Error::Config(format!("feature {name:?} needs the full mart")))
}

/// The fitted scaling of each numeric feature and the one-hot levels, to apply a model to new
/// customers exactly as it was fitted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Scaling {
    /// Per numeric feature: the value subtracted before scaling.
    pub center: Vec<f64>,
    /// Per numeric feature: the divisor after centring.
    pub scale: Vec<f64>,
    /// Per categorical column, its values in feature order.
    #[serde(default)]
    pub levels: Vec<Vec<String>>,
    /// Per numeric column, the value (after the transform) that stands in for a missing
    /// customer attribute: the median of the fit's known values.
    #[serde(default)]
    pub fill: Vec<f64>,
}

/// Customer attributes joined to the mart's customers: features by any column name of the
/// customers file besides the mart's own.
pub struct Joined<'a> {
    attrs: &'a Attributes,
    rows: Vec<Option<u32>>,
}

impl<'a> Joined<'a> {
    /// Joins `attrs` to the mart's customers (a customer missing from the file has missing
    /// values).
    pub fn new(mart: &Mart, attrs: &'a Attributes) -> Joined<'a> {
        Joined {
            rows: attrs.rows_for(&mart.customer_id),
            attrs,
        }
    }

    /// Mart customers without a value of the attribute (not in the file, or empty there).
    pub fn missing(&self, name: &str) -> usize {
        match self.attrs.column(name) {
            Some(c) => self
                .rows
                .iter()
                .filter(|r| r.is_none_or(|r| matches!(c.get(r), ValueRef::Null)))
                .count(),
            None => self.rows.len(),
        }
    }

    fn numeric(&self, name: &str) -> Option<Vec<f64>> {
        self.attrs.column(name)?.numbers(&self.rows)
    }

    fn categorical(&self, name: &str) -> Option<crate::mart::Categorical> {
        match self.attrs.column(name)? {
            AttrColumn::Str(codes, dict) => Some(crate::mart::Categorical {
                values: dict.clone(),
                codes: self
                    .rows
                    .iter()
                    .map(|r| r.and_then(|r| codes[r as usize]))
                    .collect(),
            }),
            _ => None,
        }
    }
}

/// Whether a feature name is one of the mart's own (numeric or categorical).
pub fn is_mart_feature(name: &str) -> bool {
    NUMERIC_FEATURES.iter().any(|(n, _)| *n == name) || CATEGORICAL_FEATURES.contains(&name)
}

/// The features of every mart customer as `p` says.
pub fn features(mart: &Mart, p: &FeatureParams) -> Result<Table> {
    Ok(features_with_scaling(mart, p)?.0)
}

/// [`features`] and the scaling fitted on this mart.
pub fn features_with_scaling(mart: &Mart, p: &FeatureParams) -> Result<(Table, Scaling)> {
    build_features(mart, None, p, None)
}

/// Features built with a scaling fitted before (for new customers).
pub fn features_scaled(mart: &Mart, p: &FeatureParams, scaling: &Scaling) -> Result<Table> {
    Ok(build_features(mart, None, p, Some(scaling))?.0)
}

/// Features from the mart and, for names that are not mart columns, the joined customer
/// attributes (numbers, booleans as 0/1, dates as days before the reference date; text
/// columns in `categorical`), with the scaling fitted here (`fitted` None) or before. A
/// missing attribute value takes the column's median (after the transform) in the fit.
pub fn features_joined(
    mart: &Mart,
    joined: Option<&Joined>,
    p: &FeatureParams,
    fitted: Option<&Scaling>,
) -> Result<(Table, Scaling)> {
    build_features(mart, joined, p, fitted)
}

/// A numeric feature's values, `NaN` where a customer attribute is missing.
fn numeric_feature(mart: &Mart, joined: Option<&Joined>, name: &str) -> Result<Vec<f64>> {
    if NUMERIC_FEATURES.iter().any(|(n, _)| *n == name) {
        return numeric_column(mart, name);
    }
    match joined {
        Some(j) => j.numeric(name).ok_or_else(|| {
            Error::Config(format!(
                "feature {name:?} is not a number, boolean or date column of the customers file"
            ))
        }),
        None => numeric_column(mart, name),
    }
}

fn build_features(
    mart: &Mart,
    joined: Option<&Joined>,
    p: &FeatureParams,
    fitted: Option<&Scaling>,
) -> Result<(Table, Scaling)> {
    if p.columns.is_empty() && p.categorical.is_empty() {
        return Err(Error::Config("no clustering features chosen".into()));
    }
    if !p.categorical_weight.is_finite() || p.categorical_weight < 0.0 {
        return Err(Error::Config(format!(
            "categorical weight must be >= 0, got {}",
            p.categorical_weight
        )));
    }
    let n = mart.len();
    let mut cols: Vec<Vec<f64>> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut fill = Vec::with_capacity(p.columns.len());
    for (j, name) in p.columns.iter().enumerate() {
        let mut c = numeric_feature(mart, joined, name)?;
        if p.transform == Transform::Log1p {
            c.iter_mut()
                .filter(|v| !v.is_nan())
                .for_each(|v| *v = v.max(0.0).ln_1p());
        }
        let f = match fitted {
            Some(s) => s.fill.get(j).copied().unwrap_or(f64::NAN),
            None => median_known(&c),
        };
        c.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = f);
        fill.push(f);
        cols.push(c);
        names.push(name.clone());
    }
    let scaling_numeric: (Vec<f64>, Vec<f64>) = match fitted {
        Some(s) if s.center.len() == cols.len() => (s.center.clone(), s.scale.clone()),
        Some(s) => {
            return Err(Error::Config(format!(
                "the model was fitted on {} numeric features, the parameters give {}",
                s.center.len(),
                cols.len()
            )))
        }
        None => cols.iter().map(|c| fit_scale(c, p.scaler)).unzip(),
    };
    let (center, scale) = scaling_numeric;
    for (j, c) in cols.iter_mut().enumerate() {
        c.iter_mut().for_each(|v| *v = (*v - center[j]) / scale[j]);
    }
    let mut levels = Vec::new();
    for (ci, name) in p.categorical.iter().enumerate() {
        let owned;
        let cat = match joined.and_then(|j| {
            (!is_mart_feature(name))
                .then(|| j.categorical(name))
                .flatten()
        }) {
            Some(c) => {
                owned = c;
                &owned
            }
            None => categorical_column(mart, name)?,
        };
        let lv: Vec<String> =
            match fitted {
                Some(s) => s.levels.get(ci).cloned().ok_or_else(|| {
                    Error::Config(format!("the model has no levels for {name:?}"))
                })?,
                None => {
                    let mut v = cat.values.clone();
                    v.sort();
                    v
                }
            };
        for value in &lv {
            cols.push(
                (0..n)
                    .map(|i| {
                        if cat.get(i) == Some(value.as_str()) {
                            p.categorical_weight
                        } else {
                            0.0
                        }
                    })
                    .collect(),
            );
            names.push(format!("{name}={value}"));
        }
        levels.push(lv);
    }
    let d = cols.len();
    let mut data = vec![0.0; n * d];
    for (j, c) in cols.iter().enumerate() {
        for (row, v) in data.chunks_exact_mut(d).zip(c) {
            row[j] = *v;
        }
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(Error::Data(format!(
            "feature {} of customer {} is {} after the transform",
            names[i % d],
            mart.customer_id[i / d],
            data[i]
        )));
    }
    Ok((
        Table {
            rows: n,
            cols: d,
            data,
            names,
        },
        Scaling {
            center,
            scale,
            levels,
            fill,
        },
    ))
}

/// The median of the known (non-NaN) values; 0 when there are none.
fn median_known(c: &[f64]) -> f64 {
    let mut known: Vec<f64> = c.iter().copied().filter(|v| !v.is_nan()).collect();
    if known.is_empty() {
        return 0.0;
    }
    known.sort_by(f64::total_cmp);
    crate::stats::quantile_sorted(&known, 0.5)
}

/// Center and scale of one column for `scaler`.
fn fit_scale(c: &[f64], scaler: Scaler) -> (f64, f64) {
    let n = c.len().max(1) as f64;
    let nonzero = |s: f64| if s > 0.0 && s.is_finite() { s } else { 1.0 };
    match scaler {
        Scaler::None => (0.0, 1.0),
        Scaler::Standard => {
            let m = c.iter().sum::<f64>() / n;
            let var = c.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n;
            (m, nonzero(var.sqrt()))
        }
        Scaler::Robust => {
            let mut s = c.to_vec();
            s.sort_by(f64::total_cmp);
            let q = |p| crate::stats::quantile_sorted(&s, p);
            (q(0.5), nonzero(q(0.75) - q(0.25)))
        }
    }
}

/// Per cluster, the mean of the standardised ln(1 + x) recency, frequency and monetary of its
/// customers: the z-scores the automatic names are made from, whatever features were clustered.
pub fn rfm_z_means(mart: &Mart, labels: &[u32], k: usize) -> Result<Vec<[f64; 3]>> {
    let x = features(mart, &FeatureParams::default())?;
    let mut sums = vec![[0.0f64; 3]; k];
    let mut counts = vec![0usize; k];
    for (i, &l) in labels.iter().enumerate() {
        if (l as usize) < k {
            counts[l as usize] += 1;
            for (acc, v) in sums[l as usize].iter_mut().zip(x.row(i)) {
                *acc += v;
            }
        }
    }
    Ok(sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| s.map(|v| v / c.max(1) as f64))
        .collect())
}

/// `customer_id, cluster, cluster_name` as one batch (`names[c]` names cluster c); the label
/// `noise` (DBSCAN) is written as cluster -1.
pub fn labels_batch(
    ids: &[String],
    labels: &[u32],
    names: &[String],
    noise: Option<u32>,
) -> crate::Result<arrow_array::RecordBatch> {
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;
    arrow_array::RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("cluster", DataType::Int64, false),
            Field::new("cluster_name", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(StringArray::from_iter_values(ids)),
            Arc::new(Int64Array::from_iter_values(labels.iter().map(|&l| {
                if Some(l) == noise {
                    -1
                } else {
                    l as i64
                }
            }))),
            Arc::new(StringArray::from_iter_values(
                labels.iter().map(|&l| names[l as usize].as_str()),
            )),
        ],
    )
    .map_err(|e| crate::Error::Data(format!("building the cluster batch: {e}")))
}

/// Adjusted Rand index of two labelings (Hubert & Arabie 1985; scikit-learn's
/// `adjusted_rand_score`). 1 for identical partitions up to renaming.
pub fn adjusted_rand_index(a: &[u32], b: &[u32]) -> f64 {
    use std::collections::HashMap;
    let n = a.len() as f64;
    let mut table: HashMap<(u32, u32), f64> = HashMap::new();
    let mut ra: HashMap<u32, f64> = HashMap::new();
    let mut rb: HashMap<u32, f64> = HashMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *table.entry((x, y)).or_default() += 1.0;
        *ra.entry(x).or_default() += 1.0;
        *rb.entry(y).or_default() += 1.0;
    }
    let c2 = |v: f64| v * (v - 1.0) / 2.0;
    let index: f64 = table.values().map(|&v| c2(v)).sum();
    let sa: f64 = ra.values().map(|&v| c2(v)).sum();
    let sb: f64 = rb.values().map(|&v| c2(v)).sum();
    let expected = sa * sb / c2(n);
    let max = (sa + sb) / 2.0;
    if max == expected {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    use super::adjusted_rand_index;

    #[test]
    fn ari_values() {
        // scikit-learn 1.x: adjusted_rand_score([0,0,1,1],[1,1,0,0]) = 1.0;
        // adjusted_rand_score([0,0,1,2],[0,0,1,1]) = 0.5714285714285715;
        // adjusted_rand_score([0,0,0,0],[0,1,2,3]) = 0.0
        assert_eq!(adjusted_rand_index(&[0, 0, 1, 1], &[1, 1, 0, 0]), 1.0);
        assert!(
            (adjusted_rand_index(&[0, 0, 1, 2], &[0, 0, 1, 1]) - 0.5714285714285715).abs() < 1e-12
        );
        assert_eq!(adjusted_rand_index(&[0, 0, 0, 0], &[0, 1, 2, 3]), 0.0);
    }
}
