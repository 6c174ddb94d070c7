//! Quantile scores 1..=bins from ranks.
//!
//! With n customers and rank i = 1..n, the score is `max(1, ceil(bins (i - 1) / (n - 1)))`: the
//! closed form of pandas `qcut(x.rank(method=...), bins)` (checked by `peers/rfm_pandas.py` for
//! n = 5..3000, 10^5 and 10^6 with 5 bins; the derivation holds for any number of bins).
//!
//! * [`Ties::First`]: ranks break ties by `customer_id` (the row order of the sorted mart), so
//!   equal values can get different scores. This reproduces the common practice (and the bench
//!   `rfm` task) exactly.
//! * [`Ties::Average`]: a group of equal values gets the mean of the ranks it spans, and the score
//!   of that mean rank; equal values always get equal scores. Bins are then uneven: a large tie
//!   group falls entirely into the bin of its middle position.
//!
//! n = 1 gets score 1.

use serde::{Deserialize, Serialize};

/// How ranks of equal values are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ties {
    /// Ties broken by customer order (pandas `rank(method="first")`).
    #[default]
    First,
    /// Ties share their mean rank (pandas `rank(method="average")`): equal values, equal scores.
    Average,
}

/// Maps a float to an integer with the same order; -0.0 and 0.0 map to the same key (they are
/// equal values, as in pandas).
fn order_key(v: f64) -> u64 {
    let b = (v + 0.0).to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// Order-preserving keys with few significant bytes when every value is a whole number or
/// whole cents (days, counts, money): `round(v * scale) - min`. The radix sort then needs one
/// pass per byte of the range instead of eight. `None` otherwise.
fn small_integer_keys(values: &[f64]) -> Option<Vec<u64>> {
    const LIMIT: f64 = (1u64 << 52) as f64;
    for scale in [1.0, 100.0] {
        let whole = values.iter().all(|&v| {
            let s = v * scale;
            // v is exactly the double nearest to a whole number of units
            s.abs() < LIMIT && s.round() / scale == v
        });
        if whole {
            let ints: Vec<i64> = values.iter().map(|&v| (v * scale).round() as i64).collect();
            let min = ints.iter().copied().min().unwrap_or(0);
            return Some(ints.into_iter().map(|x| (x - min) as u64).collect());
        }
    }
    None
}

/// Score of the rank `twice_rank / 2` (ranks may be halves under [`Ties::Average`]), in integer
/// arithmetic: `ceil(bins (r - 1) / (n - 1))` clamped to 1..=bins.
fn score_of_half_rank(twice_rank: usize, n: usize, bins: u32) -> u8 {
    if n <= 1 {
        return 1;
    }
    let num = bins as u128 * (twice_rank as u128 - 2);
    let den = 2 * (n as u128 - 1);
    (num.div_ceil(den)).clamp(1, bins as u128) as u8
}

/// Exact integer form for integral ranks: `(bins (i-1) + n - 2) div (n - 1)`, at least 1.
fn score_of_int_rank(i: usize, n: usize, bins: u32) -> u8 {
    if n <= 1 {
        return 1;
    }
    let s = (bins as u128 * (i as u128 - 1) + (n as u128 - 2)) / (n as u128 - 1);
    s.max(1) as u8
}

/// Sorts (key, index) pairs by key, then index, given pairs in index order: a stable LSD radix
/// sort on the key bytes that differ (two passes for small integers such as recency days).
/// Hand-written: the radix-sort crates sort keys alone or need a stable comparator, and this is
/// 3-5x faster than pdqsort here.
fn radix_sort(v: &mut Vec<(u64, u32)>) {
    if v.len() < 1 << 12 || !v.windows(2).all(|w| w[0].1 < w[1].1) {
        v.sort_unstable();
        return;
    }
    lsd_radix(v, 8, |e, d| ((e.0 >> (8 * d)) & 0xff) as usize);
}

/// Sorts `key << 32 | index` words, given in index order, by key then index: a stable LSD
/// radix sort on the key bytes that differ (the index bytes are already in order). Half the
/// memory traffic of [`radix_sort`]'s pairs, for keys below 2^32 (days, counts, cents).
fn radix_sort_packed(v: &mut Vec<u64>) {
    if v.len() < 1 << 12 {
        v.sort_unstable();
        return;
    }
    lsd_radix(v, 4, |w, d| ((w >> (32 + 8 * d)) & 0xff) as usize);
}

/// Stable LSD radix sort of `v` on `digits` bytes, `byte(e, d)` being byte `d` (least
/// significant first) of entry `e`; bytes that every entry shares are skipped.
fn lsd_radix<E: Copy + Default>(v: &mut Vec<E>, digits: usize, byte: impl Fn(E, usize) -> usize) {
    let n = v.len();
    let mut hist = vec![[0usize; 256]; digits];
    for &e in v.iter() {
        for (d, h) in hist.iter_mut().enumerate() {
            h[byte(e, d)] += 1;
        }
    }
    let mut dst: Vec<E> = vec![E::default(); n];
    let mut src = std::mem::take(v);
    for (d, h) in hist.iter().enumerate() {
        if h.contains(&n) {
            continue; // every key has the same byte here
        }
        let mut offset = [0usize; 256];
        let mut acc = 0;
        for (o, &c) in offset.iter_mut().zip(h.iter()) {
            *o = acc;
            acc += c;
        }
        for &e in src.iter() {
            let b = byte(e, d);
            dst[offset[b]] = e;
            offset[b] += 1;
        }
        std::mem::swap(&mut src, &mut dst);
    }
    *v = src;
}

/// Scores of `values` (in customer order, i.e. sorted by `customer_id`), 1..=bins, where a
/// higher value gets a higher score. `values` must not contain NaN.
pub fn quantile_scores(values: &[f64], bins: u32, ties: Ties) -> Vec<u8> {
    // Sort (orderable key, customer index): equal values keep customer order.
    match small_integer_keys(values) {
        Some(keys) if keys.iter().all(|&k| k < 1 << 32) => {
            let mut packed: Vec<u64> = keys
                .into_iter()
                .zip(0u64..)
                .map(|(k, i)| k << 32 | i)
                .collect();
            radix_sort_packed(&mut packed);
            scores_of_order(&packed, |w| w >> 32, |w| w as u32, bins, ties)
        }
        keys => {
            let mut keyed: Vec<(u64, u32)> = match keys {
                Some(keys) => keys.into_iter().zip(0u32..).collect(),
                None => values
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| (order_key(v), i as u32))
                    .collect(),
            };
            radix_sort(&mut keyed);
            scores_of_order(&keyed, |k| k.0, |k| k.1, bins, ties)
        }
    }
}

