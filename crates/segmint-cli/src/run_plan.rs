//! The plan of `segmint run`: the `[run]` table of a config file, and each analysis stage's
//! options as they would be given on its subcommand's command line, parsed by that subcommand
//! and mapped to the library's stage parameters.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use segmint::data::timestamp::format_date;

use crate::ui::InputArgs;

use segmint::report::results::RUN_STAGES as STAGES;

/// The stages run as subcommands, which take options from `[run.<stage>]`: every stage after
/// rfm and compare.
pub const SUBCOMMAND_STAGES: &[&str] = STAGES.split_at(2).1;

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
pub type Opt = (String, Option<String>);

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

pub fn check_stages(list: &[String], what: &str) -> Result<()> {
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
                SUBCOMMAND_STAGES
                    .iter()
                    .map(|s| format!("[run.{s}]"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    Ok(c)
}

/// The input options as command-line flags, to run other subcommands on the same data.
pub fn input_flags(i: &InputArgs) -> Vec<String> {
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
pub struct Planned {
    pub name: &'static str,
    command: Vec<String>,
    options: Vec<Opt>,
    pub missing: Option<&'static str>,
}

impl Planned {
    pub fn args(&self) -> Vec<String> {
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
pub struct Facts {
    pub ref_day: i64,
    pub has_events: bool,
    pub has_customers: bool,
}

/// The subcommand stages to run, with their options.
pub fn build_plan(
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
    let stage = |name: &'static str, command: &[&str], options: Vec<Opt>| Planned {
        name,
        command: words(command),
        options,
        missing: None,
    };
    let predict = |task: &'static str, extra: Vec<Opt>, missing: Option<&'static str>| Planned {
        missing,
        ..stage(
            task,
            &["predict", task],
            [vec![opt("folds", "0"), opt("out", &o(task))], extra].concat(),
        )
    };
    let mut plan = vec![
        stage(
            "cluster",
            &["cluster"],
            vec![
                opt("k", "auto"),
                opt("out", &o("clusters/clusters.parquet")),
                opt("summary", &o("clusters/clusters.json")),
            ],
        ),
        stage(
            "clv",
            &["clv"],
            vec![
                opt("out", &o("clv/clv.parquet")),
                opt("metrics", &o("clv/clv.json")),
            ],
        ),
        stage(
            "clv_holdout",
            &["clv"],
            vec![
                opt("calibration-end", &calibration_end),
                opt("holdout-end", &last_day),
                opt("out", &o("clv/holdout.parquet")),
                opt("metrics", &o("clv/holdout.json")),
            ],
        ),
        stage("cohorts", &["cohorts"], vec![opt("out", &o("cohorts"))]),
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
                &["segments", "discover"],
                vec![opt("out", &o("hidden"))],
            )
        },
    ];
    for p in plan.iter_mut() {
        if has_events && (p.name == "churn" || p.name == "value") {
            p.options.push(("clickstream".into(), None));
        }
        if !["clv", "cohorts"].contains(&p.command[0].as_str()) {
            // every randomised analysis takes the run's seed (clv and cohorts have no
            // randomness)
            p.options.push(opt("seed", &seed.to_string()));
        }
        // a given reference date: the clusters' mart uses it, and CLV observes up to the day
        // before it (the holdout check has its own window); the predictions set their cutoff
        // from the data's end and the horizon
        if let Some(r) = &ref_date {
            if p.name == "cluster" {
                p.options.push(opt("ref-date", r));
            }
            if p.name == "clv" {
                p.options.push(opt("calibration-end", &last_day));
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

/// Parses each stage's command line as `segmint` would, so that a bad option from the config
/// stops the run before any work.
pub fn check_plan(
    plan: &[Planned],
    inp: &[String],
    config: Option<&Path>,
    cfg: &RunConfig,
) -> Result<()> {
    for p in plan {
        let argv = [vec!["segmint".to_string()], p.args(), inp.to_vec()].concat();
        if let Err(e) = <crate::Cli as clap::Parser>::try_parse_from(&argv) {
            let msg = e.to_string();
            let first = msg
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            match (config, cfg.options.contains_key(p.name)) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's default plan (what `segmint.run` in Python runs) is the plan `segmint run`
    /// makes from its subcommands' options, stage for stage and parameter for parameter.
    #[test]
    fn the_library_default_plan_is_the_cli_plan() {
        for (has_customers, has_events, seed, ref_date) in [
            (true, true, 42, None),
            (true, false, 7, Some("2025-06-30".to_string())),
            (false, false, 42, None),
        ] {
            // a given reference date is the mart's
            let ref_day = ref_date
                .as_deref()
                .map(|d| segmint::data::timestamp::parse_date(d).unwrap());
            let facts = Facts {
                ref_day: ref_day.unwrap_or(20_000),
                has_events,
                has_customers,
            };
            let cfg = RunConfig::default();
            let inputs = vec!["--data".to_string(), "data".to_string()];
            let cli: Vec<(String, String)> =
                build_plan(Path::new("out"), &facts, seed, &ref_date, &cfg, &|_| true)
                    .into_iter()
                    .filter(|p| p.missing.is_none())
                    .map(|p| {
                        let params = crate::cmd::stage_params(&p.args(), &inputs).unwrap();
                        (p.name.to_string(), format!("{params:?}"))
                    })
                    .collect();
            let (plan, skipped) = segmint::pipeline::default_plan(
                &segmint::pipeline::PlanFacts {
                    ref_day: facts.ref_day,
                    has_customers,
                    has_events,
                },
                &segmint::pipeline::PlanOptions {
                    seed,
                    ref_day,
                    rules: segmint::segment::rules::RuleSet::load("default").unwrap(),
                    group: "seller_group".into(),
                    outcome: "sale_success".into(),
                },
            );
            let lib: Vec<(String, String)> = plan
                .iter()
                .filter(|s| s.name != "rfm" && s.name != "compare")
                .map(|s| (s.name.clone(), format!("{:?}", s.params)))
                .collect();
            assert_eq!(lib, cli, "customers {has_customers}, events {has_events}");
            assert_eq!(skipped.iter().any(|(n, _)| n == "conversion"), !has_events);
        }
    }
}
