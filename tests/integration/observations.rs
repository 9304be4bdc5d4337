//! Observations over HTTP with the Donbas example in force: the intake's status codes for the
//! `observation` kind, and `GET /v1/observations` — every filter, cursor paging, GeoJSON, and
//! precise 400s for bad parameters.

use serde_json::{Value, json};
use truce_model::keys::PrivateKey;

use crate::util::{Server, accredit, bring_donbas_into_force, demo_key, error_pointers};

/// 2026-11-01T00:00:00Z, ms.
const NOV_1: i64 = 1_793_491_200_000;
const HOUR: i64 = 3_600_000;

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

const TYPES: [&str; 4] = ["explosion", "shot", "damage", "forces-presence"];

/// Observation `i` of a deterministic set spread over a grid of the Donbas, one hour apart.
fn observation(i: i64) -> Value {
    let from = NOV_1 + i * HOUR;
    let mut o = json!({
        "id": format!("obs-{i}"),
        "agreement": "donbas-2026",
        "observed": {"from": rfc3339(from), "to": rfc3339(from + 10 * 60_000)},
        "observer": {"mode": "heard"},
        "event": {
            "type": TYPES[(i % 4) as usize],
            "count": 1 + i % 3,
            "location": {"lat": 47.5 + (i % 5) as f64 * 0.25, "lon": 37.5 + (i / 5 % 4) as f64 * 0.5,
                         "radius_m": 500},
        },
        "grading": {"credibility": 2},
    });
    if i % 7 == 3 {
        // Located by the observer's position and a sector instead.
        let event = o["event"].as_object_mut().unwrap();
        event.remove("location");
        event.insert(
            "sector".into(),
            json!({"bearing_deg": [80, 100], "distance_km": [2, 4]}),
        );
        o["observer"]["position"] = json!({"lat": 48.0, "lon": 37.8});
    }
    o
}

/// The server with the agreement in force, two monitors of two affiliations and a party's key.
async fn world(tmp: &std::path::Path) -> (Server, PrivateKey, PrivateKey) {
    let server = Server::init_and_start(tmp);
    bring_donbas_into_force(&server).await;
    let smm = PrivateKey::from_seed("smm-patrol", [21; 32]).unwrap();
    let sensors = PrivateKey::from_seed("sensor-net", [22; 32]).unwrap();
    accredit(&server, &smm, &["monitor"], "OSCE SMM").await;
    accredit(&server, &sensors, &["sensor"], "Sensor net").await;
    (server, smm, sensors)
}

async fn get(server: &Server, path: &str, accept: Option<&str>) -> (u16, String, Value) {
    let mut req = server.http.get(format!("{}{path}", server.url));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
    (status, ctype, resp.json().await.unwrap())
}

/// An RFC 3339 JSON string as ms.
fn ms(s: &Value) -> i64 {
    s.as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond()
}

/// Every page of `query` (limit 7), following `next`; returns the items' ids.
async fn all_ids(server: &Server, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/v1/observations?limit=7&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, _, page) = get(server, &path, None).await;
        assert_eq!(status, 200, "{path}: {page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 7);
        ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return ids,
        }
    }
    panic!("paging did not end");
}

#[tokio::test]
async fn observation_intake_status_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, smm, _) = world(tmp.path()).await;
    let (code, body) = server.submit(&smm, "observation", observation(0)).await;
    assert_eq!(code, 200, "{body}");
    // The same entry again: the same receipt (idempotent), not a conflict.
    let (code, again) = server.submit(&smm, "observation", observation(0)).await;
    assert_eq!((code, &again["index"]), (200, &body["index"]), "{again}");

    // 409: the id stands for other content.
    let mut other = observation(0);
    other["event"]["count"] = json!(9);
    let (code, body) = server.submit(&smm, "observation", other).await;
    assert_eq!(code, 409, "{body}");

    // 422: every offending field, by JSON pointer.
    let mut bad = observation(1);
    bad["id"] = json!("obs-bad");
    bad["event"]["type"] = json!("boom");
    bad["event"]["location"]["lat"] = json!(91);
    bad["observed"]["to"] = json!("2026-10-01T00:00:00Z");
    bad["evidence"] = json!([{"sha256": "xyz", "media_type": "image/jpeg", "role": "evidentiary"}]);
    let (code, body) = server.submit(&smm, "observation", bad).await;
    assert_eq!(code, 422, "{body}");
    let pointers = error_pointers(&body);
    for p in [
        "/event/type",
        "/event/location/lat",
        "/observed/to",
        "/evidence/0/sha256",
    ] {
        assert!(pointers.contains(&p), "{p} missing from {pointers:?}");
    }
    // 422: an unknown agreement.
    let mut bad = observation(2);
    bad["agreement"] = json!("nowhere-2030");
    let (code, body) = server.submit(&smm, "observation", bad).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/agreement");

    // 403: a party's key may not sign a key entry, a verifier's may not sign observations.
    let verifier = PrivateKey::from_seed("verifier", [23; 32]).unwrap();
    accredit(&server, &verifier, &["verifier"], "OSCE SMM").await;
    let (code, body) = server
        .submit(&verifier, "observation", observation(3))
        .await;
    assert_eq!(code, 403, "{body}");

    // 401: an unaccredited key, and a revoked one.
    let stranger = PrivateKey::from_seed("stranger", [24; 32]).unwrap();
    let (code, body) = server
        .submit(&stranger, "observation", observation(4))
        .await;
    assert_eq!(code, 401, "{body}");
    let (code, body) = server
        .submit(
            &server.operator(),
            "key",
            json!({"id": "revoke-smm", "vkey": smm.verifier().to_string(), "revoke": true}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = server.submit(&smm, "observation", observation(5)).await;
    assert_eq!(code, 401, "{body}");

    // 413: larger than an entry may be.
    let mut big = observation(6);
    big["narrative"] = json!("x".repeat(70_000));
    let (code, body) = server
        .submit(&demo_key("ukraine"), "observation", big)
        .await;
    assert_eq!(code, 413, "{body}");

    // Only obs-0 was logged.
    let (_, _, page) = get(&server, "/v1/observations", None).await;
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["obs-0"]);
}

