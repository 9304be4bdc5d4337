//! Incidents at the engine level (DESIGN §6): clustering of logged observations, status, who
//! may rule on an incident, rulings across merges, and the state digest under replay and
//! reordering.

use std::collections::{BTreeMap, BTreeSet};

use truce_model::agreement::MapResolver;
use truce_model::dsse::Envelope;
use truce_model::entry::FieldError;
use truce_model::keys::PrivateKey;

use crate::observation_tests::{AGREEMENT, World, rfc3339};
use crate::testing::T0;
use crate::{IncidentQuery, IncidentStatus, Refusal, State};

/// An explosion at (`lat`, 38.0) heard 10 minutes before the next log time, with `radius_m`.
fn report(w: &World, id: &str, lat: f64, radius_m: u32) -> serde_json::Value {
    let to = w.next_time() - 60_000;
    serde_json::json!({"id": id, "agreement": AGREEMENT,
        "observed": {"from": rfc3339(to - 10 * 60_000), "to": rfc3339(to)},
        "observer": {"mode": "heard"},
        "event": {"type": "explosion", "count": 4,
                  "location": {"lat": lat, "lon": 38.0, "radius_m": radius_m}}})
}

fn status(w: &World, id: &str) -> IncidentStatus {
    w.state.incident(id).expect("an incident").status
}

fn invalid(r: Result<u64, Refusal>) -> Vec<FieldError> {
    match r {
        Err(Refusal::Invalid(e)) => e,
        other => panic!("expected 422, got {other:?}"),
    }
}

fn forbidden(r: Result<u64, Refusal>) -> String {
    match r {
        Err(Refusal::Forbidden(m)) => m,
        other => panic!("expected 403, got {other:?}"),
    }
}

