//! Checkpoints (C2SP tlog-checkpoint): the log's signed statement of its tree head.
//!
//! A checkpoint is a signed note whose text is precisely
//!
//! ```text
//! <origin>
//! <tree size, ASCII decimal, no leading zeroes>
//! <base64 of the 32-byte RFC 6962 root hash>
//! [extension lines]
//! ```
//!
//! each line ending in `\n`. truce signs it with the log's Ed25519 key (signed-note type 0x01,
//! DESIGN §7); witnesses add cosignatures (see [`crate::cosignature`]).
//!
//! # Invariants and strictness
//!
//! [`Checkpoint::parse`] accepts exactly the texts [`Checkpoint::to_text`] produces: a non-empty
//! origin, a size of ASCII digits without sign or leading zero (except `0`) that fits in a `u64`,
//! the canonical base64 of exactly 32 bytes, and non-empty extension lines; no control character
//! anywhere. So `Checkpoint::parse(t)?.to_text() == t` for every accepted `t` — which matters
//! because cosignatures sign the checkpoint text byte for byte. The origin may contain spaces or
//! `+` (the spec only recommends against them and tells clients not to assume).
//!
//! [`open_checkpoint`] is the only way a client should turn bytes into a [`Checkpoint`]: it
//! verifies the log's signature (ignoring any other signature, such as cosignatures) *before* it
//! looks at the body, and refuses a checkpoint for another origin, so that a valid checkpoint of
//! some other log signed with a reused key cannot be replayed.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use truce_model::keys::{PrivateKey, VerifierKey};

use crate::note::{Note, NoteError, NoteSigner, NoteVerifier};

/// Why a checkpoint text was refused, or a signed checkpoint did not open.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The signed note is malformed or does not verify under the log key.
    Note(NoteError),
    /// The text does not end in a newline.
    Unterminated,
    /// Fewer than three lines (origin, size, root hash).
    TooFewLines,
    /// The origin line is empty.
    EmptyOrigin,
    /// The size line is not a canonical decimal `u64`.
    InvalidSize(String),
    /// The root hash line is not the canonical base64 of 32 bytes.
    InvalidRootHash(String),
    /// Extension line `line` (1-based among the extension lines) is empty.
    EmptyExtension { line: usize },
    /// A control character (other than the line-ending newlines) in the text.
    ControlCharacter,
    /// The checkpoint is for another log.
    OriginMismatch { expected: String, found: String },
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Note(e) => write!(f, "checkpoint note: {e}"),
            CheckpointError::Unterminated => {
                write!(
                    f,
                    "malformed checkpoint: the text does not end in a newline"
                )
            }
            CheckpointError::TooFewLines => write!(
                f,
                "malformed checkpoint: fewer than three lines (origin, tree size, root hash)"
            ),
            CheckpointError::EmptyOrigin => write!(f, "malformed checkpoint: empty origin line"),
            CheckpointError::InvalidSize(s) => write!(
                f,
                "malformed checkpoint: tree size {s:?} is not a decimal number without leading zeroes"
            ),
            CheckpointError::InvalidRootHash(s) => write!(
                f,
                "malformed checkpoint: root hash {s:?} is not the base64 of 32 bytes"
            ),
            CheckpointError::EmptyExtension { line } => {
                write!(f, "malformed checkpoint: extension line {line} is empty")
            }
            CheckpointError::ControlCharacter => {
                write!(f, "malformed checkpoint: control character in the text")
            }
            CheckpointError::OriginMismatch { expected, found } => write!(
                f,
                "checkpoint is for origin {found:?}, expected {expected:?}"
            ),
        }
    }
}

impl std::error::Error for CheckpointError {}

impl From<NoteError> for CheckpointError {
    fn from(e: NoteError) -> Self {
        CheckpointError::Note(e)
    }
}

/// A tree head: which log, how many leaves, which root.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// The log's identity, e.g. `truce.example/ceasefire-2025`.
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The RFC 6962 Merkle root of the first `size` leaves.
    pub root: [u8; 32],
    /// Opaque extension lines (without newlines). truce writes none.
    pub extensions: Vec<String>,
}

