//! CACAO 2.0 playbooks: the model, validation, and the engine that runs
//! them for incidents.
//!
//! Why CACAO: it is the OASIS standard for response playbooks, so a
//! province can take playbooks from CERTs and vendors and give its own
//! back; canhgac adds no private format. A playbook is kept exactly as it
//! was imported (its JSON) and exported unchanged; the typed [`Playbook`]
//! built here is what the engine walks.
//!
//! Validation has two layers ([`validate`]): the official JSON schemas
//! (embedded, see [`schema`]), lenient only where the schemas are stricter
//! than the specification (vendor agent/target types), then the checks a
//! schema cannot make — that every step a step names exists, that every
//! condition parses, that canhgac actions have what they need. Every
//! problem names the step and the field.
//!
//! The meaning canhgac gives to manual steps, canhgac actions, agents and
//! variables is in `docs/playbooks.md`.

pub mod actions;
pub mod condition;
pub mod diagram;
pub mod engine;
pub mod schema;

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

pub use condition::{Condition, ConditionError};

use crate::central::SharedState;

/// `[playbooks]` in `central.toml`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybooksConfig {
    /// Who receives the incident notification report (the `report`
    /// action). Empty by default: the competent authority changed in 2025
    /// (to the Ministry of Public Security), so the operator sets it.
    #[serde(default)]
    pub report_recipients: Vec<String>,
    /// Who to contact about reports (name, phone, mail), printed on them.
    #[serde(default)]
    pub report_contact: String,
    /// Load the bundled library (`playbooks/vi`, `playbooks/en`) at start.
    #[serde(default = "yes")]
    pub load_bundled: bool,
    /// Start the suggested playbook when an incident opens.
    #[serde(default)]
    pub auto_start: bool,
    /// How often the engine looks for due steps, milliseconds.
    #[serde(default = "default_tick")]
    pub tick_ms: u64,
    /// How long a blocking action waits for a sensor's answer per attempt.
    #[serde(default = "default_action_wait")]
    pub action_wait_secs: u64,
    /// Attempts before a blocking action is marked failed.
    #[serde(default = "default_attempts")]
    pub action_attempts: i64,
}

fn yes() -> bool {
    true
}
fn default_tick() -> u64 {
    1000
}
fn default_action_wait() -> u64 {
    60
}
fn default_attempts() -> i64 {
    3
}

impl Default for PlaybooksConfig {
    fn default() -> Self {
        PlaybooksConfig {
            report_recipients: Vec::new(),
            report_contact: String::new(),
            load_bundled: true,
            auto_start: false,
            tick_ms: default_tick(),
            action_wait_secs: default_action_wait(),
            action_attempts: default_attempts(),
        }
    }
}

/// The bundled library, compiled in: (file, text).
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "vi/ransomware.json",
        include_str!("../../../playbooks/vi/ransomware.json"),
    ),
    (
        "vi/phishing.json",
        include_str!("../../../playbooks/vi/phishing.json"),
    ),
    (
        "vi/defacement.json",
        include_str!("../../../playbooks/vi/defacement.json"),
    ),
    (
        "vi/webshell.json",
        include_str!("../../../playbooks/vi/webshell.json"),
    ),
    (
        "vi/brute-force.json",
        include_str!("../../../playbooks/vi/brute-force.json"),
    ),
    (
        "vi/c2-beaconing.json",
        include_str!("../../../playbooks/vi/c2-beaconing.json"),
    ),
    (
        "vi/ddos.json",
        include_str!("../../../playbooks/vi/ddos.json"),
    ),
    (
        "vi/data-leak.json",
        include_str!("../../../playbooks/vi/data-leak.json"),
    ),
    (
        "en/ransomware.json",
        include_str!("../../../playbooks/en/ransomware.json"),
    ),
    (
        "en/phishing.json",
        include_str!("../../../playbooks/en/phishing.json"),
    ),
    (
        "en/defacement.json",
        include_str!("../../../playbooks/en/defacement.json"),
    ),
    (
        "en/webshell.json",
        include_str!("../../../playbooks/en/webshell.json"),
    ),
    (
        "en/brute-force.json",
        include_str!("../../../playbooks/en/brute-force.json"),
    ),
    (
        "en/c2-beaconing.json",
        include_str!("../../../playbooks/en/c2-beaconing.json"),
    ),
    (
        "en/ddos.json",
        include_str!("../../../playbooks/en/ddos.json"),
    ),
    (
        "en/data-leak.json",
        include_str!("../../../playbooks/en/data-leak.json"),
    ),
];

