//! UCDP GED: one observation of type `casualty` per event, as docs/import.md specifies.
//!
//! GED events are the deaths of organised violence, each with a location and a date range of
//! stated precision; the mapping turns the precisions into an uncertainty radius and an observed
//! window, splits the deaths by status, and keeps everything else the row says (sides, conflict,
//! clarity, sources) in the narrative, so that nothing the source claims is lost or sharpened.

use jiff::civil::Date;
use serde_json::{Map, Value, json};
use truce_model::observation::{MAX_CASUALTIES, MAX_RADIUS_M};

use super::Mapped;
use super::cells::{Cells, Columns, MAX_FIELD_CHARS, day_event, estimate, or_none};
use super::records::CsvFormat;
use crate::text::bounded;

/// The UCDP GED CSV format.
pub(super) const UCDP: CsvFormat = CsvFormat {
    columns: UCDP_COLUMNS,
    described: "a UCDP GED CSV",
    map: map_ucdp,
};

/// The columns a GED file must have (docs/import.md).
const UCDP_COLUMNS: &[&str] = &[
    "id",
    "date_start",
    "date_end",
    "date_prec",
    "latitude",
    "longitude",
    "where_prec",
    "type_of_violence",
    "side_a",
    "side_b",
    "where_description",
    "best",
    "low",
    "high",
    "deaths_a",
    "deaths_b",
    "deaths_civilians",
    "deaths_unknown",
];

/// `where_prec` → (uncertainty radius in metres, meaning). See docs/import.md.
fn ucdp_where_prec(p: u64) -> (f64, &'static str) {
    match p {
        1 => (1_000.0, "exact location"),
        2 => (25_000.0, "within about 25 km of a known point"),
        3 => (
            50_000.0,
            "only the district (second-order division) is known",
        ),
        4 => (150_000.0, "only the oblast (first-order division) is known"),
        5 => (
            50_000.0,
            "an estimated location, a linear feature, or between places",
        ),
        6 => (MAX_RADIUS_M, "only the country is known"),
        _ => (MAX_RADIUS_M, "international waters or airspace"),
    }
}

/// `date_prec` → meaning.
fn ucdp_date_prec(p: u64) -> &'static str {
    match p {
        1 => "exact day",
        2 => "known within 2 to 6 days",
        3 => "only the week is known",
        4 => "known within 8 to 30 days, or only the month",
        _ => "known within more than 30 days, or only the year",
    }
}

/// `type_of_violence` → meaning.
fn ucdp_violence(t: u64) -> &'static str {
    match t {
        1 => "state-based armed conflict",
        2 => "non-state conflict",
        _ => "one-sided violence",
    }
}

/// Maps one UCDP GED record. Returns the entry id (when the `id` column is usable) and the
/// payload (without `id` and `agreement`) or why not.
pub(super) fn map_ucdp(cols: &Columns, rec: &csv::ByteRecord) -> Mapped {
    let mut c = Cells::new(cols, rec);
    let row = GedRow::read(&mut c);
    row.cross_check(&mut c);
    let payload = row.event().map(|event| event.payload());
    (row.id.clone(), c.finish(payload))
}

/// One GED record's columns as read: `None` where a column is missing or invalid (and that is
/// recorded as a problem of the row).
struct GedRow<'a> {
    id: Option<String>,
    start: Option<Date>,
    end: Option<Date>,
    date_prec: Option<u64>,
    lat: Option<f64>,
    lon: Option<f64>,
    where_prec: Option<u64>,
    violence: Option<u64>,
    best: Option<u64>,
    low: Option<u64>,
    high: Option<u64>,
    deaths_a: Option<u64>,
    deaths_b: Option<u64>,
    civilians: Option<u64>,
    unknown: Option<u64>,
    /// The columns that only go into the narrative.
    text: GedText<'a>,
}

/// What a GED record says in words (and its clarity): kept in the narrative.
struct GedText<'a> {
    side_a: &'a str,
    side_b: &'a str,
    where_description: &'a str,
    clarity: Option<u8>,
    relid: Option<&'a str>,
    conflict: Option<&'a str>,
    adm_1: Option<&'a str>,
    sources: Option<&'a str>,
}

