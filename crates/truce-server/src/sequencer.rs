//! The sequencer: the single writer that turns accepted submissions into log entries.
//!
//! Every `POST /v1/entries` hands its envelope to this one task. It takes whatever submissions
//! are waiting (group commit), and for each in order:
//! 1. answers a resubmission of an already logged envelope with its existing index (idempotence),
//!    and refuses a logged `id` with other content (409);
//! 2. admits it against the state *including the entries before it in this batch*;
//! 3. builds the leaf with its log time (monotonic: never earlier than the previous entry's).
//!
//! Then it appends the batch in one durable transaction and only after that commit applies the
//! batch to the shared state readers see and acknowledges the submitters. The sequencer keeps its
//! own working copy of the state for step 2 (only what admission consults: keys and agreements,
//! see [`State::for_admission`]); if a commit fails, it throws the working copy away and starts
//! again from the shared state, so nothing unacknowledged ever becomes visible.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot, watch};
use truce_engine::{Admitted, Prepared, State};
use truce_log::leaf::{self, Leaf};
use truce_store::{NewEntry, Store};

use crate::blobs::BlobResolver;
use crate::ledger::{Ledger, Published};
use crate::problem::Problem;

/// Most submissions committed in one transaction.
pub const MAX_BATCH: usize = 1024;

/// A submission waiting for the sequencer, prepared (decoded, signatures verified) by its
/// handler.
pub struct Submission {
    pub prepared: Prepared,
    /// The envelope's canonical JSON, as it goes into the leaf.
    pub canonical: Vec<u8>,
    /// The files an agreement references, fetched from the blob store by the handler.
    pub resolver: BlobResolver,
    pub reply: oneshot::Sender<Result<Receipt, Problem>>,
}

/// What a logged entry's submitter gets back.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub index: u64,
    pub leaf_hash: [u8; 32],
    /// True when the envelope had been logged before (an idempotent resubmission).
    pub existing: bool,
    /// A committed checkpoint that covers the entry.
    pub checkpoint: Arc<Published>,
}

/// The shared, committed state readers see.
pub type Shared = Arc<RwLock<State>>;

/// Milliseconds since the epoch, by the wall clock.
fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The single writer. Owns the working state and the tree; see the module docs.
pub struct Sequencer {
    pub store: Arc<dyn Store>,
    pub shared: Shared,
    pub ledger: Ledger,
    /// The latest committed checkpoint, for readers and witnesses.
    pub published: watch::Sender<Arc<Published>>,
    /// The ids in the log, approximately. A handler consults it before queueing its entry;
    /// an entry with the same id committed in between is in it by the time the sequencer takes
    /// the submission (this task inserts every batch's ids right after the commit), so the
    /// sequencer asks the store again only on a "maybe". Anything that slipped past both would
    /// still be caught by the store's unique constraint, which fails the batch rather than log
    /// a duplicate.
    pub seen: Arc<RwLock<crate::seen::SeenIds>>,
    /// Committed stored hashes, for proofs.
    pub hashes: Arc<crate::ledger::HashCache>,
}

/// The answer for an id already in the log: its receipt if `canonical` is what was logged,
/// else a conflict; `None` if the id is not logged.
pub async fn lookup(
    store: &dyn Store,
    id: &str,
    canonical: &[u8],
    latest: &Arc<Published>,
) -> Option<Result<Receipt, Problem>> {
    match store.entry_by_id(id).await {
        Err(e) => Some(Err(Problem::unavailable(format!("store: {e}")))),
        Ok(None) => None,
        Ok(Some(existing)) => {
            let same = Leaf::decode(&existing.leaf)
                .map(|l| l.envelope.canonical_json() == canonical)
                .unwrap_or(false);
            Some(if same {
                Ok(Receipt {
                    index: existing.index,
                    leaf_hash: existing.leaf_hash,
                    existing: true,
                    checkpoint: latest.clone(),
                })
            } else {
                Err(conflict(id))
            })
        }
    }
}

impl Sequencer {
    /// Runs until every sender is dropped and the queue is drained.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Submission>) {
        let mut working = read(&self.shared).for_admission();
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let saved = self.ledger.clone();
            if let Err(e) = self.commit_batch(&mut working, &mut batch).await {
                tracing::error!(error = %e, "commit failed; resetting to the committed state");
                working = read(&self.shared).for_admission();
                self.ledger = saved;
            }
            batch.clear();
        }
    }
}

fn read(shared: &Shared) -> std::sync::RwLockReadGuard<'_, State> {
    // A poisoned lock means a panic while applying committed entries; the state may be
    // inconsistent, so refusing to go on is the only safe answer.
    shared.read().expect("state lock poisoned")
}

struct Pending {
    /// Taken when applied to the shared state.
    admitted: Option<Admitted>,
    index: u64,
    time_ms: i64,
    leaf_hash: [u8; 32],
    reply: oneshot::Sender<Result<Receipt, Problem>>,
    /// Identical resubmissions that arrived in the same batch.
    followers: Vec<oneshot::Sender<Result<Receipt, Problem>>>,
}

