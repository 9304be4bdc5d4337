//! The effects of a snapshot as the decoder sees them: all of them in memory, or a window over
//! a stream.
//!
//! Why a window: a snapshot of a million observations is about 80 MB, and one of ten million
//! 800 MB. Read whole, it sits in memory beside the state it rebuilds, and the allocator keeps
//! the pages after it is freed, so a restarted server's resident memory would carry the file's
//! size for good. A window holds at most [`FILL`] bytes.
//!
//! Invariant: before an effect is decoded, the window holds at least [`MAX_EFFECT`] unread bytes
//! or everything up to the end of the stream. No effect of a valid snapshot is that long (each is
//! a few fields of one entry, and entries are far smaller), so an effect that does not fit is
//! reported as truncated, which it is for the decoder's purpose: the caller restores without the
//! snapshot.

use std::borrow::Cow;
use std::io::{ErrorKind, Read};

use super::SnapshotError;

/// The stream a snapshot is read from.
pub(super) type Source = Box<dyn Read + Send>;

/// Bytes read at first for the header (more are read if its index section is longer).
#[cfg(not(test))]
pub(super) const HEAD: usize = 64 * 1024;
#[cfg(test)]
pub(super) const HEAD: usize = 50;

/// The longest effect the window guarantees to hold whole.
#[cfg(not(test))]
const MAX_EFFECT: usize = 4 << 20;
#[cfg(test)]
const MAX_EFFECT: usize = 300;

/// The window's size when refilled.
#[cfg(not(test))]
const FILL: usize = 8 << 20;
#[cfg(test)]
const FILL: usize = 700;

/// Unread effect bytes and, for a stream, what is left of it.
pub(super) struct Window<'a> {
    buf: Cow<'a, [u8]>,
    at: usize,
    /// `None` once the stream has ended (or for a snapshot in memory).
    src: Option<Source>,
    /// A stream whose rest was taken already ([`super::Snapshot::effects`] called twice).
    gone: bool,
}

impl<'a> Window<'a> {
    /// Every effect, in memory.
    pub(super) fn memory(bytes: &'a [u8]) -> Window<'a> {
        Window {
            buf: Cow::Borrowed(bytes),
            at: 0,
            src: None,
            gone: false,
        }
    }

    /// The effects read so far (`head`) and the rest of the stream (`None`: taken already).
    pub(super) fn stream(head: Vec<u8>, rest: Option<Source>) -> Window<'a> {
        Window {
            buf: Cow::Owned(head),
            at: 0,
            gone: rest.is_none(),
            src: rest,
        }
    }

    /// Reads more of the stream if fewer than [`MAX_EFFECT`] bytes are unread (module docs).
    pub(super) fn fill(&mut self) -> Result<(), SnapshotError> {
        if self.gone {
            return Err(SnapshotError::Read(
                "its effects were read already".to_string(),
            ));
        }
        let Some(src) = self.src.as_mut() else {
            return Ok(());
        };
        if self.buf.len() - self.at >= MAX_EFFECT {
            return Ok(());
        }
        let buf = self.buf.to_mut();
        buf.drain(..self.at);
        self.at = 0;
        while buf.len() < FILL {
            let old = buf.len();
            buf.resize(FILL, 0);
            match src.read(&mut buf[old..]) {
                Ok(0) => {
                    buf.truncate(old);
                    self.src = None;
                    break;
                }
                Ok(n) => buf.truncate(old + n),
                Err(e) if e.kind() == ErrorKind::Interrupted => buf.truncate(old),
                Err(e) => {
                    buf.truncate(old);
                    self.src = None;
                    self.gone = true;
                    return Err(SnapshotError::Read(e.to_string()));
                }
            }
        }
        Ok(())
    }

    /// The window's bytes and where the unread ones start.
    pub(super) fn unread(&self) -> (&[u8], usize) {
        (&self.buf, self.at)
    }

    /// Marks `n` more bytes as read.
    pub(super) fn consume(&mut self, n: usize) {
        self.at += n;
        debug_assert!(self.at <= self.buf.len());
    }

    /// Whether every byte was read, to the end of the stream.
    pub(super) fn at_end(&mut self) -> Result<bool, SnapshotError> {
        self.fill()?;
        Ok(self.at == self.buf.len() && self.src.is_none())
    }
}
