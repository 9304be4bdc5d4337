//! `GET /healthz` and `GET /v1/log/vkeys`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::app::AppState;
use crate::problem::Problem;

/// Liveness, and how far the log has grown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
    /// Entries in the log.
    pub size: u64,
}

/// Liveness check.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, body = Health)))]
pub async fn healthz(State(app): State<AppState>) -> Result<Json<Health>, Problem> {
    // A server whose state was lost answers 503 here too, so that a supervisor restarts it
    // (see `crate::shared`).
    Ok(Json(Health {
        status: "ok",
        size: app.read()?.size(),
    }))
}

/// The keys a client needs to verify this log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Vkeys {
    /// The log's origin line.
    pub origin: String,
    /// The log's checkpoint-signing key (signed-note vkey).
    pub log: String,
    /// The operator key that accredits everybody else.
    pub operator: String,
    /// Witness keys whose cosignatures the log collects.
    pub witnesses: Vec<String>,
}

/// The log's, the operator's and the witnesses' verifier keys.
#[utoipa::path(get, path = "/v1/log/vkeys", tag = "log", responses((status = 200, body = Vkeys)))]
pub async fn vkeys(State(app): State<AppState>) -> Json<Vkeys> {
    Json(Vkeys {
        origin: app.origin.clone(),
        log: app.log_vkey.to_string(),
        operator: app.operator_vkey.to_string(),
        witnesses: app.witnesses.iter().map(ToString::to_string).collect(),
    })
}
