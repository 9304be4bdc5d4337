#![forbid(unsafe_code)]
//! Ingest load generator: signs N entries up front, then posts them over HTTP with C concurrent
//! clients and reports sustained entries/s and the latency from submission to integration
//! (the POST answers only once the entry is durably logged and covered by a checkpoint).
//!
//! Two kinds of entries:
//! - `key` (default): operator-signed accreditations of fresh keys (the operator key is exempt
//!   from the per-key rate limit);
//! - `observation`: signed observations (DESIGN §5) from `--keys` accredited monitor keys, round
//!   robin, under the Donbas example agreement, which the load generator first brings into
//!   force over HTTP (see `setup.rs`; the server's per-key rate limit must be raised, as
//!   `bench/ingest.sh` does).
//!
//! In the same run it measures this machine's single-core `verify_strict` rate, so the ingest
//! figure can be read as a ratio (DESIGN §11 asks for ≥ 50 % of one core's rate).

mod observations;
mod queries;
mod setup;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt as _, Full};
use truce_model::dsse::{Envelope, check_id};
use truce_model::keys::PrivateKey;

use crate::observations::Generator;
use crate::setup::Http;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// Operator-signed `key` entries (accreditations of fresh keys).
    Key,
    /// Monitor-signed `observation` entries under the Donbas example agreement.
    Observation,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Key => "key",
            Kind::Observation => "observation",
        }
    }
}

#[derive(Parser)]
#[command(about = "Post N signed entries to a truce server and measure throughput and latency")]
struct Args {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The operator's private key file (DIR/keys/operator.key).
    #[arg(long)]
    key: PathBuf,
    /// What to post.
    #[arg(long, value_enum, default_value_t = Kind::Key)]
    kind: Kind,
    /// Number of entries.
    #[arg(short, long, default_value_t = 10_000)]
    n: usize,
    /// Concurrent clients.
    #[arg(short, long, default_value_t = 64)]
    concurrency: usize,
    /// A prefix making this run's entry ids unique (default: `bench` for `key` entries, whose
    /// content is the same every run; `bench-<unix time>` for observations, whose windows are
    /// relative to now, so that another run against the same server logs new entries).
    #[arg(long)]
    run: Option<String>,
    /// Observation mode: number of monitor keys signing, round robin.
    #[arg(long, default_value_t = 8)]
    keys: usize,
    /// Observation mode: the Donbas example directory (agreement, geometry, party keys).
    #[arg(long, default_value = "examples/donbas")]
    examples: PathBuf,
    /// Observation mode: observations per day of observed time; the windows spread over
    /// N / this many days before now (at least one), so that density stays realistic.
    #[arg(long, default_value_t = 5_000)]
    per_day: usize,
    /// Observation mode: `random` spreads the windows over the span in no order; `in-time` makes
    /// them advance through it as the run goes (one in fifty late by up to a week), as a
    /// mission's reports arrive, which is what a server's memory over time depends on.
    #[arg(long, value_enum, default_value_t = Arrival::Random)]
    arrival: Arrival,
    /// Observation mode: seed of the generated observations.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// HTTP client: `hyper` (one HTTP/1.1 connection per client, the least CPU per request, so
    /// that the server gets most of the shared cores) or `reqwest` (a pooled client, as most
    /// Rust clients would use).
    #[arg(long, value_enum, default_value_t = ClientKind::Hyper)]
    client: ClientKind,
    /// Observation mode: after the ingest, time each `GET /v1/observations` query this many
    /// times (0: no query phase).
    #[arg(long, default_value_t = 20)]
    query_rounds: usize,
    /// The server's process id: report its CPU time during the timed phase (Linux /proc).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// The run prefix (set in `main`).
    fn run(&self) -> &str {
        self.run.as_deref().unwrap_or("bench")
    }
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

/// CPU time (user + system) of a process so far, in seconds, from `/proc/<pid>/stat`
/// (clock ticks at the usual 100 Hz); `None` where that is not available.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    Some((utime + stime) / 100.0)
}

