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
use rayon::prelude::*;
use smallvec::SmallVec;

use crate::data::keys::KeyTable;
use crate::data::reader::{Chunk, Ids, TableReader};
use crate::data::timestamp::US_PER_DAY;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::slices::split_by;

/// Parameters of the mart.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MartParams {
    /// Reference date as days since 1970-01-01; `None`: day of the last transaction + 1.
    pub ref_day: Option<i64>,
    /// Which columns to compute.
    #[serde(default)]
    pub columns: MartColumns,
    /// Only transaction rows before this instant (microseconds since the epoch, UTC) count:
    /// the mart as it was then (see `segmint migrate`). `None`: all rows.
    #[serde(default)]
    pub before_us: Option<i64>,
}

/// The columns [`build_mart`] computes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MartColumns {
    /// Every column of the mart.
    #[default]
    All,
    /// Only what recency, frequency, monetary, tenure and order value need: `quantity`,
    /// `region` and `payment_method` are not read, and `total_quantity`, `primary_region` and
    /// `preferred_payment` are `None`. About a third faster; what `segmint rfm` uses when
    /// its rules do not refer to those columns.
    Rfm,
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

    /// Names of [`Mart::numeric_columns`].
    pub const NUMERIC: [&'static str; 6] = [
        "recency_days",
        "frequency",
        "monetary",
        "tenure_days",
        "avg_order_value",
        "total_quantity",
    ];

    /// The numeric columns as f64, in [`Mart::NUMERIC`] order (`total_quantity` NaN without a
    /// quantity column): the mart part of every model's feature table.
    pub fn numeric_columns(&self) -> Vec<Vec<f64>> {
        vec![
            self.recency_days.iter().map(|&v| v as f64).collect(),
            self.frequency.iter().map(|&v| v as f64).collect(),
            self.monetary.clone(),
            self.tenure_days.iter().map(|&v| v as f64).collect(),
            self.avg_order_value.clone(),
            match &self.total_quantity {
                Some(q) => q.iter().map(|&v| v as f64).collect(),
                None => vec![f64::NAN; self.len()],
            },
        ]
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

/// A customer's spend: exact in whole cents while every amount is whole cents (then any
/// summation order gives the same float), else a Neumaier compensated sum.
#[derive(Clone, Copy)]
struct Money {
    exact: bool,
    cents: i64,
    fsum: f64,
    fcomp: f64,
}

/// `x` rounded to an integer (ties to even), for |x| < 2^51: one add and one subtract instead of
/// a libm call (`f64::round` is not inlined on baseline x86-64). Only used to test whether an
/// amount is whole cents, where the tie rule cannot matter (a tie is never whole cents).
#[inline]
fn round_small(x: f64) -> f64 {
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 x 2^52
    if x.abs() < 2_251_799_813_685_248.0 {
        (x + MAGIC) - MAGIC
    } else {
        x.round()
    }
}

impl Money {
    const ZERO: Money = Money {
        exact: true,
        cents: 0,
        fsum: 0.0,
        fcomp: 0.0,
    };

    #[inline]
    fn add(&mut self, a: f64) {
        if self.exact {
            let c = round_small(a * 100.0);
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

    /// The sum rounded to cents.
    fn value(&self) -> f64 {
        if self.exact {
            self.cents as f64 / 100.0
        } else {
            ((self.fsum + self.fcomp) * 100.0).round_ties_even() / 100.0
        }
    }

    fn merge(&mut self, o: &Money) {
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
    }
}

#[derive(Clone)]
struct Agg {
    first_us: i64,
    last_us: i64,
    n_purchase: u32,
    money: Money,
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
            money: Money::ZERO,
            qty: 0,
            orders: SmallVec::new(),
            region: Counts::new(),
            payment: Counts::new(),
        }
    }

    fn add_amount(&mut self, a: f64) {
        self.money.add(a);
    }

    fn monetary(&self) -> f64 {
        self.money.value()
    }

    fn merge(&mut self, o: Agg) {
        self.first_us = self.first_us.min(o.first_us);
        self.last_us = self.last_us.max(o.last_us);
        self.n_purchase += o.n_purchase;
        self.money.merge(&o.money);
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
    keys: KeyTable,
    aggs: Vec<Agg>,
    regions: Dict,
    payments: Dict,
    max_ts: i64,
    rows: u64,
    /// Per-chunk scratch: the slot and order-id hash of every row.
    slots: Vec<u32>,
    order_hashes: Vec<u64>,
    /// Slot and order-id hash per dictionary value, for the dictionary of the current column
    /// chunk (shared by its batches).
    id_cache: Option<(ArrayRef, Vec<u32>)>,
    order_cache: Option<(ArrayRef, Vec<u64>)>,
    /// Rows at or after this instant are skipped.
    before_us: i64,
}

fn hasher() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(0x5e6_d1a7)
}

impl Unit {
    fn new(before_us: i64) -> Self {
        Unit {
            keys: KeyTable::new(),
            aggs: Vec::new(),
            regions: Dict::default(),
            payments: Dict::default(),
            max_ts: i64::MIN,
            rows: 0,
            slots: Vec::new(),
            order_hashes: Vec::new(),
            id_cache: None,
            order_cache: None,
            before_us,
        }
    }

    fn slot(&mut self, id: &str) -> usize {
        let (i, new) = self.keys.index(id);
        if new {
            self.aggs.push(Agg::new());
        }
        i
    }

    /// The slot of every row's customer into `self.slots`.
    fn resolve_slots(&mut self, ids: &Ids, n: usize) {
        let mut slots = std::mem::take(&mut self.slots);
        slots.clear();
        match ids {
            Ids::Plain(s) => {
                if self.keys.is_empty() {
                    // customers usually have 2-3 rows: size for that at once, not by rehashing
                    self.keys.reserve(n / 2);
                    self.aggs.reserve(n / 2);
                }
                let mut prev: Option<(usize, u32)> = None; // (row, slot)
                for i in 0..n {
                    let id = s.value(i);
                    let slot = match prev {
                        Some((pr, sl)) if s.value(pr) == id => sl,
                        _ => self.slot(id) as u32,
                    };
                    prev = Some((i, slot));
                    slots.push(slot);
                }
            }
            Ids::Dict {
                keys,
                values,
                values_ref,
            } => {
                let mut cache = std::mem::take(&mut self.id_cache);
                if self.keys.is_empty() && cache.is_none() {
                    // The first dictionary of a row group lists its customers once each (as
                    // Parquet writers do): they become the unit's slots in that order, no
                    // hashing. The hash table is built only if another dictionary or plain
                    // ids follow. Should a writer repeat a value, the two slots are merged
                    // with the other units' customers later.
                    self.keys
                        .extend_unindexed((0..values.len()).map(|j| Box::from(values.value(j))));
                    self.aggs = vec![Agg::new(); values.len()];
                    cache = Some(((*values_ref).clone(), (0..values.len() as u32).collect()));
                } else if !matches!(&cache, Some((v, _)) if Arc::ptr_eq(v, values_ref)) {
                    cache = Some(((*values_ref).clone(), vec![u32::MAX; values.len()]));
                }
                let map = &mut cache.as_mut().expect("set above").1;
                for &k in &keys[..n] {
                    let mut slot = map[k as usize];
                    if slot == u32::MAX {
                        slot = self.slot(values.value(k as usize)) as u32;
                        map[k as usize] = slot;
                    }
                    slots.push(slot);
                }
                self.id_cache = cache;
            }
        }
        self.slots = slots;
    }

    /// The hash of every row's order id into `self.order_hashes`.
    fn resolve_orders(&mut self, orders: &Ids, n: usize) {
        let h = hasher();
        let out = &mut self.order_hashes;
        out.clear();
        match orders {
            Ids::Plain(s) => out.extend((0..n).map(|i| h.hash_one(s.value(i)))),
            Ids::Dict {
                keys,
                values,
                values_ref,
            } => {
                if !matches!(&self.order_cache, Some((v, _)) if Arc::ptr_eq(v, values_ref)) {
                    let hashes = (0..values.len())
                        .map(|j| h.hash_one(values.value(j)))
                        .collect();
                    self.order_cache = Some(((*values_ref).clone(), hashes));
                }
                let hashes = &self.order_cache.as_ref().expect("set above").1;
                out.extend(keys[..n].iter().map(|&k| hashes[k as usize]));
            }
        }
    }

    fn fold(&mut self, c: &Chunk) -> Result<()> {
        let n = c.len();
        let ids = c.ids("customer_id").expect("customer_id is required");
        let orders = c.ids("order_id").expect("order_id is required");
        let ts = c.ts("timestamp").expect("timestamp is required");
        let amount = c.f64("amount").expect("amount is required");
        let qty = c.i64("quantity");
        let region = c.str("region");
        let pay = c.str("payment_method");
        self.resolve_slots(&ids, n);
        self.resolve_orders(&orders, n);
        let ts_v = ts.values();
        let am_v = amount.values();
        for i in 0..n {
            let slot = self.slots[i] as usize;
            let t = ts_v[i];
            if t >= self.before_us {
                continue;
            }
            let a = am_v[i];
            self.max_ts = self.max_ts.max(t);
            let q = qty
                .and_then(|q| if q.is_null(i) { None } else { Some(q.value(i)) })
                .unwrap_or(0);
            let agg = &mut self.aggs[slot];
            agg.add_amount(a);
            if a > 0.0 {
                agg.n_purchase += 1;
                agg.first_us = agg.first_us.min(t);
                agg.last_us = agg.last_us.max(t);
                agg.qty += q;
                let oh = self.order_hashes[i];
                if !agg.orders.contains(&oh) {
                    agg.orders.push(oh);
                }
                if let Some(r) = region {
                    if !r.is_null(i) {
                        let id = self.regions.id(r.value(i));
                        bump(&mut self.aggs[slot].region, id, 1);
                    }
                }
                if let Some(p) = pay {
                    if !p.is_null(i) {
                        let id = self.payments.id(p.value(i));
                        bump(&mut self.aggs[slot].payment, id, 1);
                    }
                }
            } else if a < 0.0 {
                agg.qty -= q;
            }
        }
        self.rows += n as u64;
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
    let input_columns = match params.columns {
        MartColumns::All => MART_INPUT_COLUMNS,
        MartColumns::Rfm => &MART_INPUT_COLUMNS[..4],
    };
    let units = tx.fold_with(
        input_columns,
        &["customer_id"],
        || Unit::new(params.before_us.unwrap_or(i64::MAX)),
        |u, c| u.fold(c),
        progress,
    )?;
    progress.finish();
    progress.begin("merging customers", 0);
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
    // Re-key the mode counts of every unit to the global ids.
    let mut units = units;
    units
        .par_iter_mut()
        .zip(maps.par_iter())
        .for_each(|(u, (rm, pm))| {
            for a in u.aggs.iter_mut() {
                for e in a.region.iter_mut() {
                    e.0 = rm[e.0 as usize];
                }
                for e in a.payment.iter_mut() {
                    e.0 = pm[e.0 as usize];
                }
            }
        });
    let all = params.columns == MartColumns::All;
    let shape = Shape {
        ref_day,
        has_q: all && tx.has("quantity"),
        has_r: all && tx.has("region"),
        has_p: all && tx.has("payment_method"),
        region_names: &region_names,
        pay_names: &pay_names,
    };

    // Input sorted by customer_id (the usual export): the keys of every unit ascend and the
    // units follow each other, so only a customer that straddles two units needs merging and
    // each unit becomes its slice of the mart in parallel. Otherwise: sort all customers.
    let non_empty: Vec<&Unit> = units.iter().filter(|u| !u.keys.is_empty()).collect();
    let sorted = units
        .par_iter()
        .all(|u| u.keys.keys.windows(2).all(|w| w[0] < w[1]))
        && non_empty
            .windows(2)
            .all(|w| w[0].keys.keys.last() <= w[1].keys.keys.first());
    drop(non_empty);
    // Each unit's customers (or, unsorted, all of them) get their rows of the mart columns,
    // filled in place in parallel: counts first, so the parts are never concatenated.
    let parts: Vec<Part> = if sorted {
        let mut skip = vec![0usize; units.len()];
        let mut prev: Option<(usize, usize)> = None;
        for u in 0..units.len() {
            if units[u].keys.is_empty() {
                continue;
            }
            if let Some((pu, pi)) = prev {
                if units[pu].keys.keys[pi] == units[u].keys.keys[0] {
                    let o = std::mem::replace(&mut units[u].aggs[0], Agg::new());
                    units[pu].aggs[pi].merge(o);
                    skip[u] = 1;
                }
            }
            if units[u].keys.len() > skip[u] {
                prev = Some((u, units[u].keys.len() - 1));
            }
        }
        units
            .into_iter()
            .zip(skip)
            .map(|(u, skip)| Part {
                keys: u.keys.keys,
                aggs: u.aggs,
                skip,
            })
            .collect()
    } else {
        let mut entries: Vec<(Box<str>, Agg, u32)> = units
            .into_par_iter()
            .enumerate()
            .flat_map_iter(|(u_idx, u)| {
                u.keys
                    .keys
                    .into_iter()
                    .zip(u.aggs)
                    .map(move |(k, a)| (k, a, u_idx as u32))
            })
            .collect();
        entries.par_sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
        // Merge customers that span units, compacting in place.
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
        let (keys, aggs) = entries.into_iter().map(|(k, a, _)| (k, a)).unzip();
        vec![Part {
            keys,
            aggs,
            skip: 0,
        }]
    };
    let counts: Vec<usize> = parts.par_iter().map(Part::customers).collect();
    let n: usize = counts.iter().sum();
    if n == 0 {
        return Err(empty_mart_error(tx, params));
    }
    let mut c = Columns::with_len(n, &shape);
    c.fill(parts, &counts, &shape);
    let m = c.into_mart(&shape, rows_read, region_names.clone(), pay_names.clone());
    progress.finish();
    Ok(m)
}

/// No customer has a purchase row (before `params.before_us`).
fn empty_mart_error(tx: &TableReader, params: &MartParams) -> Error {
    let when = match params.before_us {
        Some(t) => format!(" before {}", crate::data::timestamp::format_timestamp_us(t)),
        None => String::new(),
    };
    Error::Data(format!(
        "{}: no purchase rows (amount > 0){when}: the mart would be empty",
        tx.path.display()
    ))
}

/// What the output columns look like.
struct Shape<'a> {
    ref_day: i64,
    has_q: bool,
    has_r: bool,
    has_p: bool,
    region_names: &'a [String],
    pay_names: &'a [String],
}

/// A slice of the mart (customers with a purchase, in key order).
#[derive(Default)]
struct Columns {
    customer_id: Vec<String>,
    recency_days: Vec<i64>,
    frequency: Vec<i64>,
    monetary: Vec<f64>,
    first_purchase_us: Vec<i64>,
    last_purchase_us: Vec<i64>,
    tenure_days: Vec<i64>,
    avg_order_value: Vec<f64>,
    total_quantity: Vec<i64>,
    region: Vec<Option<u32>>,
    payment: Vec<Option<u32>>,
}

/// The most frequent value; ties go to the smallest in byte order.
fn mode(counts: &Counts, names: &[String]) -> Option<u32> {
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
    fn fill(&self, part: Part, out: ColumnsMut) {
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

/// Customers of one unit (or all, when unsorted) in key order; the first `skip` belong to an
/// earlier unit, and customers without a purchase are left out of the mart.
struct Part {
    keys: Vec<Box<str>>,
    aggs: Vec<Agg>,
    skip: usize,
}

impl Part {
    /// Customers it adds to the mart.
    fn customers(&self) -> usize {
        self.aggs[self.skip.min(self.aggs.len())..]
            .iter()
            .filter(|a| a.n_purchase > 0)
            .count()
    }
}

/// One task's rows of every column of a [`Columns`].
struct ColumnsMut<'a> {
    customer_id: &'a mut [String],
    recency_days: &'a mut [i64],
    frequency: &'a mut [i64],
    monetary: &'a mut [f64],
    first_purchase_us: &'a mut [i64],
    last_purchase_us: &'a mut [i64],
    tenure_days: &'a mut [i64],
    avg_order_value: &'a mut [f64],
    total_quantity: &'a mut [i64],
    region: &'a mut [Option<u32>],
    payment: &'a mut [Option<u32>],
}

impl Columns {
    /// `n` rows (the optional columns empty when `shape` leaves them out).
    fn with_len(n: usize, shape: &Shape) -> Columns {
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
    fn fill(&mut self, parts: Vec<Part>, counts: &[usize], shape: &Shape) {
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

    fn into_mart(
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

/// The summary of a mart (`segmint mart --json`, `mart` in `summary.json`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MartSummary {
    /// [`MartSummary::FORMAT`].
    #[serde(default)]
    pub format: String,
    /// `mart`.
    pub task: String,
    /// Where it was computed (`segmint` or `spark`).
    pub engine: String,
    /// Customers with a purchase.
    pub customers: usize,
    /// Transaction rows read (`None` when Spark read them).
    pub rows: Option<u64>,
    /// Reference date (YYYY-MM-DD).
    pub ref_date: String,
    /// Sum of `monetary` (net spend), summed in cents.
    pub monetary_total: f64,
    /// Sum of `frequency` (orders).
    pub frequency_total: i64,
    /// Wall time.
    pub seconds: f64,
    /// Threads used.
    pub threads: usize,
    /// Where the mart was written.
    pub output: Option<String>,
    /// Where Spark also wrote it (`--spark-write`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_write: Option<String>,
}

impl MartSummary {
    /// The format written in `format`.
    pub const FORMAT: &'static str = "mart-summary/1";

    /// One line: customers, rows, reference date, monetary total, time.
    pub fn line(&self) -> String {
        format!(
            "mart: {} customers from {} transaction rows (reference date {}), monetary total {}, in {:.2}s",
            self.customers,
            self.rows.map_or_else(|| "?".into(), |r| r.to_string()),
            self.ref_date,
            self.monetary_total,
            self.seconds
        )
    }
}

impl Mart {
    /// The summary of this mart, computed in `seconds` (engine `segmint`, no output yet).
    pub fn summary(&self, seconds: f64) -> MartSummary {
        let cents: i128 = self
            .monetary
            .iter()
            .map(|m| (m * 100.0).round() as i128)
            .sum();
        MartSummary {
            format: MartSummary::FORMAT.into(),
            task: "mart".into(),
            engine: "segmint".into(),
            customers: self.len(),
            rows: Some(self.rows_read),
            ref_date: crate::data::timestamp::format_date(self.ref_day),
            monetary_total: cents as f64 / 100.0,
            frequency_total: self.frequency.iter().sum(),
            seconds: (seconds * 10_000.0).round() / 10_000.0,
            threads: rayon::current_num_threads(),
            output: None,
            spark_write: None,
        }
    }

    /// The Parquet metadata of a written mart built from `source`.
    pub fn metadata(&self, source: &std::path::Path) -> Vec<(String, String)> {
        vec![
            ("segmint.task".to_string(), "mart".to_string()),
            (
                "segmint.ref_date".to_string(),
                crate::data::timestamp::format_date(self.ref_day),
            ),
            ("segmint.source".to_string(), source.display().to_string()),
        ]
    }

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