impl<'a> GedRow<'a> {
    /// Reads every column the mapping uses, in the order of docs/import.md (the order its
    /// problems are reported in).
    fn read(c: &mut Cells<'a>) -> GedRow<'a> {
        let id = c.entry_id("id", "ucdp-");
        let start = c.date("date_start");
        let end = c.date("date_end");
        let date_prec = c.integer("date_prec", 1, 5);
        let lat = c.degrees("latitude", 90.0);
        let lon = c.degrees("longitude", 180.0);
        let where_prec = c.integer("where_prec", 1, 7);
        let violence = c.integer("type_of_violence", 1, 3);
        let side_a = c.optional("side_a").unwrap_or("");
        let side_b = c.optional("side_b").unwrap_or("");
        // The place's description, else the place the coordinates belong to.
        let where_description = c
            .optional("where_description")
            .or_else(|| c.optional("where_coordinates"))
            .unwrap_or("");
        let max = MAX_CASUALTIES;
        let best = c.integer("best", 0, max);
        let low = c.integer("low", 0, max);
        let high = c.integer("high", 0, max);
        let deaths_a = c.integer("deaths_a", 0, max);
        let deaths_b = c.integer("deaths_b", 0, max);
        let civilians = c.integer("deaths_civilians", 0, max);
        let unknown = c.integer("deaths_unknown", 0, max);
        let clarity = c.optional("event_clarity").and_then(|s| match s {
            "1" => Some(1u8),
            "2" => Some(2),
            _ => {
                c.fail(
                    "event_clarity",
                    format!("{:?}: expected 1 (high) or 2 (lower)", bounded(s, 40)),
                );
                None
            }
        });
        let text = GedText {
            side_a,
            side_b,
            where_description,
            clarity,
            relid: c.optional("relid"),
            conflict: c.optional("conflict_name"),
            adm_1: c.optional("adm_1"),
            sources: c.optional("number_of_sources"),
        };
        GedRow {
            id,
            start,
            end,
            date_prec,
            lat,
            lon,
            where_prec,
            violence,
            best,
            low,
            high,
            deaths_a,
            deaths_b,
            civilians,
            unknown,
            text,
        }
    }

    /// The checks across columns: the dates in order, and `best` the sum of its breakdown.
    fn cross_check(&self, c: &mut Cells<'_>) {
        if let (Some(s), Some(e)) = (self.start, self.end)
            && e < s
        {
            c.fail("date_end", format!("{e} is before date_start ({s})"));
        }
        if let (Some(b), Some(a), Some(bb), Some(civ), Some(unk)) = (
            self.best,
            self.deaths_a,
            self.deaths_b,
            self.civilians,
            self.unknown,
        ) && a + bb + civ + unk != b
        {
            c.fail(
                "best",
                format!(
                    "{b} is not the sum of deaths_a, deaths_b, deaths_civilians and \
                     deaths_unknown ({a} + {bb} + {civ} + {unk})"
                ),
            );
        }
    }

    /// The event, if every column it needs was read.
    fn event(&self) -> Option<GedEvent<'_, 'a>> {
        Some(GedEvent {
            raw_id: self.id.as_deref()?.strip_prefix("ucdp-")?,
            start: self.start?,
            end: self.end?,
            date_prec: self.date_prec?,
            lat: self.lat?,
            lon: self.lon?,
            where_prec: self.where_prec?,
            violence: self.violence?,
            deaths: Deaths {
                best: self.best?,
                low: self.low?,
                high: self.high?,
                side_a: self.deaths_a?,
                side_b: self.deaths_b?,
                civilians: self.civilians?,
                unknown: self.unknown?,
            },
            text: &self.text,
        })
    }
}

/// UCDP's deaths of one event: the estimate of the total (best, low, high) and the breakdown of
/// best by status.
struct Deaths {
    best: u64,
    low: u64,
    high: u64,
    side_a: u64,
    side_b: u64,
    civilians: u64,
    unknown: u64,
}

impl Deaths {
    /// The range of the total, widened to include best where UCDP's is inconsistent (low above
    /// best, or high below it: a few GED rows).
    fn range(&self) -> (u64, u64) {
        (self.low.min(self.best), self.high.max(self.best))
    }

