//! Log lines to fields: the syslog header, then what the program said.
//!
//! Sigma rules name fields, so a line is only useful to them once it is
//! split into those names. [`parse`] first tries the formats that own a
//! whole line (web access logs, `key=value` firewall logs such as
//! FortiGate's, nginx/Apache error logs, Cisco ASA messages, squid, IIS
//! W3C), then
//! the syslog header (RFC 5424, RFC 3164, and the ISO-timestamp variant
//! rsyslog writes), then a parser chosen by the program name (sshd, sudo,
//! PAM, the kernel's iptables/nftables lines, pfSense's filterlog,
//! named/unbound queries,
//! Postfix and Dovecot authentication). A line nobody understands is still
//! returned, as `raw`, with whatever syslog fields it has: nothing is
//! dropped.
//!
//! Field names follow Sigma's conventions where it has them: W3C names for
//! web logs (`c-ip cs-method cs-uri-stem cs-uri-query sc-status
//! cs-user-agent cs-referer`; `cs-uri-query` holds the whole request URI,
//! as Sigma's web rules expect, and `cs-query` the bare query), `src_ip dst_ip src_port dst_port action` for
//! firewalls, `query record_type` for DNS. Values are kept as text; the
//! Sigma matcher compares numbers by value.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Value};

/// A parsed line: which parser understood it, and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// `access`, `kv`, `nginx_error`, `apache_error`, `cisco_asa`, `squid`,
    /// `iis`, `pf`, `sshd`, `sudo`, `pam`, `iptables`, `dns`, `mail_auth`, `syslog`
    /// (a header but an unknown program), or `raw`.
    pub parser: &'static str,
    pub fields: Map<String, Value>,
}

fn put(f: &mut Map<String, Value>, k: &str, v: &str) {
    if !v.is_empty() && v != "-" {
        f.insert(k.to_string(), Value::String(v.to_string()));
    }
}

/// The captures of a constant pattern (compiled once, into `cell`) on
/// `line`. The patterns are constants: one that failed to compile would be
/// a bug the tests catch, and its parser would just not match.
fn caps<'l>(
    cell: &'static OnceLock<Regex>,
    pattern: &str,
    line: &'l str,
) -> Option<regex::Captures<'l>> {
    if cell.get().is_none() {
        let _ = cell.set(Regex::new(pattern).ok()?);
    }
    cell.get()?.captures(line)
}

/// When the line says it happened, in microseconds since the epoch: RFC 3339
/// and ISO syslog stamps, access-log stamps (`26/Nov/2026:10:00:04 +0700`),
/// FortiGate's `date`/`time`, and RFC 3164's year-less stamp, which is taken
/// in the year of `now` (the previous year if that would be in the future).
/// Stamps without a zone are read as UTC.
pub fn event_time(fields: &Map<String, Value>, now_micros: i64) -> Option<i64> {
    use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
    let get = |k: &str| fields.get(k).and_then(Value::as_str);
    let micros = |d: DateTime<chrono::FixedOffset>| d.timestamp_micros();
    let naive = |n: NaiveDateTime| Utc.from_utc_datetime(&n).timestamp_micros();
    if let (Some(d), Some(t)) = (get("date"), get("time")) {
        return NaiveDateTime::parse_from_str(&format!("{d} {t}"), "%Y-%m-%d %H:%M:%S")
            .ok()
            .map(naive);
    }
    let ts = get("timestamp")?.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(ts) {
        return Some(micros(d));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%z", "%d/%b/%Y:%H:%M:%S %z"] {
        if let Ok(d) = DateTime::parse_from_str(ts, fmt) {
            return Some(micros(d));
        }
    }
    for fmt in ["%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(ts, fmt) {
            return Some(naive(n));
        }
    }
    // `Nov 26 10:00:01`: no year
    let now = Utc.timestamp_micros(now_micros).single()?;
    let with_year = |y: i32| {
        NaiveDateTime::parse_from_str(&format!("{y} {ts}"), "%Y %b %e %H:%M:%S")
            .ok()
            .map(naive)
    };
    let t = with_year(now.year())?;
    if t > now_micros + 86_400_000_000 {
        return with_year(now.year() - 1);
    }
    Some(t)
}

/// Parses one line (without its line ending).
pub fn parse(line: &str) -> Parsed {
    let line = line.trim_end_matches(['\r', '\n']);
    if let Some(p) = whole_line(line) {
        return p;
    }
    let Some((mut fields, program, msg)) = syslog_header(line) else {
        return Parsed {
            parser: "raw",
            fields: Map::new(),
        };
    };
    let parser = program_message(&program, msg, &mut fields);
    Parsed { parser, fields }
}

