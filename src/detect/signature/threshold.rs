//! Alert thresholding, compatible with Suricata: the rule keywords
//! `threshold:` and `detection_filter:`, the `threshold.config` file
//! (`suppress`, `threshold`, `event_filter`, `rate_filter`), and the runtime
//! state that decides whether a signature match becomes an alert.
//!
//! # Counting
//!
//! Every counter is keyed by `(gid, sid, tracked thing)`. The tracked thing is
//! the source address (`by_src`), the destination address (`by_dst`), nothing
//! (`by_rule`: one counter per signature), the unordered address pair
//! (`by_both`: `a -> b` and `b -> a` share a counter, as Suricata's IP-pair
//! table does) or the flow id (`by_flow`). A window is *fixed*, not sliding:
//! it opens at the first match that finds no live counter and lasts `seconds`
//! seconds; a match at or after `start + seconds` opens a new window. All
//! times come from the packets ([`MatchInfo::ts_micros`]), never the wall
//! clock, so replaying a capture gives the same alerts every time.
//!
//! Per window, with `count` = C (this is Suricata 7's
//! `detect-engine-threshold.c`, case by case):
//!
//! * `type limit`: matches 1..=C alert; later ones are silent.
//! * `type threshold`: every C-th match alerts (C, 2C, 3C, ...): the counter
//!   goes back to zero after each alert while the window keeps running.
//! * `type both`: the C-th match alerts once; later matches are silent.
//! * `detection_filter`: matches 1..=C do not alert; every later one does.
//! * `rate_filter` (threshold.config only): the match always alerts; once more
//!   than C matches have been seen in a window, the rule's action becomes
//!   `new_action` for `timeout` seconds (counted in whole seconds, as
//!   Suricata does), for every match. While that is in force the counter is
//!   left alone; the first match after the timeout only switches it off.
//!
//! Suricata separates two ways of "not alerting", and so does
//! [`Decision`]: a *silent* match (limit or both past their count, or a
//! suppression) still gets the rule's action (`drop`, `reject`) applied,
//! while a match below a `threshold`/`both` count or at/below a
//! `detection_filter` count gets neither the alert nor the action.
//! [`ThresholdState::check`] folds this into the simpler [`Verdict`].
//!
//! # What applies to a signature
//!
//! Suricata installs threshold.config lines one at a time, in file order, and
//! a signature ends up with at most one threshold-like item. The result,
//! implemented here:
//!
//! 1. `suppress` lines are looked at first. With `track`/`ip`, a match whose
//!    tracked address (`by_src`, `by_dst`, or either for `by_either`) is in
//!    the list is silenced before any counter is touched. Without `track`,
//!    the signature becomes "noalert": counters still run (and can still
//!    withhold the action) but no alert is ever produced.
//! 2. A `threshold`/`event_filter` line naming the signature exactly
//!    (non-zero `gen_id` and `sig_id`) replaces the rule's own `threshold:` or
//!    `detection_filter:`; if several do, the last one wins.
//! 3. Otherwise the rule's own `threshold:`/`detection_filter:` applies, and
//!    neither wildcard lines nor a `rate_filter` are added to it.
//! 4. Otherwise the first line, in file order, among a `rate_filter` naming
//!    the signature and the wildcard `threshold`/`event_filter`/`rate_filter`
//!    lines that cover it (`gen_id 0, sig_id 0`: every rule; `gen_id N,
//!    sig_id 0`: every rule with gid N) applies.
//!
//! `gen_id 0` with a non-zero `sig_id` is refused, as in Suricata.
//!
//! # Memory
//!
//! Counters live in one hash map with a cap on the number of entries
//! ([`DEFAULT_CAPACITY`] unless [`ThresholdState::with_capacity`] says
//! otherwise). An entry whose window (and rate-filter timeout) has passed is
//! treated exactly like a missing one, and such entries are removed a few at a
//! time on each check, oldest first. When the map is full even after removing
//! everything expired, the live entry closest to expiring is evicted; those
//! evictions are counted ([`ThresholdState::evictions`]). Suricata instead
//! fails the lookup (and drops the alert) when its host table's memcap is hit.
//!
//! # Parsing
//!
//! Rule keyword options may come in any order, each exactly once; names and
//! values are case-insensitive. `type backoff` and `unique_on` are refused as
//! unsupported (the types here cannot express them), and so is a
//! `detection_filter` with `count 0` or `seconds 0` (Suricata refuses those
//! too). threshold.config lines accept their options in any order as well,
//! `\` at the end of a line continues it, and `#` starts a comment.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Default cap on the number of live counters kept by [`ThresholdState`].
pub const DEFAULT_CAPACITY: usize = 65_536;

const MICROS_PER_SEC: i64 = 1_000_000;
/// Expired entries removed per [`ThresholdState::check`] call.
const PRUNE_BATCH: usize = 8;
/// Deepest `[...]` nesting accepted in a suppress address list.
const MAX_LIST_DEPTH: usize = 16;

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// What a counter (or a suppression) is kept per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    /// Per source address.
    BySrc,
    /// Per destination address.
    ByDst,
    /// One counter for the whole signature.
    ByRule,
    /// Per unordered (source, destination) address pair.
    ByBoth,
    /// Suppress only: the source or the destination address. Used for a
    /// counter (which the parsers never produce), it counts like `ByBoth`.
    ByEither,
    /// Per flow ([`MatchInfo::flow_id`]).
    ByFlow,
}

impl Track {
    /// The keyword as written in rules, e.g. `by_src`.
    pub fn as_str(self) -> &'static str {
        match self {
            Track::BySrc => "by_src",
            Track::ByDst => "by_dst",
            Track::ByRule => "by_rule",
            Track::ByBoth => "by_both",
            Track::ByEither => "by_either",
            Track::ByFlow => "by_flow",
        }
    }

    fn from_word(word: &str) -> Option<Track> {
        let all = [
            Track::BySrc,
            Track::ByDst,
            Track::ByRule,
            Track::ByBoth,
            Track::ByEither,
            Track::ByFlow,
        ];
        all.into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for Track {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `type` of a `threshold:` keyword or threshold.config entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdType {
    /// Alert on the first `count` matches of each window.
    Limit,
    /// Alert on every `count`-th match within a window.
    Threshold,
    /// Alert once per window, on the `count`-th match.
    Both,
}

impl ThresholdType {
    /// The keyword as written in rules, e.g. `limit`.
    pub fn as_str(self) -> &'static str {
        match self {
            ThresholdType::Limit => "limit",
            ThresholdType::Threshold => "threshold",
            ThresholdType::Both => "both",
        }
    }
}

impl fmt::Display for ThresholdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed `threshold:` keyword (or threshold.config `threshold` /
/// `event_filter` entry).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// limit, threshold or both.
    pub kind: ThresholdType,
    /// What the counter is kept per.
    pub track: Track,
    /// The `count` option.
    pub count: u32,
    /// Window length in seconds.
    pub seconds: u32,
}

/// A parsed `detection_filter:` keyword: alert on every match after the
/// first `count` within `seconds`.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionFilter {
    /// What the counter is kept per.
    pub track: Track,
    /// Matches per window that do not alert.
    pub count: u32,
    /// Window length in seconds.
    pub seconds: u32,
}

/// The action a tripped `rate_filter` substitutes for the rule's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateAction {
    /// Alert only.
    Alert,
    /// Drop the packet (IPS).
    Drop,
    /// Pass: stop inspecting.
    Pass,
    /// Reject (and drop).
    Reject,
}

impl RateAction {
    /// The keyword as written in threshold.config, e.g. `drop`.
    pub fn as_str(self) -> &'static str {
        match self {
            RateAction::Alert => "alert",
            RateAction::Drop => "drop",
            RateAction::Pass => "pass",
            RateAction::Reject => "reject",
        }
    }
}

/// An address block: `addr/prefix`. Parsed blocks have their host bits
/// cleared; [`IpNet::contains`] masks both sides, so hand-built values with
/// host bits set (or an oversized prefix, taken as the full length) work too.
#[derive(Debug, Clone, PartialEq)]
pub struct IpNet {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length in bits (at most 32 for IPv4, 128 for IPv6).
    pub prefix: u8,
}

impl IpNet {
    /// A block with the host bits of `addr` cleared; `None` if `prefix` is
    /// longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        match addr {
            IpAddr::V4(a) if prefix <= 32 => Some(IpNet {
                addr: IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_v4(prefix))),
                prefix,
            }),
            IpAddr::V6(a) if prefix <= 128 => Some(IpNet {
                addr: IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_v6(prefix))),
                prefix,
            }),
            _ => None,
        }
    }

    /// A single host (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> IpNet {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        IpNet { addr, prefix }
    }

    /// Parses one `addr`, `addr/len` or (IPv4) `addr/dotted.mask`.
    pub fn parse(text: &str) -> Result<IpNet, String> {
        let text = text.trim();
        let Some((a, p)) = text.split_once('/') else {
            return parse_ip(text).map(IpNet::host);
        };
        let addr = parse_ip(a.trim())?;
        let p = p.trim();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
            match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("prefix length `{p}` is out of range (0..={max})")),
            }
        } else if let (IpAddr::V4(_), Ok(mask)) = (addr, p.parse::<Ipv4Addr>()) {
            let m = u32::from(mask);
            let len = m.leading_ones();
            if m.checked_shl(len).unwrap_or(0) != 0 {
                return Err(format!("netmask `{p}` is not contiguous"));
            }
            // leading_ones of a u32 is at most 32.
            len as u8
        } else {
            return Err(format!("`{p}` is not a prefix length"));
        };
        IpNet::new(addr, prefix).ok_or_else(|| format!("`{text}` is not a valid network"))
    }

    /// Whether `ip` is inside this block. An IPv4 block never contains an
    /// IPv6 address and vice versa.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let m = mask_v4(self.prefix.min(32));
                u32::from(net) & m == u32::from(ip) & m
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let m = mask_v6(self.prefix.min(128));
                u128::from(net) & m == u128::from(ip) & m
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask_v4(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - u32::from(p)),
    }
}

fn mask_v6(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p if p >= 128 => u128::MAX,
        p => u128::MAX << (128 - u32::from(p)),
    }
}

