//! Report sections read from the files each analysis writes (`segmint cluster`, `clv`,
//! `predict`, `segments discover`), so that a report can be built from a results directory.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::Array;
use arrow_schema::DataType;
use serde_json::Value;

use super::evaluation;
use super::svg::{self, Chart, Format, Series};
use super::{Block, Section};
use crate::cluster::analysis::ClusterSummary;
use crate::clv::analysis::ClvSummary;
use crate::error::{Error, Result};
use crate::hidden::analysis::HiddenReport;
use crate::predict::PredictResult;

/// Reads the named columns of a Parquet file, as numbers (`NaN` for null) or text.
fn read_columns(path: &Path, names: &[&str], text: bool) -> Result<Vec<Vec<Value>>> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::format(path, format!("not a readable Parquet file: {e}")))?;
    let reader = b.build().map_err(|e| Error::format(path, e))?;
    let mut out: Vec<Vec<Value>> = vec![Vec::new(); names.len()];
    for batch in reader {
        let batch = batch.map_err(|e| Error::format(path, e))?;
        for (k, name) in names.iter().enumerate() {
            let col = batch
                .column_by_name(name)
                .ok_or_else(|| Error::format(path, format!("no column {name}")))?;
            if text {
                let c =
                    arrow_cast::cast(col, &DataType::Utf8).map_err(|e| Error::format(path, e))?;
                let c = c.as_string::<i32>();
                out[k].extend((0..c.len()).map(|i| Value::from(c.value(i))));
            } else {
                let c = arrow_cast::cast(col, &DataType::Float64)
                    .map_err(|e| Error::format(path, e))?;
                let c = c.as_primitive::<arrow_array::types::Float64Type>();
                out[k].extend(
                    (0..c.len())
                        .map(|i| Value::from(if c.is_null(i) { f64::NAN } else { c.value(i) })),
                );
            }
        }
    }
    Ok(out)
}

