//! Segment profiles: size and revenue per segment, the distribution of behavioural and
//! demographic features in each, premium composition, which features differ most between
//! segments, and the actions of each segment.
//!
//! ```no_run
//! use segmint::data::{customers::Attributes, ColumnMap, Inputs, TableKind};
//! use segmint::mart::{build_mart, MartParams};
//! use segmint::progress::NoProgress;
//! use segmint::segment::{profile, rfm, rules::RuleSet, RfmParams};
//!
//! let inputs = Inputs::from_dir("data".as_ref());
//! let tx = inputs.open(TableKind::Transactions, &ColumnMap::new())?;
//! let customers = inputs.open(TableKind::Customers, &ColumnMap::new())?;
//! let rules = RuleSet::builtin("standard").unwrap();
//! let mart = build_mart(&tx, &MartParams::default(), &NoProgress)?;
//! let r = rfm(mart, Some(&customers), &rules, &RfmParams::default(), &NoProgress)?;
//! let attrs = Attributes::load(&customers, profile::PROFILE_ATTRIBUTES, &NoProgress)?;
//! let p = profile::profile(&r.segment_names, &r.segment, &r.mart, Some(&attrs), &rules.actions());
//! print!("{}", p.to_markdown());
//! # Ok::<(), segmint::Error>(())
//! ```
//!
//! Quartiles are linear interpolations between order statistics (numpy's and pandas' default).
//! Missing values (a customer absent from the customers file, a null attribute) are left out of
//! that feature's numbers; `count` says how many values remain.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::customers::{AttrColumn, Attributes};
use crate::error::{Error, Result};
use crate::mart::Mart;
use crate::stats::{kruskal_wallis, summarize, KruskalWallis, Summary};

/// Demographic features (customer attributes).
pub const DEMOGRAPHIC: &[&str] = &["age", "income", "credit_score"];
/// Behavioural features (customer attributes and mart columns).
pub const BEHAVIOURAL: &[&str] = &[
    "recency_days",
    "frequency",
    "monetary",
    "loyalty_points",
    "support_tickets",
];
/// The features a profile takes from the mart; a customer column of the same name is shown as
/// `customers.NAME`.
const MART_FEATURES: [&str; 3] = ["recency_days", "frequency", "monetary"];
/// The customer attributes a profile reads (load them with [`Attributes::load`]).
pub const PROFILE_ATTRIBUTES: &[&str] = &[
    "age",
    "income",
    "credit_score",
    "loyalty_points",
    "support_tickets",
    "premium",
];

/// The customer attributes of a profile: every column of the customers file, dates counted
/// back from the mart's reference day.
pub fn load_attributes(
    customers: &crate::data::reader::TableReader,
    mart: &Mart,
    progress: &dyn crate::progress::Progress,
) -> Result<Attributes> {
    Attributes::load_all(customers, Some(mart.ref_day), progress)
}

/// The profile of a segmentation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    /// Customers with a segment.
    pub customers: u64,
    /// Sum of `monetary` (net spend) over them.
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub revenue: f64,
    /// Mart customers without a segment (left out of everything else).
    pub unassigned: u64,
    /// Per segment, in order.
    pub segments: Vec<SegmentProfile>,
    /// Features ranked by how much they differ between segments (epsilon², largest first).
    pub feature_ranking: Vec<FeatureTest>,
}

/// One segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentProfile {
    /// The segment's name.
    pub segment: String,
    /// Its customers.
    pub customers: u64,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    /// Its share of the customers.
    pub share: f64,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    /// Its revenue (net spend).
    pub revenue: f64,
    #[serde(deserialize_with = "crate::output::nan::f64")]
    /// Its share of the revenue.
    pub revenue_share: f64,
    /// `None` without a `premium` attribute.
    pub premium: Option<Composition>,
    /// Behavioural features.
    pub behavioural: Vec<FeatureSummary>,
    /// Demographic features.
    pub demographic: Vec<FeatureSummary>,
    /// Every other numeric, boolean (share of true) or date (days before the reference date)
    /// column of the customers file, by its own name.
    #[serde(default)]
    pub other: Vec<FeatureSummary>,
    /// The segment's actions from the rule set.
    pub actions: Vec<String>,
}

