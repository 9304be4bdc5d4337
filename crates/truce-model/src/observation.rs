//! Observations (DESIGN §5): the typed payload of an `observation` entry, its validation, and
//! the event location derived from it (DESIGN §6).
//!
//! Observations are the raw material of every finding: incidents cluster them, violations and
//! attribution are computed from them, and each party audits them in the public log. Two
//! properties follow, and they shape this module:
//!
//! - **Every problem at once, by JSON pointer.** A patrol on a phone, a sensor gateway and a
//!   party's delegation all submit observations; a refusal must name every field to fix
//!   (`/event/location/lat`, `/casualties/civilian_killed/high`, …) so that one round trip is
//!   enough. [`Observation::parse`] therefore reads the whole object, collects a
//!   [`FieldError`] per problem and only then decides. Unknown fields are refused at every
//!   level: a misspelt `calibre` silently ignored would be a finding silently lost.
//! - **Bounded and unambiguous.** Every number has a range, every array a length, every string
//!   a size, so that one entry cannot distort derived state (a 10,000 km "uncertainty" would
//!   link every observation into one incident) or cost unbounded work. An event is located in
//!   exactly one way — `event.location`, or `observer.position` with `event.sector` — so two
//!   implementations can never derive two different points from the same signed bytes.
//!
//! Checks that need nothing but the payload live here; checks against the log (the signer's
//! roles, whether the agreement is in force, whether `alleged_party` is one of its parties, and
//! whether the observed times lie in the future of the *log time*) belong to the engine.
//! [`Observation::check_at`] provides the time check with the log time passed in, so that replay
//! reaches the same verdict as the live server: nothing here reads the wall clock.
//!
//! # Decisions this module fixes (beyond the contract's wording)
//!
//! - Required: `agreement`, `observed.from`, `observed.to`, `event.type`, and a location.
//!   Optional with defaults: `event.count` (1), `event.approx` (false), `event.location.radius_m`
//!   (1,000 m), `grading.credibility` (6, "truth cannot be judged", when `grading` is absent),
//!   `evidence[].role` (`evidentiary`). Everything else is optional.
//! - Casualty keys are `<who>_<outcome>` with who ∈ {`civilian`, `combatant`, `unknown`} and
//!   outcome ∈ {`killed`, `injured`} ([`CasualtyKind`]); each is `{low, best, high}`, all three
//!   required, integers with `0 ≤ low ≤ best ≤ high ≤` [`MAX_CASUALTIES`].
//! - Evidence roles are `evidentiary` (the media shows the event or its effects) and `context`
//!   (it helps judge the evidentiary media: surroundings, before/after imagery, maps)
//!   ([`EvidenceRole`]).
//! - A sector runs clockwise from `bearing_deg[0]` to `bearing_deg[1]`; `[350, 10]` is the 20°
//!   sector across north, `[0, 360]` the full circle. `distance_km` is `[near, far]` with
//!   `0 ≤ near ≤ far`, `far > 0`.
//! - Bounds: see the `MAX_*` constants.
//!
//! # Geometry
//!
//! Points are on a sphere of radius [`EARTH_RADIUS_M`]; distances are haversine
//! ([`haversine_m`]) and sector points are great-circle destinations ([`destination`]). The
//! derived point is computed once, at parse time, with `f64` arithmetic in a fixed order, so the
//! same binary derives the same point on the live server and on replay.

use std::collections::BTreeMap;
use std::str::FromStr;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::dsse::check_id;
use crate::field::{FieldError, is_sha256_hex};
use crate::json::Step;
use crate::taxonomy::{EventType, ObserverMode, Target, UnknownValue, WeaponClass, string_enum};

/// Mean Earth radius used for every distance, in metres (DESIGN §6).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;
/// Radius assumed for an `event.location` without `radius_m`, in metres (DESIGN §6).
pub const DEFAULT_RADIUS_M: f64 = 1_000.0;
/// Largest `event.location.radius_m`, in metres: beyond this a location says nothing useful and
/// would link unrelated observations.
pub const MAX_RADIUS_M: f64 = 500_000.0;
/// Largest `event.sector.distance_km` value, in kilometres (same reasoning as [`MAX_RADIUS_M`]).
pub const MAX_SECTOR_KM: f64 = 500.0;
/// Longest observation window (`observed.to − observed.from`), in seconds: 366 days.
///
/// A patrol or a sensor reports minutes, but imported event data is often dated coarsely: UCDP
/// GED codes an event to the day, the week, the month or the year (`date_prec`), ACLED to the
/// day, the week or the month (`time_precision`), and an honest window is as wide as the
/// source's uncertainty. A leap year is the widest any of them needs (`truce import`,
/// `docs/import.md`). The bound still keeps one entry from claiming an unbounded stretch of time.
pub const MAX_WINDOW_DAYS: i64 = 366;
/// [`MAX_WINDOW_DAYS`] in seconds.
pub const MAX_WINDOW_SECONDS: i64 = MAX_WINDOW_DAYS * 24 * 3600;
/// How far beyond the log time `observed.to` may lie (clock skew), in milliseconds: 5 minutes.
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;
/// Largest `event.count`.
pub const MAX_COUNT: u64 = 100_000;
/// Largest casualty figure.
pub const MAX_CASUALTIES: u64 = 1_000_000;
/// Largest `event.weapon.calibre_mm`.
pub const MAX_CALIBRE_MM: f64 = 1_000.0;
/// At most this many evidence items.
pub const MAX_EVIDENCE: usize = 32;
/// Longest `narrative`, in characters (Unicode scalar values).
pub const MAX_NARRATIVE_CHARS: usize = 4_000;
/// Longest `media_type`.
pub const MAX_MEDIA_TYPE_LEN: usize = 255;

