//! The per-packet detection engine.
//!
//! For each packet the caller (the sensor pipeline) hands over what the
//! packet path knows: addresses, payload, the flow's direction and state,
//! the reassembled stream data this packet completed, and the application
//! transactions it touched. The engine then
//!
//! 1. asks the [`Prefilter`](super::prefilter::Prefilter) which rules can
//!    match (one multi-pattern pass per buffer),
//! 2. checks each candidate, in Suricata's order (pass, drop, reject, alert;
//!    flowbit setters before readers): header, flow, packet keywords,
//!    flowbits, then its buffers,
//! 3. applies flowbit changes, thresholds and suppressions, and returns
//!    the hits.
//!
//! Transaction rules (sticky buffers) fire at most once per transaction and
//! direction; payload rules fire per packet, or per new stream data.
//! IP-only rules (protocol `ip`, any ports, no payload keywords) are checked
//! on the first packet of each direction of a flow, as Suricata's IP-only
//! engine does.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use super::RuleSet;
use super::buffers::{AppProto, Buffer, Side};
use super::inspect::{Hay, Vars, inspect, transform};
use super::rule::{Action, FlowbitOp, PacketCheck, Rule, RuleProto, StreamMode};
use super::threshold::{MatchInfo, RateAction, ThresholdConfig, ThresholdState};

/// Transport of the packet, as the engine needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
    Icmp,
    Other,
}

/// What the engine needs to know about one packet and its flow.
#[derive(Debug, Clone, Copy)]
pub struct PacketInfo<'a> {
    pub ts_micros: i64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub transport: Transport,
    pub ip_proto: u8,
    pub ttl: u8,
    pub payload: &'a [u8],
    pub tcp_flags: u8,
    pub icmp: Option<(u8, u8, Option<u16>, Option<u16>)>,
    pub flow_id: u64,
    pub to_server: bool,
    pub established: bool,
    /// First packet of this direction of the flow.
    pub first_in_direction: bool,
    pub app_proto: Option<AppProto>,
    pub app_proto_failed: bool,
    /// Reassembled data of this direction due for inspection on this
    /// packet: (window, offset in the window where the new data starts).
    pub stream: Option<(&'a [u8], usize)>,
    /// Stream rules may inspect this packet's payload (false when the
    /// payload went into an established stream: the stream covers it).
    pub stream_payload_ok: bool,
    /// A pseudo packet at the end of a flow: only stream data and
    /// transactions are inspected.
    pub pseudo: bool,
    /// Stream events this packet raised.
    pub events: &'a [&'static str],
}

/// One application-layer transaction, as detection sees it.
pub trait TxView {
    fn id(&self) -> u64;
    fn proto(&self) -> AppProto;
    /// The buffer's instances (several for `tls.certs`, `dns.query`):
    /// `None` while not available yet, an empty list when absent.
    fn buffer(&self, buf: Buffer, to_server: bool) -> Option<Vec<Cow<'_, [u8]>>>;
    /// A number that changes whenever the buffer's content may have
    /// changed; the engine reuses its prefilter result while it stays the
    /// same. `None` means "do not cache".
    fn generation(&self, _buf: Buffer, _to_server: bool) -> Option<u64> {
        None
    }
}

/// Detection state kept in each flow.
#[derive(Debug, Default, Clone)]
pub struct FlowState {
    pub flowbits: Vec<bool>,
    /// (tx id, rule index, to_server) already alerted.
    matched: HashSet<(u64, u32, bool)>,
    /// A `pass` rule matched a transaction: no more detection on the flow.
    pub passed: bool,
    /// Prefilter results per (tx, buffer, side): (generation, candidates).
    scan_cache: std::collections::HashMap<(u64, Buffer, bool), (u64, Vec<u32>)>,
}

impl FlowState {
    fn bit(&self, i: usize) -> bool {
        self.flowbits.get(i).copied().unwrap_or(false)
    }

    fn set_bit(&mut self, i: usize, v: bool) {
        if self.flowbits.len() <= i {
            self.flowbits.resize(i + 1, false);
        }
        self.flowbits[i] = v;
    }

    /// Forgets per-transaction state of transactions below `id`.
    pub fn forget_txs_below(&mut self, id: u64) {
        self.matched.retain(|(t, _, _)| *t >= id);
        self.scan_cache.retain(|(t, _, _), _| *t >= id);
    }
}

