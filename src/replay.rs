//! `truce replay`: rebuild every derived finding from the log alone and print the state digest,
//! to compare with a server's `GET /v1/state` (DESIGN §2).
//!
//! - `--data DIR` reads a data directory's store (the server must not be running on it, or read
//!   it from a copy). It runs the server's own start-up replay: every leaf hash, stored tree hash
//!   and the latest checkpoint signature are checked, and every entry is admitted again,
//!   signatures included.
//! - `--log URL` reads a running log over HTTP, as any party can: the checkpoint (its signature
//!   checked with the log key, pinned with `--vkey` or taken from `/v1/log/vkeys`), every entry
//!   bundle, from which the Merkle tree is recomputed and compared with the signed root, and the
//!   blobs the agreements reference (each checked against its sha256). Every entry is admitted
//!   again, signatures included, by the same engine the server runs. If the server's own
//!   `/v1/state` is for the same size, the two digests are compared (exit 1 if they differ).
//!
//! Both print `{"size", "digest", "sections"}` (with `--json`, exactly the JSON object
//! `GET /v1/state` serves).
//!
//! Both run the server's replay pipeline ([`truce_server::replay`]): chunks of leaves decoded
//! and batch-verified on every core, then admitted in log order. With `--log`, entry bundles are
//! fetched by [`IN_FLIGHT`] threads at once, at most [`AHEAD`] bundles ahead of the one being
//! replayed, and consumed strictly in log order, so that the network is not what replay waits
//! for and memory stays bounded.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, mpsc};

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Url;
use reqwest::blocking::Client;
use sha2::{Digest as _, Sha256};
use truce_engine::StateDigest;
use truce_log::checkpoint::open_checkpoint;
use truce_log::tile::{self, TileLevel};
use truce_model::dsse::Envelope;
use truce_model::keys::VerifierKey;
use truce_server::blobs::{BlobResolver, MAX_BLOB_BYTES};
use truce_server::replay::{CHUNK, Pending, Replayer};
use truce_server::routes::state::StateSummary;

use crate::client::{self, LogKey};

/// Arguments of `truce replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// A data directory to replay (its store is opened; stop the server first, or copy it).
    #[arg(long, conflicts_with = "log", required_unless_present = "log")]
    data: Option<PathBuf>,
    /// The URL of a truce server whose log to replay over HTTP.
    #[arg(long)]
    log: Option<String>,
    /// Pin the log's verifier key (with `--log`; default: the key the server publishes).
    #[arg(long, requires = "log")]
    vkey: Option<String>,
    /// Pin the operator's verifier key (with `--log`; default: the key the server publishes).
    #[arg(long, requires = "log")]
    operator: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `truce replay`.
