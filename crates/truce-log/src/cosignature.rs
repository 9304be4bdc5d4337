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
//! Invariants: a [`CosignerKey`] or [`CosignatureVerifier`] always has a valid name and the key ID
//! computed from it; verification is strict Ed25519 (`verify_strict`), like every other signature
//! in truce; a cosigner only signs texts that parse as checkpoints.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _};
use truce_model::keys::{ALG_ED25519, KeyError, VerifierKey, check_name, key_id};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::note::{Note, NoteError, NoteSignature, NoteSigner, NoteVerifier};

/// The signed-note signature type of Ed25519 `cosignature/v1`.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The largest timestamp a cosignature may carry (2^63 − 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Length of the signature bytes after the key ID: timestamp and Ed25519 signature.
const COSIG_LEN: usize = 8 + 64;

/// Why a cosigner key, a cosignature or a cosigning request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CosignatureError {
    /// The name, key ID or key material of a key is invalid.
    Key(KeyError),
    /// The text to cosign is not a checkpoint.
    NotACheckpoint(CheckpointError),
    /// The timestamp exceeds 2^63 − 1.
    TimestampOutOfRange(u64),
    /// The signature line is for another key (name or key ID differ).
    WrongKey { name: String, key_id: u32 },
    /// The signature is not 8 + 64 bytes.
    WrongLength(usize),
    /// The signature does not verify.
    BadSignature,
    /// The note holding the cosignatures is malformed or has an invalid known signature.
    Note(NoteError),
}

impl fmt::Display for CosignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CosignatureError::Key(e) => write!(f, "cosigner key: {e}"),
            CosignatureError::NotACheckpoint(e) => {
                write!(f, "only checkpoints can be cosigned: {e}")
            }
            CosignatureError::TimestampOutOfRange(t) => {
                write!(f, "cosignature timestamp {t} exceeds 2^63-1")
            }
            CosignatureError::WrongKey { name, key_id } => write!(
                f,
                "the signature is by {name}+{key_id:08x}, not by this cosigner"
            ),
            CosignatureError::WrongLength(n) => write!(
                f,
                "a cosignature is {COSIG_LEN} bytes after the key ID (timestamp and Ed25519 signature), not {n}"
            ),
            CosignatureError::BadSignature => write!(f, "the cosignature does not verify"),
            CosignatureError::Note(e) => write!(f, "cosigned note: {e}"),
        }
    }
}

impl std::error::Error for CosignatureError {}

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

fn parse_parts<'a>(s: &'a str, what: &'static str) -> Result<(&'a str, u32, Vec<u8>), KeyError> {
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id), Some(material)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(KeyError::Malformed(what));
    };
    check_name(name)?;
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::InvalidKeyId(id.chars().take(16).collect()));
    }
    let id = u32::from_str_radix(id, 16).map_err(|_| KeyError::InvalidKeyId(id.into()))?;
    let raw = STANDARD
        .decode(material)
        .map_err(|_| KeyError::InvalidKeyMaterial("not standard base64"))?;
    Ok((name, id, raw))
}

fn split_material(raw: &[u8]) -> Result<(u8, [u8; 32]), KeyError> {
    let Some((&alg, rest)) = raw.split_first() else {
        return Err(KeyError::InvalidKeyMaterial("empty"));
    };
    let bytes: [u8; 32] = rest.try_into().map_err(|_| {
        KeyError::InvalidKeyMaterial("an Ed25519 key is 32 bytes after the type byte")
    })?;
    Ok((alg, bytes))
}

fn encode_material(bytes: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(33);
    raw.push(ALG_COSIGNATURE_V1);
    raw.extend_from_slice(bytes);
    STANDARD.encode(raw)
}

fn mismatch(stated: u32, computed: u32) -> KeyError {
    KeyError::KeyIdMismatch {
        stated: format!("{stated:08x}"),
        computed: format!("{computed:08x}"),
    }
}

