//! Options shared by every subcommand, progress bars, and input discovery.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use segmint::data::{ColumnMap, Inputs};
use segmint::progress::Progress;

#[derive(clap::Args, Clone, Default)]
pub struct Global {
    /// Worker threads (default: all cores)
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bars or messages on stderr
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Print a machine-readable JSON summary on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,
    /// When a command runs inside `segmint run`: its JSON summary is handed back here instead
    /// of printed.
    #[arg(skip)]
    pub summary: Option<std::sync::Arc<Mutex<Option<serde_json::Value>>>>,
}

impl Global {
    /// Hands a command's JSON summary to `segmint run`, or prints it with `--json`. False when
    /// the command should print its text summary instead.
    pub fn emit_json(&self, summary: &serde_json::Value) -> bool {
        if let Some(slot) = &self.summary {
            *slot.lock().expect("summary lock") = Some(summary.clone());
            true
        } else if self.json {
            println!("{summary}");
            true
        } else {
            false
        }
    }
}

pub fn init_threads(threads: Option<usize>) -> Result<()> {
    let n = match threads {
        Some(0) => anyhow::bail!("--threads must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .context("starting the thread pool")?;
    Ok(())
}

/// Input files: `--data DIR` and per-table overrides, the column mapping and a config file.
#[derive(clap::Args, Clone, Default)]
pub struct InputArgs {
    /// Directory with customers.*, transactions.*, events.* (.parquet or .csv)
    #[arg(long, short = 'd', value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Customers file (overrides DIR/customers.*)
    #[arg(long, value_name = "PATH")]
    pub customers: Option<PathBuf>,
    /// Transactions file (overrides DIR/transactions.*)
    #[arg(long, value_name = "PATH")]
    pub transactions: Option<PathBuf>,
    /// Events file (overrides DIR/events.*)
    #[arg(long, value_name = "PATH")]
    pub events: Option<PathBuf>,
    /// Column mapping CANONICAL=SOURCE[,...], e.g. amount=revenue,transactions.timestamp=order_date;
    /// SOURCE may be an expression over the file's columns (amount="Quantity * UnitPrice") or
    /// @row (row numbers as ids)
    #[arg(long, value_name = "MAP")]
    pub columns: Vec<String>,
    /// How timestamps and dates are written: strftime (%Y%m%d, "%m/%d/%Y %H:%M"), epoch_s or
    /// epoch_ms; for every table, or per column as [TABLE.]COLUMN=FORMAT[,...]
    #[arg(long, value_name = "FORMAT")]
    pub timestamp_format: Vec<String>,
    /// Time zone of timestamps written without an offset, e.g. Europe/London [default: UTC]
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// Rows whose id (customer, order, user, session) is empty: error, or drop them and count
    /// them [default: error]
    #[arg(long, value_name = "error|drop")]
    pub missing_ids: Option<String>,
    /// Field delimiter of text files: , ; | tab or whitespace [default: guessed from the header]
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// Encoding of text files: utf-8 or latin1 [default: utf-8]
    #[arg(long, value_name = "NAME")]
    pub encoding: Option<String>,
    /// Text files have no header line: columns are column_1, column_2, ...
    #[arg(long)]
    pub no_header: bool,
    /// Sheet of an .xlsx workbook to read [default: the first]
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
    /// TOML config with [input] data/customers/transactions/events and [columns] mappings
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl InputArgs {
    /// Resolves inputs and mapping: the config file first, then the command line on top.
    pub fn resolve(&self) -> Result<(Inputs, ColumnMap)> {
        let mut inputs = Inputs::default();
        let mut map = ColumnMap::new();
        let mut file_map = ColumnMap::new();
        if let Some(cfg) = &self.config {
            let text =
                std::fs::read_to_string(cfg).with_context(|| format!("{}", cfg.display()))?;
            let value: toml::Value = toml::from_str(&text).map_err(|e| {
                anyhow::anyhow!("{}: {}", cfg.display(), e.to_string().replace('\n', " "))
            })?;
            let base = cfg.parent().map(|p| p.to_path_buf()).unwrap_or_default();
            if let Some(inp) = value.get("input") {
                let get = |k: &str| -> Result<Option<PathBuf>> {
                    match inp.get(k) {
                        None => Ok(None),
                        Some(v) => {
                            let s = v.as_str().with_context(|| {
                                format!("{}: input.{k} must be a string", cfg.display())
                            })?;
                            Ok(Some(base.join(s)))
                        }
                    }
                };
                read_options_from_config(inp, &mut file_map)
                    .map_err(|e| anyhow::anyhow!("{}: [input] {e}", cfg.display()))?;
                inputs.dir = get("data")?;
                inputs.customers = get("customers")?;
                inputs.transactions = get("transactions")?;
                inputs.events = get("events")?;
            }
            if let Some(cols) = value.get("columns") {
                map = ColumnMap::from_toml(cols)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", cfg.display()))?;
            }
        }
        map.merge(&file_map);
        for spec in &self.columns {
            map.parse_cli(spec)?;
        }
        self.read_options(&mut map)?;
        if self.data.is_some() {
            inputs.dir = self.data.clone();
        }
        for (slot, v) in [
            (&mut inputs.customers, &self.customers),
            (&mut inputs.transactions, &self.transactions),
            (&mut inputs.events, &self.events),
        ] {
            if v.is_some() {
                *slot = v.clone();
            }
        }
        Ok((inputs, map))
    }
}

impl InputArgs {
    /// The reading options of the command line, on top of the config file's.
    fn read_options(&self, map: &mut ColumnMap) -> Result<()> {
        use segmint::data::mapping::{Delimiter, Encoding, MissingIds, TimeZone};
        for spec in &self.timestamp_format {
            map.parse_time_formats(spec)?;
        }
        if let Some(z) = &self.timezone {
            map.timezone = Some(TimeZone::parse(z)?);
        }
        if let Some(m) = &self.missing_ids {
            map.missing_ids = MissingIds::parse(m)?;
        }
        if let Some(d) = &self.delimiter {
            map.file.delimiter = Some(Delimiter::parse(d)?);
        }
        if let Some(e) = &self.encoding {
            map.file.encoding = Encoding::parse(e)?;
        }
        if self.no_header {
            map.file.no_header = true;
        }
        if let Some(s) = &self.sheet {
            map.file.sheet = Some(s.clone());
        }
        Ok(())
    }
}

/// The reading options of a config file's `[input]` table (`timestamp_format`, `timezone`,
/// `missing_ids`, `delimiter`, `encoding`, `no_header`, `sheet`).
fn read_options_from_config(input: &toml::Value, map: &mut ColumnMap) -> Result<()> {
    use segmint::data::mapping::{Delimiter, Encoding, MissingIds, TimeZone};
    let text = |k: &str| -> Result<Option<&str>> {
        match input.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .with_context(|| format!("{k} must be a string")),
        }
    };
    if let Some(f) = text("timestamp_format")? {
        map.parse_time_formats(f)?;
    }
    if let Some(z) = text("timezone")? {
        map.timezone = Some(TimeZone::parse(z)?);
    }
    if let Some(m) = text("missing_ids")? {
        map.missing_ids = MissingIds::parse(m)?;
    }
    if let Some(d) = text("delimiter")? {
        map.file.delimiter = Some(Delimiter::parse(d)?);
    }
    if let Some(e) = text("encoding")? {
        map.file.encoding = Encoding::parse(e)?;
    }
    if let Some(s) = text("sheet")? {
        map.file.sheet = Some(s.to_string());
    }
    if let Some(v) = input.get("no_header") {
        map.file.no_header = v.as_bool().context("no_header must be true or false")?;
    }
    Ok(())
}

/// Progress bars on stderr; hidden when stderr is not a terminal or with --quiet.
/// With the environment variable `SEGMINT_TIMINGS=1`, each phase also prints its wall time.
pub struct Bars {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
    timings: bool,
    phase: Mutex<Option<(String, std::time::Instant)>>,
}

impl Bars {
    pub fn new(g: &Global) -> Self {
        Bars {
            enabled: !g.quiet && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
            timings: std::env::var_os("SEGMINT_TIMINGS").is_some_and(|v| v != "0"),
            phase: Mutex::new(None),
        }
    }

    /// Prints the wall time of a phase the library does not report (writing output).
    pub fn timed<T>(&self, what: &str, f: impl FnOnce() -> T) -> T {
        self.begin(what, 0);
        let r = f();
        self.finish();
        r
    }
}

impl Progress for Bars {
    fn begin(&self, what: &str, total: u64) {
        if self.timings {
            *self.phase.lock().expect("timing lock") =
                Some((what.to_string(), std::time::Instant::now()));
        }
        if !self.enabled {
            return;
        }
        let pb = if total > 0 {
            ProgressBar::new(total)
        } else {
            ProgressBar::new_spinner()
        };
        pb.set_style(
            ProgressStyle::with_template("{msg:>24} [{bar:30}] {human_pos}/{human_len} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_message(what.to_string());
        *self.bar.lock().expect("progress lock") = Some(pb);
    }
    fn advance(&self, n: u64) {
        if let Some(pb) = &*self.bar.lock().expect("progress lock") {
            pb.inc(n);
        }
    }
    fn finish(&self) {
        if let Some((what, t0)) = self.phase.lock().expect("timing lock").take() {
            eprintln!("timing: {what}: {:.3}s", t0.elapsed().as_secs_f64());
        }
        if let Some(pb) = self.bar.lock().expect("progress lock").take() {
            pb.finish_and_clear();
        }
    }
}

/// Prints a status line on stderr unless quiet.
pub fn note(g: &Global, msg: impl AsRef<str>) {
    if !g.quiet {
        eprintln!("{}", msg.as_ref());
    }
}

/// The `col` label of every customer in `ids`: from a segments file, else from the customers
/// file. Returns the label names and each customer's index into them.
pub fn segment_labels(
    inputs: &segmint::data::Inputs,
    map: &segmint::data::ColumnMap,
    col: &str,
    segments: Option<&std::path::Path>,
    ids: &[String],
) -> Result<(Vec<String>, Vec<Option<u32>>)> {
    use segmint::segment::profile::{read_segments, SegmentFile};
    let file = match segments {
        Some(p) => read_segments(p, col)?,
        None => {
            let customers = inputs
                .open_optional(segmint::data::TableKind::Customers, map)?
                .context("--by needs a customers file (or --segments FILE)")?;
            SegmentFile::from_customers(&customers, col, ids)?
        }
    };
    Ok(file.labels_for(ids))
}

/// Prints what reading the tables decided (no order ids: one order per row) and the rows left
/// out for a missing id (`--missing-ids drop`), so that nothing is dropped silently.
pub fn reading_notes(g: &Global, tables: &[Option<&segmint::data::TableReader>]) {
    for t in tables.iter().flatten() {
        for n in t.notes() {
            note(g, format!("note: {}: {n}", t.path.display()));
        }
        if t.drops_missing_ids() {
            let d = t.dropped();
            let amount = d
                .amount
                .map(|a| format!(" (amount {a:.2})"))
                .unwrap_or_default();
            note(
                g,
                format!(
                    "note: {}: {} rows without an id left out{amount} (--missing-ids drop)",
                    t.path.display(),
                    d.rows
                ),
            );
        }
    }
}
