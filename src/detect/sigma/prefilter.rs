//! A literal prefilter: most rules cannot match most lines, and can say so
//! cheaply.
//!
//! Nearly every Sigma rule for web, proxy and Linux logs needs some text to
//! appear in some field: `cs-uri-query|contains: ['../', '%2e%2e']`, an
//! `event: failed_auth`. From each rule's condition we derive such a
//! *necessary* set — "the rule can only match if one of these literals
//! occurs, case-insensitively, in this field" — where one exists:
//!
//! - a field match with `contains`/`startswith`/`endswith`/equality on
//!   plain text needs one of its values (with `all`, any one of them);
//!   negations, `exists`, `null`, wildcards, regular expressions, numbers,
//!   CIDR and field references give nothing;
//! - an AND (a selection's map, `and`, `all of`) needs what any one of its
//!   parts needs; an OR (a list, `or`, `1 of`) needs the union of what each
//!   part needs, and nothing if one part needs nothing; `not` gives nothing.
//!
//! Rules are first narrowed to those whose logsource applies to the
//! event's parser (one prefilter per parser and program, built on first
//! use). Per field, one Aho–Corasick automaton over those rules' literals
//! runs on the value once per event, ASCII case-insensitively (a rule with
//! a non-ASCII literal is not prefiltered); a rule with a necessary set is
//! evaluated only when one of its literals was found. A rule without one is
//! always evaluated. The prefilter never decides a match: it only skips
//! rules that could not have matched, so results are the same with or
//! without it (a test checks this on the conformance rules).

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use super::condition::Cond;
use super::matcher::{EventView, FieldMatch, Test};
use super::rule::SigmaRule;

/// A necessary set: (field or `None` for the raw line, literal) pairs.
type Need = Vec<(Option<String>, String)>;

/// The literals one field's automaton looks for, and the rules each one
/// lets through.
#[derive(Debug)]
struct FieldAutomaton {
    field: Option<String>,
    ac: AhoCorasick,
    rules_of: Vec<Vec<usize>>,
}

/// The prefilter of a rule set.
#[derive(Debug, Default)]
pub struct Prefilter {
    automata: Vec<FieldAutomaton>,
    /// Rules with no necessary set: always evaluated.
    always: Vec<bool>,
    /// How many rules have a necessary set.
    pub filtered: usize,
}

impl Prefilter {
    /// Builds the prefilter of `rules[subset]`; candidates are reported by
    /// position in `subset`.
    pub fn new(rules: &[SigmaRule], subset: &[usize]) -> Prefilter {
        // (field, literal) → positions
        let mut by_field: HashMap<Option<String>, HashMap<String, Vec<usize>>> = HashMap::new();
        let mut always = vec![true; subset.len()];
        let mut filtered = 0;
        for (pos, &i) in subset.iter().enumerate() {
            let Some(r) = rules.get(i) else { continue };
            let Some(need) = rule_need(r) else { continue };
            // the automata compare ASCII case-insensitively: a literal with
            // other characters cannot be relied on to be found
            if need.is_empty() || need.iter().any(|(_, l)| !l.is_ascii()) {
                continue;
            }
            always[pos] = false;
            filtered += 1;
            for (field, lit) in need {
                let rs = by_field.entry(field).or_default().entry(lit).or_default();
                if rs.last() != Some(&pos) {
                    rs.push(pos);
                }
            }
        }
        let mut automata = Vec::new();
        for (field, lits) in by_field {
            let (patterns, rules_of): (Vec<String>, Vec<Vec<usize>>) = lits.into_iter().unzip();
            match AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(true)
                .kind(Some(AhoCorasickKind::DFA))
                .build(&patterns)
                .or_else(|_| {
                    AhoCorasickBuilder::new()
                        .match_kind(MatchKind::Standard)
                        .ascii_case_insensitive(true)
                        .build(&patterns)
                }) {
                Ok(ac) => automata.push(FieldAutomaton {
                    field,
                    ac,
                    rules_of,
                }),
                Err(_) => {
                    // too large to build: those rules are always evaluated
                    for rs in rules_of {
                        for r in rs {
                            if let Some(a) = always.get_mut(r) {
                                *a = true;
                            }
                        }
                    }
                }
            }
        }
        Prefilter {
            automata,
            always,
            filtered,
        }
    }

