//! Probabilistic customer lifetime value: the RFM summary in lifetimes' conventions and the
//! BG/NBD and Gamma-Gamma models (maximum likelihood), with per-customer predictions.
//!
//! ```no_run
//! use segmint::clv::{summarize, SummaryParams, bgnbd::BgNbd, gamma_gamma::GammaGamma};
//! use segmint::data::{ColumnMap, Inputs, TableKind};
//! use segmint::progress::NoProgress;
//!
//! let inputs = Inputs::from_dir("data".as_ref());
//! let tx = inputs.open(TableKind::Transactions, &ColumnMap::new())?;
//! let s = summarize(&tx, &SummaryParams::default(), &NoProgress)?;
//! let bg = BgNbd::fit(&s.frequency, &s.recency, &s.t, 0.0)?;
//! let gg = GammaGamma::fit(&s.frequency, &s.monetary_value, 0.0)?;
//! println!("r {} alpha {} a {} b {}", bg.r, bg.alpha, bg.a, bg.b);
//! let p_alive = bg.p_alive(s.frequency[0], s.recency[0], s.t[0]);
//! # Ok::<(), segmint::Error>(())
//! ```
//!
//! Summary conventions (lifetimes' `summary_data_from_transaction_data(freq="D",
//! freq_multiplier=7)` for weeks): purchase rows are those with `amount > 0` (returns and zero
//! rows are ignored, never an error, and counted in [`Summary::left_out`]; with
//! [`PurchaseRule::NonNegative`] $0 rows are purchases too) on or before the calibration end day; a customer's purchase
//! days are the distinct UTC days of those rows, with the day's spend the sum of their amounts.
//! `frequency` = purchase days - 1, `recency` = (last - first purchase day) / unit, `T` =
//! (calibration end - first purchase day) / unit, `monetary_value` = mean daily spend over the
//! purchase days after the first (0 when frequency = 0). Units: day = 1, week = 7, month =
//! 30.4375 days (365.25 / 12; lifetimes' "M" counts calendar months instead).

pub mod analysis;
pub mod bgbb;
pub mod bgnbd;
pub mod covariates;
pub mod gamma_gamma;
pub mod intervals;
pub mod matrices;
pub mod model;
pub(crate) mod optim;
pub mod pareto_nbd;
pub mod summary_table;
pub mod tracking;

/// What the predictions need from a purchase-count model (BG/NBD, MBG/NBD, Pareto/NBD).
///
/// In all three models the expected purchases factor as
/// E(h | x, t_x, T) = P(alive | x, t_x, T) × G(h | x, T), where G, the expectation of a customer
/// known to be alive, does not depend on t_x: [`predict`] computes G once per distinct (x, T)
/// (a few tens of thousands for a million customers) and P(alive) per customer.
pub trait TransactionModel: Sync {
    /// P(alive | x, t_x, T).
    fn p_alive(&self, x: f64, tx: f64, t: f64) -> f64;
    /// Expected repeat purchases in the next `horizon` time units.
    fn expected_purchases(&self, horizon: f64, x: f64, tx: f64, t: f64) -> f64;
    /// G(h | x, T) = E(h | x, t_x, T) / P(alive | x, t_x, T) at each of `horizons`, into `out`.
    fn expected_if_alive_many(&self, horizons: &[f64], x: f64, t: f64, out: &mut [f64]);
    /// Expected repeat purchases of a new customer within `t` time units of the first purchase
    /// (lifetimes' `expected_number_of_purchases_up_to_time`).
    fn expected_purchases_new(&self, t: f64) -> f64;
}

impl TransactionModel for bgnbd::BgNbd {
    fn p_alive(&self, x: f64, tx: f64, t: f64) -> f64 {
        bgnbd::BgNbd::p_alive(self, x, tx, t)
    }
    fn expected_purchases(&self, horizon: f64, x: f64, tx: f64, t: f64) -> f64 {
        bgnbd::BgNbd::expected_purchases(self, horizon, x, tx, t)
    }
    fn expected_if_alive_many(&self, horizons: &[f64], x: f64, t: f64, out: &mut [f64]) {
        bgnbd::BgNbd::expected_if_alive_many(self, horizons, x, t, out)
    }
    fn expected_purchases_new(&self, t: f64) -> f64 {
        bgnbd::BgNbd::expected_purchases_new(self, t)
    }
}

impl TransactionModel for pareto_nbd::ParetoNbd {
    fn p_alive(&self, x: f64, tx: f64, t: f64) -> f64 {
        pareto_nbd::ParetoNbd::p_alive(self, x, tx, t)
    }
    fn expected_purchases(&self, horizon: f64, x: f64, tx: f64, t: f64) -> f64 {
        pareto_nbd::ParetoNbd::expected_purchases(self, horizon, x, tx, t)
    }
    fn expected_if_alive_many(&self, horizons: &[f64], x: f64, t: f64, out: &mut [f64]) {
        for (o, &h) in out.iter_mut().zip(horizons) {
            *o = self.expected_if_alive(h, x, t);
        }
    }
    fn expected_purchases_new(&self, t: f64) -> f64 {
        pareto_nbd::ParetoNbd::expected_purchases_new(self, t)
    }
}

/// The distinct (x, T) of a summary's customers: `pair[i]` is customer i's index in `keys`.
/// Made once per summary; the predictions at other parameters (intervals) reuse it.
pub(crate) struct Pairs {
    pair: Vec<u32>,
    keys: Vec<(f64, f64)>,
}

impl Pairs {
    pub(crate) fn of(s: &Summary) -> Pairs {
        let mut seen: hashbrown::HashMap<(u64, u64), u32, foldhash::fast::FixedState> =
            hashbrown::HashMap::with_capacity_and_hasher(1024, Default::default());
        let mut keys: Vec<(f64, f64)> = Vec::new();
        let pair: Vec<u32> = (0..s.len())
            .map(|i| {
                let (x, t) = (s.frequency[i], s.t[i]);
                *seen.entry((x.to_bits(), t.to_bits())).or_insert_with(|| {
                    keys.push((x, t));
                    (keys.len() - 1) as u32
                })
            })
            .collect();
        Pairs { pair, keys }
    }
}

/// [`TransactionModel::expected_if_alive_many`] per distinct (x, T) of the summary's customers:
/// customer i's row of `values` is `pairs.pair[i]` (`horizons.len()` values a row).
struct IfAlive<'a> {
    pairs: &'a Pairs,
    values: Vec<f64>,
    width: usize,
}

