//! The leaf format (DESIGN §3, contract).
//!
//! The bytes logged for entry *i* are the compact JSON object
//! `{"time_ms":<log time, ms since epoch>,"envelope":<the canonical DSSE envelope>}` and the leaf
//! hash is SHA-256(0x00 || leaf bytes), as in RFC 6962. A leaf is at most 65,535 bytes, the largest
//! entry a C2SP tlog-tiles entry bundle can carry.
//!
//! The envelope is stored in the canonical form of [`truce_model::dsse::Envelope::canonical_json`],
//! so a leaf's bytes are a function of (time, envelope) alone: anyone can rebuild and re-hash it.
//!
//! This module is the one place that knows the byte layout: other crates build leaves with
//! [`encode`], read them with [`Leaf::decode`], and ask [`holds_envelope`] whether a leaf logs a
//! given envelope, rather than slicing or matching leaf bytes themselves.

use std::fmt;

use sha2::{Digest as _, Sha256};
use truce_model::dsse::{DsseError, Envelope};

/// The largest leaf, in bytes.
pub const MAX_LEAF_BYTES: usize = 65_535;

/// Why leaf bytes could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeafError {
    /// Larger than [`MAX_LEAF_BYTES`].
    TooLarge(usize),
    /// Not of the form `{"time_ms":N,"envelope":{…}}`.
    Malformed(&'static str),
    /// The envelope inside does not parse.
    Envelope(DsseError),
    /// The bytes are not the canonical encoding of what they contain.
    NotCanonical,
}

impl fmt::Display for LeafError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeafError::TooLarge(n) => write!(f, "leaf of {n} bytes exceeds {MAX_LEAF_BYTES}"),
            LeafError::Malformed(why) => write!(f, "malformed leaf: {why}"),
            LeafError::Envelope(e) => write!(f, "leaf envelope: {e}"),
            LeafError::NotCanonical => write!(f, "leaf bytes are not in canonical form"),
        }
    }
}

impl std::error::Error for LeafError {}

/// A decoded leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// Log time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The entry.
    pub envelope: Envelope,
}

const PREFIX: &[u8] = b"{\"time_ms\":";
const MIDDLE: &[u8] = b",\"envelope\":";

impl Leaf {
    /// The leaf's bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode(self.time_ms, &self.envelope.canonical_json())
    }

    /// Reads leaf bytes back, insisting that they are canonical (re-encoding gives the same
    /// bytes): the frame's time has no leading zeros, and the envelope bytes are the envelope's
    /// canonical form, which parsing builds anyway.
    pub fn decode(bytes: &[u8]) -> Result<Leaf, LeafError> {
        let (time_ms, env) = split(bytes)?;
        let digits = bytes.len() - PREFIX.len() - MIDDLE.len() - env.len() - 1;
        // Leaves are written canonical, so the fixed layout reads nearly all of them; the
        // parser reads (and explains) the rest.
        let envelope = match Envelope::from_canonical(env) {
            Some(envelope) => envelope,
            None => {
                let (envelope, canonical) =
                    Envelope::parse_canonical(env).map_err(LeafError::Envelope)?;
                if canonical != env {
                    return Err(LeafError::NotCanonical);
                }
                envelope
            }
        };
        if digits != time_ms.to_string().len() {
            return Err(LeafError::NotCanonical);
        }
        Ok(Leaf { time_ms, envelope })
    }
}

/// The log time and the envelope bytes of a leaf, from its frame
/// `{"time_ms":<digits>,"envelope":<bytes>}` alone: the envelope bytes are not parsed.
fn split(bytes: &[u8]) -> Result<(i64, &[u8]), LeafError> {
    if bytes.len() > MAX_LEAF_BYTES {
        return Err(LeafError::TooLarge(bytes.len()));
    }
    let rest = bytes
        .strip_prefix(PREFIX)
        .ok_or(LeafError::Malformed("does not start with {\"time_ms\":"))?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let (num, rest) = rest.split_at(digits);
    let time_ms: i64 = std::str::from_utf8(num)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(LeafError::Malformed(
            "time_ms is not a non-negative integer",
        ))?;
    let env = rest
        .strip_prefix(MIDDLE)
        .and_then(|r| r.strip_suffix(b"}"))
        .ok_or(LeafError::Malformed("expected ,\"envelope\":{…}}"))?;
    Ok((time_ms, env))
}

