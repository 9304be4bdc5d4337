//! Property tests: the parsers never panic, and encoding and parsing are inverse bijections on
//! everything they accept.

use proptest::prelude::*;
use truce_log::checkpoint::Checkpoint;
use truce_log::cosignature::CosignerKey;
use truce_log::note::{Note, NoteSignature, NoteSigner, parse_signature_lines};
use truce_log::proof::TlogProof;
use truce_model::keys::PrivateKey;

fn key_name() -> impl Strategy<Value = String> {
    // Printable, no whitespace, no '+'; includes non-ASCII.
    "[a-zA-Z0-9./_:é\u{2014}-]{1,24}"
}

fn note_text() -> impl Strategy<Value = String> {
    // Lines of printable text (possibly empty, possibly with spaces and em dashes).
    proptest::collection::vec("(\\PC| ){0,30}", 1..6).prop_map(|lines| {
        let mut t = lines.join("\n");
        t.push('\n');
        t
    })
}

fn signature() -> impl Strategy<Value = NoteSignature> {
    (
        key_name(),
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 1..80),
    )
        .prop_map(|(name, key_id, sig)| NoteSignature { name, key_id, sig })
}

fn note() -> impl Strategy<Value = Note> {
    (note_text(), proptest::collection::vec(signature(), 1..8))
        .prop_map(|(t, s)| Note::new(t, s).expect("generated notes are valid"))
}

fn checkpoint() -> impl Strategy<Value = Checkpoint> {
    (
        "\\PC{1,40}",
        any::<u64>(),
        any::<[u8; 32]>(),
        proptest::collection::vec("\\PC{1,20}", 0..3),
    )
        .prop_map(|(origin, size, root, extensions)| Checkpoint {
            origin,
            size,
            root,
            extensions,
        })
}

fn signed_checkpoint_note(c: &Checkpoint) -> Note {
    let log = PrivateKey::from_seed("log.example", [1; 32]).unwrap();
    let w = CosignerKey::from_seed("w.example", [2; 32]).unwrap();
    let t = w.at(1_700_000_000);
    Note::sign(c.to_text(), &[&log as &dyn NoteSigner, &t]).unwrap()
}

/// A valid note with a few random byte edits: reaches the parser's deeper branches far more
/// often than uniformly random bytes.
fn mutated_note() -> impl Strategy<Value = Vec<u8>> {
    (
        note(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    )
        .prop_map(|(n, edits)| {
            let mut b = n.to_bytes();
            for (i, v) in edits {
                let i = i.index(b.len());
                b[i] = v;
            }
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Note::parse(&b);
        let _ = parse_signature_lines(&b);
        let _ = TlogProof::parse(&b);
        let _ = Checkpoint::parse(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn parsers_never_panic_on_near_valid_notes(b in mutated_note()) {
        // And whatever is accepted re-encodes to exactly the input.
        if let Ok(n) = Note::parse(&b) {
            prop_assert_eq!(n.to_bytes(), b.clone());
        }
        let mut proof = b"c2sp.org/tlog-proof@v1\nindex 0\n\n".to_vec();
        proof.extend_from_slice(&b);
        if let Ok(p) = TlogProof::parse(&proof) {
            prop_assert_eq!(p.to_text().into_bytes(), proof);
        }
    }

    #[test]
    fn note_round_trip(n in note()) {
        let bytes = n.to_bytes();
        let again = Note::parse(&bytes).unwrap();
        prop_assert_eq!(&again, &n);
        prop_assert_eq!(again.to_bytes(), bytes);
    }

    #[test]
    fn checkpoint_round_trip(c in checkpoint()) {
        prop_assert_eq!(c.validate(), Ok(()));
        let text = c.to_text();
        let again = Checkpoint::parse(&text).unwrap();
        prop_assert_eq!(&again, &c);
        prop_assert_eq!(again.to_text(), text);
    }

    #[test]
    fn proof_round_trip(
        c in checkpoint(),
        index in any::<u64>(),
        hashes in proptest::collection::vec(any::<[u8; 32]>(), 0..65),
        extra in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
    ) {
        let p = TlogProof::new(index, hashes, signed_checkpoint_note(&c), extra).unwrap();
        let text = p.to_text();
        let again = TlogProof::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(again.to_text(), text);
        prop_assert_eq!(&again, &p);
        prop_assert_eq!(again.claimed_checkpoint(), &c);
    }
}
