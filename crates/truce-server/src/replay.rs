//! The replay pipeline shared by start-up ([`crate::app::replay`]) and `truce replay --log`:
//! leaves in, state out, with the expensive work spread over the machine's cores.
//!
//! Why: replay re-admits every entry, and a large part of admission does not depend on the
//! state — parsing the leaf (JSON, base64, the canonical-form check), decoding the payload, and
//! verifying Ed25519 signatures (1M entries hold 1M signatures: ~37 s of `verify_strict` on one
//! core). So each chunk of leaves is
//!
//! 1. *prepared* ([`Replayer::prepare`], or [`Replayer::prepare_in_background`] while the
//!    previous chunk is admitted): `std::thread::available_parallelism()` threads each take a
//!    contiguous slice, hash and decode its leaves, build the engine's [`Prepared`] and
//!    batch-verify ([`Keyring::preverify_batch`]: ed25519 batch verification, as strict as
//!    `verify_strict` but for one documented edge case, see
//!    [`truce_model::keys::verify_batch`]) the signatures whose keys the state knew when the
//!    chunk was handed over;
//! 2. *admitted and applied* in log order on the calling thread ([`Replayer::admit`]), exactly
//!    as before: [`State::admit_prepared`], then [`State::apply`].
//!
//! Invariants (why the verdicts are those of sequential admission):
//! - the state is only ever changed by step 2, in log order; step 1 reads a snapshot of the
//!   state's keys ([`State::keyring`]) and changes nothing but each leaf's own [`Prepared`];
//! - a signature counts as verified in step 2 only if step 1 verified it under the very key that
//!   the keyid names at admission time ([`State::admit_prepared`] compares the keys), so an old
//!   snapshot is never wrong, only slower; every other signature — by a key accredited after the
//!   snapshot, or one that failed the batch — is verified there with `verify_strict`, and
//!   refused the same way as before;
//! - a leaf that cannot be decoded is reported when step 2 reaches it, so the first failing
//!   entry is the one named, whatever the threads did.
//!
//! The engine does no I/O: the callers read the leaves (store pages, entry bundles over HTTP)
//! and the blobs an agreement references, and feed them in.

use std::num::NonZeroUsize;

use truce_engine::{Keyring, Prepared, State};
use truce_log::leaf::{self, Leaf};
use truce_log::merkle::Frontier;
use truce_model::agreement::Resolver;
use truce_model::dsse::Envelope;
use truce_model::keys::VerifierKey;

/// Leaves per chunk that the callers read and prepare at once: large enough for batch
/// verification to pay (each thread's batch is CHUNK / threads signatures), small enough that a
/// chunk's prepared entries stay a few megabytes.
pub const CHUNK: usize = 8192;

/// Leaves in the first chunk a replay reads ([`chunk_sizes`]).
const FIRST_CHUNK: usize = 256;

/// The sizes of the chunks a replay reads, in order: 256 leaves, doubling up to [`CHUNK`],
/// then [`CHUNK`] for ever.
///
/// Why not full chunks from the start: a chunk is prepared with the keys the state knew before
/// the chunk ahead of it was admitted, so the signatures by keys a log accredits at its start
/// are verified one by one, with `verify_strict` on the admitting thread, until the preparing
/// threads know those keys: the first two chunks, 16,384 signatures (0.8 s) at full size, 768
/// with these.
pub fn chunk_sizes() -> impl Iterator<Item = usize> {
    std::iter::successors(Some(FIRST_CHUNK), |&n| Some((n * 2).min(CHUNK)))
}

/// Below this many leaves per thread, preparing on the calling thread alone is cheaper than
/// starting threads.
const MIN_PER_THREAD: usize = 256;

/// One leaf, hashed and decoded (or why it could not be).
#[derive(Debug)]
pub struct PreparedLeaf {
    /// RFC 6962 leaf hash of the leaf bytes.
    pub leaf_hash: [u8; 32],
    /// `None` for a leaf that was only hashed (its effect comes from a snapshot). Boxed: a
    /// prepared payload is hundreds of bytes, and a page of leaves is moved between threads
    /// and iterated by value, most of them only hashed when a snapshot covers them.
    decoded: Option<Result<(i64, Box<Prepared>), String>>,
}

