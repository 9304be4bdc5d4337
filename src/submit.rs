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
//! The `key accredit` / `key revoke` commands build their payload and go through
//! [`submit_entry`] as well.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use reqwest::Url;
use reqwest::blocking::{Client, Response};
use truce_log::checkpoint::Checkpoint;
use truce_log::leaf::{Leaf, leaf_hash};
use truce_log::proof::TlogProof;
use truce_log::tile::{self, TILE_WIDTH, TileLevel};
use truce_model::dsse::{Envelope, MAX_ENVELOPE_BYTES, check_id};
use truce_model::entry::Kind;
use truce_model::json::{StrictJsonError, parse_strict};
use truce_model::keys::{PrivateKey, VerifierKey};

/// Where entries go unless `--server` or `TRUCE_SERVER` says otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// The largest payload file read. Anything near it is refused anyway (a leaf holds 64 KiB).
const MAX_PAYLOAD_FILE: u64 = 1 << 20;
/// The largest key file read.
const MAX_KEY_FILE: u64 = 4096;
/// The largest JSON answer read (a receipt, a problem, the vkeys, a logged entry).
pub(crate) const MAX_JSON_ANSWER: u64 = 256 * 1024;

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

/// Where and how to submit: shared by `truce submit` and `truce key accredit|revoke`.
pub struct Target {
    /// The server URL as given.
    pub server: String,
    /// The log key to verify receipts with, if given.
    pub log_vkey: Option<String>,
    /// JSON output.
    pub json: bool,
}

/// Why a submission failed, and its exit status.
#[derive(Debug)]
pub struct Failure {
    /// 1: refused, or the receipt does not verify; 2: could not submit.
    pub code: u8,
    /// What went wrong (one line).
    pub message: String,
    /// The HTTP status of a refusal.
    pub status: Option<u16>,
    /// The server's problem document of a refusal.
    pub problem: Option<serde_json::Value>,
}

impl Failure {
    /// Exit 2: usage, files, network, an unavailable or strange server.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
            status: None,
            problem: None,
        }
    }

    /// Exit 1: the entry is refused, or the receipt is wrong.
    pub fn refused(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            ..Failure::usage(message)
        }
    }
}

/// A verified receipt.
pub struct Receipt {
    /// The server's answer, as it sent it.
    pub answer: serde_json::Value,
    pub index: u64,
    pub leaf_hash: [u8; 32],
    /// The tlog-proof text.
    pub proof: String,
    /// The checkpoint the proof verified against.
    pub checkpoint: Checkpoint,
    /// The log key it verified with, and whether it came from the server itself.
    pub log_key: VerifierKey,
    pub log_key_from_server: bool,
    /// The leaf's log time, ms since the epoch.
    pub time_ms: i64,
    /// The same envelope was already in the log before this run.
    pub already_logged: bool,
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
    match submit_entry(&target, &envelope, &id) {
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

pub(crate) fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
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
    let h = leaf_hash(&throwaway.verifier().public_key());
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

/// Posts `envelope` (whose payload id is `id`) and verifies the receipt.
pub fn submit_entry(target: &Target, envelope: &Envelope, id: &str) -> Result<Receipt, Failure> {
    let base = base_url(&target.server)?;
    // Checked before anything is sent: a bad --vkey should not leave an entry behind.
    let pinned = match &target.log_vkey {
        Some(v) => Some(
            VerifierKey::parse(v.trim())
                .map_err(|e| Failure::usage(format!("--vkey {}: {e}", v.trim())))?,
        ),
        None => None,
    };
    let client = Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("truce/", env!("CARGO_PKG_VERSION"), " (submit)"))
        .build()
        .map_err(|e| Failure::usage(format!("HTTP client: {e}")))?;
    let canonical = envelope.canonical_json();

    let already_logged = is_logged(&client, &base, id, &canonical);
    let url = join(&base, "v1/entries")?;
    let resp = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(canonical.clone())
        .send()
        .map_err(|e| Failure::usage(format!("POST {url}: {}", error_chain(&e.without_url()))))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(refusal(&url, resp));
    }
    let answer = read_json(resp, &url)
        .map_err(|why| Failure::refused(format!("POST {url}: the receipt is not JSON: {why}")))?;
    let accepted = match answer["index"].as_u64() {
        Some(i) => format!("the server logged the entry at index {i}, but "),
        None => String::new(),
    };
    let (log_key, origin, from_server) = match pinned {
        Some(k) => {
            // A truce log's key is named after its origin (`truce init`).
            let origin = k.name().to_string();
            (k, origin, false)
        }
        None => {
            let (origin, k) = fetch_log_key(&client, &base)
                .map_err(|why| Failure::usage(format!("{accepted}{why}")))?;
            (k, origin, true)
        }
    };
    let v = verify_receipt(&answer, &log_key, &origin)
        .map_err(|why| Failure::refused(format!("{accepted}its receipt does not verify: {why}")))?;
    let time_ms = check_leaf(&client, &base, &v, &canonical).map_err(|e| match e {
        LeafCheck::Fetch(why) => Failure::usage(format!(
            "{accepted}the logged leaf could not be read to check it: {why}"
        )),
        LeafCheck::Wrong(why) => {
            Failure::refused(format!("{accepted}its receipt does not verify: {why}"))
        }
    })?;
    Ok(Receipt {
        answer,
        index: v.index,
        leaf_hash: v.leaf_hash,
        proof: v.proof_text,
        checkpoint: v.checkpoint,
        log_key,
        log_key_from_server: from_server,
        time_ms,
        already_logged,
    })
}

