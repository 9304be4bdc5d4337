//! `truce log verify URL`: audits a tiled log from the outside (DESIGN §8), the way a party's
//! delegation or a journalist would, trusting nothing the server says that is not signed.
//!
//! The work is done by [`truce_log::audit`]; this module adds what a command line needs:
//!
//! - **Where the log is.** `URL` is a truce server (`http://host:port`, the log under `/log/`)
//!   or the prefix of any C2SP tlog-tiles log. A URL ending in `/log` is a truce log prefix;
//!   otherwise `URL/log/checkpoint` is tried first, then `URL/checkpoint`.
//! - **Which key.** `--vkey`, else the key pinned in the state file, else — on first use only,
//!   and said so on stderr — the log key the server publishes at `/v1/log/vkeys`. From then on
//!   the state file pins it: a server that later presents another key fails the audit.
//! - **Memory of what was seen.** The state file (default
//!   `$XDG_STATE_HOME/truce/<origin>.json`, i.e. `~/.local/state/truce/…`, or
//!   `./truce-log-state.json` without a home) keeps the last verified checkpoint. It is written
//!   only after a successful audit, atomically (temporary file, fsync, rename, fsync of the
//!   directory), so a crash or a failed audit never leaves a half-written or unverified state.
//! - **Exit status.** 0: the log checks out (one summary line, or the report with `--json`);
//!   1: the log served something wrong (the precise error; with `--json` also on stdout, with
//!   the two signed checkpoints when they contradict each other); 2: the audit could not be done
//!   (usage, network, state file).
//!
//! HTTP goes through the CLI's client ([`crate::client::get_log_resource`]): responses are read
//! up to the size a correct log can serve ([`truce_log::audit::max_response_bytes`]) and
//! compressed responses are refused rather than hashed as they are.

use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Url;
use reqwest::blocking::Client;
use truce_log::audit::{
    self, AuditConfig, AuditError, AuditReport, AuditState, CHECKPOINT_PATH, Fetch,
    max_response_bytes,
};
use truce_log::cosignature::CosignatureVerifier;
use truce_log::durable;
use truce_model::keys::VerifierKey;

use crate::client::{self, LogKey, get_log_resource};

/// Logs with more entries than this show a progress bar.
const PROGRESS_THRESHOLD: u64 = 4096;

/// The largest state file read.
const MAX_STATE_BYTES: u64 = 1 << 20;

/// `truce log …`
#[derive(Subcommand)]
pub enum LogCommand {
    /// Audit a log: verify its checkpoint, recompute the whole tree from every entry bundle,
    /// check every tile, and check consistency with the checkpoint seen last time.
    Verify(VerifyArgs),
}