impl PreparedLeaf {
    /// The leaf's log time, if it decoded.
    pub fn time_ms(&self) -> Option<i64> {
        self.decoded.as_ref()?.as_ref().ok().map(|(t, _)| *t)
    }

    /// The leaf's envelope, if it decoded (to fetch the blobs an agreement references).
    pub fn envelope(&self) -> Option<&Envelope> {
        self.decoded
            .as_ref()?
            .as_ref()
            .ok()
            .map(|(_, p)| p.envelope())
    }
}

/// What replaying one entry did.
#[derive(Debug)]
pub struct Applied {
    /// The entry's payload `id`.
    pub id: String,
    /// The tree hashes the leaf added, as [`Frontier::push`] returns them.
    pub pushed: Vec<(u64, [u8; 32])>,
}

/// Why an entry does not replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    pub index: u64,
    pub problem: String,
}

/// The state and Merkle frontier being rebuilt, one leaf at a time, in log order.
pub struct Replayer {
    state: State,
    frontier: Frontier,
    last_time: i64,
    threads: usize,
    /// Fewest leaves a preparing thread is started for ([`MIN_PER_THREAD`]; lower in tests, so
    /// that small logs exercise the split across threads).
    min_per_thread: usize,
}

impl Replayer {
    /// Replay from the empty log of operator key `operator`, on all available cores.
    pub fn new(operator: VerifierKey) -> Replayer {
        let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Replayer::with_threads(operator, threads)
    }

    /// Replay with `threads` threads preparing each chunk (with 1, [`Replayer::prepare`] starts
    /// no thread; [`Replayer::prepare_in_background`] always starts one).
    pub fn with_threads(operator: VerifierKey, threads: usize) -> Replayer {
        Replayer {
            // Nothing queries the state before `finish`.
            state: State::new(operator),
            frontier: Frontier::new(),
            last_time: 0,
            threads: threads.max(1),
            min_per_thread: MIN_PER_THREAD,
        }
    }

    /// Starts a preparing thread for as few as `n` leaves (tests: small logs, many threads).
    #[cfg(test)]
    fn splitting_from(mut self, n: usize) -> Replayer {
        self.min_per_thread = n.max(1);
        self
    }

    /// Entries replayed so far (the next leaf's index).
    pub fn size(&self) -> u64 {
        self.state.size()
    }

    /// Keeps the records of all but the newest observations in `cold` ([`crate::cold`]).
    pub fn attach_cold(&mut self, cold: std::sync::Arc<dyn truce_engine::cold::ColdStore>) {
        self.state
            .attach_cold(cold, truce_engine::cold::Tiering::default());
    }

    /// Makes room for `additional` more observations (those a snapshot restores).
    pub fn reserve_observations(&mut self, additional: usize) {
        self.state.reserve_observations(additional);
    }

    /// The state and frontier.
    pub fn finish(mut self) -> (State, Frontier) {
        self.state.finish_restore();
        (self.state, self.frontier)
    }

    /// Step 1: hashes, decodes and pre-verifies `leaves` (the next leaves of the log, in order)
    /// in parallel, with the keys the state knows now. Changes nothing.
    pub fn prepare<L: AsRef<[u8]> + Sync>(&self, leaves: &[L]) -> Vec<PreparedLeaf> {
        prepare(
            &self.state.keyring(),
            leaves,
            &[],
            self.threads,
            self.min_per_thread,
        )
    }

    /// [`Replayer::prepare`] on a thread of its own, so that the caller can admit the previous
    /// chunk (or read the next) meanwhile. The keys are those the state knows now, before the
    /// chunks not yet admitted: signatures by keys those accredit are verified at admission.
    ///
    /// Leaves whose entry in `hash_only` is true are only hashed: their effects come from a
    /// snapshot ([`Replayer::restore`]). An empty `hash_only` decodes every leaf.
    pub fn prepare_in_background(&self, leaves: Vec<Vec<u8>>, hash_only: Vec<bool>) -> Pending {
        let keyring = self.state.keyring();
        let (threads, min) = (self.threads, self.min_per_thread);
        Pending(
            worker()
                .spawn(move || prepare(&keyring, &leaves, &hash_only, threads, min))
                .expect("the OS starts a thread (as std::thread::spawn assumes)"),
        )
    }