/// Stores a playbook document after validating it; returns its row id and
/// whether it was new.
///
/// # Errors
/// The problems that make it invalid, or the store's error as one problem.
pub async fn import(
    store: &crate::central::store::Store,
    doc: &Value,
    source: &str,
    by: &str,
) -> Result<(i64, bool, Playbook), Vec<Problem>> {
    let pb = load(doc)?;
    let body = serde_json::to_string(doc).map_err(|e| vec![problem("", e.to_string())])?;
    let (id, new) = store
        .put_playbook(
            &pb.id,
            &pb.name,
            &pb.description,
            &pb.labels,
            source,
            &body,
            by,
        )
        .await
        .map_err(|e| vec![problem("", e.to_string())])?;
    Ok((id, new, pb))
}

/// Loads the bundled library (when configured) and starts the engine.
pub async fn start(state: SharedState) {
    if state.config.playbooks.load_bundled {
        let mut loaded = 0;
        for (file, text) in BUNDLED {
            let doc = match parse_text(text) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(%file, error = %e, "bundled playbook does not parse");
                    continue;
                }
            };
            match import(&state.store, &doc, "bundled", "system").await {
                Ok(_) => loaded += 1,
                Err(errs) => {
                    for e in errs {
                        tracing::error!(%file, error = %e, "bundled playbook is not valid");
                    }
                }
            }
        }
        tracing::info!(playbooks = loaded, "bundled playbooks loaded");
    }
    engine::start_runner(state);
}

/// Playbooks whose labels suit an incident: its category, or one of its
/// rule's ATT&CK tags; the console's language first.
pub fn suggest<'a>(
    rows: &'a [crate::central::store::playbooks::PlaybookRow],
    category: &str,
    tags: &[String],
    lang: &str,
) -> Vec<&'a crate::central::store::playbooks::PlaybookRow> {
    let mut out: Vec<(u8, &crate::central::store::playbooks::PlaybookRow)> = Vec::new();
    for r in rows {
        let labels = r.label_list();
        let by_category = !category.is_empty()
            && labels
                .iter()
                .any(|l| l.strip_prefix("category:") == Some(category));
        let by_tag = labels
            .iter()
            .any(|l| tags.iter().any(|t| t.eq_ignore_ascii_case(l)));
        if by_category || by_tag {
            let same_lang = labels.iter().any(|l| l.strip_prefix("lang:") == Some(lang));
            out.push((u8::from(!same_lang) * 2 + u8::from(!by_category), r));
        }
    }
    out.sort_by_key(|(rank, r)| (*rank, r.name.clone()));
    out.into_iter().map(|(_, r)| r).collect()
}

/// One problem with a playbook: where (a dotted path such as
/// `workflow.action--….on_completion`) and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
    }
}

/// A playbook variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// `string`, `ipv4-addr`, … (CACAO's `variable-type-ov`).
    pub kind: String,
    /// Its value as text (`None`: JSON null, unknown).
    pub value: Option<String>,
    pub constant: bool,
    /// Its value comes from the caller (canhgac fills known names).
    pub external: bool,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    Start,
    End,
    Action {
        /// The commands, as written (CACAO `command-data`).
        commands: Vec<Value>,
    },
    PlaybookAction {
        playbook_id: String,
    },
    Parallel {
        next_steps: Vec<String>,
    },
    If {
        condition: Condition,
        on_true: Option<String>,
        on_false: Option<String>,
    },
    While {
        condition: Condition,
        on_true: Option<String>,
    },
    Switch {
        /// The variable switched on.
        switch: String,
        /// Case value → first step of its branch (`default` included).
        cases: Vec<(String, String)>,
    },
}

impl StepKind {
    /// The CACAO step type.
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Start => "start",
            StepKind::End => "end",
            StepKind::Action { .. } => "action",
            StepKind::PlaybookAction { .. } => "playbook-action",
            StepKind::Parallel { .. } => "parallel",
            StepKind::If { .. } => "if-condition",
            StepKind::While { .. } => "while-condition",
            StepKind::Switch { .. } => "switch-condition",
        }
    }
}

/// One workflow step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    pub name: Option<String>,
    pub description: Option<String>,
    pub on_completion: Option<String>,
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
    /// Wait before starting, milliseconds.
    pub delay_ms: u64,
    /// Fail if not finished within, milliseconds.
    pub timeout_ms: Option<u64>,
    pub variables: BTreeMap<String, Variable>,
    pub out_args: Vec<String>,
    /// The agent definition's `name` (e.g. `coordinator`), when given.
    pub agent: Option<String>,
}