/// One rule that matched and should be reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub rule: u32,
    pub tx_id: Option<u64>,
    /// The action after rate filters.
    pub action: Action,
    /// False for `noalert` rules that matched (they only change state).
    pub alert: bool,
    /// The packet is dropped (drop/reject rule, not held back by a
    /// threshold).
    pub drop: bool,
}

/// Counters of the engine.
#[derive(Debug, Default, Clone, Copy)]
pub struct EngineStats {
    pub candidates: u64,
    pub matches: u64,
    pub suppressed: u64,
}

/// The engine of one worker thread.
pub struct Engine {
    rules: Arc<RuleSet>,
    thresholds: ThresholdState,
    candidates: Vec<u32>,
    /// Candidate bitset, all zero between packets.
    seen: Vec<u64>,
    pub stats: EngineStats,
}

impl Engine {
    pub fn new(rules: Arc<RuleSet>, thresholds: ThresholdConfig) -> Self {
        Engine {
            rules,
            thresholds: ThresholdState::new(thresholds),
            candidates: Vec::new(),
            seen: Vec::new(),
            stats: EngineStats::default(),
        }
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Swaps in another rule set (a reload); thresholds keep counting.
    pub fn set_rules(&mut self, rules: Arc<RuleSet>) {
        self.rules = rules;
        self.candidates.clear();
        self.seen.clear();
    }

    /// Threshold-table evictions so far.
    pub fn threshold_evictions(&self) -> u64 {
        self.thresholds.evictions()
    }

    /// Runs the rules on one packet.
    pub fn run(
        &mut self,
        pkt: &PacketInfo<'_>,
        mut flow: Option<&mut FlowState>,
        txs: &[&dyn TxView],
        out: &mut Vec<Hit>,
    ) {
        if flow.as_ref().is_some_and(|f| f.passed) {
            return;
        }
        let rules = Arc::clone(&self.rules);
        let pf = rules.prefilter();
        let mut cands = std::mem::take(&mut self.candidates);
        cands.clear();
        let transport_id = match pkt.transport {
            Transport::Tcp => 6,
            Transport::Udp => 17,
            Transport::Icmp => 1,
            Transport::Other => 0,
        };
        pf.always_for(
            transport_id,
            pkt.app_proto,
            pkt.first_in_direction,
            &mut cands,
        );
        pf.for_address(pkt.src, &mut cands);
        pf.for_address(pkt.dst, &mut cands);
        if matches!(pkt.transport, Transport::Tcp | Transport::Udp) {
            pf.for_port(pkt.sport, &mut cands);
            if pkt.dport != pkt.sport {
                pf.for_port(pkt.dport, &mut cands);
            }
        }
        if !pkt.payload.is_empty() {
            let all = pkt.transport != Transport::Tcp || pkt.stream_payload_ok;
            pf.scan_sets(Buffer::Payload, pkt.payload, all, &mut cands);
        }
        if let Some((window, _)) = pkt.stream {
            pf.scan(Buffer::Payload, window, &mut cands);
        }
        let mut scratch: Vec<u32> = Vec::new();
        for tx in txs {
            for b in pf.buffers() {
                if b == Buffer::Payload {
                    continue;
                }
                let side_ts = match b.side() {
                    Side::ToServer => true,
                    Side::ToClient => false,
                    Side::Either => pkt.to_server,
                };
                let key = (tx.id(), b, side_ts);
                let generation = tx.generation(b, side_ts);
                if let (Some(g), Some(f)) = (generation, flow.as_deref())
                    && let Some((cg, cached)) = f.scan_cache.get(&key)
                    && *cg == g
                {
                    cands.extend_from_slice(cached);
                    continue;
                }
                scratch.clear();
                if let Some(list) = tx.buffer(b, side_ts) {
                    for data in list {
                        pf.scan(b, &data, &mut scratch);
                    }
                }
                cands.extend_from_slice(&scratch);
                if let (Some(g), Some(f)) = (generation, flow.as_deref_mut())
                    && f.scan_cache.len() < 4096
                {
                    scratch.sort_unstable();
                    scratch.dedup();
                    f.scan_cache.insert(key, (g, scratch.clone()));
                }
            }
        }
        // Dedup and order through a bitset: cheaper than sorting the long
        // candidate lists a large rule set produces.
        let words = rules.len().div_ceil(64);
        if self.seen.len() != words {
            self.seen = vec![0; words];
        }
        let mut words_used: Vec<u32> = Vec::with_capacity(cands.len());
        for &c in &cands {
            if let Some(w) = self.seen.get_mut((c / 64) as usize) {
                if *w == 0 {
                    words_used.push(c / 64);
                }
                *w |= 1 << (c % 64);
            }
        }
        // visit only the words touched (cost follows the candidates, not
        // the size of the rule set)
        words_used.sort_unstable();
        cands.clear();
        for wi in words_used {
            let Some(w) = self.seen.get_mut(wi as usize) else {
                continue;
            };
            let mut bits = *w;
            *w = 0;
            while bits != 0 {
                let b = bits.trailing_zeros();
                cands.push(wi * 64 + b);
                bits &= bits - 1;
            }
        }
        self.stats.candidates += cands.len() as u64;

        let mut more_txs: Vec<u64> = Vec::new();
        'rules: for &idx in &cands {
            let Some(rule) = rules.rules().get(idx as usize) else {
                continue;
            };
            more_txs.clear();
            let Some((first_tx, _)) =
                self.check_rule(rule, idx, pkt, flow.as_deref(), txs, &mut more_txs)
            else {
                continue;
            };
            // a rule fires once per transaction it matches (pipelined
            // requests completed by one packet each alert)
            let all_txs: Vec<Option<u64>> = std::iter::once(first_tx)
                .chain(more_txs.iter().copied().map(Some))
                .collect();
            for tx_id in all_txs {
                self.stats.matches += 1;
                if let Some(f) = flow.as_deref_mut() {
                    for op in &rule.flowbits {
                        match op {
                            FlowbitOp::Set(i) => f.set_bit(*i, true),
                            FlowbitOp::Unset(i) => f.set_bit(*i, false),
                            FlowbitOp::Toggle(i) => {
                                let v = f.bit(*i);
                                f.set_bit(*i, !v);
                            }
                            _ => {}
                        }
                    }
                    if let Some(t) = tx_id {
                        f.matched.insert((t, idx, pkt.to_server));
                    }
                }
                let mut action = rule.action;
                let mut alert = !rule.noalert && (rule.action != Action::Pass || rule.force_alert);
                let mut apply = true;
                if alert || matches!(rule.action, Action::Drop | Action::Reject) {
                    let info = MatchInfo {
                        gid: rule.gid,
                        sid: u32::try_from(rule.sid).unwrap_or(u32::MAX),
                        ts_micros: pkt.ts_micros,
                        src: pkt.src,
                        dst: pkt.dst,
                        flow_id: pkt.flow_id,
                        rule_threshold: rule.threshold.as_ref(),
                        detection_filter: rule.detection_filter.as_ref(),
                    };
                    let d = self.thresholds.check_full(&info);
                    if alert && !d.alert {
                        self.stats.suppressed += 1;
                    }
                    alert &= d.alert;
                    apply = d.apply_action;
                    if let Some(a) = d.new_action {
                        action = match a {
                            RateAction::Alert => Action::Alert,
                            RateAction::Drop => Action::Drop,
                            RateAction::Pass => Action::Pass,
                            RateAction::Reject => Action::Reject,
                        };
                    }
                }
                out.push(Hit {
                    rule: idx,
                    tx_id,
                    action,
                    alert,
                    drop: apply && matches!(action, Action::Drop | Action::Reject),
                });
                if rule.action == Action::Pass {
                    if tx_id.is_some()
                        && let Some(f) = flow.as_deref_mut()
                    {
                        f.passed = true;
                    }
                    break 'rules;
                }
            }
        }
        self.candidates = cands;
    }

