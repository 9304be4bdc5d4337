//! The auditor against an in-memory tile server: every shape of tree, every kind of fault.

use std::collections::HashMap;
use std::sync::Mutex;

use truce_model::dsse::Envelope;
use truce_model::keys::PrivateKey;

use super::error::thousands;
use super::*;
use crate::checkpoint::sign_checkpoint;
use crate::cosignature::CosignerKey;
use crate::leaf::{Leaf, leaf_hash};
use crate::merkle::Frontier;
use crate::tile::{
    TileLevel, TileRef, decode_bundle, encode_bundle, read_tile_data, tile_for, tiles_for_size,
};

const ORIGIN: &str = "truce.test/audit";

fn log_key() -> PrivateKey {
    PrivateKey::from_seed(ORIGIN, [1; 32]).unwrap()
}

fn witness() -> CosignerKey {
    CosignerKey::from_seed("witness.test/w1", [2; 32]).unwrap()
}

/// A log: its leaves and stored hashes, appended with a [`Frontier`] as the server does.
#[derive(Clone)]
struct Log {
    leaves: Vec<Vec<u8>>,
    hashes: Vec<Hash>,
    frontier: Frontier,
}

impl Log {
    fn new() -> Log {
        Log {
            leaves: Vec::new(),
            hashes: Vec::new(),
            frontier: Frontier::new(),
        }
    }

    fn push(&mut self, leaf: Vec<u8>) {
        let stored = self.frontier.push(leaf_hash(&leaf)).unwrap();
        self.hashes.extend(stored.into_iter().map(|(_, h)| h));
        self.leaves.push(leaf);
    }

    /// `n` truce leaves (tick entries signed by `tag`'s key), log times increasing.
    fn truce(mut self, n: usize, tag: &str) -> Log {
        let op = PrivateKey::from_seed("truce.test/operator", [3; 32]).unwrap();
        for _ in 0..n {
            let i = self.leaves.len();
            let payload = format!(r#"{{"id":"{tag}-{i}","time":"x"}}"#);
            let env = Envelope::sign("tick", payload.as_bytes(), &[&op]);
            let leaf = Leaf {
                time_ms: 1_765_000_000_000 + i as i64,
                envelope: env,
            };
            self.push(leaf.encode());
        }
        self
    }

    /// `n` arbitrary (non-truce) leaves.
    fn generic(mut self, n: usize, tag: &str) -> Log {
        for _ in 0..n {
            let i = self.leaves.len();
            self.push(format!("{tag} leaf {i}").into_bytes());
        }
        self
    }

    fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The log's signed checkpoint at its current size, cosigned by `witnesses`.
    fn checkpoint(&self, witnesses: &[&CosignerKey]) -> Vec<u8> {
        let cp = Checkpoint::new(ORIGIN, self.size(), self.root());
        let signed = sign_checkpoint(&cp, &log_key()).unwrap();
        let mut note = Note::parse(&signed).unwrap();
        for w in witnesses {
            note.push_signature(w.cosign(note.text(), 1_765_000_000).unwrap())
                .unwrap();
        }
        note.to_bytes()
    }

    /// Serves the log at its current size with its own checkpoint.
    fn serve(&self) -> Served {
        Served::new(self.clone(), self.checkpoint(&[]))
    }

    /// The state an audit at the current size leaves behind.
    fn state(&self) -> AuditState {
        AuditState {
            origin: ORIGIN.into(),
            vkey: log_key().verifier().to_string(),
            size: self.size(),
            root: b64(&self.root()),
            checkpoint: String::from_utf8(self.checkpoint(&[])).unwrap(),
        }
    }
}

/// A tile server over a [`Log`], serving `checkpoint`, with per-path overrides
/// (`None` = 404) and a record of what was fetched.
struct Served {
    log: Log,
    checkpoint: Vec<u8>,
    overrides: HashMap<String, Option<Vec<u8>>>,
    fetched: Mutex<Vec<String>>,
}

impl Served {
    fn new(log: Log, checkpoint: Vec<u8>) -> Served {
        Served {
            log,
            checkpoint,
            overrides: HashMap::new(),
            fetched: Mutex::new(Vec::new()),
        }
    }

