//! The RFM analysis in one call: the mart (only the columns the rules need) -> scores and
//! segments -> (optionally) the segments' profile, with a typed summary (`rfm.json`).
//!
//! ```no_run
//! use segmint::data::{ColumnMap, Inputs, TableKind};
//! use segmint::progress::NoProgress;
//! use segmint::segment::analysis::{analyze, RfmAnalysisParams};
//! use segmint::segment::rules::RuleSet;
//!
//! let inputs = Inputs::from_dir("data".as_ref());
//! let tx = inputs.open(TableKind::Transactions, &ColumnMap::new())?;
//! let customers = inputs.open_optional(TableKind::Customers, &ColumnMap::new())?;
//! let rules = RuleSet::load("standard")?;
//! let p = RfmAnalysisParams { profile: true, ..Default::default() };
//! let a = analyze(&tx, customers.as_ref(), &rules, &p, &NoProgress)?;
//! print!("{}", a.summary.markdown());
//! a.write_table("rfm.parquet".as_ref())?;
//! # Ok::<(), segmint::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::profile::{self, Profile};
use super::rules::RuleSet;
use super::{mart_columns_for, rfm, rules_for_data, Rfm, RfmParams, RuleWarning, Ties};
use crate::data::reader::TableReader;
use crate::data::timestamp::format_date;
use crate::error::Result;
use crate::mart::{build_mart, Mart, MartParams};
use crate::output;
use crate::progress::Progress;

/// Settings of the RFM analysis (the rule set is an input of its own, see [`analyze`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RfmAnalysisParams {
    /// Bins and ties of the scores.
    pub scoring: RfmParams,
    /// Reference day for recency (days since 1970-01-01); `None`: the day after the last
    /// transaction.
    pub ref_day: Option<i64>,
    /// Also profile the segments ([`RfmAnalysis::profile`]).
    pub profile: bool,
}

impl RfmAnalysisParams {
    /// Checks the parameters (see [`RfmParams::check`]).
    pub fn check(&self) -> Result<()> {
        self.scoring.check()
    }
}

/// What [`analyze`] found: the scores and segments, their profile, the summary.
#[derive(Debug, Clone)]
pub struct RfmAnalysis {
    /// Scores and segments per customer (mart order).
    pub rfm: Rfm,
    /// The segments' profile (with [`RfmAnalysisParams::profile`]).
    pub profile: Option<Profile>,
    /// The typed summary (`rfm.json`, `segmint rfm --json`).
    pub summary: RfmSummary,
    /// The rule set's name and the other facts written into the output's metadata.
    pub metadata: Vec<(String, String)>,
}

/// The summary of an RFM analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfmSummary {
    /// [`RfmSummary::FORMAT`].
    pub format: String,
    /// The version of segmint that wrote it.
    pub segmint_version: String,
    /// `rfm`.
    pub task: String,
    /// Where it was computed (`segmint`, or `spark`).
    pub engine: String,
    /// Customers scored.
    pub customers: usize,
    /// Transaction rows read.
    pub rows: u64,
    /// The reference date of recency (YYYY-MM-DD).
    pub ref_date: String,
    /// The rule set's name.
    pub rules: String,
    /// Score bins.
    pub bins: u32,
    /// How equal values were ranked.
    pub ties: Ties,
    /// Customers per segment (customers no rule matched are counted in `warnings`).
    pub segments: BTreeMap<String, u64>,
    /// Findings about the rule set on this data: the set adapted to the columns the data has,
    /// unmatched customers, rules that match nobody.
    pub warnings: Vec<RuleWarning>,
    /// Wall time.
    pub seconds: f64,
    /// Threads used.
    pub threads: usize,
    /// Where the scores were written, when they were.
    pub output: Option<String>,
}

impl RfmSummary {
    /// The format written in `format`.
    pub const FORMAT: &'static str = "rfm-summary/1";

    /// Writes the summary as JSON (temporary file, then rename).
    pub fn write_to(&self, path: &Path) -> Result<()> {
        output::write_json(path, self)
    }

    /// Reads what [`RfmSummary::write_to`] wrote.
    pub fn read_from(path: &Path) -> Result<RfmSummary> {
        output::read_json(path)
    }

    /// Customers and share per segment as a Markdown table.
    pub fn markdown(&self) -> String {
        let n = self.customers.max(1) as f64;
        let mut s = String::from("| segment | customers | share |\n| --- | ---: | ---: |\n");
        for (k, v) in &self.segments {
            s.push_str(&format!("| {k} | {v} | {:.1}% |\n", 100.0 * *v as f64 / n));
        }
        s
    }

    /// The warnings as lines (`segment "X": message`).
    pub fn warning_lines(&self) -> Vec<String> {
        self.warnings.iter().map(RuleWarning::line).collect()
    }
}

