//! The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").
//!
//! Log-likelihood per customer with x repeat purchases, recency t_x and age T (time unit of the
//! summary), as lifetimes 0.11.3 (`BetaGeoFitter`):
//!
//! ```text
//! A1 = lnΓ(r+x) - lnΓ(r) + r ln α
//! A2 = lnΓ(a+b) + lnΓ(b+x) - lnΓ(b) - lnΓ(a+b+x)
//! A3 = -(r+x) ln(α+T)
//! A4 = ln a - ln(b+x-1) - (r+x) ln(α+t_x)          (x > 0 only)
//! LL = A1 + A2 + ln(e^A3 + [x>0] e^A4)
//! ```
//!
//! Fitted by maximum likelihood in log-parameter space (see [`super::optim`]) with the analytic
//! gradient; lnΓ and ψ terms depend on x only and are computed once per distinct x.

use serde::{Deserialize, Serialize};

use super::optim::{maximize, penalized, standard_errors, Diagnostics};
use super::{block_fold, check_inputs, distinct_index};
use crate::error::{Error, Result};
use crate::stats::{digamma, hyp2f1, hyp2f1_many, ln_gamma};

/// One fitted parameter with its standard error and 95% interval.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Estimate {
    pub name: String,
    pub value: f64,
    pub std_error: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

/// Builds the estimates table from log-parameters and the Hessian.
pub(crate) fn estimates(names: &[&str], theta: &[f64], hessian: &[Vec<f64>]) -> Vec<Estimate> {
    let se = standard_errors(theta, hessian);
    names
        .iter()
        .enumerate()
        .map(|(i, n)| Estimate {
            name: n.to_string(),
            value: theta[i].exp(),
            std_error: se.as_ref().map(|s| s[i].0),
            ci_low: se.as_ref().map(|s| s[i].1),
            ci_high: se.as_ref().map(|s| s[i].2),
        })
        .collect()
}

/// Which model of the BG/NBD family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// BG/NBD: customers can only drop out right after a repeat purchase.
    #[default]
    Bgnbd,
    /// MBG/NBD (Batislam, Denizel & Filiztekin 2007; lifetimes `ModifiedBetaGeoFitter`): they can
    /// also drop out right after the first purchase, so one-time buyers are not all alive.
    Mbgnbd,
}

/// A fitted BG/NBD (or MBG/NBD) model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BgNbd {
    #[serde(default)]
    pub variant: Variant,
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    /// Total log-likelihood (natural log, no penalty) of the fitted customers.
    pub log_likelihood: f64,
    pub customers: usize,
    /// L2 penalty weight: the fit maximises LL / n - penalizer (r² + α² + a² + b²).
    pub penalizer: f64,
    pub estimates: Vec<Estimate>,
    pub diagnostics: Option<Diagnostics>,
}

/// The fitting data: repeat customers one by one (with an index into the per-x tables), and
/// customers without repeat purchases grouped by T (their likelihood depends on T alone; they
/// are usually half the customers, with a few hundred distinct T).
struct Data {
    x: Vec<f64>,
    tx: Vec<f64>,
    t: Vec<f64>,
    distinct: Vec<f64>,
    idx: Vec<u32>,
    /// (T, customers) of the customers with x = 0.
    zero: Vec<(f64, f64)>,
    n: usize,
}

impl Data {
    fn new(x: &[f64], tx: &[f64], t: &[f64]) -> Self {
        let mut d = Data {
            x: Vec::new(),
            tx: Vec::new(),
            t: Vec::new(),
            distinct: Vec::new(),
            idx: Vec::new(),
            zero: Vec::new(),
            n: x.len(),
        };
        let mut zero_t: Vec<f64> = Vec::new();
        for i in 0..x.len() {
            if x[i] == 0.0 {
                zero_t.push(t[i]);
            } else {
                d.x.push(x[i]);
                d.tx.push(tx[i]);
                d.t.push(t[i]);
            }
        }
        zero_t.sort_unstable_by(f64::total_cmp);
        for v in zero_t {
            match d.zero.last_mut() {
                Some(last) if last.0 == v => last.1 += 1.0,
                _ => d.zero.push((v, 1.0)),
            }
        }
        (d.distinct, d.idx) = distinct_index(&d.x);
        d
    }
}

