//! Static covariates for the CLV models (Fader & Hardie 2007, "Incorporating time-invariant
//! covariates into the Pareto/NBD and BG/NBD models", note 019; CLVTools' static covariates):
//! each customer's purchase rate, dropout and order value scale with exp(γ'z) of its attributes z.
//!
//! * Pareto/NBD (CLVTools' parametrisation): α_i = α e^(-γ_p'z), β_i = β e^(-γ_d'z), so the mean
//!   purchase rate r/α_i and the mean dropout rate s/β_i scale by e^(γ_p'z) and e^(γ_d'z).
//! * BG/NBD and MBG/NBD: α_i = α e^(-γ_p'z) as above, and b_i = b e^(-γ_d'z), so the mean
//!   dropout probability a/(a+b_i) is about (a/b) e^(γ_d'z) when it is small. CLVTools scales a
//!   and b by the same factor, which leaves the mean a/(a+b) where it is and moves only its
//!   spread; scaling b alone makes γ_d a dropout effect that reads like Pareto/NBD's.
//! * Gamma-Gamma: v_i = v e^(γ_s'z), so the mean order value p v_i/(q-1) scales by e^(γ_s'z).
//!
//! Covariates are any columns of the customers file: numbers as they are, booleans 0/1,
//! categories one-hot against their most common level. The fits are plain maximum likelihood
//! (a penalty would bias the likelihood-ratio test), start from the fit without covariates on
//! the same customers with all coefficients 0, and centre and scale each covariate inside the
//! optimiser (so one step size suits income, a date and a 0/1 flag); coefficients are reported
//! per unit of the column, the base parameters for a customer at the covariates' means. Customers without a value of a covariate (or missing
//! from the customers file) are left out of these fits and counted.
//!
//! ```no_run
//! use segmint::clv::analysis::{analyze, ClvParams};
//! use segmint::clv::covariates::{fit_covariates, Design};
//! use segmint::data::{ColumnMap, Inputs, TableKind};
//! use segmint::progress::NoProgress;
//!
//! let inputs = Inputs::from_dir("data".as_ref());
//! let tx = inputs.open(TableKind::Transactions, &ColumnMap::new())?;
//! let customers = inputs.open(TableKind::Customers, &ColumnMap::new())?;
//! let params = ClvParams::default();
//! let a = analyze(&tx, &params, &NoProgress)?;
//! let ids = a.summary.customer_ids();
//! let design = Design::load(&customers, &["premium".into(), "region".into()], &ids, &NoProgress)?;
//! let fit = fit_covariates(&a.summary, &design, params.models[0], &NoProgress)?;
//! for c in &fit.transaction.coefficients {
//!     println!("{} {}: {:.3} ± {:.3} (p {:.3})", c.process, c.covariate, c.value, c.std_error.unwrap_or(f64::NAN), c.p_value.unwrap_or(f64::NAN));
//! }
//! println!("LR test: p = {:.4}", fit.transaction.likelihood_ratio.p_value);
//! # Ok::<(), segmint::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use super::analysis::TransactionKind;
use super::bgnbd::{Estimate, Variant};
use super::gamma_gamma::GammaGamma;
use super::optim::{maximize_by_differences, Diagnostics};
use super::{block_fold, Summary};
use crate::data::customers::{AttrColumn, AttrKind, Attributes};
use crate::data::reader::TableReader;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::stats::{chi2_sf, gamma_diffs, ln_add_exp, ln_gamma, p_text};

/// Levels past the reference a category may have as a covariate (each is one coefficient per
/// process).
pub const MAX_LEVELS: usize = 20;

/// One column of the design: a number, a boolean, or one level of a category.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DesignColumn {
    /// Its name in the coefficients: the column's, or `column=level` for a category level.
    pub name: String,
    /// The column of the customers file it comes from.
    pub source: String,
    /// What that column holds.
    pub kind: AttrKind,
    /// For a category level: the level it is compared with (the most common one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Mean over the customers with every covariate.
    pub mean: f64,
    /// Standard deviation over the same customers.
    pub std_dev: f64,
}

