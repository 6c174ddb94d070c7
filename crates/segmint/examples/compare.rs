//! Where does seller group A beat B? Validated rules, verdicts and routing as SQL.
//!
//! `cargo run -p segmint --example compare`

use segmint::data::{ColumnMap, Inputs, TableKind};
use segmint::demo::{generate, DemoParams};
use segmint::progress::NoProgress;
use segmint::uplift::{compare, CompareData, CompareParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    generate(
        &DemoParams {
            customers: 20_000,
            ..Default::default()
        },
        dir.path(),
        &NoProgress,
    )?;
    let customers = Inputs::from_dir(dir.path()).open(TableKind::Customers, &ColumnMap::new())?;
    // any column by its own name: group, outcome and (by default) every other column as features
    let data = CompareData::load(
        &customers,
        "seller_group",
        "sale_success",
        None,
        &[],
        &NoProgress,
    )?;
    let cmp = compare(&data, &CompareParams::default(), &NoProgress)?;
    println!(
        "{} customers, {} candidate rules tested",
        cmp.customers, cmp.candidates_tested
    );
    for r in cmp.routing() {
        println!(
            "{} -> {} ({})",
            r.rule,
            r.recommended_group,
            r.verdict.label()
        );
    }
    Ok(())
}
