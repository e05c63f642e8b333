//! The Sigma groundwork on the 295 curated public rules in
//! `../shared/conformance/sigma/`: every file reads as YAML with
//! positions, and every detection's condition parses against the rule's
//! own selection names. (Matching comes with the rest of the engine.)

use canhgac::detect::sigma::{condition, yaml};

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
