//! Rule options (`msg:"…"; content:"…"; …`) into a [`Rule`].
//!
//! Keywords are applied in order, because order is meaning in this
//! language: `nocase` modifies the content before it, `http_uri` moves it,
//! `http.uri;` redirects everything after it, `distance` is relative to the
//! previous match in the same buffer. Every mistake is reported at the
//! keyword or value that caused it; an unknown keyword is an error, never a
//! silent no-op, so an operator never believes a rule is active when it is
//! not.

use super::buffers::{AppProto, Buffer};
use super::rule::{
    BufferList, ByteExtract, ByteJump, ByteOp, ByteTest, Cmp, Content, FlagsMatch, FlowbitOp,
    Inspect, NumFormat, PacketCheck, Pcre, PcreRe, Rule, Transform, Val,
};
use super::threshold::{parse_detection_filter, parse_threshold};

/// Legacy `http_*` names that Suricata 7 treats as sticky buffers.
const STICKY_ALIASES: &[&str] = &[
    "http_content_type",
    "http_content_len",
    "http_accept",
    "http_accept_enc",
    "http_accept_lang",
    "http_referer",
    "http_connection",
    "http_header_names",
    "http_protocol",
    "http_start",
    "http_request_line",
    "http_response_line",
    "http_location",
    "http_server",
];

/// Stream events the TCP tracker raises.
pub const STREAM_EVENTS: &[&str] = &["pkt_invalid_timestamp", "rst_invalid"];

/// Names shared by all rules of a rule set (flowbits).
#[derive(Debug, Default, Clone)]
pub struct Names {
    pub flowbits: Vec<String>,
}

impl Names {
    fn flowbit(&mut self, name: &str) -> usize {
        if let Some(i) = self.flowbits.iter().position(|n| n == name) {
            return i;
        }
        self.flowbits.push(name.to_string());
        self.flowbits.len() - 1
    }
}

/// Error from one option: (offset in the rule text, message).
pub type OptError = (usize, String);

/// Parser state across the options of one rule.
pub struct OptionState<'n> {
    names: &'n mut Names,
    /// The sticky buffer in force.
    current: Buffer,
    /// (list index, item index) of the last content, for its modifiers.
    last_content: Option<(usize, usize)>,
    /// (list index, item index) of the last payload keyword of any kind.
    last_item: Option<(usize, usize)>,
    var_names: Vec<String>,
    pub has_sid: bool,
}

impl<'n> OptionState<'n> {
    pub fn new(names: &'n mut Names) -> Self {
        OptionState {
            names,
            current: Buffer::Payload,
            last_content: None,
            last_item: None,
            var_names: Vec::new(),
            has_sid: false,
        }
    }

    fn list(&mut self, rule: &mut Rule, buffer: Buffer) -> usize {
        if let Some(i) = rule.lists.iter().position(|l| l.buffer == buffer) {
            return i;
        }
        rule.lists.push(BufferList {
            buffer,
            transforms: Vec::new(),
            items: Vec::new(),
        });
        rule.lists.len() - 1
    }

    fn push(&mut self, rule: &mut Rule, buffer: Buffer, item: Inspect) {
        let li = self.list(rule, buffer);
        let is_content = matches!(item, Inspect::Content(_));
        rule.lists[li].items.push(item);
        let at = (li, rule.lists[li].items.len() - 1);
        if is_content {
            self.last_content = Some(at);
        }
        self.last_item = Some(at);
    }

