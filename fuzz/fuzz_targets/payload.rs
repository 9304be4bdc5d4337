//! `entry::Payload::parse(kind, &object)` for every `Kind`, on outside JSON objects.
//!
//! Input: JSON text (read with `parse_strict`; non-objects are skipped); or `0x00` + `arbitrary`
//! bytes that build an object from the payload vocabulary (known field names, valid and broken
//! vkeys, role names, grades, times, sha256 digests, ids, oversized documents…), so that the
//! checks past "is it a string" are reached.
//!
//! Invariants:
//! - never panics; a refusal lists at least one problem, each with a JSON pointer (empty or
//!   starting with `/`) and a message;
//! - an accepted payload is of the kind it was parsed as (`Payload::Key` only for `Kind::Key`…);
//! - an accepted payload has no unknown field and satisfies every documented bound (roles
//!   non-empty and distinct, affiliation 1–128 characters without control characters, ids valid,
//!   version 1–1,000,000, document non-empty within `MAX_DOCUMENT_BYTES`, at most `MAX_BLOBS`
//!   blobs, digests 64 lowercase hex) and holds the values written in the object;
//! - an accepted payload serialises.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use truce_fuzz::key_pool;
use truce_model::dsse::check_id;
use truce_model::entry::{
    AgreementPayload, ConsentPayload, KeyPayload, Kind, MAX_BLOBS, MAX_DOCUMENT_BYTES,
    MAX_REASON_CHARS, Payload, Ruling, TickPayload, is_sha256_hex,
};
use truce_model::keys::VerifierKey;

fuzz_target!(|data: &[u8]| {
    let obj = match data.split_first() {
        Some((&0, rest)) => object(&mut Unstructured::new(rest)),
        _ => match truce_model::json::parse_strict(data) {
            Ok(Value::Object(m)) => m,
            _ => return,
        },
    };
    for kind in Kind::ALL {
        check(kind, &obj);
    }
});

const FIELDS: &[&str] = &[
    "id",
    "vkey",
    "roles",
    "affiliation",
    "reliability",
    "valid_until",
    "revoke",
    "agreement",
    "version",
    "document",
    "blobs",
    "sha256",
    "time",
    "action",
    // Decisions and disputes.
    "incident",
    "status",
    "reason",
    "party",
    "confidence",
    // Observations (DESIGN §5), top level and nested.
    "observed",
    "observer",
    "event",
    "casualties",
    "grading",
    "evidence",
    "narrative",
    "alleged_party",
    "from",
    "to",
    "position",
    "mode",
    "type",
    "count",
    "approx",
    "location",
    "lat",
    "lon",
    "radius_m",
    "sector",
    "bearing_deg",
    "distance_km",
    "direction",
    "origin_bearing_deg",
    "weapon",
    "class",
    "calibre_mm",
    "targets",
    "civilian_killed",
    "low",
    "best",
    "high",
    "credibility",
    "media_type",
    "role",
];
const WORDS: &[&str] = &[
    "monitor",
    "sensor",
    "verifier",
    "party",
    "guarantor",
    "operator",
    "A",
    "B",
    "C",
    "D",
    "E",
    "F",
    "G",
    "a",
    "",
    "donbas-2026",
    "a b",
    "x/y",
    "2026-12-15T00:00:00Z",
    "2026-12-15T00:00:00+02:00",
    "2026-02-30T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "tomorrow",
    "agreement.toml",
    "contact_line.geojson",
    "explosion",
    "weapon-sighting",
    "artillery",
    "heard",
    "energy",
    "evidentiary",
    "image/jpeg",
    "RU",
];

fn vkeys() -> &'static [String] {
    static VKEYS: OnceLock<Vec<String>> = OnceLock::new();
    VKEYS.get_or_init(|| {
        key_pool()
            .iter()
            .map(|k| k.verifier().to_string())
            .collect()
    })
}

fn pick<'a, T>(u: &mut Unstructured<'_>, items: &'a [T]) -> &'a T {
    &items[u.choose_index(items.len()).unwrap_or(0)]
}