const TOP_FIELDS: &[&str] = &[
    "id",
    "agreement",
    "observed",
    "observer",
    "event",
    "casualties",
    "grading",
    "evidence",
    "narrative",
    "alleged_party",
];
const OBSERVED_FIELDS: &[&str] = &["from", "to"];
const OBSERVER_FIELDS: &[&str] = &["position", "mode"];
const POSITION_FIELDS: &[&str] = &["lat", "lon"];
const EVENT_FIELDS: &[&str] = &[
    "type",
    "count",
    "approx",
    "location",
    "sector",
    "direction",
    "weapon",
    "targets",
];
const LOCATION_FIELDS: &[&str] = &["lat", "lon", "radius_m"];
const SECTOR_FIELDS: &[&str] = &["bearing_deg", "distance_km"];
const DIRECTION_FIELDS: &[&str] = &["origin_bearing_deg"];
const WEAPON_FIELDS: &[&str] = &["class", "calibre_mm"];
const ESTIMATE_FIELDS: &[&str] = &["low", "best", "high"];
const GRADING_FIELDS: &[&str] = &["credibility"];
const EVIDENCE_FIELDS: &[&str] = &["sha256", "media_type", "role"];

string_enum! {
    /// A casualty category: who (`civilian`, `combatant`, `unknown` status) and what happened to
    /// them (`killed`, `injured`). These are the only keys accepted in `casualties`.
    pub enum CasualtyKind: "casualty category" {
        /// Civilians killed.
        CivilianKilled = "civilian_killed",
        /// Civilians injured.
        CivilianInjured = "civilian_injured",
        /// Combatants killed.
        CombatantKilled = "combatant_killed",
        /// Combatants injured.
        CombatantInjured = "combatant_injured",
        /// People of undetermined status killed.
        UnknownKilled = "unknown_killed",
        /// People of undetermined status injured.
        UnknownInjured = "unknown_injured",
    }
}

string_enum! {
    /// What an evidence item is for.
    pub enum EvidenceRole: "evidence role" {
        /// Shows the event or its effects.
        Evidentiary = "evidentiary",
        /// Helps judge the evidentiary items (surroundings, before/after imagery, maps).
        Context = "context",
    }
}

/// A point on the sphere, in degrees (WGS 84 coordinates read as spherical).
///
/// A plain value: its two fields are all a point will ever have.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Position {
    /// Latitude, −90 to 90.
    pub lat: f64,
    /// Longitude, −180 to 180.
    pub lon: f64,
}

/// Where an event is, with its uncertainty: the circle of `radius_m` metres around
/// (`lat`, `lon`). The unit of incident clustering (DESIGN §6).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EventPoint {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees, in [−180, 180].
    pub lon: f64,
    /// Uncertainty radius, metres (≥ 0).
    pub radius_m: f64,
}

impl EventPoint {
    /// The centre as a [`Position`].
    pub fn position(&self) -> Position {
        Position {
            lat: self.lat,
            lon: self.lon,
        }
    }
}

/// Great-circle (haversine) distance between two points, in metres, on the sphere of radius
/// [`EARTH_RADIUS_M`].
pub fn haversine_m(a: Position, b: Position) -> f64 {
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let dp = p2 - p1;
    let dl = (b.lon - a.lon).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.clamp(0.0, 1.0).sqrt().asin()
}

/// The point reached from `from` by travelling `distance_m` metres along the great circle that
/// leaves it at `bearing_deg` (clockwise from true north). The longitude is normalised to
/// [−180, 180).
pub fn destination(from: Position, bearing_deg: f64, distance_m: f64) -> Position {
    let p1 = from.lat.to_radians();
    let l1 = from.lon.to_radians();
    let theta = bearing_deg.to_radians();
    let delta = distance_m / EARTH_RADIUS_M;
    let sin_p2 = (p1.sin() * delta.cos() + p1.cos() * delta.sin() * theta.cos()).clamp(-1.0, 1.0);
    let p2 = sin_p2.asin();
    let l2 = l1 + (theta.sin() * delta.sin() * p1.cos()).atan2(delta.cos() - p1.sin() * sin_p2);
    let mut lon = l2.to_degrees();
    lon = (lon + 180.0).rem_euclid(360.0) - 180.0;
    Position {
        lat: p2.to_degrees(),
        lon,
    }
}

/// The observation window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Window {
    /// Start of the window.
    pub from: Timestamp,
    /// End of the window (≥ `from`, at most [`MAX_WINDOW_SECONDS`] later).
    pub to: Timestamp,
}

/// Who observed, from where, and how.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[non_exhaustive]
pub struct Observer {
    /// The observer's position; required with `event.sector`. May be sensitive (DESIGN §10):
    /// public outputs coarsen it, the engine keeps only the derived event point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// How the event was perceived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ObserverMode>,
}

/// An event located directly: a point and its uncertainty.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Location {
    /// Latitude, −90 to 90.
    pub lat: f64,
    /// Longitude, −180 to 180.
    pub lon: f64,
    /// Uncertainty radius in metres, > 0 and ≤ [`MAX_RADIUS_M`]; [`DEFAULT_RADIUS_M`] if absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub radius_m: Option<f64>,
}

/// An event located by bearing and distance from the observer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Sector {
    /// `[from, to]`, degrees clockwise from true north, each 0–360; the sector runs clockwise
    /// from the first to the second bearing.
    pub bearing_deg: [f64; 2],
    /// `[near, far]`, kilometres, `0 ≤ near ≤ far ≤` [`MAX_SECTOR_KM`], `far > 0`.
    pub distance_km: [f64; 2],
}

