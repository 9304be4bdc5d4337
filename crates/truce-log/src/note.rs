//! Signed notes (C2SP signed-note, as implemented by Go's `golang.org/x/mod/sumdb/note`).
//!
//! Every statement the ledger makes about itself — checkpoints, witness cosignatures, the
//! checkpoint inside a receipt — travels as a signed note: a UTF-8 text ending in a newline, a
//! blank line, and one or more lines `— <key name> <base64(4-byte key ID || signature)>`.
//!
//! ```text
//! If you think cryptography is the answer to your problem,
//! then you don't know what your problem is.
//!
//! — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=
//! ```
//!
//! # Parsing ([`Note::parse`]) is strict
//!
//! The input must be valid UTF-8 with no ASCII control character other than `\n`, at most
//! [`MAX_NOTE_BYTES`] long; the text is separated from the signatures by the *last* blank line
//! (the text may itself contain blank lines); every line after it must be a signature line with
//! the em dash (U+2014), a valid key name (non-empty, no Unicode space, no `+`), one space and
//! canonical standard base64 of at least 5 bytes; there are at most [`MAX_SIGNATURES`] lines (the
//! spec requires accepting at least 16; Go's implementation stops at 100, as we do).
//!
//! # Invariants
//!
//! A [`Note`] value is always well formed: its text ends in `\n` and has no control characters,
//! it has between 1 and [`MAX_SIGNATURES`] signatures with valid names, and its encoding fits in
//! [`MAX_NOTE_BYTES`]. Hence [`Note::to_bytes`] always re-parses to an equal note, and because the
//! base64 decoder only accepts the canonical encoding, `Note::parse(b)?.to_bytes() == b` for
//! *every* accepted input `b`: a note can be stored parsed and served again byte for byte.
//!
//! # Verification ([`Note::verify`]) follows the spec's rules
//!
//! A signature whose (name, key ID) pair is not among the known verifiers is ignored — even if
//! it shares the name *or* the ID with a known key. A signature from a known key MUST verify,
//! and a failing one rejects the whole note (the spec's SHOULD, taken as a MUST here). If no
//! signature from a known key verifies, the note is rejected. Unlike Go, which skips repeated
//! lines from an already-seen key, every line from a known key is checked; the result lists
//! each key once. Two known verifiers with the same name and key ID make a note that carries that
//! pair unverifiable ([`NoteError::AmbiguousKey`]): the configuration is broken.
//!
//! The text of a note means nothing until [`Note::verify`] has succeeded.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use truce_model::keys::{PrivateKey, VerifierKey};

/// The largest encoded note accepted, in bytes. The spec asks for room for at least 16
/// signatures of up to ~5 kB (post-quantum); 100 such lines fit with the text.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// The most signature lines a note may carry.
pub const MAX_SIGNATURES: usize = 100;

/// Em dash (U+2014) and a space: how every signature line starts.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note was refused, could not be built, or did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoteError {
    /// The encoded note is longer than [`MAX_NOTE_BYTES`].
    TooLarge { len: usize },
    /// The bytes are not UTF-8 (the first bad byte is at `offset`).
    InvalidUtf8 { offset: usize },
    /// An ASCII control character other than `\n` at byte `offset`.
    ControlCharacter { offset: usize },
    /// There is no blank line separating the text from the signatures.
    MissingBlankLine,
    /// The note has no signature line after the blank line.
    NoSignatures,
    /// The last signature line does not end in `\n`.
    UnterminatedSignature,
    /// Signature line `line` (1-based, within the signature block) does not start with `— `.
    MissingEmDash { line: usize },
    /// Signature line `line` has no space between key name and signature.
    MissingSignature { line: usize },
    /// Signature line `line` names a key with an empty name, a Unicode space or a `+`.
    InvalidKeyName { line: usize },
    /// Signature line `line`'s signature is not canonical standard base64.
    InvalidBase64 { line: usize },
    /// Signature line `line` decodes to fewer than 5 bytes (4-byte key ID and a signature).
    SignatureTooShort { line: usize },
    /// More than [`MAX_SIGNATURES`] signature lines.
    TooManySignatures { count: usize },
    /// A text handed to [`Note::new`] or [`Note::sign`] is not a valid note text.
    InvalidText(&'static str),
    /// A signer has a name that may not appear in a note.
    InvalidSigner(String),
    /// A signer failed to produce a signature.
    SigningFailed(String),
    /// Two known verifiers share this name and key ID.
    AmbiguousKey { name: String, key_id: u32 },
    /// A signature from a known key does not verify.
    InvalidSignature { name: String, key_id: u32 },
    /// No signature from a known key is on the note.
    NoKnownSignature,
}

