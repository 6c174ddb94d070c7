//! Validation, the customer mart, RFM segments with their profile, and segment migration, on
//! demo data.
//!
//! `cargo run -p segmint --example segments`

use segmint::data::timestamp::parse_date;
use segmint::data::validate::{validate, ValidateParams};
use segmint::data::{ColumnMap, Inputs, TableKind};
use segmint::demo::{generate, DemoParams};
use segmint::mart::{build_mart, MartParams};
use segmint::progress::NoProgress;
use segmint::segment::analysis::{analyze, RfmAnalysisParams};
use segmint::segment::migrate::{migrate, MigrateParams};
use segmint::segment::rules::RuleSet;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let demo = DemoParams {
        customers: 5_000,
        ..Default::default()
    };
    generate(&demo, dir.path(), &NoProgress)?;
    let inputs = Inputs::from_dir(dir.path());
    let map = ColumnMap::new();

    // what is wrong with the input, counted (hard errors stop with file, row, column, value)
    let report = validate(&inputs, &map, &ValidateParams::default(), &NoProgress)?;
    print!("{}", report.to_text());

    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let mart = build_mart(&tx, &MartParams::default(), &NoProgress)?;
    println!("{}", mart.summary(0.0).line());

    // RFM scores, the standard rule set's segments and their profile
    let rules = RuleSet::load("standard")?;
    let p = RfmAnalysisParams {
        profile: true,
        ..Default::default()
    };
    let a = analyze(&tx, customers.as_ref(), &rules, &p, &NoProgress)?;
    print!("{}", a.summary.markdown());
    let profile = a.profile.as_ref().expect("asked for");
    for s in &profile.segments {
        println!(
            "{:<22} {:>5.1}% of revenue",
            s.segment,
            100.0 * s.revenue_share
        );
    }
    let top = &profile.feature_ranking[0];
    println!(
        "differs most between segments: {} (epsilon² {:.2})",
        top.feature, top.test.epsilon_squared
    );

    // how customers moved between segments over the last half year
    let m = MigrateParams {
        from_day: parse_date("2025-07-01").expect("a date"),
        to_day: parse_date("2026-01-01").expect("a date"),
        ..Default::default()
    };
    let moves = migrate(&tx, customers.as_ref(), &rules, &m, &NoProgress)?;
    print!("{}", moves.summary(&rules.name, 3).markdown());
    Ok(())
}
