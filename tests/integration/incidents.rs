//! Incidents over HTTP with the Donbas example in force (DESIGN §6, §8): clustering of logged
//! observations, status and who may rule, `GET /v1/incidents[/{id}]` with filters, GeoJSON and
//! precise errors; and `GET /v1/state` against `truce replay` (from the data directory and over
//! HTTP from the tiles) after a randomised workload.

use serde_json::{Value, json};
use truce_model::keys::PrivateKey;

use crate::util::{
    Server, accredit, bring_donbas_into_force, demo_key, error_pointers, init, truce,
};

/// 2026-11-01T00:00:00Z, ms.
const NOV_1: i64 = 1_793_491_200_000;
const MINUTE: i64 = 60_000;

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

/// An explosion at (`lat`, `lon`) heard from `start` for ten minutes.
fn report(id: &str, lat: f64, lon: f64, radius_m: u32, start: i64) -> Value {
    json!({
        "id": id, "agreement": "donbas-2026",
        "observed": {"from": rfc3339(start), "to": rfc3339(start + 10 * MINUTE)},
        "observer": {"mode": "heard"},
        "event": {"type": "explosion", "count": 3,
                  "location": {"lat": lat, "lon": lon, "radius_m": radius_m}},
    })
}

struct World {
    server: Server,
    smm: PrivateKey,
    sensors: PrivateKey,
    verifier: PrivateKey,
    ua: PrivateKey,
    ru: PrivateKey,
}

/// The Donbas example in force, two monitors, a verifier and the parties' keys; ticks out of the
/// way (a tick between reading `/v1/state` and replaying would change the size compared).
async fn world(tmp: &std::path::Path) -> World {
    world_with(tmp, 50_000).await
}

