//! `truce key accredit` and `truce key revoke`: the operator's `key` entries (DESIGN §3), built
//! from flags, checked locally with the server's own payload rules, signed with the operator
//! key and submitted like `truce submit` (same receipt verification, output and exit status).
//!
//! Default ids are derived from the content (`accredit-<16 hex>`, `revoke-<16 hex>` of SHA-256
//! over the payload without its id), so running the same command twice logs one entry and
//! answers with the same index. The flip side: going back to settings that were logged before
//! (roles A, then B, then A again) finds the first entry and changes nothing; the command says
//! so, and `--id` gives the entry a new identity.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{Map, Value};
use truce_model::dsse::check_id;
use truce_model::entry::{Kind, Payload, Role};
use truce_model::keys::VerifierKey;

use crate::client::{self, DEFAULT_SERVER, Failure, Target};
use crate::submit;

/// Where to submit, shared by the key commands (`--vkey` is the key being managed here, so the
/// log's key is `--log-vkey`).
#[derive(Args)]
pub struct TargetArgs {
    /// The truce server.
    #[arg(long, env = "TRUCE_SERVER", default_value = DEFAULT_SERVER, value_name = "URL")]
    server: String,
    /// The log's verifier key to check the receipt with (default: the key the server
    /// publishes at /v1/log/vkeys).
    #[arg(long, value_name = "LOG_VKEY")]
    log_vkey: Option<String>,
    /// Print the receipt (or the failure) as JSON.
    #[arg(long)]
    json: bool,
}

impl TargetArgs {
    fn target(&self) -> Target {
        Target {
            server: self.server.clone(),
            log_vkey: self.log_vkey.clone(),
            json: self.json,
        }
    }
}

/// `truce key accredit` arguments.
#[derive(Args)]
#[command(after_help = submit::EXIT_STATUS_HELP)]
pub struct AccreditArgs {
    /// The operator's private key file, which signs the entry.
    #[arg(long, value_name = "FILE")]
    operator_key: PathBuf,
    /// The verifier key to accredit (`name+keyid+base64`, as `truce key generate` prints it).
    #[arg(long, value_name = "VKEY")]
    vkey: String,
    /// Its roles, comma-separated: monitor, sensor, verifier, party, guarantor, operator.
    #[arg(long, value_delimiter = ',', required = true, value_name = "ROLES")]
    roles: Vec<String>,
    /// The organisation it belongs to, or the party id of a party's key.
    #[arg(long, value_name = "ORG")]
    affiliation: String,
    /// Admiralty source-reliability grade, A (completely reliable) to F (cannot be judged).
    #[arg(long, default_value = "F", value_name = "A-F")]
    reliability: String,
    /// When the accreditation ends (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    valid_until: Option<String>,
    /// The entry's id (default: derived from the content, so re-running is idempotent).
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    target: TargetArgs,
}

/// `truce key revoke` arguments.
#[derive(Args)]
#[command(after_help = submit::EXIT_STATUS_HELP)]
pub struct RevokeArgs {
    /// The operator's private key file, which signs the entry.
    #[arg(long, value_name = "FILE")]
    operator_key: PathBuf,
    /// The verifier key to revoke. Revocation is permanent.
    #[arg(long, value_name = "VKEY")]
    vkey: String,
    /// The entry's id (default: derived from the key, so re-running is idempotent).
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    target: TargetArgs,
}

/// Runs `truce key accredit`.
pub fn accredit(args: AccreditArgs) -> ExitCode {
    let target = args.target.target();
    let built = accredit_payload(&args).and_then(|p| send(&target, &args.operator_key, p));
    finish(&target, "key accredit", built, true)
}

/// Runs `truce key revoke`.
pub fn revoke(args: RevokeArgs) -> ExitCode {
    let target = args.target.target();
    let built = revoke_payload(&args).and_then(|p| send(&target, &args.operator_key, p));
    finish(&target, "key revoke", built, false)
}

/// A checked `key` payload and its id.
struct KeyEntry {
    id: String,
    payload: Vec<u8>,
}

