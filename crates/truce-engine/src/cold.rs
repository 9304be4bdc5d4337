//! The cold tier: observation records that readers seldom touch, kept outside memory.
//!
//! Why: a server holding a large log keeps a fixed-size record of every observation
//! (`observation_record`), about 110 bytes with its id. At 10M observations that alone
//! is over a gigabyte, four times what DESIGN §11 allows for the whole process. Yet what is read
//! often is recent: new reports link to reports of the same hours, and pages of queries and
//! incidents are mostly of the last days. Old records are read by position (an incident's
//! members, a page of a query, the digest's walk), never changed, so they can live in a file.
//!
//! How: the state's records are chunks of `observation_record`'s `CHUNK` positions. Once
//! more than [`Tiering::hot_chunks`] full chunks are resident, the oldest one is written to the
//! [`ColdStore`] as blocks of [`BLOCK`] records (their fields in a fixed little-endian layout,
//! then their ids' bytes) and dropped from memory. What stays resident per block is where it
//! ends and the first half of its SHA-256 (20 bytes per [`BLOCK`] records, about 0.6 bytes per
//! observation). A read decodes the block through a bounded cache of decoded blocks
//! ([`Tiering::cached_blocks`]).
//!
//! The engine still does no I/O of its own: the caller supplies the store (the server a file in
//! its data directory, tests a vector in memory), as it supplies agreement files through a
//! resolver. Without a store, everything stays resident (`truce replay` works that way).
//!
//! # Invariants
//! - Records are immutable once logged, so a block is written once and never changes; the store
//!   is append-only and offsets stay valid for every copy of the state that shares it.
//! - Every block read is checked against the hash taken when it was written. A store that fails
//!   to read, or returns other bytes, means the data directory was changed under the running
//!   server or its disk failed: the state can no longer answer truthfully, so reading marks it
//!   failed ([`crate::State::cold_failed`]) and panics ([`ColdFailure`]); the server treats that
//!   as a lost state (503 until a restart rebuilds it from the log). The cold file is derived
//!   state, rewritten from the log at every start.
//! - A store that fails to *write* loses nothing: the chunk or day stays in memory and is tried
//!   again later.
//! - A reader sees the same record, id and order whether a chunk is resident or cold.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};
use truce_model::taxonomy::EventType;

use crate::observation_record::{Chunk, Stored};

/// Records per cold block: a miss reads and hashes about 3.5 kB (a few records in tests). A
/// query that filters on time reads candidates scattered over the log when reports arrived in
/// no order of time: with blocks of 256 records, hashing the blocks of such candidates took
/// most of a query's time (an hour of a 1M-entry log: 105 ms, against 7 ms in memory; 12.8 ms
/// with blocks of 16, 2 bytes per record of block references).
#[cfg(not(test))]
pub const BLOCK: usize = 32;
/// Records per cold block (a few in tests).
#[cfg(test)]
pub const BLOCK: usize = 16;

/// Bytes of one record in a cold block.
const RECORD_BYTES: usize = 88;

/// Where the cold tier's blocks are written and read back: an append-only byte store.
pub trait ColdStore: Send + Sync + fmt::Debug {
    /// Appends `bytes` and returns the offset they start at.
    fn append(&self, bytes: &[u8]) -> io::Result<u64>;
    /// Fills `buf` with the bytes starting at `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// A new, empty store for data needed only for a while (the digest's sorted runs), whose
    /// space is given back when the last reference to it is dropped; `None` if there is none to
    /// be had (the caller then keeps that data in memory). The main store is append-only and
    /// lives as long as the process: data written there is never reclaimed.
    fn scratch(&self) -> Option<Arc<dyn ColdStore>> {
        None
    }
}

/// A [`ColdStore`] in memory (tests; a state that must not touch the disk).
#[derive(Debug, Default)]
pub struct MemoryCold(Mutex<Vec<u8>>);

