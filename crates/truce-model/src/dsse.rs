//! Entries as DSSE envelopes (DESIGN §3).
//!
//! An entry is `{"payloadType", "payload", "signatures": [{"keyid", "sig"}]}`, signed over the
//! pre-authentication encoding `PAE = "DSSEv1" SP len(type) SP type SP len(body) SP body`.
//!
//! Parsing is strict because the envelope ends up, byte for byte, in a public log that other
//! implementations audit:
//! - unknown fields, duplicate JSON keys and non-JSON payloads are refused (two parsers must
//!   never see two different entries in the same bytes);
//! - the envelope is re-serialised in one canonical form — compact JSON, fixed field order,
//!   standard padded base64 — so that "the same envelope" means the same bytes in the leaf;
//! - sizes are bounded before anything is decoded: an envelope that could not fit in a leaf
//!   (65,535 bytes, the tile entry-bundle limit) is refused outright.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

use crate::json::{self, StrictJsonError};
use crate::keys::PrivateKey;

/// The media-type prefix of every truce payload: `application/vnd.truce.<kind>+json`.
pub const PAYLOAD_TYPE_PREFIX: &str = "application/vnd.truce.";
/// The media-type suffix of every truce payload.
pub const PAYLOAD_TYPE_SUFFIX: &str = "+json";
/// The largest canonical envelope, in bytes: a leaf adds `{"time_ms":…,"envelope":…}` (at most
/// 45 bytes) and must stay within 65,535 bytes.
pub const MAX_ENVELOPE_BYTES: usize = 65_400;
/// At most this many signatures on one envelope.
pub const MAX_SIGNATURES: usize = 8;
/// Longest `keyid` accepted (a key name of up to 128 bytes, `+`, 8 hex digits).
pub const MAX_KEYID_LEN: usize = 137;
/// Longest payload `id`.
pub const MAX_ID_LEN: usize = 128;

/// Why an envelope was refused. `pointer` fields are JSON pointers into the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DsseError {
    /// Larger than [`MAX_ENVELOPE_BYTES`].
    TooLarge { size: usize, limit: usize },
    /// The envelope is not the DSSE JSON shape.
    Malformed { pointer: String, message: String },
    /// The payload decodes but is not an acceptable truce payload (not a JSON object, no `id`…).
    InvalidPayload { pointer: String, message: String },
}

impl DsseError {
    fn malformed(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        DsseError::Malformed {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
    fn payload(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        DsseError::InvalidPayload {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for DsseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DsseError::TooLarge { size, limit } => {
                write!(f, "the envelope is {size} bytes, the limit is {limit}")
            }
            DsseError::Malformed { pointer, message } => {
                write!(f, "malformed envelope at {pointer:?}: {message}")
            }
            DsseError::InvalidPayload { pointer, message } => {
                write!(f, "invalid payload at {pointer:?}: {message}")
            }
        }
    }
}

impl std::error::Error for DsseError {}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// `<key name>+<keyid hex>`.
    pub keyid: String,
    /// The raw signature bytes.
    pub sig: Vec<u8>,
}

/// A parsed DSSE envelope with its decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    payload_type: String,
    payload: Vec<u8>,
    signatures: Vec<EnvelopeSignature>,
}

/// Decodes base64 in any of the spellings DSSE allows (standard or URL-safe, padded or not).
fn decode_b64(s: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| URL_SAFE_NO_PAD.decode(s))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
        .ok()
}

/// The DSSE v1 pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// The payload type of entries of `kind`.
pub fn payload_type_for(kind: &str) -> String {
    format!("{PAYLOAD_TYPE_PREFIX}{kind}{PAYLOAD_TYPE_SUFFIX}")
}

fn str_field<'a>(
    obj: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
    pointer: &str,
) -> Result<&'a str, DsseError> {
    match obj.get(key) {
        None => Err(DsseError::malformed(pointer, "missing")),
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(_) => Err(DsseError::malformed(pointer, "must be a string")),
    }
}