#[test]
fn incident_story_status_rulings_and_merges() {
    let mut w = World::in_force();
    let (monitor, ua, ru, verifier) = (
        w.monitor.clone(),
        w.ua.clone(),
        w.ru.clone(),
        w.verifier.clone(),
    );
    w.submit(&monitor, "observation", report(&w, "o-1", 48.0, 1000))
        .unwrap();
    assert_eq!(status(&w, "o-1"), IncidentStatus::Reported);
    // A claim by UA at the same place: two affiliations, OSCE not a belligerent.
    w.submit(&ua, "observation", report(&w, "o-2", 48.001, 500))
        .unwrap();
    let i = w.state.incident("o-1").unwrap();
    assert_eq!(i.status, IncidentStatus::Corroborated);
    assert_eq!(i.members.len(), 2);
    assert_eq!(i.incident.count(), 4);
    assert_eq!(i.location.radius_m, 500.0, "the smallest radius locates it");
    assert!(
        w.state.incident("o-2").is_none(),
        "a member is no incident id"
    );

    // Who may rule.
    let decide = |id: &str, incident: &str| serde_json::json!({"id": id, "incident": incident, "status": "verified", "reason": "seen"});
    let m = forbidden(w.submit(&monitor, "decision", decide("d-0", "o-1")));
    assert!(m.contains("verifier"), "{m}");
    let m = forbidden(w.submit(
        &verifier,
        "dispute",
        serde_json::json!({"id": "x-0", "incident": "o-1", "reason": "no"}),
    ));
    assert!(m.contains("party key"), "{m}");
    // What a ruling must name.
    let e = invalid(w.submit(&verifier, "decision", decide("d-1", "o-2")));
    assert_eq!(e[0].pointer, "/incident");
    assert!(e[0].message.contains("\"o-1\""), "{e:?}");
    let e = invalid(w.submit(&verifier, "decision", decide("d-2", "nothing")));
    assert_eq!(e[0].pointer, "/incident");
    let e = invalid(w.submit(
        &verifier,
        "decision",
        serde_json::json!({"id": "d-3", "incident": "o-1", "status": "verified", "reason": "r",
            "attribution": {"party": "XX", "confidence": "confirmed"}}),
    ));
    assert_eq!(e[0].pointer, "/attribution/party");

    // RU disputes: disputed, until a verifier decides.
    w.submit(
        &ru,
        "dispute",
        serde_json::json!({"id": "x-1", "incident": "o-1", "reason": "staged"}),
    )
    .unwrap();
    assert_eq!(status(&w, "o-1"), IncidentStatus::Disputed);
    w.submit(
        &verifier,
        "decision",
        serde_json::json!({"id": "d-4", "incident": "o-1", "status": "verified", "reason": "crater",
            "attribution": {"party": "RU", "confidence": "confirmed"}}),
    )
    .unwrap();
    assert_eq!(status(&w, "o-1"), IncidentStatus::Verified);

    // A separate incident 10 km north, rejected.
    w.submit(&monitor, "observation", report(&w, "o-3", 48.09, 1000))
        .unwrap();
    w.submit(
        &verifier,
        "decision",
        serde_json::json!({"id": "d-5", "incident": "o-3", "status": "rejected", "reason": "echo"}),
    )
    .unwrap();
    assert_eq!(status(&w, "o-3"), IncidentStatus::Rejected);
    assert_eq!(w.state.incident_count(), 2);

    // A late report with a wide radius bridges them: one incident, id o-1, nothing dropped.
    w.submit(&monitor, "observation", report(&w, "o-4", 48.045, 2500))
        .unwrap();
    assert_eq!(w.state.incident_count(), 1);
    let merged = w
        .state
        .incident("o-3")
        .expect("the absorbed id still names it");
    assert_eq!(merged.id, "o-1");
    assert_eq!(merged.absorbed, vec!["o-3"]);
    let rulings: Vec<&str> = merged.incident.decisions.iter().map(|d| &*d.id).collect();
    assert_eq!(rulings, vec!["d-4", "d-5"]);
    assert_eq!(merged.incident.disputes.len(), 1);
    // The latest decision (d-5, a rejection) now governs the merged incident.
    assert_eq!(merged.status, IncidentStatus::Rejected);
    // The absorbed id may still be ruled on.
    w.submit(&verifier, "decision", decide("d-6", "o-3"))
        .unwrap();
    assert_eq!(status(&w, "o-1"), IncidentStatus::Verified);

    // A party outside the agreement cannot dispute.
    let other = PrivateKey::from_seed("moldova", [9; 32]).unwrap();
    let op = w.operator.clone();
    w.submit(
        &op,
        "key",
        serde_json::json!({"id": "key-md", "vkey": other.verifier().to_string(),
        "roles": ["party"], "affiliation": "MD"}),
    )
    .unwrap();
    let m = forbidden(w.submit(
        &other,
        "dispute",
        serde_json::json!({"id": "x-2", "incident": "o-1", "reason": "no"}),
    ));
    assert!(m.contains("not a party"), "{m}");

    // Queries: status filter and paging.
    let mut q = IncidentQuery::new(10);
    q.statuses = vec![IncidentStatus::Verified];
    assert_eq!(w.state.query_incidents(&q).items.len(), 1);
    q.statuses = vec![IncidentStatus::Reported];
    assert!(w.state.query_incidents(&q).items.is_empty());
}

/// A deterministic generator (xorshift) for workloads.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n` observation payloads near one spot, from three keys; distinct radii so that the
/// incident locator has no ties.
pub(crate) fn workload(seed: u64, n: usize) -> Vec<(usize, serde_json::Value)> {
    workload_over(seed, n, 0)
}

/// [`workload`] over `days` days before the log's start, in order of time but for one report
/// in ten, which arrives up to `days` days late.
pub(crate) fn workload_over(seed: u64, n: usize, days: i64) -> Vec<(usize, serde_json::Value)> {
    let mut rng = Rng(seed | 1);
    (0..n)
        .map(|i| {
            let lat = 48.0 + rng.below(600) as f64 / 10_000.0;
            let lon = 38.0 + rng.below(600) as f64 / 10_000.0;
            let mut ago = days * (n - i) as i64 / n as i64;
            if days > 0 && rng.below(10) == 0 {
                ago += rng.below(days as u64) as i64;
            }
            let start = T0 - 5_000_000 + rng.below(3_000_000) as i64 - ago * 86_400_000;
            let len = rng.below(20) as i64 * 60_000;
            let kind = ["explosion", "shot", "weapon-sighting"][rng.below(3) as usize];
            let radius = 100 + i * 7 + rng.below(5) as usize;
            let by = rng.below(3) as usize;
            (
                by,
                serde_json::json!({"id": format!("w-{i}"), "agreement": AGREEMENT,
                "observed": {"from": rfc3339(start), "to": rfc3339(start + len)},
                "observer": {"mode": "heard"},
                "event": {"type": kind, "count": 1 + rng.below(9),
                          "location": {"lat": lat, "lon": lon, "radius_m": radius}}}),
            )
        })
        .collect()
}

