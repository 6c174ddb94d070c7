//! Column mapping: which column of the user's file holds each canonical column, and how the
//! user's files are read (time formats, time zone, rows without an id, delimiter, encoding).
//!
//! On the command line: `--columns amount=revenue,timestamp=order_date` (applies to every table
//! that has the canonical column) or `--columns transactions.timestamp=order_date` (one table).
//! A source may also be an expression over the file's columns ([`crate::data::expr`]):
//! `--columns amount="Quantity * UnitPrice"`, or `customer_id=@row` for a file without ids.
//! In a TOML config file:
//!
//! ```toml
//! [columns]                 # every table
//! amount = "revenue"
//!
//! [columns.events]          # one table
//! timestamp = "event_time"
//! ```

use std::collections::BTreeMap;

use crate::data::schema::TableKind;
use crate::error::{Error, Result};

/// Canonical column name -> name in the user's file (or an expression over its columns),
/// globally and per table, with the options for reading the user's files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap {
    global: BTreeMap<String, String>,
    per_table: BTreeMap<(TableKind, String), String>,
    time_formats: BTreeMap<(Option<TableKind>, Option<String>), TimeFormat>,
    /// The time zone of timestamps written without an offset (default UTC).
    pub timezone: Option<TimeZone>,
    /// What to do with rows whose id is missing.
    pub missing_ids: MissingIds,
    /// How text files are split and decoded, and which sheet of a workbook is read.
    pub file: FileOptions,
}

/// What to do with a row whose id column (`customer_id`, `order_id`, `user_id`, `session_id`)
/// is empty or null.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MissingIds {
    /// Stop with an error naming the row (the default: ids are rarely missing by design).
    #[default]
    Error,
    /// Leave the row out, and count the rows (and their amount) left out per table.
    Drop,
}

impl MissingIds {
    /// `error` or `drop`.
    pub fn parse(s: &str) -> Result<MissingIds> {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" => Ok(MissingIds::Error),
            "drop" => Ok(MissingIds::Drop),
            _ => Err(Error::param(
                "missing_ids",
                format!("must be error or drop, not {s:?}"),
            )),
        }
    }
}

/// How a timestamp or date column's text (or integers) are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// A strftime format such as `%Y%m%d` or `%d.%m.%Y %H:%M:%S` (chrono's specifiers).
    Strftime(String),
    /// Integer seconds since 1970-01-01 UTC.
    EpochSeconds,
    /// Integer milliseconds since 1970-01-01 UTC.
    EpochMillis,
}

impl TimeFormat {
    /// `epoch_s`, `epoch_ms` or a strftime format (it must contain a `%` specifier).
    pub fn parse(s: &str) -> Result<TimeFormat> {
        let t = s.trim();
        match t {
            "epoch_s" | "epoch" => Ok(TimeFormat::EpochSeconds),
            "epoch_ms" => Ok(TimeFormat::EpochMillis),
            _ if t.contains('%') => {
                crate::data::timeparse::check_format(t)
                    .map_err(|e| Error::param("timestamp_format", e))?;
                Ok(TimeFormat::Strftime(t.to_string()))
            }
            _ => Err(Error::param(
                "timestamp_format",
                format!("{t:?} is not a format: expected epoch_s, epoch_ms or strftime such as %Y%m%d or %d/%m/%Y %H:%M"),
            )),
        }
    }
}

impl std::fmt::Display for TimeFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimeFormat::Strftime(s) => f.write_str(s),
            TimeFormat::EpochSeconds => f.write_str("epoch_s"),
            TimeFormat::EpochMillis => f.write_str("epoch_ms"),
        }
    }
}

/// An IANA time zone such as `Europe/London`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

impl TimeZone {
    /// Parses an IANA name (`Europe/London`, `America/New_York`, `UTC`).
    pub fn parse(s: &str) -> Result<TimeZone> {
        s.trim().parse::<chrono_tz::Tz>().map(TimeZone).map_err(|_| {
            Error::param(
                "timezone",
                format!("{s:?} is not an IANA time zone name (e.g. Europe/London, America/New_York, UTC)"),
            )
        })
    }
}

