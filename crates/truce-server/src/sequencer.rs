//! The sequencer: the single writer that turns accepted submissions into log entries.
//!
//! Intake ([`crate::intake`], for every `POST /v1/entries`) and the ticker hand their envelopes
//! to this one task. It takes whatever submissions are waiting (group commit), and for each in
//! order:
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
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use truce_engine::{Admitted, State};
use truce_log::leaf;
use truce_model::entry::Kind;
use truce_store::{NewEntry, Store};

use crate::intake::{IntakeError, Receipt, Submission, lookup};
use crate::ledger::{HashCache, Ledger, Published};
use crate::seen::SeenIds;
use crate::shared::{Recovering, SharedState, StateLost};

/// Most submissions committed in one transaction.
pub const MAX_BATCH: usize = 1024;

/// Milliseconds since the epoch, by the wall clock.
fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The single writer. Owns the working state and the tree; see the module docs.
pub struct Sequencer {
    pub store: Arc<dyn Store>,
    pub shared: SharedState,
    pub ledger: Ledger,
    /// The latest committed checkpoint, for readers and witnesses.
    pub published: watch::Sender<Arc<Published>>,
    /// The ids in the log, approximately. Intake consults it before queueing an entry;
    /// an entry with the same id committed in between is in it by the time the sequencer takes
    /// the submission (this task inserts every batch's ids right after the commit), so the
    /// sequencer asks the store again only on a "maybe". Anything that slipped past both would
    /// still be caught by the store's unique constraint, which fails the batch rather than log
    /// a duplicate.
    ///
    /// Its lock recovers from poisoning ([`Recovering`]): inserting only ever sets bits, so a
    /// panic in the middle of a batch's inserts leaves a valid filter that may lack some of that
    /// batch's ids, and the store's unique constraint still refuses a duplicate.
    pub seen: Arc<Recovering<SeenIds>>,
    /// Committed stored hashes, for proofs.
    pub hashes: Arc<HashCache>,
    /// Snapshots of the derived state, taken between batches when due.
    pub snapshots: Arc<crate::snapshots::Snapshots>,
}

impl Sequencer {
    /// Admits `sub` against the working copy. Decisions and disputes name incidents, which the
    /// admission-only working copy does not keep: their names are looked up in the committed
    /// state. It lacks only this batch's entries, and a ruling that names one of those ends the
    /// batch before it (`commit_batch`), so the verdict is the one replay, which looks names up
    /// in the full state itself, reaches.
    fn admit(
        &self,
        working: &State,
        sub: &Submission,
        time_ms: i64,
    ) -> Result<Admitted, IntakeError> {
        let refused = IntakeError::Refused;
        match sub.prepared.kind() {
            Kind::Decision | Kind::Dispute => {
                let committed = self.shared.read().map_err(IntakeError::StateLost)?;
                working
                    .admit_prepared_with(&sub.prepared, time_ms, &sub.resolver, &committed)
                    .map_err(refused)
            }
            _ => working
                .admit_prepared(&sub.prepared, time_ms, &sub.resolver)
                .map_err(refused),
        }
    }

    /// Runs until every sender is dropped and the queue is drained, or until the committed state
    /// is lost ([`crate::shared`]): then it logs nothing more, answers what is queued with
    /// [`IntakeError::StateLost`] and stops, closing the queue.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Submission>) {
        let Some(mut working) = self.working_copy() else {
            return;
        };
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            // A batch may end early (see `commit_batch`): what it leaves is the next batch.
            while !batch.is_empty() {
                if self.shared.is_lost() {
                    for sub in batch.drain(..) {
                        let _ = sub.reply.send(Err(IntakeError::StateLost(StateLost)));
                    }
                    return;
                }
                let saved = self.ledger.clone();
                if let Err(e) = self.commit_batch(&mut working, &mut batch).await {
                    tracing::error!(error = %e, "commit failed; resetting to the committed state");
                    let Some(reset) = self.working_copy() else {
                        return;
                    };
                    working = reset;
                    self.ledger = saved;
                    batch.clear();
                    continue;
                }
                // Between batches the committed state is the ledger's tree: a snapshot of it
                // names that tree's root.
                let published = self.published.borrow().clone();
                if self.snapshots.due(published.size) {
                    self.snapshots
                        .take(&self.shared, published.size, published.root)
                        .await;
                }
            }
        }
    }

    /// A fresh admission copy of the committed state; `None` (and the reason logged) if it is
    /// lost.
    fn working_copy(&self) -> Option<State> {
        match self.shared.read() {
            Ok(state) => Some(state.for_admission()),
            Err(lost) => {
                tracing::error!(%lost, "the sequencer stops");
                None
            }
        }
    }
}

