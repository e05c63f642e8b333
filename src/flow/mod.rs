//! Flows: the table keyed by 5-tuple, timeouts, TCP session tracking and
//! reassembly, and the per-flow state that detection needs (flowbits,
//! app-layer state).
//!
//! A table is owned by one worker thread (packets are sharded by flow
//! hash), so nothing here takes a lock. The client of a flow is the side
//! that sent the first packet — for TCP, the sender of the first SYN, or
//! the receiver of a SYN/ACK seen first — and every packet is then
//! `to_server` or `to_client`, as Suricata's `flow:` keyword means it.
//! Flows end by timeout (per protocol and state, on packet time, so an
//! offline replay behaves like the live sensor) or at shutdown, and each
//! ending flow is handed back to be logged.

pub mod stream;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use crate::applayer::AppLayer;
use crate::decode::{Decoded, Proto};
use crate::detect::signature::engine::FlowState;
pub use stream::{Stream, StreamLimits, StreamStats};

/// A direction-independent 5-tuple: both directions of a conversation give
/// the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub lo: (IpAddr, u16),
    pub hi: (IpAddr, u16),
    pub proto: Proto,
    /// Outer VLAN id when VLANs are used for tracking.
    pub vlan: u16,
}

impl FlowKey {
    /// The key of a decoded packet.
    pub fn of(d: &Decoded<'_>) -> Self {
        let a = (d.src, d.sport);
        let b = (d.dst, d.dport);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        FlowKey {
            lo,
            hi,
            proto: d.proto,
            vlan: 0,
        }
    }
}

/// The EVE `flow_id` of a packet's flow: a hash of its [`FlowKey`], kept
/// below 2^51 so that JavaScript reads it exactly.
pub fn flow_id(d: &Decoded<'_>) -> u64 {
    key_id(&FlowKey::of(d))
}

fn key_id(k: &FlowKey) -> u64 {
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new_with_keys(0x6361_6e68, 0x6761_6321);
    k.hash(&mut h);
    h.finish() & ((1 << 51) - 1)
}

/// TCP session state, simplified from RFC 793 to what detection needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TcpState {
    None,
    SynSent,
    SynRecv,
    Established,
    /// The server sent FIN first.
    FinWait1,
    FinWait2,
    /// The client sent FIN first.
    CloseWait,
    LastAck,
    Closing,
    TimeWait,
    Closed,
}

impl TcpState {
    /// Suricata's EVE name.
    pub fn eve_name(self) -> &'static str {
        match self {
            TcpState::None => "none",
            TcpState::SynSent => "syn_sent",
            TcpState::SynRecv => "syn_recv",
            TcpState::Established => "established",
            TcpState::FinWait1 => "fin_wait1",
            TcpState::FinWait2 => "fin_wait2",
            TcpState::CloseWait => "close_wait",
            TcpState::LastAck => "last_ack",
            TcpState::Closing => "closing",
            TcpState::TimeWait => "time_wait",
            TcpState::Closed => "closed",
        }
    }
}

/// TCP flag bits.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// A TCP session: state and both streams (`[to_server, to_client]`).
#[derive(Debug)]
pub struct TcpSession {
    pub state: TcpState,
    pub streams: [Stream; 2],
    /// Picked up without seeing the handshake.
    pub midstream: bool,
    /// Reached the established state at some point.
    pub established_once: bool,
    fin: [bool; 2],
    /// Last TCP timestamp value per direction (PAWS).
    last_tsval: [Option<u32>; 2],
}

impl TcpSession {
    fn swap_fin(&mut self) {
        self.fin.swap(0, 1);
    }
}

/// Settings of the flow table.
#[derive(Debug, Clone, Copy)]
pub struct FlowConfig {
    /// Pick up TCP sessions whose handshake was not seen.
    pub midstream: bool,
    pub stream: StreamLimits,
    /// Seconds without packets before a flow ends, per state.
    pub timeout_new: i64,
    pub timeout_established: i64,
    pub timeout_closed: i64,
    /// Flows held at most; past it the oldest flow is ended early.
    pub max_flows: usize,
    /// VLAN ids take part in the flow key.
    pub vlan_tracking: bool,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            midstream: false,
            stream: StreamLimits::default(),
            timeout_new: 30,
            timeout_established: 300,
            timeout_closed: 10,
            max_flows: 65_536,
            vlan_tracking: true,
        }
    }
}

/// Why a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Timeout,
    Shutdown,
    /// Evicted to make room.
    Forced,
}

