//! The customer mart: one row per customer with at least one purchase row, sorted by
//! `customer_id`, exactly the `mart` task of `../shared/bench/README.md`:
//!
//! | column | definition |
//! | --- | --- |
//! | `recency_days` | ref_date - day(last purchase) |
//! | `frequency` | distinct `order_id` among purchase rows (`amount > 0`) |
//! | `monetary` | round(sum of `amount` over all rows, returns included, 2) |
//! | `first_purchase`, `last_purchase` | min / max `timestamp` of purchase rows |
//! | `tenure_days` | ref_date - day(first purchase) |
//! | `avg_order_value` | monetary / frequency |
//! | `total_quantity` | purchase quantity minus returned quantity |
//! | `primary_region`, `preferred_payment` | most frequent value among purchase rows; ties: smallest in byte order |
//!
//! day(ts) is the UTC date; the reference date is `--ref-date` or day(max timestamp of all
//! transaction rows) + 1, never the clock.
//!
//! Exactness: amounts that are whole cents (the usual case) are summed as integer cents, so the
//! result is the float64 nearest to the exact sum, as in pandas, DuckDB and Polars whatever the
//! summation order. A customer with a non-cent amount is summed with Neumaier compensation and
//! rounded half-to-even like pandas. Distinct orders are counted by 64-bit hashes of `order_id`
//! within one customer (a collision needs ~2^32 orders of one customer).

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use hashbrown::HashTable;
use rayon::prelude::*;
use smallvec::SmallVec;

use crate::data::reader::{Chunk, TableReader};
use crate::data::timestamp::US_PER_DAY;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// Parameters of the mart.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MartParams {
    /// Reference date as days since 1970-01-01; `None`: day of the last transaction + 1.
    pub ref_day: Option<i64>,
}

/// The computed mart, column by column, sorted by `customer_id`.
#[derive(Debug, Clone, Default)]
pub struct Mart {
    pub ref_day: i64,
    pub customer_id: Vec<String>,
    pub recency_days: Vec<i64>,
    pub frequency: Vec<i64>,
    pub monetary: Vec<f64>,
    pub first_purchase_us: Vec<i64>,
    pub last_purchase_us: Vec<i64>,
    pub tenure_days: Vec<i64>,
    pub avg_order_value: Vec<f64>,
    /// `None` when the input has no `quantity` column.
    pub total_quantity: Option<Vec<i64>>,
    /// `None` per customer when all the region values are null; the whole column `None` when the
    /// input has no `region` column.
    pub primary_region: Option<Categorical>,
    pub preferred_payment: Option<Categorical>,
    /// Transaction rows read.
    pub rows_read: u64,
}

impl Mart {
    pub fn len(&self) -> usize {
        self.customer_id.len()
    }
    pub fn is_empty(&self) -> bool {
        self.customer_id.is_empty()
    }
}

/// A string column stored as codes into a small dictionary (regions, payment methods).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Categorical {
    pub values: Vec<String>,
    pub codes: Vec<Option<u32>>,
}

impl Categorical {
    /// The value of row `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.codes[i].map(|c| self.values[c as usize].as_str())
    }
    pub fn len(&self) -> usize {
        self.codes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }
    fn to_array(&self) -> StringArray {
        self.codes
            .iter()
            .map(|c| c.map(|c| self.values[c as usize].as_str()))
            .collect()
    }
}

// Inline capacities cover the common customer (1-2 distinct values, 1-2 orders); more spill
// to the heap. They keep the per-customer aggregate at ~130 bytes.
type Counts = SmallVec<[(u32, u32); 2]>;

#[derive(Clone)]
struct Agg {
    first_us: i64,
    last_us: i64,
    n_purchase: u32,
    exact: bool,
    cents: i64,
    fsum: f64,
    fcomp: f64,
    qty: i64,
    orders: SmallVec<[u64; 2]>,
    region: Counts,
    payment: Counts,
}

