//! The log's side of witnessing (C2SP tlog-witness): collecting cosignatures for each new
//! checkpoint.
//!
//! The witness itself is the `truce_witness` crate, an independent party that never depends on
//! this server; the server uses only its wire format (the request body of
//! [`truce_witness::request`] and the 409 size content type), so that both sides share one
//! definition of it.
//!
//! The witnesses are configured in the log's `truce.toml`:
//!
//! ```toml
//! [[witnesses]]
//! url = "http://witness.example:7380"   # the submission prefix; /add-checkpoint is appended
//! vkey = "witness.example/w1+1234abcd+BA…"
//! ```
//!
//! [`collect`] runs one task per witness, each following the checkpoint watch channel of the
//! sequencer. For the latest checkpoint it sends `add-checkpoint` with, as old size, the size the
//! witness last cosigned as far as this task knows — zero after a start, as the spec suggests;
//! the witness then answers 409 with its size, and the task retries once with a consistency proof
//! from that size, read from the stored tree hashes. A returned cosignature is checked against
//! the configured witness key (lines from other keys are ignored, per the spec) and merged with
//! the other witnesses' into the log's checkpoint note, which is stored
//! ([`truce_store::Store::put_cosigned_checkpoint`]) and served at `/log/checkpoint`.
//!
//! Failures (timeouts of [`REQUEST_TIMEOUT`], refusals, bad cosignatures) are logged at `warn`
//! with the witness's URL and retried with exponential backoff, always for the latest
//! checkpoint: a witness only ever needs the newest one. Nothing here can delay the sequencer:
//! the watch channel never blocks its sender, proofs are read like any other read, and the one
//! write (the merged note, a few hundred bytes) happens at most once per witness answer.
//!
//! # Invariants
//!
//! - **The log never waits for witnesses.** Collection runs in its own tasks, fed by the
//!   checkpoint watch channel; a slow or dead witness costs a warning, never a sequencer stall.
//! - **Only verified cosignatures are published.** A line is merged into the served checkpoint
//!   only if it verifies under the configured key for exactly the checkpoint text sent.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use truce_log::checkpoint::verify_checkpoint_note;
use truce_log::cosignature::CosignatureVerifier;
use truce_log::note::{Note, NoteSignature, parse_signature_lines};
use truce_model::keys::VerifierKey;
use truce_store::Store;

use truce_witness::request::encode_request;
use truce_witness::service::TLOG_SIZE_CONTENT_TYPE;

use crate::ledger::{self, Published};

/// How long one `add-checkpoint` request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The first pause after a failure; it doubles up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(500);

/// The longest pause between attempts at an unresponsive witness.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The largest witness response read.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// One witness the log asks for cosignatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// The witness's submission prefix (`http://host:port[/path]`); `/add-checkpoint` is
    /// appended.
    pub url: String,
    /// The witness's cosigner vkey (signature type 0x04).
    pub vkey: CosignatureVerifier,
}

impl WitnessConfig {
    /// The `add-checkpoint` URL.
    pub fn endpoint(&self) -> String {
        format!("{}/add-checkpoint", self.url.trim_end_matches('/'))
    }

    /// Checks the URL: plain `http` (this build has no TLS), a host, no query or fragment.
    pub fn validate(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.url)
            .map_err(|e| format!("witness url {:?}: {e}", self.url))?;
        if url.scheme() != "http" {
            return Err(format!(
                "witness url {:?}: only http:// is supported (this build has no TLS; use a local \
                 TLS-terminating proxy for an https witness)",
                self.url
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("witness url {:?} has no host", self.url));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "witness url {:?}: the submission prefix may not have a query or fragment",
                self.url
            ));
        }
        Ok(())
    }
}

/// Checks a list of witnesses: valid URLs, and no key listed twice.
pub fn check_witnesses(witnesses: &[WitnessConfig]) -> Result<(), String> {
    for (i, w) in witnesses.iter().enumerate() {
        w.validate()?;
        if witnesses[..i]
            .iter()
            .any(|o| o.vkey.name() == w.vkey.name() && o.vkey.key_id() == w.vkey.key_id())
        {
            return Err(format!(
                "witness key {}+{:08x} is configured twice",
                w.vkey.name(),
                w.vkey.key_id()
            ));
        }
    }
    Ok(())
}