impl fmt::Display for NoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoteError::TooLarge { len } => write!(
                f,
                "malformed note: {len} bytes exceeds the limit of {MAX_NOTE_BYTES}"
            ),
            NoteError::InvalidUtf8 { offset } => {
                write!(f, "malformed note: invalid UTF-8 at byte {offset}")
            }
            NoteError::ControlCharacter { offset } => write!(
                f,
                "malformed note: control character at byte {offset} (only newline is allowed)"
            ),
            NoteError::MissingBlankLine => write!(
                f,
                "malformed note: no blank line separates the text from the signatures"
            ),
            NoteError::NoSignatures => {
                write!(f, "malformed note: no signature line after the blank line")
            }
            NoteError::UnterminatedSignature => {
                write!(
                    f,
                    "malformed note: the last signature line does not end in a newline"
                )
            }
            NoteError::MissingEmDash { line } => write!(
                f,
                "malformed note: signature line {line} does not start with an em dash (U+2014) and a space"
            ),
            NoteError::MissingSignature { line } => write!(
                f,
                "malformed note: signature line {line} has no space between key name and signature"
            ),
            NoteError::InvalidKeyName { line } => write!(
                f,
                "malformed note: signature line {line} has an invalid key name (empty, or with a space or '+')"
            ),
            NoteError::InvalidBase64 { line } => write!(
                f,
                "malformed note: signature line {line} is not canonical standard base64"
            ),
            NoteError::SignatureTooShort { line } => write!(
                f,
                "malformed note: signature line {line} is shorter than a key ID and a signature"
            ),
            NoteError::TooManySignatures { count } => write!(
                f,
                "malformed note: {count} signature lines, the limit is {MAX_SIGNATURES}"
            ),
            NoteError::InvalidText(why) => write!(f, "invalid note text: {why}"),
            NoteError::InvalidSigner(name) => write!(f, "invalid signer name {name:?}"),
            NoteError::SigningFailed(why) => write!(f, "signing failed: {why}"),
            NoteError::AmbiguousKey { name, key_id } => write!(
                f,
                "ambiguous key {name}+{key_id:08x}: several known verifiers have this name and ID"
            ),
            NoteError::InvalidSignature { name, key_id } => {
                write!(f, "invalid signature for key {name}+{key_id:08x}")
            }
            NoteError::NoKnownSignature => {
                write!(f, "the note has no valid signature from a known key")
            }
        }
    }
}

impl std::error::Error for NoteError {}

/// Checks a key name against the signed-note rule: non-empty, no Unicode space (Go's
/// `unicode.IsSpace`, i.e. the White_Space property), no `+`. Control characters cannot occur in
/// a parsed note; [`Note::sign`] refuses them separately.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

fn has_control(s: &str) -> Option<usize> {
    // UTF-8 continuation and lead bytes are all >= 0x80, so a byte scan is exact.
    s.bytes().position(|b| b < 0x20 && b != b'\n')
}

/// One signature line of a note: the key's name, its 32-bit ID, and the raw signature bytes
/// (after the key ID). Nothing about it is trusted until a [`NoteVerifier`] has checked it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key ID, the first four bytes of the decoded signature, big-endian.
    pub key_id: u32,
    /// The signature proper (everything after the key ID).
    pub sig: Vec<u8>,
}

impl NoteSignature {
    /// The base64 part of the line: `base64(key ID || signature)`.
    pub fn encoded(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.sig.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.sig);
        STANDARD.encode(raw)
    }

    /// The full signature line, `— <name> <base64>\n`, as it appears in a note (and in a
    /// tlog-witness `add-checkpoint` response).
    pub fn to_line(&self) -> String {
        format!("{SIG_PREFIX}{} {}\n", self.name, self.encoded())
    }

    /// Parses one signature line without its final newline. `line` numbers the error.
    fn parse_line(s: &str, line: usize) -> Result<Self, NoteError> {
        let rest = s
            .strip_prefix(SIG_PREFIX)
            .ok_or(NoteError::MissingEmDash { line })?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(NoteError::MissingSignature { line })?;
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName { line });
        }
        if b64.is_empty() {
            return Err(NoteError::InvalidBase64 { line });
        }
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::InvalidBase64 { line })?;
        if raw.len() < 5 {
            return Err(NoteError::SignatureTooShort { line });
        }
        let (id, sig) = raw.split_at(4);
        Ok(NoteSignature {
            name: name.to_string(),
            key_id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]),
            sig: sig.to_vec(),
        })
    }

    fn check(&self, line: usize) -> Result<(), NoteError> {
        if !is_valid_key_name(&self.name) || has_control(&self.name).is_some() {
            return Err(NoteError::InvalidKeyName { line });
        }
        if self.sig.is_empty() {
            return Err(NoteError::SignatureTooShort { line });
        }
        Ok(())
    }
}

