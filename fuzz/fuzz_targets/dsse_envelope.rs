//! `Envelope::parse` on outside bytes, then `kind`, `payload_object` and `canonical_json`.
//!
//! Input: raw envelope bytes; or `0x00` + `arbitrary` bytes that build an envelope and spell it in
//! one of its many valid forms (field order, whitespace, `\u` escapes, base64 alphabet and
//! padding).
//!
//! Invariants:
//! - whatever parses re-parses from its canonical JSON to an equal envelope, and
//!   `canonical_json` is a fixed point (and within `MAX_ENVELOPE_BYTES`);
//! - every valid spelling of an envelope parses to the same envelope as its canonical spelling,
//!   and the canonical spelling is byte for byte `canonical_json`;
//! - whatever `Envelope::sign` makes parses back from its canonical JSON (when it fits);
//! - `Envelope::from_canonical` reads only what the parser reads, to the same envelope, from
//!   bytes that are its canonical JSON.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use truce_fuzz::{Speller, check_envelope, key_pool};
use truce_model::dsse::{self, Envelope, MAX_ENVELOPE_BYTES};

#[derive(Arbitrary, Debug)]
struct Built {
    /// `payloadType` is `application/vnd.truce.<type_or_kind>+json` when true, else as is.
    typed: bool,
    type_or_kind: String,
    payload: Vec<u8>,
    sigs: Vec<(String, [u8; 64])>,
    /// Also sign the payload with the first `n % 5` pool keys.
    signers: u8,
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((&0, rest)) => built(rest),
        _ => {
            if let Ok(env) = Envelope::parse(data) {
                check_envelope(&env);
            }
            check_fast_reader(data);
        }
    }
});

/// `from_canonical` reads nothing the parser does not read the same way, canonical.
fn check_fast_reader(bytes: &[u8]) {
    if let Some(fast) = Envelope::from_canonical(bytes) {
        let (parsed, canonical) =
            Envelope::parse_canonical(bytes).expect("what the layout reader reads parses");
        assert_eq!(fast, parsed);
        assert_eq!(canonical, bytes, "the layout reader read non-canonical bytes");
    }
}

fn built(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(b) = Built::arbitrary(&mut u) else {
        return;
    };
    let payload_type = if b.typed {
        dsse::payload_type_for(&b.type_or_kind)
    } else {
        b.type_or_kind.clone()
    };
    let sigs: Vec<(String, Vec<u8>)> = b
        .sigs
        .iter()
        .map(|(k, s)| (k.clone(), s.to_vec()))
        .collect();

    // The canonical spelling (no choices left), then a variant spelled from the remaining bytes.
    let mut none = Unstructured::new(&[]);
    let mut canonical = Speller::new(&mut none);
    canonical.envelope(&payload_type, &b.payload, &sigs);
    let mut variant = Speller::new(&mut u);
    variant.envelope(&payload_type, &b.payload, &sigs);

    check_fast_reader(canonical.out.as_bytes());
    check_fast_reader(variant.out.as_bytes());
    let expected = Envelope::parse(canonical.out.as_bytes());
    if let Ok(env) = &expected {
        check_envelope(env);
        assert_eq!(
            env.canonical_json(),
            canonical.out.as_bytes(),
            "canonical_json differs from the compact spelling"
        );
    }
    if variant.out.len() <= 2 * MAX_ENVELOPE_BYTES {
        match (&expected, Envelope::parse(variant.out.as_bytes())) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, &b, "two spellings parse differently:\n{}", variant.out)
            }
            (Err(_), Err(_)) => {}
            (a, b) => panic!(
                "the canonical spelling gives {a:?} but a variant gives {b:?}:\n{}",
                variant.out
            ),
        }
    }

    // Whatever the signer produces, the parser reads back.
    let keys: Vec<&_> = key_pool().iter().take(usize::from(b.signers % 5)).collect();
    let signed = Envelope::sign(&b.type_or_kind, &b.payload, &keys);
    let bytes = signed.canonical_json();
    check_fast_reader(&bytes);
    match Envelope::parse(&bytes) {
        Ok(back) => {
            // Without an escape in the canonical bytes, the layout reader reads them too.
            if !bytes.contains(&b'\\') {
                assert_eq!(Envelope::from_canonical(&bytes).as_ref(), Some(&back));
            }
            assert_eq!(back, signed);
            for (s, k) in back.signatures().iter().zip(&keys) {
                assert_eq!(s.keyid, k.signer_id());
                k.verifier()
                    .verify(&back.pae(), &s.sig)
                    .expect("own signature verifies");
            }
        }
        Err(e) => assert!(
            keys.is_empty() || bytes.len() > MAX_ENVELOPE_BYTES,
            "a signed envelope of {} bytes does not parse: {e}",
            bytes.len()
        ),
    }
}
