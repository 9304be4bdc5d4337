//! The typed agreement: what [`check`](super::check) returns once a document has no problems.
//!
//! Every value here has been validated, so consumers (the engine, the server, the CLI) can rely
//! on the invariants stated on each type without re-checking: ids are unique and well-formed,
//! every reference resolves, numbers are finite and positive, geometries are valid and in range,
//! and every party the agreement binds is in [`EntryIntoForce::consent`].
//!
//! Serialization (the server returns the agreement as JSON) mirrors the TOML document, with two
//! choices worth knowing:
//! - a geometry zone serializes as `{"id", "kind": "geometry", "path", "geometry": <GeoJSON
//!   geometry object>, "controlled_by"}` and a buffer zone as `{"id", "kind": "buffer", "of",
//!   "km", "controlled_by"}`;
//! - `due` serializes as written: an RFC 3339 timestamp or `"D+<days>"`.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::{Serialize, Serializer};

use crate::keys::VerifierKey;
use crate::taxonomy::{EventType, Target, WeaponClass, string_enum};

/// A validated agreement document (DESIGN §4).
///
/// `#[non_exhaustive]` because the document format grows by extension; build one with
/// [`check`](super::check).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Agreement {
    /// The agreement's id (the same across versions).
    pub id: String,
    /// Human-readable title.
    pub title: String,
    /// The parties, in document order; at least two.
    pub parties: Vec<Party>,
    /// When and with whose consent the agreement enters into force.
    pub entry_into_force: EntryIntoForce,
    /// Zones, in document order.
    pub zones: Vec<Zone>,
    /// Rules, in document order.
    pub rules: Vec<Rule>,
    /// Incident clustering and corroboration parameters.
    pub verification: Verification,
    /// Attribution parameters.
    pub attribution: Attribution,
    /// Milestones (obligations with deadlines), in document order.
    pub milestones: Vec<Milestone>,
    /// The escalation ladder, sorted by level: `escalation[i].level == i + 1`.
    pub escalation: Vec<EscalationLevel>,
}

impl Agreement {
    /// The party with this id.
    pub fn party(&self, id: &str) -> Option<&Party> {
        self.parties.iter().find(|p| p.id == id)
    }

    /// The zone with this id.
    pub fn zone(&self, id: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.id == id)
    }

    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The milestone with this id.
    pub fn milestone(&self, id: &str) -> Option<&Milestone> {
        self.milestones.iter().find(|m| m.id == id)
    }

    /// The escalation level with this number.
    pub fn escalation_level(&self, level: u32) -> Option<&EscalationLevel> {
        self.escalation.iter().find(|l| l.level == level)
    }

    /// The party ids whose consent is required before the agreement can enter into force
    /// (`entry_into_force.consent`, in document order, without duplicates).
    pub fn required_consents(&self) -> &[String] {
        &self.entry_into_force.consent
    }

    /// When milestone `m` falls due, given the time the agreement actually entered into force
    /// (the later of `entry_into_force.at` and the last required consent, DESIGN §4).
    ///
    /// `D+<days>` counts days of 24 hours. Validation guarantees that `D+<days>` from
    /// `entry_into_force.at` is representable; for later entry-into-force times that overflow
    /// the timestamp range the result saturates at [`Timestamp::MAX`].
    pub fn milestone_due(&self, m: &Milestone, entry_into_force: Timestamp) -> Timestamp {
        m.due.resolve(entry_into_force)
    }
}

/// One party to the agreement.
#[derive(Debug, Clone, Serialize)]
pub struct Party {
    /// Short id (e.g. `UA`), unique in the agreement.
    pub id: String,
    /// Full name.
    pub name: String,
    /// The party's role.
    pub role: PartyRole,
    /// The key that signs this party's consents, claims and disputes; unique in the agreement.
    pub key: VerifierKey,
}

