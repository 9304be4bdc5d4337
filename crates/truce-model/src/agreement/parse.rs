//! The validating walk over the spanned TOML tree.
//!
//! Why not `serde::Deserialize`? Serde stops at the first error and loses positions; a delegation
//! revising an agreement needs *every* problem with its line. So the document is parsed with
//! `toml`'s spanned tree ([`DeTable`]) and walked by hand in three phases:
//!
//! 1. **Shape**: each table is checked for unknown keys, each field for presence, type and value
//!    (ids, enums, numbers, timestamps, vkeys), and geometry files are loaded. The result is a
//!    *raw* document whose fields are `Option`s: `None` means "absent", or "invalid and already
//!    reported".
//! 2. **Cross-references** ([`cross_check`]): duplicate ids, dangling references, the escalation
//!    ladder, due dates and the consent rule — each only on the parts that survived phase 1, so one
//!    mistake is not reported five times.
//! 3. **Build**: if nothing was reported, the raw document is complete and is turned into the
//!    typed [`Agreement`] without any `unwrap`.
//!
//! Both TOML spellings of a table (`[[zones]]` blocks, or arrays of inline tables) produce the same
//! tree, so they are handled alike.

mod cross_check;

use jiff::Timestamp;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::document::{
    Agreement, Attribution, AttributionLevel, Due, EntryIntoForce, EscalationLevel, Milestone,
    OnMissed, Party, PartyRole, Rule, Severity, Threshold, Verification, WeaponFilter, Zone,
    ZoneKind,
};
use super::problem::{Problem, Sink};
use super::{Resolver, check_path, geometry};
use crate::keys::VerifierKey;
use crate::taxonomy::{EventType, Target, UnknownValue, WeaponClass};

type Value<'i> = Spanned<DeValue<'i>>;
/// Array elements with their line and field path.
type Elements<'a, 'i> = Vec<(&'a Value<'i>, usize, String)>;

const ROOT_KEYS: &[&str] = &[
    "id",
    "title",
    "parties",
    "entry_into_force",
    "zones",
    "rules",
    "verification",
    "attribution",
    "milestones",
    "escalation",
];
const PARTY_KEYS: &[&str] = &["id", "name", "role", "key"];
const EIF_KEYS: &[&str] = &["at", "consent"];
const ZONE_KEYS: &[&str] = &["id", "geometry", "buffer", "controlled_by"];
const BUFFER_KEYS: &[&str] = &["of", "km"];
const RULE_KEYS: &[&str] = &[
    "id", "clause", "severity", "zone", "events", "weapon", "targets",
];
const WEAPON_KEYS: &[&str] = &["classes", "min_calibre_mm", "max_calibre_mm"];
const VERIFICATION_KEYS: &[&str] = &["cluster_km", "cluster_minutes", "independent_sources"];
const ATTRIBUTION_KEYS: &[&str] = &["trace_km"];
const MILESTONE_KEYS: &[&str] = &[
    "id",
    "clause",
    "obligation",
    "responsible",
    "due",
    "on_missed",
];
const ON_MISSED_KEYS: &[&str] = &["escalate"];
const ESCALATION_KEYS: &[&str] = &["level", "name", "notify", "threshold"];
const THRESHOLD_KEYS: &[&str] = &["violations", "window_days", "min_severity", "attribution"];

/// Recipients of escalation notices that are not party ids.
const NOTIFY_GROUPS: &[&str] = &["parties", "guarantors"];

/// The longest id.
const MAX_ID_LEN: usize = 64;

// ---------------------------------------------------------------------------------------------
// Entry points

pub(crate) fn check(
    file: &str,
    text: &str,
    resolver: &dyn Resolver,
) -> Result<Agreement, Vec<Problem>> {
    let mut cx = Cx {
        sink: Sink::new(file, text),
    };
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            cx.syntax(&e);
            return Err(cx.sink.finish());
        }
    };
    let root = Table {
        t: root.get_ref(),
        path: String::new(),
        line: 1,
    };
    cx.unknown_keys(&root, ROOT_KEYS);
    let raw = cx.document(&root, resolver);
    cx.cross_check(&raw);
    if !cx.sink.problems.is_empty() {
        return Err(cx.sink.finish());
    }
    match build(raw) {
        Some(agreement) => Ok(agreement),
        None => {
            // Unreachable when phase 1 reports every absent required field; kept so that a gap in
            // the validator surfaces as a problem instead of a panic.
            cx.sink.push(1, "", "internal error: incomplete document");
            Err(cx.sink.finish())
        }
    }
}

