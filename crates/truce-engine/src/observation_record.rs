//! What the state keeps of one logged observation.
//!
//! A record holds the handful of values incidents, violations, attribution and queries need, not
//! the payload: the payload stays in the log, where a reader that needs the full text finds it by
//! `index`. Repeated strings (signer, affiliation, agreement, alleged party) are `Arc<str>`, so
//! that the collection holding millions of records can share them (see
//! [`crate::observations`]).
//!
//! Records are plain data with no behaviour: admission ([`crate::observations`]) builds them, the
//! indexes ([`crate::observation_query`]) read them, and neither depends on the other through
//! this type.

use std::sync::Arc;

use truce_model::observation::{EventPoint, Weapon};
use truce_model::taxonomy::{EventType, Family, Target};

/// What the state keeps of one logged observation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ObservationRecord {
    /// The payload's `id`.
    pub id: Arc<str>,
    /// Log index of the entry.
    pub index: u64,
    /// Log time of the entry, ms since the epoch.
    pub time_ms: i64,
    /// The signer, `name+keyid`.
    pub signer: Arc<str>,
    /// The signer's affiliation at admission (an organisation or a party id).
    pub affiliation: Arc<str>,
    /// Signed by a key with the `party` role: a claim, never counted as monitoring evidence.
    pub claim: bool,
    /// The agreement it was reported under.
    pub agreement: Arc<str>,
    /// The version of that agreement in force at the log time.
    pub agreement_version: u32,
    /// Event type.
    pub event_type: EventType,
    /// Its family (clustering links only observations of one family).
    pub family: Family,
    /// Number of events.
    pub count: u32,
    /// Derived location and uncertainty (DESIGN §6).
    pub point: EventPoint,
    /// Observed window start, ms since the epoch.
    pub from_ms: i64,
    /// Observed window end, ms since the epoch.
    pub to_ms: i64,
    /// Weapon class and calibre (mm), if reported.
    pub weapon: Option<Weapon>,
    /// Targets, if reported.
    pub targets: Box<[Target]>,
    /// Bearing, seen from the event, from which fire came, if reported.
    pub origin_bearing_deg: Option<f64>,
    /// The party the observation accuses, if any (a claim, never attribution).
    pub alleged_party: Option<Arc<str>>,
}

/// Positions per frozen chunk of [`RecordLog`].
const CHUNK: usize = 1 << 16;

/// The records in log order, append-only, in frozen chunks of [`CHUNK`] shared by reference
/// (`Arc`) and one open chunk: a copy of the whole log ([`RecordLog::clone`]) costs the open
/// chunk, not a million records. That is what lets a snapshot take the records under the state's
/// lock in milliseconds and encode them after releasing it (see [`crate::snapshot`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordLog {
    /// Full chunks (an `Arc<Vec>`, not an `Arc<[_]>`: freezing moves the chunk, it does not
    /// copy 13 MB).
    frozen: Vec<Arc<Vec<ObservationRecord>>>,
    open: Vec<ObservationRecord>,
}

impl RecordLog {
    pub(crate) fn push(&mut self, r: ObservationRecord) {
        if self.open.capacity() == 0 {
            self.open.reserve_exact(CHUNK);
        }
        self.open.push(r);
        if self.open.len() == CHUNK {
            let full = std::mem::take(&mut self.open);
            self.frozen.push(Arc::new(full));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.frozen.len() * CHUNK + self.open.len()
    }

    pub(crate) fn get(&self, position: usize) -> Option<&ObservationRecord> {
        match self.frozen.get(position / CHUNK) {
            Some(chunk) => chunk.get(position % CHUNK),
            None => self.open.get(position - self.frozen.len() * CHUNK),
        }
    }

    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = &ObservationRecord> + '_ {
        Iter { log: self, next: 0 }
    }
}

/// The records of a [`RecordLog`] in order.
struct Iter<'a> {
    log: &'a RecordLog,
    next: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a ObservationRecord;

    fn next(&mut self) -> Option<&'a ObservationRecord> {
        let r = self.log.get(self.next)?;
        self.next += 1;
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.log.len() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Records addressed by position, however they are stored (queries run over a [`RecordLog`],
/// their tests over plain slices).
pub(crate) trait Records {
    fn count(&self) -> usize;
    /// The record at `position` (< `count()`).
    fn at(&self, position: usize) -> &ObservationRecord;
    /// The first position whose record does not satisfy `pred` (records satisfying it first).
    fn partition_point(&self, mut pred: impl FnMut(&ObservationRecord) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(self.at(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

impl Records for [ObservationRecord] {
    fn count(&self) -> usize {
        self.len()
    }

    fn at(&self, position: usize) -> &ObservationRecord {
        &self[position]
    }
}

impl Records for RecordLog {
    fn count(&self) -> usize {
        self.len()
    }

    fn at(&self, position: usize) -> &ObservationRecord {
        self.get(position).expect("a position below count()")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation_query::tests::record;

    /// Positions across chunk boundaries read back in order; a copy shares the frozen chunks and
    /// does not see what is appended after it.
    #[test]
    fn the_record_log_reads_across_chunks_and_copies_share_them() {
        let mut log = RecordLog::default();
        let n = 2 * CHUNK + 5;
        for i in 0..n {
            log.push(record(2 * i as u64, 0, 0, 0, 1, i, i));
        }
        assert_eq!(log.len(), n);
        for p in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, n - 1] {
            assert_eq!(log.get(p).unwrap().index, 2 * p as u64, "position {p}");
        }
        assert!(log.get(n).is_none());
        assert_eq!(log.iter().len(), n);
        assert!(log.iter().map(|r| r.index).eq((0..n as u64).map(|i| 2 * i)));
        for index in [0, 1, 2 * CHUNK as u64 - 1, 2 * CHUNK as u64, 2 * n as u64] {
            let p = log.partition_point(|r| r.index < index);
            let expected = (0..n).position(|i| 2 * i as u64 >= index).unwrap_or(n);
            assert_eq!(p, expected, "index {index}");
        }
        let copy = log.clone();
        assert!(Arc::ptr_eq(&copy.frozen[0], &log.frozen[0]));
        log.push(record(2 * n as u64, 0, 0, 0, 1, 0, 0));
        assert_eq!((copy.len(), log.len()), (n, n + 1));
        assert!(copy.iter().eq(log.iter().take(n)));
    }
}
