//! Report sections built from each analysis's results.

use super::svg::{self, BoxStats, Chart, Format, Series};
use super::{Block, Section};
use crate::segment::profile::Profile;
use crate::stats::Summary;
use crate::uplift::Comparison;

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", 100.0 * x)
    } else {
        "-".into()
    }
}

fn num(x: f64) -> String {
    svg::format_value(x, Format::Number)
}

/// Tukey's box: whiskers at the furthest values within 1.5 IQR of the quartiles.
fn tukey(s: &Summary) -> BoxStats {
    let iqr = s.q75 - s.q25;
    BoxStats {
        low: s.min.max(s.q25 - 1.5 * iqr),
        q1: s.q25,
        median: s.median,
        q3: s.q75,
        high: s.max.min(s.q75 + 1.5 * iqr),
    }
}

/// The Lorenz curve of customer revenue: (share of customers, share of revenue), customers
/// sorted by revenue from the highest; negative revenue (net returns) counts as zero.
pub fn lorenz(revenue: &[f64]) -> Vec<(f64, f64)> {
    let mut v: Vec<f64> = revenue.iter().map(|r| r.max(0.0)).collect();
    v.sort_unstable_by(|a, b| b.total_cmp(a));
    let total: f64 = v.iter().sum();
    let n = v.len();
    let mut out = vec![(0.0, 0.0)];
    if n == 0 || total <= 0.0 {
        return out;
    }
    let step = (n / 200).max(1);
    let mut acc = 0.0;
    for (i, r) in v.iter().enumerate() {
        acc += r;
        if (i + 1) % step == 0 || i + 1 == n {
            out.push(((i + 1) as f64 / n as f64, acc / total));
        }
    }
    out
}