/// The feature groups of a profile with their titles, in display order.
pub const GROUPS: [(&str, &str); 3] = [
    ("behavioural", "Behaviour"),
    ("demographic", "Demographics"),
    ("other", "Other customer attributes"),
];

impl SegmentProfile {
    /// The features of one of [`GROUPS`].
    pub fn group(&self, group: &str) -> &[FeatureSummary] {
        match group {
            "behavioural" => &self.behavioural,
            "demographic" => &self.demographic,
            _ => &self.other,
        }
    }
}

/// Premium vs non-premium customers of a segment.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Composition {
    /// Premium customers.
    pub premium: u64,
    /// Customers not premium.
    pub not_premium: u64,
    /// Not in the customers file, or null.
    pub unknown: u64,
    /// premium / (premium + not_premium); `NaN` when both are 0.
    #[serde(deserialize_with = "crate::output::nan::f64")]
    pub premium_share: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
/// The distribution of one feature in one segment.
pub struct FeatureSummary {
    /// The feature.
    pub feature: String,
    #[serde(flatten)]
    /// Count, quartiles and mean.
    pub summary: Summary,
}

/// Kruskal–Wallis test of one feature across the segments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureTest {
    /// The feature.
    pub feature: String,
    /// `behavioural`, `demographic` or `other`.
    pub group: String,
    #[serde(flatten)]
    /// Kruskal-Wallis test across segments.
    pub test: KruskalWallis,
}

/// A feature's values for every mart customer (`NaN` = missing).
fn feature_values(
    name: &str,
    mart: &Mart,
    attrs: Option<&Attributes>,
    rows: Option<&[Option<u32>]>,
) -> Option<Vec<f64>> {
    let ints = |v: &[i64]| v.iter().map(|&x| x as f64).collect();
    match name {
        "recency_days" => Some(ints(&mart.recency_days)),
        "frequency" => Some(ints(&mart.frequency)),
        "monetary" => Some(mart.monetary.clone()),
        _ => {
            let attrs = attrs?;
            let col = attrs
                .column(name)
                .or_else(|| attrs.column(name.strip_prefix("customers.")?))?;
            col.numbers(rows?)
        }
    }
}