/// [`world`] with a snapshot taken every `snapshot_every` entries.
async fn world_with(tmp: &std::path::Path, snapshot_every: u64) -> World {
    let data = init(tmp);
    let config = data.join("truce.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let quiet = text.replace("tick_seconds = 60", "tick_seconds = 86400");
    let quiet = quiet.replace(
        "snapshot_every = 50000",
        &format!("snapshot_every = {snapshot_every}"),
    );
    assert_ne!(quiet, text, "truce.toml has no `tick_seconds = 60` line");
    std::fs::write(&config, quiet).unwrap();
    let server = Server::start(&data);
    bring_donbas_into_force(&server).await;
    let smm = PrivateKey::from_seed("smm-patrol", [21; 32]).unwrap();
    let sensors = PrivateKey::from_seed("sensor-net", [22; 32]).unwrap();
    let verifier = PrivateKey::from_seed("smm-verifier", [23; 32]).unwrap();
    accredit(&server, &smm, &["monitor"], "OSCE SMM").await;
    accredit(&server, &sensors, &["sensor"], "Sensor net").await;
    accredit(&server, &verifier, &["verifier"], "OSCE SMM").await;
    World {
        server,
        smm,
        sensors,
        verifier,
        ua: demo_key("ukraine"),
        ru: demo_key("russia"),
    }
}

async fn ok(w: &World, key: &PrivateKey, kind: &str, payload: Value) -> u64 {
    let (status, body) = w.server.submit(key, kind, payload).await;
    assert_eq!(status, 200, "{body}");
    body["index"].as_u64().unwrap()
}

#[tokio::test]
async fn incidents_status_rulings_and_queries() {
    let tmp = tempfile::tempdir().unwrap();
    let w = world(tmp.path()).await;
    let t = NOV_1;
    // Incident A: a patrol and a sensor 300 m apart; incident B 20 km away, a UA claim only.
    let a1 = ok(
        &w,
        &w.smm,
        "observation",
        report("a-1", 48.00, 38.00, 500, t),
    )
    .await;
    let a2 = ok(
        &w,
        &w.sensors,
        "observation",
        report("a-2", 48.003, 38.00, 200, t + 5 * MINUTE),
    )
    .await;
    ok(
        &w,
        &w.ua,
        "observation",
        report("b-1", 48.18, 38.00, 500, t),
    )
    .await;

    let (status, list) = w.server.get("/v1/incidents").await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(items[0]["id"], "a-1");
    assert_eq!(items[0]["status"], "corroborated");
    assert_eq!(items[0]["members"], json!(["a-1", "a-2"]));
    assert_eq!(items[0]["member_count"], 2);
    assert!(items[0]["members_next"].is_null(), "every member is listed");
    assert_eq!(items[0]["count"], 3, "the largest per-affiliation sum");
    assert_eq!(
        items[0]["location"]["radius_m"], 200.0,
        "the smallest radius"
    );
    assert_eq!(items[0]["window"]["from"], rfc3339(t));
    assert_eq!(items[0]["families"], json!(["fire"]));
    assert_eq!(items[1]["id"], "b-1");
    assert_eq!(items[1]["status"], "reported");
    assert!(list["next"].is_null());

    // The detail lists every member with the index its receipt gave.
    let (status, a) = w.server.get("/v1/incidents/a-1").await;
    assert_eq!(status, 200, "{a}");
    let indexes: Vec<u64> = a["member_observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, vec![a1, a2]);

    // The members in pages, as for an incident too large to list whole.
    let (status, m) = w.server.get("/v1/incidents/a-1/members?limit=1").await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["items"][0]["index"], a1);
    let next = m["next"].as_str().expect("a second page").to_string();
    let (_, m) = w
        .server
        .get(&format!("/v1/incidents/a-1/members?limit=1&cursor={next}"))
        .await;
    assert_eq!(m["items"][0]["id"], "a-2");
    assert_eq!(m["items"][0]["index"], a2);
    assert!(m["next"].is_null(), "{m}");
    let (status, p) = w.server.get("/v1/incidents/a-2/members").await;
    assert_eq!(status, 404, "a member is no incident id: {p}");
    let (status, p) = w.server.get("/v1/incidents/a-1/members?limit=0").await;
    assert_eq!(status, 400, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("limit"), "{p}");

    // Who may rule, and on what.
    let decision = |id: &str, incident: &str, status: &str| json!({"id": id, "incident": incident, "status": status, "reason": "crater analysis"});
    let (status, p) = w
        .server
        .submit(&w.smm, "decision", decision("d-0", "a-1", "verified"))
        .await;
    assert_eq!(status, 403, "{p}");
    let (status, p) = w
        .server
        .submit(&w.verifier, "decision", decision("d-1", "a-2", "verified"))
        .await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(error_pointers(&p), ["/incident"]);
    assert!(p.to_string().contains("a-1"), "names the incident: {p}");
    let (status, p) = w
        .server
        .submit(
            &w.verifier,
            "dispute",
            json!({"id": "x-0", "incident": "a-1", "reason": "no"}),
        )
        .await;
    assert_eq!(status, 403, "{p}");

    // RU disputes A: disputed; then a verifier verifies it, attributing it to RU.
    ok(
        &w,
        &w.ru,
        "dispute",
        json!({"id": "x-1", "incident": "a-1", "reason": "staged"}),
    )
    .await;
    let (_, a) = w.server.get("/v1/incidents/a-1").await;
    assert_eq!(a["status"], "disputed");
    let d = ok(
        &w,
        &w.verifier,
        "decision",
        json!({"id": "d-2", "incident": "a-1",
        "status": "verified", "reason": "crater analysis",
        "attribution": {"party": "RU", "confidence": "confirmed"}}),
    )
    .await;
    let (_, a) = w.server.get("/v1/incidents/a-1").await;
    assert_eq!(a["status"], "verified");
    assert_eq!(a["decision_entries"][0]["index"], d);
    assert_eq!(a["decision_entries"][0]["attribution"], "RU");
    assert_eq!(a["dispute_entries"][0]["party"], "RU");

    // Filters, GeoJSON, errors.
    let (_, v) = w.server.get("/v1/incidents?status=verified").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let (_, v) = w.server.get("/v1/incidents?bbox=37.9,48.1,38.1,48.3").await;
    assert_eq!(v["items"][0]["id"], "b-1");
    let (_, v) = w.server.get("/v1/incidents?type=presence").await;
    assert!(v["items"].as_array().unwrap().is_empty());
    let (_, v) = w.server.get("/v1/incidents?limit=1").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let next = v["next"].as_str().unwrap().to_string();
    let (_, v) = w
        .server
        .get(&format!("/v1/incidents?limit=1&cursor={next}"))
        .await;
    assert_eq!(v["items"][0]["id"], "b-1");
    let resp = w
        .server
        .http
        .get(format!("{}/v1/incidents", w.server.url))
        .header("accept", "application/geo+json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/geo+json");
    let fc: Value = resp.json().await.unwrap();
    assert_eq!(fc["type"], "FeatureCollection");
    assert_eq!(
        fc["features"][1]["geometry"]["coordinates"],
        json!([38.0, 48.18])
    );
    let (status, p) = w.server.get("/v1/incidents?status=open&colour=red").await;
    assert_eq!(status, 400, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("status") && detail.contains("colour"),
        "{detail}"
    );
    let (status, p) = w.server.get("/v1/incidents/no-such-incident").await;
    assert_eq!(status, 404, "{p}");
    w.server.stop();
}

/// A deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test]
async fn live_digest_equals_replayed_digest_after_a_random_workload() {
    let tmp = tempfile::tempdir().unwrap();
    let w = world(tmp.path()).await;
    let mut rng = Rng(0x5eed_1234_abcd);
    let keys = [&w.smm, &w.sensors, &w.ua];
    let mut incidents: Vec<String> = Vec::new();
    for i in 0..120 {
        let lat = 47.9 + rng.below(300) as f64 / 1000.0;
        let lon = 37.8 + rng.below(300) as f64 / 1000.0;
        let start = NOV_1 + rng.below(600) as i64 * MINUTE;
        let id = format!("w-{i}");
        let radius = 100 + rng.below(3_000) as u32;
        ok(
            &w,
            keys[rng.below(3) as usize],
            "observation",
            report(&id, lat, lon, radius, start),
        )
        .await;
        if rng.below(5) == 0 {
            let (_, v) = w.server.get("/v1/incidents?limit=1000").await;
            incidents = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_string())
                .collect();
            let target = &incidents[rng.below(incidents.len() as u64) as usize];
            if rng.below(2) == 0 {
                let status = ["verified", "rejected"][rng.below(2) as usize];
                ok(
                    &w,
                    &w.verifier,
                    "decision",
                    json!({"id": format!("d-{i}"),
                    "incident": target, "status": status, "reason": "r"}),
                )
                .await;
            } else {
                ok(
                    &w,
                    &w.ru,
                    "dispute",
                    json!({"id": format!("x-{i}"),
                    "incident": target, "reason": "r"}),
                )
                .await;
            }
        }
    }
    assert!(incidents.len() > 1);
    let (status, live) = w.server.get("/v1/state").await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["digest"].as_str().unwrap().len(), 64);

    // Over HTTP, from the tiles, while the server runs.
    let replayed = replay(&["--log", &w.server.url]);
    assert_eq!(replayed, live, "the replayed state, section by section");

    // From the data directory, with the server stopped.
    let data = w.server.data.clone();
    w.server.stop();
    let replayed = replay(&["--data", data.to_str().unwrap()]);
    assert_eq!(replayed, live, "the replayed state, section by section");
}

