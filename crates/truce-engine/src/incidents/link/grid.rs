//! The fast tier of [`super::Components`]: a hierarchical spatial-temporal hash grid for the
//! common observation, one with a small reach (`radius_m + cluster_m ≤` [`SMALL_REACH_M`]) and a
//! short window (`window + cluster_minutes ≤` [`BUCKET_MS`]).
//!
//! # Why
//! An R-tree insertion moves boxes between nodes spread over the heap, and its query walks them:
//! at a million observations both are cache misses, ~12 µs per observation (bench/RESULTS.md,
//! "Incident clustering"). A hash grid touches a handful of cells per insertion, each one array of
//! compact entries that the candidate filter reads in order, without following a pointer per
//! candidate.
//!
//! # Cells
//! Cells are cubes in the space of unit-sphere vectors (x, y, z), not in latitude and longitude:
//! the chord bounds of the R-tree tier carry over unchanged, and neither the poles nor the
//! antimeridian need a special case (a cube is a cube wherever the sphere passes through it).
//! Level `j` has cubes of side `2^(j − 18)` (chord; ≈ 24 m × 2^j on the Earth), `j <` [`LEVELS`]:
//! an observation goes to the smallest level whose side is at least [`SIDE_PER_FOOTPRINT`] times
//! its *footprint* `chord(radius + cluster / 2)`, so that a pair of observations of one level
//! within linking distance lies in at most two adjacent cells per axis. A cell is keyed by
//! (level, cube, time bucket) where the bucket is `from_ms` divided by [`BUCKET_MS`] (one day);
//! the grid holds one table of cells ([`super::table`]) for the whole (agreement, family).
//!
//! # Why no link is lost
//! For two linked observations a, b at haversine distance `d ≤ r_a + r_b + min(c_a, c_b)`, the
//! chord `|u_a − u_b|` (which is `2 sin(d / 2R)`, an identity of the haversine formula) is at most
//! both `chord(r_a + c_a) + chord(r_b)` and `chord(r_a + c_a/2) + chord(r_b + c_b/2)` (the chord
//! is subadditive and `min ≤ mean`), and each axis of `u_a − u_b` is at most the chord. Each
//! level keeps the largest `chord(r)` and footprint stored in it, so a query of level `j` covers
//! the cubes within `min(reach_a + max chord(r), footprint_a + max footprint)` of `u_a`, padded by
//! [`PAD_CHORD`] (about 1.6 m: the `f32` rounding of stored vectors, 6e-8, and the haversine's
//! own rounding are far below it). In time, `from_b ≥ from_a − (len_b + gap_b)` and
//! `from_b ≤ to_a + gap_a` for any linked pair, so the buckets from
//! `(from_a − max(len + gap))` to `(to_a + gap_a)` cover every partner. The cube and bucket
//! indices are `floor`s of the same `f64` values at insertion and query, so the ranges are
//! monotone and exact. Within the range a cube is skipped only if it misses the ball of radius
//! `ρ` around `u_a` or the unit sphere (both tests padded), which no partner's cube does.
//! Correctness never depends on which level an observation went to — only
//! on the per-level maxima — so the level choice is a pure performance knob.
//!
//! A cell keeps its entries sorted by start, so a query reads only those that start between its
//! window's start less the level's longest span and its window's end (two binary searches: a day's
//! cell holds reports from all hours of it, and a query reaches minutes to hours). Each of those
//! entries is filtered on its window (exact integers: `gap ≤ gap_a`) and on
//! its chord (`|u_a − u_b| ≤ chord(r_a + c_a) + chord(r_b)` + pad, in `f64` from the `f32`
//! vector).
//!
//! # Certain links
//! Most survivors are linked, and most of them far inside the limit. The grid decides those
//! itself: the time half of [`super::LinkPoint::links`] is integers it holds, and the distance
//! half holds for certain when `|u_a − u_b| ≤ L − pad`, where `L = x − x³/24` (`x = limit / R`,
//! `limit = r_a + r_b↓ + min(c_a, c_b)` with `r_b` rounded down to `f32`) is a lower bound of
//! `chord(limit)` (`sin y ≥ y − y³/6`): the `f32` vector is within 5.2e-8 of the `f64` one, the
//! pad is 2.5e-7, so the true chord is below `chord(limit)` by more than a metre's worth, far
//! beyond the `f64` rounding of the haversine. Only a survivor nearer the limit than that goes
//! to [`super::LinkPoint::links`], with its event point read from the caller's records: the
//! cell does not keep latitude and longitude, which the exact check alone reads. Debug builds
//! check every certain link against the exact check.

