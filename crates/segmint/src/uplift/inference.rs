//! Intervals, tests, false-discovery control and uplift curves for the rule validation.

use serde::{Deserialize, Serialize};

use crate::stats::{gamma_q, ln_gamma};

/// z of a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Count, sum and sum of squares of an outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Acc {
    pub n: f64,
    pub sum: f64,
    pub sum_sq: f64,
}

impl Acc {
    #[inline]
    pub fn add(&mut self, y: f64) {
        self.n += 1.0;
        self.sum += y;
        self.sum_sq += y * y;
    }
    #[inline]
    pub fn add_weighted(&mut self, y: f64, w: f64) {
        self.n += w;
        self.sum += w * y;
        self.sum_sq += w * y * y;
    }
    pub fn merge(&mut self, o: &Acc) {
        self.n += o.n;
        self.sum += o.sum;
        self.sum_sq += o.sum_sq;
    }
    pub fn minus(&self, o: &Acc) -> Acc {
        Acc {
            n: self.n - o.n,
            sum: self.sum - o.sum,
            sum_sq: self.sum_sq - o.sum_sq,
        }
    }
    pub fn mean(&self) -> f64 {
        if self.n > 0.0 {
            self.sum / self.n
        } else {
            f64::NAN
        }
    }
    /// Sample variance (n - 1 in the denominator).
    pub fn variance(&self) -> f64 {
        if self.n > 1.0 {
            ((self.sum_sq - self.sum * self.sum / self.n) / (self.n - 1.0)).max(0.0)
        } else {
            f64::NAN
        }
    }
}

/// A search score for "group a differs from group b here": the difference of means over its
/// standard error. Rates use the Agresti-Caffo adjusted proportion (s + 1) / (n + 2) in the
/// variance, so that a small segment with 0% or 100% success does not get an infinite score.
pub fn z_score(a: &Acc, b: &Acc, binary: bool, min_rows: f64) -> f64 {
    if a.n < min_rows || b.n < min_rows || a.n < 2.0 || b.n < 2.0 {
        return 0.0;
    }
    let d = a.mean() - b.mean();
    let var = |x: &Acc| {
        if binary {
            let p = (x.sum + 1.0) / (x.n + 2.0);
            p * (1.0 - p) / x.n
        } else {
            x.variance() / x.n
        }
    };
    let se = (var(a) + var(b)).sqrt();
    if se > 0.0 {
        d / se
    } else {
        0.0
    }
}

/// Wilson score interval of a proportion (95%).
pub fn wilson(successes: f64, n: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let p = successes / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((center - half).max(0.0), (center + half).min(1.0))
}

/// Newcombe's hybrid score interval of p1 - p2 (method 10 of Newcombe 1998), 95%.
pub fn newcombe(s1: f64, n1: f64, s2: f64, n2: f64) -> (f64, f64) {
    let (p1, p2) = (s1 / n1, s2 / n2);
    let (l1, u1) = wilson(s1, n1);
    let (l2, u2) = wilson(s2, n2);
    let d = p1 - p2;
    (
        d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(),
        d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt(),
    )
}

/// Two-sided p-value of the pooled two-proportion z-test (the chi-square test of the 2x2
/// table without continuity correction; R's `prop.test(correct = FALSE)`).
pub fn two_proportion_p(s1: f64, n1: f64, s2: f64, n2: f64) -> f64 {
    let p = (s1 + s2) / (n1 + n2);
    let se = (p * (1.0 - p) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se <= 0.0 || !se.is_finite() {
        return 1.0;
    }
    normal_two_sided_p((s1 / n1 - s2 / n2) / se)
}

/// Two-sided p-value of a standard normal statistic.
pub fn normal_two_sided_p(z: f64) -> f64 {
    // erfc(|z| / sqrt 2) = Q(1/2, z^2 / 2)
    gamma_q(0.5, z * z / 2.0).clamp(0.0, 1.0)
}

/// Welch's unequal-variance t test of mean(a) - mean(b): difference, 95% interval and
/// two-sided p-value (scipy's `ttest_ind(equal_var=False)`).
pub fn welch(a: &Acc, b: &Acc) -> (f64, (f64, f64), f64) {
    let d = a.mean() - b.mean();
    let (va, vb) = (a.variance() / a.n, b.variance() / b.n);
    let se = (va + vb).sqrt();
    if se.is_nan() || se <= 0.0 {
        return (d, (d, d), if d == 0.0 { 1.0 } else { 0.0 });
    }
    let df = (va + vb).powi(2) / (va * va / (a.n - 1.0) + vb * vb / (b.n - 1.0));
    let t = d / se;
    let q = t_quantile_975(df);
    (d, (d - q * se, d + q * se), t_two_sided_p(t, df))
}

/// Two-sided p-value of Student's t with `df` degrees of freedom.
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return 0.0;
    }
    beta_inc(df / 2.0, 0.5, df / (df + t * t)).clamp(0.0, 1.0)
}

