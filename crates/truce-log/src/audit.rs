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
//!   [`Frontier`] (at most 64 hashes), each tile level keeps at most the 256 hashes of its
//!   current tile, and only `concurrency` bundles are in flight at a time. A 10M-entry log is
//!   audited in a few megabytes.
//! - **Deterministic verdict**: bundles are fetched in parallel but checked in log order, so the
//!   error reported is the first one in the log, whatever the timing.
//! - A partial tile that is gone (logs may delete them once the full tile exists, C2SP
//!   tlog-tiles) is replaced by the prefix of the full tile.
//! - The auditor is synchronous and does no I/O itself: it reads through [`Fetch`], so it runs
//!   against HTTP, a mirror directory, or an in-memory log in tests alike.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use truce_model::keys::VerifierKey;

use crate::checkpoint::{Checkpoint, CheckpointError, parse_hash, verify_checkpoint_note};
use crate::cosignature::{CosignatureError, CosignatureVerifier, verify_cosignatures};
use crate::leaf::{Leaf, LeafError, leaf_hash};
use crate::merkle::{Frontier, HASH_SIZE, Hash, MAX_TREE_SIZE};
use crate::note::Note;
use crate::tile::{
    MAX_ENTRY_SIZE, MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH, TileError, TileLevel, TileRef,
    decode_bundle, tile_for,
};

/// Path of the checkpoint under the log prefix.
pub const CHECKPOINT_PATH: &str = "checkpoint";

/// The largest checkpoint accepted: the three lines and a few dozen signature lines fit many
/// times over.
pub const MAX_CHECKPOINT_BYTES: usize = 16 * 1024;

/// The largest hash tile: 256 hashes.
pub const MAX_TILE_BYTES: usize = TILE_WIDTH as usize * HASH_SIZE;

/// The largest entry bundle: 256 entries of at most 65,535 bytes, each with its 2-byte length.
pub const MAX_BUNDLE_BYTES: usize = TILE_WIDTH as usize * (2 + MAX_ENTRY_SIZE);

/// Bundles fetched and hashed in parallel by default.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// The most bytes a correct log ever serves at `path` (a path under the log prefix, as
/// [`Fetch::get`] receives it). Fetchers should stop reading beyond it; [`audit`] refuses
/// anything longer either way.
pub fn max_response_bytes(path: &str) -> usize {
    if path == CHECKPOINT_PATH {
        MAX_CHECKPOINT_BYTES
    } else if path.starts_with("tile/entries/") {
        MAX_BUNDLE_BYTES
    } else {
        MAX_TILE_BYTES
    }
}

/// Reads a log's files: `checkpoint`, `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`
/// (paths relative to the log prefix, as C2SP tlog-tiles names them).
///
/// `Sync` because bundles are fetched from several threads at once.
pub trait Fetch: Sync {
    /// The file's bytes; `Ok(None)` if the log says it does not exist (HTTP 404); `Err` with a
    /// human-readable reason if it could not be read (network, server error). Implementations
    /// should read at most [`max_response_bytes`]`(path)` bytes (plus one, to detect more).
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String>;
}

impl<T: Fetch + ?Sized> Fetch for &T {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        (**self).get(path)
    }
}

/// A log held in memory, keyed by path (a mirror loaded from disk, a test fixture).
impl<S: BuildHasher + Sync> Fetch for HashMap<String, Vec<u8>, S> {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(HashMap::get(self, path).cloned())
    }
}

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

/// What an auditor remembers between runs: the last checkpoint it verified, and the key it
/// verified it with. Serialised as JSON in the state file of `truce log verify`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditState {
    /// The log's origin.
    pub origin: String,
    /// The log key (vkey) pinned for this log.
    pub vkey: String,
    /// The tree size last verified.
    pub size: u64,
    /// Its root hash, base64 (as in the checkpoint).
    pub root: String,
    /// The signed checkpoint note itself: with a later, inconsistent one it proves the log
    /// forked.
    pub checkpoint: String,
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

