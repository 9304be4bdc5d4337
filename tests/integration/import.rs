//! `truce import` against the real server with the Donbas example in force: the whole UCDP GED
//! file (3,077 events) with zero rejects and an idempotent re-run, ACLED and GeoJSON fixtures,
//! broken rows that land in the rejects file with their reasons, rate limits honoured, and the
//! usage failures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine as _;
use serde_json::{Value, json};
use truce_model::keys::PrivateKey;

use crate::util::{Server, accredit, bring_donbas_into_force, init, repo, truce};

const UCDP_ROWS: u64 = 3_077;

/// `truce init` with `[limits]` set, and ticks out of the way (a tick would change the log size
/// the tests count).
fn start(tmp: &Path, entries_per_second: u32, burst: u32) -> Server {
    let data = init(tmp);
    let config = data.join("truce.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let line = if line.starts_with("tick_seconds") {
            "tick_seconds = 86400".to_string()
        } else if line.starts_with("entries_per_second") {
            format!("entries_per_second = {entries_per_second}")
        } else if line.starts_with("burst") {
            format!("burst = {burst}")
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    assert!(out.contains("tick_seconds = 86400"), "{out}");
    assert!(out.contains(&format!("burst = {burst}")), "{out}");
    std::fs::write(&config, out).unwrap();
    Server::start(&data)
}

/// A fresh monitor key, accredited; returns its key file.
async fn monitor(server: &Server, dir: &Path) -> PathBuf {
    let key = PrivateKey::generate("importer").unwrap();
    let file = dir.join("importer.key");
    std::fs::write(&file, key.encode() + "\n").unwrap();
    accredit(server, &key, &["monitor"], "Import desk").await;
    file
}

async fn size(server: &Server) -> u64 {
    let (_, h) = server.get("/healthz").await;
    h["size"].as_u64().unwrap()
}

/// `truce import …`: exit code, stdout, stderr.
fn run_import(
    server: &Server,
    key: &Path,
    format: &str,
    file: &Path,
    extra: &[&str],
) -> (i32, String, String) {
    let out = truce()
        .args(["import", "--format", format])
        .arg(file)
        .arg("--key")
        .arg(key)
        .args(["--server", &server.url])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `truce import --json …`: exit code, the JSON summary, stderr.
fn import(
    server: &Server,
    key: &Path,
    format: &str,
    file: &Path,
    extra: &[&str],
) -> (i32, Value, String) {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run_import(server, key, format, file, &args);
    let summary = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not a JSON summary ({e}): {stdout}\nstderr: {stderr}"));
    (code, summary, stderr)
}

fn rejects(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The payload of a logged entry, by id.
async fn payload(server: &Server, id: &str) -> Value {
    let (code, e) = server.get(&format!("/v1/entries/{id}")).await;
    assert_eq!(code, 200, "{e}");
    assert_eq!(e["kind"], "observation");
    let b64 = e["envelope"]["payload"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn ucdp_ged_imports_whole_and_again_idempotently() {
    let tmp = tempfile::tempdir().unwrap();
    // Rate limit well above the import's pace: this test is about the mapping and idempotence
    // (`rate_limits_are_honoured` provokes 429s on purpose).
    let server = start(tmp.path(), 100_000, 100_000);
    bring_donbas_into_force(&server).await;
    let key = monitor(&server, tmp.path()).await;
    let file = repo().join("data/ucdp_ged_ukraine_2014_2022.csv");
    let rejects_file = tmp.path().join("ucdp.rejects.jsonl");
    let rejects_arg = rejects_file.to_str().unwrap();
    let before = size(&server).await;

    let t = Instant::now();
    let (code, s, err) = import(&server, &key, "ucdp", &file, &["--rejects", rejects_arg]);
    let first = t.elapsed();
    assert_eq!(code, 0, "{s}\n{err}");
    assert_eq!(s["rows"], UCDP_ROWS, "{s}");
    assert_eq!(s["logged"], UCDP_ROWS, "{s}");
    assert_eq!(s["already_logged"], 0, "{s}");
    assert_eq!(s["rejected"], 0, "{s}");
    assert_eq!(s["agreement"], "donbas-2026", "{s}");
    assert_eq!(s["rejects_file"], Value::Null);
    assert!(!rejects_file.exists(), "no rejects, no rejects file");
    assert_eq!(size(&server).await, before + UCDP_ROWS);

    // The first event of the file, as logged.
    let p = payload(&server, "ucdp-147997").await;
    assert_eq!(p["agreement"], "donbas-2026");
    assert_eq!(
        p["observed"],
        json!({"from": "2014-01-22T00:00:00Z", "to": "2014-01-22T23:59:59Z"})
    );
    assert_eq!(p["event"]["type"], "casualty");
    assert_eq!(
        p["event"]["location"],
        json!({"lat": 50.45, "lon": 30.52333, "radius_m": 1000.0})
    );
    assert_eq!(p["casualties"]["combatant_killed"]["best"], 5);
    let narrative = p["narrative"].as_str().unwrap();
    assert!(narrative.contains("Maidan"), "{narrative}");
    assert!(narrative.contains("CC BY 4.0"), "{narrative}");
    assert!(p.get("observer").is_none(), "{p}");
    // A year-long window (date_prec 5) is accepted.
    let p = payload(&server, "ucdp-315741").await;
    assert_eq!(
        p["observed"],
        json!({"from": "2018-01-01T00:00:00Z", "to": "2018-12-31T23:59:59Z"})
    );

    // Again: every row already logged, nothing new.
    let t = Instant::now();
    let (code, s, err) = import(&server, &key, "ucdp", &file, &["--rejects", rejects_arg]);
    let second = t.elapsed();
    assert_eq!(code, 0, "{s}\n{err}");
    assert_eq!(s["rows"], UCDP_ROWS, "{s}");
    assert_eq!(s["logged"], 0, "{s}");
    assert_eq!(s["already_logged"], UCDP_ROWS, "{s}");
    assert_eq!(s["rejected"], 0, "{s}");
    assert_eq!(size(&server).await, before + UCDP_ROWS);
    eprintln!(
        "UCDP GED import: {UCDP_ROWS} rows in {:.1} s; again (all already logged) in {:.1} s",
        first.as_secs_f64(),
        second.as_secs_f64()
    );
}

/// Synthetic rows in ACLED's export layout (not ACLED data: ACLED's terms do not allow
/// redistributing it). Notes with commas, quotes and a line break exercise the CSV reader.
const ACLED_HEADER: &str = "event_id_cnty,event_date,year,time_precision,disorder_type,event_type,sub_event_type,actor1,actor2,civilian_targeting,country,admin1,admin2,location,latitude,longitude,geo_precision,source,notes,fatalities,timestamp";

const ACLED_ROWS: &str = r#"TEST1001,2021-03-26,2021,1,Political violence,Explosions/Remote violence,Shelling/artillery/missile attack,NAF: United Armed Forces of Novorossiya,Military Forces of Ukraine (2019-),,Ukraine,Donetsk,Pokrovskyi,Avdiivka,48.1394,37.7425,1,Ukrinform,"Synthetic test row. On 26 March 2021, positions near Avdiivka were shelled with 122 mm artillery; no casualties.",0,1617000000
TEST1002,2021-04-02,2021,1,Political violence,Battles,Armed clash,Military Forces of Ukraine (2019-),NAF: United Armed Forces of Novorossiya,,Ukraine,Donetsk,Mariupolskyi,Shyrokyne,47.1036,37.7247,2,"Joint Forces Operation; Interfax-Ukraine","Synthetic test row. Small-arms fire exchanged near Shyrokyne, ""two bursts"" reported; one soldier killed.",1,1617500000
TEST1003,2021-04-14,2021,2,Political violence,Explosions/Remote violence,Air/drone strike,NAF: United Armed Forces of Novorossiya,Military Forces of Ukraine (2019-),,Ukraine,Luhansk,Sievierodonetskyi,Zolote,48.6986,38.5128,1,OSCE SMM,Synthetic test row. A drone dropped a munition on a position near Zolote during the week.,0,1618500000
TEST1004,2021-05-07,2021,1,Political violence,Explosions/Remote violence,Remote explosive/landmine/IED,Unidentified Armed Group (Ukraine),Military Forces of Ukraine (2019-),,Ukraine,Donetsk,Pokrovskyi,Marinka,47.9422,37.5036,1,Ukrinform,"Synthetic test row. A vehicle hit a mine near Marinka;
two soldiers killed.",2,1620500000
TEST1005,2021-06-15,2021,3,Political violence,Violence against civilians,Attack,NAF: United Armed Forces of Novorossiya,Civilians (Ukraine),Civilian targeting,Ukraine,Donetsk,Horlivskyi,Horlivka,48.3033,38.0528,3,Local media,Synthetic test row. A civilian was killed by fire in the Horlivka area in June.,1,1623800000
"#;

/// Good rows (TEST2001, TEST2005) around three broken ones: an impossible date, latitude 95,
/// and a sub-event type ACLED does not have.
const ACLED_BROKEN: &str = r#"TEST2001,2021-07-01,2021,1,Political violence,Battles,Armed clash,A,B,,Ukraine,Donetsk,,Pisky,48.0894,37.6639,1,S,Synthetic test row.,0,1
TEST2002,2021-02-30,2021,1,Political violence,Battles,Armed clash,A,B,,Ukraine,Donetsk,,Pisky,48.0894,37.6639,1,S,Synthetic test row: bad date.,0,1
TEST2003,2021-07-03,2021,1,Political violence,Battles,Armed clash,A,B,,Ukraine,Donetsk,,Pisky,95,37.6639,1,S,Synthetic test row: latitude 95.,0,1
TEST2004,2021-07-04,2021,1,Political violence,Explosions/Remote violence,Orbital strike,A,B,,Ukraine,Donetsk,,Pisky,48.0894,37.6639,1,S,Synthetic test row: no such sub-event type.,0,1
TEST2005,2021-07-05,2021,1,Political violence,Explosions/Remote violence,Grenade,A,B,,Ukraine,Donetsk,,Pisky,48.0894,37.6639,1,S,Synthetic test row.,0,1
"#;

fn geojson_fixture() -> Value {
    json!({
        "type": "FeatureCollection",
        "name": "patrol 7, 20 November 2026",
        "features": [
            {"type": "Feature", "id": "patrol7-0001",
             "geometry": {"type": "Point", "coordinates": [38.31, 48.41]},
             "properties": {"type": "explosion", "from": "2026-11-20T21:10:00Z",
                            "to": "2026-11-20T21:40:00Z", "count": 12, "approx": true,
                            "radius_m": 2000, "weapon": "artillery", "calibre_mm": 122,
                            "mode": "heard", "credibility": 2,
                            "narrative": "Twelve explosions heard to the east."}},
            {"type": "Feature", "id": 2,
             "geometry": {"type": "Point", "coordinates": [37.74, 48.14]},
             "properties": {"type": "impact", "from": "2026-11-21T06:00:00Z",
                            "targets": ["energy"], "alleged_party": "RU"}},
            // No id: named by the hash of the feature. The nested form carries the §5 fields.
            {"type": "Feature",
             "geometry": {"type": "Point", "coordinates": [37.95, 48.02, 180.0]},
             "properties": {"name": "substation", "observation": {
                 "observed": {"from": "2026-11-22T10:00:00Z", "to": "2026-11-22T10:05:00Z"},
                 "observer": {"mode": "uav"},
                 "event": {"type": "damage", "location": {"radius_m": 150},
                           "targets": ["energy"]},
                 "grading": {"credibility": 1}}}},
        ]
    })
}

#[tokio::test]
async fn acled_geojson_and_broken_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path(), 100_000, 100_000);
    bring_donbas_into_force(&server).await;
    let key = monitor(&server, tmp.path()).await;

    // ACLED: five rows, five observations, by the documented table.
    let acled = tmp.path().join("acled.csv");
    std::fs::write(&acled, format!("{ACLED_HEADER}\n{ACLED_ROWS}")).unwrap();
    let before = size(&server).await;
    let (code, s, err) = import(&server, &key, "acled", &acled, &["--concurrency", "3"]);
    assert_eq!(code, 0, "{s}\n{err}");
    assert_eq!(
        (s["rows"].as_u64(), s["logged"].as_u64()),
        (Some(5), Some(5)),
        "{s}"
    );
    assert_eq!(size(&server).await, before + 5);
    let types: Vec<Value> = event_types(
        &server,
        &["TEST1001", "TEST1002", "TEST1003", "TEST1004", "TEST1005"],
    )
    .await;
    assert_eq!(types, ["impact", "shot", "strike", "explosion", "casualty"]);
    let p = payload(&server, "acled-TEST1005").await;
    assert_eq!(
        p["casualties"],
        json!({"civilian_killed": {"low": 1, "best": 1, "high": 1}})
    );
    assert_eq!(
        p["observed"],
        json!({"from": "2021-06-01T00:00:00Z", "to": "2021-06-30T23:59:59Z"})
    );
    assert_eq!(p["event"]["location"]["radius_m"], 150_000.0);
    let p = payload(&server, "acled-TEST1004").await;
    assert!(
        p["narrative"]
            .as_str()
            .unwrap()
            .contains("near Marinka; two soldiers"),
        "{p}"
    );

    // GeoJSON: flat properties, a numeric id, a nested observation without id.
    let geo = tmp.path().join("patrol.geojson");
    std::fs::write(&geo, geojson_fixture().to_string()).unwrap();
    let (code, s, err) = import(&server, &key, "geojson", &geo, &[]);
    assert_eq!(code, 0, "{s}\n{err}");
    assert_eq!(
        (s["rows"].as_u64(), s["logged"].as_u64()),
        (Some(3), Some(3)),
        "{s}"
    );
    let p = payload(&server, "geojson-patrol7-0001").await;
    assert_eq!(
        p["event"]["weapon"],
        json!({"class": "artillery", "calibre_mm": 122})
    );
    assert_eq!(
        p["event"]["location"],
        json!({"lat": 48.41, "lon": 38.31, "radius_m": 2000})
    );
    assert_eq!(p["observer"], json!({"mode": "heard"}));
    let p = payload(&server, "geojson-2").await;
    assert_eq!(p["observed"]["to"], "2026-11-21T06:00:00Z");
    assert_eq!(size(&server).await, before + 8);
    // Again, into the default rejects path, for a person: nothing new, and no rejects file.
    let (code, out, err) = run_import(&server, &key, "geojson", &geo, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("import geojson "), "{out}");
    assert!(out.contains("under agreement donbas-2026"), "{out}");
    for line in [
        "rows read:       3",
        "logged:          0",
        "already logged:  3",
        "rejected:        0",
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
    assert!(!tmp.path().join("patrol.geojson.rejects.jsonl").exists());

    // Broken rows: the rest is logged, the broken ones are in the rejects file, exit 1.
    let broken = tmp.path().join("broken.csv");
    std::fs::write(&broken, format!("{ACLED_HEADER}\n{ACLED_BROKEN}")).unwrap();
    let (code, s, err) = import(&server, &key, "acled", &broken, &[]);
    assert_eq!(code, 1, "{s}\n{err}");
    assert_eq!(s["rows"], 5, "{s}");
    assert_eq!(s["logged"], 2, "{s}");
    assert_eq!(s["rejected"], 3, "{s}");
    assert_eq!(
        s["rejected_by_reason"],
        json!({"column event_date": 1, "column latitude": 1, "column sub_event_type": 1})
    );
    let rejects_file = tmp.path().join("broken.csv.rejects.jsonl");
    assert_eq!(s["rejects_file"], rejects_file.to_str().unwrap());
    let r = rejects(&rejects_file);
    assert_eq!(r.len(), 3, "{r:?}");
    let find = |row: u64| {
        r.iter()
            .find(|x| x["row"] == row)
            .unwrap_or_else(|| panic!("row {row}: {r:?}"))
    };
    assert_eq!(find(2)["id"], "acled-TEST2002");
    assert!(
        find(2)["reason"]
            .as_str()
            .unwrap()
            .contains("column event_date: \"2021-02-30\" is not a date"),
        "{r:?}"
    );
    assert_eq!(find(2)["line"], 3);
    assert!(
        find(3)["reason"]
            .as_str()
            .unwrap()
            .contains("column latitude: 95 is out of range"),
        "{r:?}"
    );
    assert!(
        find(4)["reason"]
            .as_str()
            .unwrap()
            .contains("\"Orbital strike\" is not an ACLED sub-event type"),
        "{r:?}"
    );
    assert_eq!(size(&server).await, before + 10);
    payload(&server, "acled-TEST2001").await;
    payload(&server, "acled-TEST2005").await;

    // Refused by the server (not by the local checks): an accusation of a non-party.
    let mut g = geojson_fixture();
    g["features"] = json!([{"type": "Feature", "id": "accuse-xx",
        "geometry": {"type": "Point", "coordinates": [38.0, 48.0]},
        "properties": {"type": "shot", "from": "2026-11-23T01:00:00Z", "alleged_party": "XX"}},
        {"type": "Feature", "id": "bad-lat",
        "geometry": {"type": "Point", "coordinates": [38.0, 95.0]},
        "properties": {"type": "shot", "from": "2026-11-23T01:00:00Z"}}]);
    let geo = tmp.path().join("refused.geojson");
    std::fs::write(&geo, g.to_string()).unwrap();
    let rejects_file = tmp.path().join("refused.jsonl");
    let (code, s, err) = import(
        &server,
        &key,
        "geojson",
        &geo,
        &["--rejects", rejects_file.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{s}\n{err}");
    let r = rejects(&rejects_file);
    let refused = r.iter().find(|x| x["id"] == "geojson-accuse-xx").unwrap();
    assert_eq!(refused["status"], 422, "{r:?}");
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("/alleged_party"),
        "{r:?}"
    );
    let local = r.iter().find(|x| x["id"] == "geojson-bad-lat").unwrap();
    assert!(
        local["reason"]
            .as_str()
            .unwrap()
            .contains("latitude 95 is out of range"),
        "{r:?}"
    );
    assert_eq!(size(&server).await, before + 10);
}

async fn event_types(server: &Server, ids: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    for id in ids {
        out.push(payload(server, &format!("acled-{id}")).await["event"]["type"].clone());
    }
    out
}

#[tokio::test]
async fn rate_limits_are_honoured_and_usage_failures_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    // 5 entries per second, bursts of 2: twelve rows cannot go through without 429s.
    let server = start(tmp.path(), 5, 2);
    let key = monitor(&server, tmp.path()).await;
    let features: Vec<Value> = (0..12)
        .map(|i| {
            json!({"type": "Feature", "id": format!("rl-{i}"),
                   "geometry": {"type": "Point", "coordinates": [38.0 + f64::from(i) / 100.0, 48.0]},
                   "properties": {"type": "burst", "from": "2026-11-24T03:00:00Z"}})
        })
        .collect();
    let geo = tmp.path().join("burst.geojson");
    std::fs::write(
        &geo,
        json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
    .unwrap();

    // No agreement in force yet: nothing is sent.
    let (code, s, err) = import(&server, &key, "geojson", &geo, &[]);
    assert_eq!(code, 2, "{s}\n{err}");
    assert!(err.contains("no agreement is in force"), "{err}");
    bring_donbas_into_force(&server).await;
    let (code, _, err) = import(&server, &key, "geojson", &geo, &["--agreement", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("--agreement nope: no such agreement"), "{err}");
    // A key the server does not know: stops at the first refusal, exit 2.
    let stranger = tmp.path().join("stranger.key");
    std::fs::write(
        &stranger,
        PrivateKey::generate("stranger").unwrap().encode() + "\n",
    )
    .unwrap();
    let (code, s, err) = import(&server, &stranger, "geojson", &geo, &["--concurrency", "1"]);
    assert_eq!(code, 2, "{s}\n{err}");
    assert!(
        err.contains("the server refuses the key (HTTP 401)"),
        "{err}"
    );
    assert_eq!(s["logged"], 0, "{s}");
    // The rejects file would overwrite the input.
    let (code, _, err) = import(
        &server,
        &key,
        "geojson",
        &geo,
        &["--rejects", geo.to_str().unwrap()],
    );
    assert_eq!(code, 2);
    assert!(err.contains("that is the file to import"), "{err}");
    assert!(std::fs::read_to_string(&geo).unwrap().contains("rl-11"));
    // Not a UCDP file.
    let (code, _, err) = import(&server, &key, "ucdp", &geo, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("not a UCDP GED CSV file"), "{err}");

    // A record far beyond any entry's size stops the reader, not the machine.
    let huge = tmp.path().join("huge.csv");
    std::fs::write(
        &huge,
        format!(
            "{ACLED_HEADER}\nTEST3001,2021-07-01,{}\n",
            "x".repeat(2 << 20)
        ),
    )
    .unwrap();
    let (code, s, err) = import(&server, &key, "acled", &huge, &[]);
    assert_eq!(code, 2, "{s}\n{err}");
    assert!(
        err.contains("record 1 (line 2): a record is longer than 1048576 bytes"),
        "{err}"
    );
    // A FeatureCollection cut short: what came before the cut is imported, then exit 2.
    let cut = tmp.path().join("cut.geojson");
    let text = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "cut-1", "geometry": {"type": "Point", "coordinates": [38.0, 48.0]},
         "properties": {"type": "shot", "from": "2026-11-24T03:00:00Z"}},
        {"type": "Feature", "id": "cut-2"}]})
    .to_string();
    std::fs::write(&cut, &text[..text.len() - 20]).unwrap();
    let (code, s, err) = import(&server, &key, "geojson", &cut, &[]);
    assert_eq!(code, 2, "{s}\n{err}");
    assert!(err.contains("cut.geojson: line 1 column"), "{err}");
    assert_eq!(s["logged"], 1, "{s}");

    let before = size(&server).await;
    let t = Instant::now();
    let (code, s, err) = import(&server, &key, "geojson", &geo, &["--concurrency", "4"]);
    assert_eq!(code, 0, "{s}\n{err}");
    assert_eq!(s["logged"], 12, "{s}");
    assert!(s["retries"]["rate_limited"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(size(&server).await, before + 12);
    eprintln!(
        "12 rows at 5/s, bursts of 2: {:.1} s, {s}",
        t.elapsed().as_secs_f64()
    );
}
