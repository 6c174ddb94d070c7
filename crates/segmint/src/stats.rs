//! Small statistics used across analyses: quantiles, ranks, the Kruskal–Wallis test and the
//! chi-square tail. Hand-written: statrs would bring nalgebra into the build for a few
//! functions, and the formulas are short and tested against scipy below.

use serde::{Deserialize, Serialize};

/// Quantile `q` (0..=1) of sorted values with linear interpolation between order statistics
/// (numpy's and pandas' default, Hyndman & Fan type 7). `NaN` for no values.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

/// Summary of one numeric feature within one group.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Values present (missing ones are left out).
    pub count: u64,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub mean: f64,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub q25: f64,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub median: f64,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub q75: f64,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub min: f64,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub max: f64,
}

/// Count, mean, quartiles (type 7), min and max of the values that are not `NaN`.
pub fn summarize(values: &[f64]) -> Summary {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    Summary {
        count: n as u64,
        mean: if n == 0 {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / n as f64
        },
        q25: quantile_sorted(&v, 0.25),
        median: quantile_sorted(&v, 0.5),
        q75: quantile_sorted(&v, 0.75),
        min: v.first().copied().unwrap_or(f64::NAN),
        max: v.last().copied().unwrap_or(f64::NAN),
    }
}

/// Result of a Kruskal–Wallis H test.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct KruskalWallis {
    /// H, corrected for ties (as scipy.stats.kruskal).
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub h: f64,
    /// Degrees of freedom: groups with values - 1.
    pub df: u32,
    /// Chi-square approximation of P(H >= h) under "all groups have the same distribution".
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub p_value: f64,
    /// Effect size epsilon² = H / (N - 1) (0 = no difference, 1 = groups fully separated),
    /// Tomczak & Tomczak (2014). Unlike H and p it does not grow with the sample size, so it
    /// ranks features fairly.
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub epsilon_squared: f64,
    /// Values used (missing ones left out).
    pub n: u64,
}

/// Kruskal–Wallis H test of `values` (one per item, `NaN` = missing) split by `group`
/// (`None` = not in any group). `None` when fewer than two groups have values or all values
/// are equal.
pub fn kruskal_wallis(
    values: &[f64],
    group: &[Option<u32>],
    n_groups: usize,
) -> Option<KruskalWallis> {
    let mut pooled: Vec<(f64, u32)> = values
        .iter()
        .zip(group)
        .filter_map(|(&v, g)| match g {
            Some(g) if !v.is_nan() => Some((v, *g)),
            _ => None,
        })
        .collect();
    let n = pooled.len();
    if n < 2 {
        return None;
    }
    pooled.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = vec![0.0f64; n_groups];
    let mut size = vec![0u64; n_groups];
    let mut ties = 0.0f64; // sum of t^3 - t over tie groups
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && pooled[end].0 == pooled[start].0 {
            end += 1;
        }
        let t = (end - start) as f64;
        let rank = (start + 1 + end) as f64 / 2.0; // mean of ranks start+1 ..= end
        for &(_, g) in &pooled[start..end] {
            rank_sum[g as usize] += rank;
            size[g as usize] += 1;
        }
        ties += t * t * t - t;
        start = end;
    }
    let k = size.iter().filter(|&&s| s > 0).count();
    let nf = n as f64;
    let correction = 1.0 - ties / (nf * nf * nf - nf);
    if k < 2 || correction <= 0.0 {
        return None;
    }
    let mean_rank = (nf + 1.0) / 2.0;
    let ss: f64 = rank_sum
        .iter()
        .zip(&size)
        .filter(|(_, &s)| s > 0)
        .map(|(&r, &s)| {
            let d = r / s as f64 - mean_rank;
            s as f64 * d * d
        })
        .sum();
    let h = 12.0 / (nf * (nf + 1.0)) * ss / correction;
    let df = (k - 1) as u32;
    Some(KruskalWallis {
        h,
        df,
        p_value: chi2_sf(h, df as f64),
        epsilon_squared: (h / (nf - 1.0)).min(1.0),
        n: n as u64,
    })
}