impl IfAlive<'_> {
    fn of<'a>(pairs: &'a Pairs, bg: &dyn TransactionModel, horizons: &[f64]) -> IfAlive<'a> {
        let width = horizons.len();
        let mut values = vec![0.0; pairs.keys.len() * width];
        values
            .par_chunks_mut(width.max(1))
            .zip(&pairs.keys)
            .for_each(|(out, &(x, t))| bg.expected_if_alive_many(horizons, x, t, out));
        IfAlive {
            pairs,
            values,
            width,
        }
    }

    /// Per (x, T): the discounted sum of the monthly increments of G over the first `months`
    /// horizons, so that a customer's CLV is order value x P(alive) x that sum (E = P(alive) G
    /// in every month).
    fn discounted(&self, months: usize, rate: f64) -> Vec<f64> {
        self.values
            .chunks(self.width)
            .map(|e| {
                let mut sum = 0.0;
                let mut prev = 0.0;
                for (month, &e) in (1..).zip(&e[..months]) {
                    sum += (e - prev) / (1.0 + rate).powi(month);
                    prev = e;
                }
                sum
            })
            .collect()
    }

    /// Customer i's values, one per horizon.
    fn row(&self, i: usize) -> &[f64] {
        let k = self.pairs.pair[i] as usize * self.width;
        &self.values[k..k + self.width]
    }
}

use arrow_array::{Array, StringArray};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::reader::TableReader;
use crate::data::timestamp::{format_date, US_PER_DAY};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::slices::split_by;

/// The time unit of recency, T and the model rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Days.
    Day,
    #[default]
    /// Weeks (the default, as lifetimes' examples).
    Week,
    /// 30.4375 days.
    Month,
}

impl TimeUnit {
    /// "day", "week" or "month".
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Day => "day",
            TimeUnit::Week => "week",
            TimeUnit::Month => "month",
        }
    }
    /// Days per unit (7 for a week, 30.4375 for a month).
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Day => 1.0,
            TimeUnit::Week => 7.0,
            TimeUnit::Month => 365.25 / 12.0,
        }
    }
    /// Units per month, for lifetimes' CLV sum (4.345 weeks, 30 days per month).
    pub fn per_month(self) -> f64 {
        match self {
            TimeUnit::Day => 30.0,
            TimeUnit::Week => 4.345,
            TimeUnit::Month => 1.0,
        }
    }
}

/// Which transaction rows are purchases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseRule {
    /// `amount > 0` (returns and $0 rows are not purchases).
    #[default]
    Positive,
    /// `amount >= 0`: $0 rows (free items, CDNOW's $0 orders) are purchases too.
    NonNegative,
}

impl PurchaseRule {
    /// Whether a row with this amount is a purchase.
    pub fn is_purchase(self, amount: f64) -> bool {
        match self {
            PurchaseRule::Positive => amount > 0.0,
            PurchaseRule::NonNegative => amount >= 0.0,
        }
    }
    /// `amount > 0` or `amount >= 0`, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            PurchaseRule::Positive => "amount > 0",
            PurchaseRule::NonNegative => "amount >= 0",
        }
    }
    /// `positive` or `non-negative`.
    pub fn parse(s: &str) -> Result<PurchaseRule> {
        match s.trim() {
            "positive" => Ok(PurchaseRule::Positive),
            "non-negative" | "non_negative" | "nonnegative" => Ok(PurchaseRule::NonNegative),
            _ => Err(Error::param(
                "purchases",
                format!("must be positive or non-negative, not {s:?}"),
            )),
        }
    }
}

/// Purchases per day of all customers in the summarised period (calibration and holdout),
/// for the tracking series: day `start + k` had `first[k]` first purchases and `repeat[k]`
/// repeat purchase days (a customer's later distinct purchase days).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DailyPurchases {
    /// First day (days since 1970-01-01): the earliest purchase.
    pub start: i64,
    /// Customers whose first purchase was on each day.
    pub first: Vec<u32>,
    /// Repeat purchase days on each day.
    pub repeat: Vec<u32>,
}

impl DailyPurchases {
    fn add(&mut self, other: &DailyPurchases) {
        if other.first.is_empty() {
            return;
        }
        if self.first.is_empty() {
            *self = other.clone();
            return;
        }
        let start = self.start.min(other.start);
        let end =
            (self.start + self.first.len() as i64).max(other.start + other.first.len() as i64);
        let len = (end - start) as usize;
        let mut out = DailyPurchases {
            start,
            first: vec![0; len],
            repeat: vec![0; len],
        };
        for d in [&*self, other] {
            let off = (d.start - start) as usize;
            for k in 0..d.first.len() {
                out.first[off + k] += d.first[k];
                out.repeat[off + k] += d.repeat[k];
            }
        }
        *self = out;
    }

    /// Counts one customer's purchase rows (sorted by day).
    fn count(&mut self, rows: &[Row]) {
        let first = rows[0].0 as i64;
        if self.first.is_empty() {
            self.start = first;
        }
        let grow = |d: &mut DailyPurchases, day: i64| -> usize {
            if day < d.start {
                let by = (d.start - day) as usize;
                d.first.splice(0..0, std::iter::repeat_n(0, by));
                d.repeat.splice(0..0, std::iter::repeat_n(0, by));
                d.start = day;
            }
            let k = (day - d.start) as usize;
            if k >= d.first.len() {
                d.first.resize(k + 1, 0);
                d.repeat.resize(k + 1, 0);
            }
            k
        };
        let k = grow(self, first);
        self.first[k] += 1;
        let mut prev = rows[0].0;
        for r in &rows[1..] {
            if r.0 != prev {
                let k = grow(self, r.0 as i64);
                self.repeat[k] += 1;
                prev = r.0;
            }
        }
    }
}

/// What the purchase rule left out of the summary (rows on or before the calibration end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    /// Rows that are not purchases under the rule (returns; $0 rows under `positive`).
    pub rows: u64,
    /// Customers with rows but no purchase row: not in the summary.
    pub customers: u64,
}

/// Parameters of [`summarize`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SummaryParams {
    /// Last day included (days since 1970-01-01); `None`: the day of the last transaction.
    pub calibration_end: Option<i64>,
    /// Last day of a holdout period after the calibration end (needs `calibration_end`): the
    /// purchases of the calibration customers in it are counted for [`scorecard`].
    #[serde(default)]
    pub holdout_end: Option<i64>,
    /// Time unit of recency, T and the rates.
    pub time_unit: TimeUnit,
    /// Which rows are purchases.
    #[serde(default)]
    pub purchases: PurchaseRule,
}

