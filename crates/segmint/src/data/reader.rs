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

use crate::data::expr::Expr;
use crate::data::mapping::{ColumnMap, MissingIds, TimeFormat, TimeZone};
use crate::data::schema::{ColType, ColumnSpec, TableKind, MAX_ABS_AMOUNT};
use crate::data::text_file::{Compression, TextFile};
use crate::data::timeparse::TimeParse;
use crate::data::timestamp::{parse_date, parse_timestamp_us, US_PER_DAY};
use crate::error::{show_value, Error, Result};
use crate::progress::Progress;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Rows per batch handed to the fold function.
pub const BATCH_ROWS: usize = 65_536;

/// File format, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// Delimited text (CSV, TSV, fixed-width with spaces), plain or compressed (`.gz`, `.zst`).
    Csv,
    /// A spreadsheet (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`): one sheet.
    Excel,
    /// Arrow record batches handed over in memory ([`TableReader::from_batches`]).
    Arrow,
}

impl Format {
    /// The format of a file by its extension.
    pub fn from_path(path: &Path) -> Result<Format> {
        let (compression, ext) = Compression::of(path);
        match ext.as_str() {
            "parquet" | "pq" if compression == Compression::None => Ok(Format::Parquet),
            "csv" | "tsv" | "tab" | "txt" | "dat" => Ok(Format::Csv),
            "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" if compression == Compression::None => {
                Ok(Format::Excel)
            }
            _ => Err(Error::format(
                path,
                "unknown file type: expected .parquet, .csv (.tsv, .txt; also .gz or .zst compressed) or .xlsx",
            )),
        }
    }
}

/// One canonical column found in the file.
#[derive(Debug, Clone)]
pub struct Present {
    /// The canonical column.
    pub spec: &'static ColumnSpec,
    /// Its name in the file, or the expression it is computed by.
    pub source: String,
    /// Where its values come from.
    pub input: Input,
}

/// Where a canonical column's values come from.
#[derive(Debug, Clone)]
pub enum Input {
    /// A column of the file, by position.
    Column(usize),
    /// An expression over columns of the file (`amount = Quantity * UnitPrice`, `@row`).
    Derived(Arc<Derived>),
}

/// A canonical column computed from other columns of the same row.
#[derive(Debug)]
pub struct Derived {
    /// The expression.
    pub expr: Expr,
    /// The columns it reads: its name for each, and the position in the file.
    pub inputs: Vec<(String, usize)>,
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
    /// Its name in the file (for a derived column: `amount = <expression>`).
    source: String,
    input: Input,
    /// For an extra column: its type, neither an id nor required.
    spec: ColumnSpec,
    extra: bool,
    /// How a timestamp or date column's values are read.
    time: Option<Arc<TimeParse>>,
    /// Rows with a missing id are left out instead of an error.
    drop_missing: bool,
}

impl ReadCol {
    fn canonical(p: &Present, read: &ReadSettings) -> ReadCol {
        ReadCol {
            name: p.spec.name.to_string(),
            source: match &p.input {
                Input::Column(_) => p.source.clone(),
                Input::Derived(d) => format!("{} = {}", p.spec.name, d.expr),
            },
            input: p.input.clone(),
            spec: *p.spec,
            extra: false,
            time: read.time_for(p.spec.ty, p.spec.name),
            drop_missing: p.spec.id && read.drop_missing,
        }
    }
    fn extra(e: &Extra, read: &ReadSettings) -> ReadCol {
        ReadCol {
            name: e.name.clone(),
            source: e.name.clone(),
            input: Input::Column(e.index),
            spec: ColumnSpec {
                name: "",
                ty: e.ty,
                required: false,
                id: false,
                nullable: true,
            },
            extra: true,
            time: read.time_for(e.ty, &e.name),
            drop_missing: false,
        }
    }
    /// The file columns it reads.
    fn file_indices(&self) -> Vec<usize> {
        match &self.input {
            Input::Column(i) => vec![*i],
            Input::Derived(d) => d.inputs.iter().map(|(_, i)| *i).collect(),
        }
    }
}

