//! The data directory: the log's and the operator's keys, the configuration, the store.
//!
//! ```text
//! DIR/truce.toml          origin, tick_seconds, [[witnesses]] (url, vkey)
//! DIR/keys/log.key        the log's signing key (signed-note private key; name = origin)
//! DIR/keys/operator.key   the operator's key (name = <origin>/operator)
//! DIR/truce.sqlite        the embedded store (WAL)
//! ```
//! `init` never overwrites anything: keys are the log's identity, and losing them means a new log.
//! Every file it writes is created with [`durable::create_new`] (keys private), so a crash
//! during `init` never leaves a key file that exists but is empty.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use truce_log::durable::{self, Access};
use truce_model::keys::{PrivateKey, check_name};

/// What `truce.toml` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The log's origin line (C2SP tlog-checkpoint), e.g. `truce.example/donbas`.
    pub origin: String,
    /// How often the server logs a `tick` so that time passes in the log.
    #[serde(default = "default_tick")]
    pub tick_seconds: u64,
    /// Entries logged between two snapshots of the derived state, which make a restart decode
    /// only the entries logged since (`0`: no snapshots; once an eighth of the log is more, an
    /// eighth: see [`crate::snapshots`]).
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every: u64,
    /// Witnesses asked to cosign every checkpoint (`[[witnesses]] url = "http://…", vkey = "…"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<crate::cosignatures::WitnessConfig>,
    /// Rates and bounds (`[limits]`).
    #[serde(default)]
    pub limits: crate::limits::Limits,
}

fn default_tick() -> u64 {
    60
}

fn default_snapshot_every() -> u64 {
    50_000
}

/// An opened data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
    pub config: Config,
    pub log_key: PrivateKey,
    pub operator_key: PrivateKey,
}

/// Why a data directory could not be created or opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataDirError {
    /// The origin is not usable as a checkpoint origin and key name.
    InvalidOrigin(String),
    /// `init` found the directory already in use.
    AlreadyInitialised(PathBuf),
    /// A file is missing or unreadable.
    Io(PathBuf, std::io::Error),
    /// A file is there but its content is wrong.
    Invalid(PathBuf, String),
}

impl std::fmt::Display for DataDirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataDirError::InvalidOrigin(why) => write!(f, "invalid origin: {why}"),
            DataDirError::AlreadyInitialised(p) => write!(
                f,
                "{} is not empty; refusing to overwrite an existing data directory",
                p.display()
            ),
            DataDirError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            DataDirError::Invalid(p, why) => write!(f, "{}: {why}", p.display()),
        }
    }
}

impl std::error::Error for DataDirError {}

/// Checks an origin: it names the log in checkpoints and is the log key's name.
pub fn check_origin(origin: &str) -> Result<(), DataDirError> {
    check_name(origin).map_err(|e| DataDirError::InvalidOrigin(e.to_string()))?;
    if origin.len() > 100 {
        return Err(DataDirError::InvalidOrigin(
            "at most 100 bytes (the operator key is named <origin>/operator)".into(),
        ));
    }
    Ok(())
}

/// Creates `path` (never overwriting it) durably: keys are the log's identity.
fn write_new(path: &Path, text: &str, access: Access) -> Result<(), DataDirError> {
    durable::create_new(path, text.as_bytes(), access)
        .map_err(|e| DataDirError::Io(path.to_path_buf(), e))
}

fn read_key(path: &Path) -> Result<PrivateKey, DataDirError> {
    let text = fs::read_to_string(path).map_err(|e| DataDirError::Io(path.to_path_buf(), e))?;
    PrivateKey::parse(&text).map_err(|e| DataDirError::Invalid(path.to_path_buf(), e.to_string()))
}

impl DataDir {
    /// Path of the SQLite store.
    pub fn store_path(&self) -> PathBuf {
        self.root.join("truce.sqlite")
    }

    /// The directory of the cold tier's file ([`crate::cold`]; unlinked while the server runs).
    pub fn cold_path(&self) -> PathBuf {
        self.root.join("cold")
    }

