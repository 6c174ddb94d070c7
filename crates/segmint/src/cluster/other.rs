//! Clustering methods beside k-means: mini-batch k-means for very large data, agglomerative
//! (Ward) clustering on a seeded sample, and DBSCAN (density-based, with noise) on a seeded
//! sample. The sampled methods assign every other customer afterwards (nearest Ward centroid;
//! the cluster of the nearest core point within `eps`, else noise), so they scale to millions.

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::kmeans::{dist2, nearest, KMeans, KMeansParams};
use super::Table;
use crate::error::{Error, Result};

/// Rows `idx` of `x` as a new matrix.
fn subset(x: &Table, idx: &[usize]) -> Table {
    let mut data = Vec::with_capacity(idx.len() * x.cols);
    for &i in idx {
        data.extend_from_slice(x.row(i));
    }
    Table {
        rows: idx.len(),
        cols: x.cols,
        data,
        names: x.names.clone(),
    }
}

/// A seeded sample of `m` row indices (all rows, in order, when `m >= n`), sorted.
fn sample_rows(n: usize, m: usize, seed: u64) -> Vec<usize> {
    if m >= n {
        return (0..n).collect();
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut idx = sample(&mut rng, n, m).into_vec();
    idx.sort_unstable();
    idx
}

/// Mini-batch k-means (Sculley 2010; scikit-learn's `MiniBatchKMeans`): initial centers from
/// k-means on a seeded sample of `3 * batch_size` points (`n_init` k-means++ seedings, one Lloyd
/// iteration each, the lowest inertia on that sample wins), then steps on seeded batches of `batch_size` points moving each center towards the mean of its
/// batch points with rate (batch count) / (total count so far). Stops after `max_iter` passes
/// over the data or when the smoothed batch inertia has not improved for 10 steps. Labels and
/// inertia come from a final full assignment. Faster than k-means on very large data; the inertia
/// is usually within a few per cent, not the same.
pub fn minibatch(x: &Table, p: &KMeansParams, batch_size: usize) -> Result<KMeans> {
    if batch_size < 1 {
        return Err(Error::Config("batch size must be at least 1".into()));
    }
    let k = p.n_clusters;
    if k < 1 || x.rows < k {
        return Err(Error::Data(format!(
            "k-means with {k} clusters needs at least as many customers; there are {}",
            x.rows
        )));
    }
    let n = x.rows;
    let d = x.cols;
    // seeding: best of n_init k-means++ runs on one init sample
    let init_idx = sample_rows(n, (3 * batch_size).max(3 * k), p.seed);
    let init = subset(x, &init_idx);
    let seeded = KMeansParams {
        max_iter: 1,
        ..p.clone()
    }
    .fit(&init)?;
    let mut centers: Vec<Vec<f64>> = seeded.centers;
    let mut counts = vec![0.0f64; k];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(p.seed ^ 0x6d69_6e69_6261_7463);
    let steps = (p.max_iter as u64 * n as u64 / batch_size as u64).max(1);
    let (mut ewa, mut best_ewa, mut no_improve) = (None::<f64>, f64::INFINITY, 0);
    let alpha = (2.0 * batch_size as f64 / (n as f64 + 1.0)).min(1.0);
    let mut n_steps = 0;
    for _ in 0..steps {
        n_steps += 1;
        let batch: Vec<usize> = (0..batch_size).map(|_| rng.random_range(0..n)).collect();
        let assigned: Vec<(u32, f64)> = batch
            .par_iter()
            .map(|&i| nearest(x.row(i), &centers))
            .collect();
        let mut sums = vec![vec![0.0; d]; k];
        let mut cnt = vec![0.0f64; k];
        let mut inertia = 0.0;
        for (&i, &(c, dd)) in batch.iter().zip(&assigned) {
            let c = c as usize;
            cnt[c] += 1.0;
            inertia += dd;
            for (s, v) in sums[c].iter_mut().zip(x.row(i)) {
                *s += v;
            }
        }
        for c in 0..k {
            if cnt[c] > 0.0 {
                let total = counts[c] + cnt[c];
                for j in 0..d {
                    centers[c][j] = (centers[c][j] * counts[c] + sums[c][j]) / total;
                }
                counts[c] = total;
            }
        }
        let b = inertia / batch_size as f64;
        let e = ewa.map_or(b, |e| e * (1.0 - alpha) + b * alpha);
        ewa = Some(e);
        if e < best_ewa {
            best_ewa = e;
            no_improve = 0;
        } else {
            no_improve += 1;
            if no_improve >= 10 {
                break;
            }
        }
    }
    let (labels, inertia) = assign_all(x, &centers);
    Ok(KMeans {
        params: p.clone(),
        centers,
        labels,
        inertia,
        n_iter: n_steps,
        best_init: seeded.best_init,
        restarts: Vec::new(),
    })
}

/// Nearest center of every row and the inertia (per-block sums added in order).
pub fn assign_all(x: &Table, centers: &[Vec<f64>]) -> (Vec<u32>, f64) {
    let parts: Vec<(Vec<u32>, f64)> = x
        .data
        .par_chunks(4096 * x.cols)
        .map(|rows| {
            let mut l = Vec::with_capacity(rows.len() / x.cols);
            let mut s = 0.0;
            for row in rows.chunks_exact(x.cols) {
                let (c, dd) = nearest(row, centers);
                l.push(c);
                s += dd;
            }
            (l, s)
        })
        .collect();
    let mut labels = Vec::with_capacity(x.rows);
    let mut inertia = 0.0;
    for (l, s) in parts {
        labels.extend(l);
        inertia += s;
    }
    (labels, inertia)
}

/// The result of a sampled method.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Clustering {
    /// The method (`gmm`, `dbscan`, ...).
    pub method: String,
    /// Cluster of every row; `noise` (when some) marks unclustered rows.
    #[serde(skip)]
    pub labels: Vec<u32>,
    /// Clusters found (without noise).
    pub n_clusters: usize,
    /// The label of noise points (DBSCAN), equal to `n_clusters`.
    pub noise: Option<u32>,
    /// Customers labelled noise (DBSCAN).
    pub noise_count: usize,
    /// Mean of every cluster (feature space), to assign new customers.
    pub centers: Vec<Vec<f64>>,
    /// Customers the method was fitted on (a seeded sample above its limit).
    pub sample_size: usize,
    /// DBSCAN's radius (given or chosen).
    pub eps: Option<f64>,
    /// DBSCAN's minimum neighbours of a core point.
    pub min_samples: Option<usize>,
    /// Sum of squared distances to the cluster means (clustered rows).
    pub inertia: f64,
}