    /// Step 2: admits and applies the next leaf, prepared by [`Replayer::prepare`] against this
    /// state or an earlier one, and pushes its hash onto the frontier. `resolver` supplies the
    /// files an agreement references.
    pub fn admit(
        &mut self,
        leaf: PreparedLeaf,
        resolver: &dyn Resolver,
    ) -> Result<Applied, EntryError> {
        let index = self.state.size();
        let fail = |problem: String| EntryError { index, problem };
        let (time_ms, prepared) = leaf
            .decoded
            .ok_or_else(|| fail("the leaf was only hashed".into()))?
            .map_err(fail)?;
        self.check_time(time_ms).map_err(fail)?;
        let admitted = self
            .state
            .admit_prepared(&prepared, time_ms, resolver)
            .map_err(|r| fail(format!("no longer admissible: {r}")))?;
        self.apply(leaf.leaf_hash, admitted, time_ms).map_err(fail)
    }

    /// Step 2 for a leaf a snapshot covers: applies the effect `saved` it recorded for this
    /// index, instead of admitting the leaf, and pushes the leaf's hash onto the frontier. The
    /// caller has checked that `saved` is the snapshot's effect for this index and that the
    /// snapshot is one this log's key signed for this tree ([`crate::snapshots`]).
    pub fn restore(
        &mut self,
        leaf_hash: [u8; 32],
        saved: truce_engine::Saved,
    ) -> Result<Applied, EntryError> {
        let index = self.state.size();
        let fail = |problem: String| EntryError { index, problem };
        if saved.index() != index {
            return Err(fail(format!(
                "the snapshot's next effect is for entry {}",
                saved.index()
            )));
        }
        let time_ms = saved.time_ms();
        self.check_time(time_ms).map_err(fail)?;
        let id = saved.id().to_string();
        let pushed = self
            .frontier
            .push(leaf_hash)
            .map_err(|e| fail(e.to_string()))?;
        self.state
            .restore(saved)
            .map_err(|e| fail(format!("the snapshot's effect does not fit: {e}")))?;
        self.last_time = time_ms;
        Ok(Applied { id, pushed })
    }

    /// Log times never go back.
    fn check_time(&self, time_ms: i64) -> Result<(), String> {
        if time_ms < self.last_time {
            return Err(format!(
                "log time {time_ms} is earlier than the previous entry's ({})",
                self.last_time
            ));
        }
        Ok(())
    }

    fn apply(
        &mut self,
        leaf_hash: [u8; 32],
        admitted: truce_engine::Admitted,
        time_ms: i64,
    ) -> Result<Applied, String> {
        let index = self.state.size();
        let pushed = self.frontier.push(leaf_hash).map_err(|e| e.to_string())?;
        self.last_time = time_ms;
        let id = admitted.id.clone();
        self.state.apply(admitted, index, time_ms);
        Ok(Applied { id, pushed })
    }

    /// The tree hash of the leaves pushed so far.
    pub fn root(&self) -> [u8; 32] {
        self.frontier.root()
    }
}

/// A chunk being prepared by [`Replayer::prepare_in_background`].
#[derive(Debug)]
pub struct Pending(std::thread::JoinHandle<Vec<PreparedLeaf>>);

