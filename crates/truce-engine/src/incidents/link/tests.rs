use super::*;
use proptest::prelude::*;
use truce_model::observation::EARTH_RADIUS_M;

const P: LinkParams = LinkParams {
    cluster_m: 3_000.0,
    gap_ms: 15 * 60_000,
};

fn pt(lat: f64, lon: f64, radius_m: f64, from_ms: i64, to_ms: i64) -> LinkPoint {
    LinkPoint {
        lat,
        lon,
        radius_m,
        from_ms,
        to_ms,
        params: P,
    }
}

/// The reference: every pair checked, components by depth-first search; each component
/// labelled by its lowest position.
fn brute_force(items: &[(usize, Family, LinkPoint)]) -> Vec<u32> {
    let n = items.len();
    let mut label = vec![u32::MAX; n];
    for start in 0..n {
        if label[start] != u32::MAX {
            continue;
        }
        label[start] = start as u32;
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            for j in 0..n {
                if label[j] == u32::MAX
                    && items[i].0 == items[j].0
                    && items[i].1 == items[j].1
                    && items[i].2.links(&items[j].2)
                {
                    label[j] = start as u32;
                    stack.push(j);
                }
            }
        }
    }
    label
}

/// Components and the event points they read, kept beside them as the state keeps its records.
#[derive(Default)]
struct Recorded {
    c: Components,
    points: Vec<LinkPoint>,
}

impl Recorded {
    fn insert(&mut self, agreement: &Arc<str>, family: Family, p: LinkPoint) -> Vec<u32> {
        self.points.push(p);
        let points = &self.points;
        self.c
            .insert(agreement, family, p, |at| points[at as usize].event_point())
    }

    fn restore(
        &mut self,
        agreement: &Arc<str>,
        family: Family,
        p: LinkPoint,
        root: u32,
    ) -> Option<()> {
        self.points.push(p);
        self.c.restore(agreement, family, p, root)
    }
}

impl std::ops::Deref for Recorded {
    type Target = Components;

    fn deref(&self) -> &Components {
        &self.c
    }
}

impl std::ops::DerefMut for Recorded {
    fn deref_mut(&mut self) -> &mut Components {
        &mut self.c
    }
}

fn incremental(items: &[(usize, Family, LinkPoint)]) -> Vec<u32> {
    let agreements: Vec<Arc<str>> = vec![Arc::from("a"), Arc::from("b")];
    let mut c = Recorded::default();
    for (agreement, family, p) in items {
        c.insert(&agreements[*agreement], *family, *p);
    }
    (0..items.len() as u32).map(|i| c.root(i)).collect()
}

#[test]
fn a_late_report_bridges_two_incidents_and_the_lowest_index_stays_root() {
    let agreement: Arc<str> = Arc::from("a");
    let mut c = Recorded::default();
    let hour = 3_600_000;
    // Two reports 10 km apart: not linked (1 + 1 + 3 km < 10 km).
    assert!(
        c.insert(&agreement, Family::Fire, pt(48.0, 38.0, 1_000.0, 0, hour))
            .is_empty()
    );
    assert!(
        c.insert(&agreement, Family::Fire, pt(48.09, 38.0, 1_000.0, 0, hour))
            .is_empty()
    );
    assert_ne!(c.root(0), c.root(1));
    // A third in between, with a wide radius, links to both.
    let joined = c.insert(&agreement, Family::Fire, pt(48.045, 38.0, 2_500.0, 0, hour));
    assert_eq!(joined, vec![0, 1]);
    assert_eq!((c.root(0), c.root(1), c.root(2)), (0, 0, 0));
    // Another family at the same place stays apart.
    assert!(
        c.insert(
            &agreement,
            Family::Presence,
            pt(48.0, 38.0, 1_000.0, 0, hour)
        )
        .is_empty()
    );
    assert_eq!(c.root(3), 3);
}

