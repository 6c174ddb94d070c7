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
//! Fitted by maximum likelihood in log-parameter space (`clv::optim`) with the analytic
//! gradient and Hessian (BG/NBD; MBG/NBD: gradient only); lnΓ, ψ and ψ₁ terms depend on x only
//! and are computed once per distinct x, ln(α+T) and ln(α+t_x) once per distinct T and t_x.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use super::optim::{
    maximize_warm, penalized, sample_stride, standard_errors, to_log_space, Diagnostics, Eval,
    Objective,
};
use super::{block_fold, check_inputs, distinct_index};
use crate::error::{Error, Result};
use crate::stats::{digamma, gamma_diffs, hyp2f1, hyp2f1_many, ln_gamma};

/// One fitted parameter with its standard error and 95% interval.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Estimate {
    /// Parameter name.
    pub name: String,
    /// Estimate.
    pub value: f64,
    /// Standard error from the inverse Hessian of the log-likelihood (`None`: not invertible).
    pub std_error: Option<f64>,
    /// Lower end of the 95% Wald interval (on the log scale, transformed back).
    pub ci_low: Option<f64>,
    /// Upper end of the 95% Wald interval.
    pub ci_high: Option<f64>,
    /// This parameter's row of the covariance matrix of the log-parameters (the inverse of the
    /// negative Hessian of the log-likelihood), for intervals of predictions; `None` when the
    /// Hessian is not invertible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_covariance: Option<Vec<f64>>,
}

/// The covariance matrix of the log-parameters from the estimates' rows; `None` when a row is
/// missing or the matrix has no positive diagonal.
pub fn log_covariance(estimates: &[Estimate]) -> Option<Vec<Vec<f64>>> {
    let rows: Option<Vec<Vec<f64>>> = estimates.iter().map(|e| e.log_covariance.clone()).collect();
    let rows = rows.filter(|r| !r.is_empty())?;
    let ok = rows
        .iter()
        .enumerate()
        .all(|(i, r)| r.len() == rows.len() && r[i] > 0.0 && r.iter().all(|v| v.is_finite()));
    ok.then_some(rows)
}

