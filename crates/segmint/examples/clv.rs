//! Customer lifetime value: BG/NBD and Pareto/NBD compared, Gamma-Gamma, per-customer CLV.
//!
//! `cargo run -p segmint --example clv`

use segmint::clv::analysis::{analyze, ClvParams, TransactionKind};
use segmint::data::{ColumnMap, Inputs, TableKind};
use segmint::demo::{generate, DemoParams};
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
    let params = ClvParams {
        models: vec![TransactionKind::Bgnbd, TransactionKind::ParetoNbd],
        ..Default::default()
    };
    let a = analyze(&tx, &params, &NoProgress)?;
    for m in a.comparison() {
        println!(
            "{:<10} log-likelihood {:.1}, AIC {:.1}, BIC {:.1}",
            m.model, m.log_likelihood, m.aic, m.bic
        );
    }
    let g = &a.gamma_gamma;
    println!(
        "Gamma-Gamma: p {:.3}, q {:.3}, v {:.3} on {} repeat customers",
        g.p, g.q, g.v, g.customers
    );
    let n = a.summary.len() as f64;
    println!(
        "{} customers: mean P(alive) {:.3}, 12-month CLV {:.2} in total",
        a.summary.len(),
        a.predictions.p_alive.iter().sum::<f64>() / n,
        a.predictions.clv.iter().sum::<f64>()
    );
    Ok(())
}
