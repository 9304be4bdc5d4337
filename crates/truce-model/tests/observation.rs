//! Acceptance tests of observation payloads (DESIGN §5) and their derived location (§6).
//!
//! Each validation rule has a test that breaks a valid observation in one place and asserts the
//! exact JSON pointer(s) reported; one test breaks many places at once and asserts the whole
//! report. Property tests check that no object, however odd, makes parsing panic, and that what
//! is accepted satisfies the documented bounds.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use truce_model::entry::{FieldError, Kind, Payload};
use truce_model::observation::{
    CasualtyKind, DEFAULT_RADIUS_M, EARTH_RADIUS_M, EvidenceRole, MAX_CLOCK_SKEW_MS,
    MAX_WINDOW_SECONDS, Observation, Position, destination, haversine_m,
};
use truce_model::taxonomy::{EventType, ObserverMode, Target, WeaponClass};

/// The DESIGN §5 example, located by `event.location` only (the example shows both ways).
fn valid() -> Value {
    json!({"id":"01JD0000000000000000000000","agreement":"donbas-2026",
     "observed":{"from":"2026-12-20T21:10:00Z","to":"2026-12-20T21:40:00Z"},
     "observer":{"position":{"lat":48.43,"lon":38.22},"mode":"heard"},
     "event":{"type":"explosion","count":12,"approx":true,
              "location":{"lat":48.41,"lon":38.31,"radius_m":2000},
              "direction":{"origin_bearing_deg":270},
              "weapon":{"class":"artillery","calibre_mm":122},
              "targets":["energy"]},
     "casualties":{"civilian_killed":{"low":0,"best":1,"high":1},
                   "civilian_injured":{"low":0,"best":2,"high":3}},
     "grading":{"credibility":2},
     "evidence":[{"sha256":"a".repeat(64),"media_type":"image/jpeg","role":"evidentiary"}],
     "narrative":"Twelve explosions heard to the east.","alleged_party":"RU"})
}

/// The same event located by the observer's position and a sector.
fn valid_sector() -> Value {
    let mut v = valid();
    let e = v["event"].as_object_mut().unwrap();
    e.remove("location");
    e.insert(
        "sector".into(),
        json!({"bearing_deg":[100,140],"distance_km":[2,6]}),
    );
    v
}

fn obj(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn parse(v: &Value) -> Result<Observation, Vec<FieldError>> {
    Observation::parse(&obj(v))
}

fn ok(v: &Value) -> Observation {
    parse(v).unwrap_or_else(|e| panic!("refused: {e:?}"))
}

/// The pointers reported for `v`, in order.
fn pointers(v: &Value) -> Vec<String> {
    match parse(v) {
        Ok(_) => panic!("accepted: {v}"),
        Err(e) => e.into_iter().map(|e| e.pointer).collect(),
    }
}

/// `v` with the value at `pointer` replaced (the parent must exist).
fn with(mut v: Value, pointer: &str, new: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match v.pointer_mut(parent).unwrap() {
        Value::Object(m) => {
            m.insert(key.to_owned(), new);
        }
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = new,
        _ => panic!("{parent} is not a container"),
    }
    v
}

/// `v` without the field at `pointer`.
fn without(mut v: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    v.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap()
        .remove(key);
    v
}

fn refused_at(v: Value, expected: &[&str]) {
    assert_eq!(pointers(&v), expected, "for {v}");
}

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
}

