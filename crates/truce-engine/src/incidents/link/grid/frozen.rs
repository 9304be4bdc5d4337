//! Days of the grid in the cold tier ([`crate::cold`]).
//!
//! Why: the grid holds an entry for every observation of the fast tier (36 bytes, about 76 with
//! its share of the cell), and almost every query asks about the last day or two: a report links
//! to reports of the same hours. Cells are keyed by day (their bucket), so whole days can leave
//! memory once they are old.
//!
//! How: when an insertion opens a newer bucket than any before, every resident bucket more than
//! [`crate::cold::Tiering::hot_days`] behind it is written to the cold store — its cells, keys
//! and entries as they are — and dropped from the table and the occupied lists. What stays is
//! the bucket's blob reference (48 bytes a day). Before a query, the buckets its time range
//! reaches are *thawed*: read back (checked against their hash), decoded and put back as they
//! were. An insertion into a bucket thaws it first, so a bucket is always either resident or
//! cold, never both. A thawed bucket stays resident until the newest bucket advances again.
//!
//! Why no link is lost: a query reads exactly the buckets of its time range (see the grid's
//! docs), and all of them are resident when it runs; the level maxima that bound the query's
//! reach are never lowered by eviction (they stay upper bounds). Which buckets are resident
//! changes the cost of a query, never its answer.
//!
//! Cost: a late report (one whose window is older than the hot days) pays for reading its days
//! back, about a day's entries each; a log whose reports arrive in no order of time (the ingest
//! benchmark's default) keeps every day it touched resident, and saves nothing.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::super::table::CellKey;
use super::{BUCKET_MS, Entry, Grid, Probe};
use crate::cold::{Cold, ColdFailure};

/// Bytes of one entry in a cold bucket.
const ENTRY_BYTES: usize = 36;

impl Grid {
    /// Sends the grid's old days to `cold` from now on.
    pub(in crate::incidents) fn attach_cold(&mut self, cold: Arc<Cold>) {
        self.cold = Some(cold);
        if let Some(newest) = self.newest {
            self.evict_before(newest);
        }
    }

    /// Makes resident every bucket a query or insertion of `probe` can read: from its start
    /// less the longest span any level holds to its end plus its gap.
    pub(in crate::incidents) fn thaw_for(&mut self, probe: &Probe) {
        if self.frozen.is_empty() {
            return;
        }
        let span = self.levels.iter().map(|l| l.max_span_ms).max().unwrap_or(0);
        let lo = probe
            .from_ms
            .saturating_sub(span.max(0))
            .div_euclid(BUCKET_MS);
        let hi = probe
            .to_ms
            .saturating_add(probe.gap_ms.max(0))
            .max(probe.from_ms)
            .div_euclid(BUCKET_MS);
        if lo > hi {
            return;
        }
        let buckets: Vec<i64> = self.frozen.range(lo..=hi).map(|(&b, _)| b).collect();
        for bucket in buckets {
            let blob = self.frozen.remove(&bucket).expect("listed just now");
            let cold = self.cold.clone().expect("frozen buckets have a cold tier");
            let bytes = cold.get(&blob).unwrap_or_else(|e| cold.fail(e));
            if self.load(bucket, &bytes).is_none() {
                cold.fail(ColdFailure::Undecodable("grid bucket"));
            }
        }
    }

    /// After an insertion into `bucket`: if it is the newest yet, evicts the buckets that fell
    /// out of the hot days.
    pub(in crate::incidents) fn settle(&mut self, bucket: i64) {
        if self.newest.is_some_and(|n| n >= bucket) {
            return;
        }
        self.newest = Some(bucket);
        if self.cold.is_some() {
            self.evict_before(bucket);
        }
    }

    /// Writes every resident bucket older than `newest` less the hot days to the cold tier and
    /// drops it from memory. A bucket the store fails to take stays resident (memory, not truth,
    /// suffers) and is tried again when the newest bucket next advances.
    fn evict_before(&mut self, newest: i64) {
        let Some(cold) = self.cold.clone() else {
            return;
        };
        let threshold = newest.saturating_sub(cold.tiering.hot_days as i64);
        let old: BTreeSet<i64> = self
            .levels
            .iter()
            .flat_map(|l| l.buckets.range(..threshold).map(|(&b, _)| b))
            .collect();
        if old.is_empty() {
            return;
        }
        self.flush();
        let mut evicted = BTreeSet::new();
        let mut bytes = Vec::new();
        for &bucket in &old {
            bytes.clear();
            self.encode(bucket, &mut bytes);
            if let Ok(blob) = cold.put(&bytes) {
                self.frozen.insert(bucket, blob);
                evicted.insert(bucket);
            }
        }
        self.cells.retain(|k| !evicted.contains(&k.bucket));
        for level in &mut self.levels {
            level.buckets.retain(|b, _| !evicted.contains(b));
        }
    }

    /// Appends the cells of `bucket` to `out`: per cell its spatial key (u64), its entry count
    /// (u32) and its entries, little-endian.
    fn encode(&self, bucket: i64, out: &mut Vec<u8>) {
        for level in &self.levels {
            for &spatial in level.buckets.get(&bucket).into_iter().flatten() {
                let entries = self
                    .cells
                    .get(CellKey { spatial, bucket })
                    .expect("occupied cells are in the table");
                out.extend_from_slice(&spatial.to_le_bytes());
                out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
                for e in entries {
                    for f in [e.unit[0], e.unit[1], e.unit[2], e.kr, e.radius] {
                        out.extend_from_slice(&f.to_le_bytes());
                    }
                    for v in [e.from_off, e.len, e.position, e.params] {
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
        }
    }

    /// Puts back the cells `encode` wrote for `bucket`; `None` if the bytes are not such cells.
    fn load(&mut self, bucket: i64, mut bytes: &[u8]) -> Option<()> {
        while !bytes.is_empty() {
            let spatial = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
            let n = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize;
            let body = bytes.get(12..12 + n.checked_mul(ENTRY_BYTES)?)?;
            bytes = &bytes[12 + body.len()..];
            let level = usize::try_from(spatial >> 60).ok()?;
            let key = CellKey { spatial, bucket };
            let (entries, new) = self.cells.get_or_default(key);
            if !new || level >= self.levels.len() {
                return None;
            }
            entries.reserve_exact(n);
            for raw in body.chunks_exact(ENTRY_BYTES) {
                let word = |i: usize| <[u8; 4]>::try_from(&raw[4 * i..4 * i + 4]).expect("4");
                let float = |i: usize| f32::from_le_bytes(word(i));
                let int = |i: usize| u32::from_le_bytes(word(i));
                entries.push(Entry {
                    unit: [float(0), float(1), float(2)],
                    kr: float(3),
                    radius: float(4),
                    from_off: int(5),
                    len: int(6),
                    position: int(7),
                    params: int(8),
                });
            }
            self.levels[level]
                .buckets
                .entry(bucket)
                .or_default()
                .push(spatial);
        }
        Some(())
    }

    /// Buckets in the cold tier.
    pub(in crate::incidents) fn frozen_buckets(&self) -> usize {
        self.frozen.len()
    }
}
