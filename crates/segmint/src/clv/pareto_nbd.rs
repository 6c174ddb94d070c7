//! The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987), with the likelihood of Fader,
//! Hardie & Lee's note 009 (equations 18-20), as lifetimes 0.11.3 `ParetoNBDFitter`:
//!
//! ```text
//! LL = lnΓ(r+x) - lnΓ(r) + r ln α + s ln β
//!      + ln( (α+T)^-(r+x) (β+T)^-s + s/(r+s+x) A0 )
//! A0 = F(t_x) - F(T),  F(u) = 2F1(r+s+x, c; r+s+x+1; |α-β|/(m+u)) / (m+u)^(r+s+x)
//! ```
//!
//! with m = max(α, β) and c = s+1 when α >= β, r+x otherwise. Everything is computed in logs:
//! ln A0 = ln F(t_x) + ln(1 - e^(ln F(T) - ln F(t_x))), so the difference of two nearly equal
//! terms (t_x close to T) keeps its precision, and nothing overflows for large T or x (the plain
//! formula lifetimes evaluates overflows to -inf on the bench data in weeks).
//!
//! The gradient is taken by central differences (the derivatives of 2F1 in its parameters have
//! no cheap closed form); the fit is otherwise the same Newton search as BG/NBD.

use serde::{Deserialize, Serialize};

use super::bgnbd::{estimates, Estimate};
use super::optim::{maximize_by_differences, Diagnostics};
use super::{block_fold, check_inputs, distinct_index};
use crate::error::{Error, Result};
use crate::stats::{hyp2f1, ln_add_exp, ln_gamma};

/// A fitted Pareto/NBD model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParetoNbd {
    /// Purchase-rate shape r.
    pub r: f64,
    /// Purchase-rate scale alpha.
    pub alpha: f64,
    /// Dropout-rate shape s.
    pub s: f64,
    /// Dropout-rate scale beta.
    pub beta: f64,
    /// Log-likelihood at the optimum.
    pub log_likelihood: f64,
    /// Customers it was fitted on.
    pub customers: usize,
    /// L2 penalty on the log-parameters it was fitted with.
    pub penalizer: f64,
    /// Estimates with standard errors and intervals.
    pub estimates: Vec<Estimate>,
    /// How the optimiser converged.
    pub diagnostics: Option<Diagnostics>,
}

/// ln(e^a - e^b) for a >= b.
fn ln_sub_exp(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    a + (-(b - a).exp_m1()).ln()
}

/// The pieces of one customer's likelihood: (ln of the "still alive" part, ln of the total),
/// both without the lnΓ(r+x) - lnΓ(r) + r ln α + s ln β prefix.
fn parts(p: [f64; 4], x: f64, tx: f64, t: f64) -> (f64, f64) {
    let [r, al, s, be] = p;
    let rsx = r + s + x;
    let alive = -(r + x) * (al + t).ln() - s * (be + t).ln();
    let (m, c) = if al >= be { (al, s + 1.0) } else { (be, r + x) };
    let diff = (al - be).abs();
    let ln_f = |u: f64| -> f64 {
        let z = diff / (m + u);
        match hyp2f1(rsx, c, rsx + 1.0, z) {
            Some(h) if h > 0.0 => h.ln() - rsx * (m + u).ln(),
            _ => f64::NAN,
        }
    };
    let a0 = if tx >= t {
        f64::NEG_INFINITY
    } else {
        ln_sub_exp(ln_f(tx), ln_f(t))
    };
    let total = ln_add_exp(alive, s.ln() - rsx.ln() + a0);
    (alive, total)
}

/// ln of one customer's likelihood without the lnΓ(r+x) - lnΓ(r) + r ln α + s ln β prefix.
pub(crate) fn ln_likelihood_tail(p: [f64; 4], x: f64, tx: f64, t: f64) -> f64 {
    parts(p, x, tx, t).1
}

/// Distinct (x, t_x, T) histories with their counts (one-time buyers differ only by T, so they
/// collapse to a few hundred rows), and the per-x index for the lnΓ table.
struct Data {
    x: Vec<f64>,
    tx: Vec<f64>,
    t: Vec<f64>,
    count: Vec<f64>,
    distinct: Vec<f64>,
    idx: Vec<u32>,
    n: f64,
}

impl Data {
    fn new(x: &[f64], tx: &[f64], t: &[f64]) -> Data {
        let mut rows: Vec<(f64, f64, f64)> = (0..x.len()).map(|i| (x[i], tx[i], t[i])).collect();
        rows.sort_unstable_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then(a.1.total_cmp(&b.1))
                .then(a.2.total_cmp(&b.2))
        });
        let mut d = Data {
            x: Vec::new(),
            tx: Vec::new(),
            t: Vec::new(),
            count: Vec::new(),
            distinct: Vec::new(),
            idx: Vec::new(),
            n: x.len() as f64,
        };
        for (i, r) in rows.iter().enumerate() {
            if i > 0 && rows[i - 1] == *r {
                *d.count.last_mut().expect("pushed") += 1.0;
            } else {
                d.x.push(r.0);
                d.tx.push(r.1);
                d.t.push(r.2);
                d.count.push(1.0);
            }
        }
        (d.distinct, d.idx) = distinct_index(&d.x);
        d
    }
}

