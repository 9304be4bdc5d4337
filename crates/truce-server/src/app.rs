//! Start-up: open the store, rebuild the state from the log, start the sequencer.
//!
//! The state is never stored; it is recomputed from the entries at every start, through the same
//! `admit` → `apply` path the live server uses. That doubles as an integrity check: a leaf whose
//! stored hash does not match its bytes, a leaf that is not canonical, or an entry the engine
//! would not admit again means the store was altered, and the server refuses to start, naming the
//! entry. The entries are read in pages and run through [`crate::replay`]'s pipeline (parallel
//! decoding and batch signature verification, then admission in log order), which gives the
//! same verdicts as admitting them one by one.

use std::fmt;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use truce_engine::cold::ColdStore;
use truce_engine::{Snapshot, State};
use truce_log::checkpoint::open_checkpoint;
use truce_log::merkle::{self, Frontier};
use truce_model::keys::VerifierKey;
use truce_store::Store;

use crate::blobs::BlobResolver;
use crate::cold::ColdFile;
use crate::datadir::DataDir;
use crate::intake::{Intake, Submission};
use crate::ledger::{Ledger, Published};
use crate::replay::{Pending, Replayer};
use crate::sequencer::{self, Sequencer};
use crate::shared::{Recovering, SharedState, StateLost};
use crate::snapshots::{Restoring, Snapshots};
use crate::tiles::TileCache;

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub state: SharedState,
    /// The sequencer's queue.
    pub submit: mpsc::Sender<Submission>,
    /// Submissions, up to their receipts.
    pub intake: Arc<Intake>,
    pub origin: String,
    pub log_vkey: VerifierKey,
    pub operator_vkey: VerifierKey,
    /// The latest committed checkpoint.
    pub published: watch::Receiver<Arc<Published>>,
    /// Configured bounds.
    pub limits: crate::limits::Limits,
    /// Immutable tiles and bundles already served.
    pub tiles: Arc<TileCache>,
    /// The witnesses asked to cosign checkpoints (listed at `/v1/log/vkeys`).
    pub witnesses: Arc<[truce_log::cosignature::CosignatureVerifier]>,
    /// The last state digest computed, for its log size (`GET /v1/state`); the lock also makes
    /// one computation at a time.
    pub digest: Arc<Recovering<Option<truce_engine::StateDigest>>>,
    /// Snapshots of the derived state (the sequencer takes them when due, [`AppState::stop`]
    /// one more).
    pub snapshots: Arc<Snapshots>,
}

/// Why the state could not be rebuilt from the store.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplayError {
    /// The store could not be read.
    Store(truce_store::StoreError),
    /// Entry `index` is damaged or no longer admissible.
    Entry { index: u64, problem: String },
    /// The stored tree or checkpoint disagrees with the entries.
    Tree(String),
    /// The snapshot does not fit the log (replay without it).
    Snapshot(String),
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Store(e) => write!(f, "reading the log: {e}"),
            ReplayError::Entry { index, problem } => {
                write!(f, "log entry {index} fails verification: {problem}")
            }
            ReplayError::Tree(problem) => {
                write!(f, "the stored Merkle tree fails verification: {problem}")
            }
            ReplayError::Snapshot(problem) => write!(f, "the snapshot does not fit: {problem}"),
        }
    }
}

impl std::error::Error for ReplayError {}

/// What replaying the log yields.
pub struct Replayed {
    pub state: State,
    pub frontier: Frontier,
    /// The recomputed stored hashes' upper levels and most recent window.
    pub hashes: crate::ledger::HashCache,
    /// Every entry id in the log.
    pub seen: crate::seen::SeenIds,
    /// Entries whose effect came from the snapshot rather than from decoding the leaf.
    pub restored: u64,
}

