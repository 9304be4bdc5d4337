//! What the state keeps of one logged observation, and how it keeps millions of them.
//!
//! The state keeps the handful of values incidents, queries and the digest need, not the
//! payload: the payload stays in the log, where a reader that needs the full text (the server's
//! list pages, violation rules reading weapons and targets at admission) finds it by `index`.
//!
//! # Layout
//! A logged observation is held as a [`Stored`] record of fixed size (88 bytes: log index and
//! time, window, event point and radius, type, count, claim flag, and numbers for the strings
//! that repeat) plus its payload id, whose bytes are packed one after another in the chunk of
//! records that holds it. Repeated strings (signer, affiliation, agreement, alleged party; a
//! few hundred in a log of millions of observations) are numbered once in [`Names`]. The
//! previous layout — a 208-byte record with reference-counted strings and the id as its own
//! allocation — held about 300 bytes per observation here; this one about 130 (88, the id's
//! bytes, and the id index's share).
//!
//! [`ObservationRecord`] is the public, owned view of one record: built when a reader asks
//! for it (a page of a query, an incident's members, the digest), never stored.
//!
//! Records live in frozen chunks of [`CHUNK`] shared by reference (`Arc`) and one open chunk:
//! a copy of the whole log ([`RecordLog::clone`]) costs the open chunk, not a million records.
//! That is what lets a snapshot take the records under the state's lock in milliseconds and
//! encode them after releasing it (see [`crate::snapshot`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use truce_model::observation::EventPoint;
use truce_model::taxonomy::{EventType, Family};

use crate::cold::{Cold, ColdChunk};

/// What the state keeps of one logged observation, as readers see it.
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
    /// The party the observation accuses, if any (a claim, never attribution).
    pub alleged_party: Option<Arc<str>>,
}

/// Strings by number: signers, affiliations, agreements and parties, a few hundred at most,
/// shared by millions of records.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    names: Vec<Arc<str>>,
    numbers: HashMap<Arc<str>, u32>,
}

impl Names {
    /// The number of `name`, given one if new.
    pub(crate) fn number(&mut self, name: &str) -> u32 {
        if let Some(&n) = self.numbers.get(name) {
            return n;
        }
        // NO_NAME stays free.
        let n = u32::try_from(self.names.len())
            .ok()
            .filter(|&n| n < NO_NAME)
            .expect("fewer than 2^32 - 1 names");
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.numbers.insert(name, n);
        n
    }

    /// The number of `name`, if it has one.
    pub(crate) fn find(&self, name: &str) -> Option<u32> {
        self.numbers.get(name).copied()
    }

    /// The name numbered `n`.
    pub(crate) fn name(&self, n: u32) -> &Arc<str> {
        &self.names[n as usize]
    }
}

/// The number of no name (an observation that accuses no party).
pub(crate) const NO_NAME: u32 = u32::MAX;

/// One logged observation as the state keeps it (see the module docs): fixed size, strings by
/// number in [`Names`], the payload id in its chunk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stored {
    pub(crate) index: u64,
    pub(crate) time_ms: i64,
    pub(crate) from_ms: i64,
    pub(crate) to_ms: i64,
    pub(crate) lat: f64,
    pub(crate) lon: f64,
    pub(crate) radius_m: f64,
    pub(crate) signer: u32,
    pub(crate) affiliation: u32,
    pub(crate) agreement: u32,
    /// [`NO_NAME`] when it accuses no party.
    pub(crate) party: u32,
    pub(crate) version: u32,
    pub(crate) count: u32,
    /// Where its id ends in its chunk's id bytes (it starts where the previous record's ends).
    pub(crate) id_end: u32,
    pub(crate) event_type: EventType,
    pub(crate) claim: bool,
}

impl Stored {
    /// The record of `r`, its strings numbered in `names`.
    pub(crate) fn of(r: &ObservationRecord, names: &mut Names) -> Stored {
        Stored {
            index: r.index,
            time_ms: r.time_ms,
            from_ms: r.from_ms,
            to_ms: r.to_ms,
            lat: r.point.lat,
            lon: r.point.lon,
            radius_m: r.point.radius_m,
            signer: names.number(&r.signer),
            affiliation: names.number(&r.affiliation),
            agreement: names.number(&r.agreement),
            party: r
                .alleged_party
                .as_deref()
                .map_or(NO_NAME, |p| names.number(p)),
            version: r.agreement_version,
            count: r.count,
            id_end: 0,
            event_type: r.event_type,
            claim: r.claim,
        }
    }

    /// The derived event point.
    pub(crate) fn point(&self) -> EventPoint {
        EventPoint {
            lat: self.lat,
            lon: self.lon,
            radius_m: self.radius_m,
        }
    }
}

/// Positions per frozen chunk of [`RecordLog`] (a few in tests, so that they cross chunks and
/// the cold tier with small workloads).
#[cfg(not(test))]
pub(crate) const CHUNK: usize = 1 << 16;
#[cfg(test)]
pub(crate) const CHUNK: usize = 1 << 6;

