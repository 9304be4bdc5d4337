//! Exploratory probe for the clustering benchmark: what one neighbour search plus one insertion
//! costs with other index layouts, on the points `cluster_bench` wrote (bench/RESULTS.md,
//! "Incident clustering"). Not the engine's code; each variant finds the same neighbour count.
//!
//! ```text
//! cargo run --release -p truce-engine --example cluster_index_probe -- POINTS_CSV EPS_M [VARIANTS]
//! ```
//!
//! VARIANTS (comma-separated, default all): `rstar4` (the engine's layout: 4-D `f32` boxes of
//! unit vector × days, R* insertion, default parameters), `rstar4-p4` and `rstar4-noreinsert`
//! (other `RTreeParams`), `rstar3` (3-D, no time axis), `bulk4`, `bulk3`, `bulk2` (bulk-loaded
//! trees of 4-D, 3-D or (lat, lon) points, one query per point: a batch lower bound), `grid2`
//! (an incremental hash grid of (lat, lon) cells of side eps, candidates checked with the exact
//! haversine), `grid2-inline` (the same with each point's coordinates stored in its cell).
//! CPU time of the thread, µs per point.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RStarInsertionStrategy, RTree, RTreeParams};
use truce_model::observation::{EARTH_RADIUS_M, Position, haversine_m};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The common observed window, days (as `cluster_bench`: every pair overlaps).
const T0_DAYS: f32 = 19_675.92;

struct SmallNodes;
impl RTreeParams for SmallNodes {
    const MIN_SIZE: usize = 2;
    const MAX_SIZE: usize = 4;
    const REINSERTION_COUNT: usize = 1;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

struct NoReinsertion;
impl RTreeParams for NoReinsertion {
    const MIN_SIZE: usize = 3;
    const MAX_SIZE: usize = 6;
    const REINSERTION_COUNT: usize = 0;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("POINTS_CSV");
    let eps: f64 = args.next().expect("EPS_M").parse().expect("EPS_M");
    let variants = args.next().unwrap_or_else(|| {
        "rstar4,rstar4-p4,rstar4-noreinsert,rstar3,bulk4,bulk3,bulk2,grid2,grid2-inline".into()
    });
    let text = std::fs::read_to_string(&path).expect("read the points");
    let lls: Vec<(f64, f64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<f64> = l.split(',').skip(1).map(|x| x.parse().unwrap()).collect();
            (f[1], f[0])
        })
        .collect();
    let half = 2.0 * (eps / EARTH_RADIUS_M / 2.0).sin();
    let p = Probe { lls, half, eps };
    for v in variants.split(',') {
        let cpu = cpu_ns();
        let (links, what) = match v {
            "rstar4" => (p.incremental::<4, rstar::DefaultParams>(), "R* insert, 4-D"),
            "rstar4-p4" => (
                p.incremental::<4, SmallNodes>(),
                "R* insert, 4-D, nodes 2..4",
            ),
            "rstar4-noreinsert" => (
                p.incremental::<4, NoReinsertion>(),
                "R* insert, 4-D, no forced reinsertion",
            ),
            "rstar3" => (p.incremental::<3, rstar::DefaultParams>(), "R* insert, 3-D"),
            "bulk4" => (p.bulk::<4>(), "bulk load + query, 4-D"),
            "bulk3" => (p.bulk::<3>(), "bulk load + query, 3-D"),
            "bulk2" => (p.bulk2(), "bulk load + query, (lat, lon)"),
            "grid2" => (p.grid2(false), "hash grid, (lat, lon)"),
            "grid2-inline" => (p.grid2(true), "hash grid, (lat, lon), inline"),
            other => panic!("unknown variant {other}"),
        };
        let us = (cpu_ns() - cpu) as f64 / 1e3 / p.lls.len() as f64;
        println!("{v:>18}: {us:6.2} µs per point on CPU ({what}); {links} neighbour pairs");
    }
}

struct Probe {
    lls: Vec<(f64, f64)>,
    /// Chord of eps on the unit sphere.
    half: f64,
    eps: f64,
}

