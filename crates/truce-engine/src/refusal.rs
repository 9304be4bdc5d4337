//! Why an entry may not be logged: the one error type of admission.
//!
//! Each variant stands for one HTTP status of DESIGN §8, but this crate knows nothing of HTTP:
//! the server maps variants to statuses. The variants are ordered as admission checks them (the
//! envelope's shape, who signed it, whether that signer may, then the payload), so that a client
//! learns the most basic problem first.

use std::fmt;

use truce_model::dsse::DsseError;
use truce_model::entry::FieldError;

/// Why an entry may not be logged. Each variant maps to one HTTP status of DESIGN §8.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// 400: the envelope is not a well-formed truce envelope.
    Malformed { pointer: String, message: String },
    /// 401: a signature is by an unknown, revoked or expired key, or does not verify.
    Unauthenticated(String),
    /// 403: the signer's roles do not allow this kind of entry.
    Forbidden(String),
    /// 413: the envelope is larger than a leaf can hold.
    TooLarge(String),
    /// 422: the payload is invalid; every problem, by JSON pointer into the payload.
    Invalid(Vec<FieldError>),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Malformed { pointer, message } => {
                write!(f, "malformed envelope at {pointer:?}: {message}")
            }
            Refusal::Unauthenticated(m) | Refusal::Forbidden(m) | Refusal::TooLarge(m) => {
                f.write_str(m)
            }
            Refusal::Invalid(errors) => {
                let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
                write!(f, "invalid payload: {}", parts.join("; "))
            }
        }
    }
}

impl std::error::Error for Refusal {}

impl From<DsseError> for Refusal {
    fn from(e: DsseError) -> Refusal {
        match e {
            DsseError::TooLarge { .. } => Refusal::TooLarge(e.to_string()),
            DsseError::Malformed { pointer, message } => Refusal::Malformed { pointer, message },
            DsseError::InvalidPayload { pointer, message } => {
                Refusal::Invalid(vec![FieldError::new(pointer, message)])
            }
            other => Refusal::Malformed {
                pointer: String::new(),
                message: other.to_string(),
            },
        }
    }
}

pub(crate) fn invalid(pointer: &str, message: impl Into<String>) -> Refusal {
    Refusal::Invalid(vec![FieldError::new(pointer, message)])
}