type Reply = oneshot::Sender<Result<Receipt, IntakeError>>;

struct Pending {
    /// Taken when applied to the shared state.
    admitted: Option<Admitted>,
    index: u64,
    time_ms: i64,
    leaf_hash: [u8; 32],
    reply: Reply,
    /// Identical resubmissions that arrived in the same batch.
    followers: Vec<Reply>,
}

impl Pending {
    /// Everybody waiting for this entry.
    fn replies(self) -> impl Iterator<Item = Reply> {
        std::iter::once(self.reply).chain(self.followers)
    }
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

        let mut queue = std::mem::take(batch).into_iter();
        while let Some(sub) = queue.next() {
            // A ruling naming an entry of this very batch is judged against the committed state,
            // which does not hold that entry yet: the batch ends before it, and it leads the next.
            if sub
                .prepared
                .incident_named()
                .is_some_and(|name| in_batch.contains_key(name))
            {
                batch.extend(std::iter::once(sub).chain(queue));
                break;
            }
            let canonical = &sub.canonical;
            let id = sub.prepared.id().to_string();
            // Idempotence and conflicts within the batch.
            if let Some(&pos) = in_batch.get(&id) {
                if leaf::holds_envelope(&entries[pos].leaf, canonical) {
                    // The same envelope twice in one batch: acknowledged with the first copy.
                    pending[pos].followers.push(sub.reply);
                } else {
                    let _ = sub.reply.send(Err(IntakeError::Conflict { id }));
                }
                continue;
            }
            // Intake looked the id up before queueing it; an entry committed since then
            // is in the filter, and only on a "maybe" is the store asked again.
            let maybe_logged = self.seen.read().may_contain(&id);
            if maybe_logged {
                let latest = self.published.borrow().clone();
                if let Some(answer) = lookup(store, &id, canonical, &latest).await {
                    let _ = sub.reply.send(answer);
                    continue;
                }
            }
            let time_ms = now_ms().max(working.last_time_ms());
            let admitted = match self.admit(working, &sub, time_ms) {
                Ok(a) => a,
                Err(e) => {
                    let _ = sub.reply.send(Err(e));
                    continue;
                }
            };
            let index = first_index + entries.len() as u64;
            let leaf = leaf::encode(time_ms, canonical);
            if leaf.len() > leaf::MAX_LEAF_BYTES {
                let _ = sub
                    .reply
                    .send(Err(IntakeError::LeafTooLarge { bytes: leaf.len() }));
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
                for reply in pending.into_iter().flat_map(Pending::replies) {
                    let _ = reply.send(Err(IntakeError::LogFull(e.clone())));
                }
                return Err(e);
            }
        };
        let admitted_at = std::time::Instant::now();
        if let Err(e) = store.append(first_index, &entries, &tree).await {
            for reply in pending.into_iter().flat_map(Pending::replies) {
                let _ = reply.send(Err(IntakeError::NotDurable(e.clone())));
            }
            return Err(e.to_string());
        }
        // Only this task writes the state, and `run` found it intact before the batch. Were it
        // lost anyway, the batch is logged all the same: it is acknowledged below, and the next
        // batch finds the state lost and stops.
        if let Ok(mut state) = self.shared.write() {
            for p in &mut pending {
                if let Some(admitted) = p.admitted.take() {
                    state.apply(admitted, p.index, p.time_ms);
                }
            }
        }
        {
            let mut seen = self.seen.write();
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
                checkpoint: published.clone(),
            };
            for reply in p.replies() {
                let _ = reply.send(Ok(receipt.clone()));
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
