//! Column mapping: which column of the user's file holds each canonical column.
//!
//! On the command line: `--columns amount=revenue,timestamp=order_date` (applies to every table
//! that has the canonical column) or `--columns transactions.timestamp=order_date` (one table).
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

/// Canonical column name -> name in the user's file, globally and per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap {
    global: BTreeMap<String, String>,
    per_table: BTreeMap<(TableKind, String), String>,
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

    /// Parses `canonical=source[,canonical=source...]`, where canonical may be `table.column`.
    pub fn parse_cli(&mut self, spec: &str) -> Result<()> {
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
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

    /// Later mappings (e.g. from the command line) override earlier ones (e.g. from a file).
    pub fn merge(&mut self, other: &ColumnMap) {
        self.global
            .extend(other.global.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.per_table
            .extend(other.per_table.iter().map(|(k, v)| (k.clone(), v.clone())));
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
