//! Local refinement of a candidate rule on the training rows: each condition's range (or
//! category set) is re-chosen, the others held fixed, conditions are added and dropped, all to
//! maximise the penalised score |z| / penalty^(complexity - 1), where z is the groups'
//! difference over its standard error and the complexity counts a simple condition (`x <= t`,
//! `x > t`, one category, all but one category) as 1 and any other range or set as 2: a rule
//! has to earn each extra degree of freedom with a larger |z| (`penalty`, 1.15 by default). A
//! tree's threshold or an IV bin edge is where the first split happened to fall; the refined rule is the segment's
//! own best boundary (for a segment with a step effect, |z| peaks at the step).

use std::collections::HashMap;
use std::sync::Mutex;

use super::bins::{BinCond, BinRule, Binned};

use super::inference::{z_score, Acc};

/// The training rows of one pair of groups, copied into dense per-pair columns (the search
/// makes thousands of passes over them).
pub struct PairRows<'a> {
    pub bins: &'a [Binned],
    pub binary: bool,
    /// Smallest rule, in training rows per group.
    pub min_rows: f64,
    pub max_conditions: usize,
    /// Factor by which |z| must grow to pay for one more degree of freedom.
    pub penalty: f64,
    /// Bins of each feature, per pair row.
    local: Vec<Vec<u16>>,
    y: Vec<f64>,
    is_a: Vec<bool>,
    /// Each feature's histograms over all pair rows.
    full: Vec<(Vec<Acc>, Vec<Acc>)>,
    z_cache: Mutex<HashMap<BinRule, f64>>,
}