/// The 97.5% quantile of Student's t (bisection on the p-value).
pub fn t_quantile_975(df: f64) -> f64 {
    if df > 1e7 {
        return Z95;
    }
    let (mut lo, mut hi) = (0.0, 1000.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_two_sided_p(mid, df) > 0.05 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Regularized incomplete beta I_x(a, b) (continued fraction, Numerical Recipes 6.4).
pub fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        (ln_front.exp() * beta_cf(a, b, x) / a).clamp(0.0, 1.0)
    } else {
        (1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b).clamp(0.0, 1.0)
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// Benjamini-Hochberg adjusted p-values (q-values), in the input order.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let mut q = vec![1.0; m];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p[i] * m as f64 / (rank + 1) as f64);
        q[i] = running.min(1.0);
    }
    q
}

/// Points of an uplift-model curve over customers sorted by predicted uplift (highest first):
/// `x` customers targeted, `y` the curve value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Curve {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
}

impl Curve {
    fn area(&self) -> f64 {
        self.x
            .windows(2)
            .zip(self.y.windows(2))
            .map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0)
            .sum()
    }

    /// At most `n` + 1 evenly spaced points (for plots).
    pub fn thin(&self, n: usize) -> Curve {
        if self.x.len() <= n + 1 {
            return self.clone();
        }
        let last = self.x.len() - 1;
        let idx: Vec<usize> = (0..=n).map(|k| k * last / n).collect();
        Curve {
            x: idx.iter().map(|&i| self.x[i]).collect(),
            y: idx.iter().map(|&i| self.y[i]).collect(),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum CurveKind {
    Qini,
    Uplift,
}

/// scikit-uplift's `qini_curve` / `uplift_curve`: customers sorted by score (highest first,
/// ties as one step); treated = the first group. Qini: Y_t - Y_c N_t / N_c; uplift curve:
/// (Y_t / N_t - Y_c / N_c)(N_t + N_c).
fn curve(y: &[f64], treated: &[bool], score: &[f64], kind: CurveKind) -> Curve {
    let mut order: Vec<usize> = (0..y.len()).collect();
    // stable sort, highest first
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let mut out = Curve {
        x: vec![0.0],
        y: vec![0.0],
    };
    let (mut nt, mut yt, mut nc, mut yc) = (0.0, 0.0, 0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        if treated[i] {
            nt += 1.0;
            yt += y[i];
        } else {
            nc += 1.0;
            yc += y[i];
        }
        let last_of_tie = k + 1 == order.len() || score[order[k + 1]] != score[i];
        if last_of_tie {
            let v = match kind {
                CurveKind::Qini => yt - if nc > 0.0 { yc * nt / nc } else { 0.0 },
                CurveKind::Uplift => {
                    let rt = if nt > 0.0 { yt / nt } else { 0.0 };
                    let rc = if nc > 0.0 { yc / nc } else { 0.0 };
                    (rt - rc) * (nt + nc)
                }
            };
            out.x.push((k + 1) as f64);
            out.y.push(v);
        }
    }
    out
}

/// Model-view metrics of a predicted uplift on held-out customers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpliftCurves {
    /// (area under the Qini curve - random) / (perfect - random), scikit-uplift's
    /// `qini_auc_score(negative_effect=True)`; binary outcomes only.
    pub qini_coefficient: Option<f64>,
    /// (area under the uplift curve - random) / (perfect - random), scikit-uplift's
    /// `uplift_auc_score`; binary outcomes only.
    pub auuc: Option<f64>,
    /// The Qini curve (at most 101 points).
    pub qini_curve: Curve,
}

/// Qini coefficient, AUUC and the Qini curve of `score` (uplift of the first group).
pub fn uplift_curves(y: &[f64], treated: &[bool], score: &[f64], binary: bool) -> UpliftCurves {
    let qini = curve(y, treated, score, CurveKind::Qini);
    let normalized = |kind: CurveKind, perfect_score: Vec<f64>| -> Option<f64> {
        if !binary || y.is_empty() {
            return None;
        }
        let c = curve(y, treated, score, kind);
        let p = curve(y, treated, &perfect_score, kind);
        let n = *c.x.last()?;
        let random = n * c.y.last()? / 2.0;
        let random_p = n * p.y.last()? / 2.0;
        let den = p.area() - random_p;
        (den.abs() > 0.0).then(|| (c.area() - random) / den)
    };
    let perfect_qini: Vec<f64> = y
        .iter()
        .zip(treated)
        .map(|(&y, &t)| if t { y } else { -y })
        .collect();
    let control_responders = y
        .iter()
        .zip(treated)
        .filter(|(&y, &t)| y == 1.0 && !t)
        .count();
    let treated_nonresponders = y
        .iter()
        .zip(treated)
        .filter(|(&y, &t)| y == 0.0 && t)
        .count();
    let perfect_uplift: Vec<f64> = y
        .iter()
        .zip(treated)
        .map(|(&y, &t)| {
            let t = t as u8 as f64;
            let summand = if control_responders > treated_nonresponders {
                y
            } else {
                t
            };
            2.0 * ((y == t) as u8 as f64) + summand
        })
        .collect();
    UpliftCurves {
        qini_coefficient: normalized(CurveKind::Qini, perfect_qini),
        auuc: normalized(CurveKind::Uplift, perfect_uplift),
        qini_curve: qini.thin(100),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Newcombe (1998), Statistics in Medicine 17:873, Table II, example (a): 56/70 vs 48/80,
    /// method 10 (hybrid score): 0.0524 to 0.3339.
    #[test]
    fn newcombe_matches_the_paper() {
        let (lo, hi) = newcombe(56.0, 70.0, 48.0, 80.0);
        assert!((lo - 0.0524).abs() < 5e-5, "{lo}");
        assert!((hi - 0.3339).abs() < 5e-5, "{hi}");
        // Newcombe (1998) Table I: Wilson interval of 81/263 is 0.2553 to 0.3662
        let (l, u) = wilson(81.0, 263.0);
        assert!(
            (l - 0.2553).abs() < 5e-5 && (u - 0.3662).abs() < 5e-5,
            "{l} {u}"
        );
    }

    /// scipy 1.17.1 `ttest_ind([1,2,3,4,5,6,7,8], [3,5,7,9,11], equal_var=False)`:
    /// t = -1.507557, df = 7.0, p = 0.175400; `stats.t.ppf(0.975, 7)` = 2.364624.
    #[test]
    fn welch_matches_scipy() {
        let mut a = Acc::default();
        let mut b = Acc::default();
        (1..=8).for_each(|v| a.add(v as f64));
        [3.0, 5.0, 7.0, 9.0, 11.0].iter().for_each(|&v| b.add(v));
        let (d, (lo, hi), p) = welch(&a, &b);
        assert!((d + 2.5).abs() < 1e-12);
        assert!((p - 0.175400).abs() < 1e-6, "{p}");
        let se = 2.5 / 1.507_556_722_888_818;
        assert!(((hi - d) / se - 2.364_624).abs() < 1e-5, "{lo} {hi}");
        assert!(((d - lo) / se - 2.364_624).abs() < 1e-5, "{lo} {hi}");
        // scipy 1.17.1 chi2_contingency([[56,14],[48,32]], correction=False): p = 0.0080451
        assert!((two_proportion_p(56.0, 70.0, 48.0, 80.0) - 0.008_045_08).abs() < 1e-8);
    }

    /// BH by hand: p = (0.01, 0.04, 0.03, 0.2), m = 4 -> q = (0.04, 0.0533, 0.0533, 0.2).
    #[test]
    fn bh_by_hand() {
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.2]);
        let want = [0.04, 0.04 * 4.0 / 3.0, 0.04 * 4.0 / 3.0, 0.2];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
    }

    /// A score that puts the treated responders first beats a reversed one; the perfect
    /// ordering itself scores 1.
    #[test]
    fn qini_orders_models() {
        let y = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let t = [true, true, true, false, false, false, true, false];
        let perfect: Vec<f64> = y
            .iter()
            .zip(&t)
            .map(|(&y, &t)| if t { y } else { -y })
            .collect();
        let good = uplift_curves(&y, &t, &perfect, true);
        assert!((good.qini_coefficient.unwrap() - 1.0).abs() < 1e-12);
        let reversed: Vec<f64> = perfect.iter().map(|s| -s).collect();
        let bad = uplift_curves(&y, &t, &reversed, true);
        assert!(bad.qini_coefficient.unwrap() < 0.0);
        // hand-computed Qini curve of the perfect order: treated responders (2) first,
        // then ties at 0 (5 customers, of which 2 treated, 3 control) then the control responder
        let c = &good.qini_curve;
        assert_eq!(c.x, vec![0.0, 2.0, 7.0, 8.0]);
        // after 7: treated 4 (2 successes), control 3 (0 successes) -> 2;
        // after 8: treated 4 (2), control 4 (1) -> 2 - 1 * 4 / 4 = 1
        assert_eq!(c.y, vec![0.0, 2.0, 2.0, 1.0]);
    }
}