    fn set(mut self, path: &str, body: Option<Vec<u8>>) -> Served {
        self.overrides.insert(path.to_string(), body);
        self
    }

    /// What the log serves at `path`, overrides aside.
    fn real(&self, path: &str) -> Option<Vec<u8>> {
        if path == CHECKPOINT_PATH {
            return Some(self.checkpoint.clone());
        }
        let t = TileRef::parse(path).ok()?;
        let now = tile_for(t.level(), t.index(), self.log.size())?;
        if t.width() > now.width() {
            return None;
        }
        match t.level() {
            TileLevel::Entries => {
                let (start, end) = t.leaf_range();
                encode_bundle(&self.log.leaves[start as usize..end as usize]).ok()
            }
            TileLevel::Hash(_) => read_tile_data(&t, &self.log.hashes).ok(),
        }
    }
}

impl Fetch for Served {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        self.fetched.lock().unwrap().push(path.to_string());
        match self.overrides.get(path) {
            Some(o) => Ok(o.clone()),
            None => Ok(self.real(path)),
        }
    }
}

fn config() -> AuditConfig {
    AuditConfig::new(log_key().verifier())
}

fn generic() -> AuditConfig {
    AuditConfig {
        truce_leaves: false,
        ..config()
    }
}

fn run(
    fetch: &dyn Fetch,
    config: &AuditConfig,
    previous: Option<&AuditState>,
) -> Result<AuditReport, AuditError> {
    audit(fetch, config, previous, &mut |_, _| {})
}

fn replace_entry(bundle: &[u8], i: usize, new: &[u8]) -> Vec<u8> {
    let mut entries: Vec<Vec<u8>> = decode_bundle(bundle)
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    entries[i] = new.to_vec();
    encode_bundle(&entries).unwrap()
}

#[test]
fn accepts_every_shape_of_tree_and_fetches_every_tile() {
    for n in [
        0usize,
        1,
        2,
        255,
        256,
        257,
        511,
        512,
        513,
        65_536,
        65_536 + 300,
    ] {
        let log = Log::new().generic(n, "g");
        let served = log.serve();
        let mut calls = Vec::new();
        let r = audit(&served, &generic(), None, &mut |d, t| calls.push((d, t)))
            .unwrap_or_else(|e| panic!("size {n}: {e}"));
        assert_eq!(r.size, n as u64);
        assert_eq!(r.root, b64(&log.root()));
        assert_eq!(r.previous, None);
        assert_eq!(r.state, log.state());
        assert_eq!(calls.first(), Some(&(0, n as u64)));
        assert_eq!(calls.last().map(|c| c.0), Some(n as u64));
        // Every tile of the tree, each exactly once, and nothing else.
        let mut want: Vec<String> = tiles_for_size(n as u64)
            .iter()
            .flat_map(|lt| lt.tiles())
            .map(|t| t.path())
            .collect();
        want.push(CHECKPOINT_PATH.into());
        want.sort();
        let mut got = served.fetched.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, want, "size {n}");
        let bundles = n.div_ceil(256) as u64;
        assert_eq!(r.entry_bundles, bundles);
        assert_eq!(r.hash_tiles as usize, want.len() - 1 - bundles as usize);
    }
}

#[test]
fn accepts_truce_leaves_and_a_consistent_extension() {
    let first = Log::new().truce(300, "a");
    let r1 = run(&first.serve(), &config(), None).unwrap();
    assert!(r1.truce_leaves);
    assert_eq!(
        r1.summary(),
        format!(
            "ok: {ORIGIN} size 300 root {} (first audit of this log)",
            b64(&first.root())
        )
    );
    let later = first.clone().truce(400, "a");
    let r2 = run(&later.serve(), &config(), Some(&r1.state)).unwrap();
    assert_eq!(
        r2.previous,
        Some(Seen {
            size: 300,
            root: b64(&first.root())
        })
    );
    assert!(
        r2.summary()
            .ends_with("(consistent with size 300 seen before)")
    );
    // The same size again is consistent too.
    let r3 = run(&later.serve(), &config(), Some(&r2.state)).unwrap();
    assert_eq!(r3.previous.map(|p| p.size), Some(700));
}