impl Step {
    /// A label for people: the name, else the type and id.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("{} {}", self.kind.name(), self.id))
    }

    /// Whether the step is work for people (a task).
    pub fn is_manual(&self) -> bool {
        match &self.kind {
            StepKind::Action { commands } => commands
                .iter()
                .any(|c| c.get("type").and_then(Value::as_str) != Some("canhgac")),
            _ => false,
        }
    }

    /// Every step this one names, with the field naming it.
    pub fn references(&self) -> Vec<(String, &str)> {
        let mut out: Vec<(String, &str)> = Vec::new();
        for (f, v) in [
            ("on_completion", &self.on_completion),
            ("on_success", &self.on_success),
            ("on_failure", &self.on_failure),
        ] {
            if let Some(v) = v {
                out.push((f.to_string(), v));
            }
        }
        match &self.kind {
            StepKind::Parallel { next_steps } => {
                for (i, s) in next_steps.iter().enumerate() {
                    out.push((format!("next_steps[{i}]"), s));
                }
            }
            StepKind::If {
                on_true, on_false, ..
            } => {
                if let Some(s) = on_true {
                    out.push(("on_true".into(), s));
                }
                if let Some(s) = on_false {
                    out.push(("on_false".into(), s));
                }
            }
            StepKind::While {
                on_true: Some(s), ..
            } => out.push(("on_true".into(), s)),
            StepKind::Switch { cases, .. } => {
                for (k, s) in cases {
                    out.push((format!("cases.{k}"), s));
                }
            }
            _ => {}
        }
        out
    }
}

/// A playbook as the engine sees it.
#[derive(Debug, Clone)]
pub struct Playbook {
    /// `playbook--<uuid>`.
    pub id: String,
    pub name: String,
    pub description: String,
    pub labels: Vec<String>,
    pub workflow_start: String,
    pub workflow_exception: Option<String>,
    pub steps: BTreeMap<String, Step>,
    pub variables: BTreeMap<String, Variable>,
    /// The document as imported (exported unchanged).
    pub raw: Value,
}

impl Playbook {
    /// The `lang:` label (`vi`, `en`), if any.
    pub fn language(&self) -> Option<&str> {
        self.labels.iter().find_map(|l| l.strip_prefix("lang:"))
    }

    /// The `category:` labels.
    pub fn categories(&self) -> impl Iterator<Item = &str> {
        self.labels
            .iter()
            .filter_map(|l| l.strip_prefix("category:"))
    }
}

/// Reads a playbook document: JSON, or YAML of the same structure.
///
/// # Errors
/// A [`Problem`] with the line and column of the syntax error.
pub fn parse_text(text: &str) -> Result<Value, Problem> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return serde_json::from_str(trimmed).map_err(|e| {
            problem(
                format!("line {} column {}", e.line(), e.column()),
                format!("not valid JSON: {e}"),
            )
        });
    }
    let docs = crate::detect::sigma::yaml::parse(trimmed).map_err(|e| {
        problem(
            "",
            format!(
                "not valid JSON or YAML: line {} column {}: {}",
                e.pos.line, e.pos.col, e.message
            ),
        )
    })?;
    match docs.as_slice() {
        [one] => Ok(yaml_to_json(one)),
        [] => Err(problem("", "empty document")),
        _ => Err(problem(
            "",
            "one playbook per file (found several YAML documents)",
        )),
    }
}

fn yaml_to_json(n: &crate::detect::sigma::yaml::Node) -> Value {
    use crate::detect::sigma::yaml::Node;
    match n {
        Node::Scalar { text, quoted, .. } => {
            if *quoted {
                return Value::String(text.clone());
            }
            if n.is_null() {
                return Value::Null;
            }
            match text.as_str() {
                "true" | "True" | "TRUE" => return Value::Bool(true),
                "false" | "False" | "FALSE" => return Value::Bool(false),
                _ => {}
            }
            if let Ok(i) = text.parse::<i64>() {
                return Value::from(i);
            }
            if text.contains('.')
                && let Some(f) = text
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
            {
                return Value::Number(f);
            }
            Value::String(text.clone())
        }
        Node::Seq { items, .. } => Value::Array(items.iter().map(yaml_to_json).collect()),
        Node::Map { entries, .. } => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), yaml_to_json(v)))
                .collect(),
        ),
    }
}

