//! GeoJSON: a FeatureCollection of Point features, each one observation (docs/import.md).
//!
//! A feature gives the observation either flat (each property one field: `type`, `from`,
//! `weapon`, ...) or whole (`properties.observation`, the §5 payload); either way its Point is the
//! event's location, and its `id` (else the SHA-256 of the feature) makes the entry id. Every
//! field at fault is reported, by name.
//!
//! The collection is read with a streaming visitor ([`CollectionSeed`]): one feature is in memory
//! at a time, bounded by the reader's [`Limit`], so that a file of a million features imports in
//! the memory of one.

use std::fmt;
use std::io::{BufReader, Read};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use truce_model::dsse::check_id;

use super::records::{Limit, TOO_LONG};
use super::{MAX_RECORD_BYTES, Mapped, Reject, canonical_json};
use crate::text::{bounded, json_type};

/// The observation fields a feature may give flat in its `properties` (docs/import.md).
const FLAT_PROPERTIES: &[&str] = &[
    "type",
    "from",
    "to",
    "count",
    "approx",
    "radius_m",
    "weapon",
    "calibre_mm",
    "targets",
    "origin_bearing_deg",
    "mode",
    "credibility",
    "casualties",
    "evidence",
    "narrative",
    "alleged_party",
];

/// Maps one GeoJSON feature.
pub(super) fn map_feature(v: &Value, agreement: &str) -> Mapped {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut fail = |field: &str, why: String| problems.push((field.to_string(), why));
    let Value::Object(f) = v else {
        return (
            None,
            Err(Reject::new(
                "feature",
                format!("a feature is a JSON object, not {}", json_type(v)),
            )),
        );
    };
    if f.get("type").and_then(Value::as_str) != Some("Feature") {
        fail("type", "must be \"Feature\"".into());
    }
    let id = feature_id(v, f, &mut fail);
    let point = feature_point(f, &mut fail);
    let payload = match f.get("properties") {
        Some(Value::Object(p)) => match p.get("observation") {
            Some(nested) => nested_observation(nested, point, agreement, &mut fail),
            None => flat_observation(p, point, &mut fail),
        },
        None | Some(Value::Null) => {
            fail(
                "properties",
                "missing: the observation's fields (at least type and from) are properties".into(),
            );
            None
        }
        Some(other) => {
            fail(
                "properties",
                format!("must be an object, not {}", json_type(other)),
            );
            None
        }
    };
    (
        id,
        Reject::unless_problems(payload, "field", "feature", &problems),
    )
}

/// The entry id: `geojson-` and the feature's `id`, else the SHA-256 of the feature.
fn feature_id(
    v: &Value,
    f: &Map<String, Value>,
    fail: &mut impl FnMut(&str, String),
) -> Option<String> {
    let id = match f.get("id") {
        None | Some(Value::Null) => Some(format!(
            "geojson-{}",
            hex::encode(Sha256::digest(canonical_json(v)))
        )),
        Some(Value::String(s)) => Some(format!("geojson-{s}")),
        Some(Value::Number(n)) => Some(format!("geojson-{n}")),
        Some(other) => {
            fail(
                "id",
                format!("must be a string or a number, not {}", json_type(other)),
            );
            None
        }
    };
    id.and_then(|id| match check_id(&id) {
        Ok(()) => Some(id),
        Err(why) => {
            fail(
                "id",
                format!("{:?} does not make an entry id: {why}", bounded(&id, 80)),
            );
            None
        }
    })
}

/// The feature's Point, as (lat, lon).
fn feature_point(
    f: &Map<String, Value>,
    fail: &mut impl FnMut(&str, String),
) -> Option<(f64, f64)> {
    match f.get("geometry") {
        Some(Value::Object(g)) if g.get("type").and_then(Value::as_str) != Some("Point") => {
            fail(
                "geometry.type",
                format!(
                    "{}: only Point features locate an observation",
                    g.get("type")
                        .map(|t| bounded(&t.to_string(), 40))
                        .unwrap_or_else(|| "missing".into())
                ),
            );
            None
        }
        Some(Value::Object(g)) => point_coordinates(g, fail),
        None | Some(Value::Null) => {
            fail(
                "geometry",
                "missing: a Point locates the observation".into(),
            );
            None
        }
        Some(other) => {
            fail(
                "geometry",
                format!("must be an object, not {}", json_type(other)),
            );
            None
        }
    }
}

