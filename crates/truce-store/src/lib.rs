#![forbid(unsafe_code)]
//! The storage contract of truce: what every backend (embedded SQLite today,
//! PostgreSQL for scale-out) must provide, and nothing that only one of them
//! could provide (no rowids, no PRAGMAs, no backend error types).
//!
//! # What is stored
//!
//! * **Log entries** ([`NewEntry`] / [`StoredEntry`]): the leaves of the
//!   append-only Merkle log (DESIGN §3 "Leaf", §7). Each entry carries the
//!   exact leaf bytes that were hashed (`{"time_ms":…,"envelope":…}`), their
//!   RFC 6962 leaf hash `SHA-256(0x00 || leaf)`, and a few columns extracted
//!   from the envelope (`entry_id`, `kind`, `signer`, `time_ms`) so that
//!   lookups do not need to parse JSON. The store does not compute or verify
//!   the hash: the caller (the sequencer) does, and the Merkle tree over the
//!   stored hashes is what makes tampering detectable.
//! * **Blobs**: content-addressed bytes (evidence media, large geometry,
//!   agreement attachments) keyed by their SHA-256, which the caller has
//!   already checked.
//!
//! # Invariants every backend upholds
//!
//! * **Append-only.** An entry, once appended, is never modified or removed.
//!   Backends should enforce this below the API where they can (e.g. triggers
//!   that abort `UPDATE`/`DELETE`), not just by not offering such a method.
//! * **Dense indexes.** Entries are numbered `0, 1, 2, …` without gaps; the
//!   log size is the number of entries and the index of the next one. An
//!   [`Store::append`] names the index it expects to write at and fails with
//!   [`StoreError::SizeMismatch`] otherwise, checked *inside* the write
//!   transaction. This is the optimistic concurrency control that keeps two
//!   would-be sequencers from forking the log (DESIGN §9): the loser gets an
//!   error and writes nothing.
//! * **Unique entry ids.** `entry_id` (the payload `id` chosen by the
//!   submitter) identifies at most one entry; a batch that would repeat one
//!   fails with [`StoreError::DuplicateEntryId`] and writes nothing.
//! * **All-or-nothing, durable appends.** A batch is one transaction; when
//!   `append` returns `Ok`, the entries survive a crash or power loss
//!   (DESIGN §7 "Durability": an entry is acknowledged, and a checkpoint
//!   covering it published, only after it is durably stored).
//! * **Readers see committed prefixes.** A reader never observes part of a
//!   batch: `size()` and the entries below it are always consistent.
//!
//! # Testing backends
//!
//! With the `testkit` feature, `testkit::story` runs one backend-independent
//! story over an empty store that exercises every method and every error
//! case. Every backend's tests call it, so all backends behave alike.

use std::fmt;

pub use async_trait::async_trait;

#[cfg(feature = "testkit")]
pub mod testkit;

/// The most positions one [`Store::entries_at`] call takes (one page of a query).
pub const MAX_ENTRIES_AT: usize = 1_000;

/// An entry to append at the end of the log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewEntry {
    /// The payload `id` chosen by the submitter (a UUID or ULID). Unique in the log.
    pub entry_id: String,
    /// The entry kind (`key`, `agreement`, `observation`, … from the DSSE payload type).
    pub kind: String,
    /// The signer's key id (`<name>+<keyid hex>`).
    pub signer: String,
    /// The log time in milliseconds since the Unix epoch (as in the leaf).
    pub time_ms: i64,
    /// The exact leaf bytes that were hashed (DESIGN §3).
    pub leaf: Vec<u8>,
    /// `SHA-256(0x00 || leaf)`, computed by the caller.
    pub leaf_hash: [u8; 32],
}

/// An entry read back from the log, with its index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoredEntry {
    /// Position in the log, from 0, without gaps.
    pub index: u64,
    /// See [`NewEntry::entry_id`].
    pub entry_id: String,
    /// See [`NewEntry::kind`].
    pub kind: String,
    /// See [`NewEntry::signer`].
    pub signer: String,
    /// See [`NewEntry::time_ms`].
    pub time_ms: i64,
    /// See [`NewEntry::leaf`].
    pub leaf: Vec<u8>,
    /// See [`NewEntry::leaf_hash`].
    pub leaf_hash: [u8; 32],
}

