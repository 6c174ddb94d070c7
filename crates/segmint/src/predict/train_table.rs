//! A ready-made training table (Parquet) with a label, a `split` column (`train`/`test`) and a
//! `cv_fold` column, like the bench peers' `churn_features.parquet`: training on exactly the
//! partitions another engine used.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{Part, Table};
use crate::error::{Error, Result};

/// The contents of a training table.
#[derive(Debug, Clone)]
pub struct TrainTable {
    pub customer_id: Option<Vec<String>>,
    pub x: Table,
    pub y: Vec<f64>,
    pub split: Vec<Part>,
    pub folds: Vec<u32>,
}

/// Columns that are never features.
const RESERVED: [&str; 4] = ["customer_id", "split", "cv_fold", "session_id"];

/// Reads `path`: the label column `label`, `split`, `cv_fold`, and as features `features` (or,
/// when empty, every other numeric or boolean column in file order).
pub fn read_train_table(path: &Path, label: &str, features: &[String]) -> Result<TrainTable> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::format(path, format!("not a readable Parquet file: {e}")))?;
    let schema = b.schema().clone();
    let found: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let numeric = |t: &DataType| t.is_numeric() || *t == DataType::Boolean;
    let feature_names: Vec<String> = if features.is_empty() {
        schema
            .fields()
            .iter()
            .filter(|f| {
                numeric(f.data_type())
                    && f.name() != label
                    && !RESERVED.contains(&f.name().as_str())
            })
            .map(|f| f.name().clone())
            .collect()
    } else {
        features.to_vec()
    };
    let mut needed: Vec<&str> = vec![label, "split", "cv_fold"];
    needed.extend(feature_names.iter().map(|s| s.as_str()));
    let missing: Vec<String> = needed
        .iter()
        .filter(|n| !found.iter().any(|f| f == *n))
        .map(|s| s.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingColumns {
            path: path.to_path_buf(),
            missing,
            found,
            hint: "; a training table needs the label (--label), split (train/test) and cv_fold"
                .into(),
        });
    }
    if feature_names.is_empty() {
        return Err(Error::format(path, "no numeric feature columns"));
    }
    let reader = b.build().map_err(|e| Error::format(path, e))?;
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); feature_names.len()];
    let mut y = Vec::new();
    let mut split = Vec::new();
    let mut folds = Vec::new();
    let mut ids: Option<Vec<String>> = found.iter().any(|f| f == "customer_id").then(Vec::new);
    let mut row0 = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| Error::format(path, e))?;
        let col = |name: &str| -> &ArrayRef { batch.column_by_name(name).expect("checked") };
        let as_f64 = |name: &str| -> Result<Vec<f64>> {
            let a = col(name);
            let a = if *a.data_type() == DataType::Boolean {
                arrow_cast::cast(a, &DataType::UInt8).map_err(|e| Error::format(path, e))?
            } else {
                a.clone()
            };
            let c = arrow_cast::cast(&a, &DataType::Float64)
                .map_err(|e| Error::format(path, format!("column {name}: not numeric: {e}")))?;
            let c = c.as_primitive::<Float64Type>();
            Ok((0..c.len())
                .map(|i| if c.is_null(i) { f64::NAN } else { c.value(i) })
                .collect())
        };
        for (j, name) in feature_names.iter().enumerate() {
            cols[j].extend(as_f64(name)?);
        }
        let lab = as_f64(label)?;
        for (i, v) in lab.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::Value {
                    path: path.to_path_buf(),
                    row: row0 + i as u64 + 1,
                    column: label.to_string(),
                    value: v.to_string(),
                    problem: "missing or non-finite label".into(),
                });
            }
        }
        y.extend(lab);
        let s = arrow_cast::cast(col("split"), &DataType::Utf8)
            .map_err(|e| Error::format(path, format!("column split: {e}")))?;
        let s = s.as_string::<i32>();
        for i in 0..s.len() {
            let v = if s.is_null(i) { "" } else { s.value(i) };
            split.push(match v {
                "train" => Part::Train,
                "test" => Part::Test,
                other => {
                    return Err(Error::Value {
                        path: path.to_path_buf(),
                        row: row0 + i as u64 + 1,
                        column: "split".into(),
                        value: other.to_string(),
                        problem: "expected train or test".into(),
                    })
                }
            });
        }
        let f = as_f64("cv_fold")?;
        for (i, v) in f.iter().enumerate() {
            if !(v.is_finite() && *v >= 0.0 && v.fract() == 0.0 && *v < 1000.0) {
                return Err(Error::Value {
                    path: path.to_path_buf(),
                    row: row0 + i as u64 + 1,
                    column: "cv_fold".into(),
                    value: v.to_string(),
                    problem: "expected a fold number 0..999".into(),
                });
            }
            folds.push(*v as u32);
        }
        if let Some(ids) = ids.as_mut() {
            let c = arrow_cast::cast(col("customer_id"), &DataType::Utf8)
                .map_err(|e| Error::format(path, e))?;
            let c = c.as_string::<i32>();
            ids.extend((0..c.len()).map(|i| c.value(i).to_string()));
        }
        row0 += batch.num_rows() as u64;
    }
    Ok(TrainTable {
        customer_id: ids,
        x: Table::from_columns(feature_names, &cols),
        y,
        split,
        folds,
    })
}
