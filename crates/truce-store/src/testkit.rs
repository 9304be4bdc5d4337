//! One backend-independent story for every [`Store`] implementation.
//!
//! A backend's tests open an empty store and call [`story`]; it panics (like
//! any test) at the first deviation from the contract in the crate docs. The
//! story covers every method and every error case: the empty store, dense
//! appends, appends at a stale or future index, duplicate ids inside a batch
//! and against the log (each writing nothing), lookups by index and by id,
//! ranged reads at every edge (including overflow of `start + limit`), and
//! idempotent blobs.
//!
//! Enabled by the `testkit` cargo feature; not part of production builds.

use crate::{NewEntry, Store, StoreError, StoredEntry, TreeUpdate, async_trait};

/// The tree update the story uses: one stored hash per entry (the leaf hash) and a checkpoint
/// naming the new size. Real callers append Merkle stored hashes; the store does not interpret
/// them, it only keeps them dense and in step with the entries.
pub fn tree_for(first_index: u64, entries: &[NewEntry]) -> TreeUpdate {
    TreeUpdate {
        hashes_from: first_index,
        hashes: entries.iter().map(|e| e.leaf_hash).collect(),
        checkpoint: format!(
            "checkpoint {}",
            first_index.saturating_add(entries.len() as u64)
        )
        .into_bytes(),
    }
}

/// `append` with [`tree_for`]'s tree update, for tests about entries.
#[async_trait]
pub trait AppendPlain {
    /// Appends `entries` at `first_index` with the story's tree update.
    async fn append_plain(&self, first_index: u64, entries: &[NewEntry]) -> Result<(), StoreError>;
}

#[async_trait]
impl<S: Store + ?Sized> AppendPlain for S {
    async fn append_plain(&self, first_index: u64, entries: &[NewEntry]) -> Result<(), StoreError> {
        self.append(first_index, entries, &tree_for(first_index, entries))
            .await
    }
}

/// A deterministic, distinct 32-byte "hash" for tests (the store does not
/// verify hashes, so any 32 bytes do).
pub fn fake_hash(seed: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    for chunk in out.chunks_mut(8) {
        // splitmix64
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_be_bytes());
    }
    out
}

/// A plausible test entry with id `id`; `n` varies the other fields.
pub fn sample_entry(id: &str, n: u64) -> NewEntry {
    let kinds = ["observation", "tick", "key", "decision"];
    let time_ms = 1_700_000_000_000i64.saturating_add(i64::try_from(n).unwrap_or(i64::MAX));
    let kind = kinds[usize::try_from(n % 4).unwrap_or(0)];
    let leaf = format!(
        r#"{{"time_ms":{time_ms},"envelope":{{"payloadType":"application/vnd.truce.{kind}+json","id":"{id}"}}}}"#
    );
    NewEntry {
        entry_id: id.to_owned(),
        kind: kind.to_owned(),
        signer: format!("monitor-{}+0a1b2c3d", n % 3),
        time_ms,
        leaf: leaf.into_bytes(),
        leaf_hash: fake_hash(n),
    }
}

/// Asserts that `got` is `want` stored at `index`.
fn assert_entry(got: &StoredEntry, index: u64, want: &NewEntry) {
    assert_eq!(
        got,
        &StoredEntry::new(index, want.clone()),
        "entry at index {index}"
    );
}