#[test]
fn the_design_example_parses() {
    let o = ok(&valid());
    assert_eq!(o.agreement, "donbas-2026");
    assert_eq!(o.observed.from.to_string(), "2026-12-20T21:10:00Z");
    assert_eq!(o.observed.to.to_string(), "2026-12-20T21:40:00Z");
    let observer = o.observer.clone().unwrap();
    assert_eq!(observer.mode, Some(ObserverMode::Heard));
    assert_eq!(
        observer.position,
        Some(Position {
            lat: 48.43,
            lon: 38.22
        })
    );
    assert_eq!(o.event.event_type, EventType::Explosion);
    assert_eq!(o.event.count, 12);
    assert!(o.event.approx);
    assert_eq!(
        o.event.weapon.as_ref().map(|w| (w.class, w.calibre_mm)),
        Some((WeaponClass::Artillery, Some(122.0)))
    );
    assert_eq!(o.event.targets, vec![Target::Energy]);
    assert_eq!(
        o.event.direction.as_ref().map(|d| d.origin_bearing_deg),
        Some(270.0)
    );
    let killed = o.casualties[&CasualtyKind::CivilianKilled];
    assert_eq!((killed.low, killed.best, killed.high), (0, 1, 1));
    assert_eq!(o.casualties[&CasualtyKind::CivilianInjured].high, 3);
    assert_eq!(o.grading.credibility, 2);
    assert_eq!(o.evidence[0].role, EvidenceRole::Evidentiary);
    assert_eq!(o.alleged_party.as_deref(), Some("RU"));
    let p = o.event_point();
    assert_eq!((p.lat, p.lon, p.radius_m), (48.41, 38.31, 2000.0));
    // Through the entry API too.
    assert!(matches!(
        Payload::parse(Kind::Observation, &obj(&valid())),
        Ok(Payload::Observation(_))
    ));
}

#[test]
fn a_minimal_observation_gets_the_documented_defaults() {
    let v = json!({"id":"o1","agreement":"a",
        "observed":{"from":"2026-12-20T21:10:00+02:00","to":"2026-12-20T21:10:00+02:00"},
        "event":{"type":"shot","location":{"lat":0,"lon":0}},
        "evidence":[{"sha256":"b".repeat(64),"media_type":"video/mp4"}]});
    let o = ok(&v);
    assert_eq!(o.observed.from.to_string(), "2026-12-20T19:10:00Z");
    assert_eq!(o.event.count, 1);
    assert!(!o.event.approx);
    assert_eq!(o.grading.credibility, 6);
    assert_eq!(o.evidence[0].role, EvidenceRole::Evidentiary);
    assert!(o.observer.is_none() && o.casualties.is_empty() && o.event.targets.is_empty());
    assert_eq!(o.event_point().radius_m, DEFAULT_RADIUS_M);
}

#[test]
fn serialising_gives_the_contract_shape_back() {
    for v in [valid(), valid_sector()] {
        let o = ok(&v);
        let mut back = serde_json::to_value(&o).unwrap();
        let mut expected = v.clone();
        expected.as_object_mut().unwrap().remove("id");
        // Numbers come back as floats where the type is a float.
        assert_eq!(back["event"]["type"], "explosion");
        assert_eq!(back["casualties"], expected["casualties"]);
        assert_eq!(back["observed"], expected["observed"]);
        assert_eq!(back["evidence"], expected["evidence"]);
        back.as_object_mut()
            .unwrap()
            .insert("id".into(), json!("x"));
        assert_eq!(ok(&back), o, "parse(serialise(o)) == o");
    }
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    let v = valid();
    for (at, val) in [
        ("/colour", json!("red")),
        ("/observed/at", json!("2026-12-20T21:10:00Z")),
        ("/observer/name", json!("patrol 3")),
        ("/observer/position/alt", json!(200)),
        ("/event/calibre", json!(122)),
        ("/event/location/alt", json!(200)),
        ("/event/direction/x", json!(1)),
        ("/event/weapon/model", json!("D-30")),
        (
            "/casualties/civilian_dead",
            json!({"low":0,"best":1,"high":1}),
        ),
        ("/casualties/civilian_killed/mean", json!(1)),
        ("/grading/reliability", json!("A")),
        ("/evidence/0/url", json!("https://example.org")),
    ] {
        refused_at(with(v.clone(), at, val), &[at]);
    }
    refused_at(
        with(valid_sector(), "/event/sector/width", json!(40)),
        &["/event/sector/width"],
    );
    // A key needing pointer escapes is escaped.
    let mut odd = v;
    odd.as_object_mut()
        .unwrap()
        .insert("a~b/c".into(), json!(1));
    refused_at(odd, &["/a~0b~1c"]);
}

