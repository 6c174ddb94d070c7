//! SQL for the user's warehouse: the customer mart and RFM scoring with a rule set, in Spark
//! SQL, DuckDB, PostgreSQL and a portable dialect, with the same semantics as the in-process
//! engine ([`crate::mart`], [`crate::segment`]).
//!
//! ```
//! use segmint::segment::{rules::RuleSet, RfmParams};
//! use segmint::sql::{mart_sql, rfm_sql, Dialect, SqlParams};
//!
//! let p = SqlParams::new(Dialect::DuckDb);
//! let mart = mart_sql(&p).unwrap();
//! assert!(mart.contains("epoch_us"));
//! let rules = RuleSet::builtin("default").unwrap();
//! let rfm = rfm_sql(&p, &rules, &RfmParams::default()).unwrap();
//! assert!(rfm.contains("Top Customers"));
//! ```
//!
//! What the statements do, and why they match the in-process engine:
//!
//! * Purchase rows have `amount > 0`, returns `amount < 0`; a customer is in the mart when they
//!   have a purchase row. day(ts) is the UTC date (days since 1970-01-01, floored); the
//!   reference date is the given one or day(max timestamp of all rows) + 1.
//! * `monetary` = round(sum of all amounts, 2). Amounts that are whole cents sum to the same
//!   double in every engine whatever the order (PostgreSQL and the portable dialect sum exact
//!   decimals; DuckDB and Spark round the double sum, whose error is far below half a cent).
//!   With sub-cent amounts a sum that lands exactly on half a cent may round differently
//!   (segmint rounds half to even like pandas, the SQL engines half away from zero).
//! * Modes (`primary_region`, `preferred_payment`): most frequent non-null value among the
//!   purchase rows, ties to the smallest in byte order. Ranks for the scores break ties by
//!   `customer_id` in byte order (`--ties first`) or share their mean rank (`--ties average`),
//!   with the integer closed forms of [`crate::segment::scores`].
//! * Byte order: PostgreSQL compares text in the column's collation, so its statements say
//!   `COLLATE "C"`; DuckDB and Spark compare bytes already. The portable dialect has no
//!   collation clause: run it where strings compare by bytes (PostgreSQL: a database created
//!   with `LC_COLLATE = C`).
//! * Rule conditions: a comparison with a missing value is false (every test is wrapped in
//!   `COALESCE(..., FALSE)`, so `not` of it is true, as in segmint), comparisons between
//!   different kinds of values (a string with a number) are false, strings compare by bytes.
//!
//! Safety: identifiers are quoted with the quote character doubled; literals go through
//! [`Dialect::string`] (Spark SQL literals that are not plain text are written as
//! `decode(unhex(...), 'UTF-8')`, so backslash settings cannot change them). Nothing from a rule
//! file or a column name can end a statement.
//!
//! Dialect functions used: DuckDB `epoch_us`, `//`; PostgreSQL `extract(epoch ...)`, integer
//! `/`; Spark `unix_micros`, `div`, `datediff`. The portable dialect uses standard SQL (CTEs,
//! window functions, `CASE`, `COALESCE`, `CAST`, `MOD`, `FLOOR`) plus `GREATEST`/`LEAST` and
//! date subtraction (`CAST(ts AS DATE) - DATE '1970-01-01'` is a day count in PostgreSQL,
//! DuckDB and most warehouses; it uses the session time zone, which must be UTC).

use crate::data::mapping::ColumnMap;
use crate::data::schema::{ColType, TableKind, CUSTOMERS};
use crate::error::{Error, Result};
use crate::segment::rules::{Cond, Op, RuleSet, Value};
use crate::segment::{RfmParams, Ties, MART_VARIABLES};

/// SQL dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// DuckDB.
    DuckDb,
    /// Spark SQL.
    Spark,
    /// Standard SQL that runs unchanged on PostgreSQL (C collation) and DuckDB.
    Portable,
}

impl Dialect {
    /// The three warehouse dialects (the group-comparison export writes these).
    pub const ALL: [Dialect; 3] = [Dialect::Postgres, Dialect::DuckDb, Dialect::Spark];

