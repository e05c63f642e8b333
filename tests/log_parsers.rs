//! The log parsers on real, labelled lines: Wazuh's ruleset tests
//! (`../shared/conformance/logs/wazuh-ruleset-tests/*.ini`, ~350 lines of
//! sshd, PAM, sudo, web, firewall and DNS logs, each with the decoder Wazuh
//! expects). For each decoder, a line counts when canhgac's parser
//! understood it and gave the fields that decoder stands for. The rates are
//! printed (`cargo test --test log_parsers -- --nocapture`) and held: a
//! change that parses fewer lines fails here.

use std::collections::BTreeMap;

use canhgac::logs::parse::{Parsed, parse};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/conformance/logs/wazuh-ruleset-tests"
);

/// Whether `p` is what Wazuh's `decoder` stands for.
fn understood(decoder: &str, p: &Parsed) -> bool {
    let has = |k: &str| {
        p.fields
            .get(k)
            .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    };
    match decoder {
        "sshd" => p.parser == "sshd",
        "web-accesslog" => {
            p.parser == "access" && has("c-ip") && has("cs-method") && has("sc-status")
        }
        d if d.starts_with("fortigate") => {
            p.parser == "kv" && has("type") && (has("logid") || has("log_id"))
        }
        "pf" => p.parser == "pf" && has("action") && has("src_ip"),
        d if d.starts_with("web-accesslog-iis") => {
            p.parser == "iis" && has("c-ip") && has("sc-status")
        }
        "kernel" => p.fields.get("program").and_then(|v| v.as_str()) == Some("kernel"),
        "sudo" => p.parser == "sudo" && has("user"),
        "pam" => p.parser == "pam",
        "named" => p.parser == "dns",
        "nginx-errorlog" => p.parser == "nginx_error" && has("level"),
        "apache-errorlog" => p.parser == "apache_error" && has("level"),
        "cisco-asa" => p.parser == "cisco_asa" && has("message_id"),
        "squid-accesslog" => p.parser == "squid" && has("c-ip"),
        other => p.fields.get("program").and_then(|v| v.as_str()) == Some(other),
    }
}

#[test]
fn wazuh_labelled_lines_parse_with_the_expected_fields() {
    let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(DIR)
        .unwrap_or_else(|e| panic!("{DIR}: {e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ini"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        // a block: `log N pass|fail = LINE` lines, then `decoder = NAME`
        let mut lines: Vec<String> = Vec::new();
        for l in text.lines() {
            if l.starts_with('[') {
                lines.clear();
            } else if let Some((head, line)) = l.split_once(" = ")
                && head.starts_with("log ")
            {
                lines.push(line.to_string());
            } else if let Some(d) = l.strip_prefix("decoder =") {
                let d = d.trim();
                if d.is_empty() {
                    continue;
                }
                for line in lines.drain(..) {
                    let p = parse(&line);
                    let ok = understood(d, &p);
                    let e = per.entry(d.to_string()).or_default();
                    e.0 += 1;
                    e.1 += usize::from(ok);
                    if !ok {
                        misses.push(format!("{d}: [{}] {line}", p.parser));
                    }
                }
            }
        }
    }
    let (total, good) = per.values().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    println!("decoder                      lines  parsed");
    for (d, (n, ok)) in &per {
        println!("{d:<28} {n:>5}  {ok:>5}");
    }
    println!("{:<28} {total:>5}  {good:>5}", "all");
    for m in &misses {
        println!("miss {m}");
    }
    assert!(total >= 190, "{total} labelled lines read");
    // held at what the parsers do today: every line of every decoder but
    // IIS 6's own layout (`W3SVC58 host s-ip …`, one line)
    for (d, (n, ok)) in &per {
        if d != "web-accesslog-iis6" {
            assert_eq!(ok, n, "{d}: {ok} of {n} parsed as expected");
        }
    }
    assert!(good + 1 >= total, "{good} of {total} parsed as expected");
}
