//! The streaming recomputation of the tree from the entry bundles (see the module documentation
//! of [`super`]): bundles are fetched in parallel, absorbed in log order, and every hash tile is
//! compared with the hashes recomputed from the entries as soon as it is complete.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::leaf::{Leaf, leaf_hash};
use crate::merkle::{Frontier, Hash};
use crate::tile::{MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH, TileLevel, decode_bundle, tile_for};

use super::fetch::{fetch_hash_tile, fetch_tile};
use super::{AuditConfig, AuditError, Fetch};

/// One entry bundle, fetched, hashed and checked against its level-0 tile.
struct Bundle {
    leaf_hashes: Vec<Hash>,
    leaf_bytes: u64,
    /// Log times of the first and last leaf (truce leaves only).
    times: Option<(i64, i64)>,
}

/// The streaming recomputation (see the module documentation).
pub(super) struct Recompute<'a> {
    fetch: &'a dyn Fetch,
    config: &'a AuditConfig,
    size: u64,
    old_size: Option<u64>,
    pub(super) frontier: Frontier,
    /// Per hash-tile level 1..=7: the recomputed hashes of its current (not yet checked) tile.
    pending: [Vec<Hash>; MAX_TILE_LEVEL as usize + 1],
    pub(super) old_root: Option<Hash>,
    last_time: Option<i64>,
    pub(super) bundles: u64,
    pub(super) hash_tiles: u64,
    pub(super) leaf_bytes: u64,
}

