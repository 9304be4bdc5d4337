//! Crash safety (DESIGN §7 "Durability"): SIGKILL the server at random moments while clients
//! submit concurrently, restart it, and check that every acknowledged entry is still there with
//! the same index and leaf hash, and that the log goes on densely.
//!
//! The kill moments come from a seeded generator; the seed is printed, and `TRUCE_CRASH_SEED`
//! replays a run. `TRUCE_CRASH_CYCLES` sets the number of kill/restart cycles (default 20).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use truce_model::keys::PrivateKey;

use crate::util::{Server, init};

#[derive(Debug, Clone)]
struct Acked {
    id: String,
    index: u64,
    leaf_hash: String,
}

/// xorshift64*: enough randomness for kill timing, reproducible from a seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

async fn verify(server: &Server, acked: &[Acked]) {
    for a in acked {
        let (code, body) = server.get(&format!("/v1/entries/{}", a.id)).await;
        assert_eq!(
            code, 200,
            "acknowledged entry {} (index {}) is lost: {body}",
            a.id, a.index
        );
        assert_eq!(body["index"], a.index, "entry {} moved", a.id);
        assert_eq!(
            body["leaf_hash"],
            a.leaf_hash.as_str(),
            "entry {} changed",
            a.id
        );
    }
}

/// Four clients submitting `key` entries with ids from `first_id` on until the server goes away,
/// recording every acknowledgement in `acked` and notifying `first_ack` on each. A refusal
/// other than 503 (shutting down) fails the test.
fn spawn_clients(
    server: &Server,
    first_id: u64,
    acked: &Arc<Mutex<Vec<Acked>>>,
    first_ack: &Arc<tokio::sync::Notify>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let op = server.operator();
    let mut clients = Vec::new();
    for c in 0..4 {
        let (http, url) = (server.http.clone(), server.url.clone());
        let op = op.clone();
        let acked = acked.clone();
        let first_ack = first_ack.clone();
        let first = first_id + c * 1_000_000;
        clients.push(tokio::spawn(async move {
            for n in first.. {
                let id = format!("crash-{n}");
                let key = PrivateKey::from_seed(&format!("m{n}"), [(n % 251) as u8; 32]).unwrap();
                let payload = json!({"id": id, "vkey": key.verifier().to_string(),
                    "roles": ["monitor"], "affiliation": "OSCE"});
                let env = truce_model::dsse::Envelope::sign(
                    "key",
                    payload.to_string().as_bytes(),
                    &[&op],
                );
                let resp = http
                    .post(format!("{url}/v1/entries"))
                    .body(env.canonical_json())
                    .send()
                    .await;
                let Ok(resp) = resp else { return };
                let status = resp.status().as_u16();
                let Ok(body) = resp.json::<serde_json::Value>().await else {
                    return;
                };
                if status == 503 {
                    return;
                }
                assert_eq!(status, 200, "{body}");
                acked.lock().unwrap().push(Acked {
                    id,
                    index: body["index"].as_u64().unwrap(),
                    leaf_hash: body["leaf_hash"].as_str().unwrap().to_string(),
                });
                first_ack.notify_one();
            }
        }));
    }
    clients
}

/// SIGTERM under load: the server drains and exits 0, and everything it acknowledged, up to the
/// last answer it gave, is in the log after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_under_load_loses_no_acknowledged_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let server = Server::start(&data);
    let first_ack = Arc::new(tokio::sync::Notify::new());
    let clients = spawn_clients(&server, 0, &acked, &first_ack);
    // Wait until entries are flowing, then ask the server to stop while requests are in flight.
    for _ in 0..20 {
        first_ack.notified().await;
    }
    server.stop();
    for c in clients {
        c.await.unwrap();
    }
    let all = acked.lock().unwrap().clone();
    assert!(all.len() >= 20, "{} acknowledged", all.len());
    let server = Server::start(&data);
    verify(&server, &all).await;
    let (_, health) = server.get("/healthz").await;
    let max = all.iter().map(|a| a.index).max().unwrap();
    assert!(health["size"].as_u64().unwrap() > max);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_no_acknowledged_entry() {
    let cycles = env_u64("TRUCE_CRASH_CYCLES").unwrap_or(20);
    let seed = env_u64("TRUCE_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1
    });
    eprintln!("crash test: {cycles} cycles, TRUCE_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let mut next_id = 0u64;
    // `truce log verify` keeps the last checkpoint it saw here and checks every later one
    // against it: checkpoints before and after each crash must be consistent.
    let audit_state = tmp.path().join("audit-state.json");
    let audit = |url: &str, vkey: &str, when: &str| {
        let out = crate::util::truce()
            .args(["log", "verify", url, "--vkey", vkey, "--state"])
            .arg(&audit_state)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "log verify {when}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };

    for cycle in 0..cycles {
        let server = Server::start(&data);
        let (_, vkeys) = server.get("/v1/log/vkeys").await;
        let log_vkey = vkeys["log"].as_str().unwrap().to_string();
        audit(&server.url, &log_vkey, "after restart");
        // What was acknowledged before the last kill must have survived it.
        let before = acked.lock().unwrap().clone();
        verify(&server, &before).await;
        let (_, health) = server.get("/healthz").await;
        let size = health["size"].as_u64().unwrap();
        assert!(size >= before.len() as u64, "log shrank to {size}");

        let first_ack = Arc::new(tokio::sync::Notify::new());
        let clients = spawn_clients(&server, next_id, &acked, &first_ack);
        next_id += 4 * 1_000_000;
        // Under load (at least one acknowledgement in this cycle), the kill lands at a random
        // moment: fault injection, not synchronisation.
        first_ack.notified().await;
        audit(&server.url, &log_vkey, "under load, before the kill");
        tokio::time::sleep(Duration::from_millis(rng.next() % 100)).await;
        server.kill9();
        for c in clients {
            c.await.unwrap();
        }
        eprintln!(
            "cycle {cycle}: {} acknowledged so far",
            acked.lock().unwrap().len()
        );
    }

    let server = Server::start(&data);
    let all = acked.lock().unwrap().clone();
    assert!(
        all.len() > 20,
        "too few entries were acknowledged to test anything: {}",
        all.len()
    );
    verify(&server, &all).await;
    // Indexes are dense and unique: the acknowledged ones are distinct positions below the size.
    let mut indexes: Vec<u64> = all.iter().map(|a| a.index).collect();
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(
        indexes.len(),
        all.len(),
        "two acknowledgements share an index"
    );
    let (_, health) = server.get("/healthz").await;
    assert!(health["size"].as_u64().unwrap() > *indexes.last().unwrap());
}
