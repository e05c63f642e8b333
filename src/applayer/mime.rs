//! MIME message parsing: RFC 5322 headers, RFC 2045/2046 bodies and
//! multiparts, RFC 2047 encoded words and RFC 2231 parameters.
//!
//! Mail (SMTP `DATA`) and HTTP uploads (`multipart/form-data`) both carry
//! files inside MIME entities, and that is where incident response looks for
//! the droppers: the macro document attached to a phishing mail, the web
//! shell posted to an upload form. This module turns a complete message (or a
//! multipart body) into its leaf parts with their decoded bytes and file
//! names, so that the caller can hash, scan and extract them.
//!
//! How it works:
//! - A header block ends at the first empty line (CRLF or bare LF). Folded
//!   lines are unfolded. A line that is neither a header nor a continuation
//!   ends the block early and starts the body (as Python's `email` does), so
//!   a part that forgot its blank line still has its content seen.
//! - Multipart bodies are cut at delimiter lines (`--boundary`, optionally
//!   followed by `--` and white space) that start a line; the line break
//!   before a delimiter belongs to it, so a part's bytes are exact. Nested
//!   multiparts and `message/rfc822` parts (forwarded mail) are parsed in turn,
//!   so the attachments of a forwarded mail are found too.
//! - Leaf bodies are decoded from base64 or quoted-printable; anything else is
//!   kept as is. Character sets are not converted, except in header texts
//!   (UTF-8, and Latin-1 / US-ASCII mapped byte for byte).
//!
//! Everything is bounded by [`MimeLimits`]: nesting depth (recursion is at
//! most `max_depth` containers deep), number of parts, decoded bytes kept per
//! part and headers per entity. Decoding never grows data, so the memory used
//! is at most a small multiple of the input. Nothing here panics on malformed
//! input: problems become snake_case [`MimeMessage::anomalies`] instead.
//!
//! Choices worth knowing:
//! - A container at the depth limit, or a multipart without a boundary, is
//!   kept as a leaf with its raw body, so the bytes stay visible to scanners.
//! - `message/rfc822` parts are containers, not leaves: their inner parts are
//!   listed instead of the `.eml` itself.
//! - Quoted parameter values unescape only `\"` and `\\` (as browsers write
//!   them), so a Windows path in `filename="C:\x\y.doc"` stays intact.
//! - An empty file name counts as no file name.

use std::borrow::Cow;

use memchr::{memchr, memmem};

/// Longest charset name accepted in an RFC 2047 encoded word.
const MAX_CHARSET: usize = 64;
/// Most RFC 2231 continuation segments assembled for one parameter.
const MAX_SEGMENTS: usize = 64;

/// Bounds on what one message may cost.
#[derive(Debug, Clone, Copy)]
pub struct MimeLimits {
    /// Deepest nesting of multiparts and forwarded messages that is parsed.
    pub max_depth: u8,
    /// Most leaf parts kept per message.
    pub max_parts: usize,
    /// Most decoded bytes kept per part; longer parts are cut and flagged.
    pub max_part_size: usize,
    /// Most headers kept per entity.
    pub max_headers: usize,
}

impl Default for MimeLimits {
    fn default() -> Self {
        MimeLimits {
            max_depth: 8,
            max_parts: 64,
            max_part_size: 16 * 1024 * 1024,
            max_headers: 256,
        }
    }
}

/// One leaf entity of a message: a text body, an attachment or a form field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MimePart {
    /// File name from `Content-Disposition` (`filename`, `filename*`) or
    /// `Content-Type` (`name`), RFC 2231 and RFC 2047 decoded.
    pub filename: Option<String>,
    /// `Content-Disposition` `name` (the field of `multipart/form-data`).
    pub field_name: Option<String>,
    /// Lowercased `type/subtype`, `text/plain` by default.
    pub content_type: String,
    /// Lowercased `Content-Transfer-Encoding`, `7bit` by default.
    pub encoding: String,
    /// Disposition `attachment`, or a file name is present.
    pub attachment: bool,
    /// Decoded body, at most [`MimeLimits::max_part_size`] bytes.
    pub data: Vec<u8>,
    /// The body was longer than [`MimeLimits::max_part_size`].
    pub truncated: bool,
}

/// A parsed message: top-level headers, leaf parts and what looked wrong.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MimeMessage {
    /// Top-level headers in order: lowercased names, unfolded raw values.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Leaf parts in document order (a non-multipart message has one).
    pub parts: Vec<MimePart>,
    /// Each anomaly seen, once, e.g. `missing_boundary`, `part_truncated`.
    pub anomalies: Vec<&'static str>,
}

impl MimeMessage {
    /// Raw value of the first top-level header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// [`Self::header`] with RFC 2047 encoded words decoded.
    pub fn header_text(&self, name: &str) -> Option<String> {
        self.header(name).map(decode_encoded_words)
    }

    /// Parts that are attachments (disposition `attachment` or a file name).
    pub fn attachments(&self) -> impl Iterator<Item = &MimePart> {
        self.parts.iter().filter(|p| p.attachment)
    }
}

/// Parses a complete message (headers, empty line, body).
pub fn parse_message(raw: &[u8], limits: &MimeLimits) -> MimeMessage {
    let mut p = Parser::new(limits);
    let (headers, body) = parse_headers(raw, limits.max_headers, &mut p.anomalies);
    p.entity(&headers, body, 0, "text/plain");
    MimeMessage {
        headers,
        parts: p.parts,
        anomalies: p.anomalies,
    }
}

