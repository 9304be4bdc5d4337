#![forbid(unsafe_code)]
//! truce-engine