/// Asserts that the store holds exactly `log`, via every read method.
async fn assert_log(store: &dyn Store, log: &[NewEntry]) {
    let size = u64::try_from(log.len()).expect("log length fits u64");
    assert_eq!(store.size().await.expect("size"), size, "size");
    for (i, want) in log.iter().enumerate() {
        let index = u64::try_from(i).expect("index fits u64");
        let got = store
            .entry(index)
            .await
            .expect("entry")
            .unwrap_or_else(|| panic!("entry {index} missing"));
        assert_entry(&got, index, want);
        let by_id = store
            .entry_by_id(&want.entry_id)
            .await
            .expect("entry_by_id")
            .unwrap_or_else(|| panic!("entry {:?} missing by id", want.entry_id));
        assert_entry(&by_id, index, want);
    }
    assert_eq!(
        store.entry(size).await.expect("entry past the end"),
        None,
        "entry(size)"
    );
    let all = store
        .entries(0, u32::try_from(log.len()).expect("small log"))
        .await
        .expect("entries");
    assert_eq!(all.len(), log.len(), "entries(0, size)");
    for (i, (got, want)) in all.iter().zip(log).enumerate() {
        assert_entry(got, u64::try_from(i).expect("index fits u64"), want);
    }
    // Leaves are the entries without `kind` and `signer`, in pages of any size.
    let whole: Vec<crate::StoredLeaf> = all.into_iter().map(Into::into).collect();
    for page in [1, 2, 3, 7] {
        let mut leaves = Vec::new();
        while leaves.len() < log.len() {
            let got = store
                .leaves(leaves.len() as u64, page)
                .await
                .expect("leaves");
            assert!(!got.is_empty(), "leaves({}, {page}) is empty", leaves.len());
            leaves.extend(got);
        }
        assert_eq!(leaves, whole, "leaves in pages of {page}");
    }
    assert!(
        store.leaves(size, 10).await.expect("leaves").is_empty(),
        "leaves(size)"
    );
}

/// Appends that must fail with `want` and leave the log as `log`.
async fn assert_rejected(
    store: &dyn Store,
    log: &[NewEntry],
    first_index: u64,
    batch: &[NewEntry],
    want: StoreError,
) {
    let got = store.append_plain(first_index, batch).await;
    assert_eq!(
        got,
        Err(want),
        "append at {first_index} of {} entries",
        batch.len()
    );
    assert_log(store, log).await;
    for e in batch {
        if !log.iter().any(|l| l.entry_id == e.entry_id) {
            assert_eq!(
                store.entry_by_id(&e.entry_id).await.expect("entry_by_id"),
                None,
                "a rejected batch wrote {:?}",
                e.entry_id
            );
        }
    }
}