/// Formats that own the whole line (also tried on a syslog message).
fn whole_line(line: &str) -> Option<Parsed> {
    let mut fields = Map::new();
    let parser = if access_log(line, &mut fields) {
        "access"
    } else if kv_log(line, &mut fields)
        || line
            .find(" date=")
            .is_some_and(|i| kv_log(&line[i + 1..], &mut fields))
    {
        // FortiGate behind a syslog relay: `Mmm dd hh:mm:ss [host] date=…`
        "kv"
    } else if nginx_error(line, &mut fields) {
        "nginx_error"
    } else if apache_error(line, &mut fields) {
        "apache_error"
    } else if cisco_asa(line, &mut fields) {
        "cisco_asa"
    } else if squid(line, &mut fields) {
        "squid"
    } else if iis(line, &mut fields) {
        "iis"
    } else {
        return None;
    };
    Some(Parsed { parser, fields })
}

/// Combined and common access logs (nginx, Apache), with or without a
/// leading virtual host.
fn access_log(line: &str, f: &mut Map<String, Value>) -> bool {
    // the pattern needs `] "`: most other lines are turned away here, before
    // the regular expression
    if !line.contains("] \"") {
        return false;
    }
    static RE: OnceLock<Regex> = OnceLock::new();
    let Some(c) = caps(
        &RE,
        r#"^(?:(\S+) )?(\S+) (\S+) (\S+) \[([^\]]+)\] "([A-Za-z_-]+) (.*?)(?: (HTTP/[0-9.]+))?" (\d{3}) (\d+|-)(?: "([^"]*)" "([^"]*)")?"#,
        line,
    ) else {
        return false;
    };
    let g = |i: usize| c.get(i).map_or("", |m| m.as_str());
    // `vhost ip …`, or `ip - - - […]` with one more dash than usual
    let is_ip = |v: &str| v.parse::<std::net::IpAddr>().is_ok();
    if !is_ip(g(2)) && is_ip(g(1)) {
        put(f, "c-ip", g(1));
    } else {
        put(f, "s-sitename", g(1));
        put(f, "c-ip", g(2));
    }
    put(f, "cs-username", g(4));
    put(f, "timestamp", g(5));
    put(f, "cs-method", g(6));
    let uri = g(7);
    let (stem, query) = uri.split_once('?').unwrap_or((uri, ""));
    put(f, "cs-uri", uri);
    put(f, "cs-uri-stem", stem);
    // Sigma's web rules look for path and query alike in `cs-uri-query`
    // (path traversal, exploit URLs), as their backends map it to the
    // whole request URI; the bare query is `cs-query`
    put(f, "cs-uri-query", uri);
    put(f, "cs-query", query);
    put(f, "cs-version", g(8));
    put(f, "sc-status", g(9));
    put(f, "sc-bytes", g(10));
    put(f, "cs-referer", g(11));
    put(f, "cs-user-agent", g(12));
    true
}

/// `key=value` logs (FortiGate and others like it): at least four pairs,
/// the first at the start of the line; quoted values may hold spaces.
fn kv_log(line: &str, f: &mut Map<String, Value>) -> bool {
    let first = line.split(' ').next().unwrap_or_default();
    let Some((k, _)) = first.split_once('=') else {
        return false;
    };
    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return false;
    }
    let pairs = kv_pairs(line);
    if pairs.len() < 4 {
        return false;
    }
    for (k, v) in &pairs {
        put(f, k, v);
    }
    // the firewall names Sigma's firewall rules use
    for (from, to) in [
        ("srcip", "src_ip"),
        ("dstip", "dst_ip"),
        ("srcport", "src_port"),
        ("dstport", "dst_port"),
        ("remip", "src_ip"),
    ] {
        if let Some(v) = f.get(from).cloned() {
            f.entry(to.to_string()).or_insert(v);
        }
    }
    true
}

/// `k=v k2="v 2"` pairs, in order.
fn kv_pairs(s: &str) -> Vec<(String, String)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            // a word without a value: skip it
            continue;
        }
        let key = &s[ks..i];
        i += 1;
        let value = if b.get(i) == Some(&b'"') {
            let vs = i + 1;
            let end = s[vs..].find('"').map_or(b.len(), |e| vs + e);
            i = (end + 1).min(b.len());
            &s[vs..end]
        } else {
            let vs = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            &s[vs..i]
        };
        if !key.is_empty() {
            out.push((key.to_string(), value.to_string()));
        }
    }
    out
}

