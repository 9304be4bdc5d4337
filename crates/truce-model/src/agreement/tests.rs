//! Unit tests of the validator's building blocks, on small in-memory documents.
//! The per-rule acceptance tests live in `tests/agreement_check.rs`.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::parse::parse_rfc3339;
use super::*;

const UA: &str = "ukraine+360275fb+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c";
const RU: &str = "russia+3eb068b3+AYE5dw6ofRdfVqNUZsNMfszLjYqRtO43ol32D1uPybOU";

const LINE: &str = r#"{"type":"LineString","coordinates":[[37.6,47.9],[38.25,48.6]]}"#;
const SQUARE: &str =
    r#"{"type":"Polygon","coordinates":[[[37,47],[38,47],[38,48],[37,48],[37,47]]]}"#;

fn resolver() -> MapResolver {
    MapResolver(BTreeMap::from([
        ("line.geojson".to_owned(), LINE.as_bytes().to_vec()),
        (
            "zones/square.geojson".to_owned(),
            SQUARE.as_bytes().to_vec(),
        ),
    ]))
}

/// A minimal valid document, followed by `extra`.
fn doc(extra: &str) -> String {
    format!(
        r#"id = "t"
title = "T"
parties = [
  {{ id = "UA", name = "Ukraine", role = "belligerent", key = "{UA}" }},
  {{ id = "RU", name = "Russia", role = "belligerent", key = "{RU}" }},
]
entry_into_force = {{ at = "2026-12-15T00:00:00Z", consent = ["UA", "RU"] }}
{extra}"#
    )
}

fn ok(text: &str) -> Agreement {
    match check("t.toml", text, &resolver()) {
        Ok(a) => a,
        Err(p) => panic!("{}", p.iter().map(|p| format!("\n{p}")).collect::<String>()),
    }
}

fn errs(text: &str) -> Vec<Problem> {
    check("t.toml", text, &resolver()).err().unwrap_or_default()
}

fn one(text: &str) -> Problem {
    let mut p = errs(text);
    assert_eq!(p.len(), 1, "{p:#?}");
    p.remove(0)
}

#[test]
fn minimal_document() {
    let a = ok(&doc(""));
    assert!(a.zones.is_empty() && a.rules.is_empty() && a.milestones.is_empty());
    assert!(a.escalation.is_empty());
    assert_eq!(a.verification.cluster_km, 3.0);
}

#[test]
fn rfc3339() {
    for good in [
        "2026-12-15T00:00:00Z",
        "2026-12-15t00:00:00z",
        "2026-12-15 00:00:00+02:00",
        "2026-12-15T00:00:00.123456789-05:30",
    ] {
        assert!(parse_rfc3339(good).is_ok(), "{good}");
    }
    for bad in [
        "2026-12-15",
        "2026-12-15T00:00Z",
        "2026-12-15T00:00:00",
        "2026-12-15T00:00:00+0200",
        "2026-12-15T00:00:00+02:00[Europe/Kyiv]",
        "2026-12-15T00:00:00.Z",
        "2026-12-15T25:00:00Z",
        "2026-02-30T00:00:00Z",
        "+2026-12-15T00:00:00Z",
        "2026-12-15T00:00:00Zjunk",
        "２026-12-15T00:00:00Z",
        "",
    ] {
        assert!(parse_rfc3339(bad).is_err(), "{bad}");
    }
    let t = parse_rfc3339("2026-12-15T00:00:00+02:00").ok();
    assert_eq!(
        t.map(|t| t.to_string()).as_deref(),
        Some("2026-12-14T22:00:00Z")
    );
}

#[test]
fn paths() {
    for good in [
        "a.geojson",
        "zones/a.geojson",
        "./a.geojson",
        "a..b.geojson",
    ] {
        assert_eq!(check_path(good), Ok(()), "{good}");
    }
    for bad in [
        "",
        "/a",
        "../a",
        "zones/../../a",
        "zones/..",
        "C:/a",
        "c:a",
        "a\\b",
        "a\0b",
    ] {
        assert!(check_path(bad).is_err(), "{bad:?}");
    }
    assert!(MapResolver(BTreeMap::new()).read("../x").is_err());
}

