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
use super::optim::{
    maximize_warm, penalized, sample_stride, to_log_space, Diagnostics, Eval, Objective,
};
use super::{block_fold, distinct_index};
use crate::error::{Error, Result};
use crate::stats::{digamma, ln_gamma, trigamma};

/// A fitted Gamma-Gamma model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GammaGamma {
    /// Shape p of the order values.
    pub p: f64,
    /// Shape q of the customers' mean order values.
    pub q: f64,
    /// Scale v of the customers' mean order values.
    pub v: f64,
    /// Total log-likelihood (no penalty) over the customers with frequency > 0.
    pub log_likelihood: f64,
    /// Customers fitted (frequency > 0 and monetary value > 0).
    pub customers: usize,
    /// Repeat customers left out of the fit because their mean spend is 0 (their $0 rows are
    /// purchases under `--purchases non-negative`; the Gamma distribution has no mass at 0).
    #[serde(default)]
    pub zero_spend_left_out: usize,
    /// L2 penalty on the log-parameters it was fitted with.
    pub penalizer: f64,
    /// Pearson correlation of frequency and monetary value among the fitted customers.
    pub frequency_monetary_correlation: f64,
    /// Estimates with standard errors and intervals.
    pub estimates: Vec<Estimate>,
    /// How the optimiser converged.
    pub diagnostics: Option<Diagnostics>,
}

/// The fitting data: repeat customers' x and m, the per-x counts, and the sums that do not
/// depend on the parameters.
struct Data {
    x: Vec<f64>,
    m: Vec<f64>,
    distinct: Vec<f64>,
    count: Vec<f64>,
    /// Σ ln m and Σ x ln m over the customers.
    sum_ln_m: f64,
    sum_x_ln_m: f64,
}

impl Data {
    fn new(x: Vec<f64>, m: Vec<f64>) -> Data {
        // the distinct x and the constant sums side by side
        let ((distinct, count), [sum_ln_m, sum_x_ln_m]) = rayon::join(
            || {
                let (distinct, idx) = distinct_index(&x);
                let mut count = vec![0.0; distinct.len()];
                for &k in &idx {
                    count[k as usize] += 1.0;
                }
                (distinct, count)
            },
            || {
                block_fold::<2>(x.len(), 4096, |s, i| {
                    let l = m[i].ln();
                    s[0] += l;
                    s[1] += x[i] * l;
                })
            },
        );
        Data {
            x,
            m,
            distinct,
            count,
            sum_ln_m,
            sum_x_ln_m,
        }
    }

    /// Every k-th customer ([`sample_stride`]); `None` for small data.
    fn sample(&self) -> Option<Data> {
        let k = sample_stride(self.x.len())?;
        let pick = |v: &[f64]| -> Vec<f64> { v.iter().step_by(k).copied().collect() };
        Some(Data::new(pick(&self.x), pick(&self.m)))
    }
}

