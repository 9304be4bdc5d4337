//! The server's side of the ledger: growing the Merkle tree, signing checkpoints, proving
//! inclusion from stored hashes.
//!
//! The sequencer owns a [`Ledger`]: for every batch it pushes the new leaf hashes onto the tree's
//! right edge (a [`Frontier`], never more than 64 hashes, so no storage reads on the hot path),
//! and signs a checkpoint for the new size. The new stored hashes and that checkpoint are written
//! in the same transaction as the entries; the checkpoint is published only after the commit.
//! The log therefore never signs a tree it has not stored, and — because every checkpoint
//! extends the same frontier — never signs two checkpoints that are not consistent.

use std::collections::HashMap;
use std::sync::Mutex;

use truce_log::checkpoint::{Checkpoint, CheckpointError, sign_checkpoint};
use truce_log::merkle::{self, Frontier, Hash, HashReader, MerkleError};
use truce_log::note::Note;
use truce_log::proof::TlogProof;
use truce_model::keys::PrivateKey;
use truce_store::{Store, StoreError, TreeUpdate};

/// A checkpoint that has been committed, as served at `/log/checkpoint`.
#[derive(Debug, Clone)]
pub struct Published {
    pub size: u64,
    pub root: Hash,
    /// The signed note (log signature only).
    pub note: Vec<u8>,
}

/// The tree and the key that signs it.
#[derive(Clone)]
pub struct Ledger {
    origin: String,
    key: PrivateKey,
    frontier: Frontier,
}

impl Ledger {
    /// A ledger continuing `frontier` (rebuilt from the log at start-up).
    pub fn new(origin: String, key: PrivateKey, frontier: Frontier) -> Ledger {
        Ledger {
            origin,
            key,
            frontier,
        }
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Appends `leaf_hashes` and signs the checkpoint of the new tree: the stored hashes to
    /// write, the note, and what to publish once written.
    pub fn extend(&mut self, leaf_hashes: &[Hash]) -> Result<(TreeUpdate, Published), String> {
        let hashes_from = merkle::stored_hash_count(self.frontier.size());
        let mut hashes = Vec::with_capacity(leaf_hashes.len() * 2);
        for h in leaf_hashes {
            let pushed = self.frontier.push(*h).map_err(|e| e.to_string())?;
            hashes.extend(pushed.into_iter().map(|(_, h)| h));
        }
        let published = self.sign().map_err(|e| e.to_string())?;
        Ok((
            TreeUpdate {
                hashes_from,
                hashes,
                checkpoint: published.note.clone(),
            },
            published,
        ))
    }

    /// The signed checkpoint of the current tree.
    pub fn sign(&self) -> Result<Published, CheckpointError> {
        let root = self.frontier.root();
        let checkpoint = Checkpoint::new(self.origin.clone(), self.frontier.size(), root);
        Ok(Published {
            size: checkpoint.size,
            root,
            note: sign_checkpoint(&checkpoint, &self.key)?,
        })
    }

    /// The C2SP tlog-proof receipt text for leaf `index` under `checkpoint`.
    pub fn receipt_text(
        index: u64,
        proof: Vec<Hash>,
        checkpoint: &Published,
    ) -> Result<String, String> {
        let note = Note::parse(&checkpoint.note).map_err(|e| e.to_string())?;
        TlogProof::new(index, proof, note, None)
            .map(|p| p.to_text())
            .map_err(|e| e.to_string())
    }
}

/// Records which stored hashes a proof needs, answering zeros: the first pass of
/// [`read_proof`].
#[derive(Default)]
struct Recorder(Mutex<Vec<u64>>);

impl HashReader for Recorder {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        if let Ok(mut seen) = self.0.lock() {
            seen.extend_from_slice(indexes);
        }
        Ok(vec![[0u8; 32]; indexes.len()])
    }
}

/// Hashes fetched in advance.
struct Prefetched(HashMap<u64, Hash>);

impl HashReader for Prefetched {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|i| self.0.get(i).copied().ok_or(MerkleError::MissingHash(*i)))
            .collect()
    }
}

/// Why a proof could not be produced.
#[derive(Debug)]
pub enum ProofError {
    Store(StoreError),
    Merkle(MerkleError),
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProofError::Store(e) => write!(f, "reading tree hashes: {e}"),
            ProofError::Merkle(e) => write!(f, "computing the proof: {e}"),
        }
    }
}

/// Stored hashes kept in memory so that proofs for recent entries, and the upper levels every
/// proof passes through, need no storage reads: every hash at tree level 8 and above (one per
/// 256 leaves, so 40,000 for a 10M-entry log) and the most recent [`HashCache::RECENT`] stored
/// hashes. Only committed hashes enter it.
#[derive(Default)]
pub struct HashCache {
    inner: std::sync::RwLock<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    upper: HashMap<u64, Hash>,
    recent: std::collections::VecDeque<Hash>,
    /// Stored index of `recent[0]`.
    recent_start: u64,
}

