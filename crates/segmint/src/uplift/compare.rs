//! The steps of [`compare`] (see the module documentation of [`crate::uplift`]): check the
//! groups, split and bin, search candidates per pair of groups, validate them on the test rows,
//! choose the rules, route every customer.

use std::collections::{BTreeMap, BTreeSet};

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::bins::{condition, BinCond, BinRule, Binned, Condition};
use super::inference::{self, benjamini_hochberg, newcombe, two_proportion_p, welch, Acc};
use super::refine::PairRows;
use super::{
    lasso, tree, woe, Assignments, CompareData, CompareParams, Comparison, FeatureStrength,
    GroupStat, Method, PartStats, RuleResult, Verdict, REFINED_PER_CANDIDATE,
};
use crate::error::{Error, Result};
use crate::predict::{stratified_split, Part};
use crate::progress::Progress;

struct Candidate {
    rule: BinRule,
    methods: BTreeSet<Method>,
    pair: (u32, u32),
    z_train: f64,
}

/// What every step shares: the data, the split, the binned features, the minimum effect.
struct Setup<'a> {
    data: &'a CompareData,
    params: &'a CompareParams,
    k: usize,
    binary: bool,
    split: Vec<Part>,
    train: Vec<u32>,
    test: Vec<u32>,
    bins: Vec<Binned>,
    /// Per feature, which of its bins hold any customer.
    occupied: Vec<Vec<bool>>,
    min_effect: f64,
}

/// The candidates of every pair of groups and what the search saw on the way.
#[derive(Default)]
struct Search {
    candidates: Vec<Candidate>,
    by_method: BTreeMap<String, usize>,
    strength: Vec<FeatureStrength>,
    /// The T-learner's predicted uplift of the first pair, for every customer.
    tlearner_uplift: Vec<f64>,
}

/// Runs the comparison (see the module documentation).
pub fn compare(
    data: &CompareData,
    params: &CompareParams,
    progress: &dyn Progress,
) -> Result<Comparison> {
    params.check()?;
    check_groups(data, params)?;
    let control = match &params.control {
        Some(c) => {
            let i = data.groups.iter().position(|g| g == c).ok_or_else(|| {
                Error::param(
                    "control",
                    format!(
                        "{c:?} is not a value of {} (values: {})",
                        data.group_column,
                        data.groups.join(", ")
                    ),
                )
            })?;
            params.policy.check(&data.groups, c)?;
            Some(i)
        }
        None => None,
    };
    let s = setup(data, params, progress);
    let search = search(&s, progress);
    let results = validate(&s, &search.candidates, progress);
    let tested = results.len();
    let (mut rules, chosen_rules) = choose(&s, &search.candidates, results);
    let (assignments, model_view) = route(&s, &rules, &chosen_rules, search.tlearner_uplift);
    for r in rules.iter_mut().filter(|r| r.routed) {
        r.customers_routed = Some(
            assignments
                .rule
                .iter()
                .filter(|x| **x == Some(r.id))
                .count(),
        );
    }
    let overall =
        [&s.train, &s.test].map(|rows| part_stats(&s, &BinRule::default(), rows, (0, 1)).0);
    let (arms, policy, recommended_arm) = match control {
        Some(c) => {
            let (a, p, r) = arms_and_policy(&s, c, &rules, &chosen_rules, progress)?;
            (Some(a), Some(p), Some(r))
        }
        None => (None, None, None),
    };
    Ok(Comparison {
        segmint: crate::VERSION.to_string(),
        group_column: data.group_column.clone(),
        outcome_column: data.outcome_column.clone(),
        outcome: if s.binary { "binary" } else { "continuous" }.to_string(),
        groups: data.groups.clone(),
        customers: data.outcome.len(),
        dropped_customers: data.dropped,
        columns_left_out: data.columns_left_out.clone(),
        train_customers: s.train.len(),
        test_customers: s.test.len(),
        params: params.clone(),
        min_effect: s.min_effect,
        overall,
        candidates_by_method: search.by_method,
        candidates_tested: tested,
        rules,
        feature_strength: search.strength,
        model_view,
        default_label: params.default_label.clone(),
        arms,
        policy,
        assignments: Assignments {
            split: s.split,
            recommended_arm,
            ..assignments
        },
        customer_id: data.customer_id.clone(),
    })
}

