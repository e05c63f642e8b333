//! The compiled form of one rule: what the parser produces and the engine
//! runs. Keywords that inspect bytes live in ordered lists per
//! [`Buffer`]; keywords about the packet or flow are plain fields, checked
//! first because they are cheap.

use super::buffers::{AppProto, Buffer, Side};
use super::threshold::{DetectionFilter, Threshold};
use super::{AddrSpec, PortSpec};

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Pass,
    Drop,
    Reject,
    Alert,
}

/// Protocol in a rule header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleProto {
    Ip,
    Tcp,
    Udp,
    Icmp,
    /// An application protocol, over whichever transport carries it.
    App(AppProto),
}

/// How a TCP rule's payload keywords see the data: packet by packet,
/// the reassembled stream, or both (`tcp`: the stream first, then the
/// packet), as in Suricata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    Both,
    PacketOnly,
    StreamOnly,
}

/// A number written literally or taken from a `byte_extract` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val {
    Lit(i64),
    Var(usize),
}

/// `content` and its modifiers.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// The bytes to find; lower-cased when `nocase`.
    pub pattern: Vec<u8>,
    pub nocase: bool,
    pub negated: bool,
    pub offset: Option<Val>,
    pub depth: Option<Val>,
    pub distance: Option<Val>,
    pub within: Option<Val>,
    pub startswith: bool,
    pub endswith: bool,
    pub fast_pattern: bool,
    pub fast_pattern_only: bool,
}

impl Content {
    /// True when the match position depends on the previous match.
    pub fn relative(&self) -> bool {
        self.distance.is_some() || self.within.is_some()
    }
}

/// A compiled `pcre`: the linear-time `regex` engine when it can express
/// the pattern, PCRE2 (JIT) for what it cannot (back-references,
/// look-around).
#[derive(Debug, Clone)]
pub enum PcreRe {
    Regex(regex::bytes::Regex),
    Pcre2(std::sync::Arc<pcre2::bytes::Regex>),
}

impl PcreRe {
    /// Whether the pattern occurs in `hay`.
    pub fn is_match(&self, hay: &[u8]) -> bool {
        match self {
            PcreRe::Regex(r) => r.is_match(hay),
            // A PCRE2 error (match limit) counts as no match.
            PcreRe::Pcre2(r) => r.is_match(hay).unwrap_or(false),
        }
    }

    /// The first match starting at or after `start`: (start, end).
    pub fn find_at(&self, hay: &[u8], start: usize) -> Option<(usize, usize)> {
        match self {
            PcreRe::Regex(r) => r.find_at(hay, start).map(|m| (m.start(), m.end())),
            PcreRe::Pcre2(r) => r
                .find_at(hay, start)
                .ok()
                .flatten()
                .map(|m| (m.start(), m.end())),
        }
    }
}

/// A `pcre`.
#[derive(Debug, Clone)]
pub struct Pcre {
    pub source: String,
    pub regex: PcreRe,
    pub negated: bool,
    pub relative: bool,
}

impl PartialEq for Pcre {
    fn eq(&self, o: &Pcre) -> bool {
        self.source == o.source && self.negated == o.negated && self.relative == o.relative
    }
}

/// Comparison operators of `byte_test`, `dsize`, `bsize`, `itype`, ….
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq(u64),
    Ne(u64),
    Lt(u64),
    Le(u64),
    Gt(u64),
    Ge(u64),
    /// Exclusive range `a<>b`.
    Range(u64, u64),
}

impl Cmp {
    pub fn test(self, v: u64) -> bool {
        match self {
            Cmp::Eq(a) => v == a,
            Cmp::Ne(a) => v != a,
            Cmp::Lt(a) => v < a,
            Cmp::Le(a) => v <= a,
            Cmp::Gt(a) => v > a,
            Cmp::Ge(a) => v >= a,
            Cmp::Range(a, b) => v > a && v < b,
        }
    }
}

/// How `byte_*` read a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumFormat {
    Big,
    Little,
    /// ASCII digits in a base (8, 10 or 16).
    String(u32),
}

/// Operators of `byte_test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOp {
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ByteTest {
    pub nbytes: usize,
    pub negated: bool,
    pub op: ByteOp,
    pub value: Val,
    pub offset: Val,
    pub relative: bool,
    pub format: NumFormat,
    pub bitmask: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ByteJump {
    pub nbytes: usize,
    pub offset: Val,
    pub relative: bool,
    pub format: NumFormat,
    pub multiplier: u64,
    pub align: bool,
    pub from_beginning: bool,
    pub from_end: bool,
    pub post_offset: i64,
    pub bitmask: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ByteExtract {
    pub nbytes: usize,
    pub offset: i64,
    pub var: usize,
    pub relative: bool,
    pub format: NumFormat,
    pub multiplier: u64,
    pub align: u64,
    pub bitmask: Option<u64>,
}

/// One payload keyword, in rule order, within one buffer's list.
#[derive(Debug, Clone, PartialEq)]
pub enum Inspect {
    Content(Content),
    Pcre(Pcre),
    ByteTest(ByteTest),
    ByteJump(ByteJump),
    ByteExtract(ByteExtract),
    IsDataAt {
        pos: Val,
        relative: bool,
        negated: bool,
    },
    /// Size of the whole buffer.
    Bsize(Cmp),
}

impl Inspect {
    /// Whether this keyword's position depends on the previous match.
    pub fn relative(&self) -> bool {
        match self {
            Inspect::Content(c) => c.relative(),
            Inspect::Pcre(p) => p.relative,
            Inspect::ByteTest(b) => b.relative,
            Inspect::ByteJump(b) => b.relative,
            Inspect::ByteExtract(b) => b.relative,
            Inspect::IsDataAt { relative, .. } => *relative,
            Inspect::Bsize(_) => false,
        }
    }
}

/// Transformations applied to a buffer before inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    DotPrefix,
    ToLowercase,
    StripWhitespace,
    CompressWhitespace,
    UrlDecode,
}

/// The keywords of one buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct BufferList {
    pub buffer: Buffer,
    pub transforms: Vec<Transform>,
    pub items: Vec<Inspect>,
}