fn numbers(path: &Path, names: &[&str]) -> Result<Vec<Vec<f64>>> {
    Ok(read_columns(path, names, false)?
        .into_iter()
        .map(|c| c.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
        .collect())
}

fn texts(path: &Path, names: &[&str]) -> Result<Vec<Vec<String>>> {
    Ok(read_columns(path, names, true)?
        .into_iter()
        .map(|c| {
            c.iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect()
        })
        .collect())
}

/// The first two principal components of the rows (columns standardised), by power
/// iteration with deflation on the covariance matrix.
pub fn pca2(cols: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let d = cols.len();
    let n = cols.first().map_or(0, |c| c.len());
    if d < 2 || n == 0 {
        return Vec::new();
    }
    let z: Vec<Vec<f64>> = cols
        .iter()
        .map(|c| {
            let m = c.iter().sum::<f64>() / n as f64;
            let sd = (c.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64).sqrt();
            c.iter()
                .map(|x| if sd > 0.0 { (x - m) / sd } else { 0.0 })
                .collect()
        })
        .collect();
    let mut cov = vec![vec![0.0; d]; d];
    for a in 0..d {
        for b in 0..d {
            cov[a][b] = (0..n).map(|i| z[a][i] * z[b][i]).sum::<f64>() / n as f64;
        }
    }
    let mut comps: Vec<Vec<f64>> = Vec::new();
    for _ in 0..2 {
        // start (and stay) orthogonal to the components found, unit length
        let orth = |mut w: Vec<f64>, comps: &[Vec<f64>]| -> Option<Vec<f64>> {
            for c in comps {
                let dot: f64 = w.iter().zip(c).map(|(a, b)| a * b).sum();
                w.iter_mut().zip(c).for_each(|(a, b)| *a -= dot * b);
            }
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            (norm > 1e-12).then(|| w.into_iter().map(|x| x / norm).collect())
        };
        // power iteration from each axis (a single start can be orthogonal to the answer);
        // the largest Rayleigh quotient wins
        let rayleigh = |v: &[f64]| -> f64 {
            (0..d)
                .map(|a| v[a] * (0..d).map(|b| cov[a][b] * v[b]).sum::<f64>())
                .sum()
        };
        let mut best: Option<(f64, Vec<f64>)> = None;
        for axis in 0..d {
            let mut e = vec![0.0; d];
            e[axis] = 1.0;
            let Some(mut v) = orth(e, &comps) else {
                continue;
            };
            for _ in 0..200 {
                let w: Vec<f64> = (0..d)
                    .map(|a| (0..d).map(|b| cov[a][b] * v[b]).sum())
                    .collect();
                match orth(w, &comps) {
                    Some(w) => v = w,
                    None => break,
                }
            }
            let q = rayleigh(&v);
            if best.as_ref().is_none_or(|(bq, _)| q > *bq + 1e-12) {
                best = Some((q, v));
            }
        }
        let mut v = best.map(|b| b.1).unwrap_or_else(|| vec![0.0; d]);
        let lambda: f64 = (0..d)
            .map(|a| v[a] * (0..d).map(|b| cov[a][b] * v[b]).sum::<f64>())
            .sum();
        for a in 0..d {
            for b in 0..d {
                cov[a][b] -= lambda * v[a] * v[b];
            }
        }
        // a fixed sign, so that the picture does not flip between runs
        let s = v.iter().sum::<f64>();
        if s < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        comps.push(v);
    }
    (0..n)
        .map(|i| {
            let p = |c: &[f64]| (0..d).map(|a| c[a] * z[a][i]).sum::<f64>();
            (p(&comps[0]), p(&comps[1]))
        })
        .collect()
}

/// Clusters: sizes and a 2-D projection (principal components of log recency, frequency and
/// monetary value).
pub fn clusters(dir: &Path, mart: &Path) -> Result<Section> {
    let file = dir.join("clusters.parquet");
    let lab = texts(&file, &["customer_id", "cluster_name"])?;
    let (ids, names) = (&lab[0], &lab[1]);
    let mut groups: Vec<String> = names.clone();
    groups.sort();
    groups.dedup();
    let counts: Vec<f64> = groups
        .iter()
        .map(|g| names.iter().filter(|n| *n == g).count() as f64 / names.len().max(1) as f64)
        .collect();
    let mut blocks = vec![
        Block::Text(format!(
            "{} customers in {} clusters (k-means on log recency, frequency and monetary value; k chosen automatically; names from each cluster's position against the average customer).",
            names.len(),
            groups.len()
        )),
        Block::Figure {
            name: "cluster_sizes".into(),
            svg: svg::bar_chart(
                &Chart::new("Customers per cluster", "share of customers", ""),
                &groups,
                &counts,
                Format::Percent,
            ),
            caption: "Share of customers in each cluster.".into(),
        },
    ];
    let m_ids = texts(mart, &["customer_id"])?;
    if m_ids[0] == *ids {
        let m = numbers(mart, &["recency_days", "frequency", "monetary"])?;
        let cols: Vec<Vec<f64>> = m
            .iter()
            .map(|c| c.iter().map(|x| x.max(0.0).ln_1p()).collect())
            .collect();
        let pts = pca2(&cols);
        let step = (pts.len() / 3000).max(1);
        let points: Vec<(f64, f64, usize)> = pts
            .iter()
            .zip(names)
            .step_by(step)
            .map(|(p, n)| (p.0, p.1, groups.iter().position(|g| g == n).unwrap_or(0)))
            .collect();
        blocks.push(Block::Figure {
            name: "cluster_map".into(),
            svg: svg::scatter(
                &Chart::new("Clusters, 2-D projection", "component 1", "component 2"),
                &points,
                &groups,
            ),
            caption: format!(
                "Every {step}th customer on the first two principal components of log recency, frequency and monetary value, coloured by cluster."
            ),
        });
    }
    // the summary `segmint cluster --summary` writes: a profile row and an action per cluster
    let summary = dir.join("clusters.json");
    if summary.exists() {
        let summary = ClusterSummary::read_from(&summary)?;
        if let Some(sel) = &summary.selection {
            blocks.push(k_choice_figure(sel));
        }
        let list = summary.clusters;
        blocks.push(Block::Table {
            header: [
                "cluster",
                "customers",
                "share",
                "revenue share",
                "recency_days (mean)",
                "frequency (mean)",
                "monetary (mean)",
            ]
            .map(String::from)
            .to_vec(),
            rows: list
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone(),
                        c.size.to_string(),
                        format!("{:.1}%", 100.0 * c.share),
                        format!("{:.1}%", 100.0 * c.revenue_share),
                        format!("{:.0}", c.recency_days),
                        format!("{:.2}", c.frequency),
                        format!("{:.2}", c.monetary),
                    ]
                })
                .collect(),
        });
        blocks.push(Block::Text("What to do, per cluster:".into()));
        blocks.push(Block::Actions(
            list.iter()
                .map(|c| (c.name.clone(), vec![c.action.clone()]))
                .collect(),
        ));
    }
    Ok(Section {
        id: "clusters".into(),
        title: "Clusters".into(),
        blocks,
    })
}

/// The criteria of the choice of k, each scaled from its worst k (0) to its best (1), with the
/// chosen k marked.
fn k_choice_figure(sel: &crate::cluster::select::Selection) -> Block {
    let s = &sel.scores;
    let scaled = |v: &dyn Fn(&crate::cluster::select::KScore) -> f64| -> Vec<(f64, f64)> {
        let (lo, hi) = s
            .iter()
            .map(v)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(x), b.max(x))
            });
        s.iter()
            .map(|k| {
                let t = if hi > lo {
                    (v(k) - lo) / (hi - lo)
                } else {
                    1.0
                };
                (k.k as f64, t)
            })
            .collect()
    };
    let series = |name: &str, points: Vec<(f64, f64)>, dashed: bool| Series {
        name: name.into(),
        points,
        dashed,
    };
    let knee = sel.knee_k as f64;
    let n = s.len() as f64;
    let svg = svg::line_chart_marked(
        &Chart::new("Choosing the number of clusters", "k", "score (1 = best k)"),
        &[
            series("silhouette", scaled(&|k| k.silhouette), false),
            series("Calinski–Harabasz", scaled(&|k| k.calinski_harabasz), false),
            series("Davies–Bouldin", scaled(&|k| -k.davies_bouldin), false),
            series(
                "inertia knee",
                s.iter()
                    .map(|k| {
                        (
                            k.k as f64,
                            (1.0 - (k.k as f64 - knee).abs() / (n - 1.0).max(1.0)).max(0.0),
                        )
                    })
                    .collect(),
                true,
            ),
            series("vote", scaled(&|k| k.points), true),
        ],
        Format::Number,
        Format::Number,
        Some((sel.chosen_k as f64, "chosen")),
    );
    Block::Figure {
        name: "cluster_k_choice".into(),
        svg,
        caption: format!(
            "Each criterion per k, scaled from its worst k (0) to its best (1; for Davies–Bouldin the lowest), and the points of their vote. {}. Another k: segmint cluster -k K (or [run.cluster] k = K).",
            sel.why
        ),
    }
}

