//! Field matchers: a Sigma value with its modifiers, compiled once.
//!
//! Plain values compare case-insensitively, with `*` and `?` wildcards
//! (`\*` for a literal star); `cased` makes them case-sensitive. The
//! transforming modifiers (`base64`, `base64offset`, `utf16le`, `utf16be`,
//! `wide`, `windash`) turn one value into the alternatives it stands for at
//! compile time, so matching stays a plain comparison. A list of values is
//! any of them, or every one with `all`. A field holding a list matches
//! when any element does.
//!
//! Case-insensitive comparison lower-cases each field value once per event
//! ([`EventView`]), not once per rule.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;

use regex::Regex;
use serde_json::{Map, Value};

/// An event as the matchers see it: named fields and the raw line (for
/// keyword searches), with lower-cased values cached.
pub struct EventView<'a> {
    pub fields: &'a Map<String, Value>,
    pub raw: &'a str,
    /// Field values as text, and lower-cased, made once per field.
    text: RefCell<HashMap<String, std::rc::Rc<Vec<String>>>>,
    lower: RefCell<HashMap<String, std::rc::Rc<Vec<String>>>>,
    raw_lower: std::cell::OnceCell<String>,
}

impl<'a> EventView<'a> {
    pub fn new(fields: &'a Map<String, Value>, raw: &'a str) -> Self {
        EventView {
            fields,
            raw,
            text: RefCell::new(HashMap::new()),
            lower: RefCell::new(HashMap::new()),
            raw_lower: std::cell::OnceCell::new(),
        }
    }

    /// The raw line, lower-cased once.
    pub(crate) fn raw_lower(&self) -> &str {
        self.raw_lower.get_or_init(|| self.raw.to_lowercase())
    }

    /// [`EventView::values`], made once per field.
    fn text_of(&self, name: &str) -> Option<std::rc::Rc<Vec<String>>> {
        if let Some(v) = self.text.borrow().get(name) {
            return Some(std::rc::Rc::clone(v));
        }
        let v = std::rc::Rc::new(self.values(name)?);
        self.text
            .borrow_mut()
            .insert(name.to_string(), std::rc::Rc::clone(&v));
        Some(v)
    }

    /// The value(s) of a field as text (`a.b` looks into objects).
    pub fn values(&self, name: &str) -> Option<Vec<String>> {
        let mut v = self.fields.get(name);
        if v.is_none() && name.contains('.') {
            let mut parts = name.split('.');
            let mut cur = self.fields.get(parts.next()?);
            for p in parts {
                cur = cur.and_then(|c| c.get(p));
            }
            v = cur;
        }
        let v = v?;
        let text = |x: &Value| match x {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        };
        Some(match v {
            Value::Array(a) => a.iter().filter_map(text).collect(),
            other => text(other).into_iter().collect(),
        })
    }

    pub(crate) fn lowered(&self, name: &str) -> Option<std::rc::Rc<Vec<String>>> {
        if let Some(v) = self.lower.borrow().get(name) {
            return Some(std::rc::Rc::clone(v));
        }
        let v: Vec<String> = self
            .text_of(name)?
            .iter()
            .map(|s| s.to_lowercase())
            .collect();
        let v = std::rc::Rc::new(v);
        self.lower
            .borrow_mut()
            .insert(name.to_string(), std::rc::Rc::clone(&v));
        Some(v)
    }
}