/// The covariates of the summary's customers, one row per customer in the summary's order.
#[derive(Debug, Clone)]
pub struct Design {
    /// The columns, in coefficient order.
    pub columns: Vec<DesignColumn>,
    /// Customers × columns, row-major; NaN where a customer has no value.
    values: Vec<f64>,
    rows: usize,
}

impl Design {
    /// Reads the columns `names` of the customers file for the customers `ids` (the summary's
    /// order). The error names a column that is missing, constant or has too many levels.
    pub fn load(
        customers: &TableReader,
        names: &[String],
        ids: &[String],
        progress: &dyn Progress,
    ) -> Result<Design> {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let attrs = Attributes::load(customers, &refs, progress)?;
        for n in names {
            if n == "customer_id" {
                return Err(Error::param(
                    "covariates",
                    "customer_id is the customers' key, not an attribute",
                ));
            }
            if attrs.column(n).is_none() {
                return Err(Error::param("covariates", attrs.why_missing(customers, n)));
            }
        }
        Design::from_attributes(&attrs, names, ids)
    }

    /// [`Design::load`] from attributes already read.
    pub fn from_attributes(attrs: &Attributes, names: &[String], ids: &[String]) -> Result<Design> {
        if names.is_empty() {
            return Err(Error::param("covariates", "needs at least one column"));
        }
        let rows = attrs.rows_for(ids);
        let mut built: Vec<(DesignColumn, Vec<f64>)> = Vec::new();
        for name in names {
            if names.iter().filter(|n| *n == name).count() > 1 {
                return Err(Error::param(
                    "covariates",
                    format!("column {name:?} is named twice"),
                ));
            }
            let col = attrs.column(name).ok_or_else(|| {
                Error::param("covariates", format!("{name:?} is not a customer column"))
            })?;
            let kind = attrs.kind(name).unwrap_or(AttrKind::Number);
            match col {
                AttrColumn::Num(_) | AttrColumn::Bool(_) => {
                    let v = col.numbers(&rows).expect("a number or boolean column");
                    built.push((plain(name, kind), v));
                }
                AttrColumn::Str(codes, dict) => {
                    built.extend(one_hot(name, kind, codes, dict, &rows)?);
                }
            }
        }
        finish(built, ids.len())
    }

    /// A design of numeric columns given as values (one per customer, in the summary's order;
    /// NaN = missing), e.g. from a data frame.
    pub fn from_columns(columns: Vec<(String, Vec<f64>)>) -> Result<Design> {
        let n = columns.first().map_or(0, |(_, v)| v.len());
        if columns.is_empty() {
            return Err(Error::param("covariates", "needs at least one column"));
        }
        if let Some((name, v)) = columns.iter().find(|(_, v)| v.len() != n) {
            return Err(Error::param(
                "covariates",
                format!("column {name:?} has {} values, the first {n}", v.len()),
            ));
        }
        let built = columns
            .into_iter()
            .map(|(name, v)| (plain(&name, AttrKind::Number), v))
            .collect();
        finish(built, n)
    }

    /// Customers (rows).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Customer i's covariates (NaN where missing).
    pub fn row(&self, i: usize) -> &[f64] {
        let k = self.columns.len();
        &self.values[i * k..(i + 1) * k]
    }

    /// Customer i has every covariate.
    pub fn complete(&self, i: usize) -> bool {
        self.row(i).iter().all(|v| v.is_finite())
    }
}

/// The design column of a number or boolean.
fn plain(name: &str, kind: AttrKind) -> DesignColumn {
    DesignColumn {
        name: name.to_string(),
        source: name.to_string(),
        kind,
        reference: None,
        mean: 0.0,
        std_dev: 0.0,
    }
}

