//! Segment migration: each customer segmented at two reference dates, using only the
//! transactions before each, and the transition matrix between them.
//!
//! ```no_run
//! use segmint::data::{ColumnMap, Inputs, TableKind};
//! use segmint::data::timestamp::parse_date;
//! use segmint::progress::NoProgress;
//! use segmint::segment::migrate::{migrate, MigrateParams};
//! use segmint::segment::rules::RuleSet;
//!
//! let inputs = Inputs::from_dir("data".as_ref());
//! let tx = inputs.open(TableKind::Transactions, &ColumnMap::new())?;
//! let rules = RuleSet::builtin("default").unwrap();
//! let (from, to) = (parse_date("2025-07-01").unwrap(), parse_date("2026-01-01").unwrap());
//! let p = MigrateParams { from_day: from, to_day: to, ..Default::default() };
//! let m = migrate(&tx, None, &rules, &p, &NoProgress)?;
//! print!("{}", m.summary(&rules.name, 3).markdown());
//! # Ok::<(), segmint::Error>(())
//! ```

use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use crate::data::reader::TableReader;
use crate::data::timestamp::{format_date, US_PER_DAY};
use crate::error::{Error, Result};
use crate::mart::{build_mart, MartParams};
use crate::progress::Progress;
use crate::segment::rules::RuleSet;
use crate::segment::{mart_columns_for, rfm, Rfm, RfmParams};

/// Row label of customers without a purchase before the first date.
pub const NEW: &str = "(new customer)";

/// Segments at two dates and the flows between them.
#[derive(Debug, Clone, Serialize)]
pub struct Migration {
    /// First and second reference date (days since 1970-01-01); each uses the rows before it.
    pub from_day: i64,
    /// Second reference date (days since 1970-01-01).
    pub to_day: i64,
    /// Segment names of the rule set (columns of the matrix); the rows are these, then [`NEW`].
    pub segments: Vec<String>,
    /// `counts[i][j]`: customers in row `i` at the first date and in segment `j` at the second.
    pub counts: Vec<Vec<u64>>,
    /// Per customer at the second date (sorted by id): id, row at the first date, segment at
    /// the second (`None` when no rule matched and the set has no default).
    #[serde(skip)]
    pub customers: Vec<(String, usize, Option<usize>)>,
    /// Customers at each date.
    pub customers_from: u64,
    /// Customers at the second date.
    pub customers_to: u64,
}

/// One cell of the matrix, off the diagonal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// Row label at the first date.
    pub from: String,
    /// Segment at the second date.
    pub to: String,
    /// Customers who moved.
    pub customers: u64,
    /// Share of the `from` row.
    pub share_of_from: f64,
    /// E.g. "1,204 Top Customers became At Risk".
    pub sentence: String,
}

/// Settings of a segment migration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MigrateParams {
    /// Bins and ties of the scores (the same at both dates).
    pub scoring: RfmParams,
    /// First reference date (days since 1970-01-01).
    pub from_day: i64,
    /// Second reference date, after the first.
    pub to_day: i64,
}

impl MigrateParams {
    /// Checks the parameters: the scoring, and `from_day` before `to_day`.
    pub fn check(&self) -> Result<()> {
        self.scoring.check()?;
        if self.from_day >= self.to_day {
            return Err(Error::param(
                "from",
                format!(
                    "{} must be before the second date ({})",
                    format_date(self.from_day),
                    format_date(self.to_day)
                ),
            ));
        }
        Ok(())
    }
}

