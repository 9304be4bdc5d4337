//! Properties of the Merkle tree: proofs of random trees verify, every tampering is refused,
//! the frontier agrees with stored hashes, the stored-hash layout is a bijection, and everything
//! agrees with an independent RFC 6962 implementation (the `ct-merkle` crate) and with a direct
//! transcription of the RFC's recursive definitions.

use std::sync::OnceLock;

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use proptest::prelude::*;
use sha2::Sha256;
use truce_log::leaf::leaf_hash;
use truce_log::merkle::{
    Frontier, Hash, HashReader, MAX_TREE_SIZE, MerkleError, check_record, check_tree, empty_root,
    node_hash, prove_record, prove_tree, root_from_leaf_hashes, split_stored_hash_index,
    stored_hash_count, stored_hash_index, stored_hashes_for_record, tree_hash,
};

/// RFC 6962 §2.1 MTH, transcribed.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// A tree built by pushing leaves into a frontier, with everything it stored.
struct Tree {
    leaves: Vec<Vec<u8>>,
    leaf_hashes: Vec<Hash>,
    store: Vec<Hash>,
    roots: Vec<Hash>,
}

impl Tree {
    fn build(leaves: Vec<Vec<u8>>) -> Tree {
        let mut f = Frontier::new();
        let mut store: Vec<Hash> = Vec::new();
        let mut roots = vec![f.root()];
        let mut leaf_hashes = Vec::new();
        for (n, leaf) in leaves.iter().enumerate() {
            let h = leaf_hash(leaf);
            leaf_hashes.push(h);
            let by_reading = stored_hashes_for_record(n as u64, h, &store).unwrap();
            let pushed = f.push(h).unwrap();
            assert_eq!(
                pushed.iter().map(|p| p.1).collect::<Vec<_>>(),
                by_reading,
                "leaf {n}"
            );
            for (i, h) in pushed {
                assert_eq!(i, store.len() as u64, "stored hashes are contiguous");
                store.push(h);
            }
            assert_eq!(store.len() as u64, stored_hash_count(n as u64 + 1));
            roots.push(f.root());
        }
        Tree {
            leaves,
            leaf_hashes,
            store,
            roots,
        }
    }

    fn size(&self) -> u64 {
        self.leaves.len() as u64
    }
}

fn leaf_data(i: u64) -> Vec<u8> {
    // Varied lengths, including the empty leaf.
    let len = (i * 7 % 23) as usize;
    (0..len)
        .map(|j| (i as u8).wrapping_mul(31).wrapping_add(j as u8))
        .collect()
}

const BIG: u64 = 4500;

/// One tree of 4,500 leaves: every prefix of it is a tree too.
fn big() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| Tree::build((0..BIG).map(leaf_data).collect()))
}

fn ct_tree(leaves: &[Vec<u8>]) -> MemoryBackedTree<Sha256, Vec<u8>> {
    let mut t = MemoryBackedTree::new();
    for l in leaves {
        t.push(l.clone());
    }
    t
}

fn concat(hashes: &[Hash]) -> Vec<u8> {
    hashes.concat()
}

fn flip(proof: &[Hash], at: usize, bit: u8) -> Vec<Hash> {
    let mut p = proof.to_vec();
    let i = at % p.len();
    p[i][(bit / 8) as usize % 32] ^= 1 << (bit % 8);
    p
}

/// Size and an index in it, within the big tree.
fn size_and_index() -> impl Strategy<Value = (u64, u64)> {
    (1..=BIG).prop_flat_map(|t| (Just(t), 0..t))
}

/// Old and new size, 1 <= n <= t, within the big tree.
fn sizes() -> impl Strategy<Value = (u64, u64)> {
    (1..=BIG).prop_flat_map(|t| (Just(t), 1..=t))
}

