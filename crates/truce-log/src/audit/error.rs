//! Why an audit fails, in words that name the file, the position and the leaves at fault.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::checkpoint::CheckpointError;
use crate::cosignature::CosignatureError;
use crate::leaf::LeafError;
use crate::merkle::{HASH_SIZE, Hash, MAX_TREE_SIZE};
use crate::tile::TileError;

/// Why an audit failed. Every variant but [`AuditError::Fetch`] and the `State*` ones is
/// evidence against the log (see [`AuditError::is_log_fault`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditError {
    /// A file could not be read (network, server error): nothing is known either way.
    Fetch {
        /// The path under the log prefix.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The log does not serve a file that its checkpoint says exists.
    Missing {
        /// The path (for a partial tile, its full tile was not there either).
        path: String,
        /// The checkpoint's tree size, for tiles.
        tree_size: Option<u64>,
    },
    /// A response longer than any correct one.
    TooLarge {
        /// The path.
        path: String,
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The checkpoint is malformed, not signed by the log key, or for another origin.
    Checkpoint(CheckpointError),
    /// A known witness's cosignature does not verify.
    Cosignature(CosignatureError),
    /// Fewer known witnesses cosigned the checkpoint than required.
    NotEnoughCosignatures {
        /// Those that did.
        cosigned_by: Vec<String>,
        /// How many are required.
        required: usize,
    },
    /// A tree too large to recompute with `u64` positions.
    TreeTooLarge(u64),
    /// A hash tile of the wrong length.
    TileLength {
        /// The path.
        path: String,
        /// Its length.
        len: usize,
        /// The length it must have.
        expected: usize,
    },
    /// An entry bundle that does not decode.
    Bundle {
        /// The path.
        path: String,
        /// Why.
        problem: TileError,
    },
    /// An entry bundle with another number of entries than its width.
    BundleCount {
        /// The path.
        path: String,
        /// Entries found.
        got: usize,
        /// Entries expected.
        expected: usize,
    },
    /// A hash in a hash tile differs from the one recomputed from the entries.
    TileHash {
        /// The tile's path.
        path: String,
        /// The position of the hash in the tile.
        position: usize,
        /// The leaves `[start, end)` whose hash it is.
        leaves: (u64, u64),
        /// The hash served.
        served: Hash,
        /// The hash recomputed from the entry bundles.
        recomputed: Hash,
    },
    /// A leaf that is not a canonical truce leaf.
    Leaf {
        /// Leaf index.
        index: u64,
        /// The bundle holding it.
        path: String,
        /// Why.
        problem: LeafError,
    },
    /// A leaf whose log time is before its predecessor's.
    LeafTime {
        /// Leaf index.
        index: u64,
        /// Its log time (ms).
        time_ms: i64,
        /// The previous leaf's log time (ms).
        previous_ms: i64,
    },
    /// The entries do not hash to the checkpoint's root.
    RootMismatch {
        /// The tree size.
        size: u64,
        /// The root the checkpoint signs.
        checkpoint_root: Hash,
        /// The root of the served entries.
        recomputed: Hash,
    },
    /// The log is smaller than at the previous audit.
    Shrunk {
        /// The size seen before.
        previous: u64,
        /// The size now.
        now: u64,
        /// The two signed checkpoints.
        evidence: Box<Evidence>,
    },
    /// The tree at the previous audit's size no longer has the root seen then: the log
    /// rewrote history, or shows different histories to different people.
    Inconsistent {
        /// The size seen before.
        previous_size: u64,
        /// The root seen before.
        previous_root: Hash,
        /// The current tree size.
        size: u64,
        /// What the tree at `previous_size` hashes to now.
        now: Hash,
        /// The two signed checkpoints.
        evidence: Box<Evidence>,
    },
    /// The previous state is unreadable or does not verify.
    BadState(String),
    /// The previous state pins another log key than the one configured.
    StateKey {
        /// The key in the state.
        state: String,
        /// The key configured.
        configured: String,
    },
    /// The previous state is for another origin than the one configured.
    StateOrigin {
        /// The origin in the state.
        state: String,
        /// The origin configured.
        configured: String,
    },
    /// A bug in the auditor (a worker thread panicked); not evidence either way.
    Internal(String),
}

/// Two checkpoints, both signed by the log, that cannot both be true: the proof, for anyone
/// holding the log key, that the log rewrote its history or shows different ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The checkpoint seen before (signed note text).
    pub previous_checkpoint: String,
    /// The checkpoint served now (signed note text).
    pub checkpoint: String,
}

impl AuditError {
    /// The signed checkpoints proving a fork or a rollback, for [`AuditError::Inconsistent`]
    /// and [`AuditError::Shrunk`].
    pub fn evidence(&self) -> Option<&Evidence> {
        match self {
            AuditError::Inconsistent { evidence, .. } | AuditError::Shrunk { evidence, .. } => {
                Some(evidence)
            }
            _ => None,
        }
    }

