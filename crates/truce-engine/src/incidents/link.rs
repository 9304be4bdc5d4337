//! The link graph of DESIGN §6 and its connected components, maintained one observation at a time.
//!
//! Two observations are *linked* when they belong to the same agreement, their event types are of
//! the same family, the gap between their observed windows is at most `cluster_minutes`
//! (overlapping windows have gap 0), and the great-circle (haversine) distance between their event
//! points is at most `radius_a + radius_b + cluster_km`. Incidents are the connected components.
//!
//! When the two observations were admitted under different versions of their agreement, whose
//! `[verification]` tables may differ, the link uses the smaller `cluster_km` and the smaller
//! `cluster_minutes` of the two: the predicate stays symmetric, so the components do not depend
//! on which of the two arrived first.
//!
//! # Algorithm
//! Each observation is a box in four dimensions: the unit-sphere position of its event point
//! (x, y, z) widened by the chord of its radius, and its observed window (in days). Boxes live in
//! an R-tree per (agreement, family). A new observation `a` asks its tree for every box that
//! meets its own point widened by the chord of `radius_a + cluster_km_a` and its window widened by
//! `cluster_minutes_a`; each candidate is then checked with the exact predicate above, and linked
//! ones are joined in a union-find forest.
//!
//! The box test never loses a link: the chord is subadditive (`2 sin((x+y)/2) ≤ 2 sin(x/2) +
//! 2 sin(y/2)` on the sphere's range), each axis of a straight-line difference is at most the
//! chord, so a linked pair's boxes always meet. Working in 3-D unit vectors instead of longitude
//! and latitude means no special case at the poles or the antimeridian. The boxes are stored in
//! `f32`, each bound rounded outward, with a margin for the rounding of the f64 arithmetic.
//!
//! # Invariants
//! - The root of every component is its member with the lowest position (= lowest log index, as
//!   observations are applied in log order), so an incident's id is its root's id and never
//!   changes except when a merge brings in a member with a lower index.
//! - The components equal those of the full link graph whatever the arrival order: every link of
//!   the new observation to any earlier one is found at insertion, and union is associative.
//!
//! # Complexity
//! Insertion: one R-tree query (O(log n + k) for k candidate boxes) and k exact checks, plus
//! near-constant union-find work (path halving). Memory per observation: the box (4 × 2 × f32 plus
//! the position, 36 bytes) and about 10 % R-tree node overhead, the link inputs (44 bytes) and
//! the parent pointer (4 bytes).

use std::collections::HashMap;
use std::sync::Arc;

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use truce_model::observation::{EARTH_RADIUS_M, Position, haversine_m};
use truce_model::taxonomy::Family;

/// Milliseconds per day (the boxes' time axis is in days).
const MS_PER_DAY: f64 = 86_400_000.0;

/// Clustering parameters of one agreement version's `[verification]` table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkParams {
    /// Spatial tolerance added to the two radii, metres.
    pub cluster_m: f64,
    /// Largest gap between two windows, ms.
    pub gap_ms: i64,
}

/// What the link predicate needs of one observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkPoint {
    /// Event point latitude, degrees.
    pub lat: f64,
    /// Event point longitude, degrees.
    pub lon: f64,
    /// Uncertainty radius, metres.
    pub radius_m: f64,
    /// Observed window start, ms since the epoch.
    pub from_ms: i64,
    /// Observed window end, ms since the epoch.
    pub to_ms: i64,
    /// The parameters of the agreement version it was admitted under.
    pub params: LinkParams,
}

impl LinkPoint {
    /// Whether `self` and `other` are linked (the predicate of the module docs; same agreement and
    /// family are the caller's part).
    pub fn links(&self, other: &LinkPoint) -> bool {
        let gap_limit = self.params.gap_ms.min(other.params.gap_ms);
        let gap = (other.from_ms.saturating_sub(self.to_ms))
            .max(self.from_ms.saturating_sub(other.to_ms))
            .max(0);
        if gap > gap_limit {
            return false;
        }
        let limit =
            self.radius_m + other.radius_m + self.params.cluster_m.min(other.params.cluster_m);
        let d = haversine_m(
            Position {
                lat: self.lat,
                lon: self.lon,
            },
            Position {
                lat: other.lat,
                lon: other.lon,
            },
        );
        d <= limit
    }
}

