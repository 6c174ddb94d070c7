//! Merging the units' aggregates: one dictionary per mode column, and the customers in key
//! order with those that straddle two units merged.

use rayon::prelude::*;

use super::aggregate::{Agg, Unit};

/// Gives the mode columns of every unit one global dictionary (in order of first appearance
/// over the units) and re-keys the units' counts to it. Returns the units and the region and
/// payment dictionaries.
pub(super) fn global_dictionaries(mut units: Vec<Unit>) -> (Vec<Unit>, Vec<String>, Vec<String>) {
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
    (units, region_names, pay_names)
}

/// The customers in key order, as parts to be written in parallel.
///
/// Input sorted by customer_id (the usual export): the keys of every unit ascend and the units
/// follow each other, so only a customer that straddles two units needs merging and each unit
/// becomes its slice of the mart. Otherwise: all customers sorted, one part.
pub(super) fn into_parts(units: Vec<Unit>) -> Vec<Part> {
    let non_empty: Vec<&Unit> = units.iter().filter(|u| !u.keys.is_empty()).collect();
    let sorted = units
        .par_iter()
        .all(|u| u.keys.keys.windows(2).all(|w| w[0] < w[1]))
        && non_empty
            .windows(2)
            .all(|w| w[0].keys.keys.last() <= w[1].keys.keys.first());
    drop(non_empty);
    if sorted {
        merge_sorted(units)
    } else {
        vec![merge_unsorted(units)]
    }
}

/// Sorted units: a customer continued from the previous unit is merged into it and skipped.
fn merge_sorted(mut units: Vec<Unit>) -> Vec<Part> {
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
}

/// Unsorted units: every customer sorted by key (then unit), equal keys merged in place.
fn merge_unsorted(units: Vec<Unit>) -> Part {
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
    Part {
        keys,
        aggs,
        skip: 0,
    }
}

/// Customers of one unit (or all, when unsorted) in key order; the first `skip` belong to an
/// earlier unit, and customers without a purchase are left out of the mart.
pub(super) struct Part {
    pub(super) keys: Vec<Box<str>>,
    pub(super) aggs: Vec<Agg>,
    pub(super) skip: usize,
}

impl Part {
    /// Customers it adds to the mart.
    pub(super) fn customers(&self) -> usize {
        self.aggs[self.skip.min(self.aggs.len())..]
            .iter()
            .filter(|a| a.n_purchase > 0)
            .count()
    }
}