string_enum! {
    /// A party's role in the agreement.
    pub enum PartyRole: "role" {
        /// A side of the conflict; always bound by the agreement.
        Belligerent = "belligerent",
        /// A state or organisation guaranteeing the agreement; receives escalations.
        Guarantor = "guarantor",
        /// The mediator.
        Mediator = "mediator",
        /// An observer.
        Observer = "observer",
    }
}

string_enum! {
    /// Severity of a rule; ordered `Minor < Major < Critical`.
    pub enum Severity: "severity" {
        /// Minor.
        Minor = "minor",
        /// Major.
        Major = "major",
        /// Critical.
        Critical = "critical",
    }
}

string_enum! {
    /// How firmly a violation is attributed to a party (DESIGN §6); ordered
    /// `Undetermined < Indicated < Confirmed`, so "at least `indicated`" is `level >= Indicated`.
    pub enum AttributionLevel: "attribution level" {
        /// No party could be determined.
        Undetermined = "undetermined",
        /// Indicated by a method (weapon position, origin of fire).
        Indicated = "indicated",
        /// Confirmed by a verifier's decision.
        Confirmed = "confirmed",
    }
}

/// `entry_into_force`: the agreement enters into force at `at` or when the last consent in
/// `consent` is logged, whichever is later.
#[derive(Debug, Clone, Serialize)]
pub struct EntryIntoForce {
    /// The earliest time of entry into force.
    pub at: Timestamp,
    /// Party ids whose consent is required; non-empty, no duplicates, includes every party the
    /// agreement binds (belligerents, controllers of zones, parties responsible for milestones).
    pub consent: Vec<String>,
}

/// A named area.
#[derive(Debug, Clone, Serialize)]
pub struct Zone {
    /// Unique zone id.
    pub id: String,
    /// Geometry or buffer.
    #[serde(flatten)]
    pub kind: ZoneKind,
    /// The party controlling the zone (polygon zones only); used for attribution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controlled_by: Option<String>,
}

/// How a zone's area is defined.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum ZoneKind {
    /// A geometry file: a (Multi)LineString (a line, e.g. a contact line) or a (Multi)Polygon.
    Geometry {
        /// The path as written in the document (relative to the TOML file).
        path: String,
        /// The validated geometry (lon/lat, WGS 84): a `LineString`, `MultiLineString`,
        /// `Polygon` or `MultiPolygon`.
        #[serde(serialize_with = "serialize_geometry")]
        geometry: geo::Geometry<f64>,
    },
    /// Everything within `km` of the line zone `of`.
    Buffer {
        /// Id of a geometry zone whose geometry is a (Multi)LineString.
        of: String,
        /// Distance in kilometres; finite and > 0.
        km: f64,
    },
}

impl ZoneKind {
    /// Whether this is a geometry zone with a (Multi)LineString.
    pub fn is_line(&self) -> bool {
        matches!(self, ZoneKind::Geometry { geometry, .. } if super::geometry::is_line(geometry))
    }

    /// Whether this is a geometry zone with a (Multi)Polygon.
    pub fn is_polygon(&self) -> bool {
        matches!(self, ZoneKind::Geometry { geometry, .. } if super::geometry::is_polygon(geometry))
    }
}

fn serialize_geometry<S: Serializer>(g: &geo::Geometry<f64>, s: S) -> Result<S::Ok, S::Error> {
    geojson::Geometry::from(g).serialize(s)
}

/// A rule: which events, where, with which weapons and against which targets are violations.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// Unique rule id.
    pub id: String,
    /// The clause of the agreement text it implements, e.g. `Art. 1`.
    pub clause: String,
    /// Severity of a violation.
    pub severity: Severity,
    /// A zone id, or `"*"` for anywhere.
    pub zone: String,
    /// Event types that violate the rule; non-empty.
    pub events: Vec<EventType>,
    /// Only events with a matching weapon violate the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weapon: Option<WeaponFilter>,
    /// Only events against one of these targets violate the rule; empty = any target.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
}

