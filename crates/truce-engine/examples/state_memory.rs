//! Resident memory of the derived state per observation (issue 9, item 7): builds a state with
//! one agreement in force and N signed observations, admitted and applied exactly as the server
//! does, and prints the process's resident set size as it grows.
//!
//! ```text
//! cargo run --release -p truce-engine --example state_memory -- [N] [STEP]
//! ```
//!
//! At the end it times the encoding of a snapshot of the state (`truce_engine::Snapshot`) and
//! the state digest (`State::digest`).
//!
//! Observations come from 40 keys of 4 affiliations, spread over 20,000 sites in the Donbas
//! with radii of 100 m to 3 km and windows of 1 to 30 minutes over two years, so that incidents
//! are of realistic sizes. Signing dominates the run time (both cores sign; admission verifies
//! each signature again, as the server's replay does).

use std::collections::BTreeMap;
use std::time::Instant;

use truce_engine::State;
use truce_model::agreement::MapResolver;
use truce_model::dsse::Envelope;
use truce_model::keys::PrivateKey;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const T0: i64 = 1_800_000_000_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

/// Logs `payload` as `kind` signed by `key` at the next log time.
fn log(state: &mut State, key: &PrivateKey, kind: &str, payload: serde_json::Value) {
    let env = Envelope::sign(kind, payload.to_string().as_bytes(), &[key]);
    apply(state, &env);
}

fn apply(state: &mut State, env: &Envelope) {
    let index = state.size();
    let time = T0 + index as i64;
    let admitted = state
        .admit(env, time, &MapResolver(BTreeMap::new()))
        .unwrap_or_else(|r| panic!("entry {index} refused: {r}"));
    state.apply(admitted, index, time);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let step: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let operator = PrivateKey::from_seed("operator", [1; 32]).unwrap();
    let ua = PrivateKey::from_seed("ukraine", [2; 32]).unwrap();
    let ru = PrivateKey::from_seed("russia", [3; 32]).unwrap();
    let mut state = State::new(operator.verifier());
    let doc = format!(
        r#"id = "mem"
title = "Memory"
parties = [
  {{ id = "UA", name = "Ukraine", role = "belligerent", key = "{}" }},
  {{ id = "RU", name = "Russian Federation", role = "belligerent", key = "{}" }},
]
entry_into_force = {{ at = "2020-01-01T00:00:00Z", consent = ["UA", "RU"] }}
"#,
        ua.verifier(),
        ru.verifier()
    );
    for (k, aff) in [(&ua, "UA"), (&ru, "RU")] {
        log(
            &mut state,
            &operator,
            "key",
            serde_json::json!({"id": format!("k-{aff}"), "vkey": k.verifier().to_string(),
                "roles": ["party"], "affiliation": aff}),
        );
    }
    log(
        &mut state,
        &operator,
        "agreement",
        serde_json::json!({"id": "a-1", "agreement": "mem", "version": 1, "document": doc}),
    );
    let sha = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(doc.as_bytes()))
    };
    for (k, aff) in [(&ua, "ua"), (&ru, "ru")] {
        log(
            &mut state,
            k,
            "consent",
            serde_json::json!({"id": format!("c-{aff}"), "agreement": "mem", "version": 1,
                "sha256": sha}),
        );
    }
    let monitors: Vec<PrivateKey> = (0..40u8)
        .map(|i| PrivateKey::from_seed(&format!("monitor-{i}"), [10 + i; 32]).unwrap())
        .collect();
    for (i, m) in monitors.iter().enumerate() {
        log(
            &mut state,
            &operator,
            "key",
            serde_json::json!({"id": format!("k-m{i}"), "vkey": m.verifier().to_string(),
                "roles": ["monitor"], "affiliation": format!("org-{}", i % 4)}),
        );
    }
    let mut site_rng = Rng(0x9e37_79b9_7f4a_7c15);
    let sites: Vec<(f64, f64)> = (0..20_000)
        .map(|_| (47.5 + site_rng.unit() * 1.5, 37.5 + site_rng.unit() * 2.0))
        .collect();
    let base = rss_mb();
    println!("n,rss_mb,bytes_per_observation,incidents,seconds");
    let start = Instant::now();
    let mut done = 0u64;
    while done < n {
        let chunk = step.min(n - done);
        let envs = sign_chunk(done, chunk, &monitors, &sites);
        for env in &envs {
            apply(&mut state, env);
        }
        drop(envs);
        done += chunk;
        let rss = rss_mb();
        println!(
            "{done},{rss:.1},{:.0},{},{:.1}",
            (rss - base) * 1_048_576.0 / done as f64,
            state.incident_count(),
            start.elapsed().as_secs_f64()
        );
    }
    // What a snapshot of this state costs: the server's sequencer pauses for the capture only;
    // the encoding runs after it has released the state.
    let t = Instant::now();
    let captured = truce_engine::Snapshot::capture(&state, [0; 32]);
    let capture_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let bytes = captured.encode();
    let encode_ms = t.elapsed().as_millis();
    let t = Instant::now();
    let digest = state.digest();
    println!(
        "digest {} of {} entries in {} ms",
        digest.digest,
        digest.size,
        t.elapsed().as_millis()
    );
    println!(
        "snapshot: {} bytes ({:.0} per observation), captured in {capture_ms:.1} ms, encoded in {encode_ms} ms",
        bytes.len(),
        bytes.len() as f64 / n as f64,
    );
}

/// Observations `from..from+count`, signed on every core.
fn sign_chunk(from: u64, count: u64, keys: &[PrivateKey], sites: &[(f64, f64)]) -> Vec<Envelope> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let per = count.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let lo = from + t * per;
                    let hi = (lo + per).min(from + count);
                    (lo..hi)
                        .map(|i| observation(i, keys, sites))
                        .collect::<Vec<Envelope>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    })
}

fn observation(i: u64, keys: &[PrivateKey], sites: &[(f64, f64)]) -> Envelope {
    let mut rng = Rng(i.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
    let (lat, lon) = sites[(rng.next() % sites.len() as u64) as usize];
    let lat = lat + (rng.unit() - 0.5) * 0.02;
    let lon = lon + (rng.unit() - 0.5) * 0.03;
    let to = T0 - 60_000 - (rng.next() % (2 * 365 * 86_400_000)) as i64;
    let from = to - (1 + rng.next() % 30) as i64 * 60_000;
    let radius = 100 + rng.next() % 2_900;
    let kind = ["explosion", "shot", "impact", "weapon-sighting"][(rng.next() % 4) as usize];
    let payload = serde_json::json!({
        "id": format!("o-{i}"), "agreement": "mem",
        "observed": {"from": rfc3339(from), "to": rfc3339(to)},
        "observer": {"mode": "heard"},
        "event": {"type": kind, "count": 1 + rng.next() % 20,
                  "location": {"lat": lat, "lon": lon, "radius_m": radius}},
    });
    let key = &keys[(i % keys.len() as u64) as usize];
    Envelope::sign("observation", payload.to_string().as_bytes(), &[key])
}
