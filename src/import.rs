//! `truce import --format ucdp|acled|geojson FILE --key KEY`: maps every row of a conflict-event
//! data set (UCDP GED, ACLED) or every feature of a GeoJSON FeatureCollection to an
//! `observation` payload (DESIGN §5), signs it with a monitor's key and submits it, in
//! parallel, checking every receipt. The mapping is documented in `docs/import.md`; this module
//! is its implementation, and the two must agree.
//!
//! How it goes:
//!
//! 1. **Before anything is sent**: the key file, the server URL, the log's key (`--vkey`, else
//!    `/v1/log/vkeys`), the agreement (`--agreement`, else the single agreement `in-force` in
//!    `/v1/agreements`) and the log size (`/healthz`) are read; any problem stops here (exit 2).
//! 2. **Reading** streams the file: one CSV record, or one GeoJSON feature, at a time (a
//!    FeatureCollection is read with a streaming visitor, never as one document), each bounded
//!    in size ([`MAX_RECORD_BYTES`]). Every record is mapped, checked with
//!    [`Observation::parse`] and the log-time check against the local clock, signed, and queued.
//!    A record that fails is a *reject*: it goes to the rejects file with its row number, its
//!    id, and why (every column or field at fault, by name).
//! 3. **Submitting**: `--concurrency` workers post the envelopes. `429` waits as long as
//!    `Retry-After` says and tries again, as often as needed; `503`, `502`, `504`, `408` and
//!    connection failures back off exponentially, [`MAX_UNAVAILABLE_TRIES`] times, after which
//!    the import stops (exit 2): no row is ever dropped. `400`, `409`, `413`, `422` (and other
//!    answers about one entry) are rejects; `401` and `403` refuse the *key*, so the import stops
//!    at once rather than refuse every row the same way.
//! 4. **Checking**: every receipt's inclusion proof is verified offline against the log key as it
//!    arrives; in batches ([`LEAF_CHECK_BATCH`]) the entry bundles that hold the receipted
//!    leaves are read back to check that each leaf is *our* envelope (the same two checks as
//!    `truce submit`, with one bundle read per 256 entries instead of one per entry).
//!
//! Memory stays bounded whatever the file's size: a record at a time, at most
//! `4 × --concurrency` signed rows queued, [`LEAF_CHECK_BATCH`] receipts awaiting their leaf
//! check, and one log index per row logged by this run (so that a row repeated in the file
//! counts once).
//!
//! What it shares with `truce submit`: key reading, signing (with its size check) and the
//! reporting of failures before the import starts. The submission loop is its own: `submit`
//! builds an HTTP client and reads a whole entry bundle per entry, and does not retry.
//!
//! Ids are deterministic (`ucdp-<id>`, `acled-<event_id_cnty>`, `geojson-<feature id>` or
//! `geojson-<sha256 of the feature>`) and so are the payload bytes (keys sorted) and the
//! signatures (Ed25519), so importing the same file again posts the same envelopes: the server
//! answers each with its existing index, and a receipt whose index lies below the log size read
//! at the start counts as "already logged".
//!
//! Exit status: 0 every row was logged or already logged; 1 some rows were rejected (see the
//! rejects file); 2 usage, file, key, network or server failure (the import stopped; what was
//! logged stays logged, and running the same import again continues where it stopped).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::submit::{base_url, error_chain, join, json_type, read_limited};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::ToSpan as _;
use jiff::civil::Date;
use reqwest::Url;
use reqwest::blocking::{Client, Response};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use truce_log::leaf::{Leaf, leaf_hash};
use truce_log::tile::{self, TILE_WIDTH, TileLevel};
use truce_model::dsse::check_id;
use truce_model::entry::Kind;
use truce_model::keys::{PrivateKey, VerifierKey};
use truce_model::observation::{MAX_CASUALTIES, MAX_RADIUS_M, Observation};

use crate::submit::{self, DEFAULT_SERVER, Failure, Target};

/// The largest CSV record or GeoJSON feature read, in bytes (an entry holds at most 64 KiB, so
/// anything near this is refused anyway; the bound keeps a hostile file from exhausting memory).
pub const MAX_RECORD_BYTES: u64 = 1 << 20;
/// Receipts whose leaves are read back together (about four entry bundles).
pub const LEAF_CHECK_BATCH: usize = 1024;
/// How often an unavailable server (503, 502, 504, 408, connection failure) is tried for one
/// entry before the import stops; the waits double from 250 ms to at most 8 s (about 40 s in
/// all), or follow the server's `Retry-After`.
pub const MAX_UNAVAILABLE_TRIES: u32 = 10;
/// The longest `Retry-After` honoured as given, in seconds; a longer one waits this long.
const MAX_RETRY_AFTER_SECS: u64 = 300;
/// How long one entry may be rate-limited in all before the import stops.
const MAX_RATE_LIMITED: Duration = Duration::from_secs(30 * 60);
/// The largest JSON answer read.
/// Longest text taken from one source column into a narrative, in characters.
const MAX_FIELD_CHARS: usize = 300;
/// Longest ACLED `notes` taken into a narrative, in characters.
const MAX_NOTES_CHARS: usize = 1_500;
/// Longest narrative written, in characters (the validator allows 4,000).
const MAX_IMPORT_NARRATIVE_CHARS: usize = 3_000;

/// What the exit status means, for `--help`.
const EXIT_STATUS_HELP: &str = "Exit status: 0 every row was logged or already logged; 1 some \
rows were rejected (each is in the rejects file, with its row, id and reason); 2 usage, file, key, \
network or server failure (the import stopped: run it again to continue, logged rows are \
recognised). The mapping of each format is documented in docs/import.md.";

/// The input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// UCDP Georeferenced Event Dataset (GED) CSV.
    Ucdp,
    /// ACLED CSV export.
    Acled,
    /// GeoJSON FeatureCollection of Point features.
    Geojson,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Ucdp => "ucdp",
            Format::Acled => "acled",
            Format::Geojson => "geojson",
        }
    }
}

/// `truce import` arguments.
#[derive(Args)]
#[command(after_help = EXIT_STATUS_HELP)]
pub struct ImportArgs {
    /// The input format.
    #[arg(long, value_enum)]
    format: Format,
    /// The file to import.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The private key file to sign with (a key accredited as monitor, sensor or party).
    #[arg(long, value_name = "KEYFILE")]
    key: PathBuf,
    /// The truce server.
    #[arg(long, env = "TRUCE_SERVER", default_value = DEFAULT_SERVER, value_name = "URL")]
    server: String,
    /// The agreement to report under (default: the one agreement in force on the server).
    #[arg(long, value_name = "ID")]
    agreement: Option<String>,
    /// Where rejected rows go, one JSON object per line (default: FILE.rejects.jsonl).
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// Entries submitted at once.
    #[arg(long, default_value_t = 16, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// The log's verifier key to check receipts with (default: the key the server publishes at
    /// /v1/log/vkeys).
    #[arg(long = "vkey", visible_alias = "log-vkey", value_name = "LOG_VKEY")]
    log_vkey: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `truce import`.
pub fn run(args: ImportArgs) -> ExitCode {
    let target = Target {
        server: args.server.clone(),
        log_vkey: args.log_vkey.clone(),
        json: args.json,
    };
    let setup = match Setup::prepare(&args) {
        Ok(s) => s,
        Err(f) => return submit::fail(&target, "import", &f),
    };
    let summary = setup.import();
    summary.print(&setup, args.json)
}

// ---------------------------------------------------------------------------------------------
// Setup: everything checked before the first row is read.

/// The checked arguments and what the server told us before the import.
struct Setup {
    format: Format,
    file: PathBuf,
    key: PrivateKey,
    base: Url,
    client: Client,
    log_key: VerifierKey,
    origin: String,
    agreement: String,
    /// The log size when the import started: a receipt below it was logged before.
    start_size: u64,
    rejects_path: PathBuf,
    concurrency: usize,
}

impl Setup {
    fn prepare(args: &ImportArgs) -> Result<Setup, Failure> {
        let key = submit::read_private_key(&args.key, "--key")?;
        let base = base_url(&args.server)?;
        let meta = std::fs::metadata(&args.file)
            .map_err(|e| Failure::usage(format!("{}: {e}", args.file.display())))?;
        if !meta.is_file() {
            return Err(Failure::usage(format!(
                "{}: not a regular file",
                args.file.display()
            )));
        }
        let pinned = match &args.log_vkey {
            Some(v) => Some(
                VerifierKey::parse(v.trim())
                    .map_err(|e| Failure::usage(format!("--vkey {}: {e}", v.trim())))?,
            ),
            None => None,
        };
        if let Some(a) = &args.agreement {
            check_id(a).map_err(|why| Failure::usage(format!("--agreement {a:?}: {why}")))?;
        }
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(usize::from(args.concurrency) + 4)
            .user_agent(concat!("truce/", env!("CARGO_PKG_VERSION"), " (import)"))
            .build()
            .map_err(|e| Failure::usage(format!("HTTP client: {e}")))?;
        let (log_key, origin) = match pinned {
            // A truce log's key is named after its origin (`truce init`).
            Some(k) => {
                let origin = k.name().to_string();
                (k, origin)
            }
            None => {
                let v = get_json(&client, &base, "v1/log/vkeys").map_err(Failure::usage)?;
                let (Some(origin), Some(log)) = (v["origin"].as_str(), v["log"].as_str()) else {
                    return Err(Failure::usage(format!(
                        "{base}v1/log/vkeys: no \"origin\" and \"log\" strings (is --server a \
                         truce server?)"
                    )));
                };
                let k = VerifierKey::parse(log)
                    .map_err(|e| Failure::usage(format!("{base}v1/log/vkeys: log key: {e}")))?;
                (k, origin.to_string())
            }
        };
        let agreement = resolve_agreement(&client, &base, args.agreement.as_deref())?;
        let health = get_json(&client, &base, "healthz").map_err(Failure::usage)?;
        let start_size = health["size"].as_u64().ok_or_else(|| {
            Failure::usage(format!(
                "{base}healthz: no \"size\" (is --server a truce server?)"
            ))
        })?;
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
        Ok(Setup {
            format: args.format,
            file: args.file.clone(),
            key,
            base,
            client,
            log_key,
            origin,
            agreement,
            start_size,
            rejects_path,
            concurrency: usize::from(args.concurrency),
        })
    }
}

/// `--agreement` checked against the server, or the single agreement in force.
fn resolve_agreement(client: &Client, base: &Url, given: Option<&str>) -> Result<String, Failure> {
    if let Some(id) = given {
        let url = join(base, &format!("v1/agreements/{id}"))?;
        let resp = client
            .get(url.clone())
            .send()
            .map_err(|e| Failure::usage(format!("GET {url}: {}", error_chain(&e.without_url()))))?;
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
        return Ok(id.to_string());
    }
    let mut in_force = Vec::new();
    let mut cursor: Option<String> = None;
    // At most a million agreements: a server that pages forever is not followed forever.
    for _ in 0..1000 {
        let mut url = join(base, "v1/agreements")?;
        url.query_pairs_mut().append_pair("limit", "1000");
        if let Some(c) = &cursor {
            url.query_pairs_mut().append_pair("cursor", c);
        }
        let resp = client
            .get(url.clone())
            .send()
            .map_err(|e| Failure::usage(format!("GET {url}: {}", error_chain(&e.without_url()))))?;
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

// ---------------------------------------------------------------------------------------------
// Rejects.

/// Why one row is not logged.
#[derive(Debug, Clone, PartialEq)]
struct Reject {
    /// A short category for the summary (a column, a field, a pointer, an HTTP status).
    class: String,
    /// The whole explanation.
    reason: String,
    /// The server's HTTP status, for a refusal.
    status: Option<u16>,
    /// Each field at fault, as `{pointer, detail}` (validation and the server's problem).
    errors: Vec<Value>,
}

impl Reject {
    fn new(class: impl Into<String>, reason: impl Into<String>) -> Reject {
        Reject {
            class: class.into(),
            reason: reason.into(),
            status: None,
            errors: Vec::new(),
        }
    }

    /// Problems with named columns (CSV) or fields (GeoJSON), all of them.
    fn problems(what: &str, problems: &[(String, String)]) -> Reject {
        let class = problems
            .first()
            .map(|(name, _)| format!("{what} {name}"))
            .unwrap_or_else(|| what.to_string());
        let reason = problems
            .iter()
            .map(|(name, why)| format!("{what} {name}: {why}"))
            .collect::<Vec<_>>()
            .join("; ");
        Reject::new(class, reason)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading CSV.

/// Counts the bytes read since the last [`Limit::reset`] and fails the read beyond a bound, so
/// that one record (or feature) can never grow without limit in memory.
#[derive(Clone)]
struct Limit {
    since_reset: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
    max: u64,
}

impl Limit {
    fn new(max: u64) -> Limit {
        Limit {
            since_reset: Arc::new(AtomicU64::new(0)),
            total: Arc::new(AtomicU64::new(0)),
            max,
        }
    }

    fn reset(&self) {
        self.since_reset.store(0, Ordering::Relaxed);
    }

    fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

struct Limited<R> {
    inner: R,
    limit: Limit,
}

/// The message of the error [`Limited`] raises; recognised to explain it.
const TOO_LONG: &str = "record too long";

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.limit.since_reset.load(Ordering::Relaxed) > self.limit.max {
            return Err(io::Error::other(TOO_LONG));
        }
        let n = self.inner.read(buf)?;
        let n64 = n as u64;
        self.limit.since_reset.fetch_add(n64, Ordering::Relaxed);
        self.limit.total.fetch_add(n64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The header of a CSV file: column name (lower case) → position.
struct Columns {
    index: BTreeMap<String, usize>,
    len: usize,
}

impl Columns {
    fn new(headers: &csv::ByteRecord) -> Columns {
        let mut index = BTreeMap::new();
        for (i, h) in headers.iter().enumerate() {
            let name = String::from_utf8_lossy(h)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_ascii_lowercase();
            // The first of two columns of the same name wins.
            index.entry(name).or_insert(i);
        }
        Columns {
            index,
            len: headers.len(),
        }
    }

    fn missing(&self, required: &[&str]) -> Vec<String> {
        required
            .iter()
            .filter(|c| !self.index.contains_key(**c))
            .map(|c| (*c).to_string())
            .collect()
    }
}

/// One CSV record being mapped: reads columns by name and collects every problem.
struct Cells<'a> {
    cols: &'a Columns,
    rec: &'a csv::ByteRecord,
    problems: Vec<(String, String)>,
}

impl<'a> Cells<'a> {
    fn new(cols: &'a Columns, rec: &'a csv::ByteRecord) -> Cells<'a> {
        Cells {
            cols,
            rec,
            problems: Vec::new(),
        }
    }

    fn fail(&mut self, column: &str, why: impl Into<String>) {
        self.problems.push((column.to_string(), why.into()));
    }

    /// The column's text, trimmed; `None` if the header has no such column or the record is too
    /// short to have it (no problem recorded).
    fn raw(&mut self, column: &str) -> Option<&'a str> {
        let i = *self.cols.index.get(column)?;
        let bytes = self.rec.get(i)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Some(s.trim()),
            Err(e) => {
                self.fail(column, format!("not UTF-8 text ({e})"));
                None
            }
        }
    }

    /// A column that must be present and not empty.
    fn text(&mut self, column: &str) -> Option<&'a str> {
        match self.raw(column) {
            Some(s) if !s.is_empty() => Some(s),
            Some(_) => {
                self.fail(column, "empty");
                None
            }
            None => {
                if self.cols.index.contains_key(column) {
                    // Short record, or not UTF-8 (already reported).
                    if !self.problems.iter().any(|(c, _)| c == column) {
                        self.fail(column, "missing (the record is shorter than the header)");
                    }
                } else {
                    self.fail(column, "missing (no such column)");
                }
                None
            }
        }
    }

    /// An optional column: `None` if absent or empty.
    fn optional(&mut self, column: &str) -> Option<&'a str> {
        self.raw(column).filter(|s| !s.is_empty())
    }

    fn integer(&mut self, column: &str, min: u64, max: u64) -> Option<u64> {
        let s = self.text(column)?;
        match parse_integer(s) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                self.fail(column, format!("{n} is out of range ({min} to {max})"));
                None
            }
            None => {
                self.fail(
                    column,
                    format!("{:?} is not a whole number", bounded(s, 40)),
                );
                None
            }
        }
    }

    fn degrees(&mut self, column: &str, max: f64) -> Option<f64> {
        let s = self.text(column)?;
        match s.parse::<f64>() {
            Ok(x) if x.is_finite() && (-max..=max).contains(&x) => Some(x),
            Ok(x) if x.is_finite() => {
                self.fail(
                    column,
                    format!("{s} is out of range (-{max} to {max} degrees)"),
                );
                None
            }
            _ => {
                self.fail(column, format!("{:?} is not a number", bounded(s, 40)));
                None
            }
        }
    }

    fn date(&mut self, column: &str) -> Option<Date> {
        let s = self.text(column)?;
        match parse_date(s) {
            Some(d) => Some(d),
            None => {
                self.fail(
                    column,
                    format!(
                        "{:?} is not a date (expected YYYY-MM-DD, DD Month YYYY or DD-MM-YYYY)",
                        bounded(s, 40)
                    ),
                );
                None
            }
        }
    }

    /// The entry id `prefix` + the text of `column`, if that makes a valid id.
    fn entry_id(&mut self, column: &str, prefix: &str) -> Option<String> {
        let raw = self.text(column)?;
        let id = format!("{prefix}{raw}");
        match check_id(&id) {
            Ok(()) => Some(id),
            Err(why) => {
                self.fail(
                    column,
                    format!("{:?} does not make an entry id: {why}", bounded(raw, 40)),
                );
                None
            }
        }
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, Reject> {
        match value {
            Some(v) if self.problems.is_empty() => Ok(v),
            _ if !self.problems.is_empty() => Err(Reject::problems("column", &self.problems)),
            _ => Err(Reject::new("record", "the record could not be mapped")),
        }
    }
}

