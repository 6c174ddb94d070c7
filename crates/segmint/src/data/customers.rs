//! Customer attributes (the `customers` table) keyed by `customer_id`, for joins with the mart.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use rayon::prelude::*;

use foldhash::fast::FixedState;

use arrow_array::builder::StringBuilder;
use arrow_array::{Array, StringArray};
use arrow_schema::DataType;
use hashbrown::HashTable;

use crate::data::reader::{parse_bool, parse_float, Chunk, TableReader};
use crate::data::schema::ColType;
use crate::data::timestamp::{parse_date, parse_timestamp_us, US_PER_DAY};
use crate::data::values::{Column, ValueRef};
use crate::error::Result;
use crate::progress::Progress;

/// One attribute column, in the row order of the customers file.
#[derive(Debug, Clone)]
pub enum AttrColumn {
    /// Numbers (dates as days before the reference date).
    Num(Vec<Option<f64>>),
    /// Booleans.
    Bool(Vec<Option<bool>>),
    /// Codes into a dictionary (few distinct values: regions, tiers, groups).
    Str(Vec<Option<u32>>, Vec<String>),
}

/// Text columns with more distinct values than this are not categories (free text, names,
/// identifiers): they are left out with the reason.
pub const MAX_LEVELS: usize = 100;

/// Selected customer attributes; the first row of a duplicated `customer_id` wins.
///
/// Any column of the customers file can be loaded by its own name: the canonical columns with
/// their schema type, every other column with the type of its values. Text whose values all
/// parse as numbers is a number, as `true/false/yes/no` a boolean, as dates a date; a date
/// becomes the number of days before the reference day when one is given, else the day number
/// since 1970-01-01 (what rule conditions such as `signup_date >= 20200` compare with). Empty
/// cells and `NA`, `N/A`, `NaN`, `null`, `None` are missing.
#[derive(Debug, Clone)]
pub struct Attributes {
    /// Customer ids in file order, first occurrence only.
    ids: StringArray,
    sorted: bool,
    index: OnceLock<HashTable<u32>>,
    /// The columns by their source names.
    pub columns: Vec<(String, AttrColumn)>,
    /// Requested columns that cannot be used, with the reason (never dropped silently).
    pub left_out: Vec<(String, String)>,
    /// The reference day (days since 1970-01-01) dates were counted back from; `None`: dates
    /// are day numbers since 1970-01-01.
    pub ref_day: Option<i64>,
    kinds: Vec<(String, AttrKind)>,
}

/// A column that an analysis could not use, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeftOutColumn {
    /// The column's name in the file.
    pub column: String,
    /// Why it was left out.
    pub reason: String,
}

/// The one-line note for a column an analysis could not use (`column "x" left out: why`).
pub fn left_out_note(column: &str, reason: &str) -> String {
    format!("column {column:?} left out: {reason}")
}

impl LeftOutColumn {
    /// The note for a column an analysis could not use.
    pub fn note(&self) -> String {
        left_out_note(&self.column, &self.reason)
    }
}

/// What a column of the customers file holds once typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttrKind {
    /// Numbers.
    Number,
    /// Booleans (yes/no, true/false, 1/0).
    Boolean,
    /// Text with a limited number of values.
    Category,
    /// Days before the reference day.
    Date,
}

impl Attributes {
    /// Reads the named columns (those the file has; see [`Attributes::load_at`]).
    pub fn load(
        reader: &TableReader,
        names: &[&str],
        progress: &dyn Progress,
    ) -> Result<Attributes> {
        Self::load_at(reader, names, None, progress)
    }

    /// Reads every column of the file but `customer_id`.
    pub fn load_all(
        reader: &TableReader,
        ref_day: Option<i64>,
        progress: &dyn Progress,
    ) -> Result<Attributes> {
        let names: Vec<&str> = reader
            .column_names()
            .into_iter()
            .filter(|n| *n != "customer_id")
            .collect();
        let mut a = Self::load_at(reader, &names, ref_day, progress)?;
        a.left_out.extend(reader.unreadable().iter().cloned());
        Ok(a)
    }

