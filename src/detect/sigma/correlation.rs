//! Sigma correlation rules (specification v2): `event_count`,
//! `value_count`, `temporal` and `temporal_ordered`, with `group-by`,
//! `timespan`, `aliases`, `generate`, and rules that refer to other
//! correlations.
//!
//! A correlation is about many events, possibly from many sensors, so it
//! runs at central (and in `replay`, over one input). Its inputs are Sigma
//! matches: the sensor ships every match, as an `alert` when the rule
//! stands alone and as a quiet `sigma` event when the rule only feeds
//! correlations (`generate: false`, the default). [`Correlator`] keeps, per
//! correlation and per group (the `group-by` values, plus the drill run id
//! so that a drill never correlates with real traffic), the least state
//! that decides the condition:
//!
//! - `event_count` with only lower bounds (`gt`, `gte`): the last *n* times
//!   (n the count that satisfies the condition), a sliding window that
//!   fires as soon as the newest *n* events fit in `timespan`;
//! - `value_count` likewise with the newest time of each distinct value;
//! - any count with an upper bound (`lt`, `lte`, `eq`): a window that
//!   opens at a group's first event and is judged when it closes (a later
//!   event of the group, or [`Correlator::flush`]);
//! - `temporal`: the newest time of each referenced rule; `temporal_ordered`:
//!   for each step, the start of the newest in-order run reaching it.
//!
//! A group that fires starts again empty, so a burst gives one result, not
//! one per further event. Times are the events' own (the sensor's clock),
//! so a batch delayed by an outage still correlates as it happened. The
//! number of groups per correlation is bounded: when full, expired groups
//! go first, then the least recently seen; evictions are counted.
//!
//! State is not written to disk: central rebuilds it at start by feeding
//! the stored matches of the longest timespan back through
//! ([`crate::central::correlate`]); results carry an id derived from the
//! correlation, the group and the contributing events, so a result found
//! again is stored once.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde_json::{Map, Value, json};

use super::condition::{self, Cond};
use super::rule::{SigmaDiagnostic, text, texts};
use super::yaml::{Node, Pos};

/// The four correlation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

impl CorrelationType {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationType::EventCount => "event_count",
            CorrelationType::ValueCount => "value_count",
            CorrelationType::Temporal => "temporal",
            CorrelationType::TemporalOrdered => "temporal_ordered",
        }
    }
}

/// A count condition: every bound that is set must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountCondition {
    pub gt: Option<u64>,
    pub gte: Option<u64>,
    pub lt: Option<u64>,
    pub lte: Option<u64>,
    pub eq: Option<u64>,
}

impl CountCondition {
    pub fn holds(&self, n: u64) -> bool {
        self.gt.is_none_or(|v| n > v)
            && self.gte.is_none_or(|v| n >= v)
            && self.lt.is_none_or(|v| n < v)
            && self.lte.is_none_or(|v| n <= v)
            && self.eq.is_none_or(|v| n == v)
    }

    /// Whether a larger count could stop satisfying it: then the count is
    /// judged when the window closes, not as it grows.
    fn has_upper_bound(&self) -> bool {
        self.lt.is_some() || self.lte.is_some() || self.eq.is_some()
    }

    /// The count at which a lower-bound-only condition first holds.
    fn needed(&self) -> u64 {
        let a = self.gt.map_or(0, |v| v.saturating_add(1));
        let b = self.gte.unwrap_or(0);
        a.max(b).max(1)
    }

    /// How many entries a group needs to keep to decide.
    fn cap(&self) -> usize {
        let upper = [
            self.lt,
            self.lte.map(|v| v.saturating_add(1)),
            self.eq.map(|v| v.saturating_add(1)),
        ]
        .into_iter()
        .flatten()
        .max();
        let n = upper.unwrap_or_else(|| self.needed());
        usize::try_from(n.clamp(1, MAX_ENTRIES as u64)).unwrap_or(MAX_ENTRIES)
    }
}

/// The most times or values one group keeps, whatever the condition says.
const MAX_ENTRIES: usize = 100_000;
/// The most contributing event ids a result lists.
const MAX_IDS: usize = 32;
/// The most units a result lists.
const MAX_UNITS: usize = 64;

/// What a correlation condition is for the temporal types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemporalCondition {
    /// Every referenced rule (the default).
    All,
    /// A count of distinct referenced rules seen.
    Count(CountCondition),
    /// An expression over the referenced rules' names.
    Expr(Cond),
}

/// A compiled correlation rule.
#[derive(Debug, Clone)]
pub struct Correlation {
    pub title: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub level: Option<String>,
    pub status: Option<String>,
    pub author: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub references: Vec<String>,
    pub file: String,
    pub pos: Pos,
    pub kind: CorrelationType,
    /// The referenced rules as written (ids or names), and where.
    pub rules: Vec<(String, Pos)>,
    pub group_by: Vec<String>,
    pub timespan_micros: i64,
    /// The count condition of `event_count` and `value_count`.
    pub count: CountCondition,
    /// `value_count`: the field(s) whose distinct values are counted.
    pub fields: Vec<String>,
    pub temporal: TemporalCondition,
    /// alias → (rule name → field).
    pub aliases: Vec<(String, Vec<(String, String)>)>,
    /// Whether the referenced rules also give results of their own.
    pub generate: bool,
}

