//! Typed payloads of the entry kinds (DESIGN §3), checked field by field.
//!
//! [`Payload::parse`] turns an envelope's kind and payload object into a typed value or the full
//! list of what is wrong with it, each problem named by its JSON pointer, so that a 422 tells the
//! submitter every field to fix at once. Checks here are the ones that need nothing but the
//! payload itself; checks against the log's state (is the signer accredited, does the agreement
//! exist) belong to the engine.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::dsse::check_id;
pub use crate::field::{FieldError, is_sha256_hex};
use crate::keys::VerifierKey;
use crate::observation::Observation;

/// The entry kinds of DESIGN §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Kind {
    Key,
    Agreement,
    Consent,
    Observation,
    Decision,
    Dispute,
    Fulfilment,
    Commitment,
    Tick,
}

impl Kind {
    /// Every kind, in DESIGN order.
    pub const ALL: [Kind; 9] = [
        Kind::Key,
        Kind::Agreement,
        Kind::Consent,
        Kind::Observation,
        Kind::Decision,
        Kind::Dispute,
        Kind::Fulfilment,
        Kind::Commitment,
        Kind::Tick,
    ];

    /// The kind's name as it appears in `payloadType`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Key => "key",
            Kind::Agreement => "agreement",
            Kind::Consent => "consent",
            Kind::Observation => "observation",
            Kind::Decision => "decision",
            Kind::Dispute => "dispute",
            Kind::Fulfilment => "fulfilment",
            Kind::Commitment => "commitment",
            Kind::Tick => "tick",
        }
    }

    /// The kind named `s`, if any.
    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Roles a key can be accredited with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Monitor,
    Sensor,
    Verifier,
    Party,
    Guarantor,
    Operator,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Role::Monitor,
        Role::Sensor,
        Role::Verifier,
        Role::Party,
        Role::Guarantor,
        Role::Operator,
    ];

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Monitor => "monitor",
            Role::Sensor => "sensor",
            Role::Verifier => "verifier",
            Role::Party => "party",
            Role::Guarantor => "guarantor",
            Role::Operator => "operator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Admiralty source-reliability grade, `A` (completely reliable) to `F` (cannot be judged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Reliability {
    A,
    B,
    C,
    D,
    E,
    F,
}

/// A `key` entry: accredit a key with roles, or revoke it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum KeyPayload {
    Accredit {
        vkey: VerifierKey,
        roles: Vec<Role>,
        affiliation: String,
        reliability: Reliability,
        #[serde(skip_serializing_if = "Option::is_none")]
        valid_until: Option<jiff::Timestamp>,
    },
    Revoke {
        vkey: VerifierKey,
    },
}

/// An `agreement` entry: a version of an agreement document, proposed by the operator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgreementPayload {
    pub agreement: String,
    pub version: u32,
    pub document: String,
    /// Path as written in the document → sha256 (lowercase hex) of the file's bytes.
    pub blobs: BTreeMap<String, String>,
}

/// A `consent` entry: a party's signature on one version of an agreement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentPayload {
    pub agreement: String,
    pub version: u32,
    /// sha256 (lowercase hex) of the document text's UTF-8 bytes.
    pub sha256: String,
}

/// A verifier's ruling on an incident (the `status` of a `decision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ruling {
    /// The incident happened as reported.
    Verified,
    /// It did not, or the reports do not hold.
    Rejected,
}

impl Ruling {
    /// Every ruling.
    pub const ALL: [Ruling; 2] = [Ruling::Verified, Ruling::Rejected];

    /// The ruling named `s`.
    pub fn from_name(s: &str) -> Option<Ruling> {
        Ruling::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Its name in payloads and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Ruling::Verified => "verified",
            Ruling::Rejected => "rejected",
        }
    }
}

/// A `decision` entry: a verifier's ruling on an incident, optionally attributing it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionPayload {
    /// The incident id (the id of its earliest member observation).
    pub incident: String,
    pub status: Ruling,
    /// The party a confirmed attribution names (`attribution.party`; `confidence` is `confirmed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<String>,
    pub reason: String,
}

/// A `dispute` entry: a party's objection to an incident (its right of reply).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DisputePayload {
    pub incident: String,
    pub reason: String,
}

/// The longest `reason` accepted, in characters.
pub const MAX_REASON_CHARS: usize = 4_096;

