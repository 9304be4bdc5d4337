//! Snapshots: what the bulk of the log *meant*, saved so that a restart need not decode it again.
//!
//! Why: rebuilding the state at start-up re-admits every entry, and almost all of that work —
//! JSON, base64, the canonical-form check, Ed25519 — goes into observations, decisions and
//! disputes, whose admitted effect is a small record. A snapshot keeps those records
//! (`Effect::Observe`, `Effect::Decide`, `Effect::Dispute`) for every entry up to a log size,
//! and for each observation its place in the partition into incidents at that size, in a
//! compact binary form. Restoring walks the log in order as replay does and, for each entry the
//! snapshot covers, applies the saved effect ([`State::restore`]) instead of decoding and
//! admitting the leaf; every other entry (keys, agreements, consents, ticks) is admitted from
//! the log as usual, so the parts of the state admission consults are always rebuilt from the
//! log itself.
//!
//! Why the partition is saved too: applying an observation means searching the link index for
//! its partners, and that search, not decoding, is most of the cost of applying a large log
//! (about 30 µs per observation at a million). A restored observation joins the incident the
//! snapshot names for it and is indexed for the observations that come after, without a search.
//!
//! Invariants:
//! - the state after restoring equals the state after replaying: the covered entries are
//!   exactly those whose effect is derived-only (it changes nothing admission reads, see
//!   [`State::for_admission`]), so the rest is admitted as it was; the link index receives the
//!   same observations in the same order; each incident aggregate is a fold of its members that
//!   does not depend on the order of merges (window, locator, types, tallies, version), except
//!   the ids it absorbed, which are its members that started an incident on arrival and are not
//!   its root — what the snapshot records; rulings are filed in log order with the incident their
//!   name resolves to, which is where merges had gathered them, in log order;
//! - the effects are taken from the state ([`Snapshot::capture`], in milliseconds under the
//!   state's lock: records are shared, not copied; [`Capture::encode`] runs after): an
//!   observation record and a filed ruling keep everything their effect held, with the log index
//!   and time they were applied at;
//! - a snapshot says nothing about the log's integrity. The caller still hashes every leaf and
//!   checks the tree; a snapshot carries the tree root of its size, and the caller binds the two
//!   (and signs the file, so that editing it is noticed: see the server's `snapshots` module).
//!
//! # Format (`truce-snapshot-v3`)
//! All integers are LEB128 varints (signed ones zigzag-encoded) unless a width is given.
//! ```text
//! magic   "truce-snapshot-v3\n"
//! rules   varint          the engine's [`DERIVATION`] version that wrote it
//! size    varint          entries the snapshot covers the log up to (exclusive)
//! last    zigzag          log time of entry size − 1 (ms)
//! root    32 bytes        Merkle tree hash of the log at `size`
//! count   varint          effects that follow
//! obs     varint          how many of them are observations (restoring reserves room for them)
//! ixlen   varint          length in bytes of the index section
//! index*  varint          per effect, its log index as the delta from the previous effect's
//!                         index + 1: the entries covered can be listed without decoding effects
//! effect* tag (1 byte: 1 observation, 2 decision, 3 dispute), time delta (zigzag, from the
//!         previous effect's time), for an observation its distance in positions to the root of
//!         its incident (varint) and whether it started an incident on arrival (1 byte), then
//!         the record's fields in declaration order
//! ```
//! Strings that repeat (signers, affiliations, agreements, parties, names of enumerations) are
//! written once: `1` followed by the length and UTF-8 bytes (the string gets the next number,
//! from 2), then the number of that string wherever it recurs. Strings that rarely repeat (entry
//! ids, the incident a ruling names, reasons) are written inline, `0` followed by the length and
//! bytes, and get no number. Enumerations are written as their contract names. Floats are 8
//! bytes little-endian.

use std::fmt;
use std::io::Read;
use std::sync::Arc;

use truce_model::entry::{Kind, Ruling};
use truce_model::observation::EventPoint;

use crate::State;
use crate::incidents::{DecisionRecord, DisputeRecord};
use crate::observation_record::{NO_NAME, Names, ObservationRecord, Stored};

const MAGIC: &[u8] = b"truce-snapshot-v3\n";

