//! Suricata-compatible signatures: the rule language with precise
//! diagnostics, and the engine that runs rules over packets, reassembled
//! streams and application-layer transactions.
//!
//! Compile, then run: [`RuleSet::load`] reads every rule of every file,
//! keeps the good ones and reports each bad one (file:line:column, the
//! keyword, why); [`RuleSet::compile`] is the strict form used with
//! `--init-errors-fatal`. The result is immutable and shared behind an
//! `Arc` by the worker threads.
//!
//! Layout: [`parse`] reads headers and splits options, [`options`] applies
//! keywords to a [`Rule`] ([`rule`] is the compiled form), [`buffers`] names
//! the inspection buffers, [`inspect`] runs a buffer's keywords over bytes,
//! [`prefilter`] picks candidate rules with one multi-pattern pass per
//! buffer, [`engine`] drives it all per packet with flow state, and
//! [`threshold`] decides which matches become alerts.

pub mod buffers;
pub mod engine;
pub mod inspect;
pub mod options;
mod parse;
pub mod prefilter;
pub mod rule;
pub mod threshold;

use std::net::IpAddr;
use std::path::Path;

pub use parse::{Diagnostic, parse_rules, parse_rules_with};
pub use rule::{Action, Rule, RuleProto};

use options::Names;

/// A set of addresses: a list of (CIDR, negated) items, or any.
#[derive(Debug, Clone, PartialEq)]
pub enum AddrSpec {
    Any,
    /// Matches when any positive item matches (or there are none) and no
    /// negated item matches.
    List(AddrSet),
}

/// The IPv4 and IPv6 ranges of a selective address set.
pub type SelectiveRanges<'a> = (&'a [(u32, u32)], &'a [(u128, u128)]);

/// Address items compiled to sorted, merged ranges: a lookup is a binary
/// search, so a rule listing a thousand addresses (ET's blocklists) costs
/// as much per packet as one listing two.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AddrSet {
    v4_pos: Vec<(u32, u32)>,
    v4_neg: Vec<(u32, u32)>,
    v6_pos: Vec<(u128, u128)>,
    v6_neg: Vec<(u128, u128)>,
    any_positive: bool,
}

fn merge<T: Ord + Copy>(mut v: Vec<(T, T)>, next: impl Fn(T) -> Option<T>) -> Vec<(T, T)> {
    v.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        if let Some(last) = out.last_mut()
            && (lo <= last.1 || next(last.1) == Some(lo))
        {
            if hi > last.1 {
                last.1 = hi;
            }
            continue;
        }
        out.push((lo, hi));
    }
    out
}

fn in_ranges<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    let i = ranges.partition_point(|r| r.0 <= x);
    i > 0 && ranges[i - 1].1 >= x
}

impl AddrSet {
    /// Compiles (CIDR, negated) items.
    pub fn new(items: &[(Cidr, bool)]) -> AddrSet {
        let (mut v4p, mut v4n, mut v6p, mut v6n) = (vec![], vec![], vec![], vec![]);
        let mut any_positive = false;
        for (c, neg) in items {
            any_positive |= !neg;
            match c.addr {
                IpAddr::V4(a) => {
                    let p = u32::from(c.prefix.min(32));
                    let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                    let lo = u32::from(a) & mask;
                    let r = (lo, lo | !mask);
                    if *neg { v4n.push(r) } else { v4p.push(r) }
                }
                IpAddr::V6(a) => {
                    let p = u32::from(c.prefix.min(128));
                    let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                    let lo = u128::from(a) & mask;
                    let r = (lo, lo | !mask);
                    if *neg { v6n.push(r) } else { v6p.push(r) }
                }
            }
        }
        AddrSet {
            v4_pos: merge(v4p, |x: u32| x.checked_add(1)),
            v4_neg: merge(v4n, |x: u32| x.checked_add(1)),
            v6_pos: merge(v6p, |x: u128| x.checked_add(1)),
            v6_neg: merge(v6n, |x: u128| x.checked_add(1)),
            any_positive,
        }
    }

