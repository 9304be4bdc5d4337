//! `truce_engine::Snapshot::decode` and `Snapshot::read` (the stream start-up restores from)
//! and their effects on outside bytes (a snapshot file in a data directory that may have been
//! edited; start-up checks its signature first, but the decoder must not trust even signed
//! bytes).
//!
//! Input: snapshot bytes.
//!
//! Invariants:
//! - decoding and walking the effects never panics, and allocates no more than the input holds;
//! - the effects come in strictly increasing log index below the snapshot's size, with
//!   non-decreasing log times, at most `len()` of them; a decoding error ends them;
//! - an observation's incident root is at most its own position (observations before it);
//! - the index section alone (`indexes()`) yields strictly increasing indexes below the size, at
//!   most `len()` of them, and the effects' indexes are a prefix of them;
//! - read from a stream, the bytes give exactly what they give decoded from memory: the same
//!   header or the same error, the same effects and the same error that ends them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use truce_engine::{Saved, Snapshot};

fuzz_target!(|data: &[u8]| {
    let decoded = Snapshot::decode(data.to_vec());
    let streamed = Snapshot::read(std::io::Cursor::new(data.to_vec()));
    match (&decoded, &streamed) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                (a.size, a.last_time_ms, a.root),
                (b.size, b.last_time_ms, b.root)
            );
            // Compared as printed: a saved coordinate may be NaN, which equals nothing.
            let shown = |s: &Snapshot| s.effects().map(|e| format!("{e:?}")).collect::<Vec<_>>();
            assert_eq!(shown(a), shown(b), "same effects, same ending");
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("decode {decoded:?} vs read {streamed:?}"),
    }
    let Ok(snapshot) = decoded else {
        return;
    };
    let mut last: Option<(u64, i64)> = None;
    let mut seen = 0u64;
    let mut position = 0u32;
    for effect in snapshot.effects() {
        let Ok(saved) = effect else { break };
        seen += 1;
        assert!(saved.index() < snapshot.size);
        if let Some((index, time)) = last {
            assert!(saved.index() > index);
            assert!(saved.time_ms() >= time);
        }
        last = Some((saved.index(), saved.time_ms()));
        let _ = (saved.id(), saved.kind());
        if let Saved::Observation { root, .. } = saved {
            assert!(root <= position);
            position += 1;
        }
    }
    assert!(seen <= snapshot.len());
    let mut indexes = Vec::new();
    for index in snapshot.indexes() {
        let Ok(index) = index else { break };
        assert!(index < snapshot.size);
        assert!(indexes.last().is_none_or(|&l| index > l));
        indexes.push(index);
    }
    assert!(indexes.len() as u64 <= snapshot.len());
    let effects: Vec<u64> = snapshot
        .effects()
        .map_while(Result::ok)
        .map(|s| s.index())
        .collect();
    assert!(indexes.starts_with(&effects));
});