impl Probe {
    fn unit(&self, i: usize) -> [f64; 3] {
        let (lat, lon) = (self.lls[i].0.to_radians(), self.lls[i].1.to_radians());
        [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
    }

    fn linked(&self, i: usize, j: usize) -> bool {
        let (a, b) = (self.lls[i], self.lls[j]);
        haversine_m(
            Position { lat: a.0, lon: a.1 },
            Position { lat: b.0, lon: b.1 },
        ) <= self.eps
    }

    /// The box of point `i` (`widen` = 0) or its query box (`widen` = chord of eps), bounds
    /// rounded outward as the engine rounds them (so that no extent is zero); 4-D adds the common
    /// window (± 1e-6 days, as the engine stores it, or ± 15 minutes for a query).
    fn corners<const D: usize>(&self, i: usize, widen: f64) -> ([f32; D], [f32; D]) {
        let c = self.unit(i);
        let t = f64::from(T0_DAYS);
        let dt = if widen > 0.0 { 15.0 / 1440.0 } else { 1e-6 };
        let mut lo = [down(t - dt); D];
        let mut hi = [up(t + dt); D];
        for k in 0..3 {
            lo[k] = down(c[k] - widen - 1e-9);
            hi[k] = up(c[k] + widen + 1e-9);
        }
        (lo, hi)
    }

    fn incremental<const D: usize, P: RTreeParams>(&self) -> usize {
        let mut tree: RTree<GeomWithData<Rectangle<[f32; D]>, u32>, P> = RTree::new_with_params();
        let mut links = 0;
        for i in 0..self.lls.len() {
            let (lo, hi) = self.corners::<D>(i, self.half);
            for c in tree.locate_in_envelope_intersecting(&AABB::from_corners(lo, hi)) {
                links += usize::from(self.linked(i, c.data as usize));
            }
            let (lo, hi) = self.corners::<D>(i, 0.0);
            tree.insert(GeomWithData::new(Rectangle::from_corners(lo, hi), i as u32));
        }
        links
    }

    fn bulk<const D: usize>(&self) -> usize {
        let items = (0..self.lls.len())
            .map(|i| GeomWithData::new(self.corners::<D>(i, 0.0).0, i as u32))
            .collect();
        let tree: RTree<GeomWithData<[f32; D], u32>> = RTree::bulk_load(items);
        self.count_bulk(|i| {
            let (lo, hi) = self.corners::<D>(i, self.half);
            tree.locate_in_envelope_intersecting(&AABB::from_corners(lo, hi))
                .map(|c| c.data as usize)
                .collect()
        })
    }

    fn bulk2(&self) -> usize {
        let (dlat, dlon) = self.cell();
        let items = (0..self.lls.len())
            .map(|i| GeomWithData::new([self.lls[i].0 as f32, self.lls[i].1 as f32], i as u32))
            .collect();
        let tree: RTree<GeomWithData<[f32; 2], u32>> = RTree::bulk_load(items);
        self.count_bulk(|i| {
            let (lat, lon) = self.lls[i];
            let lo = [(lat - dlat) as f32, (lon - dlon) as f32];
            let hi = [(lat + dlat) as f32, (lon + dlon) as f32];
            tree.locate_in_envelope_intersecting(&AABB::from_corners(lo, hi))
                .map(|c| c.data as usize)
                .collect()
        })
    }

    /// Neighbour pairs from one query per point against all points.
    fn count_bulk(&self, query: impl Fn(usize) -> Vec<usize>) -> usize {
        let mut links = 0;
        for i in 0..self.lls.len() {
            for j in query(i) {
                links += usize::from(j < i && self.linked(i, j));
            }
        }
        links
    }

    /// Cell sides (degrees) that keep every pair within eps in adjacent cells over 47..49° N
    /// (a probe, not general: `cluster_bench` has the general bound).
    fn cell(&self) -> (f64, f64) {
        let dlat = (self.eps / EARTH_RADIUS_M).to_degrees() * 1.000_001;
        (dlat, dlat / 49.1f64.to_radians().cos())
    }

    fn grid2(&self, inline: bool) -> usize {
        let (dlat, dlon) = self.cell();
        let key =
            |(lat, lon): (f64, f64)| ((lat / dlat).floor() as i32, (lon / dlon).floor() as i32);
        let mut ids: Cells<u32> = HashMap::default();
        let mut coords: Cells<(f64, f64, u32)> = HashMap::default();
        let mut links = 0;
        for (i, &p) in self.lls.iter().enumerate() {
            let (r, c) = key(p);
            let a = Position { lat: p.0, lon: p.1 };
            for cell in (r - 1..=r + 1).flat_map(|r| (c - 1..=c + 1).map(move |c| (r, c))) {
                if inline {
                    for &(lat, lon, _) in coords.get(&cell).map(Vec::as_slice).unwrap_or(&[]) {
                        links += usize::from(haversine_m(a, Position { lat, lon }) <= self.eps);
                    }
                } else {
                    for &j in ids.get(&cell).map(Vec::as_slice).unwrap_or(&[]) {
                        links += usize::from(self.linked(i, j as usize));
                    }
                }
            }
            if inline {
                coords.entry((r, c)).or_default().push((p.0, p.1, i as u32));
            } else {
                ids.entry((r, c)).or_default().push(i as u32);
            }
        }
        links
    }
}

/// Grid cells by (row, column).
type Cells<T> = HashMap<(i32, i32), Vec<T>, BuildHasherDefault<Mul>>;

/// A multiplicative hash for cell keys.
#[derive(Default)]
struct Mul(u64);

impl Hasher for Mul {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u8(*b);
        }
    }
    fn write_u8(&mut self, v: u8) {
        self.write_i32(i32::from(v));
    }
    fn write_i32(&mut self, v: i32) {
        self.0 = (self.0.rotate_left(21) ^ u64::from(v as u32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
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

/// Nanoseconds this thread has spent on a CPU.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}
