//! Reading a CSV record by column name, and the value types the mappings share.
//!
//! The UCDP and ACLED mappings (docs/import.md) read columns by name, never by position: exports
//! differ in column order and extra columns. [`Cells`] reads each column as the type the mapping
//! needs and, rather than stopping at the first bad column, records *every* problem with the
//! column's name, so that a reject names all that is wrong with the row at once.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde_json::{Map, Value, json};
use truce_model::dsse::check_id;

use super::Reject;
use crate::text::bounded;

/// Longest text taken from one source column into a narrative, in characters.
pub(super) const MAX_FIELD_CHARS: usize = 300;
/// Longest narrative written, in characters (the validator allows 4,000).
const MAX_IMPORT_NARRATIVE_CHARS: usize = 3_000;

/// The header of a CSV file: column name (lower case) → position.
pub(super) struct Columns {
    index: BTreeMap<String, usize>,
    pub(super) len: usize,
}

impl Columns {
    pub(super) fn new(headers: &csv::ByteRecord) -> Columns {
        let mut index = BTreeMap::new();
        for (i, h) in headers.iter().enumerate() {
            let name = String::from_utf8_lossy(h)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_ascii_lowercase();
            // The first of two columns of the same name wins.
            index.entry(name).or_insert(i);
        }
        Columns {
            index,
            len: headers.len(),
        }
    }

    pub(super) fn missing(&self, required: &[&str]) -> Vec<String> {
        required
            .iter()
            .filter(|c| !self.index.contains_key(**c))
            .map(|c| (*c).to_string())
            .collect()
    }
}

/// One CSV record being mapped: reads columns by name and collects every problem.
pub(super) struct Cells<'a> {
    cols: &'a Columns,
    rec: &'a csv::ByteRecord,
    problems: Vec<(String, String)>,
}

impl<'a> Cells<'a> {
    pub(super) fn new(cols: &'a Columns, rec: &'a csv::ByteRecord) -> Cells<'a> {
        Cells {
            cols,
            rec,
            problems: Vec::new(),
        }
    }

    pub(super) fn fail(&mut self, column: &str, why: impl Into<String>) {
        self.problems.push((column.to_string(), why.into()));
    }

    /// The column's text, trimmed; `None` if the header has no such column or the record is too
    /// short to have it (no problem recorded).
    pub(super) fn raw(&mut self, column: &str) -> Option<&'a str> {
        let i = *self.cols.index.get(column)?;
        let bytes = self.rec.get(i)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Some(s.trim()),
            Err(e) => {
                self.fail(column, format!("not UTF-8 text ({e})"));
                None
            }
        }
    }

    /// A column that must be present and not empty.
    pub(super) fn text(&mut self, column: &str) -> Option<&'a str> {
        match self.raw(column) {
            Some(s) if !s.is_empty() => Some(s),
            Some(_) => {
                self.fail(column, "empty");
                None
            }
            None => {
                if self.cols.index.contains_key(column) {
                    // Short record, or not UTF-8 (already reported).
                    if !self.problems.iter().any(|(c, _)| c == column) {
                        self.fail(column, "missing (the record is shorter than the header)");
                    }
                } else {
                    self.fail(column, "missing (no such column)");
                }
                None
            }
        }
    }

    /// An optional column: `None` if absent or empty.
    pub(super) fn optional(&mut self, column: &str) -> Option<&'a str> {
        self.raw(column).filter(|s| !s.is_empty())
    }

    pub(super) fn integer(&mut self, column: &str, min: u64, max: u64) -> Option<u64> {
        let s = self.text(column)?;
        match parse_integer(s) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                self.fail(column, format!("{n} is out of range ({min} to {max})"));
                None
            }
            None => {
                self.fail(
                    column,
                    format!("{:?} is not a whole number", bounded(s, 40)),
                );
                None
            }
        }
    }

    pub(super) fn degrees(&mut self, column: &str, max: f64) -> Option<f64> {
        let s = self.text(column)?;
        match s.parse::<f64>() {
            Ok(x) if x.is_finite() && (-max..=max).contains(&x) => Some(x),
            Ok(x) if x.is_finite() => {
                self.fail(
                    column,
                    format!("{s} is out of range (-{max} to {max} degrees)"),
                );
                None
            }
            _ => {
                self.fail(column, format!("{:?} is not a number", bounded(s, 40)));
                None
            }
        }
    }

    pub(super) fn date(&mut self, column: &str) -> Option<Date> {
        let s = self.text(column)?;
        match parse_date(s) {
            Some(d) => Some(d),
            None => {
                self.fail(
                    column,
                    format!(
                        "{:?} is not a date (expected YYYY-MM-DD, DD Month YYYY or DD-MM-YYYY)",
                        bounded(s, 40)
                    ),
                );
                None
            }
        }
    }

    /// The entry id `prefix` + the text of `column`, if that makes a valid id.
    pub(super) fn entry_id(&mut self, column: &str, prefix: &str) -> Option<String> {
        let raw = self.text(column)?;
        let id = format!("{prefix}{raw}");
        match check_id(&id) {
            Ok(()) => Some(id),
            Err(why) => {
                self.fail(
                    column,
                    format!("{:?} does not make an entry id: {why}", bounded(raw, 40)),
                );
                None
            }
        }
    }

    /// The payload if no column had a problem, else every problem.
    pub(super) fn finish<T>(self, value: Option<T>) -> Result<T, Reject> {
        Reject::unless_problems(value, "column", "record", &self.problems)
    }
}

