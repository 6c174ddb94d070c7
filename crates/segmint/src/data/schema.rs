//! The canonical input tables (see `../shared/bench/SCHEMA.md`): their columns, the type each is
//! read as, and which are required.

use std::fmt;

/// The three input tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableKind {
    /// The customers table.
    Customers,
    /// The transactions table.
    Transactions,
    /// The clickstream events table.
    Events,
    /// Any other table (e.g. a ready-made training table): no canonical columns, every column
    /// read by its own name.
    Other,
}

impl TableKind {
    /// Every table kind.
    pub const ALL: [TableKind; 3] = [
        TableKind::Customers,
        TableKind::Transactions,
        TableKind::Events,
    ];

    /// File stem and config name: `customers`, `transactions`, `events`.
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Customers => "customers",
            TableKind::Transactions => "transactions",
            TableKind::Events => "events",
            TableKind::Other => "table",
        }
    }

    /// The kind of a table name (`customers`, `transactions`, `events`).
    pub fn from_name(s: &str) -> Option<TableKind> {
        TableKind::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The columns of the table, in canonical order.
    pub fn columns(self) -> &'static [ColumnSpec] {
        match self {
            TableKind::Customers => CUSTOMERS,
            TableKind::Transactions => TRANSACTIONS,
            TableKind::Events => EVENTS,
            TableKind::Other => &[],
        }
    }

    /// The column spec of a canonical column.
    pub fn column(self, name: &str) -> Option<&'static ColumnSpec> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// The column holding the customer key.
    pub fn customer_key(self) -> &'static str {
        match self {
            TableKind::Events => "user_id",
            _ => "customer_id",
        }
    }
}

impl fmt::Display for TableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The logical type a column is read as. Physical types are converted when lossless
/// (e.g. int32 to int64, any timestamp unit to microseconds, strings to numbers when they parse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// UTF-8 string (Arrow `Utf8`).
    Str,
    /// 64-bit integer.
    Int,
    /// 64-bit float; NaN and infinities are rejected.
    Float,
    /// Boolean (`true/false`, `1/0`, `yes/no` in text).
    Bool,
    /// Calendar date (Arrow `Date32`).
    Date,
    /// Instant in UTC, microseconds (Arrow `Timestamp(us, "UTC")`).
    Timestamp,
}

impl ColType {
    /// What the table holds, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            ColType::Str => "string",
            ColType::Int => "integer",
            ColType::Float => "number",
            ColType::Bool => "boolean",
            ColType::Date => "date (YYYY-MM-DD)",
            ColType::Timestamp => "timestamp",
        }
    }
}

/// One canonical column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnSpec {
    /// Canonical name.
    pub name: &'static str,
    /// Its type.
    pub ty: ColType,
    /// The file must have the column.
    pub required: bool,
    /// Identifier: null or empty values are hard errors.
    pub id: bool,
    /// Null values are expected (otherwise a null is a validation warning).
    pub nullable: bool,
}

const fn col(
    name: &'static str,
    ty: ColType,
    required: bool,
    id: bool,
    nullable: bool,
) -> ColumnSpec {
    ColumnSpec {
        name,
        ty,
        required,
        id,
        nullable,
    }
}

use ColType::*;

/// The customers table's columns.
pub const CUSTOMERS: &[ColumnSpec] = &[
    col("customer_id", Str, true, true, false),
    col("signup_date", Date, false, false, false),
    col("age", Int, false, false, false),
    col("income", Float, false, false, false),
    col("credit_score", Int, false, false, false),
    col("premium", Bool, false, false, false),
    col("loyalty_points", Int, false, false, false),
    col("support_tickets", Int, false, false, false),
    col("region", Str, false, false, false),
    col("tier", Str, false, false, false),
    col("seller_group", Str, false, false, false),
    col("sale_success", Int, false, false, false),
];

/// The transactions table's columns.
pub const TRANSACTIONS: &[ColumnSpec] = &[
    col("customer_id", Str, true, true, false),
    col("order_id", Str, true, true, false),
    col("timestamp", Timestamp, true, false, false),
    col("amount", Float, true, false, false),
    col("quantity", Int, false, false, false),
    col("region", Str, false, false, false),
    col("payment_method", Str, false, false, false),
    col("category", Str, false, false, false),
];

/// The events table's columns.
pub const EVENTS: &[ColumnSpec] = &[
    col("user_id", Str, true, true, false),
    col("session_id", Str, true, true, false),
    col("timestamp", Timestamp, true, false, false),
    col("event_type", Str, true, false, false),
    col("product_id", Str, false, false, true),
    col("price", Float, false, false, true),
    col("device", Str, false, false, false),
    col("traffic_source", Str, false, false, false),
    col("order_id", Str, false, false, true),
];

/// Largest absolute amount accepted. Larger values are data errors (and would break the exact
/// sum in cents, which needs |cents| < 2^53).
pub const MAX_ABS_AMOUNT: f64 = 1e12;
