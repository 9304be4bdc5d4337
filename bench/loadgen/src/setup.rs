//! Bringing a server to the point where monitors may report observations, over HTTP, as
//! `tests/integration/import.rs` does: the four Donbas party keys accredited, the agreement and
//! its geometry logged with its entry into force moved into the past, every consent logged,
//! and `K` monitor keys accredited.
//!
//! Every setup entry has a fixed id and deterministic content (Ed25519 signatures are
//! deterministic), so running the setup again against the same server resubmits identical
//! envelopes, which the server answers with 200 and the index already logged; a 409 (the id
//! logged with other content, e.g. by another tool) is reported and tolerated.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};
use truce_model::dsse::Envelope;
use truce_model::keys::PrivateKey;

use crate::observations::{EvidenceBlob, Rng};
use sha2::{Digest as _, Sha256};

/// The agreement the observations are reported under.
pub const AGREEMENT: &str = "donbas-2026";

/// A client of one server.
pub struct Http {
    pub client: reqwest::Client,
    pub url: String,
}

impl Http {
    /// Posts an envelope; returns the status and the body text.
    pub async fn post(&self, body: Vec<u8>) -> Result<(u16, String)> {
        let r = self
            .client
            .post(format!("{}/v1/entries", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {}/v1/entries", self.url))?;
        let status = r.status().as_u16();
        Ok((status, r.text().await.unwrap_or_default()))
    }

    /// Signs `payload` as `kind` with `key` and posts it; 200 is success, 409 is tolerated
    /// (already logged with other content), anything else is an error with the problem body.
    pub async fn submit(&self, key: &PrivateKey, kind: &str, payload: Value) -> Result<()> {
        let env = Envelope::sign(kind, payload.to_string().as_bytes(), &[key]);
        let (status, body) = self.post(env.canonical_json()).await?;
        match status {
            200 => Ok(()),
            409 => {
                eprintln!(
                    "  note: {kind} {} is already logged with other content (409); going on",
                    payload["id"]
                );
                Ok(())
            }
            _ => bail!("{kind} {} refused: HTTP {status}: {body}", payload["id"]),
        }
    }

    /// Uploads a blob; returns its sha256 hex (201 new, 200 already there).
    pub async fn put_blob(&self, bytes: Vec<u8>) -> Result<String> {
        let sha = hex::encode(Sha256::digest(&bytes));
        let r = self
            .client
            .put(format!("{}/v1/blobs/{sha}", self.url))
            .body(bytes)
            .send()
            .await?;
        let status = r.status().as_u16();
        if status != 200 && status != 201 {
            bail!(
                "PUT /v1/blobs/{sha}: HTTP {status}: {}",
                r.text().await.unwrap_or_default()
            );
        }
        Ok(sha)
    }

    pub async fn get_json(&self, path: &str) -> Result<(u16, Value)> {
        let r = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }
}

/// Accredits `key` with `roles`, as the operator, under the id `accredit-<name>`.
async fn accredit(
    http: &Http,
    operator: &PrivateKey,
    key: &PrivateKey,
    roles: &[&str],
    affiliation: &str,
) -> Result<()> {
    http.submit(
        operator,
        "key",
        json!({"id": format!("accredit-{}", key.name()), "vkey": key.verifier().to_string(),
               "roles": roles, "affiliation": affiliation, "reliability": "B"}),
    )
    .await
}

/// The monitor keys of the benchmark: `monitor-0` … `monitor-{k-1}`, from fixed seeds.
pub fn monitor_keys(k: usize) -> Result<Vec<PrivateKey>> {
    (0..k)
        .map(|i| {
            let mut seed = [0x6du8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Ok(PrivateKey::from_seed(&format!("monitor-{i}"), seed)?)
        })
        .collect()
}

/// The Donbas agreement in force and `monitors` accredited; returns the evidence media uploaded
/// for the observations to cite.
pub async fn donbas_in_force(
    http: &Http,
    operator: &PrivateKey,
    examples: &Path,
    monitors: &[PrivateKey],
) -> Result<Vec<EvidenceBlob>> {
    let read = |f: &str| std::fs::read(examples.join(f)).with_context(|| format!("reading {}", f));
    let mut parties = Vec::new();
    for (name, party) in [
        ("ukraine", "UA"),
        ("russia", "RU"),
        ("germany", "DE"),
        ("france", "FR"),
    ] {
        let text = String::from_utf8(read(&format!("keys/{name}.key"))?)?;
        let key = PrivateKey::parse(&text).with_context(|| format!("keys/{name}.key"))?;
        accredit(http, operator, &key, &["party"], party).await?;
        parties.push((key, party.to_ascii_lowercase()));
    }
    let mut blobs = serde_json::Map::new();
    for f in ["contact_line.geojson", "ua_held.geojson", "ngca.geojson"] {
        let sha = http.put_blob(read(f)?).await?;
        blobs.insert(f.to_string(), json!(sha));
    }
    let text = String::from_utf8(read("agreement.toml")?)?;
    let doc = text.replace(
        "at = \"2026-12-15T00:00:00+02:00\"",
        "at = \"2025-01-01T00:00:00+02:00\"",
    );
    if doc == text {
        bail!("agreement.toml: its entry_into_force.at is no longer 2026-12-15T00:00:00+02:00");
    }
    http.submit(
        operator,
        "agreement",
        json!({"id": "donbas-2026-v1", "agreement": AGREEMENT, "version": 1,
               "document": doc, "blobs": blobs}),
    )
    .await?;
    let sha = hex::encode(Sha256::digest(doc.as_bytes()));
    for (key, party) in &parties {
        http.submit(
            key,
            "consent",
            json!({"id": format!("consent-{party}"), "agreement": AGREEMENT,
                   "version": 1, "sha256": sha}),
        )
        .await?;
    }
    let (code, a) = http
        .get_json(&format!("/v1/agreements/{AGREEMENT}"))
        .await?;
    if code != 200 || a["status"] != "in-force" {
        bail!("{AGREEMENT} is not in force after the setup: HTTP {code}: {a}");
    }
    for key in monitors {
        accredit(http, operator, key, &["monitor"], "OSCE SMM").await?;
    }
    // Evidence media for observations to cite: a few synthetic photos and clips.
    let mut evidence = Vec::new();
    for i in 0..16u64 {
        let mut rng = Rng::new(0xe1de_0000 + i);
        let (media_type, magic, len): (_, &[u8], _) = if i % 4 == 3 {
            ("video/mp4", b"\0\0\0\x18ftypmp42", 64 * 1024)
        } else {
            ("image/jpeg", b"\xff\xd8\xff\xe0\0\x10JFIF\0", 16 * 1024)
        };
        let mut bytes = magic.to_vec();
        while bytes.len() < len {
            bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        evidence.push(EvidenceBlob {
            sha256: http.put_blob(bytes).await?,
            media_type,
        });
    }
    Ok(evidence)
}
