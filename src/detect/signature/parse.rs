//! The rule-language parser. Every error is a [`Diagnostic`] with file, line
//! and column (1-based) pointing at the offending text.

use std::fmt;
use std::net::IpAddr;

use super::buffers::AppProto;
use super::options::{Names, OptionState};
use super::rule::{Action, Rule, RuleProto, StreamMode};
use super::{AddrSpec, Cidr, PortSpec, Vars};

/// A rule-file error at file:line:column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// A logical rule (continuation lines joined) and where each piece came from.
struct Logical {
    text: String,
    /// (offset in `text`, physical line, column of that offset)
    segments: Vec<(usize, usize, usize)>,
}

impl Logical {
    fn locate(&self, offset: usize) -> (usize, usize) {
        let mut best = (1, 1);
        for &(start, line, col) in &self.segments {
            if start <= offset {
                best = (line, col + self.text[start..offset].chars().count());
            }
        }
        best
    }
}

struct Ctx<'a> {
    file: &'a str,
    logical: &'a Logical,
    errors: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn err(&mut self, offset: usize, message: impl Into<String>) {
        let (line, column) = self.logical.locate(offset);
        self.errors.push(Diagnostic {
            file: self.file.to_string(),
            line,
            column,
            message: message.into(),
        });
    }
}

