//! Choosing the number of clusters: k-means for each k in a range, scored by inertia (with its
//! knee), silhouette on a seeded sample, Calinski–Harabasz and Davies–Bouldin.
//!
//! The chosen k is the one with the highest silhouette (the smaller k on a tie within 0.005):
//! it rewards compact, well separated clusters and, unlike inertia, does not improve by itself
//! as k grows. The other criteria are reported next to it, with a sentence saying which agree.

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::kmeans::{KMeans, KMeansParams};
use super::Table;
use crate::error::{Error, Result};

/// Scores of one k.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KScore {
    /// The number of clusters.
    pub k: usize,
    /// Within-cluster sum of squares.
    pub inertia: f64,
    /// Mean silhouette on the sample (Euclidean), -1..1, higher is better.
    pub silhouette: f64,
    /// Calinski–Harabasz index: between / within dispersion, higher is better.
    pub calinski_harabasz: f64,
    /// Davies–Bouldin index: mean worst-case cluster similarity, lower is better.
    pub davies_bouldin: f64,
}

/// The result of [`select_k`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Selection {
    /// The scores of every k tried.
    pub scores: Vec<KScore>,
    /// The k chosen.
    pub chosen_k: usize,
    /// k at the knee of the inertia curve (largest distance below the chord).
    pub knee_k: usize,
    /// Why that k, in a sentence.
    pub why: String,
    /// Points used for the silhouette.
    pub silhouette_sample: usize,
    #[serde(skip)]
    /// The chosen k's model.
    pub model: Option<KMeans>,
}

/// Mean silhouette of `labels` on the rows `idx` of `x` (distances among the sampled rows;
/// labels >= `k` count as one more group, e.g. DBSCAN's noise).
///
/// The sampled rows are grouped by label into column-major arrays, and the distances from one
/// row to a group are summed 8 at a time (vectorised, AVX2 when present; the same bits either
/// way): 10,000 rows take well under a second on one core.
pub fn silhouette(x: &Table, labels: &[u32], idx: &[usize], k: usize) -> f64 {
    let m = idx.len();
    let d = x.cols;
    let groups = k + 1;
    let g = |i: usize| (labels[i] as usize).min(k);
    // column-major features of the sampled rows, grouped by label
    let mut order: Vec<usize> = idx.to_vec();
    order.sort_by_key(|&i| g(i));
    let mut bounds = vec![0usize; groups + 1];
    for &i in &order {
        bounds[g(i) + 1] += 1;
    }
    for c in 0..groups {
        bounds[c + 1] += bounds[c];
    }
    let cols: Vec<Vec<f64>> = (0..d)
        .map(|j| order.iter().map(|&i| x.row(i)[j]).collect())
        .collect();
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::arch::is_x86_feature_detected!("avx2");
    let s: Vec<f64> = (0..m)
        .into_par_iter()
        .map(|p| {
            let q: Vec<f64> = cols.iter().map(|c| c[p]).collect();
            let own = g(order[p]);
            let sums: Vec<f64> = (0..groups)
                .map(|c| {
                    let r = bounds[c]..bounds[c + 1];
                    #[cfg(target_arch = "x86_64")]
                    if avx2 {
                        // SAFETY: the processor has AVX2 (checked above)
                        return unsafe { distance_sum_avx2(&cols, &q, r) };
                    }
                    distance_sum(&cols, &q, r)
                })
                .collect();
            let cnt = |c: usize| bounds[c + 1] - bounds[c];
            if cnt(own) <= 1 {
                return 0.0; // a singleton's silhouette is 0 (scikit-learn)
            }
            let a = sums[own] / (cnt(own) - 1) as f64;
            let b = (0..groups)
                .filter(|&c| c != own && cnt(c) > 0)
                .map(|c| sums[c] / cnt(c) as f64)
                .fold(f64::INFINITY, f64::min);
            if !b.is_finite() {
                return 0.0;
            }
            (b - a) / a.max(b)
        })
        .collect();
    s.iter().sum::<f64>() / m.max(1) as f64
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn distance_sum_avx2(cols: &[Vec<f64>], q: &[f64], r: std::ops::Range<usize>) -> f64 {
    distance_sum(cols, q, r)
}

/// Sum of the Euclidean distances from `q` to the points `r` of `cols`, 8 lanes at a time.
#[inline(always)]
fn distance_sum(cols: &[Vec<f64>], q: &[f64], r: std::ops::Range<usize>) -> f64 {
    const L: usize = 8;
    let mut lanes = [0.0f64; L];
    let mut start = r.start;
    while start + L <= r.end {
        let mut s = [0.0f64; L];
        for (c, &qj) in cols.iter().zip(q) {
            let v: &[f64; L] = c[start..start + L].try_into().expect("8 lanes");
            for l in 0..L {
                let t = v[l] - qj;
                s[l] += t * t;
            }
        }
        for l in 0..L {
            lanes[l] += s[l].sqrt();
        }
        start += L;
    }
    let mut total: f64 = lanes.iter().sum();
    for p in start..r.end {
        let s: f64 = cols
            .iter()
            .zip(q)
            .map(|(c, &qj)| (c[p] - qj) * (c[p] - qj))
            .sum();
        total += s.sqrt();
    }
    total
}

/// The seeded sample of `m` rows (sorted) the silhouette is computed on.
pub fn silhouette_rows(n: usize, m: usize, seed: u64) -> Vec<usize> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5117_0e77);
    let mut idx = sample(&mut rng, n, m.min(n)).into_vec();
    idx.sort_unstable();
    idx
}