/// `2014/12/30 06:07:37 [error] 123#0: *5 message, client: 1.2.3.4, …`
fn nginx_error(line: &str, f: &mut Map<String, Value>) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let Some(c) = caps(
        &RE,
        r"^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) \[(\w+)\] (.*)$",
        line,
    ) else {
        return false;
    };
    let g = |i: usize| c.get(i).map_or("", |m| m.as_str());
    put(f, "timestamp", g(1));
    put(f, "level", g(2));
    let msg = g(3);
    put(f, "message", msg);
    for (key, field) in [
        (", client: ", "c-ip"),
        (", server: ", "s-sitename"),
        (", host: ", "cs-host"),
    ] {
        if let Some(i) = msg.find(key) {
            let v = msg[i + key.len()..].split(',').next().unwrap_or_default();
            put(f, field, v.trim_matches('"'));
        }
    }
    if let Some(i) = msg.find(", request: \"") {
        let r = &msg[i + 12..];
        let r = r.split('"').next().unwrap_or_default();
        let mut parts = r.split(' ');
        put(f, "cs-method", parts.next().unwrap_or_default());
        put(f, "cs-uri", parts.next().unwrap_or_default());
    }
    true
}

/// `[Fri Dec 13 06:59:54 2013] [error] [client 1.2.3.4] message` (the date
/// is optional, as in the older format).
fn apache_error(line: &str, f: &mut Map<String, Value>) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let Some(c) = caps(
        &RE,
        r"^(?:\[([^\]]*\d{4})\] )?\[(?:[\w-]*:)?(emerg|alert|crit|error|warn|notice|info|debug|trace\d)\](?: \[pid [^\]]*\])?(?: \[client ([^\]]+)\])? ?(.*)$",
        line,
    ) else {
        return false;
    };
    let g = |i: usize| c.get(i).map_or("", |m| m.as_str());
    put(f, "timestamp", g(1));
    put(f, "level", g(2));
    let client = g(3);
    // `[client 1.2.3.4:5678]` in Apache 2.4
    let ip = match client.rsplit_once(':') {
        Some((ip, port)) if port.bytes().all(|b| b.is_ascii_digit()) && ip.contains('.') => ip,
        _ => client,
    };
    put(f, "c-ip", ip);
    put(f, "message", g(4));
    true
}

/// `%ASA-4-106023: Deny tcp src outside:1.2.3.4/5 dst inside:…`
fn cisco_asa(line: &str, f: &mut Map<String, Value>) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let Some(c) = caps(&RE, r"%(ASA|FTD|PIX)-(\d)-(\d{6}):? (.*)$", line) else {
        return false;
    };
    let g = |i: usize| c.get(i).map_or("", |m| m.as_str());
    put(f, "product", g(1));
    put(f, "severity", g(2));
    put(f, "message_id", g(3));
    let msg = g(4);
    put(f, "message", msg);
    static ADDR: OnceLock<Regex> = OnceLock::new();
    if let Some(c) = caps(
        &ADDR,
        r"(?i)(?:src|from) (?:\w+:)?(\d+\.\d+\.\d+\.\d+)(?:/(\d+))? (?:dst|to) (?:\w+:)?(\d+\.\d+\.\d+\.\d+)(?:/(\d+))?",
        msg,
    ) {
        let g = |i: usize| c.get(i).map_or("", |m| m.as_str());
        put(f, "src_ip", g(1));
        put(f, "src_port", g(2));
        put(f, "dst_ip", g(3));
        put(f, "dst_port", g(4));
    }
    let first = msg.split(' ').next().unwrap_or_default();
    if matches!(first, "Deny" | "Denied" | "Built" | "Teardown") {
        put(f, "action", &first.to_ascii_lowercase());
    }
    true
}

/// Squid's native access log: `time elapsed client code/status bytes
/// method URL user hierarchy type`.
fn squid(line: &str, f: &mut Map<String, Value>) -> bool {
    let p: Vec<&str> = line.split_whitespace().collect();
    if p.len() < 7
        || !p[0].contains('.')
        || p[0].parse::<f64>().is_err()
        || !p[3].contains('/')
        || p[1].parse::<u64>().is_err()
    {
        return false;
    }
    let (code, status) = p[3].split_once('/').unwrap_or((p[3], ""));
    put(f, "timestamp", p[0]);
    put(f, "c-ip", p[2]);
    put(f, "action", code);
    put(f, "sc-status", status);
    put(f, "sc-bytes", p[4]);
    put(f, "cs-method", p[5]);
    put(f, "c-uri", p[6]);
    put(f, "cs-username", p.get(7).copied().unwrap_or_default());
    true
}