/// Segments: sizes, revenue, the Pareto curve, R/F/M and attribute distributions, profile
/// tables, premium composition, what differs most, and the actions.
pub fn segments(p: &Profile, rule_set: &str, revenue: &[f64]) -> Section {
    let names: Vec<String> = p.segments.iter().map(|s| s.segment.clone()).collect();
    let mut blocks = vec![Block::Text(format!(
        "{} customers in {} segments (rule set {rule_set}); {} of revenue in total.",
        p.customers,
        p.segments.len(),
        svg::format_value(p.revenue, Format::Money)
    ))];
    blocks.push(Block::Figure {
        name: "segment_sizes".into(),
        svg: svg::bar_chart(
            &Chart::new("Customers per segment", "share of customers", ""),
            &names,
            &p.segments.iter().map(|s| s.share).collect::<Vec<_>>(),
            Format::Percent,
        ),
        caption: "Share of customers in each segment.".into(),
    });
    blocks.push(Block::Figure {
        name: "segment_revenue".into(),
        svg: svg::bar_chart(
            &Chart::new("Revenue per segment", "share of revenue", ""),
            &names,
            &p.segments
                .iter()
                .map(|s| s.revenue_share)
                .collect::<Vec<_>>(),
            Format::Percent,
        ),
        caption: "Share of net revenue (purchases minus returns) from each segment.".into(),
    });
    let curve = lorenz(revenue);
    let top20 = curve
        .iter()
        .find(|(x, _)| *x >= 0.2)
        .map(|(_, y)| *y)
        .unwrap_or(f64::NAN);
    blocks.push(Block::Figure {
        name: "pareto".into(),
        svg: svg::line_chart(
            &Chart::new(
                "Revenue concentration (Pareto / Lorenz)",
                "customers, highest revenue first",
                "share of revenue",
            ),
            &[
                Series {
                    name: "customers".into(),
                    points: curve,
                    dashed: false,
                },
                Series {
                    name: "equal revenue".into(),
                    points: vec![(0.0, 0.0), (1.0, 1.0)],
                    dashed: true,
                },
            ],
            Format::Percent,
            Format::Percent,
        ),
        caption: format!(
            "The top 20% of customers bring {} of the revenue.",
            pct(top20)
        ),
    });
    for feature in ["recency_days", "frequency", "monetary"] {
        let boxes: Vec<(String, BoxStats)> = p
            .segments
            .iter()
            .filter_map(|s| {
                s.behavioural
                    .iter()
                    .find(|f| f.feature == feature)
                    .filter(|f| f.summary.count > 0)
                    .map(|f| (s.segment.clone(), tukey(&f.summary)))
            })
            .collect();
        if boxes.is_empty() {
            continue;
        }
        blocks.push(Block::Figure {
            name: format!("box_{feature}"),
            svg: svg::box_plot(
                &Chart::new(&format!("{feature} by segment"), "", feature),
                &boxes,
                if feature == "monetary" {
                    Format::Money
                } else {
                    Format::Number
                },
            ),
            caption: format!(
                "{feature}: boxes are the middle half of each segment's customers, the line the median, whiskers reach 1.5 box lengths."
            ),
        });
    }
    for (kind, title) in crate::segment::profile::GROUPS {
        let features: Vec<String> = p
            .segments
            .first()
            .map(|s| s.group(kind).iter().map(|f| f.feature.clone()).collect())
            .unwrap_or_default();
        if features.is_empty() {
            continue;
        }
        let mut header = vec![format!("{title}: median (mean)")];
        header.extend(features.iter().cloned());
        let rows = p
            .segments
            .iter()
            .map(|s| {
                let list = s.group(kind);
                let mut r = vec![s.segment.clone()];
                for f in &features {
                    r.push(
                        list.iter()
                            .find(|x| &x.feature == f)
                            .map(|x| format!("{} ({})", num(x.summary.median), num(x.summary.mean)))
                            .unwrap_or_else(|| "-".into()),
                    );
                }
                r
            })
            .collect();
        blocks.push(Block::Table { header, rows });
    }
    if p.segments.iter().any(|s| s.premium.is_some()) {
        blocks.push(Block::Table {
            header: vec![
                "segment".into(),
                "premium".into(),
                "not premium".into(),
                "premium share".into(),
            ],
            rows: p
                .segments
                .iter()
                .filter_map(|s| {
                    s.premium.map(|c| {
                        vec![
                            s.segment.clone(),
                            c.premium.to_string(),
                            c.not_premium.to_string(),
                            pct(c.premium_share),
                        ]
                    })
                })
                .collect(),
        });
    }
    if !p.feature_ranking.is_empty() {
        blocks.push(Block::Text(
            "What differs most between the segments (Kruskal-Wallis H, effect size epsilon squared):"
                .into(),
        ));
        blocks.push(Block::Table {
            header: vec![
                "feature".into(),
                "kind".into(),
                "epsilon²".into(),
                "H".into(),
            ],
            rows: p
                .feature_ranking
                .iter()
                .take(8)
                .map(|t| {
                    vec![
                        t.feature.clone(),
                        t.group.clone(),
                        format!("{:.3}", t.test.epsilon_squared),
                        format!("{:.1}", t.test.h),
                    ]
                })
                .collect(),
        });
    }
    blocks.push(Block::Text("What to do, per segment:".into()));
    blocks.push(Block::Actions(
        p.segments
            .iter()
            .map(|s| (s.segment.clone(), s.actions.clone()))
            .collect(),
    ));
    Section {
        id: "segments".into(),
        title: "Segments".into(),
        blocks,
    }
}

