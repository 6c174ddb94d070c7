//! Choosing the number of clusters: k-means for each k in a range, scored by inertia (with its
//! knee), silhouette on a seeded sample, Calinski–Harabasz and Davies–Bouldin.
//!
//! The four criteria vote (a Borda count): each ranks the k tried, and a k gets n - 1 points
//! where a criterion ranks it first down to 0 where it ranks it last (n the number of k tried;
//! tied values share their points); the inertia knee gives n - 1 to its k and one point less
//! per step away from it. The k with the most points is chosen, a tie going to the higher
//! silhouette, then to fewer clusters. No single criterion decides: the silhouette alone favours
//! two blobs on log-RFM data (two groups are rarely actionable), Calinski–Harabasz grows with k
//! on large data, and the knee is coarse. The default range starts at 3 for the same reason.
//! Every k's scores and points are reported, with a sentence saying which criteria agree.

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
    /// Points of the vote of the four criteria (see the module docs).
    #[serde(default)]
    pub points: f64,
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

/// Points of each k (in the order of `scores`) from the four criteria: silhouette and
/// Calinski–Harabasz ranked high to low, Davies–Bouldin low to high (n - 1 for the best, 0 for
/// the worst, the mean of their ranks for ties), and n - 1 - |steps from the knee| (at least 0).
pub fn votes(scores: &[KScore], knee_k: usize) -> Vec<f64> {
    let n = scores.len();
    let rank_points = |v: &dyn Fn(&KScore) -> f64| -> Vec<f64> {
        (0..n)
            .map(|i| {
                let x = v(&scores[i]);
                let below = scores.iter().filter(|s| v(s) < x).count() as f64;
                let equal = scores.iter().filter(|s| v(s) == x).count() as f64;
                below + (equal - 1.0) / 2.0
            })
            .collect()
    };
    let sil = rank_points(&|s| s.silhouette);
    let ch = rank_points(&|s| s.calinski_harabasz);
    let db = rank_points(&|s| -s.davies_bouldin);
    let knee_i = scores.iter().position(|s| s.k == knee_k).unwrap_or(0);
    (0..n)
        .map(|i| {
            let knee = (n as f64 - 1.0 - (i as f64 - knee_i as f64).abs()).max(0.0);
            sil[i] + ch[i] + db[i] + knee
        })
        .collect()
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
    let mut scores: Vec<KScore> = Vec::new();
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
            points: 0.0,
        });
        models.push(model);
    }
    let ks: Vec<usize> = scores.iter().map(|s| s.k).collect();
    let knee_k = knee(&ks, &scores.iter().map(|s| s.inertia).collect::<Vec<_>>());
    let best = |v: &dyn Fn(&KScore) -> f64| -> usize {
        let mut i = 0;
        for j in 1..scores.len() {
            if v(&scores[j]) > v(&scores[i]) {
                i = j;
            }
        }
        scores[i].k
    };
    let (sil_k, ch_k, db_k) = (
        best(&|s| s.silhouette),
        best(&|s| s.calinski_harabasz),
        best(&|s| -s.davies_bouldin),
    );
    let points = votes(&scores, knee_k);
    for (s, p) in scores.iter_mut().zip(&points) {
        s.points = *p;
    }
    // the most points; a tie goes to the higher silhouette, then to fewer clusters
    let mut chosen = 0;
    for j in 1..scores.len() {
        let (a, b) = (&scores[j], &scores[chosen]);
        if a.points > b.points || (a.points == b.points && a.silhouette > b.silhouette) {
            chosen = j;
        }
    }
    let k = scores[chosen].k;
    let named = [
        ("the silhouette", sil_k),
        ("Calinski–Harabasz", ch_k),
        ("Davies–Bouldin", db_k),
        ("the inertia knee", knee_k),
    ];
    let agree: Vec<&str> = named.iter().filter(|n| n.1 == k).map(|n| n.0).collect();
    let differ: Vec<String> = named
        .iter()
        .filter(|n| n.1 != k)
        .map(|n| format!("{} prefers k = {}", n.0, n.1))
        .collect();
    let why = format!(
        "k = {k} has the most points ({:.1} of {}) when the silhouette, Calinski–Harabasz, Davies–Bouldin and the inertia knee each rank the k tried from {} to {}{}{}",
        scores[chosen].points,
        4 * (scores.len() - 1),
        ks[0],
        ks[ks.len() - 1],
        if agree.is_empty() {
            String::new()
        } else {
            format!("; {} put{} it first", agree.join(", "), if agree.len() == 1 { "s" } else { "" })
        },
        if differ.is_empty() {
            String::new()
        } else {
            format!("; {}", differ.join(", "))
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
