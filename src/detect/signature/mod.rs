//! Suricata/Snort rules: a parser with precise diagnostics and a first,
//! simple matcher over packet payloads.
//!
//! Compile, then run: [`RuleSet::compile`] reads every rule of every file,
//! collects **all** errors (file:line:column, the keyword, what was
//! expected), and yields an immutable [`RuleSet`] to share behind an `Arc`.
//!
//! The foundation supports the header (action, protocol, addresses with
//! `$HOME_NET`-style variables, lists, CIDRs and negation, ports with ranges,
//! direction `->`/`<>`) and the options `msg`, `content` (hex `|..|`,
//! negation), `nocase`, `depth`, `offset`, `sid`, `rev`, `gid`, `classtype`,
//! `priority`, `metadata`, `reference`. Any other keyword is reported as
//! "not supported yet" rather than silently ignored, so an operator never
//! believes a rule is active when it is not. Flows, streams, sticky buffers
//! and the multi-pattern prefilter come with the network-detection issue.
//!
//! Application-layer protocols in the header (`http`, `tls`, `dns`, …) are
//! matched on their transport for now.

mod parse;

use std::net::IpAddr;
use std::path::Path;

pub use parse::{Diagnostic, parse_rules};

use crate::decode::{Decoded, Proto};

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Alert,
    Drop,
    Reject,
    Pass,
}

/// Protocol in a rule header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleProto {
    Ip,
    Tcp,
    Udp,
    Icmp,
    /// Application protocol carried over TCP (http, tls, smtp, …).
    TcpApp,
    /// Application protocol carried over TCP or UDP (dns).
    AnyApp,
}

impl RuleProto {
    fn matches(self, p: Proto) -> bool {
        match self {
            RuleProto::Ip => true,
            RuleProto::Tcp | RuleProto::TcpApp => p == Proto::Tcp,
            RuleProto::Udp => p == Proto::Udp,
            RuleProto::Icmp => matches!(p, Proto::Icmp | Proto::Icmpv6),
            RuleProto::AnyApp => matches!(p, Proto::Tcp | Proto::Udp),
        }
    }
}

/// A set of addresses: a list of (CIDR, negated) items, or any.
#[derive(Debug, Clone, PartialEq)]
pub enum AddrSpec {
    Any,
    /// Matches when any positive item matches (or there are none) and no
    /// negated item matches.
    List(Vec<(Cidr, bool)>),
}

/// An IP network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix.min(32)))
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix.min(128)))
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl AddrSpec {
    fn matches(&self, ip: IpAddr) -> bool {
        match self {
            AddrSpec::Any => true,
            AddrSpec::List(items) => {
                let mut any_positive = false;
                let mut positive_hit = false;
                for (cidr, neg) in items {
                    if *neg {
                        if cidr.contains(ip) {
                            return false;
                        }
                    } else {
                        any_positive = true;
                        positive_hit |= cidr.contains(ip);
                    }
                }
                !any_positive || positive_hit
            }
        }
    }
}

/// A set of ports: (low, high, negated) ranges, or any.
#[derive(Debug, Clone, PartialEq)]
pub enum PortSpec {
    Any,
    List(Vec<(u16, u16, bool)>),
}

impl PortSpec {
    fn matches(&self, port: u16) -> bool {
        match self {
            PortSpec::Any => true,
            PortSpec::List(items) => {
                let mut any_positive = false;
                let mut positive_hit = false;
                for (lo, hi, neg) in items {
                    let inside = (*lo..=*hi).contains(&port);
                    if *neg {
                        if inside {
                            return false;
                        }
                    } else {
                        any_positive = true;
                        positive_hit |= inside;
                    }
                }
                !any_positive || positive_hit
            }
        }
    }
}

/// One `content` match.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// The bytes to find; lower-cased when `nocase`.
    pub pattern: Vec<u8>,
    pub nocase: bool,
    pub negated: bool,
    pub offset: usize,
    pub depth: Option<usize>,
}

impl Content {
    fn matches(&self, payload: &[u8], lowered: &[u8]) -> bool {
        let hay = if self.nocase { lowered } else { payload };
        let start = self.offset.min(hay.len());
        let end = match self.depth {
            Some(d) => (start + d).min(hay.len()),
            None => hay.len(),
        };
        let found = !self.pattern.is_empty()
            && end >= start
            && memchr::memmem::find(&hay[start..end], &self.pattern).is_some();
        found != self.negated
    }
}