fn means(x: &Table, labels: &[u32], k: usize) -> (Vec<Vec<f64>>, f64) {
    let mut sums = vec![vec![0.0; x.cols]; k];
    let mut cnt = vec![0usize; k];
    for (i, &l) in labels.iter().enumerate() {
        if (l as usize) < k {
            cnt[l as usize] += 1;
            for (s, v) in sums[l as usize].iter_mut().zip(x.row(i)) {
                *s += v;
            }
        }
    }
    let centers: Vec<Vec<f64>> = sums
        .into_iter()
        .zip(&cnt)
        .map(|(s, &c)| s.into_iter().map(|v| v / c.max(1) as f64).collect())
        .collect();
    let inertia = labels
        .iter()
        .enumerate()
        .filter(|(_, &l)| (l as usize) < k)
        .map(|(i, &l)| dist2(x.row(i), &centers[l as usize]))
        .sum();
    (centers, inertia)
}

/// Agglomerative clustering with Ward's criterion (minimum increase of within-cluster variance;
/// the `kodama` crate's implementation of the fastcluster algorithms) on a seeded sample of
/// `sample_size` rows, cut at `k` clusters; every row then goes to the nearest cluster mean.
/// Memory is sample_size^2 / 2 distances (5,000 rows: 100 MB).
pub fn ward(x: &Table, k: usize, sample_size: usize, seed: u64) -> Result<Clustering> {
    let idx = sample_rows(x.rows, sample_size, seed);
    let m = idx.len();
    if k < 1 || m < k {
        return Err(Error::Data(format!(
            "Ward clustering into {k} clusters needs at least as many sampled customers; there are {m}"
        )));
    }
    let s = subset(x, &idx);
    let mut condensed: Vec<f64> = (0..m)
        .into_par_iter()
        .flat_map_iter(|i| {
            let s = &s;
            (i + 1..m).map(move |j| dist2(s.row(i), s.row(j)).sqrt())
        })
        .collect();
    let dend = kodama::linkage(&mut condensed, m, kodama::Method::Ward);
    // union-find over the first m - k merges
    let mut parent: Vec<usize> = (0..2 * m).collect();
    fn find(p: &mut [usize], mut a: usize) -> usize {
        while p[a] != a {
            p[a] = p[p[a]];
            a = p[a];
        }
        a
    }
    for (t, step) in dend.steps().iter().take(m - k).enumerate() {
        let (a, b) = (
            find(&mut parent, step.cluster1),
            find(&mut parent, step.cluster2),
        );
        parent[a] = m + t;
        parent[b] = m + t;
    }
    // clusters numbered by their first sampled row
    let mut ids: HashMap<usize, u32> = HashMap::new();
    let sample_labels: Vec<u32> = (0..m)
        .map(|i| {
            let r = find(&mut parent, i);
            let next = ids.len() as u32;
            *ids.entry(r).or_insert(next)
        })
        .collect();
    let (centers, _) = means(&s, &sample_labels, k);
    let (labels, inertia) = assign_all(x, &centers);
    Ok(Clustering {
        method: "ward".into(),
        labels,
        n_clusters: k,
        noise: None,
        noise_count: 0,
        centers,
        sample_size: m,
        eps: None,
        min_samples: None,
        inertia,
    })
}