impl HashCache {
    /// Recent stored hashes kept: 8 MiB, the hashes of the last ~128k entries.
    pub const RECENT: usize = 1 << 18;

    /// Records committed stored hashes `from..from + hashes.len()`.
    pub fn extend(&self, from: u64, hashes: &[Hash]) {
        let Ok(mut c) = self.inner.write() else {
            return;
        };
        if c.recent_start + c.recent.len() as u64 != from {
            c.recent.clear();
            c.recent_start = from;
        }
        for (i, h) in hashes.iter().enumerate() {
            let idx = from + i as u64;
            if merkle::split_stored_hash_index(idx).0 >= 8 {
                c.upper.insert(idx, *h);
            }
            c.recent.push_back(*h);
        }
        let excess = c.recent.len().saturating_sub(Self::RECENT);
        if excess > 0 {
            c.recent.drain(..excess);
            c.recent_start += excess as u64;
        }
    }

    fn get(c: &CacheInner, idx: u64) -> Option<Hash> {
        if idx >= c.recent_start {
            let at = usize::try_from(idx - c.recent_start).ok()?;
            if let Some(h) = c.recent.get(at) {
                return Some(*h);
            }
        }
        c.upper.get(&idx).copied()
    }
}

/// Runs `prove` twice: once to learn which stored hashes it reads (proof shapes depend only on
/// sizes and indexes, never on hash values), then with those hashes taken from `cache` or, for
/// the rest, fetched from the store in one query.
pub async fn read_proof<T>(
    store: &dyn Store,
    cache: &HashCache,
    prove: impl Fn(&dyn HashReader) -> Result<T, MerkleError>,
) -> Result<T, ProofError> {
    let recorder = Recorder::default();
    prove(&recorder).map_err(ProofError::Merkle)?;
    let mut indexes = recorder.0.into_inner().unwrap_or_default();
    indexes.sort_unstable();
    indexes.dedup();
    let mut found = HashMap::with_capacity(indexes.len());
    let mut missing = Vec::new();
    if let Ok(c) = cache.inner.read() {
        for &i in &indexes {
            match HashCache::get(&c, i) {
                Some(h) => {
                    found.insert(i, h);
                }
                None => missing.push(i),
            }
        }
    } else {
        missing = indexes;
    }
    if !missing.is_empty() {
        let hashes = store
            .read_hashes(&missing)
            .await
            .map_err(ProofError::Store)?;
        found.extend(missing.into_iter().zip(hashes));
    }
    prove(&Prefetched(found)).map_err(ProofError::Merkle)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves.
pub async fn inclusion_proof(
    store: &dyn Store,
    cache: &HashCache,
    size: u64,
    index: u64,
) -> Result<Vec<Hash>, ProofError> {
    read_proof(store, cache, |r| merkle::prove_record(size, index, r)).await
}

/// The consistency proof from the tree of `old` leaves to the tree of `new` leaves.
pub async fn consistency_proof(
    store: &dyn Store,
    cache: &HashCache,
    new: u64,
    old: u64,
) -> Result<Vec<Hash>, ProofError> {
    read_proof(store, cache, |r| merkle::prove_tree(new, old, r)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keeps_upper_levels_and_a_recent_window() {
        let cache = HashCache::default();
        let mut f = Frontier::new();
        let mut all = Vec::new();
        for i in 0..5_000u64 {
            let mut leaf = [0u8; 32];
            leaf[..8].copy_from_slice(&i.to_be_bytes());
            let from = merkle::stored_hash_count(i);
            let new: Vec<Hash> = f.push(leaf).unwrap().into_iter().map(|(_, h)| h).collect();
            cache.extend(from, &new);
            all.extend(new);
        }
        let c = cache.inner.read().unwrap();
        for (i, h) in all.iter().enumerate() {
            let i = i as u64;
            if merkle::split_stored_hash_index(i).0 >= 8 || i >= c.recent_start {
                assert_eq!(HashCache::get(&c, i), Some(*h), "{i}");
            }
        }
        // A gap resets the recent window instead of mislabelling hashes.
        drop(c);
        cache.extend(all.len() as u64 + 10, &[[7; 32]]);
        let c = cache.inner.read().unwrap();
        assert_eq!(HashCache::get(&c, all.len() as u64 + 10), Some([7; 32]));
        assert_eq!(HashCache::get(&c, all.len() as u64 + 9), None);
    }
}
