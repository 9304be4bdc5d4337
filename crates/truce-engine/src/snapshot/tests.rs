//! Snapshots: restoring through saved effects reaches the replayed state; the codec refuses
//! what it did not write.

use std::collections::BTreeMap;

use truce_model::agreement::MapResolver;
use truce_model::dsse::Envelope;

use super::*;
use crate::incident_tests::{Rng, workload};
use crate::observation_tests::{World, key};

/// A live log after `World::in_force()`: observations from three keys, decisions, disputes,
/// ticks and a key accredited midway (whose observations follow). Returns the world and the
/// entries logged after the setup, with their log times.
fn live(seed: u64, n: usize) -> (World, Vec<(Envelope, i64)>) {
    let mut w = World::in_force();
    let mut logged = Vec::new();
    let late = key("late-monitor", 40);
    let mut keys = vec![w.monitor.clone(), w.sensor.clone(), w.ua.clone()];
    let mut rng = Rng(seed | 1);
    let submit = |w: &mut World,
                  logged: &mut Vec<(Envelope, i64)>,
                  k: &truce_model::keys::PrivateKey,
                  kind: &str,
                  p: serde_json::Value| {
        let env = Envelope::sign(kind, p.to_string().as_bytes(), &[k]);
        logged.push((env, w.next_time()));
        w.submit(k, kind, p).unwrap();
    };
    for (i, (by, payload)) in workload(seed, n).into_iter().enumerate() {
        if i == n / 2 {
            let op = w.operator.clone();
            let p = serde_json::json!({"id": "key-late", "vkey": late.verifier().to_string(),
                "roles": ["monitor"], "affiliation": "UN"});
            submit(&mut w, &mut logged, &op, "key", p);
            keys.push(late.clone());
        }
        let by = if i > n / 2 && rng.below(3) == 0 {
            3
        } else {
            by
        };
        submit(
            &mut w,
            &mut logged,
            &keys[by].clone(),
            "observation",
            payload,
        );
        let target = w.state.incidents().last().unwrap().id.to_string();
        match rng.below(6) {
            0 => {
                let v = w.verifier.clone();
                let p = if rng.below(2) == 0 {
                    serde_json::json!({"id": format!("d-{i}"), "incident": target,
                        "status": "verified", "reason": "seen",
                        "attribution": {"party": "RU", "confidence": "confirmed"}})
                } else {
                    serde_json::json!({"id": format!("d-{i}"), "incident": target,
                        "status": "rejected", "reason": "not seen"})
                };
                submit(&mut w, &mut logged, &v, "decision", p);
            }
            1 => {
                let ru = w.ru.clone();
                let p = serde_json::json!({"id": format!("x-{i}"), "incident": target,
                    "reason": "not us"});
                submit(&mut w, &mut logged, &ru, "dispute", p);
            }
            2 => {
                let op = w.operator.clone();
                let env = crate::testing::tick(&op, w.next_time());
                logged.push((env.clone(), w.next_time()));
                let (index, time) = (w.state.size(), w.next_time());
                let admitted = w
                    .state
                    .admit(&env, time, &MapResolver(BTreeMap::new()))
                    .unwrap();
                w.state.apply(admitted, index, time);
            }
            _ => {}
        }
    }
    (w, logged)
}

/// Restores from `snapshot`: the setup as `World::in_force()` logs it, then each logged entry
/// either from the snapshot (if it covers the entry) or admitted from its envelope.
fn restore(snapshot: &Snapshot, logged: &[(Envelope, i64)]) -> State {
    let mut r = World::in_force();
    let mut saved = snapshot.effects().peekable();
    for (env, time) in logged {
        let index = r.state.size();
        if let Some(s) = saved.next_if(|s| s.as_ref().is_ok_and(|s| s.index() == index)) {
            let s = s.unwrap();
            assert_eq!(s.time_ms(), *time);
            r.state.restore(s).unwrap();
            continue;
        }
        apply_logged(&mut r.state, env, *time);
    }
    assert!(saved.next().is_none(), "every saved effect was used");
    r.state.finish_restore();
    r.state
}

