//! The whole analysis in one process: a plan of stages run on tables opened once and a mart
//! built once (the RFM, cluster and hidden-segment stages share it, and with it one reference
//! date), each stage writing its typed result into its own directory of the output
//! (the layout the report reads, [`SECTION_FILES`]). A stage that
//! fails is recorded with its typed error and the others go on.
//!
//! ```no_run
//! use segmint::data::{ColumnMap, Inputs};
//! use segmint::mart::{build_mart, MartParams};
//! use segmint::pipeline::{run, Data, Stage, StageParams};
//! use segmint::predict::{PredictParams, Task};
//! use segmint::progress::NoProgress;
//!
//! let data = Data::open(&Inputs::from_dir("data".as_ref()), &ColumnMap::new())?;
//! let mart = build_mart(&data.tx, &MartParams::default(), &NoProgress)?;
//! let plan = vec![
//!     Stage::new("clv", StageParams::Clv(Default::default())),
//!     Stage::new("churn", StageParams::Predict(PredictParams { task: Task::Churn, ..Default::default() })),
//! ];
//! let done = run(&data, mart, &plan, "out".as_ref(), &NoProgress)?;
//! for f in &done.failed {
//!     eprintln!("{} did not run: {}", f.stage, f.error);
//! }
//! # Ok::<(), segmint::Error>(())
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cluster::analysis::ClusterAnalysisParams;
use crate::clv::analysis::ClvParams;
use crate::data::customers::LeftOutColumn;
use crate::data::reader::TableReader;
use crate::data::{ColumnMap, Inputs, TableKind};
use crate::error::{Error, Result};
use crate::hidden::analysis::HiddenAnalysisParams;
use crate::mart::Mart;
use crate::predict::PredictParams;
use crate::progress::Progress;
use crate::segment::analysis::{analyze_mart, RfmAnalysisParams};
use crate::segment::rules::RuleSet;
use crate::segment::RfmParams;
use crate::uplift::CompareParams;

/// The file whose presence in a results directory brings in each section (besides `data`).
pub const SECTION_FILES: [(&str, &str); 9] = [
    ("segments", "profile/profile.json"),
    ("clusters", "clusters/clusters.parquet"),
    ("clv", "clv/clv.json"),
    ("cohorts", "cohorts/cohorts.json"),
    ("churn", "churn/metrics.json"),
    ("value", "value/metrics.json"),
    ("conversion", "conversion/metrics.json"),
    ("compare", "compare/rules.json"),
    ("hidden", "hidden/report.json"),
];

/// The stages of `segmint run` that can be selected, in the order they run, as named in its
/// summary.
pub const RUN_STAGES: [&str; 10] = [
    "rfm",
    "compare",
    "cluster",
    "clv",
    "clv_holdout",
    "cohorts",
    "churn",
    "value",
    "conversion",
    "hidden",
];

/// The input tables, opened once for every stage.
pub struct Data {
    /// Transactions (required).
    pub tx: TableReader,
    /// Customers, if any.
    pub customers: Option<TableReader>,
    /// Clickstream events, if any.
    pub events: Option<TableReader>,
}

impl Data {
    /// Opens the tables of `inputs` (the customers and events files are optional).
    pub fn open(inputs: &Inputs, map: &ColumnMap) -> Result<Data> {
        Ok(Data {
            tx: inputs.open(TableKind::Transactions, map)?,
            customers: inputs.open_optional(TableKind::Customers, map)?,
            events: inputs.open_optional(TableKind::Events, map)?,
        })
    }
}

/// What one stage does, with its parameters.
#[derive(Debug, Clone)]
pub enum StageParams {
    /// RFM segments with a rule set, and their profile (`rfm.parquet`, `profile/`).
    Rfm {
        /// The rule set (adapted to the data: [`crate::segment::rules_for_data`]).
        rules: RuleSet,
        /// Bins and ties.
        params: RfmParams,
    },
    /// Where one group beats another (`compare/`).
    Compare {
        /// Group and outcome columns of the customers file.
        group: String,
        /// See `group`.
        outcome: String,
        /// The search and its tests.
        params: CompareParams,
    },
    /// Clusters (`clusters/clusters.parquet`, `clusters/clusters.json`).
    Cluster(ClusterAnalysisParams),
    /// CLV (`clv/clv.parquet` and `clv/clv.json`; a stage named `clv_holdout` writes
    /// `clv/holdout.*`).
    Clv(ClvParams),
    /// Acquisition cohorts (`cohorts/`).
    Cohorts(crate::cohorts::CohortParams),
    /// A prediction (`<stage name>/`).
    Predict(PredictParams),
    /// Hidden segments (`hidden/`).
    Hidden(HiddenAnalysisParams),
}