impl Sequencer {
    async fn commit_batch(
        &mut self,
        working: &mut State,
        batch: &mut Vec<Submission>,
    ) -> Result<(), String> {
        let store = &*self.store;
        let started = std::time::Instant::now();
        let first_index = working.size();
        let mut entries: Vec<NewEntry> = Vec::with_capacity(batch.len());
        let mut pending: Vec<Pending> = Vec::with_capacity(batch.len());
        // Ids assigned in this batch → position in `entries`.
        let mut in_batch: HashMap<String, usize> = HashMap::new();

        for sub in batch.drain(..) {
            let canonical = &sub.canonical;
            let id = sub.prepared.id().to_string();
            // Idempotence and conflicts within the batch.
            if let Some(&pos) = in_batch.get(&id) {
                if entries[pos]
                    .leaf
                    .ends_with(&[&canonical[..], b"}"].concat())
                {
                    // The same envelope twice in one batch: acknowledged with the first copy.
                    pending[pos].followers.push(sub.reply);
                } else {
                    let _ = sub.reply.send(Err(conflict(&id)));
                }
                continue;
            }
            // The handler looked the id up before queueing it; an entry committed since then
            // is in the filter, and only on a "maybe" is the store asked again.
            let maybe_logged = self.seen.read().expect("lock poisoned").may_contain(&id);
            if maybe_logged {
                let latest = self.published.borrow().clone();
                if let Some(answer) = lookup(store, &id, canonical, &latest).await {
                    let _ = sub.reply.send(answer);
                    continue;
                }
            }
            let time_ms = now_ms().max(working.last_time_ms());
            let admitted = match working.admit_prepared(&sub.prepared, time_ms, &sub.resolver) {
                Ok(a) => a,
                Err(refusal) => {
                    let _ = sub.reply.send(Err(refusal.into()));
                    continue;
                }
            };
            let index = first_index + entries.len() as u64;
            let leaf = leaf::encode(time_ms, canonical);
            if leaf.len() > leaf::MAX_LEAF_BYTES {
                let _ = sub.reply.send(Err(Problem::too_large(format!(
                    "the leaf would be {} bytes; the limit is {}",
                    leaf.len(),
                    leaf::MAX_LEAF_BYTES
                ))));
                continue;
            }
            let leaf_hash = leaf::leaf_hash(&leaf);
            working.apply_ref(&admitted, index, time_ms);
            in_batch.insert(id.clone(), entries.len());
            entries.push(NewEntry {
                entry_id: id,
                kind: admitted.kind.as_str().to_string(),
                signer: admitted.signer.clone(),
                time_ms,
                leaf,
                leaf_hash,
            });
            pending.push(Pending {
                admitted: Some(admitted),
                index,
                time_ms,
                leaf_hash,
                reply: sub.reply,
                followers: Vec::new(),
            });
        }
        if entries.is_empty() {
            return Ok(());
        }
        let leaf_hashes: Vec<[u8; 32]> = entries.iter().map(|e| e.leaf_hash).collect();
        let (tree, published) = match self.ledger.extend(&leaf_hashes) {
            Ok(t) => t,
            Err(e) => {
                for p in pending {
                    for reply in std::iter::once(p.reply).chain(p.followers) {
                        let _ =
                            reply.send(Err(Problem::unavailable(format!("the log is full: {e}"))));
                    }
                }
                return Err(e.to_string());
            }
        };
        let admitted_at = std::time::Instant::now();
        if let Err(e) = store.append(first_index, &entries, &tree).await {
            for p in pending {
                for reply in std::iter::once(p.reply).chain(p.followers) {
                    let _ = reply.send(Err(Problem::unavailable(format!(
                    "the entry could not be stored durably ({e}); it was not logged, submit it again"
                ))));
                }
            }
            return Err(e.to_string());
        }
        {
            let mut state = self.shared.write().expect("state lock poisoned");
            for p in &mut pending {
                if let Some(admitted) = p.admitted.take() {
                    state.apply(admitted, p.index, p.time_ms);
                }
            }
        }
        {
            let mut seen = self.seen.write().expect("lock poisoned");
            for e in &entries {
                seen.insert(&e.entry_id);
            }
        }
        self.hashes.extend(tree.hashes_from, &tree.hashes);
        // Readers see the state first, then the checkpoint that covers it.
        let published = Arc::new(published);
        self.published.send_replace(published.clone());
        let stored_at = std::time::Instant::now();
        let count = pending.len();
        for p in pending {
            let receipt = Receipt {
                index: p.index,
                leaf_hash: p.leaf_hash,
                existing: false,
                checkpoint: published.clone(),
            };
            for (i, reply) in std::iter::once(p.reply).chain(p.followers).enumerate() {
                let _ = reply.send(Ok(Receipt {
                    existing: i > 0,
                    ..receipt.clone()
                }));
            }
        }
        tracing::debug!(
            entries = count,
            admit_us = (admitted_at - started).as_micros() as u64,
            store_us = (stored_at - admitted_at).as_micros() as u64,
            publish_us = stored_at.elapsed().as_micros() as u64,
            "batch committed"
        );
        Ok(())
    }
}

fn conflict(id: &str) -> Problem {
    Problem::conflict(format!(
        "entry id {id:?} is already logged with different content; choose a new id"
    ))
}
