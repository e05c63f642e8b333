//! Drill scenarios: the YAML format of `docs/drills.md`, read with every
//! node's position so that each problem is reported at file:line:column,
//! as for every other rule language in canhgac.
//!
//! Validation checks what a coordinator would otherwise discover in the
//! middle of a drill: an inject whose file is missing, a trigger naming an
//! inject that does not exist, a tabletop scenario with traffic injects, an
//! expected detection that no shipped rule can produce, a playbook that is
//! not bundled.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::detect::sigma::yaml::{self, Node, Pos};

/// One problem, at a position of the scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

/// Text in both console languages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text {
    pub vi: String,
    pub en: String,
}

/// When an inject is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// Seconds after the start.
    At(u64),
    /// After the team acknowledges the incident.
    Acknowledged,
    /// After the team contains it.
    Contained,
    /// After another inject.
    AfterInject(String),
}

/// What an inject carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Logs {
        lines: Vec<String>,
        log_kind: Option<String>,
    },
    Pcap {
        /// The file name as the scenario gives it.
        file: PathBuf,
        /// The capture.
        data: Vec<u8>,
    },
    Message(Text),
    Conditions(Text),
}

/// One inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inject {
    pub id: String,
    pub when: When,
    pub payload: Payload,
    /// A question the team answers in the console (message and
    /// conditions injects; tabletop drills are scored on them).
    pub question: Option<Question>,
}

/// A multiple-choice question asked with an inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub text: Text,
    pub choices: Vec<Text>,
    /// The right choice, from 0.
    pub answer: usize,
}

/// What the team should achieve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// `sigma:<id>`, `sid:<n>`, `yara:<rule>`.
    pub detections: Vec<String>,
    pub category: String,
    pub severity_max: i64,
    /// A bundled playbook's file stem, or a CACAO id.
    pub playbook: String,
    /// canhgac actions the run must perform.
    pub key_steps: Vec<String>,
    /// The attacking addresses: a block of any other address is a wrong
    /// target. Empty: the sources of the drill's own alerts.
    pub attackers: Vec<String>,
}

/// A scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub name: String,
    pub title: Text,
    pub briefing: Text,
    pub units: Vec<String>,
    pub tabletop: bool,
    pub difficulty: String,
    pub duration_mins: u64,
    pub injects: Vec<Inject>,
    pub expected: Expected,
    /// (name, minutes): acknowledge, contain, report.
    pub deadlines: Vec<(String, u64)>,
    /// (name, points).
    pub scoring: Vec<(String, i64)>,
}

/// The default points (see `docs/drills.md`).
pub const SCORING: [(&str, i64); 11] = [
    ("detected", 10),
    ("acknowledged", 10),
    ("category", 10),
    ("severity", 5),
    ("playbook", 10),
    ("key_step", 10),
    ("contained", 15),
    ("report", 15),
    ("missed_step", -5),
    ("wrong_target", -10),
    ("answer", 10),
];

/// The ids shipped rules can produce, to check expected detections against.
#[derive(Debug, Clone, Default)]
pub struct KnownRules {
    pub sigma: BTreeSet<String>,
    pub sids: BTreeSet<u64>,
    pub yara: BTreeSet<String>,
}

impl KnownRules {
    /// Collects rule ids from a rules folder (`rules/`): Sigma `id:` lines,
    /// signature `sid:` options, YARA `rule` names. A light scan of the
    /// text, enough to catch a typo in a scenario.
    pub fn scan(dir: &Path) -> KnownRules {
        let mut k = KnownRules::default();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&p) else {
                    continue;
                };
                match p.extension().and_then(|x| x.to_str()) {
                    Some("yml" | "yaml") => {
                        for l in text.lines() {
                            if let Some(id) = l.strip_prefix("id:") {
                                k.sigma
                                    .insert(id.trim().trim_matches(['"', '\'']).to_string());
                            }
                        }
                    }
                    Some("rules") => {
                        for part in text.split("sid:").skip(1) {
                            let n: String = part
                                .trim_start()
                                .chars()
                                .take_while(char::is_ascii_digit)
                                .collect();
                            if let Ok(n) = n.parse() {
                                k.sids.insert(n);
                            }
                        }
                    }
                    Some("yar" | "yara") => {
                        for l in text.lines() {
                            let l = l.trim_start();
                            let rest = l
                                .strip_prefix("private rule ")
                                .or_else(|| l.strip_prefix("global rule "))
                                .or_else(|| l.strip_prefix("rule "));
                            if let Some(r) = rest {
                                let name: String = r
                                    .chars()
                                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                                    .collect();
                                if !name.is_empty() {
                                    k.yara.insert(name);
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        k
    }
}

/// Reads a file a scenario names (relative to the scenario's folder).
pub type Files<'a> = &'a dyn Fn(&str) -> Result<Vec<u8>, String>;

struct Ctx<'a> {
    diags: Vec<Diagnostic>,
    files: Files<'a>,
}

impl Ctx<'_> {
    fn err(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            line: pos.line,
            col: pos.col,
            message: message.into(),
        });
    }
}

