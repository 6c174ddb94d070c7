//! `segmint cluster`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use segmint::cluster::fit::{
    cluster_names, fit_clusters, ClusterCount, ClusterModel, ClusterParams,
};
use segmint::cluster::kmeans::Algorithm;
use segmint::cluster::names::ClusterName;
use segmint::cluster::select::{silhouette, silhouette_rows};
use segmint::cluster::{
    features_joined, is_mart_feature, needs_full_mart, FeatureParams, Joined, KMeansParams, Scaler,
    Transform,
};
use segmint::data::customers::Attributes;
use segmint::data::timestamp::format_date;
use segmint::data::TableKind;
use segmint::mart::{build_mart, Mart, MartColumns, MartParams};

use crate::ui::{note, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint cluster --data data -k 4 --out clusters.parquet
  segmint cluster --data data -k auto --k-max 8 --out clusters.parquet --save-model model.json
  segmint cluster --data data --features monetary,frequency,avg_basket_size --scaling robust \\
      --categorical primary_region --categorical-weight 0.5 -k 5 --out clusters.parquet
  segmint cluster --data data --method dbscan --out clusters.parquet
  segmint cluster --data data --features monetary,income,loyalty_points --categorical region -k 4 --out clusters.parquet
  segmint cluster --data new_data --model model.json --out new_clusters.parquet

Features: by default the bench kmeans task: ln(1 + x) of recency_days, frequency and monetary
(negative values clipped to 0), each standardised (mean, population standard deviation).
--features chooses mart columns (recency_days, frequency, monetary, tenure_days,
avg_order_value, total_quantity, avg_basket_size, and the aliases days_since_purchase,
purchase_count, total_spent, avg_transaction_value) or any column of the customers file by its
own name (numbers, booleans as 0/1, dates as days before the reference date; a customer without
a value gets the column's median, counted on stderr); --scaling robust uses the median and the
interquartile range. --categorical one-hot encodes primary_region / preferred_payment or any text
column of the customers file, each value --categorical-weight (not scaled).

Methods: kmeans (greedy k-means++ seeding, --n-init seeded restarts, the lowest inertia wins;
exact Lloyd iterations up to --max-iter, converged when the squared center shift is at most --tol
times the mean feature variance, as scikit-learn); minibatch (mini-batch k-means, --batch-size);
ward (agglomerative, Ward's criterion, on a seeded sample of --sample customers, default 5,000;
every customer then joins the nearest cluster mean); dbscan (on a seeded sample, default 10,000;
--eps or the knee of the k-distance curve, --min-samples default 2 x features; customers outside
the sample join the cluster of the nearest core point within eps, else they are noise, cluster -1).

Names come from each cluster's mean z-scores of log recency, frequency and monetary (whatever
the features), with a marketing action per name. The revenue view gives each cluster's share of
net revenue and the Pareto summary (top 20% share, Gini, Lorenz curve). --model applies a saved
model to new customers (same features and scaling as the fit). Same seed, same labels, whatever
--threads.")]
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
    /// Smallest k tried by -k auto
    #[arg(long, default_value_t = 2)]
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

/// The customer attributes among the features (names that are not mart columns), read from
/// the customers file; `None` when every feature is a mart column.
fn customer_features(
    g: &Global,
    inputs: &segmint::data::Inputs,
    map: &segmint::data::ColumnMap,
    fp: &FeatureParams,
    mart: &Mart,
    bars: &Bars,
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
        segmint::cluster::NUMERIC_FEATURES
            .iter()
            .map(|(n, _)| *n)
            .chain(segmint::cluster::CATEGORICAL_FEATURES.iter().copied())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(customers) = inputs.open_optional(TableKind::Customers, map)? else {
        bail!(
            "unknown feature {:?}: not a mart feature ({}) and there is no customers file to read it from",
            names[0],
            mart_features()
        );
    };
    let attrs = Attributes::load_at(&customers, &names, Some(mart.ref_day), bars)?;
    if let Some(n) = names.iter().find(|n| attrs.column(n).is_none()) {
        bail!(
            "unknown feature {n:?}: not a mart feature ({}); {}",
            mart_features(),
            attrs.why_missing(&customers, n)
        );
    }
    for (column, reason) in &attrs.left_out {
        note(g, format!("column {column:?} left out: {reason}"));
    }
    Ok(Some(attrs))
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let ref_day = crate::options::parse_ref_date(&a.ref_date)?;
    let (inputs, map) = a.input.resolve()?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let t0 = Instant::now();
    let bars = Bars::new(g);
    let saved: Option<ClusterModel> = a.model.as_deref().map(ClusterModel::load).transpose()?;
    let params = cluster_params(a)?;
    let fp = match &saved {
        Some(m) => m.features.clone(),
        None => FeatureParams {
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
        },
    };
    let mart: Mart = build_mart(
        &tx,
        &MartParams {
            ref_day,
            columns: if needs_full_mart(&fp) {
                MartColumns::All
            } else {
                MartColumns::Rfm
            },
            ..Default::default()
        },
        &bars,
    )?;
    let attrs = customer_features(g, &inputs, &map, &fp, &mart, &bars)?;
    let joined = attrs.as_ref().map(|a| Joined::new(&mart, a));
    let (x, scaling) = features_joined(
        &mart,
        joined.as_ref(),
        &fp,
        saved.as_ref().map(|m| &m.scaling),
    )?;
    if let Some(j) = &joined {
        for name in fp.columns.iter().filter(|n| !is_mart_feature(n)) {
            let n = j.missing(name);
            if n > 0 {
                note(
                    g,
                    format!("{n} customer(s) without a {name:?} value: given the median"),
                );
            }
        }
    }
    let (fitted, method) = match &saved {
        Some(m) => {
            let mut f = m.assign(&x, &bars)?;
            f.details =
                serde_json::json!({"model": a.model.as_ref().map(|p| p.display().to_string())});
            (f, m.method)
        }
        None => (fit_clusters(&x, &params, &bars)?, params.method),
    };
    let selection = fitted.selection.as_ref();
    let k = fitted.k;
    // names: from the model when applying one, else from the clusters' log-RFM z-scores
    let named: Vec<ClusterName> = match &saved {
        Some(m) => m.names.clone(),
        None => cluster_names(&mart, &fitted)?,
    };
    let names: Vec<String> = named.iter().map(|n| n.name.clone()).collect();
    let sil_idx = silhouette_rows(x.rows, a.silhouette_sample, a.seed);
    let sil = bars.timed("silhouette", || {
        silhouette(&x, &fitted.labels, &sil_idx, named.len())
    });
    let secs = t0.elapsed().as_secs_f64();
    let batch =
        segmint::cluster::labels_batch(&mart.customer_id, &fitted.labels, &names, fitted.noise)?;
    let meta = vec![
        ("segmint.task".to_string(), "cluster".to_string()),
        ("segmint.ref_date".to_string(), format_date(mart.ref_day)),
        ("segmint.features".to_string(), serde_json::to_string(&fp)?),
    ];
    segmint::output::write_table(&batch, &a.out, &meta)?;
    if let Some(path) = &a.save_model {
        let ref_date = format_date(mart.ref_day);
        ClusterModel::new(&fitted, method, &fp, &scaling, &named, ref_date).save(path)?;
    }
    // sizes, means (original units), revenue view
    let groups = named.len();
    let mut size = vec![0u64; groups];
    let mut sums = vec![[0.0f64; 3]; groups];
    for (i, &l) in fitted.labels.iter().enumerate() {
        size[l as usize] += 1;
        sums[l as usize][0] += mart.recency_days[i] as f64;
        sums[l as usize][1] += mart.frequency[i] as f64;
        sums[l as usize][2] += mart.monetary[i];
    }
    let revenue = segmint::revenue::by_group(&mart.monetary, &fitted.labels, groups);
    let pareto = segmint::revenue::pareto(&mart.monetary);
    let n = mart.len().max(1) as f64;
    let clusters: Vec<serde_json::Value> = (0..groups)
        .map(|c| {
            let m = size[c].max(1) as f64;
            let nm = &named[c];
            let z = |v: f64| if v.is_finite() { serde_json::json!(v) } else { serde_json::Value::Null };
            serde_json::json!({"cluster": if Some(c as u32) == fitted.noise { -1 } else { c as i64 },
                "name": nm.name, "action": nm.action,
                "z_scores": {"recency": z(nm.z_recency), "frequency": z(nm.z_frequency), "monetary": z(nm.z_monetary)},
                "size": size[c], "share": size[c] as f64 / n,
                "revenue": revenue[c].0, "revenue_share": revenue[c].1,
                "recency_days": sums[c][0] / m, "frequency": sums[c][1] / m, "monetary": sums[c][2] / m,
                "center": fitted.centers.get(c)})
        })
        .collect();
    let json = serde_json::json!({
        "task": "cluster", "engine": "segmint", "method": method, "customers": mart.len(),
        "rows": mart.rows_read, "k": k, "features": x.names, "inertia": fitted.inertia,
        "silhouette": sil, "silhouette_sample": sil_idx.len(),
        "noise": fitted.noise.map(|nl| size[nl as usize]),
        "clusters": clusters, "pareto": pareto, "details": fitted.details, "selection": selection,
        "seconds": (secs * 10_000.0).round() / 10_000.0, "threads": rayon::current_num_threads(),
        "output": a.out.display().to_string(),
    });
    if let Some(path) = &a.summary {
        segmint::output::write_text(path, &serde_json::to_string_pretty(&json)?)?;
    }
    if g.emit_json(&json) {
        return Ok(0);
    }
    if let Some(sel) = selection {
        println!("| k | inertia | silhouette | Calinski-Harabasz | Davies-Bouldin |\n| ---: | ---: | ---: | ---: | ---: |");
        for s in &sel.scores {
            println!(
                "| {}{} | {:.1} | {:.3} | {:.1} | {:.3} |",
                s.k,
                if s.k == sel.chosen_k { " *" } else { "" },
                s.inertia,
                s.silhouette,
                s.calinski_harabasz,
                s.davies_bouldin
            );
        }
        println!("\n{}\n", sel.why);
    }
    println!("| cluster | name | customers | share | revenue share | recency_days | frequency | monetary | z (R, F, M) | action |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |");
    for (c, nm) in clusters.iter().zip(&named) {
        println!(
            "| {} | {} | {} | {:.1}% | {:.1}% | {:.1} | {:.2} | {:.2} | {:+.2}, {:+.2}, {:+.2} | {} |",
            c["cluster"],
            nm.name,
            c["size"],
            100.0 * c["share"].as_f64().unwrap_or(0.0),
            100.0 * c["revenue_share"].as_f64().unwrap_or(0.0),
            c["recency_days"].as_f64().unwrap_or(0.0),
            c["frequency"].as_f64().unwrap_or(0.0),
            c["monetary"].as_f64().unwrap_or(0.0),
            nm.z_recency,
            nm.z_frequency,
            nm.z_monetary,
            nm.action
        );
    }
    println!(
        "\nRevenue concentration: the top 20% of customers bring {:.1}% of net revenue; {:.1}% of customers bring 80%; Gini {:.3}.",
        100.0 * pareto.top20_share,
        100.0 * pareto.customers_for_80,
        pareto.gini
    );
    note(
        g,
        format!(
            "cluster: {} customers, {} clusters{}, inertia {:.2}, silhouette {:.3}, in {secs:.2}s -> {}",
            mart.len(),
            k,
            fitted
                .noise
                .map(|nl| format!(" + {} noise", size[nl as usize]))
                .unwrap_or_default(),
            fitted.inertia,
            sil,
            a.out.display()
        ),
    );
    Ok(0)
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
