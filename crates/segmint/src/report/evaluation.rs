//! The figures of a prediction model's report section beyond the headline: ROC and
//! precision-recall curves, the reliability diagram (before and after calibration), lift per
//! segment, predicted against actual value by decile, and from `explain.json` the SHAP summary,
//! dependence plots and partial dependence of the top features.

use std::path::Path;

use super::svg::{self, Chart, Format, Series, SwarmRow};
use super::Block;
use crate::error::Result;
use crate::predict::analysis::{PredictMetrics, SegmentMetrics};
use crate::predict::calibrate::CalibrationSummary;
use crate::predict::explain::{Explanation, FeatureEffect};
use crate::predict::metrics::{CalibrationBin, Classification, Regression};
use crate::predict::Metrics;

fn line(name: &str, points: Vec<(f64, f64)>, dashed: bool) -> Series {
    Series {
        name: name.into(),
        points,
        dashed,
    }
}

/// ROC and precision-recall curves of the test split, each against its random baseline.
pub fn curves(task: &str, c: &Classification) -> Vec<Block> {
    if c.curves.roc.is_empty() {
        return Vec::new();
    }
    let rate = c.positives as f64 / c.n.max(1) as f64;
    vec![
        Block::Figure {
            name: format!("{task}_roc"),
            svg: svg::line_chart(
                &Chart::new("ROC curve (held-out rows)", "false positive rate", "true positive rate"),
                &[
                    line(&format!("model (AUC {:.3})", c.roc_auc.unwrap_or(f64::NAN)), c.curves.roc.clone(), false),
                    line("random", vec![(0.0, 0.0), (1.0, 1.0)], true),
                ],
                Format::Percent,
                Format::Percent,
            ),
            caption: "Share of the positives found (y) against the share of the negatives flagged with them (x) as the probability threshold falls.".into(),
        },
        Block::Figure {
            name: format!("{task}_precision_recall"),
            svg: svg::line_chart(
                &Chart::new("Precision-recall curve (held-out rows)", "recall", "precision"),
                &[
                    line(&format!("model (average precision {:.3})", c.pr_auc.unwrap_or(f64::NAN)), c.curves.pr.clone(), false),
                    line("random", vec![(0.0, rate), (1.0, rate)], true),
                ],
                Format::Percent,
                Format::Percent,
            ),
            caption: format!(
                "Of the rows flagged, the share positive (precision) as more of the positives are found (recall); random flagging gives the base rate {}.",
                svg::format_value(rate, Format::Percent)
            ),
        },
    ]
}

fn reliability_points(bins: &[CalibrationBin]) -> Vec<(f64, f64)> {
    bins.iter()
        .map(|b| (b.mean_predicted, b.observed_rate))
        .collect()
}

/// The reliability diagram: observed rate against mean predicted probability in ten bins, with
/// the uncalibrated model's when `--calibrate` was used.
pub fn reliability(
    task: &str,
    c: &Classification,
    calibration: Option<&CalibrationSummary>,
) -> Vec<Block> {
    if c.calibration.is_empty() {
        return Vec::new();
    }
    let mut series = Vec::new();
    let text = match calibration {
        Some(k) => {
            series.push(line(
                &format!("before calibration (ECE {:.3})", k.before.ece),
                reliability_points(&k.before.bins),
                false,
            ));
            series.push(line(
                &format!("{} calibration (ECE {:.3})", k.method.label(), k.after.ece),
                reliability_points(&c.calibration),
                false,
            ));
            format!(
                "Calibrated with {} regression fitted on out-of-fold predictions of {} training rows ({} folds): on held-out rows the expected calibration error went from {:.4} to {:.4} and the Brier score from {:.4} to {:.4}.",
                if k.method.label() == "isotonic" { "isotonic" } else { "Platt's sigmoid" },
                k.rows,
                k.folds,
                k.before.ece,
                k.after.ece,
                k.before.brier,
                k.after.brier
            )
        }
        None => {
            series.push(line(
                &format!("model (ECE {:.3})", c.ece.unwrap_or(f64::NAN)),
                reliability_points(&c.calibration),
                false,
            ));
            format!(
                "Expected calibration error {:.4}, Brier score {:.4} on held-out rows (--calibrate isotonic|sigmoid maps the probabilities to observed rates).",
                c.ece.unwrap_or(f64::NAN),
                c.brier.unwrap_or(f64::NAN)
            )
        }
    };
    series.push(line(
        "perfectly calibrated",
        vec![(0.0, 0.0), (1.0, 1.0)],
        true,
    ));
    let counts: Vec<String> = c
        .calibration
        .iter()
        .map(|b| format!("{:.1}-{:.1}: {}", b.lower, b.upper, b.count))
        .collect();
    vec![
        Block::Text(text),
        Block::Figure {
            name: format!("{task}_reliability"),
            svg: svg::line_chart(
                &Chart::new("Reliability: predicted vs observed", "mean predicted probability", "observed rate"),
                &series,
                Format::Percent,
                Format::Percent,
            ),
            caption: format!(
                "Held-out rows in ten bins of the predicted probability; on the diagonal a probability of 0.7 means 70%. Rows per bin: {}.",
                counts.join(", ")
            ),
        },
    ]
}