/// Parses a rule file's text. Comments (`#`) and blank lines are skipped;
/// a line ending in `\` continues on the next.
///
/// # Errors
/// Every diagnostic of the file, not just the first.
pub fn parse_rules(file: &str, text: &str, vars: &Vars) -> Result<Vec<Rule>, Vec<Diagnostic>> {
    let mut names = Names::default();
    let (rules, errors) = parse_rules_with(file, text, vars, &mut names);
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

/// Parses a rule file's text, keeping the good rules and reporting every
/// bad one; `names` is shared by the files of one rule set (flowbits).
pub fn parse_rules_with(
    file: &str,
    text: &str,
    vars: &Vars,
    names: &mut Names,
) -> (Vec<Rule>, Vec<Diagnostic>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    let mut current: Option<Logical> = None;
    for (idx, raw_line) in text.lines().enumerate() {
        let line_no = idx + 1;
        let trimmed_start = raw_line.len() - raw_line.trim_start().len();
        let body = raw_line.trim_end();
        let (piece, continues) = match body.strip_suffix('\\') {
            Some(p) => (p, true),
            None => (body, false),
        };
        let logical = match current.as_mut() {
            Some(l) => {
                l.segments.push((l.text.len(), line_no, 1));
                l.text.push_str(piece);
                current.take()
            }
            None => {
                let t = piece.trim_start();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                Some(Logical {
                    text: t.to_string(),
                    segments: vec![(0, line_no, trimmed_start + 1)],
                })
            }
        };
        let Some(logical) = logical else { continue };
        if continues {
            current = Some(logical);
            continue;
        }
        let mut ctx = Ctx {
            file,
            logical: &logical,
            errors: Vec::new(),
        };
        let first_line = logical.segments[0].1;
        if let Some(rule) = parse_rule(&mut ctx, vars, names, format!("{file}:{first_line}")) {
            rules.push(rule);
        }
        errors.append(&mut ctx.errors);
    }
    if let Some(logical) = current {
        let mut ctx = Ctx {
            file,
            logical: &logical,
            errors: Vec::new(),
        };
        ctx.err(
            logical.text.len(),
            "file ends inside a rule continued with `\\`",
        );
        errors.append(&mut ctx.errors);
    }
    (rules, errors)
}

/// Splits the header into tokens, keeping `[...]` lists (which may contain
/// spaces) together. Returns (offset, token).
fn header_tokens(header: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start: Option<usize> = None;
    for (i, c) in header.char_indices() {
        match c {
            '[' => {
                depth += 1;
                start.get_or_insert(i);
            }
            ']' => depth -= 1,
            c if c.is_whitespace() && depth <= 0 => {
                if let Some(s) = start.take() {
                    out.push((s, &header[s..i]));
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        out.push((s, &header[s..]));
    }
    out
}

fn parse_rule(ctx: &mut Ctx<'_>, vars: &Vars, names: &mut Names, origin: String) -> Option<Rule> {
    let text = ctx.logical.text.clone();
    let Some(open) = text.find('(') else {
        ctx.err(
            text.len(),
            "expected `(` starting the rule options after the header",
        );
        return None;
    };
    let trimmed = text.trim_end();
    if !trimmed.ends_with(')') {
        ctx.err(trimmed.len(), "expected `)` closing the rule options");
        return None;
    }
    let header = &text[..open];
    let tokens = header_tokens(header);
    if tokens.len() != 7 {
        ctx.err(
            0,
            format!(
                "the header needs 7 parts (action protocol source sport direction destination dport), found {}",
                tokens.len()
            ),
        );
        return None;
    }
    let action = match tokens[0].1 {
        "alert" => Action::Alert,
        "drop" => Action::Drop,
        "reject" | "rejectsrc" | "rejectdst" | "rejectboth" => Action::Reject,
        "pass" => Action::Pass,
        other => {
            ctx.err(
                tokens[0].0,
                format!("unknown action `{other}`, expected alert, drop, reject or pass"),
            );
            return None;
        }
    };
    let proto_name = tokens[1].1.to_ascii_lowercase();
    let mut stream_mode = StreamMode::Both;
    let proto = match proto_name.as_str() {
        "ip" | "pkthdr" | "ipv4" | "ipv6" => RuleProto::Ip,
        "tcp" => RuleProto::Tcp,
        "tcp-pkt" => {
            stream_mode = StreamMode::PacketOnly;
            RuleProto::Tcp
        }
        "tcp-stream" => {
            stream_mode = StreamMode::StreamOnly;
            RuleProto::Tcp
        }
        "udp" => RuleProto::Udp,
        "icmp" | "icmpv4" | "icmpv6" => RuleProto::Icmp,
        other => match AppProto::from_name(other) {
            Some(a) => RuleProto::App(a),
            None => {
                ctx.err(
                    tokens[1].0,
                    format!("protocol `{other}` is not parsed by canhgac yet"),
                );
                return None;
            }
        },
    };
    let src = parse_addr(ctx, vars, tokens[2].0, tokens[2].1, 0);
    let sport = parse_port(ctx, vars, tokens[3].0, tokens[3].1, 0);
    let bidirectional = match tokens[4].1 {
        "->" => false,
        "<>" => true,
        other => {
            ctx.err(
                tokens[4].0,
                format!("unknown direction `{other}`, expected `->` or `<>`"),
            );
            return None;
        }
    };
    let dst = parse_addr(ctx, vars, tokens[5].0, tokens[5].1, 0);
    let dport = parse_port(ctx, vars, tokens[6].0, tokens[6].1, 0);

    let close = trimmed.len() - 1;
    let mut rule = Rule::new(proto);
    rule.action = action;
    rule.stream_mode = stream_mode;
    rule.src = src.unwrap_or(AddrSpec::Any);
    rule.sport = sport.unwrap_or(PortSpec::Any);
    rule.dst = dst.unwrap_or(AddrSpec::Any);
    rule.dport = dport.unwrap_or(PortSpec::Any);
    rule.bidirectional = bidirectional;
    rule.origin = origin;
    let errors_before = ctx.errors.len();
    let mut state = OptionState::new(names);
    for (kw_off, key, value) in split_options(&text, open + 1, close) {
        if let Err((off, msg)) = state.apply(&mut rule, key, kw_off, value) {
            ctx.err(off, msg);
        }
    }
    if !state.has_sid {
        ctx.err(open, "rule has no `sid`");
    }
    if ctx.errors.len() > errors_before {
        return None;
    }
    Some(rule)
}

/// One `key:value` option: (offset of the key, key, (offset, value)).
type RawOption<'a> = (usize, &'a str, Option<(usize, &'a str)>);

/// Splits `key:value;` options between `start` and `end` (exclusive).
/// A `;` preceded by `\` does not end a value.
fn split_options(text: &str, start: usize, end: usize) -> Vec<RawOption<'_>> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = start;
    while i < end {
        // skip whitespace
        while i < end && (bytes[i] as char).is_ascii_whitespace() {
            i += 1;
        }
        if i >= end {
            break;
        }
        let opt_start = i;
        let mut j = i;
        // As Suricata: an option ends at the first `;` not escaped with `\`,
        // quotes or not (a `;` inside a content must be written `\;`).
        while j < end {
            match bytes[j] {
                b'\\' => j += 1,
                b';' => break,
                _ => {}
            }
            j += 1;
        }
        let j = j.min(end);
        let opt = &text[opt_start..j];
        match opt.find(':') {
            Some(colon) => {
                let key = opt[..colon].trim();
                let val_start = opt_start + colon + 1;
                let lead = text[val_start..j].len() - text[val_start..j].trim_start().len();
                out.push((
                    opt_start,
                    key,
                    Some((val_start + lead, &text[val_start..j])),
                ));
            }
            None => out.push((opt_start, opt.trim(), None)),
        }
        i = j + 1;
    }
    out
}

const MAX_VAR_DEPTH: u8 = 8;

fn lookup<'v>(table: &'v [(String, String)], name: &str) -> Option<&'v str> {
    table
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Splits a `[a,b,[c,d]]` list body at top-level commas.
fn split_list(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

fn parse_addr(
    ctx: &mut Ctx<'_>,
    vars: &Vars,
    off: usize,
    tok: &str,
    depth: u8,
) -> Option<AddrSpec> {
    let mut items = Vec::new();
    let ok = collect_addr(ctx, vars, off, tok, false, depth, &mut items);
    if !ok {
        return None;
    }
    if items.is_empty() {
        return Some(AddrSpec::Any);
    }
    Some(AddrSpec::List(super::AddrSet::new(&items)))
}

/// Appends the CIDRs of `tok` with their negation; `any` appends nothing
/// (positive any) — a negated `any` is an error.
fn collect_addr(
    ctx: &mut Ctx<'_>,
    vars: &Vars,
    off: usize,
    tok: &str,
    negated: bool,
    depth: u8,
    out: &mut Vec<(Cidr, bool)>,
) -> bool {
    let tok = tok.trim();
    if depth > MAX_VAR_DEPTH {
        ctx.err(off, "address variables nest too deep (a loop?)");
        return false;
    }
    if let Some(rest) = tok.strip_prefix('!') {
        return collect_addr(ctx, vars, off + 1, rest, !negated, depth, out);
    }
    if tok.eq_ignore_ascii_case("any") {
        if negated {
            ctx.err(off, "`!any` matches nothing");
            return false;
        }
        return true;
    }
    if let Some(body) = tok.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let mut ok = true;
        for item in split_list(body) {
            if item.is_empty() {
                ctx.err(off, "empty item in address list");
                return false;
            }
            // Negating a list flips every item: only exact for one item or
            // all-positive lists, which is what rule sets use.
            ok &= collect_addr(ctx, vars, off, item, negated, depth, out);
        }
        return ok;
    }
    if let Some(name) = tok.strip_prefix('$') {
        let Some(value) = lookup(&vars.address, name) else {
            ctx.err(off, format!("unknown address variable `${name}`"));
            return false;
        };
        let value = value.to_string();
        return collect_addr(ctx, vars, off, &value, negated, depth + 1, out);
    }
    match parse_cidr(tok) {
        Some(c) => {
            out.push((c, negated));
            true
        }
        None => {
            ctx.err(
                off,
                format!("`{tok}` is not an address, CIDR, list, variable or `any`"),
            );
            false
        }
    }
}

fn parse_cidr(s: &str) -> Option<Cidr> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        None => max,
    };
    Some(Cidr { addr, prefix })
}

fn parse_port(
    ctx: &mut Ctx<'_>,
    vars: &Vars,
    off: usize,
    tok: &str,
    depth: u8,
) -> Option<PortSpec> {
    let mut items = Vec::new();
    if !collect_port(ctx, vars, off, tok, false, depth, &mut items) {
        return None;
    }
    if items.is_empty() {
        return Some(PortSpec::Any);
    }
    Some(PortSpec::List(items))
}

fn collect_port(
    ctx: &mut Ctx<'_>,
    vars: &Vars,
    off: usize,
    tok: &str,
    negated: bool,
    depth: u8,
    out: &mut Vec<(u16, u16, bool)>,
) -> bool {
    let tok = tok.trim();
    if depth > MAX_VAR_DEPTH {
        ctx.err(off, "port variables nest too deep (a loop?)");
        return false;
    }
    if let Some(rest) = tok.strip_prefix('!') {
        return collect_port(ctx, vars, off + 1, rest, !negated, depth, out);
    }
    if tok.eq_ignore_ascii_case("any") {
        if negated {
            ctx.err(off, "`!any` matches nothing");
            return false;
        }
        return true;
    }
    if let Some(body) = tok.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let mut ok = true;
        for item in split_list(body) {
            if item.is_empty() {
                ctx.err(off, "empty item in port list");
                return false;
            }
            ok &= collect_port(ctx, vars, off, item, negated, depth, out);
        }
        return ok;
    }
    if let Some(name) = tok.strip_prefix('$') {
        let Some(value) = lookup(&vars.port, name) else {
            ctx.err(off, format!("unknown port variable `${name}`"));
            return false;
        };
        let value = value.to_string();
        return collect_port(ctx, vars, off, &value, negated, depth + 1, out);
    }
    let parse = |s: &str, default: u16| -> Option<u16> {
        if s.is_empty() {
            Some(default)
        } else {
            s.parse().ok()
        }
    };
    let range = match tok.split_once(':') {
        Some((lo, hi)) => parse(lo, 0).zip(parse(hi, u16::MAX)),
        None => tok.parse().ok().map(|p| (p, p)),
    };
    match range {
        Some((lo, hi)) if lo <= hi => {
            out.push((lo, hi, negated));
            true
        }
        _ => {
            ctx.err(
                off,
                format!("`{tok}` is not a port (0-65535), range `a:b`, list or `any`"),
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Rule>, Vec<Diagnostic>> {
        parse_rules("t.rules", text, &Vars::default())
    }

    #[test]
    fn parses_a_typical_rule() {
        let r = parse(r#"alert tcp $EXTERNAL_NET any -> $HOME_NET [80,8080:8090] (msg:"x \; y"; content:"GET |20|/"; nocase; depth:10; sid:5; rev:2; classtype:web-application-attack; metadata: a b, c d;)"#).unwrap();
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!(r.msg, "x ; y");
        let Some(crate::detect::signature::rule::Inspect::Content(c)) =
            r.payload_list().and_then(|l| l.items.first())
        else {
            panic!("no content");
        };
        assert_eq!(c.pattern, b"get  /");
        assert_eq!(c.depth, Some(crate::detect::signature::rule::Val::Lit(10)));
        assert_eq!(r.sid, 5);
        assert_eq!(r.metadata.len(), 2);
        assert!(r.dport.matches(8085) && !r.dport.matches(81));
        assert!(r.dst.matches("10.1.2.3".parse().unwrap()));
        assert!(!r.src.matches("10.1.2.3".parse().unwrap()));
        assert!(r.src.matches("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn braces_in_messages_are_kept_as_written() {
        let r = parse(r#"alert tcp any any -> any any (msg:"a {b} c}"; content:"{x}"; sid:1;)"#)
            .unwrap();
        assert_eq!(r[0].msg, "a {b} c}");
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let text = "# comment\nalert tcp any any -> any any (msg:\"a\"; frobnicate:1; sid:1;)\nalert tcp any any -> any any (msg:\"b\"; content:\"|4G|\"; sid:2;)\n";
        let errs = parse(text).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!((errs[0].line, errs[0].column), (2, 40));
        assert!(errs[0].message.contains("frobnicate"));
        assert_eq!(errs[1].line, 3);
        assert_eq!(errs[1].column, 51);
        assert!(errs[1].message.contains("hex digit"));
    }

    #[test]
    fn continuation_lines_join() {
        let r = parse("alert udp any any -> any 53 \\\n  (msg:\"dns\"; content:\"abc\"; sid:9;)\n")
            .unwrap();
        assert_eq!(r[0].sid, 9);
    }

    #[test]
    fn missing_sid_and_bad_header_are_reported() {
        let errs = parse(
            "alert tcp any any any any (msg:\"x\";)\nalert tcp any any -> any any (msg:\"x\";)\n",
        )
        .unwrap_err();
        assert!(errs[0].message.contains("7 parts"));
        assert!(errs[1].message.contains("no `sid`"));
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "(",
            ")",
            "alert (",
            "alert tcp [ any -> any any (sid:1;)",
            "alert tcp any any -> any any (content:\"\\",
            "alert tcp any any -> any any (content:\"|\";sid:1;)",
            "alert tcp any any -> any any (;;;)",
        ] {
            let _ = parse(s);
        }
    }
}
