//! Segment migration: each customer segmented at two reference dates, using only the
//! transactions before each, and the transition matrix between them.
//!
//! ```no_run
//! use segmint::data::{ColumnMap, Inputs, TableKind};
//! use segmint::data::timestamp::parse_date;
//! use segmint::progress::NoProgress;
//! use segmint::segment::{migrate::migrate, rules::RuleSet, RfmParams};
//!
//! let inputs = Inputs::from_dir("data".as_ref());
//! let tx = inputs.open(TableKind::Transactions, &ColumnMap::new())?;
//! let rules = RuleSet::builtin("default").unwrap();
//! let (from, to) = (parse_date("2025-07-01").unwrap(), parse_date("2026-01-01").unwrap());
//! let m = migrate(&tx, None, &rules, &RfmParams::default(), from, to, &NoProgress)?;
//! for flow in m.biggest_flows(3) {
//!     println!("{}", flow.sentence);
//! }
//! # Ok::<(), segmint::Error>(())
//! ```

use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use serde::Serialize;

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
    pub customers_to: u64,
}

/// One cell of the matrix, off the diagonal.
#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    pub from: String,
    pub to: String,
    pub customers: u64,
    /// Share of the `from` row.
    pub share_of_from: f64,
    /// E.g. "1,204 Top Customers became At Risk".
    pub sentence: String,
}

/// Segments every customer at `from_day` and at `to_day` (days since 1970-01-01, `from_day`
/// before `to_day`) with the same rules and scoring, each time from the transactions before
/// that day (00:00 UTC) with that day as the reference date.
pub fn migrate(
    tx: &TableReader,
    customers: Option<&TableReader>,
    rules: &RuleSet,
    params: &RfmParams,
    from_day: i64,
    to_day: i64,
    progress: &dyn Progress,
) -> Result<Migration> {
    if from_day >= to_day {
        return Err(Error::param(
            "from",
            format!(
                "{} must be before the second date ({})",
                format_date(from_day),
                format_date(to_day)
            ),
        ));
    }
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