/// A payload whose shape has been checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
// A payload lives for one admission; boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Payload {
    Key(KeyPayload),
    Agreement(AgreementPayload),
    Consent(ConsentPayload),
    Observation(Box<Observation>),
    Decision(DecisionPayload),
    Dispute(DisputePayload),
    Tick(TickPayload),
}

/// A `tick` entry: the server's statement that time has passed, so that deadlines fall due in
/// the log even when nobody submits anything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TickPayload {
    pub time: jiff::Timestamp,
}

/// The longest agreement document accepted, in bytes (it must fit in one leaf).
pub const MAX_DOCUMENT_BYTES: usize = 48 * 1024;
/// At most this many files referenced by one agreement.
pub const MAX_BLOBS: usize = 64;

/// Reads fields out of a payload object, collecting every problem.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    fn new(obj: &'a Map<String, Value>, allowed: &[&str]) -> Self {
        let mut errors = Vec::new();
        for k in obj.keys() {
            if k != "id" && !allowed.contains(&k.as_str()) {
                errors.push(FieldError::new(
                    format!("/{}", crate::json::escape_pointer(k)),
                    format!("unknown field; expected one of: {}", allowed.join(", ")),
                ));
            }
        }
        Fields { obj, errors }
    }

    fn err(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(pointer, message));
    }

    fn str(&mut self, key: &str) -> Option<&'a str> {
        match self.obj.get(key) {
            None => {
                self.err(format!("/{key}"), "missing");
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.err(format!("/{key}"), "must be a string");
                None
            }
        }
    }

    fn id_ref(&mut self, key: &str) -> Option<String> {
        let s = self.str(key)?;
        match check_id(s) {
            Ok(()) => Some(s.to_string()),
            Err(m) => {
                self.err(format!("/{key}"), m);
                None
            }
        }
    }

    fn version(&mut self) -> Option<u32> {
        match self.obj.get("version") {
            None => {
                self.err("/version", "missing");
                None
            }
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v @ 1..=1_000_000) => Some(v as u32),
                _ => {
                    self.err("/version", "must be an integer from 1");
                    None
                }
            },
            Some(_) => {
                self.err("/version", "must be an integer from 1");
                None
            }
        }
    }

    fn sha256(&mut self, pointer: &str, s: &str) -> bool {
        if is_sha256_hex(s) {
            true
        } else {
            self.err(pointer, "must be 64 lowercase hexadecimal digits (sha256)");
            false
        }
    }

    fn vkey(&mut self) -> Option<VerifierKey> {
        let s = self.str("vkey")?;
        match VerifierKey::parse(s) {
            Ok(k) => Some(k),
            Err(e) => {
                self.err("/vkey", e.to_string());
                None
            }
        }
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, Vec<FieldError>> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(self.errors),
        }
    }
}

fn parse_key(obj: &Map<String, Value>) -> Result<KeyPayload, Vec<FieldError>> {
    if obj.contains_key("revoke") {
        let mut f = Fields::new(obj, &["vkey", "revoke"]);
        if obj.get("revoke") != Some(&Value::Bool(true)) {
            f.err("/revoke", "must be true (omit it to accredit)");
        }
        let vkey = f.vkey();
        return f.finish(vkey.map(|vkey| KeyPayload::Revoke { vkey }));
    }
    let mut f = Fields::new(
        obj,
        &[
            "vkey",
            "roles",
            "affiliation",
            "reliability",
            "valid_until",
            "revoke",
        ],
    );
    let vkey = f.vkey();
    let mut roles = Vec::new();
    match obj.get("roles") {
        None => f.err("/roles", "missing"),
        Some(Value::Array(a)) if a.is_empty() => f.err("/roles", "at least one role"),
        Some(Value::Array(a)) => {
            for (i, r) in a.iter().enumerate() {
                match r
                    .as_str()
                    .and_then(|s| Role::ALL.into_iter().find(|x| x.as_str() == s))
                {
                    Some(role) if roles.contains(&role) => {
                        f.err(format!("/roles/{i}"), format!("{role} is listed twice"))
                    }
                    Some(role) => roles.push(role),
                    None => f.err(
                        format!("/roles/{i}"),
                        "must be one of monitor, sensor, verifier, party, guarantor, operator",
                    ),
                }
            }
        }
        Some(_) => f.err("/roles", "must be an array of role names"),
    }
    let affiliation = f.str("affiliation").map(str::to_string);
    if let Some(a) = &affiliation
        && (a.is_empty() || a.len() > 128 || a.chars().any(char::is_control))
    {
        f.err(
            "/affiliation",
            "must be 1 to 128 characters without control characters",
        );
    }
    let reliability = match obj.get("reliability") {
        None => Some(Reliability::F),
        Some(Value::String(s)) => match s.as_str() {
            "A" => Some(Reliability::A),
            "B" => Some(Reliability::B),
            "C" => Some(Reliability::C),
            "D" => Some(Reliability::D),
            "E" => Some(Reliability::E),
            "F" => Some(Reliability::F),
            _ => None,
        },
        Some(_) => None,
    };
    if reliability.is_none() {
        f.err("/reliability", "must be an Admiralty grade \"A\" to \"F\"");
    }
    let valid_until = match obj.get("valid_until") {
        None => None,
        Some(Value::String(s)) => match s.parse::<jiff::Timestamp>() {
            Ok(t) => Some(t),
            Err(e) => {
                f.err("/valid_until", format!("not an RFC 3339 time: {e}"));
                None
            }
        },
        Some(_) => {
            f.err("/valid_until", "must be an RFC 3339 time string");
            None
        }
    };
    let value = match (vkey, affiliation, reliability) {
        (Some(vkey), Some(affiliation), Some(reliability)) => Some(KeyPayload::Accredit {
            vkey,
            roles,
            affiliation,
            reliability,
            valid_until,
        }),
        _ => None,
    };
    f.finish(value)
}