impl Correlation {
    /// The key results are known by: the id, else the name, else the title.
    pub fn key(&self) -> &str {
        self.id
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.title)
    }
}

fn err(file: &str, pos: Pos, message: impl Into<String>) -> SigmaDiagnostic {
    SigmaDiagnostic {
        file: file.to_string(),
        line: pos.line,
        col: pos.col,
        message: message.into(),
    }
}

/// Parses a Sigma timespan (`30s`, `5m`, `1h`, `7d`; also `w` weeks) to
/// microseconds.
pub fn parse_timespan(s: &str) -> Option<i64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    (n > 0).then(|| n.saturating_mul(secs).saturating_mul(1_000_000))
}

fn bool_of(n: &Node) -> Option<bool> {
    match n.as_str()? {
        "true" | "True" | "TRUE" | "yes" => Some(true),
        "false" | "False" | "FALSE" | "no" => Some(false),
        _ => None,
    }
}

/// Compiles a correlation document; every problem at file:line:column.
pub fn compile(doc: &Node, file: &str) -> Result<Correlation, Vec<SigmaDiagnostic>> {
    let mut diags = Vec::new();
    let title = text(doc.get("title")).unwrap_or_default();
    if title.is_empty() {
        diags.push(err(file, doc.pos(), "a correlation needs a `title`"));
    }
    let Some(c) = doc.get("correlation") else {
        return Err(vec![err(file, doc.pos(), "no `correlation` section")]);
    };
    if !matches!(c, Node::Map { .. }) {
        return Err(vec![err(file, c.pos(), "`correlation` must be a mapping")]);
    }
    let kind = match c.get("type").and_then(Node::as_str) {
        Some("event_count") => CorrelationType::EventCount,
        Some("value_count") => CorrelationType::ValueCount,
        Some("temporal") => CorrelationType::Temporal,
        Some("temporal_ordered") => CorrelationType::TemporalOrdered,
        Some(other) => {
            let pos = c.get("type").map_or(c.pos(), Node::pos);
            return Err(vec![err(
                file,
                pos,
                format!(
                    "unknown correlation type `{other}`: expected event_count, value_count, temporal or temporal_ordered"
                ),
            )]);
        }
        None => return Err(vec![err(file, c.pos(), "a correlation needs a `type`")]),
    };
    let rules: Vec<(String, Pos)> = match c.get("rules") {
        Some(Node::Seq { items, .. }) => items
            .iter()
            .filter_map(|i| i.as_str().map(|s| (s.to_string(), i.pos())))
            .collect(),
        Some(n @ Node::Scalar { text, .. }) => vec![(text.clone(), n.pos())],
        Some(n) => {
            diags.push(err(
                file,
                n.pos(),
                "`rules` must be a list of rule ids or names",
            ));
            Vec::new()
        }
        None => Vec::new(),
    };
    if rules.is_empty() && diags.is_empty() {
        diags.push(err(file, c.pos(), "a correlation needs `rules`"));
    }
    let group_by = texts(c.get("group-by"));
    let timespan_micros = match c.get("timespan") {
        Some(n) => match n.as_str().and_then(parse_timespan) {
            Some(t) => t,
            None => {
                diags.push(err(
                    file,
                    n.pos(),
                    format!(
                        "bad timespan `{}`: expected a number and s, m, h or d, such as 10m",
                        n.as_str().unwrap_or_default()
                    ),
                ));
                0
            }
        },
        None => {
            diags.push(err(file, c.pos(), "a correlation needs a `timespan`"));
            0
        }
    };
    let mut count = CountCondition::default();
    let mut fields = texts(c.get("field"));
    let mut temporal = TemporalCondition::All;
    let names: Vec<String> = rules.iter().map(|(r, _)| r.clone()).collect();
    match c.get("condition") {
        Some(Node::Map { entries, .. }) => {
            for (k, v) in entries {
                let key = k.as_str().unwrap_or_default();
                if key == "field" {
                    fields = texts(Some(v));
                    continue;
                }
                let Some(n) = v.as_str().and_then(|s| s.trim().parse::<u64>().ok()) else {
                    diags.push(err(file, v.pos(), format!("`{key}` needs a whole number")));
                    continue;
                };
                let slot = match key {
                    "gt" => &mut count.gt,
                    "gte" => &mut count.gte,
                    "lt" => &mut count.lt,
                    "lte" => &mut count.lte,
                    "eq" => &mut count.eq,
                    other => {
                        diags.push(err(
                            file,
                            k.pos(),
                            format!(
                                "unknown condition `{other}`: expected gt, gte, lt, lte, eq (and field for value_count)"
                            ),
                        ));
                        continue;
                    }
                };
                *slot = Some(n);
            }
            if matches!(
                kind,
                CorrelationType::Temporal | CorrelationType::TemporalOrdered
            ) {
                temporal = TemporalCondition::Count(count);
            }
        }
        Some(n @ Node::Scalar { text, .. })
            if matches!(
                kind,
                CorrelationType::Temporal | CorrelationType::TemporalOrdered
            ) =>
        {
            match condition::parse(text, &names) {
                Ok(cond) => temporal = TemporalCondition::Expr(cond),
                Err(e) => {
                    let p = n.pos();
                    diags.push(err(
                        file,
                        Pos {
                            line: p.line,
                            col: p.col + e.col - 1,
                        },
                        format!("condition: {}", e.message),
                    ));
                }
            }
        }
        Some(n) => diags.push(err(
            file,
            n.pos(),
            "the condition must be a mapping such as `gte: 10`",
        )),
        None => {
            if matches!(
                kind,
                CorrelationType::EventCount | CorrelationType::ValueCount
            ) {
                diags.push(err(
                    file,
                    c.pos(),
                    format!("a {} correlation needs a `condition`", kind.as_str()),
                ));
            }
        }
    }
    if matches!(
        kind,
        CorrelationType::EventCount | CorrelationType::ValueCount
    ) && count == CountCondition::default()
        && !diags.iter().any(|d| d.message.contains("condition"))
    {
        diags.push(err(
            file,
            c.get("condition").map_or(c.pos(), Node::pos),
            "the condition needs at least one of gt, gte, lt, lte, eq",
        ));
    }
    if kind == CorrelationType::ValueCount && fields.is_empty() {
        diags.push(err(
            file,
            c.get("condition").map_or(c.pos(), Node::pos),
            "a value_count correlation needs `field` (in its condition)",
        ));
    }
    let mut aliases = Vec::new();
    if let Some(a) = c.get("aliases") {
        match a {
            Node::Map { entries, .. } => {
                for (k, v) in entries {
                    let alias = k.as_str().unwrap_or_default().to_string();
                    let Node::Map { entries: per, .. } = v else {
                        diags.push(err(
                            file,
                            v.pos(),
                            format!("alias `{alias}` must map rule names to fields"),
                        ));
                        continue;
                    };
                    let mut map = Vec::new();
                    for (r, f) in per {
                        let (Some(r), Some(f)) = (r.as_str(), f.as_str()) else {
                            diags.push(err(
                                file,
                                f.pos(),
                                "an alias maps a rule name to a field name",
                            ));
                            continue;
                        };
                        if !names.iter().any(|n| n == r) {
                            diags.push(err(
                                file,
                                per.iter().find(|(k, _)| k.as_str() == Some(r)).map_or(v.pos(), |(k, _)| k.pos()),
                                format!("alias `{alias}` names rule `{r}`, which this correlation does not refer to"),
                            ));
                        }
                        map.push((r.to_string(), f.to_string()));
                    }
                    aliases.push((alias, map));
                }
            }
            n => diags.push(err(file, n.pos(), "`aliases` must be a mapping")),
        }
    }
    let generate = c
        .get("generate")
        .or(doc.get("generate"))
        .and_then(bool_of)
        .unwrap_or(false);
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(Correlation {
        title,
        id: text(doc.get("id")),
        name: text(doc.get("name")),
        level: text(doc.get("level")),
        status: text(doc.get("status")),
        author: text(doc.get("author")),
        description: text(doc.get("description")),
        tags: texts(doc.get("tags")),
        references: texts(doc.get("references")),
        file: file.to_string(),
        pos: doc.pos(),
        kind,
        rules,
        group_by,
        timespan_micros,
        count,
        fields,
        temporal,
        aliases,
        generate,
    })
}