/// A uniform grid with cells of side `eps`: neighbours within `eps` are in the 3^d surrounding
/// cells (used for up to 6 features; more features fall back to a scan).
struct Grid<'a> {
    x: &'a Table,
    eps: f64,
    cells: HashMap<Vec<i64>, Vec<usize>>,
}

impl<'a> Grid<'a> {
    fn new(x: &'a Table, rows: &[usize], eps: f64) -> Self {
        let mut cells: HashMap<Vec<i64>, Vec<usize>> = HashMap::new();
        for &i in rows {
            cells.entry(Self::key(x.row(i), eps)).or_default().push(i);
        }
        Grid { x, eps, cells }
    }
    fn key(row: &[f64], eps: f64) -> Vec<i64> {
        row.iter().map(|v| (v / eps).floor() as i64).collect()
    }
    /// Rows within `eps` of `q` (any order).
    fn within(&self, q: &[f64]) -> Vec<usize> {
        let e2 = self.eps * self.eps;
        let mut out = Vec::new();
        let d = q.len();
        if d > 6 {
            for rows in self.cells.values() {
                out.extend(rows.iter().filter(|&&j| dist2(q, self.x.row(j)) <= e2));
            }
            return out;
        }
        let base = Self::key(q, self.eps);
        let mut key = base.clone();
        for code in 0..3usize.pow(d as u32) {
            let mut c = code;
            for j in 0..d {
                key[j] = base[j] + (c % 3) as i64 - 1;
                c /= 3;
            }
            if let Some(rows) = self.cells.get(&key) {
                out.extend(rows.iter().filter(|&&j| dist2(q, self.x.row(j)) <= e2));
            }
        }
        out
    }
}

