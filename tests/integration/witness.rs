//! Witnessing end to end, with real processes: `truce witness` cosigns what `truce serve`
//! publishes, and refuses a forked log that shares the log's key and origin (a split view).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use truce_log::checkpoint::{Checkpoint, open_checkpoint_note};
use truce_log::cosignature::{CosignatureVerifier, verify_cosignatures};
use truce_log::merkle::{self, Frontier, Hash};
use truce_log::note::Note;
use truce_log::tile::bundle_leaf_hashes;
use truce_model::keys::{PrivateKey, VerifierKey};

use crate::util::{Server, init, truce};

const ORIGIN: &str = "truce.test/log";

/// A running `truce witness`, killed when dropped.
struct WitnessProcess {
    child: Child,
    url: String,
    vkey: CosignatureVerifier,
    data: PathBuf,
    http: reqwest::Client,
}

impl WitnessProcess {
    /// `truce witness` on port 0, trusting `log`; returns once it printed its address and key.
    fn start(data: &Path, name: &str, log: &VerifierKey) -> WitnessProcess {
        let mut child = truce()
            .args(["witness", "--data", data.to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--name", name])
            .args(["--log", &log.to_string()])
            .stdout(Stdio::piped())
            .stderr(
                std::fs::File::create(data.with_extension("stderr.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let (mut first, mut second) = (String::new(), String::new());
        reader.read_line(&mut first).unwrap();
        reader.read_line(&mut second).unwrap();
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let url = first
            .strip_prefix("truce witness listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .trim()
            .to_string();
        let vkey = second
            .strip_prefix("witness vkey: ")
            .unwrap_or_else(|| panic!("unexpected second line {second:?}"))
            .trim();
        WitnessProcess {
            child,
            url,
            vkey: CosignatureVerifier::parse(vkey).unwrap(),
            data: data.to_path_buf(),
            http: reqwest::Client::new(),
        }
    }

    /// `POST /add-checkpoint`: status, content type, body.
    async fn add_checkpoint(&self, old: u64, proof: &[Hash], note: &[u8]) -> (u16, String, String) {
        let mut body = format!("old {old}\n");
        for h in proof {
            body.push_str(&STANDARD.encode(h));
            body.push('\n');
        }
        body.push('\n');
        let mut body = body.into_bytes();
        body.extend_from_slice(note);
        let resp = self
            .http
            .post(format!("{}/add-checkpoint", self.url))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ct, resp.text().await.unwrap())
    }

    /// The witness's record for the test origin, read from its state file.
    fn recorded(&self) -> (u64, String) {
        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.data.join("state.json")).unwrap()).unwrap();
        let head = &state["logs"][ORIGIN];
        (
            head["size"].as_u64().unwrap(),
            head["root"].as_str().unwrap().to_string(),
        )
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_vkey(data: &Path) -> VerifierKey {
    PrivateKey::parse(&std::fs::read_to_string(data.join("keys/log.key")).unwrap())
        .unwrap()
        .verifier()
}

/// Adds the witness to the log's `truce.toml`.
fn configure_witness(data: &Path, w: &WitnessProcess) {
    let path = data.join("truce.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[[witnesses]]\nurl = \"{}\"\nvkey = \"{}\"\n",
        w.url, w.vkey
    ));
    std::fs::write(path, text).unwrap();
}

/// A copy of the log's identity (keys and configuration) in a fresh data directory: a second
/// log that can sign checkpoints under the same key and origin.
fn fork_identity(data: &Path, fork: &Path) {
    std::fs::create_dir_all(fork.join("keys")).unwrap();
    for f in ["keys/log.key", "keys/operator.key", "truce.toml"] {
        std::fs::copy(data.join(f), fork.join(f)).unwrap();
    }
}

/// Logs a fresh monitor key as entry `id`.
async fn submit(server: &Server, op: &PrivateKey, id: &str) {
    let k = PrivateKey::generate("osce.example/patrol").unwrap();
    let (code, body) = server
        .submit(
            op,
            "key",
            json!({"id": id, "vkey": k.verifier().to_string(), "roles": ["monitor"],
                "affiliation": "OSCE SMM"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
}

async fn checkpoint_bytes(server: &Server) -> Vec<u8> {
    let resp = server
        .http
        .get(format!("{}/log/checkpoint", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.bytes().await.unwrap().to_vec()
}

async fn size(server: &Server) -> u64 {
    server.get("/healthz").await.1["size"].as_u64().unwrap()
}

/// Polls `/log/checkpoint` (a bounded number of times, with growing pauses) until it is the
/// checkpoint of the log's current size with a valid cosignature by `witness`.
async fn wait_cosigned(
    server: &Server,
    log: &VerifierKey,
    witness: &CosignatureVerifier,
) -> (Checkpoint, Note) {
    let want = size(server).await;
    for attempt in 0..100u64 {
        let bytes = checkpoint_bytes(server).await;
        let (cp, note) = open_checkpoint_note(&bytes, ORIGIN, log).unwrap();
        let cosigs = verify_cosignatures(&note, std::slice::from_ref(witness)).unwrap();
        if cp.size == want && !cosigs.is_empty() {
            return (cp, note);
        }
        tokio::time::sleep(Duration::from_millis(10 * (attempt + 1).min(20))).await;
    }
    panic!("/log/checkpoint never carried a cosignature by {witness} for size {want}");
}

#[tokio::test]
async fn the_log_publishes_checkpoints_cosigned_by_its_witness() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let log = log_vkey(&data);
    let witness = WitnessProcess::start(&tmp.path().join("witness"), "witness.test/w1", &log);
    assert_eq!(witness.vkey.name(), "witness.test/w1");
    configure_witness(&data, &witness);
    let server = Server::start(&data);
    let (_, vkeys) = server.get("/v1/log/vkeys").await;
    assert_eq!(vkeys["witnesses"], json!([witness.vkey.to_string()]));

    let op = server.operator();
    for i in 0..3 {
        submit(&server, &op, &format!("k-{i}")).await;
    }
    let (cp, note) = wait_cosigned(&server, &log, &witness.vkey).await;
    assert_eq!(cp.size, 3);
    let cosigs = verify_cosignatures(&note, std::slice::from_ref(&witness.vkey)).unwrap();
    assert_eq!(cosigs.len(), 1);
    assert_eq!(witness.recorded(), (3, STANDARD.encode(cp.root)));

    // After a restart the log no longer knows what the witness cosigned: it learns it from the
    // witness's 409 and proves consistency from there.
    server.stop();
    let server = Server::start(&data);
    submit(&server, &op, "k-after-restart").await;
    let (cp, _) = wait_cosigned(&server, &log, &witness.vkey).await;
    assert_eq!(cp.size, 4);
    assert_eq!(witness.recorded(), (4, STANDARD.encode(cp.root)));
}

#[tokio::test]
async fn the_witness_refuses_a_split_view() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let log = log_vkey(&data);
    let fork_dir = tmp.path().join("fork");
    fork_identity(&data, &fork_dir);
    let witness = WitnessProcess::start(&tmp.path().join("witness"), "witness.test/w1", &log);
    configure_witness(&data, &witness);

    // The honest log, cosigned at size 2.
    let server = Server::start(&data);
    let op = server.operator();
    for i in 0..2 {
        submit(&server, &op, &format!("honest-{i}")).await;
    }
    let (honest, _) = wait_cosigned(&server, &log, &witness.vkey).await;
    assert_eq!(honest.size, 2);
    let recorded = witness.recorded();
    assert_eq!(recorded, (2, STANDARD.encode(honest.root)));

    // A fork under the same key and origin, with other entries: its checkpoint at the same size
    // 2, then at size 5.
    let fork = Server::start(&fork_dir);
    let mut same_size = None;
    for i in 0..5 {
        submit(&fork, &op, &format!("fork-{i}")).await;
        if size(&fork).await == 2 {
            same_size = Some(checkpoint_bytes(&fork).await);
        }
    }
    let same_size = same_size.unwrap();
    let forked = checkpoint_bytes(&fork).await;
    let (forked_cp, _) = open_checkpoint_note(&forked, ORIGIN, &log).unwrap();
    assert_eq!(forked_cp.size, 5);
    let (same_cp, _) = open_checkpoint_note(&same_size, ORIGIN, &log).unwrap();
    assert_eq!(same_cp.size, 2);
    assert_ne!(same_cp.root, honest.root);

    // The fork's own consistency proof from size 2, computed from its published entries.
    let resp = fork
        .http
        .get(format!("{}/log/tile/entries/000.p/5", fork.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let bundle = resp.bytes().await.unwrap();
    let mut frontier = Frontier::new();
    let mut hashes = Vec::new();
    for leaf in bundle_leaf_hashes(&bundle).unwrap() {
        hashes.extend(frontier.push(leaf).unwrap().into_iter().map(|(_, h)| h));
    }
    assert_eq!(frontier.root(), forked_cp.root);
    let proof = merkle::prove_tree(5, 2, &hashes).unwrap();
    merkle::check_tree(&proof, 5, &forked_cp.root, 2, &same_cp.root).unwrap();

    // Old size 0: the witness answers with the size it cosigned.
    let (status, ct, body) = witness.add_checkpoint(0, &[], &forked).await;
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "2\n")
    );

    // Old size 2 and the fork's valid-looking proof: it does not lead to the cosigned root.
    let (status, _, body) = witness.add_checkpoint(2, &proof, &forked).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("does not verify"), "{body}");

    // The fork's checkpoint at the cosigned size: same size, other root.
    let (status, ct, body) = witness.add_checkpoint(2, &[], &same_size).await;
    assert_eq!(status, 409, "{body}");
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert!(body.contains("at size 2 with root"), "{body}");

    // Nothing moved: same record on disk, same answer to a size query.
    assert_eq!(witness.recorded(), recorded);
    let (status, _, body) = witness.add_checkpoint(0, &[], &forked).await;
    assert_eq!((status, body.as_str()), (409, "2\n"));

    // The honest log goes on being cosigned.
    submit(&server, &op, "honest-2").await;
    let (cp, _) = wait_cosigned(&server, &log, &witness.vkey).await;
    assert_eq!(cp.size, 3);
    assert_eq!(witness.recorded(), (3, STANDARD.encode(cp.root)));
}