/// Recomputes the state and the tree from every entry in `store`, checking on the way that
/// every stored leaf hash, every stored tree hash and the latest checkpoint agree with the
/// entries. Calls `progress(done, total)` after each page.
///
/// Pages of [`crate::replay::CHUNK`] entries run through the [`crate::replay`] pipeline, three
/// at a time: while page k is admitted on this thread, page k + 1 is prepared on the others and
/// a task reads page k + 2 and its stored tree hashes from the store. This blocks the calling
/// thread while it admits (start-up and `truce replay` have nothing else to do meanwhile).
///
/// With a `snapshot` (of at most `total` entries, checked by [`crate::snapshots`]), the entries it
/// covers are only hashed and their saved effects applied; whatever goes wrong with the snapshot
/// itself is a [`ReplayError::Snapshot`], after which the caller replays without it.
pub async fn replay(
    store: Arc<dyn Store>,
    operator: VerifierKey,
    checkpoint_key: Option<(&str, &VerifierKey)>,
    snapshot: Option<&Snapshot>,
    cold: Option<Arc<dyn ColdStore>>,
    mut progress: impl FnMut(u64, u64),
) -> Result<Replayed, ReplayError> {
    let total = store.size().await.map_err(ReplayError::Store)?;
    let mut restoring = match snapshot {
        Some(s) => Restoring::new(s).map_err(ReplayError::Snapshot)?,
        None => Restoring::none(),
    };
    let mut replayer = Replayer::new(operator);
    if let Some(cold) = cold {
        replayer.attach_cold(cold);
    }
    if let Some(s) = snapshot {
        // At most one observation per entry the store holds, whatever the header says.
        replayer.reserve_observations(s.observations().min(total) as usize);
    }
    let mut seen = crate::seen::SeenIds::default();
    let cache = crate::ledger::HashCache::default();
    let (pages, mut read) = mpsc::channel(1);
    let reader = tokio::spawn(read_pages(store.clone(), total, pages));
    // Stops the reader however this returns.
    let _reader = AbortOnDrop(reader);
    // A page that could not be read is reported when its turn comes, after the pages before it.
    let mut next = read
        .recv()
        .await
        .map(|page| page.map(|p| prepare_page(p, &replayer, &restoring)));
    // Where the time goes: waiting for the store, waiting for the preparing threads.
    let (started, mut reading, mut preparing) = (
        std::time::Instant::now(),
        std::time::Duration::ZERO,
        std::time::Duration::ZERO,
    );
    while let Some(current) = next.take() {
        let (page, pending) = current?;
        let waited = std::time::Instant::now();
        next = read
            .recv()
            .await
            .map(|page| page.map(|p| prepare_page(p, &replayer, &restoring)));
        reading += waited.elapsed();
        let waited = std::time::Instant::now();
        let prepared = pending.wait();
        preparing += waited.elapsed();
        let mut recomputed: Vec<[u8; 32]> = Vec::with_capacity(page.hashes.len());
        for (e, leaf) in page.entries.iter().zip(prepared) {
            let fail = |problem: String| ReplayError::Entry {
                index: e.index,
                problem,
            };
            if e.index != replayer.size() {
                return Err(fail(format!("expected index {}", replayer.size())));
            }
            if leaf.leaf_hash != e.leaf_hash {
                return Err(fail("the stored leaf hash does not match the leaf".into()));
            }
            if leaf.time_ms().is_some_and(|t| t != e.time_ms) {
                return Err(fail("log time out of order or mismatched".into()));
            }
            let covered = restoring.covers(e.index);
            let applied = if covered {
                let saved = restoring
                    .next_for(e.index, e.time_ms)
                    .map_err(ReplayError::Snapshot)?;
                // Whatever goes wrong here is the snapshot's: a full replay decides.
                replayer
                    .restore(leaf.leaf_hash, saved)
                    .map_err(|err| ReplayError::Snapshot(err.problem))?
            } else {
                let resolver = match leaf.envelope() {
                    Some(env) => BlobResolver::for_envelope(&*store, env)
                        .await
                        .map_err(ReplayError::Store)?,
                    None => BlobResolver::default(),
                };
                replayer
                    .admit(leaf, &resolver)
                    .map_err(|err| fail(err.problem))?
            };
            if applied.id != e.entry_id {
                let problem = "the stored entry id differs from the payload's";
                return Err(if covered {
                    ReplayError::Snapshot(format!("entry {}: {problem}", e.index))
                } else {
                    fail(problem.into())
                });
            }
            restoring
                .check_root(replayer.size(), || replayer.root())
                .map_err(ReplayError::Snapshot)?;
            seen.insert(&e.entry_id);
            recomputed.extend(applied.pushed.into_iter().map(|(_, h)| h));
        }
        // The stored tree hashes for this page must be exactly the recomputed ones.
        if let Some(i) = (0..recomputed.len()).find(|&i| page.hashes.get(i) != Some(&recomputed[i]))
        {
            return Err(ReplayError::Tree(format!(
                "stored tree hash {} is {} (recomputed from the entries: {})",
                page.hashes_from + i as u64,
                page.hashes
                    .get(i)
                    .map_or("missing".to_string(), hex::encode),
                hex::encode(recomputed[i])
            )));
        }
        cache.extend(page.hashes_from, &recomputed);
        progress(replayer.size(), total);
    }
    if replayer.size() != total {
        return Err(ReplayError::Entry {
            index: replayer.size(),
            problem: "missing from the store".into(),
        });
    }
    restoring.finish().map_err(ReplayError::Snapshot)?;
    tracing::debug!(
        total_ms = started.elapsed().as_millis() as u64,
        waiting_for_the_store_ms = reading.as_millis() as u64,
        waiting_for_preparation_ms = preparing.as_millis() as u64,
        "replayed"
    );
    let finishing = std::time::Instant::now();
    let (state, frontier) = replayer.finish();
    tracing::debug!(
        finish_ms = finishing.elapsed().as_millis() as u64,
        "indexes completed"
    );
    let hash_count = store.hash_count().await.map_err(ReplayError::Store)?;
    if hash_count != merkle::stored_hash_count(total) {
        return Err(ReplayError::Tree(format!(
            "{hash_count} tree hashes are stored for {total} entries (expected {})",
            merkle::stored_hash_count(total)
        )));
    }
    check_checkpoint(&*store, checkpoint_key, total, &frontier).await?;
    Ok(Replayed {
        state,
        frontier,
        hashes: cache,
        seen,
        restored: restoring.restored(),
    })
}

