//! Sigma rules: from YAML (with positions) to compiled selections and a
//! condition, with every problem reported at file:line:column.

use std::net::IpAddr;

use regex::RegexBuilder;

use super::condition::{self, Cond};
use super::matcher::{
    self, EventView, FieldMatch, RefKind, Test, TimePart, base64_of, base64_offsets, glob_regex,
    has_wildcards, unescape, utf16, windash,
};
use super::yaml::{Node, Pos};

/// A rule problem at file:line:column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigmaDiagnostic {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for SigmaDiagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// Which logs a rule is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

/// A compiled detection rule.
#[derive(Debug, Clone)]
pub struct SigmaRule {
    pub title: String,
    pub id: Option<String>,
    /// The `name` correlations may refer to it by.
    pub name: Option<String>,
    pub level: Option<String>,
    pub status: Option<String>,
    pub author: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub references: Vec<String>,
    pub logsource: LogSource,
    pub file: String,
    /// Selection names, in order (the condition refers to them by index).
    pub names: Vec<String>,
    /// Each selection: any of these groups, a group being all of its
    /// field matches.
    pub selections: Vec<Vec<Vec<FieldMatch>>>,
    /// Conditions (a list means any of them).
    pub conditions: Vec<Cond>,
}

impl SigmaRule {
    /// Whether the event matches.
    pub fn matches(&self, ev: &EventView<'_>) -> bool {
        let mut cache: Vec<Option<bool>> = vec![None; self.selections.len()];
        let mut sel = |i: usize| {
            if let Some(r) = cache.get(i).copied().flatten() {
                return r;
            }
            let r = self
                .selections
                .get(i)
                .is_some_and(|groups| groups.iter().any(|g| g.iter().all(|m| m.matches(ev))));
            if let Some(c) = cache.get_mut(i) {
                *c = Some(r);
            }
            r
        };
        self.conditions.iter().any(|c| c.eval(&mut sel))
    }
}

/// What loading one document gave.
pub enum Loaded {
    Rule(Box<SigmaRule>),
    /// A correlation rule.
    Correlation(Box<super::correlation::Correlation>),
    /// A filter: not a detection.
    Other(&'static str),
}

struct Ctx<'a> {
    file: &'a str,
    diags: Vec<SigmaDiagnostic>,
}

impl Ctx<'_> {
    fn err(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags.push(SigmaDiagnostic {
            file: self.file.to_string(),
            line: pos.line,
            col: pos.col,
            message: message.into(),
        });
    }
}

/// The text of a scalar node.
pub(super) fn text(n: Option<&Node>) -> Option<String> {
    n.and_then(Node::as_str).map(str::to_string)
}

/// A scalar or a list of scalars, as texts.
pub(super) fn texts(n: Option<&Node>) -> Vec<String> {
    match n {
        Some(Node::Seq { items, .. }) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        Some(Node::Scalar { text, .. }) => vec![text.clone()],
        _ => Vec::new(),
    }
}