/// One line of threshold.config.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigEntry {
    /// `suppress gen_id G, sig_id S[, track T, ip LIST]`.
    Suppress {
        /// Generator id; 0 with `sid` 0 means every rule.
        gid: u32,
        /// Signature id; 0 means every rule of `gid`.
        sid: u32,
        /// `None`: suppress every alert. Otherwise by_src, by_dst or by_either.
        track: Option<Track>,
        /// Addresses to suppress for; empty when `track` is `None`.
        ips: Vec<IpNet>,
    },
    /// `threshold ...` or `event_filter ...` (same meaning).
    Threshold {
        /// Generator id (0 with `sid` 0: every rule).
        gid: u32,
        /// Signature id (0: every rule of `gid`).
        sid: u32,
        /// The threshold to apply.
        threshold: Threshold,
    },
    /// `rate_filter ...`.
    RateFilter {
        /// Generator id (0 with `sid` 0: every rule).
        gid: u32,
        /// Signature id (0: every rule of `gid`).
        sid: u32,
        /// What the counter is kept per.
        track: Track,
        /// Matches per window allowed before the filter trips.
        count: u32,
        /// Window length in seconds.
        seconds: u32,
        /// Action while tripped.
        new_action: RateAction,
        /// How long the filter stays tripped, in seconds.
        timeout: u32,
    },
}

/// A problem with one threshold.config line; the line is skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigDiagnostic {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) of the offending text.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// The parsed threshold.config: its good entries, in file order (the order
/// matters, see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct ThresholdConfig {
    /// Entries in file order.
    pub entries: Vec<ConfigEntry>,
}

// ---------------------------------------------------------------------------
// Option-list parsing shared by the keywords and threshold.config
// ---------------------------------------------------------------------------

/// An error at a byte offset of the text being parsed.
type PErr = (usize, String);

/// One `name value` option.
#[derive(Debug)]
struct Field<'a> {
    name: &'a str,
    name_off: usize,
    value: &'a str,
    value_off: usize,
}

/// Splits `s` at commas outside `[...]`; each piece comes with its offset
/// (`base` added).
fn split_top_level(s: &str, base: usize) -> Result<Vec<(usize, &str)>, PErr> {
    let mut out = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => open.push(i),
            ']' => {
                let Some(_) = open.pop() else {
                    return Err((base + i, "`]` without a matching `[`".into()));
                };
            }
            ',' if open.is_empty() => {
                out.push((base + start, &s[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    if let Some(&i) = open.last() {
        return Err((base + i, "`[` is never closed".into()));
    }
    out.push((base + start, &s[start..]));
    Ok(out)
}

/// Offset and text of `s` without surrounding whitespace.
fn trimmed(s: &str, off: usize) -> (usize, &str) {
    let lead = s.len() - s.trim_start().len();
    (off + lead, s.trim())
}

/// Splits a comma-separated list of `name value` options.
fn split_fields(s: &str, base: usize) -> Result<Vec<Field<'_>>, PErr> {
    let mut out = Vec::new();
    for (off, piece) in split_top_level(s, base)? {
        let (off, piece) = trimmed(piece, off);
        if piece.is_empty() {
            return Err((off, "empty option (stray `,`?)".into()));
        }
        let name_len = piece
            .find(|c: char| !(c.is_ascii_alphabetic() || c == '_'))
            .unwrap_or(piece.len());
        if name_len == 0 {
            return Err((off, format!("expected an option name, found `{piece}`")));
        }
        let (value_off, value) = trimmed(&piece[name_len..], off + name_len);
        out.push(Field {
            name: &piece[..name_len],
            name_off: off,
            value,
            value_off,
        });
    }
    Ok(out)
}

/// Sorts `fields` into the slots named by `allowed`, refusing unknown and
/// repeated options.
fn collect_fields<'f, 'a>(
    fields: &'f [Field<'a>],
    allowed: &[&'static str],
    what: &str,
) -> Result<Vec<Option<&'f Field<'a>>>, PErr> {
    let mut slots: Vec<Option<&Field<'a>>> = vec![None; allowed.len()];
    for f in fields {
        let Some(i) = allowed.iter().position(|a| a.eq_ignore_ascii_case(f.name)) else {
            let hint = match f.name.to_ascii_lowercase().as_str() {
                "unique_on" => " (`unique_on` is not supported)".to_string(),
                "multiplier" => " (`type backoff` is not supported)".to_string(),
                _ => String::new(),
            };
            return Err((
                f.name_off,
                format!(
                    "unknown option `{}` in {what}; expected {}{hint}",
                    f.name,
                    allowed.join(", ")
                ),
            ));
        };
        if let Some(slot) = slots.get_mut(i) {
            if slot.is_some() {
                return Err((
                    f.name_off,
                    format!("`{}` given twice in {what}", allowed[i]),
                ));
            }
            *slot = Some(f);
        }
    }
    Ok(slots)
}

/// The field in slot `i`, or an error naming it at `missing_off`.
fn required<'f, 'a>(
    slots: &[Option<&'f Field<'a>>],
    allowed: &[&'static str],
    i: usize,
    what: &str,
    missing_off: usize,
) -> Result<&'f Field<'a>, PErr> {
    match slots.get(i).copied().flatten() {
        Some(f) => Ok(f),
        None => {
            let name = allowed.get(i).copied().unwrap_or("option");
            Err((missing_off, format!("{what} is missing `{name}`")))
        }
    }
}

fn require_value<'a>(f: &Field<'a>) -> Result<&'a str, PErr> {
    if f.value.is_empty() {
        Err((f.value_off, format!("`{}` needs a value", f.name)))
    } else {
        Ok(f.value)
    }
}

fn parse_u32_field(f: &Field<'_>) -> Result<u32, PErr> {
    let v = require_value(f)?;
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err((
            f.value_off,
            format!("`{}` must be a non-negative integer, found `{v}`", f.name),
        ));
    }
    v.parse::<u32>().map_err(|_| {
        (
            f.value_off,
            format!("`{}` value `{v}` is too large", f.name),
        )
    })
}

fn parse_track_field(f: &Field<'_>, allowed: &[Track], what: &str) -> Result<Track, PErr> {
    let v = require_value(f)?;
    match Track::from_word(v) {
        Some(t) if allowed.contains(&t) => Ok(t),
        _ => {
            let names: Vec<&str> = allowed.iter().map(|t| t.as_str()).collect();
            Err((
                f.value_off,
                format!(
                    "`track {v}` is not valid for {what}; expected {}",
                    names.join(", ")
                ),
            ))
        }
    }
}

fn parse_type_field(f: &Field<'_>) -> Result<ThresholdType, PErr> {
    let v = require_value(f)?;
    let kind = [
        ThresholdType::Limit,
        ThresholdType::Threshold,
        ThresholdType::Both,
    ]
    .into_iter()
    .find(|k| k.as_str().eq_ignore_ascii_case(v));
    match kind {
        Some(k) => Ok(k),
        None if v.eq_ignore_ascii_case("backoff") => {
            Err((f.value_off, "`type backoff` is not supported".into()))
        }
        None => Err((
            f.value_off,
            format!("unknown threshold type `{v}`; expected limit, threshold or both"),
        )),
    }
}

const THRESHOLD_TRACKS: [Track; 5] = [
    Track::BySrc,
    Track::ByDst,
    Track::ByRule,
    Track::ByBoth,
    Track::ByFlow,
];

const THRESHOLD_OPTS: [&str; 4] = ["type", "track", "count", "seconds"];

/// Reads type/track/count/seconds out of already-split fields.
fn threshold_from_fields(
    fields: &[Field<'_>],
    extra: &[&'static str],
    what: &str,
    end: usize,
) -> Result<Threshold, PErr> {
    let mut allowed: Vec<&'static str> = extra.to_vec();
    allowed.extend_from_slice(&THRESHOLD_OPTS);
    let slots = collect_fields(fields, &allowed, what)?;
    let n = extra.len();
    let kind = parse_type_field(required(&slots, &allowed, n, what, end)?)?;
    let track = parse_track_field(
        required(&slots, &allowed, n + 1, what, end)?,
        &THRESHOLD_TRACKS,
        what,
    )?;
    let count = parse_u32_field(required(&slots, &allowed, n + 2, what, end)?)?;
    let seconds = parse_u32_field(required(&slots, &allowed, n + 3, what, end)?)?;
    Ok(Threshold {
        kind,
        track,
        count,
        seconds,
    })
}

/// Parses the value of a rule's `threshold:` keyword, e.g.
/// `"type limit, track by_src, count 1, seconds 60"`. The four options may
/// come in any order, each exactly once. `Err(message)` says what is wrong.
pub fn parse_threshold(value: &str) -> Result<Threshold, String> {
    let fields = split_fields(value, 0).map_err(|(_, m)| m)?;
    threshold_from_fields(&fields, &[], "`threshold`", 0).map_err(|(_, m)| m)
}

/// Parses the value of a rule's `detection_filter:` keyword, e.g.
/// `"track by_src, count 10, seconds 60"`. `count` and `seconds` must be
/// non-zero (as in Suricata). `Err(message)` says what is wrong.
pub fn parse_detection_filter(value: &str) -> Result<DetectionFilter, String> {
    const OPTS: [&str; 3] = ["track", "count", "seconds"];
    let what = "`detection_filter`";
    let inner = || -> Result<DetectionFilter, PErr> {
        let fields = split_fields(value, 0)?;
        let slots = collect_fields(&fields, &OPTS, what)?;
        let track = parse_track_field(
            required(&slots, &OPTS, 0, what, 0)?,
            &THRESHOLD_TRACKS,
            what,
        )?;
        let count = parse_u32_field(required(&slots, &OPTS, 1, what, 0)?)?;
        let seconds = parse_u32_field(required(&slots, &OPTS, 2, what, 0)?)?;
        if count == 0 {
            return Err((0, "`detection_filter` needs a `count` of at least 1".into()));
        }
        if seconds == 0 {
            return Err((0, "`detection_filter` needs `seconds` of at least 1".into()));
        }
        Ok(DetectionFilter {
            track,
            count,
            seconds,
        })
    };
    inner().map_err(|(_, m)| m)
}

// ---------------------------------------------------------------------------
// Addresses for suppress
// ---------------------------------------------------------------------------

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse::<IpAddr>()
        .map_err(|_| format!("`{s}` is not an IP address"))
}

/// Smallest list of blocks covering exactly `start..=end` in a `bits`-wide
/// address space.
fn range_to_blocks(start: u128, end: u128, bits: u32) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    let mut cur = start;
    loop {
        let mut size = if cur == 0 {
            bits
        } else {
            cur.trailing_zeros().min(bits)
        };
        let span = |size: u32| -> u128 {
            if size >= 128 {
                u128::MAX
            } else {
                (1u128 << size) - 1
            }
        };
        while size > 0 && cur.checked_add(span(size)).is_none_or(|last| last > end) {
            size -= 1;
        }
        // `size` is at most 128, so the prefix fits a u8.
        out.push((cur, (bits - size) as u8));
        let last = cur.saturating_add(span(size));
        if last >= end {
            break;
        }
        cur = last + 1;
    }
    out
}

fn parse_range(a: &str, b: &str) -> Result<Vec<IpNet>, String> {
    let (a, b) = (parse_ip(a.trim())?, parse_ip(b.trim())?);
    let (start, end, bits, v4) = match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            (u128::from(u32::from(a)), u128::from(u32::from(b)), 32, true)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128, false),
        _ => return Err("an address range must not mix IPv4 and IPv6".into()),
    };
    if start > end {
        return Err(format!("address range `{a}-{b}` is backwards"));
    }
    Ok(range_to_blocks(start, end, bits)
        .into_iter()
        .map(|(net, prefix)| {
            let addr = if v4 {
                // Values in a 32-bit range fit a u32.
                IpAddr::V4(Ipv4Addr::from(u32::try_from(net).unwrap_or(u32::MAX)))
            } else {
                IpAddr::V6(Ipv6Addr::from(net))
            };
            IpNet { addr, prefix }
        })
        .collect())
}

