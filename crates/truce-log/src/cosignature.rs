//! Witness cosignatures (C2SP tlog-cosignature, Ed25519 `cosignature/v1`, signature type 0x04).
//!
//! A witness that has checked a checkpoint to be consistent with everything it saw before adds a
//! note signature line to it:
//!
//! ```text
//! — <witness name> base64(key ID || timestamp (8 bytes, big-endian) || Ed25519 signature (64))
//! ```
//!
//! where the key ID is `SHA-256(name || 0x0A || 0x04 || public key)[:4]` and the signed message
//! is `"cosignature/v1\ntime <timestamp>\n"` followed by the whole checkpoint text (including
//! extension lines and the final newline, without signature lines). The timestamp is POSIX
//! seconds, in decimal without leading zeroes in the message, and at most 2^63 − 1.
//!
//! Semantics: "as of that time, the largest consistent tree I have seen for this origin has this
//! root". The message does not commit to the witness's name, so one Ed25519 key must never serve
//! two witness names.
//!
//! # Key encodings
//!
//! - public: `<name>+<key ID hex>+<base64(0x04 || 32-byte public key)>` — the vkey form the
//!   cosignature spec allows, and what Go's `transparency-dev/formats/note` reads;
//! - private (the `truce witness` key file): `PRIVATE+KEY+<name>+<key ID hex>+<base64(0x04 ||
//!   32-byte seed)>`, the signed-note private key layout with the cosignature type byte, as
//!   `transparency-dev/formats/note.NewSignerForCosignatureV1` reads it. That function also takes
//!   a plain signed-note key (type 0x01), so [`CosignerKey::parse`] does too (its key ID checked
//!   as type 0x01); the key then cosigns under its type-0x04 key ID.
//!
//! Both are the signed-note key implementation of `truce_model::keys` at algorithm
//! [`CosignatureV1`], wrapped: the wrappers add what only a witness does (cosign, verify a
//! cosignature) and hide the raw Ed25519 signing, so that a witness key signs nothing but
//! cosignature messages.
//!
//! Invariants: a [`CosignerKey`] or [`CosignatureVerifier`] always has a valid name and the key ID
//! computed from it; verification is strict Ed25519 (`verify_strict`), like every other signature
//! in truce; a cosigner only signs texts that parse as checkpoints.

use std::fmt;

use truce_model::keys::{CosignatureV1, KeyError, SigningKey, VerifierKey, VerifyingKey};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::note::{Note, NoteError, NoteSignature, NoteSigner, NoteVerifier};

/// The signed-note signature type of Ed25519 `cosignature/v1`.
pub const ALG_COSIGNATURE_V1: u8 = <CosignatureV1 as truce_model::keys::Algorithm>::TYPE;

/// The largest timestamp a cosignature may carry (2^63 − 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Length of the signature bytes after the key ID: timestamp and Ed25519 signature.
const COSIG_LEN: usize = 8 + 64;

/// Why a cosigner key, a cosignature or a cosigning request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CosignatureError {
    /// The name, key ID or key material of a key is invalid.
    #[error("cosigner key: {0}")]
    Key(KeyError),
    /// The text to cosign is not a checkpoint.
    #[error("only checkpoints can be cosigned: {0}")]
    NotACheckpoint(CheckpointError),
    /// The timestamp exceeds 2^63 − 1.
    #[error("cosignature timestamp {0} exceeds 2^63-1")]
    TimestampOutOfRange(u64),
    /// The signature line is for another key (name or key ID differ).
    #[error("the signature is by {name}+{key_id:08x}, not by this cosigner")]
    WrongKey { name: String, key_id: u32 },
    /// The signature is not 8 + 64 bytes.
    #[error(
        "a cosignature is {COSIG_LEN} bytes after the key ID (timestamp and Ed25519 signature), not {0}"
    )]
    WrongLength(usize),
    /// The signature does not verify.
    #[error("the cosignature does not verify")]
    BadSignature,
    /// The note holding the cosignatures is malformed or has an invalid known signature.
    #[error("cosigned note: {0}")]
    Note(NoteError),
}

impl From<KeyError> for CosignatureError {
    fn from(e: KeyError) -> Self {
        CosignatureError::Key(e)
    }
}

/// The message an Ed25519 `cosignature/v1` signs: header, time line, checkpoint text.
pub fn cosigned_message(checkpoint_text: &str, timestamp: u64) -> Vec<u8> {
    message(checkpoint_text.as_bytes(), timestamp)
}

fn message(text: &[u8], timestamp: u64) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(text);
    m
}