/// Parses a canonical decimal `u64`: ASCII digits only, no sign, no leading zero unless `"0"`.
/// The one spelling of a number in the C2SP formats (checkpoints, tlog-proof, tlog-witness).
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Decodes the canonical standard base64 of exactly 32 bytes: the one spelling of a hash in the
/// C2SP formats (checkpoints, tlog-proof, tlog-witness).
pub fn parse_hash(s: &str) -> Option<[u8; 32]> {
    if s.len() != 44 {
        return None;
    }
    STANDARD.decode(s).ok()?.try_into().ok()
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: [u8; 32]) -> Checkpoint {
        Checkpoint {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// Parses a checkpoint note text (the signed part, ending in `\n`), strictly.
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        if text.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(CheckpointError::ControlCharacter);
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Unterminated)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::TooFewLines);
        };
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size = parse_decimal(size).ok_or_else(|| CheckpointError::InvalidSize(clip(size)))?;
        let root = parse_hash(root).ok_or_else(|| CheckpointError::InvalidRootHash(clip(root)))?;
        let mut extensions = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                return Err(CheckpointError::EmptyExtension { line: i + 1 });
            }
            extensions.push(line.to_string());
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// Checks that [`Checkpoint::to_text`] will produce a text that [`Checkpoint::parse`] reads
    /// back as this checkpoint: a non-empty origin and non-empty extension lines, none with a
    /// newline or another control character.
    pub fn validate(&self) -> Result<(), CheckpointError> {
        if self.origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let bad = |s: &str| s.bytes().any(|b| b < 0x20);
        if bad(&self.origin) {
            return Err(CheckpointError::ControlCharacter);
        }
        for (i, e) in self.extensions.iter().enumerate() {
            if e.is_empty() {
                return Err(CheckpointError::EmptyExtension { line: i + 1 });
            }
            if bad(e) {
                return Err(CheckpointError::ControlCharacter);
            }
        }
        Ok(())
    }

    /// The note text: `<origin>\n<size>\n<base64 root>\n` and one line per extension.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        out
    }
}

impl fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpoint")
            .field("origin", &self.origin)
            .field("size", &self.size)
            .field("root", &STANDARD.encode(self.root))
            .field("extensions", &self.extensions)
            .finish()
    }
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Signs a checkpoint with the log's key (signed-note Ed25519, type 0x01) and returns the signed
/// note's bytes. The spec recommends that the key be named after the origin.
pub fn sign_checkpoint(
    checkpoint: &Checkpoint,
    log_key: &PrivateKey,
) -> Result<Vec<u8>, CheckpointError> {
    checkpoint.validate()?;
    let signer: &dyn NoteSigner = log_key;
    Ok(Note::sign(checkpoint.to_text(), &[signer])?.to_bytes())
}

/// Parses a signed checkpoint, verifies the log's signature, parses the body and checks the
/// origin. Other signatures (cosignatures, other keys) are ignored.
pub fn open_checkpoint(
    bytes: &[u8],
    origin: &str,
    log_key: &VerifierKey,
) -> Result<Checkpoint, CheckpointError> {
    open_checkpoint_note(bytes, origin, log_key).map(|(c, _)| c)
}

/// Like [`open_checkpoint`], and also returns the parsed note (to read or add cosignatures).
pub fn open_checkpoint_note(
    bytes: &[u8],
    origin: &str,
    log_key: &VerifierKey,
) -> Result<(Checkpoint, Note), CheckpointError> {
    let note = Note::parse(bytes)?;
    let checkpoint = verify_checkpoint_note(&note, origin, log_key)?;
    Ok((checkpoint, note))
}

