//! ACLED: one observation per event whose sub-event type is a ceasefire observation, by the table
//! of docs/import.md ([`ACLED_SUB_EVENT_TYPES`]).
//!
//! ACLED codes political violence and demonstrations alike; only the sub-event types that a §5
//! event type describes become observations, and the others are rejects that say why (an import
//! must not turn a protest into a violation). Precisions become an uncertainty radius and an
//! observed window; fatalities are civilian when ACLED says the civilians were targeted, else of
//! unknown status.

use jiff::ToSpan as _;
use jiff::civil::Date;
use serde_json::{Map, Value, json};
use truce_model::observation::MAX_CASUALTIES;

use super::Mapped;
use super::cells::{Cells, Columns, MAX_FIELD_CHARS, day_event, estimate, or_none};
use super::records::CsvFormat;
use crate::text::bounded;

/// The ACLED CSV format.
pub(super) const ACLED: CsvFormat = CsvFormat {
    columns: ACLED_COLUMNS,
    described: "an ACLED CSV",
    map: map_acled,
};

/// Longest ACLED `notes` taken into a narrative, in characters.
const MAX_NOTES_CHARS: usize = 1_500;

/// The columns an ACLED file must have (docs/import.md).
const ACLED_COLUMNS: &[&str] = &[
    "event_id_cnty",
    "event_date",
    "sub_event_type",
    "geo_precision",
    "fatalities",
    "latitude",
    "longitude",
    "notes",
];

/// What an ACLED sub-event type becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AcledMapping {
    /// An observation of this event type.
    Event(&'static str),
    /// A known ACLED sub-event type that no §5 event type describes; the reason says why.
    OutOfScope(&'static str),
}

/// The documented table of docs/import.md: ACLED `sub_event_type` (lower case) → mapping.
pub(super) const ACLED_SUB_EVENT_TYPES: &[(&str, AcledMapping)] = {
    use AcledMapping::{Event, OutOfScope};
    const NOT_FIRE: &str = "not a ceasefire observation (no fire, presence or harm event)";
    &[
        // Battles
        ("armed clash", Event("shot")),
        ("government regains territory", Event("forces-presence")),
        (
            "non-state actor overtakes territory",
            Event("forces-presence"),
        ),
        // Explosions/Remote violence
        ("shelling/artillery/missile attack", Event("impact")),
        ("air/drone strike", Event("strike")),
        ("remote explosive/landmine/ied", Event("explosion")),
        ("grenade", Event("explosion")),
        ("suicide bomb", Event("explosion")),
        (
            "chemical weapon",
            OutOfScope(
                "no observation event type describes the use of a chemical agent; report it \
                 with an explicit type (GeoJSON import) after review",
            ),
        ),
        // Violence against civilians
        ("attack", Event("casualty")),
        (
            "sexual violence",
            OutOfScope(
                "not a ceasefire observation type (harm to persons other than killed or injured)",
            ),
        ),
        (
            "abduction/forced disappearance",
            OutOfScope(
                "not a ceasefire observation type (harm to persons other than killed or injured)",
            ),
        ),
        // Strategic developments
        ("looting/property destruction", Event("damage")),
        ("headquarters or base established", Event("forces-presence")),
        (
            "disrupted weapons use",
            OutOfScope(
                "a weapon intercepted or defused is not an observed strike or impact, and ACLED \
                 does not say which",
            ),
        ),
        ("agreement", OutOfScope(NOT_FIRE)),
        ("arrests", OutOfScope(NOT_FIRE)),
        ("change to group/activity", OutOfScope(NOT_FIRE)),
        ("non-violent transfer of territory", OutOfScope(NOT_FIRE)),
        ("other", OutOfScope(NOT_FIRE)),
        // Protests and riots
        ("peaceful protest", OutOfScope(NOT_FIRE)),
        ("protest with intervention", OutOfScope(NOT_FIRE)),
        ("excessive force against protesters", OutOfScope(NOT_FIRE)),
        ("excessive force against protestors", OutOfScope(NOT_FIRE)),
        ("violent demonstration", OutOfScope(NOT_FIRE)),
        ("mob violence", OutOfScope(NOT_FIRE)),
    ]
};

pub(super) fn acled_sub_event(s: &str) -> Option<AcledMapping> {
    let lower = s.trim().to_lowercase();
    ACLED_SUB_EVENT_TYPES
        .iter()
        .find(|(k, _)| *k == lower)
        .map(|(_, m)| *m)
}

/// `geo_precision` → (radius in metres, meaning).
fn acled_geo_precision(p: u64) -> (f64, &'static str) {
    match p {
        1 => (5_000.0, "the town or place named"),
        2 => (
            25_000.0,
            "near the place named, or part of a region (nearest town)",
        ),
        _ => (150_000.0, "only a larger region is known (its capital)"),
    }
}

/// `time_precision` → (first day, last day, meaning).
fn acled_window(d: Date, p: u64) -> Option<(Date, Date, &'static str)> {
    Some(match p {
        1 => (d, d, "the day"),
        2 => (
            d.checked_sub(6.days()).ok()?,
            d.checked_add(6.days()).ok()?,
            "the week (every week that contains event_date)",
        ),
        _ => (d.first_of_month(), d.last_of_month(), "the month"),
    })
}

/// Maps one ACLED record (see [`super::ucdp::map_ucdp`]).
pub(super) fn map_acled(cols: &Columns, rec: &csv::ByteRecord) -> Mapped {
    let mut c = Cells::new(cols, rec);
    let row = AcledRow::read(&mut c);
    let window = row.window(&mut c);
    let payload = row.event(window).map(|event| event.payload());
    (row.id.clone(), c.finish(payload))
}

/// One ACLED record's columns as read: `None` where a column is missing or invalid (and that is
/// recorded as a problem of the row).
struct AcledRow<'a> {
    id: Option<String>,
    date: Option<Date>,
    time_precision: Option<u64>,
    sub_event_type: Option<&'a str>,
    /// The observation event type of the sub-event type.
    event_type_of: Option<&'static str>,
    geo_precision: Option<u64>,
    fatalities: Option<u64>,
    lat: Option<f64>,
    lon: Option<f64>,
    notes: &'a str,
    event_type: Option<&'a str>,
    civilian_targeting: Option<&'a str>,
    actor1: Option<&'a str>,
    actor2: Option<&'a str>,
    location: Option<&'a str>,
    admin1: Option<&'a str>,
    source: Option<&'a str>,
}

