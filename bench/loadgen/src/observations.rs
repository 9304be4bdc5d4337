//! Synthetic but realistic `observation` payloads (DESIGN §5) for the ingest benchmark.
//!
//! Every payload is a pure function of (seed, index): the same run signs the same entries
//! whatever the number of signing threads. The mix follows what a monitoring mission along the
//! Donbas line of contact reports: mostly fire (explosions, impacts, bursts, shots; heard more
//! often than seen), some presence (weapons in withdrawal areas), harm and mission restrictions;
//! points near the line of contact of `examples/donbas/contact_line.geojson` (and some deeper in
//! the area), windows of minutes in the recent past, located directly or by bearing and
//! distance from the observer, optional weapon, direction, targets, casualties, evidence,
//! narrative and alleged party.
//!
//! Every payload is checked with the model's own parser ([`Observation::parse`] and
//! [`Observation::check_at`]) before it is signed, so a schema mistake here stops the run before
//! anything is timed.

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};
use truce_model::observation::Observation;

/// The Donbas box every point is clamped into: (lat min, lat max, lon min, lon max).
pub const AREA: (f64, f64, f64, f64) = (47.0, 49.0, 37.3, 39.7);

/// xorshift64* seeded through splitmix64: small, fast, reproducible; not for anything secret.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so that neighbouring seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_f491_4f6c_dd1d } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, n)` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `[lo, hi]`.
    pub fn int(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }

    /// An item of `(item, weight)` pairs, with probability proportional to its weight.
    pub fn weighted<'a, T>(&mut self, xs: &'a [(T, u32)]) -> &'a T {
        let total: u32 = xs.iter().map(|(_, w)| w).sum();
        let mut r = self.below(u64::from(total)) as u32;
        for (x, w) in xs {
            if r < *w {
                return x;
            }
            r -= w;
        }
        &xs[xs.len() - 1].0
    }
}

/// `secs` since the epoch as RFC 3339 UTC with second precision.
pub fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Event types with their share of reports (per cent); fire dominates, as in the OSCE SMM's
/// daily reports.
const EVENT_TYPES: &[(&str, u32)] = &[
    ("explosion", 20),
    ("impact", 12),
    ("outgoing", 10),
    ("burst", 12),
    ("shot", 8),
    ("airburst", 3),
    ("projectile", 2),
    ("muzzle-flash", 3),
    ("illumination", 3),
    ("strike", 4),
    ("weapon-sighting", 5),
    ("forces-presence", 3),
    ("fortification", 2),
    ("damage", 5),
    ("casualty", 2),
    ("mine", 1),
    ("access-restriction", 3),
    ("sensor-interference", 2),
];

/// Weapon classes (with typical calibres, mm) that fit an event type; empty if none applies.
fn weapons(event: &str) -> &'static [(&'static str, &'static [f64])] {
    const HEAVY: &[(&str, &[f64])] = &[
        ("artillery", &[122.0, 152.0]),
        ("mortar", &[82.0, 120.0]),
        ("tank", &[125.0]),
        ("mlrs", &[122.0, 220.0]),
        ("grenade-launcher", &[30.0, 40.0]),
    ];
    const LIGHT: &[(&str, &[f64])] = &[
        ("small-arms", &[5.45, 7.62]),
        ("heavy-machine-gun", &[12.7, 14.5]),
    ];
    match event {
        "explosion" | "impact" | "outgoing" | "airburst" => HEAVY,
        "burst" | "shot" => LIGHT,
        "projectile" => &[("mlrs", &[122.0]), ("missile", &[])],
        "muzzle-flash" => &[("artillery", &[122.0, 152.0]), ("tank", &[125.0])],
        "illumination" => &[("mortar", &[82.0])],
        "strike" => &[("drone", &[]), ("missile", &[]), ("aircraft", &[])],
        "weapon-sighting" => &[
            ("artillery", &[122.0, 152.0]),
            ("tank", &[125.0]),
            ("mlrs", &[122.0]),
            ("mortar", &[120.0]),
        ],
        "damage" | "casualty" => &[
            ("artillery", &[122.0, 152.0]),
            ("mortar", &[82.0, 120.0]),
            ("mlrs", &[122.0]),
            ("drone", &[]),
        ],
        _ => &[],
    }
}

