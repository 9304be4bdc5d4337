//! The import's unit tests: the mappings against docs/import.md, hostile input, the streaming
//! reader, and the workers' retries and leaf checks against a fake server.

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::blocking::Client;
use serde::de::DeserializeSeed as _;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use truce_log::leaf::leaf_hash;
use truce_model::keys::PrivateKey;
use truce_model::observation::Observation;

use super::acled::{ACLED_SUB_EVENT_TYPES, AcledMapping, acled_sub_event, map_acled};
use super::cells::{Columns, parse_date};
use super::geojson::{CollectionSeed, map_feature};
use super::pipeline::{Job, Outcome, Pending, Shared, leaf_problem, post};
use super::records::{Limit, Limited, TOO_LONG};
use super::setup::Setup;
use super::ucdp::map_ucdp;
use super::{Format, MAX_RECORD_BYTES, canonical_json};
use crate::client::Pacing as _;

fn record(header: &str, row: &str) -> (Columns, csv::ByteRecord) {
    let text = format!("{header}\n{row}\n");
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let cols = Columns::new(&rdr.byte_headers().unwrap().clone());
    let mut rec = csv::ByteRecord::new();
    assert!(rdr.read_byte_record(&mut rec).unwrap());
    (cols, rec)
}

fn check(payload: &Map<String, Value>, id: &str) -> Observation {
    let mut p = payload.clone();
    p.insert("id".into(), json!(id));
    p.insert("agreement".into(), json!("donbas-2026"));
    Observation::parse(&p).unwrap_or_else(|e| panic!("{e:?}\n{}", Value::Object(p)))
}

const UCDP_HEADER: &str = "id,relid,type_of_violence,side_a,side_b,where_prec,where_description,adm_1,latitude,longitude,event_clarity,date_prec,date_start,date_end,deaths_a,deaths_b,deaths_civilians,deaths_unknown,best,high,low";

#[test]
fn ucdp_row_maps_to_a_valid_observation() {
    let (cols, rec) = record(
        UCDP_HEADER,
        "155426,UKR-2014-1-1-1,1,Government of Ukraine,DPR,2,\"Donetsk,\nairport\",Donetsk oblast,48.07,37.74,1,4,2014-05-01,2014-05-28,1,2,3,1,7,9,6",
    );
    let (id, payload) = map_ucdp(&cols, &rec);
    assert_eq!(id.as_deref(), Some("ucdp-155426"));
    let payload = payload.unwrap();
    let o = check(&payload, "ucdp-155426");
    assert_eq!(o.observed.from.to_string(), "2014-05-01T00:00:00Z");
    assert_eq!(o.observed.to.to_string(), "2014-05-28T23:59:59Z");
    assert_eq!(o.event_point().radius_m, 25_000.0);
    let v = Value::Object(payload);
    assert_eq!(v["event"]["type"], "casualty");
    assert_eq!(
        v["casualties"]["civilian_killed"],
        json!({"low":3,"best":3,"high":3})
    );
    assert_eq!(
        v["casualties"]["combatant_killed"],
        json!({"low":3,"best":3,"high":3})
    );
    // best 7 = 3 + 3 + 1; the range 6..9 of the total is carried by the unknown deaths.
    assert_eq!(
        v["casualties"]["unknown_killed"],
        json!({"low":0,"best":1,"high":3})
    );
    assert_eq!(v["grading"]["credibility"], 2);
    let n = v["narrative"].as_str().unwrap();
    assert!(n.contains("Donetsk, airport, Donetsk oblast"), "{n}");
    assert!(n.contains("date_prec 4"), "{n}");
    assert!(n.contains("CC BY 4.0"), "{n}");
    assert!(!n.contains('\n'));
}

/// The example of docs/import.md, from the first row of the repository's GED file.
#[test]
fn ucdp_first_row_of_the_data_file_as_documented() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/ucdp_ged_ukraine_2014_2022.csv"
    );
    let mut rdr = csv::Reader::from_path(path).unwrap();
    let cols = Columns::new(&rdr.byte_headers().unwrap().clone());
    let mut rec = csv::ByteRecord::new();
    assert!(rdr.read_byte_record(&mut rec).unwrap());
    let (id, payload) = map_ucdp(&cols, &rec);
    assert_eq!(id.as_deref(), Some("ucdp-147997"));
    let mut p = payload.unwrap();
    p.insert("id".into(), json!("ucdp-147997"));
    p.insert("agreement".into(), json!("donbas-2026"));
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/import.md")).unwrap();
    let start = doc.find("{\"id\":\"ucdp-147997\"").unwrap();
    let end = start + doc[start..].find("\n```").unwrap();
    let documented: Value = serde_json::from_str(&doc[start..end]).unwrap();
    assert_eq!(Value::Object(p), documented);
}