/// IIS W3C logs in the default field order: `date time s-ip cs-method
/// cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent)
/// [cs(Referer)] sc-status sc-substatus sc-win32-status time-taken`.
fn iis(line: &str, f: &mut Map<String, Value>) -> bool {
    let p: Vec<&str> = line.split(' ').collect();
    let dated = p
        .first()
        .is_some_and(|d| d.len() == 10 && d.as_bytes().get(4) == Some(&b'-'));
    let status_at = match p.len() {
        14 => 10,
        15 => 11,
        _ => return false,
    };
    if !dated || p[status_at].len() != 3 || p[status_at].parse::<u16>().is_err() {
        return false;
    }
    put(f, "timestamp", &format!("{} {}", p[0], p[1]));
    put(f, "s-ip", p[2]);
    put(f, "cs-method", p[3]);
    put(f, "cs-uri-stem", p[4]);
    put(f, "cs-query", p[5]);
    let full = if p[5] == "-" {
        p[4].to_string()
    } else {
        format!("{}?{}", p[4], p[5])
    };
    put(f, "cs-uri-query", &full);
    put(f, "s-port", p[6]);
    put(f, "cs-username", p[7]);
    put(f, "c-ip", p[8]);
    put(f, "cs-user-agent", &p[9].replace('+', " "));
    if status_at == 11 {
        put(f, "cs-referer", p[10]);
    }
    put(f, "sc-status", p[status_at]);
    true
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The syslog header: fields, the program name and the message.
fn syslog_header(line: &str) -> Option<(Map<String, Value>, String, &str)> {
    let mut f = Map::new();
    let mut rest = line;
    // <PRI>
    if let Some(r) = rest.strip_prefix('<')
        && let Some((pri, after)) = r.split_once('>')
        && let Ok(pri) = pri.parse::<u8>()
    {
        put(&mut f, "facility", &(pri / 8).to_string());
        put(&mut f, "severity", &(pri % 8).to_string());
        rest = after;
        // RFC 5424: VERSION TS HOST APP PROCID MSGID SD MSG
        if let Some(r5) = rest.strip_prefix("1 ") {
            let mut it = r5.splitn(6, ' ');
            let (ts, host, app, pid, msgid, tail) = (
                it.next()?,
                it.next()?,
                it.next()?,
                it.next()?,
                it.next()?,
                it.next().unwrap_or_default(),
            );
            put(&mut f, "timestamp", ts);
            put(&mut f, "host", host);
            put(&mut f, "program", app);
            put(&mut f, "pid", pid);
            put(&mut f, "msgid", msgid);
            let msg = if let Some(sd) = tail.strip_prefix('[') {
                // structured data: up to the `]` not inside quotes
                let end = sd_end(sd);
                put(&mut f, "structured_data", tail.get(..=end).unwrap_or(tail));
                tail.get(end + 1..).unwrap_or_default().trim_start()
            } else {
                tail.strip_prefix("- ").unwrap_or(tail)
            };
            let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
            put(&mut f, "message", msg);
            let app = if app == "-" { "" } else { app };
            return Some((f, app.to_string(), msg));
        }
    }
    // RFC 3164 timestamp `Mmm dd hh:mm:ss`, or an ISO one
    let (ts, after) = if rest.len() >= 16
        && MONTHS.iter().any(|m| rest.starts_with(m))
        && rest.as_bytes().get(3) == Some(&b' ')
    {
        (rest.get(..15)?, rest.get(15..)?)
    } else if rest.len() > 19
        && rest.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && rest.as_bytes().get(4) == Some(&b'-')
    {
        // `2013-10-30T14:51:30.267+01:00` or `2020-03-23 06:47:42.801-0700`
        let mut end = rest.find(' ')?;
        if rest.as_bytes().get(10) == Some(&b' ') {
            end = 10 + rest[11..].find(' ')? + 1;
        }
        (rest.get(..end)?, rest.get(end..)?)
    } else {
        return None;
    };
    put(&mut f, "timestamp", ts);
    let after = after.trim_start();
    // `Mmm dd hh:mm:ss prog: msg` (no host, as pfSense writes it)
    let (host, after) = match after.split_once(' ')? {
        (h, _) if h.ends_with(':') => ("", after),
        other => other,
    };
    put(&mut f, "host", host);
    let after = after.trim_start();
    // `prog[pid]: msg` or `prog: msg`
    let colon = after
        .find(": ")
        .or_else(|| after.strip_suffix(':').map(str::len))?;
    let tag = &after[..colon];
    if tag.contains(' ') && !tag.ends_with(']') {
        return None;
    }
    let (prog, pid) = match tag.split_once('[') {
        Some((p, rest)) => (p, rest.trim_end_matches(']')),
        None => (tag, ""),
    };
    put(&mut f, "program", prog);
    put(&mut f, "pid", pid);
    let msg = after.get(colon + 2..).unwrap_or_default();
    put(&mut f, "message", msg);
    Some((f, prog.to_string(), msg))
}

fn sd_end(sd: &str) -> usize {
    let mut quoted = false;
    let mut esc = false;
    for (i, c) in sd.char_indices() {
        match c {
            _ if esc => esc = false,
            '\\' => esc = true,
            '"' => quoted = !quoted,
            ']' if !quoted && !sd[i + 1..].starts_with('[') => return i + 1,
            _ => {}
        }
    }
    sd.len()
}

/// The parser for a program's message; fills `f`.
fn program_message(program: &str, msg: &str, f: &mut Map<String, Value>) -> &'static str {
    let base = program.split('(').next().unwrap_or(program);
    if program.contains("(pam_unix)") || msg.starts_with("pam_unix(") {
        pam(msg, f);
        return "pam";
    }
    match base {
        "sshd" => {
            sshd(msg, f);
            "sshd"
        }
        "sudo" => {
            sudo(msg, f);
            "sudo"
        }
        "filterlog" => {
            if pf_filterlog(msg, f) {
                "pf"
            } else {
                "syslog"
            }
        }
        _ if msg.starts_with("client ") && msg.contains(" query") && dns_query(msg, f) => "dns",
        "kernel" if msg.contains(" SRC=") || msg.starts_with("SRC=") => {
            iptables(msg, f);
            "iptables"
        }
        "named" | "unbound" => {
            if dns_query(msg, f) {
                "dns"
            } else {
                "syslog"
            }
        }
        p if p.starts_with("postfix") || p == "dovecot" => {
            if mail_auth(msg, f) {
                "mail_auth"
            } else {
                "syslog"
            }
        }
        _ => match whole_line(msg) {
            // an access log shipped through syslog (nginx `access_log
            // syslog:`)
            Some(p) => {
                f.extend(p.fields);
                p.parser
            }
            None => "syslog",
        },
    }
}

