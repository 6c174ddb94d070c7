//! The per-customer aggregate of the transaction rows, folded in parallel over units of rows:
//! purchase days, distinct orders, spend (exact in cents), quantity and the counts of the mode
//! columns.

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef};
use smallvec::SmallVec;

use crate::data::keys::KeyTable;
use crate::data::reader::{Chunk, Ids};
use crate::error::Result;

// Inline capacities cover the common customer (1-2 distinct values, 1-2 orders); more spill
// to the heap. They keep the per-customer aggregate at ~130 bytes.
pub(super) type Counts = SmallVec<[(u32, u32); 2]>;

/// A customer's spend: exact in whole cents while every amount is whole cents (then any
/// summation order gives the same float), else a Neumaier compensated sum.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Money {
    pub(super) exact: bool,
    pub(super) cents: i64,
    pub(super) fsum: f64,
    pub(super) fcomp: f64,
}

/// `x` rounded to an integer (ties to even), for |x| < 2^51: one add and one subtract instead of
/// a libm call (`f64::round` is not inlined on baseline x86-64). Only used to test whether an
/// amount is whole cents, where the tie rule cannot matter (a tie is never whole cents).
#[inline]
pub(super) fn round_small(x: f64) -> f64 {
    pub(super) const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 x 2^52
    if x.abs() < 2_251_799_813_685_248.0 {
        (x + MAGIC) - MAGIC
    } else {
        x.round()
    }
}

impl Money {
    pub(crate) const ZERO: Money = Money {
        exact: true,
        cents: 0,
        fsum: 0.0,
        fcomp: 0.0,
    };

    #[inline]
    pub(crate) fn add(&mut self, a: f64) {
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
    pub(crate) fn value(&self) -> f64 {
        if self.exact {
            self.cents as f64 / 100.0
        } else {
            ((self.fsum + self.fcomp) * 100.0).round_ties_even() / 100.0
        }
    }

    pub(crate) fn merge(&mut self, o: &Money) {
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
pub(super) struct Agg {
    pub(super) first_us: i64,
    pub(super) last_us: i64,
    pub(super) n_purchase: u32,
    pub(super) money: Money,
    pub(super) qty: i64,
    pub(super) orders: SmallVec<[u64; 2]>,
    pub(super) region: Counts,
    pub(super) payment: Counts,
}

impl Agg {
    pub(super) fn new() -> Self {
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

    pub(super) fn add_amount(&mut self, a: f64) {
        self.money.add(a);
    }

    pub(super) fn monetary(&self) -> f64 {
        self.money.value()
    }

    pub(super) fn merge(&mut self, o: Agg) {
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
pub(super) fn bump(v: &mut Counts, key: u32, n: u32) {
    match v.iter_mut().find(|e| e.0 == key) {
        Some(e) => e.1 += n,
        None => v.push((key, n)),
    }
}

/// Interns small sets of strings (regions, payment methods) within one unit.
#[derive(Default)]
pub(super) struct Dict {
    pub(super) values: Vec<String>,
    pub(super) last: Option<u32>,
}

impl Dict {
    pub(super) fn id(&mut self, s: &str) -> u32 {
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
pub(super) struct Unit {
    pub(super) keys: KeyTable,
    pub(super) aggs: Vec<Agg>,
    pub(super) regions: Dict,
    pub(super) payments: Dict,
    pub(super) max_ts: i64,
    pub(super) rows: u64,
    /// Per-chunk scratch: the slot and order-id hash of every row.
    pub(super) slots: Vec<u32>,
    pub(super) order_hashes: Vec<u64>,
    /// Slot and order-id hash per dictionary value, for the dictionary of the current column
    /// chunk (shared by its batches).
    pub(super) id_cache: Option<(ArrayRef, Vec<u32>)>,
    pub(super) order_cache: Option<(ArrayRef, Vec<u64>)>,
    /// Rows at or after this instant are skipped.
    pub(super) before_us: i64,
}

pub(super) fn hasher() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(0x5e6_d1a7)
}

impl Unit {
    pub(super) fn new(before_us: i64) -> Self {
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

    pub(super) fn slot(&mut self, id: &str) -> usize {
        let (i, new) = self.keys.index(id);
        if new {
            self.aggs.push(Agg::new());
        }
        i
    }

    /// The slot of every row's customer into `self.slots`.
    pub(super) fn resolve_slots(&mut self, ids: &Ids, n: usize) {
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
    pub(super) fn resolve_orders(&mut self, orders: &Ids, n: usize) {
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

    pub(super) fn fold(&mut self, c: &Chunk) -> Result<()> {
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
