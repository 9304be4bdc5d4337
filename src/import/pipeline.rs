//! The import's pipeline: read and sign (the calling thread), submit (`--concurrency` workers),
//! tally and check (one collector).
//!
//! Three stages so that the slow part — the server's answers — is the only one that waits: the
//! reader maps and signs records while workers post, and the collector verifies receipts and
//! reads back leaves in batches while both go on. The stages talk through bounded channels
//! (`4 × --concurrency` signed rows at most), and share one stop flag ([`Shared`]): a worker that
//! gives up (the key refused, the server unavailable) stops the reader and the other workers,
//! and every row not attempted is counted, never dropped silently.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use truce_log::tile::{self, TILE_WIDTH, TileLevel};
use truce_model::entry::Kind;
use truce_model::observation::Observation;

use super::acled::ACLED;
use super::records::{Limit, Limited, read_csv};
use super::setup::Setup;
use super::summary::Summary;
use super::ucdp::UCDP;
use super::{Format, LEAF_CHECK_BATCH, MAX_RECORD_BYTES, Mapped, Reject, canonical_json, geojson};
use crate::client::{self, ErrorAnswer, LeafFault, MAX_RATE_LIMITED, Pacing, Posted};
use crate::submit;

/// A signed row, ready to post.
pub(super) struct Job {
    pub(super) row: u64,
    pub(super) line: Option<u64>,
    pub(super) id: String,
    pub(super) canonical: Vec<u8>,
    pub(super) envelope_sha256: [u8; 32],
}

/// What became of a row.
pub(super) enum Outcome {
    /// The server logged it (or had logged it), and the inclusion proof verifies; its leaf is
    /// still to be read back.
    Receipt(Pending),
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
pub(super) struct Pending {
    pub(super) row: u64,
    pub(super) line: Option<u64>,
    pub(super) id: String,
    pub(super) index: u64,
    pub(super) leaf_hash: [u8; 32],
    pub(super) checkpoint_size: u64,
    pub(super) envelope_sha256: [u8; 32],
    /// Logged before this run (set by the collector).
    pub(super) already: bool,
}

/// Shared between the threads.
pub(super) struct Shared<'a> {
    pub(super) setup: &'a Setup,
    pub(super) stop: AtomicBool,
    pub(super) stop_reason: Mutex<Option<String>>,
    pub(super) rate_limited: AtomicU64,
    pub(super) unavailable: AtomicU64,
}

impl Shared<'_> {
    fn new(setup: &Setup) -> Shared<'_> {
        Shared {
            setup,
            stop: AtomicBool::new(false),
            stop_reason: Mutex::new(None),
            rate_limited: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
        }
    }

    /// Stops the import: nothing more is read or sent. The first reason given is the one said.
    fn stop(&self, why: String) {
        self.file_failed(why);
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The file cannot be read further: reading stops, what was queued is still submitted, and
    /// the import ends with exit status 2. (Once the import has stopped, its reason stands.)
    fn file_failed(&self, why: String) {
        if let Ok(mut r) = self.stop_reason.lock()
            && r.is_none()
        {
            *r = Some(why);
        }
    }
}

