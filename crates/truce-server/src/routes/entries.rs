//! `POST /v1/entries` and `GET /v1/entries/{id}`: signed entries in and out.
//!
//! Only HTTP happens here: the request body is read within its bound and handed to
//! [`crate::intake`], whose answer becomes the JSON receipt or a problem document.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use http_body_util::LengthLimitError;
use serde::Serialize;
use truce_model::dsse::MAX_ENVELOPE_BYTES;

use crate::app::AppState;
use crate::problem::Problem;

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
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| unreadable(&e, limit))
}

/// The problem with a body that could not be read: too large (a [`LengthLimitError`] anywhere in
/// the error's source chain, ours or a layer's) or an I/O error from the client.
fn unreadable(e: &axum::Error, limit: usize) -> Problem {
    let mut chain = std::iter::successors(Some(e as &(dyn std::error::Error + 'static)), |e| {
        e.source()
    });
    if chain.any(|e| e.is::<LengthLimitError>()) {
        Problem::too_large(format!("the request body exceeds {limit} bytes"))
    } else {
        Problem::bad_request(format!("reading the request body: {e}"))
    }
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
    let logged = app.intake.submit(&bytes).await?;
    Ok(EntryReceipt {
        index: logged.index,
        leaf_hash: hex::encode(logged.leaf_hash),
        proof: logged.proof,
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
    logged_entry(&id, e.index, &e.leaf).map(Json)
}

/// What `GET /v1/entries/{id}` shows of the entry at `index`, all of it taken from the logged
/// leaf itself — the kind and signer from its envelope, the log time from the leaf, the hash
/// recomputed — and not from the columns the store keeps beside it to find it: those are not
/// covered by the tree, so a data directory edited by hand could make them say something else.
/// A leaf whose payload id is not `id` is a corrupt store (500), never another entry's answer.
fn logged_entry(id: &str, index: u64, bytes: &[u8]) -> Result<LoggedEntry, Problem> {
    let corrupt = |what: String| Problem::internal(format!("entry {index} ({id:?}): {what}"));
    let leaf = truce_log::leaf::Leaf::decode(bytes).map_err(|e| corrupt(e.to_string()))?;
    let env = &leaf.envelope;
    let kind = env.kind().map_err(|e| corrupt(e.to_string()))?.to_owned();
    let (payload_id, _) = env.payload_object().map_err(|e| corrupt(e.to_string()))?;
    if payload_id != id {
        return Err(corrupt(format!(
            "the leaf holds the payload of {payload_id:?}"
        )));
    }
    let signer = env
        .signatures()
        .first()
        .map(|s| s.keyid.clone())
        .ok_or_else(|| corrupt("the envelope has no signature".into()))?;
    let envelope = serde_json::from_slice(&env.canonical_json()).map_err(Problem::internal)?;
    Ok(LoggedEntry {
        id: payload_id,
        index,
        kind,
        signer,
        log_time: truce_engine::rfc3339(leaf.time_ms),
        leaf_hash: hex::encode(truce_log::leaf::leaf_hash(bytes)),
        envelope,
    })
}

#[cfg(test)]
mod tests {
    use http_body_util::{Full, Limited};
    use truce_model::dsse::Envelope;
    use truce_model::keys::PrivateKey;

    use super::*;

    /// Regression (issue 9 review): the kind, signer, time and hash shown are the leaf's own,
    /// and a leaf found under another id is refused rather than shown.
    #[test]
    fn an_entry_is_described_by_its_leaf_alone() {
        let key = PrivateKey::from_seed("monitor-1", [3; 32]).unwrap();
        let env = Envelope::sign("observation", br#"{"id":"obs-1","x":1}"#, &[&key]);
        let leaf = truce_log::leaf::Leaf {
            time_ms: 1_800_000_000_000,
            envelope: env,
        }
        .encode();
        let shown = logged_entry("obs-1", 7, &leaf).unwrap();
        assert_eq!(shown.kind, "observation");
        assert_eq!(shown.signer, key.verifier().signer_id());
        assert_eq!(shown.log_time, truce_engine::rfc3339(1_800_000_000_000));
        assert_eq!(
            shown.leaf_hash,
            hex::encode(truce_log::leaf::leaf_hash(&leaf))
        );
        assert_eq!(shown.index, 7);
        let refused = logged_entry("obs-2", 7, &leaf).unwrap_err();
        assert_eq!(refused.status, 500);
        assert!(logged_entry("obs-1", 7, b"not a leaf").is_err());
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_too_large_and_broken_ones_malformed() {
        let body = || Body::from(vec![b'x'; 10]);
        assert_eq!(read_body(body(), 10).await.unwrap().len(), 10);
        let p = read_body(body(), 9).await.unwrap_err();
        assert_eq!(
            (p.status, p.detail.as_str()),
            (413, "the request body exceeds 9 bytes")
        );
        // A limit applied further out (a layer) is recognised by its type all the same.
        let limited = Body::new(Limited::new(
            Full::new(axum::body::Bytes::from(vec![0; 10])),
            4,
        ));
        assert_eq!(read_body(limited, 100).await.unwrap_err().status, 413);
        // Anything else the client does wrong is a malformed request.
        let reset = axum::Error::new(std::io::Error::other("connection reset"));
        let p = unreadable(&reset, 9);
        assert_eq!(p.status, 400);
        assert!(p.detail.ends_with("connection reset"), "{}", p.detail);
    }
}
