//! Sigma detection (and Sigma correlation) over normalised log events from
//! [`crate::logs`].
//!
//! In place: YAML with positions, so that every rule error names its
//! file:line:column ([`yaml`]); the condition grammar with names resolved
//! at compile time ([`condition`]); field matchers with every modifier of
//! the specification compiled once ([`matcher`]); rules ([`rule`]); and
//! the rule set, which picks the rules whose logsource applies to an
//! event's parser ([`logsources_of`]) and evaluates them. Still to come:
//! running the set in the sensor and `replay`, correlation at central, a
//! configurable logsource mapping, and a prefilter.

pub mod condition;
pub mod matcher;
pub mod rule;
pub mod yaml;

use std::path::Path;

use serde_json::{Map, Value};

pub use matcher::EventView;
pub use rule::{LogSource, SigmaDiagnostic, SigmaRule};

/// The Sigma log sources a canhgac log event stands for, from the parser
/// that read it: `(product, category, service)`, any of which may be
/// unset. A rule applies when each of its logsource keys that is set
/// equals the event's.
pub fn logsources_of(parser: &str, program: Option<&str>) -> Vec<LogSource> {
    let ls = |p: Option<&str>, c: Option<&str>, s: Option<&str>| LogSource {
        product: p.map(str::to_string),
        category: c.map(str::to_string),
        service: s.map(str::to_string),
    };
    let linux = |s: &str| ls(Some("linux"), None, Some(s));
    match parser {
        "access" | "iis" => vec![
            ls(None, Some("webserver"), None),
            ls(None, None, Some("nginx")),
            ls(None, None, Some("apache")),
        ],
        "nginx_error" | "apache_error" => vec![ls(None, Some("webserver"), None)],
        "squid" => vec![ls(None, Some("proxy"), None)],
        "kv" | "iptables" | "pf" => vec![ls(None, Some("firewall"), None)],
        "cisco_asa" => vec![
            ls(None, Some("firewall"), None),
            ls(Some("cisco"), None, Some("asa")),
        ],
        "dns" => vec![ls(None, Some("dns"), None)],
        "sshd" => vec![linux("sshd"), linux("auth")],
        "sudo" => vec![linux("sudo"), linux("auth")],
        "pam" => vec![linux("auth")],
        _ => match program {
            Some(p) => vec![linux(p), linux("syslog")],
            None => vec![ls(Some("linux"), None, None)],
        },
    }
}

fn applies(rule: &LogSource, event: &[LogSource]) -> bool {
    event.iter().any(|e| {
        let ok = |r: &Option<String>, v: &Option<String>| {
            r.as_ref()
                .is_none_or(|r| v.as_ref() == Some(r) || (r == "linux" && v.is_none()))
        };
        // a rule's product must be the event's (when the event has one);
        // category and service must match when the rule sets them
        let product = match (&rule.product, &e.product) {
            (Some(r), Some(v)) => r == v,
            (Some(r), None) => r == "linux" && e.category.is_none() && e.service.is_none(),
            (None, _) => true,
        };
        product && ok(&rule.category, &e.category) && ok(&rule.service, &e.service)
    })
}

/// The `alert` of a Sigma match on a log event (gid 4: canhgac's Sigma),
/// built on the log event (so it carries the line, its fields and the
/// sensor): the rule's title as signature, its level as severity, its tags
/// (ATT&CK), id, author and references in `metadata`, and the `sigma`
/// object. Central opens incidents from it as from any alert.
pub fn alert_event(log_event: &crate::event::Event, r: &SigmaRule) -> crate::event::Event {
    use serde_json::json;
    let mut ev = log_event.derive("alert");
    let severity = match r.level.as_deref() {
        Some("critical" | "high") => 1,
        Some("medium") => 2,
        _ => 3,
    };
    let mut md = Map::new();
    let mut put = |k: &str, v: Vec<String>| {
        if !v.is_empty() {
            md.insert(k.to_string(), json!(v));
        }
    };
    put("sigma_id", r.id.iter().cloned().collect());
    put("tags", r.tags.clone());
    put("author", r.author.iter().cloned().collect());
    put("reference", r.references.clone());
    put("level", r.level.iter().cloned().collect());
    let key = r.id.as_deref().unwrap_or(&r.title);
    let ls = &r.logsource;
    let source = [&ls.product, &ls.category, &ls.service]
        .iter()
        .filter_map(|x| x.as_deref())
        .collect::<Vec<_>>()
        .join("/");
    ev.alert = Some(crate::event::Alert {
        action: "allowed".into(),
        gid: 4,
        signature_id: super::stable_sid(key.as_bytes()),
        rev: 1,
        signature: format!("SIGMA {}", r.title),
        category: format!("Sigma rule ({source})"),
        severity,
        metadata: Some(md),
        extra: Default::default(),
    });
    let mut extra = crate::event::Extra::default();
    for (k, v) in [("author", &r.author), ("description", &r.description)] {
        if let Some(v) = v {
            extra.insert(k.into(), json!(v));
        }
    }
    extra.insert("rule_file".into(), json!(r.file));
    ev.sigma = Some(crate::event::SigmaMatch {
        rule_id: r.id.clone().unwrap_or_default(),
        title: r.title.clone(),
        level: r.level.clone(),
        tags: r.tags.clone(),
        extra,
    });
    ev
}

