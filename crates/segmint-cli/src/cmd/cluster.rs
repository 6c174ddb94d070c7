//! `segmint cluster`

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use segmint::cluster::analysis::{analyze, ClusterAnalysisParams};
use segmint::cluster::fit::{ClusterCount, ClusterModel, ClusterParams};
use segmint::cluster::kmeans::Algorithm;
use segmint::cluster::{FeatureParams, KMeansParams, Scaler, Transform};
use segmint::data::TableKind;

use crate::ui::{note, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = include_str!("../help/cluster.txt"))]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Number of clusters, or "auto" to choose it in --k-min..--k-max (kmeans)
    #[arg(
        short = 'k',
        long = "clusters",
        default_value = "4",
        value_name = "K|auto"
    )]
    pub k: String,
    /// Smallest k tried by -k auto (3: two groups are rarely actionable; 2 is allowed)
    #[arg(long, default_value_t = 3)]
    pub k_min: usize,
    /// Largest k tried by -k auto
    #[arg(long, default_value_t = 8)]
    pub k_max: usize,
    /// Clustering method
    #[arg(long, value_enum, default_value_t = Method::Kmeans)]
    pub method: Method,
    /// Features to cluster on (comma-separated): mart columns or any column of the customers
    /// file by its own name
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "recency_days,frequency,monetary"
    )]
    pub features: Vec<String>,
    /// Transform of the numeric features
    #[arg(long, value_enum, default_value_t = TransformArg::Log1p)]
    pub transform: TransformArg,
    /// Scaling of the numeric features
    #[arg(long, value_enum, default_value_t = ScalingArg::Standard)]
    pub scaling: ScalingArg,
    /// Categorical columns to one-hot encode: primary_region, preferred_payment or any text
    /// column of the customers file
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// Value of a one-hot feature for the customer's category
    #[arg(long, default_value_t = 1.0)]
    pub categorical_weight: f64,
    /// Points (seeded sample) for the silhouette
    #[arg(long, default_value_t = 10_000)]
    pub silhouette_sample: usize,
    /// Seeded restarts (the lowest inertia wins)
    #[arg(long, default_value_t = 10)]
    pub n_init: usize,
    /// Maximum Lloyd iterations per restart (minibatch: passes over the data)
    #[arg(long, default_value_t = 300)]
    pub max_iter: usize,
    /// Relative tolerance (times the mean feature variance)
    #[arg(long, default_value_t = 1e-4)]
    pub tol: f64,
    /// How the k-means iterations are computed (all exact, the same labels; speed differs)
    #[arg(long, value_enum, default_value_t = KMeansAlgorithm::Auto)]
    pub algorithm: KMeansAlgorithm,
    /// Mini-batch size (minibatch)
    #[arg(long, default_value_t = 1024)]
    pub batch_size: usize,
    /// Sampled customers for ward (default 5000) and dbscan (default 10000)
    #[arg(long)]
    pub sample: Option<usize>,
    /// DBSCAN radius in feature space (default: chosen from the k-distance curve)
    #[arg(long)]
    pub eps: Option<f64>,
    /// DBSCAN: neighbours (itself included) that make a core point (default 2 x features)
    #[arg(long)]
    pub min_samples: Option<usize>,
    /// Random seed
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Reference date for recency (default: day of the last transaction + 1)
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub ref_date: Option<String>,
    /// Output: customer_id, cluster, cluster_name (Parquet, or CSV for a .csv path)
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write the cluster summary (sizes, means, z-scores, names, actions, k selection) as
    /// JSON, the same object --json prints
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Save the fitted model (features, scaling, centers, names) as JSON
    #[arg(long, value_name = "FILE")]
    pub save_model: Option<PathBuf>,
    /// Apply this saved model to the customers instead of fitting one
    #[arg(long, value_name = "FILE", conflicts_with = "save_model")]
    pub model: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
