//! The routing rules as code a warehouse or CRM can run: SQL for PostgreSQL, DuckDB and Spark
//! SQL, a Python function, and JSON.
//!
//! Data can never change a statement: identifiers are always quoted (with the quote character
//! doubled), string literals in PostgreSQL and DuckDB are standard SQL literals (quotes
//! doubled; both treat backslashes literally), and in Spark SQL, whose literals interpret
//! backslash escapes (or not, with `spark.sql.parser.escapedStringLiterals`), any value
//! outside `[A-Za-z0-9 _.:/+-]` is written as `decode(unhex('<UTF-8 hex>'), 'UTF-8')`, which
//! means the same under every parser setting. Numbers are the exact thresholds (Rust prints the
//! shortest decimal that reads back as the same double) cast to a double. Comments carry only
//! rule ids and verdicts, never data.

use std::collections::HashMap;

use serde::Serialize;

use super::bins::{Condition, Test};
use super::{Comparison, RuleResult};
use crate::error::{Error, Result};
use crate::output::OutCol;

pub use crate::sql::Dialect;

/// Column names of the user's table: segmint's name -> the source column (from the input
/// mapping); names not in the map are used as they are.
pub type ColumnNames = HashMap<String, String>;

fn source<'a>(names: &'a ColumnNames, name: &'a str) -> &'a str {
    names.get(name).map(String::as_str).unwrap_or(name)
}

fn check_name(name: &str) -> Result<()> {
    if name.contains('\0') {
        return Err(Error::Config(format!(
            "column name {name:?} contains a NUL character and cannot be exported"
        )));
    }
    Ok(())
}

