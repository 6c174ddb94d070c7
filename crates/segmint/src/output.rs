//! Writing results: Parquet and text files are written to a temporary file in the target
//! directory and renamed into place, so a failed run never leaves a half-written file.

use std::io::Write;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::DataType;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
pub use crate::files::{read_json, write_atomic, write_json, write_text};

/// Writer properties used for every Parquet output: Snappy, 1M-row row groups, and the
/// given key-value metadata (parameters and version).
pub fn writer_properties(metadata: &[(String, String)]) -> WriterProperties {
    let mut kv = vec![KeyValue::new(
        "segmint.version".into(),
        crate::VERSION.to_string(),
    )];
    kv.extend(
        metadata
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20))
        .set_created_by(format!("segmint {}", crate::VERSION))
        .set_key_value_metadata(Some(kv))
        .build()
}

/// Writes one batch to a Parquet file atomically. Columns of mostly distinct values
/// (`customer_id`, floats, timestamps) are written without a dictionary: for them it only costs
/// time (the writer hashes every value before it gives up on the dictionary).
pub fn write_parquet(
    batch: &RecordBatch,
    path: &Path,
    metadata: &[(String, String)],
) -> Result<()> {
    let mut props = writer_properties(metadata).into_builder();
    for f in batch.schema().fields() {
        let distinct = f.name() == "customer_id"
            || matches!(
                f.data_type(),
                DataType::Float64 | DataType::Float32 | DataType::Timestamp(_, _)
            );
        if distinct {
            props = props.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), false);
        }
    }
    let props = props.build();
    let rows_per_group = props.max_row_group_row_count().unwrap_or(1 << 20).max(1);
    write_atomic(path, |f| {
        encode_parallel(f, batch, props, rows_per_group).map_err(|e| Error::format(path, e))
    })
}

/// Writes `batch` as Parquet with the columns of each row group encoded and compressed in
/// parallel (rayon), then appended in schema order: the same file as [`ArrowWriter`] writes
/// (schema, Arrow schema metadata, row groups of `rows_per_group` rows), a column per core
/// at a time instead of one after another.
fn encode_parallel(
    f: &mut std::fs::File,
    batch: &RecordBatch,
    props: WriterProperties,
    rows_per_group: usize,
) -> parquet::errors::Result<()> {
    use parquet::arrow::arrow_writer::compute_leaves;
    use rayon::prelude::*;
    let schema = batch.schema();
    let (mut file, factory) =
        ArrowWriter::try_new(std::io::BufWriter::new(f), schema.clone(), Some(props))?
            .into_serialized_writer()?;
    let mut start = 0;
    let mut group = 0;
    while start < batch.num_rows() {
        let len = rows_per_group.min(batch.num_rows() - start);
        let part = batch.slice(start, len);
        let mut leaves = Vec::new();
        for (field, column) in schema.fields().iter().zip(part.columns()) {
            leaves.extend(compute_leaves(field, column)?);
        }
        let writers = factory.create_column_writers(group)?;
        let chunks = writers
            .into_par_iter()
            .zip(leaves)
            .map(|(mut w, leaf)| {
                w.write(&leaf)?;
                w.close()
            })
            .collect::<parquet::errors::Result<Vec<_>>>()?;
        let mut rg = file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut rg)?;
        }
        rg.close()?;
        start += len;
        group += 1;
    }
    file.into_inner()?
        .flush()
        .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
    Ok(())
}

/// Writes one batch atomically as CSV (a `.csv` path: a header, then the rows as
/// [`write_csv_rows`]) or Parquet (any other path; the metadata goes into the file).
pub fn write_table(batch: &RecordBatch, path: &Path, metadata: &[(String, String)]) -> Result<()> {
    let csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if !csv {
        return write_parquet(batch, path, metadata);
    }
    write_atomic(path, |f| {
        let mut w = std::io::BufWriter::new(f);
        let header: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        writeln!(w, "{}", header.join(",")).map_err(|e| Error::io(path, e))?;
        write_csv_rows(&mut w, batch).map_err(|e| Error::io(path, e))?;
        w.flush().map_err(|e| Error::io(path, e))
    })
}

