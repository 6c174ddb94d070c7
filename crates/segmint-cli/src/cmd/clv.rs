//! `segmint clv`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use segmint::clv::analysis::{analyze, analyze_summary, ClvParams, TransactionKind};
use segmint::clv::covariates::{fit_covariates, CovariateAnalysis, Design};
use segmint::clv::intervals::{IntervalMethod, IntervalParams};
use segmint::clv::model::ClvModel;
use segmint::clv::summary_table::{analyze_bgbb, BgBbParams, SummaryTable};
use segmint::clv::{fit_by_segment, PredictParams, PurchaseRule, SummaryParams, TimeUnit};
use segmint::data::timestamp::parse_date;
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
    /// Which rows are purchases: positive (amount > 0) or non-negative (amount >= 0: $0 rows
    /// such as free items count, so no customer vanishes)
    #[arg(long, value_name = "RULE", default_value = "positive")]
    pub purchases: String,
    /// Horizon of the expected purchases, in time units [default: 52; with bgbb: 5
    /// opportunities]
    #[arg(long)]
    pub horizon: Option<f64>,
    /// CLV horizon in months
    #[arg(long, default_value_t = 12)]
    pub clv_months: u32,
    /// Monthly discount rate of the CLV [default: 0.01; with bgbb: 0.1 per opportunity, for
    /// the DERT]
    #[arg(long)]
    pub discount_rate: Option<f64>,
    /// Models to fit: transaction models (bgnbd, mbgnbd, pareto-nbd; the first one listed
    /// makes the predictions, all are compared) and gamma-gamma (order value, needed for CLV);
    /// or bgbb alone (discrete purchase opportunities, with --summary)
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
    /// Add intervals at this coverage (0.9 = from the 5th to the 95th percentile) to P(alive),
    /// expected purchases, order value and CLV (columns *_lower, *_upper) and to the totals
    #[arg(long, value_name = "LEVEL")]
    pub interval: Option<f64>,
    /// How: delta (the delta method with the fits' covariance; fast), draws (quantiles over
    /// --draws parameter draws from the fits' asymptotic normal) or bootstrap (over --draws
    /// refits on resampled customers)
    #[arg(long, value_enum, default_value_t = IntervalArg::Delta, requires = "interval")]
    pub interval_method: IntervalArg,
    /// Parameter draws or bootstrap refits of --interval-method draws|bootstrap
    #[arg(long, default_value_t = 200, requires = "interval")]
    pub draws: u32,
    /// Seed of the draws and resamples
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Customer columns (any, by name; categories one-hot against their most common value) that
    /// scale each customer's purchase rate and dropout (the first transaction model) and order
    /// value (Gamma-Gamma) by exp(coefficient x value): coefficients with standard errors and a
    /// likelihood-ratio test against the models without them
    #[arg(long, value_name = "COLUMNS", value_delimiter = ',', conflicts_with_all = ["model", "summary"])]
    pub covariates: Vec<String>,
    /// L2 penalty on the parameters (0 = plain maximum likelihood)
    #[arg(long, default_value_t = 0.0)]
    pub penalizer: f64,
    /// Per-customer output (Parquet, or CSV for a .csv path)
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// Model parameters, fit diagnostics and summary statistics (JSON)
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    /// Save the predicting model (transaction model, Gamma-Gamma, time unit, horizon) as JSON
    #[arg(long, value_name = "FILE")]
    pub save_model: Option<PathBuf>,
    /// Score with a saved model instead of fitting (its time unit and prediction settings)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["save_model", "by", "holdout_end", "metrics"])]
    pub model: Option<PathBuf>,
    /// A per-customer summary instead of transactions (frequency, recency, T[,
    /// monetary_value], as lifetimes writes it; customer_id or ID when present): the models are
    /// fitted on it as it is. With --models bgbb, T (or n_periods, periods) counts discrete
    /// purchase opportunities and a weights (or count) column says how many customers share a
    /// row
    #[arg(long, value_name = "FILE", conflicts_with_all = ["model", "by", "holdout_end", "calibration_end", "save_model"])]
    pub summary: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
