//! Which entry ids the log holds, approximately: a scalable Bloom filter in front of the store.
//!
//! Every submission must learn whether its payload `id` is already logged (same content: the
//! old receipt; other content: 409). Asking the store each time costs a round trip through its
//! worker thread per request, for an answer that is almost always "no". The filter answers "no"
//! for certain and "maybe" otherwise; only a "maybe" (a real resubmission, or about one false
//! positive in a thousand) goes to the store.
//!
//! Invariant: every committed id is in the filter before its submitter is acknowledged (the
//! sequencer inserts a batch's ids right after the commit, and replay inserts every stored id at
//! start), so a "no" is never wrong. The store's unique index on ids remains the last line.
//!
//! The filter grows by adding sub-filters of doubling capacity (Almeida et al., "Scalable Bloom
//! Filters"), so it needs no size estimate: at 10 million ids it holds about 30 MB and its false
//! positive rate stays below 0.2 %.

use std::hash::BuildHasher;

/// Bits per id in each sub-filter, and hash functions: about 0.03 % false positives per full
/// sub-filter.
const BITS_PER_ID: u64 = 16;
const HASHES: u64 = 11;
/// Capacity of the first sub-filter.
const FIRST_CAPACITY: u64 = 1 << 16;

/// A set of strings that may answer "maybe" for strings never inserted, never "no" for one that
/// was. See the module docs.
#[derive(Debug, Clone)]
pub struct SeenIds {
    filters: Vec<Filter>,
    hasher: std::hash::RandomState,
}

#[derive(Debug, Clone)]
struct Filter {
    bits: Vec<u64>,
    capacity: u64,
    count: u64,
}

impl Filter {
    fn new(capacity: u64) -> Filter {
        let words = (capacity * BITS_PER_ID).div_ceil(64);
        Filter {
            bits: vec![0; words as usize],
            capacity,
            count: 0,
        }
    }

    /// Bit positions of `hash` (double hashing, Kirsch and Mitzenmacher) in `words` words.
    fn positions(words: usize, hash: u64) -> impl Iterator<Item = (usize, u64)> {
        let m = words as u64 * 64;
        let h1 = hash;
        let h2 = hash.rotate_left(32) | 1;
        (0..HASHES).map(move |i| {
            // `g mod m` by multiply-shift (Lemire): as uniform for a uniform `g`, without the
            // division that made eleven of them most of an insertion's cost.
            let g = h1.wrapping_add(i.wrapping_mul(h2));
            let bit = ((u128::from(g) * u128::from(m)) >> 64) as u64;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    fn contains(&self, hash: u64) -> bool {
        Filter::positions(self.bits.len(), hash).all(|(w, b)| self.bits[w] & b != 0)
    }

    fn insert(&mut self, hash: u64) {
        for (w, b) in Filter::positions(self.bits.len(), hash) {
            self.bits[w] |= b;
        }
        self.count += 1;
    }
}

impl Default for SeenIds {
    fn default() -> Self {
        SeenIds {
            filters: vec![Filter::new(FIRST_CAPACITY)],
            hasher: std::hash::RandomState::new(),
        }
    }
}

impl SeenIds {
    /// `false` if `id` was certainly never inserted; `true` if it may have been.
    pub fn may_contain(&self, id: &str) -> bool {
        let h = self.hasher.hash_one(id);
        self.filters.iter().any(|f| f.contains(h))
    }

    /// Records `id`.
    pub fn insert(&mut self, id: &str) {
        let h = self.hasher.hash_one(id);
        let last = self.filters.last().expect("at least one filter");
        if last.count >= last.capacity {
            let next = Filter::new(last.capacity * 2);
            self.filters.push(next);
        }
        self.filters
            .last_mut()
            .expect("at least one filter")
            .insert(h);
    }

    /// Memory held by the bit arrays, in bytes.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.filters.iter().map(|f| f.bits.len() * 8).sum()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives_as_it_grows() {
        let mut seen = SeenIds::default();
        let n = 400_000;
        for i in 0..n {
            seen.insert(&format!("entry-{i}"));
        }
        assert!(seen.filters.len() >= 3, "grew past its first capacity");
        assert!((0..n).all(|i| seen.may_contain(&format!("entry-{i}"))));
        let fp = (0..100_000)
            .filter(|i| seen.may_contain(&format!("other-{i}")))
            .count();
        assert!(
            fp < 200,
            "{fp} false positives in 100,000 (expected about 0.1 %)"
        );
        assert!(seen.bytes() < 2 * n as usize * 16 / 8 + 4096);
    }

    proptest! {
        #[test]
        fn inserted_ids_are_always_found(ids in prop::collection::vec(".{0,40}", 0..300)) {
            let mut seen = SeenIds::default();
            for id in &ids {
                seen.insert(id);
            }
            for id in &ids {
                prop_assert!(seen.may_contain(id));
            }
        }
    }
}