impl<'a> PairRows<'a> {
    /// `is_a`: per row of the whole table, in the pair's first group.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        bins: &'a [Binned],
        rows: &'a [u32],
        y: &[f64],
        is_a: &[bool],
        binary: bool,
        min_rows: f64,
        max_conditions: usize,
        penalty: f64,
    ) -> PairRows<'a> {
        let local: Vec<Vec<u16>> = bins
            .iter()
            .map(|b| rows.iter().map(|&i| b.bins[i as usize]).collect())
            .collect();
        let mut p = PairRows {
            bins,
            binary,
            min_rows,
            max_conditions,
            penalty,
            local,
            y: rows.iter().map(|&i| y[i as usize]).collect(),
            is_a: rows.iter().map(|&i| is_a[i as usize]).collect(),
            full: Vec::new(),
            z_cache: Mutex::new(HashMap::new()),
        };
        p.full = (0..bins.len())
            .map(|f| p.histograms(&BinRule::default(), f))
            .collect();
        p
    }

    #[inline]
    fn matches(&self, rule: &BinRule, j: usize) -> bool {
        rule.conds
            .iter()
            .all(|c| c.allowed[self.local[c.feature][j] as usize])
    }

    /// Rows of the pair matching a rule (true / false per pair row).
    pub fn cover(&self, rule: &BinRule) -> Vec<bool> {
        (0..self.y.len()).map(|j| self.matches(rule, j)).collect()
    }

    /// Outcome statistics of the first and second group among the rows a rule matches.
    pub fn accs(&self, rule: &BinRule) -> (Acc, Acc) {
        let (mut a, mut b) = (Acc::default(), Acc::default());
        for j in 0..self.y.len() {
            if self.matches(rule, j) {
                if self.is_a[j] {
                    a.add(self.y[j]);
                } else {
                    b.add(self.y[j]);
                }
            }
        }
        (a, b)
    }

    pub fn z(&self, rule: &BinRule) -> f64 {
        if let Some(z) = self.z_cache.lock().expect("cache").get(rule) {
            return *z;
        }
        let (a, b) = self.accs(rule);
        let z = z_score(&a, &b, self.binary, self.min_rows);
        self.z_cache.lock().expect("cache").insert(rule.clone(), z);
        z
    }

    /// Complexity of a condition: 1 when simple, 2 otherwise (see the module documentation).
    pub fn complexity(&self, c: &BinCond) -> i32 {
        if self.penalised(c.feature, &c.allowed, 1.0) < 1.0 {
            2
        } else {
            1
        }
    }

    /// The penalised score of a rule (see the module documentation).
    pub fn score(&self, rule: &BinRule) -> f64 {
        let k: i32 = rule.conds.iter().map(|c| self.complexity(c)).sum();
        self.z(rule).abs() / self.penalty.powi((k - 1).max(0))
    }

    /// Per-bin statistics of `feature` for each group among the rows matching `rule`.
    fn histograms(&self, rule: &BinRule, feature: usize) -> (Vec<Acc>, Vec<Acc>) {
        if rule.conds.is_empty() {
            if let Some(h) = self.full.get(feature) {
                return h.clone();
            }
        }
        let nb = self.bins[feature].n_bins();
        let (mut ha, mut hb) = (vec![Acc::default(); nb], vec![Acc::default(); nb]);
        for (j, &k) in self.local[feature].iter().enumerate() {
            if self.matches(rule, j) {
                let k = k as usize;
                if self.is_a[j] {
                    ha[k].add(self.y[j]);
                } else {
                    hb[k].add(self.y[j]);
                }
            }
        }
        (ha, hb)
    }

    /// |z| of a condition's allowed set, divided by the penalty when the set is
    /// complex (a two-sided range; a category set that is neither one category nor all but
    /// one): the score that decides between conditions.
    pub fn penalised(&self, feature: usize, allowed: &[bool], z: f64) -> f64 {
        let b = &self.bins[feature];
        let values = &allowed[..b.n_values()];
        let on = values.iter().filter(|&&a| a).count();
        let complex = if b.is_numeric() {
            on > 0 && !values[0] && !values[values.len() - 1]
        } else {
            on > 1 && on + 1 < values.len()
        };
        if complex {
            z / self.penalty
        } else {
            z
        }
    }

    /// The best allowed-bin set of `feature` given histograms: (penalised |z|, allowed).
    fn best_set(&self, feature: usize, ha: &[Acc], hb: &[Acc]) -> Option<(f64, Vec<bool>)> {
        let b = &self.bins[feature];
        let nb = b.n_bins();
        let miss = b.missing_bin();
        let z = |a: &Acc, bb: &Acc| z_score(a, bb, self.binary, self.min_rows).abs();
        let mut best: Option<(f64, Vec<bool>)> = None;
        let mut take = |score: f64, make: &dyn Fn() -> Vec<bool>| {
            if score <= 0.0 || best.as_ref().is_some_and(|(s, _)| score <= *s + 1e-12) {
                return;
            }
            let allowed = make();
            let eff = self.penalised(feature, &allowed, score);
            if best.as_ref().is_none_or(|(s, _)| eff > *s + 1e-12) {
                best = Some((eff, allowed));
            }
        };
        if b.is_numeric() {
            let nv = b.n_values();
            let mut pa = vec![Acc::default(); nv + 1];
            let mut pb = vec![Acc::default(); nv + 1];
            for k in 0..nv {
                pa[k + 1] = pa[k];
                pa[k + 1].merge(&ha[k]);
                pb[k + 1] = pb[k];
                pb[k + 1].merge(&hb[k]);
            }
            for lo in 0..nv {
                for hi in lo..nv {
                    let a = pa[hi + 1].minus(&pa[lo]);
                    let bb = pb[hi + 1].minus(&pb[lo]);
                    for with_missing in [false, true] {
                        let (mut a2, mut b2) = (a, bb);
                        if with_missing {
                            if ha[miss].n + hb[miss].n == 0.0 {
                                continue;
                            }
                            a2.merge(&ha[miss]);
                            b2.merge(&hb[miss]);
                        }
                        take(z(&a2, &b2), &|| {
                            let mut v = vec![false; nb];
                            v[lo..=hi].iter_mut().for_each(|x| *x = true);
                            v[miss] = with_missing;
                            v
                        });
                    }
                }
            }
            take(z(&ha[miss], &hb[miss]), &|| {
                let mut v = vec![false; nb];
                v[miss] = true;
                v
            });
        } else {
            let mut cats: Vec<usize> = (0..nb).filter(|&c| ha[c].n + hb[c].n > 0.0).collect();
            let diff = |c: usize| {
                let (ma, mb) = (ha[c].mean(), hb[c].mean());
                if ma.is_nan() || mb.is_nan() {
                    0.0
                } else {
                    ma - mb
                }
            };
            cats.sort_by(|&x, &y| diff(x).total_cmp(&diff(y)).then(x.cmp(&y)));
            for from_top in [false, true] {
                let order: Vec<usize> = if from_top {
                    cats.iter().rev().copied().collect()
                } else {
                    cats.clone()
                };
                let (mut a, mut bb) = (Acc::default(), Acc::default());
                for k in 0..order.len() {
                    a.merge(&ha[order[k]]);
                    bb.merge(&hb[order[k]]);
                    take(z(&a, &bb), &|| {
                        let mut v = vec![false; nb];
                        order[..=k].iter().for_each(|&c| v[c] = true);
                        v
                    });
                }
            }
        }
        best
    }

    /// Refines a rule (see the module documentation).
    pub fn refine(&self, rule: &BinRule) -> BinRule {
        let mut rule = rule.clone();
        for _round in 0..3 {
            let mut changed = false;
            for c in 0..rule.conds.len() {
                let feature = rule.conds[c].feature;
                let mut others = rule.clone();
                others.conds.remove(c);
                let (ha, hb) = self.histograms(&others, feature);
                let current = {
                    let (mut a, mut b) = (Acc::default(), Acc::default());
                    for (k, &ok) in rule.conds[c].allowed.iter().enumerate() {
                        if ok {
                            a.merge(&ha[k]);
                            b.merge(&hb[k]);
                        }
                    }
                    let z = z_score(&a, &b, self.binary, self.min_rows).abs();
                    self.penalised(feature, &rule.conds[c].allowed, z)
                };
                if let Some((score, allowed)) = self.best_set(feature, &ha, &hb) {
                    if score > current * (1.0 + 1e-9) && allowed != rule.conds[c].allowed {
                        rule.conds[c].allowed = allowed;
                        changed = true;
                    }
                }
            }
            rule.normalize();
            if !changed {
                break;
            }
        }
        // simpler is better: drop a condition that does not pay for itself
        loop {
            let full = self.score(&rule);
            let drop = (0..rule.conds.len()).find(|&c| {
                let mut r = rule.clone();
                r.conds.remove(c);
                !r.conds.is_empty() && self.score(&r) >= full
            });
            match drop {
                Some(c) => {
                    rule.conds.remove(c);
                }
                None => break,
            }
        }
        rule
    }

    /// Adds one condition (the best range or set of any other feature) when that raises |z|
    /// by the penalty: the way from a one-feature bin to a two- or three-feature
    /// segment.
    pub fn extend(&self, rule: &BinRule) -> Option<BinRule> {
        if rule.conds.len() >= self.max_conditions {
            return None;
        }
        // the new rule scores eff / X^k against |z| / X^(k-1) now: it must reach |z| X
        let base = self.z(rule).abs();
        let mut best: Option<(f64, BinRule)> = None;
        for f in 0..self.bins.len() {
            if rule.conds.iter().any(|c| c.feature == f) {
                continue;
            }
            let (ha, hb) = self.histograms(rule, f);
            if let Some((score, allowed)) = self.best_set(f, &ha, &hb) {
                if allowed.iter().all(|&a| a) {
                    continue;
                }
                if score > base * self.penalty && best.as_ref().is_none_or(|(s, _)| score > *s) {
                    let r = rule.and(
                        &BinCond {
                            feature: f,
                            allowed,
                        },
                        self.max_conditions,
                    )?;
                    best = Some((score, r));
                }
            }
        }
        best.map(|(_, r)| r)
    }
}