/// Parses an HTTP `multipart/form-data` body: `content_type` is the request's
/// `Content-Type` value (the boundary is read from it), `body` the dechunked
/// request body. The returned message has no headers.
pub fn parse_multipart(content_type: &[u8], body: &[u8], limits: &MimeLimits) -> MimeMessage {
    let mut p = Parser::new(limits);
    let headers = [("content-type".to_owned(), content_type.to_vec())];
    p.entity(&headers, body, 0, "text/plain");
    MimeMessage {
        headers: Vec::new(),
        parts: p.parts,
        anomalies: p.anomalies,
    }
}

/// Value of parameter `param` (any case) of a header value such as
/// `attachment; filename="a.doc"`: quoted or token, or RFC 2231 extended
/// (`param*=charset''percent%20encoded`, continuations `param*0*=`,
/// `param*1=`…), which wins over the plain form.
pub fn header_param(value: &[u8], param: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    let mut segments: Vec<(u32, bool, Vec<u8>)> = Vec::new();
    for (name, val) in Params::new(value) {
        let Some(rest) = strip_prefix_ci(name, param.as_bytes()) else {
            continue;
        };
        match rest {
            b"" => {
                plain.get_or_insert(val);
            }
            b"*" => {
                extended.get_or_insert(val);
            }
            [b'*', index @ ..] => {
                let (digits, encoded) = match index.strip_suffix(b"*") {
                    Some(d) => (d, true),
                    None => (index, false),
                };
                let number = std::str::from_utf8(digits)
                    .ok()
                    .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|d| d.parse().ok());
                if let Some(n) = number
                    && segments.len() < MAX_SEGMENTS
                {
                    segments.push((n, encoded, val.into_owned()));
                }
            }
            _ => {}
        }
    }
    if let Some(ext) = extended {
        let (charset, text) = split_charset(&ext);
        return Some(decode_charset(charset, &percent_decode(text)));
    }
    if !segments.is_empty() {
        segments.sort_by_key(|s| s.0);
        segments.dedup_by_key(|s| s.0);
        let mut charset: &[u8] = b"utf-8";
        let mut bytes = Vec::new();
        for (i, (_, encoded, text)) in segments.iter().enumerate() {
            if !encoded {
                bytes.extend_from_slice(text);
                continue;
            }
            let text = if i == 0 {
                let (cs, rest) = split_charset(text);
                charset = cs;
                rest
            } else {
                text
            };
            bytes.extend_from_slice(&percent_decode(text));
        }
        return Some(decode_charset(charset, &bytes));
    }
    plain.map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// Decodes RFC 2047 encoded words (`=?charset?B?…?=`, `=?charset?Q?…?=`) in a
/// header value; other text is kept. Adjacent encoded words separated only by
/// white space are joined (their bytes first, so a character split between
/// two words survives). UTF-8 and unknown charsets are read as UTF-8 (lossy),
/// ISO-8859-1 and US-ASCII byte for byte.
pub fn decode_encoded_words(value: &[u8]) -> String {
    let mut out = String::new();
    let mut pending = Vec::new();
    let mut pending_charset: &[u8] = b"";
    let mut copied = 0;
    let mut last_word_end = None;
    let mut search = 0;
    while let Some(start) = value
        .get(search..)
        .and_then(|v| memmem::find(v, b"=?"))
        .map(|o| search + o)
    {
        let Some((charset, decoded, len)) = value.get(start..).and_then(parse_encoded_word) else {
            search = start + 1;
            continue;
        };
        let between = value.get(copied..start).unwrap_or_default();
        let adjacent = last_word_end == Some(copied) && between.iter().all(u8::is_ascii_whitespace);
        if !adjacent || !charset.eq_ignore_ascii_case(pending_charset) {
            out.push_str(&decode_charset(pending_charset, &pending));
            pending.clear();
        }
        if !adjacent {
            out.push_str(&String::from_utf8_lossy(between));
        }
        pending.extend_from_slice(&decoded);
        pending_charset = charset;
        copied = start + len;
        search = copied;
        last_word_end = Some(copied);
    }
    out.push_str(&decode_charset(pending_charset, &pending));
    out.push_str(&String::from_utf8_lossy(
        value.get(copied..).unwrap_or_default(),
    ));
    out
}

/// Appends the base64 decoding of `data` to `out`, at most `limit` bytes.
/// White space and line breaks are skipped, decoding stops at the first `=`
/// (padding). Returns false if other invalid characters (skipped) or a
/// dangling sixth of a byte were seen; what could be decoded is kept anyway.
pub fn decode_base64_lenient(data: &[u8], out: &mut Vec<u8>, limit: usize) -> bool {
    let cap = out.len().saturating_add(limit);
    out.reserve((data.len() / 4 * 3 + 2).min(limit));
    let mut valid = true;
    let mut acc: u32 = 0;
    let mut n = 0;
    for &b in data {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => {
                valid = false;
                continue;
            }
        };
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&acc.to_be_bytes()[1..]);
            (acc, n) = (0, 0);
            if out.len() >= cap {
                out.truncate(cap);
                return valid;
            }
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&((acc >> 2) as u16).to_be_bytes()),
        1 => valid = false,
        _ => {}
    }
    out.truncate(cap);
    valid
}