/// What a correlation refers to, once names are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A detection rule (index in the rule set).
    Rule(usize),
    /// Another correlation (index in the rule set's correlations).
    Correlation(usize),
}

/// One input to the correlator: a match of a detection rule, or a result
/// of a correlation that others refer to.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub source: Source,
    /// The event's own time, microseconds.
    pub time: i64,
    /// Fields to group and count by (the log fields, plus `unit`,
    /// `sensor`, `src_ip`, `dest_ip`).
    pub fields: &'a Map<String, Value>,
    /// Values for names `fields` lacks (the event's `unit`, `sensor`,
    /// `src_ip`, `dest_ip`).
    pub fallback: &'a [(&'a str, &'a str)],
    pub event_id: Option<String>,
    pub unit: Option<&'a str>,
    pub drill: Option<&'a str>,
}

/// A correlation that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Index in the rule set's correlations.
    pub correlation: usize,
    /// `group-by` names and their values.
    pub group: Vec<(String, String)>,
    /// The count that satisfied the condition (events, values, or rules).
    pub count: u64,
    pub first: i64,
    pub last: i64,
    /// Some contributing event ids (the newest, at most 32).
    pub event_ids: Vec<String>,
    /// Units the contributing events came from (at most 64).
    pub units: Vec<String>,
    pub drill: Option<String>,
    /// For `value_count`: some of the distinct values.
    pub values: Vec<String>,
}

/// Counters of the correlator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CorrelatorStats {
    pub inputs: u64,
    pub hits: u64,
    /// Groups dropped because a correlation had `max_groups` of them.
    pub groups_evicted: u64,
    /// Inputs older than their group's window (arrived too late to count).
    pub late: u64,
}

#[derive(Debug, Default)]
struct Group {
    last_seen: i64,
    /// Window start, for windows judged at close.
    start: Option<i64>,
    /// event_count: the times kept.
    times: VecDeque<i64>,
    /// value_count: value → newest time.
    values: HashMap<String, i64>,
    /// temporal: newest time per referenced rule position; temporal_ordered:
    /// start of the newest in-order run reaching each position.
    steps: Vec<Option<i64>>,
    ids: VecDeque<String>,
    units: BTreeSet<String>,
    first: i64,
}