    /// The casualties: the breakdown splits `best`; UCDP gives low and high for the total only,
    /// so the range is carried by the deaths of unknown status.
    fn casualties(&self) -> Value {
        let (low, high) = self.range();
        let combatants = self.side_a + self.side_b;
        let known = self.civilians + combatants;
        json!({
            "civilian_killed": estimate(self.civilians, self.civilians, self.civilians),
            "combatant_killed": estimate(combatants, combatants, combatants),
            // Saturating: where `known` exceeds `high`, best is not the sum of its breakdown, and
            // the row is a reject anyway.
            "unknown_killed": estimate(
                low.saturating_sub(known),
                self.unknown,
                high.saturating_sub(known)
            ),
        })
    }
}

/// A GED record with every column the observation needs.
struct GedEvent<'r, 'a> {
    raw_id: &'r str,
    start: Date,
    end: Date,
    date_prec: u64,
    lat: f64,
    lon: f64,
    where_prec: u64,
    violence: u64,
    deaths: Deaths,
    text: &'r GedText<'a>,
}

impl GedEvent<'_, '_> {
    /// The observation payload (docs/import.md).
    fn payload(&self) -> Map<String, Value> {
        let (radius_m, _) = ucdp_where_prec(self.where_prec);
        let mut o = day_event(
            (self.start, self.end),
            "casualty",
            (self.lat, self.lon, radius_m),
            self.deaths.casualties(),
            &self.narrative(),
        );
        if let Some(cl) = self.text.clarity {
            // Admiralty information credibility: clarity 1 → 2 "probably true", 2 → 3
            // "possibly true" (docs/import.md).
            o.insert("grading".into(), json!({"credibility": cl + 1}));
        }
        o
    }

    /// Everything the row says, in words: what, who, where, when, the deaths, the source.
    fn narrative(&self) -> String {
        let t = self.text;
        let mut text = format!("UCDP GED event {}", self.raw_id);
        if let Some(r) = t.relid {
            text.push_str(&format!(" ({})", bounded(r, MAX_FIELD_CHARS)));
        }
        text.push_str(&format!(
            ": {} (type_of_violence {}",
            ucdp_violence(self.violence),
            self.violence
        ));
        if let Some(cn) = t.conflict {
            text.push_str(&format!(", conflict {:?}", bounded(cn, MAX_FIELD_CHARS)));
        }
        text.push_str(&format!(
            "). Side A: {}; side B: {} (the sides are the parties to the fighting: neither \
             implies who fired).",
            or_none(&bounded(t.side_a, MAX_FIELD_CHARS)),
            or_none(&bounded(t.side_b, MAX_FIELD_CHARS))
        ));
        text.push_str(&self.where_and_when());
        text.push_str(&self.deaths_said());
        if let Some(cl) = t.clarity {
            text.push_str(&format!(" Event clarity {cl}."));
        }
        if let Some(s) = t.sources {
            text.push_str(&format!(" Sources: {}.", bounded(s, 20)));
        }
        text.push_str(
            " Source: UCDP Georeferenced Event Dataset, Uppsala Conflict Data Program (CC BY 4.0).",
        );
        text
    }

    /// ` Where: … When: ….`, with the precisions and what they mean.
    fn where_and_when(&self) -> String {
        let (radius_m, where_meaning) = ucdp_where_prec(self.where_prec);
        let mut text = format!(
            " Where: {}",
            or_none(&bounded(self.text.where_description, MAX_FIELD_CHARS))
        );
        if let Some(a) = self.text.adm_1 {
            text.push_str(&format!(", {}", bounded(a, MAX_FIELD_CHARS)));
        }
        text.push_str(&format!(
            " (where_prec {}: {where_meaning}; radius {} km).",
            self.where_prec,
            radius_m / 1_000.0
        ));
        text.push_str(&format!(
            " When: {} to {} (date_prec {}: {}).",
            self.start,
            self.end,
            self.date_prec,
            ucdp_date_prec(self.date_prec)
        ));
        text
    }

    /// ` Deaths: …`, as UCDP gives them, and the widened range if it was widened.
    fn deaths_said(&self) -> String {
        let d = &self.deaths;
        let mut text = format!(
            " Deaths: best {}, low {}, high {}; side A {}, side B {}, civilians {}, unknown {}.",
            d.best, d.low, d.high, d.side_a, d.side_b, d.civilians, d.unknown
        );
        let (low, high) = d.range();
        if (low, high) != (d.low, d.high) {
            text.push_str(&format!(
                " The range is widened to low {low}, high {high} to include best."
            ));
        }
        text
    }
}