    /// Whether `rule` matches; `Some((tx id, side))` when it does.
    fn check_rule(
        &self,
        rule: &Rule,
        idx: u32,
        pkt: &PacketInfo<'_>,
        flow: Option<&FlowState>,
        txs: &[&dyn TxView],
        more_txs: &mut Vec<u64>,
    ) -> Option<(Option<u64>, bool)> {
        // protocol
        match rule.proto {
            RuleProto::Ip => {}
            RuleProto::Tcp => {
                if pkt.transport != Transport::Tcp {
                    return None;
                }
            }
            RuleProto::Udp => {
                if pkt.transport != Transport::Udp {
                    return None;
                }
            }
            RuleProto::Icmp => {
                if pkt.transport != Transport::Icmp {
                    return None;
                }
            }
            RuleProto::App(_) => {
                if !matches!(pkt.transport, Transport::Tcp | Transport::Udp) {
                    return None;
                }
            }
        }
        if let Some(a) = rule.app_proto()
            && pkt.app_proto != Some(a)
        {
            return None;
        }
        // flow first (cheap), then ports, then addresses
        if let Some(est) = rule.flow.established
            && est != pkt.established
        {
            return None;
        }
        if let Some(ts) = rule.flow.to_server
            && ts != pkt.to_server
        {
            return None;
        }
        let fwd = rule.sport.matches(pkt.sport)
            && rule.dport.matches(pkt.dport)
            && rule.src.matches(pkt.src)
            && rule.dst.matches(pkt.dst);
        let ok = fwd
            || (rule.bidirectional
                && rule.sport.matches(pkt.dport)
                && rule.dport.matches(pkt.sport)
                && rule.src.matches(pkt.dst)
                && rule.dst.matches(pkt.src));
        if !ok {
            return None;
        }
        for c in &rule.checks {
            if !check_packet(c, pkt) {
                return None;
            }
        }
        for op in &rule.flowbits {
            let ok = match op {
                FlowbitOp::IsSet(bits) => flow.is_some_and(|f| bits.iter().any(|b| f.bit(*b))),
                FlowbitOp::IsNotSet(bits) => flow.is_none_or(|f| bits.iter().any(|b| !f.bit(*b))),
                _ => true,
            };
            if !ok {
                return None;
            }
        }

        if rule.is_tx_rule() {
            let (ts, tc) = rule.directions();
            if (pkt.to_server && !ts) || (!pkt.to_server && !tc) {
                return None;
            }
            let mut first = None;
            for tx in txs {
                if flow.is_some_and(|f| f.matched.contains(&(tx.id(), idx, pkt.to_server))) {
                    continue;
                }
                if self.tx_matches(rule, *tx, pkt) {
                    if first.is_none() {
                        first = Some(tx.id());
                    } else {
                        more_txs.push(tx.id());
                    }
                }
            }
            return first.map(|t| (Some(t), pkt.to_server));
        }

        let Some(list) = rule.payload_list() else {
            // No payload keywords.
            if pkt.pseudo {
                return None;
            }
            if is_ip_only(rule) && !pkt.first_in_direction {
                return None;
            }
            if rule.app_proto().is_some()
                && pkt.payload.is_empty()
                && pkt.stream.is_none()
                && pkt.transport == Transport::Tcp
                && txs.is_empty()
            {
                // App-layer rules without buffers fire on packets that carry
                // application data.
            }
            return Some((None, pkt.to_server));
        };
        let mut vars = Vars::new(rule.vars);
        // Suricata: payload rules on TCP read the reassembled stream first;
        // the packet's own payload only when the segment did not go into
        // the stream, or when the rule needs the packet (tcp-pkt, dsize,
        // flags, no_stream, or a content anchored with offset/depth).
        let on_tcp = pkt.transport == Transport::Tcp;
        let wants_stream =
            on_tcp && rule.stream_mode != StreamMode::PacketOnly && !rule.flow.no_stream;
        if wants_stream && let Some((window, new_from)) = pkt.stream {
            let hay = Hay::new(window);
            if inspect(&list.items, &hay, &mut vars, new_from) {
                return Some((None, pkt.to_server));
            }
        }
        if pkt.payload.is_empty() || pkt.pseudo {
            return None;
        }
        if wants_stream {
            if !requires_packet(rule) && !pkt.stream_payload_ok {
                return None;
            }
            if rule.stream_mode == StreamMode::StreamOnly || rule.flow.only_stream {
                return None;
            }
        }
        let hay = Hay::new(pkt.payload);
        if inspect(&list.items, &hay, &mut vars, 0) {
            return Some((None, pkt.to_server));
        }
        None
    }

