//! Sigma detection (and Sigma correlation) over normalised log events from
//! [`crate::logs`].
//!
//! YAML with positions, so that every rule error names its file:line:column
//! ([`yaml`]); the condition grammar with names resolved at compile time
//! ([`condition`]); field matchers with every modifier of the specification
//! compiled once ([`matcher`]); detection rules ([`rule`]); correlation
//! rules and their bounded engine ([`correlation`]); a literal prefilter
//! ([`prefilter`]); a configurable logsource and field mapping
//! ([`mapping`]). The rule set loads files, resolves what correlations
//! refer to, marks the rules that only feed correlations (their matches
//! are quiet `sigma` events, not alerts), picks the rules whose logsource
//! applies to an event's parser ([`logsources_of`]) and evaluates them.
//! The sensor and `replay` match lines; central and `replay` correlate.

pub mod condition;
pub mod correlation;
pub mod mapping;
pub mod matcher;
pub mod prefilter;
pub mod rule;
pub mod yaml;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::event::Event;

pub use correlation::{Correlation, Correlator, Hit};
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
        "mail_auth" => {
            let mut v = vec![linux("mail"), ls(None, Some("mail"), None)];
            if let Some(p) = program {
                v.push(linux(p));
            }
            v
        }
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

/// Severity (1 worst) of a Sigma level.
fn severity_of(level: Option<&str>) -> u8 {
    match level {
        Some("critical" | "high") => 1,
        Some("medium") => 2,
        _ => 3,
    }
}

/// Sets `src_ip`/`dest_ip` from a log event's fields when the event has
/// none, so that alerts and incidents show the addresses.
fn addresses_from_fields(ev: &mut crate::event::Event) {
    let Some(f) = ev.log.as_ref().and_then(|l| l.fields.as_ref()) else {
        return;
    };
    let get = |keys: &[&str]| {
        keys.iter()
            .filter_map(|k| f.get(*k).and_then(Value::as_str))
            .find(|v| v.parse::<std::net::IpAddr>().is_ok())
            .map(str::to_string)
    };
    let (src, dst) = (get(&["src_ip", "c-ip"]), get(&["dst_ip", "s-ip"]));
    if ev.src_ip.is_none() {
        ev.src_ip = src;
    }
    if ev.dest_ip.is_none() {
        ev.dest_ip = dst;
    }
}

/// Rule metadata as alerts carry it: id, tags (ATT&CK), author, references
/// and level.
fn metadata(
    id: &Option<String>,
    tags: &[String],
    author: &Option<String>,
    references: &[String],
    level: &Option<String>,
) -> Map<String, Value> {
    let mut md = Map::new();
    let mut put = |k: &str, v: Vec<String>| {
        if !v.is_empty() {
            md.insert(k.to_string(), json!(v));
        }
    };
    put("sigma_id", id.iter().cloned().collect());
    put("tags", tags.to_vec());
    put("author", author.iter().cloned().collect());
    put("reference", references.to_vec());
    put("level", level.iter().cloned().collect());
    md
}

/// The `alert` of a Sigma match on a log event (gid 4: canhgac's Sigma),
/// built on the log event (so it carries the line, its fields and the
/// sensor): the rule's title as signature, its level as severity, its tags
/// (ATT&CK), id, author and references in `metadata`, and the `sigma`
/// object. Central opens incidents from it as from any alert.
pub fn alert_event(log_event: &Event, r: &SigmaRule) -> Event {
    match_event(log_event, r, false)
}

