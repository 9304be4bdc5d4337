//! `agreement::check` (and `referenced_files`) on an outside TOML document and its GeoJSON files.
//!
//! Input: the TOML text, then each GeoJSON file, separated by NUL bytes (`toml \0 geo1 \0 geo2 …`;
//! neither TOML nor JSON text can hold a raw NUL). The i-th file is put in the `MapResolver` under
//! the i-th path the document references (`referenced_files`, in document order), so the files
//! reach the geometry checks under the names the TOML asks for.
//!
//! Invariants:
//! - neither function panics;
//! - on `Err`, every `Problem` names a file, has a line from 1 to the number of lines in the
//!   TOML text, and a non-empty field or message (`referenced_files`' problems likewise, with a
//!   field);
//! - on `Ok`, `referenced_files` succeeds on the same text and names only supplied files, and the
//!   agreement serialises.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use truce_model::agreement::{MapResolver, Problem, check, referenced_files};

const FILE: &str = "agreement.toml";

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0);
    let Some(toml) = parts.next() else { return };
    let Ok(text) = std::str::from_utf8(toml) else {
        return;
    };
    let last_line = text.bytes().filter(|&b| b == b'\n').count() + 1;

    let referenced = referenced_files(text);
    match &referenced {
        Ok(paths) => {
            for (i, p) in paths.iter().enumerate() {
                assert!(!p.is_empty(), "an empty path is referenced");
                assert!(!paths[..i].contains(p), "{p:?} listed twice");
            }
        }
        Err(problems) => {
            assert!(
                !problems.is_empty(),
                "referenced_files failed without a problem"
            );
            for p in problems {
                assert!(
                    (1..=last_line).contains(&p.line),
                    "line {} of {last_line}: {p:?}",
                    p.line
                );
                assert!(!p.message.is_empty(), "{p:?}");
            }
        }
    }

    let names = referenced.as_deref().unwrap_or_default();
    let files: BTreeMap<String, Vec<u8>> = names
        .iter()
        .cloned()
        .zip(parts.map(<[u8]>::to_vec))
        .collect();
    let resolver = MapResolver(files);

    match check(FILE, text, &resolver) {
        Err(problems) => {
            assert!(!problems.is_empty(), "check failed without a problem");
            for p in &problems {
                check_problem(p, last_line);
            }
        }
        Ok(agreement) => {
            let paths = referenced.unwrap_or_else(|p| {
                panic!("check accepts a document whose referenced_files fails: {p:?}")
            });
            for p in &paths {
                assert!(
                    resolver.0.contains_key(p),
                    "accepted without the file {p:?}"
                );
            }
            serde_json::to_vec(&agreement).expect("an accepted agreement serialises");
        }
    }
});

fn check_problem(p: &Problem, last_line: usize) {
    assert!(!p.file.is_empty(), "{p:?}");
    assert!(p.line >= 1, "line 0: {p:?}");
    assert!(
        p.line <= last_line,
        "line {} past the end ({last_line}): {p:?}",
        p.line
    );
    assert!(!p.field.is_empty() || !p.message.is_empty(), "{p:?}");
}