/// Profiles the segmentation `segment` (index into `names`, per mart customer) of `mart`.
/// `attrs` should hold [`PROFILE_ATTRIBUTES`]; features it lacks are left out. `actions` maps
/// segment names to their actions (e.g. [`crate::segment::rules::RuleSet::actions`]).
pub fn profile(
    names: &[String],
    segment: &[Option<u32>],
    mart: &Mart,
    attrs: Option<&Attributes>,
    actions: &BTreeMap<String, Vec<String>>,
) -> Profile {
    let k = names.len();
    let rows = attrs.map(|a| a.rows_for(&mart.customer_id));
    let rows = rows.as_deref();
    // members of each segment (mart row indices)
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); k];
    let mut unassigned = 0u64;
    for (i, s) in segment.iter().enumerate() {
        match s {
            Some(s) => members[*s as usize].push(i as u32),
            None => unassigned += 1,
        }
    }
    let cents = |i: u32| (mart.monetary[i as usize] * 100.0).round() as i128;
    let revenue_cents: Vec<i128> = members
        .iter()
        .map(|m| m.iter().map(|&i| cents(i)).sum())
        .collect();
    let total_cents: i128 = revenue_cents.iter().sum();
    let customers: u64 = members.iter().map(|m| m.len() as u64).sum();

    let other = attrs
        .map(|a| {
            a.columns
                .iter()
                .filter(|(n, c)| {
                    !matches!(c, AttrColumn::Str(..)) && !PROFILE_ATTRIBUTES.contains(&n.as_str())
                })
                .map(|(n, _)| {
                    if MART_FEATURES.contains(&n.as_str()) {
                        format!("customers.{n}")
                    } else {
                        n.clone()
                    }
                })
                .collect::<Vec<String>>()
        })
        .unwrap_or_default();
    let features: Vec<(&str, &str)> = BEHAVIOURAL
        .iter()
        .map(|f| (*f, "behavioural"))
        .chain(DEMOGRAPHIC.iter().map(|f| (*f, "demographic")))
        .chain(other.iter().map(|f| (f.as_str(), "other")))
        .collect();
    // per feature: values, per-segment summaries, and the test
    type Computed = (Vec<Summary>, Option<KruskalWallis>);
    let computed: Vec<Option<Computed>> = features
        .par_iter()
        .map(|(f, _)| {
            let v = feature_values(f, mart, attrs, rows)?;
            let sums = members
                .iter()
                .map(|m| summarize(&m.iter().map(|&i| v[i as usize]).collect::<Vec<f64>>()))
                .collect();
            Some((sums, kruskal_wallis(&v, segment, k)))
        })
        .collect();

    let premium = attrs
        .and_then(|a| a.column("premium"))
        .and_then(|c| match c {
            AttrColumn::Bool(v) => Some(v),
            _ => None,
        });
    let segments = (0..k)
        .map(|s| {
            let summaries = |group: &str| -> Vec<FeatureSummary> {
                features
                    .iter()
                    .zip(&computed)
                    .filter(|((_, g), c)| *g == group && c.is_some())
                    .map(|((f, _), c)| FeatureSummary {
                        feature: f.to_string(),
                        summary: c.as_ref().expect("filtered").0[s],
                    })
                    .collect()
            };
            let composition = match (premium, rows) {
                (Some(p), Some(rows)) => {
                    let (mut yes, mut no, mut unknown) = (0u64, 0u64, 0u64);
                    for &i in &members[s] {
                        match rows[i as usize].and_then(|r| p[r as usize]) {
                            Some(true) => yes += 1,
                            Some(false) => no += 1,
                            None => unknown += 1,
                        }
                    }
                    Some(Composition {
                        premium: yes,
                        not_premium: no,
                        unknown,
                        premium_share: if yes + no == 0 {
                            f64::NAN
                        } else {
                            yes as f64 / (yes + no) as f64
                        },
                    })
                }
                _ => None,
            };
            let n = members[s].len() as u64;
            SegmentProfile {
                segment: names[s].clone(),
                customers: n,
                share: if customers == 0 {
                    0.0
                } else {
                    n as f64 / customers as f64
                },
                revenue: revenue_cents[s] as f64 / 100.0,
                revenue_share: if total_cents == 0 {
                    0.0
                } else {
                    revenue_cents[s] as f64 / total_cents as f64
                },
                premium: composition,
                behavioural: summaries("behavioural"),
                demographic: summaries("demographic"),
                other: summaries("other"),
                actions: actions.get(&names[s]).cloned().unwrap_or_default(),
            }
        })
        .collect();

    let mut feature_ranking: Vec<FeatureTest> = features
        .iter()
        .zip(&computed)
        .filter_map(|((f, g), c)| {
            c.as_ref()?.1.map(|t| FeatureTest {
                feature: f.to_string(),
                group: g.to_string(),
                test: t,
            })
        })
        .collect();
    feature_ranking.sort_by(|a, b| b.test.epsilon_squared.total_cmp(&a.test.epsilon_squared));
    Profile {
        customers,
        revenue: total_cents as f64 / 100.0,
        unassigned,
        segments,
        feature_ranking,
    }
}

fn fmt_num(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else if x.abs() >= 1000.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// Escapes a value for a Markdown table cell.
fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
}