/// The latest stored checkpoint, if `checkpoint_key` is given, is signed by it and covers exactly
/// the `total` entries, with the root `frontier` recomputed from them.
async fn check_checkpoint(
    store: &dyn Store,
    checkpoint_key: Option<(&str, &VerifierKey)>,
    total: u64,
    frontier: &Frontier,
) -> Result<(), ReplayError> {
    if let Some((origin, key)) = checkpoint_key {
        match store.checkpoint().await.map_err(ReplayError::Store)? {
            None if total == 0 => {}
            None => {
                return Err(ReplayError::Tree(format!(
                    "no checkpoint covers the {total} entries"
                )));
            }
            Some((size, note)) => {
                let cp = open_checkpoint(&note, origin, key)
                    .map_err(|e| ReplayError::Tree(format!("the latest checkpoint: {e}")))?;
                if size != total || cp.size != total || cp.root != frontier.root() {
                    return Err(ReplayError::Tree(format!(
                        "the latest checkpoint (size {}, root {}) does not match the entries (size {total}, root {})",
                        cp.size,
                        hex::encode(cp.root),
                        hex::encode(frontier.root())
                    )));
                }
            }
        }
    }
    Ok(())
}

/// A page of entries read from the store, with the stored tree hashes its leaves must yield.
struct Page {
    entries: Vec<truce_store::StoredLeaf>,
    /// The stored position of `hashes[0]`.
    hashes_from: u64,
    /// The stored tree hashes from `hashes_from` up to those of the page's last leaf (fewer if
    /// the store has fewer).
    hashes: Vec<[u8; 32]>,
}