/// Appends the rows of a batch as CSV in the reference-data conventions: strings quoted,
/// timestamps `YYYY-MM-DD HH:MM:SS.ffffffZ`, dates `YYYY-MM-DD`, booleans `true`/`false`,
/// null as an empty field. (No header: the caller writes it once.)
pub fn write_csv_rows(w: &mut impl Write, batch: &RecordBatch) -> std::io::Result<()> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
    use arrow_array::Array;
    use arrow_schema::DataType;
    let cols = batch.columns();
    let mut line = String::with_capacity(256);
    for r in 0..batch.num_rows() {
        line.clear();
        for (j, c) in cols.iter().enumerate() {
            if j > 0 {
                line.push(',');
            }
            if c.is_null(r) {
                continue;
            }
            use std::fmt::Write as _;
            match c.data_type() {
                DataType::Utf8 => {
                    let v = c.as_string::<i32>().value(r);
                    line.push('"');
                    for ch in v.chars() {
                        if ch == '"' {
                            line.push('"');
                        }
                        line.push(ch);
                    }
                    line.push('"');
                }
                DataType::Int64 => {
                    let _ = write!(line, "{}", c.as_primitive::<Int64Type>().value(r));
                }
                DataType::Float64 => {
                    let _ = write!(line, "{}", c.as_primitive::<Float64Type>().value(r));
                }
                DataType::Boolean => line.push_str(if c.as_boolean().value(r) {
                    "true"
                } else {
                    "false"
                }),
                DataType::Date32 => line.push_str(&crate::data::timestamp::format_date(
                    c.as_primitive::<Date32Type>().value(r) as i64,
                )),
                DataType::Timestamp(_, _) => {
                    line.push_str(&crate::data::timestamp::format_timestamp_us(
                        c.as_primitive::<TimestampMicrosecondType>().value(r),
                    ))
                }
                other => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("CSV output of column type {other} is not supported"),
                    ))
                }
            }
        }
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// One output column for [`batch`].
pub enum OutCol {
    /// Text.
    Str(Vec<String>),
    /// Floats.
    F64(Vec<f64>),
    /// Integers.
    I64(Vec<i64>),
    /// Nullable integers.
    OptI64(Vec<Option<i64>>),
}

/// A record batch from named columns of equal length (non-nullable except [`OutCol::OptI64`];
/// NaN stays NaN).
pub fn batch(columns: Vec<(&str, OutCol)>) -> Result<RecordBatch> {
    use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (name, c) in columns {
        let (t, a): (DataType, ArrayRef) = match c {
            OutCol::Str(v) => (DataType::Utf8, std::sync::Arc::new(StringArray::from(v))),
            OutCol::F64(v) => (
                DataType::Float64,
                std::sync::Arc::new(Float64Array::from(v)),
            ),
            OutCol::I64(v) => (DataType::Int64, std::sync::Arc::new(Int64Array::from(v))),
            OutCol::OptI64(v) => {
                fields.push(Field::new(name, DataType::Int64, true));
                arrays.push(std::sync::Arc::new(Int64Array::from(v)));
                continue;
            }
        };
        fields.push(Field::new(name, t, false));
        arrays.push(a);
    }
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| crate::Error::Data(format!("building an output table: {e}")))
}

/// Reading back JSON this crate wrote: serde_json writes a `NaN` (or infinite) `f64` as `null`;
/// these read `null` as `NaN`. Use with `#[serde(deserialize_with = "...")]`.
pub mod nan {
    use serde::{Deserialize, Deserializer};