pub(crate) fn referenced_files(text: &str) -> Result<Vec<String>, Vec<Problem>> {
    let mut cx = Cx {
        sink: Sink::new("", text),
    };
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            cx.syntax(&e);
            return Err(cx.sink.finish());
        }
    };
    let mut files = Vec::new();
    if let Some(zones) = lookup(root.get_ref(), "zones").and_then(|(v, _)| v.get_ref().as_array()) {
        for (i, zone) in zones.iter().enumerate() {
            let Some((v, key_line)) = zone
                .get_ref()
                .as_table()
                .and_then(|t| lookup(t, "geometry"))
            else {
                continue;
            };
            let line = cx.sink.lines.line(key_line);
            let field = format!("zones[{i}].geometry");
            match v.get_ref().as_str() {
                Some(path) => match check_path(path) {
                    Ok(()) => {
                        if !files.iter().any(|f| f == path) {
                            files.push(path.to_owned());
                        }
                    }
                    Err(e) => cx.sink.push(line, field, format!("`{path}`: {e}")),
                },
                None => cx.sink.push(
                    line,
                    field,
                    format!("expected a string, found {}", v.get_ref().type_str()),
                ),
            }
        }
    }
    if cx.sink.problems.is_empty() {
        Ok(files)
    } else {
        Err(cx.sink.finish())
    }
}

/// The value of `key` in `t` and the byte offset of the key.
fn lookup<'a, 'i>(t: &'a DeTable<'i>, key: &str) -> Option<(&'a Value<'i>, usize)> {
    t.iter()
        .find(|(k, _)| k.get_ref() == key)
        .map(|(k, v)| (v, k.span().start))
}

// ---------------------------------------------------------------------------------------------
// The raw document

/// A value together with where it was written.
#[derive(Debug, Clone)]
struct At<T> {
    v: T,
    line: usize,
    field: String,
}

#[derive(Debug, Default)]
struct Raw {
    id: Option<At<String>>,
    title: Option<At<String>>,
    /// Line of the `parties` key, and the number of entries (valid or not).
    parties_at: Option<(usize, usize)>,
    parties: Vec<RawParty>,
    eif: Option<RawEif>,
    zones: Vec<RawZone>,
    rules: Vec<RawRule>,
    verification: Option<RawVerification>,
    attribution: Option<Option<At<f64>>>,
    milestones: Vec<RawMilestone>,
    escalation: Vec<RawLevel>,
}

#[derive(Debug)]
struct RawParty {
    id: Option<At<String>>,
    name: Option<At<String>>,
    role: Option<At<PartyRole>>,
    key: Option<At<VerifierKey>>,
}

#[derive(Debug)]
struct RawEif {
    at: Option<At<Timestamp>>,
    consent: Option<At<Vec<At<String>>>>,
}

#[derive(Debug)]
struct RawZone {
    line: usize,
    field: String,
    /// Whether the keys `geometry` / `buffer` are present (even if invalid).
    has_geometry: bool,
    has_buffer: bool,
    id: Option<At<String>>,
    /// The path as written, and the geometry if it loaded.
    geometry: Option<(At<String>, Option<geo::Geometry<f64>>)>,
    buffer: Option<RawBuffer>,
    controlled_by: Option<At<String>>,
}

#[derive(Debug)]
struct RawBuffer {
    of: Option<At<String>>,
    km: Option<At<f64>>,
}

#[derive(Debug)]
struct RawRule {
    id: Option<At<String>>,
    clause: Option<At<String>>,
    severity: Option<At<Severity>>,
    zone: Option<At<String>>,
    events: Option<Vec<At<EventType>>>,
    weapon: Option<WeaponFilter>,
    targets: Option<Vec<At<Target>>>,
}