#[test]
fn ucdp_inconsistent_ranges_are_widened_and_said() {
    // GED 413786: low 9, best 2, high 9.
    let (cols, rec) = record(
        UCDP_HEADER,
        "413786,,1,A,B,7,,,47.0,37.0,2,1,2021-01-01,2021-01-01,0,2,0,0,2,9,9",
    );
    let v = Value::Object(map_ucdp(&cols, &rec).1.unwrap());
    assert_eq!(
        v["casualties"]["combatant_killed"],
        json!({"low":2,"best":2,"high":2})
    );
    assert_eq!(
        v["casualties"]["unknown_killed"],
        json!({"low":0,"best":0,"high":7})
    );
    assert_eq!(v["event"]["location"]["radius_m"], 500_000.0);
    assert_eq!(v["grading"]["credibility"], 3);
    assert!(
        v["narrative"]
            .as_str()
            .unwrap()
            .contains("widened to low 2, high 9")
    );
}

#[test]
fn ucdp_problems_name_every_column() {
    let (cols, rec) = record(
        UCDP_HEADER,
        "1,,4,A,B,9,,,95,37.0,1,1,2021-02-30,2021-01-01,0,0,0,1,2,1,1",
    );
    let (id, r) = map_ucdp(&cols, &rec);
    assert_eq!(id.as_deref(), Some("ucdp-1"));
    let r = r.unwrap_err();
    for needle in [
        "column type_of_violence: 4 is out of range",
        "column where_prec: 9 is out of range",
        "column latitude: 95 is out of range",
        "column date_start: \"2021-02-30\" is not a date",
        "column best: 2 is not the sum",
    ] {
        assert!(r.reason.contains(needle), "{needle} in {}", r.reason);
    }
    // The summary counts a row under its first problem.
    assert_eq!(r.class, "column date_start");
}

const ACLED_HEADER: &str = "event_id_cnty,event_date,time_precision,event_type,sub_event_type,actor1,actor2,civilian_targeting,admin1,location,latitude,longitude,geo_precision,source,notes,fatalities";

#[test]
fn acled_rows_map_by_the_table() {
    let (cols, rec) = record(
        ACLED_HEADER,
        "UKR1,24 February 2022,2,Explosions/Remote violence,Shelling/artillery/missile attack,A,B,,Donetsk,Avdiivka,48.14,37.74,1,Src,\"Shelling, two killed.\",2",
    );
    let (id, p) = map_acled(&cols, &rec);
    assert_eq!(id.as_deref(), Some("acled-UKR1"));
    let p = p.unwrap();
    let o = check(&p, "acled-UKR1");
    assert_eq!(o.observed.from.to_string(), "2022-02-18T00:00:00Z");
    assert_eq!(o.observed.to.to_string(), "2022-03-02T23:59:59Z");
    let v = Value::Object(p);
    assert_eq!(v["event"]["type"], "impact");
    assert_eq!(v["event"]["location"]["radius_m"], 5_000.0);
    assert_eq!(
        v["casualties"],
        json!({"unknown_killed":{"low":2,"best":2,"high":2}})
    );
    assert!(
        v["narrative"]
            .as_str()
            .unwrap()
            .contains("Shelling, two killed.")
    );

    let (cols, rec) = record(
        ACLED_HEADER,
        "UKR2,2022-03-10,3,Violence against civilians,Attack,A,Civilians,Civilian targeting,Kharkiv,Kharkiv,49.99,36.23,3,Src,,1",
    );
    let v = Value::Object(map_acled(&cols, &rec).1.unwrap());
    assert_eq!(
        v["observed"],
        json!({"from":"2022-03-01T00:00:00Z","to":"2022-03-31T23:59:59Z"})
    );
    assert_eq!(v["event"]["type"], "casualty");
    assert_eq!(
        v["casualties"],
        json!({"civilian_killed":{"low":1,"best":1,"high":1}})
    );

    for (sub, ok) in [
        ("Armed clash", Some("shot")),
        ("Air/drone strike", Some("strike")),
        ("remote explosive/landmine/IED", Some("explosion")),
        ("Peaceful protest", None),
    ] {
        let m = acled_sub_event(sub).unwrap();
        match ok {
            Some(t) => assert_eq!(m, AcledMapping::Event(t)),
            None => assert!(matches!(m, AcledMapping::OutOfScope(_))),
        }
    }
    assert_eq!(acled_sub_event("Orbital strike"), None);
    // Every mapped type is an event type of §5.
    for (_, m) in ACLED_SUB_EVENT_TYPES {
        if let AcledMapping::Event(t) = m {
            t.parse::<truce_model::taxonomy::EventType>().unwrap();
        }
    }
}