/// Admits and applies a logged entry as replay does.
fn apply_logged(state: &mut State, env: &Envelope, time: i64) {
    let index = state.size();
    let admitted = state
        .admit(env, time, &MapResolver(BTreeMap::new()))
        .unwrap();
    state.apply(admitted, index, time);
}

/// The ids of the observations in a small box around the workload's sites (up to 100).
fn ids_in_a_box(state: &State) -> Vec<String> {
    let mut q = crate::ObservationQuery::new(100);
    q.bbox = Some(crate::BBox {
        min_lon: 37.99,
        min_lat: 47.99,
        max_lon: 38.03,
        max_lat: 48.03,
    });
    state
        .query_observations(&q)
        .items
        .iter()
        .map(|r| r.id.to_string())
        .collect()
}

#[test]
fn restoring_through_a_snapshot_reaches_the_replayed_state() {
    for seed in [3u64, 11] {
        let (w, logged) = live(seed, 50);
        let bytes = Snapshot::encode(&w.state, [7; 32]);
        let snapshot = Snapshot::decode(bytes).unwrap();
        assert_eq!(snapshot.size, w.state.size());
        assert_eq!(snapshot.last_time_ms, w.state.last_time_ms());
        assert_eq!(snapshot.root, [7; 32]);
        let restored = restore(&snapshot, &logged);
        assert_eq!(restored.digest(), w.state.digest(), "seed {seed}");
        assert_eq!(restored.incident_count(), w.state.incident_count());
        assert_eq!(restored.incident_count(), restored.incidents().count());
        // The indexes answer as the live ones do.
        assert_eq!(ids_in_a_box(&restored), ids_in_a_box(&w.state));
        assert!(!ids_in_a_box(&w.state).is_empty());
        // Some of each kind was saved, and entries of other kinds were not.
        let kinds: Vec<Kind> = snapshot.effects().map(|s| s.unwrap().kind()).collect();
        for k in [Kind::Observation, Kind::Decision, Kind::Dispute] {
            assert!(kinds.contains(&k), "seed {seed}: {k:?}");
        }
        assert!(snapshot.len() < w.state.size());
        assert!(
            w.state
                .incidents
                .range(0, &w.state.observations)
                .any(|(_, i)| !i.absorbed.is_empty()),
            "seed {seed}: some incident absorbed another (a late report bridged two)"
        );
    }
}

/// A state rebuilt from the log (`State::rebuilding`: query boxes loaded once at the end) has the
/// live state's digest and answers queries as it does.
#[test]
fn a_state_rebuilt_from_the_log_answers_as_the_live_one() {
    let (w, logged) = live(5, 60);
    let mut state = World::in_force().state;
    for (env, time) in &logged {
        apply_logged(&mut state, env, *time);
    }
    state.finish_restore();
    assert_eq!(state.digest(), w.state.digest());
    assert!(!ids_in_a_box(&w.state).is_empty());
    assert_eq!(ids_in_a_box(&state), ids_in_a_box(&w.state));
}

#[test]
fn an_effect_that_does_not_fit_the_state_is_refused() {
    let (w, _) = live(3, 20);
    let snapshot = Snapshot::decode(Snapshot::encode(&w.state, [0; 32])).unwrap();
    let first = snapshot.effects().next().unwrap().unwrap();
    let Saved::Observation { record, .. } = first.clone() else {
        panic!("the first effect is an observation");
    };
    let fresh = || World::in_force().state;
    // Not the next entry.
    let mut s = fresh();
    let mut late = record.clone();
    late.index += 1;
    let bad = Saved::Observation {
        record: late,
        root: 0,
        started: true,
    };
    assert_eq!(s.restore(bad), Err(SnapshotError::Invalid("index")));
    // A root that is not one: a later position, or the first observation not starting one.
    for (root, started) in [(3, true), (0, false)] {
        let mut s = fresh();
        let mut r = record.clone();
        r.index = s.size();
        let bad = Saved::Observation {
            record: r,
            root,
            started,
        };
        assert_eq!(
            s.restore(bad),
            Err(SnapshotError::Invalid("incident root")),
            "root {root}, started {started}"
        );
    }
    // A root of another family: members share their incident's agreement and family.
    let mut s = fresh();
    let mut r = record.clone();
    r.index = s.size();
    s.restore(Saved::Observation {
        record: r,
        root: 0,
        started: true,
    })
    .unwrap();
    let mut other = record.clone();
    other.index = s.size();
    other.event_type = match record.event_type.family() {
        truce_model::taxonomy::Family::Harm => truce_model::taxonomy::EventType::Explosion,
        _ => truce_model::taxonomy::EventType::Damage,
    };
    other.family = other.event_type.family();
    let bad = Saved::Observation {
        record: other,
        root: 0,
        started: false,
    };
    assert_eq!(s.restore(bad), Err(SnapshotError::Invalid("incident root")));
}

