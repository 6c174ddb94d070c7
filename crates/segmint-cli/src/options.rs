//! Options and helpers that several subcommands share (the reference date, the rule set and
//! scoring options, the SQL statements): kept apart from `cmd/` so that no subcommand module
//! depends on another.

use anyhow::{Context, Result};
use segmint::data::mapping::ColumnMap;
use segmint::data::timestamp::parse_date;
use segmint::segment::rules::RuleSet;
use segmint::segment::{RfmParams, Ties};
use segmint::sql::{mart_sql, rfm_sql, Dialect, SqlParams};

/// The `--ref-date` option as a day number.
pub fn parse_ref_date(s: &Option<String>) -> Result<Option<i64>> {
    s.as_deref()
        .map(|d| {
            parse_date(d).with_context(|| format!("--ref-date {d:?}: expected a date YYYY-MM-DD"))
        })
        .transpose()
}

/// Rule set and scoring options, shared by `rfm` and `migrate`.
#[derive(clap::Args)]
pub struct ScoringArgs {
    /// Rule set: default, standard, or a TOML file
    #[arg(long, default_value = "default", value_name = "NAME|FILE")]
    pub rules: String,
    /// Number of score bins (5 = quintiles, 4 = quartiles, 10 = deciles)
    #[arg(long, default_value_t = 5)]
    pub bins: u32,
    /// How equal values are ranked
    #[arg(long, value_enum, default_value_t = TiesArg::First)]
    pub ties: TiesArg,
}

impl ScoringArgs {
    pub fn params(&self) -> RfmParams {
        RfmParams {
            bins: self.bins,
            ties: self.ties.into(),
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum TiesArg {
    First,
    Average,
}

impl From<TiesArg> for Ties {
    fn from(t: TiesArg) -> Ties {
        match t {
            TiesArg::First => Ties::First,
            TiesArg::Average => Ties::Average,
        }
    }
}

pub fn load_rules(spec: &str) -> Result<RuleSet> {
    Ok(RuleSet::load(spec)?)
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// The customer mart (the columns of `segmint mart`)
    Mart,
    /// RFM scores and segments (the columns of `segmint rfm`)
    Rfm,
    /// Acquisition cohorts by --period (the long table of `segmint cohorts`)
    Cohorts,
}

/// The statement for the arguments (shared with the Spark engine).
#[allow(clippy::too_many_arguments)]
pub fn statement(
    dialect: Dialect,
    task: Task,
    scoring: Option<&ScoringArgs>,
    ref_day: Option<i64>,
    columns: ColumnMap,
    transactions: &str,
    customers: &str,
    period: segmint::cohorts::Period,
) -> Result<String> {
    let p = SqlParams {
        dialect,
        ref_day,
        columns,
        transactions: transactions.to_string(),
        customers: customers.to_string(),
    };
    Ok(match task {
        Task::Mart => mart_sql(&p)?,
        Task::Cohorts => segmint::sql::cohorts_sql(&p, period)?,
        Task::Rfm => match scoring {
            Some(sc) => rfm_sql(&p, &load_rules(&sc.rules)?, &sc.params())?,
            None => rfm_sql(
                &p,
                &load_rules("default")?,
                &segmint::segment::RfmParams::default(),
            )?,
        },
    })
}
