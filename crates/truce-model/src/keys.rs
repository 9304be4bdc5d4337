//! Ed25519 keys in the signed-note encodings (DESIGN §3).
//!
//! Every actor in truce — the log, the operator, monitors, parties, witnesses — is an Ed25519 key
//! named the way C2SP signed-note (and Go's `golang.org/x/mod/sumdb/note`) names keys, so that a key
//! file written here loads in any signed-note implementation and vice versa:
//!
//! - verifier key: `<name>+<keyid: 8 hex digits>+<base64(type || 32-byte public key)>`
//! - private key:  `PRIVATE+KEY+<name>+<keyid>+<base64(type || 32-byte seed)>`
//! - keyid = the first 4 bytes, big-endian, of SHA-256(name || 0x0A || type || public key).
//!
//! The *type* byte names what the key signs. Two kinds of Ed25519 key exist in truce, and they
//! differ in nothing but that byte (and so in their key IDs): signed-note keys ([`Ed25519`],
//! `0x01`), which sign entries and checkpoints, and witness cosignature keys ([`CosignatureV1`],
//! `0x04`, C2SP tlog-cosignature). Hence one implementation, [`SigningKey`] and [`VerifyingKey`],
//! parameterised by an [`Algorithm`]: [`PrivateKey`] and [`VerifierKey`] are the signed-note
//! instances, and `truce_log::cosignature` wraps the cosignature ones with what only a witness
//! does. The algorithm is part of the type, so a witness key can never be used where a log or
//! monitor key is expected, or the other way round.
//!
//! Invariants: a [`VerifyingKey`] or [`SigningKey`] value always has a valid name and a keyid that
//! matches its key and type byte (parsing recomputes and compares it); the encodings are written
//! in exactly one form (lowercase keyid, the key's own type byte). Signatures are checked with
//! `verify_strict`, which refuses the malleable and small-order edge cases that plain RFC 8032
//! verification lets through: an entry either verifies the same way everywhere or not at all.
//! [`verify_batch`] checks many signatures at once (replay) and accepts what `verify_strict`
//! accepts, but for one case that only a key's holder can craft; its documentation says how,
//! and why that case is left open.

use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, Signer as _};
use sha2::{Digest as _, Sha256};

/// The signed-note signature type byte for Ed25519.
pub const ALG_ED25519: u8 = Ed25519::TYPE;

/// The longest key name accepted, in bytes. Names are identifiers, not prose.
pub const MAX_NAME_LEN: usize = 128;

/// Why a key, key name or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The name is empty, too long, or contains a space, `+` or a control character.
    #[error("invalid key name: {0}")]
    InvalidName(String),
    /// The text does not have the `name+keyid+key` (or `PRIVATE+KEY+…`) shape.
    #[error("malformed key: {0}")]
    Malformed(&'static str),
    /// The keyid is not 8 hex digits.
    #[error("invalid keyid {0:?}: expected 8 hexadecimal digits")]
    InvalidKeyId(String),
    /// The key material is not base64, or not the type byte followed by 32 bytes.
    #[error("invalid key material: {0}")]
    InvalidKeyMaterial(&'static str),
    /// The type byte is not the one of the key's algorithm.
    #[error("unsupported signature algorithm 0x{0:02x}: only Ed25519 (0x01) is accepted")]
    UnsupportedAlgorithm(u8),
    /// The keyid in the text does not match the one computed from name and key.
    #[error("keyid {stated} does not match the key (computed {computed} from name and key)")]
    KeyIdMismatch { stated: String, computed: String },
    /// The public key is not a valid Ed25519 point (or is of small order).
    #[error("the public key is not a valid Ed25519 key")]
    InvalidPublicKey,
    /// The signature is not 64 bytes or does not verify under strict rules.
    #[error("the signature does not verify")]
    BadSignature,
    /// The operating system's random source failed.
    #[error("no randomness for key generation: {0}")]
    Randomness(String),
}

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

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Ed25519 {}
    impl Sealed for super::CosignatureV1 {}
}