/// The parameters and the lnΓ / ψ values both BG/NBD likelihoods use; `None` when a
/// parameter is not a positive finite number.
struct Shared {
    r: f64,
    al: f64,
    a: f64,
    b: f64,
    lg_ab: f64,
    lg_b: f64,
    dg_ab: f64,
    dg_b: f64,
    lg_r: f64,
    dg_r: f64,
}

impl Shared {
    fn of(theta: &[f64]) -> Option<Shared> {
        let (r, al, a, b) = (
            theta[0].exp(),
            theta[1].exp(),
            theta[2].exp(),
            theta[3].exp(),
        );
        if ![r, al, a, b].iter().all(|v| v.is_finite() && *v > 0.0) {
            return None;
        }
        Some(Shared {
            r,
            al,
            a,
            b,
            lg_ab: ln_gamma(a + b),
            lg_b: ln_gamma(b),
            dg_ab: digamma(a + b),
            dg_b: digamma(b),
            lg_r: ln_gamma(r),
            dg_r: digamma(r),
        })
    }
}

/// Log-likelihood (total) and its gradient in log-parameter space.
fn ll_grad(theta: &[f64], d: &Data) -> (f64, [f64; 4]) {
    let Some(Shared {
        r,
        al,
        a,
        b,
        lg_ab,
        lg_b,
        dg_ab,
        dg_b,
        lg_r,
        dg_r,
    }) = Shared::of(theta)
    else {
        return (f64::NEG_INFINITY, [0.0; 4]);
    };
    // per distinct x: (A1 - r ln α, A2, dA1/dr - ln α, dA2/da, dA2/db)
    let tab: Vec<[f64; 5]> = d
        .distinct
        .iter()
        .map(|&x| {
            [
                ln_gamma(r + x) - lg_r,
                lg_ab + ln_gamma(b + x) - lg_b - ln_gamma(a + b + x),
                digamma(r + x) - dg_r,
                dg_ab - digamma(a + b + x),
                dg_ab + digamma(b + x) - dg_b - digamma(a + b + x),
            ]
        })
        .collect();
    let ln_al = al.ln();
    let ln_a = a.ln();
    let acc = block_fold::<5>(d.x.len(), 4096, |s, i| {
        let x = d.x[i];
        let e = &tab[d.idx[i] as usize];
        let l_t = (al + d.t[i]).ln();
        let a3 = -(r + x) * l_t;
        let (lse, w4, l_tx) = if x > 0.0 {
            let l_tx = (al + d.tx[i]).ln();
            let a4 = ln_a - (b + x - 1.0).ln() - (r + x) * l_tx;
            let m = a3.max(a4);
            let lse = m + ((a3 - m).exp() + (a4 - m).exp()).ln();
            (lse, (a4 - lse).exp(), l_tx)
        } else {
            (a3, 0.0, 0.0)
        };
        let w3 = 1.0 - w4;
        s[0] += e[0] + e[1] + lse;
        s[1] += e[2] - w3 * l_t - w4 * l_tx;
        s[2] += -w3 * (r + x) / (al + d.t[i]) - w4 * (r + x) / (al + d.tx[i]);
        s[3] += e[3] + w4 / a;
        s[4] += e[4] - if x > 0.0 { w4 / (b + x - 1.0) } else { 0.0 };
    });
    // customers without repeat purchases: LL = r ln α - r ln(α+T)
    let mut acc = acc;
    for &(t, c) in &d.zero {
        let l_t = (al + t).ln();
        acc[0] -= c * r * l_t;
        acc[1] -= c * l_t;
        acc[2] -= c * r / (al + t);
    }
    let nf = d.n as f64;
    let ll = acc[0] + nf * r * ln_al;
    let grad = [
        r * (acc[1] + nf * ln_al),
        al * (acc[2] + nf * r / al),
        a * acc[3],
        b * acc[4],
    ];
    (ll, grad)
}