/// A whole number, also written as `12.0` (some exports write integers as floats).
fn parse_integer(s: &str) -> Option<u64> {
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let (int, frac) = s.split_once('.')?;
    if !frac.is_empty() && frac.bytes().all(|b| b == b'0') {
        int.parse().ok()
    } else {
        None
    }
}

/// `YYYY-MM-DD` (optionally followed by a time, as some GED exports write), `D Month YYYY`
/// (ACLED's older exports) or `DD-MM-YYYY`.
fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if let Some(head) = s.get(..10)
        && let rest = &s[10..]
        && (rest.is_empty() || rest.starts_with([' ', 'T']))
        && head.as_bytes().get(4) == Some(&b'-')
        && let Ok(d) = head.parse::<Date>()
    {
        return Some(d);
    }
    let parts: Vec<&str> = s.split([' ', '-', '/']).filter(|p| !p.is_empty()).collect();
    let [day, month, year] = parts.as_slice() else {
        return None;
    };
    let day: i8 = day.parse().ok()?;
    let year: i16 = year.parse().ok().filter(|y: &i16| *y >= 1000)?;
    let month: i8 = match month.parse::<i8>() {
        Ok(m) if s.contains('-') || s.contains('/') => m,
        Ok(_) => return None,
        Err(_) => month_number(month)?,
    };
    Date::new(year, month, day).ok()
}

fn month_number(name: &str) -> Option<i8> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let lower = name.to_ascii_lowercase();
    if lower.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| *m == lower || (lower.len() == 3 && m.starts_with(&lower)))
        .and_then(|i| i8::try_from(i + 1).ok())
}

fn day_start(d: Date) -> String {
    format!("{d}T00:00:00Z")
}

fn day_end(d: Date) -> String {
    format!("{d}T23:59:59Z")
}

/// Text from a source, made fit for a narrative: whitespace and control characters become single
/// spaces, and at most `max` characters are kept (an ellipsis marks a cut).
fn bounded(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut space = false;
    for c in s.trim().chars() {
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    if out.chars().count() > max {
        let mut cut: String = out.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        out
    }
}

fn estimate(low: u64, best: u64, high: u64) -> Value {
    json!({"low": low, "best": best, "high": high})
}

// ---------------------------------------------------------------------------------------------
// UCDP GED.

const UCDP_COLUMNS: &[&str] = &[
    "id",
    "date_start",
    "date_end",
    "date_prec",
    "latitude",
    "longitude",
    "where_prec",
    "type_of_violence",
    "side_a",
    "side_b",
    "where_description",
    "best",
    "low",
    "high",
    "deaths_a",
    "deaths_b",
    "deaths_civilians",
    "deaths_unknown",
];

/// `where_prec` → (uncertainty radius in metres, meaning). See docs/import.md.
fn ucdp_where_prec(p: u64) -> (f64, &'static str) {
    match p {
        1 => (1_000.0, "exact location"),
        2 => (25_000.0, "within about 25 km of a known point"),
        3 => (
            50_000.0,
            "only the district (second-order division) is known",
        ),
        4 => (150_000.0, "only the oblast (first-order division) is known"),
        5 => (
            50_000.0,
            "an estimated location, a linear feature, or between places",
        ),
        6 => (MAX_RADIUS_M, "only the country is known"),
        _ => (MAX_RADIUS_M, "international waters or airspace"),
    }
}

fn ucdp_date_prec(p: u64) -> &'static str {
    match p {
        1 => "exact day",
        2 => "known within 2 to 6 days",
        3 => "only the week is known",
        4 => "known within 8 to 30 days, or only the month",
        _ => "known within more than 30 days, or only the year",
    }
}

fn ucdp_violence(t: u64) -> &'static str {
    match t {
        1 => "state-based armed conflict",
        2 => "non-state conflict",
        _ => "one-sided violence",
    }
}