/// Logs the workload in the given order.
fn run(order: &[usize], items: &[(usize, serde_json::Value)]) -> World {
    let mut w = World::in_force();
    let keys = [w.monitor.clone(), w.sensor.clone(), w.ua.clone()];
    for &i in order {
        let (by, payload) = &items[i];
        w.submit(&keys[*by], "observation", payload.clone())
            .unwrap();
    }
    w
}

fn partition(state: &State) -> BTreeSet<BTreeSet<String>> {
    state
        .incidents()
        .map(|i| i.members.iter().map(|m| m.id.to_string()).collect())
        .collect()
}

fn section<'a>(d: &'a crate::StateDigest, name: &str) -> &'a str {
    &d.sections.iter().find(|(n, _)| *n == name).unwrap().1
}

#[test]
fn arrival_order_gives_the_same_partition_and_incident_digest() {
    for seed in [1u64, 7, 99] {
        let items = workload(seed, 60);
        let forward: Vec<usize> = (0..items.len()).collect();
        let mut shuffled = forward.clone();
        let mut rng = Rng(seed.wrapping_mul(31) | 1);
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let a = run(&forward, &items);
        let b = run(&shuffled, &items);
        assert_eq!(partition(&a.state), partition(&b.state), "seed {seed}");
        assert!(
            a.state.incident_count() < items.len(),
            "some links (seed {seed})"
        );
        let (da, db) = (a.state.digest(), b.state.digest());
        assert_eq!(section(&da, "incidents"), section(&db, "incidents"));
        assert_ne!(
            da.digest, db.digest,
            "log indexes differ, so the full state does"
        );
    }
}

#[test]
fn replay_reaches_the_live_digest() {
    // A live state, logging through `testing::log`, against a replay of the same entries.
    let mut w = World::in_force();
    let mut logged: Vec<(Envelope, i64)> = Vec::new();
    let items = workload(5, 40);
    let keys = [w.monitor.clone(), w.sensor.clone(), w.ua.clone()];
    let verifier = w.verifier.clone();
    let mut rng = Rng(77);
    for (by, payload) in &items {
        let env = Envelope::sign("observation", payload.to_string().as_bytes(), &[&keys[*by]]);
        logged.push((env, w.next_time()));
        w.submit(&keys[*by], "observation", payload.clone())
            .unwrap();
        if rng.below(4) == 0 {
            let target = w.state.incidents().last().unwrap().id.to_string();
            let p = serde_json::json!({"id": format!("d-{}", w.state.size()), "incident": target,
                "status": if rng.below(2) == 0 { "verified" } else { "rejected" }, "reason": "r"});
            logged.push((
                Envelope::sign("decision", p.to_string().as_bytes(), &[&verifier]),
                w.next_time(),
            ));
            w.submit(&verifier, "decision", p).unwrap();
        }
    }
    // Replay: the same setup entries, then the recorded ones.
    let mut replayed = World::in_force();
    let resolver = MapResolver(BTreeMap::new());
    for (env, time) in logged {
        let index = replayed.state.size();
        let admitted = replayed.state.admit(&env, time, &resolver).unwrap();
        replayed.state.apply(admitted, index, time);
    }
    assert_eq!(replayed.state.digest(), w.state.digest());
    assert!(w.state.incident_count() > 1);
}

mod sectors_and_late_reports {
    //! Incidents of logged observations (points and sectors, short and long windows, in any
    //! order) equal the components of the link graph computed pair by pair from the records.
    use proptest::prelude::*;

    use super::*;
    use crate::incidents::{LinkParams, LinkPoint};

    /// A report: (located by a sector?, lat, lon, radius or sector distance, start, length).
    type Spec = (bool, u16, u16, u16, u32, u8);