/// Parses a suppress address: an address, a block, a range `a-b`, `any`,
/// `$VAR`, or a `[...]` list of those (nesting allowed).
fn parse_addr_list(
    s: &str,
    off: usize,
    resolve_var: &dyn Fn(&str) -> Option<Vec<IpNet>>,
    depth: usize,
    out: &mut Vec<IpNet>,
) -> Result<(), PErr> {
    let (off, t) = trimmed(s, off);
    if t.is_empty() {
        return Err((off, "empty address in `ip` list".into()));
    }
    if depth > MAX_LIST_DEPTH {
        return Err((off, "address list is nested too deeply".into()));
    }
    if let Some(rest) = t.strip_prefix('[') {
        let Some(inner) = rest.strip_suffix(']') else {
            return Err((off, format!("malformed address list `{t}`")));
        };
        for (poff, piece) in split_top_level(inner, off + 1)? {
            parse_addr_list(piece, poff, resolve_var, depth + 1, out)?;
        }
        return Ok(());
    }
    if t.starts_with('!') {
        return Err((
            off,
            "negated addresses are not supported in suppress".into(),
        ));
    }
    if let Some(name) = t.strip_prefix('$') {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((off, format!("`{t}` is not a valid variable name")));
        }
        return match resolve_var(name) {
            Some(nets) => {
                out.extend(nets);
                Ok(())
            }
            None => Err((off, format!("unknown address variable `{t}`"))),
        };
    }
    if t.eq_ignore_ascii_case("any") {
        out.push(IpNet {
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            prefix: 0,
        });
        out.push(IpNet {
            addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            prefix: 0,
        });
        return Ok(());
    }
    if let Some((a, b)) = t.split_once('-') {
        out.extend(parse_range(a, b).map_err(|m| (off, m))?);
        return Ok(());
    }
    out.push(IpNet::parse(t).map_err(|m| (off, m))?);
    Ok(())
}

// ---------------------------------------------------------------------------
// threshold.config
// ---------------------------------------------------------------------------

/// A logical line (physical lines joined at a trailing `\`) with the map
/// back to physical positions.
struct LogicalLine<'t> {
    text: String,
    /// (offset in `text`, 1-based line number, the physical line).
    segments: Vec<(usize, usize, &'t str)>,
}

impl LogicalLine<'_> {
    /// 1-based (line, column) of byte `off` of `text`.
    fn locate(&self, off: usize) -> (usize, usize) {
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|(start, _, _)| *start <= off)
            .or_else(|| self.segments.first());
        match seg {
            Some(&(start, line, phys)) => {
                let mut byte = (off - start.min(off)).min(phys.len());
                while !phys.is_char_boundary(byte) {
                    byte -= 1;
                }
                (line, phys[..byte].chars().count() + 1)
            }
            None => (1, 1),
        }
    }
}

fn logical_lines(text: &str) -> Vec<LogicalLine<'_>> {
    let mut out = Vec::new();
    let mut cur: Option<LogicalLine<'_>> = None;
    for (i, phys) in text.lines().enumerate() {
        // `#` cannot appear in any valid entry, so it always starts a comment.
        let content = match phys.find('#') {
            Some(p) => &phys[..p],
            None => phys,
        };
        let body = content.trim_end();
        let (body, continues) = match body.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (body, false),
        };
        let line = cur.get_or_insert_with(|| LogicalLine {
            text: String::new(),
            segments: Vec::new(),
        });
        line.segments.push((line.text.len(), i + 1, phys));
        line.text.push_str(body);
        if continues {
            line.text.push(' ');
        } else if let Some(done) = cur.take() {
            out.push(done);
        }
    }
    if let Some(done) = cur.take() {
        out.push(done);
    }
    out
}

#[derive(Clone, Copy)]
enum Directive {
    Suppress,
    Threshold,
    RateFilter,
}

/// Parses one logical line; `Ok(None)` for a blank or comment line.
fn parse_config_line(
    s: &str,
    resolve_var: &dyn Fn(&str) -> Option<Vec<IpNet>>,
) -> Result<Option<ConfigEntry>, PErr> {
    let (start, rest) = trimmed(s, 0);
    if rest.is_empty() {
        return Ok(None);
    }
    let kw_len = rest
        .find(|c: char| !(c.is_ascii_alphabetic() || c == '_'))
        .unwrap_or(rest.len());
    let keyword = &rest[..kw_len];
    let (directive, what) = match keyword.to_ascii_lowercase().as_str() {
        "suppress" => (Directive::Suppress, "`suppress`"),
        "threshold" => (Directive::Threshold, "`threshold`"),
        "event_filter" => (Directive::Threshold, "`event_filter`"),
        "rate_filter" => (Directive::RateFilter, "`rate_filter`"),
        _ => {
            let shown = if keyword.is_empty() { rest } else { keyword };
            return Err((
                start,
                format!(
                    "unknown entry `{shown}`; expected suppress, threshold, event_filter or rate_filter"
                ),
            ));
        }
    };
    let after = &rest[kw_len..];
    if let Some(c) = after.chars().next().filter(|c| !c.is_whitespace()) {
        return Err((
            start + kw_len,
            format!("unexpected `{c}` after `{keyword}`"),
        ));
    }
    let fields = split_fields(after, start + kw_len)?;
    let end = start;

    // gen_id and sig_id come first in Suricata's syntax; any order is taken.
    let ids_of =
        |slots: &[Option<&Field<'_>>], allowed: &[&'static str]| -> Result<(u32, u32), PErr> {
            let gf = required(slots, allowed, 0, what, end)?;
            let gid = parse_u32_field(gf)?;
            let sid = parse_u32_field(required(slots, allowed, 1, what, end)?)?;
            if gid == 0 && sid != 0 {
                return Err((
                    gf.value_off,
                    "`gen_id 0` is only allowed with `sig_id 0`; use the rule's gid (normally 1)"
                        .into(),
                ));
            }
            Ok((gid, sid))
        };

    let entry = match directive {
        Directive::Suppress => {
            const OPTS: [&str; 4] = ["gen_id", "sig_id", "track", "ip"];
            let slots = collect_fields(&fields, &OPTS, what)?;
            let (gid, sid) = ids_of(&slots, &OPTS)?;
            match (
                slots.get(2).copied().flatten(),
                slots.get(3).copied().flatten(),
            ) {
                (None, None) => ConfigEntry::Suppress {
                    gid,
                    sid,
                    track: None,
                    ips: Vec::new(),
                },
                (Some(t), Some(ip)) => {
                    let track =
                        parse_track_field(t, &[Track::BySrc, Track::ByDst, Track::ByEither], what)?;
                    let value = require_value(ip)?;
                    let mut ips = Vec::new();
                    parse_addr_list(value, ip.value_off, resolve_var, 0, &mut ips)?;
                    if ips.is_empty() {
                        return Err((
                            ip.value_off,
                            "the `ip` list resolves to no addresses".into(),
                        ));
                    }
                    ConfigEntry::Suppress {
                        gid,
                        sid,
                        track: Some(track),
                        ips,
                    }
                }
                (Some(t), None) => {
                    return Err((t.name_off, "`suppress` with `track` needs an `ip`".into()));
                }
                (None, Some(ip)) => {
                    return Err((ip.name_off, "`suppress` with `ip` needs a `track`".into()));
                }
            }
        }
        Directive::Threshold => {
            const IDS: [&str; 2] = ["gen_id", "sig_id"];
            let slots = collect_fields(
                &fields,
                &["gen_id", "sig_id", "type", "track", "count", "seconds"],
                what,
            )?;
            let (gid, sid) = ids_of(&slots, &IDS)?;
            let rest: Vec<Field<'_>> = fields
                .into_iter()
                .filter(|f| !IDS.iter().any(|n| n.eq_ignore_ascii_case(f.name)))
                .collect();
            let threshold = threshold_from_fields(&rest, &[], what, end)?;
            ConfigEntry::Threshold {
                gid,
                sid,
                threshold,
            }
        }
        Directive::RateFilter => {
            const OPTS: [&str; 7] = [
                "gen_id",
                "sig_id",
                "track",
                "count",
                "seconds",
                "new_action",
                "timeout",
            ];
            let slots = collect_fields(&fields, &OPTS, what)?;
            let (gid, sid) = ids_of(&slots, &OPTS)?;
            let track = parse_track_field(
                required(&slots, &OPTS, 2, what, end)?,
                &THRESHOLD_TRACKS,
                what,
            )?;
            let count = parse_u32_field(required(&slots, &OPTS, 3, what, end)?)?;
            let seconds = parse_u32_field(required(&slots, &OPTS, 4, what, end)?)?;
            let af = required(&slots, &OPTS, 5, what, end)?;
            let av = require_value(af)?;
            let new_action = match av.to_ascii_lowercase().as_str() {
                "alert" => RateAction::Alert,
                "drop" => RateAction::Drop,
                "pass" => RateAction::Pass,
                "reject" => RateAction::Reject,
                "sdrop" | "log" => {
                    return Err((
                        af.value_off,
                        format!("`new_action {av}` is not supported (Suricata ignores it too)"),
                    ));
                }
                _ => {
                    return Err((
                        af.value_off,
                        format!("unknown `new_action {av}`; expected alert, drop, pass or reject"),
                    ));
                }
            };
            let timeout = parse_u32_field(required(&slots, &OPTS, 6, what, end)?)?;
            ConfigEntry::RateFilter {
                gid,
                sid,
                track,
                count,
                seconds,
                new_action,
                timeout,
            }
        }
    };
    Ok(Some(entry))
}