fn log_likelihood(theta: &[f64], d: &Data) -> f64 {
    let p = [
        theta[0].exp(),
        theta[1].exp(),
        theta[2].exp(),
        theta[3].exp(),
    ];
    if !p.iter().all(|v| v.is_finite() && *v > 0.0) {
        return f64::NEG_INFINITY;
    }
    let [r, al, s, be] = p;
    let lg_r = ln_gamma(r);
    let tab: Vec<f64> = d.distinct.iter().map(|&x| ln_gamma(r + x) - lg_r).collect();
    // fixed blocks added in order: the same bits at any number of threads
    let [sum] = block_fold::<1>(d.x.len(), 256, |acc, i| {
        acc[0] += d.count[i] * (tab[d.idx[i] as usize] + parts(p, d.x[i], d.tx[i], d.t[i]).1);
    });
    let v = sum + d.n * (r * al.ln() + s * be.ln());
    if v.is_nan() {
        f64::NEG_INFINITY
    } else {
        v
    }
}

impl ParetoNbd {
    /// Fits the model to the summary columns.
    pub fn fit(frequency: &[f64], recency: &[f64], t: &[f64], penalizer: f64) -> Result<ParetoNbd> {
        check_inputs(frequency, recency, t)?;
        if frequency.iter().all(|&x| x == 0.0) {
            return Err(Error::Data(format!(
                "Pareto/NBD needs customers with repeat purchases: all {} have frequency 0",
                frequency.len()
            )));
        }
        let d = Data::new(frequency, recency, t);
        let n = frequency.len() as f64;
        let mean_t = t.iter().sum::<f64>() / n;
        let la = mean_t.max(1e-3).ln();
        let starts = vec![
            vec![0.0, la, 0.0, la],
            vec![(0.5f64).ln(), la - 1.0, 0.0, la + 1.0],
        ];
        let ll = |th: &[f64]| log_likelihood(th, &d);
        let o = maximize_by_differences("Pareto/NBD", &ll, n, penalizer, &starts)?;
        let th = &o.theta;
        Ok(ParetoNbd {
            r: th[0].exp(),
            alpha: th[1].exp(),
            s: th[2].exp(),
            beta: th[3].exp(),
            log_likelihood: log_likelihood(th, &d),
            customers: frequency.len(),
            penalizer,
            estimates: estimates(&["r", "alpha", "s", "beta"], th, &o.hessian),
            diagnostics: Some(o.diagnostics),
        })
    }

    /// Total log-likelihood of these parameters on the given customers.
    pub fn log_likelihood_of(&self, frequency: &[f64], recency: &[f64], t: &[f64]) -> f64 {
        let th = self.p().map(f64::ln);
        log_likelihood(&th, &Data::new(frequency, recency, t))
    }

    fn p(&self) -> [f64; 4] {
        [self.r, self.alpha, self.s, self.beta]
    }

    /// P(alive | x, t_x, T) (note 009, equation 29).
    pub fn p_alive(&self, x: f64, tx: f64, t: f64) -> f64 {
        let (alive, total) = parts(self.p(), x, tx, t);
        (alive - total).exp()
    }

    /// Expected repeat purchases in the next `horizon` time units (note 009, equation 41;
    /// lifetimes `conditional_expected_number_of_purchases_up_to_time`).
    pub fn expected_purchases(&self, horizon: f64, x: f64, tx: f64, t: f64) -> f64 {
        self.p_alive(x, tx, t) * self.expected_if_alive(horizon, x, t)
    }

    /// Expected purchases of a randomly chosen new customer in `t` time units (note 009,
    /// equation 17; lifetimes' `expected_number_of_purchases_up_to_time`).
    pub fn expected_purchases_new(&self, t: f64) -> f64 {
        let [r, al, s, be] = self.p();
        r * be / (al * (s - 1.0)) * (1.0 - (be / (be + t)).powf(s - 1.0))
    }

    /// The expected repeat purchases in the next `horizon` time units of a customer known to be
    /// alive (the factor of equation 41 after P(alive); it does not depend on t_x).
    pub fn expected_if_alive(&self, horizon: f64, x: f64, t: f64) -> f64 {
        let [r, al, s, be] = self.p();
        let rate = (r + x) * (be + t) / (al + t);
        let tail = (1.0 - ((be + t) / (be + t + horizon)).powf(s - 1.0)) / (s - 1.0);
        rate * tail
    }
}