/// Why one round with a witness produced no cosignature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CollectError {
    /// The consistency proof could not be read from the store.
    Proof(String),
    /// The request failed (connection, timeout, …).
    Http(String),
    /// The response exceeded [`MAX_RESPONSE_BYTES`].
    ResponseTooLarge,
    /// The witness answered with an unexpected status.
    Status { status: u16, body: String },
    /// The witness still reports another size after a retry with its own size.
    SizeConflict { old: u64, witness_size: u64 },
    /// The witness cosigned a larger tree than the log has: the log lost entries, or it was
    /// forked.
    WitnessAhead { witness_size: u64, size: u64 },
    /// The witness cosigned another root at this size (409 without a size): a split view.
    RootConflict { size: u64, body: String },
    /// A 409 `text/x.tlog.size` body is not a size.
    BadSizeBody(String),
    /// The response has no cosignature by the configured key.
    NoCosignature,
    /// A line by the configured key does not verify, or the response is not signature lines.
    BadCosignature(String),
    /// The cosigned checkpoint could not be assembled or stored.
    Store(String),
}

impl fmt::Display for CollectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CollectError::Proof(e) => write!(f, "reading the consistency proof: {e}"),
            CollectError::Http(e) => write!(f, "request failed: {e}"),
            CollectError::ResponseTooLarge => {
                write!(f, "the response exceeds {MAX_RESPONSE_BYTES} bytes")
            }
            CollectError::Status { status, body } => {
                write!(f, "the witness answered {status}: {body}")
            }
            CollectError::SizeConflict { old, witness_size } => write!(
                f,
                "sent old size {old}, the witness still reports size {witness_size}"
            ),
            CollectError::WitnessAhead { witness_size, size } => write!(
                f,
                "the witness cosigned size {witness_size}, larger than this log's {size}: \
                 the log lost entries or was forked"
            ),
            CollectError::RootConflict { size, body } => write!(
                f,
                "the witness cosigned another root at size {size}: the log was forked ({body})"
            ),
            CollectError::BadSizeBody(body) => {
                write!(
                    f,
                    "409 {TLOG_SIZE_CONTENT_TYPE} body {body:?} is not a size"
                )
            }
            CollectError::NoCosignature => {
                write!(
                    f,
                    "the response has no cosignature by the configured witness key"
                )
            }
            CollectError::BadCosignature(e) => write!(f, "invalid cosignature: {e}"),
            CollectError::Store(e) => write!(f, "storing the cosigned checkpoint: {e}"),
        }
    }
}

impl std::error::Error for CollectError {}

/// An error and its sources, on one line (reqwest's own message omits the cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn excerpt(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(200)]);
    s.trim_end().to_string()
}

/// Whether a `Content-Type` is `text/x.tlog.size` (parameters and case aside).
fn is_tlog_size(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or_default();
    media_type
        .trim()
        .eq_ignore_ascii_case(TLOG_SIZE_CONTENT_TYPE)
}

/// Picks the configured witness's cosignature out of an `add-checkpoint` response: lines by
/// other keys are ignored; a line by the configured key must verify over `checkpoint_text`.
pub fn check_response(
    vkey: &CosignatureVerifier,
    checkpoint_text: &str,
    body: &[u8],
) -> Result<NoteSignature, CollectError> {
    let lines =
        parse_signature_lines(body).map_err(|e| CollectError::BadCosignature(e.to_string()))?;
    let mut found = None;
    for line in lines {
        if line.name != vkey.name() || line.key_id != vkey.key_id() {
            continue;
        }
        vkey.verify_cosignature(checkpoint_text, &line)
            .map_err(|e| CollectError::BadCosignature(e.to_string()))?;
        found.get_or_insert(line);
    }
    found.ok_or(CollectError::NoCosignature)
}