/// MBG/NBD log-likelihood and gradient (lifetimes 0.11.3 `ModifiedBetaGeoFitter`):
/// A2 = lnΓ(a+b) + lnΓ(b+x+1) - lnΓ(b) - lnΓ(a+b+x+1),
/// A4 = ln a - ln(b+x) + (r+x)(ln(α+T) - ln(α+t_x)), LL = A1 + A2 + A3 + ln(1 + e^A4),
/// for every customer (one-time buyers too, with t_x = 0).
fn ll_grad_mbg(theta: &[f64], d: &Data) -> (f64, [f64; 4]) {
    let Some(Shared {
        r,
        al,
        a,
        b,
        lg_ab,
        lg_b,
        dg_ab,
        dg_b,
        lg_r,
        dg_r,
    }) = Shared::of(theta)
    else {
        return (f64::NEG_INFINITY, [0.0; 4]);
    };
    let tab_of = |x: f64| -> [f64; 5] {
        [
            ln_gamma(r + x) - lg_r,
            lg_ab + ln_gamma(b + x + 1.0) - lg_b - ln_gamma(a + b + x + 1.0),
            digamma(r + x) - dg_r,
            dg_ab - digamma(a + b + x + 1.0),
            dg_ab + digamma(b + x + 1.0) - dg_b - digamma(a + b + x + 1.0),
        ]
    };
    let tab: Vec<[f64; 5]> = d.distinct.iter().map(|&x| tab_of(x)).collect();
    let tab0 = tab_of(0.0);
    let ln_a = a.ln();
    // (LL - r ln α, dLL/dr - ln α, dLL/dα - r/α, dLL/da, dLL/db) of one customer
    let term = |x: f64, tx: f64, t: f64, e: &[f64; 5]| -> [f64; 5] {
        let (l_t, l_tx) = ((al + t).ln(), (al + tx).ln());
        let a3 = -(r + x) * l_t;
        let a4 = ln_a - (b + x).ln() + (r + x) * (l_t - l_tx);
        let softplus = a4.max(0.0) + (-a4.abs()).exp().ln_1p();
        let w = 1.0 / (1.0 + (-a4).exp());
        [
            e[0] + e[1] + a3 + softplus,
            e[2] - l_t + w * (l_t - l_tx),
            -(r + x) / (al + t) + w * (r + x) * (1.0 / (al + t) - 1.0 / (al + tx)),
            e[3] + w / a,
            e[4] - w / (b + x),
        ]
    };
    let add = |mut p: [f64; 5], q: [f64; 5], c: f64| {
        for k in 0..5 {
            p[k] += c * q[k];
        }
        p
    };
    let mut acc = block_fold::<5>(d.x.len(), 4096, |s, i| {
        *s = add(
            *s,
            term(d.x[i], d.tx[i], d.t[i], &tab[d.idx[i] as usize]),
            1.0,
        );
    });
    for &(t, c) in &d.zero {
        acc = add(acc, term(0.0, 0.0, t, &tab0), c);
    }
    let nf = d.n as f64;
    let ln_al = al.ln();
    (
        acc[0] + nf * r * ln_al,
        [
            r * (acc[1] + nf * ln_al),
            al * (acc[2] + nf * r / al),
            a * acc[3],
            b * acc[4],
        ],
    )
}

impl BgNbd {
    /// Fits the model to the summary columns; `penalizer` 0 is plain maximum likelihood.
    pub fn fit(frequency: &[f64], recency: &[f64], t: &[f64], penalizer: f64) -> Result<BgNbd> {
        Self::fit_variant(Variant::Bgnbd, frequency, recency, t, penalizer)
    }