/// The reading options of a table that apply per column.
#[derive(Debug, Clone, Default)]
struct ReadSettings {
    formats: Vec<(String, TimeFormat)>,
    default_format: Option<TimeFormat>,
    zone: Option<TimeZone>,
    drop_missing: bool,
}

impl ReadSettings {
    fn from_map(kind: TableKind, map: &ColumnMap, names: &[&str]) -> ReadSettings {
        ReadSettings {
            formats: names
                .iter()
                .filter_map(|n| map.time_format(kind, n).map(|f| (n.to_string(), f.clone())))
                .collect(),
            default_format: map.table_time_format(kind).cloned(),
            zone: map.timezone,
            drop_missing: map.missing_ids == MissingIds::Drop,
        }
    }
    fn time_for(&self, ty: ColType, name: &str) -> Option<Arc<TimeParse>> {
        if !matches!(ty, ColType::Date | ColType::Timestamp) {
            return None;
        }
        let format = self
            .formats
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .or_else(|| self.default_format.clone());
        let t = TimeParse {
            format,
            zone: self.zone,
        };
        t.is_custom().then(|| Arc::new(t))
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
    /// With rows left out (`--missing-ids drop`): the offset from `first_row` of each row kept.
    kept: Option<Vec<u32>>,
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
        match &self.kept {
            Some(k) => self.first_row + k[i] as u64,
            None => self.first_row + i as u64,
        }
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
    Csv { header: Vec<String>, file: TextFile },
    Memory { batches: Vec<RecordBatch> },
}

/// The rows left out of one chunk and their amount (summed as the mart sums money: exact in
/// whole cents).
#[derive(Debug, Clone, Copy, Default)]
struct DropCount {
    rows: u64,
    amount: Option<crate::mart::Money>,
}

/// Rows left out of a table because an id was missing (`--missing-ids drop`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Dropped {
    /// Rows left out.
    pub rows: u64,
    /// The sum of their `amount` (transactions; `None` when the table has none).
    pub amount: Option<f64>,
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
    read: ReadSettings,
    notes: Vec<String>,
    /// Rows left out per chunk (by its first row, so that reading twice counts once).
    dropped: Mutex<BTreeMap<u64, DropCount>>,
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
                let file = TextFile::open(path, &map.file)?;
                let header = file.header()?;
                let n = header.len();
                (header.clone(), Source::Csv { header, file }, vec![None; n])
            }
            Format::Excel => {
                let (header, batches) =
                    crate::data::workbook::read_sheet(path, map.file.sheet.as_deref())?;
                let n = header.len();
                (header, Source::Memory { batches }, vec![None; n])
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
        let mut notes = Vec::new();
        let canonical: Vec<&str> = kind.columns().iter().map(|c| c.name).collect();
        let mut read = ReadSettings::from_map(kind, map, &canonical);
        for spec in kind.columns() {
            let want = map.source_name(kind, spec.name);
            match find_column(&found, want) {
                Some(index) => {
                    if let Some(dt) = &types[index] {
                        let epoch = read
                            .time_for(spec.ty, spec.name)
                            .is_some_and(|t| t.is_epoch());
                        if !(epoch && dt.is_integer()) {
                            check_convertible(path, spec, &found[index], dt)?;
                        }
                    }
                    present.push(Present {
                        spec,
                        source: found[index].clone(),
                        input: Input::Column(index),
                    })
                }
                None if Expr::looks_like_expression(want) => {
                    let derived = derive(path, spec.name, want, &found)?;
                    present.push(Present {
                        spec,
                        source: derived.expr.to_string(),
                        input: Input::Derived(Arc::new(derived)),
                    })
                }
                None if kind == TableKind::Transactions
                    && spec.name == "order_id"
                    && !map.is_mapped(kind, spec.name) =>
                {
                    // exports without order ids (CDNOW): every row is one order
                    notes.push(
                        "no order_id column: each row is counted as one order (map one with --columns order_id=COLUMN)"
                            .to_string(),
                    );
                    let derived = derive(path, spec.name, "@row", &found)?;
                    present.push(Present {
                        spec,
                        source: "@row".into(),
                        input: Input::Derived(Arc::new(derived)),
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
        let names: Vec<&str> = present
            .iter()
            .map(|p| p.spec.name)
            .chain(extras.iter().map(|e| e.name.as_str()))
            .collect();
        read = ReadSettings::from_map(kind, map, &names);
        Ok(TableReader {
            kind,
            path: path.to_path_buf(),
            format,
            present,
            extras,
            unreadable,
            found,
            source,
            read,
            notes,
            dropped: Mutex::new(BTreeMap::new()),
        })
    }

    /// What the reader decided that the user should know (e.g. "each row is one order").
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Rows left out because an id was missing (`--missing-ids drop`), over the rows read so
    /// far (read the id columns first: every read of the table counts each unit once).
    pub fn dropped(&self) -> Dropped {
        let d = self.dropped.lock().expect("dropped lock");
        let rows = d.values().map(|v| v.rows).sum();
        let amount = d.values().filter_map(|v| v.amount).reduce(|mut a, b| {
            a.merge(&b);
            a
        });
        let amount = amount.map(|m| m.value());
        Dropped { rows, amount }
    }

    /// Whether rows with a missing id are left out rather than an error.
    pub fn drops_missing_ids(&self) -> bool {
        self.read.drop_missing
    }

    /// The canonical columns found in the file.
    pub fn present(&self) -> &[Present] {
        &self.present
    }

    /// Canonical name -> the file's name for it, for exports written in the user's names (SQL,
    /// Python); a derived column (`customer_id=@row`) keeps its canonical name.
    pub fn export_names(&self) -> std::collections::HashMap<String, String> {
        self.present
            .iter()
            .map(|p| {
                let name = match p.input {
                    Input::Column(_) => p.source.clone(),
                    Input::Derived(_) => p.spec.name.to_string(),
                };
                (p.spec.name.to_string(), name)
            })
            .collect()
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
            Source::Csv { file, .. } => std::fs::metadata(&self.path).ok().map(|m| {
                let factor = if file.compression == Compression::None {
                    1
                } else {
                    5
                };
                m.len() * factor / 60
            }),
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
            .filter(|p| wanted.contains(&p.spec.name) || (p.spec.id && self.read.drop_missing))
            .map(|p| ReadCol::canonical(p, &self.read))
            .collect();
        cols.extend(
            self.extras
                .iter()
                .filter(|e| wanted.contains(&e.name.as_str()))
                .map(|e| ReadCol::extra(e, &self.read)),
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
            let Input::Column(index) = p.input else {
                continue;
            };
            if p.spec.id
                && dictionary.contains(&p.name.as_str())
                && fields[index].data_type() == &DataType::Utf8
            {
                let f = fields[index].clone().with_data_type(DataType::Dictionary(
                    Box::new(DataType::Int32),
                    Box::new(DataType::Utf8),
                ));
                fields[index] = f;
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

    /// The canonical batch of `n` rows starting at data row `row`: each of `cols` taken from
    /// the file's columns (`column(index)`) or derived from them, and normalized to its
    /// canonical type and name.
    fn canonical_batch(
        &self,
        cols: &[ReadCol],
        row: u64,
        n: usize,
        column: impl Fn(usize) -> Result<ArrayRef>,
    ) -> Result<RecordBatch> {
        let mut fields = Vec::with_capacity(cols.len());
        let mut arrays = Vec::with_capacity(cols.len());
        for p in cols {
            let arr = match &p.input {
                Input::Column(i) => normalize(&self.path, p, &column(*i)?, row)?,
                Input::Derived(d) => {
                    let inputs = d
                        .inputs
                        .iter()
                        .map(|(_, i)| column(*i))
                        .collect::<Result<Vec<_>>>()?;
                    derive_array(&self.path, p, d, &inputs, row, n)?
                }
            };
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

    /// Hands a chunk to `f`, first leaving out the rows with a missing id when asked to
    /// (counted per unit in `dropped`).
    fn emit(
        &self,
        cols: &[ReadCol],
        mut chunk: Chunk,
        f: &mut dyn FnMut(&Chunk) -> Result<()>,
    ) -> Result<()> {
        if self.read.drop_missing {
            let (kept, dropped) = keep_rows_with_ids(cols, &chunk.batch)?;
            // keyed by the chunk's first row: chunks are cut the same way on every read
            let mut d = self.dropped.lock().expect("dropped lock");
            let entry = d.entry(chunk.first_row).or_default();
            entry.rows = dropped.rows;
            entry.amount = dropped.amount.or(entry.amount);
            drop(d);
            if let Some(k) = kept {
                chunk.batch = k.batch;
                chunk.kept = Some(k.offsets);
            }
        }
        f(&chunk)
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
                self.canonical_batch(cols, row, n, |i| Ok(batch.column(i).slice(offset, n)))?;
            if n > 0 {
                let chunk = Chunk {
                    path: &self.path,
                    first_row: row,
                    unit_rows,
                    batch: chunk,
                    kept: None,
                };
                self.emit(cols, chunk, f)?;
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
        let mask = ProjectionMask::roots(schema_descr, cols.iter().flat_map(ReadCol::file_indices));
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
            let batch = self.canonical_batch(cols, row, n, |i| {
                batch
                    .column_by_name(&self.found[i])
                    .cloned()
                    .ok_or_else(|| {
                        Error::format(
                            &self.path,
                            format!("column {} vanished while reading", self.found[i]),
                        )
                    })
            })?;
            let chunk = Chunk {
                path: &self.path,
                first_row: row,
                unit_rows,
                batch,
                kept: None,
            };
            self.emit(cols, chunk, f)?;
            row += n as u64;
        }
        Ok(())
    }

    fn read_csv(&self, cols: &[ReadCol], f: &mut dyn FnMut(&Chunk) -> Result<()>) -> Result<()> {
        let (n_header, file) = match &self.source {
            Source::Csv { header, file } => (header.len(), file),
            _ => unreachable!("read_csv on a Parquet source"),
        };
        let mut rdr = file.csv_reader()?;
        let mut builders: Vec<ColBuilder> = cols
            .iter()
            .map(|p| ColBuilder::new(p.spec.ty, p.time.clone()))
            .collect();
        let mut derived_text: String;
        let mut rec = csv::ByteRecord::new();
        let mut row: u64 = 0;
        let mut first_row = 1u64;
        let mut in_batch = 0usize;
        loop {
            let more = rdr
                .read_byte_record(&mut rec)
                .map_err(|e| file.csv_error(e))?;
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
                    let text = match &p.input {
                        Input::Column(i) => self.csv_field(&rec, *i, row, &self.found[*i])?,
                        Input::Derived(d) => {
                            derived_text = self.derive_csv(p, d, &rec, row)?;
                            derived_text.as_str()
                        }
                    };
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
                let chunk = Chunk {
                    path: &self.path,
                    first_row,
                    unit_rows: 0,
                    batch,
                    kept: None,
                };
                self.emit(cols, chunk, f)?;
                first_row = row + 1;
                in_batch = 0;
            }
            if !more {
                return Ok(());
            }
        }
    }

    /// Field `i` of a CSV record as text; invalid UTF-8 is an error that names the option.
    fn csv_field<'r>(
        &self,
        rec: &'r csv::ByteRecord,
        i: usize,
        row: u64,
        column: &str,
    ) -> Result<&'r str> {
        let raw = rec.get(i).unwrap_or(b"");
        std::str::from_utf8(raw).map_err(|_| Error::Value {
            path: self.path.clone(),
            row,
            column: column.to_string(),
            value: show_value(&String::from_utf8_lossy(raw)),
            problem: "invalid UTF-8 (a Latin-1 export? pass --encoding latin1)".into(),
        })
    }

    /// A derived column's text for one CSV record.
    fn derive_csv(
        &self,
        p: &ReadCol,
        d: &Derived,
        rec: &csv::ByteRecord,
        row: u64,
    ) -> Result<String> {
        let mut values: Vec<(&str, &str)> = Vec::with_capacity(d.inputs.len());
        for (name, i) in &d.inputs {
            values.push((name, self.csv_field(rec, *i, row, name)?));
        }
        eval_derived(&self.path, p, d, &values, row)
    }
}

/// Finds a file column by name: exactly, else trimmed and ignoring ASCII case.
fn find_column(found: &[String], want: &str) -> Option<usize> {
    found.iter().position(|f| f == want).or_else(|| {
        found
            .iter()
            .position(|f| f.trim().eq_ignore_ascii_case(want.trim()))
    })
}

/// Parses a derived column's expression and finds the columns it reads.
fn derive(path: &Path, canonical: &str, text: &str, found: &[String]) -> Result<Derived> {
    let expr = Expr::parse(text).map_err(|e| {
        Error::Config(format!(
            "{}: column mapping {canonical}={text:?}: not a column of the file, and not an expression: {e}",
            path.display()
        ))
    })?;
    let mut inputs = Vec::new();
    for name in expr.columns() {
        match find_column(found, name) {
            Some(i) => inputs.push((name.to_string(), i)),
            None => {
                return Err(Error::MissingColumns {
                    path: path.to_path_buf(),
                    missing: vec![format!("{name} (in {canonical} = {text})")],
                    found: found.iter().map(|s| show_value(s)).collect(),
                    hint: "; quote a name with spaces or operators in backticks: `Unit Price`"
                        .into(),
                })
            }
        }
    }
    Ok(Derived { expr, inputs })
}

/// Evaluates a derived column on one row's input values.
fn eval_derived(
    path: &Path,
    p: &ReadCol,
    d: &Derived,
    values: &[(&str, &str)],
    row: u64,
) -> Result<String> {
    d.expr
        .eval_text(
            &|name| values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v),
            row,
        )
        .map_err(|problem| Error::Value {
            path: path.to_path_buf(),
            row,
            column: p.source.clone(),
            value: if values.is_empty() {
                "none".into()
            } else {
                values
                    .iter()
                    .map(|(n, v)| format!("{n}={}", show_value(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            problem,
        })
}

/// A derived column for `n` rows from its input arrays (cast to text, so that a Parquet or
/// in-memory file reads the same as a CSV file).
fn derive_array(
    path: &Path,
    p: &ReadCol,
    d: &Derived,
    inputs: &[ArrayRef],
    first_row: u64,
    n: usize,
) -> Result<ArrayRef> {
    let texts = inputs
        .iter()
        .map(|a| arrow_cast::cast(a, &DataType::Utf8).map_err(|e| Error::format(path, e)))
        .collect::<Result<Vec<_>>>()?;
    let texts: Vec<&StringArray> = texts.iter().map(|a| a.as_string::<i32>()).collect();
    let mut b = ColBuilder::new(p.spec.ty, p.time.clone());
    let mut values: Vec<(&str, &str)> = Vec::with_capacity(texts.len());
    for i in 0..n {
        values.clear();
        for ((name, _), t) in d.inputs.iter().zip(&texts) {
            values.push((name, if t.is_null(i) { "" } else { t.value(i) }));
        }
        let row = first_row + i as u64;
        let text = eval_derived(path, p, d, &values, row)?;
        b.push_text(&text)
            .map_err(|problem| value_error(path, row, p, &text, problem))?;
    }
    let arr = b.finish();
    check_array(path, p, &arr, first_row)?;
    Ok(arr)
}

/// The rows of a batch kept, and the offset of each in the batch it was taken from.
struct Kept {
    batch: RecordBatch,
    offsets: Vec<u32>,
}

/// The rows of a batch whose id columns are all present, and what was left out; `None` for the
/// batch when every row is kept.
fn keep_rows_with_ids(cols: &[ReadCol], batch: &RecordBatch) -> Result<(Option<Kept>, DropCount)> {
    let n = batch.num_rows();
    let mut keep = vec![true; n];
    for (p, arr) in cols.iter().zip(batch.columns()) {
        if !p.drop_missing {
            continue;
        }
        for (i, k) in keep.iter_mut().enumerate() {
            if *k && id_missing(arr, i) {
                *k = false;
            }
        }
    }
    let left_out = keep.iter().filter(|k| !**k).count();
    let amount = batch.column_by_name("amount").map(|a| {
        let a = a.as_primitive::<Float64Type>();
        let mut money = crate::mart::Money::ZERO;
        for (i, _) in keep.iter().enumerate().filter(|(_, k)| !**k) {
            if !a.is_null(i) {
                money.add(a.value(i));
            }
        }
        money
    });
    let dropped = DropCount {
        rows: left_out as u64,
        amount,
    };
    if left_out == 0 {
        return Ok((None, dropped));
    }
    let mask = BooleanArray::from(keep.clone());
    let filtered = arrow_select::filter::filter_record_batch(batch, &mask)
        .map_err(|e| Error::Data(format!("leaving out rows without an id: {e}")))?;
    let offsets = keep
        .iter()
        .enumerate()
        .filter(|(_, k)| **k)
        .map(|(i, _)| i as u32)
        .collect();
    Ok((
        Some(Kept {
            batch: filtered,
            offsets,
        }),
        dropped,
    ))
}

/// Whether row `i` of an id column (plain or dictionary strings) is null or blank.
fn id_missing(arr: &ArrayRef, i: usize) -> bool {
    if arr.is_null(i) {
        return true;
    }
    match arr.data_type() {
        DataType::Dictionary(_, _) => {
            let d = arr.as_dictionary::<Int32Type>();
            let v = d.values().as_string::<i32>();
            let k = d.keys().value(i) as usize;
            v.is_null(k) || blank_id(v.value(k))
        }
        _ => blank_id(arr.as_string::<i32>().value(i)),
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
        if present
            .iter()
            .any(|p| matches!(p.input, Input::Column(i) if i == index))
        {
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

/// A CSV reading error as an error naming the file and line.
pub(crate) fn csv_error(path: &Path, e: csv::Error) -> Error {
    let pos = e
        .position()
        .map(|p| format!("line {}: ", p.line()))
        .unwrap_or_default();
    match e.kind() {
        csv::ErrorKind::Io(_) => Error::format(path, format!("{pos}cannot read: {e}")),
        _ => Error::format(path, format!("{pos}malformed CSV: {e}")),
    }
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
    Date(Date32Builder, Option<Arc<TimeParse>>),
    Ts(TimestampMicrosecondBuilder, Option<Arc<TimeParse>>),
}

impl ColBuilder {
    fn new(ty: ColType, time: Option<Arc<TimeParse>>) -> Self {
        let n = BATCH_ROWS;
        match ty {
            ColType::Str => ColBuilder::Str(StringBuilder::with_capacity(n, n * 12)),
            ColType::Int => ColBuilder::Int(Int64Builder::with_capacity(n)),
            ColType::Float => ColBuilder::Float(Float64Builder::with_capacity(n)),
            ColType::Bool => ColBuilder::Bool(BooleanBuilder::with_capacity(n)),
            ColType::Date => ColBuilder::Date(Date32Builder::with_capacity(n), time),
            ColType::Timestamp => ColBuilder::Ts(
                TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
                time,
            ),
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
            ColBuilder::Date(b, t) => b.append_option(if null {
                None
            } else {
                Some(match t {
                    Some(t) => i32::try_from(t.day(s)?).map_err(|_| "date out of range")?,
                    None => parse_day(s)?,
                })
            }),
            ColBuilder::Ts(b, t) => b.append_option(if null {
                None
            } else {
                Some(match t {
                    Some(t) => t.timestamp_us(s)?,
                    None => parse_ts(s)?,
                })
            }),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Str(b) => Arc::new(b.finish()),
            ColBuilder::Int(b) => Arc::new(b.finish()),
            ColBuilder::Float(b) => Arc::new(b.finish()),
            ColBuilder::Bool(b) => Arc::new(b.finish()),
            ColBuilder::Date(b, _) => Arc::new(b.finish()),
            ColBuilder::Ts(b, _) => Arc::new(b.finish()),
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
        if !p.drop_missing {
            check_dictionary_ids(path, p, arr, first_row)?;
        }
        return Ok(arr.clone());
    }
    let out: ArrayRef = if *dt == target {
        arr.clone()
    } else if is_text(dt) && p.spec.ty != ColType::Str {
        let s = arrow_cast::cast(arr, &DataType::Utf8).map_err(|e| Error::format(path, e))?;
        let s = s.as_string::<i32>();
        let mut b = ColBuilder::new(p.spec.ty, p.time.clone());
        for (i, v) in s.iter().enumerate() {
            let v = v.unwrap_or("");
            b.push_text(v)
                .map_err(|problem| value_error(path, first_row + i as u64, p, v, problem))?;
        }
        b.finish()
    } else {
        let via = match (p.spec.ty, dt) {
            (ColType::Timestamp | ColType::Date, d)
                if d.is_integer() && p.time.as_ref().is_some_and(|t| t.is_epoch()) =>
            {
                return epoch_array(path, p, arr, first_row);
            }
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
    // a timestamp without a zone is local time in --timezone (UTC by default)
    let naive = matches!(arr.data_type(), DataType::Timestamp(_, None));
    let zone = p.time.as_ref().filter(|t| naive && t.zone.is_some());
    let mut out = Vec::with_capacity(raw.len());
    for (i, v) in raw.iter().enumerate() {
        let bad = |problem: String| {
            value_error(
                path,
                first_row + i as u64,
                p,
                &v.unwrap_or(0).to_string(),
                problem,
            )
        };
        out.push(match v {
            None => None,
            Some(v) => {
                let us = match unit {
                    TimeUnit::Second => v.checked_mul(1_000_000),
                    TimeUnit::Millisecond => v.checked_mul(1_000),
                    TimeUnit::Microsecond => Some(v),
                    TimeUnit::Nanosecond => Some(v.div_euclid(1_000)),
                }
                .ok_or_else(|| bad("timestamp out of range".into()))?;
                Some(match zone {
                    Some(t) => t.local_us(us).map_err(bad)?,
                    None => us,
                })
            }
        });
    }
    let arr: ArrayRef = Arc::new(TimestampMicrosecondArray::from(out).with_timezone("UTC"));
    check_array(path, p, &arr, first_row)?;
    Ok(arr)
}

/// An integer column read as epoch seconds or milliseconds (`--timestamp-format epoch_s`).
fn epoch_array(path: &Path, p: &ReadCol, arr: &ArrayRef, first_row: u64) -> Result<ArrayRef> {
    let t = p.time.as_ref().expect("an epoch format");
    let ints = arrow_cast::cast(arr, &DataType::Int64).map_err(|e| Error::format(path, e))?;
    let ints = ints.as_primitive::<Int64Type>();
    let mut us = Vec::with_capacity(ints.len());
    for (i, v) in ints.iter().enumerate() {
        us.push(match v {
            None => None,
            Some(v) => Some(t.epoch_us(v).ok_or_else(|| {
                value_error(
                    path,
                    first_row + i as u64,
                    p,
                    &v.to_string(),
                    "timestamp out of range".into(),
                )
            })?),
        });
    }
    let out: ArrayRef = if p.spec.ty == ColType::Date {
        let days: Date32Array = us
            .iter()
            .map(|v| v.map(|u| u.div_euclid(US_PER_DAY) as i32))
            .collect();
        Arc::new(days)
    } else {
        Arc::new(TimestampMicrosecondArray::from(us).with_timezone("UTC"))
    };
    check_array(path, p, &out, first_row)?;
    Ok(out)
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
    if p.spec.id && p.drop_missing {
        // left out later, and counted
    } else if p.spec.id {
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
                problem: format!("{what} identifier (leave such rows out with --missing-ids drop)"),
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