/// Log-likelihood (total), gradient and Hessian in the natural parameters (p, q, v).
///
/// LL = Σₓ cₓ [lnΓ(px+q) - lnΓ(px) - lnΓ(q) + px ln x] + n q ln v + p Σ x ln m - Σ ln m
///      - p Σ x ln(xm+v) - q Σ ln(xm+v);
/// the lnΓ, ψ and ψ₁ terms are summed per distinct x, so each customer costs one ln and one
/// division (six running sums of ln(xm+v), 1/(xm+v) and 1/(xm+v)², plain and times x).
fn ll_hess(theta: &[f64], d: &Data) -> (f64, [f64; 3], [[f64; 3]; 3]) {
    let (p, q, v) = (theta[0].exp(), theta[1].exp(), theta[2].exp());
    if ![p, q, v].iter().all(|z| z.is_finite() && *z > 0.0) {
        return (f64::NEG_INFINITY, [0.0; 3], [[0.0; 3]; 3]);
    }
    let (lg_q, dg_q, tg_q) = (ln_gamma(q), digamma(q), trigamma(q));
    // per distinct x: value, d/dp, d/dq, pp, pq, qq
    let mut t = [0.0f64; 6];
    for (&x, &c) in d.distinct.iter().zip(&d.count) {
        let (px, ln_x) = (p * x, x.ln());
        let (dg_s, tg_s) = (digamma(px + q), trigamma(px + q));
        t[0] += c * (ln_gamma(px + q) - ln_gamma(px) - lg_q + px * ln_x);
        t[1] += c * x * (dg_s - digamma(px) + ln_x);
        t[2] += c * (dg_s - dg_q);
        t[3] += c * x * x * (tg_s - trigamma(px));
        t[4] += c * x * tg_s;
        t[5] += c * (tg_s - tg_q);
    }
    // Σ ln(xm+v), Σ x ln(xm+v), Σ 1/(xm+v), Σ x/(xm+v), Σ 1/(xm+v)², Σ x/(xm+v)²
    let s = block_fold::<6>(d.x.len(), 4096, |s, i| {
        let x = d.x[i];
        let y = x * d.m[i] + v;
        let (l, iy) = (y.ln(), 1.0 / y);
        s[0] += l;
        s[1] += x * l;
        s[2] += iy;
        s[3] += x * iy;
        s[4] += iy * iy;
        s[5] += x * iy * iy;
    });
    let n = d.x.len() as f64;
    let ln_v = v.ln();
    let ll = t[0] + n * q * ln_v + p * d.sum_x_ln_m - d.sum_ln_m - p * s[1] - q * s[0];
    let g = [
        t[1] + d.sum_x_ln_m - s[1],
        t[2] + n * ln_v - s[0],
        n * q / v - p * s[3] - q * s[2],
    ];
    let (pv, qv) = (-s[3], n / v - s[2]);
    let h = [
        [t[3], t[4], pv],
        [t[4], t[5], qv],
        [pv, qv, -n * q / (v * v) + p * s[5] + q * s[4]],
    ];
    (ll, g, h)
}

/// [`ll_hess`] as an optimiser objective in log-parameters.
fn eval(theta: &[f64], d: &Data, penalizer: f64) -> Eval {
    let n = d.x.len() as f64;
    let (ll, g, h) = ll_hess(theta, d);
    if !ll.is_finite() {
        return penalized(ll, &[0.0; 3], None, theta, n, penalizer);
    }
    let p = [theta[0].exp(), theta[1].exp(), theta[2].exp()];
    let (grad, hess) = to_log_space(p, g, h);
    penalized(ll, &grad, Some(hess), theta, n, penalizer)
}

