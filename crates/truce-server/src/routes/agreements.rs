//! `GET /v1/agreements` and `GET /v1/agreements/{id}`: agreements, their status and consents.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::{Deserialize, Serialize};
use truce_engine::AgreementView;

use crate::app::AppState;
use crate::problem::Problem;
use crate::routes::params::{self, Params};

/// Query of a list: `limit` (1..=1000, default 100) and the opaque `cursor` from `next`
/// (documentation only: the handler parses the query strictly with [`Params`]).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A page of agreements.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgreementList {
    pub items: Vec<AgreementView>,
    /// Cursor for the next page, or null at the end.
    pub next: Option<String>,
}

/// List agreements, ordered by id.
#[utoipa::path(
    get,
    path = "/v1/agreements",
    tag = "agreements",
    params(Page),
    responses(
        (status = 200, body = AgreementList),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_agreements(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<AgreementList>, Problem> {
    let mut params = Params::parse(query.as_deref(), &["limit", "cursor"], "/v1/agreements");
    let limit = params.limit();
    let cursor = params.one("cursor");
    params::finish(params)?;
    let state = app.read();
    let now = state.last_time_ms();
    let mut items: Vec<AgreementView> = state
        .agreements()
        .filter(|a| cursor.as_deref().is_none_or(|c| a.id.as_str() > c))
        .take(limit + 1)
        .filter_map(|a| a.view(now))
        .collect();
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|a| a.id.clone())
    } else {
        None
    };
    Ok(Json(AgreementList { items, next }))
}

/// One agreement: status (`proposed`, `in-force`, `superseded`), consents given and missing.
#[utoipa::path(
    get,
    path = "/v1/agreements/{id}",
    tag = "agreements",
    params(("id" = String, Path, description = "Agreement id")),
    responses(
        (status = 200, body = AgreementView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_agreement(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AgreementView>, Problem> {
    let state = app.read();
    state
        .agreement(&id)
        .and_then(|a| a.view(state.last_time_ms()))
        .map(Json)
        .ok_or_else(|| {
            Problem::not_found(format!(
                "no agreement {:?} has been proposed in this log",
                id.chars().take(128).collect::<String>()
            ))
        })
}
