//! `GET /v1/state`: the digest of the derived state at the current log size (DESIGN §2), which
//! `truce replay` recomputes from the log alone. The serialisation is specified in
//! `docs/incidents.md` and in `truce_engine`'s `digest` module.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::app::AppState;
use crate::problem::Problem;

/// The digest of one section of the state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SectionDigest {
    /// `keys`, `agreements`, `observations` or `incidents`.
    pub name: String,
    /// Lowercase hex SHA-256.
    pub digest: String,
}

/// The state digest.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StateSummary {
    /// Log size the state reflects.
    pub size: u64,
    /// Lowercase hex SHA-256 over the sections.
    pub digest: String,
    pub sections: Vec<SectionDigest>,
}

impl From<truce_engine::StateDigest> for StateSummary {
    fn from(d: truce_engine::StateDigest) -> StateSummary {
        StateSummary {
            size: d.size,
            digest: d.digest,
            sections: d
                .sections
                .into_iter()
                .map(|(name, digest)| SectionDigest {
                    name: name.to_string(),
                    digest,
                })
                .collect(),
        }
    }
}

/// The digest of the derived state: compare it with `truce replay`'s.
#[utoipa::path(
    get,
    path = "/v1/state",
    tag = "state",
    responses(
        (status = 200, description = "Log size and state digest", body = StateSummary),
        (status = 503, description = "The state is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_state(State(app): State<AppState>) -> Result<Json<StateSummary>, Problem> {
    // Hashing walks the whole state: off the async workers, and one at a time.
    let digest = tokio::task::spawn_blocking(move || app.state_digest())
        .await
        .map_err(Problem::internal)??;
    Ok(Json(digest.into()))
}
