//! Receipts: C2SP tlog-proof v1, an offline-verifiable proof that an entry is in the log.
//!
//! `POST /v1/entries` answers with one of these (DESIGN §7). The text is
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 opaque data>          (optional line)
//! index <zero-based index, decimal, no leading zeroes>
//! <base64 hash>                       (zero or more: the RFC 6962 inclusion proof,
//! ...                                  leaf's sibling first, root's child last)
//!                                     (an empty line)
//! <the checkpoint signed note, verbatim, with any cosignatures>
//! ```
//!
//! # What verification means
//!
//! [`TlogProof::verify`] checks, in this order: the checkpoint note carries a valid signature by
//! the log key (other signatures are ignored), its body is a checkpoint for the expected origin,
//! the index is inside the tree, and the inclusion proof leads from the given leaf hash to the
//! checkpoint's root. Only then is the checkpoint returned. [`TlogProof::verify_witnessed`] also
//! requires cosignatures from a quorum of known witnesses. The `extra` data is *not*
//! authenticated by any of this and must not be trusted.
//!
//! # Strictness and invariants
//!
//! Parsing accepts exactly what [`TlogProof::to_text`] writes: canonical decimals and base64,
//! hashes of exactly 32 bytes, at most [`MAX_PROOF_HASHES`] of them (a tree of at most 2^64 leaves
//! has inclusion proofs of at most 64 hashes), a checkpoint that is a strict signed note whose
//! text is a strict checkpoint, no control character, at most [`MAX_PROOF_BYTES`] in all. A
//! [`TlogProof`] value always satisfies the same rules, so `parse(to_text(p)) == p` and
//! `to_text(parse(b)) == b`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use truce_model::keys::VerifierKey;

use crate::checkpoint::{
    Checkpoint, CheckpointError, parse_decimal, parse_hash, verify_checkpoint_note,
};
use crate::cosignature::{CosignatureError, CosignatureVerifier, verify_cosignatures};
use crate::note::{MAX_NOTE_BYTES, Note};

/// The first line of every v1 proof.
pub const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The most inclusion proof hashes accepted.
pub const MAX_PROOF_HASHES: usize = 64;

/// The most extra data accepted, in bytes (decoded).
pub const MAX_EXTRA_BYTES: usize = 16 * 1024;

/// The largest encoded proof accepted, in bytes.
pub const MAX_PROOF_BYTES: usize = MAX_NOTE_BYTES + 32 * 1024;

/// Why a proof was refused or did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// The proof is longer than [`MAX_PROOF_BYTES`].
    TooLarge { len: usize },
    /// The bytes are not UTF-8.
    InvalidUtf8,
    /// A control character other than `\n`.
    ControlCharacter,
    /// The first line is not `c2sp.org/tlog-proof@v1`.
    MissingHeader,
    /// The `extra` line is not canonical base64, or decodes to more than [`MAX_EXTRA_BYTES`].
    InvalidExtra,
    /// There is no `index <n>` line with a canonical decimal.
    InvalidIndex,
    /// Inclusion proof line `line` (1-based among the hash lines) is not the base64 of 32 bytes.
    InvalidHash { line: usize },
    /// More than [`MAX_PROOF_HASHES`] hashes.
    TooManyHashes,
    /// No empty line and checkpoint after the inclusion proof.
    MissingCheckpoint,
    /// The checkpoint is malformed, not signed by the log key, or for another origin.
    Checkpoint(CheckpointError),
    /// The index is not inside the checkpointed tree.
    IndexOutOfRange { index: u64, size: u64 },
    /// The inclusion proof does not lead from the leaf to the root.
    Inclusion(String),
    /// A cosignature from a known witness is invalid.
    Cosignature(CosignatureError),
    /// Fewer known witnesses cosigned than the policy requires.
    Quorum { needed: usize, got: usize },
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofError::TooLarge { len } => write!(
                f,
                "malformed proof: {len} bytes exceeds the limit of {MAX_PROOF_BYTES}"
            ),
            ProofError::InvalidUtf8 => write!(f, "malformed proof: not UTF-8"),
            ProofError::ControlCharacter => {
                write!(f, "malformed proof: control character other than newline")
            }
            ProofError::MissingHeader => {
                write!(f, "malformed proof: the first line is not {PROOF_HEADER}")
            }
            ProofError::InvalidExtra => write!(
                f,
                "malformed proof: the extra line is not canonical base64 of at most {MAX_EXTRA_BYTES} bytes"
            ),
            ProofError::InvalidIndex => write!(
                f,
                "malformed proof: no 'index <n>' line with a decimal without leading zeroes"
            ),
            ProofError::InvalidHash { line } => write!(
                f,
                "malformed proof: inclusion proof line {line} is not the base64 of a 32-byte hash"
            ),
            ProofError::TooManyHashes => write!(
                f,
                "malformed proof: more than {MAX_PROOF_HASHES} inclusion proof hashes"
            ),
            ProofError::MissingCheckpoint => write!(
                f,
                "malformed proof: no empty line and checkpoint after the inclusion proof"
            ),
            ProofError::Checkpoint(e) => write!(f, "proof checkpoint: {e}"),
            ProofError::IndexOutOfRange { index, size } => write!(
                f,
                "entry index {index} is not in the checkpointed tree of size {size}"
            ),
            ProofError::Inclusion(why) => write!(f, "inclusion proof does not verify: {why}"),
            ProofError::Cosignature(e) => write!(f, "proof cosignature: {e}"),
            ProofError::Quorum { needed, got } => write!(
                f,
                "the checkpoint is cosigned by {got} known witnesses, {needed} are required"
            ),
        }
    }
}

