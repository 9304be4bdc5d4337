//! The witness: `POST /add-checkpoint`, exactly as C2SP tlog-witness specifies it.
//!
//! For a request (old size, consistency proof, checkpoint) the witness answers, in this order:
//!
//! | check                                                            | status                 |
//! |------------------------------------------------------------------|------------------------|
//! | body malformed (see [`crate::request`])                          | 400 (413 if too large) |
//! | checkpoint origin not among the trusted logs                     | 404                    |
//! | no valid signature by a trusted key of that origin               | 403                    |
//! | old size larger than the checkpoint size                         | 400                    |
//! | old size ≠ size of the latest checkpoint cosigned for the origin | 409, body `<size>\n`, `Content-Type: text/x.tlog.size` |
//! | same size as the latest cosigned, other root hash                | 409                    |
//! | consistency proof does not verify                                | 422                    |
//! | otherwise: record the new tree head durably, then cosign         | 200, cosignature lines |
//!
//! Signatures from unknown keys are ignored; a signature from a trusted key that does not verify
//! makes the checkpoint unacceptable (403), as in signed-note verification everywhere in truce.
//! Refusals at 409 (same size, other root) and 422 are possible evidence of a split view, so the
//! whole request is logged at `warn` level.
//!
//! Error bodies are plain text (this is the tlog-witness protocol, not truce's JSON API) and say
//! precisely what was wrong; the one exception is the 409 `text/x.tlog.size` body, whose exact
//! form the spec fixes.
//!
//! # Atomicity
//!
//! [`Witness::add_checkpoint`] is synchronous: it runs on a blocking thread, holds one mutex
//! from the comparison with the recorded tree head until the new head is written (temporary
//! file, fsync, rename) and stored in memory. A client that disconnects cannot interrupt it half
//! way, and two concurrent requests cannot both pass the check (see the race in the spec). If the
//! state file cannot be written, the witness stops cosigning until it is restarted: it no longer
//! knows which head the disk holds.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use truce_log::cosignature::{CosignatureError, CosignatureVerifier, CosignerKey};
use truce_log::merkle::{self, MerkleError};
use truce_log::note::{NoteError, NoteSignature, NoteVerifier};
use truce_model::keys::VerifierKey;

use crate::dir::{TrustedLog, WitnessDir};
use crate::request::{AddCheckpointRequest, MAX_BODY_BYTES, RequestError};
use crate::state::{self, Heads, StateError, TreeHead};

/// The media type of a 409 response carrying the witness's latest cosigned size.
pub const TLOG_SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Why the witness refused to cosign. [`AddError::status`] is the HTTP status the spec requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddError {
    /// The request body is malformed.
    #[error("malformed request: {0}")]
    Malformed(RequestError),
    /// The checkpoint's origin is not a log this witness trusts.
    #[error("unknown log: this witness does not cosign origin {origin:?}")]
    UnknownOrigin { origin: String },
    /// No signature by a trusted key of the origin verifies (or a trusted key's does not).
    #[error(
        "the checkpoint has no valid signature by a key this witness trusts for origin {origin:?}: {why}"
    )]
    Unverified { origin: String, why: NoteError },
    /// The old size is larger than the checkpoint's size.
    #[error("the old size {old} is larger than the checkpoint size {size}")]
    OldSizeTooLarge { old: u64, size: u64 },
    /// The old size is not the size of the latest checkpoint cosigned for the origin.
    #[error(
        "the old size {old} is not the size of the latest checkpoint this witness cosigned ({latest})"
    )]
    OldSizeMismatch { old: u64, latest: u64 },
    /// The checkpoint has the latest cosigned size but another root hash.
    #[error(
        "this witness cosigned a checkpoint of {origin:?} at size {size} with root {}, not {}",
        STANDARD.encode(.recorded),
        STANDARD.encode(.submitted)
    )]
    RootMismatch {
        origin: String,
        size: u64,
        recorded: [u8; 32],
        submitted: [u8; 32],
    },
    /// The consistency proof does not prove the checkpoint extends the latest cosigned one.
    #[error(
        "the consistency proof from size {old} to size {size} of {origin:?} does not verify: {why}"
    )]
    Inconsistent {
        origin: String,
        old: u64,
        size: u64,
        why: MerkleError,
    },
    /// The new tree head could not be recorded (the witness stops cosigning until restarted).
    #[error("the witness cannot record checkpoints: {0}")]
    Storage(String),
    /// The cosignature could not be made.
    #[error("cosigning failed: {0}")]
    Cosign(CosignatureError),
}

