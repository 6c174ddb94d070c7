//! Input: table schemas, column mapping, readers and validation.

pub(crate) mod columns;
pub mod customers;
pub mod expr;
pub(crate) mod keys;
pub mod mapping;
pub mod reader;
pub mod schema;
pub mod text_file;
pub mod timeparse;
pub mod timestamp;
pub mod validate;
pub mod values;
pub mod workbook;

use std::path::{Path, PathBuf};

pub use mapping::ColumnMap;
pub use reader::{Chunk, Format, TableReader};
pub use schema::{ColType, ColumnSpec, TableKind};

use crate::error::{Error, Result};

/// Where the three input tables are: a data directory and/or explicit paths.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// A directory with `customers`, `transactions` and `events` files (Parquet or CSV).
    pub dir: Option<PathBuf>,
    /// The customers file (overrides the directory's).
    pub customers: Option<PathBuf>,
    /// The transactions file (overrides the directory's).
    pub transactions: Option<PathBuf>,
    /// The events file (overrides the directory's).
    pub events: Option<PathBuf>,
}

impl Inputs {
    /// The tables of a data directory.
    pub fn from_dir(dir: &Path) -> Self {
        Inputs {
            dir: Some(dir.to_path_buf()),
            ..Default::default()
        }
    }

    /// The file of a table: the explicit path, else `DIR/NAME.parquet` or `DIR/NAME.csv`.
    pub fn path(&self, kind: TableKind) -> Option<PathBuf> {
        let explicit = match kind {
            TableKind::Customers => &self.customers,
            TableKind::Transactions => &self.transactions,
            TableKind::Events => &self.events,
            TableKind::Other => &None,
        };
        explicit.clone().or_else(|| {
            self.dir
                .as_deref()
                .and_then(|d| reader::find_table_file(d, kind))
        })
    }

    /// Opens a table that the command needs; a clear error when it cannot be found.
    pub fn open(&self, kind: TableKind, map: &ColumnMap) -> Result<TableReader> {
        match self.path(kind) {
            Some(p) => {
                if !p.exists() {
                    return Err(Error::io(
                        &p,
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                    ));
                }
                TableReader::open(kind, &p, map)
            }
            None => Err(Error::Config(match &self.dir {
                Some(d) if !d.is_dir() => format!("{}: no such directory", d.display()),
                Some(d) => format!(
                    "{}: no {k}.parquet or {k}.csv found (or pass --{k} PATH)",
                    d.display(),
                    k = kind.name()
                ),
                None => format!(
                    "no input for {k}: pass --data DIR or --{k} PATH",
                    k = kind.name()
                ),
            })),
        }
    }

    /// Opens a table if it can be found; `None` when there is no file for it.
    pub fn open_optional(&self, kind: TableKind, map: &ColumnMap) -> Result<Option<TableReader>> {
        match self.path(kind) {
            Some(_) => self.open(kind, map).map(Some),
            None => Ok(None),
        }
    }
}
