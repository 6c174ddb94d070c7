//! Readers for Parquet and CSV that deliver canonical, typed Arrow batches.
//!
//! Whatever the file holds (`large_string` or dictionary strings, int32, timestamps in any unit
//! with or without a time zone, numbers or timestamps stored as text), a [`Chunk`] has the
//! canonical names and types of [`crate::data::schema`]. Values that cannot be converted are hard
//! errors naming the file, the 1-based data row, the column and the value.
//!
//! Files are processed in units (Parquet row groups; a CSV file is one unit read in chunks of
//! 65,536 rows) in parallel on the current rayon pool, each unit folding into its own
//! accumulator, so memory is bounded by the accumulators, not by the number of rows.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;

use crate::data::mapping::ColumnMap;
use crate::data::schema::{ColType, ColumnSpec, TableKind, MAX_ABS_AMOUNT};
use crate::data::timestamp::{parse_date, parse_timestamp_us, US_PER_DAY};
use crate::error::{show_value, Error, Result};
use crate::progress::Progress;

/// Rows per batch handed to the fold function.
pub const BATCH_ROWS: usize = 65_536;

/// File format, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// CSV (UTF-8, header row).
    Csv,
    /// Arrow record batches handed over in memory ([`TableReader::from_batches`]).
    Arrow,
}

impl Format {
    /// The format of a file by its extension.
    pub fn from_path(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "pq" => Ok(Format::Parquet),
            "csv" => Ok(Format::Csv),
            _ => Err(Error::format(
                path,
                "unknown file type: expected a .parquet or .csv extension",
            )),
        }
    }
}

/// One canonical column found in the file.
#[derive(Debug, Clone)]
pub struct Present {
    /// The canonical column.
    pub spec: &'static ColumnSpec,
    /// Its name in the file.
    pub source: String,
    /// Its position in the file's columns.
    pub index: usize,
}

/// A column of the file that no canonical column uses, read under its own name (so any column
/// of a user's file can be a feature, a group or an outcome).
#[derive(Debug, Clone)]
pub struct Extra {
    /// Its name in the file (trimmed): also its name in a [`Chunk`].
    pub name: String,
    /// Its position in the file's columns.
    pub index: usize,
    /// The type it is read as: from the Parquet type; text in a CSV file (typed from its
    /// values by [`crate::data::customers::Attributes`]).
    pub ty: ColType,
}

/// A column as it is read: a canonical column or an extra one.
struct ReadCol {
    /// Its name in a [`Chunk`].
    name: String,
    /// Its name in the file.
    source: String,
    index: usize,
    /// For an extra column: its type, neither an id nor required.
    spec: ColumnSpec,
    extra: bool,
}

impl ReadCol {
    fn canonical(p: &Present) -> ReadCol {
        ReadCol {
            name: p.spec.name.to_string(),
            source: p.source.clone(),
            index: p.index,
            spec: *p.spec,
            extra: false,
        }
    }
    fn extra(e: &Extra) -> ReadCol {
        ReadCol {
            name: e.name.clone(),
            source: e.name.clone(),
            index: e.index,
            spec: ColumnSpec {
                name: "",
                ty: e.ty,
                required: false,
                id: false,
                nullable: true,
            },
            extra: true,
        }
    }
}

/// A batch of rows with canonical column names and types.
pub struct Chunk<'a> {
    /// The file the chunk comes from.
    pub path: &'a Path,
    /// 1-based data row number of the batch's first row.
    pub first_row: u64,
    /// Rows of the unit (Parquet row group) the batch belongs to, 0 when unknown (CSV): lets a
    /// fold size its buffers once.
    pub unit_rows: usize,
    /// The rows, columns under their canonical names.
    pub batch: RecordBatch,
}

impl Chunk<'_> {
    /// Rows.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }
    /// No row.
    pub fn is_empty(&self) -> bool {
        self.batch.num_rows() == 0
    }
    fn col(&self, name: &str) -> Option<&ArrayRef> {
        self.batch.column_by_name(name)
    }
    /// A text column by canonical name.
    pub fn str(&self, name: &str) -> Option<&StringArray> {
        self.col(name).map(|a| a.as_string::<i32>())
    }
    /// An integer column by canonical name.
    pub fn i64(&self, name: &str) -> Option<&Int64Array> {
        self.col(name).map(|a| a.as_primitive::<Int64Type>())
    }
    /// A float column by canonical name.
    pub fn f64(&self, name: &str) -> Option<&Float64Array> {
        self.col(name).map(|a| a.as_primitive::<Float64Type>())
    }
    /// A boolean column by canonical name.
    pub fn bool(&self, name: &str) -> Option<&BooleanArray> {
        self.col(name).map(|a| a.as_boolean())
    }
    /// A date column by canonical name.
    pub fn date(&self, name: &str) -> Option<&Date32Array> {
        self.col(name).map(|a| a.as_primitive::<Date32Type>())
    }
    /// A timestamp column by canonical name.
    pub fn ts(&self, name: &str) -> Option<&TimestampMicrosecondArray> {
        self.col(name)
            .map(|a| a.as_primitive::<TimestampMicrosecondType>())
    }
    /// A string id column, as plain strings or (when read with [`TableReader::fold_with`]) as a
    /// dictionary.
    pub fn ids(&self, name: &str) -> Option<Ids<'_>> {
        let a = self.col(name)?;
        Some(match a.data_type() {
            DataType::Dictionary(_, _) => {
                let d = a.as_dictionary::<Int32Type>();
                Ids::Dict {
                    keys: d.keys().values(),
                    values: d.values().as_string::<i32>(),
                    values_ref: d.values(),
                }
            }
            _ => Ids::Plain(a.as_string::<i32>()),
        })
    }
    /// 1-based data row of the batch row `i`.
    pub fn row(&self, i: usize) -> u64 {
        self.first_row + i as u64
    }
}