    fn content_mut<'r>(&self, rule: &'r mut Rule) -> Option<&'r mut Content> {
        let (li, ii) = self.last_content?;
        match rule.lists.get_mut(li)?.items.get_mut(ii)? {
            Inspect::Content(c) => Some(c),
            _ => None,
        }
    }

    fn val(&self, s: &str) -> Result<Val, String> {
        let s = s.trim();
        if let Ok(n) = s.parse::<i64>() {
            return Ok(Val::Lit(n));
        }
        match self.var_names.iter().position(|v| v == s) {
            Some(i) => Ok(Val::Var(i)),
            None => Err(format!(
                "`{s}` is neither a number nor a variable defined by an earlier `byte_extract`"
            )),
        }
    }

    /// Applies one option. `key_off`/`val_off` are offsets for diagnostics.
    pub fn apply(
        &mut self,
        rule: &mut Rule,
        key: &str,
        key_off: usize,
        value: Option<(usize, &str)>,
    ) -> Result<(), OptError> {
        let val_off = value.map(|(o, _)| o).unwrap_or(key_off);
        let raw_val = value.map(|(_, v)| v.trim());
        fn need<'v>(v: Option<&'v str>, key: &str, key_off: usize) -> Result<&'v str, OptError> {
            v.ok_or_else(|| (key_off, format!("`{key}` needs a value (`{key}:...;`)")))
        }
        let verr = |m: String| (val_off, m);
        let no_value = |v: Option<&str>| -> Result<(), OptError> {
            match v {
                Some(v) if !v.is_empty() => {
                    Err((val_off, format!("`{key}` takes no value, found `{v}`")))
                }
                _ => Ok(()),
            }
        };

        if let Some(b) = Buffer::sticky(key) {
            no_value(raw_val)?;
            if rule.proto_is_ip_only() && b != Buffer::Payload {
                // Suricata accepts http buffers on `tcp`/`ip` rules and
                // narrows them to HTTP; so do we.
            }
            self.current = b;
            self.last_content = None;
            let _ = self.list(rule, b);
            return Ok(());
        }
        if let Some(b) = Buffer::modifier(key) {
            no_value(raw_val)?;
            // Suricata 7 registers the newer legacy names as aliases of the
            // sticky buffer, not as content modifiers.
            if STICKY_ALIASES.contains(&key) {
                self.current = b;
                self.last_content = None;
                let _ = self.list(rule, b);
                return Ok(());
            }
            return self.move_last_content(rule, b, key_off, key);
        }

        match key {
            "msg" => rule.msg = unquote(need(raw_val, key, key_off)?),
            "sid" | "rev" | "gid" | "priority" => {
                let v = need(raw_val, key, key_off)?;
                let n: u64 = v
                    .parse()
                    .map_err(|_| verr(format!("`{key}` expects a whole number, found `{v}`")))?;
                match key {
                    "sid" => {
                        rule.sid = n;
                        self.has_sid = true;
                    }
                    "rev" => rule.rev = u32::try_from(n).unwrap_or(u32::MAX),
                    "gid" => rule.gid = u32::try_from(n).unwrap_or(u32::MAX),
                    _ => match u8::try_from(n) {
                        Ok(p) if p >= 1 => rule.priority = Some(p),
                        _ => return Err(verr("`priority` must be between 1 and 255".into())),
                    },
                }
            }
            "classtype" => rule.classtype = Some(need(raw_val, key, key_off)?.to_string()),
            "metadata" => {
                for item in need(raw_val, key, key_off)?.split(',') {
                    let item = item.trim();
                    if item.is_empty() {
                        continue;
                    }
                    let (k, v) = item.split_once(' ').unwrap_or((item, ""));
                    rule.metadata
                        .push((k.trim().to_string(), v.trim().to_string()));
                }
            }
            "reference" => rule
                .references
                .push(need(raw_val, key, key_off)?.to_string()),
            "target" | "tag" | "rawbytes" => {}
            "noalert" => rule.noalert = true,
            "alert" => rule.force_alert = true,
            "content" | "uricontent" => {
                let v = need(raw_val, key, key_off)?;
                let c = parse_content(v, val_off)?;
                let buffer = if key == "uricontent" {
                    Buffer::HttpUri
                } else {
                    self.current
                };
                self.push(rule, buffer, Inspect::Content(c));
            }
            "nocase" => {
                no_value(raw_val)?;
                let c = self.content_mut(rule).ok_or_else(|| follow(key_off, key))?;
                c.nocase = true;
                c.pattern.make_ascii_lowercase();
            }
            "depth" | "offset" | "distance" | "within" => {
                let v = need(raw_val, key, key_off)?;
                let val = self.val(v).map_err(verr)?;
                if let Val::Lit(n) = val
                    && n < 0
                    && key != "distance"
                {
                    return Err(verr(format!("`{key}` cannot be negative")));
                }
                if let Val::Lit(n) = val
                    && key == "within"
                    && n == 0
                {
                    return Err(verr("`within` must be at least 1".into()));
                }
                let c = self.content_mut(rule).ok_or_else(|| follow(key_off, key))?;
                if c.startswith && matches!(key, "depth" | "offset") {
                    return Err((
                        key_off,
                        format!("`{key}` cannot be combined with `startswith`"),
                    ));
                }
                match key {
                    "depth" => c.depth = Some(val),
                    "offset" => c.offset = Some(val),
                    "distance" => c.distance = Some(val),
                    _ => c.within = Some(val),
                }
            }
            "startswith" => {
                no_value(raw_val)?;
                let c = self.content_mut(rule).ok_or_else(|| follow(key_off, key))?;
                if c.depth.is_some() || c.offset.is_some() || c.relative() {
                    return Err((
                        key_off,
                        "`startswith` cannot be combined with depth, offset, distance or within"
                            .into(),
                    ));
                }
                c.startswith = true;
            }
            "endswith" => {
                no_value(raw_val)?;
                let c = self.content_mut(rule).ok_or_else(|| follow(key_off, key))?;
                c.endswith = true;
            }
            "fast_pattern" => {
                let c = self.content_mut(rule).ok_or_else(|| follow(key_off, key))?;
                if c.negated {
                    return Err((
                        key_off,
                        "`fast_pattern` cannot be set on a negated content".into(),
                    ));
                }
                c.fast_pattern = true;
                match raw_val {
                    None | Some("") => {}
                    Some("only") => c.fast_pattern_only = true,
                    Some(v) => {
                        // `fast_pattern:offset,length` (chop): accepted; the
                        // whole pattern is used for the prefilter, which is
                        // stricter and gives the same matches.
                        let ok = v.split(',').all(|p| p.trim().parse::<u32>().is_ok());
                        if !ok {
                            return Err(verr(format!(
                                "`fast_pattern` value `{v}` is not `only` or `offset,length`"
                            )));
                        }
                    }
                }
            }
            "isdataat" => {
                let v = need(raw_val, key, key_off)?;
                let mut parts = v.split(',').map(str::trim);
                let first = parts.next().unwrap_or("");
                let (negated, first) = match first.strip_prefix('!') {
                    Some(r) => (true, r.trim()),
                    None => (false, first),
                };
                let pos = self.val(first).map_err(verr)?;
                let mut relative = false;
                for p in parts {
                    match p {
                        "relative" => relative = true,
                        "rawbytes" => {}
                        other => return Err(verr(format!("unknown `isdataat` option `{other}`"))),
                    }
                }
                self.push(
                    rule,
                    self.current,
                    Inspect::IsDataAt {
                        pos,
                        relative,
                        negated,
                    },
                );
            }
            "bsize" => {
                let cmp = parse_cmp(need(raw_val, key, key_off)?).map_err(verr)?;
                self.push(rule, self.current, Inspect::Bsize(cmp));
            }
            "urilen" => {
                let v = need(raw_val, key, key_off)?;
                let (num, kind) = v.split_once(',').unwrap_or((v, "norm"));
                let buffer = match kind.trim() {
                    "norm" => Buffer::HttpUri,
                    "raw" => Buffer::HttpUriRaw,
                    other => {
                        return Err(verr(format!(
                            "`urilen` option must be norm or raw, found `{other}`"
                        )));
                    }
                };
                let cmp = parse_cmp(num).map_err(verr)?;
                let li = self.list(rule, buffer);
                rule.lists[li].items.insert(0, Inspect::Bsize(cmp));
                if let Some((l, i)) = self.last_content
                    && l == li
                {
                    self.last_content = Some((l, i + 1));
                }
            }
            "dsize" => rule.checks.push(PacketCheck::Dsize(
                parse_cmp(need(raw_val, key, key_off)?).map_err(verr)?,
            )),
            "itype" => rule.checks.push(PacketCheck::Itype(
                parse_cmp(need(raw_val, key, key_off)?).map_err(verr)?,
            )),
            "icode" => rule.checks.push(PacketCheck::Icode(
                parse_cmp(need(raw_val, key, key_off)?).map_err(verr)?,
            )),
            "ttl" => rule.checks.push(PacketCheck::Ttl(
                parse_cmp(need(raw_val, key, key_off)?).map_err(verr)?,
            )),
            "icmp_id" | "icmp_seq" => {
                let v = need(raw_val, key, key_off)?;
                let n: u16 = v
                    .trim()
                    .parse()
                    .map_err(|_| verr(format!("`{key}` expects a number 0-65535, found `{v}`")))?;
                rule.checks.push(if key == "icmp_id" {
                    PacketCheck::IcmpId(n)
                } else {
                    PacketCheck::IcmpSeq(n)
                });
            }
            "ip_proto" => {
                let v = need(raw_val, key, key_off)?;
                let n = match v {
                    "tcp" | "TCP" => 6,
                    "udp" | "UDP" => 17,
                    "icmp" | "ICMP" => 1,
                    "ipv6-icmp" => 58,
                    "gre" | "GRE" => 47,
                    "esp" | "ESP" => 50,
                    other => other.parse::<u8>().map_err(|_| {
                        verr(format!(
                            "`ip_proto` expects a protocol number or name, found `{other}`"
                        ))
                    })?,
                };
                rule.checks.push(PacketCheck::IpProto(n));
            }
            "flags" => rule.checks.push(PacketCheck::Flags(
                parse_flags(need(raw_val, key, key_off)?).map_err(verr)?,
            )),
            "flow" => {
                for p in need(raw_val, key, key_off)?.split(',').map(str::trim) {
                    match p {
                        "established" => rule.flow.established = Some(true),
                        "not_established" => rule.flow.established = Some(false),
                        "stateless" => rule.flow.stateless = true,
                        "to_server" | "from_client" => rule.flow.to_server = Some(true),
                        "to_client" | "from_server" => rule.flow.to_server = Some(false),
                        "only_stream" => rule.flow.only_stream = true,
                        "no_stream" => rule.flow.no_stream = true,
                        "no_frag" | "only_frag" => {}
                        other => {
                            return Err(verr(format!(
                                "unknown `flow` option `{other}`; expected established, not_established, stateless, to_server, to_client, from_server, from_client, only_stream or no_stream"
                            )));
                        }
                    }
                }
            }
            "flowbits" => {
                let v = need(raw_val, key, key_off)?;
                let (op, names) = match v.split_once(',') {
                    Some((o, n)) => (o.trim(), Some(n.trim())),
                    None => (v.trim(), None),
                };
                if op == "noalert" {
                    rule.noalert = true;
                    return Ok(());
                }
                let names = names
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| verr(format!("`flowbits:{op}` needs a flowbit name")))?;
                let mut ids = Vec::new();
                for n in names.split('|').map(str::trim) {
                    if n.is_empty() || n.contains(char::is_whitespace) {
                        return Err(verr(format!("bad flowbit name `{n}`")));
                    }
                    ids.push(self.names.flowbit(n));
                }
                let one = |ids: &Vec<usize>| -> Result<usize, OptError> {
                    match ids.as_slice() {
                        [id] => Ok(*id),
                        _ => Err(verr(format!(
                            "`flowbits:{op}` takes one name, not a `|` list"
                        ))),
                    }
                };
                rule.flowbits.push(match op {
                    "set" => FlowbitOp::Set(one(&ids)?),
                    "unset" => FlowbitOp::Unset(one(&ids)?),
                    "toggle" => FlowbitOp::Toggle(one(&ids)?),
                    "isset" => FlowbitOp::IsSet(ids),
                    "isnotset" => FlowbitOp::IsNotSet(ids),
                    other => return Err(verr(format!("unknown flowbits command `{other}`; expected set, unset, toggle, isset, isnotset or noalert"))),
                });
            }
            "threshold" => {
                if rule.threshold.is_some() || rule.detection_filter.is_some() {
                    return Err((
                        key_off,
                        "only one `threshold` or `detection_filter` per rule".into(),
                    ));
                }
                rule.threshold = Some(parse_threshold(need(raw_val, key, key_off)?).map_err(verr)?);
            }
            "detection_filter" => {
                if rule.threshold.is_some() || rule.detection_filter.is_some() {
                    return Err((
                        key_off,
                        "only one `threshold` or `detection_filter` per rule".into(),
                    ));
                }
                rule.detection_filter =
                    Some(parse_detection_filter(need(raw_val, key, key_off)?).map_err(verr)?);
            }
            "dns.opcode" => {
                let v = need(raw_val, key, key_off)?;
                let (negated, n) = match v.strip_prefix('!') {
                    Some(r) => (true, r.trim()),
                    None => (false, v),
                };
                let op: u8 = n
                    .parse()
                    .ok()
                    .filter(|o| *o < 16)
                    .ok_or_else(|| verr(format!("`dns.opcode` expects 0-15, found `{n}`")))?;
                let li = self.list(rule, Buffer::DnsOpcode);
                rule.lists[li].items.push(Inspect::ByteTest(ByteTest {
                    nbytes: 1,
                    negated,
                    op: ByteOp::Eq,
                    value: Val::Lit(i64::from(op)),
                    offset: Val::Lit(0),
                    relative: false,
                    format: NumFormat::Big,
                    bitmask: None,
                }));
            }
            "stream-event" => {
                let v = need(raw_val, key, key_off)?;
                let known = STREAM_EVENTS.iter().find(|e| **e == v.trim()).copied();
                match known {
                    Some(e) => rule.checks.push(PacketCheck::StreamEvent(e)),
                    None => {
                        return Err(verr(format!(
                            "stream event `{v}` is not raised by canhgac yet (known: {})",
                            STREAM_EVENTS.join(", ")
                        )));
                    }
                }
            }
            "app-layer-protocol" => {
                let v = need(raw_val, key, key_off)?;
                let (negated, name) = match v.strip_prefix('!') {
                    Some(n) => (true, n.trim()),
                    None => (false, v),
                };
                let (proto, special) = match name {
                    "failed" => (None, Some("failed")),
                    "unknown" => (None, Some("unknown")),
                    n => match AppProto::from_name(n) {
                        Some(p) => (Some(p), None),
                        None => {
                            return Err(verr(format!(
                                "app-layer protocol `{n}` is not parsed by canhgac yet"
                            )));
                        }
                    },
                };
                rule.checks.push(PacketCheck::AppLayerProtocol {
                    proto,
                    negated,
                    special,
                });
            }
            "dotprefix"
            | "to_lowercase"
            | "strip_whitespace"
            | "compress_whitespace"
            | "url_decode" => {
                no_value(raw_val)?;
                if self.current == Buffer::Payload {
                    return Err((
                        key_off,
                        format!(
                            "`{key}` transforms a sticky buffer; put it after one (e.g. `dns.query; {key};`)"
                        ),
                    ));
                }
                let t = match key {
                    "dotprefix" => Transform::DotPrefix,
                    "to_lowercase" => Transform::ToLowercase,
                    "strip_whitespace" => Transform::StripWhitespace,
                    "compress_whitespace" => Transform::CompressWhitespace,
                    _ => Transform::UrlDecode,
                };
                let li = self.list(rule, self.current);
                rule.lists[li].transforms.push(t);
            }
            "tls.subject" | "tls.issuerdn" => {
                let v = need(raw_val, key, key_off)?;
                let (negated, v) = match v.strip_prefix('!') {
                    Some(r) => (true, r.trim()),
                    None => (false, v),
                };
                let pattern = unquote(v).into_bytes();
                if pattern.is_empty() {
                    return Err(verr(format!("`{key}` is empty")));
                }
                let buffer = if key == "tls.subject" {
                    Buffer::TlsCertSubject
                } else {
                    Buffer::TlsCertIssuer
                };
                self.push(
                    rule,
                    buffer,
                    Inspect::Content(Content {
                        pattern,
                        nocase: false,
                        negated,
                        offset: None,
                        depth: None,
                        distance: None,
                        within: None,
                        startswith: false,
                        endswith: false,
                        fast_pattern: false,
                        fast_pattern_only: false,
                    }),
                );
                self.last_content = None;
            }
            "pcre" => {
                let (buffer, p) = parse_pcre(need(raw_val, key, key_off)?, val_off)?;
                let buffer = match buffer {
                    Some(b) => b,
                    None => self.current,
                };
                self.push(rule, buffer, Inspect::Pcre(p));
            }
            "byte_test" => {
                let bt = self
                    .parse_byte_test(need(raw_val, key, key_off)?)
                    .map_err(verr)?;
                self.push(rule, self.current, Inspect::ByteTest(bt));
            }
            "byte_jump" => {
                let bj = self
                    .parse_byte_jump(need(raw_val, key, key_off)?)
                    .map_err(verr)?;
                self.push(rule, self.current, Inspect::ByteJump(bj));
            }
            "byte_extract" => {
                let be = self
                    .parse_byte_extract(need(raw_val, key, key_off)?)
                    .map_err(verr)?;
                self.push(rule, self.current, Inspect::ByteExtract(be));
                rule.vars = self.var_names.len();
            }
            "" => return Err((key_off, "empty option (two `;` in a row?)".into())),
            other => {
                return Err((
                    key_off,
                    format!("keyword `{other}` is not supported by canhgac yet"),
                ));
            }
        }
        let _ = self.last_item;
        Ok(())
    }

    fn move_last_content(
        &mut self,
        rule: &mut Rule,
        to: Buffer,
        key_off: usize,
        key: &str,
    ) -> Result<(), OptError> {
        let Some((li, ii)) = self.last_content else {
            return Err(follow(key_off, key));
        };
        if rule.lists[li].buffer != Buffer::Payload {
            if rule.lists[li].buffer == to {
                return Ok(());
            }
            return Err((
                key_off,
                format!(
                    "`{key}` cannot move a content that is already in `{}`",
                    rule.lists[li].buffer.name()
                ),
            ));
        }
        let item = rule.lists[li].items.remove(ii);
        if rule.lists[li].items.is_empty() && li + 1 == rule.lists.len() {
            rule.lists.remove(li);
        }
        self.push(rule, to, item);
        Ok(())
    }

    fn parse_byte_test(&self, v: &str) -> Result<ByteTest, String> {
        let parts: Vec<&str> = v.split(',').map(str::trim).collect();
        if parts.len() < 4 {
            return Err("`byte_test` needs at least: bytes, operator, value, offset".into());
        }
        let nbytes = match parts[0] {
            "0" => 0,
            n => parse_nbytes(n)?,
        };
        let (negated, op) = match parts[1].strip_prefix('!') {
            Some(o) => (true, o),
            None => (false, parts[1]),
        };
        let op = match op {
            "<" => ByteOp::Lt,
            ">" => ByteOp::Gt,
            "<=" => ByteOp::Le,
            ">=" => ByteOp::Ge,
            "=" => ByteOp::Eq,
            "&" => ByteOp::And,
            "^" => ByteOp::Or,
            other => return Err(format!("unknown `byte_test` operator `{other}`")),
        };
        let value = match parse_u64_any(parts[2]) {
            Some(n) => Val::Lit(i64::try_from(n).unwrap_or(i64::MAX)),
            None => self.val(parts[2])?,
        };
        let offset = self.val(parts[3])?;
        let mut bt = ByteTest {
            nbytes,
            negated,
            op,
            value,
            offset,
            relative: false,
            format: NumFormat::Big,
            bitmask: None,
        };
        let mut num = NumSpec::default();
        for p in &parts[4..] {
            match *p {
                "relative" => bt.relative = true,
                w if num.take(w) => {}
                "dce" => return Err("`byte_test` with `dce` is not supported".into()),
                p if p.starts_with("bitmask") => bt.bitmask = Some(parse_bitmask(p)?),
                other => return Err(format!("unknown `byte_test` option `{other}`")),
            }
        }
        bt.format = num.format(nbytes, "byte_test")?;
        Ok(bt)
    }

    fn parse_byte_jump(&self, v: &str) -> Result<ByteJump, String> {
        let parts: Vec<&str> = v.split(',').map(str::trim).collect();
        if parts.len() < 2 {
            return Err("`byte_jump` needs at least: bytes, offset".into());
        }
        let nbytes = match parts[0] {
            "0" => 0,
            n => parse_nbytes(n)?,
        };
        let offset = self.val(parts[1])?;
        let mut bj = ByteJump {
            nbytes,
            offset,
            relative: false,
            format: NumFormat::Big,
            multiplier: 1,
            align: false,
            from_beginning: false,
            from_end: false,
            post_offset: 0,
            bitmask: None,
        };
        let mut num = NumSpec::default();
        for p in &parts[2..] {
            let (word, arg) = match p.split_once(char::is_whitespace) {
                Some((w, a)) => (w, Some(a.trim())),
                None => (*p, None),
            };
            match word {
                "relative" => bj.relative = true,
                w if num.take(w) => {}
                "align" => bj.align = true,
                "from_beginning" => bj.from_beginning = true,
                "from_end" => bj.from_end = true,
                "multiplier" => {
                    bj.multiplier = arg
                        .and_then(|a| a.parse().ok())
                        .ok_or("`multiplier` needs a number")?
                }
                "post_offset" => {
                    bj.post_offset = arg
                        .and_then(|a| a.parse().ok())
                        .ok_or("`post_offset` needs a number")?
                }
                "bitmask" => bj.bitmask = Some(parse_bitmask(p)?),
                "dce" => return Err("`byte_jump` with `dce` is not supported".into()),
                other => return Err(format!("unknown `byte_jump` option `{other}`")),
            }
        }
        bj.format = num.format(nbytes, "byte_jump")?;
        Ok(bj)
    }

    fn parse_byte_extract(&mut self, v: &str) -> Result<ByteExtract, String> {
        let parts: Vec<&str> = v.split(',').map(str::trim).collect();
        if parts.len() < 3 {
            return Err("`byte_extract` needs at least: bytes, offset, name".into());
        }
        let nbytes = parse_nbytes(parts[0])?;
        let offset: i64 = parts[1]
            .parse()
            .map_err(|_| format!("`byte_extract` offset `{}` is not a number", parts[1]))?;
        let name = parts[2];
        if name.is_empty() || name.parse::<i64>().is_ok() {
            return Err(format!(
                "`byte_extract` variable name `{name}` is not a name"
            ));
        }
        let mut be = ByteExtract {
            nbytes,
            offset,
            var: self.var_names.len(),
            relative: false,
            format: NumFormat::Big,
            multiplier: 1,
            align: 0,
            bitmask: None,
        };
        let mut num = NumSpec::default();
        for p in &parts[3..] {
            let (word, arg) = match p.split_once(char::is_whitespace) {
                Some((w, a)) => (w, Some(a.trim())),
                None => (*p, None),
            };
            match word {
                "relative" => be.relative = true,
                w if num.take(w) => {}
                "multiplier" => {
                    be.multiplier = arg
                        .and_then(|a| a.parse().ok())
                        .ok_or("`multiplier` needs a number")?
                }
                "align" => {
                    be.align = arg
                        .and_then(|a| a.parse().ok())
                        .filter(|a| *a == 2 || *a == 4)
                        .ok_or("`align` must be 2 or 4")?
                }
                "bitmask" => be.bitmask = Some(parse_bitmask(p)?),
                "dce" => return Err("`byte_extract` with `dce` is not supported".into()),
                other => return Err(format!("unknown `byte_extract` option `{other}`")),
            }
        }
        be.format = num.format(nbytes, "byte_extract")?;
        self.var_names.push(name.to_string());
        Ok(be)
    }
}