impl Agg {
    fn new() -> Self {
        Agg {
            first_us: i64::MAX,
            last_us: i64::MIN,
            n_purchase: 0,
            exact: true,
            cents: 0,
            fsum: 0.0,
            fcomp: 0.0,
            qty: 0,
            orders: SmallVec::new(),
            region: Counts::new(),
            payment: Counts::new(),
        }
    }

    fn add_amount(&mut self, a: f64) {
        let c = (a * 100.0).round();
        if self.exact {
            if c / 100.0 == a {
                match self.cents.checked_add(c as i64) {
                    Some(s) if s.unsigned_abs() < (1u64 << 53) => self.cents = s,
                    _ => self.exact = false,
                }
            } else {
                self.exact = false;
            }
        }
        // Neumaier compensated sum, used when some amount is not whole cents.
        let t = self.fsum + a;
        if self.fsum.abs() >= a.abs() {
            self.fcomp += (self.fsum - t) + a;
        } else {
            self.fcomp += (a - t) + self.fsum;
        }
        self.fsum = t;
    }

    fn monetary(&self) -> f64 {
        if self.exact {
            self.cents as f64 / 100.0
        } else {
            ((self.fsum + self.fcomp) * 100.0).round_ties_even() / 100.0
        }
    }

    fn merge(&mut self, o: Agg) {
        self.first_us = self.first_us.min(o.first_us);
        self.last_us = self.last_us.max(o.last_us);
        self.n_purchase += o.n_purchase;
        if self.exact && o.exact {
            match self.cents.checked_add(o.cents) {
                Some(s) if s.unsigned_abs() < (1u64 << 53) => self.cents = s,
                _ => self.exact = false,
            }
        } else {
            self.exact = false;
        }
        let (s, c) = (self.fsum + self.fcomp, o.fsum + o.fcomp);
        self.fsum = s + c;
        self.fcomp = (s - self.fsum) + c;
        self.qty += o.qty;
        self.orders.extend(o.orders);
        for (k, n) in o.region {
            bump(&mut self.region, k, n);
        }
        for (k, n) in o.payment {
            bump(&mut self.payment, k, n);
        }
    }
}

#[inline]
fn bump(v: &mut Counts, key: u32, n: u32) {
    match v.iter_mut().find(|e| e.0 == key) {
        Some(e) => e.1 += n,
        None => v.push((key, n)),
    }
}

/// Interns small sets of strings (regions, payment methods) within one unit.
#[derive(Default)]
struct Dict {
    values: Vec<String>,
    last: Option<u32>,
}

impl Dict {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(id) = self.last {
            if self.values[id as usize] == s {
                return id;
            }
        }
        let id = match self.values.iter().position(|v| v == s) {
            Some(i) => i as u32,
            None => {
                self.values.push(s.to_string());
                (self.values.len() - 1) as u32
            }
        };
        self.last = Some(id);
        id
    }
}

/// Per-unit state: customers seen in one row group (or CSV file).
struct Unit {
    keys: Vec<Box<str>>,
    aggs: Vec<Agg>,
    table: HashTable<u32>,
    regions: Dict,
    payments: Dict,
    max_ts: i64,
    rows: u64,
}

fn hasher() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(0x5e6_d1a7)
}

impl Unit {
    fn new() -> Self {
        Unit {
            keys: Vec::new(),
            aggs: Vec::new(),
            table: HashTable::new(),
            regions: Dict::default(),
            payments: Dict::default(),
            max_ts: i64::MIN,
            rows: 0,
        }
    }

    fn slot(&mut self, id: &str) -> usize {
        let h = hasher().hash_one(id);
        let keys = &self.keys;
        if let Some(&i) = self.table.find(h, |&i| &*keys[i as usize] == id) {
            return i as usize;
        }
        let i = self.keys.len() as u32;
        self.keys.push(id.into());
        self.aggs.push(Agg::new());
        let keys = &self.keys;
        self.table
            .insert_unique(h, i, |&j| hasher().hash_one(&*keys[j as usize]));
        i as usize
    }

