//! Everything checked before the first row is read: the key, the file, the server, the log's key,
//! the agreement, the log's size.
//!
//! An import can run for hours; a mistake that would refuse every row (a wrong server, a key the
//! server does not know of the log, no agreement in force) should cost seconds, so each is found
//! here, before anything is sent, and the import does not start (exit 2).

use std::path::PathBuf;

use reqwest::Url;
use reqwest::blocking::Client;
use truce_model::dsse::check_id;
use truce_model::keys::{PrivateKey, VerifierKey};

use super::{Format, ImportArgs};
use crate::client::{self, Failure, LogKey, join, read_ok_json};
use crate::submit;

/// The checked arguments and what the server told us before the import.
pub(super) struct Setup {
    pub(super) format: Format,
    pub(super) file: PathBuf,
    pub(super) key: PrivateKey,
    pub(super) base: Url,
    pub(super) client: Client,
    pub(super) log_key: VerifierKey,
    pub(super) origin: String,
    pub(super) agreement: String,
    /// The log size when the import started: a receipt below it was logged before.
    pub(super) start_size: u64,
    pub(super) rejects_path: PathBuf,
    pub(super) concurrency: usize,
}

impl Setup {
    pub(super) fn prepare(args: &ImportArgs) -> Result<Setup, Failure> {
        let key = submit::read_private_key(&args.key, "--key")?;
        let base = client::base_url(&args.server)?;
        let meta = std::fs::metadata(&args.file)
            .map_err(|e| Failure::usage(format!("{}: {e}", args.file.display())))?;
        if !meta.is_file() {
            return Err(Failure::usage(format!(
                "{}: not a regular file",
                args.file.display()
            )));
        }
        let pinned = match &args.log_vkey {
            Some(v) => Some(client::parse_vkey("--vkey", v).map_err(Failure::usage)?),
            None => None,
        };
        if let Some(a) = &args.agreement {
            check_id(a).map_err(|why| Failure::usage(format!("--agreement {a:?}: {why}")))?;
        }
        let client = client::http_client("import", Some(usize::from(args.concurrency) + 4))
            .map_err(Failure::usage)?;
        let log_key = match pinned {
            Some(k) => LogKey::pinned(k),
            None => LogKey::published(&client, &base).map_err(Failure::usage)?.1,
        };
        let agreement = match &args.agreement {
            Some(id) => agreement_in_force(&client, &base, id)?,
            None => the_agreement_in_force(&client, &base)?,
        };
        let start_size = log_size(&client, &base)?;
        let rejects_path = rejects_path(args)?;
        Ok(Setup {
            format: args.format,
            file: args.file.clone(),
            key,
            base,
            client,
            log_key: log_key.key,
            origin: log_key.origin,
            agreement,
            start_size,
            rejects_path,
            concurrency: usize::from(args.concurrency),
        })
    }
}

/// The log's size now (`/healthz`).
fn log_size(client: &Client, base: &Url) -> Result<u64, Failure> {
    let health = client::get_json(client, base, "healthz").map_err(Failure::usage)?;
    health["size"].as_u64().ok_or_else(|| {
        Failure::usage(format!(
            "{base}healthz: no \"size\" (is --server a truce server?)"
        ))
    })
}

/// `--rejects`, else `FILE.rejects.jsonl`; never the file to import.
fn rejects_path(args: &ImportArgs) -> Result<PathBuf, Failure> {
    let rejects_path = args.rejects.clone().unwrap_or_else(|| {
        let mut p = args.file.clone().into_os_string();
        p.push(".rejects.jsonl");
        PathBuf::from(p)
    });
    if let (Ok(a), Ok(b)) = (
        std::fs::canonicalize(&args.file),
        std::fs::canonicalize(&rejects_path),
    ) && a == b
    {
        return Err(Failure::usage(format!(
            "--rejects {}: that is the file to import",
            rejects_path.display()
        )));
    }
    Ok(rejects_path)
}

/// `--agreement id`, checked against the server: it exists and is in force.
fn agreement_in_force(client: &Client, base: &Url, id: &str) -> Result<String, Failure> {
    let url = join(base, &format!("v1/agreements/{id}"))?;
    let resp = client::get(client, &url).map_err(Failure::usage)?;
    if resp.status().as_u16() == 404 {
        return Err(Failure::usage(format!(
            "--agreement {id}: no such agreement on {base}"
        )));
    }
    let v = read_ok_json(resp, &url).map_err(Failure::usage)?;
    let status = v["status"].as_str().unwrap_or("unknown");
    if status != "in-force" {
        return Err(Failure::usage(format!(
            "--agreement {id}: the agreement is {status}, not in force: the server accepts \
             observations only under an agreement in force"
        )));
    }
    Ok(id.to_string())
}

/// The single agreement in force on the server (`/v1/agreements`, every page).
fn the_agreement_in_force(client: &Client, base: &Url) -> Result<String, Failure> {
    let mut in_force = Vec::new();
    let mut cursor: Option<String> = None;
    // At most a million agreements: a server that pages forever is not followed forever.
    for _ in 0..1000 {
        let mut url = join(base, "v1/agreements")?;
        url.query_pairs_mut().append_pair("limit", "1000");
        if let Some(c) = &cursor {
            url.query_pairs_mut().append_pair("cursor", c);
        }
        let resp = client::get(client, &url).map_err(Failure::usage)?;
        let page = read_ok_json(resp, &url).map_err(Failure::usage)?;
        let Some(items) = page["items"].as_array() else {
            return Err(Failure::usage(format!(
                "GET {url}: no \"items\" (is --server a truce server?)"
            )));
        };
        for a in items {
            if a["status"] == "in-force"
                && let Some(id) = a["id"].as_str()
            {
                in_force.push(id.to_string());
            }
        }
        match page["next"].as_str() {
            Some(next) if !items.is_empty() => cursor = Some(next.to_string()),
            _ => break,
        }
    }
    match in_force.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Failure::usage(format!(
            "no agreement is in force on {base}: observations are accepted only under an \
             agreement in force (pass --agreement ID once one is)"
        ))),
        many => Err(Failure::usage(format!(
            "{} agreements are in force on {base} ({}): choose one with --agreement ID",
            many.len(),
            many.join(", ")
        ))),
    }
}