/// An id column of a [`Chunk`]; never null, never blank.
pub enum Ids<'a> {
    /// A plain text column.
    Plain(&'a StringArray),
    /// Row `i` is `values[keys[i]]`. Successive chunks of one Parquet column chunk share
    /// `values_ref` (same `Arc`), so work per distinct value can be cached across them.
    Dict {
        /// Dictionary keys per row.
        keys: &'a [i32],
        /// Dictionary values.
        values: &'a StringArray,
        /// The values as an array (to tell two dictionaries apart).
        values_ref: &'a ArrayRef,
    },
}

impl Ids<'_> {
    /// The text of row `i`.
    pub fn value(&self, i: usize) -> &str {
        match self {
            Ids::Plain(s) => s.value(i),
            Ids::Dict { keys, values, .. } => values.value(keys[i] as usize),
        }
    }
}

enum Source {
    Parquet { meta: ArrowReaderMetadata },
    Csv { header: Vec<String> },
    Memory { batches: Vec<RecordBatch> },
}

/// An opened input table: its columns are resolved, its rows not yet read.
pub struct TableReader {
    /// Which table it is.
    pub kind: TableKind,
    /// Its file.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    present: Vec<Present>,
    extras: Vec<Extra>,
    /// File columns that cannot be read, with the reason.
    unreadable: Vec<(String, String)>,
    found: Vec<String>,
    source: Source,
}

/// The Arrow type a canonical column has in a [`Chunk`].
pub fn arrow_type(ty: ColType) -> DataType {
    match ty {
        ColType::Str => DataType::Utf8,
        ColType::Int => DataType::Int64,
        ColType::Float => DataType::Float64,
        ColType::Bool => DataType::Boolean,
        ColType::Date => DataType::Date32,
        ColType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    }
}

/// Finds `NAME.parquet` (preferred) or `NAME.csv` in a directory.
pub fn find_table_file(dir: &Path, kind: TableKind) -> Option<PathBuf> {
    ["parquet", "pq", "csv"]
        .iter()
        .map(|ext| dir.join(format!("{}.{ext}", kind.name())))
        .find(|p| p.is_file())
}

fn open_file(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| Error::io(path, e))
}

