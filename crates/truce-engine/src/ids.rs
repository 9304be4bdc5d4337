//! Observation positions by payload id, in 8 bytes per observation.
//!
//! Decisions, disputes and readers name observations (and incidents) by payload id, and admission
//! checks that an id is new, so the state finds a position by id at any time. The ids themselves
//! are in the records, which may be in the cold tier ([`crate::cold`]); what stays resident is,
//! per observation, its position and a 32-bit *fingerprint* (bits of a keyed hash of its id).
//!
//! Layout: a sorted array of (fingerprint, position), the *run*, plus a hash table of the
//! entries added since it was last rebuilt. When the table holds more than an eighth of the run
//! (and at least [`MIN_MERGE`] entries) its entries are sorted and merged into the run, in place
//! from the back, so memory never holds two copies of the run. A hash table alone cost 9 bytes
//! per slot at a load between 44 and 87 % (151 MB for 10M observations); the run costs 8 bytes
//! per entry and the table's share stays under an eighth.
//!
//! A lookup probes the table, then binary-searches the run for the fingerprint, and compares the
//! id only at positions whose fingerprint matches (one record read, almost never two). The
//! fingerprints are keyed with `RandomState`: ids come from submitters, and a random key keeps
//! a crafted set of them from sharing fingerprints; nothing iterates the structure by hash, so
//! its order never shows.
//!
//! Invariant: every position filed is in exactly one of the run and the table, and the first
//! position filed under an id is the one found (a repeated id is not filed again).

use std::hash::BuildHasher as _;

/// Fewest table entries merged into the run at once.
const MIN_MERGE: usize = 1 << 16;

/// Positions by payload id (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    /// (fingerprint, position), sorted.
    run: Vec<(u32, u32)>,
    /// (position, fingerprint) added since the last merge.
    recent: hashbrown::HashTable<(u32, u32)>,
    hasher: std::hash::RandomState,
}

/// The table's 64-bit hash of a fingerprint: its bits in both halves (the table takes its
/// bucket from the low bits and a tag from the top seven).
fn spread(fp: u32) -> u64 {
    u64::from(fp) << 32 | u64::from(fp)
}

impl Ids {
    fn fingerprint(&self, id: &str) -> u32 {
        (self.hasher.hash_one(id) >> 32) as u32
    }

    /// The position filed under `id`; `has_id(p)` says whether position `p` holds `id`.
    pub(crate) fn get(&self, id: &str, has_id: impl Fn(u32) -> bool) -> Option<u32> {
        let fp = self.fingerprint(id);
        self.find(fp, &has_id)
    }

    fn find(&self, fp: u32, has_id: &impl Fn(u32) -> bool) -> Option<u32> {
        let from = self.run.partition_point(|&(f, _)| f < fp);
        let in_run = self.run[from..]
            .iter()
            .take_while(|&&(f, _)| f == fp)
            .map(|&(_, p)| p)
            .find(|&p| has_id(p));
        // The run holds the older positions: the first filed under an id is there if anywhere.
        in_run.or_else(|| {
            self.recent
                .find(spread(fp), |&(p, f)| f == fp && has_id(p))
                .map(|&(p, _)| p)
        })
    }

    /// Files `position` under `id`, unless a position is filed under it already.
    pub(crate) fn insert(&mut self, id: &str, position: u32, has_id: impl Fn(u32) -> bool) {
        let fp = self.fingerprint(id);
        if self.find(fp, &has_id).is_some() {
            return;
        }
        self.recent
            .insert_unique(spread(fp), (position, fp), |&(_, f)| spread(f));
        if self.recent.len() >= MIN_MERGE.max(self.run.len() / 8) {
            self.merge();
        }
    }

    /// Moves the table's entries into the run.
    fn merge(&mut self) {
        let mut new: Vec<(u32, u32)> = self.recent.drain().map(|(p, f)| (f, p)).collect();
        new.sort_unstable();
        let old = self.run.len();
        self.run.reserve_exact(new.len());
        self.run.resize(old + new.len(), (0, 0));
        // From the back: the largest of the two heads goes to the end of the free space.
        let (mut i, mut j, mut k) = (old, new.len(), old + new.len());
        while j > 0 {
            k -= 1;
            if i > 0 && self.run[i - 1] > new[j - 1] {
                i -= 1;
                self.run[k] = self.run[i];
            } else {
                j -= 1;
                self.run[k] = new[j];
            }
        }
    }

    /// Makes room for `additional` more positions (a snapshot's).
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.run.reserve_exact(additional);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids filed over several merges are all found, at their first position; unknown ids are
    /// not; the run stays sorted and holds every position once.
    #[test]
    fn ids_are_found_across_merges() {
        let n = 3 * MIN_MERGE + 1_000;
        let id = |p: u32| format!("obs-{}", p % (n as u32 - 50));
        let mut ids = Ids::default();
        for p in 0..n as u32 {
            ids.insert(&id(p), p, |q| id(q) == id(p));
        }
        assert!(ids.run.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            ids.run.len() + ids.recent.len(),
            n - 50,
            "repeats are not filed"
        );
        assert!(!ids.run.is_empty() && !ids.recent.is_empty());
        for p in (0..n as u32).step_by(97) {
            let key = id(p);
            let first = p % (n as u32 - 50);
            assert_eq!(ids.get(&key, |q| id(q) == key), Some(first), "{key}");
        }
        assert_eq!(ids.get("nope", |_| false), None);
    }
}
