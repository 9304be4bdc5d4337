//! GeoJSON (RFC 7946) answers of the list endpoints: content negotiation, the located point
//! every finding has, and the FeatureCollection with `next` as a foreign member.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use truce_model::observation::EventPoint;

/// Where an event is, as derived from its observations (DESIGN §6).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventLocation {
    pub lat: f64,
    pub lon: f64,
    /// Uncertainty radius, metres.
    pub radius_m: f64,
}

impl From<EventPoint> for EventLocation {
    fn from(p: EventPoint) -> EventLocation {
        EventLocation {
            lat: p.lat,
            lon: p.lon,
            radius_m: p.radius_m,
        }
    }
}

/// Whether the client asked for GeoJSON.
pub fn wants_geojson(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            media.eq_ignore_ascii_case("application/geo+json") && !refused
        })
}

/// A Point Feature at `at`, with `id` and `properties`.
pub fn point_feature(
    id: &str,
    at: &EventLocation,
    properties: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "type": "Feature",
        "id": id,
        "geometry": {"type": "Point", "coordinates": [at.lon, at.lat]},
        "properties": properties,
    })
}

/// A FeatureCollection of `features` with `next` as a foreign member, as `application/geo+json`.
pub fn geojson_response(features: Vec<serde_json::Value>, next: Option<String>) -> Response {
    let body = serde_json::json!({"type": "FeatureCollection", "features": features, "next": next});
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            wants_geojson(&m)
        };
        assert!(h("application/geo+json"));
        assert!(h("application/json;q=0.5, Application/GEO+JSON"));
        assert!(!h("application/json"));
        assert!(!h("application/geo+json;q=0"));
        assert!(!wants_geojson(&HeaderMap::new()));
    }
}
