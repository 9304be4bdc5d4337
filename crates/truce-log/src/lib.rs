#![forbid(unsafe_code)]
//! truce-log
