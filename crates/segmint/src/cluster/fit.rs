//! One entry point for every clustering method ([`fit_clusters`]), the names of the clusters,
//! and the saved cluster model that applies a fit to new customers ([`ClusterModel`]).
//!
//! ```no_run
//! use segmint::cluster::fit::{cluster_names, fit_clusters, ClusterCount, ClusterParams};
//! use segmint::cluster::{features, FeatureParams};
//! use segmint::data::{ColumnMap, Inputs, TableKind};
//! use segmint::mart::{build_mart, MartParams};
//! use segmint::progress::NoProgress;
//!
//! let tx = Inputs::from_dir("data".as_ref()).open(TableKind::Transactions, &ColumnMap::new())?;
//! let mart = build_mart(&tx, &MartParams::default(), &NoProgress)?;
//! let x = features(&mart, &FeatureParams::default())?;
//! let params = ClusterParams { k: ClusterCount::Auto { min: 3, max: 8 }, ..Default::default() };
//! let fit = fit_clusters(&x, &params, &NoProgress)?;
//! for n in cluster_names(&mart, &fit)? {
//!     println!("{}: {}", n.name, n.action);
//! }
//! # Ok::<(), segmint::Error>(())
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::kmeans::KMeansParams;
use super::names::{name_clusters, ClusterName};
use super::other::{assign_all, dbscan, minibatch, ward};
use super::select::{select_k, Selection};
use super::{rfm_z_means, FeatureParams, Scaling, Table};
use crate::error::{Error, Result};
use crate::mart::Mart;
use crate::progress::Progress;

/// Clustering method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// k-means (k-means++ seeding, restarts, exact Lloyd or Hamerly iterations).
    Kmeans,
    /// Mini-batch k-means.
    Minibatch,
    /// Agglomerative clustering with Ward's criterion on a sample.
    Ward,
    /// DBSCAN on a sample; the number of clusters follows from the data.
    Dbscan,
}

/// How many clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterCount {
    /// Exactly this many (ignored by DBSCAN).
    Fixed(usize),
    /// Chosen in `min..=max` by silhouette, Calinski-Harabasz and Davies-Bouldin (k-means).
    Auto {
        /// Smallest k tried.
        min: usize,
        /// Largest k tried.
        max: usize,
    },
}

/// Settings of [`fit_clusters`], with their defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterParams {
    /// Method (k-means).
    pub method: Method,
    /// Number of clusters (4).
    pub k: ClusterCount,
    /// Restarts, iterations, tolerance, seed and algorithm of k-means (and its mini-batch
    /// form); `n_clusters` is taken from `k`.
    pub kmeans: KMeansParams,
    /// Mini-batch size (1,024).
    pub batch_size: usize,
    /// Sampled customers for Ward (default 5,000) and DBSCAN (default 10,000).
    pub sample: Option<usize>,
    /// DBSCAN radius (default: from the k-distance curve).
    pub eps: Option<f64>,
    /// DBSCAN neighbours that make a core point (default: 2 x features).
    pub min_samples: Option<usize>,
    /// Points of the seeded sample for the silhouette when k is chosen (10,000).
    pub silhouette_sample: usize,
}

impl Default for ClusterParams {
    fn default() -> Self {
        ClusterParams {
            method: Method::Kmeans,
            k: ClusterCount::Fixed(4),
            kmeans: KMeansParams::default(),
            batch_size: 1024,
            sample: None,
            eps: None,
            min_samples: None,
            silhouette_sample: 10_000,
        }
    }
}

impl ClusterParams {
    /// Checks the parameters; the error names the parameter and its value.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        match self.k {
            ClusterCount::Auto { .. } if self.method != Method::Kmeans => {
                bad("k = auto is available with the kmeans method".into())
            }
            ClusterCount::Auto { min, max } if min < 2 || max < min => {
                bad(format!("k range {min}..{max}: need 2 <= min <= max"))
            }
            ClusterCount::Fixed(0) if self.method != Method::Dbscan => {
                bad("k must be at least 1".into())
            }
            _ if self.batch_size == 0 => bad("batch size must be at least 1".into()),
            _ if self.sample == Some(0) => bad("sample must be at least 1".into()),
            _ => Ok(()),
        }
    }
}

/// The result of any method, the same way.
#[derive(Debug, Clone)]
pub struct ClusterFit {
    /// Cluster of every row (DBSCAN's noise: `noise`).
    pub labels: Vec<u32>,
    /// Cluster means in feature space; new customers join the nearest.
    pub centers: Vec<Vec<f64>>,
    /// Number of clusters (noise not counted).
    pub k: usize,
    /// The label of DBSCAN's noise, if any.
    pub noise: Option<u32>,
    /// Sum of squared distances to the centers.
    pub inertia: f64,
    /// Method-specific details (parameters, iterations, restarts, eps, ...).
    pub details: serde_json::Value,
    /// The k selection, when k was chosen.
    pub selection: Option<Selection>,
}

