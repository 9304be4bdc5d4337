#![forbid(unsafe_code)]
//! Ingest load generator: signs N entries up front, then posts them over HTTP with C concurrent
//! clients and reports sustained entries/s and the latency from submission to integration
//! (the POST answers only once the entry is durably logged and covered by a checkpoint).
//!
//! In the same run it measures this machine's single-core `verify_strict` rate, so the ingest
//! figure can be read as a ratio (DESIGN §11 asks for ≥ 50 % of one core's rate).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use truce_model::dsse::Envelope;
use truce_model::keys::PrivateKey;

#[derive(Parser)]
#[command(about = "Post N signed entries to a truce server and measure throughput and latency")]
struct Args {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The operator's private key file (DIR/keys/operator.key).
    #[arg(long)]
    key: std::path::PathBuf,
    /// Number of entries.
    #[arg(short, long, default_value_t = 10_000)]
    n: usize,
    /// Concurrent clients.
    #[arg(short, long, default_value_t = 64)]
    concurrency: usize,
    /// A prefix making this run's entry ids unique.
    #[arg(long, default_value = "bench")]
    run: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Single-core strict verifications per second, measured for about a second.
fn verify_rate() -> f64 {
    let k = PrivateKey::from_seed("bench", [7; 32]).expect("key");
    let v = k.verifier();
    let msg = b"truce verify_strict benchmark message of typical envelope size ..........";
    let sig = k.sign(msg);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            v.verify(msg, &sig).expect("verifies");
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let op = PrivateKey::parse(&std::fs::read_to_string(&args.key).context("reading the key")?)?;
    eprintln!("signing {} entries ...", args.n);
    let bodies: Vec<Vec<u8>> = (0..args.n)
        .map(|i| {
            let k = PrivateKey::from_seed(&format!("lg-{i}"), {
                let mut s = [0u8; 32];
                s[..8].copy_from_slice(&(i as u64).to_le_bytes());
                s
            })
            .expect("key");
            let payload = serde_json::json!({"id": format!("{}-{i}", args.run),
                "vkey": k.verifier().to_string(), "roles": ["monitor"], "affiliation": "bench"});
            Envelope::sign("key", payload.to_string().as_bytes(), &[&op]).canonical_json()
        })
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    eprintln!("posting with {} clients ...", args.concurrency);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (bodies, next, client) = (bodies.clone(), next.clone(), client.clone());
        let url = format!("{}/v1/entries", args.url);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let t = Instant::now();
                match client.post(&url).body(body.clone()).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed());
                    }
                    Ok(r) => {
                        errors += 1;
                        if errors < 3 {
                            eprintln!(
                                "HTTP {}: {}",
                                r.status(),
                                r.text().await.unwrap_or_default()
                            );
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        if errors < 3 {
                            eprintln!("{e}");
                        }
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::with_capacity(args.n);
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed();
    lat.sort_unstable();
    let rate = lat.len() as f64 / elapsed.as_secs_f64();
    eprintln!("measuring single-core verify_strict ...");
    let verify = verify_rate();
    let (p50, p99, max) = (
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({"entries": lat.len(), "errors": errors, "seconds": elapsed.as_secs_f64(),
                "entries_per_s": rate, "p50_ms": p50.as_secs_f64() * 1e3, "p99_ms": p99.as_secs_f64() * 1e3,
                "max_ms": max.as_secs_f64() * 1e3, "verify_strict_per_s_one_core": verify,
                "ratio_to_verify": rate / verify, "concurrency": args.concurrency})
        );
    } else {
        println!(
            "{} entries in {:.2} s: {:.0} entries/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} errors",
            lat.len(),
            elapsed.as_secs_f64(),
            rate,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            errors
        );
        println!(
            "verify_strict on one core: {verify:.0}/s; ingest is {:.0} % of it",
            100.0 * rate / verify
        );
    }
    if errors > 0 {
        bail!("{errors} submissions failed");
    }
    Ok(())
}