/// Records of one chunk (or of one cold block) and their ids' bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chunk {
    pub(crate) records: Vec<Stored>,
    pub(crate) ids: String,
}

impl Chunk {
    /// The id of the record at `at`.
    pub(crate) fn id(&self, at: usize) -> &str {
        let start = match at {
            0 => 0,
            _ => self.records[at - 1].id_end as usize,
        };
        &self.ids[start..self.records[at].id_end as usize]
    }
}

/// A full chunk: in memory, or written to the cold tier ([`crate::cold`]).
#[derive(Debug, Clone)]
enum Frozen {
    /// Freezing moves the chunk into the `Arc`, it does not copy it.
    Resident(Arc<Chunk>),
    Cold(Arc<ColdChunk>),
}

/// A chunk being read: borrowed from the log, or a decoded cold block.
enum Held<'a> {
    Here(&'a Chunk),
    Block(Arc<Chunk>),
}

impl std::ops::Deref for Held<'_> {
    type Target = Chunk;
    fn deref(&self) -> &Chunk {
        match self {
            Held::Here(chunk) => chunk,
            Held::Block(block) => block,
        }
    }
}

/// The records in log order, append-only, in frozen chunks of [`CHUNK`] shared by reference
/// and one open chunk (see the module docs), with the [`Names`] their numbers refer to. With a
/// cold tier attached ([`RecordLog::attach_cold`]), the oldest frozen chunks live there.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordLog {
    frozen: Vec<Frozen>,
    open: Chunk,
    pub(crate) names: Names,
    cold: Option<Arc<Cold>>,
    /// The first frozen chunk still resident (those before it are cold).
    first_resident: usize,
}

impl RecordLog {
    /// Appends the record of `r` and returns it as stored (it may already be cold: a caller
    /// that needs it uses this copy rather than reading it back).
    pub(crate) fn push(&mut self, r: &ObservationRecord) -> Stored {
        let mut s = Stored::of(r, &mut self.names);
        if self.open.records.capacity() == 0 {
            self.open.records.reserve_exact(CHUNK);
        }
        self.open.ids.push_str(&r.id);
        // A chunk's ids stay below 4 GiB: ids are bounded by the entry size limit.
        s.id_end = u32::try_from(self.open.ids.len()).expect("a chunk's ids below 4 GiB");
        self.open.records.push(s);
        if self.open.records.len() == CHUNK {
            let mut full = std::mem::take(&mut self.open);
            full.ids.shrink_to_fit();
            self.frozen.push(Frozen::Resident(Arc::new(full)));
            self.spill();
        }
        s
    }

    /// Sends records to `cold` from now on: every full chunk but the newest
    /// [`Tiering::hot_chunks`] moves there.
    pub(crate) fn attach_cold(&mut self, cold: Arc<Cold>) {
        self.cold = Some(cold);
        self.spill();
    }

    /// Moves the oldest resident chunks to the cold tier until at most `hot_chunks` are left. A
    /// chunk the store fails to take stays resident (memory, not truth, is what suffers) and is
    /// tried again at the next freeze.
    fn spill(&mut self) {
        let Some(cold) = &self.cold else { return };
        while self.frozen.len() - self.first_resident > cold.tiering.hot_chunks {
            let Frozen::Resident(chunk) = &self.frozen[self.first_resident] else {
                unreachable!("chunks from first_resident on are resident")
            };
            match cold.freeze(chunk) {
                Ok(c) => self.frozen[self.first_resident] = Frozen::Cold(Arc::new(c)),
                Err(_) => return,
            }
            self.first_resident += 1;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.frozen.len() * CHUNK + self.open.records.len()
    }

    fn chunk(&self, position: usize) -> Option<(Held<'_>, usize)> {
        match self.frozen.get(position / CHUNK) {
            Some(Frozen::Resident(chunk)) => Some((Held::Here(chunk), position % CHUNK)),
            Some(Frozen::Cold(chunk)) => {
                let (block, at) = chunk.block(position % CHUNK)?;
                Some((Held::Block(block), at))
            }
            None => {
                let at = position - self.frozen.len() * CHUNK;
                (at < self.open.records.len()).then_some((Held::Here(&self.open), at))
            }
        }
    }

    pub(crate) fn get(&self, position: usize) -> Option<Stored> {
        let (chunk, at) = self.chunk(position)?;
        chunk.records.get(at).copied()
    }

    /// The payload id of the record at `position` (a copy only when it is cold).
    pub(crate) fn id(&self, position: usize) -> Option<Cow<'_, str>> {
        self.get_with_id(position).map(|(_, id)| id)
    }

    /// Whether the record at `position` has the payload id `id`.
    pub(crate) fn has_id(&self, position: usize, id: &str) -> bool {
        self.chunk(position)
            .is_some_and(|(chunk, at)| chunk.id(at) == id)
    }