/// How the event was perceived, by event type.
fn modes(event: &str) -> &'static [(&'static str, u32)] {
    match event {
        "weapon-sighting" | "forces-presence" | "fortification" => {
            &[("seen", 40), ("uav", 35), ("satellite", 15), ("camera", 10)]
        }
        "damage" | "casualty" | "mine" => {
            &[("seen", 50), ("reported", 30), ("uav", 10), ("camera", 10)]
        }
        "access-restriction" => &[("seen", 80), ("reported", 20)],
        "sensor-interference" => &[("sensor", 100)],
        _ => &[
            ("heard", 45),
            ("seen", 25),
            ("camera", 15),
            ("uav", 5),
            ("sensor", 10),
        ],
    }
}

/// Location uncertainty (metres) by how the event was perceived.
fn radius_range(mode: &str) -> (f64, f64) {
    match mode {
        "heard" | "reported" => (1_000.0, 5_000.0),
        "seen" => (200.0, 1_500.0),
        "camera" | "sensor" => (300.0, 3_000.0),
        "uav" => (50.0, 300.0),
        _ => (20.0, 100.0),
    }
}

const PLACES: &[&str] = &[
    "Avdiivka",
    "Horlivka",
    "Svitlodarsk",
    "Zolote",
    "Shyrokyne",
    "Marinka",
    "Stanytsia Luhanska",
    "Popasna",
    "Donetsk airport",
    "Yasynuvata",
    "Debaltseve",
    "Shchastia",
    "Pyshchevyk",
    "Krasnohorivka",
];
const COMPASS: &[&str] = &[
    "north",
    "north-east",
    "east",
    "south-east",
    "south",
    "south-west",
    "west",
    "north-west",
];
const TARGETS: &[&str] = &[
    "civilian",
    "energy",
    "water",
    "medical",
    "education",
    "transport",
    "military",
];
const CASUALTIES: &[&str] = &[
    "civilian_killed",
    "civilian_injured",
    "combatant_killed",
    "combatant_injured",
    "unknown_killed",
    "unknown_injured",
];

/// An evidence item the setup uploaded: its sha256 and media type.
#[derive(Clone)]
pub struct EvidenceBlob {
    pub sha256: String,
    pub media_type: &'static str,
}

/// The order of the observed windows among the observations of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Each window anywhere in the span: reports arrive in no order of time.
    Random,
    /// Observation `i` of `n` a fraction `i / n` into the span, within an hour, as a mission's
    /// reports arrive over the weeks; one in fifty is late, by up to a week.
    InTime { n: u64 },
}

/// Makes the payloads of one run.
pub struct Generator {
    /// The run prefix of every id.
    pub run: String,
    /// The agreement every observation is reported under.
    pub agreement: String,
    /// Seed of the whole set.
    pub seed: u64,
    /// Wall clock at generation, seconds since the epoch; every window ends before it.
    pub now_s: i64,
    /// Windows end within this many seconds before `now_s`.
    pub span_s: i64,
    /// In which order of observed time the observations are made.
    pub order: Order,
    /// The line of contact, `(lat, lon)` vertices; empty to spread points over [`AREA`].
    pub line: Vec<(f64, f64)>,
    /// Uploaded evidence media to refer to.
    pub evidence: Vec<EvidenceBlob>,
}

