//! Incident clustering benchmark (issue 9, "Performance"): N point observations drawn like
//! reports along the Donbas line of contact, clustered one at a time with
//! [`truce_engine::incidents::link::Components`].
//!
//! ```text
//! cargo run --release -p truce-engine --example cluster_bench -- \
//!     --n 1000000 --eps-m 40 [--seed 9] [--runs 2] [--out /tmp/truce-cluster-bench] \
//!     [--line data/contact_line_donbas_approx.geojson]
//! ```
//!
//! Every observation has radius 0 and the same observed window, so the link is pure spatial
//! single linkage at `eps`: haversine distance (sphere of radius 6,371,008.8 m) ≤ `eps`, which is
//! what `DBSCAN(min_samples=1)` computes. `bench/cluster.sh` runs this, PostGIS and scikit-learn
//! on the same points and compares them.
//!
//! Writes to `--out`: `points.csv` (`id,lon,lat`, each coordinate printed so that it parses back
//! to the very `f64` that was clustered), `truce_labels.txt` (one root per point, in id order)
//! and `truce.json` (the figures printed).
//!
//! # The points
//! A pure function of (seed, N), made of three parts:
//! - 70 % reports at *sites* (villages, positions, crossings): 20,000 sites along the line of
//!   contact (uniform along its length, offset across it by a two-sided exponential of scale
//!   2 km), each with a weight (Pareto, shape 1.5, capped at 100× the smallest) and a scatter
//!   (Gaussian, σ log-uniform in 50 m .. 1 km: a crater located to a few metres vs. "shelling
//!   heard to the north-east"); a report picks a site by weight and falls around it;
//! - 15 % diffuse reports near the line (uniform along it, offset by a two-sided exponential of
//!   scale 3 km);
//! - 15 % background uniform over the region (lat 47..49, lon 37.3..39.7): strikes and damage
//!   deep behind the line.
//!
//! The sites do not depend on N: with more reports each site holds more of them, as a longer
//! period of the same conflict would.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use truce_engine::incidents::link::{Components, LinkParams, LinkPoint};
use truce_model::observation::{EARTH_RADIUS_M, Position, haversine_m};
use truce_model::taxonomy::Family;

/// The server's allocator (the `truce` binary's default `mimalloc` feature), so that the tree's
/// nodes are laid out as they are in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The region: (lat min, lat max, lon min, lon max).
const AREA: (f64, f64, f64, f64) = (47.0, 49.0, 37.3, 39.7);
/// Number of sites along the line.
const SITES: usize = 20_000;
/// Share of the background, uniform over [`AREA`].
const SHARE_BACKGROUND: f64 = 0.15;
/// Share of the diffuse reports near the line; the rest are at sites.
const SHARE_DIFFUSE: f64 = 0.15;
/// Kilometres per degree of latitude on the sphere.
const KM_PER_DEGREE: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0 / 1_000.0;
/// The common observed window (ms since the epoch): every pair overlaps.
const T0_MS: i64 = 1_700_000_000_000;
/// Number of final insertions timed one by one, with almost all the points already held.
const TAIL: usize = 100_000;