//! # Complexity
//! A query of a level whose cube range × bucket range is small (≤ [`ENUMERATE_AT_MOST`] cells,
//! the usual case: 1–8 cubes, 1–2 buckets) looks each cell up directly, in batches whose cache
//! misses overlap ([`super::table`]). A larger range (a wide observation of the R-tree tier, or
//! one of a coarse level asking a fine one) walks the buckets of the range that hold anything (a
//! `BTreeMap` per level) and, in each, the smaller of the cube range and the list of occupied
//! cells of that bucket. So a query costs
//! `O(levels + Σ min(cubes in range, occupied cells in the range's buckets) + entries read)`,
//! never more than the cells of its time range. Insertion: one table slot, one push, plus one push
//! to the bucket's occupied list when the cell is new. On the 1M-point benchmark
//! (bench/RESULTS.md) a query looks up 2.7 cubes, finds 1.8 cells and reads 24 entries, of which
//! 2.5 pass the filter for 2.3 links; 2.1 of them are certain and 0.35 go to the exact check.
//!
//! # Memory
//! An entry is 36 bytes: the `f32` unit vector, chord of the radius and radius, the window as
//! two `u32` offsets in its bucket, the position and the index of its parameters. A cell adds a
//! 40-byte slot (key and vector header) in a table at most half full, 8 bytes in its bucket's
//! occupied list, and the vector's spare capacity (cells start at capacity 1, then 4, and
//! double). On the 1M-point benchmark (261,566 cells) the grid takes about 80 bytes per
//! observation (`cluster_bench`'s RSS growth: 80 MB, against 100 MB when entries were 56 bytes
//! with their own copy of the latitude, longitude and radius); with the 4-byte parent pointer
//! that [`super::Components`] keeps for every observation, about 84 bytes resident per
//! observation of the fast tier.

mod frozen;

use std::collections::BTreeMap;
use std::sync::Arc;

use truce_model::observation::EARTH_RADIUS_M;

use crate::cold::{Blob, Cold};

use super::table::{CellKey, CellTable};
use super::{LinkParams, LinkPoint, down, up};

/// Number of levels; the coarsest has side `2^(LEVELS − 19)` chord (≈ 100 km), at least
/// [`SIDE_PER_FOOTPRINT`] × the footprint of any observation of the fast tier.
pub(super) const LEVELS: usize = 13;
/// `log2` of the side of level 0 (chord on the unit sphere).
const FINEST_EXP: i32 = -18;
/// Cell side at least this many footprints (`chord(radius + cluster / 2)`).
pub(super) const SIDE_PER_FOOTPRINT: f64 = 8.0;
/// Largest `radius_m + cluster_m` of the fast tier, metres.
pub(super) const SMALL_REACH_M: f64 = 10_000.0;
/// Time bucket, ms; also the longest `window + cluster_minutes` of the fast tier.
pub(in crate::incidents) const BUCKET_MS: i64 = 86_400_000;
/// Cells (cubes × buckets) of a level's range looked up one by one before the occupied lists
/// are consulted.
const ENUMERATE_AT_MOST: u64 = 64;
/// Cells of more entries than this are searched for the starts a query's window allows.
pub(super) const SEARCH_FROM: usize = 32;
/// Slack added to every chord bound (unit sphere; ≈ 1.6 m on the Earth).
pub(super) const PAD_CHORD: f64 = 2.5e-7;
/// Cube index offset so that packed indices are non-negative (indices are within ±2^18).
const OFFSET: i64 = 1 << 19;

