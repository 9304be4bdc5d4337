//! `truce submit`, `truce key accredit` and `truce key revoke` against the real server, as an
//! operator and a patrol run them: receipts printed and verified, idempotent re-runs, refusals
//! with every field named, and the exit statuses scripts rely on.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use truce_log::proof::TlogProof;
use truce_model::keys::PrivateKey;

use crate::util::{Server, truce};

/// Runs `cmd`; returns the exit code, stdout and stderr.
fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `truce submit FILE --key KEY --server URL`; more arguments can follow.
fn submit(file: &Path, key: &Path, server: &Server) -> Command {
    let mut c = truce();
    c.arg("submit")
        .arg(file)
        .arg("--key")
        .arg(key)
        .args(["--server", &server.url]);
    c
}

fn generate_key(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let file = dir.join(format!("{}.key", name.replace('/', "_")));
    let (code, vkey, err) = run(truce()
        .args(["key", "generate", "--name", name, "--out"])
        .arg(&file));
    assert_eq!(code, 0, "{err}");
    (file, vkey.trim().to_string())
}

fn log_vkey(server: &Server) -> String {
    PrivateKey::parse(&std::fs::read_to_string(server.data.join("keys/log.key")).unwrap())
        .unwrap()
        .verifier()
        .to_string()
}

/// The index in `logged <kind> <id> at index N, …`.
fn printed_index(stdout: &str) -> u64 {
    let rest = stdout.split(" at index ").nth(1).expect(stdout);
    rest.split(',').next().unwrap().parse().unwrap()
}

/// Checks a `--json` receipt independently of the CLI: the proof verifies for its leaf hash
/// under the log key.
fn check_json_receipt(server: &Server, v: &Value) -> u64 {
    assert_eq!(v["ok"], true, "{v}");
    let index = v["index"].as_u64().unwrap();
    let leaf: [u8; 32] = hex::decode(v["leaf_hash"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let proof = TlogProof::parse(v["proof"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(proof.index(), index);
    let key = truce_model::keys::VerifierKey::parse(&log_vkey(server)).unwrap();
    proof.verify(&leaf, &key, "truce.test/log").unwrap();
    index
}

const BAD_OBSERVATION: &str = r#"{"id": "obs-bad", "agreement": "donbas-2026",
  "observed": {"from": "2026-12-20T21:10:00Z", "to": "2026-12-20T21:40:00Z"},
  "observer": {"mode": "heard"},
  "event": {"type": "explosion", "count": 12, "location": {"lat": 148.41, "lon": 38.31}},
  "grading": {"credibility": 9}}"#;

#[test]
fn accredit_submit_revoke_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::init_and_start(tmp.path());
    let op = server.data.join("keys/operator.key");
    let (patrol_key, patrol_vkey) = generate_key(tmp.path(), "osce.example/patrol-7");
    let accredit = || {
        let mut c = truce();
        c.args(["key", "accredit", "--operator-key"])
            .arg(&op)
            .args(["--vkey", &patrol_vkey, "--roles", "sensor,monitor"])
            .args(["--affiliation", "OSCE SMM", "--reliability", "B"])
            .args(["--server", &server.url]);
        c
    };

    // Accredited: the receipt is printed and was verified.
    let (code, out, err) = run(&mut accredit());
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("logged key accredit-"), "{out}");
    assert!(out.contains("receipt verified: leaf "), "{out}");
    assert!(out.contains("c2sp.org/tlog-proof@v1\nindex "), "{out}");
    let index = printed_index(&out);

    // The same command again: the same entry, the same index, and it says so.
    let (code, out, err) = run(accredit().arg("--json"));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(check_json_receipt(&server, &v), index);
    assert_eq!(v["already_logged"], true);
    assert_eq!(v["kind"], "key");
    assert!(err.contains("already logged"), "{err}");
    // Roles in another order are the same accreditation.
    let (code, out, err) = run(truce()
        .args(["key", "accredit", "--operator-key"])
        .arg(&op)
        .args(["--vkey", &patrol_vkey, "--roles", "monitor, sensor"])
        .args(["--affiliation", "OSCE SMM", "--reliability", "b"])
        .args(["--server", &server.url, "--log-vkey", &log_vkey(&server)]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(printed_index(&out), index);
    assert!(!out.contains("pin it with --vkey"), "{out}");

    // The patrol's invalid observation: 422, every field named on stderr.
    let bad = tmp.path().join("bad.observation.json");
    std::fs::write(&bad, BAD_OBSERVATION).unwrap();
    let (code, out, err) = run(&mut submit(&bad, &patrol_key, &server));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("HTTP 422"), "{err}");
    assert!(
        err.contains("\n  /event/location/lat: must be a number from -90 to 90"),
        "{err}"
    );
    assert!(
        err.contains("\n  /grading/credibility: must be an integer from 1 to 6"),
        "{err}"
    );
    // With --json the problem is on stdout too.
    let (code, out, _) = run(submit(&bad, &patrol_key, &server).arg("--json"));
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["ok"].clone(), v["status"].clone()),
        (false.into(), 422.into())
    );
    assert_eq!(v["problem"]["errors"][0]["pointer"], "/event/location/lat");

    // A patrol may not accredit keys: 403.
    let (_, other_vkey) = generate_key(tmp.path(), "someone");
    let self_made = tmp.path().join("self.key.json");
    std::fs::write(
        &self_made,
        serde_json::json!({"id": "k-self", "vkey": other_vkey, "roles": ["operator"],
            "affiliation": "nobody"})
        .to_string(),
    )
    .unwrap();
    let (code, _, err) = run(&mut submit(&self_made, &patrol_key, &server));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("HTTP 403"), "{err}");

    // Revoked, idempotently.
    let revoke = || {
        let mut c = truce();
        c.args(["key", "revoke", "--operator-key"]).arg(&op).args([
            "--vkey",
            &patrol_vkey,
            "--server",
            &server.url,
        ]);
        c
    };
    let (code, out, err) = run(&mut revoke());
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("logged key revoke-"), "{out}");
    let revoked_at = printed_index(&out);
    assert!(revoked_at > index);
    let (code, out, err) = run(&mut revoke());
    assert_eq!(code, 0, "{err}");
    assert_eq!(printed_index(&out), revoked_at);

    // The revoked key signs no more: 401, with the server's reason.
    let (code, out, err) = run(&mut submit(&bad, &patrol_key, &server));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(err.contains("revoked at log index"), "{err}");

    // Flags the payload rules refuse are named before anything is sent.
    let (code, _, err) = run(truce()
        .args(["key", "accredit", "--operator-key"])
        .arg(&op)
        .args(["--vkey", &other_vkey, "--roles", "monitor,general"])
        .args(["--affiliation", "x", "--reliability", "Z"])
        .args(["--server", &server.url]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--roles \"general\": must be one of"), "{err}");
    assert!(err.contains("--reliability: "), "{err}");
}