/// A witness's public key, for checking its cosignatures.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl CosignatureVerifier {
    /// Parses `<name>+<key ID>+<base64(0x04 || public key)>`, checking name, key ID and point.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let (name, stated, raw) = parse_parts(s, "a cosigner key is <name>+<keyid>+<base64 key>")?;
        let (alg, bytes) = split_material(&raw)?;
        if alg != ALG_COSIGNATURE_V1 {
            return Err(KeyError::UnsupportedAlgorithm(alg));
        }
        let v = Self::from_public_key(name, bytes)?;
        if v.id != stated {
            return Err(mismatch(stated, v.id));
        }
        Ok(v)
    }

    /// The verifier for a name and raw Ed25519 public key.
    pub fn from_public_key(name: &str, public_key: [u8; 32]) -> Result<Self, KeyError> {
        check_name(name)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public_key)
            .map_err(|_| KeyError::InvalidPublicKey)?;
        if key.is_weak() {
            return Err(KeyError::InvalidPublicKey);
        }
        Ok(CosignatureVerifier {
            name: name.to_string(),
            id: key_id(name, ALG_COSIGNATURE_V1, &public_key),
            key,
        })
    }

    /// The cosignature verifier for the same name and Ed25519 key as a signed-note (type 0x01)
    /// verifier key, as Go's `VKeyToCosignatureV1` converts it. The key ID changes.
    pub fn from_ed25519_verifier(v: &VerifierKey) -> Result<Self, KeyError> {
        Self::from_public_key(v.name(), v.public_key())
    }

    /// The witness name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The type-0x04 key ID.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The raw public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Verifies one cosignature line over a checkpoint text and returns its timestamp.
    pub fn verify_cosignature(
        &self,
        checkpoint_text: &str,
        sig: &NoteSignature,
    ) -> Result<u64, CosignatureError> {
        if sig.name != self.name || sig.key_id != self.id {
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
        let ed = Signature::from_slice(ed).map_err(|_| CosignatureError::BadSignature)?;
        self.key
            .verify_strict(&message(text, t), &ed)
            .map_err(|_| CosignatureError::BadSignature)?;
        Ok(t)
    }
}

impl NoteVerifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.check(msg, sig).is_ok()
    }
}

impl fmt::Display for CosignatureVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.id,
            encode_material(&self.key.to_bytes())
        )
    }
}

truce_model::key_text_impls!(CosignatureVerifier);

/// A witness's private key. `Debug` never shows the seed.
#[derive(Clone)]
pub struct CosignerKey {
    name: String,
    id: u32,
    key: ed25519_dalek::SigningKey,
}

impl CosignerKey {
    /// A fresh key from the operating system's random source.
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Randomness(e.to_string()))?;
        Self::from_seed(name, seed)
    }

    /// The key with this RFC 8032 seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        check_name(name)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let id = key_id(name, ALG_COSIGNATURE_V1, key.verifying_key().as_bytes());
        Ok(CosignerKey {
            name: name.to_string(),
            id,
            key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<key ID>+<base64(0x04 || seed)>` (surrounding whitespace, such
    /// as a file's final newline, is ignored). A signed-note Ed25519 private key (type 0x01, key
    /// ID of type 0x01) is accepted too, for keys made with Go's `note.GenerateKey`.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let Some(rest) = s.trim().strip_prefix("PRIVATE+KEY+") else {
            return Err(KeyError::Malformed(
                "a private key starts with PRIVATE+KEY+",
            ));
        };
        let (name, stated, raw) = parse_parts(
            rest,
            "a cosigner private key is PRIVATE+KEY+<name>+<keyid>+<base64 seed>",
        )?;
        let (alg, seed) = split_material(&raw)?;
        let key = Self::from_seed(name, seed)?;
        let computed = match alg {
            ALG_COSIGNATURE_V1 => key.id,
            ALG_ED25519 => key_id(name, ALG_ED25519, key.key.verifying_key().as_bytes()),
            other => return Err(KeyError::UnsupportedAlgorithm(other)),
        };
        if computed != stated {
            return Err(mismatch(stated, computed));
        }
        Ok(key)
    }

    /// The private key text, always in the type-0x04 form (no trailing newline).
    pub fn encode(&self) -> String {
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            encode_material(&self.key.to_bytes())
        )
    }

    /// The witness name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The type-0x04 key ID.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The matching public key.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
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
        let ed = self.key.sign(&cosigned_message(checkpoint_text, timestamp));
        let mut sig = Vec::with_capacity(COSIG_LEN);
        sig.extend_from_slice(&timestamp.to_be_bytes());
        sig.extend_from_slice(&ed.to_bytes());
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.id,
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
        write!(f, "CosignerKey({}+{:08x}, seed hidden)", self.name, self.id)
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
        &self.key.name
    }
    fn key_id(&self) -> u32 {
        self.key.id
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
        let ed = k.key.sign(&cosigned_message(BODY, t));
        let mut sig = t.to_be_bytes().to_vec();
        sig.extend_from_slice(&ed.to_bytes());
        let line = NoteSignature {
            name: k.name.clone(),
            key_id: k.id,
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
        // A witness key under w1's name and ID but another key: its line fails, the note is refused.
        let impostor = CosignerKey::from_seed("w1", [9; 32]).unwrap();
        let forged = CosignatureVerifier {
            id: w1.key_id(),
            ..impostor.verifier()
        };
        assert!(matches!(
            verify_cosignatures(&note, &[forged]),
            Err(CosignatureError::Note(NoteError::InvalidSignature { .. }))
        ));
    }
}