/// The standard normal quantile Φ⁻¹(p) for 0 < p < 1: Acklam's rational approximation
/// (relative error 1.2e-9) refined by one Halley step on Φ (from the regularised incomplete
/// gamma function), which brings it to double precision.
// Acklam's coefficients as published
#[allow(clippy::excessive_precision)]
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383577518672690e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    if !(p > 0.0 && p < 1.0) {
        return if p == 0.0 {
            f64::NEG_INFINITY
        } else if p == 1.0 {
            f64::INFINITY
        } else {
            f64::NAN
        };
    }
    let tail = |q: f64| {
        let q = (-2.0 * q.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail(p)
    } else if p > 1.0 - 0.02425 {
        -tail(1.0 - p)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // Φ(x) = Q(1/2, x²/2) / 2 below 0; Halley: x -= e u / (1 + x u / 2), u = e √(2π) e^(x²/2)
    let upper = 0.5 * gamma_q(0.5, x * x / 2.0);
    let cdf = if x < 0.0 { upper } else { 1.0 - upper };
    let e = cdf - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) - ln Γ(a + b).
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln(e^a + e^b) without overflow.
pub fn ln_add_exp(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// ln Γ(x) for x > 0 (Lanczos approximation, g = 7, 9 terms; relative error < 1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // reflection
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularized upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a), by the series for x < a + 1
/// and the Lentz continued fraction otherwise (Numerical Recipes, 3rd ed., 6.2).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_pre = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let (mut sum, mut del, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        (1.0 - sum * ln_pre.exp()).clamp(0.0, 1.0)
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (ln_pre.exp() * h).clamp(0.0, 1.0)
    }
}

