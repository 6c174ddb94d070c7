//! The mart's columns: each part of merged customers written into its rows of the output in
//! parallel, and the conversions to and from Arrow.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rayon::prelude::*;

use super::aggregate::Counts;
use super::merge::Part;
use super::{Categorical, Mart};
use crate::data::timestamp::US_PER_DAY;
use crate::error::{Error, Result};
use crate::slices::split_by;

/// What the output columns look like.
pub(super) struct Shape<'a> {
    pub(super) ref_day: i64,
    pub(super) has_q: bool,
    pub(super) has_r: bool,
    pub(super) has_p: bool,
    pub(super) region_names: &'a [String],
    pub(super) pay_names: &'a [String],
}

/// A slice of the mart (customers with a purchase, in key order).
#[derive(Default)]
pub(super) struct Columns {
    pub(super) customer_id: Vec<String>,
    pub(super) recency_days: Vec<i64>,
    pub(super) frequency: Vec<i64>,
    pub(super) monetary: Vec<f64>,
    pub(super) first_purchase_us: Vec<i64>,
    pub(super) last_purchase_us: Vec<i64>,
    pub(super) tenure_days: Vec<i64>,
    pub(super) avg_order_value: Vec<f64>,
    pub(super) total_quantity: Vec<i64>,
    pub(super) region: Vec<Option<u32>>,
    pub(super) payment: Vec<Option<u32>>,
}

/// The most frequent value; ties go to the smallest in byte order.
pub(super) fn mode(counts: &Counts, names: &[String]) -> Option<u32> {
    counts
        .iter()
        .max_by(|a, b| {
            a.1.cmp(&b.1).then_with(|| {
                names[b.0 as usize]
                    .as_bytes()
                    .cmp(names[a.0 as usize].as_bytes())
            })
        })
        .map(|e| e.0)
}

impl Shape<'_> {
    /// Writes the customers of `part` into `out` from row 0 on.
    pub(super) fn fill(&self, part: Part, out: ColumnsMut) {
        let entries = part
            .keys
            .into_iter()
            .zip(part.aggs)
            .skip(part.skip)
            .filter(|(_, a)| a.n_purchase > 0);
        for (i, (k, mut a)) in entries.enumerate() {
            a.orders.sort_unstable();
            a.orders.dedup();
            let frequency = a.orders.len() as i64;
            let monetary = a.monetary();
            out.customer_id[i] = k.into_string();
            out.recency_days[i] = self.ref_day - a.last_us.div_euclid(US_PER_DAY);
            out.frequency[i] = frequency;
            out.monetary[i] = monetary;
            out.first_purchase_us[i] = a.first_us;
            out.last_purchase_us[i] = a.last_us;
            out.tenure_days[i] = self.ref_day - a.first_us.div_euclid(US_PER_DAY);
            out.avg_order_value[i] = monetary / frequency as f64;
            if self.has_q {
                out.total_quantity[i] = a.qty;
            }
            if self.has_r {
                out.region[i] = mode(&a.region, self.region_names);
            }
            if self.has_p {
                out.payment[i] = mode(&a.payment, self.pay_names);
            }
        }
    }
}

/// One task's rows of every column of a [`Columns`].
pub(super) struct ColumnsMut<'a> {
    pub(super) customer_id: &'a mut [String],
    pub(super) recency_days: &'a mut [i64],
    pub(super) frequency: &'a mut [i64],
    pub(super) monetary: &'a mut [f64],
    pub(super) first_purchase_us: &'a mut [i64],
    pub(super) last_purchase_us: &'a mut [i64],
    pub(super) tenure_days: &'a mut [i64],
    pub(super) avg_order_value: &'a mut [f64],
    pub(super) total_quantity: &'a mut [i64],
    pub(super) region: &'a mut [Option<u32>],
    pub(super) payment: &'a mut [Option<u32>],
}

impl Columns {
    /// `n` rows (the optional columns empty when `shape` leaves them out).
    pub(super) fn with_len(n: usize, shape: &Shape) -> Columns {
        let opt = |on: bool| if on { n } else { 0 };
        Columns {
            customer_id: vec![String::new(); n],
            recency_days: vec![0; n],
            frequency: vec![0; n],
            monetary: vec![0.0; n],
            first_purchase_us: vec![0; n],
            last_purchase_us: vec![0; n],
            tenure_days: vec![0; n],
            avg_order_value: vec![0.0; n],
            total_quantity: vec![0; opt(shape.has_q)],
            region: vec![None; opt(shape.has_r)],
            payment: vec![None; opt(shape.has_p)],
        }
    }