/// What an Ed25519 key signs, as its signed-note type byte says. Sealed: truce has exactly the
/// two algorithms below, and everything else about their keys is the same.
pub trait Algorithm:
    sealed::Sealed + fmt::Debug + Clone + Copy + PartialEq + Eq + Send + Sync + 'static
{
    /// The type byte, in the key ID and in front of the key material.
    const TYPE: u8;
    /// Another type byte a *private* key text may carry (read, never written); its key ID is
    /// checked under that type.
    const ALSO_READS: Option<u8>;
    /// The private key's type name, for `Debug`.
    const SIGNING_KEY_NAME: &'static str;
    /// What a verifier key text looks like, for [`KeyError::Malformed`].
    const VERIFIER_SHAPE: &'static str;
    /// What a private key text looks like after `PRIVATE+KEY+`, for [`KeyError::Malformed`].
    const PRIVATE_SHAPE: &'static str;
    /// The complaint about key material of the wrong length.
    const MATERIAL_LENGTH: &'static str;
}

/// Signed-note Ed25519 (type `0x01`): the keys that sign entries and checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ed25519 {}

impl Algorithm for Ed25519 {
    const TYPE: u8 = 0x01;
    const ALSO_READS: Option<u8> = None;
    const SIGNING_KEY_NAME: &'static str = "PrivateKey";
    const VERIFIER_SHAPE: &'static str = "a verifier key is <name>+<keyid>+<base64 key>";
    const PRIVATE_SHAPE: &'static str = "a private key is PRIVATE+KEY+<name>+<keyid>+<base64 seed>";
    const MATERIAL_LENGTH: &'static str = "an Ed25519 key is 32 bytes after 0x01";
}

/// Ed25519 `cosignature/v1` (type `0x04`, C2SP tlog-cosignature): witness keys. A private key
/// text of type `0x01` is read too, as Go's `transparency-dev/formats/note` reads it (so that a
/// key made with `note.GenerateKey` serves as a witness key); it is written as type `0x04`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CosignatureV1 {}

impl Algorithm for CosignatureV1 {
    const TYPE: u8 = 0x04;
    const ALSO_READS: Option<u8> = Some(Ed25519::TYPE);
    const SIGNING_KEY_NAME: &'static str = "CosignerKey";
    const VERIFIER_SHAPE: &'static str = "a cosigner key is <name>+<keyid>+<base64 key>";
    const PRIVATE_SHAPE: &'static str =
        "a cosigner private key is PRIVATE+KEY+<name>+<keyid>+<base64 seed>";
    const MATERIAL_LENGTH: &'static str = "an Ed25519 key is 32 bytes after the type byte";
}

/// A signed-note verifier key: public, type `0x01`.
pub type VerifierKey = VerifyingKey<Ed25519>;

/// A signed-note private key: type `0x01`.
pub type PrivateKey = SigningKey<Ed25519>;

/// Splits `<name>+<keyid>+<material>` (a verifier key, or a private key after `PRIVATE+KEY+`),
/// checking the name and the keyid's syntax.
fn split_key_text<'a>(s: &'a str, shape: &'static str) -> Result<KeyText<'a>, KeyError> {
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id_text), Some(material)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(KeyError::Malformed(shape));
    };
    check_name(name)?;
    if id_text.len() != 8 || !id_text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::InvalidKeyId(id_text.chars().take(16).collect()));
    }
    let id =
        u32::from_str_radix(id_text, 16).map_err(|_| KeyError::InvalidKeyId(id_text.into()))?;
    Ok(KeyText {
        name,
        id_text,
        id,
        material,
    })
}

/// The parts of a key text.
struct KeyText<'a> {
    name: &'a str,
    /// The keyid as written (for error messages).
    id_text: &'a str,
    id: u32,
    material: &'a str,
}

impl KeyText<'_> {
    /// The stated keyid, or the mismatch error if it is not `computed`.
    fn check_id(&self, computed: u32) -> Result<(), KeyError> {
        if self.id == computed {
            return Ok(());
        }
        Err(KeyError::KeyIdMismatch {
            stated: self.id_text.to_string(),
            computed: format!("{computed:08x}"),
        })
    }

    /// Decodes `base64(type || 32 bytes)` with a type byte `accepts` takes.
    fn material<A: Algorithm>(
        &self,
        accepts: impl Fn(u8) -> bool,
    ) -> Result<(u8, [u8; 32]), KeyError> {
        let raw = STANDARD
            .decode(self.material)
            .map_err(|_| KeyError::InvalidKeyMaterial("not standard base64"))?;
        match raw.split_first() {
            None => Err(KeyError::InvalidKeyMaterial("empty")),
            Some((&alg, _)) if !accepts(alg) => Err(KeyError::UnsupportedAlgorithm(alg)),
            Some((&alg, rest)) => rest
                .try_into()
                .map(|bytes| (alg, bytes))
                .map_err(|_| KeyError::InvalidKeyMaterial(A::MATERIAL_LENGTH)),
        }
    }
}