impl Rule {
    /// Whether the rule applies anywhere (`zone = "*"`).
    pub fn anywhere(&self) -> bool {
        self.zone == "*"
    }
}

/// Restricts a rule to some weapons.
#[derive(Debug, Clone, Serialize)]
pub struct WeaponFilter {
    /// Weapon classes; empty = any class.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<WeaponClass>,
    /// Minimum calibre (inclusive), mm; finite and > 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_calibre_mm: Option<f64>,
    /// Maximum calibre (inclusive), mm; finite, > 0 and ≥ `min_calibre_mm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_calibre_mm: Option<f64>,
}

/// `[verification]`: incident clustering and corroboration (DESIGN §6).
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Spatial tolerance added to the observations' own uncertainty, km (default 3.0).
    pub cluster_km: f64,
    /// Largest time gap between linked observations, minutes (default 15).
    pub cluster_minutes: u32,
    /// Distinct affiliations needed for "corroborated" (default 2).
    pub independent_sources: u32,
}

impl Default for Verification {
    fn default() -> Self {
        Verification {
            cluster_km: 3.0,
            cluster_minutes: 15,
            independent_sources: 2,
        }
    }
}

/// `[attribution]`: attribution parameters (DESIGN §6).
#[derive(Debug, Clone, Serialize)]
pub struct Attribution {
    /// How far back along the direction of fire to look, km (default 10).
    pub trace_km: f64,
}

impl Default for Attribution {
    fn default() -> Self {
        Attribution { trace_km: 10.0 }
    }
}

/// An obligation with a deadline.
#[derive(Debug, Clone, Serialize)]
pub struct Milestone {
    /// Unique milestone id.
    pub id: String,
    /// The clause of the agreement text.
    pub clause: String,
    /// What must be done.
    pub obligation: String,
    /// Party ids that must each fulfil it; non-empty.
    pub responsible: Vec<String>,
    /// When it falls due.
    pub due: Due,
    /// What happens if it is missed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_missed: Option<OnMissed>,
}

/// A milestone's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Due {
    /// A fixed time (not before `entry_into_force.at`).
    At(Timestamp),
    /// `D+<days>`: days of 24 hours after entry into force.
    DaysAfterEntry(u32),
}

impl Due {
    /// The deadline given the actual time of entry into force (saturating at
    /// [`Timestamp::MAX`]).
    pub fn resolve(&self, entry_into_force: Timestamp) -> Timestamp {
        match *self {
            Due::At(t) => t,
            Due::DaysAfterEntry(days) => entry_into_force
                .checked_add(SignedDuration::from_hours(i64::from(days) * 24))
                .unwrap_or(Timestamp::MAX),
        }
    }
}

impl fmt::Display for Due {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Due::At(t) => write!(f, "{t}"),
            Due::DaysAfterEntry(d) => write!(f, "D+{d}"),
        }
    }
}

impl Serialize for Due {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `on_missed`: the escalation level raised for each responsible party without a confirmed
/// fulfilment when a milestone is missed.
#[derive(Debug, Clone, Serialize)]
pub struct OnMissed {
    /// A level of the escalation ladder.
    pub escalate: u32,
}

/// One level of the escalation ladder.
#[derive(Debug, Clone, Serialize)]
pub struct EscalationLevel {
    /// 1-based level; levels are numbered 1..n without gaps.
    pub level: u32,
    /// Name of the level, e.g. "Formal notice".
    pub name: String,
    /// Recipients: `"parties"`, `"guarantors"`, or party ids.
    pub notify: Vec<String>,
    /// When a party reaches this level.
    pub threshold: Threshold,
}

/// The violation count that raises a party to a level.
#[derive(Debug, Clone, Serialize)]
pub struct Threshold {
    /// Number of counted violations; > 0.
    pub violations: u32,
    /// Sliding window, days; > 0.
    pub window_days: u32,
    /// Only violations of at least this severity count.
    pub min_severity: Severity,
    /// Only violations attributed at least this firmly count.
    pub attribution: AttributionLevel,
}