/// How one value compares.
#[derive(Debug, Clone)]
pub enum Test {
    /// Equal, or a wildcard pattern (`Glob` when it has `*`/`?`, with
    /// its longest literal run, which the prefilter can look for).
    Eq(String),
    Glob(Regex, String),
    /// A substring, with its searcher built once.
    Contains(Box<memchr::memmem::Finder<'static>>),
    StartsWith(String),
    EndsWith(String),
    Re(Regex),
    Cidr(IpAddr, u8),
    Lt(f64),
    Lte(f64),
    Gt(f64),
    Gte(f64),
    /// The field equals (or contains/starts/ends with) another field.
    FieldRef(String, RefKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Eq,
    Contains,
    StartsWith,
    EndsWith,
}

/// A compiled `field|modifiers: values` entry (or a keyword list when
/// `field` is `None`).
#[derive(Debug, Clone)]
pub struct FieldMatch {
    pub field: Option<String>,
    pub tests: Vec<Test>,
    /// Every test must hold (`all`), else any.
    pub all: bool,
    /// Compare as written (`cased`).
    pub cased: bool,
    /// `neq`: the result is inverted.
    pub negate: bool,
    /// `exists: true/false`.
    pub exists: Option<bool>,
    /// The value list held `null`: an absent (or null) field matches.
    pub null: bool,
    /// A time-part modifier (`minute hour day week month year`).
    pub time_part: Option<TimePart>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

fn cidr_match(ip: &str, net: IpAddr, len: u8) -> bool {
    let Ok(ip) = ip.trim().parse::<IpAddr>() else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            u32::from(a) & m == u32::from(b) & m
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            u128::from(a) & m == u128::from(b) & m
        }
        _ => false,
    }
}

fn time_part(value: &str, part: TimePart) -> Option<String> {
    use chrono::{DateTime, Datelike, Timelike};
    let d = DateTime::parse_from_rfc3339(value.trim()).ok()?;
    Some(
        match part {
            TimePart::Minute => d.minute(),
            TimePart::Hour => d.hour(),
            TimePart::Day => d.day(),
            TimePart::Week => d.iso_week().week(),
            TimePart::Month => d.month(),
            TimePart::Year => u32::try_from(d.year()).unwrap_or(0),
        }
        .to_string(),
    )
}

impl Test {
    fn holds(&self, v: &str, cased: bool, ev: &EventView<'_>) -> bool {
        let num = || v.trim().parse::<f64>().ok();
        match self {
            Test::Eq(p) => v == p,
            Test::Glob(r, _) | Test::Re(r) => r.is_match(v),
            Test::Contains(f) => f.find(v.as_bytes()).is_some(),
            Test::StartsWith(p) => v.starts_with(p.as_str()),
            Test::EndsWith(p) => v.ends_with(p.as_str()),
            Test::Cidr(net, len) => cidr_match(v, *net, *len),
            Test::Lt(n) => num().is_some_and(|x| x < *n),
            Test::Lte(n) => num().is_some_and(|x| x <= *n),
            Test::Gt(n) => num().is_some_and(|x| x > *n),
            Test::Gte(n) => num().is_some_and(|x| x >= *n),
            Test::FieldRef(other, kind) => {
                let others = if cased {
                    ev.text_of(other)
                } else {
                    ev.lowered(other)
                };
                others.is_some_and(|os| {
                    os.iter().any(|o| match kind {
                        RefKind::Eq => v == o,
                        RefKind::Contains => v.contains(o.as_str()),
                        RefKind::StartsWith => v.starts_with(o.as_str()),
                        RefKind::EndsWith => v.ends_with(o.as_str()),
                    })
                })
            }
        }
    }

    /// Whether the test compares text (and so follows `cased`).
    fn textual(&self) -> bool {
        matches!(
            self,
            Test::Eq(_)
                | Test::Contains(_)
                | Test::StartsWith(_)
                | Test::EndsWith(_)
                | Test::FieldRef(..)
        )
    }
}

impl FieldMatch {
    /// Whether the event matches.
    pub fn matches(&self, ev: &EventView<'_>) -> bool {
        let r = self.inner(ev);
        r != self.negate
    }

    fn inner(&self, ev: &EventView<'_>) -> bool {
        let Some(field) = &self.field else {
            // keywords: the raw line, case-insensitively
            let raw = ev.raw_lower();
            let hit = |t: &Test| t.holds(raw, false, ev);
            return if self.all {
                self.tests.iter().all(hit)
            } else {
                self.tests.iter().any(hit)
            };
        };
        let text = ev.text_of(field);
        let present = text.as_ref().is_some_and(|v| !v.is_empty());
        if let Some(want) = self.exists {
            return present == want;
        }
        let Some(text) = text.filter(|_| present) else {
            return self.null;
        };
        let lowered = !self.cased && self.tests.iter().any(Test::textual);
        let values = match (lowered, self.time_part) {
            (_, Some(part)) => {
                std::rc::Rc::new(text.iter().filter_map(|v| time_part(v, part)).collect())
            }
            (true, None) => ev.lowered(field).unwrap_or_default(),
            (false, None) => text,
        };
        let one = |t: &Test| values.iter().any(|v| t.holds(v, self.cased, ev));
        if self.tests.is_empty() {
            return false;
        }
        if self.all {
            self.tests.iter().all(one)
        } else {
            self.tests.iter().any(one)
        }
    }
}

/// A `Contains` test for `needle`.
pub fn contains(needle: &str) -> Test {
    Test::Contains(Box::new(
        memchr::memmem::Finder::new(needle.as_bytes()).into_owned(),
    ))
}

/// The regex of a Sigma wildcard value (`*`, `?`, `\` escapes), anchored.
pub fn glob_regex(value: &str, cased: bool) -> Option<Regex> {
    let mut re = String::from(if cased { "(?s)^" } else { "(?si)^" });
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    re.push_str(&regex::escape(&n.to_string()));
                    chars.next();
                }
                _ => re.push_str(&regex::escape("\\")),
            },
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).ok()
}

/// The longest run of a wildcard value without wildcards, unescaped.
pub fn glob_literal(value: &str) -> String {
    let mut best = String::new();
    let mut cur = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    cur.push(n);
                    chars.next();
                }
                _ => cur.push('\\'),
            },
            '*' | '?' => {
                if cur.len() > best.len() {
                    best = std::mem::take(&mut cur);
                } else {
                    cur.clear();
                }
            }
            c => cur.push(c),
        }
    }
    if cur.len() > best.len() {
        best = cur;
    }
    best
}

/// Whether a value has unescaped wildcards.
pub fn has_wildcards(value: &str) -> bool {
    let mut esc = false;
    for c in value.chars() {
        match c {
            _ if esc => esc = false,
            '\\' => esc = true,
            '*' | '?' => return true,
            _ => {}
        }
    }
    false
}

