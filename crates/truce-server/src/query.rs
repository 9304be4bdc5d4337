//! Query parameters of the list endpoints (`?from=…&bbox=…`), parsed strictly.
//!
//! Every list endpoint names the parameters it accepts; anything else (a misspelt `bbbox`, a
//! filter that belongs to another resource, a single-valued parameter given twice) is a 400 that
//! says which parameter and why, rather than a filter silently ignored, which would hand the
//! client the wrong data with a 200. All problems are reported at once.
//!
//! This is HTTP, so it lives in the server; what a parsed query means (a time window, a
//! [`BBox`], a page size) is the engine's business. Every value is bounded before it is kept
//! (count, length), the parser never panics on any input (the `query_params` fuzz target and the
//! property test below), and a value it returns is in range: a limit in 1..=[`MAX_LIMIT`], a box
//! with finite coordinates and `min <= max`.

use std::collections::BTreeMap;

use truce_engine::BBox;
use truce_model::taxonomy::{EventType, Family};

/// Largest page.
pub const MAX_LIMIT: u32 = 1000;
/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 100;
/// Longest accepted parameter value, in bytes.
const MAX_VALUE_BYTES: usize = 1024;
/// Most values one query may carry in total.
const MAX_VALUES: usize = 64;

/// The place-and-time filters every list endpoint of findings shares (documentation for the
/// OpenAPI document; parsing is [`Params::window`], [`Params::bbox`], [`Params::event_types`]).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowParams {
    /// RFC 3339: only items whose time window ends at or after this time.
    pub from: Option<String>,
    /// RFC 3339: only items whose time window starts at or before this time.
    pub to: Option<String>,
    /// `minLon,minLat,maxLon,maxLat` in degrees (inclusive): only items located inside.
    pub bbox: Option<String>,
    /// Event types or families (`fire`, `presence`, `harm`, `mission`), comma-separated.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
}

/// Paging parameters of every list endpoint (documentation; parsed by [`Params::limit`] and
/// [`Params::cursor`]).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub cursor: Option<String>,
}

/// The decoded parameters of one request, by name.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, Vec<String>>,
    errors: Vec<String>,
}