impl Generator {
    /// A point near the line of contact (most reports) or anywhere in the area (strikes and
    /// damage deep behind it).
    fn point(&self, rng: &mut Rng) -> (f64, f64) {
        let (lat0, lat1, lon0, lon1) = AREA;
        if self.line.len() < 2 || rng.chance(0.15) {
            return (rng.range(lat0, lat1), rng.range(lon0, lon1));
        }
        let s = rng.below(self.line.len() as u64 - 1) as usize;
        let t = rng.unit();
        let (a, b) = (self.line[s], self.line[s + 1]);
        let (lat, lon) = (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
        // Up to ~10 km off the line, denser close to it.
        let d_km = 10.0 * rng.unit() * rng.unit();
        let bearing = rng.range(0.0, std::f64::consts::TAU);
        let lat = lat + d_km * bearing.cos() / 111.2;
        let lon = lon + d_km * bearing.sin() / (111.2 * lat.to_radians().cos());
        (lat.clamp(lat0, lat1), lon.clamp(lon0, lon1))
    }

    /// The payload of observation `i` (id `{run}-obs-{i}`).
    pub fn payload(&self, i: u64) -> Value {
        self.payload_with_id(i, format!("{}-obs-{i}", self.run))
    }

    /// The payload of observation `i` under another id.
    pub fn payload_with_id(&self, i: u64, id: String) -> Value {
        let mut rng = Rng::new(self.seed.wrapping_mul(0x1000_0000_01b3) ^ i);
        let event_type = *rng.weighted(EVENT_TYPES);
        let mode = *rng.weighted(modes(event_type));
        let fire = matches!(
            event_type,
            "explosion"
                | "impact"
                | "outgoing"
                | "airburst"
                | "projectile"
                | "muzzle-flash"
                | "illumination"
                | "burst"
                | "shot"
                | "strike"
        );

        let (from, to) = self.window(&mut rng, i, event_type, fire);
        let count = event_count(&mut rng, event_type);
        let mut event = Map::new();
        event.insert("type".into(), json!(event_type));
        event.insert("count".into(), json!(count));
        if count > 10 {
            event.insert("approx".into(), json!(true));
        }
        let mut observer = Map::new();
        self.place(&mut rng, mode, fire, &mut event, &mut observer);
        observer.insert("mode".into(), json!(mode));
        let harmful = armament(&mut rng, event_type, fire, &mut event);
        let mut obj = Map::new();
        obj.insert("id".into(), json!(id));
        obj.insert("agreement".into(), json!(self.agreement));
        obj.insert(
            "observed".into(),
            json!({"from": rfc3339(from), "to": rfc3339(to)}),
        );
        obj.insert("observer".into(), Value::Object(observer));
        obj.insert("event".into(), Value::Object(event));

        casualties(&mut rng, event_type, harmful, &mut obj);
        let credibility = *rng.weighted(&[(1, 10), (2, 30), (3, 30), (4, 15), (5, 5), (6, 10)]);
        obj.insert("grading".into(), json!({"credibility": credibility}));

        self.evidence(&mut rng, mode, &mut obj);
        narrative(&mut rng, mode, count, event_type, &mut obj);
        if rng.chance(0.25) {
            obj.insert("alleged_party".into(), json!(rng.pick(&["UA", "RU"])));
        }
        Value::Object(obj)
    }

    /// When: a window of minutes ending at least a minute before generation.
    fn window(&self, rng: &mut Rng, i: u64, event_type: &str, fire: bool) -> (i64, i64) {
        let minutes = match event_type {
            _ if fire => rng.int(1, 30),
            "weapon-sighting" | "forces-presence" | "fortification" => rng.int(5, 120),
            "damage" | "casualty" | "mine" => rng.int(10, 240),
            _ => rng.int(10, 60),
        } as i64;
        let span = self.span_s.max(1);
        let ago = match self.order {
            Order::Random => rng.below(span as u64) as i64,
            Order::InTime { n } => {
                // Past the run (the sample posted first is observation `n`): from the start.
                let i = i % n.max(1);
                let behind = (n - i - 1) as f64 / n.max(1) as f64;
                let late = if rng.chance(0.02) {
                    rng.below(7 * 86_400) as i64
                } else {
                    0
                };
                ((span as f64 * behind) as i64 + rng.below(3_600) as i64 + late).min(span)
            }
        };
        let to = self.now_s - 60 - ago;
        let from = to - minutes * 60;

        (from, to)
    }

    /// Where: directly, or by bearing and distance from the observer.
    fn place(
        &self,
        rng: &mut Rng,
        mode: &str,
        fire: bool,
        event: &mut Map<String, Value>,
        observer: &mut Map<String, Value>,
    ) {
        let (lat, lon) = self.point(rng);
        let by_sector = matches!(mode, "heard" | "seen") && fire && rng.chance(0.35);
        if by_sector {
            // The observer stands a few km from the event, at about the opposite bearing.
            let b0 = rng.int(0, 359) as f64;
            let width = rng.int(10, 60) as f64;
            let near = round(rng.range(0.0, 4.0), 1);
            let far = round(near + rng.range(1.0, 6.0), 1);
            let back = (b0 + width / 2.0 + 180.0).to_radians();
            let d = (near + far) / 2.0;
            let olat = lat + d * back.cos() / 111.2;
            let olon = lon + d * back.sin() / (111.2 * lat.to_radians().cos());
            observer.insert(
                "position".into(),
                json!({"lat": round(olat, 5), "lon": round(olon, 5)}),
            );
            event.insert(
                "sector".into(),
                json!({"bearing_deg": [b0, (b0 + width) % 360.0], "distance_km": [near, far]}),
            );
        } else {
            let mut loc = Map::new();
            loc.insert("lat".into(), json!(round(lat, 5)));
            loc.insert("lon".into(), json!(round(lon, 5)));
            if rng.chance(0.9) {
                let (r0, r1) = radius_range(mode);
                loc.insert("radius_m".into(), json!(rng.range(r0, r1).round()));
            }
            event.insert("location".into(), Value::Object(loc));
        }
    }

    /// Evidence: mostly with imagery.
    fn evidence(&self, rng: &mut Rng, mode: &str, obj: &mut Map<String, Value>) {
        let evidence_p = if matches!(mode, "camera" | "uav" | "satellite") {
            0.7
        } else {
            0.05
        };
        if !self.evidence.is_empty() && rng.chance(evidence_p) {
            let first = rng.below(self.evidence.len() as u64) as usize;
            let mut items = vec![(first, "evidentiary")];
            if self.evidence.len() > 1 && rng.chance(0.3) {
                items.push(((first + 1) % self.evidence.len(), "context"));
            }
            let list: Vec<Value> = items
                .into_iter()
                .map(|(e, role)| {
                    let b = &self.evidence[e];
                    json!({"sha256": b.sha256, "media_type": b.media_type, "role": role})
                })
                .collect();
            obj.insert("evidence".into(), json!(list));
        }
    }

    /// Checks a payload with the model's parser and the log-time check at `now_ms`.
    pub fn check(payload: &Value, now_ms: i64) -> Result<()> {
        let Value::Object(obj) = payload else {
            bail!("not an object");
        };
        let errors = match Observation::parse(obj) {
            Ok(o) => o.check_at(now_ms),
            Err(e) => e,
        };
        if errors.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.pointer, e.message))
            .collect();
        bail!("{}\n  {payload}", list.join("; "))
    }
}

