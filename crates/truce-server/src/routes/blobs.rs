//! `PUT /v1/blobs/{sha256}` and `GET /v1/blobs/{sha256}`: content-addressed files.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use crate::app::AppState;
use crate::blobs::{MAX_BLOB_BYTES, parse_sha256};
use crate::problem::Problem;
use crate::routes::entries::read_body;

fn sha_param(s: &str) -> Result<[u8; 32], Problem> {
    parse_sha256(s).ok_or_else(|| {
        Problem::bad_request(format!(
            "{:?} is not a sha256: expected 64 lowercase hexadecimal digits",
            s.chars().take(80).collect::<String>()
        ))
    })
}

/// Upload a blob; its sha256 must match the path.
#[utoipa::path(
    put,
    path = "/v1/blobs/{sha256}",
    tag = "blobs",
    params(("sha256" = String, Path, description = "sha256 of the body, 64 lowercase hex digits")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Stored"),
        (status = 200, description = "Already stored"),
        (status = 400, description = "Malformed hash", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 8 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body's sha256 differs from the path", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_blob(
    State(app): State<AppState>,
    Path(sha): Path<String>,
    body: Body,
) -> Result<StatusCode, Problem> {
    let want = sha_param(&sha)?;
    let bytes = read_body(body, MAX_BLOB_BYTES).await?;
    let got: [u8; 32] = Sha256::digest(&bytes).into();
    if got != want {
        let mut p = Problem::invalid(vec![truce_model::entry::FieldError::new(
            "",
            format!(
                "the body's sha256 is {}, not {sha} as the path says",
                hex::encode(got)
            ),
        )]);
        p.kind = "https://truce.invalid/problems/hash-mismatch".into();
        return Err(p);
    }
    let new = app
        .store
        .put_blob(want, &bytes)
        .await
        .map_err(|e| Problem::unavailable(format!("storing the blob: {e}")))?;
    Ok(if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}

/// Download a blob. Blobs never change, so they are cacheable forever.
#[utoipa::path(
    get,
    path = "/v1/blobs/{sha256}",
    tag = "blobs",
    params(("sha256" = String, Path, description = "sha256 of the blob")),
    responses(
        (status = 200, description = "The bytes", content_type = "application/octet-stream"),
        (status = 400, description = "Malformed hash", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such blob", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_blob(
    State(app): State<AppState>,
    Path(sha): Path<String>,
) -> Result<Response, Problem> {
    let raw = sha_param(&sha)?;
    let bytes = app
        .store
        .blob(raw)
        .await
        .map_err(|e| Problem::unavailable(format!("reading the blob: {e}")))?
        .ok_or_else(|| Problem::not_found(format!("no blob {sha}")))?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(resp)
}
