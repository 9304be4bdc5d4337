#![forbid(unsafe_code)]
//! The embedded truce store: one SQLite file in the data directory (DESIGN
//! §9), implementing [`truce_store::Store`].
//!
//! # Durability
//!
//! DESIGN §7 acknowledges an entry only once it survives power loss. The
//! database runs in WAL mode with `synchronous=FULL`: every commit fsyncs the
//! write-ahead log before `COMMIT` returns, so when [`Store::append`] or
//! [`Store::put_blob`] returns `Ok`, the data is on stable storage
//! (`fullfsync` is also requested, which matters on macOS only). WAL also lets
//! readers run concurrently with the writer, each seeing a committed snapshot.
//! [`SqliteStore::open`] refuses a file that does not end up in WAL mode (for
//! example on a file system without shared memory support).
//!
//! # Invariants and where they are enforced
//!
//! * **Dense indexes.** `append` runs in one `BEGIN IMMEDIATE` transaction
//!   (taking the write lock up front, so the size it reads cannot change
//!   before it commits), checks `first_index == size` and inserts at
//!   `first_index..`. A schema trigger additionally rejects any insert whose
//!   `idx` is not the current size, and `open` checks that the stored indexes
//!   are exactly `0..count`.
//! * **Append-only.** Triggers abort every `UPDATE` and `DELETE` on
//!   `entries`, and any insert that would reuse an `entry_id` (which also
//!   closes the `INSERT OR REPLACE` back door). `open` refuses a database
//!   whose triggers are missing.
//! * **All-or-nothing.** A rejected batch rolls back: nothing of it is
//!   visible, ever.
//! * **One writer.** Writes go through a pool of exactly one connection, so
//!   they are serialized in-process and never fight over SQLite's write lock;
//!   the busy timeout covers other processes (such as a `truce replay`
//!   reading the same file). Reads use a separate small pool of `query_only`
//!   connections.
//! * **No panics on disk data.** Every value read back is checked (index
//!   non-negative, hash 32 bytes, ranges without gaps); violations come back
//!   as [`StoreError::Corrupt`].
//!
//! The schema lives in `migrations/` and is embedded with `sqlx::migrate!()`;
//! queries are plain runtime `sqlx::query()` calls.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};
use truce_store::{NewEntry, Store, StoreError, StoredEntry, StoredLeaf, TreeUpdate};

/// The embedded schema (`migrations/`).
static MIGRATOR: Migrator = sqlx::migrate!();

/// The most entries one [`Store::entries`] call returns.
pub const MAX_ENTRIES_PER_READ: u32 = 10_000;

/// How many pooled read connections to keep at most.
const READERS: u32 = 4;

/// How long a statement waits for a lock held by another connection or
/// process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write waits for the single writer connection (held by other
/// writes in this process) before failing.
const WRITER_WAIT: Duration = Duration::from_secs(60);

/// The triggers that make `entries` append-only; `open` checks they exist.
/// Rows per multi-row INSERT (7 parameters each; SQLite allows 32,766 per statement).
const ENTRY_ROWS_PER_INSERT: usize = 64;
/// Rows per multi-row INSERT of tree hashes (2 parameters each).
const HASH_ROWS_PER_INSERT: usize = 256;

const REQUIRED_TRIGGERS: [&str; 6] = [
    "entries_insert_at_end",
    "entries_no_update",
    "entries_no_delete",
    "tree_hashes_insert_at_end",
    "tree_hashes_no_update",
    "tree_hashes_no_delete",
];

/// The columns of an entry row, in [`stored_entry`]'s order.
macro_rules! select_entries {
    () => {
        "SELECT idx, entry_id, kind, signer, time_ms, leaf, leaf_hash FROM entries"
    };
}

