//! Loading and checking the GeoJSON files that define zones.
//!
//! Zone geometry decides whether an event is a violation and whom it is attributed to, so a
//! geometry that is subtly broken (an unclosed ring, a self-intersecting polygon whose "inside" is
//! ambiguous, latitude and longitude swapped) would silently produce wrong findings. The checks
//! here are strict and run on the raw GeoJSON positions *before* conversion to `geo` types,
//! because `geo` closes rings silently and would hide an unclosed ring.
//!
//! Accepted input: a GeoJSON `Geometry`, a `Feature` with a geometry, or a `FeatureCollection`
//! with exactly one feature; the geometry is a `LineString`, `MultiLineString`, `Polygon` or
//! `MultiPolygon`. Positions may carry a third (altitude) value, which is ignored.

use geo::{Coord, LineString, MultiLineString, MultiPolygon, Polygon, Validation};
use geojson::{GeoJson, GeometryValue, Position};

/// Most positions a geometry file may hold. Polygon validation in `geo` is quadratic in the
/// length of a ring; this keeps a single check within seconds.
pub(crate) const MAX_POSITIONS: usize = 20_000;

/// At most this many issues are reported per file; the rest are summarised.
const MAX_ISSUES: usize = 8;

/// Loads one zone geometry from GeoJSON bytes, or says everything that is wrong with it.
pub(crate) fn load(bytes: &[u8]) -> Result<geo::Geometry<f64>, Vec<String>> {
    let gj: GeoJson =
        serde_json::from_slice(bytes).map_err(|e| vec![format!("not valid GeoJSON: {e}")])?;
    let geometry = single_geometry(gj).map_err(|e| vec![e])?;
    let mut issues = Issues::default();
    let total = count_positions(&geometry.value);
    if total > MAX_POSITIONS {
        return Err(vec![format!(
            "the geometry has {total} positions; at most {MAX_POSITIONS} are supported"
        )]);
    }
    let converted = convert(&geometry.value, &mut issues);
    match converted {
        Some(g) if issues.list.is_empty() => {
            validate(&g, &mut issues);
            if issues.list.is_empty() {
                Ok(g)
            } else {
                Err(issues.finish())
            }
        }
        _ => Err(issues.finish()),
    }
}

/// A human name for the geometry type, as GeoJSON spells it.
/// Whether `g` is a (Multi)LineString: a line zone's geometry.
pub(crate) fn is_line(g: &geo::Geometry<f64>) -> bool {
    matches!(
        g,
        geo::Geometry::LineString(_) | geo::Geometry::MultiLineString(_)
    )
}

/// Whether `g` is a (Multi)Polygon: a controlled area's geometry.
pub(crate) fn is_polygon(g: &geo::Geometry<f64>) -> bool {
    matches!(
        g,
        geo::Geometry::Polygon(_) | geo::Geometry::MultiPolygon(_)
    )
}

pub(crate) fn type_name(g: &geo::Geometry<f64>) -> &'static str {
    match g {
        geo::Geometry::Point(_) => "Point",
        geo::Geometry::Line(_) => "Line",
        geo::Geometry::LineString(_) => "LineString",
        geo::Geometry::Polygon(_) => "Polygon",
        geo::Geometry::MultiPoint(_) => "MultiPoint",
        geo::Geometry::MultiLineString(_) => "MultiLineString",
        geo::Geometry::MultiPolygon(_) => "MultiPolygon",
        geo::Geometry::GeometryCollection(_) => "GeometryCollection",
        geo::Geometry::Rect(_) => "Rect",
        geo::Geometry::Triangle(_) => "Triangle",
    }
}

fn single_geometry(gj: GeoJson) -> Result<geojson::Geometry, String> {
    match gj {
        GeoJson::Geometry(g) => Ok(g),
        GeoJson::Feature(f) => f
            .geometry
            .ok_or_else(|| "the Feature has no geometry".to_owned()),
        GeoJson::FeatureCollection(fc) => {
            let n = fc.features.len();
            let mut features = fc.features.into_iter();
            match (features.next(), n) {
                (Some(f), 1) => f.geometry.ok_or_else(|| {
                    "the only Feature of the FeatureCollection has no geometry".to_owned()
                }),
                _ => Err(format!(
                    "the FeatureCollection has {n} features; exactly one geometry is needed"
                )),
            }
        }
    }
}

#[derive(Default)]
struct Issues {
    list: Vec<String>,
    more: usize,
}

impl Issues {
    fn push(&mut self, s: String) {
        if self.list.len() < MAX_ISSUES {
            self.list.push(s);
        } else {
            self.more += 1;
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.list.push(format!("... and {} more", self.more));
        }
        if self.list.is_empty() {
            // Unreachable in practice: `convert` returns `None` only after pushing an issue.
            self.list.push("the geometry could not be read".to_owned());
        }
        self.list
    }
}

