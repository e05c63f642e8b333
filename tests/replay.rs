//! `canhgac replay` as a user runs it: pcap + rules → eve.json, compared with
//! what Suricata 7.0.10 alerts on the same data (deploy/demo/README.md).

use std::collections::BTreeMap;
use std::process::Command;

use canhgac::event::Event;

fn canhgac() -> Command {
    Command::new(env!("CARGO_BIN_EXE_canhgac"))
}

/// Per-sid alert counts of Suricata 7.0.10 on the demo capture.
const SURICATA_DEMO_COUNTS: [(u64, usize); 10] = [
    (9000001, 2),
    (9000002, 2),
    (9000003, 2),
    (9000004, 5),
    (9000005, 2),
    (9000006, 2),
    (9000007, 7),
    (9000008, 7),
    (9000009, 2),
    (9000010, 4),
];

#[test]
fn demo_capture_alerts_where_suricata_alerts() {
    let out = tempfile::tempdir().unwrap();
    let status = canhgac()
        .args([
            "replay",
            "-r",
            "deploy/demo/demo.pcap",
            "-S",
            "rules/demo.rules",
            "-l",
        ])
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let eve = std::fs::read_to_string(out.path().join("eve.json")).unwrap();
    let mut counts = BTreeMap::new();
    let mut ids = std::collections::HashSet::new();
    let mut last = None;
    for line in eve.lines() {
        let ev: Event = serde_json::from_str(line).unwrap();
        assert!(ids.insert(ev.event_id.unwrap()), "event ids are unique");
        if let Some(a) = &ev.alert {
            *counts.entry(a.signature_id).or_insert(0usize) += 1;
            assert!(ev.src_ip.is_some() && ev.dest_ip.is_some() && ev.flow_id.is_some());
            assert!(ev.timestamp.ends_with("+0000"));
        }
        last = Some(ev);
    }
    assert_eq!(counts, BTreeMap::from(SURICATA_DEMO_COUNTS));
    let stats = last.unwrap();
    assert_eq!(stats.event_type, "stats");
    let s = stats.stats.unwrap();
    assert_eq!(s["decoder"]["pkts"], 955);
    assert_eq!(s["detect"]["alert"], 35);
}

#[test]
fn bad_rule_file_names_file_line_and_column_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("bad.rules");
    std::fs::write(
        &rules,
        "alert tcp any any -> any 80 (msg:\"ok\"; content:\"GET\"; sid:1;)\n\
         alert tcp any any -> any 80 (msg:\"bad hex\"; content:\"|ZZ|\"; sid:2;)\n\
         alert tcp any any => any 80 (msg:\"bad dir\"; sid:3;)\n",
    )
    .unwrap();
    let out = canhgac()
        .args([
            "replay",
            "--init-errors-fatal",
            "-r",
            "deploy/demo/demo.pcap",
            "-S",
        ])
        .arg(&rules)
        .arg("-l")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let path = rules.display().to_string();
    assert!(
        err.contains(&format!("{path}:2:55: error: `Z` is not a hex digit")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{path}:3:19: error: unknown direction `=>`")),
        "{err}"
    );
    assert!(err.contains("2 errors"), "{err}");
    assert!(!err.contains("panicked"));
    assert!(!dir.path().join("eve.json").exists());

    // Without --init-errors-fatal the bad rules are skipped, each with its
    // diagnostic, and the good one runs.
    let out = canhgac()
        .args(["replay", "-r", "deploy/demo/demo.pcap", "-S"])
        .arg(&rules)
        .arg("-l")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{path}:2:55: error: `Z` is not a hex digit (rule skipped)"
        )),
        "{err}"
    );
    assert!(dir.path().join("eve.json").exists());
}