/// Scores from the customers sorted by (key, index): `key` and `index` read a sorted entry.
fn scores_of_order<E: Copy>(
    sorted: &[E],
    key: impl Fn(E) -> u64,
    index: impl Fn(E) -> u32,
    bins: u32,
    ties: Ties,
) -> Vec<u8> {
    let n = sorted.len();
    let mut out = vec![0u8; n];
    match ties {
        Ties::First => {
            // the score never decreases with the rank: find each score's last rank by
            // bisection and fill its run (no division per customer)
            let mut pos = 0;
            while pos < n {
                let s = score_of_int_rank(pos + 1, n, bins);
                let (mut lo, mut hi) = (pos + 1, n);
                while lo < hi {
                    let mid = lo + (hi - lo).div_ceil(2);
                    if score_of_int_rank(mid, n, bins) == s {
                        lo = mid;
                    } else {
                        hi = mid - 1;
                    }
                }
                for &e in &sorted[pos..lo] {
                    out[index(e) as usize] = s;
                }
                pos = lo;
            }
        }
        Ties::Average => {
            let mut start = 0;
            while start < n {
                let v = key(sorted[start]);
                let mut end = start + 1;
                while end < n && key(sorted[end]) == v {
                    end += 1;
                }
                // ranks start+1 ..= end; twice their mean is start + 1 + end
                let s = score_of_half_rank(start + 1 + end, n, bins);
                for &e in &sorted[start..end] {
                    out[index(e) as usize] = s;
                }
                start = end;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // pandas 3.1.1: pd.qcut(pd.Series(v).rank(method="first"), 5, labels=False) + 1
    #[test]
    fn first_matches_qcut() {
        let v = [3.0, 1.0, 2.0, 2.0, 5.0, 4.0, 2.0, 9.0, 0.0, 7.0];
        // ranks (value, then position): 3->6, 1->2, 2->3, 2->4, 5->8, 4->7, 2->5, 9->10, 0->1, 7->9
        // s(i) = max(1, ceil(5 (i-1) / 9)): i=1..10 -> 1,1,2,2,3,3,4,4,5,5
        assert_eq!(
            quantile_scores(&v, 5, Ties::First),
            [3, 1, 2, 2, 4, 4, 3, 5, 1, 5]
        );
    }

    #[test]
    fn average_gives_equal_scores_to_equal_values() {
        let v = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        // six ties span ranks 1..6, mean 3.5 -> ceil(5 * 2.5 / 9) = 2; ranks 7..10 -> 4,4,5,5
        assert_eq!(
            quantile_scores(&v, 5, Ties::Average),
            [2, 2, 2, 2, 2, 2, 4, 4, 5, 5]
        );
        // with First the same values spread over 1..3
        assert_eq!(
            quantile_scores(&v, 5, Ties::First),
            [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        );
    }

    #[test]
    fn bins_and_edge_cases() {
        let v: Vec<f64> = (0..8).map(|x| x as f64).collect();
        // quartiles: ceil(4 (i-1) / 7): 1,1,2,2,3,3,4,4
        assert_eq!(
            quantile_scores(&v, 4, Ties::First),
            [1, 1, 2, 2, 3, 3, 4, 4]
        );
        assert_eq!(quantile_scores(&[42.0], 5, Ties::First), [1]);
        assert!(quantile_scores(&[], 5, Ties::First).is_empty());
        // negative values, -0.0 equal to 0.0 (ties broken by position); n = 6: ranks 1..6 give
        // 1,1,2,3,4,5; the zeros span ranks 3..5, mean 4 -> 3 under Average
        assert_eq!(
            quantile_scores(&[-5.0, 0.0, -0.0, 3.5, -1e9, 0.0], 5, Ties::Average),
            [1, 3, 3, 5, 1, 3]
        );
        assert_eq!(
            quantile_scores(&[-5.0, 0.0, -0.0, 3.5, -1e9, 0.0], 5, Ties::First),
            [1, 2, 3, 5, 1, 4]
        );
        // the two integer forms agree on integral ranks
        for n in 2..300 {
            for i in 1..=n {
                assert_eq!(
                    score_of_int_rank(i, n, 5),
                    score_of_half_rank(2 * i, n, 5),
                    "n={n} i={i}"
                );
            }
        }
    }

    #[test]
    fn integer_keys_rank_like_float_keys() {
        // money in cents (0.1 * 100 is not exactly 10), days, mixed signs, ties, -0.0 == 0.0
        let cents: Vec<f64> = (0..5000)
            .map(|i| (((i * 7919) % 1013) as f64 - 300.0) / 100.0)
            .chain([0.1, 0.2, 0.3, -0.0, 0.0])
            .collect();
        let days: Vec<f64> = (0..5000).map(|i| ((i * 31) % 731) as f64).collect();
        let odd: Vec<f64> = (0..5000).map(|i| (i % 97) as f64 / 3.0).collect();
        assert!(small_integer_keys(&cents).is_some());
        assert!(small_integer_keys(&days).is_some());
        assert!(small_integer_keys(&odd).is_none());
        for v in [&cents, &days] {
            let mut by_float: Vec<(u64, u32)> = v
                .iter()
                .zip(0u32..)
                .map(|(&x, i)| (order_key(x), i))
                .collect();
            by_float.sort_unstable();
            let mut by_int: Vec<(u64, u32)> = small_integer_keys(v)
                .unwrap()
                .into_iter()
                .zip(0u32..)
                .collect();
            radix_sort(&mut by_int);
            let a: Vec<u32> = by_float.iter().map(|x| x.1).collect();
            let b: Vec<u32> = by_int.iter().map(|x| x.1).collect();
            assert_eq!(a, b);
        }
    }

    /// The definition, without shortcuts: sort (value, position) with the standard sort, rank
    /// = position in that order (+ 1), score = `score_of_*` of the rank (or of the mean rank of
    /// equal values).
    fn reference_scores(v: &[f64], bins: u32, ties: Ties) -> Vec<u8> {
        let n = v.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| (v[a] + 0.0).total_cmp(&(v[b] + 0.0)).then(a.cmp(&b)));
        let mut out = vec![0u8; n];
        let mut start = 0;
        while start < n {
            let mut end = start + 1;
            while end < n && v[order[end]] == v[order[start]] {
                end += 1;
            }
            for (k, &i) in order[start..end].iter().enumerate() {
                out[i] = match ties {
                    Ties::First => score_of_int_rank(start + k + 1, n, bins),
                    Ties::Average => score_of_half_rank(start + 1 + end, n, bins),
                };
            }
            start = end;
        }
        out
    }

    #[test]
    fn fast_paths_equal_the_definition() {
        // above the radix sort's 4,096-row threshold: packed keys (days, cents), wide keys
        // (cents beyond 2^32), float keys; many ties; quintiles, deciles and 3 bins
        let n = 20_000;
        let days: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1_500) as f64).collect();
        let cents: Vec<f64> = (0..n)
            .map(|i| (((i * 104_729) % 50_000) as f64 - 2_000.0) / 100.0)
            .collect();
        let wide: Vec<f64> = (0..n)
            .map(|i| ((i * 31) % 977) as f64 * 1e8 - 3e10)
            .collect();
        let floats: Vec<f64> = (0..n).map(|i| ((i * 13) % 4_001) as f64 / 7.0).collect();
        assert!(small_integer_keys(&wide).is_some_and(|k| k.iter().any(|&x| x >= 1 << 32)));
        for v in [&days, &cents, &wide, &floats] {
            for bins in [5, 10, 3] {
                for ties in [Ties::First, Ties::Average] {
                    assert_eq!(
                        quantile_scores(v, bins, ties),
                        reference_scores(v, bins, ties),
                        "bins {bins}, {ties:?}"
                    );
                }
            }
        }
    }
}
