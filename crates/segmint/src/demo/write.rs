//! Turns generated blocks into Arrow batches and writes them (Parquet and/or CSV) to temporary
//! files that are renamed when the data set is complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use rayon::prelude::*;

use super::model::{self, Block, Catalog};
use super::{DemoFormat, RowCounts};
use crate::error::{Error, Result};

/// Builds a `StringArray` from bytes pushed piece by piece.
struct StrBuilder {
    values: Vec<u8>,
    offsets: Vec<i32>,
    valid: Vec<bool>,
    any_null: bool,
}

impl StrBuilder {
    fn with_capacity(n: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        StrBuilder {
            values: Vec::with_capacity(bytes),
            offsets,
            valid: Vec::with_capacity(n),
            any_null: false,
        }
    }
    fn push_str(&mut self, s: &str) {
        self.values.extend_from_slice(s.as_bytes());
        self.end(true);
    }
    fn push_id(&mut self, prefix: u8, n: u64, width: usize, n2: Option<(u64, usize)>) {
        self.values.push(prefix);
        push_padded(&mut self.values, n, width);
        if let Some((m, w2)) = n2 {
            push_padded(&mut self.values, m, w2);
        }
        self.end(true);
    }
    fn push_null(&mut self) {
        self.any_null = true;
        self.end(false);
    }
    fn end(&mut self, valid: bool) {
        self.offsets.push(self.values.len() as i32);
        self.valid.push(valid);
    }
    fn finish(self) -> ArrayRef {
        let nulls = self.any_null.then(|| NullBuffer::from(self.valid));
        Arc::new(
            StringArray::try_new(
                OffsetBuffer::new(ScalarBuffer::from(self.offsets)),
                Buffer::from_vec(self.values),
                nulls,
            )
            .expect("valid UTF-8 ids"),
        )
    }
}

fn push_padded(buf: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut tmp = [b'0'; 24];
    let mut i = tmp.len();
    while n > 0 {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let digits = tmp.len() - i;
    for _ in digits..width {
        buf.push(b'0');
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn schema(fields: &[(&str, DataType)]) -> SchemaRef {
    Arc::new(Schema::new(
        fields
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), true))
            .collect::<Vec<_>>(),
    ))
}

pub fn customers_schema() -> SchemaRef {
    use DataType::*;
    schema(&[
        ("customer_id", Utf8),
        ("signup_date", Date32),
        ("age", Int64),
        ("income", Float64),
        ("credit_score", Int64),
        ("premium", Boolean),
        ("loyalty_points", Int64),
        ("support_tickets", Int64),
        ("region", Utf8),
        ("tier", Utf8),
        ("seller_group", Utf8),
        ("sale_success", Int64),
    ])
}

pub fn transactions_schema() -> SchemaRef {
    use DataType::*;
    schema(&[
        ("customer_id", Utf8),
        ("order_id", Utf8),
        ("timestamp", ts_type()),
        ("amount", Float64),
        ("quantity", Int64),
        ("region", Utf8),
        ("payment_method", Utf8),
        ("category", Utf8),
    ])
}

pub fn events_schema() -> SchemaRef {
    use DataType::*;
    schema(&[
        ("user_id", Utf8),
        ("session_id", Utf8),
        ("timestamp", ts_type()),
        ("event_type", Utf8),
        ("product_id", Utf8),
        ("price", Float64),
        ("device", Utf8),
        ("traffic_source", Utf8),
        ("order_id", Utf8),
    ])
}

pub fn ground_truth_schema() -> SchemaRef {
    use DataType::*;
    schema(&[
        ("customer_id", Utf8),
        ("lambda_per_week", Float64),
        ("dropout_p", Float64),
        ("alive", Boolean),
        ("dropout_at", ts_type()),
        ("n_orders", Int64),
        ("spend_nu", Float64),
        ("spend_multiplier", Float64),
        ("expected_order_value", Float64),
        ("in_segment_a", Boolean),
        ("in_segment_b", Boolean),
        ("p_success", Float64),
    ])
}

fn products_schema() -> SchemaRef {
    use DataType::*;
    schema(&[
        ("product_id", Utf8),
        ("category", Utf8),
        ("list_price", Float64),
    ])
}

