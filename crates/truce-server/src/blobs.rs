//! Content-addressed blobs: agreement geometry (and, later, evidence media) live outside the log;
//! entries name them by sha256.
//!
//! [`BlobResolver`] is how an agreement entry's referenced files reach the engine: intake
//! (or replay) fetches exactly the blobs the entry lists, and the engine's validator reads them
//! by path, with a precise error when a file is unlisted or was never uploaded.

use std::collections::BTreeMap;

use truce_model::agreement::Resolver;
use truce_model::dsse::Envelope;
use truce_model::entry::is_sha256_hex;
use truce_store::Store;

/// Largest blob accepted by `PUT /v1/blobs/{sha256}`.
pub const MAX_BLOB_BYTES: usize = 8 * 1024 * 1024;

/// Most bytes of referenced files one agreement entry may make the server read.
pub const MAX_AGREEMENT_BLOB_BYTES: usize = 32 * 1024 * 1024;

/// The files one agreement entry references, fetched from the blob store (or, for `truce
/// replay --log`, from a log's `GET /v1/blobs`): the same listing rules and the same
/// [`MAX_AGREEMENT_BLOB_BYTES`] budget wherever the bytes come from, so that replay admits
/// exactly what the server admitted.
#[derive(Debug, Default, Clone)]
pub struct BlobResolver {
    /// path → sha256 hex, as the entry lists them.
    listed: BTreeMap<String, String>,
    /// sha256 hex → bytes, for the blobs that were found.
    found: BTreeMap<String, Vec<u8>>,
    /// Bytes found so far, counted against [`MAX_AGREEMENT_BLOB_BYTES`].
    total: usize,
}

impl Resolver for BlobResolver {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        let Some(sha) = self.listed.get(path) else {
            return Err(format!(
                "{path:?} is not listed in the entry's `blobs` (path → sha256 of the file)"
            ));
        };
        self.found.get(sha).cloned().ok_or_else(|| {
            format!("blob {sha} (for {path:?}) has not been uploaded: PUT /v1/blobs/{sha} first")
        })
    }
}

/// Decodes a sha256 path parameter.
pub fn parse_sha256(s: &str) -> Option<[u8; 32]> {
    if !is_sha256_hex(s) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

impl BlobResolver {
    /// The resolver for `env` before any bytes are read, and the blobs to read, each once: an
    /// `agreement` envelope's `blobs` (at most [`truce_model::entry::MAX_BLOBS`] of them).
    /// Envelopes of other kinds, and listings that are malformed (the engine reports those
    /// precisely), list nothing.
    pub fn listing(env: &Envelope) -> (BlobResolver, Vec<(String, [u8; 32])>) {
        let mut r = BlobResolver::default();
        let mut wanted: Vec<(String, [u8; 32])> = Vec::new();
        if env.kind().ok() != Some("agreement") {
            return (r, wanted);
        }
        let Ok((_, obj)) = env.payload_object() else {
            return (r, wanted);
        };
        let Some(serde_json::Value::Object(blobs)) = obj.get("blobs") else {
            return (r, wanted);
        };
        for (path, v) in blobs.iter().take(truce_model::entry::MAX_BLOBS) {
            let Some((sha, raw)) = v.as_str().and_then(|s| Some((s, parse_sha256(s)?))) else {
                continue;
            };
            r.listed.insert(path.clone(), sha.to_string());
            if !wanted.iter().any(|(w, _)| w == sha) {
                wanted.push((sha.to_string(), raw));
            }
        }
        (r, wanted)
    }

    /// Whether the budget leaves room to read another blob.
    pub fn has_room(&self) -> bool {
        self.total < MAX_AGREEMENT_BLOB_BYTES
    }

    /// Records the bytes of blob `sha`. Beyond the budget they are dropped: the file then reads
    /// as "not uploaded" and the agreement is refused.
    pub fn found(&mut self, sha: String, bytes: Vec<u8>) {
        self.total += bytes.len();
        if self.total <= MAX_AGREEMENT_BLOB_BYTES {
            self.found.insert(sha, bytes);
        }
    }

    /// Fetches the blobs an `agreement` envelope lists from `store` (see [`Self::listing`]).
    pub async fn for_envelope(
        store: &dyn Store,
        env: &Envelope,
    ) -> Result<BlobResolver, truce_store::StoreError> {
        let (mut r, wanted) = BlobResolver::listing(env);
        for (sha, raw) in wanted {
            if !r.has_room() {
                break;
            }
            if let Some(bytes) = store.blob(raw).await? {
                r.found(sha, bytes);
            }
        }
        Ok(r)
    }
}
