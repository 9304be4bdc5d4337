//! Snapshot files: the engine's [`Snapshot`]s of the derived state, signed and kept in the data
//! directory, so that a restart decodes only the entries logged since the latest one.
//!
//! Why: a restart re-admits every entry, and at a million entries that takes about a minute, during
//! which nothing is accepted. With a snapshot, start-up still reads every leaf, recomputes the tree
//! and checks it against the stored hashes and the signed checkpoint (tampering with the log is
//! caught exactly as before), but applies the saved effects of the covered observations,
//! decisions and disputes instead of decoding and verifying them again; keys, agreements,
//! consents and ticks are always admitted from the log.
//!
//! Files: `snapshots/{size:020}.snapshot` under the data directory, each the encoded snapshot
//! followed by a 64-byte Ed25519 signature by the log key over
//! `"truce-snapshot-v1 signature\n" ‖ SHA-256(snapshot)`. Written atomically (temporary file,
//! fsync, rename); the newest [`KEEP`] are kept.
//!
//! Trust: the signature binds the saved effects to the tree root of their size, and start-up
//! uses a snapshot only when the root it recomputes from the leaves at that size is the one the
//! snapshot names. A file edited without the log key, one from another log, or one the code
//! cannot read is set aside with a warning naming it, and the start-up falls back to a full
//! replay: a snapshot can make a restart faster, never change what it yields. Whoever holds the
//! log key can sign anything, which is why `truce replay` (every entry admitted again from the
//! log alone) stays the audit and `/v1/state`'s digest is what parties compare.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};
use truce_engine::{Capture, Snapshot};
use truce_model::keys::{PrivateKey, VerifierKey};

use tokio::sync::watch;

use crate::ledger::Published;
use crate::shared::SharedState;

/// Snapshot files kept (the newest ones); an older one is a fallback should the newest be damaged.
pub const KEEP: usize = 2;

const SIGNED_PREFIX: &[u8] = b"truce-snapshot-v1 signature\n";
const SIGNATURE_LEN: usize = 64;
const SUFFIX: &str = ".snapshot";

/// The data directory's snapshots: where they are, the key that signs them, and how often.
pub struct Snapshots {
    dir: PathBuf,
    key: PrivateKey,
    /// Entries logged between snapshots (0: never).
    every: u64,
    /// Size of the latest snapshot written or loaded.
    last: AtomicU64,
    /// Whether a snapshot is being written (another is not started meanwhile).
    writing: Arc<AtomicBool>,
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: io::Write> io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The message a snapshot's signature covers, from the SHA-256 of its content.
fn signed_digest(digest: &[u8; 32]) -> Vec<u8> {
    let mut m = SIGNED_PREFIX.to_vec();
    m.extend_from_slice(digest);
    m
}

impl Snapshots {
    /// The snapshots under `dir`, signed by `key`, taken every `every` entries.
    pub fn new(dir: PathBuf, key: PrivateKey, every: u64) -> Snapshots {
        Snapshots {
            dir,
            key,
            every,
            last: AtomicU64::new(0),
            writing: Arc::default(),
        }
    }

    /// Whether a snapshot is due at log size `size`: `every` entries after the last one, or an
    /// eighth of the log's size if that is more. A snapshot costs time and disk in proportion to
    /// the log: at a fixed interval of 50,000 a 6.5M-entry log rewrote a 530 MB snapshot every
    /// 7 s and took most of a core doing it. Spaced by an eighth, a log's snapshots add up to
    /// about nine times its last one, and a restart after a crash (a graceful stop writes one)
    /// admits at most an eighth of the log.
    pub fn due(&self, size: u64) -> bool {
        let last = self.last.load(Ordering::Relaxed);
        self.every > 0
            && size >= last.saturating_add(self.every.max(last / 8))
            && !self.writing.load(Ordering::Acquire)
    }

    /// Records that the state at `size` came from a snapshot of that size.
    pub fn loaded(&self, size: u64) {
        self.last.store(size, Ordering::Relaxed);
    }