impl TableReader {
    /// Opens a file, reads its schema or header and resolves the canonical columns.
    pub fn open(kind: TableKind, path: &Path, map: &ColumnMap) -> Result<TableReader> {
        let format = Format::from_path(path)?;
        let (found, source, types) = match format {
            Format::Parquet => {
                let file = open_file(path)?;
                let meta =
                    ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|e| {
                        Error::format(
                            path,
                            format!("not a readable Parquet file (truncated or corrupt?): {e}"),
                        )
                    })?;
                let schema = meta.schema().clone();
                let found: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
                let types: Vec<Option<DataType>> = schema
                    .fields()
                    .iter()
                    .map(|f| Some(f.data_type().clone()))
                    .collect();
                (found, Source::Parquet { meta }, types)
            }
            Format::Csv => {
                let header = read_csv_header(path)?;
                let n = header.len();
                (header.clone(), Source::Csv { header }, vec![None; n])
            }
            Format::Arrow => unreachable!("from_path gives a file format"),
        };
        Self::resolve(kind, path, format, found, types, source, map)
    }

    /// A table from Arrow record batches in memory (e.g. handed over by another front end,
    /// without a file): the same columns, mapping, types and checks as a file. `label` stands
    /// for the file name in messages (`<transactions>`). The batches must share one schema.
    pub fn from_batches(
        kind: TableKind,
        label: &str,
        batches: Vec<RecordBatch>,
        map: &ColumnMap,
    ) -> Result<TableReader> {
        let path = PathBuf::from(format!("<{label}>"));
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => {
                return Err(Error::Empty {
                    path,
                    message: "no record batches (an empty table has one batch of zero rows)".into(),
                })
            }
        };
        if let Some(i) = batches.iter().position(|b| b.schema() != schema) {
            return Err(Error::format(
                &path,
                format!("record batch {i} has another schema than batch 0"),
            ));
        }
        let found: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let types = schema
            .fields()
            .iter()
            .map(|f| Some(f.data_type().clone()))
            .collect();
        let source = Source::Memory { batches };
        Self::resolve(kind, &path, Format::Arrow, found, types, source, map)
    }

    /// Resolves the canonical and extra columns of an opened source.
    fn resolve(
        kind: TableKind,
        path: &Path,
        format: Format,
        found: Vec<String>,
        types: Vec<Option<DataType>>,
        source: Source,
        map: &ColumnMap,
    ) -> Result<TableReader> {
        let mut present = Vec::new();
        let mut missing = Vec::new();
        for spec in kind.columns() {
            let want = map.source_name(kind, spec.name);
            let idx = found.iter().position(|f| f == want).or_else(|| {
                found
                    .iter()
                    .position(|f| f.trim().eq_ignore_ascii_case(want))
            });
            match idx {
                Some(index) => {
                    if let Some(dt) = &types[index] {
                        check_convertible(path, spec, &found[index], dt)?;
                    }
                    present.push(Present {
                        spec,
                        source: found[index].clone(),
                        index,
                    })
                }
                None if spec.required => missing.push(if want == spec.name {
                    spec.name.to_string()
                } else {
                    format!("{} (mapped to {want:?})", spec.name)
                }),
                None => {}
            }
        }
        if !missing.is_empty() {
            return Err(Error::MissingColumns {
                path: path.to_path_buf(),
                missing,
                found: found.iter().map(|s| show_value(s)).collect(),
                hint: "; map your column names with --columns CANONICAL=SOURCE".into(),
            });
        }
        let (extras, unreadable) = extra_columns(&found, &types, &present);
        Ok(TableReader {
            kind,
            path: path.to_path_buf(),
            format,
            present,
            extras,
            unreadable,
            found,
            source,
        })
    }

    /// The canonical columns found in the file.
    pub fn present(&self) -> &[Present] {
        &self.present
    }

    /// Whether the table has the canonical column `name`.
    pub fn has(&self, name: &str) -> bool {
        self.present.iter().any(|p| p.spec.name == name)
    }

    /// The file's other columns, readable by their own names.
    pub fn extras(&self) -> &[Extra] {
        &self.extras
    }

    /// File columns that cannot be read (e.g. nested Parquet types), with the reason.
    pub fn unreadable(&self) -> &[(String, String)] {
        &self.unreadable
    }

    /// Whether `name` is a canonical column found in the file or another column of it.
    pub fn has_column(&self, name: &str) -> bool {
        self.has(name) || self.extras.iter().any(|e| e.name == name)
    }

    /// Every readable column by the name it is read under: the canonical ones, then the others
    /// in file order.
    pub fn column_names(&self) -> Vec<&str> {
        self.present
            .iter()
            .map(|p| p.spec.name)
            .chain(self.extras.iter().map(|e| e.name.as_str()))
            .collect()
    }

    /// The type a readable column is read as.
    pub fn column_type(&self, name: &str) -> Option<ColType> {
        self.present
            .iter()
            .find(|p| p.spec.name == name)
            .map(|p| p.spec.ty)
            .or_else(|| self.extras.iter().find(|e| e.name == name).map(|e| e.ty))
    }

    /// Column names as they appear in the file.
    pub fn file_columns(&self) -> &[String] {
        &self.found
    }

    /// Number of data rows when known without reading (Parquet metadata).
    pub fn num_rows_hint(&self) -> Option<u64> {
        match &self.source {
            Source::Parquet { meta } => {
                Some(meta.metadata().file_metadata().num_rows().max(0) as u64)
            }
            Source::Csv { .. } => std::fs::metadata(&self.path).ok().map(|m| m.len() / 60),
            Source::Memory { batches } => Some(batches.iter().map(|b| b.num_rows() as u64).sum()),
        }
    }

    /// Reads the `wanted` canonical columns (those present in the file) and folds every batch
    /// into a per-unit accumulator made by `init`. Units run in parallel on the current rayon
    /// pool. On error, the error of the first failing unit in file order is returned.
    pub fn fold<A, I, F>(
        &self,
        wanted: &[&str],
        init: I,
        fold: F,
        progress: &dyn Progress,
    ) -> Result<Vec<A>>
    where
        A: Send,
        I: Fn() -> A + Sync,
        F: Fn(&mut A, &Chunk) -> Result<()> + Sync,
    {
        self.fold_with(wanted, &[], init, fold, progress)
    }

    /// Like [`TableReader::fold`], but the `dictionary` id columns of a Parquet file that
    /// stores them as strings arrive as dictionary arrays (read them with [`Chunk::ids`], not
    /// [`Chunk::str`]): no string copy per row, and per-value work (hashing, lookups) is done
    /// once per distinct value of a row group instead of once per row.
    pub fn fold_with<A, I, F>(
        &self,
        wanted: &[&str],
        dictionary: &[&str],
        init: I,
        fold: F,
        progress: &dyn Progress,
    ) -> Result<Vec<A>>
    where
        A: Send,
        I: Fn() -> A + Sync,
        F: Fn(&mut A, &Chunk) -> Result<()> + Sync,
    {
        let mut cols: Vec<ReadCol> = self
            .present
            .iter()
            .filter(|p| wanted.contains(&p.spec.name))
            .map(ReadCol::canonical)
            .collect();
        cols.extend(
            self.extras
                .iter()
                .filter(|e| wanted.contains(&e.name.as_str()))
                .map(ReadCol::extra),
        );
        match &self.source {
            Source::Parquet { meta } => {
                let dict_meta = self.dictionary_metadata(meta, &cols, dictionary);
                let meta = dict_meta.as_ref().unwrap_or(meta);
                let md = meta.metadata();
                let n_groups = md.num_row_groups();
                let mut starts = Vec::with_capacity(n_groups);
                let mut acc = 1u64;
                for g in md.row_groups() {
                    starts.push(acc);
                    acc += g.num_rows().max(0) as u64;
                }
                let results: Vec<Result<A>> = (0..n_groups)
                    .into_par_iter()
                    .map(|g| {
                        let mut a = init();
                        self.read_row_group(meta, g, starts[g], &cols, &mut |chunk| {
                            let r = fold(&mut a, chunk);
                            progress.advance(chunk.len() as u64);
                            r
                        })?;
                        Ok(a)
                    })
                    .collect();
                results.into_iter().collect()
            }
            Source::Memory { batches } => {
                let mut starts = Vec::with_capacity(batches.len());
                let mut acc = 1u64;
                for b in batches {
                    starts.push(acc);
                    acc += b.num_rows() as u64;
                }
                let results: Vec<Result<A>> = batches
                    .par_iter()
                    .zip(starts)
                    .map(|(batch, start)| {
                        let mut a = init();
                        self.read_memory_batch(batch, start, &cols, &mut |chunk| {
                            let r = fold(&mut a, chunk);
                            progress.advance(chunk.len() as u64);
                            r
                        })?;
                        Ok(a)
                    })
                    .collect();
                results.into_iter().collect()
            }
            Source::Csv { .. } => {
                let mut a = init();
                self.read_csv(&cols, &mut |chunk| {
                    let r = fold(&mut a, chunk);
                    progress.advance(chunk.len() as u64);
                    r
                })?;
                Ok(vec![a])
            }
        }
    }

    /// Reader metadata that reads the `dictionary` id columns stored as strings as dictionary
    /// arrays; `None` when there is none or the reader cannot (then strings are read as usual).
    fn dictionary_metadata(
        &self,
        meta: &ArrowReaderMetadata,
        cols: &[ReadCol],
        dictionary: &[&str],
    ) -> Option<ArrowReaderMetadata> {
        let schema = meta.schema();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| (**f).clone()).collect();
        let mut changed = false;
        for p in cols {
            if p.spec.id
                && dictionary.contains(&p.name.as_str())
                && fields[p.index].data_type() == &DataType::Utf8
            {
                let f = fields[p.index].clone().with_data_type(DataType::Dictionary(
                    Box::new(DataType::Int32),
                    Box::new(DataType::Utf8),
                ));
                fields[p.index] = f;
                changed = true;
            }
        }
        if !changed {
            return None;
        }
        let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        ArrowReaderMetadata::try_new(
            meta.metadata().clone(),
            ArrowReaderOptions::new().with_schema(schema),
        )
        .ok()
    }

    /// The canonical batch of `n` rows starting at data row `row`: each of `cols` taken by
    /// `column` and normalized to its canonical type and name.
    fn canonical_batch(
        &self,
        cols: &[ReadCol],
        row: u64,
        n: usize,
        column: impl Fn(&ReadCol) -> Result<ArrayRef>,
    ) -> Result<RecordBatch> {
        let mut fields = Vec::with_capacity(cols.len());
        let mut arrays = Vec::with_capacity(cols.len());
        for p in cols {
            let arr = normalize(&self.path, p, &column(p)?, row)?;
            fields.push(Field::new(&p.name, arr.data_type().clone(), true));
            arrays.push(arr);
        }
        RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            arrays,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map_err(|e| Error::format(&self.path, e))
    }

    /// One in-memory batch as canonical chunks of at most [`BATCH_ROWS`] rows.
    fn read_memory_batch(
        &self,
        batch: &RecordBatch,
        first_row: u64,
        cols: &[ReadCol],
        f: &mut dyn FnMut(&Chunk) -> Result<()>,
    ) -> Result<()> {
        let unit_rows = batch.num_rows();
        let mut offset = 0;
        while offset < unit_rows || (unit_rows == 0 && offset == 0) {
            let n = BATCH_ROWS.min(unit_rows - offset);
            let row = first_row + offset as u64;
            let chunk =
                self.canonical_batch(cols, row, n, |p| Ok(batch.column(p.index).slice(offset, n)))?;
            if n > 0 {
                f(&Chunk {
                    path: &self.path,
                    first_row: row,
                    unit_rows,
                    batch: chunk,
                })?;
            }
            offset += n.max(1);
        }
        Ok(())
    }

    fn read_row_group(
        &self,
        meta: &ArrowReaderMetadata,
        group: usize,
        first_row: u64,
        cols: &[ReadCol],
        f: &mut dyn FnMut(&Chunk) -> Result<()>,
    ) -> Result<()> {
        let file = open_file(&self.path)?;
        let schema_descr = meta.metadata().file_metadata().schema_descr();
        let mask = ProjectionMask::roots(schema_descr, cols.iter().map(|p| p.index));
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta.clone())
            .with_projection(mask)
            .with_row_groups(vec![group])
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| {
                Error::format(&self.path, format!("cannot read row group {group}: {e}"))
            })?;
        let unit_rows = meta.metadata().row_group(group).num_rows().max(0) as usize;
        let mut row = first_row;
        for batch in reader {
            let batch = batch.map_err(|e| {
                Error::format(
                    &self.path,
                    format!(
                        "cannot decode rows from row {row} on (truncated or corrupt file?): {e}"
                    ),
                )
            })?;
            let n = batch.num_rows();
            let batch = self.canonical_batch(cols, row, n, |p| {
                batch.column_by_name(&p.source).cloned().ok_or_else(|| {
                    Error::format(
                        &self.path,
                        format!("column {} vanished while reading", p.source),
                    )
                })
            })?;
            f(&Chunk {
                path: &self.path,
                first_row: row,
                unit_rows,
                batch,
            })?;
            row += n as u64;
        }
        Ok(())
    }

    fn read_csv(&self, cols: &[ReadCol], f: &mut dyn FnMut(&Chunk) -> Result<()>) -> Result<()> {
        let file = open_file(&self.path)?;
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
        let n_header = match &self.source {
            Source::Csv { header } => header.len(),
            _ => unreachable!("read_csv on a Parquet source"),
        };
        let mut builders: Vec<ColBuilder> =
            cols.iter().map(|p| ColBuilder::new(p.spec.ty)).collect();
        let mut rec = csv::ByteRecord::new();
        let mut row: u64 = 0;
        let mut first_row = 1u64;
        let mut in_batch = 0usize;
        loop {
            let more = rdr
                .read_byte_record(&mut rec)
                .map_err(|e| csv_error(&self.path, e))?;
            if more {
                row += 1;
                if rec.len() != n_header && !(rec.len() == 1 && rec.get(0) == Some(b"")) {
                    let line = rec.position().map(|p| p.line()).unwrap_or(row + 1);
                    let hint = if rec.iter().any(|f| f.contains(&b'\n')) {
                        " (a quote is not closed: a field runs over several lines)"
                    } else {
                        ""
                    };
                    return Err(Error::format(
                        &self.path,
                        format!("row {row} (line {line}): {} fields, expected {n_header} as in the header{hint}", rec.len()),
                    ));
                }
                if rec.len() == 1 && n_header > 1 {
                    // a blank line: skip it, but keep counting rows as the file has them
                    continue;
                }
                for (b, p) in builders.iter_mut().zip(cols) {
                    let raw = rec.get(p.index).unwrap_or(b"");
                    let text = std::str::from_utf8(raw).map_err(|_| Error::Value {
                        path: self.path.clone(),
                        row,
                        column: p.source.clone(),
                        value: show_value(&String::from_utf8_lossy(raw)),
                        problem: "invalid UTF-8 (the file must be UTF-8 encoded)".into(),
                    })?;
                    b.push_text(text)
                        .map_err(|problem| value_error(&self.path, row, p, text, problem))?;
                }
                in_batch += 1;
            }
            if in_batch == BATCH_ROWS || (!more && in_batch > 0) {
                let mut fields = Vec::with_capacity(cols.len());
                let mut arrays = Vec::with_capacity(cols.len());
                for (b, p) in builders.iter_mut().zip(cols) {
                    let arr = b.finish();
                    check_array(&self.path, p, &arr, first_row)?;
                    arrays.push(arr);
                    fields.push(Field::new(&p.name, arrow_type(p.spec.ty), true));
                }
                let batch = RecordBatch::try_new_with_options(
                    Arc::new(Schema::new(fields)),
                    arrays,
                    &arrow_array::RecordBatchOptions::new().with_row_count(Some(in_batch)),
                )
                .map_err(|e| Error::format(&self.path, e))?;
                f(&Chunk {
                    path: &self.path,
                    first_row,
                    unit_rows: 0,
                    batch,
                })?;
                first_row = row + 1;
                in_batch = 0;
            }
            if !more {
                return Ok(());
            }
        }
    }
}