#[test]
fn a_snapshot_of_part_of_the_log_is_completed_by_admitting_the_rest() {
    let (w, logged) = live(5, 40);
    // The snapshot of an earlier state: its effects stop where the state stopped.
    let mut early = World::in_force();
    let cut = logged.len() / 2;
    for (env, time) in &logged[..cut] {
        let index = early.state.size();
        let a = early
            .state
            .admit(env, *time, &MapResolver(BTreeMap::new()))
            .unwrap();
        early.state.apply(a, index, *time);
    }
    let snapshot = Snapshot::decode(Snapshot::encode(&early.state, [0; 32])).unwrap();
    assert_eq!(snapshot.size, early.state.size());
    assert_eq!(restore(&snapshot, &logged).digest(), w.state.digest());
}

#[test]
fn the_codec_round_trips_every_field_and_refuses_damage() {
    let (w, _) = live(9, 30);
    let bytes = Snapshot::encode(&w.state, [1; 32]);
    let snapshot = Snapshot::decode(bytes.clone()).unwrap();
    let observations: Vec<ObservationRecord> = snapshot
        .effects()
        .filter_map(|s| match s.unwrap() {
            Saved::Observation { record, .. } => Some(record),
            _ => None,
        })
        .collect();
    let held: Vec<ObservationRecord> = w.state.observations.views().collect();
    assert_eq!(observations, held);
    let indexes: Vec<u64> = snapshot.indexes().map(Result::unwrap).collect();
    let effect_indexes: Vec<u64> = snapshot.effects().map(|s| s.unwrap().index()).collect();
    assert_eq!(
        indexes, effect_indexes,
        "one index per effect, the effect's"
    );
    assert_eq!(indexes.len() as u64, snapshot.len());
    assert_eq!(snapshot.observations(), held.len() as u64);

    // Every truncation is refused, by the header or by the effect it cuts.
    for cut in 0..bytes.len() {
        let refused = match Snapshot::decode(bytes[..cut].to_vec()) {
            Err(_) => true,
            Ok(s) => s.effects().any(|e| e.is_err()),
        };
        assert!(refused, "a snapshot cut at {cut} of {} bytes", bytes.len());
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    let s = Snapshot::decode(trailing).unwrap();
    assert_eq!(
        s.effects().last().unwrap().unwrap_err(),
        SnapshotError::Trailing
    );
    let mut stale = bytes.clone();
    stale[MAGIC.len()] = DERIVATION as u8 + 1;
    assert_eq!(
        Snapshot::decode(stale).unwrap_err(),
        SnapshotError::Stale(DERIVATION + 1)
    );
    // A header whose observation count is not the effects' is refused at the end.
    let varint = |mut v: u64| {
        let mut n = 1;
        while v >= 0x80 {
            v >>= 7;
            n += 1;
        }
        n
    };
    let zigzag = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
    let at = MAGIC.len()
        + varint(u64::from(DERIVATION))
        + varint(snapshot.size)
        + varint(zigzag(snapshot.last_time_ms))
        + 32
        + varint(snapshot.len());
    assert!(snapshot.observations() < 0x80, "one byte");
    let mut miscounted = bytes.clone();
    assert_eq!(u64::from(miscounted[at]), snapshot.observations());
    miscounted[at] -= 1;
    let s = Snapshot::decode(miscounted).unwrap();
    assert_eq!(
        s.effects().last().unwrap().unwrap_err(),
        SnapshotError::Invalid("observations")
    );
    let mut magic = bytes;
    magic[0] = b'T';
    assert_eq!(Snapshot::decode(magic).unwrap_err(), SnapshotError::Magic);
}

/// The encoding of a fixed state is fixed: a change of format shows here (bump the magic line and
/// keep old snapshots from being misread), and the file is the seed of the `snapshot` fuzz
/// target. `TRUCE_WRITE_GOLDEN=1` rewrites it after a deliberate change.
#[test]
fn the_format_is_stable() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus/snapshot/live.snapshot");
    let (w, _) = live(13, 24);
    let bytes = Snapshot::encode(&w.state, [0xab; 32]);
    if std::env::var_os("TRUCE_WRITE_GOLDEN").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    let golden = std::fs::read(&path).unwrap();
    assert!(
        golden == bytes,
        "the snapshot format changed ({} bytes, golden {}); see the test's docs",
        bytes.len(),
        golden.len()
    );
    let decoded = Snapshot::decode(golden).unwrap();
    assert!(decoded.effects().all(|e| e.is_ok()));
}