/// The `(lat, lon)` vertices of the first LineString in a GeoJSON text (Feature,
/// FeatureCollection or bare geometry); empty if there is none.
pub fn line_of_contact(geojson: &str) -> Vec<(f64, f64)> {
    fn find(v: &Value) -> Option<&Vec<Value>> {
        match v.get("type").and_then(Value::as_str) {
            Some("LineString") => v.get("coordinates")?.as_array(),
            Some("Feature") => find(v.get("geometry")?),
            Some("FeatureCollection") => v.get("features")?.as_array()?.iter().find_map(find),
            _ => None,
        }
    }
    let Ok(v) = serde_json::from_str::<Value>(geojson) else {
        return Vec::new();
    };
    find(&v)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| Some((c.get(1)?.as_f64()?, c.get(0)?.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// How many events of `event_type` one report counts.
fn event_count(rng: &mut Rng, event_type: &str) -> u64 {
    match event_type {
        "explosion" | "impact" | "outgoing" => 1 + (rng.unit().powi(3) * 80.0) as u64,
        "burst" => rng.int(1, 30),
        "shot" => rng.int(1, 60),
        "airburst" | "illumination" | "muzzle-flash" => rng.int(1, 8),
        "weapon-sighting" => rng.int(1, 6),
        "forces-presence" => rng.int(1, 40),
        _ => 1,
    }
}

/// With what, from where, at what; returns whether the event harms (for casualties).
fn armament(rng: &mut Rng, event_type: &str, fire: bool, event: &mut Map<String, Value>) -> bool {
    let classes = weapons(event_type);
    let weapon_p = match event_type {
        "weapon-sighting" => 1.0,
        _ if fire => 0.6,
        _ => 0.4,
    };
    if !classes.is_empty() && rng.chance(weapon_p) {
        let (class, calibres) = *rng.pick(classes);
        let mut w = Map::new();
        w.insert("class".into(), json!(class));
        if !calibres.is_empty() && rng.chance(0.7) {
            w.insert("calibre_mm".into(), json!(*rng.pick(calibres)));
        }
        event.insert("weapon".into(), Value::Object(w));
    }
    if matches!(event_type, "explosion" | "impact" | "airburst" | "strike") && rng.chance(0.4) {
        event.insert(
            "direction".into(),
            json!({"origin_bearing_deg": rng.int(0, 359)}),
        );
    }
    let harmful = matches!(event_type, "impact" | "strike" | "damage" | "casualty");
    if harmful && rng.chance(0.3) {
        let first = rng.below(TARGETS.len() as u64) as usize;
        let mut targets = vec![TARGETS[first]];
        if rng.chance(0.3) {
            targets.push(
                TARGETS[(first + 1 + rng.below(TARGETS.len() as u64 - 1) as usize) % TARGETS.len()],
            );
        }
        event.insert("targets".into(), json!(targets));
    }

    harmful
}

/// Casualties: always for `casualty`, sometimes with damage, impacts and strikes.
fn casualties(rng: &mut Rng, event_type: &str, harmful: bool, obj: &mut Map<String, Value>) {
    if event_type == "casualty" || (harmful && rng.chance(0.1)) {
        let mut c = Map::new();
        let first = rng.below(CASUALTIES.len() as u64) as usize;
        let kinds = if rng.chance(0.4) {
            vec![first, (first + 1) % CASUALTIES.len()]
        } else {
            vec![first]
        };
        for k in kinds {
            let best = rng.int(u64::from(event_type == "casualty"), 5);
            let low = best - rng.below(best + 1);
            let high = best + rng.below(3);
            c.insert(
                CASUALTIES[k].into(),
                json!({"low": low, "best": best, "high": high}),
            );
        }
        obj.insert("casualties".into(), Value::Object(c));
    }
}

/// Sometimes, a sentence of narrative.
fn narrative(
    rng: &mut Rng,
    mode: &str,
    count: u64,
    event_type: &str,
    obj: &mut Map<String, Value>,
) {
    if rng.chance(0.4) {
        let verb = match mode {
            "heard" => "heard",
            "seen" => "saw",
            "camera" => "recorded on camera",
            "uav" => "spotted from a UAV",
            "satellite" => "found in satellite imagery",
            "sensor" => "detected with an acoustic sensor",
            _ => "was told by residents of",
        };
        obj.insert(
            "narrative".into(),
            json!(format!(
                "The patrol {verb} {count} × {event_type} {} of its position near {}.",
                rng.pick(COMPASS),
                rng.pick(PLACES)
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator's output is part of the benchmark's definition: refactoring it must not
    /// change a single payload (this digest was taken before `payload_with_id` was split).
    #[test]
    fn payloads_are_unchanged_by_refactoring() {
        use sha2::{Digest as _, Sha256};
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/donbas/contact_line.geojson"),
        )
        .unwrap();
        let g = Generator {
            run: "t".into(),
            agreement: "donbas-2026".into(),
            seed: 7,
            now_s: 1_800_000_000,
            span_s: 7 * 86_400,
            order: Order::Random,
            line: line_of_contact(&text),
            evidence: vec![EvidenceBlob {
                sha256: "b".repeat(64),
                media_type: "image/jpeg",
            }],
        };
        let mut h = Sha256::new();
        for i in 0..5_000 {
            h.update(g.payload(i).to_string().as_bytes());
        }
        assert_eq!(
            hex_digest(&h.finalize()),
            "0e972048a70c6bda0376f2ef5d8d8cae4558caa7364555af8d8c66d922291b46"
        );
    }

    fn hex_digest(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn payloads_are_valid_and_varied() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/donbas/contact_line.geojson"),
        )
        .unwrap();
        let line = line_of_contact(&text);
        assert!(line.len() > 10);
        let now_s = 1_800_000_000;
        let g = Generator {
            run: "t".into(),
            agreement: "donbas-2026".into(),
            seed: 1,
            now_s,
            span_s: 7 * 86_400,
            order: Order::Random,
            line,
            evidence: vec![EvidenceBlob {
                sha256: "a".repeat(64),
                media_type: "image/jpeg",
            }],
        };
        let mut types = std::collections::BTreeSet::new();
        let (mut sectors, mut casualties, mut evidence) = (0, 0, 0);
        for i in 0..20_000 {
            let p = g.payload(i);
            Generator::check(&p, now_s * 1000).unwrap();
            types.insert(p["event"]["type"].as_str().unwrap().to_string());
            sectors += usize::from(p["event"].get("sector").is_some());
            casualties += usize::from(p.get("casualties").is_some());
            evidence += usize::from(p.get("evidence").is_some());
            let (lat, lon) = match p["event"].get("location") {
                Some(l) => (l["lat"].as_f64().unwrap(), l["lon"].as_f64().unwrap()),
                None => {
                    let o = &p["observer"]["position"];
                    (o["lat"].as_f64().unwrap(), o["lon"].as_f64().unwrap())
                }
            };
            assert!(
                (46.9..=49.1).contains(&lat) && (37.2..=39.8).contains(&lon),
                "{p}"
            );
        }
        assert_eq!(types.len(), EVENT_TYPES.len(), "{types:?}");
        assert!(sectors > 1_000, "{sectors}");
        assert!(casualties > 400, "{casualties}");
        assert!(evidence > 1_000, "{evidence}");
        // Reproducible.
        assert_eq!(g.payload(7), g.payload(7));

        // In time: the windows advance through the span, a few arriving late.
        let n = 5_000;
        let g = Generator {
            order: Order::InTime { n },
            ..g
        };
        let end = |i: u64| {
            let p = g.payload(i);
            Generator::check(&p, now_s * 1000).unwrap();
            p["observed"]["to"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_second()
        };
        let ends: Vec<i64> = (0..n).map(end).collect();
        assert!(
            ends.iter()
                .all(|&t| t <= now_s - 60 && t >= now_s - 60 - 7 * 86_400)
        );
        let mean = |s: &[i64]| s.iter().sum::<i64>() / s.len() as i64;
        let (first, last) = (mean(&ends[..500]), mean(&ends[n as usize - 500..]));
        assert!(last - first > 5 * 86_400, "{first} .. {last}");
        let late = (1..n as usize)
            .filter(|&i| ends[i] < ends[i - 1] - 3_600)
            .count();
        assert!((20..=250).contains(&late), "{late} late");
    }
}