#[test]
fn rejects_a_tampered_leaf() {
    let log = Log::new().truce(600, "a");
    let path = "tile/entries/001";
    let bundle = log.serve().real(path).unwrap();
    let mut other = log.leaves[256 + 7].clone();
    other[20] ^= 1;
    let served = log
        .serve()
        .set(path, Some(replace_entry(&bundle, 7, &other)));
    let e = run(&served, &config(), None).unwrap_err();
    assert!(
        matches!(&e, AuditError::TileHash { path, position: 7, leaves: (263, 264), .. } if path == "tile/0/001"),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("tile/0/001: hash 7 differs from the hash of leaf 263 (served "),
        "{e}"
    );
    assert!(e.is_log_fault());

    // A log that rewrote a leaf and its whole tree, but not its signed checkpoint.
    let mut rewritten = Log::new();
    for (i, l) in log.leaves.iter().enumerate() {
        rewritten.push(if i == 263 { other.clone() } else { l.clone() });
    }
    let served = Served::new(rewritten.clone(), log.checkpoint(&[]));
    let e = run(&served, &generic(), None).unwrap_err();
    assert_eq!(
        e,
        AuditError::RootMismatch {
            size: 600,
            checkpoint_root: log.root(),
            recomputed: rewritten.root()
        }
    );
    assert_eq!(
        e.to_string(),
        format!(
            "checkpoint root {} does not match the tree recomputed from 600 entries ({})",
            b64(&log.root()),
            b64(&rewritten.root())
        )
    );
    // With truce leaves checked, the flipped byte may also break the leaf format; either
    // way the audit fails.
    assert!(run(&served, &config(), None).is_err());
}

#[test]
fn rejects_a_tampered_hash_tile_at_any_level() {
    let log = Log::new().generic(70_000, "g");
    for (path, position, leaves) in [
        ("tile/0/100", 9usize, (100 * 256 + 9, 100 * 256 + 10)),
        ("tile/0/273.p/112", 111, (69_999, 70_000)),
        ("tile/1/000", 200, (200 * 256, 201 * 256)),
        ("tile/1/001.p/17", 16, ((256 + 16) * 256, (256 + 17) * 256)),
        ("tile/2/000.p/1", 0, (0, 65_536)),
    ] {
        let mut tile = log.serve().real(path).unwrap();
        tile[position * 32 + 31] ^= 0x80;
        let served = log.serve().set(path, Some(tile));
        let e = run(&served, &generic(), None).unwrap_err();
        match &e {
            AuditError::TileHash {
                path: p,
                position: q,
                leaves: l,
                ..
            } => assert_eq!((p.as_str(), *q, *l), (path, position, leaves), "{e}"),
            _ => panic!("{path}: {e:?}"),
        }
    }
}

#[test]
fn rejects_missing_tiles_but_falls_back_to_full_ones() {
    let log = Log::new().truce(600, "a");
    for path in ["tile/entries/002.p/88", "tile/0/000", "tile/1/000.p/2"] {
        let served = log.serve().set(path, None);
        let e = run(&served, &config(), None).unwrap_err();
        assert_eq!(
            e,
            AuditError::Missing {
                path: path.into(),
                tree_size: Some(600)
            }
        );
        assert_eq!(
            e.to_string(),
            format!("{path} is missing (not found), but the checkpoint of size 600 needs it")
        );
    }
    let e = run(&log.serve().set(CHECKPOINT_PATH, None), &config(), None).unwrap_err();
    assert_eq!(e.to_string(), "checkpoint is missing (not found)");

    // The log grew to 768 (full tiles now exist) and dropped the partial tiles of 600.
    let grown = log.clone().truce(168, "a");
    let served = Served::new(grown, log.checkpoint(&[]))
        .set("tile/entries/002.p/88", None)
        .set("tile/0/002.p/88", None);
    let r = run(&served, &config(), None).unwrap();
    assert_eq!((r.size, r.root), (600, b64(&log.root())));
    let fetched = served.fetched.lock().unwrap().clone();
    assert!(fetched.contains(&"tile/entries/002".to_string()));
    assert!(fetched.contains(&"tile/0/002".to_string()));
}