/// A whole number, also written as `12.0` (some exports write integers as floats).
fn parse_integer(s: &str) -> Option<u64> {
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let (int, frac) = s.split_once('.')?;
    if !frac.is_empty() && frac.bytes().all(|b| b == b'0') {
        int.parse().ok()
    } else {
        None
    }
}

/// `YYYY-MM-DD` (optionally followed by a time, as some GED exports write), `D Month YYYY`
/// (ACLED's older exports) or `DD-MM-YYYY`.
pub(super) fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if let Some(head) = s.get(..10)
        && let rest = &s[10..]
        && (rest.is_empty() || rest.starts_with([' ', 'T']))
        && head.as_bytes().get(4) == Some(&b'-')
        && let Ok(d) = head.parse::<Date>()
    {
        return Some(d);
    }
    let parts: Vec<&str> = s.split([' ', '-', '/']).filter(|p| !p.is_empty()).collect();
    let [day, month, year] = parts.as_slice() else {
        return None;
    };
    let day: i8 = day.parse().ok()?;
    let year: i16 = year.parse().ok().filter(|y: &i16| *y >= 1000)?;
    let month: i8 = match month.parse::<i8>() {
        Ok(m) if s.contains('-') || s.contains('/') => m,
        Ok(_) => return None,
        Err(_) => month_number(month)?,
    };
    Date::new(year, month, day).ok()
}

fn month_number(name: &str) -> Option<i8> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let lower = name.to_ascii_lowercase();
    if lower.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| *m == lower || (lower.len() == 3 && m.starts_with(&lower)))
        .and_then(|i| i8::try_from(i + 1).ok())
}

/// The observation payload of an event of a CSV data set (docs/import.md): observed over whole
/// days (`from` to `to`, UTC), one event of `event_type` at (lat, lon) within `radius_m`, its
/// `casualties`, and its `narrative` (bounded).
pub(super) fn day_event(
    (from, to): (Date, Date),
    event_type: &str,
    (lat, lon, radius_m): (f64, f64, f64),
    casualties: Value,
    narrative: &str,
) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert(
        "observed".into(),
        json!({"from": format!("{from}T00:00:00Z"), "to": format!("{to}T23:59:59Z")}),
    );
    o.insert(
        "event".into(),
        json!({"type": event_type, "count": 1,
               "location": {"lat": lat, "lon": lon, "radius_m": radius_m}}),
    );
    o.insert("casualties".into(), casualties);
    o.insert(
        "narrative".into(),
        Value::String(bounded(narrative, MAX_IMPORT_NARRATIVE_CHARS)),
    );
    o
}

/// A casualty estimate, as §5 writes it.
pub(super) fn estimate(low: u64, best: u64, high: u64) -> Value {
    json!({"low": low, "best": best, "high": high})
}

/// `s`, or a placeholder if it is empty.
pub(super) fn or_none(s: &str) -> &str {
    if s.is_empty() { "(none given)" } else { s }
}
