//! The witness's durable record: per origin, the tree head (size, root) it last cosigned.
//!
//! `DIR/state.json`:
//!
//! ```json
//! {"logs": {"truce.example/log": {"size": 42, "root": "<base64 of 32 bytes>"}}}
//! ```
//!
//! The file is the witness's memory of every log it vouched for. Losing or corrupting it would
//! let a forked log be cosigned, so [`load`] refuses anything it cannot read exactly (a missing
//! file is a fresh witness), and [`save`] replaces it atomically with
//! [`truce_log::durable::replace`]: temporary file, `fsync`, `rename`, `fsync` of the directory.
//! [`save`] writes only into an existing directory: a witness whose data directory is gone
//! stops cosigning (see [`crate::service`]) rather than start a new record elsewhere.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use truce_log::durable;
use truce_log::merkle::Hash;

/// A tree head the witness cosigned.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TreeHead {
    /// The number of leaves.
    pub size: u64,
    /// The RFC 6962 root of those leaves.
    pub root: Hash,
}

impl fmt::Debug for TreeHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TreeHead({} {})", self.size, STANDARD.encode(self.root))
    }
}

/// The latest cosigned tree head of every origin.
pub type Heads = BTreeMap<String, TreeHead>;

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing the file failed.
    #[error("witness state {path}: {1}", path = .0.display())]
    Io(PathBuf, std::io::Error),
    /// The file is there but is not a valid state.
    #[error(
        "witness state {path} is invalid ({1}); refusing to start, as a lost record \
         would let a forked log be cosigned",
        path = .0.display()
    )]
    Invalid(PathBuf, String),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHead {
    size: u64,
    root: String,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    logs: BTreeMap<String, FileHead>,
}

/// Reads the state; a missing file is an empty state (a witness that never cosigned).
pub fn load(path: &Path) -> Result<Heads, StateError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Heads::new()),
        Err(e) => return Err(StateError::Io(path.to_path_buf(), e)),
    };
    let invalid = |why: String| StateError::Invalid(path.to_path_buf(), why);
    let file: File = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    file.logs
        .into_iter()
        .map(|(origin, h)| {
            let root = STANDARD
                .decode(&h.root)
                .ok()
                .and_then(|r| Hash::try_from(r).ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "the root of {origin:?} is not the base64 of 32 bytes"
                    ))
                })?;
            Ok((origin, TreeHead { size: h.size, root }))
        })
        .collect()
}

/// Replaces the state file atomically and durably (see the module documentation).
pub fn save(path: &Path, heads: &Heads) -> Result<(), StateError> {
    let file = File {
        logs: heads
            .iter()
            .map(|(o, h)| {
                (
                    o.clone(),
                    FileHead {
                        size: h.size,
                        root: STANDARD.encode(h.root),
                    },
                )
            })
            .collect(),
    };
    let mut text = serde_json::to_vec_pretty(&file)
        .map_err(|e| StateError::Invalid(path.to_path_buf(), e.to_string()))?;
    text.push(b'\n');
    // Only into the existing data directory: `durable::replace` never recreates a missing one.
    durable::replace(path, &text).map_err(|e| StateError::Io(path.to_path_buf(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_is_empty_and_save_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(load(&path).unwrap(), Heads::new());
        let mut heads = Heads::new();
        heads.insert(
            "a.example/log".into(),
            TreeHead {
                size: 7,
                root: [9; 32],
            },
        );
        save(&path, &heads).unwrap();
        assert_eq!(load(&path).unwrap(), heads);
        heads.insert(
            "b".into(),
            TreeHead {
                size: 0,
                root: [0; 32],
            },
        );
        save(&path, &heads).unwrap();
        assert_eq!(load(&path).unwrap(), heads);
        assert!(!path.with_extension("json.tmp").exists());
    }

    #[test]
    fn refuses_damaged_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        for bad in [
            "",
            "{",
            r#"{"logs": {"a": {"size": 1, "root": "AAAA"}}}"#,
            r#"{"logs": {"a": {"size": -1, "root": "AAAA"}}}"#,
            r#"{"logs": {}, "extra": 1}"#,
        ] {
            fs::write(&path, bad).unwrap();
            assert!(
                matches!(load(&path), Err(StateError::Invalid(..))),
                "{bad:?}"
            );
        }
    }
}