impl Profile {
    /// The profile as Markdown tables (segments, behavioural, demographic, feature ranking,
    /// actions).
    pub fn to_markdown(&self) -> String {
        let mut o = String::new();
        o.push_str("## Segments\n\n| segment | customers | share | revenue | revenue share | premium |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
        for s in &self.segments {
            let premium = s
                .premium
                .map(|c| {
                    if c.premium_share.is_nan() {
                        "–".to_string()
                    } else {
                        format!("{:.1}%", 100.0 * c.premium_share)
                    }
                })
                .unwrap_or_else(|| "–".into());
            o.push_str(&format!(
                "| {} | {} | {:.1}% | {:.2} | {:.1}% | {} |\n",
                md_cell(&s.segment),
                s.customers,
                100.0 * s.share,
                s.revenue,
                100.0 * s.revenue_share,
                premium
            ));
        }
        for (group, title) in GROUPS {
            let feats: Vec<&str> = self
                .segments
                .first()
                .map(|s| s.group(group).iter().map(|f| f.feature.as_str()).collect())
                .unwrap_or_default();
            if feats.is_empty() {
                continue;
            }
            o.push_str(&format!(
                "\n## {title}: median [q25, q75] (mean)\n\n| segment | {} |\n| --- |{}\n",
                feats
                    .iter()
                    .map(|f| md_cell(f))
                    .collect::<Vec<_>>()
                    .join(" | "),
                " ---: |".repeat(feats.len())
            ));
            for s in &self.segments {
                let cells: Vec<String> = s
                    .group(group)
                    .iter()
                    .map(|f| {
                        let m = &f.summary;
                        format!(
                            "{} [{}, {}] ({})",
                            fmt_num(m.median),
                            fmt_num(m.q25),
                            fmt_num(m.q75),
                            fmt_num(m.mean)
                        )
                    })
                    .collect();
                o.push_str(&format!(
                    "| {} | {} |\n",
                    md_cell(&s.segment),
                    cells.join(" | ")
                ));
            }
        }
        if !self.feature_ranking.is_empty() {
            o.push_str("\n## What differs most between segments (Kruskal–Wallis)\n\n| rank | feature | group | H | p-value | effect ε² |\n| ---: | --- | --- | ---: | ---: | ---: |\n");
            for (i, t) in self.feature_ranking.iter().enumerate() {
                // below the smallest double the tail underflows to 0
                let p = if t.test.p_value > 0.0 {
                    format!("{:.3e}", t.test.p_value)
                } else {
                    "< 1e-300".to_string()
                };
                o.push_str(&format!(
                    "| {} | {} | {} | {:.1} | {p} | {:.3} |\n",
                    i + 1,
                    t.feature,
                    t.group,
                    t.test.h,
                    t.test.epsilon_squared
                ));
            }
        }
        if self.segments.iter().any(|s| !s.actions.is_empty()) {
            o.push_str("\n## Actions\n\n");
            for s in self.segments.iter().filter(|s| !s.actions.is_empty()) {
                o.push_str(&format!(
                    "* **{}**: {}\n",
                    md_cell(&s.segment),
                    s.actions.join("; ")
                ));
            }
        }
        if self.unassigned > 0 {
            o.push_str(&format!(
                "\n{} customers have no segment and are left out.\n",
                self.unassigned
            ));
        }
        o
    }

    /// One row per segment: `segment, customers, share, revenue, revenue_share,
    /// premium_share`.
    pub fn segments_batch(&self) -> Result<RecordBatch> {
        let s = &self.segments;
        let f64s = |f: &dyn Fn(&SegmentProfile) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from_iter_values(s.iter().map(f)))
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("segment", DataType::Utf8, false),
            Field::new("customers", DataType::UInt64, false),
            Field::new("share", DataType::Float64, false),
            Field::new("revenue", DataType::Float64, false),
            Field::new("revenue_share", DataType::Float64, false),
            Field::new("premium_share", DataType::Float64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(
                    s.iter().map(|x| x.segment.as_str()),
                )),
                Arc::new(UInt64Array::from_iter_values(s.iter().map(|x| x.customers))),
                f64s(&|x| x.share),
                f64s(&|x| x.revenue),
                f64s(&|x| x.revenue_share),
                Arc::new(Float64Array::from_iter(s.iter().map(|x| {
                    x.premium.map(|c| c.premium_share).filter(|v| !v.is_nan())
                }))),
            ],
        )
        .map_err(|e| Error::Data(format!("building the profile batch: {e}")))
    }

    /// One row per segment and feature: `segment, group, feature, count, mean, q25, median,
    /// q75, min, max`.
    pub fn features_batch(&self) -> Result<RecordBatch> {
        let mut seg = Vec::new();
        let mut group = Vec::new();
        let mut rows: Vec<(&str, &Summary)> = Vec::new();
        for s in &self.segments {
            for (g, _) in GROUPS {
                for f in s.group(g) {
                    seg.push(s.segment.as_str());
                    group.push(g);
                    rows.push((f.feature.as_str(), &f.summary));
                }
            }
        }
        let col = |f: &dyn Fn(&Summary) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| {
                let v = f(r.1);
                (!v.is_nan()).then_some(v)
            })))
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("segment", DataType::Utf8, false),
            Field::new("group", DataType::Utf8, false),
            Field::new("feature", DataType::Utf8, false),
            Field::new("count", DataType::UInt64, false),
            Field::new("mean", DataType::Float64, true),
            Field::new("q25", DataType::Float64, true),
            Field::new("median", DataType::Float64, true),
            Field::new("q75", DataType::Float64, true),
            Field::new("min", DataType::Float64, true),
            Field::new("max", DataType::Float64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(seg)),
                Arc::new(StringArray::from_iter_values(group)),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(UInt64Array::from_iter_values(
                    rows.iter().map(|r| r.1.count),
                )),
                col(&|m| m.mean),
                col(&|m| m.q25),
                col(&|m| m.median),
                col(&|m| m.q75),
                col(&|m| m.min),
                col(&|m| m.max),
            ],
        )
        .map_err(|e| Error::Data(format!("building the profile batch: {e}")))
    }

    /// Writes `profile.json`, `profile.md`, `profile_segments.parquet` and
    /// `profile_features.parquet` into `dir`.
    pub fn write(&self, dir: &std::path::Path, metadata: &[(String, String)]) -> Result<()> {
        // serde_json writes NaN (no values) as null
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::Data(e.to_string()))?;
        crate::output::write_text(&dir.join("profile.json"), &json)?;
        crate::output::write_text(&dir.join("profile.md"), &self.to_markdown())?;
        crate::output::write_parquet(
            &self.segments_batch()?,
            &dir.join("profile_segments.parquet"),
            metadata,
        )?;
        crate::output::write_parquet(
            &self.features_batch()?,
            &dir.join("profile_features.parquet"),
            metadata,
        )
    }
}