#[test]
fn due_resolution() {
    let eif: Timestamp = "2026-12-15T10:00:00Z".parse().unwrap_or_default();
    assert_eq!(
        Due::DaysAfterEntry(14).resolve(eif).to_string(),
        "2026-12-29T10:00:00Z"
    );
    assert_eq!(Due::DaysAfterEntry(0).resolve(eif), eif);
    assert_eq!(Due::DaysAfterEntry(u32::MAX).resolve(eif), Timestamp::MAX);
    assert_eq!(Due::At(eif).resolve(Timestamp::MIN), eif);
    assert_eq!(Due::DaysAfterEntry(3).to_string(), "D+3");
}

#[test]
fn due_out_of_range() {
    let text = doc(r#"[[milestones]]
id = "m"
clause = "c"
obligation = "o"
responsible = ["UA"]
due = "D+4000000"
"#);
    let p = one(&text);
    assert_eq!((p.field.as_str(), p.line), ("milestones[0].due", 13));
    assert!(p.message.contains("D+4000000 is out of range"), "{p}");
    let p = one(&text.replace("D+4000000", "D+99999999999"));
    assert!(p.message.contains("too many days"), "{p}");
    let p = one(&text.replace("\"D+4000000\"", "2027-01-01"));
    assert!(p.message.contains("is not a date and time"), "{p}");
    let a = ok(&text.replace("\"D+4000000\"", "2027-01-01T00:00:00+01:00"));
    assert_eq!(a.milestones[0].due.to_string(), "2026-12-31T23:00:00Z");
}

#[test]
fn integers_in_any_toml_spelling() {
    let a = ok(&doc(
        "[verification]\ncluster_minutes = 0x1_0\nindependent_sources = +3\ncluster_km = 1_000.5\n",
    ));
    assert_eq!(a.verification.cluster_minutes, 16);
    assert_eq!(a.verification.independent_sources, 3);
    assert_eq!(a.verification.cluster_km, 1000.5);
    let p = one(&doc("[verification]\ncluster_minutes = -1_5\n"));
    assert!(p.message.contains("found -15"), "{p}");
}

#[test]
fn missing_fields_point_at_their_table() {
    // A [[block]] element: its header line; an inline table: its own line; a header table: the
    // header line.
    let text = doc(
        "[[zones]]\nid = \"z\"\ngeometry = \"zones/square.geojson\"\n\n[[zones]]\ngeometry = \"line.geojson\"\n",
    );
    let p = one(&text);
    assert_eq!((p.field.as_str(), p.line), ("zones[1].id", 12));
    let text = doc(
        "zones = [\n  { id = \"z\", geometry = \"line.geojson\" },\n  { geometry = \"line.geojson\" },\n]\n",
    );
    let p = one(&text);
    assert_eq!((p.field.as_str(), p.line), ("zones[1].id", 10));
    let text = doc(
        "\n[[escalation]]\nlevel = 1\nname = \"n\"\nnotify = [\"parties\"]\n\n[escalation.threshold]\nviolations = 1\nwindow_days = 1\nmin_severity = \"minor\"\n",
    );
    let p = one(&text);
    assert_eq!(
        (p.field.as_str(), p.line),
        ("escalation[0].threshold.attribution", 14)
    );
}

#[test]
fn a_list_of_tables_of_the_wrong_type() {
    let p = one(&doc("rules = \"none\"\n"));
    assert_eq!((p.field.as_str(), p.line), ("rules", 8));
    assert!(p.message.contains("expected an array of tables"), "{p}");
    // Empty arrays are fine: an agreement may have no zones, rules, milestones or ladder.
    ok(&doc(
        "rules = []\nzones = []\nmilestones = []\nescalation = []\n",
    ));
}

#[test]
fn parties_must_be_an_array_but_only_one_problem_is_reported() {
    let text = doc("").replace("parties = [", "parties = 3\nxparties = [");
    let p = errs(&text);
    assert!(
        p.iter()
            .any(|p| p.field == "parties" && p.message.contains("expected an array of tables")),
        "{p:#?}"
    );
    assert!(
        !p.iter().any(|p| p.message.contains("at least two")),
        "{p:#?}"
    );
}

#[test]
fn geometry_in_a_subdirectory_and_buffer_zones() {
    let a = ok(&doc(r#"[[zones]]
id = "line"
geometry = "line.geojson"
[[zones]]
id = "near"
buffer.of = "line"
buffer.km = 0.5
[[zones]]
id = "sq"
geometry = "zones/square.geojson"
controlled_by = "UA"
[[rules]]
id = "r"
clause = "c"
severity = "minor"
zone = "near"
events = ["mine"]
"#));
    assert!(a.zone("line").is_some_and(|z| z.kind.is_line()));
    assert!(a.zone("sq").is_some_and(|z| z.kind.is_polygon()));
    assert!(matches!(
        a.zone("near").map(|z| &z.kind),
        Some(ZoneKind::Buffer { km, .. }) if *km == 0.5
    ));
    assert!(a.rule("r").is_some());
}

#[test]
fn a_missing_buffer_field_and_an_unknown_buffer_key() {
    let p = errs(&doc(
        "[[zones]]\nid = \"l\"\ngeometry = \"line.geojson\"\n[[zones]]\nid = \"near\"\nbuffer = { of = \"l\", width = 3 }\n",
    ));
    let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["zones[1].buffer.width", "zones[1].buffer.km"],
        "{p:#?}"
    );
    assert!(p.iter().all(|p| p.line == 13), "{p:#?}");
}

#[test]
fn escalation_levels_are_sorted() {
    let level = |n: u32| {
        format!(
            "[[escalation]]\nlevel = {n}\nname = \"L{n}\"\nnotify = [\"parties\", \"UA\"]\nthreshold = {{ violations = {n}, window_days = 1, min_severity = \"minor\", attribution = \"undetermined\" }}\n"
        )
    };
    let a = ok(&doc(&format!("{}{}{}", level(3), level(1), level(2))));
    let levels: Vec<u32> = a.escalation.iter().map(|l| l.level).collect();
    assert_eq!(levels, [1, 2, 3]);
    assert_eq!(a.escalation_level(2).map(|l| l.name.as_str()), Some("L2"));
    assert_eq!(
        a.escalation[0].threshold.attribution,
        AttributionLevel::Undetermined
    );
}

#[test]
fn problems_come_in_line_order() {
    let text = doc("[verification]\ncluster_km = -1\n").replace("title = \"T\"", "title = 1");
    let p = errs(&text);
    let lines: Vec<usize> = p.iter().map(|p| p.line).collect();
    assert_eq!(lines, [2, 9], "{p:#?}");
}

#[test]
fn unknown_keys_are_named_even_with_odd_spelling() {
    let p = one(&doc("\"odd key\" = 1\n"));
    assert_eq!(p.field, "odd key");
    assert!(p.message.contains("unknown key `odd key`"), "{p}");
}

#[test]
fn referenced_files_of_broken_documents() {
    assert_eq!(referenced_files(""), Ok(vec![]));
    assert_eq!(referenced_files("zones = 3"), Ok(vec![]));
    assert_eq!(
        referenced_files("zones = [1, { geometry = \"a.geojson\" }, { id = 3 }]"),
        Ok(vec!["a.geojson".to_owned()])
    );
    let p = referenced_files("zones = [{ geometry = \"/a\" }]")
        .err()
        .unwrap_or_default();
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].file.as_str(), p[0].line), ("", 1));
}

#[test]
fn the_agreement_json_has_no_internal_fields() {
    let a = ok(&doc(""));
    let v = serde_json::to_value(&a).unwrap_or_default();
    let mut keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "attribution",
            "entry_into_force",
            "escalation",
            "id",
            "milestones",
            "parties",
            "rules",
            "title",
            "verification",
            "zones"
        ]
    );
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    let n = 100_000;
    let arrays = format!("x = {}{}", "[".repeat(n), "]".repeat(n));
    assert!(!errs(&arrays).is_empty());
    let tables = format!("x = {}1{}", "{ a = ".repeat(n), " }".repeat(n));
    assert!(!errs(&tables).is_empty());
    let _ = referenced_files(&arrays);
    let json = format!(
        "{}{}",
        r#"{"type":"GeometryCollection","geometries":["#.repeat(n),
        "]}".repeat(n)
    );
    let r = MapResolver(BTreeMap::from([(
        "g.geojson".to_owned(),
        json.into_bytes(),
    )]));
    let text = doc("[[zones]]\nid = \"z\"\ngeometry = \"g.geojson\"\n");
    let p = check("t.toml", &text, &r).err().unwrap_or_default();
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(p[0].message.contains("not valid GeoJSON"), "{}", p[0]);
}