/// A p-value for people: three decimals, or scientific notation below 0.001.
pub fn p_text(p: f64) -> String {
    if p >= 1e-3 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

/// P(X >= x) for a chi-square variable with `df` degrees of freedom.
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    gamma_q(df / 2.0, x / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn normal_quantiles_match_scipy() {
        // scipy 1.17.1 stats.norm.ppf
        for (p, want) in [
            (0.95, 1.6448536269514722),
            (0.975, 1.959963984540054),
            (0.5, 0.0),
            (0.001, -3.090232306167813),
            (0.3, -0.5244005127080407),
        ] {
            let got = normal_quantile(p);
            assert!((got - want).abs() < 1e-13, "{p}: {got} vs {want}");
        }
    }

    #[test]
    fn quantiles_match_numpy() {
        // numpy 2.x: np.quantile([3,1,4,1,5,9,2,6], [0.25, 0.5, 0.75]) = [1.75, 3.5, 5.25]
        let s = summarize(&[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, f64::NAN]);
        assert_eq!(s.count, 8);
        assert_eq!((s.q25, s.median, s.q75), (1.75, 3.5, 5.25));
        assert_eq!((s.min, s.max, s.mean), (1.0, 9.0, 31.0 / 8.0));
        assert!(summarize(&[]).median.is_nan());
    }

    #[test]
    fn chi2_tail_matches_closed_forms_and_scipy() {
        // closed forms: df = 2: exp(-x/2); df = 4: exp(-x/2) (1 + x/2)
        for x in [0.1, 1.0, 3.0, 10.0, 40.0] {
            assert!(close(chi2_sf(x, 2.0), (-x / 2.0f64).exp(), 1e-12), "{x}");
            assert!(close(
                chi2_sf(x, 4.0),
                (-x / 2.0f64).exp() * (1.0 + x / 2.0),
                1e-12
            ));
        }
        // scipy 1.17.1 scipy.stats.chi2.sf
        assert!(close(chi2_sf(10.0, 3.0), 0.01856613546304325, 1e-12));
        assert!(close(chi2_sf(0.5, 7.0), 0.9994464813904249, 1e-12));
        assert!(close(chi2_sf(200.0, 150.0), 0.003973185970821635, 1e-10));
        assert!(close(chi2_sf(1e-3, 1.0), 0.9747728793699604, 1e-12));
    }

    #[test]
    fn kruskal_matches_scipy() {
        // scipy 1.17.1: stats.kruskal([1,2,3],[4,5,6]) = (3.857142857142854, 0.049534613435626915)
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let g: Vec<Option<u32>> = [0, 0, 0, 1, 1, 1].iter().map(|&x| Some(x)).collect();
        let k = kruskal_wallis(&v, &g, 2).unwrap();
        assert!(close(k.h, 3.857142857142854, 1e-12));
        assert!(close(k.p_value, 0.049534613435626915, 1e-10));
        assert_eq!(k.df, 1);
        assert!(close(k.epsilon_squared, 3.857142857142854 / 5.0, 1e-12));
        // with ties, and missing values / unassigned items left out:
        // stats.kruskal([1,1,2],[2,3,3],[3,4,5,5]) = (7.28164556962025, 0.026230752819494437)
        let v = [
            1.0,
            1.0,
            2.0,
            2.0,
            3.0,
            3.0,
            3.0,
            4.0,
            5.0,
            5.0,
            f64::NAN,
            100.0,
        ];
        let g: Vec<Option<u32>> = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 0, 9]
            .iter()
            .map(|&x| if x == 9 { None } else { Some(x) })
            .collect();
        let k = kruskal_wallis(&v, &g, 3).unwrap();
        assert!(close(k.h, 7.28164556962025, 1e-12));
        assert!(close(k.p_value, 0.026230752819494437, 1e-10));
        assert_eq!((k.df, k.n), (2, 10));
        // one group only, or all equal: no test
        assert!(kruskal_wallis(&[1.0, 2.0], &[Some(0), Some(0)], 1).is_none());
        assert!(kruskal_wallis(&[1.0, 1.0], &[Some(0), Some(1)], 2).is_none());
    }

    #[test]
    fn trigamma_values() {
        // ψ₁(1) = π²/6, ψ₁(1/2) = π²/2, ψ₁(n+1) = ψ₁(n) - 1/n² (Abramowitz & Stegun 6.4.2, 6.4.4, 6.4.6)
        let pi2 = std::f64::consts::PI * std::f64::consts::PI;
        assert!(close(trigamma(1.0), pi2 / 6.0, 1e-14));
        assert!(close(trigamma(0.5), pi2 / 2.0, 1e-14));
        assert!(close(trigamma(3.0), pi2 / 6.0 - 1.0 - 0.25, 1e-14));
        // the derivative of digamma, by central differences, on and off the recurrence range
        for x in [0.013, 0.7, 4.2, 9.99, 10.0, 37.5, 1234.5] {
            let h = 1e-5 * x;
            let num = (digamma(x + h) - digamma(x - h)) / (2.0 * h);
            assert!(
                close(trigamma(x), num, 1e-7),
                "{x}: {} vs {num}",
                trigamma(x)
            );
        }
    }

    #[test]
    fn gamma_diffs_match_differences() {
        // moderate s: the recurrence equals the plain differences
        for (s, x) in [(0.3, 5.0), (2.5, 64.0), (7.0, 1.0), (1.5, 0.0)] {
            let d = gamma_diffs(s, x);
            assert!(
                (d[0] - (ln_gamma(s + x) - ln_gamma(s))).abs() < 1e-12,
                "{s} {x}"
            );
            assert!(
                (d[1] - (digamma(s + x) - digamma(s))).abs() < 1e-12,
                "{s} {x}"
            );
            assert!(
                (d[2] - (trigamma(s + x) - trigamma(s))).abs() < 1e-12,
                "{s} {x}"
            );
        }
        // non-whole or large x: the plain differences
        assert_eq!(gamma_diffs(2.0, 70.0)[1], digamma(72.0) - digamma(2.0));
        // huge s: ψ(s+3) - ψ(s) = 1/s + 1/(s+1) + 1/(s+2) to full precision, where the plain
        // difference of two ψ ≈ 20 loses all but a few digits
        let s = 4e8;
        let exact = 1.0 / s + 1.0 / (s + 1.0) + 1.0 / (s + 2.0);
        assert!((gamma_diffs(s, 3.0)[1] - exact).abs() < 1e-15 * exact);
    }

    #[test]
    fn ln_gamma_values() {
        // Γ(5) = 24, Γ(0.5) = sqrt(pi)
        assert!(close(ln_gamma(5.0), 24f64.ln(), 1e-14));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-14
        ));
        assert!(close(ln_gamma(100.0), 359.1342053695754, 1e-14));
    }
}

