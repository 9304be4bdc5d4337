//! Start-up: open the store, rebuild the state from the log, start the sequencer.
//!
//! The state is never stored; it is recomputed from the entries at every start, through the same
//! `admit` → `apply` path the live server uses. That doubles as an integrity check: a leaf whose
//! stored hash does not match its bytes, a leaf that is not canonical, or an entry the engine
//! would not admit again means the store was altered, and the server refuses to start, naming the
//! entry.

use std::fmt;
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;
use truce_engine::State;
use truce_log::leaf::{self, Leaf};
use truce_model::keys::VerifierKey;
use truce_store::Store;

use crate::blobs::BlobResolver;
use crate::datadir::DataDir;
use crate::sequencer::{self, Shared, Submission};

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub state: Shared,
    pub submit: mpsc::Sender<Submission>,
    pub origin: String,
    pub log_vkey: VerifierKey,
    pub operator_vkey: VerifierKey,
}

/// Why the state could not be rebuilt from the store.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplayError {
    /// The store could not be read.
    Store(truce_store::StoreError),
    /// Entry `index` is damaged or no longer admissible.
    Entry { index: u64, problem: String },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Store(e) => write!(f, "reading the log: {e}"),
            ReplayError::Entry { index, problem } => {
                write!(f, "log entry {index} fails verification: {problem}")
            }
        }
    }
}

impl std::error::Error for ReplayError {}

/// Recomputes the state from every entry in `store`, calling `progress(done, total)` now and
/// then.
pub async fn replay(
    store: &dyn Store,
    operator: VerifierKey,
    mut progress: impl FnMut(u64, u64),
) -> Result<State, ReplayError> {
    let total = store.size().await.map_err(ReplayError::Store)?;
    let mut state = State::new(operator);
    let mut last_time = 0;
    while state.size() < total {
        let page = store
            .entries(state.size(), 10_000)
            .await
            .map_err(ReplayError::Store)?;
        if page.is_empty() {
            return Err(ReplayError::Entry {
                index: state.size(),
                problem: "missing from the store".into(),
            });
        }
        for e in page {
            let fail = |problem: String| ReplayError::Entry {
                index: e.index,
                problem,
            };
            if e.index != state.size() {
                return Err(fail(format!("expected index {}", state.size())));
            }
            if leaf::leaf_hash(&e.leaf) != e.leaf_hash {
                return Err(fail("the stored leaf hash does not match the leaf".into()));
            }
            let l = Leaf::decode(&e.leaf).map_err(|err| fail(err.to_string()))?;
            if l.time_ms != e.time_ms || l.time_ms < last_time {
                return Err(fail("log time out of order or mismatched".into()));
            }
            last_time = l.time_ms;
            let resolver = BlobResolver::for_envelope(store, &l.envelope)
                .await
                .map_err(ReplayError::Store)?;
            let admitted = state
                .admit(&l.envelope, l.time_ms, &resolver)
                .map_err(|r| fail(format!("no longer admissible: {r}")))?;
            if admitted.id != e.entry_id {
                return Err(fail(
                    "the stored entry id differs from the payload's".into(),
                ));
            }
            state.apply(admitted, e.index, l.time_ms);
        }
        progress(state.size(), total);
    }
    Ok(state)
}

impl AppState {
    /// Rebuilds the state from `store` and starts the sequencer task.
    pub async fn start(store: Arc<dyn Store>, dir: &DataDir) -> Result<AppState, ReplayError> {
        let operator = dir.operator_key.verifier();
        let state = replay(&*store, operator.clone(), |done, total| {
            tracing::info!(done, total, "replaying the log");
        })
        .await?;
        tracing::info!(size = state.size(), "state rebuilt from the log");
        let shared: Shared = Arc::new(RwLock::new(state));
        let (tx, rx) = mpsc::channel(4 * sequencer::MAX_BATCH);
        tokio::spawn(sequencer::run(store.clone(), shared.clone(), rx));
        Ok(AppState {
            store,
            state: shared,
            submit: tx,
            origin: dir.config.origin.clone(),
            log_vkey: dir.log_key.verifier(),
            operator_vkey: operator,
        })
    }

    /// A read lock on the committed state.
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().expect("state lock poisoned")
    }
}
