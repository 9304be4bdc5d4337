//! The consent story at the engine level: no server, no store, just entries and log times.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};
use truce_model::agreement::MapResolver;
use truce_model::dsse::Envelope;
use truce_model::keys::PrivateKey;

use crate::testing::{T0, agreement_doc, log};
use crate::{AgreementStatus, Refusal, State, rfc3339};

struct World {
    state: State,
    operator: PrivateKey,
}

fn doc(ua: &PrivateKey, ru: &PrivateKey, at: &str) -> String {
    agreement_doc("Test ceasefire", ua, ru, at)
}

impl World {
    fn new() -> Self {
        let operator = PrivateKey::from_seed("operator", [1; 32]).unwrap();
        World {
            state: State::new(operator.verifier()),
            operator,
        }
    }

    fn submit(
        &mut self,
        key: &PrivateKey,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<u64, Refusal> {
        log(&mut self.state, key, kind, &payload)
    }

    fn accredit(
        &mut self,
        key: &PrivateKey,
        roles: &[&str],
        affiliation: &str,
    ) -> Result<u64, Refusal> {
        let op = self.operator.clone();
        self.submit(
            &op,
            "key",
            serde_json::json!({"id": format!("key-{}", key.name()), "vkey": key.verifier().to_string(),
                "roles": roles, "affiliation": affiliation}),
        )
    }
}

/// The status of the agreement's current version (the one `GET /v1/agreements/{id}` shows at top
/// level).
fn status(w: &World) -> AgreementStatus {
    let a = w.state.agreement("test-ceasefire").unwrap();
    let now = w.state.last_time_ms();
    a.status(a.current(now).unwrap(), now)
}

#[test]
fn consent_story() {
    let mut w = World::new();
    let ua = PrivateKey::from_seed("ukraine", [2; 32]).unwrap();
    let ru = PrivateKey::from_seed("russia", [3; 32]).unwrap();
    let stranger = PrivateKey::from_seed("stranger", [4; 32]).unwrap();
    w.accredit(&ua, &["party"], "UA").unwrap();
    w.accredit(&ru, &["party"], "RU").unwrap();
    w.accredit(&stranger, &["party"], "XX").unwrap();

    let text = doc(&ua, &ru, "2020-01-01T00:00:00Z");
    let sha = hex::encode(Sha256::digest(text.as_bytes()));
    let op = w.operator.clone();
    w.submit(
        &op,
        "agreement",
        serde_json::json!({"id":"ag-1","agreement":"test-ceasefire","version":1,"document":text}),
    )
    .unwrap();
    assert_eq!(status(&w), AgreementStatus::Proposed);

    let consent = |id: &str| serde_json::json!({"id": id, "agreement":"test-ceasefire","version":1,"sha256": sha});
    w.submit(&ua, "consent", consent("c-ua")).unwrap();
    let a = w.state.agreement("test-ceasefire").unwrap();
    let current = a.current(w.state.last_time_ms()).unwrap();
    assert_eq!(status(&w), AgreementStatus::Proposed);
    assert_eq!(current.missing(), vec!["RU".to_string()]);

    // A party key that is accredited but not in the agreement: forbidden.
    assert!(matches!(
        w.submit(&stranger, "consent", consent("c-x")),
        Err(Refusal::Forbidden(_))
    ));
    // Consent to other text: invalid, naming the field.
    let bad = serde_json::json!({"id":"c-bad","agreement":"test-ceasefire","version":1,"sha256":"0".repeat(64)});
    match w.submit(&ru, "consent", bad) {
        Err(Refusal::Invalid(e)) => assert_eq!(e[0].pointer, "/sha256"),
        other => panic!("{other:?}"),
    }
    w.submit(&ru, "consent", consent("c-ru")).unwrap();
    assert_eq!(status(&w), AgreementStatus::InForce);
}

#[test]
fn entry_into_force_waits_for_at() {
    let mut w = World::new();
    let ua = PrivateKey::from_seed("ukraine", [2; 32]).unwrap();
    let ru = PrivateKey::from_seed("russia", [3; 32]).unwrap();
    w.accredit(&ua, &["party"], "UA").unwrap();
    w.accredit(&ru, &["party"], "RU").unwrap();
    let text = doc(&ua, &ru, "2099-01-01T00:00:00Z");
    let sha = hex::encode(Sha256::digest(text.as_bytes()));
    let op = w.operator.clone();
    w.submit(
        &op,
        "agreement",
        serde_json::json!({"id":"ag","agreement":"test-ceasefire","version":1,"document":text}),
    )
    .unwrap();
    for (k, id) in [(&ua, "c1"), (&ru, "c2")] {
        w.submit(
            k,
            "consent",
            serde_json::json!({"id":id,"agreement":"test-ceasefire","version":1,"sha256":sha}),
        )
        .unwrap();
    }
    // All consents, but the agreed time has not come in log time.
    assert_eq!(status(&w), AgreementStatus::Proposed);
    let a = w.state.agreement("test-ceasefire").unwrap();
    assert_eq!(
        a.current(w.state.last_time_ms())
            .unwrap()
            .in_force_from_ms()
            .map(rfc3339)
            .as_deref(),
        Some("2099-01-01T00:00:00Z")
    );
    let at = jiff::Timestamp::from_second(4_070_908_800)
        .unwrap()
        .as_millisecond();
    assert_eq!(a.status(&a.versions[0], at), AgreementStatus::InForce);
}

#[test]
fn new_version_supersedes_once_consented() {
    let mut w = World::new();
    let ua = PrivateKey::from_seed("ukraine", [2; 32]).unwrap();
    let ru = PrivateKey::from_seed("russia", [3; 32]).unwrap();
    w.accredit(&ua, &["party"], "UA").unwrap();
    w.accredit(&ru, &["party"], "RU").unwrap();
    let op = w.operator.clone();
    let mut shas = Vec::new();
    for v in 1..=2u32 {
        let text = doc(&ua, &ru, "2020-01-01T00:00:00Z")
            .replace("Test ceasefire", &format!("Test ceasefire v{v}"));
        shas.push(hex::encode(Sha256::digest(text.as_bytes())));
        w.submit(&op, "agreement", serde_json::json!({"id":format!("ag{v}"),"agreement":"test-ceasefire","version":v,"document":text})).unwrap();
    }
    // Version 4 cannot skip ahead, version 2 cannot be re-proposed.
    for bad in [2, 4] {
        let text = doc(&ua, &ru, "2020-01-01T00:00:00Z");
        match w.submit(&op, "agreement", serde_json::json!({"id":format!("x{bad}"),"agreement":"test-ceasefire","version":bad,"document":text})) {
            Err(Refusal::Invalid(e)) => assert_eq!(e[0].pointer, "/version"),
            other => panic!("{other:?}"),
        }
    }
    for (v, sha) in [(1, &shas[0]), (2, &shas[1])] {
        for (k, p) in [(&ua, "ua"), (&ru, "ru")] {
            w.submit(k, "consent", serde_json::json!({"id":format!("c{v}{p}"),"agreement":"test-ceasefire","version":v,"sha256":sha})).unwrap();
        }
    }
    let a = w.state.agreement("test-ceasefire").unwrap();
    let now = w.state.last_time_ms();
    assert_eq!(a.current(now).unwrap().version, 2);
    assert_eq!(status(&w), AgreementStatus::InForce);
    assert_eq!(a.status(&a.versions[0], now), AgreementStatus::Superseded);
}

#[test]
fn roles_signatures_and_revocation() {
    let mut w = World::new();
    let monitor = PrivateKey::from_seed("monitor", [5; 32]).unwrap();
    let unknown = PrivateKey::from_seed("unknown", [6; 32]).unwrap();
    w.accredit(&monitor, &["monitor"], "OSCE").unwrap();
    // A monitor cannot accredit keys.
    assert!(matches!(
        w.submit(&monitor, "key", serde_json::json!({"id":"k9","vkey":unknown.verifier().to_string(),"roles":["monitor"],"affiliation":"x"})),
        Err(Refusal::Forbidden(_))
    ));
    // An unknown key is unauthenticated, whatever it signs.
    assert!(matches!(
        w.submit(&unknown, "key", serde_json::json!({"id":"k8"})),
        Err(Refusal::Unauthenticated(_))
    ));
    // A signature by the right key name over other bytes does not verify.
    let env = Envelope::sign("key", br#"{"id":"k7"}"#, &[&monitor]);
    let mut forged = env.canonical_json();
    let s = String::from_utf8(forged.clone()).unwrap();
    let other = Envelope::sign("key", br#"{"id":"k6"}"#, &[&monitor]);
    forged = s
        .replace(&base64_payload(&env), &base64_payload(&other))
        .into_bytes();
    let forged = Envelope::parse(&forged).unwrap();
    assert!(matches!(
        w.state.admit(&forged, T0, &MapResolver(BTreeMap::new())),
        Err(Refusal::Unauthenticated(_))
    ));
    // Revocation is permanent.
    let op = w.operator.clone();
    w.submit(
        &op,
        "key",
        serde_json::json!({"id":"rev","vkey":monitor.verifier().to_string(),"revoke":true}),
    )
    .unwrap();
    assert!(matches!(
        w.submit(&monitor, "key", serde_json::json!({"id":"k5"})),
        Err(Refusal::Unauthenticated(_))
    ));
    assert!(matches!(
        w.accredit(&monitor, &["monitor"], "OSCE"),
        Err(Refusal::Invalid(_))
    ));
    // The bootstrap operator key cannot be revoked by an entry.
    assert!(matches!(
        w.submit(
            &op,
            "key",
            serde_json::json!({"id":"rev2","vkey":op.verifier().to_string(),"revoke":true})
        ),
        Err(Refusal::Invalid(_))
    ));
}

fn base64_payload(env: &Envelope) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(env.payload())
}

#[test]
fn agreement_document_problems_are_reported_as_fields() {
    let mut w = World::new();
    let op = w.operator.clone();
    let text = "id = \"x\"\ntitle = 3\n";
    match w.submit(
        &op,
        "agreement",
        serde_json::json!({"id":"a","agreement":"x","version":1,"document":text}),
    ) {
        Err(Refusal::Invalid(e)) => {
            assert!(e.iter().all(|e| e.pointer == "/document"));
            assert!(
                e.iter().any(|e| e.message.contains("x.v1.toml:2: title")),
                "{e:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}
