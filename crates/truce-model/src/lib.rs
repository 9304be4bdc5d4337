#![forbid(unsafe_code)]
//! The vocabulary of truce: keys, signed entries, their payloads, agreements and the taxonomy.
//!
//! Everything here is pure data and validation, with no I/O beyond what a caller hands in
//! (agreement geometry comes through a [`agreement::Resolver`]). The server, the CLI, the engine
//! and the fuzz targets all parse outside input through these functions, so there is one
//! definition of what a valid key, envelope or agreement is.

pub mod agreement;
pub mod dsse;
pub mod entry;
pub mod field;
pub mod json;
pub mod keys;
pub mod observation;
pub mod taxonomy;
