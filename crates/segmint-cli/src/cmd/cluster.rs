//! `segmint cluster`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use segmint::cluster::kmeans::Algorithm;
use segmint::cluster::names::name_clusters;
use segmint::cluster::select::select_k;
use segmint::cluster::{features_with_scaling, FeatureParams, KMeansParams};
use segmint::data::timestamp::format_date;
use segmint::data::TableKind;

use crate::ui::{note, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint cluster --data data -k 4 --out clusters.parquet
  segmint cluster --data data -k 5 --n-init 20 --seed 7 --out clusters.parquet --model kmeans.json --json

Features (the bench kmeans task): ln(1 + x) of recency_days, frequency and monetary (negative
values clipped to 0), each standardised with its mean and population standard deviation. K-means
with greedy k-means++ seeding, --n-init seeded restarts (the lowest inertia wins) and Lloyd
iterations up to --max-iter, converged when the squared center shift is at most --tol times the
mean feature variance (scikit-learn's meaning). Same seed, same labels, whatever --threads.")]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Number of clusters, or "auto" to choose it in --k-min..--k-max
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
    /// Points (seeded sample) for the silhouette of -k auto
    #[arg(long, default_value_t = 10_000)]
    pub silhouette_sample: usize,
    /// Seeded restarts (the lowest inertia wins)
    #[arg(long, default_value_t = 10)]
    pub n_init: usize,
    /// Maximum Lloyd iterations per restart
    #[arg(long, default_value_t = 300)]
    pub max_iter: usize,
    /// Relative tolerance (times the mean feature variance)
    #[arg(long, default_value_t = 1e-4)]
    pub tol: f64,
    /// Random seed
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// How the k-means iterations are computed (all exact, the same labels; speed differs)
    #[arg(long, value_enum, default_value_t = KMeansAlgorithm::Auto)]
    pub algorithm: KMeansAlgorithm,
    /// Reference date for recency (default: day of the last transaction + 1)
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub ref_date: Option<String>,
    /// Output: customer_id, cluster (Parquet, or CSV for a .csv path)
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// Save the fitted model (centers, scaling, parameters) as JSON
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
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
    let ref_day = crate::cmd::mart::parse_ref_date(&a.ref_date)?;
    let (inputs, map) = a.input.resolve()?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let t0 = Instant::now();
    let bars = Bars::new(g);
    let mart = crate::cmd::mart::rfm_mart(&tx, ref_day, &bars)?;
    let fp = FeatureParams::default();
    let (x, scaling) = features_with_scaling(&mart, &fp);
    let auto = a.k.eq_ignore_ascii_case("auto");
    let k_fixed: usize = if auto {
        0
    } else {
        a.k.parse()
            .ok()
            .filter(|k| *k >= 1)
            .with_context(|| format!("-k {:?}: expected a number >= 1 or auto", a.k))?
    };
    let mut params = KMeansParams {
        n_clusters: k_fixed,
        n_init: a.n_init,
        max_iter: a.max_iter,
        tol: a.tol,
        seed: a.seed,
        algorithm: match a.algorithm {
            KMeansAlgorithm::Auto => Algorithm::Auto,
            KMeansAlgorithm::Lloyd => Algorithm::Lloyd,
            KMeansAlgorithm::Hamerly => Algorithm::Hamerly,
        },
    };
    let mut selection = None;
    let m = if auto {
        let mut sel = bars.timed("choosing k", || {
            select_k(&x, &params, a.k_min, a.k_max, a.silhouette_sample)
        })?;
        let m = sel.model.take().expect("chosen model");
        params.n_clusters = sel.chosen_k;
        selection = Some(sel);
        m
    } else {
        bars.timed("k-means", || params.fit(&x))?
    };
    let secs = t0.elapsed().as_secs_f64();
    // the standardised log-RFM centers are the z-scores the names are made from
    let named = name_clusters(
        &m.centers
            .iter()
            .map(|c| [c[0], c[1], c[2]])
            .collect::<Vec<[f64; 3]>>(),
    );
    let names: Vec<String> = named.iter().map(|n| n.name.clone()).collect();
    let batch = segmint::cluster::labels_batch(&mart.customer_id, &m.labels, &names)?;
    let meta = vec![
        ("segmint.task".to_string(), "cluster".to_string()),
        ("segmint.ref_date".to_string(), format_date(mart.ref_day)),
        (
            "segmint.params".to_string(),
            serde_json::to_string(&params)?,
        ),
    ];
    segmint::output::write_table(&batch, &a.out, &meta)?;
    // cluster sizes and mean recency, frequency, monetary (original units)
    let k = m.centers.len();
    let mut size = vec![0u64; k];
    let mut sums = vec![[0.0f64; 3]; k];
    for (i, &l) in m.labels.iter().enumerate() {
        size[l as usize] += 1;
        sums[l as usize][0] += mart.recency_days[i] as f64;
        sums[l as usize][1] += mart.frequency[i] as f64;
        sums[l as usize][2] += mart.monetary[i];
    }
    let clusters: Vec<serde_json::Value> = (0..k)
        .map(|c| {
            let n = size[c].max(1) as f64;
            serde_json::json!({"cluster": c, "name": names[c], "z_scores": {"recency": named[c].z_recency,
                "frequency": named[c].z_frequency, "monetary": named[c].z_monetary},
                "size": size[c], "recency_days": sums[c][0] / n,
                "frequency": sums[c][1] / n, "monetary": sums[c][2] / n, "center": m.centers[c]})
        })
        .collect();
    if let Some(path) = &a.model {
        let model = serde_json::json!({"kmeans": &m, "features": x.names, "feature_params": fp, "scaling": scaling});
        segmint::output::write_text(path, &serde_json::to_string_pretty(&model)?)?;
    }
    let json = serde_json::json!({
        "task": "kmeans", "engine": "segmint", "customers": mart.len(), "rows": mart.rows_read, "k": k,
        "inertia": m.inertia, "n_iter": m.n_iter, "best_init": m.best_init, "clusters": clusters,
        "selection": selection,
        "seconds": (secs * 10_000.0).round() / 10_000.0, "threads": rayon::current_num_threads(),
        "output": a.out.display().to_string(),
    });
    if g.json {
        println!("{json}");
    } else {
        if let Some(sel) = &selection {
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
        println!("| cluster | name | customers | recency_days | frequency | monetary | z (R, F, M) |\n| ---: | --- | ---: | ---: | ---: | ---: | --- |");
        for (c, nm) in clusters.iter().zip(&named) {
            println!(
                "| {} | {} | {} | {:.1} | {:.2} | {:.2} | {:+.2}, {:+.2}, {:+.2} |",
                c["cluster"],
                nm.name,
                c["size"],
                c["recency_days"].as_f64().unwrap_or(0.0),
                c["frequency"].as_f64().unwrap_or(0.0),
                c["monetary"].as_f64().unwrap_or(0.0),
                nm.z_recency,
                nm.z_frequency,
                nm.z_monetary
            );
        }
        note(
            g,
            format!(
                "cluster: {} customers, k = {k}, inertia {:.2}, in {secs:.2}s -> {}",
                mart.len(),
                m.inertia,
                a.out.display()
            ),
        );
    }
    Ok(0)
}
