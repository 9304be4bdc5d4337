//! Durable appends in isolation: batches of `key`-sized or observation-sized leaves through the
//! `Store` trait, with the real pragmas (WAL, `synchronous=FULL`). Prints entries/s and the time
//! per batch, to compare with the sequencer's `store_us` under HTTP load (bench/RESULTS.md).
//!
//! `cargo bench -p truce-store-sqlite --bench append -- [BATCH] [BATCHES] [LEAF_BYTES]`

use std::time::Instant;

use truce_store::{NewEntry, Store, TreeUpdate};
use truce_store_sqlite::SqliteStore;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .filter(|a| !a.starts_with('-'))
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let (batch, batches, leaf_bytes) = (arg(1, 70), arg(2, 1000), arg(3, 1200));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("bench.sqlite"))
        .await
        .expect("open");
    let mut hashes = 0u64;
    let mut size = 0u64;
    let start = Instant::now();
    let mut slowest = std::time::Duration::ZERO;
    for b in 0..batches {
        let entries: Vec<NewEntry> = (0..batch)
            .map(|i| {
                let n = size + i as u64;
                let mut leaf = vec![b'x'; leaf_bytes];
                leaf[..8].copy_from_slice(&n.to_le_bytes());
                NewEntry {
                    entry_id: format!("bench-{b}-obs-{i}"),
                    kind: "observation".into(),
                    signer: "monitor-3+0123abcd".into(),
                    time_ms: 1_800_000_000_000 + n as i64,
                    leaf,
                    leaf_hash: [(n % 251) as u8; 32],
                }
            })
            .collect();
        // About two stored hashes per entry, as the Merkle tree has.
        let new_hashes = 2 * batch as u64;
        let tree = TreeUpdate {
            hashes_from: hashes,
            hashes: vec![[7; 32]; new_hashes as usize],
            checkpoint: vec![b'c'; 300],
        };
        let t = Instant::now();
        store.append(size, &entries, &tree).await.expect("append");
        slowest = slowest.max(t.elapsed());
        size += batch as u64;
        hashes += new_hashes;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} entries in {batches} batches of {batch} ({leaf_bytes}-byte leaves): {:.0} entries/s, {:.2} ms per batch, {:.1} µs per entry, slowest batch {:.1} ms",
        size,
        size as f64 / secs,
        secs * 1e3 / batches as f64,
        secs * 1e6 / size as f64,
        slowest.as_secs_f64() * 1e3
    );
}