#[test]
fn corrupt_and_missing_captures_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture file at all, sorry").unwrap();
    for (file, expect) in [
        (junk.display().to_string(), "not a pcap or pcapng file"),
        ("/nonexistent/x.pcap".to_string(), "cannot open"),
    ] {
        let out = canhgac()
            .args(["replay", "-r", &file, "-S", "rules/demo.rules", "-l"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect) && err.contains(&file), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn truncated_capture_keeps_the_packets_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read("deploy/demo/demo.pcap").unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &full[..full.len() / 2 + 7]).unwrap();
    let out = canhgac()
        .args(["replay", "-r"])
        .arg(&cut)
        .args(["-S", "rules/demo.rules", "-l"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eve = std::fs::read_to_string(dir.path().join("eve.json")).unwrap();
    let stats: Event = serde_json::from_str(eve.lines().last().unwrap()).unwrap();
    let pkts = stats.stats.unwrap()["decoder"]["pkts"].as_u64().unwrap();
    assert!(pkts > 300 && pkts < 955, "{pkts}");
}

#[test]
fn rules_check_reports_counts_and_errors() {
    let out = canhgac()
        .args(["rules", "check", "rules/demo.rules"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("rules/demo.rules: 10 loaded, 0 skipped"),
        "{stdout}"
    );
    assert!(stdout.contains("total: 10 loaded, 0 skipped"), "{stdout}");
}

/// `replay --log` runs log files (and standard input) through the log
/// path: one `log` event per line at the time the line gives, parsed
/// fields, bad bytes and over-long lines counted in the `stats` event.
#[test]
fn replay_runs_log_files_and_stdin() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.log");
    let mut text = b"<38>1 2026-11-26T03:00:04Z gw sshd 1 - - Failed password for root from 198.51.100.7 port 5 ssh2\n".to_vec();
    text.extend_from_slice(b"garbage \xff\xfe line\n");
    text.extend(std::iter::repeat_n(b'z', 200_000));
    text.push(b'\n');
    std::fs::write(&auth, text).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_canhgac"))
        .args(["replay", "-l"])
        .arg(dir.path())
        .arg("--log")
        .arg(format!("sshd:{}", auth.display()))
        .args(["--log", "nginx:-"])
        .arg("--sigma")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/conformance/sigma/web"
        ))
        .stdin(std::process::Stdio::piped())
        .output_piped();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"203.0.113.9 - - [26/Nov/2026:10:00:04 +0700] \"GET /?id=1' OR 1=1-- HTTP/1.1\" 200 5 \"-\" \"sqlmap/1.7\"\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eve = std::fs::read_to_string(dir.path().join("eve.json")).unwrap();
    let evs: Vec<serde_json::Value> = eve
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let logs: Vec<&serde_json::Value> = evs.iter().filter(|e| e["event_type"] == "log").collect();
    // sqlmap's user agent: SigmaHQ's scanner rule, with its author kept
    let sigma: Vec<&serde_json::Value> = evs
        .iter()
        .filter(|e| e["event_type"] == "alert" && e["alert"]["gid"] == 4)
        .collect();
    assert!(!sigma.is_empty(), "{eve}");
    assert!(sigma.iter().all(|e| {
        e["sigma"]["author"].is_string()
            && e["alert"]["metadata"]["author"][0].is_string()
            && e["alert"]["signature"]
                .as_str()
                .unwrap()
                .starts_with("SIGMA ")
            && e["log"]["source"] == "stdin"
    }));
    assert_eq!(logs.len(), 4, "{eve}");
    assert_eq!(logs[0]["timestamp"], "2026-11-26T03:00:04.000000+0000");
    assert_eq!(logs[0]["log"]["fields"]["user"], "root");
    assert_eq!(logs[0]["log"]["kind"], "sshd");
    assert_eq!(logs[1]["log"]["parser"], "raw");
    assert_eq!(logs[2]["log"]["truncated"], true);
    assert_eq!(logs[2]["log"]["line"].as_str().unwrap().len(), 64 * 1024);
    assert_eq!(logs[3]["log"]["source"], "stdin");
    assert_eq!(logs[3]["log"]["fields"]["cs-query"], "id=1' OR 1=1--");
    let stats = &evs.last().unwrap()["stats"]["logs"];
    assert_eq!(stats["lines"], 4);
    assert_eq!(stats["truncated"], 1);
    assert_eq!(stats["invalid_utf8"], 1);
    assert_eq!(stats["parsers"]["sshd"], 1);
    assert_eq!(stats["sigma_matches"], sigma.len());
}

trait OutputPiped {
    fn output_piped(&mut self) -> std::process::Child;
}

impl OutputPiped for std::process::Command {
    fn output_piped(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}