/// The version of the rules that turn entries into derived state (admission's records,
/// clustering): bump it whenever a change of the engine makes the same log yield a different
/// effect or partition, so that snapshots written by the older code are set aside, not trusted.
pub const DERIVATION: u32 = 1;

/// The most strings or effects a snapshot may declare (a corrupt count must not allocate).
const MAX_COUNT: u64 = 1 << 32;

/// Why bytes are not a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The bytes do not start with the magic line of this format.
    Magic,
    /// The bytes end inside the named field.
    Truncated(&'static str),
    /// The named field holds a value this format does not allow.
    Invalid(&'static str),
    /// Bytes follow the last effect.
    Trailing,
    /// Written by an engine whose derivation rules differ ([`DERIVATION`]).
    Stale(u32),
    /// Reading the snapshot's stream failed (the message says why).
    Read(String),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Magic => f.write_str("not a truce-snapshot-v3 file"),
            SnapshotError::Truncated(field) => write!(f, "the snapshot ends inside {field}"),
            SnapshotError::Invalid(field) => write!(f, "the snapshot's {field} is invalid"),
            SnapshotError::Trailing => f.write_str("bytes follow the snapshot's last effect"),
            SnapshotError::Stale(v) => write!(
                f,
                "written under derivation rules {v}, this engine applies rules {DERIVATION}"
            ),
            SnapshotError::Read(why) => write!(f, "reading the snapshot: {why}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// One saved effect: what the entry at `index`, logged at `time_ms`, did.
#[derive(Debug, Clone, PartialEq)]
pub enum Saved {
    /// An observation, with its place in the partition when the snapshot was taken.
    Observation {
        record: ObservationRecord,
        /// Position (among observations) of the root of its incident.
        root: u32,
        /// Whether it started an incident of its own on arrival.
        started: bool,
    },
    Decision(DecisionRecord),
    Dispute(DisputeRecord),
}

impl Saved {
    /// Log index of the entry.
    pub fn index(&self) -> u64 {
        match self {
            Saved::Observation { record, .. } => record.index,
            Saved::Decision(d) => d.index,
            Saved::Dispute(d) => d.index,
        }
    }

    /// Log time of the entry.
    pub fn time_ms(&self) -> i64 {
        match self {
            Saved::Observation { record, .. } => record.time_ms,
            Saved::Decision(d) => d.time_ms,
            Saved::Dispute(d) => d.time_ms,
        }
    }

    /// The entry's payload id.
    pub fn id(&self) -> &str {
        match self {
            Saved::Observation { record, .. } => &record.id,
            Saved::Decision(d) => &d.id,
            Saved::Dispute(d) => &d.id,
        }
    }

    /// The kind of the entry.
    pub fn kind(&self) -> Kind {
        match self {
            Saved::Observation { .. } => Kind::Observation,
            Saved::Decision(_) => Kind::Decision,
            Saved::Dispute(_) => Kind::Dispute,
        }
    }
}

impl State {
    /// Applies a snapshot's effect for the next entry, as [`State::apply`] applied it when it
    /// was logged: an observation joins the incident the snapshot recorded without a search for
    /// partners (see the module docs); a ruling is filed with the incident it names.
    ///
    /// An effect that does not fit this state (not for the next index, an incident root that is
    /// not one, a ruling naming no incident) is an error, and the state is then unusable: the
    /// caller starts again without the snapshot.
    pub fn restore(&mut self, saved: Saved) -> Result<(), SnapshotError> {
        let (index, time_ms) = (saved.index(), saved.time_ms());
        if index != self.size() || !self.derived {
            return Err(SnapshotError::Invalid("index"));
        }
        match saved {
            Saved::Observation {
                record,
                root,
                started,
            } => self
                .restore_observation(record, root, started)
                .ok_or(SnapshotError::Invalid("incident root"))?,
            Saved::Decision(mut d) => {
                (d.index, d.time_ms) = (index, time_ms);
                self.incident_named_mut(&d.incident)
                    .ok_or(SnapshotError::Invalid("decision incident"))?
                    .decisions
                    .push(d);
            }
            Saved::Dispute(mut d) => {
                (d.index, d.time_ms) = (index, time_ms);
                self.incident_named_mut(&d.incident)
                    .ok_or(SnapshotError::Invalid("dispute incident"))?
                    .disputes
                    .push(d);
            }
        }
        self.advance(index, time_ms);
        Ok(())
    }

    /// Completes the clustering index after [`State::restore`]: wide-tier boxes of restored
    /// observations are loaded at once here, not one by one, and grid cells filled out of order
    /// are sorted (the state must not be queried before; applying an entry completes them too).
    pub fn finish_restore(&mut self) {
        self.incidents.flush();
    }
}

/// The header of a snapshot, its index section, and its encoded effects, decoded one at a time
/// ([`Snapshot::effects`]) from memory ([`Snapshot::decode`]) or from a stream
/// ([`Snapshot::read`]), which never holds more than a window of them.
pub struct Snapshot {
    /// Entries covered: the log up to this size (exclusive).
    pub size: u64,
    /// Log time of the last covered entry (0 for an empty log).
    pub last_time_ms: i64,
    /// Merkle tree hash of the log at `size`.
    pub root: [u8; 32],
    count: u64,
    observations: u64,
    /// The header, the index section and the effects in memory, or those read with the
    /// header from a stream.
    body: Vec<u8>,
    /// The index section in `body` (whole in either case).
    indexes: std::ops::Range<usize>,
    /// Where the effects start in `body`.
    start: usize,
    /// The rest of the stream, taken by [`Snapshot::effects`] (`None` when decoded from memory).
    rest: std::sync::Mutex<Option<window::Source>>,
    streamed: bool,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("size", &self.size)
            .field("last_time_ms", &self.last_time_ms)
            .field("count", &self.count)
            .field("observations", &self.observations)
            .field("streamed", &self.streamed)
            .finish_non_exhaustive()
    }
}

/// What a snapshot's header says, and where its index section and effects lie in the bytes
/// it was read from.
struct Header {
    size: u64,
    last_time_ms: i64,
    root: [u8; 32],
    count: u64,
    observations: u64,
    indexes: std::ops::Range<usize>,
}

impl Snapshot {
    /// Encodes the derived-only effects of every entry `state` has applied; `root` is the tree
    /// hash of the log at `state.size()`. Equal to `Snapshot::capture(state, root).encode()`.
    pub fn encode(state: &State, root: [u8; 32]) -> Vec<u8> {
        Snapshot::capture(state, root).encode()
    }

    /// What a snapshot of `state` needs, taken in milliseconds, so that a server holding the
    /// state's lock can release it before the (much longer) encoding: the records themselves are
    /// shared, not copied (frozen chunks of records behind `Arc`); copied are
    /// the open chunk, every observation's place in the partition (5 bytes each) and the rulings.
    pub fn capture(state: &State, root: [u8; 32]) -> Capture {
        // One pass over the incidents that keep an aggregate: their members' distances to the
        // root, the observations that started one (the root and those it absorbed), and the
        // rulings. Every other observation is a single-report incident: its own root, started.
        let n = state.observations.len();
        let mut below_root = vec![0u32; n];
        let mut started = vec![true; n];
        let mut rulings: Vec<Filed> = Vec::new();
        for (root, incident) in state.incidents.aggregated() {
            for &m in &incident.members {
                below_root[m as usize] = m - root;
                started[m as usize] = false;
            }
            started[root as usize] = true;
            for &a in &incident.absorbed {
                started[a as usize] = true;
            }
            rulings.extend(incident.decisions.iter().cloned().map(Filed::Decision));
            rulings.extend(incident.disputes.iter().cloned().map(Filed::Dispute));
        }
        rulings.sort_by_key(Filed::index);
        debug_assert!((0..n as u32).all(|p| {
            below_root[p as usize] == p - state.incidents.root_of(p)
                && started[p as usize] == state.incidents.started(p)
        }));
        Capture {
            size: state.size(),
            last_time_ms: state.last_time_ms(),
            root,
            records: state.observations.records(),
            below_root,
            started,
            rulings,
        }
    }

    /// Decodes the header of `bytes`; the effects are decoded as [`Snapshot::effects`] yields
    /// them.
    pub fn decode(bytes: Vec<u8>) -> Result<Snapshot, SnapshotError> {
        let h = Snapshot::header(&bytes)?;
        if h.indexes.end > bytes.len() {
            return Err(SnapshotError::Truncated("index section"));
        }
        Ok(Snapshot::with(h, bytes, None))
    }

    /// Reads the header and index section from `src`; the effects are read and decoded as
    /// [`Snapshot::effects`] yields them, a window of a few megabytes at a time, so that
    /// restoring a large snapshot never holds the whole file. An error of `src` (a checksum the
    /// caller verifies at its end, say) ends the effects with [`SnapshotError::Read`].
    pub fn read(src: impl Read + Send + 'static) -> Result<Snapshot, SnapshotError> {
        let mut src: window::Source = Box::new(src);
        let mut head = Vec::new();
        let mut limit = window::HEAD as u64;
        loop {
            let before = head.len();
            (&mut src)
                .take(limit)
                .read_to_end(&mut head)
                .map_err(|e| SnapshotError::Read(e.to_string()))?;
            match Snapshot::header(&head) {
                Ok(h) if h.indexes.end <= head.len() => {
                    return Ok(Snapshot::with(h, head, Some(src)));
                }
                // The index section goes on beyond what was read: read up to its end (its
                // length is bounded by `count`, which is bounded by the log's size), unless the
                // stream ended.
                Ok(h) if head.len() > before => limit = (h.indexes.end - head.len()) as u64,
                Ok(_) => return Err(SnapshotError::Truncated("index section")),
                // The header itself was cut by the end of the read: read on, unless the
                // stream ended.
                Err(SnapshotError::Truncated(_)) if head.len() > before => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The header of `bytes` and where its index section lies, which may extend beyond `bytes`
    /// (the caller checks: [`Snapshot::decode`] by [`Snapshot::with`], [`Snapshot::read`] by
    /// reading on).
    fn header(bytes: &[u8]) -> Result<Header, SnapshotError> {
        let mut r = Reader::new(bytes);
        if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
            return Err(SnapshotError::Truncated("magic"));
        }
        if !r.take_prefix(MAGIC) {
            return Err(SnapshotError::Magic);
        }
        let rules = r.u32("rules")?;
        if rules != DERIVATION {
            return Err(SnapshotError::Stale(rules));
        }
        let size = r.uint("size")?;
        let last_time_ms = r.int("last time")?;
        let root: [u8; 32] = r
            .bytes(32, "root")?
            .try_into()
            .expect("32 bytes were taken");
        let count = r.uint("count")?;
        if count > size || count > MAX_COUNT {
            return Err(SnapshotError::Invalid("count"));
        }
        let observations = r.uint("observations")?;
        if observations > count {
            return Err(SnapshotError::Invalid("observations"));
        }
        // At most one ten-byte varint per effect.
        let ixlen = usize::try_from(r.uint("index section length")?)
            .ok()
            .filter(|&n| n as u64 <= count.saturating_mul(10))
            .ok_or(SnapshotError::Invalid("index section length"))?;
        Ok(Header {
            size,
            last_time_ms,
            root,
            count,
            observations,
            indexes: r.at..r.at + ixlen,
        })
    }

    fn with(h: Header, body: Vec<u8>, rest: Option<window::Source>) -> Snapshot {
        Snapshot {
            size: h.size,
            last_time_ms: h.last_time_ms,
            root: h.root,
            count: h.count,
            observations: h.observations,
            start: h.indexes.end,
            indexes: h.indexes,
            streamed: rest.is_some(),
            rest: std::sync::Mutex::new(rest),
            body,
        }
    }

    /// Number of saved observations (to reserve room for them before restoring).
    pub fn observations(&self) -> u64 {
        self.observations
    }

    /// Number of saved effects.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether it saves no effect.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The saved effects in log order, decoded one at a time; a decoding error ends them.
    /// Read from a stream, the effects can be read once: a second call yields an error.
    pub fn effects(&self) -> Effects<'_> {
        let window = if self.streamed {
            let rest = self.rest.lock().ok().and_then(|mut r| r.take());
            let head = self.body[self.start..].to_vec();
            window::Window::stream(head, rest)
        } else {
            window::Window::memory(&self.body[self.start..])
        };
        Effects {
            window,
            strings: Vec::new(),
            indexes: self.indexes(),
            left: self.count,
            observations: self.observations,
            time_ms: 0,
            position: 0,
            failed: false,
        }
    }

    /// The log indexes of the saved effects, ascending, read from the index section alone
    /// (without decoding the effects); a decoding error ends them.
    pub fn indexes(&self) -> Indexes<'_> {
        Indexes {
            r: Reader::new(&self.body[self.indexes.clone()]),
            left: self.count,
            size: self.size,
            next: 0,
        }
    }
}

/// A state's effects as [`Snapshot::capture`] took them, to encode away from the state.
#[derive(Debug)]
pub struct Capture {
    size: u64,
    last_time_ms: i64,
    root: [u8; 32],
    records: crate::observation_record::RecordLog,
    /// Per observation, its distance in positions to its incident's root.
    below_root: Vec<u32>,
    /// Per observation, whether it started an incident on arrival.
    started: Vec<bool>,
    /// Rulings in log order.
    rulings: Vec<Filed>,
}

impl Capture {
    /// The log size the capture covers.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The snapshot's bytes (format above).
    pub fn encode(self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out)
            .expect("a vector takes every write");
        out
    }

    /// Writes the snapshot (format above) to `out` as it is encoded: what stays in memory is the
    /// index section (a byte or two per effect) and a buffer, not the whole snapshot (about 90
    /// bytes per effect: hundreds of megabytes for a large log). The index section comes first
    /// in the format, so the effects are walked twice: once for their log indexes, once to write
    /// them.
    pub fn encode_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        // A few bytes under test, so that every test's snapshot is written in many pieces.
        const FLUSH_AT: usize = if cfg!(test) { 64 } else { 1 << 20 };
        let count = self.records.len() + self.rulings.len();
        let mut indexes = Vec::with_capacity(count * 2);
        let mut next = 0;
        self.each_effect(|e| {
            let index = match e {
                Next::Observation(_, r) => r.index,
                Next::Ruling(f) => f.index(),
            };
            put_uint(&mut indexes, index - next);
            next = index + 1;
        });
        let mut head = Vec::with_capacity(128);
        head.extend_from_slice(MAGIC);
        put_uint(&mut head, u64::from(DERIVATION));
        put_uint(&mut head, self.size);
        put_uint(&mut head, zigzag(self.last_time_ms));
        head.extend_from_slice(&self.root);
        put_uint(&mut head, count as u64);
        put_uint(&mut head, self.records.len() as u64);
        put_uint(&mut head, indexes.len() as u64);
        out.write_all(&head)?;
        out.write_all(&indexes)?;
        drop(indexes);
        let mut w = Writer {
            out: Vec::with_capacity(FLUSH_AT + 4096),
            ..Writer::default()
        };
        let records = &self.records;
        let mut failed = None;
        self.each_effect(|e| {
            if failed.is_some() {
                return;
            }
            match e {
                Next::Ruling(Filed::Decision(d)) => w.decision(d),
                Next::Ruling(Filed::Dispute(d)) => w.dispute(d),
                Next::Observation(position, record) => {
                    let id = records.id(position).expect("a position below len()");
                    w.observation(
                        &record,
                        &id,
                        &records.names,
                        self.below_root[position],
                        self.started[position],
                    );
                }
            }
            // The index section was written already.
            w.indexes.clear();
            if w.out.len() >= FLUSH_AT {
                failed = out.write_all(&w.out).err();
                w.out.clear();
            }
        });
        match failed {
            Some(e) => Err(e),
            None => out.write_all(&w.out),
        }
    }

    /// Calls `f` with every effect in log order: observations and rulings merged by log index.
    fn each_effect(&self, mut f: impl FnMut(Next<'_>)) {
        let records = &self.records;
        let mut observations = (0..records.len())
            .map(|p| (p, records.get(p).expect("a position below len()")))
            .peekable();
        let mut rulings = self.rulings.iter().peekable();
        loop {
            let next_is_ruling = match (observations.peek(), rulings.peek()) {
                (None, None) => break,
                (Some((_, o)), Some(r)) => r.index() < o.index,
                (None, Some(_)) => true,
                (Some(_), None) => false,
            };
            if next_is_ruling {
                f(Next::Ruling(rulings.next().expect("peeked")));
            } else {
                let (position, record) = observations.next().expect("peeked");
                f(Next::Observation(position, record));
            }
        }
    }
}

/// One effect of a capture, as [`Capture::each_effect`] walks them.
enum Next<'a> {
    /// The observation at a position and its record.
    Observation(usize, Stored),
    Ruling(&'a Filed),
}

/// A ruling filed with some incident, copied for encoding.
#[derive(Debug)]
enum Filed {
    Decision(DecisionRecord),
    Dispute(DisputeRecord),
}

impl Filed {
    fn index(&self) -> u64 {
        match self {
            Filed::Decision(d) => d.index,
            Filed::Dispute(d) => d.index,
        }
    }
}

/// Iterator over a snapshot's effects ([`Snapshot::effects`]).
pub struct Effects<'a> {
    window: window::Window<'a>,
    /// The numbered strings decoded so far.
    strings: Vec<Arc<str>>,
    indexes: Indexes<'a>,
    left: u64,
    observations: u64,
    time_ms: i64,
    /// Position of the next observation (observations before it).
    position: u32,
    failed: bool,
}