fn parse_agreement(obj: &Map<String, Value>) -> Result<AgreementPayload, Vec<FieldError>> {
    let mut f = Fields::new(obj, &["agreement", "version", "document", "blobs"]);
    let agreement = f.id_ref("agreement");
    let version = f.version();
    let document = f.str("document").map(str::to_string);
    if let Some(d) = &document {
        if d.is_empty() {
            f.err("/document", "empty");
        } else if d.len() > MAX_DOCUMENT_BYTES {
            f.err(
                "/document",
                format!(
                    "{} bytes; the limit is {MAX_DOCUMENT_BYTES} (large geometry goes in blobs)",
                    d.len()
                ),
            );
        }
    }
    let mut blobs = BTreeMap::new();
    match obj.get("blobs") {
        None => {}
        Some(Value::Object(m)) => {
            if m.len() > MAX_BLOBS {
                f.err("/blobs", format!("at most {MAX_BLOBS} files"));
            }
            for (path, v) in m {
                let p = format!("/blobs/{}", crate::json::escape_pointer(path));
                match v {
                    Value::String(h) if f.sha256(&p, h) => {
                        blobs.insert(path.clone(), h.clone());
                    }
                    Value::String(_) => {}
                    _ => f.err(p, "must be the sha256 hex string of the file"),
                }
            }
        }
        Some(_) => f.err("/blobs", "must be an object mapping paths to sha256 hex"),
    }
    let value = match (agreement, version, document) {
        (Some(agreement), Some(version), Some(document)) => Some(AgreementPayload {
            agreement,
            version,
            document,
            blobs,
        }),
        _ => None,
    };
    f.finish(value)
}

fn parse_consent(obj: &Map<String, Value>) -> Result<ConsentPayload, Vec<FieldError>> {
    let mut f = Fields::new(obj, &["agreement", "version", "sha256"]);
    let agreement = f.id_ref("agreement");
    let version = f.version();
    let sha = f.str("sha256").map(str::to_string);
    let sha = sha.filter(|s| f.sha256("/sha256", s));
    let value = match (agreement, version, sha) {
        (Some(agreement), Some(version), Some(sha256)) => Some(ConsentPayload {
            agreement,
            version,
            sha256,
        }),
        _ => None,
    };
    f.finish(value)
}

/// `reason`: required, 1 to [`MAX_REASON_CHARS`] characters, no control characters but line
/// breaks and tabs.
fn reason(f: &mut Fields<'_>) -> Option<String> {
    let r = f.str("reason")?;
    let n = r.chars().count();
    if n == 0 || n > MAX_REASON_CHARS {
        f.err(
            "/reason",
            format!("must be 1 to {MAX_REASON_CHARS} characters (it has {n})"),
        );
        return None;
    }
    if r.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        f.err(
            "/reason",
            "control characters other than line breaks and tabs",
        );
        return None;
    }
    Some(r.to_string())
}

