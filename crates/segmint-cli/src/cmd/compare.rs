//! `segmint compare`: where does one group (seller team, channel, variant) beat another?

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use segmint::data::TableKind;
use segmint::uplift::export::ColumnNames;
use segmint::uplift::policy::PolicyParams;
use segmint::uplift::{compare, CompareData, CompareParams, Method};

use crate::ui::{note, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = include_str!("../help/compare.txt"))]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Group column (customers table)
    #[arg(long, default_value = "seller_group")]
    pub group: String,
    /// Outcome column: 0/1, boolean or a number
    #[arg(long, default_value = "sale_success")]
    pub outcome: String,
    /// Feature columns, any column of the customers file by its own name (default: every
    /// other usable column except customer_id, signup_date, tier and --exclude)
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub features: Vec<String>,
    /// Columns left out of the default features, e.g. other outcomes measured after the
    /// treatment (conversion,spend when the outcome is visit)
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "COLUMNS",
        conflicts_with = "features"
    )]
    pub exclude: Vec<String>,
    /// Discovery methods
    #[arg(long, value_delimiter = ',', default_value = "tree,iv_woe,l1_logistic")]
    pub methods: Vec<String>,
    /// Most conditions per rule (also the trees' depth)
    #[arg(long, default_value_t = 3)]
    pub max_conditions: usize,
    /// Smallest rule: share of a group's training customers
    #[arg(long, default_value_t = 0.02)]
    pub min_share: f64,
    /// Smallest rule: training customers per group
    #[arg(long, default_value_t = 50)]
    pub min_customers: usize,
    /// Candidates per pair of groups tested on held-out customers
    #[arg(long, default_value_t = 20)]
    pub max_candidates: usize,
    /// Smallest training score (|z| divided by --complexity-penalty per extra degree of freedom) a candidate
    /// needs to be tested
    #[arg(long, default_value_t = 3.0)]
    pub min_train_score: f64,
    /// Factor by which a rule's training |z| must grow to pay for one more condition or a
    /// two-sided range
    #[arg(long, default_value_t = 1.15)]
    pub complexity_penalty: f64,
    /// Training customers per pair of groups the rule search looks at (a seeded sample above
    /// that; validation always uses every customer)
    #[arg(long, default_value_t = 250_000)]
    pub max_search_rows: usize,
    /// Bootstrap resamples for the stability
    #[arg(long, default_value_t = 200)]
    pub bootstrap: usize,
    /// Smallest difference worth acting on (default: 0.05 = 5 points for a 0/1 outcome, 0.1
    /// standard deviations for a numeric one)
    #[arg(long)]
    pub min_effect: Option<f64>,
    /// q-value (false discovery rate) for IMPLEMENT NOW
    #[arg(long, default_value_t = 0.05)]
    pub fdr: f64,
    /// q-value for PILOT
    #[arg(long, default_value_t = 0.20)]
    pub pilot_fdr: f64,
    /// Share of customers held out for validation
    #[arg(long, default_value_t = 0.3)]
    pub test_size: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Rules in the printed table
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Route of customers no rule matches
    #[arg(long, default_value = "default")]
    pub default_label: String,
    /// The control group of an experiment with several arms: every other group's lift over
    /// it with intervals (arms.json) and a policy tree of which arm to give whom
    /// (policy.json, recommended_arm in assignments.parquet)
    #[arg(long, value_name = "GROUP")]
    pub control: Option<String>,
    /// With --control: cost per treated customer of each arm, e.g. "Mens E-Mail=0.05,Womens
    /// E-Mail=0.05" (the policy maximises value x outcome - cost)
    #[arg(long, value_name = "ARM=COST,...", requires = "control")]
    pub cost: Option<String>,
    /// With --control: value of one unit of the outcome (a conversion's margin; 1 for an
    /// amount, which is its own value)
    #[arg(long, default_value_t = 1.0, requires = "control")]
    pub value: f64,
    /// With --control: depth of the policy tree (exact search up to 2, greedy below)
    #[arg(long, default_value_t = 2, requires = "control")]
    pub policy_depth: usize,
    /// With --control: smallest policy leaf, as a share of the training customers
    #[arg(long, default_value_t = 0.05, requires = "control")]
    pub policy_min_share: f64,
    /// With --control: route a leaf to a treatment only if the lower bound of its gain over
    /// control at this level is positive (e.g. 0.1: a one-sided 90% bound)
    #[arg(long, value_name = "LEVEL", requires = "control")]
    pub risk_level: Option<f64>,
    /// Table name in the exported SQL
    #[arg(long, default_value = "customers")]
    pub table: String,
    /// Output directory
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
}

