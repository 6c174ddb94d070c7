//! `segmint run`: the pipeline (validate -> mart -> RFM segments and profile -> group
//! comparison) and the report. Stages whose input is missing are skipped with a note.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use segmint::data::timestamp::format_date;
use segmint::data::validate::{validate, ValidateParams};
use segmint::data::TableKind;
use segmint::demo::{generate, DemoParams};
use segmint::mart::{build_mart, MartParams};
use segmint::segment::profile;
use segmint::segment::{rfm, RfmParams};
use segmint::uplift::{compare, CompareData, CompareParams};

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
    /// Reference date (default: day of the last transaction + 1)
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
pub const STAGES: [&str; 9] = segmint::report::results::RUN_STAGES;

/// The stages run as subcommands, which take options from `[run.<stage>]`.
const SUBCOMMAND_STAGES: [&str; 7] = [
    "cluster",
    "clv",
    "clv_holdout",
    "churn",
    "value",
    "conversion",
    "hidden",
];

/// Options `segmint run` sets itself; a `[run.<stage>]` table may not set them.
const RESERVED: [&str; 13] = [
    "out",
    "metrics",
    "data",
    "customers",
    "transactions",
    "events",
    "columns",
    "config",
    "seed",
    "ref-date",
    "json",
    "quiet",
    "threads",
];

/// An option of a subcommand: `--name` and its value (`None` for a switch).
type Opt = (String, Option<String>);

/// The `[run]` table of a config file.
#[derive(Default, Debug)]
pub struct RunConfig {
    pub stages: Option<Vec<String>>,
    pub skip: Vec<String>,
    pub seed: Option<u64>,
    pub ref_date: Option<String>,
    pub rules: Option<String>,
    pub group: Option<String>,
    pub outcome: Option<String>,
    /// Extra options per subcommand stage.
    pub options: BTreeMap<String, Vec<Opt>>,
}

fn check_stages(list: &[String], what: &str) -> Result<()> {
    for s in list {
        anyhow::ensure!(
            STAGES.contains(&s.as_str()),
            "{what}: unknown stage {s:?}; the stages are {}",
            STAGES.join(", ")
        );
    }
    Ok(())
}

/// Reads the `[run]` table of `path` (none: defaults).
pub fn load_config(path: Option<&Path>) -> Result<RunConfig> {
    let mut c = RunConfig::default();
    let Some(path) = path else { return Ok(c) };
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let value: toml::Value = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().replace('\n', " ")))?;
    let Some(run) = value.get("run") else {
        return Ok(c);
    };
    let at = |k: &str| format!("{}: [run] {k}", path.display());
    let table = run
        .as_table()
        .with_context(|| format!("{}: [run] must be a table", path.display()))?;
    let string = |k: &str, v: &toml::Value| -> Result<String> {
        v.as_str()
            .map(str::to_string)
            .with_context(|| format!("{} must be a string, not {v}", at(k)))
    };
    let list = |k: &str, v: &toml::Value| -> Result<Vec<String>> {
        let a = v
            .as_array()
            .with_context(|| format!("{} must be a list of stage names", at(k)))?;
        let l = a.iter().map(|x| string(k, x)).collect::<Result<Vec<_>>>()?;
        check_stages(&l, &at(k))?;
        Ok(l)
    };
    for (k, v) in table {
        match k.as_str() {
            "stages" => c.stages = Some(list(k, v)?),
            "skip" => c.skip = list(k, v)?,
            "seed" => {
                c.seed = Some(
                    v.as_integer()
                        .and_then(|i| u64::try_from(i).ok())
                        .with_context(|| format!("{} must be a whole number >= 0, not {v}", at(k)))?,
                )
            }
            "ref_date" => c.ref_date = Some(string(k, v)?),
            "rules" => {
                let r = string(k, v)?;
                // a rule file is relative to the config file
                c.rules = Some(if r == "default" || r == "standard" {
                    r
                } else {
                    let base = path.parent().unwrap_or(Path::new(""));
                    base.join(r).display().to_string()
                });
            }
            "group" => c.group = Some(string(k, v)?),
            "outcome" => c.outcome = Some(string(k, v)?),
            stage if SUBCOMMAND_STAGES.contains(&stage) => {
                let t = v.as_table().with_context(|| {
                    format!("{}: [run.{stage}] must be a table of options", path.display())
                })?;
                let mut opts = Vec::new();
                for (name, val) in t {
                    let flag = name.replace('_', "-");
                    anyhow::ensure!(
                        !RESERVED.contains(&flag.as_str()),
                        "{}: [run.{stage}] {name}: --{flag} is set by segmint run for every stage",
                        path.display()
                    );
                    let scalar = |x: &toml::Value| -> Result<String> {
                        match x {
                            toml::Value::String(s) => Ok(s.clone()),
                            toml::Value::Integer(i) => Ok(i.to_string()),
                            toml::Value::Float(f) => Ok(f.to_string()),
                            other => anyhow::bail!(
                                "{}: [run.{stage}] {name}: unsupported value {other}",
                                path.display()
                            ),
                        }
                    };
                    match val {
                        toml::Value::Boolean(true) => opts.push((flag, None)),
                        toml::Value::Boolean(false) => {}
                        toml::Value::Array(a) => {
                            let parts = a.iter().map(scalar).collect::<Result<Vec<_>>>()?;
                            opts.push((flag, Some(parts.join(","))));
                        }
                        x => opts.push((flag, Some(scalar(x)?))),
                    }
                }
                c.options.insert(stage.to_string(), opts);
            }
            other => anyhow::bail!(
                "{}: [run] {other}: unknown key; the keys are stages, skip, seed, ref_date, rules, group, outcome and the tables {}",
                path.display(),
                SUBCOMMAND_STAGES.map(|s| format!("[run.{s}]")).join(", ")
            ),
        }
    }
    Ok(c)
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

