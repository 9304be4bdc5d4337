//! Runs every RFC 6962 proof vector of transparency-dev/merkle (tests/vectors/rfc6962, Apache 2.0,
//! see its LICENSE) through `check_record` / `check_tree`: each `wantErr: false` case must be
//! accepted and each `wantErr: true` case rejected.
//!
//! Hashes are decoded with `hash_from_slice`, so a hash that is not 32 bytes is rejected like any
//! other defect. One upstream case cannot be expressed with 32-byte hashes — it calls two
//! 12-byte strings "roots" of a one-leaf tree and expects acceptance because they are equal — so
//! it is listed in `NOT_SHA256` and checked with the same shape and real hashes instead.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use truce_log::leaf::leaf_hash;
use truce_log::merkle::{
    Frontier, Hash, MerkleError, check_record, check_tree, hash_from_slice, prove_record,
    prove_tree,
};

/// Cases whose expected acceptance rests on hashes that are not 32 bytes long.
const NOT_SHA256: &[&str] = &["consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"];

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/rfc6962")
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

fn bytes(v: &Value, key: &str) -> Vec<u8> {
    let s = v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"));
    STANDARD.decode(s).unwrap()
}

fn proof_bytes(v: &Value) -> Vec<Vec<u8>> {
    match &v["proof"] {
        Value::Null => Vec::new(),
        Value::Array(a) => a
            .iter()
            .map(|p| STANDARD.decode(p.as_str().unwrap()).unwrap())
            .collect(),
        other => panic!("proof is {other}"),
    }
}

fn hashes(list: &[Vec<u8>]) -> Result<Vec<Hash>, MerkleError> {
    list.iter().map(|b| hash_from_slice(b)).collect()
}

fn u64_field(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a u64"))
}

fn run_inclusion(v: &Value) -> Result<(), MerkleError> {
    let proof = hashes(&proof_bytes(v))?;
    let root = hash_from_slice(&bytes(v, "root"))?;
    let leaf = hash_from_slice(&bytes(v, "leafHash"))?;
    check_record(
        &proof,
        u64_field(v, "treeSize"),
        &root,
        u64_field(v, "leafIdx"),
        &leaf,
    )
}

fn run_consistency(v: &Value) -> Result<(), MerkleError> {
    let proof = hashes(&proof_bytes(v))?;
    let root1 = hash_from_slice(&bytes(v, "root1"))?;
    let root2 = hash_from_slice(&bytes(v, "root2"))?;
    check_tree(
        &proof,
        u64_field(v, "size2"),
        &root2,
        u64_field(v, "size1"),
        &root1,
    )
}

/// The eight leaves the vectors' trees are built from (transparency-dev/merkle testdata).
fn reference_leaves() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|h| hex::decode(h).unwrap())
    .collect()
}

/// Stored hashes and the root of every prefix of the reference tree.
fn reference_tree() -> (Vec<Hash>, Vec<Hash>) {
    let mut store = Vec::new();
    let mut roots = vec![Frontier::new().root()];
    let mut f = Frontier::new();
    for leaf in reference_leaves() {
        for (i, h) in f.push(leaf_hash(&leaf)).unwrap() {
            assert_eq!(i, store.len() as u64);
            store.push(h);
        }
        roots.push(f.root());
    }
    (store, roots)
}

#[test]
fn every_vector_is_decided_as_expected() {
    let dir = vectors_dir();
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    let (store, roots) = reference_tree();

    let (mut accepted, mut rejected, mut regenerated) = (0, 0, 0);
    let mut mismatches = Vec::new();
    for file in &files {
        let name = file
            .strip_prefix(&dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let v: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().expect("wantErr");
        let result = if name.starts_with("inclusion/") {
            run_inclusion(&v)
        } else if name.starts_with("consistency/") {
            run_consistency(&v)
        } else {
            panic!("unexpected vector {name}");
        };
        match (&result, want_err) {
            (Ok(()), false) => accepted += 1,
            (Err(_), true) => rejected += 1,
            _ => mismatches.push((name.clone(), result.clone())),
        }

        // Where an accepted case is about the reference tree, our prover must produce the very
        // same proof.
        if !want_err && result.is_ok() {
            let proof = hashes(&proof_bytes(&v)).unwrap();
            if name.starts_with("inclusion/") {
                let (t, n) = (u64_field(&v, "treeSize"), u64_field(&v, "leafIdx"));
                if roots.get(t as usize).map(|r| r.as_slice()) == Some(&bytes(&v, "root")[..]) {
                    assert_eq!(prove_record(t, n, &store).unwrap(), proof, "{name}");
                    regenerated += 1;
                }
            } else {
                let (t, n) = (u64_field(&v, "size2"), u64_field(&v, "size1"));
                if roots.get(t as usize).map(|r| r.as_slice()) == Some(&bytes(&v, "root2")[..]) {
                    assert_eq!(prove_tree(t, n, &store).unwrap(), proof, "{name}");
                    regenerated += 1;
                }
            }
        }
    }

    let unexpected: Vec<_> = mismatches
        .iter()
        .filter(|(name, _)| !NOT_SHA256.contains(&name.as_str()))
        .collect();
    assert!(unexpected.is_empty(), "wrongly decided: {unexpected:#?}");
    assert_eq!(
        mismatches
            .iter()
            .map(|(n, r)| (n.as_str(), r.clone()))
            .collect::<Vec<_>>(),
        vec![(NOT_SHA256[0], Err(MerkleError::BadHashLength(12)))],
        "only the non-SHA-256 case differs, and only by hash length"
    );
    assert_eq!(files.len(), 196, "vector files found");
    assert_eq!(accepted + rejected + mismatches.len(), files.len());
    // 12 upstream acceptances (one of them the non-SHA-256 case) and 184 rejections.
    assert_eq!((accepted, rejected), (11, 184));
    assert!(regenerated >= 10, "only {regenerated} proofs regenerated");
}

#[test]
fn the_non_sha256_case_holds_with_real_hashes() {
    // sizes-are-equal-one-and-proof-is-empty: sizes 1 and 1, empty proof, equal roots.
    let root = leaf_hash(b"don't care");
    assert_eq!(check_tree(&[], 1, &root, 1, &root), Ok(()));
    // And its siblings: unequal roots, or a non-empty proof, are refused.
    assert_eq!(
        check_tree(&[], 1, &root, 1, &leaf_hash(b"other")),
        Err(MerkleError::RootMismatch)
    );
    assert!(check_tree(&[root], 1, &root, 1, &root).is_err());
}

#[test]
fn reference_tree_roots() {
    let (_, roots) = reference_tree();
    let want = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    for (size, (root, want)) in roots.iter().zip(want).enumerate() {
        assert_eq!(hex::encode(root), want, "root of size {size}");
    }
}