impl fmt::Debug for NoteSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NoteSignature({}+{:08x} {})",
            self.name,
            self.key_id,
            self.encoded()
        )
    }
}

/// Parses a block of signature lines only (each `— <name> <base64>\n`), such as the body of a
/// tlog-witness `add-checkpoint` response. The same rules as inside a note apply; an empty block
/// is refused.
pub fn parse_signature_lines(block: &[u8]) -> Result<Vec<NoteSignature>, NoteError> {
    if block.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge { len: block.len() });
    }
    let s = std::str::from_utf8(block).map_err(|e| NoteError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    if let Some(offset) = has_control(s) {
        return Err(NoteError::ControlCharacter { offset });
    }
    if s.is_empty() {
        return Err(NoteError::NoSignatures);
    }
    let Some(body) = s.strip_suffix('\n') else {
        return Err(NoteError::UnterminatedSignature);
    };
    let mut out = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count: body.split('\n').count(),
            });
        }
        out.push(NoteSignature::parse_line(line, i + 1)?);
    }
    Ok(out)
}

/// A key that can check note signatures: identified by name and key ID, as the spec requires.
pub trait NoteVerifier {
    /// The key name.
    fn name(&self) -> &str;
    /// The 32-bit key ID.
    fn key_id(&self) -> u32;
    /// Whether `sig` (the bytes after the key ID) is a valid signature of `msg` (the note text).
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool;
}

/// A key that can sign note texts.
pub trait NoteSigner {
    /// The key name.
    fn name(&self) -> &str;
    /// The 32-bit key ID.
    fn key_id(&self) -> u32;
    /// The signature of `msg` (the note text), without the key ID.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, NoteError>;
}

/// Ed25519 signed-note keys (type 0x01), strict verification.
impl NoteVerifier for VerifierKey {
    fn name(&self) -> &str {
        VerifierKey::name(self)
    }
    fn key_id(&self) -> u32 {
        self.id()
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        VerifierKey::verify(self, msg, sig).is_ok()
    }
}

