//! C2SP tlog-tiles: the log's read API as static, cacheable files (DESIGN §7).
//!
//! Instead of answering proof queries, the log publishes its Merkle tree as *tiles*: a tile at
//! level `L` with index `N` holds up to 256 consecutive hashes of tree level `8L` — the hashes
//! `N·256 .. N·256 + W` of that level, each the root of a perfect subtree of `256^L` leaves. A
//! client fetches the few tiles it needs and computes any root or proof itself (the levels
//! between `8L` and `8L + 8` are re-hashed from the tile). Entry bundles (`tile/entries/N`) hold
//! the leaves whose hashes make up level-0 tile `N`, each as a big-endian `u16` length and its
//! bytes.
//!
//! # Invariants
//! - A *full* tile (256 hashes) never changes once the tree has grown past it, so it is served
//!   with long cache lifetimes; the rightmost tile of a level is *partial* (`.p/<W>`, `1 <= W <=
//!   255`) and is superseded as the tree grows. Which tiles exist for a tree size is a pure
//!   function of the size ([`tiles_for_size`], [`tile_for`], [`new_tiles`]).
//! - Paths have exactly one spelling: [`TileRef::parse`] refuses every other one (leading zeros,
//!   `.p/256`, `.p/0`, junk), so a path names one file and caches cannot be poisoned with
//!   aliases. Levels stop at 7: a tile at level 8 would hold hashes of `2^64` leaves, more than a
//!   `u64` tree has; likewise a tile whose leaves would end beyond `u64::MAX` is refused.
//! - Tile hashes are the stored hashes of [`crate::merkle`]: [`hash_tile_indexes`] lists their
//!   positions, so the server serves tiles straight from its hash store ([`read_tile_data`]).
//! - A client trusts nothing but a checkpoint's (size, root): [`TileHashReader`] reads the tiles
//!   holding the hashes it is asked for, plus what authenticates them (each full tile's parent
//!   hash, up to the partial tiles on the right edge, which together hash to the root), and
//!   refuses any tile that does not fit.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::leaf::leaf_hash;
use crate::merkle::{
    self, HASH_SIZE, Hash, HashReader, MerkleError, checked_stored_hash_index,
    root_from_leaf_hashes, split_stored_hash_index,
};

/// Tree levels per tile: a tile holds 2^8 = 256 hashes.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u16 = 256;
/// The highest hash-tile level a `u64` tree can have.
pub const MAX_TILE_LEVEL: u8 = 7;
/// The largest entry an entry bundle can carry (its length is a `u16`).
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

