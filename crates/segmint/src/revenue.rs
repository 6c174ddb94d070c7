//! Revenue concentration: the Pareto / 80-20 summary, Gini coefficient and Lorenz curve of
//! revenue per customer, and revenue per group.
//!
//! Revenue per customer is the net spend (`monetary`: purchases minus returns). For the
//! concentration measures a negative net spend counts as 0 (the Gini coefficient and Lorenz
//! curve are defined for non-negative values); group revenue sums the net values as they are.

use serde::{Deserialize, Serialize};

/// Concentration of revenue over customers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pareto {
    pub customers: usize,
    /// Sum of max(revenue, 0).
    pub revenue: f64,
    /// Share of revenue from the top 20% of customers (the top ceil(0.2 n)).
    pub top20_share: f64,
    /// Smallest share of customers (from the top) that brings 80% of revenue.
    pub customers_for_80: f64,
    /// Gini coefficient: 2 sum(i x_(i)) / (n sum x) - (n + 1) / n, x ascending, i = 1..n.
    /// 0 = everyone spends the same, near 1 = one customer brings everything.
    pub gini: f64,
    /// Lorenz curve at population shares 0, 0.05, .., 1: (share of customers from the bottom,
    /// their share of revenue); the bottom round(p n) customers.
    pub lorenz: Vec<(f64, f64)>,
}

/// The Pareto summary of revenue per customer.
pub fn pareto(revenue: &[f64]) -> Pareto {
    let mut x: Vec<f64> = revenue.iter().map(|&v| v.max(0.0)).collect();
    x.sort_by(f64::total_cmp);
    let n = x.len();
    let total: f64 = x.iter().sum();
    let nf = n.max(1) as f64;
    let share = |v: f64| if total > 0.0 { v / total } else { 0.0 };
    let top = ((0.2 * n as f64).ceil() as usize).min(n);
    let top20_share = share(x[n - top..].iter().sum());
    let mut acc = 0.0;
    let mut needed = n;
    for (m, v) in x.iter().rev().enumerate() {
        acc += v;
        if total > 0.0 && acc >= 0.8 * total - 1e-9 * total {
            needed = m + 1;
            break;
        }
    }
    let weighted: f64 = x.iter().enumerate().map(|(i, v)| (i + 1) as f64 * v).sum();
    let gini = if total > 0.0 {
        2.0 * weighted / (nf * total) - (nf + 1.0) / nf
    } else {
        0.0
    };
    let mut cum = vec![0.0; n + 1];
    for i in 0..n {
        cum[i + 1] = cum[i] + x[i];
    }
    let lorenz = (0..=20)
        .map(|s| {
            let p = s as f64 / 20.0;
            let m = (p * n as f64).round() as usize;
            (p, share(cum[m.min(n)]))
        })
        .collect();
    Pareto {
        customers: n,
        revenue: total,
        top20_share,
        customers_for_80: if n == 0 { 0.0 } else { needed as f64 / nf },
        gini,
        lorenz,
    }
}

/// Net revenue and its share of the total per group (`labels[i] < groups`).
pub fn by_group(revenue: &[f64], labels: &[u32], groups: usize) -> Vec<(f64, f64)> {
    let mut sums = vec![0.0; groups];
    for (&r, &l) in revenue.iter().zip(labels) {
        if (l as usize) < groups {
            sums[l as usize] += r;
        }
    }
    let total: f64 = sums.iter().sum();
    sums.iter()
        .map(|&s| (s, if total != 0.0 { s / total } else { 0.0 }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_pareto() {
        // revenue 40, 0, 20, 10, 30 (and a refund-only customer at -5, counted as 0): n = 6,
        // total 100. Ascending 0, 0, 10, 20, 30, 40.
        let p = pareto(&[40.0, 0.0, 20.0, 10.0, 30.0, -5.0]);
        assert_eq!(p.customers, 6);
        assert_eq!(p.revenue, 100.0);
        // top ceil(1.2) = 2 customers: 40 + 30 = 70%
        assert!((p.top20_share - 0.7).abs() < 1e-12);
        // 40 + 30 + 20 = 90% >= 80% with 3 of 6 customers
        assert!((p.customers_for_80 - 0.5).abs() < 1e-12);
        // sum i x_(i) = 3*10 + 4*20 + 5*30 + 6*40 = 500; G = 2*500/(6*100) - 7/6 = 0.5
        // (mean absolute difference: sum_ij |xi - xj| = 600, / (2 n^2 mean) = 600/1200 = 0.5)
        assert!((p.gini - 0.5).abs() < 1e-12, "{}", p.gini);
        assert_eq!(p.lorenz.len(), 21);
        assert_eq!(p.lorenz[0], (0.0, 0.0));
        assert_eq!(p.lorenz[20], (1.0, 1.0));
        // p = 0.5: the bottom 3 customers bring 10 of 100
        assert!((p.lorenz[10].1 - 0.1).abs() < 1e-12);
        // equal spend: no concentration
        let e = pareto(&[5.0; 10]);
        assert!(e.gini.abs() < 1e-12);
        assert!((e.top20_share - 0.2).abs() < 1e-12);
        assert!((e.customers_for_80 - 0.8).abs() < 1e-12);
        // nothing spent: zeros, no NaN
        let z = pareto(&[0.0, 0.0]);
        assert_eq!((z.gini, z.top20_share), (0.0, 0.0));
    }

    #[test]
    fn revenue_by_group() {
        let g = by_group(&[10.0, 30.0, -5.0, 65.0], &[0, 1, 1, 0], 2);
        assert_eq!(g, vec![(75.0, 0.75), (25.0, 0.25)]);
    }
}