/// A category as 0/1 columns, one per level but the most common among the customers (the
/// reference; ties go to the first by name); NaN for a customer without a value.
fn one_hot(
    name: &str,
    kind: AttrKind,
    codes: &[Option<u32>],
    dict: &[String],
    rows: &[Option<u32>],
) -> Result<Vec<(DesignColumn, Vec<f64>)>> {
    let code = |r: &Option<u32>| r.and_then(|r| codes[r as usize]);
    let mut counts = vec![0usize; dict.len()];
    for r in rows {
        if let Some(c) = code(r) {
            counts[c as usize] += 1;
        }
    }
    let mut levels: Vec<usize> = (0..dict.len()).filter(|&k| counts[k] > 0).collect();
    levels.sort_by(|&a, &b| dict[a].cmp(&dict[b]));
    if levels.len() < 2 {
        return Err(Error::param(
            "covariates",
            format!(
                "column {name:?} has {} value among the customers: no effect to estimate",
                levels.len()
            ),
        ));
    }
    if levels.len() - 1 > MAX_LEVELS {
        return Err(Error::param(
            "covariates",
            format!(
                "column {name:?} has {} values; at most {} can be covariates (group the rare ones first)",
                levels.len(),
                MAX_LEVELS + 1
            ),
        ));
    }
    let reference = *levels
        .iter()
        .max_by(|&&a, &&b| counts[a].cmp(&counts[b]).then(dict[b].cmp(&dict[a])))
        .expect("two levels or more");
    Ok(levels
        .into_iter()
        .filter(|&k| k != reference)
        .map(|k| {
            let column = DesignColumn {
                name: format!("{name}={}", dict[k]),
                source: name.to_string(),
                kind,
                reference: Some(dict[reference].clone()),
                mean: 0.0,
                std_dev: 0.0,
            };
            let values = rows
                .iter()
                .map(|r| code(r).map_or(f64::NAN, |c| (c as usize == k) as u8 as f64))
                .collect();
            (column, values)
        })
        .collect())
}

