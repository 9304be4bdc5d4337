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
use truce_engine::State;
use truce_log::checkpoint::open_checkpoint;
use truce_log::merkle::{self, Frontier};
use truce_model::keys::VerifierKey;
use truce_store::Store;

use crate::blobs::BlobResolver;
use crate::datadir::DataDir;
use crate::intake::{Intake, Submission};
use crate::ledger::{Ledger, Published};
use crate::replay::{CHUNK, Pending, Replayer};
use crate::sequencer::{self, Sequencer};
use crate::shared::{Recovering, SharedState, StateLost};
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
}

/// Recomputes the state and the tree from every entry in `store`, checking on the way that
/// every stored leaf hash, every stored tree hash and the latest checkpoint agree with the
/// entries. Calls `progress(done, total)` after each page.
///
/// Pages of [`crate::replay::CHUNK`] entries run through the [`crate::replay`] pipeline, three
/// at a time: while page k is admitted on this thread, page k + 1 is prepared on the others and
/// a task reads page k + 2 and its stored tree hashes from the store. This blocks the calling
/// thread while it admits (start-up and `truce replay` have nothing else to do meanwhile).
pub async fn replay(
    store: Arc<dyn Store>,
    operator: VerifierKey,
    checkpoint_key: Option<(&str, &VerifierKey)>,
    mut progress: impl FnMut(u64, u64),
) -> Result<Replayed, ReplayError> {
    let total = store.size().await.map_err(ReplayError::Store)?;
    let mut replayer = Replayer::new(operator);
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
        .map(|page| page.map(|p| prepare_page(p, &replayer)));
    while let Some(current) = next.take() {
        let (page, pending) = current?;
        next = read
            .recv()
            .await
            .map(|page| page.map(|p| prepare_page(p, &replayer)));
        let mut recomputed: Vec<[u8; 32]> = Vec::with_capacity(page.hashes.len());
        for (e, leaf) in page.entries.iter().zip(pending.wait()) {
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
            let resolver = match leaf.envelope() {
                Some(env) => BlobResolver::for_envelope(&*store, env)
                    .await
                    .map_err(ReplayError::Store)?,
                None => BlobResolver::default(),
            };
            let applied = replayer
                .admit(leaf, &resolver)
                .map_err(|err| fail(err.problem))?;
            if applied.id != e.entry_id {
                return Err(fail(
                    "the stored entry id differs from the payload's".into(),
                ));
            }
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
    let (state, frontier) = replayer.finish();
    let hash_count = store.hash_count().await.map_err(ReplayError::Store)?;
    if hash_count != merkle::stored_hash_count(total) {
        return Err(ReplayError::Tree(format!(
            "{hash_count} tree hashes are stored for {total} entries (expected {})",
            merkle::stored_hash_count(total)
        )));
    }
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
    Ok(Replayed {
        state,
        frontier,
        hashes: cache,
        seen,
    })
}

/// A page of entries read from the store, with the stored tree hashes its leaves must yield.
struct Page {
    entries: Vec<truce_store::StoredEntry>,
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
    while start < total {
        let page = read_page(&*store, start).await;
        let next = page
            .as_ref()
            .map_or(total, |p| start + p.entries.len() as u64);
        if pages.send(page).await.is_err() {
            return;
        }
        start = next;
    }
}

async fn read_page(store: &dyn Store, start: u64) -> Result<Page, ReplayError> {
    let entries = store
        .entries(start, CHUNK as u32)
        .await
        .map_err(ReplayError::Store)?;
    if entries.is_empty() {
        return Err(ReplayError::Entry {
            index: start,
            problem: "missing from the store".into(),
        });
    }
    let hashes_from = merkle::stored_hash_count(start);
    let hashes_to = merkle::stored_hash_count(start + entries.len() as u64);
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
    Ok(Page {
        entries,
        hashes_from,
        hashes,
    })
}

/// Hands a page's leaves to the pipeline to prepare in the background.
fn prepare_page(mut page: Page, replayer: &Replayer) -> (Page, Pending) {
    let leaves = page
        .entries
        .iter_mut()
        .map(|e| std::mem::take(&mut e.leaf))
        .collect();
    let pending = replayer.prepare_in_background(leaves);
    (page, pending)
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl AppState {
    /// Rebuilds the state from `store` and starts the sequencer task.
    pub async fn start(store: Arc<dyn Store>, dir: &DataDir) -> Result<AppState, ReplayError> {
        let operator = dir.operator_key.verifier();
        let log_vkey = dir.log_key.verifier();
        let replayed = replay(
            store.clone(),
            operator.clone(),
            Some((&dir.config.origin, &log_vkey)),
            |done, total| tracing::info!(done, total, "replaying the log"),
        )
        .await?;
        tracing::info!(size = replayed.state.size(), "state rebuilt from the log");
        let hashes = Arc::new(replayed.hashes);
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
        };
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
        })
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

    /// Regression (issue 9 review): a decision naming an observation logged in the same batch
    /// is judged after that observation, as replay judges it, not refused with "no incident".
    #[tokio::test]
    async fn a_ruling_naming_an_entry_of_its_own_batch_is_admitted() {
        use serde_json::json;
        use sha2::Digest as _;
        use truce_model::dsse::Envelope;
        use truce_model::keys::PrivateKey;

        let tmp = tempfile::tempdir().unwrap();
        let (dir, _store, app, router) = start(&tmp).await;
        let key = |name: &str, seed: u8| PrivateKey::from_seed(name, [seed; 32]).unwrap();
        let (ua, ru, monitor, verifier) = (
            key("ukraine", 2),
            key("russia", 3),
            key("monitor", 4),
            key("verifier", 5),
        );
        let logged = |k: &PrivateKey, kind: &str, payload: serde_json::Value| {
            let env = Envelope::sign(kind, payload.to_string().as_bytes(), &[k]);
            let router = router.clone();
            async move {
                let (status, body) = call(&router, post(&env)).await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        };
        let operator = &dir.operator_key;
        for (k, roles, aff) in [
            (&ua, "party", "UA"),
            (&ru, "party", "RU"),
            (&monitor, "monitor", "OSCE"),
            (&verifier, "verifier", "OSCE"),
        ] {
            logged(
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
            operator,
            "agreement",
            json!({"id": "a-1", "agreement": "a", "version": 1,
            "document": doc}),
        )
        .await;
        let sha = hex::encode(sha2::Sha256::digest(doc.as_bytes()));
        for k in [&ua, &ru] {
            logged(
                k,
                "consent",
                json!({"id": format!("c-{}", k.name()), "agreement": "a",
                "version": 1, "sha256": sha}),
            )
            .await;
        }

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
