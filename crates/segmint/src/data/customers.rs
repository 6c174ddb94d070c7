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

use crate::data::reader::TableReader;
use crate::data::schema::ColType;
use crate::error::Result;
use crate::progress::Progress;
use crate::segment::rules::{Column, ValueRef};

/// One attribute column, in the row order of the customers file.
#[derive(Debug, Clone)]
pub enum AttrColumn {
    Num(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    /// Codes into a dictionary (few distinct values: regions, tiers, groups).
    Str(Vec<Option<u32>>, Vec<String>),
}

/// Selected customer attributes; the first row of a duplicated `customer_id` wins.
#[derive(Debug, Clone)]
pub struct Attributes {
    /// Customer ids in file order, first occurrence only.
    ids: StringArray,
    sorted: bool,
    index: OnceLock<HashTable<u32>>,
    pub columns: Vec<(String, AttrColumn)>,
}

impl Attributes {
    /// Reads the named canonical columns (those present in the file).
    pub fn load(
        reader: &TableReader,
        names: &[&str],
        progress: &dyn Progress,
    ) -> Result<Attributes> {
        let mut wanted: Vec<&str> = vec!["customer_id"];
        wanted.extend(
            names
                .iter()
                .copied()
                .filter(|n| reader.has(n) && *n != "customer_id"),
        );
        let specs: Vec<ColType> = wanted[1..]
            .iter()
            .map(|n| reader.kind.column(n).expect("canonical").ty)
            .collect();
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
                    // One typed pass per column and chunk (the type is fixed by the schema).
                    match part {
                        Part::Num(v) => {
                            match ch.batch.column_by_name(name).expect("read").data_type() {
                                DataType::Int64 => v.extend(
                                    ch.i64(name)
                                        .expect("int")
                                        .iter()
                                        .map(|x| x.map(|x| x as f64)),
                                ),
                                DataType::Float64 => v.extend(ch.f64(name).expect("float").iter()),
                                DataType::Date32 => v.extend(
                                    ch.date(name)
                                        .expect("date")
                                        .iter()
                                        .map(|x| x.map(|x| x as f64)),
                                ),
                                _ => v.extend(
                                    ch.ts(name)
                                        .expect("timestamp")
                                        .iter()
                                        .map(|x| x.map(|x| x as f64)),
                                ),
                            }
                        }
                        Part::Bool(v) => v.extend(ch.bool(name).expect("bool").iter()),
                        Part::Str(v) => v.extend(
                            ch.str(name)
                                .expect("str")
                                .iter()
                                .map(|x| x.map(Box::<str>::from)),
                        ),
                    }
                }
                Ok(())
            },
            progress,
        )?;
        progress.finish();
        // (unit, row in unit) of every row in file order
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
        let mut ids = StringBuilder::with_capacity(
            rows.len(),
            all_ids.iter().map(|s| s.len()).sum::<usize>(),
        );
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
        drop(all_ids);
        let ids = ids.finish();
        let mut columns = Vec::new();
        for (j, name) in wanted[1..].iter().enumerate() {
            let col = match specs[j] {
                ColType::Bool => AttrColumn::Bool(
                    keep.iter()
                        .map(|&(u, k)| match &units[u].1[j] {
                            Part::Bool(v) => v[k],
                            _ => None,
                        })
                        .collect(),
                ),
                ColType::Str => {
                    let mut dict: Vec<String> = Vec::new();
                    let mut lookup: HashMap<&str, u32, FixedState> =
                        HashMap::with_hasher(FixedState::with_seed(1));
                    let mut codes = Vec::with_capacity(keep.len());
                    for &(u, k) in &keep {
                        codes.push(match &units[u].1[j] {
                            Part::Str(v) => v[k].as_deref().map(|s| {
                                *lookup.entry(s).or_insert_with(|| {
                                    dict.push(s.to_string());
                                    (dict.len() - 1) as u32
                                })
                            }),
                            _ => None,
                        });
                    }
                    AttrColumn::Str(codes, dict)
                }
                _ => AttrColumn::Num(
                    keep.iter()
                        .map(|&(u, k)| match &units[u].1[j] {
                            Part::Num(v) => v[k],
                            _ => None,
                        })
                        .collect(),
                ),
            };
            columns.push((name.to_string(), col));
        }
        Ok(Attributes {
            ids,
            sorted,
            index: OnceLock::new(),
            columns,
        })
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

    pub fn column(&self, name: &str) -> Option<&AttrColumn> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    /// Customer ids in file order (first occurrence of each).
    pub fn ids(&self) -> &StringArray {
        &self.ids
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

impl AttrColumn {
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
    Bool(Vec<Option<bool>>),
    Str(Vec<Option<Box<str>>>),
}

impl Part {
    fn new(t: ColType) -> Part {
        match t {
            ColType::Bool => Part::Bool(Vec::new()),
            ColType::Str => Part::Str(Vec::new()),
            _ => Part::Num(Vec::new()),
        }
    }
}