/// The address after `from ` (and the port after ` port `).
fn from_ip(msg: &str, f: &mut Map<String, Value>) {
    if let Some(i) = msg.rfind(" from ") {
        let ip = msg[i + 6..]
            .split([' ', ',', ';'])
            .next()
            .unwrap_or_default();
        let ip = ip.trim_end_matches(']').trim_start_matches('[');
        if ip.parse::<std::net::IpAddr>().is_ok() {
            put(f, "src_ip", ip);
        }
        if let Some(j) = msg[i..].find(" port ") {
            let port = msg[i + j + 6..].split(' ').next().unwrap_or_default();
            put(f, "src_port", port);
        }
    }
}

fn sshd(msg: &str, f: &mut Map<String, Value>) {
    // `[ID 800047 auth.notice] …` (Solaris) before the message
    let msg = match msg.strip_prefix("[ID ") {
        Some(r) => r.split_once("] ").map_or(msg, |(_, m)| m),
        None => msg,
    };
    let user_after = |key: &str| -> Option<String> {
        let i = msg.find(key)?;
        let rest = &msg[i + key.len()..];
        let rest = rest
            .strip_prefix("invalid user ")
            .or_else(|| rest.strip_prefix("illegal user "))
            .unwrap_or(rest);
        rest.split(' ').next().map(str::to_string)
    };
    let (event, outcome, user) = if let Some(r) = msg.strip_prefix("Failed ") {
        let method = r.split(' ').next().unwrap_or_default();
        put(f, "auth_method", method);
        ("failed_auth", "failure", user_after(" for "))
    } else if let Some(r) = msg.strip_prefix("Accepted ") {
        let method = r.split(' ').next().unwrap_or_default();
        put(f, "auth_method", method);
        ("accepted", "success", user_after(" for "))
    } else if msg.starts_with("Invalid user ") || msg.starts_with("Illegal user ") {
        (
            "invalid_user",
            "failure",
            msg.split(' ').nth(2).map(str::to_string),
        )
    } else if msg.contains("authentication failure") || msg.contains("PAM: authentication error") {
        ("failed_auth", "failure", user_after(" user "))
    } else if msg.starts_with("Did not receive identification string") {
        ("no_identification", "failure", None)
    } else if msg.contains("maximum authentication attempts exceeded")
        || msg.contains("Too many authentication failures")
    {
        ("too_many_failures", "failure", user_after(" for "))
    } else if msg.starts_with("Connection closed by") || msg.starts_with("Disconnected from") {
        ("disconnected", "", user_after(" user "))
    } else if msg.starts_with("error: ") || msg.starts_with("fatal: ") {
        ("error", "", None)
    } else {
        ("", "", None)
    };
    put(f, "event", event);
    put(f, "outcome", outcome);
    if let Some(u) = user {
        put(f, "user", &u);
    }
    from_ip(msg, f);
}