/// The design from its columns: means and standard deviations over the complete rows; a
/// constant column is an error (its effect cannot be told from the base parameters).
fn finish(built: Vec<(DesignColumn, Vec<f64>)>, n: usize) -> Result<Design> {
    let complete: Vec<bool> = (0..n)
        .map(|i| built.iter().all(|(_, v)| v[i].is_finite()))
        .collect();
    let used = complete.iter().filter(|&&c| c).count();
    if used < 2 {
        return Err(Error::Data(format!(
            "{used} of {n} customers have every covariate ({}): too few to fit",
            built
                .iter()
                .map(|(c, _)| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut columns = Vec::with_capacity(built.len());
    for (mut c, v) in built.iter().cloned() {
        let vals: Vec<f64> = (0..n).filter(|&i| complete[i]).map(|i| v[i]).collect();
        let mean = vals.iter().sum::<f64>() / used as f64;
        let var = vals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (used - 1) as f64;
        if !(var > 0.0 && var.is_finite()) {
            return Err(Error::param(
                "covariates",
                format!(
                    "{:?} takes one value ({mean}) among the {used} customers with every covariate: no effect to estimate",
                    c.name
                ),
            ));
        }
        (c.mean, c.std_dev) = (mean, var.sqrt());
        columns.push(c);
    }
    let k = columns.len();
    let mut values = vec![0.0; n * k];
    for (j, (_, v)) in built.iter().enumerate() {
        for i in 0..n {
            values[i * k + j] = v[i];
        }
    }
    Ok(Design {
        columns,
        values,
        rows: n,
    })
}

/// One estimated covariate effect.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Coefficient {
    /// `purchase`, `dropout` or `spend`.
    pub process: String,
    /// The design column ([`DesignColumn::name`]).
    pub covariate: String,
    /// γ per unit of the covariate: the process's rate (or mean order value) is multiplied by
    /// e^γ per unit.
    pub value: f64,
    /// Standard error from the inverse Hessian (`None`: not invertible).
    pub std_error: Option<f64>,
    /// 95% Wald interval.
    pub ci_low: Option<f64>,
    /// See `ci_low`.
    pub ci_high: Option<f64>,
    /// Two-sided Wald p-value of γ = 0.
    pub p_value: Option<f64>,
}

/// The likelihood-ratio test of a model with covariates against the same model without them,
/// on the same customers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LikelihoodRatio {
    /// 2 (LL with - LL without).
    pub statistic: f64,
    /// Degrees of freedom: the number of coefficients.
    pub df: usize,
    /// P(χ²_df >= statistic).
    pub p_value: f64,
    /// Log-likelihood without covariates (maximum likelihood on the same customers).
    pub log_likelihood_without: f64,
}

/// A model fitted with covariates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CovariateFit {
    /// `bgnbd`, `mbgnbd`, `pareto_nbd` or `gamma_gamma`.
    pub model: String,
    /// Customers it was fitted on.
    pub customers: usize,
    /// The base parameters: those of a customer at the covariates' means (over the customers of
    /// the design), with standard errors.
    pub base: Vec<Estimate>,
    /// The covariate effects, process by process.
    pub coefficients: Vec<Coefficient>,
    /// Log-likelihood at the optimum.
    pub log_likelihood: f64,
    /// Against the model without covariates.
    pub likelihood_ratio: LikelihoodRatio,
    /// How the optimiser converged.
    pub diagnostics: Diagnostics,
}

/// The covariate fits of a CLV analysis.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CovariateAnalysis {
    /// The design columns (with the category references and the scale of each).
    pub columns: Vec<DesignColumn>,
    /// Customers left out of the fits for a missing covariate (or absent from the customers
    /// file).
    pub customers_left_out: usize,
    /// The transaction model with covariates on purchase and dropout.
    pub transaction: CovariateFit,
    /// Gamma-Gamma with covariates on spend (repeat customers with spend), or why not.
    pub gamma_gamma: Option<CovariateFit>,
    /// Why Gamma-Gamma could not be fitted with the covariates, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma_gamma_error: Option<String>,
}

impl CovariateAnalysis {
    /// The fits as Markdown: per model its likelihood-ratio test, then one row per coefficient
    /// with its multiplier e^γ.
    pub fn markdown(&self) -> String {
        use std::fmt::Write;
        let mut o = String::from("\n## Covariates\n\n");
        let refs: Vec<String> = self
            .columns
            .iter()
            .filter_map(|c| Some(format!("{} against {}", c.name, c.reference.as_ref()?)))
            .collect();
        if !refs.is_empty() {
            let _ = writeln!(o, "Category levels: {}.\n", refs.join(", "));
        }
        if self.customers_left_out > 0 {
            let _ = writeln!(
                o,
                "{} customers without a value of a covariate (or not in the customers file) are left out of these fits.\n",
                self.customers_left_out
            );
        }
        o.push_str("| model | customers | log-likelihood | without covariates | LR | df | p-value |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        let fits: Vec<&CovariateFit> = std::iter::once(&self.transaction)
            .chain(self.gamma_gamma.as_ref())
            .collect();
        for f in &fits {
            let lr = &f.likelihood_ratio;
            let _ = writeln!(
                o,
                "| {} | {} | {:.2} | {:.2} | {:.2} | {} | {} |",
                f.model,
                f.customers,
                f.log_likelihood,
                lr.log_likelihood_without,
                lr.statistic,
                lr.df,
                p_text(lr.p_value)
            );
        }
        o.push_str("\n| process | covariate | coefficient | 95% interval | multiplier e^coef | p-value |\n| --- | --- | ---: | --- | ---: | ---: |\n");
        for c in fits.iter().flat_map(|f| &f.coefficients) {
            let ci = match (c.ci_low, c.ci_high) {
                (Some(l), Some(h)) => format!("{} to {}", number_text(l), number_text(h)),
                _ => "-".into(),
            };
            let p = c.p_value.map_or("-".into(), p_text);
            let _ = writeln!(
                o,
                "| {} | {} | {} | {ci} | {:.3} | {p} |",
                c.process,
                c.covariate,
                number_text(c.value),
                c.value.exp()
            );
        }
        if let Some(e) = &self.gamma_gamma_error {
            let _ = writeln!(o, "\nGamma-Gamma with covariates: {e}");
        }
        o
    }
}

/// A coefficient to four decimals, or to four digits in scientific notation when smaller
/// (per unit of income or of a day).
fn number_text(v: f64) -> String {
    if v == 0.0 || v.abs() >= 1e-3 {
        format!("{v:.4}")
    } else {
        format!("{v:.3e}")
    }
}

/// A model's likelihood per customer with the base parameters scaled per customer: which base
/// parameter each process scales and in which direction (p_j = base_j e^(sign γ'z)).
struct Problem<'a> {
    names: &'a [&'a str],
    processes: &'a [(&'a str, usize, f64)],
    /// The fitted customers' covariates, centred and divided by their standard deviations,
    /// row-major.
    z: &'a [f64],
    k: usize,
    n: usize,
    /// Customer i's log-likelihood at natural parameters p.
    ll_one: &'a (dyn Fn(&[f64], usize) -> f64 + Sync),
}