#[test]
fn roots_match_the_rfc_definition() {
    let tree = big();
    for t in (0..=300).chain([511, 512, 513, 1000, 1023, 1024, 1025, 4095, 4096, 4097, BIG]) {
        let want = mth(&tree.leaf_hashes[..t as usize]);
        assert_eq!(tree.roots[t as usize], want, "frontier root, size {t}");
        assert_eq!(
            tree_hash(t, &tree.store).unwrap(),
            want,
            "tree_hash, size {t}"
        );
        assert_eq!(root_from_leaf_hashes(&tree.leaf_hashes[..t as usize]), want);
    }
}

#[test]
fn agrees_with_ct_merkle_at_every_size() {
    // Grow a ct-merkle tree leaf by leaf up to 2,100 leaves; at each size compare the root, one
    // inclusion proof and one consistency proof (index and old size vary with the size).
    let tree = big();
    let mut ct = MemoryBackedTree::<Sha256, Vec<u8>>::new();
    for t in 1..=2100u64 {
        ct.push(tree.leaves[t as usize - 1].clone());
        let root = ct.root();
        assert_eq!(
            root.as_bytes().as_slice(),
            &tree.roots[t as usize],
            "root {t}"
        );

        let n = (t * 2_654_435_761) % t;
        let ours = prove_record(t, n, &tree.store).unwrap();
        let theirs = ct.prove_inclusion(n as usize);
        assert_eq!(
            theirs.as_bytes(),
            concat(&ours).as_slice(),
            "inclusion {n} in {t}"
        );
        root.verify_inclusion(&tree.leaves[n as usize], n, &theirs)
            .unwrap();

        if t > 1 {
            let old = 1 + (t * 40_503) % (t - 1);
            let ours = prove_tree(t, old, &tree.store).unwrap();
            let theirs = ct.prove_consistency((t - old) as usize);
            assert_eq!(
                theirs.as_bytes(),
                concat(&ours).as_slice(),
                "consistency {old}->{t}"
            );
        }
    }
}

#[test]
fn empty_and_tiny_trees() {
    let tree = big();
    assert_eq!(tree_hash(0, &tree.store).unwrap(), empty_root());
    assert_eq!(Frontier::new().root(), empty_root());
    assert_eq!(root_from_leaf_hashes(&[]), empty_root());
    assert_eq!(
        prove_record(0, 0, &tree.store),
        Err(MerkleError::LeafIndexOutOfRange {
            index: 0,
            tree_size: 0
        })
    );
    assert_eq!(
        prove_tree(5, 0, &tree.store),
        Err(MerkleError::BadTreeSizes {
            old_size: 0,
            new_size: 5
        })
    );
    assert_eq!(
        prove_tree(5, 6, &tree.store),
        Err(MerkleError::BadTreeSizes {
            old_size: 6,
            new_size: 5
        })
    );
    // Size 1: the root is the leaf hash and the proof is empty.
    assert_eq!(prove_record(1, 0, &tree.store).unwrap(), Vec::<Hash>::new());
    let leaf = tree.leaf_hashes[0];
    assert_eq!(check_record(&[], 1, &leaf, 0, &leaf), Ok(()));
    // The empty tree has no consistency proof, even to itself.
    let e = empty_root();
    assert!(check_tree(&[], 0, &e, 0, &e).is_err());
    assert!(check_tree(&[], 1, &leaf, 0, &e).is_err());
    // Equal sizes: empty proof, equal roots.
    assert_eq!(prove_tree(7, 7, &tree.store).unwrap(), Vec::<Hash>::new());
    let r7 = tree.roots[7];
    assert_eq!(check_tree(&[], 7, &r7, 7, &r7), Ok(()));
    assert!(check_tree(&[r7], 7, &r7, 7, &r7).is_err());
}