/// CLV: the distribution, the fitted parameters, and the holdout calibration plot.
pub fn clv(dir: &Path) -> Result<Section> {
    let c = numbers(&dir.join("clv.parquet"), &["clv", "p_alive"])?;
    let meta = ClvSummary::read_from(&dir.join("clv.json"))?;
    let mut blocks = Vec::new();
    let mut params: Vec<String> = ["r", "alpha", "a", "b"]
        .iter()
        .filter_map(|n| Some(format!("{n} {:.4}", meta.parameter("bgnbd", n)?)))
        .collect();
    let gg = &meta.gamma_gamma;
    params.extend([("p", gg.p), ("q", gg.q), ("v", gg.v)].map(|(n, v)| format!("{n} {v:.4}")));
    let total: f64 = c[0].iter().filter(|x| x.is_finite()).sum();
    blocks.push(Block::Text(format!(
        "BG/NBD and Gamma-Gamma fitted on every customer's purchase history ({}). Expected value over the horizon, all customers: {}.",
        params.join(", "),
        svg::format_value(total, Format::Money)
    )));
    blocks.push(Block::Figure {
        name: "clv_distribution".into(),
        svg: svg::histogram(
            &Chart::new("Customer lifetime value", "CLV", "customers"),
            &c[0],
            30,
            Format::Money,
        ),
        caption: "CLV per customer (values above the 99th percentile are in the last bar).".into(),
    });
    let holdout = dir.join("holdout.json");
    let h = if holdout.exists() {
        Some(ClvSummary::read_from(&holdout)?)
    } else {
        None
    };
    // the holdout fit's series shows the calibration end inside the data; without one, the
    // main fit's
    if let Some(fig) = h
        .as_ref()
        .filter(|h| h.tracking.is_some())
        .or(Some(&meta))
        .and_then(tracking_figure)
    {
        blocks.push(fig);
    }
    if let Some(rows) = &meta.repeat_purchases {
        blocks.push(repeat_purchases_figure(rows, &meta.prediction_model));
    }
    if let Some(m) = &meta.matrices {
        blocks.extend(matrix_figures(m, &meta));
    }
    if let Some(h) = h {
        if let Some(card) = &h.holdout {
            let rows = &card.by_calibration_frequency;
            let pts = |f: fn(&crate::clv::FrequencyRow) -> f64| -> Vec<(f64, f64)> {
                rows.iter()
                    .enumerate()
                    .map(|(i, r)| (i as f64, f(r)))
                    .collect()
            };
            blocks.push(Block::Figure {
                name: "clv_calibration".into(),
                svg: svg::line_chart(
                    &Chart::new(
                        "Holdout check: purchases per customer",
                        "purchases in the calibration period (last = that many or more)",
                        "purchases in the holdout period",
                    ),
                    &[
                        Series {
                            name: "actual".into(),
                            points: pts(|r| r.actual_purchases),
                            dashed: false,
                        },
                        Series {
                            name: format!("predicted ({})", h.prediction_model),
                            points: pts(|r| r.predicted_purchases),
                            dashed: true,
                        },
                    ],
                    Format::Number,
                    Format::Number,
                ),
                caption: format!(
                    "Fitted on the data up to {}, then predicting the rest: mean actual vs predicted purchases by calibration-period frequency.",
                    h.calibration_end
                ),
            });
        }
    }
    Ok(Section {
        id: "clv".into(),
        title: "Customer lifetime value".into(),
        blocks,
    })
}

