//! Customer-level clickstream features at a cutoff, for every customer task (`churn`, `value`;
//! the `conversion` task has their per-session analogue, the user's history before the session).
//!
//! From the events with `timestamp < cutoff` (nothing on or after the cutoff is read):
//!
//! * `sessions`: distinct sessions with an event before the cutoff; a session's start is its
//!   first such event;
//! * `page_views`, `product_views`, `carts` (`add_to_cart`), `checkouts` (`begin_checkout`),
//!   `web_purchases` (`purchase` events): event counts;
//! * `sessions_30d`, `sessions_90d`: sessions that started in the last 30 / 90 days before the
//!   cutoff; `product_views_30d`, `product_views_90d`, `carts_30d`, `carts_90d`,
//!   `checkouts_30d`, `checkouts_90d`: events in those windows;
//! * `days_since_last_session`: cutoff - start of the latest session, in days (NaN without a
//!   session).
//!
//! Customers without events get zero counts. Session ids are compared by a 64-bit hash within
//! a customer (a collision needs two of one customer's session ids to share a hash).

use hashbrown::HashMap;
use smallvec::SmallVec;

use crate::data::keys::KeyTable;
use crate::data::reader::TableReader;
use crate::data::timestamp::US_PER_DAY;
use crate::error::Result;
use crate::progress::Progress;

/// Feature names in order.
pub const CLICKSTREAM_FEATURES: [&str; 15] = [
    "sessions",
    "page_views",
    "product_views",
    "carts",
    "checkouts",
    "web_purchases",
    "sessions_30d",
    "sessions_90d",
    "product_views_30d",
    "product_views_90d",
    "carts_30d",
    "carts_90d",
    "checkouts_30d",
    "checkouts_90d",
    "days_since_last_session",
];

/// Event types counted, in the order of `Acc::counts`.
const TYPES: [&str; 5] = [
    "page_view",
    "product_view",
    "add_to_cart",
    "begin_checkout",
    "purchase",
];

#[derive(Default, Clone)]
struct Acc {
    /// (session hash, start) of the customer's sessions
    sessions: SmallVec<[(u64, i64); 8]>,
    /// session hash -> position in `sessions`, once a customer has many sessions
    index: Option<HashMap<u64, usize>>,
    counts: [u32; 5],
    /// product views, carts, checkouts in the last 30 and 90 days
    recent: [[u32; 3]; 2],
}

const INDEX_FROM: usize = 32;

impl Acc {
    fn session(&mut self, h: u64, t: i64) {
        let found = match &self.index {
            Some(ix) => ix.get(&h).copied(),
            None => match self.sessions.last() {
                Some(&(l, _)) if l == h => Some(self.sessions.len() - 1),
                _ => self.sessions.iter().position(|s| s.0 == h),
            },
        };
        match found {
            Some(p) => {
                let s = &mut self.sessions[p].1;
                *s = (*s).min(t);
            }
            None => {
                self.sessions.push((h, t));
                let p = self.sessions.len() - 1;
                if let Some(ix) = &mut self.index {
                    ix.insert(h, p);
                } else if self.sessions.len() > INDEX_FROM {
                    self.index = Some(
                        self.sessions
                            .iter()
                            .enumerate()
                            .map(|(i, s)| (s.0, i))
                            .collect(),
                    );
                }
            }
        }
    }
    fn merge(&mut self, o: Acc) {
        for (h, t) in o.sessions {
            self.session(h, t);
        }
        for (a, b) in self.counts.iter_mut().zip(o.counts) {
            *a += b;
        }
        for w in 0..2 {
            for k in 0..3 {
                self.recent[w][k] += o.recent[w][k];
            }
        }
    }
}

struct Unit {
    keys: KeyTable,
    accs: Vec<Acc>,
}

/// The clickstream feature columns (in [`CLICKSTREAM_FEATURES`] order) of `customer_ids` at
/// the cutoff day.
pub fn customer_clickstream(
    events: &TableReader,
    customer_ids: &[String],
    cutoff_day: i64,
    progress: &dyn Progress,
) -> Result<Vec<Vec<f64>>> {
    let cut = cutoff_day * US_PER_DAY;
    let from = [cut - 30 * US_PER_DAY, cut - 90 * US_PER_DAY];
    let hasher = foldhash::fast::FixedState::with_seed(11);
    progress.begin("clickstream", events.num_rows_hint().unwrap_or(0));
    let units = events.fold(
        &["user_id", "session_id", "timestamp", "event_type"],
        || Unit {
            keys: KeyTable::new(),
            accs: Vec::new(),
        },
        |u, c| {
            use std::hash::BuildHasher;
            let users = c.ids("user_id").expect("required");
            let sessions = c.ids("session_id").expect("required");
            let ts = c.ts("timestamp").expect("required").values();
            let types = c.str("event_type").expect("required");
            for i in 0..c.len() {
                let t = ts[i];
                if t >= cut {
                    continue;
                }
                let (slot, new) = u.keys.index(users.value(i));
                if new {
                    u.accs.push(Acc::default());
                }
                let e = &mut u.accs[slot];
                e.session(hasher.hash_one(sessions.value(i)), t);
                let Some(k) = TYPES.iter().position(|s| *s == types.value(i)) else {
                    continue;
                };
                e.counts[k] += 1;
                // product views, carts, checkouts -> recent slots 0, 1, 2
                if (1..=3).contains(&k) {
                    for (w, &f) in from.iter().enumerate() {
                        if t >= f {
                            e.recent[w][k - 1] += 1;
                        }
                    }
                }
            }
            Ok(())
        },
        progress,
    )?;
    progress.finish();
    let all = super::merge_units(
        units
            .into_iter()
            .map(|u| u.keys.keys.into_iter().zip(u.accs)),
        Acc::merge,
    );
    let empty = Acc::default();
    let mut cols = vec![Vec::with_capacity(customer_ids.len()); CLICKSTREAM_FEATURES.len()];
    for id in customer_ids {
        let a = all.get(id.as_str()).unwrap_or(&empty);
        let since = |f: i64| a.sessions.iter().filter(|s| s.1 >= f).count() as f64;
        let last = a.sessions.iter().map(|s| s.1).max();
        let row = [
            a.sessions.len() as f64,
            a.counts[0] as f64,
            a.counts[1] as f64,
            a.counts[2] as f64,
            a.counts[3] as f64,
            a.counts[4] as f64,
            since(from[0]),
            since(from[1]),
            a.recent[0][0] as f64,
            a.recent[1][0] as f64,
            a.recent[0][1] as f64,
            a.recent[1][1] as f64,
            a.recent[0][2] as f64,
            a.recent[1][2] as f64,
            last.map_or(f64::NAN, |l| (cut - l) as f64 / US_PER_DAY as f64),
        ];
        for (c, v) in cols.iter_mut().zip(row) {
            c.push(v);
        }
    }
    Ok(cols)
}
