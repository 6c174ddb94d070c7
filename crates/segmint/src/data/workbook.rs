//! Spreadsheets (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`) read with calamine: one sheet as
//! text columns, so that every value goes through the same parsing and checks as a CSV file's.
//!
//! The first row names the columns. Numbers are written as their shortest decimal text (a
//! price stored as 2.55 is the text `2.55`, so products stay exact), dates and times as
//! `YYYY-MM-DD HH:MM:SS` (Excel stores them without a zone: they are local times, see
//! `--timezone`), empty cells as null. A cell holding an Excel error (`#N/A`) is an error naming
//! the row and column.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use calamine::{Data, Reader};

use crate::data::timestamp::format_date;
use crate::error::{show_value, Error, Result};

/// Rows per record batch.
const ROWS_PER_BATCH: usize = 65_536;

/// Reads one sheet (`None`: the first) as text record batches; returns the column names too.
pub fn read_sheet(path: &Path, sheet: Option<&str>) -> Result<(Vec<String>, Vec<RecordBatch>)> {
    let mut book = calamine::open_workbook_auto(path)
        .map_err(|e| Error::format(path, format!("not a readable spreadsheet: {e}")))?;
    let names = book.sheet_names();
    let name = match sheet {
        Some(s) => names
            .iter()
            .find(|n| n.as_str() == s)
            .cloned()
            .ok_or_else(|| {
                Error::format(
                    path,
                    format!("no sheet {s:?} (sheets: {})", names.join(", ")),
                )
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| Error::format(path, "the workbook has no sheet"))?,
    };
    let range = book
        .worksheet_range(&name)
        .map_err(|e| Error::format(path, format!("sheet {name:?}: {e}")))?;
    let mut rows = range.rows();
    let header: Vec<String> = match rows.next() {
        Some(r) => r
            .iter()
            .map(|c| cell_text(c).unwrap_or_default().trim().to_string())
            .collect(),
        None => {
            return Err(Error::Empty {
                path: path.into(),
                message: format!("sheet {name:?} is empty (expected a header row)"),
            })
        }
    };
    let fields: Vec<Field> = header
        .iter()
        .enumerate()
        .map(|(i, n)| Field::new(format!("{i}:{n}"), DataType::Utf8, true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let mut batches = Vec::new();
    let mut builders = new_builders(header.len());
    let mut in_batch = 0;
    for (r, row) in rows.enumerate() {
        for (c, b) in builders.iter_mut().enumerate() {
            match row.get(c) {
                None | Some(Data::Empty) => b.append_null(),
                Some(cell) => {
                    let text = cell_text(cell).map_err(|problem| Error::Value {
                        path: path.to_path_buf(),
                        row: r as u64 + 1,
                        column: header[c].clone(),
                        value: show_value(&cell.to_string()),
                        problem,
                    })?;
                    b.append_value(text)
                }
            }
        }
        in_batch += 1;
        if in_batch == ROWS_PER_BATCH {
            batches.push(finish(&schema, &mut builders)?);
            in_batch = 0;
        }
    }
    if in_batch > 0 || batches.is_empty() {
        batches.push(finish(&schema, &mut builders)?);
    }
    Ok((header, batches))
}

fn new_builders(n: usize) -> Vec<StringBuilder> {
    (0..n).map(|_| StringBuilder::new()).collect()
}

fn finish(schema: &Arc<Schema>, builders: &mut [StringBuilder]) -> Result<RecordBatch> {
    let arrays: Vec<ArrayRef> = builders
        .iter_mut()
        .map(|b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| Error::Data(format!("building a sheet's batch: {e}")))
}

/// A cell as text; an error for Excel's error values.
fn cell_text(cell: &Data) -> std::result::Result<String, String> {
    Ok(match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => float_text(*f),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => excel_datetime_text(dt.as_f64()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => return Err(format!("the cell holds the spreadsheet error {e}")),
    })
}

/// The shortest decimal text of a float, without a fraction for whole numbers.
fn float_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// An Excel serial date-time (days since 1899-12-30, the 1900 system) as
/// `YYYY-MM-DD HH:MM:SS`, rounded to the second.
fn excel_datetime_text(serial: f64) -> String {
    let seconds = (serial * 86_400.0).round() as i64;
    let days = seconds.div_euclid(86_400) - 25_569; // 1899-12-30 -> 1970-01-01
    let rest = seconds.rem_euclid(86_400);
    if rest == 0 {
        return format_date(days);
    }
    format!(
        "{} {:02}:{:02}:{:02}",
        format_date(days),
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells() {
        assert_eq!(float_text(2.55), "2.55");
        assert_eq!(float_text(6.0), "6");
        assert_eq!(float_text(-0.29), "-0.29");
        // 2010-12-01 08:26 is serial 40513.35138888889 (Excel, 1900 date system)
        assert_eq!(
            excel_datetime_text(40513.35138888889),
            "2010-12-01 08:26:00"
        );
        assert_eq!(excel_datetime_text(40513.0), "2010-12-01");
        assert!(cell_text(&Data::Error(calamine::CellErrorType::NA)).is_err());
    }
}
