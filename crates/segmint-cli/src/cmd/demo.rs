//! `segmint demo`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use segmint::demo::{generate, DemoFormat, DemoParams, PremiumEffects};

use crate::ui::{note, Bars, Global};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint demo --out data                              20,000 customers, seed 42, Parquet
  segmint demo --customers 1000000 --seed 7 --out big  one million customers
  segmint demo --customers 5000 --format csv --out csvdata
  segmint demo --customers 20000 --effect-a 0.3 --return-rate 0.05 --out variant
  segmint demo --no-tiers --premium-effects purchase=0.5,dropout=-0.7,spend=0.3 --out cov

Writes customers, transactions, events, ground_truth and products (+ meta.json) with the
schemas and generating process of the reference data (SCHEMA.md). Same seed, same files.")]
pub struct Args {
    /// Number of customers
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    pub customers: u64,
    /// Random seed (same seed and options give byte-identical files)
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output directory (created if needed)
    #[arg(long, short)]
    pub out: PathBuf,
    /// File format
    #[arg(long, value_enum, default_value_t = FormatArg::Parquet)]
    pub format: FormatArg,
    /// Last day of the observation window (UTC)
    #[arg(long, default_value = "2025-12-31", value_name = "YYYY-MM-DD")]
    pub end_date: String,
    /// Length of the window in years
    #[arg(long, default_value_t = 2)]
    pub years: i64,
    /// BG/NBD r (Gamma shape of the purchase rate)
    #[arg(long, default_value_t = 0.25)]
    pub r: f64,
    /// BG/NBD alpha (Gamma rate of the purchase rate, weeks)
    #[arg(long, default_value_t = 4.0)]
    pub alpha: f64,
    /// BG/NBD a (Beta) of the drop-out probability
    #[arg(long, default_value_t = 0.8)]
    pub a: f64,
    /// BG/NBD b (Beta) of the drop-out probability
    #[arg(long, default_value_t = 2.5)]
    pub b: f64,
    /// Gamma-Gamma p (shape of spend per order)
    #[arg(long, default_value_t = 6.0)]
    pub gg_p: f64,
    /// Gamma-Gamma q (shape of nu)
    #[arg(long, default_value_t = 4.0)]
    pub gg_q: f64,
    /// Gamma-Gamma gamma (rate of nu)
    #[arg(long, default_value_t = 15.0)]
    pub gg_gamma: f64,
    /// Target share of transaction rows that are returns
    #[arg(long, default_value_t = 0.02)]
    pub return_rate: f64,
    /// Non-converting sessions per order
    #[arg(long, default_value_t = 4.0)]
    pub browse_ratio: f64,
    /// Planted uplift of group A in segment A (income > 150000, not premium)
    #[arg(long, default_value_t = 0.20, allow_negative_numbers = true)]
    pub effect_a: f64,
    /// Planted uplift of group B in segment B (age < 30, AP-SOUTH)
    #[arg(long, default_value_t = 0.15, allow_negative_numbers = true)]
    pub effect_b: f64,
    /// Groups of the experiment (seller_group): 2 (A, B) or 3 (control, A, B; arm A works
    /// where income > 150000, arm B where age < 40 among the others, each loses
    /// --arm-fatigue elsewhere: for
    /// segmint compare --control control)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(2..=3))]
    pub arms: u8,
    /// With --arms 3: success rate an arm loses outside its segment (so every customer has one
    /// best arm); 0 with --effect-a 0 --effect-b 0 gives an experiment where nothing works
    #[arg(long, default_value_t = 0.05)]
    pub arm_fatigue: f64,
    /// Put every customer in the Standard tier: data without hidden segments
    #[arg(long)]
    pub no_tiers: bool,
    /// Plant effects of premium membership on the CLV processes, as log multipliers:
    /// purchase (rate), dropout (probability, about) and spend (order value), e.g.
    /// purchase=0.5,dropout=-0.7,spend=0.3 (check them with segmint clv --covariates premium)
    #[arg(long, value_name = "PROCESS=EFFECT,...", value_parser = parse_effects)]
    pub premium_effects: Option<PremiumEffects>,
}

/// `purchase=0.5,dropout=-0.7,spend=0.3`: the processes not named keep 0.
fn parse_effects(text: &str) -> Result<PremiumEffects, String> {
    let mut e = PremiumEffects::default();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: expected PROCESS=EFFECT (e.g. purchase=0.5)"))?;
        let v: f64 = value
            .trim()
            .parse()
            .map_err(|_| format!("{part:?}: {value:?} is not a number"))?;
        match name.trim() {
            "purchase" => e.purchase = v,
            "dropout" => e.dropout = v,
            "spend" => e.spend = v,
            other => {
                return Err(format!(
                    "{other:?} is not a process: purchase, dropout or spend"
                ))
            }
        }
    }
    Ok(e)
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum FormatArg {
    Parquet,
    Csv,
    Both,
}

impl Args {
    pub fn params(&self) -> DemoParams {
        DemoParams {
            customers: self.customers,
            seed: self.seed,
            end_date: self.end_date.clone(),
            years: self.years,
            r: self.r,
            alpha: self.alpha,
            a: self.a,
            b: self.b,
            gg_p: self.gg_p,
            gg_q: self.gg_q,
            gg_gamma: self.gg_gamma,
            return_rate: self.return_rate,
            browse_ratio: self.browse_ratio,
            effect_a: self.effect_a,
            effect_b: self.effect_b,
            arms: self.arms,
            arm_fatigue: self.arm_fatigue,
            tiers: !self.no_tiers,
            premium_effects: self.premium_effects.unwrap_or_default(),
            format: match self.format {
                FormatArg::Parquet => DemoFormat::Parquet,
                FormatArg::Csv => DemoFormat::Csv,
                FormatArg::Both => DemoFormat::Both,
            },
        }
    }
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let t0 = Instant::now();
    let summary = generate(&a.params(), &a.out, &Bars::new(g))?;
    let secs = t0.elapsed().as_secs_f64();
    if g.json {
        let mut v = serde_json::to_value(&summary)?;
        v["seconds"] = serde_json::json!((secs * 1000.0).round() / 1000.0);
        v["seed"] = serde_json::json!(a.seed);
        println!("{v}");
    } else {
        let r = &summary.rows;
        note(
            g,
            format!(
                "wrote {} customers, {} transactions, {} events to {} in {secs:.1}s (seed {})",
                r.customers,
                r.transactions,
                r.events,
                a.out.display(),
                a.seed
            ),
        );
    }
    Ok(0)
}