    /// Part k's customers into rows `counts[..k].sum()..` of every column, in parallel.
    pub(super) fn fill(&mut self, parts: Vec<Part>, counts: &[usize], shape: &Shape) {
        let mut ids = split_by(&mut self.customer_id, counts).into_iter();
        let mut rec = split_by(&mut self.recency_days, counts).into_iter();
        let mut freq = split_by(&mut self.frequency, counts).into_iter();
        let mut mon = split_by(&mut self.monetary, counts).into_iter();
        let mut first = split_by(&mut self.first_purchase_us, counts).into_iter();
        let mut last = split_by(&mut self.last_purchase_us, counts).into_iter();
        let mut tenure = split_by(&mut self.tenure_days, counts).into_iter();
        let mut aov = split_by(&mut self.avg_order_value, counts).into_iter();
        let mut qty = split_by(&mut self.total_quantity, counts).into_iter();
        let mut region = split_by(&mut self.region, counts).into_iter();
        let mut pay = split_by(&mut self.payment, counts).into_iter();
        let outs: Vec<ColumnsMut> = (0..counts.len())
            .map(|_| ColumnsMut {
                customer_id: ids.next().expect("one slice per part"),
                recency_days: rec.next().expect("one slice per part"),
                frequency: freq.next().expect("one slice per part"),
                monetary: mon.next().expect("one slice per part"),
                first_purchase_us: first.next().expect("one slice per part"),
                last_purchase_us: last.next().expect("one slice per part"),
                tenure_days: tenure.next().expect("one slice per part"),
                avg_order_value: aov.next().expect("one slice per part"),
                total_quantity: qty.next().expect("one slice per part"),
                region: region.next().expect("one slice per part"),
                payment: pay.next().expect("one slice per part"),
            })
            .collect();
        parts
            .into_par_iter()
            .zip(outs)
            .for_each(|(p, out)| shape.fill(p, out));
    }

    pub(super) fn into_mart(
        self,
        shape: &Shape,
        rows_read: u64,
        region_names: Vec<String>,
        pay_names: Vec<String>,
    ) -> Mart {
        Mart {
            ref_day: shape.ref_day,
            customer_id: self.customer_id,
            recency_days: self.recency_days,
            frequency: self.frequency,
            monetary: self.monetary,
            first_purchase_us: self.first_purchase_us,
            last_purchase_us: self.last_purchase_us,
            tenure_days: self.tenure_days,
            avg_order_value: self.avg_order_value,
            total_quantity: shape.has_q.then_some(self.total_quantity),
            primary_region: shape.has_r.then_some(Categorical {
                values: region_names,
                codes: self.region,
            }),
            preferred_payment: shape.has_p.then_some(Categorical {
                values: pay_names,
                codes: self.payment,
            }),
            rows_read,
        }
    }
}

/// Arrow schema of the mart (the `mart` task's schema).
pub fn mart_schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("recency_days", DataType::Int64, false),
        Field::new("frequency", DataType::Int64, false),
        Field::new("monetary", DataType::Float64, false),
        Field::new("first_purchase", ts.clone(), false),
        Field::new("last_purchase", ts, false),
        Field::new("tenure_days", DataType::Int64, false),
        Field::new("avg_order_value", DataType::Float64, false),
        Field::new("total_quantity", DataType::Int64, true),
        Field::new("primary_region", DataType::Utf8, true),
        Field::new("preferred_payment", DataType::Utf8, true),
    ]))
}