/// `f(i)` for every `i < n`, on every core, in order.
fn in_parallel<F>(n: usize, f: F) -> Result<Vec<Vec<u8>>>
where
    F: Fn(usize) -> Result<Vec<u8>> + Sync,
{
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .min(n.max(1));
    let chunk = n.div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<Vec<u8>>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|lo| {
                let f = &f;
                s.spawn(move || (lo..(lo + chunk).min(n)).map(f).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("signing thread panicked"))
            .collect()
    });
    let mut out = Vec::with_capacity(n);
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// What the timed phase saw.
struct Outcome {
    latencies: Vec<Duration>,
    /// Refusals by HTTP status.
    refused: BTreeMap<u16, usize>,
    /// Requests that got no answer.
    transport_errors: usize,
    elapsed: Duration,
}

impl Outcome {
    fn errors(&self) -> usize {
        self.refused.values().sum::<usize>() + self.transport_errors
    }
}

async fn post_all(
    url: &str,
    bodies: &'static [Vec<u8>],
    concurrency: usize,
    client_kind: ClientKind,
) -> Result<Outcome> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let authority = url
        .strip_prefix("http://")
        .context("--url must be http://HOST:PORT")?
        .trim_end_matches('/')
        .to_string();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = format!("{url}/v1/entries");
        let authority = authority.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut conn: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>> = None;
            loop {
                let i = NEXT.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let t = Instant::now();
                match client_kind {
                    ClientKind::Reqwest => {
                        let sent = client
                            .post(&url)
                            .header("content-type", "application/json")
                            // A 'static slice: no copy of the body per request.
                            .body(body.as_slice())
                            .send()
                            .await;
                        match sent {
                            Ok(r) if r.status().is_success() => {
                                let _ = r.bytes().await;
                                tally.lat.push(t.elapsed());
                            }
                            Ok(r) => {
                                let status = r.status().as_u16();
                                tally.refuse(status, r.text().await.unwrap_or_default());
                            }
                            Err(e) => tally.transport(e.to_string()),
                        }
                    }
                    ClientKind::Hyper => match post_hyper(&mut conn, &authority, body).await {
                        Ok((200, _)) => tally.lat.push(t.elapsed()),
                        Ok((status, text)) => tally.refuse(status, text),
                        Err(e) => {
                            conn = None;
                            tally.transport(e.to_string());
                        }
                    },
                }
            }
            (tally.lat, tally.refused, tally.transport)
        }));
    }
    let mut out = Outcome {
        latencies: Vec::with_capacity(bodies.len()),
        refused: BTreeMap::new(),
        transport_errors: 0,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (l, r, e) = t.await?;
        out.latencies.extend(l);
        for (status, n) in r {
            *out.refused.entry(status).or_default() += n;
        }
        out.transport_errors += e;
    }
    out.elapsed = start.elapsed();
    out.latencies.sort_unstable();
    Ok(out)
}

/// `key` entries: operator-signed accreditations of `n` fresh keys.
fn key_bodies(args: &Args, op: &PrivateKey) -> Result<Vec<Vec<u8>>> {
    in_parallel(args.n, |i| {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let k = PrivateKey::from_seed(&format!("lg-{i}"), seed)?;
        let payload = serde_json::json!({"id": format!("{}-{i}", args.run()),
            "vkey": k.verifier().to_string(), "roles": ["monitor"], "affiliation": "bench"});
        Ok(Envelope::sign("key", payload.to_string().as_bytes(), &[op]).canonical_json())
    })
}