/// Segments every customer at `p.from_day` and at `p.to_day` with the same rules and scoring,
/// each time from the transactions before that day (00:00 UTC) with that day as the reference
/// date.
pub fn migrate(
    tx: &TableReader,
    customers: Option<&TableReader>,
    rules: &RuleSet,
    p: &MigrateParams,
    progress: &dyn Progress,
) -> Result<Migration> {
    p.check()?;
    let (params, from_day, to_day) = (&p.scoring, p.from_day, p.to_day);
    let columns = mart_columns_for(rules)?;
    let at = |day: i64| -> Result<Rfm> {
        let mart = build_mart(
            tx,
            &MartParams {
                ref_day: Some(day),
                columns,
                before_us: Some(day * US_PER_DAY),
            },
            progress,
        )?;
        rfm(mart, customers, rules, params, progress)
    };
    let a = at(from_day)?;
    let b = at(to_day)?;
    let segments: Vec<String> = b.segment_names.clone();
    let k = segments.len();
    let mut counts = vec![vec![0u64; k]; k + 1];
    let mut rows = Vec::with_capacity(b.len());
    // both sorted by customer_id: merge
    let mut i = 0usize;
    for (j, id) in b.mart.customer_id.iter().enumerate() {
        while i < a.len() && a.mart.customer_id[i] < *id {
            i += 1;
        }
        let row = if i < a.len() && a.mart.customer_id[i] == *id {
            match a.segment[i] {
                Some(s) => s as usize,
                None => k, // unsegmented then: counted with the new customers
            }
        } else {
            k
        };
        let to = b.segment[j].map(|s| s as usize);
        if let Some(t) = to {
            counts[row][t] += 1;
        }
        rows.push((id.clone(), row, to));
    }
    Ok(Migration {
        from_day,
        to_day,
        segments,
        counts,
        customers: rows,
        customers_from: a.len() as u64,
        customers_to: b.len() as u64,
    })
}

impl Migration {
    /// Row labels: the segments, then [`NEW`].
    pub fn row_labels(&self) -> Vec<String> {
        let mut v = self.segments.clone();
        v.push(NEW.to_string());
        v
    }

    /// Row shares of the matrix (each row sums to 1; an empty row is all 0).
    pub fn row_shares(&self) -> Vec<Vec<f64>> {
        self.counts
            .iter()
            .map(|r| {
                let t: u64 = r.iter().sum();
                r.iter()
                    .map(|&c| if t == 0 { 0.0 } else { c as f64 / t as f64 })
                    .collect()
            })
            .collect()
    }

    /// The `n` largest moves between different segments, largest first (ties: matrix order).
    /// Arrivals of new customers are flows too.
    pub fn biggest_flows(&self, n: usize) -> Vec<Flow> {
        let labels = self.row_labels();
        let shares = self.row_shares();
        let mut cells: Vec<(usize, usize, u64)> = Vec::new();
        for (r, row) in self.counts.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                if r != c && v > 0 {
                    cells.push((r, c, v));
                }
            }
        }
        cells.sort_by(|x, y| y.2.cmp(&x.2).then((x.0, x.1).cmp(&(y.0, y.1))));
        cells
            .into_iter()
            .take(n)
            .map(|(r, c, v)| {
                let sentence = if r == self.segments.len() {
                    format!("{} new customers arrived in {}", thousands(v), labels[c])
                } else {
                    format!("{} {} became {}", thousands(v), labels[r], labels[c])
                };
                Flow {
                    from: labels[r].clone(),
                    to: labels[c].clone(),
                    customers: v,
                    share_of_from: shares[r][c],
                    sentence,
                }
            })
            .collect()
    }

    /// Per customer: `customer_id, segment_from, segment_to` (segment_from is [`NEW`] for
    /// customers without a purchase before the first date).
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let labels = self.row_labels();
        let seg = |o: Option<usize>| o.map(|s| labels[s].as_str());
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("customer_id", DataType::Utf8, false),
                Field::new("segment_from", DataType::Utf8, true),
                Field::new("segment_to", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(StringArray::from_iter_values(
                    self.customers.iter().map(|c| c.0.as_str()),
                )),
                Arc::new(StringArray::from_iter(
                    self.customers.iter().map(|c| seg(Some(c.1))),
                )),
                Arc::new(StringArray::from_iter(
                    self.customers.iter().map(|c| seg(c.2)),
                )),
            ],
        )
        .map_err(|e| Error::Data(format!("building the migration batch: {e}")))
    }

    /// Customers who stayed in their segment, and all who were segmented at both dates.
    pub fn stayed(&self) -> (u64, u64) {
        let k = self.segments.len();
        let stayed = (0..k).map(|i| self.counts[i][i]).sum();
        let both = self.counts[..k].iter().flatten().sum();
        (stayed, both)
    }
}