/// Digamma ψ(x) for x > 0: recurrence up to x >= 10, then the asymptotic series (error < 1e-15).
pub fn digamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let f = 1.0 / (x * x);
    acc + x.ln()
        - 0.5 / x
        - f * (1.0 / 12.0
            - f * (1.0 / 120.0
                - f * (1.0 / 252.0 - f * (1.0 / 240.0 - f * (1.0 / 132.0 - f * 691.0 / 32760.0)))))
}

/// Trigamma ψ₁(x) = ψ'(x) for x > 0: recurrence up to x >= 10, then the asymptotic series
/// 1/x + 1/(2x²) + Σ B₂ₖ / x^(2k+1) (error < 1e-16 relative).
pub fn trigamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 10.0 {
        acc += 1.0 / (x * x);
        x += 1.0;
    }
    let f = 1.0 / (x * x);
    acc + 1.0 / x
        + 0.5 * f
        + f / x
            * (1.0 / 6.0
                - f * (1.0 / 30.0
                    - f * (1.0 / 42.0 - f * (1.0 / 30.0 - f * (5.0 / 66.0 - f * 691.0 / 2730.0)))))
}

/// lnΓ(s+x) - lnΓ(s), ψ(s+x) - ψ(s) and ψ₁(s+x) - ψ₁(s) for s > 0, x >= 0. For whole x up to
/// 64 by the recurrences Γ(s+1) = s Γ(s) (sums of ln(s+j), 1/(s+j), -1/(s+j)² over j < x), which
/// stay accurate when s is huge and the plain differences cancel (BG/NBD's a + b can grow
/// without bound when no customer drops out); else the plain differences.
pub fn gamma_diffs(s: f64, x: f64) -> [f64; 3] {
    if x.fract() == 0.0 && (0.0..=64.0).contains(&x) {
        let mut out = [0.0; 3];
        for j in 0..x as u32 {
            let v = s + j as f64;
            out[0] += v.ln();
            out[1] += 1.0 / v;
            out[2] -= 1.0 / (v * v);
        }
        return out;
    }
    [
        ln_gamma(s + x) - ln_gamma(s),
        digamma(s + x) - digamma(s),
        trigamma(s + x) - trigamma(s),
    ]
}

/// Terms of the hypergeometric series at most: it converges like z^k, so z within ~1e-4 of 1
/// needs more; such a z gives `None` (an unusable point for the optimiser) instead of an
/// evaluation that runs for minutes.
const MAX_TERMS: usize = 200_000;

/// Gauss hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1 and c > 0, by its power series
/// (terms until they no longer change the sum). `None` when the series does not settle (z too
/// close to 1) or overflows.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if z == 0.0 {
        return Some(1.0);
    }
    if !(0.0..1.0).contains(&z) {
        return None;
    }
    let (mut term, mut sum) = (1.0f64, 1.0f64);
    for k in 0..MAX_TERMS {
        let k = k as f64;
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if !sum.is_finite() {
            return None;
        }
        if term.abs() <= sum.abs() * 1e-17 && k > 2.0 {
            return Some(sum);
        }
    }
    None
}

