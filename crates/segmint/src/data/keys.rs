//! Interning of string keys (customer ids) within one unit of work: each distinct key gets the
//! index of its first appearance.

use std::hash::BuildHasher;

use hashbrown::HashTable;

fn hasher() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(0x5e6_d1a7)
}

/// Distinct keys in order of first appearance, with a hash index.
#[derive(Default)]
pub struct KeyTable {
    /// The keys; `keys[i]` has index `i`.
    pub keys: Vec<Box<str>>,
    table: HashTable<u32>,
    /// Keys appended by [`KeyTable::extend_unindexed`] and not in `table` yet.
    pending: bool,
}

impl KeyTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Room for `n` more keys without rehashing.
    pub fn reserve(&mut self, n: usize) {
        self.keys.reserve(n);
        let keys = &self.keys;
        self.table
            .reserve(n, |&j| hasher().hash_one(&*keys[j as usize]));
    }

    /// The index of `id`, added if new; the flag says whether it was added.
    pub fn index(&mut self, id: &str) -> (usize, bool) {
        if self.pending {
            self.pending = false;
            let keys = &self.keys;
            let h = hasher();
            self.table
                .reserve(keys.len(), |&j| h.hash_one(&*keys[j as usize]));
            for (j, k) in keys.iter().enumerate() {
                self.table.insert_unique(h.hash_one(&**k), j as u32, |&j| {
                    h.hash_one(&*keys[j as usize])
                });
            }
        }
        let h = hasher().hash_one(id);
        let keys = &self.keys;
        if let Some(&i) = self.table.find(h, |&i| &*keys[i as usize] == id) {
            return (i as usize, false);
        }
        let i = self.keys.len() as u32;
        self.keys.push(id.into());
        let keys = &self.keys;
        self.table
            .insert_unique(h, i, |&j| hasher().hash_one(&*keys[j as usize]));
        (i as usize, true)
    }

    /// Appends keys known to be distinct and new (the values of a Parquet dictionary in an
    /// empty table) without hashing them; they are indexed when [`KeyTable::index`] is next
    /// called. Should a writer have repeated a value, the two indices are two entries of the same
    /// key, which callers merge like keys from different units.
    pub fn extend_unindexed(&mut self, keys: impl Iterator<Item = Box<str>>) {
        self.keys.extend(keys);
        self.pending = true;
    }
}