/// A segmentation read from a file (`segmint rfm` or `segmint cluster` output, or any table
/// with a customer id and a segment column).
#[derive(Debug, Clone, Default)]
pub struct SegmentFile {
    /// Customer ids in file order.
    pub customer_id: Vec<String>,
    /// `None` for a null segment.
    pub segment: Vec<Option<String>>,
    /// Parquet key-value metadata (`segmint.ref_date`, `segmint.rules`, ...).
    pub metadata: BTreeMap<String, String>,
}

impl SegmentFile {
    /// A segmentation from record batches (a DataFrame handed over from memory); `source`
    /// names it in errors.
    pub fn from_batches(
        source: &std::path::Path,
        batches: &[arrow_array::RecordBatch],
        column: &str,
    ) -> Result<SegmentFile> {
        let mut out = SegmentFile::default();
        for b in batches {
            let names: Vec<String> = b
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            let absent: Vec<String> = ["customer_id", column]
                .iter()
                .filter(|c| !names.iter().any(|n| n == *c))
                .map(|s| s.to_string())
                .collect();
            if !absent.is_empty() {
                return Err(Error::MissingColumns {
                    path: source.to_path_buf(),
                    missing: absent,
                    found: names,
                    hint: "; choose the segment column with segment_column".into(),
                });
            }
            out.push_batch(source, b, column)?;
        }
        Ok(out)
    }