/// `flow:` options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowOpts {
    /// `established` (true) or `not_established` (false).
    pub established: Option<bool>,
    /// `to_server`/`from_client` or `to_client`/`from_server`.
    pub to_server: Option<bool>,
    pub only_stream: bool,
    pub no_stream: bool,
    pub stateless: bool,
}

/// `flowbits:` operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowbitOp {
    Set(usize),
    Unset(usize),
    Toggle(usize),
    /// Any of the bits is set (`a|b`).
    IsSet(Vec<usize>),
    /// None of the bits is set... for one bit; for `a|b`, any of them unset.
    IsNotSet(Vec<usize>),
}

/// `flags:` — which TCP flags must be set, and which are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagsMatch {
    pub flags: u8,
    /// `+`: at least these; `*`: any of these; `!`: not these; none: exactly.
    pub modifier: Option<char>,
    pub ignore: u8,
}

impl FlagsMatch {
    pub fn test(&self, pkt_flags: u8) -> bool {
        let f = pkt_flags & !self.ignore;
        match self.modifier {
            Some('+') => f & self.flags == self.flags,
            Some('*') => f & self.flags != 0,
            Some('!') => f & self.flags == 0,
            _ => f == self.flags,
        }
    }
}

/// Cheap checks on the packet, done before any payload inspection.
#[derive(Debug, Clone, PartialEq)]
pub enum PacketCheck {
    Dsize(Cmp),
    Flags(FlagsMatch),
    Itype(Cmp),
    Icode(Cmp),
    IcmpId(u16),
    IcmpSeq(u16),
    Ttl(Cmp),
    IpProto(u8),
    /// `stream-event:name`.
    StreamEvent(&'static str),
    /// `app-layer-protocol:[!]name`.
    AppLayerProtocol {
        proto: Option<AppProto>,
        negated: bool,
        /// `failed`/`unknown` rather than a protocol name.
        special: Option<&'static str>,
    },
}

/// A compiled rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub action: Action,
    pub proto: RuleProto,
    pub stream_mode: StreamMode,
    pub src: AddrSpec,
    pub sport: PortSpec,
    pub dst: AddrSpec,
    pub dport: PortSpec,
    pub bidirectional: bool,
    pub msg: String,
    pub sid: u64,
    pub rev: u32,
    pub gid: u32,
    pub classtype: Option<String>,
    pub priority: Option<u8>,
    pub metadata: Vec<(String, String)>,
    pub references: Vec<String>,
    pub flow: FlowOpts,
    pub checks: Vec<PacketCheck>,
    pub lists: Vec<BufferList>,
    pub flowbits: Vec<FlowbitOp>,
    pub noalert: bool,
    /// `alert;` on a pass rule: log the alert and pass.
    pub force_alert: bool,
    pub threshold: Option<Threshold>,
    pub detection_filter: Option<DetectionFilter>,
    /// Number of `byte_extract` variables.
    pub vars: usize,
    /// Where it was defined: `file:line`.
    pub origin: String,
}

impl Rule {
    /// The application protocol the rule requires, from its header.
    pub fn app_proto(&self) -> Option<AppProto> {
        match self.proto {
            RuleProto::App(a) => Some(a),
            _ => self.lists.iter().find_map(|l| l.buffer.app_proto()),
        }
    }

    /// True when the rule inspects application-layer transactions.
    pub fn is_tx_rule(&self) -> bool {
        self.lists.iter().any(|l| l.buffer != Buffer::Payload)
    }

    /// The payload list, if the rule has one.
    pub fn payload_list(&self) -> Option<&BufferList> {
        self.lists.iter().find(|l| l.buffer == Buffer::Payload)
    }

    /// Which directions the rule can match in: (to_server, to_client).
    pub fn directions(&self) -> (bool, bool) {
        let has_tc = self.lists.iter().any(|l| l.buffer.side() == Side::ToClient);
        let has_ts = self.lists.iter().any(|l| l.buffer.side() == Side::ToServer);
        // A rule mixing request and response buffers matches once the
        // response is there, with the request's buffers still available.
        let (mut ts, mut tc) = if has_tc {
            (false, true)
        } else if has_ts {
            (true, false)
        } else {
            (true, true)
        };
        if let Some(d) = self.flow.to_server {
            ts &= d;
            tc &= !d;
        }
        (ts, tc)
    }
}

impl Rule {
    /// An empty rule of a protocol, matching any address and port; the
    /// parser fills it in.
    pub fn new(proto: RuleProto) -> Rule {
        Rule {
            action: Action::Alert,
            proto,
            stream_mode: StreamMode::Both,
            src: AddrSpec::Any,
            sport: PortSpec::Any,
            dst: AddrSpec::Any,
            dport: PortSpec::Any,
            bidirectional: false,
            msg: String::new(),
            sid: 0,
            rev: 0,
            gid: 1,
            classtype: None,
            priority: None,
            metadata: Vec::new(),
            references: Vec::new(),
            flow: FlowOpts::default(),
            checks: Vec::new(),
            lists: Vec::new(),
            flowbits: Vec::new(),
            noalert: false,
            force_alert: false,
            threshold: None,
            detection_filter: None,
            vars: 0,
            origin: String::new(),
        }
    }
}
