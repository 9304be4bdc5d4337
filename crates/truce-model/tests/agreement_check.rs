//! Acceptance tests of the agreement validator (DESIGN §4).
//!
//! `tests/agreement/valid/` holds a valid agreement in three spellings plus its GeoJSON files.
//! Every validation rule has (at least) one broken variant below, derived from the valid text by
//! string replacement, asserting the exact field, the line and a substring of the message.
//! Expected lines are computed from the edited text (the line holding a marker string), so the
//! assertions stay exact when the fixture is edited.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use truce_model::agreement::{
    Agreement, AttributionLevel, DirResolver, Due, MapResolver, PartyRole, Problem, Resolver,
    Severity, ZoneKind, check, referenced_files,
};
use truce_model::taxonomy::{EventType, Target, WeaponClass};

const FILE: &str = "agreement.toml";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agreement/valid")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn valid() -> String {
    fixture("agreement.toml")
}

/// The geometry files of the valid fixture, in memory.
fn files() -> BTreeMap<String, Vec<u8>> {
    ["contact_line.geojson", "ua_held.geojson", "ru_held.geojson"]
        .into_iter()
        .map(|f| (f.to_owned(), fixture(f).into_bytes()))
        .collect()
}

/// Applies each `(from, to)` replacement to the first occurrence of `from`.
fn edit(text: &str, edits: &[(&str, &str)]) -> String {
    let mut text = text.to_owned();
    for (from, to) in edits {
        assert!(text.contains(from), "the fixture does not contain {from:?}");
        text = text.replacen(from, to, 1);
    }
    text
}

/// The 1-based numbers of the lines containing `needle`.
fn lines_with(text: &str, needle: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect()
}

/// The 1-based number of the only line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let hits = lines_with(text, needle);
    assert_eq!(
        hits.len(),
        1,
        "{needle:?} must occur on exactly one line: {hits:?}"
    );
    hits[0]
}

/// The 1-based number of the `nth` (0-based) line containing `needle`.
fn nth_line(text: &str, needle: &str, nth: usize) -> usize {
    let hits = lines_with(text, needle);
    assert!(
        nth < hits.len(),
        "{needle:?} occurs on lines {hits:?}, not {} times",
        nth + 1
    );
    hits[nth]
}

fn problems_with(text: &str, resolver: &dyn Resolver) -> Vec<Problem> {
    match check(FILE, text, resolver) {
        Ok(_) => Vec::new(),
        Err(p) => p,
    }
}

fn problems(text: &str) -> Vec<Problem> {
    problems_with(text, &DirResolver::new(dir()))
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("\n  {p}"))
        .collect::<String>()
}

/// Asserts that a problem with this field, line and message substring is among `problems`.
fn assert_has(problems: &[Problem], field: &str, message: &str, line: usize) {
    assert!(
        problems.iter().any(|p| p.file == FILE
            && p.field == field
            && p.line == line
            && p.message.contains(message)),
        "expected {FILE}:{line}: {field}: …{message}…; got:{}",
        render(problems)
    );
}

/// Asserts that `problems` is exactly one problem with this field, line and message substring.
fn assert_only(problems: &[Problem], field: &str, message: &str, line: usize) {
    assert_eq!(
        problems.len(),
        1,
        "expected one problem; got:{}",
        render(problems)
    );
    assert_has(problems, field, message, line);
}

