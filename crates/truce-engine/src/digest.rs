//! The state digest: one SHA-256 that every implementation computing the same derived state from
//! the same log reaches, so that a party can compare `truce replay` with the live server's
//! `GET /v1/state` (DESIGN §2).
//!
//! # Serialisation (version 1)
//! The state is written as *lines*, each a JSON object in the canonical form of RFC 8785 (JCS):
//! keys sorted, no white space, strings escaped as JCS prescribes. Every number is an integer:
//! coordinates are in units of 10⁻⁷ degree (`lat_e7`, `lon_e7`, rounded half away from zero),
//! radii in millimetres (`radius_mm`, same rounding), times in milliseconds since the epoch
//! (`*_ms`), log positions as `index`. Absent values are `null`. A line is its JSON text followed
//! by one `\n`.
//!
//! Lines are grouped into sections; each section's digest is SHA-256 over its lines in the
//! order given:
//! - `keys`: one line per key ever accredited, by signer id (byte order);
//! - `agreements`: one line per agreement version, by agreement id then version, with its
//!   status at the state's log time;
//! - `observations`: one line per observation in log order, with its derived location and the
//!   id of the incident it belongs to;
//! - `incidents`: one line per incident, the lines sorted by their bytes. An incident line
//!   holds no log positions and no id (its members are listed by payload id, sorted), so the same
//!   observations give the same section digest in any arrival order; the ids, which by
//!   definition follow arrival order, are covered by the `observations` section.
//!
//! The state digest is SHA-256 over the text `truce-state-v1\nsize <n>\n` followed by one line
//! `<section> <lowercase hex digest>\n` per section in the order above.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha2::{Digest as _, Sha256};

use crate::State;
use crate::incidents::IncidentView;

/// A canonical JSON value: what the digest lines are made of.
#[derive(Debug, Clone)]
enum Canon {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Canon>),
    Object(BTreeMap<&'static str, Canon>),
}