/// `truce log verify` arguments.
#[derive(Args)]
pub struct VerifyArgs {
    /// The truce server (`http://host:port`) or the prefix of a C2SP tlog-tiles log.
    url: String,
    /// The log's verifier key; without it, the key pinned in the state file, or on first use
    /// the key the server publishes.
    #[arg(long)]
    vkey: Option<String>,
    /// The state file (default: `~/.local/state/truce/<origin>.json`).
    #[arg(long)]
    state: Option<PathBuf>,
    /// A witness key whose cosignature counts (repeatable).
    #[arg(long = "witness", value_name = "VKEY")]
    witnesses: Vec<String>,
    /// How many of the `--witness` keys must have cosigned (default: 1 if any is given).
    #[arg(long, value_name = "N")]
    min_witnesses: Option<usize>,
    /// Any C2SP tlog-tiles log: do not require entries to be truce leaves.
    #[arg(long)]
    generic: bool,
    /// Entry bundles fetched in parallel.
    #[arg(long, default_value_t = audit::DEFAULT_CONCURRENCY, value_name = "N")]
    jobs: usize,
    /// Print the report (or the failure) as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs a `truce log` subcommand and returns its exit status.
pub fn run(cmd: LogCommand) -> ExitCode {
    match cmd {
        LogCommand::Verify(args) => verify(&args),
    }
}

/// A failure to audit: not evidence about the log (exit 2).
#[derive(Debug)]
struct Usage(String);

impl<T: std::fmt::Display> From<T> for Usage {
    fn from(e: T) -> Usage {
        Usage(e.to_string())
    }
}

fn verify(args: &VerifyArgs) -> ExitCode {
    let prepared = match prepare(args) {
        Ok(p) => p,
        Err(Usage(why)) => return fail_usage(args.json, &why),
    };
    let Prepared {
        log,
        config,
        previous,
        state_path,
        tofu,
    } = prepared;

    let mut bar: Option<ProgressBar> = None;
    let mut progress = |done: u64, total: u64| {
        if total <= PROGRESS_THRESHOLD {
            return;
        }
        let bar = bar.get_or_insert_with(|| {
            let b = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:40}] {human_pos}/{human_len} entries, {eta} left",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_message("verifying");
            b
        });
        bar.set_position(done);
    };
    let result = audit::audit(&log, &config, previous.as_ref(), &mut progress);
    if let Some(b) = bar {
        b.finish_and_clear();
    }

    match result {
        Ok(report) => {
            if let Err(e) = save_state(&state_path, &report.state) {
                return fail_usage(
                    args.json,
                    &format!(
                        "the log checks out, but the state file {} could not be written: {e}",
                        state_path.display()
                    ),
                );
            }
            if let Some(key) = tofu {
                eprintln!(
                    "truce: log key {key} pinned in {} (trusted on first use)",
                    state_path.display()
                );
            }
            print_report(&report, args.json);
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = if e.is_log_fault() { 1 } else { 2 };
            eprintln!("truce: log verify {}: {e}", args.url);
            if args.json {
                println!("{}", failure_json(&e, code));
            }
            ExitCode::from(code)
        }
    }
}

fn fail_usage(json: bool, why: &str) -> ExitCode {
    eprintln!("truce: log verify: {why}");
    if json {
        println!(
            "{}",
            serde_json::json!({"ok": false, "exit": 2, "error": why})
        );
    }
    ExitCode::from(2)
}

fn print_report(report: &AuditReport, json: bool) {
    if json {
        let mut v = serde_json::to_value(report).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("ok".into(), true.into());
        }
        println!("{v}");
    } else {
        println!("{}", report.summary());
    }
}

fn failure_json(e: &AuditError, code: u8) -> serde_json::Value {
    let mut v = serde_json::json!({"ok": false, "exit": code, "error": e.to_string()});
    // Two signed checkpoints that contradict each other are the proof of a fork: keep them.
    let evidence = e.evidence().and_then(|ev| serde_json::to_value(ev).ok());
    if let (Some(o), Some(ev)) = (v.as_object_mut(), evidence) {
        o.insert("evidence".into(), ev);
    }
    v
}

/// Everything [`audit::audit`] needs, resolved from the arguments, the state file and the
/// server.
struct Prepared {
    log: HttpLog,
    config: AuditConfig,
    previous: Option<AuditState>,
    state_path: PathBuf,
    /// The key, if it was trusted on first use in this run.
    tofu: Option<String>,
}

fn prepare(args: &VerifyArgs) -> Result<Prepared, Usage> {
    let url = Url::parse(&args.url).map_err(|e| format!("{}: not a URL: {e}", args.url))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Usage(format!(
            "{url}: only http and https URLs are supported"
        )));
    }
    let client = client::http_client("log verify", None)?;
    let (prefix, base, checkpoint) = locate(&client, &url)?;
    // Only to find the state file: the audit verifies the checkpoint before believing it.
    let claimed_origin = checkpoint
        .split(|&b| b == b'\n')
        .next()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .unwrap_or_default();

    let state_path = match &args.state {
        Some(p) => p.clone(),
        None => default_state_path(&claimed_origin),
    };
    let previous = load_state(&state_path)?;
    let trusted = trusted_key(
        args,
        previous.as_ref(),
        &state_path,
        &client,
        &prefix,
        base.as_ref(),
    )?;
    let (witnesses, min_witnesses) = witnesses(args)?;
    if args.jobs == 0 {
        return Err(Usage("--jobs must be at least 1".into()));
    }

    let config = AuditConfig {
        log_key: trusted.key,
        origin: trusted.origin,
        witnesses,
        min_witnesses,
        truce_leaves: !args.generic,
        concurrency: args.jobs,
    };
    Ok(Prepared {
        log: HttpLog {
            client,
            prefix,
            checkpoint: Mutex::new(Some(checkpoint)),
        },
        config,
        previous,
        state_path,
        tofu: trusted.tofu,
    })
}

