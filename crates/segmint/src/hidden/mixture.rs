//! Mixture of linear regressions fitted by EM, the number of components chosen by BIC.
//!
//! Each customer belongs to one of k latent components; in component c the target is
//! `z'b_c + e`, `e ~ N(0, s_c^2)`, with mixing weights `pi_c` that do not depend on the features
//! (the classic finite mixture of regressions: DeSarbo & Cron 1988; R's `flexmix` with
//! `FLXMRglm`). Unlike a split search, the components are found from how the target relates to
//! the features, so groups with different slopes or levels are separated even when no single
//! threshold on one feature isolates them; a shallow classification tree (the `classify`
//! module) then describes the components by the features so that new customers can be assigned
//! without their target. The components also follow the shape of the residual distribution (a
//! spike, a heavy tail), which is why `segments discover` compares them with partitioning on
//! validation rows instead of trusting either.
//!
//! EM (Dempster, Laird & Rubin 1977): the E step gives each row its posterior probabilities, the
//! M step one weighted ridge regression per component (the same penalty as the segment models,
//! on standardised features), its residual variance and its weight. Every k from 1 to
//! `max_components` is fitted from `restarts` starts (the quantiles of the global model's
//! residuals, the quantiles of the target, then seeded random partitions) and the lowest
//! BIC is kept; k minimises BIC = -2 log L + m log n with m = k (p + 1) + k - 1 free
//! parameters. As flexmix's `minprior`, a component whose weight falls below `min_share`
//! during EM is removed (it could not become a segment, and such components are mostly a few
//! odd rows fitted exactly, which make the likelihood unbounded).

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Stats;

/// Settings of the EM search.
#[derive(Debug, Clone, Copy)]
pub struct EmSettings {
    /// Largest number of components tried.
    pub max_components: usize,
    /// Starts per k.
    pub restarts: usize,
    /// Ridge penalty of the component regressions.
    pub alpha: f64,
    /// Smallest component weight of an eligible solution.
    pub min_share: f64,
    /// Seed of the random starts.
    pub seed: u64,
}

/// One fitted mixture.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mixture {
    /// Components.
    pub k: usize,
    /// Mixing weight per component.
    pub weights: Vec<f64>,
    /// Residual standard deviation per component.
    pub sigma: Vec<f64>,
    /// Regression coefficients per component (intercept first, standardised features).
    #[serde(skip)]
    pub coef: Vec<Vec<f64>>,
    /// Log-likelihood at the end of EM.
    pub log_likelihood: f64,
    /// Bayesian information criterion.
    pub bic: f64,
    /// EM iterations of the best start.
    pub iterations: usize,
}

/// The best start of each k tried.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KBic {
    /// Components EM started with.
    pub k: usize,
    /// Components left at the end (those below `min_share` are removed during EM).
    pub components: usize,
    /// BIC of the start with the lowest BIC.
    pub bic: f64,
    /// Its log-likelihood.
    pub log_likelihood: f64,
}

const MAX_ITER: usize = 300;
const TOL: f64 = 1e-7;

/// Fits k = 1..=`max_components` on the standardised rows `z` (n x p, first column 1) and
/// target `y`; returns the mixture with the lowest BIC among the eligible ones and the BIC per k.
pub fn select(z: &[f64], y: &[f64], p: usize, s: &EmSettings) -> (Mixture, Vec<KBic>) {
    let n = y.len();
    let jobs: Vec<(usize, usize)> = (1..=s.max_components.max(1))
        .flat_map(|k| (0..if k == 1 { 1 } else { s.restarts.max(1) }).map(move |r| (k, r)))
        .collect();
    let fits: Vec<(usize, Mixture)> = jobs
        .par_iter()
        .map(|&(k, r)| (k, em(z, y, p, k, &start(z, y, p, k, r, s), s)))
        .collect();
    let mut per_k = Vec::new();
    let mut best: Option<&Mixture> = None;
    for k in 1..=s.max_components.max(1) {
        // the lowest BIC among the starts of this k (ties to the earlier start)
        let mut top: Option<&Mixture> = None;
        for (_, m) in fits.iter().filter(|(kk, _)| *kk == k) {
            if m.bic.is_finite() && top.is_none_or(|t| m.bic < t.bic) {
                top = Some(m);
            }
        }
        let Some(m) = top else { continue };
        per_k.push(KBic {
            k,
            components: m.k,
            bic: m.bic,
            log_likelihood: m.log_likelihood,
        });
        if best.is_none_or(|b| m.bic < b.bic) {
            best = Some(m);
        }
    }
    let best = match best {
        Some(m) => m.clone(),
        None => em(z, y, p, 1, &vec![0; n], s),
    };
    (best, per_k)
}