pub enum ModelArg {
    Bgnbd,
    Mbgnbd,
    ParetoNbd,
    GammaGamma,
    Bgbb,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum IntervalArg {
    Delta,
    Draws,
    Bootstrap,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum UnitArg {
    Day,
    Week,
    Month,
}

/// The analysis parameters of the flags.
pub fn params(a: &Args) -> Result<ClvParams> {
    let date = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
        v.as_deref()
            .map(|d| parse_date(d).with_context(|| format!("--{flag} {d:?}: expected YYYY-MM-DD")))
            .transpose()
    };
    let calibration_end = date("calibration-end", &a.calibration_end)?;
    let holdout_end = date("holdout-end", &a.holdout_end)?;
    if a.models.contains(&ModelArg::Bgbb) {
        return Err(segmint::Error::param(
            "models",
            "bgbb (discrete purchase opportunities) fits a per-customer summary: give it with --summary FILE, and bgbb alone",
        )
        .into());
    }
    if a.models.iter().all(|m| *m == ModelArg::GammaGamma)
        || !a.models.contains(&ModelArg::GammaGamma)
    {
        return Err(segmint::Error::param(
            "models",
            "needs a transaction model (bgnbd, mbgnbd, pareto-nbd) and gamma-gamma (for order value and CLV)",
        )
        .into());
    }
    Ok(ClvParams {
        summary: SummaryParams {
            calibration_end,
            holdout_end,
            time_unit: match a.time_unit {
                UnitArg::Day => TimeUnit::Day,
                UnitArg::Week => TimeUnit::Week,
                UnitArg::Month => TimeUnit::Month,
            },
            purchases: PurchaseRule::parse(&a.purchases)?,
        },
        models: a
            .models
            .iter()
            .filter_map(|m| match m {
                ModelArg::Bgnbd => Some(TransactionKind::Bgnbd),
                ModelArg::Mbgnbd => Some(TransactionKind::Mbgnbd),
                ModelArg::ParetoNbd => Some(TransactionKind::ParetoNbd),
                ModelArg::GammaGamma | ModelArg::Bgbb => None,
            })
            .collect(),
        penalizer: a.penalizer,
        predict: PredictParams {
            horizon: a.horizon.unwrap_or(52.0),
            clv_months: a.clv_months,
            discount_rate: a.discount_rate.unwrap_or(0.01),
        },
        interval: a.interval.map(|level| IntervalParams {
            level,
            method: match a.interval_method {
                IntervalArg::Delta => IntervalMethod::Delta,
                IntervalArg::Draws => IntervalMethod::Draws,
                IntervalArg::Bootstrap => IntervalMethod::Bootstrap,
            },
            draws: a.draws,
            seed: a.seed,
        }),
    })
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    if let Some(path) = &a.summary {
        return from_summary(g, a, path);
    }
    let params = params(a)?;
    let (inputs, map) = a.input.resolve()?;
    let tx = inputs.open(TableKind::Transactions, &map)?;
    let t0 = Instant::now();
    let bars = Bars::new(g);
    if let Some(path) = &a.model {
        return score(g, a, &ClvModel::load(path)?, &tx, &params, &bars);
    }
    let r = analyze(&tx, &params, &bars)?;
    if let Some(path) = &a.save_model {
        r.model(&params).save(path)?;
    }
    let (s, gg) = (&r.summary, &r.gamma_gamma);
    let by = match &a.by {
        Some(col) => {
            let bg = r
                .bgnbd()
                .context("--by compares BG/NBD fits: add bgnbd or mbgnbd to --models")?;
            let ids = s.customer_ids();
            let (names, labels) = segment_labels(&inputs, &map, col, a.segments.as_deref(), &ids)?;
            Some(bars.timed("fitting per segment", || {
                fit_by_segment(s, &labels, &names, bg, gg, a.penalizer)
            }))
        }
        None => None,
    };
    let covariates = if a.covariates.is_empty() {
        None
    } else {
        let customers = inputs
            .open_optional(TableKind::Customers, &map)?
            .context("--covariates are columns of the customers file, and there is none")?;
        let design = Design::load(&customers, &a.covariates, &s.customer_ids(), &bars)?;
        let fit = fit_covariates(s, &design, r.prediction_model(), &bars)?;
        if fit.customers_left_out > 0 {
            note(g, format!("note: {} of {} customers have no value of a covariate (or are not in {}): left out of the covariate fits", fit.customers_left_out, s.len(), customers.path.display()));
        }
        Some(fit)
    };
    bars.timed(&format!("writing {}", a.out.display()), || {
        r.write_table(&a.out, &params)
    })?;
    crate::ui::reading_notes(g, &[Some(&tx)]);
    let corr = gg.frequency_monetary_correlation;
    if corr.abs() > 0.3 {
        note(g, format!("warning: frequency and monetary value correlate ({corr:.2}) among repeat customers: Gamma-Gamma assumes they do not"));
    }
    report(g, a, &r, &params, (by, covariates), t0, "")
}

/// Writes the metrics, then prints the summary (or emits it as JSON) and the closing line.
fn report(
    g: &Global,
    a: &Args,
    r: &segmint::clv::analysis::ClvAnalysis,
    params: &ClvParams,
    (by, covariates): (Option<segmint::clv::BySegment>, Option<CovariateAnalysis>),
    t0: Instant,
    source: &str,
) -> Result<u8> {
    let mut summary = r.to_summary(params, by, t0.elapsed().as_secs_f64());
    summary.covariates = covariates;
    summary.output = Some(a.out.display().to_string());
    if let Some(m) = &a.metrics {
        summary.write_to(m)?;
    }
    if !g.emit_json(&serde_json::to_value(&summary)?) {
        print!("{}", summary.markdown(r));
        note(
            g,
            format!(
                "clv: {} customers{source} ({} repeat) in {:.2}s -> {}",
                r.summary.len(),
                r.gamma_gamma.customers,
                summary.seconds,
                a.out.display()
            ),
        );
    }
    Ok(0)
}

/// `segmint clv --model FILE`: the saved model's predictions for the customers of `tx`.
fn score(
    g: &Global,
    a: &Args,
    model: &ClvModel,
    tx: &segmint::data::TableReader,
    params: &ClvParams,
    bars: &Bars,
) -> Result<u8> {
    let (s, p) = model.score(tx, params.summary.calibration_end, bars)?;
    let meta = vec![
        ("segmint.task".to_string(), "clv".to_string()),
        ("segmint.model".to_string(), model.kind.key().to_string()),
    ];
    segmint::output::write_table(&s.to_record_batch(&p, None)?, &a.out, &meta)?;
    let total: f64 = p.clv.iter().sum();
    let v = serde_json::json!({
        "task": "clv", "model": model.kind.key(), "customers": s.len(),
        "calibration_end": segmint::data::timestamp::format_date(s.calibration_end),
        "clv_total": total, "output": a.out.display().to_string(),
    });
    if !g.emit_json(&v) {
        note(
            g,
            format!(
                "clv: {} customers scored with the saved {} model (fitted to {}), total CLV {total:.2} -> {}",
                s.len(),
                model.kind.key(),
                model.calibration_end,
                a.out.display()
            ),
        );
    }
    Ok(0)
}

/// `segmint clv --summary FILE`: the models fitted on a per-customer summary table.
fn from_summary(g: &Global, a: &Args, path: &std::path::Path) -> Result<u8> {
    let t0 = Instant::now();
    let table = SummaryTable::read(path)?;
    if a.models.contains(&ModelArg::Bgbb) {
        if a.models.len() > 1 {
            return Err(segmint::Error::param(
                "models",
                "bgbb is a discrete-time model of its own: give it alone (--models bgbb)",
            )
            .into());
        }
        return bgbb(g, a, &table, t0);
    }
    let mut params = params(a)?;
    params.summary.calibration_end = None;
    let bars = Bars::new(g);
    let summary = table.to_summary(params.summary.time_unit)?;
    let r = analyze_summary(summary, &params, &bars)?;
    bars.timed(&format!("writing {}", a.out.display()), || {
        r.write_table(&a.out, &params)
    })?;
    report(
        g,
        a,
        &r,
        &params,
        (None, None),
        t0,
        &format!(" of {}", path.display()),
    )
}

/// `segmint clv --summary FILE --models bgbb`.
fn bgbb(g: &Global, a: &Args, table: &SummaryTable, t0: Instant) -> Result<u8> {
    let params = BgBbParams {
        horizon: a.horizon.unwrap_or(BgBbParams::default().horizon),
        discount_rate: a
            .discount_rate
            .unwrap_or(BgBbParams::default().discount_rate),
        penalizer: a.penalizer,
    };
    let r = analyze_bgbb(table, &params)?;
    let meta = vec![("segmint.task".to_string(), "clv".to_string())];
    segmint::output::write_table(&r.to_record_batch(table)?, &a.out, &meta)?;
    let mut v = r.to_json(table);
    v["seconds"] = serde_json::json!((t0.elapsed().as_secs_f64() * 1e4).round() / 1e4);
    v["output"] = serde_json::json!(a.out.display().to_string());
    if let Some(m) = &a.metrics {
        segmint::files::write_json(m, &v)?;
    }
    if !g.emit_json(&v) {
        let m = &r.model;
        let (customers, purchases, dert, p_alive) = r.totals(table);
        println!("## BG/BB (Fader, Hardie & Shang 2010)\n");
        println!(
            "{customers} customers in {} patterns: alpha {:.4}, beta {:.4}, gamma {:.4}, delta {:.4}, log-likelihood {:.2}",
            m.patterns, m.alpha, m.beta, m.gamma, m.delta, m.log_likelihood
        );
        println!(
            "mean P(alive at the next opportunity) {p_alive:.3}; expected purchases in the next {} opportunities {purchases:.1}; DERT at {} per opportunity {dert:.1}",
            params.horizon, params.discount_rate
        );
        note(
            g,
            format!(
                "clv: BG/BB on {} rows in {:.2}s -> {}",
                table.len(),
                t0.elapsed().as_secs_f64(),
                a.out.display()
            ),
        );
    }
    Ok(0)
}