/// What replay reads of an entry: a [`StoredEntry`] without the columns it does not check
/// (`kind` and `signer`), so that a backend can read a whole log with less copying.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoredLeaf {
    /// Position in the log.
    pub index: u64,
    /// See [`NewEntry::entry_id`].
    pub entry_id: String,
    /// See [`NewEntry::time_ms`].
    pub time_ms: i64,
    /// See [`NewEntry::leaf`].
    pub leaf: Vec<u8>,
    /// See [`NewEntry::leaf_hash`].
    pub leaf_hash: [u8; 32],
}

impl From<StoredEntry> for StoredLeaf {
    fn from(e: StoredEntry) -> StoredLeaf {
        StoredLeaf {
            index: e.index,
            entry_id: e.entry_id,
            time_ms: e.time_ms,
            leaf: e.leaf,
            leaf_hash: e.leaf_hash,
        }
    }
}

impl StoredEntry {
    /// The entry as it was appended at `index`.
    pub fn new(index: u64, entry: NewEntry) -> Self {
        let NewEntry {
            entry_id,
            kind,
            signer,
            time_ms,
            leaf,
            leaf_hash,
        } = entry;
        StoredEntry {
            index,
            entry_id,
            kind,
            signer,
            time_ms,
            leaf,
            leaf_hash,
        }
    }
}

/// What a batch adds to the Merkle tree, stored in the same transaction as the batch's entries
/// so that the tree, the entries and the checkpoint that covers them never disagree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TreeUpdate {
    /// Position of the first new stored hash; must equal the number of stored hashes.
    pub hashes_from: u64,
    /// The new stored hashes (Go tlog stored-hash layout), contiguous from `hashes_from`.
    pub hashes: Vec<[u8; 32]>,
    /// The signed checkpoint (a C2SP signed note) of the log after this batch.
    pub checkpoint: Vec<u8>,
}