/// The log key the audit trusts, and the origin it expects.
struct Trusted {
    key: VerifierKey,
    /// The origin already known (from the state file, or the server's keys on first use).
    origin: Option<String>,
    /// The key, if it was trusted on first use in this run.
    tofu: Option<String>,
}

/// `--vkey` (which must agree with the state file), else the key the state file pins, else — on
/// first use only, and said so — the key a truce server publishes.
fn trusted_key(
    args: &VerifyArgs,
    previous: Option<&AuditState>,
    state_path: &Path,
    client: &Client,
    prefix: &Url,
    base: Option<&Url>,
) -> Result<Trusted, Usage> {
    let key = match (&args.vkey, previous) {
        (Some(v), prev) => {
            let key = client::parse_vkey("--vkey", v)?;
            if let Some(s) = prev
                && s.vkey != key.to_string()
            {
                return Err(Usage(format!(
                    "{} pins the log key {}, not {key}: a log never changes its key; use another --state to audit a different log",
                    state_path.display(),
                    s.vkey
                )));
            }
            key
        }
        (None, Some(s)) => VerifierKey::parse(&s.vkey)
            .map_err(|e| format!("{}: vkey: {e}", state_path.display()))?,
        (None, None) => {
            let Some(base) = base else {
                return Err(Usage(format!(
                    "no --vkey given, no state in {}, and {prefix} is not a truce server publishing its keys: pass --vkey",
                    state_path.display()
                )));
            };
            let (vkeys_url, published) = LogKey::published(client, base)?;
            let key = published.key;
            eprintln!(
                "truce: no --vkey and no saved state: trusting the log key {key} published at {vkeys_url} on first use; pass --vkey to pin a key obtained another way"
            );
            return Ok(Trusted {
                tofu: Some(key.to_string()),
                origin: Some(published.origin),
                key,
            });
        }
    };
    Ok(Trusted {
        key,
        origin: previous.map(|s| s.origin.clone()),
        tofu: None,
    })
}

/// The `--witness` keys and how many of them must have cosigned.
fn witnesses(args: &VerifyArgs) -> Result<(Vec<CosignatureVerifier>, usize), Usage> {
    let mut witnesses = Vec::new();
    for w in &args.witnesses {
        witnesses.push(parse_witness(w).map_err(|e| format!("--witness {w}: {e}"))?);
    }
    let min_witnesses = args
        .min_witnesses
        .unwrap_or(usize::from(!witnesses.is_empty()));
    if min_witnesses > witnesses.len() {
        return Err(Usage(format!(
            "--min-witnesses {min_witnesses} but only {} --witness key(s) given",
            witnesses.len()
        )));
    }
    Ok((witnesses, min_witnesses))
}

/// A witness key: a cosignature vkey (type 0x04), or a signed-note Ed25519 vkey of the same
/// key (converted as Go's `VKeyToCosignatureV1` does).
fn parse_witness(s: &str) -> Result<CosignatureVerifier, String> {
    let s = s.trim();
    CosignatureVerifier::parse(s).or_else(|e| {
        VerifierKey::parse(s)
            .ok()
            .and_then(|v| CosignatureVerifier::from_ed25519_verifier(&v).ok())
            .ok_or_else(|| e.to_string())
    })
}