/// Appends the quoted-printable decoding of `data` to `out`, at most `limit`
/// bytes: `=XX` (either case) becomes the byte, `=` before a line break
/// (CRLF or LF, trailing blanks allowed) or at the very end is a soft break
/// and vanishes; any other `=` is kept literally.
pub fn decode_quoted_printable(data: &[u8], out: &mut Vec<u8>, limit: usize) {
    let cap = out.len().saturating_add(limit);
    let mut rest = data;
    loop {
        let literal = memchr(b'=', rest).unwrap_or(rest.len());
        let take = literal.min(cap.saturating_sub(out.len()));
        out.extend_from_slice(rest.get(..take).unwrap_or_default());
        if take < literal || out.len() >= cap {
            return;
        }
        let Some(after) = rest.get(literal + 1..) else {
            return;
        };
        if let Some(b) = hex_pair(after) {
            out.push(b);
            rest = after.get(2..).unwrap_or_default();
            continue;
        }
        let blanks = after
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        rest = match after.get(blanks..).unwrap_or_default() {
            [b'\r', b'\n', tail @ ..] | [b'\n', tail @ ..] => tail,
            [] => return,
            _ => {
                out.push(b'=');
                after
            }
        };
    }
}

/// Walks one message's entities, collecting leaves and anomalies.
struct Parser<'l> {
    limits: &'l MimeLimits,
    parts: Vec<MimePart>,
    anomalies: Vec<&'static str>,
    /// `max_parts` was reached: the remaining input is skipped.
    full: bool,
}

impl<'l> Parser<'l> {
    fn new(limits: &'l MimeLimits) -> Self {
        Parser {
            limits,
            parts: Vec::new(),
            anomalies: Vec::new(),
            full: false,
        }
    }

    /// One entity, `depth` containers deep; `default_type` applies when it
    /// has no usable `Content-Type` (`message/rfc822` inside a digest).
    fn entity(
        &mut self,
        headers: &[(String, Vec<u8>)],
        body: &[u8],
        depth: u8,
        default_type: &str,
    ) {
        if self.parts.len() >= self.limits.max_parts {
            self.full = true;
            note(&mut self.anomalies, "too_many_parts");
            return;
        }
        let ct_value = find_header(headers, "content-type");
        let content_type = ct_value
            .map(main_value)
            .filter(|t| t.contains('/'))
            .unwrap_or_else(|| default_type.to_owned());
        let encoding = find_header(headers, "content-transfer-encoding")
            .map(main_value)
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "7bit".to_owned());
        let multipart = content_type.starts_with("multipart/");
        let message = matches!(content_type.as_str(), "message/rfc822" | "message/global");
        if multipart || message {
            let boundary = || {
                ct_value
                    .and_then(|v| header_param(v, "boundary"))
                    .filter(|b| !b.is_empty())
            };
            if depth >= self.limits.max_depth {
                note(&mut self.anomalies, "depth_exceeded");
            } else if message {
                let inner = self.decode(&encoding, body, body.len());
                let (headers, body) =
                    parse_headers(&inner, self.limits.max_headers, &mut self.anomalies);
                return self.entity(&headers, body, depth + 1, "text/plain");
            } else if let Some(boundary) = boundary() {
                let inner = self.decode(&encoding, body, body.len());
                let default = match content_type.as_str() {
                    "multipart/digest" => "message/rfc822",
                    _ => "text/plain",
                };
                return self.multipart(&inner, boundary.as_bytes(), depth + 1, default);
            } else {
                note(&mut self.anomalies, "missing_boundary");
            }
        }
        self.leaf(headers, content_type, encoding, body);
    }

    /// Splits a multipart body at its delimiter lines; parts are `depth` deep.
    fn multipart(&mut self, body: &[u8], boundary: &[u8], depth: u8, default_type: &str) {
        let delimiter = [b"--", boundary].concat();
        let finder = memmem::Finder::new(&delimiter);
        let mut part_start = None;
        let mut search = 0;
        while let Some(at) = body
            .get(search..)
            .and_then(|b| finder.find(b))
            .map(|o| search + o)
        {
            search = at + 1;
            if at > 0 && body.get(at - 1) != Some(&b'\n') {
                continue;
            }
            let after = body.get(at + delimiter.len()..).unwrap_or_default();
            let (close, after) = match after.strip_prefix(b"--") {
                Some(rest) => (true, rest),
                None => (false, after),
            };
            let blanks = after
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
            let eol = match after.get(blanks..).unwrap_or_default() {
                [] => 0,
                [b'\r', b'\n', ..] => 2,
                [b'\n', ..] | [b'\r'] => 1,
                _ => continue,
            };
            if let Some(start) = part_start {
                let mut end = at;
                if end > start && body.get(end - 1) == Some(&b'\n') {
                    end -= 1;
                    if end > start && body.get(end - 1) == Some(&b'\r') {
                        end -= 1;
                    }
                }
                self.part(
                    body.get(start..end).unwrap_or_default(),
                    depth,
                    default_type,
                );
                if self.full {
                    return;
                }
            }
            if close {
                return;
            }
            search = body.len() - after.len() + blanks + eol;
            part_start = Some(search);
        }
        note(&mut self.anomalies, "unterminated_multipart");
        if let Some(start) = part_start {
            self.part(body.get(start..).unwrap_or_default(), depth, default_type);
        }
    }

    /// One body part of a multipart: its own headers, then its content.
    fn part(&mut self, raw: &[u8], depth: u8, default_type: &str) {
        let (headers, body) = parse_headers(raw, self.limits.max_headers, &mut self.anomalies);
        self.entity(&headers, body, depth, default_type);
    }

    fn leaf(
        &mut self,
        headers: &[(String, Vec<u8>)],
        content_type: String,
        encoding: String,
        body: &[u8],
    ) {
        let max = self.limits.max_part_size;
        let mut data = self
            .decode(&encoding, body, max.saturating_add(1))
            .into_owned();
        let truncated = data.len() > max;
        if truncated {
            data.truncate(max);
            note(&mut self.anomalies, "part_truncated");
        }
        let disposition = find_header(headers, "content-disposition");
        let filename = disposition
            .and_then(|d| header_param(d, "filename"))
            .or_else(|| find_header(headers, "content-type").and_then(|c| header_param(c, "name")))
            .map(|f| decode_encoded_words(f.as_bytes()))
            .filter(|f| !f.is_empty());
        self.parts.push(MimePart {
            attachment: filename.is_some()
                || disposition.map(main_value).as_deref() == Some("attachment"),
            filename,
            field_name: disposition.and_then(|d| header_param(d, "name")),
            content_type,
            encoding,
            data,
            truncated,
        });
    }

    /// Body decoded per its transfer encoding, at most `limit` bytes.
    fn decode<'b>(&mut self, encoding: &str, body: &'b [u8], limit: usize) -> Cow<'b, [u8]> {
        match encoding {
            "base64" => {
                let mut out = Vec::new();
                if !decode_base64_lenient(body, &mut out, limit) {
                    note(&mut self.anomalies, "invalid_base64");
                }
                Cow::Owned(out)
            }
            "quoted-printable" => {
                let mut out = Vec::with_capacity(body.len().min(limit));
                decode_quoted_printable(body, &mut out, limit);
                Cow::Owned(out)
            }
            _ => Cow::Borrowed(body.get(..limit).unwrap_or(body)),
        }
    }
}

