//! `GET /v1/incidents` and `GET /v1/incidents/{id}`: what the observations add up to (DESIGN §6),
//! with status, members, decisions and disputes.
//!
//! Incidents live in the engine's state, derived from the log; every field here can be recomputed
//! by `truce replay`. The detail view lists each member and ruling with its log index, so a party
//! can fetch the entry's receipt (`GET /v1/entries/{id}`) and check every link against the log.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use truce_engine::{IncidentQuery, IncidentStatus, IncidentView, ObservationRecord, rfc3339};

use crate::app::AppState;
use crate::problem::Problem;
use crate::query::{PageParams, Params, WindowParams, short};
use crate::routes::geojson::{EventLocation, geojson_response, point_feature, wants_geojson};

/// The parameters `GET /v1/incidents` accepts besides [`WindowParams`] and [`PageParams`]
/// (documentation; parsed strictly by [`Params`]).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentFilter {
    /// Statuses, comma-separated: `reported`, `corroborated`, `disputed`, `verified`, `rejected`.
    pub status: Option<String>,
    /// Agreement id.
    pub agreement: Option<String>,
}

const PARAMETERS: [&str; 8] = [
    "from",
    "to",
    "bbox",
    "status",
    "type",
    "agreement",
    "limit",
    "cursor",
];

/// An incident's time window.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Window {
    /// When the incident began: the earliest member's `observed.from`.
    pub from: String,
    /// The latest member's `observed.to`.
    pub to: String,
}

/// Members of one affiliation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AffiliationCount {
    pub affiliation: String,
    /// Members reported by keys of this affiliation.
    pub members: u32,
    /// Sum of their `count`.
    pub count: u64,
}

/// One incident.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentItem {
    /// The id of its earliest member (lowest log index).
    pub id: String,
    /// Log index of that member.
    pub index: u64,
    /// `reported`, `corroborated`, `disputed`, `verified` or `rejected`.
    pub status: String,
    /// The largest per-affiliation sum of the members' `count`.
    pub count: u64,
    pub window: Window,
    /// The member with the smallest radius locates the incident.
    pub location: EventLocation,
    pub agreement: String,
    /// Member observation ids, in log order: all of them up to 1,000 members, else the first
    /// 1,000 (`member_count` says how many there are; `GET /v1/incidents/{id}/members` pages
    /// through all of them from `members_next`).
    pub members: Vec<String>,
    /// Number of members.
    pub member_count: usize,
    /// When `members` is not all of them: the cursor of the next page of members.
    pub members_next: Option<String>,
    /// Per-affiliation members and counts, by affiliation.
    pub affiliations: Vec<AffiliationCount>,
    /// The event family all members share (a list, as the contract names it).
    pub families: Vec<String>,
    /// Event types of the members.
    pub types: Vec<String>,
    /// The keys that reported it.
    pub sources: Vec<String>,
    /// Ids of incidents merged into this one (they still name it), in log order; the first
    /// 1,000 of them.
    pub absorbed: Vec<String>,
    /// Number of absorbed ids.
    pub absorbed_count: usize,
    /// Number of decisions and disputes filed (details at `GET /v1/incidents/{id}`).
    pub decisions: usize,
    pub disputes: usize,
}

/// A page of incidents.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentList {
    pub items: Vec<IncidentItem>,
    /// Cursor for the next page, or null at the end.
    pub next: Option<String>,
}

/// A page of an incident's members.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberList {
    pub items: Vec<Member>,
    /// Cursor for the next page, or null at the end.
    pub next: Option<String>,
}

/// A member observation, with the log index of its entry (its receipt).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub id: String,
    pub index: u64,
    pub log_time: String,
    pub signer: String,
    pub affiliation: String,
    /// Signed by a party's key: a claim.
    pub claim: bool,
    #[serde(rename = "type")]
    pub event_type: String,
    pub count: u32,
    pub location: EventLocation,
    pub observed: Window,
    /// The party the observation accuses, if any (a claim, never attribution).
    pub alleged_party: Option<String>,
}