/// What a default plan needs to know about the data.
#[derive(Debug, Clone, Copy)]
pub struct PlanFacts {
    /// The mart's reference day (the day after the last transaction unless given).
    pub ref_day: i64,
    /// Whether there is a customers table.
    pub has_customers: bool,
    /// Whether there is an events table.
    pub has_events: bool,
}

/// The choices of `segmint run` that shape its plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Seed of every randomised stage (42).
    pub seed: u64,
    /// The reference date given by the user (days since 1970-01-01), if any.
    pub ref_day: Option<i64>,
    /// Rule set of the RFM stage.
    pub rules: RuleSet,
    /// Group column of the comparison (`seller_group`).
    pub group: String,
    /// Outcome column of the comparison (`sale_success`).
    pub outcome: String,
}

/// The stages `segmint run` runs by default, as its subcommands would with the run's
/// choices: RFM, compare, clusters (k chosen in 3..8), CLV and its holdout check (the last 182
/// days held out), churn and value (no cross-validation; with the clickstream features when
/// there are events), conversion (100 rounds at learning rate 0.1) and hidden segments. Stages
/// whose table is missing are returned as `(name, reason)` instead.
pub fn default_plan(facts: &PlanFacts, o: &PlanOptions) -> (Vec<Stage>, Vec<(String, String)>) {
    use crate::cluster::fit::ClusterCount;
    use crate::predict::Task;
    let mut plan = vec![
        Stage::new(
            "rfm",
            StageParams::Rfm {
                rules: o.rules.clone(),
                params: RfmParams::default(),
            },
        ),
        Stage::new(
            "compare",
            StageParams::Compare {
                group: o.group.clone(),
                outcome: o.outcome.clone(),
                params: CompareParams {
                    seed: o.seed,
                    ..Default::default()
                },
            },
        ),
    ];
    let mut cluster = ClusterAnalysisParams {
        ref_day: o.ref_day,
        ..Default::default()
    };
    cluster.fit.k = ClusterCount::Auto { min: 3, max: 8 };
    cluster.fit.kmeans.seed = o.seed;
    cluster.fit.kmeans.n_clusters = 0; // taken from `k`
    plan.push(Stage::new("cluster", StageParams::Cluster(cluster)));
    let mut clv = ClvParams::default();
    // a given reference date: observed up to the day before it
    clv.summary.calibration_end = o.ref_day.map(|d| d - 1);
    plan.push(Stage::new("clv", StageParams::Clv(clv)));
    let mut holdout = ClvParams::default();
    holdout.summary.calibration_end = Some(facts.ref_day - 1 - 182);
    holdout.summary.holdout_end = Some(facts.ref_day - 1);
    plan.push(Stage::new("clv_holdout", StageParams::Clv(holdout)));
    plan.push(Stage::new(
        "cohorts",
        StageParams::Cohorts(Default::default()),
    ));
    let predict = |task| {
        let mut p = PredictParams {
            task,
            folds: 0,
            seed: o.seed,
            clickstream: facts.has_events && task != Task::Conversion,
            ..Default::default()
        };
        p.gbdt.seed = o.seed;
        p
    };
    plan.push(Stage::new(
        "churn",
        StageParams::Predict(predict(Task::Churn)),
    ));
    plan.push(Stage::new(
        "value",
        StageParams::Predict(predict(Task::Value)),
    ));
    let mut conversion = predict(Task::Conversion);
    // sessions outnumber customers 12 to 1: fewer, larger boosting steps keep the pipeline
    // near a minute at 100,000 customers
    conversion.gbdt.n_estimators = 100;
    conversion.gbdt.learning_rate = 0.1;
    plan.push(Stage::new("conversion", StageParams::Predict(conversion)));
    let mut hidden = HiddenAnalysisParams::default();
    hidden.search.seed = o.seed;
    plan.push(Stage::new("hidden", StageParams::Hidden(hidden)));
    let missing = |name: &str| match name {
        "compare" | "churn" | "value" | "hidden" if !facts.has_customers => {
            Some("no customers file")
        }
        "conversion" if !facts.has_events => Some("no events file"),
        _ => None,
    };
    let skipped = plan
        .iter()
        .filter_map(|s| missing(&s.name).map(|why| (s.name.clone(), why.to_string())))
        .collect();
    plan.retain(|s| missing(&s.name).is_none());
    (plan, skipped)
}