/// A box in (x, y, z, days).
type Box4 = GeomWithData<Rectangle<[f32; 4]>, u32>;

/// The components of the link graph over every observation inserted so far.
#[derive(Debug, Clone, Default)]
pub struct Components {
    /// Link inputs by position.
    points: Vec<LinkPoint>,
    /// Union-find parent by position (a root is its own parent).
    parent: Vec<u32>,
    /// One R-tree per (agreement, family).
    trees: HashMap<(Arc<str>, Family), RTree<Box4>>,
}

impl Components {
    /// Number of observations inserted.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether nothing was inserted yet.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The link inputs of the observation at `position`.
    pub fn point(&self, position: u32) -> &LinkPoint {
        &self.points[position as usize]
    }

    /// Adds the next observation (position = [`Components::len`]) of `agreement` and `family`,
    /// links it to every earlier observation it is linked with, and returns the roots of the
    /// components it joined, as they were before the insertion (sorted, without duplicates).
    /// The new component's root is the smallest of them, or the new position if it joined none.
    pub fn insert(&mut self, agreement: &Arc<str>, family: Family, p: LinkPoint) -> Vec<u32> {
        let position = u32::try_from(self.points.len()).expect("fewer than 2^32 observations");
        let tree = self.trees.entry((agreement.clone(), family)).or_default();
        let query = envelope(&p, p.radius_m + p.params.cluster_m, p.params.gap_ms);
        let mut joined: Vec<u32> = Vec::new();
        for candidate in tree.locate_in_envelope_intersecting(&query) {
            let other = candidate.data;
            if p.links(&self.points[other as usize]) {
                joined.push(other);
            }
        }
        tree.insert(GeomWithData::new(
            {
                let e = envelope(&p, p.radius_m, 0);
                Rectangle::from_corners(e.lower(), e.upper())
            },
            position,
        ));
        self.points.push(p);
        self.parent.push(position);
        let mut roots: Vec<u32> = joined.into_iter().map(|o| self.find(o)).collect();
        roots.sort_unstable();
        roots.dedup();
        for &r in &roots {
            self.union(r, position);
        }
        roots
    }

    /// The root (lowest position) of the component holding `position`.
    pub fn find(&mut self, mut position: u32) -> u32 {
        // Path halving: every other node on the way points to its grandparent.
        while self.parent[position as usize] != position {
            let grand = self.parent[self.parent[position as usize] as usize];
            self.parent[position as usize] = grand;
            position = grand;
        }
        position
    }

    /// The root of `position` without compressing paths (for readers holding `&self`).
    pub fn root(&self, mut position: u32) -> u32 {
        while self.parent[position as usize] != position {
            position = self.parent[position as usize];
        }
        position
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // The lower position becomes the root (see the invariants).
            let (low, high) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[high as usize] = low;
        }
    }
}

/// The box around `p` widened by `widen_m` metres in space and `widen_ms` in time, rounded
/// outward to f32.
fn envelope(p: &LinkPoint, widen_m: f64, widen_ms: i64) -> AABB<[f32; 4]> {
    let (lat, lon) = (p.lat.to_radians(), p.lon.to_radians());
    let centre = [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()];
    // Chord of the widening on the unit sphere, capped at the diameter, plus a margin that
    // covers the f64 error of both the unit vectors and haversine (well under a millimetre).
    let angle = (widen_m / EARTH_RADIUS_M).min(std::f64::consts::PI);
    let half = 2.0 * (angle / 2.0).sin() + 1e-9;
    let t0 = p.from_ms.saturating_sub(widen_ms) as f64 / MS_PER_DAY;
    let t1 = p.to_ms.saturating_add(widen_ms) as f64 / MS_PER_DAY;
    let margin_t = 1e-6;
    let lower = [
        down(centre[0] - half),
        down(centre[1] - half),
        down(centre[2] - half),
        down(t0 - margin_t),
    ];
    let upper = [
        up(centre[0] + half),
        up(centre[1] + half),
        up(centre[2] + half),
        up(t1 + margin_t),
    ];
    AABB::from_corners(lower, upper)
}

/// The largest f32 not above `x`.
fn down(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) > x { f.next_down() } else { f }
}

/// The smallest f32 not below `x`.
fn up(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) < x { f.next_up() } else { f }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
}