/// The timestamp a cosignature line claims, without verifying it (for display or for picking
/// the freshest line before verification). Errors if the line cannot be a cosignature.
pub fn cosignature_timestamp(sig: &NoteSignature) -> Result<u64, CosignatureError> {
    if sig.sig.len() != COSIG_LEN {
        return Err(CosignatureError::WrongLength(sig.sig.len()));
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&sig.sig[..8]);
    let t = u64::from_be_bytes(t);
    if t > MAX_TIMESTAMP {
        return Err(CosignatureError::TimestampOutOfRange(t));
    }
    Ok(t)
}

/// A witness's public key, for checking its cosignatures: a verifier key of type `0x04`.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignatureVerifier(VerifyingKey<CosignatureV1>);

impl CosignatureVerifier {
    /// Parses `<name>+<key ID>+<base64(0x04 || public key)>`, checking name, key ID and point.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        VerifyingKey::parse(s).map(CosignatureVerifier)
    }

    /// The verifier for a name and raw Ed25519 public key.
    pub fn from_public_key(name: &str, public_key: [u8; 32]) -> Result<Self, KeyError> {
        VerifyingKey::from_public_key(name, public_key).map(CosignatureVerifier)
    }

    /// The cosignature verifier for the same name and Ed25519 key as a signed-note (type 0x01)
    /// verifier key, as Go's `VKeyToCosignatureV1` converts it. The key ID changes.
    pub fn from_ed25519_verifier(v: &VerifierKey) -> Result<Self, KeyError> {
        Self::from_public_key(v.name(), v.public_key())
    }

    /// The witness name.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// The type-0x04 key ID.
    pub fn key_id(&self) -> u32 {
        self.0.id()
    }

    /// The raw public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.0.public_key()
    }

    /// Verifies one cosignature line over a checkpoint text and returns its timestamp.
    pub fn verify_cosignature(
        &self,
        checkpoint_text: &str,
        sig: &NoteSignature,
    ) -> Result<u64, CosignatureError> {
        if sig.name != self.name() || sig.key_id != self.key_id() {
            return Err(CosignatureError::WrongKey {
                name: sig.name.clone(),
                key_id: sig.key_id,
            });
        }
        self.check(checkpoint_text.as_bytes(), &sig.sig)
    }

    fn check(&self, text: &[u8], sig: &[u8]) -> Result<u64, CosignatureError> {
        if sig.len() != COSIG_LEN {
            return Err(CosignatureError::WrongLength(sig.len()));
        }
        let (t, ed) = sig.split_at(8);
        let mut tb = [0u8; 8];
        tb.copy_from_slice(t);
        let t = u64::from_be_bytes(tb);
        if t > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampOutOfRange(t));
        }
        self.0
            .verify(&message(text, t), ed)
            .map_err(|_| CosignatureError::BadSignature)?;
        Ok(t)
    }
}

impl NoteVerifier for CosignatureVerifier {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn key_id(&self) -> u32 {
        self.0.id()
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.check(msg, sig).is_ok()
    }
}

impl fmt::Display for CosignatureVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

truce_model::key_text_impls!(CosignatureVerifier);

/// A witness's private key: a signing key of type `0x04` that signs nothing but cosignatures.
/// `Debug` never shows the seed.
#[derive(Clone)]
pub struct CosignerKey(SigningKey<CosignatureV1>);

impl CosignerKey {
    /// A fresh key from the operating system's random source.
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        SigningKey::generate(name).map(CosignerKey)
    }

    /// The key with this RFC 8032 seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        SigningKey::from_seed(name, seed).map(CosignerKey)
    }

    /// Parses `PRIVATE+KEY+<name>+<key ID>+<base64(0x04 || seed)>` (surrounding whitespace, such
    /// as a file's final newline, is ignored). A signed-note Ed25519 private key (type 0x01, key
    /// ID of type 0x01) is accepted too, for keys made with Go's `note.GenerateKey`.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        SigningKey::parse(s).map(CosignerKey)
    }

    /// The private key text, always in the type-0x04 form (no trailing newline).
    pub fn encode(&self) -> String {
        self.0.encode()
    }

    /// The witness name.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// The type-0x04 key ID.
    pub fn key_id(&self) -> u32 {
        self.0.id()
    }

    /// The matching public key.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier(self.0.verifier())
    }

    /// Cosigns a checkpoint text at `timestamp` (POSIX seconds). The text must parse as a
    /// checkpoint: a witness states nothing about other notes.
    pub fn cosign(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<NoteSignature, CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampOutOfRange(timestamp));
        }
        Checkpoint::parse(checkpoint_text).map_err(CosignatureError::NotACheckpoint)?;
        let ed = self.0.sign(&cosigned_message(checkpoint_text, timestamp));
        let mut sig = Vec::with_capacity(COSIG_LEN);
        sig.extend_from_slice(&timestamp.to_be_bytes());
        sig.extend_from_slice(&ed);
        Ok(NoteSignature {
            name: self.name().to_string(),
            key_id: self.key_id(),
            sig,
        })
    }

    /// This key as a [`NoteSigner`] that cosigns at a fixed time.
    pub fn at(&self, timestamp: u64) -> TimedCosigner<'_> {
        TimedCosigner {
            key: self,
            timestamp,
        }
    }
}

