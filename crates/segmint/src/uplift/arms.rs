//! A control and k arms (`arms.json`): each arm's lift over the control, overall and within
//! each rule the comparison found, with 95% intervals and Benjamini-Hochberg q-values over every
//! arm and rule tested together.
//!
//! Overall lifts use every customer (no rule was chosen on them, so nothing needs holding out);
//! the lifts within a rule use the test customers only, because the rule was found on the
//! training customers. Rates: Newcombe's hybrid score interval and the two-proportion z test;
//! means: Welch's interval and t test (the same as the pairwise rules).

use serde::{Deserialize, Serialize};

use super::bins::{BinRule, Binned};
use super::inference::{benjamini_hochberg, newcombe, two_proportion_p, welch, Acc};

/// One arm against the control on one set of customers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmLift {
    /// The arm.
    pub arm: String,
    /// Its customers.
    pub customers: usize,
    /// The control's customers.
    pub control_customers: usize,
    /// The arm's rate (or mean).
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub mean: f64,
    /// The control's.
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub control_mean: f64,
    /// Arm minus control.
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub lift: f64,
    /// 95% interval of the lift.
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub ci_low: f64,
    /// See `ci_low`.
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub ci_high: f64,
    /// Two-sided p-value.
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub p_value: f64,
    /// Benjamini-Hochberg q-value over every arm and rule in the file.
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub q_value: f64,
}

/// The arms' lifts among the test customers of one rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleArms {
    /// The rule's id in `rules.json`.
    pub rule_id: usize,
    /// The rule as text.
    pub rule: String,
    /// Per arm.
    pub arms: Vec<ArmLift>,
    /// The arm with the highest rate (or mean) here, the control included.
    pub best: String,
}

/// `arms.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmsReport {
    /// The control group.
    pub control: String,
    /// `binary` or `continuous`.
    pub outcome: String,
    /// Every arm over all customers.
    pub overall: Vec<ArmLift>,
    /// Every arm in each rule, on the test customers.
    pub rules: Vec<RuleArms>,
}

/// One arm's lift from the two groups' accumulators (q-value filled in later).
fn lift(arm: &str, a: &Acc, c: &Acc, binary: bool) -> ArmLift {
    let (ci, p) = if a.n < 2.0 || c.n < 2.0 {
        ((f64::NAN, f64::NAN), f64::NAN)
    } else if binary {
        (
            newcombe(a.sum, a.n, c.sum, c.n),
            two_proportion_p(a.sum, a.n, c.sum, c.n),
        )
    } else {
        let (_, ci, p) = welch(a, c);
        (ci, p)
    };
    ArmLift {
        arm: arm.to_string(),
        customers: a.n as usize,
        control_customers: c.n as usize,
        mean: a.mean(),
        control_mean: c.mean(),
        lift: a.mean() - c.mean(),
        ci_low: ci.0,
        ci_high: ci.1,
        p_value: p,
        q_value: f64::NAN,
    }
}

/// The inputs of [`arms_report`].
pub struct ArmsInput<'a> {
    /// The comparison's bins.
    pub bins: &'a [Binned],
    /// Group labels and each customer's group index.
    pub groups: &'a [String],
    /// See `groups`.
    pub group: &'a [u32],
    /// Outcome per customer.
    pub outcome: &'a [f64],
    /// 0/1 outcome.
    pub binary: bool,
    /// Test rows.
    pub test: &'a [u32],
    /// Index of the control in `groups`.
    pub control: usize,
}