/// The chord on the unit sphere of a great-circle distance of `m` metres (0 for `m ≤ 0` or NaN,
/// the diameter from half the circumference on).
pub(super) fn chord(m: f64) -> f64 {
    if m > 0.0 {
        2.0 * ((m / EARTH_RADIUS_M).min(std::f64::consts::PI) / 2.0).sin()
    } else {
        0.0
    }
}

/// What both tiers need of one observation, computed once per insertion.
#[derive(Debug, Clone, Copy)]
pub(super) struct Probe {
    /// Unit vector of the event point.
    pub unit: [f64; 3],
    /// `chord(radius + cluster)`: how far this observation reaches beyond a partner's radius.
    pub reach: f64,
    /// `chord(radius)`.
    pub kr: f64,
    /// `chord(radius + cluster / 2)`, the footprint.
    pub kf: f64,
    pub from_ms: i64,
    pub to_ms: i64,
    pub gap_ms: i64,
    pub radius_m: f64,
    pub cluster_m: f64,
    /// The grid level, for an observation of the fast tier; `None` for the R-tree tier.
    pub level: Option<usize>,
}

/// The chords of the last (radius, cluster) seen: consecutive observations often share them
/// (radius 0 or the default, one agreement version), and each costs a sine.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ChordMemo {
    /// Bits of (radius, cluster) and their (reach, kr, kf); `None` before the first.
    last: Option<((u64, u64), [f64; 3])>,
}

impl ChordMemo {
    fn chords(&mut self, r: f64, c: f64) -> [f64; 3] {
        let key = (r.to_bits(), c.to_bits());
        match self.last {
            Some((k, chords)) if k == key => chords,
            _ => {
                let chords = [chord(r + c), chord(r), chord(r + c / 2.0)];
                self.last = Some((key, chords));
                chords
            }
        }
    }
}

impl Probe {
    pub(super) fn new(p: &LinkPoint, memo: &mut ChordMemo) -> Probe {
        let (lat, lon) = (p.lat.to_radians(), p.lon.to_radians());
        let (sin_lat, cos_lat) = lat.sin_cos();
        let (sin_lon, cos_lon) = lon.sin_cos();
        let unit = [cos_lat * cos_lon, cos_lat * sin_lon, sin_lat];
        let (r, c, gap) = (p.radius_m, p.params.cluster_m, p.params.gap_ms);
        let [reach, kr, kf] = memo.chords(r, c);
        let len = p.to_ms.checked_sub(p.from_ms);
        let small = p.lat.abs() <= 90.0
            && p.lon.abs() <= 180.0
            && r >= 0.0
            && c >= 0.0
            && r + c <= SMALL_REACH_M
            && gap >= 0
            && len.is_some_and(|len| len >= 0 && len.saturating_add(gap) <= BUCKET_MS)
            // So that the start of its bucket is an i64.
            && p.from_ms >= i64::MIN + BUCKET_MS;
        Probe {
            unit,
            reach,
            kr,
            kf,
            from_ms: p.from_ms,
            to_ms: p.to_ms,
            gap_ms: gap,
            radius_m: r,
            cluster_m: c,
            level: small.then(|| level_for(kf)),
        }
    }

    /// Whether the unit vector is finite (an observation whose point is not can link to nothing:
    /// its haversine distance to anything is NaN).
    pub(super) fn is_finite(&self) -> bool {
        self.unit.iter().all(|u| u.is_finite())
    }
}

/// The smallest level whose side is at least [`SIDE_PER_FOOTPRINT`] × `kf` (the coarsest if none).
fn level_for(kf: f64) -> usize {
    let need = SIDE_PER_FOOTPRINT * kf;
    (0..LEVELS).find(|&j| side(j) >= need).unwrap_or(LEVELS - 1)
}

/// Side of the cubes of level `j`.
fn side(j: usize) -> f64 {
    1.0 / cubes_per_unit(j)
}

/// `1 / side(j)`, a power of two: scaling by it is exact.
fn cubes_per_unit(j: usize) -> f64 {
    (1i64 << (-FINEST_EXP - j as i32)) as f64
}

