//! The BG/BB model (Fader, Hardie & Shang 2010, "Customer-Base Analysis in a Discrete-Time
//! Noncontractual Setting", Marketing Science 29(6), 1086-1108) for purchases that can only
//! happen at discrete opportunities: a yearly donation, an annual event, a weekly market day.
//! While alive, a customer buys at each opportunity with probability p ~ Beta(alpha, beta) and
//! dies before the next one with probability theta ~ Beta(gamma, delta). A customer's history
//! is (x, t_x, n): x purchases in the n opportunities after the first one, the last at
//! opportunity t_x (0 without a repeat). The likelihood (equation 5 of the paper):
//!
//! ```text
//! L = B(α+x, β+n-x)/B(α,β) · B(γ, δ+n)/B(γ,δ)
//!   + Σ_{i=0}^{n-t_x-1} B(α+x, β+t_x-x+i)/B(α,β) · B(γ+1, δ+t_x+i)/B(γ,δ)
//! ```
//!
//! computed in logs (the terms are summed with log-sum-exp, so long histories do not
//! underflow). Customers with the same (x, t_x, n) share their likelihood, so the data are
//! collapsed to their distinct patterns first (the paper's 11,104 donors are 22 patterns) and
//! patterns can arrive with counts (`weights`, as in lifetimes' `BetaGeoBetaBinomFitter`).
//! Fitted by Newton in log-parameters with central-difference gradients, like Pareto/NBD.
//!
//! ```
//! use segmint::clv::bgbb::BgBb;
//!
//! // three donors over 6 opportunities: none, 2 (last at 4), 6 (last at 6); each 10 times
//! let (x, tx, n, w) = ([0.0, 2.0, 6.0], [0.0, 4.0, 6.0], [6.0; 3], [10.0; 3]);
//! let m = BgBb::fit(&x, &tx, &n, Some(&w), 0.0)?;
//! assert!(m.p_alive(1.0, 6.0, 6.0, 6.0) > m.p_alive(1.0, 0.0, 0.0, 6.0));
//! # Ok::<(), segmint::Error>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::bgnbd::{estimates, Estimate};
use super::optim::{maximize_by_differences, Diagnostics};
use crate::error::{Error, Result};
use crate::stats::{hyp2f1, ln_add_exp, ln_beta, ln_gamma};

/// A fitted BG/BB model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BgBb {
    /// Purchase-probability Beta shape alpha.
    pub alpha: f64,
    /// Purchase-probability Beta shape beta.
    pub beta: f64,
    /// Dropout-probability Beta shape gamma.
    pub gamma: f64,
    /// Dropout-probability Beta shape delta.
    pub delta: f64,
    /// Log-likelihood at the optimum (the paper's LL: sum over customers).
    pub log_likelihood: f64,
    /// Customers it was fitted on (the sum of the weights).
    pub customers: f64,
    /// Distinct (x, t_x, n) patterns among them.
    pub patterns: usize,
    /// L2 penalty on the parameters it was fitted with.
    pub penalizer: f64,
    /// Estimates with standard errors and intervals.
    pub estimates: Vec<Estimate>,
    /// How the optimiser converged.
    pub diagnostics: Option<Diagnostics>,
}

/// ln L of one history (equation 5).
fn ln_likelihood(p: [f64; 4], x: f64, tx: f64, n: f64) -> f64 {
    let [a, b, g, d] = p;
    let (ab, gd) = (ln_beta(a, b), ln_beta(g, d));
    let mut total = ln_beta(a + x, b + n - x) - ab + ln_beta(g, d + n) - gd;
    let mut i = 0.0;
    while tx + i < n {
        let term = ln_beta(a + x, b + tx - x + i) - ab + ln_beta(g + 1.0, d + tx + i) - gd;
        total = ln_add_exp(total, term);
        i += 1.0;
    }
    total
}

/// Distinct (x, t_x, n) histories with their summed weights.
struct Patterns {
    x: Vec<f64>,
    tx: Vec<f64>,
    n: Vec<f64>,
    weight: Vec<f64>,
    total: f64,
}

impl Patterns {
    fn new(x: &[f64], tx: &[f64], n: &[f64], weights: Option<&[f64]>) -> Patterns {
        let mut counts: BTreeMap<(u64, u64, u64), f64> = BTreeMap::new();
        for i in 0..x.len() {
            let w = weights.map_or(1.0, |w| w[i]);
            // checked to be non-negative whole numbers: exact as u64
            *counts
                .entry((x[i] as u64, tx[i] as u64, n[i] as u64))
                .or_default() += w;
        }
        let mut p = Patterns {
            x: Vec::new(),
            tx: Vec::new(),
            n: Vec::new(),
            weight: Vec::new(),
            total: 0.0,
        };
        for ((x, tx, n), w) in counts {
            p.x.push(x as f64);
            p.tx.push(tx as f64);
            p.n.push(n as f64);
            p.weight.push(w);
            p.total += w;
        }
        p
    }