impl Iterator for Effects<'_> {
    type Item = Result<Saved, SnapshotError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.left == 0 {
            self.failed = true;
            match self.window.at_end() {
                Ok(true) => {}
                Ok(false) => return Some(Err(SnapshotError::Trailing)),
                Err(e) => return Some(Err(e)),
            }
            if u64::from(self.position) != self.observations {
                return Some(Err(SnapshotError::Invalid("observations")));
            }
            // The index section holds exactly one index per effect.
            return self.indexes.next().and_then(|i| i.err()).map(Err);
        }
        self.left -= 1;
        let saved = self.decode_one();
        self.failed = saved.is_err();
        Some(saved)
    }
}

impl Effects<'_> {
    /// The next effect, from the window (refilled first when it runs low).
    fn decode_one(&mut self) -> Result<Saved, SnapshotError> {
        let index = self
            .indexes
            .next()
            .unwrap_or(Err(SnapshotError::Truncated("index section")))?;
        self.window.fill()?;
        let (bytes, at) = self.window.unread();
        let mut r = Reader {
            bytes,
            at,
            strings: std::mem::take(&mut self.strings),
        };
        let saved = Effects::decode_from(&mut r, index, &mut self.time_ms, &mut self.position);
        let consumed = r.at - at;
        self.strings = r.strings;
        self.window.consume(consumed);
        saved
    }

    /// The effect of the entry at `index` from `r`; `time_ms` is the previous effect's log
    /// time and `position` the position of the next observation, both advanced.
    fn decode_from(
        r: &mut Reader<'_>,
        index: u64,
        last_time_ms: &mut i64,
        position: &mut u32,
    ) -> Result<Saved, SnapshotError> {
        let tag = r.byte("tag")?;
        let previous = *last_time_ms;
        let time_ms = previous
            .checked_add(r.int("time")?)
            .filter(|&t| t >= previous)
            .ok_or(SnapshotError::Invalid("time"))?;
        *last_time_ms = time_ms;
        Ok(match tag {
            1 => {
                let root = r
                    .u32("incident root")
                    .ok()
                    .and_then(|below| position.checked_sub(below))
                    .ok_or(SnapshotError::Invalid("incident root"))?;
                let started = r.flag("started")?;
                let record = r.observation(index, time_ms)?;
                *position = position
                    .checked_add(1)
                    .ok_or(SnapshotError::Invalid("count"))?;
                Saved::Observation {
                    record,
                    root,
                    started,
                }
            }
            2 => Saved::Decision(DecisionRecord {
                id: r.string("decision id")?,
                index,
                time_ms,
                signer: r.string("decision signer")?,
                incident: r.string("decision incident")?,
                ruling: Ruling::from_name(&r.string("ruling")?)
                    .ok_or(SnapshotError::Invalid("ruling"))?,
                attribution: r.opt_string("attribution")?,
                reason: r.string("decision reason")?,
            }),
            3 => Saved::Dispute(DisputeRecord {
                id: r.string("dispute id")?,
                index,
                time_ms,
                signer: r.string("dispute signer")?,
                party: r.string("dispute party")?,
                incident: r.string("dispute incident")?,
                reason: r.string("dispute reason")?,
            }),
            _ => return Err(SnapshotError::Invalid("tag")),
        })
    }
}

