//! A ready-made training table in any format segmint reads (Parquet or CSV): a label, features,
//! and optionally a `split` column (`train`/`test`) and a `cv_fold` column, like the bench
//! peers' `churn_features.parquet` (training on exactly the partitions another engine used).
//! Without them the split and the folds are made here, seeded and stratified for a 0/1 label.

use std::path::Path;

use arrow_array::ArrayRef;
use serde::{Deserialize, Serialize};

use super::{stratified_folds, stratified_split, Part, Table};
use crate::data::columns::{numbers, read_columns, texts};
use crate::data::customers::LeftOutColumn;
use crate::data::reader::TableReader;
use crate::data::{ColumnMap, TableKind};
use crate::error::{show_value, Error, Result};

/// Columns that are never default features.
const RESERVED: [&str; 5] = ["customer_id", "split", "cv_fold", "session_id", "user_id"];

/// How to read a training table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainTableParams {
    /// The label column: a number, a boolean (`TRUE`/`FALSE`, `yes`/`no`, 0/1) or text of two
    /// such values.
    pub label: String,
    /// Feature columns; empty: every other number or boolean column in file order.
    pub features: Vec<String>,
    /// Share of rows in the test split when the table has no `split` column (0.3).
    pub test_size: f64,
    /// Cross-validation folds when the table has no `cv_fold` column (5; 0 = none).
    pub folds: usize,
    /// Seed of the split and the folds made here (42).
    pub seed: u64,
}

impl Default for TrainTableParams {
    fn default() -> Self {
        TrainTableParams {
            label: "churn".into(),
            features: Vec::new(),
            test_size: 0.3,
            folds: 5,
            seed: 42,
        }
    }
}

impl TrainTableParams {
    /// Checks the parameters; the error names the parameter.
    pub fn check(&self) -> Result<()> {
        if !(self.test_size > 0.0 && self.test_size < 1.0) {
            return Err(Error::Config(format!(
                "test_size must be between 0 and 1, got {}",
                self.test_size
            )));
        }
        if self.folds == 1 {
            return Err(Error::Config(
                "folds must be 0 (no cross-validation) or at least 2".into(),
            ));
        }
        if self.label.is_empty() {
            return Err(Error::Config("label must name a column".into()));
        }
        Ok(())
    }
}

/// The contents of a training table.
#[derive(Debug, Clone)]
pub struct TrainTable {
    /// Customer id per row, when the table has one.
    pub customer_id: Option<Vec<String>>,
    /// Features.
    pub x: Table,
    /// Label.
    pub y: Vec<f64>,
    /// Train or test per row.
    pub split: Vec<Part>,
    /// Cross-validation fold per row of the training part.
    pub folds: Vec<u32>,
    /// Whether the split (and folds) were made here rather than read from the table.
    pub split_made: bool,
    /// Columns that could not be default features, with the reason.
    pub left_out: Vec<LeftOutColumn>,
}