impl Group {
    fn note(&mut self, t: i64, id: Option<&str>, unit: Option<&str>) {
        if self.ids.is_empty() && self.times.is_empty() && self.values.is_empty() {
            self.first = t;
        }
        self.first = self.first.min(t);
        self.last_seen = self.last_seen.max(t);
        if let Some(id) = id {
            if self.ids.len() == MAX_IDS {
                self.ids.pop_front();
            }
            self.ids.push_back(id.to_string());
        }
        if let Some(u) = unit
            && self.units.len() < MAX_UNITS
        {
            self.units.insert(u.to_string());
        }
    }
}

/// The correlation engine: feed it matches with [`Correlator::observe`].
#[derive(Debug)]
pub struct Correlator {
    correlations: Vec<Correlation>,
    /// Per correlation, its resolved sources.
    sources: Vec<Vec<Source>>,
    /// Whether a correlation's results are alerts (not only inputs to
    /// others).
    emits: Vec<bool>,
    /// Per source, the (correlation, position) pairs that take it.
    takers: HashMap<Source, Vec<(usize, usize)>>,
    groups: Vec<HashMap<Vec<String>, Group>>,
    max_groups: usize,
    pub stats: CorrelatorStats,
}

impl Correlator {
    /// An engine for resolved correlations: `sources[i]` are correlation
    /// i's references, `emits[i]` whether its results are alerts.
    pub fn new(
        correlations: Vec<Correlation>,
        sources: Vec<Vec<Source>>,
        emits: Vec<bool>,
        max_groups: usize,
    ) -> Correlator {
        let mut takers: HashMap<Source, Vec<(usize, usize)>> = HashMap::new();
        for (c, srcs) in sources.iter().enumerate() {
            for (pos, s) in srcs.iter().enumerate() {
                takers.entry(*s).or_default().push((c, pos));
            }
        }
        let n = correlations.len();
        Correlator {
            correlations,
            sources,
            emits,
            takers,
            groups: (0..n).map(|_| HashMap::new()).collect(),
            max_groups: max_groups.max(1),
            stats: CorrelatorStats::default(),
        }
    }

    pub fn correlations(&self) -> &[Correlation] {
        &self.correlations
    }

    /// Whether anything refers to `s` (a match of a rule nobody correlates
    /// need not be fed).
    pub fn takes(&self, s: Source) -> bool {
        self.takers.contains_key(&s)
    }

    /// The longest timespan: how far back a rebuild must read.
    pub fn max_timespan(&self) -> i64 {
        self.correlations
            .iter()
            .map(|c| c.timespan_micros)
            .max()
            .unwrap_or(0)
    }

    /// Groups held, over all correlations.
    pub fn group_count(&self) -> usize {
        self.groups.iter().map(HashMap::len).sum()
    }

    /// Feeds one match; returns the results that are alerts (results of
    /// correlations that only feed others are passed on, not returned).
    pub fn observe(&mut self, input: &Input<'_>) -> Vec<Hit> {
        self.stats.inputs += 1;
        let mut out = Vec::new();
        self.feed(input, &mut out, 0);
        out
    }

    fn feed(&mut self, input: &Input<'_>, out: &mut Vec<Hit>, depth: usize) {
        // references are acyclic (checked at load); the depth is a guard
        if depth > 16 {
            return;
        }
        let n = self.takers.get(&input.source).map_or(0, Vec::len);
        for k in 0..n {
            let Some(&(c, pos)) = self.takers.get(&input.source).and_then(|t| t.get(k)) else {
                break;
            };
            if let Some(hit) = self.step(c, pos, input) {
                self.deliver(hit, out, depth);
            }
        }
    }

    fn deliver(&mut self, hit: Hit, out: &mut Vec<Hit>, depth: usize) {
        self.stats.hits += 1;
        let c = hit.correlation;
        if self.takes(Source::Correlation(c)) {
            let mut fields = Map::new();
            for (k, v) in &hit.group {
                fields.insert(k.clone(), Value::String(v.clone()));
            }
            let unit = (hit.units.len() == 1).then(|| hit.units[0].clone());
            if let Some(u) = &unit {
                fields.insert("unit".into(), json!(u));
            }
            let id = hit.event_ids.last().cloned();
            let input = Input {
                source: Source::Correlation(c),
                time: hit.last,
                fields: &fields,
                fallback: &[],
                event_id: id,
                unit: unit.as_deref(),
                drill: hit.drill.as_deref(),
            };
            self.feed(&input, out, depth + 1);
        }
        if self.emits.get(c).copied().unwrap_or(true) {
            out.push(hit);
        }
    }

    /// The value of group-by `name` for an input from position `pos`.
    fn group_value(&self, c: usize, pos: usize, name: &str, input: &Input<'_>) -> String {
        let corr = &self.correlations[c];
        let field = corr
            .aliases
            .iter()
            .find(|(a, _)| a == name)
            .and_then(|(_, per)| {
                let (r, _) = corr.rules.get(pos)?;
                per.iter().find(|(rn, _)| rn == r).map(|(_, f)| f.as_str())
            })
            .unwrap_or(name);
        lookup(input, field)
    }