    /// The directory of the derived state's snapshots ([`crate::snapshots`]).
    pub fn snapshots_path(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    /// Creates a data directory with fresh keys. Refuses a non-empty directory.
    pub fn init(root: &Path, origin: &str) -> Result<DataDir, DataDirError> {
        check_origin(origin)?;
        if root.exists() {
            let mut entries =
                fs::read_dir(root).map_err(|e| DataDirError::Io(root.to_path_buf(), e))?;
            if entries.next().is_some() {
                return Err(DataDirError::AlreadyInitialised(root.to_path_buf()));
            }
        }
        let keys = root.join("keys");
        fs::create_dir_all(&keys).map_err(|e| DataDirError::Io(keys.clone(), e))?;
        let gen_key = |name: &str| {
            PrivateKey::generate(name)
                .map_err(|e| DataDirError::Invalid(keys.clone(), e.to_string()))
        };
        let log_key = gen_key(origin)?;
        let operator_key = gen_key(&format!("{origin}/operator"))?;
        write_new(
            &keys.join("log.key"),
            &(log_key.encode() + "\n"),
            Access::Private,
        )?;
        write_new(
            &keys.join("operator.key"),
            &(operator_key.encode() + "\n"),
            Access::Private,
        )?;
        let config = Config {
            origin: origin.to_string(),
            tick_seconds: default_tick(),
            snapshot_every: default_snapshot_every(),
            witnesses: Vec::new(),
            limits: Default::default(),
        };
        let text = toml::to_string(&config)
            .map_err(|e| DataDirError::Invalid(root.join("truce.toml"), e.to_string()))?;
        write_new(&root.join("truce.toml"), &text, Access::Public)?;
        Ok(DataDir {
            root: root.to_path_buf(),
            config,
            log_key,
            operator_key,
        })
    }

    /// Opens an initialised data directory, checking that keys and configuration agree.
    pub fn open(root: &Path) -> Result<DataDir, DataDirError> {
        let cfg_path = root.join("truce.toml");
        let text =
            fs::read_to_string(&cfg_path).map_err(|e| DataDirError::Io(cfg_path.clone(), e))?;
        let config: Config = toml::from_str(&text)
            .map_err(|e| DataDirError::Invalid(cfg_path.clone(), e.to_string()))?;
        check_origin(&config.origin)?;
        if config.tick_seconds == 0 {
            return Err(DataDirError::Invalid(
                cfg_path,
                "tick_seconds must be at least 1".into(),
            ));
        }
        crate::cosignatures::check_witnesses(&config.witnesses)
            .map_err(|why| DataDirError::Invalid(cfg_path.clone(), why))?;
        let log_path = root.join("keys/log.key");
        let log_key = read_key(&log_path)?;
        if log_key.name() != config.origin {
            return Err(DataDirError::Invalid(
                log_path,
                format!(
                    "the log key is named {:?}, the origin is {:?}",
                    log_key.name(),
                    config.origin
                ),
            ));
        }
        let operator_key = read_key(&root.join("keys/operator.key"))?;
        Ok(DataDir {
            root: root.to_path_buf(),
            config,
            log_key,
            operator_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_then_open_and_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("d");
        let made = DataDir::init(&root, "truce.example/test").unwrap();
        let opened = DataDir::open(&root).unwrap();
        assert_eq!(opened.log_key.verifier(), made.log_key.verifier());
        assert_eq!(opened.operator_key.name(), "truce.example/test/operator");
        assert!(matches!(
            DataDir::init(&root, "truce.example/test"),
            Err(DataDirError::AlreadyInitialised(_))
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(root.join("keys/log.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key files are private");
        }
    }

    #[test]
    fn refuses_bad_origins() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "has space", "a+b", &"x".repeat(101)] {
            assert!(matches!(
                DataDir::init(&dir.path().join("x"), bad),
                Err(DataDirError::InvalidOrigin(_))
            ));
        }
    }
}