/// The SQLite implementation of [`Store`]. Cheap to clone (the pools are
/// shared); usually held as `Arc<dyn Store>`.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Exactly one connection: all writes, serialized.
    writer: SqlitePool,
    /// Read-only (`query_only`) connections for all reads.
    readers: SqlitePool,
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file (not its directory) if
    /// missing, and migrates the schema to the current version.
    ///
    /// Fails with [`StoreError::Corrupt`] if the stored indexes are not
    /// dense or the append-only triggers are missing, and with
    /// [`StoreError::Backend`] if the file cannot be opened, migrated, or put
    /// in WAL mode.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .synchronous(SqliteSynchronous::Full)
            .pragma("fullfsync", "ON")
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(WRITER_WAIT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal),
            )
            .await
            .map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;

        let readers = async {
            Self::check_and_migrate(&writer, path).await?;
            // Readers open after the writer has created the file and switched
            // it to WAL (a persistent property of the file).
            SqlitePoolOptions::new()
                .max_connections(READERS)
                .connect_with(base.pragma("query_only", "ON"))
                .await
                .map_err(|e| {
                    StoreError::Backend(format!("opening readers on {}: {e}", path.display()))
                })
        };
        match readers.await {
            Ok(readers) => {
                tracing::debug!(path = %path.display(), "opened SQLite store");
                Ok(SqliteStore { writer, readers })
            }
            Err(e) => {
                writer.close().await;
                Err(e)
            }
        }
    }

    /// Migrates, then checks WAL mode, the triggers and index density.
    async fn check_and_migrate(writer: &SqlitePool, path: &Path) -> Result<(), StoreError> {
        MIGRATOR
            .run(writer)
            .await
            .map_err(|e| StoreError::Backend(format!("migrating {}: {e}", path.display())))?;

        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(writer)
            .await
            .map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "{} is in journal mode {mode:?}, not WAL (does the file system support it?)",
                path.display()
            )));
        }

        let triggers: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_schema WHERE type = 'trigger'")
                .fetch_all(writer)
                .await
                .map_err(backend)?;
        for required in REQUIRED_TRIGGERS {
            if !triggers.iter().any(|t| t == required) {
                return Err(StoreError::Corrupt(format!(
                    "trigger {required} is missing: entries are no longer append-only"
                )));
            }
        }

        // Dense indexes: exactly 0..count. One scan of the smallest index at
        // open; afterwards the transaction check and trigger keep it so.
        let row = sqlx::query("SELECT COUNT(*), MIN(idx), MAX(idx) FROM entries")
            .fetch_one(writer)
            .await
            .map_err(backend)?;
        let count: i64 = row.try_get(0).map_err(decode)?;
        let min: Option<i64> = row.try_get(1).map_err(decode)?;
        let max: Option<i64> = row.try_get(2).map_err(decode)?;
        match (min, max) {
            (None, None) if count == 0 => Ok(()),
            (Some(0), Some(max)) if max.checked_add(1) == Some(count) => Ok(()),
            _ => Err(StoreError::Corrupt(format!(
                "entry indexes are not dense: {count} entries, min {min:?}, max {max:?}"
            ))),
        }
    }

    /// Closes all connections (checkpointing the WAL). Later calls fail
    /// with [`StoreError::Backend`].
    pub async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }

    async fn latest_note(&self, sql: &'static str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some(row) = sqlx::query(sql)
            .fetch_optional(&self.readers)
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let size: i64 = row.try_get(0).map_err(decode)?;
        let note: Vec<u8> = row.try_get(1).map_err(decode)?;
        let size = u64::try_from(size)
            .map_err(|_| StoreError::Corrupt(format!("checkpoint of negative size {size}")))?;
        Ok(Some((size, note)))
    }

    /// Names the entry behind a failed multi-row insert: a duplicate id if one of the chunk's
    /// ids is already logged, else the backend error.
    async fn explain_insert_error(
        conn: &mut SqliteConnection,
        err: sqlx::Error,
        chunk: &[NewEntry],
    ) -> StoreError {
        for e in chunk {
            let exists: Result<Option<i64>, _> =
                sqlx::query_scalar("SELECT idx FROM entries WHERE entry_id = ?")
                    .bind(e.entry_id.as_str())
                    .fetch_optional(&mut *conn)
                    .await;
            if let Ok(Some(_)) = exists {
                return StoreError::DuplicateEntryId(e.entry_id.clone());
            }
        }
        backend(err)
    }

    /// The number of stored tree hashes as seen by `conn`.
    async fn hash_count_on(conn: &mut SqliteConnection) -> Result<u64, StoreError> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(idx) FROM tree_hashes")
            .fetch_one(conn)
            .await
            .map_err(backend)?;
        size_from_max(max)
    }

    /// The log size as seen by `conn` (inside a transaction, by that transaction).
    async fn size_on(conn: &mut SqliteConnection) -> Result<u64, StoreError> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(idx) FROM entries")
            .fetch_one(conn)
            .await
            .map_err(backend)?;
        size_from_max(max)
    }
}