/// With a control: every arm's lift over it (overall, and in each rule on the test rows) and
/// the policy of which arm to give whom.
fn arms_and_policy(
    s: &Setup,
    control: usize,
    rules: &[RuleResult],
    chosen_rules: &[BinRule],
    progress: &dyn Progress,
) -> Result<(super::arms::ArmsReport, super::policy::Policy, Vec<String>)> {
    let data = s.data;
    let listed: Vec<(usize, String, &BinRule)> = rules
        .iter()
        .zip(chosen_rules)
        .map(|(r, b)| (r.id, r.rule.clone(), b))
        .collect();
    let arms = super::arms::arms_report(
        &super::arms::ArmsInput {
            bins: &s.bins,
            groups: &data.groups,
            group: &data.group,
            outcome: &data.outcome,
            binary: s.binary,
            test: &s.test,
            control,
        },
        &listed,
    );
    progress.begin("fitting the policy", 0);
    let (policy, recommended) = super::policy::fit_policy(
        &super::policy::PolicyInput {
            bins: &s.bins,
            groups: &data.groups,
            group: &data.group,
            outcome: &data.outcome,
            train: &s.train,
            test: &s.test,
            control: &data.groups[control],
            seed: s.params.seed,
        },
        &s.params.policy,
    )?;
    progress.finish();
    Ok((arms, policy, recommended))
}

/// At least two groups, each with enough customers.
fn check_groups(data: &CompareData, params: &CompareParams) -> Result<()> {
    let k = data.groups.len();
    if k < 2 {
        return Err(Error::Data(format!(
            "group column {:?} has {} distinct value(s) ({}); a comparison needs at least two groups",
            data.group_column,
            k,
            data.groups.join(", ")
        )));
    }
    let mut sizes = vec![0usize; k];
    data.group.iter().for_each(|&g| sizes[g as usize] += 1);
    let need = 4 * params.min_customers.max(10);
    if let Some(g) = (0..k).find(|&g| sizes[g] < need) {
        return Err(Error::Data(format!(
            "group {:?} has {} customers; each group needs at least {need}",
            data.groups[g], sizes[g]
        )));
    }
    Ok(())
}

/// Step 1: the split stratified by group (and outcome), the features binned on the training
/// rows, the minimum effect.
fn setup<'a>(
    data: &'a CompareData,
    params: &'a CompareParams,
    progress: &dyn Progress,
) -> Setup<'a> {
    let n = data.outcome.len();
    let binary = data.binary();
    let strata: Vec<f64> = data
        .group
        .iter()
        .zip(&data.outcome)
        .map(|(&g, &y)| g as f64 * 2.0 + if binary { y } else { 0.0 })
        .collect();
    let split = stratified_split(&strata, params.test_size, true, params.seed);
    let part =
        |p: Part| -> Vec<u32> { (0..n as u32).filter(|&i| split[i as usize] == p).collect() };
    let (train, test) = (part(Part::Train), part(Part::Test));
    progress.begin("binning features", data.features.len() as u64);
    let bins: Vec<Binned> = data
        .features
        .par_iter()
        .map(|f| Binned::new(f, &train))
        .collect();
    progress.finish();
    let min_effect = params.min_effect.unwrap_or_else(|| {
        if binary {
            0.05
        } else {
            let mut a = Acc::default();
            data.outcome.iter().for_each(|&v| a.add(v));
            0.1 * a.variance().sqrt()
        }
    });
    Setup {
        data,
        params,
        k: data.groups.len(),
        binary,
        split,
        train,
        test,
        occupied: bins.iter().map(Binned::occupied).collect(),
        bins,
        min_effect,
    }
}

/// Step 2: the candidates of every pair of groups.
fn search(s: &Setup, progress: &dyn Progress) -> Search {
    let k = s.k as u32;
    let pairs: Vec<(u32, u32)> = (0..k)
        .flat_map(|a| (a + 1..k).map(move |b| (a, b)))
        .collect();
    let mut out = Search {
        tlearner_uplift: vec![0.0; s.data.outcome.len()],
        ..Default::default()
    };
    progress.begin("searching rules", pairs.len() as u64);
    for (pi, &pair) in pairs.iter().enumerate() {
        search_pair(s, pi, pair, &mut out);
        progress.advance(1);
    }
    progress.finish();
    out
}

/// The training rows of one pair of groups (a seeded sample above `max_search_rows`).
fn pair_rows(s: &Setup, pi: usize, (ga, gb): (u32, u32)) -> Vec<u32> {
    let mut rows: Vec<u32> = s
        .train
        .iter()
        .copied()
        .filter(|&i| s.data.group[i as usize] == ga || s.data.group[i as usize] == gb)
        .collect();
    if rows.len() > s.params.max_search_rows {
        // a seeded sample bounds the search's cost; the validation uses every customer
        use rand::seq::SliceRandom;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(s.params.seed ^ (0x5ea4c4 + pi as u64));
        rows.shuffle(&mut rng);
        rows.truncate(s.params.max_search_rows);
        rows.sort_unstable();
    }
    rows
}