    /// Captures the committed state at `size` (whose tree hash is `root`), then encodes, signs and
    /// writes it in the background; the caller waits only for the capture (milliseconds, under the
    /// state's read lock). Called between batches by the sequencer, and once after start-up.
    pub async fn take(self: &Arc<Self>, shared: &SharedState, size: u64, root: [u8; 32]) {
        if self.writing.swap(true, Ordering::AcqRel) {
            return;
        }
        let started = std::time::Instant::now();
        let Captured::At(captured) = capture(shared, size, root).await else {
            // Lost, or the state moved on: the next batch tries again.
            self.writing.store(false, Ordering::Release);
            return;
        };
        // The sequencer waited this long (nothing was committed meanwhile).
        let capture_ms = started.elapsed().as_millis() as u64;
        self.last.store(size, Ordering::Relaxed);
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            this.write_captured(*captured, capture_ms, "periodic");
            this.writing.store(false, Ordering::Release);
        });
    }

    /// At shutdown, once nothing more is accepted: snapshots the committed state if it has grown
    /// since the latest snapshot, and waits until the file is on disk, so that the next start
    /// decodes nothing (after a crash it decodes at most `every` entries). `published` names the
    /// tree root of each committed size; should the sequencer commit meanwhile (a tick), the
    /// next checkpoint is waited for. Failures are logged: the log is intact, and the next start
    /// only replays more.
    pub async fn take_at_stop(
        self: &Arc<Self>,
        shared: &SharedState,
        mut published: watch::Receiver<Arc<Published>>,
    ) {
        if self.every == 0 {
            return;
        }
        // A few commits at most race with the stop (ticks); more means the sequencer is busy.
        for _ in 0..8 {
            let (size, root) = {
                let p = published.borrow_and_update();
                (p.size, p.root)
            };
            if size <= self.last.load(Ordering::Relaxed) {
                return;
            }
            let started = std::time::Instant::now();
            match capture(shared, size, root).await {
                Captured::At(captured) => {
                    let capture_ms = started.elapsed().as_millis() as u64;
                    let this = self.clone();
                    let written = tokio::task::spawn_blocking(move || {
                        this.write_captured(*captured, capture_ms, "stop")
                    })
                    .await;
                    if matches!(written, Ok(true)) {
                        self.last.store(size, Ordering::Relaxed);
                    }
                    return;
                }
                Captured::Moved if published.changed().await.is_ok() => {}
                Captured::Moved | Captured::Lost => return,
            }
        }
        tracing::warn!("no snapshot at stop: the log kept growing");
    }

    /// Encodes, signs and writes `captured` (blocking) and logs how long it took; whether the
    /// file is written. `when` says which snapshot it is (`periodic`, `stop`).
    fn write_captured(&self, captured: Capture, capture_ms: u64, when: &str) -> bool {
        let size = captured.size();
        let started = std::time::Instant::now();
        match self.write_with(size, |out| captured.encode_to(out)) {
            Ok((path, bytes)) => {
                tracing::info!(
                    size,
                    bytes,
                    capture_ms,
                    write_ms = started.elapsed().as_millis() as u64,
                    when,
                    path = %path.display(),
                    "snapshot written"
                );
                true
            }
            Err(e) => {
                tracing::warn!(size, when, error = %e, "writing a snapshot failed");
                false
            }
        }
    }

    /// Signs and writes the snapshot of size `size`, then removes all but the newest [`KEEP`]
    /// (tests: the server streams its snapshots, [`Snapshots::write_with`]).
    #[cfg(test)]
    pub(crate) fn write(&self, size: u64, snapshot: &[u8]) -> io::Result<PathBuf> {
        self.write_with(size, |out| out.write_all(snapshot))
            .map(|(path, _)| path)
    }

    /// [`Snapshots::write`] of the snapshot `encode` writes, streamed to the file as it is
    /// encoded and hashed on the way (a large log's snapshot is hundreds of megabytes: it is never
    /// in memory whole); the path and the snapshot's length.
    fn write_with(
        &self,
        size: u64,
        encode: impl FnOnce(&mut HashingWriter<io::BufWriter<&mut fs::File>>) -> io::Result<()>,
    ) -> io::Result<(PathBuf, u64)> {
        match fs::create_dir(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        let path = self.dir.join(format!("{size:020}{SUFFIX}"));
        let mut length = 0;
        truce_log::durable::replace_with(&path, |file| {
            let mut out = HashingWriter {
                inner: io::BufWriter::with_capacity(1 << 20, file),
                hash: Sha256::new(),
                len: 0,
            };
            encode(&mut out)?;
            let digest: [u8; 32] = out.hash.finalize().into();
            let signature = self.key.sign(&signed_digest(&digest));
            out.inner.write_all(&signature)?;
            length = out.len;
            out.inner.flush()
        })?;
        for (_, old) in self.files()?.into_iter().rev().skip(KEEP) {
            if let Err(e) = fs::remove_file(&old) {
                tracing::warn!(path = %old.display(), error = %e, "removing an old snapshot failed");
            }
        }
        Ok((path, length))
    }

    /// The snapshot files, by size ascending (names that are not snapshots are ignored).
    fn files(&self) -> io::Result<Vec<(u64, PathBuf)>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut files = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let size = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(SUFFIX))
                .filter(|n| n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(size) = size {
                files.push((size, path));
            }
        }
        files.sort();
        Ok(files)
    }

    /// The newest snapshot of a size up to `max_size` that is intact and signed by this log's key;
    /// every file passed over on the way is named in a warning.
    pub fn latest(&self, max_size: u64) -> Option<Snapshot> {
        let files = match self.files() {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot list snapshots");
                return None;
            }
        };
        for (size, path) in files.into_iter().rev() {
            match open(&path, &self.key.verifier()) {
                Ok(s) if s.size == size && size <= max_size => return Some(s),
                Ok(s) if s.size != size => tracing::warn!(path = %path.display(),
                    "snapshot not used: its name says size {size}, its content {}", s.size),
                Ok(_) => tracing::warn!(path = %path.display(),
                    "snapshot not used: it covers {size} entries, the store holds {max_size}"),
                Err(e) => tracing::warn!(path = %path.display(), "snapshot not used: {e}"),
            }
        }
        None
    }
}