/// One condition as a SQL boolean expression.
pub fn condition_sql(d: Dialect, c: &Condition, names: &ColumnNames) -> String {
    let col = d.ident(source(names, &c.feature));
    let test = match &c.test {
        Test::Range { low, high } => {
            let mut parts = Vec::new();
            if let Some(l) = low {
                parts.push(format!("{col} > {}", d.number(*l)));
            }
            if let Some(h) = high {
                parts.push(format!("{col} <= {}", d.number(*h)));
            }
            if parts.is_empty() {
                format!("{col} IS NOT NULL")
            } else {
                parts.join(" AND ")
            }
        }
        Test::In { values } if values.is_empty() => "FALSE".to_string(),
        Test::In { values } => format!(
            "{col} IN ({})",
            values
                .iter()
                .map(|v| d.string(v))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Test::Is { value } => format!("{col} = {}", if *value { "TRUE" } else { "FALSE" }),
        Test::Nothing => "FALSE".to_string(),
    };
    if c.missing {
        format!("({test} OR {col} IS NULL)")
    } else {
        format!("({test})")
    }
}

fn rule_sql(d: Dialect, r: &RuleResult, names: &ColumnNames) -> String {
    if r.conditions.is_empty() {
        return "TRUE".to_string();
    }
    r.conditions
        .iter()
        .map(|c| condition_sql(d, c, names))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The routing as one SELECT over `table`: the id column, the recommended group and the rule
/// id (NULL when no rule matches).
pub fn routing_sql(
    d: Dialect,
    cmp: &Comparison,
    names: &ColumnNames,
    table: &str,
    id_column: &str,
) -> Result<String> {
    let rules = cmp.routing();
    for n in rules
        .iter()
        .flat_map(|r| r.conditions.iter().map(|c| source(names, &c.feature)))
        .chain([table, id_column])
    {
        check_name(n)?;
    }
    let mut s = format!(
        "-- segmint {} compare: {} routing rule(s), first match wins ({} SQL)\n",
        crate::VERSION,
        rules.len(),
        d.name()
    );
    for r in &rules {
        s.push_str(&format!("-- rule {}: {}\n", r.id, r.verdict.label()));
    }
    s.push_str(&format!("SELECT\n  {},\n", d.ident(id_column)));
    let case = |value: &dyn Fn(&RuleResult) -> String, default: String| {
        let mut c = String::from("  CASE\n");
        for r in &rules {
            c.push_str(&format!(
                "    WHEN {} THEN {}\n",
                rule_sql(d, r, names),
                value(r)
            ));
        }
        c.push_str(&format!("    ELSE {default}\n  END"));
        c
    };
    s.push_str(&case(
        &|r| d.string(&r.recommended_group),
        d.string(&cmp.default_label),
    ));
    s.push_str(&format!(" AS {},\n", d.ident("recommended_group")));
    s.push_str(&case(&|r| r.id.to_string(), "NULL".into()));
    s.push_str(&format!(
        " AS {}\nFROM {};\n",
        d.ident("rule_id"),
        d.ident(table)
    ));
    Ok(s)
}

/// A Python string literal (JSON string syntax is valid Python).
fn py_str(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

fn py_num(x: f64) -> String {
    format!("{x:?}")
}

/// The routing as a Python module with `route(row)` and `rule_id(row)`; `row` maps column
/// names to values (`None` or NaN = missing).
pub fn routing_python(cmp: &Comparison, names: &ColumnNames) -> String {
    let rules = cmp.routing();
    let mut s = format!(
        "\"\"\"Routing rules exported by segmint {} (compare: {} on {}). First match wins.\"\"\"\n\n",
        crate::VERSION,
        cmp.group_column.escape_default(),
        cmp.outcome_column.escape_default()
    );
    s.push_str(
        "import math\n\n\n\
         def _missing(v):\n    return v is None or (isinstance(v, float) and math.isnan(v))\n\n\n\
         def _range(v, low, high):\n    return not _missing(v) and (low is None or v > low) and (high is None or v <= high)\n\n\n\
         def _in(v, values):\n    return not _missing(v) and str(v) in values\n\n\n\
         def _is(v, value):\n    return not _missing(v) and bool(v) == value\n\n\n",
    );
    let cond = |c: &Condition| -> String {
        let v = format!("row.get({})", py_str(source(names, &c.feature)));
        let t = match &c.test {
            Test::Range { low, high } => format!(
                "_range({v}, {}, {})",
                low.map_or("None".into(), py_num),
                high.map_or("None".into(), py_num)
            ),
            Test::In { values } => format!(
                "_in({v}, ({}))",
                values.iter().map(|x| py_str(x) + ",").collect::<String>()
            ),
            Test::Is { value } => format!("_is({v}, {})", if *value { "True" } else { "False" }),
            Test::Nothing => "False".into(),
        };
        if c.missing {
            format!("({t} or _missing({v}))")
        } else {
            t
        }
    };
    s.push_str("RULES = [\n");
    for r in &rules {
        s.push_str(&format!(
            "    ({}, {}, lambda row: {}),\n",
            r.id,
            py_str(&r.recommended_group),
            if r.conditions.is_empty() {
                "True".to_string()
            } else {
                r.conditions
                    .iter()
                    .map(&cond)
                    .collect::<Vec<_>>()
                    .join(" and ")
            }
        ));
    }
    s.push_str("]\n\n\n");
    s.push_str(&format!(
        "def rule_id(row):\n    \"\"\"Id of the first matching rule, or None.\"\"\"\n    for rid, _group, test in RULES:\n        if test(row):\n            return rid\n    return None\n\n\n\
         def route(row):\n    \"\"\"Recommended group of one customer.\"\"\"\n    for _rid, group, test in RULES:\n        if test(row):\n            return group\n    return {}\n",
        py_str(&cmp.default_label)
    ));
    s
}

#[derive(Serialize)]
struct RoutingJson<'a> {
    segmint: &'static str,
    group_column: &'a str,
    outcome_column: &'a str,
    default: &'a str,
    rules: Vec<RouteJson<'a>>,
}

#[derive(Serialize)]
struct RouteJson<'a> {
    id: usize,
    recommended_group: &'a str,
    verdict: &'static str,
    conditions: Vec<Condition>,
}

/// The routing as JSON (conditions with source column names).
pub fn routing_json(cmp: &Comparison, names: &ColumnNames) -> String {
    let j = RoutingJson {
        segmint: crate::VERSION,
        group_column: &cmp.group_column,
        outcome_column: &cmp.outcome_column,
        default: &cmp.default_label,
        rules: cmp
            .routing()
            .into_iter()
            .map(|r| RouteJson {
                id: r.id,
                recommended_group: &r.recommended_group,
                verdict: r.verdict.label(),
                conditions: r
                    .conditions
                    .iter()
                    .map(|c| Condition {
                        feature: source(names, &c.feature).to_string(),
                        ..c.clone()
                    })
                    .collect(),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&j).expect("json") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_and_values_stay_inside_their_quotes() {
        let evil_col = "x\"; DROP TABLE customers; --";
        let evil_val = "O'Brien'); DROP TABLE customers; --\\";
        for d in Dialect::ALL {
            let c = Condition {
                feature: "region".into(),
                test: Test::In {
                    values: vec![evil_val.into()],
                },
                missing: false,
            };
            let names: ColumnNames = [("region".to_string(), evil_col.to_string())].into();
            let sql = condition_sql(d, &c, &names);
            match d {
                Dialect::Spark => {
                    assert_eq!(
                        sql,
                        format!(
                            "(`x\"; DROP TABLE customers; --` IN (decode(unhex('{}'), 'UTF-8')))",
                            evil_val.bytes().map(|b| format!("{b:02X}")).collect::<String>()
                        )
                    );
                }
                _ => assert_eq!(
                    sql,
                    "(\"x\"\"; DROP TABLE customers; --\" IN ('O''Brien''); DROP TABLE customers; --\\'))"
                ),
            }
        }
        assert_eq!(Dialect::Spark.ident("a`b"), "`a``b`");
        assert_eq!(Dialect::DuckDb.string("AP-SOUTH"), "'AP-SOUTH'");
        assert_eq!(py_str("a\"b\n"), "\"a\\\"b\\n\"");
    }

    #[test]
    fn ranges_booleans_and_missing() {
        let names = ColumnNames::new();
        let c = Condition {
            feature: "income".into(),
            test: Test::Range {
                low: Some(150_000.5),
                high: None,
            },
            missing: true,
        };
        assert_eq!(
            condition_sql(Dialect::Postgres, &c, &names),
            "(\"income\" > CAST(150000.5 AS DOUBLE PRECISION) OR \"income\" IS NULL)"
        );
        let b = Condition {
            feature: "premium".into(),
            test: Test::Is { value: false },
            missing: false,
        };
        assert_eq!(
            condition_sql(Dialect::Spark, &b, &names),
            "(`premium` = FALSE)"
        );
    }
}

/// One row of the top-rules table, in the columns analysts expect.
#[derive(Debug, Clone, Serialize)]
pub struct TopRow {
    /// Rule id.
    pub id: usize,
    /// (feature, range) of up to three conditions.
    pub conditions: Vec<(String, String)>,
    /// Share of training customers matching.
    pub pct_train: f64,
    /// Share of test customers matching.
    pub pct_test: f64,
    /// Success rate per group on the training rows.
    pub success_train: String,
    /// Success rate per group on the test rows.
    pub success_test: String,
    /// Difference of the test rates.
    pub success_diff: String,
    /// 95% interval of the difference.
    pub ci: String,
    /// q-value.
    pub q_value: f64,
    /// Methods that found it.
    pub method: String,
    /// Verdict label.
    pub verdict: &'static str,
    /// Recommended group.
    pub recommended_group: String,
}

/// The first `top` rules as table rows.
pub fn top_rows(cmp: &Comparison, top: usize) -> Vec<TopRow> {
    let binary = cmp.outcome == "binary";
    let value = |x: f64| {
        if binary {
            format!("{:.1}%", 100.0 * x)
        } else {
            format!("{x:.4}")
        }
    };
    let diff = |x: f64| {
        if x.is_nan() {
            "-".to_string()
        } else if binary {
            format!("{:+.1} pp", 100.0 * x)
        } else {
            format!("{x:+.4}")
        }
    };
    let per_group = |r: &RuleResult, p: &super::PartStats| {
        p.groups
            .iter()
            .filter(|g| r.pair.contains(&g.group))
            .map(|g| format!("{} {}", g.group, g.mean.map_or("-".into(), value)))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    cmp.rules
        .iter()
        .take(top)
        .map(|r| TopRow {
            id: r.id,
            conditions: if r.conditions.is_empty() {
                vec![("everyone".to_string(), String::new())]
            } else {
                r.conditions
                    .iter()
                    .map(|c| (c.feature.clone(), c.range_text()))
                    .collect()
            },
            pct_train: 100.0 * r.train.share,
            pct_test: 100.0 * r.test.share,
            success_train: per_group(r, &r.train),
            success_test: per_group(r, &r.test),
            success_diff: diff(r.test.difference),
            ci: format!("{} .. {}", diff(r.ci[0]), diff(r.ci[1])),
            q_value: r.q_value,
            method: r
                .methods
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join("+"),
            verdict: r.verdict.label(),
            recommended_group: r.recommended_group.clone(),
        })
        .collect()
}

/// A Markdown cell: pipes and line breaks from data cannot break the table.
pub fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// The top-rules table in Markdown.
pub fn markdown_table(cmp: &Comparison, top: usize) -> String {
    let mut s = String::from(
        "| # | Feature_1 | Range_1 | Feature_2 | Range_2 | Feature_3 | Range_3 | Pct_Train | Pct_Test | Success_Train | Success_Test | Success_Diff | 95% CI | q-value | Method | Verdict | Route |\n\
         |---|---|---|---|---|---|---|---:|---:|---|---|---:|---|---:|---|---|---|\n",
    );
    for r in top_rows(cmp, top) {
        let mut cells = vec![r.id.to_string()];
        for k in 0..3 {
            match r.conditions.get(k) {
                Some((f, range)) => {
                    cells.push(md_cell(f));
                    cells.push(md_cell(range));
                }
                None => {
                    cells.push(String::new());
                    cells.push(String::new());
                }
            }
        }
        cells.extend([
            format!("{:.1}%", r.pct_train),
            format!("{:.1}%", r.pct_test),
            md_cell(&r.success_train),
            md_cell(&r.success_test),
            r.success_diff,
            r.ci,
            format!("{:.2e}", r.q_value),
            r.method,
            r.verdict.to_string(),
            md_cell(&r.recommended_group),
        ]);
        s.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    s
}

impl Comparison {
    /// The printed summary: the top `top` rules as a table, the reasons, and the model view.
    pub fn markdown(&self, top: usize) -> String {
        let cmp = self;
        let mut s = format!(
            "## Where does each {} do better? ({} on {} customers; groups {})\n\n",
            cmp.group_column,
            cmp.outcome_column,
            cmp.customers,
            cmp.groups.join(", ")
        );
        if cmp.rules.is_empty() {
            s.push_str("No candidate rule was large enough to test.\n");
            s.push_str(&cmp.arms_markdown());
            return s;
        }
        s.push_str(&markdown_table(cmp, top));
        s.push('\n');
        for r in cmp.rules.iter().take(top) {
            s.push_str(&format!(
                "{}. {} -> {}: {} ({})\n",
                r.id,
                r.rule,
                r.recommended_group,
                r.verdict.label(),
                r.reason
            ));
        }
        s.push_str(&cmp.routes_text());
        for (name, v) in &cmp.model_view {
            if let (Some(q), Some(auuc)) = (v.qini_coefficient, v.auuc) {
                s.push_str(&format!(
                    "\n{name}: Qini coefficient {q:.3}, AUUC {auuc:.3} (test customers)"
                ));
            }
        }
        s.push('\n');
        s.push_str(&cmp.arms_markdown());
        s
    }

    /// With a control: each arm's lift over it (overall and per rule) and the policy, as
    /// Markdown; empty without one.
    pub fn arms_markdown(&self) -> String {
        let (Some(arms), Some(policy)) = (&self.arms, &self.policy) else {
            return String::new();
        };
        let pct = |v: f64| {
            if arms.outcome == "binary" {
                format!("{:+.1} pts", 100.0 * v)
            } else {
                format!("{v:+.3}")
            }
        };
        let level = |v: f64| {
            if arms.outcome == "binary" {
                format!("{:.1}%", 100.0 * v)
            } else {
                format!("{v:.3}")
            }
        };
        let mut s = format!(
            "\n### Each arm against {:?} (all customers)\n\n| arm | customers | {} | control | lift | 95% CI | q-value |\n|---|---:|---:|---:|---:|---|---:|\n",
            arms.control,
            if arms.outcome == "binary" { "rate" } else { "mean" }
        );
        for a in &arms.overall {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} .. {} | {:.2e} |\n",
                md_cell(&a.arm),
                a.customers,
                level(a.mean),
                level(a.control_mean),
                pct(a.lift),
                pct(a.ci_low),
                pct(a.ci_high),
                a.q_value
            ));
        }
        if !arms.rules.is_empty() {
            s.push_str("\nWithin each rule (test customers; q-values over every arm and rule):\n\n| # | rule | arm | lift | 95% CI | q-value | best arm here |\n|---|---|---|---:|---|---:|---|\n");
            for r in &arms.rules {
                for a in &r.arms {
                    s.push_str(&format!(
                        "| {} | {} | {} | {} | {} .. {} | {:.2e} | {} |\n",
                        r.rule_id,
                        md_cell(&r.rule),
                        md_cell(&a.arm),
                        pct(a.lift),
                        pct(a.ci_low),
                        pct(a.ci_high),
                        a.q_value,
                        md_cell(&r.best)
                    ));
                }
            }
        }
        s.push_str(&format!(
            "\n### Which arm for whom (policy tree, depth {})\n\n| leaf | arm | test customers |\n|---|---|---:|\n",
            policy.params.depth
        ));
        for l in &policy.leaves {
            s.push_str(&format!(
                "| {} | {} | {} |\n",
                md_cell(&l.rule),
                md_cell(&l.arm),
                l.test_customers
            ));
        }
        s.push_str("\nHeld-out value per customer (value x outcome - cost), 95% interval:\n");
        for v in &policy.value_test {
            s.push_str(&format!(
                "* {}: {:.4} ({:.4} .. {:.4}), {:.0}% treated\n",
                v.name,
                v.value,
                v.ci[0],
                v.ci[1],
                100.0 * v.treated_share
            ));
        }
        let g = &policy.gain_over_best_arm;
        s.push_str(&format!(
            "* {}: {:+.4} ({:+.4} .. {:+.4})\n",
            g.name, g.value, g.ci[0], g.ci[1]
        ));
        let ranked: Vec<String> = policy
            .uplift_by_arm
            .iter()
            .filter_map(|u| {
                let q = u.curves.qini_coefficient?;
                Some(match u.qini_ci {
                    Some([lo, hi]) => format!(
                        "* {}: Qini coefficient {q:.3} (95% bootstrap band {lo:.3} .. {hi:.3}), AUUC {:.3}\n",
                        u.arm,
                        u.curves.auuc.unwrap_or(f64::NAN)
                    ),
                    None => format!("* {}: Qini coefficient {q:.3}\n", u.arm),
                })
            })
            .collect();
        if !ranked.is_empty() {
            s.push_str(
                "\nEach arm's uplift ranking against control (outcome model, test customers):\n",
            );
            ranked.iter().for_each(|r| s.push_str(r));
        }
        s.push_str("\nFor whom each arm is best:\n");
        for arm in &policy.arms {
            let who: Vec<&str> = policy
                .leaves
                .iter()
                .filter(|l| &l.arm == arm)
                .map(|l| l.rule.as_str())
                .collect();
            if !who.is_empty() {
                s.push_str(&format!("* {arm}: {}\n", who.join("; ")));
            }
        }
        s
    }

    /// For whom each group is the route (first match wins): per group, the routing rules that
    /// send customers to it and how many customers each one gets; a routing rule that gets
    /// nobody because earlier rules match its customers first says so.
    pub fn routes(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .groups
            .iter()
            .map(|g| {
                let parts: Vec<String> = self
                    .routing()
                    .iter()
                    .filter(|r| &r.recommended_group == g)
                    .map(|r| match r.customers_routed {
                        Some(0) => format!(
                            "{} (rule {}: nobody, earlier rules match these customers first)",
                            r.rule, r.id
                        ),
                        Some(n) => format!("{} (rule {}, {n} customers)", r.rule, r.id),
                        // written before the counts were kept
                        None => format!("{} (rule {})", r.rule, r.id),
                    })
                    .collect();
                let list = if parts.is_empty() {
                    "no rule".to_string()
                } else {
                    parts.join("; ")
                };
                (g.clone(), list)
            })
            .collect();
        let counted = self.rules.iter().any(|r| r.customers_routed.is_some());
        let routed: usize = self.rules.iter().filter_map(|r| r.customers_routed).sum();
        if (counted || self.routing().is_empty()) && routed < self.customers {
            out.push((
                self.default_label.clone(),
                format!(
                    "the {} customers no routing rule matches",
                    self.customers - routed
                ),
            ));
        }
        out
    }

    /// [`Comparison::routes`] as the printed list.
    pub fn routes_text(&self) -> String {
        let mut s =
            String::from("\nWho gets which group (routing rules in order, first match wins):\n");
        for (g, list) in self.routes() {
            s.push_str(&format!("* {g}: {list}\n"));
        }
        s
    }

    /// Writes `rules.json` (the whole comparison), `assignments.parquet` (each customer's split,
    /// predictions, rule and recommended group) and the routing exports (`routing_<dialect>.sql`,
    /// `routing.py`, `routing.json`, naming columns as the user's file does: `names`) into `out`.
    pub fn write_to(
        &self,
        out: &std::path::Path,
        names: &ColumnNames,
        table: &str,
        id_col: &str,
    ) -> Result<()> {
        let cmp = self;
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let batch = cmp.assignments_batch()?;
        let meta = vec![
            ("segmint.version".to_string(), crate::VERSION.to_string()),
            (
                "segmint.params".to_string(),
                serde_json::to_string(&cmp.params).map_err(|e| Error::Data(e.to_string()))?,
            ),
        ];
        crate::output::write_table(&batch, &out.join("assignments.parquet"), &meta)?;
        crate::output::write_text(
            &out.join("rules.json"),
            &(serde_json::to_string_pretty(cmp).map_err(|e| Error::Data(e.to_string()))? + "\n"),
        )?;
        for d in Dialect::ALL {
            crate::output::write_text(
                &out.join(format!("routing_{}.sql", d.name())),
                &routing_sql(d, cmp, names, table, id_col)?,
            )?;
        }
        crate::output::write_text(&out.join("routing.py"), &routing_python(cmp, names))?;
        crate::output::write_text(&out.join("routing.json"), &routing_json(cmp, names))?;
        if let Some(a) = &cmp.arms {
            crate::output::write_json(&out.join("arms.json"), a)?;
        }
        if let Some(p) = &cmp.policy {
            crate::output::write_json(&out.join("policy.json"), p)?;
        }
        Ok(())
    }

    /// Each customer's split, predicted outcome per group, uplift, matching rule and
    /// recommended group (`assignments.parquet`).
    pub fn assignments_batch(&self) -> Result<arrow_array::RecordBatch> {
        let cmp = self;
        let a = &cmp.assignments;
        let mut cols: Vec<(String, OutCol)> = vec![
            ("customer_id".into(), OutCol::Str(cmp.customer_id.clone())),
            (
                "split".into(),
                OutCol::Str(a.split.iter().map(|p| p.name().to_string()).collect()),
            ),
        ];
        for (gi, gname) in cmp.groups.iter().enumerate() {
            cols.push((
                format!("predicted_{gname}"),
                OutCol::F64(a.predicted.iter().map(|p| p[gi]).collect()),
            ));
        }
        cols.push((
            "predicted_uplift".into(),
            OutCol::F64(a.predicted_uplift.clone()),
        ));
        cols.push((
            "tlearner_uplift".into(),
            OutCol::F64(a.tlearner_uplift.clone()),
        ));
        cols.push((
            "rule_id".into(),
            OutCol::OptI64(a.rule.iter().map(|r| r.map(|r| r as i64)).collect()),
        ));
        cols.push((
            "recommended_group".into(),
            OutCol::Str(a.recommended.clone()),
        ));
        if let Some(r) = &a.recommended_arm {
            cols.push(("recommended_arm".into(), OutCol::Str(r.clone())));
        }
        let (col_names, values): (Vec<String>, Vec<OutCol>) = cols.into_iter().unzip();
        crate::output::batch(col_names.iter().map(|s| s.as_str()).zip(values).collect())
    }

    /// Every validated rule in the order of the top table, one row each: `rule_id, rule,
    /// group_a, group_b` (difference = a - b), `share_train, share_test, customers_test`,
    /// `mean_a_test, mean_b_test, difference_test, ci_low, ci_high, p_value, q_value,
    /// stability, methods, verdict, recommended_group, reason`.
    pub fn rules_batch(&self) -> Result<arrow_array::RecordBatch> {
        let rules = &self.rules;
        let f = |g: &dyn Fn(&RuleResult) -> f64| OutCol::F64(rules.iter().map(g).collect());
        let s = |g: &dyn Fn(&RuleResult) -> String| OutCol::Str(rules.iter().map(g).collect());
        let mean = |r: &RuleResult, which: usize| {
            r.test
                .groups
                .iter()
                .find(|g| g.group == r.pair[which])
                .and_then(|g| g.mean)
                .unwrap_or(f64::NAN)
        };
        crate::output::batch(vec![
            (
                "rule_id",
                OutCol::I64(rules.iter().map(|r| r.id as i64).collect()),
            ),
            ("rule", s(&|r| r.rule.clone())),
            ("group_a", s(&|r| r.pair[0].clone())),
            ("group_b", s(&|r| r.pair[1].clone())),
            ("share_train", f(&|r| r.train.share)),
            ("share_test", f(&|r| r.test.share)),
            (
                "customers_test",
                OutCol::I64(rules.iter().map(|r| r.test.customers as i64).collect()),
            ),
            ("mean_a_test", f(&|r| mean(r, 0))),
            ("mean_b_test", f(&|r| mean(r, 1))),
            ("difference_test", f(&|r| r.test.difference)),
            ("ci_low", f(&|r| r.ci[0])),
            ("ci_high", f(&|r| r.ci[1])),
            ("p_value", f(&|r| r.p_value)),
            ("q_value", f(&|r| r.q_value)),
            ("stability", f(&|r| r.stability)),
            (
                "methods",
                s(&|r| {
                    r.methods
                        .iter()
                        .map(|m| m.name())
                        .collect::<Vec<_>>()
                        .join("+")
                }),
            ),
            ("verdict", s(&|r| r.verdict.label().to_string())),
            ("recommended_group", s(&|r| r.recommended_group.clone())),
            ("reason", s(&|r| r.reason.clone())),
        ])
    }
}