/// Compiles one YAML document of `file`.
///
/// # Errors
/// Every problem found, at its position.
pub fn compile(doc: &Node, file: &str) -> Result<Loaded, Vec<SigmaDiagnostic>> {
    if doc.get("correlation").is_some() {
        return super::correlation::compile(doc, file).map(|c| Loaded::Correlation(Box::new(c)));
    }
    if doc.get("filter").is_some() && doc.get("detection").is_none() {
        return Ok(Loaded::Other("filter"));
    }
    let mut cx = Ctx {
        file,
        diags: Vec::new(),
    };
    let title = text(doc.get("title")).unwrap_or_default();
    if title.is_empty() {
        cx.err(doc.pos(), "a rule needs a `title`");
    }
    let logsource = doc.get("logsource");
    let ls = LogSource {
        product: text(logsource.and_then(|l| l.get("product"))),
        category: text(logsource.and_then(|l| l.get("category"))),
        service: text(logsource.and_then(|l| l.get("service"))),
    };
    let Some(det) = doc.get("detection") else {
        cx.err(doc.pos(), "a rule needs a `detection`");
        return Err(cx.diags);
    };
    let Node::Map { entries, .. } = det else {
        cx.err(det.pos(), "`detection` must be a mapping");
        return Err(cx.diags);
    };
    let mut names = Vec::new();
    let mut selections = Vec::new();
    for (k, v) in entries {
        let Some(name) = k.as_str() else { continue };
        if matches!(name, "condition" | "timeframe") {
            continue;
        }
        names.push(name.to_string());
        selections.push(selection(&mut cx, v));
    }
    let mut conditions = Vec::new();
    let conds: Vec<&Node> = match det.get("condition") {
        Some(Node::Seq { items, .. }) => items.iter().collect(),
        Some(n) => vec![n],
        None => {
            cx.err(det.pos(), "`detection` needs a `condition`");
            Vec::new()
        }
    };
    for c in conds {
        let t = c.as_str().unwrap_or_default();
        match condition::parse(t, &names) {
            Ok(cond) => conditions.push(cond),
            Err(e) => {
                // the column inside a plain scalar is its own column plus
                // the offset in the text
                let p = c.pos();
                let quoted = matches!(c, Node::Scalar { quoted: true, .. });
                cx.err(
                    Pos {
                        line: p.line,
                        col: p.col + e.col - 1 + usize::from(quoted),
                    },
                    format!("condition: {}", e.message),
                );
            }
        }
    }
    if !cx.diags.is_empty() {
        return Err(cx.diags);
    }
    Ok(Loaded::Rule(Box::new(SigmaRule {
        title,
        id: text(doc.get("id")),
        name: text(doc.get("name")),
        level: text(doc.get("level")),
        status: text(doc.get("status")),
        author: text(doc.get("author")),
        description: text(doc.get("description")),
        tags: texts(doc.get("tags")),
        references: texts(doc.get("references")),
        logsource: ls,
        file: file.to_string(),
        names,
        selections,
        conditions,
    })))
}

/// A selection: a map (all of its fields), a list of maps (any), or a list
/// of keywords.
fn selection(cx: &mut Ctx<'_>, v: &Node) -> Vec<Vec<FieldMatch>> {
    match v {
        Node::Map { entries, .. } => vec![fields(cx, entries)],
        Node::Seq { items, .. } if items.iter().all(|i| matches!(i, Node::Map { .. })) => items
            .iter()
            .filter_map(|i| match i {
                Node::Map { entries, .. } => Some(fields(cx, entries)),
                _ => None,
            })
            .collect(),
        Node::Seq { items, .. } => {
            let vals: Vec<&Node> = items.iter().collect();
            match field_match(cx, None, &[], &vals, v.pos()) {
                Some(m) => vec![vec![m]],
                None => Vec::new(),
            }
        }
        Node::Scalar { .. } => match field_match(cx, None, &[], &[v], v.pos()) {
            Some(m) => vec![vec![m]],
            None => Vec::new(),
        },
    }
}

fn fields(cx: &mut Ctx<'_>, entries: &[(Node, Node)]) -> Vec<FieldMatch> {
    let mut out = Vec::new();
    for (k, v) in entries {
        let key = k.as_str().unwrap_or_default();
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default();
        let mods: Vec<&str> = parts.collect();
        let vals: Vec<&Node> = match v {
            Node::Seq { items, .. } => items.iter().collect(),
            other => vec![other],
        };
        let field = (!field.is_empty()).then_some(field);
        if let Some(m) = field_match(cx, field, &mods, &vals, k.pos()) {
            out.push(m);
        }
    }
    out
}

const MODIFIERS: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "all",
    "re",
    "i",
    "m",
    "s",
    "cidr",
    "base64",
    "base64offset",
    "utf16le",
    "utf16be",
    "utf16",
    "wide",
    "windash",
    "exists",
    "cased",
    "neq",
    "lt",
    "lte",
    "gt",
    "gte",
    "fieldref",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "year",
];

