//! Auditing a whole tiled log: what `truce log verify` does (DESIGN §7, §8).
//!
//! A receipt proves one entry is in one tree; a witness checks that checkpoints are consistent
//! with each other. Neither looks at *every* entry. An auditor does: it trusts nothing but the
//! log's public key (and, optionally, some witnesses' keys), downloads the signed checkpoint,
//! every entry bundle and every hash tile of that tree, and recomputes everything from the
//! entries themselves. If the log (or a mirror, or a cache between them) serves a single byte
//! that does not fit, [`audit`] says exactly which file, which position and which leaf.
//!
//! # What is checked, in order
//!
//! 1. The checkpoint is a signed note carrying a valid signature by the log key, for the pinned
//!    origin (or, when none is pinned, the origin the checkpoint itself names); known witnesses'
//!    cosignatures must all verify, and at least [`AuditConfig::min_witnesses`] of them must be
//!    there.
//! 2. Against the previous audit's [`AuditState`], if any: the log did not shrink, and a
//!    checkpoint of the same size has the same root.
//! 3. Every entry bundle decodes, with exactly as many entries as its tile is wide; every leaf
//!    hash equals the hash at the same position of the level-0 tile; every hash of every
//!    higher tile equals the hash recomputed from the entries (a level-`L` hash is the root of
//!    the `256^L` leaves it covers); optionally every leaf is a canonical truce leaf and log
//!    times never go backwards.
//! 4. The root recomputed from all leaves equals the checkpoint's root.
//! 5. The tree recomputed at the previous audit's size has the root seen then (consistency:
//!    the log only appended since).
//!
//! On success the caller stores [`AuditReport::state`] for the next run, so that step 2 and 5
//! turn a series of audits into a check that the log never rewrote history.
//!
//! # Invariants
//!
//! - **Nothing served is trusted before it is checked**, and nothing served can make the
//!   auditor panic or allocate without bound: every response is limited in size before it is
//!   parsed ([`max_response_bytes`]: a checkpoint at most [`MAX_CHECKPOINT_BYTES`], a hash tile
//!   8 KiB, an entry bundle 256 × (2 + 65,535) bytes), and parsers refuse rather than guess.
//! - **Streaming**: memory does not grow with the log. The tree is recomputed with a
//!   [`Frontier`](crate::merkle::Frontier) (at most 64 hashes), each tile level keeps at most
//!   the 256 hashes of its current tile, and only `concurrency` bundles are in flight at a time.
//!   A 10M-entry log is audited in a few megabytes.
//! - **Deterministic verdict**: bundles are fetched in parallel but checked in log order, so the
//!   error reported is the first one in the log, whatever the timing.
//! - A partial tile that is gone (logs may delete them once the full tile exists, C2SP
//!   tlog-tiles) is replaced by the prefix of the full tile.
//! - The auditor is synchronous and does no I/O itself: it reads through [`Fetch`], so it runs
//!   against HTTP, a mirror directory, or an in-memory log in tests alike.
//!
//! # Layout
//!
//! [`audit`] itself, the configuration and the report are here; [`Fetch`] and the bounded reads
//! are in `fetch`, the saved [`AuditState`] and its check in `state`, the streaming tree
//! recomputation in `recompute`, and [`AuditError`] with its messages in `error`.

mod error;
mod fetch;
mod recompute;
mod state;
#[cfg(test)]
mod tests;

use serde::Serialize;
use truce_model::keys::VerifierKey;

use crate::checkpoint::{Checkpoint, CheckpointError, verify_checkpoint_note};
use crate::cosignature::{CosignatureVerifier, verify_cosignatures};
use crate::merkle::{Hash, MAX_TREE_SIZE};
use crate::note::Note;

use error::b64;
pub use error::{AuditError, Evidence};
use fetch::get_required;
pub use fetch::{
    CHECKPOINT_PATH, Fetch, MAX_BUNDLE_BYTES, MAX_CHECKPOINT_BYTES, MAX_TILE_BYTES,
    max_response_bytes,
};
use recompute::Recompute;
pub use state::AuditState;
use state::{Previous, check_state};

/// Bundles fetched and hashed in parallel by default.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// What the auditor trusts, and how strict it is.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// The log's checkpoint key (signed-note Ed25519 vkey).
    pub log_key: VerifierKey,
    /// The origin the checkpoint must name; `None` takes the previous state's origin, or on a
    /// first audit the origin the checkpoint names.
    pub origin: Option<String>,
    /// Witnesses whose cosignatures are checked (a bad cosignature by one of them fails the
    /// audit; unknown cosigners are ignored).
    pub witnesses: Vec<CosignatureVerifier>,
    /// How many of `witnesses` must have cosigned the checkpoint.
    pub min_witnesses: usize,
    /// Whether every leaf must be a canonical truce leaf (DESIGN §3) with non-decreasing log
    /// times. `false` audits any C2SP tlog-tiles log, whatever its entries are.
    pub truce_leaves: bool,
    /// Entry bundles fetched and hashed in parallel (at least 1).
    pub concurrency: usize,
}