impl Sector {
    /// The sector's angular width, degrees, 0–360 (clockwise from the first bearing).
    pub fn width_deg(&self) -> f64 {
        let [a, b] = self.bearing_deg;
        if b >= a { b - a } else { b + 360.0 - a }
    }

    /// The bearing halfway through the sector, degrees in [0, 360).
    pub fn middle_bearing_deg(&self) -> f64 {
        (self.bearing_deg[0] + self.width_deg() / 2.0).rem_euclid(360.0)
    }

    /// The event point of DESIGN §6 for an observer at `observer`: the point at the middle
    /// bearing and middle distance, with as radius the largest distance from it to the six
    /// points at each bearing bound and the middle bearing, each at the near and far distance.
    pub fn locate(&self, observer: Position) -> EventPoint {
        let [near, far] = self.distance_km.map(|km| km * 1_000.0);
        let mid = self.middle_bearing_deg();
        let centre = destination(observer, mid, (near + far) / 2.0);
        let mut radius: f64 = 0.0;
        for bearing in [self.bearing_deg[0], mid, self.bearing_deg[1]] {
            for d in [near, far] {
                radius = radius.max(haversine_m(centre, destination(observer, bearing, d)));
            }
        }
        EventPoint {
            lat: centre.lat,
            lon: centre.lon,
            radius_m: radius,
        }
    }
}

/// The direction fire came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Direction {
    /// The bearing, seen from the event, from which the fire came (degrees 0–360).
    pub origin_bearing_deg: f64,
}

/// The weapon involved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Weapon {
    /// Its class.
    pub class: WeaponClass,
    /// Calibre in millimetres, > 0 and ≤ [`MAX_CALIBRE_MM`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibre_mm: Option<f64>,
}

impl Weapon {
    /// A weapon of `class` and optional calibre (not checked: [`Observation`] parsing checks
    /// what comes from outside).
    pub fn new(class: WeaponClass, calibre_mm: Option<f64>) -> Weapon {
        Weapon { class, calibre_mm }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Event {
    /// The event type (its family drives clustering).
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// How many events (e.g. explosions), 1 to [`MAX_COUNT`].
    pub count: u32,
    /// Whether `count` is an estimate.
    pub approx: bool,
    /// A direct location; exactly one of this and (`observer.position` with `sector`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// A location relative to the observer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector: Option<Sector>,
    /// Where fire came from, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// The weapon, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weapon: Option<Weapon>,
    /// What was hit or targeted; distinct values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
}

/// A casualty estimate: `0 ≤ low ≤ best ≤ high ≤` [`MAX_CASUALTIES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Estimate {
    /// Lowest plausible figure.
    pub low: u32,
    /// Best estimate.
    pub best: u32,
    /// Highest plausible figure.
    pub high: u32,
}

/// Information credibility on the Admiralty scale, 1 (confirmed) to 6 (cannot be judged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Grading {
    /// 1–6.
    pub credibility: u8,
}

impl Default for Grading {
    fn default() -> Self {
        Grading { credibility: 6 }
    }
}

/// A piece of evidence: content-addressed media stored as a blob, never in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Evidence {
    /// sha256 (64 lowercase hex digits) of the media's bytes, served at `/v1/blobs/{sha256}`.
    pub sha256: String,
    /// The media type, `type/subtype` (RFC 6838 syntax, no parameters).
    pub media_type: String,
    /// What the item is for.
    pub role: EvidenceRole,
}

/// A checked `observation` payload (DESIGN §5), without its `id`.
///
/// Serializes back to the §5 JSON shape (defaults written out), and parsing that JSON again gives
/// an equal value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Observation {
    /// The agreement the observation is reported under.
    pub agreement: String,
    /// When the event happened.
    pub observed: Window,
    /// Who observed it, from where, how.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observer: Option<Observer>,
    /// What happened.
    pub event: Event,
    /// Casualty estimates by category.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub casualties: BTreeMap<CasualtyKind, Estimate>,
    /// Information credibility (the key's accreditation carries source reliability).
    pub grading: Grading,
    /// Evidence items, at most [`MAX_EVIDENCE`], distinct by `sha256`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    /// Free text, at most [`MAX_NARRATIVE_CHARS`] characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub narrative: Option<String>,
    /// The party the observation accuses (a claim; never counted as attribution).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alleged_party: Option<String>,
    /// Derived at parse time from the fields as parsed.
    #[serde(skip)]
    point: EventPoint,
}

impl Observation {
    /// Checks an `observation` payload object (its `id` is checked by the envelope and ignored
    /// here), reporting every problem with its JSON pointer.
    pub fn parse(obj: &Map<String, Value>) -> Result<Observation, Vec<FieldError>> {
        let mut r = Reader::default();
        let value = r.observation(obj);
        match value {
            Some(o) if r.errors.is_empty() => Ok(o),
            _ if !r.errors.is_empty() => Err(r.errors),
            // Every path that yields no value records why; this is a safety net.
            _ => Err(vec![FieldError::new("", "invalid observation")]),
        }
    }

    /// Where the event is (DESIGN §6): `event.location` with its radius (default
    /// [`DEFAULT_RADIUS_M`]), or the point derived from `observer.position` and `event.sector`
    /// ([`Sector::locate`]).
    pub fn event_point(&self) -> EventPoint {
        self.point
    }