/// A snapshot being applied by start-up's replay ([`crate::app::replay`]): which entries it
/// covers, and its effects in order.
pub struct Restoring<'a> {
    snapshot: Option<&'a Snapshot>,
    /// One bit per log index below the snapshot's size: whether an effect is saved for it.
    covered: Vec<u64>,
    effects: Option<truce_engine::Effects<'a>>,
    restored: u64,
}

impl<'a> Restoring<'a> {
    /// Nothing to restore: every entry is decoded.
    pub fn none() -> Restoring<'a> {
        Restoring {
            snapshot: None,
            covered: Vec::new(),
            effects: None,
            restored: 0,
        }
    }

    /// Restoring from `snapshot` (reads its index section to learn which entries it covers).
    pub fn new(snapshot: &'a Snapshot) -> Result<Restoring<'a>, String> {
        let words = usize::try_from(snapshot.size.div_ceil(64)).map_err(|e| e.to_string())?;
        let mut covered = vec![0u64; words];
        for index in snapshot.indexes() {
            let index = index.map_err(|e| e.to_string())?;
            covered[(index / 64) as usize] |= 1 << (index % 64);
        }
        Ok(Restoring {
            snapshot: Some(snapshot),
            covered,
            effects: Some(snapshot.effects()),
            restored: 0,
        })
    }

    /// Whether the entry at `index` has a saved effect.
    pub fn covers(&self, index: u64) -> bool {
        usize::try_from(index / 64)
            .ok()
            .and_then(|w| self.covered.get(w))
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }

    /// The saved effect of the entry at `index`, stored with log time `time_ms`.
    pub fn next_for(&mut self, index: u64, time_ms: i64) -> Result<truce_engine::Saved, String> {
        let saved = self
            .effects
            .as_mut()
            .and_then(Iterator::next)
            .ok_or_else(|| format!("it has no effect for entry {index}"))?
            .map_err(|e| e.to_string())?;
        if saved.index() != index {
            return Err(format!(
                "its next effect is for entry {}, not {index}",
                saved.index()
            ));
        }
        if saved.time_ms() != time_ms {
            return Err(format!(
                "entry {index} was logged at {time_ms}, the snapshot says {}",
                saved.time_ms()
            ));
        }
        self.restored += 1;
        Ok(saved)
    }

    /// Once `size` entries are replayed: if that is the snapshot's size, the tree hash `root()`
    /// must be the one it names.
    pub fn check_root(&self, size: u64, root: impl FnOnce() -> [u8; 32]) -> Result<(), String> {
        let Some(s) = self.snapshot.filter(|s| s.size == size) else {
            return Ok(());
        };
        let root = root();
        if root != s.root {
            return Err(format!(
                "it was taken of a log whose tree hash at size {size} is {}, this log's is {}",
                hex::encode(s.root),
                hex::encode(root)
            ));
        }
        Ok(())
    }

    /// Entries restored so far.
    pub fn restored(&self) -> u64 {
        self.restored
    }

    /// After the last covered entry: the snapshot must end with its last effect (and a snapshot
    /// read from a file is read to its end, where [`open`] checks it was not changed).
    pub fn finish(&mut self) -> Result<(), String> {
        match self.effects.as_mut().and_then(Iterator::next) {
            None => Ok(()),
            Some(Ok(saved)) => Err(format!(
                "it has an effect for entry {} that was not replayed",
                saved.index()
            )),
            Some(Err(e)) => Err(e.to_string()),
        }
    }
}

