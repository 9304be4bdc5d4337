//! Tile and entry-bundle bodies already served, kept in memory.
//!
//! A tile of a given width never changes (a partial tile of width W is the first W hashes of the
//! full tile, final once they exist), so nothing here is ever invalidated; the bound keeps memory
//! flat however large the log grows. A cache that cannot be
//! locked (a panic while it was held) is simply bypassed: every body can be computed again.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use axum::body::Bytes;

/// A bounded cache of tile bodies, by tile path, oldest evicted first.
pub struct TileCache {
    inner: Mutex<(HashMap<String, Bytes>, VecDeque<String>, usize)>,
    max_bytes: usize,
}

impl TileCache {
    /// A cache holding at most `max_bytes` of tile bodies.
    pub fn new(max_bytes: usize) -> TileCache {
        TileCache {
            inner: Mutex::new((HashMap::new(), VecDeque::new(), 0)),
            max_bytes,
        }
    }

    /// The body of tile `key`, if cached.
    pub fn get(&self, key: &str) -> Option<Bytes> {
        self.inner.lock().ok()?.0.get(key).cloned()
    }

    /// Caches `body` as tile `key`, evicting the oldest bodies beyond the bound.
    pub fn put(&self, key: String, body: Bytes) {
        let Ok(mut g) = self.inner.lock() else { return };
        let (map, order, bytes) = &mut *g;
        if map.contains_key(&key) || body.len() > self.max_bytes {
            return;
        }
        *bytes += body.len();
        order.push_back(key.clone());
        map.insert(key, body);
        while *bytes > self.max_bytes {
            let Some(old) = order.pop_front() else { break };
            if let Some(b) = map.remove(&old) {
                *bytes -= b.len();
            }
        }
    }
}
