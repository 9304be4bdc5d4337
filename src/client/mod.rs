//! The CLI's one client of a truce server and of its log (DESIGN §7, §8): every command that talks
//! to a server — `submit`, `key accredit|revoke`, `import`, `log verify` — goes through here.
//!
//! Why one module: each of those commands posts entries or reads the log, and the rules for doing
//! so safely must not drift apart between them:
//!
//! - **Answers are read up to a bound** ([`MAX_JSON_ANSWER`] for JSON, the size a correct log
//!   can serve for a log file), so a hostile server cannot exhaust memory; log files are asked
//!   for uncompressed, and a compressed answer is refused rather than hashed as it is.
//! - **The server's words are cleaned** ([`crate::text::clean`]) before they reach a terminal or
//!   a rejects file, and errors are said with their sources, each once ([`error_chain`]).
//! - **A receipt is believed only once verified**: the tlog-proof verifies `leaf_hash` at
//!   `index` in a checkpoint signed by the log key ([`verify_receipt`]), and the leaf read back
//!   from the log's entry bundle hashes to `leaf_hash` and holds the very envelope that was
//!   posted ([`check_leaf`]). The client cannot predict a leaf's bytes (they include the log
//!   time), so it reads them: this is what binds a receipt to *our* entry.
//! - **Retries honour the server**: a `429` waits as long as `Retry-After` says; an unavailable
//!   server (`503`, `502`, `504`, `408`, no connection) is tried again with exponential backoff a
//!   bounded number of times ([`post_patiently`], [`fetch_entry_bundle`]). `truce submit` tries
//!   once and says why it failed ([`submit_entry`]); an import of thousands of rows waits.
//!
//! The module is split by what is asked of the server: [`entries`] posts entries, [`log`] reads
//! the log (its key, receipts, entry bundles, any log file).

mod entries;
mod log;

use std::io::Read as _;
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::text::{BODY_PREVIEW_BYTES, clean};

pub use entries::{
    MAX_RATE_LIMITED, MAX_UNAVAILABLE_TRIES, Pacing, Posted, Receipt, backoff, post_patiently,
    submit_entry,
};
pub use log::{
    BundleFault, LeafFault, LogKey, check_leaf, fetch_entry_bundle, get_log_resource, parse_vkey,
    published_vkeys, verify_receipt,
};

/// Where entries go unless `--server` or `TRUCE_SERVER` says otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// The largest JSON answer read (a receipt, a problem, the vkeys, a logged entry, a page of
/// agreements).
pub const MAX_JSON_ANSWER: u64 = 256 * 1024;

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
    pub problem: Option<Value>,
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

/// The HTTP client of one command (`command` names it in the user agent); `idle_per_host` keeps
/// that many connections open for a pool of workers.
pub fn http_client(command: &str, idle_per_host: Option<usize>) -> Result<Client, String> {
    let mut builder = Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .user_agent(format!("truce/{} ({command})", env!("CARGO_PKG_VERSION")));
    if let Some(n) = idle_per_host {
        builder = builder.pool_max_idle_per_host(n);
    }
    builder.build().map_err(|e| format!("HTTP client: {e}"))
}

/// The `--server` URL, checked (http or https) and made a directory that API paths join below.
pub fn base_url(server: &str) -> Result<Url, Failure> {
    let url = Url::parse(server.trim())
        .map_err(|e| Failure::usage(format!("--server {server}: not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Failure::usage(format!(
            "--server {server}: only http and https URLs are supported"
        )));
    }
    Ok(with_slash(&url))
}

/// `url` as a directory: its path ends in `/` (so that relative paths join below it rather than
/// beside it), without query or fragment.
pub fn with_slash(url: &Url) -> Url {
    let mut u = url.clone();
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    u.set_query(None);
    u.set_fragment(None);
    u
}

/// `path` below the server's base URL.
pub fn join(base: &Url, path: &str) -> Result<Url, Failure> {
    base.join(path)
        .map_err(|e| Failure::usage(format!("{base}{path}: {e}")))
}