/// What the calibration customers did in the holdout period.
#[derive(Debug, Clone, Default)]
pub struct Holdout {
    /// Last day of the holdout period.
    pub end: i64,
    /// Length of the holdout period in time units.
    pub duration: f64,
    /// Purchase days in the holdout period (lifetimes' `frequency_holdout`).
    pub frequency: Vec<f64>,
    /// Spend in the holdout period (sum of purchase amounts).
    pub spend: Vec<f64>,
}

/// The per-customer summary, sorted by `customer_id` (for customer-grouped input in ascending
/// id order; otherwise sorted by id).
#[derive(Debug, Clone)]
pub struct Summary {
    /// Last day of the calibration period (days since 1970-01-01).
    pub calibration_end: i64,
    /// Time unit of `recency` and `t`.
    pub time_unit: TimeUnit,
    /// One Arrow string array (no allocation per customer; written as is).
    pub customer_id: StringArray,
    /// Repeat purchase days per customer.
    pub frequency: Vec<f64>,
    /// Time from the first to the last purchase day.
    pub recency: Vec<f64>,
    /// Time from the first purchase day to the calibration end.
    pub t: Vec<f64>,
    /// Mean spend per repeat purchase day (0 without a repeat).
    pub monetary_value: Vec<f64>,
    /// First purchase day (days since 1970-01-01).
    pub first_day: Vec<i64>,
    /// With `holdout_end`: the holdout purchases of the same customers, in the same order.
    pub holdout: Option<Holdout>,
    /// What the purchase rule left out.
    pub left_out: LeftOut,
    /// Read as a per-customer summary table ([`summary_table::SummaryTable`]): no
    /// transactions, so no calibration date or first purchase days.
    pub from_table: bool,
    /// Purchases per day of every customer up to the holdout (or calibration) end, including
    /// those who first bought in the holdout period (empty for a summary table).
    pub daily: DailyPurchases,
}

impl Default for Summary {
    fn default() -> Summary {
        Summary {
            calibration_end: 0,
            time_unit: TimeUnit::default(),
            customer_id: StringArray::from(Vec::<&str>::new()),
            frequency: Vec::new(),
            recency: Vec::new(),
            t: Vec::new(),
            monetary_value: Vec::new(),
            first_day: Vec::new(),
            holdout: None,
            left_out: LeftOut::default(),
            from_table: false,
            daily: DailyPurchases::default(),
        }
    }
}

impl Summary {
    /// Customers.
    pub fn len(&self) -> usize {
        self.customer_id.len()
    }
    /// The customer ids in the summary's order (for joins with customer attributes).
    pub fn customer_ids(&self) -> Vec<String> {
        (0..self.len())
            .map(|i| self.customer_id.value(i).to_string())
            .collect()
    }
    /// No customer.
    pub fn is_empty(&self) -> bool {
        self.customer_id.is_empty()
    }
    /// The calibration end as YYYY-MM-DD, or a note that a summary table has none.
    pub fn calibration_end_text(&self) -> String {
        if self.from_table {
            "not known (a per-customer summary table)".to_string()
        } else {
            crate::data::timestamp::format_date(self.calibration_end)
        }
    }
}

/// A purchase row: (UTC day, amount).
type Row = (i32, f64);

/// One reading unit's purchase rows in file order, cut into runs of consecutive rows of one
/// customer. Grouping by runs costs one comparison with the previous row's id per row (no
/// hashing, no allocation per customer); whether the runs form one customer each (input grouped
/// by customer, the usual export) is checked afterwards.
#[derive(Default)]
struct Unit {
    /// The runs' ids, concatenated; run k's id is `ids[id_ends[k-1]..id_ends[k]]`.
    ids: String,
    id_ends: Vec<usize>,
    /// Run k's rows are `rows[run_starts[k]..run_starts[k+1]]` (the last run: to the end).
    run_starts: Vec<usize>,
    rows: Vec<Row>,
    max_day: i64,
    /// Rows that are not purchases (up to the end), and each such customer's first such day.
    not_purchases: u64,
    not_purchase_ids: hashbrown::HashMap<Box<str>, i64>,
}

impl Unit {
    fn runs(&self) -> usize {
        self.id_ends.len()
    }
    fn id(&self, k: usize) -> &str {
        let from = if k == 0 { 0 } else { self.id_ends[k - 1] };
        &self.ids[from..self.id_ends[k]]
    }
    fn run(&self, k: usize) -> &[Row] {
        let to = self
            .run_starts
            .get(k + 1)
            .copied()
            .unwrap_or(self.rows.len());
        &self.rows[self.run_starts[k]..to]
    }
    fn start_run(&mut self, id: &str) {
        self.ids.push_str(id);
        self.id_ends.push(self.ids.len());
        self.run_starts.push(self.rows.len());
    }
    /// Run ids strictly ascending: every run is a whole customer of this unit.
    fn ascending(&self) -> bool {
        (1..self.runs()).all(|k| self.id(k - 1) < self.id(k))
    }
}

/// One unit's slice of the summary columns (disjoint slices of the final columns, filled in
/// parallel; the ids are gathered separately).
struct Out<'a> {
    frequency: &'a mut [f64],
    recency: &'a mut [f64],
    t: &'a mut [f64],
    monetary_value: &'a mut [f64],
    first_day: &'a mut [i64],
    /// Empty without a holdout period.
    holdout_frequency: &'a mut [f64],
    holdout_spend: &'a mut [f64],
}

/// What [`Out::put`] needs besides the rows.
struct Periods {
    cal_end: i64,
    holdout: bool,
    unit: f64,
}

impl Unit {
    /// The runs from `skip` on that are calibration customers (a purchase on or before
    /// `cal_end`); the others first bought in the holdout period.
    fn customers(&self, skip: usize, cal_end: i64) -> impl Iterator<Item = usize> + '_ {
        (skip..self.runs()).filter(move |&k| self.run(k).iter().any(|r| r.0 as i64 <= cal_end))
    }
}