    /// Whether the error is evidence that the log misbehaved (served something inconsistent
    /// with its signed checkpoint or with an earlier one, or did not serve what it must), as
    /// opposed to a failure to check (network, configuration, state file).
    pub fn is_log_fault(&self) -> bool {
        !matches!(
            self,
            AuditError::Fetch { .. }
                | AuditError::BadState(_)
                | AuditError::StateKey { .. }
                | AuditError::StateOrigin { .. }
                | AuditError::Internal(_)
        )
    }
}

pub(super) fn b64(h: &Hash) -> String {
    STANDARD.encode(h)
}

/// `1234567` → `1,234,567`.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn leaves_text(start: u64, end: u64) -> String {
    if end == start + 1 {
        format!("leaf {start}")
    } else {
        format!("leaves {start}..{end}")
    }
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::Fetch { path, reason } => write!(f, "cannot fetch {path}: {reason}"),
            AuditError::Missing {
                path,
                tree_size: None,
            } => write!(f, "{path} is missing (not found)"),
            AuditError::Missing {
                path,
                tree_size: Some(size),
            } => write!(
                f,
                "{path} is missing (not found), but the checkpoint of size {size} needs it"
            ),
            AuditError::TooLarge { path, len, max } => write!(
                f,
                "{path}: {len} bytes served, more than the {max} any correct log serves"
            ),
            AuditError::Checkpoint(e) => write!(f, "the checkpoint is not valid: {e}"),
            AuditError::Cosignature(e) => write!(f, "a witness cosignature is not valid: {e}"),
            AuditError::NotEnoughCosignatures {
                cosigned_by,
                required,
            } => {
                write!(
                    f,
                    "the checkpoint is cosigned by {} of the trusted witnesses, {required} required",
                    cosigned_by.len()
                )?;
                if !cosigned_by.is_empty() {
                    write!(f, " ({})", cosigned_by.join(", "))?;
                }
                Ok(())
            }
            AuditError::TreeTooLarge(n) => write!(
                f,
                "the checkpoint claims {n} entries, more than a tree can have ({MAX_TREE_SIZE})"
            ),
            AuditError::TileLength {
                path,
                len,
                expected,
            } => write!(
                f,
                "{path}: {len} bytes, expected {expected} ({} hashes)",
                expected / HASH_SIZE
            ),
            AuditError::Bundle { path, problem } => write!(f, "{path}: {problem}"),
            AuditError::BundleCount {
                path,
                got,
                expected,
            } => write!(f, "{path}: {got} entries, expected {expected}"),
            AuditError::TileHash {
                path,
                position,
                leaves: (start, end),
                served,
                recomputed,
            } => write!(
                f,
                "{path}: hash {position} differs from the hash of {} (served {}, recomputed from the entries {})",
                leaves_text(*start, *end),
                b64(served),
                b64(recomputed)
            ),
            AuditError::Leaf {
                index,
                path,
                problem,
            } => write!(f, "leaf {index} (in {path}) is not a truce leaf: {problem}"),
            AuditError::LeafTime {
                index,
                time_ms,
                previous_ms,
            } => write!(
                f,
                "leaf {index} has log time {time_ms} ms, before leaf {}'s {previous_ms} ms: log time went backwards",
                index.saturating_sub(1)
            ),
            AuditError::RootMismatch {
                size,
                checkpoint_root,
                recomputed,
            } => write!(
                f,
                "checkpoint root {} does not match the tree recomputed from {} entries ({})",
                b64(checkpoint_root),
                thousands(*size),
                b64(recomputed)
            ),
            AuditError::Shrunk { previous, now, .. } => write!(
                f,
                "the log shrank from {} to {} entries since the checkpoint seen before",
                thousands(*previous),
                thousands(*now)
            ),
            AuditError::Inconsistent {
                previous_size,
                previous_root,
                size,
                now,
                ..
            } => {
                write!(
                    f,
                    "not consistent with the checkpoint seen before (size {previous_size}, root {}): ",
                    b64(previous_root)
                )?;
                if size == previous_size {
                    write!(f, "the log now signs root {} for the same size", b64(now))
                } else {
                    write!(
                        f,
                        "the tree at size {previous_size} now hashes to {} (in the tree of size {size})",
                        b64(now)
                    )
                }
            }
            AuditError::BadState(why) => write!(f, "the saved audit state is unusable: {why}"),
            AuditError::StateKey { state, configured } => write!(
                f,
                "the saved audit state pins the log key {state}, not {configured}"
            ),
            AuditError::StateOrigin { state, configured } => write!(
                f,
                "the saved audit state is for origin {state:?}, not {configured:?}"
            ),
            AuditError::Internal(why) => write!(f, "internal error: {why}"),
        }
    }
}

impl std::error::Error for AuditError {}