/// A Point's `coordinates`, `[lon, lat]` or `[lon, lat, altitude]`, as (lat, lon).
fn point_coordinates(
    g: &Map<String, Value>,
    fail: &mut impl FnMut(&str, String),
) -> Option<(f64, f64)> {
    let coordinates = g
        .get("coordinates")
        .and_then(Value::as_array)
        .map(Vec::as_slice);
    let Some([lon, lat, ..]) = coordinates.filter(|c| c.len() <= 3) else {
        fail(
            "geometry.coordinates",
            "must be [longitude, latitude] (or with an altitude)".into(),
        );
        return None;
    };
    let (Some(lon), Some(lat)) = (
        lon.as_f64().filter(|x| x.is_finite()),
        lat.as_f64().filter(|x| x.is_finite()),
    ) else {
        fail(
            "geometry.coordinates",
            "must be numbers [longitude, latitude]".into(),
        );
        return None;
    };
    let mut ok = true;
    if !(-180.0..=180.0).contains(&lon) {
        fail(
            "geometry.coordinates",
            format!("longitude {lon} is out of range (-180 to 180; GeoJSON gives [lon, lat])"),
        );
        ok = false;
    }
    if !(-90.0..=90.0).contains(&lat) {
        fail(
            "geometry.coordinates",
            format!("latitude {lat} is out of range (-90 to 90; GeoJSON gives [lon, lat])"),
        );
        ok = false;
    }
    ok.then_some((lat, lon))
}

/// `properties.observation`: the §5 payload, with the point from the geometry.
fn nested_observation(
    v: &Value,
    point: Option<(f64, f64)>,
    agreement: &str,
    fail: &mut impl FnMut(&str, String),
) -> Option<Map<String, Value>> {
    let Value::Object(o) = v else {
        fail(
            "properties.observation",
            format!("must be an object, not {}", json_type(v)),
        );
        return None;
    };
    let mut o = o.clone();
    let mut ok = true;
    if o.remove("id").is_some() {
        fail(
            "properties.observation.id",
            "the entry id is the feature's id; remove this field".into(),
        );
        ok = false;
    }
    match o.remove("agreement") {
        None => {}
        Some(Value::String(a)) if a == agreement => {}
        Some(other) => {
            fail(
                "properties.observation.agreement",
                format!(
                    "{} differs from the agreement imported under ({agreement}); remove it or \
                     pass --agreement",
                    bounded(&other.to_string(), 80)
                ),
            );
            ok = false;
        }
    }
    let Some(event) = o.get_mut("event") else {
        fail("properties.observation.event", "missing".into());
        return None;
    };
    let Value::Object(event) = event else {
        fail(
            "properties.observation.event",
            format!("must be an object, not {}", json_type(event)),
        );
        return None;
    };
    if event.contains_key("sector") {
        fail(
            "properties.observation.event.sector",
            "the feature's Point is the event's location; a sector cannot locate it as well".into(),
        );
        ok = false;
    }
    let location = event
        .entry("location")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(location) = location else {
        fail(
            "properties.observation.event.location",
            "must be an object (with at most radius_m: the Point gives lat and lon)".into(),
        );
        return None;
    };
    for k in ["lat", "lon"] {
        if location.contains_key(k) {
            fail(
                &format!("properties.observation.event.location.{k}"),
                "the feature's Point gives the location; remove this field".into(),
            );
            ok = false;
        }
    }
    let (lat, lon) = point?;
    location.insert("lat".into(), json!(lat));
    location.insert("lon".into(), json!(lon));
    ok.then_some(o)
}

/// Flat `properties` (docs/import.md): each key one observation field.
fn flat_observation(
    p: &Map<String, Value>,
    point: Option<(f64, f64)>,
    fail: &mut impl FnMut(&str, String),
) -> Option<Map<String, Value>> {
    let mut ok = true;
    let mut unknown: Vec<&String> = p
        .keys()
        .filter(|k| !FLAT_PROPERTIES.contains(&k.as_str()))
        .collect();
    unknown.sort();
    for k in unknown {
        fail(
            &format!("properties.{}", bounded(k, 60)),
            format!(
                "unknown property; expected one of: {} (or one `observation` object)",
                FLAT_PROPERTIES.join(", ")
            ),
        );
        ok = false;
    }
    for k in ["type", "from"] {
        if !p.contains_key(k) {
            fail(&format!("properties.{k}"), "missing".into());
            ok = false;
        }
    }
    if p.contains_key("calibre_mm") && !p.contains_key("weapon") {
        fail(
            "properties.calibre_mm",
            "needs `weapon` (the weapon class the calibre belongs to)".into(),
        );
        ok = false;
    }
    let (lat, lon) = point?;
    if !ok {
        return None;
    }
    let get = |k: &str| p.get(k).cloned();
    let mut location = json!({"lat": lat, "lon": lon});
    if let Some(r) = get("radius_m") {
        location["radius_m"] = r;
    }
    let mut event = Map::new();
    event.insert("type".into(), get("type")?);
    for k in ["count", "approx", "targets"] {
        if let Some(v) = get(k) {
            event.insert(k.into(), v);
        }
    }
    event.insert("location".into(), location);
    if let Some(w) = get("weapon") {
        let mut weapon = json!({"class": w});
        if let Some(c) = get("calibre_mm") {
            weapon["calibre_mm"] = c;
        }
        event.insert("weapon".into(), weapon);
    }
    if let Some(b) = get("origin_bearing_deg") {
        event.insert("direction".into(), json!({"origin_bearing_deg": b}));
    }
    let from = get("from")?;
    let to = get("to").unwrap_or_else(|| from.clone());
    let mut o = Map::new();
    o.insert("observed".into(), json!({"from": from, "to": to}));
    o.insert("event".into(), Value::Object(event));
    if let Some(m) = get("mode") {
        o.insert("observer".into(), json!({"mode": m}));
    }
    if let Some(c) = get("credibility") {
        o.insert("grading".into(), json!({"credibility": c}));
    }
    for k in ["casualties", "evidence", "narrative", "alleged_party"] {
        if let Some(v) = get(k) {
            o.insert(k.into(), v);
        }
    }
    Some(o)
}