impl Pending {
    /// The prepared leaves, once they are.
    pub fn wait(self) -> Vec<PreparedLeaf> {
        // A panic while preparing is a bug: resume it here, as if it had happened inline.
        self.0
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
}

/// A preparing thread, named so that a profile tells it from the admitting one.
fn worker() -> std::thread::Builder {
    std::thread::Builder::new().name("replay-prepare".into())
}

/// Step 1 on `threads` scoped threads, each taking a contiguous part of `leaves`.
fn prepare<L: AsRef<[u8]> + Sync>(
    keyring: &Keyring,
    leaves: &[L],
    hash_only: &[bool],
    threads: usize,
    min_per_thread: usize,
) -> Vec<PreparedLeaf> {
    let per_thread = leaves.len().div_ceil(threads).max(min_per_thread);
    let mut parts = leaves
        .chunks(per_thread)
        .enumerate()
        .map(|(i, part)| (part, hash_only.get(i * per_thread..).unwrap_or(&[])));
    let Some((first, first_hash_only)) = parts.next() else {
        return Vec::new();
    };
    std::thread::scope(|s| {
        let others: Vec<_> = parts
            .map(|(part, hash_only)| {
                worker()
                    .spawn_scoped(s, move || prepare_part(keyring, part, hash_only))
                    .expect("the OS starts a thread (as std::thread::scope assumes)")
            })
            .collect();
        let mut all = prepare_part(keyring, first, first_hash_only);
        for h in others {
            all.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        all
    })
}

/// Step 1 for one thread's contiguous part of a chunk.
/// `hash_only[i]` (absent: false) says that leaf `i` is only hashed.
fn prepare_part<L: AsRef<[u8]>>(
    keyring: &Keyring,
    leaves: &[L],
    hash_only: &[bool],
) -> Vec<PreparedLeaf> {
    let mut out: Vec<PreparedLeaf> = leaves
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let bytes = bytes.as_ref();
            if hash_only.get(i).copied().unwrap_or(false) {
                return PreparedLeaf {
                    leaf_hash: leaf::leaf_hash(bytes),
                    decoded: None,
                };
            }
            PreparedLeaf {
                leaf_hash: leaf::leaf_hash(bytes),
                decoded: Some(
                    Leaf::decode(bytes)
                        .map_err(|e| e.to_string())
                        .and_then(|l| {
                            Prepared::new(l.envelope)
                                .map(|p| (l.time_ms, Box::new(p)))
                                .map_err(|r| format!("no longer admissible: {r}"))
                        }),
                ),
            }
        })
        .collect();
    keyring.preverify_batch(
        out.iter_mut()
            .filter_map(|l| l.decoded.as_mut()?.as_mut().ok().map(|(_, p)| &mut **p)),
    );
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use truce_model::agreement::MapResolver;
    use truce_model::keys::PrivateKey;
    use truce_store::{NewEntry, TreeUpdate};

    use super::*;

    const T0: i64 = 1_800_000_000_000;

    #[test]
    fn chunks_start_small_and_double_up_to_the_full_size() {
        let sizes: Vec<usize> = chunk_sizes().take(8).collect();
        assert_eq!(sizes, [256, 512, 1024, 2048, 4096, 8192, 8192, 8192]);
    }

    /// A log of operator-signed entries where operator keys are accredited along the way, and
    /// sign from the very next entry: ticks, and accreditations by the keys accredited before.
    /// Returns the bootstrap operator's verifier key and the leaves.
    fn log_with_keys_accredited_midway() -> (VerifierKey, Vec<Vec<u8>>) {
        let root = PrivateKey::generate("operator").unwrap();
        let mut signers = vec![root.clone()];
        let mut leaves = Vec::new();
        for i in 0..120usize {
            let time = T0 + i as i64 * 1000;
            let signer = &signers[i % signers.len()];
            let env = if i % 9 == 4 {
                let new = PrivateKey::generate(&format!("operator-{i}")).unwrap();
                let payload = serde_json::json!({"id": format!("key-{i}"),
                    "vkey": new.verifier().to_string(), "roles": ["operator"],
                    "affiliation": "mission"});
                let env = Envelope::sign("key", payload.to_string().as_bytes(), &[signer]);
                signers.push(new);
                env
            } else {
                crate::ticker::tick_envelope(signer, time)
            };
            leaves.push(leaf::encode(time, &env.canonical_json()));
        }
        (root.verifier(), leaves)
    }

