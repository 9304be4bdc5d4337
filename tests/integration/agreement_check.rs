//! `truce agreement check` as a user runs it: the example passes; a broken copy fails with every
//! problem as `file:line: field: message` and exit status 1.

use crate::util::{repo, truce};

#[test]
fn the_donbas_example_is_valid() {
    let out = truce()
        .args(["agreement", "check"])
        .arg(repo().join("examples/donbas/agreement.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok: agreement donbas-2026"), "{stdout}");
    assert!(stdout.contains("consent required from UA, RU"), "{stdout}");
}

#[test]
fn a_broken_copy_reports_every_problem_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo().join("examples/donbas");
    for f in ["contact_line.geojson", "ua_held.geojson"] {
        std::fs::copy(src.join(f), tmp.path().join(f)).unwrap();
    }
    // ngca.geojson is missing; RU's consent is dropped; a rule names a zone that does not exist.
    let text = std::fs::read_to_string(src.join("agreement.toml")).unwrap();
    let broken = text
        .replace(
            "consent = [\"UA\", \"RU\", \"DE\", \"FR\"]",
            "consent = [\"UA\", \"DE\", \"FR\"]",
        )
        .replacen("zone = \"artillery-zone\"", "zone = \"artilery-zone\"", 1);
    assert_ne!(broken, text);
    let file = tmp.path().join("agreement.toml");
    std::fs::write(&file, &broken).unwrap();
    let out = truce()
        .args(["agreement", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let consent_line = broken
        .lines()
        .position(|l| l.starts_with("entry_into_force"))
        .unwrap()
        + 1;
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "{}:{consent_line}: entry_into_force.consent: ",
            file.display()
        )) && l.contains("binds RU but does not require RU's consent")),
        "{stdout}"
    );
    assert!(lines.iter().any(|l| l.contains("ngca.geojson")), "{stdout}");
    assert!(
        lines.iter().any(|l| l.contains("artilery-zone")),
        "{stdout}"
    );

    let json = truce()
        .args(["agreement", "check", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["problems"].as_array().unwrap().len() >= 3);
}