    fn step(&mut self, c: usize, pos: usize, input: &Input<'_>) -> Option<Hit> {
        let corr = &self.correlations[c];
        let span = corr.timespan_micros;
        let kind = corr.kind;
        let count = corr.count;
        let mut key: Vec<String> = corr
            .group_by
            .iter()
            .map(|g| self.group_value(c, pos, g, input))
            .collect();
        key.push(input.drill.unwrap_or_default().to_string());
        let value = (kind == CorrelationType::ValueCount).then(|| {
            let fields = &self.correlations[c].fields;
            fields
                .iter()
                .map(|f| lookup(input, f))
                .collect::<Vec<_>>()
                .join("\u{1f}")
        });
        let nrules = self.sources[c].len();
        if !self.groups[c].contains_key(&key) && self.groups[c].len() >= self.max_groups {
            self.evict(c, input.time);
        }
        // disjoint fields: the rule is read while its groups change
        let group_names = &self.correlations[c].group_by;
        let temporal = &self.correlations[c].temporal;
        let groups = &mut self.groups[c];
        let g = groups.entry(key.clone()).or_default();
        let t = input.time;
        // a window judged at close: close it first if this input is past it
        let judged_at_close = matches!(
            kind,
            CorrelationType::EventCount | CorrelationType::ValueCount
        ) && count.has_upper_bound();
        let mut closed = None;
        if judged_at_close && let Some(s) = g.start {
            if t >= s + span {
                closed = close(c, &key, group_names, g, kind, &count);
                *g = Group::default();
            } else if t < s {
                self.stats.late += 1;
            }
        }
        if kind == CorrelationType::ValueCount && value.as_deref() == Some("") {
            // no value to count: the event does not take part
            return closed;
        }
        g.note(t, input.event_id.as_deref(), input.unit);
        let cap = count.cap();
        let fired = match kind {
            CorrelationType::EventCount => {
                if judged_at_close {
                    g.start.get_or_insert(t);
                    if g.times.len() < cap {
                        g.times.push_back(t);
                    }
                    false
                } else {
                    insert_sorted(&mut g.times, t);
                    while g.times.len() > cap {
                        g.times.pop_front();
                    }
                    let newest = g.times.back().copied().unwrap_or(t);
                    let n = g.times.iter().filter(|&&x| x > newest - span).count() as u64;
                    count.holds(n)
                }
            }
            CorrelationType::ValueCount => {
                let v = value.unwrap_or_default();
                if judged_at_close {
                    g.start.get_or_insert(t);
                    if g.values.len() < cap || g.values.contains_key(&v) {
                        g.values.insert(v, t);
                    }
                    false
                } else {
                    let e = g.values.entry(v).or_insert(t);
                    *e = (*e).max(t);
                    let newest = g.last_seen;
                    g.values.retain(|_, seen| *seen > newest - span);
                    if g.values.len() > cap {
                        // keep the newest `cap` values
                        let mut all: Vec<(String, i64)> = g.values.drain().collect();
                        all.sort_by_key(|(_, s)| std::cmp::Reverse(*s));
                        all.truncate(cap);
                        g.values = all.into_iter().collect();
                    }
                    count.holds(g.values.len() as u64)
                }
            }
            CorrelationType::Temporal => {
                g.steps.resize(nrules, None);
                if let Some(s) = g.steps.get_mut(pos) {
                    *s = Some(s.map_or(t, |x| x.max(t)));
                }
                let newest = g.steps.iter().flatten().copied().max().unwrap_or(t);
                for s in g.steps.iter_mut() {
                    if s.is_some_and(|x| x <= newest - span) {
                        *s = None;
                    }
                }
                temporal_holds(temporal, &g.steps)
            }
            CorrelationType::TemporalOrdered => {
                g.steps.resize(nrules, None);
                let newest = t.max(g.last_seen);
                for s in g.steps.iter_mut() {
                    if s.is_some_and(|x| x <= newest - span) {
                        *s = None;
                    }
                }
                if pos == 0 {
                    if let Some(s) = g.steps.get_mut(0) {
                        *s = Some(s.map_or(t, |x| x.max(t)));
                    }
                } else if let Some(start) = g.steps.get(pos - 1).copied().flatten()
                    && t >= start
                    && t - start < span
                    && let Some(s) = g.steps.get_mut(pos)
                {
                    *s = Some(s.map_or(start, |x| x.max(start)));
                }
                match temporal {
                    TemporalCondition::All => g.steps.last().copied().flatten().is_some(),
                    other => temporal_holds(other, &g.steps),
                }
            }
        };
        let fired_hit = if fired {
            let n = match kind {
                CorrelationType::EventCount => {
                    let newest = g.times.back().copied().unwrap_or(t);
                    g.times.iter().filter(|&&x| x > newest - span).count() as u64
                }
                CorrelationType::ValueCount => g.values.len() as u64,
                _ => g.steps.iter().flatten().count() as u64,
            };
            let hit = make_hit(c, &key, group_names, g, n);
            *g = Group::default();
            groups.remove(&key);
            Some(hit)
        } else {
            None
        };
        // a closed window's result comes first; a fire in the same call is
        // impossible (judged-at-close windows never fire on input)
        closed.or(fired_hit)
    }

    /// Judges windows that have closed by `now` (central calls this from a
    /// timer; `replay` at the end of its input with `i64::MAX`).
    pub fn flush(&mut self, now: i64) -> Vec<Hit> {
        let mut out = Vec::new();
        for c in 0..self.correlations.len() {
            let corr = &self.correlations[c];
            let (kind, count, span) = (corr.kind, corr.count, corr.timespan_micros);
            let group_names = corr.group_by.clone();
            let judged_at_close = matches!(
                kind,
                CorrelationType::EventCount | CorrelationType::ValueCount
            ) && count.has_upper_bound();
            let mut hits = Vec::new();
            self.groups[c].retain(|key, g| {
                let expired = match g.start {
                    Some(s) => now >= s.saturating_add(span),
                    None => g.last_seen.saturating_add(span) <= now,
                };
                if expired && judged_at_close {
                    hits.extend(close(c, key, &group_names, g, kind, &count));
                }
                !expired
            });
            for h in hits {
                self.deliver(h, &mut out, 0);
            }
        }
        out
    }