impl Rule {
    fn proto_is_ip_only(&self) -> bool {
        matches!(self.proto, super::rule::RuleProto::Ip)
    }
}

/// How a `byte_*` keyword reads its number: endianness, or ASCII digits in
/// a base (`string` with `hex`/`dec`/`oct`).
struct NumSpec {
    little: bool,
    string: bool,
    base: u32,
}

impl Default for NumSpec {
    fn default() -> Self {
        NumSpec {
            little: false,
            string: false,
            base: 10,
        }
    }
}

impl NumSpec {
    /// Takes a number-format word; false when `w` is something else.
    fn take(&mut self, w: &str) -> bool {
        match w {
            "big" => self.little = false,
            "little" => self.little = true,
            "string" => self.string = true,
            "hex" => self.base = 16,
            "dec" => self.base = 10,
            "oct" => self.base = 8,
            _ => return false,
        }
        true
    }

    fn format(&self, nbytes: usize, kw: &str) -> Result<NumFormat, String> {
        if self.string {
            Ok(NumFormat::String(self.base))
        } else if nbytes > 8 {
            Err(format!("`{kw}` reads at most 8 bytes unless `string`"))
        } else if self.little {
            Ok(NumFormat::Little)
        } else {
            Ok(NumFormat::Big)
        }
    }
}