    fn fold(&mut self, c: &Chunk) -> Result<()> {
        let ids = c.str("customer_id").expect("customer_id is required");
        let orders = c.str("order_id").expect("order_id is required");
        let ts = c.ts("timestamp").expect("timestamp is required");
        let amount = c.f64("amount").expect("amount is required");
        let qty = c.i64("quantity");
        let region = c.str("region");
        let pay = c.str("payment_method");
        let ts_v = ts.values();
        let am_v = amount.values();
        let h = hasher();
        let mut prev: Option<(usize, usize)> = None; // (row, slot)
        for i in 0..c.len() {
            let id = ids.value(i);
            let slot = match prev {
                Some((pr, s)) if ids.value(pr) == id => s,
                _ => self.slot(id),
            };
            prev = Some((i, slot));
            let t = ts_v[i];
            let a = am_v[i];
            self.max_ts = self.max_ts.max(t);
            let q = qty
                .and_then(|q| if q.is_null(i) { None } else { Some(q.value(i)) })
                .unwrap_or(0);
            let r = region.and_then(|r| {
                if r.is_null(i) {
                    None
                } else {
                    Some(self.regions.id(r.value(i)))
                }
            });
            let p = pay.and_then(|r| {
                if r.is_null(i) {
                    None
                } else {
                    Some(self.payments.id(r.value(i)))
                }
            });
            let agg = &mut self.aggs[slot];
            agg.add_amount(a);
            if a > 0.0 {
                agg.n_purchase += 1;
                agg.first_us = agg.first_us.min(t);
                agg.last_us = agg.last_us.max(t);
                agg.qty += q;
                let oh = h.hash_one(orders.value(i));
                if !agg.orders.contains(&oh) {
                    agg.orders.push(oh);
                }
                if let Some(r) = r {
                    bump(&mut agg.region, r, 1);
                }
                if let Some(p) = p {
                    bump(&mut agg.payment, p, 1);
                }
            } else if a < 0.0 {
                agg.qty -= q;
            }
        }
        self.rows += c.len() as u64;
        Ok(())
    }
}

/// The columns the mart reads from `transactions`.
pub const MART_INPUT_COLUMNS: &[&str] = &[
    "customer_id",
    "order_id",
    "timestamp",
    "amount",
    "quantity",
    "region",
    "payment_method",
];