    /// A float that may be written as `null` (NaN).
    pub fn f64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }

    /// Two floats that may be written as `null` (NaN).
    pub fn pair<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<[f64; 2], D::Error> {
        Ok(<[Option<f64>; 2]>::deserialize(d)?.map(|x| x.unwrap_or(f64::NAN)))
    }

    /// Floats that may be written as `null` (NaN).
    pub fn vec<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<f64>, D::Error> {
        Ok(Vec::<Option<f64>>::deserialize(d)?
            .into_iter()
            .map(|x| x.unwrap_or(f64::NAN))
            .collect())
    }

    #[cfg(test)]
    mod tests {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct T {
            #[serde(deserialize_with = "super::f64")]
            a: f64,
            #[serde(deserialize_with = "super::pair")]
            b: [f64; 2],
            #[serde(deserialize_with = "super::vec")]
            c: Vec<f64>,
        }

        #[test]
        fn nan_round_trips_through_null() {
            let t = T {
                a: f64::NAN,
                b: [1.5, f64::NAN],
                c: vec![f64::NAN, 2.0],
            };
            let s = serde_json::to_string(&t).unwrap();
            assert_eq!(s, r#"{"a":null,"b":[1.5,null],"c":[null,2.0]}"#);
            let back: T = serde_json::from_str(&s).unwrap();
            assert!(back.a.is_nan() && back.b[1].is_nan() && back.c[0].is_nan());
            assert_eq!((back.b[0], back.c[1]), (1.5, 2.0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::sync::Arc;

    fn batch(n: usize) -> RecordBatch {
        let ids: ArrayRef = Arc::new(StringArray::from_iter(
            (0..n).map(|i| (i % 11 != 3).then(|| format!("C{i:06}"))),
        ));
        let x: ArrayRef = Arc::new(Float64Array::from_iter(
            (0..n).map(|i| (i % 7 != 0).then_some(i as f64 * 0.25)),
        ));
        let t: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from_iter_values((0..n).map(|i| i as i64 * 1_000_000))
                .with_timezone("UTC"),
        );
        RecordBatch::try_from_iter([("customer_id", ids), ("x", x), ("ts", t)]).unwrap()
    }

    fn read(path: &Path) -> (Vec<RecordBatch>, usize, Option<String>) {
        let f = std::fs::File::open(path).unwrap();
        let b = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
        let meta = b.metadata().clone();
        let kv = meta.file_metadata().key_value_metadata().and_then(|kv| {
            kv.iter()
                .find(|k| k.key == "run")
                .and_then(|k| k.value.clone())
        });
        let groups = meta.num_row_groups();
        (b.build().unwrap().map(|r| r.unwrap()).collect(), groups, kv)
    }

    /// The batches read back, in order, are `b`.
    fn assert_same(back: &[RecordBatch], b: &RecordBatch) {
        let mut at = 0;
        for part in back {
            assert_eq!(part, &b.slice(at, part.num_rows()));
            at += part.num_rows();
        }
        assert_eq!(at, b.num_rows());
    }

    #[test]
    fn parallel_encoding_round_trips_with_row_groups_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.parquet");
        let b = batch(2_500);
        let meta = [("run".to_string(), "seed 42".to_string())];
        let mut props = writer_properties(&meta).into_builder();
        props = props.set_max_row_group_row_count(Some(1_000));
        let f = &mut std::fs::File::create(&path).unwrap();
        encode_parallel(f, &b, props.build(), 1_000).unwrap();
        let (back, groups, kv) = read(&path);
        assert_eq!(groups, 3);
        assert_eq!(kv.as_deref(), Some("seed 42"));
        // the Arrow schema (time zone included) and every value, nulls in place
        assert_same(&back, &b);
        // through the public writer, and an empty table
        write_parquet(&b, &path, &meta).unwrap();
        let (back, groups, _) = read(&path);
        assert_same(&back, &b);
        assert_eq!(groups, 1);
        write_parquet(&batch(0), &path, &meta).unwrap();
        let (back, groups, _) = read(&path);
        assert_eq!(
            (back.iter().map(|b| b.num_rows()).sum::<usize>(), groups),
            (0, 0)
        );
    }
}
