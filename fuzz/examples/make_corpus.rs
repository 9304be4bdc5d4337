//! Writes the seed corpora `fuzz/corpus/<target>/` from real, valid inputs: envelopes and leaves
//! signed by this code, the repository's key vectors and example agreements.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example make_corpus` (deterministic: fixed seeds
//! and times, so re-running it changes nothing unless a format changed).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use truce_fuzz::key_pool;
use truce_log::leaf::Leaf;
use truce_model::agreement::{MapResolver, check, referenced_files};
use truce_model::dsse::Envelope;
use truce_model::keys::PrivateKey;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> Vec<u8> {
    fs::read(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = root().join("fuzz/corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

/// A document and its geometry files joined as the agreement target reads them.
fn agreement_input(toml_path: &str) -> Vec<u8> {
    let text = String::from_utf8(read(toml_path)).unwrap();
    let dir = Path::new(toml_path).parent().unwrap();
    let mut out = text.clone().into_bytes();
    let mut files = BTreeMap::new();
    for f in referenced_files(&text).expect("the example's files") {
        let bytes = read(dir.join(&f).to_str().unwrap());
        out.push(0);
        out.extend_from_slice(&bytes);
        files.insert(f, bytes);
    }
    check("agreement.toml", &text, &MapResolver(files))
        .unwrap_or_else(|p| panic!("{toml_path} is not valid: {p:?}"));
    out
}

fn main() {
    let keys = key_pool();
    let (op, monitor, party) = (&keys[0], &keys[1], &keys[2]);
    let doc = String::from_utf8(read(
        "crates/truce-model/tests/agreement/valid/agreement.toml",
    ))
    .unwrap();

    let payloads: Vec<(&str, &str, serde_json::Value)> = vec![
        (
            "key",
            "key-accredit",
            serde_json::json!({
            "id": "k-monitor-1", "vkey": monitor.verifier().to_string(),
            "roles": ["monitor", "sensor"], "affiliation": "OSCE SMM", "reliability": "B",
            "valid_until": "2027-12-31T23:59:59Z"}),
        ),
        (
            "key",
            "key-revoke",
            serde_json::json!({
            "id": "k-monitor-1-revoked", "vkey": monitor.verifier().to_string(), "revoke": true}),
        ),
        (
            "agreement",
            "agreement",
            serde_json::json!({
            "id": "donbas-2026-v1", "agreement": "donbas-2026", "version": 1, "document": doc,
            "blobs": {
                "contact_line.geojson": sha256_hex(&read("crates/truce-model/tests/agreement/valid/contact_line.geojson")),
                "ua_held.geojson": sha256_hex(&read("crates/truce-model/tests/agreement/valid/ua_held.geojson")),
                "ru_held.geojson": sha256_hex(&read("crates/truce-model/tests/agreement/valid/ru_held.geojson"))}}),
        ),
        (
            "consent",
            "consent",
            serde_json::json!({
            "id": "c-ua-1", "agreement": "donbas-2026", "version": 1,
            "sha256": sha256_hex(doc.as_bytes())}),
        ),
        (
            "decision",
            "decision",
            serde_json::json!({
            "id": "d-1", "incident": "obs-17", "status": "verified",
            "attribution": {"party": "RU", "confidence": "confirmed"},
            "reason": "crater analysis: 122 mm, fired from the north-east"}),
        ),
        (
            "dispute",
            "dispute",
            serde_json::json!({"id": "x-1", "incident": "obs-17", "reason": "our positions were 20 km away"}),
        ),
        (
            "tick",
            "tick",
            serde_json::json!({"id": "t-1", "time": "2026-12-15T00:00:00Z"}),
        ),
    ];

    for (kind, name, payload) in &payloads {
        let bytes = serde_json::to_vec(payload).unwrap();
        write("payload", &format!("{name}.json"), &bytes);
        write(
            "strict_json",
            &format!("{name}.json"),
            &serde_json::to_vec_pretty(payload).unwrap(),
        );
        let signers: Vec<&PrivateKey> = match *kind {
            "consent" => vec![party, op],
            _ => vec![op],
        };
        let env = Envelope::sign(kind, &bytes, &signers);
        write(
            "dsse_envelope",
            &format!("{name}.json"),
            &env.canonical_json(),
        );
        let leaf = Leaf {
            time_ms: 1_765_756_800_000 + bytes.len() as i64,
            envelope: env,
        };
        write("leaf", &format!("{name}.leaf"), &leaf.encode());
    }
    // Another spelling of an envelope: reordered fields, whitespace, URL-safe unpadded base64.
    {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let env = Envelope::sign("key", br#"{"id":"k2","vkey":"x"}"#, &[op]);
        let text = format!(
            "{{\n  \"signatures\": [ {{ \"sig\": \"{}\", \"keyid\": \"{}\" }} ],\n  \"payload\": \"{}\",\n  \"payloadType\": \"application\\/vnd.truce.key+json\"\n}}\n",
            URL_SAFE_NO_PAD.encode(&env.signatures()[0].sig),
            env.signatures()[0].keyid,
            URL_SAFE_NO_PAD.encode(env.payload()),
        );
        assert_eq!(Envelope::parse(text.as_bytes()).unwrap(), env);
        write("dsse_envelope", "spelled.json", text.as_bytes());
    }
    // Structured-mode seeds (tag byte, then bytes for `arbitrary`).
    write(
        "dsse_envelope",
        "built.bin",
        b"\x00\x01key\x00{\"id\":\"a\"}\x00\x02",
    );
    write(
        "leaf",
        "built.bin",
        b"\x00\x10\x20\x30\x40\x50\x60\x70\x00tick\x00{\"id\":\"t\"}\x01",
    );
    write(
        "payload",
        "built.bin",
        b"\x00\x01\x05\x01\x02\x03\x05\x05\x07\x02\x0a\x05\x09",
    );

    // JSON the strict parser sees in practice, and its edge cases.
    write(
        "strict_json",
        "contact_line.geojson",
        &read("crates/truce-model/tests/agreement/valid/contact_line.geojson"),
    );
    write(
        "strict_json",
        "ru_held.geojson",
        &read("crates/truce-model/tests/agreement/valid/ru_held.geojson"),
    );
    write("strict_json", "values.json", br#"[0,-0,1e300,-1.5e-300,18446744073709551615,-9223372036854775808,0.1,"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t",true,false,null,{},[],{"a":{"b":[{"c":null}]}}]"#);
    write(
        "strict_json",
        "duplicate.json",
        br#"{"a":1,"b":{"k/~":1,"k/~":2}}"#,
    );

    // Keys: the independent vectors, Go's signed-note example, the Donbas demo keys.
    write(
        "keys",
        "test.key",
        &read("crates/truce-model/tests/keys/test.key"),
    );
    write(
        "keys",
        "test.vkey",
        &read("crates/truce-model/tests/keys/test.vkey"),
    );
    write(
        "keys",
        "go-note.vkey",
        b"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    );
    write(
        "keys",
        "go-note.key",
        b"PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    );
    write(
        "keys",
        "ukraine.key",
        &read("examples/donbas/keys/ukraine.key"),
    );
    write(
        "keys",
        "ukraine.vkey",
        b"ukraine+c4d1217c+ARcrpPXzWfRiXPSeOrRmcrWakUlmYx3jl0n+e+njIG/8",
    );
    write(
        "keys",
        "built-verifier.bin",
        b"\x00\x05party\x01\x00ABCDEFGHIJKLMNOPQRSTUVWXYZ012345\x00\x00",
    );
    // Structured mode 0x00: name "x", a valid point in a non-canonical encoding (y = p + 3 ≥ p),
    // matching keyid. Random bytes never land on the 38 such encodings.
    let mut noncanonical = vec![0x00, b'x', 0x01, 0, 0, 0, 0, 0xf0];
    noncanonical.extend([0xff; 30]);
    noncanonical.extend([0x7f, 0, 0, 1]);
    write("keys", "built-noncanonical-point.bin", &noncanonical);
    write(
        "keys",
        "built-private.bin",
        b"\x01\x09monitor-1ABCDEFGHIJKLMNOPQRSTUVWXYZ012345\x00\x00\x40",
    );

    // Agreements with their geometry files, in referenced order.
    write(
        "agreement",
        "donbas.bin",
        &agreement_input("examples/donbas/agreement.toml"),
    );
    for f in ["agreement", "blocks", "inline"] {
        write(
            "agreement",
            &format!("valid-{f}.bin"),
            &agreement_input(&format!(
                "crates/truce-model/tests/agreement/valid/{f}.toml"
            )),
        );
    }
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
