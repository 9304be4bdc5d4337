//! Ed25519 keys in the signed-note encodings (DESIGN §3).
//!
//! Every actor in truce — the log, the operator, monitors, parties, witnesses — is an Ed25519 key
//! named the way C2SP signed-note (and Go's `golang.org/x/mod/sumdb/note`) names keys, so that a key
//! file written here loads in any signed-note implementation and vice versa:
//!
//! - verifier key: `<name>+<keyid: 8 hex digits>+<base64(0x01 || 32-byte public key)>`
//! - private key:  `PRIVATE+KEY+<name>+<keyid>+<base64(0x01 || 32-byte seed)>`
//! - keyid = the first 4 bytes, big-endian, of SHA-256(name || 0x0A || 0x01 || public key).
//!
//! Invariants: a [`VerifierKey`] or [`PrivateKey`] value always has a valid name and a keyid that
//! matches its key (parsing recomputes and compares it). Signatures are checked with
//! `verify_strict`, which refuses the malleable and small-order edge cases that plain RFC 8032
//! verification lets through: an entry either verifies the same way everywhere or not at all.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _};
use sha2::{Digest as _, Sha256};

/// The signed-note signature type byte for Ed25519.
pub const ALG_ED25519: u8 = 0x01;

/// The longest key name accepted, in bytes. Names are identifiers, not prose.
pub const MAX_NAME_LEN: usize = 128;