/// The candidates of one pair: raw candidates of each method, refined, the strongest kept.
fn search_pair(s: &Setup, pi: usize, (ga, gb): (u32, u32), out: &mut Search) {
    let (data, params, y) = (s.data, s.params, &s.data.outcome);
    let rows = pair_rows(s, pi, (ga, gb));
    let is_a: Vec<bool> = data.group.iter().map(|&g| g == ga).collect();
    let rows_a: Vec<u32> = rows.iter().copied().filter(|&i| is_a[i as usize]).collect();
    let rows_b: Vec<u32> = rows
        .iter()
        .copied()
        .filter(|&i| !is_a[i as usize])
        .collect();
    let min_rows =
        (params.min_share * rows_a.len().min(rows_b.len()) as f64).max(params.min_customers as f64);
    let ctx = PairRows::new(
        &s.bins,
        &rows,
        y,
        &is_a,
        s.binary,
        min_rows,
        params.max_conditions,
        params.complexity_penalty,
    );
    // coarse IV bins: used by the IV method and as the L1 design
    let mut coarse: Vec<Vec<BinCond>> = Vec::new();
    for (f, b) in s.bins.iter().enumerate() {
        let (bins, iv) = coarse_bins(s, f, &rows_a, &rows_b);
        out.strength.push(FeatureStrength {
            feature: b.name.clone(),
            pair: [
                data.groups[ga as usize].clone(),
                data.groups[gb as usize].clone(),
            ],
            iv,
        });
        coarse.push(bins);
    }
    let mut raw: Vec<(BinRule, Method)> = Vec::new();
    if params.methods.contains(&Method::Tree) {
        let tau = tree_candidates(s, &rows, &rows_a, &rows_b, min_rows, &mut raw);
        if pi == 0 {
            out.tlearner_uplift = tau;
        }
    }
    if params.methods.contains(&Method::IvWoe) {
        raw.extend(
            iv_candidates(&ctx, &coarse)
                .into_iter()
                .map(|r| (r, Method::IvWoe)),
        );
    }
    if params.methods.contains(&Method::L1Logistic) {
        let inter = lasso::interactions(&s.bins, &coarse, &rows, y, &is_a, s.binary);
        raw.extend(
            crossings(&ctx, inter, 8)
                .into_iter()
                .map(|r| (r, Method::L1Logistic)),
        );
    }
    for (_, m) in &raw {
        *out.by_method.entry(m.name().to_string()).or_default() += 1;
    }
    let refined = refine_candidates(&ctx, raw, params);
    out.candidates
        .extend(keep_strongest(&ctx, refined, params, (ga, gb)));
}

/// Feature `f`'s coarse bins from the monotonic binning of both groups (numbers) or its
/// levels, and its information value in each group.
fn coarse_bins(s: &Setup, f: usize, rows_a: &[u32], rows_b: &[u32]) -> (Vec<BinCond>, [f64; 2]) {
    let (b, y) = (&s.bins[f], &s.data.outcome);
    let ha = woe::histogram(b, rows_a, y);
    let hb = woe::histogram(b, rows_b, y);
    let (edges, iv) = if b.is_numeric() {
        let (ea, iva) = woe::monotonic_edges(&ha, b.n_values(), s.binary, 0.05);
        let (eb, ivb) = woe::monotonic_edges(&hb, b.n_values(), s.binary, 0.05);
        ([ea, eb].concat(), [iva, ivb])
    } else {
        let iv = |h: &[Acc]| {
            if s.binary {
                woe::information_value(h)
            } else {
                0.0
            }
        };
        (Vec::new(), [iv(&ha), iv(&hb)])
    };
    let missing = ha[b.missing_bin()].n + hb[b.missing_bin()].n;
    (woe::coarse_bins(b, f, &edges, missing), iv)
}

