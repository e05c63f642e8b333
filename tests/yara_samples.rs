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
    let mut layers: Vec<(String, String)> = Vec::new();
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
        if path.contains('!') {
            // a match inside an unwrapped layer (ZIP member, gzip, base64)
            layers.push((path, rule));
        } else {
            got.entry(path).or_default().insert(rule);
        }
    }
    assert_eq!(got, expected);
    // the macro project inside the .docm is unwrapped and caught by the
    // OLE rule, which the raw (compressed) file cannot show
    assert!(
        layers
            .iter()
            .any(|(p, r)| p.ends_with("!word/vbaProject.bin")
                && r == "CANHGAC_Office_OLE_Macro_Dropper"),
        "{layers:?}"
    );
    assert!(
        layers.iter().all(|(p, _)| p.starts_with("samples/")),
        "no benign file may match in a layer: {layers:?}"
    );
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains(&format!("scan: {} files", expected.len())),
        "{summary}"
    );
}

/// A file carried over HTTP (chunked, in suricata-verify's evader capture)
/// is extracted and scanned in `replay --yara bundled`: the EICAR body gives
/// a YARA alert with the flow's addresses and the file's hashes.
#[test]
fn replay_scans_http_bodies_with_yara() {
    let root = env!("CARGO_MANIFEST_DIR");
    let t =
        format!("{root}/../shared/conformance/suricata-verify/tests/http-evader/http-evader-000");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_canhgac"))
        .args(["replay", "--yara", "bundled", "-r"])
        .arg(format!("{t}/input.pcap"))
        .arg("-S")
        .arg(format!("{t}/test.rules"))
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
    let yara: Vec<serde_json::Value> = eve
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event_type"] == "alert" && e["alert"]["gid"] == 3)
        .collect();
    assert_eq!(yara.len(), 1, "{eve}");
    assert!(
        yara[0]["alert"]["signature"]
            .as_str()
            .unwrap()
            .contains("EICAR")
    );
    assert_eq!(yara[0]["src_port"], 80);
    assert_eq!(yara[0]["alert"]["metadata"]["author"][0], "canhgac project");
    assert!(eve.contains(
        "\"sha256\":\"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f\""
    ));
}