fn encode_material(alg: u8, bytes: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(33);
    raw.push(alg);
    raw.extend_from_slice(bytes);
    STANDARD.encode(raw)
}

/// A public (verifier) key of algorithm `A`, with its name and keyid.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey<A: Algorithm> {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
    /// Whether the point lies in the prime-order subgroup (no torsion component), which
    /// [`verify_batch`] needs to be as strict as `verify_strict`. A function of `key`, computed
    /// once (one scalar multiplication) when the key is built.
    torsion_free: bool,
    /// Whether the point is of small order (`is_weak`): such keys are refused when parsed, and
    /// [`verify_batch`] checks again, from this flag computed once rather than per signature.
    weak: bool,
    alg: PhantomData<A>,
}

impl<A: Algorithm> VerifyingKey<A> {
    /// Parses `<name>+<keyid>+<base64(type || key)>`, checking the name, the type byte, the keyid
    /// and the point.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let text = split_key_text(s, A::VERIFIER_SHAPE)?;
        let (_, bytes) = text.material::<A>(|alg| alg == A::TYPE)?;
        text.check_id(key_id(text.name, A::TYPE, &bytes))?;
        Self::from_public_key(text.name, bytes)
    }

    /// Builds a verifier key from a name and a raw public key.
    pub fn from_public_key(name: &str, public_key: [u8; 32]) -> Result<Self, KeyError> {
        check_name(name)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public_key)
            .map_err(|_| KeyError::InvalidPublicKey)?;
        if key.is_weak() {
            return Err(KeyError::InvalidPublicKey);
        }
        Ok(VerifyingKey {
            name: name.to_string(),
            id: key_id(name, A::TYPE, &public_key),
            torsion_free: key.to_edwards().is_torsion_free(),
            weak: false,
            key,
            alg: PhantomData,
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit keyid (of the algorithm's type byte).
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

impl<A: Algorithm> fmt::Display for VerifyingKey<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.id,
            encode_material(A::TYPE, &self.key.to_bytes())
        )
    }
}

