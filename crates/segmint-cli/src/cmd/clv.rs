//! `segmint clv`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use segmint::clv::analysis::{analyze, ClvParams, TransactionKind};
use segmint::clv::{fit_by_segment, PredictParams, SummaryParams, TimeUnit};
use segmint::data::timestamp::{format_date, parse_date};
use segmint::data::TableKind;

use crate::ui::{note, segment_labels, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = include_str!("../help/clv.txt"))]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Last day of the calibration period, included (default: day of the last transaction)
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub calibration_end: Option<String>,
    /// Last day of a holdout period: fit on the calibration period, score this one (MAE, RMSE,
    /// totals, correlation, and actual vs predicted by calibration frequency)
    #[arg(long, value_name = "YYYY-MM-DD", requires = "calibration_end")]
    pub holdout_end: Option<String>,
    /// Time unit of recency, T, the rates and --horizon
    #[arg(long, value_enum, default_value_t = UnitArg::Week)]
    pub time_unit: UnitArg,
    /// Horizon of the expected purchases, in time units
    #[arg(long, default_value_t = 52.0)]
    pub horizon: f64,
    /// CLV horizon in months
    #[arg(long, default_value_t = 12)]
    pub clv_months: u32,
    /// Monthly discount rate of the CLV
    #[arg(long, default_value_t = 0.01)]
    pub discount_rate: f64,
    /// Models to fit: transaction models (bgnbd, mbgnbd; the first one listed makes the
    /// predictions, all are compared) and gamma-gamma (order value, needed for CLV)
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "bgnbd,gamma-gamma"
    )]
    pub models: Vec<ModelArg>,
    /// Also fit BG/NBD and Gamma-Gamma per segment of this column (a customer attribute, or a
    /// column of --segments) and compare with the pooled fit
    #[arg(long, value_name = "COLUMN")]
    pub by: Option<String>,
    /// Segments file (Parquet or CSV with customer_id) holding the --by column, e.g. rfm.parquet
    #[arg(long, value_name = "FILE", requires = "by")]
    pub segments: Option<PathBuf>,
    /// L2 penalty on the parameters (0 = plain maximum likelihood)
    #[arg(long, default_value_t = 0.0)]
    pub penalizer: f64,
    /// Per-customer output (Parquet, or CSV for a .csv path)
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// Model parameters, fit diagnostics and summary statistics (JSON)
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
pub enum ModelArg {
    Bgnbd,
    Mbgnbd,
    ParetoNbd,
    GammaGamma,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum UnitArg {
    Day,
    Week,
    Month,
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let date = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
        v.as_deref()
            .map(|d| parse_date(d).with_context(|| format!("--{flag} {d:?}: expected YYYY-MM-DD")))
            .transpose()
    };
    let calibration_end = date("calibration-end", &a.calibration_end)?;
    let holdout_end = date("holdout-end", &a.holdout_end)?;
    if !(a.horizon >= 0.0 && a.horizon.is_finite()) {
        anyhow::bail!("--horizon must be >= 0, got {}", a.horizon);
    }
    if !(a.discount_rate > -1.0 && a.discount_rate.is_finite()) {
        anyhow::bail!("--discount-rate must be > -1, got {}", a.discount_rate);
    }
    if !a.models.contains(&ModelArg::GammaGamma)
        || a.models.iter().all(|m| *m == ModelArg::GammaGamma)
    {
        anyhow::bail!(
            "--models needs a transaction model (bgnbd, mbgnbd, pareto-nbd) and gamma-gamma (for order value and CLV)"
        );
    }
    let params = ClvParams {
        summary: SummaryParams {
            calibration_end,
            holdout_end,
            time_unit: match a.time_unit {
                UnitArg::Day => TimeUnit::Day,
                UnitArg::Week => TimeUnit::Week,
                UnitArg::Month => TimeUnit::Month,
            },
        },
        models: a
            .models
            .iter()
            .filter_map(|m| match m {
                ModelArg::Bgnbd => Some(TransactionKind::Bgnbd),
                ModelArg::Mbgnbd => Some(TransactionKind::Mbgnbd),
                ModelArg::ParetoNbd => Some(TransactionKind::ParetoNbd),
                ModelArg::GammaGamma => None,
            })
            .collect(),
        penalizer: a.penalizer,
        predict: PredictParams {
            horizon: a.horizon,
            clv_months: a.clv_months,
            discount_rate: a.discount_rate,
        },
    };
    let (inputs, map) = a.input.resolve()?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let t0 = Instant::now();
    let bars = Bars::new(g);
    let r = analyze(&tx, &params, &bars)?;
    let (s, gg, pred) = (&r.summary, &r.gamma_gamma, &r.predictions);
    let (pp, t_summary) = (&params.predict, r.summary_seconds);
    let card = r.scorecards[0].clone();
    let by = match &a.by {
        Some(col) => {
            let bg = r
                .bgnbd()
                .context("--by compares BG/NBD fits: add bgnbd or mbgnbd to --models")?;
            let ids: Vec<String> = s
                .customer_id
                .iter()
                .map(|v| v.unwrap_or_default().to_string())
                .collect();
            let (names, labels) = segment_labels(&inputs, &map, col, a.segments.as_deref(), &ids)?;
            Some(bars.timed("fitting per segment", || {
                fit_by_segment(s, &labels, &names, bg, gg, a.penalizer)
            }))
        }
        None => None,
    };
    let secs = t0.elapsed().as_secs_f64();
    let meta = vec![
        ("segmint.task".to_string(), "clv".to_string()),
        (
            "segmint.calibration_end".to_string(),
            format_date(s.calibration_end),
        ),
        (
            "segmint.params".to_string(),
            serde_json::to_string(&(&params.summary, pp))?,
        ),
    ];
    bars.timed(&format!("writing {}", a.out.display()), || -> Result<()> {
        segmint::output::write_table(&s.to_record_batch(pred, card.as_ref())?, &a.out, &meta)?;
        Ok(())
    })?;
    let corr = gg.frequency_monetary_correlation;
    if corr.abs() > 0.3 {
        note(g, format!("warning: frequency and monetary value correlate ({corr:.2}) among repeat customers: Gamma-Gamma assumes they do not"));
    }
    let purchase_distribution: Option<Vec<serde_json::Value>> =
        r.purchase_distribution(a.horizon, 10).map(|d| {
            d.iter()
                .map(|(k, p)| serde_json::json!({"purchases": k, "probability": p}))
                .collect()
        });
    let mut json = serde_json::json!({
        "task": "clv", "engine": "segmint", "customers": s.len(), "rows": null,
        "calibration_end": format_date(s.calibration_end), "time_unit": params.summary.time_unit,
        "repeat_customers": gg.customers,
        "prediction_model": r.prediction_model().key(),
        "models": r.comparison(),
        "gamma_gamma": {"p": gg.p, "q": gg.q, "v": gg.v, "log_likelihood": gg.log_likelihood,
                        "frequency_monetary_correlation": corr,
                        "estimates": gg.estimates, "diagnostics": gg.diagnostics},
        "predictions": {"horizon": a.horizon, "clv_months": a.clv_months, "discount_rate": a.discount_rate,
                        "p_alive_mean": pred.p_alive.iter().sum::<f64>() / s.len() as f64,
                        "expected_purchases_total": pred.expected_purchases.iter().sum::<f64>(),
                        "clv_total": pred.clv.iter().sum::<f64>()},
        "holdout": card,
        "by_segment": by,
        "purchase_distribution": purchase_distribution,
        "seconds": (secs * 10_000.0).round() / 10_000.0, "summary_s": (t_summary * 10_000.0).round() / 10_000.0,
        "threads": rayon::current_num_threads(), "output": a.out.display().to_string(),
    });
    for (kind, m) in &r.fits {
        json[kind.key()] = m.to_json();
    }
    if let Some(m) = &a.metrics {
        segmint::output::write_text(m, &serde_json::to_string_pretty(&json)?)?;
    }
    if !g.emit_json(&json) {
        println!("| model | parameters | log-likelihood |\n| --- | --- | ---: |");
        for (kind, m) in &r.fits {
            println!(
                "| {} | {} | {:.2} |",
                kind.key(),
                m.describe(),
                m.log_likelihood()
            );
        }
        println!(
            "| Gamma-Gamma | p {:.4}, q {:.4}, v {:.4} | {:.2} |",
            gg.p, gg.q, gg.v, gg.log_likelihood
        );
        if let Some(b) = &by {
            println!("\n## Per segment ({})\n\n| segment | customers | r | alpha | a | b | p | q | v |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", a.by.as_deref().unwrap_or(""));
            for f in &b.segments {
                let bgs = f.bgnbd.as_ref().map_or("– | – | – | –".to_string(), |m| {
                    format!("{:.4} | {:.4} | {:.4} | {:.4}", m.r, m.alpha, m.a, m.b)
                });
                let ggs = f.gamma_gamma.as_ref().map_or("– | – | –".to_string(), |m| {
                    format!("{:.4} | {:.4} | {:.4}", m.p, m.q, m.v)
                });
                println!("| {} | {} | {bgs} | {ggs} |", f.segment, f.customers);
            }
            for (name, c) in [("BG/NBD", &b.bgnbd), ("Gamma-Gamma", &b.gamma_gamma)] {
                if let Some(c) = c {
                    println!(
                        "\n{name}: pooled log-likelihood {:.2}, per segment {:.2}; LR {:.1} (df {}, p {:.3e}); AIC pooled {:.1} vs per segment {:.1}: {} is better",
                        c.pooled_log_likelihood, c.segments_log_likelihood, c.lr_statistic, c.df, c.p_value, c.aic_pooled, c.aic_segments, c.better
                    );
                }
            }
        }
        if let Some(c) = &card {
            println!(
                "\n## Holdout to {} ({:.1} {}s): predicted vs actual\n\n| | MAE | RMSE | total predicted | total actual | correlation |\n| --- | ---: | ---: | ---: | ---: | ---: |",
                c.holdout_end,
                c.duration,
                params.summary.time_unit.name()
            );
            for (name, m) in [("purchases", &c.purchases), ("spend", &c.spend)] {
                println!(
                    "| {name} | {:.3} | {:.3} | {:.1} | {:.1} | {:.3} |",
                    m.mae, m.rmse, m.total_predicted, m.total_actual, m.correlation
                );
            }
            println!("\n| calibration frequency | customers | actual purchases | predicted | actual spend | predicted |\n| --- | ---: | ---: | ---: | ---: | ---: |");
            for r in &c.by_calibration_frequency {
                println!(
                    "| {} | {} | {:.3} | {:.3} | {:.2} | {:.2} |",
                    r.calibration_frequency,
                    r.customers,
                    r.actual_purchases,
                    r.predicted_purchases,
                    r.actual_spend,
                    r.predicted_spend
                );
            }
        }
        note(
            g,
            format!(
                "clv: {} customers ({} repeat) in {secs:.2}s -> {}",
                s.len(),
                gg.customers,
                a.out.display()
            ),
        );
    }
    Ok(0)
}