/// Parses threshold.config text. Bad lines are reported (1-based line and
/// column) and skipped; good ones are kept in file order. `#` starts a
/// comment, blank lines are ignored, and a line ending in `\` continues on
/// the next.
///
/// Syntax (options after the directive may come in any order):
///
/// ```text
/// suppress gen_id 1, sig_id 2002087
/// suppress gen_id 1, sig_id 2002087, track by_src, ip 209.132.180.67
/// suppress gen_id 1, sig_id 2003614, track by_either, ip [10.0.0.0/8, $HOME_NET]
/// threshold gen_id 1, sig_id 10, type limit, track by_src, count 1, seconds 60
/// event_filter gen_id 1, sig_id 10, type both, track by_dst, count 5, seconds 60
/// rate_filter gen_id 1, sig_id 1000, track by_rule, count 100, seconds 60, new_action drop, timeout 30
/// ```
///
/// A suppress `ip` is an address, a block (`/len` or, for IPv4, a dotted
/// mask), a range `a-b`, `any`, a variable, or a `[...]` list of those.
/// Variables are looked up with `resolve_var`, which gets the name *without*
/// the `$` (`HOME_NET` for `$HOME_NET`); `None` reports an unknown variable.
pub fn parse_threshold_config(
    text: &str,
    resolve_var: &dyn Fn(&str) -> Option<Vec<IpNet>>,
) -> (ThresholdConfig, Vec<ConfigDiagnostic>) {
    let mut config = ThresholdConfig::default();
    let mut diagnostics = Vec::new();
    for line in logical_lines(text) {
        match parse_config_line(&line.text, resolve_var) {
            Ok(Some(entry)) => config.entries.push(entry),
            Ok(None) => {}
            Err((off, message)) => {
                let (line, column) = line.locate(off);
                diagnostics.push(ConfigDiagnostic {
                    line,
                    column,
                    message,
                });
            }
        }
    }
    (config, diagnostics)
}

// ---------------------------------------------------------------------------
// Runtime
// ---------------------------------------------------------------------------

/// What happens to one signature match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Alert as usual.
    Alert,
    /// No alert (suppressed, or held back by a threshold).
    Suppressed,
    /// Alert, and a `rate_filter` has tripped: use this action instead of
    /// the rule's.
    Action(RateAction),
}

/// The full outcome of one match, distinguishing what [`Verdict`] folds
/// together (see [`ThresholdState::check_full`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether to emit an alert.
    pub alert: bool,
    /// Whether the rule's action (drop, reject, pass) still applies to the
    /// packet. `false` means the match is treated as if it had not happened
    /// (below a `threshold`/`both` count, or within a `detection_filter`
    /// count); `true` with `alert == false` is a silent match (suppressed, or
    /// past a `limit`/`both` count).
    pub apply_action: bool,
    /// A tripped `rate_filter`'s replacement action.
    pub new_action: Option<RateAction>,
}

/// Everything the state needs about one match.
#[derive(Debug, Clone, Copy)]
pub struct MatchInfo<'a> {
    /// The rule's gid (normally 1).
    pub gid: u32,
    /// The rule's sid.
    pub sid: u32,
    /// Packet time, microseconds since the epoch.
    pub ts_micros: i64,
    /// Packet source address.
    pub src: IpAddr,
    /// Packet destination address.
    pub dst: IpAddr,
    /// Flow identity for `track by_flow`.
    pub flow_id: u64,
    /// The rule's own `threshold:`.
    pub rule_threshold: Option<&'a Threshold>,
    /// The rule's own `detection_filter:`.
    pub detection_filter: Option<&'a DetectionFilter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Algo {
    Limit,
    Threshold,
    Both,
    Detection,
    Rate,
}

/// A threshold-like item in the form the state machine runs.
#[derive(Debug, Clone, Copy)]
struct Spec {
    algo: Algo,
    track: Track,
    count: u32,
    seconds: u32,
    timeout: u32,
    action: RateAction,
}

impl Spec {
    fn from_threshold(t: &Threshold) -> Spec {
        Spec {
            algo: match t.kind {
                ThresholdType::Limit => Algo::Limit,
                ThresholdType::Threshold => Algo::Threshold,
                ThresholdType::Both => Algo::Both,
            },
            track: t.track,
            count: t.count,
            seconds: t.seconds,
            timeout: 0,
            action: RateAction::Alert,
        }
    }

    fn from_detection(d: &DetectionFilter) -> Spec {
        Spec {
            algo: Algo::Detection,
            track: d.track,
            count: d.count,
            seconds: d.seconds,
            timeout: 0,
            action: RateAction::Alert,
        }
    }

    fn window_micros(&self) -> i64 {
        i64::from(self.seconds) * MICROS_PER_SEC
    }
}

#[derive(Debug, Clone)]
struct SuppressRule {
    track: Option<Track>,
    ips: Vec<IpNet>,
}

/// threshold.config, indexed for lookups per match.
#[derive(Debug, Clone, Default)]
struct Compiled {
    suppress_exact: HashMap<(u32, u32), Vec<SuppressRule>>,
    suppress_gid: HashMap<u32, Vec<SuppressRule>>,
    suppress_all: Vec<SuppressRule>,
    /// Exact threshold/event_filter: the last one wins.
    threshold_exact: HashMap<(u32, u32), Spec>,
    /// Exact rate_filter with its line order: the first one wins.
    rate_exact: HashMap<(u32, u32), (usize, Spec)>,
    /// `gen_id N, sig_id 0` threshold or rate_filter: the first one wins.
    wildcard_gid: HashMap<u32, (usize, Spec)>,
    /// `gen_id 0, sig_id 0` threshold or rate_filter: the first one wins.
    wildcard_all: Option<(usize, Spec)>,
}

impl Compiled {
    fn new(config: &ThresholdConfig) -> Compiled {
        let mut c = Compiled::default();
        for (order, entry) in config.entries.iter().enumerate() {
            match entry {
                ConfigEntry::Suppress {
                    gid,
                    sid,
                    track,
                    ips,
                } => {
                    let rule = SuppressRule {
                        track: *track,
                        ips: ips.clone(),
                    };
                    match (*gid, *sid) {
                        (0, 0) => c.suppress_all.push(rule),
                        (0, _) => {} // refused by Suricata
                        (g, 0) => c.suppress_gid.entry(g).or_default().push(rule),
                        (g, s) => c.suppress_exact.entry((g, s)).or_default().push(rule),
                    }
                }
                ConfigEntry::Threshold {
                    gid,
                    sid,
                    threshold,
                } => {
                    let spec = Spec::from_threshold(threshold);
                    match (*gid, *sid) {
                        (0, 0) => {
                            c.wildcard_all.get_or_insert((order, spec));
                        }
                        (0, _) => {}
                        (g, 0) => {
                            c.wildcard_gid.entry(g).or_insert((order, spec));
                        }
                        (g, s) => {
                            c.threshold_exact.insert((g, s), spec);
                        }
                    }
                }
                ConfigEntry::RateFilter {
                    gid,
                    sid,
                    track,
                    count,
                    seconds,
                    new_action,
                    timeout,
                } => {
                    let spec = Spec {
                        algo: Algo::Rate,
                        track: *track,
                        count: *count,
                        seconds: *seconds,
                        timeout: *timeout,
                        action: *new_action,
                    };
                    match (*gid, *sid) {
                        (0, 0) => {
                            c.wildcard_all.get_or_insert((order, spec));
                        }
                        (0, _) => {}
                        (g, 0) => {
                            c.wildcard_gid.entry(g).or_insert((order, spec));
                        }
                        (g, s) => {
                            c.rate_exact.entry((g, s)).or_insert((order, spec));
                        }
                    }
                }
            }
        }
        c
    }

    /// (no alert at all, suppressed by address) for a match.
    fn suppression(&self, m: &MatchInfo<'_>) -> (bool, bool) {
        let lists = [
            Some(self.suppress_all.as_slice()),
            self.suppress_gid.get(&m.gid).map(Vec::as_slice),
            self.suppress_exact.get(&(m.gid, m.sid)).map(Vec::as_slice),
        ];
        let mut noalert = false;
        for rule in lists.into_iter().flatten().flatten() {
            let listed = |ip: IpAddr| rule.ips.iter().any(|n| n.contains(ip));
            match rule.track {
                None => noalert = true,
                Some(Track::BySrc) if listed(m.src) => return (noalert, true),
                Some(Track::ByDst) if listed(m.dst) => return (noalert, true),
                Some(Track::ByEither) if listed(m.src) || listed(m.dst) => return (noalert, true),
                // Other tracks cannot come from the parser; Suricata ignores them.
                Some(_) => {}
            }
        }
        (noalert, false)
    }