/// One stage of a plan.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Its name in the summary (`rfm`, `clv_holdout`, `churn`, ...).
    pub name: String,
    /// What it does.
    pub params: StageParams,
}

impl Stage {
    /// A stage.
    pub fn new(name: &str, params: StageParams) -> Stage {
        Stage {
            name: name.into(),
            params,
        }
    }
}

/// A stage that ran: where its outputs are and its result's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// The stage's name.
    pub stage: String,
    /// Its output (file or directory).
    pub output: PathBuf,
    /// Its typed result as JSON (the file the report reads).
    pub summary: serde_json::Value,
    /// What a user should know about its input: columns left out, values filled in, rules
    /// adapted, customers left out (each with a count).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// `summary.json` of a run: what ran, what did not and why, and where everything is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSummary {
    /// [`RunSummary::FORMAT`].
    pub format: String,
    /// The version of segmint that ran.
    pub segmint: String,
    /// The seed of every randomised stage.
    pub seed: u64,
    /// The validation of the inputs.
    pub validate: Option<crate::data::validate::Report>,
    /// The mart.
    pub mart: Option<crate::mart::MartSummary>,
    /// The stages that ran, in order (the mart first).
    pub stages: Vec<StageRecord>,
    /// The stages that were skipped or failed, as `stage: reason`, and report sections or
    /// figures that could not be made.
    pub skipped: Vec<String>,
    /// The HTML report.
    pub report: Option<PathBuf>,
    /// The report's sections, in order.
    pub sections: Vec<String>,
    /// PNG figures written.
    pub figures: usize,
}

impl RunSummary {
    /// The format written in `format`.
    pub const FORMAT: &'static str = "run-summary/1";

    /// An empty summary of this version with `seed`.
    pub fn new(seed: u64) -> RunSummary {
        RunSummary {
            format: RunSummary::FORMAT.into(),
            segmint: crate::VERSION.into(),
            seed,
            ..Default::default()
        }
    }

    /// Writes the summary as JSON (temporary file, then rename).
    pub fn write_to(&self, path: &Path) -> Result<()> {
        crate::output::write_json(path, self)
    }

    /// Reads what [`RunSummary::write_to`] wrote.
    pub fn read_from(path: &Path) -> Result<RunSummary> {
        crate::output::read_json(path)
    }

    /// The stages that did not run, as (stage, reason).
    pub fn not_run(&self) -> Vec<(String, String)> {
        self.skipped
            .iter()
            .filter_map(|s| s.split_once(": "))
            .filter(|(stage, _)| RUN_STAGES.contains(stage))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }
}

/// What one stage returns: its output, its summary and its notes.
struct Ran {
    output: PathBuf,
    summary: serde_json::Value,
    notes: Vec<String>,
}

/// A stage that did not run, with its typed error.
#[derive(Debug)]
pub struct StageFailure {
    /// The stage's name.
    pub stage: String,
    /// Why.
    pub error: Error,
}

/// What [`run`] did.
#[derive(Debug, Default)]
pub struct PipelineOutcome {
    /// The stages that ran, in order.
    pub ran: Vec<StageRecord>,
    /// The stages that failed or could not run, with the reason.
    pub failed: Vec<StageFailure>,
}

/// Runs the plan on `data` and `mart` (built from it), each stage into its place in `out`.
/// Files of an earlier run that would bring a section into the report are removed first.
pub fn run(
    data: &Data,
    mart: Mart,
    plan: &[Stage],
    out: &Path,
    progress: &dyn Progress,
) -> Result<PipelineOutcome> {
    for (_, key) in SECTION_FILES {
        let p = out.join(key);
        if p.exists() {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    let mut done = PipelineOutcome::default();
    for stage in plan {
        progress.begin(&format!("running {}", stage.name), 0);
        let r = run_stage(&stage.name, &stage.params, data, &mart, out, progress);
        progress.finish();
        match r {
            Ok(r) => done.ran.push(StageRecord {
                stage: stage.name.clone(),
                output: r.output,
                summary: r.summary,
                notes: r.notes,
            }),
            Err(error) => done.failed.push(StageFailure {
                stage: stage.name.clone(),
                error,
            }),
        }
    }
    Ok(done)
}

fn json(v: &impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Data(e.to_string()))
}

fn need<'a>(t: &'a Option<TableReader>, what: &str) -> Result<&'a TableReader> {
    t.as_ref()
        .ok_or_else(|| Error::Config(format!("no {what} file")))
}

