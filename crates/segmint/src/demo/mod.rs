//! `segmint demo`: synthetic customers, transactions and clickstream with planted, known
//! structure, in the schemas of `../shared/bench/SCHEMA.md` and with the generating process of
//! `gen_data.py` (hidden tiers, BG/NBD purchases with returns, Gamma-Gamma spend, planted A/B
//! uplift segments, funnel sessions, ground truth).
//!
//! Blocks of 10,000 customers are generated in parallel, and written in chunks of
//! [`CHUNK_BLOCKS`] blocks (one Parquet row group per chunk and table), so memory does not grow
//! with the number of customers. The same seed and parameters give byte-identical files.

pub(crate) mod model;
mod write;

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::data::timestamp::{days_from_civil, format_date, parse_date, US_PER_DAY};
use crate::error::{Error, Result};
use crate::progress::Progress;
use model::{Catalog, Funnel, BLOCK};

/// Blocks of 10,000 customers per written chunk (and Parquet row group).
pub const CHUNK_BLOCKS: u64 = 2;

/// Output format of the demo data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DemoFormat {
    /// Apache Parquet files.
    Parquet,
    /// CSV files.
    Csv,
    /// Both Parquet and CSV.
    Both,
}

/// Parameters of the generator; defaults are those of `gen_data.py`.
#[derive(Debug, Clone, Serialize)]
pub struct DemoParams {
    /// Customers to generate.
    pub customers: u64,
    /// Seed of every random draw.
    pub seed: u64,
    /// Last day of the window, `YYYY-MM-DD`.
    pub end_date: String,
    /// Years of history before `end_date`.
    pub years: i64,
    /// BG/NBD purchase-rate shape r (gamma heterogeneity of the purchase rates).
    pub r: f64,
    /// BG/NBD purchase-rate scale alpha.
    pub alpha: f64,
    /// BG/NBD dropout shape a (beta heterogeneity of the dropout probability).
    pub a: f64,
    /// BG/NBD dropout shape b.
    pub b: f64,
    /// Gamma-Gamma shape p of the order values.
    pub gg_p: f64,
    /// Gamma-Gamma shape q of the customers' mean order values.
    pub gg_q: f64,
    /// Gamma-Gamma scale gamma of the customers' mean order values.
    pub gg_gamma: f64,
    /// Share of orders that are returned (a negative row later).
    pub return_rate: f64,
    /// Sessions without a purchase per purchase session.
    pub browse_ratio: f64,
    /// Planted effect of group A in its segment (the A/B experiment).
    pub effect_a: f64,
    /// Planted effect of group B in its segment.
    pub effect_b: f64,
    /// Groups of the experiment in `seller_group`: 2 (`A`, `B`, the default) or 3 (`control`,
    /// `A`, `B`: arm A works where income > 150000, arm B where age < 40 among the others, and
    /// an arm lowers the rate by `arm_fatigue` outside its segment; for the multi-arm
    /// comparison and policy).
    pub arms: u8,
    /// With three arms: what an arm costs in success rate outside its segment (0.05), so that
    /// every customer has one best arm; 0 with zero effects: an experiment where nothing works.
    pub arm_fatigue: f64,
    /// Planted effects of premium membership on the CLV processes (none by default), for
    /// checking the covariate models (`segmint clv --covariates premium`).
    pub premium_effects: PremiumEffects,
    /// `false`: every customer is in the Standard tier (no hidden segments; the draws are the
    /// same, only the tier is overridden).
    pub tiers: bool,
    /// Output format.
    pub format: DemoFormat,
}

impl Default for DemoParams {
    fn default() -> Self {
        DemoParams {
            customers: 20_000,
            seed: 42,
            end_date: "2025-12-31".into(),
            years: 2,
            r: 0.25,
            alpha: 4.0,
            a: 0.8,
            b: 2.5,
            gg_p: 6.0,
            gg_q: 4.0,
            gg_gamma: 15.0,
            return_rate: 0.02,
            browse_ratio: 4.0,
            effect_a: 0.20,
            effect_b: 0.15,
            arms: 2,
            arm_fatigue: 0.05,
            tiers: true,
            premium_effects: PremiumEffects::default(),
            format: DemoFormat::Parquet,
        }
    }
}