/// Whether `leaf` logs exactly `canonical_envelope` (at whatever log time): the envelope bytes
/// inside its frame are these bytes, neither more nor less.
///
/// This is how a resubmission is recognised without parsing the stored envelope again. It
/// compares bytes, so `canonical_envelope` must be canonical
/// ([`Envelope::canonical_json`]), as every envelope in a leaf written by [`encode`] is.
pub fn holds_envelope(leaf: &[u8], canonical_envelope: &[u8]) -> bool {
    split(leaf).is_ok_and(|(_, env)| env == canonical_envelope)
}

/// Leaf bytes for an already canonical envelope.
pub fn encode(time_ms: i64, canonical_envelope: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(canonical_envelope.len() + 48);
    out.extend_from_slice(PREFIX);
    out.extend_from_slice(time_ms.to_string().as_bytes());
    out.extend_from_slice(MIDDLE);
    out.extend_from_slice(canonical_envelope);
    out.push(b'}');
    out
}

/// RFC 6962 leaf hash: SHA-256(0x00 || leaf).
pub fn leaf_hash(leaf: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use truce_model::keys::PrivateKey;

    fn leaf() -> Leaf {
        let k = PrivateKey::from_seed("op", [3; 32]).unwrap();
        Leaf {
            time_ms: 1_765_000_000_123,
            envelope: Envelope::sign("tick", br#"{"id":"t1","time":"x"}"#, &[&k]),
        }
    }

    #[test]
    fn encode_is_the_contract_shape_and_roundtrips() {
        let l = leaf();
        let bytes = l.encode();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["time_ms"], 1_765_000_000_123i64);
        assert_eq!(
            v["envelope"]["payloadType"],
            "application/vnd.truce.tick+json"
        );
        assert_eq!(Leaf::decode(&bytes).unwrap(), l);
    }

    #[test]
    fn leaf_hash_is_rfc6962() {
        // SHA-256 of the single byte 0x00: the RFC 6962 hash of an empty leaf.
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn decode_refuses_non_canonical_and_malformed() {
        let bytes = leaf().encode();
        let spaced = String::from_utf8(bytes.clone()).unwrap().replacen(
            "{\"time_ms\":",
            "{\"time_ms\": ",
            1,
        );
        assert!(Leaf::decode(spaced.as_bytes()).is_err());
        assert!(Leaf::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut padded = bytes.clone();
        padded.insert(padded.len() - 1, b' ');
        assert!(Leaf::decode(&padded).is_err());
        assert!(Leaf::decode(b"{\"time_ms\":-1,\"envelope\":{}}").is_err());
        assert!(Leaf::decode(&vec![b'x'; MAX_LEAF_BYTES + 1]).is_err());
        // The same time with a leading zero, and the envelope's keys in another order: both
        // parse, neither is the canonical leaf.
        let zero = String::from_utf8(bytes.clone()).unwrap().replacen(
            "{\"time_ms\":",
            "{\"time_ms\":0",
            1,
        );
        assert!(matches!(
            Leaf::decode(zero.as_bytes()),
            Err(LeafError::NotCanonical)
        ));
        let l = leaf();
        let v: serde_json::Value = serde_json::from_slice(&l.envelope.canonical_json()).unwrap();
        let reordered = format!(
            "{{\"signatures\":{},\"payloadType\":{},\"payload\":{}}}",
            v["signatures"], v["payloadType"], v["payload"]
        );
        assert!(matches!(
            Leaf::decode(&encode(l.time_ms, reordered.as_bytes())),
            Err(LeafError::NotCanonical)
        ));
    }

    #[test]
    fn holds_envelope_is_exactly_the_envelope_inside() {
        let l = leaf();
        let bytes = l.encode();
        let canonical = l.envelope.canonical_json();
        assert!(holds_envelope(&bytes, &canonical));
        // Another log time, same envelope.
        assert!(holds_envelope(&encode(7, &canonical), &canonical));
        // Not a suffix, prefix or other envelope.
        assert!(!holds_envelope(&bytes, &canonical[1..]));
        assert!(!holds_envelope(&bytes, &canonical[..canonical.len() - 1]));
        assert!(!holds_envelope(&bytes, b""));
        let k = PrivateKey::from_seed("op", [4; 32]).unwrap();
        let other = Envelope::sign("tick", br#"{"id":"t1","time":"x"}"#, &[&k]);
        assert!(!holds_envelope(&bytes, &other.canonical_json()));
        // Not a leaf at all: the envelope bytes alone, or a broken frame.
        assert!(!holds_envelope(&canonical, &canonical));
        assert!(!holds_envelope(&bytes[..bytes.len() - 1], &canonical));
    }
}