    /// Fits the BG/NBD or the MBG/NBD model.
    pub fn fit_variant(
        variant: Variant,
        frequency: &[f64],
        recency: &[f64],
        t: &[f64],
        penalizer: f64,
    ) -> Result<BgNbd> {
        let name = match variant {
            Variant::Bgnbd => "BG/NBD",
            Variant::Mbgnbd => "MBG/NBD",
        };
        let ll_grad = match variant {
            Variant::Bgnbd => ll_grad,
            Variant::Mbgnbd => ll_grad_mbg,
        };
        check_inputs(frequency, recency, t)?;
        if !(penalizer >= 0.0 && penalizer.is_finite()) {
            return Err(Error::Config(format!(
                "penalizer must be >= 0, got {penalizer}"
            )));
        }
        if frequency.iter().all(|&x| x == 0.0) {
            return Err(Error::Data(format!(
                "{name} needs customers with repeat purchases: all {} have frequency 0, so the dropout parameters a and b are not identified",
                frequency.len()
            )));
        }
        let d = Data::new(frequency, recency, t);
        let n = frequency.len() as f64;
        let objective = |th: &[f64]| -> (f64, Vec<f64>) {
            let (ll, g) = ll_grad(th, &d);
            penalized(ll, &g, th, n, penalizer)
        };
        let mean_t = t.iter().sum::<f64>() / n;
        let la = mean_t.max(1e-3).ln();
        let starts = vec![
            vec![0.0, la, 0.0, 0.0],
            vec![(0.5f64).ln(), la - 1.0, (0.5f64).ln(), (2.0f64).ln()],
            vec![0.0, 0.0, 0.0, 0.0],
        ];
        let o = maximize(&objective, &starts).ok_or_else(|| {
            Error::Data(format!(
                "{name}: the log-likelihood is not finite at any start"
            ))
        })?;
        let ll = ll_grad(&o.theta, &d).0;
        if !o.diagnostics.converged {
            return Err(Error::Data(format!(
                "{name} did not converge ({}; gradient norm {:.3e} after {} iterations): the data may not identify the model (e.g. no repeat purchases)",
                o.diagnostics.message, o.diagnostics.gradient_norm, o.diagnostics.iterations
            )));
        }
        let th = &o.theta;
        Ok(BgNbd {
            variant,
            r: th[0].exp(),
            alpha: th[1].exp(),
            a: th[2].exp(),
            b: th[3].exp(),
            log_likelihood: ll,
            customers: frequency.len(),
            penalizer,
            estimates: estimates(&["r", "alpha", "a", "b"], th, &o.hessian),
            diagnostics: Some(o.diagnostics),
        })
    }

    /// Total log-likelihood of these parameters on the given customers.
    pub fn log_likelihood_of(&self, frequency: &[f64], recency: &[f64], t: &[f64]) -> f64 {
        let d = Data::new(frequency, recency, t);
        let th = [self.r.ln(), self.alpha.ln(), self.a.ln(), self.b.ln()];
        match self.variant {
            Variant::Bgnbd => ll_grad(&th, &d).0,
            Variant::Mbgnbd => ll_grad_mbg(&th, &d).0,
        }
    }

    /// P(alive | x, t_x, T) (Fader, Hardie & Lee 2008 note 021; lifetimes
    /// `conditional_probability_alive`).
    pub fn p_alive(&self, x: f64, tx: f64, t: f64) -> f64 {
        if self.variant == Variant::Mbgnbd {
            return 1.0
                / (1.0
                    + (self.a / (self.b + x))
                        * ((self.alpha + t) / (self.alpha + tx)).powf(self.r + x));
        }
        if x == 0.0 {
            return 1.0;
        }
        let log_div = (self.r + x) * ((self.alpha + t) / (self.alpha + tx)).ln()
            + (self.a / (self.b + x - 1.0)).ln();
        1.0 / (1.0 + log_div.exp())
    }

    /// Expected repeat purchases in the next `horizon` time units given the history (equation 10
    /// of the paper; lifetimes `conditional_expected_number_of_purchases_up_to_time`).
    pub fn expected_purchases(&self, horizon: f64, x: f64, tx: f64, t: f64) -> f64 {
        let (r, al, a, b) = (self.r, self.alpha, self.a, self.b);
        if horizon <= 0.0 {
            return 0.0;
        }
        if self.variant == Variant::Mbgnbd {
            let z = horizon / (al + t + horizon);
            let hyp = hyp2f1(r + x, b + x + 1.0, a + b + x, z).unwrap_or(f64::NAN);
            let first = (a + b + x) / (a - 1.0);
            let second = 1.0 - hyp * ((al + t) / (al + horizon + t)).powf(r + x);
            let den = 1.0 + (a / (b + x)) * ((al + t) / (al + tx)).powf(r + x);
            return first * second / den;
        }
        let (ha, hb, hc) = (r + x, b + x, a + b + x - 1.0);
        let z = horizon / (al + t + horizon);
        let ln_hyp = match hyp2f1(ha, hb, hc, z) {
            Some(v) if v > 0.0 && v.is_finite() => v.ln(),
            // Euler's transformation, as lifetimes falls back to
            _ => {
                hyp2f1(hc - ha, hc - hb, hc, z).map_or(f64::NAN, |v| v.ln())
                    + (hc - ha - hb) * (1.0 - z).ln()
            }
        };
        self.expected_from_ln_hyp(ln_hyp, horizon, x, t, self.denominator(x, tx, t))
    }