struct Args {
    n: usize,
    eps_m: f64,
    seed: u64,
    runs: usize,
    out: PathBuf,
    line: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        n: 100_000,
        eps_m: 40.0,
        seed: 9,
        runs: 1,
        out: PathBuf::from("/tmp/truce-cluster-bench"),
        line: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/contact_line_donbas_approx.geojson"
        )),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--n" => args.n = value()?.parse().map_err(|e| format!("--n: {e}"))?,
            "--eps-m" => args.eps_m = value()?.parse().map_err(|e| format!("--eps-m: {e}"))?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--runs" => args.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--out" => args.out = PathBuf::from(value()?),
            "--line" => args.line = PathBuf::from(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.n == 0 || args.n > u32::MAX as usize || args.runs == 0 || args.eps_m.is_nan() {
        return Err("need 0 < n < 2^32, runs > 0 and a number for eps".into());
    }
    Ok(args)
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("cluster_bench: {e}");
        std::process::exit(2);
    });
    std::fs::create_dir_all(&args.out).expect("create the output directory");
    let text = std::fs::read_to_string(&args.line)
        .unwrap_or_else(|e| panic!("read {}: {e}", args.line.display()));
    let line = Line::new(line_vertices(&text));

    let t = Instant::now();
    let points = generate(&line, args.n, args.seed);
    let generate_s = t.elapsed().as_secs_f64();
    write_points(&args, &points);
    println!(
        "{} points (seed {}), generated in {generate_s:.2} s; eps = {} m; written to {}",
        points.len(),
        args.seed,
        args.eps_m,
        args.out.join("points.csv").display()
    );

    // Clustering, `runs` times from scratch; the fastest run is the figure.
    let params = LinkParams {
        cluster_m: args.eps_m,
        gap_ms: 15 * 60_000,
    };
    let agreement: Arc<str> = Arc::from("bench");
    let link_points: Vec<LinkPoint> = points
        .iter()
        .map(|&(lat, lon)| LinkPoint {
            lat,
            lon,
            radius_m: 0.0,
            from_ms: T0_MS,
            to_ms: T0_MS,
            params,
        })
        .collect();
    let n = link_points.len();
    let tail = TAIL.min(n / 2);
    let mut runs = Vec::new();
    let mut kept = None;
    for run in 0..args.runs {
        let rss_before = rss_kb("VmRSS");
        let mut c = Components::default();
        // The exact check reads earlier event points from the caller, as the state's records.
        let at = |i: u32| link_points[i as usize].event_point();
        let mut tail_ns: Vec<u32> = Vec::with_capacity(tail);
        let cpu_start = cpu_ns();
        let start = Instant::now();
        for p in &link_points[..n - tail] {
            c.insert(&agreement, Family::Fire, *p, at);
        }
        let tail_start = Instant::now();
        for p in &link_points[n - tail..] {
            let t = Instant::now();
            c.insert(&agreement, Family::Fire, *p, at);
            tail_ns.push(u32::try_from(t.elapsed().as_nanos()).unwrap_or(u32::MAX));
        }
        let end = Instant::now();
        let cpu_s = (cpu_ns() - cpu_start) as f64 / 1e9;
        let total_s = (end - start).as_secs_f64();
        let tail_us = (end - tail_start).as_secs_f64() * 1e6 / tail as f64;
        tail_ns.sort_unstable();
        let pct = |q: f64| f64::from(tail_ns[((tail as f64 - 1.0) * q) as usize]) / 1e3;
        let rss_delta_mb = (rss_kb("VmRSS") - rss_before) as f64 / 1024.0;
        println!(
            "run {}: {total_s:.3} s ({cpu_s:.3} s on CPU), {:.0} points/s, {:.2} µs per insertion on average; \
             last {tail} insertions (holding {}..{}): {tail_us:.2} µs each \
             (p50 {:.2}, p99 {:.2}, max {:.0} µs); RSS +{rss_delta_mb:.0} MB",
            run + 1,
            n as f64 / total_s,
            total_s * 1e6 / n as f64,
            n - tail,
            n - 1,
            pct(0.5),
            pct(0.99),
            pct(1.0),
        );
        runs.push(json!({
            "seconds": total_s,
            "cpu_seconds": cpu_s,
            "points_per_s": n as f64 / total_s,
            "tail_us_per_insert": tail_us,
            "tail_p50_us": pct(0.5),
            "tail_p99_us": pct(0.99),
            "tail_max_us": pct(1.0),
            "rss_delta_mb": rss_delta_mb,
        }));
        if run + 1 == args.runs {
            kept = Some(c);
        }
    }
    let c = kept.expect("at least one run");
    let roots: Vec<u32> = (0..n as u32).map(|i| c.root(i)).collect();
    drop(c);
    write_labels(&args, &roots);

    // The answer's shape: neighbour pairs and the cluster-size distribution.
    let t = Instant::now();
    let pairs = neighbour_pairs(&points, args.eps_m);
    let grid_s = t.elapsed().as_secs_f64();
    let mean_neighbours = 2.0 * pairs.len() as f64 / n as f64;
    // An independent check of the partition: components of the exact pair list.
    let reference = components_of(n, &pairs);
    let same_as_reference = reference == roots;
    println!(
        "neighbour pairs within eps: {} (mean neighbours per point {mean_neighbours:.2}), \
         counted on a grid in {grid_s:.2} s; their components equal truce's: {same_as_reference}",
        pairs.len()
    );
    let (distribution, summary) = size_distribution(&roots);
    print!("{distribution}");

    let best = runs
        .iter()
        .min_by(|a, b| {
            a["seconds"]
                .as_f64()
                .partial_cmp(&b["seconds"].as_f64())
                .unwrap()
        })
        .cloned()
        .expect("at least one run");
    let report = json!({
        "n": n,
        "seed": args.seed,
        "eps_m": args.eps_m,
        "runs": runs,
        "best": best,
        "neighbour_pairs": pairs.len(),
        "mean_neighbours": mean_neighbours,
        "same_as_grid_reference": same_as_reference,
        "clusters": summary,
    });
    std::fs::write(
        args.out.join("truce.json"),
        serde_json::to_string_pretty(&report).expect("JSON"),
    )
    .expect("write truce.json");
    if !same_as_reference {
        eprintln!("cluster_bench: truce's partition differs from the exact pair reference");
        std::process::exit(1);
    }
}