/// Calinski–Harabasz and Davies–Bouldin indices of a fitted model on `x`.
pub fn ch_db(x: &Table, m: &KMeans) -> (f64, f64) {
    let k = m.centers.len();
    let n = x.rows;
    let d = x.cols;
    let mut mean = vec![0.0; d];
    for i in 0..n {
        for (j, v) in x.row(i).iter().enumerate() {
            mean[j] += v / n as f64;
        }
    }
    let mut size = vec![0usize; k];
    let mut scatter = vec![0.0; k]; // mean distance to the center
    for (i, &l) in m.labels.iter().enumerate() {
        size[l as usize] += 1;
        let c = &m.centers[l as usize];
        scatter[l as usize] += x
            .row(i)
            .iter()
            .zip(c)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
    }
    for c in 0..k {
        scatter[c] /= size[c].max(1) as f64;
    }
    let d2 = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum::<f64>();
    let between: f64 = (0..k)
        .map(|c| size[c] as f64 * d2(&m.centers[c], &mean))
        .sum();
    let ch = if k > 1 && m.inertia > 0.0 {
        (between / (k - 1) as f64) / (m.inertia / (n - k).max(1) as f64)
    } else {
        0.0
    };
    let db = if k > 1 {
        (0..k)
            .map(|a| {
                (0..k)
                    .filter(|&b| b != a)
                    .map(|b| (scatter[a] + scatter[b]) / d2(&m.centers[a], &m.centers[b]).sqrt())
                    .fold(0.0, f64::max)
            })
            .sum::<f64>()
            / k as f64
    } else {
        0.0
    };
    (ch, db)
}

/// Knee of a decreasing curve: the point farthest below the chord from first to last.
pub fn knee(ks: &[usize], y: &[f64]) -> usize {
    let n = ks.len();
    if n < 3 {
        return ks[0];
    }
    let (x0, x1) = (ks[0] as f64, ks[n - 1] as f64);
    let (y0, y1) = (y[0], y[n - 1]);
    let mut best = (0, f64::NEG_INFINITY);
    for i in 0..n {
        let t = (ks[i] as f64 - x0) / (x1 - x0);
        let chord = y0 + t * (y1 - y0);
        let gap = (chord - y[i]) / (y0 - y1).abs().max(1e-300);
        if gap > best.1 {
            best = (i, gap);
        }
    }
    ks[best.0]
}