/// Whether the server already holds this very envelope under `id` (best effort: any failure
/// says no, and the POST decides).
fn is_logged(client: &Client, base: &Url, id: &str, canonical: &[u8]) -> bool {
    let Ok(url) = join(base, &format!("v1/entries/{id}")) else {
        return false;
    };
    let Ok(resp) = client.get(url.clone()).send() else {
        return false;
    };
    if !resp.status().is_success() {
        return false;
    }
    let (Ok(found), Ok(ours)) = (
        read_json(resp, &url),
        serde_json::from_slice::<serde_json::Value>(canonical),
    ) else {
        return false;
    };
    found["envelope"] == ours
}

/// A non-2xx answer: a refusal (exit 1) for the statuses of the entries contract, else exit 2.
fn refusal(url: &Url, resp: Response) -> Failure {
    let status = resp.status();
    let code = status.as_u16();
    let mut body = Vec::new();
    let _ = resp.take(MAX_JSON_ANSWER).read_to_end(&mut body);
    let problem: Option<serde_json::Value> = serde_json::from_slice(&body)
        .ok()
        .filter(|v: &serde_json::Value| v.is_object());
    let detail = match &problem {
        Some(p) => p["detail"].as_str().map(clean).unwrap_or_default(),
        None => clean(&String::from_utf8_lossy(&body[..body.len().min(512)])),
    };
    let is_refusal = matches!(code, 400 | 401 | 403 | 409 | 413 | 422) && problem.is_some();
    let mut message = if is_refusal {
        format!("refused (HTTP {status})")
    } else {
        format!("POST {url}: HTTP {status}")
    };
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(&detail);
    }
    if matches!(code, 404 | 405) {
        message.push_str(" (is --server a truce server?)");
    }
    Failure {
        code: if is_refusal { 1 } else { 2 },
        message,
        status: Some(code),
        problem,
    }
}

/// What the receipt says, once verified.
pub(crate) struct Verified {
    pub(crate) index: u64,
    pub(crate) leaf_hash: [u8; 32],
    proof_text: String,
    pub(crate) checkpoint: Checkpoint,
}

/// Checks the server's `{index, leaf_hash, proof}`: the proof verifies for `leaf_hash` in a
/// checkpoint signed by `log_key`, at the index the server states.
pub(crate) fn verify_receipt(
    answer: &serde_json::Value,
    log_key: &VerifierKey,
    origin: &str,
) -> Result<Verified, String> {
    let index = answer["index"]
        .as_u64()
        .ok_or("\"index\" is not a non-negative integer")?;
    let leaf_hash = answer["leaf_hash"]
        .as_str()
        .and_then(parse_hex32)
        .ok_or("\"leaf_hash\" is not 64 hex digits")?;
    let proof_text = answer["proof"]
        .as_str()
        .ok_or("\"proof\" is not a string")?
        .to_string();
    let proof = TlogProof::parse(proof_text.as_bytes()).map_err(|e| format!("proof: {e}"))?;
    if proof.index() != index {
        return Err(format!(
            "the proof is for index {}, the receipt says {index}",
            proof.index()
        ));
    }
    let checkpoint = proof
        .verify(&leaf_hash, log_key, origin)
        .map_err(|e| format!("leaf hash {} at index {index}: {e}", hex(&leaf_hash)))?;
    Ok(Verified {
        index,
        leaf_hash,
        proof_text,
        checkpoint,
    })
}

enum LeafCheck {
    /// The leaf could not be read (exit 2).
    Fetch(String),
    /// The leaf is not what the receipt claims (exit 1).
    Wrong(String),
}