    /// Reads the named columns the file has, canonical or not; dates as days before `ref_day`
    /// (`None`: day numbers since 1970-01-01).
    pub fn load_at(
        reader: &TableReader,
        names: &[&str],
        ref_day: Option<i64>,
        progress: &dyn Progress,
    ) -> Result<Attributes> {
        let mut wanted: Vec<&str> = vec!["customer_id"];
        for n in names {
            if reader.has_column(n) && *n != "customer_id" && !wanted.contains(n) {
                wanted.push(n);
            }
        }
        let specs: Vec<ColType> = wanted[1..]
            .iter()
            .map(|n| reader.column_type(n).expect("checked above"))
            .collect();
        let infer: Vec<bool> = wanted[1..].iter().map(|n| !reader.has(n)).collect();
        progress.begin("reading customers", reader.num_rows_hint().unwrap_or(0));
        // Units come back in file order, so "first row wins" follows the file.
        let units = reader.fold(
            &wanted,
            || {
                (
                    Vec::<StringArray>::new(),
                    specs.iter().map(|t| Part::new(*t)).collect::<Vec<Part>>(),
                )
            },
            |(ids, parts), ch| {
                // the chunk's id array is shared, not copied
                ids.push(ch.str("customer_id").expect("required").clone());
                for (part, name) in parts.iter_mut().zip(&wanted[1..]) {
                    part.extend(ch, name);
                }
                Ok(())
            },
            progress,
        )?;
        progress.finish();
        let (ids, sorted, keep) = first_rows(&units);
        let mut typed = Vec::new();
        let mut left_out = Vec::new();
        for (j, name) in wanted[1..].iter().enumerate() {
            let parts: Vec<&Part> = units.iter().map(|u| &u.1[j]).collect();
            match typed_column(&parts, &keep, infer[j]) {
                Ok(col) => typed.push((name.to_string(), col)),
                Err(reason) => left_out.push((name.to_string(), reason)),
            }
        }
        let kinds = typed.iter().map(|(n, c)| (n.clone(), c.kind())).collect();
        let columns = typed
            .into_iter()
            .map(|(name, c)| (name, c.into_column(ref_day)))
            .collect();
        Ok(Attributes {
            ids,
            sorted,
            index: OnceLock::new(),
            columns,
            left_out,
            ref_day,
            kinds,
        })
    }

    /// The kind of a loaded column.
    pub fn kind(&self, name: &str) -> Option<AttrKind> {
        self.kinds.iter().find(|(n, _)| n == name).map(|(_, k)| *k)
    }

    /// Why a column named by the user cannot be used: not in the file, or left out.
    pub fn why_missing(&self, reader: &TableReader, name: &str) -> String {
        if let Some((_, reason)) = self.left_out.iter().find(|(n, _)| n == name) {
            return format!(
                "column {name:?} of {} cannot be used: {reason}",
                reader.path.display()
            );
        }
        let found = reader.column_names().join(", ");
        format!(
            "{name:?} is not a column of {} (found: {found})",
            reader.path.display()
        )
    }

    fn index(&self) -> &HashTable<u32> {
        self.index.get_or_init(|| {
            let h = FixedState::with_seed(7);
            let mut t = HashTable::with_capacity(self.ids.len());
            for j in 0..self.ids.len() {
                t.insert_unique(h.hash_one(self.ids.value(j)), j as u32, |&k| {
                    h.hash_one(self.ids.value(k as usize))
                });
            }
            t
        })
    }

    /// Row of a customer, if present.
    pub fn row(&self, customer_id: &str) -> Option<u32> {
        let h = FixedState::with_seed(7).hash_one(customer_id);
        self.index()
            .find(h, |&k| self.ids.value(k as usize) == customer_id)
            .copied()
    }

    /// Rows of many customers (e.g. the mart's, in its order): a merge join when both lists
    /// are sorted by `customer_id` (the usual case), hash lookups otherwise.
    pub fn rows_for(&self, customer_ids: &[String]) -> Vec<Option<u32>> {
        if self.sorted && customer_ids.is_sorted() {
            let mut out = Vec::with_capacity(customer_ids.len());
            let (n, mut j) = (self.ids.len(), 0usize);
            for id in customer_ids {
                while j < n && self.ids.value(j) < id.as_str() {
                    j += 1;
                }
                out.push((j < n && self.ids.value(j) == id.as_str()).then_some(j as u32));
            }
            out
        } else {
            self.index();
            customer_ids.par_iter().map(|id| self.row(id)).collect()
        }
    }

    /// A column by its source name.
    pub fn column(&self, name: &str) -> Option<&AttrColumn> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    /// Customer ids in file order (first occurrence of each).
    pub fn ids(&self) -> &StringArray {
        &self.ids
    }

