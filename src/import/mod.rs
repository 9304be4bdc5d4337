//! `truce import --format ucdp|acled|geojson FILE --key KEY`: maps every row of a conflict-event
//! data set (UCDP GED, ACLED) or every feature of a GeoJSON FeatureCollection to an
//! `observation` payload (DESIGN §5), signs it with a monitor's key and submits it, in
//! parallel, checking every receipt. The mapping is documented in `docs/import.md`; the format
//! modules ([`ucdp`], [`acled`], [`geojson`]) are its implementation, and the two must agree.
//!
//! How it goes:
//!
//! 1. **Before anything is sent** ([`setup`]): the key file, the server URL, the log's key
//!    (`--vkey`, else `/v1/log/vkeys`), the agreement (`--agreement`, else the single agreement
//!    `in-force` in `/v1/agreements`) and the log size (`/healthz`) are read; any problem stops
//!    here (exit 2).
//! 2. **Reading** streams the file: one CSV record ([`records`]), or one GeoJSON feature (a
//!    FeatureCollection is read with a streaming visitor, never as one document), at a time, each
//!    bounded in size ([`MAX_RECORD_BYTES`]). Every record is mapped, checked with
//!    [`Observation::parse`](truce_model::observation::Observation::parse) and the log-time check
//!    against the local clock, signed, and queued. A record that fails is a *reject*: it goes to
//!    the rejects file with its row number, its id, and why (every column or field at fault, by
//!    name).
//! 3. **Submitting** ([`pipeline`]): `--concurrency` workers post the envelopes through the CLI's
//!    client ([`crate::client::post_patiently`]). `429` waits as long as `Retry-After` says and
//!    tries again, as often as needed; `503`, `502`, `504`, `408` and connection failures back off
//!    exponentially, [`MAX_UNAVAILABLE_TRIES`](crate::client::MAX_UNAVAILABLE_TRIES) times, after
//!    which the import stops (exit 2): no row is ever dropped. `400`, `409`, `413`, `422` (and
//!    other answers about one entry) are rejects; `401` and `403` refuse the *key*, so the import
//!    stops at once rather than refuse every row the same way.
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
//! What it shares with `truce submit`: key reading, signing (with its size check), the client
//! (receipt and leaf checks, bounded reads) and the reporting of failures before the import
//! starts. What it adds: retries, a pool of workers, and leaf checks in batches.
//!
//! Ids are deterministic (`ucdp-<id>`, `acled-<event_id_cnty>`, `geojson-<feature id>` or
//! `geojson-<sha256 of the feature>`) and so are the payload bytes (keys sorted, see
//! [`canonical_json`]) and the signatures (Ed25519), so importing the same file again posts the
//! same envelopes: the server answers each with its existing index, and a receipt whose index
//! lies below the log size read at the start counts as "already logged".
//!
//! Exit status: 0 every row was logged or already logged; 1 some rows were rejected (see the
//! rejects file); 2 usage, file, key, network or server failure (the import stopped; what was
//! logged stays logged, and running the same import again continues where it stopped).

mod acled;
mod cells;
mod geojson;
mod pipeline;
mod records;
mod setup;
mod summary;
#[cfg(test)]
mod tests;
mod ucdp;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::{Map, Value};

use crate::client::{DEFAULT_SERVER, Target};
use crate::submit;
use setup::Setup;

/// The largest CSV record or GeoJSON feature read, in bytes (an entry holds at most 64 KiB, so
/// anything near this is refused anyway; the bound keeps a hostile file from exhausting memory).
pub const MAX_RECORD_BYTES: u64 = 1 << 20;
/// Receipts whose leaves are read back together (about four entry bundles).
pub const LEAF_CHECK_BATCH: usize = 1024;

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

/// What a format's mapper makes of one record: the entry id (when the record's id is usable),
/// and the payload (without `id` and `agreement`, which signing adds) or why there is none.
type Mapped = (Option<String>, Result<Map<String, Value>, Reject>);

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

    /// What a mapper that collected `problems` (with its `what`s: columns, fields) from one
    /// `unit` (record, feature) comes to: the value if there were none.
    fn unless_problems<T>(
        value: Option<T>,
        what: &str,
        unit: &str,
        problems: &[(String, String)],
    ) -> Result<T, Reject> {
        match value {
            Some(v) if problems.is_empty() => Ok(v),
            _ if !problems.is_empty() => Err(Reject::problems(what, problems)),
            _ => Err(Reject::new(unit, format!("the {unit} could not be mapped"))),
        }
    }
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