    /// The checks that depend on the log time `now_ms` (ms since the epoch) at which the
    /// observation is logged: `observed.to` may not lie more than [`MAX_CLOCK_SKEW_MS`] after it.
    /// Deterministic: the engine passes the entry's log time, never the wall clock.
    pub fn check_at(&self, now_ms: i64) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let limit = now_ms.saturating_add(MAX_CLOCK_SKEW_MS);
        if self.observed.to.as_millisecond() > limit {
            let now = Timestamp::from_millisecond(now_ms)
                .map(|t| t.to_string())
                .unwrap_or_else(|_| format!("{now_ms} ms"));
            errors.push(FieldError::new(
                "/observed/to",
                format!(
                    "{} is in the future: the entry is logged at {now}, and observed times may \
                     exceed the log time by at most {} minutes",
                    self.observed.to,
                    MAX_CLOCK_SKEW_MS / 60_000
                ),
            ));
        }
        errors
    }
}

/// Where an error is: a [`Step`] chain (turned into a JSON pointer only now), or a pointer
/// string for the checks that name a fixed field such as `/event/sector`.
trait Pointer {
    fn into_pointer(self) -> String;
}

impl Pointer for &str {
    fn into_pointer(self) -> String {
        self.to_owned()
    }
}

impl Pointer for String {
    fn into_pointer(self) -> String {
        self
    }
}

impl Pointer for &Step<'_> {
    fn into_pointer(self) -> String {
        self.pointer()
    }
}

/// Collects every problem while reading an observation.
///
/// Every method takes the position of the value it reads as a [`Step`] chain built on the stack
/// (`at.key("lat")`, `at.index(i)`), not as a pointer string: the string is built only when an
/// error is recorded, so reading a valid observation formats and allocates nothing for
/// positions (eager pointers cost a measurable share of replay time).
#[derive(Default)]
struct Reader {
    errors: Vec<FieldError>,
}

impl Reader {
    fn err(&mut self, pointer: impl Pointer, message: impl Into<String>) {
        self.errors
            .push(FieldError::new(pointer.into_pointer(), message));
    }