/// What the server logged at its last start, without colours.
fn server_log(data: &std::path::Path) -> String {
    let text = std::fs::read_to_string(data.with_extension("stderr.log")).unwrap();
    let mut plain = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Regression (issue 9, restart time): a restart starts from the latest snapshot and reaches the
/// same state — after a crash from the latest periodic one (the entries since are decoded),
/// after a graceful stop from the one written at stop (nothing is decoded); a damaged snapshot is
/// named, set aside, and the whole log replayed instead.
#[tokio::test]
async fn a_restart_starts_from_the_latest_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let w = world_with(tmp.path(), 20).await;
    for i in 0..45 {
        let start = NOV_1 + (i % 7) as i64 * 20 * MINUTE;
        let lat = 48.0 + (i % 5) as f64 * 0.01;
        ok(
            &w,
            &w.smm,
            "observation",
            report(&format!("r-{i}"), lat, 38.0, 500, start),
        )
        .await;
    }
    ok(
        &w,
        &w.verifier,
        "decision",
        json!({"id": "d-1", "incident": "r-0", "status": "verified", "reason": "seen"}),
    )
    .await;
    ok(
        &w,
        &w.ru,
        "dispute",
        json!({"id": "x-1", "incident": "r-0", "reason": "no"}),
    )
    .await;
    // Effects a snapshot holds: 45 observations, a decision and a dispute.
    let effects = 47;
    let (_, live) = w.server.get("/v1/state").await;
    let data = w.server.data.clone();

    // A crash: the periodic snapshots cover part of the log, the rest is decoded.
    w.server.kill9();
    let server = Server::start(&data);
    let (_, restarted) = server.get("/v1/state").await;
    assert_eq!(restarted, live);
    let log = server_log(&data);
    assert!(log.contains("starting from a snapshot"), "{log}");
    assert!((20..effects).contains(&restored(&log)), "{log}");

    // A graceful stop snapshots the whole log: the next start decodes none of those entries.
    server.stop();
    let server = Server::start(&data);
    let (_, restarted) = server.get("/v1/state").await;
    assert_eq!(restarted, live);
    let log = server_log(&data);
    assert_eq!(restored(&log), effects, "{log}");
    server.stop();
    let snapshots = data.join("snapshots");
    let mut files: Vec<_> = std::fs::read_dir(&snapshots)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "the newest two are kept: {files:?}");

    // Damage the newest snapshot: it is named, and the next start replays everything.
    let newest = files.last().unwrap();
    let mut bytes = std::fs::read(newest).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(newest, bytes).unwrap();
    std::fs::remove_file(&files[0]).unwrap();
    let server = Server::start(&data);
    let (_, restarted) = server.get("/v1/state").await;
    assert_eq!(restarted, live);
    let log = server_log(&data);
    let name = newest.file_name().unwrap().to_str().unwrap();
    assert!(
        log.contains("snapshot not used") && log.contains(name),
        "{log}"
    );
    assert_eq!(restored(&log), 0, "{log}");
}

/// The number of entries the server said it restored from a snapshot at its last start.
fn restored(log: &str) -> u64 {
    log.split_whitespace()
        .find_map(|w| w.strip_prefix("restored="))
        .unwrap_or_else(|| panic!("{log}"))
        .parse()
        .unwrap()
}

/// `truce replay ARGS --json`, which must succeed; its JSON.
fn replay(args: &[&str]) -> Value {
    let out = truce()
        .arg("replay")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