/// Verifies an already-parsed checkpoint note: log signature, body, origin.
pub fn verify_checkpoint_note(
    note: &Note,
    origin: &str,
    log_key: &VerifierKey,
) -> Result<Checkpoint, CheckpointError> {
    let verifier: &dyn NoteVerifier = log_key;
    note.verify(&[verifier])?;
    let checkpoint = Checkpoint::parse(note.text())?;
    if checkpoint.origin != origin {
        return Err(CheckpointError::OriginMismatch {
            expected: origin.to_string(),
            found: checkpoint.origin,
        });
    }
    Ok(checkpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the C2SP tlog-checkpoint specification.
    const SPEC_TEXT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn parses_spec_example() {
        let c = Checkpoint::parse(SPEC_TEXT).unwrap();
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, 20852163);
        assert_eq!(c.root[0], 0x0a);
        assert!(c.extensions.is_empty());
        assert_eq!(c.to_text(), SPEC_TEXT);
    }

    #[test]
    fn strict_size() {
        for size in [
            "",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "0x10",
            "18446744073709551616",
            "１",
        ] {
            let t = format!("o\n{size}\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
            assert!(
                matches!(Checkpoint::parse(&t), Err(CheckpointError::InvalidSize(_))),
                "{size:?}"
            );
        }
        let t = "o\n18446744073709551615\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        assert_eq!(Checkpoint::parse(t).unwrap().size, u64::MAX);
        let t = "o\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        assert_eq!(Checkpoint::parse(t).unwrap().size, 0);
    }

    #[test]
    fn strict_root_and_lines() {
        for root in [
            "",
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I", // no padding
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=", // non-canonical last bits
            "CsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=", // URL alphabet
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2Iyy", // not 32 bytes
            "AAAA",
        ] {
            let t = format!("o\n1\n{root}\n");
            assert!(
                matches!(
                    Checkpoint::parse(&t),
                    Err(CheckpointError::InvalidRootHash(_))
                ),
                "{root:?}"
            );
        }
        assert_eq!(
            Checkpoint::parse(SPEC_TEXT.trim_end()),
            Err(CheckpointError::Unterminated)
        );
        assert_eq!(
            Checkpoint::parse("o\n1\n"),
            Err(CheckpointError::TooFewLines)
        );
        assert_eq!(
            Checkpoint::parse(&format!("\n{}", &SPEC_TEXT[28..])),
            Err(CheckpointError::EmptyOrigin)
        );
        assert_eq!(
            Checkpoint::parse(&format!("{SPEC_TEXT}ext\n\n")),
            Err(CheckpointError::EmptyExtension { line: 2 })
        );
        assert_eq!(
            Checkpoint::parse(&format!("{SPEC_TEXT}ext\r\n")),
            Err(CheckpointError::ControlCharacter)
        );
        let c = Checkpoint::parse(&format!("{SPEC_TEXT}ext one\ntwo\n")).unwrap();
        assert_eq!(c.extensions, ["ext one", "two"]);
    }

    #[test]
    fn sign_and_open() {
        let k = PrivateKey::from_seed("truce.example/log", [7; 32]).unwrap();
        let c = Checkpoint::new("truce.example/log", 3, [9; 32]);
        let signed = sign_checkpoint(&c, &k).unwrap();
        assert_eq!(
            open_checkpoint(&signed, "truce.example/log", &k.verifier()),
            Ok(c.clone())
        );
        assert!(matches!(
            open_checkpoint(&signed, "other", &k.verifier()),
            Err(CheckpointError::OriginMismatch { .. })
        ));
        let other = PrivateKey::from_seed("truce.example/log", [8; 32]).unwrap();
        assert_eq!(
            open_checkpoint(&signed, "truce.example/log", &other.verifier()),
            Err(CheckpointError::Note(NoteError::NoKnownSignature))
        );
        let mut bad = c.clone();
        bad.origin = "a\nb".into();
        assert_eq!(
            sign_checkpoint(&bad, &k),
            Err(CheckpointError::ControlCharacter)
        );
        bad.origin = String::new();
        assert_eq!(sign_checkpoint(&bad, &k), Err(CheckpointError::EmptyOrigin));
    }

    #[test]
    fn signed_note_that_is_not_a_checkpoint() {
        let k = PrivateKey::from_seed("log", [7; 32]).unwrap();
        let signer: &dyn NoteSigner = &k;
        let n = Note::sign("log\nnot a size\nroot\n", &[signer]).unwrap();
        assert!(matches!(
            open_checkpoint(&n.to_bytes(), "log", &k.verifier()),
            Err(CheckpointError::InvalidSize(_))
        ));
    }
}