#[test]
fn required_fields() {
    let v = valid();
    for at in [
        "/agreement",
        "/observed",
        "/event",
        "/observed/from",
        "/observed/to",
        "/event/type",
    ] {
        refused_at(without(v.clone(), at), &[at]);
    }
    for at in [
        "/event/weapon/class",
        "/event/direction/origin_bearing_deg",
        "/grading/credibility",
    ] {
        refused_at(without(v.clone(), at), &[at]);
    }
    for at in ["low", "best", "high"] {
        let p = format!("/casualties/civilian_injured/{at}");
        refused_at(without(v.clone(), &p), &[p.as_str()]);
    }
    for at in ["/evidence/0/sha256", "/evidence/0/media_type"] {
        refused_at(without(v.clone(), at), &[at]);
    }
    // The optional ones.
    for at in [
        "/observer",
        "/event/count",
        "/event/approx",
        "/event/direction",
        "/event/weapon",
        "/event/weapon/calibre_mm",
        "/event/targets",
        "/event/location/radius_m",
        "/casualties",
        "/grading",
        "/evidence",
        "/evidence/0/role",
        "/narrative",
        "/alleged_party",
    ] {
        ok(&without(v.clone(), at));
    }
}

#[test]
fn shapes_are_checked() {
    let v = valid();
    for at in [
        "/observed",
        "/observer",
        "/event",
        "/event/location",
        "/event/weapon",
        "/casualties",
        "/casualties/civilian_killed",
        "/grading",
        "/evidence",
        "/evidence/0",
        "/event/targets",
    ] {
        refused_at(with(v.clone(), at, json!(7)), &[at]);
    }
    for at in [
        "/agreement",
        "/narrative",
        "/alleged_party",
        "/observed/from",
        "/event/type",
    ] {
        refused_at(with(v.clone(), at, json!({})), &[at]);
    }
}

#[test]
fn taxonomy_values() {
    let v = valid();
    refused_at(
        with(v.clone(), "/event/type", json!("Explosion")),
        &["/event/type"],
    );
    refused_at(
        with(v.clone(), "/event/weapon/class", json!("howitzer")),
        &["/event/weapon/class"],
    );
    refused_at(
        with(v.clone(), "/observer/mode", json!("smelled")),
        &["/observer/mode"],
    );
    refused_at(
        with(
            v.clone(),
            "/event/targets",
            json!(["energy", "hospital", "water"]),
        ),
        &["/event/targets/1"],
    );
    refused_at(
        with(
            v.clone(),
            "/event/targets",
            json!(["energy", "water", "energy"]),
        ),
        &["/event/targets/2"],
    );
    let msg = parse(&with(v.clone(), "/event/type", json!("boom")))
        .unwrap_err()
        .remove(0)
        .message;
    assert!(
        msg.contains("unknown event type `boom`") && msg.contains("muzzle-flash"),
        "{msg}"
    );
    // Every spelling of the taxonomy is accepted where it belongs.
    for t in EventType::NAMES {
        ok(&with(v.clone(), "/event/type", json!(t)));
    }
    for c in WeaponClass::NAMES {
        ok(&with(v.clone(), "/event/weapon/class", json!(c)));
    }
    for m in ObserverMode::NAMES {
        ok(&with(v.clone(), "/observer/mode", json!(m)));
    }
    ok(&with(v, "/event/targets", json!(Target::NAMES)));
}

#[test]
fn exactly_one_way_of_locating_the_event() {
    // Both a location and a sector.
    let both = with(
        valid(),
        "/event/sector",
        json!({"bearing_deg":[100,140],"distance_km":[2,6]}),
    );
    refused_at(both, &["/event/sector"]);
    // Neither.
    refused_at(without(valid(), "/event/location"), &["/event/location"]);
    // A sector without the observer's position, or without any observer.
    refused_at(
        without(valid_sector(), "/observer/position"),
        &["/observer/position"],
    );
    refused_at(
        without(valid_sector(), "/observer"),
        &["/observer/position"],
    );
    // An observer that is not an object is reported once.
    refused_at(with(valid_sector(), "/observer", json!([])), &["/observer"]);
    // Sector with position: fine; location with (unused) position: fine.
    ok(&valid_sector());
    ok(&valid());
    // An invalid location still counts as given: only its own problem is reported.
    refused_at(
        with(valid(), "/event/location", json!({"lat":"x","lon":0})),
        &["/event/location/lat"],
    );
}