/// Why a tile operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TileError {
    /// Not the canonical path of a tile.
    BadPath(&'static str),
    /// Not a possible tile (width, level or position out of range).
    BadTile(&'static str),
    /// The tile does not exist, with this width, in a tree of this size.
    NotInTree {
        /// The tile.
        tile: TileRef,
        /// The tree size.
        tree_size: u64,
    },
    /// A hash tile was needed and an entry bundle given, or the reverse.
    WrongKind(TileRef),
    /// A hash tile whose data is not `32 × width` bytes.
    BadTileData {
        /// The tile.
        tile: TileRef,
        /// Its length in bytes.
        len: usize,
    },
    /// A full tile's hashes do not hash to the value its parent tile holds.
    TileMismatch(TileRef),
    /// The right-edge tiles do not hash to the trusted root of this tree size.
    RootMismatch {
        /// The tree size.
        tree_size: u64,
    },
    /// An entry bundle with no entries.
    EmptyBundle,
    /// An entry bundle with more than 256 entries.
    TooManyEntries,
    /// An entry longer than 65,535 bytes.
    EntryTooLarge(usize),
    /// An entry bundle that ends inside a length or an entry.
    TruncatedBundle,
    /// An entry bundle whose number of entries differs from its tile's width.
    BundleCount {
        /// The tile.
        tile: TileRef,
        /// Entries found.
        got: usize,
    },
    /// A tile reader returned another number of tiles than asked for.
    ReaderCount {
        /// Tiles asked for.
        want: usize,
        /// Tiles returned.
        got: usize,
    },
    /// A tile reader failed (I/O, network, …).
    Read(String),
    /// A Merkle-tree operation failed.
    Merkle(MerkleError),
}

impl fmt::Display for TileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TileError::BadPath(why) => write!(f, "bad tile path: {why}"),
            TileError::BadTile(why) => write!(f, "bad tile: {why}"),
            TileError::NotInTree { tile, tree_size } => {
                write!(f, "tile {tile} is not part of a tree of size {tree_size}")
            }
            TileError::WrongKind(tile) => write!(f, "tile {tile} is of the wrong kind here"),
            TileError::BadTileData { tile, len } => write!(
                f,
                "tile {tile} has {len} bytes, expected {}",
                usize::from(tile.width) * HASH_SIZE
            ),
            TileError::TileMismatch(tile) => {
                write!(f, "tile {tile} does not match the hash in its parent tile")
            }
            TileError::RootMismatch { tree_size } => {
                write!(
                    f,
                    "tiles do not hash to the root of the tree of size {tree_size}"
                )
            }
            TileError::EmptyBundle => f.write_str("entry bundle has no entries"),
            TileError::TooManyEntries => {
                write!(f, "entry bundle has more than {TILE_WIDTH} entries")
            }
            TileError::EntryTooLarge(n) => {
                write!(f, "entry of {n} bytes exceeds {MAX_ENTRY_SIZE}")
            }
            TileError::TruncatedBundle => f.write_str("entry bundle is truncated"),
            TileError::BundleCount { tile, got } => write!(
                f,
                "entry bundle {tile} has {got} entries, expected {}",
                tile.width
            ),
            TileError::ReaderCount { want, got } => {
                write!(f, "tile reader returned {got} tiles for {want}")
            }
            TileError::Read(why) => write!(f, "reading tiles: {why}"),
            TileError::Merkle(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TileError::Merkle(e) => Some(e),
            _ => None,
        }
    }
}

impl From<MerkleError> for TileError {
    fn from(e: MerkleError) -> TileError {
        TileError::Merkle(e)
    }
}

/// What a tile holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileLevel {
    /// Hashes of tree level `8 × L` (`tile/<L>/…`), `L <= 7`.
    Hash(u8),
    /// Leaves (`tile/entries/…`), positioned like level-0 hash tiles.
    Entries,
}

impl TileLevel {
    /// The tile level whose geometry this follows (`Entries` is laid out like level 0).
    fn geometry(self) -> u8 {
        match self {
            TileLevel::Hash(l) => l,
            TileLevel::Entries => 0,
        }
    }
}

/// One tile: a level, an index within the level and a width (256 for a full tile).
///
/// Only possible tiles can be built: `1 <= width <= 256`, hash level at most 7, and the leaves
/// it covers end within `u64` range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileRef {
    level: TileLevel,
    index: u64,
    width: u16,
}

impl fmt::Display for TileRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// Leaves per hash at tile level `l`: 256^l.
fn leaves_per_hash(l: u8) -> u64 {
    1u64 << (TILE_HEIGHT * u32::from(l))
}

impl TileRef {
    /// A tile, if it is a possible one.
    pub fn new(level: TileLevel, index: u64, width: u16) -> Result<TileRef, TileError> {
        if width == 0 || width > TILE_WIDTH {
            return Err(TileError::BadTile("width must be 1 to 256"));
        }
        if let TileLevel::Hash(l) = level
            && l > MAX_TILE_LEVEL
        {
            return Err(TileError::BadTile("hash tile level above 7"));
        }
        let tile = TileRef {
            level,
            index,
            width,
        };
        tile.checked_leaf_range().ok_or(TileError::BadTile(
            "tile extends beyond the largest u64 tree",
        ))?;
        Ok(tile)
    }

    /// A full tile (256 wide), if it is a possible one.
    pub fn full(level: TileLevel, index: u64) -> Result<TileRef, TileError> {
        TileRef::new(level, index, TILE_WIDTH)
    }