/// Runs the story over `store`, which must be empty. Panics on the first
/// deviation from the [`Store`] contract.
pub async fn story(store: &dyn Store) {
    // --- The empty store.
    assert_eq!(
        store.size().await.expect("size"),
        0,
        "a new store must be empty"
    );
    assert_eq!(store.entry(0).await.expect("entry(0)"), None);
    assert_eq!(store.entry(u64::MAX).await.expect("entry(u64::MAX)"), None);
    assert_eq!(store.entry_by_id("nope").await.expect("entry_by_id"), None);
    assert_eq!(
        store.entry_by_id("").await.expect("entry_by_id(\"\")"),
        None
    );
    assert!(store.entries(0, 10).await.expect("entries").is_empty());
    assert!(
        store
            .entries(0, u32::MAX)
            .await
            .expect("entries")
            .is_empty()
    );
    assert!(
        store
            .entries(u64::MAX, u32::MAX)
            .await
            .expect("entries")
            .is_empty()
    );
    assert!(!store.has_blob(fake_hash(1)).await.expect("has_blob"));
    assert_eq!(store.blob(fake_hash(1)).await.expect("blob"), None);

    // An empty batch at the right index is a no-op; at a wrong one, a mismatch.
    store.append_plain(0, &[]).await.expect("empty append at 0");
    let mut log: Vec<NewEntry> = Vec::new();
    assert_log(store, &log).await;
    assert_rejected(
        store,
        &log,
        1,
        &[],
        StoreError::SizeMismatch {
            expected: 1,
            actual: 0,
        },
    )
    .await;

    // Appending at the wrong index writes nothing.
    let first = vec![
        sample_entry("a-0", 0),
        sample_entry("a-1", 1),
        sample_entry("a-2", 2),
    ];
    assert_rejected(
        store,
        &log,
        1,
        &first,
        StoreError::SizeMismatch {
            expected: 1,
            actual: 0,
        },
    )
    .await;
    assert_rejected(
        store,
        &log,
        u64::MAX,
        &first,
        StoreError::SizeMismatch {
            expected: u64::MAX,
            actual: 0,
        },
    )
    .await;

    // --- A first batch.
    store.append_plain(0, &first).await.expect("first batch");
    log.extend(first.iter().cloned());
    assert_log(store, &log).await;

    // Stale index (the same batch again, as a second sequencer would), future index.
    assert_rejected(
        store,
        &log,
        0,
        &first,
        StoreError::SizeMismatch {
            expected: 0,
            actual: 3,
        },
    )
    .await;
    let next = vec![sample_entry("b-0", 3), sample_entry("b-1", 4)];
    assert_rejected(
        store,
        &log,
        2,
        &next,
        StoreError::SizeMismatch {
            expected: 2,
            actual: 3,
        },
    )
    .await;
    assert_rejected(
        store,
        &log,
        4,
        &next,
        StoreError::SizeMismatch {
            expected: 4,
            actual: 3,
        },
    )
    .await;
    // The index check comes first, even when the batch also has duplicate ids.
    let dup_and_stale = vec![sample_entry("a-0", 9)];
    assert_rejected(
        store,
        &log,
        0,
        &dup_and_stale,
        StoreError::SizeMismatch {
            expected: 0,
            actual: 3,
        },
    )
    .await;

    // --- Duplicate ids write nothing.
    // Repeated inside the batch (the first copy alone would be fine).
    let repeated = vec![
        sample_entry("c-0", 5),
        sample_entry("c-1", 6),
        sample_entry("c-0", 7),
    ];
    assert_rejected(
        store,
        &log,
        3,
        &repeated,
        StoreError::DuplicateEntryId("c-0".into()),
    )
    .await;
    // Already in the log, after fresh entries in the same batch.
    let existing = vec![sample_entry("d-0", 5), sample_entry("a-1", 6)];
    assert_rejected(
        store,
        &log,
        3,
        &existing,
        StoreError::DuplicateEntryId("a-1".into()),
    )
    .await;
    // Already in the log, as the only entry (same content: still a duplicate
    // at this layer; idempotent resubmission is the caller's business).
    assert_rejected(
        store,
        &log,
        3,
        &first[2..],
        StoreError::DuplicateEntryId("a-2".into()),
    )
    .await;

    // --- A second batch with edge-case contents.
    let mut odd = vec![
        sample_entry("e-0", 8),
        sample_entry("ünïcødé/ id with spaces+🕊", 9),
        sample_entry("e-2", 10),
        sample_entry("e-3", 11),
        sample_entry("e-4", 12),
    ];
    odd[0].leaf = (0..=255u8).collect(); // every byte value, including NUL
    odd[2].leaf = vec![0xAB; 65_535]; // the largest leaf (tile entry-bundle limit)
    odd[3].time_ms = i64::MIN;
    odd[4].time_ms = i64::MAX;
    odd[4].leaf_hash = [0u8; 32];
    odd[1].signer = "party-ß+deadbeef".into();
    store.append_plain(3, &odd).await.expect("second batch");
    log.extend(odd.iter().cloned());
    assert_log(store, &log).await;

    // --- One entry at a time, as a sequencer under light load appends.
    for n in 13..20u64 {
        let e = sample_entry(&format!("f-{n}"), n);
        let at = u64::try_from(log.len()).expect("len fits u64");
        store
            .append_plain(at, std::slice::from_ref(&e))
            .await
            .expect("single append");
        log.push(e);
    }
    assert_log(store, &log).await;
    let size = u64::try_from(log.len()).expect("len fits u64");
    assert_eq!(size, 15);

    // --- Ranged reads.
    let range = |start: u64, len: usize| -> Vec<StoredEntry> {
        let from = usize::try_from(start).expect("small start");
        log[from..from + len]
            .iter()
            .enumerate()
            .map(|(i, e)| StoredEntry::new(start + u64::try_from(i).expect("small"), e.clone()))
            .collect()
    };
    assert_eq!(
        store.entries(0, 15).await.expect("entries"),
        range(0, 15),
        "whole log"
    );
    assert_eq!(
        store.entries(0, 100).await.expect("entries"),
        range(0, 15),
        "past the end"
    );
    assert_eq!(
        store.entries(2, 3).await.expect("entries"),
        range(2, 3),
        "middle, across batches"
    );
    assert_eq!(
        store.entries(3, 1).await.expect("entries"),
        range(3, 1),
        "one entry"
    );
    assert_eq!(
        store.entries(10, u32::MAX).await.expect("entries"),
        range(10, 5),
        "huge limit"
    );
    assert_eq!(
        store.entries(14, 1).await.expect("entries"),
        range(14, 1),
        "last entry"
    );
    assert!(
        store.entries(15, 10).await.expect("entries").is_empty(),
        "at the end"
    );
    let at = |indexes: &'static [u64]| store.entries_at(indexes);
    let pick = |indexes: &[usize]| -> Vec<StoredEntry> {
        indexes.iter().flat_map(|&i| range(i as u64, 1)).collect()
    };
    assert_eq!(
        at(&[7, 2, 14, 2, 0]).await.expect("entries_at"),
        pick(&[0, 2, 7, 14]),
        "scattered positions, ascending, each once"
    );
    assert_eq!(
        at(&[3, 15, 1_000, u64::MAX]).await.expect("entries_at"),
        pick(&[3]),
        "positions past the end are skipped"
    );
    assert!(
        at(&[]).await.expect("entries_at").is_empty(),
        "no positions"
    );
    let too_many: Vec<u64> = (0..=crate::MAX_ENTRIES_AT as u64).collect();
    assert!(
        store.entries_at(&too_many).await.is_err(),
        "more than MAX_ENTRIES_AT positions"
    );
    assert!(
        store.entries(1_000, 10).await.expect("entries").is_empty(),
        "far past the end"
    );
    assert!(
        store.entries(0, 0).await.expect("entries").is_empty(),
        "zero limit"
    );
    assert!(
        store.entries(5, 0).await.expect("entries").is_empty(),
        "zero limit inside"
    );
    assert!(
        store
            .entries(u64::MAX, u32::MAX)
            .await
            .expect("entries")
            .is_empty(),
        "overflowing range"
    );
    assert!(
        store
            .entries(u64::MAX - 1, 10)
            .await
            .expect("entries")
            .is_empty(),
        "overflowing range"
    );
    for (start, limit) in [
        (0, 0),
        (5, 0),
        (1_000, 10),
        (u64::MAX, u32::MAX),
        (u64::MAX - 1, 10),
    ] {
        assert!(
            store.leaves(start, limit).await.expect("leaves").is_empty(),
            "leaves({start}, {limit})"
        );
    }
    assert_eq!(
        store.leaves(2, 3).await.expect("leaves"),
        range(2, 3)
            .into_iter()
            .map(Into::into)
            .collect::<Vec<crate::StoredLeaf>>(),
        "leaves in the middle, across batches"
    );
    assert_eq!(store.entry(u64::MAX).await.expect("entry"), None);
    assert_eq!(store.entry(size).await.expect("entry"), None);
    assert_eq!(
        store.entry_by_id("f-1").await.expect("entry_by_id"),
        None,
        "ids are exact"
    );
    assert_eq!(
        store.entry_by_id("F-13").await.expect("entry_by_id"),
        None,
        "ids are case-sensitive"
    );

    // --- Blobs: content-addressed, idempotent.
    let small = b"evidence photo bytes".to_vec();
    let big: Vec<u8> = (0..(1usize << 20)).map(|i| (i % 251) as u8).collect();
    let (h_small, h_big, h_empty, h_absent) = (
        fake_hash(100),
        fake_hash(101),
        fake_hash(102),
        fake_hash(103),
    );
    assert!(
        store.put_blob(h_small, &small).await.expect("put_blob"),
        "new blob"
    );
    assert!(
        !store
            .put_blob(h_small, &small)
            .await
            .expect("put_blob again"),
        "known blob"
    );
    assert!(store.has_blob(h_small).await.expect("has_blob"));
    assert_eq!(
        store.blob(h_small).await.expect("blob"),
        Some(small.clone())
    );
    assert!(store.put_blob(h_big, &big).await.expect("put big blob"));
    assert_eq!(store.blob(h_big).await.expect("blob"), Some(big));
    assert!(store.put_blob(h_empty, &[]).await.expect("put empty blob"));
    assert!(store.has_blob(h_empty).await.expect("has_blob"));
    assert_eq!(store.blob(h_empty).await.expect("blob"), Some(Vec::new()));
    assert!(
        !store
            .put_blob(h_empty, &[])
            .await
            .expect("put empty blob again")
    );
    assert!(!store.has_blob(h_absent).await.expect("has_blob"));
    assert_eq!(store.blob(h_absent).await.expect("blob"), None);
    // Blobs and entries are separate: the log did not change.
    assert_log(store, &log).await;

    // --- The log goes on after all those rejections.
    let last = vec![sample_entry("g-0", 20), sample_entry("g-1", 21)];
    store
        .append_plain(15, &last)
        .await
        .expect("append after rejections");
    log.extend(last);
    assert_log(store, &log).await;

    // --- Tree hashes and checkpoints travel with their entries.
    assert_eq!(
        store.hash_count().await.expect("hash_count"),
        log.len() as u64
    );
    let hashes = store.hashes(0, 1_000).await.expect("hashes");
    let want: Vec<[u8; 32]> = log.iter().map(|e| e.leaf_hash).collect();
    assert_eq!(hashes, want);
    assert_eq!(
        store.hashes(3, 2).await.expect("hashes"),
        want[3..5].to_vec()
    );
    assert_eq!(
        store.hashes(u64::MAX, 2).await.expect("hashes"),
        Vec::<[u8; 32]>::new()
    );
    assert_eq!(
        store.read_hashes(&[4, 0, 4]).await.expect("read_hashes"),
        vec![want[4], want[0], want[4]]
    );
    assert_eq!(
        store.read_hashes(&[]).await.expect("read_hashes"),
        Vec::<[u8; 32]>::new()
    );
    assert!(matches!(
        store.read_hashes(&[0, log.len() as u64]).await,
        Err(StoreError::Corrupt(_))
    ));
    let size = log.len() as u64;
    assert_eq!(
        store.checkpoint().await.expect("checkpoint"),
        Some((size, format!("checkpoint {size}").into_bytes()))
    );
    // Hashes that do not continue the stored ones: nothing is written.
    let next = vec![sample_entry("h-0", 30)];
    let mut bad = tree_for(size, &next);
    bad.hashes_from = size + 1;
    assert_eq!(
        store.append(size, &next, &bad).await,
        Err(StoreError::HashCountMismatch {
            expected: size + 1,
            actual: size
        })
    );
    assert_log(store, &log).await;
    assert_eq!(store.hash_count().await.expect("hash_count"), size);
    // An empty batch writes no checkpoint.
    store
        .append(size, &[], &tree_for(size, &[]))
        .await
        .expect("empty append");
    assert_eq!(
        store.checkpoint().await.expect("checkpoint").map(|c| c.0),
        Some(size)
    );

    // --- Cosigned checkpoints: the latest by size; a later note of one size replaces it.
    assert_eq!(store.cosigned_checkpoint().await.expect("cosigned"), None);
    store
        .put_cosigned_checkpoint(size, b"one")
        .await
        .expect("put");
    store
        .put_cosigned_checkpoint(size, b"two")
        .await
        .expect("put");
    store
        .put_cosigned_checkpoint(size - 1, b"old")
        .await
        .expect("put");
    assert_eq!(
        store.cosigned_checkpoint().await.expect("cosigned"),
        Some((size, b"two".to_vec()))
    );
}
