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

use std::borrow::Cow;
use std::fmt::Write as _;

use sha2::{Digest as _, Sha256};
use truce_model::observation::EventPoint;

use crate::State;
use crate::incidents::{Incident, IncidentStatus};
use crate::line_sort::LineSorter;

/// A canonical JSON value: what the digest lines are made of. Strings are borrowed from the
/// state where they can be, so that writing a million lines allocates little.
#[derive(Debug, Clone)]
enum Canon<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str(Cow<'a, str>),
    List(Vec<Canon<'a>>),
    /// Fields in key order (see [`object`]).
    Object(Vec<(&'static str, Canon<'a>)>),
}

impl Canon<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Canon::Null => out.extend_from_slice(b"null"),
            Canon::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Canon::Int(i) => write_int(*i, out),
            Canon::Str(s) => write_str(s, out),
            Canon::List(items) => {
                out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write(out);
                }
                out.push(b']');
            }
            Canon::Object(fields) => {
                out.push(b'{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(k, out);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// `i` in decimal, as JSON (and JCS, for integers of at most 2^53) writes it.
fn write_int(i: i64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = i.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

/// `s` as a JSON string escaped as JCS prescribes (RFC 8785 §3.2.2.2, the escaping of
/// ECMAScript's `JSON.stringify`): `"` and `\` escaped, `\b \f \n \r \t` for those controls,
/// `\u00xx` (lowercase hex) for the other code points below U+0020, everything else as it is.
fn write_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut plain = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0..0x20 => 0,
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain..i]);
        plain = i + 1;
        if short != 0 {
            out.extend_from_slice(&[b'\\', short]);
        } else {
            out.extend_from_slice(b"\\u00");
            out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    out.extend_from_slice(&bytes[plain..]);
    out.push(b'"');
}

fn s(v: &str) -> Canon<'_> {
    Canon::Str(Cow::Borrowed(v))
}

fn owned(v: String) -> Canon<'static> {
    Canon::Str(Cow::Owned(v))
}

fn int(v: impl TryInto<i64>) -> Canon<'static> {
    Canon::Int(v.try_into().unwrap_or(i64::MAX))
}

fn opt(v: Option<impl TryInto<i64>>) -> Canon<'static> {
    v.map_or(Canon::Null, int)
}

/// `x` scaled by `scale` and rounded half away from zero.
fn fixed(x: f64, scale: f64) -> Canon<'static> {
    Canon::Int((x * scale).round() as i64)
}

/// An object of `fields`, which the caller lists in key order: JCS's order, which for the ASCII
/// keys here is byte order (sorting a million objects' keys would cost more than writing them;
/// the tests, built with debug assertions, write every kind of line).
fn object<'a, const N: usize>(fields: [(&'static str, Canon<'a>); N]) -> Canon<'a> {
    debug_assert!(
        fields.is_sorted_by_key(|&(k, _)| k),
        "fields out of order: {:?}",
        fields.map(|(k, _)| k)
    );
    Canon::Object(Vec::from(fields))
}

/// Accumulates one section.
struct Section {
    hash: Sha256,
    line: Vec<u8>,
}

impl Section {
    fn new() -> Section {
        Section {
            hash: Sha256::new(),
            line: Vec::new(),
        }
    }