/// Lifts of every arm over the control overall and in each rule `(id, text, rule)`.
pub fn arms_report(inp: &ArmsInput, rules: &[(usize, String, &BinRule)]) -> ArmsReport {
    let k = inp.groups.len();
    let accs_of = |rows: &mut dyn Iterator<Item = usize>| -> Vec<Acc> {
        let mut accs = vec![Acc::default(); k];
        for i in rows {
            accs[inp.group[i] as usize].add(inp.outcome[i]);
        }
        accs
    };
    let lifts = |accs: &[Acc]| -> Vec<ArmLift> {
        (0..k)
            .filter(|&g| g != inp.control)
            .map(|g| lift(&inp.groups[g], &accs[g], &accs[inp.control], inp.binary))
            .collect()
    };
    let overall = lifts(&accs_of(&mut (0..inp.outcome.len())));
    let mut rule_arms: Vec<RuleArms> = rules
        .iter()
        .map(|(id, text, rule)| {
            let accs = accs_of(
                &mut inp
                    .test
                    .iter()
                    .map(|&i| i as usize)
                    .filter(|&i| rule.matches(inp.bins, i)),
            );
            let best = (0..k)
                .filter(|&g| accs[g].n > 0.0)
                .max_by(|&a, &b| accs[a].mean().total_cmp(&accs[b].mean()))
                .map_or(String::new(), |g| inp.groups[g].clone());
            RuleArms {
                rule_id: *id,
                rule: text.clone(),
                arms: lifts(&accs),
                best,
            }
        })
        .collect();
    // q-values over every p-value in the file
    let mut overall = overall;
    let mut ps: Vec<f64> = overall.iter().map(|a| a.p_value).collect();
    for r in &rule_arms {
        ps.extend(r.arms.iter().map(|a| a.p_value));
    }
    let finite: Vec<f64> = ps
        .iter()
        .map(|p| if p.is_nan() { 1.0 } else { *p })
        .collect();
    let q = benjamini_hochberg(&finite);
    let mut it = q.into_iter();
    for a in overall.iter_mut() {
        a.q_value = it.next().expect("a q-value per p-value");
    }
    for r in rule_arms.iter_mut() {
        for a in r.arms.iter_mut() {
            a.q_value = it.next().expect("a q-value per p-value");
        }
    }
    ArmsReport {
        control: inp.groups[inp.control].clone(),
        outcome: if inp.binary { "binary" } else { "continuous" }.into(),
        overall,
        rules: rule_arms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uplift::bins::{interval, Feature, FeatureValues};

    /// Lifts and intervals by hand: control 10/100, arm a 30/100 overall; within x > 0.5 only
    /// the test rows count.
    #[test]
    fn lifts_intervals_and_q_values() {
        let n = 300;
        let group: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect();
        // group 0 = "a": 30 of 100 successes, 1 = "b": 15, 2 = "control": 10
        let outcome: Vec<f64> = (0..n)
            .map(|i| {
                let (g, r) = (i % 3, i / 3);
                let s = match g {
                    0 => r < 30,
                    1 => r < 15,
                    _ => r < 10,
                };
                s as u8 as f64
            })
            .collect();
        let x: Vec<f64> = (0..n).map(|i| ((i / 3) % 2) as f64).collect();
        let all: Vec<u32> = (0..n as u32).collect();
        let b = Binned::new(
            &Feature {
                name: "x".into(),
                values: FeatureValues::Num(x),
            },
            &all,
        );
        let bins = vec![b];
        let groups: Vec<String> = ["a", "b", "control"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let rule = BinRule {
            conds: vec![interval(&bins[0], 0, 1, 1, false)],
        };
        let test: Vec<u32> = (0..n as u32).filter(|i| (i / 3) % 4 < 2).collect();
        let r = arms_report(
            &ArmsInput {
                bins: &bins,
                groups: &groups,
                group: &group,
                outcome: &outcome,
                binary: true,
                test: &test,
                control: 2,
            },
            &[(1, "x > 0".into(), &rule)],
        );
        assert_eq!(r.control, "control");
        let a = &r.overall[0];
        assert_eq!(
            (a.arm.as_str(), a.customers, a.control_customers),
            ("a", 100, 100)
        );
        assert!((a.lift - 0.2).abs() < 1e-12);
        let (lo, hi) = newcombe(30.0, 100.0, 10.0, 100.0);
        assert_eq!((a.ci_low, a.ci_high), (lo, hi));
        assert_eq!(a.p_value, two_proportion_p(30.0, 100.0, 10.0, 100.0));
        // four p-values in all: q = BH over them
        let ps = [
            r.overall[0].p_value,
            r.overall[1].p_value,
            r.rules[0].arms[0].p_value,
            r.rules[0].arms[1].p_value,
        ];
        let q = benjamini_hochberg(&ps);
        assert_eq!(r.overall[0].q_value, q[0]);
        assert_eq!(r.rules[0].arms[1].q_value, q[3]);
        // the rule's test rows: r = i / 3 with r % 4 == 1, 25 per group; successes a 8 (r < 30),
        // b 4, control 3
        let a_in = &r.rules[0].arms[0];
        assert_eq!((a_in.customers, a_in.control_customers), (25, 25));
        assert!((a_in.lift - (8.0 - 3.0) / 25.0).abs() < 1e-12);
        assert_eq!(r.rules[0].best, "a");
    }
}