/// The T-learner: one tree per group, a third on their difference; every node of the three is
/// a raw candidate. Returns the predicted uplift of every customer.
fn tree_candidates(
    s: &Setup,
    rows: &[u32],
    rows_a: &[u32],
    rows_b: &[u32],
    min_rows: f64,
    raw: &mut Vec<(BinRule, Method)>,
) -> Vec<f64> {
    let (y, depth) = (&s.data.outcome, s.params.max_conditions);
    let ta = tree::fit(&s.bins, rows_a, y, depth, min_rows as usize);
    let tb = tree::fit(&s.bins, rows_b, y, depth, min_rows as usize);
    let tau: Vec<f64> = (0..y.len())
        .map(|i| ta.predict(&s.bins, i) - tb.predict(&s.bins, i))
        .collect();
    let tt = tree::fit(&s.bins, rows, &tau, depth, (2.0 * min_rows) as usize);
    for t in [&tt, &ta, &tb] {
        for node in t.nodes.iter().skip(1) {
            raw.push((node.rule.clone(), Method::Tree));
        }
    }
    tau
}

/// Every raw candidate and each of its sub-rules, screened by the penalised score and
/// refined; identical results merge their methods. Sorted by |signed score|.
fn refine_candidates(
    ctx: &PairRows,
    raw: Vec<(BinRule, Method)>,
    params: &CompareParams,
) -> Vec<(BinRule, BTreeSet<Method>, f64)> {
    let mut distinct: BTreeMap<BinRule, BTreeSet<Method>> = BTreeMap::new();
    // every sub-rule is a starting point too: a tree path often carries a condition that
    // only looks useful beside the others
    for (r, m) in raw {
        let k = r.conds.len();
        for mask in 1..(1u32 << k) {
            let sub = BinRule {
                conds: (0..k)
                    .filter(|j| mask & (1 << j) != 0)
                    .map(|j| r.conds[j].clone())
                    .collect(),
            };
            distinct.entry(sub).or_default().insert(m);
        }
    }
    // screening: only the strongest starting points are refined (many converge anyway)
    let mut distinct: Vec<(f64, BinRule, BTreeSet<Method>)> = distinct
        .into_par_iter()
        .map(|(r, m)| (ctx.score(&r), r, m))
        .collect();
    distinct.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    distinct.truncate(REFINED_PER_CANDIDATE * params.max_candidates.max(10));
    let distinct: Vec<(BinRule, BTreeSet<Method>)> =
        distinct.into_iter().map(|(_, r, m)| (r, m)).collect();
    let refined: Vec<(BinRule, f64)> = distinct
        .par_iter()
        .map(|(r, _)| {
            let mut rule = ctx.refine(r);
            for _ in 0..2 {
                match ctx.extend(&rule) {
                    Some(e) => rule = ctx.refine(&e),
                    None => break,
                }
            }
            // signed z, ranked by the penalised score
            let z = ctx.z(&rule);
            let score = ctx.score(&rule);
            (rule, z.signum() * score)
        })
        .collect();
    let mut merged: BTreeMap<BinRule, (BTreeSet<Method>, f64)> = BTreeMap::new();
    for ((rule, z), (_, methods)) in refined.into_iter().zip(distinct) {
        if rule.conds.is_empty() || z == 0.0 {
            continue;
        }
        let e = merged.entry(rule).or_insert((BTreeSet::new(), z));
        e.0.extend(methods);
    }
    let mut list: Vec<(BinRule, BTreeSet<Method>, f64)> =
        merged.into_iter().map(|(r, (m, z))| (r, m, z)).collect();
    list.sort_by(|a, b| b.2.abs().total_cmp(&a.2.abs()).then(a.0.cmp(&b.0)));
    list
}

/// At most `max_candidates` of the refined rules (score at least `min_train_score`), skipping
/// rules that share over half their customers with a stronger one in the same direction.
fn keep_strongest(
    ctx: &PairRows,
    list: Vec<(BinRule, BTreeSet<Method>, f64)>,
    params: &CompareParams,
    pair: (u32, u32),
) -> Vec<Candidate> {
    let mut kept: Vec<(Vec<bool>, usize, bool)> = Vec::new();
    let mut out = Vec::new();
    for (rule, methods, z) in list {
        if kept.len() >= params.max_candidates || z.abs() < params.min_train_score {
            break;
        }
        let cover = ctx.cover(&rule);
        let size = cover.iter().filter(|&&c| c).count();
        // a rule that mostly re-covers a stronger one in the same direction adds tests,
        // not findings
        if kept
            .iter()
            .any(|(c, s, pos)| *pos == (z > 0.0) && jaccard(c, *s, &cover, size) > 0.5)
        {
            continue;
        }
        kept.push((cover, size, z > 0.0));
        out.push(Candidate {
            rule,
            methods,
            pair,
            z_train: z,
        });
    }
    out
}

