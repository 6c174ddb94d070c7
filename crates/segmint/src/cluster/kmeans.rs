//! K-means: greedy k-means++ seeding and Lloyd iterations, as scikit-learn's `KMeans`
//! (`n_init` seeded restarts, best inertia wins; `tol` relative to the mean feature variance;
//! converged when the squared center shift is at most that, or when no label changes).
//!
//! Determinism: all random draws come from one xoshiro256++ stream per restart, seeded from
//! `seed` and the restart number; sums over points are formed per fixed block of 4,096 points and
//! the blocks added in order, so labels and inertia are identical for any number of threads.
//! The iterations are Lloyd's, accelerated with Hamerly's bounds (exact: the same labels and
//! centers as plain Lloyd iterations; most points skip all distance computations after the first
//! few iterations).

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Table;
use crate::error::{Error, Result};

const BLOCK: usize = 4096;

/// Parameters of k-means (scikit-learn names and defaults, seed 42).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KMeansParams {
    /// Clusters.
    pub n_clusters: usize,
    /// Seeded restarts; the one with the lowest inertia wins.
    pub n_init: usize,
    /// Iterations of Lloyd's algorithm per initialisation at most.
    pub max_iter: usize,
    /// Relative tolerance: converged when the squared center shift <= tol x mean feature
    /// variance.
    pub tol: f64,
    /// Seed of the k-means++ initialisations.
    pub seed: u64,
    /// How each Lloyd iteration is computed; every choice gives the same labels.
    #[serde(default)]
    pub algorithm: Algorithm,
}

impl Default for KMeansParams {
    fn default() -> Self {
        KMeansParams {
            n_clusters: 8,
            n_init: 10,
            max_iter: 300,
            tol: 1e-4,
            seed: 42,
            algorithm: Algorithm::Auto,
        }
    }
}

/// How the Lloyd iterations are computed. Both are exact (the labels of plain Lloyd
/// iterations); they differ in speed only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// `lloyd` for up to 8 features and 16 clusters, else `hamerly`.
    #[default]
    Auto,
    /// Every distance in every iteration, branch-free over 8 points at a time on a column-major
    /// copy of the features (vectorised): fastest when k and d are small.
    Lloyd,
    /// Hamerly's bounds skip the distances of points that cannot change cluster: fastest for
    /// larger k.
    Hamerly,
}

impl Algorithm {
    fn resolve(self, k: usize, d: usize) -> Algorithm {
        // the vectorised pass is written for up to 8 features
        match self {
            Algorithm::Lloyd if d <= 8 => Algorithm::Lloyd,
            Algorithm::Auto if d <= 8 && k <= 16 => Algorithm::Lloyd,
            _ => Algorithm::Hamerly,
        }
    }
}

/// A fitted k-means model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KMeans {
    /// The parameters it was fitted with.
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

pub(crate) fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Nearest center and its squared distance.
pub(crate) fn nearest(x: &[f64], centers: &[Vec<f64>]) -> (u32, f64) {
    let mut best = (0u32, f64::INFINITY);
    for (c, ctr) in centers.iter().enumerate() {
        let d = dist2(x, ctr);
        if d < best.1 {
            best = (c as u32, d);
        }
    }
    best
}