/// The file columns no canonical column uses, and those of them that cannot be read. A column
/// whose name equals a canonical column read from another file column (through a mapping) is
/// left out: its name is taken.
fn extra_columns(
    found: &[String],
    types: &[Option<DataType>],
    present: &[Present],
) -> (Vec<Extra>, Vec<(String, String)>) {
    let mut extras = Vec::new();
    let mut unreadable = Vec::new();
    for (index, name) in found.iter().enumerate() {
        if present.iter().any(|p| p.index == index) {
            continue;
        }
        if name.is_empty() {
            unreadable.push((
                format!("column {}", index + 1),
                "it has no name in the header".into(),
            ));
            continue;
        }
        if let Some(p) = present.iter().find(|p| p.spec.name == name.as_str()) {
            unreadable.push((
                name.clone(),
                format!(
                    "its name is taken by the canonical column read from {:?}",
                    p.source
                ),
            ));
            continue;
        }
        if extras.iter().any(|e: &Extra| &e.name == name) {
            unreadable.push((name.clone(), "a second column of the same name".into()));
            continue;
        }
        let ty = match &types[index] {
            None => Some(ColType::Str),
            Some(dt) => extra_type(dt),
        };
        match ty {
            Some(ty) => extras.push(Extra {
                name: name.clone(),
                index,
                ty,
            }),
            None => unreadable.push((
                name.clone(),
                format!(
                    "its type {} is not a number, boolean, text, date or timestamp",
                    types[index].as_ref().expect("typed")
                ),
            )),
        }
    }
    (extras, unreadable)
}

