//! suricata-verify: the peer's own tests, run through `canhgac replay` by
//! the checker in `../shared/tools/sv-check` (beside the project on the
//! development machines and in CI). Every test that Suricata 7.0.10 passes
//! must pass here too, with all its checks (alerts, protocol records, flows,
//! files, drops, stats).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn suricata_verify_passes_in_full() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let checker = root.join("../shared/tools/sv-check");
    assert!(
        checker.exists(),
        "{} is missing: the conformance suite must be beside the project",
        checker.display()
    );
    let out = tempfile::tempdir().unwrap();
    let engine = format!("{} replay", env!("CARGO_BIN_EXE_canhgac"));
    let run = Command::new("python3")
        .arg(&checker)
        .args(["--engine", &engine, "--outroot"])
        .arg(out.path())
        .output()
        .expect("python3 runs the checker");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let last = stdout.lines().last().unwrap_or_default().to_string();
    let failures: Vec<&str> = stdout.lines().filter(|l| l.contains(" fail ")).collect();
    assert!(
        run.status.success()
            && last.ends_with(" 0 failed, 0 skipped")
            && last.starts_with("56 passed"),
        "sv-check: {last}\n{}\n{}",
        failures.join("\n"),
        String::from_utf8_lossy(&run.stderr)
    );
}