fn follow(off: usize, key: &str) -> OptError {
    (off, format!("`{key}` must follow a `content`"))
}

fn parse_nbytes(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=10).contains(&n) => Ok(n),
        _ => Err(format!("number of bytes must be 1 to 10, found `{s}`")),
    }
}

fn parse_u64_any(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

fn parse_bitmask(p: &str) -> Result<u64, String> {
    let v = p.trim_start_matches("bitmask").trim();
    parse_u64_any(v).ok_or_else(|| format!("bad bitmask `{v}`"))
}

/// `N`, `!N`, `<N`, `<=N`, `>N`, `>=N`, `A<>B`, `A-B` (range).
pub fn parse_cmp(s: &str) -> Result<Cmp, String> {
    let s = s.trim();
    let num = |t: &str| -> Result<u64, String> {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{}` is not a number", t.trim()))
    };
    if let Some((a, b)) = s.split_once("<>") {
        let (a, b) = (num(a)?, num(b)?);
        if a >= b {
            return Err(format!("range `{s}`: the first number must be smaller"));
        }
        return Ok(Cmp::Range(a, b));
    }
    if let Some(r) = s.strip_prefix("<=") {
        return Ok(Cmp::Le(num(r)?));
    }
    if let Some(r) = s.strip_prefix(">=") {
        return Ok(Cmp::Ge(num(r)?));
    }
    if let Some(r) = s.strip_prefix('<') {
        return Ok(Cmp::Lt(num(r)?));
    }
    if let Some(r) = s.strip_prefix('>') {
        return Ok(Cmp::Gt(num(r)?));
    }
    if let Some(r) = s.strip_prefix('!') {
        return Ok(Cmp::Ne(num(r)?));
    }
    if let Some(r) = s.strip_prefix('=') {
        return Ok(Cmp::Eq(num(r)?));
    }
    Ok(Cmp::Eq(num(s)?))
}

fn flag_bit(c: char) -> Option<u8> {
    Some(match c.to_ascii_uppercase() {
        'F' => 0x01,
        'S' => 0x02,
        'R' => 0x04,
        'P' => 0x08,
        'A' => 0x10,
        'U' => 0x20,
        'E' | '2' => 0x40,
        'C' | '1' => 0x80,
        '0' => 0,
        _ => return None,
    })
}

fn parse_flags(v: &str) -> Result<FlagsMatch, String> {
    let (main, ignore) = match v.split_once(',') {
        Some((m, i)) => (m.trim(), Some(i.trim())),
        None => (v.trim(), None),
    };
    let mut m = FlagsMatch {
        flags: 0,
        modifier: None,
        ignore: 0,
    };
    for c in main.chars() {
        match c {
            '+' | '*' | '!' => m.modifier = Some(c),
            c => m.flags |= flag_bit(c).ok_or_else(|| format!("unknown TCP flag `{c}`"))?,
        }
    }
    if let Some(ig) = ignore {
        for c in ig.chars() {
            m.ignore |= flag_bit(c).ok_or_else(|| format!("unknown TCP flag `{c}`"))?;
        }
    }
    Ok(m)
}

/// Strips quotes and backslash escapes.
pub fn unquote(v: &str) -> String {
    let v = v.trim();
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses `content`'s value: `[!]"text|hex|text"`.
pub fn parse_content(v: &str, off: usize) -> Result<Content, OptError> {
    let (negated, rest, off) = match v.strip_prefix('!') {
        Some(r) => (
            true,
            r.trim_start(),
            off + 1 + (r.len() - r.trim_start().len()),
        ),
        None => (false, v, off),
    };
    let Some(inner) = rest.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return Err((
            off,
            "`content` expects a quoted string, e.g. content:\"GET\";".into(),
        ));
    };
    let mut pattern = Vec::new();
    let bytes = inner.as_bytes();
    let mut i = 0;
    let mut in_hex = false;
    let mut hex_digit: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        let here = off + 1 + i;
        if in_hex {
            match b {
                b'|' => {
                    if hex_digit.is_some() {
                        return Err((here, "odd number of hex digits in `|...|`".into()));
                    }
                    in_hex = false;
                }
                b' ' | b'\t' => {}
                _ => {
                    let Some(d) = (b as char).to_digit(16) else {
                        return Err((here, format!("`{}` is not a hex digit", b as char)));
                    };
                    match hex_digit.take() {
                        Some(h) => pattern.push(h * 16 + d as u8),
                        None => hex_digit = Some(d as u8),
                    }
                }
            }
        } else {
            match b {
                b'|' => in_hex = true,
                b'\\' => {
                    i += 1;
                    match bytes.get(i) {
                        Some(&e @ (b'"' | b';' | b'\\' | b':' | b'|')) => pattern.push(e),
                        _ => {
                            return Err((
                                here,
                                "unknown escape; use \\\" \\; \\\\ \\: or |hex|".into(),
                            ));
                        }
                    }
                }
                b'"' => return Err((here, "unescaped `\"` inside content; write \\\"".into())),
                _ => pattern.push(b),
            }
        }
        i += 1;
    }
    if in_hex {
        return Err((off + inner.len(), "`|` hex block is not closed".into()));
    }
    if pattern.is_empty() {
        return Err((off, "`content` is empty".into()));
    }
    Ok(Content {
        pattern,
        nocase: false,
        negated,
        offset: None,
        depth: None,
        distance: None,
        within: None,
        startswith: false,
        endswith: false,
        fast_pattern: false,
        fast_pattern_only: false,
    })
}