    /// What the tile holds.
    pub fn level(&self) -> TileLevel {
        self.level
    }

    /// Its index within its level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Its width: hashes or entries it holds, 256 when full.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Whether the tile is full (immutable).
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    fn checked_leaf_range(&self) -> Option<(u64, u64)> {
        let unit = leaves_per_hash(self.level.geometry());
        let start = self
            .index
            .checked_mul(u64::from(TILE_WIDTH))?
            .checked_mul(unit)?;
        let end = start.checked_add(u64::from(self.width).checked_mul(unit)?)?;
        Some((start, end))
    }

    /// The leaves `[start, end)` the tile's hashes (or entries) cover.
    pub fn leaf_range(&self) -> (u64, u64) {
        // Checked at construction.
        self.checked_leaf_range().unwrap_or((u64::MAX, u64::MAX))
    }

    /// The tile's path under the log prefix: `tile/<L>/<N>[.p/<W>]` or
    /// `tile/entries/<N>[.p/<W>]`, `N` in 3-digit groups (`1234067` → `x001/x234/067`).
    pub fn path(&self) -> String {
        let mut out = String::from("tile/");
        match self.level {
            TileLevel::Hash(l) => out.push_str(&l.to_string()),
            TileLevel::Entries => out.push_str("entries"),
        }
        let mut groups = Vec::with_capacity(7);
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        for (i, g) in groups.iter().rev().enumerate() {
            out.push('/');
            if i + 1 < groups.len() {
                out.push('x');
            }
            out.push_str(&format!("{g:03}"));
        }
        if !self.is_full() {
            out.push_str(&format!(".p/{}", self.width));
        }
        out
    }

    /// Reads a tile path (as [`TileRef::path`] writes it, without the log prefix), refusing every
    /// spelling but the canonical one.
    pub fn parse(path: &str) -> Result<TileRef, TileError> {
        let rest = path
            .strip_prefix("tile/")
            .ok_or(TileError::BadPath("does not start with tile/"))?;
        let (level, rest) = rest
            .split_once('/')
            .ok_or(TileError::BadPath("no tile index"))?;
        let level = if level == "entries" {
            TileLevel::Entries
        } else {
            TileLevel::Hash(parse_level(level)?)
        };
        let (index, width) = match rest.split_once(".p/") {
            Some((index, width)) => (index, parse_width(width)?),
            None => (rest, TILE_WIDTH),
        };
        TileRef::new(level, parse_index(index)?, width)
    }
}

/// A decimal without leading zeros, at most `max_digits` long.
fn parse_decimal(s: &str, max_digits: usize) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > max_digits || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() > 1 && b[0] == b'0' {
        return None;
    }
    b.iter().try_fold(0u64, |acc, d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn parse_level(s: &str) -> Result<u8, TileError> {
    let l = parse_decimal(s, 2).ok_or(TileError::BadPath(
        "level is not a decimal without leading zeros",
    ))?;
    match u8::try_from(l) {
        Ok(l) if l <= MAX_TILE_LEVEL => Ok(l),
        _ => Err(TileError::BadPath("level above 7")),
    }
}

fn parse_width(s: &str) -> Result<u16, TileError> {
    let w = parse_decimal(s, 3).ok_or(TileError::BadPath(
        "width is not a decimal without leading zeros",
    ))?;
    match u16::try_from(w) {
        Ok(w) if (1..TILE_WIDTH).contains(&w) => Ok(w),
        _ => Err(TileError::BadPath("partial width must be 1 to 255")),
    }
}

fn three_digits(b: &[u8]) -> Option<u64> {
    match b {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u64::from(a - b'0') * 100 + u64::from(b - b'0') * 10 + u64::from(c - b'0'))
        }
        _ => None,
    }
}

