//! Drill scenarios (`playbooks/drills/`): every bundled scenario validates
//! with `canhgac rules check`, a broken one is reported at file:line:col,
//! and each scenario's log injects, played through the real log path and
//! the shipped Sigma rules (`canhgac replay --log … --sigma rules/sigma`),
//! produce the Sigma detections the scenario expects.

use std::path::Path;
use std::process::Command;

use canhgac::central::drill::scenario::{self, KnownRules, Payload};

const BIN: &str = env!("CARGO_BIN_EXE_canhgac");

fn bundled() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir("playbooks/drills")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn bundled_scenarios_validate() {
    let files = bundled();
    assert!(files.len() >= 5, "{files:?}");
    let out = Command::new(BIN)
        .args(["rules", "check", "playbooks/drills"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("scenarios: {} valid, 0 invalid", files.len())),
        "{text}"
    );
}

#[test]
fn a_broken_scenario_is_reported_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("broken.yaml");
    std::fs::write(
        &p,
        "title: {vi: 'X', en: 'X'}\nbriefing: {vi: 'X', en: 'X'}\ninjects:\n  - id: a\n    at: soon\n    kind: logs\n    lines: ['x']\nexpected:\n  detections: []\n  category: other\n  playbook: nonsense\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["rules", "check"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("broken.yaml:5:9: `at` is an offset"),
        "{text}"
    );
    assert!(
        text.contains("broken.yaml:11:13: playbook `nonsense`"),
        "{text}"
    );
}

#[test]
fn each_scenario_produces_its_expected_log_detections() {
    let rules = KnownRules::scan(Path::new("rules"));
    for f in bundled() {
        let s =
            scenario::load(&f, Some(&rules)).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        let sigma: Vec<&str> = s
            .expected
            .detections
            .iter()
            .filter_map(|d| d.strip_prefix("sigma:"))
            .collect();
        let lines: Vec<String> = s
            .injects
            .iter()
            .flat_map(|i| match &i.payload {
                Payload::Logs { lines, .. } => lines.clone(),
                _ => Vec::new(),
            })
            .collect();
        if sigma.is_empty() {
            continue;
        }
        assert!(
            !lines.is_empty(),
            "{}: expects Sigma detections but injects no logs",
            f.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("inject.log");
        std::fs::write(&log, lines.join("\n") + "\n").unwrap();
        let out = Command::new(BIN)
            .args(["replay", "--sigma", "rules/sigma", "--log"])
            .arg(&log)
            .arg("-l")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let eve = std::fs::read_to_string(dir.path().join("eve.json")).unwrap();
        for id in sigma {
            assert!(
                eve.contains(id),
                "{}: the shipped rules did not produce {id}",
                f.display()
            );
        }
    }
}