/// Builds the mart from a transactions table. Runs on the current rayon pool.
pub fn build_mart(tx: &TableReader, params: &MartParams, progress: &dyn Progress) -> Result<Mart> {
    progress.begin("reading transactions", tx.num_rows_hint().unwrap_or(0));
    let units = tx.fold(MART_INPUT_COLUMNS, Unit::new, |u, c| u.fold(c), progress)?;
    progress.finish();
    let rows_read: u64 = units.iter().map(|u| u.rows).sum();
    if rows_read == 0 {
        return Err(Error::Empty {
            path: tx.path.clone(),
            message: "no data rows (header only?)".into(),
        });
    }
    let max_ts = units.iter().map(|u| u.max_ts).max().unwrap_or(i64::MIN);
    let ref_day = params.ref_day.unwrap_or(max_ts.div_euclid(US_PER_DAY) + 1);

    // Global dictionaries for the mode columns.
    let mut region_names: Vec<String> = Vec::new();
    let mut pay_names: Vec<String> = Vec::new();
    let global_ids = |names: &mut Vec<String>, local: &[String]| -> Vec<u32> {
        local
            .iter()
            .map(|v| match names.iter().position(|n| n == v) {
                Some(i) => i as u32,
                None => {
                    names.push(v.clone());
                    (names.len() - 1) as u32
                }
            })
            .collect()
    };
    let mut maps: Vec<(Vec<u32>, Vec<u32>)> = Vec::with_capacity(units.len());
    for u in &units {
        maps.push((
            global_ids(&mut region_names, &u.regions.values),
            global_ids(&mut pay_names, &u.payments.values),
        ));
    }
    // Re-key the counts of every unit to the global ids, then sort all customers by key.
    let mut entries: Vec<(Box<str>, Agg, u32)> = units
        .into_par_iter()
        .zip(maps.par_iter())
        .enumerate()
        .flat_map_iter(|(u_idx, (u, (rm, pm)))| {
            u.keys.into_iter().zip(u.aggs).map(move |(k, mut a)| {
                for e in a.region.iter_mut() {
                    e.0 = rm[e.0 as usize];
                }
                for e in a.payment.iter_mut() {
                    e.0 = pm[e.0 as usize];
                }
                (k, a, u_idx as u32)
            })
        })
        .collect();
    entries.par_sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));

    // Merge customers that span units, compacting in place (no second copy of the aggregates).
    let mut w = 0usize;
    for r in 0..entries.len() {
        if w > 0 && entries[w - 1].0 == entries[r].0 {
            let o = std::mem::replace(&mut entries[r].1, Agg::new());
            entries[w - 1].1.merge(o);
        } else {
            entries.swap(w, r);
            w += 1;
        }
    }
    entries.truncate(w);
    entries.retain(|e| e.1.n_purchase > 0);
    entries.shrink_to_fit();
    if entries.is_empty() {
        return Err(Error::Data(format!(
            "{}: no purchase rows (amount > 0): the mart would be empty",
            tx.path.display()
        )));
    }

    let mode = |counts: &Counts, names: &[String]| -> Option<u32> {
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
    };
    let n = entries.len();
    let has_q = tx.has("quantity");
    let has_r = tx.has("region");
    let has_p = tx.has("payment_method");
    let mut m = Mart {
        ref_day,
        rows_read,
        ..Default::default()
    };
    m.customer_id.reserve_exact(n);
    m.recency_days.reserve_exact(n);
    m.frequency.reserve_exact(n);
    m.monetary.reserve_exact(n);
    m.first_purchase_us.reserve_exact(n);
    m.last_purchase_us.reserve_exact(n);
    m.tenure_days.reserve_exact(n);
    m.avg_order_value.reserve_exact(n);
    let mut q = Vec::with_capacity(if has_q { n } else { 0 });
    let mut reg = Vec::with_capacity(if has_r { n } else { 0 });
    let mut pay = Vec::with_capacity(if has_p { n } else { 0 });
    for (k, mut a, _) in entries {
        a.orders.sort_unstable();
        a.orders.dedup();
        let frequency = a.orders.len() as i64;
        let monetary = a.monetary();
        m.customer_id.push(k.into_string());
        m.recency_days
            .push(ref_day - a.last_us.div_euclid(US_PER_DAY));
        m.frequency.push(frequency);
        m.monetary.push(monetary);
        m.first_purchase_us.push(a.first_us);
        m.last_purchase_us.push(a.last_us);
        m.tenure_days
            .push(ref_day - a.first_us.div_euclid(US_PER_DAY));
        m.avg_order_value.push(monetary / frequency as f64);
        if has_q {
            q.push(a.qty);
        }
        if has_r {
            reg.push(mode(&a.region, &region_names));
        }
        if has_p {
            pay.push(mode(&a.payment, &pay_names));
        }
    }
    m.total_quantity = has_q.then_some(q);
    m.primary_region = has_r.then_some(Categorical {
        values: region_names,
        codes: reg,
    });
    m.preferred_payment = has_p.then_some(Categorical {
        values: pay_names,
        codes: pay,
    });
    Ok(m)
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
            Arc::new(Int64Array::from(self.recency_days.clone())),
            Arc::new(Int64Array::from(self.frequency.clone())),
            Arc::new(Float64Array::from(self.monetary.clone())),
            Arc::new(
                TimestampMicrosecondArray::from(self.first_purchase_us.clone())
                    .with_timezone("UTC"),
            ),
            Arc::new(
                TimestampMicrosecondArray::from(self.last_purchase_us.clone()).with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from(self.tenure_days.clone())),
            Arc::new(Float64Array::from(self.avg_order_value.clone())),
            match &self.total_quantity {
                Some(q) => Arc::new(Int64Array::from(q.clone())),
                None => Arc::new(Int64Array::new_null(n)),
            },
            opt_str(&self.primary_region),
            opt_str(&self.preferred_payment),
        ];
        RecordBatch::try_new(mart_schema(), cols)
            .map_err(|e| Error::Data(format!("building the mart batch: {e}")))
    }
}