/// Parses `pcre`'s value `[!]"/regex/flags"` into a regex over bytes and
/// the buffer its flags select (if any).
pub fn parse_pcre(v: &str, off: usize) -> Result<(Option<Buffer>, Pcre), OptError> {
    let (negated, rest) = match v.strip_prefix('!') {
        Some(r) => (true, r.trim_start()),
        None => (false, v),
    };
    let Some(inner) = rest.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return Err((off, "`pcre` expects a quoted \"/regex/flags\"".into()));
    };
    // Content-style escapes of the rule language: \" and \;
    let inner = inner.replace("\\;", ";").replace("\\\"", "\"");
    let Some(body) = inner.strip_prefix('/') else {
        return Err((
            off,
            "`pcre` must start with `/`, e.g. pcre:\"/abc/i\"".into(),
        ));
    };
    let Some(end) = body.rfind('/') else {
        return Err((off, "`pcre` has no closing `/`".into()));
    };
    let (pattern, flags) = (&body[..end], &body[end + 1..]);
    let mut inline = String::new();
    let mut anchored = false;
    let mut relative = false;
    let mut buffer = None;
    for f in flags.chars() {
        match f {
            'i' | 's' | 'm' | 'x' => inline.push(f),
            'A' => anchored = true,
            'E' | 'O' | 'B' => {}
            'G' => inline.push('U'),
            'R' => relative = true,
            c => match Buffer::pcre_flag(c) {
                Some(b) => {
                    if buffer.is_some() {
                        return Err((off, "`pcre` may name only one buffer flag".into()));
                    }
                    buffer = Some(b);
                }
                None => return Err((off, format!("unknown `pcre` flag `{c}`"))),
            },
        }
    }
    let mut src = String::new();
    if !inline.is_empty() {
        src.push_str(&format!("(?{inline})"));
    }
    if anchored {
        src.push_str("\\A(?:");
    }
    src.push_str(&translate_pcre(pattern));
    if anchored {
        src.push(')');
    }
    let regex = match regex::bytes::RegexBuilder::new(&src)
        .unicode(false)
        .size_limit(8 << 20)
        .build()
    {
        Ok(r) => PcreRe::Regex(r),
        Err(_) => {
            // Back-references, look-around and other PCRE-only syntax.
            let mut b = pcre2::bytes::RegexBuilder::new();
            b.jit_if_available(true);
            let mut p2 = String::new();
            if !inline.is_empty() {
                p2.push_str(&format!("(?{inline})"));
            }
            if anchored {
                p2.push_str("\\A(?:");
            }
            p2.push_str(pattern);
            if anchored {
                p2.push(')');
            }
            match b.build(&p2) {
                Ok(r) => PcreRe::Pcre2(std::sync::Arc::new(r)),
                Err(e) => {
                    return Err((off, format!("`pcre` /{pattern}/ cannot be compiled: {e}")));
                }
            }
        }
    };
    Ok((
        buffer,
        Pcre {
            source: pattern.to_string(),
            regex,
            negated,
            relative,
        },
    ))
}