/// Builds the estimates table from log-parameters and the Hessian.
pub(crate) fn estimates(names: &[&str], theta: &[f64], hessian: &[Vec<f64>]) -> Vec<Estimate> {
    let se = standard_errors(theta, hessian);
    let neg: Vec<Vec<f64>> = hessian
        .iter()
        .map(|r| r.iter().map(|x| -x).collect())
        .collect();
    let cov = se.as_ref().and_then(|_| crate::linalg::invert(&neg));
    names
        .iter()
        .enumerate()
        .map(|(i, n)| Estimate {
            name: n.to_string(),
            value: theta[i].exp(),
            std_error: se.as_ref().map(|s| s[i].0),
            ci_low: se.as_ref().map(|s| s[i].1),
            ci_high: se.as_ref().map(|s| s[i].2),
            log_covariance: cov.as_ref().map(|c| c[i].clone()),
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
    /// BG/NBD or MBG/NBD.
    pub variant: Variant,
    /// Purchase-rate shape r.
    pub r: f64,
    /// Purchase-rate scale alpha.
    pub alpha: f64,
    /// Dropout shape a.
    pub a: f64,
    /// Dropout shape b.
    pub b: f64,
    /// Total log-likelihood (natural log, no penalty) of the fitted customers.
    pub log_likelihood: f64,
    /// Customers it was fitted on.
    pub customers: usize,
    /// L2 penalty weight: the fit maximises LL / n - penalizer (r² + α² + a² + b²).
    pub penalizer: f64,
    /// Estimates with standard errors and intervals.
    pub estimates: Vec<Estimate>,
    /// How the optimiser converged.
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
    /// Customers per distinct x.
    count: Vec<f64>,
    /// The distinct T and t_x of the repeat customers and each one's index among them: ln(α+T)
    /// and 1/(α+T) are computed once per distinct value and pass (days over a unit: a few
    /// hundred values).
    t_values: Vec<f64>,
    t_idx: Vec<u32>,
    tx_values: Vec<f64>,
    tx_idx: Vec<u32>,
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
            count: Vec::new(),
            t_values: Vec::new(),
            t_idx: Vec::new(),
            tx_values: Vec::new(),
            tx_idx: Vec::new(),
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
        // the four indexes are independent: built side by side
        let (((zero, x), t_), tx_) = rayon::join(
            || {
                rayon::join(
                    || rayon::join(|| distinct_index(&zero_t), || distinct_index(&d.x)),
                    || distinct_index(&d.t),
                )
            },
            || distinct_index(&d.tx),
        );
        // one-time buyers counted per distinct T
        d.zero = zero.0.into_iter().map(|v| (v, 0.0)).collect();
        for k in zero.1 {
            d.zero[k as usize].1 += 1.0;
        }
        (d.distinct, d.idx) = x;
        (d.t_values, d.t_idx) = t_;
        (d.tx_values, d.tx_idx) = tx_;
        d.count = vec![0.0; d.distinct.len()];
        for &k in &d.idx {
            d.count[k as usize] += 1.0;
        }
        d
    }

    /// Every k-th customer ([`sample_stride`]); `None` when there are too few customers for a
    /// sample to save time. The starts of the fit run on it.
    fn sample(x: &[f64], tx: &[f64], t: &[f64]) -> Option<Self> {
        let k = sample_stride(x.len())?;
        let pick = |v: &[f64]| -> Vec<f64> { v.iter().step_by(k).copied().collect() };
        let (xs, txs, ts) = (pick(x), pick(tx), pick(t));
        // the sample must identify the model too; else the starts run on all customers
        xs.iter()
            .any(|&v| v > 0.0)
            .then(|| Self::new(&xs, &txs, &ts))
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

/// (r, α, a, b) from log-parameters; `None` when one is not a positive finite number.
fn params(theta: &[f64]) -> Option<[f64; 4]> {
    let p = [
        theta[0].exp(),
        theta[1].exp(),
        theta[2].exp(),
        theta[3].exp(),
    ];
    p.iter().all(|v| v.is_finite() && *v > 0.0).then_some(p)
}

impl Shared {
    fn of(theta: &[f64]) -> Option<Shared> {
        let [r, al, a, b] = params(theta)?;
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

/// Log-likelihood (total), its gradient and its Hessian in log-parameter space.
///
/// Per customer with u = ∇A3 - ∇A4 and w4 = e^A4 / (e^A3 + e^A4) (0 when x = 0), w3 = 1 - w4:
/// ∇LL = ∇A1 + ∇A2 + w3 ∇A3 + w4 ∇A4 and
/// ∇²LL = ∇²A1 + ∇²A2 + w3 ∇²A3 + w4 ∇²A4 + w3 w4 u uᵀ (the Hessian of ln(e^A3 + e^A4)).
/// The lnΓ, ψ and ψ₁ terms of A1 and A2 depend on x alone: they are summed per distinct x
/// times its count, ln(α+T) and ln(α+t_x) per distinct value. Each repeat customer costs one
/// exp and one ln_1p.
fn ll_hess(theta: &[f64], d: &Data) -> (f64, [f64; 4], [[f64; 4]; 4]) {
    let Some([r, al, a, b]) = params(theta) else {
        return (f64::NEG_INFINITY, [0.0; 4], [[0.0; 4]; 4]);
    };
    // Σ over distinct x of count x (A1 - r ln α, A2, their derivatives), with the lnΓ, ψ and ψ₁
    // differences of A1 and A2 from their recurrences (accurate when a + b is huge)
    let mut acc = [0.0f64; 15];
    // per distinct x: ln(b+x-1), 1/(b+x-1)
    let per_x: Vec<[f64; 2]> = d
        .distinct
        .iter()
        .zip(&d.count)
        .map(|(&x, &c)| {
            let [lg_r, dg_r, tg_r] = gamma_diffs(r, x);
            let [lg_b, dg_b, tg_b] = gamma_diffs(b, x);
            let [lg_ab, dg_ab, tg_ab] = gamma_diffs(a + b, x);
            acc[0] += c * (lg_r + lg_b - lg_ab);
            acc[1] += c * dg_r;
            acc[3] -= c * dg_ab;
            acc[4] += c * (dg_b - dg_ab);
            acc[5] += c * tg_r;
            acc[12] -= c * tg_ab;
            acc[13] -= c * tg_ab;
            acc[14] += c * (tg_b - tg_ab);
            [(b + x - 1.0).ln(), 1.0 / (b + x - 1.0)]
        })
        .collect();
    let (ln_a, inv_a) = (a.ln(), 1.0 / a);
    // (ln(α+v), 1/(α+v)) per distinct T and t_x
    let table = |values: &[f64]| -> Vec<[f64; 2]> {
        values
            .iter()
            .map(|&v| [(al + v).ln(), 1.0 / (al + v)])
            .collect()
    };
    let (t_tab, tx_tab) = (table(&d.t_values), table(&d.tx_values));
    // accumulators (natural parameters, before the terms every customer shares):
    // 0 LL, 1..4 gradient r α a b, 5 rr, 6 rα, 7 αα, 8 ra, 9 rb, 10 αa, 11 αb, 12 aa, 13 ab, 14 bb
    let rep = block_fold::<15>(d.x.len(), 4096, |s, i| {
        let x = d.x[i];
        let [l_b, i_b] = per_x[d.idx[i] as usize];
        let [l_t, it] = t_tab[d.t_idx[i] as usize];
        let [l_tx, itx] = tx_tab[d.tx_idx[i] as usize];
        let rx = r + x;
        let a3 = -rx * l_t;
        let a4 = ln_a - l_b - rx * l_tx;
        let diff = a4 - a3;
        let ed = (-diff.abs()).exp();
        let lse = a3.max(a4) + ed.ln_1p();
        let w4 = if diff > 0.0 {
            1.0 / (1.0 + ed)
        } else {
            ed / (1.0 + ed)
        };
        let w3 = 1.0 - w4;
        let w34 = w3 * w4;
        // u = ∇A3 - ∇A4 over (r, α, a, b)
        let u = [l_tx - l_t, rx * (itx - it), -inv_a, i_b];
        s[0] += lse;
        s[1] -= w3 * l_t + w4 * l_tx;
        s[2] -= rx * (w3 * it + w4 * itx);
        s[3] += w4 * inv_a;
        s[4] -= w4 * i_b;
        s[5] += w34 * u[0] * u[0];
        s[6] += w34 * u[0] * u[1] - (w3 * it + w4 * itx);
        s[7] += w34 * u[1] * u[1] + rx * (w3 * it * it + w4 * itx * itx);
        s[8] += w34 * u[0] * u[2];
        s[9] += w34 * u[0] * u[3];
        s[10] += w34 * u[1] * u[2];
        s[11] += w34 * u[1] * u[3];
        s[12] += w34 * u[2] * u[2] - w4 * inv_a * inv_a;
        s[13] += w34 * u[2] * u[3];
        s[14] += w34 * u[3] * u[3] + w4 * i_b * i_b;
    });
    for (t, v) in acc.iter_mut().zip(rep) {
        *t += v;
    }
    // customers without repeat purchases: LL = r ln α - r ln(α+T)
    for &(t, c) in &d.zero {
        let (l_t, it) = ((al + t).ln(), 1.0 / (al + t));
        acc[0] -= c * r * l_t;
        acc[1] -= c * l_t;
        acc[2] -= c * r * it;
        acc[6] -= c * it;
        acc[7] += c * r * it * it;
    }
    // r ln α, shared by every customer
    let nf = d.n as f64;
    let ll = acc[0] + nf * r * al.ln();
    let g = [acc[1] + nf * al.ln(), acc[2] + nf * r / al, acc[3], acc[4]];
    let (rr, ra_, aa_) = (acc[5], acc[6] + nf / al, acc[7] - nf * r / (al * al));
    let h = [
        [rr, ra_, acc[8], acc[9]],
        [ra_, aa_, acc[10], acc[11]],
        [acc[8], acc[10], acc[12], acc[13]],
        [acc[9], acc[11], acc[13], acc[14]],
    ];
    (ll, g, h)
}

/// Total log-likelihood of a variant at log-parameters `theta`.
fn log_likelihood(variant: Variant, theta: &[f64], d: &Data) -> f64 {
    match variant {
        Variant::Bgnbd => ll_hess(theta, d).0,
        Variant::Mbgnbd => ll_grad_mbg(theta, d).0,
    }
}

/// [`ll_hess`] as an optimiser objective in log-parameters.
fn eval_bgnbd(theta: &[f64], d: &Data, n: f64, penalizer: f64) -> Eval {
    let (ll, g, h) = ll_hess(theta, d);
    if !ll.is_finite() {
        return penalized(ll, &[0.0; 4], None, theta, n, penalizer);
    }
    let p = [
        theta[0].exp(),
        theta[1].exp(),
        theta[2].exp(),
        theta[3].exp(),
    ];
    let (grad, hess) = to_log_space(p, g, h);
    penalized(ll, &grad, Some(hess), theta, n, penalizer)
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
        let sample = Data::sample(frequency, recency, t);
        let n = frequency.len() as f64;
        let eval = |th: &[f64], d: &Data| -> Eval {
            match variant {
                Variant::Bgnbd => eval_bgnbd(th, d, d.n as f64, penalizer),
                Variant::Mbgnbd => {
                    let (ll, g) = ll_grad_mbg(th, d);
                    penalized(ll, &g, None, th, d.n as f64, penalizer)
                }
            }
        };
        let objective = |th: &[f64]| eval(th, &d);
        let on_sample = sample.as_ref().map(|s| move |th: &[f64]| eval(th, s));
        let mean_t = t.iter().sum::<f64>() / n;
        let la = mean_t.max(1e-3).ln();
        let starts = vec![
            vec![0.0, la, 0.0, 0.0],
            vec![(0.5f64).ln(), la - 1.0, (0.5f64).ln(), (2.0f64).ln()],
            vec![0.0, 0.0, 0.0, 0.0],
        ];
        let o = maximize_warm(
            &objective,
            on_sample.as_ref().map(|f| f as &Objective),
            &starts,
        )
        .ok_or_else(|| {
            Error::Data(format!(
                "{name}: the log-likelihood is not finite at any start"
            ))
        })?;
        // without a penalty the objective is the log-likelihood
        let ll = if penalizer == 0.0 {
            o.value
        } else {
            log_likelihood(variant, &o.theta, &d)
        };
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
        log_likelihood(self.variant, &th, &d)
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

    /// The gradient of logit P(alive | x, t_x, T) in the log-parameters (ln r, ln alpha, ln a,
    /// ln b), in closed form: logit P = -ln A with ln A = (r+x) ln((alpha+T)/(alpha+t_x)) + ln a
    /// - ln(b+x-1) (MBG/NBD: b+x). Zero where P(alive) is 1 (BG/NBD without repeat purchases).
    pub fn logit_p_alive_gradient(&self, x: f64, tx: f64, t: f64) -> [f64; 4] {
        let bx = match self.variant {
            Variant::Bgnbd if x == 0.0 => return [0.0; 4],
            Variant::Bgnbd => self.b + x - 1.0,
            Variant::Mbgnbd => self.b + x,
        };
        let (r, al) = (self.r, self.alpha);
        let l = ((al + t) / (al + tx)).ln();
        [
            -r * l,
            -al * (r + x) * (1.0 / (al + t) - 1.0 / (al + tx)),
            -1.0,
            self.b / bx,
        ]
    }

    /// Expected repeat purchases in the next `horizon` time units given the history (equation 10
    /// of the paper; lifetimes `conditional_expected_number_of_purchases_up_to_time`): P(alive)
    /// times [`BgNbd::expected_if_alive`].
    pub fn expected_purchases(&self, horizon: f64, x: f64, tx: f64, t: f64) -> f64 {
        self.expected_if_alive(horizon, x, t) / self.denominator(x, tx, t)
    }

    /// Equation 10 without its denominator, which is 1 / P(alive): the expected repeat purchases
    /// in the next `horizon` time units of a customer known to be alive. It depends on x and T
    /// but not on t_x, so customers sharing (x, T) share it.
    pub fn expected_if_alive(&self, horizon: f64, x: f64, t: f64) -> f64 {
        let (r, al, a, b) = (self.r, self.alpha, self.a, self.b);
        if horizon <= 0.0 {
            return 0.0;
        }
        if self.variant == Variant::Mbgnbd {
            let z = horizon / (al + t + horizon);
            let hyp = hyp2f1(r + x, b + x + 1.0, a + b + x, z).unwrap_or(f64::NAN);
            let first = (a + b + x) / (a - 1.0);
            return first * (1.0 - hyp * ((al + t) / (al + horizon + t)).powf(r + x));
        }
        let (ha, hb, hc) = (r + x, b + x, a + b + x - 1.0);
        let z = horizon / (al + t + horizon);
        let ln_hyp = match hyp2f1(ha, hb, hc, z) {
            Some(v) if v > 0.0 && v.is_finite() => v.ln(),
            // 2F1 is negative when a + b + x - 1 is just above -1 (x = 0 with a and b near 0, a
            // dropout Beta piled at 0 and 1, seen on real data): no logarithm, and small enough
            // not to overflow
            Some(v) if v.is_finite() => {
                let first = (a + b + x - 1.0) / (a - 1.0);
                return first * (1.0 - v * ((al + t) / (al + horizon + t)).powf(r + x));
            }
            // Euler's transformation, as lifetimes falls back to
            _ => {
                hyp2f1(hc - ha, hc - hb, hc, z).map_or(f64::NAN, |v| v.ln())
                    + (hc - ha - hb) * (1.0 - z).ln()
            }
        };
        self.if_alive_from_ln_hyp(ln_hyp, horizon, x, t)
    }

    /// The denominator of equation 10, 1 / P(alive) (it does not depend on the horizon).
    fn denominator(&self, x: f64, tx: f64, t: f64) -> f64 {
        let (r, al, a, b) = (self.r, self.alpha, self.a, self.b);
        let ratio = ((al + t) / (al + tx)).powf(r + x);
        1.0 + match self.variant {
            Variant::Mbgnbd => (a / (b + x)) * ratio,
            Variant::Bgnbd if x > 0.0 => (a / (b + x - 1.0)) * ratio,
            Variant::Bgnbd => 0.0,
        }
    }

    /// BG/NBD's equation 10 without its denominator, given the log of its hypergeometric term
    /// 2F1(r+x, b+x; a+b+x-1; z).
    fn if_alive_from_ln_hyp(&self, ln_hyp: f64, horizon: f64, x: f64, t: f64) -> f64 {
        let (r, al, a, b) = (self.r, self.alpha, self.a, self.b);
        let first = (a + b + x - 1.0) / (a - 1.0);
        let second = 1.0 - (ln_hyp + (r + x) * ((al + t) / (al + horizon + t)).ln()).exp();
        first * second
    }

    /// [`BgNbd::expected_if_alive`] at several horizons (`out[j]` for `horizons[j]`): the
    /// hypergeometric series of all horizons summed in one pass (`hyp2f1_many`); MBG/NBD, and
    /// any horizon whose series fails, one at a time.
    pub fn expected_if_alive_many(&self, horizons: &[f64], x: f64, t: f64, out: &mut [f64]) {
        let (r, al, a, b) = (self.r, self.alpha, self.a, self.b);
        if self.variant == Variant::Mbgnbd || horizons.iter().any(|&h| h <= 0.0) {
            for (o, &h) in out.iter_mut().zip(horizons) {
                *o = self.expected_if_alive(h, x, t);
            }
            return;
        }
        let (ha, hb, hc) = (r + x, b + x, a + b + x - 1.0);
        let zs: SmallVec<[f64; 16]> = horizons.iter().map(|&h| h / (al + t + h)).collect();
        let mut hyp: SmallVec<[Option<f64>; 16]> = smallvec::smallvec![None; zs.len()];
        hyp2f1_many(ha, hb, hc, &zs, &mut hyp);
        for ((o, &h), v) in out.iter_mut().zip(horizons).zip(hyp) {
            *o = match v {
                Some(v) if v > 0.0 && v.is_finite() => self.if_alive_from_ln_hyp(v.ln(), h, x, t),
                _ => self.expected_if_alive(h, x, t),
            };
        }
    }

    /// [`BgNbd::expected_purchases`] at several horizons for one customer (`out[j]` for
    /// `horizons[j]`), from [`BgNbd::expected_if_alive_many`].
    pub fn expected_purchases_many(
        &self,
        horizons: &[f64],
        x: f64,
        tx: f64,
        t: f64,
        out: &mut [f64],
    ) {
        self.expected_if_alive_many(horizons, x, t, out);
        let den = self.denominator(x, tx, t);
        out.iter_mut().for_each(|o| *o /= den);
    }

    /// P(X(t) = n): the probability that a randomly chosen new customer makes exactly `n` repeat
    /// purchases in `t` time units (BG/NBD paper, equation 8; lifetimes
    /// `probability_of_n_purchases_up_to_time`). Computed in logs. BG/NBD only (`None` for
    /// MBG/NBD).
    pub fn probability_of_n_purchases(&self, t: f64, n: u32) -> Option<f64> {
        if self.variant != Variant::Bgnbd {
            return None;
        }
        if t <= 0.0 {
            // no time to buy (a customer whose first purchase is on the calibration end): the
            // formula's 0 x ln 0 would be NaN
            return Some(if n == 0 { 1.0 } else { 0.0 });
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
    /// lifetimes' `expected_number_of_purchases_up_to_time` of `BetaGeoFitter` and
    /// `ModifiedBetaGeoFitter`).
    pub fn expected_purchases_new(&self, t: f64) -> f64 {
        let (r, al, a, b) = (self.r, self.alpha, self.a, self.b);
        let z = t / (al + t);
        let lead = (al / (al + t)).powf(r);
        match self.variant {
            Variant::Bgnbd => {
                let hyp = hyp2f1(r, b, a + b - 1.0, z).unwrap_or(f64::NAN);
                (a + b - 1.0) / (a - 1.0) * (1.0 - lead * hyp)
            }
            // lifetimes' ModifiedBetaGeoFitter (Batislam et al. 2007, equation 6)
            Variant::Mbgnbd => {
                let hyp = hyp2f1(r, b + 1.0, a + b, z).unwrap_or(f64::NAN);
                b / (a - 1.0) * (1.0 - lead * hyp)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Online Retail (the CC BY 4.0 sample, calibration to 2011-09-01) fits a ~ 4e-8 and
    /// b ~ 1e-6: for x = 0, 2F1(r, b; a + b - 1; z) is negative (scipy 1.17.1
    /// `hyp2f1(0.78129, 1.02492e-6, a + b - 1, 0.70750)` = -2.2093465812) and the expectation
    /// must still be finite: 1.8455758530 (eq. 10 evaluated with scipy's value).
    #[test]
    fn negative_hypergeometric_term_is_not_nan() {
        let bg = BgNbd {
            r: 0.7812938233464052,
            alpha: 9.212721124330509,
            a: 3.688329258534073e-08,
            b: 1.0249161733406252e-06,
            variant: Variant::Bgnbd,
            log_likelihood: 0.0,
            customers: 0,
            penalizer: 0.0,
            estimates: Vec::new(),
            diagnostics: None,
        };
        let e = bg.expected_if_alive(52.0, 0.0, 12.285714);
        assert!((e - 1.8455758530479751).abs() < 1e-8, "{e}");
        let hs = [4.345, 52.0];
        let mut out = [0.0; 2];
        bg.expected_if_alive_many(&hs, 0.0, 12.285714, &mut out);
        assert!((out[1] - e).abs() < 1e-12 && out[0].is_finite(), "{out:?}");
    }

    use super::*;

    /// A small population with one-time buyers, several x and distinct (t_x, T).
    fn data() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let n = 300;
        let x: Vec<f64> = (0..n).map(|i| (i % 6) as f64).collect();
        let t: Vec<f64> = (0..n).map(|i| 10.0 + (i % 37) as f64 * 1.7).collect();
        let tx = (0..n)
            .map(|i| {
                if x[i] == 0.0 {
                    0.0
                } else {
                    t[i] * ((i % 9) as f64 + 0.5) / 10.0
                }
            })
            .collect();
        (x, tx, t)
    }

    #[test]
    fn analytic_gradient_and_hessian_match_differences() {
        // central differences of the value (for the gradient) and of the analytic gradient
        // (for the Hessian), at a point away from the optimum
        let (x, tx, t) = data();
        let d = Data::new(&x, &tx, &t);
        let theta = [(0.4f64).ln(), (3.0f64).ln(), (0.7f64).ln(), (2.2f64).ln()];
        for c in [0.0, 0.05] {
            // with and without the L2 penalty
            super::super::optim::assert_derivatives(
                &|th: &[f64]| eval_bgnbd(th, &d, d.n as f64, c),
                &theta,
            );
        }
    }
}
