//! Times `Gbdt::fit` on the train split of a `--train-table` file (the bench's
//! `churn_features.parquet`): loads once, fits `REPEAT` times (default 5), prints each fit's
//! seconds, the minimum and the test AUC. Thread count: `RAYON_NUM_THREADS`.
//!
//! `cargo run --release -p segmint --example gbdt_fit -- churn_features.parquet [churn]`

// the CLI's allocator, so that the timings are the CLI's
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use segmint::predict::gbdt::{Gbdt, GbdtParams, Objective};
use segmint::predict::train_table::{read_train_table, TrainTableParams};
use segmint::predict::Part;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::Path::new(args.get(1).expect("usage: gbdt_fit TABLE [LABEL]"));
    let label = args.get(2).map_or("churn", |s| s.as_str());
    let repeat: usize = std::env::var("REPEAT").map_or(5, |v| v.parse().expect("REPEAT"));
    let t = read_train_table(
        path,
        &TrainTableParams {
            label: label.to_string(),
            ..TrainTableParams::default()
        },
    )
    .expect("table");
    let idx = |p: Part| -> Vec<usize> { (0..t.y.len()).filter(|&i| t.split[i] == p).collect() };
    let (train, test) = (idx(Part::Train), idx(Part::Test));
    let x = t.x.select(&train);
    let y: Vec<f64> = train.iter().map(|&i| t.y[i]).collect();
    let params = GbdtParams {
        objective: Objective::Binary,
        ..GbdtParams::default()
    };
    let mut times = Vec::new();
    let mut model = None;
    for _ in 0..repeat {
        let t0 = std::time::Instant::now();
        model = Some(Gbdt::fit(&params, &x, &y, None, None).expect("fit"));
        times.push(t0.elapsed().as_secs_f64());
    }
    let model = model.expect("at least one fit");
    let p = model.predict(&t.x.select(&test));
    let yt: Vec<f64> = test.iter().map(|&i| t.y[i]).collect();
    let auc = segmint::predict::metrics::roc_auc(&yt, &p).unwrap_or(f64::NAN);
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "rows {} threads {} fits {:?} min {min:.3} s test_auc {auc:.6}",
        x.rows,
        rayon::current_num_threads(),
        times
            .iter()
            .map(|t| (t * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    );
}