/// The type an extra Parquet column is read as; `None` for types segmint cannot use.
fn extra_type(dt: &DataType) -> Option<ColType> {
    Some(match dt {
        d if is_text(d) => ColType::Str,
        d if d.is_integer() => ColType::Int,
        d if d.is_floating() => ColType::Float,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => ColType::Float,
        DataType::Boolean => ColType::Bool,
        DataType::Date32 | DataType::Date64 => ColType::Date,
        DataType::Timestamp(_, _) => ColType::Timestamp,
        DataType::Null => ColType::Str,
        _ => return None,
    })
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let pos = e
        .position()
        .map(|p| format!("line {}: ", p.line()))
        .unwrap_or_default();
    match e.kind() {
        csv::ErrorKind::Io(_) => Error::format(path, format!("{pos}cannot read: {e}")),
        _ => Error::format(path, format!("{pos}malformed CSV: {e}")),
    }
}

fn read_csv_header(path: &Path) -> Result<Vec<String>> {
    let mut file = open_file(path)?;
    let mut probe = [0u8; 1];
    if file.read(&mut probe).map_err(|e| Error::io(path, e))? == 0 {
        return Err(Error::Empty {
            path: path.into(),
            message: "file is empty (expected a header line)".into(),
        });
    }
    let file = open_file(path)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(file);
    let header = rdr.byte_headers().map_err(|e| csv_error(path, e))?.clone();
    let mut names = Vec::with_capacity(header.len());
    for (i, raw) in header.iter().enumerate() {
        let raw = if i == 0 {
            raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
        } else {
            raw
        };
        let s = std::str::from_utf8(raw).map_err(|_| {
            Error::format(
                path,
                format!(
                    "header column {}: invalid UTF-8 {}",
                    i + 1,
                    show_value(&String::from_utf8_lossy(raw))
                ),
            )
        })?;
        names.push(s.trim().to_string());
    }
    if names.iter().all(|n| n.is_empty()) {
        return Err(Error::Empty {
            path: path.into(),
            message: "file has an empty header line".into(),
        });
    }
    Ok(names)
}