/// Reads `path` as `params` say.
pub fn read_train_table(path: &Path, params: &TrainTableParams) -> Result<TrainTable> {
    params.check()?;
    let reader = TableReader::open(TableKind::Other, path, &ColumnMap::new())?;
    let names = reader.column_names();
    let label = params.label.as_str();
    if !reader.has_column(label) {
        return Err(Error::Format {
            path: path.to_path_buf(),
            message: format!(
                "label column {label:?} not found (columns: {}); name it with --label",
                names.join(", ")
            ),
        });
    }
    let explicit = !params.features.is_empty();
    let feature_names: Vec<String> = if explicit {
        if let Some(f) = params.features.iter().find(|f| !reader.has_column(f)) {
            return Err(Error::Format {
                path: path.to_path_buf(),
                message: format!(
                    "feature {f:?} is not a column (columns: {})",
                    names.join(", ")
                ),
            });
        }
        if params.features.iter().any(|f| f == label) {
            return Err(Error::Config(format!(
                "the label {label:?} cannot be a feature"
            )));
        }
        params.features.clone()
    } else {
        names
            .iter()
            .filter(|n| **n != label && !RESERVED.contains(n))
            .map(|n| n.to_string())
            .collect()
    };
    let mut wanted: Vec<&str> = vec![label];
    wanted.extend(
        ["split", "cv_fold", "customer_id"]
            .into_iter()
            .filter(|n| reader.has_column(n)),
    );
    wanted.extend(feature_names.iter().map(String::as_str));
    let columns = read_columns(&reader, &wanted)?;
    let column = |name: &str| &columns[wanted.iter().position(|w| *w == name).expect("wanted")];

    let y = numbers(column(label)).map_err(|(row, value, problem)| Error::Value {
        path: path.to_path_buf(),
        row,
        column: label.to_string(),
        value,
        problem: format!("label: {problem}"),
    })?;
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(Error::Value {
            path: path.to_path_buf(),
            row: i as u64 + 1,
            column: label.to_string(),
            value: "null".into(),
            problem: "missing label".into(),
        });
    }
    let mut x_names = Vec::new();
    let mut x_cols = Vec::new();
    let mut left_out = Vec::new();
    for name in &feature_names {
        match numbers(column(name)) {
            Ok(v) => {
                x_names.push(name.clone());
                x_cols.push(v);
            }
            Err((row, value, problem)) if explicit => {
                return Err(Error::Value {
                    path: path.to_path_buf(),
                    row,
                    column: name.clone(),
                    value,
                    problem: format!("feature: {problem}"),
                })
            }
            Err((row, value, problem)) => left_out.push(LeftOutColumn {
                column: name.clone(),
                reason: format!("{problem} (row {row}: {value})"),
            }),
        }
    }
    if x_names.is_empty() {
        return Err(Error::format(path, "no number or boolean feature columns"));
    }
    let binary = y.iter().all(|&v| v == 0.0 || v == 1.0);
    let split_made = !reader.has_column("split");
    let split = if split_made {
        stratified_split(&y, params.test_size, binary, params.seed)
    } else {
        parts(path, column("split"))?
    };
    let folds = if reader.has_column("cv_fold") {
        fold_numbers(path, column("cv_fold"))?
    } else if params.folds >= 2 {
        stratified_folds(&y, params.folds, binary, params.seed)
    } else {
        Vec::new()
    };
    let customer_id = reader.has_column("customer_id").then(|| {
        texts(column("customer_id"))
            .into_iter()
            .map(|v| v.unwrap_or_default())
            .collect()
    });
    Ok(TrainTable {
        customer_id,
        x: Table::from_columns(x_names, &x_cols),
        y,
        split,
        folds,
        split_made,
        left_out,
    })
}

fn parts(path: &Path, arrays: &[ArrayRef]) -> Result<Vec<Part>> {
    texts(arrays)
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v.as_deref() {
            Some("train") => Ok(Part::Train),
            Some("test") => Ok(Part::Test),
            other => Err(Error::Value {
                path: path.to_path_buf(),
                row: i as u64 + 1,
                column: "split".into(),
                value: show_value(other.unwrap_or("null")),
                problem: "expected train or test".into(),
            }),
        })
        .collect()
}

fn fold_numbers(path: &Path, arrays: &[ArrayRef]) -> Result<Vec<u32>> {
    let bad = |row: u64, value: String| Error::Value {
        path: path.to_path_buf(),
        row,
        column: "cv_fold".into(),
        value,
        problem: "expected a fold number 0..999".into(),
    };
    let v = numbers(arrays).map_err(|(row, value, _)| bad(row, value))?;
    v.iter()
        .enumerate()
        .map(|(i, &f)| {
            if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1000.0 {
                Ok(f as u32)
            } else {
                Err(bad(i as u64 + 1, f.to_string()))
            }
        })
        .collect()
}