/// The (lat, lon) vertices of the first LineString (or the lines of a MultiLineString, joined)
/// of a GeoJSON text.
fn line_vertices(text: &str) -> Vec<(f64, f64)> {
    let v: Value = serde_json::from_str(text).expect("GeoJSON");
    let feature = match v["type"].as_str() {
        Some("FeatureCollection") => v["features"][0].clone(),
        _ => v,
    };
    let geometry = if feature["type"] == "Feature" {
        feature["geometry"].clone()
    } else {
        feature
    };
    let coords = &geometry["coordinates"];
    let lines: Vec<&Value> = match geometry["type"].as_str() {
        Some("LineString") => vec![coords],
        Some("MultiLineString") => coords.as_array().expect("lines").iter().collect(),
        other => panic!("expected a LineString, found {other:?}"),
    };
    let vertices: Vec<(f64, f64)> = lines
        .iter()
        .flat_map(|l| l.as_array().expect("positions").iter())
        .map(|p| (p[1].as_f64().expect("lat"), p[0].as_f64().expect("lon")))
        .collect();
    assert!(vertices.len() >= 2, "a line needs two vertices");
    vertices
}

/// A polyline sampled uniformly along its length.
struct Line {
    vertices: Vec<(f64, f64)>,
    /// Cumulative length at each vertex, km (local equirectangular; the segments are short).
    cumulative: Vec<f64>,
}

impl Line {
    fn new(vertices: Vec<(f64, f64)>) -> Line {
        let mut cumulative = vec![0.0];
        for w in vertices.windows(2) {
            let (dx, dy) = offset_km(w[0], w[1]);
            cumulative.push(cumulative.last().unwrap() + dx.hypot(dy));
        }
        Line {
            vertices,
            cumulative,
        }
    }

    /// The point at `u` ∈ [0, 1) of the length, moved `across_km` to the left of the line.
    fn at(&self, u: f64, across_km: f64) -> (f64, f64) {
        let s = u * self.cumulative.last().unwrap();
        let i = self
            .cumulative
            .partition_point(|&c| c <= s)
            .clamp(1, self.vertices.len() - 1);
        let (a, b) = (self.vertices[i - 1], self.vertices[i]);
        let len = self.cumulative[i] - self.cumulative[i - 1];
        let t = if len > 0.0 {
            (s - self.cumulative[i - 1]) / len
        } else {
            0.0
        };
        let p = (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
        let (dx, dy) = offset_km(a, b);
        let norm = dx.hypot(dy).max(1e-12);
        move_km(p, -dy / norm * across_km, dx / norm * across_km)
    }
}

/// East and north offsets (km) from `a` to `b`, both (lat, lon), local equirectangular.
fn offset_km(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let lat = ((a.0 + b.0) / 2.0).to_radians();
    (
        (b.1 - a.1) * KM_PER_DEGREE * lat.cos(),
        (b.0 - a.0) * KM_PER_DEGREE,
    )
}

/// `p` moved `east` and `north` km (local equirectangular).
fn move_km(p: (f64, f64), east: f64, north: f64) -> (f64, f64) {
    let lat = p.0 + north / KM_PER_DEGREE;
    let lon = p.1 + east / (KM_PER_DEGREE * lat.to_radians().cos());
    (lat, lon)
}

/// xorshift64* seeded through splitmix64 (as in the load generator): reproducible, not secret.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_f491_4f6c_dd1d } else { z })
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Two-sided exponential of the given scale.
    fn laplace(&mut self, scale: f64) -> f64 {
        let e = -scale * (1.0 - self.unit()).ln();
        if self.next_u64() & 1 == 0 { e } else { -e }
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
    }
}

