//! Helpers shared by the fuzz targets in `fuzz_targets/` (see README.md).
//!
//! Every target that takes structured input uses the same convention: an input whose first byte
//! is a small tag (`0x00`, `0x01`) is decoded with `arbitrary` from the bytes after the tag;
//! anything else is fed to the parser as it is. Real inputs (JSON objects, key texts, leaves) never
//! start with those bytes, so the seed corpora can hold real files, and the fuzzer still reaches
//! the structured modes by mutating the first byte.

use std::sync::OnceLock;

use arbitrary::Unstructured;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use truce_model::dsse::{self, Envelope, MAX_ENVELOPE_BYTES};
use truce_model::entry::{Kind, Payload};
use truce_model::keys::PrivateKey;

/// A few signing keys, derived once (key derivation is too slow to repeat on every input).
pub fn key_pool() -> &'static [PrivateKey] {
    static POOL: OnceLock<Vec<PrivateKey>> = OnceLock::new();
    POOL.get_or_init(|| {
        ["fuzz.example/op", "monitor-1", "party", "a"]
            .iter()
            .zip(1u8..)
            .map(|(name, seed)| PrivateKey::from_seed(name, [seed; 32]).expect("valid pool key"))
            .collect()
    })
}

/// The invariants of a parsed envelope: the accessors never panic, the canonical form is within
/// the size limit, re-parses to an equal envelope and is a fixed point.
pub fn check_envelope(env: &Envelope) {
    if let Ok(kind) = env.kind() {
        assert_eq!(env.payload_type(), dsse::payload_type_for(kind));
        if let (Some(kind), Ok((id, obj))) = (Kind::from_name(kind), env.payload_object()) {
            assert!(dsse::check_id(&id).is_ok());
            assert_eq!(obj.get("id").and_then(|v| v.as_str()), Some(id.as_str()));
            let _ = Payload::parse(kind, &obj);
        }
    } else {
        let _ = env.payload_object();
    }
    assert_eq!(env.pae(), dsse::pae(env.payload_type(), env.payload()));
    let canonical = env.canonical_json();
    assert!(
        canonical.len() <= MAX_ENVELOPE_BYTES,
        "parse accepted an envelope whose canonical form has {} bytes",
        canonical.len()
    );
    let again = match Envelope::parse(&canonical) {
        Ok(e) => e,
        Err(e) => panic!(
            "the canonical form does not re-parse: {e}\n{}",
            String::from_utf8_lossy(&canonical)
        ),
    };
    assert_eq!(
        &again, env,
        "the canonical form re-parses to another envelope"
    );
    assert_eq!(
        again.canonical_json(),
        canonical,
        "canonical_json is not a fixed point"
    );
}

/// Writes JSON text in one of its many valid spellings, the choices (whitespace, escapes, field
/// order, base64 alphabet) taken from fuzzer bytes. With no bytes left every choice is 0, which
/// spells JSON the way `serde_json`'s compact writer does.
pub struct Speller<'a, 'b> {
    u: &'a mut Unstructured<'b>,
    /// The text written so far.
    pub out: String,
}

impl<'a, 'b> Speller<'a, 'b> {
    pub fn new(u: &'a mut Unstructured<'b>) -> Self {
        Speller {
            u,
            out: String::new(),
        }
    }

    /// The next choice byte (0 once the input is exhausted).
    pub fn choice(&mut self) -> u8 {
        self.u.arbitrary().unwrap_or(0)
    }

    /// Zero to three whitespace characters.
    pub fn ws(&mut self) {
        let c = self.choice();
        for i in 0..(c & 3) {
            self.out
                .push([' ', '\t', '\n', '\r'][usize::from((c >> (2 + 2 * i)) & 3)]);
        }
    }

    pub fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// A JSON string literal for `s`, each character written plainly or escaped.
    pub fn string(&mut self, s: &str) {
        self.out.push('"');
        for ch in s.chars() {
            let c = self.choice();
            let escape_u = c & 1 == 1;
            let upper = c & 2 == 2;
            match ch {
                '"' if !escape_u => self.out.push_str("\\\""),
                '\\' if !escape_u => self.out.push_str("\\\\"),
                '/' if !escape_u && upper => self.out.push_str("\\/"),
                '\u{8}' if !escape_u => self.out.push_str("\\b"),
                '\u{c}' if !escape_u => self.out.push_str("\\f"),
                '\n' if !escape_u => self.out.push_str("\\n"),
                '\r' if !escape_u => self.out.push_str("\\r"),
                '\t' if !escape_u => self.out.push_str("\\t"),
                c if c < ' ' || escape_u => {
                    let mut units = [0u16; 2];
                    for unit in ch.encode_utf16(&mut units) {
                        if upper && escape_u {
                            self.out.push_str(&format!("\\u{unit:04X}"));
                        } else {
                            self.out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    /// `bytes` in base64, in one of the four spellings DSSE accepts.
    pub fn base64(&mut self, bytes: &[u8]) {
        let text = match self.choice() & 3 {
            0 => STANDARD.encode(bytes),
            1 => STANDARD_NO_PAD.encode(bytes),
            2 => URL_SAFE.encode(bytes),
            _ => URL_SAFE_NO_PAD.encode(bytes),
        };
        self.string(&text);
    }

    /// A DSSE envelope with these fields, in any field order and spelling.
    pub fn envelope(&mut self, payload_type: &str, payload: &[u8], sigs: &[(String, Vec<u8>)]) {
        const ORDERS: [[usize; 3]; 6] = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        let order = ORDERS[usize::from(self.choice()) % 6];
        self.ws();
        self.raw("{");
        for (n, field) in order.into_iter().enumerate() {
            if n > 0 {
                self.raw(",");
            }
            self.ws();
            match field {
                0 => {
                    self.string("payloadType");
                    self.colon();
                    self.string(payload_type);
                }
                1 => {
                    self.string("payload");
                    self.colon();
                    self.base64(payload);
                }
                _ => {
                    self.string("signatures");
                    self.colon();
                    self.raw("[");
                    for (i, (keyid, sig)) in sigs.iter().enumerate() {
                        if i > 0 {
                            self.raw(",");
                        }
                        self.ws();
                        self.raw("{");
                        let parts = if self.choice() & 1 == 1 {
                            [1, 0]
                        } else {
                            [0, 1]
                        };
                        for (n, part) in parts.into_iter().enumerate() {
                            if n > 0 {
                                self.raw(",");
                            }
                            self.ws();
                            if part == 0 {
                                self.string("keyid");
                                self.colon();
                                self.string(keyid);
                            } else {
                                self.string("sig");
                                self.colon();
                                self.base64(sig);
                            }
                            self.ws();
                        }
                        self.raw("}");
                        self.ws();
                    }
                    self.raw("]");
                }
            }
            self.ws();
        }
        self.raw("}");
        self.ws();
    }

    fn colon(&mut self) {
        self.ws();
        self.raw(":");
        self.ws();
    }
}