    /// Appends the `customer_id` and `column` values of one batch (any type; numbers become
    /// text); a null id is an error naming its row.
    fn push_batch(
        &mut self,
        path: &std::path::Path,
        batch: &arrow_array::RecordBatch,
        column: &str,
    ) -> Result<()> {
        use arrow_array::cast::AsArray;
        use arrow_array::Array;
        let text = |name: &str| -> Result<ArrayRef> {
            let a = batch.column_by_name(name).expect("checked column");
            arrow_cast::cast(a, &DataType::Utf8).map_err(|e| {
                Error::format(path, format!("column {name}: cannot read as text: {e}"))
            })
        };
        let (ids, segs) = (text("customer_id")?, text(column)?);
        let (ids, segs) = (ids.as_string::<i32>(), segs.as_string::<i32>());
        for i in 0..ids.len() {
            if ids.is_null(i) {
                return Err(Error::Value {
                    path: path.to_path_buf(),
                    row: self.customer_id.len() as u64 + 1,
                    column: "customer_id".into(),
                    value: "null".into(),
                    problem: "missing identifier".into(),
                });
            }
            self.customer_id.push(ids.value(i).to_string());
            self.segment
                .push((!segs.is_null(i)).then(|| segs.value(i).to_string()));
        }
        Ok(())
    }
}

/// Reads `customer_id` and the `column` segment column (any type; numbers become text) from a
/// Parquet or CSV file.
pub fn read_segments(path: &std::path::Path, column: &str) -> Result<SegmentFile> {
    use crate::data::reader::Format;
    let missing = |found: Vec<String>| Error::MissingColumns {
        path: path.to_path_buf(),
        missing: [("customer_id"), column]
            .iter()
            .filter(|c| !found.iter().any(|f| f == *c))
            .map(|s| s.to_string())
            .collect(),
        found: found.clone(),
        hint: "; choose the segment column with --segment-column".into(),
    };
    let mut out = SegmentFile::default();
    match Format::from_path(path)? {
        Format::Parquet => {
            use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
            use parquet::arrow::ProjectionMask;
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            let b = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| Error::format(path, format!("not a readable Parquet file: {e}")))?;
            if let Some(kv) = b.metadata().file_metadata().key_value_metadata() {
                for e in kv {
                    if let Some(v) = &e.value {
                        out.metadata.insert(e.key.clone(), v.clone());
                    }
                }
            }
            let names: Vec<String> = b
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            let (Some(ic), Some(sc)) = (
                names.iter().position(|n| n == "customer_id"),
                names.iter().position(|n| n == column),
            ) else {
                return Err(missing(names));
            };
            let mask = ProjectionMask::roots(b.parquet_schema(), [ic, sc]);
            let reader = b
                .with_projection(mask)
                .build()
                .map_err(|e| Error::format(path, e))?;
            for batch in reader {
                let batch = batch.map_err(|e| Error::format(path, e))?;
                out.push_batch(path, &batch, column)?;
            }
        }
        Format::Arrow => unreachable!("from_path gives a file format"),
        Format::Excel => {
            return Err(Error::format(
                path,
                "a segments file must be Parquet or CSV (as segmint writes it)",
            ))
        }
        Format::Csv => {
            let mut r = csv::ReaderBuilder::new()
                .from_path(path)
                .map_err(|e| Error::format(path, e))?;
            let header: Vec<String> = r
                .headers()
                .map_err(|e| Error::format(path, e))?
                .iter()
                .map(|h| h.trim_start_matches('\u{feff}').to_string())
                .collect();
            let (Some(ic), Some(sc)) = (
                header.iter().position(|n| n == "customer_id"),
                header.iter().position(|n| n == column),
            ) else {
                return Err(missing(header));
            };
            for (row, rec) in r.records().enumerate() {
                let rec = rec.map_err(|e| Error::format(path, format!("row {}: {e}", row + 1)))?;
                let id = rec.get(ic).unwrap_or("");
                if id.trim().is_empty() {
                    return Err(Error::Value {
                        path: path.to_path_buf(),
                        row: row as u64 + 1,
                        column: "customer_id".into(),
                        value: crate::error::show_value(id),
                        problem: "empty identifier".into(),
                    });
                }
                out.customer_id.push(id.to_string());
                out.segment
                    .push(rec.get(sc).filter(|s| !s.is_empty()).map(str::to_string));
            }
        }
    }
    if out.customer_id.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
            message: "no rows".into(),
        });
    }
    Ok(out)
}