impl MemoryCold {
    /// Flips the bits of the byte at `offset` (tests of the integrity check).
    pub fn corrupt(&self, offset: u64) {
        let mut bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = bytes.get_mut(offset as usize) {
            *b = !*b;
        }
    }

    /// Bytes stored so far.
    pub fn len(&self) -> u64 {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len() as u64
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ColdStore for MemoryCold {
    fn scratch(&self) -> Option<Arc<dyn ColdStore>> {
        Some(Arc::new(MemoryCold::default()))
    }

    fn append(&self, bytes: &[u8]) -> io::Result<u64> {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let at = all.len() as u64;
        all.extend_from_slice(bytes);
        Ok(at)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let bytes = start
            .checked_add(buf.len())
            .and_then(|end| all.get(start..end))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

/// How much of the records stays resident when a [`ColdStore`] is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiering {
    /// Full chunks kept in memory besides the open one (the newest ones).
    pub hot_chunks: usize,
    /// Decoded cold blocks kept in the read cache.
    pub cached_blocks: usize,
    /// Days of the link search's grid kept in memory behind the newest day any observation
    /// started on ([`crate::incidents::link`]); older days go to the cold tier.
    pub hot_days: u32,
}

impl Default for Tiering {
    /// Two chunks (131,072 records, about 14 MB), 4,096 blocks (about 14 MB) of cache, and a
    /// week of the grid.
    fn default() -> Tiering {
        Tiering {
            hot_chunks: 2,
            cached_blocks: 4096,
            hot_days: 7,
        }
    }
}

/// Why the cold tier could not give back what was written to it (see the module docs: it means
/// the state is lost).
#[derive(Debug)]
#[non_exhaustive]
pub enum ColdFailure {
    /// The store failed to write a block.
    Write(io::Error),
    /// The store failed to read a block back.
    Read(u64, io::Error),
    /// The bytes read back are not those written.
    Altered(u64),
    /// Bytes that match their hash do not decode as the named structure (a bug, not damage).
    Undecodable(&'static str),
}

impl fmt::Display for ColdFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColdFailure::Write(e) => write!(f, "writing to the cold tier: {e}"),
            ColdFailure::Read(at, e) => write!(f, "reading the cold tier at {at}: {e}"),
            ColdFailure::Altered(at) => write!(
                f,
                "the cold tier's data at {at} is not what was written (the data directory was changed \
                 under the running server, or its disk failed)"
            ),
            ColdFailure::Undecodable(what) => {
                write!(f, "a cold {what} that matches its hash does not decode")
            }
        }
    }
}

impl std::error::Error for ColdFailure {}

/// The store a state's cold chunks live in, and the cache of their decoded blocks; shared by
/// every copy of the state.
#[derive(Debug)]
pub(crate) struct Cold {
    store: Arc<dyn ColdStore>,
    pub(crate) tiering: Tiering,
    cache: Mutex<Cache>,
    /// Set once a read failed ([`Cold::fail`]): the state is lost. Shared with scratch tiers.
    failed: Arc<AtomicBool>,
}

/// Where some bytes written to the cold store are, and what they hash to ([`short_hash`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Blob {
    offset: u64,
    len: u32,
    hash: [u8; 16],
}

/// A chunk whose records are in the cold store: its blocks were written together from `base`,
/// each ending at its `ends` entry (relative to `base`) and hashing to its `hashes` entry (the
/// first 16 bytes of its SHA-256). 20 bytes per block, about 0.6 per record.
#[derive(Debug)]
pub(crate) struct ColdChunk {
    cold: Arc<Cold>,
    base: u64,
    ends: Vec<u32>,
    hashes: Vec<[u8; 16]>,
}