    /// Replays `leaves` one entry at a time with `State::admit`, as replay did before the
    /// pipeline: the state digest, or the first refusal as the pipeline words it.
    fn sequential(operator: &VerifierKey, leaves: &[Vec<u8>]) -> Result<String, EntryError> {
        let mut state = State::new(operator.clone());
        for (index, bytes) in leaves.iter().enumerate() {
            let fail = |problem: String| EntryError {
                index: index as u64,
                problem,
            };
            let l = Leaf::decode(bytes).map_err(|e| fail(e.to_string()))?;
            let admitted = state
                .admit(&l.envelope, l.time_ms, &MapResolver(BTreeMap::new()))
                .map_err(|r| fail(format!("no longer admissible: {r}")))?;
            state.apply(admitted, index as u64, l.time_ms);
        }
        Ok(state.digest().digest)
    }

    /// The pipeline over `leaves` in chunks of `chunk`, on `threads` threads, both ways: each
    /// chunk prepared then admitted, and (as the callers do) chunk k + 1 prepared in the
    /// background, with the keys known before chunk k, while chunk k is admitted. Both must
    /// reach the same result; that one is returned.
    fn pipelined(
        operator: &VerifierKey,
        leaves: &[Vec<u8>],
        chunk: usize,
        threads: usize,
    ) -> Result<String, EntryError> {
        let resolver = MapResolver(BTreeMap::new());
        let in_turn = (|| {
            let mut r = Replayer::with_threads(operator.clone(), threads).splitting_from(1);
            for part in leaves.chunks(chunk) {
                for leaf in r.prepare(part) {
                    r.admit(leaf, &resolver)?;
                }
            }
            Ok(r.finish().0.digest().digest)
        })();
        let overlapped = (|| {
            let mut r = Replayer::with_threads(operator.clone(), threads).splitting_from(1);
            let mut pending: Option<Pending> = None;
            for part in leaves.chunks(chunk) {
                let next = r.prepare_in_background(part.to_vec(), Vec::new());
                if let Some(ready) = pending.replace(next) {
                    for leaf in ready.wait() {
                        r.admit(leaf, &resolver)?;
                    }
                }
            }
            for leaf in pending.map(Pending::wait).unwrap_or_default() {
                r.admit(leaf, &resolver)?;
            }
            Ok(r.finish().0.digest().digest)
        })();
        assert_eq!(
            in_turn, overlapped,
            "chunks of {chunk} on {threads} threads"
        );
        in_turn
    }

    /// `leaves` with the signature of entry `index` replaced by the one of entry `from` (the
    /// same length, so the leaf stays canonical and only the signature is wrong).
    fn swap_signature(leaves: &mut [Vec<u8>], index: usize, from: usize) {
        let sig_of = |bytes: &[u8]| {
            let text = String::from_utf8(bytes.to_vec()).unwrap();
            let at = text.find("\"sig\":\"").unwrap() + 7;
            let end = at + text[at..].find('"').unwrap();
            (text, at, end)
        };
        let (donor, a, b) = sig_of(&leaves[from]);
        let (text, at, end) = sig_of(&leaves[index]);
        let swapped = format!("{}{}{}", &text[..at], &donor[a..b], &text[end..]);
        assert!(Leaf::decode(swapped.as_bytes()).is_ok());
        leaves[index] = swapped.into_bytes();
    }

    #[test]
    fn the_pipeline_reaches_the_sequential_digest() {
        let (operator, leaves) = log_with_keys_accredited_midway();
        let expected = sequential(&operator, &leaves).unwrap();
        for (chunk, threads) in [(1, 1), (7, 2), (16, 3), (50, 2), (1000, 2), (1000, 1)] {
            assert_eq!(
                pipelined(&operator, &leaves, chunk, threads).unwrap(),
                expected,
                "chunks of {chunk} on {threads} threads"
            );
        }
    }

    /// What the threads verify: the signatures of keys known before the chunk, not those of
    /// keys accredited inside it (admission verifies those).
    #[test]
    fn only_keys_known_before_the_chunk_are_batch_verified() {
        let (operator, leaves) = log_with_keys_accredited_midway();
        let r = Replayer::with_threads(operator.clone(), 2);
        let prepared = r.prepare(&leaves[..20]);
        for (i, leaf) in prepared.iter().enumerate() {
            let (_, p) = leaf.decoded.as_ref().unwrap().as_ref().unwrap();
            let signer = &p.envelope().signatures()[0].keyid;
            let verified: Vec<&str> = p.verified_keyids().collect();
            if *signer == operator.signer_id() {
                assert_eq!(verified, [signer.as_str()], "entry {i}");
            } else {
                assert!(verified.is_empty(), "entry {i}");
            }
        }
    }

