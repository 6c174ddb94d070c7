//! The common grid of every discovery method: each feature cut into at most [`MAX_BINS`] fine
//! bins on the training rows, plus one bin for missing values; rules are sets of allowed bins.

use serde::{Deserialize, Serialize};

/// Fine bins per numeric feature: enough that a rule's threshold lands within 1% of the
/// customers of the best cut, few enough that interval searches stay cheap.
pub const MAX_BINS: usize = 128;

/// A feature's values before binning.
#[derive(Debug, Clone)]
pub enum FeatureValues {
    /// NaN = missing.
    Num(Vec<f64>),
    /// Codes into `labels`; `None` = missing. `boolean`: the labels are `false`, `true`.
    Cat {
        /// Codes into `labels` (`None`: missing).
        codes: Vec<Option<u32>>,
        /// The categories.
        labels: Vec<String>,
        /// The labels are `false`, `true`.
        boolean: bool,
    },
}

/// A named feature of the comparison table.
#[derive(Debug, Clone)]
pub struct Feature {
    /// Feature name.
    pub name: String,
    /// Its values.
    pub values: FeatureValues,
}

/// How a feature's bins map back to values.
#[derive(Debug, Clone)]
pub enum BinKind {
    /// Bin b holds the values in `(thresholds[b-1], thresholds[b]]`; the last bin is open above.
    Num { thresholds: Vec<f64> },
    /// Bin b is the category `labels[b]`.
    Cat { labels: Vec<String>, boolean: bool },
}

/// A feature cut into bins; the bin after the value bins holds the missing values.
#[derive(Debug, Clone)]
pub struct Binned {
    pub name: String,
    pub kind: BinKind,
    pub bins: Vec<u16>,
}

impl Binned {
    /// Bins of non-missing values.
    pub fn n_values(&self) -> usize {
        match &self.kind {
            BinKind::Num { thresholds } => thresholds.len() + 1,
            BinKind::Cat { labels, .. } => labels.len(),
        }
    }
    pub fn missing_bin(&self) -> usize {
        self.n_values()
    }
    pub fn n_bins(&self) -> usize {
        self.n_values() + 1
    }
    pub fn is_numeric(&self) -> bool {
        matches!(self.kind, BinKind::Num { .. })
    }

    /// Whether each bin holds at least one customer (of all rows).
    pub fn occupied(&self) -> Vec<bool> {
        let mut o = vec![false; self.n_bins()];
        for &b in &self.bins {
            o[b as usize] = true;
        }
        o
    }

    /// Cuts a feature: numeric thresholds from the `train` rows' values (the roundest number
    /// between neighbouring distinct values, at most [`MAX_BINS`] bins of about equal counts).
    pub fn new(feature: &Feature, train: &[u32]) -> Binned {
        match &feature.values {
            FeatureValues::Num(v) => {
                let mut sorted: Vec<f64> = train
                    .iter()
                    .map(|&i| v[i as usize])
                    .filter(|x| !x.is_nan())
                    .collect();
                sorted.sort_unstable_by(f64::total_cmp);
                let thresholds = cut_points(&sorted, MAX_BINS);
                let missing = thresholds.len() as u16 + 1;
                let bins = v
                    .iter()
                    .map(|&x| {
                        if x.is_nan() {
                            missing
                        } else {
                            thresholds.partition_point(|&t| t < x) as u16
                        }
                    })
                    .collect();
                Binned {
                    name: feature.name.clone(),
                    kind: BinKind::Num { thresholds },
                    bins,
                }
            }
            FeatureValues::Cat {
                codes,
                labels,
                boolean,
            } => {
                let missing = labels.len() as u16;
                Binned {
                    name: feature.name.clone(),
                    kind: BinKind::Cat {
                        labels: labels.clone(),
                        boolean: *boolean,
                    },
                    bins: codes
                        .iter()
                        .map(|c| c.map_or(missing, |c| c as u16))
                        .collect(),
                }
            }
        }
    }
}

/// Upper-inclusive cut points of sorted values into at most `max_bins` bins of about equal
/// counts, each the roundest number between two neighbouring distinct values (see
/// [`round_between`]).
fn cut_points(sorted: &[f64], max_bins: usize) -> Vec<f64> {
    let n = sorted.len();
    let mut out: Vec<f64> = Vec::new();
    if n == 0 {
        return out;
    }
    let mut distinct = sorted.to_vec();
    distinct.dedup();
    if distinct.len() <= max_bins {
        return distinct
            .windows(2)
            .map(|w| round_between(w[0], w[1]))
            .collect();
    }
    // each cut may move by 1/16 of a bin to land on a round number
    let slack = (n / (max_bins * 16)).max(1);
    for k in 1..max_bins {
        let pos = ((k * n) / max_bins).min(n - 1);
        let lo = sorted[pos.saturating_sub(slack)];
        let v = sorted[pos];
        // the first value above v, and a value up to `slack` rows further
        let next = sorted.partition_point(|&x| x <= v);
        if next >= n {
            break;
        }
        let hi = sorted[(pos + slack).max(next).min(n - 1)];
        let t = if hi > lo {
            round_between(lo, hi)
        } else {
            round_between(v, sorted[next])
        };
        if out.last().is_none_or(|&last| t > last) {
            out.push(t);
        }
    }
    out
}