fn b64(h: &Hash) -> String {
    STANDARD.encode(h)
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
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

/// A verified tree head from an [`AuditState`].
struct Previous {
    origin: String,
    size: u64,
    root: Hash,
    note: String,
}

/// Checks a saved state: same key and origin as configured, root well formed, and its
/// checkpoint note signed by the key for that size and root.
fn check_state(s: &AuditState, config: &AuditConfig) -> Result<Previous, AuditError> {
    let key = VerifierKey::parse(&s.vkey)
        .map_err(|e| AuditError::BadState(format!("vkey {:?}: {e}", s.vkey)))?;
    if key != config.log_key {
        return Err(AuditError::StateKey {
            state: s.vkey.clone(),
            configured: config.log_key.to_string(),
        });
    }
    if let Some(origin) = &config.origin
        && *origin != s.origin
    {
        return Err(AuditError::StateOrigin {
            state: s.origin.clone(),
            configured: origin.clone(),
        });
    }
    let root = parse_hash(&s.root).ok_or_else(|| {
        AuditError::BadState(format!("root {:?} is not base64 of 32 bytes", s.root))
    })?;
    let note = Note::parse(s.checkpoint.as_bytes())
        .map_err(|e| AuditError::BadState(format!("saved checkpoint: {e}")))?;
    let cp = verify_checkpoint_note(&note, &s.origin, &key)
        .map_err(|e| AuditError::BadState(format!("saved checkpoint: {e}")))?;
    if cp.size != s.size || cp.root != root {
        return Err(AuditError::BadState(format!(
            "the saved checkpoint is for size {} root {}, the state says size {} root {}",
            cp.size,
            b64(&cp.root),
            s.size,
            s.root
        )));
    }
    Ok(Previous {
        origin: s.origin.clone(),
        size: s.size,
        root,
        note: s.checkpoint.clone(),
    })
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

// ---------------------------------------------------------------------------------------------
// Fetching
// ---------------------------------------------------------------------------------------------

/// Fetches `path`, bounded; `None` on 404.
fn get(fetch: &dyn Fetch, path: &str) -> Result<Option<Vec<u8>>, AuditError> {
    let got = fetch.get(path).map_err(|reason| AuditError::Fetch {
        path: path.to_string(),
        reason,
    })?;
    if let Some(b) = &got {
        let max = max_response_bytes(path);
        if b.len() > max {
            return Err(AuditError::TooLarge {
                path: path.to_string(),
                len: b.len(),
                max,
            });
        }
    }
    Ok(got)
}

fn get_required(fetch: &dyn Fetch, path: &str) -> Result<Vec<u8>, AuditError> {
    get(fetch, path)?.ok_or_else(|| AuditError::Missing {
        path: path.to_string(),
        tree_size: None,
    })
}

/// A tile's bytes, with the path and tile they were read as (the full tile when a partial one
/// is gone: its prefix is the partial tile).
struct Fetched {
    path: String,
    bytes: Vec<u8>,
    as_tile: TileRef,
}

fn fetch_tile(fetch: &dyn Fetch, tile: TileRef, tree_size: u64) -> Result<Fetched, AuditError> {
    let path = tile.path();
    if let Some(bytes) = get(fetch, &path)? {
        return Ok(Fetched {
            path,
            bytes,
            as_tile: tile,
        });
    }
    if !tile.is_full()
        && let Ok(full) = TileRef::full(tile.level(), tile.index())
    {
        let full_path = full.path();
        if let Some(bytes) = get(fetch, &full_path)? {
            return Ok(Fetched {
                path: full_path,
                bytes,
                as_tile: full,
            });
        }
    }
    Err(AuditError::Missing {
        path,
        tree_size: Some(tree_size),
    })
}

/// A hash tile's first `tile.width()` hashes.
fn fetch_hash_tile(
    fetch: &dyn Fetch,
    tile: TileRef,
    tree_size: u64,
) -> Result<(String, Vec<Hash>), AuditError> {
    let f = fetch_tile(fetch, tile, tree_size)?;
    let expected = usize::from(f.as_tile.width()) * HASH_SIZE;
    if f.bytes.len() != expected {
        return Err(AuditError::TileLength {
            path: f.path,
            len: f.bytes.len(),
            expected,
        });
    }
    let hashes = f
        .bytes
        .chunks_exact(HASH_SIZE)
        .take(usize::from(tile.width()))
        .filter_map(|c| Hash::try_from(c).ok())
        .collect();
    Ok((f.path, hashes))
}

// ---------------------------------------------------------------------------------------------
// Recomputing the tree
// ---------------------------------------------------------------------------------------------

/// One entry bundle, fetched, hashed and checked against its level-0 tile.
struct Bundle {
    leaf_hashes: Vec<Hash>,
    leaf_bytes: u64,
    /// Log times of the first and last leaf (truce leaves only).
    times: Option<(i64, i64)>,
}

/// The streaming recomputation (see the module documentation).
struct Recompute<'a> {
    fetch: &'a dyn Fetch,
    config: &'a AuditConfig,
    size: u64,
    old_size: Option<u64>,
    frontier: Frontier,
    /// Per hash-tile level 1..=7: the recomputed hashes of its current (not yet checked) tile.
    pending: [Vec<Hash>; MAX_TILE_LEVEL as usize + 1],
    old_root: Option<Hash>,
    last_time: Option<i64>,
    bundles: u64,
    hash_tiles: u64,
    leaf_bytes: u64,
}

impl<'a> Recompute<'a> {
    fn new(
        fetch: &'a dyn Fetch,
        config: &'a AuditConfig,
        size: u64,
        old_size: Option<u64>,
    ) -> Recompute<'a> {
        Recompute {
            fetch,
            config,
            size,
            old_size,
            frontier: Frontier::new(),
            pending: Default::default(),
            old_root: None,
            last_time: None,
            bundles: 0,
            hash_tiles: 0,
            leaf_bytes: 0,
        }
    }

    fn run(mut self, progress: &mut dyn FnMut(u64, u64)) -> Result<Recompute<'a>, AuditError> {
        progress(0, self.size);
        let width = u64::from(TILE_WIDTH);
        let count = self.size.div_ceil(width);
        let threads = self.config.concurrency.max(1);
        // Bundles in flight at once: enough to keep every thread busy; each thread holds at
        // most one bundle's bytes at a time.
        let chunk = (threads * 4) as u64;
        let mut start = 0;
        while start < count {
            let end = count.min(start + chunk);
            let indexes: Vec<u64> = (start..end).collect();
            let fetched = parallel_map(&indexes, threads, |&b| self.bundle(b))?;
            for (&b, slot) in indexes.iter().zip(fetched) {
                // A slot is empty when a worker skipped it after another failed: it may still
                // come first in log order, so it is checked now.
                let bundle = match slot {
                    Some(r) => r?,
                    None => self.bundle(b)?,
                };
                self.absorb(b, bundle)?;
                progress(self.frontier.size(), self.size);
            }
            start = end;
        }
        self.finish()?;
        Ok(self)
    }

    /// Fetches bundle `b` and level-0 tile `b`, hashes the leaves and compares.
    fn bundle(&self, b: u64) -> Result<Bundle, AuditError> {
        let size = self.size;
        let (Some(tile), Some(tile0)) = (
            tile_for(TileLevel::Entries, b, size),
            tile_for(TileLevel::Hash(0), b, size),
        ) else {
            return Err(AuditError::Internal(format!(
                "bundle {b} is not in a tree of size {size}"
            )));
        };
        let f = fetch_tile(self.fetch, tile, size)?;
        let entries = decode_bundle(&f.bytes).map_err(|problem| AuditError::Bundle {
            path: f.path.clone(),
            problem,
        })?;
        if entries.len() != usize::from(f.as_tile.width()) {
            return Err(AuditError::BundleCount {
                path: f.path.clone(),
                got: entries.len(),
                expected: usize::from(f.as_tile.width()),
            });
        }
        let entries = &entries[..usize::from(tile.width())];
        let leaf_hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();

        let (tile_path, served) = fetch_hash_tile(self.fetch, tile0, size)?;
        let first = b * u64::from(TILE_WIDTH);
        if let Some((p, (s, r))) = served
            .iter()
            .zip(&leaf_hashes)
            .enumerate()
            .find(|(_, (s, r))| s != r)
        {
            let leaf = first + p as u64;
            return Err(AuditError::TileHash {
                path: tile_path,
                position: p,
                leaves: (leaf, leaf + 1),
                served: *s,
                recomputed: *r,
            });
        }

        let mut times = None;
        if self.config.truce_leaves {
            let mut prev: Option<i64> = None;
            for (i, e) in entries.iter().enumerate() {
                let index = first + i as u64;
                let leaf = Leaf::decode(e).map_err(|problem| AuditError::Leaf {
                    index,
                    path: f.path.clone(),
                    problem,
                })?;
                if let Some(p) = prev
                    && leaf.time_ms < p
                {
                    return Err(AuditError::LeafTime {
                        index,
                        time_ms: leaf.time_ms,
                        previous_ms: p,
                    });
                }
                prev = Some(leaf.time_ms);
                times = Some((times.map_or(leaf.time_ms, |(t, _)| t), leaf.time_ms));
            }
        }
        Ok(Bundle {
            leaf_bytes: entries.iter().map(|e| e.len() as u64).sum(),
            leaf_hashes,
            times,
        })
    }

    /// Adds a checked bundle's leaves to the tree, checking higher tiles as they complete.
    fn absorb(&mut self, b: u64, bundle: Bundle) -> Result<(), AuditError> {
        if let Some((first, last_here)) = bundle.times {
            if let Some(last) = self.last_time
                && first < last
            {
                return Err(AuditError::LeafTime {
                    index: b * u64::from(TILE_WIDTH),
                    time_ms: first,
                    previous_ms: last,
                });
            }
            self.last_time = Some(last_here);
        }
        self.bundles += 1;
        self.hash_tiles += 1; // its level-0 tile
        self.leaf_bytes += bundle.leaf_bytes;
        for h in bundle.leaf_hashes {
            let n = self.frontier.size();
            let nodes = self
                .frontier
                .push(h)
                .map_err(|_| AuditError::TreeTooLarge(n.saturating_add(1)))?;
            for level in 1..=MAX_TILE_LEVEL {
                let k = usize::from(level) * TILE_HEIGHT as usize;
                let Some(&(_, node)) = nodes.get(k) else {
                    break;
                };
                self.pending[usize::from(level)].push(node);
                if self.pending[usize::from(level)].len() == usize::from(TILE_WIDTH) {
                    let index = (n >> k) / u64::from(TILE_WIDTH);
                    self.check_tile(level, index)?;
                }
            }
            if Some(self.frontier.size()) == self.old_size {
                self.old_root = Some(self.frontier.root());
            }
        }
        Ok(())
    }

    /// Compares the pending hashes of `level` with the served tile `index` and clears them.
    fn check_tile(&mut self, level: u8, index: u64) -> Result<(), AuditError> {
        let pending = std::mem::take(&mut self.pending[usize::from(level)]);
        let tile = tile_for(TileLevel::Hash(level), index, self.size)
            .filter(|t| usize::from(t.width()) == pending.len())
            .ok_or_else(|| {
                AuditError::Internal(format!(
                    "tile {level}/{index} of width {} is not in a tree of size {}",
                    pending.len(),
                    self.size
                ))
            })?;
        let (path, served) = fetch_hash_tile(self.fetch, tile, self.size)?;
        self.hash_tiles += 1;
        if let Some((p, (s, r))) = served
            .iter()
            .zip(&pending)
            .enumerate()
            .find(|(_, (s, r))| s != r)
        {
            let per_hash = 1u64 << (TILE_HEIGHT * u32::from(level));
            let node = index * u64::from(TILE_WIDTH) + p as u64;
            return Err(AuditError::TileHash {
                path,
                position: p,
                leaves: (
                    node.saturating_mul(per_hash),
                    (node + 1).saturating_mul(per_hash),
                ),
                served: *s,
                recomputed: *r,
            });
        }
        Ok(())
    }

    /// Checks the partial tiles of the right edge.
    fn finish(&mut self) -> Result<(), AuditError> {
        for level in 1..=MAX_TILE_LEVEL {
            let pending = self.pending[usize::from(level)].len() as u64;
            if pending > 0 {
                let shift = TILE_HEIGHT * u32::from(level);
                let index = (self.size >> shift) / u64::from(TILE_WIDTH);
                self.check_tile(level, index)?;
            }
        }
        Ok(())
    }
}