/// Verifies many signatures at once: item `i` of the result says whether `items[i]` — a
/// message, a signature (64 bytes, `R ‖ s`) and a key — verifies. When they all do, this costs
/// about a third of verifying them one by one (`ed25519_dalek::verify_batch`; rates in
/// bench/RESULTS.md). An empty batch gives an empty result.
///
/// # How strict it is, precisely
///
/// For a key `A`, a message `M` and a signature `(R, s)`, with `k = SHA-512(R ‖ A ‖ M) mod ℓ`,
/// ed25519-dalek 3's `verify_strict` ([`VerifyingKey::verify`]) accepts if and only if
/// 1. `s` is canonical (`s < ℓ`),
/// 2. `R` decodes to a curve point, and `compress([s]B − [k]A)` equals `R`'s 32 bytes: the
///    cofactorless equation `R = [s]B − [k]A` holds exactly, and `R` is the *canonical*
///    encoding of its point (compression only writes canonical encodings),
/// 3. neither `R` nor `A` is of small order.
///
/// `ed25519_dalek::verify_batch` checks (1) and that every `R` decodes, then one randomised
/// equation `Σ zᵢ·Dᵢ = 0` with `Dᵢ = Rᵢ + [kᵢ]Aᵢ − [sᵢ]B` and 128-bit `zᵢ` derived from all the
/// inputs. Where that could accept what `verify_strict` refuses, the signature is verified
/// alone with `verify_strict` instead of joining the batch:
/// - the batch decodes non-canonical encodings of `R` (y ≥ p, or x = 0 with the sign bit set),
///   which (2) refuses: `R` must re-compress to its own bytes;
/// - it does not check (3): `R` must not be of small order, and `A` must not be weak (keys are
///   already refused at [`VerifyingKey::from_public_key`] if they are; checked again here);
/// - an `A` with a torsion component (not of small order, so accepted as a key, but outside
///   the prime-order subgroup) makes an honest signature's `Dᵢ = [kᵢ]T`, which `verify_strict`
///   refuses unless it is zero and the batch misses whenever `zᵢ·Dᵢ` vanishes: such keys never
///   join the batch (whether a key is torsion-free is computed once, when it is built).
///
/// **The one remaining difference**: a signature whose `R` has a torsion component `T`
/// (`R = R' + T`, `R'` in the prime-order subgroup, `T ≠ 0` of order 2, 4 or 8) and satisfies
/// `R' = [s]B − [k]A` is refused by `verify_strict` but passes the batch equation when `zᵢ·T`
/// vanishes: with probability 1/2, 1/4 or 1/8 (for `T` of order 2, 4 or 8) over the batches it
/// may land in (the `zᵢ` are derived from the batch's contents, so a given batch always decides
/// the same way, but the same signature may pass in one batch and fail in another). No RFC 8032 signer makes
/// such an `R`: only the key's holder can, on purpose. Excluding it would take a torsion check
/// of every `R` (a full scalar multiplication, as costly as `verify_strict` itself:
/// `examples/sig_rates.rs` measures it), which would cancel the gain. Callers whose verdicts
/// must be reproducible across implementations for logs they did not write themselves use
/// [`VerifyingKey::verify`]; replay uses this on logs whose every signature a server verified
/// strictly when it logged them (see `truce_server::replay`).
///
/// A signature of the wrong length is refused, as by `verify`. When the batch equation fails,
/// every signature in it is verified alone with `verify_strict`, to find exactly which fail (a
/// replay that meets a bad signature stops there, so the slow path is taken once).
pub fn verify_batch<A: Algorithm>(items: &[(&[u8], &[u8], &VerifyingKey<A>)]) -> Vec<bool> {
    let mut verdicts = vec![false; items.len()];
    let mut batched = Vec::with_capacity(items.len());
    let mut messages = Vec::with_capacity(items.len());
    let mut signatures = Vec::with_capacity(items.len());
    let mut keys = Vec::with_capacity(items.len());
    for (i, &(msg, sig, key)) in items.iter().enumerate() {
        let Ok(sig) = Signature::from_slice(sig) else {
            continue;
        };
        if batchable(&sig, key) {
            batched.push(i);
            messages.push(msg);
            signatures.push(sig);
            keys.push(key.key);
        } else {
            verdicts[i] = key.key.verify_strict(msg, &sig).is_ok();
        }
    }
    if batched.is_empty() {
        return verdicts;
    }
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        for i in batched {
            verdicts[i] = true;
        }
    } else {
        for (j, i) in batched.into_iter().enumerate() {
            verdicts[i] = keys[j].verify_strict(messages[j], &signatures[j]).is_ok();
        }
    }
    verdicts
}

/// Whether `sig` under `key` may join the batch (see [`verify_batch`]): `s` canonical (or the
/// whole batch would fail), `A` neither weak nor with a torsion component, `R` canonically
/// encoded and not of small order.
///
/// `R` is checked on its bytes, without decoding the point (which costs a field exponentiation,
/// and the batch decodes it anyway): its y-coordinate must be below p, and must not be the y of
/// a point of small order. That is exactly "canonical and not of small order": an encoding is
/// non-canonical when y ≥ p, or when x = 0 and the sign bit is set, and x = 0 only for y = ±1,
/// the identity and the point of order 2; and y determines a point up to negation, which keeps
/// the order. An `R` that does not decode at all fails the batch, and then `verify_strict`.
fn batchable<A: Algorithm>(sig: &Signature, key: &VerifyingKey<A>) -> bool {
    if !key.torsion_free || key.weak {
        return false;
    }
    if Scalar::from_canonical_bytes(*sig.s_bytes())
        .is_none()
        .into()
    {
        return false;
    }
    let mut y = *sig.r_bytes();
    y[31] &= 0x7f;
    let at_least_p = y[31] == 0x7f && y[1..31].iter().all(|&b| b == 0xff) && y[0] >= 0xed;
    !at_least_p && !small_order_ys().contains(&y)
}