fn value_error(path: &Path, row: u64, p: &ReadCol, value: &str, problem: String) -> Error {
    Error::Value {
        path: path.to_path_buf(),
        row,
        column: p.source.clone(),
        value: show_value(value),
        problem,
    }
}

// ------------------------------------------------------------------------------------ text values

/// Parses an integer: optional sign, digits, and an optional all-zero fraction (`12.0`).
pub fn parse_int(s: &str) -> std::result::Result<i64, String> {
    let t = s.trim();
    let t2 = match t.split_once('.') {
        Some((int, frac)) if !int.is_empty() && frac.bytes().all(|b| b == b'0') => int,
        _ => t,
    };
    t2.parse::<i64>().map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
            "integer out of range (more than 64 bits)".to_string()
        }
        _ => "not an integer".to_string(),
    })
}

/// Parses a finite number (NaN and infinities are rejected).
pub fn parse_float(s: &str) -> std::result::Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| "not a number".to_string())?;
    check_float(v)?;
    Ok(v)
}

fn check_float(v: f64) -> std::result::Result<(), String> {
    if v.is_nan() {
        Err("NaN is not a valid amount".into())
    } else if v.is_infinite() {
        Err("infinite value (or a number too large for 64 bits)".into())
    } else if v.abs() > MAX_ABS_AMOUNT {
        Err(format!(
            "value too large (the limit is {MAX_ABS_AMOUNT:e} in absolute value)"
        ))
    } else {
        Ok(())
    }
}

/// Parses a boolean written as true/false, yes/no, y/n, t/f or 1/0 (any case).
pub fn parse_bool(s: &str) -> std::result::Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" => Ok(true),
        "false" | "f" | "0" | "no" | "n" => Ok(false),
        _ => Err("not a boolean (expected true/false, 1/0 or yes/no)".into()),
    }
}

fn parse_ts(s: &str) -> std::result::Result<i64, String> {
    parse_timestamp_us(s).ok_or_else(|| {
        "unparseable timestamp (expected e.g. 2024-03-06, 2024-03-06 12:05:49[.ffffff][Z] or RFC 3339)".into()
    })
}

fn parse_day(s: &str) -> std::result::Result<i32, String> {
    parse_date(s)
        .or_else(|| parse_timestamp_us(s).map(|us| us.div_euclid(US_PER_DAY)))
        .and_then(|d| i32::try_from(d).ok())
        .ok_or_else(|| "unparseable date (expected YYYY-MM-DD)".into())
}

enum ColBuilder {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
}