impl Out<'_> {
    /// Writes customer `i` from all its purchase rows in file order, at least one of them on or
    /// before the calibration end (`scratch` is reused for rows that are not in day order). A
    /// day's spend is the sum of its rows in file order, the spend of several days the sum of
    /// the day sums in day order.
    fn put(&mut self, i: usize, rows: &[Row], scratch: &mut Vec<Row>, per: &Periods) {
        let rows = sorted_by_day(rows, scratch);
        let cal_end = per.cal_end;
        let first = rows[0].0;
        let (mut last, mut days, mut later_spend) = (first, 1usize, 0.0);
        let (mut hold_days, mut hold_spend) = (0usize, 0.0);
        let mut j = 0;
        while j < rows.len() {
            let day = rows[j].0;
            let mut spend = 0.0;
            while j < rows.len() && rows[j].0 == day {
                spend += rows[j].1;
                j += 1;
            }
            if (day as i64) > cal_end {
                hold_days += 1;
                hold_spend += spend;
            } else if day != first {
                days += 1;
                last = day;
                later_spend += spend;
            }
        }
        let x = days - 1;
        self.frequency[i] = x as f64;
        self.recency[i] = (last - first) as f64 / per.unit;
        self.t[i] = (cal_end - first as i64) as f64 / per.unit;
        self.monetary_value[i] = if x == 0 { 0.0 } else { later_spend / x as f64 };
        self.first_day[i] = first as i64;
        if per.holdout {
            self.holdout_frequency[i] = hold_days as f64;
            self.holdout_spend[i] = hold_spend;
        }
    }
}

/// A customer's rows in day order: `rows` itself when they are, otherwise a stably sorted copy
/// in `scratch` (file order within a day).
fn sorted_by_day<'a>(rows: &'a [Row], scratch: &'a mut Vec<Row>) -> &'a [Row] {
    if rows.windows(2).all(|w| w[0].0 <= w[1].0) {
        return rows;
    }
    scratch.clear();
    scratch.extend_from_slice(rows);
    scratch.sort_by_key(|r| r.0);
    scratch
}

/// One string array from parts of concatenated ids with their end offsets.
fn concat_ids(parts: Vec<(String, Vec<usize>)>) -> Result<StringArray> {
    let bytes: usize = parts.iter().map(|p| p.0.len()).sum();
    if bytes > i32::MAX as usize {
        return Err(Error::Data(format!(
            "the customer ids take {bytes} bytes; at most {} are supported",
            i32::MAX
        )));
    }
    let n: usize = parts.iter().map(|p| p.1.len()).sum();
    let (mut values, mut offsets) = (Vec::with_capacity(bytes), Vec::with_capacity(n + 1));
    offsets.push(0i32);
    for (ids, ends) in parts {
        let base = values.len();
        offsets.extend(ends.iter().map(|&e| (base + e) as i32));
        values.extend_from_slice(ids.as_bytes());
    }
    Ok(StringArray::new(
        arrow_buffer::OffsetBuffer::new(offsets.into()),
        values.into(),
        None,
    ))
}

