//! Intake: everything between a submitted envelope's bytes and its receipt, except admission
//! itself, which is the sequencer's.
//!
//! [`Intake::submit`] runs, in order (cheapest and most parallel first; each step may end it):
//! 1. parse the envelope and prepare it (kind, payload, `id`): no state needed, `400`/`413`/`422`;
//! 2. answer a resubmission from the log: an `id` the filter of logged ids may hold is looked up
//!    in the store; the same envelope gets its old receipt, other content a conflict;
//! 3. pre-verify the signatures under the keys the committed state knows, in parallel across
//!    requests (the sequencer then only confirms that each key is still the same and usable);
//! 4. rate-limit the verified author (the log's operator key is exempt);
//! 5. read the files an agreement references, only when an operator verifiably signed it: nobody
//!    else can make the server load megabytes of geometry;
//! 6. queue it for the [sequencer](crate::sequencer) and wait for its answer;
//! 7. prove the entry's inclusion in the checkpoint that first covers it.
//!
//! Invariants: intake never changes the state and decides no admission — the sequencer admits
//! every entry against the state including the entries before it in its batch; a signature
//! verified here counts there only under the very same key. Failures are typed
//! ([`IntakeError`]); which HTTP status each one is, is decided in [`crate::problem`] alone.
//!
//! The queue's protocol ([`Submission`] in, [`Receipt`] or [`IntakeError`] out) is defined here
//! and served by the sequencer, so that this module does not depend on it.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};
use truce_engine::{Prepared, Refusal};
use truce_log::leaf;
use truce_model::dsse::Envelope;
use truce_model::entry::Role;
use truce_store::{Store, StoreError};

use crate::blobs::BlobResolver;
use crate::ledger::{self, HashCache, Ledger, ProofError, Published};
use crate::limits::{Limits, RateLimiter};
use crate::seen::SeenIds;
use crate::shared::{Recovering, SharedState, StateLost};

/// A submission waiting for the sequencer, prepared (decoded, signatures verified) by intake.
pub struct Submission {
    pub prepared: Prepared,
    /// The envelope's canonical JSON, as it goes into the leaf.
    pub canonical: Vec<u8>,
    /// The files an agreement references, fetched from the blob store by intake.
    pub resolver: BlobResolver,
    pub reply: oneshot::Sender<Result<Receipt, IntakeError>>,
}

/// What the sequencer answers for a logged entry.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub index: u64,
    pub leaf_hash: [u8; 32],
    /// A committed checkpoint that covers the entry.
    pub checkpoint: Arc<Published>,
}

/// A logged entry, as its submitter learns it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub index: u64,
    pub leaf_hash: [u8; 32],
    /// The C2SP tlog-proof text: the entry's inclusion in a signed checkpoint.
    pub proof: String,
}

/// Why a submission got no receipt. The variants say what happened; [`crate::problem`] maps
/// each to its HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Admission refused the entry (its own status: 400, 401, 403, 413 or 422).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The payload `id` is logged with other content.
    #[error("entry id {id:?} is already logged with different content; choose a new id")]
    Conflict { id: String },
    /// The leaf for the entry would exceed [`leaf::MAX_LEAF_BYTES`].
    #[error("the leaf would be {bytes} bytes; the limit is {max}", max = leaf::MAX_LEAF_BYTES)]
    LeafTooLarge { bytes: usize },
    /// The author submits faster than its rate.
    #[error(
        "key {author} submits faster than {} entries per second (bursts of {}); retry in \
         {retry_after_secs} s",
        limits.entries_per_second,
        limits.burst
    )]
    RateLimited {
        author: String,
        /// Whole seconds to wait, at least 1.
        retry_after_secs: u64,
        limits: Limits,
    },
    /// The store could not say whether the `id` is logged.
    #[error("store: {0}")]
    LookupFailed(StoreError),
    /// The files the agreement references could not be read.
    #[error("reading blobs: {0}")]
    BlobsUnreadable(StoreError),
    /// The tree cannot grow any further.
    #[error("the log is full: {0}")]
    LogFull(String),
    /// The batch could not be stored; nothing of it was logged.
    #[error("the entry could not be stored durably ({0}); it was not logged, submit it again")]
    NotDurable(StoreError),
    /// The committed state was lost.
    #[error(transparent)]
    StateLost(#[from] StateLost),
    /// The sequencer's queue is closed.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The sequencer went away before answering.
    #[error("the sequencer stopped; the entry was not logged")]
    SequencerStopped,
    /// The entry is logged, but its inclusion proof could not be produced.
    #[error("the entry is logged at index {index}, but its inclusion proof failed: {error}")]
    ProofUnavailable { index: u64, error: ProofError },
    /// A fault of the server's own making (the details go to its log, not to the client).
    #[error("{0}")]
    Internal(String),
}

