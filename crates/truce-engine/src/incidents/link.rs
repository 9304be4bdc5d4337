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
//! Two tiers per (agreement, family), and every new observation is checked against both, so a
//! link between tiers is never missed:
//! - the fast tier, `grid`: observations with `radius_m + cluster_m ≤ 10 km` and
//!   `window + cluster_minutes ≤ 1 day` (nearly all of them), in a hierarchical hash grid of
//!   cubes over the unit-sphere vector (x, y, z), keyed by level, cube and day, whose cells hold
//!   compact copies of the filter inputs; see its docs for the cell sizes and why the cube and
//!   bucket ranges of a query cover every partner;
//! - the wide tier: everything else (a wide radius, a long window, inputs outside the usual
//!   ranges) as a box in four dimensions, the unit-sphere position of its event point widened by
//!   the chord of its radius and its observed window (in days), in an R-tree. A new observation
//!   `a` asks it for every box that meets its own point widened by the chord of
//!   `radius_a + cluster_km_a` and its window widened by `cluster_minutes_a`.
//!
//! Candidates of either tier are checked with the exact predicate above
//! ([`LinkPoint::links`], the only place that decides), and linked ones are joined in a
//! union-find forest.
//!
//! Neither filter ever loses a link: the chord is subadditive (`2 sin((x+y)/2) ≤ 2 sin(x/2) +
//! 2 sin(y/2)` on the sphere's range), each axis of a straight-line difference is at most the
//! chord, so a linked pair's boxes always meet and its cubes are always within the query's range.
//! Working in 3-D unit vectors instead of longitude and latitude means no special case at the
//! poles or the antimeridian. The boxes are stored in `f32`, each bound rounded outward, with a
//! margin for the rounding of the f64 arithmetic; the grid pads its chord bounds likewise.
//!
//! An observation whose event point is not finite links to nothing (its haversine distance is
//! NaN) and is stored in neither tier.
//!
//! # Invariants
//! - The root of every component is its member with the lowest position (= lowest log index, as
//!   observations are applied in log order), so an incident's id is its root's id and never
//!   changes except when a merge brings in a member with a lower index.
//! - The components equal those of the full link graph whatever the arrival order: every link of
//!   the new observation to any earlier one is found at insertion (each earlier observation is in
//!   exactly one tier, and both are asked), and union is associative.
//!
//! # Complexity
//! Insertion of a fast-tier observation: a few hash lookups (1–8 cubes × 1–2 days per occupied
//! level), a scan of their entries, one R-tree query only when the wide tier holds anything,
//! exact checks of the filtered candidates and near-constant union-find work (path halving).
//! Insertion of a wide one: an R-tree query and insertion (O(log n + k)) and a grid query bounded
//! by the occupied cells of its days (`grid`). Memory per observation: the parent pointer
//! (4 bytes), plus in the fast tier a 36-byte cell entry and its share of the cell's slot and
//! spare capacity, about 80 bytes in all (`grid`), or in the wide tier the box with the link
//! inputs (about 100 bytes with the R-tree's node overhead). The event points themselves are
//! the caller's: [`Components::insert`] reads the few it needs for an exact check through a
//! closure (the state's observation records hold them anyway).
mod grid;
mod table;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use truce_model::observation::{EventPoint, Position, haversine_m};
use truce_model::taxonomy::Family;

use grid::{ChordMemo, Grid, Probe, chord};

use crate::cold::Cold;

use crate::outward::{down, up};

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

impl LinkParams {
    /// Links nothing but identical points with overlapping windows.
    pub const NONE: LinkParams = LinkParams {
        cluster_m: 0.0,
        gap_ms: 0,
    };

