//! The agreement document (DESIGN §4, contract): its typed model and its validator.
//!
//! An agreement is what the parties sign, so validation is where truce enforces the three things a
//! ceasefire needs before any observation is made:
//!
//! 1. **Everyone it binds has consented.** The consent rule — every belligerent, every party that
//!    controls a zone, every party responsible for a milestone must be in
//!    `entry_into_force.consent` — is checked here, before the document can be logged.
//! 2. **Verification is well defined.** Rules, zones and geometry decide what counts as a
//!    violation; broken geometry, dangling zone references or unknown event types would make
//!    findings arbitrary, so they are rejected rather than guessed at.
//! 3. **Consequences cannot lapse.** Milestones must name an escalation level that exists,
//!    escalations must notify someone who exists, and deadlines must not precede the agreement.
//!
//! [`check`] reports *every* problem at once, each with file, line and TOML field path
//! ([`Problem`]), because agreements are negotiated in rounds and a delegation should see the
//! whole list, not one error per round trip. It never panics, whatever the input.
//!
//! Geometry files are read through a [`Resolver`], so the same validation runs in the CLI
//! ([`DirResolver`], files next to the TOML) and in the server ([`MapResolver`], uploaded blobs).
//! Paths must be relative and must not climb out of the document's directory (`..`), whichever
//! resolver is used, so that a document means the same thing in both places.

mod document;
mod geometry;
mod parse;
mod problem;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

pub use document::{
    Agreement, Attribution, AttributionLevel, Due, EntryIntoForce, EscalationLevel, Milestone,
    OnMissed, Party, PartyRole, Rule, Severity, Threshold, Verification, WeaponFilter, Zone,
    ZoneKind,
};
pub use problem::Problem;

/// Supplies the bytes of files the document references (geometry paths, relative to the TOML
/// file).
pub trait Resolver {
    /// The bytes of `path`, as written in the document; `Err` says why they are unavailable.
    fn read(&self, path: &str) -> Result<Vec<u8>, String>;
}

/// Reads referenced files from a directory (the one holding the TOML file).
///
/// Refuses absolute paths and paths with `..` components, so a document cannot reach outside its
/// directory through its own paths. (Symbolic links inside the directory are followed: they are
/// the author's own files.)
#[derive(Debug, Clone)]
pub struct DirResolver {
    dir: PathBuf,
}

impl DirResolver {
    /// Largest file read, in bytes (geometry files are also limited to 20,000 positions).
    pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

    /// A resolver for files under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirResolver { dir: dir.into() }
    }
}

impl Resolver for DirResolver {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        check_path(path)?;
        let full = self.dir.join(path);
        let meta = std::fs::metadata(&full).map_err(|e| io_message(&e))?;
        if !meta.is_file() {
            return Err("not a regular file".to_owned());
        }
        if meta.len() > Self::MAX_FILE_BYTES {
            return Err(format!(
                "the file has {} bytes; at most {} are accepted",
                meta.len(),
                Self::MAX_FILE_BYTES
            ));
        }
        std::fs::read(&full).map_err(|e| io_message(&e))
    }
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// Files supplied in memory, by path as written in the document (the server's uploaded blobs).
#[derive(Debug, Clone, Default)]
pub struct MapResolver(pub BTreeMap<String, Vec<u8>>);

impl Resolver for MapResolver {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        check_path(path)?;
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| "file not found (not among the supplied files)".to_owned())
    }
}

/// Checks that a referenced path is relative and stays inside the document's directory.
///
/// Paths use `/` as separator on every platform (a document must mean the same everywhere);
/// backslashes, drive prefixes, absolute paths, `..` components and NUL are refused.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".to_owned());
    }
    if path.contains('\0') {
        return Err("the path contains a NUL character".to_owned());
    }
    if path.contains('\\') {
        return Err("use `/` to separate directories, not `\\`".to_owned());
    }
    if path.starts_with('/') || path.as_bytes().get(1) == Some(&b':') {
        return Err("the path must be relative to the agreement file".to_owned());
    }
    for c in Path::new(path).components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err("the path must not leave the agreement's directory (`..`)".to_owned());
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("the path must be relative to the agreement file".to_owned());
            }
        }
    }
    Ok(())
}

/// Parses and validates an agreement document.
///
/// `file` is the name used in problem messages; `resolver` supplies the geometry files the
/// document references. On failure, returns every problem found, in line order.
pub fn check(file: &str, text: &str, resolver: &dyn Resolver) -> Result<Agreement, Vec<Problem>> {
    parse::check(file, text, resolver)
}

/// The paths of all geometry files the document references, as written, in document order and
/// without duplicates — even if other parts of the document are invalid, so that a client can
/// upload them before asking the server to validate.
///
/// Fails only on a TOML syntax error, or when a `geometry` value is not a string or not an
/// acceptable relative path (a client must never be led to read such a path). The problems carry
/// an empty `file` (this function is not told the name): set it before displaying them.
pub fn referenced_files(text: &str) -> Result<Vec<String>, Vec<Problem>> {
    parse::referenced_files(text)
}