#[derive(Debug)]
struct RawVerification {
    cluster_km: Option<At<f64>>,
    cluster_minutes: Option<At<u32>>,
    independent_sources: Option<At<u32>>,
}

#[derive(Debug)]
struct RawMilestone {
    id: Option<At<String>>,
    clause: Option<At<String>>,
    obligation: Option<At<String>>,
    responsible: Option<At<Vec<At<String>>>>,
    due: Option<At<Due>>,
    on_missed: Option<Option<At<u32>>>,
}

#[derive(Debug)]
struct RawLevel {
    level: Option<At<u32>>,
    name: Option<At<String>>,
    notify: Option<At<Vec<At<String>>>>,
    threshold: Option<RawThreshold>,
}

#[derive(Debug)]
struct RawThreshold {
    violations: Option<At<u32>>,
    window_days: Option<At<u32>>,
    min_severity: Option<At<Severity>>,
    attribution: Option<At<AttributionLevel>>,
}

// ---------------------------------------------------------------------------------------------
// Phase 1: shape

/// A TOML table with its field path and the line where it starts.
struct Table<'a, 'i> {
    t: &'a DeTable<'i>,
    path: String,
    line: usize,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Whether a required field must be present.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Required,
    Optional,
}
use Need::{Optional, Required};

struct Cx {
    sink: Sink,
}

impl Cx {
    fn push(&mut self, line: usize, field: impl Into<String>, message: impl Into<String>) {
        self.sink.push(line, field, message);
    }

    fn syntax(&mut self, e: &toml::de::Error) {
        let line = self.sink.lines.line(e.span().map_or(0, |s| s.start));
        let message = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        self.push(line, "", format!("TOML syntax error: {message}"));
    }

    fn line_of(&self, v: &Value<'_>) -> usize {
        self.sink.lines.line(v.span().start)
    }