/// Fits k-means for every k in `k_min..=k_max` and chooses one (see the module docs).
pub fn select_k(
    x: &Table,
    base: &KMeansParams,
    k_min: usize,
    k_max: usize,
    silhouette_sample: usize,
) -> Result<Selection> {
    if k_min < 2 || k_max < k_min {
        return Err(Error::Config(format!(
            "need 2 <= k-min <= k-max, got {k_min}..{k_max}"
        )));
    }
    let m = silhouette_sample.min(x.rows);
    let idx = silhouette_rows(x.rows, m, base.seed);
    let mut scores = Vec::new();
    let mut models = Vec::new();
    for k in k_min..=k_max {
        let model = KMeansParams {
            n_clusters: k,
            ..base.clone()
        }
        .fit(x)?;
        let (ch, db) = ch_db(x, &model);
        scores.push(KScore {
            k,
            inertia: model.inertia,
            silhouette: silhouette(x, &model.labels, &idx, k),
            calinski_harabasz: ch,
            davies_bouldin: db,
        });
        models.push(model);
    }
    let best_sil = scores
        .iter()
        .map(|s| s.silhouette)
        .fold(f64::NEG_INFINITY, f64::max);
    let chosen = scores
        .iter()
        .position(|s| s.silhouette >= best_sil - 0.005)
        .expect("one k at least");
    let ks: Vec<usize> = scores.iter().map(|s| s.k).collect();
    let knee_k = knee(&ks, &scores.iter().map(|s| s.inertia).collect::<Vec<_>>());
    let ch_k = scores
        .iter()
        .max_by(|a, b| a.calinski_harabasz.total_cmp(&b.calinski_harabasz))
        .map(|s| s.k)
        .unwrap_or(k_min);
    let db_k = scores
        .iter()
        .min_by(|a, b| a.davies_bouldin.total_cmp(&b.davies_bouldin))
        .map(|s| s.k)
        .unwrap_or(k_min);
    let k = scores[chosen].k;
    let agree: Vec<&str> = [
        (knee_k == k, "the inertia knee"),
        (ch_k == k, "Calinski–Harabasz"),
        (db_k == k, "Davies–Bouldin"),
    ]
    .iter()
    .filter(|a| a.0)
    .map(|a| a.1)
    .collect();
    let why = format!(
        "k = {k} has the highest silhouette ({:.3}{}); {}",
        scores[chosen].silhouette,
        if scores[chosen].silhouette < best_sil {
            format!(", within 0.005 of the best {best_sil:.3}, and fewer clusters")
        } else {
            String::new()
        },
        if agree.is_empty() {
            format!("the inertia knee is at k = {knee_k}, Calinski–Harabasz prefers k = {ch_k}, Davies–Bouldin k = {db_k}")
        } else {
            format!(
                "{} agree{}",
                agree.join(" and "),
                if agree.len() == 1 { "s" } else { "" }
            )
        }
    );
    Ok(Selection {
        scores,
        chosen_k: k,
        knee_k,
        why,
        silhouette_sample: m,
        model: models.into_iter().nth(chosen),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(n_blobs: usize, per: usize) -> Table {
        use rand_distr::{Distribution, Normal};
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let noise = Normal::new(0.0, 0.4).unwrap();
        let mut data = Vec::new();
        for b in 0..n_blobs {
            let angle = b as f64 * std::f64::consts::TAU / n_blobs as f64;
            let (cx, cy) = (6.0 * angle.cos(), 6.0 * angle.sin());
            for _ in 0..per {
                data.push(cx + noise.sample(&mut rng));
                data.push(cy + noise.sample(&mut rng));
            }
        }
        Table {
            rows: n_blobs * per,
            cols: 2,
            data,
            names: vec!["x".into(), "y".into()],
        }
    }

    #[test]
    fn chooses_the_number_of_blobs() {
        for blobs_n in [3, 5] {
            let x = blobs(blobs_n, 200);
            let s = select_k(
                &x,
                &KMeansParams {
                    n_init: 3,
                    ..Default::default()
                },
                2,
                8,
                1000,
            )
            .unwrap();
            assert_eq!(s.chosen_k, blobs_n, "{:?}", s.scores);
            assert_eq!(s.knee_k, blobs_n, "{:?}", s.scores);
            assert!(s.why.contains(&format!("k = {blobs_n}")), "{}", s.why);
            assert_eq!(s.model.as_ref().unwrap().centers.len(), blobs_n);
        }
    }

    #[test]
    fn silhouette_by_hand() {
        // two clusters on a line: {0, 1} and {10, 11}. Point 0: a = 1, b = (10 + 11) / 2 = 10.5,
        // s = 1 - 1/10.5; point 1: a = 1, b = 9.5, s = 1 - 1/9.5; symmetric for the others.
        let x = Table {
            rows: 4,
            cols: 1,
            data: vec![0.0, 1.0, 10.0, 11.0],
            names: vec!["x".into()],
        };
        let s = silhouette(&x, &[0, 0, 1, 1], &[0, 1, 2, 3], 2);
        let want = (2.0 * (1.0 - 1.0 / 10.5) + 2.0 * (1.0 - 1.0 / 9.5)) / 4.0;
        assert!((s - want).abs() < 1e-12, "{s} vs {want}");
        assert_eq!(knee(&[1, 2, 3, 4, 5], &[100.0, 30.0, 20.0, 15.0, 12.0]), 2);
    }
}