#[test]
fn dates() {
    let d = |s| parse_date(s).map(|d| d.to_string());
    assert_eq!(d("2014-01-22").as_deref(), Some("2014-01-22"));
    assert_eq!(d("2014-01-22 00:00:00.000").as_deref(), Some("2014-01-22"));
    assert_eq!(d("24 February 2022").as_deref(), Some("2022-02-24"));
    assert_eq!(d("4 Feb 2022").as_deref(), Some("2022-02-04"));
    assert_eq!(d("24-02-2022").as_deref(), Some("2022-02-24"));
    for bad in [
        "",
        "2022-02-30",
        "24 Febr 2022",
        "24 02 2022",
        "02/30/2022",
        "yesterday",
        "2014-01-22x",
        "é",
    ] {
        assert_eq!(d(bad), None, "{bad}");
    }
}

#[test]
fn geojson_flat_and_nested() {
    let flat = json!({"type":"Feature","id":"p7-0012","geometry":{"type":"Point","coordinates":[37.9,48.1]},
        "properties":{"type":"explosion","from":"2026-12-20T21:10:00Z","count":3,"approx":true,
                      "radius_m":2000,"weapon":"artillery","calibre_mm":122,"mode":"heard","credibility":2}});
    let (id, p) = map_feature(&flat, "donbas-2026");
    assert_eq!(id.as_deref(), Some("geojson-p7-0012"));
    let p = p.unwrap();
    let o = check(&p, "geojson-p7-0012");
    assert_eq!(o.observed.from, o.observed.to);
    assert_eq!(o.event_point().lat, 48.1);
    assert_eq!(o.event.count, 3);

    let nested = json!({"type":"Feature","geometry":{"type":"Point","coordinates":[37.9,48.1,120]},
        "properties":{"name":"ignored","observation":{"agreement":"donbas-2026",
            "observed":{"from":"2026-12-20T21:10:00Z","to":"2026-12-20T21:40:00Z"},
            "event":{"type":"impact","location":{"radius_m":500},"targets":["energy"]}}}});
    let (id, p) = map_feature(&nested, "donbas-2026");
    let id = id.unwrap();
    assert_eq!(id.len(), "geojson-".len() + 64);
    let o = check(&p.unwrap(), &id);
    assert_eq!(o.event_point().radius_m, 500.0);
    // The id is the hash of the feature: the same feature, the same id.
    assert_eq!(map_feature(&nested, "donbas-2026").0.unwrap(), id);

    let bad = json!({"type":"Feature","id":"a b","geometry":{"type":"Point","coordinates":[37.9,95.0]},
        "properties":{"type":"explosion","colour":"red","calibre_mm":5}});
    let r = map_feature(&bad, "donbas-2026").1.unwrap_err();
    for needle in [
        "field id:",
        "latitude 95",
        "properties.colour: unknown property",
        "properties.from: missing",
        "properties.calibre_mm: needs `weapon`",
    ] {
        assert!(r.reason.contains(needle), "{needle} in {}", r.reason);
    }
    let r = map_feature(&json!([1]), "x").1.unwrap_err();
    assert!(r.reason.contains("not an array"));
    let wrong = json!({"type":"Feature","geometry":{"type":"LineString","coordinates":[[1,2],[3,4]]},
                       "properties":{"observation":{"agreement":"other","event":{"type":"impact","location":{"lat":1}}}}});
    let r = map_feature(&wrong, "donbas-2026").1.unwrap_err();
    assert!(r.reason.contains("only Point features"), "{}", r.reason);
    assert!(
        r.reason.contains("differs from the agreement"),
        "{}",
        r.reason
    );
}