#[test]
fn latitude_and_longitude_ranges() {
    let v = valid();
    for (at, bad) in [
        ("/event/location/lat", json!(90.0001)),
        ("/event/location/lat", json!(-91)),
        ("/event/location/lat", json!("48.4")),
        ("/event/location/lon", json!(180.5)),
        ("/event/location/lon", json!(-181)),
        ("/event/location/lon", json!(null)),
        ("/observer/position/lat", json!(100)),
        ("/observer/position/lon", json!(-200)),
    ] {
        refused_at(with(v.clone(), at, bad), &[at]);
    }
    for (at, good) in [
        ("/event/location/lat", json!(90)),
        ("/event/location/lat", json!(-90)),
        ("/event/location/lon", json!(180)),
        ("/event/location/lon", json!(-180)),
    ] {
        ok(&with(v.clone(), at, good));
    }
    refused_at(without(v, "/event/location/lon"), &["/event/location/lon"]);
}

#[test]
fn radius_is_positive_and_bounded() {
    let v = valid();
    for bad in [json!(0), json!(-5), json!(500_000.5), json!("2000")] {
        refused_at(
            with(v.clone(), "/event/location/radius_m", bad),
            &["/event/location/radius_m"],
        );
    }
    let o = ok(&with(v, "/event/location/radius_m", json!(500_000)));
    assert_eq!(o.event_point().radius_m, 500_000.0);
}

#[test]
fn times_are_rfc3339_ordered_and_bounded() {
    let v = valid();
    for bad in [
        "2026-12-20 21:10",
        "2026-12-20T21:10:00",
        "tomorrow",
        "2026-02-30T00:00:00Z",
    ] {
        refused_at(
            with(v.clone(), "/observed/from", json!(bad)),
            &["/observed/from"],
        );
    }
    // `to` before `from`.
    refused_at(
        with(v.clone(), "/observed/to", json!("2026-12-20T21:09:59Z")),
        &["/observed/to"],
    );
    // A window longer than 366 days, and one of exactly 366 days (the valid window starts at
    // 2026-12-20T21:10:00Z; 2027 has no 29 February, so 366 days later is 2027-12-21T21:10:00Z).
    assert_eq!(MAX_WINDOW_SECONDS, 366 * 86_400);
    let too_long = with(v.clone(), "/observed/to", json!("2027-12-21T21:10:01Z"));
    refused_at(too_long.clone(), &["/observed/to"]);
    let e = parse(&too_long).unwrap_err();
    assert!(e[0].message.contains("(366 days)"), "{}", e[0].message);
    ok(&with(
        v.clone(),
        "/observed/to",
        json!("2027-12-21T21:10:00Z"),
    ));
    // A whole leap year, as a year-precise import spells it.
    let mut year = with(v.clone(), "/observed/from", json!("2028-01-01T00:00:00Z"));
    year = with(year, "/observed/to", json!("2028-12-31T23:59:59Z"));
    ok(&year);
    // Offsets are honoured: 23:39+02:00 is 21:39Z, inside the window's order.
    ok(&with(v, "/observed/to", json!("2026-12-20T23:39:00+02:00")));
}

#[test]
fn times_in_the_future_of_the_log_time() {
    let o = ok(&valid());
    let to = o.observed.to.as_millisecond();
    // Logged exactly at `to`, or up to the skew before it: fine.
    assert!(o.check_at(to).is_empty());
    assert!(o.check_at(to - MAX_CLOCK_SKEW_MS).is_empty());
    // One millisecond more: the report names /observed/to and the log time.
    let e = o.check_at(to - MAX_CLOCK_SKEW_MS - 1);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].pointer, "/observed/to");
    assert!(
        e[0].message.contains("2026-12-20T21:34:59.999Z"),
        "{}",
        e[0].message
    );
    // No overflow at the extremes.
    assert!(o.check_at(i64::MAX).is_empty());
    assert_eq!(o.check_at(i64::MIN).len(), 1);
}