impl EndReason {
    pub fn eve_name(self) -> &'static str {
        match self {
            EndReason::Timeout => "timeout",
            EndReason::Shutdown => "shutdown",
            EndReason::Forced => "forced",
        }
    }
}

/// One flow.
pub struct Flow {
    pub id: u64,
    pub key: FlowKey,
    pub proto: Proto,
    pub client: (IpAddr, u16),
    pub server: (IpAddr, u16),
    pub vlan: Vec<u16>,
    pub start_ts: i64,
    pub last_ts: i64,
    /// `[to_server, to_client]`.
    pub pkts: [u64; 2],
    pub bytes: [u64; 2],
    /// TCP flags seen, `[to_server, to_client]`.
    pub tcp_flags: [u8; 2],
    pub tcp: Option<TcpSession>,
    pub app: AppLayer,
    pub detect: FlowState,
    pub alerted: bool,
    pub end_reason: Option<EndReason>,
    /// Transactions updated per direction and not yet inspected by a packet
    /// of that direction.
    pub pending_txs: [Vec<u64>; 2],
    /// The application layer finished a message: inspect the raw stream of
    /// that direction on its next packet.
    pub raw_trigger: [bool; 2],
}

impl Flow {
    /// Swaps client and server (and everything kept per direction).
    pub fn reverse(&mut self) {
        std::mem::swap(&mut self.client, &mut self.server);
        self.pkts.swap(0, 1);
        self.bytes.swap(0, 1);
        self.tcp_flags.swap(0, 1);
        self.pending_txs.swap(0, 1);
        self.raw_trigger.swap(0, 1);
        if let Some(t) = self.tcp.as_mut() {
            t.streams.swap(0, 1);
            t.swap_fin();
        }
    }

    /// Whether a packet from `src:sport` goes to the server.
    pub fn to_server(&self, src: IpAddr, sport: u16) -> bool {
        (src, sport) == self.client
    }

    /// Established in Suricata's sense: TCP handshake done (or picked up
    /// midstream); for other protocols, packets seen both ways.
    pub fn established(&self) -> bool {
        match &self.tcp {
            Some(t) => t.established_once && t.state >= TcpState::Established,
            None => {
                if self.proto == Proto::Tcp {
                    false
                } else {
                    self.pkts[0] > 0 && self.pkts[1] > 0
                }
            }
        }
    }

    /// The flow's EVE `state`.
    pub fn eve_state(&self) -> &'static str {
        match &self.tcp {
            Some(t) => match t.state {
                TcpState::None | TcpState::SynSent | TcpState::SynRecv => "new",
                TcpState::Closed => "closed",
                _ => "established",
            },
            None => {
                if self.pkts[0] > 0 && self.pkts[1] > 0 {
                    "established"
                } else {
                    "new"
                }
            }
        }
    }
}

/// What [`FlowTable::track_tcp`] found in a segment.
#[derive(Debug, Default)]
pub struct TcpUpdate {
    /// New in-order bytes of this packet's direction.
    pub data: Vec<u8>,
    /// The stream of this direction ended (FIN/RST).
    pub closed: bool,
    pub rst: bool,
    pub fin: bool,
    /// The session was established before this packet.
    pub was_established: bool,
    /// This packet completed the handshake (it is still "not established"
    /// for `flow:`, as in Suricata).
    pub completed_handshake: bool,
    /// This packet's payload went into the reassembled stream.
    pub added_to_stream: bool,
    /// Stream events raised by this packet (`stream-event:` names).
    pub events: Vec<&'static str>,
}

/// Counters of the table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlowStats {
    pub created: u64,
    pub timed_out: u64,
    pub evicted: u64,
    pub active: u64,
    pub tcp_sessions: u64,
    pub midstream_pickups: u64,
}

/// The flow table of one worker.
pub struct FlowTable {
    pub config: FlowConfig,
    flows: HashMap<FlowKey, Flow>,
    last_sweep: i64,
    pub stats: FlowStats,
}

impl FlowTable {
    pub fn new(config: FlowConfig) -> Self {
        FlowTable {
            config,
            flows: HashMap::new(),
            last_sweep: 0,
            stats: FlowStats::default(),
        }
    }

    fn key(&self, d: &Decoded<'_>) -> FlowKey {
        let mut k = FlowKey::of(d);
        if self.config.vlan_tracking {
            k.vlan = d.vlan_ids().first().copied().unwrap_or(0);
        }
        k
    }