fn object(u: &mut Unstructured<'_>) -> Map<String, Value> {
    let mut m = Map::new();
    while !u.is_empty() && m.len() < 16 {
        let key = if u.ratio(1, 8).unwrap_or(false) {
            u.arbitrary::<String>().unwrap_or_default()
        } else {
            pick(u, FIELDS).to_string()
        };
        let v = value(u, 0);
        m.insert(key, v);
    }
    m
}

fn string(u: &mut Unstructured<'_>) -> String {
    match u.choose_index(8).unwrap_or(0) {
        0 => u.arbitrary::<String>().unwrap_or_default(),
        1 => {
            let v = pick(u, vkeys()).clone();
            // A valid key, or one with a byte changed.
            if u.arbitrary().unwrap_or(false) {
                v
            } else {
                let mut b = v.into_bytes();
                let i = u.choose_index(b.len()).unwrap_or(0);
                b[i] = u.arbitrary().unwrap_or(b'x');
                String::from_utf8_lossy(&b).into_owned()
            }
        }
        2 => {
            // 64 hex digits, sometimes not quite.
            let seed: u64 = u.arbitrary().unwrap_or(0);
            let mut s: String = (0..64)
                .map(|i| char::from(b"0123456789abcdef"[((seed >> (i % 60)) & 15) as usize]))
                .collect();
            match u.choose_index(4).unwrap_or(0) {
                0 => s.make_ascii_uppercase(),
                1 => {
                    s.pop();
                }
                _ => {}
            }
            s
        }
        3 => {
            // A long string, around the document limit.
            let n = MAX_DOCUMENT_BYTES - 2 + usize::from(u.arbitrary::<u8>().unwrap_or(0) % 4);
            "d".repeat(n)
        }
        4 => {
            // An id-like string around the length limit.
            let n = usize::from(u.arbitrary::<u8>().unwrap_or(0));
            "i".repeat(n)
        }
        _ => pick(u, WORDS).to_string(),
    }
}

fn value(u: &mut Unstructured<'_>, depth: u32) -> Value {
    match u.choose_index(if depth > 2 { 6 } else { 9 }).unwrap_or(0) {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary().unwrap_or(true)),
        2 => Value::from(*pick(u, &[0i64, 1, 2, 1_000_000, 1_000_001, -1, i64::MAX])),
        3 => Value::from(u.arbitrary::<i64>().unwrap_or(0)),
        4 => serde_json::Number::from_f64(u.arbitrary().unwrap_or(1.5))
            .map_or(Value::Null, Value::Number),
        5 => Value::String(string(u)),
        6 | 7 => {
            let n = u.choose_index(MAX_BLOBS + 2).unwrap_or(0).min(u.len());
            Value::Array((0..n).map(|_| value(u, depth + 1)).collect())
        }
        _ => {
            let n = u.choose_index(MAX_BLOBS + 2).unwrap_or(0).min(u.len());
            let mut m = Map::new();
            for i in 0..n {
                let k = if u.arbitrary().unwrap_or(true) {
                    format!("f{i}.geojson")
                } else {
                    string(u)
                };
                m.insert(k, value(u, depth + 1));
            }
            Value::Object(m)
        }
    }
}

