//! k-means on log-RFM features with the number of clusters chosen automatically, and names.
//!
//! `cargo run -p segmint --example cluster`

use segmint::cluster::names::name_clusters;
use segmint::cluster::select::select_k;
use segmint::cluster::{features, rfm_z_means, FeatureParams, KMeansParams};
use segmint::data::{ColumnMap, Inputs, TableKind};
use segmint::demo::{generate, DemoParams};
use segmint::mart::{build_mart, MartParams};
use segmint::progress::NoProgress;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    generate(
        &DemoParams {
            customers: 5_000,
            ..Default::default()
        },
        dir.path(),
        &NoProgress,
    )?;
    let tx = Inputs::from_dir(dir.path()).open(TableKind::Transactions, &ColumnMap::new())?;
    let mart = build_mart(&tx, &MartParams::default(), &NoProgress)?;
    let x = features(&mart, &FeatureParams::default())?;
    // k from 2 to 8 by silhouette, Calinski-Harabasz and Davies-Bouldin (5,000-row sample)
    let selection = select_k(&x, &KMeansParams::default(), 2, 8, 5_000)?;
    println!("k = {}: {}", selection.chosen_k, selection.why);
    let model = selection.model.as_ref().expect("the chosen model");
    let names = name_clusters(&rfm_z_means(&mart, &model.labels, model.centers.len())?);
    for n in &names {
        let size = model
            .labels
            .iter()
            .filter(|&&l| l as usize == n.cluster)
            .count();
        println!(
            "cluster {} {:<20} {:>5} customers: {}",
            n.cluster, n.name, size, n.action
        );
    }
    Ok(())
}