/// Reads the `total` entries page by page, each with its stored tree hashes, and sends them
/// (or the first failure) to `pages`, which holds one page beyond the one being prepared.
async fn read_pages(
    store: Arc<dyn Store>,
    total: u64,
    pages: mpsc::Sender<Result<Page, ReplayError>>,
) {
    let mut start = 0;
    // Small pages first (see `chunk_sizes` for why).
    for size in crate::replay::chunk_sizes() {
        if start >= total {
            return;
        }
        let page = read_page(&*store, start, (total - start).min(size as u64)).await;
        let next = page
            .as_ref()
            .map_or(total, |p| start + p.entries.len() as u64);
        if pages.send(page).await.is_err() {
            return;
        }
        start = next;
    }
}

/// Reads the `count` entries from `start` and their stored tree hashes, the two
/// concurrently (on two of the store's reader connections).
async fn read_page(store: &dyn Store, start: u64, count: u64) -> Result<Page, ReplayError> {
    let hashes_from = merkle::stored_hash_count(start);
    let hashes_to = merkle::stored_hash_count(start + count);
    let read_hashes = async {
        let mut hashes = Vec::with_capacity((hashes_to - hashes_from) as usize);
        while (hashes.len() as u64) < hashes_to - hashes_from {
            let at = hashes_from + hashes.len() as u64;
            let want = (hashes_to - at).min(10_000) as u32;
            let got = store.hashes(at, want).await.map_err(ReplayError::Store)?;
            let short = got.len() < want as usize;
            hashes.extend(got);
            if short {
                break;
            }
        }
        Ok(hashes)
    };
    let (entries, hashes) = tokio::join!(store.leaves(start, count as u32), read_hashes);
    let entries = entries.map_err(ReplayError::Store)?;
    if entries.is_empty() {
        return Err(ReplayError::Entry {
            index: start,
            problem: "missing from the store".into(),
        });
    }
    let hashes = hashes?;
    Ok(Page {
        entries,
        hashes_from,
        hashes,
    })
}