/// Maps one UCDP GED record. Returns the entry id (when the `id` column is usable) and the
/// payload (without `id` and `agreement`) or why not.
fn map_ucdp(
    cols: &Columns,
    rec: &csv::ByteRecord,
) -> (Option<String>, Result<Map<String, Value>, Reject>) {
    let mut c = Cells::new(cols, rec);
    let id = c.entry_id("id", "ucdp-");
    let start = c.date("date_start");
    let end = c.date("date_end");
    let date_prec = c.integer("date_prec", 1, 5);
    let lat = c.degrees("latitude", 90.0);
    let lon = c.degrees("longitude", 180.0);
    let where_prec = c.integer("where_prec", 1, 7);
    let violence = c.integer("type_of_violence", 1, 3);
    let side_a = c.optional("side_a").unwrap_or("");
    let side_b = c.optional("side_b").unwrap_or("");
    // The place's description, else the place the coordinates belong to.
    let where_description = c
        .optional("where_description")
        .or_else(|| c.optional("where_coordinates"))
        .unwrap_or("");
    let max = MAX_CASUALTIES;
    let best = c.integer("best", 0, max);
    let low = c.integer("low", 0, max);
    let high = c.integer("high", 0, max);
    let deaths_a = c.integer("deaths_a", 0, max);
    let deaths_b = c.integer("deaths_b", 0, max);
    let civilians = c.integer("deaths_civilians", 0, max);
    let unknown = c.integer("deaths_unknown", 0, max);
    let clarity = c.optional("event_clarity").and_then(|s| match s {
        "1" => Some(1u8),
        "2" => Some(2),
        _ => {
            c.fail(
                "event_clarity",
                format!("{:?}: expected 1 (high) or 2 (lower)", bounded(s, 40)),
            );
            None
        }
    });
    let relid = c.optional("relid");
    let conflict = c.optional("conflict_name");
    let adm_1 = c.optional("adm_1");
    let sources = c.optional("number_of_sources");
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        c.fail("date_end", format!("{e} is before date_start ({s})"));
    }
    if let (Some(b), Some(a), Some(bb), Some(civ), Some(unk)) =
        (best, deaths_a, deaths_b, civilians, unknown)
        && a + bb + civ + unk != b
    {
        c.fail(
            "best",
            format!(
                "{b} is not the sum of deaths_a, deaths_b, deaths_civilians and deaths_unknown \
                 ({a} + {bb} + {civ} + {unk})"
            ),
        );
    }
    let payload = (|| {
        let (raw_id, start, end, date_prec, lat, lon, where_prec, violence) = (
            id.as_deref()?.strip_prefix("ucdp-")?,
            start?,
            end?,
            date_prec?,
            lat?,
            lon?,
            where_prec?,
            violence?,
        );
        let (best, low, high, deaths_a, deaths_b, civilians) =
            (best?, low?, high?, deaths_a?, deaths_b?, civilians?);
        let unknown = unknown?;
        let (radius_m, where_meaning) = ucdp_where_prec(where_prec);

        // The breakdown splits `best`; UCDP gives low and high for the total only, so the
        // range is carried by the deaths of unknown status. An inconsistent range (low above
        // best, or high below it: a few GED rows) is widened to include best, and said so.
        let (low2, high2) = (low.min(best), high.max(best));
        let combatants = deaths_a + deaths_b;
        let known = civilians + combatants;
        let unknown_est = (low2.saturating_sub(known), unknown, high2 - known);

        let mut text = format!("UCDP GED event {raw_id}");
        if let Some(r) = relid {
            text.push_str(&format!(" ({})", bounded(r, MAX_FIELD_CHARS)));
        }
        text.push_str(&format!(
            ": {} (type_of_violence {violence}",
            ucdp_violence(violence)
        ));
        if let Some(cn) = conflict {
            text.push_str(&format!(", conflict {:?}", bounded(cn, MAX_FIELD_CHARS)));
        }
        text.push_str(&format!(
            "). Side A: {}; side B: {} (the sides are the parties to the fighting: neither \
             implies who fired).",
            or_none(&bounded(side_a, MAX_FIELD_CHARS)),
            or_none(&bounded(side_b, MAX_FIELD_CHARS))
        ));
        text.push_str(&format!(
            " Where: {}",
            or_none(&bounded(where_description, MAX_FIELD_CHARS))
        ));
        if let Some(a) = adm_1 {
            text.push_str(&format!(", {}", bounded(a, MAX_FIELD_CHARS)));
        }
        text.push_str(&format!(
            " (where_prec {where_prec}: {where_meaning}; radius {} km).",
            radius_m / 1_000.0
        ));
        text.push_str(&format!(
            " When: {start} to {end} (date_prec {date_prec}: {}).",
            ucdp_date_prec(date_prec)
        ));
        text.push_str(&format!(
            " Deaths: best {best}, low {low}, high {high}; side A {deaths_a}, side B {deaths_b}, \
             civilians {civilians}, unknown {unknown}."
        ));
        if (low2, high2) != (low, high) {
            text.push_str(&format!(
                " The range is widened to low {low2}, high {high2} to include best."
            ));
        }
        if let Some(cl) = clarity {
            text.push_str(&format!(" Event clarity {cl}."));
        }
        if let Some(s) = sources {
            text.push_str(&format!(" Sources: {}.", bounded(s, 20)));
        }
        text.push_str(
            " Source: UCDP Georeferenced Event Dataset, Uppsala Conflict Data Program (CC BY 4.0).",
        );

        let mut o = Map::new();
        o.insert(
            "observed".into(),
            json!({"from": day_start(start), "to": day_end(end)}),
        );
        o.insert(
            "event".into(),
            json!({"type": "casualty", "count": 1,
                   "location": {"lat": lat, "lon": lon, "radius_m": radius_m}}),
        );
        o.insert(
            "casualties".into(),
            json!({
                "civilian_killed": estimate(civilians, civilians, civilians),
                "combatant_killed": estimate(combatants, combatants, combatants),
                "unknown_killed": estimate(unknown_est.0, unknown_est.1, unknown_est.2),
            }),
        );
        if let Some(cl) = clarity {
            // Admiralty information credibility: clarity 1 → 2 "probably true", 2 → 3
            // "possibly true" (docs/import.md).
            o.insert("grading".into(), json!({"credibility": cl + 1}));
        }
        o.insert(
            "narrative".into(),
            Value::String(bounded(&text, MAX_IMPORT_NARRATIVE_CHARS)),
        );
        Some(o)
    })();
    (id.clone(), c.finish(payload))
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "(none given)" } else { s }
}

// ---------------------------------------------------------------------------------------------
// ACLED.

const ACLED_COLUMNS: &[&str] = &[
    "event_id_cnty",
    "event_date",
    "sub_event_type",
    "geo_precision",
    "fatalities",
    "latitude",
    "longitude",
    "notes",
];