/// The roundest number t with a <= t < b (fewest significant digits): the same split of the
/// training values as scikit-learn's midpoint, but rules read `age <= 29` and
/// `income > 150100` instead of `age <= 29.5` and `income > 150122.685`.
pub fn round_between(a: f64, b: f64) -> f64 {
    let m = a.abs().max(b.abs());
    if m.is_nan() || m <= 0.0 || a.partial_cmp(&b) != Some(std::cmp::Ordering::Less) {
        return a;
    }
    let e = m.log10().floor() as i32;
    for digits in 1..=17 {
        let scale = 10f64.powi(e - digits + 1);
        let t = (a / scale).ceil() * scale;
        // drop the noise of the multiplication
        let t: f64 = format!("{:.*e}", (digits - 1).max(0) as usize, t)
            .parse()
            .unwrap_or(t);
        if a <= t && t < b {
            return t;
        }
    }
    a
}
/// A condition in bin space: the allowed bins of one feature (the missing bin included).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BinCond {
    pub feature: usize,
    pub allowed: Vec<bool>,
}

impl BinCond {
    /// Whether the condition excludes nobody in the data: every bin it leaves out is empty
    /// (e.g. `age is present` when no age is missing). `occupied` is per bin of its feature.
    pub fn excludes_nobody(&self, occupied: &[bool]) -> bool {
        self.allowed.iter().zip(occupied).all(|(&a, &o)| a || !o)
    }
}

/// A conjunction of conditions on distinct features, sorted by feature.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct BinRule {
    pub conds: Vec<BinCond>,
}

impl BinRule {
    pub fn matches(&self, bins: &[Binned], row: usize) -> bool {
        self.conds
            .iter()
            .all(|c| c.allowed[bins[c.feature].bins[row] as usize])
    }

    /// The conjunction with one more condition (intersected with an existing one on the same
    /// feature). `None` when it would need more than `max_conditions` features or allows no bin.
    pub fn and(&self, c: &BinCond, max_conditions: usize) -> Option<BinRule> {
        let mut out = self.clone();
        match out.conds.iter_mut().find(|x| x.feature == c.feature) {
            Some(x) => {
                for (a, b) in x.allowed.iter_mut().zip(&c.allowed) {
                    *a &= *b;
                }
            }
            None => {
                out.conds.push(c.clone());
                out.conds.sort();
            }
        }
        out.normalize();
        (out.conds.len() <= max_conditions && out.conds.iter().all(|c| c.allowed.contains(&true)))
            .then_some(out)
    }

    /// Drops conditions that allow every bin.
    pub fn normalize(&mut self) {
        self.conds.retain(|c| c.allowed.contains(&false));
    }
}

/// Which side of a value a missing value goes to is part of the condition: `missing` says
/// whether customers without a value match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The feature.
    pub feature: String,
    #[serde(flatten)]
    /// The test on a present value.
    pub test: Test,
    /// Customers with a missing value match too.
    pub missing: bool,
}

/// The test of a [`Condition`] on a present value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Test {
    /// `low < x <= high` (a missing bound is unbounded).
    Range {
        /// Lower bound, excluded.
        low: Option<f64>,
        /// Upper bound, included.
        high: Option<f64>,
    },
    /// The value is one of these categories.
    In {
        /// The categories.
        values: Vec<String>,
    },
    /// A boolean equal to `value`.
    Is {
        /// The boolean.
        value: bool,
    },
    /// No present value matches (only missing values, when `missing`).
    Nothing,
}

impl Condition {
    /// Range text as analysts write it: `> 150000`, `<= 29.5`, `(30, 45]`, `AP-SOUTH/LATAM`.
    pub fn range_text(&self) -> String {
        let mut s = match &self.test {
            Test::Range { low, high } => match (low, high) {
                (Some(l), Some(h)) => format!("({}, {}]", num(*l), num(*h)),
                (Some(l), None) => format!("> {}", num(*l)),
                (None, Some(h)) => format!("<= {}", num(*h)),
                (None, None) => "any value".to_string(),
            },
            Test::In { values } => values.join("/"),
            Test::Is { value } => value.to_string(),
            Test::Nothing => "missing".to_string(),
        };
        if self.missing && !matches!(self.test, Test::Nothing) {
            s.push_str(" or missing");
        }
        s
    }