impl Args {
    pub fn params(&self) -> Result<CompareParams> {
        let methods = self
            .methods
            .iter()
            .map(|m| {
                Method::parse(m.trim()).with_context(|| {
                    format!("--methods: unknown method {m:?} (known: tree, iv_woe, l1_logistic)")
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let p = CompareParams {
            test_size: self.test_size,
            seed: self.seed,
            max_conditions: self.max_conditions,
            min_share: self.min_share,
            min_customers: self.min_customers,
            max_candidates: self.max_candidates,
            min_train_score: self.min_train_score,
            complexity_penalty: self.complexity_penalty,
            max_search_rows: self.max_search_rows,
            bootstrap: self.bootstrap,
            min_effect: self.min_effect,
            fdr: self.fdr,
            pilot_fdr: self.pilot_fdr,
            top: self.top,
            methods,
            default_label: self.default_label.clone(),
            control: self.control.clone(),
            policy: PolicyParams {
                depth: self.policy_depth,
                min_share: self.policy_min_share,
                costs: match &self.cost {
                    Some(c) => parse_costs(c)?,
                    None => Vec::new(),
                },
                value: self.value,
                risk_level: self.risk_level,
                bootstrap: self.bootstrap,
            },
            ..Default::default()
        };
        p.check()?;
        Ok(p)
    }
}

/// `"Mens E-Mail=0.05,Womens E-Mail=0.05"` as (arm, cost) pairs.
fn parse_costs(text: &str) -> Result<Vec<(String, f64)>> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|part| {
            let (arm, cost) = part
                .rsplit_once('=')
                .with_context(|| format!("--cost: expected ARM=COST, got {part:?}"))?;
            let cost: f64 = cost.trim().parse().with_context(|| {
                format!(
                    "--cost: the cost of {:?} is not a number: {cost:?}",
                    arm.trim()
                )
            })?;
            Ok((arm.trim().to_string(), cost))
        })
        .collect()
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let params = a.params()?;
    let t0 = Instant::now();
    let bars = Bars::new(g);
    let (inputs, map) = a.input.resolve()?;
    let customers = inputs.open(TableKind::Customers, &map)?;
    let features = (!a.features.is_empty()).then_some(a.features.as_slice());
    let data = CompareData::load(
        &customers, &a.group, &a.outcome, features, &a.exclude, &bars,
    )?;
    for n in data.left_out_notes() {
        note(g, n);
    }
    crate::ui::reading_notes(g, &[Some(&customers)]);
    let cmp = compare(&data, &params, &bars)?;
    let names: ColumnNames = customers.export_names();
    let id_col = names
        .get("customer_id")
        .cloned()
        .unwrap_or_else(|| "customer_id".into());
    cmp.write_to(&a.out, &names, &a.table, &id_col)?;
    if g.json {
        let mut v = serde_json::to_value(&cmp)?;
        v["seconds"] = serde_json::json!(t0.elapsed().as_secs_f64());
        println!("{v}");
    } else {
        print!("{}", cmp.markdown(params.top));
        note(
            g,
            format!(
                "{} customers, {} candidate rules tested, {} routed; {:.1} s -> {}",
                cmp.customers,
                cmp.candidates_tested,
                cmp.routing().len(),
                t0.elapsed().as_secs_f64(),
                a.out.display()
            ),
        );
    }
    Ok(0)
}