#[test]
fn submit_stdin_ids_keys_and_exit_statuses() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::init_and_start(tmp.path());
    let op = server.data.join("keys/operator.key");
    let (_, vkey) = generate_key(tmp.path(), "osce.example/camera-3");

    // From standard input, without an id: one is generated, and said so.
    let mut child = truce()
        .args(["submit", "-", "--kind", "key", "--json", "--key"])
        .arg(&op)
        .args(["--server", &server.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let payload = serde_json::json!({"vkey": vkey, "roles": ["sensor"], "affiliation": "OSCE"});
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        payload.to_string().as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_json_receipt(&server, &v);
    let id = v["id"].as_str().unwrap();
    assert_eq!(id.len(), 26, "a ULID: {id}");
    assert!(err.contains(&format!("submitting it as {id}")), "{err}");
    assert_eq!(v["already_logged"], false);

    // A file that names its kind; the same file twice is one entry.
    let file = tmp.path().join("camera.key.json");
    let (_, vkey2) = generate_key(tmp.path(), "osce.example/camera-4");
    std::fs::write(
        &file,
        serde_json::json!({"id": "k-camera-4", "vkey": vkey2, "roles": ["sensor"],
            "affiliation": "OSCE", "reliability": "A"})
        .to_string(),
    )
    .unwrap();
    let submit_file = || submit(&file, &op, &server);
    let (code, out, err) = run(submit_file().args(["--vkey", &log_vkey(&server)]));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("logged key k-camera-4 at index "), "{out}");
    let index = printed_index(&out);
    let (code, out, err) = run(&mut submit_file());
    assert_eq!(code, 0, "{err}");
    assert_eq!(printed_index(&out), index);

    // A receipt that does not verify under the given log key is not success (exit 1).
    let impostor = PrivateKey::generate("truce.test/log").unwrap().verifier();
    let (code, out, err) = run(submit_file().args(["--vkey", &impostor.to_string()]));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("its receipt does not verify"), "{err}");

    // Closed stdout: no panic, still success.
    let mut child = submit_file()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));

    // Local problems: what and why, before anything is sent.
    let plain = tmp.path().join("payload.json");
    std::fs::write(&plain, "[1, 2]").unwrap();
    let (code, _, err) = run(&mut submit(&plain, &op, &server));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pass --kind"), "{err}");
    let (code, _, err) = run(truce()
        .arg("submit")
        .arg(&plain)
        .args(["--kind", "key", "--key"])
        .arg(&op)
        .args(["--server", &server.url]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("a payload is a JSON object, not an array"),
        "{err}"
    );
    let (code, _, err) = run(&mut submit(&file, &tmp.path().join("missing.key"), &server));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--key "), "{err}");

    // Nobody listening: exit 2, and --json says so on stdout.
    let (code, out, err) = run(truce()
        .arg("submit")
        .arg(&file)
        .arg("--key")
        .arg(&op)
        .args(["--server", "http://127.0.0.1:1", "--json"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("POST http://127.0.0.1:1/v1/entries"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["ok"].clone(), v["exit"].clone()),
        (false.into(), 2.into())
    );
}