fn count_positions(v: &GeometryValue) -> usize {
    match v {
        GeometryValue::Point { .. } => 1,
        GeometryValue::MultiPoint { coordinates } | GeometryValue::LineString { coordinates } => {
            coordinates.len()
        }
        GeometryValue::MultiLineString { coordinates } | GeometryValue::Polygon { coordinates } => {
            coordinates.iter().map(Vec::len).sum()
        }
        GeometryValue::MultiPolygon { coordinates } => coordinates
            .iter()
            .flat_map(|p| p.iter().map(Vec::len))
            .sum(),
        GeometryValue::GeometryCollection { geometries } => geometries
            .iter()
            .map(|g| count_positions(&g.value))
            .fold(0, usize::saturating_add),
    }
}

/// Converts the raw positions, recording every structural problem. Returns `None` if the
/// geometry type is not allowed.
fn convert(v: &GeometryValue, issues: &mut Issues) -> Option<geo::Geometry<f64>> {
    match v {
        GeometryValue::LineString { coordinates } => {
            Some(geo::Geometry::LineString(line(coordinates, "", issues)))
        }
        GeometryValue::MultiLineString { coordinates } => {
            if coordinates.is_empty() {
                issues.push("the MultiLineString is empty".to_owned());
            }
            let lines = coordinates
                .iter()
                .enumerate()
                .map(|(i, l)| line(l, &format!("line {i}: "), issues))
                .collect();
            Some(geo::Geometry::MultiLineString(MultiLineString::new(lines)))
        }
        GeometryValue::Polygon { coordinates } => {
            Some(geo::Geometry::Polygon(polygon(coordinates, "", issues)))
        }
        GeometryValue::MultiPolygon { coordinates } => {
            if coordinates.is_empty() {
                issues.push("the MultiPolygon is empty".to_owned());
            }
            let polygons = coordinates
                .iter()
                .enumerate()
                .map(|(i, p)| polygon(p, &format!("polygon {i}: "), issues))
                .collect();
            Some(geo::Geometry::MultiPolygon(MultiPolygon::new(polygons)))
        }
        other => {
            issues.push(format!(
                "a {} is not allowed: a zone is a LineString, MultiLineString, Polygon or \
                 MultiPolygon",
                other.type_name()
            ));
            None
        }
    }
}

fn line(positions: &[Position], at: &str, issues: &mut Issues) -> LineString<f64> {
    if positions.len() < 2 {
        issues.push(format!(
            "{at}a line needs at least 2 points, found {}",
            positions.len()
        ));
    }
    LineString::new(coords(positions, at, issues))
}

fn polygon(rings: &[Vec<Position>], at: &str, issues: &mut Issues) -> Polygon<f64> {
    if rings.is_empty() {
        issues.push(format!("{at}a polygon needs an exterior ring, found none"));
    }
    let mut converted = rings.iter().enumerate().map(|(i, ring)| {
        let at = format!("{at}ring {i}: ");
        if ring.len() < 4 {
            issues.push(format!(
                "{at}a ring needs at least 4 positions (the last repeating the first), found {}",
                ring.len()
            ));
        } else if let (Some(first), Some(last)) = (ring.first(), ring.last())
            && (first.as_slice().get(..2) != last.as_slice().get(..2))
        {
            issues.push(format!(
                "{at}the ring is not closed: its last position must repeat its first"
            ));
        }
        LineString::new(coords(ring, &at, issues))
    });
    let exterior = converted
        .next()
        .unwrap_or_else(|| LineString::new(Vec::new()));
    let interiors = converted.collect();
    Polygon::new(exterior, interiors)
}

fn coords(positions: &[Position], at: &str, issues: &mut Issues) -> Vec<Coord<f64>> {
    positions
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match *p.as_slice() {
            [lon, lat, ..] => {
                if !lon.is_finite() || !lat.is_finite() {
                    issues.push(format!("{at}position {i} is not finite"));
                } else if !(-180.0..=180.0).contains(&lon) {
                    issues.push(format!(
                        "{at}position {i} [{lon}, {lat}]: longitude {lon} is out of range \
                         -180..180"
                    ));
                } else if !(-90.0..=90.0).contains(&lat) {
                    issues.push(format!(
                        "{at}position {i} [{lon}, {lat}]: latitude {lat} is out of range -90..90 \
                         (GeoJSON positions are [longitude, latitude])"
                    ));
                }
                Some(Coord { x: lon, y: lat })
            }
            _ => {
                issues.push(format!(
                    "{at}position {i} has {} numbers, needs [longitude, latitude]",
                    p.len()
                ));
                None
            }
        })
        .collect()
}