/// The rest of an envelope being read by [`Envelope::from_canonical`].
struct Layout<'a>(&'a [u8]);

impl<'a> Layout<'a> {
    /// Consumes `prefix`.
    fn expect(&mut self, prefix: &[u8]) -> Option<()> {
        self.0 = self.0.strip_prefix(prefix)?;
        Some(())
    }

    /// The bytes up to the next `"`, which is consumed.
    fn until_quote(&mut self) -> Option<&'a [u8]> {
        let end = self.0.iter().position(|&b| b == b'"')?;
        let (text, rest) = self.0.split_at(end);
        self.0 = &rest[1..];
        Some(text)
    }

    /// A JSON string's contents up to its closing quote, which is consumed, if they need no
    /// escape: valid UTF-8 without a backslash or a control character.
    fn plain_string(&mut self) -> Option<&'a str> {
        let text = self.until_quote()?;
        if text.iter().any(|&b| b == b'\\' || b < 0x20) {
            return None;
        }
        std::str::from_utf8(text).ok()
    }
}

impl Envelope {
    /// Parses an envelope from its JSON bytes (see the module docs for the rules).
    pub fn parse(bytes: &[u8]) -> Result<Envelope, DsseError> {
        Envelope::parse_canonical(bytes).map(|(env, _)| env)
    }