impl Pacing for Shared<'_> {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

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

    fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    fn unavailable(&self) {
        self.unavailable.fetch_add(1, Ordering::Relaxed);
    }
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
    fn new(rejects: Option<BufWriter<File>>) -> Tally {
        Tally {
            logged: 0,
            already: 0,
            rejected: 0,
            by_reason: BTreeMap::new(),
            skipped: 0,
            new_indexes: HashSet::new(),
            rejects,
            rejects_error: None,
        }
    }

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
    /// Runs the import: reads, signs, submits and checks every row; says what became of them.
    pub(super) fn import(&self) -> Summary {
        let started = Instant::now();
        let shared = Shared::new(self);
        let rejects = match File::create(&self.rejects_path) {
            Ok(f) => Some(BufWriter::new(f)),
            Err(e) => {
                shared.stop(format!("--rejects {}: {e}", self.rejects_path.display()));
                None
            }
        };
        let mut tally = Tally::new(rejects);
        let bar = self.progress_bar();
        let rows = AtomicU64::new(0);
        if !shared.stopped() {
            self.run_stages(&shared, &mut tally, &bar, &rows);
        }
        bar.finish_and_clear();
        self.summary(&shared, tally, rows.load(Ordering::SeqCst), started)
    }

    /// A progress bar over the file's bytes, on stderr.
    fn progress_bar(&self) -> ProgressBar {
        let file_len = std::fs::metadata(&self.file).map(|m| m.len()).unwrap_or(0);
        let bar = ProgressBar::with_draw_target(Some(file_len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    }

    /// The three stages: the workers and the collector on their own threads, the reader on this
    /// one; returns when all rows are accounted for.
    fn run_stages(&self, shared: &Shared, tally: &mut Tally, bar: &ProgressBar, rows: &AtomicU64) {
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(self.concurrency * 4);
        let job_rx = Mutex::new(job_rx);
        let (out_tx, out_rx) = mpsc::channel::<Outcome>();
        std::thread::scope(|s| {
            for _ in 0..self.concurrency {
                let out_tx = out_tx.clone();
                let job_rx = &job_rx;
                s.spawn(move || worker(shared, job_rx, &out_tx));
            }
            let collector = s.spawn(move || collect(shared, out_rx, tally, bar, rows));
            self.read(shared, &job_tx, &out_tx, bar, rows);
            drop(job_tx);
            drop(out_tx);
            let _ = collector.join();
        });
    }

    /// The summary, once every stage has finished; writes out (or removes) the rejects file.
    fn summary(&self, shared: &Shared, mut tally: Tally, rows: u64, started: Instant) -> Summary {
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
        let mut handle = |row: u64, line: Option<u64>, mapped: Mapped| -> bool {
            rows.fetch_add(1, Ordering::SeqCst);
            bar.set_position(limit.total());
            if shared.stopped() {
                let _ = outcomes.send(Outcome::Skipped);
                return false;
            }
            self.hand_on(row, line, mapped, now_ms, jobs, outcomes)
        };
        let read = match self.format {
            Format::Ucdp => read_csv(reader, &limit, &UCDP, &name, &mut handle),
            Format::Acled => read_csv(reader, &limit, &ACLED, &name, &mut handle),
            Format::Geojson => {
                geojson::read_collection(reader, &limit, &self.agreement, &name, &mut handle)
            }
        };
        if let Err(why) = read {
            shared.file_failed(why);
        }
        bar.set_position(limit.total());
    }

    /// Signs a mapped row and queues it for the workers, or hands its reject to the collector.
    /// False if neither takes it any more.
    fn hand_on(
        &self,
        row: u64,
        line: Option<u64>,
        (id, payload): Mapped,
        now_ms: i64,
        jobs: &mpsc::SyncSender<Job>,
        outcomes: &mpsc::Sender<Outcome>,
    ) -> bool {
        match payload.and_then(|p| self.sign(id.as_deref(), p, now_ms)) {
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

/// Posts one entry, retrying what deserves a retry ([`client::post_patiently`]); verifies the
/// receipt's proof.
pub(super) fn post(shared: &Shared, job: Job) -> Outcome {
    let setup = shared.setup;
    match client::post_patiently(&setup.client, &setup.base, &job.canonical, shared) {
        Posted::Receipt(body) => receipted(setup, job, &body),
        Posted::Refused(answer) => refused(shared, job, &answer),
        Posted::GaveUp(why) => {
            shared.stop(why);
            Outcome::Skipped
        }
        Posted::RateLimited => {
            shared.stop(format!(
                "row {} ({}): rate-limited (429) for more than {} minutes",
                job.row,
                job.id,
                MAX_RATE_LIMITED.as_secs() / 60
            ));
            Outcome::Skipped
        }
        Posted::Stopped => Outcome::Skipped,
    }
}

/// The outcome of a `200`: the receipt, once its proof verifies (its leaf is checked later).
fn receipted(setup: &Setup, job: Job, body: &[u8]) -> Outcome {
    let verified = serde_json::from_slice::<Value>(body)
        .map_err(|e| format!("the receipt is not JSON: {e}"))
        .and_then(|answer| client::verify_receipt(&answer, &setup.log_key, &setup.origin));
    match verified {
        Ok(v) => Outcome::Receipt(Pending {
            row: job.row,
            line: job.line,
            id: job.id,
            index: v.index,
            leaf_hash: v.leaf_hash,
            checkpoint_size: v.checkpoint.size,
            envelope_sha256: job.envelope_sha256,
            already: false,
        }),
        Err(why) => rejected(
            job,
            Reject::new(
                "receipt does not verify",
                format!("the server answered 200, but its receipt does not verify: {why}"),
            ),
        ),
    }
}

fn rejected(job: Job, reject: Reject) -> Outcome {
    Outcome::Rejected {
        row: job.row,
        line: job.line,
        id: Some(job.id),
        reject,
    }
}

/// The outcome of an answer no retry changes: `401` and `403` refuse the key (the import stops,
/// rather than refuse every row the same way), `404` and `405` say this is no truce server (it
/// stops too); any other answer refuses this row.
fn refused(shared: &Shared, job: Job, answer: &ErrorAnswer) -> Outcome {
    let status = answer.status.as_u16();
    let detail = answer.detail();
    let errors: Vec<(String, String)> = client::problem_errors(answer.problem.as_ref())
        .into_iter()
        .take(64)
        .collect();
    let class = match status {
        401 | 403 => {
            shared.stop(format!(
                "the server refuses the key (HTTP {status}): {detail}"
            ));
            format!("server HTTP {status}")
        }
        404 | 405 => {
            shared.stop(format!(
                "POST {}: HTTP {status}: {detail} (is --server a truce server?)",
                answer.url
            ));
            return Outcome::Skipped;
        }
        _ => {
            let pointer = errors
                .first()
                .map(|(p, _)| format!(" {}", if p.is_empty() { "/" } else { p }))
                .unwrap_or_default();
            format!("server HTTP {status}{pointer}")
        }
    };
    let mut reason = format!("refused (HTTP {status}): {detail}");
    if !matches!(status, 401 | 403) {
        for (pointer, detail) in &errors {
            reason.push_str(&format!("; {pointer}: {detail}"));
        }
    }
    let mut r = Reject::new(class, reason);
    r.status = Some(status);
    r.errors = errors
        .into_iter()
        .map(|(pointer, detail)| json!({"pointer": pointer, "detail": detail}))
        .collect();
    rejected(job, r)
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
            Outcome::Receipt(mut p) => {
                p.already = p.index < shared.setup.start_size || !tally.new_indexes.insert(p.index);
                if p.already {
                    tally.already += 1;
                } else {
                    tally.logged += 1;
                }
                pending.push(p);
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
pub(super) fn leaf_problem(leaves: &[Vec<u8>], p: &Pending) -> Option<String> {
    match client::check_leaf(leaves, p.index, &p.leaf_hash, &p.envelope_sha256) {
        Ok(_) => None,
        Err(LeafFault::Missing) => Some(format!("the entry bundle has no leaf {}", p.index)),
        Err(LeafFault::Wrong(why)) => Some(why),
    }
}

/// Entry bundle `n` of the tree of `size` leaves, split into leaves. Retries an unavailable
/// server unless the import has stopped.
fn fetch_bundle(shared: &Shared, n: u64, size: u64) -> Result<Vec<Vec<u8>>, String> {
    let setup = shared.setup;
    let tile = tile::tile_for(TileLevel::Entries, n, size)
        .ok_or_else(|| format!("no entry bundle {n} in a tree of {size}"))?;
    client::fetch_entry_bundle(&setup.client, &setup.base, &tile, Some(shared))
        .map_err(|f| f.to_string())
}
