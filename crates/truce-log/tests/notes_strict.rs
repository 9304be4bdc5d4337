//! Strict parsing and the signed-note verification rules, one property per test.

use truce_log::checkpoint::{Checkpoint, CheckpointError, open_checkpoint, sign_checkpoint};
use truce_log::note::{MAX_NOTE_BYTES, MAX_SIGNATURES, Note, NoteError, NoteSigner, NoteVerifier};
use truce_model::keys::{PrivateKey, VerifierKey};

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const SIG_B64: &str =
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";

fn peter_line() -> String {
    format!("\u{2014} PeterNeumann {SIG_B64}\n")
}

fn good() -> String {
    format!("{TEXT}\n{}", peter_line())
}

fn peter() -> VerifierKey {
    VerifierKey::parse(PETER_VKEY).unwrap()
}

fn parse(s: &str) -> Result<Note, NoteError> {
    Note::parse(s.as_bytes())
}

#[test]
fn control_characters_are_refused() {
    for c in ['\0', '\t', '\r', '\x1b', '\x1f'] {
        let m = good().replacen("problem,", &format!("problem{c}"), 1);
        let offset = TEXT.find("problem,").unwrap() + "problem".len();
        assert_eq!(
            parse(&m),
            Err(NoteError::ControlCharacter { offset }),
            "{c:?}"
        );
    }
    // In a signature line too.
    let m = format!("{TEXT}\n\u{2014} PeterNeumann\t{SIG_B64}\n");
    assert!(matches!(parse(&m), Err(NoteError::ControlCharacter { .. })));
    // DEL (0x7f) and non-ASCII are not ASCII control characters below U+0020: allowed.
    let k = PrivateKey::from_seed("k", [1; 32]).unwrap();
    let n = Note::sign("del \x7f and \u{0085} and é\n", &[&k as &dyn NoteSigner]).unwrap();
    assert_eq!(Note::parse(&n.to_bytes()).unwrap(), n);
    // Invalid UTF-8.
    let mut raw = good().into_bytes();
    raw[3] = 0xc3;
    assert!(matches!(
        Note::parse(&raw),
        Err(NoteError::InvalidUtf8 { offset: 3 })
    ));
}

#[test]
fn missing_blank_line_is_refused() {
    let m = format!("{TEXT}{}", peter_line());
    assert_eq!(parse(&m), Err(NoteError::MissingBlankLine));
    assert_eq!(parse(TEXT), Err(NoteError::MissingBlankLine));
    // A blank line with nothing after it, or after the signatures.
    assert_eq!(parse(&format!("{TEXT}\n")), Err(NoteError::NoSignatures));
    assert_eq!(
        parse(&format!("{}\n", good())),
        Err(NoteError::NoSignatures)
    );
    // The signature block must end in a newline.
    assert_eq!(
        parse(good().trim_end()),
        Err(NoteError::UnterminatedSignature)
    );
}

