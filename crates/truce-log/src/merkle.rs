//! The ledger's Merkle tree: RFC 6962 hashing, proofs with RFC 9162 verification, and the
//! stored-hash layout of Go's `golang.org/x/mod/sumdb/tlog` (DESIGN §7).
//!
//! # Hashing
//! Leaves hash as SHA-256(0x00 || data) ([`crate::leaf::leaf_hash`]), interior nodes as
//! SHA-256(0x01 || left || right) ([`node_hash`]). The tree over `n` leaves splits at the largest
//! power of two smaller than `n` (RFC 6962 §2.1), so every tree is a sequence of *perfect*
//! subtrees, one per set bit of `n`, largest (leftmost) first. The empty tree hashes to
//! SHA-256("") ([`empty_root`]).
//!
//! # Stored hashes
//! Every perfect subtree's hash is written exactly once, when its last leaf is appended, and
//! never changes afterwards: the node at `level` L with index `n` (covering leaves
//! `n·2^L .. (n+1)·2^L`) lives at the dense position [`stored_hash_index`]`(L, n)`. Appending leaf
//! `n` writes `1 + trailing_ones(n)` hashes at consecutive positions starting at
//! `stored_hash_index(0, n)`, so the store is append-only and a tree of size `n` has exactly
//! [`stored_hash_count`]`(n)` hashes. Any root, inclusion proof or consistency proof of any
//! earlier size is computed from these hashes alone (a non-perfect subtree is re-hashed from the
//! perfect ones it decomposes into). The layout is the one of Go's `tlog` package (after Crosby
//! and Wallach), so both read the same storage.
//!
//! # Appending without reading
//! The sequencer keeps a [`Frontier`]: the hashes of the perfect subtrees of the current tree
//! (at most 64). That is enough to compute the hashes to store for each new leaf and the new root,
//! so integrating a batch never reads storage; [`Frontier::from_hashes`] rebuilds it after a
//! restart from `popcount(size)` stored hashes.
//!
//! # Verification
//! [`check_record`] and [`check_tree`] take hostile input: any sizes, any proof length. They follow
//! the RFC 9162 §2.1.3.2 and §2.1.4.2 algorithms, check the proof length against the length the
//! sizes imply before hashing anything, and never panic. Inclusion needs `index < size`;
//! consistency needs `1 <= old size <= new size` (an empty tree has no consistency proof, as in
//! RFC 9162 and Go's `tlog.CheckTree`; equal sizes need an empty proof and equal roots).
//!
//! # Size limit
//! Stored-hash positions are `u64`, and a tree of `2^63` leaves already has `2^64 - 1` stored
//! hashes; so functions that touch stored hashes refuse trees larger than [`MAX_TREE_SIZE`].
//! Verification has no such limit.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// Bytes in a hash.
pub const HASH_SIZE: usize = 32;

/// A SHA-256 hash: of a leaf, of an interior node, or of a whole tree.
pub type Hash = [u8; HASH_SIZE];

/// The largest tree whose stored hashes can be addressed with `u64` positions: `2^63` leaves.
pub const MAX_TREE_SIZE: u64 = 1 << 63;

/// Why a Merkle operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MerkleError {
    /// A hash was not 32 bytes long.
    BadHashLength(usize),
    /// An inclusion proof was asked or checked for a leaf index not below the tree size.
    LeafIndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        tree_size: u64,
    },
    /// A consistency proof needs `1 <= old_size <= new_size`.
    BadTreeSizes {
        /// The size of the earlier tree.
        old_size: u64,
        /// The size of the later tree.
        new_size: u64,
    },
    /// The tree exceeds [`MAX_TREE_SIZE`].
    TreeTooLarge(u64),
    /// A proof does not have the number of hashes its tree sizes and index require.
    WrongProofLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes the sizes and index require.
        want: usize,
    },
    /// An inclusion proof (or equal-size consistency check) leads to another root.
    RootMismatch,
    /// A consistency proof does not lead to the earlier tree's root.
    OldRootMismatch,
    /// A consistency proof does not lead to the later tree's root.
    NewRootMismatch,
    /// A hash reader has no hash at this stored-hash position.
    MissingHash(u64),
    /// A hash reader returned another number of hashes than asked for.
    ReaderCount {
        /// Hashes asked for.
        want: usize,
        /// Hashes returned.
        got: usize,
    },
    /// A hash reader failed (I/O, network, …).
    Storage(String),
    /// A hash reader's data contradicts the trusted tree hash it is checked against: evidence
    /// that the log served inconsistent data.
    Inconsistent(String),
}