/// Records an anomaly once.
fn note(anomalies: &mut Vec<&'static str>, anomaly: &'static str) {
    if !anomalies.contains(&anomaly) {
        anomalies.push(anomaly);
    }
}

/// Splits the header block off `raw`: unfolded headers (at most `max`) and
/// the body after the empty line (or after the first line that is no header).
fn parse_headers<'r>(
    raw: &'r [u8],
    max: usize,
    anomalies: &mut Vec<&'static str>,
) -> (Vec<(String, Vec<u8>)>, &'r [u8]) {
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    let mut dropping = false;
    let mut rest = raw;
    while !rest.is_empty() {
        let (line, next) = match memchr(b'\n', rest) {
            Some(i) => (
                rest.get(..i).unwrap_or_default(),
                rest.get(i + 1..).unwrap_or_default(),
            ),
            None => (rest, &[][..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match line.first() {
            None => {
                rest = next;
                break;
            }
            Some(b' ' | b'\t') => match headers.last_mut() {
                Some((_, value)) if !dropping => value.extend_from_slice(line),
                Some(_) => {}
                None => {
                    note(anomalies, "invalid_header");
                    break;
                }
            },
            Some(_) => {
                if let Some((name, value)) = split_header(line) {
                    dropping = headers.len() >= max;
                    if dropping {
                        note(anomalies, "too_many_headers");
                    } else {
                        headers.push((name, value.to_vec()));
                    }
                } else if !(rest.len() == raw.len() && line.starts_with(b"From ")) {
                    note(anomalies, "invalid_header");
                    break;
                }
            }
        }
        rest = next;
    }
    for (_, value) in &mut headers {
        let len = value.trim_ascii_end().len();
        value.truncate(len);
    }
    (headers, rest)
}

/// `name: value` with a valid field name (printable ASCII, no space).
fn split_header(line: &[u8]) -> Option<(String, &[u8])> {
    let colon = memchr(b':', line)?;
    let name = line.get(..colon)?.trim_ascii();
    if name.is_empty() || !name.iter().all(|b| (33..=126).contains(b)) {
        return None;
    }
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    Some((name, line.get(colon + 1..)?.trim_ascii()))
}

fn find_header<'h>(headers: &'h [(String, Vec<u8>)], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
}

/// The part of a structured header value before its parameters, lowercased.
fn main_value(value: &[u8]) -> String {
    let end = memchr(b';', value).unwrap_or(value.len());
    String::from_utf8_lossy(value.get(..end).unwrap_or_default().trim_ascii()).to_ascii_lowercase()
}

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// `name=value` parameters after the first `;` of a header value, with
/// quoted values unquoted.
struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Params<'a> {
    fn new(value: &'a [u8]) -> Self {
        let start = memchr(b';', value).map_or(value.len(), |i| i + 1);
        Params {
            rest: value.get(start..).unwrap_or_default(),
        }
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = (&'a [u8], Cow<'a, [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.rest;
            if rest.is_empty() {
                return None;
            }
            let Some(eq) = rest.iter().position(|&b| b == b'=' || b == b';') else {
                self.rest = &[];
                return None;
            };
            let name = rest.get(..eq).unwrap_or_default().trim_ascii();
            let after = rest.get(eq + 1..).unwrap_or_default();
            if rest.get(eq) == Some(&b';') {
                self.rest = after;
                continue;
            }
            let after = after.trim_ascii();
            let value = if let Some(quoted) = after.strip_prefix(b"\"") {
                let (value, used) = unquote(quoted);
                let tail = quoted.get(used..).unwrap_or_default();
                self.rest = memchr(b';', tail)
                    .and_then(|i| tail.get(i + 1..))
                    .unwrap_or_default();
                value
            } else {
                let end = memchr(b';', after).unwrap_or(after.len());
                self.rest = after.get(end + 1..).unwrap_or_default();
                Cow::Borrowed(after.get(..end).unwrap_or_default().trim_ascii())
            };
            return Some((name, value));
        }
    }
}

/// Content of a quoted string (after its opening quote) and the bytes used,
/// closing quote included. Only `\"` and `\\` are escapes.
fn unquote(s: &[u8]) -> (Cow<'_, [u8]>, usize) {
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match (b, s.get(i + 1)) {
            (b'"', _) => {
                let value = out.map_or(Cow::Borrowed(s.get(..i).unwrap_or_default()), Cow::Owned);
                return (value, i + 1);
            }
            (b'\\', Some(&e @ (b'"' | b'\\'))) => {
                out.get_or_insert_with(|| s.get(..i).unwrap_or_default().to_vec())
                    .push(e);
                i += 2;
            }
            _ => {
                if let Some(o) = out.as_mut() {
                    o.push(b);
                }
                i += 1;
            }
        }
    }
    (out.map_or(Cow::Borrowed(s), Cow::Owned), s.len())
}

/// `charset'language'text` of RFC 2231; without the quotes all is text.
fn split_charset(value: &[u8]) -> (&[u8], &[u8]) {
    let mut pieces = value.splitn(3, |&b| b == b'\'');
    match (pieces.next(), pieces.next(), pieces.next()) {
        (Some(charset), Some(_), Some(text)) => (charset, text),
        _ => (b"utf-8", value),
    }
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%'
            && let Some(v) = s.get(i + 1..).and_then(hex_pair)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

/// The byte written as two hex digits at the start of `s`.
fn hex_pair(s: &[u8]) -> Option<u8> {
    let digit = |b: &u8| (*b as char).to_digit(16);
    let (hi, lo) = (digit(s.first()?)?, digit(s.get(1)?)?);
    Some((hi * 16 + lo) as u8)
}

/// Text of `bytes` in `charset` (an RFC 2231 `*language` suffix allowed).
fn decode_charset(charset: &[u8], bytes: &[u8]) -> String {
    let name = charset.split(|&b| b == b'*').next().unwrap_or_default();
    let latin1 = [
        &b"iso-8859-1"[..],
        b"iso8859-1",
        b"latin1",
        b"latin-1",
        b"us-ascii",
        b"ascii",
    ]
    .iter()
    .any(|l| name.eq_ignore_ascii_case(l));
    if latin1 {
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// An encoded word at the start of `s`: its charset, decoded bytes and length.
fn parse_encoded_word(s: &[u8]) -> Option<(&[u8], Vec<u8>, usize)> {
    let rest = s.strip_prefix(b"=?")?;
    let q = memchr(b'?', rest)?;
    let charset = rest.get(..q)?;
    if charset.is_empty()
        || charset.len() > MAX_CHARSET
        || charset.iter().any(u8::is_ascii_whitespace)
    {
        return None;
    }
    let (encoding, body) = match rest.get(q + 1..)? {
        [e, b'?', body @ ..] => (e.to_ascii_uppercase(), body),
        _ => return None,
    };
    let end = memmem::find(body, b"?=")?;
    let text = body.get(..end)?;
    if text.iter().any(u8::is_ascii_whitespace) {
        return None;
    }
    let mut decoded = Vec::with_capacity(text.len());
    match encoding {
        b'B' => {
            decode_base64_lenient(text, &mut decoded, text.len());
        }
        b'Q' => {
            let mut i = 0;
            while let Some(&b) = text.get(i) {
                match (b, text.get(i + 1..).and_then(hex_pair)) {
                    (b'=', Some(v)) => {
                        decoded.push(v);
                        i += 3;
                        continue;
                    }
                    (b'_', _) => decoded.push(b' '),
                    _ => decoded.push(b),
                }
                i += 1;
            }
        }
        _ => return None,
    }
    Some((charset, decoded, s.len() - body.len() + end + 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    /// `text` with every LF turned into CRLF, as mail travels.
    fn crlf(text: &str) -> Vec<u8> {
        text.replace('\n', "\r\n").into_bytes()
    }

    const DOCM: &[u8] = b"PK\x03\x04\x14\x00\x06\x00vbaProject.bin\x00\xff\xfe";
    const EXE: &[u8] = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00";

    fn phishing_mail() -> Vec<u8> {
        crlf(concat!(
            "Return-Path: <an.nguyen@example.vn>\n",
            "From: =?UTF-8?B?Tmd1eeG7hW4gVsSDbiBBbg==?= <an.nguyen@example.vn>\n",
            "To: \"Tr\u{1ea7}n, B\u{ec}nh\" <binh@example.vn>, chi@example.vn\n",
            "Subject: =?UTF-8?B?Q8O0bmcgdsSDbiBraOG6qW4=?=\n",
            "MIME-Version: 1.0\n",
            "Content-Type: multipart/mixed;\n",
            "\tboundary=\"----=_Part_0_123\"\n",
            "\n",
            "This is a multi-part message in MIME format.\n",
            "------=_Part_0_123\n",
            "Content-Type: multipart/alternative; boundary=alt-b\n",
            "\n",
            "--alt-b\n",
            "Content-Type: text/plain; charset=utf-8\n",
            "Content-Transfer-Encoding: quoted-printable\n",
            "\n",
            "K=C3=ADnh g=E1=BB=ADi anh ch=E1=BB=8B,\n",
            "=C4=90=E1=BB=81 ngh=E1=BB=8B m=E1=BB=9F t=E1=BB=87p =C4=91=C3=ADnh k=C3=A8m=\n",
            " tr=C6=B0=E1=BB=9Bc 17h h=C3=B4m nay.\n",
            "--alt-b\n",
            "Content-Type: TEXT/HTML; charset=utf-8\n",
            "Content-Transfer-Encoding: Base64\n",
            "\n",
            "PHA+S8OtbmggZ+G7rWk8L3A+\n",
            "--alt-b--\n",
            "\n",
            "------=_Part_0_123\n",
            "Content-Type: application/vnd.ms-word.document.macroEnabled.12\n",
            "Content-Transfer-Encoding: base64\n",
            "Content-Disposition: attachment;\n",
            " filename*=UTF-8''C%C3%B4ng%20v%C4%83n.docm\n",
            "\n",
            "UEsDBBQABgB2YmFQ\n",
            "cm9qZWN0LmJpbgD//g==\n",
            "------=_Part_0_123\n",
            "Content-Type: message/rfc822\n",
            "Content-Disposition: attachment; filename=\"fwd.eml\"\n",
            "\n",
            "From: boss@example.vn\n",
            "Subject: Fw: invoice\n",
            "Content-Type: multipart/mixed; boundary=\"inner\"\n",
            "\n",
            "--inner\n",
            "\n",
            "inner text\n",
            "--inner\n",
            "Content-Type: application/octet-stream; name=\"=?utf-8?Q?B=C3=A1o_c=C3=A1o.exe?=\"\n",
            "Content-Disposition: attachment\n",
            "Content-Transfer-Encoding: base64\n",
            "\n",
            "TVqQAAMAAAAEAAAA//8AAA==\n",
            "--inner--\n",
            "------=_Part_0_123--\n",
            "epilogue\n",
        ))
    }

    #[test]
    fn multipart_mail_with_nested_and_forwarded_parts() {
        let msg = parse_message(&phishing_mail(), &MimeLimits::default());
        assert_eq!(msg.anomalies, Vec::<&str>::new());
        assert_eq!(msg.header_text("subject").as_deref(), Some("Công văn khẩn"));
        assert_eq!(
            msg.header_text("FROM").as_deref(),
            Some("Nguyễn Văn An <an.nguyen@example.vn>")
        );
        assert_eq!(
            msg.header("content-type"),
            Some(&b"multipart/mixed;\tboundary=\"----=_Part_0_123\""[..])
        );
        assert_eq!(msg.headers.len(), 6);
        assert_eq!(msg.headers[0].0, "return-path");

        let kinds: Vec<(&str, &str)> = msg
            .parts
            .iter()
            .map(|p| (p.content_type.as_str(), p.encoding.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("text/plain", "quoted-printable"),
                ("text/html", "base64"),
                ("application/vnd.ms-word.document.macroenabled.12", "base64"),
                ("text/plain", "7bit"),
                ("application/octet-stream", "base64"),
            ]
        );
        let text = &msg.parts[0];
        assert_eq!(
            String::from_utf8(text.data.clone()).unwrap(),
            "Kính gửi anh chị,\r\nĐề nghị mở tệp đính kèm trước 17h hôm nay."
        );
        assert!(!text.attachment && text.filename.is_none());
        assert_eq!(msg.parts[1].data, "<p>Kính gửi</p>".as_bytes());

        let docm = &msg.parts[2];
        assert_eq!(docm.filename.as_deref(), Some("Công văn.docm"));
        assert_eq!(docm.data, DOCM);
        assert!(docm.attachment && !docm.truncated);

        assert_eq!(msg.parts[3].data, b"inner text");
        let exe = &msg.parts[4];
        assert_eq!(exe.filename.as_deref(), Some("Báo cáo.exe"));
        assert_eq!(exe.data, EXE);

        let names: Vec<_> = msg.attachments().map(|p| p.filename.as_deref()).collect();
        assert_eq!(names, [Some("Công văn.docm"), Some("Báo cáo.exe")]);
    }

    const FORM: &str = "------WebKitFormBoundary7MA4YWxkTrZu0gW";

    fn upload_body() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(format!("--{FORM}\r\n").as_bytes());
        body.extend_from_slice(b"Content-Disposition: form-data; name=\"title\"\r\n\r\n");
        body.extend_from_slice("Báo cáo tuần\r\n".as_bytes());
        body.extend_from_slice(format!("--{FORM}\r\n").as_bytes());
        body.extend_from_slice(
            "Content-Disposition: form-data; name=\"upload\"; filename=\"shell \\\"x\\\".php\"\r\n"
                .as_bytes(),
        );
        body.extend_from_slice(b"Content-Type: application/x-php\r\n\r\n");
        body.extend_from_slice(
            b"<?php system($_GET['c']); ?>\r\n--not-the-boundary\r\n\x00\xff\r\n",
        );
        body.extend_from_slice(format!("\r\n--{FORM}--\r\n").as_bytes());
        body
    }

    #[test]
    fn form_data_upload_with_quoted_and_unquoted_boundary() {
        let body = upload_body();
        for ct in [
            format!("multipart/form-data; boundary={FORM}"),
            format!("Multipart/Form-Data; charset=utf-8; BOUNDARY=\"{FORM}\""),
        ] {
            let msg = parse_multipart(ct.as_bytes(), &body, &MimeLimits::default());
            assert!(msg.headers.is_empty());
            assert_eq!(msg.anomalies, Vec::<&str>::new());
            assert_eq!(msg.parts.len(), 2);
            let title = &msg.parts[0];
            assert_eq!(title.field_name.as_deref(), Some("title"));
            assert_eq!(title.data, "Báo cáo tuần".as_bytes());
            assert!(!title.attachment);
            let file = &msg.parts[1];
            assert_eq!(file.field_name.as_deref(), Some("upload"));
            assert_eq!(file.filename.as_deref(), Some("shell \"x\".php"));
            assert_eq!(file.content_type, "application/x-php");
            assert!(file.attachment);
            assert_eq!(
                file.data,
                b"<?php system($_GET['c']); ?>\r\n--not-the-boundary\r\n\x00\xff\r\n"
            );
        }
    }

    #[test]
    fn header_params() {
        let v = b"attachment; filename*0*=UTF-8''C%C3%B4ng%20; filename*2=\".docm\"; FILENAME*1*=v%C4%83n";
        assert_eq!(
            header_param(v, "filename").as_deref(),
            Some("Công văn.docm")
        );
        let v = b"attachment; filename=\"plain.doc\"; filename*=iso-8859-1'vi'caf%E9.doc";
        assert_eq!(header_param(v, "Filename").as_deref(), Some("café.doc"));
        let v = b"form-data; name=\"a;b\"; filename=C:\\tmp\\x.txt ; size=3";
        assert_eq!(header_param(v, "name").as_deref(), Some("a;b"));
        assert_eq!(
            header_param(v, "filename").as_deref(),
            Some("C:\\tmp\\x.txt")
        );
        assert_eq!(header_param(v, "size").as_deref(), Some("3"));
        assert_eq!(header_param(v, "form-data"), None);
        assert_eq!(header_param(b"text/plain", "charset"), None);
        assert_eq!(
            header_param(b"x; a=\"unterminated", "a").as_deref(),
            Some("unterminated")
        );
        assert_eq!(header_param(b"x; flag; a=1", "a").as_deref(), Some("1"));
    }

    #[test]
    fn encoded_words() {
        assert_eq!(
            decode_encoded_words(b"=?utf-8?Q?C=C3=B4ng_v=c4=83n?= =?UTF-8?B?IGto4bqpbg==?="),
            "Công văn khẩn"
        );
        // A character split between two words is joined before decoding.
        assert_eq!(
            decode_encoded_words(b"=?utf-8?Q?kh=E1=BA?=\r\n =?utf-8?Q?=A9n?="),
            "khẩn"
        );
        assert_eq!(
            decode_encoded_words(b"Re: =?iso-8859-1?q?caf=E9?= and =?US-ASCII*en?Q?tea?= ok"),
            "Re: café and tea ok"
        );
        assert_eq!(
            decode_encoded_words(b"=?utf-8?X?abc?= =?utf-8?Q?a b?="),
            "=?utf-8?X?abc?= =?utf-8?Q?a b?="
        );
        assert_eq!(decode_encoded_words(b"=?=?utf-8?Q?x?="), "=?x");
        assert_eq!(decode_encoded_words("Trần Bình".as_bytes()), "Trần Bình");
    }

    #[test]
    fn base64_and_quoted_printable() {
        let mut out = Vec::new();
        assert!(decode_base64_lenient(
            b"SGVs\r\nbG8g\n d29y bGQ=",
            &mut out,
            usize::MAX
        ));
        assert_eq!(out, b"Hello world");
        out.clear();
        assert!(!decode_base64_lenient(b"SG*Vs bG8", &mut out, usize::MAX));
        assert_eq!(out, b"Hello");
        out.clear();
        assert!(decode_base64_lenient(b"SGVsbG8gd29ybGQ=", &mut out, 4));
        assert_eq!(out, b"Hell");
        out.clear();
        assert!(!decode_base64_lenient(b"SGVsb", &mut out, usize::MAX));
        assert_eq!(out, b"Hel");

        out.clear();
        decode_quoted_printable(b"a=3db=3D c=\r\nd=\ne= \r\nf =ZZ=4 =", &mut out, usize::MAX);
        assert_eq!(out, b"a=b= cdef =ZZ=4 ");
        out.clear();
        decode_quoted_printable(b"ab=41cd", &mut out, 3);
        assert_eq!(out, b"abA");
        out.clear();
        decode_quoted_printable(b"ab=41cd", &mut out, 2);
        assert_eq!(out, b"ab");
    }

    #[test]
    fn bare_lf_unterminated_and_missing_boundary() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\none\n--b\n\ntwo\nstill two";
        let msg = parse_message(raw, &MimeLimits::default());
        assert_eq!(msg.anomalies, ["unterminated_multipart"]);
        let data: Vec<&[u8]> = msg.parts.iter().map(|p| p.data.as_slice()).collect();
        assert_eq!(data, [&b"one"[..], b"two\nstill two"]);

        let raw = b"Content-Type: multipart/mixed\r\n\r\n--b\r\nx\r\n--b--\r\n";
        let msg = parse_message(raw, &MimeLimits::default());
        assert_eq!(msg.anomalies, ["missing_boundary"]);
        assert_eq!(msg.parts.len(), 1);
        assert_eq!(msg.parts[0].data, b"--b\r\nx\r\n--b--\r\n");

        let raw = b"Subject: hi\r\nno header here\r\nbody";
        let msg = parse_message(raw, &MimeLimits::default());
        assert_eq!(msg.anomalies, ["invalid_header"]);
        assert_eq!(msg.headers.len(), 1);
        assert_eq!(msg.parts[0].data, b"no header here\r\nbody");
        assert_eq!(msg.parts[0].content_type, "text/plain");
    }

    #[test]
    fn digest_and_encoded_forwarded_message() {
        let raw = crlf(concat!(
            "Content-Type: multipart/digest; boundary=d\n",
            "\n",
            "--d\n",
            "\n",
            "Subject: one\n",
            "\n",
            "first\n",
            "--d\n",
            "Content-Type: message/rfc822\n",
            "Content-Transfer-Encoding: base64\n",
            "\n",
            "Q29udGVudC1UeXBlOiB0ZXh0L2h0bWwNCg0KPGI+aGk8L2I+\n",
            "--d--\n",
        ));
        let msg = parse_message(&raw, &MimeLimits::default());
        assert_eq!(msg.anomalies, Vec::<&str>::new());
        let parts: Vec<(&str, &[u8])> = msg
            .parts
            .iter()
            .map(|p| (p.content_type.as_str(), p.data.as_slice()))
            .collect();
        assert_eq!(
            parts,
            [("text/plain", &b"first"[..]), ("text/html", b"<b>hi</b>")]
        );
    }

    #[test]
    fn limits_are_enforced() {
        let mut raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
        for i in 0..10 {
            raw.extend_from_slice(format!("--b\r\n\r\npart {i}\r\n").as_bytes());
        }
        raw.extend_from_slice(b"--b--\r\n");
        let limits = MimeLimits {
            max_parts: 3,
            ..MimeLimits::default()
        };
        let msg = parse_message(&raw, &limits);
        assert_eq!(msg.parts.len(), 3);
        assert_eq!(msg.parts[2].data, b"part 2");
        assert_eq!(msg.anomalies, ["too_many_parts"]);

        let raw = b"Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8gd29ybGQ=\r\n";
        let limits = MimeLimits {
            max_part_size: 4,
            ..MimeLimits::default()
        };
        let msg = parse_message(raw, &limits);
        assert_eq!(msg.parts[0].data, b"Hell");
        assert!(msg.parts[0].truncated);
        assert_eq!(msg.anomalies, ["part_truncated"]);
        let msg = parse_message(b"\r\n0123", &limits);
        assert!(!msg.parts[0].truncated && msg.parts[0].data == b"0123");

        let mut raw = Vec::new();
        for depth in 0..5 {
            raw.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=b{depth}\r\n\r\n--b{depth}\r\n")
                    .as_bytes(),
            );
        }
        raw.extend_from_slice(b"\r\ndeep\r\n");
        let limits = MimeLimits {
            max_depth: 2,
            ..MimeLimits::default()
        };
        let msg = parse_message(&raw, &limits);
        assert!(msg.anomalies.contains(&"depth_exceeded"));
        assert_eq!(msg.parts.len(), 1);
        assert_eq!(msg.parts[0].content_type, "multipart/mixed");
        assert!(msg.parts[0].data.ends_with(b"--b4\r\n\r\ndeep\r\n"));
        assert_eq!(
            parse_message(&raw, &MimeLimits::default()).parts[0].data,
            b"deep\r\n"
        );

        let raw: Vec<u8> = (0..10)
            .flat_map(|i| format!("X-{i}: {i}\r\n").into_bytes())
            .collect();
        let limits = MimeLimits {
            max_headers: 4,
            ..MimeLimits::default()
        };
        let msg = parse_message(&raw, &limits);
        assert_eq!(msg.headers.len(), 4);
        assert_eq!(msg.anomalies, ["too_many_headers"]);
    }

    #[test]
    fn garbage_and_truncation_never_panic() {
        let limits = MimeLimits {
            max_depth: 4,
            max_parts: 8,
            max_part_size: 64,
            max_headers: 8,
        };
        let check = |msg: &MimeMessage| {
            assert!(msg.parts.len() <= limits.max_parts);
            assert!(msg.headers.len() <= limits.max_headers);
            assert!(
                msg.parts
                    .iter()
                    .all(|p| p.data.len() <= limits.max_part_size),
                "{msg:?}"
            );
        };
        let mail = phishing_mail();
        for end in 0..=mail.len() {
            check(&parse_message(&mail[..end], &limits));
            check(&parse_message(&mail[end..], &limits));
        }
        let body = upload_body();
        for end in 0..=body.len() {
            let msg = parse_multipart(
                format!("multipart/form-data; boundary={FORM}").as_bytes(),
                &body[..end],
                &limits,
            );
            check(&msg);
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let alphabet: &[u8] = b"=?_-\"';*%\r\n\t :BQ0aF/+boundary";
        for round in 0..300 {
            let mut data = mail.clone();
            for _ in 0..1 + rng.below(20) {
                let at = rng.below(data.len());
                match rng.below(3) {
                    0 => data[at] = rng.next() as u8,
                    1 => data.insert(at, alphabet[rng.below(alphabet.len())]),
                    _ => {
                        data.remove(at);
                    }
                }
            }
            check(&parse_message(&data, &limits));
            let noise: Vec<u8> = (0..rng.below(2000))
                .map(|_| {
                    if round % 2 == 0 {
                        rng.next() as u8
                    } else {
                        alphabet[rng.below(alphabet.len())]
                    }
                })
                .collect();
            check(&parse_message(&noise, &limits));
            check(&parse_multipart(
                b"multipart/mixed; boundary=boundary",
                &noise,
                &limits,
            ));
            let _ = decode_encoded_words(&noise);
            let _ = header_param(&noise, "boundary");
        }
    }
}
