//! What a payload check reports, and the field formats every payload kind shares.
//!
//! [`FieldError`] is the unit of every 422 truce returns: one problem, named by the JSON pointer
//! of the field it is about. Entry payloads ([`crate::entry`]) and observations
//! ([`crate::observation`]) both report through it, and both check content hashes with
//! [`is_sha256_hex`]; they live here, below both, so that imports between the payload modules go
//! one way only (`entry` → `observation` → `field`). `crate::entry` re-exports both names, their
//! historical home.

use std::fmt;

use serde::Serialize;

/// A problem with one field of a payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON pointer into the payload, e.g. `/roles/2`.
    pub pointer: String,
    /// What is wrong, in words.
    pub message: String,
}

impl FieldError {
    /// A problem at `pointer`.
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

/// True for 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