    /// Per position, whether the rule may match `ev` (false only when it
    /// cannot).
    pub fn candidates(&self, ev: &EventView<'_>) -> Vec<bool> {
        let mut cand = self.always.clone();
        for fa in &self.automata {
            let mut mark = |hay: &str| {
                for m in fa.ac.find_overlapping_iter(hay) {
                    for &r in fa
                        .rules_of
                        .get(m.pattern().as_usize())
                        .into_iter()
                        .flatten()
                    {
                        if let Some(c) = cand.get_mut(r) {
                            *c = true;
                        }
                    }
                }
            };
            match &fa.field {
                None => mark(ev.raw),
                Some(f) => match ev.fields.get(f) {
                    Some(serde_json::Value::String(s)) => mark(s),
                    None if !f.contains('.') => {}
                    _ => {
                        if let Some(values) = ev.values(f) {
                            for v in &values {
                                mark(v);
                            }
                        }
                    }
                },
            }
        }
        cand
    }
}

/// A rule's necessary set, if it has one: any of its conditions may match,
/// so it is the union over them.
fn rule_need(r: &SigmaRule) -> Option<Need> {
    let mut all = Vec::new();
    for c in &r.conditions {
        all.extend(cond_need(r, c)?);
    }
    Some(all)
}

fn cond_need(r: &SigmaRule, c: &Cond) -> Option<Need> {
    match c {
        Cond::Sel(i) => selection_need(r, *i),
        Cond::Not(_) => None,
        Cond::And(cs) => best(cs.iter().filter_map(|c| cond_need(r, c))),
        Cond::AllOf(is) => best(is.iter().filter_map(|i| selection_need(r, *i))),
        Cond::Or(cs) => union(cs.iter().map(|c| cond_need(r, c))),
        Cond::AnyOf(is) => union(is.iter().map(|i| selection_need(r, *i))),
    }
}

fn selection_need(r: &SigmaRule, i: usize) -> Option<Need> {
    let groups = r.selections.get(i)?;
    if groups.is_empty() {
        return None;
    }
    // any group may match; within one, every field match must
    union(groups.iter().map(|g| best(g.iter().filter_map(field_need))))
}

/// The literals one field match needs (one of them must occur).
fn field_need(m: &FieldMatch) -> Option<Need> {
    if m.negate || m.exists.is_some() || m.null || m.time_part.is_some() || m.tests.is_empty() {
        return None;
    }
    let lit = |t: &Test| -> Option<String> {
        let s = match t {
            Test::Eq(s) | Test::StartsWith(s) | Test::EndsWith(s) => s.clone(),
            Test::Contains(f) => String::from_utf8(f.needle().to_vec()).ok()?,
            // a literal run shorter than 3 would let nearly everything by
            Test::Glob(_, l) if l.len() >= 3 => l.clone(),
            _ => return None,
        };
        // the matcher compares lower-cased values unless `cased`; the
        // lower-cased literal occurs in the lower-cased value either way
        let s = s.to_lowercase();
        (!s.is_empty()).then_some(s)
    };
    let field = m.field.clone();
    if m.all {
        // every value must occur: the longest one is enough to require
        let l = m.tests.iter().filter_map(lit).max_by_key(String::len)?;
        return Some(vec![(field, l)]);
    }
    let mut out = Vec::new();
    for t in &m.tests {
        out.push((field.clone(), lit(t)?));
    }
    Some(out)
}

/// Of several necessary sets that must all hold, the one to require: the
/// one whose weakest literal is strongest (fewest chance hits). A literal's
/// strength is its length, except in fields with a handful of common
/// values (a method, a status, an outcome), where any literal is weak.
fn best(needs: impl Iterator<Item = Need>) -> Option<Need> {
    const COMMON: &[&str] = &[
        "cs-method",
        "sc-status",
        "action",
        "outcome",
        "event",
        "proto",
        "record_type",
    ];
    let strength = |(f, l): &(Option<String>, String)| {
        if f.as_deref().is_some_and(|f| COMMON.contains(&f)) {
            0
        } else {
            l.len()
        }
    };
    needs
        .filter(|n| !n.is_empty())
        .max_by_key(|n| n.iter().map(strength).min().unwrap_or(0))
}

/// Of several alternatives, the union; nothing if any alternative has no
/// necessary set.
fn union(needs: impl Iterator<Item = Option<Need>>) -> Option<Need> {
    let mut out = Vec::new();
    for n in needs {
        let n = n?;
        if n.is_empty() {
            return None;
        }
        out.extend(n);
    }
    (!out.is_empty()).then_some(out)
}