    /// Makes room in correlation `c`: expired groups first, then the least
    /// recently seen tenth.
    fn evict(&mut self, c: usize, now: i64) {
        let span = self.correlations[c].timespan_micros;
        let before = self.groups[c].len();
        let judged_at_close = self.correlations[c].count.has_upper_bound();
        if !judged_at_close {
            self.groups[c].retain(|_, g| g.last_seen > now - span);
        }
        if self.groups[c].len() >= self.max_groups {
            let mut seen: Vec<i64> = self.groups[c].values().map(|g| g.last_seen).collect();
            let k = (self.max_groups / 10)
                .max(1)
                .min(seen.len().saturating_sub(1));
            seen.select_nth_unstable(k);
            let cut = seen[k];
            let mut dropped = 0usize;
            let want = self.groups[c].len() + 1 - self.max_groups.max(1);
            let want = want.max(self.max_groups / 10).max(1);
            self.groups[c].retain(|_, g| {
                if dropped < want && g.last_seen <= cut {
                    dropped += 1;
                    false
                } else {
                    true
                }
            });
        }
        self.stats.groups_evicted += (before - self.groups[c].len()) as u64;
    }
}

fn insert_sorted(q: &mut VecDeque<i64>, t: i64) {
    // almost always in order: append; otherwise insert in place
    let i = q.iter().rposition(|&x| x <= t).map_or(0, |i| i + 1);
    q.insert(i, t);
}

fn temporal_holds(cond: &TemporalCondition, steps: &[Option<i64>]) -> bool {
    match cond {
        TemporalCondition::All => !steps.is_empty() && steps.iter().all(Option::is_some),
        TemporalCondition::Count(c) => c.holds(steps.iter().flatten().count() as u64),
        TemporalCondition::Expr(e) => e.eval(&mut |i| steps.get(i).copied().flatten().is_some()),
    }
}

fn close(
    c: usize,
    key: &[String],
    names: &[String],
    g: &Group,
    kind: CorrelationType,
    count: &CountCondition,
) -> Option<Hit> {
    let n = match kind {
        CorrelationType::EventCount => g.times.len() as u64,
        _ => g.values.len() as u64,
    };
    (g.start.is_some() && count.holds(n)).then(|| make_hit(c, key, names, g, n))
}

fn make_hit(c: usize, key: &[String], names: &[String], g: &Group, n: u64) -> Hit {
    let mut values: Vec<String> = g.values.keys().take(MAX_IDS).cloned().collect();
    values.sort();
    Hit {
        correlation: c,
        group: names.iter().cloned().zip(key.iter().cloned()).collect(),
        count: n,
        first: g.first,
        last: g.last_seen,
        event_ids: g.ids.iter().cloned().collect(),
        units: g.units.iter().cloned().collect(),
        drill: key.last().filter(|d| !d.is_empty()).cloned(),
        values,
    }
}

/// The text of field `name` of an input: its fields, else its fallback.
fn lookup(input: &Input<'_>, name: &str) -> String {
    match input.fields.get(name) {
        Some(v) => value_text(Some(v)),
        None => input
            .fallback
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_string())
            .unwrap_or_default(),
    }
}

/// A field value as grouping text (`""` when absent or null).
fn value_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::SigmaRuleSet;
    use super::*;

    const BASE: &str = r#"
title: failed
name: failed
logsource: {product: linux, service: sshd}
detection:
    sel: {event: failed_auth}
    condition: sel
---
title: ok
name: ok
logsource: {product: linux, service: sshd}
detection:
    sel: {event: accepted}
    condition: sel