/// The log indexes of a snapshot's effects ([`Snapshot::indexes`]).
pub struct Indexes<'a> {
    r: Reader<'a>,
    left: u64,
    size: u64,
    next: u64,
}

impl Iterator for Indexes<'_> {
    type Item = Result<u64, SnapshotError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            if self.r.at != self.r.bytes.len() {
                self.r.at = self.r.bytes.len();
                return Some(Err(SnapshotError::Invalid("index section length")));
            }
            return None;
        }
        self.left -= 1;
        let index = self.r.uint("index").and_then(|delta| {
            self.next
                .checked_add(delta)
                .filter(|&i| i < self.size)
                .ok_or(SnapshotError::Invalid("index"))
        });
        match index {
            Ok(i) => self.next = i + 1,
            Err(_) => (self.left, self.r.at) = (0, self.r.bytes.len()),
        }
        Some(index)
    }
}

/// Appends `v` as a LEB128 varint.
fn put_uint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Zigzag encoding of a signed integer (small magnitudes, small varints).
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Encoder state: the output and the numbers of the strings written so far.
#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    /// The index section (index deltas), written beside the effects.
    indexes: Vec<u8>,
    strings: std::collections::HashMap<Box<str>, u64>,
    index: u64,
    time_ms: i64,
}

impl Writer {
    fn uint(&mut self, v: u64) {
        put_uint(&mut self.out, v);
    }