    /// The positive IPv4 ranges, when the set is selective enough to
    /// index: positives only, no IPv6, fewer than 2^24 addresses in all.
    pub fn selective(&self) -> Option<SelectiveRanges<'_>> {
        if !self.any_positive || !self.v4_neg.is_empty() || !self.v6_neg.is_empty() {
            return None;
        }
        let total: u64 = self
            .v4_pos
            .iter()
            .map(|(lo, hi)| u64::from(hi - lo) + 1)
            .sum();
        // IPv6 entries must each sit within one /64
        let v6_ok = self.v6_pos.iter().all(|(lo, hi)| lo >> 64 == hi >> 64);
        (total < (1 << 24) && v6_ok).then_some((&self.v4_pos[..], &self.v6_pos[..]))
    }

    fn matches(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => {
                let x = u32::from(a);
                !in_ranges(&self.v4_neg, x) && (!self.any_positive || in_ranges(&self.v4_pos, x))
            }
            IpAddr::V6(a) => {
                let x = u128::from(a);
                !in_ranges(&self.v6_neg, x) && (!self.any_positive || in_ranges(&self.v6_pos, x))
            }
        }
    }
}

/// An IP network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
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
    pub fn matches(&self, ip: IpAddr) -> bool {
        match self {
            AddrSpec::Any => true,
            AddrSpec::List(set) => set.matches(ip),
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
    pub fn matches(&self, port: u16) -> bool {
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

/// What loading rule files found: per file, rules loaded and skipped, and
/// every skipped rule's diagnostic.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub files: Vec<FileReport>,
    /// Errors: each names a rule that was skipped.
    pub diagnostics: Vec<Diagnostic>,
    /// Warnings about rules that were loaded.
    pub warnings: Vec<Diagnostic>,
}

/// Rules loaded and skipped from one file.
#[derive(Debug, Default, Clone)]
pub struct FileReport {
    pub path: String,
    pub loaded: usize,
    pub skipped: usize,
}

impl LoadReport {
    /// Rules loaded over all files.
    pub fn loaded(&self) -> usize {
        self.files.iter().map(|f| f.loaded).sum()
    }

    /// Rules skipped over all files.
    pub fn skipped(&self) -> usize {
        self.files.iter().map(|f| f.skipped).sum()
    }
}

/// Compiled rules, immutable once built; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// In evaluation order: pass, drop, reject, alert; within each, rules
    /// that set flowbits before rules that test them, as Suricata orders.
    rules: Vec<Rule>,
    classifications: Classifications,
    names: Names,
    prefilter: prefilter::Prefilter,
}

impl RuleSet {
    /// Loads rules from files, keeping every rule that compiles and
    /// reporting each one that does not.
    pub fn load(
        files: &[&Path],
        vars: &Vars,
        classifications: Classifications,
    ) -> (RuleSet, LoadReport) {
        let mut names = Names::default();
        let mut rules = Vec::new();
        let mut report = LoadReport::default();
        for path in files {
            let name = path.display().to_string();
            match std::fs::read(path) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let (mut r, mut e) = parse_rules_with(&name, &text, vars, &mut names);
                    let mut fr = FileReport {
                        path: name,
                        loaded: r.len(),
                        skipped: count_rules_in(&e),
                    };
                    let before = r.len();
                    check_rules(
                        &mut r,
                        &classifications,
                        &mut rules,
                        &mut e,
                        &mut report.warnings,
                    );
                    fr.skipped += before - r.len();
                    fr.loaded = r.len();
                    rules.append(&mut r);
                    report.diagnostics.append(&mut e);
                    report.files.push(fr);
                }
                Err(e) => {
                    report.diagnostics.push(Diagnostic {
                        file: name.clone(),
                        line: 0,
                        column: 0,
                        message: format!("cannot read rule file: {e}"),
                    });
                    report.files.push(FileReport {
                        path: name,
                        loaded: 0,
                        skipped: 0,
                    });
                }
            }
        }
        (Self::build(rules, classifications, names), report)
    }

    /// Loads rules from text (tests, bundled rules), leniently.
    pub fn load_str(
        name: &str,
        text: &str,
        vars: &Vars,
        classifications: Classifications,
    ) -> (RuleSet, LoadReport) {
        let mut names = Names::default();
        let (mut r, mut e) = parse_rules_with(name, text, vars, &mut names);
        let mut fr = FileReport {
            path: name.to_string(),
            loaded: 0,
            skipped: count_rules_in(&e),
        };
        let before = r.len();
        let mut all = Vec::new();
        let mut warnings = Vec::new();
        check_rules(&mut r, &classifications, &mut all, &mut e, &mut warnings);
        fr.skipped += before - r.len();
        fr.loaded = r.len();
        let report = LoadReport {
            files: vec![fr],
            diagnostics: e,
            warnings,
        };
        (Self::build(r, classifications, names), report)
    }

    /// Compiles rules from several files; any error fails the whole set
    /// (`--init-errors-fatal`).
    ///
    /// # Errors
    /// All diagnostics, each with file, line and column.
    pub fn compile(
        files: &[&Path],
        vars: &Vars,
        classifications: Classifications,
    ) -> Result<RuleSet, Vec<Diagnostic>> {
        let (set, report) = Self::load(files, vars, classifications);
        if report.diagnostics.is_empty() {
            Ok(set)
        } else {
            Err(report.diagnostics)
        }
    }

    /// Compiles rules from text, strictly.
    ///
    /// # Errors
    /// All diagnostics of the text.
    pub fn compile_str(
        name: &str,
        text: &str,
        vars: &Vars,
        classifications: Classifications,
    ) -> Result<RuleSet, Vec<Diagnostic>> {
        let (set, report) = Self::load_str(name, text, vars, classifications);
        if report.diagnostics.is_empty() {
            Ok(set)
        } else {
            Err(report.diagnostics)
        }
    }

    fn build(mut rules: Vec<Rule>, classifications: Classifications, names: Names) -> RuleSet {
        // Suricata's order: by action, then flowbit setters before readers.
        let sets = |r: &Rule| {
            r.flowbits.iter().any(|f| {
                matches!(
                    f,
                    rule::FlowbitOp::Set(_)
                        | rule::FlowbitOp::Unset(_)
                        | rule::FlowbitOp::Toggle(_)
                )
            })
        };
        let reads = |r: &Rule| {
            r.flowbits
                .iter()
                .any(|f| matches!(f, rule::FlowbitOp::IsSet(_) | rule::FlowbitOp::IsNotSet(_)))
        };
        rules.sort_by_key(|r| {
            let fb = match (sets(r), reads(r)) {
                (true, false) => 0,
                (true, true) => 1,
                (false, false) => 2,
                (false, true) => 3,
            };
            (r.action, fb)
        });
        let prefilter = prefilter::Prefilter::build(&rules);
        RuleSet {
            rules,
            classifications,
            names,
            prefilter,
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

    /// The rules, in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Number of distinct flowbit names.
    pub fn flowbit_count(&self) -> usize {
        self.names.flowbits.len()
    }

    /// The prefilter.
    pub fn prefilter(&self) -> &prefilter::Prefilter {
        &self.prefilter
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
}

/// Distinct rules (file:line) among diagnostics.
fn count_rules_in(diags: &[Diagnostic]) -> usize {
    let mut lines: Vec<(&str, usize)> = diags.iter().map(|d| (d.file.as_str(), d.line)).collect();
    lines.sort_unstable();
    lines.dedup();
    lines.len()
}

/// Drops rules whose sid repeats an earlier one, reporting each; warns
/// about unknown classtypes.
fn check_rules(
    rules: &mut Vec<Rule>,
    classifications: &Classifications,
    earlier: &mut [Rule],
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) {
    let mut seen: std::collections::HashMap<(u32, u64), String> = earlier
        .iter()
        .map(|r| ((r.gid, r.sid), r.origin.clone()))
        .collect();
    rules.retain(|r| {
        let (file, line) = split_origin(&r.origin);
        if let Some(first) = seen.get(&(r.gid, r.sid)) {
            errors.push(Diagnostic {
                file,
                line,
                column: 1,
                message: format!(
                    "duplicate signature id {}:{} (first defined at {first}); rule skipped",
                    r.gid, r.sid
                ),
            });
            return false;
        }
        if let Some(ct) = &r.classtype
            && !classifications.contains_key(ct)
        {
            // Suricata warns and loads the rule (its alerts carry no
            // category); so do we.
            warnings.push(Diagnostic {
                file,
                line,
                column: 1,
                message: format!(
                    "warning: classtype `{ct}` is not in the classification file; alerts will have no category"
                ),
            });
        }
        seen.insert((r.gid, r.sid), r.origin.clone());
        true
    });
}

fn split_origin(origin: &str) -> (String, usize) {
    match origin.rsplit_once(':') {
        Some((f, l)) => (f.to_string(), l.parse().unwrap_or(0)),
        None => (origin.to_string(), 0),
    }
}
