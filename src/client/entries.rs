//! Posting entries (`POST /v1/entries`): once, with the receipt verified end to end
//! ([`submit_entry`], for `truce submit` and `truce key`), or patiently, retrying what deserves
//! a retry ([`post_patiently`], for the import's workers).
//!
//! Posting the same envelope again is idempotent (the server answers with its existing index),
//! so a retry after a lost answer can never log an entry twice; that is what makes retrying safe.

use std::time::Duration;

use reqwest::Url;
use reqwest::blocking::{Client, Response};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use truce_log::checkpoint::Checkpoint;
use truce_log::tile::{self, TILE_WIDTH, TileLevel};
use truce_model::dsse::Envelope;
use truce_model::keys::VerifierKey;

use super::log::{LogKey, Verified, check_leaf, fetch_entry_bundle, parse_vkey, verify_receipt};
use super::{
    BundleFault, ErrorAnswer, Failure, LeafFault, Target, base_url, get_json, http_client, join,
    read_json, read_limited, unsent,
};

/// How often an unavailable server (503, 502, 504, 408, connection failure) is tried for one
/// request before giving up; the waits double from 250 ms to at most 8 s (about 40 s in all), or
/// follow the server's `Retry-After`.
pub const MAX_UNAVAILABLE_TRIES: u32 = 10;
/// The longest `Retry-After` honoured as given, in seconds; a longer one waits this long.
const MAX_RETRY_AFTER_SECS: u64 = 300;
/// How long one entry may be rate-limited in all before giving up.
pub const MAX_RATE_LIMITED: Duration = Duration::from_secs(30 * 60);

/// How retries wait, and when they should not: the import's workers share one stop flag, so that
/// a worker waiting out a `Retry-After` wakes up when another has stopped the import.
pub trait Pacing {
    /// Whether the work has stopped: nothing more is sent.
    fn stopped(&self) -> bool;
    /// Sleeps `d`, waking early if the work stops; false if it did.
    fn sleep(&self, d: Duration) -> bool;
    /// Counts a `429` answer.
    fn rate_limited(&self);
    /// Counts an unavailable server (an answer of 408, 502, 503 or 504, or none).
    fn unavailable(&self);
}

/// The wait before try `tries + 1` of an unavailable server: 250 ms, doubling, at most 8 s.
pub fn backoff(tries: u32) -> Duration {
    Duration::from_millis(250u64 << tries.saturating_sub(1).min(5))
}

/// `Retry-After` in seconds (HTTP dates are not used by truce servers), capped.
fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp.headers().get(reqwest::header::RETRY_AFTER)?;
    let secs: u64 = v.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs.clamp(1, MAX_RETRY_AFTER_SECS)))
}

/// One `POST url` of an entry's canonical JSON: the answer, or why there is none.
fn send_entry(client: &Client, url: &Url, canonical: &[u8]) -> Result<Response, String> {
    client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(canonical.to_vec())
        .send()
        .map_err(|e| unsent("POST", url, e))
}

/// What became of a patient post.
pub enum Posted {
    /// `200`, and the receipt's bytes (not yet verified).
    Receipt(Vec<u8>),
    /// An answer about this entry (or this key) that no retry would change.
    Refused(ErrorAnswer),
    /// The server stayed unavailable: why, in one line.
    GaveUp(String),
    /// Rate-limited for more than [`MAX_RATE_LIMITED`] in all.
    RateLimited,
    /// The work stopped first.
    Stopped,
}