#[test]
fn time_gap_is_inclusive_and_overlap_is_gap_zero() {
    let a = pt(48.0, 38.0, 100.0, 0, 1_000);
    assert!(a.links(&pt(48.0, 38.0, 100.0, 1_000 + P.gap_ms, 1_000 + P.gap_ms)));
    assert!(!a.links(&pt(48.0, 38.0, 100.0, 1_001 + P.gap_ms, 2_000 + P.gap_ms)));
    assert!(a.links(&pt(48.0, 38.0, 100.0, -5_000, 500)));
}

#[test]
fn distance_limit_is_inclusive_and_uses_the_smaller_tolerance() {
    let a = pt(0.0, 0.0, 0.0, 0, 0);
    // One degree of longitude on the equator.
    let one_degree = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
    let mut b = pt(0.0, 1.0, one_degree - P.cluster_m, 0, 0);
    assert!(a.links(&b));
    b.radius_m -= 1.0;
    assert!(!a.links(&b));
    let mut strict = a;
    strict.params.cluster_m = 1_000.0;
    b.radius_m = one_degree - 2_000.0;
    assert!(a.links(&b) && !strict.links(&b) && !b.links(&strict));
}

#[test]
fn antimeridian_and_poles() {
    let agreement: Arc<str> = Arc::from("a");
    let mut c = Recorded::default();
    c.insert(&agreement, Family::Fire, pt(10.0, 179.99, 500.0, 0, 0));
    let joined = c.insert(&agreement, Family::Fire, pt(10.0, -179.99, 500.0, 0, 0));
    assert_eq!(joined, vec![0], "2.2 km across the antimeridian");
    c.insert(&agreement, Family::Fire, pt(89.99, 0.0, 500.0, 0, 0));
    let joined = c.insert(&agreement, Family::Fire, pt(89.99, 180.0, 500.0, 0, 0));
    assert_eq!(joined, vec![2], "2.2 km across the pole");
}