fn accredit_payload(args: &AccreditArgs) -> Result<KeyEntry, Failure> {
    let vkey = parse_vkey(&args.vkey)?;
    let mut obj = Map::new();
    obj.insert("vkey".into(), vkey.to_string().into());
    obj.insert("roles".into(), normalise_roles(&args.roles).into());
    obj.insert("affiliation".into(), args.affiliation.clone().into());
    obj.insert(
        "reliability".into(),
        args.reliability.trim().to_ascii_uppercase().into(),
    );
    if let Some(t) = &args.valid_until {
        obj.insert("valid_until".into(), t.trim().into());
    }
    build(obj, args.id.as_deref(), "accredit")
}

fn revoke_payload(args: &RevokeArgs) -> Result<KeyEntry, Failure> {
    let vkey = parse_vkey(&args.vkey)?;
    let mut obj = Map::new();
    obj.insert("vkey".into(), vkey.to_string().into());
    obj.insert("revoke".into(), true.into());
    build(obj, args.id.as_deref(), "revoke")
}

fn parse_vkey(s: &str) -> Result<VerifierKey, Failure> {
    client::parse_vkey("--vkey", s).map_err(Failure::usage)
}

/// Roles trimmed and in the canonical order (so `sensor,monitor` and `monitor,sensor` are the
/// same entry); names that are not roles stay, last, for the payload check to report.
fn normalise_roles(roles: &[String]) -> Vec<String> {
    let mut roles: Vec<String> = roles.iter().map(|r| r.trim().to_string()).collect();
    let rank = |r: &String| {
        Role::ALL
            .iter()
            .position(|x| x.as_str() == r)
            .unwrap_or(Role::ALL.len())
    };
    roles.sort_by_key(rank);
    roles
}

/// Adds the id (given, or derived from the content), checks the payload with the rules the
/// server applies, and encodes it.
fn build(mut obj: Map<String, Value>, id: Option<&str>, action: &str) -> Result<KeyEntry, Failure> {
    let id = match id {
        Some(id) => {
            check_id(id).map_err(|why| Failure::usage(format!("--id {id:?}: {why}")))?;
            id.to_string()
        }
        None => derived_id(action, &obj),
    };
    obj.insert("id".into(), id.clone().into());
    if let Err(errors) = Payload::parse(Kind::Key, &obj) {
        let problems: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", flag_for(&obj, &e.pointer), e.message))
            .collect();
        return Err(Failure::usage(problems.join("; ")));
    }
    let payload = serde_json::to_vec(&obj)
        .map_err(|e| Failure::usage(format!("encoding the payload: {e}")))?;
    Ok(KeyEntry { id, payload })
}

/// `<action>-` and the first 16 hex digits of SHA-256(0x00 || the payload without its id).
fn derived_id(action: &str, obj: &Map<String, Value>) -> String {
    // A map of strings, booleans and arrays of strings always encodes.
    let bytes = serde_json::to_vec(obj).unwrap_or_default();
    let h = truce_log::leaf::leaf_hash(&bytes);
    format!("{action}-{}", hex::encode(&h[..8]))
}

/// The flag a payload field came from (with the value, for one of several roles).
fn flag_for(obj: &Map<String, Value>, pointer: &str) -> String {
    let field = pointer
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    match field {
        "roles" => match Value::Object(obj.clone()).pointer(pointer) {
            Some(Value::String(role)) if pointer != "/roles" => format!("--roles {role:?}"),
            _ => "--roles".into(),
        },
        "vkey" | "affiliation" | "reliability" | "id" => format!("--{field}"),
        "valid_until" => "--valid-until".into(),
        "" => "payload".into(),
        other => format!("/{other}"),
    }
}

fn send(target: &Target, operator_key: &std::path::Path, entry: KeyEntry) -> Result<Sent, Failure> {
    let key = submit::read_private_key(operator_key, "--operator-key")?;
    let envelope = submit::sign(Kind::Key, &entry.payload, &key)?;
    let receipt = client::submit_entry(target, &envelope, &entry.id)?;
    Ok(Sent {
        id: entry.id,
        receipt,
    })
}

