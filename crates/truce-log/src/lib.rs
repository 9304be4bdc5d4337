#![forbid(unsafe_code)]
//! The ledger: what is logged for each entry, and (as it lands) the RFC 6962 Merkle tree, C2SP
//! checkpoints, tiles and witness protocol.
//!
//! Data flows one way: a submitted envelope becomes a [`leaf::Leaf`] with its log time, the leaf's
//! hash goes into the tree, and everything derived (the engine's state) is recomputed from leaves.

pub mod audit;
pub mod checkpoint;
pub mod cosignature;
pub mod durable;
pub mod leaf;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod tile;