/// How a text file is split into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delimiter {
    /// One byte such as `,`, `;`, `\t` or `|`.
    Byte(u8),
    /// Runs of spaces and tabs (fixed-width exports such as CDNOW's); no quoting.
    Whitespace,
}

impl Delimiter {
    /// `,` `;` `|` `tab` (or a tab character), `whitespace`, or any other single ASCII character.
    pub fn parse(s: &str) -> Result<Delimiter> {
        match s {
            "tab" | "\\t" | "\t" => Ok(Delimiter::Byte(b'\t')),
            "whitespace" | "space" | "spaces" => Ok(Delimiter::Whitespace),
            _ if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" && s != "\r" => {
                Ok(Delimiter::Byte(s.as_bytes()[0]))
            }
            _ => Err(Error::param(
                "delimiter",
                format!("{s:?} is not a delimiter: expected one character such as ; or |, tab, or whitespace"),
            )),
        }
    }
}

/// The character encoding of a text file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (a byte-order mark is skipped).
    #[default]
    Utf8,
    /// ISO-8859-1 (Latin-1): every byte is one character.
    Latin1,
}

impl Encoding {
    /// `utf-8` or `latin1` (also `utf8`, `latin-1`, `iso-8859-1`).
    pub fn parse(s: &str) -> Result<Encoding> {
        match s.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" => Ok(Encoding::Latin1),
            _ => Err(Error::param(
                "encoding",
                format!("must be utf-8 or latin1, not {s:?}"),
            )),
        }
    }
}

/// How the user's files are read, beyond their columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileOptions {
    /// The field delimiter of text files; `None`: guessed from the header line among `,` `;`
    /// tab and `|` (a comma when none is there).
    pub delimiter: Option<Delimiter>,
    /// The encoding of text files.
    pub encoding: Encoding,
    /// Text files have no header line: their columns are named `column_1`, `column_2`, ...
    pub no_header: bool,
    /// The sheet of an Excel workbook to read (default: the first).
    pub sheet: Option<String>,
}

impl ColumnMap {
    /// An empty map: every canonical column under its own name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one mapping. `table` None applies it to every table with that canonical column.
    pub fn insert(
        &mut self,
        table: Option<TableKind>,
        canonical: &str,
        source: &str,
    ) -> Result<()> {
        let known = match table {
            Some(t) => t.column(canonical).is_some(),
            None => TableKind::ALL.iter().any(|t| t.column(canonical).is_some()),
        };
        if !known {
            let scope = table
                .map(|t| format!("table {t}"))
                .unwrap_or_else(|| "any table".into());
            return Err(Error::Config(format!(
                "column mapping: {canonical:?} is not a column of {scope} (see SCHEMA in the README)"
            )));
        }
        if source.is_empty() {
            return Err(Error::Config(format!(
                "column mapping: empty source name for {canonical:?}"
            )));
        }
        match table {
            Some(t) => self
                .per_table
                .insert((t, canonical.to_string()), source.to_string()),
            None => self
                .global
                .insert(canonical.to_string(), source.to_string()),
        };
        Ok(())
    }

