//! The bundled YARA rules against the project's own inert samples:
//! `tests/data/yara/expected.tsv` lists, per file, the rules that must
//! match (none for the benign files), checked through `canhgac scan` as an
//! operator would run it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

#[test]
fn bundled_rules_match_exactly_the_expected_samples() {
    let root = env!("CARGO_MANIFEST_DIR");
    let expected_text =
        std::fs::read_to_string(format!("{root}/tests/data/yara/expected.tsv")).unwrap();
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in expected_text.lines().filter(|l| !l.trim().is_empty()) {
        let (path, rules) = line.split_once('\t').unwrap_or((line, ""));
        let set = rules
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(String::from)
            .collect();
        expected.insert(path.to_string(), set);
    }
    assert!(expected.len() >= 20, "{} samples", expected.len());
    let out = Command::new(env!("CARGO_BIN_EXE_canhgac"))
        .current_dir(format!("{root}/tests/data/yara"))
        .args(["scan", "samples", "benign"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: BTreeMap<String, BTreeSet<String>> = expected
        .keys()
        .map(|k| (k.clone(), BTreeSet::new()))
        .collect();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let rule = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let path = line
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_string();
        got.entry(path).or_default().insert(rule);
    }
    assert_eq!(got, expected);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains(&format!("scan: {} files", expected.len())),
        "{summary}"
    );
}
