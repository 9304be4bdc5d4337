#![forbid(unsafe_code)]
//! A witness (C2SP tlog-witness, tlog-cosignature; DESIGN §7): `truce witness` runs it.
//!
//! A transparency log can lie in one way that no single client can detect: show different,
//! mutually inconsistent trees to different people (a *split view*). A witness closes that gap.
//! It remembers, per log, the latest checkpoint it cosigned, and cosigns a new checkpoint only
//! with a consistency proof from that one. A client that requires cosignatures from witnesses it
//! trusts therefore only accepts checkpoints on the one history those witnesses saw; to fork the
//! log, an attacker must also subvert the witnesses.
//!
//! That is why this is a crate of its own: a witness is an independent party checking the log
//! from the outside. It depends on the log's *formats* (`truce-log`: notes, checkpoints, Merkle
//! proofs, cosignatures; `truce-model`: keys) and never on the log server, so nothing the server
//! does can change what the witness accepts. (The log server depends on this crate for the one
//! thing both sides must agree on byte for byte, the request format of [`request`].)
//!
//! - [`service`]: the witness itself, `POST /add-checkpoint` exactly as tlog-witness specifies,
//!   over the request format of [`request`] and the durable record of [`state`];
//! - [`dir`]: its data directory (key, trusted logs, state).
//!
//! # Invariants
//!
//! - **The witness never cosigns a checkpoint inconsistent with one it cosigned before.** For
//!   each origin it holds one tree head (size, root); it cosigns a checkpoint of size `n` only
//!   if the request names exactly that recorded size as the old size and proves, with an RFC 6962
//!   consistency proof, that the new tree extends the recorded one (or, at equal sizes, carries
//!   the same root). Its record only ever grows.
//! - **Check and persist are atomic.** The comparison with the record, the write of the new
//!   record and the update in memory happen under one lock, in code that cannot be cancelled
//!   halfway (a blocking task, not an `async` future a disconnecting client could drop). Without
//!   that, two concurrent requests could both pass the check and the smaller one could roll the
//!   record back (the race the spec spells out).
//! - **Nothing is cosigned before it is durable.** The record is replaced with
//!   [`truce_log::durable::replace`] (temporary file, flush, rename, flush of the directory)
//!   before the cosignature is computed; a crash leaves either the old or the new record, never a
//!   torn one.

pub mod dir;
pub mod request;
pub mod service;
pub mod state;

pub use service::{AddError, Witness};