    #[test]
    fn a_bad_signature_is_refused_as_sequential_admission_refuses_it() {
        let (operator, leaves) = log_with_keys_accredited_midway();
        // Entry 2 is signed by the bootstrap key (batch-verified); entry 8 by a key accredited
        // at entry 4 (verified by admission when in the same chunk, by the batch otherwise).
        for (bad, donor) in [(2, 3), (8, 17), (100, 99)] {
            let mut tampered = leaves.clone();
            swap_signature(&mut tampered, bad, donor);
            let expected = sequential(&operator, &tampered).unwrap_err();
            assert_eq!(expected.index, bad as u64);
            assert!(expected.problem.contains("does not verify"), "{expected:?}");
            for (chunk, threads) in [(7, 2), (64, 2), (1000, 2), (1000, 1)] {
                assert_eq!(
                    pipelined(&operator, &tampered, chunk, threads).unwrap_err(),
                    expected,
                    "chunks of {chunk} on {threads} threads"
                );
            }
        }
    }

    /// An undecodable leaf after a bad signature in the same chunk: the first is reported.
    #[test]
    fn the_first_failing_entry_is_named() {
        let (operator, mut leaves) = log_with_keys_accredited_midway();
        swap_signature(&mut leaves, 30, 31);
        leaves[40] = b"not a leaf".to_vec();
        let err = pipelined(&operator, &leaves, 1000, 2).unwrap_err();
        assert_eq!(err.index, 30);
    }

    /// Start-up replay over a store whose leaf hashes and tree hashes are consistent but one
    /// entry's signature is not: the entry is named.
    #[tokio::test]
    async fn start_up_replay_names_an_entry_with_a_bad_signature() {
        let (operator, mut leaves) = log_with_keys_accredited_midway();
        let expected = sequential(&operator, &leaves).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let open = truce_store_sqlite::SqliteStore::open;
        let good = Arc::new(open(&tmp.path().join("good.sqlite")).await.unwrap());
        store_leaves(&*good, &leaves).await;
        let replayed = crate::app::replay(good, operator.clone(), None, None, None, |_, _| {})
            .await
            .unwrap();
        assert_eq!(replayed.state.digest().digest, expected);

        swap_signature(&mut leaves, 57, 56);
        let bad = Arc::new(open(&tmp.path().join("bad.sqlite")).await.unwrap());
        store_leaves(&*bad, &leaves).await;
        let err = crate::app::replay(bad, operator, None, None, None, |_, _| {})
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("log entry 57 fails verification: no longer admissible")
                && err.contains("does not verify"),
            "{err}"
        );
    }

    /// Appends `leaves` with their Merkle stored hashes, as the sequencer does.
    async fn store_leaves(store: &dyn truce_store::Store, leaves: &[Vec<u8>]) {
        let mut frontier = Frontier::new();
        let mut entries = Vec::new();
        let mut hashes = Vec::new();
        for bytes in leaves {
            let l = Leaf::decode(bytes).unwrap();
            let (id, _) = l.envelope.payload_object().unwrap();
            let leaf_hash = leaf::leaf_hash(bytes);
            hashes.extend(
                frontier
                    .push(leaf_hash)
                    .unwrap()
                    .into_iter()
                    .map(|(_, h)| h),
            );
            entries.push(NewEntry {
                entry_id: id,
                kind: l.envelope.kind().unwrap().to_string(),
                signer: l.envelope.signatures()[0].keyid.clone(),
                time_ms: l.time_ms,
                leaf: bytes.clone(),
                leaf_hash,
            });
        }
        let tree = TreeUpdate {
            hashes_from: 0,
            hashes,
            checkpoint: b"not checked here".to_vec(),
        };
        store.append(0, &entries, &tree).await.unwrap();
    }
}
