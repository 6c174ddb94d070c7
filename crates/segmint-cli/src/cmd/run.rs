//! `segmint run`: the pipeline. Today: (demo data) -> validate -> mart. Later issues add
//! segments, models and the report.

use std::path::PathBuf;

use anyhow::Result;
use segmint::data::validate::{validate, ValidateParams};
use segmint::demo::{generate, DemoParams};

use crate::ui::{note, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint run --demo --out out                    demo data (20,000 customers) -> out/
  segmint run --demo --customers 100000 --seed 7 --out out
  segmint run --data data --out out

Writes OUT/mart.parquet and OUT/summary.json (with --demo also the data in OUT/data).")]
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
    let (inputs, map) = input.resolve()?;
    let report = validate(&inputs, &map, &ValidateParams::default(), &Bars::new(g))?;
    note(
        g,
        format!("validate: {} warning kind(s)", report.warnings()),
    );
    let ref_day = crate::cmd::mart::parse_ref_date(&a.ref_date)?;
    let mart_path = a.out.join("mart.parquet");
    let mart = crate::cmd::mart::build_and_write(g, &input, ref_day, &mart_path)?;
    let summary = serde_json::json!({
        "segmint": segmint::VERSION,
        "validate": report,
        "mart": mart,
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
            format!(
                "mart: {} customers -> {}",
                mart["customers"],
                mart_path.display()
            ),
        );
        note(
            g,
            format!("summary -> {}", a.out.join("summary.json").display()),
        );
    }
    Ok(0)
}