/// The size of a log whose largest index is `max`.
fn size_from_max(max: Option<i64>) -> Result<u64, StoreError> {
    match max {
        None => Ok(0),
        Some(max) => u64::try_from(max)
            .ok()
            .and_then(|m| m.checked_add(1))
            .ok_or_else(|| StoreError::Corrupt(format!("largest entry index is {max}"))),
    }
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A value that does not decode is bad data on disk; anything else is the backend.
fn decode(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(e.to_string())
        }
        other => backend(other),
    }
}

/// Converts a row of [`select_entries!`] into an entry, checking every value.
fn stored_entry(row: &SqliteRow) -> Result<StoredEntry, StoreError> {
    let idx: i64 = row.try_get("idx").map_err(decode)?;
    let index = u64::try_from(idx)
        .map_err(|_| StoreError::Corrupt(format!("negative entry index {idx}")))?;
    let hash: Vec<u8> = row.try_get("leaf_hash").map_err(decode)?;
    let leaf_hash = <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| {
        StoreError::Corrupt(format!(
            "entry {index}: leaf_hash has {} bytes, not 32",
            hash.len()
        ))
    })?;
    Ok(StoredEntry {
        index,
        entry_id: row.try_get("entry_id").map_err(decode)?,
        kind: row.try_get("kind").map_err(decode)?,
        signer: row.try_get("signer").map_err(decode)?,
        time_ms: row.try_get("time_ms").map_err(decode)?,
        leaf: row.try_get("leaf").map_err(decode)?,
        leaf_hash,
    })
}

/// For k = 0.., the position in `list` (indexes joined by commas, in any order) of `first + k`,
/// if the indexes are exactly `first`, `first + 1`, … (each once, no gap).
fn order_of(list: &str, first: i64) -> Result<Vec<usize>, String> {
    let indexes: Vec<i64> = list
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("an index is not a number in {list:.40}"))?;
    let n = indexes.len();
    let mut order = vec![usize::MAX; n];
    for (position, &idx) in indexes.iter().enumerate() {
        let slot = idx
            .checked_sub(first)
            .and_then(|k| usize::try_from(k).ok())
            .and_then(|k| order.get_mut(k))
            .filter(|slot| **slot == usize::MAX)
            .ok_or_else(|| {
                format!(
                    "{n} rows up to {}, with a gap or a repeat",
                    indexes.iter().max().copied().unwrap_or(first)
                )
            })?;
        *slot = position;
    }
    Ok(order)
}

/// One row that concatenates a range of rows (`group_concat`): reading a page of the log as one
/// row instead of thousands avoids sqlx's per-row cost (a copy of every value and a hand-over
/// between threads), which dominates reading a whole log back.
///
/// `group_concat` without `ORDER BY` concatenates in whatever order SQLite visits the rows (in
/// practice the index order; with `ORDER BY` SQLite sorts the values first, which costs more
/// than the rows themselves). Every aggregate of one query sees the rows in the same order, so
/// the query concatenates `idx` too, and [`Aggregate::order`] puts the values back in index
/// order whatever it was. Values pass as text byte for byte (NUL and invalid UTF-8 included)
/// and come back as a BLOB through `CAST`.
struct Aggregate {
    /// For k = 0.., the position among the concatenated values of index `first + k`.
    order: Vec<usize>,
}

impl Aggregate {
    /// Reads column 0, `group_concat(idx, ',')` over `idx >= first AND idx < …`, and checks that
    /// the indexes are exactly `first`, `first + 1`, … (a gap is corruption).
    fn of(row: &SqliteRow, first: i64, what: &str) -> Result<Aggregate, StoreError> {
        let list: Option<String> = row.try_get(0).map_err(decode)?;
        let Some(list) = list else {
            return Ok(Aggregate { order: Vec::new() });
        };
        let order = order_of(&list, first)
            .map_err(|problem| StoreError::Corrupt(format!("{what} {first} on: {problem}")))?;
        Ok(Aggregate { order })
    }