impl std::error::Error for ProofError {}

impl From<CheckpointError> for ProofError {
    fn from(e: CheckpointError) -> Self {
        ProofError::Checkpoint(e)
    }
}

/// A parsed tlog-proof (see the module documentation). Nothing in it is trusted until
/// [`TlogProof::verify`] succeeds.
#[derive(Clone, PartialEq, Eq)]
pub struct TlogProof {
    extra: Option<Vec<u8>>,
    index: u64,
    proof: Vec<[u8; 32]>,
    note: Note,
    checkpoint: Checkpoint,
}

impl TlogProof {
    /// Builds a proof from an entry index, its inclusion proof, the signed checkpoint note (with
    /// any cosignatures) and optional extra data.
    pub fn new(
        index: u64,
        proof: Vec<[u8; 32]>,
        checkpoint_note: Note,
        extra: Option<Vec<u8>>,
    ) -> Result<TlogProof, ProofError> {
        if proof.len() > MAX_PROOF_HASHES {
            return Err(ProofError::TooManyHashes);
        }
        if extra.as_ref().is_some_and(|e| e.len() > MAX_EXTRA_BYTES) {
            return Err(ProofError::InvalidExtra);
        }
        let checkpoint = Checkpoint::parse(checkpoint_note.text())?;
        Ok(TlogProof {
            extra,
            index,
            proof,
            note: checkpoint_note,
            checkpoint,
        })
    }

