//! The clustering analysis in one call: the mart (and any customer columns among the
//! features) -> features -> fit (or a saved model's assignment) -> names -> a typed summary
//! (`clusters.json`) with sizes, means, revenue shares and the silhouette.
//!
//! ```no_run
//! use segmint::cluster::analysis::{analyze, ClusterAnalysisParams};
//! use segmint::data::{ColumnMap, Inputs, TableKind};
//! use segmint::progress::NoProgress;
//!
//! let inputs = Inputs::from_dir("data".as_ref());
//! let tx = inputs.open(TableKind::Transactions, &ColumnMap::new())?;
//! let a = analyze(&tx, None, &ClusterAnalysisParams::default(), None, &NoProgress)?;
//! print!("{}", a.summary.markdown());
//! # Ok::<(), segmint::Error>(())
//! ```

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::fit::{cluster_names, fit_clusters, ClusterFit, ClusterModel, ClusterParams, Method};
use super::names::ClusterName;
use super::select::{silhouette, silhouette_rows, Selection};
use super::{features_joined, is_mart_feature, needs_full_mart, FeatureParams, Joined, Scaling};
use crate::data::customers::Attributes;
use crate::data::reader::TableReader;
use crate::data::timestamp::format_date;
use crate::error::{Error, Result};
use crate::mart::{build_mart, Mart, MartColumns, MartParams};
use crate::output;
use crate::progress::Progress;
use crate::revenue::Pareto;

/// Settings of the clustering analysis.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClusterAnalysisParams {
    /// The features (mart columns or customer columns by name) and their scaling.
    pub features: FeatureParams,
    /// The method, k and their settings.
    pub fit: ClusterParams,
    /// Reference day of the mart (days since 1970-01-01); `None`: the day after the last
    /// transaction.
    pub ref_day: Option<i64>,
}

/// The mean z-scores of log recency, frequency and monetary value a name comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZScores {
    /// Of log recency (`None` when undefined).
    pub recency: Option<f64>,
    /// Of log frequency.
    pub frequency: Option<f64>,
    /// Of log monetary value.
    pub monetary: Option<f64>,
}

/// One cluster of the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterRow {
    /// Its label (`-1`: DBSCAN's noise).
    pub cluster: i64,
    /// Its name and marketing action.
    pub name: String,
    /// See `name`.
    pub action: String,
    /// Where the name comes from.
    pub z_scores: ZScores,
    /// Customers in it, and their share of all.
    pub size: u64,
    /// See `size`.
    pub share: f64,
    /// Its net revenue and share of the total.
    pub revenue: f64,
    /// See `revenue`.
    pub revenue_share: f64,
    /// Mean recency in days.
    pub recency_days: f64,
    /// Mean number of orders.
    pub frequency: f64,
    /// Mean net spend.
    pub monetary: f64,
    /// Its center in feature space (none for noise).
    pub center: Option<Vec<f64>>,
}

/// `clusters.json`: what the clustering found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterSummary {
    /// Format of this file: [`ClusterSummary::FORMAT`].
    #[serde(default)]
    pub format: String,
    /// Version of segmint that wrote it.
    #[serde(default)]
    pub segmint_version: String,
    /// Always `cluster`.
    pub task: String,
    /// Always `segmint` (the bench compares engines by this key).
    pub engine: String,
    /// The method fitted (or the saved model's).
    pub method: Method,
    /// Customers clustered and transaction rows read.
    pub customers: usize,
    /// See `customers`.
    pub rows: u64,
    /// Number of clusters (noise not counted).
    pub k: usize,
    /// Feature names as built (one-hot columns `name=value`).
    pub features: Vec<String>,
    /// Sum of squared distances to the centers.
    #[serde(deserialize_with = "output::nan::f64")]
    pub inertia: f64,
    /// Mean silhouette on a seeded sample of `silhouette_sample` customers.
    #[serde(deserialize_with = "output::nan::f64")]
    pub silhouette: f64,
    /// See `silhouette`.
    pub silhouette_sample: usize,
    /// Customers in DBSCAN's noise.
    pub noise: Option<u64>,
    /// Each cluster.
    pub clusters: Vec<ClusterRow>,
    /// Revenue concentration over all customers.
    pub pareto: Pareto,
    /// Method-specific details.
    pub details: serde_json::Value,
    /// The k selection, when k was chosen.
    pub selection: Option<Selection>,
    /// Seconds of the analysis and worker threads.
    pub seconds: f64,
    /// See `seconds`.
    pub threads: usize,
    /// Where the labels were written (front ends fill it in).
    #[serde(default)]
    pub output: Option<String>,
}

