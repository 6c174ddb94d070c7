//! The `conversion` task: one row per session of the clickstream (`events`), label = the session
//! has a `purchase` event, features known before that event:
//!
//! * event counts by type except `purchase` (`page_views`, `product_views`, `add_to_cart`,
//!   `remove_from_cart`, `begin_checkout`) and their total;
//! * `duration_s`: last non-purchase event - first event, in seconds;
//! * `depth`: the deepest funnel stage reached before a purchase (1 page view, 2 product view,
//!   3 cart, 4 checkout);
//! * `cart_value`: the `begin_checkout` price (the cart value), else added minus removed prices;
//! * one-hot `device_*` (mobile, desktop, tablet) and `source_*` (organic, paid, email, social,
//!   direct); other values set none of them;
//! * the user's history before the session start: `prior_sessions`, `prior_purchases`
//!   (purchases made before the start) and `days_since_prior_session` (NaN for a first session);
//!   the customer-level clickstream features as of the session start: `prior_product_views`,
//!   `prior_carts`, `prior_checkouts` (events of earlier sessions that ended before the start)
//!   and `prior_sessions_30d`, `prior_sessions_90d` (sessions started in the 30 / 90 days
//!   before the start).
//!
//! The purchase event itself, its price and anything after the session start of later sessions
//! never reach a feature (test in `tests/predict.rs`).

use arrow_array::Array;
use hashbrown::HashMap;
use rayon::prelude::*;

use super::Table;
use crate::data::reader::TableReader;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// Device values in the events file.
pub const DEVICES: [&str; 3] = ["mobile", "desktop", "tablet"];
/// Traffic sources in the events file.
pub const SOURCES: [&str; 5] = ["organic", "paid", "email", "social", "direct"];
const STAGES: [&str; 5] = [
    "page_view",
    "product_view",
    "add_to_cart",
    "remove_from_cart",
    "begin_checkout",
];