impl<'a> Recompute<'a> {
    pub(super) fn new(
        fetch: &'a dyn Fetch,
        config: &'a AuditConfig,
        size: u64,
        old_size: Option<u64>,
    ) -> Recompute<'a> {
        Recompute {
            fetch,
            config,
            size,
            old_size,
            frontier: Frontier::new(),
            pending: Default::default(),
            old_root: None,
            last_time: None,
            bundles: 0,
            hash_tiles: 0,
            leaf_bytes: 0,
        }
    }

    pub(super) fn run(
        mut self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Recompute<'a>, AuditError> {
        progress(0, self.size);
        let width = u64::from(TILE_WIDTH);
        let count = self.size.div_ceil(width);
        let threads = self.config.concurrency.max(1);
        // Bundles in flight at once: enough to keep every thread busy; each thread holds at
        // most one bundle's bytes at a time.
        let chunk = (threads * 4) as u64;
        let mut start = 0;
        while start < count {
            let end = count.min(start + chunk);
            let indexes: Vec<u64> = (start..end).collect();
            let fetched = parallel_map(&indexes, threads, |&b| self.bundle(b))?;
            for (&b, slot) in indexes.iter().zip(fetched) {
                // A slot is empty when a worker skipped it after another failed: it may still
                // come first in log order, so it is checked now.
                let bundle = match slot {
                    Some(r) => r?,
                    None => self.bundle(b)?,
                };
                self.absorb(b, bundle)?;
                progress(self.frontier.size(), self.size);
            }
            start = end;
        }
        self.finish()?;
        Ok(self)
    }

    /// Fetches bundle `b` and level-0 tile `b`, hashes the leaves and compares.
    fn bundle(&self, b: u64) -> Result<Bundle, AuditError> {
        let size = self.size;
        let (Some(tile), Some(tile0)) = (
            tile_for(TileLevel::Entries, b, size),
            tile_for(TileLevel::Hash(0), b, size),
        ) else {
            return Err(AuditError::Internal(format!(
                "bundle {b} is not in a tree of size {size}"
            )));
        };
        let f = fetch_tile(self.fetch, tile, size)?;
        let entries = decode_bundle(&f.bytes).map_err(|problem| AuditError::Bundle {
            path: f.path.clone(),
            problem,
        })?;
        if entries.len() != usize::from(f.as_tile.width()) {
            return Err(AuditError::BundleCount {
                path: f.path.clone(),
                got: entries.len(),
                expected: usize::from(f.as_tile.width()),
            });
        }
        let entries = &entries[..usize::from(tile.width())];
        let leaf_hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();

        let (tile_path, served) = fetch_hash_tile(self.fetch, tile0, size)?;
        let first = b * u64::from(TILE_WIDTH);
        if let Some((p, (s, r))) = served
            .iter()
            .zip(&leaf_hashes)
            .enumerate()
            .find(|(_, (s, r))| s != r)
        {
            let leaf = first + p as u64;
            return Err(AuditError::TileHash {
                path: tile_path,
                position: p,
                leaves: (leaf, leaf + 1),
                served: *s,
                recomputed: *r,
            });
        }

        let mut times = None;
        if self.config.truce_leaves {
            let mut prev: Option<i64> = None;
            for (i, e) in entries.iter().enumerate() {
                let index = first + i as u64;
                let leaf = Leaf::decode(e).map_err(|problem| AuditError::Leaf {
                    index,
                    path: f.path.clone(),
                    problem,
                })?;
                if let Some(p) = prev
                    && leaf.time_ms < p
                {
                    return Err(AuditError::LeafTime {
                        index,
                        time_ms: leaf.time_ms,
                        previous_ms: p,
                    });
                }
                prev = Some(leaf.time_ms);
                times = Some((times.map_or(leaf.time_ms, |(t, _)| t), leaf.time_ms));
            }
        }
        Ok(Bundle {
            leaf_bytes: entries.iter().map(|e| e.len() as u64).sum(),
            leaf_hashes,
            times,
        })
    }

    /// Adds a checked bundle's leaves to the tree, checking higher tiles as they complete.
    fn absorb(&mut self, b: u64, bundle: Bundle) -> Result<(), AuditError> {
        if let Some((first, last_here)) = bundle.times {
            if let Some(last) = self.last_time
                && first < last
            {
                return Err(AuditError::LeafTime {
                    index: b * u64::from(TILE_WIDTH),
                    time_ms: first,
                    previous_ms: last,
                });
            }
            self.last_time = Some(last_here);
        }
        self.bundles += 1;
        self.hash_tiles += 1; // its level-0 tile
        self.leaf_bytes += bundle.leaf_bytes;
        for h in bundle.leaf_hashes {
            let n = self.frontier.size();
            let nodes = self
                .frontier
                .push(h)
                .map_err(|_| AuditError::TreeTooLarge(n.saturating_add(1)))?;
            for level in 1..=MAX_TILE_LEVEL {
                let k = usize::from(level) * TILE_HEIGHT as usize;
                let Some(&(_, node)) = nodes.get(k) else {
                    break;
                };
                self.pending[usize::from(level)].push(node);
                if self.pending[usize::from(level)].len() == usize::from(TILE_WIDTH) {
                    let index = (n >> k) / u64::from(TILE_WIDTH);
                    self.check_tile(level, index)?;
                }
            }
            if Some(self.frontier.size()) == self.old_size {
                self.old_root = Some(self.frontier.root());
            }
        }
        Ok(())
    }

    /// Compares the pending hashes of `level` with the served tile `index` and clears them.
    fn check_tile(&mut self, level: u8, index: u64) -> Result<(), AuditError> {
        let pending = std::mem::take(&mut self.pending[usize::from(level)]);
        let tile = tile_for(TileLevel::Hash(level), index, self.size)
            .filter(|t| usize::from(t.width()) == pending.len())
            .ok_or_else(|| {
                AuditError::Internal(format!(
                    "tile {level}/{index} of width {} is not in a tree of size {}",
                    pending.len(),
                    self.size
                ))
            })?;
        let (path, served) = fetch_hash_tile(self.fetch, tile, self.size)?;
        self.hash_tiles += 1;
        if let Some((p, (s, r))) = served
            .iter()
            .zip(&pending)
            .enumerate()
            .find(|(_, (s, r))| s != r)
        {
            let per_hash = 1u64 << (TILE_HEIGHT * u32::from(level));
            let node = index * u64::from(TILE_WIDTH) + p as u64;
            return Err(AuditError::TileHash {
                path,
                position: p,
                leaves: (
                    node.saturating_mul(per_hash),
                    (node + 1).saturating_mul(per_hash),
                ),
                served: *s,
                recomputed: *r,
            });
        }
        Ok(())
    }

    /// Checks the partial tiles of the right edge.
    fn finish(&mut self) -> Result<(), AuditError> {
        for level in 1..=MAX_TILE_LEVEL {
            let pending = self.pending[usize::from(level)].len() as u64;
            if pending > 0 {
                let shift = TILE_HEIGHT * u32::from(level);
                let index = (self.size >> shift) / u64::from(TILE_WIDTH);
                self.check_tile(level, index)?;
            }
        }
        Ok(())
    }
}

/// `f` over `items` on up to `threads` threads, results in item order. Once an item fails,
/// workers stop taking new items: their slots stay empty (`None`).
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> Result<R, AuditError> + Sync,
) -> Result<Vec<Option<Result<R, AuditError>>>, AuditError> {
    if threads <= 1 || items.len() <= 1 {
        return Ok(items.iter().map(|item| Some(f(item))).collect());
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let joined = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads.min(items.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let r = f(item);
                        if r.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        done.push((i, r));
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join()).collect::<Vec<_>>()
    });
    let mut slots: Vec<Option<Result<R, AuditError>>> = (0..items.len()).map(|_| None).collect();
    for done in joined {
        let done = done.map_err(|_| AuditError::Internal("a fetch thread panicked".into()))?;
        for (i, r) in done {
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(r);
            }
        }
    }
    Ok(slots)
}