struct Site {
    at: (f64, f64),
    sigma_km: f64,
}

/// The N points, (lat, lon), a pure function of (line, n, seed).
fn generate(line: &Line, n: usize, seed: u64) -> Vec<(f64, f64)> {
    let mut rng = Rng::new(seed);
    let mut sites = Vec::with_capacity(SITES);
    let mut cumulative_weight = Vec::with_capacity(SITES);
    let mut total = 0.0;
    for _ in 0..SITES {
        let at = line.at(rng.unit(), rng.laplace(2.0));
        let sigma_km = (rng.range(50f64.ln(), 1_000f64.ln())).exp() / 1_000.0;
        let weight = (1.0 - rng.unit()).powf(-1.0 / 1.5).min(100.0);
        total += weight;
        sites.push(Site { at, sigma_km });
        cumulative_weight.push(total);
    }
    let (lat0, lat1, lon0, lon1) = AREA;
    (0..n)
        .map(|_| {
            let kind = rng.unit();
            let (lat, lon) = if kind < SHARE_BACKGROUND {
                (rng.range(lat0, lat1), rng.range(lon0, lon1))
            } else if kind < SHARE_BACKGROUND + SHARE_DIFFUSE {
                line.at(rng.unit(), rng.laplace(3.0))
            } else {
                let w = rng.unit() * total;
                let site = &sites[cumulative_weight
                    .partition_point(|&c| c <= w)
                    .min(SITES - 1)];
                move_km(
                    site.at,
                    site.sigma_km * rng.normal(),
                    site.sigma_km * rng.normal(),
                )
            };
            (lat.clamp(lat0, lat1), lon.clamp(lon0, lon1))
        })
        .collect()
}

fn write_points(args: &Args, points: &[(f64, f64)]) {
    let path = args.out.join("points.csv");
    let mut w = BufWriter::new(std::fs::File::create(&path).expect("create points.csv"));
    writeln!(w, "id,lon,lat").unwrap();
    for (i, (lat, lon)) in points.iter().enumerate() {
        // `{}` prints the shortest text that parses back to the same f64.
        writeln!(w, "{i},{lon},{lat}").unwrap();
    }
    w.flush().expect("write points.csv");
}

fn write_labels(args: &Args, roots: &[u32]) {
    let path = args.out.join("truce_labels.txt");
    let mut w = BufWriter::new(std::fs::File::create(&path).expect("create truce_labels.txt"));
    for r in roots {
        writeln!(w, "{r}").unwrap();
    }
    w.flush().expect("write truce_labels.txt");
}