#[test]
fn rejects_a_wrong_signature() {
    let log = Log::new().truce(10, "a");
    // Same name, another key.
    let impostor = PrivateKey::from_seed(ORIGIN, [9; 32]).unwrap();
    let cp = Checkpoint::new(ORIGIN, log.size(), log.root());
    let forged = sign_checkpoint(&cp, &impostor).unwrap();
    let e = run(&Served::new(log.clone(), forged), &config(), None).unwrap_err();
    assert!(
        matches!(
            e,
            AuditError::Checkpoint(CheckpointError::Note(
                crate::note::NoteError::NoKnownSignature
            ))
        ),
        "{e:?}"
    );
    // The log's own signature over another text.
    let good = log.checkpoint(&[]);
    let tampered = String::from_utf8(good)
        .unwrap()
        .replacen("\n10\n", "\n11\n", 1);
    let e = run(
        &Served::new(log.clone(), tampered.into_bytes()),
        &config(),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            AuditError::Checkpoint(CheckpointError::Note(
                crate::note::NoteError::InvalidSignature { .. }
            ))
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with("the checkpoint is not valid: "),
        "{e}"
    );
    // A pinned origin that differs.
    let pinned = AuditConfig {
        origin: Some("truce.test/other".into()),
        ..config()
    };
    let e = run(&log.serve(), &pinned, None).unwrap_err();
    assert!(
        matches!(
            e,
            AuditError::Checkpoint(CheckpointError::OriginMismatch { .. })
        ),
        "{e:?}"
    );
    // Garbage and oversized checkpoints.
    let e = run(
        &log.serve().set(CHECKPOINT_PATH, Some(b"\xff\xfe".to_vec())),
        &config(),
        None,
    )
    .unwrap_err();
    assert!(matches!(e, AuditError::Checkpoint(_)), "{e:?}");
    let e = run(
        &log.serve()
            .set(CHECKPOINT_PATH, Some(vec![b'a'; MAX_CHECKPOINT_BYTES + 1])),
        &config(),
        None,
    )
    .unwrap_err();
    assert!(matches!(e, AuditError::TooLarge { .. }), "{e:?}");
}

#[test]
fn counts_and_requires_witness_cosignatures() {
    let log = Log::new().truce(5, "a");
    let w = witness();
    let with = |min| AuditConfig {
        witnesses: vec![w.verifier()],
        min_witnesses: min,
        ..config()
    };
    let cosigned = Served::new(log.clone(), log.checkpoint(&[&w]));
    let r = run(&cosigned, &with(1), None).unwrap();
    assert_eq!(r.cosigned_by, ["witness.test/w1"]);
    assert!(r.summary().ends_with("; cosigned by witness.test/w1"));
    let e = run(&log.serve(), &with(1), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the checkpoint is cosigned by 0 of the trusted witnesses, 1 required"
    );
    let e = run(&cosigned, &with(2), None).unwrap_err();
    assert!(
        matches!(&e, AuditError::NotEnoughCosignatures { cosigned_by, required: 2 } if cosigned_by.len() == 1)
    );
    // A cosignature by the trusted witness over another checkpoint text.
    let mut note = Note::parse(&log.checkpoint(&[])).unwrap();
    let other = Checkpoint::new(ORIGIN, 4, [0; 32]).to_text();
    note.push_signature(w.cosign(&other, 1).unwrap()).unwrap();
    let e = run(&Served::new(log.clone(), note.to_bytes()), &with(0), None).unwrap_err();
    assert!(matches!(e, AuditError::Cosignature(_)), "{e:?}");
    // An untrusted witness's cosignature does not count.
    let stranger = CosignerKey::from_seed("witness.test/w2", [4; 32]).unwrap();
    let e = run(
        &Served::new(log.clone(), log.checkpoint(&[&stranger])),
        &with(1),
        None,
    )
    .unwrap_err();
    assert!(matches!(e, AuditError::NotEnoughCosignatures { .. }));
}