    /// Parses a proof, strictly. Does not verify anything.
    pub fn parse(bytes: &[u8]) -> Result<TlogProof, ProofError> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(ProofError::TooLarge { len: bytes.len() });
        }
        let s = std::str::from_utf8(bytes).map_err(|_| ProofError::InvalidUtf8)?;
        if s.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(ProofError::ControlCharacter);
        }
        let mut rest = s;
        let mut next_line = |err: ProofError| -> Result<&str, ProofError> {
            let (line, after) = rest.split_once('\n').ok_or(err)?;
            rest = after;
            Ok(line)
        };
        if next_line(ProofError::MissingHeader)? != PROOF_HEADER {
            return Err(ProofError::MissingHeader);
        }
        let mut line = next_line(ProofError::InvalidIndex)?;
        let extra = match line.strip_prefix("extra ") {
            Some(b64) => {
                let e = STANDARD.decode(b64).map_err(|_| ProofError::InvalidExtra)?;
                if e.len() > MAX_EXTRA_BYTES {
                    return Err(ProofError::InvalidExtra);
                }
                line = next_line(ProofError::InvalidIndex)?;
                Some(e)
            }
            None => None,
        };
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or(ProofError::InvalidIndex)?;
        let mut proof = Vec::new();
        loop {
            let line = next_line(ProofError::MissingCheckpoint)?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_HASHES {
                return Err(ProofError::TooManyHashes);
            }
            let h = parse_hash(line).ok_or(ProofError::InvalidHash {
                line: proof.len() + 1,
            })?;
            proof.push(h);
        }
        let note = Note::parse(rest.as_bytes()).map_err(CheckpointError::Note)?;
        TlogProof::new(index, proof, note, extra)
    }

    /// The proof text.
    pub fn to_text(&self) -> String {
        let mut out = format!("{PROOF_HEADER}\n");
        if let Some(e) = &self.extra {
            out.push_str("extra ");
            out.push_str(&STANDARD.encode(e));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            out.push_str(&STANDARD.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.note.to_text());
        out
    }

    /// The entry's index, as claimed.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The inclusion proof hashes, leaf's sibling first.
    pub fn proof(&self) -> &[[u8; 32]] {
        &self.proof
    }

    /// The unauthenticated extra data, if any.
    pub fn extra(&self) -> Option<&[u8]> {
        self.extra.as_deref()
    }

    /// The signed checkpoint note, with all its signatures (unverified).
    pub fn checkpoint_note(&self) -> &Note {
        &self.note
    }

    /// The checkpoint body, as claimed (unverified).
    pub fn claimed_checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Verifies the proof for the entry whose RFC 6962 leaf hash is `leaf_hash`, against the
    /// log's key and origin, and returns the verified checkpoint. The inclusion check is
    /// [`crate::merkle::check_record`].
    pub fn verify(
        &self,
        leaf_hash: &[u8; 32],
        log_key: &VerifierKey,
        origin: &str,
    ) -> Result<Checkpoint, ProofError> {
        self.verify_with(leaf_hash, log_key, origin, crate::merkle::check_record)
    }

    /// [`TlogProof::verify`] with another inclusion check.
    ///
    /// `check_inclusion(proof, tree_size, root, index, leaf_hash)` must be the RFC 6962
    /// inclusion check (the argument order of [`crate::merkle::check_record`]); it is only
    /// called once the checkpoint's signature and origin are verified and `index < tree_size`.
    pub fn verify_with<F, E>(
        &self,
        leaf_hash: &[u8; 32],
        log_key: &VerifierKey,
        origin: &str,
        check_inclusion: F,
    ) -> Result<Checkpoint, ProofError>
    where
        F: FnOnce(&[[u8; 32]], u64, &[u8; 32], u64, &[u8; 32]) -> Result<(), E>,
        E: fmt::Display,
    {
        let checkpoint = verify_checkpoint_note(&self.note, origin, log_key)?;
        if self.index >= checkpoint.size {
            return Err(ProofError::IndexOutOfRange {
                index: self.index,
                size: checkpoint.size,
            });
        }
        check_inclusion(
            &self.proof,
            checkpoint.size,
            &checkpoint.root,
            self.index,
            leaf_hash,
        )
        .map_err(|e| ProofError::Inclusion(e.to_string()))?;
        Ok(checkpoint)
    }

    /// [`TlogProof::verify`], and at least `quorum` of `witnesses` must have validly cosigned the
    /// checkpoint (cosignatures from unknown keys are ignored; an invalid one from a known
    /// witness rejects the proof).
    pub fn verify_witnessed(
        &self,
        leaf_hash: &[u8; 32],
        log_key: &VerifierKey,
        origin: &str,
        witnesses: &[CosignatureVerifier],
        quorum: usize,
    ) -> Result<Checkpoint, ProofError> {
        let checkpoint = self.verify(leaf_hash, log_key, origin)?;
        self.check_quorum(witnesses, quorum)?;
        Ok(checkpoint)
    }

    /// Checks that at least `quorum` of `witnesses` validly cosigned the checkpoint. On its own
    /// this proves nothing about the entry: call it after [`TlogProof::verify`].
    pub fn check_quorum(
        &self,
        witnesses: &[CosignatureVerifier],
        quorum: usize,
    ) -> Result<(), ProofError> {
        let got = verify_cosignatures(&self.note, witnesses)
            .map_err(ProofError::Cosignature)?
            .len();
        if got < quorum {
            return Err(ProofError::Quorum {
                needed: quorum,
                got,
            });
        }
        Ok(())
    }
}