impl Canon {
    fn write(&self, out: &mut String) {
        match self {
            Canon::Null => out.push_str("null"),
            Canon::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Canon::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Canon::Str(s) => out.push_str(&serde_json::to_string(s).expect("strings serialise")),
            Canon::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Canon::Object(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).expect("strings serialise"));
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn s(v: impl Into<String>) -> Canon {
    Canon::Str(v.into())
}

fn int(v: impl TryInto<i64>) -> Canon {
    Canon::Int(v.try_into().unwrap_or(i64::MAX))
}

fn opt(v: Option<impl TryInto<i64>>) -> Canon {
    v.map_or(Canon::Null, int)
}

/// `x` scaled by `scale` and rounded half away from zero.
fn fixed(x: f64, scale: f64) -> Canon {
    Canon::Int((x * scale).round() as i64)
}

fn object(fields: impl IntoIterator<Item = (&'static str, Canon)>) -> Canon {
    Canon::Object(fields.into_iter().collect())
}

/// Accumulates one section.
struct Section {
    hash: Sha256,
    line: String,
}

impl Section {
    fn new() -> Section {
        Section {
            hash: Sha256::new(),
            line: String::new(),
        }
    }

    fn add(&mut self, v: &Canon) {
        self.line.clear();
        v.write(&mut self.line);
        self.line.push('\n');
        self.hash.update(self.line.as_bytes());
    }

    fn finish(self) -> String {
        hex::encode(self.hash.finalize())
    }
}

/// The digest of a state, with its sections' digests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateDigest {
    /// Log size the state reflects.
    pub size: u64,
    /// Lowercase hex SHA-256 (module docs).
    pub digest: String,
    /// Each section's digest, in serialisation order.
    pub sections: Vec<(&'static str, String)>,
}

impl State {
    /// The state digest (see the module docs for the serialisation).
    pub fn digest(&self) -> StateDigest {
        let sections = vec![
            ("keys", self.keys_section()),
            ("agreements", self.agreements_section()),
            ("observations", self.observations_section()),
            ("incidents", self.incidents_section()),
        ];
        let mut text = format!("truce-state-v1\nsize {}\n", self.size());
        for (name, hex) in &sections {
            let _ = writeln!(text, "{name} {hex}");
        }
        StateDigest {
            size: self.size(),
            digest: hex::encode(Sha256::digest(text.as_bytes())),
            sections,
        }
    }

    fn keys_section(&self) -> String {
        let mut sec = Section::new();
        for k in self.keys() {
            sec.add(&object([
                ("signer", s(k.vkey.signer_id())),
                ("vkey", s(k.vkey.to_string())),
                (
                    "roles",
                    Canon::List(k.roles.iter().map(|r| s(r.as_str())).collect()),
                ),
                ("affiliation", s(k.affiliation.as_str())),
                ("reliability", s(format!("{:?}", k.reliability))),
                (
                    "valid_until_ms",
                    opt(k.valid_until.map(|t| t.as_millisecond())),
                ),
                ("accredited_at", opt(k.accredited_at)),
                ("revoked_at", opt(k.revoked_at)),
            ]));
        }
        sec.finish()
    }

    fn agreements_section(&self) -> String {
        let mut sec = Section::new();
        let now = self.last_time_ms();
        for a in self.agreements() {
            for v in &a.versions {
                let consents = v
                    .consents
                    .iter()
                    .map(|(party, c)| {
                        object([("party", s(party.as_str())), ("index", int(c.index))])
                    })
                    .collect();
                sec.add(&object([
                    ("agreement", s(a.id.as_str())),
                    ("version", int(v.version)),
                    ("sha256", s(v.sha256.as_str())),
                    ("entry", s(v.entry.as_str())),
                    ("index", int(v.index)),
                    ("consents", Canon::List(consents)),
                    ("status", s(a.status(v, now).as_str())),
                    ("in_force_from_ms", opt(v.in_force_from_ms())),
                ]));
            }
        }
        sec.finish()
    }

    fn observations_section(&self) -> String {
        let mut sec = Section::new();
        for (position, o) in self.observations().enumerate() {
            let root = self.incidents.root_of(position as u32);
            let incident = self
                .observations
                .at(root)
                .map_or(Canon::Null, |r| s(&*r.id));
            sec.add(&object([
                ("id", s(&*o.id)),
                ("index", int(o.index)),
                ("signer", s(&*o.signer)),
                ("affiliation", s(&*o.affiliation)),
                ("agreement", s(&*o.agreement)),
                ("version", int(o.agreement_version)),
                ("type", s(o.event_type.as_str())),
                ("claim", Canon::Bool(o.claim)),
                ("lat_e7", fixed(o.point.lat, 1e7)),
                ("lon_e7", fixed(o.point.lon, 1e7)),
                ("radius_mm", fixed(o.point.radius_m, 1e3)),
                ("from_ms", int(o.from_ms)),
                ("to_ms", int(o.to_ms)),
                ("incident", incident),
            ]));
        }
        sec.finish()
    }

    fn incidents_section(&self) -> String {
        let mut lines: Vec<String> = self
            .incidents()
            .map(|v| {
                let mut line = String::new();
                incident_line(&v).write(&mut line);
                line.push('\n');
                line
            })
            .collect();
        lines.sort_unstable();
        let mut hash = Sha256::new();
        for l in &lines {
            hash.update(l.as_bytes());
        }
        hex::encode(hash.finalize())
    }
}

fn incident_line(v: &IncidentView<'_>) -> Canon {
    let i = &v.incident;
    let mut members: Vec<&str> = v.members.iter().map(|m| &*m.id).collect();
    members.sort_unstable();
    let affiliations = i
        .affiliations
        .iter()
        .map(|a| {
            object([
                ("affiliation", s(&*a.affiliation)),
                ("members", int(a.members)),
                ("count", int(a.count)),
            ])
        })
        .collect();
    object([
        ("members", Canon::List(members.into_iter().map(s).collect())),
        ("agreement", s(&*i.agreement)),
        ("family", s(i.family.as_str())),
        (
            "types",
            Canon::List(v.event_types().into_iter().map(|t| s(t.as_str())).collect()),
        ),
        ("status", s(v.status.as_str())),
        ("count", int(i.count())),
        ("from_ms", int(i.from_ms)),
        ("to_ms", int(i.to_ms)),
        ("lat_e7", fixed(v.location.lat, 1e7)),
        ("lon_e7", fixed(v.location.lon, 1e7)),
        ("radius_mm", fixed(v.location.radius_m, 1e3)),
        ("affiliations", Canon::List(affiliations)),
        (
            "decisions",
            Canon::List(
                i.decisions
                    .iter()
                    .map(|d| {
                        object([
                            ("id", s(&*d.id)),
                            ("ruling", s(d.ruling.as_str())),
                            (
                                "attribution",
                                d.attribution.as_deref().map_or(Canon::Null, s),
                            ),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "disputes",
            Canon::List(
                i.disputes
                    .iter()
                    .map(|d| object([("id", s(&*d.id)), ("party", s(&*d.party))]))
                    .collect(),
            ),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_is_jcs_for_integers_and_strings() {
        let v = object([
            (
                "b",
                Canon::List(vec![int(1), Canon::Null, Canon::Bool(false)]),
            ),
            ("a", s("é\"\\\n\u{1}")),
        ]);
        let mut out = String::new();
        v.write(&mut out);
        assert_eq!(out, "{\"a\":\"é\\\"\\\\\\n\\u0001\",\"b\":[1,null,false]}");
    }

    #[test]
    fn fixed_point_rounds_half_away_from_zero() {
        let text = |c: Canon| {
            let mut o = String::new();
            c.write(&mut o);
            o
        };
        assert_eq!(text(fixed(0.25, 2.0)), "1");
        assert_eq!(text(fixed(-0.25, 2.0)), "-1");
        assert_eq!(text(fixed(0.2, 2.0)), "0");
        assert_eq!(text(fixed(48.5, 1e7)), "485000000");
    }
}
