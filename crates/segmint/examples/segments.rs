//! Validation, the customer mart, RFM segments and their profile, on demo data.
//!
//! `cargo run -p segmint --example segments`

use segmint::data::validate::{validate, ValidateParams};
use segmint::data::{ColumnMap, Inputs, TableKind};
use segmint::demo::{generate, DemoParams};
use segmint::mart::{build_mart, MartParams};
use segmint::progress::NoProgress;
use segmint::segment::rules::RuleSet;
use segmint::segment::{profile, rfm, RfmParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let demo = DemoParams {
        customers: 5_000,
        ..Default::default()
    };
    generate(&demo, dir.path(), &NoProgress)?;
    let inputs = Inputs::from_dir(dir.path());
    let map = ColumnMap::new();

    let report = validate(&inputs, &map, &ValidateParams::default(), &NoProgress)?;
    println!("validation: {} warning kind(s)", report.warnings());

    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let mart = build_mart(&tx, &MartParams::default(), &NoProgress)?;
    println!("mart: {} customers", mart.len());

    let rules = RuleSet::builtin("standard").expect("built-in rule set");
    let result = rfm(
        mart,
        customers.as_ref(),
        &rules,
        &RfmParams::default(),
        &NoProgress,
    )?;
    let attrs = customers
        .as_ref()
        .map(|c| profile::load_attributes(c, &result.mart, &NoProgress))
        .transpose()?;
    let p = profile::profile(
        &result.segment_names,
        &result.segment,
        &result.mart,
        attrs.as_ref(),
        &rules.actions(),
    );
    for s in &p.segments {
        println!(
            "{:<22} {:>5} customers, {:>5.1}% of revenue",
            s.segment,
            s.customers,
            100.0 * s.revenue_share
        );
    }
    let top = &p.feature_ranking[0];
    println!(
        "differs most between segments: {} (epsilon² {:.2})",
        top.feature, top.test.epsilon_squared
    );
    Ok(())
}