/// Clusters the rows of `x` as `p` says.
pub fn fit_clusters(x: &Table, p: &ClusterParams, progress: &dyn Progress) -> Result<ClusterFit> {
    p.check()?;
    let timed = |what: &str| progress.begin(what, 0);
    let k_fixed = match p.k {
        ClusterCount::Fixed(k) => k,
        ClusterCount::Auto { .. } => 0,
    };
    let mut params = KMeansParams {
        n_clusters: k_fixed,
        ..p.kmeans.clone()
    };
    let kmeans_fit = |m: super::KMeans, params: &KMeansParams, selection| ClusterFit {
        k: m.centers.len(),
        details: serde_json::json!({"params": params, "n_iter": m.n_iter,
            "best_init": m.best_init, "restarts": m.restarts}),
        labels: m.labels,
        centers: m.centers,
        noise: None,
        inertia: m.inertia,
        selection,
    };
    let fit = match (p.method, p.k) {
        (Method::Kmeans, ClusterCount::Auto { min, max }) => {
            timed("choosing k");
            let sel = select_k(x, &params, min, max, p.silhouette_sample);
            progress.finish();
            let mut sel = sel?;
            let m = sel.model.take().expect("the chosen model");
            params.n_clusters = sel.chosen_k;
            kmeans_fit(m, &params, Some(sel))
        }
        (Method::Kmeans | Method::Minibatch, _) => {
            let m = if p.method == Method::Minibatch {
                timed("mini-batch k-means");
                minibatch(x, &params, p.batch_size)
            } else {
                timed("k-means");
                params.fit(x)
            };
            progress.finish();
            kmeans_fit(m?, &params, None)
        }
        (Method::Ward, _) => {
            timed("Ward clustering");
            let r = ward(x, k_fixed, p.sample.unwrap_or(5_000), p.kmeans.seed);
            progress.finish();
            let r = r?;
            ClusterFit {
                k: r.n_clusters,
                details: serde_json::to_value(&r).map_err(|e| Error::Data(e.to_string()))?,
                labels: r.labels,
                centers: r.centers,
                noise: None,
                inertia: r.inertia,
                selection: None,
            }
        }
        (Method::Dbscan, _) => {
            let min_samples = p.min_samples.unwrap_or(2 * x.cols);
            timed("DBSCAN");
            let r = dbscan(
                x,
                p.eps,
                min_samples,
                p.sample.unwrap_or(10_000),
                p.kmeans.seed,
            );
            progress.finish();
            let r = r?;
            if r.n_clusters == 0 {
                return Err(Error::Data(format!(
                    "DBSCAN found no cluster (eps {:.4}, min-samples {min_samples}): every customer is noise; raise eps or lower min-samples",
                    r.eps.unwrap_or(0.0)
                )));
            }
            ClusterFit {
                k: r.n_clusters,
                details: serde_json::to_value(&r).map_err(|e| Error::Data(e.to_string()))?,
                labels: r.labels,
                centers: r.centers,
                noise: r.noise,
                inertia: r.inertia,
                selection: None,
            }
        }
    };
    Ok(fit)
}

/// Names and actions of the clusters from their customers' mean log-RFM z-scores (whatever
/// the features), plus `Noise` for DBSCAN's noise.
pub fn cluster_names(mart: &Mart, fit: &ClusterFit) -> Result<Vec<ClusterName>> {
    let mut named = name_clusters(&rfm_z_means(mart, &fit.labels, fit.k)?);
    if let Some(nl) = fit.noise {
        named.push(noise_name(nl));
    }
    Ok(named)
}

fn noise_name(label: u32) -> ClusterName {
    ClusterName {
        cluster: label as usize,
        name: "Noise".into(),
        z_recency: f64::NAN,
        z_frequency: f64::NAN,
        z_monetary: f64::NAN,
        base: "Noise".into(),
        action: "Unusual customers that fit no cluster: review individually".into(),
    }
}

/// A saved clustering model: the features and their fitted scaling, the centers and the
/// names, to put new customers into the same clusters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterModel {
    /// Format and version of the file: [`ClusterModel::KIND`].
    pub segmint_model: String,
    /// The method that was fitted.
    pub method: Method,
    /// The features, as they were built.
    pub features: FeatureParams,
    /// Their fitted scaling (and one-hot levels).
    pub scaling: Scaling,
    /// Cluster means in feature space; new customers join the nearest.
    pub centers: Vec<Vec<f64>>,
    /// Name and action of each cluster.
    pub names: Vec<ClusterName>,
    /// Reference date of the fit (`YYYY-MM-DD`).
    pub ref_date: String,
    /// Method-specific details of the fit.
    pub details: serde_json::Value,
}

