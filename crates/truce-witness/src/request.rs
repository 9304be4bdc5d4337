//! The body of a tlog-witness `add-checkpoint` request, both ways: parsed by the witness,
//! built by the log.
//!
//! ```text
//! old <size of the witness's latest cosigned checkpoint, decimal, no leading zero>
//! <zero to 63 lines, each the base64 of one consistency-proof hash>
//!
//! <the checkpoint: a signed note>
//! ```
//!
//! Every line ends in `\n`. The parser is strict — exactly one spelling of each number and hash,
//! and a bounded size ([`MAX_BODY_BYTES`]) — and it does not trust anything it returns: the
//! checkpoint's signatures and the proof are checked by the witness ([`crate::service`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use truce_log::checkpoint::{Checkpoint, CheckpointError, parse_decimal, parse_hash};
use truce_log::merkle::Hash;
use truce_log::note::{Note, NoteError};

/// The largest request body a witness reads. A proof is at most 63 lines of 45 bytes; the rest
/// is room for a checkpoint with a few dozen signatures.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The most consistency-proof lines the spec allows (a tree of `u64` size needs fewer).
pub const MAX_PROOF_LINES: usize = 63;

/// A parsed, *unverified* `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    /// The size the client believes the witness last cosigned for this origin.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The checkpoint note, with all its signature lines.
    pub note: Note,
    /// The checkpoint the note's text spells (its signatures not yet checked).
    pub checkpoint: Checkpoint,
}

/// Why a request body was refused (always a 400 Bad Request, or 413 for [`Self::TooLarge`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The body is longer than [`MAX_BODY_BYTES`].
    #[error("request body of {len} bytes exceeds the limit of {MAX_BODY_BYTES} bytes")]
    TooLarge { len: usize },
    /// The body has no first line ending in a newline.
    #[error("the body must start with an old size line \"old <size>\" ending in a newline")]
    MissingOldLine,
    /// The first line is not `old <decimal size>`.
    #[error(
        "the first line must be \"old <size>\" with the size in decimal without leading zeroes, found {found:?}"
    )]
    InvalidOldLine { found: String },
    /// Proof line `line` (1-based) is not the canonical base64 of a 32-byte hash.
    #[error(
        "consistency proof line {line} is not the base64 of a 32-byte hash: {found:?} \
         (is the empty line before the checkpoint missing?)"
    )]
    InvalidProofLine { line: usize, found: String },
    /// More than [`MAX_PROOF_LINES`] proof lines.
    #[error("more than {MAX_PROOF_LINES} consistency proof lines")]
    TooManyProofLines,
    /// The body ends before the empty line that separates the proof from the checkpoint.
    #[error(
        "the body ends before the empty line that separates the consistency proof from the checkpoint"
    )]
    MissingBlankLine,
    /// The checkpoint is not a well-formed signed note.
    #[error("the checkpoint is not a valid signed note: {0}")]
    Note(NoteError),
    /// The note's text is not a checkpoint.
    #[error("the note is not a checkpoint: {0}")]
    Checkpoint(CheckpointError),
}

/// Splits off the first `\n`-terminated line (without its newline).
fn split_line(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = b.iter().position(|&c| c == b'\n')?;
    Some((&b[..i], &b[i + 1..]))
}

/// A short, printable excerpt of untrusted input for error messages.
fn excerpt(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(64)]).into_owned()
}

/// A line as text, for the C2SP number and hash parsers (which refuse anything non-ASCII).
fn text(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

impl AddCheckpointRequest {
    /// Parses a request body (see the module documentation). Checks the form only.
    pub fn parse(body: &[u8]) -> Result<AddCheckpointRequest, RequestError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(RequestError::TooLarge { len: body.len() });
        }
        let (first, mut rest) = split_line(body).ok_or(RequestError::MissingOldLine)?;
        let old_size = first
            .strip_prefix(b"old ")
            .and_then(text)
            .and_then(parse_decimal)
            .ok_or_else(|| RequestError::InvalidOldLine {
                found: excerpt(first),
            })?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = split_line(rest).ok_or(RequestError::MissingBlankLine)?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(RequestError::TooManyProofLines);
            }
            let hash =
                text(line)
                    .and_then(parse_hash)
                    .ok_or_else(|| RequestError::InvalidProofLine {
                        line: proof.len() + 1,
                        found: excerpt(line),
                    })?;
            proof.push(hash);
        }
        let note = Note::parse(rest).map_err(RequestError::Note)?;
        let checkpoint = Checkpoint::parse(note.text()).map_err(RequestError::Checkpoint)?;
        Ok(AddCheckpointRequest {
            old_size,
            proof,
            note,
            checkpoint,
        })
    }
}

