//! Customer attributes (the `customers` table) keyed by `customer_id`, for joins with the mart.

use std::collections::HashMap;

use arrow_array::Array;

use crate::data::reader::TableReader;
use crate::data::schema::ColType;
use crate::error::Result;
use crate::progress::Progress;
use crate::segment::rules::ValueRef;

/// One attribute column, in the row order of the customers file.
#[derive(Debug, Clone)]
pub enum AttrColumn {
    Num(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    /// Codes into a dictionary (few distinct values: regions, tiers, groups).
    Str(Vec<Option<u32>>, Vec<String>),
}

/// Selected customer attributes; the first row of a duplicated `customer_id` wins.
#[derive(Debug, Clone, Default)]
pub struct Attributes {
    index: HashMap<Box<str>, u32>,
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
        progress.begin("reading customers", reader.num_rows_hint().unwrap_or(0));
        // Read sequentially by unit: the attribute order must follow the file.
        let units = reader.fold(
            &wanted,
            || {
                (
                    Vec::<(u64, Box<str>)>::new(),
                    Vec::<(u64, Vec<ValueOwned>)>::new(),
                )
            },
            |(ids, rows), ch| {
                let idcol = ch.str("customer_id").expect("required");
                for i in 0..ch.len() {
                    ids.push((ch.row(i), idcol.value(i).into()));
                    let mut vals = Vec::with_capacity(wanted.len() - 1);
                    for name in &wanted[1..] {
                        let spec = reader.kind.column(name).expect("canonical");
                        let arr = ch.batch.column_by_name(name).expect("read");
                        vals.push(if arr.is_null(i) {
                            ValueOwned::Null
                        } else {
                            match spec.ty {
                                ColType::Int => {
                                    ValueOwned::Num(ch.i64(name).expect("int").value(i) as f64)
                                }
                                ColType::Float => {
                                    ValueOwned::Num(ch.f64(name).expect("float").value(i))
                                }
                                ColType::Bool => {
                                    ValueOwned::Bool(ch.bool(name).expect("bool").value(i))
                                }
                                ColType::Date => {
                                    ValueOwned::Num(ch.date(name).expect("date").value(i) as f64)
                                }
                                ColType::Timestamp => {
                                    ValueOwned::Num(ch.ts(name).expect("ts").value(i) as f64)
                                }
                                ColType::Str => {
                                    ValueOwned::Str(ch.str(name).expect("str").value(i).to_string())
                                }
                            }
                        });
                    }
                    rows.push((ch.row(i), vals));
                }
                Ok(())
            },
            progress,
        )?;
        progress.finish();
        let mut ids = Vec::new();
        let mut rows = Vec::new();
        for (i, r) in units {
            ids.extend(i);
            rows.extend(r);
        }
        // units come in file order already; keep the first row of each id
        let mut index = HashMap::with_capacity(ids.len());
        let mut kept: Vec<usize> = Vec::with_capacity(ids.len());
        for (k, (_, id)) in ids.into_iter().enumerate() {
            if let std::collections::hash_map::Entry::Vacant(e) = index.entry(id) {
                e.insert(kept.len() as u32);
                kept.push(k);
            }
        }
        let mut columns = Vec::new();
        for (j, name) in wanted[1..].iter().enumerate() {
            let spec = reader.kind.column(name).expect("canonical");
            let col = match spec.ty {
                ColType::Bool => AttrColumn::Bool(
                    kept.iter()
                        .map(|&k| match rows[k].1[j] {
                            ValueOwned::Bool(b) => Some(b),
                            _ => None,
                        })
                        .collect(),
                ),
                ColType::Str => {
                    let mut dict: Vec<String> = Vec::new();
                    let mut lookup: HashMap<String, u32> = HashMap::new();
                    let codes = kept
                        .iter()
                        .map(|&k| match &rows[k].1[j] {
                            ValueOwned::Str(s) => {
                                Some(*lookup.entry(s.clone()).or_insert_with(|| {
                                    dict.push(s.clone());
                                    (dict.len() - 1) as u32
                                }))
                            }
                            _ => None,
                        })
                        .collect();
                    AttrColumn::Str(codes, dict)
                }
                _ => AttrColumn::Num(
                    kept.iter()
                        .map(|&k| match rows[k].1[j] {
                            ValueOwned::Num(x) => Some(x),
                            _ => None,
                        })
                        .collect(),
                ),
            };
            columns.push((name.to_string(), col));
        }
        Ok(Attributes { index, columns })
    }

    /// Row of a customer, if present.
    pub fn row(&self, customer_id: &str) -> Option<u32> {
        self.index.get(customer_id).copied()
    }

    pub fn column(&self, name: &str) -> Option<&AttrColumn> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

impl AttrColumn {
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

#[derive(Debug, Clone)]
enum ValueOwned {
    Num(f64),
    Bool(bool),
    Str(String),
    Null,
}
