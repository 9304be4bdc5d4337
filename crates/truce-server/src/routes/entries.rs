//! `POST /v1/entries`: submit a signed entry.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::oneshot;
use truce_model::dsse::{Envelope, MAX_ENVELOPE_BYTES};

use crate::app::AppState;
use crate::blobs::BlobResolver;
use crate::problem::Problem;
use crate::sequencer::{Submission, lookup};
use truce_engine::Prepared;

/// Largest request body for an entry: generous for whitespace, bounded for safety.
pub const MAX_ENTRY_BODY: usize = 2 * MAX_ENVELOPE_BYTES;

/// The answer to an accepted entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntryReceipt {
    /// The entry's index in the log.
    pub index: u64,
    /// RFC 6962 leaf hash, hex.
    pub leaf_hash: String,
    /// C2SP tlog-proof receipt: the inclusion proof of the entry in a signed checkpoint,
    /// verifiable offline with the log's vkey.
    pub proof: String,
}

/// Reads a body of at most `limit` bytes, answering 413 beyond it.
pub async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, Problem> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // `to_bytes` fails with a length-limit error or an I/O error from the client.
        let source = std::error::Error::source(&e).map(ToString::to_string);
        if format!("{e} {source:?}").contains("length limit") {
            Problem::too_large(format!("the request body exceeds {limit} bytes"))
        } else {
            Problem::bad_request(format!("reading the request body: {e}"))
        }
    })
}

/// Submit a signed entry (a DSSE envelope).
#[utoipa::path(
    post,
    path = "/v1/entries",
    tag = "entries",
    request_body(content = String, description = "A DSSE envelope: {payloadType, payload, signatures}", content_type = "application/json"),
    responses(
        (status = 200, description = "Logged (or already logged: the same index back)", body = EntryReceipt),
        (status = 400, description = "Malformed envelope", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Bad signature, or unknown, revoked or expired key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The signer's role may not submit this kind", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The payload id is logged with other content", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid payload; `errors` names every field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The signing key exceeds its rate; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not stored; try again", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_entry(State(app): State<AppState>, body: Body) -> Response {
    match submit(app, body).await {
        Ok(receipt) => (StatusCode::OK, Json(receipt)).into_response(),
        Err(p) => p.into_response(),
    }
}

async fn submit(app: AppState, body: Body) -> Result<EntryReceipt, Problem> {
    let bytes = read_body(body, MAX_ENTRY_BODY).await?;
    let envelope = Envelope::parse(&bytes).map_err(truce_engine::Refusal::from)?;
    let canonical = envelope.canonical_json();
    let mut prepared = Prepared::new(envelope)?;
    // Resubmissions are answered here, without queueing.
    let latest = app.published.borrow().clone();
    let maybe_logged = app
        .seen
        .read()
        .expect("lock poisoned")
        .may_contain(prepared.id());
    let logged = if maybe_logged {
        lookup(&*app.store, prepared.id(), &canonical, &latest).await
    } else {
        None
    };
    let receipt = match logged {
        Some(answer) => answer?,
        None => {
            // Signatures are checked here, in parallel across requests; the sequencer only
            // confirms that the keys are still the same and usable.
            let keys = app.read().signature_keys(prepared.envelope());
            prepared.preverify(&keys);
            // The rate limit applies to the entry's author, once its signature is verified.
            // The log's own operator key is exempt.
            if let Some(author) = prepared.verified_keyids().next()
                && author != app.operator_vkey.signer_id()
                && let Err(wait) = app.rate.take(author, std::time::Instant::now())
            {
                let secs = wait.as_secs().max(1);
                let mut p = Problem::new(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    format!(
                        "key {author} submits faster than {} entries per second (bursts of {}); retry in {secs} s",
                        app.limits.entries_per_second, app.limits.burst
                    ),
                );
                p.retry_after = Some(secs);
                return Err(p);
            }
            // Blobs are read only for an agreement verifiably signed by an operator: nobody
            // else can make the server load megabytes of geometry.
            let by_operator = {
                let state = app.read();
                prepared.verified_keyids().any(|id| {
                    state
                        .key(id)
                        .is_some_and(|k| k.has_role(truce_model::entry::Role::Operator))
                })
            };
            let resolver = if by_operator {
                BlobResolver::for_envelope(&*app.store, prepared.envelope())
                    .await
                    .map_err(|e| Problem::unavailable(format!("reading blobs: {e}")))?
            } else {
                BlobResolver::default()
            };
            let (reply, rx) = oneshot::channel();
            app.submit
                .send(Submission {
                    prepared,
                    canonical,
                    resolver,
                    reply,
                })
                .await
                .map_err(|_| Problem::unavailable("the server is shutting down"))?;
            rx.await.map_err(|_| {
                Problem::unavailable("the sequencer stopped; the entry was not logged")
            })??
        }
    };
    let proof = crate::ledger::inclusion_proof(
        &*app.store,
        &app.hashes,
        receipt.checkpoint.size,
        receipt.index,
    )
    .await
    .map_err(|e| {
        Problem::unavailable(format!(
            "the entry is logged at index {}, but its inclusion proof failed: {e}",
            receipt.index
        ))
    })?;
    let proof = crate::ledger::Ledger::receipt_text(receipt.index, proof, &receipt.checkpoint)
        .map_err(Problem::internal)?;
    Ok(EntryReceipt {
        index: receipt.index,
        leaf_hash: hex::encode(receipt.leaf_hash),
        proof,
    })
}

/// A logged entry, as `GET /v1/entries/{id}` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoggedEntry {
    /// The payload id.
    pub id: String,
    pub index: u64,
    pub kind: String,
    /// The first signature's key, `name+keyid`.
    pub signer: String,
    /// Log time, RFC 3339.
    pub log_time: String,
    /// RFC 6962 leaf hash, hex.
    pub leaf_hash: String,
    /// The envelope as logged (canonical form).
    #[schema(value_type = Object)]
    pub envelope: serde_json::Value,
}

/// Look up a logged entry by its payload id.
#[utoipa::path(
    get,
    path = "/v1/entries/{id}",
    tag = "entries",
    params(("id" = String, Path, description = "The payload id")),
    responses(
        (status = 200, body = LoggedEntry),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_entry(
    State(app): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<LoggedEntry>, Problem> {
    let not_found = || {
        Problem::not_found(format!(
            "no entry with id {:?} is logged",
            id.chars().take(128).collect::<String>()
        ))
    };
    if truce_model::dsse::check_id(&id).is_err() {
        return Err(not_found());
    }
    let e = app
        .store
        .entry_by_id(&id)
        .await
        .map_err(|e| Problem::unavailable(format!("reading the log: {e}")))?
        .ok_or_else(not_found)?;
    let leaf = truce_log::leaf::Leaf::decode(&e.leaf).map_err(Problem::internal)?;
    let envelope =
        serde_json::from_slice(&leaf.envelope.canonical_json()).map_err(Problem::internal)?;
    Ok(Json(LoggedEntry {
        id: e.entry_id,
        index: e.index,
        kind: e.kind,
        signer: e.signer,
        log_time: truce_engine::rfc3339(e.time_ms),
        leaf_hash: hex::encode(e.leaf_hash),
        envelope,
    }))
}