    fn tx_matches(&self, rule: &Rule, tx: &dyn TxView, pkt: &PacketInfo<'_>) -> bool {
        let mut vars = Vars::new(rule.vars);
        for list in &rule.lists {
            if list.buffer == Buffer::Payload {
                let stream_hit = pkt
                    .stream
                    .is_some_and(|(w, _)| inspect(&list.items, &Hay::new(w), &mut vars, 0));
                if !stream_hit
                    && (pkt.payload.is_empty()
                        || !inspect(&list.items, &Hay::new(pkt.payload), &mut vars, 0))
                {
                    return false;
                }
                continue;
            }
            let side_ts = match list.buffer.side() {
                Side::ToServer => true,
                Side::ToClient => false,
                Side::Either => pkt.to_server,
            };
            let Some(instances) = tx.buffer(list.buffer, side_ts) else {
                return false;
            };
            let mut any = false;
            for data in &instances {
                let data = transform(data, &list.transforms);
                if inspect(&list.items, &Hay::new(&data), &mut vars, 0) {
                    any = true;
                    break;
                }
            }
            if !any {
                // A buffer that is absent still satisfies a list made only
                // of negated contents? Suricata: no — an absent buffer never
                // matches. Keep that.
                return false;
            }
        }
        true
    }
}

/// Whether a payload rule must see packets even when their data went into
/// the stream (Suricata's `SIG_FLAG_REQUIRE_PACKET`).
pub fn requires_packet(rule: &Rule) -> bool {
    rule.stream_mode == StreamMode::PacketOnly
        || rule.flow.no_stream
        || rule.checks.iter().any(|c| {
            matches!(
                c,
                PacketCheck::Dsize(_) | PacketCheck::Flags(_) | PacketCheck::Ttl(_)
            )
        })
        || rule.payload_list().is_some_and(|l| {
            l.items.iter().any(|i| {
                matches!(i, super::rule::Inspect::Content(c)
                    if c.offset.is_some() || c.depth.is_some() || c.startswith)
            })
        })
}

