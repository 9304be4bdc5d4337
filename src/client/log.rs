//! Reading the log: its key, the receipts it gives, and the leaves it holds.
//!
//! A receipt (`{index, leaf_hash, proof}`) is two promises, and each is checked here without
//! trusting the server: [`verify_receipt`] checks the tlog-proof against a checkpoint signed by
//! the log key, and [`check_leaf`] checks the leaf read back from the entry bundle
//! ([`fetch_entry_bundle`]) against the receipt's leaf hash and the envelope that was posted.
//! Log files are read with [`get_log_resource`], which `truce log verify` uses for every
//! checkpoint, tile and bundle of its audit.

use std::io::Read as _;

use reqwest::blocking::Client;
use reqwest::{StatusCode, Url};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use truce_log::audit::max_response_bytes;
use truce_log::checkpoint::Checkpoint;
use truce_log::leaf::{Leaf, leaf_hash};
use truce_log::proof::TlogProof;
use truce_log::tile::{self, TILE_WIDTH, TileRef};
use truce_model::keys::VerifierKey;

use super::{ErrorAnswer, MAX_UNAVAILABLE_TRIES, Pacing, backoff, error_chain, join, read_ok_json};
use truce_server::blobs::parse_sha256;

/// A verifier key given on the command line as `flag`.
pub fn parse_vkey(flag: &str, text: &str) -> Result<VerifierKey, String> {
    VerifierKey::parse(text.trim()).map_err(|e| format!("{flag} {}: {e}", text.trim()))
}

/// The log key receipts are checked with, and the origin its checkpoints name.
pub struct LogKey {
    pub key: VerifierKey,
    pub origin: String,
    /// Whether it is the key the server publishes (rather than one given to the command).
    pub from_server: bool,
}

impl LogKey {
    /// A key given to the command. A truce log's key is named after its origin (`truce init`).
    pub fn pinned(key: VerifierKey) -> LogKey {
        LogKey {
            origin: key.name().to_string(),
            key,
            from_server: false,
        }
    }

    /// `GET /v1/log/vkeys`: the key and origin the server publishes, and where it published them.
    pub fn published(client: &Client, base: &Url) -> Result<(Url, LogKey), String> {
        let (url, v) = published_vkeys(client, base)?;
        Ok((url.clone(), LogKey::from_vkeys(&url, &v)?))
    }

    /// The log key and origin in an answer of `GET /v1/log/vkeys` read from `url`.
    pub fn from_vkeys(url: &Url, v: &Value) -> Result<LogKey, String> {
        let (Some(origin), Some(log)) = (v["origin"].as_str(), v["log"].as_str()) else {
            return Err(format!(
                "GET {url}: no \"origin\" and \"log\" strings (is this a truce server?)"
            ));
        };
        let key = VerifierKey::parse(log).map_err(|e| format!("GET {url}: log key: {e}"))?;
        Ok(LogKey {
            key,
            origin: origin.to_string(),
            from_server: true,
        })
    }
}

/// `GET /v1/log/vkeys`: where it was read, and the answer (the log's, the operator's and the
/// witnesses' keys).
pub fn published_vkeys(client: &Client, base: &Url) -> Result<(Url, Value), String> {
    let url = join(base, "v1/log/vkeys").map_err(|f| f.message)?;
    let v = read_ok_json(super::get(client, &url)?, &url)?;
    Ok((url, v))
}

/// What a receipt says, once verified.
pub struct Verified {
    pub index: u64,
    pub leaf_hash: [u8; 32],
    /// The tlog-proof text.
    pub proof_text: String,
    /// The checkpoint the proof verified against.
    pub checkpoint: Checkpoint,
}

/// Checks the server's `{index, leaf_hash, proof}`: the proof verifies for `leaf_hash` in a
/// checkpoint signed by `log_key` for `origin`, at the index the server states.
pub fn verify_receipt(
    answer: &Value,
    log_key: &VerifierKey,
    origin: &str,
) -> Result<Verified, String> {
    let index = answer["index"]
        .as_u64()
        .ok_or("\"index\" is not a non-negative integer")?;
    let leaf_hash = answer["leaf_hash"]
        .as_str()
        .and_then(parse_sha256)
        .ok_or("\"leaf_hash\" is not 64 lowercase hex digits")?;
    let proof_text = answer["proof"]
        .as_str()
        .ok_or("\"proof\" is not a string")?
        .to_string();
    let proof = TlogProof::parse(proof_text.as_bytes()).map_err(|e| format!("proof: {e}"))?;
    if proof.index() != index {
        return Err(format!(
            "the proof is for index {}, the receipt says {index}",
            proof.index()
        ));
    }
    let checkpoint = proof
        .verify(&leaf_hash, log_key, origin)
        .map_err(|e| format!("leaf hash {} at index {index}: {e}", hex::encode(leaf_hash)))?;
    Ok(Verified {
        index,
        leaf_hash,
        proof_text,
        checkpoint,
    })
}

/// Why a logged leaf is not the one a receipt promises.
#[derive(Debug, PartialEq)]
pub enum LeafFault {
    /// The entry bundle is too short to hold it.
    Missing,
    /// It is there, and wrong: another hash, not a leaf, or another entry.
    Wrong(String),
}

