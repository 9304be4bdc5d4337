//! Starting the real server on port 0 and signing entries as clients do.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