/// Builds the summary from a transactions table (see the module docs for the conventions).
pub fn summarize(
    tx: &TableReader,
    params: &SummaryParams,
    progress: &dyn Progress,
) -> Result<Summary> {
    if let Some(h) = params.holdout_end {
        match params.calibration_end {
            None => {
                return Err(Error::param(
                    "holdout_end",
                    "needs a calibration end (calibration_end)",
                ))
            }
            Some(c) if h <= c => {
                return Err(Error::Config(format!(
                    "the holdout end {} must be after the calibration end {}",
                    format_date(h),
                    format_date(c)
                )))
            }
            _ => {}
        }
    }
    progress.begin("reading transactions", tx.num_rows_hint().unwrap_or(0));
    // rows up to the holdout end are kept; calibration and holdout days are split at the end
    let end = params
        .holdout_end
        .or(params.calibration_end)
        .unwrap_or(i64::MAX);
    let calibration_end = params.calibration_end.unwrap_or(i64::MAX);
    let units = tx.fold_with(
        &["customer_id", "timestamp", "amount"],
        &["customer_id"],
        || Unit {
            max_day: i64::MIN,
            ..Default::default()
        },
        |u, c| {
            let ids = c.ids("customer_id").expect("required");
            let ts = c.ts("timestamp").expect("required").values();
            let am = c.f64("amount").expect("required").values();
            if u.rows.capacity() == 0 {
                // sized once for the whole row group (customers have ~2.5 rows)
                u.rows.reserve(c.unit_rows.max(c.len()));
                u.id_ends.reserve(c.unit_rows.max(c.len()) / 2);
                u.run_starts.reserve(c.unit_rows.max(c.len()) / 2);
            }
            u.rows.reserve(c.len());
            // a dictionary key equal to the previous row's: the same id, no comparison
            let keys = match &ids {
                crate::data::reader::Ids::Dict { keys, .. } => Some(*keys),
                _ => None,
            };
            let mut prev: Option<usize> = None;
            for i in 0..c.len() {
                let day = ts[i].div_euclid(US_PER_DAY);
                u.max_day = u.max_day.max(day);
                if day > end {
                    continue;
                }
                if !params.purchases.is_purchase(am[i]) {
                    if day > calibration_end {
                        continue;
                    }
                    u.not_purchases += 1;
                    let first = u.not_purchase_ids.entry_ref(ids.value(i)).or_insert(day);
                    *first = (*first).min(day);
                    continue;
                }
                let same = match (prev, keys) {
                    (Some(p), Some(k)) if k[p] == k[i] => true,
                    _ => u.runs() > 0 && u.id(u.runs() - 1) == ids.value(i),
                };
                if !same {
                    u.start_run(ids.value(i));
                }
                prev = Some(i);
                u.rows.push((day as i32, am[i]));
            }
            Ok(())
        },
        progress,
    )?;
    progress.finish();
    let max_day = units.iter().map(|u| u.max_day).max().unwrap_or(i64::MIN);
    if max_day == i64::MIN {
        return Err(Error::Empty {
            path: tx.path.clone(),
            message: "no data rows".into(),
        });
    }
    let cal_end = params.calibration_end.unwrap_or(max_day);
    let not_purchase_rows: u64 = units.iter().map(|u| u.not_purchases).sum();
    let mut not_purchase_ids: hashbrown::HashSet<&str> = hashbrown::HashSet::new();
    for u in &units {
        not_purchase_ids.extend(
            u.not_purchase_ids
                .iter()
                .filter(|(_, &d)| d <= cal_end)
                .map(|(id, _)| &**id),
        );
    }
    let not_purchase_ids: hashbrown::HashSet<Box<str>> =
        not_purchase_ids.into_iter().map(Box::from).collect();
    progress.begin("summarising customers", 0);
    let unit = params.time_unit.days();
    let per = Periods {
        cal_end,
        holdout: params.holdout_end.is_some(),
        unit,
    };
    // Input grouped by customer in ascending id order (the usual export): every unit's runs
    // ascend and the units follow each other, so a run is a customer, except one that
    // straddles units, and each unit becomes its slice of the summary in parallel. Otherwise
    // the runs are sorted by id (stably: file order within a customer) and merged.
    let mut units: Vec<Unit> = units.into_iter().filter(|u| u.runs() > 0).collect();
    let sorted = units.par_iter().all(Unit::ascending)
        && units
            .windows(2)
            .all(|w| w[0].id(w[0].runs() - 1) <= w[1].id(0));
    // `skip[u]`: unit u's first run belongs to an earlier unit's last customer
    let mut skip = vec![0usize; units.len()];
    if sorted {
        // a customer that straddles units: its rows are appended to the unit where it starts
        // (its last run, so its run simply grows)
        let mut owner = 0;
        for u in 1..units.len() {
            if units[owner].id(units[owner].runs() - 1) == units[u].id(0) {
                let rows = units[u].run(0).to_vec();
                units[owner].rows.extend(rows);
                skip[u] = 1;
                if units[u].runs() == 1 {
                    continue; // the customer may go on in the next unit
                }
            }
            owner = u;
        }
    } else {
        // runs sorted by id (stably: file order within a customer), merged into one unit
        let mut runs: Vec<(&str, usize, usize)> = units
            .iter()
            .enumerate()
            .flat_map(|(ui, u)| (0..u.runs()).map(move |k| (u.id(k), ui, k)))
            .collect();
        runs.par_sort_by(|a, b| a.0.cmp(b.0));
        let mut merged = Unit {
            rows: Vec::with_capacity(units.iter().map(|u| u.rows.len()).sum()),
            ..Default::default()
        };
        for (k, &(id, ui, run)) in runs.iter().enumerate() {
            if k == 0 || runs[k - 1].0 != id {
                merged.start_run(id);
            }
            merged.rows.extend_from_slice(units[ui].run(run));
        }
        units = vec![merged];
        skip = vec![0];
    }
    // each unit's customers get their rows of the summary columns, filled in parallel
    let counts: Vec<usize> = units
        .par_iter()
        .zip(&skip)
        .map(|(u, &k)| u.customers(k, cal_end).count())
        .collect();
    let n: usize = counts.iter().sum();
    let holdout_n = if per.holdout { n } else { 0 };
    let mut s = Summary {
        calibration_end: cal_end,
        time_unit: params.time_unit,
        frequency: vec![0.0; n],
        recency: vec![0.0; n],
        t: vec![0.0; n],
        monetary_value: vec![0.0; n],
        first_day: vec![0; n],
        ..Default::default()
    };
    let mut holdout = params.holdout_end.map(|h| Holdout {
        end: h,
        duration: (h - cal_end) as f64 / unit,
        frequency: vec![0.0; holdout_n],
        spend: vec![0.0; holdout_n],
    });
    let (mut no_f, mut no_s) = (Vec::new(), Vec::new());
    let (hf, hs) = match holdout.as_mut() {
        Some(h) => (&mut h.frequency, &mut h.spend),
        None => (&mut no_f, &mut no_s),
    };
    let outs: Vec<Out> = split_by(&mut s.frequency, &counts)
        .into_iter()
        .zip(split_by(&mut s.recency, &counts))
        .zip(split_by(&mut s.t, &counts))
        .zip(split_by(&mut s.monetary_value, &counts))
        .zip(split_by(&mut s.first_day, &counts))
        .zip(split_by(hf, &counts))
        .zip(split_by(hs, &counts))
        .map(
            |((((((frequency, recency), t), monetary_value), first_day), hf), hs)| Out {
                frequency,
                recency,
                t,
                monetary_value,
                first_day,
                holdout_frequency: hf,
                holdout_spend: hs,
            },
        )
        .collect();
    let parts: Vec<((String, Vec<usize>), DailyPurchases)> = outs
        .into_par_iter()
        .zip(&units)
        .zip(&skip)
        .map(|((mut out, u), &k)| {
            let (mut ids, mut ends) = (String::new(), Vec::with_capacity(out.frequency.len()));
            let mut scratch = Vec::new();
            for (i, run) in u.customers(k, cal_end).enumerate() {
                out.put(i, u.run(run), &mut scratch, &per);
                ids.push_str(u.id(run));
                ends.push(ids.len());
            }
            // every customer of the period, also those who first bought after the calibration
            let mut daily = DailyPurchases::default();
            for run in k..u.runs() {
                daily.count(sorted_by_day(u.run(run), &mut scratch));
            }
            ((ids, ends), daily)
        })
        .collect();
    let mut ids = Vec::with_capacity(parts.len());
    for (part, daily) in parts {
        ids.push(part);
        s.daily.add(&daily);
    }
    // the series runs to the end of the period summarised, also through days without purchases
    let last = params.holdout_end.unwrap_or(cal_end);
    if !s.daily.first.is_empty() {
        let len = (last - s.daily.start + 1).max(0) as usize;
        if len > s.daily.first.len() {
            s.daily.first.resize(len, 0);
            s.daily.repeat.resize(len, 0);
        }
    }
    s.customer_id = concat_ids(ids)?;
    progress.finish();
    s.holdout = holdout;
    let in_summary = s
        .customer_id
        .iter()
        .flatten()
        .filter(|id| not_purchase_ids.contains(*id))
        .count();
    s.left_out = LeftOut {
        rows: not_purchase_rows,
        customers: (not_purchase_ids.len() - in_summary) as u64,
    };
    if s.is_empty() {
        return Err(Error::Data(format!(
            "{}: no purchase rows ({}) on or before the calibration end {}",
            tx.path.display(),
            params.purchases.describe(),
            format_date(cal_end)
        )));
    }
    Ok(s)
}