#[test]
fn rejects_a_shrunk_log() {
    let log = Log::new().truce(120, "a");
    let state = log.state();
    let mut smaller = Log::new();
    for l in &log.leaves[..100] {
        smaller.push(l.clone());
    }
    let e = run(&smaller.serve(), &config(), Some(&state)).unwrap_err();
    assert!(matches!(
        e,
        AuditError::Shrunk {
            previous: 120,
            now: 100,
            ..
        }
    ));
    assert_eq!(
        e.to_string(),
        "the log shrank from 120 to 100 entries since the checkpoint seen before"
    );
}

#[test]
fn rejects_a_forked_history_of_the_same_size() {
    let a = Log::new().truce(50, "a");
    let b = Log::new().truce(50, "b");
    let served = b.serve();
    let e = run(&served, &config(), Some(&a.state())).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "not consistent with the checkpoint seen before (size 50, root {}): the log now signs root {} for the same size",
            b64(&a.root()),
            b64(&b.root())
        )
    );
    match e {
        AuditError::Inconsistent { evidence, .. } => {
            // Two signed, contradicting checkpoints: the proof of the fork.
            assert_eq!(evidence.previous_checkpoint.as_bytes(), a.checkpoint(&[]));
            assert_eq!(evidence.checkpoint.as_bytes(), b.checkpoint(&[]));
        }
        e => panic!("{e:?}"),
    }
    // Decided from the checkpoints alone: no tile was needed.
    assert_eq!(*served.fetched.lock().unwrap(), [CHECKPOINT_PATH]);
}

#[test]
fn rejects_a_longer_log_whose_prefix_differs() {
    let a = Log::new().truce(50, "a");
    // Same first 49 leaves, another 50th, then more.
    let mut b = Log::new();
    for l in &a.leaves[..49] {
        b.push(l.clone());
    }
    let b = b.truce(100, "b");
    let mut prefix = Log::new();
    for l in &b.leaves[..50] {
        prefix.push(l.clone());
    }
    let e = run(&b.serve(), &config(), Some(&a.state())).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "not consistent with the checkpoint seen before (size 50, root {}): the tree at size 50 now hashes to {} (in the tree of size 149)",
            b64(&a.root()),
            b64(&prefix.root())
        )
    );
}

#[test]
fn rejects_leaves_that_are_not_truce_leaves_unless_generic() {
    let log = Log::new().truce(3, "a").generic(1, "g").truce(2, "a");
    let e = run(&log.serve(), &config(), None).unwrap_err();
    assert!(
        matches!(&e, AuditError::Leaf { index: 3, path, .. } if path == "tile/entries/000.p/6"),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("leaf 3 (in tile/entries/000.p/6) is not a truce leaf: "),
        "{e}"
    );
    run(&log.serve(), &generic(), None).unwrap();

    // Log time going backwards, within a bundle and across bundles.
    for at in [5usize, 256] {
        let mut log = Log::new().truce(at, "a");
        let op = PrivateKey::from_seed("truce.test/operator", [3; 32]).unwrap();
        let env = Envelope::sign("tick", br#"{"id":"late","time":"x"}"#, &[&op]);
        log.push(
            Leaf {
                time_ms: 1_000,
                envelope: env,
            }
            .encode(),
        );
        let e = run(&log.serve(), &config(), None).unwrap_err();
        assert!(
            matches!(e, AuditError::LeafTime { index, time_ms: 1_000, .. } if index == at as u64),
            "{e:?}"
        );
    }
}

#[test]
fn rejects_malformed_tiles_and_bundles_without_panicking() {
    let log = Log::new().truce(300, "a");
    let bundle = log.serve().real("tile/entries/000").unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("tile/0/000", vec![0; 31]),
        ("tile/0/000", vec![0; MAX_TILE_BYTES + 1]),
        ("tile/0/001.p/44", vec![0; 45 * 32]),
        ("tile/1/000.p/1", Vec::new()),
        ("tile/entries/000", Vec::new()),
        ("tile/entries/000", bundle[..bundle.len() - 1].to_vec()),
        ("tile/entries/000", bundle[..bundle.len() / 2].to_vec()),
        ("tile/entries/001.p/44", bundle.clone()),
        (
            "tile/entries/000",
            [bundle.clone(), vec![0, 1, b'x']].concat(),
        ),
        ("tile/entries/000", vec![0xff; MAX_BUNDLE_BYTES + 1]),
    ];
    for (path, body) in cases {
        let e = run(&log.serve().set(path, Some(body)), &config(), None).unwrap_err();
        assert!(e.is_log_fault(), "{path}: {e:?}");
        assert!(e.to_string().starts_with(path), "{path}: {e}");
    }
    // Claims of absurd sizes fail fast.
    let cp = Checkpoint::new(ORIGIN, u64::MAX, [0; 32]);
    let huge = sign_checkpoint(&cp, &log_key()).unwrap();
    let e = run(&Served::new(log.clone(), huge), &config(), None).unwrap_err();
    assert_eq!(e, AuditError::TreeTooLarge(u64::MAX));
    let cp = Checkpoint::new(ORIGIN, 1 << 40, [0; 32]);
    let big = sign_checkpoint(&cp, &log_key()).unwrap();
    let e = run(&Served::new(log, big), &config(), None).unwrap_err();
    assert!(matches!(e, AuditError::Missing { .. }), "{e:?}");
}

