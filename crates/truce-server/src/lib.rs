#![forbid(unsafe_code)]
//! truce-server
