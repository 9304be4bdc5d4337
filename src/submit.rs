//! `truce submit FILE`: signs a payload as a DSSE entry, posts it to a truce server, and checks
//! the receipt offline before saying it is logged (DESIGN §3, §7, §8).
//!
//! What "logged" means here: the server answered `{index, leaf_hash, proof}`, and
//!
//! 1. the tlog-proof's checkpoint is signed by the log key (`--vkey`, else the key the server
//!    publishes at `/v1/log/vkeys`) for the log's origin, and proves that `leaf_hash` is leaf
//!    `index` of that tree (the proof's index is the receipt's index);
//! 2. that leaf, read back from the log's entry bundle (`/log/tile/entries/…`), hashes to
//!    `leaf_hash` and holds exactly the envelope we signed. The client cannot predict the leaf's
//!    bytes (they include the log time), so it reads them; this is what binds the receipt to
//!    *our* entry rather than to any entry of the log. The log time is printed from that leaf.
//!
//! Exit status: 0 logged and verified; 1 the entry was refused (by the server: 400, 401, 403,
//! 409, 413, 422, with its `detail` and each `errors[]` pointer on stderr; or locally, for a
//! payload the server would refuse), or the server's receipt does not verify; 2 the entry could
//! not be submitted (usage, unreadable file or key, network, server unavailable or not a truce
//! server). With `--json`, stdout gets the server's receipt (plus `ok`, `id`, `kind`,
//! `log_time`, `already_logged`) or `{ok: false, exit, error, status?, problem?}`.
//!
//! Posting and both checks are the client's ([`crate::client::submit_entry`]); this module reads
//! and signs the payload, and reports. The `key accredit` / `key revoke` commands build their
//! payload and go through the same client, signing ([`sign`]) and reporting ([`print_receipt`],
//! [`fail`]).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use truce_model::dsse::{Envelope, MAX_ENVELOPE_BYTES, check_id};
use truce_model::entry::Kind;
use truce_model::json::{StrictJsonError, parse_strict};
use truce_model::keys::PrivateKey;

use crate::client::{self, DEFAULT_SERVER, Failure, Receipt, Target};
use crate::text::json_type;

/// The largest payload file read. Anything near it is refused anyway (a leaf holds 64 KiB).
const MAX_PAYLOAD_FILE: u64 = 1 << 20;
/// The largest key file read.
const MAX_KEY_FILE: u64 = 4096;

/// What the exit status means, for `--help`.
pub const EXIT_STATUS_HELP: &str = "Exit status: 0 logged, and the receipt verified offline; \
1 refused (by the server: each field it names is listed on stderr; or locally, for a payload the \
server would refuse), or the receipt does not verify; 2 not submitted (usage, files, keys, \
network, rate limit, server unavailable).";