    fn log_likelihood(&self, theta: &[f64]) -> f64 {
        let p = [
            theta[0].exp(),
            theta[1].exp(),
            theta[2].exp(),
            theta[3].exp(),
        ];
        if !p.iter().all(|v| v.is_finite() && *v > 0.0) {
            return f64::NEG_INFINITY;
        }
        let v: f64 = (0..self.x.len())
            .map(|i| self.weight[i] * ln_likelihood(p, self.x[i], self.tx[i], self.n[i]))
            .sum();
        if v.is_nan() {
            f64::NEG_INFINITY
        } else {
            v
        }
    }
}

/// Checks one history: whole numbers with 0 <= x <= t_x <= n, t_x = 0 exactly when x = 0.
fn check_history(i: usize, x: f64, tx: f64, n: f64, w: f64) -> Result<()> {
    let whole = |v: f64| v.is_finite() && v >= 0.0 && v.fract() == 0.0;
    let problem = if !whole(x) {
        Some(format!("frequency {x} is not a whole number >= 0"))
    } else if !whole(tx) {
        Some(format!("recency {tx} is not a whole number >= 0"))
    } else if !whole(n) {
        Some(format!("n_periods {n} is not a whole number >= 0"))
    } else if x > tx || tx > n {
        Some(format!(
            "needs frequency <= recency <= n_periods, got {x}, {tx}, {n}"
        ))
    } else if (x == 0.0) != (tx == 0.0) {
        Some(format!(
            "recency must be 0 exactly when frequency is 0, got frequency {x}, recency {tx}"
        ))
    } else if !(w.is_finite() && w >= 0.0) {
        Some(format!("weight {w} is not a number >= 0"))
    } else {
        None
    };
    match problem {
        Some(p) => Err(Error::Data(format!("BG/BB: customer {}: {p}", i + 1))),
        None => Ok(()),
    }
}

impl BgBb {
    /// Fits the model to per-customer histories: `frequency` x (repeat purchases), `recency`
    /// t_x (opportunity of the last one) and `n_periods` n (opportunities after the first
    /// purchase), each history counted `weights` times (default once). `penalizer` is the L2
    /// penalty on the parameters (0: maximum likelihood).
    pub fn fit(
        frequency: &[f64],
        recency: &[f64],
        n_periods: &[f64],
        weights: Option<&[f64]>,
        penalizer: f64,
    ) -> Result<BgBb> {
        let len = frequency.len();
        if recency.len() != len || n_periods.len() != len || weights.is_some_and(|w| w.len() != len)
        {
            return Err(Error::Data(
                "BG/BB: frequency, recency, n_periods and weights differ in length".into(),
            ));
        }
        for i in 0..len {
            let w = weights.map_or(1.0, |w| w[i]);
            check_history(i, frequency[i], recency[i], n_periods[i], w)?;
        }
        let d = Patterns::new(frequency, recency, n_periods, weights);
        if d.total.is_nan() || d.total <= 0.0 {
            return Err(Error::Data("BG/BB: no customers to fit".into()));
        }
        if d.x.iter().all(|&x| x == 0.0) {
            return Err(Error::Data(
                "BG/BB needs customers with repeat purchases: all have frequency 0".into(),
            ));
        }
        let starts = vec![
            vec![0.0, 0.0, 0.0, 0.0],
            vec![0.5, -0.5, -0.5, 1.0],
            vec![-1.0, 1.0, 1.0, 2.0],
        ];
        let ll = |th: &[f64]| d.log_likelihood(th);
        let o = maximize_by_differences("BG/BB", &ll, d.total, penalizer, &starts)?;
        let th = &o.theta;
        Ok(BgBb {
            alpha: th[0].exp(),
            beta: th[1].exp(),
            gamma: th[2].exp(),
            delta: th[3].exp(),
            log_likelihood: d.log_likelihood(th),
            customers: d.total,
            patterns: d.x.len(),
            penalizer,
            estimates: estimates(&["alpha", "beta", "gamma", "delta"], th, &o.hessian),
            diagnostics: Some(o.diagnostics),
        })
    }

    fn p(&self) -> [f64; 4] {
        [self.alpha, self.beta, self.gamma, self.delta]
    }

    /// Log-likelihood of histories under this model's parameters.
    pub fn log_likelihood_of(&self, frequency: &[f64], recency: &[f64], n_periods: &[f64]) -> f64 {
        (0..frequency.len())
            .map(|i| ln_likelihood(self.p(), frequency[i], recency[i], n_periods[i]))
            .sum()
    }

