//! Reading the log's files through [`Fetch`], bounded: nothing served is parsed before its
//! length is checked against what a correct log can serve at that path
//! ([`max_response_bytes`]), and a partial tile that is gone is read from its full tile.

use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::merkle::{HASH_SIZE, Hash};
use crate::tile::{MAX_ENTRY_SIZE, TILE_WIDTH, TileRef};

use super::AuditError;

/// Path of the checkpoint under the log prefix.
pub const CHECKPOINT_PATH: &str = "checkpoint";

/// The largest checkpoint accepted: the three lines and a few dozen signature lines fit many
/// times over.
pub const MAX_CHECKPOINT_BYTES: usize = 16 * 1024;

/// The largest hash tile: 256 hashes.
pub const MAX_TILE_BYTES: usize = TILE_WIDTH as usize * HASH_SIZE;

/// The largest entry bundle: 256 entries of at most 65,535 bytes, each with its 2-byte length.
pub const MAX_BUNDLE_BYTES: usize = TILE_WIDTH as usize * (2 + MAX_ENTRY_SIZE);

/// The most bytes a correct log ever serves at `path` (a path under the log prefix, as
/// [`Fetch::get`] receives it). Fetchers should stop reading beyond it; [`audit`](super::audit) refuses
/// anything longer either way.
pub fn max_response_bytes(path: &str) -> usize {
    if path == CHECKPOINT_PATH {
        MAX_CHECKPOINT_BYTES
    } else if path.starts_with("tile/entries/") {
        MAX_BUNDLE_BYTES
    } else {
        MAX_TILE_BYTES
    }
}

/// Reads a log's files: `checkpoint`, `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`
/// (paths relative to the log prefix, as C2SP tlog-tiles names them).
///
/// `Sync` because bundles are fetched from several threads at once.
pub trait Fetch: Sync {
    /// The file's bytes; `Ok(None)` if the log says it does not exist (HTTP 404); `Err` with a
    /// human-readable reason if it could not be read (network, server error). Implementations
    /// should read at most [`max_response_bytes`]`(path)` bytes (plus one, to detect more).
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String>;
}

impl<T: Fetch + ?Sized> Fetch for &T {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        (**self).get(path)
    }
}

/// A log held in memory, keyed by path (a mirror loaded from disk, a test fixture).
impl<S: BuildHasher + Sync> Fetch for HashMap<String, Vec<u8>, S> {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(HashMap::get(self, path).cloned())
    }
}

/// Fetches `path`, bounded; `None` on 404.
pub(super) fn get(fetch: &dyn Fetch, path: &str) -> Result<Option<Vec<u8>>, AuditError> {
    let got = fetch.get(path).map_err(|reason| AuditError::Fetch {
        path: path.to_string(),
        reason,
    })?;
    if let Some(b) = &got {
        let max = max_response_bytes(path);
        if b.len() > max {
            return Err(AuditError::TooLarge {
                path: path.to_string(),
                len: b.len(),
                max,
            });
        }
    }
    Ok(got)
}

pub(super) fn get_required(fetch: &dyn Fetch, path: &str) -> Result<Vec<u8>, AuditError> {
    get(fetch, path)?.ok_or_else(|| AuditError::Missing {
        path: path.to_string(),
        tree_size: None,
    })
}

/// A tile's bytes, with the path and tile they were read as (the full tile when a partial one
/// is gone: its prefix is the partial tile).
pub(super) struct Fetched {
    pub(super) path: String,
    pub(super) bytes: Vec<u8>,
    pub(super) as_tile: TileRef,
}

pub(super) fn fetch_tile(
    fetch: &dyn Fetch,
    tile: TileRef,
    tree_size: u64,
) -> Result<Fetched, AuditError> {
    let path = tile.path();
    if let Some(bytes) = get(fetch, &path)? {
        return Ok(Fetched {
            path,
            bytes,
            as_tile: tile,
        });
    }
    if !tile.is_full()
        && let Ok(full) = TileRef::full(tile.level(), tile.index())
    {
        let full_path = full.path();
        if let Some(bytes) = get(fetch, &full_path)? {
            return Ok(Fetched {
                path: full_path,
                bytes,
                as_tile: full,
            });
        }
    }
    Err(AuditError::Missing {
        path,
        tree_size: Some(tree_size),
    })
}

/// A hash tile's first `tile.width()` hashes.
pub(super) fn fetch_hash_tile(
    fetch: &dyn Fetch,
    tile: TileRef,
    tree_size: u64,
) -> Result<(String, Vec<Hash>), AuditError> {
    let f = fetch_tile(fetch, tile, tree_size)?;
    let expected = usize::from(f.as_tile.width()) * HASH_SIZE;
    if f.bytes.len() != expected {
        return Err(AuditError::TileLength {
            path: f.path,
            len: f.bytes.len(),
            expected,
        });
    }
    let hashes = f
        .bytes
        .chunks_exact(HASH_SIZE)
        .take(usize::from(tile.width()))
        .filter_map(|c| Hash::try_from(c).ok())
        .collect();
    Ok((f.path, hashes))
}
