//! Observation intake at the engine level (DESIGN §3, §5): who may report, under which
//! agreement, at which log time, and what the state keeps.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};
use truce_model::agreement::MapResolver;
use truce_model::dsse::Envelope;
use truce_model::entry::FieldError;
use truce_model::keys::PrivateKey;
use truce_model::observation::EARTH_RADIUS_M;
use truce_model::taxonomy::{EventType, Family};

use crate::testing::{T0, agreement_doc, log};
use crate::{Refusal, State};

pub(crate) const AGREEMENT: &str = "test-ceasefire";

pub(crate) struct World {
    pub(crate) state: State,
    pub(crate) operator: PrivateKey,
    pub(crate) monitor: PrivateKey,
    pub(crate) sensor: PrivateKey,
    pub(crate) verifier: PrivateKey,
    pub(crate) ua: PrivateKey,
    pub(crate) ru: PrivateKey,
}

pub(crate) fn key(name: &str, seed: u8) -> PrivateKey {
    PrivateKey::from_seed(name, [seed; 32]).unwrap()
}

fn doc(w: &World, version: u32, at: &str) -> String {
    agreement_doc(&format!("Test ceasefire v{version}"), &w.ua, &w.ru, at)
}

impl World {
    /// A log with a monitor, a sensor, a verifier and the two parties accredited.
    pub(crate) fn new() -> Self {
        let operator = key("operator", 1);
        let mut w = World {
            state: State::new(operator.verifier()),
            operator,
            monitor: key("monitor", 2),
            sensor: key("sensor", 3),
            verifier: key("verifier", 4),
            ua: key("ukraine", 5),
            ru: key("russia", 6),
        };
        for (k, roles, aff) in [
            (w.monitor.clone(), "monitor", "OSCE"),
            (w.sensor.clone(), "sensor", "OSCE"),
            (w.verifier.clone(), "verifier", "OSCE"),
            (w.ua.clone(), "party", "UA"),
            (w.ru.clone(), "party", "RU"),
        ] {
            let op = w.operator.clone();
            w.submit(
                &op,
                "key",
                serde_json::json!({"id": format!("key-{}", k.name()),
                    "vkey": k.verifier().to_string(), "roles": [roles], "affiliation": aff}),
            )
            .unwrap();
        }
        w
    }

    /// The log time the next entry gets: one second per entry.
    pub(crate) fn next_time(&self) -> i64 {
        T0 + self.state.size() as i64 * 1000
    }