/// DBSCAN (Ester et al. 1996) on a seeded sample: a sampled row with at least `min_samples`
/// sampled rows within `eps` (itself included, as scikit-learn) is a core point; clusters are
/// the core points connected through such neighbourhoods plus their border points; the rest is
/// noise. Without `eps`, it is chosen from the sample: the knee (largest distance below the chord)
/// of the sorted distances to the `min_samples`-th nearest neighbour. Every row outside the
/// sample takes the cluster of its nearest core point within `eps`, else it is noise.
pub fn dbscan(
    x: &Table,
    eps: Option<f64>,
    min_samples: usize,
    sample_size: usize,
    seed: u64,
) -> Result<Clustering> {
    if min_samples < 1 {
        return Err(Error::Config("min_samples must be at least 1".into()));
    }
    let idx = sample_rows(x.rows, sample_size, seed);
    let m = idx.len();
    if m == 0 {
        return Err(Error::Data("DBSCAN needs at least one customer".into()));
    }
    let eps = match eps {
        Some(e) if e > 0.0 && e.is_finite() => e,
        Some(e) => return Err(Error::Config(format!("eps must be > 0, got {e}"))),
        None => choose_eps(x, &idx, min_samples),
    };
    if eps.is_nan() || eps <= 0.0 {
        return Err(Error::param(
            "eps",
            "could not be chosen (all sampled customers have identical features): give it",
        ));
    }
    let grid = Grid::new(x, &idx, eps);
    let neighbours: Vec<Vec<usize>> = idx.par_iter().map(|&i| grid.within(x.row(i))).collect();
    let pos: HashMap<usize, usize> = idx.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    let core: Vec<bool> = neighbours
        .iter()
        .map(|nb| nb.len() >= min_samples)
        .collect();
    const NONE: u32 = u32::MAX;
    let mut label = vec![NONE; m];
    let mut k = 0u32;
    for start in 0..m {
        if !core[start] || label[start] != NONE {
            continue;
        }
        let mut stack = vec![start];
        label[start] = k;
        while let Some(p) = stack.pop() {
            if !core[p] {
                continue;
            }
            for &j in &neighbours[p] {
                let q = pos[&j];
                if label[q] == NONE {
                    label[q] = k;
                    stack.push(q);
                }
            }
        }
        k += 1;
    }
    let k = k as usize;
    let noise = k as u32;
    // every row: the cluster of its nearest core sampled point within eps
    let core_rows: Vec<usize> = (0..m).filter(|&p| core[p]).map(|p| idx[p]).collect();
    let core_grid = Grid::new(x, &core_rows, eps);
    let row_label: HashMap<usize, u32> = (0..m).map(|p| (idx[p], label[p])).collect();
    let labels: Vec<u32> = (0..x.rows)
        .into_par_iter()
        .map(|i| {
            if let Some(&l) = row_label.get(&i) {
                return if l == NONE { noise } else { l };
            }
            core_grid
                .within(x.row(i))
                .into_iter()
                .map(|j| (dist2(x.row(i), x.row(j)), j))
                .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
                .map_or(noise, |(_, j)| row_label[&j])
        })
        .collect();
    let noise_count = labels.iter().filter(|&&l| l == noise).count();
    let (centers, inertia) = means(x, &labels, k);
    Ok(Clustering {
        method: "dbscan".into(),
        labels,
        n_clusters: k,
        noise: Some(noise),
        noise_count,
        centers,
        sample_size: m,
        eps: Some(eps),
        min_samples: Some(min_samples),
        inertia,
    })
}

