//! `json::parse_strict` on outside bytes, against `serde_json` as the reference.
//!
//! Invariants:
//! - what `parse_strict` accepts, `serde_json` accepts, as the same value;
//! - what `parse_strict` refuses as a syntax error, `serde_json` refuses too (strictness is only
//!   about duplicate keys);
//! - a duplicate-key error names a JSON pointer (empty or starting with `/`);
//! - an accepted value, written back by `serde_json`, parses strictly again to the same value
//!   (floats compared to the last bit `serde_json`'s default float parser keeps).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use truce_model::json::{StrictJsonError, parse_strict};

fuzz_target!(|data: &[u8]| {
    let strict = parse_strict(data);
    let lax = serde_json::from_slice::<Value>(data);
    match &strict {
        Ok(v) => {
            match &lax {
                Ok(l) => assert_eq!(l, v, "parse_strict and serde_json read different values"),
                Err(e) => panic!("parse_strict accepts what serde_json refuses ({e})"),
            }
            let text = serde_json::to_vec(v).expect("a Value serialises");
            match parse_strict(&text) {
                Ok(again) => assert!(same(&again, v), "{v:?} re-parses as {again:?}"),
                Err(e) => panic!("serde_json's own output is refused: {e}"),
            }
        }
        Err(StrictJsonError::Syntax(m)) => {
            assert!(!m.is_empty());
            if let Ok(l) = &lax {
                panic!("parse_strict reports a syntax error ({m}) where serde_json reads {l:?}");
            }
        }
        Err(StrictJsonError::DuplicateKey { pointer, .. }) => {
            assert!(
                pointer.is_empty() || pointer.starts_with('/'),
                "{pointer:?}"
            );
        }
        Err(_) => {}
    }
});

/// Equality, except that floats may differ in the last bit (serde_json's default float parser is
/// not correctly rounded; that is serde_json's documented behaviour, not truce's).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y
                || (x - y).abs() <= x.abs().max(y.abs()) * 4.0 * f64::EPSILON
                || (x - y).abs() <= f64::MIN_POSITIVE
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