/// A compiled rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub action: Action,
    pub proto: RuleProto,
    pub src: AddrSpec,
    pub sport: PortSpec,
    pub dst: AddrSpec,
    pub dport: PortSpec,
    pub bidirectional: bool,
    pub msg: String,
    pub contents: Vec<Content>,
    pub sid: u64,
    pub rev: u32,
    pub gid: u32,
    pub classtype: Option<String>,
    pub priority: Option<u8>,
    pub metadata: Vec<(String, String)>,
    /// Where the rule was read from, for diagnostics and `rules explain`.
    pub origin: String,
}

impl Rule {
    fn header_matches(&self, d: &Decoded<'_>) -> bool {
        if !self.proto.matches(d.proto) {
            return false;
        }
        let forward = self.src.matches(d.src)
            && self.dst.matches(d.dst)
            && self.sport.matches(d.sport)
            && self.dport.matches(d.dport);
        forward
            || (self.bidirectional
                && self.src.matches(d.dst)
                && self.dst.matches(d.src)
                && self.sport.matches(d.dport)
                && self.dport.matches(d.sport))
    }

    fn needs_lowered(&self) -> bool {
        self.contents.iter().any(|c| c.nocase)
    }
}

/// One classtype of `classification.config`.
#[derive(Debug, Clone, PartialEq)]
pub struct Classtype {
    pub description: String,
    pub priority: u8,
}

/// Classtypes by short name.
pub type Classifications = std::collections::HashMap<String, Classtype>;

/// The classification file bundled with canhgac (Suricata's defaults).
pub const DEFAULT_CLASSIFICATION: &str = include_str!("../../../rules/classification.config");

/// Parses `config classification: name,description,priority` lines.
/// Lines that do not fit are skipped: the file is advisory.
pub fn parse_classifications(text: &str) -> Classifications {
    let mut out = Classifications::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("config classification:") else {
            continue;
        };
        let parts: Vec<&str> = rest.splitn(3, ',').map(str::trim).collect();
        if let [name, desc, prio] = parts[..]
            && let Ok(p) = prio.parse::<u8>()
        {
            out.insert(
                name.to_string(),
                Classtype {
                    description: desc.to_string(),
                    priority: p,
                },
            );
        }
    }
    out
}

/// A match of one rule on one packet.
#[derive(Debug, Clone, Copy)]
pub struct Match<'r> {
    pub rule: &'r Rule,
}

/// Compiled rules, immutable once built; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    classifications: Classifications,
}

/// Variables used in rule headers (`$HOME_NET`, `$HTTP_PORTS`, …).
#[derive(Debug, Clone)]
pub struct Vars {
    pub address: Vec<(String, String)>,
    pub port: Vec<(String, String)>,
}