/// Rewrites the few PCRE spellings the `regex` crate reads differently.
fn translate_pcre(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 8);
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                // PCRE's \Z: end or before a final newline.
                Some('Z') => out.push_str("(?:\\n?\\z)"),
                Some('/') => out.push('/'),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push_str("\\\\"),
            }
        } else if c == '{' {
            // PCRE reads `{` that does not start `{n}`, `{n,}` or `{n,m}`
            // as a literal; the regex crate wants it escaped.
            let rest: String = chars.clone().take(24).collect();
            let close = rest.find('}');
            let valid = close.is_some_and(|e| {
                let inner = &rest[..e];
                let (a, b) = inner.split_once(',').unwrap_or((inner, "0"));
                !a.is_empty()
                    && a.bytes().all(|x| x.is_ascii_digit())
                    && b.bytes().all(|x| x.is_ascii_digit())
            });
            if valid {
                out.push('{');
            } else {
                out.push_str("\\{");
            }
        } else if c == '}' {
            // a `}` that closes nothing is literal too
            let opened = out
                .rfind('{')
                .is_some_and(|o| !out[o..].contains('}') && !out[..o].ends_with('\\'));
            if opened {
                out.push('}');
            } else {
                out.push_str("\\}");
            }
        } else {
            out.push(c);
        }
    }
    out
}
