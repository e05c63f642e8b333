//! Rule text → expected diagnostic, as data: `tests/data/diagnostics.toml`.
//!
//! Each `[[case]]` loads `rule` (one rule, or several lines standing for a
//! whole rule file) with [`RuleSet::load_str`] and checks:
//!
//! ```toml
//! [[case]]
//! name = "unknown keyword"            # required, unique
//! rule = 'alert tcp any any -> any any (msg:"x"; frobnicate:1; sid:1;)'
//! expect = "frobnicate"               # a diagnostic's message contains this
//! column = 40                         # optional: that diagnostic's 1-based column
//! line = 1                            # optional: its line (default: not checked)
//! diagnostics = 1                     # optional: exact number of diagnostics
//! loaded = 0                          # optional: rules loaded
//! skipped = 1                         # optional: rules skipped
//! loaded_msgs = ["first"]             # optional: msg of each loaded rule, in order
//! ```
//!
//! All cases run in one test, which lists every failing case (with all the
//! diagnostics that were produced) before it panics.

use canhgac::detect::signature::{
    DEFAULT_CLASSIFICATION, LoadReport, RuleSet, Vars, parse_classifications,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    rule: String,
    expect: String,
    column: Option<usize>,
    line: Option<usize>,
    diagnostics: Option<usize>,
    loaded: Option<usize>,
    skipped: Option<usize>,
    loaded_msgs: Option<Vec<String>>,
}

fn check(case: &Case, set: &RuleSet, report: &LoadReport) -> Vec<String> {
    let mut bad = Vec::new();
    // errors (skipped rules) and warnings (loaded rules) both count
    let found: Vec<_> = report
        .diagnostics
        .iter()
        .chain(report.warnings.iter())
        .filter(|d| d.message.contains(&case.expect))
        .collect();
    match found.first() {
        None => bad.push(format!("no diagnostic contains \"{}\"", case.expect)),
        Some(d) => {
            if let Some(c) = case.column
                && d.column != c
            {
                bad.push(format!("column: expected {c}, got {}", d.column));
            }
            if let Some(l) = case.line
                && d.line != l
            {
                bad.push(format!("line: expected {l}, got {}", d.line));
            }
        }
    }
    if let Some(n) = case.diagnostics
        && report.diagnostics.len() != n
    {
        bad.push(format!(
            "diagnostics: expected {n}, got {}",
            report.diagnostics.len()
        ));
    }
    if let Some(n) = case.loaded
        && report.loaded() != n
    {
        bad.push(format!("loaded: expected {n}, got {}", report.loaded()));
    }
    if let Some(n) = case.skipped
        && report.skipped() != n
    {
        bad.push(format!("skipped: expected {n}, got {}", report.skipped()));
    }
    if let Some(msgs) = &case.loaded_msgs {
        let mut got: Vec<&str> = set.rules().iter().map(|r| r.msg.as_str()).collect();
        let mut want: Vec<&str> = msgs.iter().map(String::as_str).collect();
        // the rule set reorders by action and flowbits; compare as sets
        got.sort_unstable();
        want.sort_unstable();
        if got != want {
            bad.push(format!("loaded rules: expected {want:?}, got {got:?}"));
        }
    }
    bad
}

#[test]
fn diagnostics_point_at_the_mistake() {
    let shown = "tests/data/diagnostics.toml";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(shown);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{shown}: {e}"));
    let file: CaseFile = toml::from_str(&text).unwrap_or_else(|e| panic!("{shown}: {e}"));
    assert!(!file.case.is_empty(), "{shown}: no cases");
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for case in &file.case {
        assert!(
            names.insert(case.name.as_str()),
            "{shown}: case name \"{}\" is used twice",
            case.name
        );
        let (set, report) = RuleSet::load_str(
            "case.rules",
            &case.rule,
            &Vars::default(),
            parse_classifications(DEFAULT_CLASSIFICATION),
        );
        let bad = check(case, &set, &report);
        if !bad.is_empty() {
            let mut got = String::new();
            for d in &report.diagnostics {
                got.push_str(&format!("      {d}\n"));
            }
            if got.is_empty() {
                got.push_str("      (none)\n");
            }
            failures.push(format!(
                "{shown}: case \"{}\":\n    {}\n    rule: {}\n    diagnostics:\n{got}    loaded {}, skipped {}\n",
                case.name,
                bad.join("\n    "),
                case.rule.trim_end(),
                report.loaded(),
                report.skipped()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} case(s) failed:\n\n{}",
        failures.len(),
        file.case.len(),
        failures.join("\n")
    );
}