    /// The parameters an agreement's `[verification]` table sets.
    pub fn of(v: &truce_model::agreement::Verification) -> LinkParams {
        LinkParams {
            cluster_m: v.cluster_km * 1_000.0,
            gap_ms: i64::from(v.cluster_minutes) * 60_000,
        }
    }
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
    /// Its event point.
    pub fn event_point(&self) -> EventPoint {
        EventPoint {
            lat: self.lat,
            lon: self.lon,
            radius_m: self.radius_m,
        }
    }

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

/// A box in (x, y, z, days), with the position and link inputs of its observation (the wide
/// tier is a few per cent of observations at most: its boxes carry what the exact check needs,
/// as the grid's entries do).
type Box4 = GeomWithData<Rectangle<[f32; 4]>, (u32, LinkPoint)>;

/// Both tiers of one (agreement, family).
#[derive(Debug, Clone, Default)]
struct Tiers {
    /// The fast tier.
    grid: Grid,
    /// The wide tier.
    wide: RTree<Box4>,
    /// Wide-tier boxes of restored observations not in `wide` yet ([`Components::restore`]);
    /// loaded before the tier is next asked for partners, or by [`Components::flush`].
    deferred: Vec<Box4>,
}

impl Tiers {
    /// Indexes the observation at `position` in its tier (neither, if its point is not finite);
    /// with `defer`, a wide-tier box waits for [`Tiers::flush`], and so does the order of the
    /// grid cell it joins. The grid's days the probe reaches must be resident: the caller thaws
    /// them first (an insertion does before it asks for partners).
    fn add(&mut self, probe: &Probe, p: &LinkPoint, position: u32, defer: bool) {
        if !probe.is_finite() {
            return;
        }
        if probe.level.is_some() {
            self.grid.insert(probe, p, position, defer);
            self.grid.settle(probe.from_ms.div_euclid(grid::BUCKET_MS));
            return;
        }
        let e = envelope(probe, p.radius_m, 0);
        let b = GeomWithData::new(
            Rectangle::from_corners(e.lower(), e.upper()),
            (position, *p),
        );
        if defer {
            self.deferred.push(b);
        } else {
            self.wide.insert(b);
        }
    }

    /// Puts the deferred boxes into the wide tier (at once, when it is empty: bulk loading), and
    /// the grid's cells back in order.
    fn flush(&mut self) {
        self.grid.flush();
        if self.deferred.is_empty() {
            return;
        }
        let deferred = std::mem::take(&mut self.deferred);
        if self.wide.size() == 0 {
            self.wide = RTree::bulk_load(deferred);
        } else {
            for b in deferred {
                self.wide.insert(b);
            }
        }
    }
}

/// The components of the link graph over every observation inserted so far.
#[derive(Debug, Clone, Default)]
pub struct Components {
    /// Union-find parent by position (a root is its own parent). The link inputs are kept by
    /// the tiers alone (each observation's in its grid entry or wide box), and the state's
    /// records hold them anyway: no third copy by position.
    parent: Vec<u32>,
    /// The tiers of each (agreement, family), indexed by `keys`.
    tiers: Vec<Tiers>,
    keys: HashMap<(Arc<str>, Family), usize>,
    /// The last key looked up and its index (consecutive observations usually share it).
    last: Option<(Arc<str>, Family, usize)>,
    /// Scratch list of the linked positions of one insertion.
    joined: Vec<u32>,
    chords: ChordMemo,
    /// The cold tier old days of the grids go to, once attached.
    cold: Option<Arc<Cold>>,
}

impl Components {
    /// Sends the old days of every grid to `cold` from now on ([`grid`]'s `frozen` module).
    pub(crate) fn attach_cold(&mut self, cold: Arc<Cold>) {
        for t in &mut self.tiers {
            t.grid.attach_cold(cold.clone());
        }
        self.cold = Some(cold);
    }

    /// Days of the grids in the cold tier, summed over every (agreement, family).
    pub(crate) fn cold_days(&self) -> usize {
        self.tiers.iter().map(|t| t.grid.frozen_buckets()).sum()
    }

    /// Makes room for `additional` more observations.
    pub fn reserve(&mut self, additional: usize) {
        self.parent.reserve_exact(additional);
    }

