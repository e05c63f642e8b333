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

/// Indexes a rule by a selective address list (source or destination);
/// false when neither side is selective.
/// Indexes a rule by a short list of ports (source or destination).
fn index_by_port(rule: &Rule, idx: u32, index: &mut HashMap<u16, Vec<u32>>) -> bool {
    use super::PortSpec;
    let ports = |p: &PortSpec| -> Option<Vec<u16>> {
        let PortSpec::List(items) = p else {
            return None;
        };
        if items.iter().any(|(_, _, neg)| *neg) {
            return None;
        }
        let span: u32 = items
            .iter()
            .map(|(lo, hi, _)| u32::from(*hi) - u32::from(*lo) + 1)
            .sum();
        if span > 64 {
            return None;
        }
        Some(items.iter().flat_map(|(lo, hi, _)| *lo..=*hi).collect())
    };
    let Some(list) = ports(&rule.dport).or_else(|| ports(&rule.sport)) else {
        return false;
    };
    for p in list {
        let v = index.entry(p).or_default();
        if v.last() != Some(&idx) {
            v.push(idx);
        }
    }
    true
}

type V4Index = HashMap<u32, Vec<(u32, u32, u32)>>;
type V6Index = HashMap<u64, Vec<(u128, u128, u32)>>;

fn index_by_addr(rule: &Rule, idx: u32, index: &mut V4Index, index6: &mut V6Index) -> bool {
    use super::AddrSpec;
    let side = |a: &AddrSpec| match a {
        AddrSpec::List(set) => set
            .selective()
            .map(|(v4, v6)| (v4.to_vec(), v6.to_vec()))
            // ranges wider than a /16 would fill too many buckets
            .filter(|(v4, _)| v4.iter().all(|(lo, hi)| (hi >> 8) - (lo >> 8) <= 256)),
        AddrSpec::Any => None,
    };
    let Some((v4, v6)) = side(&rule.dst).or_else(|| side(&rule.src)) else {
        return false;
    };
    for (lo, hi) in v4 {
        for b in (lo >> 8)..=(hi >> 8) {
            index.entry(b).or_default().push((lo, hi, idx));
        }
    }
    for (lo, hi) in v6 {
        index6
            .entry((lo >> 64) as u64)
            .or_default()
            .push((lo, hi, idx));
    }
    true
}

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
struct SmallMatcher {
    ac: AhoCorasick,
    rules: Vec<Vec<u32>>,
    prefixes: Vec<Vec<usize>>,
}