/// `observation` entries: the Donbas agreement brought into force, monitors accredited, one
/// sample posted (its problem, if any, aborts the run), then `n` observations signed.
async fn observation_bodies(args: &Args, op: &PrivateKey) -> Result<Vec<Vec<u8>>> {
    if args.keys == 0 {
        bail!("--keys must be at least 1");
    }
    let http = Http {
        client: reqwest::Client::new(),
        url: args.url.clone(),
    };
    eprintln!(
        "setting up: the Donbas agreement in force, {} monitor keys accredited ...",
        args.keys
    );
    let monitors = setup::monitor_keys(args.keys)?;
    let evidence = setup::donbas_in_force(&http, op, &args.examples, &monitors).await?;
    let line = std::fs::read_to_string(args.examples.join("contact_line.geojson"))
        .map(|t| observations::line_of_contact(&t))
        .unwrap_or_default();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let days = args.n.div_ceil(args.per_day.max(1)).max(1);
    let generator = Generator {
        run: args.run().to_string(),
        agreement: setup::AGREEMENT.to_string(),
        seed: args.seed,
        now_s: now.as_secs() as i64,
        span_s: days as i64 * 86_400,
        order: match args.arrival {
            Arrival::Random => observations::Order::Random,
            Arrival::InTime => observations::Order::InTime { n: args.n as u64 },
        },
        line,
        evidence,
    };
    let now_ms = now.as_millis() as i64;

    // One sample through the whole server path first, so a schema or setup mistake is obvious.
    let sample = generator.payload_with_id(args.n as u64, format!("{}-obs-sample", args.run()));
    Generator::check(&sample, now_ms).context("the sample observation")?;
    let env = Envelope::sign(
        "observation",
        sample.to_string().as_bytes(),
        &[&monitors[0]],
    );
    let (status, body) = http.post(env.canonical_json()).await?;
    if status == 409 {
        bail!(
            "the sample observation's id is already logged with other content (HTTP 409): pass another --run"
        );
    }
    if status != 200 {
        bail!("the sample observation was refused: HTTP {status}: {body}\n  payload: {sample}");
    }

    eprintln!(
        "signing {} observations with {} keys (windows over the last {days} days, {:?}) ...",
        args.n, args.keys, args.arrival
    );
    in_parallel(args.n, |i| {
        let payload = generator.payload(i as u64);
        Generator::check(&payload, now_ms).with_context(|| format!("observation {i}"))?;
        let key = &monitors[i % monitors.len()];
        Ok(Envelope::sign("observation", payload.to_string().as_bytes(), &[key]).canonical_json())
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = Args::parse();
    let run = args.run.take().unwrap_or_else(|| match args.kind {
        Kind::Key => "bench".to_string(),
        Kind::Observation => format!(
            "bench-{}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default()
        ),
    });
    args.run = Some(run);
    check_id(&format!("{}-obs-0", args.run()))
        .map_err(|m| anyhow::anyhow!("--run {:?} does not make valid ids: {m}", args.run()))?;
    let op = PrivateKey::parse(&std::fs::read_to_string(&args.key).context("reading the key")?)?;
    let sign_start = Instant::now();
    let bodies = match args.kind {
        Kind::Key => {
            eprintln!("signing {} entries ...", args.n);
            key_bodies(&args, &op)?
        }
        Kind::Observation => observation_bodies(&args, &op).await?,
    };
    let signing = sign_start.elapsed();
    let body_bytes: usize = bodies.iter().map(Vec::len).sum();
    let avg_body = body_bytes as f64 / bodies.len().max(1) as f64;
    // Leaked on purpose: the bodies live until the process ends, and 'static slices are posted
    // without a copy per request.
    let bodies: &'static [Vec<u8>] = Vec::leak(bodies);

    eprintln!(
        "posting {} {} entries (average {avg_body:.0} bytes) with {} clients ...",
        bodies.len(),
        args.kind.as_str(),
        args.concurrency
    );
    let server_pid = args.server_pid.map(|p| p.to_string());
    let server_cpu0 = server_pid.as_deref().and_then(cpu_seconds);
    let own_cpu0 = cpu_seconds("self");
    let out = post_all(&args.url, bodies, args.concurrency, args.client).await?;
    let own_cpu = cpu_seconds("self").zip(own_cpu0).map(|(b, a)| b - a);
    let server_cpu = server_pid
        .as_deref()
        .and_then(cpu_seconds)
        .zip(server_cpu0)
        .map(|(b, a)| b - a);

    let lat = &out.latencies;
    let rate = lat.len() as f64 / out.elapsed.as_secs_f64();
    eprintln!("measuring single-core verify_strict ...");
    let verify = verify_rate();
    let timings = if args.kind == Kind::Observation && args.query_rounds > 0 {
        eprintln!("timing queries ...");
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
        let hour = (
            observations::rfc3339(now - 3 * 3600),
            observations::rfc3339(now - 2 * 3600),
        );
        queries::run(&reqwest::Client::new(), &args.url, hour, args.query_rounds).await?
    } else {
        Vec::new()
    };
    let (p50, p99, max) = (
        percentile(lat, 0.5),
        percentile(lat, 0.99),
        percentile(lat, 1.0),
    );
    let errors = out.errors();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let secs = out.elapsed.as_secs_f64();
    if args.json {
        let refused: serde_json::Map<String, serde_json::Value> = out
            .refused
            .iter()
            .map(|(s, n)| (s.to_string(), serde_json::json!(n)))
            .collect();
        println!(
            "{}",
            serde_json::json!({"kind": args.kind.as_str(), "run": args.run(), "n": args.n,
                "keys": if args.kind == Kind::Observation { args.keys } else { 1 },
                "concurrency": args.concurrency, "client": format!("{:?}", args.client).to_lowercase(),
                "entries": lat.len(), "errors": errors,
                "refused_by_status": refused, "transport_errors": out.transport_errors,
                "seconds": secs, "entries_per_s": rate, "p50_ms": ms(p50), "p99_ms": ms(p99),
                "max_ms": ms(max), "verify_strict_per_s_one_core": verify,
                "ratio_to_verify": rate / verify, "body_bytes_avg": avg_body,
                "signing_seconds": signing.as_secs_f64(),
                "loadgen_cpu_s": own_cpu, "server_cpu_s": server_cpu,
                "queries": timings.iter().map(|t| serde_json::json!({"name": t.name,
                    "query": t.query, "items": t.items, "p50_ms": ms(t.p50),
                    "max_ms": ms(t.max)})).collect::<Vec<_>>()})
        );
    } else {
        let signers = match args.kind {
            Kind::Key => "the operator key".to_string(),
            Kind::Observation => format!("{} monitor keys", args.keys),
        };
        println!(
            "kind {}, run {}, N={}, signed by {signers}, concurrency {} ({:?} client), average \
             body {avg_body:.0} bytes (signed in {:.1} s, not timed)",
            args.kind.as_str(),
            args.run(),
            args.n,
            args.concurrency,
            args.client,
            signing.as_secs_f64()
        );
        println!(
            "{} entries in {secs:.2} s: {rate:.0} entries/s; latency p50 {:.1} ms, p99 {:.1} ms, \
             max {:.1} ms; {errors} errors",
            lat.len(),
            ms(p50),
            ms(p99),
            ms(max),
        );
        if errors > 0 {
            println!(
                "errors: refused by status {:?}, {} without an answer",
                out.refused, out.transport_errors
            );
        }
        println!(
            "verify_strict on one core: {verify:.0}/s; ingest is {:.0} % of it",
            100.0 * rate / verify
        );
        let cpu = |c: Option<f64>| match c {
            Some(c) => format!("{c:.1} s ({:.0} % of one core)", 100.0 * c / secs),
            None => "n/a".to_string(),
        };
        println!(
            "CPU during the timed phase: load generator {}, server {}",
            cpu(own_cpu),
            cpu(server_cpu)
        );
        for t in &timings {
            println!(
                "query {:<24} {:>5} items  p50 {:>6.1} ms  max {:>6.1} ms  ({})",
                t.name,
                t.items,
                ms(t.p50),
                ms(t.max),
                t.query
            );
        }
    }
    if errors > 0 {
        bail!("{errors} submissions failed");
    }
    Ok(())
}

/// The order of observed time in which observations are made (`--arrival`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Arrival {
    Random,
    InTime,
}

/// Which HTTP client posts the entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ClientKind {
    Hyper,
    Reqwest,
}

/// One client task's results.
#[derive(Default)]
struct Tally {
    lat: Vec<Duration>,
    refused: BTreeMap<u16, usize>,
    transport: usize,
}

impl Tally {
    fn refuse(&mut self, status: u16, body: String) {
        let n = self.refused.entry(status).or_default();
        *n += 1;
        if *n < 3 {
            eprintln!("HTTP {status}: {body}");
        }
    }

    fn transport(&mut self, e: String) {
        self.transport += 1;
        if self.transport < 3 {
            eprintln!("{e}");
        }
    }
}

/// Posts `body` on this task's own HTTP/1.1 connection (opened on first use or after an error);
/// returns the status and, for a refusal, the body.
async fn post_hyper(
    conn: &mut Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    authority: &str,
    body: &'static [u8],
) -> Result<(u16, String)> {
    if conn.is_none() {
        let stream = tokio::net::TcpStream::connect(authority).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        *conn = Some(sender);
    }
    let sender = conn.as_mut().expect("connected above");
    sender.ready().await?;
    let request = hyper::Request::post("/v1/entries")
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(body)))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((
        status,
        if status == 200 {
            String::new()
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        },
    ))
}