pub fn run(args: ReplayArgs) -> Result<ExitCode> {
    let (digest, server) = match (&args.data, &args.log) {
        (Some(dir), _) => (replay_data(dir)?, None),
        (None, Some(url)) => replay_log(url, &args)?,
        (None, None) => bail!("give --data DIR or --log URL"),
    };
    print(&digest, args.json);
    if let Some(server) = server {
        match server {
            Compared::Same => eprintln!("the server's /v1/state at this size has the same digest"),
            Compared::OtherSize(n) => eprintln!(
                "the server's /v1/state is for size {n} (the log grew meanwhile): not compared"
            ),
            Compared::Unavailable(why) => eprintln!("the server's /v1/state: {why}"),
            Compared::Different(d) => {
                eprintln!(
                    "MISMATCH: the server's /v1/state at size {} has digest {d}; the log replays to {}",
                    digest.size, digest.digest
                );
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the digest; with `json`, exactly as `GET /v1/state` serves it.
fn print(d: &StateDigest, json: bool) {
    if json {
        let summary = StateSummary::from(d.clone());
        println!(
            "{}",
            serde_json::to_string(&summary).expect("a digest serialises")
        );
    } else {
        println!("size:   {}", d.size);
        println!("digest: {}", d.digest);
        for (n, h) in &d.sections {
            println!("  {n:<13} {h}");
        }
    }
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("replaying {bar:40} {pos}/{len} entries ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// `--data DIR`: the server's start-up replay, without starting a server.
fn replay_data(dir: &std::path::Path) -> Result<StateDigest> {
    let dir = truce_server::datadir::DataDir::open(dir)
        .with_context(|| format!("opening the data directory {}", dir.display()))?;
    let rt = tokio::runtime::Runtime::new()?;
    let started = std::time::Instant::now();
    rt.block_on(async {
        let store = truce_store_sqlite::SqliteStore::open(&dir.store_path())
            .await
            .with_context(|| format!("opening {}", dir.store_path().display()))?;
        let store = Arc::new(store);
        let bar = progress_bar(0);
        let log_vkey = dir.log_key.verifier();
        let replayed = truce_server::app::replay(
            store,
            dir.operator_key.verifier(),
            Some((dir.config.origin.as_str(), &log_vkey)),
            // An audit trusts no snapshot: every entry is admitted again. It holds every record
            // in memory, as the reference the server's tiered state must agree with.
            None,
            None,
            |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            },
        )
        .await
        .context("replaying the log")?;
        bar.finish_and_clear();
        Ok(digest_of(&replayed.state, started))
    })
}

/// The digest of the replayed `state`, and on stderr how long the replay (since `started`) and
/// the digest took.
fn digest_of(state: &truce_engine::State, started: std::time::Instant) -> StateDigest {
    let replayed = started.elapsed();
    let digest = state.digest();
    eprintln!(
        "replayed {} entries in {:.1} s; state digest in {:.2} s",
        state.size(),
        replayed.as_secs_f64(),
        (started.elapsed() - replayed).as_secs_f64()
    );
    digest
}

/// How the server's own digest compares.
enum Compared {
    Same,
    Different(String),
    OtherSize(u64),
    Unavailable(String),
}

/// `--log URL`: the tiles, checked against the signed checkpoint, replayed by the engine.
fn replay_log(server: &str, args: &ReplayArgs) -> Result<(StateDigest, Option<Compared>)> {
    let http = client::http_client("replay", None).map_err(|e| anyhow!(e))?;
    let base = client::base_url(server).map_err(|f| anyhow!(f.message))?;
    let (log_key, operator) = keys(&http, &base, args)?;
    let note = fetch(
        &http,
        &base,
        "log/checkpoint",
        truce_log::audit::max_response_bytes("checkpoint"),
    )?
    .ok_or_else(|| anyhow!("{base}log/checkpoint: not found"))?;
    let checkpoint = open_checkpoint(&note, &log_key.origin, &log_key.key)
        .context("the log's checkpoint does not verify")?;
    let size = checkpoint.size;
    let bar = progress_bar(size);
    let started = std::time::Instant::now();
    let mut replayer = Replayer::new(operator);
    let mut blobs = BlobCache::default();
    let bundles = bundle_count(size);
    std::thread::scope(|scope| -> Result<()> {
        let mut fetched = InOrder::start(scope, &http, &base, size);
        let mut leaves: Vec<Vec<u8>> = Vec::with_capacity(CHUNK);
        // Chunk k is admitted here while chunk k + 1 is prepared on the other threads.
        let mut pending: Option<Pending> = None;
        // Small chunks first, as the server's replay reads its pages (see `chunk_sizes`).
        let mut sizes = truce_server::replay::chunk_sizes();
        let mut chunk_size = sizes.next().unwrap_or(CHUNK);
        for n in 0..bundles {
            leaves.extend(fetched.next()?);
            if leaves.len() < chunk_size && n + 1 < bundles {
                continue;
            }
            chunk_size = sizes.next().unwrap_or(CHUNK);
            let chunk = replayer.prepare_in_background(std::mem::take(&mut leaves), Vec::new());
            if let Some(ready) = pending.replace(chunk) {
                admit_chunk(&mut replayer, ready, &mut blobs, &http, &base)?;
                bar.set_position(replayer.size());
            }
        }
        if let Some(ready) = pending {
            admit_chunk(&mut replayer, ready, &mut blobs, &http, &base)?;
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    let (state, frontier) = replayer.finish();
    if state.size() != size || frontier.root() != checkpoint.root {
        bail!(
            "the entry bundles (size {}) do not hash to the checkpoint's root (size {size})",
            state.size()
        );
    }
    let digest = digest_of(&state, started);
    let compared = compare(&http, &base, &digest);
    Ok((digest, Some(compared)))
}

/// Admits a prepared chunk, in log order, fetching the blobs agreements reference.
fn admit_chunk(
    replayer: &mut Replayer,
    chunk: Pending,
    blobs: &mut BlobCache,
    http: &Client,
    base: &Url,
) -> Result<()> {
    for leaf in chunk.wait() {
        let index = replayer.size();
        let resolver = match leaf.envelope() {
            Some(env) => blobs.for_envelope(http, base, env)?,
            None => BlobResolver::default(),
        };
        replayer
            .admit(leaf, &resolver)
            .map_err(|e| anyhow!("entry {index}: {}", e.problem))?;
    }
    Ok(())
}

/// Entry bundles in flight at once: enough that the network and the server are not what
/// replay waits for.
const IN_FLIGHT: usize = 8;

/// Bundles fetched ahead of the one being consumed, at most (two chunks: fetching goes on while
/// a chunk is replayed, and memory stays bounded).
const AHEAD: u64 = 2 * (CHUNK as u64 / tile::TILE_WIDTH as u64);

/// One entry bundle's leaves, or why it could not be fetched.
type Bundle = Result<Vec<Vec<u8>>>;

/// Fetch bundle `n`, and send it there.
type Job = (u64, mpsc::SyncSender<Bundle>);

/// The entry bundles of a log of `size` entries, fetched by [`IN_FLIGHT`] threads, at most
/// [`AHEAD`] ahead of the consumer, and handed out in log order.
struct InOrder {
    jobs: mpsc::Sender<Job>,
    pending: VecDeque<mpsc::Receiver<Bundle>>,
    next_job: u64,
    bundles: u64,
    size: u64,
}

impl InOrder {
    fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        http: &'scope Client,
        base: &'scope Url,
        size: u64,
    ) -> InOrder {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..IN_FLIGHT {
            let queue = queue.clone();
            scope.spawn(move || {
                loop {
                    // The lock only guards taking the next job; it is never held by a panic.
                    let job = queue.lock().map(|q| q.recv());
                    let Ok(Ok((n, reply))) = job else { break };
                    let _ = reply.send(fetch_bundle(http, base, size, n));
                }
            });
        }
        let mut fetched = InOrder {
            jobs,
            pending: VecDeque::new(),
            next_job: 0,
            bundles: bundle_count(size),
            size,
        };
        while fetched.next_job < fetched.bundles.min(AHEAD) {
            fetched.ask();
        }
        fetched
    }

    fn ask(&mut self) {
        let (reply, answer) = mpsc::sync_channel(1);
        // The workers outlive `self` (they stop when `jobs` is dropped), so this cannot fail
        // unless one panicked, and then the answer below says so.
        let _ = self.jobs.send((self.next_job, reply));
        self.pending.push_back(answer);
        self.next_job += 1;
    }

    /// The next bundle's leaves.
    fn next(&mut self) -> Bundle {
        if self.next_job < self.bundles {
            self.ask();
        }
        let answer = self
            .pending
            .pop_front()
            .ok_or_else(|| anyhow!("no entry bundle left to fetch (log size {})", self.size))?;
        answer
            .recv()
            .map_err(|_| anyhow!("an entry bundle fetcher stopped"))?
    }
}

/// Entry bundle `n` of a log of `size` entries.
fn fetch_bundle(http: &Client, base: &Url, size: u64, n: u64) -> Bundle {
    let tile = tile::tile_for(TileLevel::Entries, n, size)
        .ok_or_else(|| anyhow!("no entry bundle {n} in a log of {size} entries"))?;
    client::fetch_entry_bundle(http, base, &tile, None).map_err(|e| anyhow!("{e}"))
}

/// Entry bundles of a log of `size` entries.
fn bundle_count(size: u64) -> u64 {
    size.div_ceil(u64::from(tile::TILE_WIDTH))
}

/// The log key and the operator key: each pinned on the command line, or else the one the server
/// publishes at `/v1/log/vkeys` (read once, and only if a key is not pinned).
fn keys(http: &Client, base: &Url, args: &ReplayArgs) -> Result<(LogKey, VerifierKey)> {
    let pinned = |flag: &str, v: &str| client::parse_vkey(flag, v).map_err(|e| anyhow!(e));
    let published = match (&args.vkey, &args.operator) {
        (Some(_), Some(_)) => None,
        _ => Some(client::published_vkeys(http, base).map_err(|e| anyhow!(e))?),
    };
    let log_key = match (&args.vkey, &published) {
        (Some(v), _) => LogKey::pinned(pinned("--vkey", v)?),
        (None, Some((url, v))) => LogKey::from_vkeys(url, v).map_err(|e| anyhow!(e))?,
        (None, None) => unreachable!("the keys are read when --vkey is missing"),
    };
    let operator = match (&args.operator, &published) {
        (Some(v), _) => pinned("--operator", v)?,
        (None, Some((url, v))) => {
            let text = v["operator"]
                .as_str()
                .ok_or_else(|| anyhow!("GET {url}: no \"operator\" key: pass --operator"))?;
            pinned("operator", text)?
        }
        (None, None) => unreachable!("the keys are read when --operator is missing"),
    };
    Ok((log_key, operator))
}

fn fetch(http: &Client, base: &Url, path: &str, max: usize) -> Result<Option<Vec<u8>>> {
    let url = client::join(base, path).map_err(|f| anyhow!(f.message))?;
    crate::client::get_log_resource(http, &url, max).map_err(|e| anyhow!(e.message))
}

/// Blobs fetched so far, by sha256 hex (each checked against its hash).
#[derive(Default)]
struct BlobCache(BTreeMap<String, Vec<u8>>);

impl BlobCache {
    /// The files an `agreement` envelope lists, read from `GET /v1/blobs/{sha256}` under the
    /// server's own listing rules and budget ([`BlobResolver`]).
    fn for_envelope(&mut self, http: &Client, base: &Url, env: &Envelope) -> Result<BlobResolver> {
        let (mut resolver, wanted) = BlobResolver::listing(env);
        for (sha, raw) in wanted {
            if !resolver.has_room() {
                break;
            }
            if !self.0.contains_key(&sha) {
                let path = format!("v1/blobs/{sha}");
                let Some(bytes) = fetch(http, base, &path, MAX_BLOB_BYTES)? else {
                    continue;
                };
                if <[u8; 32]>::from(Sha256::digest(&bytes)) != raw {
                    bail!("blob {sha} served by the log does not have that sha256");
                }
                self.0.insert(sha.clone(), bytes);
            }
            let bytes = self.0[&sha].clone();
            resolver.found(sha, bytes);
        }
        Ok(resolver)
    }
}

fn compare(http: &Client, base: &Url, d: &StateDigest) -> Compared {
    match client::get_json(http, base, "v1/state") {
        Err(e) => Compared::Unavailable(e),
        Ok(v) => match (v["size"].as_u64(), v["digest"].as_str()) {
            (Some(n), _) if n != d.size => Compared::OtherSize(n),
            (Some(_), Some(h)) if h == d.digest => Compared::Same,
            (Some(_), Some(h)) => Compared::Different(h.to_string()),
            _ => Compared::Unavailable("no \"size\" and \"digest\" in the answer".into()),
        },
    }
}
