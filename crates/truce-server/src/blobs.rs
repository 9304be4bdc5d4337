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

/// The files one agreement entry references, fetched from the blob store.
#[derive(Debug, Default, Clone)]
pub struct BlobResolver {
    /// path → sha256 hex, as the entry lists them.
    listed: BTreeMap<String, String>,
    /// sha256 hex → bytes, for the blobs that were found.
    found: BTreeMap<String, Vec<u8>>,
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
    /// Fetches the blobs an `agreement` envelope lists. Envelopes of other kinds, and listings
    /// that are malformed (the engine reports those precisely), yield an empty resolver.
    pub async fn for_envelope(
        store: &dyn Store,
        env: &Envelope,
    ) -> Result<BlobResolver, truce_store::StoreError> {
        let mut r = BlobResolver::default();
        if env.kind().ok() != Some("agreement") {
            return Ok(r);
        }
        let Ok((_, obj)) = env.payload_object() else {
            return Ok(r);
        };
        let Some(serde_json::Value::Object(blobs)) = obj.get("blobs") else {
            return Ok(r);
        };
        let mut total = 0usize;
        for (path, v) in blobs.iter().take(truce_model::entry::MAX_BLOBS) {
            let Some(sha) = v.as_str() else { continue };
            let Some(raw) = parse_sha256(sha) else {
                continue;
            };
            r.listed.insert(path.clone(), sha.to_string());
            if !r.found.contains_key(sha)
                && total < MAX_AGREEMENT_BLOB_BYTES
                && let Some(bytes) = store.blob(raw).await?
            {
                // Beyond the total, files read as "not uploaded" and the agreement is refused.
                total += bytes.len();
                if total <= MAX_AGREEMENT_BLOB_BYTES {
                    r.found.insert(sha.to_string(), bytes);
                }
            }
        }
        Ok(r)
    }
}