fn sudo(msg: &str, f: &mut Map<String, Value>) {
    let (user, rest) = msg.split_once(" : ").unwrap_or(("", msg));
    put(f, "user", user.trim());
    for part in rest.split(" ; ") {
        match part.split_once('=') {
            Some(("TTY", v)) => put(f, "tty", v),
            Some(("PWD", v)) => put(f, "pwd", v),
            Some(("USER", v)) => put(f, "run_as", v),
            Some(("COMMAND", v)) => put(f, "command", v),
            _ if part.contains("incorrect password") => {
                put(f, "event", "failed_auth");
                put(f, "outcome", "failure");
            }
            _ if part.contains("NOT in sudoers") => {
                put(f, "event", "not_in_sudoers");
                put(f, "outcome", "failure");
            }
            _ => {}
        }
    }
}

fn pam(msg: &str, f: &mut Map<String, Value>) {
    if msg.contains("authentication failure") {
        put(f, "event", "failed_auth");
        put(f, "outcome", "failure");
    } else if msg.contains("session opened") {
        put(f, "event", "session_opened");
    } else if msg.contains("session closed") {
        put(f, "event", "session_closed");
    } else if msg.contains("user unknown") {
        put(f, "event", "unknown_user");
        put(f, "outcome", "failure");
    }
    for (k, v) in kv_pairs(msg.split_once(';').map_or("", |(_, r)| r)) {
        match k.as_str() {
            "user" | "ruser" | "rhost" | "uid" | "euid" | "tty" | "logname" => put(f, &k, &v),
            _ => {}
        }
    }
    if let Some(i) = msg.find(" for user ") {
        put(
            f,
            "user",
            msg[i + 10..].split(' ').next().unwrap_or_default(),
        );
    }
}

fn iptables(msg: &str, f: &mut Map<String, Value>) {
    let prefix_end = msg.find("IN=").unwrap_or(0);
    put(f, "rule_prefix", msg[..prefix_end].trim());
    let prefix = msg[..prefix_end].to_ascii_uppercase();
    let action = if prefix.contains("DROP") || prefix.contains("DENY") || prefix.contains("REJECT")
    {
        "drop"
    } else if prefix.contains("ACCEPT") || prefix.contains("ALLOW") {
        "accept"
    } else {
        ""
    };
    put(f, "action", action);
    for tok in msg[prefix_end..].split(' ') {
        if let Some((k, v)) = tok.split_once('=') {
            let name = match k {
                "IN" => "in_interface",
                "OUT" => "out_interface",
                "SRC" => "src_ip",
                "DST" => "dst_ip",
                "SPT" => "src_port",
                "DPT" => "dst_port",
                "PROTO" => "proto",
                "MAC" => "mac",
                "TTL" => "ttl",
                _ => continue,
            };
            if !f.contains_key(name) {
                put(f, name, v);
            }
        }
    }
}

/// pfSense's `filterlog` CSV (IPv4 and IPv6, TCP/UDP ports when present).
fn pf_filterlog(msg: &str, f: &mut Map<String, Value>) -> bool {
    let c: Vec<&str> = msg.split(',').collect();
    if c.len() < 9 || c.get(5) != Some(&"match") {
        return false;
    }
    put(f, "in_interface", c[4]);
    put(f, "action", c[6]);
    put(f, "direction", c[7]);
    // the IP part: v4 has 9 fields before the protocol name, v6 has 5
    let (proto, src) = match c[8] {
        "4" => (16, 18),
        "6" => (12, 15),
        _ => return true,
    };
    put(f, "proto", c.get(proto).copied().unwrap_or_default());
    put(f, "src_ip", c.get(src).copied().unwrap_or_default());
    put(f, "dst_ip", c.get(src + 1).copied().unwrap_or_default());
    if matches!(c.get(proto).copied(), Some("tcp" | "udp")) {
        put(f, "src_port", c.get(src + 2).copied().unwrap_or_default());
        put(f, "dst_port", c.get(src + 3).copied().unwrap_or_default());
    }
    true
}

/// `client 1.2.3.4#5353 (example.com): query: example.com IN A +` (named)
/// or `info: 1.2.3.4 example.com. A IN` (unbound); also named's `denied`.
fn dns_query(msg: &str, f: &mut Map<String, Value>) -> bool {
    if let Some(r) = msg.split("client ").nth(1) {
        let r = r
            .strip_prefix("@0x")
            .map_or(r, |x| x.split_once(' ').map_or(x, |(_, y)| y));
        let addr = r.split(['#', ' ', ':']).next().unwrap_or_default();
        if addr.parse::<std::net::IpAddr>().is_ok() {
            put(f, "src_ip", addr);
        }
        if let Some(q) = r.split("query: ").nth(1) {
            let mut it = q.split(' ');
            put(f, "query", it.next().unwrap_or_default());
            let _class = it.next();
            put(f, "record_type", it.next().unwrap_or_default());
        } else if r.contains("denied") {
            put(f, "event", "query_denied");
        }
        return true;
    }
    if let Some(r) = msg.strip_prefix("info: ") {
        let p: Vec<&str> = r.split(' ').collect();
        if p.len() >= 4 && p[0].parse::<std::net::IpAddr>().is_ok() {
            put(f, "src_ip", p[0]);
            put(f, "query", p[1].trim_end_matches('.'));
            put(f, "record_type", p[2]);
            return true;
        }
    }
    false
}