    /// The threshold-like items that apply to a match, in evaluation order.
    fn resolve(&self, m: &MatchInfo<'_>) -> [Option<Spec>; 2] {
        if let Some(spec) = self.threshold_exact.get(&(m.gid, m.sid)) {
            return [Some(*spec), None];
        }
        if m.rule_threshold.is_some() || m.detection_filter.is_some() {
            return [
                m.rule_threshold.map(Spec::from_threshold),
                m.detection_filter.map(Spec::from_detection),
            ];
        }
        let candidates = [
            self.rate_exact.get(&(m.gid, m.sid)),
            self.wildcard_gid.get(&m.gid),
            self.wildcard_all.as_ref(),
        ];
        let mut best: Option<(usize, Spec)> = None;
        for &(order, spec) in candidates.into_iter().flatten() {
            if best.is_none_or(|(b, _)| order < b) {
                best = Some((order, spec));
            }
        }
        [best.map(|(_, s)| s), None]
    }
}

/// What a counter is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    Rule,
    Addr(IpAddr),
    Pair(IpAddr, IpAddr),
    Flow(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    gid: u32,
    sid: u32,
    algo: Algo,
    who: Who,
}

#[derive(Debug, Clone)]
struct Entry {
    /// Window start (µs).
    start: i64,
    count: u32,
    /// Rate filter tripped at this second.
    tripped: Option<i64>,
    /// From this time (µs) on, the entry is as good as absent.
    expires_at: i64,
    /// Tie-breaker in the expiry index.
    seq: u64,
}

/// Result of running one item's counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Alert (with a rate-filter action if tripped).
    Alert(Option<RateAction>),
    /// No alert, but the rule action applies.
    Silent,
    /// Neither alert nor action.
    NoMatch,
}

/// When an entry stops mattering: the end of its window, or of a tripped
/// rate filter's timeout if later.
fn expiry_of(e: &Entry, spec: &Spec) -> i64 {
    let window_end = e.start.saturating_add(spec.window_micros());
    match e.tripped {
        // Tripped while `now_sec - tripped <= timeout`.
        Some(t) => {
            let off_sec = t.saturating_add(i64::from(spec.timeout)).saturating_add(1);
            window_end.max(off_sec.saturating_mul(MICROS_PER_SEC))
        }
        None => window_end,
    }
}

/// First match with no live counter: the result, and whether to keep a counter.
fn step_fresh(spec: &Spec) -> (Step, bool) {
    match spec.algo {
        Algo::Limit => (Step::Alert(None), true),
        // Suricata keeps no entry for `count 1`: every match alerts.
        Algo::Threshold if spec.count == 1 => (Step::Alert(None), false),
        Algo::Threshold => (Step::NoMatch, true),
        Algo::Both if spec.count == 1 => (Step::Alert(None), true),
        Algo::Both | Algo::Detection => (Step::NoMatch, true),
        Algo::Rate => (Step::Alert(None), true),
    }
}

/// A match on a live counter (Suricata's `ThresholdHandlePacket`).
fn step_existing(e: &mut Entry, spec: &Spec, ts: i64) -> Step {
    let within = ts < e.start.saturating_add(spec.window_micros());
    if !within && spec.algo != Algo::Rate {
        // Only reachable for an entry created by another spec; start over.
        e.start = ts;
        e.count = 1;
        e.tripped = None;
        return match spec.algo {
            Algo::Limit => Step::Alert(None),
            Algo::Threshold | Algo::Both if spec.count == 1 => Step::Alert(None),
            _ => Step::NoMatch,
        };
    }
    match spec.algo {
        Algo::Limit => {
            e.count = e.count.saturating_add(1);
            if e.count <= spec.count {
                Step::Alert(None)
            } else {
                Step::Silent
            }
        }
        Algo::Threshold => {
            e.count = e.count.saturating_add(1);
            if e.count >= spec.count {
                e.count = 0;
                Step::Alert(None)
            } else {
                Step::NoMatch
            }
        }
        Algo::Both => {
            e.count = e.count.saturating_add(1);
            if e.count == spec.count {
                Step::Alert(None)
            } else if e.count > spec.count {
                Step::Silent
            } else {
                Step::NoMatch
            }
        }
        Algo::Detection => {
            e.count = e.count.saturating_add(1);
            if e.count > spec.count {
                Step::Alert(None)
            } else {
                Step::NoMatch
            }
        }
        Algo::Rate => {
            let now_sec = ts.div_euclid(MICROS_PER_SEC);
            if let Some(t) = e.tripped {
                if now_sec.saturating_sub(t) > i64::from(spec.timeout) {
                    // Timeout over: switch off; this match is not counted.
                    e.tripped = None;
                    Step::Alert(None)
                } else {
                    Step::Alert(Some(spec.action))
                }
            } else if within {
                e.count = e.count.saturating_add(1);
                if e.count > spec.count {
                    e.tripped = Some(now_sec);
                    Step::Alert(Some(spec.action))
                } else {
                    Step::Alert(None)
                }
            } else {
                e.start = ts;
                e.count = 1;
                Step::Alert(None)
            }
        }
    }
}

/// Runtime thresholding state: counters in a bounded hash map keyed by
/// (gid, sid, tracked address / address pair / flow), expiring with their
/// time window, with a cap on the number of entries (default
/// [`DEFAULT_CAPACITY`]) and a count of forced evictions.
#[derive(Debug, Clone)]
pub struct ThresholdState {
    config: Compiled,
    entries: HashMap<Key, Entry>,
    /// (expires_at, seq) -> key, for pruning and eviction in expiry order.
    expiry: BTreeMap<(i64, u64), Key>,
    next_seq: u64,
    capacity: usize,
    evictions: u64,
}

impl ThresholdState {
    /// State for `config` with the default capacity.
    pub fn new(config: ThresholdConfig) -> Self {
        Self::with_capacity(config, DEFAULT_CAPACITY)
    }

    /// State for `config` keeping at most `capacity` counters (at least 1).
    pub fn with_capacity(config: ThresholdConfig, capacity: usize) -> Self {
        ThresholdState {
            config: Compiled::new(&config),
            entries: HashMap::new(),
            expiry: BTreeMap::new(),
            next_seq: 0,
            capacity: capacity.max(1),
            evictions: 0,
        }
    }

    /// Decides what one signature match becomes. See [`check_full`] for the
    /// distinction between a silent match and no match, which this folds
    /// into [`Verdict::Suppressed`]. A rate-filter action is reported only
    /// with an alert.
    ///
    /// [`check_full`]: ThresholdState::check_full
    pub fn check(&mut self, m: &MatchInfo<'_>) -> Verdict {
        let d = self.check_full(m);
        match (d.alert, d.new_action) {
            (false, _) => Verdict::Suppressed,
            (true, Some(a)) => Verdict::Action(a),
            (true, None) => Verdict::Alert,
        }
    }

    /// Decides what one signature match becomes, telling apart a silent
    /// match (rule action still applies) from one that does not count at
    /// all. Call it once per match, in packet order.
    pub fn check_full(&mut self, m: &MatchInfo<'_>) -> Decision {
        self.prune(m.ts_micros, PRUNE_BATCH);
        let (noalert, by_address) = self.config.suppression(m);
        if by_address {
            return Decision {
                alert: false,
                apply_action: true,
                new_action: None,
            };
        }
        let mut new_action = None;
        for spec in self.config.resolve(m).into_iter().flatten() {
            match self.run(&spec, m) {
                Step::NoMatch => {
                    return Decision {
                        alert: false,
                        apply_action: false,
                        new_action: None,
                    };
                }
                Step::Silent => {
                    return Decision {
                        alert: false,
                        apply_action: true,
                        new_action: None,
                    };
                }
                Step::Alert(a) => new_action = a.or(new_action),
            }
        }
        Decision {
            alert: !noalert,
            apply_action: true,
            new_action,
        }
    }

    /// Live entries forced out because the map was full.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Counters currently stored (including expired ones not yet removed).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no counters are stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cap on stored counters.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Runs one item's counter for a match.
    fn run(&mut self, spec: &Spec, m: &MatchInfo<'_>) -> Step {
        let ts = m.ts_micros;
        let who = match spec.track {
            Track::BySrc => Who::Addr(m.src),
            Track::ByDst => Who::Addr(m.dst),
            Track::ByRule => Who::Rule,
            Track::ByBoth | Track::ByEither => Who::Pair(m.src.min(m.dst), m.src.max(m.dst)),
            Track::ByFlow => Who::Flow(m.flow_id),
        };
        let key = Key {
            gid: m.gid,
            sid: m.sid,
            algo: spec.algo,
            who,
        };
        if let Some(e) = self.entries.get_mut(&key) {
            if ts < e.expires_at {
                let step = step_existing(e, spec, ts);
                let new_exp = expiry_of(e, spec);
                if new_exp != e.expires_at {
                    self.expiry.remove(&(e.expires_at, e.seq));
                    self.expiry.insert((new_exp, e.seq), key);
                    e.expires_at = new_exp;
                }
                return step;
            }
            let stale = (e.expires_at, e.seq);
            self.entries.remove(&key);
            self.expiry.remove(&stale);
        }
        let (step, keep) = step_fresh(spec);
        if keep {
            let mut e = Entry {
                start: ts,
                count: 1,
                tripped: None,
                expires_at: 0,
                seq: self.next_seq,
            };
            self.next_seq = self.next_seq.wrapping_add(1);
            e.expires_at = expiry_of(&e, spec);
            self.insert(key, e, ts);
        }
        step
    }

    fn insert(&mut self, key: Key, e: Entry, now: i64) {
        if self.entries.len() >= self.capacity {
            self.prune(now, usize::MAX);
            while self.entries.len() >= self.capacity {
                let Some((_, victim)) = self.expiry.pop_first() else {
                    break;
                };
                if self.entries.remove(&victim).is_some() {
                    self.evictions += 1;
                }
            }
        }
        self.expiry.insert((e.expires_at, e.seq), key);
        self.entries.insert(key, e);
    }