#[test]
fn hostile_input_does_not_panic() {
    for row in [
        " ",
        ",,,,",
        "\"",
        "é,é,é",
        "1,2",
        &"9".repeat(500),
        "1,,1,,,1,,,NaN,inf,3,1,2014-13-01,,-1,x,1e9,,,,",
    ] {
        let (cols, rec) = record(UCDP_HEADER, row);
        let _ = map_ucdp(&cols, &rec);
        let (cols, rec) = record(ACLED_HEADER, row);
        let _ = map_acled(&cols, &rec);
    }
    for v in [
        json!(null),
        json!({"type":"Feature","geometry":{"type":"Point","coordinates":[]},"properties":{}}),
        json!({"type":"Feature","geometry":{"type":"Point","coordinates":["a",1e308]},"properties":{"observation":7}}),
        json!({"type":"Feature","id":{"x":1},"geometry":7,"properties":{"observation":{"event":[]}}}),
        json!({"type":"Feature","id":1.5e300,"properties":{"observation":{"event":{"location":3}}}}),
    ] {
        let _ = map_feature(&v, "a");
    }
}

#[test]
fn streaming_feature_collections() {
    let limit = Limit::new(MAX_RECORD_BYTES);
    let text = br#"{"features":[{"a":1},{"b":[2]}],"type":"FeatureCollection","bbox":[1,2,3,4]}"#;
    let mut seen = Vec::new();
    let mut on = |n: u64, v: Value| {
        seen.push((n, v));
        true
    };
    let mut de = serde_json::Deserializer::from_slice(text);
    let info = CollectionSeed {
        on_feature: &mut on,
        limit: &limit,
    }
    .deserialize(&mut de)
    .unwrap();
    assert_eq!(info.features, Some(2));
    assert_eq!(seen[1], (2, json!({"b":[2]})));
    for bad in [
        &br#"{"type":"Feature"}"#[..],
        b"[]",
        br#"{"features":{}}"#,
        br#"{"features":[1,"#,
    ] {
        let mut on = |_: u64, _: Value| true;
        let mut de = serde_json::Deserializer::from_slice(bad);
        assert!(
            CollectionSeed {
                on_feature: &mut on,
                limit: &limit
            }
            .deserialize(&mut de)
            .is_err()
        );
    }
}

#[test]
fn limited_reader_stops_long_records() {
    let limit = Limit::new(10);
    let mut r = Limited {
        inner: &[b'x'; 100][..],
        limit: limit.clone(),
    };
    let mut buf = [0u8; 8];
    assert_eq!(r.read(&mut buf).unwrap(), 8);
    assert_eq!(r.read(&mut buf).unwrap(), 8);
    assert_eq!(r.read(&mut buf).unwrap_err().to_string(), TOO_LONG);
    limit.reset();
    assert_eq!(r.read(&mut buf).unwrap(), 8);
    assert_eq!(limit.total(), 24);
}

#[test]
fn canonical_json_sorts_keys() {
    let v = json!({"b":1,"a":{"d":[{"z":1,"y":"é\n"}],"c":null}});
    assert_eq!(
        String::from_utf8(canonical_json(&v)).unwrap(),
        r#"{"a":{"c":null,"d":[{"y":"é\n","z":1}]},"b":1}"#
    );
}

/// A server that answers each request (one per connection) with the next canned answer.
fn fake_server(answers: Vec<String>) -> (Url, std::thread::JoinHandle<usize>) {
    use std::io::{BufRead as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let handle = std::thread::spawn(move || {
        let mut served = 0;
        for answer in answers {
            let (stream, _) = listener.accept().unwrap();
            let mut r = io::BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            r.read_exact(&mut body).unwrap();
            r.get_mut().write_all(answer.as_bytes()).unwrap();
            served += 1;
        }
        served
    });
    (url, handle)
}

fn answer(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/problem+json\r\n\
         content-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}

fn test_setup(base: Url) -> Setup {
    Setup {
        format: Format::Geojson,
        file: PathBuf::from("test.geojson"),
        key: PrivateKey::generate("importer").unwrap(),
        base,
        client: Client::new(),
        log_key: PrivateKey::generate("log").unwrap().verifier(),
        origin: "log".into(),
        agreement: "donbas-2026".into(),
        start_size: 0,
        rejects_path: PathBuf::from("test.rejects.jsonl"),
        concurrency: 1,
    }
}

fn shared(setup: &Setup) -> Shared<'_> {
    Shared {
        setup,
        stop: AtomicBool::new(false),
        stop_reason: Mutex::new(None),
        rate_limited: AtomicU64::new(0),
        unavailable: AtomicU64::new(0),
    }
}