/// `f(acc, i)` for i in 0..n accumulated in fixed blocks of `block` indices, the block sums added
/// in block order: the same bits at any number of threads (rayon's fold/reduce would split the
/// work, and so round, differently per thread count).
pub(crate) fn block_fold<const N: usize>(
    n: usize,
    block: usize,
    f: impl Fn(&mut [f64; N], usize) + Sync,
) -> [f64; N] {
    use rayon::prelude::*;
    let b_len = block.max(1);
    let parts: Vec<[f64; N]> = (0..n.div_ceil(b_len))
        .into_par_iter()
        .map(|b| {
            let mut s = [0.0; N];
            for i in b * b_len..((b + 1) * b_len).min(n) {
                f(&mut s, i);
            }
            s
        })
        .collect();
    let mut total = [0.0; N];
    for p in parts {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

/// The distinct values of `x` (sorted) and the index of each value among them: the lnΓ and ψ
/// terms of the likelihoods depend on x only and are computed once per distinct value.
pub(crate) fn distinct_index(x: &[f64]) -> (Vec<f64>, Vec<u32>) {
    // ids in order of first appearance (one hash probe per value; the values are few), then
    // renumbered in ascending order of value
    let mut seen: hashbrown::HashMap<u64, u32, foldhash::fast::FixedState> =
        hashbrown::HashMap::with_capacity_and_hasher(256, Default::default());
    let mut first: Vec<f64> = Vec::new();
    let ids: Vec<u32> = x
        .iter()
        .map(|&v| {
            // +0.0 and -0.0 are one value
            let v = if v == 0.0 { 0.0 } else { v };
            *seen.entry(v.to_bits()).or_insert_with(|| {
                first.push(v);
                (first.len() - 1) as u32
            })
        })
        .collect();
    let mut order: Vec<u32> = (0..first.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| first[a as usize].total_cmp(&first[b as usize]));
    let mut rank = vec![0u32; first.len()];
    for (r, &id) in order.iter().enumerate() {
        rank[id as usize] = r as u32;
    }
    let distinct = order.iter().map(|&id| first[id as usize]).collect();
    (distinct, ids.iter().map(|&id| rank[id as usize]).collect())
}

/// Checks model inputs: equal lengths, finite, frequency a whole number >= 0,
/// 0 <= recency <= T; names the first bad customer (by position).
pub(crate) fn check_inputs(frequency: &[f64], recency: &[f64], t: &[f64]) -> Result<()> {
    if frequency.len() != recency.len() || frequency.len() != t.len() {
        return Err(Error::Config(
            "frequency, recency and T differ in length".into(),
        ));
    }
    if frequency.is_empty() {
        return Err(Error::Data("no customers to fit".into()));
    }
    let bad = |i: usize| {
        let (x, tx, tt) = (frequency[i], recency[i], t[i]);
        !(x.is_finite() && tx.is_finite() && tt.is_finite())
            || x < 0.0
            || x.fract() != 0.0
            || tx < 0.0
            || tx > tt + 1e-9
            || (x == 0.0 && tx != 0.0)
    };
    match (0..frequency.len()).into_par_iter().find_first(|&i| bad(i)) {
        Some(i) => {
            let (x, tx, tt) = (frequency[i], recency[i], t[i]);
            Err(Error::Data(format!(
                "customer #{}: frequency {x}, recency {tx}, T {tt}: need a whole frequency >= 0, 0 <= recency <= T, and recency 0 when frequency is 0",
                i + 1
            )))
        }
        None => Ok(()),
    }
}

/// Per-customer predictions of fitted models.
#[derive(Debug, Clone, Default)]
pub struct Predictions {
    /// P(alive) per customer.
    pub p_alive: Vec<f64>,
    /// Expected repeat purchases in the next `horizon` time units.
    pub expected_purchases: Vec<f64>,
    /// Expected order value per customer (Gamma-Gamma).
    pub expected_order_value: Vec<f64>,
    /// CLV over `months` months, discounted monthly (lifetimes `customer_lifetime_value`).
    pub clv: Vec<f64>,
}

/// Parameters of [`predict`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictParams {
    /// Horizon of `expected_purchases`, in time units (52 weeks by default).
    pub horizon: f64,
    /// CLV horizon in months.
    pub clv_months: u32,
    /// Monthly discount rate of the CLV.
    pub discount_rate: f64,
}

impl Default for PredictParams {
    fn default() -> Self {
        PredictParams {
            horizon: 52.0,
            clv_months: 12,
            discount_rate: 0.01,
        }
    }
}

/// Predictions for every customer of the summary. CLV follows lifetimes: for each month
/// i = 1..months, (expected purchases by month i - by month i-1) x expected order value /
/// (1 + discount)^i, with months of 4.345 weeks or 30 days.
pub fn predict(
    s: &Summary,
    bg: &dyn TransactionModel,
    gg: &gamma_gamma::GammaGamma,
    p: &PredictParams,
) -> Predictions {
    predict_with_holdout(s, &Pairs::of(s), bg, gg, p, None).0
}

/// The horizons of the predictions: the CLV's month ends, the horizon, and the holdout length
/// when there is one (one pass of the series for all of them).
fn prediction_horizons(unit: TimeUnit, p: &PredictParams, holdout: Option<f64>) -> Vec<f64> {
    let per_month = unit.per_month();
    (1..=p.clv_months)
        .map(|month| month as f64 * per_month)
        .chain([p.horizon])
        .chain(holdout)
        .collect()
}

/// Per distinct (x, T) of `pairs`, at the horizons of the predictions: G at the horizon, the
/// discounted CLV sum, and G over the holdout (0 without one).
pub(crate) fn pair_tables(
    unit: TimeUnit,
    pairs: &Pairs,
    bg: &dyn TransactionModel,
    p: &PredictParams,
    holdout: Option<f64>,
) -> Vec<[f64; 3]> {
    let months = p.clv_months as usize;
    let g = IfAlive::of(pairs, bg, &prediction_horizons(unit, p, holdout));
    let discounted = g.discounted(months, p.discount_rate);
    g.values
        .chunks(g.width)
        .zip(discounted)
        .map(|(row, d)| [row[months], d, row.get(months + 1).copied().unwrap_or(0.0)])
        .collect()
}

impl Pairs {
    /// Customer i's index among the distinct pairs.
    pub(crate) fn of_customer(&self, i: usize) -> usize {
        self.pair[i] as usize
    }
}

/// [`predict`], and with `holdout` (a length in time units) each customer's expected purchases
/// over it too, from the same pass.
pub(crate) fn predict_with_holdout(
    s: &Summary,
    pairs: &Pairs,
    bg: &dyn TransactionModel,
    gg: &gamma_gamma::GammaGamma,
    p: &PredictParams,
    holdout: Option<f64>,
) -> (Predictions, Vec<f64>) {
    let horizons = prediction_horizons(s.time_unit, p, holdout);
    let months = p.clv_months as usize;
    let g = IfAlive::of(pairs, bg, &horizons);
    let discounted = g.discounted(months, p.discount_rate);
    // each column written in place, in parallel
    let n = s.len();
    let mut out = Predictions {
        p_alive: vec![0.0; n],
        expected_purchases: vec![0.0; n],
        expected_order_value: vec![0.0; n],
        clv: vec![0.0; n],
    };
    out.p_alive
        .par_iter_mut()
        .zip(&mut out.expected_purchases)
        .zip(&mut out.expected_order_value)
        .zip(&mut out.clv)
        .enumerate()
        .for_each(|(i, (((alive, expected), value), clv))| {
            let (x, tx, t) = (s.frequency[i], s.recency[i], s.t[i]);
            *value = gg.expected_order_value(x, s.monetary_value[i]);
            *alive = bg.p_alive(x, tx, t);
            *expected = *alive * g.row(i)[months];
            *clv = *value * *alive * discounted[g.pairs.pair[i] as usize];
        });
    let held = match holdout {
        Some(_) => (0..n)
            .into_par_iter()
            .map(|i| out.p_alive[i] * g.row(i)[months + 1])
            .collect(),
        None => Vec::new(),
    };
    (out, held)
}

impl Summary {
    /// The summary and predictions as one batch: `customer_id, frequency, recency, T,
    /// monetary_value, p_alive, expected_purchases, expected_order_value, clv`, and with a
    /// scorecard `frequency_holdout, spend_holdout, predicted_purchases_holdout,
    /// predicted_spend_holdout`.
    pub fn to_record_batch(
        &self,
        pred: &Predictions,
        card: Option<&Scorecard>,
    ) -> Result<arrow_array::RecordBatch> {
        use arrow_array::{ArrayRef, Float64Array};
        use arrow_schema::{Field, Schema};
        use std::sync::Arc;
        let col = |v: &[f64]| -> ArrayRef { Arc::new(Float64Array::from(v.to_vec())) };
        let mut cols: Vec<(&str, ArrayRef)> = vec![
            ("customer_id", Arc::new(self.customer_id.clone())),
            ("frequency", col(&self.frequency)),
            ("recency", col(&self.recency)),
            ("T", col(&self.t)),
            ("monetary_value", col(&self.monetary_value)),
            ("p_alive", col(&pred.p_alive)),
            ("expected_purchases", col(&pred.expected_purchases)),
            ("expected_order_value", col(&pred.expected_order_value)),
            ("clv", col(&pred.clv)),
        ];
        if let (Some(h), Some(c)) = (&self.holdout, card) {
            cols.push(("frequency_holdout", col(&h.frequency)));
            cols.push(("spend_holdout", col(&h.spend)));
            cols.push(("predicted_purchases_holdout", col(&c.predicted_purchases)));
            cols.push(("predicted_spend_holdout", col(&c.predicted_spend)));
        }
        let schema = Schema::new(
            cols.iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
                .collect::<Vec<_>>(),
        );
        arrow_array::RecordBatch::try_new(
            Arc::new(schema),
            cols.into_iter().map(|(_, a)| a).collect(),
        )
        .map_err(|e| Error::Data(format!("building the clv batch: {e}")))
    }
}

/// Accuracy of predictions against what happened.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Accuracy {
    /// Mean absolute error per customer.
    pub mae: f64,
    /// Root mean squared error per customer.
    pub rmse: f64,
    /// Sum over customers of the prediction.
    pub total_predicted: f64,
    /// Sum over customers of what happened.
    pub total_actual: f64,
    /// Pearson correlation of predicted and actual over customers.
    pub correlation: f64,
}