impl ClusterModel {
    /// The format written in `segmint_model`.
    pub const KIND: &'static str = "cluster/1";

    /// The model of a fit.
    pub fn new(
        fit: &ClusterFit,
        method: Method,
        features: &FeatureParams,
        scaling: &Scaling,
        names: &[ClusterName],
        ref_date: String,
    ) -> ClusterModel {
        ClusterModel {
            segmint_model: Self::KIND.into(),
            method,
            features: features.clone(),
            scaling: scaling.clone(),
            centers: fit.centers.clone(),
            names: names.iter().take(fit.k).cloned().collect(),
            ref_date,
            details: fit.details.clone(),
        }
    }

    /// Writes the model as JSON (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Data(e.to_string()))?;
        crate::output::write_text(path, &text)
    }

    /// Reads a model written by [`ClusterModel::save`]; refuses another kind of file.
    pub fn load(path: &Path) -> Result<ClusterModel> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let m: ClusterModel = serde_json::from_str(&text)
            .map_err(|e| Error::format(path, format!("not a segmint cluster model: {e}")))?;
        if m.segmint_model != Self::KIND {
            return Err(Error::format(
                path,
                format!(
                    "model kind {:?}, expected {:?}",
                    m.segmint_model,
                    Self::KIND
                ),
            ));
        }
        if m.centers.iter().any(|c| {
            c.len() != m.scaling.center.len() + m.scaling.levels.iter().map(Vec::len).sum::<usize>()
        }) {
            return Err(Error::format(
                path,
                "the centers do not match the model's features",
            ));
        }
        Ok(m)
    }

    /// Puts the rows of `x` (built with the model's features and scaling) into the nearest
    /// cluster; `x` must have the model's feature columns.
    pub fn assign(&self, x: &Table, progress: &dyn Progress) -> Result<ClusterFit> {
        let width = self.centers.first().map_or(0, Vec::len);
        if x.cols != width {
            return Err(Error::Config(format!(
                "the model has {width} features, the data {} ({})",
                x.cols,
                x.names.join(", ")
            )));
        }
        progress.begin("assigning", 0);
        let (labels, inertia) = assign_all(x, &self.centers);
        progress.finish();
        Ok(ClusterFit {
            labels,
            centers: self.centers.clone(),
            k: self.centers.len(),
            noise: None,
            inertia,
            details: serde_json::Value::Null,
            selection: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two well-separated blobs: k-means finds them, the saved model puts every row back into
    /// its cluster after a save and load, and other files and bad parameters are refused.
    #[test]
    fn fit_save_load_assign() {
        let mut data = Vec::new();
        for i in 0..200 {
            let (cx, cy) = if i % 2 == 0 { (0.0, 0.0) } else { (10.0, 10.0) };
            data.extend([cx + (i % 7) as f64 * 0.1, cy + (i % 5) as f64 * 0.1]);
        }
        let x = Table {
            rows: 200,
            cols: 2,
            data,
            names: vec!["a".into(), "b".into()],
        };
        let p = ClusterParams {
            k: ClusterCount::Fixed(2),
            ..Default::default()
        };
        let fit = fit_clusters(&x, &p, &crate::progress::NoProgress).unwrap();
        assert_eq!(fit.k, 2);
        assert!((0..200).all(|i| fit.labels[i] == fit.labels[i % 2]));
        assert_ne!(fit.labels[0], fit.labels[1]);
        let scaling = Scaling {
            center: vec![0.0, 0.0],
            scale: vec![1.0, 1.0],
            levels: Vec::new(),
            fill: Vec::new(),
        };
        let model = ClusterModel::new(
            &fit,
            Method::Kmeans,
            &FeatureParams::default(),
            &scaling,
            &[],
            "2026-01-01".into(),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        model.save(&path).unwrap();
        let back = ClusterModel::load(&path).unwrap();
        let again = back.assign(&x, &crate::progress::NoProgress).unwrap();
        assert_eq!(again.labels, fit.labels);
        assert!((again.inertia - fit.inertia).abs() < 1e-9);
        std::fs::write(&path, "{\"segmint_model\": \"churn/1\"}").unwrap();
        assert!(ClusterModel::load(&path)
            .unwrap_err()
            .to_string()
            .contains("not a segmint cluster model"));
        let auto_ward = ClusterParams {
            method: Method::Ward,
            k: ClusterCount::Auto { min: 2, max: 5 },
            ..Default::default()
        };
        assert!(fit_clusters(&x, &auto_ward, &crate::progress::NoProgress)
            .unwrap_err()
            .to_string()
            .contains("k = auto is available with the kmeans method"));
    }
}