fn text_of(c: &mut Ctx<'_>, n: Option<&Node>, at: Pos, key: &str) -> Text {
    let Some(n) = n else {
        c.err(at, format!("`{key}` is missing (give `vi` and `en`)"));
        return Text::default();
    };
    let mut t = Text::default();
    for (lang, slot) in [("vi", &mut t.vi), ("en", &mut t.en)] {
        match n.get(lang).and_then(Node::as_str) {
            Some(s) if !s.trim().is_empty() => *slot = s.to_string(),
            _ => c.err(n.pos(), format!("`{key}.{lang}` is missing or empty")),
        }
    }
    t
}

/// Parses `30s`, `5m`, `1h` (or plain seconds).
pub fn parse_offset(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix('s') {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600)
    } else {
        (s, 1)
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

fn uint(c: &mut Ctx<'_>, n: &Node, key: &str) -> Option<u64> {
    match n.as_str().and_then(|s| s.trim().parse::<u64>().ok()) {
        Some(v) if v > 0 => Some(v),
        _ => {
            c.err(n.pos(), format!("`{key}` must be a whole number above 0"));
            None
        }
    }
}

const TOP: [&str; 10] = [
    "title",
    "briefing",
    "units",
    "mode",
    "difficulty",
    "duration_mins",
    "injects",
    "expected",
    "deadlines",
    "scoring",
];

/// Reads and validates a scenario file. `rules`: what shipped rules can
/// produce (skipped when `None`).
///
/// # Errors
/// Every problem found, at its line and column.
pub fn load(path: &Path, rules: Option<&KnownRules>) -> Result<Scenario, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic {
            line: 1,
            col: 1,
            message: format!("cannot read: {e}"),
        }]
    })?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let files = move |rel: &str| -> Result<Vec<u8>, String> {
        let p = Path::new(rel);
        if !p
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err("must be a path inside the scenarios folder".into());
        }
        std::fs::read(base.join(p)).map_err(|e| e.to_string())
    };
    parse(&name, &text, &files, rules)
}

