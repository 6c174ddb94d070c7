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
//! let x = features(&mart, &FeatureParams::default());
//! let model = KMeansParams { n_clusters: 4, ..Default::default() }.fit(&x)?;
//! println!("inertia {}", model.inertia);
//! # Ok::<(), segmint::Error>(())
//! ```

pub mod kmeans;
pub mod names;
pub mod select;

pub use kmeans::{KMeans, KMeansParams};

use serde::{Deserialize, Serialize};

use crate::mart::Mart;

/// A dense row-major feature matrix.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
    pub names: Vec<String>,
}

impl Matrix {
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// How the default features are built: the `kmeans` task of `../shared/bench/README.md`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureParams {
    /// Apply ln(1 + max(x, 0)) before scaling.
    pub log1p: bool,
    /// Standardise each column (mean 0, population standard deviation 1; a constant column is
    /// only centred), as scikit-learn's `StandardScaler`.
    pub standardize: bool,
}

impl Default for FeatureParams {
    fn default() -> Self {
        FeatureParams {
            log1p: true,
            standardize: true,
        }
    }
}

/// The fitted scaling of each feature, to apply a model to new customers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Scaling {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

/// recency_days, frequency, monetary of every mart customer, transformed as `p` says.
pub fn features(mart: &Mart, p: &FeatureParams) -> Matrix {
    features_with_scaling(mart, p).0
}

/// [`features`] and the scaling used.
pub fn features_with_scaling(mart: &Mart, p: &FeatureParams) -> (Matrix, Scaling) {
    let n = mart.len();
    let cols: Vec<Vec<f64>> = vec![
        mart.recency_days.iter().map(|&v| v as f64).collect(),
        mart.frequency.iter().map(|&v| v as f64).collect(),
        mart.monetary.clone(),
    ];
    let cols: Vec<Vec<f64>> = cols
        .into_iter()
        .map(|c| {
            if p.log1p {
                c.into_iter().map(|v| v.max(0.0).ln_1p()).collect()
            } else {
                c
            }
        })
        .collect();
    let mut mean = vec![0.0; 3];
    let mut scale = vec![1.0; 3];
    if p.standardize {
        for (j, c) in cols.iter().enumerate() {
            let m = c.iter().sum::<f64>() / n.max(1) as f64;
            let var = c.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n.max(1) as f64;
            mean[j] = m;
            scale[j] = if var > 0.0 { var.sqrt() } else { 1.0 };
        }
    }
    let mut data = vec![0.0; n * 3];
    for (j, c) in cols.iter().enumerate() {
        for (row, v) in data.chunks_exact_mut(3).zip(c) {
            row[j] = (v - mean[j]) / scale[j];
        }
    }
    (
        Matrix {
            rows: n,
            cols: 3,
            data,
            names: vec!["recency_days".into(), "frequency".into(), "monetary".into()],
        },
        Scaling { mean, scale },
    )
}

/// `customer_id, cluster, cluster_name` as one batch (`names[c]` names cluster c).
pub fn labels_batch(
    ids: &[String],
    labels: &[u32],
    names: &[String],
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
            Arc::new(Int64Array::from_iter_values(
                labels.iter().map(|&l| l as i64),
            )),
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