    pub(crate) fn submit(
        &mut self,
        key: &PrivateKey,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<u64, Refusal> {
        log(&mut self.state, key, kind, &payload)
    }

    /// Proposes `version` of the agreement, entering into force at `at`; returns its sha256.
    fn propose(&mut self, version: u32, at: &str) -> String {
        let text = doc(self, version, at);
        let op = self.operator.clone();
        self.submit(
            &op,
            "agreement",
            serde_json::json!({"id": format!("ag-{version}"), "agreement": AGREEMENT,
                "version": version, "document": text}),
        )
        .unwrap();
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    fn consent(&mut self, version: u32, sha: &str) {
        for k in [self.ua.clone(), self.ru.clone()] {
            self.submit(
                &k,
                "consent",
                serde_json::json!({"id": format!("c-{version}-{}", k.name()),
                    "agreement": AGREEMENT, "version": version, "sha256": sha}),
            )
            .unwrap();
        }
    }

    /// An agreement in force from now on.
    pub(crate) fn in_force() -> Self {
        let mut w = World::new();
        let sha = w.propose(1, "2020-01-01T00:00:00Z");
        w.consent(1, &sha);
        w
    }
}

pub(crate) fn rfc3339(ms: i64) -> String {
    crate::rfc3339(ms)
}

/// A valid observation whose window ends `end_offset_ms` after the next log time.
fn observation(w: &World, id: &str, end_offset_ms: i64) -> serde_json::Value {
    let to = w.next_time() + end_offset_ms;
    serde_json::json!({"id": id, "agreement": AGREEMENT,
        "observed": {"from": rfc3339(to - 30 * 60_000), "to": rfc3339(to)},
        "observer": {"mode": "heard"},
        "event": {"type": "explosion", "count": 12, "approx": true,
                  "location": {"lat": 48.41, "lon": 38.31, "radius_m": 2000},
                  "direction": {"origin_bearing_deg": 270},
                  "weapon": {"class": "artillery", "calibre_mm": 122},
                  "targets": ["energy"]},
        "grading": {"credibility": 2},
        "alleged_party": "RU"})
}

fn invalid(r: Result<u64, Refusal>) -> Vec<FieldError> {
    match r {
        Err(Refusal::Invalid(e)) => e,
        other => panic!("expected 422, got {other:?}"),
    }
}

fn pointers(e: &[FieldError]) -> Vec<&str> {
    e.iter().map(|e| e.pointer.as_str()).collect()
}

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
}

#[test]
fn observation_story() {
    let mut w = World::new();
    let monitor = w.monitor.clone();

    // No agreement yet: unknown.
    let o = observation(&w, "o-early", -60_000);
    let e = invalid(w.submit(&monitor, "observation", o));
    assert_eq!(pointers(&e), ["/agreement"]);
    assert!(e[0].message.contains("unknown agreement"), "{e:?}");

    // Proposed, one consent: only proposed, and the message says who is missing.
    let sha = w.propose(1, "2020-01-01T00:00:00Z");
    let ua = w.ua.clone();
    w.submit(
        &ua,
        "consent",
        serde_json::json!({"id":"c-ua","agreement":AGREEMENT,"version":1,"sha256":sha}),
    )
    .unwrap();
    let o = observation(&w, "o-proposed", -60_000);
    let e = invalid(w.submit(&monitor, "observation", o));
    assert_eq!(pointers(&e), ["/agreement"]);
    assert!(e[0].message.contains("only proposed"), "{e:?}");
    assert!(e[0].message.contains("consents missing from RU"), "{e:?}");
    assert_eq!(w.state.observations().count(), 0);

    // In force: a monitor's observation is logged and recorded.
    let ru = w.ru.clone();
    w.submit(
        &ru,
        "consent",
        serde_json::json!({"id":"c-ru","agreement":AGREEMENT,"version":1,"sha256":sha}),
    )
    .unwrap();
    let time = w.next_time();
    let o = observation(&w, "o-1", -60_000);
    let index = w.submit(&monitor, "observation", o).unwrap();
    let r = w.state.observation("o-1").expect("recorded");
    assert_eq!(r.index, index);
    assert_eq!(r.time_ms, time);
    assert_eq!(&*r.signer, monitor.verifier().signer_id());
    assert_eq!(&*r.affiliation, "OSCE");
    assert!(!r.claim);
    assert_eq!(&*r.agreement, AGREEMENT);
    assert_eq!(r.agreement_version, 1);
    assert_eq!(
        (r.event_type, r.family),
        (EventType::Explosion, Family::Fire)
    );
    assert_eq!(r.count, 12);
    assert_eq!(
        (r.point.lat, r.point.lon, r.point.radius_m),
        (48.41, 38.31, 2000.0)
    );
    assert_eq!(r.to_ms, time - 60_000);
    assert_eq!(r.from_ms, time - 60_000 - 30 * 60_000);
    assert_eq!(r.alleged_party.as_deref(), Some("RU"));

    // The operator may not report observations (403), nor may a verifier; an invalid payload
    // signed by them is still a 403: the role is checked first.
    let op = w.operator.clone();
    let verifier = w.verifier.clone();
    for k in [&op, &verifier] {
        let o = observation(&w, "o-op", -60_000);
        assert!(matches!(
            w.submit(k, "observation", o),
            Err(Refusal::Forbidden(m)) if m.contains("monitor, sensor or party")
        ));
        assert!(matches!(
            w.submit(k, "observation", serde_json::json!({"id":"o-bad"})),
            Err(Refusal::Forbidden(_))
        ));
    }

    // From the future: more than 5 minutes after the log time.
    let o = observation(&w, "o-future", 5 * 60_000 + 1);
    let e = invalid(w.submit(&monitor, "observation", o));
    assert_eq!(pointers(&e), ["/observed/to"]);
    assert!(e[0].message.contains("in the future"), "{e:?}");
    // Within the skew: fine (a sensor this time).
    let sensor = w.sensor.clone();
    let o = observation(&w, "o-skew", 5 * 60_000);
    w.submit(&sensor, "observation", o).unwrap();
    assert_eq!(&*w.state.observation("o-skew").unwrap().affiliation, "OSCE");

    // Located by a sector 350°–10°, 2–6 km from (48.0, 38.0): the centre is 4 km due north,
    // at latitude 48 + 4,000 / 111,195.08 = 48.0359728°; the radius reaches the far corners at
    // ±10°: sqrt((6 sin 10°)² + (6 cos 10° − 4)²) = sqrt(1.04189² + 1.90885²) = 2.174679 km.
    let mut o = observation(&w, "o-sector", -60_000);
    o["observer"]["position"] = serde_json::json!({"lat": 48.0, "lon": 38.0});
    let event = o["event"].as_object_mut().unwrap();
    event.remove("location");
    event.insert(
        "sector".into(),
        serde_json::json!({"bearing_deg": [350, 10], "distance_km": [2, 6]}),
    );
    w.submit(&monitor, "observation", o).unwrap();
    let p = w.state.observation("o-sector").unwrap().point;
    close(p.lat, 48.0 + (4_000.0 / EARTH_RADIUS_M).to_degrees(), 1e-12);
    close(p.lat, 48.035_972_8, 1e-7);
    close(p.lon, 38.0, 1e-12);
    close(p.radius_m, 2_174.679, 0.05);

    // A party's observation is a claim; it must accuse a party of the agreement.
    let mut o = observation(&w, "o-claim", -60_000);
    o["alleged_party"] = serde_json::json!("XX");
    let e = invalid(w.submit(&ua, "observation", o));
    assert_eq!(pointers(&e), ["/alleged_party"]);
    assert!(e[0].message.contains("parties: UA, RU"), "{e:?}");
    let o = observation(&w, "o-claim", -60_000);
    w.submit(&ua, "observation", o).unwrap();
    let r = w.state.observation("o-claim").unwrap();
    assert!(r.claim);
    assert_eq!(&*r.affiliation, "UA");

    // Every problem at once: the payload's own problems are reported by the model (422) …
    let mut o = observation(&w, "o-bad", -60_000);
    o["event"]["location"]["lat"] = serde_json::json!(91);
    o["grading"]["credibility"] = serde_json::json!(7);
    let e = invalid(w.submit(&monitor, "observation", o));
    assert_eq!(
        pointers(&e),
        ["/event/location/lat", "/grading/credibility"]
    );
    // … and so are the state-dependent ones.
    let mut o = observation(&w, "o-bad", 3_600_000);
    o["agreement"] = serde_json::json!("no-such-agreement");
    let e = invalid(w.submit(&monitor, "observation", o));
    assert_eq!(pointers(&e), ["/agreement", "/observed/to"]);

    // What was logged, in log order.
    let ids: Vec<String> = w.state.observations().map(|r| r.id.to_string()).collect();
    assert_eq!(ids, ["o-1", "o-skew", "o-sector", "o-claim"]);
    assert!(w.state.observations().is_sorted_by_key(|r| r.index));
    assert!(w.state.observation("o-future").is_none());
}

#[test]
fn superseded_agreement_without_a_successor_in_force() {
    let mut w = World::in_force();
    let monitor = w.monitor.clone();
    let o = observation(&w, "o-1", 0);
    w.submit(&monitor, "observation", o).unwrap();
    // Version 2 has all its consents but enters into force only in 2099: version 1 is
    // superseded at once, and nothing is in force in between.
    let sha = w.propose(2, "2099-01-01T00:00:00Z");
    w.consent(2, &sha);
    let o = observation(&w, "o-2", 0);
    let e = invalid(w.submit(&monitor, "observation", o));
    assert_eq!(pointers(&e), ["/agreement"]);
    assert!(
        e[0].message
            .contains("version 1 is superseded by version 2")
            && e[0].message.contains("2099-01-01T00:00:00Z"),
        "{e:?}"
    );
    assert_eq!(w.state.observations().len(), 1);
}

#[test]
fn observations_record_the_version_in_force() {
    let mut w = World::in_force();
    let sha = w.propose(2, "2020-01-01T00:00:00Z");
    let monitor = w.monitor.clone();
    // Version 2 proposed only: version 1 still governs.
    let o = observation(&w, "o-v1", 0);
    w.submit(&monitor, "observation", o).unwrap();
    w.consent(2, &sha);
    let o = observation(&w, "o-v2", 0);
    w.submit(&monitor, "observation", o).unwrap();
    assert_eq!(w.state.observation("o-v1").unwrap().agreement_version, 1);
    assert_eq!(w.state.observation("o-v2").unwrap().agreement_version, 2);
}

#[test]
fn admission_is_deterministic_on_replay() {
    // Replaying the same entries at the same log times gives the same records, whatever the
    // wall clock says.
    let mut w = World::in_force();
    let monitor = w.monitor.clone();
    let mut log = Vec::new();
    for i in 0..3 {
        let o = observation(&w, &format!("o-{i}"), 4 * 60_000);
        let env = Envelope::sign("observation", o.to_string().as_bytes(), &[&monitor]);
        log.push((env, w.next_time()));
        w.submit(&monitor, "observation", o).unwrap();
    }
    let mut replay = World::in_force();
    for (env, time) in log {
        let a = replay
            .state
            .admit(&env, time, &MapResolver(BTreeMap::new()))
            .unwrap();
        let index = replay.state.size();
        replay.state.apply(a, index, time);
    }
    let a: Vec<_> = w.state.observations().collect();
    let b: Vec<_> = replay.state.observations().collect();
    assert_eq!(a, b);
    // The same envelope logged an hour earlier would be from the future (and the agreement
    // not yet in force).
    let o = observation(&w, "o-late", 0);
    let env = Envelope::sign("observation", o.to_string().as_bytes(), &[&monitor]);
    match w.state.admit(
        &env,
        w.next_time() - 3_600_000,
        &MapResolver(BTreeMap::new()),
    ) {
        Err(Refusal::Invalid(e)) => assert_eq!(pointers(&e), ["/agreement", "/observed/to"]),
        other => panic!("{other:?}"),
    }
}
