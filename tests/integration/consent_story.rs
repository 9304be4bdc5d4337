//! The consent story of issue 2, against the real server and the real Donbas example: the
//! operator accredits the parties' keys, proposes the agreement, the parties consent one by one,
//! and the agreement enters into force only with the last required consent.

use serde_json::json;
use truce_model::keys::PrivateKey;

use crate::util::{Server, accredit, demo_key, error_pointers, repo, sha256_hex, upload_geometry};

const PARTIES: [(&str, &str); 5] = [
    ("ukraine", "UA"),
    ("russia", "RU"),
    ("germany", "DE"),
    ("france", "FR"),
    ("osce", "OSCE"),
];

/// The example agreement, with its entry into force moved into the past so that the last
/// consent is what brings it into force.
fn document() -> String {
    let text = std::fs::read_to_string(repo().join("examples/donbas/agreement.toml")).unwrap();
    let moved = text.replace(
        "at = \"2026-12-15T00:00:00+02:00\"",
        "at = \"2025-01-01T00:00:00+02:00\"",
    );
    assert_ne!(
        moved, text,
        "the example's entry_into_force.at changed; update this test"
    );
    moved
}

async fn status(server: &Server) -> serde_json::Value {
    let (code, body) = server.get("/v1/agreements/donbas-2026").await;
    assert_eq!(code, 200, "{body}");
    body
}

#[tokio::test]
async fn consent_story() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::init_and_start(tmp.path());
    let op = server.operator();

    for (name, party) in PARTIES {
        accredit(&server, &demo_key(name), &["party"], party).await;
    }
    let stranger = PrivateKey::generate("stranger").unwrap();
    accredit(&server, &stranger, &["party"], "XX").await;

    let blobs = upload_geometry(&server).await;
    let doc = document();
    let (code, body) = server
        .submit(
            &op,
            "agreement",
            json!({"id": "donbas-2026-v1", "agreement": "donbas-2026", "version": 1,
                   "document": doc, "blobs": blobs}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(status(&server).await["status"], "proposed");

    let consent = |id: &str| json!({"id": id, "agreement": "donbas-2026", "version": 1, "sha256": sha256_hex(doc.as_bytes())});

    // One party consents: still proposed, and the missing consents are named.
    let (code, body) = server
        .submit(&demo_key("ukraine"), "consent", consent("consent-ua"))
        .await;
    assert_eq!(code, 200, "{body}");
    let s = status(&server).await;
    assert_eq!(s["status"], "proposed");
    assert_eq!(s["missing"], json!(["RU", "DE", "FR"]));
    assert_eq!(s["consents"][0]["party"], "UA");

    // A key that is accredited as a party but is not a party to this agreement: 403.
    let (code, body) = server
        .submit(&stranger, "consent", consent("consent-stranger"))
        .await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("not the key of any party"),
        "{body}"
    );

    // A forged signature (the Russian key's name, another key's signature): 401.
    let forger = PrivateKey::from_seed("russia", [9; 32]).unwrap();
    let env = truce_model::dsse::Envelope::sign(
        "consent",
        consent("consent-forged").to_string().as_bytes(),
        &[&forger],
    );
    let forged = String::from_utf8(env.canonical_json())
        .unwrap()
        .replace(&forger.signer_id(), &demo_key("russia").signer_id());
    let (code, body) = server.post_raw(forged).await;
    assert_eq!(code, 401, "{body}");

    // The same id with different content: 409. The same envelope again: the same index.
    let (code, first) = server
        .submit(&demo_key("russia"), "consent", consent("consent-ru"))
        .await;
    assert_eq!(code, 200, "{first}");
    let mut other = consent("consent-ru");
    other["note"] = json!("different");
    let (code, body) = server.submit(&demo_key("russia"), "consent", other).await;
    assert_eq!(code, 409, "{body}");
    let (code, again) = server
        .submit(&demo_key("russia"), "consent", consent("consent-ru"))
        .await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(again["index"], first["index"]);
    assert_eq!(again["leaf_hash"], first["leaf_hash"]);

    let (code, _) = server
        .submit(&demo_key("germany"), "consent", consent("consent-de"))
        .await;
    assert_eq!(code, 200);
    assert_eq!(status(&server).await["missing"], json!(["FR"]));
    assert_eq!(status(&server).await["status"], "proposed");
    // The mediator's consent is welcome but not required.
    let (code, _) = server
        .submit(&demo_key("osce"), "consent", consent("consent-osce"))
        .await;
    assert_eq!(code, 200);
    assert_eq!(status(&server).await["status"], "proposed");

    let (code, _) = server
        .submit(&demo_key("france"), "consent", consent("consent-fr"))
        .await;
    assert_eq!(code, 200);
    let s = status(&server).await;
    assert_eq!(s["status"], "in-force", "{s}");
    assert_eq!(s["missing"], json!([]));
    assert!(s["in_force_at"].is_string());

    let (code, list) = server.get("/v1/agreements").await;
    assert_eq!(code, 200);
    assert_eq!(list["items"][0]["id"], "donbas-2026");
    assert_eq!(list["next"], serde_json::Value::Null);

    // The state is derived from the log alone: after a restart it is the same.
    let data = server.data.clone();
    let before = status(&server).await;
    server.stop();
    let server = Server::start(&data);
    let after = status(&server).await;
    assert_eq!(after, before);
    let (_, health) = server.get("/healthz").await;
    assert_eq!(health["size"], json!(PARTIES.len() + 1 + 1 + 5));
}

#[tokio::test]
async fn agreement_needs_its_blobs_and_a_valid_document() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::init_and_start(tmp.path());
    let op = server.operator();
    let doc = document();
    let line = std::fs::read(repo().join("examples/donbas/contact_line.geojson")).unwrap();
    let line_sha = sha256_hex(&line);
    // Listed but never uploaded, and two files not listed at all.
    let (code, body) = server
        .submit(
            &op,
            "agreement",
            json!({"id": "a1", "agreement": "donbas-2026", "version": 1, "document": doc,
                   "blobs": {"contact_line.geojson": line_sha}}),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("blob {line_sha}")), "{detail}");
    assert!(detail.contains("has not been uploaded"), "{detail}");
    assert!(
        detail.contains("\"ua_held.geojson\" is not listed"),
        "{detail}"
    );
    assert!(error_pointers(&body).iter().all(|p| *p == "/document"));

    // A document that breaks the consent rule is refused with the rule's words.
    let broken = doc.replace(
        "consent = [\"UA\", \"RU\", \"DE\", \"FR\"]",
        "consent = [\"UA\", \"DE\", \"FR\"]",
    );
    let blobs = upload_geometry(&server).await;
    let (code, body) = server
        .submit(
            &op,
            "agreement",
            json!({"id": "a2", "agreement": "donbas-2026", "version": 1, "document": broken, "blobs": blobs}),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("binds RU but does not require RU's consent"),
        "{body}"
    );
    // Nothing was logged by the refusals.
    let (_, health) = server.get("/healthz").await;
    assert_eq!(health["size"], 0);
    let (code, _) = server.get("/v1/agreements/donbas-2026").await;
    assert_eq!(code, 404);
}
