//! Known-answer tests against an independent implementation: the vectors below were produced by
//! `tests/notes_vectors.py` (Python, standard library and the `cryptography` package, written
//! from the C2SP specs and RFC 6962). Ed25519 is deterministic, so truce must produce the very
//! same bytes, and must accept what Python produced.

use sha2::{Digest as _, Sha256};
use truce_log::checkpoint::{Checkpoint, open_checkpoint, open_checkpoint_note, sign_checkpoint};
use truce_log::cosignature::{
    CosignatureVerifier, CosignerKey, VerifiedCosignature, verify_cosignatures,
};
use truce_log::note::{Note, NoteError};
use truce_log::proof::{ProofError, TlogProof};
use truce_model::keys::{PrivateKey, VerifierKey};

const LOG_NAME: &str = "truce.example/log";
const LOG_SEED: &str = "bf0b0fe0ddb42b7c17153f54caa5be332616ed59a7e3a0a6d6c69c66d66bb68f";
const LOG_VKEY: &str = "truce.example/log+20740868+AaIfSOoYIhmMLkxYQFU/h/3qNaWglOBEfIpeyb0fdCy8";
const LOG_SKEY: &str =
    "PRIVATE+KEY+truce.example/log+20740868+Ab8LD+DdtCt8FxU/VMqlvjMmFu1Zp+OgptbGnGbWa7aP";
const WIT_NAME: &str = "witness.truce.example/w1";
const WIT_SEED: &str = "fee0c9227221222fb065390323e142a1b07088354d8c9237d27ef0445dc403c9";
const WIT_VKEY: &str =
    "witness.truce.example/w1+8e53d176+BLryOgdnUfsxYB7p8V5WPoPWI+X8Vpb3VCMlamgve3lx";
const WIT_SKEY: &str =
    "PRIVATE+KEY+witness.truce.example/w1+8e53d176+BP7gySJyISIvsGU5AyPhQqGwcIg1TYySN9J+8ERdxAPJ";
const TIME: u64 = 1_700_000_000;
const LEAF_HASH: &str = "9ff537b618a257ef82908c45915acbaeb6d9dea035d6d93964fc88c19e98c8b3";

const BODY: &str = "truce.example/log\n7\nmMl/C6MXXNCLAx3QhLncTmSbZNGijm6mlGRlAxc6tYc=\n";
const LOG_LINE: &str = "\u{2014} truce.example/log IHQIaK1oJD6FmMVOUKMd03X04aewSOOvg7XSOi3n6PE/nSPY5TnJblv78T8c4J1vd8bUqHjOvkXI1ZblAzi+kcBAKwc=\n";
const WIT_LINE: &str = "\u{2014} witness.truce.example/w1 jlPRdgAAAABlU/EA/Nk0RtPAySrhWcJ0nnNsreDzVmI//XEV7hHZIhsSpPqZTEV/CsVQOqYRfObJDANRFfY9/6pslyDH/NV9bNnTCg==\n";
const PROOF_HEAD: &str = "c2sp.org/tlog-proof@v1\n\
extra dHJ1Y2UgcmVjZWlwdA==\n\
index 5\n\
SFM123z+yWXxX/dF/GJcQdXqJkaTaTAWWCj3PdS2iFQ=\n\
vhV4G2KKKEFMHIoRuG24Qi+hBBIV/g18RJbSPNoeQUI=\n\
l5nzB1F+9RfCIF35tndivzR1ayAJn7ffzOdrzr0nOy4=\n\
\n";

fn seed(hex_seed: &str) -> [u8; 32] {
    hex::decode(hex_seed).unwrap().try_into().unwrap()
}

fn note_text() -> String {
    format!("{BODY}\n{LOG_LINE}{WIT_LINE}")
}

fn leaf_hash() -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(b"entry 5");
    let d: [u8; 32] = h.finalize().into();
    assert_eq!(hex::encode(d), LEAF_HASH);
    d
}