    /// Parses `canonical=source[,canonical=source...]`, where canonical may be `table.column`
    /// and source a column name or an expression (commas inside parentheses or quotes do not
    /// split it: `amount=coalesce(a, b)`).
    pub fn parse_cli(&mut self, spec: &str) -> Result<()> {
        for part in split_top_level(spec)
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (lhs, rhs) = part.split_once('=').ok_or_else(|| {
                Error::Config(format!(
                    "column mapping {part:?}: expected CANONICAL=SOURCE, e.g. amount=revenue"
                ))
            })?;
            let (table, canonical) = split_table(lhs.trim())?;
            self.insert(table, canonical, rhs.trim())?;
        }
        Ok(())
    }

    /// Reads the `[columns]` table of a parsed TOML config.
    pub fn from_toml(value: &toml::Value) -> Result<Self> {
        let mut map = ColumnMap::new();
        let tbl = value
            .as_table()
            .ok_or_else(|| Error::Config("config: [columns] must be a table".into()))?;
        for (key, v) in tbl {
            match v {
                toml::Value::String(s) => map.insert(None, key, s)?,
                toml::Value::Table(inner) => {
                    let table = TableKind::from_name(key).ok_or_else(|| {
                        Error::Config(format!(
                            "config: [columns.{key}]: unknown table (expected customers, transactions or events)"
                        ))
                    })?;
                    for (k, v) in inner {
                        let s = v.as_str().ok_or_else(|| {
                            Error::Config(format!("config: columns.{key}.{k} must be a string"))
                        })?;
                        map.insert(Some(table), k, s)?;
                    }
                }
                _ => {
                    return Err(Error::Config(format!(
                        "config: columns.{key} must be a string or a table"
                    )))
                }
            }
        }
        Ok(map)
    }

    /// Later mappings (e.g. from the command line) override earlier ones (e.g. from a file);
    /// the reading options are those of `other` where it sets them.
    pub fn merge(&mut self, other: &ColumnMap) {
        self.global
            .extend(other.global.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.per_table
            .extend(other.per_table.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.time_formats.extend(
            other
                .time_formats
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        if other.timezone.is_some() {
            self.timezone = other.timezone;
        }
        if other.missing_ids != MissingIds::Error {
            self.missing_ids = other.missing_ids;
        }
        let f = &other.file;
        if f.delimiter.is_some() {
            self.file.delimiter = f.delimiter;
        }
        if f.encoding != Encoding::Utf8 {
            self.file.encoding = f.encoding;
        }
        self.file.no_header |= f.no_header;
        if f.sheet.is_some() {
            self.file.sheet = f.sheet.clone();
        }
    }

    /// Parses `--timestamp-format`: one format for every timestamp and date column
    /// (`%Y%m%d`), or per column as `[table.]column=FORMAT[,...]`
    /// (`transactions.timestamp=%d.%m.%Y %H:%M,customers.signup_date=%d.%m.%Y`).
    pub fn parse_time_formats(&mut self, spec: &str) -> Result<()> {
        let spec = spec.trim();
        let is_mapping = match (spec.find('='), spec.find('%')) {
            (Some(eq), Some(pct)) => eq < pct,
            (Some(_), None) => true,
            _ => false,
        };
        if !is_mapping {
            self.time_formats
                .insert((None, None), TimeFormat::parse(spec)?);
            return Ok(());
        }
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (lhs, rhs) = part.split_once('=').ok_or_else(|| {
                Error::param(
                    "timestamp_format",
                    format!("{part:?}: expected [TABLE.]COLUMN=FORMAT, e.g. transactions.timestamp=%Y%m%d"),
                )
            })?;
            let (table, column) = split_table(lhs.trim())?;
            self.time_formats
                .insert((table, Some(column.to_string())), TimeFormat::parse(rhs)?);
        }
        Ok(())
    }

    /// Sets the format of one column (`None` table: that column in every table; `None`
    /// column: every timestamp and date column).
    pub fn set_time_format(
        &mut self,
        table: Option<TableKind>,
        column: Option<&str>,
        format: TimeFormat,
    ) {
        self.time_formats
            .insert((table, column.map(str::to_string)), format);
    }

    /// The format of a timestamp or date column of a table (canonical name or the file's own
    /// name for other columns): the most specific setting, `None` for the built-in forms.
    pub fn time_format(&self, table: TableKind, column: &str) -> Option<&TimeFormat> {
        let col = Some(column.to_string());
        self.time_formats
            .get(&(Some(table), col.clone()))
            .or_else(|| self.time_formats.get(&(None, col)))
            .or_else(|| self.time_formats.get(&(Some(table), None)))
            .or_else(|| self.time_formats.get(&(None, None)))
    }

    /// The format of a table's timestamp and date columns that have no format of their own.
    pub fn table_time_format(&self, table: TableKind) -> Option<&TimeFormat> {
        self.time_formats
            .get(&(Some(table), None))
            .or_else(|| self.time_formats.get(&(None, None)))
    }

    /// Whether the user named a source for the canonical column of a table.
    pub fn is_mapped(&self, table: TableKind, canonical: &str) -> bool {
        self.per_table.contains_key(&(table, canonical.to_string()))
            || self.global.contains_key(canonical)
    }

    /// The user's name for a canonical column of a table (the canonical name when unmapped).
    pub fn source_name<'a>(&'a self, table: TableKind, canonical: &'a str) -> &'a str {
        self.per_table
            .get(&(table, canonical.to_string()))
            .or_else(|| self.global.get(canonical))
            .map(String::as_str)
            .unwrap_or(canonical)
    }

    /// No column renamed.
    pub fn is_empty(&self) -> bool {
        self.global.is_empty() && self.per_table.is_empty()
    }
}

/// Splits at commas outside parentheses and quotes.
fn split_top_level(spec: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i64, None::<char>, 0);
    for (i, c) in spec.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth <= 0 => {
                parts.push(&spec[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&spec[start..]);
    parts
}

fn split_table(lhs: &str) -> Result<(Option<TableKind>, &str)> {
    match lhs.split_once('.') {
        Some((t, c)) => {
            let table = TableKind::from_name(t).ok_or_else(|| {
                Error::Config(format!(
                    "column mapping {lhs:?}: unknown table {t:?} (expected customers, transactions or events)"
                ))
            })?;
            Ok((Some(table), c))
        }
        None => Ok((None, lhs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_and_toml() {
        let mut m = ColumnMap::new();
        m.parse_cli("amount=revenue, transactions.timestamp=order_date")
            .unwrap();
        assert_eq!(m.source_name(TableKind::Transactions, "amount"), "revenue");
        assert_eq!(
            m.source_name(TableKind::Transactions, "timestamp"),
            "order_date"
        );
        assert_eq!(m.source_name(TableKind::Events, "timestamp"), "timestamp");
        let v: toml::Value =
            toml::from_str("amount = \"rev\"\n[events]\ntimestamp = \"t\"\n").unwrap();
        let f = ColumnMap::from_toml(&v).unwrap();
        assert_eq!(f.source_name(TableKind::Events, "timestamp"), "t");
        let mut merged = f.clone();
        merged.merge(&m);
        assert_eq!(
            merged.source_name(TableKind::Transactions, "amount"),
            "revenue"
        );
    }

    #[test]
    fn expressions_and_options() {
        let mut m = ColumnMap::new();
        m.parse_cli("customer_id=CustomerID,amount=coalesce(a, b) * round(c, 2),order_id=@row")
            .unwrap();
        assert_eq!(
            m.source_name(TableKind::Transactions, "amount"),
            "coalesce(a, b) * round(c, 2)"
        );
        assert_eq!(m.source_name(TableKind::Transactions, "order_id"), "@row");
        m.parse_time_formats("%Y%m%d").unwrap();
        m.parse_time_formats("customers.signup_date=%d.%m.%Y,timestamp=epoch_ms")
            .unwrap();
        assert_eq!(
            m.time_format(TableKind::Transactions, "timestamp"),
            Some(&TimeFormat::EpochMillis)
        );
        assert_eq!(
            m.time_format(TableKind::Customers, "signup_date"),
            Some(&TimeFormat::Strftime("%d.%m.%Y".into()))
        );
        assert_eq!(
            m.time_format(TableKind::Customers, "other"),
            Some(&TimeFormat::Strftime("%Y%m%d".into()))
        );
        assert!(m
            .parse_time_formats("YYYYMMDD")
            .unwrap_err()
            .to_string()
            .contains("is not a format"));
        assert!(m
            .parse_time_formats("%Q")
            .unwrap_err()
            .to_string()
            .contains("timestamp_format"));
        assert!(TimeZone::parse("Europe/Lodnon").is_err());
        assert_eq!(Delimiter::parse("tab").unwrap(), Delimiter::Byte(b'\t'));
        assert_eq!(Delimiter::parse(";").unwrap(), Delimiter::Byte(b';'));
        assert!(Delimiter::parse(";;").is_err());
        assert_eq!(Encoding::parse("Latin-1").unwrap(), Encoding::Latin1);
        assert!(MissingIds::parse("skip").is_err());
    }

    #[test]
    fn errors() {
        let mut m = ColumnMap::new();
        assert!(m
            .parse_cli("amount")
            .unwrap_err()
            .to_string()
            .contains("expected CANONICAL=SOURCE"));
        assert!(m
            .parse_cli("bogus=x")
            .unwrap_err()
            .to_string()
            .contains("\"bogus\" is not a column"));
        assert!(m
            .parse_cli("orders.amount=x")
            .unwrap_err()
            .to_string()
            .contains("unknown table"));
    }
}
