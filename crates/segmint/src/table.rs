//! One dense table of `f64` features shared by every analysis (clustering, predictions,
//! hidden segments): row-major, with column names; a missing value is `NaN`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A dense row-major table of `f64` features (missing = `NaN`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Table {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// The values, row after row (`rows * cols`).
    pub data: Vec<f64>,
    /// Column names, in column order.
    pub names: Vec<String>,
}

impl Table {
    /// A table from rows of equal length.
    pub fn from_rows(names: Vec<String>, rows: &[Vec<f64>]) -> Table {
        let cols = names.len();
        let mut data = Vec::with_capacity(rows.len() * cols);
        for r in rows {
            assert_eq!(r.len(), cols, "row width");
            data.extend_from_slice(r);
        }
        Table {
            rows: rows.len(),
            cols,
            data,
            names,
        }
    }

    /// A table from columns of equal length.
    pub fn from_columns(names: Vec<String>, columns: &[Vec<f64>]) -> Table {
        let cols = columns.len();
        let rows = columns.first().map_or(0, |c| c.len());
        let mut data = vec![0.0; rows * cols];
        for (j, c) in columns.iter().enumerate() {
            assert_eq!(c.len(), rows, "column length");
            for (i, &v) in c.iter().enumerate() {
                data[i * cols + j] = v;
            }
        }
        Table {
            rows,
            cols,
            data,
            names,
        }
    }

    /// A table of the numeric (integer, float, decimal or boolean) columns of record batches
    /// handed over from memory; `source` names them in errors. A null, NaN or infinite value
    /// is an error naming its row (1-based) and column: features must be complete.
    pub fn from_batches(source: &str, batches: &[arrow_array::RecordBatch]) -> Result<Table> {
        use arrow_array::Array;
        use arrow_schema::DataType;
        let Some(schema) = batches.first().map(|b| b.schema()) else {
            return Err(Error::Data(format!("{source}: no columns")));
        };
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut columns = vec![Vec::new(); names.len()];
        for b in batches {
            for (j, name) in names.iter().enumerate() {
                let a = b.column(j);
                let numeric = a.data_type().is_numeric() || *a.data_type() == DataType::Boolean;
                let cast = arrow_cast::cast(a, &DataType::Float64)
                    .ok()
                    .filter(|_| numeric);
                let Some(cast) = cast else {
                    return Err(Error::Data(format!(
                        "{source}: column {name:?} is {}, not a number",
                        a.data_type()
                    )));
                };
                let v = cast
                    .as_any()
                    .downcast_ref::<arrow_array::Float64Array>()
                    .expect("cast to Float64");
                let start = columns[j].len();
                for i in 0..v.len() {
                    let x = v.value(i);
                    if v.is_null(i) || !x.is_finite() {
                        let shown = if v.is_null(i) {
                            "null".to_string()
                        } else {
                            x.to_string()
                        };
                        return Err(Error::Data(format!(
                            "{source}: row {}, column {name:?}: value {shown} (features must be finite numbers)",
                            start + i + 1
                        )));
                    }
                    columns[j].push(x);
                }
            }
        }
        Ok(Table::from_columns(names, &columns))
    }

    /// Appends columns of `rows` values each, after the existing ones.
    pub fn append_columns(&mut self, names: &[&str], columns: &[Vec<f64>]) {
        assert_eq!(names.len(), columns.len(), "one name per column");
        let old = self.cols;
        let cols = old + columns.len();
        let mut data = Vec::with_capacity(self.rows * cols);
        for i in 0..self.rows {
            data.extend_from_slice(&self.data[i * old..(i + 1) * old]);
            data.extend(columns.iter().map(|c| c[i]));
        }
        self.data = data;
        self.cols = cols;
        self.names.extend(names.iter().map(|n| n.to_string()));
    }

    #[inline]
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The rows `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Table {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Table {
            rows: idx.len(),
            cols: self.cols,
            data,
            names: self.names.clone(),
        }
    }

    /// Column `j` as a vector.
    pub fn column(&self, j: usize) -> Vec<f64> {
        (0..self.rows)
            .map(|i| self.data[i * self.cols + j])
            .collect()
    }

    /// The column named `name` as a vector, if the table has it.
    pub fn column_named(&self, name: &str) -> Option<Vec<f64>> {
        let j = self.names.iter().position(|c| c == name)?;
        Some(self.column(j))
    }

    /// The columns named `names` (in that order); an error names the missing one.
    pub fn project(&self, names: &[String]) -> Result<Table> {
        let idx: Vec<usize> = names
            .iter()
            .map(|n| {
                self.names.iter().position(|c| c == n).ok_or_else(|| {
                    Error::Config(format!(
                        "feature {n:?} is not in the table (it has: {})",
                        self.names.join(", ")
                    ))
                })
            })
            .collect::<Result<_>>()?;
        let mut data = Vec::with_capacity(self.rows * idx.len());
        for i in 0..self.rows {
            let r = self.row(i);
            data.extend(idx.iter().map(|&j| r[j]));
        }
        Ok(Table {
            rows: self.rows,
            cols: idx.len(),
            data,
            names: names.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_from_batches_take_numbers_and_name_bad_values() {
        use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
        use std::sync::Arc;
        let b = RecordBatch::try_from_iter(vec![
            ("a", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            (
                "b",
                Arc::new(Float64Array::from(vec![0.5, 1.5])) as ArrayRef,
            ),
        ])
        .unwrap();
        let t = Table::from_batches("X", &[b.clone(), b]).unwrap();
        assert_eq!((t.rows, t.cols), (4, 2));
        assert_eq!(t.row(3), &[2.0, 1.5]);
        let nan = RecordBatch::try_from_iter(vec![(
            "b",
            Arc::new(Float64Array::from(vec![0.5, f64::NAN])) as ArrayRef,
        )])
        .unwrap();
        let e = Table::from_batches("X", &[nan]).unwrap_err().to_string();
        assert!(e.contains("row 2, column \"b\": value NaN"), "{e}");
        let text = RecordBatch::try_from_iter(vec![(
            "s",
            Arc::new(StringArray::from(vec!["1"])) as ArrayRef,
        )])
        .unwrap();
        let e = Table::from_batches("X", &[text]).unwrap_err().to_string();
        assert!(e.contains("column \"s\" is Utf8, not a number"), "{e}");
    }
}