/// A subcommand stage: its name, its directory in OUT, the subcommand and the options
/// `segmint run` chooses (the config's `[run.<stage>]` options replace same-named ones), and why
/// it cannot run.
struct Planned {
    name: &'static str,
    dir: &'static str,
    command: Vec<String>,
    options: Vec<Opt>,
    missing: Option<&'static str>,
}

impl Planned {
    fn args(&self) -> Vec<String> {
        let mut v = self.command.clone();
        for (k, val) in &self.options {
            // one letter: a short option (`-k`)
            v.push(if k.len() == 1 {
                format!("-{k}")
            } else {
                format!("--{k}")
            });
            v.extend(val.clone());
        }
        v
    }
}

fn opt(k: &str, v: &str) -> Opt {
    (k.to_string(), Some(v.to_string()))
}

/// What the run knows about the data when it plans the subcommand stages.
struct Facts {
    ref_day: i64,
    has_events: bool,
    has_customers: bool,
}

/// The subcommand stages to run, with their options.
fn build_plan(
    out: &Path,
    facts: &Facts,
    seed: u64,
    ref_date: &Option<String>,
    cfg: &RunConfig,
    wanted: &dyn Fn(&str) -> bool,
) -> Vec<Planned> {
    let last_day = format_date(facts.ref_day - 1);
    let calibration_end = format_date(facts.ref_day - 1 - 182);
    let (has_events, has_customers) = (facts.has_events, facts.has_customers);
    let o = |rel: &str| out.join(rel).display().to_string();
    let words = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
    let no_customers = (!has_customers).then_some("no customers file");
    // no cross-validation in predictions: the held-out test split is enough for the report,
    // and `segmint predict` gives the CV numbers
    let stage =
        |name: &'static str, dir: &'static str, command: &[&str], options: Vec<Opt>| Planned {
            name,
            dir,
            command: words(command),
            options,
            missing: None,
        };
    let predict = |task: &'static str, extra: Vec<Opt>, missing: Option<&'static str>| Planned {
        missing,
        ..stage(
            task,
            task,
            &["predict", task],
            [vec![opt("folds", "0"), opt("out", &o(task))], extra].concat(),
        )
    };
    let mut plan = vec![
        stage(
            "cluster",
            "clusters",
            &["cluster"],
            vec![
                opt("k", "auto"),
                opt("out", &o("clusters/clusters.parquet")),
                opt("summary", &o("clusters/clusters.json")),
            ],
        ),
        stage(
            "clv",
            "clv",
            &["clv"],
            vec![
                opt("out", &o("clv/clv.parquet")),
                opt("metrics", &o("clv/clv.json")),
            ],
        ),
        stage(
            "clv_holdout",
            "clv",
            &["clv"],
            vec![
                opt("calibration-end", &calibration_end),
                opt("holdout-end", &last_day),
                opt("out", &o("clv/holdout.parquet")),
                opt("metrics", &o("clv/holdout.json")),
            ],
        ),
        predict("churn", vec![], no_customers),
        predict("value", vec![], no_customers),
        // sessions outnumber customers 12 to 1: fewer, larger boosting steps keep the
        // pipeline near a minute at 100,000 customers
        predict(
            "conversion",
            vec![opt("n-estimators", "100"), opt("learning-rate", "0.1")],
            (!has_events).then_some("no events file"),
        ),
        Planned {
            missing: no_customers,
            ..stage(
                "hidden",
                "hidden",
                &["segments", "discover"],
                vec![opt("out", &o("hidden"))],
            )
        },
    ];
    for p in plan.iter_mut() {
        if has_events && (p.name == "churn" || p.name == "value") {
            p.options.push(("clickstream".into(), None));
        }
        if p.command[0] != "clv" {
            // every randomised analysis takes the run's seed (clv has no randomness)
            p.options.push(opt("seed", &seed.to_string()));
        }
        if let Some(r) = &ref_date {
            if p.command[0] != "segments" {
                p.options.push(opt("ref-date", r));
            }
        }
        for (k, v) in cfg.options.get(p.name).into_iter().flatten() {
            p.options.retain(|(have, _)| have != k);
            p.options.push((k.clone(), v.clone()));
        }
    }
    plan.retain(|p| wanted(p.name));
    plan
}