#[test]
fn reports_the_first_fault_in_log_order_whatever_the_concurrency() {
    let log = Log::new().generic(256 * 40 + 3, "g");
    let mut served = log.serve();
    for b in [7usize, 21, 33] {
        let path = format!("tile/0/{b:03}");
        let mut tile = served.real(&path).unwrap();
        tile[5] ^= 1;
        served = served.set(&path, Some(tile));
    }
    for concurrency in [1, 2, 3, 8, 64] {
        let c = AuditConfig {
            concurrency,
            ..generic()
        };
        let e = run(&served, &c, None).unwrap_err();
        assert!(
            matches!(&e, AuditError::TileHash { path, .. } if path == "tile/0/007"),
            "{concurrency}: {e:?}"
        );
    }
}

#[test]
fn checks_the_saved_state() {
    let log = Log::new().truce(10, "a");
    let mut state = log.state();
    let other = PrivateKey::from_seed(ORIGIN, [8; 32]).unwrap().verifier();
    let e = run(&log.serve(), &AuditConfig::new(other), Some(&state)).unwrap_err();
    assert!(matches!(e, AuditError::StateKey { .. }), "{e:?}");
    assert!(!e.is_log_fault());
    let pinned = AuditConfig {
        origin: Some("truce.test/else".into()),
        ..config()
    };
    let e = run(&log.serve(), &pinned, Some(&state)).unwrap_err();
    assert!(matches!(e, AuditError::StateOrigin { .. }), "{e:?}");
    state.root = b64(&[7; 32]);
    let e = run(&log.serve(), &config(), Some(&state)).unwrap_err();
    assert!(matches!(e, AuditError::BadState(_)), "{e:?}");
    state.root = "nope".into();
    let e = run(&log.serve(), &config(), Some(&state)).unwrap_err();
    assert!(matches!(e, AuditError::BadState(_)), "{e:?}");

    // The state round-trips through JSON.
    let state = log.state();
    let json = serde_json::to_string(&state).unwrap();
    let back: AuditState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
    run(&log.serve(), &config(), Some(&back)).unwrap();
}

#[test]
fn fetch_errors_are_not_log_faults() {
    struct Down;
    impl Fetch for Down {
        fn get(&self, _: &str) -> Result<Option<Vec<u8>>, String> {
            Err("connection refused".into())
        }
    }
    let e = run(&Down, &config(), None).unwrap_err();
    assert_eq!(e.to_string(), "cannot fetch checkpoint: connection refused");
    assert!(!e.is_log_fault());
}

#[test]
fn a_map_of_files_is_a_log() {
    let log = Log::new().truce(3, "a");
    let served = log.serve();
    let files: HashMap<String, Vec<u8>> = ["checkpoint", "tile/entries/000.p/3", "tile/0/000.p/3"]
        .iter()
        .map(|p| (p.to_string(), served.real(p).unwrap()))
        .collect();
    assert_eq!(run(&files, &config(), None).unwrap().size, 3);
}

#[test]
fn thousands_separators() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1_000), "1,000");
    assert_eq!(thousands(1_234_567), "1,234,567");
    assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
}