    /// The condition as text: `income > 150000`, `region in AP-SOUTH`, `premium is false`.
    pub fn text(&self) -> String {
        let f = &self.feature;
        let mut s = match &self.test {
            Test::Range { low, high } => match (low, high) {
                (Some(l), Some(h)) => format!("{} < {f} <= {}", num(*l), num(*h)),
                (Some(l), None) => format!("{f} > {}", num(*l)),
                (None, Some(h)) => format!("{f} <= {}", num(*h)),
                (None, None) => format!("{f} is present"),
            },
            Test::In { values } if values.len() == 1 => format!("{f} = {}", values[0]),
            Test::In { values } => format!("{f} in ({})", values.join(", ")),
            Test::Is { value } => format!("{f} is {value}"),
            Test::Nothing => format!("{f} is missing"),
        };
        if self.missing && !matches!(self.test, Test::Nothing) {
            s = format!("({s} or {f} is missing)");
        }
        s
    }
}

/// A number as short as it can be while still being exactly the threshold.
pub fn num(x: f64) -> String {
    format!("{x}")
}

/// The public form of a bin condition.
pub fn condition(bins: &[Binned], c: &BinCond) -> Condition {
    let b = &bins[c.feature];
    let missing = c.allowed[b.missing_bin()];
    let values = &c.allowed[..b.n_values()];
    let test = if !values.contains(&true) {
        Test::Nothing
    } else {
        match &b.kind {
            BinKind::Num { thresholds } => {
                let lo = values.iter().position(|&a| a).expect("some");
                let hi = values.iter().rposition(|&a| a).expect("some");
                Test::Range {
                    low: (lo > 0).then(|| thresholds[lo - 1]),
                    high: (hi + 1 < values.len()).then(|| thresholds[hi]),
                }
            }
            BinKind::Cat { labels, boolean } => {
                let allowed: Vec<String> = labels
                    .iter()
                    .zip(values)
                    .filter(|(_, a)| **a)
                    .map(|(l, _)| l.clone())
                    .collect();
                if *boolean && allowed.len() == 1 {
                    Test::Is {
                        value: allowed[0] == "true",
                    }
                } else {
                    Test::In { values: allowed }
                }
            }
        }
    };
    Condition {
        feature: b.name.clone(),
        test,
        missing,
    }
}

/// A bin condition allowing bins `lo..=hi` of the values (and the missing bin when `missing`).
pub fn interval(b: &Binned, feature: usize, lo: usize, hi: usize, missing: bool) -> BinCond {
    let mut allowed = vec![false; b.n_bins()];
    for a in &mut allowed[lo..=hi] {
        *a = true;
    }
    allowed[b.missing_bin()] = missing;
    BinCond { feature, allowed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_points_are_midpoints_and_bins_follow_them() {
        let f = Feature {
            name: "x".into(),
            values: FeatureValues::Num(vec![1.0, 2.0, 2.0, 3.0, f64::NAN, 10.0]),
        };
        let train: Vec<u32> = (0..6).collect();
        let b = Binned::new(&f, &train);
        let BinKind::Num { thresholds } = &b.kind else {
            panic!()
        };
        assert_eq!(thresholds, &vec![1.0, 2.0, 3.0]);
        assert_eq!(b.bins, vec![0, 1, 1, 2, 4, 3]);
        let c = condition(std::slice::from_ref(&b), &interval(&b, 0, 1, 3, false));
        assert_eq!(
            c.test,
            Test::Range {
                low: Some(1.0),
                high: None
            }
        );
        assert_eq!(c.text(), "x > 1");
        assert_eq!(round_between(150_012.37, 150_233.1), 150_100.0);
        assert_eq!(round_between(29.0, 30.0), 29.0);
        assert_eq!(round_between(0.123, 0.1234), 0.123);
        assert_eq!(round_between(-5.5, -5.25), -5.5);
        assert_eq!(round_between(149_999.99, 150_000.5), 150_000.0);
    }

    #[test]
    fn many_values_give_at_most_max_bins() {
        let v: Vec<f64> = (0..10_000).map(|i| (i % 997) as f64 * 1.5).collect();
        let train: Vec<u32> = (0..10_000).collect();
        let b = Binned::new(
            &Feature {
                name: "x".into(),
                values: FeatureValues::Num(v),
            },
            &train,
        );
        assert!(b.n_values() <= MAX_BINS && b.n_values() > 100);
        let BinKind::Num { thresholds } = &b.kind else {
            panic!()
        };
        assert!(thresholds.windows(2).all(|w| w[0] < w[1]));
    }
}