    /// The flow of a packet, created if new. Returns (key, created).
    pub fn get_or_create(&mut self, d: &Decoded<'_>, ts: i64, ended: &mut Vec<Flow>) -> FlowKey {
        let key = self.key(d);
        if !self.flows.contains_key(&key) {
            if self.flows.len() >= self.config.max_flows {
                self.evict_oldest(ended);
            }
            // client: for TCP, the SYN sender; a SYN/ACK seen first means
            // the receiver is the client.
            let synack = d.tcp_flags.syn && d.tcp_flags.ack;
            let (client, server) = if synack {
                ((d.dst, d.dport), (d.src, d.sport))
            } else {
                ((d.src, d.sport), (d.dst, d.dport))
            };
            let flow = Flow {
                id: key_id(&key),
                key,
                proto: d.proto,
                client,
                server,
                vlan: d.vlan_ids().to_vec(),
                start_ts: ts,
                last_ts: ts,
                pkts: [0; 2],
                bytes: [0; 2],
                tcp_flags: [0; 2],
                tcp: None,
                app: AppLayer::default(),
                detect: FlowState::default(),
                alerted: false,
                end_reason: None,
                pending_txs: [Vec::new(), Vec::new()],
                raw_trigger: [false; 2],
            };
            self.stats.created += 1;
            self.flows.insert(key, flow);
        }
        key
    }

    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut Flow> {
        self.flows.get_mut(key)
    }

    /// Tracks a TCP segment of `flow`: state machine and reassembly.
    pub fn track_tcp(
        config: &FlowConfig,
        flow: &mut Flow,
        d: &Decoded<'_>,
        stats: &mut FlowStats,
    ) -> TcpUpdate {
        let mut up = TcpUpdate::default();
        let to_server = flow.to_server(d.src, d.sport);
        let dir = if to_server { 0 } else { 1 };
        let f = d.tcp_flags;
        let session = flow.tcp.get_or_insert_with(|| {
            stats.tcp_sessions += 1;
            TcpSession {
                state: TcpState::None,
                streams: [Stream::default(), Stream::default()],
                midstream: false,
                established_once: false,
                fin: [false; 2],
                last_tsval: [None, None],
            }
        });
        // Timestamps (RFC 7323): a segment whose TSval goes backwards, or
        // that answers a SYN without echoing its TSval, is not the real
        // peer's — an evasion trick. Raise the event and ignore it.
        if let Some((tsval, tsecr)) = d.tcp_ts {
            let backwards =
                session.last_tsval[dir].is_some_and(|last| (last.wrapping_sub(tsval) as i32) > 0);
            let bad_echo = dir == 1
                && session.state == TcpState::SynSent
                && session.last_tsval[0].is_some_and(|c| tsecr != 0 && tsecr != c);
            if backwards || bad_echo {
                up.events.push("pkt_invalid_timestamp");
                return up;
            }
            session.last_tsval[dir] = Some(tsval);
        }
        up.was_established = session.state >= TcpState::Established && session.established_once;
        if f.rst {
            // A RST must be believable: a client cannot reset a connection
            // it is still opening, a server's RST to a SYN must ACK it, and
            // any RST must fall in the window. Others are evasion attempts
            // and are ignored, as the end host would.
            let valid = match session.state {
                TcpState::SynSent => {
                    dir == 1 && f.ack && session.streams[0].next_seq() == Some(d.tcp_ack)
                }
                TcpState::None => true,
                _ => session.streams[dir].in_window(d.tcp_seq),
            };
            if !valid {
                up.events.push("rst_invalid");
                return up;
            }
            if session.established_once || session.state > TcpState::None {
                session.state = TcpState::Closed;
            }
            session.streams[0].ack_all();
            session.streams[1].ack_all();
            up.closed = true;
            up.rst = true;
            return up;
        }
        if f.ack {
            session.streams[1 - dir].ack(d.tcp_ack);
        }
        if f.syn {
            // SYN (either side, for split and simultaneous handshakes):
            // the stream of this direction starts after the ISN.
            session.streams[dir].start(d.tcp_seq.wrapping_add(1));
            if f.ack {
                if session.state < TcpState::SynRecv {
                    session.state = TcpState::SynRecv;
                }
            } else if session.state < TcpState::SynSent {
                session.state = TcpState::SynSent;
            }
            // TCP Fast Open: data carried on the SYN joins the stream; SYN
            // data without the option is left to packet inspection.
            if !d.payload.is_empty() && d.tcp_fastopen {
                up.added_to_stream = true;
                session.streams[dir].add(
                    d.tcp_seq.wrapping_add(1),
                    d.payload,
                    &config.stream,
                    &mut up.data,
                );
            }
            return up;
        }
        if f.ack
            && matches!(session.state, TcpState::SynRecv | TcpState::SynSent)
            && session.streams[0].started()
            && session.streams[1].started()
        {
            session.state = TcpState::Established;
            session.established_once = true;
            up.completed_handshake = true;
        }
        if !session.streams[dir].started() {
            let other = 1 - dir;
            if session.state == TcpState::SynRecv || session.state == TcpState::SynSent {
                // Handshake ACK completing a split handshake, or data
                // after a SYN whose SYN/ACK we missed: the ACK number tells
                // where the other side starts.
                if f.ack && session.streams[other].started() {
                    session.streams[dir].start(d.tcp_seq);
                }
            } else if config.midstream && session.state == TcpState::None {
                stats.midstream_pickups += 1;
                session.midstream = true;
                session.state = TcpState::Established;
                session.established_once = true;
                session.streams[dir].start(d.tcp_seq);
                if f.ack && !session.streams[other].started() {
                    session.streams[other].start(d.tcp_ack);
                }
            } else if config.midstream && session.midstream {
                session.streams[dir].start(d.tcp_seq);
            }
        }
        if !d.payload.is_empty() && session.streams[dir].started() {
            session.streams[dir].add(d.tcp_seq, d.payload, &config.stream, &mut up.data);
            up.added_to_stream = true;
        }
        let from_client = dir == 0;
        if f.ack && !f.fin {
            // an ACK moves the closing handshake on
            session.state = match (session.state, from_client) {
                (TcpState::FinWait1, true) => TcpState::FinWait2,
                (TcpState::LastAck, true) | (TcpState::TimeWait, false) => TcpState::Closed,
                (TcpState::Closing, _) => TcpState::TimeWait,
                (s, _) => s,
            };
        }
        if f.fin {
            session.fin[dir] = true;
            session.streams[dir].fin_seen = true;
            session.streams[dir].ack_all();
            up.closed = true;
            up.fin = true;
            session.state = match (session.state, from_client) {
                (TcpState::Established, true) => TcpState::CloseWait,
                (TcpState::Established, false) => TcpState::FinWait1,
                (TcpState::CloseWait, false) => TcpState::LastAck,
                (TcpState::FinWait1, true) => {
                    if f.ack {
                        TcpState::TimeWait
                    } else {
                        TcpState::Closing
                    }
                }
                (TcpState::FinWait2, true) => TcpState::TimeWait,
                (s, _) => s,
            };
        }
        up
    }

