//! Runs the testkit story against a minimal in-memory reference backend.
//! This checks the story itself (that it is satisfiable and asks for the
//! contract the crate docs describe) independently of any real backend, and
//! that `Store` is usable as `Arc<dyn Store>`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use truce_store::{NewEntry, Store, StoreError, StoredEntry, TreeUpdate, async_trait, testkit};

#[derive(Default)]
struct Inner {
    log: Vec<StoredEntry>,
    by_id: HashMap<String, u64>,
    blobs: HashMap<[u8; 32], Vec<u8>>,
    hashes: Vec<[u8; 32]>,
    checkpoints: Vec<(u64, Vec<u8>)>,
    cosigned: std::collections::BTreeMap<u64, Vec<u8>>,
}

#[derive(Default)]
struct MemoryStore(Mutex<Inner>);

impl MemoryStore {
    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.0
            .lock()
            .map_err(|_| StoreError::Backend("poisoned".into()))
    }
}

const CAP: u32 = 10_000;

#[async_trait]
impl Store for MemoryStore {
    async fn append(
        &self,
        first_index: u64,
        entries: &[NewEntry],
        tree: &TreeUpdate,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let size = inner.log.len() as u64;
        if first_index != size {
            return Err(StoreError::SizeMismatch {
                expected: first_index,
                actual: size,
            });
        }
        if entries.is_empty() {
            return Ok(());
        }
        if tree.hashes_from != inner.hashes.len() as u64 {
            return Err(StoreError::HashCountMismatch {
                expected: tree.hashes_from,
                actual: inner.hashes.len() as u64,
            });
        }
        let mut seen = HashSet::new();
        for e in entries {
            if !seen.insert(e.entry_id.as_str()) || inner.by_id.contains_key(&e.entry_id) {
                return Err(StoreError::DuplicateEntryId(e.entry_id.clone()));
            }
        }
        for (i, e) in entries.iter().enumerate() {
            let index = size + i as u64;
            inner.by_id.insert(e.entry_id.clone(), index);
            inner.log.push(StoredEntry::new(index, e.clone()));
        }
        inner.hashes.extend_from_slice(&tree.hashes);
        let size = inner.log.len() as u64;
        inner.checkpoints.push((size, tree.checkpoint.clone()));
        Ok(())
    }

    async fn hash_count(&self) -> Result<u64, StoreError> {
        Ok(self.lock()?.hashes.len() as u64)
    }

    async fn hashes(&self, start: u64, limit: u32) -> Result<Vec<[u8; 32]>, StoreError> {
        let inner = self.lock()?;
        let Ok(start) = usize::try_from(start) else {
            return Ok(Vec::new());
        };
        Ok(inner
            .hashes
            .iter()
            .skip(start)
            .take(limit.min(CAP) as usize)
            .copied()
            .collect())
    }

    async fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
        let inner = self.lock()?;
        if indexes.len() > 4096 {
            return Err(StoreError::Backend("too many hash positions".into()));
        }
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| inner.hashes.get(i))
                    .copied()
                    .ok_or_else(|| StoreError::Corrupt(format!("tree hash {i} is not stored")))
            })
            .collect()
    }

    async fn checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Ok(self.lock()?.checkpoints.last().cloned())
    }

    async fn put_cosigned_checkpoint(&self, size: u64, note: &[u8]) -> Result<(), StoreError> {
        self.lock()?.cosigned.insert(size, note.to_vec());
        Ok(())
    }

    async fn cosigned_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Ok(self
            .lock()?
            .cosigned
            .last_key_value()
            .map(|(k, v)| (*k, v.clone())))
    }

    async fn size(&self) -> Result<u64, StoreError> {
        Ok(self.lock()?.log.len() as u64)
    }

    async fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StoreError> {
        let inner = self.lock()?;
        Ok(usize::try_from(index)
            .ok()
            .and_then(|i| inner.log.get(i))
            .cloned())
    }

    async fn entry_by_id(&self, entry_id: &str) -> Result<Option<StoredEntry>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .by_id
            .get(entry_id)
            .and_then(|&i| inner.log.get(i as usize))
            .cloned())
    }

    async fn entries(&self, start: u64, limit: u32) -> Result<Vec<StoredEntry>, StoreError> {
        let inner = self.lock()?;
        let Ok(start) = usize::try_from(start) else {
            return Ok(Vec::new());
        };
        let limit = limit.min(CAP) as usize;
        Ok(inner.log.iter().skip(start).take(limit).cloned().collect())
    }

    async fn entries_at(&self, indexes: &[u64]) -> Result<Vec<StoredEntry>, StoreError> {
        if indexes.len() > truce_store::MAX_ENTRIES_AT {
            return Err(StoreError::Backend("too many positions".into()));
        }
        let inner = self.lock()?;
        let mut wanted: Vec<u64> = indexes.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        Ok(wanted
            .into_iter()
            .filter_map(|i| inner.log.get(usize::try_from(i).ok()?).cloned())
            .collect())
    }

    async fn put_blob(&self, sha256: [u8; 32], bytes: &[u8]) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        if inner.blobs.contains_key(&sha256) {
            return Ok(false);
        }
        inner.blobs.insert(sha256, bytes.to_vec());
        Ok(true)
    }

    async fn blob(&self, sha256: [u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock()?.blobs.get(&sha256).cloned())
    }

    async fn has_blob(&self, sha256: [u8; 32]) -> Result<bool, StoreError> {
        Ok(self.lock()?.blobs.contains_key(&sha256))
    }
}

#[tokio::test]
async fn story_in_memory() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    testkit::story(store.as_ref()).await;
}

#[test]
fn errors_display() {
    let cases = [
        (
            StoreError::SizeMismatch {
                expected: 7,
                actual: 5,
            },
            "log size mismatch: append at index 7, but the log has 5 entries",
        ),
        (
            StoreError::DuplicateEntryId("01J".into()),
            "duplicate entry id \"01J\": already in the log or repeated in the batch",
        ),
        (
            StoreError::Corrupt("gap at 3".into()),
            "store is corrupt: gap at 3",
        ),
        (
            StoreError::Backend("disk full".into()),
            "storage backend error: disk full",
        ),
    ];
    for (err, want) in cases {
        assert_eq!(err.to_string(), want);
        let _: &dyn std::error::Error = &err;
    }
}