#[test]
fn bearings_are_0_to_360() {
    let s = valid_sector();
    refused_at(
        with(s.clone(), "/event/sector/bearing_deg", json!([100, 361])),
        &["/event/sector/bearing_deg/1"],
    );
    refused_at(
        with(s.clone(), "/event/sector/bearing_deg", json!([-1, 400])),
        &["/event/sector/bearing_deg/0", "/event/sector/bearing_deg/1"],
    );
    for bad in [
        json!([100]),
        json!([1, 2, 3]),
        json!(120),
        json!({"0":1,"1":2}),
    ] {
        refused_at(
            with(s.clone(), "/event/sector/bearing_deg", bad),
            &["/event/sector/bearing_deg"],
        );
    }
    refused_at(
        with(valid(), "/event/direction/origin_bearing_deg", json!(360.5)),
        &["/event/direction/origin_bearing_deg"],
    );
    ok(&with(
        valid(),
        "/event/direction/origin_bearing_deg",
        json!(360),
    ));
    ok(&with(
        valid(),
        "/event/direction/origin_bearing_deg",
        json!(0),
    ));
    // Across north, full circle, a single bearing.
    for good in [json!([350, 10]), json!([0, 360]), json!([30, 30])] {
        ok(&with(s.clone(), "/event/sector/bearing_deg", good));
    }
}

#[test]
fn distance_ranges_are_ordered_non_negative_and_bounded() {
    let s = valid_sector();
    for (bad, at) in [
        (json!([6, 2]), "/event/sector/distance_km/1"),
        (json!([-1, 2]), "/event/sector/distance_km/0"),
        (json!([0, 0]), "/event/sector/distance_km/1"),
        (json!([2, 500.1]), "/event/sector/distance_km/1"),
        (json!([2, "6"]), "/event/sector/distance_km/1"),
        (json!(5), "/event/sector/distance_km"),
    ] {
        refused_at(with(s.clone(), "/event/sector/distance_km", bad), &[at]);
    }
    ok(&with(
        s.clone(),
        "/event/sector/distance_km",
        json!([0, 500]),
    ));
    ok(&with(s, "/event/sector/distance_km", json!([3, 3])));
}

#[test]
fn count_and_approx() {
    let v = valid();
    for bad in [json!(0), json!(-1), json!(1.5), json!("3"), json!(100_001)] {
        refused_at(with(v.clone(), "/event/count", bad), &["/event/count"]);
    }
    ok(&with(v.clone(), "/event/count", json!(100_000)));
    refused_at(with(v, "/event/approx", json!("yes")), &["/event/approx"]);
}

#[test]
fn calibre_is_positive_and_bounded() {
    let v = valid();
    for bad in [json!(0), json!(-122), json!(1000.5), json!("122mm")] {
        refused_at(
            with(v.clone(), "/event/weapon/calibre_mm", bad),
            &["/event/weapon/calibre_mm"],
        );
    }
    let o = ok(&with(v, "/event/weapon/calibre_mm", json!(5.56)));
    assert_eq!(o.event.weapon.and_then(|w| w.calibre_mm), Some(5.56));
}

#[test]
fn casualty_estimates() {
    let v = valid();
    let at = "/casualties/civilian_killed";
    refused_at(
        with(v.clone(), at, json!({"low":2,"best":1,"high":3})),
        &["/casualties/civilian_killed/low"],
    );
    refused_at(
        with(v.clone(), at, json!({"low":0,"best":4,"high":3})),
        &["/casualties/civilian_killed/high"],
    );
    refused_at(
        with(v.clone(), at, json!({"low":-1,"best":1,"high":1})),
        &["/casualties/civilian_killed/low"],
    );
    refused_at(
        with(v.clone(), at, json!({"low":0.5,"best":1,"high":1_000_001})),
        &[
            "/casualties/civilian_killed/low",
            "/casualties/civilian_killed/high",
        ],
    );
    // Every documented key is accepted.
    let all: Map<String, Value> = CasualtyKind::NAMES
        .iter()
        .map(|k| (k.to_string(), json!({"low":0,"best":0,"high":0})))
        .collect();
    let o = ok(&with(v.clone(), "/casualties", Value::Object(all)));
    assert_eq!(o.casualties.len(), 6);
    assert_eq!(
        CasualtyKind::NAMES,
        [
            "civilian_killed",
            "civilian_injured",
            "combatant_killed",
            "combatant_injured",
            "unknown_killed",
            "unknown_injured"
        ]
    );
    // And nothing else.
    refused_at(
        with(
            v,
            "/casualties/soldiers_killed",
            json!({"low":0,"best":0,"high":0}),
        ),
        &["/casualties/soldiers_killed"],
    );
}

