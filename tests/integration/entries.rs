//! The status-code contract of `POST /v1/entries` and the blob store, one refusal at a time, and
//! the proof that refusals change nothing.

use serde_json::json;
use truce_model::keys::PrivateKey;

use crate::util::{Server, error_pointers};

async fn size(server: &Server) -> u64 {
    server.get("/healthz").await.1["size"].as_u64().unwrap()
}

#[tokio::test]
async fn every_refusal_has_its_status_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::init_and_start(tmp.path());
    let op = server.operator();
    let monitor = PrivateKey::generate("osce.example/patrol-7").unwrap();
    let (code, body) = server
        .submit(
            &op,
            "key",
            json!({"id": "k-monitor", "vkey": monitor.verifier().to_string(),
            "roles": ["monitor"], "affiliation": "OSCE SMM", "reliability": "B"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["index"], 0);
    assert_eq!(body["leaf_hash"].as_str().unwrap().len(), 64);
    assert!(body.as_object().unwrap().contains_key("proof"));

    // 400: not JSON, not an envelope, unknown kind.
    for (raw, needle) in [
        ("{", "not JSON"),
        ("[]", "JSON object"),
        (
            r#"{"payloadType":"application/vnd.truce.key+json","payload":"e30=","signatures":[]}"#,
            "/signatures",
        ),
        (
            r#"{"payloadType":"text/plain","payload":"e30=","signatures":[{"keyid":"a+00000000","sig":"AAAA"}]}"#,
            "/signatures/0/sig",
        ),
    ] {
        let (code, body) = server.post_raw(raw.to_string()).await;
        assert_eq!(code, 400, "{raw}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(needle),
            "{raw}: {body}"
        );
        assert_eq!(body["status"], 400);
    }
    let (code, body) = server.submit(&op, "bogus", json!({"id": "x"})).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("unknown entry kind")
    );

    // 401: a key nobody accredited.
    let unknown = PrivateKey::generate("nobody").unwrap();
    let (code, body) = server.submit(&unknown, "key", json!({"id": "k-x"})).await;
    assert_eq!(code, 401, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("not accredited"));

    // 403: a monitor may not accredit keys or propose agreements.
    let (code, body) = server
        .submit(
            &monitor,
            "key",
            json!({"id": "k-y", "vkey": unknown.verifier().to_string(),
            "roles": ["monitor"], "affiliation": "x"}),
        )
        .await;
    assert_eq!(code, 403, "{body}");
    let (code, _) = server
        .submit(
            &monitor,
            "agreement",
            json!({"id": "a", "agreement": "a", "version": 1, "document": "x"}),
        )
        .await;
    assert_eq!(code, 403);

    // 422: every bad field named by pointer.
    let (code, body) = server
        .submit(
            &op,
            "key",
            json!({"id": "k-z", "vkey": "garbage", "roles": ["general"],
            "affiliation": "x", "reliability": "Z"}),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    let pointers = error_pointers(&body);
    assert_eq!(pointers, ["/vkey", "/roles/0", "/reliability"]);
    let (code, body) = server.submit(&op, "key", json!({"vkey": "x"})).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/id");
    let (code, body) = server
        .submit(
            &op,
            "consent",
            json!({"id": "c", "agreement": "none", "version": 1, "sha256": "a".repeat(64)}),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/agreement");

    // 413: larger than a leaf can hold.
    let big = json!({"id": "big", "vkey": "x", "pad": "x".repeat(70_000)});
    let (code, body) = server.submit(&op, "key", big).await;
    assert_eq!(code, 413, "{body}");
    let (code, _) = server.post_raw(vec![b' '; 200_000]).await;
    assert_eq!(code, 413);

    assert_eq!(size(&server).await, 1, "no refusal logged anything");

    // Revocation: the monitor's key stops working at once.
    let (code, _) = server
        .submit(
            &op,
            "key",
            json!({"id": "k-revoke", "vkey": monitor.verifier().to_string(), "revoke": true}),
        )
        .await;
    assert_eq!(code, 200);
    let (code, body) = server
        .submit(&monitor, "key", json!({"id": "k-after"}))
        .await;
    assert_eq!(code, 401, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("revoked"));
}

/// One id, two contents, submitted concurrently many times and again after a restart: exactly
/// one entry is logged, every copy of the winner gets its receipt, every copy of the loser 409.
#[tokio::test]
async fn an_id_is_logged_once_under_races_and_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let server = std::sync::Arc::new(Server::init_and_start(tmp.path()));
    let op = server.operator();
    let payload = |affiliation: &str| {
        let k = PrivateKey::from_seed("contested", [9; 32]).unwrap();
        json!({"id": "contested", "vkey": k.verifier().to_string(), "roles": ["monitor"],
               "affiliation": affiliation})
    };
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (server, op) = (server.clone(), op.clone());
        let p = payload(if i % 5 == 0 { "B" } else { "A" });
        tasks.push(tokio::spawn(async move {
            let (code, body) = server.submit(&op, "key", p.clone()).await;
            (p["affiliation"].as_str().unwrap().to_string(), code, body)
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let winner = answers
        .iter()
        .find(|(_, code, _)| *code == 200)
        .map(|(a, _, _)| a.clone())
        .expect("one content wins");
    for (affiliation, code, body) in &answers {
        if *affiliation == winner {
            assert_eq!((*code, &body["index"]), (200, &json!(0)), "{body}");
        } else {
            assert_eq!(*code, 409, "{body}");
        }
    }
    assert_eq!(size(&server).await, 1);

    let server = std::sync::Arc::into_inner(server).unwrap();
    let data = server.data.clone();
    server.stop();
    let server = Server::start(&data);
    let loser = if winner == "A" { "B" } else { "A" };
    let (code, body) = server.submit(&op, "key", payload(&winner)).await;
    assert_eq!((code, &body["index"]), (200, &json!(0)), "{body}");
    let (code, body) = server.submit(&op, "key", payload(loser)).await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(size(&server).await, 1);
}

#[tokio::test]
async fn concurrent_submissions_get_distinct_dense_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let server = std::sync::Arc::new(Server::init_and_start(tmp.path()));
    let op = server.operator();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let server = server.clone();
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let k = PrivateKey::from_seed(&format!("monitor-{i}"), [i as u8; 32]).unwrap();
            let (code, body) = server
                .submit(
                    &op,
                    "key",
                    json!({"id": format!("k{i}"), "vkey": k.verifier().to_string(),
                    "roles": ["monitor"], "affiliation": "OSCE"}),
                )
                .await;
            assert_eq!(code, 200, "{body}");
            body["index"].as_u64().unwrap()
        }));
    }
    let mut indexes = Vec::new();
    for t in tasks {
        indexes.push(t.await.unwrap());
    }
    indexes.sort();
    assert_eq!(indexes, (0..64).collect::<Vec<u64>>());
}

