//! Checkpoint signing and verification, and tlog-proof receipts: the per-batch and per-entry
//! costs the sequencer and its clients pay (`cargo bench -p truce-log --bench checkpoint`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use truce_log::checkpoint::{Checkpoint, open_checkpoint, sign_checkpoint};
use truce_log::note::Note;
use truce_log::proof::TlogProof;
use truce_model::keys::PrivateKey;

fn benches(c: &mut Criterion) {
    let key = PrivateKey::from_seed("bench.truce.localhost/log", [9; 32]).unwrap();
    let vkey = key.verifier();
    let cp = Checkpoint::new("bench.truce.localhost/log", 1_000_000, [0x5a; 32]);
    let note = sign_checkpoint(&cp, &key).unwrap();
    let mut g = c.benchmark_group("checkpoint");
    g.bench_function("sign", |b| {
        b.iter(|| sign_checkpoint(black_box(&cp), &key).unwrap())
    });
    g.bench_function("open (parse + verify_strict)", |b| {
        b.iter(|| open_checkpoint(black_box(&note), "bench.truce.localhost/log", &vkey).unwrap())
    });
    let proof = vec![[7u8; 32]; 20];
    g.bench_function("tlog-proof text for a 1M tree", |b| {
        b.iter(|| {
            let n = Note::parse(black_box(&note)).unwrap();
            TlogProof::new(123_456, proof.clone(), n, None)
                .unwrap()
                .to_text()
        })
    });
    g.finish();
}

criterion_group!(checkpoint, benches);
criterion_main!(checkpoint);