    fn payload(w: &World, i: usize, s: &Spec) -> serde_json::Value {
        let (sector, lat, lon, size, start, len) = *s;
        let lat = 48.0 + f64::from(lat) / 20_000.0;
        let lon = 38.0 + f64::from(lon) / 20_000.0;
        let from = w.next_time() - 20 * 86_400_000 + i64::from(start) * 1_000;
        // Mostly minutes; sometimes days (a long window that links to many).
        let to = from
            + if len > 240 {
                i64::from(len) * 3_600_000
            } else {
                i64::from(len % 40) * 60_000
            };
        let mut o = serde_json::json!({"id": format!("s-{i}"), "agreement": AGREEMENT,
            "observed": {"from": rfc3339(from), "to": rfc3339(to)},
            "observer": {"mode": "heard"},
            "event": {"type": "explosion", "count": 1}});
        if sector {
            let near = f64::from(size % 4_000) / 1_000.0;
            o["observer"]["position"] = serde_json::json!({"lat": lat, "lon": lon});
            o["event"]["sector"] = serde_json::json!({"bearing_deg": [f64::from(size % 360), f64::from((size / 3) % 360)],
                "distance_km": [near, near + 1.5]});
        } else {
            o["event"]["location"] =
                serde_json::json!({"lat": lat, "lon": lon, "radius_m": 1 + size % 3_000});
        }
        o
    }

    fn brute_force(state: &State) -> BTreeSet<BTreeSet<String>> {
        let params = LinkParams {
            cluster_m: 3_000.0,
            gap_ms: 15 * 60_000,
        };
        let recs: Vec<_> = state.observations().collect();
        let pts: Vec<LinkPoint> = recs
            .iter()
            .map(|r| LinkPoint {
                lat: r.point.lat,
                lon: r.point.lon,
                radius_m: r.point.radius_m,
                from_ms: r.from_ms,
                to_ms: r.to_ms,
                params,
            })
            .collect();
        let mut label: Vec<usize> = (0..pts.len()).collect();
        fn find(l: &mut [usize], mut i: usize) -> usize {
            while l[i] != i {
                i = l[i];
            }
            i
        }
        for a in 0..pts.len() {
            for b in 0..a {
                if recs[a].family == recs[b].family && pts[a].links(&pts[b]) {
                    let (ra, rb) = (find(&mut label, a), find(&mut label, b));
                    label[ra.max(rb)] = ra.min(rb);
                }
            }
        }
        let mut groups: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
        for (i, r) in recs.iter().enumerate() {
            let root = find(&mut label, i);
            groups.entry(root).or_default().insert(r.id.to_string());
        }
        groups.into_values().collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn logged_incidents_equal_the_brute_force_components(
            specs in prop::collection::vec(
                (any::<bool>(), 0u16..2_000, 0u16..2_000, any::<u16>(), 0u32..50_000, any::<u8>()),
                1..40,
            )
        ) {
            let mut w = World::in_force();
            let monitor = w.monitor.clone();
            for (i, s) in specs.iter().enumerate() {
                let p = payload(&w, i, s);
                w.submit(&monitor, "observation", p).unwrap();
            }
            prop_assert_eq!(partition(&w.state), brute_force(&w.state));
            // Single-report incidents keep no aggregate: the count still counts them.
            prop_assert_eq!(w.state.incident_count(), w.state.incidents().count());
        }
    }
}

/// An incident of more members than a view shows: the view holds the first
/// [`crate::MEMBERS_SHOWN`] in log order and the cursor after them; its member count and sources
/// cover every member; pages walk every member exactly once, in log order; the digest covers all
/// of them, whatever the view shows.
#[test]
fn a_large_incident_is_shown_in_pages() {
    use crate::MEMBERS_SHOWN;
    let n = MEMBERS_SHOWN + 5;
    // One incident of `n` reports; the last, beyond what a view shows, is the only one UA signed
    // and has the id `last`.
    let build = |last: &str| {
        let mut w = World::in_force();
        let (monitor, ua) = (w.monitor.clone(), w.ua.clone());
        for k in 0..n {
            let (key, id) = if k == n - 1 {
                (&ua, last.to_string())
            } else {
                (&monitor, format!("o-{k}"))
            };
            let r = report(&w, &id, 48.0, 1000);
            w.submit(key, "observation", r).unwrap();
        }
        w
    };
    let w = build("o-last");
    let v = w.state.incident("o-0").expect("one incident");
    assert_eq!(v.member_count, n);
    assert_eq!(v.members.len(), MEMBERS_SHOWN);
    let last = v.members.last().unwrap();
    assert_eq!(&*last.id, format!("o-{}", MEMBERS_SHOWN - 1));
    assert_eq!(v.members_next, Some(last.index));
    assert_eq!(v.sources.len(), 2, "UA's key signed only an unshown member");

    let mut seen: Vec<String> = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = w.state.incident_members("o-0", after, 300).unwrap();
        assert!(page.len() <= 300);
        seen.extend(page.iter().map(|m| m.id.to_string()));
        match next {
            Some(i) => after = Some(i),
            None => break,
        }
    }
    let mut all: Vec<String> = (0..n - 1).map(|k| format!("o-{k}")).collect();
    all.push("o-last".into());
    assert_eq!(seen, all);
    assert!(
        w.state.incident_members("o-1", None, 10).is_none(),
        "a member is no incident id"
    );
    assert!(w.state.incident_members("nope", None, 10).is_none());

    // The incidents section of the digest names every member: another id for the last one,
    // which no view shows, changes it.
    let incidents = |s: &State| {
        s.digest()
            .sections
            .into_iter()
            .find(|(name, _)| *name == "incidents")
            .unwrap()
            .1
    };
    assert_ne!(incidents(&w.state), incidents(&build("o-other").state));
}