    /// ln [B(α+x+a, β+n-x)/B(α,β)] - ln L: the part shared by the predictions (a = 0 or 1).
    fn ln_alive_part(&self, extra: f64, x: f64, tx: f64, n: f64) -> f64 {
        let [a, b, _, _] = self.p();
        ln_beta(a + x + extra, b + n - x) - ln_beta(a, b) - ln_likelihood(self.p(), x, tx, n)
    }

    /// P(alive at opportunity n + m | x, t_x, n); m = 1 is the paper's equation 11 (alive at
    /// the next opportunity; lifetimes' `conditional_probability_alive(m)`).
    pub fn p_alive(&self, m: f64, x: f64, tx: f64, n: f64) -> f64 {
        let [_, _, g, d] = self.p();
        (self.ln_alive_part(0.0, x, tx, n) + ln_beta(g, d + n + m) - ln_beta(g, d)).exp()
    }

    /// Expected purchases in the next `m` opportunities (equation 13; lifetimes'
    /// `conditional_expected_number_of_purchases_up_to_time`).
    pub fn expected_purchases(&self, m: f64, x: f64, tx: f64, n: f64) -> f64 {
        let [a, b, g, d] = self.p();
        if (g - 1.0).abs() < 1e-6 {
            // equation 13 is 0/0 at γ = 1: the same expectation as a sum over the opportunities,
            // E[p | alive] Σ P(alive at n+t)
            let p = (a + x) / (a + b + n);
            let mut sum = 0.0;
            let mut t = 1.0;
            while t <= m {
                sum += self.p_alive(t, x, tx, n);
                t += 1.0;
            }
            return p * sum;
        }
        let lead = (self.ln_alive_part(1.0, x, tx, n) + ln_gamma(g + d) - ln_gamma(1.0 + d)).exp()
            * d
            / (g - 1.0);
        let at = |k: f64| (ln_gamma(1.0 + d + k) - ln_gamma(g + d + k)).exp();
        lead * (at(n) - at(n + m))
    }

    /// Discounted expected residual transactions at discount rate `discount` per opportunity
    /// (equation 14): Σ_{t>=1} E[purchase at n+t | history] / (1+d)^t, the number of future
    /// purchases a customer is worth today.
    pub fn dert(&self, discount: f64, x: f64, tx: f64, n: f64) -> f64 {
        let [_, _, g, d] = self.p();
        let z = 1.0 / (1.0 + discount);
        let series = hyp2f1(1.0, d + n + 1.0, g + d + n + 1.0, z).unwrap_or(f64::NAN);
        (self.ln_alive_part(1.0, x, tx, n) + ln_beta(g, d + n + 1.0) - ln_beta(g, d)).exp()
            * z
            * series
    }