    /// Customers in the file.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// No customer.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

impl AttrColumn {
    /// The values at `rows` as numbers: booleans 0/1, a missing value or row `NaN`; `None` for
    /// a text column.
    pub fn numbers(&self, rows: &[Option<u32>]) -> Option<Vec<f64>> {
        let at = |r: &Option<u32>| r.map(|r| r as usize);
        match self {
            AttrColumn::Num(v) => Some(
                rows.iter()
                    .map(|r| at(r).and_then(|r| v[r]).unwrap_or(f64::NAN))
                    .collect(),
            ),
            AttrColumn::Bool(v) => Some(
                rows.iter()
                    .map(|r| {
                        at(r)
                            .and_then(|r| v[r])
                            .map_or(f64::NAN, |b| b as u8 as f64)
                    })
                    .collect(),
            ),
            AttrColumn::Str(..) => None,
        }
    }

    /// The value at `row` as text (numbers as written by Rust, booleans `true`/`false`).
    pub fn text(&self, row: u32) -> Option<String> {
        match self.get(row) {
            ValueRef::Num(x) => Some(x.to_string()),
            ValueRef::Bool(b) => Some(b.to_string()),
            ValueRef::Str(s) => Some(s.to_string()),
            ValueRef::Null => None,
        }
    }

    /// The values at `rows` (missing rows and values as missing), for rule evaluation.
    pub fn gather(&self, rows: &[Option<u32>]) -> Column<'_> {
        match self {
            AttrColumn::Num(v) => Column::Num(
                rows.iter()
                    .map(|r| r.and_then(|r| v[r as usize]).unwrap_or(f64::NAN))
                    .collect(),
            ),
            AttrColumn::Bool(v) => {
                Column::Bool(rows.iter().map(|r| r.and_then(|r| v[r as usize])).collect())
            }
            AttrColumn::Str(v, d) => Column::Str(
                rows.iter().map(|r| r.and_then(|r| v[r as usize])).collect(),
                d,
            ),
        }
    }

    /// The value of `row`.
    pub fn get(&self, row: u32) -> ValueRef<'_> {
        let r = row as usize;
        match self {
            AttrColumn::Num(v) => v[r].map(ValueRef::Num).unwrap_or(ValueRef::Null),
            AttrColumn::Bool(v) => v[r].map(ValueRef::Bool).unwrap_or(ValueRef::Null),
            AttrColumn::Str(v, d) => v[r]
                .map(|c| ValueRef::Str(&d[c as usize]))
                .unwrap_or(ValueRef::Null),
        }
    }
}

/// One attribute column of one unit, before the join index exists.
enum Part {
    Num(Vec<Option<f64>>),
    Day(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Str(Vec<Option<Box<str>>>),
}

impl Part {
    fn new(t: ColType) -> Part {
        match t {
            ColType::Bool => Part::Bool(Vec::new()),
            ColType::Str => Part::Str(Vec::new()),
            ColType::Date | ColType::Timestamp => Part::Day(Vec::new()),
            ColType::Int | ColType::Float => Part::Num(Vec::new()),
        }
    }