#[test]
fn credibility_is_1_to_6() {
    let v = valid();
    for bad in [json!(0), json!(7), json!("2"), json!(2.5)] {
        refused_at(
            with(v.clone(), "/grading/credibility", bad),
            &["/grading/credibility"],
        );
    }
    for good in 1..=6 {
        assert_eq!(
            ok(&with(v.clone(), "/grading/credibility", json!(good)))
                .grading
                .credibility,
            good
        );
    }
}

#[test]
fn evidence_items() {
    let v = valid();
    for bad in ["A".repeat(64), "a".repeat(63), "g".repeat(64)] {
        refused_at(
            with(v.clone(), "/evidence/0/sha256", json!(bad)),
            &["/evidence/0/sha256"],
        );
    }
    for bad in ["jpeg", "image/", "image/jpeg; q=1", "image jpeg"] {
        refused_at(
            with(v.clone(), "/evidence/0/media_type", json!(bad)),
            &["/evidence/0/media_type"],
        );
    }
    refused_at(
        with(v.clone(), "/evidence/0/role", json!("proof")),
        &["/evidence/0/role"],
    );
    let o = ok(&with(v.clone(), "/evidence/0/role", json!("context")));
    assert_eq!(o.evidence[0].role, EvidenceRole::Context);
    assert_eq!(EvidenceRole::NAMES, ["evidentiary", "context"]);
    // The same media twice.
    let item = json!({"sha256":"c".repeat(64),"media_type":"image/png"});
    refused_at(
        with(v.clone(), "/evidence", json!([item, item])),
        &["/evidence/1/sha256"],
    );
}

#[test]
fn array_lengths_are_bounded() {
    let v = valid();
    let items: Vec<Value> = (0..33)
        .map(|i| json!({"sha256":format!("{i:064x}"),"media_type":"image/jpeg"}))
        .collect();
    refused_at(with(v.clone(), "/evidence", json!(items)), &["/evidence"]);
    ok(&with(v.clone(), "/evidence", json!(items[..32])));
    let mut targets: Vec<&str> = Target::NAMES.to_vec();
    targets.push("energy");
    refused_at(
        with(v, "/event/targets", json!(targets)),
        &["/event/targets"],
    );
}

#[test]
fn narrative_is_bounded_text() {
    let v = valid();
    refused_at(
        with(v.clone(), "/narrative", json!("x".repeat(4001))),
        &["/narrative"],
    );
    // Characters, not bytes: 4,000 Cyrillic letters (8,000 bytes) are fine.
    ok(&with(v.clone(), "/narrative", json!("ж".repeat(4000))));
    ok(&with(
        v.clone(),
        "/narrative",
        json!("line 1\nline 2\r\n\tindented"),
    ));
    refused_at(with(v, "/narrative", json!("bell \u{7}")), &["/narrative"]);
}

#[test]
fn ids() {
    let v = valid();
    refused_at(
        with(v.clone(), "/agreement", json!("bad id")),
        &["/agreement"],
    );
    refused_at(with(v.clone(), "/agreement", json!("")), &["/agreement"]);
    refused_at(
        with(v.clone(), "/alleged_party", json!("R/U")),
        &["/alleged_party"],
    );
    refused_at(
        with(v, "/alleged_party", json!("x".repeat(129))),
        &["/alleged_party"],
    );
}