fn parse_index(s: &str) -> Result<u64, TileError> {
    let groups: Vec<&[u8]> = s.as_bytes().split(|&b| b == b'/').collect();
    // u64::MAX has 20 digits: 7 groups.
    if groups.len() > 7 {
        return Err(TileError::BadPath("index too large"));
    }
    let last = groups.len() - 1;
    let mut n = 0u64;
    for (i, g) in groups.iter().enumerate() {
        let digits = if i < last {
            match g.split_first() {
                Some((b'x', digits)) => digits,
                _ => return Err(TileError::BadPath("index group does not start with x")),
            }
        } else {
            g
        };
        let v = three_digits(digits).ok_or(TileError::BadPath(
            "index group is not three decimal digits",
        ))?;
        if i == 0 && i < last && v == 0 {
            return Err(TileError::BadPath("index has leading zero groups"));
        }
        n = n
            .checked_mul(1000)
            .and_then(|n| n.checked_add(v))
            .ok_or(TileError::BadPath("index too large"))?;
    }
    Ok(n)
}

/// The tiles of one level of a tree: `full` full tiles (indexes `0..full`) and, when
/// `partial_width > 0`, a partial tile of that width at index `full`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelTiles {
    /// The level.
    pub level: TileLevel,
    /// Number of full tiles.
    pub full: u64,
    /// Width of the partial tile after them, 0 if none.
    pub partial_width: u16,
}

impl LevelTiles {
    /// The tiles, full ones first.
    pub fn tiles(&self) -> impl Iterator<Item = TileRef> + use<> {
        let level = self.level;
        let partial = (self.partial_width > 0).then_some(TileRef {
            level,
            index: self.full,
            width: self.partial_width,
        });
        (0..self.full)
            .map(move |index| TileRef {
                level,
                index,
                width: TILE_WIDTH,
            })
            .chain(partial)
    }
}

/// Hashes (or entries) a level holds in a tree of `tree_size` leaves.
fn level_count(level: TileLevel, tree_size: u64) -> u64 {
    tree_size >> (TILE_HEIGHT * u32::from(level.geometry()))
}

/// The tiles of a tree of `tree_size` leaves: the entry bundles, then each hash level from 0 up
/// to the highest non-empty one. Empty for the empty tree.
pub fn tiles_for_size(tree_size: u64) -> Vec<LevelTiles> {
    let levels = std::iter::once(TileLevel::Entries)
        .chain((0..=MAX_TILE_LEVEL).map(TileLevel::Hash))
        .map(|level| {
            let count = level_count(level, tree_size);
            LevelTiles {
                level,
                full: count / u64::from(TILE_WIDTH),
                // < 256.
                partial_width: (count % u64::from(TILE_WIDTH)) as u16,
            }
        });
    levels
        .filter(|lt| lt.full > 0 || lt.partial_width > 0)
        .collect()
}

/// The tile at `index` of `level` as it exists in a tree of `tree_size` leaves (full, or
/// partial with the width that size gives it), or `None` if that tree has no such tile.
pub fn tile_for(level: TileLevel, index: u64, tree_size: u64) -> Option<TileRef> {
    if let TileLevel::Hash(l) = level
        && l > MAX_TILE_LEVEL
    {
        return None;
    }
    let count = level_count(level, tree_size);
    let start = index.checked_mul(u64::from(TILE_WIDTH))?;
    if start >= count {
        return None;
    }
    let width = (count - start).min(u64::from(TILE_WIDTH)) as u16;
    Some(TileRef {
        level,
        index,
        width,
    })
}

/// The tiles to write when the tree grows from `old_size` to `new_size` leaves: for each level
/// (entry bundles first), every tile whose content differs between the two sizes, as it is at
/// `new_size`. Empty if `new_size <= old_size`.
pub fn new_tiles(old_size: u64, new_size: u64) -> Vec<TileRef> {
    let mut out = Vec::new();
    if new_size <= old_size {
        return out;
    }
    let levels =
        std::iter::once(TileLevel::Entries).chain((0..=MAX_TILE_LEVEL).map(TileLevel::Hash));
    for level in levels {
        let (old, new) = (level_count(level, old_size), level_count(level, new_size));
        if new == old {
            continue;
        }
        let width = u64::from(TILE_WIDTH);
        for index in old / width..=(new - 1) / width {
            out.extend(tile_for(level, index, new_size));
        }
    }
    out
}

