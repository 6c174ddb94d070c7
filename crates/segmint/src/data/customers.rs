//! Customer attributes (the `customers` table) keyed by `customer_id`, for joins with the mart.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use arrow_schema::DataType;

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
    index: HashMap<Box<str>, u32, FixedState>,
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
        let mut units = reader.fold(
            &wanted,
            || {
                (
                    Vec::<Box<str>>::new(),
                    specs.iter().map(|t| Part::new(*t)).collect::<Vec<Part>>(),
                )
            },
            |(ids, parts), ch| {
                let idcol = ch.str("customer_id").expect("required");
                ids.extend((0..ch.len()).map(|i| Box::<str>::from(idcol.value(i))));
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
        let total: usize = units.iter().map(|u| u.0.len()).sum();
        let mut index: HashMap<Box<str>, u32, FixedState> =
            HashMap::with_capacity_and_hasher(total, FixedState::with_seed(0xa77));
        let mut keep: Vec<(usize, usize)> = Vec::with_capacity(total); // (unit, row in unit)
        for (u, unit) in units.iter_mut().enumerate() {
            for (k, id) in std::mem::take(&mut unit.0).into_iter().enumerate() {
                if let std::collections::hash_map::Entry::Vacant(e) = index.entry(id) {
                    e.insert(keep.len() as u32);
                    keep.push((u, k));
                }
            }
        }
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
