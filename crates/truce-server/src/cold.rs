//! The file behind the engine's cold tier ([`truce_engine::cold`]).
//!
//! A server holding a large log keeps the records of all but its newest observations in a file
//! of its data directory rather than in memory. The file is derived state: it is created empty
//! at every start and written as the state is rebuilt, so nothing in it has to be trusted across
//! restarts. It is unlinked as soon as it is open: it never outlives the process (a crash leaves
//! nothing to clean up, and no other process finds it by name), and it lives on the data
//! directory's disk, not in a `/tmp` that may be memory. The engine checks every block it reads
//! against the hash it took when writing it. Scratch files (the digest's sorted runs) are made
//! the same way, and their space is given back when the engine drops them.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use truce_engine::cold::ColdStore;

/// An append-only file, unlinked once open.
#[derive(Debug)]
pub struct ColdFile {
    file: File,
    /// Bytes written; appends take the lock, reads do not.
    len: Mutex<u64>,
    /// The directory it was created in (scratch files go there too).
    dir: PathBuf,
}

/// Files created by this process, for unique names.
static CREATED: AtomicU64 = AtomicU64::new(0);

impl ColdFile {
    /// Creates the file in `dir` (created if missing) and unlinks it. Its space is given back
    /// when it is dropped.
    pub fn create_in(dir: &Path) -> io::Result<ColdFile> {
        std::fs::create_dir_all(dir)?;
        let n = CREATED.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("cold-{}-{n}.tmp", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(ColdFile {
            file,
            len: Mutex::new(0),
            dir: dir.to_path_buf(),
        })
    }
}

impl ColdStore for ColdFile {
    fn scratch(&self) -> Option<Arc<dyn ColdStore>> {
        match ColdFile::create_in(&self.dir) {
            Ok(file) => Some(Arc::new(file)),
            Err(e) => {
                tracing::warn!(error = %e, "no scratch file: the digest sorts in memory");
                None
            }
        }
    }

    fn append(&self, bytes: &[u8]) -> io::Result<u64> {
        // A failed write leaves the length where it was: the next append overwrites it.
        let mut len = self.len.lock().unwrap_or_else(PoisonError::into_inner);
        let at = *len;
        self.file.write_all_at(bytes, at)?;
        *len = at + bytes.len() as u64;
        Ok(at)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let len = *self.len.lock().unwrap_or_else(PoisonError::into_inner);
        if offset.saturating_add(buf.len() as u64) > len {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.file.read_exact_at(buf, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends come back where they were written; reads past the end fail; the file has no name
    /// left in the directory.
    #[test]
    fn appends_read_back_and_the_file_leaves_no_name() {
        let dir = tempfile::tempdir().unwrap();
        let cold = ColdFile::create_in(&dir.path().join("cold")).unwrap();
        assert_eq!(cold.append(b"hello").unwrap(), 0);
        assert_eq!(cold.append(b", world").unwrap(), 5);
        let mut buf = [0; 7];
        cold.read_at(5, &mut buf).unwrap();
        assert_eq!(&buf, b", world");
        let mut past = [0; 3];
        assert!(cold.read_at(11, &mut past).is_err());
        assert!(cold.read_at(u64::MAX, &mut past).is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path().join("cold"))
            .unwrap()
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }
}
