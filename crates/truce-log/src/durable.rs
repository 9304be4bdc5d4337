//! Files that must survive a crash: state files replaced atomically, and secret files created once.
//!
//! A log server, a witness and an auditor each keep small files whose loss or corruption would let
//! them forget what they signed or saw (the witness's latest cosigned checkpoint, the auditor's
//! pinned checkpoint, private keys). Two operations cover them all:
//!
//! - [`replace`]: write the new bytes to a temporary file in the same directory, `fsync` it, rename
//!   it over the old file, then `fsync` the directory so that the rename itself is durable. A reader
//!   or a crash sees either the old file or the new one, never a mix, and never an empty file.
//! - [`create_new`]: create a file that must not exist yet (a private key is never overwritten),
//!   with mode `0600` when `private`, write it, `fsync` it and the directory.
//!
//! Both return plain [`std::io::Error`]s; callers add the path and what the file is for.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;

/// Whether a file created by [`create_new`] may be read by others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Readable by the owner only (mode `0600` on Unix): private keys.
    Private,
    /// The process's default mode (umask applies).
    Public,
}

/// Replaces `path` with `bytes` atomically and durably (temporary file, `fsync`, rename, `fsync` of
/// the directory). The directory must exist: a data directory that has vanished is an error, not
/// something to recreate empty. On failure the old file is untouched and the temporary file is
/// removed.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_with(path, |f| f.write_all(bytes))
}

/// [`replace`] with the content written by `write` to the temporary file (a large file streamed
/// out instead of held in memory whole). An error from `write` leaves the old file untouched.
pub fn replace_with(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = parent(path);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("the path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        write(&mut f)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// Creates `path`, which must not exist yet, with `bytes`, durably. An existing file is an error of
/// kind [`io::ErrorKind::AlreadyExists`] and is left as it is.
pub fn create_new(path: &Path, bytes: &[u8], access: Access) -> io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if access == Access::Private {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = access;
    let mut f = opts.open(path)?;
    let written = (|| {
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        drop(f);
        let _ = fs::remove_file(path);
        return Err(e);
    }
    sync_dir(parent(path))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Flushes a directory's entries, so that a rename or a new file in it survives a crash.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = (dir, File::open);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "truce-durable-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replace_creates_then_replaces_and_leaves_no_temporary_file() {
        let dir = scratch("replace");
        assert_eq!(
            replace(&dir.join("missing").join("state.json"), b"x")
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound,
            "a missing directory is not created"
        );
        let path = dir.join("nested").join("state.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        replace(&path, b"one").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        replace(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn replace_failure_keeps_the_old_file() {
        let dir = scratch("replace-fail");
        let path = dir.join("state");
        replace(&path, b"old").unwrap();
        // A failed write of `path` itself: its temporary file's name is taken by a directory.
        let tmp = dir.join(format!(".state.{}.tmp", std::process::id()));
        fs::create_dir_all(tmp.join("inner")).unwrap();
        assert!(replace(&path, b"new").is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        fs::remove_dir_all(&tmp).unwrap();
        // A failed rename (a directory where the file should go) leaves no temporary file.
        let blocked = dir.join("blocked");
        fs::create_dir_all(blocked.join("inner")).unwrap();
        assert!(replace(&blocked, b"new").is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        let temporaries = fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        assert_eq!(temporaries, 0);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn create_new_never_overwrites() {
        let dir = scratch("create");
        let path = dir.join("key");
        create_new(&path, b"secret", Access::Private).unwrap();
        let err = create_new(&path, b"other", Access::Private).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_dir_all(dir).unwrap();
    }
}