    /// [`Envelope::parse`], with the envelope's canonical form ([`Envelope::canonical_json`]),
    /// which parsing builds anyway to check the size: callers that log or compare the canonical
    /// bytes need not build them again.
    pub fn parse_canonical(bytes: &[u8]) -> Result<(Envelope, Vec<u8>), DsseError> {
        // The canonical form is never longer than a compact input, and base64 is ≥ 4/3 of the
        // bytes; a generous bound on the raw input keeps hostile whitespace from costing much.
        if bytes.len() > 2 * MAX_ENVELOPE_BYTES {
            return Err(DsseError::TooLarge {
                size: bytes.len(),
                limit: MAX_ENVELOPE_BYTES,
            });
        }
        let value = json::parse_strict(bytes).map_err(|e| match e {
            StrictJsonError::Syntax(m) => DsseError::malformed("", format!("not JSON: {m}")),
            StrictJsonError::DuplicateKey { pointer, key } => {
                DsseError::malformed(pointer, format!("duplicate key {key:?}"))
            }
        })?;
        let serde_json::Value::Object(obj) = value else {
            return Err(DsseError::malformed("", "an envelope is a JSON object"));
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "payloadType" | "payload" | "signatures"))
        {
            return Err(DsseError::malformed(
                format!("/{}", json::escape_pointer(k)),
                "unknown field",
            ));
        }
        let payload_type = str_field(&obj, "payloadType", "/payloadType")?.to_string();
        let payload = decode_b64(str_field(&obj, "payload", "/payload")?)
            .ok_or_else(|| DsseError::malformed("/payload", "not base64"))?;
        let sigs = match obj.get("signatures") {
            None => return Err(DsseError::malformed("/signatures", "missing")),
            Some(serde_json::Value::Array(a)) => a,
            Some(_) => return Err(DsseError::malformed("/signatures", "must be an array")),
        };
        if sigs.is_empty() {
            return Err(DsseError::malformed(
                "/signatures",
                "at least one signature is required",
            ));
        }
        if sigs.len() > MAX_SIGNATURES {
            return Err(DsseError::malformed(
                "/signatures",
                format!("at most {MAX_SIGNATURES} signatures"),
            ));
        }
        let mut signatures = Vec::with_capacity(sigs.len());
        for (i, s) in sigs.iter().enumerate() {
            let p = format!("/signatures/{i}");
            let serde_json::Value::Object(s) = s else {
                return Err(DsseError::malformed(p, "a signature is an object"));
            };
            if let Some(k) = s.keys().find(|k| !matches!(k.as_str(), "keyid" | "sig")) {
                return Err(DsseError::malformed(
                    format!("{p}/{}", json::escape_pointer(k)),
                    "unknown field",
                ));
            }
            let keyid = str_field(s, "keyid", &format!("{p}/keyid"))?;
            if keyid.is_empty() || keyid.len() > MAX_KEYID_LEN {
                return Err(DsseError::malformed(
                    format!("{p}/keyid"),
                    "must name the key as <name>+<keyid hex>",
                ));
            }
            let sig = decode_b64(str_field(s, "sig", &format!("{p}/sig"))?)
                .ok_or_else(|| DsseError::malformed(format!("{p}/sig"), "not base64"))?;
            if sig.len() != 64 {
                return Err(DsseError::malformed(
                    format!("{p}/sig"),
                    format!("an Ed25519 signature is 64 bytes, not {}", sig.len()),
                ));
            }
            signatures.push(EnvelopeSignature {
                keyid: keyid.to_string(),
                sig,
            });
        }
        let env = Envelope {
            payload_type,
            payload,
            signatures,
        };
        let canonical = env.canonical_json();
        let size = canonical.len();
        if size > MAX_ENVELOPE_BYTES {
            return Err(DsseError::TooLarge {
                size,
                limit: MAX_ENVELOPE_BYTES,
            });
        }
        Ok((env, canonical))
    }

    /// The envelope whose canonical form ([`Envelope::canonical_json`]) is exactly `bytes`, read
    /// without a JSON parser; `None` when `bytes` are not in that form, or spell a string with an
    /// escape, or break one of [`Envelope::parse`]'s limits: [`Envelope::parse_canonical`] then
    /// decides, and says why.
    ///
    /// Why: replay reads a million envelopes that a server wrote in canonical form, and a JSON
    /// parse, a base64 re-encoding and a comparison per envelope cost more than reading the
    /// fixed layout. The two agree: standard padded base64 that decodes is the encoding of what
    /// it decodes to (canonical padding, no trailing bits), and a JSON string with no backslash
    /// and no control character is written back as it is (tests and the `dsse_envelope` fuzz
    /// target compare them).
    pub fn from_canonical(bytes: &[u8]) -> Option<Envelope> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return None;
        }
        let mut r = Layout(bytes);
        r.expect(b"{\"payloadType\":\"")?;
        let payload_type = r.plain_string()?.to_string();
        r.expect(b",\"payload\":\"")?;
        let payload = STANDARD.decode(r.until_quote()?).ok()?;
        r.expect(b",\"signatures\":[")?;
        let mut signatures = Vec::with_capacity(1);
        loop {
            r.expect(b"{\"keyid\":\"")?;
            let keyid = r.plain_string()?;
            r.expect(b",\"sig\":\"")?;
            let sig = STANDARD.decode(r.until_quote()?).ok()?;
            r.expect(b"}")?;
            if keyid.is_empty() || keyid.len() > MAX_KEYID_LEN || sig.len() != 64 {
                return None;
            }
            signatures.push(EnvelopeSignature {
                keyid: keyid.to_string(),
                sig,
            });
            if signatures.len() > MAX_SIGNATURES {
                return None;
            }
            if r.expect(b",").is_none() {
                break;
            }
        }
        r.expect(b"]}")?;
        r.0.is_empty().then_some(Envelope {
            payload_type,
            payload,
            signatures,
        })
    }

    /// Signs `payload` as an entry of `kind` with every key in `keys`.
    pub fn sign(kind: &str, payload: &[u8], keys: &[&PrivateKey]) -> Envelope {
        let payload_type = payload_type_for(kind);
        let msg = pae(&payload_type, payload);
        Envelope {
            signatures: keys
                .iter()
                .map(|k| EnvelopeSignature {
                    keyid: k.signer_id(),
                    sig: k.sign(&msg).to_vec(),
                })
                .collect(),
            payload_type,
            payload: payload.to_vec(),
        }
    }

    /// The `payloadType`.
    pub fn payload_type(&self) -> &str {
        &self.payload_type
    }

    /// The decoded payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The signatures, in envelope order.
    pub fn signatures(&self) -> &[EnvelopeSignature] {
        &self.signatures
    }

    /// The bytes every signature signs.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// The entry kind named by `application/vnd.truce.<kind>+json`.
    pub fn kind(&self) -> Result<&str, DsseError> {
        self.payload_type
            .strip_prefix(PAYLOAD_TYPE_PREFIX)
            .and_then(|k| k.strip_suffix(PAYLOAD_TYPE_SUFFIX))
            .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
            .ok_or_else(|| {
                DsseError::malformed(
                    "/payloadType",
                    format!(
                        "{:?} is not of the form application/vnd.truce.<kind>+json",
                        self.payload_type.chars().take(80).collect::<String>()
                    ),
                )
            })
    }

    /// The payload as a JSON object (strict: no duplicate keys) with a valid string `id`.
    pub fn payload_object(
        &self,
    ) -> Result<(String, serde_json::Map<String, serde_json::Value>), DsseError> {
        let value = json::parse_strict(&self.payload).map_err(|e| match e {
            StrictJsonError::Syntax(m) => {
                DsseError::payload("", format!("the payload is not JSON: {m}"))
            }
            StrictJsonError::DuplicateKey { pointer, key } => {
                DsseError::payload(pointer, format!("duplicate key {key:?}"))
            }
        })?;
        let serde_json::Value::Object(obj) = value else {
            return Err(DsseError::payload("", "the payload must be a JSON object"));
        };
        let id = match obj.get("id") {
            None => return Err(DsseError::payload("/id", "missing")),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(_) => return Err(DsseError::payload("/id", "must be a string")),
        };
        check_id(&id).map_err(|m| DsseError::payload("/id", m))?;
        Ok((id, obj))
    }

    /// The canonical JSON form: compact, fields in DSSE order, standard padded base64.
    pub fn canonical_json(&self) -> Vec<u8> {
        let sigs: Vec<serde_json::Value> = self
            .signatures
            .iter()
            .map(|s| serde_json::json!({"keyid": s.keyid, "sig": STANDARD.encode(&s.sig)}))
            .collect();
        let mut out = Vec::with_capacity(self.payload.len() * 4 / 3 + 256);
        out.extend_from_slice(b"{\"payloadType\":");
        // Serialising strings and arrays of them cannot fail.
        out.extend_from_slice(&serde_json::to_vec(&self.payload_type).unwrap_or_default());
        out.extend_from_slice(b",\"payload\":\"");
        out.extend_from_slice(STANDARD.encode(&self.payload).as_bytes());
        out.extend_from_slice(b"\",\"signatures\":");
        out.extend_from_slice(&serde_json::to_vec(&sigs).unwrap_or_default());
        out.push(b'}');
        out
    }
}