    /// `postgres`, `duckdb`, `spark` or `portable`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::DuckDb => "duckdb",
            Dialect::Spark => "spark",
            Dialect::Portable => "portable",
        }
    }

    /// The dialect called `name` (`postgres`/`postgresql`, `duckdb`, `spark`, `portable`).
    pub fn parse(name: &str) -> Option<Dialect> {
        match name.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "duckdb" => Some(Dialect::DuckDb),
            "spark" | "sparksql" => Some(Dialect::Spark),
            "portable" | "ansi" => Some(Dialect::Portable),
            _ => None,
        }
    }

    /// A quoted identifier.
    pub fn ident(self, name: &str) -> String {
        match self {
            Dialect::Spark => format!("`{}`", name.replace('`', "``")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// A table reference: each dot-separated part quoted (`sales.orders`).
    pub fn table(self, name: &str) -> String {
        name.split('.')
            .map(|p| self.ident(p))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// A string literal.
    pub fn string(self, s: &str) -> String {
        let plain = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _.:/+-".contains(c));
        match self {
            Dialect::Spark if !plain => {
                let hex: String = s.bytes().map(|b| format!("{b:02X}")).collect();
                format!("decode(unhex('{hex}'), 'UTF-8')")
            }
            _ => format!("'{}'", s.replace('\'', "''")),
        }
    }

    /// The double type's name.
    pub fn double(self) -> &'static str {
        match self {
            Dialect::Postgres | Dialect::Portable => "DOUBLE PRECISION",
            _ => "DOUBLE",
        }
    }

    fn text(self) -> &'static str {
        match self {
            Dialect::Postgres => "TEXT",
            Dialect::Spark => "STRING",
            _ => "VARCHAR",
        }
    }

    /// A number as a double literal (exact: Rust prints the shortest decimal that reads back
    /// as the same double).
    pub fn number(self, x: f64) -> String {
        format!("CAST({x} AS {})", self.double())
    }

    /// A rule threshold: whole numbers as integer literals, others as doubles. Infinite
    /// values have no literal.
    fn threshold(self, x: f64) -> Result<String> {
        if !x.is_finite() {
            return Err(Error::Config(format!(
                "the rule threshold {x} has no SQL literal"
            )));
        }
        Ok(if x.fract() == 0.0 && x.abs() < 9.0e15 {
            format!("{}", x as i64)
        } else {
            self.number(x)
        })
    }

    /// `expr` in byte order for comparisons and ORDER BY.
    fn bytes(self, expr: &str) -> String {
        match self {
            Dialect::Postgres => format!("{expr} COLLATE \"C\""),
            _ => expr.to_string(),
        }
    }

    /// Days since 1970-01-01 (UTC) of a timestamp, as BIGINT.
    fn day(self, ts: &str) -> String {
        match self {
            Dialect::DuckDb => format!("CAST(floor(epoch_us({ts}) / 86400000000) AS BIGINT)"),
            Dialect::Postgres => {
                format!("CAST(floor(extract(epoch FROM {ts}) / 86400) AS BIGINT)")
            }
            Dialect::Spark => format!("CAST(floor(unix_micros({ts}) / 86400000000) AS BIGINT)"),
            Dialect::Portable => format!("CAST(CAST({ts} AS DATE) - DATE '1970-01-01' AS BIGINT)"),
        }
    }

    /// Days since 1970-01-01 of a date, as BIGINT.
    fn date_days(self, d: &str) -> String {
        match self {
            Dialect::Spark => format!("CAST(datediff({d}, DATE '1970-01-01') AS BIGINT)"),
            _ => format!("CAST({d} - DATE '1970-01-01' AS BIGINT)"),
        }
    }

    /// round(sum(amount), 2) as a double.
    fn money_sum(self, amount: &str) -> String {
        match self {
            // + 0.0 turns -0.0 (returns cancelling purchases, summed in row order) into the
            // +0.0 of the exact sum
            Dialect::DuckDb | Dialect::Spark => {
                format!("(round(sum({amount}), 2) + CAST(0 AS DOUBLE))")
            }
            Dialect::Postgres => {
                format!("CAST(round(sum(CAST({amount} AS NUMERIC)), 2) AS DOUBLE PRECISION)")
            }
            Dialect::Portable => {
                format!("CAST(ROUND(SUM(CAST({amount} AS DECIMAL(38, 6))), 2) AS DOUBLE PRECISION)")
            }
        }
    }

    /// Integer division of non-negative BIGINT expressions.
    fn div(self, a: &str, b: &str) -> String {
        match self {
            Dialect::DuckDb => format!("(({a}) // ({b}))"),
            Dialect::Postgres => format!("(({a}) / ({b}))"),
            Dialect::Spark => format!("(({a}) div ({b}))"),
            Dialect::Portable => format!("CAST((({a}) - MOD({a}, {b})) / ({b}) AS BIGINT)"),
        }
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the statements read and how.
#[derive(Debug, Clone)]
pub struct SqlParams {
    /// Target dialect.
    pub dialect: Dialect,
    /// Reference date as days since 1970-01-01; `None`: day of the last transaction + 1.
    pub ref_day: Option<i64>,
    /// Source column names (segmint's canonical name -> the table's).
    pub columns: ColumnMap,
    /// The transactions table (dot-separated parts are quoted one by one).
    pub transactions: String,
    /// The customers table (read when a rule refers to a customer attribute).
    pub customers: String,
}

impl SqlParams {
    /// Tables `transactions` and `customers`, canonical column names, the reference date
    /// from the data.
    pub fn new(dialect: Dialect) -> Self {
        SqlParams {
            dialect,
            ref_day: None,
            columns: ColumnMap::new(),
            transactions: "transactions".into(),
            customers: "customers".into(),
        }
    }

    /// The transactions' timestamp column (Spark reads CSV timestamps as text: cast).
    fn timestamp(&self) -> String {
        let ts = self.col(TableKind::Transactions, "timestamp");
        match self.dialect {
            Dialect::Spark => format!("CAST({ts} AS TIMESTAMP)"),
            _ => ts,
        }
    }

    fn col(&self, table: TableKind, name: &str) -> String {
        self.dialect.ident(self.columns.source_name(table, name))
    }
}

/// Checks a name for characters no SQL engine accepts in a quoted identifier.
fn check_names(p: &SqlParams) -> Result<()> {
    for (what, name) in [
        ("transactions table", p.transactions.as_str()),
        ("customers table", p.customers.as_str()),
    ] {
        if name.is_empty() || name.contains('\0') || name.split('.').any(str::is_empty) {
            return Err(Error::Config(format!(
                "{what} name {name:?} is not a valid name"
            )));
        }
    }
    Ok(())
}

/// The CTEs that build the mart (`WITH t AS (...), ..., mart AS (...)`), without a final
/// SELECT.
fn mart_ctes(p: &SqlParams) -> Result<String> {
    check_names(p)?;
    let d = p.dialect;
    let tx = |c: &str| p.col(TableKind::Transactions, c);
    let ts = p.timestamp();
    let (text, dbl) = (d.text(), d.double());
    // one row: the given date, or the day after the last transaction
    let ref_day = match p.ref_day {
        Some(day) => format!("CAST({day} AS BIGINT) AS ref_day"),
        None => "MAX(day_) + 1 AS ref_day FROM t".to_string(),
    };
    let mode = |src: &str, out: &str| {
        format!(
            "{out}_mode AS (
    SELECT customer_id, {src} AS {out} FROM (
        SELECT customer_id, {src},
               ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY COUNT(*) DESC, {ord} ASC) AS rn_
        FROM t
        WHERE amount > 0 AND {src} IS NOT NULL
        GROUP BY customer_id, {src}
    ) x
    WHERE rn_ = 1
)",
            ord = d.bytes(src)
        )
    };
    Ok(format!(
        "WITH t AS (
    SELECT CAST({cid} AS {text}) AS customer_id,
           CAST({oid} AS {text}) AS order_id,
           {ts} AS ts,
           {day} AS day_,
           CAST({amount} AS {dbl}) AS amount,
           CAST({qty} AS BIGINT) AS quantity,
           CAST({region} AS {text}) AS region,
           CAST({pay} AS {text}) AS payment_method
    FROM {table}
),
ref AS (
    SELECT {ref_day}
),
base AS (
    SELECT customer_id,
           MIN(CASE WHEN amount > 0 THEN ts END) AS first_purchase,
           MAX(CASE WHEN amount > 0 THEN ts END) AS last_purchase,
           MIN(CASE WHEN amount > 0 THEN day_ END) AS first_day,
           MAX(CASE WHEN amount > 0 THEN day_ END) AS last_day,
           COUNT(DISTINCT CASE WHEN amount > 0 THEN order_id END) AS frequency,
           {monetary} AS monetary,
           SUM(CASE WHEN amount > 0 THEN COALESCE(quantity, 0)
                    WHEN amount < 0 THEN -COALESCE(quantity, 0) ELSE 0 END) AS total_quantity
    FROM t
    GROUP BY customer_id
    HAVING SUM(CASE WHEN amount > 0 THEN 1 ELSE 0 END) > 0
),
{region_mode},
{pay_mode},
mart AS (
    SELECT b.customer_id,
           CAST(r.ref_day - b.last_day AS BIGINT) AS recency_days,
           CAST(b.frequency AS BIGINT) AS frequency,
           b.monetary,
           b.first_purchase,
           b.last_purchase,
           CAST(r.ref_day - b.first_day AS BIGINT) AS tenure_days,
           b.monetary / b.frequency AS avg_order_value,
           CAST(b.total_quantity AS BIGINT) AS total_quantity,
           rm.primary_region,
           pm.preferred_payment
    FROM base b
    CROSS JOIN ref r
    LEFT JOIN primary_region_mode rm ON rm.customer_id = b.customer_id
    LEFT JOIN preferred_payment_mode pm ON pm.customer_id = b.customer_id
)",
        cid = tx("customer_id"),
        oid = tx("order_id"),
        day = d.day(&ts),
        amount = tx("amount"),
        qty = tx("quantity"),
        region = tx("region"),
        pay = tx("payment_method"),
        table = d.table(&p.transactions),
        monetary = d.money_sum("amount"),
        region_mode = mode("region", "primary_region"),
        pay_mode = mode("payment_method", "preferred_payment"),
    ))
}