/// Why a key, key name or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The name is empty, too long, or contains a space, `+` or a control character.
    InvalidName(String),
    /// The text does not have the `name+keyid+key` (or `PRIVATE+KEY+…`) shape.
    Malformed(&'static str),
    /// The keyid is not 8 hex digits.
    InvalidKeyId(String),
    /// The key material is not base64, or not `0x01` followed by 32 bytes.
    InvalidKeyMaterial(&'static str),
    /// The algorithm byte is not Ed25519's `0x01`.
    UnsupportedAlgorithm(u8),
    /// The keyid in the text does not match the one computed from name and key.
    KeyIdMismatch { stated: String, computed: String },
    /// The public key is not a valid Ed25519 point (or is of small order).
    InvalidPublicKey,
    /// The signature is not 64 bytes or does not verify under strict rules.
    BadSignature,
    /// The operating system's random source failed.
    Randomness(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::InvalidName(why) => write!(f, "invalid key name: {why}"),
            KeyError::Malformed(why) => write!(f, "malformed key: {why}"),
            KeyError::InvalidKeyId(id) => {
                write!(f, "invalid keyid {id:?}: expected 8 hexadecimal digits")
            }
            KeyError::InvalidKeyMaterial(why) => write!(f, "invalid key material: {why}"),
            KeyError::UnsupportedAlgorithm(alg) => write!(
                f,
                "unsupported signature algorithm 0x{alg:02x}: only Ed25519 (0x01) is accepted"
            ),
            KeyError::KeyIdMismatch { stated, computed } => write!(
                f,
                "keyid {stated} does not match the key (computed {computed} from name and key)"
            ),
            KeyError::InvalidPublicKey => write!(f, "the public key is not a valid Ed25519 key"),
            KeyError::BadSignature => write!(f, "the signature does not verify"),
            KeyError::Randomness(why) => write!(f, "no randomness for key generation: {why}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// Checks a key name against the signed-note rules (non-empty, no Unicode spaces, no `+`), and
/// against truce's own: no control characters, at most [`MAX_NAME_LEN`] bytes.
pub fn check_name(name: &str) -> Result<(), KeyError> {
    if name.is_empty() {
        return Err(KeyError::InvalidName("the name is empty".into()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(KeyError::InvalidName(format!(
            "the name is {} bytes long, the limit is {MAX_NAME_LEN}",
            name.len()
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || *c == '+' || c.is_control())
    {
        return Err(KeyError::InvalidName(format!(
            "{name:?} contains {c:?}; names may not contain spaces, '+' or control characters"
        )));
    }
    Ok(())
}

/// keyid = SHA-256(name || 0x0A || alg || public key)[..4], big-endian.
pub fn key_id(name: &str, alg: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', alg]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn parse_key_id(s: &str) -> Result<u32, KeyError> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::InvalidKeyId(s.chars().take(16).collect()));
    }
    u32::from_str_radix(s, 16).map_err(|_| KeyError::InvalidKeyId(s.into()))
}

/// Decodes `base64(0x01 || 32 bytes)`.
fn parse_material(s: &str) -> Result<[u8; 32], KeyError> {
    let raw = STANDARD
        .decode(s)
        .map_err(|_| KeyError::InvalidKeyMaterial("not standard base64"))?;
    match raw.split_first() {
        None => Err(KeyError::InvalidKeyMaterial("empty")),
        Some((&alg, _)) if alg != ALG_ED25519 => Err(KeyError::UnsupportedAlgorithm(alg)),
        Some((_, rest)) => rest
            .try_into()
            .map_err(|_| KeyError::InvalidKeyMaterial("an Ed25519 key is 32 bytes after 0x01")),
    }
}

fn encode_material(bytes: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(33);
    raw.push(ALG_ED25519);
    raw.extend_from_slice(bytes);
    STANDARD.encode(raw)
}

/// A public (verifier) key with its name and keyid.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl VerifierKey {
    /// Parses `<name>+<keyid>+<base64(0x01 || key)>`, checking the name, the keyid and the point.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(id), Some(material)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyError::Malformed(
                "a verifier key is <name>+<keyid>+<base64 key>",
            ));
        };
        check_name(name)?;
        let stated = parse_key_id(id)?;
        let bytes = parse_material(material)?;
        let computed = key_id(name, ALG_ED25519, &bytes);
        if stated != computed {
            return Err(KeyError::KeyIdMismatch {
                stated: id.to_string(),
                computed: format!("{computed:08x}"),
            });
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| KeyError::InvalidPublicKey)?;
        if key.is_weak() {
            return Err(KeyError::InvalidPublicKey);
        }
        Ok(VerifierKey {
            name: name.to_string(),
            id: computed,
            key,
        })
    }

    /// Builds a verifier key from a name and a raw public key.
    pub fn from_public_key(name: &str, public_key: [u8; 32]) -> Result<Self, KeyError> {
        check_name(name)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public_key)
            .map_err(|_| KeyError::InvalidPublicKey)?;
        if key.is_weak() {
            return Err(KeyError::InvalidPublicKey);
        }
        Ok(VerifierKey {
            name: name.to_string(),
            id: key_id(name, ALG_ED25519, &public_key),
            key,
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit keyid.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key's identity as DSSE `keyid`s name it: `<name>+<keyid hex>`.
    pub fn signer_id(&self) -> String {
        format!("{}+{:08x}", self.name, self.id)
    }

    /// Strict Ed25519 verification of `sig` over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        let sig = Signature::from_slice(sig).map_err(|_| KeyError::BadSignature)?;
        self.key
            .verify_strict(msg, &sig)
            .map_err(|_| KeyError::BadSignature)
    }

    /// The dalek key, for batch verification.
    pub fn verifying_key(&self) -> &ed25519_dalek::VerifyingKey {
        &self.key
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.id,
            encode_material(&self.key.to_bytes())
        )
    }
}

/// `Debug`, `FromStr` and serde (as the key text) for a public key type with `Display` and
/// `parse(&str) -> Result<Self, KeyError>`: every key type in truce reads and writes the same way.
#[macro_export]
macro_rules! key_text_impls {
    ($t:ident) => {
        impl ::std::fmt::Debug for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({self})", stringify!($t))
            }
        }

        impl ::std::str::FromStr for $t {
            type Err = $crate::keys::KeyError;
            fn from_str(s: &str) -> Result<Self, $crate::keys::KeyError> {
                $t::parse(s)
            }
        }

        impl ::serde::Serialize for $t {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $t {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                $t::parse(&s).map_err(::serde::de::Error::custom)
            }
        }
    };
}

key_text_impls!(VerifierKey);

/// A private (signing) key with its name and keyid. `Debug` never shows the seed.
#[derive(Clone)]
pub struct PrivateKey {
    name: String,
    id: u32,
    key: ed25519_dalek::SigningKey,
}

impl PrivateKey {
    /// A fresh key from the operating system's random source.
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Randomness(e.to_string()))?;
        Self::from_seed(name, seed)
    }

    /// The key with this seed (RFC 8032 secret key).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        check_name(name)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let id = key_id(name, ALG_ED25519, key.verifying_key().as_bytes());
        Ok(PrivateKey {
            name: name.to_string(),
            id,
            key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<keyid>+<base64(0x01 || seed)>` (surrounding whitespace, such
    /// as a key file's final newline, is ignored).
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        let Some(rest) = s.strip_prefix("PRIVATE+KEY+") else {
            return Err(KeyError::Malformed(
                "a private key starts with PRIVATE+KEY+",
            ));
        };
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(material)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyError::Malformed(
                "a private key is PRIVATE+KEY+<name>+<keyid>+<base64 seed>",
            ));
        };
        check_name(name)?;
        let stated = parse_key_id(id)?;
        let key = Self::from_seed(name, parse_material(material)?)?;
        if key.id != stated {
            return Err(KeyError::KeyIdMismatch {
                stated: id.to_string(),
                computed: format!("{:08x}", key.id),
            });
        }
        Ok(key)
    }

    /// The private-key text (without a trailing newline). Handle with care.
    pub fn encode(&self) -> String {
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            encode_material(&self.key.to_bytes())
        )
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// `<name>+<keyid hex>`, as DSSE signatures name their key.
    pub fn signer_id(&self) -> String {
        format!("{}+{:08x}", self.name, self.id)
    }

    /// An Ed25519 signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}+{:08x}, seed hidden)", self.name, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently with Python's `cryptography` package:
    //   seed = bytes(range(32)); name = "truce.example/test"
    //   pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    //   keyid = sha256(name.encode() + b"\n\x01" + pub).digest()[:4].hex()
    const SEED: [u8; 32] = {
        let mut s = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            s[i] = i as u8;
            i += 1;
        }
        s
    };
    const NAME: &str = "truce.example/test";
    const VKEY: &str = include_str!("../tests/keys/test.vkey");
    const SKEY: &str = include_str!("../tests/keys/test.key");

    #[test]
    fn encodings_match_independent_vector() {
        let k = PrivateKey::from_seed(NAME, SEED).unwrap();
        assert_eq!(k.encode(), SKEY.trim());
        assert_eq!(k.verifier().to_string(), VKEY.trim());
        assert_eq!(PrivateKey::parse(SKEY).unwrap().encode(), SKEY.trim());
        assert_eq!(VerifierKey::parse(VKEY.trim()).unwrap(), k.verifier());
    }

    // The example key of Go's golang.org/x/mod/sumdb/note documentation, which any signed-note
    // implementation must load.
    #[test]
    fn loads_go_note_example_keys() {
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        let v = VerifierKey::parse(vkey).unwrap();
        assert_eq!(v.to_string(), vkey);
        let s = PrivateKey::parse(skey).unwrap();
        assert_eq!(s.verifier(), v);
        assert_eq!(s.encode(), skey);
        assert_eq!(v.signer_id(), "PeterNeumann+c74f20a3");
    }

    #[test]
    fn sign_and_verify_strict() {
        let k = PrivateKey::generate("monitor-1").unwrap();
        let sig = k.sign(b"hello");
        k.verifier().verify(b"hello", &sig).unwrap();
        assert_eq!(
            k.verifier().verify(b"hellO", &sig),
            Err(KeyError::BadSignature)
        );
        assert_eq!(
            k.verifier().verify(b"hello", &sig[..63]),
            Err(KeyError::BadSignature)
        );
    }

    #[test]
    fn refuses_bad_names_and_shapes() {
        for name in ["", "a b", "a+b", "tab\there", "nl\n", "\u{2003}em"] {
            assert!(
                matches!(check_name(name), Err(KeyError::InvalidName(_))),
                "{name:?}"
            );
        }
        assert!(check_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
        let good = VKEY.trim();
        let (name, rest) = good.split_once('+').unwrap();
        let (id, material) = rest.split_once('+').unwrap();
        assert!(matches!(
            VerifierKey::parse(&format!("{name}+{id}")),
            Err(KeyError::Malformed(_))
        ));
        assert!(matches!(
            VerifierKey::parse(&format!("{name}+1234567+{material}")),
            Err(KeyError::InvalidKeyId(_))
        ));
        assert!(matches!(
            VerifierKey::parse(&format!("{name}+00000000+{material}")),
            Err(KeyError::KeyIdMismatch { .. })
        ));
        assert!(matches!(
            VerifierKey::parse(&format!("other+{id}+{material}")),
            Err(KeyError::KeyIdMismatch { .. })
        ));
        assert!(matches!(
            VerifierKey::parse(&format!("{name}+{id}+!!!")),
            Err(KeyError::InvalidKeyMaterial(_))
        ));
        let mut raw = STANDARD.decode(material).unwrap();
        raw[0] = 0x04;
        assert!(matches!(
            VerifierKey::parse(&format!("{name}+{id}+{}", STANDARD.encode(&raw))),
            Err(KeyError::UnsupportedAlgorithm(4))
        ));
        raw[0] = 0x01;
        raw.pop();
        assert!(matches!(
            VerifierKey::parse(&format!("{name}+{id}+{}", STANDARD.encode(&raw))),
            Err(KeyError::InvalidKeyMaterial(_))
        ));
        assert!(matches!(
            PrivateKey::parse(good),
            Err(KeyError::Malformed(_))
        ));
    }

    #[test]
    fn refuses_small_order_public_key() {
        // The identity point: a valid encoding, but of small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let id = key_id("weak", ALG_ED25519, &identity);
        let vkey = format!("weak+{id:08x}+{}", encode_material(&identity));
        assert_eq!(VerifierKey::parse(&vkey), Err(KeyError::InvalidPublicKey));
    }

    #[test]
    fn debug_hides_the_seed() {
        let k = PrivateKey::from_seed(NAME, SEED).unwrap();
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&k.encode()[30..]), "{dbg}");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,120}") {
            let _ = VerifierKey::parse(&s);
            let _ = PrivateKey::parse(&s);
        }

        #[test]
        fn roundtrip(seed in proptest::array::uniform32(0u8..), name in "[a-z0-9./_-]{1,40}") {
            let k = PrivateKey::from_seed(&name, seed).unwrap();
            let again = PrivateKey::parse(&k.encode()).unwrap();
            proptest::prop_assert_eq!(again.verifier(), k.verifier());
            let v = VerifierKey::parse(&k.verifier().to_string()).unwrap();
            proptest::prop_assert_eq!(v, k.verifier());
        }
    }
}