impl<'a> AcledRow<'a> {
    /// Reads every column the mapping uses, in the order its problems are reported in.
    fn read(c: &mut Cells<'a>) -> AcledRow<'a> {
        let id = c.entry_id("event_id_cnty", "acled-");
        let date = c.date("event_date");
        let time_precision = match c.optional("time_precision") {
            None => Some(1),
            Some(_) => c.integer("time_precision", 1, 3),
        };
        let sub_event_type = c.text("sub_event_type");
        let event_type_of = sub_event_type.and_then(|s| observation_type(c, s));
        AcledRow {
            id,
            date,
            time_precision,
            sub_event_type,
            event_type_of,
            geo_precision: c.integer("geo_precision", 1, 3),
            fatalities: c.integer("fatalities", 0, MAX_CASUALTIES),
            lat: c.degrees("latitude", 90.0),
            lon: c.degrees("longitude", 180.0),
            notes: c.raw("notes").unwrap_or(""),
            event_type: c.optional("event_type"),
            civilian_targeting: c.optional("civilian_targeting"),
            actor1: c.optional("actor1"),
            actor2: c.optional("actor2"),
            location: c.optional("location"),
            admin1: c.optional("admin1"),
            source: c.optional("source"),
        }
    }

    /// The observed window around `event_date`, by `time_precision`.
    fn window(&self, c: &mut Cells<'_>) -> Option<(Date, Date, &'static str)> {
        let (d, p) = (self.date?, self.time_precision?);
        let w = acled_window(d, p);
        if w.is_none() {
            c.fail(
                "event_date",
                format!("{d}: the window around it is out of range"),
            );
        }
        w
    }

    /// The event, if every column it needs was read.
    fn event(&self, window: Option<(Date, Date, &'static str)>) -> Option<AcledEvent<'_, 'a>> {
        Some(AcledEvent {
            id: self.id.as_deref()?,
            date: self.date?,
            time_precision: self.time_precision?,
            event_type_of: self.event_type_of?,
            geo_precision: self.geo_precision?,
            fatalities: self.fatalities?,
            lat: self.lat?,
            lon: self.lon?,
            window: window?,
            row: self,
        })
    }
}

/// The observation event type of ACLED sub-event type `s`; a type out of scope, or unknown, is a
/// problem of the row.
fn observation_type(c: &mut Cells<'_>, s: &str) -> Option<&'static str> {
    match acled_sub_event(s) {
        Some(AcledMapping::Event(t)) => Some(t),
        Some(AcledMapping::OutOfScope(why)) => {
            c.fail("sub_event_type", format!("{:?}: {why}", bounded(s, 80)));
            None
        }
        None => {
            c.fail(
                "sub_event_type",
                format!(
                    "{:?} is not an ACLED sub-event type this import knows (docs/import.md lists \
                     them)",
                    bounded(s, 80)
                ),
            );
            None
        }
    }
}

/// An ACLED record with every column the observation needs.
struct AcledEvent<'r, 'a> {
    id: &'r str,
    date: Date,
    time_precision: u64,
    event_type_of: &'static str,
    geo_precision: u64,
    fatalities: u64,
    lat: f64,
    lon: f64,
    /// First day, last day, and what the window is.
    window: (Date, Date, &'static str),
    row: &'r AcledRow<'a>,
}

impl AcledEvent<'_, '_> {
    /// The observation payload (docs/import.md).
    fn payload(&self) -> Map<String, Value> {
        let (radius_m, _) = acled_geo_precision(self.geo_precision);
        let (from, to, _) = self.window;
        // ACLED's fatalities are one figure: the victims of violence against civilians are
        // civilians; otherwise their status is unknown.
        let kind = if self.civilian() {
            "civilian_killed"
        } else {
            "unknown_killed"
        };
        let f = self.fatalities;
        day_event(
            (from, to),
            self.event_type_of,
            (self.lat, self.lon, radius_m),
            json!({ kind: estimate(f, f, f) }),
            &self.narrative(),
        )
    }

    /// Whether ACLED says the victims were civilians.
    fn civilian(&self) -> bool {
        self.row
            .event_type
            .is_some_and(|t| t.eq_ignore_ascii_case("violence against civilians"))
            || self.row.civilian_targeting.is_some()
    }

    /// Everything the row says, in words: what, where, when, who, the fatalities, the notes,
    /// the source.
    fn narrative(&self) -> String {
        let r = self.row;
        let mut text = format!(
            "ACLED event {}: {}",
            self.id.trim_start_matches("acled-"),
            bounded(r.sub_event_type.unwrap_or_default(), MAX_FIELD_CHARS)
        );
        if let Some(t) = r.event_type {
            text.push_str(&format!(" ({})", bounded(t, MAX_FIELD_CHARS)));
        }
        text.push_str(&self.where_and_when());
        if r.actor1.is_some() || r.actor2.is_some() {
            text.push_str(&format!(
                " Actors: {}; {} (ACLED's actors do not imply who fired).",
                or_none(&bounded(r.actor1.unwrap_or(""), MAX_FIELD_CHARS)),
                or_none(&bounded(r.actor2.unwrap_or(""), MAX_FIELD_CHARS))
            ));
        }
        if r.civilian_targeting.is_some() {
            text.push_str(" Civilian targeting.");
        }
        text.push_str(&format!(" Fatalities: {}.", self.fatalities));
        let notes = bounded(r.notes, MAX_NOTES_CHARS);
        if !notes.is_empty() {
            text.push_str(&format!(" Notes: {notes}"));
            if !notes.ends_with('.') {
                text.push('.');
            }
        }
        if let Some(s) = r.source {
            text.push_str(&format!(" Reported by: {}.", bounded(s, MAX_FIELD_CHARS)));
        }
        text.push_str(" Source: Armed Conflict Location & Event Data (ACLED), acleddata.com.");
        text
    }

    /// `. Where: … When: ….`, with the precisions and what they mean.
    fn where_and_when(&self) -> String {
        let (radius_m, where_meaning) = acled_geo_precision(self.geo_precision);
        let (_, _, when) = self.window;
        let place: Vec<String> = [self.row.location, self.row.admin1]
            .into_iter()
            .flatten()
            .map(|s| bounded(s, MAX_FIELD_CHARS))
            .collect();
        format!(
            ". Where: {} (geo_precision {}: {where_meaning}; radius {} km). When: {} \
             (time_precision {}: {when}).",
            or_none(&place.join(", ")),
            self.geo_precision,
            radius_m / 1_000.0,
            self.date,
            self.time_precision
        )
    }
}