/// Removes the escapes of a value without wildcards.
pub fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n @ ('*' | '?' | '\\')) = chars.peek()
        {
            out.push(n);
            chars.next();
        } else {
            out.push(c);
        }
    }
    out
}

fn b64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(char::from(T[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `base64`: the value encoded, padding kept.
pub fn base64_of(data: &[u8]) -> String {
    b64(data)
}

/// `base64offset`: the three encodings of the value at byte offsets 0, 1
/// and 2 of a longer text, without the characters that depend on the
/// unknown neighbours (as pySigma cuts them).
pub fn base64_offsets(data: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut shifted = vec![b' '; i];
            shifted.extend_from_slice(data);
            // padding included, as pySigma slices it
            let enc = b64(&shifted);
            let end_cut = END[(data.len() + i) % 3];
            let stop = enc.len().saturating_sub(end_cut);
            enc.get(START[i]..stop).unwrap_or("").to_string()
        })
        .collect()
}

/// `utf16le` / `utf16be` / `wide`: the value as UTF-16 bytes, as text (each
/// code unit's bytes as chars), so it can be compared with fields decoded
/// the same way.
pub fn utf16(value: &str, big_endian: bool) -> Vec<u8> {
    value
        .encode_utf16()
        .flat_map(|u| {
            if big_endian {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            }
        })
        .collect()
}

/// `windash`: `-` and `/` at the start of a word, and the Unicode dashes.
pub fn windash(value: &str) -> Vec<String> {
    let dashes = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
    let mut out: Vec<String> = dashes
        .iter()
        .map(|d| {
            let mut s = String::new();
            let mut prev = ' ';
            for c in value.chars() {
                if (c == '-' || c == '/') && (prev == ' ' || s.is_empty()) {
                    s.push(*d);
                } else {
                    s.push(c);
                }
                prev = c;
            }
            s
        })
        .collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fm(field: Option<&str>, tests: Vec<Test>) -> FieldMatch {
        FieldMatch {
            field: field.map(str::to_string),
            tests,
            all: false,
            cased: false,
            negate: false,
            exists: None,
            null: false,
            time_part: None,
        }
    }

    #[test]
    fn text_tests_wildcards_and_case() {
        let f = json!({"cs-uri-query": "id=1 UNION SELECT", "c-ip": "10.1.2.3", "sc-status": "404", "n": 7});
        let m = f.as_object().unwrap();
        let ev = EventView::new(m, "raw line with EvilWord");
        assert!(fm(Some("cs-uri-query"), vec![contains("union select")]).matches(&ev));
        let mut cased = fm(Some("cs-uri-query"), vec![contains("union select")]);
        cased.cased = true;
        assert!(!cased.matches(&ev));
        assert!(
            fm(
                Some("cs-uri-query"),
                vec![Test::Glob(
                    glob_regex("id=? union*", false).unwrap(),
                    " union".into()
                )]
            )
            .matches(&ev)
        );
        assert!(
            fm(
                Some("c-ip"),
                vec![Test::Cidr("10.0.0.0".parse().unwrap(), 8)]
            )
            .matches(&ev)
        );
        assert!(
            !fm(
                Some("c-ip"),
                vec![Test::Cidr("10.2.0.0".parse().unwrap(), 16)]
            )
            .matches(&ev)
        );
        assert!(fm(Some("sc-status"), vec![Test::Gte(400.0)]).matches(&ev));
        assert!(fm(Some("n"), vec![Test::Eq("7".into())]).matches(&ev));
        assert!(fm(None, vec![contains("evilword")]).matches(&ev));
        let mut absent = fm(Some("missing"), vec![]);
        absent.null = true;
        assert!(absent.matches(&ev));
        let mut ex = fm(Some("missing"), vec![]);
        ex.exists = Some(false);
        assert!(ex.matches(&ev));
        let mut neq = fm(Some("sc-status"), vec![Test::Eq("200".into())]);
        neq.negate = true;
        assert!(neq.matches(&ev));
    }

    #[test]
    fn transforms() {
        // pySigma's expected values
        assert_eq!(base64_of(b"/bin/bash"), "L2Jpbi9iYXNo");
        assert_eq!(
            base64_offsets(b"/bin/bash"),
            ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
        assert_eq!(utf16("ab", false), b"a\0b\0");
        assert_eq!(utf16("ab", true), b"\0a\0b");
        assert!(windash("-enc x").contains(&"/enc x".to_string()));
        assert!(windash("-enc x").contains(&"\u{2013}enc x".to_string()));
        assert!(has_wildcards("a*b") && !has_wildcards(r"a\*b"));
        assert_eq!(unescape(r"a\*b"), "a*b");
        // `\*` is a literal star; `\\*` a backslash, then the wildcard
        assert!(
            glob_regex(r"C:\Windows\\*", false)
                .unwrap()
                .is_match(r"c:\windows\x")
        );
        assert!(!glob_regex(r"a\*", false).unwrap().is_match("ab"));
        assert!(glob_regex(r"a\*", false).unwrap().is_match("a*"));
    }
}