/// A state whose old observation records are in the cold tier answers every reader exactly as
/// one holding them all in memory: views, lookups by id, queries, incidents and their member
/// pages, rulings that name cold observations, and the digest.
#[test]
fn a_state_with_a_cold_tier_answers_as_one_in_memory() {
    use std::sync::Arc;

    use crate::cold::{MemoryCold, Tiering};
    use crate::{BBox, ObservationQuery};

    let items = workload_over(23, 400, 12);
    let mut resident = World::in_force();
    let mut tiered = World::in_force();
    let store = Arc::new(MemoryCold::default());
    let tiering = Tiering {
        hot_chunks: 1,
        cached_blocks: 2,
        hot_days: 2,
    };
    tiered.state.attach_cold(store.clone(), tiering);
    for w in [&mut resident, &mut tiered] {
        let keys = [w.monitor.clone(), w.sensor.clone(), w.ua.clone()];
        let verifier = w.verifier.clone();
        for (k, (by, payload)) in items.iter().enumerate() {
            w.submit(&keys[*by], "observation", payload.clone())
                .unwrap();
            // Rulings on the oldest incidents, whose records are cold by now.
            if k % 97 == 96 {
                let target = w.state.incidents().next().unwrap().id.to_string();
                let p = serde_json::json!({"id": format!("d-{k}"), "incident": target,
                    "status": "verified", "reason": "seen"});
                w.submit(&verifier, "decision", p).unwrap();
            }
        }
    }
    let (a, b) = (&resident.state, &tiered.state);
    assert!(b.cold_chunks() >= 4, "{} cold chunks", b.cold_chunks());
    assert!(b.cold_days() >= 5, "{} cold days", b.cold_days());
    assert!(!store.is_empty());
    assert_eq!(a.digest(), b.digest());
    assert!(a.observations().eq(b.observations()));
    for k in (0..items.len()).step_by(13) {
        let id = format!("w-{k}");
        assert_eq!(a.observation(&id), b.observation(&id), "{id}");
        assert!(b.observation(&id).is_some());
    }
    assert!(b.observation("w-nope").is_none());
    let d = b.digest();
    assert_eq!(section(&d, "incidents"), section(&a.digest(), "incidents"));
    let mut q = ObservationQuery::new(7);
    q.bbox = Some(BBox {
        min_lon: 38.0,
        min_lat: 48.0,
        max_lon: 38.03,
        max_lat: 48.03,
    });
    q.from_ms = Some(T0 - 6 * 86_400_000);
    loop {
        let (pa, pb) = (a.query_observations(&q), b.query_observations(&q));
        assert_eq!((&pa.items, pa.next), (&pb.items, pb.next));
        match pb.next {
            Some(after) => q.after = Some(after),
            None => break,
        }
    }
    let views = |s: &State| -> Vec<String> { s.incidents().map(|v| format!("{v:?}")).collect() };
    assert_eq!(views(a), views(b));
    let first = a.incidents().next().unwrap().id.to_string();
    assert_eq!(
        format!("{:?}", a.incident_members(&first, None, 5)),
        format!("{:?}", b.incident_members(&first, None, 5))
    );
}