/// What an ACLED sub-event type becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AcledMapping {
    /// An observation of this event type.
    Event(&'static str),
    /// A known ACLED sub-event type that no §5 event type describes; the reason says why.
    OutOfScope(&'static str),
}

/// The documented table of docs/import.md: ACLED `sub_event_type` (lower case) → mapping.
const ACLED_SUB_EVENT_TYPES: &[(&str, AcledMapping)] = {
    use AcledMapping::{Event, OutOfScope};
    const NOT_FIRE: &str = "not a ceasefire observation (no fire, presence or harm event)";
    &[
        // Battles
        ("armed clash", Event("shot")),
        ("government regains territory", Event("forces-presence")),
        (
            "non-state actor overtakes territory",
            Event("forces-presence"),
        ),
        // Explosions/Remote violence
        ("shelling/artillery/missile attack", Event("impact")),
        ("air/drone strike", Event("strike")),
        ("remote explosive/landmine/ied", Event("explosion")),
        ("grenade", Event("explosion")),
        ("suicide bomb", Event("explosion")),
        (
            "chemical weapon",
            OutOfScope(
                "no observation event type describes the use of a chemical agent; report it \
                 with an explicit type (GeoJSON import) after review",
            ),
        ),
        // Violence against civilians
        ("attack", Event("casualty")),
        (
            "sexual violence",
            OutOfScope(
                "not a ceasefire observation type (harm to persons other than killed or injured)",
            ),
        ),
        (
            "abduction/forced disappearance",
            OutOfScope(
                "not a ceasefire observation type (harm to persons other than killed or injured)",
            ),
        ),
        // Strategic developments
        ("looting/property destruction", Event("damage")),
        ("headquarters or base established", Event("forces-presence")),
        (
            "disrupted weapons use",
            OutOfScope(
                "a weapon intercepted or defused is not an observed strike or impact, and ACLED \
                 does not say which",
            ),
        ),
        ("agreement", OutOfScope(NOT_FIRE)),
        ("arrests", OutOfScope(NOT_FIRE)),
        ("change to group/activity", OutOfScope(NOT_FIRE)),
        ("non-violent transfer of territory", OutOfScope(NOT_FIRE)),
        ("other", OutOfScope(NOT_FIRE)),
        // Protests and riots
        ("peaceful protest", OutOfScope(NOT_FIRE)),
        ("protest with intervention", OutOfScope(NOT_FIRE)),
        ("excessive force against protesters", OutOfScope(NOT_FIRE)),
        ("excessive force against protestors", OutOfScope(NOT_FIRE)),
        ("violent demonstration", OutOfScope(NOT_FIRE)),
        ("mob violence", OutOfScope(NOT_FIRE)),
    ]
};

fn acled_sub_event(s: &str) -> Option<AcledMapping> {
    let lower = s.trim().to_lowercase();
    ACLED_SUB_EVENT_TYPES
        .iter()
        .find(|(k, _)| *k == lower)
        .map(|(_, m)| *m)
}

/// `geo_precision` → (radius in metres, meaning).
fn acled_geo_precision(p: u64) -> (f64, &'static str) {
    match p {
        1 => (5_000.0, "the town or place named"),
        2 => (
            25_000.0,
            "near the place named, or part of a region (nearest town)",
        ),
        _ => (150_000.0, "only a larger region is known (its capital)"),
    }
}

/// `time_precision` → (first day, last day, meaning).
fn acled_window(d: Date, p: u64) -> Option<(Date, Date, &'static str)> {
    Some(match p {
        1 => (d, d, "the day"),
        2 => (
            d.checked_sub(6.days()).ok()?,
            d.checked_add(6.days()).ok()?,
            "the week (every week that contains event_date)",
        ),
        _ => (d.first_of_month(), d.last_of_month(), "the month"),
    })
}

/// Maps one ACLED record (see [`map_ucdp`]).
fn map_acled(
    cols: &Columns,
    rec: &csv::ByteRecord,
) -> (Option<String>, Result<Map<String, Value>, Reject>) {
    let mut c = Cells::new(cols, rec);
    let id = c.entry_id("event_id_cnty", "acled-");
    let date = c.date("event_date");
    let time_precision = match c.optional("time_precision") {
        None => Some(1),
        Some(_) => c.integer("time_precision", 1, 3),
    };
    let sub = c.text("sub_event_type");
    let mapping = sub.and_then(|s| match acled_sub_event(s) {
        Some(AcledMapping::Event(t)) => Some(t),
        Some(AcledMapping::OutOfScope(why)) => {
            c.fail("sub_event_type", format!("{:?}: {why}", bounded(s, 80)));
            None
        }
        None => {
            c.fail(
                "sub_event_type",
                format!(
                    "{:?} is not an ACLED sub-event type this import knows (docs/import.md lists \
                     them)",
                    bounded(s, 80)
                ),
            );
            None
        }
    });
    let geo_precision = c.integer("geo_precision", 1, 3);
    let fatalities = c.integer("fatalities", 0, MAX_CASUALTIES);
    let lat = c.degrees("latitude", 90.0);
    let lon = c.degrees("longitude", 180.0);
    let notes = c.raw("notes").unwrap_or("");
    let event_type = c.optional("event_type");
    let civilian_targeting = c.optional("civilian_targeting");
    let actor1 = c.optional("actor1");
    let actor2 = c.optional("actor2");
    let location = c.optional("location");
    let admin1 = c.optional("admin1");
    let source = c.optional("source");
    let window = match (date, time_precision) {
        (Some(d), Some(p)) => {
            let w = acled_window(d, p);
            if w.is_none() {
                c.fail(
                    "event_date",
                    format!("{d}: the window around it is out of range"),
                );
            }
            w
        }
        _ => None,
    };
    let payload = (|| {
        let (id, date, tp, event, gp, fatalities, lat, lon) = (
            id.as_deref()?,
            date?,
            time_precision?,
            mapping?,
            geo_precision?,
            fatalities?,
            lat?,
            lon?,
        );
        let (from, to, when) = window?;
        let (radius_m, where_meaning) = acled_geo_precision(gp);
        // ACLED's fatalities are one figure: the victims of violence against civilians are
        // civilians; otherwise their status is unknown.
        let civilian = event_type
            .is_some_and(|t| t.eq_ignore_ascii_case("violence against civilians"))
            || civilian_targeting.is_some();
        let kind = if civilian {
            "civilian_killed"
        } else {
            "unknown_killed"
        };
        let sub = sub.unwrap_or_default();
        let mut text = format!(
            "ACLED event {}: {}",
            id.trim_start_matches("acled-"),
            bounded(sub, MAX_FIELD_CHARS)
        );
        if let Some(t) = event_type {
            text.push_str(&format!(" ({})", bounded(t, MAX_FIELD_CHARS)));
        }
        let place: Vec<String> = [location, admin1]
            .into_iter()
            .flatten()
            .map(|s| bounded(s, MAX_FIELD_CHARS))
            .collect();
        text.push_str(&format!(
            ". Where: {} (geo_precision {gp}: {where_meaning}; radius {} km).",
            or_none(&place.join(", ")),
            radius_m / 1_000.0
        ));
        text.push_str(&format!(" When: {date} (time_precision {tp}: {when})."));
        if actor1.is_some() || actor2.is_some() {
            text.push_str(&format!(
                " Actors: {}; {} (ACLED's actors do not imply who fired).",
                or_none(&bounded(actor1.unwrap_or(""), MAX_FIELD_CHARS)),
                or_none(&bounded(actor2.unwrap_or(""), MAX_FIELD_CHARS))
            ));
        }
        if civilian_targeting.is_some() {
            text.push_str(" Civilian targeting.");
        }
        text.push_str(&format!(" Fatalities: {fatalities}."));
        let notes = bounded(notes, MAX_NOTES_CHARS);
        if !notes.is_empty() {
            text.push_str(&format!(" Notes: {notes}"));
            if !notes.ends_with('.') {
                text.push('.');
            }
        }
        if let Some(s) = source {
            text.push_str(&format!(" Reported by: {}.", bounded(s, MAX_FIELD_CHARS)));
        }
        text.push_str(" Source: Armed Conflict Location & Event Data (ACLED), acleddata.com.");

        let mut o = Map::new();
        o.insert(
            "observed".into(),
            json!({"from": day_start(from), "to": day_end(to)}),
        );
        o.insert(
            "event".into(),
            json!({"type": event, "count": 1,
                   "location": {"lat": lat, "lon": lon, "radius_m": radius_m}}),
        );
        o.insert(
            "casualties".into(),
            json!({ kind: estimate(fatalities, fatalities, fatalities) }),
        );
        o.insert(
            "narrative".into(),
            Value::String(bounded(&text, MAX_IMPORT_NARRATIVE_CHARS)),
        );
        Some(o)
    })();
    (id.clone(), c.finish(payload))
}

// ---------------------------------------------------------------------------------------------
// GeoJSON.

/// The observation fields a feature may give flat in its `properties` (docs/import.md).
const FLAT_PROPERTIES: &[&str] = &[
    "type",
    "from",
    "to",
    "count",
    "approx",
    "radius_m",
    "weapon",
    "calibre_mm",
    "targets",
    "origin_bearing_deg",
    "mode",
    "credibility",
    "casualties",
    "evidence",
    "narrative",
    "alleged_party",
];

/// Maps one GeoJSON feature (1-based position `n`).
fn map_feature(v: &Value, agreement: &str) -> (Option<String>, Result<Map<String, Value>, Reject>) {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut fail = |field: &str, why: String| problems.push((field.to_string(), why));
    let Value::Object(f) = v else {
        return (
            None,
            Err(Reject::new(
                "feature",
                format!("a feature is a JSON object, not {}", json_type(v)),
            )),
        );
    };
    if f.get("type").and_then(Value::as_str) != Some("Feature") {
        fail("type", "must be \"Feature\"".into());
    }
    let id = match f.get("id") {
        None | Some(Value::Null) => Some(format!(
            "geojson-{}",
            submit::hex(&Sha256::digest(canonical_json(v)))
        )),
        Some(Value::String(s)) => Some(format!("geojson-{s}")),
        Some(Value::Number(n)) => Some(format!("geojson-{n}")),
        Some(other) => {
            fail(
                "id",
                format!("must be a string or a number, not {}", json_type(other)),
            );
            None
        }
    };
    let id = id.and_then(|id| match check_id(&id) {
        Ok(()) => Some(id),
        Err(why) => {
            fail(
                "id",
                format!("{:?} does not make an entry id: {why}", bounded(&id, 80)),
            );
            None
        }
    });
    let point = match f.get("geometry") {
        Some(Value::Object(g)) => {
            if g.get("type").and_then(Value::as_str) != Some("Point") {
                fail(
                    "geometry.type",
                    format!(
                        "{}: only Point features locate an observation",
                        g.get("type")
                            .map(|t| bounded(&t.to_string(), 40))
                            .unwrap_or_else(|| "missing".into())
                    ),
                );
                None
            } else {
                match g
                    .get("coordinates")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                {
                    Some([lon, lat, rest @ ..]) if rest.len() <= 1 => {
                        match (
                            lon.as_f64().filter(|x| x.is_finite()),
                            lat.as_f64().filter(|x| x.is_finite()),
                        ) {
                            (Some(lon), Some(lat)) => {
                                let mut ok = true;
                                if !(-180.0..=180.0).contains(&lon) {
                                    fail(
                                        "geometry.coordinates",
                                        format!(
                                            "longitude {lon} is out of range (-180 to 180; GeoJSON gives [lon, lat])"
                                        ),
                                    );
                                    ok = false;
                                }
                                if !(-90.0..=90.0).contains(&lat) {
                                    fail(
                                        "geometry.coordinates",
                                        format!(
                                            "latitude {lat} is out of range (-90 to 90; GeoJSON gives [lon, lat])"
                                        ),
                                    );
                                    ok = false;
                                }
                                ok.then_some((lat, lon))
                            }
                            _ => {
                                fail(
                                    "geometry.coordinates",
                                    "must be numbers [longitude, latitude]".into(),
                                );
                                None
                            }
                        }
                    }
                    _ => {
                        fail(
                            "geometry.coordinates",
                            "must be [longitude, latitude] (or with an altitude)".into(),
                        );
                        None
                    }
                }
            }
        }
        None | Some(Value::Null) => {
            fail(
                "geometry",
                "missing: a Point locates the observation".into(),
            );
            None
        }
        Some(other) => {
            fail(
                "geometry",
                format!("must be an object, not {}", json_type(other)),
            );
            None
        }
    };
    let payload = match f.get("properties") {
        Some(Value::Object(p)) => match p.get("observation") {
            Some(nested) => nested_observation(nested, point, agreement, &mut fail),
            None => flat_observation(p, point, &mut fail),
        },
        None | Some(Value::Null) => {
            fail(
                "properties",
                "missing: the observation's fields (at least type and from) are properties".into(),
            );
            None
        }
        Some(other) => {
            fail(
                "properties",
                format!("must be an object, not {}", json_type(other)),
            );
            None
        }
    };
    let result = match payload {
        Some(p) if problems.is_empty() => Ok(p),
        _ if !problems.is_empty() => Err(Reject::problems("field", &problems)),
        _ => Err(Reject::new("feature", "the feature could not be mapped")),
    };
    (id, result)
}

/// `properties.observation`: the §5 payload, with the point from the geometry.
fn nested_observation(
    v: &Value,
    point: Option<(f64, f64)>,
    agreement: &str,
    fail: &mut impl FnMut(&str, String),
) -> Option<Map<String, Value>> {
    let Value::Object(o) = v else {
        fail(
            "properties.observation",
            format!("must be an object, not {}", json_type(v)),
        );
        return None;
    };
    let mut o = o.clone();
    let mut ok = true;
    if o.remove("id").is_some() {
        fail(
            "properties.observation.id",
            "the entry id is the feature's id; remove this field".into(),
        );
        ok = false;
    }
    match o.remove("agreement") {
        None => {}
        Some(Value::String(a)) if a == agreement => {}
        Some(other) => {
            fail(
                "properties.observation.agreement",
                format!(
                    "{} differs from the agreement imported under ({agreement}); remove it or \
                     pass --agreement",
                    bounded(&other.to_string(), 80)
                ),
            );
            ok = false;
        }
    }
    let Some(event) = o.get_mut("event") else {
        fail("properties.observation.event", "missing".into());
        return None;
    };
    let Value::Object(event) = event else {
        fail(
            "properties.observation.event",
            format!("must be an object, not {}", json_type(event)),
        );
        return None;
    };
    if event.contains_key("sector") {
        fail(
            "properties.observation.event.sector",
            "the feature's Point is the event's location; a sector cannot locate it as well".into(),
        );
        ok = false;
    }
    let location = event
        .entry("location")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(location) = location else {
        fail(
            "properties.observation.event.location",
            "must be an object (with at most radius_m: the Point gives lat and lon)".into(),
        );
        return None;
    };
    for k in ["lat", "lon"] {
        if location.contains_key(k) {
            fail(
                &format!("properties.observation.event.location.{k}"),
                "the feature's Point gives the location; remove this field".into(),
            );
            ok = false;
        }
    }
    let (lat, lon) = point?;
    location.insert("lat".into(), json!(lat));
    location.insert("lon".into(), json!(lon));
    ok.then_some(o)
}

/// Flat `properties` (docs/import.md): each key one observation field.
fn flat_observation(
    p: &Map<String, Value>,
    point: Option<(f64, f64)>,
    fail: &mut impl FnMut(&str, String),
) -> Option<Map<String, Value>> {
    let mut ok = true;
    let mut unknown: Vec<&String> = p
        .keys()
        .filter(|k| !FLAT_PROPERTIES.contains(&k.as_str()))
        .collect();
    unknown.sort();
    for k in unknown {
        fail(
            &format!("properties.{}", bounded(k, 60)),
            format!(
                "unknown property; expected one of: {} (or one `observation` object)",
                FLAT_PROPERTIES.join(", ")
            ),
        );
        ok = false;
    }
    for k in ["type", "from"] {
        if !p.contains_key(k) {
            fail(&format!("properties.{k}"), "missing".into());
            ok = false;
        }
    }
    if p.contains_key("calibre_mm") && !p.contains_key("weapon") {
        fail(
            "properties.calibre_mm",
            "needs `weapon` (the weapon class the calibre belongs to)".into(),
        );
        ok = false;
    }
    let (lat, lon) = point?;
    if !ok {
        return None;
    }
    let get = |k: &str| p.get(k).cloned();
    let mut location = json!({"lat": lat, "lon": lon});
    if let Some(r) = get("radius_m") {
        location["radius_m"] = r;
    }
    let mut event = Map::new();
    event.insert("type".into(), get("type")?);
    for k in ["count", "approx", "targets"] {
        if let Some(v) = get(k) {
            event.insert(k.into(), v);
        }
    }
    event.insert("location".into(), location);
    if let Some(w) = get("weapon") {
        let mut weapon = json!({"class": w});
        if let Some(c) = get("calibre_mm") {
            weapon["calibre_mm"] = c;
        }
        event.insert("weapon".into(), weapon);
    }
    if let Some(b) = get("origin_bearing_deg") {
        event.insert("direction".into(), json!({"origin_bearing_deg": b}));
    }
    let from = get("from")?;
    let to = get("to").unwrap_or_else(|| from.clone());
    let mut o = Map::new();
    o.insert("observed".into(), json!({"from": from, "to": to}));
    o.insert("event".into(), Value::Object(event));
    if let Some(m) = get("mode") {
        o.insert("observer".into(), json!({"mode": m}));
    }
    if let Some(c) = get("credibility") {
        o.insert("grading".into(), json!({"credibility": c}));
    }
    for k in ["casualties", "evidence", "narrative", "alleged_party"] {
        if let Some(v) = get(k) {
            o.insert(k.into(), v);
        }
    }
    Some(o)
}

/// JSON with object keys sorted (byte order) at every level, no whitespace: the payload bytes
/// do not depend on how a map orders its keys, so the same row always signs the same bytes.
fn canonical_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Writing JSON into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                write_canonical(&m[k.as_str()], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

/// Streams a FeatureCollection: `on_feature(n, feature)` for each feature as it is read (`n`
/// from 1); it returns false to stop.
struct CollectionSeed<'a> {
    on_feature: &'a mut dyn FnMut(u64, Value) -> bool,
    limit: &'a Limit,
}

/// What the streaming read saw at the top level.
#[derive(Default)]
struct CollectionInfo {
    /// `"type": "FeatureCollection"` was seen.
    is_collection: bool,
    features: Option<u64>,
}

/// The error message [`FeaturesSeed`] stops with when `on_feature` asks to stop.
const STOPPED: &str = "import stopped";

impl<'de> DeserializeSeed<'de> for CollectionSeed<'_> {
    type Value = CollectionInfo;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<CollectionInfo, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CollectionSeed<'_> {
    type Value = CollectionInfo;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GeoJSON FeatureCollection object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CollectionInfo, A::Error> {
        let mut info = CollectionInfo::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => {
                    let t: Value = map.next_value()?;
                    if t != "FeatureCollection" {
                        return Err(de::Error::custom(format!(
                            "\"type\" is {}, not \"FeatureCollection\"",
                            bounded(&t.to_string(), 40)
                        )));
                    }
                    info.is_collection = true;
                }
                "features" if info.features.is_some() => {
                    return Err(de::Error::custom("\"features\" appears twice"));
                }
                "features" => {
                    info.features = Some(map.next_value_seed(FeaturesSeed {
                        on_feature: &mut *self.on_feature,
                        limit: self.limit,
                    })?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(info)
    }
}

struct FeaturesSeed<'a> {
    on_feature: &'a mut dyn FnMut(u64, Value) -> bool,
    limit: &'a Limit,
}

impl<'de> DeserializeSeed<'de> for FeaturesSeed<'_> {
    type Value = u64;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for FeaturesSeed<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of GeoJSON features")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut n = 0u64;
        loop {
            self.limit.reset();
            let Some(feature) = seq.next_element::<Value>()? else {
                break;
            };
            n += 1;
            if !(self.on_feature)(n, feature) {
                return Err(de::Error::custom(STOPPED));
            }
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// The pipeline: read and sign (this thread), submit (workers), tally and check (collector).

/// A signed row, ready to post.
struct Job {
    row: u64,
    line: Option<u64>,
    id: String,
    canonical: Vec<u8>,
    envelope_sha256: [u8; 32],
}

/// What became of a row.
enum Outcome {
    /// The server logged it (or had logged it), and the inclusion proof verifies.
    Receipt {
        row: u64,
        line: Option<u64>,
        id: String,
        index: u64,
        leaf_hash: [u8; 32],
        checkpoint_size: u64,
        envelope_sha256: [u8; 32],
    },
    /// Not logged.
    Rejected {
        row: u64,
        line: Option<u64>,
        id: Option<String>,
        reject: Reject,
    },
    /// Not attempted: the import stopped first.
    Skipped,
}

/// A receipt whose leaf is still to be read back.
struct Pending {
    row: u64,
    line: Option<u64>,
    id: String,
    index: u64,
    leaf_hash: [u8; 32],
    checkpoint_size: u64,
    envelope_sha256: [u8; 32],
    already: bool,
}

/// Shared between the threads.
struct Shared<'a> {
    setup: &'a Setup,
    stop: AtomicBool,
    stop_reason: Mutex<Option<String>>,
    rate_limited: AtomicU64,
    unavailable: AtomicU64,
}

impl Shared<'_> {
    fn stop(&self, why: String) {
        if let Ok(mut r) = self.stop_reason.lock()
            && r.is_none()
        {
            *r = Some(why);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The file cannot be read further: reading stops, what was queued is still submitted, and
    /// the import ends with exit status 2.
    fn file_failed(&self, why: String) {
        if let Ok(mut r) = self.stop_reason.lock()
            && r.is_none()
        {
            *r = Some(why);
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps `d`, waking early if the import stops; false if it did.
    fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if self.stopped() {
                return false;
            }
            std::thread::sleep(
                until
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(100)),
            );
        }
        !self.stopped()
    }
}

/// The result of an import.
struct Summary {
    rows: u64,
    logged: u64,
    already: u64,
    rejected: u64,
    by_reason: BTreeMap<String, u64>,
    not_attempted: u64,
    rate_limited: u64,
    unavailable: u64,
    elapsed: Duration,
    stopped: Option<String>,
    rejects_written: bool,
}

/// Counts and the rejects file, owned by the collector.
struct Tally {
    logged: u64,
    already: u64,
    rejected: u64,
    by_reason: BTreeMap<String, u64>,
    skipped: u64,
    /// Indexes first logged by this run (a row repeated in the file comes back with one).
    new_indexes: HashSet<u64>,
    rejects: Option<BufWriter<File>>,
    rejects_error: Option<String>,
}

impl Tally {
    fn reject(&mut self, row: u64, line: Option<u64>, id: Option<&str>, r: &Reject) {
        self.rejected += 1;
        *self.by_reason.entry(r.class.clone()).or_default() += 1;
        let mut v = json!({"row": row, "id": id, "reason": r.reason});
        if let Some(l) = line {
            v["line"] = json!(l);
        }
        if let Some(s) = r.status {
            v["status"] = json!(s);
        }
        if !r.errors.is_empty() {
            v["errors"] = Value::Array(r.errors.clone());
        }
        if let Some(w) = &mut self.rejects {
            let mut bytes = canonical_json(&v);
            bytes.push(b'\n');
            if let Err(e) = w.write_all(&bytes) {
                self.rejects_error = Some(e.to_string());
                self.rejects = None;
            }
        }
    }
}

impl Setup {
    fn import(&self) -> Summary {
        let started = Instant::now();
        let shared = Shared {
            setup: self,
            stop: AtomicBool::new(false),
            stop_reason: Mutex::new(None),
            rate_limited: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
        };
        let rejects = match File::create(&self.rejects_path) {
            Ok(f) => Some(BufWriter::new(f)),
            Err(e) => {
                shared.stop(format!("--rejects {}: {e}", self.rejects_path.display()));
                None
            }
        };
        let mut tally = Tally {
            logged: 0,
            already: 0,
            rejected: 0,
            by_reason: BTreeMap::new(),
            skipped: 0,
            new_indexes: HashSet::new(),
            rejects,
            rejects_error: None,
        };
        let file_len = std::fs::metadata(&self.file).map(|m| m.len()).unwrap_or(0);
        let bar = ProgressBar::with_draw_target(Some(file_len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        let rows = AtomicU64::new(0);

        if !shared.stopped() {
            let (job_tx, job_rx) = mpsc::sync_channel::<Job>(self.concurrency * 4);
            let job_rx = Mutex::new(job_rx);
            let (out_tx, out_rx) = mpsc::channel::<Outcome>();
            std::thread::scope(|s| {
                for _ in 0..self.concurrency {
                    let out_tx = out_tx.clone();
                    let (shared, job_rx) = (&shared, &job_rx);
                    s.spawn(move || worker(shared, job_rx, &out_tx));
                }
                let collector = {
                    let (shared, tally, bar, rows) = (&shared, &mut tally, &bar, &rows);
                    s.spawn(move || collect(shared, out_rx, tally, bar, rows))
                };
                self.read(&shared, &job_tx, &out_tx, &bar, &rows);
                drop(job_tx);
                drop(out_tx);
                let _ = collector.join();
            });
        }
        bar.finish_and_clear();

        let mut rejects_written = tally.rejected > 0;
        if let Some(mut w) = tally.rejects.take()
            && let Err(e) = w.flush()
        {
            tally.rejects_error = Some(e.to_string());
        }
        if let Some(e) = &tally.rejects_error {
            shared.stop(format!(
                "writing the rejects file {}: {e}",
                self.rejects_path.display()
            ));
            rejects_written = false;
        }
        if tally.rejected == 0 && tally.rejects_error.is_none() {
            // Nothing to report: no stale file from an earlier run either.
            let _ = std::fs::remove_file(&self.rejects_path);
        }
        let stopped = shared.stop_reason.lock().ok().and_then(|r| r.clone());
        let rows = rows.load(Ordering::SeqCst);
        Summary {
            rows,
            logged: tally.logged,
            already: tally.already,
            rejected: tally.rejected,
            by_reason: tally.by_reason,
            not_attempted: tally.skipped,
            rate_limited: shared.rate_limited.load(Ordering::SeqCst),
            unavailable: shared.unavailable.load(Ordering::SeqCst),
            elapsed: started.elapsed(),
            stopped,
            rejects_written,
        }
    }

    /// Reads the file, mapping, checking and signing each record; queues the results.
    fn read(
        &self,
        shared: &Shared,
        jobs: &mpsc::SyncSender<Job>,
        outcomes: &mpsc::Sender<Outcome>,
        bar: &ProgressBar,
        rows: &AtomicU64,
    ) {
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let name = self.file.display().to_string();
        let file = match File::open(&self.file) {
            Ok(f) => f,
            Err(e) => {
                shared.file_failed(format!("{name}: {e}"));
                return;
            }
        };
        let limit = Limit::new(MAX_RECORD_BYTES);
        let reader = Limited {
            inner: file,
            limit: limit.clone(),
        };
        // One row: map, check, sign, and hand on. False once the import has stopped.
        let handle = |row: u64,
                      line: Option<u64>,
                      mapped: (Option<String>, Result<Map<String, Value>, Reject>)|
         -> bool {
            rows.fetch_add(1, Ordering::SeqCst);
            bar.set_position(limit.total());
            if shared.stopped() {
                let _ = outcomes.send(Outcome::Skipped);
                return false;
            }
            let (id, payload) = mapped;
            let result = payload.and_then(|p| self.sign(id.as_deref(), p, now_ms));
            match result {
                Ok((canonical, envelope_sha256)) => {
                    let job = Job {
                        row,
                        line,
                        id: id.unwrap_or_default(),
                        canonical,
                        envelope_sha256,
                    };
                    jobs.send(job).is_ok()
                }
                Err(reject) => outcomes
                    .send(Outcome::Rejected {
                        row,
                        line,
                        id,
                        reject,
                    })
                    .is_ok(),
            }
        };
        match self.format {
            Format::Ucdp | Format::Acled => {
                let (required, map): (&[&str], MapFn) = if self.format == Format::Ucdp {
                    (UCDP_COLUMNS, map_ucdp)
                } else {
                    (ACLED_COLUMNS, map_acled)
                };
                let mut rdr = csv::ReaderBuilder::new()
                    .flexible(true)
                    .has_headers(true)
                    .from_reader(reader);
                let headers = match rdr.byte_headers() {
                    Ok(h) => h.clone(),
                    Err(e) => {
                        shared
                            .file_failed(format!("{name}: reading the header: {}", csv_error(&e)));
                        return;
                    }
                };
                let cols = Columns::new(&headers);
                let missing = cols.missing(required);
                if !missing.is_empty() {
                    shared.file_failed(format!(
                        "{name}: not a{} {} file: the header lacks the column{} {}",
                        if self.format == Format::Acled {
                            "n"
                        } else {
                            ""
                        },
                        if self.format == Format::Ucdp {
                            "UCDP GED CSV"
                        } else {
                            "ACLED CSV"
                        },
                        if missing.len() == 1 { "" } else { "s" },
                        missing.join(", ")
                    ));
                    return;
                }
                let mut rec = csv::ByteRecord::new();
                let mut row = 0u64;
                loop {
                    limit.reset();
                    match rdr.read_byte_record(&mut rec) {
                        Ok(false) => break,
                        Ok(true) => {
                            row += 1;
                            let line = rec.position().map(csv::Position::line);
                            let mapped = if rec.len() != cols.len {
                                let (id, _) = map(&cols, &rec);
                                (
                                    id,
                                    Err(Reject::new(
                                        "record length",
                                        format!(
                                            "the record has {} fields, the header {}",
                                            rec.len(),
                                            cols.len
                                        ),
                                    )),
                                )
                            } else {
                                map(&cols, &rec)
                            };
                            if !handle(row, line, mapped) {
                                break;
                            }
                        }
                        Err(e) => {
                            // Where the failing record starts: its own position, else where
                            // the reader stands (after the last good record).
                            let line = e.position().unwrap_or(rdr.position()).line();
                            let at = format!("record {} (line {line})", row + 1);
                            shared.file_failed(format!("{name}: {at}: {}", csv_error(&e)));
                            break;
                        }
                    }
                }
            }
            Format::Geojson => {
                let mut de = serde_json::Deserializer::from_reader(BufReader::new(reader));
                let agreement = self.agreement.clone();
                let mut on_feature =
                    |n: u64, v: Value| handle(n, None, map_feature(&v, &agreement));
                let seed = CollectionSeed {
                    on_feature: &mut on_feature,
                    limit: &limit,
                };
                let result = seed.deserialize(&mut de).and_then(|info| {
                    de.end()?;
                    Ok(info)
                });
                match result {
                    Ok(info) if !info.is_collection => shared.file_failed(format!(
                        "{name}: not a GeoJSON FeatureCollection: no \"type\": \
                         \"FeatureCollection\""
                    )),
                    Ok(info) if info.features.is_none() => shared.file_failed(format!(
                        "{name}: the FeatureCollection has no \"features\" array"
                    )),
                    Ok(_) => {}
                    Err(_) if shared.stopped() => {}
                    Err(e) => {
                        let why = if io_error_is_too_long(&e) {
                            format!(
                                "a feature is longer than {MAX_RECORD_BYTES} bytes (an entry \
                                 holds at most 64 KiB)"
                            )
                        } else {
                            e.to_string()
                        };
                        shared.file_failed(format!(
                            "{name}: line {} column {}: not a GeoJSON FeatureCollection: {why}",
                            e.line(),
                            e.column()
                        ));
                    }
                }
            }
        }
        bar.set_position(limit.total());
    }

    /// Completes, checks and signs one payload; returns the envelope and its SHA-256.
    fn sign(
        &self,
        id: Option<&str>,
        mut payload: Map<String, Value>,
        now_ms: i64,
    ) -> Result<(Vec<u8>, [u8; 32]), Reject> {
        let id = id.ok_or_else(|| Reject::new("id", "no entry id"))?;
        payload.insert("id".into(), Value::String(id.to_string()));
        payload.insert("agreement".into(), Value::String(self.agreement.clone()));
        let errors = match Observation::parse(&payload) {
            Ok(o) => o.check_at(now_ms),
            Err(errors) => errors,
        };
        if !errors.is_empty() {
            let class = format!(
                "observation {}",
                if errors[0].pointer.is_empty() {
                    "/"
                } else {
                    &errors[0].pointer
                }
            );
            let reason = format!(
                "not a valid observation: {}",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.pointer, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            let mut r = Reject::new(class, reason);
            r.errors = errors
                .iter()
                .map(|e| json!({"pointer": e.pointer, "detail": e.message}))
                .collect();
            return Err(r);
        }
        let bytes = canonical_json(&Value::Object(payload));
        let envelope = submit::sign(Kind::Observation, &bytes, &self.key)
            .map_err(|f| Reject::new("entry size", f.message))?;
        let canonical = envelope.canonical_json();
        let sha: [u8; 32] = Sha256::digest(&canonical).into();
        Ok((canonical, sha))
    }
}

type MapFn = fn(&Columns, &csv::ByteRecord) -> (Option<String>, Result<Map<String, Value>, Reject>);

fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Io(io) if io.to_string() == TOO_LONG => {
            format!("a record is longer than {MAX_RECORD_BYTES} bytes (is this a CSV file?)")
        }
        _ => e.to_string(),
    }
}

fn io_error_is_too_long(e: &serde_json::Error) -> bool {
    e.is_io() && e.to_string().contains(TOO_LONG)
}

/// Posts jobs until there are none.
fn worker(shared: &Shared, jobs: &Mutex<mpsc::Receiver<Job>>, outcomes: &mpsc::Sender<Outcome>) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let outcome = if shared.stopped() {
            Outcome::Skipped
        } else {
            post(shared, job)
        };
        if outcomes.send(outcome).is_err() {
            return;
        }
    }
}