impl AuditConfig {
    /// Audits a truce log signed by `log_key`: no witnesses required, leaves checked.
    pub fn new(log_key: VerifierKey) -> AuditConfig {
        AuditConfig {
            log_key,
            origin: None,
            witnesses: Vec::new(),
            min_witnesses: 0,
            truce_leaves: true,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// A tree head seen before, as recorded in an [`AuditState`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// Tree size.
    pub size: u64,
    /// Root hash, base64.
    pub root: String,
}

/// A successful audit.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// The log's origin.
    pub origin: String,
    /// The verified tree size.
    pub size: u64,
    /// The verified root hash, base64.
    pub root: String,
    /// The tree head of the previous audit, which this one is consistent with.
    pub previous: Option<Seen>,
    /// Entry bundles fetched (every one of the tree).
    pub entry_bundles: u64,
    /// Hash tiles fetched (every one of the tree, all levels).
    pub hash_tiles: u64,
    /// Total bytes of leaves hashed.
    pub leaf_bytes: u64,
    /// Whether every leaf was checked to be a truce leaf.
    pub truce_leaves: bool,
    /// The known witnesses that cosigned the checkpoint.
    pub cosigned_by: Vec<String>,
    /// The state to remember for the next audit.
    pub state: AuditState,
}

impl AuditReport {
    /// One line: `ok: <origin> size N root R (consistent with size M seen before)`.
    pub fn summary(&self) -> String {
        let mut out = format!("ok: {} size {} root {}", self.origin, self.size, self.root);
        match &self.previous {
            Some(p) => out.push_str(&format!(" (consistent with size {} seen before)", p.size)),
            None => out.push_str(" (first audit of this log)"),
        }
        if !self.cosigned_by.is_empty() {
            out.push_str(&format!("; cosigned by {}", self.cosigned_by.join(", ")));
        }
        out
    }
}

/// Audits the log that `fetch` reads: see the module documentation. `previous` is the state
/// of the last successful audit, if any; `progress(done, total)` is called with the number of
/// entries checked so far.
pub fn audit(
    fetch: &dyn Fetch,
    config: &AuditConfig,
    previous: Option<&AuditState>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<AuditReport, AuditError> {
    let previous = previous.map(|s| check_state(s, config)).transpose()?;

    // 1. The checkpoint: log signature first, then the body, then witnesses.
    let bytes = get_required(fetch, CHECKPOINT_PATH)?;
    let note = Note::parse(&bytes).map_err(|e| AuditError::Checkpoint(CheckpointError::Note(e)))?;
    let origin = match (&config.origin, &previous) {
        (Some(o), _) => o.clone(),
        (None, Some(p)) => p.origin.clone(),
        // Only used to check the signed body's origin line against itself, after the
        // signature has verified.
        (None, None) => note
            .text()
            .split('\n')
            .next()
            .unwrap_or_default()
            .to_string(),
    };
    let checkpoint =
        verify_checkpoint_note(&note, &origin, &config.log_key).map_err(AuditError::Checkpoint)?;
    let cosigned =
        verify_cosignatures(&note, &config.witnesses).map_err(AuditError::Cosignature)?;
    let cosigned_by: Vec<String> = cosigned.into_iter().map(|c| c.name).collect();
    if cosigned_by.len() < config.min_witnesses {
        return Err(AuditError::NotEnoughCosignatures {
            cosigned_by,
            required: config.min_witnesses,
        });
    }
    let note_text = note.to_text();
    let size = checkpoint.size;
    if size > MAX_TREE_SIZE {
        return Err(AuditError::TreeTooLarge(size));
    }

    // 2. What the signed checkpoints alone show.
    if let Some(p) = &previous {
        if size < p.size {
            return Err(AuditError::Shrunk {
                previous: p.size,
                now: size,
                evidence: Box::new(Evidence {
                    previous_checkpoint: p.note.clone(),
                    checkpoint: note_text,
                }),
            });
        }
        if size == p.size && checkpoint.root != p.root {
            return Err(inconsistent(p, size, checkpoint.root, note_text));
        }
    }

    // 3. Every bundle and tile.
    let old_size = previous.as_ref().map(|p| p.size).filter(|&s| s > 0);
    let tree = Recompute::new(fetch, config, size, old_size).run(progress)?;

    // 4. The entries are those the checkpoint signs.
    let root = tree.frontier.root();
    if root != checkpoint.root {
        return Err(AuditError::RootMismatch {
            size,
            checkpoint_root: checkpoint.root,
            recomputed: root,
        });
    }

    // 5. And they extend the tree seen before.
    if let (Some(p), Some(old)) = (&previous, old_size) {
        match tree.old_root {
            Some(r) if r == p.root => {}
            Some(r) => return Err(inconsistent(p, size, r, note_text)),
            None => {
                return Err(AuditError::Internal(format!(
                    "the tree at size {old} was not computed"
                )));
            }
        }
    }

    Ok(report(
        &checkpoint,
        &config.log_key,
        note_text,
        previous.as_ref(),
        &tree,
        config.truce_leaves,
        cosigned_by,
    ))
}

fn inconsistent(p: &Previous, size: u64, now: Hash, checkpoint: String) -> AuditError {
    AuditError::Inconsistent {
        previous_size: p.size,
        previous_root: p.root,
        size,
        now,
        evidence: Box::new(Evidence {
            previous_checkpoint: p.note.clone(),
            checkpoint,
        }),
    }
}

fn report(
    checkpoint: &Checkpoint,
    key: &VerifierKey,
    note_text: String,
    previous: Option<&Previous>,
    tree: &Recompute<'_>,
    truce_leaves: bool,
    cosigned_by: Vec<String>,
) -> AuditReport {
    let root = b64(&checkpoint.root);
    AuditReport {
        origin: checkpoint.origin.clone(),
        size: checkpoint.size,
        root: root.clone(),
        previous: previous.map(|p| Seen {
            size: p.size,
            root: b64(&p.root),
        }),
        entry_bundles: tree.bundles,
        hash_tiles: tree.hash_tiles,
        leaf_bytes: tree.leaf_bytes,
        truce_leaves,
        cosigned_by,
        state: AuditState {
            origin: checkpoint.origin.clone(),
            vkey: key.to_string(),
            size: checkpoint.size,
            root,
            checkpoint: note_text,
        },
    }
}