impl Cold {
    pub(crate) fn new(store: Arc<dyn ColdStore>, tiering: Tiering) -> Cold {
        Cold {
            store,
            tiering,
            cache: Mutex::new(Cache::default()),
            failed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Writes `chunk` to the store, block by block.
    pub(crate) fn freeze(self: &Arc<Cold>, chunk: &Chunk) -> Result<ColdChunk, ColdFailure> {
        let blocks = chunk.records.len().div_ceil(BLOCK);
        let (mut ends, mut hashes) = (Vec::with_capacity(blocks), Vec::with_capacity(blocks));
        let mut bytes = Vec::with_capacity(chunk.records.len() * (RECORD_BYTES + 32));
        for start in (0..chunk.records.len()).step_by(BLOCK) {
            let from = bytes.len();
            let end = (start + BLOCK).min(chunk.records.len());
            encode_block(chunk, start..end, &mut bytes);
            let end = u32::try_from(bytes.len())
                .map_err(|_| ColdFailure::Write(io::ErrorKind::InvalidInput.into()))?;
            ends.push(end);
            hashes.push(short_hash(&bytes[from..]));
        }
        let base = self.store.append(&bytes).map_err(ColdFailure::Write)?;
        Ok(ColdChunk {
            cold: self.clone(),
            base,
            ends,
            hashes,
        })
    }

    /// Marks the state lost and panics: what was written cannot be read back (see the module
    /// docs). A reader holding the state's lock for reading does not poison it, so the flag is
    /// what tells the server ([`crate::State::cold_failed`]).
    pub(crate) fn fail(&self, e: ColdFailure) -> ! {
        self.failed.store(true, Ordering::SeqCst);
        panic!("{e}")
    }

    /// Whether a read failed.
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// A tier over a scratch store ([`ColdStore::scratch`]) for data needed for a while: its
    /// space is given back once it is dropped. A failed read there loses the state too.
    pub(crate) fn scratch(&self) -> Option<Cold> {
        Some(Cold {
            store: self.store.scratch()?,
            tiering: self.tiering,
            cache: Mutex::new(Cache::default()),
            failed: self.failed.clone(),
        })
    }

    /// Writes `bytes` to the store.
    pub(crate) fn put(&self, bytes: &[u8]) -> Result<Blob, ColdFailure> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| ColdFailure::Write(io::ErrorKind::InvalidInput.into()))?;
        let offset = self.store.append(bytes).map_err(ColdFailure::Write)?;
        Ok(Blob {
            offset,
            len,
            hash: short_hash(bytes),
        })
    }

    /// The bytes `put` wrote as `b`, checked against their hash.
    pub(crate) fn get(&self, b: &Blob) -> Result<Vec<u8>, ColdFailure> {
        self.fetch(b.offset, b.len as usize, &b.hash)
    }

    /// The `len` bytes at `offset`, checked against `hash`: the one way anything comes back from
    /// the store.
    fn fetch(&self, offset: u64, len: usize, hash: &[u8; 16]) -> Result<Vec<u8>, ColdFailure> {
        let mut bytes = vec![0; len];
        self.store
            .read_at(offset, &mut bytes)
            .map_err(|e| ColdFailure::Read(offset, e))?;
        if short_hash(&bytes) != *hash {
            return Err(ColdFailure::Altered(offset));
        }
        Ok(bytes)
    }

    /// The decoded block of `len` bytes at `offset` that hashes to `hash`, from the cache or
    /// the store.
    fn block(&self, offset: u64, len: usize, hash: &[u8; 16]) -> Arc<Chunk> {
        let cached = self.lock().get(offset);
        if let Some(block) = cached {
            return block;
        }
        let block = Arc::new(
            self.read(offset, len, hash)
                .unwrap_or_else(|e| self.fail(e)),
        );
        self.lock()
            .put(offset, block.clone(), self.tiering.cached_blocks);
        block
    }