    fn int(&mut self, v: i64) {
        self.uint(zigzag(v));
    }

    fn f64(&mut self, v: f64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// A string that repeats: numbered at its first occurrence, referred to by number after.
    fn string(&mut self, s: &str) {
        if let Some(&n) = self.strings.get(s) {
            self.uint(n);
            return;
        }
        let n = self.strings.len() as u64 + 2;
        self.strings.insert(s.into(), n);
        self.uint(1);
        self.uint(s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
    }

    /// A string that rarely repeats, written in full.
    fn inline(&mut self, s: &str) {
        self.uint(0);
        self.uint(s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
    }

    fn opt_string(&mut self, s: Option<&str>) {
        match s {
            None => self.out.push(0),
            Some(s) => {
                self.out.push(1);
                self.string(s);
            }
        }
    }

    /// The next effect's index delta (in the index section), its tag and time delta.
    fn head(&mut self, tag: u8, index: u64, time_ms: i64) {
        put_uint(&mut self.indexes, index - self.index);
        self.out.push(tag);
        self.int(time_ms - self.time_ms);
        (self.index, self.time_ms) = (index + 1, time_ms);
    }

    /// `r`, `below_root` positions after the root of its incident.
    /// The record `r` with payload id `id` (its strings numbered in `names`), `below_root`
    /// positions after the root of its incident; its fields in the order of
    /// [`ObservationRecord`]'s declaration, as the reader takes them.
    fn observation(&mut self, r: &Stored, id: &str, names: &Names, below_root: u32, started: bool) {
        self.head(1, r.index, r.time_ms);
        self.uint(u64::from(below_root));
        self.out.push(u8::from(started));
        self.inline(id);
        self.string(names.name(r.signer));
        self.string(names.name(r.affiliation));
        self.out.push(u8::from(r.claim));
        self.string(names.name(r.agreement));
        self.uint(u64::from(r.version));
        self.string(r.event_type.as_str());
        self.uint(u64::from(r.count));
        self.f64(r.lat);
        self.f64(r.lon);
        self.f64(r.radius_m);
        self.int(r.from_ms);
        self.int(r.to_ms);
        self.opt_string((r.party != NO_NAME).then(|| &**names.name(r.party)));
    }

    fn decision(&mut self, d: &DecisionRecord) {
        self.head(2, d.index, d.time_ms);
        self.inline(&d.id);
        self.string(&d.signer);
        self.inline(&d.incident);
        self.string(d.ruling.as_str());
        self.opt_string(d.attribution.as_deref());
        self.inline(&d.reason);
    }

    fn dispute(&mut self, d: &DisputeRecord) {
        self.head(3, d.index, d.time_ms);
        self.inline(&d.id);
        self.string(&d.signer);
        self.string(&d.party);
        self.inline(&d.incident);
        self.inline(&d.reason);
    }
}

/// Decoder state: the input, the position, and the strings read so far.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    strings: Vec<Arc<str>>,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader {
            bytes,
            at: 0,
            strings: Vec::new(),
        }
    }