/// Hard starting partition number `r` for k components.
fn start(z: &[f64], y: &[f64], p: usize, k: usize, r: usize, s: &EmSettings) -> Vec<u32> {
    let n = y.len();
    let by_quantile = |key: &[f64]| {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| key[a].total_cmp(&key[b]));
        let mut l = vec![0u32; n];
        for (rank, &i) in order.iter().enumerate() {
            l[i] = (rank * k / n.max(1)) as u32;
        }
        l
    };
    match r {
        0 => {
            let mut st = Stats::new(p);
            for (i, &v) in y.iter().enumerate() {
                st.add(&z[i * p..(i + 1) * p], v);
            }
            let b = st.coef(s.alpha).unwrap_or_else(|| vec![0.0; p]);
            let resid: Vec<f64> = (0..n)
                .map(|i| y[i] - dot(&z[i * p..(i + 1) * p], &b))
                .collect();
            by_quantile(&resid)
        }
        1 => by_quantile(y),
        _ => {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                s.seed ^ ((k as u64) << 32) ^ (r as u64).wrapping_mul(0x9e37_79b9),
            );
            (0..n).map(|_| rng.random_range(0..k as u32)).collect()
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// EM from a hard partition.
fn em(z: &[f64], y: &[f64], p: usize, k: usize, init: &[u32], s: &EmSettings) -> Mixture {
    let n = y.len();
    let mean = y.iter().sum::<f64>() / n.max(1) as f64;
    let var = y.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n.max(1) as f64;
    // a component may not shrink to a point: its variance stays above a millionth of the
    // target's (the likelihood of a mixture is unbounded otherwise)
    let floor = (var * 1e-6).max(1e-12);
    let mut resp = vec![0.0; n * k];
    for (i, &c) in init.iter().enumerate() {
        resp[i * k + c as usize] = 1.0;
    }
    let mut m = Mixture {
        k,
        weights: vec![1.0 / k as f64; k],
        sigma: vec![var.sqrt(); k],
        coef: vec![vec![0.0; p]; k],
        log_likelihood: f64::NEG_INFINITY,
        bic: f64::INFINITY,
        iterations: 0,
    };
    let mut last = f64::NEG_INFINITY;
    for it in 1..=MAX_ITER {
        m_step(z, y, p, &resp, &mut m, s.alpha, floor);
        // as flexmix's `minprior`: a component whose weight falls below the smallest segment
        // is removed and its rows shared among the others (small components are mostly a
        // few odd rows, such as customers whose purchases were all returned, fitted exactly)
        if m.k > 1 && m.weights.iter().any(|&w| w < s.min_share) {
            m.remove_small(s.min_share);
            resp = vec![0.0; n * m.k];
            last = f64::NEG_INFINITY;
        }
        let ll = e_step(z, y, p, &m, &mut resp);
        m.iterations = it;
        m.log_likelihood = ll;
        if !ll.is_finite() || (ll - last).abs() <= TOL * ll.abs().max(1.0) {
            break;
        }
        last = ll;
    }
    let params = (m.k * (p + 1) + m.k - 1) as f64;
    m.bic = -2.0 * m.log_likelihood + params * (n as f64).ln();
    m
}

/// Weighted ridge regression, variance and weight of every component.
fn m_step(z: &[f64], y: &[f64], p: usize, resp: &[f64], m: &mut Mixture, alpha: f64, floor: f64) {
    let n = y.len();
    let k = m.k;
    for c in 0..k {
        let mut st = Stats::new(p);
        let mut w = 0.0;
        for i in 0..n {
            let r = resp[i * k + c];
            if r > 1e-12 {
                st.add_weighted(&z[i * p..(i + 1) * p], y[i], r);
                w += r;
            }
        }
        m.weights[c] = w / n as f64;
        if w <= 1e-9 {
            continue;
        }
        if let Some(b) = st.coef(alpha) {
            m.coef[c] = b;
        }
        let b = &m.coef[c];
        let sse: f64 = (0..n)
            .map(|i| {
                let e = y[i] - dot(&z[i * p..(i + 1) * p], b);
                resp[i * k + c] * e * e
            })
            .sum();
        m.sigma[c] = (sse / w).max(floor).sqrt();
    }
}

/// Posterior probabilities of every row (into `resp`); returns the log-likelihood.
fn e_step(z: &[f64], y: &[f64], p: usize, m: &Mixture, resp: &mut [f64]) -> f64 {
    let k = m.k;
    let consts: Vec<f64> = (0..k)
        .map(|c| {
            if m.weights[c] > 0.0 {
                m.weights[c].ln() - m.sigma[c].ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
            } else {
                f64::NEG_INFINITY
            }
        })
        .collect();
    let mut ll = 0.0;
    for (i, r) in resp.chunks_mut(k).enumerate() {
        let zi = &z[i * p..(i + 1) * p];
        let mut top = f64::NEG_INFINITY;
        for c in 0..k {
            let e = (y[i] - dot(zi, &m.coef[c])) / m.sigma[c];
            r[c] = consts[c] - 0.5 * e * e;
            top = top.max(r[c]);
        }
        let mut sum = 0.0;
        for v in r.iter_mut() {
            *v = (*v - top).exp();
            sum += *v;
        }
        for v in r.iter_mut() {
            *v /= sum;
        }
        ll += top + sum.ln();
    }
    ll
}

impl Mixture {
    /// Drops the components below `min_share` (the largest one stays) and rescales the
    /// weights of the others to sum to one.
    fn remove_small(&mut self, min_share: f64) {
        let top = (0..self.k)
            .max_by(|&a, &b| self.weights[a].total_cmp(&self.weights[b]))
            .unwrap_or(0);
        let keep: Vec<usize> = (0..self.k)
            .filter(|&c| c == top || self.weights[c] >= min_share)
            .collect();
        let total: f64 = keep.iter().map(|&c| self.weights[c]).sum();
        self.weights = keep.iter().map(|&c| self.weights[c] / total).collect();
        self.sigma = keep.iter().map(|&c| self.sigma[c]).collect();
        self.coef = keep.iter().map(|&c| self.coef[c].clone()).collect();
        self.k = keep.len();
    }

    /// The most probable component of every row (ties to the lower component).
    pub fn classify(&self, z: &[f64], y: &[f64], p: usize) -> Vec<u32> {
        let mut resp = vec![0.0; y.len() * self.k];
        e_step(z, y, p, self, &mut resp);
        resp.chunks(self.k)
            .map(|r| {
                let mut best = 0;
                for c in 1..self.k {
                    if r[c] > r[best] {
                        best = c;
                    }
                }
                best as u32
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EmSettings {
        EmSettings {
            max_components: 4,
            restarts: 4,
            alpha: 1e-6,
            min_share: 0.05,
            seed: 42,
        }
    }

    /// Two lines y = 1 + 2x and y = 8 - x with noise sd 0.3, 60% / 40% of the rows: BIC picks
    /// k = 2 and EM recovers the planted coefficients, weights and noise.
    #[test]
    fn recovers_two_planted_regressions() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let n = 5000;
        let (mut z, mut y, mut truth) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let x: f64 = rng.random_range(0.0..4.0);
            let g = rng.random_range(0.0..1.0) < 0.4;
            // Box-Muller normal noise
            let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random_range(0.0..1.0));
            let e = 0.3 * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            y.push(if g { 8.0 - x } else { 1.0 + 2.0 * x } + e);
            z.extend_from_slice(&[1.0, x]);
            truth.push(g as u32);
        }
        let (m, per_k) = select(&z, &y, 2, &settings());
        assert_eq!(m.k, 2, "{per_k:?}");
        assert_eq!(per_k.len(), 4);
        // the component with the negative slope is the 40% one
        let neg = (m.coef[0][1] > m.coef[1][1]) as usize;
        let pos = 1 - neg;
        assert!((m.coef[neg][0] - 8.0).abs() < 0.05 && (m.coef[neg][1] + 1.0).abs() < 0.03);
        assert!((m.coef[pos][0] - 1.0).abs() < 0.05 && (m.coef[pos][1] - 2.0).abs() < 0.03);
        assert!((m.weights[neg] - 0.4).abs() < 0.02, "{:?}", m.weights);
        assert!((m.sigma[neg] - 0.3).abs() < 0.02 && (m.sigma[pos] - 0.3).abs() < 0.02);
        let labels = m.classify(&z, &y, 2);
        let wrong = labels
            .iter()
            .zip(&truth)
            .filter(|(l, t)| (**l as usize == neg) != (**t == 1))
            .count();
        // only rows near the lines' crossing (x = 7/3) can be mistaken
        assert!(wrong < n / 20, "{wrong} of {n} misassigned");
    }

    /// One line: BIC keeps one component.
    #[test]
    fn one_regression_keeps_one_component() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
        let n = 3000;
        let (mut z, mut y) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let x: f64 = rng.random_range(0.0..4.0);
            let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random_range(0.0..1.0));
            let e = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            y.push(3.0 * x + e);
            z.extend_from_slice(&[1.0, x]);
        }
        let (m, per_k) = select(&z, &y, 2, &settings());
        assert_eq!(m.k, 1, "{per_k:?}");
        assert!((m.coef[0][1] - 3.0).abs() < 0.05);
    }
}