impl Params {
    /// Decodes `query` (the part after `?`), accepting only the parameters in `allowed`; `what`
    /// names the resource in messages.
    pub fn parse(query: Option<&str>, allowed: &[&str], what: &str) -> Params {
        let mut p = Params::default();
        let mut count = 0;
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            count += 1;
            if count > MAX_VALUES {
                p.errors
                    .push(format!("more than {MAX_VALUES} query parameters"));
                break;
            }
            let shown: String = name.chars().take(64).collect();
            if !allowed.contains(&name.as_ref()) {
                p.errors.push(format!(
                    "{shown:?} is not a parameter of {what} (accepted: {})",
                    allowed.join(", ")
                ));
                continue;
            }
            if value.len() > MAX_VALUE_BYTES {
                p.errors.push(format!(
                    "{shown}: value of {} bytes exceeds {MAX_VALUE_BYTES}",
                    value.len()
                ));
                continue;
            }
            p.values
                .entry(name.into_owned())
                .or_default()
                .push(value.into_owned());
        }
        p
    }

    /// Records a problem with parameter `name`.
    pub fn error(&mut self, name: &str, message: impl std::fmt::Display) {
        self.errors.push(format!("{name}: {message}"));
    }

    /// The one value of `name`, if given (an error if given more than once or empty).
    pub fn one(&mut self, name: &str) -> Option<String> {
        let values = self.values.remove(name)?;
        match <[String; 1]>::try_from(values) {
            Ok([v]) if v.is_empty() => {
                self.error(name, "empty value");
                None
            }
            Ok([v]) => Some(v),
            Err(values) => {
                self.error(
                    name,
                    format!("given {} times; give it at most once", values.len()),
                );
                None
            }
        }
    }

    /// Every value of `name`, each split at commas when `commas` (empty items are errors).
    pub fn many(&mut self, name: &str, commas: bool) -> Vec<String> {
        let mut out = Vec::new();
        for v in self.values.remove(name).unwrap_or_default() {
            let parts: Vec<&str> = if commas {
                v.split(',').collect()
            } else {
                vec![v.as_str()]
            };
            for part in parts {
                if part.is_empty() {
                    self.error(name, "empty value");
                } else {
                    out.push(part.to_string());
                }
            }
        }
        out
    }

    /// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
    pub fn limit(&mut self) -> usize {
        let Some(v) = self.one("limit") else {
            return DEFAULT_LIMIT as usize;
        };
        match v.parse::<u32>() {
            Ok(n @ 1..=MAX_LIMIT) => n as usize,
            _ => {
                self.error(
                    "limit",
                    format!(
                        "{:?} is not a whole number from 1 to {MAX_LIMIT}",
                        short(&v)
                    ),
                );
                DEFAULT_LIMIT as usize
            }
        }
    }

    /// An RFC 3339 time, as ms since the epoch.
    pub fn time(&mut self, name: &str) -> Option<i64> {
        let v = self.one(name)?;
        match v.parse::<jiff::Timestamp>() {
            Ok(t) => Some(t.as_millisecond()),
            Err(e) => {
                self.error(
                    name,
                    format!(
                        "{:?} is not an RFC 3339 time such as 2026-12-20T21:10:00Z: {e}",
                        short(&v)
                    ),
                );
                None
            }
        }
    }

    /// `bbox=minLon,minLat,maxLon,maxLat` (RFC 7946 order), in degrees.
    pub fn bbox(&mut self) -> Option<BBox> {
        let v = self.one("bbox")?;
        match parse_bbox(&v) {
            Ok(b) => Some(b),
            Err(why) => {
                self.error("bbox", why);
                None
            }
        }
    }

    /// `from` and `to` (RFC 3339, ms since the epoch); `to` before `from` is an error.
    pub fn window(&mut self) -> (Option<i64>, Option<i64>) {
        let (from, to) = (self.time("from"), self.time("to"));
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            self.error("to", "is before from");
        }
        (from, to)
    }

    /// `type`: event types or families (a family stands for all its types), comma-separated or
    /// repeated; sorted, without duplicates.
    pub fn event_types(&mut self) -> Vec<EventType> {
        let mut types = Vec::new();
        for name in self.many("type", true) {
            if let Ok(t) = name.parse::<EventType>() {
                types.push(t);
            } else if let Ok(f) = name.parse::<Family>() {
                types.extend(EventType::ALL.iter().filter(|t| t.family() == f));
            } else {
                self.error(
                    "type",
                    format!(
                        "{:?} is neither an event type ({}) nor a family ({})",
                        short(&name),
                        EventType::NAMES.join(", "),
                        Family::NAMES.join(", ")
                    ),
                );
            }
        }
        types.sort_unstable();
        types.dedup();
        types
    }

    /// `cursor`: the `next` value of the previous page (a log index).
    pub fn cursor(&mut self) -> Option<u64> {
        let c = self.one("cursor")?;
        match c.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(
                    "cursor",
                    "not a cursor of this endpoint (use the `next` value of the previous page)",
                );
                None
            }
        }
    }

    /// Finishes parsing: every problem, joined, if there were any.
    pub fn finish(self) -> Result<(), String> {
        if self.errors.is_empty() {
            return Ok(());
        }
        Err(self.errors.join("; "))
    }
}

/// The first 64 characters of `v`, for messages that quote a client's value.
pub(crate) fn short(v: &str) -> String {
    v.chars().take(64).collect()
}