fn check(kind: Kind, obj: &Map<String, Value>) {
    let result = Payload::parse(kind, obj);
    let payload = match result {
        Err(problems) => {
            assert!(!problems.is_empty(), "refused without a problem");
            for p in &problems {
                assert!(p.pointer.is_empty() || p.pointer.starts_with('/'), "{p:?}");
                assert!(!p.message.is_empty(), "{p:?}");
            }
            return;
        }
        Ok(p) => p,
    };
    let only = |allowed: &[&str]| {
        for k in obj.keys() {
            assert!(
                k == "id" || allowed.contains(&k.as_str()),
                "{kind}: unknown field {k:?} accepted"
            );
        }
    };
    let str_of = |k: &str| obj.get(k).and_then(Value::as_str);
    let version_ok = |v: u32| {
        (1..=1_000_000).contains(&v)
            && obj.get("version").and_then(Value::as_u64) == Some(u64::from(v))
    };
    match (&kind, &payload) {
        (Kind::Key, Payload::Key(KeyPayload::Revoke { vkey })) => {
            only(&["vkey", "revoke"]);
            assert_eq!(obj.get("revoke"), Some(&Value::Bool(true)));
            assert_eq!(
                str_of("vkey").map(VerifierKey::parse),
                Some(Ok(vkey.clone()))
            );
        }
        (
            Kind::Key,
            Payload::Key(KeyPayload::Accredit {
                vkey,
                roles,
                affiliation,
                ..
            }),
        ) => {
            only(&["vkey", "roles", "affiliation", "reliability", "valid_until"]);
            assert_eq!(
                str_of("vkey").map(VerifierKey::parse),
                Some(Ok(vkey.clone()))
            );
            assert!(!roles.is_empty(), "accredited without a role");
            for (i, r) in roles.iter().enumerate() {
                assert!(!roles[..i].contains(r), "role {r} listed twice");
            }
            assert!(
                !affiliation.is_empty()
                    && affiliation.len() <= 128
                    && !affiliation.chars().any(char::is_control),
                "affiliation {affiliation:?} accepted"
            );
            assert_eq!(str_of("affiliation"), Some(affiliation.as_str()));
        }
        (
            Kind::Agreement,
            Payload::Agreement(AgreementPayload {
                agreement,
                version,
                document,
                blobs,
            }),
        ) => {
            only(&["agreement", "version", "document", "blobs"]);
            assert!(check_id(agreement).is_ok());
            assert_eq!(str_of("agreement"), Some(agreement.as_str()));
            assert!(version_ok(*version), "version {version} accepted");
            assert!(!document.is_empty() && document.len() <= MAX_DOCUMENT_BYTES);
            assert_eq!(str_of("document"), Some(document.as_str()));
            assert!(blobs.len() <= MAX_BLOBS);
            let written = obj
                .get("blobs")
                .and_then(Value::as_object)
                .map_or(0, Map::len);
            assert_eq!(blobs.len(), written, "a blob was dropped");
            for (path, sha) in blobs {
                assert!(
                    is_sha256_hex(sha),
                    "blob {path:?} with digest {sha:?} accepted"
                );
            }
        }
        (
            Kind::Consent,
            Payload::Consent(ConsentPayload {
                agreement,
                version,
                sha256,
            }),
        ) => {
            only(&["agreement", "version", "sha256"]);
            assert!(check_id(agreement).is_ok());
            assert!(version_ok(*version), "version {version} accepted");
            assert!(is_sha256_hex(sha256));
            assert_eq!(str_of("sha256"), Some(sha256.as_str()));
        }
        (Kind::Decision, Payload::Decision(d)) => {
            only(&["incident", "status", "attribution", "reason"]);
            assert!(check_id(&d.incident).is_ok());
            assert_eq!(str_of("status"), Some(d.status.as_str()));
            assert!(d.attribution.is_none() || d.status == Ruling::Verified);
            let n = d.reason.chars().count();
            assert!((1..=MAX_REASON_CHARS).contains(&n), "reason of {n} characters");
        }
        (Kind::Dispute, Payload::Dispute(d)) => {
            only(&["incident", "reason"]);
            assert!(check_id(&d.incident).is_ok());
            assert!(!d.reason.is_empty() && d.reason.chars().count() <= MAX_REASON_CHARS);
        }
        (Kind::Tick, Payload::Tick(TickPayload { .. })) => {
            only(&["time"]);
            assert!(str_of("time").is_some(), "a tick without a time string");
        }
        (kind, payload) => {
            // A kind this target does not know yet: its payload must at least be of that kind.
            let variant = format!("{payload:?}").to_lowercase();
            assert!(
                variant.starts_with(&kind.as_str().replace('-', "")),
                "kind {kind} accepted as {payload:?}"
            );
        }
    }
    serde_json::to_vec(&payload).expect("an accepted payload serialises");
}