impl ClusterSummary {
    /// The format written in `format`.
    pub const FORMAT: &'static str = "cluster-summary/1";

    /// Writes the summary as JSON (temporary file, then rename).
    pub fn write_to(&self, path: &Path) -> Result<()> {
        output::write_json(path, self)
    }

    /// Reads what [`ClusterSummary::write_to`] wrote.
    pub fn read_from(path: &Path) -> Result<ClusterSummary> {
        output::read_json(path)
    }

    /// The k selection, the clusters and the revenue concentration as Markdown.
    pub fn markdown(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        if let Some(sel) = &self.selection {
            s.push_str("| k | inertia | silhouette | Calinski-Harabasz | Davies-Bouldin | points |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n");
            for k in &sel.scores {
                let _ = writeln!(
                    s,
                    "| {}{} | {:.1} | {:.3} | {:.1} | {:.3} | {:.1} |",
                    k.k,
                    if k.k == sel.chosen_k { " *" } else { "" },
                    k.inertia,
                    k.silhouette,
                    k.calinski_harabasz,
                    k.davies_bouldin,
                    k.points
                );
            }
            let _ = writeln!(s, "\n{}\n", sel.why);
        }
        s.push_str("| cluster | name | customers | share | revenue share | recency_days | frequency | monetary | z (R, F, M) | action |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n");
        let z = |v: Option<f64>| v.unwrap_or(f64::NAN);
        for c in &self.clusters {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1}% | {:.1}% | {:.1} | {:.2} | {:.2} | {:+.2}, {:+.2}, {:+.2} | {} |",
                c.cluster,
                c.name,
                c.size,
                100.0 * c.share,
                100.0 * c.revenue_share,
                c.recency_days,
                c.frequency,
                c.monetary,
                z(c.z_scores.recency),
                z(c.z_scores.frequency),
                z(c.z_scores.monetary),
                c.action
            );
        }
        let _ = writeln!(
            s,
            "\nRevenue concentration: the top 20% of customers bring {:.1}% of net revenue; {:.1}% of customers bring 80%; Gini {:.3}.",
            100.0 * self.pareto.top20_share,
            100.0 * self.pareto.customers_for_80,
            self.pareto.gini
        );
        s
    }
}

/// Everything the analysis produced.
#[derive(Debug, Clone)]
pub struct ClusterAnalysis {
    /// The customers clustered, in mart order.
    pub customer_id: Vec<String>,
    /// Labels, centers, inertia, the k selection.
    pub fit: ClusterFit,
    /// Name and action of each cluster.
    pub names: Vec<ClusterName>,
    /// The features as built and their fitted scaling.
    pub features: FeatureParams,
    /// See `features`.
    pub scaling: Scaling,
    /// The typed summary (`clusters.json`).
    pub summary: ClusterSummary,
    /// Reference day of the mart.
    pub ref_day: i64,
    /// Customer columns that could not be used, with the reason.
    pub left_out: Vec<(String, String)>,
    /// Customer columns among the features and how many customers got the median for lack
    /// of a value.
    pub filled: Vec<(String, usize)>,
}