impl ColBuilder {
    fn new(ty: ColType) -> Self {
        let n = BATCH_ROWS;
        match ty {
            ColType::Str => ColBuilder::Str(StringBuilder::with_capacity(n, n * 12)),
            ColType::Int => ColBuilder::Int(Int64Builder::with_capacity(n)),
            ColType::Float => ColBuilder::Float(Float64Builder::with_capacity(n)),
            ColType::Bool => ColBuilder::Bool(BooleanBuilder::with_capacity(n)),
            ColType::Date => ColBuilder::Date(Date32Builder::with_capacity(n)),
            ColType::Timestamp => {
                ColBuilder::Ts(TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"))
            }
        }
    }

    /// Appends one text value; an empty field is null.
    fn push_text(&mut self, s: &str) -> std::result::Result<(), String> {
        let null = s.trim().is_empty();
        match self {
            ColBuilder::Str(b) => {
                if s.is_empty() {
                    b.append_null()
                } else {
                    b.append_value(s)
                }
            }
            ColBuilder::Int(b) => b.append_option(if null { None } else { Some(parse_int(s)?) }),
            ColBuilder::Float(b) => {
                b.append_option(if null { None } else { Some(parse_float(s)?) })
            }
            ColBuilder::Bool(b) => b.append_option(if null { None } else { Some(parse_bool(s)?) }),
            ColBuilder::Date(b) => b.append_option(if null { None } else { Some(parse_day(s)?) }),
            ColBuilder::Ts(b) => b.append_option(if null { None } else { Some(parse_ts(s)?) }),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Str(b) => Arc::new(b.finish()),
            ColBuilder::Int(b) => Arc::new(b.finish()),
            ColBuilder::Float(b) => Arc::new(b.finish()),
            ColBuilder::Bool(b) => Arc::new(b.finish()),
            ColBuilder::Date(b) => Arc::new(b.finish()),
            ColBuilder::Ts(b) => Arc::new(b.finish()),
        }
    }
}

// ------------------------------------------------------------------------------ Arrow conversion

fn is_text(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

fn is_integer(dt: &DataType) -> bool {
    dt.is_integer()
}

/// Rejects physical types that cannot hold the canonical column (checked once per file).
fn check_convertible(path: &Path, spec: &ColumnSpec, source: &str, dt: &DataType) -> Result<()> {
    let ok = is_text(dt)
        || matches!(dt, DataType::Null)
        || match spec.ty {
            ColType::Str => is_integer(dt),
            ColType::Int => is_integer(dt) || dt.is_floating(),
            ColType::Float => dt.is_numeric(),
            ColType::Bool => matches!(dt, DataType::Boolean) || is_integer(dt),
            ColType::Date => matches!(
                dt,
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
            ),
            ColType::Timestamp => matches!(
                dt,
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
            ),
        };
    if ok {
        return Ok(());
    }
    let hint = match (spec.ty, dt.is_integer()) {
        (ColType::Timestamp, true) => " (integers are ambiguous as timestamps: store a Parquet TIMESTAMP or text like 2024-03-06 12:00:00)",
        _ => "",
    };
    Err(Error::ColumnType {
        path: path.to_path_buf(),
        column: if source == spec.name {
            source.to_string()
        } else {
            format!("{source} (as {})", spec.name)
        },
        expected: format!("{}{hint}", spec.ty.describe()),
        found: dt.to_string(),
    })
}

/// Converts one Arrow column to the canonical type, checking ids and numbers.
fn normalize(path: &Path, p: &ReadCol, arr: &ArrayRef, first_row: u64) -> Result<ArrayRef> {
    let target = arrow_type(p.spec.ty);
    let dt = arr.data_type();
    if p.spec.id && is_dictionary_ids(dt) {
        check_dictionary_ids(path, p, arr, first_row)?;
        return Ok(arr.clone());
    }
    let out: ArrayRef = if *dt == target {
        arr.clone()
    } else if is_text(dt) && p.spec.ty != ColType::Str {
        let s = arrow_cast::cast(arr, &DataType::Utf8).map_err(|e| Error::format(path, e))?;
        let s = s.as_string::<i32>();
        let mut b = ColBuilder::new(p.spec.ty);
        for (i, v) in s.iter().enumerate() {
            let v = v.unwrap_or("");
            b.push_text(v)
                .map_err(|problem| value_error(path, first_row + i as u64, p, v, problem))?;
        }
        b.finish()
    } else {
        let via = match (p.spec.ty, dt) {
            (ColType::Timestamp, DataType::Date32 | DataType::Date64) => {
                // a date is midnight UTC of that day
                let days =
                    arrow_cast::cast(arr, &DataType::Date32).map_err(|e| Error::format(path, e))?;
                let days = days.as_primitive::<Date32Type>();
                let us: TimestampMicrosecondArray = days
                    .iter()
                    .map(|d| d.map(|d| d as i64 * US_PER_DAY))
                    .collect();
                let arr: ArrayRef = Arc::new(us.with_timezone("UTC"));
                check_array(path, p, &arr, first_row)?;
                return Ok(arr);
            }
            (ColType::Timestamp, DataType::Timestamp(unit, _)) => {
                // Values are UTC instants whether or not a zone is attached; naive times are
                // UTC. Converted by hand: arrow's casts between zones need a time-zone database.
                return to_utc_micros(path, p, arr, *unit, first_row);
            }
            (ColType::Int, d) if d.is_floating() => {
                let f = arrow_cast::cast(arr, &DataType::Float64)
                    .map_err(|e| Error::format(path, e))?;
                let f = f.as_primitive::<Float64Type>();
                for (i, v) in f.iter().enumerate() {
                    if let Some(v) = v {
                        if v.fract() != 0.0 || !v.is_finite() || v.abs() > 9.0e15 {
                            return Err(value_error(
                                path,
                                first_row + i as u64,
                                p,
                                &v.to_string(),
                                "not an integer".into(),
                            ));
                        }
                    }
                }
                arrow_cast::cast(arr, &target)
            }
            _ => arrow_cast::cast_with_options(
                arr,
                &target,
                &arrow_cast::CastOptions {
                    safe: false,
                    ..Default::default()
                },
            ),
        }
        .map_err(|e| Error::Format {
            path: path.to_path_buf(),
            message: format!(
                "column {}: cannot convert {dt} to {}: {e}",
                p.source,
                p.spec.ty.describe()
            ),
        })?;
        via
    };
    check_array(path, p, &out, first_row)?;
    Ok(out)
}

fn to_utc_micros(
    path: &Path,
    p: &ReadCol,
    arr: &ArrayRef,
    unit: TimeUnit,
    first_row: u64,
) -> Result<ArrayRef> {
    let raw = arrow_array::Int64Array::from(
        arr.to_data()
            .into_builder()
            .data_type(DataType::Int64)
            .build()
            .map_err(|e| Error::format(path, e))?,
    );
    let mut out = Vec::with_capacity(raw.len());
    for (i, v) in raw.iter().enumerate() {
        out.push(match v {
            None => None,
            Some(v) => Some(
                match unit {
                    TimeUnit::Second => v.checked_mul(1_000_000),
                    TimeUnit::Millisecond => v.checked_mul(1_000),
                    TimeUnit::Microsecond => Some(v),
                    TimeUnit::Nanosecond => Some(v.div_euclid(1_000)),
                }
                .ok_or_else(|| {
                    value_error(
                        path,
                        first_row + i as u64,
                        p,
                        &v.to_string(),
                        "timestamp out of range".into(),
                    )
                })?,
            ),
        });
    }
    let arr: ArrayRef = Arc::new(TimestampMicrosecondArray::from(out).with_timezone("UTC"));
    check_array(path, p, &arr, first_row)?;
    Ok(arr)
}

/// Ids read as a dictionary on request (see [`TableReader::fold_with`]).
fn is_dictionary_ids(dt: &DataType) -> bool {
    matches!(dt, DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8)
}

/// An id that starts with a visible ASCII character is not blank; only others are trimmed.
fn blank_id(v: &str) -> bool {
    match v.as_bytes().first() {
        None => true,
        Some(b) if b.is_ascii_graphic() => false,
        Some(_) => v.trim().is_empty(),
    }
}

/// [`check_array`] for dictionary ids: the blank test runs once per distinct value.
fn check_dictionary_ids(path: &Path, p: &ReadCol, arr: &ArrayRef, first_row: u64) -> Result<()> {
    let d = arr.as_dictionary::<Int32Type>();
    let values = d.values().as_string::<i32>();
    let blank: Vec<bool> = (0..values.len())
        .map(|j| values.is_null(j) || blank_id(values.value(j)))
        .collect();
    let keys = d.keys();
    let bad = |i: usize| keys.is_null(i) || blank[keys.value(i) as usize];
    if keys.null_count() > 0 || blank.contains(&true) {
        if let Some(i) = (0..d.len()).find(|&i| bad(i)) {
            let (value, what) = if keys.is_null(i) || values.is_null(keys.value(i) as usize) {
                ("null".to_string(), "missing")
            } else {
                (show_value(values.value(keys.value(i) as usize)), "empty")
            };
            return Err(Error::Value {
                path: path.to_path_buf(),
                row: first_row + i as u64,
                column: p.source.clone(),
                value,
                problem: format!("{what} identifier"),
            });
        }
    }
    Ok(())
}

/// Hard checks on a canonical array: ids not null or empty, floats finite and in range.
fn check_array(path: &Path, p: &ReadCol, arr: &ArrayRef, first_row: u64) -> Result<()> {
    if p.spec.id {
        let s = arr.as_string::<i32>();
        if let Some(i) = (0..s.len()).find(|&i| s.is_null(i) || blank_id(s.value(i))) {
            let (value, what) = if s.is_null(i) {
                ("null".to_string(), "missing")
            } else {
                (show_value(s.value(i)), "empty")
            };
            return Err(Error::Value {
                path: path.to_path_buf(),
                row: first_row + i as u64,
                column: p.source.clone(),
                value,
                problem: format!("{what} identifier"),
            });
        }
    } else if p.spec.required && arr.null_count() > 0 {
        let i = (0..arr.len()).find(|&i| arr.is_null(i)).unwrap_or(0);
        return Err(Error::Value {
            path: path.to_path_buf(),
            row: first_row + i as u64,
            column: p.source.clone(),
            value: "null".into(),
            problem: format!("missing {} (the column is required)", p.spec.ty.describe()),
        });
    }
    if p.spec.ty == ColType::Float && !p.extra {
        let f = arr.as_primitive::<Float64Type>();
        for (i, v) in f.iter().enumerate() {
            if let Some(v) = v {
                if let Err(problem) = check_float(v) {
                    return Err(value_error(
                        path,
                        first_row + i as u64,
                        p,
                        &v.to_string(),
                        problem,
                    ));
                }
            }
        }
    }
    Ok(())
}