/// Greedy k-means++ (scikit-learn's `_kmeans_plusplus`: 2 + ln k candidates per step, drawn with
/// probability proportional to the squared distance to the nearest chosen center; the one that
/// lowers the potential most is kept).
fn kmeans_pp(x: &Table, k: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<Vec<f64>> {
    match x.cols {
        1 => kmeans_pp_d::<1>(x, k, rng),
        2 => kmeans_pp_d::<2>(x, k, rng),
        3 => kmeans_pp_d::<3>(x, k, rng),
        4 => kmeans_pp_d::<4>(x, k, rng),
        5 => kmeans_pp_d::<5>(x, k, rng),
        6 => kmeans_pp_d::<6>(x, k, rng),
        7 => kmeans_pp_d::<7>(x, k, rng),
        8 => kmeans_pp_d::<8>(x, k, rng),
        _ => kmeans_pp_d::<0>(x, k, rng),
    }
}

/// Index drawn with probability proportional to `w` (non-negative), for `r` uniform in
/// [0, total): the block is found from the block sums, then the point inside it.
fn draw(w: &[f64], block_sums: &[f64], r: f64) -> usize {
    let mut acc = 0.0;
    for (b, &bs) in block_sums.iter().enumerate() {
        if acc + bs > r {
            for (i, &v) in w[b * BLOCK..].iter().take(BLOCK).enumerate() {
                acc += v;
                if acc > r {
                    return b * BLOCK + i;
                }
            }
            return (b * BLOCK + BLOCK - 1).min(w.len() - 1); // rounding: the block's last point
        }
        acc += bs;
    }
    // rounding at the very end: the last point with a positive weight
    w.iter().rposition(|&v| v > 0.0).unwrap_or(w.len() - 1)
}

fn kmeans_pp_d<const D: usize>(x: &Table, k: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<Vec<f64>> {
    let n = x.rows;
    let d = x.cols;
    let trials = 2 + (k as f64).ln() as usize;
    let first = x.row(rng.random_range(0..n)).to_vec();
    let mut closest: Vec<f64> = vec![0.0; n];
    // squared distance to the nearest chosen center, and the block sums of it
    let mut block_sums: Vec<f64> = closest
        .par_chunks_mut(BLOCK)
        .zip(x.data.par_chunks(BLOCK * d))
        .map(|(cl, rows)| {
            let mut s = 0.0;
            for (c, row) in cl.iter_mut().zip(rows.chunks_exact(d)) {
                *c = dist2_fixed::<D>(row, &first);
                s += *c;
            }
            s
        })
        .collect();
    let mut centers = vec![first];
    while centers.len() < k {
        let pot: f64 = block_sums.iter().sum();
        let cands: Vec<usize> = (0..trials)
            .map(|_| draw(&closest, &block_sums, rng.random::<f64>() * pot))
            .collect();
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
                        *pt += c.min(dist2_fixed::<D>(row, cx));
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
        block_sums = closest
            .par_chunks_mut(BLOCK)
            .zip(x.data.par_chunks(BLOCK * d))
            .map(|(cl, rows)| {
                let mut s = 0.0;
                for (c, row) in cl.iter_mut().zip(rows.chunks_exact(d)) {
                    *c = c.min(dist2_fixed::<D>(row, cx));
                    s += *c;
                }
                s
            })
            .collect();
        centers.push(cx.to_vec());
    }
    centers
}

/// Per-point state of Hamerly's algorithm: label, an upper bound on the distance to its center
/// and a lower bound on the distance to every other center.
struct Bounds {
    labels: Vec<u32>,
    upper: Vec<f64>,
    lower: Vec<f64>,
}

/// What one pass over the points returns (summed per block, blocks added in order).
struct Pass {
    sums: Vec<f64>,
    counts: Vec<usize>,
    changed: usize,
    inertia: f64,
}

/// The centers as one pass needs them.
struct Centers<'a> {
    flat: &'a [f64],
    /// Half the distance from each center to its nearest other center (Hamerly's s).
    half_gap: Vec<f64>,
    /// How far each center moved in the last update, and the largest and second largest move
    /// with the index of the largest.
    moved: Vec<f64>,
    max_moved: (usize, f64, f64),
}

/// Bounds are compared with this relative slack, so that rounding in the bounds can never skip
/// a point whose nearest center changed: when in doubt, the distances are computed, and the
/// labels are exactly those of Lloyd's algorithm.
const SLACK: f64 = 1e-9;

impl<'a> Centers<'a> {
    fn new(flat: &'a [f64], d: usize, moved: Vec<f64>) -> Self {
        let k = flat.len() / d;
        let half_gap = (0..k)
            .map(|a| {
                (0..k)
                    .filter(|&b| b != a)
                    .map(|b| dist2(&flat[a * d..(a + 1) * d], &flat[b * d..(b + 1) * d]))
                    .fold(f64::INFINITY, f64::min)
                    .sqrt()
                    / 2.0
            })
            .collect();
        let mut max_moved = (0usize, 0.0f64, 0.0f64);
        for (c, &m) in moved.iter().enumerate() {
            if m > max_moved.1 {
                max_moved = (c, m, max_moved.1);
            } else if m > max_moved.2 {
                max_moved.2 = m;
            }
        }
        Centers {
            flat,
            half_gap,
            moved,
            max_moved,
        }
    }
}

/// One pass of Hamerly's exact k-means acceleration (Hamerly 2010, "Making k-means even
/// faster"): a point whose upper bound is below both half the gap to the nearest other center and
/// its lower bound keeps its label without computing any distance. `first` computes every
/// distance (initialises the bounds); `exact_inertia` computes the distance to the assigned
/// center of every point. `D` is the number of features when it is small (the distance loop is
/// unrolled), 0 for any other number.
fn pass<const D: usize>(
    x: &Table,
    c: &Centers,
    b: &mut Bounds,
    first: bool,
    exact_inertia: bool,
) -> Pass {
    let d = if D == 0 { x.cols } else { D };
    let k = c.flat.len() / d;
    let parts: Vec<Pass> = x
        .data
        .par_chunks(BLOCK * d)
        .zip(b.labels.par_chunks_mut(BLOCK))
        .zip(b.upper.par_chunks_mut(BLOCK))
        .zip(b.lower.par_chunks_mut(BLOCK))
        .map(|(((rows, labels), upper), lower)| {
            let mut out = Pass {
                sums: vec![0.0; k * d],
                counts: vec![0; k],
                changed: 0,
                inertia: 0.0,
            };
            let flat = c.flat;
            let d2 = |row: &[f64], cl: usize| -> f64 { dist2_fixed::<D>(row, &flat[cl * d..]) };
            for (i, row) in rows.chunks_exact(d).enumerate() {
                let a = labels[i] as usize;
                let mut done = false;
                if !first {
                    upper[i] += c.moved[a];
                    lower[i] -= if a == c.max_moved.0 {
                        c.max_moved.2
                    } else {
                        c.max_moved.1
                    };
                    let m = c.half_gap[a].max(lower[i]) * (1.0 - SLACK);
                    if upper[i] < m && !exact_inertia {
                        done = true;
                    } else {
                        let s = d2(row, a);
                        upper[i] = s.sqrt();
                        if upper[i] < m {
                            out.inertia += s;
                            done = true;
                        }
                    }
                }
                if !done {
                    // all distances: the nearest (smallest index on a tie, as Lloyd) and the
                    // second nearest
                    let (mut best, mut b1, mut b2) = (0usize, f64::INFINITY, f64::INFINITY);
                    for cl in 0..k {
                        let s = d2(row, cl);
                        if s < b1 {
                            b2 = b1;
                            b1 = s;
                            best = cl;
                        } else if s < b2 {
                            b2 = s;
                        }
                    }
                    if first || best != a {
                        out.changed += 1;
                    }
                    labels[i] = best as u32;
                    upper[i] = b1.sqrt();
                    lower[i] = b2.sqrt();
                    out.inertia += b1;
                }
                let l = labels[i] as usize;
                out.counts[l] += 1;
                add_fixed::<D>(&mut out.sums[l * d..], row);
            }
            out
        })
        .collect();
    add_passes(parts, k * d, k)
}

/// Points handled together by the branch-free pass.
const LANES: usize = 8;

/// Column-major copy of the features (`data[j * n + i]`).
struct Columns {
    n: usize,
    data: Vec<f64>,
}

impl Columns {
    fn new(x: &Table) -> Self {
        let n = x.rows;
        let mut data = vec![0.0; n * x.cols];
        for (i, row) in x.data.chunks_exact(x.cols).enumerate() {
            for (j, v) in row.iter().enumerate() {
                data[j * n + i] = *v;
            }
        }
        Columns { n, data }
    }
}

/// One Lloyd pass computing every distance, branch-free over [`LANES`] points at a time (the
/// compiler vectorises the lane loops; AVX2 when the processor has it, with the same results as
/// without, as no operation is fused): labels (the nearest center, smallest index on a tie), the
/// number of changed labels, exact inertia, and the per-cluster sums and counts.
fn lloyd_pass<const D: usize>(cols: &Columns, flat: &[f64], labels: &mut [u32]) -> Pass {
    let k = flat.len() / D;
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::arch::is_x86_feature_detected!("avx2");
    let parts: Vec<Pass> = labels
        .par_chunks_mut(BLOCK)
        .enumerate()
        .map(|(b, labels)| {
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: the processor has AVX2 (checked above)
                return unsafe { lloyd_block_avx2::<D>(cols, flat, b * BLOCK, labels) };
            }
            lloyd_block::<D>(cols, flat, b * BLOCK, labels)
        })
        .collect();
    add_passes(parts, k * D, k)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn lloyd_block_avx2<const D: usize>(
    cols: &Columns,
    flat: &[f64],
    i0: usize,
    labels: &mut [u32],
) -> Pass {
    lloyd_block::<D>(cols, flat, i0, labels)
}

/// [`lloyd_pass`] on the points `i0..i0 + labels.len()`.
#[inline(always)]
fn lloyd_block<const D: usize>(
    cols: &Columns,
    flat: &[f64],
    i0: usize,
    labels: &mut [u32],
) -> Pass {
    let k = flat.len() / D;
    let n = cols.n;
    // per cluster (and feature) and lane; the lanes are added in order at the end. Labels and
    // counts are kept as floats in the lanes (exact below 2^53) so that every select is one
    // vector blend.
    let mut acc = vec![[0.0f64; LANES]; k * D];
    let mut cnt = vec![[0.0f64; LANES]; k];
    let mut inertia = [0.0f64; LANES];
    let mut changed = 0;
    for (s, lab_out) in labels.chunks_mut(LANES).enumerate() {
        let start = i0 + s * LANES;
        let m = lab_out.len();
        let mut xs = [[0.0f64; LANES]; D];
        for (j, x) in xs.iter_mut().enumerate() {
            x[..m].copy_from_slice(&cols.data[j * n + start..j * n + start + m]);
        }
        let mut best = [f64::INFINITY; LANES];
        let mut lab = [0.0f64; LANES];
        for c in 0..k {
            let ctr: &[f64; D] = flat[c * D..(c + 1) * D].try_into().expect("D");
            let mut d2 = [0.0f64; LANES];
            for j in 0..D {
                for l in 0..LANES {
                    let t = xs[j][l] - ctr[j];
                    d2[l] += t * t;
                }
            }
            let cf = c as f64;
            for l in 0..LANES {
                let lt = d2[l] < best[l];
                best[l] = if lt { d2[l] } else { best[l] };
                lab[l] = if lt { cf } else { lab[l] };
            }
        }
        for l in m..LANES {
            lab[l] = -1.0; // padding lanes of the last chunk count nowhere
            best[l] = 0.0;
        }
        for l in 0..m {
            let c = lab[l] as u32;
            changed += (lab_out[l] != c) as usize;
            lab_out[l] = c;
        }
        for l in 0..LANES {
            inertia[l] += best[l];
        }
        for c in 0..k {
            let cf = c as f64;
            for l in 0..LANES {
                cnt[c][l] += if lab[l] == cf { 1.0 } else { 0.0 };
            }
            for j in 0..D {
                let a = &mut acc[c * D + j];
                for l in 0..LANES {
                    a[l] += if lab[l] == cf { xs[j][l] } else { 0.0 };
                }
            }
        }
    }
    Pass {
        sums: acc.iter().map(|a| a.iter().sum()).collect(),
        counts: cnt.iter().map(|c| c.iter().sum::<f64>() as usize).collect(),
        changed,
        inertia: inertia.iter().sum(),
    }
}

fn run_lloyd(cols: &Columns, d: usize, flat: &[f64], labels: &mut [u32]) -> Pass {
    match d {
        1 => lloyd_pass::<1>(cols, flat, labels),
        2 => lloyd_pass::<2>(cols, flat, labels),
        3 => lloyd_pass::<3>(cols, flat, labels),
        4 => lloyd_pass::<4>(cols, flat, labels),
        5 => lloyd_pass::<5>(cols, flat, labels),
        6 => lloyd_pass::<6>(cols, flat, labels),
        7 => lloyd_pass::<7>(cols, flat, labels),
        8 => lloyd_pass::<8>(cols, flat, labels),
        _ => unreachable!("the Lloyd pass is chosen for up to 8 features"),
    }
}

/// Adds per-block results in block order (the same sums for any number of threads).
fn add_passes(parts: Vec<Pass>, kd: usize, k: usize) -> Pass {
    let mut total = Pass {
        sums: vec![0.0; kd],
        counts: vec![0; k],
        changed: 0,
        inertia: 0.0,
    };
    for p in parts {
        for (t, s) in total.sums.iter_mut().zip(&p.sums) {
            *t += s;
        }
        for (t, s) in total.counts.iter_mut().zip(&p.counts) {
            *t += s;
        }
        total.changed += p.changed;
        total.inertia += p.inertia;
    }
    total
}

/// Squared distance of `row` to the first `row.len()` values of `ctr`, unrolled when `D` > 0.
#[inline(always)]
fn dist2_fixed<const D: usize>(row: &[f64], ctr: &[f64]) -> f64 {
    if D > 0 {
        let r: &[f64; D] = row[..D].try_into().expect("D features");
        let c: &[f64; D] = ctr[..D].try_into().expect("D features");
        let mut s = 0.0;
        for j in 0..D {
            let t = r[j] - c[j];
            s += t * t;
        }
        s
    } else {
        dist2(row, &ctr[..row.len()])
    }
}

/// Adds `row` to the first `row.len()` values of `acc`, unrolled when `D` > 0.
#[inline(always)]
fn add_fixed<const D: usize>(acc: &mut [f64], row: &[f64]) {
    if D > 0 {
        let r: &[f64; D] = row[..D].try_into().expect("D features");
        let a: &mut [f64; D] = (&mut acc[..D]).try_into().expect("D features");
        for j in 0..D {
            a[j] += r[j];
        }
    } else {
        for (a, v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
}

/// [`pass`] with the distance loop unrolled for up to 8 features.
fn run_pass(x: &Table, c: &Centers, b: &mut Bounds, first: bool, exact_inertia: bool) -> Pass {
    match x.cols {
        1 => pass::<1>(x, c, b, first, exact_inertia),
        2 => pass::<2>(x, c, b, first, exact_inertia),
        3 => pass::<3>(x, c, b, first, exact_inertia),
        4 => pass::<4>(x, c, b, first, exact_inertia),
        5 => pass::<5>(x, c, b, first, exact_inertia),
        6 => pass::<6>(x, c, b, first, exact_inertia),
        7 => pass::<7>(x, c, b, first, exact_inertia),
        8 => pass::<8>(x, c, b, first, exact_inertia),
        _ => pass::<0>(x, c, b, first, exact_inertia),
    }
}

impl KMeansParams {
    fn check(&self, x: &Table) -> Result<()> {
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
    pub fn fit(&self, x: &Table) -> Result<KMeans> {
        self.check(x)?;
        let n = x.rows as f64;
        // tolerance relative to the mean variance of the features (scikit-learn's _tolerance)
        let mut mean_var = 0.0;
        for j in 0..x.cols {
            let m = (0..x.rows).map(|i| x.row(i)[j]).sum::<f64>() / n;
            mean_var += (0..x.rows).map(|i| (x.row(i)[j] - m).powi(2)).sum::<f64>() / n;
        }
        let tol = self.tol * mean_var / x.cols as f64;
        let (k, d) = (self.n_clusters, x.cols);
        let hamerly = self.algorithm.resolve(k, d) == Algorithm::Hamerly;
        let columns = (!hamerly).then(|| Columns::new(x));
        let mut best: Option<KMeans> = None;
        let mut restarts = Vec::with_capacity(self.n_init);
        for init in 0..self.n_init {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                self.seed ^ (init as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            let centers = kmeans_pp(x, self.n_clusters, &mut rng);
            let mut flat: Vec<f64> = centers.concat();
            // Hamerly: labels and bounds; Lloyd: labels only (u32::MAX: none yet)
            let mut bounds = Bounds {
                labels: vec![if hamerly { 0 } else { u32::MAX }; x.rows],
                upper: vec![0.0; if hamerly { x.rows } else { 0 }],
                lower: vec![0.0; if hamerly { x.rows } else { 0 }],
            };
            let mut moved = vec![0.0; k];
            let mut iters = 0;
            for it in 0..self.max_iter {
                iters = it + 1;
                let p = match &columns {
                    Some(cols) => run_lloyd(cols, d, &flat, &mut bounds.labels),
                    None => {
                        let c = Centers::new(&flat, d, std::mem::replace(&mut moved, vec![0.0; k]));
                        run_pass(x, &c, &mut bounds, it == 0, false)
                    }
                };
                if it > 0 && p.changed == 0 {
                    break; // strict convergence: no label changed
                }
                let mut shift = 0.0;
                for cl in 0..k {
                    if p.counts[cl] == 0 {
                        continue; // an empty cluster keeps its center
                    }
                    let new: Vec<f64> = p.sums[cl * d..(cl + 1) * d]
                        .iter()
                        .map(|s| s / p.counts[cl] as f64)
                        .collect();
                    let s = dist2(&new, &flat[cl * d..(cl + 1) * d]);
                    shift += s;
                    moved[cl] = s.sqrt();
                    flat[cl * d..(cl + 1) * d].copy_from_slice(&new);
                }
                if shift <= tol {
                    break;
                }
            }
            // labels and inertia consistent with the final centers
            let inertia = match &columns {
                Some(cols) => run_lloyd(cols, d, &flat, &mut bounds.labels).inertia,
                None => {
                    let c = Centers::new(&flat, d, moved);
                    run_pass(x, &c, &mut bounds, false, true).inertia
                }
            };
            let labels = bounds.labels;
            let centers: Vec<Vec<f64>> = flat.chunks_exact(d).map(|c| c.to_vec()).collect();
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
    pub fn predict(&self, x: &Table) -> Vec<u32> {
        (0..x.rows)
            .into_par_iter()
            .map(|i| nearest(x.row(i), &self.centers).0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(centers: &[[f64; 2]], per: usize, seed: u64) -> Table {
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
        Table {
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

    /// Plain Lloyd iterations (every distance, every pass) from the same seeding.
    fn lloyd(x: &Table, p: &KMeansParams, init: usize) -> (Vec<u32>, Vec<Vec<f64>>, usize) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
            p.seed ^ (init as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let mut centers = kmeans_pp(x, p.n_clusters, &mut rng);
        let mut labels: Vec<u32> = Vec::new();
        let n = x.rows as f64;
        let mut mean_var = 0.0;
        for j in 0..x.cols {
            let m = (0..x.rows).map(|i| x.row(i)[j]).sum::<f64>() / n;
            mean_var += (0..x.rows).map(|i| (x.row(i)[j] - m).powi(2)).sum::<f64>() / n;
        }
        let tol = p.tol * mean_var / x.cols as f64;
        let mut iters = 0;
        for it in 0..p.max_iter {
            iters = it + 1;
            let new: Vec<u32> = (0..x.rows).map(|i| nearest(x.row(i), &centers).0).collect();
            if new == labels {
                break;
            }
            labels = new;
            let mut shift = 0.0;
            for (c, ctr) in centers.iter_mut().enumerate() {
                let rows: Vec<usize> = (0..x.rows).filter(|&i| labels[i] == c as u32).collect();
                if rows.is_empty() {
                    continue;
                }
                let m: Vec<f64> = (0..x.cols)
                    .map(|j| rows.iter().map(|&i| x.row(i)[j]).sum::<f64>() / rows.len() as f64)
                    .collect();
                shift += dist2(&m, ctr);
                *ctr = m;
            }
            if shift <= tol {
                break;
            }
        }
        let labels = (0..x.rows).map(|i| nearest(x.row(i), &centers).0).collect();
        (labels, centers, iters)
    }

    #[test]
    fn both_passes_give_the_labels_and_centers_of_plain_lloyd() {
        // overlapping blobs: many iterations, many points near the boundaries
        let x = blobs(
            &[[0.0, 0.0], [0.6, 0.4], [1.2, 0.0], [0.3, 1.0], [1.0, 1.0]],
            2000,
            3,
        );
        let algorithms = [Algorithm::Lloyd, Algorithm::Hamerly];
        for ((k, seed), algorithm) in [(2, 0), (5, 0), (5, 1), (7, 2)]
            .into_iter()
            .flat_map(|c| algorithms.map(|a| (c, a)))
        {
            let p = KMeansParams {
                n_clusters: k,
                n_init: 1,
                tol: 0.0,
                seed: 11 + seed,
                algorithm,
                ..Default::default()
            };
            let (labels, centers, iters) = lloyd(&x, &p, 0);
            let m = p.fit(&x).unwrap();
            assert!(iters > 5, "k {k}: {iters} iterations");
            assert_eq!(m.n_iter, iters, "k {k}");
            assert_eq!(m.labels, labels, "k {k}");
            for (a, b) in m.centers.iter().flatten().zip(centers.iter().flatten()) {
                assert!((a - b).abs() < 1e-12, "k {k}: {a} vs {b}");
            }
            let inertia: f64 = (0..x.rows)
                .map(|i| dist2(x.row(i), &centers[labels[i] as usize]))
                .sum();
            assert!((m.inertia - inertia).abs() < 1e-9 * inertia, "k {k}");
        }
    }

    #[test]
    fn many_features_and_clusters_use_hamerly_with_the_same_result() {
        // 10 features: the general (not unrolled) pass; 20 clusters
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let data: Vec<f64> = (0..3000 * 10).map(|_| rng.random::<f64>()).collect();
        let x = Table {
            rows: 3000,
            cols: 10,
            data,
            names: (0..10).map(|j| format!("f{j}")).collect(),
        };
        for k in [3, 20] {
            let p = KMeansParams {
                n_clusters: k,
                n_init: 1,
                tol: 0.0,
                ..Default::default()
            };
            let (labels, _, iters) = lloyd(&x, &p, 0);
            let m = p.fit(&x).unwrap();
            assert_eq!((m.n_iter, &m.labels), (iters, &labels), "k {k}");
        }
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