fn cat_array<'a>(
    blocks: &'a [Block],
    get: impl Fn(&'a Block) -> &'a [u8],
    names: &[&str],
) -> ArrayRef {
    let n: usize = blocks.iter().map(|b| get(b).len()).sum();
    let mut sb = StrBuilder::with_capacity(n, n * 8);
    for b in blocks {
        for &c in get(b) {
            sb.push_str(names[c as usize]);
        }
    }
    sb.finish()
}

fn cat<T: Clone>(blocks: &[Block], get: impl Fn(&Block) -> &[T]) -> Vec<T> {
    let mut v = Vec::with_capacity(blocks.iter().map(|b| get(b).len()).sum());
    for b in blocks {
        v.extend_from_slice(get(b));
    }
    v
}

fn ids<'a>(blocks: &'a [Block], get: impl Fn(&'a Block) -> &'a [u64], width: usize) -> ArrayRef {
    let n: usize = blocks.iter().map(|b| get(b).len()).sum();
    let mut sb = StrBuilder::with_capacity(n, n * (width + 1));
    for b in blocks {
        for &c in get(b) {
            sb.push_id(b'C', c, width, None);
        }
    }
    sb.finish()
}

fn batch(schema: SchemaRef, cols: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(schema, cols).expect("generated columns match the schema")
}

fn customers_batch(blocks: &[Block], width: usize) -> RecordBatch {
    batch(
        customers_schema(),
        vec![
            ids(blocks, |b| &b.c_num, width),
            Arc::new(Date32Array::from(cat(blocks, |b| &b.c_signup_day))),
            Arc::new(Int64Array::from(cat(blocks, |b| &b.c_age))),
            Arc::new(Float64Array::from(cat(blocks, |b| &b.c_income))),
            Arc::new(Int64Array::from(cat(blocks, |b| &b.c_credit))),
            Arc::new(BooleanArray::from(cat(blocks, |b| &b.c_premium))),
            Arc::new(Int64Array::from(cat(blocks, |b| &b.c_loyalty))),
            Arc::new(Int64Array::from(cat(blocks, |b| &b.c_tickets))),
            cat_array(blocks, |b| &b.c_region, &model::REGIONS),
            cat_array(blocks, |b| &b.c_tier, &model::TIERS),
            Arc::new(StringArray::from_iter_values(
                cat(blocks, |b| &b.c_group)
                    .iter()
                    .map(|&g| ["control", "A", "B"][g as usize]),
            )),
            Arc::new(Int64Array::from(cat(blocks, |b| &b.c_success))),
        ],
    )
}

fn ground_truth_batch(blocks: &[Block], width: usize) -> RecordBatch {
    let nu = cat(blocks, |b| &b.g_nu);
    let tier = cat(blocks, |b| &b.c_tier);
    let mult: Vec<f64> = tier.iter().map(|&t| model::TIER_MULT[t as usize]).collect();
    batch(
        ground_truth_schema(),
        vec![
            ids(blocks, |b| &b.c_num, width),
            Arc::new(Float64Array::from(cat(blocks, |b| &b.g_lambda))),
            Arc::new(Float64Array::from(cat(blocks, |b| &b.g_dropout_p))),
            Arc::new(BooleanArray::from(cat(blocks, |b| &b.g_alive))),
            Arc::new(
                TimestampMicrosecondArray::from(cat(blocks, |b| &b.g_dropout_at))
                    .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from(cat(blocks, |b| &b.g_n_orders))),
            Arc::new(Float64Array::from(nu)),
            Arc::new(Float64Array::from(mult)),
            Arc::new(Float64Array::from(cat(blocks, |b| &b.g_eov))),
            Arc::new(BooleanArray::from(cat(blocks, |b| &b.g_seg_a))),
            Arc::new(BooleanArray::from(cat(blocks, |b| &b.g_seg_b))),
            Arc::new(Float64Array::from(cat(blocks, |b| &b.g_p_success))),
        ],
    )
}