/// The customer columns among the features (names that are not mart columns), read from
/// `customers`; `None` when every feature is a mart column. An unknown name is an error
/// saying why.
pub fn customer_attributes(
    customers: Option<&TableReader>,
    fp: &FeatureParams,
    ref_day: i64,
    progress: &dyn Progress,
) -> Result<Option<Attributes>> {
    let names: Vec<&str> = fp
        .columns
        .iter()
        .chain(&fp.categorical)
        .map(String::as_str)
        .filter(|n| !is_mart_feature(n))
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    let mart_features = || {
        super::NUMERIC_FEATURES
            .iter()
            .map(|(n, _)| *n)
            .chain(super::CATEGORICAL_FEATURES.iter().copied())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(customers) = customers else {
        return Err(Error::Config(
            format!(
                "unknown feature {:?}: not a mart feature ({}) and there is no customers file to read it from",
                names[0],
                mart_features()
            ),
        ));
    };
    let attrs = Attributes::load_at(customers, &names, Some(ref_day), progress)?;
    if let Some(n) = names.iter().find(|n| attrs.column(n).is_none()) {
        return Err(Error::Config(format!(
            "unknown feature {n:?}: not a mart feature ({}); {}",
            mart_features(),
            attrs.why_missing(customers, n)
        )));
    }
    Ok(Some(attrs))
}

/// Clusters the customers of `tx` (with `customers` for customer-column features), or puts
/// them into the clusters of `saved` (its features, scaling and names).
pub fn analyze(
    tx: &TableReader,
    customers: Option<&TableReader>,
    p: &ClusterAnalysisParams,
    saved: Option<&ClusterModel>,
    progress: &dyn Progress,
) -> Result<ClusterAnalysis> {
    p.fit.check()?;
    let fp = saved.map_or(&p.features, |m| &m.features);
    let columns = if needs_full_mart(fp) {
        MartColumns::All
    } else {
        MartColumns::Rfm
    };
    let mart = build_mart(
        tx,
        &MartParams {
            ref_day: p.ref_day,
            columns,
            ..Default::default()
        },
        progress,
    )?;
    analyze_mart(&mart, customers, p, saved, progress)
}

/// [`analyze`] on a mart already built (with every column when the features need them; its
/// reference date is used, not `p.ref_day`).
pub fn analyze_mart(
    mart: &Mart,
    customers: Option<&TableReader>,
    p: &ClusterAnalysisParams,
    saved: Option<&ClusterModel>,
    progress: &dyn Progress,
) -> Result<ClusterAnalysis> {
    p.fit.check()?;
    let t0 = Instant::now();
    let fp = saved.map_or(&p.features, |m| &m.features);
    let attrs = customer_attributes(customers, fp, mart.ref_day, progress)?;
    let joined = attrs.as_ref().map(|a| Joined::new(mart, a));
    let (x, scaling) = features_joined(mart, joined.as_ref(), fp, saved.map(|m| &m.scaling))?;
    let filled = joined.as_ref().map_or_else(Vec::new, |j| {
        fp.columns
            .iter()
            .filter(|n| !is_mart_feature(n))
            .map(|n| (n.clone(), j.missing(n)))
            .filter(|(_, k)| *k > 0)
            .collect()
    });
    let (fit, method, names) = match saved {
        Some(m) => (m.assign(&x, progress)?, m.method, m.names.clone()),
        None => {
            let f = fit_clusters(&x, &p.fit, progress)?;
            // names from the clusters' log-RFM z-scores
            let names = cluster_names(mart, &f)?;
            (f, p.fit.method, names)
        }
    };
    let seed = p.fit.kmeans.seed;
    let sil_idx = silhouette_rows(x.rows, p.fit.silhouette_sample, seed);
    let sil = silhouette(&x, &fit.labels, &sil_idx, names.len());
    let summary = ClusterSummary {
        format: ClusterSummary::FORMAT.into(),
        segmint_version: crate::VERSION.into(),
        task: "cluster".into(),
        engine: "segmint".into(),
        method,
        customers: mart.len(),
        rows: mart.rows_read,
        k: fit.k,
        features: x.names.clone(),
        inertia: fit.inertia,
        silhouette: sil,
        silhouette_sample: sil_idx.len(),
        noise: None,
        clusters: cluster_rows(mart, &fit, &names),
        pareto: crate::revenue::pareto(&mart.monetary),
        details: fit.details.clone(),
        selection: fit.selection.clone(),
        seconds: (t0.elapsed().as_secs_f64() * 10_000.0).round() / 10_000.0,
        threads: rayon::current_num_threads(),
        output: None,
    };
    let mut a = ClusterAnalysis {
        customer_id: mart.customer_id.clone(),
        fit,
        names,
        features: fp.clone(),
        scaling,
        summary,
        ref_day: mart.ref_day,
        left_out: attrs.map_or_else(Vec::new, |a| a.left_out),
        filled,
    };
    a.summary.noise = a
        .fit
        .noise
        .and_then(|nl| a.summary.clusters.get(nl as usize))
        .map(|c| c.size);
    Ok(a)
}

/// Sizes, means in original units and revenue of each cluster.
fn cluster_rows(mart: &Mart, fit: &ClusterFit, names: &[ClusterName]) -> Vec<ClusterRow> {
    let groups = names.len();
    let mut size = vec![0u64; groups];
    let mut sums = vec![[0.0f64; 3]; groups];
    for (i, &l) in fit.labels.iter().enumerate() {
        size[l as usize] += 1;
        sums[l as usize][0] += mart.recency_days[i] as f64;
        sums[l as usize][1] += mart.frequency[i] as f64;
        sums[l as usize][2] += mart.monetary[i];
    }
    let revenue = crate::revenue::by_group(&mart.monetary, &fit.labels, groups);
    let n = mart.len().max(1) as f64;
    let finite = |v: f64| v.is_finite().then_some(v);
    (0..groups)
        .map(|c| {
            let m = size[c].max(1) as f64;
            let nm = &names[c];
            ClusterRow {
                cluster: if Some(c as u32) == fit.noise {
                    -1
                } else {
                    c as i64
                },
                name: nm.name.clone(),
                action: nm.action.clone(),
                z_scores: ZScores {
                    recency: finite(nm.z_recency),
                    frequency: finite(nm.z_frequency),
                    monetary: finite(nm.z_monetary),
                },
                size: size[c],
                share: size[c] as f64 / n,
                revenue: revenue[c].0,
                revenue_share: revenue[c].1,
                recency_days: sums[c][0] / m,
                frequency: sums[c][1] / m,
                monetary: sums[c][2] / m,
                center: fit.centers.get(c).cloned(),
            }
        })
        .collect()
}

impl ClusterAnalysis {
    /// What a user should know about the input: columns left out and values filled in.
    pub fn notes(&self) -> Vec<String> {
        let left = self
            .left_out
            .iter()
            .map(|(c, why)| crate::data::customers::left_out_note(c, why));
        let filled = self
            .filled
            .iter()
            .map(|(c, n)| format!("{n} customer(s) without a {c:?} value: given the median"));
        left.chain(filled).collect()
    }

    /// The labels table (`customer_id`, `cluster`, `cluster_name`).
    pub fn labels_batch(&self) -> Result<arrow_array::RecordBatch> {
        let names: Vec<String> = self.names.iter().map(|n| n.name.clone()).collect();
        super::labels_batch(&self.customer_id, &self.fit.labels, &names, self.fit.noise)
    }

    /// Writes the labels to `path` (Parquet, or CSV for a `.csv` path).
    pub fn write_labels(&self, path: &Path) -> Result<()> {
        let meta = vec![
            ("segmint.task".to_string(), "cluster".to_string()),
            ("segmint.ref_date".to_string(), format_date(self.ref_day)),
            (
                "segmint.features".to_string(),
                serde_json::to_string(&self.features).map_err(|e| Error::Data(e.to_string()))?,
            ),
        ];
        output::write_table(&self.labels_batch()?, path, &meta)
    }

    /// The model that puts new customers into these clusters.
    pub fn model(&self) -> ClusterModel {
        ClusterModel::new(
            &self.fit,
            self.summary.method,
            &self.features,
            &self.scaling,
            &self.names,
            format_date(self.ref_day),
        )
    }
}
