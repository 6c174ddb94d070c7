//! `segmint validate`: everything that can be wrong with the input, counted, with examples.
//!
//! Hard errors (missing or mistyped columns, null or empty ids, unparseable values, NaN or
//! infinite amounts, unreadable files) stop at the first occurrence with an [`Error`] that names
//! file, row, column and value. Soft findings are collected in a [`Report`]: each has a count and
//! the first examples (file, row, column, value) in file order.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::path::Path;

use serde::{Deserialize, Serialize};

use arrow_array::Array;

use crate::data::mapping::ColumnMap;
use crate::data::reader::{Chunk, TableReader};
use crate::data::schema::TableKind;
use crate::data::timestamp::{format_timestamp_us, parse_date, parse_timestamp_us, US_PER_DAY};
use crate::data::Inputs;
use crate::error::{show_value, Error, Result};
use crate::progress::Progress;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look; gives exit code 1 with `--strict`.
    Warning,
    /// For information.
    Info,
}

/// One offending value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// The file.
    pub file: String,
    /// 1-based data row (the CSV header is not counted).
    pub row: u64,
    /// The column as named in the file.
    pub column: String,
    /// The value as read.
    pub value: String,
}

/// One kind of problem, with its count and first examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// Stable identifier, e.g. `unknown_customer`.
    pub code: String,
    /// The table (`customers`, `transactions`, `events`).
    pub table: String,
    /// The canonical column, for per-column findings (`null_value`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// What is wrong, in a sentence.
    pub message: String,
    /// Rows with it.
    pub count: u64,
    /// The first rows with it, in file order.
    pub examples: Vec<Example>,
}

/// What was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSummary {
    /// The table.
    pub table: String,
    /// Its file.
    pub file: String,
    /// Data rows.
    pub rows: u64,
    /// Its columns as named in the file.
    pub columns: Vec<String>,
    /// Rows left out because an id was missing (`--missing-ids drop`), and their amount.
    #[serde(default)]
    pub dropped: crate::data::reader::Dropped,
}

/// The result of a validation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`Report::FORMAT`].
    #[serde(default)]
    pub format: String,
    /// The version of segmint that wrote it.
    #[serde(default)]
    pub segmint_version: String,
    /// The tables read.
    pub tables: Vec<TableSummary>,
    /// Data window used for the timestamp checks, `[start, end)`, when known.
    pub window: Option<(String, String)>,
    /// What was found.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The format written in `format`.
    pub const FORMAT: &'static str = "validate-report/1";

    /// Kinds of warnings found (a finding with `severity: warning`).
    pub fn warnings(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count()
    }

    /// Writes the report as JSON (temporary file, then rename).
    pub fn write_to(&self, path: &Path) -> Result<()> {
        crate::files::write_json(path, self)
    }

    /// Reads what [`Report::write_to`] wrote.
    pub fn read_from(path: &Path) -> Result<Report> {
        crate::files::read_json(path)
    }

    /// The tables read, the window and every finding with its examples, as plain text.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for t in &self.tables {
            let _ = writeln!(s, "{:<13} {:>12} rows  {}", t.table, t.rows, t.file);
        }
        if let Some((a, b)) = &self.window {
            let _ = writeln!(s, "window        {a} .. {b}");
        }
        for f in &self.findings {
            let tag = match f.severity {
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            if f.count > 0 {
                let _ = writeln!(s, "{tag}: {}: {} ({} rows)", f.table, f.message, f.count);
            } else {
                let _ = writeln!(s, "{tag}: {}: {}", f.table, f.message);
            }
            for e in &f.examples {
                let _ = writeln!(
                    s,
                    "    {} row {} column {}: {}",
                    e.file, e.row, e.column, e.value
                );
            }
        }
        match self.warnings() {
            0 => s.push_str("ok: no problems found\n"),
            w => {
                let _ = writeln!(s, "{w} kind(s) of warnings");
            }
        }
        s
    }
}

/// Options of a validation run.
#[derive(Debug, Clone)]
pub struct ValidateParams {
    /// Data window `[start_us, end_us)`; when `None`, read from `meta.json` in the data directory
    /// (`window_start`, `window_end_exclusive`) if present.
    pub window: Option<(i64, i64)>,
    /// Examples kept per finding.
    pub max_examples: usize,
}