/// Group comparison: the rule table with verdicts, the Qini curve, and the routing.
pub fn compare(c: &Comparison) -> Section {
    let mut blocks = vec![Block::Text(format!(
        "Where does each {} do better on {}? {} customers, groups {}; {} candidate rules were tested on {} held-out customers; rules routed: {}.",
        c.group_column,
        c.outcome_column,
        c.customers,
        c.groups.join(", "),
        c.candidates_tested,
        c.test_customers,
        c.routing().len()
    ))];
    let rows = crate::uplift::export::top_rows(c, 10);
    blocks.push(Block::Table {
        header: [
            "#",
            "rule",
            "share (test)",
            "success, train",
            "success, test",
            "difference",
            "95% CI",
            "q-value",
            "method",
            "verdict",
            "route",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows: rows
            .iter()
            .zip(&c.rules)
            .map(|(r, full)| {
                vec![
                    r.id.to_string(),
                    full.rule.clone(),
                    format!("{:.1}%", r.pct_test),
                    r.success_train.clone(),
                    r.success_test.clone(),
                    r.success_diff.clone(),
                    r.ci.clone(),
                    format!("{:.2e}", r.q_value),
                    r.method.clone(),
                    r.verdict.to_string(),
                    r.recommended_group.clone(),
                ]
            })
            .collect(),
    });
    blocks.push(Block::Text(
        "Who gets which group (routing rules in order, first match wins):".into(),
    ));
    blocks.push(Block::Actions(
        c.routes()
            .into_iter()
            .map(|(g, list)| (g, vec![format!("routed to it: {list}")]))
            .collect(),
    ));
    let mut series = Vec::new();
    for (name, v) in &c.model_view {
        series.push(Series {
            name: format!(
                "{} (Qini {})",
                name.replace('_', " "),
                v.qini_coefficient
                    .map(|q| format!("{q:.3}"))
                    .unwrap_or_else(|| "-".into())
            ),
            points: v
                .qini_curve
                .x
                .iter()
                .copied()
                .zip(v.qini_curve.y.iter().copied())
                .collect(),
            dashed: false,
        });
    }
    if let Some(last) = series.first().and_then(|s| s.points.last().copied()) {
        series.push(Series {
            name: "random".into(),
            points: vec![(0.0, 0.0), last],
            dashed: true,
        });
        blocks.push(Block::Figure {
            name: "qini".into(),
            svg: svg::line_chart(
                &Chart::new(
                    "Uplift (Qini) curve, held-out customers",
                    "customers targeted, highest predicted uplift first",
                    "incremental successes",
                ),
                &series,
                Format::Number,
                Format::Number,
            ),
            caption: format!(
                "Incremental successes of routing the first group ({}) by predicted uplift, against random order.",
                c.groups.first().cloned().unwrap_or_default()
            ),
        });
    }
    blocks.push(Block::Actions(
        c.rules
            .iter()
            .filter(|r| r.routed)
            .map(|r| {
                (
                    r.rule.clone(),
                    vec![format!(
                        "route to {} ({}): {}",
                        r.recommended_group,
                        r.verdict.label(),
                        r.reason
                    )],
                )
            })
            .collect(),
    ));
    blocks.extend(arms_blocks(c));
    Section {
        id: "compare".into(),
        title: "Group comparison".into(),
        blocks,
    }
}

/// With a control: each arm's lift over it and the policy with its held-out value.
fn arms_blocks(c: &Comparison) -> Vec<Block> {
    let (Some(arms), Some(policy)) = (&c.arms, &c.policy) else {
        return Vec::new();
    };
    let binary = arms.outcome == "binary";
    let show = |v: f64| {
        if binary {
            format!("{:+.1} pts", 100.0 * v)
        } else {
            format!("{v:+.3}")
        }
    };
    let mut blocks = vec![
        Block::Text(format!(
            "Each arm against the control {:?}, over all customers (q-values over every arm and rule in arms.json):",
            arms.control
        )),
        Block::Table {
            header: ["arm", "customers", "lift", "95% CI", "q-value"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rows: arms
                .overall
                .iter()
                .map(|a| {
                    vec![
                        a.arm.clone(),
                        a.customers.to_string(),
                        show(a.lift),
                        format!("{} .. {}", show(a.ci_low), show(a.ci_high)),
                        format!("{:.2e}", a.q_value),
                    ]
                })
                .collect(),
        },
        Block::Text(format!("Which arm for whom: {}.", policy.method)),
        Block::Table {
            header: ["customers", "arm", "test customers"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rows: policy
                .leaves
                .iter()
                .map(|l| vec![l.rule.clone(), l.arm.clone(), l.test_customers.to_string()])
                .collect(),
        },
    ];
    if policy.profit_curve.len() > 1 {
        let costs: Vec<String> = policy
            .arms
            .iter()
            .zip(&policy.costs)
            .skip(1)
            .map(|(a, c)| format!("{a} {c}"))
            .collect();
        blocks.push(Block::Figure {
            name: "policy_profit".into(),
            svg: svg::line_chart(
                &Chart::new(
                    "Profit by how many customers are treated",
                    "share of customers treated (largest predicted gain first)",
                    "reward per customer",
                ),
                &[Series {
                    name: "treat the top share with their best arm".into(),
                    points: policy
                        .profit_curve
                        .iter()
                        .map(|p| (p.share_treated, p.value))
                        .collect(),
                    dashed: false,
                }],
                Format::Percent,
                Format::Number,
            ),
            caption: format!(
                "Held-out customers ranked by the outcome model's best predicted gain over control; the first share get their best arm, the rest control (reward = {} x outcome - cost; costs: {}).",
                policy.value_per_unit,
                if costs.is_empty() { "none".to_string() } else { costs.join(", ") }
            ),
        });
    }
    blocks.push(Block::Actions(
        policy
            .value_test
            .iter()
            .chain(std::iter::once(&policy.gain_over_best_arm))
            .map(|v| {
                (
                    v.name.clone(),
                    vec![format!(
                        "{:.4} per customer (95% interval {:.4} .. {:.4}), {:.0}% treated",
                        v.value,
                        v.ci[0],
                        v.ci[1],
                        100.0 * v.treated_share
                    )],
                )
            })
            .collect(),
    ));
    blocks
}

/// Data summary and validation findings (`segmint validate`, `validate.json` in a results
/// directory).
pub fn data(
    v: Option<&crate::data::validate::Report>,
    customers: usize,
    revenue: f64,
    ref_date: &str,
) -> Section {
    let mut blocks = vec![Block::Text(format!(
        "{customers} customers with a purchase, {} of net revenue; reference date {ref_date} (the day after the last transaction).",
        svg::format_value(revenue, Format::Money)
    ))];
    let (tables, findings) = v.map_or((&[][..], &[][..]), |v| (&v.tables[..], &v.findings[..]));
    let any_dropped = tables.iter().any(|t| t.dropped.rows > 0);
    let mut header = vec![
        "table".into(),
        "file".into(),
        "rows".into(),
        "columns".into(),
    ];
    if any_dropped {
        header.push("left out: no id".into());
    }
    blocks.push(Block::Table {
        header,
        rows: tables
            .iter()
            .map(|t| {
                let mut row = vec![
                    t.table.clone(),
                    t.file.clone(),
                    t.rows.to_string(),
                    t.columns.join(", "),
                ];
                if any_dropped {
                    row.push(match t.dropped.amount {
                        Some(a) if t.dropped.rows > 0 => format!(
                            "{} rows ({})",
                            t.dropped.rows,
                            svg::format_value(a, Format::Money)
                        ),
                        _ => format!("{} rows", t.dropped.rows),
                    });
                }
                row
            })
            .collect(),
    });
    if findings.is_empty() {
        blocks.push(Block::Text("Validation found nothing to report.".into()));
    } else {
        blocks.push(Block::Table {
            header: vec![
                "severity".into(),
                "table".into(),
                "finding".into(),
                "rows".into(),
            ],
            rows: findings
                .iter()
                .map(|f| {
                    let severity = match f.severity {
                        crate::data::validate::Severity::Warning => "warning",
                        crate::data::validate::Severity::Info => "info",
                    };
                    vec![
                        severity.into(),
                        f.table.clone(),
                        f.message.clone(),
                        f.count.to_string(),
                    ]
                })
                .collect(),
        });
    }
    Section {
        id: "data".into(),
        title: "Data".into(),
        blocks,
    }
}