/// Posts one entry, retrying what deserves a retry; verifies the receipt's proof.
fn post(shared: &Shared, job: Job) -> Outcome {
    let setup = shared.setup;
    let rejected = |reject: Reject| Outcome::Rejected {
        row: job.row,
        line: job.line,
        id: Some(job.id.clone()),
        reject,
    };
    let url = match join(&setup.base, "v1/entries") {
        Ok(u) => u,
        Err(f) => {
            shared.stop(f.message);
            return Outcome::Skipped;
        }
    };
    let mut unavailable_tries = 0u32;
    let mut rate_limited_for = Duration::ZERO;
    loop {
        if shared.stopped() {
            return Outcome::Skipped;
        }
        let sent = setup
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(job.canonical.clone())
            .send();
        let transient = match sent {
            Err(e) => format!("POST {url}: {}", error_chain(&e.without_url())),
            Ok(resp) => {
                let status = resp.status().as_u16();
                match status {
                    200 => match read_limited(resp) {
                        // The entry may be logged: posting it again is idempotent.
                        Err(e) => format!("POST {url}: reading the receipt: {e}"),
                        Ok(answer) => {
                            return match verify_receipt(&answer, &setup.log_key, &setup.origin) {
                                Ok((index, leaf_hash, checkpoint_size)) => Outcome::Receipt {
                                    row: job.row,
                                    line: job.line,
                                    id: job.id.clone(),
                                    index,
                                    leaf_hash,
                                    checkpoint_size,
                                    envelope_sha256: job.envelope_sha256,
                                },
                                Err(why) => rejected(Reject::new(
                                    "receipt does not verify",
                                    format!(
                                        "the server answered 200, but its receipt does not verify: {why}"
                                    ),
                                )),
                            };
                        }
                    },
                    429 => {
                        shared.rate_limited.fetch_add(1, Ordering::Relaxed);
                        let wait = retry_after(&resp).unwrap_or(Duration::from_secs(1));
                        drop(resp);
                        rate_limited_for += wait;
                        if rate_limited_for > MAX_RATE_LIMITED {
                            shared.stop(format!(
                                "row {} ({}): rate-limited (429) for more than {} minutes",
                                job.row,
                                job.id,
                                MAX_RATE_LIMITED.as_secs() / 60
                            ));
                            return Outcome::Skipped;
                        }
                        if !shared.sleep(wait) {
                            return Outcome::Skipped;
                        }
                        continue;
                    }
                    408 | 502 | 503 | 504 => {
                        let wait = retry_after(&resp);
                        let (_, detail) = problem(resp);
                        if let Some(w) = wait {
                            shared.unavailable.fetch_add(1, Ordering::Relaxed);
                            unavailable_tries += 1;
                            if unavailable_tries >= MAX_UNAVAILABLE_TRIES {
                                shared.stop(format!("POST {url}: HTTP {status}: {detail}"));
                                return Outcome::Skipped;
                            }
                            if !shared.sleep(w) {
                                return Outcome::Skipped;
                            }
                            continue;
                        }
                        format!("POST {url}: HTTP {status}: {detail}")
                    }
                    401 | 403 => {
                        let (p, detail) = problem(resp);
                        shared.stop(format!(
                            "the server refuses the key (HTTP {status}): {detail}"
                        ));
                        let mut r = Reject::new(
                            format!("server HTTP {status}"),
                            format!("refused (HTTP {status}): {detail}"),
                        );
                        r.status = Some(status);
                        r.errors = problem_errors(p.as_ref());
                        return rejected(r);
                    }
                    404 | 405 => {
                        let (_, detail) = problem(resp);
                        shared.stop(format!(
                            "POST {url}: HTTP {status}: {detail} (is --server a truce server?)"
                        ));
                        return Outcome::Skipped;
                    }
                    _ => {
                        let (p, detail) = problem(resp);
                        let errors = problem_errors(p.as_ref());
                        let pointer = errors
                            .first()
                            .and_then(|e| e["pointer"].as_str())
                            .map(|p| format!(" {}", if p.is_empty() { "/" } else { p }))
                            .unwrap_or_default();
                        let mut reason = format!("refused (HTTP {status}): {detail}");
                        for e in &errors {
                            reason.push_str(&format!(
                                "; {}: {}",
                                e["pointer"].as_str().unwrap_or(""),
                                e["detail"].as_str().unwrap_or("")
                            ));
                        }
                        let mut r = Reject::new(format!("server HTTP {status}{pointer}"), reason);
                        r.status = Some(status);
                        r.errors = errors;
                        return rejected(r);
                    }
                }
            }
        };
        // Unavailable or unreachable: back off and try again, a bounded number of times.
        shared.unavailable.fetch_add(1, Ordering::Relaxed);
        unavailable_tries += 1;
        if unavailable_tries >= MAX_UNAVAILABLE_TRIES {
            shared.stop(format!(
                "{transient} (gave up after {MAX_UNAVAILABLE_TRIES} tries)"
            ));
            return Outcome::Skipped;
        }
        let backoff = Duration::from_millis(250u64 << (unavailable_tries - 1).min(5));
        if !shared.sleep(backoff) {
            return Outcome::Skipped;
        }
    }
}