/// Customers, share, per-group means and the pair's difference among `rows` matching `rule`.
fn part_stats(s: &Setup, rule: &BinRule, rows: &[u32], pair: (u32, u32)) -> (PartStats, Vec<Acc>) {
    let (data, k) = (s.data, s.k);
    let mut accs = vec![Acc::default(); k];
    let mut covered = 0usize;
    for &i in rows {
        let i = i as usize;
        if rule.matches(&s.bins, i) {
            accs[data.group[i] as usize].add(data.outcome[i]);
            covered += 1;
        }
    }
    let stats = PartStats {
        customers: covered,
        share: covered as f64 / rows.len().max(1) as f64,
        groups: (0..k)
            .map(|g| GroupStat {
                group: data.groups[g].clone(),
                customers: accs[g].n as usize,
                mean: (accs[g].n > 0.0).then(|| accs[g].mean()),
            })
            .collect(),
        difference: accs[pair.0 as usize].mean() - accs[pair.1 as usize].mean(),
    };
    (stats, accs)
}

/// Step 3: every candidate on the test rows (difference, interval, p, stability), q-values
/// over all of them, and the verdicts.
fn validate(s: &Setup, candidates: &[Candidate], progress: &dyn Progress) -> Vec<RuleResult> {
    let data = s.data;
    progress.begin("validating rules", candidates.len() as u64);
    let test_cover: Vec<Vec<u32>> = candidates
        .par_iter()
        .map(|c| {
            s.test
                .iter()
                .copied()
                .filter(|&i| {
                    let g = data.group[i as usize];
                    (g == c.pair.0 || g == c.pair.1) && c.rule.matches(&s.bins, i as usize)
                })
                .collect()
        })
        .collect();
    let stability = bootstrap_stability(data, &s.test, candidates, &test_cover, s.params);
    let mut results: Vec<RuleResult> = candidates
        .par_iter()
        .zip(&stability)
        .map(|(c, &stab)| rule_result(s, c, stab))
        .collect();
    let q = benjamini_hochberg(&results.iter().map(|r| r.p_value).collect::<Vec<_>>());
    let tested = results.len();
    for (r, q) in results.iter_mut().zip(q) {
        r.q_value = q;
        let (v, reason) = verdict(r, s.params, s.min_effect, s.binary, tested);
        r.verdict = v;
        r.reason = reason;
    }
    progress.finish();
    results
}

/// One candidate's numbers on the training and test rows (q-value and verdict come later).
fn rule_result(s: &Setup, c: &Candidate, stability: f64) -> RuleResult {
    let data = s.data;
    let (tr, _) = part_stats(s, &c.rule, &s.train, c.pair);
    let (te, te_acc) = part_stats(s, &c.rule, &s.test, c.pair);
    let (a, b) = (&te_acc[c.pair.0 as usize], &te_acc[c.pair.1 as usize]);
    let (ci, p) = if a.n < 2.0 || b.n < 2.0 {
        ((f64::NAN, f64::NAN), 1.0)
    } else if s.binary {
        (
            newcombe(a.sum, a.n, b.sum, b.n),
            two_proportion_p(a.sum, a.n, b.sum, b.n),
        )
    } else {
        let (_, ci, p) = welch(a, b);
        (ci, p)
    };
    let better = if c.z_train >= 0.0 { c.pair.0 } else { c.pair.1 };
    // a condition that leaves out nobody in the data says nothing: not shown or exported
    let conditions: Vec<Condition> = c
        .rule
        .conds
        .iter()
        .filter(|bc| !bc.excludes_nobody(&s.occupied[bc.feature]))
        .map(|bc| condition(&s.bins, bc))
        .collect();
    let text = if conditions.is_empty() {
        "everyone".to_string()
    } else {
        conditions
            .iter()
            .map(|c| c.text())
            .collect::<Vec<_>>()
            .join(" and ")
    };
    RuleResult {
        id: 0,
        rule: text,
        conditions,
        methods: c.methods.iter().copied().collect(),
        pair: [
            data.groups[c.pair.0 as usize].clone(),
            data.groups[c.pair.1 as usize].clone(),
        ],
        better_group: data.groups[better as usize].clone(),
        // the route of a rule comparing two groups is one of them (the better on training)
        recommended_group: data.groups[better as usize].clone(),
        train: tr,
        test: te,
        ci: [ci.0, ci.1],
        p_value: p,
        q_value: 1.0,
        stability,
        verdict: Verdict::Skip,
        reason: String::new(),
        routed: false,
        customers_routed: None,
    }
}