fn item() -> impl Strategy<Value = (usize, Family, LinkPoint)> {
    let hour = 3_600_000i64;
    (
        0usize..2,
        prop_oneof![Just(Family::Fire), Just(Family::Presence)],
        // A small area so that links are common: about 30 × 30 km.
        47.9f64..48.2,
        37.9f64..38.3,
        prop_oneof![
            3 => 0.0f64..2_000.0,
            // Sector-like and coarse radii, some very wide.
            1 => 2_000.0f64..20_000.0,
            1 => Just(0.0),
        ],
        0i64..48 * hour,
        prop_oneof![3 => 0i64..hour, 1 => 0i64..30 * 24 * hour],
        prop_oneof![
            Just(P),
            Just(LinkParams {
                cluster_m: 500.0,
                gap_ms: 5 * 60_000
            })
        ],
    )
        .prop_map(|(a, f, lat, lon, r, from, len, params)| {
            (
                a,
                f,
                LinkPoint {
                    lat,
                    lon,
                    radius_m: r,
                    from_ms: from,
                    to_ms: from + len,
                    params,
                },
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Incremental components equal the O(n²) reference, whatever the inputs.
    #[test]
    fn incremental_equals_brute_force(items in prop::collection::vec(item(), 0..120)) {
        prop_assert_eq!(incremental(&items), brute_force(&items));
    }

    /// The partition does not depend on arrival order (late reports may bridge incidents).
    #[test]
    fn arrival_order_does_not_change_the_partition(
        items in prop::collection::vec(item(), 1..80),
        seed in any::<u64>(),
    ) {
        let order = shuffled(items.len(), seed);
        let shuffled: Vec<_> = order.iter().map(|&i| items[i]).collect();
        let a = partition(&incremental(&items), |i| i);
        let b = partition(&incremental(&shuffled), |i| order[i]);
        prop_assert_eq!(a, b);
    }
}

/// A deterministic shuffle of `0..n` from the seed.
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut s = seed | 1;
    for i in (1..order.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        order.swap(i, (s % (i as u64 + 1)) as usize);
    }
    order
}

/// The partition as sets of original item numbers.
fn partition(roots: &[u32], original: impl Fn(usize) -> usize) -> Vec<Vec<usize>> {
    let mut groups: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, r) in roots.iter().enumerate() {
        groups.entry(*r).or_default().push(original(i));
    }
    let mut out: Vec<Vec<usize>> = groups
        .into_values()
        .map(|mut g| {
            g.sort_unstable();
            g
        })
        .collect();
    out.sort();
    out
}

/// A day (the grid's time bucket) in ms.
const DAY: i64 = grid::BUCKET_MS;
/// The start of some day.
const T0: i64 = 19_675 * DAY;

fn params(cluster_m: f64, gap_min: i64) -> LinkParams {
    LinkParams {
        cluster_m,
        gap_ms: gap_min * 60_000,
    }
}

fn with(p: LinkParams, lat: f64, lon: f64, radius_m: f64, from_ms: i64, to_ms: i64) -> LinkPoint {
    LinkPoint {
        lat,
        lon,
        radius_m,
        from_ms,
        to_ms,
        params: p,
    }
}

/// Inserts `points` in order (one agreement and family) and returns the components and the
/// roots each insertion joined.
fn insert_all(points: &[LinkPoint]) -> (Recorded, Vec<Vec<u32>>) {
    let agreement: Arc<str> = Arc::from("a");
    let mut c = Recorded::default();
    let joined = points
        .iter()
        .map(|p| c.insert(&agreement, Family::Fire, *p))
        .collect();
    (c, joined)
}

/// `b` then `a` must give the same link as `a` then `b`, and both must link.
fn assert_linked_both_ways(a: LinkPoint, b: LinkPoint, tiers: (usize, usize)) {
    assert!(a.links(&b), "the pair is meant to be linked");
    for (first, second) in [(a, b), (b, a)] {
        let (c, joined) = insert_all(&[first, second]);
        assert_eq!(joined[1], vec![0], "{first:?} then {second:?}");
        assert_eq!(c.tier_sizes(), tiers);
    }
}

#[test]
fn bench_like_points_take_the_fast_tier() {
    let p = params(40.0, 15);
    let points: Vec<LinkPoint> = (0..10)
        .map(|i| with(p, 48.0 + f64::from(i) * 1e-4, 38.0, 0.0, T0, T0))
        .collect();
    let (c, joined) = insert_all(&points);
    assert_eq!(c.tier_sizes(), (10, 0));
    // 11 m apart: each joins the one before.
    assert!(
        joined[1..]
            .iter()
            .enumerate()
            .all(|(i, j)| *j == vec![0] || *j == vec![i as u32])
    );
    assert!((0..10).all(|i| c.root(i) == 0));
}

#[test]
fn tier_thresholds_are_inclusive() {
    let p = params(3_000.0, 15);
    let gap = p.gap_ms;
    let cases = [
        // radius + cluster = 10 km: fast; a metre more: wide.
        (with(p, 48.0, 38.0, 7_000.0, T0, T0), (1, 0)),
        (with(p, 48.0, 38.0, 7_001.0, T0, T0), (0, 1)),
        // window + gap = one day: fast; a millisecond more: wide.
        (with(p, 48.0, 38.0, 0.0, T0, T0 + DAY - gap), (1, 0)),
        (with(p, 48.0, 38.0, 0.0, T0, T0 + DAY - gap + 1), (0, 1)),
        // Outside the usual ranges: wide (and still linked correctly, see the proptests).
        (with(p, 48.0, 181.0, 0.0, T0, T0), (0, 1)),
        (with(p, 48.0, 38.0, -1.0, T0, T0), (0, 1)),
        (with(p, 48.0, 38.0, 0.0, T0 + 1, T0), (0, 1)),
        (with(p, 48.0, 38.0, 0.0, i64::MIN, i64::MIN), (0, 1)),
        (with(p, 48.0, 38.0, 0.0, i64::MAX, i64::MAX), (1, 0)),
        // Not finite: links to nothing, stored nowhere.
        (with(p, f64::NAN, 38.0, 0.0, T0, T0), (0, 0)),
    ];
    for (point, tiers) in cases {
        assert_eq!(insert_all(&[point]).0.tier_sizes(), tiers, "{point:?}");
    }
}

#[test]
fn a_wide_radius_links_to_a_small_one_in_either_order() {
    let p = params(3_000.0, 15);
    // 0.2° of latitude ≈ 22.2 km ≤ 20 + 0 + 3 km.
    let small = with(p, 48.0, 38.0, 0.0, T0, T0);
    let wide = with(p, 48.2, 38.0, 20_000.0, T0, T0);
    assert_linked_both_ways(small, wide, (1, 1));
}

#[test]
fn a_long_window_links_to_a_short_one_in_either_order() {
    let p = params(3_000.0, 15);
    // Three days from the day before; the short one 10 minutes after it ends.
    let long = with(p, 48.0, 38.0, 0.0, T0 - DAY, T0 + 2 * DAY);
    let short = with(
        p,
        48.01,
        38.0,
        0.0,
        T0 + 2 * DAY + 600_000,
        T0 + 2 * DAY + 600_000,
    );
    assert_linked_both_ways(long, short, (1, 1));
    // And one that starts two days before the short one's day began.
    let early = with(p, 48.0, 38.0, 0.0, T0 - 2 * DAY, T0 + 600_000);
    let short = with(p, 48.0, 38.0, 0.0, T0 + 1_200_000, T0 + 1_200_000);
    assert_linked_both_ways(early, short, (1, 1));
}

#[test]
fn two_wide_ones_still_link_through_the_tree() {
    let p = params(3_000.0, 15);
    let a = with(p, 48.0, 38.0, 10_000.0, T0, T0 + 3 * DAY);
    let b = with(p, 48.1, 38.0, 10_000.0, T0 + 3 * DAY, T0 + 4 * DAY);
    assert_linked_both_ways(a, b, (0, 2));
}

#[test]
fn small_ones_link_across_a_day_boundary() {
    let p = params(500.0, 15);
    // One minute before midnight and thirteen after; the later one's window is 6 hours long.
    let a = with(p, 48.0, 38.0, 0.0, T0 - 60_000, T0 - 60_000);
    let b = with(p, 48.0, 38.0, 0.0, T0 + 780_000, T0 + 6 * 3_600_000);
    assert_linked_both_ways(a, b, (2, 0));
    // A window that ends just after midnight, and one that starts 15 minutes later.
    let a = with(p, 48.0, 38.0, 0.0, T0 - 3_600_000, T0 + 1);
    let b = with(p, 48.0, 38.0, 0.0, T0 + 1 + p.gap_ms, T0 + DAY);
    assert_linked_both_ways(a, b, (2, 0));
    let c = with(p, 48.0, 38.0, 0.0, T0 + 2 + p.gap_ms, T0 + DAY);
    assert!(!a.links(&c));
}

#[test]
fn small_ones_of_different_levels_link() {
    // A 40 m cluster with radius 0 (a fine level) and a 4 km reach (a coarse one), 2.5 km apart;
    // the link uses the smaller cluster: 0 + 2,500 + 40 m.
    let fine = with(params(40.0, 15), 48.0, 38.0, 0.0, T0, T0);
    let coarse = with(
        params(1_500.0, 15),
        48.0 + (2_530.0 / EARTH_RADIUS_M).to_degrees(),
        38.0,
        2_500.0,
        T0,
        T0,
    );
    assert_linked_both_ways(fine, coarse, (2, 0));
}

#[test]
fn small_ones_link_across_a_cube_face() {
    // z = sin(lat) exactly on a face of the cubes of level 3 (side 2^-15) and finer: 11 m apart,
    // one on each side.
    let lat = (24_351.0f64 / 32_768.0).asin().to_degrees();
    let p = params(40.0, 15);
    let below = with(p, lat - 5e-5, 38.0, 0.0, T0, T0);
    let above = with(p, lat + 5e-5, 38.0, 0.0, T0, T0);
    assert_linked_both_ways(below, above, (2, 0));
}

#[test]
fn a_huge_radius_finds_small_ones_through_the_occupied_lists() {
    // A thousand small ones over a 100 km square, then one 400 km wide: it joins them all.
    let p = params(40.0, 15);
    let mut points: Vec<LinkPoint> = (0..1_000)
        .map(|i| {
            let (row, col) = (f64::from(i / 32), f64::from(i % 32));
            with(p, 47.5 + row * 0.03, 37.5 + col * 0.04, 0.0, T0, T0)
        })
        .collect();
    points.push(with(p, 48.0, 38.0, 400_000.0, T0, T0));
    let (c, joined) = insert_all(&points);
    assert_eq!(joined[1_000], (0..1_000).collect::<Vec<u32>>());
    assert_eq!(c.tier_sizes(), (1_000, 1));
}

#[test]
fn poles_and_antimeridian_in_the_fast_tier() {
    let p = params(500.0, 15);
    let cases = [
        // 440 m across the antimeridian, and exactly on it.
        (
            with(p, 10.0, 179.998, 0.0, T0, T0),
            with(p, 10.0, -179.998, 0.0, T0, T0),
        ),
        (
            with(p, 10.0, 180.0, 0.0, T0, T0),
            with(p, 10.0, -180.0, 0.0, T0, T0),
        ),
        // At the pole with different longitudes, and across it.
        (
            with(p, 90.0, 0.0, 0.0, T0, T0),
            with(p, 90.0, 123.0, 0.0, T0, T0),
        ),
        (
            with(p, 89.998, 0.0, 0.0, T0, T0),
            with(p, 89.998, 180.0, 0.0, T0, T0),
        ),
        (
            with(p, -89.998, 90.0, 0.0, T0, T0),
            with(p, -89.998, -90.0, 0.0, T0, T0),
        ),
    ];
    for (a, b) in cases {
        assert_linked_both_ways(a, b, (2, 0));
    }
}

/// Event points around places where cells have edges: a cube face at mid-latitude, the
/// antimeridian, the poles; each area is a few kilometres across, so links are common.
fn anchored_point() -> impl Strategy<Value = (f64, f64)> {
    let face_lat = (24_351.0f64 / 32_768.0).asin().to_degrees();
    prop_oneof![
        (-0.02f64..0.02, 37.98f64..38.02).prop_map(move |(d, lon)| (face_lat + d, lon)),
        (
            9.98f64..10.02,
            prop_oneof![179.97f64..=180.0, -180.0f64..-179.97]
        ),
        (89.97f64..=90.0, -180.0f64..=180.0),
        (-90.0f64..=-89.97, -180.0f64..=180.0),
    ]
}

/// Observations around the tier thresholds (radius + cluster ≈ 5 km, window + gap ≈ a day),
/// around day boundaries and the cell edges of [`anchored_point`].
fn boundary_item() -> impl Strategy<Value = (usize, Family, LinkPoint)> {
    let hour = 3_600_000i64;
    (
        (
            0usize..2,
            prop_oneof![Just(Family::Fire), Just(Family::Presence)],
        ),
        anchored_point(),
        (
            prop_oneof![Just(40.0f64), Just(500.0), Just(3_000.0)],
            prop_oneof![Just(5i64), Just(15)],
        ),
        prop_oneof![
            // At the threshold (± a metre, or a little more), small, or wide.
            2 => (-1i32..=1).prop_map(|d| (0u8, f64::from(d))),
            1 => (-300.0f64..300.0).prop_map(|d| (0u8, d)),
            2 => (0.0f64..200.0).prop_map(|r| (1u8, r)),
            1 => (5_000.0f64..30_000.0).prop_map(|r| (1u8, r)),
        ],
        (-1i64..2, -2 * hour..2 * hour),
        prop_oneof![
            // Short; at the bucket size (± 1 ms or a little more); long.
            3 => (0i64..hour).prop_map(|l| (0u8, l)),
            2 => (-1i64..=1).prop_map(|d| (1u8, d)),
            1 => (-hour..hour).prop_map(|d| (1u8, d)),
            1 => (DAY..3 * DAY).prop_map(|l| (0u8, l)),
        ],
    )
        .prop_map(
            |((a, f), (lat, lon), (cluster_m, gap_min), (rk, r), (day, off), (lk, l))| {
                let p = params(cluster_m, gap_min);
                // Threshold radii are relative to 5 km − cluster, never below 0.
                let radius_m = if rk == 0 {
                    (grid::SMALL_REACH_M - cluster_m + r).max(0.0)
                } else {
                    r
                };
                let len = if lk == 0 {
                    l
                } else {
                    (DAY - p.gap_ms + l).max(0)
                };
                let from = T0 + day * DAY + off;
                (a, f, with(p, lat, lon, radius_m, from, from + len))
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Both tiers and the boundary between them: incremental components equal the reference.
    #[test]
    fn incremental_equals_brute_force_at_the_tier_boundaries(
        items in prop::collection::vec(boundary_item(), 0..120),
    ) {
        prop_assert_eq!(incremental(&items), brute_force(&items));
    }

    /// The same inputs in another order give the same partition.
    #[test]
    fn arrival_order_does_not_change_the_partition_at_the_tier_boundaries(
        items in prop::collection::vec(boundary_item(), 1..80),
        seed in any::<u64>(),
    ) {
        let order = shuffled(items.len(), seed);
        let shuffled: Vec<_> = order.iter().map(|&i| items[i]).collect();
        let a = partition(&incremental(&items), |i| i);
        let b = partition(&incremental(&shuffled), |i| order[i]);
        prop_assert_eq!(a, b);
    }
}

/// The boundary strategy does what it is for: both tiers fill, and links are common.
#[test]
fn boundary_items_exercise_both_tiers_and_link() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut fast, mut wide, mut linked, mut total) = (0, 0, 0, 0);
    for _ in 0..50 {
        let items = prop::collection::vec(boundary_item(), 60..61)
            .new_tree(&mut runner)
            .expect("a value")
            .current();
        let agreements: Vec<Arc<str>> = vec![Arc::from("a"), Arc::from("b")];
        let mut c = Recorded::default();
        for (agreement, family, p) in &items {
            linked += usize::from(!c.insert(&agreements[*agreement], *family, *p).is_empty());
        }
        let (f, w) = c.tier_sizes();
        (fast, wide, total) = (fast + f, wide + w, total + items.len());
    }
    assert_eq!(fast + wide, total);
    assert!(
        fast > total / 4 && wide > total / 10,
        "fast {fast}, wide {wide} of {total}"
    );
    assert!(
        linked > total / 4,
        "{linked} of {total} insertions joined something"
    );
}

/// Pairs exactly at the distance limit (the radius set to the last `f64` that still links) link
/// through the fast tier in either order: the filters' padding covers their own rounding.
#[test]
fn pairs_exactly_at_the_limit_link_through_the_fast_tier() {
    let p = params(40.0, 15);
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let places = [
        (48.0, 38.0),
        (10.0, 179.99),
        (89.99, 0.0),
        (-89.99, 0.0),
        (0.0, 0.0),
    ];
    for i in 0..400 {
        let (lat, lon) = places[i % places.len()];
        let a = with(p, lat + next() * 0.01, lon + next() * 0.01, 0.0, T0, T0);
        let mut b = with(p, lat + next() * 0.01, lon + next() * 0.01, 0.0, T0, T0);
        let d = haversine_m(
            Position {
                lat: a.lat,
                lon: a.lon,
            },
            Position {
                lat: b.lat,
                lon: b.lon,
            },
        );
        if d > 4_000.0 {
            continue;
        }
        // The smallest radius that links, to the last bit.
        b.radius_m = (d - p.cluster_m).max(0.0);
        while !a.links(&b) {
            b.radius_m = b.radius_m.next_up();
        }
        while b.radius_m > 0.0 && a.links(&with(p, b.lat, b.lon, b.radius_m.next_down(), T0, T0)) {
            b.radius_m = b.radius_m.next_down();
        }
        assert_linked_both_ways(a, b, (2, 0));
    }
}

#[test]
fn windows_at_the_ends_of_time_link() {
    let p = params(500.0, 15);
    let (max, min) = (i64::MAX, i64::MIN);
    let a = with(p, 48.0, 38.0, 0.0, max - 60_000, max);
    let b = with(p, 48.0, 38.0, 0.0, max, max);
    assert_linked_both_ways(a, b, (2, 0));
    let a = with(p, 48.0, 38.0, 0.0, min, min + 60_000);
    let b = with(p, 48.0, 38.0, 0.0, min, min);
    assert_linked_both_ways(a, b, (0, 2));
}

/// A cell of many reports filled out of order of their windows — live (sorted insertion) or by a
/// restore (sorted at the flush before the next query) — is searched by window: a new report
/// at each one's time finds exactly that one.
#[test]
fn a_large_cell_filled_out_of_order_is_searched_by_window() {
    let p = params(500.0, 15);
    let agreement: Arc<str> = Arc::from("a");
    // 60 reports at one spot, 20 minutes apart (so none links to another), in a shuffled order.
    let n = 60i64;
    let mut order: Vec<i64> = (0..n).collect();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for i in (1..order.len()).rev() {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        order.swap(i, (rng % (i as u64 + 1)) as usize);
    }
    let at = |k: i64| with(p, 48.0, 38.0, 100.0, T0 + k * 1_200_000, T0 + k * 1_200_000);
    for restored in [false, true] {
        let mut c = Recorded::default();
        for (position, &k) in order.iter().enumerate() {
            if restored {
                c.restore(&agreement, Family::Fire, at(k), position as u32)
                    .unwrap();
            } else {
                assert!(c.insert(&agreement, Family::Fire, at(k)).is_empty());
            }
        }
        assert!(
            n as usize > grid::SEARCH_FROM,
            "the cell is searched, not read whole"
        );
        for k in 0..n {
            let position = order.iter().position(|&x| x == k).unwrap() as u32;
            let joined = c.insert(&agreement, Family::Fire, at(k));
            assert_eq!(joined, vec![position], "report {k} (restored: {restored})");
        }
    }
}

/// The grid decides most links without the exact check, from `f32` vectors and a lower bound of
/// the chord of the limit: a pair at the limit, a centimetre or a few metres either side of it
/// in distance, or a minute either side of the window's limit, is linked exactly when
/// [`LinkPoint::links`] says so, in either order (debug builds also check every link the grid
/// decided alone against the exact check).
#[test]
fn pairs_at_the_limit_are_decided_as_the_exact_check_decides() {
    use truce_model::observation::{Position, destination};
    let minute = 60_000;
    let (mut linked, mut apart) = (0, 0);
    for (radius_a, radius_b, cluster_m) in [
        (0.0, 0.0, 40.0),
        (100.0, 2_500.0, 500.0),
        (1_000.0, 1_000.0, 3_000.0),
    ] {
        let (pa, pb) = (params(cluster_m, 15), params(cluster_m + 100.0, 30));
        let limit = radius_a + radius_b + cluster_m;
        for bearing in [0.0, 45.0, 90.0, 200.0] {
            for delta in [-5.0, -1.6, -0.01, 0.0, 0.01, 1.6, 5.0] {
                for late in [0, 15 * minute, 15 * minute + 1] {
                    let a = with(pa, 48.3, 37.9, radius_a, T0, T0 + 30 * minute);
                    let to = destination(
                        Position {
                            lat: a.lat,
                            lon: a.lon,
                        },
                        bearing,
                        limit + delta,
                    );
                    let from_b = a.to_ms + late;
                    let b = with(pb, to.lat, to.lon, radius_b, from_b, from_b + 10 * minute);
                    let want = a.links(&b);
                    assert_eq!(want, b.links(&a), "the predicate is symmetric");
                    for (first, second) in [(a, b), (b, a)] {
                        let (_, joined) = insert_all(&[first, second]);
                        assert_eq!(!joined[1].is_empty(), want, "{first:?} then {second:?}");
                    }
                    if want { linked += 1 } else { apart += 1 }
                }
            }
        }
    }
    assert!(
        linked > 50 && apart > 50,
        "both sides of the limit are met: {linked} linked, {apart} apart"
    );
}

/// Components whose grids send days older than `hot_days` to a cold tier in memory.
fn cold_recorded(hot_days: u32) -> Recorded {
    use crate::cold::{Cold, MemoryCold, Tiering};
    let tiering = Tiering {
        hot_days,
        ..Tiering::default()
    };
    let mut c = Recorded::default();
    c.c.attach_cold(Arc::new(Cold::new(
        Arc::new(MemoryCold::default()),
        tiering,
    )));
    c
}

fn frozen_buckets(c: &Components) -> usize {
    c.cold_days()
}

/// Old days leave memory as newer ones arrive; a late report reads its days back and links to
/// what was cold, and both restore and insert see the days as they were.
#[test]
fn old_days_go_cold_and_a_late_report_links_to_them() {
    let a: Arc<str> = Arc::from("a");
    let mut c = cold_recorded(2);
    let hour = 3_600_000;
    c.insert(&a, Family::Fire, pt(48.0, 38.0, 100.0, T0, T0 + hour));
    for day in 1..10 {
        // Far from the first and from each other.
        let lat = 48.0 + day as f64 * 0.5;
        let from = T0 + day * DAY;
        c.insert(&a, Family::Fire, pt(lat, 38.0, 100.0, from, from + hour));
    }
    assert_eq!(c.tier_sizes().0, 3, "only the newest days are resident");
    assert_eq!(frozen_buckets(&c), 7);
    // A report of day 0, near the first, arriving now.
    let joined = c.insert(&a, Family::Fire, pt(48.001, 38.0, 100.0, T0, T0 + hour));
    assert_eq!(joined, vec![0]);
    assert_eq!(frozen_buckets(&c), 6, "day 0 is resident again");
    // A restore into a cold day, then a report that links to it.
    let n = c.len() as u32;
    c.restore(
        &a,
        Family::Fire,
        pt(48.5, 38.001, 100.0, T0 + DAY, T0 + DAY + hour),
        n,
    )
    .unwrap();
    c.flush();
    let joined = c.insert(
        &a,
        Family::Fire,
        pt(48.5, 38.002, 100.0, T0 + DAY, T0 + DAY + hour),
    );
    assert_eq!(joined, vec![1, n], "the day-1 report and the restored one");
}

/// Reports over three weeks, mostly in order of time with late ones among them.
fn spread_item() -> impl Strategy<Value = (usize, Family, LinkPoint)> {
    (item(), 0i64..21).prop_map(|((a, f, mut p), day)| {
        p.from_ms += day * DAY;
        p.to_ms += day * DAY;
        (a, f, p)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// With old days in the cold tier, the components are still those of the reference, in
    /// order of time or in any order.
    #[test]
    fn a_cold_grid_equals_brute_force(
        mut items in prop::collection::vec(spread_item(), 0..150),
        in_order in any::<bool>(),
        hot_days in 0u32..3,
    ) {
        if in_order {
            items.sort_by_key(|(_, _, p)| p.from_ms);
        }
        let agreements: Vec<Arc<str>> = vec![Arc::from("a"), Arc::from("b")];
        let mut c = cold_recorded(hot_days);
        for (agreement, family, p) in &items {
            c.insert(&agreements[*agreement], *family, *p);
        }
        let roots: Vec<u32> = (0..items.len() as u32).map(|i| c.root(i)).collect();
        prop_assert_eq!(roots, brute_force(&items));
    }
}
