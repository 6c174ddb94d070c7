//! `segmint run`: the pipeline (validate -> mart -> RFM segments and profile -> group
//! comparison) and the report. Stages whose input is missing are skipped with a note.

use std::path::PathBuf;

use anyhow::Result;
use segmint::data::customers::Attributes;
use segmint::data::timestamp::format_date;
use segmint::data::validate::{validate, ValidateParams};
use segmint::data::TableKind;
use segmint::demo::{generate, DemoParams};
use segmint::mart::{build_mart, MartParams};
use segmint::report::{sections, Report};
use segmint::segment::profile::{self, PROFILE_ATTRIBUTES};
use segmint::segment::{mart_columns_for, rfm, RfmParams};
use segmint::uplift::{compare, CompareData, CompareParams};

use crate::ui::{note, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint run --demo --out out                    demo data (20,000 customers) -> out/
  segmint run --demo --demo-customers 100000 --seed 7 --out out
  segmint run --data data --out out

Stages: validate, mart (OUT/mart.parquet), RFM segments with the default rule set and their
profile (OUT/rfm.parquet, OUT/profile/), group comparison when the customers file has the group
and outcome columns (OUT/compare/), then the report: OUT/report.html (self-contained, no
scripts or external resources), OUT/report.md and OUT/figures/*.svg. OUT/summary.json lists what
ran and what was skipped. With --demo the data are generated into OUT/data first.")]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Use built-in demo data (generated into OUT/data)
    #[arg(long)]
    pub demo: bool,
    /// Demo customers (with --demo)
    #[arg(long = "demo-customers", default_value_t = 20_000, value_name = "N")]
    pub demo_customers: u64,
    /// Random seed
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output directory
    #[arg(long, short)]
    pub out: PathBuf,
    /// Reference date (default: day of the last transaction + 1)
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub ref_date: Option<String>,
    /// RFM rule set: default, standard or a TOML file
    #[arg(long, default_value = "default", value_name = "NAME|FILE")]
    pub rules: String,
    /// Group and outcome columns of the group comparison
    #[arg(long, default_value = "seller_group")]
    pub group: String,
    #[arg(long, default_value = "sale_success")]
    pub outcome: String,
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    std::fs::create_dir_all(&a.out)?;
    let mut input = a.input.clone();
    if a.demo {
        let dir = a.out.join("data");
        let p = DemoParams {
            customers: a.demo_customers,
            seed: a.seed,
            ..Default::default()
        };
        let s = generate(&p, &dir, &Bars::new(g))?;
        note(
            g,
            format!(
                "demo: {} customers, {} transactions -> {}",
                s.rows.customers,
                s.rows.transactions,
                dir.display()
            ),
        );
        input = InputArgs {
            data: Some(dir),
            ..Default::default()
        };
    } else {
        anyhow::ensure!(
            input.data.is_some() || input.transactions.is_some() || input.config.is_some(),
            "no input: pass --data DIR (or --transactions PATH), or --demo for built-in demo data"
        );
    }
    let bars = Bars::new(g);
    let (inputs, map) = input.resolve()?;
    let checked = validate(&inputs, &map, &ValidateParams::default(), &bars)?;
    note(
        g,
        format!("validate: {} warning kind(s)", checked.warnings()),
    );
    let ref_day = crate::cmd::mart::parse_ref_date(&a.ref_date)?;
    let mart_path = a.out.join("mart.parquet");
    let mart_summary = crate::cmd::mart::build_and_write(g, &input, ref_day, &mart_path)?;
    let mut stages = vec![serde_json::json!({"stage": "mart", "output": mart_path})];
    let mut skipped: Vec<String> = Vec::new();

    // RFM segments and their profile
    let rules = crate::cmd::rfm::load_rules(&a.rules)?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let mart = build_mart(
        &tx,
        &MartParams {
            ref_day,
            columns: mart_columns_for(&rules)?,
            before_us: None,
        },
        &bars,
    )?;
    let result = rfm(
        mart,
        customers.as_ref(),
        &rules,
        &RfmParams::default(),
        &bars,
    )?;
    let meta = vec![
        ("segmint.task".to_string(), "rfm".to_string()),
        (
            "segmint.ref_date".to_string(),
            format_date(result.mart.ref_day),
        ),
        ("segmint.rules".to_string(), rules.name.clone()),
    ];
    segmint::output::write_table(
        &result.to_record_batch()?,
        &a.out.join("rfm.parquet"),
        &meta,
    )?;
    let attrs = customers
        .as_ref()
        .map(|c| Attributes::load(c, PROFILE_ATTRIBUTES, &bars))
        .transpose()?;
    let prof = profile::profile(
        &result.segment_names,
        &result.segment,
        &result.mart,
        attrs.as_ref(),
        &rules.actions(),
    );
    prof.write(&a.out.join("profile"), &meta)?;
    stages.push(serde_json::json!({"stage": "rfm", "output": a.out.join("rfm.parquet"), "rules": rules.name}));
    let mut report = Report {
        title: "Customer analytics report".into(),
        subtitle: format!(
            "{} customers · reference date {} · segmint {}",
            result.len(),
            format_date(result.mart.ref_day),
            segmint::VERSION
        ),
        sections: vec![
            sections::data(
                &checked,
                result.len(),
                result.mart.monetary.iter().sum(),
                &format_date(result.mart.ref_day),
            ),
            sections::segments(&prof, &rules.name, &result.mart.monetary),
        ],
    };

    // group comparison
    let has = |c: &str| customers.as_ref().is_some_and(|r| r.has(c));
    if has(&a.group) && has(&a.outcome) {
        let reader = customers.as_ref().expect("has");
        let data = CompareData::load(reader, &a.group, &a.outcome, None, &bars)?;
        let params = CompareParams {
            seed: a.seed,
            ..Default::default()
        };
        match compare(&data, &params, &bars) {
            Ok(cmp) => {
                let names = reader
                    .present()
                    .iter()
                    .map(|p| (p.spec.name.to_string(), p.source.clone()))
                    .collect();
                let dir = a.out.join("compare");
                crate::cmd::compare::write_outputs(&cmp, &dir, &names, "customers", "customer_id")?;
                report.sections.push(sections::compare(&cmp));
                stages.push(serde_json::json!({"stage": "compare", "output": dir, "routed": cmp.routing().len()}));
            }
            Err(e) => skipped.push(format!("compare: {e}")),
        }
    } else {
        skipped.push(format!(
            "compare: the customers file has no {} and {} columns",
            a.group, a.outcome
        ));
    }
    for s in &skipped {
        note(g, format!("skipped {s}"));
    }
    report.write(&a.out)?;
    let summary = serde_json::json!({
        "segmint": segmint::VERSION,
        "validate": checked,
        "mart": mart_summary,
        "stages": stages,
        "skipped": skipped,
        "report": a.out.join("report.html"),
    });
    segmint::output::write_text(
        &a.out.join("summary.json"),
        &(serde_json::to_string_pretty(&summary)? + "\n"),
    )?;
    if g.json {
        println!("{summary}");
    } else {
        note(
            g,
            format!("report -> {}", a.out.join("report.html").display()),
        );
    }
    Ok(0)
}