/// Serialises the read-merge-write of the stored cosigned checkpoint.
struct Merger {
    store: Arc<dyn Store>,
    origin: String,
    log_vkey: VerifierKey,
    lock: tokio::sync::Mutex<()>,
}

impl Merger {
    /// The published checkpoint as a verified note.
    fn open(&self, published: &Published) -> Result<Note, CollectError> {
        let note = Note::parse(&published.note).map_err(|e| CollectError::Store(e.to_string()))?;
        verify_checkpoint_note(&note, &self.origin, &self.log_vkey)
            .map_err(|e| CollectError::Store(e.to_string()))?;
        Ok(note)
    }

    /// Adds `sig` to the stored cosigned checkpoint of `published`'s size (starting from the
    /// log's own note), unless a larger cosigned checkpoint is stored already.
    async fn record(&self, published: &Published, sig: NoteSignature) -> Result<(), CollectError> {
        let store_err = |e: &dyn std::error::Error| CollectError::Store(chain(e));
        let _guard = self.lock.lock().await;
        let log_note = self.open(published)?;
        let mut note = match self
            .store
            .cosigned_checkpoint()
            .await
            .map_err(|e| store_err(&e))?
        {
            Some((size, _)) if size > published.size => return Ok(()),
            Some((size, bytes)) if size == published.size => match Note::parse(&bytes) {
                Ok(n) if n.text() == log_note.text() => n,
                _ => log_note,
            },
            _ => log_note,
        };
        note.push_signature(sig).map_err(|e| store_err(&e))?;
        verify_checkpoint_note(&note, &self.origin, &self.log_vkey).map_err(|e| store_err(&e))?;
        self.store
            .put_cosigned_checkpoint(published.size, &note.to_bytes())
            .await
            .map_err(|e| store_err(&e))
    }
}

/// One witness, as seen from the log.
struct WitnessClient {
    config: WitnessConfig,
    endpoint: String,
    http: reqwest::Client,
    /// The size this witness last cosigned, as far as we know (0 until it tells us).
    known_size: u64,
}