impl fmt::Debug for TlogProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlogProof")
            .field("index", &self.index)
            .field("proof_len", &self.proof.len())
            .field("checkpoint", &self.checkpoint)
            .field("signatures", &self.note.signatures().len())
            .field("extra", &self.extra.as_ref().map(Vec::len))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::sign_checkpoint;
    use truce_model::keys::PrivateKey;

    fn signed(size: u64) -> (PrivateKey, Note) {
        let k = PrivateKey::from_seed("log.example", [4; 32]).unwrap();
        let c = Checkpoint::new("log.example", size, [1; 32]);
        let n = Note::parse(&sign_checkpoint(&c, &k).unwrap()).unwrap();
        (k, n)
    }

    fn never(_: &[[u8; 32]], _: u64, _: &[u8; 32], _: u64, _: &[u8; 32]) -> Result<(), String> {
        Err("not reached".into())
    }

    // The header part of the C2SP tlog-proof example, with a well-formed signature line in
    // place of the spec's elided ones.
    #[test]
    fn parses_spec_example_shape() {
        let (_, n) = signed(109482);
        let text = format!(
            "c2sp.org/tlog-proof@v1\n\
             extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n\
             index 73894\n\
             gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n\
             B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n\
             EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=\n\
             RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=\n\
             AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n\
             \n{}",
            n.to_text()
        );
        let p = TlogProof::parse(text.as_bytes()).unwrap();
        assert_eq!(p.index(), 73894);
        assert_eq!(p.proof().len(), 5);
        assert!(
            p.extra()
                .unwrap()
                .starts_with(b"age-v1.2.1-darwin-arm64.tar.gz")
        );
        assert_eq!(p.to_text(), text);
    }

    #[test]
    fn verify_order_and_errors() {
        let (k, n) = signed(3);
        let p = TlogProof::new(3, vec![], n.clone(), None).unwrap();
        assert_eq!(
            p.verify_with(&[0; 32], &k.verifier(), "log.example", never),
            Err(ProofError::IndexOutOfRange { index: 3, size: 3 })
        );
        let p = TlogProof::new(2, vec![[2; 32]], n, None).unwrap();
        assert_eq!(
            p.verify_with(&[0; 32], &k.verifier(), "log.example", never),
            Err(ProofError::Inclusion("not reached".into()))
        );
        assert!(matches!(
            p.verify_with(&[0; 32], &k.verifier(), "other", never),
            Err(ProofError::Checkpoint(
                CheckpointError::OriginMismatch { .. }
            ))
        ));
        let c = p
            .verify_with(
                &[0; 32],
                &k.verifier(),
                "log.example",
                |proof, size, root, index, leaf| {
                    assert_eq!(
                        (proof.len(), size, root, index, leaf),
                        (1, 3, &[1; 32], 2, &[0; 32])
                    );
                    Ok::<(), String>(())
                },
            )
            .unwrap();
        assert_eq!(c.size, 3);
        assert_eq!(p.check_quorum(&[], 0), Ok(()));
        assert_eq!(
            p.check_quorum(&[], 1),
            Err(ProofError::Quorum { needed: 1, got: 0 })
        );
        // The real inclusion check refuses a made-up proof.
        assert!(matches!(
            p.verify(&[0; 32], &k.verifier(), "log.example"),
            Err(ProofError::Inclusion(_))
        ));
    }

    #[test]
    fn strict_lines() {
        let (_, n) = signed(3);
        let note = n.to_text();
        let h = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
        let cases = [
            (
                format!("c2sp.org/tlog-proof@v2\nindex 0\n\n{note}"),
                ProofError::MissingHeader,
            ),
            (
                format!("c2sp.org/tlog-proof@v1\nindex 01\n\n{note}"),
                ProofError::InvalidIndex,
            ),
            (
                format!("c2sp.org/tlog-proof@v1\nindex  1\n\n{note}"),
                ProofError::InvalidIndex,
            ),
            (
                format!("c2sp.org/tlog-proof@v1\n\nindex 1\n\n{note}"),
                ProofError::InvalidIndex,
            ),
            (
                format!("c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\n{note}"),
                ProofError::InvalidExtra,
            ),
            (
                format!("c2sp.org/tlog-proof@v1\nindex 1\nindex 1\n\n{note}"),
                ProofError::InvalidHash { line: 1 },
            ),
            (
                format!(
                    "c2sp.org/tlog-proof@v1\nindex 1\n{h}\n{}\n\n{note}",
                    &h[..43]
                ),
                ProofError::InvalidHash { line: 2 },
            ),
            (
                format!("c2sp.org/tlog-proof@v1\nindex 1\n{h}\n"),
                ProofError::MissingCheckpoint,
            ),
            (
                format!(
                    "c2sp.org/tlog-proof@v1\nindex 1\n{}\n{note}",
                    format!("{h}\n").repeat(65)
                ),
                ProofError::TooManyHashes,
            ),
            (
                format!("c2sp.org/tlog-proof@v1\r\nindex 1\n\n{note}"),
                ProofError::ControlCharacter,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(TlogProof::parse(text.as_bytes()), Err(want), "{text}");
        }
        let ok = format!(
            "c2sp.org/tlog-proof@v1\nindex 1\n{}\n{note}",
            format!("{h}\n").repeat(64)
        );
        assert_eq!(TlogProof::parse(ok.as_bytes()).unwrap().proof().len(), 64);
        assert!(matches!(
            TlogProof::parse(b"c2sp.org/tlog-proof@v1\nindex 1\n\nnot a note\n"),
            Err(ProofError::Checkpoint(CheckpointError::Note(_)))
        ));
    }
}
