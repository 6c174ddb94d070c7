//! `segmint run`: the pipeline (validate -> mart -> RFM segments and profile -> group
//! comparison) and the report. Stages whose input is missing are skipped with a note.

use std::path::PathBuf;

use anyhow::Result;
use segmint::data::validate::{validate, ValidateParams};
use segmint::demo::{generate, DemoParams};
use segmint::pipeline::{self, Data, RunSummary, Stage, StageParams, StageRecord};
use segmint::segment::RfmParams;
use segmint::uplift::CompareParams;

use crate::run_plan::{build_plan, check_plan, check_stages, input_flags, load_config, Facts};
use crate::ui::{note, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = include_str!("../help/run.txt"))]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Use built-in demo data (generated into OUT/data)
    #[arg(long)]
    pub demo: bool,
    /// Demo customers (with --demo)
    #[arg(long = "demo-customers", default_value_t = 20_000, value_name = "N")]
    pub demo_customers: u64,
    /// Random seed [default: 42]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output directory
    #[arg(long, short)]
    pub out: PathBuf,
    /// Reference date (default: day of the last transaction + 1): the mart, RFM and clusters
    /// use it, CLV observes up to the day before; the predictions set their cutoff from the
    /// data's end (as `segmint predict` without --cutoff)
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub ref_date: Option<String>,
    /// RFM rule set: default, standard or a TOML file [default: default]
    #[arg(long, value_name = "NAME|FILE")]
    pub rules: Option<String>,
    /// Group column of the group comparison [default: seller_group]
    #[arg(long)]
    pub group: Option<String>,
    /// Outcome column of the group comparison [default: sale_success]
    #[arg(long)]
    pub outcome: Option<String>,
    /// Stages to run, comma-separated [default: all]
    #[arg(long, value_delimiter = ',', value_name = "STAGE,..")]
    pub stages: Vec<String>,
    /// Stages to leave out, comma-separated
    #[arg(long, value_delimiter = ',', value_name = "STAGE,..")]
    pub skip: Vec<String>,
    /// The mart from Spark (--engine spark; the later stages run here on it)
    #[command(flatten)]
    pub engine: crate::engine::EngineArgs,
}

/// The stages that can be selected, in the order they run.
pub const STAGES: [&str; 10] = segmint::report::results::RUN_STAGES;

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    a.engine.check()?;
    let cfg = load_config(a.input.config.as_deref())?;
    check_stages(&a.stages, "--stages")?;
    check_stages(&a.skip, "--skip")?;
    let selected: Vec<&str> = if !a.stages.is_empty() {
        a.stages.iter().map(|s| s.as_str()).collect()
    } else if let Some(s) = &cfg.stages {
        s.iter().map(|s| s.as_str()).collect()
    } else {
        STAGES.to_vec()
    };
    let wanted = |stage: &str| {
        selected.contains(&stage)
            && !a.skip.iter().any(|s| s == stage)
            && !cfg.skip.iter().any(|s| s == stage)
    };
    let seed = a.seed.or(cfg.seed).unwrap_or(42);
    let ref_date = a.ref_date.clone().or(cfg.ref_date.clone());
    // the command line wins over the file
    let pick = |cli: &Option<String>, file: &Option<String>, default: &str| {
        cli.clone()
            .or(file.clone())
            .unwrap_or_else(|| default.into())
    };
    let rules_name = pick(&a.rules, &cfg.rules, "default");
    let group = pick(&a.group, &cfg.group, "seller_group");
    let outcome = pick(&a.outcome, &cfg.outcome, "sale_success");
    // errors in the options or the rule file before any work
    let rules = crate::options::load_rules(&rules_name)?;
    let ref_day = crate::options::parse_ref_date(&ref_date)?;
    {
        // the stages' options, checked on a plan with every input present
        let facts = Facts {
            ref_day: 20_000,
            has_events: true,
            has_customers: true,
        };
        let plan = build_plan(&a.out, &facts, seed, &ref_date, &cfg, &wanted);
        check_plan(
            &plan,
            &input_flags(&a.input),
            a.input.config.as_deref(),
            &cfg,
        )?;
    }

    std::fs::create_dir_all(&a.out)?;
    let mut input = a.input.clone();
    if a.demo {
        let dir = a.out.join("data");
        let p = DemoParams {
            customers: a.demo_customers,
            seed,
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
    checked.write_to(&a.out.join("validate.json"))?;
    let mart_path = a.out.join("mart.parquet");
    // the tables opened once, one full mart: written as mart.parquet and shared by the stages
    let data = Data::open(&inputs, &map)?;
    let t0 = std::time::Instant::now();
    let (mart, mut mart_meta) =
        crate::cmd::mart::build_with(&a.engine, &inputs, &map, &data.tx, ref_day, &bars)?;
    let mut mart_summary = mart.summary(t0.elapsed().as_secs_f64());
    mart_summary.output = Some(mart_path.display().to_string());
    if a.engine.is_spark() {
        mart_meta.push(("segmint.engine".into(), "spark".into()));
        mart_summary.engine = "spark".into();
    }
    segmint::output::write_parquet(&mart.to_record_batch()?, &mart_path, &mart_meta)?;
    let facts = Facts {
        ref_day: mart.ref_day,
        has_events: data.events.is_some(),
        has_customers: data.customers.is_some(),
    };
    let mut plan = Vec::new();
    if wanted("rfm") {
        let params = RfmParams::default();
        plan.push(Stage::new("rfm", StageParams::Rfm { rules, params }));
    }
    if wanted("compare") {
        let params = CompareParams {
            seed,
            ..Default::default()
        };
        let (group, outcome) = (group.clone(), outcome.clone());
        let compare = StageParams::Compare {
            group,
            outcome,
            params,
        };
        plan.push(Stage::new("compare", compare));
    }
    // the other analyses take the options of their subcommands, as the user would give them
    let mut skipped: Vec<String> = Vec::new();
    let inp = input_flags(&input);
    for p in build_plan(&a.out, &facts, seed, &ref_date, &cfg, &wanted) {
        match p.missing {
            Some(why) => skipped.push(format!("{}: {why}", p.name)),
            None => plan.push(Stage::new(p.name, super::stage_params(&p.args(), &inp)?)),
        }
    }
    let done = pipeline::run(&data, mart, &plan, &a.out, &bars)?;
    for r in &done.ran {
        for n in &r.notes {
            note(g, format!("{}: {n}", r.stage));
        }
    }
    let mut summary = RunSummary::new(seed);
    summary.stages.push(StageRecord {
        stage: "mart".into(),
        output: mart_path,
        summary: serde_json::to_value(&mart_summary)?,
        notes: Vec::new(),
    });
    summary.stages.extend(done.ran);
    for f in done.failed {
        let e = anyhow::Error::from(f.error);
        skipped.push(format!("{}: {}", f.stage, crate::one_line(&e)));
    }
    // the report lists the stages that did not run, with the reason: written before it is built
    summary.skipped = skipped;
    summary.write_to(&a.out.join("summary.json"))?;
    let r = crate::cmd::report::render(&a.out, &a.out)?;
    summary.skipped.extend(r.notes);
    for s in &summary.skipped {
        note(g, format!("skipped {s}"));
    }
    summary.validate = Some(checked);
    summary.mart = Some(mart_summary);
    summary.report = Some(a.out.join("report.html"));
    summary.sections = r.sections;
    summary.figures = r.pngs;
    summary.write_to(&a.out.join("summary.json"))?;
    if g.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        note(
            g,
            format!("report -> {}", a.out.join("report.html").display()),
        );
    }
    Ok(0)
}
