//! Validation problems: what is wrong, and exactly where.
//!
//! An agreement is negotiated text; the people fixing it are mediators and delegations, not
//! programmers. Every problem therefore names the file, the 1-based line and the TOML path of the
//! offending field (`zones[2].buffer.km`, `rules[0].events[3]`), so that an editor can jump to it
//! and a delegation can quote it.

use std::fmt;

use serde::Serialize;

/// One thing wrong with an agreement document.
///
/// `Display` renders `file:line: field: message`; when `field` is empty (TOML syntax errors,
/// which precede any notion of a field) it renders `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Problem {
    /// The file name given to [`check`](super::check) (or the geometry file for problems that
    /// can only be located there — those still carry the TOML line that references the file).
    pub file: String,
    /// 1-based line in `file`.
    pub line: usize,
    /// TOML path of the field, e.g. `parties[1].key`; empty for syntax errors.
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.file, self.line, self.field, self.message
            )
        }
    }
}

impl std::error::Error for Problem {}

/// Maps byte offsets of a text to 1-based line numbers.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    /// Byte offset of the start of each line after the first.
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let starts = text
            .bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        LineIndex { starts }
    }

    /// The 1-based line containing byte `offset` (offsets past the end map to the last line).
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset) + 1
    }
}

/// Collects problems for one document.
#[derive(Debug)]
pub(crate) struct Sink {
    pub(crate) file: String,
    pub(crate) lines: LineIndex,
    pub(crate) problems: Vec<Problem>,
}

impl Sink {
    pub(crate) fn new(file: &str, text: &str) -> Self {
        Sink {
            file: file.to_owned(),
            lines: LineIndex::new(text),
            problems: Vec::new(),
        }
    }

    pub(crate) fn push(
        &mut self,
        line: usize,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            file: self.file.clone(),
            line,
            field: field.into(),
            message: message.into(),
        });
    }

    /// The problems in line order (problems on one line keep the order they were found in),
    /// without exact duplicates.
    pub(crate) fn finish(mut self) -> Vec<Problem> {
        // A stable sort keeps problems of one line in the order they were found.
        self.problems.sort_by_key(|a| a.line);
        self.problems.dedup();
        self.problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        let idx = LineIndex::new("a\nbc\n\nd");
        assert_eq!(idx.line(0), 1);
        assert_eq!(idx.line(1), 1); // the newline belongs to its line
        assert_eq!(idx.line(2), 2);
        assert_eq!(idx.line(5), 3);
        assert_eq!(idx.line(6), 4);
        assert_eq!(idx.line(1000), 4);
    }

    #[test]
    fn display() {
        let p = Problem {
            file: "agreement.toml".into(),
            line: 12,
            field: "parties[1].key".into(),
            message: "invalid vkey: x".into(),
        };
        assert_eq!(
            p.to_string(),
            "agreement.toml:12: parties[1].key: invalid vkey: x"
        );
        let p = Problem {
            field: String::new(),
            ..p
        };
        assert_eq!(p.to_string(), "agreement.toml:12: invalid vkey: x");
    }
}