impl fmt::Display for MerkleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MerkleError::BadHashLength(n) => {
                write!(f, "hash of {n} bytes, expected {HASH_SIZE}")
            }
            MerkleError::LeafIndexOutOfRange { index, tree_size } => {
                write!(f, "leaf index {index} is not in a tree of size {tree_size}")
            }
            MerkleError::BadTreeSizes { old_size, new_size } => write!(
                f,
                "no consistency proof from size {old_size} to size {new_size} \
                 (needs 1 <= old size <= new size)"
            ),
            MerkleError::TreeTooLarge(n) => {
                write!(f, "tree size {n} exceeds the maximum {MAX_TREE_SIZE}")
            }
            MerkleError::WrongProofLength { got, want } => {
                write!(f, "proof has {got} hashes, expected {want}")
            }
            MerkleError::RootMismatch => f.write_str("proof does not lead to the tree root"),
            MerkleError::OldRootMismatch => {
                f.write_str("consistency proof does not lead to the old tree root")
            }
            MerkleError::NewRootMismatch => {
                f.write_str("consistency proof does not lead to the new tree root")
            }
            MerkleError::MissingHash(i) => write!(f, "no stored hash at index {i}"),
            MerkleError::ReaderCount { want, got } => {
                write!(f, "hash reader returned {got} hashes for {want} indexes")
            }
            MerkleError::Storage(why) => write!(f, "reading stored hashes: {why}"),
            MerkleError::Inconsistent(why) => write!(f, "log data is inconsistent: {why}"),
        }
    }
}

impl std::error::Error for MerkleError {}

/// SHA-256(0x01 || left || right), the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree, SHA-256 of the empty string (RFC 6962 §2.1).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Reads a hash from bytes, refusing any length other than 32.
pub fn hash_from_slice(bytes: &[u8]) -> Result<Hash, MerkleError> {
    Hash::try_from(bytes).map_err(|_| MerkleError::BadHashLength(bytes.len()))
}

// ---------------------------------------------------------------------------------------------
// Stored-hash layout
// ---------------------------------------------------------------------------------------------

/// Position of leaf `m`'s own hash: all hashes stored before it are those of the perfect subtrees
/// within leaves `0..m`, that is `m + m/2 + m/4 + …` = `2m - popcount(m)`. Exact in `u128`.
fn leaf_position(m: u64) -> u128 {
    2 * u128::from(m) - u128::from(m.count_ones())
}

/// The dense storage position of the hash of the node at `level` with index `n` (the perfect
/// subtree over leaves `n·2^level .. (n+1)·2^level`).
///
/// Defined for nodes of trees up to [`MAX_TREE_SIZE`] leaves, that is `(n+1)·2^level <= 2^63`;
/// outside that domain it returns `u64::MAX`, a position no store reaches (never panics).
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    checked_stored_hash_index(level, n).unwrap_or(u64::MAX)
}

/// [`stored_hash_index`], or `None` outside its domain.
pub(crate) fn checked_stored_hash_index(level: u8, n: u64) -> Option<u64> {
    // The node is stored right after its last leaf, (n+1)·2^level − 1, and the `level` − 1 nodes
    // that this leaf completes below it.
    let end = n
        .checked_add(1)?
        .checked_mul(1u64.checked_shl(u32::from(level))?)?;
    if end > MAX_TREE_SIZE {
        return None;
    }
    let position = leaf_position(end - 1) + u128::from(level);
    u64::try_from(position).ok()
}