    /// Appends a chunk's column (its type is fixed by the reader: one typed pass).
    fn extend(&mut self, ch: &Chunk, name: &str) {
        let arr = ch.batch.column_by_name(name).expect("read");
        match self {
            Part::Num(v) => match arr.data_type() {
                DataType::Int64 => v.extend(
                    ch.i64(name)
                        .expect("int")
                        .iter()
                        .map(|x| x.map(|x| x as f64)),
                ),
                _ => v.extend(
                    ch.f64(name)
                        .expect("float")
                        .iter()
                        .map(|x| x.filter(|x| x.is_finite())),
                ),
            },
            Part::Day(v) => match arr.data_type() {
                DataType::Date32 => v.extend(
                    ch.date(name)
                        .expect("date")
                        .iter()
                        .map(|x| x.map(i64::from)),
                ),
                _ => v.extend(
                    ch.ts(name)
                        .expect("timestamp")
                        .iter()
                        .map(|x| x.map(|us| us.div_euclid(US_PER_DAY))),
                ),
            },
            Part::Bool(v) => v.extend(ch.bool(name).expect("bool").iter()),
            Part::Str(v) => v.extend(
                ch.str(name)
                    .expect("str")
                    .iter()
                    .map(|x| x.map(Box::<str>::from)),
            ),
        }
    }
}

/// The unique customer ids in file order (first occurrence wins), whether they are sorted, and
/// the (unit, row in unit) of each one's first row.
type Units = Vec<(Vec<StringArray>, Vec<Part>)>;

fn first_rows(units: &Units) -> (StringArray, bool, Vec<(usize, usize)>) {
    let rows: Vec<(usize, usize)> = units
        .iter()
        .enumerate()
        .flat_map(|(u, unit)| {
            let n: usize = unit.0.iter().map(|a| a.len()).sum();
            (0..n).map(move |k| (u, k))
        })
        .collect();
    let all_ids: Vec<&str> = units
        .iter()
        .flat_map(|u| {
            u.0.iter()
                .flat_map(|a| (0..a.len()).map(move |i| a.value(i)))
        })
        .collect();
    let sorted = all_ids.is_sorted();
    let mut keep: Vec<(usize, usize)> = Vec::with_capacity(rows.len());
    let mut ids =
        StringBuilder::with_capacity(rows.len(), all_ids.iter().map(|s| s.len()).sum::<usize>());
    if sorted {
        // duplicates are adjacent: keep the first
        for (j, id) in all_ids.iter().enumerate() {
            if j == 0 || all_ids[j - 1] != *id {
                ids.append_value(id);
                keep.push(rows[j]);
            }
        }
    } else {
        let mut seen: HashMap<&str, (), FixedState> =
            HashMap::with_capacity_and_hasher(rows.len(), FixedState::with_seed(0xa77));
        for (j, id) in all_ids.iter().enumerate() {
            if seen.insert(id, ()).is_none() {
                ids.append_value(id);
                keep.push(rows[j]);
            }
        }
    }
    (ids.finish(), sorted, keep)
}

/// A column gathered to one row per customer and typed.
enum Typed {
    Num(Vec<Option<f64>>),
    Date(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Str(Vec<Option<u32>>, Vec<String>),
}

impl Typed {
    fn kind(&self) -> AttrKind {
        match self {
            Typed::Num(_) => AttrKind::Number,
            Typed::Date(_) => AttrKind::Date,
            Typed::Bool(_) => AttrKind::Boolean,
            Typed::Str(..) => AttrKind::Category,
        }
    }