    fn add(&mut self, v: &Canon<'_>) {
        self.line.clear();
        v.write(&mut self.line);
        self.line.push(b'\n');
        self.hash.update(&self.line);
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
    /// The state digest (see the module docs for the serialisation). The two large sections,
    /// observations and incidents, are written on two threads.
    pub fn digest(&self) -> StateDigest {
        let (observations, incidents) = std::thread::scope(|scope| {
            let incidents = std::thread::Builder::new()
                .name("state-digest".into())
                .spawn_scoped(scope, || self.incidents_section());
            let observations = self.observations_section();
            let incidents = match incidents {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p)),
                // No thread to be had: the same section on this one.
                Err(_) => self.incidents_section(),
            };
            (observations, incidents)
        });
        let sections = vec![
            ("keys", self.keys_section()),
            ("agreements", self.agreements_section()),
            ("observations", observations),
            ("incidents", incidents),
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
                ("accredited_at", opt(k.accredited_at)),
                ("affiliation", s(k.affiliation.as_str())),
                ("reliability", owned(format!("{:?}", k.reliability))),
                ("revoked_at", opt(k.revoked_at)),
                (
                    "roles",
                    Canon::List(k.roles.iter().map(|r| s(r.as_str())).collect()),
                ),
                ("signer", owned(k.vkey.signer_id())),
                (
                    "valid_until_ms",
                    opt(k.valid_until.map(|t| t.as_millisecond())),
                ),
                ("vkey", owned(k.vkey.to_string())),
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
                        object([("index", int(c.index)), ("party", s(party.as_str()))])
                    })
                    .collect();
                sec.add(&object([
                    ("agreement", s(a.id.as_str())),
                    ("consents", Canon::List(consents)),
                    ("entry", s(v.entry.as_str())),
                    ("in_force_from_ms", opt(v.in_force_from_ms())),
                    ("index", int(v.index)),
                    ("sha256", s(v.sha256.as_str())),
                    ("status", s(a.status(v, now).as_str())),
                    ("version", int(v.version)),
                ]));
            }
        }
        sec.finish()
    }

    /// The observation lines, read from the stored records as they are (no owned views: a
    /// million of them would cost a million id copies).
    fn observations_section(&self) -> String {
        let mut sec = Section::new();
        let obs = &self.observations;
        let name = |n: u32| s(obs.name(n));
        for position in 0..obs.len() as u32 {
            let known = "a position below len()";
            let (o, id) = obs.at_with_id(position).expect(known);
            let root = self.incidents.root_of(position);
            let root_id = obs.id(root);
            let incident = root_id.as_deref().map_or(Canon::Null, s);
            sec.add(&object([
                ("affiliation", name(o.affiliation)),
                ("agreement", name(o.agreement)),
                ("claim", Canon::Bool(o.claim)),
                ("from_ms", int(o.from_ms)),
                ("id", s(&id)),
                ("incident", incident),
                ("index", int(o.index)),
                ("lat_e7", fixed(o.lat, 1e7)),
                ("lon_e7", fixed(o.lon, 1e7)),
                ("radius_mm", fixed(o.radius_m, 1e3)),
                ("signer", name(o.signer)),
                ("to_ms", int(o.to_ms)),
                ("type", s(o.event_type.as_str())),
                ("version", int(o.version)),
            ]));
        }
        sec.finish()
    }

    /// The incident lines, sorted by their bytes in bounded memory when the state's cold tier
    /// has scratch space ([`crate::line_sort`]: the lines name every member, about 130 bytes per
    /// observation).
    fn incidents_section(&self) -> String {
        // Runs go to a scratch store, dropped (and its space given back) at the end.
        let scratch = self.observations.cold().and_then(|c| c.scratch());
        let mut sorter = LineSorter::new(scratch.as_ref());
        let mut line = Vec::new();
        // From the aggregates, not from views: a view reads a page of member records and the
        // signers of every member, which no line needs.
        for (_, i) in self.incidents.range(0, &self.observations) {
            line.clear();
            let (status, location) = (self.incident_status(&i), self.incident_location(&i));
            let ids = self.member_ids(&i);
            incident_line(&i, status, location, &ids).write(&mut line);
            line.push(b'\n');
            sorter.push(&line);
        }
        let mut hash = Sha256::new();
        sorter.finish(|l| hash.update(l));
        hex::encode(hash.finalize())
    }

    /// The payload ids of every member of `i`, sorted.
    fn member_ids(&self, i: &Incident) -> Vec<Cow<'_, str>> {
        let mut ids: Vec<Cow<'_, str>> = i
            .members
            .iter()
            .map(|&p| {
                self.observations
                    .id(p)
                    .expect("incident positions are observation positions")
            })
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// Sorts `lines` by their bytes. Each ends with its only `\n` and holds no zero byte, as the
/// digest's lines do.
///
/// Lines that share a long prefix (the incident lines all start with
/// `{"affiliations":[{"affiliation":"`) spend most of a plain sort's time comparing it, so they
/// are sorted by the eight bytes after the prefix common to all, and compared whole only where
/// those are equal. The order is the same: the common prefix decides nothing, and a line that
/// ends inside the eight bytes is padded with zeros, which sort before any byte a line can hold
/// there (no line is a prefix of another, as each ends at its only newline).
pub(crate) fn sort_lines(lines: &mut [&[u8]]) {
    let Some(first) = lines.first() else {
        return;
    };
    let common = lines.iter().fold(first.len(), |n, l| {
        n.min(
            first
                .iter()
                .zip(l.iter())
                .take_while(|(a, b)| a == b)
                .count(),
        )
    });
    let key = |l: &[u8]| {
        let mut bytes = [0u8; 8];
        let rest = l.get(common..).unwrap_or(&[]);
        let n = rest.len().min(8);
        bytes[..n].copy_from_slice(&rest[..n]);
        u64::from_be_bytes(bytes)
    };
    let mut keyed: Vec<(u64, &[u8])> = lines.iter().map(|l| (key(l), *l)).collect();
    keyed.sort_unstable_by(|(kx, x), (ky, y)| kx.cmp(ky).then_with(|| x.cmp(y)));
    for (slot, (_, l)) in lines.iter_mut().zip(keyed) {
        *slot = l;
    }
}