#[tokio::test]
async fn observations_are_filtered_paged_and_served_as_geojson() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, smm, sensors) = world(tmp.path()).await;
    let n = 40;
    let mut submitted = Vec::new();
    for i in 0..n {
        let key = if i % 2 == 0 { &smm } else { &sensors };
        let o = observation(i);
        let (code, body) = server.submit(key, "observation", o.clone()).await;
        assert_eq!(code, 200, "{body}");
        submitted.push(o);
    }
    // A party's claim: recorded, marked as a claim, and found by `party`.
    let mut claim = observation(n);
    claim["alleged_party"] = json!("RU");
    let (code, body) = server
        .submit(&demo_key("ukraine"), "observation", claim.clone())
        .await;
    assert_eq!(code, 200, "{body}");
    submitted.push(claim);

    // Unfiltered: everything, in log order, each item with id, index, affiliation and the
    // payload as signed.
    let (status, ctype, page) = get(&server, "/v1/observations?limit=1000", None).await;
    assert_eq!(status, 200);
    assert_eq!(ctype, "application/json");
    assert_eq!(page["next"], Value::Null);
    let items = page["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), submitted.len());
    for (item, payload) in items.iter().zip(&submitted) {
        assert_eq!(item["payload"], *payload);
        assert_eq!(item["id"], payload["id"]);
        if let Some(loc) = payload["event"].get("location") {
            assert_eq!(item["location"]["lat"], loc["lat"]);
            assert_eq!(item["location"]["lon"], loc["lon"]);
        }
    }
    assert!(
        items
            .windows(2)
            .all(|w| w[0]["index"].as_u64() < w[1]["index"].as_u64())
    );
    assert_eq!(items[0]["affiliation"], "OSCE SMM");
    assert_eq!(items[1]["affiliation"], "Sensor net");
    assert_eq!(
        (
            items[40]["affiliation"].as_str(),
            items[40]["claim"].as_bool()
        ),
        (Some("UA"), Some(true))
    );

    // Each filter, paged 7 at a time, equals the same filter applied here to the full list.
    type Filter = Box<dyn Fn(&Value) -> bool>;
    let (f, t) = (NOV_1 + 5 * HOUR + 5 * 60_000, NOV_1 + 12 * HOUR);
    let cases: Vec<(String, Filter)> = vec![
        ("".into(), Box::new(|_| true)),
        (
            format!("from={}&to={}", rfc3339(f), rfc3339(t)),
            Box::new(move |i| {
                ms(&i["payload"]["observed"]["to"]) >= f
                    && ms(&i["payload"]["observed"]["from"]) <= t
            }),
        ),
        (
            format!("from={}", rfc3339(NOV_1 + 30 * HOUR)),
            Box::new(|i| ms(&i["payload"]["observed"]["to"]) >= NOV_1 + 30 * HOUR),
        ),
        (
            "bbox=37.9,47.6,39.0,48.1".into(),
            Box::new(|i| {
                let (lat, lon) = (
                    i["location"]["lat"].as_f64().unwrap(),
                    i["location"]["lon"].as_f64().unwrap(),
                );
                (37.9..=39.0).contains(&lon) && (47.6..=48.1).contains(&lat)
            }),
        ),
        (
            "type=shot,damage".into(),
            Box::new(|i| {
                ["shot", "damage"].contains(&i["payload"]["event"]["type"].as_str().unwrap())
            }),
        ),
        (
            "type=presence".into(),
            Box::new(|i| i["payload"]["event"]["type"] == "forces-presence"),
        ),
        (
            "affiliation=Sensor%20net".into(),
            Box::new(|i| i["affiliation"] == "Sensor net"),
        ),
        (
            "affiliation=Sensor+net&affiliation=UA".into(),
            Box::new(|i| i["affiliation"] == "Sensor net" || i["affiliation"] == "UA"),
        ),
        (
            "party=RU".into(),
            Box::new(|i| i["payload"]["alleged_party"] == "RU"),
        ),
        ("agreement=donbas-2026".into(), Box::new(|_| true)),
        ("agreement=elsewhere".into(), Box::new(|_| false)),
        (
            format!(
                "bbox=37.4,47.4,38.1,48.6&type=fire&from={}",
                rfc3339(NOV_1 + 8 * HOUR)
            ),
            Box::new(|i| {
                let (lat, lon) = (
                    i["location"]["lat"].as_f64().unwrap(),
                    i["location"]["lon"].as_f64().unwrap(),
                );
                (37.4..=38.1).contains(&lon)
                    && (47.4..=48.6).contains(&lat)
                    && ["explosion", "shot"]
                        .contains(&i["payload"]["event"]["type"].as_str().unwrap())
                    && ms(&i["payload"]["observed"]["to"]) >= NOV_1 + 8 * HOUR
            }),
        ),
    ];
    for (query, filter) in cases {
        let expected: Vec<String> = items
            .iter()
            .filter(|i| filter(i))
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        // Every case but the trivial ones separates the log (so the comparison can fail).
        let trivial = query.is_empty() || query.starts_with("agreement=");
        assert!(
            trivial || (!expected.is_empty() && expected.len() < items.len()),
            "query {query:?} selects {} of {}",
            expected.len(),
            items.len()
        );
        assert_eq!(all_ids(&server, &query).await, expected, "query {query:?}");
    }

    // GeoJSON: a FeatureCollection of Points at the derived location, `next` as a foreign member.
    let (status, ctype, fc) = get(
        &server,
        "/v1/observations?limit=3&type=explosion",
        Some("application/geo+json"),
    )
    .await;
    assert_eq!(status, 200, "{fc}");
    assert_eq!(ctype, "application/geo+json");
    assert_eq!(fc["type"], "FeatureCollection");
    let features = fc["features"].as_array().unwrap();
    assert_eq!(features.len(), 3);
    let explosions: Vec<&Value> = items
        .iter()
        .filter(|i| i["payload"]["event"]["type"] == "explosion")
        .collect();
    for (feature, item) in features.iter().zip(&explosions) {
        assert_eq!(feature["type"], "Feature");
        assert_eq!(feature["id"], item["id"]);
        assert_eq!(feature["geometry"]["type"], "Point");
        assert_eq!(
            feature["geometry"]["coordinates"],
            json!([item["location"]["lon"], item["location"]["lat"]])
        );
        assert_eq!(feature["properties"]["index"], item["index"]);
        assert_eq!(feature["properties"]["affiliation"], item["affiliation"]);
        assert_eq!(feature["properties"]["payload"], item["payload"]);
    }
    assert_eq!(
        fc["next"],
        features[2]["properties"]["index"].to_string().as_str()
    );
}

