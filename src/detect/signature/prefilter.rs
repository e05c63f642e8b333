//! The multi-pattern prefilter: one pass per buffer finds which rules can
//! possibly match, so the cost per packet does not grow with the number of
//! rules loaded.
//!
//! Each rule contributes one *fast pattern* — the content marked
//! `fast_pattern`, else its longest positive content — to an Aho-Corasick
//! automaton of the buffer that content inspects (one automaton for
//! case-sensitive patterns, one for `nocase`). A rule without any positive
//! content cannot be prefiltered and is always a candidate; `rules check`
//! reports how many such rules a set has.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::buffers::Buffer;
use super::rule::{Inspect, Rule};

/// Automata for one buffer.
#[derive(Debug)]
struct BufferAutomata {
    exact: Option<(AhoCorasick, Vec<Vec<u32>>)>,
    nocase: Option<(AhoCorasick, Vec<Vec<u32>>)>,
}

/// Prefilter over a rule set.
#[derive(Debug, Default)]
pub struct Prefilter {
    by_buffer: HashMap<Buffer, BufferAutomata>,
    /// Rules with no usable fast pattern: always candidates.
    always: Vec<u32>,
    /// The fast pattern chosen per rule, for `rules check`/`explain`.
    chosen: Vec<Option<(Buffer, Vec<u8>)>>,
}

/// The fast pattern of a rule: (buffer, pattern, nocase).
pub fn fast_pattern(rule: &Rule) -> Option<(Buffer, Vec<u8>, bool)> {
    let mut best: Option<(Buffer, Vec<u8>, bool)> = None;
    for list in &rule.lists {
        if !list.transforms.is_empty() {
            // Transformed buffers would need the transform applied before
            // the scan; keep it simple and exact: skip them.
            continue;
        }
        for item in &list.items {
            if let Inspect::Content(c) = item {
                if c.negated {
                    continue;
                }
                if c.fast_pattern {
                    return Some((list.buffer, c.pattern.clone(), c.nocase));
                }
                if best.as_ref().is_none_or(|b| c.pattern.len() > b.1.len()) {
                    best = Some((list.buffer, c.pattern.clone(), c.nocase));
                }
            }
        }
    }
    best
}

impl Prefilter {
    /// Builds the automata for rules in evaluation order.
    pub fn build(rules: &[Rule]) -> Prefilter {
        type Groups =
            HashMap<(Buffer, bool), (Vec<Vec<u8>>, HashMap<Vec<u8>, usize>, Vec<Vec<u32>>)>;
        let mut groups: Groups = HashMap::new();
        let mut always = Vec::new();
        let mut chosen = Vec::with_capacity(rules.len());
        for (idx, rule) in rules.iter().enumerate() {
            let idx = idx as u32;
            match fast_pattern(rule) {
                Some((buffer, pattern, nocase)) => {
                    let g = groups.entry((buffer, nocase)).or_default();
                    let pid = match g.1.get(&pattern) {
                        Some(&p) => p,
                        None => {
                            g.0.push(pattern.clone());
                            g.2.push(Vec::new());
                            g.1.insert(pattern.clone(), g.0.len() - 1);
                            g.0.len() - 1
                        }
                    };
                    g.2[pid].push(idx);
                    chosen.push(Some((buffer, pattern)));
                }
                None => {
                    always.push(idx);
                    chosen.push(None);
                }
            }
        }
        let mut by_buffer: HashMap<Buffer, BufferAutomata> = HashMap::new();
        for ((buffer, nocase), (patterns, _, rules_of)) in groups {
            let Ok(ac) = AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(nocase)
                .build(&patterns)
            else {
                // Too large an automaton: fall back to evaluating these
                // rules always (correct, only slower).
                for r in rules_of.into_iter().flatten() {
                    always.push(r);
                }
                continue;
            };
            let entry = by_buffer.entry(buffer).or_insert(BufferAutomata {
                exact: None,
                nocase: None,
            });
            if nocase {
                entry.nocase = Some((ac, rules_of));
            } else {
                entry.exact = Some((ac, rules_of));
            }
        }
        always.sort_unstable();
        Prefilter {
            by_buffer,
            always,
            chosen,
        }
    }

    /// Rules that are candidates whatever the data.
    pub fn always(&self) -> &[u32] {
        &self.always
    }

    /// Whether any rule has a fast pattern in this buffer.
    pub fn has_buffer(&self, buffer: Buffer) -> bool {
        self.by_buffer.contains_key(&buffer)
    }

    /// Buffers that have fast patterns.
    pub fn buffers(&self) -> impl Iterator<Item = Buffer> + '_ {
        self.by_buffer.keys().copied()
    }

    /// The fast pattern chosen for rule `idx`.
    pub fn chosen(&self, idx: usize) -> Option<&(Buffer, Vec<u8>)> {
        self.chosen.get(idx).and_then(Option::as_ref)
    }

    /// Appends the rules whose fast pattern occurs in `data` (as buffer
    /// `buffer`) to `out`; may append duplicates.
    pub fn scan(&self, buffer: Buffer, data: &[u8], out: &mut Vec<u32>) {
        let Some(a) = self.by_buffer.get(&buffer) else {
            return;
        };
        let mut found: Vec<usize> = Vec::new();
        for (ac, rules) in [&a.exact, &a.nocase].into_iter().flatten() {
            found.clear();
            found.extend(
                ac.find_overlapping_iter(data)
                    .map(|m| m.pattern().as_usize()),
            );
            found.sort_unstable();
            found.dedup();
            for &p in &found {
                if let Some(r) = rules.get(p) {
                    out.extend_from_slice(r);
                }
            }
        }
    }
}