    /// Ends flows idle past their timeout, as of `now`.
    pub fn expire(&mut self, now: i64, ended: &mut Vec<Flow>) {
        if now - self.last_sweep < 1_000_000 {
            return;
        }
        self.last_sweep = now;
        let cfg = self.config;
        let expired: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(_, f)| {
                let timeout = match f.eve_state() {
                    "new" => cfg.timeout_new,
                    "closed" => cfg.timeout_closed,
                    _ => cfg.timeout_established,
                };
                now - f.last_ts > timeout * 1_000_000
            })
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            if let Some(mut f) = self.flows.remove(&k) {
                f.end_reason = Some(EndReason::Timeout);
                self.stats.timed_out += 1;
                ended.push(f);
            }
        }
    }

    fn evict_oldest(&mut self, ended: &mut Vec<Flow>) {
        let oldest = self
            .flows
            .iter()
            .min_by_key(|(_, f)| f.last_ts)
            .map(|(k, _)| *k);
        if let Some(k) = oldest
            && let Some(mut f) = self.flows.remove(&k)
        {
            f.end_reason = Some(EndReason::Forced);
            self.stats.evicted += 1;
            ended.push(f);
        }
    }

    /// Ends every flow (end of a capture file, shutdown), oldest first.
    pub fn drain(&mut self) -> Vec<Flow> {
        let mut all: Vec<Flow> = self.flows.drain().map(|(_, f)| f).collect();
        all.sort_by_key(|f| (f.start_ts, f.id));
        for f in &mut all {
            f.end_reason = Some(EndReason::Shutdown);
        }
        all
    }

    /// Flows held now.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

impl FlowTable {
    /// The flow of a key, read-only.
    pub fn get(&self, key: &FlowKey) -> Option<&Flow> {
        self.flows.get(key)
    }
}