    fn take_prefix(&mut self, prefix: &[u8]) -> bool {
        let ok = self.bytes[self.at..].starts_with(prefix);
        if ok {
            self.at += prefix.len();
        }
        ok
    }

    fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], SnapshotError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(SnapshotError::Truncated(field))?;
        let b = &self.bytes[self.at..end];
        self.at = end;
        Ok(b)
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, SnapshotError> {
        Ok(self.bytes(1, field)?[0])
    }

    fn flag(&mut self, field: &'static str) -> Result<bool, SnapshotError> {
        match self.byte(field)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(SnapshotError::Invalid(field)),
        }
    }

    fn uint(&mut self, field: &'static str) -> Result<u64, SnapshotError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte(field)?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(SnapshotError::Invalid(field));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(SnapshotError::Invalid(field))
    }

    fn int(&mut self, field: &'static str) -> Result<i64, SnapshotError> {
        let u = self.uint(field)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, SnapshotError> {
        u32::try_from(self.uint(field)?).map_err(|_| SnapshotError::Invalid(field))
    }

    fn f64(&mut self, field: &'static str) -> Result<f64, SnapshotError> {
        let b: [u8; 8] = self.bytes(8, field)?.try_into().expect("8 bytes");
        Ok(f64::from_le_bytes(b))
    }

    fn string(&mut self, field: &'static str) -> Result<Arc<str>, SnapshotError> {
        let n = self.uint(field)?;
        if n >= 2 {
            return usize::try_from(n - 2)
                .ok()
                .and_then(|i| self.strings.get(i))
                .cloned()
                .ok_or(SnapshotError::Invalid(field));
        }
        let len = usize::try_from(self.uint(field)?).map_err(|_| SnapshotError::Invalid(field))?;
        let s = std::str::from_utf8(self.bytes(len, field)?)
            .map_err(|_| SnapshotError::Invalid(field))?;
        let s: Arc<str> = Arc::from(s);
        if n == 1 {
            self.strings.push(s.clone());
        }
        Ok(s)
    }

    fn opt_string(&mut self, field: &'static str) -> Result<Option<Arc<str>>, SnapshotError> {
        Ok(if self.flag(field)? {
            Some(self.string(field)?)
        } else {
            None
        })
    }

    /// A contract name of `T`.
    fn name<T: std::str::FromStr>(&mut self, field: &'static str) -> Result<T, SnapshotError> {
        self.string(field)?
            .parse()
            .map_err(|_| SnapshotError::Invalid(field))
    }

    fn observation(
        &mut self,
        index: u64,
        time_ms: i64,
    ) -> Result<ObservationRecord, SnapshotError> {
        let id = self.string("observation id")?;
        let signer = self.string("signer")?;
        let affiliation = self.string("affiliation")?;
        let claim = self.flag("claim")?;
        let agreement = self.string("agreement")?;
        let agreement_version = self.u32("agreement version")?;
        let event_type: truce_model::taxonomy::EventType = self.name("event type")?;
        let count = self.u32("count")?;
        let point = EventPoint {
            lat: self.f64("latitude")?,
            lon: self.f64("longitude")?,
            radius_m: self.f64("radius")?,
        };
        let (from_ms, to_ms) = (self.int("from")?, self.int("to")?);
        Ok(ObservationRecord {
            id,
            index,
            time_ms,
            signer,
            affiliation,
            claim,
            agreement,
            agreement_version,
            family: event_type.family(),
            event_type,
            count,
            point,
            from_ms,
            to_ms,
            alleged_party: self.opt_string("alleged party")?,
        })
    }
}

#[cfg(test)]
mod tests;
mod window;