/// The cube index of coordinate `u` at level `j`, within the cubes that can hold a unit vector:
/// `floor(u / side)`, monotone in `u`.
fn cube(u: f64, j: usize) -> i64 {
    let scale = cubes_per_unit(j);
    let x = (u * scale).clamp(-scale, scale);
    // `floor` without a libm call (the baseline x86-64 has no rounding instruction); exact for
    // |x| ≤ 2^18.
    let t = x as i64;
    t - i64::from((t as f64) > x)
}

fn pack(level: usize, c: [i64; 3]) -> u64 {
    ((level as u64) << 60)
        | (((c[0] + OFFSET) as u64) << 40)
        | (((c[1] + OFFSET) as u64) << 20)
        | ((c[2] + OFFSET) as u64)
}

fn unpack(spatial: u64) -> [i64; 3] {
    let field = |shift: u32| ((spatial >> shift) & 0xF_FFFF) as i64 - OFFSET;
    [field(40), field(20), field(0)]
}

/// One observation of the fast tier, as its cell stores it: the inputs of the filter and of
/// the certain link (see [`Grid`]'s docs), not the event point's latitude and longitude, which
/// only the exact check of a borderline candidate reads, from the caller's records.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Unit vector, rounded to nearest.
    unit: [f32; 3],
    /// `chord(radius)`, rounded up.
    kr: f32,
    /// `radius`, rounded down.
    radius: f32,
    /// `from_ms` − the bucket's start.
    from_off: u32,
    /// `to_ms − from_ms`.
    len: u32,
    position: u32,
    /// Index of its [`LinkParams`] in [`Grid::params`].
    params: u32,
}

/// A stored observation that passed the grid's filter: linked for certain, or to be checked
/// with [`LinkPoint::links`] (its window and parameters are here, its event point is the
/// caller's).
#[derive(Debug, Clone, Copy)]
pub(super) struct Candidate {
    pub position: u32,
    /// Linked for certain: the exact check would say so (see [`Grid`]'s docs).
    pub linked: bool,
    pub from_ms: i64,
    pub to_ms: i64,
    pub params: LinkParams,
}

/// A lower bound of `chord(m)` for `m ≥ 0`, without a sine: `2 sin(y) ≥ 2y − y³/3` for
/// `y = m / 2R ≥ 0`. NaN or negative when no bound is useful.
fn chord_at_least(m: f64) -> f64 {
    let x = m / EARTH_RADIUS_M;
    x - x * x * x / 24.0
}

/// Per-level bounds over every entry stored there, and the occupied cells by bucket.
#[derive(Debug, Clone, Default)]
struct Level {
    /// Largest stored `chord(radius)` (as stored, rounded up).
    max_kr: f64,
    /// Largest footprint.
    max_kf: f64,
    /// Largest `len + gap`, ms.
    max_span_ms: i64,
    /// Spatial keys of the occupied cells, by bucket.
    buckets: BTreeMap<i64, Vec<u64>>,
}

/// The fast tier of one (agreement, family).
#[derive(Debug, Clone, Default)]
pub(super) struct Grid {
    cells: CellTable<Vec<Entry>>,
    levels: [Level; LEVELS],
    /// Bit `j` set when level `j` holds anything.
    occupied_levels: u16,
    /// The distinct parameters of the stored observations (one per agreement version, in
    /// practice).
    params: Vec<LinkParams>,
    /// Whether a deferred insertion left a cell out of order ([`Grid::flush`] sorts them).
    unsorted: bool,
    /// The cold tier old days go to ([`frozen`]), once attached.
    cold: Option<Arc<Cold>>,
    /// Buckets in the cold tier, and where.
    frozen: BTreeMap<i64, Blob>,
    /// The newest bucket inserted into.
    newest: Option<i64>,
}

/// The window a partner's must meet: `from_b ≤ hi` and `to_b ≥ lo`; and the longest span
/// (`len + gap`) stored in the level asked, so that `from_b ≥ lo − span` too.
struct TimeFilter {
    lo: i64,
    hi: i64,
    span: i64,
}