impl ValidateParams {
    /// Checks the parameters: a window's start before its end.
    pub fn check(&self) -> Result<()> {
        if let Some((a, b)) = self.window {
            if a >= b {
                return Err(Error::param(
                    "window",
                    format!(
                        "must start before it ends, got {} .. {}",
                        format_timestamp_us(a),
                        format_timestamp_us(b)
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Default for ValidateParams {
    fn default() -> Self {
        ValidateParams {
            window: None,
            max_examples: 5,
        }
    }
}

/// A finding under construction: count plus the examples with the smallest rows.
#[derive(Debug, Default, Clone)]
struct Tally {
    count: u64,
    examples: Vec<Example>,
}

impl Tally {
    fn add(&mut self, k: usize, path: &Path, row: u64, column: &str, value: &str) {
        self.count += 1;
        if self.examples.len() < k {
            self.examples.push(Example {
                file: path.display().to_string(),
                row,
                column: column.to_string(),
                value: show_value(value),
            });
        }
    }
    fn merge(&mut self, o: Tally, k: usize) {
        self.count += o.count;
        self.examples.extend(o.examples);
        self.examples.sort_by_key(|e| e.row);
        self.examples.truncate(k);
    }
}

#[derive(Default)]
/// Findings under construction, keyed by (code, column for per-column findings).
struct Tallies(Vec<(FindingKey, Tally)>);

type FindingKey = (&'static str, Option<&'static str>);

impl Tallies {
    fn get(&mut self, code: &'static str) -> &mut Tally {
        self.entry((code, None))
    }
    fn entry(&mut self, key: FindingKey) -> &mut Tally {
        if let Some(i) = self.0.iter().position(|(c, _)| *c == key) {
            return &mut self.0[i].1;
        }
        self.0.push((key, Tally::default()));
        &mut self.0.last_mut().expect("just pushed").1
    }
    fn merge(&mut self, o: Tallies, k: usize) {
        for (key, t) in o.0 {
            self.entry(key).merge(t, k);
        }
    }
}

fn hasher() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(0x7a11d)
}

/// Reads `meta.json` of a generated data set for the window.
fn window_from_meta(dir: &Path) -> Option<(i64, i64)> {
    let text = std::fs::read_to_string(dir.join("meta.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let start = parse_date(v.get("window_start")?.as_str()?)? * US_PER_DAY;
    let end = parse_timestamp_us(v.get("window_end_exclusive")?.as_str()?)?;
    Some((start, end))
}

/// Validates every table that can be found. Transactions are required; customers and events
/// are checked when present.
pub fn validate(
    inputs: &Inputs,
    map: &ColumnMap,
    params: &ValidateParams,
    progress: &dyn Progress,
) -> Result<Report> {
    params.check()?;
    let window = params
        .window
        .or_else(|| inputs.dir.as_deref().and_then(window_from_meta));
    let customers = inputs.open_optional(TableKind::Customers, map)?;
    let tx = inputs.open(TableKind::Transactions, map)?;
    let events = inputs.open_optional(TableKind::Events, map)?;
    let params = ValidateParams {
        window,
        ..params.clone()
    };
    validate_tables(customers.as_ref(), &tx, events.as_ref(), &params, progress)
}

/// [`validate`] on opened tables (files or Arrow batches handed over by a front end); the
/// data window is `params.window` only.
pub fn validate_tables(
    customers: Option<&TableReader>,
    tx: &TableReader,
    events: Option<&TableReader>,
    params: &ValidateParams,
    progress: &dyn Progress,
) -> Result<Report> {
    params.check()?;
    let k = params.max_examples;
    let window = params.window;
    let mut report = Report {
        format: Report::FORMAT.into(),
        segmint_version: crate::VERSION.into(),
        tables: Vec::new(),
        window: window.map(|(s, e)| (format_timestamp_us(s), format_timestamp_us(e))),
        findings: Vec::new(),
    };

    // ---- customers: duplicates, nulls; the id set for the joins below
    let mut known: Option<HashSet<Box<str>, foldhash::fast::FixedState>> = None;
    if let Some(c) = customers {
        let wanted: Vec<&str> = c.present().iter().map(|p| p.spec.name).collect();
        progress.begin("checking customers", c.num_rows_hint().unwrap_or(0));
        let units = c.fold(
            &wanted,
            || (Vec::<(Box<str>, u64)>::new(), Tallies::default(), 0u64),
            |(ids, tallies, rows), ch| {
                let s = ch.str("customer_id").expect("required");
                for i in 0..ch.len() {
                    ids.push((s.value(i).into(), ch.row(i)));
                }
                null_checks(c, ch, tallies, k);
                *rows += ch.len() as u64;
                Ok(())
            },
            progress,
        )?;
        progress.finish();
        let mut all = Vec::new();
        let mut tallies = Tallies::default();
        let mut rows = 0;
        for (ids, t, r) in units {
            all.extend(ids);
            tallies.merge(t, k);
            rows += r;
        }
        require_rows(c, rows)?;
        all.sort_unstable();
        let dup = tallies.get("duplicate_customer");
        for w in all.windows(2) {
            if w[0].0 == w[1].0 {
                dup.add(k, &c.path, w[1].1, c.present()[0].source.as_str(), &w[1].0);
            }
        }
        dup.examples.sort_by_key(|e| e.row);
        let mut set = HashSet::with_capacity_and_hasher(all.len(), hasher());
        set.extend(all.into_iter().map(|(id, _)| id));
        known = Some(set);
        report.tables.push(summary(c, rows));
        push_findings(&mut report, TableKind::Customers, tallies);
    }

    // ---- transactions
    let wanted: Vec<&str> = tx.present().iter().map(|p| p.spec.name).collect();
    progress.begin("checking transactions", tx.num_rows_hint().unwrap_or(0));
    let units = tx.fold(
        &wanted,
        || {
            (
                Tallies::default(),
                Vec::<(u64, f64, u64)>::new(),
                Vec::<(u64, f64, u64)>::new(),
                0u64,
            )
        },
        |(tallies, purchases, returns, rows), ch| {
            let ids = ch.str("customer_id").expect("required");
            let orders = ch.str("order_id").expect("required");
            let ts = ch.ts("timestamp").expect("required");
            let amount = ch.f64("amount").expect("required");
            let qty = ch.i64("quantity");
            let h = hasher();
            let mut prev_known: Option<(usize, bool)> = None;
            for i in 0..ch.len() {
                let row = ch.row(i);
                let a = amount.value(i);
                if let Some(set) = &known {
                    let id = ids.value(i);
                    let ok = match prev_known {
                        Some((p, ok)) if ids.value(p) == id => ok,
                        _ => set.contains(id),
                    };
                    prev_known = Some((i, ok));
                    if !ok {
                        tallies.get("unknown_customer").add(
                            k,
                            &tx.path,
                            row,
                            col(tx, "customer_id"),
                            id,
                        );
                    }
                }
                if a == 0.0 {
                    tallies
                        .get("zero_amount")
                        .add(k, &tx.path, row, col(tx, "amount"), "0");
                }
                let oh = h.hash_one(orders.value(i));
                if a > 0.0 {
                    purchases.push((oh, a, row));
                } else if a < 0.0 {
                    returns.push((oh, -a, row));
                }
                if let Some(q) = qty {
                    if !q.is_null(i) && q.value(i) < 1 {
                        tallies.get("quantity_below_1").add(
                            k,
                            &tx.path,
                            row,
                            col(tx, "quantity"),
                            &q.value(i).to_string(),
                        );
                    }
                }
                if let Some((s, e)) = window {
                    let t = ts.value(i);
                    if t < s || t >= e {
                        tallies.get("outside_window").add(
                            k,
                            &tx.path,
                            row,
                            col(tx, "timestamp"),
                            &format_timestamp_us(t),
                        );
                    }
                }
            }
            null_checks(tx, ch, tallies, k);
            *rows += ch.len() as u64;
            Ok(())
        },
        progress,
    )?;
    progress.finish();
    let mut tallies = Tallies::default();
    let mut purchases = Vec::new();
    let mut returns = Vec::new();
    let mut rows = 0;
    for (t, p, r, n) in units {
        tallies.merge(t, k);
        purchases.extend(p);
        returns.extend(r);
        rows += n;
    }
    require_rows(tx, rows)?;
    check_returns(tx, &mut purchases, &mut returns, &mut tallies, k);
    report.tables.push(summary(tx, rows));
    push_findings(&mut report, TableKind::Transactions, tallies);

    // ---- events
    if let Some(ev) = events {
        let wanted: Vec<&str> = ev.present().iter().map(|p| p.spec.name).collect();
        progress.begin("checking events", ev.num_rows_hint().unwrap_or(0));
        let units = ev.fold(
            &wanted,
            || (Tallies::default(), 0u64),
            |(tallies, rows), ch| {
                let ids = ch.str("user_id").expect("required");
                let ts = ch.ts("timestamp").expect("required");
                let et = ch.str("event_type").expect("required");
                let mut prev_known: Option<(usize, bool)> = None;
                for i in 0..ch.len() {
                    let row = ch.row(i);
                    if let Some(set) = &known {
                        let id = ids.value(i);
                        let ok = match prev_known {
                            Some((p, ok)) if ids.value(p) == id => ok,
                            _ => set.contains(id),
                        };
                        prev_known = Some((i, ok));
                        if !ok {
                            tallies.get("unknown_customer").add(
                                k,
                                &ev.path,
                                row,
                                col(ev, "user_id"),
                                id,
                            );
                        }
                    }
                    let t = et.value(i);
                    if !EVENT_TYPES.contains(&t) {
                        tallies.get("unknown_event_type").add(
                            k,
                            &ev.path,
                            row,
                            col(ev, "event_type"),
                            t,
                        );
                    }
                    if let Some((s, e)) = window {
                        let t = ts.value(i);
                        if t < s || t >= e {
                            tallies.get("outside_window").add(
                                k,
                                &ev.path,
                                row,
                                col(ev, "timestamp"),
                                &format_timestamp_us(t),
                            );
                        }
                    }
                }
                null_checks(ev, ch, tallies, k);
                *rows += ch.len() as u64;
                Ok(())
            },
            progress,
        )?;
        progress.finish();
        let mut tallies = Tallies::default();
        let mut rows = 0;
        for (t, n) in units {
            tallies.merge(t, k);
            rows += n;
        }
        require_rows(ev, rows)?;
        report.tables.push(summary(ev, rows));
        push_findings(&mut report, TableKind::Events, tallies);
    }
    for (kind, r) in [
        (TableKind::Customers, &customers),
        (TableKind::Events, &events),
    ] {
        if r.is_none() {
            report.findings.push(Finding {
                severity: Severity::Info,
                code: "table_absent".into(),
                table: kind.name().into(),
                column: None,
                message: format!(
                    "no {} file: its checks and the joins with it were skipped",
                    kind.name()
                ),
                count: 0,
                examples: vec![],
            });
        }
    }
    for t in [customers, Some(tx), events].into_iter().flatten() {
        report.findings.extend(reading_findings(t));
    }
    if window.is_none() {
        report.findings.push(Finding {
            severity: Severity::Info,
            code: "window_unknown".into(),
            table: "transactions".into(),
            column: None,
            message: "data window unknown (no meta.json, no --window): timestamp range not checked"
                .into(),
            count: 0,
            examples: vec![],
        });
    }
    Ok(report)
}

/// Event types of the schema.
pub const EVENT_TYPES: &[&str] = &[
    "page_view",
    "product_view",
    "add_to_cart",
    "remove_from_cart",
    "begin_checkout",
    "purchase",
];

fn col<'a>(t: &'a TableReader, canonical: &str) -> &'a str {
    t.present()
        .iter()
        .find(|p| p.spec.name == canonical)
        .map(|p| p.source.as_str())
        .unwrap_or("?")
}

fn require_rows(t: &TableReader, rows: u64) -> Result<()> {
    if rows == 0 {
        return Err(Error::Empty {
            path: t.path.clone(),
            message: "no data rows (header only?)".into(),
        });
    }
    Ok(())
}

/// What reading the table decided (no order ids, rows without an id left out), as findings.
fn reading_findings(t: &TableReader) -> Vec<Finding> {
    let info = |code: &str, message: String, count: u64| Finding {
        severity: Severity::Info,
        code: code.into(),
        table: t.kind.name().into(),
        column: None,
        message,
        count,
        examples: vec![],
    };
    let mut out: Vec<Finding> = t
        .notes()
        .iter()
        .map(|n| info("reading_note", n.clone(), 0))
        .collect();
    if t.drops_missing_ids() {
        let d = t.dropped();
        let amount = d
            .amount
            .map(|a| format!(", amount {a:.2}"))
            .unwrap_or_default();
        out.push(info(
            "missing_id_dropped",
            format!("rows without an id left out (--missing-ids drop){amount}"),
            d.rows,
        ));
    }
    out
}

fn summary(t: &TableReader, rows: u64) -> TableSummary {
    TableSummary {
        table: t.kind.name().into(),
        file: t.path.display().to_string(),
        rows,
        columns: t
            .present()
            .iter()
            .map(|p| p.spec.name.to_string())
            .collect(),
        dropped: t.dropped(),
    }
}

/// Nulls in optional columns that the schema says are never null.
fn null_checks(t: &TableReader, ch: &Chunk, tallies: &mut Tallies, k: usize) {
    for p in t.present() {
        if p.spec.nullable || p.spec.required {
            continue;
        }
        if let Some(arr) = ch.batch.column_by_name(p.spec.name) {
            if arr.null_count() > 0 {
                for i in (0..arr.len()).filter(|&i| arr.is_null(i)) {
                    tallies.entry(("null_value", Some(p.spec.name))).add(
                        k,
                        &t.path,
                        ch.row(i),
                        &p.source,
                        "null",
                    );
                }
            }
        }
    }
}

/// Returns must refer to a purchase row of the same order and refund at most its amount.
fn check_returns(
    tx: &TableReader,
    purchases: &mut [(u64, f64, u64)],
    returns: &mut [(u64, f64, u64)],
    tallies: &mut Tallies,
    k: usize,
) {
    purchases.sort_unstable_by_key(|p| (p.0, p.2));
    returns.sort_unstable_by_key(|r| (r.0, r.2));
    let mut pi = 0;
    let mut ri = 0;
    let oc = col(tx, "order_id").to_string();
    let ac = col(tx, "amount").to_string();
    while ri < returns.len() {
        let key = returns[ri].0;
        while pi < purchases.len() && purchases[pi].0 < key {
            pi += 1;
        }
        let mut bought = 0.0;
        let mut n_p = 0;
        let mut pj = pi;
        while pj < purchases.len() && purchases[pj].0 == key {
            bought += purchases[pj].1;
            n_p += 1;
            pj += 1;
        }
        let mut refunded = 0.0;
        let start = ri;
        while ri < returns.len() && returns[ri].0 == key {
            refunded += returns[ri].1;
            ri += 1;
        }
        let last = &returns[ri - 1];
        if n_p == 0 {
            for r in &returns[start..ri] {
                tallies.get("return_without_purchase").add(
                    k,
                    &tx.path,
                    r.2,
                    &oc,
                    "(order has no purchase row)",
                );
            }
        } else if refunded > bought + 0.005 {
            tallies.get("refund_exceeds_order").add(
                k,
                &tx.path,
                last.2,
                &ac,
                &format!("refunds {refunded:.2} > order {bought:.2}"),
            );
        }
    }
    // Several purchase rows with one order_id: legal, but counted once in `frequency`.
    let mut dups = Tally::default();
    for w in purchases.windows(2) {
        if w[0].0 == w[1].0 {
            dups.add(
                k,
                &tx.path,
                w[1].2,
                &oc,
                "(second purchase row of an order)",
            );
        }
    }
    if dups.count > 0 {
        dups.examples.sort_by_key(|e| e.row);
        tallies.get("repeated_order_id").merge(dups, k);
    }
    for code in ["return_without_purchase", "refund_exceeds_order"] {
        tallies.get(code).examples.sort_by_key(|e| e.row);
    }
}

fn describe(code: &str, column: Option<&str>, table: TableKind) -> (Severity, String) {
    let w = Severity::Warning;
    match code {
        "duplicate_customer" => (
            w,
            "duplicate customer rows (the first row of each id is used)".into(),
        ),
        "unknown_customer" => (
            w,
            format!("{table} rows of customers missing from the customers file"),
        ),
        "zero_amount" => (
            w,
            "rows with amount 0 (neither purchase nor return; they count in no order)".into(),
        ),
        "quantity_below_1" => (w, "rows with quantity below 1".into()),
        "outside_window" => (w, "timestamps outside the data window".into()),
        "return_without_purchase" => (
            w,
            "returns (amount < 0) whose order_id has no purchase row".into(),
        ),
        "refund_exceeds_order" => (
            w,
            "orders whose returns refund more than the order amount".into(),
        ),
        "repeated_order_id" => (
            Severity::Info,
            "purchase rows repeating an order_id (counted as one order)".into(),
        ),
        "unknown_event_type" => (w, "events with an event_type outside the schema".into()),
        "null_value" => (
            w,
            format!("null values in column {}", column.unwrap_or("?")),
        ),
        c => (w, c.replace('_', " ")),
    }
}

fn push_findings(report: &mut Report, table: TableKind, tallies: Tallies) {
    for ((code, column), t) in tallies.0 {
        if t.count == 0 {
            continue;
        }
        let (severity, message) = describe(code, column, table);
        report.findings.push(Finding {
            severity,
            code: code.into(),
            column: column.map(Into::into),
            table: table.name().into(),
            message,
            count: t.count,
            examples: t.examples,
        });
    }
}