impl Default for Vars {
    /// Suricata's default `suricata.yaml` values.
    fn default() -> Self {
        let home = "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]";
        let mut address = vec![
            ("HOME_NET".to_string(), home.to_string()),
            ("EXTERNAL_NET".to_string(), "!$HOME_NET".to_string()),
        ];
        for v in [
            "HTTP_SERVERS",
            "SMTP_SERVERS",
            "SQL_SERVERS",
            "DNS_SERVERS",
            "TELNET_SERVERS",
            "AIM_SERVERS",
            "DC_SERVERS",
            "DNP3_SERVER",
            "DNP3_CLIENT",
            "MODBUS_CLIENT",
            "MODBUS_SERVER",
            "ENIP_CLIENT",
            "ENIP_SERVER",
        ] {
            address.push((v.to_string(), "$HOME_NET".to_string()));
        }
        let port = [
            ("HTTP_PORTS", "80"),
            ("SHELLCODE_PORTS", "!80"),
            ("ORACLE_PORTS", "1521"),
            ("SSH_PORTS", "22"),
            ("DNP3_PORTS", "20000"),
            ("MODBUS_PORTS", "502"),
            ("FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"),
            ("FTP_PORTS", "21"),
            ("GENEVE_PORTS", "6081"),
            ("VXLAN_PORTS", "4789"),
            ("TEREDO_PORTS", "3544"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        Vars { address, port }
    }
}

impl RuleSet {
    /// Compiles rules from several files; collects every error of every file.
    ///
    /// # Errors
    /// All diagnostics, each with file, line and column.
    pub fn compile(
        files: &[&Path],
        vars: &Vars,
        classifications: Classifications,
    ) -> Result<RuleSet, Vec<Diagnostic>> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for path in files {
            let name = path.display().to_string();
            match std::fs::read(path) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    match parse_rules(&name, &text, vars) {
                        Ok(mut r) => rules.append(&mut r),
                        Err(mut e) => errors.append(&mut e),
                    }
                }
                Err(e) => errors.push(Diagnostic {
                    file: name,
                    line: 0,
                    column: 0,
                    message: format!("cannot read rule file: {e}"),
                }),
            }
        }
        Self::finish(rules, errors, classifications)
    }

    /// Compiles rules from text (tests, bundled rules).
    ///
    /// # Errors
    /// All diagnostics of the text.
    pub fn compile_str(
        name: &str,
        text: &str,
        vars: &Vars,
        classifications: Classifications,
    ) -> Result<RuleSet, Vec<Diagnostic>> {
        match parse_rules(name, text, vars) {
            Ok(rules) => Self::finish(rules, Vec::new(), classifications),
            Err(e) => Err(e),
        }
    }

    fn finish(
        rules: Vec<Rule>,
        mut errors: Vec<Diagnostic>,
        classifications: Classifications,
    ) -> Result<RuleSet, Vec<Diagnostic>> {
        let mut seen = std::collections::HashMap::new();
        for r in &rules {
            if let Some(first) = seen.insert((r.gid, r.sid), r.origin.clone()) {
                let (file, line) = split_origin(&r.origin);
                errors.push(Diagnostic {
                    file,
                    line,
                    column: 1,
                    message: format!(
                        "duplicate signature id {}:{} (first defined at {first})",
                        r.gid, r.sid
                    ),
                });
            }
            if let Some(ct) = &r.classtype
                && !classifications.contains_key(ct)
            {
                let (file, line) = split_origin(&r.origin);
                errors.push(Diagnostic {
                    file,
                    line,
                    column: 1,
                    message: format!("classtype `{ct}` is not in the classification file"),
                });
            }
        }
        if errors.is_empty() {
            Ok(RuleSet {
                rules,
                classifications,
            })
        } else {
            Err(errors)
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The classtype of a rule, if known.
    pub fn classtype(&self, rule: &Rule) -> Option<&Classtype> {
        rule.classtype
            .as_ref()
            .and_then(|c| self.classifications.get(c))
    }

    /// Severity of a rule's alerts: `priority`, else its classtype's, else 3.
    pub fn severity(&self, rule: &Rule) -> u8 {
        rule.priority
            .or_else(|| self.classtype(rule).map(|c| c.priority))
            .unwrap_or(3)
    }

    /// Runs every rule on a packet and appends the matches.
    ///
    /// A matching `pass` rule suppresses the packet's alerts, as in Suricata.
    /// `scratch` is reused across packets for the lower-cased payload.
    pub fn match_packet<'r>(
        &'r self,
        d: &Decoded<'_>,
        scratch: &mut Vec<u8>,
        out: &mut Vec<Match<'r>>,
    ) {
        let start = out.len();
        let mut lowered = false;
        for rule in &self.rules {
            if !rule.header_matches(d) {
                continue;
            }
            if rule.contents.is_empty() {
                // Header-only rules would fire on every packet of the flow;
                // without flow tracking we only fire on packets with data or
                // the first packet of a TCP handshake.
                let opening_syn = d.tcp_flags.syn && !d.tcp_flags.ack;
                if d.payload.is_empty() && !opening_syn {
                    continue;
                }
            } else {
                if !lowered && rule.needs_lowered() {
                    scratch.clear();
                    scratch.extend(d.payload.iter().map(u8::to_ascii_lowercase));
                    lowered = true;
                }
                if !rule.contents.iter().all(|c| c.matches(d.payload, scratch)) {
                    continue;
                }
            }
            if rule.action == Action::Pass {
                out.truncate(start);
                return;
            }
            out.push(Match { rule });
        }
    }
}

fn split_origin(origin: &str) -> (String, usize) {
    match origin.rsplit_once(':') {
        Some((f, l)) => (f.to_string(), l.parse().unwrap_or(0)),
        None => (origin.to_string(), 0),
    }
}