impl Mart {
    /// The mart from a batch with the columns of [`mart_schema`] (as `segmint mart` writes it,
    /// or as another engine computed it); sorted by `customer_id` as it comes. The reference
    /// date is recovered from the first row (recency_days + day of last_purchase);
    /// `rows_read` is 0.
    pub fn from_record_batch(b: &RecordBatch) -> Result<Mart> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
        let col = |name: &str, ty: &DataType| -> Result<ArrayRef> {
            let c = b
                .column_by_name(name)
                .ok_or_else(|| Error::Config(format!("mart: no column {name:?}")))?;
            arrow_cast::cast(c, ty).map_err(|e| Error::Config(format!("mart column {name:?}: {e}")))
        };
        let ts_ty = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let ints = |name: &str| -> Result<Vec<i64>> {
            Ok(col(name, &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .values()
                .to_vec())
        };
        let floats = |name: &str| -> Result<Vec<f64>> {
            Ok(col(name, &DataType::Float64)?
                .as_primitive::<Float64Type>()
                .values()
                .to_vec())
        };
        let stamps = |name: &str| -> Result<Vec<i64>> {
            Ok(col(name, &ts_ty)?
                .as_primitive::<TimestampMicrosecondType>()
                .values()
                .to_vec())
        };
        let categorical = |name: &str| -> Result<Option<Categorical>> {
            let c = col(name, &DataType::Utf8)?;
            if c.null_count() == c.len() && !c.is_empty() {
                return Ok(None);
            }
            let s = c.as_string::<i32>();
            let mut values: Vec<String> = Vec::new();
            let mut index: std::collections::HashMap<&str, u32> = Default::default();
            let codes = (0..s.len())
                .map(|i| {
                    (!s.is_null(i)).then(|| {
                        let v = s.value(i);
                        *index.entry(v).or_insert_with(|| {
                            values.push(v.to_string());
                            (values.len() - 1) as u32
                        })
                    })
                })
                .collect();
            Ok(Some(Categorical { values, codes }))
        };
        let ids = col("customer_id", &DataType::Utf8)?;
        let ids = ids.as_string::<i32>();
        if ids.null_count() > 0 {
            return Err(Error::Config("mart: null customer_id".into()));
        }
        let recency_days = ints("recency_days")?;
        let last_purchase_us = stamps("last_purchase")?;
        let ref_day = match (recency_days.first(), last_purchase_us.first()) {
            (Some(r), Some(l)) => l.div_euclid(US_PER_DAY) + r,
            _ => 0,
        };
        let qty = col("total_quantity", &DataType::Int64)?;
        Ok(Mart {
            ref_day,
            customer_id: ids.iter().map(|v| v.unwrap_or("").to_string()).collect(),
            recency_days,
            frequency: ints("frequency")?,
            monetary: floats("monetary")?,
            first_purchase_us: stamps("first_purchase")?,
            last_purchase_us,
            tenure_days: ints("tenure_days")?,
            avg_order_value: floats("avg_order_value")?,
            total_quantity: (qty.null_count() < qty.len() || qty.is_empty())
                .then(|| qty.as_primitive::<Int64Type>().values().to_vec()),
            primary_region: categorical("primary_region")?,
            preferred_payment: categorical("preferred_payment")?,
            rows_read: 0,
        })
    }

    /// The mart as one Arrow batch with [`mart_schema`] (copies the columns).
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        self.clone().into_record_batch()
    }

    /// The mart as one Arrow batch, moving the columns (no copy of the numbers).
    pub fn into_record_batch(self) -> Result<RecordBatch> {
        let n = self.len();
        let opt_str = |v: &Option<Categorical>| -> ArrayRef {
            match v {
                Some(c) => Arc::new(c.to_array()),
                None => Arc::new(StringArray::new_null(n)),
            }
        };
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(&self.customer_id)),
            Arc::new(Int64Array::from(self.recency_days)),
            Arc::new(Int64Array::from(self.frequency)),
            Arc::new(Float64Array::from(self.monetary)),
            Arc::new(TimestampMicrosecondArray::from(self.first_purchase_us).with_timezone("UTC")),
            Arc::new(TimestampMicrosecondArray::from(self.last_purchase_us).with_timezone("UTC")),
            Arc::new(Int64Array::from(self.tenure_days)),
            Arc::new(Float64Array::from(self.avg_order_value)),
            match self.total_quantity {
                Some(q) => Arc::new(Int64Array::from(q)),
                None => Arc::new(Int64Array::new_null(n)),
            },
            opt_str(&self.primary_region),
            opt_str(&self.preferred_payment),
        ];
        RecordBatch::try_new(mart_schema(), cols)
            .map_err(|e| Error::Data(format!("building the mart batch: {e}")))
    }
}