    /// Column `column`: one value of `width` bytes per row, concatenated.
    fn fixed<'r>(
        &self,
        row: &'r SqliteRow,
        column: usize,
        width: usize,
        what: &str,
    ) -> Result<&'r [u8], StoreError> {
        let bytes: Option<&[u8]> = row.try_get(column).map_err(decode)?;
        let bytes = bytes.unwrap_or_default();
        if bytes.len() != self.order.len() * width {
            return Err(StoreError::Corrupt(format!(
                "{what}: {} bytes for {} values of {width}",
                bytes.len(),
                self.order.len()
            )));
        }
        Ok(bytes)
    }

    /// Column `column`: one text per row, joined by `separator` (which no value may hold: a
    /// value that does is found by the count).
    fn texts<'r>(
        &self,
        row: &'r SqliteRow,
        column: usize,
        separator: char,
        what: &str,
    ) -> Result<Vec<&'r str>, StoreError> {
        let list: Option<&str> = row.try_get(column).map_err(decode)?;
        let values: Vec<&str> = list.map_or(Vec::new(), |l| l.split(separator).collect());
        if values.len() != self.order.len() {
            return Err(StoreError::Corrupt(format!(
                "{} values of {what} for {} rows (does one hold {separator:?}?)",
                values.len(),
                self.order.len()
            )));
        }
        Ok(values)
    }

    /// Column `column`: one number per row, joined by commas.
    fn numbers<T: std::str::FromStr>(
        &self,
        row: &SqliteRow,
        column: usize,
        what: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.texts(row, column, ',', what)?
            .into_iter()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| StoreError::Corrupt(format!("a {what} is not a number")))
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn append(
        &self,
        first_index: u64,
        entries: &[NewEntry],
        tree: &TreeUpdate,
    ) -> Result<(), StoreError> {
        // IMMEDIATE: take the write lock now, so that the size checked below
        // is still the size when we commit. Dropping `tx` on any early return
        // rolls the whole batch back.
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let size = Self::size_on(&mut tx).await?;
        if first_index != size {
            return Err(StoreError::SizeMismatch {
                expected: first_index,
                actual: size,
            });
        }
        if entries.is_empty() {
            return Ok(());
        }
        let hash_count = Self::hash_count_on(&mut tx).await?;
        if tree.hashes_from != hash_count {
            return Err(StoreError::HashCountMismatch {
                expected: tree.hashes_from,
                actual: hash_count,
            });
        }
        let mut seen = HashSet::with_capacity(entries.len());
        for e in entries {
            if !seen.insert(e.entry_id.as_str()) {
                return Err(StoreError::DuplicateEntryId(e.entry_id.clone()));
            }
        }
        // Multi-row INSERTs: one statement per chunk instead of one per row keeps the
        // sequencer's commit cost per entry low (statement overhead dominates small rows).
        let index_of = |base: u64, offset: usize| {
            base.checked_add(offset as u64)
                .and_then(|i| i64::try_from(i).ok())
                .ok_or_else(|| StoreError::Backend("the log is full (index overflow)".into()))
        };
        for (c, chunk) in entries.chunks(ENTRY_ROWS_PER_INSERT).enumerate() {
            let sql = format!(
                "INSERT INTO entries (idx, entry_id, kind, signer, time_ms, leaf, leaf_hash) VALUES {}",
                vec!["(?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
            );
            // Only placeholders are formatted in; values are bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (i, e) in chunk.iter().enumerate() {
                q = q
                    .bind(index_of(first_index, c * ENTRY_ROWS_PER_INSERT + i)?)
                    .bind(e.entry_id.as_str())
                    .bind(e.kind.as_str())
                    .bind(e.signer.as_str())
                    .bind(e.time_ms)
                    .bind(e.leaf.as_slice())
                    .bind(e.leaf_hash.as_slice());
            }
            if let Err(err) = q.execute(&mut *tx).await {
                return Err(Self::explain_insert_error(&mut tx, err, chunk).await);
            }
        }
        for (c, chunk) in tree.hashes.chunks(HASH_ROWS_PER_INSERT).enumerate() {
            let sql = format!(
                "INSERT INTO tree_hashes (idx, hash) VALUES {}",
                vec!["(?, ?)"; chunk.len()].join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (i, h) in chunk.iter().enumerate() {
                q = q
                    .bind(index_of(tree.hashes_from, c * HASH_ROWS_PER_INSERT + i)?)
                    .bind(h.as_slice());
            }
            q.execute(&mut *tx).await.map_err(backend)?;
        }
        let size = (first_index + entries.len() as u64) as i64;
        sqlx::query("INSERT INTO checkpoints (size, note) VALUES (?, ?)")
            .bind(size)
            .bind(tree.checkpoint.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        // With WAL + synchronous=FULL, COMMIT returns after the fsync.
        tx.commit().await.map_err(backend)
    }

    async fn hash_count(&self) -> Result<u64, StoreError> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(idx) FROM tree_hashes")
            .fetch_one(&self.readers)
            .await
            .map_err(backend)?;
        size_from_max(max)
    }

    async fn hashes(&self, start: u64, limit: u32) -> Result<Vec<[u8; 32]>, StoreError> {
        let limit = limit.min(MAX_ENTRIES_PER_READ);
        let Ok(start_i) = i64::try_from(start) else {
            return Ok(Vec::new());
        };
        let end_i = start_i.saturating_add(i64::from(limit));
        // One row for the whole range (see `Aggregate`): a row per hash costs three times as
        // much, most of it in handing rows between threads.
        let row = sqlx::query(concat!(
            "SELECT group_concat(idx, ','), CAST(group_concat(hash, x'') AS BLOB) ",
            "FROM tree_hashes WHERE idx >= ? AND idx < ?"
        ))
        .bind(start_i)
        .bind(end_i)
        .fetch_one(&self.readers)
        .await
        .map_err(backend)?;
        let rows = Aggregate::of(&row, start_i, "tree hash")?;
        let hashes = rows.fixed(&row, 1, 32, "tree hashes")?;
        Ok(rows
            .order
            .iter()
            .map(|&r| hashes[r * 32..][..32].try_into().expect("32 bytes"))
            .collect())
    }

    async fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
        if indexes.len() > 4096 {
            return Err(StoreError::Backend(format!(
                "{} hash positions requested; at most 4096 per call",
                indexes.len()
            )));
        }
        let mut found = std::collections::HashMap::with_capacity(indexes.len());
        // SQLite binds at most 32,766 parameters; chunks of 512 keep statements cacheable.
        for chunk in indexes.chunks(512) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            let sql = format!("SELECT idx, hash FROM tree_hashes WHERE idx IN ({placeholders})");
            // Only `?` placeholders are formatted in; values are bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for &i in chunk {
                q = q.bind(i64::try_from(i).unwrap_or(-1));
            }
            for row in q.fetch_all(&self.readers).await.map_err(backend)? {
                let idx: i64 = row.try_get(0).map_err(decode)?;
                let h: Vec<u8> = row.try_get(1).map_err(decode)?;
                let h: [u8; 32] = h.as_slice().try_into().map_err(|_| {
                    StoreError::Corrupt(format!("tree hash {idx} is {} bytes, not 32", h.len()))
                })?;
                found.insert(idx, h);
            }
        }
        indexes
            .iter()
            .map(|&i| {
                i64::try_from(i)
                    .ok()
                    .and_then(|i| found.get(&i))
                    .copied()
                    .ok_or_else(|| StoreError::Corrupt(format!("tree hash {i} is not stored")))
            })
            .collect()
    }

    async fn checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.latest_note("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
            .await
    }

    async fn put_cosigned_checkpoint(&self, size: u64, note: &[u8]) -> Result<(), StoreError> {
        let size = i64::try_from(size)
            .map_err(|_| StoreError::Backend("checkpoint size overflow".into()))?;
        sqlx::query("INSERT OR REPLACE INTO cosigned_checkpoints (size, note) VALUES (?, ?)")
            .bind(size)
            .bind(note)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn cosigned_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.latest_note("SELECT size, note FROM cosigned_checkpoints ORDER BY size DESC LIMIT 1")
            .await
    }

    async fn size(&self) -> Result<u64, StoreError> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(idx) FROM entries")
            .fetch_one(&self.readers)
            .await
            .map_err(backend)?;
        size_from_max(max)
    }

    async fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StoreError> {
        let Ok(idx) = i64::try_from(index) else {
            return Ok(None); // beyond any index SQLite can hold
        };
        let row = sqlx::query(concat!(select_entries!(), " WHERE idx = ?"))
            .bind(idx)
            .fetch_optional(&self.readers)
            .await
            .map_err(backend)?;
        row.as_ref().map(stored_entry).transpose()
    }

    async fn entry_by_id(&self, entry_id: &str) -> Result<Option<StoredEntry>, StoreError> {
        let row = sqlx::query(concat!(select_entries!(), " WHERE entry_id = ?"))
            .bind(entry_id)
            .fetch_optional(&self.readers)
            .await
            .map_err(backend)?;
        row.as_ref().map(stored_entry).transpose()
    }

    async fn entries_at(&self, indexes: &[u64]) -> Result<Vec<StoredEntry>, StoreError> {
        if indexes.len() > truce_store::MAX_ENTRIES_AT {
            return Err(StoreError::Backend(format!(
                "{} entry positions requested; at most {} per call",
                indexes.len(),
                truce_store::MAX_ENTRIES_AT
            )));
        }
        let mut wanted: Vec<i64> = indexes
            .iter()
            .filter_map(|&i| i64::try_from(i).ok())
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; wanted.len()].join(",");
        let sql = format!(
            concat!(select_entries!(), " WHERE idx IN ({}) ORDER BY idx"),
            placeholders
        );
        // Only `?` placeholders are formatted in; values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for &i in &wanted {
            q = q.bind(i);
        }
        let rows = q.fetch_all(&self.readers).await.map_err(backend)?;
        rows.iter().map(stored_entry).collect()
    }

    async fn entries(&self, start: u64, limit: u32) -> Result<Vec<StoredEntry>, StoreError> {
        let limit = limit.min(MAX_ENTRIES_PER_READ);
        let Ok(first) = i64::try_from(start) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(concat!(
            select_entries!(),
            " WHERE idx >= ? ORDER BY idx LIMIT ?"
        ))
        .bind(first)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await
        .map_err(backend)?;
        let mut out = Vec::with_capacity(rows.len());
        for (expected, row) in (start..).zip(&rows) {
            let entry = stored_entry(row)?;
            if entry.index != expected {
                return Err(StoreError::Corrupt(format!(
                    "entry indexes are not dense: expected {expected}, found {}",
                    entry.index
                )));
            }
            out.push(entry);
        }
        Ok(out)
    }

    async fn leaves(&self, start: u64, limit: u32) -> Result<Vec<StoredLeaf>, StoreError> {
        let limit = limit.min(MAX_ENTRIES_PER_READ);
        let Ok(first) = i64::try_from(start) else {
            return Ok(Vec::new());
        };
        let end = first.saturating_add(i64::from(limit));
        // The whole range in one row (see `Aggregate`): a whole log reads back in about a
        // quarter of the time of `entries`, whose cost is mostly handing rows between threads.
        // Leaves are at most 64 KiB (truce_log::leaf::MAX_LEAF_BYTES), so a page of
        // MAX_ENTRIES_PER_READ stays below SQLite's 1 GB string limit.
        let row = sqlx::query(concat!(
            "SELECT group_concat(idx, ','), group_concat(time_ms, ','), ",
            "group_concat(entry_id, char(10)), CAST(group_concat(leaf_hash, x'') AS BLOB), ",
            "group_concat(length(leaf), ','), CAST(group_concat(leaf, x'') AS BLOB) ",
            "FROM entries WHERE idx >= ? AND idx < ?"
        ))
        .bind(first)
        .bind(end)
        .fetch_one(&self.readers)
        .await
        .map_err(backend)?;
        let rows = Aggregate::of(&row, first, "entry")?;
        let n = rows.order.len();
        let times: Vec<i64> = rows.numbers(&row, 1, "time_ms")?;
        let ids = rows.texts(&row, 2, '\n', "entry_id")?;
        let hashes = rows.fixed(&row, 3, 32, "leaf hashes")?;
        let lengths: Vec<usize> = rows.numbers(&row, 4, "leaf length")?;
        let leaves: Option<&[u8]> = row.try_get(5).map_err(decode)?;
        let leaves = leaves.unwrap_or_default();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0usize);
        for len in &lengths {
            offsets.push(offsets[offsets.len() - 1] + len);
        }
        if offsets[n] != leaves.len() {
            return Err(StoreError::Corrupt(format!(
                "entries {first}..{end}: {} leaf bytes, the lengths add up to {}",
                leaves.len(),
                offsets[n]
            )));
        }
        Ok(rows
            .order
            .iter()
            .zip(start..)
            .map(|(&r, index)| StoredLeaf {
                index,
                entry_id: ids[r].to_owned(),
                time_ms: times[r],
                leaf: leaves[offsets[r]..offsets[r + 1]].to_vec(),
                leaf_hash: hashes[r * 32..][..32].try_into().expect("32 bytes"),
            })
            .collect())
    }

    async fn put_blob(&self, sha256: [u8; 32], bytes: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO blobs (sha256, bytes) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256.as_slice())
        .bind(bytes)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn blob(&self, sha256: [u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT bytes FROM blobs WHERE sha256 = ?")
            .bind(sha256.as_slice())
            .fetch_optional(&self.readers)
            .await
            .map_err(decode)
    }

    async fn has_blob(&self, sha256: [u8; 32]) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM blobs WHERE sha256 = ?")
            .bind(sha256.as_slice())
            .fetch_optional(&self.readers)
            .await
            .map_err(backend)?;
        Ok(found.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn aggregates_are_put_back_in_index_order() {
        assert_eq!(order_of("5,6,7", 5), Ok(vec![0, 1, 2]));
        assert_eq!(order_of("7,5,6", 5), Ok(vec![1, 2, 0]));
        for (list, first) in [
            ("5,7", 5),
            ("6,7", 5),
            ("5,5", 5),
            ("4,5", 5),
            ("5,x", 5),
            ("", 0),
        ] {
            assert!(order_of(list, first).is_err(), "{list:?} from {first}");
        }
    }

    proptest! {
        /// Any order of a dense range is put back; a range with one index moved past its end is
        /// refused.
        #[test]
        fn any_visiting_order_is_undone(
            first in 0i64..1_000_000,
            order in (1usize..300).prop_flat_map(|n| Just((0..n).collect::<Vec<usize>>()).prop_shuffle()),
            moved in any::<prop::sample::Index>(),
        ) {
            let list: Vec<String> = order.iter().map(|&k| (first + k as i64).to_string()).collect();
            let back = order_of(&list.join(","), first).unwrap();
            for (k, &position) in back.iter().enumerate() {
                prop_assert_eq!(order[position], k);
            }
            let mut gap = list.clone();
            let i = moved.index(gap.len());
            gap[i] = (first + order.len() as i64).to_string();
            prop_assert!(order_of(&gap.join(","), first).is_err());
        }
    }

    /// The connection settings that durability depends on are in force.
    #[tokio::test]
    async fn pragmas() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("truce.db"))
            .await
            .expect("open");
        for (pool, name) in [(&store.writer, "writer"), (&store.readers, "reader")] {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(pool)
                .await
                .expect("journal_mode");
            assert_eq!(mode, "wal", "{name}");
            for (sql, want) in [
                ("PRAGMA synchronous", 2), // FULL
                ("PRAGMA foreign_keys", 1),
                ("PRAGMA busy_timeout", 10_000),
            ] {
                let got: i64 = sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql);
                assert_eq!(got, want, "{name}: {sql}");
            }
        }
        let query_only: i64 = sqlx::query_scalar("PRAGMA query_only")
            .fetch_one(&store.readers)
            .await
            .expect("query_only");
        assert_eq!(query_only, 1, "readers are query-only");
        let err = sqlx::query("INSERT INTO blobs (sha256, bytes) VALUES (zeroblob(32), x'')")
            .execute(&store.readers)
            .await;
        assert!(err.is_err(), "readers must not write");
        store.close().await;
    }
}