#[test]
fn every_problem_at_once() {
    let v = json!({"id":"o","agreement":"not ok","colour":1,
        "observed":{"from":"2026-12-20T21:10:00Z","to":"2026-12-20T21:00:00Z"},
        "observer":{"mode":"smelled","position":{"lat":91,"lon":0}},
        "event":{"type":"boom","count":0,"approx":1,
                 "location":{"lat":0,"lon":0,"radius_m":0},
                 "sector":{"bearing_deg":[0,361],"distance_km":[5,1]},
                 "direction":{"origin_bearing_deg":-1},
                 "weapon":{"class":"artillery","calibre_mm":0},
                 "targets":["energy","energy"]},
        "casualties":{"civilian_killed":{"low":3,"best":2,"high":1},"x":{}},
        "grading":{"credibility":9},
        "evidence":[{"sha256":"ABC","media_type":"jpeg","role":"proof","url":"u"}],
        "narrative":"\u{0}","alleged_party":""});
    assert_eq!(
        pointers(&v),
        [
            "/colour",
            "/agreement",
            "/observed/to",
            "/observer/position/lat",
            "/observer/mode",
            "/event/type",
            "/event/count",
            "/event/approx",
            "/event/location/radius_m",
            "/event/sector/bearing_deg/1",
            "/event/sector/distance_km/1",
            "/event/direction/origin_bearing_deg",
            "/event/weapon/calibre_mm",
            "/event/targets/1",
            "/casualties/x",
            "/casualties/civilian_killed/low",
            "/casualties/civilian_killed/high",
            "/grading/credibility",
            "/evidence/0/url",
            "/evidence/0/sha256",
            "/evidence/0/media_type",
            "/evidence/0/role",
            "/narrative",
            "/alleged_party",
            "/event/sector",
        ]
    );
    // Through the entry API the same list comes back.
    let Err(e) = Payload::parse(Kind::Observation, &obj(&v)) else {
        panic!("accepted")
    };
    assert_eq!(e.len(), 25);
    assert!(e.iter().all(|e| !e.message.is_empty()));
}