/// Runs one stage's subcommand in this process, as `segmint ARGS INPUTS --json --quiet` would,
/// and returns its JSON summary.
fn run_stage(args: &[String], inputs: &[String]) -> Result<serde_json::Value> {
    use crate::Command;
    let argv = [vec!["segmint".to_string()], args.to_vec(), inputs.to_vec()].concat();
    let cli = <crate::Cli as clap::Parser>::try_parse_from(&argv)
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().lines().next().unwrap_or("")))?;
    let slot = std::sync::Arc::new(std::sync::Mutex::new(None));
    let g = Global {
        quiet: true,
        json: true,
        summary: Some(slot.clone()),
        ..Default::default()
    };
    match &cli.command {
        Command::Cluster(a) => crate::cmd::cluster::run(&g, a),
        Command::Clv(a) => crate::cmd::clv::run(&g, a),
        Command::Predict(a) => crate::cmd::predict::run(&g, a),
        Command::Segments(a) => crate::cmd::segments::run(&g, a),
        _ => anyhow::bail!("{:?} is not a stage of segmint run", args.first()),
    }?;
    let summary = slot.lock().expect("summary lock").take();
    Ok(summary.unwrap_or(serde_json::Value::Null))
}

/// Parses each stage's command line as `segmint` would, so that a bad option from the config
/// stops the run before any work.
fn check_plan(plan: &[Planned], inp: &[String], a: &Args, cfg: &RunConfig) -> Result<()> {
    for p in plan {
        let argv = [vec!["segmint".to_string()], p.args(), inp.to_vec()].concat();
        if let Err(e) = <crate::Cli as clap::Parser>::try_parse_from(&argv) {
            let msg = e.to_string();
            let first = msg
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            match (&a.input.config, cfg.options.contains_key(p.name)) {
                (Some(c), true) => anyhow::bail!(
                    "stage {}: {first} (options from [run.{}] of {})",
                    p.name,
                    p.name,
                    c.display()
                ),
                _ => anyhow::bail!("stage {}: {first}", p.name),
            }
        }
    }
    Ok(())
}

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
    let rules_name = a
        .rules
        .clone()
        .or(cfg.rules.clone())
        .unwrap_or_else(|| "default".into());
    let group = a
        .group
        .clone()
        .or(cfg.group.clone())
        .unwrap_or_else(|| "seller_group".into());
    let outcome = a
        .outcome
        .clone()
        .or(cfg.outcome.clone())
        .unwrap_or_else(|| "sale_success".into());
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
        check_plan(&plan, &input_flags(&a.input), a, &cfg)?;
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
    segmint::output::write_text(
        &a.out.join("validate.json"),
        &(serde_json::to_string_pretty(&checked)? + "\n"),
    )?;
    let mart_path = a.out.join("mart.parquet");
    let mut stages = vec![serde_json::json!({"stage": "mart", "output": mart_path})];
    let mut skipped: Vec<String> = Vec::new();
    // the files that bring a section into the report: an earlier run's must not
    for (_, key) in segmint::report::results::SECTION_FILES {
        let p = a.out.join(key);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }

    // one full mart: written as mart.parquet and scored by the RFM stage
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let t0 = std::time::Instant::now();
    let (mart, mut mart_meta) = if a.engine.is_spark() {
        let r = crate::engine::run(
            &a.engine,
            &inputs,
            map.clone(),
            crate::options::Task::Mart,
            None,
            ref_day,
            segmint::mart::mart_schema(),
            &bars,
        )?;
        let mart = segmint::mart::Mart::from_record_batch(&r.batch)?;
        let meta = crate::cmd::mart::metadata(&mart, std::path::Path::new(&r.transactions));
        (mart, meta)
    } else {
        let mart = build_mart(
            &tx,
            &MartParams {
                ref_day,
                ..Default::default()
            },
            &bars,
        )?;
        let meta = crate::cmd::mart::metadata(&mart, &tx.path);
        (mart, meta)
    };
    let mut mart_summary =
        crate::cmd::mart::summary_json(&mart, t0.elapsed().as_secs_f64(), &mart_path);
    if a.engine.is_spark() {
        mart_meta.push(("segmint.engine".into(), "spark".into()));
        mart_summary["engine"] = serde_json::json!("spark");
    }
    segmint::output::write_parquet(&mart.to_record_batch()?, &mart_path, &mart_meta)?;
    let mart_ref_day = mart.ref_day;
    if wanted("rfm") {
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
            .map(|c| profile::load_attributes(c, &result.mart, &bars))
            .transpose()?;
        let prof = profile::profile(
            &result.segment_names,
            &result.segment,
            &result.mart,
            attrs.as_ref(),
            &segmint::segment::rules_for_data(&rules, customers.as_ref())
                .0
                .actions(),
        );
        prof.write(&a.out.join("profile"), &meta)?;
        stages.push(serde_json::json!({"stage": "rfm", "output": a.out.join("rfm.parquet"), "rules": rules.name}));
    } else {
        drop(mart);
    }

    // group comparison
    let has = |c: &str| customers.as_ref().is_some_and(|r| r.has_column(c));
    if !wanted("compare") {
    } else if has(&group) && has(&outcome) {
        let reader = customers.as_ref().expect("has");
        let data = CompareData::load(reader, &group, &outcome, None, &[], &bars)?;
        let params = CompareParams {
            seed,
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
                cmp.write_to(&dir, &names, "customers", "customer_id")?;
                stages.push(serde_json::json!({"stage": "compare", "output": dir, "routed": cmp.routing().len()}));
            }
            Err(e) => skipped.push(format!("compare: {e}")),
        }
    } else {
        skipped.push(format!(
            "compare: the customers file has no {group} and {outcome} columns"
        ));
    }
    // the other analyses run in this process as the user would run them (same subcommand, same
    // options), each into its own directory; their JSON summaries and files feed the report
    let has_events = inputs.open_optional(TableKind::Events, &map)?.is_some();
    let facts = Facts {
        ref_day: mart_ref_day,
        has_events,
        has_customers: customers.is_some(),
    };
    let inp = input_flags(&input);
    let plan = build_plan(&a.out, &facts, seed, &ref_date, &cfg, &wanted);
    use segmint::progress::Progress;
    for p in &plan {
        if let Some(why) = p.missing {
            skipped.push(format!("{}: {why}", p.name));
            continue;
        }
        bars.begin(&format!("running {}", p.name), 0);
        std::fs::create_dir_all(a.out.join(p.dir))?;
        let args = p.args();
        match run_stage(&args, &inp) {
            Ok(v) => stages.push(serde_json::json!({"stage": p.name, "args": args, "summary": v})),
            Err(e) => skipped.push(format!("{}: {}", p.name, crate::one_line(&e))),
        }
        bars.finish();
    }
    // the report lists the stages that did not run, with the reason: written before it is built
    let partial =
        serde_json::json!({"segmint": segmint::VERSION, "seed": seed, "skipped": skipped});
    segmint::output::write_text(
        &a.out.join("summary.json"),
        &(serde_json::to_string_pretty(&partial)? + "\n"),
    )?;
    let r = crate::cmd::report::render(&a.out, &a.out)?;
    skipped.extend(r.notes);
    for s in &skipped {
        note(g, format!("skipped {s}"));
    }
    let summary = serde_json::json!({
        "segmint": segmint::VERSION,
        "seed": seed,
        "validate": checked,
        "mart": mart_summary,
        "stages": stages,
        "skipped": skipped,
        "report": a.out.join("report.html"),
        "sections": r.sections,
        "figures": r.pngs,
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
