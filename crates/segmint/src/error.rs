//! One error type for the library. Every variant names where the problem is (file, row,
//! column, value) so that the CLI can print it on one line and exit with code 2.

use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors from reading, validating and computing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error on a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be read as the format its extension says.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Required columns are missing.
    #[error("{}: missing column{} {} (found: {}){}", path.display(), if missing.len() > 1 { "s" } else { "" }, missing.join(", "), if found.is_empty() { "none".to_string() } else { found.join(", ") }, hint)]
    MissingColumns {
        /// The file.
        path: PathBuf,
        /// The columns missing.
        missing: Vec<String>,
        /// The columns the file has.
        found: Vec<String>,
        /// What to do about it (empty, or starting with `; `).
        hint: String,
    },
    /// A column has a type that cannot hold the expected values.
    #[error("{}: column {column} has type {found}, expected {expected}", path.display())]
    ColumnType {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The types that would do.
        expected: String,
        /// The column's type.
        found: String,
    },
    /// One value in one row is bad (unparseable, null where required, out of range).
    #[error("{}: row {row}, column {column}: {problem} (value: {value})", path.display())]
    Value {
        /// The file.
        path: PathBuf,
        /// 1-based data row (the header is not counted).
        row: u64,
        /// The column as named in the file.
        column: String,
        /// The value (shortened when long).
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The file has no data rows.
    #[error("{}: {message}", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// A parameter of an analysis is out of its range: `param` is its name in the params
    /// struct (`bins`, `calibration_end`); front ends show it their own way (the CLI as its
    /// flag, `--bins`).
    #[error("{param} {problem}")]
    Param {
        /// The parameter's name, snake_case.
        param: String,
        /// What is wrong, starting with a verb (`must be 2..100, got 1`).
        problem: String,
    },
    /// A bad option or configuration value.
    #[error("{0}")]
    Config(String),
    /// Input is well-formed but cannot produce a result (e.g. no purchases at all).
    #[error("{0}")]
    Data(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn format(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Error::Format {
            path: path.into(),
            message: message.to_string(),
        }
    }
    /// A parameter error (see [`Error::Param`]).
    pub fn param(param: &str, problem: impl std::fmt::Display) -> Self {
        Error::Param {
            param: param.to_string(),
            problem: problem.to_string(),
        }
    }
    /// 1-based data row of the problem, when the error is about one value.
    pub fn row(&self) -> Option<u64> {
        match self {
            Error::Value { row, .. } => Some(*row),
            _ => None,
        }
    }
}

/// Shortens a value for an error message and makes control characters visible.
pub(crate) fn show_value(v: &str) -> String {
    let mut s: String = v.chars().take(60).collect();
    if v.chars().count() > 60 {
        s.push('…');
    }
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parameter error names the parameter as the params struct spells it (front ends map it
    /// to their own spelling, the CLI to its flag), never a command-line flag.
    #[test]
    fn parameter_errors_name_the_parameter() {
        let e = crate::demo::DemoParams {
            customers: 0,
            ..Default::default()
        }
        .check()
        .unwrap_err();
        assert!(
            matches!(&e, Error::Param { param, .. } if param == "customers"),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "customers must be at least 1");
        let e = crate::demo::DemoParams {
            return_rate: 0.7,
            ..Default::default()
        }
        .check()
        .unwrap_err();
        assert_eq!(e.to_string(), "return_rate must be in [0, 0.5), got 0.7");
    }
}