impl Problem<'_> {
    fn log_likelihood(&self, theta: &[f64]) -> f64 {
        let m = self.names.len();
        let base: Vec<f64> = theta[..m].iter().map(|t| t.exp()).collect();
        if !base.iter().all(|p| p.is_finite() && *p > 0.0) {
            return f64::NEG_INFINITY;
        }
        let k = self.k;
        // fixed blocks added in order: the same bits at any number of threads
        let [sum] = block_fold::<1>(self.n, 1024, |acc, i| {
            let mut p = [0.0f64; 4];
            p[..m].copy_from_slice(&base);
            let z = &self.z[i * k..(i + 1) * k];
            for (j, &(_, param, sign)) in self.processes.iter().enumerate() {
                let g = &theta[m + j * k..m + (j + 1) * k];
                let lin: f64 = g.iter().zip(z).map(|(g, z)| g * z).sum();
                p[param] *= (sign * lin).exp();
            }
            acc[0] += (self.ll_one)(&p[..m], i);
        });
        if sum.is_nan() {
            f64::NEG_INFINITY
        } else {
            sum
        }
    }

    /// Maximum likelihood from the fit without covariates (`base`, natural parameters) and
    /// coefficients 0; `sd` scales the coefficients back to the covariates' units.
    fn fit(
        &self,
        model: &str,
        base: &[f64],
        ll_without: f64,
        columns: &[DesignColumn],
    ) -> Result<CovariateFit> {
        let m = self.names.len();
        let mut start: Vec<f64> = base.iter().map(|p| p.ln()).collect();
        start.resize(m + self.processes.len() * self.k, 0.0);
        let ll = |th: &[f64]| self.log_likelihood(th);
        let o = maximize_by_differences(model, &ll, self.n as f64, 0.0, &[start])?;
        let neg: Vec<Vec<f64>> = o
            .hessian
            .iter()
            .map(|r| r.iter().map(|x| -x).collect())
            .collect();
        let cov = crate::linalg::invert(&neg);
        let var = |i: usize| {
            cov.as_ref()
                .map(|c| c[i][i])
                .filter(|v| *v > 0.0 && v.is_finite())
        };
        let th = &o.theta;
        let base = (0..m)
            .map(|i| {
                let se = var(i).map(f64::sqrt);
                Estimate {
                    name: self.names[i].to_string(),
                    value: th[i].exp(),
                    std_error: se.map(|s| th[i].exp() * s),
                    ci_low: se.map(|s| (th[i] - 1.96 * s).exp()),
                    ci_high: se.map(|s| (th[i] + 1.96 * s).exp()),
                    log_covariance: None,
                }
            })
            .collect();
        let mut coefficients = Vec::new();
        for (j, &(process, _, _)) in self.processes.iter().enumerate() {
            for (c, col) in columns.iter().enumerate() {
                let idx = m + j * self.k + c;
                let value = th[idx] / col.std_dev;
                let se = var(idx).map(|v| v.sqrt() / col.std_dev);
                coefficients.push(Coefficient {
                    process: process.to_string(),
                    covariate: col.name.clone(),
                    value,
                    std_error: se,
                    ci_low: se.map(|s| value - 1.96 * s),
                    ci_high: se.map(|s| value + 1.96 * s),
                    p_value: se.map(|s| chi2_sf((value / s).powi(2), 1.0)),
                });
            }
        }
        let log_likelihood = self.log_likelihood(th);
        let statistic = (2.0 * (log_likelihood - ll_without)).max(0.0);
        let df = coefficients.len();
        Ok(CovariateFit {
            model: model.to_string(),
            customers: self.n,
            base,
            coefficients,
            log_likelihood,
            likelihood_ratio: LikelihoodRatio {
                statistic,
                df,
                p_value: chi2_sf(statistic, df as f64),
                log_likelihood_without: ll_without,
            },
            diagnostics: o.diagnostics,
        })
    }
}

