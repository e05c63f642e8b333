//! Payload inspection: runs one buffer's keyword list over a byte buffer.
//!
//! Semantics follow Suricata's content inspection: `offset`/`depth` are
//! absolute within the buffer (depth counted from offset), `distance`/
//! `within` are relative to the end of the previous match, negated keywords
//! do not move the cursor, and when a later relative keyword fails, an
//! earlier content or pcre is retried at its next occurrence (bounded, so a
//! hostile buffer cannot make inspection quadratic without limit).

use std::borrow::Cow;
use std::cell::OnceCell;

use super::rule::{ByteOp, Inspect, NumFormat, Transform, Val};

/// Upper bound on backtracking steps per list inspection.
const MAX_STEPS: u32 = 4096;

/// A buffer with a lazily lower-cased copy for `nocase` contents.
pub struct Hay<'a> {
    pub raw: &'a [u8],
    lower: OnceCell<Vec<u8>>,
}

impl<'a> Hay<'a> {
    pub fn new(raw: &'a [u8]) -> Self {
        Hay {
            raw,
            lower: OnceCell::new(),
        }
    }

    fn lower(&self) -> &[u8] {
        self.lower.get_or_init(|| self.raw.to_ascii_lowercase())
    }
}

/// Applies transforms to a buffer.
pub fn transform<'a>(buf: &'a [u8], transforms: &[Transform]) -> Cow<'a, [u8]> {
    let mut cur: Cow<'a, [u8]> = Cow::Borrowed(buf);
    for t in transforms {
        cur = match t {
            Transform::DotPrefix => {
                let mut v = Vec::with_capacity(cur.len() + 1);
                v.push(b'.');
                v.extend_from_slice(&cur);
                Cow::Owned(v)
            }
            Transform::ToLowercase => Cow::Owned(cur.to_ascii_lowercase()),
            Transform::StripWhitespace => Cow::Owned(
                cur.iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect(),
            ),
            Transform::CompressWhitespace => {
                let mut v = Vec::with_capacity(cur.len());
                let mut prev_ws = false;
                for &b in cur.iter() {
                    let ws = b.is_ascii_whitespace();
                    if ws && prev_ws {
                        continue;
                    }
                    v.push(if ws { b' ' } else { b });
                    prev_ws = ws;
                }
                Cow::Owned(v)
            }
            Transform::UrlDecode => Cow::Owned(url_decode(&cur)),
        };
    }
    cur
}