/// Builds a request body: the old size line, the proof lines, the empty line, the note.
pub fn encode_request(old_size: u64, proof: &[Hash], note: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + proof.len() * 45 + 1 + note.len());
    out.extend_from_slice(format!("old {old_size}\n").as_bytes());
    for h in proof {
        out.extend_from_slice(STANDARD.encode(h).as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(note);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example request of the C2SP tlog-witness specification.
    const SPEC_BODY: &str = "old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
\u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
";

    const NOTE: &str = "example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
";

    const HASH: &str = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=";

    fn parse(s: &str) -> Result<AddCheckpointRequest, RequestError> {
        AddCheckpointRequest::parse(s.as_bytes())
    }

    #[test]
    fn parses_the_spec_example_and_round_trips() {
        let r = parse(SPEC_BODY).unwrap();
        assert_eq!(r.old_size, 20852014);
        assert_eq!(r.proof.len(), 4);
        assert_eq!(r.proof[0][0], 0x3e);
        assert_eq!(r.checkpoint.origin, "example.com/behind-the-sofa");
        assert_eq!(r.checkpoint.size, 20852163);
        assert_eq!(r.note.signatures().len(), 2);
        let again = encode_request(r.old_size, &r.proof, &r.note.to_bytes());
        assert_eq!(again, SPEC_BODY.as_bytes());
    }

    #[test]
    fn empty_proof_and_size_zero() {
        let r = parse(&format!("old 0\n\n{NOTE}")).unwrap();
        assert_eq!(r.old_size, 0);
        assert!(r.proof.is_empty());
        assert_eq!(
            encode_request(0, &[], NOTE.as_bytes()),
            format!("old 0\n\n{NOTE}").into_bytes()
        );
    }

    #[test]
    fn refuses_bad_old_lines() {
        for first in [
            "",
            "old",
            "old ",
            "old 01",
            "old -1",
            "old +1",
            "old 1 ",
            "Old 1",
            "old  1",
            "old 0x1",
            "old 18446744073709551616",
            "new 1",
        ] {
            let e = parse(&format!("{first}\n\n{NOTE}")).unwrap_err();
            assert!(
                matches!(e, RequestError::InvalidOldLine { .. }),
                "{first:?}: {e}"
            );
        }
        assert_eq!(
            parse("old 1").unwrap_err(),
            RequestError::MissingOldLine,
            "no newline at all"
        );
        assert_eq!(parse("").unwrap_err(), RequestError::MissingOldLine);
        assert_eq!(
            parse("old 18446744073709551615\n\n")
                .map(|_| ())
                .unwrap_err()
                .to_string(),
            "the checkpoint is not a valid signed note: malformed note: no blank line separates the text from the signatures"
        );
    }

    #[test]
    fn refuses_bad_proof_lines() {
        for bad in [
            "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw", // no padding
            "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkax=", // non-canonical
            "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw= ", // trailing space
            "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\r",
            "AAAA",
            "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=AAAA",
        ] {
            let e = parse(&format!("old 5\n{HASH}\n{bad}\n\n{NOTE}")).unwrap_err();
            assert!(
                matches!(e, RequestError::InvalidProofLine { line: 2, .. }),
                "{bad:?}: {e}"
            );
        }
        // A missing blank line: the checkpoint's origin is read as a proof line.
        let e = parse(&format!("old 5\n{NOTE}")).unwrap_err();
        assert!(matches!(e, RequestError::InvalidProofLine { line: 1, .. }));
        assert!(e.to_string().contains("empty line before the checkpoint"));
        assert_eq!(
            parse(&format!("old 5\n{HASH}\n")).unwrap_err(),
            RequestError::MissingBlankLine
        );
        assert_eq!(
            parse(&format!("old 5\n{HASH}")).unwrap_err(),
            RequestError::MissingBlankLine
        );
    }

    #[test]
    fn at_most_63_proof_lines() {
        let lines = |n: usize| format!("{HASH}\n").repeat(n);
        let r = parse(&format!("old 5\n{}\n{NOTE}", lines(63))).unwrap();
        assert_eq!(r.proof.len(), 63);
        assert_eq!(
            parse(&format!("old 5\n{}\n{NOTE}", lines(64))).unwrap_err(),
            RequestError::TooManyProofLines
        );
    }

    #[test]
    fn refuses_bad_checkpoints_and_huge_bodies() {
        assert!(matches!(
            parse("old 0\n\nnot a note\n").unwrap_err(),
            RequestError::Note(_)
        ));
        let not_checkpoint = NOTE.replace("20852163", "many");
        assert!(matches!(
            parse(&format!("old 0\n\n{not_checkpoint}")).unwrap_err(),
            RequestError::Checkpoint(CheckpointError::InvalidSize(_))
        ));
        // A CRLF body is refused, not half-understood.
        assert!(parse(&format!("old 0\n\n{NOTE}").replace('\n', "\r\n")).is_err());
        let huge = vec![b'a'; MAX_BODY_BYTES + 1];
        assert_eq!(
            AddCheckpointRequest::parse(&huge).unwrap_err(),
            RequestError::TooLarge {
                len: MAX_BODY_BYTES + 1
            }
        );
        // Invalid UTF-8 anywhere is refused without panicking.
        let mut b = b"old 0\n\xff\xfe\n\n".to_vec();
        b.extend_from_slice(NOTE.as_bytes());
        assert!(matches!(
            AddCheckpointRequest::parse(&b).unwrap_err(),
            RequestError::InvalidProofLine { line: 1, .. }
        ));
        assert!(AddCheckpointRequest::parse(b"old \xff\n\n").is_err());
    }
}