impl Accuracy {
    fn of(predicted: &[f64], actual: &[f64]) -> Accuracy {
        let n = predicted.len().max(1) as f64;
        let (mut ae, mut se) = (0.0, 0.0);
        for (p, a) in predicted.iter().zip(actual) {
            ae += (p - a).abs();
            se += (p - a) * (p - a);
        }
        Accuracy {
            mae: ae / n,
            rmse: (se / n).sqrt(),
            total_predicted: predicted.iter().sum(),
            total_actual: actual.iter().sum(),
            correlation: gamma_gamma::pearson(predicted, actual),
        }
    }
}

/// One row of the calibration-frequency table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FrequencyRow {
    /// Repeat purchases in the calibration period: "0" .. "6", "7+".
    pub calibration_frequency: String,
    /// Customers in the group.
    pub customers: u64,
    /// Holdout purchases they made.
    pub actual_purchases: f64,
    /// Holdout purchases predicted for them.
    pub predicted_purchases: f64,
    /// Holdout spend they made.
    pub actual_spend: f64,
    /// Holdout spend predicted for them.
    pub predicted_spend: f64,
}

/// Holdout evaluation: the models fitted on the calibration period predict the holdout period.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scorecard {
    /// Last day of the holdout period (YYYY-MM-DD).
    pub holdout_end: String,
    /// Holdout length in time units.
    pub duration: f64,
    /// Calibration customers scored.
    pub customers: u64,
    /// Purchase days predicted by BG/NBD vs purchase days observed.
    pub purchases: Accuracy,
    /// Spend predicted (expected purchases x Gamma-Gamma order value) vs observed.
    pub spend: Accuracy,
    /// Mean actual vs predicted per calibration frequency (0..6, 7+), the usual calibration plot.
    pub by_calibration_frequency: Vec<FrequencyRow>,
    /// Per customer, in summary order.
    #[serde(skip)]
    pub predicted_purchases: Vec<f64>,
    #[serde(skip)]
    /// Predicted holdout spend per customer.
    pub predicted_spend: Vec<f64>,
}