#[tokio::test]
async fn bad_query_parameters_are_400_and_name_the_parameter() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::init_and_start(tmp.path());
    for (query, needle) in [
        ("bbox=1,2,3", "bbox: expected four numbers"),
        ("bbox=38,49,39,48", "bbox: minLat 49 is north of maxLat 48"),
        ("bbox=38,47,200,48", "bbox: maxLon \"200\" is out of range"),
        (
            "from=yesterday",
            "from: \"yesterday\" is not an RFC 3339 time",
        ),
        (
            "from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
            "to: is before from",
        ),
        (
            "limit=0",
            "limit: \"0\" is not a whole number from 1 to 1000",
        ),
        ("limit=1001", "limit"),
        ("cursor=abc", "cursor: not a cursor"),
        ("type=boom", "type: \"boom\" is neither an event type"),
        (
            "status=open",
            "\"status\" is not a parameter of /v1/observations",
        ),
        ("limit=5&limit=6", "limit: given 2 times"),
        ("party=", "party: empty value"),
    ] {
        let (status, ctype, body) = get(&server, &format!("/v1/observations?{query}"), None).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(ctype, "application/problem+json", "{query}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(needle), "{query}: {detail}");
    }
    // Several problems at once.
    let (_, _, body) = get(&server, "/v1/observations?limit=0&bbox=x", None).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("limit:") && detail.contains("bbox:"),
        "{detail}"
    );
    // The agreements list parses its parameters the same way.
    let (status, _, body) = get(&server, "/v1/agreements?limit=0", None).await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = get(&server, "/v1/agreements?bbox=1,2,3,4", None).await;
    assert_eq!(status, 400, "{body}");
    // An empty log: an empty first page.
    let (status, _, body) = get(&server, "/v1/observations", None).await;
    assert_eq!((status, body), (200, json!({"items": [], "next": null})));
}