/// A verifier's decision.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Decision {
    pub id: String,
    pub index: u64,
    pub log_time: String,
    pub signer: String,
    /// The incident id it named (an absorbed id after a merge).
    pub incident: String,
    /// `verified` or `rejected`.
    pub status: String,
    /// The party a confirmed attribution names.
    pub attribution: Option<String>,
    pub reason: String,
}

/// A party's dispute.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Dispute {
    pub id: String,
    pub index: u64,
    pub log_time: String,
    pub signer: String,
    pub party: String,
    pub incident: String,
    pub reason: String,
}

/// One incident with its evidence.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: IncidentItem,
    pub member_observations: Vec<Member>,
    pub decision_entries: Vec<Decision>,
    pub dispute_entries: Vec<Dispute>,
}

fn item(v: &IncidentView<'_>) -> IncidentItem {
    let i = &v.incident;
    IncidentItem {
        id: v.id.to_string(),
        index: v.index,
        status: v.status.as_str().to_string(),
        count: i.count(),
        window: Window {
            from: rfc3339(i.from_ms),
            to: rfc3339(i.to_ms),
        },
        location: v.location.into(),
        agreement: i.agreement.to_string(),
        members: v.members.iter().map(|m| m.id.to_string()).collect(),
        member_count: v.member_count,
        members_next: v.members_next.map(|n| n.to_string()),
        affiliations: i
            .affiliations
            .iter()
            .map(|a| AffiliationCount {
                affiliation: a.affiliation.to_string(),
                members: a.members,
                count: a.count,
            })
            .collect(),
        families: vec![i.family.as_str().to_string()],
        types: v
            .event_types()
            .into_iter()
            .map(|t| t.as_str().to_string())
            .collect(),
        sources: v.sources.iter().map(|s| s.to_string()).collect(),
        absorbed: v.absorbed.iter().map(|s| s.to_string()).collect(),
        absorbed_count: v.absorbed_count,
        decisions: i.decisions.len(),
        disputes: i.disputes.len(),
    }
}

fn member(m: &ObservationRecord) -> Member {
    Member {
        id: m.id.to_string(),
        index: m.index,
        log_time: rfc3339(m.time_ms),
        signer: m.signer.to_string(),
        affiliation: m.affiliation.to_string(),
        claim: m.claim,
        event_type: m.event_type.as_str().to_string(),
        count: m.count,
        location: m.point.into(),
        observed: Window {
            from: rfc3339(m.from_ms),
            to: rfc3339(m.to_ms),
        },
        alleged_party: m.alleged_party.as_deref().map(str::to_string),
    }
}

fn detail(v: &IncidentView<'_>) -> IncidentDetail {
    let i = &v.incident;
    IncidentDetail {
        incident: item(v),
        member_observations: v.members.iter().map(member).collect(),
        decision_entries: i
            .decisions
            .iter()
            .map(|d| Decision {
                id: d.id.to_string(),
                index: d.index,
                log_time: rfc3339(d.time_ms),
                signer: d.signer.to_string(),
                incident: d.incident.to_string(),
                status: d.ruling.as_str().to_string(),
                attribution: d.attribution.as_deref().map(str::to_string),
                reason: d.reason.to_string(),
            })
            .collect(),
        dispute_entries: i
            .disputes
            .iter()
            .map(|d| Dispute {
                id: d.id.to_string(),
                index: d.index,
                log_time: rfc3339(d.time_ms),
                signer: d.signer.to_string(),
                party: d.party.to_string(),
                incident: d.incident.to_string(),
                reason: d.reason.to_string(),
            })
            .collect(),
    }
}