/// Cohorts: the retention and cumulative revenue heatmaps, the averaged curve and the trend.
pub fn cohorts(dir: &Path) -> Result<Section> {
    let c = crate::cohorts::CohortAnalysis::read_from(&dir.join("cohorts.json"))?;
    let unit = c.params.period.name();
    let by_purchase = c.params.cohort_column.is_none();
    // period 0 is 100% by definition for first-purchase cohorts: the colours start at 1
    let first = usize::from(by_purchase);
    let periods = c
        .rows
        .iter()
        .map(|r| r.period as usize + 1)
        .max()
        .unwrap_or(0);
    let x: Vec<String> = (first..periods).map(|p| p.to_string()).collect();
    // one heatmap row per (group and) cohort, the oldest at the top
    let mut keys: Vec<(Option<String>, i64, u64)> = Vec::new();
    for r in &c.rows {
        if keys
            .last()
            .is_none_or(|k| (&k.0, k.1) != (&r.group, r.cohort))
        {
            keys.push((r.group.clone(), r.cohort, r.customers));
        }
    }
    keys.reverse();
    let y: Vec<String> = keys
        .iter()
        .map(|(g, cohort, n)| {
            let date = crate::data::timestamp::format_date(*cohort);
            match g {
                Some(g) => format!("{g} {date} ({n})"),
                None => format!("{date} ({n})"),
            }
        })
        .collect();
    let grid = |value: fn(&crate::cohorts::CohortRow) -> f64| -> Vec<Vec<Option<f64>>> {
        keys.iter()
            .map(|(g, cohort, _)| {
                let mut row = vec![None; x.len()];
                for r in c
                    .rows
                    .iter()
                    .filter(|r| &r.group == g && r.cohort == *cohort)
                {
                    if let Some(cell) = (r.period as usize).checked_sub(first) {
                        row[cell] = Some(value(r));
                    }
                }
                row
            })
            .collect()
    };
    let tall = |title: &str| {
        let mut ch = Chart::new(
            title,
            &format!("{unit}s since acquisition"),
            "cohort (customers)",
        );
        ch.height = (keys.len() as f64 * 14.0 + 100.0).clamp(360.0, 1400.0);
        ch
    };
    let mut blocks = vec![Block::Text(format!(
        "{} customers in {} cohorts by the {unit} of their {}; data to the {unit} of {}.{}",
        c.customers,
        c.cohorts,
        c.params
            .cohort_column
            .as_deref()
            .map_or("first purchase".to_string(), |col| format!("{col:?}")),
        c.last_period,
        c.trend
            .as_ref()
            .map_or(String::new(), |t| format!(" {}", t.sentence))
    ))];
    blocks.push(Block::Figure {
        name: "cohorts_retention".into(),
        svg: svg::heatmap(
            &tall("Retention by cohort"),
            &x,
            &y,
            &grid(|r| r.retention),
            Format::Percent,
        ),
        caption: format!(
            "Share of each cohort buying in each {unit} after acquisition (grey: not observed yet). Read down a column to compare cohorts at the same age."
        ),
    });
    blocks.push(Block::Figure {
        name: "cohorts_revenue".into(),
        svg: svg::heatmap(
            &tall("Cumulative revenue per acquired customer"),
            &x,
            &y,
            &grid(|r| r.cumulative_revenue_per_customer),
            Format::Money,
        ),
        caption: format!(
            "Net revenue per customer the cohort acquired, summed from the acquisition {unit} on: the empirical lifetime value curve of each cohort."
        ),
    });
    let mut groups: Vec<Option<String>> = Vec::new();
    for p in &c.curve {
        if !groups.contains(&p.group) {
            groups.push(p.group.clone());
        }
    }
    let series: Vec<Series> = groups
        .iter()
        .map(|g| Series {
            name: g.clone().unwrap_or_else(|| "all cohorts".into()),
            points: c
                .curve
                .iter()
                .filter(|p| &p.group == g && p.period as usize >= first)
                .map(|p| (p.period as f64, p.retention))
                .collect(),
            dashed: false,
        })
        .collect();
    blocks.push(Block::Figure {
        name: "cohorts_curve".into(),
        svg: svg::line_chart(
            &Chart::new(
                "Retention curve, cohorts weighted by size",
                &format!("{unit}s since acquisition"),
                "share buying",
            ),
            &series,
            Format::Number,
            Format::Percent,
        ),
        caption: "At each age, the buyers of every cohort observed that long over their customers."
            .into(),
    });
    Ok(Section {
        id: "cohorts".into(),
        title: "Cohorts".into(),
        blocks,
    })
}

/// The frequency/recency heatmaps of expected purchases and P(alive).
fn matrix_figures(
    m: &crate::clv::matrices::FrequencyRecencyMatrices,
    meta: &ClvSummary,
) -> [Block; 2] {
    let unit = meta.time_unit.name();
    let chart = |title: &str| {
        Chart::new(
            title,
            &format!("recency ({unit}s from the first to the last purchase)"),
            "repeat purchases",
        )
    };
    let age = format!("{:.0} {unit}s", m.t);
    let labels = |v: &[f64]| -> Vec<String> {
        v.iter()
            .map(|x| svg::format_value(*x, Format::Number))
            .collect()
    };
    let (recency, frequency) = (labels(&m.recency), labels(&m.frequency));
    [
        Block::Figure {
            name: "clv_matrix_expected_purchases".into(),
            svg: svg::heatmap(
                &chart(&format!("Expected purchases in the next {:.0} {unit}s", m.horizon)),
                &recency,
                &frequency,
                &m.expected_purchases,
                Format::Number,
            ),
            caption: format!(
                "What the {} model expects of a customer first seen {age} ago, by repeat purchases and recency: frequent buyers who bought recently are worth the most; frequent buyers who stopped long ago (left) are likely gone.",
                meta.prediction_model
            ),
        },
        Block::Figure {
            name: "clv_matrix_p_alive".into(),
            svg: svg::heatmap(
                &chart("Probability of being still a customer"),
                &recency,
                &frequency,
                &m.p_alive,
                Format::Percent,
            ),
            caption: format!(
                "P(alive) of a customer first seen {age} ago, by repeat purchases and recency: the same silence means more for a customer who used to buy often."
            ),
        },
    ]
}