/// Posts an entry's canonical JSON until the server gives an answer about it. `429` waits as
/// `Retry-After` says (1 s without), as often as needed up to [`MAX_RATE_LIMITED`]; `408`, `502`,
/// `503`, `504` and connection failures wait as `Retry-After` says, else back off exponentially,
/// [`MAX_UNAVAILABLE_TRIES`] times in all.
pub fn post_patiently(
    client: &Client,
    base: &Url,
    canonical: &[u8],
    pacing: &dyn Pacing,
) -> Posted {
    let url = match join(base, "v1/entries") {
        Ok(u) => u,
        Err(f) => return Posted::GaveUp(f.message),
    };
    let mut unavailable_tries = 0u32;
    let mut rate_limited_for = Duration::ZERO;
    loop {
        if pacing.stopped() {
            return Posted::Stopped;
        }
        let resp = match send_entry(client, &url, canonical) {
            Ok(resp) => resp,
            Err(unsent) => match back_off(pacing, &mut unavailable_tries, None, unsent) {
                Some(end) => return end,
                None => continue,
            },
        };
        let status = resp.status().as_u16();
        match status {
            200 => match read_limited(resp) {
                // The entry may be logged: posting it again is idempotent.
                Err(e) => {
                    let why = format!("POST {url}: reading the receipt: {e}");
                    if let Some(end) = back_off(pacing, &mut unavailable_tries, None, why) {
                        return end;
                    }
                }
                Ok(answer) => return Posted::Receipt(answer),
            },
            429 => {
                pacing.rate_limited();
                let wait = retry_after(&resp).unwrap_or(Duration::from_secs(1));
                drop(resp);
                rate_limited_for += wait;
                if rate_limited_for > MAX_RATE_LIMITED {
                    return Posted::RateLimited;
                }
                if !pacing.sleep(wait) {
                    return Posted::Stopped;
                }
            }
            408 | 502 | 503 | 504 => {
                let wait = retry_after(&resp);
                let detail = ErrorAnswer::read(&url, resp).detail();
                let why = format!("POST {url}: HTTP {status}: {detail}");
                if let Some(end) = back_off(pacing, &mut unavailable_tries, wait, why) {
                    return end;
                }
            }
            _ => return Posted::Refused(ErrorAnswer::read(&url, resp)),
        }
    }
}

/// Waits before trying an unavailable server again: as long as its `Retry-After` says, else with
/// exponential [`backoff`]. `Some` ends the post: the tries are used up, or the work stopped.
fn back_off(
    pacing: &dyn Pacing,
    tries: &mut u32,
    retry_after: Option<Duration>,
    why: String,
) -> Option<Posted> {
    pacing.unavailable();
    *tries += 1;
    if *tries >= MAX_UNAVAILABLE_TRIES {
        return Some(Posted::GaveUp(match retry_after {
            Some(_) => why,
            None => format!("{why} (gave up after {MAX_UNAVAILABLE_TRIES} tries)"),
        }));
    }
    let wait = retry_after.unwrap_or_else(|| backoff(*tries));
    (!pacing.sleep(wait)).then_some(Posted::Stopped)
}

/// A verified receipt.
pub struct Receipt {
    /// The server's answer, as it sent it.
    pub answer: Value,
    pub index: u64,
    pub leaf_hash: [u8; 32],
    /// The tlog-proof text.
    pub proof: String,
    /// The checkpoint the proof verified against.
    pub checkpoint: Checkpoint,
    /// The log key it verified with, and whether it came from the server itself.
    pub log_key: VerifierKey,
    pub log_key_from_server: bool,
    /// The leaf's log time, ms since the epoch.
    pub time_ms: i64,
    /// The same envelope was already in the log before this run.
    pub already_logged: bool,
}

