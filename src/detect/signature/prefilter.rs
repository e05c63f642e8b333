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

use super::buffers::{AppProto, Buffer};

/// The (transport, application protocol) a rule without a fast pattern
/// needs, to pick it only for packets that can match.
fn always_key(rule: &Rule) -> (Option<u8>, Option<AppProto>) {
    use super::rule::RuleProto;
    let transport = match rule.proto {
        RuleProto::Tcp => Some(6),
        RuleProto::Udp => Some(17),
        RuleProto::Icmp => Some(1),
        RuleProto::Ip | RuleProto::App(_) => None,
    };
    (transport, rule.app_proto())
}
use super::rule::{Inspect, Rule};

/// Automata for one buffer (for the payload: rules that also need the
/// packet's own payload are kept apart, so that a segment whose data went
/// into the stream is scanned for those rules only).
#[derive(Debug, Default)]
struct BufferAutomata {
    exact: Option<Matcher>,
    nocase: Option<Matcher>,
    pkt_exact: Option<Matcher>,
    pkt_nocase: Option<Matcher>,
}

/// One automaton and, per pattern, the rules it selects and the other
/// patterns that are its prefixes.
///
/// The search is leftmost-longest (which lets the automaton skip ahead
/// with its SIMD prefilter) restarted one byte after each match start, so
/// every position where a pattern starts is visited; the patterns hidden
/// by a longer one at the same position are exactly its prefixes, added
/// from the table. The result is the same set an overlapping search gives,
/// several times faster on traffic where patterns are rare.
#[derive(Debug)]
struct Matcher {
    ac: AhoCorasick,
    rules: Vec<Vec<u32>>,
    prefixes: Vec<Vec<usize>>,
}

impl Matcher {
    fn build(patterns: &[Vec<u8>], rules: Vec<Vec<u32>>, nocase: bool) -> Option<Matcher> {
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(nocase)
            .build(patterns)
            .ok()?;
        let norm = |p: &[u8]| -> Vec<u8> {
            if nocase {
                p.to_ascii_lowercase()
            } else {
                p.to_vec()
            }
        };
        let index: HashMap<Vec<u8>, usize> = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| (norm(p), i))
            .collect();
        let prefixes = patterns
            .iter()
            .map(|p| {
                let p = norm(p);
                (1..p.len())
                    .filter_map(|n| index.get(&p[..n]).copied())
                    .collect()
            })
            .collect();
        Some(Matcher {
            ac,
            rules,
            prefixes,
        })
    }

    fn scan(&self, data: &[u8], found: &mut Vec<usize>) {
        let mut pos = 0;
        while pos < data.len() {
            let input = aho_corasick::Input::new(data).span(pos..data.len());
            let Some(m) = self.ac.find(input) else {
                break;
            };
            let p = m.pattern().as_usize();
            found.push(p);
            if let Some(pre) = self.prefixes.get(p) {
                found.extend_from_slice(pre);
            }
            pos = m.start() + 1;
        }
    }
}