fn transactions_batch(blocks: &[Block], width: usize) -> RecordBatch {
    let n: usize = blocks.iter().map(|b| b.t_num.len()).sum();
    let mut cid = StrBuilder::with_capacity(n, n * (width + 1));
    let mut oid = StrBuilder::with_capacity(n, n * (width + 5));
    for b in blocks {
        for (&c, &k) in b.t_num.iter().zip(&b.t_order) {
            cid.push_id(b'C', c, width, None);
            oid.push_id(b'O', c, width, Some((k as u64, 4)));
        }
    }
    batch(
        transactions_schema(),
        vec![
            cid.finish(),
            oid.finish(),
            Arc::new(
                TimestampMicrosecondArray::from(cat(blocks, |b| &b.t_ts)).with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from(cat(blocks, |b| &b.t_amount))),
            Arc::new(Int64Array::from(cat(blocks, |b| &b.t_qty))),
            cat_array(blocks, |b| &b.t_region, &model::REGIONS),
            cat_array(blocks, |b| &b.t_pay, &model::PAYMENTS),
            cat_array(blocks, |b| &b.t_cat, &model::CATEGORIES),
        ],
    )
}

fn events_batch(blocks: &[Block], width: usize) -> RecordBatch {
    let n: usize = blocks.iter().map(|b| b.e_num.len()).sum();
    let mut uid = StrBuilder::with_capacity(n, n * (width + 1));
    let mut sid = StrBuilder::with_capacity(n, n * (width + 6));
    let mut pid = StrBuilder::with_capacity(n, n * 6);
    let mut oid = StrBuilder::with_capacity(n, n / 8 * (width + 5));
    let mut price: Vec<Option<f64>> = Vec::with_capacity(n);
    for b in blocks {
        for i in 0..b.e_num.len() {
            let c = b.e_num[i];
            uid.push_id(b'C', c, width, None);
            sid.push_id(b'S', c, width, Some((b.e_session[i] as u64, 5)));
            match b.e_product[i] {
                p if p >= 0 => pid.push_id(b'P', p as u64, 5, None),
                _ => pid.push_null(),
            }
            match b.e_order[i] {
                k if k >= 0 => oid.push_id(b'O', c, width, Some((k as u64, 4))),
                _ => oid.push_null(),
            }
            let p = b.e_price[i];
            price.push(if p.is_nan() { None } else { Some(p) });
        }
    }
    let combo = cat(blocks, |b| &b.e_combo);
    let device: StringArray = combo
        .iter()
        .map(|&c| Some(model::DEVICES[c as usize / 5]))
        .collect();
    let source: StringArray = combo
        .iter()
        .map(|&c| Some(model::SOURCES[c as usize % 5]))
        .collect();
    batch(
        events_schema(),
        vec![
            uid.finish(),
            sid.finish(),
            Arc::new(
                TimestampMicrosecondArray::from(cat(blocks, |b| &b.e_ts)).with_timezone("UTC"),
            ),
            cat_array(blocks, |b| &b.e_type, &model::EVENT_TYPES),
            pid.finish(),
            Arc::new(Float64Array::from(price)),
            Arc::new(device),
            Arc::new(source),
            oid.finish(),
        ],
    )
}

fn products_batch(catalog: &Catalog) -> RecordBatch {
    let n = catalog.price.len();
    let mut pid = StrBuilder::with_capacity(n, n * 6);
    for i in 0..n {
        pid.push_id(b'P', i as u64, 5, None);
    }
    let cats: StringArray = (0..n)
        .map(|i| Some(model::CATEGORIES[i / model::PRODUCTS_PER_CATEGORY]))
        .collect();
    batch(
        products_schema(),
        vec![
            pid.finish(),
            Arc::new(cats),
            Arc::new(Float64Array::from(catalog.price.clone())),
        ],
    )
}

/// One output table: its Parquet and/or CSV writer on a temporary file.
struct TableSink {
    name: &'static str,
    parquet: Option<(ArrowWriter<File>, PathBuf, PathBuf)>,
    csv: Option<(BufWriter<File>, PathBuf, PathBuf)>,
    rows: u64,
}