    /// Removes up to `max` entries that have expired by `now`, oldest first.
    fn prune(&mut self, now: i64, max: usize) {
        for _ in 0..max {
            match self.expiry.first_key_value() {
                Some((&(exp, _), _)) if exp <= now => {
                    if let Some((_, key)) = self.expiry.pop_first() {
                        self.entries.remove(&key);
                    }
                }
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = MICROS_PER_SEC;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn no_vars(_: &str) -> Option<Vec<IpNet>> {
        None
    }

    fn config(text: &str) -> ThresholdConfig {
        let (cfg, diags) = parse_threshold_config(text, &no_vars);
        assert!(diags.is_empty(), "{diags:?}");
        cfg
    }

    fn m<'a>(sid: u32, t: i64, src: &str, dst: &str) -> MatchInfo<'a> {
        MatchInfo {
            gid: 1,
            sid,
            ts_micros: t,
            src: ip(src),
            dst: ip(dst),
            flow_id: 1,
            rule_threshold: None,
            detection_filter: None,
        }
    }

    /// Verdicts for matches at the given whole seconds from one address pair.
    fn run_seq(state: &mut ThresholdState, base: MatchInfo<'_>, secs: &[i64]) -> Vec<bool> {
        secs.iter()
            .map(|s| {
                let mi = MatchInfo {
                    ts_micros: s * SEC,
                    ..base
                };
                state.check(&mi) == Verdict::Alert
            })
            .collect()
    }

    fn rule_thr(v: &str) -> Threshold {
        parse_threshold(v).unwrap()
    }

    // ---- keyword parsing ----

    #[test]
    fn parses_threshold_any_order_and_case() {
        let t = parse_threshold("track by_dst, type limit, seconds 60, count 10").unwrap();
        assert_eq!(
            t,
            Threshold {
                kind: ThresholdType::Limit,
                track: Track::ByDst,
                count: 10,
                seconds: 60
            }
        );
        let t = parse_threshold("TYPE Both,track BY_RULE,count 3,seconds 5").unwrap();
        assert_eq!(t.kind, ThresholdType::Both);
        assert_eq!(t.track, Track::ByRule);
        assert_eq!(
            parse_threshold("type threshold, track by_flow, count 1, seconds 1")
                .unwrap()
                .track,
            Track::ByFlow
        );
    }

    #[test]
    fn rejects_bad_threshold_keywords() {
        assert!(
            parse_threshold("type any, track by_dst, count 10, seconds 60")
                .unwrap_err()
                .contains("unknown threshold type")
        );
        assert!(
            parse_threshold("count 10, track by_dst, seconds 60, type both, count 10")
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            parse_threshold("type limit, track by_src, count 10")
                .unwrap_err()
                .contains("seconds")
        );
        assert!(
            parse_threshold("type limit, track by_either, count 1, seconds 1")
                .unwrap_err()
                .contains("by_either")
        );
        assert!(parse_threshold("type limit, track by_src, count -1, seconds 1").is_err());
        assert!(
            parse_threshold("type limit, track by_src, count 99999999999, seconds 1")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse_threshold("type backoff, track by_flow, count 1, multiplier 10")
                .unwrap_err()
                .contains("backoff")
        );
        assert!(parse_threshold("").is_err());
        assert!(
            parse_threshold("type limit,, track by_src, count 1, seconds 1")
                .unwrap_err()
                .contains("empty")
        );
    }

    #[test]
    fn parses_detection_filter() {
        let d = parse_detection_filter("count 10, track by_dst, seconds 60").unwrap();
        assert_eq!(
            d,
            DetectionFilter {
                track: Track::ByDst,
                count: 10,
                seconds: 60
            }
        );
        assert!(parse_detection_filter("track both,count 10,seconds 60").is_err());
        assert!(parse_detection_filter("count 10, track by_dst, seconds 0").is_err());
        assert!(parse_detection_filter("count 0, track by_dst, seconds 5").is_err());
        assert!(
            parse_detection_filter("type limit, track by_dst, count 1, seconds 5")
                .unwrap_err()
                .contains("unknown option")
        );
        assert!(
            parse_detection_filter("track by_dst, count 10, seconds 60, unique_on dst_port")
                .unwrap_err()
                .contains("unique_on")
        );
    }

    // ---- threshold.config parsing ----

    #[test]
    fn parses_config_entries() {
        let text = "# comment\n\
            \n\
            suppress gen_id 1, sig_id 2002087\n\
            suppress gen_id 1, sig_id 2003614, track by_src, ip [192.168.0.0/16,10.0.0.0/8, 172.16.0.0/12]\n\
            threshold gen_id 1, sig_id 10, type limit, track by_src, count 1, seconds 60  # trailing\n\
            event_filter gen_id 0, sig_id 0, type both, track by_dst, count 5, seconds 360\n\
            rate_filter gen_id 1, sig_id 1000, track by_rule, count 100, seconds 60, new_action alert, timeout 30\n";
        let cfg = config(text);
        assert_eq!(cfg.entries.len(), 5);
        assert_eq!(
            cfg.entries[0],
            ConfigEntry::Suppress {
                gid: 1,
                sid: 2002087,
                track: None,
                ips: vec![]
            }
        );
        match &cfg.entries[1] {
            ConfigEntry::Suppress { track, ips, .. } => {
                assert_eq!(*track, Some(Track::BySrc));
                assert_eq!(ips.len(), 3);
                assert!(ips[1].contains(ip("10.1.2.3")));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            cfg.entries[2],
            ConfigEntry::Threshold {
                gid: 1,
                sid: 10,
                threshold: Threshold {
                    kind: ThresholdType::Limit,
                    track: Track::BySrc,
                    count: 1,
                    seconds: 60
                }
            }
        );
        assert!(matches!(
            cfg.entries[3],
            ConfigEntry::Threshold { gid: 0, sid: 0, .. }
        ));
        assert_eq!(
            cfg.entries[4],
            ConfigEntry::RateFilter {
                gid: 1,
                sid: 1000,
                track: Track::ByRule,
                count: 100,
                seconds: 60,
                new_action: RateAction::Alert,
                timeout: 30
            }
        );
    }

    #[test]
    fn config_diagnostics_have_line_and_column() {
        let text = "suppress gen_id 1, sig_id 5\n\
                    bogus gen_id 1, sig_id 2\n\
                    threshold gen_id 1, sig_id 10, type limit, track by_src, count x, seconds 60\n\
                    rate_filter gen_id 1, sig_id 3, track by_rule, count 1, seconds 1, new_action sdrop, timeout 3\n\
                    suppress gen_id 0, sig_id 7\n\
                    suppress gen_id 1, sig_id 7, track by_src\n";
        let (cfg, d) = parse_threshold_config(text, &no_vars);
        assert_eq!(cfg.entries.len(), 1, "only the good line is kept");
        assert_eq!(d.len(), 5, "{d:?}");
        assert_eq!((d[0].line, d[0].column), (2, 1));
        assert!(d[0].message.contains("bogus"));
        // `x` of `count x`.
        let col = "threshold gen_id 1, sig_id 10, type limit, track by_src, count ".len() + 1;
        assert_eq!((d[1].line, d[1].column), (3, col));
        assert!(d[2].message.contains("sdrop"));
        assert_eq!(d[3].line, 5);
        assert!(d[3].message.contains("gen_id 0"));
        assert_eq!(d[4].line, 6);
        assert!(d[4].message.contains("needs an `ip`"));
    }

    #[test]
    fn config_continuation_and_variables() {
        let vars = |name: &str| -> Option<Vec<IpNet>> {
            (name == "HOME_NET").then(|| vec![IpNet::parse("10.0.0.0/8").unwrap()])
        };
        let text = "suppress gen_id 1, sig_id 9, \\\n   track by_dst, ip [$HOME_NET, 1.2.3.4-1.2.3.9]\n\
                    suppress gen_id 1, sig_id 9, track by_src, ip $NOPE\n";
        let (cfg, d) = parse_threshold_config(text, &vars);
        assert_eq!(cfg.entries.len(), 1);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].line, 3);
        assert_eq!(
            d[0].column,
            "suppress gen_id 1, sig_id 9, track by_src, ip ".len() + 1
        );
        assert!(d[0].message.contains("$NOPE"));
        let ConfigEntry::Suppress { ips, .. } = &cfg.entries[0] else {
            panic!("not a suppress");
        };
        // 10/8 plus 1.2.3.4/30 and 1.2.3.8/31.
        assert_eq!(ips.len(), 3);
        assert!(ips.iter().any(|n| n.contains(ip("1.2.3.9"))));
        assert!(!ips.iter().any(|n| n.contains(ip("1.2.3.10"))));
        assert!(!ips.iter().any(|n| n.contains(ip("1.2.3.3"))));
    }

    #[test]
    fn continuation_error_points_at_second_line() {
        let text =
            "threshold gen_id 1, sig_id 10, \\\n  type nope, track by_src, count 1, seconds 60\n";
        let (_, d) = parse_threshold_config(text, &no_vars);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].line, d[0].column), (2, "  type ".len() + 1));
    }

    #[test]
    fn config_rejects_malformed_ip_lists() {
        for bad in [
            "suppress gen_id 1, sig_id 1, track by_src, ip [1.2.3.4",
            "suppress gen_id 1, sig_id 1, track by_src, ip []",
            "suppress gen_id 1, sig_id 1, track by_src, ip 1.2.3.4/33",
            "suppress gen_id 1, sig_id 1, track by_src, ip !1.2.3.4",
            "suppress gen_id 1, sig_id 1, track by_src, ip 1.2.3.9-1.2.3.4",
            "suppress gen_id 1, sig_id 1, track by_rule, ip 1.2.3.4",
            "suppress gen_id 1, sig_id 1, track by_src, ip 1.2.3.4]",
        ] {
            let (cfg, d) = parse_threshold_config(bad, &no_vars);
            assert!(cfg.entries.is_empty(), "{bad}");
            assert_eq!(d.len(), 1, "{bad}");
        }
        let deep = format!(
            "suppress gen_id 1, sig_id 1, track by_src, ip {}1.2.3.4{}",
            "[".repeat(100),
            "]".repeat(100)
        );
        let (_, d) = parse_threshold_config(&deep, &no_vars);
        assert!(d[0].message.contains("nested"));
    }

    #[test]
    fn ipnet_parsing_and_contains() {
        let n = IpNet::parse("217.110.97.200/25").unwrap();
        assert_eq!(n.addr, ip("217.110.97.128"));
        assert!(n.contains(ip("217.110.97.255")));
        assert!(!n.contains(ip("217.110.97.127")));
        assert!(!n.contains(ip("::1")));
        let m = IpNet::parse("10.0.0.0/255.255.0.0").unwrap();
        assert_eq!(m.prefix, 16);
        assert!(IpNet::parse("10.0.0.0/255.0.255.0").is_err());
        let v6 = IpNet::parse("fe80::/10").unwrap();
        assert!(v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("fec0::1")));
        // Hand-built, oversized prefix: treated as a host route, no panic.
        let odd = IpNet {
            addr: ip("1.2.3.4"),
            prefix: 99,
        };
        assert!(odd.contains(ip("1.2.3.4")));
        assert!(!odd.contains(ip("1.2.3.5")));
        let all = range_to_blocks(0, u128::MAX, 128);
        assert_eq!(all, vec![(0, 0)]);
    }

    // ---- runtime: the four counting types ----

    #[test]
    fn limit_alerts_first_count_per_window() {
        let t = rule_thr("type limit, track by_src, count 2, seconds 60");
        let mut s = ThresholdState::new(ThresholdConfig::default());
        let base = MatchInfo {
            rule_threshold: Some(&t),
            ..m(1, 0, "1.1.1.1", "2.2.2.2")
        };
        assert_eq!(
            run_seq(&mut s, base, &[0, 1, 2, 59, 60, 61, 62]),
            vec![true, true, false, false, true, true, false]
        );
        // A different source has its own counter.
        let other = MatchInfo {
            src: ip("3.3.3.3"),
            ts_micros: 62 * SEC,
            ..base
        };
        assert_eq!(s.check(&other), Verdict::Alert);
        // Past the limit it is a silent match: the rule action still applies.
        let d = s.check_full(&MatchInfo {
            ts_micros: 63 * SEC,
            ..base
        });
        assert_eq!((d.alert, d.apply_action), (false, true));
    }

    #[test]
    fn threshold_alerts_every_countth_match() {
        let t = rule_thr("type threshold, track by_src, count 3, seconds 60");
        let mut s = ThresholdState::new(ThresholdConfig::default());
        let base = MatchInfo {
            rule_threshold: Some(&t),
            ..m(1, 0, "1.1.1.1", "2.2.2.2")
        };
        assert_eq!(
            run_seq(&mut s, base, &[0, 1, 2, 3, 4, 5, 6, 60, 61]),
            vec![false, false, true, false, false, true, false, false, false]
        );
        let d = s.check_full(&MatchInfo {
            ts_micros: 70 * SEC,
            ..base
        });
        assert_eq!(
            d,
            Decision {
                alert: true,
                apply_action: true,
                new_action: None
            },
            "3rd match of the window at 60"
        );
        let d = s.check_full(&MatchInfo {
            ts_micros: 71 * SEC,
            ..base
        });
        assert!(!d.apply_action, "below the count neither alert nor action");
    }

    #[test]
    fn threshold_count_one_always_alerts() {
        let t = rule_thr("type threshold, track by_rule, count 1, seconds 60");
        let mut s = ThresholdState::new(ThresholdConfig::default());
        let base = MatchInfo {
            rule_threshold: Some(&t),
            ..m(1, 0, "1.1.1.1", "2.2.2.2")
        };
        assert_eq!(run_seq(&mut s, base, &[0, 0, 1]), vec![true, true, true]);
        assert!(s.is_empty(), "no entry kept for count 1");
    }

    #[test]
    fn both_alerts_once_per_window_at_count() {
        let t = rule_thr("type both, track by_dst, count 3, seconds 10");
        let mut s = ThresholdState::new(ThresholdConfig::default());
        let base = MatchInfo {
            rule_threshold: Some(&t),
            ..m(1, 0, "1.1.1.1", "2.2.2.2")
        };
        assert_eq!(
            run_seq(&mut s, base, &[0, 1, 2, 3, 4, 10, 11, 12]),
            vec![false, false, true, false, false, false, false, true]
        );
        let d = s.check_full(&MatchInfo {
            ts_micros: 13 * SEC,
            ..base
        });
        assert_eq!(
            (d.alert, d.apply_action),
            (false, true),
            "past count: silent"
        );
    }

    #[test]
    fn detection_filter_alerts_after_count() {
        let df = parse_detection_filter("track by_dst, count 4, seconds 60").unwrap();
        let mut s = ThresholdState::new(ThresholdConfig::default());
        let base = MatchInfo {
            detection_filter: Some(&df),
            ..m(1, 0, "1.1.1.1", "2.2.2.2")
        };
        assert_eq!(
            run_seq(&mut s, base, &[0, 0, 0, 0, 0, 0, 0, 0]),
            vec![false, false, false, false, true, true, true, true]
        );
        // Suricata's DetectDetectionFilterTestSig2: 3 matches, 200 s later 4 more: none alert.
        let mut s = ThresholdState::new(ThresholdConfig::default());
        assert_eq!(
            run_seq(&mut s, base, &[0, 0, 0, 200, 200, 200, 200]),
            vec![false; 7]
        );
    }

    #[test]
    fn by_both_is_direction_independent_and_by_flow_per_flow() {
        let t = rule_thr("type limit, track by_both, count 1, seconds 60");
        let mut s = ThresholdState::new(ThresholdConfig::default());
        let fwd = MatchInfo {
            rule_threshold: Some(&t),
            ..m(1, 0, "1.1.1.1", "2.2.2.2")
        };
        let rev = MatchInfo {
            src: fwd.dst,
            dst: fwd.src,
            ..fwd
        };
        assert_eq!(s.check(&fwd), Verdict::Alert);
        assert_eq!(s.check(&rev), Verdict::Suppressed);

        let f = rule_thr("type limit, track by_flow, count 1, seconds 60");
        let a = MatchInfo {
            rule_threshold: Some(&f),
            flow_id: 7,
            ..fwd
        };
        let b = MatchInfo { flow_id: 8, ..a };
        assert_eq!(s.check(&a), Verdict::Alert);
        assert_eq!(s.check(&a), Verdict::Suppressed);
        assert_eq!(s.check(&b), Verdict::Alert);
    }

    #[test]
    fn windows_use_packet_time_with_microseconds() {
        let t = rule_thr("type limit, track by_rule, count 1, seconds 1");
        let mut s = ThresholdState::new(ThresholdConfig::default());
        let base = MatchInfo {
            rule_threshold: Some(&t),
            ..m(1, 500_000, "1.1.1.1", "2.2.2.2")
        };
        assert_eq!(s.check(&base), Verdict::Alert);
        let just_inside = MatchInfo {
            ts_micros: 1_499_999,
            ..base
        };
        assert_eq!(s.check(&just_inside), Verdict::Suppressed);
        let at_end = MatchInfo {
            ts_micros: 1_500_000,
            ..base
        };
        assert_eq!(s.check(&at_end), Verdict::Alert);
    }

    // ---- runtime: config interplay (suricata-verify cases) ----

    #[test]
    fn suricata_verify_threshold_config_byrule() {
        // tests/threshold-config-byrule: three alerts whatever the addresses.
        let cfg = config(
            "threshold gen_id 1, sig_id 1000001, type limit, track by_rule, count 3, seconds 1000\n",
        );
        let mut s = ThresholdState::new(cfg);
        let alerts = (0..20)
            .filter(|i| {
                let src = format!("10.0.0.{i}");
                s.check(&m(1000001, i * SEC, &src, "2.2.2.2")) == Verdict::Alert
            })
            .count();
        assert_eq!(alerts, 3);
    }

    #[test]
    fn suricata_verify_bug_4503_by_rule_keyword() {
        let t = rule_thr("type limit, track by_rule, count 5, seconds 300");
        let mut s = ThresholdState::new(ThresholdConfig::default());
        let base = MatchInfo {
            rule_threshold: Some(&t),
            ..m(1, 0, "10.0.0.1", "8.8.8.8")
        };
        assert_eq!(
            run_seq(&mut s, base, &[0, 1, 2, 3, 4, 5, 6])
                .iter()
                .filter(|a| **a)
                .count(),
            5
        );
        // Other rules are not affected.
        assert_eq!(
            s.check(&m(2, 7 * SEC, "10.0.0.1", "4.3.2.1")),
            Verdict::Alert
        );
    }

    #[test]
    fn suricata_verify_suppress_by_src_and_by_either() {
        let cfg = config("suppress gen_id 1, sig_id 1000001, track by_src, ip 145.254.160.237\n");
        let mut s = ThresholdState::new(cfg);
        let out = m(1000001, 0, "145.254.160.237", "65.208.228.223");
        let back = m(1000001, SEC, "65.208.228.223", "145.254.160.237");
        assert_eq!(s.check(&out), Verdict::Suppressed);
        // Suppressed, yet the drop of a drop rule still happens.
        assert!(s.check_full(&out).apply_action);
        assert_eq!(s.check(&back), Verdict::Alert);
        assert_eq!(
            s.check(&m(1000002, 0, "145.254.160.237", "1.1.1.1")),
            Verdict::Alert
        );

        let cfg =
            config("suppress gen_id 1, sig_id 1000001, track by_either, ip 145.254.160.0/24\n");
        let mut s = ThresholdState::new(cfg);
        assert_eq!(s.check(&out), Verdict::Suppressed);
        assert_eq!(s.check(&back), Verdict::Suppressed);
        assert_eq!(
            s.check(&m(1000001, 0, "1.1.1.1", "2.2.2.2")),
            Verdict::Alert
        );

        let cfg = config("suppress gen_id 1, sig_id 1000001, track by_dst, ip 145.254.160.237\n");
        let mut s = ThresholdState::new(cfg);
        assert_eq!(s.check(&out), Verdict::Alert);
        assert_eq!(s.check(&back), Verdict::Suppressed);
    }

    #[test]
    fn suppress_without_track_and_wildcards() {
        let cfg = config(
            "suppress gen_id 1, sig_id 5\nsuppress gen_id 0, sig_id 0, track by_src, ip 9.9.9.9\n",
        );
        let mut s = ThresholdState::new(cfg);
        assert_eq!(s.check(&m(5, 0, "1.1.1.1", "2.2.2.2")), Verdict::Suppressed);
        assert_eq!(s.check(&m(6, 0, "1.1.1.1", "2.2.2.2")), Verdict::Alert);
        assert_eq!(s.check(&m(6, 0, "9.9.9.9", "2.2.2.2")), Verdict::Suppressed);
        let other_gid = MatchInfo {
            gid: 3,
            ..m(5, 0, "1.1.1.1", "2.2.2.2")
        };
        assert_eq!(s.check(&other_gid), Verdict::Alert);
    }

    #[test]
    fn noalert_suppress_still_runs_counters() {
        // A noalert rule with a threshold: below the count, not even the action applies.
        let cfg = config("suppress gen_id 1, sig_id 5\n");
        let t = rule_thr("type threshold, track by_rule, count 2, seconds 60");
        let mut s = ThresholdState::new(cfg);
        let base = MatchInfo {
            rule_threshold: Some(&t),
            ..m(5, 0, "1.1.1.1", "2.2.2.2")
        };
        let first = s.check_full(&base);
        let second = s.check_full(&base);
        assert_eq!((first.alert, first.apply_action), (false, false));
        assert_eq!((second.alert, second.apply_action), (false, true));
    }

    #[test]
    fn config_threshold_overrides_rule_threshold() {
        let cfg = config(
            "threshold gen_id 1, sig_id 10, type limit, track by_rule, count 1, seconds 60\n",
        );
        let own = rule_thr("type limit, track by_rule, count 5, seconds 60");
        let mut s = ThresholdState::new(cfg);
        let base = MatchInfo {
            rule_threshold: Some(&own),
            ..m(10, 0, "1.1.1.1", "2.2.2.2")
        };
        assert_eq!(run_seq(&mut s, base, &[0, 1, 2]), vec![true, false, false]);
        // It also replaces a detection_filter.
        let df = parse_detection_filter("track by_src, count 100, seconds 60").unwrap();
        let mut s = ThresholdState::new(config(
            "threshold gen_id 1, sig_id 10, type limit, track by_rule, count 1, seconds 60\n",
        ));
        let base = MatchInfo {
            detection_filter: Some(&df),
            ..m(10, 0, "1.1.1.1", "2.2.2.2")
        };
        assert_eq!(run_seq(&mut s, base, &[0, 1]), vec![true, false]);
        // The last exact line wins.
        let mut s = ThresholdState::new(config(
            "threshold gen_id 1, sig_id 10, type limit, track by_rule, count 1, seconds 60\n\
             event_filter gen_id 1, sig_id 10, type limit, track by_rule, count 2, seconds 60\n",
        ));
        assert_eq!(
            run_seq(&mut s, m(10, 0, "1.1.1.1", "2.2.2.2"), &[0, 1, 2]),
            vec![true, true, false]
        );
    }

    #[test]
    fn wildcard_threshold_only_for_rules_without_their_own() {
        let cfg = config(
            "threshold gen_id 0, sig_id 0, type limit, track by_rule, count 1, seconds 60\n",
        );
        let own = rule_thr("type limit, track by_rule, count 3, seconds 60");
        let mut s = ThresholdState::new(cfg);
        // No threshold of its own: the wildcard applies.
        assert_eq!(
            run_seq(&mut s, m(20, 0, "1.1.1.1", "2.2.2.2"), &[0, 1]),
            vec![true, false]
        );
        // Its own threshold takes precedence.
        let base = MatchInfo {
            rule_threshold: Some(&own),
            ..m(21, 0, "1.1.1.1", "2.2.2.2")
        };
        assert_eq!(
            run_seq(&mut s, base, &[0, 1, 2, 3]),
            vec![true, true, true, false]
        );

        // gen_id N, sig_id 0 covers only gid N.
        let mut s = ThresholdState::new(config(
            "threshold gen_id 3, sig_id 0, type limit, track by_rule, count 1, seconds 60\n",
        ));
        let g3 = MatchInfo {
            gid: 3,
            ..m(1, 0, "1.1.1.1", "2.2.2.2")
        };
        assert_eq!(run_seq(&mut s, g3, &[0, 1]), vec![true, false]);
        assert_eq!(
            run_seq(&mut s, m(1, 0, "1.1.1.1", "2.2.2.2"), &[0, 1]),
            vec![true, true]
        );
    }

    #[test]
    fn rate_filter_changes_action_for_timeout() {
        let cfg = config(
            "rate_filter gen_id 1, sig_id 888, track by_src, count 2, seconds 60, new_action drop, timeout 10\n",
        );
        let mut s = ThresholdState::new(cfg);
        let at = |t: i64| m(888, t * SEC, "1.1.1.1", "2.2.2.2");
        assert_eq!(s.check(&at(0)), Verdict::Alert);
        assert_eq!(s.check(&at(1)), Verdict::Alert);
        assert_eq!(
            s.check(&at(2)),
            Verdict::Action(RateAction::Drop),
            "third match exceeds count 2"
        );
        assert_eq!(
            s.check(&at(12)),
            Verdict::Action(RateAction::Drop),
            "within timeout (12 - 2 <= 10)"
        );
        // Timeout over: switched off by this match (not counted) ...
        assert_eq!(s.check(&at(13)), Verdict::Alert);
        // ... and the window that started at 0 is still open with its count past 2.
        assert_eq!(s.check(&at(14)), Verdict::Action(RateAction::Drop));
        // Another source is tracked separately.
        assert_eq!(
            s.check(&m(888, 14 * SEC, "3.3.3.3", "2.2.2.2")),
            Verdict::Alert
        );
        // Long after everything expired, counting starts over.
        assert_eq!(s.check(&at(1000)), Verdict::Alert);
        assert_eq!(s.check(&at(1001)), Verdict::Alert);
        assert_eq!(s.check(&at(1002)), Verdict::Action(RateAction::Drop));
    }

    #[test]
    fn rate_filter_ignored_when_rule_has_threshold_or_after_wildcard() {
        let cfg = "rate_filter gen_id 1, sig_id 5, track by_rule, count 0, seconds 60, new_action reject, timeout 10\n";
        let own = rule_thr("type limit, track by_rule, count 10, seconds 60");
        let mut s = ThresholdState::new(config(cfg));
        let base = MatchInfo {
            rule_threshold: Some(&own),
            ..m(5, 0, "1.1.1.1", "2.2.2.2")
        };
        assert_eq!(run_seq(&mut s, base, &[0, 1, 2]), vec![true, true, true]);
        let mut s = ThresholdState::new(config(cfg));
        let plain = m(5, 0, "1.1.1.1", "2.2.2.2");
        assert_eq!(s.check(&plain), Verdict::Alert);
        assert_eq!(s.check(&plain), Verdict::Action(RateAction::Reject));

        // A wildcard earlier in the file claims the rule first.
        let text = format!(
            "threshold gen_id 0, sig_id 0, type limit, track by_rule, count 1, seconds 60\n{cfg}"
        );
        let mut s = ThresholdState::new(config(&text));
        assert_eq!(run_seq(&mut s, plain, &[0, 1, 2]), vec![true, false, false]);
        // Later in the file, the exact rate_filter is first.
        let text = format!(
            "{cfg}threshold gen_id 0, sig_id 0, type limit, track by_rule, count 1, seconds 60\n"
        );
        let mut s = ThresholdState::new(config(&text));
        assert_eq!(s.check(&plain), Verdict::Alert);
        assert_eq!(s.check(&plain), Verdict::Action(RateAction::Reject));
    }

    // ---- memory bounds ----

    #[test]
    fn capacity_evicts_and_counts() {
        let t = rule_thr("type limit, track by_src, count 1, seconds 60");
        let mut s = ThresholdState::with_capacity(ThresholdConfig::default(), 4);
        for i in 0..10 {
            let mi = MatchInfo {
                rule_threshold: Some(&t),
                ..m(1, i * SEC, &format!("10.0.0.{i}"), "2.2.2.2")
            };
            assert_eq!(s.check(&mi), Verdict::Alert);
        }
        assert_eq!(s.len(), 4);
        assert_eq!(s.evictions(), 6);
        // The evicted source (the oldest) starts over and alerts again.
        let again = MatchInfo {
            rule_threshold: Some(&t),
            ..m(1, 10 * SEC, "10.0.0.0", "2.2.2.2")
        };
        assert_eq!(s.check(&again), Verdict::Alert);
        // The newest one is still counted.
        let kept = MatchInfo {
            rule_threshold: Some(&t),
            ..m(1, 10 * SEC, "10.0.0.9", "2.2.2.2")
        };
        assert_eq!(s.check(&kept), Verdict::Suppressed);
    }

    #[test]
    fn expired_entries_are_pruned_not_evicted() {
        let t = rule_thr("type limit, track by_src, count 1, seconds 1");
        let mut s = ThresholdState::with_capacity(ThresholdConfig::default(), 3);
        for i in 0..30 {
            let mi = MatchInfo {
                rule_threshold: Some(&t),
                ..m(1, i * 2 * SEC, &format!("10.0.0.{i}"), "2.2.2.2")
            };
            assert_eq!(s.check(&mi), Verdict::Alert);
            assert!(s.len() <= 2, "expired entries pruned as time moves on");
        }
        assert_eq!(s.evictions(), 0);
        assert_eq!(s.capacity(), 3);
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let t = Threshold {
            kind: ThresholdType::Both,
            track: Track::ByEither,
            count: u32::MAX,
            seconds: u32::MAX,
        };
        let cfg = ThresholdConfig {
            entries: vec![ConfigEntry::RateFilter {
                gid: 1,
                sid: 2,
                track: Track::ByRule,
                count: 0,
                seconds: u32::MAX,
                new_action: RateAction::Pass,
                timeout: u32::MAX,
            }],
        };
        let mut s = ThresholdState::with_capacity(cfg, 0);
        for ts in [i64::MAX, i64::MIN, 0, -1] {
            let a = MatchInfo {
                rule_threshold: Some(&t),
                ..m(1, ts, "::1", "1.1.1.1")
            };
            assert_eq!(s.check(&a), Verdict::Suppressed);
            let _ = s.check(&m(2, ts, "::1", "1.1.1.1"));
        }
        assert!(s.len() <= 1);
    }
}