/// Prefilter over a rule set.
#[derive(Debug, Default)]
pub struct Prefilter {
    by_buffer: HashMap<Buffer, BufferAutomata>,
    /// Rules with no usable fast pattern, by the transport and application
    /// protocol they need: candidates for every such packet.
    always: HashMap<(Option<u8>, Option<AppProto>), Vec<u32>>,
    /// IP-only rules: candidates on the first packet of each direction.
    ip_only: Vec<u32>,
    n_always: usize,
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
            HashMap<(Buffer, bool, bool), (Vec<Vec<u8>>, HashMap<Vec<u8>, usize>, Vec<Vec<u32>>)>;
        let mut groups: Groups = HashMap::new();
        let mut always: Vec<u32> = Vec::new();
        let mut chosen = Vec::with_capacity(rules.len());
        for (idx, rule) in rules.iter().enumerate() {
            let idx = idx as u32;
            match fast_pattern(rule) {
                Some((buffer, pattern, nocase)) => {
                    let pkt = buffer == Buffer::Payload && super::engine::requires_packet(rule);
                    let g = groups.entry((buffer, nocase, pkt)).or_default();
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
        for ((buffer, nocase, pkt), (patterns, _, rules_of)) in groups {
            let Some(m) = Matcher::build(&patterns, rules_of.clone(), nocase) else {
                // Too large an automaton: fall back to evaluating these
                // rules always (correct, only slower).
                for r in rules_of.into_iter().flatten() {
                    always.push(r);
                }
                continue;
            };
            let entry = by_buffer.entry(buffer).or_default();
            match (pkt, nocase) {
                (false, false) => entry.exact = Some(m),
                (false, true) => entry.nocase = Some(m),
                (true, false) => entry.pkt_exact = Some(m),
                (true, true) => entry.pkt_nocase = Some(m),
            }
        }
        always.sort_unstable();
        let n_always = always.len();
        let mut groups: HashMap<(Option<u8>, Option<AppProto>), Vec<u32>> = HashMap::new();
        let mut ip_only = Vec::new();
        for idx in always {
            let Some(rule) = rules.get(idx as usize) else {
                continue;
            };
            if super::engine::is_ip_only(rule) {
                ip_only.push(idx);
                continue;
            }
            groups.entry(always_key(rule)).or_default().push(idx);
        }
        Prefilter {
            by_buffer,
            always: groups,
            ip_only,
            n_always,
            chosen,
        }
    }

    /// Number of rules without a fast pattern.
    pub fn always_count(&self) -> usize {
        self.n_always
    }

    /// Appends the rules without a fast pattern that a packet of this
    /// transport (6, 17, 1 or other) and application protocol can match.
    pub fn always_for(
        &self,
        transport: u8,
        app: Option<AppProto>,
        first_in_direction: bool,
        out: &mut Vec<u32>,
    ) {
        if first_in_direction {
            out.extend_from_slice(&self.ip_only);
        }
        let keys = [
            (None, None),
            (Some(transport), None),
            (None, app),
            (Some(transport), app),
        ];
        let n = if app.is_some() { 4 } else { 2 };
        for key in &keys[..n] {
            if let Some(v) = self.always.get(key) {
                out.extend_from_slice(v);
            }
        }
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
        self.scan_sets(buffer, data, true, out);
    }

    /// Like [`Prefilter::scan`] for a packet payload; with `all == false`
    /// only the rules that need the packet itself are looked for.
    pub fn scan_sets(&self, buffer: Buffer, data: &[u8], all: bool, out: &mut Vec<u32>) {
        let Some(a) = self.by_buffer.get(&buffer) else {
            return;
        };
        let mut found: Vec<usize> = Vec::new();
        let sets = [&a.pkt_exact, &a.pkt_nocase, &a.exact, &a.nocase];
        let sets = if all { &sets[..] } else { &sets[..2] };
        for m in sets.iter().copied().flatten() {
            found.clear();
            m.scan(data, &mut found);
            found.sort_unstable();
            found.dedup();
            for &p in &found {
                if let Some(r) = m.rules.get(p) {
                    out.extend_from_slice(r);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_pattern_like_an_overlapping_search() {
        let pats: Vec<Vec<u8>> = ["abcd", "bc", "ab", "abc", "cd", "zz", "d"]
            .iter()
            .map(|p| p.as_bytes().to_vec())
            .collect();
        let rules: Vec<Vec<u32>> = (0..pats.len() as u32).map(|i| vec![i]).collect();
        let m = Matcher::build(&pats, rules, false).unwrap();
        let mut found = Vec::new();
        m.scan(b"xxabcdxx", &mut found);
        found.sort_unstable();
        found.dedup();
        assert_eq!(found, vec![0, 1, 2, 3, 4, 6]);
        let ci = Matcher::build(
            &[b"get".to_vec(), b"ge".to_vec()],
            vec![vec![0], vec![1]],
            true,
        )
        .unwrap();
        let mut f = Vec::new();
        ci.scan(b"xGeT", &mut f);
        f.sort_unstable();
        assert_eq!(f, vec![0, 1]);
    }
}