/// Finds the log: its tlog-tiles prefix, the truce server's base URL if there is one, and the
/// checkpoint it serves now.
fn locate(client: &Client, url: &Url) -> Result<(Url, Option<Url>, Vec<u8>), Usage> {
    let dir = client::with_slash(url);
    let candidates: Vec<(Url, Option<Url>)> = if dir.path().ends_with("/log/") {
        vec![(dir.clone(), dir.join("..").ok())]
    } else {
        vec![(dir.join("log/")?, Some(dir.clone())), (dir.clone(), None)]
    };
    for (prefix, base) in candidates {
        let at = prefix.join(CHECKPOINT_PATH)?;
        if let Some(bytes) = get_log_resource(client, &at, max_response_bytes(CHECKPOINT_PATH))
            .map_err(|f| f.message)?
        {
            return Ok((prefix, base, bytes));
        }
    }
    Err(Usage(format!(
        "{url}: no log checkpoint found (neither {url}/log/checkpoint nor {url}/checkpoint exists)"
    )))
}

/// The log over HTTP; the checkpoint fetched while locating the log is served once, so the
/// state file chosen by its origin and the audited checkpoint are the same.
struct HttpLog {
    client: Client,
    prefix: Url,
    checkpoint: Mutex<Option<Vec<u8>>>,
}

impl Fetch for HttpLog {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        if path == CHECKPOINT_PATH
            && let Some(bytes) = self.checkpoint.lock().ok().and_then(|mut c| c.take())
        {
            return Ok(Some(bytes));
        }
        let url = self.prefix.join(path).map_err(|e| format!("{path}: {e}"))?;
        get_log_resource(&self.client, &url, max_response_bytes(path)).map_err(|f| f.message)
    }
}

/// `$XDG_STATE_HOME/truce/<origin>.json`, `$HOME/.local/state/truce/<origin>.json`, or
/// `./truce-log-state.json` without a home.
fn default_state_path(origin: &str) -> PathBuf {
    let dir = match std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(h) => PathBuf::from(h).join(".local/state"),
            None => return PathBuf::from("truce-log-state.json"),
        },
    };
    dir.join("truce")
        .join(format!("{}.json", file_stem(origin)))
}

/// The origin as a file name: `/` and anything else unusual replaced by `_`.
fn file_stem(origin: &str) -> String {
    let stem: String = origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match stem.trim_start_matches('.') {
        "" => "log".to_string(),
        s => s.to_string(),
    }
}

fn load_state(path: &Path) -> Result<Option<AuditState>, Usage> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Usage(format!("{}: {e}", path.display()))),
    };
    let mut text = String::new();
    file.take(MAX_STATE_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let state = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a truce log state file: {e}", path.display()))?;
    Ok(Some(state))
}

/// Writes the state atomically and durably ([`durable::replace`]): readers (and a crash) see the
/// old state or the new one, never a mix. The state's directory is created on first use.
fn save_state(path: &Path, state: &AuditState) -> std::io::Result<()> {
    let mut json = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    json.push(b'\n');
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    durable::replace(path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn state_file_names() {
        assert_eq!(file_stem("truce.test/log"), "truce.test_log");
        assert_eq!(file_stem("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(file_stem(".."), "log");
        assert_eq!(file_stem("a b+c:d"), "a_b_c_d");
    }

    #[test]
    fn state_is_saved_atomically_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/state.json");
        let state = AuditState {
            origin: "o".into(),
            vkey: "k".into(),
            size: 3,
            root: "r".into(),
            checkpoint: "c".into(),
        };
        save_state(&path, &state).unwrap();
        assert_eq!(load_state(&path).unwrap(), Some(state.clone()));
        let again = AuditState { size: 4, ..state };
        save_state(&path, &again).unwrap();
        assert_eq!(load_state(&path).unwrap(), Some(again));
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"], "no temporary file left behind");
        assert_eq!(load_state(&dir.path().join("none.json")).unwrap(), None);
        fs::write(dir.path().join("bad.json"), "{").unwrap();
        assert!(load_state(&dir.path().join("bad.json")).is_err());
    }
}