    fn unknown_keys(&mut self, t: &Table<'_, '_>, allowed: &[&str]) {
        for (k, _) in t.t.iter() {
            let key: &str = k.get_ref();
            if !allowed.contains(&key) {
                let line = self.sink.lines.line(k.span().start);
                self.push(
                    line,
                    join(&t.path, key),
                    format!(
                        "unknown key `{}` (allowed here: {})",
                        key.escape_debug(),
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    /// `v` as a table with only `allowed` keys.
    fn as_table<'a, 'i>(
        &mut self,
        v: &'a Value<'i>,
        path: String,
        allowed: &[&str],
    ) -> Option<Table<'a, 'i>> {
        let line = self.line_of(v);
        match v.get_ref() {
            DeValue::Table(t) => {
                let table = Table { t, path, line };
                self.unknown_keys(&table, allowed);
                Some(table)
            }
            other => {
                self.push(
                    line,
                    path,
                    format!("expected a table, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// The value of `key`, its key's line and its field path; reports it missing if required.
    fn get<'a, 'i>(
        &mut self,
        t: &Table<'a, 'i>,
        key: &str,
        need: Need,
    ) -> Option<(&'a Value<'i>, usize, String)> {
        let field = join(&t.path, key);
        match lookup(t.t, key) {
            Some((v, offset)) => Some((v, self.sink.lines.line(offset), field)),
            None => {
                if need == Required {
                    self.push(t.line, field, "missing required field");
                }
                None
            }
        }
    }

    fn subtable<'a, 'i>(
        &mut self,
        t: &Table<'a, 'i>,
        key: &str,
        allowed: &[&str],
        need: Need,
    ) -> Option<Table<'a, 'i>> {
        let (v, line, field) = self.get(t, key, need)?;
        let mut table = self.as_table(v, field, allowed)?;
        // Missing fields are reported at the key (`buffer = {...}`, `[verification]`).
        table.line = line;
        Some(table)
    }

    /// The tables of an array of tables (`[[key]]` blocks or `key = [{...}, ...]`), with the line
    /// of the key and the number of elements (`None` if absent or not an array).
    fn tables<'a, 'i>(
        &mut self,
        t: &Table<'a, 'i>,
        key: &str,
        allowed: &[&str],
        need: Need,
    ) -> (Vec<Table<'a, 'i>>, Option<(usize, usize)>) {
        let Some((v, line, field)) = self.get(t, key, need) else {
            return (Vec::new(), None);
        };
        let Some(items) = v.get_ref().as_array() else {
            self.push(
                line,
                field,
                format!(
                    "expected an array of tables ([[{key}]] blocks or [{{...}}, ...]), found {}",
                    v.get_ref().type_str()
                ),
            );
            return (Vec::new(), None);
        };
        let tables = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.as_table(item, format!("{field}[{i}]"), allowed))
            .collect();
        (tables, Some((line, items.len())))
    }

    fn string_value(&mut self, v: &Value<'_>, line: usize, field: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) if s.trim().is_empty() => {
                self.push(line, field, "must not be empty");
                None
            }
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.push(
                    line,
                    field,
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn string(&mut self, t: &Table<'_, '_>, key: &str, need: Need) -> Option<At<String>> {
        let (v, line, field) = self.get(t, key, need)?;
        let s = self.string_value(v, line, &field)?;
        Some(At { v: s, line, field })
    }

    fn id(&mut self, t: &Table<'_, '_>, key: &str) -> Option<At<String>> {
        let at = self.string(t, key, Required)?;
        let ok = at.v.len() <= MAX_ID_LEN
            && at
                .v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Some(at)
        } else {
            self.push(
                at.line,
                &at.field,
                format!(
                    "invalid id `{}`: use 1 to {MAX_ID_LEN} characters from A-Z a-z 0-9 . _ -",
                    at.v.escape_debug()
                ),
            );
            None
        }
    }

    fn enum_value<T>(&mut self, v: &Value<'_>, line: usize, field: &str) -> Option<T>
    where
        T: std::str::FromStr<Err = UnknownValue>,
    {
        let s = self.string_value(v, line, field)?;
        match s.parse() {
            Ok(x) => Some(x),
            Err(e) => {
                self.push(line, field, e.to_string());
                None
            }
        }
    }

    fn enumeration<T>(&mut self, t: &Table<'_, '_>, key: &str, need: Need) -> Option<At<T>>
    where
        T: std::str::FromStr<Err = UnknownValue>,
    {
        let (v, line, field) = self.get(t, key, need)?;
        let x = self.enum_value(v, line, &field)?;
        Some(At { v: x, line, field })
    }

    /// An array; `nonempty` reports an empty one. Each element comes with its line and its
    /// field path (`key[i]`).
    fn array<'a, 'i>(
        &mut self,
        t: &Table<'a, 'i>,
        key: &str,
        need: Need,
        nonempty: Option<&str>,
    ) -> Option<At<Elements<'a, 'i>>> {
        let (v, line, field) = self.get(t, key, need)?;
        let Some(items) = v.get_ref().as_array() else {
            self.push(
                line,
                &field,
                format!("expected an array, found {}", v.get_ref().type_str()),
            );
            return None;
        };
        if items.is_empty()
            && let Some(what) = nonempty
        {
            self.push(line, &field, format!("must list at least one {what}"));
        }
        let elements = items
            .iter()
            .enumerate()
            .map(|(i, item)| (item, self.line_of(item), format!("{field}[{i}]")))
            .collect();
        Some(At {
            v: elements,
            line,
            field,
        })
    }

    fn string_list(
        &mut self,
        t: &Table<'_, '_>,
        key: &str,
        need: Need,
        nonempty: Option<&str>,
    ) -> Option<At<Vec<At<String>>>> {
        let list = self.array(t, key, need, nonempty)?;
        let v = list
            .v
            .into_iter()
            .filter_map(|(item, line, field)| {
                let s = self.string_value(item, line, &field)?;
                Some(At { v: s, line, field })
            })
            .collect();
        Some(At {
            v,
            line: list.line,
            field: list.field,
        })
    }

    fn enum_list<T>(
        &mut self,
        t: &Table<'_, '_>,
        key: &str,
        need: Need,
        nonempty: Option<&str>,
    ) -> Option<Vec<At<T>>>
    where
        T: std::str::FromStr<Err = UnknownValue> + PartialEq + std::fmt::Display,
    {
        let list = self.array(t, key, need, nonempty)?;
        let mut out: Vec<At<T>> = Vec::new();
        for (item, line, field) in list.v {
            let Some(x) = self.enum_value::<T>(item, line, &field) else {
                continue;
            };
            if out.iter().any(|o| o.v == x) {
                self.push(line, &field, format!("`{x}` is listed twice"));
                continue;
            }
            out.push(At { v: x, line, field });
        }
        Some(out)
    }

    fn number(&mut self, v: &Value<'_>, line: usize, field: &str) -> Option<Number> {
        match v.get_ref() {
            DeValue::Integer(i) => {
                let digits = i.as_str().replace('_', "");
                match i64::from_str_radix(&digits, i.radix()) {
                    Ok(n) => Some(Number::Int(n)),
                    Err(_) => {
                        self.push(line, field, "the integer is out of range");
                        None
                    }
                }
            }
            DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>() {
                Ok(x) => Some(Number::Float(x)),
                Err(_) => {
                    self.push(line, field, "invalid number");
                    None
                }
            },
            other => {
                self.push(
                    line,
                    field,
                    format!("expected a number, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// A finite number > 0 (integers accepted).
    fn positive(&mut self, t: &Table<'_, '_>, key: &str, need: Need) -> Option<At<f64>> {
        let (v, line, field) = self.get(t, key, need)?;
        let x = match self.number(v, line, &field)? {
            Number::Int(n) => n as f64,
            Number::Float(x) => x,
        };
        if !x.is_finite() {
            self.push(line, &field, "must be a finite number");
            return None;
        }
        if x <= 0.0 {
            self.push(line, &field, format!("must be greater than 0, found {x}"));
            return None;
        }
        Some(At { v: x, line, field })
    }

    /// An integer in 1..=u32::MAX.
    fn count(&mut self, t: &Table<'_, '_>, key: &str, need: Need) -> Option<At<u32>> {
        let (v, line, field) = self.get(t, key, need)?;
        match self.number(v, line, &field)? {
            Number::Float(_) => {
                self.push(line, &field, "expected an integer, found float");
                None
            }
            Number::Int(n) if n <= 0 => {
                self.push(line, &field, format!("must be greater than 0, found {n}"));
                None
            }
            Number::Int(n) => match u32::try_from(n) {
                Ok(n) => Some(At { v: n, line, field }),
                Err(_) => {
                    self.push(line, &field, format!("must be at most {}", u32::MAX));
                    None
                }
            },
        }
    }

    /// An RFC 3339 timestamp with offset, as a string or a TOML offset date-time.
    fn timestamp_value(&mut self, v: &Value<'_>, line: usize, field: &str) -> Option<Timestamp> {
        let result = match v.get_ref() {
            DeValue::String(s) => parse_rfc3339(s),
            DeValue::Datetime(dt) if dt.date.is_some() && dt.time.is_some() => {
                if dt.offset.is_some() {
                    parse_rfc3339(&dt.to_string())
                } else {
                    Err(format!(
                        "`{dt}` has no UTC offset; write e.g. `{dt}Z` or `{dt}+02:00`"
                    ))
                }
            }
            DeValue::Datetime(dt) => Err(format!(
                "`{dt}` is not a date and time; write e.g. `2026-12-15T00:00:00+02:00`"
            )),
            other => Err(format!(
                "expected an RFC 3339 timestamp, found {}",
                other.type_str()
            )),
        };
        match result {
            Ok(t) => Some(t),
            Err(e) => {
                self.push(line, field, e);
                None
            }
        }
    }

    fn vkey(&mut self, t: &Table<'_, '_>, key: &str) -> Option<At<VerifierKey>> {
        let at = self.string(t, key, Required)?;
        match VerifierKey::parse(&at.v) {
            Ok(k) => Some(At {
                v: k,
                line: at.line,
                field: at.field,
            }),
            Err(e) => {
                self.push(at.line, &at.field, format!("invalid vkey: {e}"));
                None
            }
        }
    }

    // -- the document's parts --

    fn document(&mut self, root: &Table<'_, '_>, resolver: &dyn Resolver) -> Raw {
        let id = self.id(root, "id");
        let title = self.string(root, "title", Required);

        let (tables, parties_at) = self.tables(root, "parties", PARTY_KEYS, Required);
        let parties = tables.iter().map(|t| self.party(t)).collect();

        let eif = self
            .subtable(root, "entry_into_force", EIF_KEYS, Required)
            .map(|t| RawEif {
                at: self.get(&t, "at", Required).and_then(|(v, line, field)| {
                    let ts = self.timestamp_value(v, line, &field)?;
                    Some(At { v: ts, line, field })
                }),
                consent: self.string_list(&t, "consent", Required, Some("party")),
            });

        let (tables, _) = self.tables(root, "zones", ZONE_KEYS, Optional);
        let zones = tables.iter().map(|t| self.zone(t, resolver)).collect();

        let (tables, _) = self.tables(root, "rules", RULE_KEYS, Optional);
        let rules = tables.iter().map(|t| self.rule(t)).collect();

        let verification = self
            .subtable(root, "verification", VERIFICATION_KEYS, Optional)
            .map(|t| RawVerification {
                cluster_km: self.positive(&t, "cluster_km", Optional),
                cluster_minutes: self.count(&t, "cluster_minutes", Optional),
                independent_sources: self.count(&t, "independent_sources", Optional),
            });

        let attribution = self
            .subtable(root, "attribution", ATTRIBUTION_KEYS, Optional)
            .map(|t| self.positive(&t, "trace_km", Optional));

        let (tables, _) = self.tables(root, "milestones", MILESTONE_KEYS, Optional);
        let milestones = tables.iter().map(|t| self.milestone(t)).collect();

        let (tables, _) = self.tables(root, "escalation", ESCALATION_KEYS, Optional);
        let escalation = tables.iter().map(|t| self.level(t)).collect();

        Raw {
            id,
            title,
            parties_at,
            parties,
            eif,
            zones,
            rules,
            verification,
            attribution,
            milestones,
            escalation,
        }
    }

    fn party(&mut self, t: &Table<'_, '_>) -> RawParty {
        RawParty {
            id: self.id(t, "id"),
            name: self.string(t, "name", Required),
            role: self.enumeration(t, "role", Required),
            key: self.vkey(t, "key"),
        }
    }

    fn zone(&mut self, t: &Table<'_, '_>, resolver: &dyn Resolver) -> RawZone {
        let id = self.id(t, "id");
        let geometry = self.string(t, "geometry", Optional).map(|path| {
            let geometry = self.load_geometry(&path, resolver);
            (path, geometry)
        });
        let buffer = self
            .subtable(t, "buffer", BUFFER_KEYS, Optional)
            .map(|b| RawBuffer {
                of: self.string(&b, "of", Required),
                km: self.positive(&b, "km", Required),
            });
        let controlled_by = self.string(t, "controlled_by", Optional);
        RawZone {
            line: t.line,
            field: t.path.clone(),
            has_geometry: lookup(t.t, "geometry").is_some(),
            has_buffer: lookup(t.t, "buffer").is_some(),
            id,
            geometry,
            buffer,
            controlled_by,
        }
    }

    fn load_geometry(
        &mut self,
        path: &At<String>,
        resolver: &dyn Resolver,
    ) -> Option<geo::Geometry<f64>> {
        let name = &path.v;
        if let Err(e) = check_path(name) {
            self.push(path.line, &path.field, format!("`{name}`: {e}"));
            return None;
        }
        let bytes = match resolver.read(name) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.push(path.line, &path.field, format!("{name}: cannot read: {e}"));
                return None;
            }
        };
        match geometry::load(&bytes) {
            Ok(g) => Some(g),
            Err(issues) => {
                for issue in issues {
                    self.push(path.line, &path.field, format!("{name}: {issue}"));
                }
                None
            }
        }
    }

    fn rule(&mut self, t: &Table<'_, '_>) -> RawRule {
        RawRule {
            id: self.id(t, "id"),
            clause: self.string(t, "clause", Required),
            severity: self.enumeration(t, "severity", Required),
            zone: self.string(t, "zone", Required),
            events: self.enum_list(t, "events", Required, Some("event type")),
            weapon: self
                .subtable(t, "weapon", WEAPON_KEYS, Optional)
                .and_then(|w| self.weapon(&w)),
            targets: self.enum_list(t, "targets", Optional, Some("target")),
        }
    }

    fn weapon(&mut self, t: &Table<'_, '_>) -> Option<WeaponFilter> {
        let classes = self.enum_list::<WeaponClass>(t, "classes", Optional, Some("weapon class"));
        let min = self.positive(t, "min_calibre_mm", Optional);
        let max = self.positive(t, "max_calibre_mm", Optional);
        if let (Some(min), Some(max)) = (&min, &max)
            && max.v < min.v
        {
            self.push(
                max.line,
                &max.field,
                format!(
                    "max_calibre_mm ({}) is less than min_calibre_mm ({})",
                    max.v, min.v
                ),
            );
        }
        let has_key = |k| lookup(t.t, k).is_some();
        if !has_key("classes") && !has_key("min_calibre_mm") && !has_key("max_calibre_mm") {
            self.push(
                t.line,
                &t.path,
                "the weapon filter is empty: give `classes` and/or a calibre range",
            );
        }
        Some(WeaponFilter {
            classes: classes
                .unwrap_or_default()
                .into_iter()
                .map(|c| c.v)
                .collect(),
            min_calibre_mm: min.map(|m| m.v),
            max_calibre_mm: max.map(|m| m.v),
        })
    }

    fn milestone(&mut self, t: &Table<'_, '_>) -> RawMilestone {
        RawMilestone {
            id: self.id(t, "id"),
            clause: self.string(t, "clause", Required),
            obligation: self.string(t, "obligation", Required),
            responsible: self.string_list(t, "responsible", Required, Some("party")),
            due: self.get(t, "due", Required).and_then(|(v, line, field)| {
                let due = self.due(v, line, &field)?;
                Some(At {
                    v: due,
                    line,
                    field,
                })
            }),
            on_missed: self
                .subtable(t, "on_missed", ON_MISSED_KEYS, Optional)
                .map(|o| self.count(&o, "escalate", Required)),
        }
    }

    fn due(&mut self, v: &Value<'_>, line: usize, field: &str) -> Option<Due> {
        if let Some(s) = v.get_ref().as_str()
            && let Some(days) = s.strip_prefix("D+")
        {
            if days.is_empty() || !days.bytes().all(|b| b.is_ascii_digit()) {
                self.push(
                    line,
                    field,
                    format!("`{}`: write `D+<days>`, e.g. `D+14`", s.escape_debug()),
                );
                return None;
            }
            return match days.parse::<u32>() {
                Ok(d) => Some(Due::DaysAfterEntry(d)),
                Err(_) => {
                    self.push(line, field, format!("`{s}`: too many days"));
                    None
                }
            };
        }
        if v.get_ref().is_str() || v.get_ref().is_datetime() {
            self.timestamp_value(v, line, field).map(Due::At)
        } else {
            self.push(
                line,
                field,
                format!(
                    "expected an RFC 3339 timestamp or `D+<days>`, found {}",
                    v.get_ref().type_str()
                ),
            );
            None
        }
    }

    fn level(&mut self, t: &Table<'_, '_>) -> RawLevel {
        RawLevel {
            level: self.count(t, "level", Required),
            name: self.string(t, "name", Required),
            notify: self.string_list(t, "notify", Required, Some("recipient")),
            threshold: self
                .subtable(t, "threshold", THRESHOLD_KEYS, Required)
                .map(|th| RawThreshold {
                    violations: self.count(&th, "violations", Required),
                    window_days: self.count(&th, "window_days", Required),
                    min_severity: self.enumeration(&th, "min_severity", Required),
                    attribution: self.enumeration(&th, "attribution", Required),
                }),
        }
    }
}

enum Number {
    Int(i64),
    Float(f64),
}

/// Parses an RFC 3339 date-time with offset (`2026-12-15T00:00:00+02:00`, `...Z`), refusing the
/// looser forms `jiff` would otherwise accept (no seconds, bracketed time-zone annotations, ...).
pub(crate) fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
    if !rfc3339_shape(s) {
        return Err(format!(
            "`{}` is not an RFC 3339 timestamp with offset (e.g. 2026-12-15T00:00:00+02:00)",
            s.escape_debug()
        ));
    }
    s.parse::<Timestamp>()
        .map_err(|e| format!("`{s}` is not a valid timestamp: {e}"))
}

fn rfc3339_shape(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |from: usize, to: usize| {
        b.get(from..to)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let is = |i: usize, c: u8| b.get(i) == Some(&c);
    let head = digits(0, 4)
        && is(4, b'-')
        && digits(5, 7)
        && is(7, b'-')
        && digits(8, 10)
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && digits(11, 13)
        && is(13, b':')
        && digits(14, 16)
        && is(16, b':')
        && digits(17, 19);
    if !head {
        return false;
    }
    let mut i = 19;
    if is(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i..) {
        Some([b'Z' | b'z']) => true,
        Some([b'+' | b'-', h1, h2, b':', m1, m2]) => {
            [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit())
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Phase 3: build

fn build(raw: Raw) -> Option<Agreement> {
    let eif = raw.eif?;
    let verification = match raw.verification {
        None => Verification::default(),
        Some(v) => {
            let d = Verification::default();
            Verification {
                cluster_km: v.cluster_km.map_or(d.cluster_km, |x| x.v),
                cluster_minutes: v.cluster_minutes.map_or(d.cluster_minutes, |x| x.v),
                independent_sources: v.independent_sources.map_or(d.independent_sources, |x| x.v),
            }
        }
    };
    let attribution = Attribution {
        trace_km: raw
            .attribution
            .flatten()
            .map_or(Attribution::default().trace_km, |x| x.v),
    };
    let parties = raw
        .parties
        .into_iter()
        .map(|p| {
            Some(Party {
                id: p.id?.v,
                name: p.name?.v,
                role: p.role?.v,
                key: p.key?.v,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let zones = raw
        .zones
        .into_iter()
        .map(|z| {
            let kind = match (z.geometry, z.buffer) {
                (Some((path, geometry)), None) => ZoneKind::Geometry {
                    path: path.v,
                    geometry: geometry?,
                },
                (None, Some(b)) => ZoneKind::Buffer {
                    of: b.of?.v,
                    km: b.km?.v,
                },
                _ => return None,
            };
            Some(Zone {
                id: z.id?.v,
                kind,
                controlled_by: z.controlled_by.map(|c| c.v),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let rules = raw
        .rules
        .into_iter()
        .map(|r| {
            Some(Rule {
                id: r.id?.v,
                clause: r.clause?.v,
                severity: r.severity?.v,
                zone: r.zone?.v,
                events: r.events?.into_iter().map(|e| e.v).collect(),
                weapon: r.weapon,
                targets: r
                    .targets
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| t.v)
                    .collect(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let milestones = raw
        .milestones
        .into_iter()
        .map(|m| {
            Some(Milestone {
                id: m.id?.v,
                clause: m.clause?.v,
                obligation: m.obligation?.v,
                responsible: strings(m.responsible?),
                due: m.due?.v,
                on_missed: match m.on_missed {
                    None => None,
                    Some(o) => Some(OnMissed { escalate: o?.v }),
                },
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let mut escalation = raw
        .escalation
        .into_iter()
        .map(|l| {
            let th = l.threshold?;
            Some(EscalationLevel {
                level: l.level?.v,
                name: l.name?.v,
                notify: strings(l.notify?),
                threshold: Threshold {
                    violations: th.violations?.v,
                    window_days: th.window_days?.v,
                    min_severity: th.min_severity?.v,
                    attribution: th.attribution?.v,
                },
            })
        })
        .collect::<Option<Vec<_>>>()?;
    escalation.sort_by_key(|l| l.level);
    Some(Agreement {
        id: raw.id?.v,
        title: raw.title?.v,
        parties,
        entry_into_force: EntryIntoForce {
            at: eif.at?.v,
            consent: strings(eif.consent?),
        },
        zones,
        rules,
        verification,
        attribution,
        milestones,
        escalation,
    })
}

fn strings(list: At<Vec<At<String>>>) -> Vec<String> {
    list.v.into_iter().map(|s| s.v).collect()
}