/// The inverse of [`stored_hash_index`]: the `(level, n)` of the node stored at `index`.
pub fn split_stored_hash_index(index: u64) -> (u8, u64) {
    // Find the leaf m that wrote this position: the last m with leaf_position(m) <= index. As
    // 2m - 64 <= leaf_position(m) <= 2m, it lies in [index/2, index/2 + 33].
    let target = u128::from(index);
    let mut m = index / 2;
    while m < u64::MAX && leaf_position(m + 1) <= target {
        m += 1;
    }
    // Leaf m wrote the level-0 hash and then one hash per level it completed: offset = level.
    let offset = target.saturating_sub(leaf_position(m));
    let level = u8::try_from(offset.min(63)).unwrap_or(63);
    (level, m >> level)
}

/// The number of stored hashes of a tree of `n` leaves: `2n - popcount(n)`.
///
/// Exact for `n <= MAX_TREE_SIZE`; larger sizes saturate at `u64::MAX`.
pub fn stored_hash_count(n: u64) -> u64 {
    u64::try_from(leaf_position(n)).unwrap_or(u64::MAX)
}

/// Reads stored hashes through a log's storage (a database, a file, an in-memory vector, tiles…).
pub trait HashReader {
    /// Returns the hashes at the given stored-hash positions, in the same order, exactly one per
    /// index, or an error. Callers ask for ascending positions where they can.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError>;
}

impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.get(i))
                    .copied()
                    .ok_or(MerkleError::MissingHash(i))
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.as_slice().read_hashes(indexes)
    }
}

impl<T: HashReader + ?Sized> HashReader for &T {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        (**self).read_hashes(indexes)
    }
}