    /// Number of observations inserted.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// Whether nothing was inserted yet.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// Adds the next observation (position = [`Components::len`]) of `agreement` and `family`,
    /// links it to every earlier observation it is linked with, and returns the roots of the
    /// components it joined, as they were before the insertion (sorted, without duplicates).
    /// The new component's root is the smallest of them, or the new position if it joined none.
    ///
    /// `event_point` gives the event point of an earlier observation by position: the grid keeps
    /// everything else the exact check needs, and the caller's records hold the points anyway.
    pub fn insert(
        &mut self,
        agreement: &Arc<str>,
        family: Family,
        p: LinkPoint,
        event_point: impl Fn(u32) -> EventPoint,
    ) -> Vec<u32> {
        let position = u32::try_from(self.parent.len()).expect("fewer than 2^32 observations");
        let index = self.tiers_of(agreement, family);
        let probe = Probe::new(&p, &mut self.chords);
        let mut joined = std::mem::take(&mut self.joined);
        joined.clear();
        let tiers = &mut self.tiers[index];
        tiers.flush();
        if probe.is_finite() {
            if tiers.wide.size() > 0 {
                let query = envelope(&probe, p.radius_m + p.params.cluster_m, p.params.gap_ms);
                for candidate in tiers.wide.locate_in_envelope_intersecting(&query) {
                    let (other, point) = &candidate.data;
                    if p.links(point) {
                        joined.push(*other);
                    }
                }
            }
            tiers.grid.thaw_for(&probe);
            tiers.grid.query(&probe, |c| {
                let exact = || {
                    let at = event_point(c.position);
                    p.links(&LinkPoint {
                        lat: at.lat,
                        lon: at.lon,
                        radius_m: at.radius_m,
                        from_ms: c.from_ms,
                        to_ms: c.to_ms,
                        params: c.params,
                    })
                };
                debug_assert!(
                    !c.linked || exact(),
                    "a certain link the exact check refuses"
                );
                if c.linked || exact() {
                    joined.push(c.position);
                }
            });
        }
        tiers.add(&probe, &p, position, false);
        self.parent.push(position);
        let mut roots: Vec<u32> = joined.iter().map(|&o| self.find(o)).collect();
        self.joined = joined;
        roots.sort_unstable();
        roots.dedup();
        for &r in &roots {
            self.union(r, position);
        }
        roots
    }

    /// Adds the next observation as [`Components::insert`] does, but with the root of its
    /// component already known (`root`, at most its own position, itself a root): it is indexed
    /// for later insertions and joined to `root` without asking the index for partners. For
    /// restoring a snapshot, which recorded the partition; `None` if `root` is not a root.
    pub fn restore(
        &mut self,
        agreement: &Arc<str>,
        family: Family,
        p: LinkPoint,
        root: u32,
    ) -> Option<()> {
        let position = u32::try_from(self.parent.len()).expect("fewer than 2^32 observations");
        if root != position && self.parent.get(root as usize) != Some(&root) {
            return None;
        }
        let index = self.tiers_of(agreement, family);
        let probe = Probe::new(&p, &mut self.chords);
        self.tiers[index].grid.thaw_for(&probe);
        self.tiers[index].add(&probe, &p, position, true);
        self.parent.push(root);
        Some(())
    }

    /// Loads every deferred box ([`Components::restore`]) into its tier.
    pub fn flush(&mut self) {
        for t in &mut self.tiers {
            t.flush();
        }
    }

    /// The index in `tiers` of (agreement, family), created if new.
    fn tiers_of(&mut self, agreement: &Arc<str>, family: Family) -> usize {
        if let Some((a, f, index)) = &self.last
            && *f == family
            && Arc::ptr_eq(a, agreement)
        {
            return *index;
        }
        let next = self.tiers.len();
        let index = *self.keys.entry((agreement.clone(), family)).or_insert(next);
        if index == next {
            let mut tiers = Tiers::default();
            if let Some(cold) = &self.cold {
                tiers.grid.attach_cold(cold.clone());
            }
            self.tiers.push(tiers);
        }
        self.last = Some((agreement.clone(), family, index));
        index
    }

    /// How many observations each tier holds, (fast, wide), over every key (for tests).
    #[cfg(test)]
    fn tier_sizes(&self) -> (usize, usize) {
        self.tiers
            .iter()
            .fold((0, 0), |(g, w), t| (g + t.grid.len(), w + t.wide.size()))
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

    /// Whether `position` is the root of its component (a constant-time test, where [`root`]
    /// walks the path).
    ///
    /// [`root`]: Components::root
    pub fn is_root(&self, position: u32) -> bool {
        self.parent.get(position as usize) == Some(&position)
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

/// The box around the probe's point widened by `widen_m` metres in space and `widen_ms` in
/// time, rounded outward to f32.
fn envelope(probe: &Probe, widen_m: f64, widen_ms: i64) -> AABB<[f32; 4]> {
    let centre = probe.unit;
    // Chord of the widening on the unit sphere, capped at the diameter, plus a margin that
    // covers the f64 error of both the unit vectors and haversine (well under a millimetre).
    let half = chord(widen_m) + 1e-9;
    let t0 = probe.from_ms.saturating_sub(widen_ms) as f64 / MS_PER_DAY;
    let t1 = probe.to_ms.saturating_add(widen_ms) as f64 / MS_PER_DAY;
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