/// Lift and KS per segment (`--by`): where the ranking works and where it does not.
pub fn segment_lift(segments: &[SegmentMetrics]) -> Vec<Block> {
    let rows: Vec<Vec<String>> = segments
        .iter()
        .filter_map(|s| match &s.model {
            Metrics::Classification(c) => {
                let first = c.deciles.first()?;
                Some(vec![
                    s.segment.clone(),
                    c.n.to_string(),
                    svg::format_value(c.positives as f64 / c.n.max(1) as f64, Format::Percent),
                    format!("{:.3}", c.roc_auc.unwrap_or(f64::NAN)),
                    svg::format_value(first.mean_actual, Format::Percent),
                    format!("{:.2}", first.lift),
                    format!("{:.3}", c.ks.unwrap_or(f64::NAN)),
                ])
            }
            Metrics::Regression(_) => None,
        })
        .collect();
    if rows.is_empty() {
        return Vec::new();
    }
    vec![
        Block::Text("Per segment, on its held-out rows (deciles within the segment; all deciles in metrics.json by_segment):".into()),
        Block::Table {
            header: ["segment", "rows", "rate", "ROC-AUC", "top-decile rate", "top-decile lift", "KS"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rows,
        },
    ]
}

/// Mean predicted against mean actual value per decile of the prediction.
pub fn value_deciles(r: &Regression) -> Vec<Block> {
    if r.deciles.is_empty() {
        return Vec::new();
    }
    let at = |f: fn(&crate::predict::metrics::Decile) -> f64| -> Vec<(f64, f64)> {
        r.deciles.iter().map(|d| (d.decile as f64, f(d))).collect()
    };
    vec![Block::Figure {
        name: "value_deciles".into(),
        svg: svg::line_chart(
            &Chart::new("Predicted vs actual value by decile", "decile of the prediction (1 = highest)", "mean value"),
            &[
                line("predicted", at(|d| d.mean_predicted), false),
                line("actual", at(|d| d.mean_actual), false),
            ],
            Format::Number,
            Format::Money,
        ),
        caption: format!(
            "Held-out customers in ten groups by predicted value: where the lines part, the model over- or under-predicts. Total predicted {}, actual {}.",
            svg::format_value(r.total_predicted, Format::Money),
            svg::format_value(r.total_actual, Format::Money)
        ),
    }]
}

/// The rank of each value among the finite ones, in 0..1 (`NaN` stays missing).
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let n = sorted.len().max(2) as f64 - 1.0;
    values
        .iter()
        .map(|v| {
            if v.is_finite() {
                sorted.partition_point(|s| s < v) as f64 / n
            } else {
                f64::NAN
            }
        })
        .collect()
}