/// Nanoseconds this thread has spent on a CPU (`/proc/thread-self/schedstat`; 0 where there is
/// none): on a shared machine, the wall time also counts the time others' jobs held the cores.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// A kB field of `/proc/self/status` (0 where there is none).
fn rss_kb(field: &str) -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Every pair `(i, j)`, `i < j`, at haversine distance ≤ `eps_m`, found on a latitude-longitude
/// grid and checked with the exact haversine; independent of `Components`' R-tree. A pair within
/// `eps` differs by at most `eps / R` in latitude and, below latitude `φ`, by at most
/// `2 asin(eps / (2 R cos φ))` in longitude (the chord between the two points is at least the
/// chord between their projections on the equatorial plane), so it lies in the same or adjacent
/// cells of that size. (Points within 1° of the antimeridian are refused: the grid does not wrap.)
fn neighbour_pairs(points: &[(f64, f64)], eps_m: f64) -> Vec<(u32, u32)> {
    let max_lat = points.iter().map(|p| p.0.abs()).fold(0.0, f64::max);
    assert!(
        points.iter().all(|p| p.1.abs() <= 179.0),
        "the grid does not wrap"
    );
    let angle = eps_m / EARTH_RADIUS_M;
    let dlat = angle.to_degrees() * (1.0 + 1e-9);
    let sin_half = angle / 2.0 / max_lat.to_radians().cos();
    let dlon = if sin_half < 0.5 {
        (2.0 * sin_half.asin()).to_degrees() * (1.0 + 1e-9)
    } else {
        360.0
    };
    let cell = |&(lat, lon): &(f64, f64)| {
        (
            ((lat + 90.0) / dlat).floor() as i64,
            ((lon + 180.0) / dlon).floor() as i64,
        )
    };
    let mut order: Vec<((i64, i64), u32)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| (cell(p), i as u32))
        .collect();
    order.sort_unstable();
    let mut pairs = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let (row, col) = cell(p);
        let a = Position { lat: p.0, lon: p.1 };
        for r in row - 1..=row + 1 {
            // Cells (r, col - 1) ..= (r, col + 1) are contiguous in `order`.
            let from = order.partition_point(|e| e.0 < (r, col - 1));
            for &(key, j) in &order[from..] {
                if key > (r, col + 1) {
                    break;
                }
                if j as usize <= i {
                    continue;
                }
                let (lat, lon) = points[j as usize];
                if haversine_m(a, Position { lat, lon }) <= eps_m {
                    pairs.push((i as u32, j));
                }
            }
        }
    }
    pairs
}

/// Components of the graph on `0..n` with these edges, each labelled by its lowest member.
fn components_of(n: usize, pairs: &[(u32, u32)]) -> Vec<u32> {
    let mut parent: Vec<u32> = (0..n as u32).collect();
    fn find(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            parent[x as usize] = parent[parent[x as usize] as usize];
            x = parent[x as usize];
        }
        x
    }
    for &(a, b) in pairs {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            let (low, high) = (ra.min(rb), ra.max(rb));
            parent[high as usize] = low;
        }
    }
    (0..n as u32).map(|i| find(&mut parent, i)).collect()
}

/// The cluster-size histogram as text, and its summary as JSON.
fn size_distribution(roots: &[u32]) -> (String, Value) {
    let n = roots.len();
    let mut size = vec![0u32; n];
    for &r in roots {
        size[r as usize] += 1;
    }
    let mut sizes: Vec<u32> = size.into_iter().filter(|&s| s > 0).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let bounds: [(u32, u32); 14] = [
        (1, 1),
        (2, 2),
        (3, 5),
        (6, 10),
        (11, 20),
        (21, 50),
        (51, 100),
        (101, 200),
        (201, 500),
        (501, 1_000),
        (1_001, 2_000),
        (2_001, 5_000),
        (5_001, 10_000),
        (10_001, u32::MAX),
    ];
    let mut text = String::new();
    let largest = sizes[0];
    let _ = writeln!(
        text,
        "{} clusters; largest {} points = {:.3} % of all; top 5: {:?}",
        sizes.len(),
        largest,
        100.0 * f64::from(largest) / n as f64,
        &sizes[..sizes.len().min(5)]
    );
    let _ = writeln!(text, "  cluster size   clusters     points  % of points");
    let mut buckets = Vec::new();
    for (lo, hi) in bounds {
        let inside: Vec<u32> = sizes
            .iter()
            .copied()
            .filter(|&s| s >= lo && s <= hi)
            .collect();
        if inside.is_empty() {
            continue;
        }
        let points: u64 = inside.iter().map(|&s| u64::from(s)).sum();
        let label = match (lo, hi) {
            (lo, hi) if lo == hi => format!("{lo}"),
            (lo, u32::MAX) => format!("> {}", lo - 1),
            (lo, hi) => format!("{lo}-{hi}"),
        };
        let _ = writeln!(
            text,
            "  {label:>12} {:>10} {points:>10} {:>11.2}",
            inside.len(),
            100.0 * points as f64 / n as f64
        );
        buckets.push(json!({"sizes": label, "clusters": inside.len(), "points": points}));
    }
    let summary = json!({
        "count": sizes.len(),
        "largest": largest,
        "largest_share": f64::from(largest) / n as f64,
        "top": &sizes[..sizes.len().min(10)],
        "histogram": buckets,
    });
    (text, summary)
}