    fn read(&self, offset: u64, len: usize, hash: &[u8; 16]) -> Result<Chunk, ColdFailure> {
        decode_block(&self.fetch(offset, len, hash)?)
            .ok_or(ColdFailure::Undecodable("record block"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // The cache holds only decoded copies of checked blocks: valid at any point.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ColdChunk {
    /// The decoded block holding the chunk's position `at`, and `at`'s place in it.
    pub(crate) fn block(&self, at: usize) -> Option<(Arc<Chunk>, usize)> {
        let i = at / BLOCK;
        let end = *self.ends.get(i)?;
        let start = i.checked_sub(1).map_or(0, |p| self.ends[p]);
        let block = self.cold.block(
            self.base + u64::from(start),
            (end - start) as usize,
            &self.hashes[i],
        );
        Some((block, at % BLOCK))
    }
}

/// Decoded blocks by offset, evicted in CLOCK order (a block read again since the hand last
/// passed it gets a second chance).
#[derive(Debug, Default)]
struct Cache {
    blocks: HashMap<u64, (Arc<Chunk>, bool)>,
    ring: Vec<u64>,
    hand: usize,
}

impl Cache {
    fn get(&mut self, offset: u64) -> Option<Arc<Chunk>> {
        let (block, used) = self.blocks.get_mut(&offset)?;
        *used = true;
        Some(block.clone())
    }

    fn put(&mut self, offset: u64, block: Arc<Chunk>, capacity: usize) {
        if capacity == 0 || self.blocks.contains_key(&offset) {
            return;
        }
        if self.ring.len() < capacity {
            self.ring.push(offset);
        } else {
            loop {
                let victim = self.ring[self.hand];
                let used = self.blocks.get_mut(&victim).map(|(_, used)| used);
                match used {
                    Some(used) if *used => {
                        *used = false;
                        self.hand = (self.hand + 1) % self.ring.len();
                    }
                    _ => {
                        self.blocks.remove(&victim);
                        self.ring[self.hand] = offset;
                        self.hand = (self.hand + 1) % self.ring.len();
                        break;
                    }
                }
            }
        }
        self.blocks.insert(offset, (block, false));
    }
}

/// The first 16 bytes of the SHA-256 of `bytes`: the check of everything written to the store
/// (it stays resident for every block of records, so half a hash, not a whole one).
fn short_hash(bytes: &[u8]) -> [u8; 16] {
    let full: [u8; 32] = Sha256::digest(bytes).into();
    full[..16].try_into().expect("16 of 32 bytes")
}

/// Appends the records `range` of `chunk` and their ids' bytes to `out`:
/// `count` (u32), `count` records of [`RECORD_BYTES`], then the ids.
fn encode_block(chunk: &Chunk, range: std::ops::Range<usize>, out: &mut Vec<u8>) {
    let ids_start = match range.start {
        0 => 0,
        s => chunk.records[s - 1].id_end as usize,
    };
    let ids_end = chunk.records[range.end - 1].id_end as usize;
    out.extend_from_slice(&(range.len() as u32).to_le_bytes());
    for r in &chunk.records[range] {
        for v in [r.index as i64, r.time_ms, r.from_ms, r.to_ms] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [r.lat, r.lon, r.radius_m] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let id_end = r.id_end - ids_start as u32;
        for v in [
            r.signer,
            r.affiliation,
            r.agreement,
            r.party,
            r.version,
            r.count,
            id_end,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let code = EventType::ALL
            .iter()
            .position(|t| *t == r.event_type)
            .expect("every event type is in ALL");
        out.extend_from_slice(&[code as u8, u8::from(r.claim), 0, 0]);
    }
    out.extend_from_slice(&chunk.ids.as_bytes()[ids_start..ids_end]);
}

/// The block `encode_block` wrote; `None` if the bytes are not one.
fn decode_block(bytes: &[u8]) -> Option<Chunk> {
    let count = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let records_end = 4 + count.checked_mul(RECORD_BYTES)?;
    let ids = std::str::from_utf8(bytes.get(records_end..)?).ok()?;
    let mut records = Vec::with_capacity(count);
    for raw in bytes.get(4..records_end)?.chunks_exact(RECORD_BYTES) {
        let word = |i: usize| <[u8; 8]>::try_from(&raw[8 * i..8 * i + 8]).expect("8 bytes");
        let int = |i: usize| i64::from_le_bytes(word(i));
        let float = |i: usize| f64::from_le_bytes(word(i));
        let small =
            |i: usize| u32::from_le_bytes(raw[56 + 4 * i..60 + 4 * i].try_into().expect("4 bytes"));
        let id_end = small(6);
        let previous = records.last().map_or(0, |r: &Stored| r.id_end);
        if id_end < previous
            || id_end as usize > ids.len()
            || !ids.is_char_boundary(id_end as usize)
        {
            return None;
        }
        records.push(Stored {
            index: u64::try_from(int(0)).ok()?,
            time_ms: int(1),
            from_ms: int(2),
            to_ms: int(3),
            lat: float(4),
            lon: float(5),
            radius_m: float(6),
            signer: small(0),
            affiliation: small(1),
            agreement: small(2),
            party: small(3),
            version: small(4),
            count: small(5),
            id_end,
            event_type: *EventType::ALL.get(raw[84] as usize)?,
            claim: raw[85] != 0,
        });
    }
    if records.last().map_or(0, |r| r.id_end as usize) != ids.len() {
        return None;
    }
    Some(Chunk {
        records,
        ids: ids.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation_query::tests::record;
    use crate::observation_record::{CHUNK, RecordLog};

    fn log_of(n: usize) -> RecordLog {
        let mut log = RecordLog::default();
        for i in 0..n {
            // Ids of varied lengths, some beyond ASCII.
            let mut r = record(3 * i as u64, i as i32 % 7, 1, 0, 1, i, i);
            r.id = Arc::from(format!("{}-{i}", "é".repeat(i % 5)));
            log.push(&r);
        }
        log
    }

    /// A log whose old chunks are cold reads back exactly as one held in memory, through a
    /// cache of one block; only the newest `hot_chunks` full chunks stay resident.
    #[test]
    fn cold_chunks_read_back_as_resident_ones() {
        let n = 4 * CHUNK + 7;
        let resident = log_of(n);
        let mut tiered = log_of(CHUNK + 3);
        let store = Arc::new(MemoryCold::default());
        let tiering = Tiering {
            hot_chunks: 1,
            cached_blocks: 1,
            ..Tiering::default()
        };
        tiered.attach_cold(Arc::new(Cold::new(store.clone(), tiering)));
        assert_eq!(tiered.cold_chunks(), 0, "one full chunk is the hot one");
        for r in resident.views().skip(CHUNK + 3) {
            tiered.push(&r);
        }
        assert_eq!(tiered.cold_chunks(), 3);
        assert!(!store.is_empty());
        // Forwards, backwards and by halves: every read the cache can miss.
        let positions = (0..n).chain((0..n).rev()).chain((0..n).step_by(CHUNK / 2));
        for p in positions {
            // Where an id ends is relative to its chunk or block; everything else is equal.
            let bare = |s: Option<Stored>| s.map(|s| Stored { id_end: 0, ..s });
            assert_eq!(bare(tiered.get(p)), bare(resident.get(p)), "position {p}");
            assert_eq!(tiered.id(p), resident.id(p), "position {p}");
            assert!(tiered.has_id(p, &resident.id(p).unwrap()));
            assert_eq!(tiered.view(p), resident.view(p), "position {p}");
        }
        assert!(tiered.get(n).is_none() && tiered.id(n).is_none());
        assert!(tiered.views().eq(resident.views()));
        let cache = tiered_cache_len(&tiered);
        assert!(cache <= 1, "the cache holds {cache} blocks");
    }

    fn tiered_cache_len(log: &RecordLog) -> usize {
        log.cold().map_or(0, |c| c.lock().blocks.len())
    }

    /// A store that takes no writes leaves every chunk resident, and the log reads as before.
    #[test]
    fn a_store_that_fails_to_write_leaves_the_records_in_memory() {
        #[derive(Debug)]
        struct Full;
        impl ColdStore for Full {
            fn append(&self, _: &[u8]) -> io::Result<u64> {
                Err(io::ErrorKind::StorageFull.into())
            }
            fn read_at(&self, _: u64, _: &mut [u8]) -> io::Result<()> {
                unreachable!("nothing was written")
            }
        }
        let resident = log_of(3 * CHUNK + 1);
        let mut log = RecordLog::default();
        let tiering = Tiering {
            hot_chunks: 0,
            ..Tiering::default()
        };
        log.attach_cold(Arc::new(Cold::new(Arc::new(Full), tiering)));
        for r in resident.views() {
            log.push(&r);
        }
        assert_eq!(log.cold_chunks(), 0);
        assert!(log.views().eq(resident.views()));
    }

    /// A cold block whose bytes changed after it was written is never read as records: the read
    /// marks the tier failed, then panics (a reader's panic poisons no lock, the flag is what the
    /// server sees).
    #[test]
    fn an_altered_cold_block_is_refused_and_marks_the_tier_failed() {
        let mut log = RecordLog::default();
        let store = Arc::new(MemoryCold::default());
        let tiering = Tiering {
            hot_chunks: 0,
            cached_blocks: 1,
            ..Tiering::default()
        };
        let cold = Arc::new(Cold::new(store.clone(), tiering));
        log.attach_cold(cold.clone());
        for r in log_of(2 * CHUNK).views() {
            log.push(&r);
        }
        assert_eq!(log.cold_chunks(), 2);
        assert!(log.get(0).is_some() && !cold.failed());
        store.corrupt(40);
        // Position 0 is in the first block, which a read of another block evicted.
        assert!(log.get(CHUNK).is_some());
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| log.get(0)));
        let message = read.unwrap_err();
        let message = message.downcast_ref::<String>().unwrap();
        assert!(message.contains("is not what was written"), "{message}");
        assert!(cold.failed());
    }

    /// Blocks decode to what was encoded; bytes that are not a block decode to nothing.
    #[test]
    fn blocks_round_trip_and_garbage_does_not_decode() {
        let log = log_of(CHUNK);
        let chunk = log.open_or_first();
        let mut bytes = Vec::new();
        encode_block(chunk, 3..CHUNK, &mut bytes);
        let back = decode_block(&bytes).unwrap();
        assert_eq!(back.records.len(), CHUNK - 3);
        for (i, r) in back.records.iter().enumerate() {
            let original = chunk.records[3 + i];
            assert_eq!(back.id(i), chunk.id(3 + i));
            assert_eq!(
                Stored {
                    id_end: r.id_end,
                    ..original
                },
                *r
            );
        }
        let mut short = bytes.clone();
        short.truncate(bytes.len() - 1);
        assert!(decode_block(&short).is_none(), "ids cut short");
        let mut count = bytes.clone();
        count[0] = count[0].wrapping_add(1);
        assert!(
            decode_block(&count).is_none(),
            "a record count that does not fit"
        );
        let mut kind = bytes.clone();
        kind[4 + 84] = 200;
        assert!(
            decode_block(&kind).is_none(),
            "an event type that does not exist"
        );
    }

    /// The cache never holds more than its capacity, and a block read again since the hand
    /// passed survives one round of eviction.
    #[test]
    fn the_cache_is_bounded_and_keeps_what_is_used() {
        let mut cache = Cache::default();
        let block = Arc::new(Chunk::default());
        for offset in 0..3 {
            cache.put(offset, block.clone(), 3);
        }
        assert!(cache.get(0).is_some());
        cache.put(3, block.clone(), 3);
        assert_eq!(cache.blocks.len(), 3);
        assert!(cache.get(0).is_some(), "used since the hand passed");
        assert!(cache.get(1).is_none(), "the first one not used is evicted");
        for offset in 4..100 {
            cache.put(offset, block.clone(), 3);
            assert!(cache.blocks.len() <= 3 && cache.ring.len() <= 3);
        }
        cache.put(500, block, 0);
        assert!(cache.get(500).is_none(), "a cache of no blocks keeps none");
    }
}