/// One customer's BG/NBD (or MBG/NBD) log-likelihood at parameters p = (r, α, a, b) (Fader,
/// Hardie & Lee 2005, equation 6; Batislam et al. 2007 for MBG/NBD). The beta and gamma
/// function ratios go through [`gamma_diffs`]' recurrences, which stay accurate when a + b is
/// huge (no customer seen dropping out) and plain lnΓ differences cancel.
fn bg_log_likelihood(variant: Variant, p: &[f64], x: f64, tx: f64, t: f64) -> f64 {
    let (r, al, a, b) = (p[0], p[1], p[2], p[3]);
    let gd = |s: f64, x: f64| gamma_diffs(s, x)[0];
    let rx = r + x;
    let head = gd(r, x) + r * al.ln();
    match variant {
        Variant::Bgnbd => {
            // ln B(a, b+x) - ln B(a, b); B(a+1, b+x-1) = B(a, b+x) a / (b+x-1)
            let beta = gd(b, x) - gd(a + b, x);
            let alive = beta - rx * (al + t).ln();
            if x > 0.0 {
                let gone = a.ln() - (b + x - 1.0).ln() + beta - rx * (al + tx).ln();
                head + ln_add_exp(alive, gone)
            } else {
                head + alive
            }
        }
        Variant::Mbgnbd => {
            let alive = gd(b, x + 1.0) - gd(a + b, x + 1.0) - rx * (al + t).ln();
            let gone = a.ln() + gd(b, x) - gd(a + b, x + 1.0) - rx * (al + tx).ln();
            head + ln_add_exp(alive, gone)
        }
    }
}

/// One customer's Pareto/NBD log-likelihood at p = (r, α, s, β) (note 009, equation 18).
fn pareto_log_likelihood(p: &[f64], x: f64, tx: f64, t: f64) -> f64 {
    let (r, al, s, be) = (p[0], p[1], p[2], p[3]);
    gamma_diffs(r, x)[0]
        + r * al.ln()
        + s * be.ln()
        + super::pareto_nbd::ln_likelihood_tail([r, al, s, be], x, tx, t)
}

/// One repeat customer's Gamma-Gamma log-likelihood at p = (p, q, v) given x repeat purchases
/// of mean value m (Fader, Hardie & Lee 2005, "RFM and CLV", equation 3 over the x values).
fn gg_log_likelihood(p: &[f64], x: f64, m: f64) -> f64 {
    let (pp, q, v) = (p[0], p[1], p[2]);
    let px = pp * x;
    ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q) + q * v.ln() + (px - 1.0) * m.ln() + px * x.ln()
        - (px + q) * (x * m + v).ln()
}

/// The fitted customers' covariates centred and divided by each column's standard deviation,
/// row-major.
fn scaled(design: &Design, customers: &[usize]) -> Vec<f64> {
    customers
        .iter()
        .flat_map(|&i| {
            design
                .row(i)
                .iter()
                .zip(&design.columns)
                .map(|(v, c)| (v - c.mean) / c.std_dev)
        })
        .collect()
}