/// Effects of premium membership (a 0/1 covariate) on the CLV processes, as the covariate
/// models parametrise them ([`crate::clv::covariates`]): a premium customer's purchase rate is
/// multiplied by e^purchase (α_i = α e^-purchase), the b of its dropout probability by
/// e^-dropout (so that probability is about e^dropout times as large when small), and its order
/// values by e^spend (v_i = v e^spend). All 0: the draws are those without effects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PremiumEffects {
    /// Log of the purchase-rate multiplier.
    pub purchase: f64,
    /// Log of the dropout multiplier (on b, negated).
    pub dropout: f64,
    /// Log of the order-value multiplier.
    pub spend: f64,
}

/// The observation window.
#[derive(Debug, Clone)]
pub struct Window {
    /// First day of the window (days since 1970-01-01).
    pub start_day: i64,
    /// Last day of the window, included.
    pub end_day_inclusive: i64,
    /// Start of the window (microseconds since the epoch, UTC).
    pub start_us: i64,
    /// End of the window, excluded (microseconds since the epoch, UTC).
    pub end_us: i64,
    /// Days in the window.
    pub days: i32,
}

impl DemoParams {
    /// Checks the parameters and computes the window.
    pub fn check(&self) -> Result<Window> {
        let bad = |param: &str, m: String| Err(Error::param(param, m));
        if self.customers == 0 {
            return bad("customers", "must be at least 1".into());
        }
        if self.customers > 1_000_000_000 {
            return bad(
                "customers",
                format!("{} is too large (limit 10^9)", self.customers),
            );
        }
        for (name, v) in [
            ("r", self.r),
            ("alpha", self.alpha),
            ("a", self.a),
            ("b", self.b),
            ("gg_p", self.gg_p),
            ("gg_q", self.gg_q),
            ("gg_gamma", self.gg_gamma),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return bad(name, format!("must be a positive number, got {v}"));
            }
        }
        if !(0.0..0.5).contains(&self.return_rate) {
            return bad(
                "return_rate",
                format!("must be in [0, 0.5), got {}", self.return_rate),
            );
        }
        if !(self.browse_ratio >= 0.0 && self.browse_ratio <= 1000.0) {
            return bad(
                "browse_ratio",
                format!("must be in [0, 1000], got {}", self.browse_ratio),
            );
        }
        if !(0.0..=0.18).contains(&self.arm_fatigue) {
            return bad(
                "arm_fatigue",
                format!("must be in [0, 0.18], got {}", self.arm_fatigue),
            );
        }
        if !(2..=3).contains(&self.arms) {
            return bad("arms", format!("must be 2 or 3, got {}", self.arms));
        }
        for (name, v) in [("effect_a", self.effect_a), ("effect_b", self.effect_b)] {
            if !(-0.18..=0.78).contains(&v) {
                return bad(
                    name,
                    format!("must keep probabilities in [0, 1] (range -0.18..0.78), got {v}"),
                );
            }
        }
        let e = self.premium_effects;
        for (name, v) in [
            ("premium_effects.purchase", e.purchase),
            ("premium_effects.dropout", e.dropout),
            ("premium_effects.spend", e.spend),
        ] {
            if !(-3.0..=3.0).contains(&v) {
                return bad(
                    name,
                    format!("must be in [-3, 3] (a log multiplier), got {v}"),
                );
            }
        }
        if !(1..=50).contains(&self.years) {
            return bad("years", format!("must be 1..50, got {}", self.years));
        }
        let end = parse_date(&self.end_date).ok_or_else(|| {
            Error::param(
                "end_date",
                format!("{:?} is not a date YYYY-MM-DD", self.end_date),
            )
        })?;
        let (y, m, d) = crate::data::timestamp::civil_from_days(end);
        // start = the same calendar day `years` earlier, + 1 day (Feb 29 -> Feb 28)
        let start_prev = if m == 2 && d == 29 {
            days_from_civil(y - self.years, 2, 28)
        } else {
            days_from_civil(y - self.years, m, d)
        };
        let start = start_prev + 1;
        let end_excl = end + 1;
        Ok(Window {
            start_day: start,
            end_day_inclusive: end,
            start_us: start * US_PER_DAY,
            end_us: end_excl * US_PER_DAY,
            days: (end_excl - start) as i32,
        })
    }
}

/// Rows written per table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RowCounts {
    /// Rows of `customers`.
    pub customers: u64,
    /// Rows of `transactions`.
    pub transactions: u64,
    /// Rows of `events`.
    pub events: u64,
    /// Rows of `ground_truth` (the planted answers).
    pub ground_truth: u64,
    /// Rows of `products`.
    pub products: u64,
}