fn job() -> Job {
    Job {
        row: 7,
        line: Some(8),
        id: "geojson-x".into(),
        canonical: b"{}".to_vec(),
        envelope_sha256: [0; 32],
    }
}

#[test]
fn unavailable_and_rate_limited_answers_are_retried() {
    let (url, server) = fake_server(vec![
        answer("503 Service Unavailable", "", r#"{"detail":"not stored"}"#),
        answer(
            "429 Too Many Requests",
            "retry-after: 1\r\n",
            r#"{"detail":"slow down"}"#,
        ),
        answer(
            "422 Unprocessable Entity",
            "",
            r#"{"detail":"invalid","errors":[{"pointer":"/event/type","detail":"unknown"}]}"#,
        ),
    ]);
    let setup = test_setup(url);
    let shared = shared(&setup);
    let t = Instant::now();
    let Outcome::Rejected {
        row, id, reject, ..
    } = post(&shared, job())
    else {
        panic!("not a reject");
    };
    assert!(
        t.elapsed() >= Duration::from_millis(1_250),
        "{:?}",
        t.elapsed()
    );
    assert_eq!((row, id.as_deref()), (7, Some("geojson-x")));
    assert_eq!(reject.status, Some(422));
    assert_eq!(reject.class, "server HTTP 422 /event/type");
    assert!(
        reject.reason.contains("/event/type: unknown"),
        "{}",
        reject.reason
    );
    assert_eq!(shared.rate_limited.load(Ordering::SeqCst), 1);
    assert_eq!(shared.unavailable.load(Ordering::SeqCst), 1);
    assert!(!shared.stopped());
    assert_eq!(server.join().unwrap(), 3);
}

#[test]
fn a_refused_key_stops_the_import() {
    let (url, server) = fake_server(vec![answer(
        "401 Unauthorized",
        "",
        r#"{"detail":"unknown key importer+0000"}"#,
    )]);
    let setup = test_setup(url);
    let shared = shared(&setup);
    let Outcome::Rejected { reject, .. } = post(&shared, job()) else {
        panic!("not a reject");
    };
    assert_eq!(reject.status, Some(401));
    assert!(shared.stopped());
    let why = shared.stop_reason.lock().unwrap().clone().unwrap();
    assert!(
        why.contains("refuses the key (HTTP 401): unknown key"),
        "{why}"
    );
    // Once stopped, nothing more is sent.
    assert!(matches!(post(&shared, job()), Outcome::Skipped));
    assert_eq!(server.join().unwrap(), 1);
}

#[test]
fn leaves_are_checked_against_the_receipt_and_the_envelope() {
    let key = PrivateKey::generate("importer").unwrap();
    let env = truce_model::dsse::Envelope::sign("observation", b"{}", &[&key]);
    let canonical = env.canonical_json();
    let leaf = truce_log::leaf::encode(1_700_000_000_000, &canonical);
    let other = truce_log::leaf::encode(
        1_700_000_000_000,
        &truce_model::dsse::Envelope::sign("observation", b"{\"a\":1}", &[&key]).canonical_json(),
    );
    let pending = |index: u64, leaf_hash: [u8; 32]| Pending {
        row: 1,
        line: None,
        id: "x".into(),
        index,
        leaf_hash,
        checkpoint_size: index + 1,
        envelope_sha256: Sha256::digest(&canonical).into(),
        already: false,
    };
    let leaves = vec![other.clone(), leaf.clone()];
    // Leaf 257 is the second of bundle 1.
    assert_eq!(leaf_problem(&leaves, &pending(257, leaf_hash(&leaf))), None);
    let p = leaf_problem(&leaves, &pending(256, leaf_hash(&leaf))).unwrap();
    assert!(p.contains("not to the receipt's"), "{p}");
    let p = leaf_problem(&leaves, &pending(256, leaf_hash(&other))).unwrap();
    assert!(p.contains("another entry than the one submitted"), "{p}");
    let p = leaf_problem(&leaves, &pending(258, leaf_hash(&leaf))).unwrap();
    assert!(p.contains("no leaf 258"), "{p}");
}