/// The event of a Sigma match: an `alert` (see [`alert_event`]), or, for a
/// rule that only feeds correlations (`quiet`), a `sigma` event with the
/// same `sigma` object and no `alert`, which central correlates but opens
/// no incident from.
pub fn match_event(log_event: &Event, r: &SigmaRule, quiet: bool) -> Event {
    let mut ev = log_event.derive(if quiet { "sigma" } else { "alert" });
    addresses_from_fields(&mut ev);
    let key = r.id.as_deref().unwrap_or(&r.title);
    let ls = &r.logsource;
    let source = [&ls.product, &ls.category, &ls.service]
        .iter()
        .filter_map(|x| x.as_deref())
        .collect::<Vec<_>>()
        .join("/");
    if !quiet {
        ev.alert = Some(crate::event::Alert {
            action: "allowed".into(),
            gid: 4,
            signature_id: super::stable_sid(key.as_bytes()),
            rev: 1,
            signature: format!("SIGMA {}", r.title),
            category: format!("Sigma rule ({source})"),
            severity: severity_of(r.level.as_deref()),
            metadata: Some(metadata(&r.id, &r.tags, &r.author, &r.references, &r.level)),
            extra: Default::default(),
        });
    }
    let mut extra = crate::event::Extra::default();
    for (k, v) in [
        ("author", &r.author),
        ("description", &r.description),
        ("name", &r.name),
    ] {
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

/// The most (parser, program) classes kept.
const MAX_CLASSES: usize = 1024;

/// The rules that apply to one kind of log event, and their prefilter.
#[derive(Debug)]
struct RuleClass {
    rules: Vec<usize>,
    prefilter: prefilter::Prefilter,
}

/// Loaded Sigma rules.
#[derive(Debug, Default)]
pub struct SigmaRuleSet {
    pub rules: Vec<SigmaRule>,
    /// Correlation rules whose references all resolved.
    pub correlations: Vec<Correlation>,
    /// Per correlation, what each reference resolved to.
    pub correlation_sources: Vec<Vec<correlation::Source>>,
    /// Per rule: it only feeds correlations (`generate: false`), so its
    /// matches are quiet `sigma` events, not alerts.
    pub quiet: Vec<bool>,
    /// Per correlation: it only feeds other correlations.
    pub correlation_quiet: Vec<bool>,
    /// Documents that are not detections or correlations (filters), by
    /// file and kind.
    pub other: Vec<(String, &'static str)>,
    /// Correlations compiled but not yet resolved ([`Self::finish`]).
    pending: Vec<Correlation>,
    /// The configured logsource and field mapping.
    pub mapping: mapping::Mapping,
    /// Per (parser, program): the rules whose logsource applies, and their
    /// prefilter, which skips rules that cannot match a line. Built on
    /// first use; emptied by [`Self::finish`] and [`Self::apply_mapping`].
    classes: std::sync::RwLock<HashMap<(String, String), Arc<RuleClass>>>,
    /// `id:ID` and `name:NAME` → rule index (built by [`Self::finish`]).
    rule_index: HashMap<String, usize>,
    /// Whether [`Self::matching_indexes`] uses the prefilter (on by
    /// default; off only to check that it changes nothing).
    pub no_prefilter: bool,
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
    /// load. Correlations are resolved once every file is read.
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
        let dropped = set.finish(&mut report.diagnostics);
        for (file, n) in dropped {
            if let Some(entry) = report.files.iter_mut().find(|(f, _, _)| *f == file) {
                entry.1 = entry.1.saturating_sub(n);
                entry.2 += n;
            }
        }
        (set, report)
    }

    /// Adds the rules of one file's text; returns (loaded, skipped), where
    /// correlations count as loaded until [`Self::finish`] resolves them.
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
                    self.quiet.push(false);
                    loaded += 1;
                }
                Ok(rule::Loaded::Correlation(c)) => {
                    self.pending.push(*c);
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

    /// Resolves the correlations added since the last call: each reference
    /// must name (by id or `name`) a rule or correlation of the set, and
    /// references must not form a cycle. A correlation that fails is
    /// reported at the reference and dropped (with those that refer to it).
    /// Then marks which rules and correlations only feed others. Returns,
    /// per file, how many correlations were dropped.
    pub fn finish(&mut self, diags: &mut Vec<SigmaDiagnostic>) -> Vec<(String, usize)> {
        use correlation::Source;
        let mut all: Vec<Correlation> = std::mem::take(&mut self.correlations);
        all.append(&mut self.pending);
        let find_rule = |r: &str| {
            self.rules
                .iter()
                .position(|x| x.id.as_deref() == Some(r))
                .or_else(|| self.rules.iter().position(|x| x.name.as_deref() == Some(r)))
        };
        let find_corr = |r: &str| {
            all.iter()
                .position(|x| x.id.as_deref() == Some(r))
                .or_else(|| all.iter().position(|x| x.name.as_deref() == Some(r)))
        };
        // resolve; None where a reference is unknown
        let mut resolved: Vec<Option<Vec<Source>>> = Vec::with_capacity(all.len());
        for c in &all {
            let mut srcs = Vec::new();
            let mut ok = true;
            for (r, pos) in &c.rules {
                match find_rule(r)
                    .map(Source::Rule)
                    .or(find_corr(r).map(Source::Correlation))
                {
                    Some(s) => srcs.push(s),
                    None => {
                        ok = false;
                        diags.push(SigmaDiagnostic {
                            file: c.file.clone(),
                            line: pos.line,
                            col: pos.col,
                            message: format!(
                                "correlation `{}` refers to `{r}`, which is no loaded rule's id or name",
                                c.title
                            ),
                        });
                    }
                }
            }
            resolved.push(ok.then_some(srcs));
        }
        // drop cycles, then what depends on a dropped correlation
        let cyclic: Vec<bool> = (0..all.len())
            .map(|i| resolved[i].is_some() && reaches(&resolved, i, i))
            .collect();
        for (i, c) in all.iter().enumerate() {
            if cyclic[i] {
                diags.push(SigmaDiagnostic {
                    file: c.file.clone(),
                    line: c.pos.line,
                    col: c.pos.col,
                    message: format!(
                        "correlation `{}` refers back to itself through its rules",
                        c.title
                    ),
                });
                resolved[i] = None;
            }
        }
        loop {
            let mut changed = false;
            for i in 0..all.len() {
                let Some(srcs) = resolved[i].as_ref() else {
                    continue;
                };
                let bad_dep = srcs.iter().any(|s| {
                    matches!(s, Source::Correlation(j) if resolved.get(*j).is_none_or(Option::is_none))
                });
                if bad_dep {
                    let c = &all[i];
                    diags.push(SigmaDiagnostic {
                        file: c.file.clone(),
                        line: c.pos.line,
                        col: c.pos.col,
                        message: format!(
                            "correlation `{}` refers to a correlation that did not load",
                            c.title
                        ),
                    });
                    resolved[i] = None;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        // keep the good ones, renumbering correlation references
        let mut new_index = vec![None; all.len()];
        let mut n = 0;
        for (i, r) in resolved.iter().enumerate() {
            if r.is_some() {
                new_index[i] = Some(n);
                n += 1;
            }
        }
        let mut dropped: Vec<(String, usize)> = Vec::new();
        self.correlations.clear();
        self.correlation_sources.clear();
        for (c, r) in all.into_iter().zip(resolved) {
            match r {
                Some(srcs) => {
                    self.correlations.push(c);
                    self.correlation_sources.push(
                        srcs.into_iter()
                            .map(|s| match s {
                                Source::Correlation(j) => {
                                    Source::Correlation(new_index[j].unwrap_or(j))
                                }
                                other => other,
                            })
                            .collect(),
                    );
                }
                None => match dropped.iter_mut().find(|(f, _)| *f == c.file) {
                    Some(e) => e.1 += 1,
                    None => dropped.push((c.file.clone(), 1)),
                },
            }
        }
        // quiet: referenced, and by no correlation that asks to generate
        let mut referenced_r = vec![(false, false); self.rules.len()];
        let mut referenced_c = vec![(false, false); self.correlations.len()];
        for (c, srcs) in self.correlations.iter().zip(&self.correlation_sources) {
            for s in srcs {
                let slot = match s {
                    Source::Rule(i) => referenced_r.get_mut(*i),
                    Source::Correlation(j) => referenced_c.get_mut(*j),
                };
                if let Some(slot) = slot {
                    slot.0 = true;
                    slot.1 |= c.generate;
                }
            }
        }
        self.quiet = referenced_r.iter().map(|(r, g)| *r && !g).collect();
        self.correlation_quiet = referenced_c.iter().map(|(r, g)| *r && !g).collect();
        self.reset_classes();
        self.rule_index.clear();
        for (i, r) in self.rules.iter().enumerate() {
            for k in [
                r.id.as_ref().map(|x| format!("id:{x}")),
                r.name.as_ref().map(|x| format!("name:{x}")),
            ]
            .into_iter()
            .flatten()
            {
                self.rule_index.entry(k).or_insert(i);
            }
        }
        dropped
    }

    /// Applies a logsource and field mapping: rule field names (and field
    /// references) are rewritten now; log sources are added per parser.
    pub fn apply_mapping(&mut self, m: mapping::Mapping) {
        if !m.fields.is_empty() {
            for r in &mut self.rules {
                for sel in &mut r.selections {
                    for group in sel {
                        for fm in group {
                            if let Some(f) = fm.field.as_mut() {
                                *f = m.field(f).to_string();
                            }
                            for t in &mut fm.tests {
                                if let matcher::Test::FieldRef(other, _) = t {
                                    *other = m.field(other).to_string();
                                }
                            }
                        }
                    }
                }
            }
        }
        self.mapping = m;
        self.reset_classes();
    }

    fn reset_classes(&mut self) {
        if let Ok(c) = self.classes.get_mut() {
            c.clear();
        }
    }

    /// The rules that apply to `parser`/`program` and their prefilter.
    fn class(&self, parser: &str, program: Option<&str>) -> Arc<RuleClass> {
        let key = (parser.to_string(), program.unwrap_or_default().to_string());
        if let Ok(c) = self.classes.read()
            && let Some(class) = c.get(&key)
        {
            return Arc::clone(class);
        }
        let mut sources = logsources_of(parser, program);
        sources.extend(self.mapping.sources_of(parser));
        let rules: Vec<usize> = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| applies(&r.logsource, &sources))
            .map(|(i, _)| i)
            .collect();
        let prefilter = prefilter::Prefilter::new(&self.rules, &rules);
        let class = Arc::new(RuleClass { rules, prefilter });
        // programs are many on a busy syslog: the cache is bounded
        if let Ok(mut c) = self.classes.write()
            && c.len() < MAX_CLASSES
        {
            c.insert(key, Arc::clone(&class));
        }
        class
    }

    /// How many of the rules that apply to `parser` the prefilter can skip.
    pub fn prefiltered(&self, parser: &str, program: Option<&str>) -> (usize, usize) {
        let c = self.class(parser, program);
        (c.prefilter.filtered, c.rules.len())
    }

    /// A correlation engine for this set's correlations.
    pub fn correlator(&self, max_groups: usize) -> Correlator {
        Correlator::new(
            self.correlations.clone(),
            self.correlation_sources.clone(),
            self.correlation_quiet.iter().map(|q| !q).collect(),
            max_groups,
        )
    }

    /// The rule a `sigma` object names: by id, then `name`, then title.
    pub fn rule_of(&self, m: &crate::event::SigmaMatch) -> Option<usize> {
        let name = m.extra.get("name").and_then(Value::as_str);
        let by = |k: String| self.rule_index.get(&k).copied();
        (!m.rule_id.is_empty())
            .then(|| by(format!("id:{}", m.rule_id)))
            .flatten()
            .or_else(|| name.and_then(|n| by(format!("name:{n}"))))
            .or_else(|| {
                self.rules
                    .iter()
                    .position(|r| r.title == m.title && r.id.is_none())
            })
    }

    /// The events of a `log` event's matches: an alert per standing rule, a
    /// quiet `sigma` event per rule that only feeds correlations.
    pub fn alerts(&self, log_event: &Event) -> Vec<Event> {
        let Some(rec) = log_event.log.as_ref().filter(|_| !self.rules.is_empty()) else {
            return Vec::new();
        };
        let parser = rec
            .extra
            .get("parser")
            .and_then(Value::as_str)
            .unwrap_or("raw");
        let empty = Map::new();
        self.matching_indexes(parser, rec.fields.as_ref().unwrap_or(&empty), &rec.line)
            .into_iter()
            .map(|i| {
                match_event(
                    log_event,
                    &self.rules[i],
                    self.quiet.get(i).copied().unwrap_or(false),
                )
            })
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
        self.matching_indexes(parser, fields, raw)
            .into_iter()
            .map(|i| &self.rules[i])
            .collect()
    }

    /// [`Self::matching`], as indexes into `rules`.
    pub fn matching_indexes(
        &self,
        parser: &str,
        fields: &Map<String, Value>,
        raw: &str,
    ) -> Vec<usize> {
        let program = fields.get("program").and_then(Value::as_str);
        let class = self.class(parser, program);
        let ev = EventView::new(fields, raw);
        let cand = if self.no_prefilter {
            Vec::new()
        } else {
            class.prefilter.candidates(&ev)
        };
        class
            .rules
            .iter()
            .enumerate()
            .filter(|(pos, i)| {
                cand.get(*pos).copied().unwrap_or(true)
                    && self.rules.get(**i).is_some_and(|r| r.matches(&ev))
            })
            .map(|(_, i)| *i)
            .collect()
    }
}

/// Whether correlation `from` reaches correlation `target` through its
/// references.
fn reaches(resolved: &[Option<Vec<correlation::Source>>], from: usize, target: usize) -> bool {
    let mut stack = vec![from];
    let mut seen = vec![false; resolved.len()];
    while let Some(i) = stack.pop() {
        for s in resolved
            .get(i)
            .and_then(Option::as_ref)
            .into_iter()
            .flatten()
        {
            if let correlation::Source::Correlation(j) = s {
                if *j == target {
                    return true;
                }
                if !seen.get(*j).copied().unwrap_or(true) {
                    seen[*j] = true;
                    stack.push(*j);
                }
            }
        }
    }
    false
}

/// Feeds one event to a correlator when it is a Sigma match (not a
/// correlation result: those are found again from their inputs). The
/// fields grouped and counted by are the log fields, then the event's
/// `unit`, `sensor`, `src_ip` and `dest_ip`.
pub fn correlate(set: &SigmaRuleSet, c: &mut Correlator, ev: &Event) -> Vec<Hit> {
    let Some(m) = ev.sigma.as_ref() else {
        return Vec::new();
    };
    if m.extra.contains_key("correlation") {
        return Vec::new();
    }
    let Some(i) = set.rule_of(m) else {
        return Vec::new();
    };
    let source = correlation::Source::Rule(i);
    if !c.takes(source) {
        return Vec::new();
    }
    let empty = Map::new();
    let fields = ev
        .log
        .as_ref()
        .and_then(|l| l.fields.as_ref())
        .unwrap_or(&empty);
    let mut fallback: Vec<(&str, &str)> = Vec::with_capacity(4);
    for (k, v) in [
        ("unit", &ev.unit),
        ("sensor", &ev.sensor_id),
        ("src_ip", &ev.src_ip),
        ("dest_ip", &ev.dest_ip),
    ] {
        if let Some(v) = v {
            fallback.push((k, v.as_str()));
        }
    }
    let id = ev.event_id.map(|u| u.to_string());
    c.observe(&correlation::Input {
        source,
        time: ev.time_micros().unwrap_or(0),
        fields,
        fallback: &fallback,
        event_id: id,
        unit: ev.unit.as_deref(),
        drill: ev.drill.as_deref(),
    })
}

/// The alert of a correlation result: gid 4, the correlation's title as
/// signature and its level as severity (medium when it has none), its
/// metadata as for rules, and in `sigma` the correlation type, the group,
/// the count, the time span and the contributing event ids. The event id
/// is derived from the correlation, the group and the contributing events,
/// so a result found twice (after a rebuild) is stored once. Addresses come
/// from group values that are addresses.
pub fn correlation_event(c: &Correlation, hit: &Hit) -> Event {
    use sha2::{Digest, Sha256};
    let mut ev = Event::new("alert", hit.last);
    let mut h = Sha256::new();
    h.update(c.key().as_bytes());
    for (k, v) in &hit.group {
        h.update([0]);
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
    }
    for id in &hit.event_ids {
        h.update([1]);
        h.update(id.as_bytes());
    }
    h.update(hit.first.to_le_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    ev.event_id = Some(uuid::Builder::from_custom_bytes(bytes).into_uuid());
    let ip_of = |names: &[&str]| {
        hit.group
            .iter()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v)
            .find(|v| v.parse::<std::net::IpAddr>().is_ok())
            .cloned()
    };
    ev.src_ip = ip_of(&["src_ip", "c-ip", "source_ip", "attacker", "client_ip"]);
    ev.dest_ip = ip_of(&["dest_ip", "dst_ip", "s-ip", "target"]);
    ev.drill = hit.drill.clone();
    if hit.units.len() == 1 {
        ev.unit = hit.units.first().cloned();
    }
    let level = c.level.clone().or(Some("medium".into()));
    let mut md = metadata(&c.id, &c.tags, &c.author, &c.references, &level);
    md.insert("correlation_type".into(), json!(c.kind.as_str()));
    ev.alert = Some(crate::event::Alert {
        action: "allowed".into(),
        gid: 4,
        signature_id: super::stable_sid(c.key().as_bytes()),
        rev: 1,
        signature: format!("SIGMA {}", c.title),
        category: format!("Sigma correlation ({})", c.kind.as_str()),
        severity: severity_of(level.as_deref()),
        metadata: Some(md),
        extra: Default::default(),
    });
    let group: Map<String, Value> = hit
        .group
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut extra = crate::event::Extra::default();
    extra.insert("correlation".into(), json!(c.kind.as_str()));
    extra.insert("group".into(), Value::Object(group));
    extra.insert("count".into(), json!(hit.count));
    extra.insert(
        "first".into(),
        json!(crate::event::format_timestamp(hit.first)),
    );
    extra.insert(
        "last".into(),
        json!(crate::event::format_timestamp(hit.last)),
    );
    extra.insert("events".into(), json!(hit.event_ids));
    extra.insert("units".into(), json!(hit.units));
    if !hit.values.is_empty() {
        extra.insert("values".into(), json!(hit.values));
    }
    if let Some(a) = &c.author {
        extra.insert("author".into(), json!(a));
    }
    if let Some(n) = &c.name {
        extra.insert("name".into(), json!(n));
    }
    extra.insert("rule_file".into(), json!(c.file));
    ev.sigma = Some(crate::event::SigmaMatch {
        rule_id: c.id.clone().unwrap_or_default(),
        title: c.title.clone(),
        level,
        tags: c.tags.clone(),
        extra,
    });
    ev
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
