//! Churn in the next 90 days: a time-correct feature table, gradient boosting, its test AUC
//! next to a logistic baseline, the features that matter, the retention list, and the saved
//! model scoring the customers as of today.
//!
//! `cargo run -p segmint --example churn`

use segmint::data::{ColumnMap, Inputs, TableKind};
use segmint::demo::{generate, DemoParams};
use segmint::predict::{fit, PredictData, PredictModel, PredictParams, Task};
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
    let params = PredictParams {
        task: Task::Churn,
        ..PredictParams::default()
    };
    let data = PredictData::from_tables(Some(&tx), customers.as_ref(), None, &params, &NoProgress)?;
    let out = fit(&data, &params, None, &NoProgress)?;
    let m = &out.result.metrics;
    println!(
        "{} customers: test ROC-AUC {:.3} (baseline {:.3}), 5-fold CV {:.3} ± {:.3}",
        m.customers,
        m.test_auc.unwrap_or(f64::NAN),
        out.evaluation.baseline_test.headline(),
        m.cv_auc_mean.unwrap_or(f64::NAN),
        m.cv_auc_std.unwrap_or(f64::NAN)
    );
    for i in m.importance.iter().take(5) {
        println!("  {:<18} gain share {:.3}", i.feature, i.gain_share);
    }
    if let Some(t) = &out.result.insights.retention_targets {
        println!("{} retention targets ({}), first:", t.eligible, t.rule);
        for e in t.top.iter().take(3) {
            println!(
                "  {} churn {:.2} revenue {:.2}",
                e.customer_id.as_deref().unwrap_or("?"),
                e.churn_probability.unwrap_or(f64::NAN),
                e.revenue.unwrap_or(f64::NAN)
            );
        }
    }
    // the saved model scores the customers as of the end of the data
    let model_path = dir.path().join("model.json");
    out.model.save(&model_path)?;
    let scored = PredictModel::load(&model_path)?.score(
        Some(&tx),
        customers.as_ref(),
        None,
        None,
        &NoProgress,
    )?;
    let high = scored
        .scores
        .risk_band
        .iter()
        .filter(|b| **b == "High")
        .count();
    println!(
        "scored {} customers today: {high} at high risk",
        scored.scores.ids.len()
    );
    Ok(())
}