/// Fits the transaction model `kind` with covariates on purchase and dropout and Gamma-Gamma
/// with covariates on spend, each with its likelihood-ratio test against the model without
/// covariates on the same customers (customers missing a covariate are left out and counted).
pub fn fit_covariates(
    s: &Summary,
    design: &Design,
    kind: TransactionKind,
    progress: &dyn Progress,
) -> Result<CovariateAnalysis> {
    if design.rows() != s.len() {
        return Err(Error::Data(format!(
            "the covariates have {} rows for {} customers",
            design.rows(),
            s.len()
        )));
    }
    let keep: Vec<usize> = (0..s.len()).filter(|&i| design.complete(i)).collect();
    let k = design.columns.len();
    let pick = |v: &[f64], idx: &[usize]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let (x, tx, t) = (
        pick(&s.frequency, &keep),
        pick(&s.recency, &keep),
        pick(&s.t, &keep),
    );
    let z = scaled(design, &keep);
    progress.begin(&format!("fitting {} with covariates", kind.key()), 0);
    let transaction = fit_transaction_with(kind, &x, &tx, &t, &z, k, &design.columns);
    progress.finish();
    let transaction = transaction?;

    // Gamma-Gamma: repeat customers with spend among those kept
    let repeat: Vec<usize> = keep
        .iter()
        .copied()
        .filter(|&i| s.frequency[i] > 0.0 && s.monetary_value[i] > 0.0)
        .collect();
    progress.begin("fitting Gamma-Gamma with covariates", 0);
    let gg = fit_gamma_gamma_with(
        &pick(&s.frequency, &repeat),
        &pick(&s.monetary_value, &repeat),
        &scaled(design, &repeat),
        k,
        &design.columns,
    );
    progress.finish();
    let (gamma_gamma, gamma_gamma_error) = match gg {
        Ok(f) => (Some(f), None),
        Err(e) => (None, Some(e.to_string())),
    };
    Ok(CovariateAnalysis {
        columns: design.columns.clone(),
        customers_left_out: s.len() - keep.len(),
        transaction,
        gamma_gamma,
        gamma_gamma_error,
    })
}

/// The transaction model with covariates on the customers (x, t_x, T) with scaled covariates z.
fn fit_transaction_with(
    kind: TransactionKind,
    x: &[f64],
    tx: &[f64],
    t: &[f64],
    z: &[f64],
    k: usize,
    columns: &[DesignColumn],
) -> Result<CovariateFit> {
    let without = super::analysis::fit_transaction(kind, x, tx, t, 0.0)?;
    let base = without
        .log_params()
        .iter()
        .map(|v| v.exp())
        .collect::<Vec<f64>>();
    let ll_without = without.log_likelihood();
    match kind {
        TransactionKind::Bgnbd | TransactionKind::Mbgnbd => {
            let variant = if kind == TransactionKind::Bgnbd {
                Variant::Bgnbd
            } else {
                Variant::Mbgnbd
            };
            let ll = |p: &[f64], i: usize| bg_log_likelihood(variant, p, x[i], tx[i], t[i]);
            Problem {
                names: &["r", "alpha", "a", "b"],
                processes: &[("purchase", 1, -1.0), ("dropout", 3, -1.0)],
                z,
                k,
                n: x.len(),
                ll_one: &ll,
            }
            .fit(kind.key(), &base, ll_without, columns)
        }
        TransactionKind::ParetoNbd => {
            let ll = |p: &[f64], i: usize| pareto_log_likelihood(p, x[i], tx[i], t[i]);
            Problem {
                names: &["r", "alpha", "s", "beta"],
                processes: &[("purchase", 1, -1.0), ("dropout", 3, -1.0)],
                z,
                k,
                n: x.len(),
                ll_one: &ll,
            }
            .fit(kind.key(), &base, ll_without, columns)
        }
    }
}

