//! Merkle tree benchmarks: appending leaves through the frontier (the sequencer's hot path), and
//! proving and checking on a 1M-leaf in-memory tree.
//!
//! `cargo bench -p truce-log --bench merkle -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use truce_log::leaf::leaf_hash;
use truce_log::merkle::{
    Frontier, Hash, check_record, check_tree, prove_record, prove_tree, tree_hash,
};
use truce_log::tile::{TileLevel, TileRef, read_tile_data};

const TREE_SIZE: u64 = 1 << 20;

fn leaf_hashes(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
}

/// A 1M-leaf tree: its stored hashes.
fn build(leaves: &[Hash]) -> Vec<Hash> {
    let mut f = Frontier::new();
    let mut store = Vec::with_capacity(2 * leaves.len());
    for h in leaves {
        store.extend(f.push(*h).unwrap().into_iter().map(|(_, h)| h));
    }
    store
}

/// Indexes spread over the tree (a fixed LCG: no dependence on a random source).
fn indexes(count: usize, below: u64) -> Vec<u64> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..count)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 11) % below
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let leaves = leaf_hashes(TREE_SIZE);
    let store = build(&leaves);
    let root = tree_hash(TREE_SIZE, &store).unwrap();

    let mut g = c.benchmark_group("frontier");
    const BATCH: u64 = 10_000;
    g.throughput(Throughput::Elements(BATCH));
    let batch = &leaves[..BATCH as usize];
    g.bench_function("push 10k leaves onto a 1M tree", |b| {
        let start = Frontier::from_hashes(TREE_SIZE, &store).unwrap();
        b.iter_batched(
            || start.clone(),
            |mut f| {
                for h in batch {
                    black_box(f.push(*h).unwrap());
                }
                f.root()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("tree 1M");
    g.throughput(Throughput::Elements(1));
    let picks = indexes(4096, TREE_SIZE);
    let mut i = 0;
    g.bench_function("tree_hash", |b| {
        b.iter(|| tree_hash(black_box(TREE_SIZE - 1), &store).unwrap())
    });
    g.bench_function("prove_record", |b| {
        b.iter(|| {
            i = (i + 1) % picks.len();
            prove_record(TREE_SIZE, black_box(picks[i]), &store).unwrap()
        })
    });
    g.bench_function("prove_tree", |b| {
        b.iter(|| {
            i = (i + 1) % picks.len();
            prove_tree(TREE_SIZE, black_box(picks[i].max(1)), &store).unwrap()
        })
    });

    let record_proofs: Vec<(u64, Vec<Hash>)> = picks
        .iter()
        .take(256)
        .map(|&n| (n, prove_record(TREE_SIZE, n, &store).unwrap()))
        .collect();
    g.bench_function("check_record", |b| {
        b.iter(|| {
            i = (i + 1) % record_proofs.len();
            let (n, proof) = &record_proofs[i];
            check_record(proof, TREE_SIZE, &root, *n, &leaves[*n as usize]).unwrap()
        })
    });

    // Old roots for consistency checks, from the same stored hashes.
    let tree_proofs: Vec<(u64, Hash, Vec<Hash>)> = picks
        .iter()
        .take(256)
        .map(|&n| {
            let n = n.max(1);
            let old_root = tree_hash(n, &store).unwrap();
            (n, old_root, prove_tree(TREE_SIZE, n, &store).unwrap())
        })
        .collect();
    g.bench_function("check_tree", |b| {
        b.iter(|| {
            i = (i + 1) % tree_proofs.len();
            let (n, old_root, proof) = &tree_proofs[i];
            check_tree(proof, TREE_SIZE, &root, *n, old_root).unwrap()
        })
    });

    let tile = TileRef::full(TileLevel::Hash(0), 1234).unwrap();
    g.bench_function("read_tile_data (full level-0 tile)", |b| {
        b.iter(|| read_tile_data(black_box(&tile), &store).unwrap())
    });
    g.finish();
}

criterion_group!(merkle, benches);
criterion_main!(merkle);