fn notes_of(left_out: &[LeftOutColumn]) -> Vec<String> {
    left_out.iter().map(LeftOutColumn::note).collect()
}

/// One stage on the shared tables and mart.
fn run_stage(
    name: &str,
    params: &StageParams,
    data: &Data,
    mart: &Mart,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Ran> {
    match params {
        StageParams::Rfm { rules, params } => rfm_stage(data, mart, rules, params, out, progress),
        StageParams::Compare {
            group,
            outcome,
            params,
        } => {
            let customers = need(&data.customers, "customers")?;
            let missing: Vec<&str> = [group, outcome]
                .into_iter()
                .filter(|c| !customers.has_column(c))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(Error::Config(format!(
                    "{}: no column {}",
                    customers.path.display(),
                    missing.join(", ")
                )));
            }
            let d =
                crate::uplift::CompareData::load(customers, group, outcome, None, &[], progress)?;
            let cmp = crate::uplift::compare(&d, params, progress)?;
            let names = customers.export_names();
            let dir = out.join("compare");
            cmp.write_to(&dir, &names, "customers", "customer_id")?;
            let notes = d.left_out_notes();
            Ok(Ran {
                output: dir,
                summary: serde_json::json!({"routed": cmp.routing().len()}),
                notes,
            })
        }
        StageParams::Cluster(p) => {
            let dir = out.join("clusters");
            let path = dir.join("clusters.parquet");
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let customers = data.customers.as_ref();
            let mut a = if p.ref_day.is_none_or(|d| d == mart.ref_day) {
                crate::cluster::analysis::analyze_mart(mart, customers, p, None, progress)?
            } else {
                crate::cluster::analysis::analyze(&data.tx, customers, p, None, progress)?
            };
            a.summary.output = Some(path.display().to_string());
            a.write_labels(&path)?;
            a.summary.write_to(&dir.join("clusters.json"))?;
            Ok(Ran {
                output: path,
                summary: json(&a.summary)?,
                notes: a.notes(),
            })
        }
        StageParams::Clv(p) => {
            let dir = out.join("clv");
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let stem = if name == "clv_holdout" {
                "holdout"
            } else {
                "clv"
            };
            let path = dir.join(format!("{stem}.parquet"));
            let t0 = std::time::Instant::now();
            let a = crate::clv::analysis::analyze(&data.tx, p, progress)?;
            a.write_table(&path, p)?;
            let mut s = a.to_summary(p, None, t0.elapsed().as_secs_f64());
            s.output = Some(path.display().to_string());
            s.write_to(&dir.join(format!("{stem}.json")))?;
            Ok(Ran {
                output: path,
                summary: json(&s)?,
                notes: Vec::new(),
            })
        }
        StageParams::Cohorts(p) => {
            let dir = out.join("cohorts");
            let a = crate::cohorts::analyze(&data.tx, data.customers.as_ref(), p, progress)?;
            a.write(&dir, false)?;
            Ok(Ran {
                output: dir,
                summary: serde_json::json!({"customers": a.customers, "cohorts": a.cohorts,
                    "trend": a.trend.as_ref().map(|t| t.verdict.clone())}),
                notes: Vec::new(),
            })
        }
        StageParams::Predict(p) => {
            let dir = out.join(name);
            let d = crate::predict::PredictData::from_tables(
                Some(&data.tx),
                data.customers.as_ref(),
                data.events.as_ref(),
                p,
                progress,
            )?;
            let o = crate::predict::fit(&d, p, None, progress)?;
            o.write_to(&dir, &d, p)?;
            Ok(Ran {
                output: dir,
                summary: json(&o.result.metrics)?,
                notes: notes_of(&d.left_out),
            })
        }
        StageParams::Hidden(p) => {
            let dir = out.join("hidden");
            let exclude: Vec<&str> = p.truth.as_deref().into_iter().collect();
            let table = crate::hidden::customer_table_from_mart(
                mart,
                data.customers.as_ref(),
                &exclude,
                progress,
            )?;
            let a = crate::hidden::analysis::analyze(&table, p)?;
            a.write_to(&dir)?;
            Ok(Ran {
                output: dir,
                summary: json(&a.report)?,
                notes: notes_of(&table.left_out),
            })
        }
    }
}