/// [`hyp2f1`] at several `zs` for the same a, b, c, in one pass over the series: the
/// coefficient ratio (one division) is computed once per term for all of them. The term of the
/// largest z is carried as in [`hyp2f1`] and each other z's term is it times (z / z_max)^k, so
/// nothing overflows that the single series would not. `out[j]` is `hyp2f1(a, b, c, zs[j])`
/// up to rounding (a few ulp per term); every z in (0, 1) gets `None` when the series of the
/// largest one does not settle (the caller then takes them one at a time).
pub fn hyp2f1_many(a: f64, b: f64, c: f64, zs: &[f64], out: &mut [Option<f64>]) {
    let valid = |z: f64| (0.0..1.0).contains(&z);
    let zmax = zs.iter().copied().filter(|&z| valid(z)).fold(0.0, f64::max);
    let ratio: Vec<f64> = zs
        .iter()
        .map(|&z| {
            if valid(z) && zmax > 0.0 {
                z / zmax
            } else {
                0.0
            }
        })
        .collect();
    let mut power = vec![1.0; zs.len()];
    let mut sum = vec![1.0; zs.len()];
    let mut term = 1.0f64;
    // every series settled: its last term no longer changes its sum (terms past that point,
    // added while the slowest series settles, are below its last bit)
    let mut settled = zmax == 0.0;
    for k in 0..MAX_TERMS {
        if settled {
            break;
        }
        let k = k as f64;
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * zmax;
        if !term.is_finite() {
            break;
        }
        let mut all = true;
        for ((p, s), &q) in power.iter_mut().zip(sum.iter_mut()).zip(&ratio) {
            *p *= q;
            let t = term * *p;
            *s += t;
            all &= t.abs() <= s.abs() * 1e-17;
        }
        settled = all && k > 2.0;
    }
    for ((o, &z), &s) in out.iter_mut().zip(zs).zip(&sum) {
        *o = if z == 0.0 {
            Some(1.0)
        } else if valid(z) && settled && s.is_finite() {
            Some(s)
        } else {
            None
        };
    }
}

#[cfg(test)]
mod special_tests {
    use super::*;

    #[test]
    fn digamma_values() {
        // ψ(1) = -γ; ψ(0.5) = -γ - 2 ln 2; ψ(10) = H_9 - γ
        let g = 0.577_215_664_901_532_9;
        assert!((digamma(1.0) + g).abs() < 1e-14);
        assert!((digamma(0.5) + g + 2.0 * 2f64.ln()).abs() < 1e-14);
        let h9: f64 = (1..10).map(|k| 1.0 / k as f64).sum();
        assert!((digamma(10.0) - (h9 - g)).abs() < 1e-14);
    }

    #[test]
    fn hyp2f1_many_equals_one_at_a_time() {
        // BG/NBD-like arguments (r + x, b + x, a + b + x - 1) and horizons z = t / (α + T + t)
        for &(a, b, c) in &[
            (0.25, 2.5, 3.6),
            (12.3, 14.1, 15.2),
            (-1.7, 0.4, 2.2),
            (150.0, 151.0, 152.0),
        ] {
            let zs = [0.0, 0.02, 0.3, 0.45, 0.8, 0.93, 1.0, -0.1];
            let mut out = vec![None; zs.len()];
            hyp2f1_many(a, b, c, &zs, &mut out);
            for (j, &z) in zs.iter().enumerate() {
                match (out[j], hyp2f1(a, b, c, z)) {
                    (Some(m), Some(one)) => assert!(
                        ((m - one) / one).abs() < 1e-12,
                        "2F1({a}, {b}; {c}; {z}): {m} vs {one}"
                    ),
                    (m, one) => assert_eq!(m.is_some(), one.is_some(), "2F1({a}, {b}; {c}; {z})"),
                }
            }
        }
        // z = 1 - 1e-7 does not settle in 10^6 terms: nothing in (0, 1) is returned
        let mut out = vec![None; 3];
        hyp2f1_many(12.3, 14.1, 15.2, &[0.0, 0.3, 0.999_999_9], &mut out);
        assert!(hyp2f1(12.3, 14.1, 15.2, 0.999_999_9).is_none());
        assert_eq!(out, [Some(1.0), None, None]);
    }

    #[test]
    fn hyp2f1_values() {
        // closed forms: 2F1(1, 1; 2; z) = -ln(1 - z) / z; 2F1(a, b; b; z) = (1 - z)^-a
        for z in [0.1, 0.5, 0.9] {
            let v = hyp2f1(1.0, 1.0, 2.0, z).unwrap();
            assert!((v - (-(1.0f64 - z).ln() / z)).abs() < 1e-13 * v, "{z}");
            let w = hyp2f1(2.5, 3.0, 3.0, z).unwrap();
            assert!((w - (1.0f64 - z).powf(-2.5)).abs() < 1e-12 * w);
        }
        // scipy 1.17.1: hyp2f1(1.2586, 3.534, 4.3484, 0.35) = 1.5374593584472322
        let v = hyp2f1(1.2586, 3.534, 4.3484, 0.35).unwrap();
        assert!((v - 1.5374593584472322).abs() < 1e-13, "{v}");
    }
}