    /// The record at `position` and its id, read together (one lookup when it is cold; the id
    /// is a copy only then).
    pub(crate) fn get_with_id(&self, position: usize) -> Option<(Stored, Cow<'_, str>)> {
        Some(match self.chunk(position)? {
            (Held::Here(chunk), at) => (*chunk.records.get(at)?, Cow::Borrowed(chunk.id(at))),
            (Held::Block(block), at) => (*block.records.get(at)?, Cow::Owned(block.id(at).into())),
        })
    }

    /// The cold tier, if one is attached.
    pub(crate) fn cold(&self) -> Option<&Arc<Cold>> {
        self.cold.as_ref()
    }

    /// The first frozen chunk, or the open one if none is frozen.
    #[cfg(test)]
    pub(crate) fn open_or_first(&self) -> &Chunk {
        match self.frozen.first() {
            Some(Frozen::Resident(chunk)) => chunk,
            Some(Frozen::Cold(_)) => panic!("the first chunk is cold"),
            None => &self.open,
        }
    }

    /// Number of frozen chunks in the cold tier.
    pub(crate) fn cold_chunks(&self) -> usize {
        self.first_resident
    }

    /// The reader's view of the record at `position`.
    pub(crate) fn view(&self, position: usize) -> Option<ObservationRecord> {
        let (s, id) = self.get_with_id(position)?;
        let name = |n: u32| self.names.name(n).clone();
        Some(ObservationRecord {
            id: Arc::from(id),
            index: s.index,
            time_ms: s.time_ms,
            signer: name(s.signer),
            affiliation: name(s.affiliation),
            claim: s.claim,
            agreement: name(s.agreement),
            agreement_version: s.version,
            event_type: s.event_type,
            family: s.event_type.family(),
            count: s.count,
            point: s.point(),
            from_ms: s.from_ms,
            to_ms: s.to_ms,
            alleged_party: (s.party != NO_NAME).then(|| name(s.party)),
        })
    }

    /// The records in order, as views.
    pub(crate) fn views(&self) -> impl ExactSizeIterator<Item = ObservationRecord> + '_ {
        (0..self.len()).map(|p| self.view(p).expect("a position below len()"))
    }
}

/// Records addressed by position (queries run over a [`RecordLog`]).
pub(crate) trait Records {
    fn count(&self) -> usize;
    /// The record at `position` (< `count()`).
    fn at(&self, position: usize) -> Stored;
    /// The first position whose record does not satisfy `pred` (records satisfying it first).
    fn partition_point(&self, mut pred: impl FnMut(&Stored) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(&self.at(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

impl Records for RecordLog {
    fn count(&self) -> usize {
        self.len()
    }

    fn at(&self, position: usize) -> Stored {
        self.get(position).expect("a position below count()")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation_query::tests::record;

    /// Positions across chunk boundaries read back in order, ids included; a copy shares the
    /// frozen chunks and does not see what is appended after it.
    #[test]
    fn the_record_log_reads_across_chunks_and_copies_share_them() {
        let mut log = RecordLog::default();
        let n = 2 * CHUNK + 5;
        let records: Vec<ObservationRecord> = (0..n)
            .map(|i| record(2 * i as u64, 0, 0, 0, 1, i, i))
            .collect();
        for r in &records {
            log.push(r);
        }
        assert_eq!(log.len(), n);
        for p in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, n - 1] {
            assert_eq!(log.get(p).unwrap().index, 2 * p as u64, "position {p}");
            assert_eq!(log.view(p).as_ref(), Some(&records[p]), "position {p}");
        }
        assert!(log.get(n).is_none() && log.id(n).is_none() && log.view(n).is_none());
        assert_eq!(log.views().len(), n);
        assert!(log.views().eq(records.iter().cloned()));
        for index in [0, 1, 2 * CHUNK as u64 - 1, 2 * CHUNK as u64, 2 * n as u64] {
            let p = log.partition_point(|r| r.index < index);
            let expected = (0..n).position(|i| 2 * i as u64 >= index).unwrap_or(n);
            assert_eq!(p, expected, "index {index}");
        }
        let copy = log.clone();
        let (Frozen::Resident(a), Frozen::Resident(b)) = (&copy.frozen[0], &log.frozen[0]) else {
            panic!("no cold tier is attached");
        };
        assert!(Arc::ptr_eq(a, b));
        log.push(&record(2 * n as u64, 0, 0, 0, 1, 0, 0));
        assert_eq!((copy.len(), log.len()), (n, n + 1));
        assert!(copy.views().eq(log.views().take(n)));
    }

    /// The record kept in memory stays small: the figure the module docs give.
    #[test]
    fn a_stored_record_is_88_bytes() {
        assert_eq!(std::mem::size_of::<Stored>(), 88);
    }
}
