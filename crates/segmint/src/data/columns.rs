//! Whole columns of a table read by name, for the small tables read by their own column
//! names (training tables, per-customer summaries, cohort tables): every chunk in file order,
//! as text or as numbers with the first bad value located.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;

use crate::data::reader::{parse_bool, parse_float, TableReader};
use crate::error::{show_value, Result};
use crate::progress::NoProgress;

/// Every chunk of each wanted column, in file order.
pub(crate) fn read_columns(reader: &TableReader, wanted: &[&str]) -> Result<Vec<Vec<ArrayRef>>> {
    let units = reader.fold(
        wanted,
        || vec![Vec::<ArrayRef>::new(); wanted.len()],
        |acc, ch| {
            for (a, name) in acc.iter_mut().zip(wanted) {
                a.push(ch.batch.column_by_name(name).expect("read").clone());
            }
            Ok(())
        },
        &NoProgress,
    )?;
    let mut out = vec![Vec::new(); wanted.len()];
    for unit in units {
        for (o, arrays) in out.iter_mut().zip(unit) {
            o.extend(arrays);
        }
    }
    Ok(out)
}

/// A column's values as text (`None` for null).
pub(crate) fn texts(arrays: &[ArrayRef]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for a in arrays {
        let s = arrow_cast::cast(a, &DataType::Utf8).expect("any column casts to text");
        let s = s.as_string::<i32>();
        out.extend(s.iter().map(|v| v.map(str::to_string)));
    }
    out
}

/// A column as numbers (booleans 0/1, missing NaN), or the 1-based row, value and problem of
/// the first value that is not one.
pub(crate) fn numbers(arrays: &[ArrayRef]) -> std::result::Result<Vec<f64>, (u64, String, String)> {
    let mut out = Vec::new();
    for a in arrays {
        match a.data_type() {
            DataType::Int64 => out.extend(
                a.as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.map_or(f64::NAN, |v| v as f64)),
            ),
            DataType::Float64 => out.extend(
                a.as_primitive::<Float64Type>()
                    .iter()
                    .map(|v| v.unwrap_or(f64::NAN)),
            ),
            DataType::Boolean => out.extend(
                a.as_boolean()
                    .iter()
                    .map(|v| v.map_or(f64::NAN, |b| b as u8 as f64)),
            ),
            DataType::Utf8 => {
                for v in a.as_string::<i32>().iter() {
                    out.push(match v.map(str::trim) {
                        None => f64::NAN,
                        Some(t) if missing(t) => f64::NAN,
                        Some(t) => parse_float(t)
                            .or_else(|_| parse_bool(t).map(|b| b as u8 as f64))
                            .map_err(|_| {
                                (
                                    out.len() as u64 + 1,
                                    show_value(t),
                                    "text that is not a number or a boolean".to_string(),
                                )
                            })?,
                    });
                }
            }
            other => {
                return Err((
                    out.len() as u64 + 1,
                    String::new(),
                    format!("a {other} column, not a number or a boolean"),
                ))
            }
        }
    }
    Ok(out)
}

fn missing(t: &str) -> bool {
    t.is_empty()
        || ["na", "n/a", "nan", "null", "none"]
            .iter()
            .any(|m| t.eq_ignore_ascii_case(m))
}

/// A column as numbers (missing: NaN); a value that is not a number is an error naming the
/// file, row, column and value.
pub(crate) fn number_column(
    path: &std::path::Path,
    column: &str,
    arrays: &[ArrayRef],
) -> Result<Vec<f64>> {
    numbers(arrays).map_err(|(row, value, problem)| crate::error::Error::Value {
        path: path.to_path_buf(),
        row,
        column: column.to_string(),
        value,
        problem,
    })
}
