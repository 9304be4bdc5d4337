//! `GET /v1/agreements` and `GET /v1/agreements/{id}`: agreements, their status and consents.
//!
//! The engine decides what an agreement's status is ([`AgreementRecord::status`],
//! [`AgreementRecord::current`]); this module only shows it: the views below are the JSON the API
//! answers with, times as RFC 3339 text, evaluated at the log time of the latest entry so that
//! the same log always shows the same status.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::{Deserialize, Serialize};
use truce_engine::{AgreementRecord, VersionRecord, rfc3339};

use crate::app::AppState;
use crate::problem::Problem;
use crate::query::Params;

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

/// Status of an agreement version (DESIGN §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AgreementStatus {
    Proposed,
    InForce,
    Superseded,
}

impl From<truce_engine::AgreementStatus> for AgreementStatus {
    fn from(s: truce_engine::AgreementStatus) -> AgreementStatus {
        match s {
            truce_engine::AgreementStatus::Proposed => AgreementStatus::Proposed,
            truce_engine::AgreementStatus::InForce => AgreementStatus::InForce,
            truce_engine::AgreementStatus::Superseded => AgreementStatus::Superseded,
        }
    }
}

/// A consent, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsentView {
    pub party: String,
    pub entry: String,
    pub index: u64,
    pub logged_at: String,
}

/// One version, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionView {
    pub version: u32,
    pub status: AgreementStatus,
    pub sha256: String,
    pub entry: String,
    pub index: u64,
    pub proposed_at: String,
    pub entry_into_force_at: String,
    /// When it entered (or will enter) into force, once every required consent is logged.
    pub in_force_at: Option<String>,
    pub required_consents: Vec<String>,
    pub consents: Vec<ConsentView>,
    pub missing: Vec<String>,
}

/// An agreement, as `GET /v1/agreements/{id}` shows it: the current version's status and
/// consents at top level (the newest version in force, else the newest version), every version
/// below.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgreementView {
    pub id: String,
    pub title: String,
    #[serde(flatten)]
    pub current: VersionView,
    pub parties: Vec<PartyView>,
    /// The current version's document text (its sha256 is what parties consent to).
    pub document: String,
    /// The files the current version references: path → sha256, served at `/v1/blobs/{sha256}`.
    pub blobs: BTreeMap<String, String>,
    pub versions: Vec<VersionView>,
    /// The log time at which the status was evaluated.
    pub as_of: String,
}

/// A party of the current version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartyView {
    pub id: String,
    pub name: String,
    pub role: String,
    pub key: String,
}

impl VersionView {
    /// Version `v` of `a` at log time `now_ms`.
    fn of(a: &AgreementRecord, v: &VersionRecord, now_ms: i64) -> VersionView {
        VersionView {
            version: v.version,
            status: a.status(v, now_ms).into(),
            sha256: v.sha256.clone(),
            entry: v.entry.clone(),
            index: v.index,
            proposed_at: rfc3339(v.time_ms),
            entry_into_force_at: v.agreement.entry_into_force.at.to_string(),
            in_force_at: v.in_force_from_ms().map(rfc3339),
            required_consents: v.agreement.required_consents().to_vec(),
            consents: v
                .consents
                .iter()
                .map(|(party, c)| ConsentView {
                    party: party.clone(),
                    entry: c.entry.clone(),
                    index: c.index,
                    logged_at: rfc3339(c.time_ms),
                })
                .collect(),
            missing: v.missing(),
        }
    }
}

impl AgreementView {
    /// `a` at log time `now_ms`; `None` only for a record without versions.
    pub fn of(a: &AgreementRecord, now_ms: i64) -> Option<AgreementView> {
        let current = a.current(now_ms)?;
        Some(AgreementView {
            id: a.id.clone(),
            title: current.agreement.title.clone(),
            current: VersionView::of(a, current, now_ms),
            parties: current
                .agreement
                .parties
                .iter()
                .map(|p| PartyView {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    role: p.role.to_string(),
                    key: p.key.to_string(),
                })
                .collect(),
            document: current.document.clone(),
            blobs: current.blobs.clone(),
            versions: a
                .versions
                .iter()
                .map(|v| VersionView::of(a, v, now_ms))
                .collect(),
            as_of: rfc3339(now_ms),
        })
    }
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
    params.finish().map_err(Problem::bad_query)?;
    let state = app.read()?;
    let now = state.last_time_ms();
    let mut items: Vec<AgreementView> = state
        .agreements()
        .filter(|a| cursor.as_deref().is_none_or(|c| a.id.as_str() > c))
        .take(limit + 1)
        .filter_map(|a| AgreementView::of(a, now))
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
    let state = app.read()?;
    state
        .agreement(&id)
        .and_then(|a| AgreementView::of(a, state.last_time_ms()))
        .map(Json)
        .ok_or_else(|| {
            Problem::not_found(format!(
                "no agreement {:?} has been proposed in this log",
                id.chars().take(128).collect::<String>()
            ))
        })
}