/// The customer mart: one row per customer with a purchase, sorted by `customer_id` (the
/// columns of [`crate::mart::mart_schema`]).
pub fn mart_sql(p: &SqlParams) -> Result<String> {
    Ok(format!(
        "{}
SELECT * FROM mart
ORDER BY {}
",
        mart_ctes(p)?,
        p.dialect.bytes("customer_id")
    ))
}

/// The kind of value a rule variable holds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Num,
    Str,
    Bool,
}

/// RFM scores and segments: `customer_id, recency_days, frequency, monetary, R, F, M,
/// segment`, sorted by `customer_id` (the columns of `segmint rfm`).
pub fn rfm_sql(p: &SqlParams, rules: &RuleSet, params: &RfmParams) -> Result<String> {
    if !(2..=100).contains(&params.bins) {
        return Err(Error::param(
            "bins",
            format!("must be 2..100, got {}", params.bins),
        ));
    }
    let d = p.dialect;
    let (conds, vars) = crate::segment::compile_rules_with_names(rules)?;
    // variable i as SQL, and its kind
    let attrs: Vec<&crate::data::schema::ColumnSpec> = CUSTOMERS
        .iter()
        .filter(|c| c.name != "customer_id")
        .collect();
    let mut used_attrs: Vec<usize> = Vec::new();
    let mut expr_of = Vec::with_capacity(vars.len());
    for (i, v) in vars.iter().enumerate() {
        let (sql, kind) = if i < 3 {
            (format!("s.{}", d.ident(v)), Kind::Num)
        } else if i < 3 + MART_VARIABLES.len() {
            let kind = if matches!(v.as_str(), "primary_region" | "preferred_payment") {
                Kind::Str
            } else {
                Kind::Num
            };
            (format!("s.{}", d.ident(v)), kind)
        } else {
            let spec = attrs[i - 3 - MART_VARIABLES.len()];
            let c = format!("c.{}", d.ident(spec.name));
            match spec.ty {
                ColType::Str => (c, Kind::Str),
                ColType::Bool => (c, Kind::Bool),
                ColType::Date => (d.date_days(&c), Kind::Num),
                _ => (c, Kind::Num),
            }
        };
        expr_of.push((sql, kind));
    }
    let mut used = Vec::new();
    for c in &conds {
        c.variables(&mut used);
    }
    for &v in &used {
        if v >= 3 + MART_VARIABLES.len() && !used_attrs.contains(&v) {
            used_attrs.push(v);
        }
    }
    used_attrs.sort_unstable();

    let n = "n_";
    let b = params.bins;
    let (rank_r, rank_f, rank_m) = match params.ties {
        Ties::First => (
            "ROW_NUMBER() OVER (ORDER BY recency_days, {id})",
            "ROW_NUMBER() OVER (ORDER BY frequency, {id})",
            "ROW_NUMBER() OVER (ORDER BY monetary, {id})",
        ),
        Ties::Average => (
            "2 * RANK() OVER (ORDER BY recency_days) + COUNT(*) OVER (PARTITION BY recency_days) - 1",
            "2 * RANK() OVER (ORDER BY frequency) + COUNT(*) OVER (PARTITION BY frequency) - 1",
            "2 * RANK() OVER (ORDER BY monetary) + COUNT(*) OVER (PARTITION BY monetary) - 1",
        ),
    };
    let id = d.bytes("customer_id");
    let score = |rank: &str| -> String {
        let s = match params.ties {
            Ties::First => format!(
                "GREATEST(1, {})",
                d.div(
                    &format!("{b} * ({rank} - 1) + {n} - 2"),
                    &format!("{n} - 1")
                )
            ),
            Ties::Average => format!(
                "LEAST({b}, GREATEST(1, {}))",
                d.div(
                    &format!("{b} * ({rank} - 2) + 2 * ({n} - 1) - 1"),
                    &format!("2 * ({n} - 1)")
                )
            ),
        };
        format!("CAST(CASE WHEN {n} <= 1 THEN 1 ELSE {s} END AS BIGINT)")
    };
    let mut case = String::from("CASE");
    for (rule, cond) in rules.rules.iter().zip(&conds) {
        case.push_str(&format!(
            "\n             WHEN {} THEN {}",
            cond_sql(d, cond, &expr_of)?,
            d.string(&rule.name)
        ));
    }
    case.push_str(&match &rules.default {
        Some(name) => format!("\n             ELSE {} END", d.string(name)),
        None => format!("\n             ELSE CAST(NULL AS {}) END", d.text()),
    });
    if rules.rules.is_empty() {
        case = match &rules.default {
            Some(name) => d.string(name),
            None => format!("CAST(NULL AS {})", d.text()),
        };
    }
    let join = if used_attrs.is_empty() {
        String::new()
    } else {
        let cols: Vec<String> = used_attrs
            .iter()
            .map(|&v| {
                let spec = attrs[v - 3 - MART_VARIABLES.len()];
                let ty = match spec.ty {
                    ColType::Str => d.text(),
                    ColType::Int => "BIGINT",
                    ColType::Float => d.double(),
                    ColType::Bool => "BOOLEAN",
                    ColType::Date => "DATE",
                    ColType::Timestamp => "TIMESTAMP",
                };
                format!(
                    "CAST({} AS {ty}) AS {}",
                    p.col(TableKind::Customers, spec.name),
                    d.ident(spec.name)
                )
            })
            .collect();
        format!(
            "\nLEFT JOIN (
    SELECT CAST({} AS {}) AS customer_id, {}
    FROM {}
) c ON c.customer_id = s.customer_id",
            p.col(TableKind::Customers, "customer_id"),
            d.text(),
            cols.join(", "),
            d.table(&p.customers)
        )
    };
    Ok(format!(
        "{mart},
ranked AS (
    SELECT mart.*,
           COUNT(*) OVER () AS {n},
           {rr} AS rank_r,
           {rf} AS rank_f,
           {rm} AS rank_m
    FROM mart
),
scored AS (
    SELECT ranked.*,
           {b} + 1 - {sr} AS {R},
           {sf} AS {F},
           {sm} AS {M}
    FROM ranked
)
SELECT s.customer_id, s.recency_days, s.frequency, s.monetary, s.{R}, s.{F}, s.{M},
       {case} AS segment
FROM scored s{join}
ORDER BY {order}
",
        mart = mart_ctes(p)?,
        rr = rank_r.replace("{id}", &id),
        rf = rank_f.replace("{id}", &id),
        rm = rank_m.replace("{id}", &id),
        sr = score("rank_r"),
        sf = score("rank_f"),
        sm = score("rank_m"),
        R = d.ident("R"),
        F = d.ident("F"),
        M = d.ident("M"),
        order = d.bytes("s.customer_id"),
    ))
}