#[test]
fn reader_errors_are_reported() {
    let tree = big();
    let short: &[Hash] = &tree.store[..10];
    assert_eq!(
        tree_hash(100, &short),
        Err(MerkleError::MissingHash(stored_hash_index(6, 0)))
    );
    struct Liar;
    impl HashReader for Liar {
        fn read_hashes(&self, _: &[u64]) -> Result<Vec<Hash>, MerkleError> {
            Ok(vec![[0; 32]])
        }
    }
    assert_eq!(
        tree_hash(7, &Liar),
        Err(MerkleError::ReaderCount { want: 3, got: 1 })
    );
    assert!(matches!(
        Frontier::from_hashes(7, &Liar),
        Err(MerkleError::ReaderCount { .. })
    ));
    assert!(matches!(
        tree_hash(MAX_TREE_SIZE + 1, &tree.store),
        Err(MerkleError::TreeTooLarge(_))
    ));
}

#[test]
fn stored_hash_layout() {
    // The first positions, as in Go's tlog: leaf 0, leaf 1, node(1,0), leaf 2, leaf 3,
    // node(1,1), node(2,0), leaf 4…
    let want = [
        (0, 0),
        (0, 1),
        (1, 0),
        (0, 2),
        (0, 3),
        (1, 1),
        (2, 0),
        (0, 4),
        (0, 5),
        (1, 2),
        (0, 6),
        (0, 7),
        (1, 3),
        (2, 1),
        (3, 0),
    ];
    for (i, &(level, n)) in want.iter().enumerate() {
        assert_eq!(stored_hash_index(level, n), i as u64);
        assert_eq!(split_stored_hash_index(i as u64), (level, n));
    }
    // Every position of a 5,000-leaf tree maps to a node and back.
    for i in 0..stored_hash_count(5000) {
        let (level, n) = split_stored_hash_index(i);
        assert_eq!(stored_hash_index(level, n), i);
    }
    // The largest tree: its root is the last of 2^64 - 1 hashes.
    assert_eq!(stored_hash_count(MAX_TREE_SIZE), u64::MAX);
    assert_eq!(stored_hash_index(63, 0), u64::MAX - 1);
    assert_eq!(split_stored_hash_index(u64::MAX - 1), (63, 0));
    assert_eq!(stored_hash_index(0, MAX_TREE_SIZE - 1), u64::MAX - 64);
    // Beyond the domain: no panic.
    assert_eq!(stored_hash_index(64, 0), u64::MAX);
    assert_eq!(stored_hash_index(0, MAX_TREE_SIZE), u64::MAX);
    assert_eq!(stored_hash_index(200, u64::MAX), u64::MAX);
    let _ = split_stored_hash_index(u64::MAX);
    let _ = stored_hash_count(u64::MAX);
}