/// The stored-hash positions whose hashes make up a hash tile: level `L` tile `N` holds the
/// level-`8L` nodes `N·256 .. N·256 + W`.
pub fn hash_tile_indexes(tile: &TileRef) -> Result<Vec<u64>, TileError> {
    let TileLevel::Hash(l) = tile.level else {
        return Err(TileError::WrongKind(*tile));
    };
    let level = TILE_HEIGHT as u8 * l;
    // The index fits: checked at construction.
    let first = tile.index.saturating_mul(u64::from(TILE_WIDTH));
    (0..u64::from(tile.width))
        .map(|j| {
            checked_stored_hash_index(level, first + j).ok_or(TileError::Merkle(
                MerkleError::TreeTooLarge(tile.leaf_range().1),
            ))
        })
        .collect()
}

/// A hash tile's bytes (its hashes, concatenated), read from the log's stored hashes.
pub fn read_tile_data(tile: &TileRef, r: &dyn HashReader) -> Result<Vec<u8>, TileError> {
    let indexes = hash_tile_indexes(tile)?;
    let hashes = r.read_hashes(&indexes)?;
    if hashes.len() != indexes.len() {
        return Err(TileError::Merkle(MerkleError::ReaderCount {
            want: indexes.len(),
            got: hashes.len(),
        }));
    }
    Ok(hashes.concat())
}