    /// The denominator of equation 10 (it does not depend on the horizon).
    fn denominator(&self, x: f64, tx: f64, t: f64) -> f64 {
        let (r, al, a, b) = (self.r, self.alpha, self.a, self.b);
        1.0 + if x > 0.0 {
            (a / (b + x - 1.0)) * ((al + t) / (al + tx)).powf(r + x)
        } else {
            0.0
        }
    }

    /// Equation 10 given the log of its hypergeometric term 2F1(r+x, b+x; a+b+x-1; z) and its
    /// denominator.
    fn expected_from_ln_hyp(&self, ln_hyp: f64, horizon: f64, x: f64, t: f64, den: f64) -> f64 {
        let (r, al, a, b) = (self.r, self.alpha, self.a, self.b);
        let first = (a + b + x - 1.0) / (a - 1.0);
        let second = 1.0 - (ln_hyp + (r + x) * ((al + t) / (al + horizon + t)).ln()).exp();
        first * second / den
    }

    /// [`BgNbd::expected_purchases`] at several horizons for one customer (`out[j]` for
    /// `horizons[j]`): the hypergeometric series of all horizons summed in one pass
    /// ([`hyp2f1_many`]); MBG/NBD, and any horizon whose series fails, one at a time.
    pub fn expected_purchases_many(
        &self,
        horizons: &[f64],
        x: f64,
        tx: f64,
        t: f64,
        out: &mut [f64],
    ) {
        let (r, al, a, b) = (self.r, self.alpha, self.a, self.b);
        if self.variant == Variant::Mbgnbd || horizons.iter().any(|&h| h <= 0.0) {
            for (o, &h) in out.iter_mut().zip(horizons) {
                *o = self.expected_purchases(h, x, tx, t);
            }
            return;
        }
        let (ha, hb, hc) = (r + x, b + x, a + b + x - 1.0);
        let zs: Vec<f64> = horizons.iter().map(|&h| h / (al + t + h)).collect();
        let mut hyp = vec![None; zs.len()];
        hyp2f1_many(ha, hb, hc, &zs, &mut hyp);
        let den = self.denominator(x, tx, t);
        for ((o, &h), v) in out.iter_mut().zip(horizons).zip(hyp) {
            *o = match v {
                Some(v) if v > 0.0 && v.is_finite() => {
                    self.expected_from_ln_hyp(v.ln(), h, x, t, den)
                }
                _ => self.expected_purchases(h, x, tx, t),
            };
        }
    }

    /// P(X(t) = n): the probability that a randomly chosen new customer makes exactly `n` repeat
    /// purchases in `t` time units (BG/NBD paper, equation 8; lifetimes
    /// `probability_of_n_purchases_up_to_time`). Computed in logs. BG/NBD only (`None` for
    /// MBG/NBD).
    pub fn probability_of_n_purchases(&self, t: f64, n: u32) -> Option<f64> {
        if self.variant != Variant::Bgnbd {
            return None;
        }
        let (r, al, a, b) = (self.r, self.alpha, self.a, self.b);
        let ln_beta = |x: f64, y: f64| ln_gamma(x) + ln_gamma(y) - ln_gamma(x + y);
        let nf = n as f64;
        let (lp, lq) = ((al / (al + t)).ln(), (t / (al + t)).ln());
        // ln of Γ(r+j) / (Γ(r) j!) (t/(α+t))^j
        let term = |j: f64| ln_gamma(r + j) - ln_gamma(r) - ln_gamma(j + 1.0) + j * lq;
        let first = (ln_beta(a, b + nf) - ln_beta(a, b) + term(nf) + r * lp).exp();
        if n == 0 {
            return Some(first);
        }
        let sum: f64 = (0..n).map(|j| term(j as f64).exp()).sum();
        let second =
            (ln_beta(a + 1.0, b + nf - 1.0) - ln_beta(a, b)).exp() * (1.0 - (r * lp).exp() * sum);
        Some(first + second)
    }

    /// Expected purchases of a randomly chosen new customer in `t` time units (equation 9;
    /// lifetimes `expected_number_of_purchases_up_to_time`).
    pub fn expected_purchases_new(&self, t: f64) -> f64 {
        let (r, al, a, b) = (self.r, self.alpha, self.a, self.b);
        let hyp = hyp2f1(r, b, a + b - 1.0, t / (al + t)).unwrap_or(f64::NAN);
        (a + b - 1.0) / (a - 1.0) * (1.0 - (al / (al + t)).powf(r) * hyp)
    }
}