#[tokio::test]
async fn blobs_are_content_addressed() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::init_and_start(tmp.path());
    let (code, sha) = server.put_blob(b"hello".to_vec()).await;
    assert_eq!(code, 201);
    let (code, _) = server.put_blob(b"hello".to_vec()).await;
    assert_eq!(code, 200, "a second upload is idempotent");
    let resp = server
        .http
        .get(format!("{}/v1/blobs/{sha}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"hello");

    // The body must hash to the path.
    let resp = server
        .http
        .put(format!("{}/v1/blobs/{sha}", server.url))
        .body("other")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("not"), "{body}");
    // Malformed hashes, and unknown ones.
    for bad in ["abc", &"A".repeat(64), &"g".repeat(64)] {
        let resp = server
            .http
            .get(format!("{}/v1/blobs/{bad}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
    }
    let (code, body) = server.get(&format!("/v1/blobs/{}", "0".repeat(64))).await;
    assert_eq!(code, 404, "{body}");
}

#[tokio::test]
async fn openapi_is_generated_and_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::init_and_start(tmp.path());
    let (code, api) = server.get("/openapi.json").await;
    assert_eq!(code, 200);
    assert!(
        api["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        api["openapi"]
    );
    for path in [
        "/healthz",
        "/v1/entries",
        "/v1/blobs/{sha256}",
        "/v1/agreements",
        "/v1/agreements/{id}",
        "/v1/observations",
        "/v1/incidents",
        "/v1/incidents/{id}",
        "/v1/incidents/{id}/members",
        "/v1/state",
        "/v1/log/vkeys",
    ] {
        assert!(
            api["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let post = &api["paths"]["/v1/entries"]["post"]["responses"];
    for code in ["200", "400", "401", "403", "409", "413", "422"] {
        assert!(
            post.get(code).is_some(),
            "POST /v1/entries does not document {code}"
        );
    }
    let (code, body) = server.get("/no/such/thing").await;
    assert_eq!(code, 404);
    assert_eq!(body["status"], 404);
    let (_, vkeys) = server.get("/v1/log/vkeys").await;
    assert_eq!(vkeys["origin"], "truce.test/log");
    assert_eq!(vkeys["operator"], server.operator().verifier().to_string());
}

#[tokio::test]
async fn ticks_make_time_pass_in_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let data = crate::util::init(tmp.path());
    let cfg = data.join("truce.toml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("tick_seconds = 60", "tick_seconds = 1");
    std::fs::write(&cfg, text).unwrap();
    let server = Server::start(&data);
    // A tick is due one second after start: wait for it, bounded.
    let mut size = 0;
    for _ in 0..50 {
        size = super::entries::size(&server).await;
        if size > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(size >= 1, "no tick was logged within 5 s");
    let bundle = server
        .http
        .get(format!("{}/log/tile/entries/000.p/1", server.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let leaves = truce_log::tile::decode_bundle(&bundle).unwrap();
    let leaf = truce_log::leaf::Leaf::decode(leaves[0]).unwrap();
    assert_eq!(leaf.envelope.kind().unwrap(), "tick");
    let (id, payload) = leaf.envelope.payload_object().unwrap();
    assert!(id.starts_with("tick-"));
    assert!(payload["time"].is_string());
}

#[tokio::test]
async fn a_key_that_submits_too_fast_gets_429_with_retry_after() {
    let tmp = tempfile::tempdir().unwrap();
    let data = crate::util::init(tmp.path());
    let cfg = data.join("truce.toml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("entries_per_second = 200", "entries_per_second = 1")
        .replace("burst = 2000", "burst = 2");
    assert!(text.contains("burst = 2\n"), "{text}");
    std::fs::write(&cfg, text).unwrap();
    let server = Server::start(&data);
    let op = server.operator();
    let monitor = PrivateKey::generate("osce.example/fast").unwrap();
    let (code, _) = server
        .submit(
            &op,
            "key",
            json!({"id": "k-fast", "vkey": monitor.verifier().to_string(),
            "roles": ["monitor"], "affiliation": "OSCE"}),
        )
        .await;
    assert_eq!(code, 200);
    // The operator's own key is exempt: many entries in a row are fine.
    for i in 0..5 {
        let k = PrivateKey::generate(&format!("m{i}")).unwrap();
        let (code, _) = server
            .submit(
                &op,
                "key",
                json!({"id": format!("k{i}"), "vkey": k.verifier().to_string(),
                "roles": ["monitor"], "affiliation": "OSCE"}),
            )
            .await;
        assert_eq!(code, 200);
    }
    // A monitor's burst of 2, then 429 (its entries would be refused anyway: the limit is
    // checked first, so a flood costs the server nothing more than a signature check).
    let mut codes = Vec::new();
    let mut retry_after = None;
    for i in 0..3 {
        let env = truce_model::dsse::Envelope::sign(
            "key",
            json!({"id": format!("x{i}")}).to_string().as_bytes(),
            &[&monitor],
        );
        let resp = server
            .http
            .post(format!("{}/v1/entries", server.url))
            .body(env.canonical_json())
            .send()
            .await
            .unwrap();
        codes.push(resp.status().as_u16());
        if let Some(v) = resp.headers().get("retry-after") {
            retry_after = Some(v.to_str().unwrap().to_string());
        }
    }
    assert_eq!(codes, [403, 403, 429]);
    assert_eq!(retry_after.as_deref(), Some("1"));
}
