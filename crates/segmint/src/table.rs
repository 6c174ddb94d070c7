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