/// `truce submit` arguments.
#[derive(Args)]
#[command(after_help = EXIT_STATUS_HELP)]
pub struct SubmitArgs {
    /// The payload: a JSON object with an `id` (one is generated if it has none); `-` reads
    /// standard input.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The private key file to sign with.
    #[arg(long, value_name = "KEYFILE")]
    key: PathBuf,
    /// The entry kind (key, agreement, consent, observation, decision, dispute, fulfilment,
    /// commitment); optional for a file named `*.<kind>.json`.
    #[arg(long)]
    kind: Option<String>,
    /// The truce server.
    #[arg(long, env = "TRUCE_SERVER", default_value = DEFAULT_SERVER, value_name = "URL")]
    server: String,
    /// The log's verifier key to check the receipt with (default: the key the server
    /// publishes at /v1/log/vkeys).
    #[arg(long = "vkey", visible_alias = "log-vkey", value_name = "LOG_VKEY")]
    log_vkey: Option<String>,
    /// Print the receipt (or the failure) as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `truce submit`.
pub fn run(args: SubmitArgs) -> ExitCode {
    let target = Target {
        server: args.server.clone(),
        log_vkey: args.log_vkey.clone(),
        json: args.json,
    };
    let prepared = prepare(&args);
    let (kind, id, envelope) = match prepared {
        Ok(p) => p,
        Err(f) => return fail(&target, "submit", &f),
    };
    match client::submit_entry(&target, &envelope, &id) {
        Ok(r) => {
            print_receipt(&target, kind.as_str(), &id, &r);
            ExitCode::SUCCESS
        }
        Err(f) => fail(&target, "submit", &f),
    }
}

/// Reads and checks the payload, the kind and the key, and signs.
fn prepare(args: &SubmitArgs) -> Result<(Kind, String, Envelope), Failure> {
    let name = display_name(&args.file);
    let kind = match &args.kind {
        Some(k) => Kind::from_name(k.trim()).ok_or_else(|| {
            Failure::usage(format!(
                "--kind {k:?}: not an entry kind; use one of {}",
                kind_list()
            ))
        })?,
        None => kind_from_file_name(&args.file).ok_or_else(|| {
            Failure::usage(format!(
                "{name}: pass --kind ({}), or name the file <name>.<kind>.json",
                kind_list()
            ))
        })?,
    };
    let key = read_private_key(&args.key, "--key")?;
    let bytes = read_payload(&args.file)?;
    let (id, payload) = payload_with_id(&name, bytes)?;
    let envelope = sign(kind, &payload, &key)?;
    Ok((kind, id, envelope))
}

fn kind_list() -> String {
    Kind::ALL
        .iter()
        .filter(|k| **k != Kind::Tick)
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn display_name(file: &Path) -> String {
    if file.as_os_str() == "-" {
        "standard input".into()
    } else {
        file.display().to_string()
    }
}

/// `obs-17.observation.json` → observation: the kind named just before a final `.json`.
pub fn kind_from_file_name(file: &Path) -> Option<Kind> {
    let name = file.file_name()?.to_str()?;
    let stem = name.strip_suffix(".json")?;
    let (_, kind) = stem.rsplit_once('.')?;
    Kind::from_name(kind)
}

fn read_payload(file: &Path) -> Result<Vec<u8>, Failure> {
    let name = display_name(file);
    let mut bytes = Vec::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_PAYLOAD_FILE + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(MAX_PAYLOAD_FILE + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| Failure::usage(format!("{name}: {e}")))?;
    if bytes.len() as u64 > MAX_PAYLOAD_FILE {
        return Err(Failure::refused(format!(
            "{name}: larger than {MAX_PAYLOAD_FILE} bytes; an entry holds at most {MAX_ENVELOPE_BYTES} bytes: put media and large geometry in blobs (PUT /v1/blobs/{{sha256}}) and reference their hashes"
        )));
    }
    Ok(bytes)
}

/// Checks that the payload is a JSON object with a valid string `id`; gives it a fresh ULID if
/// it has none (and says so). Returns the id and the payload bytes to sign: the file's own bytes
/// when it has an id, so that submitting the same file again is idempotent.
fn payload_with_id(name: &str, bytes: Vec<u8>) -> Result<(String, Vec<u8>), Failure> {
    let value = parse_strict(&bytes).map_err(|e| match e {
        StrictJsonError::DuplicateKey { pointer, key } => Failure::refused(format!(
            "{name}: {}: the key {key:?} appears twice",
            if pointer.is_empty() { "/" } else { &pointer }
        )),
        other => Failure::refused(format!("{name}: not JSON: {other}")),
    })?;
    let serde_json::Value::Object(mut obj) = value else {
        return Err(Failure::refused(format!(
            "{name}: a payload is a JSON object, not {}",
            json_type(&value)
        )));
    };
    match obj.get("id") {
        Some(serde_json::Value::String(id)) => {
            check_id(id).map_err(|why| Failure::refused(format!("{name}: /id: {why}")))?;
            Ok((id.clone(), bytes))
        }
        Some(other) => Err(Failure::refused(format!(
            "{name}: /id: must be a string, not {}",
            json_type(other)
        ))),
        None => {
            let id = new_ulid().map_err(Failure::usage)?;
            eprintln!(
                "truce: {name} has no \"id\": submitting it as {id} (add the id to the file to make resubmission idempotent)"
            );
            obj.insert("id".into(), id.clone().into());
            let bytes = serde_json::to_vec(&obj)
                .map_err(|e| Failure::usage(format!("{name}: re-encoding: {e}")))?;
            Ok((id, bytes))
        }
    }
}

/// Signs `payload` as an entry of `kind`, refusing an envelope too large for a leaf.
pub fn sign(kind: Kind, payload: &[u8], key: &PrivateKey) -> Result<Envelope, Failure> {
    let envelope = Envelope::sign(kind.as_str(), payload, &[key]);
    let size = envelope.canonical_json().len();
    if size > MAX_ENVELOPE_BYTES {
        return Err(Failure::refused(format!(
            "the signed entry would be {size} bytes, the limit is {MAX_ENVELOPE_BYTES}: put media and large geometry in blobs (PUT /v1/blobs/{{sha256}}) and reference their hashes"
        )));
    }
    Ok(envelope)
}

/// Reads a private key file, naming `flag` in errors (never the file's content).
pub fn read_private_key(path: &Path, flag: &str) -> Result<PrivateKey, Failure> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE).read_to_string(&mut text))
        .map_err(|e| Failure::usage(format!("{flag} {}: {e}", path.display())))?;
    PrivateKey::parse(&text).map_err(|e| {
        Failure::usage(format!(
            "{flag} {}: not a private key file: {e}",
            path.display()
        ))
    })
}

/// A ULID: 48 bits of Unix time in ms and 80 random bits, as 26 Crockford base32 digits.
pub fn new_ulid() -> Result<String, String> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| "the system clock is before 1970".to_string())?
        .as_millis();
    Ok(ulid(u64::try_from(ms).unwrap_or(u64::MAX), random_80()?))
}