/// The y-coordinates (32 bytes, little-endian, sign bit clear) of the eight points of small
/// order: 0, 1, p − 1 and the two of the order-8 points (their negations share them).
fn small_order_ys() -> &'static [[u8; 32]] {
    static YS: std::sync::OnceLock<Vec<[u8; 32]>> = std::sync::OnceLock::new();
    YS.get_or_init(|| {
        let mut ys: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .map(|p| {
                let mut y = p.compress().to_bytes();
                y[31] &= 0x7f;
                y
            })
            .collect();
        ys.sort_unstable();
        ys.dedup();
        ys
    })
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

/// A private (signing) key of algorithm `A`, with its name and keyid. `Debug` never shows the
/// seed.
#[derive(Clone)]
pub struct SigningKey<A: Algorithm> {
    name: String,
    id: u32,
    key: ed25519_dalek::SigningKey,
    alg: PhantomData<A>,
}

impl<A: Algorithm> SigningKey<A> {
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
        let id = key_id(name, A::TYPE, key.verifying_key().as_bytes());
        Ok(SigningKey {
            name: name.to_string(),
            id,
            key,
            alg: PhantomData,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<keyid>+<base64(type || seed)>` (surrounding whitespace, such
    /// as a key file's final newline, is ignored). The type byte is `A`'s, or [`A::ALSO_READS`].
    ///
    /// [`A::ALSO_READS`]: Algorithm::ALSO_READS
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let Some(rest) = s.trim().strip_prefix("PRIVATE+KEY+") else {
            return Err(KeyError::Malformed(
                "a private key starts with PRIVATE+KEY+",
            ));
        };
        let text = split_key_text(rest, A::PRIVATE_SHAPE)?;
        let (alg, seed) = text.material::<A>(|alg| alg == A::TYPE || Some(alg) == A::ALSO_READS)?;
        let key = Self::from_seed(text.name, seed)?;
        let computed = if alg == A::TYPE {
            key.id
        } else {
            key_id(text.name, alg, key.key.verifying_key().as_bytes())
        };
        text.check_id(computed)?;
        Ok(key)
    }

    /// The private-key text, always with `A`'s type byte (without a trailing newline). Handle
    /// with care.
    pub fn encode(&self) -> String {
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            encode_material(A::TYPE, &self.key.to_bytes())
        )
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit keyid (of the algorithm's type byte).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifyingKey<A> {
        VerifyingKey {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
            // [a]B for the prime-order basepoint B, and a clamped scalar a that is not a
            // multiple of its order: neither torsion nor small order.
            torsion_free: true,
            weak: false,
            alg: PhantomData,
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

impl<A: Algorithm> fmt::Debug for SigningKey<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}({}+{:08x}, seed hidden)",
            A::SIGNING_KEY_NAME,
            self.name,
            self.id
        )
    }
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::edwards::CompressedEdwardsY;

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
        let vkey = format!("weak+{id:08x}+{}", encode_material(ALG_ED25519, &identity));
        assert_eq!(VerifierKey::parse(&vkey), Err(KeyError::InvalidPublicKey));
    }

    /// The secret scalar `a` of a key (A = [a]B), to craft edge-case signatures by hand.
    fn secret_scalar(seed: [u8; 32]) -> Scalar {
        let h = sha2::Sha512::digest(seed);
        let mut a: [u8; 32] = h[..32].try_into().unwrap();
        a[0] &= 248;
        a[31] &= 127;
        a[31] |= 64;
        Scalar::from_bytes_mod_order(a)
    }

    /// `k = SHA-512(R ‖ A ‖ M) mod ℓ`.
    fn challenge(r: &[u8; 32], a: &[u8; 32], msg: &[u8]) -> Scalar {
        let mut h = sha2::Sha512::new();
        h.update(r);
        h.update(a);
        h.update(msg);
        Scalar::from_bytes_mod_order_wide(&h.finalize().into())
    }

    fn batch_of<'a>(
        msgs: &'a [Vec<u8>],
        sigs: &'a [Vec<u8>],
        keys: &'a [VerifierKey],
    ) -> Vec<(&'a [u8], &'a [u8], &'a VerifierKey)> {
        msgs.iter()
            .zip(sigs)
            .enumerate()
            .map(|(i, (m, s))| (m.as_slice(), s.as_slice(), &keys[i % keys.len()]))
            .collect()
    }

    #[test]
    fn batch_accepts_good_signatures_and_finds_the_bad_ones() {
        let signers: Vec<PrivateKey> = (0..3)
            .map(|i| PrivateKey::generate(&format!("m{i}")).unwrap())
            .collect();
        let keys: Vec<VerifierKey> = signers.iter().map(PrivateKey::verifier).collect();
        let msgs: Vec<Vec<u8>> = (0..40).map(|i| format!("entry {i}").into_bytes()).collect();
        let mut sigs: Vec<Vec<u8>> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| signers[i % 3].sign(m).to_vec())
            .collect();
        assert!(
            verify_batch(&batch_of(&msgs, &sigs, &keys))
                .iter()
                .all(|&ok| ok)
        );

        sigs[7][10] ^= 1; // R altered
        sigs[21][40] ^= 1; // s altered
        sigs[30].pop(); // 63 bytes
        sigs[33] = signers[1].sign(b"another message").to_vec(); // signed by another key
        let verdicts = verify_batch(&batch_of(&msgs, &sigs, &keys));
        let bad: Vec<usize> = (0..40).filter(|&i| !verdicts[i]).collect();
        assert_eq!(bad, [7, 21, 30, 33]);
        for (i, &(m, s, k)) in batch_of(&msgs, &sigs, &keys).iter().enumerate() {
            assert_eq!(verdicts[i], k.verify(m, s).is_ok(), "item {i}");
        }
    }

    /// The byte check of `R` in `batchable` agrees with decoding: over every small y (where
    /// non-canonical encodings exist), the small-order ones, and random ones, with both signs.
    #[test]
    fn r_byte_check_agrees_with_decoding() {
        assert_eq!(small_order_ys().len(), 5);
        let key = PrivateKey::from_seed("m", [5u8; 32]).unwrap().verifier();
        let mut candidates: Vec<[u8; 32]> = small_order_ys().to_vec();
        for low in 0u8..=255 {
            let mut y = [0u8; 32];
            y[0] = low;
            candidates.push(y);
            let mut high = [0xffu8; 32];
            high[31] = 0x7f;
            high[0] = low;
            candidates.push(high);
        }
        for i in 0..200u8 {
            candidates.push(sha2::Sha256::digest([i]).into());
        }
        for mut r in candidates {
            for sign in [0, 0x80] {
                r[31] = (r[31] & 0x7f) | sign;
                let by_decoding = CompressedEdwardsY(r)
                    .decompress()
                    .is_some_and(|p| p.compress().to_bytes() == r && !p.is_small_order());
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(&r);
                let by_bytes = batchable(&Signature::from_bytes(&sig), &key);
                // Bytes that do not decode may join the batch (which then fails); all else
                // must agree.
                let decodes = CompressedEdwardsY(r).decompress().is_some();
                assert!(by_bytes == by_decoding || !decodes, "{}", hex::encode(r));
            }
        }
    }

    #[test]
    fn empty_batch() {
        assert!(verify_batch::<Ed25519>(&[]).is_empty());
    }

    /// The identity as a public key: `from_public_key` refuses it, but a key built around it
    /// (as a future constructor might) must still not pass the batch, whose equation it would
    /// satisfy with `R` = identity and `s` = 0.
    #[test]
    fn batch_refuses_weak_keys() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = VerifierKey {
            name: "weak".into(),
            id: key_id("weak", ALG_ED25519, &identity),
            key: ed25519_dalek::VerifyingKey::from_bytes(&identity).unwrap(),
            torsion_free: true,
            weak: ed25519_dalek::VerifyingKey::from_bytes(&identity)
                .unwrap()
                .is_weak(),
            alg: PhantomData,
        };
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&identity);
        let items = [(b"msg".as_slice(), sig.as_slice(), &weak)];
        assert!(!batchable(&Signature::from_bytes(&sig), &weak));
        assert_eq!(verify_batch(&items), [false]);
        // The batch equation alone would have taken it.
        assert!(
            ed25519_dalek::verify_batch(
                &[b"msg".as_slice()],
                &[Signature::from_bytes(&sig)],
                &[weak.key]
            )
            .is_ok()
        );
    }

    /// `R` of small order (the identity) with `s = k·a`: the batch equation holds, and
    /// `verify_strict` refuses; so must `verify_batch`.
    #[test]
    fn batch_refuses_small_order_r() {
        let seed = [7u8; 32];
        let key = PrivateKey::from_seed("m", seed).unwrap().verifier();
        let mut r = [0u8; 32];
        r[0] = 1;
        let msg = b"small order R";
        let s = challenge(&r, &key.public_key(), msg) * secret_scalar(seed);
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r);
        sig[32..].copy_from_slice(s.as_bytes());
        let raw = Signature::from_bytes(&sig);
        assert!(ed25519_dalek::verify_batch(&[msg.as_slice()], &[raw], &[key.key]).is_ok());
        assert!(key.verify(msg, &sig).is_err());
        assert_eq!(
            verify_batch(&[(msg.as_slice(), sig.as_slice(), &key)]),
            [false]
        );
    }

    /// A non-canonical encoding of `R` (y + p instead of y) never joins the batch.
    #[test]
    fn batch_refuses_non_canonical_r() {
        let key = PrivateKey::from_seed("m", [3u8; 32]).unwrap().verifier();
        // p = 2^255 - 19; y + p fits in 255 bits for y < 19. Find such a y on the curve.
        let (y, _) = (2u8..19)
            .find_map(|y| {
                let mut b = [0u8; 32];
                b[0] = y;
                CompressedEdwardsY(b).decompress().map(|p| (y, p))
            })
            .expect("a point with a small y");
        let mut r = [0xffu8; 32];
        r[31] = 0x7f;
        r[0] = 0xed + y; // (2^255 - 19) + y, little-endian
        assert!(CompressedEdwardsY(r).decompress().is_some());
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r);
        assert!(!batchable(&Signature::from_bytes(&sig), &key));
        assert_eq!(
            verify_batch(&[(b"m".as_slice(), sig.as_slice(), &key)]),
            [false]
        );
    }

    /// A key with a torsion component is accepted as a key but never joins the batch; and the
    /// one documented difference, an `R` with a torsion component, shown at work.
    #[test]
    fn torsion_components() {
        let seed = [9u8; 32];
        let honest = PrivateKey::from_seed("m", seed).unwrap().verifier();
        // The point of order 2, (0, -1).
        let t = {
            let mut b = [0xffu8; 32];
            b[0] = 0xec;
            b[31] = 0x7f;
            CompressedEdwardsY(b).decompress().unwrap()
        };
        assert!(t.is_small_order() && !curve25519_dalek::traits::IsIdentity::is_identity(&t));
        let mixed = (honest.key.to_edwards() + t).compress().to_bytes();
        let mixed = VerifierKey::from_public_key("m", mixed).unwrap();
        assert!(!mixed.torsion_free && honest.torsion_free);
        let sig = [1u8; 64];
        assert!(!batchable(&Signature::from_bytes(&sig), &mixed));

        // R = [r]B + T, s = r + k·a: verify_strict refuses every such signature; the batch
        // equation sees [z]T, which vanishes for even z, about one batch in two.
        let a = secret_scalar(seed);
        let mut batch_took = 0;
        for i in 0..16u8 {
            let r_scalar = Scalar::from_bytes_mod_order([i + 1; 32]);
            let r = (curve25519_dalek::constants::ED25519_BASEPOINT_POINT * r_scalar + t)
                .compress()
                .to_bytes();
            let msg = [i; 8];
            let s = r_scalar + challenge(&r, &honest.public_key(), &msg) * a;
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r);
            sig[32..].copy_from_slice(s.as_bytes());
            assert!(honest.verify(&msg, &sig).is_err());
            if verify_batch(&[(msg.as_slice(), sig.as_slice(), &honest)]) == [true] {
                batch_took += 1;
            }
        }
        assert!(
            (1..16).contains(&batch_took),
            "{batch_took} of 16 passed the batch"
        );
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