/// The cubes of one level that can hold a point within chord `rho` of `centre`.
struct CubeRange {
    level: usize,
    centre: [f64; 3],
    rho: f64,
    /// Cube index bounds, inclusive.
    lo: [i64; 3],
    hi: [i64; 3],
}

impl CubeRange {
    fn new(level: usize, centre: [f64; 3], rho: f64) -> CubeRange {
        CubeRange {
            level,
            centre,
            rho,
            lo: centre.map(|u| cube(u - rho, level)),
            hi: centre.map(|u| cube(u + rho, level)),
        }
    }

    /// Number of cubes in the index bounds.
    fn cubes(&self) -> u64 {
        (0..3)
            .map(|k| (self.hi[k] - self.lo[k] + 1) as u64)
            .product()
    }

    /// Whether cube `c` is within the index bounds, meets the ball of radius `rho` around the
    /// centre and meets the unit sphere (both tests padded): a cube that fails cannot hold a
    /// partner, and skipping it saves a hash lookup.
    fn admits(&self, c: [i64; 3]) -> bool {
        let s = side(self.level);
        let (mut ball, mut near, mut far) = (0.0, 0.0, 0.0);
        for (k, &ck) in c.iter().enumerate() {
            if ck < self.lo[k] || ck > self.hi[k] {
                return false;
            }
            let (a, b) = (ck as f64 * s, (ck + 1) as f64 * s);
            let u = self.centre[k];
            let outside = (a - u).max(u - b).max(0.0);
            ball += outside * outside;
            let inside = if a <= 0.0 && 0.0 <= b {
                0.0
            } else {
                a.abs().min(b.abs())
            };
            near += inside * inside;
            far += a.abs().max(b.abs()).powi(2);
        }
        ball <= self.rho * self.rho && near <= 1.0 + PAD_CHORD && far >= 1.0 - PAD_CHORD
    }
}