/// Streams a FeatureCollection: `on_feature(n, feature)` for each feature as it is read (`n`
/// from 1); it returns false to stop.
pub(super) struct CollectionSeed<'a> {
    pub(super) on_feature: &'a mut dyn FnMut(u64, Value) -> bool,
    pub(super) limit: &'a Limit,
}

/// What the streaming read saw at the top level.
#[derive(Default)]
pub(super) struct CollectionInfo {
    /// `"type": "FeatureCollection"` was seen.
    is_collection: bool,
    pub(super) features: Option<u64>,
}

/// The error message [`FeaturesSeed`] stops with when `on_feature` asks to stop.
const STOPPED: &str = "import stopped";

impl<'de> DeserializeSeed<'de> for CollectionSeed<'_> {
    type Value = CollectionInfo;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<CollectionInfo, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CollectionSeed<'_> {
    type Value = CollectionInfo;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GeoJSON FeatureCollection object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CollectionInfo, A::Error> {
        let mut info = CollectionInfo::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => {
                    let t: Value = map.next_value()?;
                    if t != "FeatureCollection" {
                        return Err(de::Error::custom(format!(
                            "\"type\" is {}, not \"FeatureCollection\"",
                            bounded(&t.to_string(), 40)
                        )));
                    }
                    info.is_collection = true;
                }
                "features" if info.features.is_some() => {
                    return Err(de::Error::custom("\"features\" appears twice"));
                }
                "features" => {
                    info.features = Some(map.next_value_seed(FeaturesSeed {
                        on_feature: &mut *self.on_feature,
                        limit: self.limit,
                    })?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(info)
    }
}

struct FeaturesSeed<'a> {
    on_feature: &'a mut dyn FnMut(u64, Value) -> bool,
    limit: &'a Limit,
}

impl<'de> DeserializeSeed<'de> for FeaturesSeed<'_> {
    type Value = u64;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for FeaturesSeed<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of GeoJSON features")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut n = 0u64;
        loop {
            self.limit.reset();
            let Some(feature) = seq.next_element::<Value>()? else {
                break;
            };
            n += 1;
            if !(self.on_feature)(n, feature) {
                return Err(de::Error::custom(STOPPED));
            }
        }
        Ok(n)
    }
}

/// Reads the FeatureCollection file `name` feature by feature, handing each mapped feature to
/// `handle` (with its position from 1) until it returns false. `Err` says why the file could not
/// be read (further): not a FeatureCollection, malformed JSON, a feature over the size bound.
pub(super) fn read_collection<R: Read>(
    reader: R,
    limit: &Limit,
    agreement: &str,
    name: &str,
    handle: &mut dyn FnMut(u64, Option<u64>, Mapped) -> bool,
) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_reader(BufReader::new(reader));
    let mut on_feature = |n: u64, v: Value| handle(n, None, map_feature(&v, agreement));
    let seed = CollectionSeed {
        on_feature: &mut on_feature,
        limit,
    };
    let result = seed.deserialize(&mut de).and_then(|info| {
        de.end()?;
        Ok(info)
    });
    match result {
        Ok(info) if !info.is_collection => Err(format!(
            "{name}: not a GeoJSON FeatureCollection: no \"type\": \"FeatureCollection\""
        )),
        Ok(info) if info.features.is_none() => Err(format!(
            "{name}: the FeatureCollection has no \"features\" array"
        )),
        Ok(_) => Ok(()),
        // Also when `handle` stopped the read ([`STOPPED`]): the import has stopped then, and the
        // reason it gives comes first.
        Err(e) => {
            let why = if e.is_io() && e.to_string().contains(TOO_LONG) {
                format!(
                    "a feature is longer than {MAX_RECORD_BYTES} bytes (an entry holds at most \
                     64 KiB)"
                )
            } else {
                e.to_string()
            };
            Err(format!(
                "{name}: line {} column {}: not a GeoJSON FeatureCollection: {why}",
                e.line(),
                e.column()
            ))
        }
    }
}