/// One broken variant: edits, expected field, message substring, and the marker of the line
/// (optionally its nth occurrence in the edited text).
macro_rules! broken {
    ($(#[$m:meta])* $name:ident: [$(($from:expr, $to:expr)),* $(,)?]
        => $field:expr, $msg:expr, at $needle:expr) => {
        $(#[$m])*
        #[test]
        fn $name() {
            let text = edit(&valid(), &[$(($from, $to)),*]);
            assert_only(&problems(&text), $field, $msg, line_of(&text, $needle));
        }
    };
    ($(#[$m:meta])* $name:ident: [$(($from:expr, $to:expr)),* $(,)?]
        => $field:expr, $msg:expr, at $needle:expr, $nth:expr) => {
        $(#[$m])*
        #[test]
        fn $name() {
            let text = edit(&valid(), &[$(($from, $to)),*]);
            assert_only(&problems(&text), $field, $msg, nth_line(&text, $needle, $nth));
        }
    };
}

/// A variant whose geometry files differ from the valid ones.
fn geometry_problems(overrides: &[(&str, &str)]) -> Vec<Problem> {
    let mut files = files();
    for (name, content) in overrides {
        files.insert((*name).to_owned(), content.as_bytes().to_vec());
    }
    problems_with(&valid(), &MapResolver(files))
}

// ---------------------------------------------------------------------------------------------
// The valid fixture

fn valid_agreement() -> Agreement {
    match check(FILE, &valid(), &DirResolver::new(dir())) {
        Ok(a) => a,
        Err(p) => panic!("the valid fixture has problems:{}", render(&p)),
    }
}

#[test]
fn the_valid_fixture_checks_and_is_modelled_faithfully() {
    let a = valid_agreement();
    assert_eq!(a.id, "donbas-2026");
    assert_eq!(
        a.title,
        "Ceasefire and withdrawal of heavy weapons in Donbas"
    );
    let roles: Vec<(&str, PartyRole)> = a.parties.iter().map(|p| (p.id.as_str(), p.role)).collect();
    assert_eq!(
        roles,
        [
            ("UA", PartyRole::Belligerent),
            ("RU", PartyRole::Belligerent),
            ("US", PartyRole::Guarantor),
            ("OSCE", PartyRole::Mediator)
        ]
    );
    assert_eq!(a.party("RU").map(|p| p.key.name()), Some("russia"));
    assert!(a.party("XX").is_none());
    assert_eq!(a.required_consents(), ["UA", "RU"]);
    assert_eq!(
        a.entry_into_force.at,
        "2026-12-14T22:00:00Z"
            .parse::<jiff::Timestamp>()
            .ok()
            .unwrap_or_default()
    );

    assert_eq!(a.zones.len(), 4);
    assert!(a.zones[0].kind.is_line());
    match &a.zones[1].kind {
        ZoneKind::Buffer { of, km } => assert_eq!((of.as_str(), *km), ("contact-line", 25.0)),
        other => panic!("expected a buffer zone, got {other:?}"),
    }
    assert!(a.zones[2].kind.is_polygon());
    assert_eq!(a.zones[2].controlled_by.as_deref(), Some("UA"));
    assert!(
        matches!(&a.zones[3].kind, ZoneKind::Geometry { path, .. } if path == "ru_held.geojson")
    );

    assert_eq!(a.rules.len(), 4);
    assert!(a.rules[0].anywhere());
    assert_eq!(a.rules[0].events.len(), 9);
    assert_eq!(a.rules[0].events[5], EventType::MuzzleFlash);
    let w = a.rules[1]
        .weapon
        .as_ref()
        .map(|w| (w.classes.clone(), w.min_calibre_mm, w.max_calibre_mm));
    assert_eq!(
        w,
        Some((
            vec![WeaponClass::Artillery, WeaponClass::Mlrs],
            Some(100.0),
            None
        ))
    );
    assert_eq!(
        a.rules[2].weapon.as_ref().and_then(|w| w.max_calibre_mm),
        Some(120.0)
    );
    assert_eq!(a.rules[3].severity, Severity::Critical);
    assert_eq!(a.rules[3].targets, [Target::Energy, Target::Water]);
    assert!(Severity::Minor < Severity::Major && Severity::Major < Severity::Critical);

    assert_eq!(a.verification.cluster_km, 3.0);
    assert_eq!(a.verification.cluster_minutes, 15);
    assert_eq!(a.verification.independent_sources, 2);
    assert_eq!(a.attribution.trace_km, 10.0);

    let withdrawal = a.milestone("withdrawal").cloned();
    let Some(withdrawal) = withdrawal else {
        panic!("no milestone withdrawal")
    };
    assert_eq!(withdrawal.due, Due::DaysAfterEntry(14));
    assert_eq!(withdrawal.on_missed.as_ref().map(|o| o.escalate), Some(1));
    let eif: jiff::Timestamp = "2027-01-02T12:00:00Z".parse().unwrap_or_default();
    assert_eq!(
        a.milestone_due(&withdrawal, eif).to_string(),
        "2027-01-16T12:00:00Z"
    );
    let Some(demining) = a.milestone("demining") else {
        panic!("no milestone demining")
    };
    assert_eq!(
        a.milestone_due(demining, eif).to_string(),
        "2027-01-31T00:00:00Z"
    );

    assert_eq!(a.escalation.len(), 2);
    assert_eq!(a.escalation[0].level, 1);
    assert_eq!(a.escalation[0].threshold.violations, 5);
    assert_eq!(
        a.escalation[0].threshold.attribution,
        AttributionLevel::Indicated
    );
    assert_eq!(a.escalation[1].notify, ["guarantors", "OSCE"]);
    assert!(AttributionLevel::Indicated < AttributionLevel::Confirmed);
}

#[test]
fn the_three_spellings_are_the_same_agreement() {
    let json = |name: &str| {
        let text = fixture(name);
        match check(name, &text, &DirResolver::new(dir())) {
            Ok(a) => serde_json::to_value(&a).unwrap_or_default(),
            Err(p) => panic!("{name}:{}", render(&p)),
        }
    };
    let mixed = json("agreement.toml");
    assert_eq!(mixed, json("blocks.toml"), "[[...]] blocks differ");
    assert_eq!(mixed, json("inline.toml"), "inline tables differ");
}

#[test]
fn the_agreement_serializes_as_documented() {
    let v = serde_json::to_value(valid_agreement()).unwrap_or_default();
    assert_eq!(v["id"], "donbas-2026");
    assert_eq!(v["parties"][0]["role"], "belligerent");
    assert_eq!(
        v["parties"][0]["key"],
        "ukraine+360275fb+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c"
    );
    assert_eq!(v["entry_into_force"]["at"], "2026-12-14T22:00:00Z");
    assert_eq!(v["zones"][0]["kind"], "geometry");
    assert_eq!(v["zones"][0]["path"], "contact_line.geojson");
    assert_eq!(v["zones"][0]["geometry"]["type"], "LineString");
    assert_eq!(v["zones"][0]["geometry"]["coordinates"][0][0], 37.6);
    assert_eq!(v["zones"][1]["kind"], "buffer");
    assert_eq!(v["zones"][1]["of"], "contact-line");
    assert_eq!(v["zones"][1]["km"], 25.0);
    assert_eq!(v["zones"][2]["controlled_by"], "UA");
    assert_eq!(v["zones"][2]["geometry"]["type"], "Polygon");
    assert_eq!(v["rules"][0]["events"][5], "muzzle-flash");
    assert_eq!(v["rules"][1]["weapon"]["classes"][1], "mlrs");
    assert_eq!(v["milestones"][0]["due"], "D+14");
    assert_eq!(v["milestones"][1]["due"], "2027-01-31T00:00:00Z");
    assert_eq!(v["escalation"][0]["threshold"]["min_severity"], "major");
}

#[test]
fn defaults_apply_when_tables_are_omitted() {
    let text = edit(
        &valid(),
        &[
            ("[verification]\n", ""),
            ("cluster_km = 3.0", ""),
            ("cluster_minutes = 15", ""),
            ("independent_sources = 2", ""),
            ("[attribution]\n", ""),
            ("trace_km = 10", ""),
        ],
    );
    let a = check(FILE, &text, &DirResolver::new(dir()));
    let a = a.unwrap_or_else(|p| panic!("{}", render(&p)));
    assert_eq!(a.verification.cluster_km, 3.0);
    assert_eq!(a.verification.cluster_minutes, 15);
    assert_eq!(a.verification.independent_sources, 2);
    assert_eq!(a.attribution.trace_km, 10.0);
    // A partial table keeps the other defaults.
    let text = edit(
        &valid(),
        &[
            ("cluster_km = 3.0", ""),
            ("cluster_minutes = 15", "cluster_minutes = 30"),
        ],
    );
    let a =
        check(FILE, &text, &DirResolver::new(dir())).unwrap_or_else(|p| panic!("{}", render(&p)));
    assert_eq!(
        (a.verification.cluster_km, a.verification.cluster_minutes),
        (3.0, 30)
    );
}

#[test]
fn the_server_resolver_gives_the_same_result() {
    let a = check(FILE, &valid(), &MapResolver(files()));
    assert!(a.is_ok(), "{:?}", a.err().map(|p| render(&p)));
    let p = problems_with(&valid(), &MapResolver(BTreeMap::new()));
    assert_eq!(p.len(), 3, "{}", render(&p));
    assert_has(
        &p,
        "zones[0].geometry",
        "contact_line.geojson: cannot read: file not found",
        line_of(&valid(), "geometry = \"contact_line.geojson\""),
    );
}

#[test]
fn display_is_file_line_field_message() {
    let text = edit(&valid(), &[("us+0f4ce679", "us+0f4ce678")]);
    let p = problems(&text);
    let line = line_of(&text, "us+0f4ce678");
    assert_eq!(p.len(), 1, "{}", render(&p));
    let shown = p[0].to_string();
    assert!(
        shown.starts_with(&format!(
            "agreement.toml:{line}: parties[2].key: invalid vkey: "
        )),
        "{shown}"
    );
}

// ---------------------------------------------------------------------------------------------
// TOML syntax

#[test]
fn a_syntax_error_is_one_problem_with_its_line() {
    let text = edit(
        &valid(),
        &[("cluster_minutes = 15", "cluster_minutes = = 15")],
    );
    let p = problems(&text);
    assert_only(
        &p,
        "",
        "TOML syntax error",
        line_of(&text, "cluster_minutes"),
    );
    assert!(!p[0].to_string().contains(": :"), "{}", p[0]);
    let p = referenced_files(&text).err().unwrap_or_default();
    assert_eq!(p.len(), 1);
}

#[test]
fn a_duplicate_toml_key_is_a_syntax_error() {
    let text = edit(
        &valid(),
        &[("trace_km = 10", "trace_km = 10\ntrace_km = 12")],
    );
    assert_only(
        &problems(&text),
        "",
        "duplicate key",
        line_of(&text, "trace_km = 12"),
    );
}

// ---------------------------------------------------------------------------------------------
// Unknown keys, types, missing fields, ids

broken!(unknown_top_level_key: [("id = \"donbas-2026\"\n", "id = \"donbas-2026\"\nversion = 2\n")]
    => "version", "unknown key `version`", at "version = 2");
broken!(unknown_key_in_an_inline_party: [("role = \"mediator\", ", "role = \"mediator\", colour = \"blue\", ")]
    => "parties[3].colour", "unknown key `colour` (allowed here: id, name, role, key)", at "colour");
broken!(unknown_key_in_a_zone_block: [("controlled_by = \"UA\"", "controlled_by = \"UA\"\nname = \"Government-held\"")]
    => "zones[2].name", "unknown key `name`", at "Government-held");
broken!(unknown_key_in_a_nested_inline_table: [("violations = 5, window_days = 7,", "violations = 5, window = 7, window_days = 7,")]
    => "escalation[0].threshold.window", "unknown key `window`", at "window = 7");
broken!(unknown_key_in_a_header_table: [("cluster_km = 3.0", "cluster_metres = 3000")]
    => "verification.cluster_metres", "unknown key `cluster_metres`", at "cluster_metres");
broken!(wrong_type_number_as_string: [("cluster_minutes = 15", "cluster_minutes = \"15\"")]
    => "verification.cluster_minutes", "expected a number, found string", at "cluster_minutes");
broken!(wrong_type_string_as_integer: [("title = \"Ceasefire and withdrawal of heavy weapons in Donbas\"", "title = 2026")]
    => "title", "expected a string, found integer", at "title = 2026");
broken!(wrong_type_list_as_string: [("consent = [\"UA\", \"RU\"]", "consent = \"UA\"")]
    => "entry_into_force.consent", "expected an array, found string", at "consent = \"UA\"");
broken!(wrong_type_float_for_a_count: [("violations = 5,", "violations = 5.5,")]
    => "escalation[0].threshold.violations", "expected an integer, found float", at "violations = 5.5");
broken!(wrong_type_string_for_a_table: [("[attribution]\ntrace_km = 10", ""), ("id = \"donbas-2026\"\n", "id = \"donbas-2026\"\nattribution = \"10 km\"\n")]
    => "attribution", "expected a table, found string", at "attribution = \"10 km\"");
broken!(wrong_type_string_for_an_element_of_a_list_of_tables: [("{ id = \"OSCE\", name = \"OSCE Special Monitoring Mission\", role = \"mediator\", key = \"osce+b0ba6a94+AcqTrBcFGHBx1nuDx/8O/oEI6OxFMFdddyaHkzPb2r58\" }", "\"OSCE\""), ("\"guarantors\", \"OSCE\"]", "\"guarantors\"]")]
    => "parties[3]", "expected a table, found string", at "  \"OSCE\",");
broken!(missing_field_in_an_inline_party: [("name = \"Russian Federation\", ", "")]
    => "parties[1].name", "missing required field", at "{ id = \"RU\"");
broken!(missing_field_in_a_rule_block: [("clause = \"Art. 4\"\n", "")]
    => "rules[3].clause", "missing required field", at "[[rules]]", 3);
broken!(missing_field_in_a_milestone_block: [("due = \"D+14\"\n", "")]
    => "milestones[0].due", "missing required field", at "[[milestones]]", 0);
broken!(missing_field_in_a_nested_table: [(", attribution = \"indicated\" }", " }")]
    => "escalation[0].threshold.attribution", "missing required field", at "threshold = { violations = 5");
broken!(missing_top_level_table: [("entry_into_force = { at = \"2026-12-15T00:00:00+02:00\", consent = [\"UA\", \"RU\"] }\n", "")]
    => "entry_into_force", "missing required field", at "# A small valid agreement");
broken!(empty_string: [("name = \"Ukraine\"", "name = \"  \"")]
    => "parties[0].name", "must not be empty", at "{ id = \"UA\"");
broken!(invalid_id_charset: [("id = \"ua-held\"", "id = \"ua held\"")]
    => "zones[2].id", "invalid id `ua held`", at "id = \"ua held\"");
broken!(empty_id: [("id = \"no-fire\"", "id = \"\"")]
    => "rules[0].id", "must not be empty", at "id = \"\"");
broken!(too_long_id: [("id = \"energy\"", "id = \"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\"")]
    => "rules[3].id", "use 1 to 64 characters", at "eeeeeeeeeeeeee");
broken!(a_zone_with_neither_geometry_nor_buffer: [("geometry = \"ru_held.geojson\"             # Polygon, in a Feature\n", "")]
    => "zones[3]", "a zone needs `geometry`", at "[[zones]]", 3);
broken!(a_zone_with_both_geometry_and_buffer: [("id = \"contact-line\"\n", "id = \"contact-line\"\nbuffer = { of = \"contact-line\", km = 1 }\n")]
    => "zones[0]", "either `geometry` or `buffer`, not both", at "[[zones]]", 0);

// ---------------------------------------------------------------------------------------------
// Duplicates and the escalation ladder

#[test]
fn duplicate_party_id() {
    let text = edit(&valid(), &[("{ id = \"OSCE\"", "{ id = \"US\"")]);
    let p = problems(&text);
    let first = nth_line(&text, "{ id = \"US\"", 0);
    let second = nth_line(&text, "{ id = \"US\"", 1);
    assert_has(
        &p,
        "parties[3].id",
        &format!("duplicate party id `US` (first defined on line {first})"),
        second,
    );
    // The mediator's id is gone, so the notice addressed to it dangles.
    assert_has(
        &p,
        "escalation[1].notify[1]",
        "unknown recipient `OSCE`",
        line_of(&text, "notify = [\"guarantors\", \"OSCE\"]"),
    );
    assert_eq!(p.len(), 2, "{}", render(&p));
}

broken!(duplicate_zone_id: [("id = \"ru-held\"", "id = \"ua-held\"")]
    => "zones[3].id", "duplicate zone id `ua-held`", at "id = \"ua-held\"", 1);
broken!(duplicate_rule_id: [("id = \"energy\"", "id = \"no-fire\"")]
    => "rules[3].id", "duplicate rule id `no-fire`", at "id = \"no-fire\"", 1);
broken!(duplicate_milestone_id: [("id = \"demining\"", "id = \"withdrawal\"")]
    => "milestones[1].id", "duplicate milestone id `withdrawal`", at "id = \"withdrawal\"", 1);
broken!(duplicate_escalation_level: [("level = 2", "level = 1")]
    => "escalation[1].level", "escalation level 1 is defined twice", at "level = 1", 1);
broken!(escalation_levels_with_a_gap: [("level = 2", "level = 3")]
    => "escalation[1].level", "levels are numbered 1 to 2", at "level = 3");

#[test]
fn escalation_level_zero() {
    let text = edit(&valid(), &[("level = 1", "level = 0")]);
    let p = problems(&text);
    assert_has(
        &p,
        "escalation[0].level",
        "must be greater than 0",
        line_of(&text, "level = 0"),
    );
    // ... and so `on_missed.escalate = 1` names no level any more.
    assert_has(
        &p,
        "milestones[0].on_missed.escalate",
        "no escalation level 1 is defined",
        line_of(&text, "escalate = 1"),
    );
    assert_eq!(p.len(), 2, "{}", render(&p));
}

// ---------------------------------------------------------------------------------------------
// Dangling references

broken!(dangling_consent: [("consent = [\"UA\", \"RU\"]", "consent = [\"UA\", \"RU\", \"XX\"]")]
    => "entry_into_force.consent[2]", "unknown party `XX`", at "consent = [");
broken!(dangling_controlled_by: [("controlled_by = \"RU\"", "controlled_by = \"XX\"")]
    => "zones[3].controlled_by", "unknown party `XX`", at "controlled_by = \"XX\"");
broken!(dangling_buffer_of: [("of = \"contact-line\"", "of = \"front-line\"")]
    => "zones[1].buffer.of", "unknown zone `front-line`", at "front-line");
broken!(buffer_of_a_polygon: [("of = \"contact-line\"", "of = \"ua-held\"")]
    => "zones[1].buffer.of", "zone `ua-held` is a Polygon; a buffer is drawn around a LineString", at "of = \"ua-held\"");
broken!(buffer_of_a_buffer: [("of = \"contact-line\"", "of = \"security-zone-artillery\"")]
    => "zones[1].buffer.of", "is a buffer zone", at "of = \"security-zone-artillery\"");
broken!(dangling_rule_zone: [("zone = \"security-zone-artillery\"", "zone = \"security-zone\"")]
    => "rules[1].zone", "unknown zone `security-zone` (use \"*\" for anywhere)", at "\"security-zone\"");
broken!(a_rule_in_a_line_zone: [("zone = \"*\"\nevents = [\"strike\"", "zone = \"contact-line\"\nevents = [\"strike\"")]
    => "rules[3].zone", "zone `contact-line` is a line and has no area", at "zone = \"contact-line\"");
broken!(dangling_responsible: [("responsible = [\"RU\"]", "responsible = [\"RU\", \"XX\"]")]
    => "milestones[1].responsible[1]", "unknown party `XX`", at "responsible = [\"RU\", \"XX\"]");
broken!(dangling_on_missed_level: [("escalate = 1", "escalate = 3")]
    => "milestones[0].on_missed.escalate", "no escalation level 3 is defined", at "escalate = 3");
broken!(dangling_notify: [("notify = [\"guarantors\", \"OSCE\"]", "notify = [\"guarantors\", \"UN\"]")]
    => "escalation[1].notify[1]", "unknown recipient `UN`: use \"parties\", \"guarantors\" or a party id", at "\"UN\"");
broken!(party_id_reserved_for_notify_groups: [("{ id = \"OSCE\"", "{ id = \"parties\""), ("\"guarantors\", \"OSCE\"]", "\"guarantors\", \"parties\"]")]
    => "parties[3].id", "`parties` is reserved", at "{ id = \"parties\"");
broken!(controlled_by_on_a_buffer_zone: [("buffer = { of = \"contact-line\", km = 25 }", "buffer = { of = \"contact-line\", km = 25 }\ncontrolled_by = \"UA\"")]
    => "zones[1].controlled_by", "only polygon zones can be controlled", at "controlled_by = \"UA\"", 0);

#[test]
fn notifying_guarantors_without_guarantors() {
    let text = edit(&valid(), &[("role = \"guarantor\"", "role = \"observer\"")]);
    let p = problems(&text);
    assert_has(
        &p,
        "escalation[0].notify[1]",
        "no party has the role `guarantor`",
        line_of(&text, "notify = [\"parties\", \"guarantors\"]"),
    );
    assert_has(
        &p,
        "escalation[1].notify[0]",
        "no party has the role `guarantor`",
        line_of(&text, "notify = [\"guarantors\", \"OSCE\"]"),
    );
    assert_eq!(p.len(), 2, "{}", render(&p));
}

// ---------------------------------------------------------------------------------------------
// Keys

broken!(invalid_vkey_keyid: [("us+0f4ce679", "us+0f4ce678")]
    => "parties[2].key", "invalid vkey: ", at "us+0f4ce678");
broken!(invalid_vkey_malformed: [("key = \"osce+b0ba6a94+AcqTrBcFGHBx1nuDx/8O/oEI6OxFMFdddyaHkzPb2r58\"", "key = \"osce\"")]
    => "parties[3].key", "invalid vkey: ", at "key = \"osce\"");
broken!(the_same_key_for_two_parties: [("osce+b0ba6a94+AcqTrBcFGHBx1nuDx/8O/oEI6OxFMFdddyaHkzPb2r58", "us+0f4ce679+Ae1JKMYo0cLG6ukDOJBZlWEpWSc6XGP5NjbBRhSshzfR")]
    => "parties[3].key", "the same key is already used by party `US`", at "{ id = \"OSCE\"");

#[test]
fn the_same_public_key_under_another_name_is_the_same_key() {
    // Same Ed25519 key as `us`, under the name `osce` (keyid recomputed).
    let key = truce_model::keys::VerifierKey::parse(
        "us+0f4ce679+Ae1JKMYo0cLG6ukDOJBZlWEpWSc6XGP5NjbBRhSshzfR",
    );
    let renamed = key
        .and_then(|k| truce_model::keys::VerifierKey::from_public_key("osce", k.public_key()))
        .map(|k| k.to_string())
        .unwrap_or_default();
    let text = edit(
        &valid(),
        &[(
            "osce+b0ba6a94+AcqTrBcFGHBx1nuDx/8O/oEI6OxFMFdddyaHkzPb2r58",
            &renamed,
        )],
    );
    assert_only(
        &problems(&text),
        "parties[3].key",
        "already used by party `US`",
        line_of(&text, "{ id = \"OSCE\""),
    );
}

// ---------------------------------------------------------------------------------------------
// Enumerations

broken!(unknown_role: [("role = \"mediator\"", "role = \"facilitator\"")]
    => "parties[3].role", "unknown role `facilitator` (expected one of: belligerent, guarantor, mediator, observer)", at "facilitator");
broken!(unknown_severity: [("severity = \"critical\"", "severity = \"grave\"")]
    => "rules[3].severity", "unknown severity `grave`", at "grave");
broken!(unknown_event_type: [("\"muzzle-flash\"", "\"muzzle_flash\"")]
    => "rules[0].events[5]", "unknown event type `muzzle_flash`", at "muzzle_flash");
broken!(unknown_weapon_class: [("\"mlrs\"", "\"howitzer\"")]
    => "rules[1].weapon.classes[1]", "unknown weapon class `howitzer`", at "howitzer");
broken!(unknown_target: [("\"water\"", "\"school\"")]
    => "rules[3].targets[1]", "unknown target `school`", at "school");
broken!(unknown_attribution_level: [("attribution = \"indicated\"", "attribution = \"suspected\"")]
    => "escalation[0].threshold.attribution", "unknown attribution level `suspected`", at "suspected");
broken!(unknown_min_severity: [("min_severity = \"major\"", "min_severity = \"serious\"")]
    => "escalation[0].threshold.min_severity", "unknown severity `serious`", at "serious");
broken!(an_event_type_listed_twice: [("events = [\"strike\", \"impact\"]", "events = [\"strike\", \"impact\", \"strike\"]")]
    => "rules[3].events[2]", "`strike` is listed twice", at "events = [\"strike\", \"impact\", \"strike\"]");
broken!(no_event_types: [("events = [\"strike\", \"impact\"]", "events = []")]
    => "rules[3].events", "must list at least one event type", at "events = []");

// ---------------------------------------------------------------------------------------------
// Geometry files

fn geometry_line(name: &str) -> usize {
    line_of(&valid(), &format!("geometry = \"{name}\""))
}

#[test]
fn geometry_file_not_found() {
    let text = edit(
        &valid(),
        &[(
            "geometry = \"ua_held.geojson\"",
            "geometry = \"ua_hold.geojson\"",
        )],
    );
    assert_only(
        &problems(&text),
        "zones[2].geometry",
        "ua_hold.geojson: cannot read: file not found",
        line_of(&text, "ua_hold"),
    );
}

broken!(geometry_path_absolute: [("geometry = \"ua_held.geojson\"", "geometry = \"/etc/passwd\"")]
    => "zones[2].geometry", "`/etc/passwd`: the path must be relative", at "/etc/passwd");
broken!(geometry_path_escaping: [("geometry = \"ua_held.geojson\"", "geometry = \"../valid/ua_held.geojson\"")]
    => "zones[2].geometry", "must not leave the agreement's directory", at "../valid");

/// One geometry variant: the file `name` replaced by `content`.
fn assert_geometry(name: &str, content: &str, field: &str, message: &str) {
    let p = geometry_problems(&[(name, content)]);
    assert_has(
        &p,
        field,
        &format!("{name}: {message}"),
        geometry_line(name),
    );
    assert!(p.iter().all(|x| x.field == field), "{}", render(&p));
}

#[test]
fn geometry_not_json() {
    assert_geometry(
        "ua_held.geojson",
        "not json",
        "zones[2].geometry",
        "not valid GeoJSON",
    );
}

#[test]
fn geometry_json_but_not_geojson() {
    assert_geometry(
        "ua_held.geojson",
        r#"{"type": "Circle", "radius": 3}"#,
        "zones[2].geometry",
        "not valid GeoJSON",
    );
}

#[test]
fn geometry_of_a_type_that_is_not_allowed() {
    assert_geometry(
        "ua_held.geojson",
        r#"{"type": "Point", "coordinates": [37.5, 48.5]}"#,
        "zones[2].geometry",
        "a Point is not allowed",
    );
    assert_geometry(
        "contact_line.geojson",
        r#"{"type": "GeometryCollection", "geometries": []}"#,
        "zones[0].geometry",
        "a GeometryCollection is not allowed",
    );
}

#[test]
fn geometry_with_two_features() {
    let f = r#"{"type": "Feature", "properties": {}, "geometry": {"type": "LineString", "coordinates": [[37.6, 47.9], [38.0, 48.0]]}}"#;
    assert_geometry(
        "contact_line.geojson",
        &format!(r#"{{"type": "FeatureCollection", "features": [{f}, {f}]}}"#),
        "zones[0].geometry",
        "the FeatureCollection has 2 features; exactly one geometry is needed",
    );
}

#[test]
fn geometry_longitude_out_of_range() {
    assert_geometry(
        "ru_held.geojson",
        r#"{"type": "Polygon", "coordinates": [[[37.6, 47.9], [390.0, 47.9], [39.0, 48.9], [37.6, 47.9]]]}"#,
        "zones[3].geometry",
        "ring 0: position 1 [390, 47.9]: longitude 390 is out of range -180..180",
    );
}

#[test]
fn geometry_latitude_out_of_range() {
    assert_geometry(
        "contact_line.geojson",
        r#"{"type": "LineString", "coordinates": [[37.6, 47.9], [48.1, 97.75]]}"#,
        "zones[0].geometry",
        "position 1 [48.1, 97.75]: latitude 97.75 is out of range -90..90",
    );
}

#[test]
fn geometry_self_intersecting_polygon() {
    assert_geometry(
        "ua_held.geojson",
        r#"{"type": "Polygon", "coordinates": [[[37.0, 47.0], [38.0, 48.0], [38.0, 47.0], [37.0, 48.0], [37.0, 47.0]]]}"#,
        "zones[2].geometry",
        "invalid Polygon: exterior ring has a self-intersection",
    );
}

#[test]
fn geometry_ring_not_closed() {
    assert_geometry(
        "ua_held.geojson",
        r#"{"type": "Polygon", "coordinates": [[[37.0, 47.0], [38.0, 47.0], [38.0, 48.0], [37.0, 48.0]]]}"#,
        "zones[2].geometry",
        "ring 0: the ring is not closed",
    );
}

#[test]
fn geometry_hole_outside_the_shell() {
    assert_geometry(
        "ua_held.geojson",
        r#"{"type": "Polygon", "coordinates": [[[37.0, 47.0], [38.0, 47.0], [38.0, 48.0], [37.0, 47.0]], [[30.0, 40.0], [31.0, 40.0], [31.0, 41.0], [30.0, 40.0]]]}"#,
        "zones[2].geometry",
        "invalid Polygon: interior ring at index 0 is not contained",
    );
}

#[test]
fn geometry_line_with_one_point() {
    assert_geometry(
        "contact_line.geojson",
        r#"{"type": "LineString", "coordinates": [[37.6, 47.9]]}"#,
        "zones[0].geometry",
        "a line needs at least 2 points, found 1",
    );
}

#[test]
fn geometry_controlled_zone_must_be_a_polygon() {
    let line = r#"{"type": "MultiLineString", "coordinates": [[[37.6, 47.9], [38.0, 48.0]]]}"#;
    assert_geometry(
        "ua_held.geojson",
        line,
        "zones[2].geometry",
        "a zone with `controlled_by` must be a Polygon or MultiPolygon, found MultiLineString",
    );
}

// ---------------------------------------------------------------------------------------------
// Times

broken!(entry_into_force_without_offset: [("at = \"2026-12-15T00:00:00+02:00\"", "at = \"2026-12-15T00:00:00\"")]
    => "entry_into_force.at", "is not an RFC 3339 timestamp with offset", at "at = \"2026-12-15T00:00:00\"");
broken!(entry_into_force_impossible_date: [("at = \"2026-12-15T00:00:00+02:00\"", "at = \"2026-13-15T00:00:00+02:00\"")]
    => "entry_into_force.at", "is not a valid timestamp", at "2026-13-15");
broken!(entry_into_force_toml_local_datetime: [("at = \"2026-12-15T00:00:00+02:00\"", "at = 2026-12-15T00:00:00")]
    => "entry_into_force.at", "has no UTC offset", at "at = 2026-12-15T00:00:00");
broken!(due_malformed_days: [("due = \"D+14\"", "due = \"D+two weeks\"")]
    => "milestones[0].due", "write `D+<days>`", at "D+two weeks");
broken!(due_malformed_timestamp: [("due = \"2027-01-31T00:00:00Z\"", "due = \"31 January 2027\"")]
    => "milestones[1].due", "is not an RFC 3339 timestamp", at "31 January 2027");
broken!(due_wrong_type: [("due = \"D+14\"", "due = 14")]
    => "milestones[0].due", "expected an RFC 3339 timestamp or `D+<days>`, found integer", at "due = 14");
broken!(due_before_entry_into_force: [("due = \"2027-01-31T00:00:00Z\"", "due = \"2026-12-14T21:59:59Z\"")]
    => "milestones[1].due", "due 2026-12-14T21:59:59Z is before entry into force (2026-12-14T22:00:00Z)", at "2026-12-14T21:59:59Z");

#[test]
fn due_at_entry_into_force_is_accepted() {
    let text = edit(
        &valid(),
        &[(
            "due = \"2027-01-31T00:00:00Z\"",
            "due = \"2026-12-14T22:00:00Z\"",
        )],
    );
    assert!(problems(&text).is_empty(), "{}", render(&problems(&text)));
}

// ---------------------------------------------------------------------------------------------
// Numbers

broken!(threshold_violations_zero: [("violations = 5,", "violations = 0,")]
    => "escalation[0].threshold.violations", "must be greater than 0, found 0", at "violations = 0");
broken!(threshold_window_negative: [("window_days = 30", "window_days = -30")]
    => "escalation[1].threshold.window_days", "must be greater than 0, found -30", at "window_days = -30");
broken!(cluster_km_zero: [("cluster_km = 3.0", "cluster_km = 0.0")]
    => "verification.cluster_km", "must be greater than 0", at "cluster_km");
broken!(cluster_km_not_finite: [("cluster_km = 3.0", "cluster_km = nan")]
    => "verification.cluster_km", "must be a finite number", at "cluster_km");
broken!(cluster_km_infinite: [("cluster_km = 3.0", "cluster_km = inf")]
    => "verification.cluster_km", "must be a finite number", at "cluster_km");
broken!(cluster_minutes_zero: [("cluster_minutes = 15", "cluster_minutes = 0")]
    => "verification.cluster_minutes", "must be greater than 0", at "cluster_minutes");
broken!(independent_sources_zero: [("independent_sources = 2", "independent_sources = 0")]
    => "verification.independent_sources", "must be greater than 0", at "independent_sources");
broken!(trace_km_negative: [("trace_km = 10", "trace_km = -1")]
    => "attribution.trace_km", "must be greater than 0, found -1", at "trace_km");
broken!(buffer_km_zero: [("km = 25", "km = 0")]
    => "zones[1].buffer.km", "must be greater than 0", at "km = 0");
broken!(calibre_zero: [("min_calibre_mm = 100", "min_calibre_mm = 0")]
    => "rules[1].weapon.min_calibre_mm", "must be greater than 0", at "min_calibre_mm = 0");
broken!(calibre_min_above_max: [("max_calibre_mm = 120", "max_calibre_mm = 50")]
    => "rules[2].weapon.max_calibre_mm", "max_calibre_mm (50) is less than min_calibre_mm (60)", at "max_calibre_mm = 50");
broken!(an_empty_weapon_filter: [("weapon = { classes = [\"mortar\"], min_calibre_mm = 60, max_calibre_mm = 120 }", "weapon = {}")]
    => "rules[2].weapon", "the weapon filter is empty", at "weapon = {}");
broken!(a_count_too_large: [("violations = 20,", "violations = 5000000000,")]
    => "escalation[1].threshold.violations", "must be at most 4294967295", at "5000000000");

// ---------------------------------------------------------------------------------------------
// Parties and the consent rule

#[test]
fn consent_must_include_every_belligerent() {
    let text = edit(
        &valid(),
        &[("consent = [\"UA\", \"RU\"]", "consent = [\"UA\"]")],
    );
    let p = problems(&text);
    let line = line_of(&text, "consent = [\"UA\"]");
    assert_only(
        &p,
        "entry_into_force.consent",
        "the agreement binds RU but does not require RU's consent",
        line,
    );
    assert!(
        p[0].message.ends_with(
            "(RU is a belligerent, controls zone `ru-held`, is responsible for milestone \
             `withdrawal` and is responsible for milestone `demining`)"
        ),
        "{}",
        p[0]
    );
}

#[test]
fn consent_must_include_a_party_controlling_a_zone() {
    let text = edit(
        &valid(),
        &[("controlled_by = \"RU\"", "controlled_by = \"US\"")],
    );
    assert_only(
        &problems(&text),
        "entry_into_force.consent",
        "the agreement binds US but does not require US's consent (US controls zone `ru-held`)",
        line_of(&text, "consent = ["),
    );
}

#[test]
fn consent_must_include_a_party_responsible_for_a_milestone() {
    let text = edit(
        &valid(),
        &[("responsible = [\"RU\"]", "responsible = [\"RU\", \"OSCE\"]")],
    );
    assert_only(
        &problems(&text),
        "entry_into_force.consent",
        "the agreement binds OSCE but does not require OSCE's consent (OSCE is responsible for milestone `demining`)",
        line_of(&text, "consent = ["),
    );
}

#[test]
fn the_consent_rule_reports_each_party_once() {
    let text = edit(
        &valid(),
        &[("consent = [\"UA\", \"RU\"]", "consent = [\"US\"]")],
    );
    let p = problems(&text);
    let line = line_of(&text, "consent = [\"US\"]");
    assert_has(
        &p,
        "entry_into_force.consent",
        "binds UA but does not require UA's consent",
        line,
    );
    assert_has(
        &p,
        "entry_into_force.consent",
        "binds RU but does not require RU's consent",
        line,
    );
    assert_eq!(p.len(), 2, "{}", render(&p));
}

#[test]
fn the_consent_rule_points_at_the_consent_line_in_a_header_table() {
    let text = fixture("blocks.toml");
    let text = edit(
        &text,
        &[("consent = [\"UA\", \"RU\"]", "consent = [\"RU\"]")],
    );
    assert_only(
        &problems(&text),
        "entry_into_force.consent",
        "binds UA but does not require UA's consent (UA is a belligerent, controls zone `ua-held` and is responsible for milestone `withdrawal`)",
        line_of(&text, "consent = [\"RU\"]"),
    );
}

broken!(consent_listed_twice: [("consent = [\"UA\", \"RU\"]", "consent = [\"UA\", \"RU\", \"UA\"]")]
    => "entry_into_force.consent[2]", "`UA` is listed twice", at "consent = [");

#[test]
fn consent_must_not_be_empty() {
    let text = edit(&valid(), &[("consent = [\"UA\", \"RU\"]", "consent = []")]);
    let p = problems(&text);
    let line = line_of(&text, "consent = []");
    assert_has(
        &p,
        "entry_into_force.consent",
        "must list at least one party",
        line,
    );
    assert_eq!(p.len(), 3, "{}", render(&p)); // and UA and RU are bound without consent
}

#[test]
fn at_least_two_parties() {
    let text = edit(
        &valid(),
        &[
            (
                "  { id = \"RU\", name = \"Russian Federation\", role = \"belligerent\", key = \"russia+3eb068b3+AYE5dw6ofRdfVqNUZsNMfszLjYqRtO43ol32D1uPybOU\" },\n",
                "",
            ),
            (
                "  { id = \"US\", name = \"United States\", role = \"guarantor\", key = \"us+0f4ce679+Ae1JKMYo0cLG6ukDOJBZlWEpWSc6XGP5NjbBRhSshzfR\" },\n",
                "",
            ),
            (
                "  { id = \"OSCE\", name = \"OSCE Special Monitoring Mission\", role = \"mediator\", key = \"osce+b0ba6a94+AcqTrBcFGHBx1nuDx/8O/oEI6OxFMFdddyaHkzPb2r58\" },\n",
                "",
            ),
        ],
    );
    let p = problems(&text);
    assert_has(
        &p,
        "parties",
        "an agreement needs at least two parties, found 1",
        line_of(&text, "parties = ["),
    );
}

// ---------------------------------------------------------------------------------------------
// Everything at once

#[test]
fn several_problems_are_reported_at_once_in_line_order() {
    let text = edit(
        &valid(),
        &[
            ("role = \"mediator\"", "role = \"facilitator\""),
            ("consent = [\"UA\", \"RU\"]", "consent = [\"UA\"]"),
            ("of = \"contact-line\"", "of = \"front-line\""),
            ("\"muzzle-flash\"", "\"muzzle_flash\""),
            ("cluster_km = 3.0", "cluster_km = -3"),
            ("escalate = 1", "escalate = 7"),
            ("violations = 20,", "violations = 0,"),
        ],
    );
    let p = problems(&text);
    assert_eq!(p.len(), 7, "{}", render(&p));
    assert_has(
        &p,
        "parties[3].role",
        "unknown role",
        line_of(&text, "facilitator"),
    );
    assert_has(
        &p,
        "entry_into_force.consent",
        "binds RU",
        line_of(&text, "consent = ["),
    );
    assert_has(
        &p,
        "zones[1].buffer.of",
        "unknown zone",
        line_of(&text, "front-line"),
    );
    assert_has(
        &p,
        "rules[0].events[5]",
        "unknown event type",
        line_of(&text, "muzzle_flash"),
    );
    assert_has(
        &p,
        "verification.cluster_km",
        "greater than 0",
        line_of(&text, "cluster_km"),
    );
    assert_has(
        &p,
        "milestones[0].on_missed.escalate",
        "no escalation level 7",
        line_of(&text, "escalate = 7"),
    );
    assert_has(
        &p,
        "escalation[1].threshold.violations",
        "greater than 0",
        line_of(&text, "violations = 0"),
    );
    assert!(
        p.windows(2).all(|w| w[0].line <= w[1].line),
        "{}",
        render(&p)
    );
}

#[test]
fn geometry_problems_are_reported_with_the_rest() {
    let text = edit(
        &valid(),
        &[("role = \"mediator\"", "role = \"facilitator\"")],
    );
    let mut files = files();
    files.insert("contact_line.geojson".into(), b"[]".to_vec());
    let p = problems_with(&text, &MapResolver(files));
    assert_eq!(p.len(), 2, "{}", render(&p));
    assert_has(
        &p,
        "zones[0].geometry",
        "contact_line.geojson: not valid GeoJSON",
        geometry_line("contact_line.geojson"),
    );
}

// ---------------------------------------------------------------------------------------------
// referenced_files

#[test]
fn referenced_files_lists_each_geometry_once_in_order() {
    let expected = ["contact_line.geojson", "ua_held.geojson", "ru_held.geojson"];
    assert_eq!(
        referenced_files(&valid()),
        Ok(expected.map(String::from).to_vec())
    );
    assert_eq!(
        referenced_files(&fixture("inline.toml")),
        Ok(expected.map(String::from).to_vec())
    );
    let twice = edit(
        &valid(),
        &[(
            "geometry = \"ru_held.geojson\"",
            "geometry = \"ua_held.geojson\"",
        )],
    );
    assert_eq!(referenced_files(&twice).map(|f| f.len()), Ok(2));
}

#[test]
fn referenced_files_works_on_otherwise_invalid_documents() {
    let text = edit(
        &valid(),
        &[
            ("role = \"mediator\"", "role = 5"),
            (", consent = [\"UA\", \"RU\"]", ""),
        ],
    );
    assert!(check(FILE, &text, &DirResolver::new(dir())).is_err());
    assert_eq!(referenced_files(&text).map(|f| f.len()), Ok(3));
}

#[test]
fn referenced_files_refuses_unsafe_paths() {
    let text = edit(
        &valid(),
        &[(
            "geometry = \"ua_held.geojson\"",
            "geometry = \"../../etc/passwd\"",
        )],
    );
    let p = referenced_files(&text).err().unwrap_or_default();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].field, "zones[2].geometry");
    assert_eq!(p[0].line, line_of(&text, "etc/passwd"));
    let text = edit(
        &valid(),
        &[("geometry = \"ua_held.geojson\"", "geometry = 3")],
    );
    assert!(referenced_files(&text).is_err());
}

#[test]
fn dir_resolver_refuses_escapes() {
    let r = DirResolver::new(dir());
    assert!(r.read("ua_held.geojson").is_ok());
    assert!(r.read("./ua_held.geojson").is_ok());
    assert!(r.read("../valid/ua_held.geojson").is_err());
    assert!(r.read("/etc/hostname").is_err());
    assert!(r.read("").is_err());
    assert!(r.read("sub\\file").is_err());
    assert!(r.read(".").is_err()); // a directory
    assert!(
        r.read("missing.geojson")
            .is_err_and(|e| e.contains("not found"))
    );
}

// ---------------------------------------------------------------------------------------------
// Robustness: no input makes `check` panic.

#[test]
fn every_truncation_and_every_dropped_line_is_handled() {
    let text = valid();
    let lines: Vec<&str> = text.lines().collect();
    let resolver = MapResolver(files());
    for n in 0..=lines.len() {
        let prefix = lines[..n].join("\n");
        let _ = check(FILE, &prefix, &resolver);
        let _ = referenced_files(&prefix);
        let mut dropped = lines.clone();
        if n < dropped.len() {
            dropped.remove(n);
            let dropped = dropped.join("\n");
            // Dropping a line of a valid document either keeps it valid or yields problems
            // that each carry a line inside the document.
            if let Err(p) = check(FILE, &dropped, &resolver) {
                assert!(!p.is_empty());
                assert!(
                    p.iter().all(|x| x.line >= 1 && x.line <= lines.len()),
                    "{}",
                    render(&p)
                );
            }
        }
    }
}

/// Fragments that make mutations likely to stay near-valid TOML.
const FRAGMENTS: &[&str] = &[
    "",
    " ",
    "\n",
    "=",
    "\"",
    "[",
    "]",
    "{",
    "}",
    ",",
    "[[zones]]\n",
    "[[rules]]\n",
    "0",
    "-1",
    "1e999",
    "nan",
    "\"*\"",
    "\"RU\"",
    "\"D+\"",
    "\"D+99999999999\"",
    "true",
    "2026-12-15T00:00:00",
    "\"x\"",
    "id = \"a\"\n",
    "buffer = { of = \"ua-held\", km = 1 }",
    "geometry = \"ru_held.geojson\"",
    "controlled_by = \"OSCE\"",
    "\u{0}",
    "é",
    "#",
    "'",
    "'''",
    "\"\"\"",
];

proptest! {
    // 256 cases by default; PROPTEST_CASES=20000 for a longer run.
    #[test]
    fn check_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let _ = check(FILE, &text, &MapResolver(files()));
        let _ = referenced_files(&text);
    }

    #[test]
    fn check_never_panics_on_mutated_documents(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..40, 0..FRAGMENTS.len()), 1..6)
    ) {
        let mut text = valid().into_bytes();
        for (at, len, fragment) in edits {
            let start = at.index(text.len() + 1);
            let end = (start + len).min(text.len());
            text.splice(start..end, FRAGMENTS[fragment].bytes());
        }
        let text = String::from_utf8_lossy(&text);
        let resolver = MapResolver(files());
        match check(FILE, &text, &resolver) {
            Ok(a) => {
                // Whatever passes still satisfies the consent rule.
                for p in &a.parties {
                    if p.role == PartyRole::Belligerent {
                        prop_assert!(a.required_consents().contains(&p.id));
                    }
                }
            }
            Err(p) => {
                prop_assert!(!p.is_empty());
                // Every failure is explained; the validator's internal fallback never shows.
                prop_assert!(p.iter().all(|x| !x.message.contains("internal error")), "{:?}", p);
            }
        }
        let _ = referenced_files(&text);
    }

    #[test]
    fn check_never_panics_on_mutated_geometry(
        coords in proptest::collection::vec((-400.0f64..400.0, -200.0f64..200.0), 0..12),
        kind in 0usize..4,
        close in any::<bool>(),
    ) {
        let mut pts: Vec<String> = coords.iter().map(|(x, y)| format!("[{x}, {y}]")).collect();
        if close && let Some(first) = pts.first().cloned() {
            pts.push(first);
        }
        let pts = pts.join(", ");
        let json = match kind {
            0 => format!(r#"{{"type": "LineString", "coordinates": [{pts}]}}"#),
            1 => format!(r#"{{"type": "Polygon", "coordinates": [[{pts}]]}}"#),
            2 => format!(r#"{{"type": "MultiPolygon", "coordinates": [[[{pts}]], [[{pts}]]]}}"#),
            _ => format!(r#"{{"type": "Polygon", "coordinates": [[[0,0],[50,0],[50,50],[0,50],[0,0]], [{pts}]]}}"#),
        };
        let _ = geometry_problems(&[("ua_held.geojson", &json)]);
    }
}