impl GammaGamma {
    /// Fits on the customers with `frequency > 0` (others are ignored; their monetary value is
    /// 0 by convention). Repeat customers whose monetary value is exactly 0 are left out and
    /// counted (`zero_spend_left_out`), as lifetimes' users filter `monetary_value > 0`; a
    /// negative or non-finite monetary value is an error.
    pub fn fit(frequency: &[f64], monetary_value: &[f64], penalizer: f64) -> Result<GammaGamma> {
        if frequency.len() != monetary_value.len() {
            return Err(Error::Config(
                "frequency and monetary_value differ in length".into(),
            ));
        }
        let mut x = Vec::new();
        let mut m = Vec::new();
        let mut zero_spend = 0;
        for (i, (&f, &mv)) in frequency.iter().zip(monetary_value).enumerate() {
            if f > 0.0 {
                if mv == 0.0 {
                    zero_spend += 1;
                    continue;
                }
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
        let n = x.len() as f64;
        let correlation = pearson(&x, &m);
        let d = Data::new(x, m);
        let sample = d.sample();
        let objective = |th: &[f64]| eval(th, &d, penalizer);
        let on_sample = sample
            .as_ref()
            .map(|s| move |th: &[f64]| eval(th, s, penalizer));
        let mean_m = d.m.iter().sum::<f64>() / n;
        let starts = vec![
            vec![0.0, 0.0, 0.0],
            vec![(2.0f64).ln(), (3.0f64).ln(), (mean_m * 2.0).max(1e-6).ln()],
            vec![(5.0f64).ln(), (2.0f64).ln(), mean_m.max(1e-6).ln()],
        ];
        let o = maximize_warm(
            &objective,
            on_sample.as_ref().map(|f| f as &Objective),
            &starts,
        )
        .ok_or_else(|| {
            Error::Data("Gamma-Gamma: the log-likelihood is not finite at any start".into())
        })?;
        if !o.diagnostics.converged {
            return Err(Error::Data(format!(
                "Gamma-Gamma did not converge ({}; gradient norm {:.3e})",
                o.diagnostics.message, o.diagnostics.gradient_norm
            )));
        }
        // without a penalty the objective is the log-likelihood
        let ll = if penalizer == 0.0 {
            o.value
        } else {
            ll_hess(&o.theta, &d).0
        };
        Ok(GammaGamma {
            p: o.theta[0].exp(),
            q: o.theta[1].exp(),
            v: o.theta[2].exp(),
            log_likelihood: ll,
            customers: d.x.len(),
            zero_spend_left_out: zero_spend,
            penalizer,
            frequency_monetary_correlation: correlation,
            estimates: estimates(&["p", "q", "v"], &o.theta, &o.hessian),
            diagnostics: Some(o.diagnostics),
        })
    }

    /// Total log-likelihood of these parameters on the customers with frequency > 0.
    pub fn log_likelihood_of(&self, frequency: &[f64], monetary_value: &[f64]) -> f64 {
        let (x, m): (Vec<f64>, Vec<f64>) = frequency
            .iter()
            .zip(monetary_value)
            .filter(|(f, m)| **f > 0.0 && **m > 0.0)
            .map(|(f, m)| (*f, *m))
            .unzip();
        let th = [self.p.ln(), self.q.ln(), self.v.ln()];
        ll_hess(&th, &Data::new(x, m)).0
    }

    /// The same model with the parameters exp(`theta`) (p, q, v), for predictions at other
    /// parameters.
    pub fn with_log_params(&self, theta: &[f64]) -> GammaGamma {
        let mut m = self.clone();
        (m.p, m.q, m.v) = (theta[0].exp(), theta[1].exp(), theta[2].exp());
        m
    }

    /// Its parameters in log space (p, q, v).
    pub fn log_params(&self) -> Vec<f64> {
        vec![self.p.ln(), self.q.ln(), self.v.ln()]
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
    // two passes of fixed blocks: the same bits at any number of threads
    let n = a.len() as f64;
    let [sa, sb] = block_fold::<2>(a.len(), 4096, |s, i| {
        s[0] += a[i];
        s[1] += b[i];
    });
    let (ma, mb) = (sa / n, sb / n);
    let [sab, saa, sbb] = block_fold::<3>(a.len(), 4096, |s, i| {
        let (x, y) = (a[i] - ma, b[i] - mb);
        s[0] += x * y;
        s[1] += x * x;
        s[2] += y * y;
    });
    sab / (saa * sbb).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analytic_gradient_and_hessian_match_differences() {
        // central differences of the value (gradient) and of the analytic gradient (Hessian)
        let x: Vec<f64> = (0..200).map(|i| (1 + i % 7) as f64).collect();
        let m: Vec<f64> = (0..200)
            .map(|i| 5.0 + (i * 37 % 101) as f64 * 0.9)
            .collect();
        let d = Data::new(x, m);
        let theta = [(3.0f64).ln(), (2.5f64).ln(), (12.0f64).ln()];
        for c in [0.0, 0.05] {
            // with and without the L2 penalty
            super::super::optim::assert_derivatives(&|th: &[f64]| eval(th, &d, c), &theta);
        }
    }
}
