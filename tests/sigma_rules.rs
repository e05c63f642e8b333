//! The bundled Sigma rules (`rules/sigma/`) through `replay`, as a user
//! runs them: every rule loads; each case of `tests/data/sigma/cases.toml`
//! (log lines → expected alerts, correlations included) gives exactly its
//! alerts; alerts carry the rule's title, level, tags and author.

use std::collections::BTreeMap;

use canhgac::sensor::replay::{ReplayOptions, run};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    expect: BTreeMap<String, usize>,
    #[serde(default)]
    absent: Vec<String>,
    block: Vec<Block>,
}

#[derive(Deserialize)]
struct Block {
    line: String,
    #[serde(default = "one")]
    count: usize,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    step_secs: i64,
}

fn one() -> usize {
    1
}

fn lines(c: &Case) -> String {
    let mut out = String::new();
    for b in &c.block {
        let start = b
            .start
            .as_deref()
            .map(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap());
        for i in 0..b.count {
            let mut l = b.line.replace("{i}", &i.to_string());
            if let Some(s) = start {
                let t = s + chrono::Duration::seconds(b.step_secs * i as i64);
                l = l
                    .replace("{t}", &t.to_rfc3339())
                    .replace("{clf}", &t.format("%d/%b/%Y:%H:%M:%S %z").to_string());
            }
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// Replays `text` with the bundled rules; returns the eve events.
fn replay(text: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("input.log");
    std::fs::write(&log, text).unwrap();
    let out = dir.path().join("out");
    run(&ReplayOptions {
        logs: vec![log.display().to_string()],
        sigma: vec!["rules/sigma".into()],
        outdir: out.clone(),
        ..Default::default()
    })
    .unwrap();
    std::fs::read_to_string(out.join("eve.json"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn signatures(events: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in events {
        if let Some(s) = e["alert"]["signature"].as_str() {
            *m.entry(s.to_string()).or_default() += 1;
        }
    }
    m
}

#[test]
fn every_bundled_rule_loads() {
    let (set, report) =
        canhgac::detect::sigma::SigmaRuleSet::load(&[std::path::Path::new("rules/sigma")]);
    assert!(report.diagnostics.is_empty(), "{:#?}", report.diagnostics);
    assert!(set.rules.len() >= 190, "{} rules", set.rules.len());
    assert!(
        set.correlations.len() >= 8,
        "{} correlations",
        set.correlations.len()
    );
    for r in set.rules.iter().filter(|r| r.file.contains("/canhgac/")) {
        assert!(
            r.id.is_some() && r.author.is_some() && r.level.is_some(),
            "{}",
            r.title
        );
    }
    for c in set.correlations.iter().filter(|c| c.name.is_none()) {
        // the correlations that alert say what they are
        assert!(!c.tags.is_empty() && c.level.is_some(), "{}", c.title);
    }
}

#[test]
fn cases_give_their_alerts() {
    let cases: Cases =
        toml::from_str(&std::fs::read_to_string("tests/data/sigma/cases.toml").unwrap()).unwrap();
    assert!(cases.case.len() >= 12);
    let mut failures = Vec::new();
    for c in &cases.case {
        let got = signatures(&replay(&lines(c)));
        for (sig, n) in &c.expect {
            if got.get(sig) != Some(n) {
                failures.push(format!(
                    "{}: expected {n} × {sig}, got {:?}",
                    c.name,
                    got.get(sig)
                ));
            }
        }
        for sig in &c.absent {
            if got.contains_key(sig) {
                failures.push(format!("{}: unexpected {sig}: {got:?}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn alerts_carry_title_level_tags_author_and_the_correlation() {
    let cases: Cases =
        toml::from_str(&std::fs::read_to_string("tests/data/sigma/cases.toml").unwrap()).unwrap();
    let case = cases
        .case
        .iter()
        .find(|c| c.name == "SSH login after many failures")
        .unwrap();
    let events = replay(&lines(case));
    let alert = events
        .iter()
        .find(|e| e["alert"]["signature"] == "SIGMA SSH login succeeded after many failures")
        .unwrap();
    assert_eq!(alert["alert"]["severity"], 1);
    assert_eq!(
        alert["alert"]["category"],
        "Sigma correlation (temporal_ordered)"
    );
    let md = &alert["alert"]["metadata"];
    assert_eq!(md["level"][0], "critical");
    assert_eq!(md["author"][0], "canhgac");
    assert!(
        md["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "attack.t1110")
    );
    assert_eq!(alert["src_ip"], "198.51.100.9");
    assert_eq!(alert["sigma"]["group"]["src_ip"], "198.51.100.9");
    assert_eq!(alert["sigma"]["correlation"], "temporal_ordered");
    // the failures were quiet `sigma` events, not alerts
    let quiet = events
        .iter()
        .filter(|e| {
            e["event_type"] == "sigma" && e["sigma"]["title"] == "SSH authentication failure"
        })
        .count();
    assert_eq!(quiet, 6);
    assert!(
        !events
            .iter()
            .any(|e| e["alert"]["signature"] == "SIGMA SSH authentication failure")
    );
    // a SigmaHQ rule's alert keeps its author (DRL attribution)
    let events = replay(
        "203.0.113.8 - - [26/Nov/2026:10:00:00 +0700] \"GET /x?file=../../../../etc/passwd HTTP/1.1\" 200 1 \"-\" \"curl\"\n",
    );
    let hq = events
        .iter()
        .find(|e| e["alert"]["signature"] == "SIGMA Path Traversal Exploitation Attempts")
        .unwrap();
    assert!(hq["alert"]["metadata"]["author"][0].as_str().unwrap().len() > 3);
    assert!(
        hq["sigma"]["rule_file"]
            .as_str()
            .unwrap()
            .contains("sigmahq/web/")
    );
}
