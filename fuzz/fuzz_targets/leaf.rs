//! `leaf::Leaf::decode` on outside bytes.
//!
//! Input: leaf bytes; or `0x00` + `arbitrary` bytes giving a time and an envelope (signed by pool
//! keys) that are encoded with `leaf::encode` first.
//!
//! Invariants:
//! - whatever decodes re-encodes to exactly the input bytes, and decoding that gives the same
//!   leaf (decode(encode(x)) == x); the envelope inside satisfies the DSSE target's invariants;
//! - a leaf encoded from a non-negative time and an envelope that parses from its canonical form
//!   decodes (when it fits in `MAX_LEAF_BYTES`) to that time and envelope.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use truce_fuzz::{check_envelope, key_pool};
use truce_log::leaf::{self, Leaf, MAX_LEAF_BYTES};
use truce_model::dsse::Envelope;

#[derive(Arbitrary, Debug)]
struct Built {
    time_ms: i64,
    kind: String,
    payload: Vec<u8>,
    signers: u8,
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((&0, rest)) => {
            if let Ok(b) = Built::arbitrary(&mut Unstructured::new(rest)) {
                built(b);
            }
        }
        _ => decoded(data),
    }
});

fn decoded(data: &[u8]) {
    let Ok(l) = Leaf::decode(data) else { return };
    let bytes = l.encode();
    assert_eq!(
        bytes, data,
        "a leaf decoded from bytes that are not its encoding"
    );
    assert_eq!(Leaf::decode(&bytes).as_ref(), Ok(&l));
    assert!(l.time_ms >= 0);
    let _ = leaf::leaf_hash(&bytes);
    check_envelope(&l.envelope);
}

fn built(b: Built) {
    let keys: Vec<&_> = key_pool().iter().take(usize::from(b.signers % 5)).collect();
    let envelope = Envelope::sign(&b.kind, &b.payload, &keys);
    let canonical = envelope.canonical_json();
    let bytes = leaf::encode(b.time_ms, &canonical);
    let result = Leaf::decode(&bytes);
    if let Ok(l) = &result {
        decoded(&bytes);
        assert_eq!(l.time_ms, b.time_ms);
        assert_eq!(l.envelope, envelope);
    }
    if b.time_ms >= 0 && bytes.len() <= MAX_LEAF_BYTES && Envelope::parse(&canonical).is_ok() {
        assert_eq!(
            result,
            Ok(Leaf {
                time_ms: b.time_ms,
                envelope
            }),
            "a leaf the log would write does not decode"
        );
    }
}