/// `Retry-After` in seconds (HTTP dates are not used by truce servers), capped.
fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp.headers().get(reqwest::header::RETRY_AFTER)?;
    let secs: u64 = v.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs.clamp(1, MAX_RETRY_AFTER_SECS)))
}

/// The problem document of an error answer (if JSON) and its `detail` (or the body's start).
fn problem(resp: Response) -> (Option<Value>, String) {
    let body = read_limited(resp).unwrap_or_default();
    let p: Option<Value> = serde_json::from_slice(&body).ok().filter(Value::is_object);
    let detail = match &p {
        Some(p) => p["detail"].as_str().map(clean).unwrap_or_default(),
        None => clean(&String::from_utf8_lossy(&body[..body.len().min(300)])),
    };
    (p, detail)
}

fn problem_errors(p: Option<&Value>) -> Vec<Value> {
    p.and_then(|p| p["errors"].as_array())
        .map(|a| {
            a.iter()
                .take(64)
                .map(|e| {
                    json!({"pointer": e["pointer"].as_str().map(clean).unwrap_or_default(),
                           "detail": e["detail"].as_str().map(clean).unwrap_or_default()})
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The server's words end up in files and on terminals: no control characters, bounded.
fn clean(s: &str) -> String {
    bounded(s, 1_000)
}

/// Checks `{index, leaf_hash, proof}`: the proof verifies `leaf_hash` at `index` in a checkpoint
/// signed by the log key. Returns the index, the leaf hash and the checkpoint's size.
/// The receipt in `body`, verified with [`submit::verify_receipt`]: (index, leaf hash, size).
fn verify_receipt(
    body: &[u8],
    log_key: &VerifierKey,
    origin: &str,
) -> Result<(u64, [u8; 32], u64), String> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|e| format!("the receipt is not JSON: {e}"))?;
    let v = submit::verify_receipt(&answer, log_key, origin)?;
    Ok((v.index, v.leaf_hash, v.checkpoint.size))
}

/// Tallies outcomes, writes rejects, and reads back receipted leaves in batches.
fn collect(
    shared: &Shared,
    outcomes: mpsc::Receiver<Outcome>,
    tally: &mut Tally,
    bar: &ProgressBar,
    rows: &AtomicU64,
) {
    let mut pending: Vec<Pending> = Vec::new();
    let mut last_message: Option<Instant> = None;
    for outcome in outcomes {
        match outcome {
            Outcome::Receipt {
                row,
                line,
                id,
                index,
                leaf_hash,
                checkpoint_size,
                envelope_sha256,
            } => {
                let already = index < shared.setup.start_size || !tally.new_indexes.insert(index);
                if already {
                    tally.already += 1;
                } else {
                    tally.logged += 1;
                }
                pending.push(Pending {
                    row,
                    line,
                    id,
                    index,
                    leaf_hash,
                    checkpoint_size,
                    envelope_sha256,
                    already,
                });
                if pending.len() >= LEAF_CHECK_BATCH {
                    check_leaves(shared, &mut pending, tally);
                }
            }
            Outcome::Rejected {
                row,
                line,
                id,
                reject,
            } => tally.reject(row, line, id.as_deref(), &reject),
            Outcome::Skipped => tally.skipped += 1,
        }
        if last_message.is_none_or(|t| t.elapsed() >= Duration::from_millis(100)) {
            last_message = Some(Instant::now());
            bar.set_message(format!(
                "{} rows: {} logged, {} already, {} rejected",
                rows.load(Ordering::Relaxed),
                tally.logged,
                tally.already,
                tally.rejected
            ));
        }
    }
    check_leaves(shared, &mut pending, tally);
}

/// Reads back the entry bundles holding the pending receipts' leaves, and checks that each
/// leaf hashes to its receipt's leaf hash and holds the envelope that was posted. A mismatch
/// turns the row into a reject; a bundle that cannot be read stops the import.
fn check_leaves(shared: &Shared, pending: &mut Vec<Pending>, tally: &mut Tally) {
    if pending.is_empty() {
        return;
    }
    let width = u64::from(TILE_WIDTH);
    let size = pending.iter().map(|p| p.checkpoint_size).max().unwrap_or(0);
    let mut by_tile: BTreeMap<u64, Vec<Pending>> = BTreeMap::new();
    for p in pending.drain(..) {
        by_tile.entry(p.index / width).or_default().push(p);
    }
    for (n, ps) in by_tile {
        let leaves = match fetch_bundle(shared, n, size) {
            Ok(leaves) => leaves,
            Err(why) => {
                // The rows stay counted as logged (their inclusion proofs verified); the import
                // stops, and the remaining bundles are not tried.
                shared.stop(format!(
                    "reading back logged entries to check their receipts: {why}"
                ));
                return;
            }
        };
        for p in ps {
            let problem = leaf_problem(&leaves, &p);
            if let Some(why) = problem {
                if p.already {
                    tally.already -= 1;
                } else {
                    tally.logged -= 1;
                }
                tally.reject(
                    p.row,
                    p.line,
                    Some(&p.id),
                    &Reject::new(
                        "receipt does not verify",
                        format!("the server's receipt does not verify: {why}"),
                    ),
                );
            }
        }
    }
}

/// Why the leaf of `p` in its entry bundle is not what the receipt says, if it is not.
fn leaf_problem(leaves: &[Vec<u8>], p: &Pending) -> Option<String> {
    let at = usize::try_from(p.index % u64::from(TILE_WIDTH)).unwrap_or(usize::MAX);
    let Some(leaf) = leaves.get(at) else {
        return Some(format!("the entry bundle has no leaf {}", p.index));
    };
    if leaf_hash(leaf) != p.leaf_hash {
        return Some(format!(
            "leaf {} of the log hashes to {}, not to the receipt's {}",
            p.index,
            submit::hex(&leaf_hash(leaf)),
            submit::hex(&p.leaf_hash)
        ));
    }
    match Leaf::decode(leaf) {
        Err(e) => Some(format!("leaf {}: {e}", p.index)),
        Ok(l) => {
            let sha: [u8; 32] = Sha256::digest(l.envelope.canonical_json()).into();
            (sha != p.envelope_sha256).then(|| {
                format!(
                    "leaf {} of the log is another entry than the one submitted",
                    p.index
                )
            })
        }
    }
}

/// Entry bundle `n` of the tree of `size` leaves, split into leaves. Retries an unavailable
/// server unless the import has stopped.
fn fetch_bundle(shared: &Shared, n: u64, size: u64) -> Result<Vec<Vec<u8>>, String> {
    let setup = shared.setup;
    let tile = tile::tile_for(TileLevel::Entries, n, size)
        .ok_or_else(|| format!("no entry bundle {n} in a tree of {size}"))?;
    let path = tile.path();
    let url = join(&setup.base, &format!("log/{path}")).map_err(|f| f.message)?;
    let mut last = String::new();
    for attempt in 0..MAX_UNAVAILABLE_TRIES {
        if attempt > 0 && !shared.sleep(Duration::from_millis(250u64 << (attempt - 1).min(5))) {
            break;
        }
        let resp = match setup
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT_ENCODING, "identity")
            .send()
        {
            Ok(r) => r,
            Err(e) => {
                last = format!("GET {url}: {}", error_chain(&e.without_url()));
                continue;
            }
        };
        let status = resp.status().as_u16();
        if matches!(status, 408 | 429 | 502 | 503 | 504) {
            last = format!("GET {url}: HTTP {status}");
            continue;
        }
        if status != 200 {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        let max = truce_log::audit::max_response_bytes(&path) as u64;
        let mut bytes = Vec::new();
        resp.take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("GET {url}: {e}"))?;
        let leaves = tile::decode_tile_bundle(&tile, &bytes).map_err(|e| format!("{path}: {e}"))?;
        return Ok(leaves.into_iter().map(<[u8]>::to_vec).collect());
    }
    Err(last)
}

// ---------------------------------------------------------------------------------------------
// The summary.

impl Summary {
    fn exit_code(&self) -> u8 {
        if self.stopped.is_some() {
            2
        } else if self.rejected > 0 {
            1
        } else {
            0
        }
    }

    fn print(&self, setup: &Setup, json: bool) -> ExitCode {
        let code = self.exit_code();
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.rows as f64 / secs
        } else {
            0.0
        };
        let rejects = self
            .rejects_written
            .then(|| setup.rejects_path.display().to_string());
        if let Some(why) = &self.stopped {
            eprintln!("truce: import: stopped: {why}");
            if self.not_attempted > 0 {
                eprintln!(
                    "truce: import: {} row(s) read but not submitted; rows after them not read. \
                     Run the same import again to continue: rows already logged are recognised.",
                    self.not_attempted
                );
            }
        }
        if json {
            let v = json!({
                "ok": code == 0,
                "exit": code,
                "format": setup.format.as_str(),
                "file": setup.file.display().to_string(),
                "agreement": setup.agreement,
                "rows": self.rows,
                "logged": self.logged,
                "already_logged": self.already,
                "rejected": self.rejected,
                "rejected_by_reason": self.by_reason,
                "not_attempted": self.not_attempted,
                "retries": {"rate_limited": self.rate_limited, "unavailable": self.unavailable},
                "elapsed_s": (secs * 1000.0).round() / 1000.0,
                "rows_per_s": (rate * 10.0).round() / 10.0,
                "rejects_file": rejects,
                "stopped": self.stopped,
            });
            out!("{v}");
        } else {
            out!(
                "import {} {} under agreement {}",
                setup.format.as_str(),
                setup.file.display(),
                setup.agreement
            );
            out!("  rows read:       {}", self.rows);
            out!("  logged:          {}", self.logged);
            out!("  already logged:  {}", self.already);
            out!("  rejected:        {}", self.rejected);
            for (class, n) in &self.by_reason {
                out!("    {n:>7}  {class}");
            }
            if self.not_attempted > 0 {
                out!("  not attempted:   {}", self.not_attempted);
            }
            if self.rate_limited + self.unavailable > 0 {
                out!(
                    "  retries:         {} rate-limited (429), {} unavailable",
                    self.rate_limited,
                    self.unavailable
                );
            }
            out!("  elapsed:         {secs:.1} s ({rate:.0} rows/s)");
            if let Some(r) = &rejects {
                out!("  rejects:         {r}");
            }
        }
        ExitCode::from(code)
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers.

fn get_json(client: &Client, base: &Url, path: &str) -> Result<Value, String> {
    let url = join(base, path).map_err(|f| f.message)?;
    let resp = client
        .get(url.clone())
        .send()
        .map_err(|e| format!("GET {url}: {}", error_chain(&e.without_url())))?;
    read_ok_json(resp, &url)
}

fn read_ok_json(resp: Response, url: &Url) -> Result<Value, String> {
    let status = resp.status();
    if !status.is_success() {
        let (_, detail) = problem(resp);
        return Err(format!(
            "GET {url}: HTTP {status}{}{}",
            if detail.is_empty() { "" } else { ": " },
            detail
        ));
    }
    let body = read_limited(resp).map_err(|e| format!("GET {url}: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(header: &str, row: &str) -> (Columns, csv::ByteRecord) {
        let text = format!("{header}\n{row}\n");
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let cols = Columns::new(&rdr.byte_headers().unwrap().clone());
        let mut rec = csv::ByteRecord::new();
        assert!(rdr.read_byte_record(&mut rec).unwrap());
        (cols, rec)
    }

    fn check(payload: &Map<String, Value>, id: &str) -> Observation {
        let mut p = payload.clone();
        p.insert("id".into(), json!(id));
        p.insert("agreement".into(), json!("donbas-2026"));
        Observation::parse(&p).unwrap_or_else(|e| panic!("{e:?}\n{}", Value::Object(p)))
    }

    const UCDP_HEADER: &str = "id,relid,type_of_violence,side_a,side_b,where_prec,where_description,adm_1,latitude,longitude,event_clarity,date_prec,date_start,date_end,deaths_a,deaths_b,deaths_civilians,deaths_unknown,best,high,low";

    #[test]
    fn ucdp_row_maps_to_a_valid_observation() {
        let (cols, rec) = record(
            UCDP_HEADER,
            "155426,UKR-2014-1-1-1,1,Government of Ukraine,DPR,2,\"Donetsk,\nairport\",Donetsk oblast,48.07,37.74,1,4,2014-05-01,2014-05-28,1,2,3,1,7,9,6",
        );
        let (id, payload) = map_ucdp(&cols, &rec);
        assert_eq!(id.as_deref(), Some("ucdp-155426"));
        let payload = payload.unwrap();
        let o = check(&payload, "ucdp-155426");
        assert_eq!(o.observed.from.to_string(), "2014-05-01T00:00:00Z");
        assert_eq!(o.observed.to.to_string(), "2014-05-28T23:59:59Z");
        assert_eq!(o.event_point().radius_m, 25_000.0);
        let v = Value::Object(payload);
        assert_eq!(v["event"]["type"], "casualty");
        assert_eq!(
            v["casualties"]["civilian_killed"],
            json!({"low":3,"best":3,"high":3})
        );
        assert_eq!(
            v["casualties"]["combatant_killed"],
            json!({"low":3,"best":3,"high":3})
        );
        // best 7 = 3 + 3 + 1; the range 6..9 of the total is carried by the unknown deaths.
        assert_eq!(
            v["casualties"]["unknown_killed"],
            json!({"low":0,"best":1,"high":3})
        );
        assert_eq!(v["grading"]["credibility"], 2);
        let n = v["narrative"].as_str().unwrap();
        assert!(n.contains("Donetsk, airport, Donetsk oblast"), "{n}");
        assert!(n.contains("date_prec 4"), "{n}");
        assert!(n.contains("CC BY 4.0"), "{n}");
        assert!(!n.contains('\n'));
    }

    /// The example of docs/import.md, from the first row of the repository's GED file.
    #[test]
    fn ucdp_first_row_of_the_data_file_as_documented() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/ucdp_ged_ukraine_2014_2022.csv"
        );
        let mut rdr = csv::Reader::from_path(path).unwrap();
        let cols = Columns::new(&rdr.byte_headers().unwrap().clone());
        let mut rec = csv::ByteRecord::new();
        assert!(rdr.read_byte_record(&mut rec).unwrap());
        let (id, payload) = map_ucdp(&cols, &rec);
        assert_eq!(id.as_deref(), Some("ucdp-147997"));
        let mut p = payload.unwrap();
        p.insert("id".into(), json!("ucdp-147997"));
        p.insert("agreement".into(), json!("donbas-2026"));
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/import.md"))
            .unwrap();
        let start = doc.find("{\"id\":\"ucdp-147997\"").unwrap();
        let end = start + doc[start..].find("\n```").unwrap();
        let documented: Value = serde_json::from_str(&doc[start..end]).unwrap();
        assert_eq!(Value::Object(p), documented);
    }

    #[test]
    fn ucdp_inconsistent_ranges_are_widened_and_said() {
        // GED 413786: low 9, best 2, high 9.
        let (cols, rec) = record(
            UCDP_HEADER,
            "413786,,1,A,B,7,,,47.0,37.0,2,1,2021-01-01,2021-01-01,0,2,0,0,2,9,9",
        );
        let v = Value::Object(map_ucdp(&cols, &rec).1.unwrap());
        assert_eq!(
            v["casualties"]["combatant_killed"],
            json!({"low":2,"best":2,"high":2})
        );
        assert_eq!(
            v["casualties"]["unknown_killed"],
            json!({"low":0,"best":0,"high":7})
        );
        assert_eq!(v["event"]["location"]["radius_m"], 500_000.0);
        assert_eq!(v["grading"]["credibility"], 3);
        assert!(
            v["narrative"]
                .as_str()
                .unwrap()
                .contains("widened to low 2, high 9")
        );
    }

    #[test]
    fn ucdp_problems_name_every_column() {
        let (cols, rec) = record(
            UCDP_HEADER,
            "1,,4,A,B,9,,,95,37.0,1,1,2021-02-30,2021-01-01,0,0,0,1,2,1,1",
        );
        let (id, r) = map_ucdp(&cols, &rec);
        assert_eq!(id.as_deref(), Some("ucdp-1"));
        let r = r.unwrap_err();
        for needle in [
            "column type_of_violence: 4 is out of range",
            "column where_prec: 9 is out of range",
            "column latitude: 95 is out of range",
            "column date_start: \"2021-02-30\" is not a date",
            "column best: 2 is not the sum",
        ] {
            assert!(r.reason.contains(needle), "{needle} in {}", r.reason);
        }
        // The summary counts a row under its first problem.
        assert_eq!(r.class, "column date_start");
    }

    const ACLED_HEADER: &str = "event_id_cnty,event_date,time_precision,event_type,sub_event_type,actor1,actor2,civilian_targeting,admin1,location,latitude,longitude,geo_precision,source,notes,fatalities";

    #[test]
    fn acled_rows_map_by_the_table() {
        let (cols, rec) = record(
            ACLED_HEADER,
            "UKR1,24 February 2022,2,Explosions/Remote violence,Shelling/artillery/missile attack,A,B,,Donetsk,Avdiivka,48.14,37.74,1,Src,\"Shelling, two killed.\",2",
        );
        let (id, p) = map_acled(&cols, &rec);
        assert_eq!(id.as_deref(), Some("acled-UKR1"));
        let p = p.unwrap();
        let o = check(&p, "acled-UKR1");
        assert_eq!(o.observed.from.to_string(), "2022-02-18T00:00:00Z");
        assert_eq!(o.observed.to.to_string(), "2022-03-02T23:59:59Z");
        let v = Value::Object(p);
        assert_eq!(v["event"]["type"], "impact");
        assert_eq!(v["event"]["location"]["radius_m"], 5_000.0);
        assert_eq!(
            v["casualties"],
            json!({"unknown_killed":{"low":2,"best":2,"high":2}})
        );
        assert!(
            v["narrative"]
                .as_str()
                .unwrap()
                .contains("Shelling, two killed.")
        );

        let (cols, rec) = record(
            ACLED_HEADER,
            "UKR2,2022-03-10,3,Violence against civilians,Attack,A,Civilians,Civilian targeting,Kharkiv,Kharkiv,49.99,36.23,3,Src,,1",
        );
        let v = Value::Object(map_acled(&cols, &rec).1.unwrap());
        assert_eq!(
            v["observed"],
            json!({"from":"2022-03-01T00:00:00Z","to":"2022-03-31T23:59:59Z"})
        );
        assert_eq!(v["event"]["type"], "casualty");
        assert_eq!(
            v["casualties"],
            json!({"civilian_killed":{"low":1,"best":1,"high":1}})
        );

        for (sub, ok) in [
            ("Armed clash", Some("shot")),
            ("Air/drone strike", Some("strike")),
            ("remote explosive/landmine/IED", Some("explosion")),
            ("Peaceful protest", None),
        ] {
            let m = acled_sub_event(sub).unwrap();
            match ok {
                Some(t) => assert_eq!(m, AcledMapping::Event(t)),
                None => assert!(matches!(m, AcledMapping::OutOfScope(_))),
            }
        }
        assert_eq!(acled_sub_event("Orbital strike"), None);
        // Every mapped type is an event type of §5.
        for (_, m) in ACLED_SUB_EVENT_TYPES {
            if let AcledMapping::Event(t) = m {
                t.parse::<truce_model::taxonomy::EventType>().unwrap();
            }
        }
    }

    #[test]
    fn dates() {
        let d = |s| parse_date(s).map(|d| d.to_string());
        assert_eq!(d("2014-01-22").as_deref(), Some("2014-01-22"));
        assert_eq!(d("2014-01-22 00:00:00.000").as_deref(), Some("2014-01-22"));
        assert_eq!(d("24 February 2022").as_deref(), Some("2022-02-24"));
        assert_eq!(d("4 Feb 2022").as_deref(), Some("2022-02-04"));
        assert_eq!(d("24-02-2022").as_deref(), Some("2022-02-24"));
        for bad in [
            "",
            "2022-02-30",
            "24 Febr 2022",
            "24 02 2022",
            "02/30/2022",
            "yesterday",
            "2014-01-22x",
            "é",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn geojson_flat_and_nested() {
        let flat = json!({"type":"Feature","id":"p7-0012","geometry":{"type":"Point","coordinates":[37.9,48.1]},
            "properties":{"type":"explosion","from":"2026-12-20T21:10:00Z","count":3,"approx":true,
                          "radius_m":2000,"weapon":"artillery","calibre_mm":122,"mode":"heard","credibility":2}});
        let (id, p) = map_feature(&flat, "donbas-2026");
        assert_eq!(id.as_deref(), Some("geojson-p7-0012"));
        let p = p.unwrap();
        let o = check(&p, "geojson-p7-0012");
        assert_eq!(o.observed.from, o.observed.to);
        assert_eq!(o.event_point().lat, 48.1);
        assert_eq!(o.event.count, 3);

        let nested = json!({"type":"Feature","geometry":{"type":"Point","coordinates":[37.9,48.1,120]},
            "properties":{"name":"ignored","observation":{"agreement":"donbas-2026",
                "observed":{"from":"2026-12-20T21:10:00Z","to":"2026-12-20T21:40:00Z"},
                "event":{"type":"impact","location":{"radius_m":500},"targets":["energy"]}}}});
        let (id, p) = map_feature(&nested, "donbas-2026");
        let id = id.unwrap();
        assert_eq!(id.len(), "geojson-".len() + 64);
        let o = check(&p.unwrap(), &id);
        assert_eq!(o.event_point().radius_m, 500.0);
        // The id is the hash of the feature: the same feature, the same id.
        assert_eq!(map_feature(&nested, "donbas-2026").0.unwrap(), id);

        let bad = json!({"type":"Feature","id":"a b","geometry":{"type":"Point","coordinates":[37.9,95.0]},
            "properties":{"type":"explosion","colour":"red","calibre_mm":5}});
        let r = map_feature(&bad, "donbas-2026").1.unwrap_err();
        for needle in [
            "field id:",
            "latitude 95",
            "properties.colour: unknown property",
            "properties.from: missing",
            "properties.calibre_mm: needs `weapon`",
        ] {
            assert!(r.reason.contains(needle), "{needle} in {}", r.reason);
        }
        let r = map_feature(&json!([1]), "x").1.unwrap_err();
        assert!(r.reason.contains("not an array"));
        let wrong = json!({"type":"Feature","geometry":{"type":"LineString","coordinates":[[1,2],[3,4]]},
                           "properties":{"observation":{"agreement":"other","event":{"type":"impact","location":{"lat":1}}}}});
        let r = map_feature(&wrong, "donbas-2026").1.unwrap_err();
        assert!(r.reason.contains("only Point features"), "{}", r.reason);
        assert!(
            r.reason.contains("differs from the agreement"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn hostile_input_does_not_panic() {
        for row in [
            " ",
            ",,,,",
            "\"",
            "é,é,é",
            "1,2",
            &"9".repeat(500),
            "1,,1,,,1,,,NaN,inf,3,1,2014-13-01,,-1,x,1e9,,,,",
        ] {
            let (cols, rec) = record(UCDP_HEADER, row);
            let _ = map_ucdp(&cols, &rec);
            let (cols, rec) = record(ACLED_HEADER, row);
            let _ = map_acled(&cols, &rec);
        }
        for v in [
            json!(null),
            json!({"type":"Feature","geometry":{"type":"Point","coordinates":[]},"properties":{}}),
            json!({"type":"Feature","geometry":{"type":"Point","coordinates":["a",1e308]},"properties":{"observation":7}}),
            json!({"type":"Feature","id":{"x":1},"geometry":7,"properties":{"observation":{"event":[]}}}),
            json!({"type":"Feature","id":1.5e300,"properties":{"observation":{"event":{"location":3}}}}),
        ] {
            let _ = map_feature(&v, "a");
        }
    }

    #[test]
    fn streaming_feature_collections() {
        let limit = Limit::new(MAX_RECORD_BYTES);
        let text =
            br#"{"features":[{"a":1},{"b":[2]}],"type":"FeatureCollection","bbox":[1,2,3,4]}"#;
        let mut seen = Vec::new();
        let mut on = |n: u64, v: Value| {
            seen.push((n, v));
            true
        };
        let mut de = serde_json::Deserializer::from_slice(text);
        let info = CollectionSeed {
            on_feature: &mut on,
            limit: &limit,
        }
        .deserialize(&mut de)
        .unwrap();
        assert_eq!(info.features, Some(2));
        assert_eq!(seen[1], (2, json!({"b":[2]})));
        for bad in [
            &br#"{"type":"Feature"}"#[..],
            b"[]",
            br#"{"features":{}}"#,
            br#"{"features":[1,"#,
        ] {
            let mut on = |_: u64, _: Value| true;
            let mut de = serde_json::Deserializer::from_slice(bad);
            assert!(
                CollectionSeed {
                    on_feature: &mut on,
                    limit: &limit
                }
                .deserialize(&mut de)
                .is_err()
            );
        }
    }

    #[test]
    fn limited_reader_stops_long_records() {
        let limit = Limit::new(10);
        let mut r = Limited {
            inner: &[b'x'; 100][..],
            limit: limit.clone(),
        };
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 8);
        assert_eq!(r.read(&mut buf).unwrap(), 8);
        assert_eq!(r.read(&mut buf).unwrap_err().to_string(), TOO_LONG);
        limit.reset();
        assert_eq!(r.read(&mut buf).unwrap(), 8);
        assert_eq!(limit.total(), 24);
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v = json!({"b":1,"a":{"d":[{"z":1,"y":"é\n"}],"c":null}});
        assert_eq!(
            String::from_utf8(canonical_json(&v)).unwrap(),
            r#"{"a":{"c":null,"d":[{"y":"é\n","z":1}]},"b":1}"#
        );
    }

    /// A server that answers each request (one per connection) with the next canned answer.
    fn fake_server(answers: Vec<String>) -> (Url, std::thread::JoinHandle<usize>) {
        use std::io::{BufRead as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let handle = std::thread::spawn(move || {
            let mut served = 0;
            for answer in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut r = io::BufReader::new(stream);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                r.read_exact(&mut body).unwrap();
                r.get_mut().write_all(answer.as_bytes()).unwrap();
                served += 1;
            }
            served
        });
        (url, handle)
    }

    fn answer(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/problem+json\r\n\
             content-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
            body.len()
        )
    }

    fn test_setup(base: Url) -> Setup {
        Setup {
            format: Format::Geojson,
            file: PathBuf::from("test.geojson"),
            key: PrivateKey::generate("importer").unwrap(),
            base,
            client: Client::new(),
            log_key: PrivateKey::generate("log").unwrap().verifier(),
            origin: "log".into(),
            agreement: "donbas-2026".into(),
            start_size: 0,
            rejects_path: PathBuf::from("test.rejects.jsonl"),
            concurrency: 1,
        }
    }

    fn shared(setup: &Setup) -> Shared<'_> {
        Shared {
            setup,
            stop: AtomicBool::new(false),
            stop_reason: Mutex::new(None),
            rate_limited: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
        }
    }

    fn job() -> Job {
        Job {
            row: 7,
            line: Some(8),
            id: "geojson-x".into(),
            canonical: b"{}".to_vec(),
            envelope_sha256: [0; 32],
        }
    }

    #[test]
    fn unavailable_and_rate_limited_answers_are_retried() {
        let (url, server) = fake_server(vec![
            answer("503 Service Unavailable", "", r#"{"detail":"not stored"}"#),
            answer(
                "429 Too Many Requests",
                "retry-after: 1\r\n",
                r#"{"detail":"slow down"}"#,
            ),
            answer(
                "422 Unprocessable Entity",
                "",
                r#"{"detail":"invalid","errors":[{"pointer":"/event/type","detail":"unknown"}]}"#,
            ),
        ]);
        let setup = test_setup(url);
        let shared = shared(&setup);
        let t = Instant::now();
        let Outcome::Rejected {
            row, id, reject, ..
        } = post(&shared, job())
        else {
            panic!("not a reject");
        };
        assert!(
            t.elapsed() >= Duration::from_millis(1_250),
            "{:?}",
            t.elapsed()
        );
        assert_eq!((row, id.as_deref()), (7, Some("geojson-x")));
        assert_eq!(reject.status, Some(422));
        assert_eq!(reject.class, "server HTTP 422 /event/type");
        assert!(
            reject.reason.contains("/event/type: unknown"),
            "{}",
            reject.reason
        );
        assert_eq!(shared.rate_limited.load(Ordering::SeqCst), 1);
        assert_eq!(shared.unavailable.load(Ordering::SeqCst), 1);
        assert!(!shared.stopped());
        assert_eq!(server.join().unwrap(), 3);
    }

    #[test]
    fn a_refused_key_stops_the_import() {
        let (url, server) = fake_server(vec![answer(
            "401 Unauthorized",
            "",
            r#"{"detail":"unknown key importer+0000"}"#,
        )]);
        let setup = test_setup(url);
        let shared = shared(&setup);
        let Outcome::Rejected { reject, .. } = post(&shared, job()) else {
            panic!("not a reject");
        };
        assert_eq!(reject.status, Some(401));
        assert!(shared.stopped());
        let why = shared.stop_reason.lock().unwrap().clone().unwrap();
        assert!(
            why.contains("refuses the key (HTTP 401): unknown key"),
            "{why}"
        );
        // Once stopped, nothing more is sent.
        assert!(matches!(post(&shared, job()), Outcome::Skipped));
        assert_eq!(server.join().unwrap(), 1);
    }

    #[test]
    fn leaves_are_checked_against_the_receipt_and_the_envelope() {
        let key = PrivateKey::generate("importer").unwrap();
        let env = truce_model::dsse::Envelope::sign("observation", b"{}", &[&key]);
        let canonical = env.canonical_json();
        let leaf = truce_log::leaf::encode(1_700_000_000_000, &canonical);
        let other = truce_log::leaf::encode(
            1_700_000_000_000,
            &truce_model::dsse::Envelope::sign("observation", b"{\"a\":1}", &[&key])
                .canonical_json(),
        );
        let pending = |index: u64, leaf_hash: [u8; 32]| Pending {
            row: 1,
            line: None,
            id: "x".into(),
            index,
            leaf_hash,
            checkpoint_size: index + 1,
            envelope_sha256: Sha256::digest(&canonical).into(),
            already: false,
        };
        let leaves = vec![other.clone(), leaf.clone()];
        // Leaf 257 is the second of bundle 1.
        assert_eq!(leaf_problem(&leaves, &pending(257, leaf_hash(&leaf))), None);
        let p = leaf_problem(&leaves, &pending(256, leaf_hash(&leaf))).unwrap();
        assert!(p.contains("not to the receipt's"), "{p}");
        let p = leaf_problem(&leaves, &pending(256, leaf_hash(&other))).unwrap();
        assert!(p.contains("another entry than the one submitted"), "{p}");
        let p = leaf_problem(&leaves, &pending(258, leaf_hash(&leaf))).unwrap();
        assert!(p.contains("no leaf 258"), "{p}");
    }

    #[test]
    fn bounded_text() {
        assert_eq!(bounded("  a\n\tb\u{7}c  ", 10), "a b c");
        assert_eq!(bounded("abcdef", 4), "abc…");
        assert_eq!(bounded("", 4), "");
    }
}
