//! `GET /v1/observations`: logged observations, filtered, in log order, a page at a time; JSON or,
//! with `Accept: application/geo+json`, an RFC 7946 FeatureCollection.
//!
//! Filtering and paging happen in the engine's indexes ([`truce_engine::ObservationQuery`]), under
//! the state's read lock and bounded by the page size; the payloads of the page are then read
//! from the store in one call, after the lock is released. Items carry the payload as signed, so
//! a client can check it against the entry's receipt.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use truce_engine::{ObservationQuery, ObservationRecord, rfc3339};

use crate::app::AppState;
use crate::problem::Problem;
use crate::query::{PageParams, Params, WindowParams};
use crate::routes::geojson::{EventLocation, geojson_response, point_feature, wants_geojson};

/// The parameters `GET /v1/observations` accepts besides [`WindowParams`] and [`PageParams`]
/// (documentation; parsed strictly by [`Params`]).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ObservationFilter {
    /// Affiliation of the signing key (exact; repeat the parameter for several).
    pub affiliation: Option<String>,
    /// Agreement id.
    pub agreement: Option<String>,
    /// The party an observation accuses (`alleged_party`).
    pub party: Option<String>,
}

const PARAMETERS: [&str; 9] = [
    "from",
    "to",
    "bbox",
    "type",
    "affiliation",
    "agreement",
    "party",
    "limit",
    "cursor",
];

/// Most affiliations in one query.
const MAX_LIST: usize = 32;

/// One logged observation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ObservationItem {
    /// The payload id.
    pub id: String,
    /// Log index of the entry.
    pub index: u64,
    /// Log time, RFC 3339.
    pub log_time: String,
    /// The signing key, `name+keyid`.
    pub signer: String,
    /// The signing key's affiliation at admission.
    pub affiliation: String,
    /// Signed by a party's key: a claim, not monitoring evidence.
    pub claim: bool,
    /// The agreement version in force when it was logged.
    pub agreement_version: u32,
    /// The derived event location.
    pub location: EventLocation,
    /// The payload as signed.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// A page of observations.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ObservationList {
    pub items: Vec<ObservationItem>,
    /// Cursor for the next page, or null at the end.
    pub next: Option<String>,
}

impl ObservationItem {
    /// The item for `r`, its payload still to be read from the store.
    fn of(r: &ObservationRecord) -> ObservationItem {
        ObservationItem {
            id: r.id.to_string(),
            index: r.index,
            log_time: rfc3339(r.time_ms),
            signer: r.signer.to_string(),
            affiliation: r.affiliation.to_string(),
            claim: r.claim,
            agreement_version: r.agreement_version,
            location: r.point.into(),
            payload: serde_json::Value::Null,
        }
    }
}

/// Parses the request's parameters into an engine query.
fn query(raw: Option<&str>) -> Result<ObservationQuery, Problem> {
    let mut p = Params::parse(raw, &PARAMETERS, "/v1/observations");
    let mut q = ObservationQuery::new(p.limit());
    (q.from_ms, q.to_ms) = p.window();
    q.bbox = p.bbox();
    q.types = p.event_types();
    q.affiliations = p.many("affiliation", false);
    q.affiliations.sort_unstable();
    q.affiliations.dedup();
    // Types are bounded by the taxonomy once deduplicated; affiliations are free text.
    if q.affiliations.len() > MAX_LIST {
        p.error("affiliation", format!("more than {MAX_LIST} values"));
    }
    q.agreement = p.one("agreement");
    q.party = p.one("party");
    q.after = p.cursor();
    p.finish().map_err(Problem::bad_query)?;
    Ok(q)
}

/// List observations: filtered by event window, box, type, affiliation, agreement and alleged
/// party; in log order; `limit` per page and `next` as the cursor of the following page. With
/// `Accept: application/geo+json` the answer is a FeatureCollection with `next` as a foreign
/// member, one Point feature per observation at its derived event location.
#[utoipa::path(
    get,
    path = "/v1/observations",
    tag = "observations",
    params(WindowParams, ObservationFilter, PageParams),
    responses(
        (status = 200, description = "A page of observations (a FeatureCollection with `Accept: application/geo+json`)", content(
            (ObservationList = "application/json"),
            (Object = "application/geo+json"),
        )),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The log could not be read", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_observations(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let q = query(raw.as_deref())?;
    let (mut items, next) = {
        let state = app.read()?;
        let page = state.query_observations(&q);
        let items: Vec<ObservationItem> = page.items.iter().map(ObservationItem::of).collect();
        (items, page.next)
    };
    let indexes: Vec<u64> = items.iter().map(|i| i.index).collect();
    let entries = app
        .store
        .entries_at(&indexes)
        .await
        .map_err(|e| Problem::unavailable(format!("reading the log: {e}")))?;
    if entries.len() != items.len() {
        return Err(Problem::internal(format!(
            "{} of {} observed entries are missing from the store",
            items.len() - entries.len(),
            items.len()
        )));
    }
    for (item, e) in items.iter_mut().zip(entries) {
        if e.index != item.index {
            return Err(Problem::internal(format!(
                "store returned entry {} for observation at {}",
                e.index, item.index
            )));
        }
        let leaf = truce_log::leaf::Leaf::decode(&e.leaf).map_err(Problem::internal)?;
        item.payload =
            serde_json::from_slice(leaf.envelope.payload()).map_err(Problem::internal)?;
    }
    let next = next.map(|n| n.to_string());
    if wants_geojson(&headers) {
        return Ok(feature_collection(items, next));
    }
    Ok(Json(ObservationList { items, next }).into_response())
}

/// The page as an RFC 7946 FeatureCollection (`next` is a foreign member).
fn feature_collection(items: Vec<ObservationItem>, next: Option<String>) -> Response {
    let features: Vec<serde_json::Value> = items
        .into_iter()
        .map(|o| {
            let properties = serde_json::json!({
                "index": o.index,
                "log_time": o.log_time,
                "signer": o.signer,
                "affiliation": o.affiliation,
                "claim": o.claim,
                "agreement_version": o.agreement_version,
                "radius_m": o.location.radius_m,
                "payload": o.payload,
            });
            point_feature(&o.id, &o.location, properties)
        })
        .collect();
    geojson_response(features, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use truce_model::taxonomy::EventType;

    #[test]
    fn families_expand_and_bad_values_are_named() {
        let q = query(Some("type=harm,shot&type=shot&limit=3&cursor=41")).unwrap();
        assert_eq!(
            q.types,
            [
                EventType::Shot,
                EventType::Damage,
                EventType::Casualty,
                EventType::Mine
            ]
        );
        assert_eq!((q.limit, q.after), (3, Some(41)));
        let e = query(Some(
            "type=boom&cursor=abc&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z&status=open",
        ))
        .unwrap_err();
        assert_eq!(e.status, 400);
        for want in [
            "type: \"boom\" is neither",
            "cursor: not a cursor",
            "to: is before from",
            "\"status\" is not a parameter",
        ] {
            assert!(e.detail.contains(want), "{want}: {}", e.detail);
        }
    }
}
