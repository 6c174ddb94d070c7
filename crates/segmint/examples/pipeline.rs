//! The whole analysis in process, as `segmint run` does it: a plan of stages on tables opened
//! once and one mart, a stage that fails kept with its error, then the HTML report from the
//! typed results.
//!
//! `cargo run -p segmint --example pipeline`

use segmint::data::{ColumnMap, Inputs};
use segmint::demo::{generate, DemoParams};
use segmint::mart::{build_mart, MartParams};
use segmint::pipeline::{run, Data, RunSummary, Stage, StageParams};
use segmint::predict::{PredictParams, Task};
use segmint::progress::NoProgress;
use segmint::segment::rules::RuleSet;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let demo = DemoParams {
        customers: 3_000,
        ..Default::default()
    };
    generate(&demo, &data_dir, &NoProgress)?;
    let data = Data::open(&Inputs::from_dir(&data_dir), &ColumnMap::new())?;
    let mart = build_mart(&data.tx, &MartParams::default(), &NoProgress)?;
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out)?;
    segmint::output::write_parquet(&mart.to_record_batch()?, &out.join("mart.parquet"), &[])?;

    let churn = PredictParams {
        task: Task::Churn,
        ..Default::default()
    };
    let plan = vec![
        Stage::new(
            "rfm",
            StageParams::Rfm {
                rules: RuleSet::load("default")?,
                params: Default::default(),
            },
        ),
        Stage::new("clv", StageParams::Clv(Default::default())),
        Stage::new("churn", StageParams::Predict(churn)),
        // no such column: this stage fails, the others go on
        Stage::new(
            "compare",
            StageParams::Compare {
                group: "no_such_group".into(),
                outcome: "sale_success".into(),
                params: Default::default(),
            },
        ),
    ];
    let done = run(&data, mart, &plan, &out, &NoProgress)?;
    let mut summary = RunSummary::new(42);
    summary.stages = done.ran;
    for f in &done.failed {
        summary.skipped.push(format!("{}: {}", f.stage, f.error));
    }
    summary.write_to(&out.join("summary.json"))?;
    for s in &summary.stages {
        println!("ran {} -> {}", s.stage, s.output.display());
    }
    for s in &summary.skipped {
        println!("did not run {s}");
    }

    // the report from the results directory: every section whose typed result is there
    let (report, notes) = segmint::report::results::build(&out)?;
    report.write(&out)?;
    let ids: Vec<&str> = report.sections.iter().map(|s| s.id.as_str()).collect();
    println!("report sections: {ids:?}; notes: {notes:?}");
    assert!(
        ids.contains(&"not_run"),
        "the failed stage is in the report"
    );
    Ok(())
}
