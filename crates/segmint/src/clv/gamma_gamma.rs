//! The Gamma-Gamma model of average order value (Fader, Hardie & Lee 2005, "RFM and CLV"),
//! fitted on customers with repeat purchases. Log-likelihood per customer with x repeat
//! purchases of mean value m, as lifetimes 0.11.3 (`GammaGammaFitter`):
//!
//! ```text
//! LL = lnΓ(px+q) - lnΓ(px) - lnΓ(q) + q ln v + (px-1) ln m + px ln x - (px+q) ln(xm+v)
//! ```
//!
//! The model assumes spend is independent of purchase frequency; [`GammaGamma::fit`] reports
//! their Pearson correlation among the fitted customers so the assumption can be checked (the
//! usual advice: worry above |0.3|).

use serde::{Deserialize, Serialize};

use super::bgnbd::{estimates, Estimate};
use super::optim::{maximize, penalized, Diagnostics};
use super::{block_fold, distinct_index};
use crate::error::{Error, Result};
use crate::stats::{digamma, ln_gamma};

/// A fitted Gamma-Gamma model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub v: f64,
    /// Total log-likelihood (no penalty) over the customers with frequency > 0.
    pub log_likelihood: f64,
    /// Customers fitted (frequency > 0).
    pub customers: usize,
    pub penalizer: f64,
    /// Pearson correlation of frequency and monetary value among the fitted customers.
    pub frequency_monetary_correlation: f64,
    pub estimates: Vec<Estimate>,
    pub diagnostics: Option<Diagnostics>,
}

fn ll_grad(theta: &[f64], x: &[f64], m: &[f64], distinct: &[f64], idx: &[u32]) -> (f64, [f64; 3]) {
    let (p, q, v) = (theta[0].exp(), theta[1].exp(), theta[2].exp());
    if ![p, q, v].iter().all(|z| z.is_finite() && *z > 0.0) {
        return (f64::NEG_INFINITY, [0.0; 3]);
    }
    let (lg_q, dg_q) = (ln_gamma(q), digamma(q));
    // per distinct x: lnΓ(px+q) - lnΓ(px) - lnΓ(q), ψ(px+q), ψ(px), ln x
    let tab: Vec<[f64; 4]> = distinct
        .iter()
        .map(|&x| {
            [
                ln_gamma(p * x + q) - ln_gamma(p * x) - lg_q,
                digamma(p * x + q),
                digamma(p * x),
                x.ln(),
            ]
        })
        .collect();
    let ln_v = v.ln();
    let acc = block_fold::<4>(x.len(), 4096, |s, i| {
        let (xi, mi) = (x[i], m[i]);
        let e = &tab[idx[i] as usize];
        let (ln_m, ln_xmv) = (mi.ln(), (xi * mi + v).ln());
        s[0] += e[0] + q * ln_v + (p * xi - 1.0) * ln_m + p * xi * e[3] - (p * xi + q) * ln_xmv;
        s[1] += xi * (e[1] - e[2] + ln_m + e[3] - ln_xmv);
        s[2] += e[1] - dg_q + ln_v - ln_xmv;
        s[3] += q / v - (p * xi + q) / (xi * mi + v);
    });
    (acc[0], [p * acc[1], q * acc[2], v * acc[3]])
}

impl GammaGamma {
    /// Fits on the customers with `frequency > 0` (others are ignored; their monetary value is
    /// 0 by convention). Monetary values of repeat customers must be > 0.
    pub fn fit(frequency: &[f64], monetary_value: &[f64], penalizer: f64) -> Result<GammaGamma> {
        if frequency.len() != monetary_value.len() {
            return Err(Error::Config(
                "frequency and monetary_value differ in length".into(),
            ));
        }
        let mut x = Vec::new();
        let mut m = Vec::new();
        for (i, (&f, &mv)) in frequency.iter().zip(monetary_value).enumerate() {
            if f > 0.0 {
                if !(mv > 0.0 && mv.is_finite()) {
                    return Err(Error::Data(format!(
                        "customer #{}: monetary value {mv} with frequency {f}: Gamma-Gamma needs positive spend",
                        i + 1
                    )));
                }
                x.push(f);
                m.push(mv);
            }
        }
        if x.len() < 2 {
            return Err(Error::Data(format!(
                "Gamma-Gamma needs customers with repeat purchases; found {}",
                x.len()
            )));
        }
        let (distinct, idx) = distinct_index(&x);
        let n = x.len() as f64;
        let objective = |th: &[f64]| -> (f64, Vec<f64>) {
            let (ll, g) = ll_grad(th, &x, &m, &distinct, &idx);
            penalized(ll, &g, th, n, penalizer)
        };
        let mean_m = m.iter().sum::<f64>() / n;
        let starts = vec![
            vec![0.0, 0.0, 0.0],
            vec![(2.0f64).ln(), (3.0f64).ln(), (mean_m * 2.0).max(1e-6).ln()],
            vec![(5.0f64).ln(), (2.0f64).ln(), mean_m.max(1e-6).ln()],
        ];
        let o = maximize(&objective, &starts).ok_or_else(|| {
            Error::Data("Gamma-Gamma: the log-likelihood is not finite at any start".into())
        })?;
        if !o.diagnostics.converged {
            return Err(Error::Data(format!(
                "Gamma-Gamma did not converge ({}; gradient norm {:.3e})",
                o.diagnostics.message, o.diagnostics.gradient_norm
            )));
        }
        let ll = ll_grad(&o.theta, &x, &m, &distinct, &idx).0;
        Ok(GammaGamma {
            p: o.theta[0].exp(),
            q: o.theta[1].exp(),
            v: o.theta[2].exp(),
            log_likelihood: ll,
            customers: x.len(),
            penalizer,
            frequency_monetary_correlation: pearson(&x, &m),
            estimates: estimates(&["p", "q", "v"], &o.theta, &o.hessian),
            diagnostics: Some(o.diagnostics),
        })
    }

    /// Total log-likelihood of these parameters on the customers with frequency > 0.
    pub fn log_likelihood_of(&self, frequency: &[f64], monetary_value: &[f64]) -> f64 {
        let (x, m): (Vec<f64>, Vec<f64>) = frequency
            .iter()
            .zip(monetary_value)
            .filter(|(f, _)| **f > 0.0)
            .map(|(f, m)| (*f, *m))
            .unzip();
        let (distinct, idx) = distinct_index(&x);
        let th = [self.p.ln(), self.q.ln(), self.v.ln()];
        ll_grad(&th, &x, &m, &distinct, &idx).0
    }

    /// Expected average order value given x repeat purchases of mean m (lifetimes
    /// `conditional_expected_average_profit`): a weighted mean of the customer's and the
    /// population's. Customers without repeat purchases get the population mean v p / (q - 1).
    pub fn expected_order_value(&self, x: f64, m: f64) -> f64 {
        let w = self.p * x / (self.p * x + self.q - 1.0);
        (1.0 - w) * self.v * self.p / (self.q - 1.0) + w * m
    }
}

/// Pearson correlation; NaN when a column is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}