/// Parses `minLon,minLat,maxLon,maxLat`.
pub fn parse_bbox(v: &str) -> Result<BBox, String> {
    let parts: Vec<&str> = v.split(',').collect();
    let [w, s, e, n] = parts[..] else {
        return Err(format!(
            "expected four numbers minLon,minLat,maxLon,maxLat, found {} values",
            parts.len()
        ));
    };
    let num = |name: &str, text: &str, bound: f64| -> Result<f64, String> {
        match text.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && (-bound..=bound).contains(&x) => Ok(x),
            Ok(_) => Err(format!(
                "{name} {:?} is out of range: -{bound} to {bound}",
                short(text)
            )),
            Err(_) => Err(format!("{name} {:?} is not a number", short(text))),
        }
    };
    let b = BBox {
        min_lon: num("minLon", w, 180.0)?,
        min_lat: num("minLat", s, 90.0)?,
        max_lon: num("maxLon", e, 180.0)?,
        max_lat: num("maxLat", n, 90.0)?,
    };
    if b.min_lat > b.max_lat {
        return Err(format!(
            "minLat {} is north of maxLat {}",
            b.min_lat, b.max_lat
        ));
    }
    if b.min_lon > b.max_lon {
        return Err(format!(
            "minLon {} is east of maxLon {} (boxes across the antimeridian are not supported; \
             query each side)",
            b.min_lon, b.max_lon
        ));
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(p: Params) -> String {
        p.finish().unwrap_err()
    }

    #[test]
    fn unknown_repeated_and_empty_parameters_are_named() {
        let mut p = Params::parse(Some("bbbox=1&limit=5&limit=6&to="), &["limit", "to"], "x");
        assert_eq!(p.limit(), DEFAULT_LIMIT as usize);
        assert_eq!(p.time("to"), None);
        let d = detail(p);
        assert!(d.contains("\"bbbox\" is not a parameter of x"), "{d}");
        assert!(d.contains("limit: given 2 times"), "{d}");
        assert!(d.contains("to: empty value"), "{d}");
    }

    #[test]
    fn limits_times_and_boxes() {
        for (q, want) in [
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=x", "limit"),
        ] {
            let mut p = Params::parse(Some(q), &["limit"], "x");
            p.limit();
            assert!(detail(p).starts_with(want), "{q}");
        }
        let mut p = Params::parse(
            Some("limit=1000&from=2026-12-20T21:10:00Z"),
            &["limit", "from"],
            "x",
        );
        assert_eq!(p.limit(), 1000);
        assert_eq!(p.time("from"), Some(1_797_801_000_000));
        assert!(p.finish().is_ok());
        let mut p = Params::parse(Some("from=2026-12-20"), &["from"], "x");
        assert_eq!(p.time("from"), None);
        assert!(detail(p).contains("RFC 3339"));

        assert_eq!(
            parse_bbox("37.5,47.0,39.5,49.0"),
            Ok(BBox {
                min_lon: 37.5,
                min_lat: 47.0,
                max_lon: 39.5,
                max_lat: 49.0
            })
        );
        for (v, want) in [
            ("1,2,3", "four numbers"),
            ("a,2,3,4", "minLon \"a\" is not a number"),
            ("1,-91,3,4", "minLat \"-91\" is out of range"),
            ("1,2,181,4", "maxLon \"181\" is out of range"),
            ("1,2,3,NaN", "maxLat \"NaN\" is out of range"),
            ("1,5,3,4", "minLat 5 is north of maxLat 4"),
            ("170,1,-170,2", "antimeridian"),
        ] {
            let e = parse_bbox(v).unwrap_err();
            assert!(e.contains(want), "{v}: {e}");
        }
    }

    proptest::proptest! {
        /// Any query string: no panic, and every getter answers.
        #[test]
        fn never_panics(query in ".{0,200}", names in proptest::collection::vec("[a-z]{1,6}", 0..4)) {
            let allowed: Vec<&str> = names.iter().map(String::as_str).chain(["limit", "from", "bbox"]).collect();
            let mut p = Params::parse(Some(&query), &allowed, "x");
            p.limit();
            p.time("from");
            p.bbox();
            for n in &names {
                p.many(n, true);
            }
            let _ = p.finish();
            let _ = parse_bbox(&query);
        }
    }
}