"#;

    fn set(corr: &str) -> SigmaRuleSet {
        let mut s = SigmaRuleSet::default();
        let mut d = Vec::new();
        s.add_text("t.yml", &format!("{BASE}\n---\n{corr}"), &mut d);
        s.finish(&mut d);
        assert!(d.is_empty(), "{d:?}");
        s
    }

    fn diags(corr: &str) -> Vec<String> {
        let mut s = SigmaRuleSet::default();
        let mut d = Vec::new();
        s.add_text("t.yml", &format!("{BASE}\n---\n{corr}"), &mut d);
        s.finish(&mut d);
        d.iter().map(ToString::to_string).collect()
    }

    type Fields<'a> = &'a [(&'a str, &'a str)];

    /// Feeds (rule name, seconds, fields) and returns the hits.
    fn run(s: &SigmaRuleSet, inputs: &[(&str, i64, Fields<'_>)]) -> Vec<Hit> {
        let mut c = s.correlator(1000);
        let mut out = Vec::new();
        for (i, (rule, t, fields)) in inputs.iter().enumerate() {
            let idx = s
                .rules
                .iter()
                .position(|r| r.name.as_deref() == Some(rule))
                .unwrap();
            let f: Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            let unit = f.get("unit").and_then(Value::as_str).map(str::to_string);
            let drill = f.get("drill").and_then(Value::as_str).map(str::to_string);
            out.extend(c.observe(&Input {
                source: Source::Rule(idx),
                time: t * 1_000_000,
                fields: &f,
                fallback: &[],
                event_id: Some(format!("e{i}")),
                unit: unit.as_deref(),
                drill: drill.as_deref(),
            }));
        }
        out.extend(c.flush(i64::MAX));
        out
    }

    const COUNT: &str = r#"
title: brute
correlation:
    type: event_count
    rules: [failed]
    group-by: [src_ip]
    timespan: 1m
    condition: {gte: 3}
"#;

    #[test]
    fn event_count_fires_once_per_burst_within_the_timespan() {
        let s = set(COUNT);
        assert!(s.quiet[0], "a rule only correlations use is quiet");
        assert!(!s.quiet[1]);
        let a: &[(&str, &str)] = &[("src_ip", "203.0.113.5")];
        let b: &[(&str, &str)] = &[("src_ip", "198.51.100.7")];
        // three from a within a minute; b's two do not count for a
        let hits = run(
            &s,
            &[
                ("failed", 0, a),
                ("failed", 10, b),
                ("failed", 20, a),
                ("failed", 30, b),
                ("failed", 50, a),
                ("failed", 55, a),
            ],
        );
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].group, vec![("src_ip".into(), "203.0.113.5".into())]);
        assert_eq!(hits[0].count, 3);
        assert_eq!((hits[0].first, hits[0].last), (0, 50_000_000));
        assert_eq!(hits[0].event_ids, vec!["e0", "e2", "e4"]);
        // spread over more than the timespan: nothing
        let hits = run(
            &s,
            &[("failed", 0, a), ("failed", 40, a), ("failed", 80, a)],
        );
        assert!(hits.is_empty(), "{hits:?}");
    }

    #[test]
    fn late_events_are_placed_by_their_own_time() {
        let s = set(COUNT);
        let a: &[(&str, &str)] = &[("src_ip", "203.0.113.5")];
        // arrives out of order (a delayed batch): still three within 60 s
        let hits = run(
            &s,
            &[("failed", 100, a), ("failed", 50, a), ("failed", 70, a)],
        );
        assert_eq!(hits.len(), 1, "{hits:?}");
    }

    #[test]
    fn value_count_counts_distinct_values() {
        let s = set(r#"
title: spray
correlation:
    type: value_count
    rules: [failed]
    group-by: [src_ip]
    timespan: 10m
    condition: {field: user, gte: 3}
"#);
        let f = |u: &'static str| -> Vec<(&'static str, &'static str)> {
            vec![("src_ip", "203.0.113.5"), ("user", u)]
        };
        let (a, b, c) = (f("root"), f("admin"), f("oracle"));
        let hits = run(
            &s,
            &[
                ("failed", 0, &a),
                ("failed", 1, &a),
                ("failed", 2, &b),
                ("failed", 3, &b),
            ],
        );
        assert!(hits.is_empty(), "two users are not spraying: {hits:?}");
        let hits = run(
            &s,
            &[("failed", 0, &a), ("failed", 1, &b), ("failed", 2, &c)],
        );
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].count, 3);
        assert_eq!(hits[0].values, vec!["admin", "oracle", "root"]);
    }

    #[test]
    fn upper_bounds_are_judged_when_the_window_closes() {
        let s = set(r#"
title: range
correlation:
    type: event_count
    rules: [failed]
    group-by: [src_ip]
    timespan: 1m
    condition: {gt: 1, lte: 3}
"#);
        let a: &[(&str, &str)] = &[("src_ip", "203.0.113.5")];
        // 2 in the first window (fires when the next event closes it), 4 in
        // the second (too many), 1 in the last (too few)
        let hits = run(
            &s,
            &[
                ("failed", 0, a),
                ("failed", 30, a),
                ("failed", 100, a),
                ("failed", 110, a),
                ("failed", 120, a),
                ("failed", 130, a),
                ("failed", 300, a),
            ],
        );
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].count, 2);
        assert_eq!(hits[0].last, 30_000_000);
    }

    #[test]
    fn temporal_needs_every_rule_within_the_timespan() {
        let s = set(r#"
title: both
correlation:
    type: temporal
    rules: [failed, ok]
    group-by: [user]
    timespan: 5m
"#);
        let u: &[(&str, &str)] = &[("user", "ketoan")];
        let v: &[(&str, &str)] = &[("user", "vanthu")];
        assert_eq!(
            run(&s, &[("ok", 0, u), ("failed", 60, u)]).len(),
            1,
            "any order"
        );
        assert!(
            run(&s, &[("ok", 0, u), ("failed", 60, v)]).is_empty(),
            "other group"
        );
        assert!(
            run(&s, &[("ok", 0, u), ("failed", 400, u)]).is_empty(),
            "too far apart"
        );
    }

    #[test]
    fn temporal_ordered_with_a_chained_count_and_aliases() {
        let s = set(r#"
title: many failures
name: many
correlation:
    type: event_count
    rules: [failed]
    group-by: [src_ip]
    timespan: 10m
    condition: {gte: 3}
---
title: success after failures
correlation:
    type: temporal_ordered
    rules: [many, ok]
    group-by: [addr]
    aliases:
        addr:
            many: src_ip
            ok: client
    timespan: 30m
level: critical
"#);
        assert!(s.correlation_quiet[0], "`many` only feeds the ordered rule");
        let f: &[(&str, &str)] = &[("src_ip", "203.0.113.9")];
        let ok: &[(&str, &str)] = &[("client", "203.0.113.9")];
        let other: &[(&str, &str)] = &[("client", "198.51.100.1")];
        let hits = run(
            &s,
            &[
                ("failed", 0, f),
                ("failed", 5, f),
                ("failed", 9, f),
                ("ok", 60, ok),
            ],
        );
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(
            s.correlations[hits[0].correlation].title,
            "success after failures"
        );
        assert_eq!(hits[0].group, vec![("addr".into(), "203.0.113.9".into())]);
        // success first, then failures: not in order
        let hits = run(
            &s,
            &[
                ("ok", 0, ok),
                ("failed", 5, f),
                ("failed", 6, f),
                ("failed", 7, f),
            ],
        );
        assert!(hits.is_empty(), "{hits:?}");
        // a success from another address
        let hits = run(
            &s,
            &[
                ("failed", 0, f),
                ("failed", 5, f),
                ("failed", 9, f),
                ("ok", 60, other),
            ],
        );
        assert!(hits.is_empty(), "{hits:?}");
    }

    #[test]
    fn temporal_condition_expression() {
        let s = set(r#"
title: either
correlation:
    type: temporal
    rules: [failed, ok]
    group-by: [user]
    timespan: 5m
    condition: failed or ok
"#);
        let u: &[(&str, &str)] = &[("user", "a")];
        assert_eq!(run(&s, &[("ok", 0, u)]).len(), 1);
    }

    #[test]
    fn drills_never_correlate_with_real_events() {
        let s = set(COUNT);
        let real: &[(&str, &str)] = &[("src_ip", "203.0.113.5")];
        let drill: &[(&str, &str)] = &[("src_ip", "203.0.113.5"), ("drill", "run-1")];
        let hits = run(
            &s,
            &[
                ("failed", 0, real),
                ("failed", 1, drill),
                ("failed", 2, real),
            ],
        );
        assert!(hits.is_empty(), "{hits:?}");
        let hits = run(
            &s,
            &[
                ("failed", 0, drill),
                ("failed", 1, drill),
                ("failed", 2, drill),
            ],
        );
        assert_eq!(hits[0].drill.as_deref(), Some("run-1"));
    }

    #[test]
    fn groups_are_bounded_and_evictions_counted() {
        let s = set(COUNT);
        let mut c = s.correlator(100);
        let idx = 0;
        for i in 0..1000 {
            let mut f = Map::new();
            f.insert(
                "src_ip".into(),
                json!(format!("10.0.{}.{}", i / 256, i % 256)),
            );
            c.observe(&Input {
                source: Source::Rule(idx),
                time: 1_000_000,
                fields: &f,
                fallback: &[],
                event_id: None,
                unit: None,
                drill: None,
            });
        }
        assert!(c.group_count() <= 100, "{}", c.group_count());
        assert!(c.stats.groups_evicted >= 900, "{:?}", c.stats);
        assert_eq!(c.stats.inputs, 1000);
    }

    #[test]
    fn bad_correlations_are_reported_where_they_are_wrong() {
        let d = diags(
            "title: x\ncorrelation:\n    type: event_count\n    rules: [nosuch]\n    group-by: [a]\n    timespan: 5m\n    condition: {gte: 2}\n",
        );
        assert!(
            d.iter()
                .any(|m| m.contains(":20:13:") && m.contains("`nosuch`")),
            "{d:?}"
        );
        let d = diags(
            "title: x\ncorrelation:\n    type: event_count\n    rules: [failed]\n    timespan: 5 minutes\n    condition: {gte: 2}\n",
        );
        assert!(
            d.iter()
                .any(|m| m.contains(":21:15:") && m.contains("bad timespan")),
            "{d:?}"
        );
        let d = diags(
            "title: x\ncorrelation:\n    type: event_count\n    rules: [failed]\n    timespan: 5m\n    condition: {more: 2}\n",
        );
        assert!(
            d.iter().any(|m| m.contains("unknown condition `more`")),
            "{d:?}"
        );
        let d = diags(
            "title: x\ncorrelation:\n    type: value_count\n    rules: [failed]\n    timespan: 5m\n    condition: {gte: 2}\n",
        );
        assert!(d.iter().any(|m| m.contains("needs `field`")), "{d:?}");
        let d = diags(
            "title: x\ncorrelation:\n    type: sequence\n    rules: [failed]\n    timespan: 5m\n",
        );
        assert!(
            d.iter()
                .any(|m| m.contains("unknown correlation type `sequence`")),
            "{d:?}"
        );
        let d = diags(
            "title: a\nname: a\ncorrelation:\n    type: temporal\n    rules: [b]\n    timespan: 5m\n---\ntitle: b\nname: b\ncorrelation:\n    type: temporal\n    rules: [a]\n    timespan: 5m\n",
        );
        assert!(
            d.iter()
                .filter(|m| m.contains("refers back to itself"))
                .count()
                == 2,
            "{d:?}"
        );
    }

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("90m"), Some(90 * 60 * 1_000_000));
        assert_eq!(parse_timespan("1d"), Some(86_400 * 1_000_000));
        assert_eq!(parse_timespan("0s"), None);
        assert_eq!(parse_timespan("5 m"), None);
        assert_eq!(parse_timespan("m"), None);
        assert_eq!(parse_timespan("5y"), None);
    }
}
