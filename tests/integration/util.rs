//! Starting the real server on port 0 and signing entries as clients do.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::json;
use sha2::{Digest as _, Sha256};
use truce_model::dsse::Envelope;
use truce_model::keys::PrivateKey;

pub fn truce() -> Command {
    Command::new(env!("CARGO_BIN_EXE_truce"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `truce init` of `tmp/data`; returns the data directory.
pub fn init(tmp: &Path) -> PathBuf {
    let data = tmp.join("data");
    let out = truce()
        .args(["init", data.to_str().unwrap(), "--origin", "truce.test/log"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    data
}

/// A running `truce serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub data: PathBuf,
    pub http: reqwest::Client,
}

impl Server {
    /// `truce init` in a new directory under `tmp`, then `truce serve` on port 0.
    pub fn init_and_start(tmp: &Path) -> Server {
        let data = tmp.join("data");
        let out = truce()
            .args(["init", data.to_str().unwrap(), "--origin", "truce.test/log"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Server::start(&data)
    }

    /// `truce serve` on an existing data directory; returns once it printed its address.
    pub fn start(data: &Path) -> Server {
        let mut child = truce()
            .args([
                "serve",
                "--data",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(
                std::fs::File::create(data.with_extension("stderr.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        // Keep draining stdout so the server never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server {
            child,
            url,
            data: data.to_path_buf(),
            http: reqwest::Client::new(),
        }
    }

    pub fn operator(&self) -> PrivateKey {
        PrivateKey::parse(&std::fs::read_to_string(self.data.join("keys/operator.key")).unwrap())
            .unwrap()
    }

    /// Kills the server with SIGKILL, as a power cut or OOM kill would, and waits for it.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Stops the server with SIGTERM (graceful) and waits for it.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "server exited with {exit}");
    }

    pub async fn post_raw(&self, body: impl Into<reqwest::Body>) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .post(format!("{}/v1/entries", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        if status != 200 {
            assert_eq!(
                resp.headers()["content-type"],
                "application/problem+json",
                "errors are RFC 9457 problems"
            );
        }
        (status, resp.json().await.unwrap())
    }

    /// Signs `payload` as `kind` with `key` and posts it.
    pub async fn submit(
        &self,
        key: &PrivateKey,
        kind: &str,
        payload: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let env = Envelope::sign(kind, payload.to_string().as_bytes(), &[key]);
        self.post_raw(env.canonical_json()).await
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    pub async fn put_blob(&self, bytes: Vec<u8>) -> (u16, String) {
        let sha = hex::encode(Sha256::digest(&bytes));
        let resp = self
            .http
            .put(format!("{}/v1/blobs/{sha}", self.url))
            .body(bytes)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), sha)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A demo key of `examples/donbas/keys/`.
pub fn demo_key(name: &str) -> PrivateKey {
    let path = repo().join(format!("examples/donbas/keys/{name}.key"));
    PrivateKey::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The JSON pointers a 422 problem names, in order.
pub fn error_pointers(problem: &serde_json::Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .expect("a problem with an errors list")
        .iter()
        .map(|e| e["pointer"].as_str().expect("a pointer"))
        .collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Accredits `key` with `roles` and `affiliation` (reliability B), signed by the operator.
pub async fn accredit(server: &Server, key: &PrivateKey, roles: &[&str], affiliation: &str) {
    let (status, body) = server
        .submit(
            &server.operator(),
            "key",
            json!({"id": format!("accredit-{}", key.name()), "vkey": key.verifier().to_string(),
                   "roles": roles, "affiliation": affiliation, "reliability": "B"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Uploads the Donbas example's three geometry files; returns the agreement's `blobs` map.
pub async fn upload_geometry(server: &Server) -> serde_json::Map<String, serde_json::Value> {
    let mut blobs = serde_json::Map::new();
    for f in ["contact_line.geojson", "ua_held.geojson", "ngca.geojson"] {
        let bytes = std::fs::read(repo().join("examples/donbas").join(f)).unwrap();
        let (status, sha) = server.put_blob(bytes).await;
        assert_eq!(status, 201, "{f}");
        blobs.insert(f.to_string(), json!(sha));
    }
    blobs
}

/// The Donbas example in force (as in consent_story.rs: entry into force moved into the past,
/// every required consent logged).
pub async fn bring_donbas_into_force(server: &Server) {
    for (name, party) in [
        ("ukraine", "UA"),
        ("russia", "RU"),
        ("germany", "DE"),
        ("france", "FR"),
    ] {
        accredit(server, &demo_key(name), &["party"], party).await;
    }
    let blobs = upload_geometry(server).await;
    let text = std::fs::read_to_string(repo().join("examples/donbas/agreement.toml")).unwrap();
    let doc = text.replace(
        "at = \"2026-12-15T00:00:00+02:00\"",
        "at = \"2025-01-01T00:00:00+02:00\"",
    );
    assert_ne!(doc, text, "the example's entry_into_force.at changed");
    let (code, body) = server
        .submit(
            &server.operator(),
            "agreement",
            json!({"id": "donbas-2026-v1", "agreement": "donbas-2026", "version": 1,
                   "document": doc, "blobs": blobs}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    for (name, party) in [
        ("ukraine", "ua"),
        ("russia", "ru"),
        ("germany", "de"),
        ("france", "fr"),
    ] {
        let (code, body) = server
            .submit(
                &demo_key(name),
                "consent",
                json!({"id": format!("consent-{party}"), "agreement": "donbas-2026",
                       "version": 1, "sha256": sha256_hex(doc.as_bytes())}),
            )
            .await;
        assert_eq!(code, 200, "{body}");
    }
    let (_, a) = server.get("/v1/agreements/donbas-2026").await;
    assert_eq!(a["status"], "in-force", "{a}");
}