/// Longest a resubmission waits for the checkpoint that covers an entry it found committed.
const COVERING_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The answer for an id already in the log: its receipt if `canonical` is what was logged,
/// else a conflict; `None` if the id is not logged.
pub async fn lookup(
    store: &dyn Store,
    id: &str,
    canonical: &[u8],
    latest: &Arc<Published>,
) -> Option<Result<Receipt, IntakeError>> {
    match store.entry_by_id(id).await {
        Err(e) => Some(Err(IntakeError::LookupFailed(e))),
        Ok(None) => None,
        Ok(Some(existing)) => Some(if leaf::holds_envelope(&existing.leaf, canonical) {
            Ok(Receipt {
                index: existing.index,
                leaf_hash: existing.leaf_hash,
                checkpoint: latest.clone(),
            })
        } else {
            Err(IntakeError::Conflict { id: id.to_string() })
        }),
    }
}

/// `receipt` of an entry found in the store, with a checkpoint that covers it. The sequencer
/// adds a batch's ids to the filter before it publishes the batch's checkpoint, so a
/// resubmission racing the first submission can find the entry committed while the checkpoint it
/// read before the lookup is older: it waits for the next one (the sequencer publishes right
/// after), at most [`COVERING_WAIT`].
async fn covered(
    published: &watch::Receiver<Arc<Published>>,
    mut receipt: Receipt,
) -> Result<Receipt, IntakeError> {
    if receipt.checkpoint.size > receipt.index {
        return Ok(receipt);
    }
    let mut published = published.clone();
    let index = receipt.index;
    let latest = tokio::time::timeout(COVERING_WAIT, published.wait_for(|p| p.size > index))
        .await
        .map_err(|_| IntakeError::SequencerStopped)?
        .map_err(|_| IntakeError::SequencerStopped)?
        .clone();
    receipt.checkpoint = latest;
    Ok(receipt)
}

/// What intake reads and feeds: shared with the sequencer, which alone writes.
pub struct Intake {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) state: SharedState,
    /// The ids in the log, approximately (see [`crate::seen`]).
    pub(crate) seen: Arc<Recovering<SeenIds>>,
    pub(crate) published: watch::Receiver<Arc<Published>>,
    pub(crate) hashes: Arc<HashCache>,
    pub(crate) limits: Limits,
    pub(crate) rate: RateLimiter,
    /// The log's operator key (`name+keyid`), exempt from the rate limit.
    pub(crate) operator: String,
    /// The sequencer's queue.
    pub(crate) queue: mpsc::Sender<Submission>,
}

impl Intake {
    /// Takes the envelope in `body` through every step of the module docs, up to its receipt.
    pub async fn submit(&self, body: &[u8]) -> Result<Logged, IntakeError> {
        let (envelope, canonical) = Envelope::parse_canonical(body).map_err(Refusal::from)?;
        let prepared = Prepared::new(envelope)?;
        // Resubmissions are answered here, without queueing.
        let latest = self.published.borrow().clone();
        let logged = if self.seen.read().may_contain(prepared.id()) {
            lookup(&*self.store, prepared.id(), &canonical, &latest).await
        } else {
            None
        };
        let receipt = match logged {
            Some(answer) => covered(&self.published, answer?).await?,
            None => self.sequence(prepared, canonical).await?,
        };
        self.prove(&receipt).await
    }

