//! Auditing the log from the outside (`truce log verify`, DESIGN §8) and the server's own
//! start-up check of its stored tree: a real server, real HTTP, and a store tampered with
//! behind the server's back (triggers dropped, rows rewritten, triggers put back), as an
//! insider with file access would.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection as _, SqliteConnection};
use truce_model::keys::PrivateKey;

use crate::util::{Server, truce};

/// Accredits `n` fresh monitor keys (operator-signed `key` entries); returns the log size.
async fn accredit(server: &Server, n: usize, tag: &str) -> u64 {
    let op = server.operator();
    let mut size = 0;
    for i in 0..n {
        let key = PrivateKey::generate(&format!("audit.test/{tag}-{i}")).unwrap();
        let (code, body) = server
            .submit(
                &op,
                "key",
                json!({"id": format!("{tag}-{i}"), "vkey": key.verifier().to_string(),
                       "roles": ["monitor"], "affiliation": "x"}),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        size = body["index"].as_u64().unwrap() + 1;
    }
    size
}

struct Verified {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `truce log verify URL --state STATE ARGS…`.
fn log_verify(url: &str, state: &Path, args: &[&str]) -> Verified {
    let out = truce()
        .args(["log", "verify", url, "--state", state.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    Verified {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn log_verify_accepts_a_growing_log_and_remembers_it() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::init_and_start(tmp.path());
    let state = tmp.path().join("state/audit.json");
    let n = accredit(&server, 5, "a").await;

    let v = log_verify(&server.url, &state, &[]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout
            .starts_with(&format!("ok: truce.test/log size {n} root ")),
        "{}",
        v.stdout
    );
    assert!(v.stdout.trim_end().ends_with("(first audit of this log)"));
    assert!(
        v.stderr.contains("on first use"),
        "the key is trusted on first use, and says so: {}",
        v.stderr
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["size"], n);
    assert_eq!(saved["origin"], "truce.test/log");
    let (_, vkeys) = server.get("/v1/log/vkeys").await;
    assert_eq!(saved["vkey"], vkeys["log"]);

    let m = accredit(&server, 3, "b").await;
    let v = log_verify(&server.url, &state, &[]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout
            .starts_with(&format!("ok: truce.test/log size {m} root ")),
        "{}",
        v.stdout
    );
    assert!(
        v.stdout
            .trim_end()
            .ends_with(&format!("(consistent with size {n} seen before)")),
        "{}",
        v.stdout
    );
    assert!(!v.stderr.contains("first use"), "the key is pinned now");

    // --json, through the log prefix URL, with the key given explicitly.
    let log_url = format!("{}/log", server.url);
    let vkey = vkeys["log"].as_str().unwrap();
    let v = log_verify(&log_url, &state, &["--json", "--vkey", vkey]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    let report: serde_json::Value = serde_json::from_str(&v.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["size"], m);
    assert_eq!(report["previous"]["size"], m);
    assert_eq!(report["entry_bundles"], 1);
    assert_eq!(report["truce_leaves"], true);

    // Another key than the pinned one is a usage error (exit 2): the state is for this log.
    let op = server.operator().verifier().to_string();
    let v = log_verify(&server.url, &state, &["--vkey", &op]);
    assert_eq!(v.code, 2, "{}", v.stderr);
    assert!(v.stderr.contains("pins the log key"), "{}", v.stderr);
    // With a fresh state, the wrong key is a failed audit (exit 1): the signature does not
    // verify.
    let fresh = tmp.path().join("fresh.json");
    let v = log_verify(&server.url, &fresh, &["--vkey", &op]);
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(
        v.stderr.contains("the checkpoint is not valid"),
        "{}",
        v.stderr
    );
    assert!(!fresh.exists(), "a failed audit saves no state");
    // A witness is required but nobody cosigned.
    let w = PrivateKey::generate("witness.test/w1").unwrap().verifier();
    let v = log_verify(&server.url, &state, &["--witness", &w.to_string()]);
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(
        v.stderr
            .contains("cosigned by 0 of the trusted witnesses, 1 required"),
        "{}",
        v.stderr
    );

    // Nothing listening: exit 2, not a verdict about the log.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let v = log_verify(&format!("http://127.0.0.1:{port}"), &state, &[]);
    assert_eq!(v.code, 2, "{}", v.stderr);
}

#[tokio::test]
async fn log_verify_uses_a_default_state_file_under_home() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::init_and_start(tmp.path());
    accredit(&server, 1, "a").await;
    let home = tmp.path().join("home");
    let run = || {
        truce()
            .args(["log", "verify", &server.url])
            .env("HOME", &home)
            .env_remove("XDG_STATE_HOME")
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(home.join(".local/state/truce/truce.test_log.json").exists());
    let out = run();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("consistent with size 1 seen before"));
}

// ---------------------------------------------------------------------------------------------
// Tampering with the store: the server refuses to start
// ---------------------------------------------------------------------------------------------

/// Runs `sql` (binding `blob` if given) on the stopped server's store with the append-only
/// trigger `trigger` dropped, then puts the trigger back exactly as it was (so that the store
/// still passes the trigger check at open and only the data is wrong).
async fn tamper(data: &Path, trigger: &str, sql: &str, blob: Option<Vec<u8>>) {
    let opts = SqliteConnectOptions::new().filename(data.join("truce.sqlite"));
    let mut db = SqliteConnection::connect_with(&opts).await.unwrap();
    let create: String =
        sqlx::query_scalar("SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = ?")
            .bind(trigger)
            .fetch_one(&mut db)
            .await
            .unwrap();
    sqlx::query(AssertSqlSafe(format!("DROP TRIGGER {trigger}")))
        .execute(&mut db)
        .await
        .unwrap();
    let mut q = sqlx::query(AssertSqlSafe(sql.to_string()));
    if let Some(b) = blob {
        q = q.bind(b);
    }
    let done = q.execute(&mut db).await.unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
    sqlx::query(AssertSqlSafe(create))
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
}

async fn read_blob(data: &Path, sql: &'static str) -> Vec<u8> {
    let opts = SqliteConnectOptions::new()
        .filename(data.join("truce.sqlite"))
        .read_only(true);
    let mut db = SqliteConnection::connect_with(&opts).await.unwrap();
    let b: Vec<u8> = sqlx::query_scalar(sql).fetch_one(&mut db).await.unwrap();
    db.close().await.unwrap();
    b
}

/// Starts `truce serve` on `data`, which must refuse to start; returns its stderr. Reads the
/// server's first stdout line: the banner if it (wrongly) started, end of file if it exited.
fn start_must_fail(data: &Path) -> String {
    let log = data.with_extension("refused.log");
    let mut child = truce()
        .args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if line.contains("listening") {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server started on a tampered store: {line}");
    }
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "exit {status}: {stderr}");
    stderr
}

/// A data directory with `n` entries, its server stopped gracefully.
async fn stopped_log(tmp: &Path, n: usize) -> (PathBuf, u64) {
    let server = Server::init_and_start(tmp);
    let size = accredit(&server, n, "a").await;
    let data = server.data.clone();
    server.stop();
    (data, size)
}

#[tokio::test]
async fn a_corrupted_stored_tree_hash_stops_the_server_at_start_up() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _) = stopped_log(tmp.path(), 6).await;
    // Stored hash 2 is the interior node over leaves 0 and 1.
    let mut hash = read_blob(&data, "SELECT hash FROM tree_hashes WHERE idx = 2").await;
    hash[0] ^= 1;
    tamper(
        &data,
        "tree_hashes_no_update",
        "UPDATE tree_hashes SET hash = ? WHERE idx = 2",
        Some(hash.clone()),
    )
    .await;
    let stderr = start_must_fail(&data);
    assert!(
        stderr.contains(&format!(
            "the stored Merkle tree fails verification: stored tree hash 2 is {}",
            hex::encode(&hash)
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_changed_leaf_stops_the_server_at_start_up() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _) = stopped_log(tmp.path(), 4).await;
    let mut leaf = read_blob(&data, "SELECT leaf FROM entries WHERE idx = 1").await;
    // A digit of the log time: still a well-formed leaf, but not the one that was logged.
    assert_eq!(&leaf[..11], b"{\"time_ms\":");
    leaf[12] = if leaf[12] == b'9' { b'8' } else { leaf[12] + 1 };
    tamper(
        &data,
        "entries_no_update",
        "UPDATE entries SET leaf = ? WHERE idx = 1",
        Some(leaf),
    )
    .await;
    let stderr = start_must_fail(&data);
    assert!(
        stderr.contains(
            "log entry 1 fails verification: the stored leaf hash does not match the leaf"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_deleted_last_entry_stops_the_server_at_start_up() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, size) = stopped_log(tmp.path(), 4).await;
    tamper(
        &data,
        "entries_no_delete",
        &format!("DELETE FROM entries WHERE idx = {}", size - 1),
        None,
    )
    .await;
    let stderr = start_must_fail(&data);
    assert!(
        stderr.contains(&format!("tree hashes are stored for {} entries", size - 1)),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// A forked log
// ---------------------------------------------------------------------------------------------

/// A second data directory with the same keys and origin as `data` (the same log identity) but
/// an empty store: a log operator showing a different history to someone else.
fn fork_of(data: &Path, to: &Path) -> PathBuf {
    let fork = to.join("fork");
    std::fs::create_dir_all(fork.join("keys")).unwrap();
    std::fs::copy(data.join("truce.toml"), fork.join("truce.toml")).unwrap();
    for key in std::fs::read_dir(data.join("keys")).unwrap() {
        let key = key.unwrap();
        std::fs::copy(key.path(), fork.join("keys").join(key.file_name())).unwrap();
    }
    fork
}

#[tokio::test]
async fn log_verify_detects_a_forked_history() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Server::init_and_start(tmp.path());
    let state = tmp.path().join("state.json");
    let n = accredit(&first, 4, "a").await;
    let v = log_verify(&first.url, &state, &[]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    let saved = std::fs::read(&state).unwrap();
    let fork = Server::start(&fork_of(&first.data, tmp.path()));
    let (_, a) = first.get("/v1/log/vkeys").await;
    let (_, b) = fork.get("/v1/log/vkeys").await;
    assert_eq!(a, b, "the fork is the same log to a client");

    // Fewer entries than seen before.
    let m = accredit(&fork, 2, "b").await;
    let v = log_verify(&fork.url, &state, &[]);
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(
        v.stderr
            .contains(&format!("the log shrank from {n} to {m} entries")),
        "{}",
        v.stderr
    );

    // As many entries as seen before, another root.
    let m = accredit(&fork, (n - m) as usize, "c").await;
    assert_eq!(m, n);
    let v = log_verify(&fork.url, &state, &["--json"]);
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(
        v.stderr.contains(&format!(
            "not consistent with the checkpoint seen before (size {n}, root "
        )),
        "{}",
        v.stderr
    );
    assert!(v.stderr.contains("for the same size"), "{}", v.stderr);
    // The two signed checkpoints that prove the fork.
    let failure: serde_json::Value = serde_json::from_str(&v.stdout).unwrap();
    assert_eq!(failure["ok"], false);
    assert_eq!(failure["exit"], 1);
    let seen: serde_json::Value = serde_json::from_slice(&saved).unwrap();
    assert_eq!(
        failure["evidence"]["previous_checkpoint"],
        seen["checkpoint"]
    );
    let forked = failure["evidence"]["checkpoint"].as_str().unwrap();
    assert!(forked.starts_with(&format!("truce.test/log\n{n}\n")));
    assert_ne!(forked, seen["checkpoint"].as_str().unwrap());

    // More entries, with a different prefix.
    let m = accredit(&fork, 3, "d").await;
    let v = log_verify(&fork.url, &state, &[]);
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(
        v.stderr.contains(&format!(
            "not consistent with the checkpoint seen before (size {n}, root "
        )) && v
            .stderr
            .contains(&format!("the tree at size {n} now hashes to"))
            && v.stderr.contains(&format!("(in the tree of size {m})")),
        "{}",
        v.stderr
    );

    // A failed audit never touches the state; the first log still checks out against it.
    assert_eq!(std::fs::read(&state).unwrap(), saved);
    let v = log_verify(&first.url, &state, &[]);
    assert_eq!(v.code, 0, "{}", v.stderr);
}