fn url_decode(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = (b[i + 1] as char).to_digit(16);
                let l = (b[i + 2] as char).to_digit(16);
                match (h, l) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// State of one rule's inspection: `byte_extract` variables.
pub struct Vars {
    pub values: Vec<i64>,
}

impl Vars {
    pub fn new(n: usize) -> Self {
        Vars { values: vec![0; n] }
    }

    fn get(&self, v: Val) -> i64 {
        match v {
            Val::Lit(n) => n,
            Val::Var(i) => self.values.get(i).copied().unwrap_or(0),
        }
    }
}

/// Runs `items` over `hay`. `min_end`: when non-zero, at least one positive
/// match must end past it (the stream engine passes where new data begins,
/// so old data does not alert twice).
pub fn inspect(items: &[Inspect], hay: &Hay<'_>, vars: &mut Vars, min_end: usize) -> bool {
    let mut steps = 0;
    run(items, 0, hay, 0, 0, false, vars, min_end, &mut steps)
}

#[allow(clippy::too_many_arguments)]
fn run(
    items: &[Inspect],
    idx: usize,
    hay: &Hay<'_>,
    cursor: usize,
    max_end: usize,
    any_positive: bool,
    vars: &mut Vars,
    min_end: usize,
    steps: &mut u32,
) -> bool {
    *steps += 1;
    if *steps > MAX_STEPS {
        return false;
    }
    // the next keyword, from a new cursor
    macro_rules! next {
        ($cursor:expr, $max_end:expr, $positive:expr) => {
            run(
                items,
                idx + 1,
                hay,
                $cursor,
                $max_end,
                $positive,
                vars,
                min_end,
                steps,
            )
        };
    }
    let Some(item) = items.get(idx) else {
        return min_end == 0 || !any_positive || max_end > min_end;
    };
    let buf = hay.raw;
    let len = buf.len();
    let later_relative = items[idx + 1..].iter().any(Inspect::relative);
    match item {
        Inspect::Content(c) => {
            let plen = c.pattern.len();
            let (mut start, mut end): (i64, i64);
            if c.startswith {
                start = 0;
                end = plen as i64;
            } else if c.relative() {
                let dist = c.distance.map(|v| vars.get(v)).unwrap_or(0);
                start = cursor as i64 + dist;
                if start < 0 {
                    start = 0;
                }
                end = len as i64;
                if let Some(w) = c.within {
                    end = end.min(cursor as i64 + dist + vars.get(w));
                }
                if let Some(d) = c.depth {
                    end = end.min(vars.get(d) + c.offset.map(|o| vars.get(o)).unwrap_or(0));
                }
                if let Some(o) = c.offset {
                    start = start.max(vars.get(o));
                }
            } else {
                start = c.offset.map(|o| vars.get(o)).unwrap_or(0);
                end = match c.depth {
                    Some(d) => start + vars.get(d),
                    None => len as i64,
                };
            }
            end = end.min(len as i64);
            if c.endswith {
                // must end exactly at the end of the buffer
                let s = len as i64 - plen as i64;
                if s < start || len as i64 > end {
                    start = i64::MAX;
                } else {
                    start = s;
                }
            }
            let window_ok = start >= 0 && start <= end && end - start >= plen as i64;
            let hay_bytes = if c.nocase { hay.lower() } else { buf };
            if c.negated {
                let found = window_ok
                    && memchr::memmem::find(&hay_bytes[start as usize..end as usize], &c.pattern)
                        .is_some();
                if found {
                    return false;
                }
                return next!(cursor, max_end, any_positive);
            }
            if !window_ok {
                return false;
            }
            let (s, e) = (start as usize, end as usize);
            let finder = memchr::memmem::Finder::new(&c.pattern);
            let mut from = s;
            while from + plen <= e {
                let Some(p) = finder.find(&hay_bytes[from..e]) else {
                    return false;
                };
                let at = from + p;
                let new_cursor = at + plen;
                if next!(new_cursor, max_end.max(new_cursor), true) {
                    return true;
                }
                if !later_relative && (min_end == 0 || max_end.max(new_cursor) > min_end) {
                    return false;
                }
                if *steps > MAX_STEPS {
                    return false;
                }
                from = at + 1;
            }
            false
        }
        Inspect::Pcre(p) => {
            let start = if p.relative { cursor.min(len) } else { 0 };
            let sub = &buf[start..];
            if p.negated {
                if p.regex.is_match(sub) {
                    return false;
                }
                return next!(cursor, max_end, any_positive);
            }
            let mut at = 0;
            while at <= sub.len() {
                let Some((m_start, m_end)) = p.regex.find_at(sub, at) else {
                    return false;
                };
                let new_cursor = start + m_end;
                if next!(new_cursor, max_end.max(new_cursor), true) {
                    return true;
                }
                if !later_relative && (min_end == 0 || max_end.max(new_cursor) > min_end) {
                    return false;
                }
                if *steps > MAX_STEPS {
                    return false;
                }
                at = m_start + 1;
            }
            false
        }
        Inspect::ByteTest(bt) => {
            let base = if bt.relative { cursor as i64 } else { 0 };
            let pos = base + vars.get(bt.offset);
            let Some(v) = read_num(buf, pos, bt.nbytes, bt.format, bt.bitmask) else {
                return false;
            };
            let want = vars.get(bt.value) as u64;
            let ok = match bt.op {
                ByteOp::Lt => v < want,
                ByteOp::Gt => v > want,
                ByteOp::Le => v <= want,
                ByteOp::Ge => v >= want,
                ByteOp::Eq => v == want,
                ByteOp::And => v & want != 0,
                ByteOp::Or => v ^ want != 0,
            };
            if ok == bt.negated {
                return false;
            }
            next!(cursor, max_end, any_positive)
        }
        Inspect::ByteJump(bj) => {
            let base = if bj.relative { cursor as i64 } else { 0 };
            let pos = base + vars.get(bj.offset);
            let v = if bj.nbytes == 0 {
                Some(0)
            } else {
                read_num(buf, pos, bj.nbytes, bj.format, bj.bitmask)
            };
            let Some(v) = v else { return false };
            let mut v = v.saturating_mul(bj.multiplier) as i64;
            if bj.align && v % 4 != 0 {
                v += 4 - v % 4;
            }
            let mut target = if bj.from_beginning {
                v
            } else if bj.from_end {
                len as i64 + v
            } else {
                pos + bj.nbytes as i64 + v
            };
            target += bj.post_offset;
            if target < 0 || target > len as i64 {
                return false;
            }
            next!(target as usize, max_end, any_positive)
        }
        Inspect::ByteExtract(be) => {
            let base = if be.relative { cursor as i64 } else { 0 };
            let pos = base + be.offset;
            let Some(v) = read_num(buf, pos, be.nbytes, be.format, be.bitmask) else {
                return false;
            };
            let mut v = v.saturating_mul(be.multiplier) as i64;
            if be.align > 0 && v % be.align as i64 != 0 {
                v += be.align as i64 - v % be.align as i64;
            }
            if let Some(slot) = vars.values.get_mut(be.var) {
                *slot = v;
            }
            let new_cursor = (pos + be.nbytes as i64) as usize;
            next!(new_cursor, max_end, any_positive)
        }
        Inspect::IsDataAt {
            pos,
            relative,
            negated,
        } => {
            let n = vars.get(*pos);
            let has = if *relative {
                cursor as i64 + n <= len as i64
            } else {
                n < len as i64
            };
            if has == *negated {
                return false;
            }
            next!(cursor, max_end, any_positive)
        }
        Inspect::Bsize(cmp) => {
            if !cmp.test(len as u64) {
                return false;
            }
            next!(cursor, max_end, any_positive)
        }
    }
}

/// Reads a number for `byte_*`; `None` when out of bounds or not a number.
fn read_num(
    buf: &[u8],
    pos: i64,
    nbytes: usize,
    format: NumFormat,
    bitmask: Option<u64>,
) -> Option<u64> {
    if pos < 0 {
        return None;
    }
    if nbytes == 0 {
        return Some(0);
    }
    let pos = pos as usize;
    let bytes = buf.get(pos..pos.checked_add(nbytes)?)?;
    let mut v: u64 = match format {
        NumFormat::Big => bytes.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)),
        NumFormat::Little => bytes
            .iter()
            .rev()
            .fold(0u64, |a, &b| (a << 8) | u64::from(b)),
        NumFormat::String(base) => {
            let mut v: u64 = 0;
            let mut digits = 0;
            for &b in bytes {
                let Some(d) = (b as char).to_digit(base) else {
                    break;
                };
                v = v.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
                digits += 1;
            }
            if digits == 0 {
                return None;
            }
            v
        }
    };
    if let Some(mask) = bitmask
        && mask != 0
    {
        v &= mask;
        v >>= mask.trailing_zeros();
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::super::options::{Names, OptionState};
    use super::super::rule::{Rule, RuleProto};
    use super::*;

    fn rule_items(opts: &[(&str, Option<&str>)]) -> Vec<Inspect> {
        let mut names = Names::default();
        let mut st = OptionState::new(&mut names);
        let mut r = Rule::new(RuleProto::Tcp);
        for (k, v) in opts {
            st.apply(&mut r, k, 0, v.map(|v| (0, v))).unwrap();
        }
        r.lists
            .into_iter()
            .next()
            .map(|l| l.items)
            .unwrap_or_default()
    }

    fn m(items: &[Inspect], buf: &[u8]) -> bool {
        inspect(items, &Hay::new(buf), &mut Vars::new(4), 0)
    }

    #[test]
    fn distance_within_backtracks_to_the_next_occurrence() {
        let items = rule_items(&[
            ("content", Some("\"ab\"")),
            ("content", Some("\"cd\"")),
            ("distance", Some("1")),
            ("within", Some("3")),
        ]);
        assert!(m(&items, b"ab....ab.cd"));
        assert!(!m(&items, b"ab....ab...cd"));
    }

    #[test]
    fn depth_counts_from_offset_and_nocase() {
        let items = rule_items(&[
            ("content", Some("\"GET\"")),
            ("nocase", None),
            ("offset", Some("2")),
            ("depth", Some("3")),
        ]);
        assert!(m(&items, b"xxget /"));
        assert!(!m(&items, b"xxxget /"));
    }

    #[test]
    fn negated_and_endswith() {
        let items = rule_items(&[("content", Some("\"DDD\"")), ("endswith", None)]);
        assert!(m(&items, b"aaaDDD"));
        assert!(!m(&items, b"aaaDDDx"));
        let neg = rule_items(&[("content", Some("!\"u\""))]);
        assert!(m(&neg, b"Mozilla"));
        assert!(!m(&neg, b"curl"));
    }

    #[test]
    fn byte_test_and_jump() {
        let items = rule_items(&[
            ("content", Some("\"len=\"")),
            ("byte_jump", Some("2,0,relative,string,dec")),
            ("content", Some("\"X\"")),
            ("within", Some("1")),
        ]);
        assert!(m(&items, b"len=03abcX"));
        assert!(!m(&items, b"len=02abcX"));
        let bt = rule_items(&[("byte_test", Some("1,>,7,0"))]);
        assert!(m(&bt, &[9]));
        assert!(!m(&bt, &[7]));
    }

    #[test]
    fn pcre_relative_and_stream_min_end() {
        let items = rule_items(&[
            ("content", Some("\"User-Agent: \"")),
            ("pcre", Some("\"/^Moz/R\"")),
        ]);
        assert!(m(&items, b"User-Agent: Mozilla"));
        assert!(!m(&items, b"User-Agent: curl Moz"));
        let c = rule_items(&[("content", Some("\"abc\""))]);
        assert!(!inspect(&c, &Hay::new(b"abcxyz"), &mut Vars::new(0), 3));
        assert!(inspect(&c, &Hay::new(b"abcxyzabc"), &mut Vars::new(0), 3));
    }

    #[test]
    fn hostile_buffers_stay_bounded() {
        let items = rule_items(&[
            ("content", Some("\"a\"")),
            ("content", Some("\"a\"")),
            ("distance", Some("0")),
            ("content", Some("\"b\"")),
            ("distance", Some("0")),
        ]);
        let buf = vec![b'a'; 100_000];
        assert!(!m(&items, &buf));
    }
}