/// A condition as a two-valued SQL boolean: every test is `COALESCE(test, FALSE)`.
fn cond_sql(d: Dialect, c: &Cond, vars: &[(String, Kind)]) -> Result<String> {
    let leaf = |t: String| format!("COALESCE({t}, FALSE)");
    Ok(match c {
        Cond::And(a, b) => format!("({} AND {})", cond_sql(d, a, vars)?, cond_sql(d, b, vars)?),
        Cond::Or(a, b) => format!("({} OR {})", cond_sql(d, a, vars)?, cond_sql(d, b, vars)?),
        Cond::Not(a) => format!("(NOT {})", cond_sql(d, a, vars)?),
        Cond::Cmp(i, op, lit) => compare_sql(d, &vars[*i], *op, lit)?
            .map(leaf)
            .unwrap_or_else(|| "FALSE".into()),
        Cond::In(i, set) => {
            let tests: Vec<String> = set
                .iter()
                .map(|l| compare_sql(d, &vars[*i], Op::Eq, l))
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .flatten()
                .map(leaf)
                .collect();
            if tests.is_empty() {
                "FALSE".into()
            } else {
                format!("({})", tests.join(" OR "))
            }
        }
        Cond::Range(i, lo, hi) => match vars[*i].1 {
            Kind::Num => leaf(format!(
                "({} BETWEEN {} AND {})",
                vars[*i].0,
                d.threshold(*lo)?,
                d.threshold(*hi)?
            )),
            _ => "FALSE".into(),
        },
        Cond::Truthy(i) => match vars[*i].1 {
            Kind::Bool => leaf(vars[*i].0.clone()),
            Kind::Num => leaf(format!("({} <> 0)", vars[*i].0)),
            Kind::Str => "FALSE".into(),
        },
        Cond::Const(b) => if *b { "TRUE" } else { "FALSE" }.into(),
    })
}