struct Sent {
    id: String,
    receipt: client::Receipt,
}

fn finish(target: &Target, what: &str, sent: Result<Sent, Failure>, accredit: bool) -> ExitCode {
    match sent {
        Ok(s) => {
            submit::print_receipt(target, "key", &s.id, &s.receipt);
            if s.receipt.already_logged && accredit {
                eprintln!(
                    "truce: if this key's accreditation was changed by a later entry, pass a new --id to apply these settings again"
                );
            }
            ExitCode::SUCCESS
        }
        Err(f) => submit::fail(target, what, &f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use truce_model::keys::PrivateKey;

    fn args(roles: &[&str], id: Option<&str>) -> AccreditArgs {
        AccreditArgs {
            operator_key: "op.key".into(),
            vkey: PrivateKey::from_seed("patrol", [3; 32])
                .unwrap()
                .verifier()
                .to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            affiliation: "OSCE".into(),
            reliability: "b".into(),
            valid_until: None,
            id: id.map(str::to_string),
            target: TargetArgs {
                server: DEFAULT_SERVER.into(),
                log_vkey: None,
                json: false,
            },
        }
    }

    #[test]
    fn default_ids_follow_the_content() {
        let a = accredit_payload(&args(&["monitor", "sensor"], None)).unwrap();
        let b = accredit_payload(&args(&["sensor", " monitor"], None)).unwrap();
        let c = accredit_payload(&args(&["monitor"], None)).unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(
            a.payload, b.payload,
            "same payload, same signature, one entry"
        );
        assert_ne!(a.id, c.id);
        assert!(
            a.id.starts_with("accredit-") && a.id.len() == 25,
            "{}",
            a.id
        );
        let v: Value = serde_json::from_slice(&a.payload).unwrap();
        assert_eq!(v["roles"], serde_json::json!(["monitor", "sensor"]));
        assert_eq!(v["reliability"], "B");
        assert_eq!(v["id"], a.id.as_str());
        let given = accredit_payload(&args(&["monitor"], Some("k-1"))).unwrap();
        assert_eq!(given.id, "k-1");
    }

    #[test]
    fn bad_flags_are_named() {
        let f = accredit_payload(&args(&["general", "monitor"], None))
            .err()
            .unwrap();
        assert_eq!(f.code, 2);
        assert!(
            f.message.starts_with("--roles \"general\": must be one of"),
            "{}",
            f.message
        );
        let mut a = args(&["monitor"], None);
        a.reliability = "Z".into();
        a.valid_until = Some("tomorrow".into());
        let f = accredit_payload(&a).err().unwrap();
        assert!(f.message.contains("--reliability: "), "{}", f.message);
        assert!(
            f.message.contains("--valid-until: not an RFC 3339 time"),
            "{}",
            f.message
        );
        a.vkey = "nope".into();
        let f = accredit_payload(&a).err().unwrap();
        assert!(
            f.message.starts_with("--vkey nope: malformed key"),
            "{}",
            f.message
        );
        let f = accredit_payload(&args(&["monitor"], Some("a b")))
            .err()
            .unwrap();
        assert!(f.message.starts_with("--id \"a b\""), "{}", f.message);
    }

    #[test]
    fn revoke_payloads() {
        let r = RevokeArgs {
            operator_key: "op.key".into(),
            vkey: PrivateKey::from_seed("patrol", [3; 32])
                .unwrap()
                .verifier()
                .to_string(),
            id: None,
            target: TargetArgs {
                server: DEFAULT_SERVER.into(),
                log_vkey: None,
                json: false,
            },
        };
        let e = revoke_payload(&r).unwrap();
        assert!(e.id.starts_with("revoke-"));
        let v: Value = serde_json::from_slice(&e.payload).unwrap();
        assert_eq!(v["revoke"], true);
        assert_eq!(revoke_payload(&r).unwrap().id, e.id);
    }
}