/// Splits a hash tile's bytes into its hashes, checking the length against its width.
pub fn tile_hashes(tile: &TileRef, data: &[u8]) -> Result<Vec<Hash>, TileError> {
    if !matches!(tile.level, TileLevel::Hash(_)) {
        return Err(TileError::WrongKind(*tile));
    }
    if data.len() != usize::from(tile.width) * HASH_SIZE {
        return Err(TileError::BadTileData {
            tile: *tile,
            len: data.len(),
        });
    }
    Ok(data
        .chunks_exact(HASH_SIZE)
        .filter_map(|c| Hash::try_from(c).ok())
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Entry bundles
// ---------------------------------------------------------------------------------------------

/// Encodes an entry bundle: each entry as a big-endian `u16` length and its bytes. A bundle has
/// 1 to 256 entries of at most 65,535 bytes.
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    if entries.is_empty() {
        return Err(TileError::EmptyBundle);
    }
    if entries.len() > usize::from(TILE_WIDTH) {
        return Err(TileError::TooManyEntries);
    }
    let total: usize = entries.iter().map(|e| e.as_ref().len() + 2).sum();
    let mut out = Vec::with_capacity(total);
    for e in entries {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLarge(e.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Decodes an entry bundle, refusing an empty bundle, more than 256 entries, and any truncated
/// or trailing bytes.
pub fn decode_bundle(bytes: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    if bytes.is_empty() {
        return Err(TileError::EmptyBundle);
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if out.len() == usize::from(TILE_WIDTH) {
            return Err(TileError::TooManyEntries);
        }
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or(TileError::TruncatedBundle)?;
        let (entry, tail) = tail
            .split_at_checked(usize::from(u16::from_be_bytes(*len)))
            .ok_or(TileError::TruncatedBundle)?;
        out.push(entry);
        rest = tail;
    }
    Ok(out)
}

/// Decodes the entry bundle of `tile`, which must have exactly `tile.width()` entries.
pub fn decode_tile_bundle<'a>(tile: &TileRef, bytes: &'a [u8]) -> Result<Vec<&'a [u8]>, TileError> {
    if tile.level != TileLevel::Entries {
        return Err(TileError::WrongKind(*tile));
    }
    let entries = decode_bundle(bytes)?;
    if entries.len() != usize::from(tile.width) {
        return Err(TileError::BundleCount {
            tile: *tile,
            got: entries.len(),
        });
    }
    Ok(entries)
}

/// The leaf hashes of an entry bundle's entries.
pub fn bundle_leaf_hashes(bytes: &[u8]) -> Result<Vec<Hash>, TileError> {
    Ok(decode_bundle(bytes)?.into_iter().map(leaf_hash).collect())
}

// ---------------------------------------------------------------------------------------------
// Reading and verifying tiles
// ---------------------------------------------------------------------------------------------

/// Fetches tiles (from a tile server, a mirror, a directory…).
pub trait TileReader {
    /// Returns the bytes of each tile, in order, exactly one per tile asked for, or an error.
    fn read_tiles(&self, tiles: &[TileRef]) -> Result<Vec<Vec<u8>>, TileError>;
}

impl<T: TileReader + ?Sized> TileReader for &T {
    fn read_tiles(&self, tiles: &[TileRef]) -> Result<Vec<Vec<u8>>, TileError> {
        (**self).read_tiles(tiles)
    }
}

/// Hash tiles of one tree size, keyed by (level, index), each as it exists at that size.
struct TileSet {
    tree_size: u64,
    tiles: BTreeMap<(u8, u64), Vec<Hash>>,
}

impl TileSet {
    /// The hash of node (`level`, `n`), re-hashed from the tile of level `level / 8` that holds
    /// its `2^(level % 8)` descendants.
    fn node(&self, level: u8, n: u64) -> Option<Hash> {
        let l = level / TILE_HEIGHT as u8;
        let r = u32::from(level) % TILE_HEIGHT;
        let first = n.checked_shl(r).filter(|f| f >> r == n)?;
        let width = u64::from(TILE_WIDTH);
        let hashes = self.tiles.get(&(l, first / width))?;
        let offset = usize::try_from(first % width).ok()?;
        let slice = hashes.get(offset..offset.checked_add(1 << r)?)?;
        Some(root_from_leaf_hashes(slice))
    }
}

/// Whether node (`level`, `n`) is complete in a tree of `tree_size` leaves.
fn node_in_tree(level: u8, n: u64, tree_size: u64) -> bool {
    let shift = u32::from(level);
    n.checked_add(1)
        .and_then(|m| {
            m.checked_shl(shift)
                .filter(|end| end.checked_shr(shift) == Some(m))
        })
        .is_some_and(|end| end <= tree_size)
}

/// The hash tile holding the level-`8L` descendants of node (`level`, `n`), as it exists in a
/// tree of `tree_size` leaves, if the node is complete in that tree.
fn tile_of_node(level: u8, n: u64, tree_size: u64) -> Option<TileRef> {
    if !node_in_tree(level, n, tree_size) {
        return None;
    }
    let height = TILE_HEIGHT as u8;
    let first = n.checked_shl(u32::from(level % height))?;
    tile_for(
        TileLevel::Hash(level / height),
        first / u64::from(TILE_WIDTH),
        tree_size,
    )
}

impl HashReader for TileSet {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|&i| {
                let (level, n) = split_stored_hash_index(i);
                if !node_in_tree(level, n, self.tree_size) {
                    return Err(MerkleError::MissingHash(i));
                }
                self.node(level, n).ok_or(MerkleError::MissingHash(i))
            })
            .collect()
    }
}

/// A [`HashReader`] over a tiled log, trusting only a tree head (size and root hash): it reads
/// the tiles holding the hashes asked for and every tile needed to authenticate them, and
/// checks them against the root before answering. Proof functions of [`crate::merkle`] run on
/// it unchanged (`prove_record(size, i, &reader)`).
pub struct TileHashReader<'a> {
    tree_size: u64,
    root: Hash,
    tiles: &'a dyn TileReader,
}