/// [`load`] for a text; the files it names are read with `files`.
///
/// # Errors
/// Every problem found.
pub fn parse(
    name: &str,
    text: &str,
    files: Files<'_>,
    rules: Option<&KnownRules>,
) -> Result<Scenario, Vec<Diagnostic>> {
    let docs = yaml::parse(text).map_err(|e| {
        vec![Diagnostic {
            line: e.pos.line,
            col: e.pos.col,
            message: format!("not valid YAML: {}", e.message),
        }]
    })?;
    let root = match docs.as_slice() {
        [one] => one,
        _ => {
            return Err(vec![Diagnostic {
                line: 1,
                col: 1,
                message: "one scenario per file (one YAML document)".into(),
            }]);
        }
    };
    let mut c = Ctx {
        diags: Vec::new(),
        files,
    };
    let Node::Map { entries, pos } = root else {
        return Err(vec![Diagnostic {
            line: root.pos().line,
            col: root.pos().col,
            message: "a scenario is a mapping (title:, injects:, …)".into(),
        }]);
    };
    let top = *pos;
    for (k, _) in entries {
        if let Some(key) = k.as_str()
            && !TOP.contains(&key)
        {
            c.err(
                k.pos(),
                format!("unknown key `{key}`; expected one of {}", TOP.join(", ")),
            );
        }
    }
    let title = text_of(&mut c, root.get("title"), top, "title");
    let briefing = text_of(&mut c, root.get("briefing"), top, "briefing");
    let units: Vec<String> = match root.get("units") {
        Some(Node::Seq { items, .. }) => items
            .iter()
            .filter_map(Node::as_str)
            .map(str::to_string)
            .collect(),
        Some(n) => {
            c.err(
                n.pos(),
                "`units` is a list of unit kinds (commune, ward, agency, site…) or [any]",
            );
            Vec::new()
        }
        None => vec!["any".into()],
    };
    let tabletop = match root.get("mode").and_then(Node::as_str) {
        None | Some("sensor") => false,
        Some("tabletop") => true,
        Some(other) => {
            if let Some(n) = root.get("mode") {
                c.err(n.pos(), format!("mode `{other}`: sensor or tabletop"));
            }
            false
        }
    };
    let difficulty = root
        .get("difficulty")
        .and_then(Node::as_str)
        .unwrap_or("medium")
        .to_string();
    if !matches!(difficulty.as_str(), "easy" | "medium" | "hard")
        && let Some(n) = root.get("difficulty")
    {
        c.err(
            n.pos(),
            format!("difficulty `{difficulty}`: easy, medium or hard"),
        );
    }
    let duration_mins = match root.get("duration_mins") {
        Some(n) => uint(&mut c, n, "duration_mins").unwrap_or(60),
        None => 60,
    };
    let injects = injects(&mut c, root, top, tabletop);
    let expected = expected(&mut c, root, rules, tabletop);
    let mut deadlines = Vec::new();
    if let Some(d) = root.get("deadlines") {
        if let Node::Map { entries, .. } = d {
            for (k, v) in entries {
                let key = k.as_str().unwrap_or_default();
                if !matches!(key, "acknowledge_mins" | "contain_mins" | "report_mins") {
                    c.err(
                        k.pos(),
                        format!(
                            "unknown deadline `{key}`: acknowledge_mins, contain_mins, report_mins"
                        ),
                    );
                } else if let Some(m) = uint(&mut c, v, key) {
                    deadlines.push((key.trim_end_matches("_mins").to_string(), m));
                }
            }
        } else {
            c.err(d.pos(), "`deadlines` is a mapping");
        }
    }
    let mut scoring: Vec<(String, i64)> =
        SCORING.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    if let Some(s) = root.get("scoring") {
        if let Node::Map { entries, .. } = s {
            for (k, v) in entries {
                let key = k.as_str().unwrap_or_default();
                let Some(slot) = scoring.iter_mut().find(|(n, _)| n == key) else {
                    c.err(
                        k.pos(),
                        format!(
                            "unknown scoring item `{key}`; expected one of {}",
                            SCORING
                                .iter()
                                .map(|(k, _)| *k)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    continue;
                };
                match v.as_str().and_then(|s| s.trim().parse::<i64>().ok()) {
                    Some(p) if (-1000..=1000).contains(&p) => slot.1 = p,
                    _ => c.err(
                        v.pos(),
                        format!("`scoring.{key}` must be a whole number of points (-1000…1000)"),
                    ),
                }
            }
        } else {
            c.err(s.pos(), "`scoring` is a mapping");
        }
    }
    if c.diags.is_empty() {
        Ok(Scenario {
            name: name.to_string(),
            title,
            briefing,
            units,
            tabletop,
            difficulty,
            duration_mins,
            injects,
            expected,
            deadlines,
            scoring,
        })
    } else {
        c.diags.sort_by_key(|d| (d.line, d.col));
        Err(c.diags)
    }
}

fn injects(c: &mut Ctx<'_>, root: &Node, top: Pos, tabletop: bool) -> Vec<Inject> {
    let items = match root.get("injects") {
        Some(Node::Seq { items, .. }) if !items.is_empty() => items,
        Some(n) => {
            c.err(n.pos(), "`injects` is a non-empty list");
            return Vec::new();
        }
        None => {
            c.err(top, "`injects` is missing");
            return Vec::new();
        }
    };
    let ids: Vec<String> = items
        .iter()
        .filter_map(|i| i.get("id").and_then(Node::as_str).map(str::to_string))
        .collect();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for it in items {
        let p = it.pos();
        let Some(id) = it.get("id").and_then(Node::as_str) else {
            c.err(p, "an inject needs an `id`");
            continue;
        };
        if !seen.insert(id.to_string()) {
            c.err(p, format!("inject id `{id}` is used twice"));
        }
        for (k, _) in match it {
            Node::Map { entries, .. } => entries.as_slice(),
            _ => &[],
        } {
            let key = k.as_str().unwrap_or_default();
            if !matches!(
                key,
                "id" | "at"
                    | "after"
                    | "kind"
                    | "file"
                    | "lines"
                    | "log_kind"
                    | "text"
                    | "question"
                    | "choices"
                    | "answer"
            ) {
                c.err(k.pos(), format!("unknown inject key `{key}`"));
            }
        }
        let when = match (it.get("at"), it.get("after")) {
            (Some(a), None) => match a.as_str().and_then(parse_offset) {
                Some(s) => When::At(s),
                None => {
                    c.err(a.pos(), "`at` is an offset such as 30s, 5m or 1h");
                    continue;
                }
            },
            (None, Some(a)) => match a.as_str().unwrap_or_default() {
                "acknowledged" => When::Acknowledged,
                "contained" => When::Contained,
                t => match t.strip_prefix("inject:") {
                    Some(other) if ids.iter().any(|i| i == other) && other != id => {
                        When::AfterInject(other.to_string())
                    }
                    Some(other) => {
                        c.err(
                            a.pos(),
                            format!("`after: inject:{other}`: there is no other inject `{other}`"),
                        );
                        continue;
                    }
                    None => {
                        c.err(
                            a.pos(),
                            format!("`after: {t}`: acknowledged, contained or inject:<id>"),
                        );
                        continue;
                    }
                },
            },
            _ => {
                c.err(p, format!("inject `{id}`: give either `at` or `after`"));
                continue;
            }
        };
        let kind = it.get("kind").and_then(Node::as_str).unwrap_or_default();
        let payload = match kind {
            "logs" => {
                let lines: Vec<String> = match (it.get("file"), it.get("lines")) {
                    (Some(f), None) => {
                        let rel = f.as_str().unwrap_or_default();
                        match (c.files)(rel) {
                            Ok(t) => String::from_utf8_lossy(&t)
                                .lines()
                                .filter(|l| !l.trim().is_empty())
                                .map(str::to_string)
                                .collect(),
                            Err(e) => {
                                c.err(f.pos(), format!("log file {rel}: {e}"));
                                continue;
                            }
                        }
                    }
                    (None, Some(Node::Seq { items, .. })) => items
                        .iter()
                        .filter_map(Node::as_str)
                        .map(str::to_string)
                        .collect(),
                    _ => {
                        c.err(
                            p,
                            format!("inject `{id}`: logs need either `file` or `lines`"),
                        );
                        continue;
                    }
                };
                if lines.is_empty() {
                    c.err(p, format!("inject `{id}`: no log lines"));
                }
                Payload::Logs {
                    lines,
                    log_kind: it
                        .get("log_kind")
                        .and_then(Node::as_str)
                        .map(str::to_string),
                }
            }
            "pcap" => {
                let Some(f) = it.get("file") else {
                    c.err(p, format!("inject `{id}`: a pcap inject needs `file`"));
                    continue;
                };
                let rel = f.as_str().unwrap_or_default();
                let data = match (c.files)(rel) {
                    Ok(d)
                        if d.len() >= 24
                            && matches!(
                                d[..4],
                                [0xd4, 0xc3, 0xb2, 0xa1]
                                    | [0xa1, 0xb2, 0xc3, 0xd4]
                                    | [0x4d, 0x3c, 0xb2, 0xa1]
                                    | [0xa1, 0xb2, 0x3c, 0x4d]
                                    | [0x0a, 0x0d, 0x0d, 0x0a]
                            ) =>
                    {
                        d
                    }
                    Ok(_) => {
                        c.err(f.pos(), format!("capture {rel} is not a pcap file"));
                        Vec::new()
                    }
                    Err(e) => {
                        c.err(f.pos(), format!("capture {rel}: {e}"));
                        Vec::new()
                    }
                };
                Payload::Pcap {
                    file: PathBuf::from(rel),
                    data,
                }
            }
            "message" | "conditions" => {
                let t = text_of(c, it.get("text"), p, "text");
                if kind == "message" {
                    Payload::Message(t)
                } else {
                    Payload::Conditions(t)
                }
            }
            other => {
                let at = it.get("kind").map(Node::pos).unwrap_or(p);
                c.err(
                    at,
                    format!("inject kind `{other}`: logs, pcap, message or conditions"),
                );
                continue;
            }
        };
        if tabletop && matches!(payload, Payload::Logs { .. } | Payload::Pcap { .. }) {
            c.err(
                p,
                format!(
                    "inject `{id}`: a tabletop scenario has only message and conditions injects"
                ),
            );
        }
        let question = question(c, it, id, &payload);
        out.push(Inject {
            id: id.to_string(),
            when,
            payload,
            question,
        });
    }
    out
}

fn question(c: &mut Ctx<'_>, it: &Node, id: &str, payload: &Payload) -> Option<Question> {
    let q = it.get("question")?;
    if !matches!(payload, Payload::Message(_) | Payload::Conditions(_)) {
        c.err(
            q.pos(),
            format!("inject `{id}`: only message and conditions injects ask questions"),
        );
        return None;
    }
    let text = text_of(c, Some(q), q.pos(), "question");
    let choices: Vec<Text> = match it.get("choices") {
        Some(Node::Seq { items, .. }) if items.len() >= 2 => items
            .iter()
            .map(|n| text_of(c, Some(n), n.pos(), "choices[]"))
            .collect(),
        Some(n) => {
            c.err(
                n.pos(),
                "`choices` is a list of at least two answers (vi, en)",
            );
            return None;
        }
        None => {
            c.err(
                q.pos(),
                format!("inject `{id}`: a question needs `choices`"),
            );
            return None;
        }
    };
    let answer = match it.get("answer") {
        Some(n) => match n.as_str().and_then(|s| s.trim().parse::<usize>().ok()) {
            Some(a) if (1..=choices.len()).contains(&a) => a - 1,
            _ => {
                c.err(
                    n.pos(),
                    format!(
                        "`answer` is the number of the right choice, 1 to {}",
                        choices.len()
                    ),
                );
                return None;
            }
        },
        None => {
            c.err(q.pos(), format!("inject `{id}`: a question needs `answer`"));
            return None;
        }
    };
    Some(Question {
        text,
        choices,
        answer,
    })
}

fn expected(c: &mut Ctx<'_>, root: &Node, rules: Option<&KnownRules>, tabletop: bool) -> Expected {
    let mut e = Expected {
        severity_max: 4,
        ..Expected::default()
    };
    let Some(x) = root.get("expected") else {
        if !tabletop {
            c.err(
                root.pos(),
                "`expected` is missing (detections, category, playbook…)",
            );
        }
        return e;
    };
    for (k, _) in match x {
        Node::Map { entries, .. } => entries.as_slice(),
        _ => &[],
    } {
        let key = k.as_str().unwrap_or_default();
        if !matches!(
            key,
            "detections" | "category" | "severity_max" | "playbook" | "key_steps" | "attackers"
        ) {
            c.err(k.pos(), format!("unknown key `expected.{key}`"));
        }
    }
    if let Some(Node::Seq { items, .. }) = x.get("detections") {
        for d in items {
            let s = d.as_str().unwrap_or_default().trim().to_string();
            let ok = if let Some(id) = s.strip_prefix("sigma:") {
                rules.is_none_or(|r| r.sigma.contains(id))
            } else if let Some(n) = s.strip_prefix("sid:") {
                match n.parse::<u64>() {
                    Ok(n) => rules.is_none_or(|r| r.sids.contains(&n)),
                    Err(_) => false,
                }
            } else if let Some(y) = s.strip_prefix("yara:") {
                rules.is_none_or(|r| r.yara.contains(y))
            } else {
                c.err(
                    d.pos(),
                    format!("detection `{s}`: sigma:<id>, sid:<n> or yara:<rule>"),
                );
                continue;
            };
            if !ok {
                c.err(
                    d.pos(),
                    format!("detection `{s}`: no shipped rule has this id"),
                );
            }
            e.detections.push(s);
        }
    } else if !tabletop {
        c.err(x.pos(), "`expected.detections` is a list of rule ids");
    }
    match x.get("category").and_then(Node::as_str) {
        Some(cat) if crate::central::incident::CATEGORIES.contains(&cat) => {
            e.category = cat.to_string()
        }
        Some(cat) => {
            let at = x.get("category").map(Node::pos).unwrap_or(x.pos());
            c.err(
                at,
                format!(
                    "category `{cat}`: one of {}",
                    crate::central::incident::CATEGORIES.join(", ")
                ),
            );
        }
        None => c.err(x.pos(), "`expected.category` is missing"),
    }
    if let Some(s) = x.get("severity_max") {
        match s.as_str().and_then(|v| v.trim().parse::<i64>().ok()) {
            Some(v) if (1..=4).contains(&v) => e.severity_max = v,
            _ => c.err(s.pos(), "`severity_max` is 1 (high) to 4"),
        }
    }
    match x.get("playbook").and_then(Node::as_str) {
        Some(p) => {
            let bundled = crate::central::playbook::BUNDLED.iter().any(|(f, _)| {
                f.rsplit('/').next().and_then(|n| n.strip_suffix(".json")) == Some(p)
            });
            if !bundled && !p.starts_with("playbook--") {
                let at = x.get("playbook").map(Node::pos).unwrap_or(x.pos());
                c.err(
                    at,
                    format!(
                        "playbook `{p}`: a bundled playbook (ransomware, phishing, …) or a CACAO id"
                    ),
                );
            }
            e.playbook = p.to_string();
        }
        None => c.err(x.pos(), "`expected.playbook` is missing"),
    }
    match x.get("attackers") {
        Some(Node::Seq { items, .. }) => {
            for a in items {
                let v = a.as_str().unwrap_or_default().trim();
                if v.parse::<std::net::IpAddr>().is_ok() {
                    e.attackers.push(v.to_string());
                } else {
                    c.err(a.pos(), format!("attacker `{v}` is not an IP address"));
                }
            }
        }
        Some(n) => c.err(n.pos(), "`expected.attackers` is a list of IP addresses"),
        None => {}
    }
    if let Some(Node::Seq { items, .. }) = x.get("key_steps") {
        for s in items {
            let a = s.as_str().unwrap_or_default();
            if crate::central::playbook::ACTIONS
                .iter()
                .any(|(n, _)| *n == a)
            {
                e.key_steps.push(a.to_string());
            } else {
                c.err(
                    s.pos(),
                    format!(
                        "key step `{a}`: a canhgac action ({})",
                        crate::central::playbook::ACTIONS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"title: {vi: 'Thử', en: 'Test'}
briefing: {vi: 'Tóm tắt', en: 'Brief'}
units: [commune]
mode: sensor
difficulty: easy
duration_mins: 30
injects:
  - id: a
    at: 0m
    kind: logs
    lines: ['x']
  - id: b
    after: inject:a
    kind: message
    text: {vi: 'Gọi', en: 'Call'}
expected:
  detections: ['sid:1']
  category: brute-force
  playbook: brute-force
  key_steps: [block]
"#;

    fn no_files(rel: &str) -> Result<Vec<u8>, String> {
        Err(format!("{rel}: no files in this test"))
    }

    fn known() -> KnownRules {
        let mut k = KnownRules::default();
        k.sids.insert(1);
        k
    }

    #[test]
    fn a_good_scenario_loads() {
        let s = parse("t", GOOD, &no_files, Some(&known())).expect("valid");
        assert_eq!(s.injects.len(), 2);
        assert_eq!(s.injects[1].when, When::AfterInject("a".into()));
        assert_eq!(
            s.scoring.iter().find(|(k, _)| k == "report").map(|x| x.1),
            Some(15)
        );
    }

    #[test]
    fn problems_are_at_their_line_and_column() {
        let bad = GOOD
            .replace("after: inject:a", "after: inject:zz")
            .replace("category: brute-force", "category: hacking")
            .replace("'sid:1'", "'sid:2'");
        let errs = parse("t", &bad, &no_files, Some(&known())).expect_err("invalid");
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|e| e.starts_with("13:12:") && e.contains("no other inject `zz`")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|e| e.contains("category `hacking`")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|e| e.contains("no shipped rule")),
            "{text:#?}"
        );
    }

    #[test]
    fn tabletop_takes_no_traffic() {
        let t = GOOD.replace("mode: sensor", "mode: tabletop");
        let errs = parse("t", &t, &no_files, None).expect_err("invalid");
        assert!(errs.iter().any(|e| e.message.contains("tabletop")));
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("30s"), Some(30));
        assert_eq!(parse_offset("5m"), Some(300));
        assert_eq!(parse_offset("1h"), Some(3600));
        assert_eq!(parse_offset("soon"), None);
    }
}