/// Knee of the ascending sorted distances to the `min_samples`-th nearest sampled row.
fn choose_eps(x: &Table, idx: &[usize], min_samples: usize) -> f64 {
    let kth = min_samples
        .saturating_sub(1)
        .min(idx.len().saturating_sub(1));
    let mut kd: Vec<f64> = idx
        .par_iter()
        .map(|&i| {
            let mut d: Vec<f64> = idx.iter().map(|&j| dist2(x.row(i), x.row(j))).collect();
            // itself (0) is the first; the min_samples-th point including itself
            d.select_nth_unstable_by(kth, f64::total_cmp);
            d[kth].sqrt()
        })
        .collect();
    kd.sort_by(f64::total_cmp);
    let n = kd.len();
    if n < 3 {
        return kd.last().copied().unwrap_or(0.0);
    }
    let (x0, y0, x1, y1) = (0.0, kd[0], (n - 1) as f64, kd[n - 1]);
    // farthest below the chord of an increasing convex curve
    let best = (0..n)
        .max_by(|&a, &b| {
            let da = (y1 - y0) * a as f64 - (x1 - x0) * kd[a];
            let db = (y1 - y0) * b as f64 - (x1 - x0) * kd[b];
            da.total_cmp(&db)
        })
        .unwrap_or(n - 1);
    kd[best]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::adjusted_rand_index;

    fn blobs(centers: &[[f64; 2]], per: usize, sd: f64, seed: u64) -> (Table, Vec<u32>) {
        use rand_distr::{Distribution, Normal};
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let noise = Normal::new(0.0, sd).unwrap();
        let mut data = Vec::new();
        let mut truth = Vec::new();
        for (b, c) in centers.iter().enumerate() {
            for _ in 0..per {
                data.push(c[0] + noise.sample(&mut rng));
                data.push(c[1] + noise.sample(&mut rng));
                truth.push(b as u32);
            }
        }
        let x = Table {
            rows: truth.len(),
            cols: 2,
            data,
            names: vec!["a".into(), "b".into()],
        };
        (x, truth)
    }

    const THREE: [[f64; 2]; 3] = [[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]];

    #[test]
    fn ward_on_a_sample_finds_the_blobs() {
        let (x, truth) = blobs(&THREE, 2000, 0.5, 1);
        let w = ward(&x, 3, 600, 42).unwrap();
        assert_eq!(w.sample_size, 600);
        assert_eq!(adjusted_rand_index(&w.labels, &truth), 1.0);
        assert_eq!(w.labels, ward(&x, 3, 600, 42).unwrap().labels, "seeded");
    }

    #[test]
    fn dbscan_finds_blobs_and_reports_noise() {
        let (mut x, mut truth) = blobs(&THREE, 1000, 0.3, 2);
        // two far outliers
        x.data.extend_from_slice(&[30.0, 30.0, -30.0, 30.0]);
        x.rows += 2;
        truth.extend([9, 9]);
        let r = dbscan(&x, Some(0.5), 5, 1500, 42).unwrap();
        assert_eq!(r.n_clusters, 3);
        let noise = r.noise.unwrap();
        assert_eq!(r.labels[3000], noise);
        assert_eq!(r.labels[3001], noise);
        // the blob points: same partition apart from a few points at the edges
        let clustered: Vec<usize> = (0..3000).filter(|&i| r.labels[i] != noise).collect();
        assert!(clustered.len() > 2950, "{}", clustered.len());
        let a: Vec<u32> = clustered.iter().map(|&i| r.labels[i]).collect();
        let b: Vec<u32> = clustered.iter().map(|&i| truth[i]).collect();
        assert_eq!(adjusted_rand_index(&a, &b), 1.0);
        // eps chosen from the data separates the blobs too
        let auto = dbscan(&x, None, 5, 1500, 42).unwrap();
        assert_eq!(auto.n_clusters, 3, "eps {:?}", auto.eps);
    }

    #[test]
    fn minibatch_is_close_to_kmeans() {
        let (x, truth) = blobs(&THREE, 5000, 0.8, 3);
        let p = KMeansParams {
            n_clusters: 3,
            n_init: 3,
            ..Default::default()
        };
        let full = p.fit(&x).unwrap();
        let mb = minibatch(&x, &p, 256).unwrap();
        assert!(
            mb.inertia < full.inertia * 1.02,
            "{} vs {}",
            mb.inertia,
            full.inertia
        );
        assert!(adjusted_rand_index(&mb.labels, &truth) > 0.95);
        assert_eq!(mb.labels, minibatch(&x, &p, 256).unwrap().labels, "seeded");
    }
}