impl fmt::Debug for CosignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Cosigns a checkpoint text with `key` at `timestamp`; see [`CosignerKey::cosign`].
pub fn cosign(
    checkpoint_text: &str,
    key: &CosignerKey,
    timestamp: u64,
) -> Result<NoteSignature, CosignatureError> {
    key.cosign(checkpoint_text, timestamp)
}

/// A [`CosignerKey`] bound to a timestamp, usable wherever a [`NoteSigner`] is.
#[derive(Debug, Clone, Copy)]
pub struct TimedCosigner<'a> {
    key: &'a CosignerKey,
    timestamp: u64,
}

impl NoteSigner for TimedCosigner<'_> {
    fn name(&self) -> &str {
        self.key.name()
    }
    fn key_id(&self) -> u32 {
        self.key.key_id()
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, NoteError> {
        let text = std::str::from_utf8(msg)
            .map_err(|_| NoteError::SigningFailed("the note text is not UTF-8".into()))?;
        self.key
            .cosign(text, self.timestamp)
            .map(|s| s.sig)
            .map_err(|e| NoteError::SigningFailed(e.to_string()))
    }
}

/// A cosignature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCosignature {
    /// The witness name.
    pub name: String,
    /// The witness's type-0x04 key ID.
    pub key_id: u32,
    /// When the witness cosigned (POSIX seconds).
    pub timestamp: u64,
}

