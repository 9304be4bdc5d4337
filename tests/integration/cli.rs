//! The small commands, as a user runs them.

use crate::util::truce;

#[test]
fn key_generate_writes_a_private_key_and_prints_its_vkey() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("patrol.key");
    let out = truce()
        .args([
            "key",
            "generate",
            "--name",
            "osce.example/patrol-7",
            "--out",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vkey = String::from_utf8(out.stdout).unwrap();
    let vkey = truce_model::keys::VerifierKey::parse(vkey.trim()).unwrap();
    let key =
        truce_model::keys::PrivateKey::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(key.verifier(), vkey);
    assert_eq!(vkey.name(), "osce.example/patrol-7");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the private key file is private");
    }
    // Never overwrites a key; refuses bad names.
    let again = truce()
        .args(["key", "generate", "--name", "x", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert_eq!(
        truce_model::keys::PrivateKey::parse(&std::fs::read_to_string(&file).unwrap())
            .unwrap()
            .verifier(),
        vkey
    );
    let bad = truce()
        .args(["key", "generate", "--name", "has space", "--out"])
        .arg(tmp.path().join("bad.key"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid key name"));
}

#[test]
fn init_prints_both_vkeys_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let out = truce()
        .args([
            "init",
            dir.to_str().unwrap(),
            "--origin",
            "truce.test/log",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let log = truce_model::keys::VerifierKey::parse(v["log_vkey"].as_str().unwrap()).unwrap();
    let op = truce_model::keys::VerifierKey::parse(v["operator_vkey"].as_str().unwrap()).unwrap();
    assert_eq!(log.name(), "truce.test/log");
    assert_eq!(op.name(), "truce.test/log/operator");
    let again = truce()
        .args(["init", dir.to_str().unwrap(), "--origin", "truce.test/log"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
}