/// Why a storage operation failed. Backend-neutral: backends map their own
/// errors onto these variants and never leak their error types.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// [`Store::append`] was asked to write at index `expected` (the log size
    /// the caller believed in), but the log has `actual` entries. Nothing was
    /// written. Another writer appended first, or the caller's view is stale.
    SizeMismatch {
        /// The `first_index` the caller passed: the size it expected.
        expected: u64,
        /// The log's actual size at the time of the append.
        actual: u64,
    },
    /// [`Store::append`] was given tree hashes from position `expected`, but `actual`
    /// hashes are stored. Nothing was written.
    HashCountMismatch {
        /// The [`TreeUpdate::hashes_from`] the caller passed.
        expected: u64,
        /// The number of stored hashes.
        actual: u64,
    },
    /// An entry with this `entry_id` already exists in the log, or the batch
    /// repeats it. Nothing was written.
    DuplicateEntryId(String),
    /// Stored data violates an invariant (a hash of the wrong length, a gap
    /// in the indexes, a negative index, …). Needs an operator.
    Corrupt(String),
    /// The backend failed (I/O, lock timeout, connection lost, …). The
    /// message is for logs; an append that fails this way wrote nothing
    /// unless the failure happened after the commit became durable.
    Backend(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::SizeMismatch { expected, actual } => write!(
                f,
                "log size mismatch: append at index {expected}, but the log has {actual} entries"
            ),
            StoreError::HashCountMismatch { expected, actual } => write!(
                f,
                "tree hash mismatch: hashes from position {expected}, but {actual} are stored"
            ),
            StoreError::DuplicateEntryId(id) => {
                write!(
                    f,
                    "duplicate entry id {id:?}: already in the log or repeated in the batch"
                )
            }
            StoreError::Corrupt(what) => write!(f, "store is corrupt: {what}"),
            StoreError::Backend(what) => write!(f, "storage backend error: {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The storage backend of a truce server. Object safe: use it as
/// `Arc<dyn Store>`. See the [crate docs](crate) for the invariants.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Appends `entries` at indexes `first_index..` in ONE durable
    /// transaction.
    ///
    /// Fails with [`StoreError::SizeMismatch`] (and writes nothing) if
    /// `first_index` is not the current size; this check comes first. Fails
    /// with [`StoreError::DuplicateEntryId`] (and writes nothing) if any
    /// `entry_id` already exists or repeats inside the batch. Returns only
    /// after the commit is durable. An empty batch at the current size is a
    /// successful no-op (nothing is written, not even `tree`).
    ///
    /// `tree` is stored in the same transaction: its hashes must continue the stored ones
    /// ([`StoreError::HashCountMismatch`] otherwise) and its checkpoint becomes the latest,
    /// covering `first_index + entries.len()` entries.
    async fn append(
        &self,
        first_index: u64,
        entries: &[NewEntry],
        tree: &TreeUpdate,
    ) -> Result<(), StoreError>;

    /// The number of stored tree hashes.
    async fn hash_count(&self) -> Result<u64, StoreError>;

    /// Stored tree hashes at positions `[start, start + limit)`, ascending (capped like
    /// [`Store::entries`]).
    async fn hashes(&self, start: u64, limit: u32) -> Result<Vec<[u8; 32]>, StoreError>;

    /// The stored tree hashes at the given positions, in the same order. Fails with
    /// [`StoreError::Corrupt`] naming the first position that is not stored. At most 4,096
    /// positions per call ([`StoreError::Backend`] beyond).
    async fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError>;

    /// The latest checkpoint and the log size it covers, if any batch was appended.
    async fn checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError>;

    /// Records a checkpoint note carrying witness cosignatures (it replaces an earlier one of
    /// the same size, which can only have had fewer cosignatures).
    async fn put_cosigned_checkpoint(&self, size: u64, note: &[u8]) -> Result<(), StoreError>;

    /// The latest cosigned checkpoint and its size.
    async fn cosigned_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError>;

    /// The number of entries in the log, which is also the next index.
    async fn size(&self) -> Result<u64, StoreError>;

    /// The entry at `index`, or `None` if `index >= size`.
    async fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StoreError>;

    /// The entry whose payload id is `entry_id`, if any.
    async fn entry_by_id(&self, entry_id: &str) -> Result<Option<StoredEntry>, StoreError>;

    /// Entries with index in `[start, start + limit)`, ascending, without
    /// gaps. `limit` is capped by the backend (e.g. 10,000; never below 256,
    /// one full tile); fewer entries come back only at the cap or the end of
    /// the log.
    async fn entries(&self, start: u64, limit: u32) -> Result<Vec<StoredEntry>, StoreError>;

    /// [`Store::entries`] as [`StoredLeaf`]s: the same entries, same bounds and errors, for
    /// reading a whole log back (start-up's replay). Backends override it when leaving out
    /// `kind` and `signer` makes the read cheaper.
    async fn leaves(&self, start: u64, limit: u32) -> Result<Vec<StoredLeaf>, StoreError> {
        Ok(self
            .entries(start, limit)
            .await?
            .into_iter()
            .map(StoredLeaf::from)
            .collect())
    }

    /// The entries at `indexes` that exist, in ascending index order, each once (positions at or
    /// beyond the size are skipped). At most [`MAX_ENTRIES_AT`] positions per call
    /// ([`StoreError::Backend`] beyond): queries read one page of entries at a time.
    async fn entries_at(&self, indexes: &[u64]) -> Result<Vec<StoredEntry>, StoreError>;

    /// Stores a content-addressed blob; the caller has checked that
    /// `sha256` is the SHA-256 of `bytes`. Returns `true` if newly stored,
    /// `false` if it was already there. Idempotent and durable on return.
    async fn put_blob(&self, sha256: [u8; 32], bytes: &[u8]) -> Result<bool, StoreError>;

    /// The bytes of a blob, if stored.
    async fn blob(&self, sha256: [u8; 32]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Whether a blob is stored (without reading it).
    async fn has_blob(&self, sha256: [u8; 32]) -> Result<bool, StoreError>;
}