/// Ed25519 signed-note keys (type 0x01).
impl NoteSigner for PrivateKey {
    fn name(&self) -> &str {
        PrivateKey::name(self)
    }
    fn key_id(&self) -> u32 {
        self.verifier().id()
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, NoteError> {
        Ok(PrivateKey::sign(self, msg).to_vec())
    }
}

/// A well-formed signed note (see the module documentation for the invariants).
#[derive(Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses an encoded note, strictly (see the module documentation). Does not verify.
    pub fn parse(msg: &[u8]) -> Result<Note, NoteError> {
        if msg.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge { len: msg.len() });
        }
        let s = std::str::from_utf8(msg).map_err(|e| NoteError::InvalidUtf8 {
            offset: e.valid_up_to(),
        })?;
        if let Some(offset) = has_control(s) {
            return Err(NoteError::ControlCharacter { offset });
        }
        let split = s.rfind("\n\n").ok_or(NoteError::MissingBlankLine)?;
        let text = &s[..split + 1];
        let block = &s[split + 2..];
        if block.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let signatures = parse_signature_lines(block.as_bytes())?;
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// A note from a text and existing signatures (for example cosignatures returned by a
    /// witness), checked against the invariants. Does not verify the signatures.
    pub fn new(text: impl Into<String>, signatures: Vec<NoteSignature>) -> Result<Note, NoteError> {
        let text = text.into();
        check_text(&text)?;
        let note = Note {
            text,
            signatures: Vec::new(),
        };
        note.with_signatures(signatures)
    }

    /// Signs `text` with every signer, in order.
    pub fn sign(text: impl Into<String>, signers: &[&dyn NoteSigner]) -> Result<Note, NoteError> {
        let text = text.into();
        check_text(&text)?;
        let mut signatures = Vec::with_capacity(signers.len());
        for s in signers {
            signatures.push(sign_one(&text, *s)?);
        }
        Note::new(text, signatures)
    }

    /// Adds signatures by more signers (a second log key, a cosigner) after the existing ones.
    /// An existing signature by the same (name, key ID) is replaced, as Go's `note.Sign` does.
    pub fn add_signatures(&mut self, signers: &[&dyn NoteSigner]) -> Result<(), NoteError> {
        let mut fresh = Vec::with_capacity(signers.len());
        for s in signers {
            fresh.push(sign_one(&self.text, *s)?);
        }
        for sig in fresh {
            self.push_signature(sig)?;
        }
        Ok(())
    }

    /// Appends a signature line (replacing one with the same name and key ID). Not verified.
    pub fn push_signature(&mut self, sig: NoteSignature) -> Result<(), NoteError> {
        let mut signatures: Vec<NoteSignature> = self
            .signatures
            .iter()
            .filter(|s| !(s.name == sig.name && s.key_id == sig.key_id))
            .cloned()
            .collect();
        signatures.push(sig);
        *self = self.clone().with_signatures(signatures)?;
        Ok(())
    }

    fn with_signatures(mut self, signatures: Vec<NoteSignature>) -> Result<Note, NoteError> {
        if signatures.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        if signatures.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count: signatures.len(),
            });
        }
        for (i, s) in signatures.iter().enumerate() {
            s.check(i + 1)?;
        }
        self.signatures = signatures;
        let len = self.encoded_len();
        if len > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge { len });
        }
        Ok(self)
    }

    /// The note text, including its final newline. Untrusted until [`Note::verify`] succeeds.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// All signature lines, in order, verified or not.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Verifies the note against the known keys (see the module documentation for the rules)
    /// and returns the verified signatures, one per key, in note order.
    pub fn verify(&self, known: &[&dyn NoteVerifier]) -> Result<Vec<NoteSignature>, NoteError> {
        let verified = self.verify_known(known)?;
        if verified.is_empty() {
            return Err(NoteError::NoKnownSignature);
        }
        Ok(verified)
    }

    /// Like [`Note::verify`], but a note without any signature from a known key is not an error:
    /// the result is then empty. For collecting optional cosignatures next to a mandatory log
    /// signature checked separately.
    pub fn verify_known(
        &self,
        known: &[&dyn NoteVerifier],
    ) -> Result<Vec<NoteSignature>, NoteError> {
        let mut verified: Vec<NoteSignature> = Vec::new();
        for sig in &self.signatures {
            let mut matching = known
                .iter()
                .filter(|v| v.name() == sig.name && v.key_id() == sig.key_id);
            let Some(v) = matching.next() else {
                continue; // unknown key: ignored, whatever it claims
            };
            if matching.next().is_some() {
                return Err(NoteError::AmbiguousKey {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            if !v.verify(self.text.as_bytes(), &sig.sig) {
                return Err(NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            if !verified
                .iter()
                .any(|s| s.name == sig.name && s.key_id == sig.key_id)
            {
                verified.push(sig.clone());
            }
        }
        Ok(verified)
    }

    /// The encoded note: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_text().into_bytes()
    }

    /// The encoded note as a string.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.encoded_len());
        out.push_str(&self.text);
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.to_line());
        }
        out
    }

    fn encoded_len(&self) -> usize {
        self.text.len()
            + 1
            + self
                .signatures
                .iter()
                .map(|s| {
                    SIG_PREFIX.len() + s.name.len() + 1 + (4 + s.sig.len()).div_ceil(3) * 4 + 1
                })
                .sum::<usize>()
    }
}

impl fmt::Debug for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Note")
            .field("text", &self.text)
            .field("signatures", &self.signatures)
            .finish()
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::InvalidText("the text must end in a newline"));
    }
    if has_control(text).is_some() {
        return Err(NoteError::InvalidText(
            "the text may not contain control characters other than newline",
        ));
    }
    if text.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge { len: text.len() });
    }
    Ok(())
}