/// Customers by repeat purchases in the calibration period, actual vs the model's expectation.
fn repeat_purchases_figure(rows: &[crate::clv::analysis::RepeatPurchases], model: &str) -> Block {
    let pts = |f: &dyn Fn(&crate::clv::analysis::RepeatPurchases) -> f64| -> Vec<(f64, f64)> {
        rows.iter()
            .enumerate()
            .map(|(i, r)| (i as f64, f(r)))
            .collect()
    };
    Block::Figure {
        name: "clv_repeat_purchases".into(),
        svg: svg::line_chart(
            &Chart::new(
                "Customers by repeat purchases",
                "repeat purchases in the period fitted (last = 7 or more)",
                "customers",
            ),
            &[
                Series {
                    name: "actual".into(),
                    points: pts(&|r| r.actual as f64),
                    dashed: false,
                },
                Series {
                    name: format!("expected ({model})"),
                    points: pts(&|r| r.expected),
                    dashed: true,
                },
            ],
            Format::Number,
            Format::Number,
        ),
        caption: "How many customers bought again 0, 1, 2, ... times, and how many the model expects given how long each has been a customer: a model that misses here misreads the customer base.".into(),
    }
}

/// The tracking plot of a CLV fit: cumulative repeat purchases per period, actual and
/// expected, with the calibration end marked when the series runs past it.
fn tracking_figure(meta: &ClvSummary) -> Option<Block> {
    let t = meta.tracking.as_ref()?;
    let pts = |v: &[f64]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, y)| ((i + 1) as f64, *y))
            .collect()
    };
    let unit = meta.time_unit.name();
    let periods = t.actual.len();
    let marker = (t.calibration_periods < periods)
        .then_some((t.calibration_periods as f64, "calibration end"));
    let svg = svg::line_chart_marked(
        &Chart::new(
            "Tracking: cumulative repeat purchases",
            &format!("{unit}s since {}", t.start),
            "repeat purchases (cumulative)",
        ),
        &[
            Series {
                name: "actual".into(),
                points: pts(&t.actual),
                dashed: false,
            },
            Series {
                name: format!("expected ({})", meta.prediction_model),
                points: pts(&t.expected),
                dashed: true,
            },
        ],
        Format::Number,
        Format::Number,
        marker,
    );
    let last = periods - 1;
    let gap = if t.actual[last] > 0.0 {
        format!(
            " At the end the model expects {:.0} against {:.0} actual ({:+.1}%).",
            t.expected[last],
            t.actual[last],
            100.0 * (t.expected[last] / t.actual[last] - 1.0)
        )
    } else {
        String::new()
    };
    let split = if marker.is_some() {
        format!(
            "fitted on the first {} {unit}s (to {}), predicting the rest.",
            t.calibration_periods, meta.calibration_end
        )
    } else {
        "over the period the model was fitted on.".to_string()
    };
    Some(Block::Figure {
        name: "clv_tracking".into(),
        svg,
        caption: format!(
            "Repeat purchases of the whole customer base, actual vs what the model expects from each customer's first purchase on, {split}{gap}"
        ),
    })
}

/// The label window in words: its length when the result records it (a training table's
/// does not).
fn window(horizon_days: Option<i64>) -> String {
    horizon_days.map_or("the label window".into(), |d| format!("the {d} days"))
}

/// The cumulative gain by decile of the predicted churn probability, with the KS statistic:
/// how much better than random the top of the list is.
fn gain_blocks(c: &crate::predict::metrics::Classification) -> Vec<Block> {
    let Some(first) = c.deciles.first() else {
        return Vec::new();
    };
    let labels: Vec<String> = c
        .deciles
        .iter()
        .map(|d| format!("top {}%", 10 * d.decile))
        .collect();
    let gain: Vec<f64> = c.deciles.iter().map(|d| d.cumulative_gain).collect();
    let third = c.deciles.get(2).map_or(f64::NAN, |d| d.cumulative_gain);
    vec![
        Block::Text(format!(
            "On held-out customers the 10% with the highest predicted risk hold {} of the churners (lift {:.2} over random), the top 30% hold {}; KS statistic {:.3}.",
            svg::format_value(first.cumulative_gain, Format::Percent),
            first.lift,
            svg::format_value(third, Format::Percent),
            c.ks.unwrap_or(f64::NAN)
        )),
        Block::Figure {
            name: "churn_gain".into(),
            svg: svg::bar_chart(
                &Chart::new("Churners captured by the riskiest customers", "share of all churners", ""),
                &labels,
                &gain,
                Format::Percent,
            ),
            caption: "Cumulative gain: the share of the held-out churners among the customers with the highest predicted churn probability (random ranking: 10% per decile); per-decile rates, lift and KS are in churn/metrics.json (test.deciles).".into(),
        },
    ]
}