/// Hands out at most `step` bytes per read, so that windows refill at every boundary.
struct Trickle {
    bytes: Vec<u8>,
    at: usize,
    step: usize,
    /// Fails instead of ending.
    fail_at_end: bool,
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.bytes.len() - self.at);
        if n == 0 && self.fail_at_end && !buf.is_empty() {
            return Err(std::io::Error::other("checksum mismatch"));
        }
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn trickle(bytes: &[u8], step: usize) -> Trickle {
    Trickle {
        bytes: bytes.to_vec(),
        at: 0,
        step,
        fail_at_end: false,
    }
}

/// Read from a stream a window at a time (700 bytes under test, refilled below 300), a snapshot
/// yields the same header, indexes and effects as decoded from memory, whatever the reads'
/// sizes; its effects can be taken once.
#[test]
fn a_streamed_snapshot_equals_the_one_in_memory() {
    let (w, _) = live(21, 120);
    let bytes = Snapshot::encode(&w.state, [7; 32]);
    assert!(bytes.len() > 3_000, "long enough to cross many windows");
    let memory = Snapshot::decode(bytes.clone()).unwrap();
    let expected: Vec<Saved> = memory.effects().map(Result::unwrap).collect();
    for step in [1, 7, 300, 4_096, bytes.len()] {
        let streamed = Snapshot::read(trickle(&bytes, step)).unwrap();
        assert_eq!(
            (streamed.size, streamed.last_time_ms, streamed.root),
            (memory.size, memory.last_time_ms, memory.root)
        );
        assert!(streamed.indexes().eq(memory.indexes()), "step {step}");
        let effects: Vec<Saved> = streamed.effects().map(Result::unwrap).collect();
        assert_eq!(effects, expected, "step {step}");
        let again = streamed.effects().next().unwrap().unwrap_err();
        assert!(matches!(again, SnapshotError::Read(_)), "{again}");
    }
}

/// A stream that is cut, that goes on after the last effect, or whose reader fails at its end
/// (a checksum that does not match) ends the effects in an error.
#[test]
fn a_streamed_snapshot_refuses_damage_and_reports_read_errors() {
    let (w, _) = live(22, 30);
    let bytes = Snapshot::encode(&w.state, [7; 32]);
    let errors = |s: Trickle| match Snapshot::read(s) {
        Err(e) => Some(e),
        Ok(s) => s.effects().find_map(Result::err),
    };
    for cut in [10, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(errors(trickle(&bytes[..cut], 13)).is_some(), "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(errors(trickle(&longer, 13)), Some(SnapshotError::Trailing));
    let mut failing = trickle(&bytes, 13);
    failing.fail_at_end = true;
    assert_eq!(
        errors(failing),
        Some(SnapshotError::Read("checksum mismatch".into()))
    );
    assert_eq!(errors(trickle(&bytes, 13)), None);
}
