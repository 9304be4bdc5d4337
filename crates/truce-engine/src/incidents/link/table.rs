//! The grid's table of cells: open addressing with linear probing, keyed by [`CellKey`].
//!
//! # Why not `std::collections::HashMap`
//! A lookup there reads a control byte, then the slot, then (for the grid) the cell's entries:
//! three dependent cache misses, and its probing branches on the loaded bytes, so the lookups of
//! one query wait for each other. Here a slot holds the key next to the value, so a query can
//! first compute the slots of all its cells and touch them (independent loads, in flight
//! together, [`CellTable::touch`]), then look them up from the cache. With the hash of
//! [`CellKey`] the eight cubes of a 2 × 2 × 2 block start in eight neighbouring slots.
//!
//! # Invariants
//! - The number of slots is a power of two and at least twice the number of keys, so a probe
//!   sequence ends at an empty slot after a few steps on average.
//! - A key sits at or after (cyclically) its home slot, with no empty slot in between; keys are
//!   never removed, so no tombstones are needed.
//! - An empty slot has the key [`EMPTY`], which no cell packs to (its level bits would be 15).
//!
//! # Complexity
//! Expected O(1) per lookup and insertion (load factor ≤ 1/2); growth rehashes every key once
//! per doubling (amortised O(1)). Memory: the slot (16-byte key + the value) per slot, so
//! between 2 and 4 slots per key.

use std::hash::{BuildHasher, Hasher, RandomState};

/// A cell: (level and cube, time bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CellKey {
    pub spatial: u64,
    pub bucket: i64,
}

/// The key of an empty slot.
const EMPTY: CellKey = CellKey {
    spatial: u64::MAX,
    bucket: 0,
};

/// The lowest bit of each packed cube index (see `grid::pack`).
const SIBLING_BITS: u64 = (1 << 40) | (1 << 20) | 1;

#[derive(Debug, Clone)]
struct Slot<V> {
    key: CellKey,
    value: V,
}

/// A map from [`CellKey`] to `V`, seeded at random so that no fixed set of coordinates always
/// collides.
#[derive(Debug, Clone)]
pub(super) struct CellTable<V> {
    slots: Vec<Slot<V>>,
    len: usize,
    seed: u64,
}

impl<V> Default for CellTable<V> {
    fn default() -> CellTable<V> {
        CellTable {
            slots: Vec::new(),
            len: 0,
            seed: RandomState::new().build_hasher().finish(),
        }
    }
}

/// The high and low halves of the 128-bit product, xored.
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl<V: Default> CellTable<V> {
    /// Number of keys.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The home slot of `key`: a seeded hash of the key without the lowest bit of each cube
    /// index, whose lowest three bits are replaced by those bits (the cube's place in its
    /// 2 × 2 × 2 block).
    fn home(&self, key: CellKey) -> usize {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let s = key.spatial;
        let h = fold(
            fold(self.seed ^ (s & !SIBLING_BITS), K) ^ key.bucket as u64,
            K,
        );
        let sibling = (((s >> 40) & 1) << 2) | (((s >> 20) & 1) << 1) | (s & 1);
        ((h & !7) | sibling) as usize & (self.slots.len() - 1)
    }

    /// Loads the key at the home slot of `key` (its value is of no use: the load brings the slot
    /// into the cache ahead of [`CellTable::get`]).
    pub(super) fn touch(&self, key: CellKey) -> u64 {
        if self.slots.is_empty() {
            return 0;
        }
        self.slots[self.home(key)].key.spatial
    }

    /// The value of `key`, if any.
    pub(super) fn get(&self, key: CellKey) -> Option<&V> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let slot = &self.slots[i];
            if slot.key == key {
                return Some(&slot.value);
            }
            if slot.key == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// The value of `key`, inserted as `V::default()` if missing, and whether it was missing.
    pub(super) fn get_or_default(&mut self, key: CellKey) -> (&mut V, bool) {
        debug_assert_ne!(key, EMPTY);
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        while self.slots[i].key != key && self.slots[i].key != EMPTY {
            i = (i + 1) & mask;
        }
        let missing = self.slots[i].key == EMPTY;
        if missing {
            self.slots[i].key = key;
            self.len += 1;
        }
        (&mut self.slots[i].value, missing)
    }

    /// Doubles the slots (at least 16) and reinserts every key.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(16);
        let empty = || Slot {
            key: EMPTY,
            value: V::default(),
        };
        let old = std::mem::replace(&mut self.slots, (0..size).map(|_| empty()).collect());
        let mask = size - 1;
        for slot in old.into_iter().filter(|s| s.key != EMPTY) {
            let mut i = self.home(slot.key);
            while self.slots[i].key != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }

    /// Keeps only the keys `keep` accepts, in a table sized for them (it shrinks as well as
    /// grows: the grid sends whole days of cells to the cold tier).
    pub(super) fn retain(&mut self, mut keep: impl FnMut(CellKey) -> bool) {
        let old = std::mem::take(&mut self.slots);
        let kept: Vec<Slot<V>> = old
            .into_iter()
            .filter(|s| s.key != EMPTY && keep(s.key))
            .collect();
        self.len = kept.len();
        if kept.is_empty() {
            return;
        }
        // At least twice the keys, and room for one more before the next growth.
        let size = (2 * kept.len() + 2).next_power_of_two().max(16);
        self.slots = (0..size)
            .map(|_| Slot {
                key: EMPTY,
                value: V::default(),
            })
            .collect();
        let mask = size - 1;
        for slot in kept {
            let mut i = self.home(slot.key);
            while self.slots[i].key != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }

    /// Every value, to change.
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots
            .iter_mut()
            .filter(|s| s.key != EMPTY)
            .map(|s| &mut s.value)
    }

    /// Every value (for tests).
    #[cfg(test)]
    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.slots
            .iter()
            .filter(|s| s.key != EMPTY)
            .map(|s| &s.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_after_growth_and_missing_ones_are_not() {
        let mut t: CellTable<Vec<u32>> = CellTable::default();
        assert!(
            t.get(CellKey {
                spatial: 1,
                bucket: 2
            })
            .is_none()
        );
        let key = |i: u64| CellKey {
            spatial: ((i % 7) << 40) | ((i / 7 % 5) << 20) | (i / 35),
            bucket: (i % 3) as i64 - 1,
        };
        for i in 0..5_000u64 {
            let (v, missing) = t.get_or_default(key(i));
            assert!(missing);
            v.push(i as u32);
            let (v, missing) = t.get_or_default(key(i));
            assert!(!missing);
            v.push(i as u32 + 1);
        }
        assert_eq!(t.len(), 5_000);
        for i in 0..5_000u64 {
            assert_eq!(t.get(key(i)), Some(&vec![i as u32, i as u32 + 1]));
        }
        assert!(t.get(key(5_000)).is_none());
        assert_eq!(t.values().count(), 5_000);

        // Dropping a bucket keeps the others findable, and the table takes new keys after.
        t.retain(|k| k.bucket != 0);
        let kept = (0..5_000u64).filter(|i| i % 3 != 1).count();
        assert_eq!(t.len(), kept);
        for i in 0..5_000u64 {
            let found = t.get(key(i)).is_some();
            assert_eq!(found, i % 3 != 1, "key {i}");
        }
        assert!(t.get_or_default(key(1)).1, "a dropped key is new again");
        t.retain(|_| false);
        assert_eq!(t.len(), 0);
        assert!(t.get(key(0)).is_none() && t.get_or_default(key(0)).1);
    }
}