impl TableSink {
    fn create(
        dir: &Path,
        name: &'static str,
        schema: SchemaRef,
        format: DemoFormat,
    ) -> Result<Self> {
        let tmp = |ext: &str| dir.join(format!(".{name}.{ext}.partial"));
        let fin = |ext: &str| dir.join(format!("{name}.{ext}"));
        let parquet = if format != DemoFormat::Csv {
            let p = tmp("parquet");
            let f = File::create(&p).map_err(|e| Error::io(&p, e))?;
            let props = crate::output::writer_properties(&[("segmint.table".into(), name.into())]);
            let w = ArrowWriter::try_new(f, schema.clone(), Some(props))
                .map_err(|e| Error::format(&p, e))?;
            Some((w, p, fin("parquet")))
        } else {
            None
        };
        let csv = if format != DemoFormat::Parquet {
            let p = tmp("csv");
            let f = File::create(&p).map_err(|e| Error::io(&p, e))?;
            let mut w = BufWriter::with_capacity(1 << 20, f);
            let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
            writeln!(
                w,
                "{}",
                header
                    .iter()
                    .map(|h| format!("\"{h}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            )
            .map_err(|e| Error::io(&p, e))?;
            Some((w, p, fin("csv")))
        } else {
            None
        };
        Ok(TableSink {
            name,
            parquet,
            csv,
            rows: 0,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if let Some((w, p, _)) = &mut self.parquet {
            w.write(batch).map_err(|e| Error::format(&*p, e))?;
            w.flush().map_err(|e| Error::format(&*p, e))?;
        }
        if let Some((w, p, _)) = &mut self.csv {
            crate::output::write_csv_rows(w, batch).map_err(|e| Error::io(&*p, e))?;
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn finish(self) -> Result<Vec<PathBuf>> {
        let mut done = Vec::new();
        if let Some((w, tmp, fin)) = self.parquet {
            w.close().map_err(|e| Error::format(&tmp, e))?;
            std::fs::rename(&tmp, &fin).map_err(|e| Error::io(&fin, e))?;
            done.push(fin);
        }
        if let Some((w, tmp, fin)) = self.csv {
            let f = w
                .into_inner()
                .map_err(|e| Error::io(&tmp, e.into_error()))?;
            f.sync_all().map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, &fin).map_err(|e| Error::io(&fin, e))?;
            done.push(fin);
        }
        Ok(done)
    }
}

/// All output tables of a demo run.
pub struct Sink {
    dir: PathBuf,
    format: DemoFormat,
    width: usize,
    tables: Vec<TableSink>,
    files: Vec<PathBuf>,
}

impl Sink {
    pub fn create(dir: &Path, format: DemoFormat, width: usize) -> Result<Self> {
        let tables = vec![
            TableSink::create(dir, "customers", customers_schema(), format)?,
            TableSink::create(dir, "transactions", transactions_schema(), format)?,
            TableSink::create(dir, "events", events_schema(), format)?,
            TableSink::create(dir, "ground_truth", ground_truth_schema(), format)?,
        ];
        Ok(Sink {
            dir: dir.to_path_buf(),
            format,
            width,
            tables,
            files: Vec::new(),
        })
    }

    pub fn write_chunk(&mut self, blocks: &[Block]) -> Result<()> {
        let width = self.width;
        self.tables.par_iter_mut().try_for_each(|t| {
            let b = match t.name {
                "customers" => customers_batch(blocks, width),
                "transactions" => transactions_batch(blocks, width),
                "events" => events_batch(blocks, width),
                _ => ground_truth_batch(blocks, width),
            };
            t.write(&b)
        })
    }

    pub fn finish(&mut self, catalog: &Catalog) -> Result<RowCounts> {
        let mut rows = RowCounts::default();
        let mut products =
            TableSink::create(&self.dir, "products", products_schema(), self.format)?;
        products.write(&products_batch(catalog))?;
        rows.products = products.rows;
        self.tables.push(products);
        for t in self.tables.drain(..) {
            match t.name {
                "customers" => rows.customers = t.rows,
                "transactions" => rows.transactions = t.rows,
                "events" => rows.events = t.rows,
                "ground_truth" => rows.ground_truth = t.rows,
                _ => {}
            }
            self.files.extend(t.finish()?);
        }
        Ok(rows)
    }

    pub fn files(&self) -> Vec<PathBuf> {
        self.files.clone()
    }
}