/// Gamma-Gamma with covariates on the repeat customers' (x, m) with scaled covariates z.
fn fit_gamma_gamma_with(
    x: &[f64],
    m: &[f64],
    z: &[f64],
    k: usize,
    columns: &[DesignColumn],
) -> Result<CovariateFit> {
    let without = GammaGamma::fit(x, m, 0.0)?;
    let ll = |p: &[f64], i: usize| gg_log_likelihood(p, x[i], m[i]);
    Problem {
        names: &["p", "q", "v"],
        processes: &[("spend", 2, 1.0)],
        z,
        k,
        n: x.len(),
        ll_one: &ll,
    }
    .fit(
        "gamma_gamma",
        &[without.p, without.q, without.v],
        without.log_likelihood,
        columns,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (x, t_x, T, m) of a small deterministic population with repeat and one-time buyers.
    fn customers(n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let x: Vec<f64> = (0..n).map(|i| ((i * 7) % 9) as f64).collect();
        let t: Vec<f64> = (0..n).map(|i| 10.0 + ((i * 13) % 90) as f64).collect();
        let tx = (0..n)
            .map(|i| {
                if x[i] == 0.0 {
                    0.0
                } else {
                    t[i] * ((i % 11) as f64 + 1.0) / 12.0
                }
            })
            .collect();
        let m = (0..n)
            .map(|i| {
                if x[i] > 0.0 {
                    5.0 + (i % 17) as f64 * 3.1
                } else {
                    0.0
                }
            })
            .collect();
        (x, tx, t, m)
    }

    fn close(what: &str, a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-9 * b.abs(), "{what}: {a} vs {b}");
    }

    /// The per-customer likelihoods the covariate fits sum are the whole-data models' (their
    /// own fits at their optima), so at zero coefficients the two models coincide.
    #[test]
    fn per_customer_likelihoods_sum_to_the_models() {
        let (x, tx, t, m) = customers(3000);
        for variant in [Variant::Bgnbd, Variant::Mbgnbd] {
            let mut f = super::super::bgnbd::BgNbd::fit_variant(variant, &x, &tx, &t, 0.0).unwrap();
            // at the fit's optimum and at moderate parameters (MBG/NBD's whole-data likelihood
            // takes plain lnΓ differences, which lose digits when the fitted b is huge)
            (f.r, f.alpha, f.a, f.b) = (0.3, 5.0, 0.8, 2.5);
            let p = [f.r, f.alpha, f.a, f.b];
            let sum: f64 = (0..x.len())
                .map(|i| bg_log_likelihood(variant, &p, x[i], tx[i], t[i]))
                .sum();
            close(
                &format!("{variant:?}"),
                sum,
                f.log_likelihood_of(&x, &tx, &t),
            );
        }
        let f = super::super::bgnbd::BgNbd::fit(&x, &tx, &t, 0.0).unwrap();
        let p = [f.r, f.alpha, f.a, f.b];
        let sum: f64 = (0..x.len())
            .map(|i| bg_log_likelihood(Variant::Bgnbd, &p, x[i], tx[i], t[i]))
            .sum();
        close("BG/NBD at its optimum", sum, f.log_likelihood);
        let pareto = [0.3, 5.0, 0.6, 8.0];
        let sum: f64 = (0..x.len())
            .map(|i| pareto_log_likelihood(&pareto, x[i], tx[i], t[i]))
            .sum();
        let model = super::super::pareto_nbd::ParetoNbd {
            r: pareto[0],
            alpha: pareto[1],
            s: pareto[2],
            beta: pareto[3],
            log_likelihood: 0.0,
            customers: 0,
            penalizer: 0.0,
            estimates: Vec::new(),
            diagnostics: None,
        };
        let whole = model.log_likelihood_of(&x, &tx, &t);
        close("Pareto/NBD", sum, whole);
        let rep: Vec<usize> = (0..x.len()).filter(|&i| x[i] > 0.0).collect();
        let (xr, mr): (Vec<f64>, Vec<f64>) = rep.iter().map(|&i| (x[i], m[i])).unzip();
        let mut g = GammaGamma::fit(&xr, &mr, 0.0).unwrap();
        (g.p, g.q, g.v) = (6.0, 4.0, 15.0);
        let sum: f64 = (0..xr.len())
            .map(|i| gg_log_likelihood(&[g.p, g.q, g.v], xr[i], mr[i]))
            .sum();
        close("Gamma-Gamma", sum, g.log_likelihood_of(&xr, &mr));
    }
}
