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
use super::Matrix;
use crate::error::{Error, Result};

/// Scores of one k.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KScore {
    pub k: usize,
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
    pub scores: Vec<KScore>,
    pub chosen_k: usize,
    /// k at the knee of the inertia curve (largest distance below the chord).
    pub knee_k: usize,
    pub why: String,
    /// Points used for the silhouette.
    pub silhouette_sample: usize,
    #[serde(skip)]
    pub model: Option<KMeans>,
}

/// Mean silhouette of `labels` on the rows `idx` of `x` (distances among the sampled rows).
pub fn silhouette(x: &Matrix, labels: &[u32], idx: &[usize], k: usize) -> f64 {
    let dist = |a: &[f64], b: &[f64]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(p, q)| (p - q) * (p - q))
            .sum::<f64>()
            .sqrt()
    };
    let m = idx.len();
    let s: Vec<f64> = idx
        .par_iter()
        .map(|&i| {
            let mut sum = vec![0.0; k];
            let mut cnt = vec![0usize; k];
            for &j in idx {
                let c = labels[j] as usize;
                sum[c] += dist(x.row(i), x.row(j));
                cnt[c] += 1;
            }
            let own = labels[i] as usize;
            if cnt[own] <= 1 {
                return 0.0; // a singleton's silhouette is 0 (scikit-learn)
            }
            let a = sum[own] / (cnt[own] - 1) as f64;
            let b = (0..k)
                .filter(|&c| c != own && cnt[c] > 0)
                .map(|c| sum[c] / cnt[c] as f64)
                .fold(f64::INFINITY, f64::min);
            if !b.is_finite() {
                return 0.0;
            }
            (b - a) / a.max(b)
        })
        .collect();
    s.iter().sum::<f64>() / m.max(1) as f64
}

/// Calinski–Harabasz and Davies–Bouldin indices of a fitted model on `x`.
pub fn ch_db(x: &Matrix, m: &KMeans) -> (f64, f64) {
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
    x: &Matrix,
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
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(base.seed ^ 0x5117_0e77);
    let mut idx = sample(&mut rng, x.rows, m).into_vec();
    idx.sort_unstable();
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

    fn blobs(n_blobs: usize, per: usize) -> Matrix {
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
        Matrix {
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
        let x = Matrix {
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