/// Parses the request's parameters into an engine query.
fn query(raw: Option<&str>) -> Result<IncidentQuery, Problem> {
    let mut p = Params::parse(raw, &PARAMETERS, "/v1/incidents");
    let mut q = IncidentQuery::new(p.limit());
    (q.from_ms, q.to_ms) = p.window();
    q.bbox = p.bbox();
    for name in p.many("status", true) {
        match IncidentStatus::from_name(&name) {
            Some(s) => q.statuses.push(s),
            None => {
                let statuses: Vec<&str> = IncidentStatus::ALL.iter().map(|s| s.as_str()).collect();
                p.error(
                    "status",
                    format!(
                        "{:?} is not a status ({})",
                        short(&name),
                        statuses.join(", ")
                    ),
                )
            }
        }
    }
    q.statuses.sort_unstable();
    q.statuses.dedup();
    q.types = p.event_types();
    q.agreement = p.one("agreement");
    q.after = p.cursor();
    p.finish().map_err(Problem::bad_query)?;
    Ok(q)
}

/// List incidents: filtered by window, box, status, event type and agreement; in the order of
/// their ids' log indexes; `limit` per page and `next` as the cursor of the following page. With
/// `Accept: application/geo+json` the answer is a FeatureCollection (one Point per incident at its
/// location, `next` as a foreign member).
#[utoipa::path(
    get,
    path = "/v1/incidents",
    tag = "incidents",
    params(WindowParams, IncidentFilter, PageParams),
    responses(
        (status = 200, description = "A page of incidents (a FeatureCollection with `Accept: application/geo+json`)", content(
            (IncidentList = "application/json"),
            (Object = "application/geo+json"),
        )),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The state is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_incidents(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let q = query(raw.as_deref())?;
    let (items, next) = {
        let state = app.read()?;
        let page = state.query_incidents(&q);
        let items: Vec<IncidentItem> = page.items.iter().map(item).collect();
        (items, page.next.map(|n| n.to_string()))
    };
    if wants_geojson(&headers) {
        let features = items
            .into_iter()
            .map(|i| {
                let properties = serde_json::to_value(&i).expect("an item serialises");
                point_feature(&i.id, &i.location, properties)
            })
            .collect();
        return Ok(geojson_response(features, next));
    }
    Ok(Json(IncidentList { items, next }).into_response())
}

/// One incident with its member observations (each with its log index), decisions and disputes.
/// An id that a merge absorbed answers with the merged incident, whose `id` differs.
#[utoipa::path(
    get,
    path = "/v1/incidents/{id}",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The incident", body = IncidentDetail),
        (status = 404, description = "No incident has this id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The state is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_incident(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, Problem> {
    let state = app.read()?;
    match state.incident(&id) {
        Some(v) => Ok(Json(detail(&v))),
        None => Err(not_found(&id)),
    }
}

/// One page of an incident's members, in log order (`limit`, `cursor` as for every list). An id
/// that a merge absorbed pages through the merged incident's members.
#[utoipa::path(
    get,
    path = "/v1/incidents/{id}/members",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id"), PageParams),
    responses(
        (status = 200, description = "A page of members", body = MemberList),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No incident has this id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The state is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_members(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<MemberList>, Problem> {
    let mut p = Params::parse(
        raw.as_deref(),
        &["limit", "cursor"],
        "/v1/incidents/{id}/members",
    );
    let limit = p.limit();
    let after = p.cursor();
    p.finish().map_err(Problem::bad_query)?;
    let state = app.read()?;
    match state.incident_members(&id, after, limit) {
        Some((page, next)) => Ok(Json(MemberList {
            items: page.iter().map(member).collect(),
            next: next.map(|n| n.to_string()),
        })),
        None => Err(not_found(&id)),
    }
}

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!(
        "no incident has the id {:?}",
        id.chars().take(128).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_types_parse_and_bad_values_are_named() {
        let q = query(Some("status=verified,reported&type=fire&limit=5&cursor=9")).unwrap();
        assert_eq!(
            q.statuses,
            [IncidentStatus::Reported, IncidentStatus::Verified]
        );
        assert_eq!(q.types.len(), 10);
        assert_eq!((q.limit, q.after), (5, Some(9)));
        let e = query(Some("status=open&type=boom&party=UA")).unwrap_err();
        assert_eq!(e.status, 400);
        for want in [
            "status: \"open\" is not a status",
            "type: \"boom\"",
            "\"party\"",
        ] {
            assert!(e.detail.contains(want), "{want}: {}", e.detail);
        }
    }
}