pub enum Method {
    Kmeans,
    Minibatch,
    Ward,
    Dbscan,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TransformArg {
    None,
    Log1p,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ScalingArg {
    None,
    Standard,
    Robust,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum KMeansAlgorithm {
    /// lloyd for up to 8 features and 16 clusters, else hamerly
    Auto,
    /// every distance, vectorised over 8 customers at a time
    Lloyd,
    /// Hamerly's bounds skip customers that cannot change cluster
    Hamerly,
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let (inputs, map) = a.input.resolve()?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let bars = Bars::new(g);
    let saved = a.model.as_deref().map(ClusterModel::load).transpose()?;
    let mut r = analyze(&tx, customers.as_ref(), &params(a)?, saved.as_ref(), &bars)?;
    for n in r.notes() {
        note(g, n);
    }
    crate::ui::reading_notes(g, &[Some(&tx), customers.as_ref()]);
    if let Some(p) = &a.model {
        r.summary.details = serde_json::json!({ "model": p });
    }
    r.summary.output = Some(a.out.display().to_string());
    r.write_labels(&a.out)?;
    if let Some(path) = &a.save_model {
        r.model().save(path)?;
    }
    if let Some(path) = &a.summary {
        r.summary.write_to(path)?;
    }
    let s = &r.summary;
    if !g.emit_json(&serde_json::to_value(s)?) {
        print!("{}", s.markdown());
        note(
            g,
            format!(
                "cluster: {} customers, {} clusters{}, inertia {:.2}, silhouette {:.3}, in {:.2}s -> {}",
                s.customers,
                s.k,
                s.noise.map(|n| format!(" + {n} noise")).unwrap_or_default(),
                s.inertia,
                s.silhouette,
                s.seconds,
                a.out.display()
            ),
        );
    }
    Ok(0)
}

/// The analysis parameters of the flags.
pub fn params(a: &Args) -> Result<ClusterAnalysisParams> {
    Ok(ClusterAnalysisParams {
        features: feature_params(a),
        fit: cluster_params(a)?,
        ref_day: crate::options::parse_ref_date(&a.ref_date)?,
    })
}

fn feature_params(a: &Args) -> FeatureParams {
    FeatureParams {
        columns: a.features.clone(),
        transform: match a.transform {
            TransformArg::None => Transform::None,
            TransformArg::Log1p => Transform::Log1p,
        },
        scaler: match a.scaling {
            ScalingArg::None => Scaler::None,
            ScalingArg::Standard => Scaler::Standard,
            ScalingArg::Robust => Scaler::Robust,
        },
        categorical: a.categorical.clone(),
        categorical_weight: a.categorical_weight,
    }
}

/// The clustering parameters of the flags.
fn cluster_params(a: &Args) -> Result<ClusterParams> {
    let auto = a.k.eq_ignore_ascii_case("auto");
    if auto && a.method != Method::Kmeans {
        bail!("-k auto is available with --method kmeans");
    }
    let k = if auto {
        ClusterCount::Auto {
            min: a.k_min,
            max: a.k_max,
        }
    } else if a.method == Method::Dbscan {
        ClusterCount::Fixed(0)
    } else {
        ClusterCount::Fixed(
            a.k.parse()
                .ok()
                .filter(|k| *k >= 1)
                .with_context(|| format!("-k {:?}: expected a number >= 1 or auto", a.k))?,
        )
    };
    Ok(ClusterParams {
        method: match a.method {
            Method::Kmeans => segmint::cluster::fit::Method::Kmeans,
            Method::Minibatch => segmint::cluster::fit::Method::Minibatch,
            Method::Ward => segmint::cluster::fit::Method::Ward,
            Method::Dbscan => segmint::cluster::fit::Method::Dbscan,
        },
        k,
        kmeans: KMeansParams {
            n_clusters: 0,
            n_init: a.n_init,
            max_iter: a.max_iter,
            tol: a.tol,
            seed: a.seed,
            algorithm: match a.algorithm {
                KMeansAlgorithm::Auto => Algorithm::Auto,
                KMeansAlgorithm::Lloyd => Algorithm::Lloyd,
                KMeansAlgorithm::Hamerly => Algorithm::Hamerly,
            },
        },
        batch_size: a.batch_size,
        sample: a.sample,
        eps: a.eps,
        min_samples: a.min_samples,
        silhouette_sample: a.silhouette_sample,
    })
}