impl<'a> TileHashReader<'a> {
    /// A reader for the tree of `tree_size` leaves with root hash `root` (from a verified
    /// checkpoint), fetching tiles through `tiles`.
    pub fn new(tree_size: u64, root: Hash, tiles: &'a dyn TileReader) -> TileHashReader<'a> {
        TileHashReader {
            tree_size,
            root,
            tiles,
        }
    }

    /// Reads the given hash tiles (each as it exists at the reader's tree size) and returns
    /// their bytes once they are verified against the root.
    pub fn read_verified_tiles(&self, tiles: &[TileRef]) -> Result<Vec<Vec<u8>>, TileError> {
        for t in tiles {
            if !matches!(t.level, TileLevel::Hash(_)) {
                return Err(TileError::WrongKind(*t));
            }
            if tile_for(t.level, t.index, self.tree_size) != Some(*t) {
                return Err(TileError::NotInTree {
                    tile: *t,
                    tree_size: self.tree_size,
                });
            }
        }
        let set = self.fetch(tiles.iter().copied().collect())?;
        Ok(tiles
            .iter()
            .map(|t| {
                let l = t.level.geometry();
                set.tiles
                    .get(&(l, t.index))
                    .map(|h| h.concat())
                    .unwrap_or_default()
            })
            .collect())
    }

    /// Reads `targets`, the full tiles' ancestors up to the right edge, and the right edge; checks
    /// that the right edge hashes to the root and that each full tile hashes to its parent's
    /// hash, which authenticates every tile read.
    fn fetch(&self, targets: BTreeSet<TileRef>) -> Result<TileSet, TileError> {
        let size = self.tree_size;
        let mut need = BTreeSet::new();
        for t in targets {
            let mut cur = t;
            need.insert(cur);
            while cur.is_full() {
                let parent = match cur.level {
                    TileLevel::Hash(l) if l < MAX_TILE_LEVEL => tile_for(
                        TileLevel::Hash(l + 1),
                        cur.index / u64::from(TILE_WIDTH),
                        size,
                    ),
                    _ => None,
                }
                .ok_or(TileError::NotInTree {
                    tile: cur,
                    tree_size: size,
                })?;
                need.insert(parent);
                cur = parent;
            }
        }
        for lt in tiles_for_size(size) {
            if let (TileLevel::Hash(l), true) = (lt.level, lt.partial_width > 0) {
                need.insert(TileRef {
                    level: TileLevel::Hash(l),
                    index: lt.full,
                    width: lt.partial_width,
                });
            }
        }
        let need: Vec<TileRef> = need.into_iter().collect();
        let data = self.tiles.read_tiles(&need)?;
        if data.len() != need.len() {
            return Err(TileError::ReaderCount {
                want: need.len(),
                got: data.len(),
            });
        }
        let mut set = TileSet {
            tree_size: size,
            tiles: BTreeMap::new(),
        };
        for (t, d) in need.iter().zip(&data) {
            set.tiles
                .insert((t.level.geometry(), t.index), tile_hashes(t, d)?);
        }
        if merkle::tree_hash(size, &set)? != self.root {
            return Err(TileError::RootMismatch { tree_size: size });
        }
        for t in need.iter().filter(|t| t.is_full()) {
            let l = t.level.geometry();
            let own = set
                .tiles
                .get(&(l, t.index))
                .map(|h| root_from_leaf_hashes(h));
            let parent = set.node(TILE_HEIGHT as u8 * (l + 1), t.index);
            if own.is_none() || own != parent {
                return Err(TileError::TileMismatch(*t));
            }
        }
        Ok(set)
    }

    fn read(&self, indexes: &[u64]) -> Result<Vec<Hash>, TileError> {
        let mut targets = BTreeSet::new();
        for &i in indexes {
            let (level, n) = split_stored_hash_index(i);
            let tile = (checked_stored_hash_index(level, n) == Some(i))
                .then(|| tile_of_node(level, n, self.tree_size))
                .flatten()
                .ok_or(TileError::Merkle(MerkleError::MissingHash(i)))?;
            targets.insert(tile);
        }
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let set = self.fetch(targets)?;
        Ok(set.read_hashes(indexes)?)
    }
}

impl HashReader for TileHashReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.read(indexes).map_err(|e| match e {
            TileError::Merkle(e) => e,
            TileError::Read(why) => MerkleError::Storage(why),
            e @ TileError::ReaderCount { .. } => MerkleError::Storage(e.to_string()),
            e => MerkleError::Inconsistent(e.to_string()),
        })
    }
}
