//! Churn in the next 90 days: a time-correct feature table, gradient boosting, its test AUC
//! next to a logistic baseline, and the features that matter.
//!
//! `cargo run -p segmint --example churn`

use segmint::data::{ColumnMap, Inputs, TableKind};
use segmint::demo::{generate, DemoParams};
use segmint::predict::features::{customer_dataset, WindowParams};
use segmint::predict::{stratified_folds, stratified_split, train_and_evaluate, EvalParams};
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
    let inputs = Inputs::from_dir(dir.path());
    let map = ColumnMap::new();
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let d = customer_dataset(
        &tx,
        customers.as_ref(),
        &WindowParams::default(),
        &NoProgress,
    )?;
    let split = stratified_split(&d.churn, 0.3, true, 42);
    let folds = stratified_folds(&d.churn, 5, true, 42);
    let e = train_and_evaluate(
        &d.x,
        &d.churn,
        &split,
        &folds,
        &EvalParams::default(),
        &NoProgress,
    )?;
    println!(
        "{} customers: test ROC-AUC {:.3} (baseline {:.3}), 5-fold CV {:.3} ± {:.3}",
        d.churn.len(),
        e.test.headline(),
        e.baseline_test.headline(),
        e.cv_mean,
        e.cv_std
    );
    for i in e.importance.iter().take(5) {
        println!("  {:<18} gain share {:.3}", i.feature, i.gain_share);
    }
    Ok(())
}