/// Feature names in order.
pub fn conversion_features() -> Vec<String> {
    let mut v: Vec<String> = [
        "page_views",
        "product_views",
        "add_to_cart",
        "remove_from_cart",
        "begin_checkout",
        "events",
        "duration_s",
        "depth",
        "cart_value",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(DEVICES.iter().map(|d| format!("device_{d}")));
    v.extend(SOURCES.iter().map(|s| format!("source_{s}")));
    v.extend(
        [
            "prior_sessions",
            "prior_purchases",
            "days_since_prior_session",
            "prior_product_views",
            "prior_carts",
            "prior_checkouts",
            "prior_sessions_30d",
            "prior_sessions_90d",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    v
}

/// Sessions with their features and label, sorted by (start, session_id).
#[derive(Debug, Clone)]
pub struct SessionDataset {
    /// Session id per row.
    pub session_id: Vec<String>,
    /// Customer id per row.
    pub user_id: Vec<String>,
    /// Session start (microseconds since the epoch, UTC).
    pub start_us: Vec<i64>,
    /// Session features.
    pub x: Table,
    /// 1 when the session ended with a purchase.
    pub converted: Vec<f64>,
}

#[derive(Clone)]
struct Acc {
    user: Box<str>,
    start: i64,
    last_pre: i64,
    counts: [u32; 5],
    purchase_ts: Option<i64>,
    checkout_value: Option<f64>,
    added: f64,
    removed: f64,
    device: u8,
    source: u8,
}

impl Acc {
    fn merge(&mut self, o: Acc) {
        self.start = self.start.min(o.start);
        self.last_pre = self.last_pre.max(o.last_pre);
        for (a, b) in self.counts.iter_mut().zip(o.counts) {
            *a += b;
        }
        self.purchase_ts = match (self.purchase_ts, o.purchase_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.checkout_value = self.checkout_value.or(o.checkout_value);
        self.added += o.added;
        self.removed += o.removed;
        if self.device == u8::MAX {
            self.device = o.device;
        }
        if self.source == u8::MAX {
            self.source = o.source;
        }
    }
}

/// Builds the session table from the events file.
pub fn session_dataset(events: &TableReader, progress: &dyn Progress) -> Result<SessionDataset> {
    for c in ["device", "traffic_source"] {
        if !events.has(c) {
            return Err(Error::Config(format!(
                "{}: the conversion task needs the {c} column",
                events.path.display()
            )));
        }
    }
    progress.begin("reading events", events.num_rows_hint().unwrap_or(0));
    let units = events.fold(
        &[
            "user_id",
            "session_id",
            "timestamp",
            "event_type",
            "price",
            "device",
            "traffic_source",
        ],
        HashMap::<Box<str>, Acc>::new,
        |m, c| {
            let users = c.ids("user_id").expect("required");
            let sessions = c.ids("session_id").expect("required");
            let ts = c.ts("timestamp").expect("required").values();
            let types = c.str("event_type").expect("required");
            let price = c.f64("price");
            let device = c.str("device").expect("checked");
            let source = c.str("traffic_source").expect("checked");
            for i in 0..c.len() {
                let sid = sessions.value(i);
                let e = match m.get_mut(sid) {
                    Some(e) => e,
                    None => {
                        let code = |v: &str, names: &[&str]| {
                            names
                                .iter()
                                .position(|n| *n == v)
                                .map_or(u8::MAX, |p| p as u8)
                        };
                        m.insert(
                            sid.into(),
                            Acc {
                                user: users.value(i).into(),
                                start: i64::MAX,
                                last_pre: i64::MIN,
                                counts: [0; 5],
                                purchase_ts: None,
                                checkout_value: None,
                                added: 0.0,
                                removed: 0.0,
                                device: code(device.value(i), &DEVICES),
                                source: code(source.value(i), &SOURCES),
                            },
                        );
                        m.get_mut(sid).expect("inserted")
                    }
                };
                let t = ts[i];
                e.start = e.start.min(t);
                let p = price.and_then(|p| (!p.is_null(i)).then(|| p.value(i)));
                let ty = types.value(i);
                if ty == "purchase" {
                    e.purchase_ts = Some(e.purchase_ts.map_or(t, |x| x.min(t)));
                    continue;
                }
                e.last_pre = e.last_pre.max(t);
                if let Some(k) = STAGES.iter().position(|s| *s == ty) {
                    e.counts[k] += 1;
                    match (k, p) {
                        (2, Some(v)) => e.added += v,
                        (3, Some(v)) => e.removed += v,
                        (4, Some(v)) => e.checkout_value = Some(v),
                        _ => {}
                    }
                }
            }
            Ok(())
        },
        progress,
    )?;
    progress.finish();
    let all = super::merge_units(units, Acc::merge);
    if all.is_empty() {
        return Err(Error::Empty {
            path: events.path.clone(),
            message: "no events".into(),
        });
    }
    let mut sessions: Vec<(Box<str>, Acc)> = all.into_iter().collect();
    // per user in time order, for the history features
    sessions.par_sort_unstable_by(|a, b| {
        (&a.1.user, a.1.start, &a.0).cmp(&(&b.1.user, b.1.start, &b.0))
    });
    let n = sessions.len();
    let names = conversion_features();
    let d = names.len();
    let mut rows = vec![0.0; n * d];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j < n && sessions[j].1.user == sessions[i].1.user {
            j += 1;
        }
        // purchase times of this user, sorted, to count those before each start
        let mut buys: Vec<i64> = sessions[i..j]
            .iter()
            .filter_map(|s| s.1.purchase_ts)
            .collect();
        buys.sort_unstable();
        let user = &sessions[i..j];
        let end = |s: &Acc| s.last_pre.max(s.purchase_ts.unwrap_or(i64::MIN));
        let starts: Vec<i64> = user.iter().map(|s| s.1.start).collect();
        let max_len = user
            .iter()
            .map(|s| end(&s.1).saturating_sub(s.1.start))
            .max()
            .unwrap_or(0);
        // counts of product views, carts, checkouts of sessions before each one
        let mut prefix = vec![[0u32; 3]; user.len() + 1];
        for (q, s) in user.iter().enumerate() {
            let c = &s.1.counts;
            let p = prefix[q];
            prefix[q + 1] = [p[0] + c[1], p[1] + c[2], p[2] + c[4]];
        }
        for k in i..j {
            let a = &sessions[k].1;
            let r = &mut rows[k * d..(k + 1) * d];
            for (slot, &c) in r.iter_mut().zip(&a.counts) {
                *slot = c as f64;
            }
            r[5] = a.counts.iter().sum::<u32>() as f64;
            r[6] = if a.last_pre >= a.start {
                (a.last_pre - a.start) as f64 / 1e6
            } else {
                0.0
            };
            r[7] = if a.counts[4] > 0 {
                4.0
            } else if a.counts[2] + a.counts[3] > 0 {
                3.0
            } else if a.counts[1] > 0 {
                2.0
            } else if a.counts[0] > 0 {
                1.0
            } else {
                0.0
            };
            r[8] = a.checkout_value.unwrap_or(a.added - a.removed);
            if (a.device as usize) < DEVICES.len() {
                r[9 + a.device as usize] = 1.0;
            }
            if (a.source as usize) < SOURCES.len() {
                r[12 + a.source as usize] = 1.0;
            }
            r[17] = (k - i) as f64;
            r[18] = buys.partition_point(|&b| b < a.start) as f64;
            r[19] = if k > i {
                (a.start - sessions[k - 1].1.start) as f64 / 86_400e6
            } else {
                f64::NAN
            };
            // earlier sessions, less those still running at this start (only sessions that
            // started within the user's longest session length before it can be)
            let q = k - i;
            let mut prior = prefix[q];
            for s in user[..q].iter().rev() {
                if s.1.start < a.start.saturating_sub(max_len) {
                    break;
                }
                if end(&s.1) >= a.start {
                    prior[0] -= s.1.counts[1];
                    prior[1] -= s.1.counts[2];
                    prior[2] -= s.1.counts[4];
                }
            }
            for (slot, v) in r[20..23].iter_mut().zip(prior) {
                *slot = v as f64;
            }
            let before = starts.partition_point(|&t| t < a.start);
            for (slot, days) in r[23..25].iter_mut().zip([30, 90]) {
                let from = a.start - days * 86_400_000_000;
                *slot = (before - starts.partition_point(|&t| t < from)) as f64;
            }
        }
        i = j;
    }
    // output in time order
    let mut order: Vec<usize> = (0..n).collect();
    order.par_sort_unstable_by(|&a, &b| {
        (sessions[a].1.start, &sessions[a].0).cmp(&(sessions[b].1.start, &sessions[b].0))
    });
    let mut data = Vec::with_capacity(n * d);
    for &k in &order {
        data.extend_from_slice(&rows[k * d..(k + 1) * d]);
    }
    Ok(SessionDataset {
        session_id: order.iter().map(|&k| sessions[k].0.to_string()).collect(),
        user_id: order
            .iter()
            .map(|&k| sessions[k].1.user.to_string())
            .collect(),
        start_us: order.iter().map(|&k| sessions[k].1.start).collect(),
        converted: order
            .iter()
            .map(|&k| sessions[k].1.purchase_ts.is_some() as u8 as f64)
            .collect(),
        x: Table {
            rows: n,
            cols: d,
            data,
            names,
        },
    })
}

/// Train on the earliest sessions, test on the latest `test_size` share (by start time).
pub fn time_split(n_sorted_by_start: usize, test_size: f64) -> Vec<super::Part> {
    let n_test = (n_sorted_by_start as f64 * test_size).round() as usize;
    (0..n_sorted_by_start)
        .map(|i| {
            if i >= n_sorted_by_start - n_test {
                super::Part::Test
            } else {
                super::Part::Train
            }
        })
        .collect()
}