/// What was generated.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    /// The output directory.
    pub out: PathBuf,
    /// Rows written per table.
    pub rows: RowCounts,
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// Generates a data set into `out` (created if needed). Files are written under temporary
/// names and renamed when complete.
pub fn generate(params: &DemoParams, out: &Path, progress: &dyn Progress) -> Result<DemoSummary> {
    let window = params.check()?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let funnel = Funnel::new();
    let catalog = Catalog::new(params.seed);
    let n_blocks = params.customers.div_ceil(BLOCK);
    let id_width = 7.max(params.customers.to_string().len());
    let mut sink = write::Sink::create(out, params.format, id_width)?;
    progress.begin("generating customers", params.customers);
    let chunks: Vec<(u64, u64)> = (0..n_blocks)
        .step_by(CHUNK_BLOCKS as usize)
        .map(|s| (s, (s + CHUNK_BLOCKS).min(n_blocks)))
        .collect();
    let gen_chunk = |(s, e): (u64, u64)| -> Vec<model::Block> {
        (s..e)
            .into_par_iter()
            .map(|b| model::gen_block(b, params, &window, &funnel, &catalog))
            .collect()
    };
    // Generate chunk i+1 while chunk i is written.
    let mut pending = chunks.first().map(|&c| gen_chunk(c));
    for i in 0..chunks.len() {
        let current = pending.take().expect("generated");
        let next = chunks.get(i + 1).copied();
        let (written, generated) = rayon::join(
            || -> Result<u64> {
                let n: u64 = current.iter().map(|b| b.c_num.len() as u64).sum();
                sink.write_chunk(&current)?;
                Ok(n)
            },
            || next.map(gen_chunk),
        );
        progress.advance(written?);
        pending = generated;
    }
    progress.finish();
    let rows = sink.finish(&catalog)?;
    let meta = meta_json(params, &window, &rows, &funnel);
    let meta_path = out.join("meta.json");
    crate::output::write_text(
        &meta_path,
        &(serde_json::to_string_pretty(&meta).expect("json") + "\n"),
    )?;
    let mut files = sink.files();
    files.push(meta_path);
    Ok(DemoSummary {
        out: out.to_path_buf(),
        rows,
        files,
    })
}

fn meta_json(p: &DemoParams, w: &Window, rows: &RowCounts, funnel: &Funnel) -> serde_json::Value {
    let mut conv = serde_json::Map::new();
    for c in 0..15 {
        conv.insert(
            format!("{}/{}", model::DEVICES[c / 5], model::SOURCES[c % 5]),
            serde_json::json!((funnel.p_conv[c] * 1e6).round() / 1e6),
        );
    }
    serde_json::json!({
        "generator": format!("segmint {}", crate::VERSION),
        "generating_process": "gen_data.py 1.0 (SCHEMA.md); random streams: xoshiro256++ per 10,000-customer block",
        "seed": p.seed,
        "customers": p.customers,
        "format": p.format,
        "end_date": format_date(w.end_day_inclusive),
        "window_start": format_date(w.start_day),
        "window_end_exclusive": format!("{}T00:00:00Z", format_date(w.end_day_inclusive + 1)),
        "rows": rows,
        "bg_nbd": {"r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b, "time_unit": "week"},
        "tiers": p.tiers,
        "premium_effects": p.premium_effects,
        "gamma_gamma": {"p": p.gg_p, "q": p.gg_q, "gamma": p.gg_gamma,
                        "tier_multiplier": {"Standard": 1.0, "Premium": 3.0, "Enterprise": 10.0}},
        "return_rate_target": p.return_rate,
        "browse_ratio": p.browse_ratio,
        "uplift": if p.arms == 3 {
            serde_json::json!({
                "baseline": "0.18 + 0.04 * (credit_score >= 700)",
                "arms": ["control", "A", "B"],
                "segment_a": {"rule": "income > 150000", "better_group": "A", "effect": p.effect_a},
                "segment_b": {"rule": "age < 40 and income <= 150000", "better_group": "B", "effect": p.effect_b},
                "outside_segment_effect": -p.arm_fatigue,
                "best_arm": "A where segment_a, else B where segment_b, else control (an arm outside its segment lowers the rate by arm_fatigue)",
            })
        } else {
            serde_json::json!({
                "baseline": "0.18 + 0.04 * (credit_score >= 700)",
                "segment_a": {"rule": "income > 150000 and premium == False", "better_group": "A", "effect": p.effect_a},
                "segment_b": {"rule": "age < 30 and region == 'AP-SOUTH'", "better_group": "B", "effect": p.effect_b},
            })
        },
        "funnel_conversion_by_device_source": conv,
        "block_size": BLOCK,
    })
}