fn parse_decision(obj: &Map<String, Value>) -> Result<DecisionPayload, Vec<FieldError>> {
    let mut f = Fields::new(obj, &["incident", "status", "attribution", "reason"]);
    let incident = f.id_ref("incident");
    let status = f.str("status").and_then(|name| {
        let r = Ruling::from_name(name);
        if r.is_none() {
            f.err("/status", "must be \"verified\" or \"rejected\"");
        }
        r
    });
    let mut attribution = None;
    match obj.get("attribution") {
        None => {}
        Some(Value::Object(a)) => {
            for k in a.keys() {
                if k != "party" && k != "confidence" {
                    f.err(
                        format!("/attribution/{}", crate::json::escape_pointer(k)),
                        "unknown field; expected one of: party, confidence",
                    );
                }
            }
            match a.get("party") {
                Some(Value::String(p)) => match check_id(p) {
                    Ok(()) => attribution = Some(p.clone()),
                    Err(m) => f.err("/attribution/party", m),
                },
                Some(_) => f.err("/attribution/party", "must be a party id string"),
                None => f.err("/attribution/party", "missing"),
            }
            if a.get("confidence") != Some(&Value::String("confirmed".into())) {
                f.err(
                    "/attribution/confidence",
                    "must be \"confirmed\" (a verifier's attribution is a confirmation)",
                );
            }
        }
        Some(_) => f.err("/attribution", "must be an object {party, confidence}"),
    }
    if attribution.is_some() && status == Some(Ruling::Rejected) {
        f.err(
            "/attribution",
            "a rejected incident cannot be attributed; omit attribution or rule \"verified\"",
        );
    }
    let reason = reason(&mut f);
    let value = match (incident, status, reason) {
        (Some(incident), Some(status), Some(reason)) => Some(DecisionPayload {
            incident,
            status,
            attribution,
            reason,
        }),
        _ => None,
    };
    f.finish(value)
}

fn parse_dispute(obj: &Map<String, Value>) -> Result<DisputePayload, Vec<FieldError>> {
    let mut f = Fields::new(obj, &["incident", "reason"]);
    let incident = f.id_ref("incident");
    let reason = reason(&mut f);
    let value = match (incident, reason) {
        (Some(incident), Some(reason)) => Some(DisputePayload { incident, reason }),
        _ => None,
    };
    f.finish(value)
}

fn parse_tick(obj: &Map<String, Value>) -> Result<TickPayload, Vec<FieldError>> {
    let mut f = Fields::new(obj, &["time"]);
    let time = f
        .str("time")
        .and_then(|s| match s.parse::<jiff::Timestamp>() {
            Ok(t) => Some(t),
            Err(e) => {
                f.err("/time", format!("not an RFC 3339 time: {e}"));
                None
            }
        });
    f.finish(time.map(|time| TickPayload { time }))
}