/// Postfix SASL and Dovecot authentication failures.
fn mail_auth(msg: &str, f: &mut Map<String, Value>) -> bool {
    if msg.contains("SASL") && msg.contains("authentication failed") {
        // `warning: unknown[1.2.3.4]: SASL LOGIN authentication failed: …`
        if let Some(i) = msg.find('[') {
            let ip = msg[i + 1..].split(']').next().unwrap_or_default();
            put(f, "src_ip", ip);
        }
        if let Some(i) = msg.find("sasl_username=") {
            put(
                f,
                "user",
                msg[i + 14..].split([',', ' ']).next().unwrap_or_default(),
            );
        }
        put(f, "event", "failed_auth");
        put(f, "outcome", "failure");
        return true;
    }
    if msg.contains("auth failed")
        || msg.contains("Authentication failure")
        || msg.contains("password mismatch")
    {
        for (k, v) in kv_pairs(&msg.replace(['(', ')', ','], " ")) {
            match k.as_str() {
                "user" => put(f, "user", v.trim_matches(['<', '>'])),
                "rip" => put(f, "src_ip", &v),
                "lip" => put(f, "dst_ip", &v),
                _ => {}
            }
        }
        put(f, "event", "failed_auth");
        put(f, "outcome", "failure");
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(p: &'a Parsed, k: &str) -> &'a str {
        p.fields.get(k).and_then(Value::as_str).unwrap_or("")
    }

    #[test]
    fn access_log_gets_w3c_fields() {
        let p = parse(
            r#"203.0.113.9 - - [26/Nov/2026:10:00:00 +0700] "GET /portal/tra-cuu.php?id=1%27%20or%201=1 HTTP/1.1" 200 512 "-" "sqlmap/1.7""#,
        );
        assert_eq!(p.parser, "access");
        assert_eq!(field(&p, "c-ip"), "203.0.113.9");
        assert_eq!(field(&p, "cs-method"), "GET");
        assert_eq!(field(&p, "cs-uri-stem"), "/portal/tra-cuu.php");
        assert_eq!(field(&p, "cs-query"), "id=1%27%20or%201=1");
        assert_eq!(
            field(&p, "cs-uri-query"),
            "/portal/tra-cuu.php?id=1%27%20or%201=1"
        );
        assert_eq!(field(&p, "sc-status"), "200");
        assert_eq!(field(&p, "cs-user-agent"), "sqlmap/1.7");
        assert!(!p.fields.contains_key("cs-referer"));
    }

    #[test]
    fn access_log_with_raw_spaces_in_the_uri() {
        // attackers send them; nginx logs them as they came
        let p = parse(
            r#"203.0.113.9 - - [26/Nov/2026:10:00:04 +0700] "GET /?id=1' OR 1=1-- HTTP/1.1" 200 5 "-" "x""#,
        );
        assert_eq!(p.parser, "access");
        assert_eq!(field(&p, "cs-query"), "id=1' OR 1=1--");
        assert_eq!(field(&p, "cs-version"), "HTTP/1.1");
    }

    #[test]
    fn syslog_headers_3164_5424_and_iso() {
        let p = parse(
            "<38>Feb 10 23:21:05 gw sshd[1234]: Failed password for invalid user admin from 198.51.100.7 port 51676 ssh2",
        );
        assert_eq!(p.parser, "sshd");
        assert_eq!(field(&p, "facility"), "4");
        assert_eq!(field(&p, "host"), "gw");
        assert_eq!(field(&p, "pid"), "1234");
        assert_eq!(field(&p, "user"), "admin");
        assert_eq!(field(&p, "src_ip"), "198.51.100.7");
        assert_eq!(field(&p, "src_port"), "51676");
        assert_eq!(field(&p, "outcome"), "failure");

        let p = parse(
            r#"<34>1 2026-11-26T10:00:00.003Z mail.tinh.example postfix/smtpd 999 - [meta x="]"] warning: unknown[192.0.2.5]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"#,
        );
        assert_eq!(p.parser, "mail_auth");
        assert_eq!(field(&p, "program"), "postfix/smtpd");
        assert_eq!(field(&p, "structured_data"), r#"[meta x="]"]"#);
        assert_eq!(field(&p, "src_ip"), "192.0.2.5");

        let p = parse(
            "2013-10-30T14:51:30.267401+01:00 srv sshd[12671]: Invalid user opcione from 192.241.237.101",
        );
        assert_eq!((p.parser, field(&p, "user")), ("sshd", "opcione"));
        let p = parse(
            "2020-03-23 06:47:42.801612-0700  localhost sshd[3186]: Accepted publickey for bob from 192.168.33.1 port 22 ssh2",
        );
        assert_eq!(field(&p, "host"), "localhost");
        assert_eq!(
            (field(&p, "outcome"), field(&p, "auth_method")),
            ("success", "publickey")
        );
    }

    #[test]
    fn firewall_sudo_pam_dns() {
        let p = parse(
            "Feb  4 23:33:37 hostname kernel: FIREWALL_DROP IN=eth0 OUT= SRC=192.168.6.57 DST=216.161.248.225 LEN=40 PROTO=TCP SPT=46388 DPT=22",
        );
        assert_eq!(p.parser, "iptables");
        assert_eq!(
            (
                field(&p, "src_ip"),
                field(&p, "dst_port"),
                field(&p, "action")
            ),
            ("192.168.6.57", "22", "drop")
        );
        let p = parse(
            r#"date=2016-06-15 time=10:42:31 devname=FG type=traffic subtype=forward srcip=10.1.1.1 srcport=1234 dstip=8.8.8.8 dstport=53 action="deny" msg="a b""#,
        );
        assert_eq!(p.parser, "kv");
        assert_eq!((field(&p, "src_ip"), field(&p, "msg")), ("10.1.1.1", "a b"));
        let p = parse(
            "Apr 27 15:22:23 niban sudo:     dcid : TTY=pts/4 ; PWD=/home/dcid ; USER=root ; COMMAND=/usr/bin/tail /var/log/x",
        );
        assert_eq!(
            (p.parser, field(&p, "user"), field(&p, "command")),
            ("sudo", "dcid", "/usr/bin/tail /var/log/x")
        );
        let p = parse(
            "Nov 11 22:46:29 localhost su(pam_unix)[23164]: authentication failure; logname= uid=1342 euid=0 tty= ruser=dcid rhost=  user=osaudit",
        );
        assert_eq!(
            (p.parser, field(&p, "user"), field(&p, "ruser")),
            ("pam", "osaudit", "dcid")
        );
        let p = parse(
            "Aug 29 15:33:13 ns3 named[464]: client @0x7f 198.51.100.3#1036 (evil.example): query: evil.example IN TXT +E(0)",
        );
        assert_eq!(
            (p.parser, field(&p, "query"), field(&p, "record_type")),
            ("dns", "evil.example", "TXT")
        );
    }

    #[test]
    fn event_times_from_the_common_stamps() {
        // 2026-11-26T03:00:04Z
        let want = 1_795_662_004_000_000;
        let now = want + 3_600_000_000;
        for line in [
            "<30>1 2026-11-26T10:00:04+07:00 h app - - - m",
            r#"1.2.3.4 - - [26/Nov/2026:10:00:04 +0700] "GET / HTTP/1.1" 200 1"#,
            "date=2026-11-26 time=03:00:04 devname=x type=event logid=1 k=v",
            "Nov 26 03:00:04 gw sshd[1]: Accepted password for a from 192.0.2.1 port 1 ssh2",
        ] {
            let p = parse(line);
            assert_eq!(event_time(&p.fields, now), Some(want), "{line}");
        }
        // a December stamp read in January is last year's
        let jan = 1_798_761_600_000_000; // 2027-01-01T00:00:00Z
        let p = parse("Dec 31 23:59:00 gw a: b");
        let t = event_time(&p.fields, jan).unwrap();
        assert!(t < jan && jan - t < 120_000_000, "{t}");
    }

    #[test]
    fn unknown_lines_and_garbage_are_kept() {
        assert_eq!(parse("hello world").parser, "raw");
        assert_eq!(parse("Feb 10 23:21:05 gw myapp: started").parser, "syslog");
        let mut x: u32 = 1;
        for len in 0..400 {
            let s: String = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    {
                        let set: Vec<char> = " <>[]:=\"%-1aZ/.#ệđ".chars().collect();
                        set[x as usize % set.len()]
                    }
                })
                .collect();
            let _ = parse(&s);
            let _ = parse(&format!("<13>1 {s}"));
            let _ = parse(&format!("Feb 10 23:21:05 {s}"));
        }
    }
}