#[test]
fn keys_encode_like_python() {
    let log = PrivateKey::from_seed(LOG_NAME, seed(LOG_SEED)).unwrap();
    assert_eq!(log.encode(), LOG_SKEY);
    assert_eq!(log.verifier().to_string(), LOG_VKEY);
    let wit = CosignerKey::from_seed(WIT_NAME, seed(WIT_SEED)).unwrap();
    assert_eq!(wit.encode(), WIT_SKEY);
    assert_eq!(wit.verifier().to_string(), WIT_VKEY);
    assert_eq!(
        CosignerKey::parse(WIT_SKEY).unwrap().verifier().to_string(),
        WIT_VKEY
    );
    assert_eq!(
        CosignatureVerifier::parse(WIT_VKEY).unwrap(),
        wit.verifier()
    );
}

#[test]
fn truce_signs_and_cosigns_the_same_bytes() {
    let log = PrivateKey::parse(LOG_SKEY).unwrap();
    let wit = CosignerKey::parse(WIT_SKEY).unwrap();
    let c = Checkpoint::parse(BODY).unwrap();
    assert_eq!(c.size, 7);
    let signed = sign_checkpoint(&c, &log).unwrap();
    assert_eq!(
        String::from_utf8(signed.clone()).unwrap(),
        format!("{BODY}\n{LOG_LINE}")
    );
    let mut note = Note::parse(&signed).unwrap();
    note.push_signature(wit.cosign(BODY, TIME).unwrap())
        .unwrap();
    assert_eq!(note.to_text(), note_text());
}

#[test]
fn truce_opens_the_python_checkpoint() {
    let log = VerifierKey::parse(LOG_VKEY).unwrap();
    let wit = CosignatureVerifier::parse(WIT_VKEY).unwrap();
    let text = note_text();
    let (c, note) = open_checkpoint_note(text.as_bytes(), LOG_NAME, &log).unwrap();
    assert_eq!(c.to_text(), BODY);
    assert_eq!(note.to_text(), text);
    assert_eq!(
        verify_cosignatures(&note, std::slice::from_ref(&wit)).unwrap(),
        [VerifiedCosignature {
            name: WIT_NAME.into(),
            key_id: 0x8e53d176,
            timestamp: TIME
        }]
    );
    // Changing one bit of the size breaks both signatures.
    let tampered = text.replacen("\n7\n", "\n6\n", 1);
    assert!(matches!(
        open_checkpoint(tampered.as_bytes(), LOG_NAME, &log),
        Err(truce_log::checkpoint::CheckpointError::Note(
            NoteError::InvalidSignature { .. }
        ))
    ));
}

#[test]
fn truce_builds_and_verifies_the_python_proof() {
    let log = VerifierKey::parse(LOG_VKEY).unwrap();
    let wit = CosignatureVerifier::parse(WIT_VKEY).unwrap();
    let text = format!("{PROOF_HEAD}{}", note_text());
    let p = TlogProof::parse(text.as_bytes()).unwrap();
    assert_eq!(p.index(), 5);
    assert_eq!(p.extra(), Some(&b"truce receipt"[..]));
    assert_eq!(p.to_text(), text);
    let rebuilt = TlogProof::new(
        5,
        p.proof().to_vec(),
        Note::parse(note_text().as_bytes()).unwrap(),
        Some(b"truce receipt".to_vec()),
    )
    .unwrap();
    assert_eq!(rebuilt.to_text(), text);

    let leaf = leaf_hash();
    let c = p.verify(&leaf, &log, LOG_NAME).unwrap();
    assert_eq!(c.size, 7);
    p.verify_witnessed(&leaf, &log, LOG_NAME, std::slice::from_ref(&wit), 1)
        .unwrap();
    assert_eq!(
        p.verify_witnessed(&leaf, &log, LOG_NAME, &[wit], 2),
        Err(ProofError::Quorum { needed: 2, got: 1 })
    );
    // Another entry's leaf hash, or another index, does not verify.
    let mut other = leaf;
    other[0] ^= 1;
    assert!(matches!(
        p.verify(&other, &log, LOG_NAME),
        Err(ProofError::Inclusion(_))
    ));
    let moved = text.replacen("index 5\n", "index 4\n", 1);
    let moved = TlogProof::parse(moved.as_bytes()).unwrap();
    assert!(matches!(
        moved.verify(&leaf, &log, LOG_NAME),
        Err(ProofError::Inclusion(_))
    ));
}
