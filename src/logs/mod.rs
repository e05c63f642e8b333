//! Log sources and parsers.
//!
//! The foundation only reads a log file line by line so that the sensor can
//! ship each line as a `log` event ([`read_log_file`]). Tailing with
//! rotation, syslog over UDP/TCP (RFC 3164 and 5424) and parsers that
//! normalise sshd, nginx/apache, firewall and mail logs to Sigma's field
//! names come with the log-detection issue.

pub mod parse;
pub mod syslog;
pub mod tail;

use std::io::{BufRead, BufReader};
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