impl Payload {
    /// Checks the payload object of an entry of `kind`. Kinds this build does not accept yet
    /// are refused with a problem at `/`.
    pub fn parse(kind: Kind, obj: &Map<String, Value>) -> Result<Payload, Vec<FieldError>> {
        match kind {
            Kind::Key => parse_key(obj).map(Payload::Key),
            Kind::Agreement => parse_agreement(obj).map(Payload::Agreement),
            Kind::Consent => parse_consent(obj).map(Payload::Consent),
            Kind::Observation => Observation::parse(obj).map(|o| Payload::Observation(Box::new(o))),
            Kind::Decision => parse_decision(obj).map(Payload::Decision),
            Kind::Dispute => parse_dispute(obj).map(Payload::Dispute),
            Kind::Tick => parse_tick(obj).map(Payload::Tick),
            other => Err(vec![FieldError::new(
                "",
                format!("entries of kind {other} are not accepted by this server version"),
            )]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn pointers(r: Result<Payload, Vec<FieldError>>) -> Vec<String> {
        r.expect_err("should be refused")
            .into_iter()
            .map(|e| e.pointer)
            .collect()
    }

    #[test]
    fn key_accredit_and_revoke() {
        let v = PrivateKey::from_seed("m1", [1; 32]).unwrap().verifier();
        let p = Payload::parse(
            Kind::Key,
            &obj(serde_json::json!({"id":"k1","vkey":v.to_string(),"roles":["monitor","sensor"],"affiliation":"OSCE"})),
        )
        .unwrap();
        let Payload::Key(KeyPayload::Accredit {
            roles, reliability, ..
        }) = p
        else {
            panic!()
        };
        assert_eq!(roles, vec![Role::Monitor, Role::Sensor]);
        assert_eq!(reliability, Reliability::F);
        let p = Payload::parse(
            Kind::Key,
            &obj(serde_json::json!({"id":"k2","vkey":v.to_string(),"revoke":true})),
        )
        .unwrap();
        assert!(matches!(p, Payload::Key(KeyPayload::Revoke { .. })));
    }

    #[test]
    fn key_reports_every_bad_field() {
        let got = pointers(Payload::parse(
            Kind::Key,
            &obj(
                serde_json::json!({"id":"k1","vkey":"nope","roles":["monitor","king","monitor"],
                "affiliation":"","reliability":"G","valid_until":"tomorrow","colour":"red"}),
            ),
        ));
        assert_eq!(
            got,
            vec![
                "/colour",
                "/vkey",
                "/roles/1",
                "/roles/2",
                "/affiliation",
                "/reliability",
                "/valid_until"
            ]
        );
        let got = pointers(Payload::parse(
            Kind::Key,
            &obj(serde_json::json!({"id":"k1","vkey":"nope","revoke":false,"roles":[]})),
        ));
        assert_eq!(got, vec!["/roles", "/revoke", "/vkey"]);
    }

    #[test]
    fn agreement_and_consent_fields() {
        let got = pointers(Payload::parse(
            Kind::Agreement,
            &obj(
                serde_json::json!({"id":"a","agreement":"bad id","version":0,"document":"",
                "blobs":{"x.geojson":"ABC","y.geojson":7}}),
            ),
        ));
        assert_eq!(
            got,
            vec![
                "/agreement",
                "/version",
                "/document",
                "/blobs/x.geojson",
                "/blobs/y.geojson"
            ]
        );
        let got = pointers(Payload::parse(
            Kind::Consent,
            &obj(serde_json::json!({"id":"c","agreement":"a","version":"1","sha256":"00"})),
        ));
        assert_eq!(got, vec!["/version", "/sha256"]);
        let ok = Payload::parse(
            Kind::Consent,
            &obj(serde_json::json!({"id":"c","agreement":"a","version":2,"sha256":"a".repeat(64)})),
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn unsupported_kinds_are_refused() {
        assert_eq!(
            pointers(Payload::parse(
                Kind::Fulfilment,
                &obj(serde_json::json!({"id":"f"}))
            )),
            vec![""]
        );
    }

    #[test]
    fn decision_and_dispute_fields() {
        let ok = Payload::parse(
            Kind::Decision,
            &obj(
                serde_json::json!({"id":"d","incident":"o-1","status":"verified",
                "attribution":{"party":"RU","confidence":"confirmed"},"reason":"crater analysis"}),
            ),
        )
        .unwrap();
        let Payload::Decision(d) = ok else { panic!() };
        assert_eq!(d.status, Ruling::Verified);
        assert_eq!(d.attribution.as_deref(), Some("RU"));
        let got = pointers(Payload::parse(
            Kind::Decision,
            &obj(
                serde_json::json!({"id":"d","incident":"a b","status":"maybe",
                "attribution":{"party":7,"confidence":"likely","x":1},"reason":"","extra":1}),
            ),
        ));
        assert_eq!(
            got,
            vec![
                "/extra",
                "/incident",
                "/status",
                "/attribution/x",
                "/attribution/party",
                "/attribution/confidence",
                "/reason"
            ]
        );
        let got = pointers(Payload::parse(
            Kind::Decision,
            &obj(
                serde_json::json!({"id":"d","incident":"i","status":"rejected",
                "attribution":{"party":"UA","confidence":"confirmed"},"reason":"no"}),
            ),
        ));
        assert_eq!(got, vec!["/attribution"]);
        let got = pointers(Payload::parse(
            Kind::Dispute,
            &obj(serde_json::json!({"id":"x","reason":"a\u{0007}b"})),
        ));
        assert_eq!(got, vec!["/incident", "/reason"]);
        assert!(
            Payload::parse(
                Kind::Dispute,
                &obj(serde_json::json!({"id":"x","incident":"o-1","reason":"we were not there\n"})),
            )
            .is_ok()
        );
    }
}
