//! Log sources and parsers.
//!
//! Sources: files read once ([`read_log_file`], [`read_lines`] for any
//! reader, stdin included), files followed through rotation ([`tail`]),
//! syslog over UDP and TCP ([`syslog`]). Every source bounds its lines:
//! a longer line is cut and flagged, and invalid UTF-8 is replaced and
//! counted, never dropped. [`parse`] turns a line into Sigma-named fields.

pub mod parse;
pub mod syslog;
pub mod tail;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// One line read from a log source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Where the line came from (a file path for now).
    pub source: String,
    /// 1-based line number in that source.
    pub line_no: u64,
    /// The line without its line ending. Invalid UTF-8 is replaced, not lost.
    pub text: String,
}

/// What [`read_lines`] met.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    pub lines: u64,
    pub truncated: u64,
    pub invalid_utf8: u64,
}

/// Reads `r` line by line, each cut at `max` bytes (the rest of a longer
/// line is skipped), and calls `f` with the 1-based line number, the text
/// and whether it was cut. Empty lines are skipped.
///
/// # Errors
/// The reader's I/O error.
pub fn read_lines<R: BufRead>(
    mut r: R,
    max: usize,
    mut f: impl FnMut(u64, String, bool),
) -> std::io::Result<ReadStats> {
    let mut st = ReadStats::default();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        // at most max + 1 bytes of the line, then skip to its end
        let n = (&mut r).take(max as u64 + 1).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let ended = buf.last() == Some(&b'\n');
        let cut = !ended && buf.len() > max;
        if cut {
            buf.truncate(max);
            let mut skip = Vec::new();
            loop {
                skip.clear();
                let k = (&mut r).take(64 * 1024).read_until(b'\n', &mut skip)?;
                if k == 0 || skip.last() == Some(&b'\n') {
                    break;
                }
            }
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        if buf.is_empty() {
            continue;
        }
        st.lines += 1;
        st.truncated += u64::from(cut);
        let text = match String::from_utf8(std::mem::take(&mut buf)) {
            Ok(t) => t,
            Err(e) => {
                st.invalid_utf8 += 1;
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        };
        f(line_no, text, cut);
    }
    Ok(st)
}

/// Reads every non-empty line of a log file.
///
/// # Errors
/// Returns the I/O error of opening or reading the file.
pub fn read_log_file(path: &Path) -> std::io::Result<Vec<LogLine>> {
    let file = std::fs::File::open(path)?;
    let mut reader = BufReader::new(file);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        if buf.is_empty() {
            continue;
        }
        out.push(LogLine {
            source: path.display().to_string(),
            line_no,
            text: String::from_utf8_lossy(&buf).into_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded_and_bad_utf8_is_kept_and_counted() {
        let mut data = b"ok\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 10 << 20));
        data.extend_from_slice(b"\nbad \xff\xfe utf8\r\n\nlast");
        let mut got = Vec::new();
        let st = read_lines(&data[..], 1000, |n, t, cut| got.push((n, t, cut))).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!((got[0].0, got[0].1.as_str(), got[0].2), (1, "ok", false));
        assert_eq!((got[1].0, got[1].1.len(), got[1].2), (2, 1000, true));
        assert_eq!(got[2].1, "bad \u{fffd}\u{fffd} utf8");
        assert_eq!((got[3].0, got[3].1.as_str()), (5, "last"));
        assert_eq!((st.lines, st.truncated, st.invalid_utf8), (4, 1, 1));
    }
}