/// `f` over `items` on up to `threads` threads, results in item order. Once an item fails,
/// workers stop taking new items: their slots stay empty (`None`).
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> Result<R, AuditError> + Sync,
) -> Result<Vec<Option<Result<R, AuditError>>>, AuditError> {
    if threads <= 1 || items.len() <= 1 {
        return Ok(items.iter().map(|item| Some(f(item))).collect());
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let joined = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads.min(items.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let r = f(item);
                        if r.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        done.push((i, r));
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join()).collect::<Vec<_>>()
    });
    let mut slots: Vec<Option<Result<R, AuditError>>> = (0..items.len()).map(|_| None).collect();
    for done in joined {
        let done = done.map_err(|_| AuditError::Internal("a fetch thread panicked".into()))?;
        for (i, r) in done {
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(r);
            }
        }
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use truce_model::dsse::Envelope;
    use truce_model::keys::PrivateKey;

    use super::*;
    use crate::checkpoint::sign_checkpoint;
    use crate::cosignature::CosignerKey;
    use crate::tile::{encode_bundle, read_tile_data, tiles_for_size};

    const ORIGIN: &str = "truce.test/audit";

    fn log_key() -> PrivateKey {
        PrivateKey::from_seed(ORIGIN, [1; 32]).unwrap()
    }

    fn witness() -> CosignerKey {
        CosignerKey::from_seed("witness.test/w1", [2; 32]).unwrap()
    }

    /// A log: its leaves and stored hashes, appended with a [`Frontier`] as the server does.
    #[derive(Clone)]
    struct Log {
        leaves: Vec<Vec<u8>>,
        hashes: Vec<Hash>,
        frontier: Frontier,
    }

    impl Log {
        fn new() -> Log {
            Log {
                leaves: Vec::new(),
                hashes: Vec::new(),
                frontier: Frontier::new(),
            }
        }

        fn push(&mut self, leaf: Vec<u8>) {
            let stored = self.frontier.push(leaf_hash(&leaf)).unwrap();
            self.hashes.extend(stored.into_iter().map(|(_, h)| h));
            self.leaves.push(leaf);
        }

        /// `n` truce leaves (tick entries signed by `tag`'s key), log times increasing.
        fn truce(mut self, n: usize, tag: &str) -> Log {
            let op = PrivateKey::from_seed("truce.test/operator", [3; 32]).unwrap();
            for _ in 0..n {
                let i = self.leaves.len();
                let payload = format!(r#"{{"id":"{tag}-{i}","time":"x"}}"#);
                let env = Envelope::sign("tick", payload.as_bytes(), &[&op]);
                let leaf = Leaf {
                    time_ms: 1_765_000_000_000 + i as i64,
                    envelope: env,
                };
                self.push(leaf.encode());
            }
            self
        }

        /// `n` arbitrary (non-truce) leaves.
        fn generic(mut self, n: usize, tag: &str) -> Log {
            for _ in 0..n {
                let i = self.leaves.len();
                self.push(format!("{tag} leaf {i}").into_bytes());
            }
            self
        }

        fn size(&self) -> u64 {
            self.leaves.len() as u64
        }

        fn root(&self) -> Hash {
            self.frontier.root()
        }

        /// The log's signed checkpoint at its current size, cosigned by `witnesses`.
        fn checkpoint(&self, witnesses: &[&CosignerKey]) -> Vec<u8> {
            let cp = Checkpoint::new(ORIGIN, self.size(), self.root());
            let signed = sign_checkpoint(&cp, &log_key()).unwrap();
            let mut note = Note::parse(&signed).unwrap();
            for w in witnesses {
                note.push_signature(w.cosign(note.text(), 1_765_000_000).unwrap())
                    .unwrap();
            }
            note.to_bytes()
        }

        /// Serves the log at its current size with its own checkpoint.
        fn serve(&self) -> Served {
            Served::new(self.clone(), self.checkpoint(&[]))
        }

        /// The state an audit at the current size leaves behind.
        fn state(&self) -> AuditState {
            AuditState {
                origin: ORIGIN.into(),
                vkey: log_key().verifier().to_string(),
                size: self.size(),
                root: b64(&self.root()),
                checkpoint: String::from_utf8(self.checkpoint(&[])).unwrap(),
            }
        }
    }

    /// A tile server over a [`Log`], serving `checkpoint`, with per-path overrides
    /// (`None` = 404) and a record of what was fetched.
    struct Served {
        log: Log,
        checkpoint: Vec<u8>,
        overrides: HashMap<String, Option<Vec<u8>>>,
        fetched: Mutex<Vec<String>>,
    }

    impl Served {
        fn new(log: Log, checkpoint: Vec<u8>) -> Served {
            Served {
                log,
                checkpoint,
                overrides: HashMap::new(),
                fetched: Mutex::new(Vec::new()),
            }
        }

        fn set(mut self, path: &str, body: Option<Vec<u8>>) -> Served {
            self.overrides.insert(path.to_string(), body);
            self
        }

        /// What the log serves at `path`, overrides aside.
        fn real(&self, path: &str) -> Option<Vec<u8>> {
            if path == CHECKPOINT_PATH {
                return Some(self.checkpoint.clone());
            }
            let t = TileRef::parse(path).ok()?;
            let now = tile_for(t.level(), t.index(), self.log.size())?;
            if t.width() > now.width() {
                return None;
            }
            match t.level() {
                TileLevel::Entries => {
                    let (start, end) = t.leaf_range();
                    encode_bundle(&self.log.leaves[start as usize..end as usize]).ok()
                }
                TileLevel::Hash(_) => read_tile_data(&t, &self.log.hashes).ok(),
            }
        }
    }

    impl Fetch for Served {
        fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
            self.fetched.lock().unwrap().push(path.to_string());
            match self.overrides.get(path) {
                Some(o) => Ok(o.clone()),
                None => Ok(self.real(path)),
            }
        }
    }

    fn config() -> AuditConfig {
        AuditConfig::new(log_key().verifier())
    }

    fn generic() -> AuditConfig {
        AuditConfig {
            truce_leaves: false,
            ..config()
        }
    }

    fn run(
        fetch: &dyn Fetch,
        config: &AuditConfig,
        previous: Option<&AuditState>,
    ) -> Result<AuditReport, AuditError> {
        audit(fetch, config, previous, &mut |_, _| {})
    }

    fn replace_entry(bundle: &[u8], i: usize, new: &[u8]) -> Vec<u8> {
        let mut entries: Vec<Vec<u8>> = decode_bundle(bundle)
            .unwrap()
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        entries[i] = new.to_vec();
        encode_bundle(&entries).unwrap()
    }

    #[test]
    fn accepts_every_shape_of_tree_and_fetches_every_tile() {
        for n in [
            0usize,
            1,
            2,
            255,
            256,
            257,
            511,
            512,
            513,
            65_536,
            65_536 + 300,
        ] {
            let log = Log::new().generic(n, "g");
            let served = log.serve();
            let mut calls = Vec::new();
            let r = audit(&served, &generic(), None, &mut |d, t| calls.push((d, t)))
                .unwrap_or_else(|e| panic!("size {n}: {e}"));
            assert_eq!(r.size, n as u64);
            assert_eq!(r.root, b64(&log.root()));
            assert_eq!(r.previous, None);
            assert_eq!(r.state, log.state());
            assert_eq!(calls.first(), Some(&(0, n as u64)));
            assert_eq!(calls.last().map(|c| c.0), Some(n as u64));
            // Every tile of the tree, each exactly once, and nothing else.
            let mut want: Vec<String> = tiles_for_size(n as u64)
                .iter()
                .flat_map(|lt| lt.tiles())
                .map(|t| t.path())
                .collect();
            want.push(CHECKPOINT_PATH.into());
            want.sort();
            let mut got = served.fetched.lock().unwrap().clone();
            got.sort();
            assert_eq!(got, want, "size {n}");
            let bundles = n.div_ceil(256) as u64;
            assert_eq!(r.entry_bundles, bundles);
            assert_eq!(r.hash_tiles as usize, want.len() - 1 - bundles as usize);
        }
    }

    #[test]
    fn accepts_truce_leaves_and_a_consistent_extension() {
        let first = Log::new().truce(300, "a");
        let r1 = run(&first.serve(), &config(), None).unwrap();
        assert!(r1.truce_leaves);
        assert_eq!(
            r1.summary(),
            format!(
                "ok: {ORIGIN} size 300 root {} (first audit of this log)",
                b64(&first.root())
            )
        );
        let later = first.clone().truce(400, "a");
        let r2 = run(&later.serve(), &config(), Some(&r1.state)).unwrap();
        assert_eq!(
            r2.previous,
            Some(Seen {
                size: 300,
                root: b64(&first.root())
            })
        );
        assert!(
            r2.summary()
                .ends_with("(consistent with size 300 seen before)")
        );
        // The same size again is consistent too.
        let r3 = run(&later.serve(), &config(), Some(&r2.state)).unwrap();
        assert_eq!(r3.previous.map(|p| p.size), Some(700));
    }

    #[test]
    fn rejects_a_tampered_leaf() {
        let log = Log::new().truce(600, "a");
        let path = "tile/entries/001";
        let bundle = log.serve().real(path).unwrap();
        let mut other = log.leaves[256 + 7].clone();
        other[20] ^= 1;
        let served = log
            .serve()
            .set(path, Some(replace_entry(&bundle, 7, &other)));
        let e = run(&served, &config(), None).unwrap_err();
        assert!(
            matches!(&e, AuditError::TileHash { path, position: 7, leaves: (263, 264), .. } if path == "tile/0/001"),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("tile/0/001: hash 7 differs from the hash of leaf 263 (served "),
            "{e}"
        );
        assert!(e.is_log_fault());

        // A log that rewrote a leaf and its whole tree, but not its signed checkpoint.
        let mut rewritten = Log::new();
        for (i, l) in log.leaves.iter().enumerate() {
            rewritten.push(if i == 263 { other.clone() } else { l.clone() });
        }
        let served = Served::new(rewritten.clone(), log.checkpoint(&[]));
        let e = run(&served, &generic(), None).unwrap_err();
        assert_eq!(
            e,
            AuditError::RootMismatch {
                size: 600,
                checkpoint_root: log.root(),
                recomputed: rewritten.root()
            }
        );
        assert_eq!(
            e.to_string(),
            format!(
                "checkpoint root {} does not match the tree recomputed from 600 entries ({})",
                b64(&log.root()),
                b64(&rewritten.root())
            )
        );
        // With truce leaves checked, the flipped byte may also break the leaf format; either
        // way the audit fails.
        assert!(run(&served, &config(), None).is_err());
    }

    #[test]
    fn rejects_a_tampered_hash_tile_at_any_level() {
        let log = Log::new().generic(70_000, "g");
        for (path, position, leaves) in [
            ("tile/0/100", 9usize, (100 * 256 + 9, 100 * 256 + 10)),
            ("tile/0/273.p/112", 111, (69_999, 70_000)),
            ("tile/1/000", 200, (200 * 256, 201 * 256)),
            ("tile/1/001.p/17", 16, ((256 + 16) * 256, (256 + 17) * 256)),
            ("tile/2/000.p/1", 0, (0, 65_536)),
        ] {
            let mut tile = log.serve().real(path).unwrap();
            tile[position * 32 + 31] ^= 0x80;
            let served = log.serve().set(path, Some(tile));
            let e = run(&served, &generic(), None).unwrap_err();
            match &e {
                AuditError::TileHash {
                    path: p,
                    position: q,
                    leaves: l,
                    ..
                } => assert_eq!((p.as_str(), *q, *l), (path, position, leaves), "{e}"),
                _ => panic!("{path}: {e:?}"),
            }
        }
    }

    #[test]
    fn rejects_missing_tiles_but_falls_back_to_full_ones() {
        let log = Log::new().truce(600, "a");
        for path in ["tile/entries/002.p/88", "tile/0/000", "tile/1/000.p/2"] {
            let served = log.serve().set(path, None);
            let e = run(&served, &config(), None).unwrap_err();
            assert_eq!(
                e,
                AuditError::Missing {
                    path: path.into(),
                    tree_size: Some(600)
                }
            );
            assert_eq!(
                e.to_string(),
                format!("{path} is missing (not found), but the checkpoint of size 600 needs it")
            );
        }
        let e = run(&log.serve().set(CHECKPOINT_PATH, None), &config(), None).unwrap_err();
        assert_eq!(e.to_string(), "checkpoint is missing (not found)");

        // The log grew to 768 (full tiles now exist) and dropped the partial tiles of 600.
        let grown = log.clone().truce(168, "a");
        let served = Served::new(grown, log.checkpoint(&[]))
            .set("tile/entries/002.p/88", None)
            .set("tile/0/002.p/88", None);
        let r = run(&served, &config(), None).unwrap();
        assert_eq!((r.size, r.root), (600, b64(&log.root())));
        let fetched = served.fetched.lock().unwrap().clone();
        assert!(fetched.contains(&"tile/entries/002".to_string()));
        assert!(fetched.contains(&"tile/0/002".to_string()));
    }

    #[test]
    fn rejects_a_wrong_signature() {
        let log = Log::new().truce(10, "a");
        // Same name, another key.
        let impostor = PrivateKey::from_seed(ORIGIN, [9; 32]).unwrap();
        let cp = Checkpoint::new(ORIGIN, log.size(), log.root());
        let forged = sign_checkpoint(&cp, &impostor).unwrap();
        let e = run(&Served::new(log.clone(), forged), &config(), None).unwrap_err();
        assert!(
            matches!(
                e,
                AuditError::Checkpoint(CheckpointError::Note(
                    crate::note::NoteError::NoKnownSignature
                ))
            ),
            "{e:?}"
        );
        // The log's own signature over another text.
        let good = log.checkpoint(&[]);
        let tampered = String::from_utf8(good)
            .unwrap()
            .replacen("\n10\n", "\n11\n", 1);
        let e = run(
            &Served::new(log.clone(), tampered.into_bytes()),
            &config(),
            None,
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                AuditError::Checkpoint(CheckpointError::Note(
                    crate::note::NoteError::InvalidSignature { .. }
                ))
            ),
            "{e:?}"
        );
        assert!(
            e.to_string().starts_with("the checkpoint is not valid: "),
            "{e}"
        );
        // A pinned origin that differs.
        let pinned = AuditConfig {
            origin: Some("truce.test/other".into()),
            ..config()
        };
        let e = run(&log.serve(), &pinned, None).unwrap_err();
        assert!(
            matches!(
                e,
                AuditError::Checkpoint(CheckpointError::OriginMismatch { .. })
            ),
            "{e:?}"
        );
        // Garbage and oversized checkpoints.
        let e = run(
            &log.serve().set(CHECKPOINT_PATH, Some(b"\xff\xfe".to_vec())),
            &config(),
            None,
        )
        .unwrap_err();
        assert!(matches!(e, AuditError::Checkpoint(_)), "{e:?}");
        let e = run(
            &log.serve()
                .set(CHECKPOINT_PATH, Some(vec![b'a'; MAX_CHECKPOINT_BYTES + 1])),
            &config(),
            None,
        )
        .unwrap_err();
        assert!(matches!(e, AuditError::TooLarge { .. }), "{e:?}");
    }

    #[test]
    fn counts_and_requires_witness_cosignatures() {
        let log = Log::new().truce(5, "a");
        let w = witness();
        let with = |min| AuditConfig {
            witnesses: vec![w.verifier()],
            min_witnesses: min,
            ..config()
        };
        let cosigned = Served::new(log.clone(), log.checkpoint(&[&w]));
        let r = run(&cosigned, &with(1), None).unwrap();
        assert_eq!(r.cosigned_by, ["witness.test/w1"]);
        assert!(r.summary().ends_with("; cosigned by witness.test/w1"));
        let e = run(&log.serve(), &with(1), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the checkpoint is cosigned by 0 of the trusted witnesses, 1 required"
        );
        let e = run(&cosigned, &with(2), None).unwrap_err();
        assert!(
            matches!(&e, AuditError::NotEnoughCosignatures { cosigned_by, required: 2 } if cosigned_by.len() == 1)
        );
        // A cosignature by the trusted witness over another checkpoint text.
        let mut note = Note::parse(&log.checkpoint(&[])).unwrap();
        let other = Checkpoint::new(ORIGIN, 4, [0; 32]).to_text();
        note.push_signature(w.cosign(&other, 1).unwrap()).unwrap();
        let e = run(&Served::new(log.clone(), note.to_bytes()), &with(0), None).unwrap_err();
        assert!(matches!(e, AuditError::Cosignature(_)), "{e:?}");
        // An untrusted witness's cosignature does not count.
        let stranger = CosignerKey::from_seed("witness.test/w2", [4; 32]).unwrap();
        let e = run(
            &Served::new(log.clone(), log.checkpoint(&[&stranger])),
            &with(1),
            None,
        )
        .unwrap_err();
        assert!(matches!(e, AuditError::NotEnoughCosignatures { .. }));
    }

    #[test]
    fn rejects_a_shrunk_log() {
        let log = Log::new().truce(120, "a");
        let state = log.state();
        let mut smaller = Log::new();
        for l in &log.leaves[..100] {
            smaller.push(l.clone());
        }
        let e = run(&smaller.serve(), &config(), Some(&state)).unwrap_err();
        assert!(matches!(
            e,
            AuditError::Shrunk {
                previous: 120,
                now: 100,
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "the log shrank from 120 to 100 entries since the checkpoint seen before"
        );
    }

    #[test]
    fn rejects_a_forked_history_of_the_same_size() {
        let a = Log::new().truce(50, "a");
        let b = Log::new().truce(50, "b");
        let served = b.serve();
        let e = run(&served, &config(), Some(&a.state())).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "not consistent with the checkpoint seen before (size 50, root {}): the log now signs root {} for the same size",
                b64(&a.root()),
                b64(&b.root())
            )
        );
        match e {
            AuditError::Inconsistent { evidence, .. } => {
                // Two signed, contradicting checkpoints: the proof of the fork.
                assert_eq!(evidence.previous_checkpoint.as_bytes(), a.checkpoint(&[]));
                assert_eq!(evidence.checkpoint.as_bytes(), b.checkpoint(&[]));
            }
            e => panic!("{e:?}"),
        }
        // Decided from the checkpoints alone: no tile was needed.
        assert_eq!(*served.fetched.lock().unwrap(), [CHECKPOINT_PATH]);
    }

    #[test]
    fn rejects_a_longer_log_whose_prefix_differs() {
        let a = Log::new().truce(50, "a");
        // Same first 49 leaves, another 50th, then more.
        let mut b = Log::new();
        for l in &a.leaves[..49] {
            b.push(l.clone());
        }
        let b = b.truce(100, "b");
        let mut prefix = Log::new();
        for l in &b.leaves[..50] {
            prefix.push(l.clone());
        }
        let e = run(&b.serve(), &config(), Some(&a.state())).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "not consistent with the checkpoint seen before (size 50, root {}): the tree at size 50 now hashes to {} (in the tree of size 149)",
                b64(&a.root()),
                b64(&prefix.root())
            )
        );
    }

    #[test]
    fn rejects_leaves_that_are_not_truce_leaves_unless_generic() {
        let log = Log::new().truce(3, "a").generic(1, "g").truce(2, "a");
        let e = run(&log.serve(), &config(), None).unwrap_err();
        assert!(
            matches!(&e, AuditError::Leaf { index: 3, path, .. } if path == "tile/entries/000.p/6"),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("leaf 3 (in tile/entries/000.p/6) is not a truce leaf: "),
            "{e}"
        );
        run(&log.serve(), &generic(), None).unwrap();

        // Log time going backwards, within a bundle and across bundles.
        for at in [5usize, 256] {
            let mut log = Log::new().truce(at, "a");
            let op = PrivateKey::from_seed("truce.test/operator", [3; 32]).unwrap();
            let env = Envelope::sign("tick", br#"{"id":"late","time":"x"}"#, &[&op]);
            log.push(
                Leaf {
                    time_ms: 1_000,
                    envelope: env,
                }
                .encode(),
            );
            let e = run(&log.serve(), &config(), None).unwrap_err();
            assert!(
                matches!(e, AuditError::LeafTime { index, time_ms: 1_000, .. } if index == at as u64),
                "{e:?}"
            );
        }
    }

    #[test]
    fn rejects_malformed_tiles_and_bundles_without_panicking() {
        let log = Log::new().truce(300, "a");
        let bundle = log.serve().real("tile/entries/000").unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("tile/0/000", vec![0; 31]),
            ("tile/0/000", vec![0; MAX_TILE_BYTES + 1]),
            ("tile/0/001.p/44", vec![0; 45 * 32]),
            ("tile/1/000.p/1", Vec::new()),
            ("tile/entries/000", Vec::new()),
            ("tile/entries/000", bundle[..bundle.len() - 1].to_vec()),
            ("tile/entries/000", bundle[..bundle.len() / 2].to_vec()),
            ("tile/entries/001.p/44", bundle.clone()),
            (
                "tile/entries/000",
                [bundle.clone(), vec![0, 1, b'x']].concat(),
            ),
            ("tile/entries/000", vec![0xff; MAX_BUNDLE_BYTES + 1]),
        ];
        for (path, body) in cases {
            let e = run(&log.serve().set(path, Some(body)), &config(), None).unwrap_err();
            assert!(e.is_log_fault(), "{path}: {e:?}");
            assert!(e.to_string().starts_with(path), "{path}: {e}");
        }
        // Claims of absurd sizes fail fast.
        let cp = Checkpoint::new(ORIGIN, u64::MAX, [0; 32]);
        let huge = sign_checkpoint(&cp, &log_key()).unwrap();
        let e = run(&Served::new(log.clone(), huge), &config(), None).unwrap_err();
        assert_eq!(e, AuditError::TreeTooLarge(u64::MAX));
        let cp = Checkpoint::new(ORIGIN, 1 << 40, [0; 32]);
        let big = sign_checkpoint(&cp, &log_key()).unwrap();
        let e = run(&Served::new(log, big), &config(), None).unwrap_err();
        assert!(matches!(e, AuditError::Missing { .. }), "{e:?}");
    }

    #[test]
    fn reports_the_first_fault_in_log_order_whatever_the_concurrency() {
        let log = Log::new().generic(256 * 40 + 3, "g");
        let mut served = log.serve();
        for b in [7usize, 21, 33] {
            let path = format!("tile/0/{b:03}");
            let mut tile = served.real(&path).unwrap();
            tile[5] ^= 1;
            served = served.set(&path, Some(tile));
        }
        for concurrency in [1, 2, 3, 8, 64] {
            let c = AuditConfig {
                concurrency,
                ..generic()
            };
            let e = run(&served, &c, None).unwrap_err();
            assert!(
                matches!(&e, AuditError::TileHash { path, .. } if path == "tile/0/007"),
                "{concurrency}: {e:?}"
            );
        }
    }

    #[test]
    fn checks_the_saved_state() {
        let log = Log::new().truce(10, "a");
        let mut state = log.state();
        let other = PrivateKey::from_seed(ORIGIN, [8; 32]).unwrap().verifier();
        let e = run(&log.serve(), &AuditConfig::new(other), Some(&state)).unwrap_err();
        assert!(matches!(e, AuditError::StateKey { .. }), "{e:?}");
        assert!(!e.is_log_fault());
        let pinned = AuditConfig {
            origin: Some("truce.test/else".into()),
            ..config()
        };
        let e = run(&log.serve(), &pinned, Some(&state)).unwrap_err();
        assert!(matches!(e, AuditError::StateOrigin { .. }), "{e:?}");
        state.root = b64(&[7; 32]);
        let e = run(&log.serve(), &config(), Some(&state)).unwrap_err();
        assert!(matches!(e, AuditError::BadState(_)), "{e:?}");
        state.root = "nope".into();
        let e = run(&log.serve(), &config(), Some(&state)).unwrap_err();
        assert!(matches!(e, AuditError::BadState(_)), "{e:?}");

        // The state round-trips through JSON.
        let state = log.state();
        let json = serde_json::to_string(&state).unwrap();
        let back: AuditState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
        run(&log.serve(), &config(), Some(&back)).unwrap();
    }

    #[test]
    fn fetch_errors_are_not_log_faults() {
        struct Down;
        impl Fetch for Down {
            fn get(&self, _: &str) -> Result<Option<Vec<u8>>, String> {
                Err("connection refused".into())
            }
        }
        let e = run(&Down, &config(), None).unwrap_err();
        assert_eq!(e.to_string(), "cannot fetch checkpoint: connection refused");
        assert!(!e.is_log_fault());
    }

    #[test]
    fn a_map_of_files_is_a_log() {
        let log = Log::new().truce(3, "a");
        let served = log.serve();
        let files: HashMap<String, Vec<u8>> =
            ["checkpoint", "tile/entries/000.p/3", "tile/0/000.p/3"]
                .iter()
                .map(|p| (p.to_string(), served.real(p).unwrap()))
                .collect();
        assert_eq!(run(&files, &config(), None).unwrap().size, 3);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }
}