/// The committed state as [`capture`] found it.
enum Captured {
    /// The state was lost: there is nothing trustworthy to save.
    Lost,
    /// The state is at another size than the tree hash given: the caller reads the next one.
    Moved,
    At(Box<Capture>),
}

/// The committed state captured at `size` (whose tree hash is `root`), under its read lock for
/// the milliseconds [`Snapshot::capture`] takes; the encoding comes after, away from the lock.
async fn capture(shared: &SharedState, size: u64, root: [u8; 32]) -> Captured {
    let state = shared.clone();
    tokio::task::spawn_blocking(move || match state.read() {
        Err(_) => Captured::Lost,
        Ok(s) if s.size() != size => Captured::Moved,
        Ok(s) => Captured::At(Box::new(Snapshot::capture(&s, root))),
    })
    .await
    .unwrap_or(Captured::Lost)
}

/// Opens and checks the snapshot file at `path`: its signature over its content's SHA-256 is
/// checked first, in one pass that holds a megabyte at a time; the effects are then read as the
/// restore consumes them ([`Snapshot::read`]), hashed again on the way, and should the content
/// differ from what was verified (the file changed in between), the stream ends in an error, the
/// restore fails and start-up replays the log without the snapshot. [`Restoring::finish`] reads
/// to the end, so that the check always runs.
pub fn open(path: &Path, log_key: &VerifierKey) -> Result<Snapshot, String> {
    let mut file = fs::File::open(path).map_err(|e| format!("opening it: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("reading its size: {e}"))?
        .len();
    let content = len
        .checked_sub(SIGNATURE_LEN as u64)
        .ok_or("shorter than a signature")?;
    let mut hasher = Hashing::new(io::Read::take(&mut file, content));
    io::copy(&mut hasher, &mut io::sink()).map_err(|e| format!("reading it: {e}"))?;
    let digest = hasher.digest();
    let mut signature = [0u8; SIGNATURE_LEN];
    io::Read::read_exact(&mut file, &mut signature).map_err(|e| format!("reading it: {e}"))?;
    log_key
        .verify(&signed_digest(&digest), &signature)
        .map_err(|_| "its signature is not the log key's over its content".to_string())?;
    io::Seek::rewind(&mut file).map_err(|e| format!("reading it: {e}"))?;
    let checked = Checked {
        inner: Hashing::new(io::Read::take(file, content)),
        expected: digest,
    };
    Snapshot::read(checked).map_err(|e| e.to_string())
}

/// A reader that hashes what it reads.
struct Hashing<R> {
    inner: R,
    sha: Sha256,
}

impl<R: io::Read> Hashing<R> {
    fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            sha: Sha256::new(),
        }
    }

    fn digest(&self) -> [u8; 32] {
        self.sha.clone().finalize().into()
    }
}

impl<R: io::Read> io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

/// The snapshot's content read a second time: at its end, the hash must be the verified one.
struct Checked<R> {
    inner: Hashing<R>,
    expected: [u8; 32],
}