/// `var op literal`, or `None` when the two cannot be compared (segmint: false).
fn compare_sql(d: Dialect, var: &(String, Kind), op: Op, lit: &Value) -> Result<Option<String>> {
    let sym = match op {
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Eq => "=",
        Op::Ne => "<>",
    };
    let (e, kind) = var;
    Ok(match (kind, lit) {
        (Kind::Num, Value::Num(x)) => Some(format!("({e} {sym} {})", d.threshold(*x)?)),
        (Kind::Str, Value::Str(s)) => Some(format!("({} {sym} {})", d.bytes(e), d.string(s))),
        (Kind::Bool, Value::Bool(b)) => {
            Some(format!("({e} {sym} {})", if *b { "TRUE" } else { "FALSE" }))
        }
        (Kind::Bool, Value::Num(x)) => Some(format!(
            "((CASE WHEN {e} THEN 1 ELSE 0 END) {sym} {})",
            d.threshold(*x)?
        )),
        _ => None,
    })
}

/// The cohort table of [`crate::cohorts`] (first-purchase cohorts, no `by` split): `cohort,
/// period, customers, active, retention, orders, revenue, revenue_per_customer,
/// cumulative_revenue_per_customer`, sorted by cohort and period. Revenue sums are rounded to
/// cents as the mart's `monetary`, and the running revenue is the rounded running sum divided
/// by the cohort's size, so every engine gives the same doubles.
pub fn cohorts_sql(p: &SqlParams, period: crate::cohorts::Period) -> Result<String> {
    use crate::cohorts::Period;
    check_names(p)?;
    let d = p.dialect;
    let tx = |c: &str| p.col(TableKind::Transactions, c);
    let ts = p.timestamp();
    let (text, dbl) = (d.text(), d.double());
    // the calendar date of a day number
    let date_of = |days: &str| match d {
        Dialect::Spark => format!("date_add(DATE '1970-01-01', CAST({days} AS INT))"),
        _ => format!("(DATE '1970-01-01' + CAST({days} AS INTEGER))"),
    };
    let month_index = |days: &str| {
        let date = date_of(days);
        format!(
            "(CAST(EXTRACT(YEAR FROM {date}) AS BIGINT) * 12 + CAST(EXTRACT(MONTH FROM {date}) AS BIGINT) - 1)"
        )
    };
    let index = match period {
        // 1970-01-01 is a Thursday: day + 3 counts from the Monday before
        Period::Week => d.div("day_ + 3", "7"),
        Period::Month => month_index("day_"),
        Period::Quarter => d.div(&month_index("day_"), "3"),
    };
    let start = match period {
        Period::Week => date_of("p0 * 7 - 3"),
        Period::Month => format!(
            "make_date(CAST({} AS INT), CAST(MOD(p0, 12) + 1 AS INT), 1)",
            d.div("p0", "12")
        ),
        Period::Quarter => format!(
            "make_date(CAST({} AS INT), CAST(MOD(p0 * 3, 12) + 1 AS INT), 1)",
            d.div("p0 * 3", "12")
        ),
    };
    let running = match d {
        Dialect::DuckDb | Dialect::Spark => "round(sum(revenue) OVER w, 2)".to_string(),
        Dialect::Postgres | Dialect::Portable => {
            "CAST(round(sum(CAST(revenue AS NUMERIC)) OVER w, 2) AS DOUBLE PRECISION)".to_string()
        }
    };
    let digits = "(VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) AS v(n)";
    Ok(format!(
        "WITH t AS (
    SELECT CAST({cid} AS {text}) AS customer_id,
           CAST({oid} AS {text}) AS order_id,
           CAST({amount} AS {dbl}) AS amount,
           {day} AS day_
    FROM {table}
),
tp AS (
    SELECT customer_id, order_id, amount, {index} AS p FROM t
),
firsts AS (
    SELECT customer_id, MIN(p) AS p0 FROM tp WHERE amount > 0 GROUP BY customer_id
),
sizes AS (
    SELECT p0, COUNT(*) AS customers FROM firsts GROUP BY p0
),
acts AS (
    SELECT f.p0, tp.p - f.p0 AS k, tp.customer_id, tp.order_id, tp.amount
    FROM tp JOIN firsts f ON f.customer_id = tp.customer_id
    WHERE tp.p >= f.p0
),
per_customer AS (
    SELECT p0, k, customer_id,
           COUNT(DISTINCT CASE WHEN amount > 0 THEN order_id END) AS orders,
           SUM(CASE WHEN amount > 0 THEN 1 ELSE 0 END) AS purchases
    FROM acts GROUP BY p0, k, customer_id
),
activity AS (
    SELECT p0, k,
           SUM(CASE WHEN purchases > 0 THEN 1 ELSE 0 END) AS active,
           SUM(orders) AS orders
    FROM per_customer GROUP BY p0, k
),
money AS (
    SELECT p0, k, {revenue} AS revenue FROM acts GROUP BY p0, k
),
last_p AS (
    SELECT MAX(p) AS last FROM tp
),
nums AS (
    SELECT a.n + 10 * b.n + 100 * c.n + 1000 * e.n AS k
    FROM {digits} CROSS JOIN {digits2} CROSS JOIN {digits3} CROSS JOIN {digits4}
),
grid AS (
    SELECT s.p0, n.k, s.customers
    FROM sizes s CROSS JOIN last_p l JOIN nums n ON n.k <= l.last - s.p0
),
cells AS (
    SELECT g.p0, g.k, g.customers,
           CAST(COALESCE(a.active, 0) AS BIGINT) AS active,
           CAST(COALESCE(a.orders, 0) AS BIGINT) AS orders,
           COALESCE(m.revenue, CAST(0 AS {dbl})) AS revenue
    FROM grid g
    LEFT JOIN activity a ON a.p0 = g.p0 AND a.k = g.k
    LEFT JOIN money m ON m.p0 = g.p0 AND m.k = g.k
)
SELECT {start} AS cohort,
       CAST(k AS BIGINT) AS period,
       CAST(customers AS BIGINT) AS customers,
       active,
       CAST(active AS {dbl}) / CAST(customers AS {dbl}) AS retention,
       orders,
       revenue,
       revenue / CAST(customers AS {dbl}) AS revenue_per_customer,
       ({running} + CAST(0 AS {dbl})) / CAST(customers AS {dbl}) AS cumulative_revenue_per_customer
FROM cells
WINDOW w AS (PARTITION BY p0 ORDER BY k ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY p0, k
",
        cid = tx("customer_id"),
        oid = tx("order_id"),
        amount = tx("amount"),
        day = d.day(&ts),
        table = d.table(&p.transactions),
        revenue = d.money_sum("amount"),
        digits2 = digits.replace("v(n)", "b(n)"),
        digits3 = digits.replace("v(n)", "c(n)"),
        digits4 = digits.replace("v(n)", "e(n)"),
        digits = digits.replace("v(n)", "a(n)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_cannot_escape() {
        let d = Dialect::Postgres;
        assert_eq!(d.ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(d.table("s.t"), "\"s\".\"t\"");
        assert_eq!(d.string("O'Brien"), "'O''Brien'");
        assert_eq!(Dialect::Spark.ident("a`b"), "`a``b`");
        assert_eq!(
            Dialect::Spark.string("x';--"),
            "decode(unhex('78273B2D2D'), 'UTF-8')"
        );
    }

    #[test]
    fn rules_become_two_valued_case_arms() {
        let rules = RuleSet::from_toml(
            "default = \"Rest\"\n[[segments]]\nname = \"It's VIP\"\nwhen = \"R >= 4 and not premium and primary_region in ['EU', 'US'] and F in 2..3 and region > 1\"\n",
            "test",
        )
        .unwrap();
        let sql = rfm_sql(
            &SqlParams::new(Dialect::Postgres),
            &rules,
            &RfmParams::default(),
        )
        .unwrap();
        assert!(sql.contains("COALESCE((s.\"R\" >= 4), FALSE)"), "{sql}");
        assert!(
            sql.contains("(NOT COALESCE(c.\"premium\", FALSE))"),
            "{sql}"
        );
        assert!(
            sql.contains("COALESCE((s.\"primary_region\" COLLATE \"C\" = 'EU'), FALSE)"),
            "{sql}"
        );
        assert!(
            sql.contains("COALESCE((s.\"F\" BETWEEN 2 AND 3), FALSE)"),
            "{sql}"
        );
        // a string attribute compared with a number is false, as in segmint
        assert!(sql.contains("AND FALSE) THEN 'It''s VIP'"), "{sql}");
        assert!(sql.contains("ELSE 'Rest' END AS segment"), "{sql}");
        assert!(sql.contains("LEFT JOIN"), "{sql}");
    }

    #[test]
    fn dialects_use_their_own_functions() {
        for (d, needle) in [
            (Dialect::DuckDb, "epoch_us"),
            (Dialect::Postgres, "extract(epoch FROM"),
            (Dialect::Spark, "unix_micros"),
            (Dialect::Portable, "DATE '1970-01-01'"),
        ] {
            let mut p = SqlParams::new(d);
            p.ref_day = Some(20454);
            let sql = mart_sql(&p).unwrap();
            assert!(sql.contains(needle), "{d}: {sql}");
            assert!(
                sql.contains("SELECT CAST(20454 AS BIGINT) AS ref_day\n"),
                "{d}"
            );
        }
        let bad = SqlParams {
            transactions: "a..b".into(),
            ..SqlParams::new(Dialect::DuckDb)
        };
        assert!(mart_sql(&bad).is_err());
    }
}