impl Grid {
    /// Number of observations stored (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.cells.values().map(Vec::len).sum()
    }

    /// Calls `found` with every stored observation that passes the window and chord filters
    /// against `probe` (a superset of its links; each position at most once).
    pub(super) fn query(&self, probe: &Probe, mut found: impl FnMut(Candidate)) {
        debug_assert!(!self.unsorted, "a deferred insertion not flushed");
        let mut levels = self.occupied_levels;
        while levels != 0 {
            let j = levels.trailing_zeros() as usize;
            levels &= levels - 1;
            self.query_level(j, probe, &mut found);
        }
    }

    fn query_level(&self, j: usize, probe: &Probe, found: &mut impl FnMut(Candidate)) {
        let level = &self.levels[j];
        let t_lo = probe.from_ms.saturating_sub(level.max_span_ms);
        let t_hi = probe.to_ms.saturating_add(probe.gap_ms);
        if t_lo > t_hi {
            return;
        }
        let (b_lo, b_hi) = (t_lo.div_euclid(BUCKET_MS), t_hi.div_euclid(BUCKET_MS));
        let time = TimeFilter {
            lo: probe.from_ms.saturating_sub(probe.gap_ms),
            hi: t_hi,
            span: level.max_span_ms,
        };
        let rho = (probe.reach + level.max_kr).min(probe.kf + level.max_kf) + PAD_CHORD;
        let range = CubeRange::new(j, probe.unit, rho);
        let cubes = range.cubes();
        let buckets = (b_hi - b_lo) as u64 + 1;
        if cubes.saturating_mul(buckets) <= ENUMERATE_AT_MOST {
            for bucket in b_lo..=b_hi {
                self.scan_range(&range, bucket, probe, &time, found);
            }
            return;
        }
        for (&bucket, occupied) in level.buckets.range(b_lo..=b_hi) {
            if cubes <= occupied.len() as u64 {
                self.scan_range(&range, bucket, probe, &time, found);
                continue;
            }
            for &spatial in occupied {
                if range.admits(unpack(spatial)) {
                    let key = CellKey { spatial, bucket };
                    self.scan_cell(key, probe, &time, found);
                }
            }
        }
    }

    /// Scans every cell of `range` in `bucket`. The cells are looked up in batches: first every
    /// slot of the batch is touched, then each is looked up, then the first entry of each found
    /// cell is touched, and only then are they scanned, so that the cache misses of a batch
    /// overlap instead of following one another.
    fn scan_range(
        &self,
        range: &CubeRange,
        bucket: i64,
        probe: &Probe,
        time: &TimeFilter,
        found: &mut impl FnMut(Candidate),
    ) {
        const BATCH: usize = 8;
        let mut keys = [CellKey { spatial: 0, bucket }; BATCH];
        let mut filled = 0;
        let (lo, hi) = (range.lo, range.hi);
        for x in lo[0]..=hi[0] {
            for y in lo[1]..=hi[1] {
                for z in lo[2]..=hi[2] {
                    if range.admits([x, y, z]) {
                        keys[filled].spatial = pack(range.level, [x, y, z]);
                        filled += 1;
                        if filled == BATCH {
                            self.scan_batch(&keys, probe, time, found);
                            filled = 0;
                        }
                    }
                }
            }
        }
        self.scan_batch(&keys[..filled], probe, time, found);
    }

    fn scan_batch(
        &self,
        keys: &[CellKey],
        probe: &Probe,
        time: &TimeFilter,
        found: &mut impl FnMut(Candidate),
    ) {
        let touched = keys.iter().fold(0u64, |acc, &k| acc ^ self.cells.touch(k));
        std::hint::black_box(touched);
        let mut cells: [&[Entry]; 8] = [&[]; 8];
        let mut filled = 0;
        for &key in keys {
            if let Some(entries) = self.cells.get(key) {
                cells[filled] = entries;
                filled += 1;
            }
        }
        let cells = &cells[..filled];
        let first = cells
            .iter()
            .map(|e| e[0].from_off)
            .fold(0, u32::wrapping_add);
        std::hint::black_box(first);
        let bucket = keys.first().map_or(0, |k| k.bucket);
        for entries in cells {
            self.scan_entries(entries, bucket, probe, time, found);
        }
    }

    fn scan_cell(
        &self,
        key: CellKey,
        probe: &Probe,
        time: &TimeFilter,
        found: &mut impl FnMut(Candidate),
    ) {
        if let Some(entries) = self.cells.get(key) {
            self.scan_entries(entries, key.bucket, probe, time, found);
        }
    }

    #[inline(always)]
    fn scan_entries(
        &self,
        entries: &[Entry],
        bucket: i64,
        probe: &Probe,
        time: &TimeFilter,
        found: &mut impl FnMut(Candidate),
    ) {
        let start = bucket * BUCKET_MS;
        let [ux, uy, uz] = probe.unit;
        let reach = probe.reach + PAD_CHORD;
        // Entries are sorted by start: only those starting within [time.lo − the level's
        // longest span, time.hi] can meet the window (a partner's end is at most its start plus
        // its span), so the rest of the cell is skipped by two binary searches.
        // Small cells are read whole: searching them costs more than the filter saves.
        // So are cells whose first and last starts are both allowed (when all share a window).
        let offset = |t: i64| t.saturating_sub(start).clamp(0, BUCKET_MS) as u32;
        let (lo, hi) = (offset(time.lo.saturating_sub(time.span)), offset(time.hi));
        let entries = match (entries.first(), entries.last()) {
            (Some(a), Some(b))
                if entries.len() > SEARCH_FROM && (a.from_off < lo || b.from_off > hi) =>
            {
                let first = entries.partition_point(|e| e.from_off < lo);
                let last = entries.partition_point(|e| e.from_off <= hi);
                &entries[first..last.max(first)]
            }
            _ => entries,
        };
        for e in entries {
            let from = start + i64::from(e.from_off);
            let to = from + i64::from(e.len);
            if from > time.hi || to < time.lo {
                continue;
            }
            let dx = ux - f64::from(e.unit[0]);
            let dy = uy - f64::from(e.unit[1]);
            let dz = uz - f64::from(e.unit[2]);
            let bound = reach + f64::from(e.kr);
            let d2 = dx * dx + dy * dy + dz * dz;
            if d2 <= bound * bound {
                let params = self.params[e.params as usize];
                // The time half of `LinkPoint::links`, the same integers: exact.
                let gap = (from.saturating_sub(probe.to_ms))
                    .max(probe.from_ms.saturating_sub(to))
                    .max(0);
                if gap > probe.gap_ms.min(params.gap_ms) {
                    continue;
                }
                let limit =
                    probe.radius_m + f64::from(e.radius) + probe.cluster_m.min(params.cluster_m);
                let sure = chord_at_least(limit) - PAD_CHORD;
                found(Candidate {
                    position: e.position,
                    linked: sure > 0.0 && d2 <= sure * sure,
                    from_ms: from,
                    to_ms: to,
                    params,
                });
            }
        }
    }

    /// Puts every cell's entries back in order of start after deferred insertions (a stable
    /// sort: entries of equal start keep their order of insertion, as [`Grid::insert`] keeps it).
    pub(super) fn flush(&mut self) {
        if std::mem::take(&mut self.unsorted) {
            for entries in self.cells.values_mut() {
                entries.sort_by_key(|e| e.from_off);
            }
        }
    }

    /// Stores an observation of the fast tier (`probe.level` is `Some`). With `defer` (a restore
    /// of many at once), its cell's order waits for [`Grid::flush`], which must come before the
    /// next [`Grid::query`]: sorting each cell once is cheaper than inserting in order when
    /// observations arrive out of order of start.
    pub(super) fn insert(&mut self, probe: &Probe, p: &LinkPoint, position: u32, defer: bool) {
        let j = probe.level.expect("an observation of the fast tier");
        let bucket = probe.from_ms.div_euclid(BUCKET_MS);
        let key = CellKey {
            spatial: pack(j, probe.unit.map(|u| cube(u, j))),
            bucket,
        };
        let same = |q: &LinkParams| {
            q.cluster_m.to_bits() == p.params.cluster_m.to_bits() && q.gap_ms == p.params.gap_ms
        };
        let params = match self.params.iter().rposition(same) {
            Some(i) => i,
            None => {
                self.params.push(p.params);
                self.params.len() - 1
            }
        };
        let entry = Entry {
            params: u32::try_from(params).expect("fewer than 2^32 parameter sets"),
            unit: probe.unit.map(|u| u as f32),
            kr: up(probe.kr),
            radius: down(p.radius_m),
            from_off: u32::try_from(probe.from_ms - bucket * BUCKET_MS).expect("within a bucket"),
            len: u32::try_from(probe.to_ms - probe.from_ms).expect("a short window"),
            position,
        };
        let (entries, new) = self.cells.get_or_default(key);
        if new {
            self.levels[j]
                .buckets
                .entry(bucket)
                .or_default()
                .push(key.spatial);
        }
        // Capacity 1 at first (most cells stay small), doubling from 4 on (growing by half saves
        // 3 % of the memory and costs 20 % more time in reallocations on the benchmark).
        if entries.capacity() == 0 {
            entries.reserve_exact(1);
        }
        // Sorted by start (a query reads only the starts its window allows); observations
        // arrive roughly in time order, so this is nearly always the end.
        if entries.last().is_none_or(|e| e.from_off <= entry.from_off) {
            entries.push(entry);
        } else if defer {
            entries.push(entry);
            self.unsorted = true;
        } else {
            let at = entries.partition_point(|e| e.from_off <= entry.from_off);
            entries.insert(at, entry);
        }
        let level = &mut self.levels[j];
        let span = i64::from(entry.len) + probe.gap_ms;
        if self.occupied_levels & (1 << j) == 0 {
            self.occupied_levels |= 1 << j;
            level.max_span_ms = span;
        }
        level.max_kr = level.max_kr.max(f64::from(entry.kr));
        level.max_kf = level.max_kf.max(probe.kf);
        level.max_span_ms = level.max_span_ms.max(span);
    }
}
