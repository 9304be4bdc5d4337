#![forbid(unsafe_code)]
//! truce-store
