//! The server's shared in-memory data behind locks, and what a panic while a lock was held means.
//!
//! A `std::sync` lock is *poisoned* when a thread panics while holding it for writing. The server
//! must never panic on a request path, so no lock here is ever `expect`ed; instead each kind of
//! data says what a poisoned lock means for it:
//!
//! - [`SharedState`], the committed derived state. Its only writer is the sequencer, which applies
//!   a committed batch entry by entry and touches several indexes per entry; interrupted halfway,
//!   the state may disagree with itself and no longer matches the published checkpoint. Such a
//!   state must not be served or built on, so a poisoned lock reads as [`StateLost`]: every
//!   request that needs the state answers `503` (`/healthz` included, so that a supervisor
//!   restarts the server), the intake queues nothing more, the sequencer and the ticker stop.
//!   Nothing is lost: the state is never stored, the next start rebuilds it from the log
//!   ([`crate::app::replay`]), and an entry acknowledged before is in the log. A state whose
//!   cold tier failed a read ([`truce_engine::State::cold_failed`]: its file was changed under
//!   the server, or the disk failed) is lost the same way, whichever thread read it.
//! - [`Recovering`], for data that is valid at any point a writer may stop. The guard is taken
//!   back with [`PoisonError::into_inner`]; each use says why its data qualifies.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use truce_engine::State;

/// The committed state was being changed when a thread panicked; it cannot be trusted until the
/// server restarts and rebuilds it from the log (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateLost;

impl fmt::Display for StateLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the server's state was lost to an internal error; the server must be restarted, \
             which rebuilds the state from the log (nothing is logged until then)",
        )
    }
}

impl std::error::Error for StateLost {}

/// The committed state readers see; cloning shares it.
#[derive(Clone)]
pub struct SharedState(Arc<RwLock<State>>);

impl SharedState {
    /// Shares `state`.
    pub fn new(state: State) -> SharedState {
        SharedState(Arc::new(RwLock::new(state)))
    }

    /// A read lock on the committed state.
    pub fn read(&self) -> Result<RwLockReadGuard<'_, State>, StateLost> {
        let state = self.0.read().map_err(|_| StateLost)?;
        if state.cold_failed() {
            return Err(StateLost);
        }
        Ok(state)
    }

    /// The write lock, for the sequencer alone: it applies committed batches.
    pub fn write(&self) -> Result<RwLockWriteGuard<'_, State>, StateLost> {
        let state = self.0.write().map_err(|_| StateLost)?;
        if state.cold_failed() {
            return Err(StateLost);
        }
        Ok(state)
    }

    /// Whether the state was lost (a writer panicked, or the cold tier failed to give back
    /// what was written to it: [`truce_engine::State::cold_failed`]).
    pub fn is_lost(&self) -> bool {
        self.read().is_err()
    }
}

/// A lock for data that stays valid whatever point a panicking writer reached: a poisoned lock
/// is used as if it were not. Only for data that qualifies; see the module docs.
#[derive(Debug, Default)]
pub struct Recovering<T>(RwLock<T>);

impl<T> Recovering<T> {
    /// Guards `value`.
    pub fn new(value: T) -> Recovering<T> {
        Recovering(RwLock::new(value))
    }

    /// A read lock.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The write lock.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Poisons `lock` the way a real failure would: a thread panics while holding it for writing.
#[cfg(test)]
pub(crate) fn poison<T: Send + Sync>(lock: &RwLock<T>) {
    std::thread::scope(|s| {
        let panicked = s
            .spawn(|| {
                let _guard = lock.write();
                panic!("a panic while the lock is held (deliberate, in a test)");
            })
            .join();
        assert!(panicked.is_err());
    });
    assert!(lock.is_poisoned());
}

#[cfg(test)]
impl SharedState {
    /// Loses the state as a panicking writer would.
    pub(crate) fn lose(&self) {
        poison(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> SharedState {
        let operator = truce_model::keys::PrivateKey::from_seed("op", [1; 32]).unwrap();
        SharedState::new(State::new(operator.verifier()))
    }

    #[test]
    fn a_panicking_writer_loses_the_state_for_every_holder() {
        let shared = state();
        let other = shared.clone();
        assert!(shared.read().is_ok() && !shared.is_lost());
        shared.lose();
        assert!(other.is_lost());
        assert_eq!(other.read().err(), Some(StateLost));
        assert_eq!(other.write().err(), Some(StateLost));
    }

    #[test]
    fn recovering_locks_outlive_a_panicking_writer() {
        let lock = Recovering::new(vec![1, 2]);
        lock.write().push(3);
        poison(&lock.0);
        assert_eq!(*lock.read(), [1, 2, 3]);
        lock.write().push(4);
        assert_eq!(lock.read().len(), 4);
    }
}