/// Checks the cosignatures on a checkpoint note against the known witnesses: lines from unknown
/// keys are ignored, a line from a known witness that does not verify rejects the note, and
/// every known witness that cosigned is listed once (with its first line's timestamp). The
/// log's own signature is not checked here (see [`crate::checkpoint::verify_checkpoint_note`]);
/// an empty result is not an error — applying a quorum is the caller's policy.
pub fn verify_cosignatures(
    note: &Note,
    witnesses: &[CosignatureVerifier],
) -> Result<Vec<VerifiedCosignature>, CosignatureError> {
    let known: Vec<&dyn NoteVerifier> = witnesses.iter().map(|w| w as &dyn NoteVerifier).collect();
    let verified = note.verify_known(&known).map_err(CosignatureError::Note)?;
    verified
        .into_iter()
        .map(|s| {
            Ok(VerifiedCosignature {
                timestamp: cosignature_timestamp(&s)?,
                name: s.name,
                key_id: s.key_id,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use truce_model::keys::PrivateKey;

    const BODY: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    // The cosignature line of the C2SP tlog-cosignature example: key ID, then the timestamp
    // the spec's example message shows ("time 1679315147").
    #[test]
    fn spec_example_layout() {
        let line = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
        let sigs = crate::note::parse_signature_lines(line.as_bytes()).unwrap();
        assert_eq!(sigs[0].key_id, 0x8d66cf3f);
        assert_eq!(cosignature_timestamp(&sigs[0]), Ok(1679315147));
        assert_eq!(
            String::from_utf8(cosigned_message(BODY, 1679315147)).unwrap(),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn cosign_and_verify() {
        let k = CosignerKey::from_seed("w.example/1", [3; 32]).unwrap();
        let v = k.verifier();
        let sig = k.cosign(BODY, 1_700_000_000).unwrap();
        assert_eq!(sig.sig.len(), 72);
        assert_eq!(v.verify_cosignature(BODY, &sig), Ok(1_700_000_000));
        let other_body = BODY.replace("20852163", "20852164");
        assert_eq!(
            v.verify_cosignature(&other_body, &sig),
            Err(CosignatureError::BadSignature)
        );
        let mut later = sig.clone();
        later.sig[7] ^= 1;
        assert_eq!(
            v.verify_cosignature(BODY, &later),
            Err(CosignatureError::BadSignature)
        );
        assert!(matches!(
            k.cosign("not a checkpoint\n", 1),
            Err(CosignatureError::NotACheckpoint(_))
        ));
        assert_eq!(
            k.cosign(BODY, MAX_TIMESTAMP + 1),
            Err(CosignatureError::TimestampOutOfRange(MAX_TIMESTAMP + 1))
        );
    }

    #[test]
    fn timestamps_beyond_2_63_are_refused_even_if_signed() {
        let k = CosignerKey::from_seed("w.example/1", [3; 32]).unwrap();
        let t = MAX_TIMESTAMP + 1;
        let ed = k.0.sign(&cosigned_message(BODY, t));
        let mut sig = t.to_be_bytes().to_vec();
        sig.extend_from_slice(&ed);
        let line = NoteSignature {
            name: k.name().to_string(),
            key_id: k.key_id(),
            sig,
        };
        let v = k.verifier();
        assert_eq!(
            v.verify_cosignature(BODY, &line),
            Err(CosignatureError::TimestampOutOfRange(t))
        );
        assert!(!NoteVerifier::verify(&v, BODY.as_bytes(), &line.sig));
        assert_eq!(
            cosignature_timestamp(&line),
            Err(CosignatureError::TimestampOutOfRange(t))
        );
    }

    #[test]
    fn cosignature_is_not_a_plain_signature() {
        // The same Ed25519 key as a type-0x01 signer: different key ID, different message.
        let seed = [5; 32];
        let plain = PrivateKey::from_seed("w", seed).unwrap();
        let co = CosignerKey::from_seed("w", seed).unwrap();
        assert_ne!(plain.verifier().id(), co.key_id());
        let v = CosignatureVerifier::from_ed25519_verifier(&plain.verifier()).unwrap();
        assert_eq!(v, co.verifier());
        let sig = co.cosign(BODY, 1).unwrap();
        assert!(!NoteVerifier::verify(
            &plain.verifier(),
            BODY.as_bytes(),
            &sig.sig[8..]
        ));
    }

    #[test]
    fn key_encodings_round_trip_and_refuse() {
        let k = CosignerKey::from_seed("w.example/1", [3; 32]).unwrap();
        let again = CosignerKey::parse(&format!("{}\n", k.encode())).unwrap();
        assert_eq!(again.verifier(), k.verifier());
        let vkey = k.verifier().to_string();
        assert_eq!(CosignatureVerifier::parse(&vkey).unwrap(), k.verifier());
        assert!(vkey.split('+').nth(2).unwrap().starts_with("B")); // 0x04 in base64
        // A signed-note (0x01) vkey is not a cosigner vkey.
        let plain = PrivateKey::from_seed("w.example/1", [3; 32]).unwrap();
        assert_eq!(
            CosignatureVerifier::parse(&plain.verifier().to_string()),
            Err(KeyError::UnsupportedAlgorithm(1))
        );
        // ...but a signed-note private key loads as a cosigner, as in Go.
        let from_plain = CosignerKey::parse(&plain.encode()).unwrap();
        assert_eq!(from_plain.verifier(), k.verifier());
        let (name, rest) = vkey.split_once('+').unwrap();
        let material = rest.split_once('+').unwrap().1;
        assert!(matches!(
            CosignatureVerifier::parse(&format!("{name}+00000000+{material}")),
            Err(KeyError::KeyIdMismatch { .. })
        ));
        assert!(CosignerKey::parse(&vkey).is_err());
        assert!(!format!("{k:?}").contains(&k.encode()[40..]));
    }

    #[test]
    fn verify_cosignatures_policy() {
        let log = PrivateKey::from_seed("log", [1; 32]).unwrap();
        let w1 = CosignerKey::from_seed("w1", [2; 32]).unwrap();
        let w2 = CosignerKey::from_seed("w2", [3; 32]).unwrap();
        let t1 = w1.at(100);
        let t2 = w2.at(200);
        let note = Note::sign(BODY, &[&log, &t1, &t2]).unwrap();
        let got = verify_cosignatures(&note, &[w2.verifier()]).unwrap();
        assert_eq!(
            got,
            [VerifiedCosignature {
                name: "w2".into(),
                key_id: w2.key_id(),
                timestamp: 200
            }]
        );
        assert_eq!(verify_cosignatures(&note, &[]).unwrap(), []);
        // A line under w1's name and key ID made by another key: it fails, the note is refused.
        let impostor = CosignerKey::from_seed("w1", [9; 32]).unwrap();
        let mut forged = note.clone();
        forged
            .push_signature(NoteSignature {
                key_id: w1.key_id(),
                ..impostor.cosign(BODY, 100).unwrap()
            })
            .unwrap();
        assert!(matches!(
            verify_cosignatures(&forged, &[w1.verifier()]),
            Err(CosignatureError::Note(NoteError::InvalidSignature { .. }))
        ));
    }
}