/// Reads exactly `indexes.len()` hashes (none without calling the reader).
fn read_exact(r: &dyn HashReader, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = r.read_hashes(indexes)?;
    if hashes.len() != indexes.len() {
        return Err(MerkleError::ReaderCount {
            want: indexes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes)
}

fn check_size(n: u64) -> Result<(), MerkleError> {
    if n > MAX_TREE_SIZE {
        return Err(MerkleError::TreeTooLarge(n));
    }
    Ok(())
}

/// The hashes to store when leaf `n` (0-based) with hash `leaf_hash` is appended: the leaf hash
/// itself, then the hash of each perfect subtree the leaf completes, lowest first. They go to
/// consecutive positions from `stored_hash_index(0, n)`. Reads `trailing_ones(n)` earlier hashes
/// (the left siblings); a [`Frontier`] computes the same without reading.
pub fn stored_hashes_for_record(
    n: u64,
    leaf_hash: Hash,
    r: &dyn HashReader,
) -> Result<Vec<Hash>, MerkleError> {
    if n >= MAX_TREE_SIZE {
        return Err(MerkleError::TreeTooLarge(n.saturating_add(1)));
    }
    let completed = n.trailing_ones();
    // Left sibling at level i: node (i, (n >> i) - 1); n >> i is odd for i < completed. Highest
    // level first, which is ascending storage order.
    let indexes: Vec<u64> = (0..completed)
        .rev()
        .map(|i| stored_hash_index(i as u8, (n >> i) - 1))
        .collect();
    let siblings = read_exact(r, &indexes)?;
    let mut out = Vec::with_capacity(siblings.len() + 1);
    let mut h = leaf_hash;
    out.push(h);
    for left in siblings.iter().rev() {
        h = node_hash(left, &h);
        out.push(h);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Trees and proofs from stored hashes
// ---------------------------------------------------------------------------------------------

/// Appends the positions of the perfect subtrees that make up leaves `lo..hi`, left to right.
/// Every range used here starts at a multiple of the largest power of two in `hi - lo`, so the
/// greedy split yields perfect, aligned subtrees.
fn range_indexes(mut lo: u64, hi: u64, out: &mut Vec<u64>) {
    while lo < hi {
        let level = 63 - (hi - lo).leading_zeros();
        debug_assert_eq!(lo & ((1u64 << level) - 1), 0, "unaligned range");
        out.push(stored_hash_index(level as u8, lo >> level));
        lo += 1u64 << level;
    }
}

/// Hash of a sequence of perfect subtrees, left to right (largest first), as RFC 6962 combines
/// them: `h0 · (h1 · (h2 · …))`. The empty sequence gives the empty tree's hash.
fn fold_subtrees(hashes: &[Hash]) -> Hash {
    let mut iter = hashes.iter().rev();
    let Some(last) = iter.next() else {
        return empty_root();
    };
    iter.fold(*last, |acc, left| node_hash(left, &acc))
}

/// The largest power of two strictly smaller than `size` (`size >= 2`).
fn split_point(size: u64) -> u64 {
    1u64 << (63 - (size - 1).leading_zeros())
}

/// The root hash of the tree of size `n`, from its `popcount(n)` stored subtree hashes.
pub fn tree_hash(n: u64, r: &dyn HashReader) -> Result<Hash, MerkleError> {
    check_size(n)?;
    let mut indexes = Vec::with_capacity(n.count_ones() as usize);
    range_indexes(0, n, &mut indexes);
    let hashes = read_exact(r, &indexes)?;
    Ok(fold_subtrees(&hashes))
}

/// Computes the hashes of the given leaf ranges with one read.
fn range_hashes(ranges: &[(u64, u64)], r: &dyn HashReader) -> Result<Vec<Hash>, MerkleError> {
    let mut indexes = Vec::new();
    let mut counts = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges {
        let before = indexes.len();
        range_indexes(lo, hi, &mut indexes);
        counts.push(indexes.len() - before);
    }
    let hashes = read_exact(r, &indexes)?;
    let mut rest = hashes.as_slice();
    let mut out = Vec::with_capacity(ranges.len());
    for count in counts {
        let (these, tail) = rest
            .split_at_checked(count)
            .ok_or(MerkleError::ReaderCount {
                want: indexes.len(),
                got: hashes.len(),
            })?;
        out.push(fold_subtrees(these));
        rest = tail;
    }
    Ok(out)
}

/// The leaf ranges whose hashes make up the inclusion proof of leaf `n` in a tree of size `t`
/// (RFC 6962 §2.1.1 `PATH`), nearest the leaf first. Needs `n < t`.
fn inclusion_ranges(t: u64, n: u64) -> Vec<(u64, u64)> {
    let (mut lo, mut hi) = (0, t);
    let mut out = Vec::new();
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if n < lo + k {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            lo += k;
        }
    }
    out.reverse();
    out
}

/// The leaf ranges whose hashes make up the consistency proof from size `n` to size `t`
/// (RFC 6962 §2.1.2 `SUBPROOF`), deepest first. Needs `1 <= n <= t`.
fn consistency_ranges(t: u64, n: u64) -> Vec<(u64, u64)> {
    let (mut lo, mut hi) = (0, t);
    // Whether [lo, hi) still starts at leaf 0, i.e. its old part is the whole old tree, whose
    // hash the verifier already has.
    let mut whole_old_tree = true;
    let mut out = Vec::new();
    while n != hi {
        let k = split_point(hi - lo);
        if n <= lo + k {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            lo += k;
            whole_old_tree = false;
        }
    }
    if !whole_old_tree {
        out.push((lo, hi));
    }
    out.reverse();
    out
}

/// The inclusion proof (RFC 6962 audit path) of leaf `n` in the tree of size `t`.
pub fn prove_record(t: u64, n: u64, r: &dyn HashReader) -> Result<Vec<Hash>, MerkleError> {
    check_size(t)?;
    if n >= t {
        return Err(MerkleError::LeafIndexOutOfRange {
            index: n,
            tree_size: t,
        });
    }
    range_hashes(&inclusion_ranges(t, n), r)
}

/// The consistency proof from the tree of size `n` to the tree of size `t` (`1 <= n <= t`; empty
/// when `n == t`).
pub fn prove_tree(t: u64, n: u64, r: &dyn HashReader) -> Result<Vec<Hash>, MerkleError> {
    check_size(t)?;
    if n == 0 || n > t {
        return Err(MerkleError::BadTreeSizes {
            old_size: n,
            new_size: t,
        });
    }
    range_hashes(&consistency_ranges(t, n), r)
}

// ---------------------------------------------------------------------------------------------
// Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)
// ---------------------------------------------------------------------------------------------

/// Number of hashes in the inclusion proof of leaf `n` in a tree of size `t` (`n < t`): one per
/// level below the point where the paths to `n` and to the last leaf part (`inner`), plus one
/// per left sibling above it (the set bits of `n` there).
fn inclusion_proof_len(t: u64, n: u64) -> usize {
    let inner = 64 - (n ^ (t - 1)).leading_zeros();
    let border = n.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// Number of hashes in the consistency proof from `n` to `t` (`0 < n < t`). The old tree's last
/// perfect subtree (`2^tz(n)` leaves ending at leaf `n - 1`) is shared by both trees; the proof is
/// its hash (left out when it is the whole old tree, i.e. `n` is a power of two) followed by that
/// node's inclusion path in the new tree.
fn consistency_proof_len(t: u64, n: u64) -> usize {
    let shift = n.trailing_zeros();
    let full = inclusion_proof_len(t, n - 1);
    let seed = usize::from(!n.is_power_of_two());
    // full > shift: the shared subtree lies strictly below the point where the paths to leaf
    // n - 1 and to the new tree's last leaf part.
    (seed + full).saturating_sub(shift as usize)
}

/// Checks that `proof` proves leaf `n` with hash `leaf_hash` is in the tree of size `t` with root
/// `root`. Accepts exactly the valid proofs.
pub fn check_record(
    proof: &[Hash],
    t: u64,
    root: &Hash,
    n: u64,
    leaf_hash: &Hash,
) -> Result<(), MerkleError> {
    if n >= t {
        return Err(MerkleError::LeafIndexOutOfRange {
            index: n,
            tree_size: t,
        });
    }
    let want = inclusion_proof_len(t, n);
    if proof.len() != want {
        return Err(MerkleError::WrongProofLength {
            got: proof.len(),
            want,
        });
    }
    // RFC 9162 §2.1.3.2.
    let (mut fn_, mut sn) = (n, t - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return Err(MerkleError::WrongProofLength {
                got: proof.len(),
                want,
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::WrongProofLength {
            got: proof.len(),
            want,
        });
    }
    if r != *root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// Checks that `proof` proves the tree of size `t` with root `root_t` extends the tree of size `n`
/// with root `root_n`. Needs `1 <= n <= t`; for `n == t` the proof must be empty and the roots
/// equal. Accepts exactly the valid proofs.
pub fn check_tree(
    proof: &[Hash],
    t: u64,
    root_t: &Hash,
    n: u64,
    root_n: &Hash,
) -> Result<(), MerkleError> {
    if n == 0 || n > t {
        return Err(MerkleError::BadTreeSizes {
            old_size: n,
            new_size: t,
        });
    }
    if n == t {
        if !proof.is_empty() {
            return Err(MerkleError::WrongProofLength {
                got: proof.len(),
                want: 0,
            });
        }
        if root_n != root_t {
            return Err(MerkleError::RootMismatch);
        }
        return Ok(());
    }
    let want = consistency_proof_len(t, n);
    let wrong_length = MerkleError::WrongProofLength {
        got: proof.len(),
        want,
    };
    if proof.len() != want {
        return Err(wrong_length);
    }
    // RFC 9162 §2.1.4.2. Step 2 prepends the old root when n is a power of two: the path then
    // starts from it instead of from proof[0].
    let (seed, rest) = if n.is_power_of_two() {
        (root_n, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (first, rest),
            None => return Err(wrong_length),
        }
    };
    let (mut fn_, mut sn) = (n - 1, t - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if sn == 0 {
            return Err(wrong_length);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(wrong_length);
    }
    if fr != *root_n {
        return Err(MerkleError::OldRootMismatch);
    }
    if sr != *root_t {
        return Err(MerkleError::NewRootMismatch);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Frontier
// ---------------------------------------------------------------------------------------------

/// The right edge of the tree (a "compact range" over all leaves): the hashes of its perfect
/// subtrees, largest first, one per set bit of the size.
///
/// Invariant: `hashes.len() == size.count_ones()` and `size <= MAX_TREE_SIZE`; `hashes[i]` is the
/// stored hash of the `i`-th perfect subtree of the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds the frontier of the tree of `size` leaves from storage (`popcount(size)` reads).
    pub fn from_hashes(size: u64, r: &dyn HashReader) -> Result<Frontier, MerkleError> {
        check_size(size)?;
        let mut indexes = Vec::with_capacity(size.count_ones() as usize);
        range_indexes(0, size, &mut indexes);
        let hashes = read_exact(r, &indexes)?;
        Ok(Frontier { size, hashes })
    }

    /// A frontier from its parts, as returned by [`Frontier::size`] and [`Frontier::hashes`].
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Frontier, MerkleError> {
        check_size(size)?;
        let want = size.count_ones() as usize;
        if hashes.len() != want {
            return Err(MerkleError::ReaderCount {
                want,
                got: hashes.len(),
            });
        }
        Ok(Frontier { size, hashes })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect subtrees' hashes, largest (leftmost) first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The tree's root hash ([`empty_root`] for the empty tree).
    pub fn root(&self) -> Hash {
        fold_subtrees(&self.hashes)
    }

    /// Appends a leaf and returns the `(stored index, hash)` pairs to persist: the leaf hash and
    /// the hashes of the subtrees it completes, at consecutive positions starting at
    /// `stored_hash_count(old size)`.
    pub fn push(&mut self, leaf_hash: Hash) -> Result<Vec<(u64, Hash)>, MerkleError> {
        let n = self.size;
        if n >= MAX_TREE_SIZE {
            return Err(MerkleError::TreeTooLarge(n.saturating_add(1)));
        }
        let base = stored_hash_count(n);
        let mut out = Vec::with_capacity(n.trailing_ones() as usize + 1);
        out.push((base, leaf_hash));
        let h = self.append(leaf_hash, |level, h| out.push((base + level, h)));
        self.hashes.push(h);
        self.size = n + 1;
        Ok(out)
    }

    /// Merges `leaf_hash` with the subtrees it completes (the smallest `trailing_ones(size)` ones,
    /// which the invariant guarantees are the last hashes), reporting each new node by its
    /// level, and returns the new last subtree's hash; the caller pushes it and bumps the size.
    fn append(&mut self, leaf_hash: Hash, mut on_node: impl FnMut(u64, Hash)) -> Hash {
        let completed = self.size.trailing_ones() as usize;
        let keep = self.hashes.len().saturating_sub(completed);
        let mut h = leaf_hash;
        for (level, left) in self.hashes.drain(keep..).rev().enumerate() {
            h = node_hash(&left, &h);
            on_node(level as u64 + 1, h);
        }
        h
    }
}

/// The root hash of the tree whose leaf hashes (or, equally, whose perfect subtrees of one
/// common size) are given, left to right: what an auditor computes from entry bundles or
/// level-0 tiles.
pub fn root_from_leaf_hashes(leaf_hashes: &[Hash]) -> Hash {
    let mut frontier = Frontier::new();
    for h in leaf_hashes {
        let top = frontier.append(*h, |_, _| {});
        frontier.hashes.push(top);
        frontier.size += 1;
    }
    frontier.root()
}