/// Churn: quality, risk bands and what drives the model.
pub fn churn(dir: &Path) -> Result<Section> {
    let PredictResult {
        metrics: m,
        insights,
    } = PredictResult::read_from(dir)?;
    let baseline_auc = match &m.baseline_test {
        crate::predict::Metrics::Classification(c) => c.roc_auc,
        crate::predict::Metrics::Regression(_) => None,
    };
    let mut blocks = vec![Block::Text(format!(
        "Churn = no purchase in {} after the cutoff {}; churn rate {}. Gradient boosting on held-out customers: ROC-AUC {:.3} (logistic baseline {:.3}).",
        window(m.horizon_days),
        m.cutoff.as_deref().unwrap_or("-"),
        svg::format_value(m.churn_rate.unwrap_or(f64::NAN), Format::Percent),
        m.test_auc.unwrap_or(f64::NAN),
        baseline_auc.unwrap_or(f64::NAN),
    ))];
    if let Some(b) = &insights.risk_bands {
        blocks.push(Block::Figure {
            name: "churn_risk_bands".into(),
            svg: svg::bar_chart(
                &Chart::new("Customers by churn risk", "customers", ""),
                &["Low".to_string(), "Medium".into(), "High".into()],
                &[b.low as f64, b.medium as f64, b.high as f64],
                Format::Number,
            ),
            caption: format!(
                "Risk bands of the predicted churn probability (Low below {}, High from {}).",
                b.thresholds.first().unwrap_or(&f64::NAN),
                b.thresholds.get(1).unwrap_or(&f64::NAN)
            ),
        });
    }
    if let crate::predict::Metrics::Classification(c) = &m.test {
        blocks.extend(gain_blocks(c));
    }
    blocks.extend(evaluation::classification("churn", &m));
    let top: Vec<_> = m.importance.iter().take(10).collect();
    if !top.is_empty() {
        blocks.push(Block::Figure {
            name: "churn_importance".into(),
            svg: svg::bar_chart(
                &Chart::new(
                    "What drives churn predictions",
                    "share of the model's gain",
                    "",
                ),
                &top.iter().map(|v| v.feature.clone()).collect::<Vec<_>>(),
                &top.iter().map(|v| v.gain_share).collect::<Vec<_>>(),
                Format::Percent,
            ),
            caption: "The ten features with the largest share of the boosting model's split gain."
                .into(),
        });
    }
    blocks.extend(evaluation::explanation(dir, "churn", "churn probability")?);
    if let Some(t) = insights
        .retention_targets
        .as_ref()
        .filter(|t| !t.top.is_empty())
    {
        blocks.push(Block::Text(format!(
            "{} customers qualify for retention ({}); the {} with the highest priority (churn probability x revenue) are in churn/insights.json: contact them first.",
            t.eligible,
            t.rule,
            t.top.len()
        )));
        blocks.push(Block::Table {
            header: vec![
                "customer".into(),
                "churn probability".into(),
                "revenue".into(),
                "priority".into(),
                "at risk mainly because (log-odds)".into(),
            ],
            rows: t
                .top
                .iter()
                .take(10)
                .map(|e| {
                    vec![
                        e.customer_id.clone().unwrap_or_default(),
                        format!("{:.2}", e.churn_probability.unwrap_or(f64::NAN)),
                        format!("{:.2}", e.revenue.unwrap_or(f64::NAN)),
                        format!("{:.2}", e.retention_priority.unwrap_or(f64::NAN)),
                        e.because.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
        });
    }
    Ok(Section {
        id: "churn".into(),
        title: "Churn risk".into(),
        blocks,
    })
}

/// Session conversion: rates by device and traffic source, and the model's quality.
pub fn conversion(dir: &Path) -> Result<Section> {
    let m = PredictResult::read_from(dir)?.metrics;
    let cols = [
        "device_mobile",
        "device_desktop",
        "device_tablet",
        "source_organic",
        "source_paid",
        "source_email",
        "source_social",
        "source_direct",
        "converted",
    ];
    let f = numbers(&dir.join("features.parquet"), &cols)?;
    let y = &f[cols.len() - 1];
    let rate = |k: usize| {
        let (mut n, mut s) = (0.0, 0.0);
        for (x, yy) in f[k].iter().zip(y) {
            if *x == 1.0 {
                n += 1.0;
                s += yy;
            }
        }
        if n > 0.0 {
            s / n
        } else {
            f64::NAN
        }
    };
    let mut blocks = vec![Block::Text(format!(
        "{} sessions; a session converts when it has a purchase. Gradient boosting on features known before the purchase: ROC-AUC {:.3} on held-out sessions.",
        y.len(),
        m.test_auc.unwrap_or(f64::NAN)
    ))];
    for (name, title, range) in [
        ("conversion_by_device", "Conversion by device", 0..3),
        ("conversion_by_source", "Conversion by traffic source", 3..8),
    ] {
        let labels: Vec<String> = cols[range.clone()]
            .iter()
            .map(|c| c.split_once('_').map_or(*c, |x| x.1).to_string())
            .collect();
        let values: Vec<f64> = range.map(rate).collect();
        blocks.push(Block::Figure {
            name: name.into(),
            svg: svg::bar_chart(
                &Chart::new(title, "sessions with a purchase", ""),
                &labels,
                &values,
                Format::Percent,
            ),
            caption: format!("{title}: share of sessions that end in a purchase."),
        });
    }
    blocks.extend(evaluation::classification("conversion", &m));
    blocks.extend(evaluation::explanation(
        dir,
        "conversion",
        "conversion probability",
    )?);
    Ok(Section {
        id: "conversion".into(),
        title: "Session conversion".into(),
        blocks,
    })
}

/// Hidden segments: does one global model hide segments?
pub fn hidden(dir: &Path) -> Result<Section> {
    let r = HiddenReport::read_from(dir)?;
    let mut blocks = vec![Block::Text(format!(
        "Target {}: {} {}",
        r.target,
        match r.verdict {
            crate::hidden::Verdict::UseSegmentModels => "use segment models.",
            crate::hidden::Verdict::GlobalModelIsEnough => "the global model is enough.",
        },
        r.reason
    ))];
    blocks.push(Block::Text(hidden_method_text(&r)));
    if !r.evaluation.segments.is_empty() {
        blocks.push(Block::Table {
            header: vec![
                "segment".into(),
                "rule".into(),
                "test customers".into(),
                "MAE, global model".into(),
                "MAE, segment model".into(),
            ],
            rows: r
                .evaluation
                .segments
                .iter()
                .map(|s| {
                    vec![
                        s.segment.clone(),
                        s.rule.clone().unwrap_or_default(),
                        s.test_rows.to_string(),
                        format!("{:.1}", s.global_linear.mae),
                        format!("{:.1}", s.segment_linear.mae),
                    ]
                })
                .collect(),
        });
    }
    Ok(Section {
        id: "hidden".into(),
        title: "Hidden segments".into(),
        blocks,
    })
}

/// How the hidden segments were found: the method, the target's transformation and, when
/// they were chosen, the validation errors that chose them.
fn hidden_method_text(r: &HiddenReport) -> String {
    let mut t = format!("Segments by {}", r.method_description);
    if r.transform == crate::hidden::Transform::Log1p {
        t.push_str(", the models fitted on log(1 + target)");
    }
    if let Some(m) = &r.mixture {
        t.push_str(&format!(
            " ({} components by BIC; the rules give {:.0}% of the training customers their most probable component)",
            m.components,
            100.0 * m.tree_agreement
        ));
    }
    t.push('.');
    let chosen: Vec<String> = r
        .selection
        .iter()
        .map(|m| {
            format!(
                "{} {:.1} ({} segments)",
                m.method.name(),
                m.validation_mae,
                m.segments
            )
        })
        .collect();
    if !chosen.is_empty() {
        t.push_str(&format!(
            " Validation MAE of the segment models: {}.",
            chosen.join(", ")
        ));
    }
    t
}

/// 90-day value: the model's quality and the value categories.
pub fn value(dir: &Path) -> Result<Section> {
    let m = PredictResult::read_from(dir)?.metrics;
    let p = texts(&dir.join("predictions.parquet"), &["value_category"])?;
    // the categories from low to high value, any unknown ones after
    let order = ["Low", "Medium", "High", "VIP"];
    let mut cats: Vec<String> = p[0].clone();
    cats.sort_by_key(|c| {
        (
            order.iter().position(|o| o == c).unwrap_or(order.len()),
            c.clone(),
        )
    });
    cats.dedup();
    let counts: Vec<f64> = cats
        .iter()
        .map(|c| p[0].iter().filter(|x| *x == c).count() as f64)
        .collect();
    let mut blocks = vec![
            Block::Text(format!(
                "Revenue per customer in {} after the cutoff, predicted by gradient boosting: on held-out customers MAE {:.2}, RMSE {:.2}, R² {:.3}.",
                window(m.horizon_days),
                m.mae.unwrap_or(f64::NAN),
                m.rmse.unwrap_or(f64::NAN),
                m.r2.unwrap_or(f64::NAN)
            )),
            Block::Figure {
                name: "value_categories".into(),
                svg: svg::bar_chart(
                    &Chart::new("Customers by predicted value", "customers", ""),
                    &cats,
                    &counts,
                    Format::Number,
                ),
                caption: "Value categories of the predicted 90-day revenue.".into(),
            },
        ];
    if let crate::predict::Metrics::Regression(r) = &m.test {
        blocks.extend(evaluation::value_deciles(r));
    }
    blocks.extend(evaluation::explanation(dir, "value", "predicted value")?);
    Ok(Section {
        id: "value".into(),
        title: "90-day value".into(),
        blocks,
    })
}

/// Key-value metadata of a Parquet file.
fn parquet_metadata(path: &Path) -> Result<std::collections::BTreeMap<String, String>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let r = SerializedFileReader::new(file)
        .map_err(|e| Error::format(path, format!("not a readable Parquet file: {e}")))?;
    Ok(r.metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .filter_map(|k| Some((k.key.clone(), k.value.clone()?)))
                .collect()
        })
        .unwrap_or_default())
}