/// Runs `geo`'s OGC validity checks (self-intersection, rings crossing, holes outside the shell,
/// overlapping members). The structural checks above have already passed.
fn validate(g: &geo::Geometry<f64>, issues: &mut Issues) {
    // Defence in depth: the input is untrusted and `geo`'s predicates are complex; a panic in
    // them must become a problem report, never a crashed server.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match g {
        geo::Geometry::LineString(l) => strings(l.validation_errors()),
        geo::Geometry::MultiLineString(l) => strings(l.validation_errors()),
        geo::Geometry::Polygon(p) => strings(p.validation_errors()),
        geo::Geometry::MultiPolygon(p) => strings(p.validation_errors()),
        _ => Vec::new(),
    }));
    match result {
        Ok(errors) => {
            for e in errors {
                issues.push(format!("invalid {}: {e}", type_name(g)));
            }
        }
        Err(_) => issues.push(format!(
            "the {} could not be validated (it is probably degenerate)",
            type_name(g)
        )),
    }
}

fn strings<E: std::fmt::Display>(errors: Vec<E>) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        match load(json.as_bytes()) {
            Ok(g) => panic!("accepted {json}: {g:?}"),
            Err(e) => e.join(" | "),
        }
    }

    const SQUARE: &str = r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}"#;

    #[test]
    fn accepts_the_four_types_and_wrappers() {
        assert!(matches!(
            load(SQUARE.as_bytes()),
            Ok(geo::Geometry::Polygon(_))
        ));
        let feature = format!(r#"{{"type":"Feature","properties":{{}},"geometry":{SQUARE}}}"#);
        assert!(load(feature.as_bytes()).is_ok());
        let fc = format!(r#"{{"type":"FeatureCollection","features":[{feature}]}}"#);
        assert!(load(fc.as_bytes()).is_ok());
        let line = r#"{"type":"LineString","coordinates":[[38.0,48.0],[38.5,48.2,120.0]]}"#;
        assert!(matches!(
            load(line.as_bytes()),
            Ok(geo::Geometry::LineString(_))
        ));
        let ml = r#"{"type":"MultiLineString","coordinates":[[[0,0],[1,1]],[[2,2],[3,3]]]}"#;
        assert!(matches!(
            load(ml.as_bytes()),
            Ok(geo::Geometry::MultiLineString(_))
        ));
        let mp = r#"{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,5],[6,6],[5,5]]]]}"#;
        assert!(matches!(
            load(mp.as_bytes()),
            Ok(geo::Geometry::MultiPolygon(_))
        ));
    }

    #[test]
    fn rejects_what_is_wrong() {
        assert!(err("{").contains("not valid GeoJSON"));
        assert!(err(r#"{"type":"Point","coordinates":[0,0]}"#).contains("a Point is not allowed"));
        assert!(err(r#"{"type":"FeatureCollection","features":[]}"#).contains("0 features"));
        assert!(
            err(r#"{"type":"Feature","properties":{},"geometry":null}"#).contains("no geometry")
        );
        assert!(
            err(r#"{"type":"LineString","coordinates":[[0,0]]}"#).contains("at least 2 points")
        );
        assert!(
            err(r#"{"type":"LineString","coordinates":[[0,0],[0,0]]}"#)
                .contains("at least 2 distinct points")
        );
        assert!(
            err(r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}"#)
                .contains("ring 0: the ring is not closed")
        );
        assert!(
            err(r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}"#)
                .contains("at least 4 positions")
        );
        assert!(err(r#"{"type":"Polygon","coordinates":[]}"#).contains("exterior ring"));
        // A bow tie.
        assert!(
            err(r#"{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}"#)
                .contains("self-intersection")
        );
        assert!(
            err(r#"{"type":"LineString","coordinates":[[181,0],[1,1]]}"#)
                .contains("longitude 181 is out of range")
        );
        assert!(
            err(r#"{"type":"LineString","coordinates":[[0,0],[1,-90.5]]}"#)
                .contains("position 1 [1, -90.5]: latitude -90.5 is out of range")
        );
        assert!(
            err(r#"{"type":"MultiPolygon","coordinates":[[[[0,0],[2,0],[2,2],[0,0]]],[[[1,0],[3,0],[3,2],[1,0]]]]}"#)
                .contains("overlap")
        );
        assert!(err(r#"{"type":"MultiLineString","coordinates":[]}"#).contains("empty"));
    }

    #[test]
    fn caps_issues_and_size() {
        let many: Vec<String> = (0..30).map(|i| format!("[{},{}]", 200 + i, 0)).collect();
        let json = format!(
            r#"{{"type":"LineString","coordinates":[{}]}}"#,
            many.join(",")
        );
        let issues = load(json.as_bytes()).err().unwrap_or_default();
        assert_eq!(issues.len(), MAX_ISSUES + 1);
        assert_eq!(issues.last().map(String::as_str), Some("... and 22 more"));

        let huge: Vec<&str> = std::iter::repeat_n("[0,0]", MAX_POSITIONS + 1).collect();
        let json = format!(
            r#"{{"type":"LineString","coordinates":[{}]}}"#,
            huge.join(",")
        );
        assert!(err(&json).contains("at most 20000"));
    }
}