#[test]
fn text_may_contain_blank_lines_the_last_one_separates() {
    let k = PrivateKey::from_seed("k", [1; 32]).unwrap();
    let text = "stanza one\n\nstanza two\n\n\u{2014} not a signature line\n\n";
    let n = Note::sign(text, &[&k as &dyn NoteSigner]).unwrap();
    let again = Note::parse(&n.to_bytes()).unwrap();
    assert_eq!(again.text(), text);
    assert_eq!(
        again
            .verify(&[&k.verifier() as &dyn NoteVerifier])
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn bad_key_names_are_refused() {
    for name in [
        "",
        "Peter+Neumann",
        "Peter\u{a0}Neumann",
        "Peter\u{2003}Neumann",
        "+",
    ] {
        let m = format!("{TEXT}\n\u{2014} {name} {SIG_B64}\n");
        assert_eq!(
            parse(&m),
            Err(NoteError::InvalidKeyName { line: 1 }),
            "{name:?}"
        );
    }
    // A plain space ends the name: what follows is not base64.
    let m = format!("{TEXT}\n\u{2014} Peter Neumann {SIG_B64}\n");
    assert_eq!(parse(&m), Err(NoteError::InvalidBase64 { line: 1 }));
    // And signing under such a name is refused.
    struct Named(&'static str);
    impl NoteSigner for Named {
        fn name(&self) -> &str {
            self.0
        }
        fn key_id(&self) -> u32 {
            0
        }
        fn sign(&self, _: &[u8]) -> Result<Vec<u8>, NoteError> {
            Ok(vec![1])
        }
    }
    for name in ["a b", "a+b", "", "a\u{1}b"] {
        assert_eq!(
            Note::sign(TEXT, &[&Named(name)]),
            Err(NoteError::InvalidSigner(name.into()))
        );
    }
}

#[test]
fn bad_base64_is_refused() {
    let cases = [
        SIG_B64.trim_end_matches('='),                     // padding missing
        &SIG_B64.replace('/', "_"),                        // URL-safe alphabet
        &SIG_B64.replace("nAM=", "nAN="),                  // non-canonical trailing bits
        &format!("{} {}", &SIG_B64[..20], &SIG_B64[20..]), // inner space
        &format!("{SIG_B64} "),                            // trailing space
        "",                                                // nothing
        "!!!!",
    ];
    for b64 in cases {
        assert_ne!(b64, SIG_B64);
        let m = format!("{TEXT}\n\u{2014} PeterNeumann {b64}\n");
        assert_eq!(
            parse(&m),
            Err(NoteError::InvalidBase64 { line: 1 }),
            "{b64:?}"
        );
    }
    // Canonical base64 that is too short to hold a key ID and a signature.
    let m = format!("{TEXT}\n\u{2014} PeterNeumann AAAAAA==\n");
    assert_eq!(parse(&m), Err(NoteError::SignatureTooShort { line: 1 }));
}

#[test]
fn signature_lines_need_the_em_dash_and_a_space() {
    for prefix in [
        "- ",
        "-- ",
        "\u{2013} ",
        "\u{2014}",
        "\u{2014}  ",
        " \u{2014} ",
        "\u{2015} ",
    ] {
        let m = format!("{TEXT}\n{prefix}PeterNeumann {SIG_B64}\n");
        let r = parse(&m);
        assert!(
            matches!(
                r,
                Err(NoteError::MissingEmDash { line: 1 } | NoteError::InvalidKeyName { line: 1 })
            ),
            "{prefix:?}: {r:?}"
        );
    }
    let m = format!("{TEXT}\n\u{2014} PeterNeumann\n");
    assert_eq!(parse(&m), Err(NoteError::MissingSignature { line: 1 }));
    let m = format!("{}Unexpected line.\n", good());
    assert_eq!(parse(&m), Err(NoteError::MissingEmDash { line: 2 }));
}

#[test]
fn notes_signed_only_by_unknown_keys_are_refused() {
    let n = parse(&good()).unwrap();
    assert_eq!(n.verify(&[]), Err(NoteError::NoKnownSignature));
    let stranger = PrivateKey::from_seed("Stranger", [2; 32])
        .unwrap()
        .verifier();
    assert_eq!(n.verify(&[&stranger]), Err(NoteError::NoKnownSignature));
    // Same name, other key (so other ID): unknown, ignored — not "invalid".
    let same_name = PrivateKey::from_seed("PeterNeumann", [2; 32])
        .unwrap()
        .verifier();
    assert_ne!(same_name.id(), 0xc74f20a3);
    assert_eq!(n.verify(&[&same_name]), Err(NoteError::NoKnownSignature));
    // Same ID under another name: unknown too.
    let m = format!("{TEXT}\n\u{2014} CarmenSandiego {SIG_B64}\n");
    assert_eq!(
        parse(&m).unwrap().verify(&[&peter()]),
        Err(NoteError::NoKnownSignature)
    );
    // An unknown signature next to a good one changes nothing.
    let m = format!("{}\u{2014} CarmenSandiego {SIG_B64}\n", good());
    assert_eq!(parse(&m).unwrap().verify(&[&peter()]).unwrap().len(), 1);
}

#[test]
fn a_known_key_that_fails_rejects_the_note() {
    // Text changed after signing.
    let m = good().replacen("cryptography", "cryptographY", 1);
    assert_eq!(
        parse(&m).unwrap().verify(&[&peter()]),
        Err(NoteError::InvalidSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );
    // Signature bytes changed.
    let m = good().replacen("x08go/ZJ", "x08go/ZK", 1);
    assert!(matches!(
        parse(&m).unwrap().verify(&[&peter()]),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn duplicate_signatures() {
    // Identical lines: kept in the note (it re-encodes byte for byte), verified once each,
    // reported once.
    let m = format!("{}{}", good(), peter_line());
    let n = parse(&m).unwrap();
    assert_eq!(n.signatures().len(), 2);
    assert_eq!(n.to_text(), m);
    assert_eq!(n.verify(&[&peter()]).unwrap().len(), 1);
    // A second, different line from the same known key that does not verify rejects the note
    // (Go would skip it unverified; the spec says a known key's signature MUST be verified).
    let bad = format!(
        "\u{2014} PeterNeumann {}\n",
        SIG_B64.replacen("x08go/ZJ", "x08go/ZK", 1)
    );
    let n = parse(&format!("{}{bad}", good())).unwrap();
    assert!(matches!(
        n.verify(&[&peter()]),
        Err(NoteError::InvalidSignature { .. })
    ));
    // Duplicated unknown lines are ignored.
    let carmen = format!("\u{2014} CarmenSandiego {SIG_B64}\n");
    let n = parse(&format!("{}{carmen}{carmen}", good())).unwrap();
    assert_eq!(n.verify(&[&peter()]).unwrap().len(), 1);
}

#[test]
fn signature_count_limits() {
    let k = PrivateKey::from_seed("k", [1; 32]).unwrap();
    let n = Note::sign(TEXT, &[&k as &dyn NoteSigner]).unwrap();
    let line = n.signatures()[0].to_line();
    // The spec's minimum of 16, and our maximum of 100, are accepted.
    for count in [16, MAX_SIGNATURES] {
        let m = format!("{TEXT}\n{}", line.repeat(count));
        let parsed = parse(&m).unwrap();
        assert_eq!(parsed.signatures().len(), count);
        assert_eq!(
            parsed
                .verify(&[&k.verifier() as &dyn NoteVerifier])
                .unwrap()
                .len(),
            1
        );
    }
    let m = format!("{TEXT}\n{}", line.repeat(MAX_SIGNATURES + 1));
    assert_eq!(
        parse(&m),
        Err(NoteError::TooManySignatures {
            count: MAX_SIGNATURES + 1
        })
    );
    let sigs = vec![n.signatures()[0].clone(); MAX_SIGNATURES + 1];
    assert!(matches!(
        Note::new(TEXT, sigs),
        Err(NoteError::TooManySignatures { .. })
    ));
}

#[test]
fn size_limit() {
    let k = PrivateKey::from_seed("k", [1; 32]).unwrap();
    let signer: &dyn NoteSigner = &k;
    // Just under the limit: fine. The signature line is "— k " + 92 base64 chars + "\n".
    let line_len = "\u{2014} k ".len() + 92 + 1;
    let fill = MAX_NOTE_BYTES - line_len - 2;
    let text = format!("{}\n", "x".repeat(fill));
    let n = Note::sign(text, &[signer]).unwrap();
    assert_eq!(n.to_bytes().len(), MAX_NOTE_BYTES);
    assert_eq!(Note::parse(&n.to_bytes()).unwrap(), n);
    // One byte more is refused, when parsing and when signing.
    let text = format!("{}\n", "x".repeat(fill + 1));
    assert_eq!(
        Note::sign(text.clone(), &[signer]),
        Err(NoteError::TooLarge {
            len: MAX_NOTE_BYTES + 1
        })
    );
    let mut bytes = n.to_bytes();
    bytes.insert(0, b'x');
    assert_eq!(
        Note::parse(&bytes),
        Err(NoteError::TooLarge {
            len: MAX_NOTE_BYTES + 1
        })
    );
}

#[test]
fn checkpoint_signed_by_another_key_or_for_another_log() {
    let log = PrivateKey::from_seed("log.example", [1; 32]).unwrap();
    let c = Checkpoint::new("log.example", 10, [3; 32]);
    let signed = sign_checkpoint(&c, &log).unwrap();
    let other = PrivateKey::from_seed("log.example", [2; 32]).unwrap();
    assert_eq!(
        open_checkpoint(&signed, "log.example", &other.verifier()),
        Err(CheckpointError::Note(NoteError::NoKnownSignature))
    );
    // A checkpoint of log B, signed by a key shared with log A, does not open as A's.
    let b = Checkpoint::new("b.example", 10, [3; 32]);
    let signed_b = sign_checkpoint(&b, &log).unwrap();
    assert!(matches!(
        open_checkpoint(&signed_b, "log.example", &log.verifier()),
        Err(CheckpointError::OriginMismatch { .. })
    ));
}