/// Loaded Sigma rules.
#[derive(Debug, Default)]
pub struct SigmaRuleSet {
    pub rules: Vec<SigmaRule>,
    /// Documents that are not detections (correlations, filters), by kind.
    pub other: Vec<(String, &'static str)>,
}

/// What loading rule files gave: per file, rules loaded and skipped.
#[derive(Debug, Default)]
pub struct SigmaLoadReport {
    pub files: Vec<(String, usize, usize)>,
    pub diagnostics: Vec<SigmaDiagnostic>,
}

impl SigmaRuleSet {
    /// Loads rule files (directories are walked for `.yml`/`.yaml`); a rule
    /// with a problem is skipped and reported at file:line:column, the rest
    /// load.
    pub fn load(paths: &[&Path]) -> (SigmaRuleSet, SigmaLoadReport) {
        let mut set = SigmaRuleSet::default();
        let mut report = SigmaLoadReport::default();
        let mut files = Vec::new();
        for p in paths {
            collect(p, &mut files);
        }
        files.sort();
        for f in files {
            let shown = f.display().to_string();
            let (loaded, skipped) = match std::fs::read_to_string(&f) {
                Ok(text) => set.add_text(&shown, &text, &mut report.diagnostics),
                Err(e) => {
                    report.diagnostics.push(SigmaDiagnostic {
                        file: shown.clone(),
                        line: 0,
                        col: 0,
                        message: format!("cannot read: {e}"),
                    });
                    (0, 1)
                }
            };
            report.files.push((shown, loaded, skipped));
        }
        (set, report)
    }

    /// Adds the rules of one file's text; returns (loaded, skipped).
    pub fn add_text(
        &mut self,
        file: &str,
        text: &str,
        diags: &mut Vec<SigmaDiagnostic>,
    ) -> (usize, usize) {
        let docs = match yaml::parse(text) {
            Ok(d) => d,
            Err(e) => {
                diags.push(SigmaDiagnostic {
                    file: file.to_string(),
                    line: e.pos.line,
                    col: e.pos.col,
                    message: format!("YAML: {}", e.message),
                });
                return (0, 1);
            }
        };
        let (mut loaded, mut skipped) = (0, 0);
        for d in &docs {
            match rule::compile(d, file) {
                Ok(rule::Loaded::Rule(r)) => {
                    self.rules.push(*r);
                    loaded += 1;
                }
                Ok(rule::Loaded::Other(kind)) => self.other.push((file.to_string(), kind)),
                Err(mut e) => {
                    diags.append(&mut e);
                    skipped += 1;
                }
            }
        }
        (loaded, skipped)
    }

    /// The alerts of a `log` event (none when it has no record or no rule
    /// matches).
    pub fn alerts(&self, log_event: &crate::event::Event) -> Vec<crate::event::Event> {
        let Some(rec) = log_event.log.as_ref().filter(|_| !self.rules.is_empty()) else {
            return Vec::new();
        };
        let parser = rec
            .extra
            .get("parser")
            .and_then(Value::as_str)
            .unwrap_or("raw");
        let empty = Map::new();
        self.matching(parser, rec.fields.as_ref().unwrap_or(&empty), &rec.line)
            .into_iter()
            .map(|r| alert_event(log_event, r))
            .collect()
    }

    /// The rules that match a log event's fields (and raw line), among those
    /// whose logsource applies to the event's parser.
    pub fn matching<'s>(
        &'s self,
        parser: &str,
        fields: &Map<String, Value>,
        raw: &str,
    ) -> Vec<&'s SigmaRule> {
        let program = fields.get("program").and_then(Value::as_str);
        let sources = logsources_of(parser, program);
        let ev = EventView::new(fields, raw);
        self.rules
            .iter()
            .filter(|r| applies(&r.logsource, &sources) && r.matches(&ev))
            .collect()
    }
}

/// A named file, or the `.yml`/`.yaml` files under a directory.
fn collect(p: &Path, out: &mut Vec<std::path::PathBuf>) {
    if !p.is_dir() {
        out.push(p.to_path_buf());
        return;
    }
    let Ok(rd) = std::fs::read_dir(p) else {
        out.push(p.to_path_buf());
        return;
    };
    for e in rd.flatten() {
        let path = e.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(path);
        }
    }
}
