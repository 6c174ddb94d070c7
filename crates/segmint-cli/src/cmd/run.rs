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
use segmint::segment::{rfm, RfmParams};
use segmint::uplift::{compare, CompareData, CompareParams};

use crate::ui::{note, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint run --demo --out out                    demo data (20,000 customers) -> out/
  segmint run --demo --demo-customers 100000 --seed 7 --out out
  segmint run --data data --out out

Stages: validate, mart (OUT/mart.parquet), RFM segments with --rules and their profile
(OUT/rfm.parquet, OUT/profile/), group comparison when the customers file has the --group and
--outcome columns (OUT/compare/), clusters (OUT/clusters/), CLV with a holdout check (OUT/clv/),
churn and 90-day value (OUT/churn/, OUT/value/; need a customers file), session conversion
(OUT/conversion/; needs events) and hidden segments (OUT/hidden/). Then the report:
OUT/report.html (self-contained, no scripts or external resources), OUT/report.md and
OUT/figures/*.svg and *.png. OUT/summary.json lists what ran and what was skipped, and why.
With --demo the data are generated into OUT/data first.")]
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

/// The input options as command-line flags, to run other subcommands on the same data.
fn input_flags(i: &InputArgs) -> Vec<String> {
    let mut v = Vec::new();
    for (flag, p) in [
        ("--data", &i.data),
        ("--customers", &i.customers),
        ("--transactions", &i.transactions),
        ("--events", &i.events),
        ("--config", &i.config),
    ] {
        if let Some(p) = p {
            v.push(flag.to_string());
            v.push(p.display().to_string());
        }
    }
    for c in &i.columns {
        v.push("--columns".into());
        v.push(c.clone());
    }
    v
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
    let mut stages = vec![serde_json::json!({"stage": "mart", "output": mart_path})];
    let mut skipped: Vec<String> = Vec::new();

    // one full mart: written as mart.parquet and scored by the RFM stage
    let rules = crate::cmd::rfm::load_rules(&a.rules)?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let t0 = std::time::Instant::now();
    let mart = build_mart(
        &tx,
        &MartParams {
            ref_day,
            ..Default::default()
        },
        &bars,
    )?;
    let mart_summary =
        crate::cmd::mart::summary_json(&mart, t0.elapsed().as_secs_f64(), &mart_path);
    segmint::output::write_parquet(
        &mart.to_record_batch()?,
        &mart_path,
        &crate::cmd::mart::metadata(&mart, &tx.path),
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
    // the other analyses run as the user would run them (same binary, same options), each into
    // its own directory; their JSON summaries and files feed the report
    let last_day = format_date(result.mart.ref_day - 1);
    let calibration_end = format_date(result.mart.ref_day - 1 - 182);
    let has_events = inputs.open_optional(TableKind::Events, &map)?.is_some();
    let has_customers = customers.is_some();
    let inp = input_flags(&input);
    let o = |rel: &str| a.out.join(rel).display().to_string();
    // (stage, its directory in OUT, arguments, why it cannot run)
    let predict = |task: &str, dir: &str| -> Vec<String> {
        // no cross-validation here: the held-out test split is enough for the report, and
        // `segmint predict` gives the CV numbers
        ["predict", task, "--folds", "0", "--out", &o(dir)]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let words = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
    let mut plan: Vec<(&str, &str, Vec<String>, Option<&str>)> = vec![
        (
            "cluster",
            "clusters",
            words(&[
                "cluster",
                "-k",
                "auto",
                "--out",
                &o("clusters/clusters.parquet"),
            ]),
            None,
        ),
        (
            "clv",
            "clv",
            words(&[
                "clv",
                "--out",
                &o("clv/clv.parquet"),
                "--metrics",
                &o("clv/clv.json"),
            ]),
            None,
        ),
        (
            "clv_holdout",
            "clv",
            words(&[
                "clv",
                "--calibration-end",
                &calibration_end,
                "--holdout-end",
                &last_day,
                "--out",
                &o("clv/holdout.parquet"),
                "--metrics",
                &o("clv/holdout.json"),
            ]),
            None,
        ),
        (
            "churn",
            "churn",
            predict("churn", "churn"),
            (!has_customers).then_some("no customers file"),
        ),
        (
            "value",
            "value",
            predict("value", "value"),
            (!has_customers).then_some("no customers file"),
        ),
        (
            "conversion",
            "conversion",
            // sessions outnumber customers 12 to 1: fewer, larger boosting steps keep the
            // pipeline near a minute at 100,000 customers
            [
                predict("conversion", "conversion"),
                words(&["--n-estimators", "100", "--learning-rate", "0.1"]),
            ]
            .concat(),
            (!has_events).then_some("no events file"),
        ),
        (
            "hidden",
            "hidden",
            words(&["segments", "discover", "--out", &o("hidden")]),
            (!has_customers).then_some("no customers file"),
        ),
    ];
    if has_events {
        for stage in ["churn", "value"] {
            if let Some(p) = plan.iter_mut().find(|p| p.0 == stage) {
                p.2.push("--clickstream".into());
            }
        }
    }
    let exe = std::env::current_exe()?;
    use segmint::progress::Progress;
    let mut done: Vec<&str> = Vec::new();
    for (name, dir, args, missing) in plan {
        if let Some(why) = missing {
            skipped.push(format!("{name}: {why}"));
            continue;
        }
        bars.begin(&format!("running {name}"), 0);
        std::fs::create_dir_all(a.out.join(dir))?;
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(&args).args(&inp).args(["--json", "--quiet"]);
        if args[0] != "clv" {
            // every randomised analysis takes the run's seed (clv has no randomness)
            cmd.args(["--seed", &a.seed.to_string()]);
        }
        if let Some(r) = &a.ref_date {
            if args[0] != "segments" {
                cmd.args(["--ref-date", r]);
            }
        }
        let out = cmd.output()?;
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .last()
                    .unwrap_or("{}")
                    .as_bytes(),
            )
            .unwrap_or(serde_json::Value::Null);
            stages.push(serde_json::json!({"stage": name, "args": args, "summary": v}));
            done.push(name);
        } else {
            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            skipped.push(format!("{name}: {err}"));
        }
        bars.finish();
    }
    // report sections from the stages' files
    use segmint::report::results;
    type Build = fn(&std::path::Path) -> segmint::Result<segmint::report::Section>;
    let mart_file = a.out.join("mart.parquet");
    let mut built: Vec<(&str, segmint::Result<segmint::report::Section>)> = Vec::new();
    if done.contains(&"cluster") {
        built.push((
            "cluster",
            results::clusters(&a.out.join("clusters"), &mart_file),
        ));
    }
    for (stage, dir, f) in [
        ("clv", "clv", results::clv as Build),
        ("churn", "churn", results::churn as Build),
        ("value", "value", results::value as Build),
        ("conversion", "conversion", results::conversion as Build),
        ("hidden", "hidden", results::hidden as Build),
    ] {
        if done.contains(&stage) {
            built.push((stage, f(&a.out.join(dir))));
        }
    }
    for (stage, sec) in built {
        match sec {
            Ok(sec) => report.sections.push(sec),
            Err(e) => skipped.push(format!("report section {stage}: {e}")),
        }
    }
    // the order: data, segments, clusters, CLV, predictions, comparison, hidden
    const ORDER: [&str; 9] = [
        "data",
        "segments",
        "clusters",
        "clv",
        "churn",
        "value",
        "conversion",
        "compare",
        "hidden",
    ];
    report
        .sections
        .sort_by_key(|s| ORDER.iter().position(|o| *o == s.id).unwrap_or(ORDER.len()));
    for s in &skipped {
        note(g, format!("skipped {s}"));
    }
    report.write(&a.out)?;
    if crate::png::options().1.is_none() {
        let msg = "figure text in PNG: no fonts installed (the SVG and HTML figures are complete; install e.g. fonts-dejavu-core)";
        note(g, format!("skipped {msg}"));
        skipped.push(msg.into());
    }
    let pngs = crate::png::render_dir(&a.out.join("figures"), 2.0)?;
    let summary = serde_json::json!({
        "segmint": segmint::VERSION,
        "validate": checked,
        "mart": mart_summary,
        "stages": stages,
        "skipped": skipped,
        "report": a.out.join("report.html"),
        "figures": pngs,
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