fn sign_one(text: &str, s: &dyn NoteSigner) -> Result<NoteSignature, NoteError> {
    let name = s.name();
    if !is_valid_key_name(name) || has_control(name).is_some() {
        return Err(NoteError::InvalidSigner(name.to_string()));
    }
    let sig = s.sign(text.as_bytes())?;
    if sig.is_empty() {
        return Err(NoteError::SigningFailed(
            "the signer returned no bytes".into(),
        ));
    }
    Ok(NoteSignature {
        name: name.to_string(),
        key_id: s.key_id(),
        sig,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of Go's golang.org/x/mod/sumdb/note documentation and tests.
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    fn peter() -> VerifierKey {
        VerifierKey::parse(PETER_VKEY).unwrap()
    }

    #[test]
    fn verifies_go_example_note() {
        let msg = format!("{TEXT}\n{PETER_SIG}");
        let n = Note::parse(msg.as_bytes()).unwrap();
        assert_eq!(n.text(), TEXT);
        let v = peter();
        let ok = n.verify(&[&v]).unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].name, "PeterNeumann");
        assert_eq!(ok[0].key_id, 0xc74f20a3);
        assert_eq!(n.to_bytes(), msg.as_bytes());
    }

    #[test]
    fn signs_like_go() {
        let k = PrivateKey::parse(PETER_SKEY).unwrap();
        let n = Note::sign(TEXT, &[&k]).unwrap();
        assert_eq!(n.to_text(), format!("{TEXT}\n{PETER_SIG}"));
    }

    #[test]
    fn doubly_signed_note_with_one_or_both_keys() {
        let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let n = Note::parse(msg.as_bytes()).unwrap();
        let p = peter();
        let e = VerifierKey::parse(ENOCH_VKEY).unwrap();
        assert_eq!(n.verify(&[&p]).unwrap().len(), 1);
        let both = n.verify(&[&p, &e]).unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(both[1].key_id, 0xaf0cfe78);
        assert_eq!(n.verify(&[]), Err(NoteError::NoKnownSignature));
        // A key listed twice is ambiguous only when the note carries its signature.
        assert!(matches!(
            n.verify(&[&e, &p, &e]),
            Err(NoteError::AmbiguousKey { .. })
        ));
        let peter_only = Note::parse(format!("{TEXT}\n{PETER_SIG}").as_bytes()).unwrap();
        assert!(peter_only.verify(&[&e, &p, &e]).is_ok());
    }

    #[test]
    fn known_key_with_bad_signature_rejects() {
        let bad = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        let n = Note::parse(bad.as_bytes()).unwrap();
        assert_eq!(
            n.verify(&[&peter()]),
            Err(NoteError::InvalidSignature {
                name: "PeterNeumann".into(),
                key_id: 0xc74f20a3
            })
        );
    }

    #[test]
    fn go_malformed_examples() {
        let bad = [
            TEXT.to_string(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            format!("\x01{TEXT}\n{PETER_SIG}"),
            format!(
                "{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
            ),
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
        ];
        for m in bad {
            assert!(Note::parse(m.as_bytes()).is_err(), "{m:?}");
        }
        let mut invalid = b"\xff".to_vec();
        invalid.extend_from_slice(format!("{TEXT}\n{PETER_SIG}").as_bytes());
        assert_eq!(
            Note::parse(&invalid),
            Err(NoteError::InvalidUtf8 { offset: 0 })
        );
    }

    #[test]
    fn push_replaces_same_key_and_keeps_invariants() {
        let k = PrivateKey::parse(PETER_SKEY).unwrap();
        let mut n = Note::sign(TEXT, &[&k]).unwrap();
        n.add_signatures(&[&k]).unwrap();
        assert_eq!(n.signatures().len(), 1);
        let bad = NoteSignature {
            name: "a b".into(),
            key_id: 1,
            sig: vec![1],
        };
        assert_eq!(
            n.push_signature(bad),
            Err(NoteError::InvalidKeyName { line: 2 })
        );
        assert_eq!(n.signatures().len(), 1);
        assert!(Note::new("no newline", vec![]).is_err());
        assert_eq!(Note::new("x\n", vec![]), Err(NoteError::NoSignatures));
    }

    #[test]
    fn signature_lines_block() {
        let sigs = parse_signature_lines(format!("{PETER_SIG}{ENOCH_SIG}").as_bytes()).unwrap();
        assert_eq!(sigs.len(), 2);
        assert_eq!(sigs[0].to_line(), PETER_SIG);
        assert_eq!(parse_signature_lines(b""), Err(NoteError::NoSignatures));
        assert_eq!(
            parse_signature_lines(format!("{PETER_SIG}\n").as_bytes()),
            Err(NoteError::MissingEmDash { line: 2 })
        );
    }
}