/// The canhgac actions and the fields each requires.
pub const ACTIONS: [(&str, &[&str]); 7] = [
    ("block", &["address"]),
    ("unblock", &["address"]),
    ("email", &["to", "subject", "body"]),
    ("webhook", &[]),
    ("report", &[]),
    ("set", &[]),
    ("escalate", &[]),
];

/// Validates a playbook document: the CACAO 2.0 schemas, then the checks
/// the schemas cannot make. An empty list means it is valid.
pub fn validate(doc: &Value) -> Vec<Problem> {
    let mut problems = schema::check(doc);
    match build(doc) {
        Ok(_) => {}
        Err(more) => {
            for p in more {
                if !problems.contains(&p) {
                    problems.push(p);
                }
            }
        }
    }
    problems
}

/// Validates and builds the engine's view of a playbook.
///
/// # Errors
/// Every problem found (schema problems included).
pub fn load(doc: &Value) -> Result<Playbook, Vec<Problem>> {
    let schema_problems = schema::check(doc);
    let built = build(doc);
    match (schema_problems.is_empty(), built) {
        (true, Ok(p)) => Ok(p),
        (_, Ok(_)) => Err(schema_problems),
        (_, Err(mut more)) => {
            let mut all = schema_problems;
            more.retain(|p| !all.contains(p));
            all.append(&mut more);
            Err(all)
        }
    }
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn variables(
    v: Option<&Value>,
    path: &str,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, Variable> {
    let mut out = BTreeMap::new();
    let Some(map) = v.and_then(Value::as_object) else {
        return out;
    };
    for (name, def) in map {
        if !is_variable_name(name) {
            problems.push(problem(
                format!("{path}.{name}"),
                "a variable name is __name__ (two underscores each side)",
            ));
            continue;
        }
        let value = match def.get("value") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        out.insert(
            name.clone(),
            Variable {
                kind: str_field(def, "type").unwrap_or_else(|| "string".into()),
                value,
                constant: def
                    .get("constant")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                external: def
                    .get("external")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
        );
    }
    out
}

/// Whether `s` is a CACAO variable name (`__name__`).
pub fn is_variable_name(s: &str) -> bool {
    s.len() > 4
        && s.starts_with("__")
        && s.ends_with("__")
        && s[2..s.len() - 2]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn build(doc: &Value) -> Result<Playbook, Vec<Problem>> {
    let mut problems = Vec::new();
    let Some(obj) = doc.as_object() else {
        return Err(vec![problem("", "a playbook is a JSON object")]);
    };
    let id = str_field(doc, "id").unwrap_or_default();
    if !id.starts_with("playbook--") {
        problems.push(problem("id", "must be playbook--<uuid>"));
    }
    let name = str_field(doc, "name").unwrap_or_default();
    let labels: Vec<String> = obj
        .get("labels")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let pvars = variables(
        obj.get("playbook_variables"),
        "playbook_variables",
        &mut problems,
    );
    let agents: BTreeMap<String, Option<String>> = ["agent_definitions", "target_definitions"]
        .iter()
        .filter_map(|k| obj.get(*k).and_then(Value::as_object))
        .flat_map(|m| m.iter().map(|(k, v)| (k.clone(), str_field(v, "name"))))
        .collect();
    let mut steps = BTreeMap::new();
    let Some(workflow) = obj.get("workflow").and_then(Value::as_object) else {
        problems.push(problem("workflow", "missing, or not an object of steps"));
        return Err(problems);
    };
    for (sid, s) in workflow {
        let path = format!("workflow.{sid}");
        match build_step(sid, s, &path, &agents, &mut problems) {
            Some(step) => {
                steps.insert(sid.clone(), step);
            }
            None => continue,
        }
    }
    let start = str_field(doc, "workflow_start").unwrap_or_default();
    match steps.get(&start) {
        None => problems.push(problem(
            "workflow_start",
            format!("no step {start:?} in workflow"),
        )),
        Some(s) if s.kind != StepKind::Start => problems.push(problem(
            "workflow_start",
            format!("{start} is a {} step, not a start step", s.kind.name()),
        )),
        Some(_) => {}
    }
    let exception = str_field(doc, "workflow_exception");
    if let Some(e) = &exception
        && !steps.contains_key(e)
    {
        problems.push(problem(
            "workflow_exception",
            format!("no step {e} in workflow"),
        ));
    }
    let known: HashSet<&str> = steps.keys().map(String::as_str).collect();
    for (sid, s) in &steps {
        for (field, target) in s.references() {
            if !known.contains(target) {
                problems.push(problem(
                    format!("workflow.{sid}.{field}"),
                    format!("no step {target} in workflow"),
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(Playbook {
            id,
            name,
            description: str_field(doc, "description").unwrap_or_default(),
            labels,
            workflow_start: start,
            workflow_exception: exception,
            steps,
            variables: pvars,
            raw: doc.clone(),
        })
    } else {
        Err(problems)
    }
}

fn build_step(
    sid: &str,
    s: &Value,
    path: &str,
    agents: &BTreeMap<String, Option<String>>,
    problems: &mut Vec<Problem>,
) -> Option<Step> {
    let before = problems.len();
    let ty = str_field(s, "type").unwrap_or_default();
    let refs = |key: &str| str_field(s, key);
    let cond = |problems: &mut Vec<Problem>| -> Option<Condition> {
        let text = str_field(s, "condition");
        match text {
            None => {
                problems.push(problem(format!("{path}.condition"), "missing"));
                None
            }
            Some(t) => match Condition::parse(&t) {
                Ok(c) => Some(c),
                Err(e) => {
                    problems.push(problem(format!("{path}.condition"), e.to_string()));
                    None
                }
            },
        }
    };
    let kind = match ty.as_str() {
        "start" => StepKind::Start,
        "end" => StepKind::End,
        "action" => {
            let commands = s
                .get("commands")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if commands.is_empty() {
                problems.push(problem(
                    format!("{path}.commands"),
                    "an action step needs at least one command",
                ));
            }
            for (i, c) in commands.iter().enumerate() {
                check_command(c, &format!("{path}.commands[{i}]"), problems);
            }
            StepKind::Action { commands }
        }
        "playbook-action" => match refs("playbook_id") {
            Some(p) => StepKind::PlaybookAction { playbook_id: p },
            None => {
                problems.push(problem(format!("{path}.playbook_id"), "missing"));
                return None;
            }
        },
        "parallel" => {
            let next_steps: Vec<String> = s
                .get("next_steps")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if next_steps.is_empty() {
                problems.push(problem(
                    format!("{path}.next_steps"),
                    "a parallel step needs next_steps",
                ));
            }
            StepKind::Parallel { next_steps }
        }
        "if-condition" => StepKind::If {
            condition: cond(problems)?,
            on_true: refs("on_true"),
            on_false: refs("on_false"),
        },
        "while-condition" => StepKind::While {
            condition: cond(problems)?,
            on_true: refs("on_true"),
        },
        "switch-condition" => {
            let Some(switch) = refs("switch") else {
                problems.push(problem(
                    format!("{path}.switch"),
                    "missing (the variable to switch on)",
                ));
                return None;
            };
            let cases: Vec<(String, String)> = s
                .get("cases")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            if cases.is_empty() {
                problems.push(problem(
                    format!("{path}.cases"),
                    "a switch step needs cases",
                ));
            }
            StepKind::Switch { switch, cases }
        }
        other => {
            problems.push(problem(
                format!("{path}.type"),
                format!("unknown step type {other:?}"),
            ));
            return None;
        }
    };
    let ms = |key: &str, problems: &mut Vec<Problem>| -> Option<u64> {
        match s.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) => Some(n),
                None => {
                    problems.push(problem(
                        format!("{path}.{key}"),
                        "must be a whole number of milliseconds, 0 or more",
                    ));
                    None
                }
            },
        }
    };
    let delay_ms = ms("delay", problems).unwrap_or(0);
    let timeout_ms = ms("timeout", problems);
    let agent = match str_field(s, "agent") {
        None => None,
        Some(a) => match agents.get(&a) {
            Some(name) => Some(name.clone().unwrap_or_default()),
            None => {
                problems.push(problem(
                    format!("{path}.agent"),
                    format!("{a} is not in agent_definitions"),
                ));
                None
            }
        },
    };
    if let Some(targets) = s.get("targets").and_then(Value::as_array) {
        for (i, t) in targets.iter().enumerate() {
            if let Some(t) = t.as_str()
                && !agents.contains_key(t)
            {
                problems.push(problem(
                    format!("{path}.targets[{i}]"),
                    format!("{t} is not in target_definitions"),
                ));
            }
        }
    }
    let variables = variables(
        s.get("step_variables"),
        &format!("{path}.step_variables"),
        problems,
    );
    let out_args: Vec<String> = s
        .get("out_args")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if problems.len() > before {
        return None;
    }
    Some(Step {
        id: sid.to_string(),
        kind,
        name: str_field(s, "name"),
        description: str_field(s, "description"),
        on_completion: refs("on_completion"),
        on_success: refs("on_success"),
        on_failure: refs("on_failure"),
        delay_ms,
        timeout_ms,
        variables,
        out_args,
        agent,
    })
}

fn check_command(c: &Value, path: &str, problems: &mut Vec<Problem>) {
    if c.get("type").and_then(Value::as_str) != Some("canhgac") {
        return;
    }
    let Some(action) = c.get("command").and_then(Value::as_str) else {
        problems.push(problem(
            format!("{path}.command"),
            "a canhgac command names its action (block, unblock, email, webhook, report, set, escalate)",
        ));
        return;
    };
    let Some((_, needs)) = ACTIONS.iter().find(|(a, _)| *a == action) else {
        problems.push(problem(
            format!("{path}.command"),
            format!(
                "unknown canhgac action {action:?}; expected one of {}",
                ACTIONS
                    .iter()
                    .map(|(a, _)| *a)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
        return;
    };
    for f in *needs {
        if c.get(*f).is_none() {
            problems.push(problem(
                format!("{path}.{f}"),
                format!("{action} needs `{f}`"),
            ));
        }
    }
    if let Some(d) = c.get("duration").and_then(Value::as_str)
        && !d.contains("__")
        && actions::parse_duration(d).is_none()
    {
        problems.push(problem(
            format!("{path}.duration"),
            format!("{d:?} is not a duration like 30m, 24h or 7d"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "type": "playbook", "spec_version": "cacao-2.0",
            "id": "playbook--11111111-1111-4111-8111-111111111111",
            "name": "t", "created_by": "identity--11111111-1111-4111-8111-111111111111",
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "workflow_start": "start--11111111-1111-4111-8111-111111111111",
            "workflow": {
                "start--11111111-1111-4111-8111-111111111111": {"type": "start", "on_completion": "end--11111111-1111-4111-8111-111111111111"},
                "end--11111111-1111-4111-8111-111111111111": {"type": "end"}
            }
        })
    }

    #[test]
    fn minimal_playbook_loads() {
        let p = load(&minimal()).expect("valid");
        assert_eq!(p.steps.len(), 2);
    }

    #[test]
    fn missing_step_is_named_with_its_field() {
        let mut d = minimal();
        d["workflow"]["start--11111111-1111-4111-8111-111111111111"]["on_completion"] =
            json!("end--22222222-2222-4222-8222-222222222222");
        let errs = validate(&d);
        assert!(
            errs.iter().any(|e| e.path
                == "workflow.start--11111111-1111-4111-8111-111111111111.on_completion"
                && e.message.contains("no step end--2222")),
            "{errs:?}"
        );
    }

    #[test]
    fn yaml_reads_as_the_same_structure() {
        let y = "type: playbook\nname: x\nworkflow:\n  a: {type: start}\ncount: 3\nflag: true\nq: '3'\n";
        let v = parse_text(y).expect("yaml");
        assert_eq!(v["count"], json!(3));
        assert_eq!(v["flag"], json!(true));
        assert_eq!(v["q"], json!("3"));
        assert_eq!(v["workflow"]["a"]["type"], json!("start"));
    }

    #[test]
    fn bad_json_says_where() {
        let e = parse_text("{\n \"a\": ,\n}").expect_err("bad");
        assert!(e.path.starts_with("line 2"), "{e}");
    }

    #[test]
    fn unknown_canhgac_action_is_refused() {
        let mut d = minimal();
        d["workflow"]["action--33333333-3333-4333-8333-333333333333"] = json!({
            "type": "action", "agent": "group--33333333-3333-4333-8333-333333333333",
            "commands": [{"type": "canhgac", "command": "nuke"}],
            "on_completion": "end--11111111-1111-4111-8111-111111111111"
        });
        d["agent_definitions"] = json!({"group--33333333-3333-4333-8333-333333333333": {"type": "group", "name": "canhgac"}});
        let errs = validate(&d);
        assert!(
            errs.iter()
                .any(|e| e.path.ends_with("commands[0].command") && e.message.contains("nuke")),
            "{errs:?}"
        );
    }
}
