//! Does one global spend model hide segments that need their own models?
//!
//! `cargo run -p segmint --example hidden`

use segmint::data::{ColumnMap, Inputs, TableKind};
use segmint::demo::{generate, DemoParams};
use segmint::hidden::{customer_table, discover, random_split, HiddenParams, SPEND_COLUMNS};
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
    let t = customer_table(&tx, customers.as_ref(), &[], &NoProgress)?;
    let names = &t.columns.names;
    let target = names
        .iter()
        .position(|n| n == "monetary")
        .expect("a mart column");
    let features: Vec<String> = names
        .iter()
        .filter(|n| !SPEND_COLUMNS.contains(&n.as_str()))
        .cloned()
        .collect();
    let y = t.columns.column(target);
    let split = random_split(y.len(), 0.3, 42);
    let d = discover(
        &t.columns.project(&features)?,
        &y,
        &split,
        &HiddenParams::default(),
    )?;
    for (s, name) in d.names.iter().enumerate() {
        println!("{name}: {}", d.tree.rule_text(s));
    }
    println!("{:?}: {}", d.evaluation.verdict, d.evaluation.reason);
    Ok(())
}