/// 80 bits from the operating system's random source. The `truce` crate does not link
/// `getrandom` itself; key generation does (`PrivateKey::generate` draws a 32-byte seed from
/// it), and SHA-256 of a throwaway key's public key is as good a random string as the seed.
fn random_80() -> Result<[u8; 10], String> {
    let throwaway = PrivateKey::generate("ulid").map_err(|e| format!("generating an id: {e}"))?;
    let h = truce_log::leaf::leaf_hash(&throwaway.verifier().public_key());
    let mut out = [0u8; 10];
    out.copy_from_slice(&h[..10]);
    Ok(out)
}

fn ulid(ms: u64, random: [u8; 10]) -> String {
    const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut r = [0u8; 16];
    r[6..].copy_from_slice(&random);
    let v = (u128::from(ms & 0xFFFF_FFFF_FFFF) << 80) | u128::from_be_bytes(r);
    (0..26)
        .rev()
        .map(|i| char::from(CROCKFORD[((v >> (5 * i)) & 31) as usize]))
        .collect()
}

/// Prints a verified receipt: a summary and the tlog-proof text, or the server's JSON.
pub fn print_receipt(target: &Target, kind: &str, id: &str, r: &Receipt) {
    let time = truce_engine::rfc3339(r.time_ms);
    if r.already_logged {
        eprintln!(
            "truce: {id} was already logged at index {} (log time {time}): nothing new was logged",
            r.index
        );
    }
    if target.json {
        let mut v = r.answer.clone();
        if let Some(o) = v.as_object_mut() {
            o.insert("ok".into(), true.into());
            o.insert("id".into(), id.into());
            o.insert("kind".into(), kind.into());
            o.insert("log_time".into(), time.into());
            o.insert("already_logged".into(), r.already_logged.into());
        }
        out!("{v}");
        return;
    }
    out!("logged {kind} {id} at index {}, log time {time}", r.index);
    out!("leaf hash: {}", hex::encode(r.leaf_hash));
    out!(
        "receipt verified: leaf {} is in checkpoint {} size {}, signed by {}{}",
        r.index,
        r.checkpoint.origin,
        r.checkpoint.size,
        r.log_key.signer_id(),
        if r.log_key_from_server {
            " (the key the server publishes; pin it with --vkey)"
        } else {
            ""
        }
    );
    out!("{}", r.proof.trim_end());
}

/// Reports a failure on stderr (with each field the server named), and on stdout with `--json`.
pub fn fail(target: &Target, what: &str, f: &Failure) -> ExitCode {
    eprintln!("truce: {what}: {}", f.message);
    for (pointer, detail) in client::problem_errors(f.problem.as_ref()) {
        eprintln!(
            "  {}: {detail}",
            if pointer.is_empty() { "/" } else { &pointer }
        );
    }
    if target.json {
        let mut v = serde_json::json!({"ok": false, "exit": f.code, "error": f.message});
        if let Some(o) = v.as_object_mut() {
            if let Some(s) = f.status {
                o.insert("status".into(), s.into());
            }
            if let Some(p) = &f.problem {
                o.insert("problem".into(), p.clone());
            }
        }
        out!("{v}");
    }
    ExitCode::from(f.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_are_crockford_base32_of_time_and_randomness() {
        // The ULID specification's example timestamp.
        assert_eq!(
            ulid(1_469_918_176_385, [0; 10]),
            "01ARYZ6S410000000000000000"
        );
        assert_eq!(
            ulid((1 << 48) - 1, [0xff; 10]),
            "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
        );
        let a = new_ulid().unwrap();
        let b = new_ulid().unwrap();
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
        check_id(&a).unwrap();
    }

    #[test]
    fn kinds_from_file_names() {
        let k = |s: &str| kind_from_file_name(Path::new(s));
        assert_eq!(k("dir/obs-17.observation.json"), Some(Kind::Observation));
        assert_eq!(k("patrol.key.json"), Some(Kind::Key));
        assert_eq!(k("observation.json"), None);
        assert_eq!(k("x.observations.json"), None);
        assert_eq!(k("x.observation.txt"), None);
        assert_eq!(k("-"), None);
    }

    #[test]
    fn payload_ids_are_checked_or_generated() {
        let (id, bytes) = payload_with_id("f", br#"{"id":"a-1", "x": 1}"#.to_vec()).unwrap();
        assert_eq!(
            (id.as_str(), bytes.as_slice()),
            ("a-1", &br#"{"id":"a-1", "x": 1}"#[..])
        );
        let (id, bytes) = payload_with_id("f", br#"{"x":1}"#.to_vec()).unwrap();
        assert_eq!(id.len(), 26);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v, serde_json::json!({"id": id, "x": 1}));
        for (bad, needle) in [
            (&b"[1]"[..], "a JSON object, not an array"),
            (b"{\"id\":7}", "/id: must be a string, not a number"),
            (b"{\"id\":\"a b\"}", "/id: ' ' is not allowed"),
            (b"{\"id\":\"a\",\"id\":\"b\"}", "appears twice"),
            (b"{", "not JSON"),
        ] {
            let f = payload_with_id("f", bad.to_vec()).unwrap_err();
            assert_eq!(f.code, 1);
            assert!(f.message.contains(needle), "{}", f.message);
        }
    }
}
