//! C2SP tlog-tiles: paths, which tiles exist, tile contents against the spec's definition, entry
//! bundles, and the verifying tile reader (every tile it reads is authenticated).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use proptest::prelude::*;
use truce_log::leaf::leaf_hash;
use truce_log::merkle::{
    Frontier, Hash, HashReader, MerkleError, prove_record, prove_tree, root_from_leaf_hashes,
    stored_hash_index, tree_hash,
};
use truce_log::tile::{
    LevelTiles, TileError, TileHashReader, TileLevel, TileReader, TileRef, bundle_leaf_hashes,
    decode_bundle, decode_tile_bundle, encode_bundle, hash_tile_indexes, new_tiles, read_tile_data,
    tile_for, tile_hashes, tiles_for_size,
};

fn tile(level: TileLevel, index: u64, width: u16) -> TileRef {
    TileRef::new(level, index, width).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

#[test]
fn paths_are_spelled_as_the_spec_says() {
    use TileLevel::{Entries, Hash as H};
    let cases = [
        (tile(H(0), 0, 256), "tile/0/000"),
        (tile(H(0), 1234067, 256), "tile/0/x001/x234/067"),
        (tile(H(1), 1000, 256), "tile/1/x001/000"),
        (tile(H(2), 999, 17), "tile/2/999.p/17"),
        (tile(Entries, 5, 1), "tile/entries/005.p/1"),
        (
            tile(Entries, 1_000_000, 255),
            "tile/entries/x001/x000/000.p/255",
        ),
        (tile(H(7), 0, 255), "tile/7/000.p/255"),
        (tile(H(6), 254, 256), "tile/6/254"),
        (
            tile(H(0), u64::MAX / 256 - 1, 256),
            "tile/0/x072/x057/x594/x037/x927/934",
        ),
    ];
    for (t, path) in cases {
        assert_eq!(t.path(), path);
        assert_eq!(t.to_string(), path);
        assert_eq!(TileRef::parse(path), Ok(t), "{path}");
    }
}

#[test]
fn non_canonical_paths_are_refused() {
    for path in [
        "",
        "tile",
        "tile/",
        "tile/0",
        "tile/0/",
        "tile/0/0",
        "tile/0/00",
        "tile/0/0000",
        "tile/0/1",
        "tile/00/000",
        "tile/01/000",
        "tile/+1/000",
        "tile/-0/000",
        "tile/8/000.p/1",
        "tile/63/000.p/1",
        "tile/64/000",
        "tile/256/000",
        "tile/0/x000/001",
        "tile/0/x000/x001/002",
        "tile/0/x1/000",
        "tile/0/x0001/000",
        "tile/0/X001/000",
        "tile/0/x001",
        "tile/0/001/x002",
        "tile/0/001/002",
        "tile/0/x001//002",
        "tile/0/001.p/256",
        "tile/0/001.p/0",
        "tile/0/001.p/007",
        "tile/0/001.p/00",
        "tile/0/001.p/",
        "tile/0/001.p/1000",
        "tile/0/001.p/5/",
        "tile/0/001.p/5x",
        "tile/0/001.p/1.p/1",
        "tile/0/001.p5",
        "tile/0/001/",
        "/tile/0/001",
        "tile/0/001 ",
        " tile/0/001",
        "tile/0/001\n",
        "tile//001",
        "tile/entries",
        "tile/entries/",
        "tile/entry/000",
        "tile/Entries/000",
        "tile/0/\u{663}\u{663}\u{663}",
        "tile/\u{663}/000",
        "tile/0/x٣٣٣/000",
        // u64::MAX + 1, and eight groups.
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/x001/x000/x000/x000/x000/x000/x000/000",
        // Tiles a u64 tree cannot have: a full level-7 tile, level-6 tile 255, the last entries.
        "tile/7/000",
        "tile/6/255",
        "tile/entries/x072/x057/x594/x037/x927/935",
    ] {
        assert!(TileRef::parse(path).is_err(), "{path:?} accepted");
    }
}

#[test]
fn impossible_tiles_cannot_be_built() {
    assert!(TileRef::new(TileLevel::Hash(0), 0, 0).is_err());
    assert!(TileRef::new(TileLevel::Hash(0), 0, 257).is_err());
    assert!(TileRef::new(TileLevel::Hash(8), 0, 1).is_err());
    assert!(TileRef::new(TileLevel::Hash(7), 0, 256).is_err());
    assert!(TileRef::new(TileLevel::Hash(7), 1, 1).is_err());
    assert!(TileRef::new(TileLevel::Entries, u64::MAX, 1).is_err());
    assert!(TileRef::full(TileLevel::Entries, u64::MAX / 256 - 1).is_ok());
    assert!(TileRef::full(TileLevel::Entries, u64::MAX / 256).is_err());
    // The last partial bundle of a u64 tree: leaves end at u64::MAX.
    let last = tile(TileLevel::Entries, u64::MAX / 256, 255);
    assert_eq!(last.leaf_range(), (u64::MAX - 255, u64::MAX));
}

fn any_tile() -> impl Strategy<Value = TileRef> {
    let level = prop_oneof![
        (0u8..=7).prop_map(TileLevel::Hash),
        Just(TileLevel::Entries)
    ];
    (level, any::<u64>(), 1u16..=256, any::<bool>()).prop_filter_map(
        "possible tiles",
        |(level, index, width, small)| {
            // Indexes spread over all magnitudes.
            let index = if small { index % 1_000_000 } else { index };
            let index = match level {
                TileLevel::Hash(l) => index >> (8 * u32::from(l)),
                TileLevel::Entries => index,
            };
            TileRef::new(level, index, width).ok()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn path_round_trips(t in any_tile()) {
        prop_assert_eq!(TileRef::parse(&t.path()), Ok(t));
    }

    #[test]
    fn parse_never_panics_and_accepts_only_canonical_paths(s in "\\PC{0,60}") {
        if let Ok(t) = TileRef::parse(&s) {
            prop_assert_eq!(t.path(), s);
        }
    }

    #[test]
    fn tile_like_paths(
        s in "tile/(entries|[0-9]{1,3}|x[0-9]{3})(/x?[0-9]{1,4}){1,8}(\\.p/[0-9]{1,4})?/?"
    ) {
        if let Ok(t) = TileRef::parse(&s) {
            prop_assert_eq!(t.path(), s);
        }
    }

    #[test]
    fn mutated_paths(t in any_tile(), at in any::<usize>(), c in prop::char::any(), op in 0u8..3) {
        let mut s: Vec<char> = t.path().chars().collect();
        let i = at % (s.len() + 1);
        match op {
            0 => s.insert(i, c),
            1 if i < s.len() => { s.remove(i); }
            _ if i < s.len() => s[i] = c,
            _ => s.push(c),
        }
        let s: String = s.into_iter().collect();
        if let Ok(u) = TileRef::parse(&s) {
            prop_assert_eq!(u.path(), s);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Which tiles exist
// ---------------------------------------------------------------------------------------------

#[test]
fn tiles_of_the_spec_examples() {
    // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
    // tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
    // partial level 2 tile of width 1"
    let lt = |level, full, partial_width| LevelTiles {
        level,
        full,
        partial_width,
    };
    assert_eq!(
        tiles_for_size(70_000),
        vec![
            lt(TileLevel::Entries, 273, 112),
            lt(TileLevel::Hash(0), 273, 112),
            lt(TileLevel::Hash(1), 1, 17),
            lt(TileLevel::Hash(2), 0, 1),
        ]
    );
    // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile
    // of width 1"
    assert_eq!(
        tiles_for_size(256),
        vec![
            lt(TileLevel::Entries, 1, 0),
            lt(TileLevel::Hash(0), 1, 0),
            lt(TileLevel::Hash(1), 0, 1),
        ]
    );
    assert_eq!(tiles_for_size(0), vec![]);
    let top = tiles_for_size(u64::MAX);
    assert_eq!(top.last(), Some(&lt(TileLevel::Hash(7), 0, 255)));
    assert_eq!(top.len(), 9);

    let l1: Vec<String> = tiles_for_size(70_000)[2]
        .tiles()
        .map(|t| t.path())
        .collect();
    assert_eq!(l1, ["tile/1/000", "tile/1/001.p/17"]);
    assert_eq!(
        tile_for(TileLevel::Hash(0), 273, 70_000).map(|t| t.path()),
        Some("tile/0/273.p/112".to_string())
    );
    assert_eq!(tile_for(TileLevel::Hash(0), 274, 70_000), None);
    assert_eq!(tile_for(TileLevel::Hash(3), 0, 70_000), None);
    assert_eq!(tile_for(TileLevel::Hash(9), 0, u64::MAX), None);
    assert_eq!(tile_for(TileLevel::Entries, u64::MAX, u64::MAX), None);
}

fn all_tiles(size: u64) -> BTreeSet<TileRef> {
    tiles_for_size(size)
        .iter()
        .flat_map(|l| l.tiles())
        .collect()
}

proptest! {
    #[test]
    fn new_tiles_are_the_tiles_that_changed(a in 0u64..300_000, b in 0u64..300_000) {
        let (old, new) = (a.min(b), a.max(b));
        let before = all_tiles(old);
        let want: BTreeSet<TileRef> = all_tiles(new).difference(&before).copied().collect();
        let got = new_tiles(old, new);
        prop_assert_eq!(got.iter().copied().collect::<BTreeSet<_>>(), want);
        prop_assert_eq!(got.len(), BTreeSet::from_iter(got.iter()).len());
        prop_assert!(new_tiles(new, old).is_empty());
    }

    #[test]
    fn tile_for_agrees_with_tiles_for_size(size in any::<u64>(), l in 0u8..=7, i in any::<u64>()) {
        let size = size >> (i % 64);
        let level = TileLevel::Hash(l);
        let lt = tiles_for_size(size).into_iter().find(|t| t.level == level);
        let count = lt.map_or(0, |t| t.full + u64::from(t.partial_width > 0));
        let index = if count > 0 { i % (count + 1) } else { i % 3 };
        let t = tile_for(level, index, size);
        prop_assert_eq!(t.is_some(), index < count);
        if let (Some(t), Some(lt)) = (t, lt) {
            prop_assert_eq!(t.is_full(), index < lt.full);
            if !t.is_full() {
                prop_assert_eq!(t.width(), lt.partial_width);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tile contents
// ---------------------------------------------------------------------------------------------

const LOG_SIZE: u64 = 70_000;

struct Log {
    entries: Vec<Vec<u8>>,
    leaf_hashes: Vec<Hash>,
    store: Vec<Hash>,
}

fn log() -> &'static Log {
    static LOG: OnceLock<Log> = OnceLock::new();
    LOG.get_or_init(|| {
        let entries: Vec<Vec<u8>> = (0..LOG_SIZE)
            .map(|i| format!("{{\"entry\":{i}}}").into_bytes())
            .collect();
        let leaf_hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let mut f = Frontier::new();
        let mut store = Vec::new();
        for h in &leaf_hashes {
            store.extend(f.push(*h).unwrap().into_iter().map(|(_, h)| h));
        }
        Log {
            entries,
            leaf_hashes,
            store,
        }
    })
}

fn root(size: u64) -> Hash {
    tree_hash(size, &log().store).unwrap()
}

#[test]
fn tiles_hold_the_hashes_the_spec_defines() {
    let log = log();
    for size in [1, 255, 256, 257, 65_535, 65_536, 65_537, LOG_SIZE] {
        for t in all_tiles(size) {
            let TileLevel::Hash(l) = t.level() else {
                continue;
            };
            let hashes = tile_hashes(&t, &read_tile_data(&t, &log.store).unwrap()).unwrap();
            assert_eq!(hashes.len(), usize::from(t.width()));
            // MTH(D[(n·256 + i)·256^l : (n·256 + i + 1)·256^l])
            let unit = 1usize << (8 * l);
            let n = t.index() as usize;
            // Level 0 and 1 in full, a sample of the rest (the top is the costly part).
            let check: Vec<usize> = if l <= 1 {
                (0..hashes.len()).collect()
            } else {
                vec![0, hashes.len() - 1]
            };
            for i in check {
                let lo = (n * 256 + i) * unit;
                let want = root_from_leaf_hashes(&log.leaf_hashes[lo..lo + unit]);
                assert_eq!(hashes[i], want, "{t} hash {i}");
            }
        }
    }
}

#[test]
fn hash_tile_indexes_are_stored_positions() {
    let t = tile(TileLevel::Hash(1), 3, 5);
    let want: Vec<u64> = (768..773).map(|n| stored_hash_index(8, n)).collect();
    assert_eq!(hash_tile_indexes(&t), Ok(want));
    let e = tile(TileLevel::Entries, 0, 5);
    assert_eq!(hash_tile_indexes(&e), Err(TileError::WrongKind(e)));
    // Possible in a u64 tree, beyond what stored hashes can address.
    let far = tile(TileLevel::Hash(0), u64::MAX / 256 - 1, 256);
    assert!(matches!(
        hash_tile_indexes(&far),
        Err(TileError::Merkle(MerkleError::TreeTooLarge(_)))
    ));
    // Data of the wrong length, or an entries tile, is refused.
    let t0 = tile(TileLevel::Hash(0), 0, 2);
    assert!(tile_hashes(&t0, &[0; 63]).is_err());
    assert!(tile_hashes(&e, &[0; 160]).is_err());
    assert_eq!(tile_hashes(&t0, &[7; 64]).unwrap(), vec![[7; 32]; 2]);
}

// ---------------------------------------------------------------------------------------------
// Entry bundles
// ---------------------------------------------------------------------------------------------

#[test]
fn bundles() {
    let entries: Vec<&[u8]> = vec![b"", b"a", &[0xff; 300]];
    let b = encode_bundle(&entries).unwrap();
    assert_eq!(&b[..5], &[0, 0, 0, 1, b'a']);
    assert_eq!(&b[5..7], &[1, 44]);
    assert_eq!(b.len(), 2 + 3 + 302);
    assert_eq!(decode_bundle(&b).unwrap(), entries);
    let max = vec![1u8; 65_535];
    assert_eq!(
        decode_bundle(&encode_bundle(&[&max]).unwrap()).unwrap(),
        vec![&max[..]]
    );

    let none: [&[u8]; 0] = [];
    assert_eq!(encode_bundle(&none), Err(TileError::EmptyBundle));
    assert_eq!(
        encode_bundle(&[vec![0u8; 65_536]]),
        Err(TileError::EntryTooLarge(65_536))
    );
    assert_eq!(
        encode_bundle(&vec![b"x"; 257]),
        Err(TileError::TooManyEntries)
    );
    assert!(encode_bundle(&vec![b"x"; 256]).is_ok());

    assert_eq!(decode_bundle(&[]), Err(TileError::EmptyBundle));
    assert_eq!(decode_bundle(&[0]), Err(TileError::TruncatedBundle));
    assert_eq!(decode_bundle(&[0, 2, 1]), Err(TileError::TruncatedBundle));
    assert_eq!(
        decode_bundle(&[0, 1, 1, 0]),
        Err(TileError::TruncatedBundle)
    );
    assert_eq!(decode_bundle(&[0; 2 * 257]), Err(TileError::TooManyEntries));
    assert_eq!(decode_bundle(&[0; 2 * 256]).unwrap().len(), 256);

    let t = tile(TileLevel::Entries, 0, 3);
    assert_eq!(decode_tile_bundle(&t, &b).unwrap().len(), 3);
    let t2 = tile(TileLevel::Entries, 0, 4);
    assert_eq!(
        decode_tile_bundle(&t2, &b),
        Err(TileError::BundleCount { tile: t2, got: 3 })
    );
    let h = tile(TileLevel::Hash(0), 0, 3);
    assert_eq!(decode_tile_bundle(&h, &b), Err(TileError::WrongKind(h)));
    assert_eq!(
        bundle_leaf_hashes(&b).unwrap(),
        entries.iter().map(|e| leaf_hash(e)).collect::<Vec<_>>()
    );
}

proptest! {
    // Generating up to 256 random entries is slow in debug builds: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn bundles_round_trip(
        entries in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..=256),
    ) {
        let b = encode_bundle(&entries).unwrap();
        let back = decode_bundle(&b).unwrap();
        prop_assert_eq!(back.len(), entries.len());
        for (a, b) in back.iter().zip(&entries) {
            prop_assert_eq!(*a, b.as_slice());
        }
    }
}

proptest! {
    #[test]
    fn decode_bundle_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        if let Ok(entries) = decode_bundle(&bytes) {
            // Whatever decodes re-encodes to the same bytes: one encoding per bundle.
            prop_assert_eq!(encode_bundle(&entries).unwrap(), bytes);
        }
    }
}

#[test]
fn auditor_recomputes_the_root_from_entry_bundles() {
    // The server side: bundles for every entries tile of a 70,000-entry log.
    let log = log();
    let size = LOG_SIZE;
    let mut leaf_hashes = Vec::new();
    for t in all_tiles(size)
        .into_iter()
        .filter(|t| t.level() == TileLevel::Entries)
    {
        let (lo, hi) = t.leaf_range();
        let bundle = encode_bundle(&log.entries[lo as usize..hi as usize]).unwrap();
        // The auditor side: strict decoding, leaf hashes, and the level-0 tile agrees.
        let entries = decode_tile_bundle(&t, &bundle).unwrap();
        let hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let level0 = TileRef::new(TileLevel::Hash(0), t.index(), t.width()).unwrap();
        assert_eq!(
            read_tile_data(&level0, &log.store).unwrap(),
            hashes.concat()
        );
        leaf_hashes.extend(hashes);
    }
    assert_eq!(root_from_leaf_hashes(&leaf_hashes), root(size));
}

// ---------------------------------------------------------------------------------------------
// Verifying tile reader
// ---------------------------------------------------------------------------------------------

/// Serves tiles from the log's stored hashes, records what it served, and can tamper with one
/// tile or answer with too few tiles.
#[derive(Default)]
struct Server {
    served: RefCell<Vec<TileRef>>,
    tamper: Option<TileRef>,
    truncate: Option<TileRef>,
    short: bool,
}

impl TileReader for Server {
    fn read_tiles(&self, tiles: &[TileRef]) -> Result<Vec<Vec<u8>>, TileError> {
        self.served.borrow_mut().extend_from_slice(tiles);
        let mut out = Vec::new();
        for t in tiles {
            let mut data = read_tile_data(t, &log().store)?;
            if Some(*t) == self.tamper {
                data[7] ^= 0x10;
            }
            if Some(*t) == self.truncate {
                data.pop();
            }
            out.push(data);
        }
        if self.short {
            out.pop();
        }
        Ok(out)
    }
}

#[test]
fn proofs_from_tiles_equal_proofs_from_storage() {
    let log = log();
    for (t, n) in [
        (1, 0),
        (2, 1),
        (255, 17),
        (256, 255),
        (257, 256),
        (1000, 3),
        (65_535, 40_000),
        (65_536, 65_535),
        (65_537, 5),
        (LOG_SIZE, 0),
        (LOG_SIZE, 69_999),
        (LOG_SIZE, 65_536),
    ] {
        let server = Server::default();
        let reader = TileHashReader::new(t, root(t), &server);
        assert_eq!(
            prove_record(t, n, &reader).unwrap(),
            prove_record(t, n, &log.store).unwrap(),
            "inclusion {n} in {t}"
        );
        let old = n.max(1);
        assert_eq!(
            prove_tree(t, old, &reader).unwrap(),
            prove_tree(t, old, &log.store).unwrap(),
            "consistency {old} -> {t}"
        );
        assert_eq!(tree_hash(t, &reader).unwrap(), root(t));
        assert_eq!(Frontier::from_hashes(t, &reader).unwrap().root(), root(t));
    }
}

#[test]
fn every_tile_read_is_authenticated() {
    for (t, n) in [(LOG_SIZE, 12_345), (65_537, 65_536), (300, 1), (256, 0)] {
        let clean = Server::default();
        let reader = TileHashReader::new(t, root(t), &clean);
        let proof = prove_record(t, n, &reader).unwrap();
        assert!(!proof.is_empty());
        let served: BTreeSet<TileRef> = clean.served.borrow().iter().copied().collect();
        assert!(served.len() >= 2);
        for bad in served {
            // Tampered content.
            let server = Server {
                tamper: Some(bad),
                ..Server::default()
            };
            let reader = TileHashReader::new(t, root(t), &server);
            assert!(
                matches!(
                    prove_record(t, n, &reader),
                    Err(MerkleError::Inconsistent(_))
                ),
                "tampered {bad} accepted"
            );
            // Wrong length.
            let server = Server {
                truncate: Some(bad),
                ..Server::default()
            };
            let reader = TileHashReader::new(t, root(t), &server);
            assert!(matches!(
                prove_record(t, n, &reader),
                Err(MerkleError::Inconsistent(_))
            ));
        }
    }
}

#[test]
fn tile_reader_refusals() {
    let t = 1000;
    // Wrong root.
    let server = Server::default();
    let reader = TileHashReader::new(t, root(t - 1), &server);
    assert!(matches!(
        prove_record(t, 3, &reader),
        Err(MerkleError::Inconsistent(_))
    ));
    // Too few tiles.
    let server = Server {
        short: true,
        ..Server::default()
    };
    let reader = TileHashReader::new(t, root(t), &server);
    assert!(matches!(
        prove_record(t, 3, &reader),
        Err(MerkleError::Storage(_))
    ));
    // Hashes that are not (yet) in the tree.
    let server = Server::default();
    let reader = TileHashReader::new(t, root(t), &server);
    let beyond = stored_hash_index(0, t);
    assert_eq!(
        reader.read_hashes(&[beyond]),
        Err(MerkleError::MissingHash(beyond))
    );
    let incomplete = stored_hash_index(4, t / 16);
    assert_eq!(
        reader.read_hashes(&[incomplete]),
        Err(MerkleError::MissingHash(incomplete))
    );
    assert_eq!(
        reader.read_hashes(&[u64::MAX]),
        Err(MerkleError::MissingHash(u64::MAX))
    );
    assert_eq!(reader.read_hashes(&[]), Ok(vec![]));
    // The empty tree has no hashes.
    let empty = TileHashReader::new(0, truce_log::merkle::empty_root(), &server);
    assert_eq!(empty.read_hashes(&[0]), Err(MerkleError::MissingHash(0)));

    // Verified tiles: the tiles as they are at this size, nothing else.
    let t0 = tile_for(TileLevel::Hash(0), 3, t).unwrap();
    assert!(!t0.is_full());
    let data = reader.read_verified_tiles(&[t0]).unwrap();
    assert_eq!(data, vec![read_tile_data(&t0, &log().store).unwrap()]);
    let stale = tile(TileLevel::Hash(0), 3, 5);
    assert_eq!(
        reader.read_verified_tiles(&[stale]),
        Err(TileError::NotInTree {
            tile: stale,
            tree_size: t
        })
    );
    let e = tile(TileLevel::Entries, 0, 256);
    assert_eq!(
        reader.read_verified_tiles(&[e]),
        Err(TileError::WrongKind(e))
    );
}
