//! RFC 9457 problem details: every error the API returns is `application/problem+json` with a
//! `detail` that says precisely what was wrong, and, for invalid payloads, an `errors` list that
//! names every offending field by JSON pointer.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use truce_engine::Refusal;
use truce_model::entry::FieldError;

use crate::intake::IntakeError;
use crate::shared::StateLost;

/// A problem details document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, fixed summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What exactly went wrong with this request.
    pub detail: String,
    /// For invalid payloads: each offending field (JSON pointer into the payload) and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// Extra headers (e.g. `Retry-After`); not part of the body.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

/// One offending field.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProblemField {
    /// JSON pointer into the payload.
    pub pointer: String,
    /// What is wrong with it.
    pub detail: String,
}

impl Problem {
    /// A problem of `status` with a kebab-case `slug` naming its type.
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("https://truce.invalid/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "malformed", detail)
    }

    /// 400: a query parameter is unknown, repeated or malformed.
    pub fn bad_query(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "bad-query", detail)
    }

    /// 404: nothing here.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 409: an entry id already stands for other content.
    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, "id-conflict", detail)
    }

    /// 413: the body is larger than the limit.
    pub fn too_large(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", detail)
    }

    /// 422 with the offending fields.
    pub fn invalid(errors: Vec<FieldError>) -> Problem {
        let detail = errors
            .iter()
            .map(|e| {
                if e.pointer.is_empty() {
                    e.message.clone()
                } else {
                    format!("{}: {}", e.pointer, e.message)
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-payload", detail);
        p.errors = errors
            .into_iter()
            .map(|e| ProblemField {
                pointer: e.pointer,
                detail: e.message,
            })
            .collect();
        p
    }

    /// 503: the server cannot take this now (storage failure, shutting down).
    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// 500: an internal error; the detail is logged, not leaked beyond a summary.
    pub fn internal(detail: impl std::fmt::Display) -> Problem {
        tracing::error!(%detail, "internal error");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }
}

impl From<Refusal> for Problem {
    fn from(r: Refusal) -> Problem {
        match r {
            Refusal::Malformed { pointer, message } => {
                Problem::bad_request(if pointer.is_empty() {
                    format!("malformed envelope: {message}")
                } else {
                    format!("malformed envelope at {pointer}: {message}")
                })
            }
            Refusal::Unauthenticated(m) => {
                Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", m)
            }
            Refusal::Forbidden(m) => Problem::new(StatusCode::FORBIDDEN, "forbidden", m),
            Refusal::TooLarge(m) => Problem::too_large(m),
            Refusal::Invalid(errors) => Problem::invalid(errors),
            other => Problem::bad_request(other.to_string()),
        }
    }
}

impl From<IntakeError> for Problem {
    fn from(e: IntakeError) -> Problem {
        let detail = e.to_string();
        match e {
            IntakeError::Refused(r) => r.into(),
            IntakeError::Conflict { .. } => Problem::conflict(detail),
            IntakeError::LeafTooLarge { .. } => Problem::too_large(detail),
            IntakeError::RateLimited {
                retry_after_secs, ..
            } => {
                let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", detail);
                p.retry_after = Some(retry_after_secs);
                p
            }
            IntakeError::LookupFailed(_)
            | IntakeError::BlobsUnreadable(_)
            | IntakeError::LogFull(_)
            | IntakeError::NotDurable(_)
            | IntakeError::StateLost(_)
            | IntakeError::ShuttingDown
            | IntakeError::SequencerStopped
            | IntakeError::ProofUnavailable { .. } => Problem::unavailable(detail),
            IntakeError::Internal(_) => Problem::internal(detail),
        }
    }
}

impl From<StateLost> for Problem {
    fn from(lost: StateLost) -> Problem {
        Problem::unavailable(lost.to_string())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use truce_store::StoreError;

    use super::*;
    use crate::ledger::ProofError;
    use crate::limits::Limits;

    #[test]
    fn intake_errors_map_to_their_statuses_by_variant() {
        let store = || StoreError::Backend("disk on fire".into());
        let cases: Vec<(IntakeError, u16, &str)> = vec![
            (
                IntakeError::Refused(Refusal::Forbidden("no".into())),
                403,
                "forbidden",
            ),
            (IntakeError::Conflict { id: "a".into() }, 409, "id-conflict"),
            (
                IntakeError::LeafTooLarge { bytes: 70_000 },
                413,
                "too-large",
            ),
            (
                IntakeError::RateLimited {
                    author: "k".into(),
                    retry_after_secs: 3,
                    limits: Limits::default(),
                },
                429,
                "rate-limited",
            ),
            (IntakeError::LookupFailed(store()), 503, "unavailable"),
            (IntakeError::BlobsUnreadable(store()), 503, "unavailable"),
            (IntakeError::LogFull("2^64".into()), 503, "unavailable"),
            (IntakeError::NotDurable(store()), 503, "unavailable"),
            (IntakeError::StateLost(StateLost), 503, "unavailable"),
            (IntakeError::ShuttingDown, 503, "unavailable"),
            (IntakeError::SequencerStopped, 503, "unavailable"),
            (
                IntakeError::ProofUnavailable {
                    index: 4,
                    error: ProofError::Store(store()),
                },
                503,
                "unavailable",
            ),
            (IntakeError::Internal("bug".into()), 500, "internal"),
        ];
        for (e, status, slug) in cases {
            let detail = e.to_string();
            let retry = matches!(e, IntakeError::RateLimited { .. });
            let p = Problem::from(e);
            assert_eq!(p.status, status, "{detail}");
            assert!(
                p.kind.ends_with(&format!("/{slug}")),
                "{detail}: {}",
                p.kind
            );
            assert_eq!(p.retry_after, retry.then_some(3), "{detail}");
            if status != 500 && status != 403 {
                assert_eq!(p.detail, detail);
            }
        }
    }
}
