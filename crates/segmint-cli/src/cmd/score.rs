//! `segmint score`: a saved prediction model applied to new data.

use std::path::PathBuf;

use anyhow::{Context, Result};
use segmint::data::timestamp::{format_date, parse_date};
use segmint::data::TableKind;
use segmint::predict::{PredictModel, Task};

use crate::ui::{note, Bars, Global, InputArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  segmint score --model churn/model.json --data data --out scores.parquet

Rebuilds the model's features from the data as of the day after the last transaction (or
--cutoff), matched to the model's features by name, and writes the predictions with risk bands /
value categories and priorities, and for every row the features that moved its prediction most
(TreeSHAP, --drivers). A conversion model scores every session of the events file.")]
pub struct Args {
    /// model.json written by segmint predict
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// Score as of this date (default: the day after the last transaction)
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub cutoff: Option<String>,
    /// Features per row that moved its prediction most (TreeSHAP: driver_N, driver_N_value,
    /// driver_N_contribution columns; default: the model's, 3; 0 = none, at most 10)
    #[arg(long, value_name = "N")]
    pub drivers: Option<usize>,
    /// Output file (Parquet, or CSV for a .csv path)
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
}

pub fn run(g: &Global, a: &Args) -> Result<u8> {
    let mut m = PredictModel::load(&a.model)?;
    if let Some(k) = a.drivers {
        m.actions.drivers = k;
        m.actions.check()?;
    }
    let cutoff = a
        .cutoff
        .as_deref()
        .map(|d| parse_date(d).with_context(|| format!("--cutoff {d:?}: expected YYYY-MM-DD")))
        .transpose()?;
    let (inputs, map) = a.input.resolve()?;
    let tx = (m.task != Task::Conversion)
        .then(|| inputs.open(TableKind::Transactions, &map))
        .transpose()?;
    let customers = inputs.open_optional(TableKind::Customers, &map)?;
    let events = m
        .needs_events()
        .then(|| inputs.open(TableKind::Events, &map))
        .transpose()?;
    let bars = Bars::new(g);
    let scored = m
        .score(
            tx.as_ref(),
            customers.as_ref(),
            events.as_ref(),
            cutoff,
            &bars,
        )
        .with_context(|| format!("scoring with {}", a.model.display()))?;
    let mut meta = vec![(
        "segmint.task".to_string(),
        format!("score {}", m.task.label()),
    )];
    let as_of = scored.cutoff_day.map(format_date);
    if let Some(d) = &as_of {
        meta.push(("segmint.cutoff".to_string(), d.clone()));
    }
    let batch = segmint::output::batch(scored.columns(m.task))?;
    segmint::output::write_table(&batch, &a.out, &meta)?;
    note(
        g,
        format!(
            "score {}: {} {}{} -> {}",
            m.task.label(),
            scored.scores.ids.len(),
            m.task.rows(),
            as_of.map_or(String::new(), |d| format!(" as of {d}")),
            a.out.display()
        ),
    );
    Ok(0)
}