/// Checks a payload `id`: 1 to [`MAX_ID_LEN`] characters of `A–Z a–z 0–9 . _ : -` (UUIDs and
/// ULIDs fit; so do readable ids like `donbas-2026-v1`).
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(format!("must be 1 to {MAX_ID_LEN} characters"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        return Err(format!(
            "{c:?} is not allowed: use letters, digits, '.', '_', ':' and '-' (a UUID or ULID)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PrivateKey {
        PrivateKey::from_seed("op", [7; 32]).unwrap()
    }

    #[test]
    fn pae_matches_dsse_spec_example() {
        // From the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn sign_parse_roundtrip_and_verify() {
        let k = key();
        let env = Envelope::sign("key", br#"{"id":"a1","x":1}"#, &[&k]);
        let bytes = env.canonical_json();
        let back = Envelope::parse(&bytes).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.canonical_json(), bytes);
        assert_eq!(back.kind().unwrap(), "key");
        assert_eq!(back.payload_object().unwrap().0, "a1");
        k.verifier()
            .verify(&back.pae(), &back.signatures()[0].sig)
            .unwrap();
    }

    #[test]
    fn canonical_form_normalises_whitespace_and_base64() {
        let k = key();
        let env = Envelope::sign("key", br#"{"id":"a1"}"#, &[&k]);
        let sig = URL_SAFE_NO_PAD.encode(&env.signatures()[0].sig);
        let spaced = format!(
            "{{ \"signatures\" : [ {{\"sig\":\"{sig}\", \"keyid\":\"{}\"}} ],\n \"payload\": \"{}\", \"payloadType\":\"{}\" }}",
            k.signer_id(),
            URL_SAFE_NO_PAD.encode(env.payload()),
            env.payload_type()
        );
        let back = Envelope::parse(spaced.as_bytes()).unwrap();
        assert_eq!(back.canonical_json(), env.canonical_json());
    }

    fn err_pointer(bytes: &[u8]) -> String {
        match Envelope::parse(bytes) {
            Err(DsseError::Malformed { pointer, .. }) => pointer,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn refuses_malformed_envelopes_with_pointer() {
        let sig = STANDARD.encode([0u8; 64]);
        let cases: Vec<(String, &str)> = vec![
            ("[]".into(), ""),
            ("{".into(), ""),
            (r#"{"payload":"","signatures":[]}"#.into(), "/payloadType"),
            (
                r#"{"payloadType":1,"payload":"","signatures":[]}"#.into(),
                "/payloadType",
            ),
            (
                r#"{"payloadType":"t","payload":"%%","signatures":[]}"#.into(),
                "/payload",
            ),
            (
                r#"{"payloadType":"t","payload":"","signatures":[]}"#.into(),
                "/signatures",
            ),
            (
                r#"{"payloadType":"t","payload":"","signatures":{}}"#.into(),
                "/signatures",
            ),
            (
                format!(r#"{{"payloadType":"t","payload":"","signatures":[{{"sig":"{sig}"}}]}}"#),
                "/signatures/0/keyid",
            ),
            (
                r#"{"payloadType":"t","payload":"","signatures":[{"keyid":"k","sig":"AAAA"}]}"#
                    .into(),
                "/signatures/0/sig",
            ),
            (
                format!(
                    r#"{{"payloadType":"t","payload":"","signatures":[{{"keyid":"k","sig":"{sig}","x":1}}]}}"#
                ),
                "/signatures/0/x",
            ),
            (
                r#"{"payloadType":"t","payloadType":"u","payload":"","signatures":[]}"#.into(),
                "",
            ),
            (
                r#"{"payloadType":"t","payload":"","signatures":[],"extra":true}"#.into(),
                "/extra",
            ),
        ];
        for (input, pointer) in cases {
            assert_eq!(err_pointer(input.as_bytes()), pointer, "{input}");
        }
    }

    #[test]
    fn refuses_bad_payloads() {
        let k = key();
        for (payload, pointer) in [
            (&b"not json"[..], ""),
            (b"[1]", ""),
            (b"{}", "/id"),
            (br#"{"id":7}"#, "/id"),
            (br#"{"id":""}"#, "/id"),
            (br#"{"id":"a b"}"#, "/id"),
            (br#"{"id":"a","id":"b"}"#, ""),
            (br#"{"id":"a","x":{"y":1,"y":2}}"#, "/x"),
        ] {
            let env = Envelope::sign("key", payload, &[&k]);
            match env.payload_object() {
                Err(DsseError::InvalidPayload { pointer: p, .. }) => {
                    assert_eq!(p, pointer, "{}", String::from_utf8_lossy(payload))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn refuses_bad_payload_types() {
        let k = key();
        for t in [
            "",
            "application/json",
            "application/vnd.truce.+json",
            "application/vnd.truce.Key+json",
        ] {
            let mut env = Envelope::sign("key", br#"{"id":"a"}"#, &[&k]);
            env.payload_type = t.into();
            assert!(env.kind().is_err(), "{t}");
        }
    }

    #[test]
    fn refuses_oversized_envelopes() {
        let k = key();
        let big = format!(r#"{{"id":"a","pad":"{}"}}"#, "x".repeat(MAX_ENVELOPE_BYTES));
        let env = Envelope::sign("key", big.as_bytes(), &[&k]);
        assert!(matches!(
            Envelope::parse(&env.canonical_json()),
            Err(DsseError::TooLarge { .. })
        ));
        let fits = format!(r#"{{"id":"a","pad":"{}"}}"#, "x".repeat(40_000));
        let env = Envelope::sign("key", fits.as_bytes(), &[&k]);
        assert!(Envelope::parse(&env.canonical_json()).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(env) = Envelope::parse(&bytes) {
                let _ = env.kind();
                let _ = env.payload_object();
                // Whatever parses re-parses to itself.
                proptest::prop_assert_eq!(Envelope::parse(&env.canonical_json()).unwrap(), env);
            }
        }

        /// The canonical-layout reader accepts exactly canonical envelopes, and reads them as
        /// the parser does: on envelopes of any strings and signatures, and on their canonical
        /// bytes with one byte changed, inserted or removed.
        #[test]
        fn the_canonical_reader_agrees_with_the_parser(
            payload_type in "[ -~\u{0}-\u{1f}\u{e9}\u{2028}]{0,20}",
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            sigs in proptest::collection::vec(
                ("[ -~\u{1}\u{e9}]{0,10}", proptest::collection::vec(proptest::num::u8::ANY, 63..=65)),
                0..10,
            ),
            edit in (proptest::num::usize::ANY, proptest::num::u8::ANY, 0..4u8),
        ) {
            let env = Envelope {
                payload_type,
                payload,
                signatures: sigs
                    .into_iter()
                    .map(|(keyid, sig)| EnvelopeSignature { keyid, sig })
                    .collect(),
            };
            let canonical = env.canonical_json();
            let mut edited = canonical.clone();
            let (at, byte, how) = edit;
            let at = at % (edited.len() + 1);
            match how {
                0 => {}
                1 if at < edited.len() => edited[at] = byte,
                2 if at < edited.len() => {
                    edited.remove(at);
                }
                _ => edited.insert(at, byte),
            }
            for bytes in [&canonical, &edited] {
                match (Envelope::from_canonical(bytes), Envelope::parse_canonical(bytes)) {
                    (Some(fast), Ok((parsed, again))) => {
                        proptest::prop_assert_eq!(&fast, &parsed);
                        proptest::prop_assert_eq!(&again, bytes);
                    }
                    (Some(fast), Err(e)) => {
                        proptest::prop_assert!(false, "read {fast:?}, which the parser refuses: {e}");
                    }
                    // Refused fast: the parser either refuses too or, if it reads an envelope,
                    // it is spelled otherwise or uses an escape.
                    (None, Ok((_, again))) => {
                        let escaped = again.contains(&b'\\');
                        proptest::prop_assert!(&again != bytes || escaped);
                    }
                    (None, Err(_)) => {}
                }
            }
        }

        #[test]
        fn roundtrip_any_payload(payload in proptest::collection::vec(proptest::num::u8::ANY, 0..300), kind in "[a-z-]{1,12}") {
            let k = key();
            let env = Envelope::sign(&kind, &payload, &[&k]);
            let back = Envelope::parse(&env.canonical_json()).unwrap();
            proptest::prop_assert_eq!(&back, &env);
            proptest::prop_assert_eq!(Envelope::from_canonical(&env.canonical_json()), Some(env.clone()));
            proptest::prop_assert!(k.verifier().verify(&back.pae(), &back.signatures()[0].sig).is_ok());
        }
    }
}