#[test]
fn frontier_rebuild_and_parts() {
    let tree = big();
    for size in [0u64, 1, 2, 3, 255, 256, 257, 1000, 4095, 4096, BIG] {
        let f = Frontier::from_hashes(size, &tree.store).unwrap();
        assert_eq!(f.size(), size);
        assert_eq!(f.root(), tree.roots[size as usize]);
        assert_eq!(f.hashes().len(), size.count_ones() as usize);
        let again = Frontier::from_parts(size, f.hashes().to_vec()).unwrap();
        assert_eq!(again, f);
        // Continuing from the rebuilt frontier stores the same hashes as the original run.
        if size < BIG {
            let mut g = f.clone();
            let pushed = g.push(tree.leaf_hashes[size as usize]).unwrap();
            for (i, h) in pushed {
                assert_eq!(tree.store[i as usize], h);
            }
            assert_eq!(g.root(), tree.roots[size as usize + 1]);
        }
    }
    assert!(Frontier::from_parts(3, vec![[0; 32]]).is_err());
    assert!(Frontier::from_parts(MAX_TREE_SIZE + 1, vec![[0; 32]; 2]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn inclusion_proofs_verify_and_tampering_fails(
        (t, n) in size_and_index(),
        at in any::<usize>(),
        bit in any::<u8>(),
        other in any::<u64>(),
        extra in any::<[u8; 32]>(),
    ) {
        let tree = big();
        let root = tree.roots[t as usize];
        let leaf = tree.leaf_hashes[n as usize];
        let proof = prove_record(t, n, &tree.store).unwrap();
        prop_assert_eq!(check_record(&proof, t, &root, n, &leaf), Ok(()));
        // At most the tree's depth, ceil(log2 t).
        prop_assert!(proof.len() <= (64 - (t - 1).leading_zeros()) as usize);

        if !proof.is_empty() {
            prop_assert!(check_record(&flip(&proof, at, bit), t, &root, n, &leaf).is_err());
            prop_assert!(check_record(&proof[..proof.len() - 1], t, &root, n, &leaf).is_err());
            prop_assert!(check_record(&proof[1..], t, &root, n, &leaf).is_err());
        }
        let mut longer = proof.clone();
        longer.push(extra);
        prop_assert!(check_record(&longer, t, &root, n, &leaf).is_err());
        let mut longer = vec![extra];
        longer.extend_from_slice(&proof);
        prop_assert!(check_record(&longer, t, &root, n, &leaf).is_err());

        // Another leaf hash, another root.
        let mut bad = leaf;
        bad[(bit % 32) as usize] ^= 1;
        prop_assert!(check_record(&proof, t, &root, n, &bad).is_err());
        prop_assert!(check_record(&proof, t, &bad, n, &leaf).is_err());

        // Another index, with this leaf and root: refused.
        let n2 = other % t;
        if n2 != n {
            prop_assert!(check_record(&proof, t, &root, n2, &leaf).is_err());
            // With that index's own leaf: accepted only if the proofs are the same.
            let own = prove_record(t, n2, &tree.store).unwrap();
            let ok = check_record(&proof, t, &root, n2, &tree.leaf_hashes[n2 as usize]).is_ok();
            prop_assert_eq!(ok, own == proof);
        }
        // Another size, with that size's root: accepted only with that size's proof.
        let t2 = 1 + other % BIG;
        if t2 != t && n < t2 {
            let own = prove_record(t2, n, &tree.store).unwrap();
            let ok = check_record(&proof, t2, &tree.roots[t2 as usize], n, &leaf).is_ok();
            prop_assert_eq!(ok, own == proof);
        }
        // Out of range.
        prop_assert!(check_record(&proof, t, &root, t, &leaf).is_err());
        prop_assert!(check_record(&proof, t, &root, t + other % 1000, &leaf).is_err());
        prop_assert!(check_record(&proof, 0, &root, n, &leaf).is_err());
    }

    #[test]
    fn consistency_proofs_verify_and_tampering_fails(
        (t, n) in sizes(),
        at in any::<usize>(),
        bit in any::<u8>(),
        other in any::<u64>(),
        extra in any::<[u8; 32]>(),
    ) {
        let tree = big();
        let (root_t, root_n) = (tree.roots[t as usize], tree.roots[n as usize]);
        let proof = prove_tree(t, n, &tree.store).unwrap();
        prop_assert_eq!(check_tree(&proof, t, &root_t, n, &root_n), Ok(()));
        prop_assert_eq!(proof.is_empty(), n == t);

        if !proof.is_empty() {
            prop_assert!(check_tree(&flip(&proof, at, bit), t, &root_t, n, &root_n).is_err());
            prop_assert!(check_tree(&proof[..proof.len() - 1], t, &root_t, n, &root_n).is_err());
            prop_assert!(check_tree(&proof[1..], t, &root_t, n, &root_n).is_err());
        }
        let mut longer = proof.clone();
        longer.push(extra);
        prop_assert!(check_tree(&longer, t, &root_t, n, &root_n).is_err());
        let mut longer = vec![extra];
        longer.extend_from_slice(&proof);
        prop_assert!(check_tree(&longer, t, &root_t, n, &root_n).is_err());

        // Swapped or altered roots.
        if n != t {
            prop_assert!(check_tree(&proof, t, &root_n, n, &root_t).is_err());
        }
        let mut bad = root_n;
        bad[(bit % 32) as usize] ^= 1;
        prop_assert!(check_tree(&proof, t, &root_t, n, &bad).is_err());
        prop_assert!(check_tree(&proof, t, &bad, n, &root_n).is_err());

        // Other sizes with their real roots: accepted only with their own proof.
        let (t2, n2) = (1 + other % BIG, 1 + (other >> 20) % BIG);
        for (t2, n2) in [(t2, n), (t, n2), (t2, n2)] {
            if n2 <= t2 && (t2, n2) != (t, n) {
                let own = prove_tree(t2, n2, &tree.store).unwrap();
                let ok = check_tree(
                    &proof, t2, &tree.roots[t2 as usize], n2, &tree.roots[n2 as usize],
                ).is_ok();
                prop_assert_eq!(ok, own == proof, "({}, {}) for ({}, {})", t2, n2, t, n);
            }
        }
        // Impossible sizes.
        prop_assert!(check_tree(&proof, n.saturating_sub(1), &root_t, n, &root_n).is_err());
        prop_assert!(check_tree(&proof, t, &root_t, 0, &root_n).is_err());
    }

    #[test]
    fn verification_never_panics(
        t in any::<u64>(),
        n in any::<u64>(),
        small in (0u64..70, 0u64..70),
        proof in prop::collection::vec(any::<[u8; 32]>(), 0..80),
        a in any::<[u8; 32]>(),
        b in any::<[u8; 32]>(),
    ) {
        let _ = check_record(&proof, t, &a, n, &b);
        let _ = check_tree(&proof, t, &a, n, &b);
        let (t2, n2) = small;
        let _ = check_record(&proof, t2, &a, n2, &b);
        let _ = check_tree(&proof, t2, &a, n2, &b);
        let _ = check_record(&proof, u64::MAX, &a, n, &b);
        let _ = check_tree(&proof, u64::MAX, &a, n, &b);
        let _ = check_tree(&proof, u64::MAX, &a, n2.max(1), &b);
    }

    #[test]
    fn stored_hash_index_round_trips(level in 0u8..=62, n in any::<u64>()) {
        // Keep (n + 1) · 2^level <= 2^63.
        let n = n % (1u64 << (63 - level));
        let i = stored_hash_index(level, n);
        prop_assert_ne!(i, u64::MAX);
        prop_assert_eq!(split_stored_hash_index(i), (level, n));
    }
}

proptest! {
    // Each case builds two trees from fresh random leaves: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_small_trees_agree_with_ct_merkle(
        leaves in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..300),
        i in any::<usize>(),
        j in any::<usize>(),
    ) {
        let tree = Tree::build(leaves);
        let ct = ct_tree(&tree.leaves);
        let t = tree.size();
        let root = tree.roots[t as usize];
        prop_assert_eq!(ct.root().as_bytes().to_vec(), root.to_vec());
        prop_assert_eq!(mth(&tree.leaf_hashes), root);
        prop_assert_eq!(tree_hash(t, &tree.store).unwrap(), root);

        let n = (i % t as usize) as u64;
        let ours = prove_record(t, n, &tree.store).unwrap();
        prop_assert_eq!(ct.prove_inclusion(n as usize).as_bytes().to_vec(), concat(&ours));
        prop_assert_eq!(check_record(&ours, t, &root, n, &tree.leaf_hashes[n as usize]), Ok(()));

        if t > 1 {
            let old = 1 + (j % (t as usize - 1)) as u64;
            let ours = prove_tree(t, old, &tree.store).unwrap();
            let theirs = ct.prove_consistency((t - old) as usize);
            prop_assert_eq!(theirs.as_bytes().to_vec(), concat(&ours));
            prop_assert_eq!(check_tree(&ours, t, &root, old, &tree.roots[old as usize]), Ok(()));
        }
    }
}