/// Scores the holdout period of `s` (built with a `holdout_end`); `None` without one.
pub fn scorecard(
    s: &Summary,
    bg: &dyn TransactionModel,
    gg: &gamma_gamma::GammaGamma,
) -> Option<Scorecard> {
    let h = s.holdout.as_ref()?;
    let pairs = Pairs::of(s);
    let g = IfAlive::of(&pairs, bg, &[h.duration]);
    let pred: Vec<(f64, f64)> = (0..s.len())
        .into_par_iter()
        .map(|i| {
            let (x, tx, t) = (s.frequency[i], s.recency[i], s.t[i]);
            let e = bg.p_alive(x, tx, t) * g.row(i)[0];
            (e, e * gg.expected_order_value(x, s.monetary_value[i]))
        })
        .collect();
    let pp: Vec<f64> = pred.iter().map(|p| p.0).collect();
    let ps: Vec<f64> = pred.iter().map(|p| p.1).collect();
    let mut rows: Vec<FrequencyRow> = (0..8)
        .map(|k| FrequencyRow {
            calibration_frequency: if k == 7 { "7+".into() } else { k.to_string() },
            customers: 0,
            actual_purchases: 0.0,
            predicted_purchases: 0.0,
            actual_spend: 0.0,
            predicted_spend: 0.0,
        })
        .collect();
    for i in 0..s.len() {
        let r = &mut rows[(s.frequency[i] as usize).min(7)];
        r.customers += 1;
        r.actual_purchases += h.frequency[i];
        r.predicted_purchases += pp[i];
        r.actual_spend += h.spend[i];
        r.predicted_spend += ps[i];
    }
    for r in rows.iter_mut().filter(|r| r.customers > 0) {
        let n = r.customers as f64;
        r.actual_purchases /= n;
        r.predicted_purchases /= n;
        r.actual_spend /= n;
        r.predicted_spend /= n;
    }
    rows.retain(|r| r.customers > 0);
    Some(Scorecard {
        holdout_end: format_date(h.end),
        duration: h.duration,
        customers: s.len() as u64,
        purchases: Accuracy::of(&pp, &h.frequency),
        spend: Accuracy::of(&ps, &h.spend),
        by_calibration_frequency: rows,
        predicted_purchases: pp,
        predicted_spend: ps,
    })
}

/// Fits of one segment in [`fit_by_segment`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentFit {
    /// The segment's name.
    pub segment: String,
    /// Customers in it.
    pub customers: usize,
    /// Its BG/NBD fit (`None` when it could not be fitted).
    pub bgnbd: Option<bgnbd::BgNbd>,
    /// Its Gamma-Gamma fit (`None` when it could not be fitted).
    pub gamma_gamma: Option<gamma_gamma::GammaGamma>,
    /// Why a model could not be fitted on this segment.
    pub errors: Vec<String>,
}

/// Pooled vs per-segment log-likelihood of one model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PooledVsSegments {
    /// Log-likelihood of the pooled fit.
    pub pooled_log_likelihood: f64,
    /// Sum over the segments that could be fitted (the pooled value is recomputed on the same
    /// customers).
    pub segments_log_likelihood: f64,
    /// Likelihood-ratio statistic 2 (segments - pooled) and its chi-square p-value with
    /// `df` = parameters x (segments - 1).
    pub lr_statistic: f64,
    /// Degrees of freedom of the likelihood-ratio test.
    pub df: u32,
    /// p-value of the likelihood-ratio test (segments vs pooled).
    pub p_value: f64,
    /// AIC of the pooled fit.
    pub aic_pooled: f64,
    /// AIC of the per-segment fits together.
    pub aic_segments: f64,
    /// "per-segment" when the split lowers the AIC, else "pooled".
    pub better: String,
}

/// Per-segment BG/NBD and Gamma-Gamma fits compared with the pooled fits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BySegment {
    /// Per segment, its fits.
    pub segments: Vec<SegmentFit>,
    /// BG/NBD: pooled vs per segment.
    pub bgnbd: Option<PooledVsSegments>,
    /// Gamma-Gamma: pooled vs per segment.
    pub gamma_gamma: Option<PooledVsSegments>,
}

fn compare(pooled: f64, segs: f64, params: u32, k: u32) -> PooledVsSegments {
    let lr = (2.0 * (segs - pooled)).max(0.0);
    let df = params * k.saturating_sub(1);
    let (aic_p, aic_s) = (
        2.0 * params as f64 - 2.0 * pooled,
        2.0 * (params * k) as f64 - 2.0 * segs,
    );
    PooledVsSegments {
        pooled_log_likelihood: pooled,
        segments_log_likelihood: segs,
        lr_statistic: lr,
        df,
        p_value: if df > 0 {
            crate::stats::chi2_sf(lr, df as f64)
        } else {
            1.0
        },
        aic_pooled: aic_p,
        aic_segments: aic_s,
        better: if aic_s < aic_p {
            "per-segment"
        } else {
            "pooled"
        }
        .into(),
    }
}

/// Fits BG/NBD and Gamma-Gamma on each segment (`labels[i]` indexes `names`; `None` = left out)
/// and compares the per-segment fits with the pooled ones `bg` and `gg` (likelihood ratio, AIC).
/// A segment a model cannot be fitted on (e.g. no repeat buyers) is reported and left out of
/// that model's comparison.
pub fn fit_by_segment(
    s: &Summary,
    labels: &[Option<u32>],
    names: &[String],
    bg: &bgnbd::BgNbd,
    gg: &gamma_gamma::GammaGamma,
    penalizer: f64,
) -> BySegment {
    let mut fits = Vec::new();
    let (mut bg_seg, mut bg_pool, mut bg_k) = (0.0, 0.0, 0u32);
    let (mut gg_seg, mut gg_pool, mut gg_k) = (0.0, 0.0, 0u32);
    for (k, name) in names.iter().enumerate() {
        let idx: Vec<usize> = (0..s.len())
            .filter(|&i| labels[i] == Some(k as u32))
            .collect();
        let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        let (x, tx, t, m) = (
            pick(&s.frequency),
            pick(&s.recency),
            pick(&s.t),
            pick(&s.monetary_value),
        );
        let mut fit = SegmentFit {
            segment: name.clone(),
            customers: idx.len(),
            bgnbd: None,
            gamma_gamma: None,
            errors: Vec::new(),
        };
        if idx.is_empty() {
            fits.push(fit);
            continue;
        }
        match bgnbd::BgNbd::fit_variant(bg.variant, &x, &tx, &t, penalizer) {
            Ok(f) => {
                bg_seg += f.log_likelihood;
                bg_pool += bg.log_likelihood_of(&x, &tx, &t);
                bg_k += 1;
                fit.bgnbd = Some(f);
            }
            Err(e) => fit.errors.push(format!("BG/NBD: {e}")),
        }
        match gamma_gamma::GammaGamma::fit(&x, &m, penalizer) {
            Ok(f) => {
                gg_seg += f.log_likelihood;
                gg_pool += gg.log_likelihood_of(&x, &m);
                gg_k += 1;
                fit.gamma_gamma = Some(f);
            }
            Err(e) => fit.errors.push(format!("Gamma-Gamma: {e}")),
        }
        fits.push(fit);
    }
    BySegment {
        segments: fits,
        bgnbd: (bg_k > 0).then(|| compare(bg_pool, bg_seg, 4, bg_k)),
        gamma_gamma: (gg_k > 0).then(|| compare(gg_pool, gg_seg, 3, gg_k)),
    }
}