/// Step 4: the results ranked (verdict, q, |difference|), rules that share over half their
/// training customers with a better-ranked one favouring the same group left out; numbered,
/// the routing ones marked. Returns them with their binned rules.
fn choose(
    s: &Setup,
    candidates: &[Candidate],
    results: Vec<RuleResult>,
) -> (Vec<RuleResult>, Vec<BinRule>) {
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, w) = (&results[a], &results[b]);
        x.verdict
            .cmp(&w.verdict)
            .then(x.q_value.total_cmp(&w.q_value))
            .then(w.test.difference.abs().total_cmp(&x.test.difference.abs()))
            .then(a.cmp(&b))
    });
    let train_cover = |i: usize| -> (Vec<bool>, usize) {
        let c: Vec<bool> = s
            .train
            .iter()
            .map(|&r| candidates[i].rule.matches(&s.bins, r as usize))
            .collect();
        let n = c.iter().filter(|&&x| x).count();
        (c, n)
    };
    let mut rules: Vec<RuleResult> = Vec::new();
    let mut chosen_rules: Vec<BinRule> = Vec::new();
    let mut covers: Vec<(Vec<bool>, usize, String)> = Vec::new();
    for &i in &order {
        let (c, n) = train_cover(i);
        let better = &results[i].better_group;
        if covers
            .iter()
            .any(|(c2, n2, b2)| b2 == better && jaccard(c2, *n2, &c, n) > 0.5)
        {
            continue;
        }
        covers.push((c, n, better.clone()));
        let mut r = results[i].clone();
        r.id = rules.len() + 1;
        r.routed = r.verdict.routed();
        chosen_rules.push(candidates[i].rule.clone());
        rules.push(r);
    }
    (rules, chosen_rules)
}

/// Step 5: every customer's routing rule (first match), predicted outcome per group and
/// recommended group, and the Qini / AUUC of the routing rules and the T-learner on the test
/// rows of the first pair. The split is filled in by the caller.
fn route(
    s: &Setup,
    rules: &[RuleResult],
    chosen_rules: &[BinRule],
    tlearner_uplift: Vec<f64>,
) -> (Assignments, BTreeMap<String, inference::UpliftCurves>) {
    let (data, k, y) = (s.data, s.k, &s.data.outcome);
    let n = y.len();
    let routed: Vec<usize> = (0..rules.len()).filter(|&r| rules[r].routed).collect();
    let rule_of: Vec<Option<usize>> = (0..n)
        .into_par_iter()
        .map(|i| {
            routed
                .iter()
                .copied()
                .find(|&r| chosen_rules[r].matches(&s.bins, i))
        })
        .collect();
    // each routed rule's rates on the training customers it routes (first match), so that a
    // later rule's estimate is not inflated by customers an earlier rule took
    let mut rest = vec![Acc::default(); k];
    let mut routed_accs = vec![vec![Acc::default(); k]; rules.len()];
    let mut overall_train = vec![Acc::default(); k];
    for &i in &s.train {
        let (g, v) = (data.group[i as usize] as usize, y[i as usize]);
        match rule_of[i as usize] {
            Some(r) => routed_accs[r][g].add(v),
            None => rest[g].add(v),
        }
        overall_train[g].add(v);
    }
    let mean_or = |a: &Acc, fallback: &Acc| {
        if a.n > 0.0 {
            a.mean()
        } else {
            fallback.mean()
        }
    };
    let predicted: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let accs = match rule_of[i] {
                Some(r) => &routed_accs[r],
                None => &rest,
            };
            (0..k)
                .map(|g| mean_or(&accs[g], &overall_train[g]))
                .collect()
        })
        .collect();
    let predicted_uplift: Vec<f64> = predicted.iter().map(|p| p[0] - p[1]).collect();
    let recommended: Vec<String> = rule_of
        .iter()
        .map(|r| match r {
            Some(r) => rules[*r].recommended_group.clone(),
            None => s.params.default_label.clone(),
        })
        .collect();
    let model_view = model_view(s, &predicted_uplift, &tlearner_uplift);
    let assignments = Assignments {
        split: Vec::new(),
        rule: rule_of.iter().map(|r| r.map(|r| r + 1)).collect(),
        recommended,
        predicted,
        predicted_uplift,
        tlearner_uplift,
        recommended_arm: None,
    };
    (assignments, model_view)
}