/// The report sections in the order of the pipeline.
pub const ORDER: [&str; 10] = [
    "data",
    "segments",
    "clusters",
    "clv",
    "cohorts",
    "churn",
    "value",
    "conversion",
    "compare",
    "hidden",
];

pub use crate::pipeline::{RUN_STAGES, SECTION_FILES};

/// The stages `segmint run` skipped or that failed, with the reason (from `summary.json`'s
/// `skipped`: `stage: reason`), so that the report says what is missing and why.
fn not_run(dir: &Path) -> Option<Section> {
    let summary = crate::pipeline::RunSummary::read_from(&dir.join("summary.json")).ok()?;
    let rows: Vec<Vec<String>> = summary
        .not_run()
        .into_iter()
        .map(|(stage, why)| vec![stage, why])
        .collect();
    if rows.is_empty() {
        return None;
    }
    Some(Section {
        id: "not_run".into(),
        title: "What did not run".into(),
        blocks: vec![
            super::Block::Text(
                "These analyses were skipped or failed; the reason for each:".into(),
            ),
            super::Block::Table {
                header: vec!["stage".into(), "reason".into()],
                rows,
            },
        ],
    })
}

/// The whole report from a results directory as `segmint run` writes it: `mart.parquet`
/// (required), `validate.json`, `rfm.parquet` with `profile/profile.json`,
/// `compare/rules.json`, `clusters/`, `clv/`, `churn/`, `value/`, `conversion/` and `hidden/`.
/// A section whose files are absent is left out; one whose files cannot be read is left out
/// and named, with the reason, in the returned notes.
pub fn build(dir: &Path) -> Result<(super::Report, Vec<String>)> {
    let mart = dir.join("mart.parquet");
    if !mart.exists() {
        return Err(Error::format(
            dir,
            "no mart.parquet: not a results directory of `segmint run`",
        ));
    }
    let meta = parquet_metadata(&mart)?;
    let monetary = numbers(&mart, &["monetary"])?.remove(0);
    let ref_date = meta.get("segmint.ref_date").cloned().unwrap_or_default();
    let revenue: f64 = monetary.iter().filter(|m| !m.is_nan()).sum();
    let mut notes = Vec::new();
    let path = dir.join("validate.json");
    let validation = match path.exists() {
        false => None,
        true => match crate::data::validate::Report::read_from(&path) {
            Ok(v) => Some(v),
            Err(e) => {
                notes.push(format!("validation findings: {e}"));
                None
            }
        },
    };
    let mut report = super::Report {
        title: "Customer analytics report".into(),
        subtitle: format!(
            "{} customers · reference date {ref_date} · segmint {}",
            monetary.len(),
            crate::VERSION
        ),
        sections: vec![super::sections::data(
            validation.as_ref(),
            monetary.len(),
            revenue,
            &ref_date,
        )],
    };
    let segments = || -> Result<Section> {
        let path = dir.join("profile").join("profile.json");
        let p: crate::segment::profile::Profile = crate::output::read_json(&path)?;
        let rules = parquet_metadata(&dir.join("rfm.parquet"))?
            .get("segmint.rules")
            .cloned()
            .unwrap_or_else(|| "?".into());
        Ok(super::sections::segments(&p, &rules, &monetary))
    };
    let compare = || -> Result<Section> {
        let path = dir.join("compare").join("rules.json");
        let mut c: crate::uplift::Comparison = crate::output::read_json(&path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        if dir.join("arms.json").is_file() && dir.join("policy.json").is_file() {
            c.arms = Some(crate::output::read_json(&dir.join("arms.json"))?);
            c.policy = Some(crate::output::read_json(&dir.join("policy.json"))?);
        }
        Ok(super::sections::compare(&c))
    };
    let sub = |d: &str| dir.join(d);
    for (name, key) in SECTION_FILES {
        if !dir.join(key).exists() {
            continue;
        }
        let sec = match name {
            "segments" => segments(),
            "clusters" => clusters(&sub("clusters"), &mart),
            "clv" => clv(&sub("clv")),
            "cohorts" => cohorts(&sub("cohorts")),
            "churn" => churn(&sub("churn")),
            "value" => value(&sub("value")),
            "conversion" => conversion(&sub("conversion")),
            "compare" => compare(),
            _ => hidden(&sub("hidden")),
        };
        match sec {
            Ok(sec) => report.sections.push(sec),
            Err(e) => notes.push(format!("report section {name}: {e}")),
        }
    }
    report
        .sections
        .sort_by_key(|s| ORDER.iter().position(|o| *o == s.id).unwrap_or(ORDER.len()));
    if let Some(sec) = not_run(dir) {
        report.sections.push(sec);
    }
    Ok((report, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points on a line in 3-D: the first component carries everything.
    #[test]
    fn pca_of_a_line() {
        let t: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let cols = vec![
            t.clone(),
            t.iter().map(|x| 2.0 * x).collect(),
            t.iter().map(|x| -x).collect(),
        ];
        let p = pca2(&cols);
        assert!(p.iter().all(|q| q.1.abs() < 1e-6), "{:?}", &p[..3]);
        assert!((p[99].0 - p[0].0).abs() > 1.0);
    }
}