/// An error with its sources, each said once (reqwest's own text often repeats its source's).
pub fn error_chain(e: &dyn std::error::Error) -> String {
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

/// Why `method url` got no answer (no connection, a timeout, a reset).
fn unsent(method: &str, url: &Url, e: reqwest::Error) -> String {
    format!("{method} {url}: {}", error_chain(&e.without_url()))
}

/// The body of an answer that should be small (JSON from the server), refused beyond
/// [`MAX_JSON_ANSWER`] bytes.
pub fn read_limited(resp: Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    resp.take(MAX_JSON_ANSWER + 1)
        .read_to_end(&mut body)
        .map_err(|e| e.to_string())?;
    if body.len() as u64 > MAX_JSON_ANSWER {
        return Err(format!("the answer is larger than {MAX_JSON_ANSWER} bytes"));
    }
    Ok(body)
}

/// The JSON body of a successful answer from `url`.
pub fn read_json(resp: Response, url: &Url) -> Result<Value, String> {
    let body = read_limited(resp).map_err(|e| format!("reading {url}: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

/// `GET url`: the answer, whatever its status, or why there is none.
pub fn get(client: &Client, url: &Url) -> Result<Response, String> {
    client
        .get(url.clone())
        .send()
        .map_err(|e| unsent("GET", url, e))
}

/// `GET path` below `base`: its JSON, or why not (one line naming the URL).
pub fn get_json(client: &Client, base: &Url, path: &str) -> Result<Value, String> {
    let url = join(base, path).map_err(|f| f.message)?;
    read_ok_json(get(client, &url)?, &url)
}

/// The JSON of an answer to `GET url`, which must be a success.
pub fn read_ok_json(resp: Response, url: &Url) -> Result<Value, String> {
    let status = resp.status();
    if !status.is_success() {
        let detail = ErrorAnswer::read(url, resp).detail();
        return Err(format!(
            "GET {url}: HTTP {status}{}{}",
            if detail.is_empty() { "" } else { ": " },
            detail
        ));
    }
    let body = read_limited(resp).map_err(|e| format!("GET {url}: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))
}

/// An answer that is not a success: its status and, if the server sent one, its problem document
/// (RFC 9457: `detail`, and `errors[]` with a `pointer` and a `detail` for each field at fault).
pub struct ErrorAnswer {
    /// What was asked.
    pub url: Url,
    pub status: StatusCode,
    /// The body, if it is a JSON object.
    pub problem: Option<Value>,
    body: Vec<u8>,
}

impl ErrorAnswer {
    /// Reads the body, at most [`MAX_JSON_ANSWER`] bytes of it.
    pub fn read(url: &Url, resp: Response) -> ErrorAnswer {
        let status = resp.status();
        let mut body = Vec::new();
        let _ = resp.take(MAX_JSON_ANSWER).read_to_end(&mut body);
        let problem = serde_json::from_slice(&body).ok().filter(Value::is_object);
        ErrorAnswer {
            url: url.clone(),
            status,
            problem,
            body,
        }
    }

    /// The problem's `detail`, or the start of a body that is not a problem document; cleaned.
    pub fn detail(&self) -> String {
        match &self.problem {
            Some(p) => p["detail"].as_str().map(clean).unwrap_or_default(),
            None => clean(&String::from_utf8_lossy(
                &self.body[..self.body.len().min(BODY_PREVIEW_BYTES)],
            )),
        }
    }
}

/// Each field a problem document names, as (pointer, detail), cleaned.
pub fn problem_errors(problem: Option<&Value>) -> Vec<(String, String)> {
    problem
        .and_then(|p| p["errors"].as_array())
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["pointer"].as_str().map(clean).unwrap_or_default(),
                e["detail"].as_str().map(clean).unwrap_or_default(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
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

    #[test]
    fn urls_end_in_a_slash() {
        let u = Url::parse("http://h:1/a/log?x#y").unwrap();
        assert_eq!(with_slash(&u).as_str(), "http://h:1/a/log/");
        let u = Url::parse("http://h:1").unwrap();
        assert_eq!(
            with_slash(&u).join("log/").unwrap().as_str(),
            "http://h:1/log/"
        );
    }
}