    /// Steps 3 to 6: a new entry, through the sequencer.
    async fn sequence(
        &self,
        mut prepared: Prepared,
        canonical: Vec<u8>,
    ) -> Result<Receipt, IntakeError> {
        // One look at the state: the signers' keys, and which of them are the operator's.
        let (keys, operators) = {
            let state = self.state.read()?;
            let keys = state.signature_keys(prepared.envelope());
            let operators: Vec<String> = keys
                .iter()
                .filter(|(id, _)| state.key(id).is_some_and(|k| k.has_role(Role::Operator)))
                .map(|(id, _)| id.clone())
                .collect();
            (keys, operators)
        };
        prepared.preverify(&keys);
        // Only an operator's verified signature makes the server read blobs for an entry.
        let by_operator = prepared
            .verified_keyids()
            .any(|id| operators.iter().any(|o| o == id));
        // The rate limit applies to the entry's author, once its signature is verified.
        if let Some(author) = prepared.verified_keyids().next()
            && author != self.operator
            && let Err(wait) = self.rate.take(author, Instant::now())
        {
            return Err(IntakeError::RateLimited {
                author: author.to_string(),
                retry_after_secs: wait.as_secs().max(1),
                limits: self.limits,
            });
        }
        let resolver = if by_operator {
            BlobResolver::for_envelope(&*self.store, prepared.envelope())
                .await
                .map_err(IntakeError::BlobsUnreadable)?
        } else {
            BlobResolver::default()
        };
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Submission {
                prepared,
                canonical,
                resolver,
                reply,
            })
            .await
            .map_err(|_| IntakeError::ShuttingDown)?;
        answer.await.map_err(|_| IntakeError::SequencerStopped)?
    }

    /// Step 7: the receipt's inclusion proof in its checkpoint.
    async fn prove(&self, receipt: &Receipt) -> Result<Logged, IntakeError> {
        let proof = ledger::inclusion_proof(
            &*self.store,
            &self.hashes,
            receipt.checkpoint.size,
            receipt.index,
        )
        .await
        .map_err(|error| IntakeError::ProofUnavailable {
            index: receipt.index,
            error,
        })?;
        let proof = Ledger::receipt_text(receipt.index, proof, &receipt.checkpoint)
            .map_err(IntakeError::Internal)?;
        Ok(Logged {
            index: receipt.index,
            leaf_hash: receipt.leaf_hash,
            proof,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(size: u64) -> Arc<Published> {
        Arc::new(Published {
            size,
            root: [size as u8; 32],
            note: Vec::new(),
        })
    }

    fn receipt(index: u64, checkpoint: Arc<Published>) -> Receipt {
        Receipt {
            index,
            leaf_hash: [1; 32],
            checkpoint,
        }
    }

    /// Regression (CI, `an_id_is_logged_once_under_races_and_restarts`): a resubmission that
    /// finds its entry committed before the checkpoint covering it is published waits for that
    /// checkpoint instead of failing the inclusion proof with 503.
    #[tokio::test]
    async fn a_receipt_found_before_its_checkpoint_waits_for_it() {
        let (tx, rx) = watch::channel(published(0));
        let waiting = tokio::spawn({
            let rx = rx.clone();
            async move { covered(&rx, receipt(0, published(0))).await }
        });
        tx.send_replace(published(1));
        let r = waiting.await.unwrap().unwrap();
        assert_eq!(r.checkpoint.size, 1);

        // Already covered: the same checkpoint back, at once.
        let r = covered(&rx, receipt(0, published(3))).await.unwrap();
        assert_eq!(r.checkpoint.size, 3);
    }

    /// A sequencer that never publishes (stopped, or stuck) ends the wait with 503, bounded.
    #[tokio::test(start_paused = true)]
    async fn the_wait_for_a_checkpoint_is_bounded() {
        let (_tx, rx) = watch::channel(published(0));
        let err = covered(&rx, receipt(0, published(0))).await.unwrap_err();
        assert!(matches!(err, IntakeError::SequencerStopped), "{err}");
        let (tx, rx) = watch::channel(published(0));
        drop(tx);
        let err = covered(&rx, receipt(0, published(0))).await.unwrap_err();
        assert!(matches!(err, IntakeError::SequencerStopped), "{err}");
    }
}
