#![forbid(unsafe_code)]
//! truce-model