    /// `v` as an object whose keys are all in `allowed` (unknown keys are reported, in sorted
    /// order so that the report does not depend on the map's iteration order).
    fn object<'a>(
        &mut self,
        v: &'a Value,
        at: &Step<'_>,
        allowed: &[&str],
    ) -> Option<&'a Map<String, Value>> {
        let Value::Object(m) = v else {
            self.err(at, "must be an object");
            return None;
        };
        self.unknown_keys(m, at, allowed, "field");
        Some(m)
    }

    fn unknown_keys(
        &mut self,
        m: &Map<String, Value>,
        at: &Step<'_>,
        allowed: &[&str],
        what: &str,
    ) {
        let mut unknown: Vec<&String> = m
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .collect();
        if unknown.is_empty() {
            return;
        }
        unknown.sort();
        let expected: Vec<&str> = allowed.iter().copied().filter(|k| *k != "id").collect();
        for k in unknown {
            self.err(
                &at.key(k),
                format!("unknown {what}; expected one of: {}", expected.join(", ")),
            );
        }
    }

    fn required<'a>(
        &mut self,
        m: &'a Map<String, Value>,
        at: &Step<'_>,
        key: &str,
    ) -> Option<&'a Value> {
        let v = m.get(key);
        if v.is_none() {
            self.err(&at.key(key), "missing");
        }
        v
    }

    fn string<'a>(&mut self, v: &'a Value, at: &Step<'_>) -> Option<&'a str> {
        match v {
            Value::String(s) => Some(s),
            _ => {
                self.err(at, "must be a string");
                None
            }
        }
    }

    fn id(&mut self, v: &Value, at: &Step<'_>) -> Option<String> {
        let s = self.string(v, at)?;
        match check_id(s) {
            Ok(()) => Some(s.to_owned()),
            Err(m) => {
                self.err(at, m);
                None
            }
        }
    }

    /// The optional field `key` of `m`: absent (`Some(None)`), or a finite number of `unit`
    /// above 0 and at most `max`.
    fn optional_positive(
        &mut self,
        m: &Map<String, Value>,
        at: &Step<'_>,
        key: &str,
        max: f64,
        unit: &str,
    ) -> Option<Option<f64>> {
        let Some(v) = m.get(key) else {
            return Some(None);
        };
        match v.as_f64().filter(|x| x.is_finite()) {
            Some(x) if x > 0.0 && x <= max => Some(Some(x)),
            _ => {
                self.err(
                    &at.key(key),
                    format!("must be a number of {unit} above 0 and at most {max}"),
                );
                None
            }
        }
    }

    /// A finite number in `[min, max]`.
    fn number(&mut self, v: &Value, at: &Step<'_>, min: f64, max: f64, unit: &str) -> Option<f64> {
        let n = match v {
            Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
            _ => None,
        };
        match n {
            Some(x) if (min..=max).contains(&x) => Some(x),
            _ => {
                self.err(at, format!("must be a number from {min} to {max}{unit}"));
                None
            }
        }
    }

    /// An integer in `[min, max]`.
    fn integer(&mut self, v: &Value, at: &Step<'_>, min: u64, max: u64) -> Option<u32> {
        match v.as_u64() {
            Some(x) if (min..=max).contains(&x) => u32::try_from(x).ok(),
            _ => {
                self.err(at, format!("must be an integer from {min} to {max}"));
                None
            }
        }
    }

    fn time(&mut self, v: &Value, at: &Step<'_>) -> Option<Timestamp> {
        let s = self.string(v, at)?;
        match s.parse::<Timestamp>() {
            Ok(t) => Some(t),
            Err(e) => {
                self.err(at, format!("not an RFC 3339 time with offset: {e}"));
                None
            }
        }
    }

    fn name<T: FromStr<Err = UnknownValue>>(&mut self, v: &Value, at: &Step<'_>) -> Option<T> {
        let s = self.string(v, at)?;
        match s.parse::<T>() {
            Ok(x) => Some(x),
            Err(e) => {
                self.err(at, e.to_string());
                None
            }
        }
    }

    /// A JSON array of exactly two numbers, each in `[min, max]`.
    fn pair(
        &mut self,
        v: &Value,
        at: &Step<'_>,
        min: f64,
        max: f64,
        unit: &str,
    ) -> Option<[f64; 2]> {
        match v {
            Value::Array(a) if a.len() == 2 => {
                let x = self.number(&a[0], &at.index(0), min, max, unit);
                let y = self.number(&a[1], &at.index(1), min, max, unit);
                Some([x?, y?])
            }
            _ => {
                self.err(at, "must be an array of two numbers");
                None
            }
        }
    }

    fn position(&mut self, v: &Value, at: &Step<'_>) -> Option<Position> {
        let m = self.object(v, at, POSITION_FIELDS)?;
        let (lat, lon) = self.lat_lon(m, at);
        Some(Position {
            lat: lat?,
            lon: lon?,
        })
    }

    fn lat_lon(&mut self, m: &Map<String, Value>, at: &Step<'_>) -> (Option<f64>, Option<f64>) {
        let lat = self
            .required(m, at, "lat")
            .and_then(|v| self.number(v, &at.key("lat"), -90.0, 90.0, " (degrees)"));
        let lon = self
            .required(m, at, "lon")
            .and_then(|v| self.number(v, &at.key("lon"), -180.0, 180.0, " (degrees)"));
        (lat, lon)
    }

    fn observation(&mut self, obj: &Map<String, Value>) -> Option<Observation> {
        let root = &Step::Root;
        self.unknown_keys(obj, root, TOP_FIELDS, "field");
        let agreement = self
            .required(obj, root, "agreement")
            .and_then(|v| self.id(v, &root.key("agreement")));
        let observed = self
            .required(obj, root, "observed")
            .and_then(|v| self.window(v, &root.key("observed")));
        // `None` = absent; `Some(None)` = present but invalid.
        let observer = obj
            .get("observer")
            .map(|v| self.observer(v, &root.key("observer")));
        let event = self
            .required(obj, root, "event")
            .and_then(|v| self.event(v, &root.key("event")));
        let casualties = match obj.get("casualties") {
            None => Some(BTreeMap::new()),
            Some(v) => self.casualties(v, &root.key("casualties")),
        };
        let grading = match obj.get("grading") {
            None => Some(Grading::default()),
            Some(v) => self.grading(v, &root.key("grading")),
        };
        let evidence = match obj.get("evidence") {
            None => Some(Vec::new()),
            Some(v) => self.evidence(v, &root.key("evidence")),
        };
        let narrative = match obj.get("narrative") {
            None => Some(None),
            Some(v) => self.narrative(v, &root.key("narrative")).map(Some),
        };
        let alleged_party = match obj.get("alleged_party") {
            None => Some(None),
            Some(v) => self.id(v, &root.key("alleged_party")).map(Some),
        };

        // Exactly one way of locating the event, judged on which fields are present (an
        // invalid field still counts as given: its own error says what is wrong with it).
        let event_obj = obj.get("event").and_then(Value::as_object);
        let has_location = event_obj.is_some_and(|e| e.contains_key("location"));
        let has_sector = event_obj.is_some_and(|e| e.contains_key("sector"));
        let observer_value = obj.get("observer");
        let has_position = observer_value
            .and_then(Value::as_object)
            .is_some_and(|o| o.contains_key("position"));
        // An `observer` that is not an object has its own error; do not pile another on it.
        let observer_broken = observer_value.is_some_and(|v| !v.is_object());
        if obj.get("event").is_some_and(Value::is_object) {
            match (has_location, has_sector) {
                (true, true) => self.err(
                    "/event/sector",
                    "give either event.location or event.sector (with observer.position), not both",
                ),
                (false, false) => self.err(
                    "/event/location",
                    "missing: locate the event with event.location, or with observer.position \
                     and event.sector",
                ),
                (false, true) if !has_position && !observer_broken => self.err(
                    "/observer/position",
                    "missing: event.sector is measured from the observer's position",
                ),
                _ => {}
            }
        }

        let observer = match observer {
            None => None,
            Some(o) => Some(o?),
        };
        let event = event?;
        let point = match (&event.location, &event.sector) {
            (Some(l), None) => EventPoint {
                lat: l.lat,
                lon: l.lon,
                radius_m: l.radius_m.unwrap_or(DEFAULT_RADIUS_M),
            },
            (None, Some(s)) => s.locate(observer.as_ref()?.position?),
            _ => return None,
        };
        Some(Observation {
            agreement: agreement?,
            observed: observed?,
            observer,
            event,
            casualties: casualties?,
            grading: grading?,
            evidence: evidence?,
            narrative: narrative?,
            alleged_party: alleged_party?,
            point,
        })
    }

    fn window(&mut self, v: &Value, at: &Step<'_>) -> Option<Window> {
        let m = self.object(v, at, OBSERVED_FIELDS)?;
        let from = self
            .required(m, at, "from")
            .and_then(|v| self.time(v, &at.key("from")));
        let to = self
            .required(m, at, "to")
            .and_then(|v| self.time(v, &at.key("to")));
        let (from, to) = (from?, to?);
        if to < from {
            self.err(
                &at.key("to"),
                format!("{to} is before observed.from ({from})"),
            );
            return None;
        }
        let secs = to.as_second().saturating_sub(from.as_second());
        if secs > MAX_WINDOW_SECONDS {
            self.err(
                &at.key("to"),
                format!(
                    "the window is {secs} s long; at most {MAX_WINDOW_SECONDS} s \
                     ({MAX_WINDOW_DAYS} days)"
                ),
            );
            return None;
        }
        Some(Window { from, to })
    }

    fn observer(&mut self, v: &Value, at: &Step<'_>) -> Option<Observer> {
        let m = self.object(v, at, OBSERVER_FIELDS)?;
        let position = match m.get("position") {
            None => Some(None),
            Some(v) => self.position(v, &at.key("position")).map(Some),
        };
        let mode = match m.get("mode") {
            None => Some(None),
            Some(v) => self.name::<ObserverMode>(v, &at.key("mode")).map(Some),
        };
        Some(Observer {
            position: position?,
            mode: mode?,
        })
    }

    fn event(&mut self, v: &Value, at: &Step<'_>) -> Option<Event> {
        let m = self.object(v, at, EVENT_FIELDS)?;
        let event_type = self
            .required(m, at, "type")
            .and_then(|v| self.name::<EventType>(v, &at.key("type")));
        let count = match m.get("count") {
            None => Some(1),
            Some(v) => self.integer(v, &at.key("count"), 1, MAX_COUNT),
        };
        let approx = match m.get("approx") {
            None => Some(false),
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.err(&at.key("approx"), "must be true or false");
                None
            }
        };
        let location = match m.get("location") {
            None => Some(None),
            Some(v) => self.location(v, &at.key("location")).map(Some),
        };
        let sector = match m.get("sector") {
            None => Some(None),
            Some(v) => self.sector(v, &at.key("sector")).map(Some),
        };
        let direction = match m.get("direction") {
            None => Some(None),
            Some(v) => self.direction(v, &at.key("direction")).map(Some),
        };
        let weapon = match m.get("weapon") {
            None => Some(None),
            Some(v) => self.weapon(v, &at.key("weapon")).map(Some),
        };
        let targets = match m.get("targets") {
            None => Some(Vec::new()),
            Some(v) => self.targets(v, &at.key("targets")),
        };
        Some(Event {
            event_type: event_type?,
            count: count?,
            approx: approx?,
            location: location?,
            sector: sector?,
            direction: direction?,
            weapon: weapon?,
            targets: targets?,
        })
    }

    fn location(&mut self, v: &Value, at: &Step<'_>) -> Option<Location> {
        let m = self.object(v, at, LOCATION_FIELDS)?;
        let (lat, lon) = self.lat_lon(m, at);
        let radius_m = self.optional_positive(m, at, "radius_m", MAX_RADIUS_M, "metres");
        Some(Location {
            lat: lat?,
            lon: lon?,
            radius_m: radius_m?,
        })
    }

    fn sector(&mut self, v: &Value, at: &Step<'_>) -> Option<Sector> {
        let m = self.object(v, at, SECTOR_FIELDS)?;
        let bearing = self
            .required(m, at, "bearing_deg")
            .and_then(|v| self.pair(v, &at.key("bearing_deg"), 0.0, 360.0, " (degrees)"));
        let distance_at = at.key("distance_km");
        let distance = self
            .required(m, at, "distance_km")
            .and_then(|v| self.pair(v, &distance_at, 0.0, MAX_SECTOR_KM, " (km)"))
            .and_then(|[near, far]| {
                if far < near {
                    self.err(
                        &distance_at.index(1),
                        format!("the far distance ({far} km) is below the near one ({near} km)"),
                    );
                    None
                } else if far <= 0.0 {
                    self.err(
                        &distance_at.index(1),
                        "the far distance must be above 0 (an event at the observer's position \
                         is located with event.location)",
                    );
                    None
                } else {
                    Some([near, far])
                }
            });
        Some(Sector {
            bearing_deg: bearing?,
            distance_km: distance?,
        })
    }

    fn direction(&mut self, v: &Value, at: &Step<'_>) -> Option<Direction> {
        let m = self.object(v, at, DIRECTION_FIELDS)?;
        let b = self
            .required(m, at, "origin_bearing_deg")
            .and_then(|v| self.number(v, &at.key("origin_bearing_deg"), 0.0, 360.0, " (degrees)"));
        Some(Direction {
            origin_bearing_deg: b?,
        })
    }

    fn weapon(&mut self, v: &Value, at: &Step<'_>) -> Option<Weapon> {
        let m = self.object(v, at, WEAPON_FIELDS)?;
        let class = self
            .required(m, at, "class")
            .and_then(|v| self.name::<WeaponClass>(v, &at.key("class")));
        let calibre_mm = self.optional_positive(m, at, "calibre_mm", MAX_CALIBRE_MM, "millimetres");
        Some(Weapon {
            class: class?,
            calibre_mm: calibre_mm?,
        })
    }

    fn targets(&mut self, v: &Value, at: &Step<'_>) -> Option<Vec<Target>> {
        let Value::Array(a) = v else {
            self.err(at, "must be an array of target names");
            return None;
        };
        if a.len() > Target::ALL.len() {
            self.err(
                at,
                format!("at most {} targets (each listed once)", Target::ALL.len()),
            );
            return None;
        }
        let mut out = Vec::with_capacity(a.len());
        let mut ok = true;
        for (i, t) in a.iter().enumerate() {
            let p = at.index(i);
            match self.name::<Target>(t, &p) {
                Some(t) if out.contains(&t) => {
                    self.err(&p, format!("{t} is listed twice"));
                    ok = false;
                }
                Some(t) => out.push(t),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn casualties(&mut self, v: &Value, at: &Step<'_>) -> Option<BTreeMap<CasualtyKind, Estimate>> {
        let Value::Object(m) = v else {
            self.err(at, "must be an object of casualty estimates");
            return None;
        };
        self.unknown_keys(m, at, CasualtyKind::NAMES, "casualty category");
        let mut out = BTreeMap::new();
        let mut ok = true;
        for kind in CasualtyKind::ALL {
            if let Some(v) = m.get(kind.as_str()) {
                match self.estimate(v, &at.key(kind.as_str())) {
                    Some(e) => {
                        out.insert(*kind, e);
                    }
                    None => ok = false,
                }
            }
        }
        let unknown = m.keys().any(|k| !CasualtyKind::NAMES.contains(&k.as_str()));
        (ok && !unknown).then_some(out)
    }

    fn estimate(&mut self, v: &Value, at: &Step<'_>) -> Option<Estimate> {
        let m = self.object(v, at, ESTIMATE_FIELDS)?;
        let get = |r: &mut Reader, k: &str| {
            r.required(m, at, k)
                .and_then(|v| r.integer(v, &at.key(k), 0, MAX_CASUALTIES))
        };
        let low = get(self, "low");
        let best = get(self, "best");
        let high = get(self, "high");
        let (low, best, high) = (low?, best?, high?);
        let mut ok = true;
        if low > best {
            self.err(&at.key("low"), format!("{low} is above best ({best})"));
            ok = false;
        }
        if best > high {
            self.err(&at.key("high"), format!("{high} is below best ({best})"));
            ok = false;
        }
        ok.then_some(Estimate { low, best, high })
    }

    fn grading(&mut self, v: &Value, at: &Step<'_>) -> Option<Grading> {
        let m = self.object(v, at, GRADING_FIELDS)?;
        let c = self
            .required(m, at, "credibility")
            .and_then(|v| self.integer(v, &at.key("credibility"), 1, 6))?;
        Some(Grading {
            credibility: u8::try_from(c).ok()?,
        })
    }

    fn evidence(&mut self, v: &Value, at: &Step<'_>) -> Option<Vec<Evidence>> {
        let Value::Array(a) = v else {
            self.err(at, "must be an array of evidence items");
            return None;
        };
        if a.len() > MAX_EVIDENCE {
            self.err(at, format!("at most {MAX_EVIDENCE} evidence items"));
            return None;
        }
        let mut out: Vec<Evidence> = Vec::with_capacity(a.len());
        let mut ok = true;
        for (i, item) in a.iter().enumerate() {
            let item_at = at.index(i);
            match self.evidence_item(item, &item_at) {
                Some(e) if out.iter().any(|x| x.sha256 == e.sha256) => {
                    self.err(
                        &item_at.key("sha256"),
                        "this sha256 is listed twice in evidence",
                    );
                    ok = false;
                }
                Some(e) => out.push(e),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn evidence_item(&mut self, v: &Value, at: &Step<'_>) -> Option<Evidence> {
        let m = self.object(v, at, EVIDENCE_FIELDS)?;
        let sha_at = at.key("sha256");
        let sha256 = self
            .required(m, at, "sha256")
            .and_then(|v| self.string(v, &sha_at))
            .and_then(|s| {
                if is_sha256_hex(s) {
                    Some(s.to_owned())
                } else {
                    self.err(&sha_at, "must be 64 lowercase hexadecimal digits (sha256)");
                    None
                }
            });
        let mt_at = at.key("media_type");
        let media_type = self
            .required(m, at, "media_type")
            .and_then(|v| self.string(v, &mt_at))
            .and_then(|s| {
                if is_media_type(s) {
                    Some(s.to_owned())
                } else {
                    self.err(
                        &mt_at,
                        "must be a media type `type/subtype` such as image/jpeg (RFC 6838 \
                         names, no parameters)",
                    );
                    None
                }
            });
        let role = match m.get("role") {
            None => Some(EvidenceRole::Evidentiary),
            Some(v) => self.name::<EvidenceRole>(v, &at.key("role")),
        };
        Some(Evidence {
            sha256: sha256?,
            media_type: media_type?,
            role: role?,
        })
    }

    fn narrative(&mut self, v: &Value, at: &Step<'_>) -> Option<String> {
        let s = self.string(v, at)?;
        let chars = s.chars().count();
        if chars > MAX_NARRATIVE_CHARS {
            self.err(
                at,
                format!("{chars} characters; at most {MAX_NARRATIVE_CHARS}"),
            );
            return None;
        }
        if s.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            self.err(
                at,
                "control characters other than newline, carriage return and tab are not allowed",
            );
            return None;
        }
        Some(s.to_owned())
    }
}

/// `type/subtype` with RFC 6838 restricted names (1–127 characters, starting with a letter or
/// digit; then letters, digits and `!#$&-^_.+`), no parameters, at most [`MAX_MEDIA_TYPE_LEN`].
fn is_media_type(s: &str) -> bool {
    fn name(n: &str) -> bool {
        let b = n.as_bytes();
        !b.is_empty()
            && b.len() <= 127
            && b[0].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(c))
    }
    s.len() <= MAX_MEDIA_TYPE_LEN
        && s.split_once('/')
            .is_some_and(|(t, sub)| name(t) && name(sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
    }

    const P0: Position = Position { lat: 0.0, lon: 0.0 };

    #[test]
    fn haversine_hand_values() {
        // One degree of arc: R·π/180.
        let one_degree = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        close(one_degree, 111_195.080_2, 1e-3);
        close(
            haversine_m(P0, Position { lat: 0.0, lon: 1.0 }),
            one_degree,
            1e-6,
        );
        close(
            haversine_m(P0, Position { lat: 1.0, lon: 0.0 }),
            one_degree,
            1e-6,
        );
        // Pole to pole: half the circumference.
        close(
            haversine_m(
                Position {
                    lat: 90.0,
                    lon: 0.0,
                },
                Position {
                    lat: -90.0,
                    lon: 0.0,
                },
            ),
            EARTH_RADIUS_M * std::f64::consts::PI,
            1e-6,
        );
        // At 60° latitude a degree of longitude is (nearly) half as long: the great circle
        // is a little shorter than the parallel. 2R·asin(cos 60° · sin 0.5°).
        let expected = 2.0 * EARTH_RADIUS_M * (0.5f64 * 0.5f64.to_radians().sin()).asin();
        close(expected, 55_597.01, 0.01);
        close(
            haversine_m(
                Position {
                    lat: 60.0,
                    lon: 10.0,
                },
                Position {
                    lat: 60.0,
                    lon: 11.0,
                },
            ),
            expected,
            1e-6,
        );
        // Symmetric, and zero on the same point.
        let a = Position {
            lat: 48.43,
            lon: 38.22,
        };
        let b = Position {
            lat: 48.41,
            lon: 38.31,
        };
        close(haversine_m(a, b), haversine_m(b, a), 1e-9);
        assert_eq!(haversine_m(a, a), 0.0);
    }

    #[test]
    fn destination_hand_values() {
        // Due east along the equator by one degree of arc.
        let d = EARTH_RADIUS_M.to_radians();
        let p = destination(P0, 90.0, d);
        close(p.lat, 0.0, 1e-12);
        close(p.lon, 1.0, 1e-12);
        // Due north by 1,000 km: 1e6 / R radians = 8.993204°.
        let p = destination(P0, 0.0, 1_000_000.0);
        close(p.lat, (1_000_000.0 / EARTH_RADIUS_M).to_degrees(), 1e-12);
        close(p.lat, 8.993_204, 1e-6);
        close(p.lon, 0.0, 1e-12);
        // Due west across the antimeridian wraps to the eastern hemisphere.
        let p = destination(
            Position {
                lat: 0.0,
                lon: -179.5,
            },
            270.0,
            d,
        );
        close(p.lon, 179.5, 1e-9);
        // And back: the distance travelled is the distance between the points.
        let from = Position {
            lat: 48.43,
            lon: 38.22,
        };
        let to = destination(from, 123.0, 4_321.0);
        close(haversine_m(from, to), 4_321.0, 1e-6);
    }

    fn sector(b: [f64; 2], d: [f64; 2]) -> Sector {
        Sector {
            bearing_deg: b,
            distance_km: d,
        }
    }

    #[test]
    fn sector_middle_and_width() {
        close(
            sector([100.0, 140.0], [2.0, 6.0]).middle_bearing_deg(),
            120.0,
            0.0,
        );
        close(sector([350.0, 10.0], [2.0, 6.0]).width_deg(), 20.0, 0.0);
        close(
            sector([350.0, 10.0], [2.0, 6.0]).middle_bearing_deg(),
            0.0,
            0.0,
        );
        close(sector([0.0, 360.0], [2.0, 6.0]).width_deg(), 360.0, 0.0);
        close(
            sector([0.0, 360.0], [2.0, 6.0]).middle_bearing_deg(),
            180.0,
            0.0,
        );
        close(sector([30.0, 30.0], [2.0, 6.0]).width_deg(), 0.0, 0.0);
    }

    #[test]
    fn sector_point_on_the_equator() {
        // Observer at (0, 0), sector 80°–100°, 2–6 km: the centre is 4 km due east, i.e. at
        // longitude 4,000 / R rad = 0.03597281°. The farthest of the six points are the far
        // corners, at 6 km and ±10° from east: in the plane (5.90885, ±1.04189) km from the
        // observer, so sqrt(1.90885² + 1.04189²) = 2.174679 km from the centre (the sphere
        // differs from the plane by far less than a millimetre at this scale).
        let p = sector([80.0, 100.0], [2.0, 6.0]).locate(P0);
        close(p.lat, 0.0, 1e-12);
        close(p.lon, (4_000.0 / EARTH_RADIUS_M).to_degrees(), 1e-12);
        close(p.lon, 0.035_972_81, 1e-8);
        let (c, s) = (10f64.to_radians().cos(), 10f64.to_radians().sin());
        let planar = ((6.0 * c - 4.0).powi(2) + (6.0 * s).powi(2)).sqrt() * 1_000.0;
        close(planar, 2_174.679, 1e-3);
        close(p.radius_m, planar, 0.01);
    }

    #[test]
    fn sector_point_zero_width_and_near_zero() {
        // A single bearing: the radius is half the depth.
        let p = sector([0.0, 0.0], [2.0, 6.0]).locate(P0);
        close(p.lat, (4_000.0 / EARTH_RADIUS_M).to_degrees(), 1e-12);
        close(p.lon, 0.0, 1e-12);
        close(p.radius_m, 2_000.0, 1e-6);
        // From the observer out to 10 km, 90° wide facing north: centre 5 km north; the far
        // corners at ±45°: (±7.0711, 7.0711) km, distance sqrt(7.0711² + 2.0711²) = 7.3681 km.
        let p = sector([315.0, 45.0], [0.0, 10.0]).locate(P0);
        close(p.lat, (5_000.0 / EARTH_RADIUS_M).to_degrees(), 1e-12);
        let h = 10.0 * std::f64::consts::FRAC_1_SQRT_2;
        close(
            p.radius_m,
            (h * h + (h - 5.0).powi(2)).sqrt() * 1_000.0,
            0.5,
        );
        close(p.radius_m, 7_368.1, 0.5);
    }

    #[test]
    fn media_types() {
        for ok in [
            "image/jpeg",
            "video/mp4",
            "application/vnd.truce.x+json",
            "audio/x-wav",
        ] {
            assert!(is_media_type(ok), "{ok}");
        }
        for bad in [
            "",
            "image",
            "image/",
            "/jpeg",
            "image/jpeg; q=1",
            "image/jp eg",
            "a/b/c",
            ".image/jpeg",
        ] {
            assert!(!is_media_type(bad), "{bad}");
        }
    }
}