/// Qini and AUUC on the test rows of the first pair of groups, for the routing rules'
/// predicted uplift and the T-learner's.
fn model_view(
    s: &Setup,
    predicted_uplift: &[f64],
    tlearner_uplift: &[f64],
) -> BTreeMap<String, inference::UpliftCurves> {
    let (data, y, test) = (s.data, &s.data.outcome, &s.test);
    let first_pair: Vec<u32> = test
        .iter()
        .copied()
        .filter(|&i| data.group[i as usize] <= 1)
        .collect();
    let pick = |v: &[f64]| -> Vec<f64> { first_pair.iter().map(|&i| v[i as usize]).collect() };
    let sel_y = pick(y);
    let sel_t: Vec<bool> = first_pair
        .iter()
        .map(|&i| data.group[i as usize] == 0)
        .collect();
    let mut out = BTreeMap::new();
    for (name, score) in [
        ("routing_rules", predicted_uplift),
        ("t_learner", tlearner_uplift),
    ] {
        if name == "t_learner" && !s.params.methods.contains(&Method::Tree) {
            continue;
        }
        out.insert(
            name.to_string(),
            inference::uplift_curves(&sel_y, &sel_t, &pick(score), s.binary),
        );
    }
    out
}

fn jaccard(a: &[bool], sa: usize, b: &[bool], sb: usize) -> f64 {
    let inter = a.iter().zip(b).filter(|(x, y)| **x && **y).count();
    let union = sa + sb - inter;
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

fn verdict(
    r: &RuleResult,
    p: &CompareParams,
    e: f64,
    binary: bool,
    tested: usize,
) -> (Verdict, String) {
    let d = r.test.difference;
    let unit = |x: f64| {
        if binary {
            format!("{:+.1} points", 100.0 * x)
        } else {
            format!("{x:+.4}")
        }
    };
    let train_d = r.train.difference;
    let pair_n = |part: &PartStats| {
        part.groups
            .iter()
            .filter(|g| r.pair.contains(&g.group))
            .map(|g| g.customers)
            .min()
            .unwrap_or(0)
    };
    let n_test = pair_n(&r.test);
    if d.is_nan() || d.signum() != train_d.signum() || d == 0.0 {
        return (
            Verdict::Skip,
            format!(
                "the difference does not hold on held-out customers ({} on training, {} on test)",
                unit(train_d),
                if d.is_nan() {
                    "no customers".into()
                } else {
                    unit(d)
                }
            ),
        );
    }
    if d.abs() < e / 2.0 {
        return (
            Verdict::Skip,
            format!(
                "the test difference {} is below half the minimum effect {}",
                unit(d),
                unit(e)
            ),
        );
    }
    let enough = n_test >= p.min_test_customers;
    let ci_clear = r.ci[0] > 0.0 || r.ci[1] < 0.0;
    if enough && r.q_value <= p.fdr && d.abs() >= e && ci_clear && r.stability >= 0.9 {
        return (
            Verdict::ImplementNow,
            format!(
                "{} on held-out customers (95% CI {} to {}), q = {:.2e}, same direction in {:.0}% of bootstrap resamples",
                unit(d),
                unit(r.ci[0]),
                unit(r.ci[1]),
                r.q_value,
                100.0 * r.stability
            ),
        );
    }
    if enough && r.q_value <= p.pilot_fdr && r.stability >= 0.8 {
        return (
            Verdict::Pilot,
            format!(
                "{} on held-out customers, q = {:.3} (needs q <= {} and |difference| >= {} to implement now); \
                 try it on part of the customers first",
                unit(d),
                r.q_value,
                p.fdr,
                unit(e)
            ),
        );
    }
    (
        Verdict::CollectMoreData,
        if enough {
            format!(
                "{} on held-out customers but not significant after testing {tested} rules (q = {:.3}, stability {:.0}%)",
                unit(d),
                r.q_value,
                100.0 * r.stability
            )
        } else {
            format!(
                "{} on held-out customers, but only {n_test} test customers in the smaller group (needs {})",
                unit(d),
                p.min_test_customers
            )
        },
    )
}

/// IV-method candidates: per feature the best coarse bins, prefixes and suffixes (at most
/// two per feature, by training |z|), and the crossings of the ten best across features.
fn iv_candidates(ctx: &PairRows, coarse: &[Vec<BinCond>]) -> Vec<BinRule> {
    let mut singles: Vec<(f64, BinCond)> = Vec::new();
    for conds in coarse {
        let mut options: Vec<BinCond> = conds.clone();
        let values: Vec<&BinCond> = conds
            .iter()
            .filter(|c| !c.allowed[ctx.bins[c.feature].missing_bin()])
            .collect();
        if let Some(first) = values.first() {
            if ctx.bins[first.feature].is_numeric() {
                // prefixes and suffixes of the value bins
                for cut in 1..values.len() {
                    let union = |part: &[&BinCond]| BinCond {
                        feature: first.feature,
                        allowed: (0..first.allowed.len())
                            .map(|k| part.iter().any(|c| c.allowed[k]))
                            .collect(),
                    };
                    options.push(union(&values[..cut]));
                    options.push(union(&values[cut..]));
                }
            }
        }
        let mut scored: Vec<(f64, BinCond)> = options
            .into_iter()
            .map(|c| {
                let r = BinRule {
                    conds: vec![c.clone()],
                };
                (ctx.z(&r).abs(), c)
            })
            .filter(|(z, _)| *z > 0.0)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        singles.extend(scored.into_iter().take(2));
    }
    singles.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let top: Vec<BinCond> = singles.iter().take(10).map(|(_, c)| c.clone()).collect();
    let mut out: Vec<BinRule> = singles
        .iter()
        .map(|(_, c)| BinRule {
            conds: vec![c.clone()],
        })
        .collect();
    out.extend(combine(ctx, &top, 15));
    out
}

/// L1 candidates: the `limit` strongest interactions, and crossings of same-sign ones.
fn crossings(ctx: &PairRows, mut inter: Vec<(BinCond, f64)>, limit: usize) -> Vec<BinRule> {
    inter.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
    inter.truncate(limit);
    let mut out: Vec<BinRule> = inter
        .iter()
        .map(|(c, _)| BinRule {
            conds: vec![c.clone()],
        })
        .collect();
    for sign in [1.0, -1.0] {
        let same: Vec<BinCond> = inter
            .iter()
            .filter(|(_, b)| b.signum() == sign)
            .map(|(c, _)| c.clone())
            .collect();
        out.extend(combine(ctx, &same, 10));
    }
    out
}

/// Two- and three-condition crossings of `conds` on distinct features: the `keep` best by
/// training |z|.
fn combine(ctx: &PairRows, conds: &[BinCond], keep: usize) -> Vec<BinRule> {
    let mut combos: Vec<BinRule> = Vec::new();
    for i in 0..conds.len() {
        for j in i + 1..conds.len() {
            let Some(r) = (BinRule {
                conds: vec![conds[i].clone()],
            })
            .and(&conds[j], ctx.max_conditions) else {
                continue;
            };
            if r.conds.len() == 2 {
                combos.push(r.clone());
            }
            for c in &conds[j + 1..] {
                if let Some(r3) = r.and(c, ctx.max_conditions) {
                    if r3.conds.len() == 3 {
                        combos.push(r3);
                    }
                }
            }
        }
    }
    combos.sort();
    combos.dedup();
    let mut scored: Vec<(f64, BinRule)> = combos
        .into_par_iter()
        .map(|r| (ctx.z(&r).abs(), r))
        .filter(|(z, _)| *z > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(keep).map(|(_, r)| r).collect()
}

/// Share of bootstrap resamples of the test rows in which each candidate's difference keeps
/// its training sign.
fn bootstrap_stability(
    data: &CompareData,
    test: &[u32],
    candidates: &[Candidate],
    cover: &[Vec<u32>],
    params: &CompareParams,
) -> Vec<f64> {
    let b = params.bootstrap;
    if b == 0 || candidates.is_empty() {
        return vec![f64::NAN; candidates.len()];
    }
    let n = data.outcome.len();
    let hits: Vec<Vec<bool>> = (0..b)
        .into_par_iter()
        .map(|r| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed ^ (0xb007 + r as u64));
            let mut weight = vec![0u32; n];
            for _ in 0..test.len() {
                weight[test[rng.random_range(0..test.len())] as usize] += 1;
            }
            candidates
                .iter()
                .zip(cover)
                .map(|(c, rows)| {
                    let (mut a, mut bb) = (Acc::default(), Acc::default());
                    for &i in rows {
                        let w = weight[i as usize] as f64;
                        if w > 0.0 {
                            if data.group[i as usize] == c.pair.0 {
                                a.add_weighted(data.outcome[i as usize], w);
                            } else {
                                bb.add_weighted(data.outcome[i as usize], w);
                            }
                        }
                    }
                    let d = a.mean() - bb.mean();
                    d.is_finite() && d.signum() == c.z_train.signum() && d != 0.0
                })
                .collect()
        })
        .collect();
    (0..candidates.len())
        .map(|c| hits.iter().filter(|h| h[c]).count() as f64 / b as f64)
        .collect()
}