    fn into_column(self, ref_day: Option<i64>) -> AttrColumn {
        match self {
            Typed::Num(v) => AttrColumn::Num(v),
            Typed::Date(v) => AttrColumn::Num(
                v.into_iter()
                    .map(|d| d.map(|d| ref_day.map_or(d, |r| r - d) as f64))
                    .collect(),
            ),
            Typed::Bool(v) => AttrColumn::Bool(v),
            Typed::Str(c, d) => AttrColumn::Str(c, d),
        }
    }
}

/// Text that stands for a missing value in exports (besides the empty cell).
fn missing_text(s: &str) -> bool {
    let t = s.trim();
    t.is_empty()
        || ["na", "n/a", "nan", "null", "none", "#n/a"]
            .iter()
            .any(|m| t.eq_ignore_ascii_case(m))
}

/// One customer's value per kept row; text typed from its values when `infer`; text with too
/// many distinct values is refused with the reason.
fn typed_column(
    parts: &[&Part],
    keep: &[(usize, usize)],
    infer: bool,
) -> std::result::Result<Typed, String> {
    macro_rules! gather {
        ($variant:ident) => {
            keep.iter()
                .map(|&(u, k)| match parts[u] {
                    Part::$variant(v) => v[k].clone(),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
    }
    Ok(match parts.first() {
        None | Some(Part::Num(_)) => Typed::Num(gather!(Num)),
        Some(Part::Day(_)) => Typed::Date(gather!(Day)),
        Some(Part::Bool(_)) => Typed::Bool(gather!(Bool)),
        Some(Part::Str(_)) => {
            let text: Vec<Option<Box<str>>> = gather!(Str);
            let values = || text.iter().flatten().filter(|s| !missing_text(s));
            if infer && values().next().is_some() {
                fn present(v: &Option<Box<str>>) -> Option<&str> {
                    v.as_deref().filter(|s| !missing_text(s))
                }
                if values().all(|s| parse_float(s).is_ok()) {
                    return Ok(Typed::Num(
                        text.iter()
                            .map(|v| present(v).and_then(|s| parse_float(s).ok()))
                            .collect(),
                    ));
                }
                if values().all(|s| parse_bool(s).is_ok()) {
                    return Ok(Typed::Bool(
                        text.iter()
                            .map(|v| present(v).and_then(|s| parse_bool(s).ok()))
                            .collect(),
                    ));
                }
                let day = |s: &str| {
                    parse_date(s)
                        .or_else(|| parse_timestamp_us(s).map(|us| us.div_euclid(US_PER_DAY)))
                };
                if values().all(|s| day(s).is_some()) {
                    return Ok(Typed::Date(
                        text.iter().map(|v| present(v).and_then(day)).collect(),
                    ));
                }
            }
            let mut dict: Vec<String> = Vec::new();
            let mut lookup: HashMap<&str, u32, FixedState> =
                HashMap::with_hasher(FixedState::with_seed(1));
            let mut codes = Vec::with_capacity(text.len());
            for v in &text {
                let v = if infer {
                    v.as_deref().filter(|s| !missing_text(s))
                } else {
                    v.as_deref()
                };
                codes.push(v.map(|s| {
                    *lookup.entry(s).or_insert_with(|| {
                        dict.push(s.to_string());
                        (dict.len() - 1) as u32
                    })
                }));
            }
            let filled = codes.iter().flatten().count();
            if filled >= 20 && dict.len() == filled {
                return Err(format!("text with a different value for each of its {filled} customers: an identifier, not a category"));
            }
            if dict.len() > MAX_LEVELS {
                return Err(format!(
                    "text with {} distinct values (more than {MAX_LEVELS}): free text or an identifier, not a category",
                    dict.len()
                ));
            }
            Typed::Str(codes, dict)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{ColumnMap, TableKind};
    use crate::progress::NoProgress;

    /// Text columns are typed from their values; dates count back from the reference day;
    /// identifiers are left out with the reason; the first row of a repeated id wins.
    #[test]
    fn any_column_typed_from_its_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("customers.csv");
        let mut text = String::from("customer_id,Score (pts),vip,joined,Kanal,note,age\n");
        for i in 0..25 {
            let score = if i == 3 {
                "NA".to_string()
            } else {
                format!("{i}.5")
            };
            let vip = if i % 2 == 0 { "yes" } else { "No" };
            text.push_str(&format!(
                "c{i:02},{score},{vip},2024-01-{:02},{},n{i},{}\n",
                i + 1,
                ["Web", "Phone"][i % 2],
                30 + i
            ));
        }
        text.push_str("c00,99,no,2024-02-01,Web,dup,99\n");
        std::fs::write(&path, text).unwrap();
        let reader = TableReader::open(TableKind::Customers, &path, &ColumnMap::new()).unwrap();
        let ref_day = crate::data::timestamp::parse_date("2024-02-01").unwrap();
        let a = Attributes::load_all(&reader, Some(ref_day), &NoProgress).unwrap();
        assert_eq!(a.len(), 25, "the repeated id is one customer");
        assert_eq!(a.kind("Score (pts)"), Some(AttrKind::Number));
        assert_eq!(a.kind("vip"), Some(AttrKind::Boolean));
        assert_eq!(a.kind("joined"), Some(AttrKind::Date));
        assert_eq!(a.kind("Kanal"), Some(AttrKind::Category));
        assert_eq!(a.kind("age"), Some(AttrKind::Number));
        let row = a.row("c00").unwrap();
        assert_eq!(
            a.column("Score (pts)").unwrap().get(row),
            ValueRef::Num(0.5)
        );
        assert_eq!(a.column("vip").unwrap().get(row), ValueRef::Bool(true));
        // 2024-01-01 is 31 days before 2024-02-01
        assert_eq!(a.column("joined").unwrap().get(row), ValueRef::Num(31.0));
        assert_eq!(a.column("age").unwrap().get(row), ValueRef::Num(30.0));
        let r3 = a.row("c03").unwrap();
        assert_eq!(
            a.column("Score (pts)").unwrap().get(r3),
            ValueRef::Null,
            "NA is missing"
        );
        assert!(a.column("note").is_none());
        assert_eq!(a.left_out.len(), 1);
        assert_eq!(a.left_out[0].0, "note");
        assert!(a.left_out[0].1.contains("identifier"), "{:?}", a.left_out);
        // without a reference day: day numbers since 1970-01-01, as rule conditions use them
        let b = Attributes::load(&reader, &["joined"], &NoProgress).unwrap();
        assert_eq!(b.ref_day, None);
        let day = crate::data::timestamp::parse_date("2024-01-01").unwrap();
        let joined = b.column("joined").unwrap();
        assert_eq!(joined.get(b.row("c00").unwrap()), ValueRef::Num(day as f64));
    }
}