impl SegmentFile {
    /// Segment names and each mart customer's segment index. Names come in `order` first (e.g.
    /// the rule order), then the others in order of first appearance. Also returns how many
    /// ids of the file are not in the mart.
    pub fn align(
        &self,
        mart_ids: &[String],
        order: &[String],
    ) -> (Vec<String>, Vec<Option<u32>>, u64) {
        let mut names: Vec<String> = Vec::new();
        let present: std::collections::HashSet<&str> =
            self.segment.iter().flatten().map(|s| s.as_str()).collect();
        for o in order {
            if present.contains(o.as_str()) {
                names.push(o.clone());
            }
        }
        let mut index: std::collections::HashMap<String, u32> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        let mut by_id: std::collections::HashMap<&str, Option<u32>> =
            std::collections::HashMap::with_capacity(self.customer_id.len());
        for (id, seg) in self.customer_id.iter().zip(&self.segment) {
            let code = seg.as_ref().map(|s| {
                if let Some(&c) = index.get(s.as_str()) {
                    c
                } else {
                    names.push(s.clone());
                    let c = (names.len() - 1) as u32;
                    index.insert(s.clone(), c);
                    c
                }
            });
            by_id.entry(id.as_str()).or_insert(code);
        }
        let segs: Vec<Option<u32>> = mart_ids
            .iter()
            .map(|id| by_id.get(id.as_str()).copied().flatten())
            .collect();
        let in_mart: std::collections::HashSet<&str> =
            mart_ids.iter().map(|s| s.as_str()).collect();
        let not_in_mart = by_id.keys().filter(|id| !in_mart.contains(*id)).count() as u64;
        (names, segs, not_in_mart)
    }
}

impl SegmentFile {
    /// The `column` of the customers file as a segmentation of the customers `ids` (a
    /// customer absent from the file, or with a null value, has no segment). An error names
    /// the column and why it cannot be used.
    pub fn from_customers(
        customers: &crate::data::reader::TableReader,
        column: &str,
        ids: &[String],
    ) -> Result<SegmentFile> {
        let attrs = Attributes::load(customers, &[column], &crate::progress::NoProgress)?;
        let Some(col) = attrs.column(column) else {
            return Err(Error::param("by", attrs.why_missing(customers, column)));
        };
        let rows = attrs.rows_for(ids);
        Ok(SegmentFile {
            customer_id: ids.to_vec(),
            segment: rows
                .into_iter()
                .map(|r| r.and_then(|r| col.text(r)))
                .collect(),
            metadata: BTreeMap::new(),
        })
    }

    /// The segment names and the segment of each of `ids` (names in order of appearance).
    pub fn labels_for(&self, ids: &[String]) -> (Vec<String>, Vec<Option<u32>>) {
        let (names, labels, _) = self.align(ids, &[]);
        (names, labels)
    }
}

/// Settings of profiling a segmentation from a file (`segmint profile`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfileParams {
    /// Reference day of the mart (days since 1970-01-01); `None`: the one recorded in the
    /// segments file (`segmint.ref_date`), else the day after the last transaction.
    pub ref_day: Option<i64>,
}

