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

fn incremental(items: &[(usize, Family, LinkPoint)]) -> Vec<u32> {
    let agreements: Vec<Arc<str>> = vec![Arc::from("a"), Arc::from("b")];
    let mut c = Components::default();
    for (agreement, family, p) in items {
        c.insert(&agreements[*agreement], *family, *p);
    }
    (0..items.len() as u32).map(|i| c.root(i)).collect()
}

#[test]
fn a_late_report_bridges_two_incidents_and_the_lowest_index_stays_root() {
    let agreement: Arc<str> = Arc::from("a");
    let mut c = Components::default();
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
    let mut c = Components::default();
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
        let mut order: Vec<usize> = (0..items.len()).collect();
        // A deterministic shuffle from the seed.
        let mut s = seed | 1;
        for i in (1..order.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            order.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let shuffled: Vec<_> = order.iter().map(|&i| items[i]).collect();
        let a = partition(&incremental(&items), |i| i);
        let b = partition(&incremental(&shuffled), |i| order[i]);
        prop_assert_eq!(a, b);
    }
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

#[test]
fn bench_like_points_take_the_fast_tier() {
    let agreement: Arc<str> = Arc::from("a");
    let mut c = Components::default();
    let params = LinkParams {
        cluster_m: 40.0,
        gap_ms: 15 * 60_000,
    };
    for i in 0..10 {
        let mut p = pt(
            48.0 + f64::from(i) * 1e-4,
            38.0,
            0.0,
            1_700_000_000_000,
            1_700_000_000_000,
        );
        p.params = params;
        c.insert(&agreement, Family::Fire, p);
    }
    assert_eq!(c.tier_sizes(), (10, 0));
}
