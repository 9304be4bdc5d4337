//! Strict JSON: like `serde_json::from_slice::<Value>`, but an object with a repeated key is an
//! error instead of "the last one wins".
//!
//! Signed payloads are read by many implementations; if two of them could read different values
//! from the same signed bytes, a signature would not pin down what was said. Refusing duplicate
//! keys closes that gap. Depth is bounded by serde_json's recursion limit (128).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why strict parsing failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StrictJsonError {
    /// Not JSON (message from the parser, with line and column).
    Syntax(String),
    /// `key` appears twice in the object at `pointer`.
    DuplicateKey { pointer: String, key: String },
}

impl fmt::Display for StrictJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictJsonError::Syntax(m) => write!(f, "{m}"),
            StrictJsonError::DuplicateKey { pointer, key } => {
                write!(f, "duplicate key {key:?} in the object at {pointer:?}")
            }
        }
    }
}

impl std::error::Error for StrictJsonError {}

/// Escapes a key for use in a JSON pointer (RFC 6901).
pub fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

const DUP_MARKER: &str = "\u{0}truce-duplicate-key\u{0}";

/// Parses `bytes` as one JSON value, refusing duplicate object keys.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, StrictJsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Seed { at: &Step::Root }.deserialize(&mut de).map_err(|e| {
        let m = e.to_string();
        match m.strip_prefix(DUP_MARKER) {
            Some(rest) => {
                // rest = "<pointer>\0<key> at line …"
                let (pointer, key) = rest.split_once('\u{0}').unwrap_or((rest, ""));
                let key = key.rsplit_once(" at line ").map_or(key, |(k, _)| k);
                StrictJsonError::DuplicateKey {
                    pointer: pointer.to_string(),
                    key: key.to_string(),
                }
            }
            None => StrictJsonError::Syntax(m),
        }
    })?;
    de.end()
        .map_err(|e| StrictJsonError::Syntax(e.to_string()))?;
    Ok(value)
}

/// Where a value sits in the document, as a chain of steps up to the root. Built on the stack
/// as the parser descends and turned into a JSON pointer only for an error, so that parsing a
/// valid document allocates nothing for positions. The observation reader
/// ([`crate::observation`]) names its fields the same way.
pub(crate) enum Step<'a> {
    /// The document itself (pointer `""`).
    Root,
    /// The member `key` of the object at the parent.
    Key(&'a Step<'a>, &'a str),
    /// Element `i` of the array at the parent.
    Index(&'a Step<'a>, usize),
}

impl Step<'_> {
    /// The member `k` of the object at `self`.
    pub(crate) fn key<'b>(&'b self, k: &'b str) -> Step<'b> {
        Step::Key(self, k)
    }

    /// Element `i` of the array at `self`.
    pub(crate) fn index(&self, i: usize) -> Step<'_> {
        Step::Index(self, i)
    }

    /// The RFC 6901 JSON pointer: `""` for the root, then `/` and each key (escaped with
    /// [`escape_pointer`]) or index, e.g. `/evidence/0/sha256`.
    pub(crate) fn pointer(&self) -> String {
        let mut out = String::new();
        self.write_pointer(&mut out);
        out
    }

    fn write_pointer(&self, out: &mut String) {
        match self {
            Step::Root => {}
            Step::Key(parent, key) => {
                parent.write_pointer(out);
                out.push('/');
                out.push_str(&escape_pointer(key));
            }
            Step::Index(parent, i) => {
                parent.write_pointer(out);
                out.push('/');
                out.push_str(&i.to_string());
            }
        }
    }
}

struct Seed<'p> {
    at: &'p Step<'p>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let step = Step::Index(self.at, out.len());
            match seq.next_element_seed(Seed { at: &step })? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "{DUP_MARKER}{}\u{0}{key}",
                    self.at.pointer()
                )));
            }
            let v = {
                let step = Step::Key(self.at, &key);
                map.next_value_seed(Seed { at: &step })?
            };
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_serde_json() {
        let text = br#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"c":"\u00e9"}"#;
        assert_eq!(
            parse_strict(text).unwrap(),
            serde_json::from_slice::<Value>(text).unwrap()
        );
    }

    #[test]
    fn refuses_duplicates_with_pointer() {
        assert_eq!(
            parse_strict(br#"{"a":1,"a":2}"#),
            Err(StrictJsonError::DuplicateKey {
                pointer: "".into(),
                key: "a".into()
            })
        );
        assert_eq!(
            parse_strict(br#"{"x":[0,{"k/~":1,"k/~":2}]}"#),
            Err(StrictJsonError::DuplicateKey {
                pointer: "/x/1".into(),
                key: "k/~".into()
            })
        );
    }

    #[test]
    fn step_pointers_are_rfc_6901() {
        let root = Step::Root;
        assert_eq!(root.pointer(), "");
        let evidence = root.key("evidence");
        let item = evidence.index(0);
        assert_eq!(item.key("sha256").pointer(), "/evidence/0/sha256");
        assert_eq!(root.key("a/b~c").index(12).pointer(), "/a~1b~0c/12");
        assert_eq!(root.key("").pointer(), "/");
    }

    #[test]
    fn refuses_trailing_data_and_deep_nesting() {
        assert!(matches!(
            parse_strict(b"{} {}"),
            Err(StrictJsonError::Syntax(_))
        ));
        let deep = "[".repeat(1000) + &"]".repeat(1000);
        assert!(matches!(
            parse_strict(deep.as_bytes()),
            Err(StrictJsonError::Syntax(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = parse_strict(&bytes);
        }
    }
}