impl<R: io::Read> io::Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && self.inner.digest() != self.expected {
            return Err(io::Error::other(
                "the file changed after its signature was checked",
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshots(dir: &Path, every: u64) -> Snapshots {
        let key = PrivateKey::from_seed("log", [9; 32]).unwrap();
        Snapshots::new(dir.join("snapshots"), key, every)
    }

    fn empty(size: u64) -> Vec<u8> {
        // The snapshot of a log of `size` ticks: no effect saved.
        let operator = PrivateKey::from_seed("operator", [1; 32]).unwrap();
        let mut state = truce_engine::State::new(operator.verifier());
        for i in 0..size {
            let env = crate::ticker::tick_envelope(&operator, 1_000 + i as i64);
            let resolver = truce_model::agreement::MapResolver(Default::default());
            let a = state.admit(&env, 1_000 + i as i64, &resolver).unwrap();
            state.apply(a, i, 1_000 + i as i64);
        }
        Snapshot::encode(&state, [size as u8; 32])
    }

    /// The content read for the restore is hashed again: content that differs from what the
    /// signature check hashed (the file changed in between) fails the restore by the time it is
    /// finished (here already when the header is read: the file is smaller than one read), which
    /// start-up answers with a replay without the snapshot; so do bytes after the last effect,
    /// which only [`Restoring::finish`] reads.
    #[test]
    fn a_snapshot_changed_after_its_check_fails_the_restore() {
        let bytes = empty(3);
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        let restore = |expected: [u8; 32]| {
            let checked = Checked {
                inner: Hashing::new(io::Cursor::new(bytes.clone())),
                expected,
            };
            let snapshot = Snapshot::read(checked).map_err(|e| e.to_string())?;
            Restoring::new(&snapshot)?.finish()
        };
        assert_eq!(restore(digest), Ok(()));
        let mut other = digest;
        other[0] ^= 1;
        let e = restore(other).unwrap_err();
        assert!(
            e.contains("the file changed after its signature was checked"),
            "{e}"
        );
        // Bytes after the last effect: the finished restore reads to the end and refuses them.
        let mut longer = bytes.clone();
        longer.push(0);
        let snapshot = Snapshot::decode(longer).unwrap();
        let e = Restoring::new(&snapshot).unwrap().finish().unwrap_err();
        assert!(e.contains("bytes follow"), "{e}");
    }

    #[test]
    fn the_newest_intact_snapshot_is_found_and_old_ones_go() {
        let tmp = tempfile::tempdir().unwrap();
        let s = snapshots(tmp.path(), 10);
        assert!(s.latest(100).is_none(), "none yet");
        for size in [1, 2, 3, 4] {
            s.write(size, &empty(size)).unwrap();
        }
        assert_eq!(s.files().unwrap().len(), KEEP);
        assert_eq!(s.latest(100).unwrap().size, 4);
        // A store smaller than the newest snapshot: the one before it.
        assert_eq!(s.latest(3).unwrap().size, 3);
        assert!(s.latest(2).is_none());

        // A damaged newest file is passed over for the one before.
        let newest = s.files().unwrap().pop().unwrap().1;
        let mut bytes = fs::read(&newest).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 1;
        fs::write(&newest, &bytes).unwrap();
        assert!(
            open(&newest, &s.key.verifier())
                .unwrap_err()
                .contains("signature")
        );
        assert_eq!(s.latest(100).unwrap().size, 3);

        // A file signed by another key, or renamed to another size, is not used either.
        let other = Snapshots::new(
            s.dir.clone(),
            PrivateKey::from_seed("log", [8; 32]).unwrap(),
            10,
        );
        other.write(5, &empty(5)).unwrap();
        assert_eq!(s.files().unwrap().len(), KEEP, "3 went");
        assert!(s.latest(100).is_none(), "{:?}", s.files());
        s.write(7, &empty(7)).unwrap();
        assert_eq!(s.latest(100).unwrap().size, 7);
        fs::rename(
            s.dir.join(format!("{:020}{SUFFIX}", 7)),
            s.dir.join(format!("{:020}{SUFFIX}", 8)),
        )
        .unwrap();
        assert!(s.latest(100).is_none(), "{:?}", s.files());
    }

    #[test]
    fn snapshots_fall_due_every_n_entries_or_an_eighth_of_the_log() {
        let tmp = tempfile::tempdir().unwrap();
        let s = snapshots(tmp.path(), 10);
        assert!(!s.due(9));
        assert!(s.due(10));
        s.loaded(10);
        assert!(!s.due(19));
        assert!(s.due(25));
        // Past eight intervals, an eighth of the log.
        s.loaded(800);
        assert!(!s.due(899));
        assert!(s.due(900));
        assert!(!snapshots(tmp.path(), 0).due(1_000_000), "0 turns them off");
    }
}
