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

#[cfg(test)]
mod tests {
    use http_body_util::{Full, Limited};

    use super::*;

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