impl SmallMatcher {
    fn build(patterns: &[Vec<u8>], rules: Vec<Vec<u32>>, nocase: bool) -> Option<SmallMatcher> {
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
        Some(SmallMatcher {
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

/// A multi-pattern matcher over one set of patterns (all case-sensitive,
/// or all `nocase`), with the rules each pattern selects.
///
/// Patterns of four bytes or more are found by their first four bytes: at
/// every position of the buffer a hash of the next four bytes is looked up
/// in a 128 KiB bitmap (it stays in the CPU cache), and only on a hit in a
/// table that lists the patterns starting with those bytes, which are then
/// compared whole. That is about a nanosecond per byte whatever the number
/// of patterns, where a classic Aho-Corasick automaton over ET Open's
/// thousands of patterns walks a table far larger than the cache. The few
/// shorter patterns go through a small Aho-Corasick automaton. Every
/// occurrence of every pattern is found (the result an overlapping search
/// gives).
#[derive(Debug)]
struct HashMatcher {
    /// Patterns (lower-cased when `nocase[i]`) and whether each ignores case.
    patterns: Vec<Vec<u8>>,
    nocase: Vec<bool>,
    rules: Vec<Vec<u32>>,
    /// One-byte patterns: byte → pattern ids.
    one: Vec<Vec<u32>>,
    /// Two- and three-byte patterns: by their first two bytes, with a
    /// 65,536-bit presence bitmap.
    two_bitmap: Vec<u64>,
    two: HashMap<u16, Vec<u32>>,
    bitmap: Vec<u64>,
    table: HashMap<u32, Vec<u32>>,
}

const BITMAP_BITS: u32 = 20;

/// Pattern sets up to this size use the automaton with its SIMD
/// prefilter; larger ones the hashed four-byte lookup.
const SMALL_SET: usize = 256;

/// The matcher of one pattern set, chosen by its size.
#[derive(Debug)]
enum Matcher {
    Small(SmallMatcher),
    Large(HashMatcher),
}

impl Matcher {
    fn build(patterns: &[Vec<u8>], rules: Vec<Vec<u32>>, nocase: bool) -> Option<Matcher> {
        SmallMatcher::build(patterns, rules, nocase).map(Matcher::Small)
    }

    fn scan(&self, data: &[u8], found: &mut Vec<usize>) {
        match self {
            Matcher::Small(m) => m.scan(data, found),
            Matcher::Large(m) => m.scan(data, found),
        }
    }

    fn rules(&self) -> &[Vec<u32>] {
        match self {
            Matcher::Small(m) => &m.rules,
            Matcher::Large(m) => &m.rules,
        }
    }
}

fn bucket(x: u32) -> usize {
    (x.wrapping_mul(0x9E37_79B1) >> (32 - BITMAP_BITS)) as usize
}

impl HashMatcher {
    /// Patterns with their `nocase` flags; keys are lower-cased so exact
    /// and caseless patterns share one pass.
    fn build(pats: &[(Vec<u8>, bool)], rules: Vec<Vec<u32>>) -> Option<HashMatcher> {
        let nocase: Vec<bool> = pats.iter().map(|(_, n)| *n).collect();
        let patterns: Vec<Vec<u8>> = pats
            .iter()
            .map(|(p, n)| {
                if *n {
                    p.to_ascii_lowercase()
                } else {
                    p.clone()
                }
            })
            .collect();
        let mut one: Vec<Vec<u32>> = vec![Vec::new(); 256];
        let mut two_bitmap = vec![0u64; 1024];
        let mut two: HashMap<u16, Vec<u32>> = HashMap::new();
        let mut bitmap = vec![0u64; 1 << (BITMAP_BITS - 6)];
        let mut table: HashMap<u32, Vec<u32>> = HashMap::new();
        for (i, p) in patterns.iter().enumerate() {
            let p = p.to_ascii_lowercase();
            if p.len() == 1 {
                one[usize::from(p[0])].push(i as u32);
            } else if p.len() < 4 {
                let k = u16::from_le_bytes([p[0], p[1]]);
                two_bitmap[usize::from(k >> 6)] |= 1 << (k & 63);
                two.entry(k).or_default().push(i as u32);
            } else {
                let x = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
                let b = bucket(x);
                bitmap[b >> 6] |= 1 << (b & 63);
                table.entry(x).or_default().push(i as u32);
            }
        }
        if one.iter().all(Vec::is_empty) {
            one.clear();
        }
        Some(HashMatcher {
            nocase,
            patterns,
            rules,
            one,
            two_bitmap,
            two,
            bitmap,
            table,
        })
    }

    fn scan(&self, data: &[u8], found: &mut Vec<usize>) {
        if self.table.is_empty() && self.two.is_empty() && self.one.is_empty() {
            return;
        }
        let hay = data.to_ascii_lowercase();
        let hay = &hay[..];
        let verify = |id: usize, i: usize| -> bool {
            let Some(p) = self.patterns.get(id) else {
                return false;
            };
            let src = if self.nocase.get(id).copied().unwrap_or(false) {
                hay
            } else {
                data
            };
            src.get(i..i + p.len()) == Some(p.as_slice())
        };
        if !self.one.is_empty() {
            let mut present = [false; 256];
            for &b in hay {
                present[usize::from(b)] = true;
            }
            for (b, ids) in self.one.iter().enumerate() {
                if present[b] {
                    for &id in ids {
                        let id = id as usize;
                        // exact one-byte patterns: check the raw bytes
                        let ok = self.nocase.get(id).copied().unwrap_or(false)
                            || self.patterns.get(id).is_some_and(|p| data.contains(&p[0]));
                        if ok {
                            found.push(id);
                        }
                    }
                }
            }
        }
        if !self.two.is_empty() {
            for (i, w) in hay.windows(2).enumerate() {
                let k = u16::from_le_bytes([w[0], w[1]]);
                if self.two_bitmap[usize::from(k >> 6)] & (1 << (k & 63)) == 0 {
                    continue;
                }
                if let Some(ids) = self.two.get(&k) {
                    for &id in ids {
                        if verify(id as usize, i) {
                            found.push(id as usize);
                        }
                    }
                }
            }
        }
        if self.table.is_empty() || hay.len() < 4 {
            return;
        }
        for (i, w) in hay.windows(4).enumerate() {
            let x = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            let b = bucket(x);
            if self.bitmap[b >> 6] & (1 << (b & 63)) == 0 {
                continue;
            }
            let Some(ids) = self.table.get(&x) else {
                continue;
            };
            for &id in ids {
                if verify(id as usize, i) {
                    found.push(id as usize);
                }
            }
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
    /// Rules without a fast pattern whose source or destination is a
    /// short list of addresses (ET's blocklists), indexed by /24.
    by_addr: HashMap<u32, Vec<(u32, u32, u32)>>,
    /// The same for IPv6 entries, by /64.
    by_addr6: HashMap<u64, Vec<(u128, u128, u32)>>,
    /// Rules without a fast pattern on a few ports, by port.
    by_port: HashMap<u16, Vec<u32>>,
    n_always: usize,
    /// The fast pattern chosen per rule, for `rules check`/`explain`.
    chosen: Vec<Option<(Buffer, Vec<u8>)>>,
}

/// The fast pattern of a rule: (buffer, pattern, nocase).
pub fn fast_pattern(rule: &Rule) -> Option<(Buffer, Vec<u8>, bool)> {
    use super::rule::Transform;
    let mut best: Option<(Buffer, Vec<u8>, bool)> = None;
    for list in &rule.lists {
        // A pattern found in a transformed buffer must be findable in the
        // raw one: `dotprefix` only adds a leading dot (drop it from the
        // pattern), `to_lowercase` only changes case (match without case).
        // Other transforms keep the rule out of the prefilter.
        let mut strip_dot = false;
        let mut force_nocase = false;
        let mut usable = true;
        for t in &list.transforms {
            match t {
                Transform::DotPrefix => strip_dot = true,
                Transform::ToLowercase => force_nocase = true,
                _ => usable = false,
            }
        }
        if !usable {
            continue;
        }
        for item in &list.items {
            if let Inspect::Content(c) = item {
                if c.negated {
                    continue;
                }
                let mut pat = c.pattern.clone();
                if strip_dot && pat.first() == Some(&b'.') {
                    pat.remove(0);
                }
                if pat.is_empty() {
                    continue;
                }
                let cand = (list.buffer, pat, c.nocase || force_nocase);
                if c.fast_pattern {
                    return Some(cand);
                }
                if best.as_ref().is_none_or(|b| cand.1.len() > b.1.len()) {
                    best = Some(cand);
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
        // Large sets: exact and caseless patterns in one hashed matcher.
        let mut keys: Vec<(Buffer, bool)> = groups.keys().map(|(b, _, p)| (*b, *p)).collect();
        keys.sort_unstable();
        keys.dedup();
        for (buffer, pkt) in keys {
            let n_exact = groups.get(&(buffer, false, pkt)).map_or(0, |g| g.0.len());
            let n_nocase = groups.get(&(buffer, true, pkt)).map_or(0, |g| g.0.len());
            if n_exact + n_nocase <= SMALL_SET {
                continue;
            }
            let mut pats: Vec<(Vec<u8>, bool)> = Vec::new();
            let mut rules_all: Vec<Vec<u32>> = Vec::new();
            for nocase in [false, true] {
                if let Some((patterns, _, rules_of)) = groups.remove(&(buffer, nocase, pkt)) {
                    pats.extend(patterns.into_iter().map(|p| (p, nocase)));
                    rules_all.extend(rules_of);
                }
            }
            match HashMatcher::build(&pats, rules_all.clone()) {
                Some(m) => {
                    let entry = by_buffer.entry(buffer).or_default();
                    if pkt {
                        entry.pkt_exact = Some(Matcher::Large(m));
                    } else {
                        entry.exact = Some(Matcher::Large(m));
                    }
                }
                None => always.extend(rules_all.into_iter().flatten()),
            }
        }
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
        let mut by_addr: HashMap<u32, Vec<(u32, u32, u32)>> = HashMap::new();
        let mut by_addr6: HashMap<u64, Vec<(u128, u128, u32)>> = HashMap::new();
        let mut by_port: HashMap<u16, Vec<u32>> = HashMap::new();
        for idx in always {
            let Some(rule) = rules.get(idx as usize) else {
                continue;
            };
            if super::engine::is_ip_only(rule) {
                ip_only.push(idx);
                continue;
            }
            if index_by_addr(rule, idx, &mut by_addr, &mut by_addr6) {
                continue;
            }
            if index_by_port(rule, idx, &mut by_port) {
                continue;
            }
            groups.entry(always_key(rule)).or_default().push(idx);
        }
        Prefilter {
            by_buffer,
            always: groups,
            ip_only,
            by_addr,
            by_addr6,
            by_port,
            n_always,
            chosen,
        }
    }

    /// Number of rules without a fast pattern.
    pub fn always_count(&self) -> usize {
        self.n_always
    }

    /// Appends the port-indexed rules listing `port`.
    pub fn for_port(&self, port: u16, out: &mut Vec<u32>) {
        if let Some(v) = self.by_port.get(&port) {
            out.extend_from_slice(v);
        }
    }

    /// Appends the address-indexed rules whose address lists contain `ip`.
    pub fn for_address(&self, ip: std::net::IpAddr, out: &mut Vec<u32>) {
        match ip {
            std::net::IpAddr::V4(v4) => {
                let x = u32::from(v4);
                if let Some(v) = self.by_addr.get(&(x >> 8)) {
                    for &(lo, hi, r) in v {
                        if lo <= x && x <= hi {
                            out.push(r);
                        }
                    }
                }
            }
            std::net::IpAddr::V6(v6) => {
                let x = u128::from(v6);
                if let Some(v) = self.by_addr6.get(&((x >> 64) as u64)) {
                    for &(lo, hi, r) in v {
                        if lo <= x && x <= hi {
                            out.push(r);
                        }
                    }
                }
            }
        }
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
                if let Some(r) = m.rules().get(p) {
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
