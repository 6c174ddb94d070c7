//! K-means: greedy k-means++ seeding and Lloyd iterations, as scikit-learn's `KMeans`
//! (`n_init` seeded restarts, best inertia wins; `tol` relative to the mean feature variance;
//! converged when the squared center shift is at most that, or when no label changes).
//!
//! Determinism: all random draws come from one xoshiro256++ stream per restart, seeded from
//! `seed` and the restart number; sums over points are formed per fixed block of 4,096 points and
//! the blocks added in order, so labels and inertia are identical for any number of threads.
//! Lloyd's iterations are exact; with few clusters and features (the usual customer case, k <= 10,
//! d <= 10) an accelerated variant (Hamerly, Elkan) saves little, and is not implemented yet.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Matrix;
use crate::error::{Error, Result};

const BLOCK: usize = 4096;

/// Parameters of k-means (scikit-learn names and defaults, seed 42).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KMeansParams {
    pub n_clusters: usize,
    /// Seeded restarts; the one with the lowest inertia wins.
    pub n_init: usize,
    pub max_iter: usize,
    /// Relative tolerance: converged when the squared center shift <= tol x mean feature
    /// variance.
    pub tol: f64,
    pub seed: u64,
}

impl Default for KMeansParams {
    fn default() -> Self {
        KMeansParams {
            n_clusters: 8,
            n_init: 10,
            max_iter: 300,
            tol: 1e-4,
            seed: 42,
        }
    }
}

/// A fitted k-means model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KMeans {
    pub params: KMeansParams,
    /// Centers, row-major (`n_clusters` x features).
    pub centers: Vec<Vec<f64>>,
    /// Cluster of every training point.
    #[serde(skip)]
    pub labels: Vec<u32>,
    /// Sum of squared distances of the points to their centers.
    pub inertia: f64,
    /// Lloyd iterations of the winning restart.
    pub n_iter: usize,
    /// Restart that won.
    pub best_init: usize,
    /// Lloyd iterations and inertia of every restart.
    pub restarts: Vec<(usize, f64)>,
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Nearest center and its squared distance.
fn nearest(x: &[f64], centers: &[Vec<f64>]) -> (u32, f64) {
    let mut best = (0u32, f64::INFINITY);
    for (c, ctr) in centers.iter().enumerate() {
        let d = dist2(x, ctr);
        if d < best.1 {
            best = (c as u32, d);
        }
    }
    best
}