/// Posts `envelope` (whose payload id is `id`) once, and verifies the receipt: its proof against
/// the log key (`--vkey`, else the one the server publishes), and the logged leaf against the
/// envelope.
pub fn submit_entry(target: &Target, envelope: &Envelope, id: &str) -> Result<Receipt, Failure> {
    let base = base_url(&target.server)?;
    // Checked before anything is sent: a bad --vkey should not leave an entry behind.
    let pinned = match &target.log_vkey {
        Some(v) => Some(parse_vkey("--vkey", v).map_err(Failure::usage)?),
        None => None,
    };
    let client = http_client("submit", None).map_err(Failure::usage)?;
    let canonical = envelope.canonical_json();

    let already_logged = is_logged(&client, &base, id, &canonical);
    let answer = post_once(&client, &base, &canonical)?;
    let accepted = match answer["index"].as_u64() {
        Some(i) => format!("the server logged the entry at index {i}, but "),
        None => String::new(),
    };
    let log_key = match pinned {
        Some(k) => LogKey::pinned(k),
        None => {
            let (_, k) = LogKey::published(&client, &base)
                .map_err(|why| Failure::usage(format!("{accepted}{why}")))?;
            k
        }
    };
    let v = verify_receipt(&answer, &log_key.key, &log_key.origin)
        .map_err(|why| Failure::refused(format!("{accepted}its receipt does not verify: {why}")))?;
    let time_ms = check_logged_entry(&client, &base, &v, &canonical).map_err(|e| match e {
        BundleFault::Unreadable(why) => Failure::usage(format!(
            "{accepted}the logged leaf could not be read to check it: {why}"
        )),
        BundleFault::Malformed(why) => {
            Failure::refused(format!("{accepted}its receipt does not verify: {why}"))
        }
    })?;
    Ok(Receipt {
        answer,
        index: v.index,
        leaf_hash: v.leaf_hash,
        proof: v.proof_text,
        checkpoint: v.checkpoint,
        log_key: log_key.key,
        log_key_from_server: log_key.from_server,
        time_ms,
        already_logged,
    })
}

/// One post: the receipt's JSON, or the refusal (exit 1 for the statuses of the entries
/// contract, else 2).
fn post_once(client: &Client, base: &Url, canonical: &[u8]) -> Result<Value, Failure> {
    let url = join(base, "v1/entries")?;
    let resp = send_entry(client, &url, canonical).map_err(Failure::usage)?;
    if !resp.status().is_success() {
        return Err(refusal(&ErrorAnswer::read(&url, resp)));
    }
    read_json(resp, &url)
        .map_err(|why| Failure::refused(format!("POST {url}: the receipt is not JSON: {why}")))
}

/// Whether the server already holds this very envelope under `id` (best effort: any failure
/// says no, and the POST decides).
fn is_logged(client: &Client, base: &Url, id: &str, canonical: &[u8]) -> bool {
    let (Ok(found), Ok(ours)) = (
        get_json(client, base, &format!("v1/entries/{id}")),
        serde_json::from_slice::<Value>(canonical),
    ) else {
        return false;
    };
    found["envelope"] == ours
}

/// A non-2xx answer: a refusal (exit 1) for the statuses of the entries contract, else exit 2.
fn refusal(answer: &ErrorAnswer) -> Failure {
    let status = answer.status;
    let code = status.as_u16();
    let detail = answer.detail();
    let is_refusal = matches!(code, 400 | 401 | 403 | 409 | 413 | 422) && answer.problem.is_some();
    let mut message = if is_refusal {
        format!("refused (HTTP {status})")
    } else {
        format!("POST {}: HTTP {status}", answer.url)
    };
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(&detail);
    }
    if matches!(code, 404 | 405) {
        message.push_str(" (is --server a truce server?)");
    }
    Failure {
        code: if is_refusal { 1 } else { 2 },
        message,
        status: Some(code),
        problem: answer.problem.clone(),
    }
}

/// Reads leaf `v.index` back from the entry bundle of the verified checkpoint's tree and checks
/// it against the receipt and the envelope posted (`canonical`); returns its log time. A leaf
/// that is not what the receipt claims is [`BundleFault::Malformed`].
fn check_logged_entry(
    client: &Client,
    base: &Url,
    v: &Verified,
    canonical: &[u8],
) -> Result<i64, BundleFault> {
    let width = u64::from(TILE_WIDTH);
    let tile = tile::tile_for(TileLevel::Entries, v.index / width, v.checkpoint.size).ok_or_else(
        || BundleFault::Malformed(format!("no entry bundle holds index {}", v.index)),
    )?;
    let leaves = fetch_entry_bundle(client, base, &tile, None)?;
    let envelope_sha256: [u8; 32] = Sha256::digest(canonical).into();
    check_leaf(&leaves, v.index, &v.leaf_hash, &envelope_sha256).map_err(|f| match f {
        LeafFault::Missing => {
            BundleFault::Malformed(format!("{} has no entry {}", tile.path(), v.index % width))
        }
        LeafFault::Wrong(why) => BundleFault::Malformed(why),
    })
}
