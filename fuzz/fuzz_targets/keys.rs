//! `VerifierKey::parse` and `PrivateKey::parse` on outside text.
//!
//! Input: key text (bytes read as UTF-8, lossily); or `0x00` / `0x01` + `arbitrary` bytes that
//! build a verifier / private key text whose keyid matches (random text practically never has a
//! matching keyid, so without this mode the point decoding and seed handling behind the keyid
//! check would go unfuzzed).
//!
//! Invariants:
//! - a parsed key's text form (`Display` / `encode`) re-parses to the same key, and is the input
//!   itself (trimmed, for private keys) up to the case of the keyid's hex digits;
//! - keyid, signer id and public key agree (`key_id(name, 0x01, public key)`);
//! - `VerifierKey::parse` accepts a well-formed text exactly when `from_public_key` accepts its
//!   name and key, and `PrivateKey::parse` exactly when `from_seed` accepts its name and seed;
//! - a parsed private key's signatures verify under its verifier key.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use truce_model::keys::{ALG_ED25519, PrivateKey, VerifierKey, key_id};

#[derive(Arbitrary, Debug)]
enum Material {
    Exact([u8; 32]),
    Any(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct BuiltVerifier {
    name: String,
    alg: u8,
    material: Material,
    /// Use this keyid instead of the matching one.
    wrong_id: Option<u32>,
    uppercase_id: bool,
}

#[derive(Arbitrary, Debug)]
struct BuiltPrivate {
    name: String,
    seed: [u8; 32],
    wrong_id: Option<u32>,
    uppercase_id: bool,
    /// Whitespace around the text (0 = none).
    padding: u8,
}

fuzz_target!(|data: &[u8]| match data.split_first() {
    Some((&0, rest)) => {
        if let Ok(b) = BuiltVerifier::arbitrary(&mut Unstructured::new(rest)) {
            built_verifier(b);
        }
    }
    Some((&1, rest)) => {
        if let Ok(b) = BuiltPrivate::arbitrary(&mut Unstructured::new(rest)) {
            built_private(b);
        }
    }
    _ => {
        let text = String::from_utf8_lossy(data);
        if let Ok(v) = VerifierKey::parse(&text) {
            check_verifier(&v, Some(&text));
        }
        if let Ok(k) = PrivateKey::parse(&text) {
            check_private(&k, Some(text.trim()));
        }
    }
});

fn hex_id(id: u32, upper: bool) -> String {
    if upper {
        format!("{id:08X}")
    } else {
        format!("{id:08x}")
    }
}

fn built_verifier(b: BuiltVerifier) {
    let raw: Vec<u8> = match &b.material {
        Material::Exact(k) => k.to_vec(),
        Material::Any(v) => v.clone(),
    };
    let mut bytes = vec![b.alg];
    bytes.extend_from_slice(&raw);
    let id = b
        .wrong_id
        .unwrap_or_else(|| key_id(&b.name, ALG_ED25519, &raw));
    let text = format!(
        "{}+{}+{}",
        b.name,
        hex_id(id, b.uppercase_id),
        STANDARD.encode(&bytes)
    );
    let parsed = VerifierKey::parse(&text);
    if let Ok(v) = &parsed {
        check_verifier(v, Some(&text));
    }
    if let (Material::Exact(k), ALG_ED25519, None) = (&b.material, b.alg, b.wrong_id) {
        let direct = VerifierKey::from_public_key(&b.name, *k);
        assert_eq!(
            parsed.as_ref().ok(),
            direct.as_ref().ok(),
            "parse ({parsed:?}) and from_public_key ({direct:?}) disagree on {text:?}"
        );
    }
}

fn built_private(b: BuiltPrivate) {
    let mut bytes = vec![ALG_ED25519];
    bytes.extend_from_slice(&b.seed);
    let direct = PrivateKey::from_seed(&b.name, b.seed);
    let id = match (b.wrong_id, &direct) {
        (Some(id), _) => id,
        (None, Ok(k)) => k.verifier().id(),
        (None, Err(_)) => 0,
    };
    let pad =
        [" ", "\n", "\t", "\r\n"][usize::from(b.padding & 3)].repeat(usize::from(b.padding >> 6));
    let text = format!(
        "{pad}PRIVATE+KEY+{}+{}+{}{pad}",
        b.name,
        hex_id(id, b.uppercase_id),
        STANDARD.encode(&bytes)
    );
    let parsed = PrivateKey::parse(&text);
    if let Ok(k) = &parsed {
        check_private(k, Some(text.trim()));
    }
    if b.wrong_id.is_none() {
        assert_eq!(
            parsed.as_ref().ok().map(PrivateKey::encode),
            direct.as_ref().ok().map(PrivateKey::encode),
            "parse and from_seed disagree on {text:?}"
        );
    }
}

/// `a` and `b` are the same `<…>+<keyid>+<base64>` text up to the case of the keyid.
fn same_text(a: &str, b: &str) -> bool {
    let split = |s: &str| {
        let s = s.strip_prefix("PRIVATE+KEY+").unwrap_or(s);
        s.splitn(3, '+').map(str::to_owned).collect::<Vec<_>>()
    };
    let (a, b) = (split(a), split(b));
    a.len() == 3 && b.len() == 3 && a[0] == b[0] && a[1].eq_ignore_ascii_case(&b[1]) && a[2] == b[2]
}

fn check_verifier(v: &VerifierKey, input: Option<&str>) {
    let text = v.to_string();
    let again =
        VerifierKey::parse(&text).unwrap_or_else(|e| panic!("{text:?} does not re-parse: {e}"));
    assert_eq!(&again, v);
    assert_eq!(again.to_string(), text);
    assert_eq!(v.id(), key_id(v.name(), ALG_ED25519, &v.public_key()));
    assert_eq!(v.signer_id(), format!("{}+{:08x}", v.name(), v.id()));
    assert_eq!(
        VerifierKey::from_public_key(v.name(), v.public_key()).as_ref(),
        Ok(v)
    );
    if let Some(input) = input {
        assert!(
            same_text(input, &text),
            "{input:?} parses but is written back as {text:?}"
        );
    }
}

fn check_private(k: &PrivateKey, input: Option<&str>) {
    let text = k.encode();
    let again =
        PrivateKey::parse(&text).unwrap_or_else(|e| panic!("{text:?} does not re-parse: {e}"));
    assert_eq!(again.encode(), text);
    assert_eq!(again.verifier(), k.verifier());
    assert_eq!(k.signer_id(), k.verifier().signer_id());
    check_verifier(&k.verifier(), None);
    let sig = k.sign(b"fuzz");
    k.verifier()
        .verify(b"fuzz", &sig)
        .expect("a key's own signature verifies");
    if let Some(input) = input {
        assert!(
            same_text(input, &text),
            "{input:?} parses but is written back as {text:?}"
        );
    }
}