fn field_match(
    cx: &mut Ctx<'_>,
    field: Option<&str>,
    mods: &[&str],
    vals: &[&Node],
    pos: Pos,
) -> Option<FieldMatch> {
    for m in mods {
        if !MODIFIERS.contains(m) {
            cx.err(pos, format!("unknown modifier `{m}`"));
            return None;
        }
    }
    let has = |m: &str| mods.contains(&m);
    let time_part = [
        ("minute", TimePart::Minute),
        ("hour", TimePart::Hour),
        ("day", TimePart::Day),
        ("week", TimePart::Week),
        ("month", TimePart::Month),
        ("year", TimePart::Year),
    ]
    .iter()
    .find(|(n, _)| has(n))
    .map(|(_, p)| *p);
    let cased = has("cased");
    let mut fm = FieldMatch {
        field: field.map(str::to_string),
        tests: Vec::new(),
        all: has("all"),
        cased,
        negate: has("neq"),
        exists: None,
        null: false,
        time_part,
    };
    if has("exists") {
        let v = vals.first().and_then(|v| v.as_str()).unwrap_or_default();
        fm.exists = match v {
            "true" | "yes" => Some(true),
            "false" | "no" => Some(false),
            _ => {
                cx.err(pos, "`exists` takes true or false");
                return None;
            }
        };
        return Some(fm);
    }
    let fold = |s: String| if cased { s } else { s.to_lowercase() };
    for v in vals {
        if v.is_null() {
            fm.null = true;
            continue;
        }
        let Some(raw) = v.as_str() else {
            cx.err(v.pos(), "a value must be a scalar");
            continue;
        };
        // the alternatives one value stands for
        let mut alts: Vec<String> = vec![raw.to_string()];
        if has("windash") {
            alts = alts.iter().flat_map(|a| windash(a)).collect();
        }
        let wide = has("wide") || has("utf16le") || has("utf16") || has("utf16be");
        if has("base64") || has("base64offset") {
            alts = alts
                .iter()
                .flat_map(|a| {
                    let bytes = if wide {
                        utf16(&unescape(a), has("utf16be"))
                    } else {
                        unescape(a).into_bytes()
                    };
                    if has("base64offset") {
                        base64_offsets(&bytes)
                    } else {
                        vec![base64_of(&bytes)]
                    }
                })
                .collect();
        } else if wide {
            alts = alts
                .iter()
                .map(|a| String::from_utf8_lossy(&utf16(a, has("utf16be"))).into_owned())
                .collect();
        }
        for a in alts {
            let t = if has("re") {
                match RegexBuilder::new(&a)
                    .case_insensitive(has("i"))
                    .multi_line(has("m"))
                    .dot_matches_new_line(has("s"))
                    .size_limit(1 << 20)
                    .build()
                {
                    Ok(r) => Test::Re(r),
                    Err(e) => {
                        let first = e.to_string();
                        let first = first.lines().last().unwrap_or_default().to_string();
                        cx.err(v.pos(), format!("`re`: {first}"));
                        continue;
                    }
                }
            } else if has("cidr") {
                let (net, len) = a.split_once('/').unwrap_or((a.as_str(), ""));
                match (net.parse::<IpAddr>(), len.parse::<u8>()) {
                    (Ok(ip), Ok(l)) if l <= if ip.is_ipv4() { 32 } else { 128 } => {
                        Test::Cidr(ip, l)
                    }
                    _ => {
                        cx.err(v.pos(), format!("`cidr`: `{a}` is not an address/length"));
                        continue;
                    }
                }
            } else if let Some(op) = ["lt", "lte", "gt", "gte"].iter().find(|o| has(o)) {
                let Ok(n) = a.trim().parse::<f64>() else {
                    cx.err(v.pos(), format!("`{op}` needs a number, not `{a}`"));
                    continue;
                };
                match *op {
                    "lt" => Test::Lt(n),
                    "lte" => Test::Lte(n),
                    "gt" => Test::Gt(n),
                    _ => Test::Gte(n),
                }
            } else if has("fieldref") {
                let kind = if has("contains") {
                    RefKind::Contains
                } else if has("startswith") {
                    RefKind::StartsWith
                } else if has("endswith") {
                    RefKind::EndsWith
                } else {
                    RefKind::Eq
                };
                Test::FieldRef(a, kind)
            } else {
                let (pre, post) = if has("contains") {
                    ("*", "*")
                } else if has("startswith") {
                    ("", "*")
                } else if has("endswith") {
                    ("*", "")
                } else {
                    ("", "")
                };
                if has_wildcards(&a) {
                    match glob_regex(&format!("{pre}{a}{post}"), cased) {
                        Some(r) => Test::Glob(r, matcher::glob_literal(&a)),
                        None => {
                            cx.err(v.pos(), "this value cannot be compiled");
                            continue;
                        }
                    }
                } else {
                    let s = fold(unescape(&a));
                    match (pre, post) {
                        ("*", "*") => matcher::contains(&s),
                        ("", "*") => Test::StartsWith(s),
                        ("*", "") => Test::EndsWith(s),
                        _ if field.is_none() => matcher::contains(&s),
                        _ => Test::Eq(s),
                    }
                }
            };
            fm.tests.push(t);
        }
    }
    if fm.tests.is_empty() && !fm.null {
        return None;
    }
    Some(fm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(text: &str) -> SigmaRule {
        let docs = super::super::yaml::parse(text).unwrap();
        match compile(&docs[0], "t.yml") {
            Ok(Loaded::Rule(r)) => *r,
            Ok(Loaded::Other(k)) => panic!("{k}"),
            Ok(Loaded::Correlation(c)) => panic!("correlation {}", c.title),
            Err(d) => panic!("{d:?}"),
        }
    }

    fn errors(text: &str) -> Vec<String> {
        let docs = super::super::yaml::parse(text).unwrap();
        match compile(&docs[0], "t.yml") {
            Err(d) => d.iter().map(ToString::to_string).collect(),
            Ok(_) => Vec::new(),
        }
    }

    #[test]
    fn a_web_rule_matches_what_it_should() {
        let r = rule(
            r#"title: SQL injection against the portal
id: 1
level: high
author: canhgac
tags: [attack.initial-access, attack.t1190]
logsource: {category: webserver}
detection:
  sqli:
    cs-uri-query|contains|all: ["union", "select"]
  scanner:
    cs-user-agent|contains: [sqlmap, nikto]
  filter_ok:
    sc-status: 404
  condition: (sqli or scanner) and not filter_ok
"#,
        );
        assert_eq!(r.tags.len(), 2);
        let f = json!({"cs-uri-query": "id=1 UNION ALL SELECT", "sc-status": "200", "cs-user-agent": "x"});
        assert!(r.matches(&EventView::new(f.as_object().unwrap(), "")));
        let f = json!({"cs-uri-query": "id=1 UNION ALL SELECT", "sc-status": "404"});
        assert!(!r.matches(&EventView::new(f.as_object().unwrap(), "")));
        let f = json!({"cs-uri-query": "id=1", "cs-user-agent": "sqlmap/1.7", "sc-status": 200});
        assert!(r.matches(&EventView::new(f.as_object().unwrap(), "")));
    }

    #[test]
    fn keywords_and_null() {
        let r = rule(
            "title: k\nlogsource: {product: linux}\ndetection:\n  keywords:\n    - 'Failed password'\n    - 'authentication failure'\n  nouser:\n    user: null\n  condition: keywords and not nouser\n",
        );
        let f = json!({"user": "root"});
        assert!(r.matches(&EventView::new(
            f.as_object().unwrap(),
            "sshd: FAILED PASSWORD for root"
        )));
        let f = json!({});
        assert!(!r.matches(&EventView::new(
            f.as_object().unwrap(),
            "sshd: Failed password for root"
        )));
    }

    #[test]
    fn problems_are_reported_where_they_are() {
        let e = errors("title: t\ndetection:\n  sel:\n    a|foo: x\n  condition: sel\n");
        assert_eq!(e, ["t.yml:4:5: unknown modifier `foo`"]);
        let e = errors("title: t\ndetection:\n  sel:\n    a: x\n  condition: sel and nosuch\n");
        assert_eq!(
            e,
            ["t.yml:5:22: condition: no selection named `nosuch` in this rule"]
        );
        let e = errors("title: t\ndetection:\n  sel:\n    a|re: '(?<=x)y'\n  condition: sel\n");
        assert!(e[0].starts_with("t.yml:4:11: `re`:"), "{e:?}");
        let e =
            errors("title: t\ndetection:\n  sel:\n    ip|cidr: 10.0.0.0/33\n  condition: sel\n");
        assert!(e[0].starts_with("t.yml:4:14: `cidr`"), "{e:?}");
        assert!(!errors("detection:\n  sel: x\n  condition: sel\n").is_empty());
    }
}