/// RFM segments of the mart with their profile: `rfm.parquet`, `rfm.json` and `profile/`.
fn rfm_stage(
    data: &Data,
    mart: &Mart,
    rules: &RuleSet,
    params: &RfmParams,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Ran> {
    let p = RfmAnalysisParams {
        scoring: params.clone(),
        ref_day: None,
        profile: true,
    };
    let mut a = analyze_mart(mart.clone(), data.customers.as_ref(), rules, &p, progress)?;
    let path = out.join("rfm.parquet");
    a.summary.output = Some(path.display().to_string());
    a.write_table(&path)?;
    a.write_profile(&out.join("profile"))?;
    a.summary.write_to(&out.join("rfm.json"))?;
    Ok(Ran {
        output: path,
        summary: json(&a.summary)?,
        notes: a.summary.warning_lines(),
    })
}

/// Everything `segmint run` does, in process, on tables opened before: validates them
/// (`validate.json`), builds the mart once (`mart.parquet`), runs the [`default_plan`] stages
/// that `wanted` selects into `out`, and writes `summary.json` and the report (`report.html`,
/// `report.md`, `figures/*.svg`). A stage that fails is listed in `skipped` with its error;
/// the others go on. (The command line adds Spark as the mart's engine, per-stage options from
/// a config file and PNG figures.)
pub fn run_all(
    data: &Data,
    options: &PlanOptions,
    wanted: &dyn Fn(&str) -> bool,
    out: &Path,
    progress: &dyn Progress,
) -> Result<RunSummary> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let checked = crate::data::validate::validate_tables(
        data.customers.as_ref(),
        &data.tx,
        data.events.as_ref(),
        &Default::default(),
        progress,
    )?;
    checked.write_to(&out.join("validate.json"))?;
    let t0 = std::time::Instant::now();
    let mart = crate::mart::build_mart(
        &data.tx,
        &crate::mart::MartParams {
            ref_day: options.ref_day,
            ..Default::default()
        },
        progress,
    )?;
    let mart_path = out.join("mart.parquet");
    let mut mart_summary = mart.summary(t0.elapsed().as_secs_f64());
    mart_summary.output = Some(mart_path.display().to_string());
    crate::output::write_parquet(
        &mart.to_record_batch()?,
        &mart_path,
        &mart.metadata(&data.tx.path),
    )?;
    let facts = PlanFacts {
        ref_day: mart.ref_day,
        has_customers: data.customers.is_some(),
        has_events: data.events.is_some(),
    };
    let (mut plan, missing) = default_plan(&facts, options);
    plan.retain(|s| wanted(&s.name));
    let mut summary = RunSummary::new(options.seed);
    summary.skipped = missing
        .into_iter()
        .filter(|(name, _)| wanted(name))
        .map(|(name, why)| format!("{name}: {why}"))
        .collect();
    let done = run(data, mart, &plan, out, progress)?;
    summary.stages.push(StageRecord {
        stage: "mart".into(),
        output: mart_path,
        summary: json(&mart_summary)?,
        notes: Vec::new(),
    });
    summary.stages.extend(done.ran);
    for f in done.failed {
        summary.skipped.push(format!(
            "{}: {}",
            f.stage,
            f.error.to_string().replace('\n', " ")
        ));
    }
    // the report lists the stages that did not run: written before it is built
    summary.write_to(&out.join("summary.json"))?;
    let (report, notes) = crate::report::results::build(out)?;
    report.write(out)?;
    summary.skipped.extend(notes);
    summary.validate = Some(checked);
    summary.mart = Some(mart_summary);
    summary.report = Some(out.join("report.html"));
    summary.sections = report.sections.iter().map(|s| s.id.clone()).collect();
    summary.write_to(&out.join("summary.json"))?;
    Ok(summary)
}
