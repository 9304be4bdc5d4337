//! Text the CLI writes for people: what a server said, what a source file held, hashes in hex.
//!
//! Two kinds of foreign text reach the terminal and the files the CLI writes (rejects files,
//! observation narratives): a server's answers and the columns of an imported data set. Neither
//! is trusted to be short or free of control characters, so both go through [`bounded`] (or
//! [`clean`], its bound for a server's words) before they are shown or stored. Hashes travel as
//! lower-case hex, the way the log's HTTP API writes them.

/// The most characters of one thing a server says (a problem's `detail`, a field's message) that
/// are shown or stored.
const MAX_SERVER_TEXT_CHARS: usize = 1_000;

/// How many bytes of an answer that is not a problem document are shown as its detail.
pub const BODY_PREVIEW_BYTES: usize = 512;

/// Text from a source, made fit for a narrative: whitespace and control characters become single
/// spaces, and at most `max` characters are kept (an ellipsis marks a cut).
pub fn bounded(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut space = false;
    for c in s.trim().chars() {
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    if out.chars().count() > max {
        let mut cut: String = out.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        out
    }
}

/// The server's words end up on terminals and in files: no control characters, bounded.
pub fn clean(s: &str) -> String {
    bounded(s, MAX_SERVER_TEXT_CHARS)
}

/// What kind of JSON value `v` is, for messages ("not an array").
pub fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text() {
        assert_eq!(bounded("  a\n\tb\u{7}c  ", 10), "a b c");
        assert_eq!(bounded("abcdef", 4), "abc…");
        assert_eq!(bounded("", 4), "");
    }
}