#[test]
fn sector_location_is_derived_from_the_observer() {
    // DESIGN §5 example sector from (48.43, 38.22): bearings 100–140°, 2–6 km.
    let o = ok(&valid_sector());
    let p = o.event_point();
    let observer = Position {
        lat: 48.43,
        lon: 38.22,
    };
    // The centre is 4 km from the observer at bearing 120°.
    close(haversine_m(observer, p.position()), 4_000.0, 1e-6);
    let c = destination(observer, 120.0, 4_000.0);
    assert_eq!((p.lat, p.lon), (c.lat, c.lon));
    // By hand: 4 km at 120° is 2 km south and 3,464.10 km east (4 km · sin 60°); a degree of
    // latitude is R·π/180 = 111,195.08 m, and of longitude that times the cosine of the
    // latitude. A great circle leaving eastwards bends towards the equator, by e²·tan φ / 2R
    // = 12e6 · 1.12737 / 12,742,017.6 = 1.0618 m after e = 3,464.10 m east: to the centimetre
    // in latitude, to the metre in longitude (taken at the mid latitude).
    close(EARTH_RADIUS_M.to_radians(), 111_195.08, 0.01);
    close(
        p.lat,
        48.43 - 2_000.0 / 111_195.08 - 1.0618 / 111_195.08,
        1e-7,
    );
    let mid_lat = (48.43 - 1_000.0 / 111_195.08f64).to_radians();
    close(p.lon, 38.22 + 3_464.10 / (111_195.08 * mid_lat.cos()), 1e-5);
    // Radius: the far corners at ±20° from the middle: sqrt((6 cos 20° − 4)² + (6 sin 20°)²) km
    // = sqrt(1.63816² + 2.05212²) = 2.62579 km.
    close(p.radius_m, 2_625.79, 0.05);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (-400.0..400.0f64).prop_map(Value::from),
        "[a-z_0-9:./+-]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("2026-12-20T21:10:00Z"),
            Just("explosion"),
            Just("artillery"),
            Just("energy"),
            Just("heard"),
            Just("image/jpeg"),
            Just("evidentiary"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    let keys = prop_oneof![
        Just("lat"),
        Just("lon"),
        Just("radius_m"),
        Just("type"),
        Just("count"),
        Just("location"),
        Just("sector"),
        Just("position"),
        Just("bearing_deg"),
        Just("distance_km"),
        Just("from"),
        Just("to"),
        Just("low"),
        Just("best"),
        Just("high"),
        Just("civilian_killed"),
        Just("sha256"),
        Just("media_type"),
        Just("role"),
        Just("class"),
        Just("calibre_mm"),
        Just("x~/"),
    ]
    .prop_map(str::to_owned);
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The pointers that lead to an object in the valid example.
const CONTAINERS: &[&str] = &[
    "",
    "/observed",
    "/observer",
    "/observer/position",
    "/event",
    "/event/location",
    "/event/direction",
    "/event/weapon",
    "/casualties",
    "/casualties/civilian_killed",
    "/grading",
    "/evidence/0",
];
const TOP: &[&str] = &[
    "agreement",
    "observed",
    "observer",
    "event",
    "casualties",
    "grading",
    "evidence",
    "narrative",
    "alleged_party",
];

fn check_accepted(o: &Observation) {
    let p = o.event_point();
    assert!(p.lat.is_finite() && (-90.0..=90.0).contains(&p.lat));
    assert!(p.lon.is_finite() && (-180.0..=180.0).contains(&p.lon));
    assert!(p.radius_m.is_finite() && p.radius_m >= 0.0 && p.radius_m <= 1_100_000.0);
    assert!(o.observed.from <= o.observed.to);
    assert!((1..=100_000).contains(&o.event.count));
    assert!((1..=6).contains(&o.grading.credibility));
    for e in o.casualties.values() {
        assert!(e.low <= e.best && e.best <= e.high);
    }
    assert!(o.evidence.len() <= 32);
    serde_json::to_vec(o).unwrap();
}

proptest! {
    #[test]
    fn parsing_arbitrary_objects_never_panics(
        m in prop::collection::btree_map(
            prop_oneof![prop::sample::select(TOP).prop_map(str::to_owned), "[a-z]{1,3}"],
            arb_json(),
            0..8,
        )
    ) {
        let obj: Map<String, Value> = m.into_iter().collect();
        match Observation::parse(&obj) {
            Ok(o) => check_accepted(&o),
            Err(e) => {
                prop_assert!(!e.is_empty());
                for p in e {
                    prop_assert!(p.pointer.is_empty() || p.pointer.starts_with('/'));
                    prop_assert!(!p.message.is_empty());
                }
            }
        }
    }

    #[test]
    fn mutating_a_valid_observation_never_panics(
        edits in prop::collection::vec(
            (prop::sample::select(CONTAINERS), prop::sample::select(&[
                "lat", "lon", "radius_m", "type", "count", "to", "from", "credibility", "high",
                "low", "calibre_mm", "origin_bearing_deg", "sector", "location", "position",
                "sha256", "mode",
            ][..]), arb_json()),
            1..4,
        ),
        sector in any::<bool>(),
    ) {
        let mut v = if sector { valid_sector() } else { valid() };
        for (at, key, val) in edits {
            if let Some(Value::Object(m)) = v.pointer_mut(at) {
                m.insert(key.to_owned(), val);
            }
        }
        match parse(&v) {
            Ok(o) => check_accepted(&o),
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    #[test]
    fn sector_points_are_within_reach_of_the_observer(
        lat in -89.0..89.0f64, lon in -180.0..180.0f64,
        a in 0.0..360.0f64, b in 0.0..360.0f64,
        near in 0.0..100.0f64, extra in 0.001..100.0f64,
    ) {
        let far = near + extra;
        let mut v = valid_sector();
        v = with(v, "/observer/position", json!({"lat":lat,"lon":lon}));
        v = with(v, "/event/sector", json!({"bearing_deg":[a,b],"distance_km":[near,far]}));
        let o = ok(&v);
        let p = o.event_point();
        let observer = Position { lat, lon };
        // The centre is at the middle distance, and the circle covers both the nearest and the
        // farthest point of the sector along the middle bearing.
        let d = haversine_m(observer, p.position());
        prop_assert!((d - (near + far) * 500.0).abs() < 1e-3 * (1.0 + d));
        prop_assert!(p.radius_m + 1e-6 >= (far - near) * 500.0);
        prop_assert!(p.radius_m <= (far + (near + far) / 2.0) * 1_000.0 + 1.0);
    }
}