/// Greedy k-means++ (scikit-learn's `_kmeans_plusplus`: 2 + ln k candidates per step, the one
/// that lowers the potential most is kept).
fn kmeans_pp(x: &Matrix, k: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<Vec<f64>> {
    let n = x.rows;
    let trials = 2 + (k as f64).ln() as usize;
    let mut centers = vec![x.row(rng.random_range(0..n)).to_vec()];
    let mut closest: Vec<f64> = x
        .data
        .par_chunks_exact(x.cols)
        .map(|row| dist2(row, &centers[0]))
        .collect();
    let block_sum = |v: &[f64]| -> f64 {
        v.par_chunks(BLOCK)
            .map(|c| c.iter().sum::<f64>())
            .collect::<Vec<f64>>()
            .iter()
            .sum()
    };
    let mut pot = block_sum(&closest);
    while centers.len() < k {
        // cumulative sums for sampling proportional to the squared distance
        let mut cum = Vec::with_capacity(n);
        let mut acc = 0.0;
        for &d in &closest {
            acc += d;
            cum.push(acc);
        }
        let cands: Vec<usize> = (0..trials)
            .map(|_| {
                let r = rng.random::<f64>() * pot;
                cum.partition_point(|&c| c <= r).min(n - 1)
            })
            .collect();
        let d = x.cols;
        let cand_rows: Vec<&[f64]> = cands.iter().map(|&c| x.row(c)).collect();
        // the potential of every candidate in one pass (fixed blocks, added in order)
        let parts: Vec<Vec<f64>> = x
            .data
            .par_chunks(BLOCK * d)
            .zip(closest.par_chunks(BLOCK))
            .map(|(rows, cl)| {
                let mut p = vec![0.0; cand_rows.len()];
                for (row, &c) in rows.chunks_exact(d).zip(cl) {
                    for (pt, cx) in p.iter_mut().zip(&cand_rows) {
                        *pt += c.min(dist2(row, cx));
                    }
                }
                p
            })
            .collect();
        let pots: Vec<f64> = (0..cands.len())
            .map(|t| parts.iter().map(|p| p[t]).sum())
            .collect();
        let best = (0..cands.len())
            .min_by(|&a, &b| pots[a].total_cmp(&pots[b]))
            .expect("at least one trial");
        let cx = cand_rows[best];
        closest
            .par_chunks_mut(BLOCK)
            .zip(x.data.par_chunks(BLOCK * d))
            .for_each(|(cl, rows)| {
                for (c, row) in cl.iter_mut().zip(rows.chunks_exact(d)) {
                    *c = c.min(dist2(row, cx));
                }
            });
        centers.push(cx.to_vec());
        pot = pots[best];
    }
    centers
}

/// Labels, inertia, per-cluster sums and counts of a set of points.
type Assignment<S> = (Vec<u32>, f64, S, Vec<usize>);

/// Labels, inertia, and per-cluster sums and counts for the given centers (fixed-block sums).
fn assign(x: &Matrix, centers: &[Vec<f64>]) -> Assignment<Vec<Vec<f64>>> {
    // Few features (3 for log-RFM) are the common case: a fixed width lets the compiler unroll
    // the distance loop (3x faster than the general loop at d = 3).
    match x.cols {
        1 => assign_fixed::<1>(x, centers),
        2 => assign_fixed::<2>(x, centers),
        3 => assign_fixed::<3>(x, centers),
        4 => assign_fixed::<4>(x, centers),
        5 => assign_fixed::<5>(x, centers),
        6 => assign_fixed::<6>(x, centers),
        7 => assign_fixed::<7>(x, centers),
        8 => assign_fixed::<8>(x, centers),
        _ => assign_any(x, centers),
    }
}

/// Adds the per-block parts in block order (the same sums for any number of threads).
fn combine(
    parts: Vec<Assignment<Vec<f64>>>,
    n: usize,
    k: usize,
    d: usize,
) -> Assignment<Vec<Vec<f64>>> {
    let mut labels = Vec::with_capacity(n);
    let mut inertia = 0.0;
    let mut sums = vec![vec![0.0; d]; k];
    let mut counts = vec![0usize; k];
    for (l, i, s, c) in parts {
        labels.extend(l);
        inertia += i;
        for cl in 0..k {
            counts[cl] += c[cl];
            for j in 0..d {
                sums[cl][j] += s[cl * d + j];
            }
        }
    }
    (labels, inertia, sums, counts)
}

fn assign_fixed<const D: usize>(x: &Matrix, centers: &[Vec<f64>]) -> Assignment<Vec<Vec<f64>>> {
    let k = centers.len();
    let ctrs: Vec<[f64; D]> = centers
        .iter()
        .map(|c| std::array::from_fn(|j| c[j]))
        .collect();
    let parts: Vec<Assignment<Vec<f64>>> = x
        .data
        .par_chunks(BLOCK * D)
        .map(|block| {
            let mut labels = Vec::with_capacity(block.len() / D);
            let mut inertia = 0.0;
            let mut sums = vec![[0.0f64; D]; k];
            let mut counts = vec![0usize; k];
            for row in block.chunks_exact(D) {
                let row: &[f64; D] = row.try_into().expect("exact chunk");
                let mut best = (0usize, f64::INFINITY);
                for (c, ctr) in ctrs.iter().enumerate() {
                    let mut s = 0.0;
                    for j in 0..D {
                        let t = row[j] - ctr[j];
                        s += t * t;
                    }
                    if s < best.1 {
                        best = (c, s);
                    }
                }
                let c = best.0;
                labels.push(c as u32);
                inertia += best.1;
                counts[c] += 1;
                for j in 0..D {
                    sums[c][j] += row[j];
                }
            }
            (labels, inertia, sums.concat(), counts)
        })
        .collect();
    combine(parts, x.rows, k, D)
}

fn assign_any(x: &Matrix, centers: &[Vec<f64>]) -> Assignment<Vec<Vec<f64>>> {
    let k = centers.len();
    let d = x.cols;
    let flat: Vec<f64> = centers.iter().flatten().copied().collect();
    let parts: Vec<Assignment<Vec<f64>>> = x
        .data
        .par_chunks(BLOCK * d)
        .map(|block| {
            let mut labels = Vec::with_capacity(block.len() / d);
            let mut inertia = 0.0;
            let mut sums = vec![0.0; k * d];
            let mut counts = vec![0usize; k];
            for row in block.chunks_exact(d) {
                let mut best = (0usize, f64::INFINITY);
                for (c, ctr) in flat.chunks_exact(d).enumerate() {
                    let s = dist2(row, ctr);
                    if s < best.1 {
                        best = (c, s);
                    }
                }
                let c = best.0;
                labels.push(c as u32);
                inertia += best.1;
                counts[c] += 1;
                for (acc, v) in sums[c * d..(c + 1) * d].iter_mut().zip(row) {
                    *acc += v;
                }
            }
            (labels, inertia, sums, counts)
        })
        .collect();
    combine(parts, x.rows, k, d)
}

impl KMeansParams {
    fn check(&self, x: &Matrix) -> Result<()> {
        if self.n_clusters < 1 {
            return Err(Error::Config("n_clusters must be at least 1".into()));
        }
        if x.rows < self.n_clusters {
            return Err(Error::Data(format!(
                "k-means with {} clusters needs at least as many customers; there are {}",
                self.n_clusters, x.rows
            )));
        }
        if self.n_init < 1 || self.max_iter < 1 || self.tol.is_nan() || self.tol < 0.0 {
            return Err(Error::Config(format!(
                "n_init and max_iter must be >= 1 and tol >= 0 (got {}, {}, {})",
                self.n_init, self.max_iter, self.tol
            )));
        }
        if x.data.iter().any(|v| !v.is_finite()) {
            return Err(Error::Data(
                "k-means features contain NaN or infinite values".into(),
            ));
        }
        Ok(())
    }

    /// Fits k-means to the rows of `x`.
    pub fn fit(&self, x: &Matrix) -> Result<KMeans> {
        self.check(x)?;
        let n = x.rows as f64;
        // tolerance relative to the mean variance of the features (scikit-learn's _tolerance)
        let mut mean_var = 0.0;
        for j in 0..x.cols {
            let m = (0..x.rows).map(|i| x.row(i)[j]).sum::<f64>() / n;
            mean_var += (0..x.rows).map(|i| (x.row(i)[j] - m).powi(2)).sum::<f64>() / n;
        }
        let tol = self.tol * mean_var / x.cols as f64;
        let mut best: Option<KMeans> = None;
        let mut restarts = Vec::with_capacity(self.n_init);
        for init in 0..self.n_init {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                self.seed ^ (init as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            let mut centers = kmeans_pp(x, self.n_clusters, &mut rng);
            let mut labels: Vec<u32> = Vec::new();
            let mut iters = 0;
            for it in 0..self.max_iter {
                iters = it + 1;
                let (new_labels, _, sums, counts) = assign(x, &centers);
                let same = new_labels == labels;
                labels = new_labels;
                if same {
                    break; // strict convergence: no label changed
                }
                let mut shift = 0.0;
                for c in 0..centers.len() {
                    if counts[c] == 0 {
                        continue; // an empty cluster keeps its center
                    }
                    let new: Vec<f64> = sums[c].iter().map(|s| s / counts[c] as f64).collect();
                    shift += dist2(&new, &centers[c]);
                    centers[c] = new;
                }
                if shift <= tol {
                    break;
                }
            }
            // labels and inertia consistent with the final centers
            let (labels, inertia, _, _) = assign(x, &centers);
            restarts.push((iters, inertia));
            if best.as_ref().is_none_or(|b| inertia < b.inertia) {
                best = Some(KMeans {
                    params: self.clone(),
                    centers,
                    labels,
                    inertia,
                    n_iter: iters,
                    best_init: init,
                    restarts: Vec::new(),
                });
            }
        }
        let mut best = best.expect("n_init >= 1");
        best.restarts = restarts;
        Ok(best)
    }
}

impl KMeans {
    /// The nearest center of each row of `x` (features built the same way as for the fit).
    pub fn predict(&self, x: &Matrix) -> Vec<u32> {
        (0..x.rows)
            .into_par_iter()
            .map(|i| nearest(x.row(i), &self.centers).0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(centers: &[[f64; 2]], per: usize, seed: u64) -> Matrix {
        use rand_distr::{Distribution, Normal};
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let noise = Normal::new(0.0, 0.3).unwrap();
        let mut data = Vec::new();
        for c in centers {
            for _ in 0..per {
                data.push(c[0] + noise.sample(&mut rng));
                data.push(c[1] + noise.sample(&mut rng));
            }
        }
        Matrix {
            rows: centers.len() * per,
            cols: 2,
            data,
            names: vec!["a".into(), "b".into()],
        }
    }

    #[test]
    fn finds_well_separated_blobs() {
        let x = blobs(&[[0.0, 0.0], [5.0, 5.0], [0.0, 8.0]], 300, 1);
        let m = KMeansParams {
            n_clusters: 3,
            ..Default::default()
        }
        .fit(&x)
        .unwrap();
        // every blob is one cluster
        for b in 0..3 {
            let l = &m.labels[b * 300..(b + 1) * 300];
            assert!(l.iter().all(|&v| v == l[0]), "blob {b}");
        }
        // inertia = within-blob scatter: about n * d * 0.3^2 = 900 * 2 * 0.09 = 162
        assert!((m.inertia - 162.0).abs() < 25.0, "{}", m.inertia);
        assert_eq!(m.predict(&x), m.labels);
    }

    #[test]
    fn deterministic_for_a_seed_and_any_thread_count() {
        let x = blobs(&[[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [0.5, 3.0]], 3000, 7);
        let p = KMeansParams {
            n_clusters: 4,
            n_init: 3,
            ..Default::default()
        };
        let a = p.fit(&x).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let b = pool.install(|| p.fit(&x).unwrap());
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.inertia.to_bits(), b.inertia.to_bits());
        let c = KMeansParams { seed: 7, ..p }.fit(&x).unwrap();
        assert!(c.inertia.is_finite());
    }

    #[test]
    fn bad_parameters_are_errors() {
        let x = blobs(&[[0.0, 0.0]], 3, 1);
        let e = KMeansParams {
            n_clusters: 5,
            ..Default::default()
        }
        .fit(&x)
        .unwrap_err();
        assert!(e.to_string().contains("at least as many customers"), "{e}");
    }
}
