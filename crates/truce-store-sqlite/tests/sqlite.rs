//! The SQLite backend: the shared story, plus what only a real file shows
//! (persistence, concurrency, schema-level tamper resistance, corruption).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;
use truce_store::testkit::{AppendPlain, fake_hash, sample_entry, story};
use truce_store::{NewEntry, Store, StoreError};
use truce_store_sqlite::{MAX_ENTRIES_PER_READ, SqliteStore};

fn db_path() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("truce.db");
    (dir, path)
}

/// A plain connection to the file, as an operator's `sqlite3` session would have.
async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
        .await
        .expect("raw connection")
}

fn batch(prefix: &str, from: u64, n: u64) -> Vec<NewEntry> {
    (from..from + n)
        .map(|i| sample_entry(&format!("{prefix}-{i}"), i))
        .collect()
}

#[tokio::test]
async fn story_on_sqlite() {
    let (_dir, path) = db_path();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.expect("open"));
    story(store.as_ref()).await;
}

#[tokio::test]
async fn open_creates_the_file_but_not_directories() {
    let (dir, path) = db_path();
    assert!(!path.exists());
    let store = SqliteStore::open(&path).await.expect("open");
    assert!(path.exists(), "open creates the database file");
    store.close().await;

    let missing = dir.path().join("no/such/dir/truce.db");
    match SqliteStore::open(&missing).await {
        Err(StoreError::Backend(msg)) => assert!(msg.contains("truce.db"), "{msg}"),
        other => panic!("expected a backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn reopen_after_close_keeps_everything() {
    let (_dir, path) = db_path();
    let first = batch("r", 0, 3);
    let store = SqliteStore::open(&path).await.expect("open");
    store.append_plain(0, &first).await.expect("append");
    assert!(
        store
            .put_blob(fake_hash(7), b"photo")
            .await
            .expect("put_blob")
    );
    store.close().await;
    assert!(
        matches!(store.size().await, Err(StoreError::Backend(_))),
        "closed"
    );
    drop(store);

    let store = SqliteStore::open(&path).await.expect("reopen");
    assert_eq!(store.size().await.expect("size"), 3);
    for (i, want) in (0u64..).zip(&first) {
        let got = store.entry(i).await.expect("entry").expect("present");
        assert_eq!(got.entry_id, want.entry_id);
        assert_eq!(got.leaf, want.leaf);
        assert_eq!(got.leaf_hash, want.leaf_hash);
    }
    assert_eq!(
        store.blob(fake_hash(7)).await.expect("blob"),
        Some(b"photo".to_vec())
    );
    assert!(
        !store
            .put_blob(fake_hash(7), b"photo")
            .await
            .expect("put_blob again")
    );
    // The log continues where it stopped, and only there.
    assert_eq!(
        store.append_plain(0, &batch("r", 3, 1)).await,
        Err(StoreError::SizeMismatch {
            expected: 0,
            actual: 3
        })
    );
    store
        .append_plain(3, &batch("r", 3, 2))
        .await
        .expect("append after reopen");
    assert_eq!(store.size().await.expect("size"), 5);
    store.close().await;

    // Opening again (migrations already applied) is fine too.
    let store = SqliteStore::open(&path).await.expect("third open");
    assert_eq!(store.size().await.expect("size"), 5);
    store.close().await;
}

#[tokio::test]
async fn a_batch_of_10_000_entries_appends_in_one_call() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open(&path).await.expect("open");
    let big = batch("big", 0, 10_000);
    let started = Instant::now();
    store.append_plain(0, &big).await.expect("append 10,000");
    eprintln!("appended 10,000 entries in {:?}", started.elapsed());
    assert_eq!(store.size().await.expect("size"), 10_000);
    let last = store.entry(9_999).await.expect("entry").expect("present");
    assert_eq!(last.entry_id, "big-9999");
    let all = store.entries(0, 10_000).await.expect("entries");
    assert_eq!(all.len(), 10_000);
    assert!(
        (0u64..)
            .zip(&all)
            .all(|(i, e)| e.index == i && e.entry_id == format!("big-{i}"))
    );

    // Reads are capped.
    store
        .append_plain(10_000, &batch("big", 10_000, 5))
        .await
        .expect("append 5");
    let capped = store.entries(0, u32::MAX).await.expect("entries");
    assert_eq!(capped.len(), MAX_ENTRIES_PER_READ as usize);
    let tail = store.entries(9_998, u32::MAX).await.expect("entries");
    assert_eq!(tail.len(), 7);
    assert_eq!(tail[6].index, 10_004);

    // A failing big batch (its last entry is a duplicate) writes nothing.
    let mut bad = batch("bad", 10_005, 10_000);
    bad[9_999].entry_id = "big-17".into();
    assert_eq!(
        store.append_plain(10_005, &bad).await,
        Err(StoreError::DuplicateEntryId("big-17".into()))
    );
    assert_eq!(store.size().await.expect("size"), 10_005);
    assert_eq!(
        store.entry_by_id("bad-10005").await.expect("entry_by_id"),
        None
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_see_consistent_prefixes_during_appends() {
    let (_dir, path) = db_path();
    let store = Arc::new(SqliteStore::open(&path).await.expect("open"));
    const BATCHES: u64 = 100;
    const PER_BATCH: u64 = 20;

    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for b in 0..BATCHES {
                let from = b * PER_BATCH;
                store
                    .append_plain(from, &batch("c", from, PER_BATCH))
                    .await
                    .expect("append");
            }
        })
    };
    let mut readers = Vec::new();
    for r in 0..4u64 {
        let store = Arc::clone(&store);
        readers.push(tokio::spawn(async move {
            let mut last = 0;
            let mut observed = 0u32;
            loop {
                let size = store.size().await.expect("size");
                assert!(size >= last, "size went backwards: {last} -> {size}");
                assert_eq!(
                    size % PER_BATCH,
                    0,
                    "a reader saw part of a batch: size {size}"
                );
                if size > 0 {
                    let e = store
                        .entry(size - 1)
                        .await
                        .expect("entry")
                        .expect("last entry exists");
                    assert_eq!(e.entry_id, format!("c-{}", size - 1));
                    let id = format!("c-{}", (size - 1 + r) % size);
                    assert!(store.entry_by_id(&id).await.expect("entry_by_id").is_some());
                }
                // A ranged read is one snapshot: at least `size` entries, whole batches, dense.
                let all = store.entries(0, u32::MAX).await.expect("entries");
                assert!(all.len() as u64 >= size);
                assert_eq!(
                    all.len() as u64 % PER_BATCH,
                    0,
                    "partial batch in a range read"
                );
                assert!((0u64..).zip(&all).all(|(i, e)| e.index == i));
                last = size;
                observed += 1;
                if size == BATCHES * PER_BATCH {
                    return observed;
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    writer.await.expect("writer");
    for r in readers {
        assert!(r.await.expect("reader") > 0);
    }
    assert_eq!(store.size().await.expect("size"), BATCHES * PER_BATCH);
    store.close().await;
}

/// Two writers racing for the same index, in one store and from two stores
/// on the same file (as two processes would): exactly one wins each round.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_appends_at_the_same_index_never_fork() {
    let (_dir, path) = db_path();
    let a = Arc::new(SqliteStore::open(&path).await.expect("open a"));
    let b = Arc::new(SqliteStore::open(&path).await.expect("open b"));
    let stores = [
        Arc::clone(&a),
        Arc::clone(&a),
        Arc::clone(&b),
        Arc::clone(&b),
    ];
    for round in 0..20u64 {
        let tasks: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(w, s)| {
                let s = Arc::clone(s);
                tokio::spawn(async move {
                    let e = sample_entry(&format!("round-{round}-writer-{w}"), round);
                    s.append_plain(round, &[e]).await
                })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(()) => wins += 1,
                Err(StoreError::SizeMismatch { expected, actual }) => {
                    assert_eq!((expected, actual), (round, round + 1));
                }
                Err(other) => panic!("unexpected error {other}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
    assert_eq!(a.size().await.expect("size"), 20);
    assert_eq!(b.size().await.expect("size"), 20);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn entries_are_append_only_in_the_schema() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open(&path).await.expect("open");
    let log = batch("t", 0, 3);
    store.append_plain(0, &log).await.expect("append");
    let before = store.entries(0, 10).await.expect("entries");

    let mut conn = raw(&path).await;
    for (sql, why) in [
        (
            "UPDATE entries SET kind = 'forged' WHERE idx = 1",
            "UPDATE is not allowed",
        ),
        ("UPDATE entries SET leaf = x'00'", "UPDATE is not allowed"),
        ("DELETE FROM entries WHERE idx = 2", "DELETE is not allowed"),
        ("DELETE FROM entries", "DELETE is not allowed"),
        (
            "INSERT OR REPLACE INTO entries VALUES (1, 't-1', 'forged', 's', 0, x'00', zeroblob(32))",
            "idx must equal the log size",
        ),
        (
            "INSERT OR REPLACE INTO entries VALUES (3, 't-0', 'forged', 's', 0, x'00', zeroblob(32))",
            "duplicate entry_id",
        ),
        (
            "INSERT INTO entries VALUES (3, 't-0', 'k', 's', 0, x'00', zeroblob(32)) \
             ON CONFLICT (entry_id) DO UPDATE SET kind = 'forged'",
            "duplicate entry_id",
        ),
        (
            "INSERT INTO entries VALUES (7, 'gap', 'k', 's', 0, x'00', zeroblob(32))",
            "idx must equal the log size",
        ),
        (
            "INSERT INTO entries VALUES (3, 'short', 'k', 's', 0, x'00', zeroblob(31))",
            "CHECK constraint failed",
        ),
    ] {
        let err = sqlx::query(sql)
            .execute(&mut conn)
            .await
            .expect_err(&format!("tampering must fail: {sql}"));
        assert!(err.to_string().contains(why), "{sql}: {err}");
    }
    // A put blob cannot be rewritten either.
    store
        .put_blob(fake_hash(1), b"original")
        .await
        .expect("put_blob");
    let err = sqlx::query("UPDATE blobs SET bytes = x'00'")
        .execute(&mut conn)
        .await
        .expect_err("blob update must fail");
    assert!(err.to_string().contains("content-addressed"), "{err}");
    conn.close().await.expect("close raw");

    assert_eq!(store.entries(0, 10).await.expect("entries"), before);
    assert_eq!(
        store.blob(fake_hash(1)).await.expect("blob"),
        Some(b"original".to_vec())
    );
    store.close().await;
}

/// Leaves and tree hashes are read back in one aggregate row per page (`group_concat`): bytes that
/// are not text — NUL, 0xFF, overlong UTF-8 — must come back exactly, and so must negative times.
#[tokio::test]
async fn leaves_and_hashes_come_back_byte_for_byte() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open(&path).await.expect("open");
    let awkward = [[0u8; 32], [0xff; 32], [0xc0; 32], {
        let mut h = [0x80u8; 32];
        h[0] = 0;
        h[31] = 0;
        h
    }];
    let entries: Vec<NewEntry> = awkward
        .iter()
        .enumerate()
        .map(|(i, h)| NewEntry {
            leaf_hash: *h,
            time_ms: -1_000 + i as i64,
            leaf: vec![0, 0xff, i as u8, 0],
            ..sample_entry(&format!("a:{i}.x_y-z"), i as u64)
        })
        .collect();
    store.append_plain(0, &entries).await.expect("append");
    let leaves = store.leaves(0, 10).await.expect("leaves");
    assert_eq!(leaves.len(), 4);
    for (i, (got, want)) in leaves.iter().zip(&entries).enumerate() {
        assert_eq!(got.index, i as u64);
        assert_eq!(got.entry_id, want.entry_id);
        assert_eq!(got.time_ms, want.time_ms);
        assert_eq!(got.leaf, want.leaf);
        assert_eq!(got.leaf_hash, want.leaf_hash);
    }
    let hashes = store.hashes(0, 10).await.expect("hashes");
    assert_eq!(
        hashes,
        store.read_hashes(&[0, 1, 2, 3]).await.expect("read_hashes")
    );
    assert_eq!(hashes.len(), 4);
    assert_eq!(store.hashes(2, 1).await.expect("hashes"), vec![hashes[2]]);

    // Ids are joined by line breaks: one that holds a line break is found, not split silently.
    let broken = NewEntry {
        entry_id: "two\nlines".into(),
        ..sample_entry("x", 4)
    };
    store.append_plain(4, &[broken]).await.expect("append");
    match store.leaves(4, 1).await {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("entry_id"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    store.close().await;
}

#[tokio::test]
async fn a_bad_leaf_hash_on_disk_is_reported_as_corrupt() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open(&path).await.expect("open");
    store
        .append_plain(0, &batch("h", 0, 2))
        .await
        .expect("append");

    // Only by switching CHECK constraints off can a 31-byte hash get in.
    let mut conn = raw(&path).await;
    sqlx::query("PRAGMA ignore_check_constraints = ON")
        .execute(&mut conn)
        .await
        .expect("pragma");
    sqlx::query("INSERT INTO entries VALUES (2, 'short-hash', 'k', 's', 0, x'00', zeroblob(31))")
        .execute(&mut conn)
        .await
        .expect("forced insert");
    sqlx::query("INSERT INTO tree_hashes VALUES (2, zeroblob(32))")
        .execute(&mut conn)
        .await
        .expect("forced hash");
    conn.close().await.expect("close raw");

    let corrupt = |r: Result<_, StoreError>| match r {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("31 bytes"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    };
    corrupt(store.entry(2).await.map(|_| ()));
    corrupt(store.entry_by_id("short-hash").await.map(|_| ()));
    corrupt(store.entries(0, 10).await.map(|_| ()));
    match store.leaves(0, 10).await {
        Err(StoreError::Corrupt(msg)) => {
            assert!(msg.contains("95 bytes for 3 values of 32"), "{msg}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // The good entries are still readable; appends go on.
    assert!(store.entry(1).await.expect("entry 1").is_some());
    assert_eq!(store.entries(0, 2).await.expect("entries").len(), 2);
    store
        .append_plain(3, &batch("h", 3, 1))
        .await
        .expect("append after");
    store.close().await;
}

#[tokio::test]
async fn gaps_and_missing_triggers_are_detected() {
    let (_dir, path) = db_path();
    let store = SqliteStore::open(&path).await.expect("open");
    store
        .append_plain(0, &batch("g", 0, 3))
        .await
        .expect("append");

    // Someone with file access drops the trigger and writes past the end.
    let mut conn = raw(&path).await;
    sqlx::query("DROP TRIGGER entries_insert_at_end")
        .execute(&mut conn)
        .await
        .expect("drop trigger");
    sqlx::query("INSERT INTO entries VALUES (5, 'gap', 'k', 's', 0, x'00', zeroblob(32))")
        .execute(&mut conn)
        .await
        .expect("insert past the end");

    // A running store notices the gap in ranged reads.
    match store.entries(0, 10).await {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("expected 3, found 5"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    match store.leaves(0, 10).await {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("with a gap"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // The same for tree hashes.
    sqlx::query("DROP TRIGGER tree_hashes_insert_at_end")
        .execute(&mut conn)
        .await
        .expect("drop trigger");
    sqlx::query("INSERT INTO tree_hashes VALUES (9, zeroblob(32))")
        .execute(&mut conn)
        .await
        .expect("insert past the end");
    assert_eq!(
        store
            .hashes(0, 3)
            .await
            .expect("hashes before the gap")
            .len(),
        3
    );
    match store.hashes(0, 20).await {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("with a gap"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    store.close().await;

    // A new one refuses to open: first for the missing trigger, …
    match SqliteStore::open(&path).await {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("entries_insert_at_end"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // … and, with the triggers back, for the gap.
    sqlx::query(
        "CREATE TRIGGER tree_hashes_insert_at_end BEFORE INSERT ON tree_hashes BEGIN \
         SELECT RAISE(ABORT, 'tree hashes are dense: idx must equal the hash count') \
         WHERE NEW.idx IS NOT (SELECT COALESCE(MAX(idx) + 1, 0) FROM tree_hashes); END",
    )
    .execute(&mut conn)
    .await
    .expect("recreate trigger");
    sqlx::query(
        "CREATE TRIGGER entries_insert_at_end BEFORE INSERT ON entries BEGIN \
         SELECT RAISE(ABORT, 'entries are dense: idx must equal the log size') \
         WHERE NEW.idx IS NOT (SELECT COALESCE(MAX(idx) + 1, 0) FROM entries); END",
    )
    .execute(&mut conn)
    .await
    .expect("recreate trigger");
    conn.close().await.expect("close raw");
    match SqliteStore::open(&path).await {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("not dense"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