/// Reads leaf `index` from the entry bundle of the verified checkpoint's tree and checks that it
/// hashes to the receipt's leaf hash and holds `canonical`; returns its log time.
fn check_leaf(
    client: &Client,
    base: &Url,
    v: &Verified,
    canonical: &[u8],
) -> Result<i64, LeafCheck> {
    let width = u64::from(TILE_WIDTH);
    let tile = tile::tile_for(TileLevel::Entries, v.index / width, v.checkpoint.size)
        .ok_or_else(|| LeafCheck::Wrong(format!("no entry bundle holds index {}", v.index)))?;
    let path = tile.path();
    let url = join(base, &format!("log/{path}")).map_err(|f| LeafCheck::Fetch(f.message))?;
    let resp = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT_ENCODING, "identity")
        .send()
        .map_err(|e| LeafCheck::Fetch(format!("GET {url}: {}", error_chain(&e.without_url()))))?;
    if !resp.status().is_success() {
        return Err(LeafCheck::Fetch(format!(
            "GET {url}: HTTP {}",
            resp.status()
        )));
    }
    let max = truce_log::audit::max_response_bytes(&path) as u64;
    let mut bytes = Vec::new();
    resp.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| LeafCheck::Fetch(format!("GET {url}: {e}")))?;
    let entries = tile::decode_tile_bundle(&tile, &bytes)
        .map_err(|e| LeafCheck::Wrong(format!("{path}: {e}")))?;
    let at = usize::try_from(v.index % width).unwrap_or(usize::MAX);
    let leaf = entries
        .get(at)
        .ok_or_else(|| LeafCheck::Wrong(format!("{path} has no entry {at}")))?;
    if leaf_hash(leaf) != v.leaf_hash {
        return Err(LeafCheck::Wrong(format!(
            "leaf {} of the log hashes to {}, not to the receipt's {}",
            v.index,
            hex(&leaf_hash(leaf)),
            hex(&v.leaf_hash)
        )));
    }
    let decoded =
        Leaf::decode(leaf).map_err(|e| LeafCheck::Wrong(format!("leaf {}: {e}", v.index)))?;
    if decoded.envelope.canonical_json() != canonical {
        return Err(LeafCheck::Wrong(format!(
            "leaf {} of the log is another entry than the one submitted",
            v.index
        )));
    }
    Ok(decoded.time_ms)
}

/// `GET /v1/log/vkeys`: the log's origin and key.
fn fetch_log_key(client: &Client, base: &Url) -> Result<(String, VerifierKey), String> {
    let url = join(base, "v1/log/vkeys").map_err(|f| f.message)?;
    let resp = client
        .get(url.clone())
        .send()
        .map_err(|e| format!("GET {url}: {}", error_chain(&e.without_url())))?;
    if !resp.status().is_success() {
        return Err(format!(
            "GET {url}: HTTP {} (pass --vkey with the log's key)",
            resp.status()
        ));
    }
    let v = read_json(resp, &url).map_err(|e| format!("GET {url}: {e}"))?;
    let (Some(origin), Some(log)) = (v["origin"].as_str(), v["log"].as_str()) else {
        return Err(format!("GET {url}: no \"origin\" and \"log\" strings"));
    };
    let key = VerifierKey::parse(log).map_err(|e| format!("GET {url}: log key: {e}"))?;
    Ok((origin.to_string(), key))
}

fn read_json(resp: Response, url: &Url) -> Result<serde_json::Value, String> {
    let body = read_limited(resp).map_err(|e| format!("reading {url}: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

/// The body of an answer that should be small (JSON from the server), refused beyond
/// [`MAX_JSON_ANSWER`] bytes.
pub(crate) fn read_limited(resp: Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    resp.take(MAX_JSON_ANSWER + 1)
        .read_to_end(&mut body)
        .map_err(|e| e.to_string())?;
    if body.len() as u64 > MAX_JSON_ANSWER {
        return Err(format!("the answer is larger than {MAX_JSON_ANSWER} bytes"));
    }
    Ok(body)
}

pub(crate) fn base_url(server: &str) -> Result<Url, Failure> {
    let mut url = Url::parse(server.trim())
        .map_err(|e| Failure::usage(format!("--server {server}: not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Failure::usage(format!(
            "--server {server}: only http and https URLs are supported"
        )));
    }
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

pub(crate) fn join(base: &Url, path: &str) -> Result<Url, Failure> {
    base.join(path)
        .map_err(|e| Failure::usage(format!("{base}{path}: {e}")))
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
    out!("leaf hash: {}", hex(&r.leaf_hash));
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
    let errors = f
        .problem
        .as_ref()
        .and_then(|p| p["errors"].as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    for e in errors {
        let pointer = e["pointer"].as_str().map(clean).unwrap_or_default();
        let detail = e["detail"].as_str().map(clean).unwrap_or_default();
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

/// The server's words end up on a terminal: no control characters.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// An error with its sources, each said once (reqwest's own text often repeats its source's).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
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

    #[test]
    fn hex_round_trip_and_urls() {
        let h = [0xab; 32];
        assert_eq!(parse_hex32(&hex(&h)), Some(h));
        assert_eq!(parse_hex32("zz"), None);
        assert_eq!(parse_hex32(&"é".repeat(32)), None);
        assert_eq!(
            base_url("http://h:1/a")
                .unwrap()
                .join("v1/entries")
                .unwrap()
                .as_str(),
            "http://h:1/a/v1/entries"
        );
        assert_eq!(base_url("ftp://h").unwrap_err().code, 2);
    }
}