impl AddError {
    /// The HTTP status tlog-witness prescribes for this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            AddError::Malformed(RequestError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            AddError::Malformed(_) | AddError::OldSizeTooLarge { .. } => StatusCode::BAD_REQUEST,
            AddError::UnknownOrigin { .. } => StatusCode::NOT_FOUND,
            AddError::Unverified { .. } => StatusCode::FORBIDDEN,
            AddError::OldSizeMismatch { .. } | AddError::RootMismatch { .. } => {
                StatusCode::CONFLICT
            }
            AddError::Inconsistent { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AddError::Storage(_) | AddError::Cosign(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

fn text_response(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

impl IntoResponse for AddError {
    fn into_response(self) -> Response {
        match self {
            AddError::OldSizeMismatch { latest, .. } => text_response(
                StatusCode::CONFLICT,
                TLOG_SIZE_CONTENT_TYPE,
                format!("{latest}\n"),
            ),
            e => text_response(e.status(), "text/plain; charset=utf-8", format!("{e}\n")),
        }
    }
}

/// The mutable part, under one lock.
struct Record {
    heads: Heads,
    /// Set when writing the state failed: the disk may hold a head the memory does not.
    failed: Option<String>,
}

/// A witness: its key, the logs it trusts and its record of what it cosigned.
pub struct Witness {
    key: CosignerKey,
    logs: HashMap<String, Vec<VerifierKey>>,
    state_path: PathBuf,
    record: Mutex<Record>,
}

impl fmt::Debug for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Witness")
            .field("key", &self.key)
            .field("logs", &self.logs.keys().collect::<Vec<_>>())
            .field("state_path", &self.state_path)
            .finish_non_exhaustive()
    }
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Witness {
    /// A witness with `key`, trusting `logs`, recording in `state_path` (loaded now).
    pub fn new(
        key: CosignerKey,
        logs: &[TrustedLog],
        state_path: PathBuf,
    ) -> Result<Witness, StateError> {
        let heads = state::load(&state_path)?;
        let mut by_origin: HashMap<String, Vec<VerifierKey>> = HashMap::new();
        for l in logs {
            let keys = by_origin.entry(l.origin.clone()).or_default();
            if !keys.contains(&l.vkey) {
                keys.push(l.vkey.clone());
            }
        }
        Ok(Witness {
            key,
            logs: by_origin,
            state_path,
            record: Mutex::new(Record {
                heads,
                failed: None,
            }),
        })
    }

    /// The witness of an opened data directory.
    pub fn open(dir: &WitnessDir) -> Result<Witness, StateError> {
        Witness::new(dir.key.clone(), &dir.logs, dir.state_path())
    }

    /// The witness's public key (what logs and clients configure).
    pub fn verifier(&self) -> CosignatureVerifier {
        self.key.verifier()
    }

    /// The latest tree head cosigned for `origin`.
    pub fn head(&self, origin: &str) -> Option<TreeHead> {
        self.record.lock().ok()?.heads.get(origin).copied()
    }

    /// Handles an `add-checkpoint` body: checks it (see the module documentation), records the
    /// new tree head durably and returns the cosignature. Blocking (it fsyncs); call it from a
    /// blocking thread.
    pub fn add_checkpoint(&self, body: &[u8]) -> Result<Vec<NoteSignature>, AddError> {
        let req = AddCheckpointRequest::parse(body).map_err(AddError::Malformed)?;
        let cp = &req.checkpoint;
        let origin = &cp.origin;
        let keys = self
            .logs
            .get(origin)
            .ok_or_else(|| AddError::UnknownOrigin {
                origin: origin.clone(),
            })?;
        let verifiers: Vec<&dyn NoteVerifier> =
            keys.iter().map(|k| k as &dyn NoteVerifier).collect();
        req.note
            .verify(&verifiers)
            .map_err(|why| AddError::Unverified {
                origin: origin.clone(),
                why,
            })?;
        if req.old_size > cp.size {
            return Err(AddError::OldSizeTooLarge {
                old: req.old_size,
                size: cp.size,
            });
        }
        let evidence = |e: AddError| {
            tracing::warn!(
                origin = %origin,
                error = %e,
                request = ?String::from_utf8_lossy(body),
                "refused a checkpoint inconsistent with the one this witness cosigned: possible split view"
            );
            e
        };
        let new_head = TreeHead {
            size: cp.size,
            root: cp.root,
        };
        {
            let mut record = self
                .record
                .lock()
                .map_err(|_| AddError::Storage("the state lock is poisoned".into()))?;
            if let Some(why) = &record.failed {
                return Err(AddError::Storage(format!(
                    "an earlier write of the state failed ({why}); restart the witness"
                )));
            }
            let recorded = record.heads.get(origin).copied();
            let latest = recorded.map_or(0, |h| h.size);
            if req.old_size != latest {
                return Err(AddError::OldSizeMismatch {
                    old: req.old_size,
                    latest,
                });
            }
            let inconsistent = |why| AddError::Inconsistent {
                origin: origin.clone(),
                old: req.old_size,
                size: cp.size,
                why,
            };
            let empty_proof_required = || MerkleError::WrongProofLength {
                got: req.proof.len(),
                want: 0,
            };
            match recorded {
                Some(rec) if rec.size == cp.size => {
                    if rec.root != cp.root {
                        return Err(evidence(AddError::RootMismatch {
                            origin: origin.clone(),
                            size: cp.size,
                            recorded: rec.root,
                            submitted: cp.root,
                        }));
                    }
                    if !req.proof.is_empty() {
                        return Err(inconsistent(empty_proof_required()));
                    }
                }
                // old_size == rec.size here: prove the new tree extends the recorded one.
                Some(rec) if rec.size > 0 => {
                    merkle::check_tree(&req.proof, cp.size, &cp.root, rec.size, &rec.root)
                        .map_err(|why| evidence(inconsistent(why)))?;
                }
                // Never cosigned (or only the empty tree): every tree extends it; the spec
                // requires an empty proof from size zero.
                _ => {
                    if !req.proof.is_empty() {
                        return Err(inconsistent(empty_proof_required()));
                    }
                }
            }
            if recorded != Some(new_head) {
                let mut next = record.heads.clone();
                next.insert(origin.clone(), new_head);
                if let Err(e) = state::save(&self.state_path, &next) {
                    tracing::error!(error = %e, "writing the witness state failed; no longer cosigning");
                    record.failed = Some(e.to_string());
                    return Err(AddError::Storage(e.to_string()));
                }
                record.heads = next;
            }
        }
        tracing::debug!(origin = %origin, size = cp.size, old = req.old_size, "cosigned");
        let sig = self
            .key
            .cosign(req.note.text(), now_seconds())
            .map_err(AddError::Cosign)?;
        Ok(vec![sig])
    }
}

/// `POST /add-checkpoint`.
async fn add_checkpoint(
    State(witness): State<Arc<Witness>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return text_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain; charset=utf-8",
                format!(
                    "malformed request: the body exceeds the limit of {MAX_BODY_BYTES} bytes\n"
                ),
            );
        }
        Err(r) => {
            return text_response(
                r.status(),
                "text/plain; charset=utf-8",
                format!("reading the request body: {}\n", r.body_text()),
            );
        }
    };
    // A blocking task runs to completion even if this request is dropped: the check and the
    // write of the new state are never cut apart.
    match tokio::task::spawn_blocking(move || witness.add_checkpoint(&body)).await {
        Ok(Ok(sigs)) => {
            let lines: String = sigs.iter().map(NoteSignature::to_line).collect();
            text_response(StatusCode::OK, "text/plain; charset=utf-8", lines)
        }
        Ok(Err(e)) => {
            // Evidence of a split view and storage failures were logged where they arose.
            tracing::debug!(status = e.status().as_u16(), error = %e, "add-checkpoint refused");
            e.into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "the add-checkpoint task failed");
            text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                "internal error; the witness log has the details\n".into(),
            )
        }
    }
}