/// A profile with what a user should know about its input.
#[derive(Debug, Clone)]
pub struct ProfileAnalysis {
    /// The profile.
    pub profile: Profile,
    /// The mart's reference day.
    pub ref_day: i64,
    /// Columns left out, customers of the segments file without a purchase, a recorded rule
    /// set that could not be loaded.
    pub notes: Vec<String>,
    /// Net spend of every mart customer (the revenue concentration curve of the report).
    pub revenue: Vec<f64>,
    /// The rule set's name (`"?"` without one).
    pub rule_set: String,
}

impl ProfileAnalysis {
    /// The report section of this profile (the `segments` section of `segmint run`).
    pub fn section(&self) -> crate::report::Section {
        crate::report::segments_section(&self.profile, &self.rule_set, &self.revenue)
    }
}

/// Profiles the segmentation `seg` on the customers of `tx` (and the attributes of
/// `customers`), with the actions of `rules`: given, or the rule set recorded in the segments
/// file (`segmint.rules_source`; one that cannot be loaded gives a note and no actions).
pub fn analyze(
    seg: &SegmentFile,
    tx: &crate::data::reader::TableReader,
    customers: Option<&crate::data::reader::TableReader>,
    rules: Option<&crate::segment::rules::RuleSet>,
    p: &ProfileParams,
    progress: &dyn crate::progress::Progress,
) -> Result<ProfileAnalysis> {
    use crate::mart::{build_mart, MartColumns, MartParams};
    use crate::segment::rules::RuleSet;
    let mut notes = Vec::new();
    let ref_day = match (p.ref_day, seg.metadata.get("segmint.ref_date")) {
        (Some(d), _) => Some(d),
        (None, Some(text)) => Some(crate::data::timestamp::parse_date(text).ok_or_else(|| {
            Error::param(
                "ref_day",
                format!("{text:?} recorded in the segments file is not a date YYYY-MM-DD"),
            )
        })?),
        (None, None) => None,
    };
    let recorded;
    let rules = match (rules, seg.metadata.get("segmint.rules_source")) {
        (Some(r), _) => Some(r),
        (None, Some(spec)) => match RuleSet::load(spec) {
            Ok(r) => {
                recorded = r;
                Some(&recorded)
            }
            Err(e) => {
                notes.push(format!(
                    "rule set {spec:?} recorded in the segments file: {e}; no actions"
                ));
                None
            }
        },
        (None, None) => None,
    };
    let mart = build_mart(
        tx,
        &MartParams {
            ref_day,
            columns: MartColumns::Rfm,
            ..Default::default()
        },
        progress,
    )?;
    let order: Vec<String> = rules
        .map(|r| {
            let mut v: Vec<String> = r.rules.iter().map(|x| x.name.clone()).collect();
            v.extend(r.default.clone());
            v
        })
        .unwrap_or_default();
    let (names, segment, not_in_mart) = seg.align(&mart.customer_id, &order);
    if not_in_mart > 0 {
        notes.push(format!(
            "{not_in_mart} customers of the segments file have no purchase in the transactions and are left out"
        ));
    }
    let attrs = customers
        .map(|c| load_attributes(c, &mart, progress))
        .transpose()?;
    for (column, reason) in attrs.iter().flat_map(|a| &a.left_out) {
        notes.push(crate::data::customers::left_out_note(column, reason));
    }
    if attrs.is_none() {
        notes.push(
            "no customers file: demographic features and premium composition are left out".into(),
        );
    }
    let actions = rules.map(|r| r.actions()).unwrap_or_default();
    let profile = profile(&names, &segment, &mart, attrs.as_ref(), &actions);
    Ok(ProfileAnalysis {
        profile,
        ref_day: mart.ref_day,
        notes,
        rule_set: rules.map_or_else(|| "?".to_string(), |r| r.name.clone()),
        revenue: mart.monetary,
    })
}
