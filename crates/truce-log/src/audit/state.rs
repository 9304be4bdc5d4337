//! What an auditor remembers between runs, and the check of it before it is relied on: a state
//! file is outside input too (it may be stale, edited, or from another log), so its checkpoint
//! must verify under the configured key before its tree head is compared with the log's.

use serde::{Deserialize, Serialize};
use truce_model::keys::VerifierKey;

use crate::checkpoint::{parse_hash, verify_checkpoint_note};
use crate::merkle::Hash;
use crate::note::Note;

use super::error::b64;
use super::{AuditConfig, AuditError};

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

/// A verified tree head from an [`AuditState`].
pub(super) struct Previous {
    pub(super) origin: String,
    pub(super) size: u64,
    pub(super) root: Hash,
    pub(super) note: String,
}

/// Checks a saved state: same key and origin as configured, root well formed, and its
/// checkpoint note signed by the key for that size and root.
pub(super) fn check_state(s: &AuditState, config: &AuditConfig) -> Result<Previous, AuditError> {
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