    /// Expected purchases in the first `n` opportunities after the first purchase of a new
    /// customer (the paper's equation 9 summed over x).
    pub fn expected_purchases_new(&self, n: f64) -> f64 {
        let [a, b, g, d] = self.p();
        // E[X(n)] = α/(α+β) · δ/(γ-1) · [1 - Γ(γ+δ)Γ(1+δ+n) / (Γ(γ+δ+n)Γ(1+δ))] (equation 10)
        if (g - 1.0).abs() < 1e-6 {
            let mut sum = 0.0;
            let mut t = 1.0;
            while t <= n {
                sum += (ln_beta(g, d + t) - ln_beta(g, d)).exp();
                t += 1.0;
            }
            return a / (a + b) * sum;
        }
        let ratio =
            (ln_gamma(g + d) + ln_gamma(1.0 + d + n) - ln_gamma(g + d + n) - ln_gamma(1.0 + d))
                .exp();
        a / (a + b) * d / (g - 1.0) * (1.0 - ratio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The donations of Fader, Hardie & Shang (2010), section 4: 11,104 first-time donors of
    /// 1995, six later yearly opportunities, as 22 (x, t_x, count) patterns (lifetimes 0.11.3
    /// `datasets/donations.csv`).
    pub(crate) const DONATIONS: [(f64, f64, f64); 22] = [
        (0.0, 0.0, 3464.0),
        (1.0, 1.0, 1091.0),
        (1.0, 2.0, 277.0),
        (1.0, 3.0, 129.0),
        (1.0, 4.0, 78.0),
        (1.0, 5.0, 119.0),
        (1.0, 6.0, 129.0),
        (2.0, 2.0, 613.0),
        (2.0, 3.0, 255.0),
        (2.0, 4.0, 155.0),
        (2.0, 5.0, 173.0),
        (2.0, 6.0, 234.0),
        (3.0, 3.0, 322.0),
        (3.0, 4.0, 181.0),
        (3.0, 5.0, 225.0),
        (3.0, 6.0, 357.0),
        (4.0, 4.0, 240.0),
        (4.0, 5.0, 284.0),
        (4.0, 6.0, 512.0),
        (5.0, 5.0, 335.0),
        (5.0, 6.0, 728.0),
        (6.0, 6.0, 1203.0),
    ];

    fn donations() -> BgBb {
        let x: Vec<f64> = DONATIONS.iter().map(|r| r.0).collect();
        let tx: Vec<f64> = DONATIONS.iter().map(|r| r.1).collect();
        let w: Vec<f64> = DONATIONS.iter().map(|r| r.2).collect();
        BgBb::fit(&x, &tx, &[6.0; 22], Some(&w), 0.0).unwrap()
    }

    #[test]
    fn reproduces_the_donations_estimates_of_the_paper() {
        // Fader, Hardie & Shang (2010), section 4: α 1.204, β 0.750, γ 0.657, δ 2.783,
        // LL -33,225.6
        let m = donations();
        assert_eq!(m.customers, 11_104.0);
        assert_eq!(m.patterns, 22);
        for (got, paper) in [
            (m.alpha, 1.204),
            (m.beta, 0.750),
            (m.gamma, 0.657),
            (m.delta, 2.783),
            (m.log_likelihood, -33_225.6),
        ] {
            assert!(
                ((got - paper) / paper).abs() < 1e-3,
                "got {got}, paper {paper}"
            );
        }
        assert!(m.estimates.iter().all(|e| e.std_error.is_some()));
    }

    #[test]
    fn predictions_agree_with_their_definitions() {
        let m = donations();
        // history: 3 donations, the last in year 5 of 6
        let (x, tx, n) = (3.0, 5.0, 6.0);
        // expected purchases = E[p | alive] Σ_t P(alive at n+t) (the sum form of equation 13)
        let p = (m.alpha + x) / (m.alpha + m.beta + n);
        let by_sum: f64 = (1..=5).map(|t| p * m.p_alive(t as f64, x, tx, n)).sum();
        let closed = m.expected_purchases(5.0, x, tx, n);
        assert!(
            (closed - by_sum).abs() < 1e-12 * by_sum,
            "{closed} vs {by_sum}"
        );
        // DERT = Σ_t (E[X(n, n+t)] - E[X(n, n+t-1)]) / (1+d)^t, summed until the terms vanish
        let d: f64 = 0.1;
        let mut series = 0.0;
        for t in 1..2000 {
            let inc = m.expected_purchases(t as f64, x, tx, n)
                - m.expected_purchases(t as f64 - 1.0, x, tx, n);
            series += inc / (1.0 + d).powi(t);
        }
        let dert = m.dert(d, x, tx, n);
        assert!((dert - series).abs() < 1e-9 * series, "{dert} vs {series}");
        // P(alive) falls with the opportunities since the last donation
        assert!(m.p_alive(1.0, 3.0, 6.0, 6.0) > m.p_alive(1.0, 3.0, 3.0, 6.0));
        // a new customer's expected purchases: the sum over x of x P(X(n) = x), by the
        // likelihood of every (x, t_x) history (weights binomial(t_x - 1, x - 1))
        let mut by_histories = 0.0;
        for xx in 1..=6u32 {
            for t in xx..=6u32 {
                let ways = binomial(t - 1, xx - 1);
                let l = ln_likelihood(m.p(), xx as f64, t as f64, 6.0).exp();
                by_histories += xx as f64 * ways * l;
            }
        }
        let new = m.expected_purchases_new(6.0);
        assert!(
            (new - by_histories).abs() < 1e-10,
            "{new} vs {by_histories}"
        );
    }

    fn binomial(n: u32, k: u32) -> f64 {
        (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
    }

    #[test]
    fn near_one_gamma_takes_the_sum_form() {
        let mut m = donations();
        m.gamma = 1.0 + 1e-9;
        let a = m.expected_purchases(4.0, 2.0, 4.0, 6.0);
        m.gamma = 1.0 + 1e-4;
        let b = m.expected_purchases(4.0, 2.0, 4.0, 6.0);
        assert!((a - b).abs() < 1e-3 * b, "{a} vs {b}");
    }

    #[test]
    fn bad_histories_are_refused_with_the_customer() {
        let e = BgBb::fit(&[2.0], &[1.0], &[6.0], None, 0.0).unwrap_err();
        assert!(e.to_string().contains("customer 1"), "{e}");
        let e = BgBb::fit(&[1.5], &[2.0], &[6.0], None, 0.0).unwrap_err();
        assert!(e.to_string().contains("whole number"), "{e}");
        let e = BgBb::fit(&[0.0, 0.0], &[0.0, 0.0], &[6.0, 6.0], None, 0.0).unwrap_err();
        assert!(e.to_string().contains("repeat purchases"), "{e}");
    }
}