/// Checks leaf `index` in its entry bundle `leaves`: it hashes to the receipt's `leaf_hash` and
/// holds the envelope whose canonical JSON hashes (SHA-256) to `envelope_sha256`. Returns the
/// leaf's log time, ms since the epoch.
pub fn check_leaf(
    leaves: &[Vec<u8>],
    index: u64,
    receipt_leaf_hash: &[u8; 32],
    envelope_sha256: &[u8; 32],
) -> Result<i64, LeafFault> {
    let at = usize::try_from(index % u64::from(TILE_WIDTH)).unwrap_or(usize::MAX);
    let leaf = leaves.get(at).ok_or(LeafFault::Missing)?;
    if leaf_hash(leaf) != *receipt_leaf_hash {
        return Err(LeafFault::Wrong(format!(
            "leaf {index} of the log hashes to {}, not to the receipt's {}",
            hex::encode(leaf_hash(leaf)),
            hex::encode(receipt_leaf_hash)
        )));
    }
    let decoded = Leaf::decode(leaf).map_err(|e| LeafFault::Wrong(format!("leaf {index}: {e}")))?;
    let sha: [u8; 32] = Sha256::digest(decoded.envelope.canonical_json()).into();
    if sha != *envelope_sha256 {
        return Err(LeafFault::Wrong(format!(
            "leaf {index} of the log is another entry than the one submitted"
        )));
    }
    Ok(decoded.time_ms)
}

/// Why an entry bundle could not be had.
#[derive(Debug)]
pub enum BundleFault {
    /// It could not be read (the server, the network).
    Unreadable(String),
    /// It was read, and is not an entry bundle of that tile.
    Malformed(String),
}

impl std::fmt::Display for BundleFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BundleFault::Unreadable(why) | BundleFault::Malformed(why) => f.write_str(why),
        }
    }
}

/// The entry bundle `tile` (below `base`, under `log/`), split into leaves. With `pacing`, an
/// unavailable server is tried again, [`MAX_UNAVAILABLE_TRIES`] times with backoff, unless the
/// work stops; without, once.
pub fn fetch_entry_bundle(
    client: &Client,
    base: &Url,
    tile: &TileRef,
    pacing: Option<&dyn Pacing>,
) -> Result<Vec<Vec<u8>>, BundleFault> {
    let path = tile.path();
    let url = join(base, &format!("log/{path}")).map_err(|f| BundleFault::Unreadable(f.message))?;
    let tries = if pacing.is_some() {
        MAX_UNAVAILABLE_TRIES
    } else {
        1
    };
    let mut last = String::new();
    for attempt in 0..tries {
        if attempt > 0
            && let Some(p) = pacing
            && !p.sleep(backoff(attempt))
        {
            break;
        }
        match get_log_resource(client, &url, max_response_bytes(&path)) {
            Ok(Some(bytes)) => {
                let leaves = tile::decode_tile_bundle(tile, &bytes)
                    .map_err(|e| BundleFault::Malformed(format!("{path}: {e}")))?;
                return Ok(leaves.into_iter().map(<[u8]>::to_vec).collect());
            }
            Ok(None) => {
                return Err(BundleFault::Unreadable(format!(
                    "GET {url}: HTTP {}",
                    StatusCode::NOT_FOUND
                )));
            }
            Err(f) if f.transient => last = f.message,
            Err(f) => return Err(BundleFault::Unreadable(f.message)),
        }
    }
    Err(BundleFault::Unreadable(last))
}

/// Why a GET of a log file failed.
#[derive(Debug)]
pub struct GetFault {
    /// One line, naming the URL.
    pub message: String,
    /// Trying again may help: no answer, or 408, 429, 502, 503, 504.
    pub transient: bool,
}

/// `GET url` of a log file (checkpoint, tile, entry bundle): `None` on 404; at most `max + 1`
/// bytes of the body (so that the caller sees one that is too long). Asks for the body
/// uncompressed, and refuses a compressed one: log files are hashed as they are served.
pub fn get_log_resource(
    client: &Client,
    url: &Url,
    max: usize,
) -> Result<Option<Vec<u8>>, GetFault> {
    let fault = |message: String, transient: bool| GetFault { message, transient };
    let resp = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT_ENCODING, "identity")
        .send()
        .map_err(|e| fault(super::unsent("GET", url, e), true))?;
    let status = resp.status();
    if status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        let transient = matches!(status.as_u16(), 408 | 429 | 502 | 503 | 504);
        let detail = ErrorAnswer::read(url, resp).detail();
        return Err(fault(
            if detail.is_empty() {
                format!("GET {url}: HTTP {status}")
            } else {
                format!("GET {url}: HTTP {status}: {detail}")
            },
            transient,
        ));
    }
    if let Some(enc) = resp.headers().get(reqwest::header::CONTENT_ENCODING)
        && enc.as_bytes() != b"identity"
    {
        return Err(fault(
            format!(
                "GET {url}: the response is compressed ({}), which is not supported",
                String::from_utf8_lossy(enc.as_bytes())
            ),
            false,
        ));
    }
    let mut body = Vec::new();
    resp.take(max as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| {
            fault(
                format!("GET {url}: reading the body: {}", error_chain(&e)),
                false,
            )
        })?;
    Ok(Some(body))
}