/// The typed summary of a migration (`segmint migrate --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrationSummary {
    /// [`MigrationSummary::FORMAT`].
    pub format: String,
    /// The version of segmint that wrote it.
    pub segmint_version: String,
    /// `migrate`.
    pub task: String,
    /// First date (YYYY-MM-DD).
    pub from: String,
    /// Second date.
    pub to: String,
    /// The rule set's name.
    pub rules: String,
    /// Row labels: the segments, then [`NEW`].
    pub rows: Vec<String>,
    /// Column labels: the segments.
    pub columns: Vec<String>,
    /// `counts[i][j]`: customers in row `i` then and column `j` now.
    pub counts: Vec<Vec<u64>>,
    /// Row shares of `counts`.
    pub row_shares: Vec<Vec<f64>>,
    /// The biggest flows, largest first.
    pub flows: Vec<Flow>,
    /// Customers at the first date.
    pub customers_from: u64,
    /// Customers at the second date.
    pub customers_to: u64,
    /// Customers who stayed in their segment.
    pub stayed: u64,
    /// Customers segmented at both dates.
    pub segmented_at_both: u64,
}

impl Migration {
    /// The summary with the `top` biggest flows.
    pub fn summary(&self, rules: &str, top: usize) -> MigrationSummary {
        let (stayed, both) = self.stayed();
        MigrationSummary {
            format: MigrationSummary::FORMAT.into(),
            segmint_version: crate::VERSION.into(),
            task: "migrate".into(),
            from: format_date(self.from_day),
            to: format_date(self.to_day),
            rules: rules.into(),
            rows: self.row_labels(),
            columns: self.segments.clone(),
            counts: self.counts.clone(),
            row_shares: self.row_shares(),
            flows: self.biggest_flows(top),
            customers_from: self.customers_from,
            customers_to: self.customers_to,
            stayed,
            segmented_at_both: both,
        }
    }
}

impl MigrationSummary {
    /// The format written in `format`.
    pub const FORMAT: &'static str = "migration-summary/1";

    /// Writes the summary as JSON (temporary file, then rename).
    pub fn write_to(&self, path: &std::path::Path) -> Result<()> {
        crate::output::write_json(path, self)
    }

    /// Reads what [`MigrationSummary::write_to`] wrote.
    pub fn read_from(path: &std::path::Path) -> Result<MigrationSummary> {
        crate::output::read_json(path)
    }

    /// The transition matrix (count and row share), the share that stayed and the biggest
    /// flows, as Markdown.
    pub fn markdown(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "## Segment migration {} -> {} (rows: then, columns: now; count and row share)\n",
            self.from, self.to
        );
        let _ = writeln!(
            s,
            "| then \\ now | {} | total |\n| --- |{} ---: |",
            self.columns.join(" | "),
            " ---: |".repeat(self.columns.len())
        );
        for (r, row) in self.counts.iter().enumerate() {
            let total: u64 = row.iter().sum();
            if total == 0 {
                continue;
            }
            let cells: Vec<String> = row
                .iter()
                .zip(&self.row_shares[r])
                .map(|(c, sh)| format!("{} ({:.0}%)", thousands(*c), 100.0 * sh))
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                self.rows[r],
                cells.join(" | "),
                thousands(total)
            );
        }
        let both = self.segmented_at_both;
        let _ = writeln!(
            s,
            "\n{} of {} customers segmented at both dates stayed in their segment ({:.1}%).\n\nBiggest flows:",
            thousands(self.stayed),
            thousands(both),
            if both == 0 { 0.0 } else { 100.0 * self.stayed as f64 / both as f64 }
        );
        for f in &self.flows {
            let _ = writeln!(
                s,
                "* {} ({:.1}% of {})",
                f.sentence,
                100.0 * f.share_of_from,
                f.from
            );
        }
        s
    }
}

/// 1234567 -> "1,234,567".
pub fn thousands(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