impl RuleWarning {
    /// The warning on one line, with its segment.
    pub fn line(&self) -> String {
        match &self.segment {
            Some(s) => format!("segment {s:?}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// Scores and segments the customers of `tx` with `rules` (adapted to the columns `customers`
/// has: [`rules_for_data`]), from a mart with only the columns the rules need.
pub fn analyze(
    tx: &TableReader,
    customers: Option<&TableReader>,
    rules: &RuleSet,
    p: &RfmAnalysisParams,
    progress: &dyn Progress,
) -> Result<RfmAnalysis> {
    p.check()?;
    let t0 = Instant::now();
    let mart_params = MartParams {
        ref_day: p.ref_day,
        columns: mart_columns_for(rules)?,
        before_us: None,
    };
    let mart = build_mart(tx, &mart_params, progress)?;
    finish(mart, customers, rules, p, t0, progress)
}

/// [`analyze`] on a mart already built (its reference date is used, not `p.ref_day`).
pub fn analyze_mart(
    mart: Mart,
    customers: Option<&TableReader>,
    rules: &RuleSet,
    p: &RfmAnalysisParams,
    progress: &dyn Progress,
) -> Result<RfmAnalysis> {
    p.check()?;
    finish(mart, customers, rules, p, Instant::now(), progress)
}

fn finish(
    mart: Mart,
    customers: Option<&TableReader>,
    rules: &RuleSet,
    p: &RfmAnalysisParams,
    t0: Instant,
    progress: &dyn Progress,
) -> Result<RfmAnalysis> {
    let result = rfm(mart, customers, rules, &p.scoring, progress)?;
    let profile = if p.profile {
        let attrs = customers
            .map(|c| profile::load_attributes(c, &result.mart, progress))
            .transpose()?;
        let actions = rules_for_data(rules, customers).0.actions();
        Some(profile::profile(
            &result.segment_names,
            &result.segment,
            &result.mart,
            attrs.as_ref(),
            &actions,
        ))
    } else {
        None
    };
    let seconds = t0.elapsed().as_secs_f64();
    let summary = RfmSummary {
        format: RfmSummary::FORMAT.into(),
        segmint_version: crate::VERSION.into(),
        task: "rfm".into(),
        engine: "segmint".into(),
        customers: result.len(),
        rows: result.mart.rows_read,
        ref_date: format_date(result.mart.ref_day),
        rules: rules.name.clone(),
        bins: p.scoring.bins,
        ties: p.scoring.ties,
        segments: result.counts().into_iter().collect(),
        warnings: result.warnings.clone(),
        seconds: (seconds * 10_000.0).round() / 10_000.0,
        threads: rayon::current_num_threads(),
        output: None,
    };
    let metadata = vec![
        ("segmint.task".to_string(), "rfm".to_string()),
        (
            "segmint.ref_date".to_string(),
            format_date(result.mart.ref_day),
        ),
        ("segmint.rules".to_string(), rules.name.clone()),
        (
            "segmint.params".to_string(),
            serde_json::to_string(&p.scoring).unwrap_or_default(),
        ),
    ];
    Ok(RfmAnalysis {
        rfm: result,
        profile,
        summary,
        metadata,
    })
}

impl RfmAnalysis {
    /// Writes the scores and segments (Parquet, or CSV for a `.csv` path) with the metadata.
    pub fn write_table(&self, path: &Path) -> Result<()> {
        output::write_table(&self.rfm.to_record_batch()?, path, &self.metadata)
    }

    /// Writes the profile into `dir` (`profile.json`, `profile.md`, two Parquet tables);
    /// nothing without one.
    pub fn write_profile(&self, dir: &Path) -> Result<()> {
        match &self.profile {
            Some(p) => p.write(dir, &self.metadata),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reads_back_equal_and_params_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let tx_path = dir.path().join("transactions.csv");
        std::fs::write(
            &tx_path,
            "customer_id,order_id,timestamp,amount\na,1,2025-01-01,10\nb,2,2025-01-02,20\nb,3,2025-01-05,5\nc,4,2025-01-03,100\n",
        )
        .unwrap();
        let tx = TableReader::open(
            crate::data::TableKind::Transactions,
            &tx_path,
            &Default::default(),
        )
        .unwrap();
        let rules = RuleSet::load("standard").unwrap();
        let p = RfmAnalysisParams::default();
        let a = analyze(&tx, None, &rules, &p, &crate::progress::NoProgress).unwrap();
        assert_eq!(a.summary.customers, 3);
        assert_eq!(a.summary.rows, 4);
        // the day after the last transaction
        assert_eq!(a.summary.ref_date, "2025-01-06");
        assert_eq!(a.summary.segments.values().sum::<u64>(), 3);
        let path = dir.path().join("rfm.json");
        a.summary.write_to(&path).unwrap();
        assert_eq!(RfmSummary::read_from(&path).unwrap(), a.summary);
        let bad = RfmAnalysisParams {
            scoring: RfmParams {
                bins: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        let e = analyze(&tx, None, &rules, &bad, &crate::progress::NoProgress).unwrap_err();
        assert!(
            matches!(&e, crate::Error::Param { param, .. } if param == "bins"),
            "{e}"
        );
    }
}