/// Hands a page's leaves to the pipeline to prepare in the background.
fn prepare_page(mut page: Page, replayer: &Replayer, restoring: &Restoring) -> (Page, Pending) {
    let hash_only = page
        .entries
        .iter()
        .map(|e| restoring.covers(e.index))
        .collect();
    let leaves = page
        .entries
        .iter_mut()
        .map(|e| std::mem::take(&mut e.leaf))
        .collect();
    let pending = replayer.prepare_in_background(leaves, hash_only);
    (page, pending)
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Start-up's replay: from the latest usable snapshot if there is one (see [`crate::snapshots`]),
/// and from the whole log if there is none or it does not fit.
async fn restart(
    store: &Arc<dyn Store>,
    dir: &DataDir,
    snapshots: &Snapshots,
) -> Result<Replayed, ReplayError> {
    let log_vkey = dir.log_key.verifier();
    let checkpoint_key = Some((dir.config.origin.as_str(), &log_vkey));
    let progress = |done, total| tracing::info!(done, total, "replaying the log");
    let total = store.size().await.map_err(ReplayError::Store)?;
    let operator = dir.operator_key.verifier();
    if let Some(snapshot) = snapshots.latest(total) {
        tracing::info!(size = snapshot.size, "starting from a snapshot");
        match replay(
            store.clone(),
            operator.clone(),
            checkpoint_key,
            Some(&snapshot),
            cold_file(dir),
            progress,
        )
        .await
        {
            Err(ReplayError::Snapshot(problem)) => {
                tracing::warn!(size = snapshot.size, %problem, "snapshot not used; replaying the whole log");
            }
            done => {
                snapshots.loaded(snapshot.size);
                return done;
            }
        }
    }
    replay(
        store.clone(),
        operator,
        checkpoint_key,
        None,
        cold_file(dir),
        progress,
    )
    .await
}

/// A new file for the cold tier of the state being rebuilt ([`crate::cold`]); without one (a
/// data directory that cannot take it), the state holds every record in memory.
fn cold_file(dir: &DataDir) -> Option<Arc<dyn ColdStore>> {
    match ColdFile::create_in(&dir.cold_path()) {
        Ok(file) => Some(Arc::new(file)),
        Err(e) => {
            tracing::warn!(error = %e, path = %dir.cold_path().display(),
                "no cold tier: every observation record stays in memory");
            None
        }
    }
}

impl AppState {
    /// Rebuilds the state from `store` and starts the sequencer task.
    pub async fn start(store: Arc<dyn Store>, dir: &DataDir) -> Result<AppState, ReplayError> {
        let operator = dir.operator_key.verifier();
        let log_vkey = dir.log_key.verifier();
        let snapshots = Arc::new(Snapshots::new(
            dir.snapshots_path(),
            dir.log_key.clone(),
            dir.config.snapshot_every,
        ));
        let replayed = restart(&store, dir, &snapshots).await?;
        tracing::info!(
            size = replayed.state.size(),
            restored = replayed.restored,
            cold_chunks = replayed.state.cold_chunks(),
            cold_days = replayed.state.cold_days(),
            "state rebuilt from the log"
        );
        let hashes = Arc::new(replayed.hashes);
        let (size, root) = (replayed.frontier.size(), replayed.frontier.root());
        let ledger = Ledger::new(
            dir.config.origin.clone(),
            dir.log_key.clone(),
            replayed.frontier,
        );
        let first = ledger
            .sign()
            .map_err(|e| ReplayError::Tree(format!("signing the checkpoint: {e}")))?;
        let (published_tx, published) = watch::channel(Arc::new(first));
        let shared = SharedState::new(replayed.state);
        let seen = Arc::new(Recovering::new(replayed.seen));
        let (tx, rx) = mpsc::channel(4 * sequencer::MAX_BATCH);
        let sequencer = Sequencer {
            store: store.clone(),
            shared: shared.clone(),
            ledger,
            published: published_tx,
            seen: seen.clone(),
            hashes: hashes.clone(),
            snapshots: snapshots.clone(),
        };
        // A long replay is not repeated at the next start.
        if snapshots.due(size) {
            snapshots.take(&shared, size, root).await;
        }
        tokio::spawn(sequencer.run(rx));
        tokio::spawn(crate::ticker::run(
            Arc::new(dir.operator_key.clone()),
            shared.clone(),
            tx.clone(),
            std::time::Duration::from_secs(dir.config.tick_seconds),
        ));
        tokio::spawn(crate::cosignatures::collect(
            store.clone(),
            published.clone(),
            dir.config.origin.clone(),
            log_vkey.clone(),
            dir.config.witnesses.clone(),
        ));
        let intake = Intake {
            store: store.clone(),
            state: shared.clone(),
            seen,
            published: published.clone(),
            hashes,
            limits: dir.config.limits,
            rate: crate::limits::RateLimiter::new(&dir.config.limits),
            operator: operator.signer_id(),
            queue: tx.clone(),
        };
        Ok(AppState {
            store,
            state: shared,
            submit: tx,
            intake: Arc::new(intake),
            origin: dir.config.origin.clone(),
            log_vkey,
            operator_vkey: operator,
            published,
            limits: dir.config.limits,
            tiles: Arc::new(TileCache::new(64 << 20)),
            digest: Arc::default(),
            witnesses: dir
                .config
                .witnesses
                .iter()
                .map(|w| w.vkey.clone())
                .collect(),
            snapshots,
        })
    }

    /// Called once nothing more is accepted (after the HTTP server has drained): snapshots the
    /// committed state, so that the next start does not decode the entries since the last
    /// periodic snapshot.
    pub async fn stop(&self) {
        self.snapshots
            .take_at_stop(&self.state, self.published.clone())
            .await;
    }

    /// A read lock on the committed state, unless it was lost ([`crate::shared`]).
    pub fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, State>, StateLost> {
        self.state.read()
    }

    /// The digest of the committed state, computed at most once per log size and by one caller
    /// at a time (hashing walks the whole state). Blocking: call it off the async workers.
    pub fn state_digest(&self) -> Result<truce_engine::StateDigest, StateLost> {
        // The cache holds a whole digest or none whenever a holder stops: it recovers from a
        // panic ([`Recovering`]); its write lock is what makes the computation one at a time.
        let mut cache = self.digest.write();
        let state = self.read()?;
        if let Some(d) = cache.as_ref().filter(|d| d.size == state.size()) {
            return Ok(d.clone());
        }
        let d = state.digest();
        *cache = Some(d.clone());
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    use super::*;
    use crate::intake::IntakeError;

    async fn call(router: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
        let resp = router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn post(envelope: &truce_model::dsse::Envelope) -> Request<Body> {
        Request::post("/v1/entries")
            .body(Body::from(envelope.canonical_json()))
            .unwrap()
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    /// A fresh data directory under `tmp` with its store, state and router.
    async fn start(
        tmp: &tempfile::TempDir,
    ) -> (
        DataDir,
        Arc<truce_store_sqlite::SqliteStore>,
        AppState,
        axum::Router,
    ) {
        let dir = DataDir::init(&tmp.path().join("log"), "truce.example/log").unwrap();
        let store = Arc::new(
            truce_store_sqlite::SqliteStore::open(&dir.store_path())
                .await
                .unwrap(),
        );
        let app = AppState::start(store.clone(), &dir).await.unwrap();
        let router = crate::router(app.clone());
        (dir, store, app, router)
    }

    /// The shutdown path of [`crate::shared`]: once a writer panicked with the state locked,
    /// nothing panics, every request that needs the state is a 503, nothing more is logged, and
    /// the sequencer stops.
    #[tokio::test]
    async fn a_lost_state_is_503_everywhere_and_stops_the_sequencer() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, store, app, router) = start(&tmp).await;
        let tick = |n: i64| crate::ticker::tick_envelope(&dir.operator_key, 1_800_000_000_000 + n);
        assert_eq!(call(&router, post(&tick(1))).await.0, StatusCode::OK);
        assert_eq!(call(&router, get("/healthz")).await.0, StatusCode::OK);

        app.state.lose();
        for path in [
            "/healthz",
            "/v1/agreements",
            "/v1/agreements/x",
            "/v1/observations",
        ] {
            let (status, body) = call(&router, get(path)).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
            assert!(body.contains("must be restarted"), "{path}: {body}");
        }
        let (status, body) = call(&router, post(&tick(2))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        // What the log holds is still answered from the log.
        assert_eq!(call(&router, post(&tick(1))).await.0, StatusCode::OK);
        assert_eq!(
            call(&router, get("/log/checkpoint")).await.0,
            StatusCode::OK
        );

        // Whatever reaches the sequencer is refused, and the sequencer stops.
        let envelope = tick(3);
        let (reply, answer) = tokio::sync::oneshot::channel();
        app.submit
            .send(Submission {
                canonical: envelope.canonical_json(),
                prepared: truce_engine::Prepared::new(envelope).unwrap(),
                resolver: BlobResolver::default(),
                reply,
            })
            .await
            .unwrap();
        assert!(matches!(
            answer.await.unwrap(),
            Err(IntakeError::StateLost(_))
        ));
        tokio::time::timeout(std::time::Duration::from_secs(10), app.submit.closed())
            .await
            .expect("the sequencer stops");
        assert_eq!(store.size().await.unwrap(), 1);
    }

    /// Keys UA and RU (parties), a monitor and a verifier accredited, and agreement `a` between
    /// UA and RU in force; the keys in that order.
    async fn agreement_in_force(
        dir: &DataDir,
        router: &axum::Router,
    ) -> [truce_model::keys::PrivateKey; 4] {
        use serde_json::json;
        use sha2::Digest as _;
        use truce_model::keys::PrivateKey;

        let key = |name: &str, seed: u8| PrivateKey::from_seed(name, [seed; 32]).unwrap();
        let (ua, ru, monitor, verifier) = (
            key("ukraine", 2),
            key("russia", 3),
            key("monitor", 4),
            key("verifier", 5),
        );
        let operator = &dir.operator_key;
        for (k, roles, aff) in [
            (&ua, "party", "UA"),
            (&ru, "party", "RU"),
            (&monitor, "monitor", "OSCE"),
            (&verifier, "verifier", "OSCE"),
        ] {
            logged(
                router,
                operator,
                "key",
                json!({"id": format!("k-{}", k.name()),
                "vkey": k.verifier().to_string(), "roles": [roles], "affiliation": aff}),
            )
            .await;
        }
        let doc = format!(
            "id = \"a\"\ntitle = \"A\"\nparties = [\n  {{ id = \"UA\", name = \"Ukraine\", \
             role = \"belligerent\", key = \"{}\" }},\n  {{ id = \"RU\", name = \"Russia\", \
             role = \"belligerent\", key = \"{}\" }},\n]\nentry_into_force = {{ at = \
             \"2020-01-01T00:00:00Z\", consent = [\"UA\", \"RU\"] }}\n",
            ua.verifier(),
            ru.verifier()
        );
        logged(
            router,
            operator,
            "agreement",
            json!({"id": "a-1", "agreement": "a", "version": 1,
            "document": doc}),
        )
        .await;
        let sha = hex::encode(sha2::Sha256::digest(doc.as_bytes()));
        for k in [&ua, &ru] {
            logged(
                router,
                k,
                "consent",
                json!({"id": format!("c-{}", k.name()), "agreement": "a",
                "version": 1, "sha256": sha}),
            )
            .await;
        }

        [ua, ru, monitor, verifier]
    }

    /// Signs and logs `payload` as `kind` with `key`, which must be accepted.
    async fn logged(
        router: &axum::Router,
        key: &truce_model::keys::PrivateKey,
        kind: &str,
        payload: serde_json::Value,
    ) {
        let env = truce_model::dsse::Envelope::sign(kind, payload.to_string().as_bytes(), &[key]);
        let (status, body) = call(router, post(&env)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Regression (issue 9, restart time): replay from a snapshot applies its saved effects for
    /// the entries it covers, decodes the rest, and reaches the full replay's state; a snapshot
    /// of another tree is refused as such, so that start-up replays without it.
    #[tokio::test]
    async fn replay_from_a_snapshot_reaches_the_full_replay() {
        use serde_json::json;

        let tmp = tempfile::tempdir().unwrap();
        let (dir, store, app, router) = start(&tmp).await;
        let [ua, _, monitor, verifier] = agreement_in_force(&dir, &router).await;
        let report = |i: usize| {
            json!({"id": format!("o-{i}"), "agreement": "a",
                "observed": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:10:00Z"},
                "observer": {"mode": "heard"},
                "event": {"type": "explosion", "count": 1,
                          "location": {"lat": 48.0 + (i % 4) as f64 * 0.3, "lon": 38.0}}})
        };
        for i in 0..6 {
            logged(&router, &monitor, "observation", report(i)).await;
        }
        logged(
            &router,
            &verifier,
            "decision",
            json!({"id": "d-1", "incident": "o-1", "status": "verified", "reason": "seen"}),
        )
        .await;
        logged(
            &router,
            &ua,
            "dispute",
            json!({"id": "x-1", "incident": "o-2", "reason": "no"}),
        )
        .await;
        let (snapshot, cut) = {
            let state = app.read().unwrap();
            let root = app.published.borrow().root;
            (Snapshot::encode(&state, root), state.size())
        };
        // More after the snapshot: observations that merge with covered ones, a ruling.
        for i in 6..10 {
            logged(&router, &monitor, "observation", report(i)).await;
        }
        logged(
            &router,
            &verifier,
            "decision",
            json!({"id": "d-2", "incident": "o-2", "status": "rejected", "reason": "no"}),
        )
        .await;
        let live = app.read().unwrap().digest();

        let store: Arc<dyn Store> = store;
        let operator = dir.operator_key.verifier();
        let log_vkey = dir.log_key.verifier();
        let key = Some((dir.config.origin.as_str(), &log_vkey));
        let snapshot = Snapshot::decode(snapshot).unwrap();
        let full = replay(store.clone(), operator.clone(), key, None, None, |_, _| {})
            .await
            .unwrap();
        assert_eq!(full.restored, 0);
        let quick = replay(
            store.clone(),
            operator.clone(),
            key,
            Some(&snapshot),
            Some(Arc::new(truce_engine::cold::MemoryCold::default())),
            |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(quick.restored, 8, "six observations and two rulings");
        assert_eq!(snapshot.size, cut);
        assert_eq!(quick.state.digest(), live);
        assert_eq!(full.state.digest(), live);
        assert_eq!(quick.frontier.root(), full.frontier.root());

        // The same effects named for another tree.
        let state = app.read().unwrap().clone();
        let other = Snapshot::decode(Snapshot::encode(&state, [0; 32])).unwrap();
        drop(state);
        match replay(store, operator, key, Some(&other), None, |_, _| {}).await {
            Err(ReplayError::Snapshot(problem)) => {
                assert!(problem.contains("tree hash"), "{problem}")
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a snapshot of another tree was used"),
        }
    }

    /// Regression (issue 9 review): a decision naming an observation logged in the same batch
    /// is judged after that observation, as replay judges it, not refused with "no incident".
    #[tokio::test]
    async fn a_ruling_naming_an_entry_of_its_own_batch_is_admitted() {
        use serde_json::json;
        use truce_model::dsse::Envelope;

        let tmp = tempfile::tempdir().unwrap();
        let (dir, _store, app, router) = start(&tmp).await;
        let [_, _, monitor, verifier] = agreement_in_force(&dir, &router).await;

        // Both queued before the sequencer runs again: one batch.
        let observation = Envelope::sign(
            "observation",
            json!({"id": "o-1", "agreement": "a",
                "observed": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:10:00Z"},
                "observer": {"mode": "heard"},
                "event": {"type": "explosion", "count": 1,
                          "location": {"lat": 48.0, "lon": 38.0}}})
            .to_string()
            .as_bytes(),
            &[&monitor],
        );
        let decision = Envelope::sign(
            "decision",
            json!({"id": "d-1", "incident": "o-1", "status": "verified", "reason": "seen"})
                .to_string()
                .as_bytes(),
            &[&verifier],
        );
        let mut answers = Vec::new();
        for envelope in [observation, decision] {
            let (reply, answer) = tokio::sync::oneshot::channel();
            app.submit
                .send(Submission {
                    canonical: envelope.canonical_json(),
                    prepared: truce_engine::Prepared::new(envelope).unwrap(),
                    resolver: BlobResolver::default(),
                    reply,
                })
                .await
                .unwrap();
            answers.push(answer);
        }
        for answer in answers {
            let receipt = answer.await.unwrap();
            assert!(receipt.is_ok(), "{receipt:?}");
        }
        let state = app.read().unwrap();
        let incident = state.incident("o-1").unwrap();
        assert_eq!(incident.status, truce_engine::IncidentStatus::Verified);
    }
}