impl WitnessClient {
    async fn post(&self, body: Vec<u8>) -> Result<(u16, String, Vec<u8>), CollectError> {
        let mut resp = self
            .http
            .post(&self.endpoint)
            .body(body)
            .send()
            .await
            .map_err(|e| CollectError::Http(chain(&e)))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut out = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| CollectError::Http(chain(&e)))?
        {
            if out.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(CollectError::ResponseTooLarge);
            }
            out.extend_from_slice(&chunk);
        }
        Ok((status, content_type, out))
    }

    /// Asks for a cosignature of `published`, retrying once with the witness's size after a 409.
    async fn cosign(
        &mut self,
        published: &Published,
        merger: &Merger,
    ) -> Result<NoteSignature, CollectError> {
        let note = merger.open(published)?;
        let mut retried = false;
        loop {
            let old = self.known_size;
            if old > published.size {
                return Err(CollectError::WitnessAhead {
                    witness_size: old,
                    size: published.size,
                });
            }
            let proof = if old == 0 || old == published.size {
                Vec::new()
            } else {
                ledger::consistency_proof(
                    &*merger.store,
                    &ledger::HashCache::default(),
                    published.size,
                    old,
                )
                .await
                .map_err(|e| CollectError::Proof(e.to_string()))?
            };
            let (status, content_type, body) = self
                .post(encode_request(old, &proof, &published.note))
                .await?;
            match status {
                200 => {
                    let sig = check_response(&self.config.vkey, note.text(), &body)?;
                    self.known_size = published.size;
                    return Ok(sig);
                }
                409 if is_tlog_size(&content_type) => {
                    let size = std::str::from_utf8(&body)
                        .ok()
                        .and_then(|s| s.strip_suffix('\n'))
                        .filter(|s| !s.starts_with('0') || *s == "0")
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| CollectError::BadSizeBody(excerpt(&body)))?;
                    self.known_size = size;
                    if retried || size == old {
                        return Err(CollectError::SizeConflict {
                            old,
                            witness_size: size,
                        });
                    }
                    tracing::debug!(witness = %self.config.url, witness_size = size, "learnt the witness's size");
                    retried = true;
                }
                409 => {
                    return Err(CollectError::RootConflict {
                        size: published.size,
                        body: excerpt(&body),
                    });
                }
                _ => {
                    return Err(CollectError::Status {
                        status,
                        body: excerpt(&body),
                    });
                }
            }
        }
    }

    /// Follows the published checkpoints until the sequencer goes away.
    async fn run(mut self, mut published: watch::Receiver<Arc<Published>>, merger: Arc<Merger>) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let latest = published.borrow_and_update().clone();
            let result = match self.cosign(&latest, &merger).await {
                Ok(sig) => merger.record(&latest, sig).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    tracing::debug!(witness = %self.config.url, size = latest.size, "checkpoint cosigned");
                    backoff = MIN_BACKOFF;
                    if published.changed().await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        witness = %self.config.url,
                        size = latest.size,
                        error = %e,
                        retry_in_ms = backoff.as_millis() as u64,
                        "no cosignature from witness"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    if published.has_changed().is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Collects cosignatures from `witnesses` for every checkpoint published on `published`, until
/// its sender is dropped. Spawn it; it never returns early on errors (they are logged).
pub async fn collect(
    store: Arc<dyn Store>,
    published: watch::Receiver<Arc<Published>>,
    origin: String,
    log_vkey: VerifierKey,
    witnesses: Vec<WitnessConfig>,
) {
    if witnesses.is_empty() {
        return;
    }
    let http = match reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %chain(&e), "no HTTP client; not collecting cosignatures");
            return;
        }
    };
    let merger = Arc::new(Merger {
        store,
        origin,
        log_vkey,
        lock: tokio::sync::Mutex::new(()),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for config in witnesses {
        let client = WitnessClient {
            endpoint: config.endpoint(),
            config,
            http: http.clone(),
            known_size: 0,
        };
        tasks.spawn(client.run(published.clone(), merger.clone()));
    }
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::DataDir;
    use crate::intake::Submission;
    use truce_log::checkpoint::{Checkpoint, open_checkpoint_note};
    use truce_log::cosignature::{CosignerKey, verify_cosignatures};
    use truce_model::dsse::Envelope;
    use truce_model::keys::PrivateKey;
    use truce_witness::dir::TrustedLog;
    use truce_witness::service::{self, Witness};

    const TEXT: &str = "truce.example/log\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn responses_are_checked_against_the_configured_key() {
        let w = CosignerKey::from_seed("w.example/1", [1; 32]).unwrap();
        let other = CosignerKey::from_seed("w.example/2", [2; 32]).unwrap();
        let good = w.cosign(TEXT, 100).unwrap();
        let stranger = other.cosign(TEXT, 100).unwrap();
        let body = format!("{}{}", stranger.to_line(), good.to_line());
        assert_eq!(
            check_response(&w.verifier(), TEXT, body.as_bytes()),
            Ok(good.clone())
        );
        assert_eq!(
            check_response(&w.verifier(), TEXT, stranger.to_line().as_bytes()),
            Err(CollectError::NoCosignature)
        );
        let other_text = TEXT.replace("\n3\n", "\n4\n");
        assert!(matches!(
            check_response(&w.verifier(), &other_text, good.to_line().as_bytes()),
            Err(CollectError::BadCosignature(_))
        ));
        assert!(matches!(
            check_response(&w.verifier(), TEXT, b"not lines"),
            Err(CollectError::BadCosignature(_))
        ));
    }

    #[test]
    fn size_content_type() {
        assert!(is_tlog_size("text/x.tlog.size"));
        assert!(is_tlog_size("Text/X.Tlog.Size; charset=utf-8"));
        assert!(!is_tlog_size("text/plain; charset=utf-8"));
        assert!(!is_tlog_size(""));
    }

    #[test]
    fn witness_urls() {
        let vkey = CosignerKey::from_seed("w.example/1", [1; 32])
            .unwrap()
            .verifier();
        let cfg = |url: &str| WitnessConfig {
            url: url.into(),
            vkey: vkey.clone(),
        };
        assert_eq!(
            cfg("http://w.example:7380/").endpoint(),
            "http://w.example:7380/add-checkpoint"
        );
        assert_eq!(
            cfg("http://w.example/prefix").endpoint(),
            "http://w.example/prefix/add-checkpoint"
        );
        assert!(check_witnesses(&[cfg("http://127.0.0.1:1")]).is_ok());
        for bad in [
            "https://w.example",
            "w.example",
            "http://w.example/?x=1",
            "ftp://x",
        ] {
            assert!(check_witnesses(&[cfg(bad)]).is_err(), "{bad}");
        }
        let twice = check_witnesses(&[cfg("http://a.example"), cfg("http://b.example")]);
        assert!(twice.unwrap_err().contains("configured twice"));
    }

    async fn start_witness(
        dir: &std::path::Path,
        name: &str,
        log_vkey: VerifierKey,
    ) -> (String, Arc<Witness>) {
        let key = CosignerKey::from_seed(name, [name.len() as u8; 32]).unwrap();
        let logs = [TrustedLog {
            origin: log_vkey.name().to_string(),
            vkey: log_vkey,
        }];
        let state = dir.join(format!("{}.json", name.replace('/', "_")));
        let w = Arc::new(Witness::new(key, &logs, state).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(service::serve(listener, w.clone(), std::future::pending()));
        (url, w)
    }

    async fn submit(app: &crate::AppState, op: &PrivateKey, n: u32) {
        let k = PrivateKey::from_seed(&format!("m.example/{n}"), [n as u8; 32]).unwrap();
        let payload = serde_json::json!({"id": format!("k-{n}"), "vkey": k.verifier().to_string(),
            "roles": ["monitor"], "affiliation": "test"});
        let (reply, rx) = tokio::sync::oneshot::channel();
        let envelope = Envelope::sign("key", payload.to_string().as_bytes(), &[op]);
        let canonical = envelope.canonical_json();
        app.submit
            .send(Submission {
                prepared: truce_engine::Prepared::new(envelope).unwrap(),
                canonical,
                resolver: Default::default(),
                reply,
            })
            .await
            .unwrap();
        rx.await.unwrap().unwrap();
    }

    /// Polls the store (bounded) until the cosigned checkpoint of `size` carries a cosignature
    /// by `witness`; returns it.
    async fn cosigned_by(
        store: &dyn Store,
        log_vkey: &VerifierKey,
        size: u64,
        witness: &CosignatureVerifier,
    ) -> Note {
        // Bounded (about a minute in all): a loaded CI machine can make witnesses slow.
        for i in 0..400u64 {
            if let Some((s, bytes)) = store.cosigned_checkpoint().await.unwrap()
                && s == size
            {
                let (_, note) = open_checkpoint_note(&bytes, log_vkey.name(), log_vkey).unwrap();
                if !verify_cosignatures(&note, std::slice::from_ref(witness))
                    .unwrap()
                    .is_empty()
                {
                    return note;
                }
            }
            tokio::time::sleep(Duration::from_millis((5 + i).min(200))).await;
        }
        panic!("no checkpoint of size {size} cosigned by {witness}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn collects_from_live_witnesses_and_skips_dead_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let mut dir = DataDir::init(&tmp.path().join("log"), "truce.example/log").unwrap();
        let log_vkey = dir.log_key.verifier();
        let (url, w1) = start_witness(tmp.path(), "w1.example/w", log_vkey.clone()).await;
        let dead = CosignerKey::from_seed("dead.example/w", [7; 32]).unwrap();
        dir.config.witnesses = vec![
            WitnessConfig {
                url: "http://127.0.0.1:1".into(),
                vkey: dead.verifier(),
            },
            WitnessConfig {
                url,
                vkey: w1.verifier(),
            },
        ];
        let store = Arc::new(
            truce_store_sqlite::SqliteStore::open(&dir.store_path())
                .await
                .unwrap(),
        );
        let app = crate::AppState::start(store.clone(), &dir).await.unwrap();
        for n in 0..3 {
            submit(&app, &dir.operator_key, n).await;
        }
        let first = app.published.borrow().clone();
        assert_eq!(first.size, 3);
        let note = cosigned_by(&*store, &log_vkey, 3, &w1.verifier()).await;
        let cosigs = verify_cosignatures(&note, &[w1.verifier(), dead.verifier()]).unwrap();
        assert_eq!(cosigs.len(), 1, "only the live witness cosigned");
        assert_eq!(w1.head("truce.example/log").map(|h| h.size), Some(3));

        // A collector that starts from zero (as after a restart of the log) at a witness that
        // cosigned size 3 learns that size from the 409, and proves consistency from there.
        let (url2, w2) = start_witness(tmp.path(), "w2.example/witness", log_vkey.clone()).await;
        w2.add_checkpoint(&encode_request(0, &[], &first.note))
            .unwrap();
        for n in 3..6 {
            submit(&app, &dir.operator_key, n).await;
        }
        // Let the app's own collector finish with size 6 first: two collectors merging into
        // the same stored note could overwrite each other's line (a server runs only one).
        cosigned_by(&*store, &log_vkey, 6, &w1.verifier()).await;
        let (tx, rx) = watch::channel(app.published.borrow().clone());
        let task = tokio::spawn(collect(
            store.clone(),
            rx,
            "truce.example/log".into(),
            log_vkey.clone(),
            vec![WitnessConfig {
                url: url2,
                vkey: w2.verifier(),
            }],
        ));
        let note = cosigned_by(&*store, &log_vkey, 6, &w2.verifier()).await;
        assert_eq!(w2.head("truce.example/log").map(|h| h.size), Some(6));
        assert_eq!(
            note.text(),
            Note::parse(&app.published.borrow().note).unwrap().text()
        );
        drop(tx);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn merging_keeps_other_witnesses_and_never_goes_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::init(&tmp.path().join("log"), "truce.example/log").unwrap();
        let store: Arc<dyn Store> = Arc::new(
            truce_store_sqlite::SqliteStore::open(&dir.store_path())
                .await
                .unwrap(),
        );
        let merger = Merger {
            store: store.clone(),
            origin: "truce.example/log".into(),
            log_vkey: dir.log_key.verifier(),
            lock: tokio::sync::Mutex::new(()),
        };
        let published = |size: u64| {
            let cp = Checkpoint::new("truce.example/log", size, [size as u8; 32]);
            Published {
                size,
                root: cp.root,
                note: truce_log::checkpoint::sign_checkpoint(&cp, &dir.log_key).unwrap(),
            }
        };
        let w1 = CosignerKey::from_seed("w1", [1; 32]).unwrap();
        let w2 = CosignerKey::from_seed("w2", [2; 32]).unwrap();
        let p5 = published(5);
        let text5 = Note::parse(&p5.note).unwrap().text().to_string();
        merger
            .record(&p5, w1.cosign(&text5, 1).unwrap())
            .await
            .unwrap();
        merger
            .record(&p5, w2.cosign(&text5, 2).unwrap())
            .await
            .unwrap();
        merger
            .record(&p5, w1.cosign(&text5, 3).unwrap())
            .await
            .unwrap();
        let (size, bytes) = store.cosigned_checkpoint().await.unwrap().unwrap();
        assert_eq!(size, 5);
        let note = Note::parse(&bytes).unwrap();
        let got = verify_cosignatures(&note, &[w1.verifier(), w2.verifier()]).unwrap();
        assert_eq!(
            got.iter()
                .map(|c| (c.name.as_str(), c.timestamp))
                .collect::<Vec<_>>(),
            [("w2", 2), ("w1", 3)]
        );
        // An older checkpoint's late cosignature does not replace the newer one.
        let p4 = published(4);
        let text4 = Note::parse(&p4.note).unwrap().text().to_string();
        merger
            .record(&p4, w1.cosign(&text4, 4).unwrap())
            .await
            .unwrap();
        assert_eq!(store.cosigned_checkpoint().await.unwrap().unwrap().0, 5);
    }
}