/// The digest line of `i`, whose members' ids are `members`, sorted.
fn incident_line<'a>(
    i: &'a Incident,
    status: IncidentStatus,
    location: EventPoint,
    members: &'a [Cow<'a, str>],
) -> Canon<'a> {
    let affiliations = i
        .affiliations
        .iter()
        .map(|a| {
            object([
                ("affiliation", s(&a.affiliation)),
                ("count", int(a.count)),
                ("members", int(a.members)),
            ])
        })
        .collect();
    object([
        ("affiliations", Canon::List(affiliations)),
        ("agreement", s(&i.agreement)),
        ("count", int(i.count())),
        (
            "decisions",
            Canon::List(
                i.decisions
                    .iter()
                    .map(|d| {
                        object([
                            (
                                "attribution",
                                d.attribution.as_deref().map_or(Canon::Null, s),
                            ),
                            ("id", s(&d.id)),
                            ("ruling", s(d.ruling.as_str())),
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
                    .map(|d| object([("id", s(&d.id)), ("party", s(&d.party))]))
                    .collect(),
            ),
        ),
        ("family", s(i.family.as_str())),
        ("from_ms", int(i.from_ms)),
        ("lat_e7", fixed(location.lat, 1e7)),
        ("lon_e7", fixed(location.lon, 1e7)),
        (
            "members",
            Canon::List(members.iter().map(|m| s(m)).collect()),
        ),
        ("radius_mm", fixed(location.radius_m, 1e3)),
        ("status", s(status.as_str())),
        ("to_ms", int(i.to_ms)),
        (
            "types",
            Canon::List(i.event_types().map(|t| s(t.as_str())).collect()),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_is_jcs_for_integers_and_strings() {
        let v = object([
            ("a", s("é\"\\\n\u{1}")),
            (
                "b",
                Canon::List(vec![int(1), Canon::Null, Canon::Bool(false)]),
            ),
        ]);
        let mut out = Vec::new();
        v.write(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"a\":\"é\\\"\\\\\\n\\u0001\",\"b\":[1,null,false]}"
        );
    }

    #[test]
    fn every_control_character_is_escaped_as_serde_json_and_jcs_do() {
        for c in (0u32..0x80).filter_map(char::from_u32) {
            let text = c.to_string();
            let mut out = Vec::new();
            write_str(&text, &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&text).unwrap(),
                "U+{:04X}",
                c as u32
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn strings_are_written_as_serde_json_writes_them(text in "\\PC*|[\\x00-\\x7f]{0,40}") {
            let mut out = Vec::new();
            write_str(&text, &mut out);
            proptest::prop_assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&text).unwrap()
            );
        }

        #[test]
        fn lines_sort_as_a_plain_sort_does(
            prefix in "[a-c{\":]{0,40}",
            rests in proptest::collection::vec("[a-c\\x01\\x7f\u{e9}]{0,12}", 0..40),
        ) {
            let owned: Vec<Vec<u8>> =
                rests.iter().map(|r| format!("{prefix}{r}\n").into_bytes()).collect();
            let mut lines: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
            let mut expected = lines.clone();
            expected.sort_unstable();
            sort_lines(&mut lines);
            proptest::prop_assert_eq!(lines, expected);
        }

        #[test]
        fn integers_are_written_in_decimal(i in proptest::prelude::any::<i64>()) {
            let mut out = Vec::new();
            write_int(i, &mut out);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), i.to_string());
        }
    }

    #[test]
    fn fixed_point_rounds_half_away_from_zero() {
        let text = |c: Canon| {
            let mut o = Vec::new();
            c.write(&mut o);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(text(fixed(0.25, 2.0)), "1");
        assert_eq!(text(fixed(-0.25, 2.0)), "-1");
        assert_eq!(text(fixed(0.2, 2.0)), "0");
        assert_eq!(text(fixed(48.5, 1e7)), "485000000");
    }
}