/// The witness's HTTP interface: `POST /add-checkpoint` (the submission prefix is the root).
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", axum::routing::post(add_checkpoint))
        .fallback(|| async {
            text_response(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found: this witness serves POST /add-checkpoint (C2SP tlog-witness)\n".into(),
            )
        })
        .method_not_allowed_fallback(|| async {
            text_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "add-checkpoint must be a POST (C2SP tlog-witness)\n".into(),
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(witness)
}

/// Serves the witness on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    witness: Arc<Witness>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(witness))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::request::encode_request;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;
    use truce_log::checkpoint::{Checkpoint, sign_checkpoint};
    use truce_log::merkle::{Frontier, Hash};
    use truce_model::keys::PrivateKey;

    pub(crate) const ORIGIN: &str = "truce.example/log";

    /// A log in memory: its stored hashes, so that roots and proofs of any size can be made.
    pub(crate) struct TestLog {
        pub key: PrivateKey,
        hashes: Vec<Hash>,
        frontier: Frontier,
        roots: Vec<Hash>,
    }

    impl TestLog {
        pub(crate) fn new(seed: u8) -> TestLog {
            TestLog {
                key: PrivateKey::from_seed(ORIGIN, [seed; 32]).unwrap(),
                hashes: Vec::new(),
                frontier: Frontier::new(),
                roots: vec![merkle::empty_root()],
            }
        }

        /// Appends `n` leaves derived from `tag`.
        pub(crate) fn grow(&mut self, n: u64, tag: u8) {
            for i in 0..n {
                let leaf = truce_log::leaf::leaf_hash(&[tag, i as u8, (i >> 8) as u8]);
                for (pos, h) in self.frontier.push(leaf).unwrap() {
                    assert_eq!(pos, self.hashes.len() as u64);
                    self.hashes.push(h);
                }
                self.roots.push(self.frontier.root());
            }
        }

        pub(crate) fn root(&self, size: u64) -> Hash {
            self.roots[size as usize]
        }

        pub(crate) fn note(&self, size: u64) -> Vec<u8> {
            sign_checkpoint(&Checkpoint::new(ORIGIN, size, self.root(size)), &self.key).unwrap()
        }

        pub(crate) fn proof(&self, new: u64, old: u64) -> Vec<Hash> {
            if old == 0 || old == new {
                return Vec::new();
            }
            merkle::prove_tree(new, old, &self.hashes).unwrap()
        }

        pub(crate) fn request(&self, old: u64, new: u64) -> Vec<u8> {
            encode_request(old, &self.proof(new, old), &self.note(new))
        }
    }

    pub(crate) fn witness(dir: &std::path::Path, log: &TestLog) -> Arc<Witness> {
        let key = CosignerKey::from_seed("witness.example/w", [42; 32]).unwrap();
        let logs = [TrustedLog {
            origin: ORIGIN.into(),
            vkey: log.key.verifier(),
        }];
        Arc::new(Witness::new(key, &logs, dir.join("state.json")).unwrap())
    }

    async fn post(w: &Arc<Witness>, body: Vec<u8>) -> (StatusCode, String, String) {
        let resp = router(w.clone())
            .oneshot(
                Request::post("/add-checkpoint")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    fn verify_response(w: &Witness, log: &TestLog, size: u64, body: &str) {
        let sigs = truce_log::note::parse_signature_lines(body.as_bytes()).unwrap();
        assert_eq!(sigs.len(), 1);
        let text = Checkpoint::new(ORIGIN, size, log.root(size)).to_text();
        let t = w.verifier().verify_cosignature(&text, &sigs[0]).unwrap();
        assert!(t.abs_diff(now_seconds()) < 60);
    }

    #[tokio::test]
    async fn cosigns_a_growing_log_and_remembers_it() {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = TestLog::new(1);
        log.grow(5, 0);
        let w = witness(tmp.path(), &log);
        let (status, ct, body) = post(&w, log.request(0, 5)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(ct, "text/plain; charset=utf-8");
        verify_response(&w, &log, 5, &body);
        assert_eq!(w.head(ORIGIN).map(|h| h.size), Some(5));

        // Same checkpoint again: 200 (idempotent).
        let (status, _, body) = post(&w, log.request(5, 5)).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        log.grow(300, 1);
        let (status, _, body) = post(&w, log.request(5, 305)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        verify_response(&w, &log, 305, &body);

        // A restarted witness has the same record.
        let again = witness(tmp.path(), &log);
        assert_eq!(
            again.head(ORIGIN),
            Some(TreeHead {
                size: 305,
                root: log.root(305)
            })
        );
        let (status, ct, body) = post(&again, log.request(5, 305)).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(ct, TLOG_SIZE_CONTENT_TYPE);
        assert_eq!(body, "305\n");
    }

    #[tokio::test]
    async fn every_refusal_has_its_status() {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = TestLog::new(1);
        log.grow(10, 0);
        let w = witness(tmp.path(), &log);
        assert_eq!(post(&w, log.request(0, 4)).await.0, StatusCode::OK);
        let plain = "text/plain; charset=utf-8";

        // 400: malformed.
        let (status, ct, body) = post(&w, b"old 01\n\n".to_vec()).await;
        assert_eq!((status, ct.as_str()), (StatusCode::BAD_REQUEST, plain));
        assert!(body.contains("\"old <size>\""), "{body}");

        // 413: too large.
        let (status, _, body) = post(&w, vec![b'x'; MAX_BODY_BYTES + 1]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

        // 404: unknown origin.
        let stranger = PrivateKey::from_seed("other.example/log", [3; 32]).unwrap();
        let cp = Checkpoint::new("other.example/log", 4, log.root(4));
        let note = sign_checkpoint(&cp, &stranger).unwrap();
        let (status, _, body) = post(&w, encode_request(4, &[], &note)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(body.contains("other.example/log"), "{body}");

        // 403: the right origin signed by another key; a forged signature by the trusted key.
        let impostor = TestLog::new(2);
        let note =
            sign_checkpoint(&Checkpoint::new(ORIGIN, 4, log.root(4)), &impostor.key).unwrap();
        let (status, _, body) = post(&w, encode_request(4, &[], &note)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let good = String::from_utf8(log.note(4)).unwrap();
        let forged = good.replacen("\n4\n", "\n5\n", 1);
        let (status, _, body) = post(&w, encode_request(4, &[], forged.as_bytes())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

        // 400: old size above the checkpoint size.
        let (status, _, body) = post(&w, encode_request(8, &[], &log.note(6))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("larger than the checkpoint size"), "{body}");

        // 409 with the size: old size is not the latest cosigned one.
        for old in [0, 3, 5] {
            let (status, ct, body) = post(&w, log.request(old, 8)).await;
            assert_eq!(status, StatusCode::CONFLICT);
            assert_eq!(ct, TLOG_SIZE_CONTENT_TYPE);
            assert_eq!(body, "4\n");
        }

        // 409: same size, another root.
        let mut fork = TestLog::new(1);
        fork.grow(4, 9);
        let (status, ct, body) = post(&w, fork.request(4, 4)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(ct, plain);
        assert!(body.contains("at size 4 with root"), "{body}");

        // 422: a proof that does not verify — the fork's own proof, a tampered one, a
        // truncated one, and a non-empty proof at equal sizes.
        fork.grow(4, 9);
        let (status, _, body) = post(&w, fork.request(4, 8)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.contains("does not verify"), "{body}");
        let mut proof = log.proof(8, 4);
        proof[0][0] ^= 1;
        let (status, _, _) = post(&w, encode_request(4, &proof, &log.note(8))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _, _) = post(&w, encode_request(4, &[], &log.note(8))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _, _) = post(&w, encode_request(4, &[[0; 32]], &log.note(4))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        // None of it moved the record.
        assert_eq!(
            w.head(ORIGIN),
            Some(TreeHead {
                size: 4,
                root: log.root(4)
            })
        );
        assert_eq!(post(&w, log.request(4, 10)).await.0, StatusCode::OK);

        // Not a POST, not the endpoint.
        let resp = router(w.clone())
            .oneshot(Request::get("/add-checkpoint").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        let resp = router(w.clone())
            .oneshot(Request::post("/other").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn huge_sizes_and_long_proofs_are_refused_without_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = TestLog::new(1);
        log.grow(4, 0);
        let w = witness(tmp.path(), &log);
        w.add_checkpoint(&log.request(0, 4)).unwrap();
        for size in [5, 1 << 62, (1 << 63) + 1, u64::MAX] {
            for n in [0, 1, 62, 63] {
                let cp = Checkpoint::new(ORIGIN, size, [7; 32]);
                let note = sign_checkpoint(&cp, &log.key).unwrap();
                let e = w
                    .add_checkpoint(&encode_request(4, &vec![[1; 32]; n], &note))
                    .unwrap_err();
                assert_eq!(
                    e.status(),
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{size} {n}: {e}"
                );
            }
        }
        assert_eq!(w.head(ORIGIN).map(|h| h.size), Some(4));
    }

    #[tokio::test]
    async fn a_proof_from_zero_must_be_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = TestLog::new(1);
        log.grow(4, 0);
        let w = witness(tmp.path(), &log);
        let (status, _, body) = post(&w, encode_request(0, &[[0; 32]], &log.note(4))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(w.head(ORIGIN), None);
        assert!(!tmp.path().join("state.json").exists());
    }

    /// Concurrent requests from the same old size: exactly one wins, whatever the interleaving;
    /// the record never goes back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn check_and_persist_are_atomic() {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = TestLog::new(1);
        log.grow(40, 0);
        let w = witness(tmp.path(), &log);
        assert_eq!(post(&w, log.request(0, 10)).await.0, StatusCode::OK);
        let mut tasks = tokio::task::JoinSet::new();
        for size in 11..=40 {
            let body = log.request(10, size);
            let w = w.clone();
            tasks.spawn(async move { (size, post(&w, body).await) });
        }
        let mut winners = Vec::new();
        while let Some(r) = tasks.join_next().await {
            let (size, (status, _, body)) = r.unwrap();
            match status {
                StatusCode::OK => winners.push(size),
                StatusCode::CONFLICT => assert_ne!(body, "10\n"),
                s => panic!("{size}: {s} {body}"),
            }
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        let head = w.head(ORIGIN).unwrap();
        assert_eq!(head.size, winners[0]);
        assert_eq!(
            state::load(&tmp.path().join("state.json")).unwrap()[ORIGIN],
            head
        );
    }

    #[test]
    fn a_failed_write_stops_cosigning() {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = TestLog::new(1);
        log.grow(4, 0);
        let key = CosignerKey::from_seed("witness.example/w", [42; 32]).unwrap();
        let logs = [TrustedLog {
            origin: ORIGIN.into(),
            vkey: log.key.verifier(),
        }];
        // The state file's directory does not exist: the write fails.
        let w = Witness::new(key, &logs, tmp.path().join("missing/state.json")).unwrap();
        assert!(matches!(
            w.add_checkpoint(&log.request(0, 2)),
            Err(AddError::Storage(_))
        ));
        std::fs::create_dir(tmp.path().join("missing")).unwrap();
        let e = w.add_checkpoint(&log.request(0, 2)).unwrap_err();
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(e.to_string().contains("restart the witness"), "{e}");
    }
}