/// Protocol `ip`, any ports, and no keyword that needs more than addresses.
pub fn is_ip_only(rule: &Rule) -> bool {
    matches!(rule.proto, RuleProto::Ip)
        && rule.sport == super::PortSpec::Any
        && rule.dport == super::PortSpec::Any
        && rule.lists.is_empty()
        && rule.checks.is_empty()
        && rule.flow == super::rule::FlowOpts::default()
        && rule
            .flowbits
            .iter()
            .all(|f| !matches!(f, FlowbitOp::IsSet(_) | FlowbitOp::IsNotSet(_)))
}

fn check_packet(c: &PacketCheck, pkt: &PacketInfo<'_>) -> bool {
    match c {
        PacketCheck::Dsize(cmp) => {
            // As Suricata: `dsize:!N` only applies to packets with data.
            pkt.transport != Transport::Other
                && !pkt.pseudo
                && (!matches!(cmp, super::rule::Cmp::Ne(_)) || !pkt.payload.is_empty())
                && cmp.test(pkt.payload.len() as u64)
        }
        PacketCheck::Flags(f) => pkt.transport == Transport::Tcp && f.test(pkt.tcp_flags),
        PacketCheck::Itype(cmp) => pkt.icmp.is_some_and(|(t, _, _, _)| cmp.test(u64::from(t))),
        PacketCheck::Icode(cmp) => pkt.icmp.is_some_and(|(_, c, _, _)| cmp.test(u64::from(c))),
        PacketCheck::IcmpId(id) => pkt.icmp.is_some_and(|(_, _, i, _)| i == Some(*id)),
        PacketCheck::IcmpSeq(seq) => pkt.icmp.is_some_and(|(_, _, _, s)| s == Some(*seq)),
        PacketCheck::Ttl(cmp) => cmp.test(u64::from(pkt.ttl)),
        PacketCheck::IpProto(p) => pkt.ip_proto == *p,
        PacketCheck::StreamEvent(e) => pkt.events.contains(e),
        PacketCheck::AppLayerProtocol {
            proto,
            negated,
            special,
        } => {
            let is = match (proto, special) {
                (Some(p), _) => pkt.app_proto == Some(*p),
                (None, Some("failed")) => pkt.app_proto_failed,
                (None, _) => pkt.app_proto.is_none() && !pkt.app_proto_failed,
            };
            // A negated protocol only makes sense once detection is done.
            if *negated {
                (pkt.app_proto.is_some() || pkt.app_proto_failed) && !is
            } else {
                is
            }
        }
    }
}