fn beeswarm(task: &str, e: &Explanation) -> Block {
    let rows: Vec<SwarmRow> = e
        .features
        .iter()
        .map(|f| SwarmRow {
            name: f.feature.clone(),
            points: f
                .contributions
                .iter()
                .copied()
                .zip(ranks(&f.values))
                .collect(),
        })
        .collect();
    let mut chart = Chart::new(
        "What moves each prediction (SHAP)",
        &format!("contribution to the prediction ({})", e.scale),
        "",
    );
    chart.height = 90.0 + 34.0 * rows.len() as f64;
    Block::Figure {
        name: format!("{task}_shap_summary"),
        svg: svg::beeswarm(&chart, &rows),
        caption: format!(
            "Each dot is one of {} held-out rows: how much the feature moved its prediction away from the average ({:.3}), coloured by the feature's value (red high, blue low, grey missing). Features by mean absolute contribution.",
            e.rows, e.expected_value
        ),
    }
}

fn dependence(task: &str, e: &Explanation, f: &FeatureEffect) -> Block {
    let points: Vec<(f64, f64, usize)> = f
        .values
        .iter()
        .zip(&f.contributions)
        .map(|(&v, &c)| (v, c, 0))
        .collect();
    let missing = f.values.iter().filter(|v| !v.is_finite()).count();
    Block::Figure {
        name: format!("{task}_dependence_{}", f.feature),
        svg: svg::scatter(
            &Chart::new(
                &format!("How {} moves the prediction", f.feature),
                &f.feature,
                &format!("contribution ({})", e.scale),
            ),
            &points,
            std::slice::from_ref(&f.feature),
        ),
        caption: format!(
            "SHAP dependence: each held-out row's value of {} against its contribution; the spread at one value comes from the features it interacts with.{}",
            f.feature,
            if missing > 0 {
                format!(" {missing} rows with the value missing are not drawn.")
            } else {
                String::new()
            }
        ),
    }
}

fn partial_dependence(task: &str, f: &FeatureEffect, what: &str) -> Option<Block> {
    let d = f.dependence.as_ref()?;
    if d.grid.len() < 2 {
        return None;
    }
    let at =
        |v: &[f64]| -> Vec<(f64, f64)> { d.grid.iter().copied().zip(v.iter().copied()).collect() };
    Some(Block::Figure {
        name: format!("{task}_pdp_{}", f.feature),
        svg: svg::line_chart(
            &Chart::new(&format!("Partial dependence on {}", f.feature), &f.feature, what),
            &[
                line("mean (partial dependence)", at(&d.mean), false),
                line("ICE 10th percentile", at(&d.ice_p10), true),
                line("ICE median", at(&d.ice_p50), true),
                line("ICE 90th percentile", at(&d.ice_p90), true),
            ],
            Format::Number,
            if what.contains("probability") { Format::Percent } else { Format::Money },
        ),
        caption: format!(
            "The {what} as {} alone is set to each value for {} held-out rows (their individual curves summarised by percentiles): mean and spread of the effect.",
            f.feature, d.rows
        ),
    })
}

/// The SHAP summary, dependence plots of the top three features and partial dependence of the
/// features that have it, from `explain.json` (none when the file is absent: older results).
pub fn explanation(dir: &Path, task: &str, what: &str) -> Result<Vec<Block>> {
    let path = dir.join("explain.json");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let e: Explanation = crate::output::read_json(&path)?;
    if e.features.is_empty() {
        return Ok(Vec::new());
    }
    let mut blocks = vec![beeswarm(task, &e)];
    blocks.extend(e.features.iter().take(3).map(|f| dependence(task, &e, f)));
    blocks.extend(
        e.features
            .iter()
            .filter_map(|f| partial_dependence(task, f, what)),
    );
    Ok(blocks)
}

/// Every evaluation figure of a classification task's metrics.
pub fn classification(task: &str, m: &PredictMetrics) -> Vec<Block> {
    let Metrics::Classification(c) = &m.test else {
        return Vec::new();
    };
    let mut blocks = curves(task, c);
    blocks.extend(reliability(task, c, m.calibration.as_ref()));
    if let Some(s) = &m.by_segment {
        blocks.extend(segment_lift(s));
    }
    blocks
}
