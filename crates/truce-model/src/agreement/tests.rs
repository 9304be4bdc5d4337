//! Unit tests of the agreement validator.
