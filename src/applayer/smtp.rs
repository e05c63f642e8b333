//! SMTP session parser for reassembled TCP streams, with Suricata-style EVE
//! `smtp` and `email` objects.
//!
//! Mail is still the first way in for most intrusions, so the sensor has to
//! see who sent what to whom and get hold of every message body (for
//! [`super::mime`] to find the attachments), however the client cut its
//! stream into segments and however far the two directions are apart.
//!
//! How it works:
//! - Client commands and server replies are read one line at a time (CRLF,
//!   bare LF tolerated), each line kept up to `max_line` bytes. Verbs are
//!   case-insensitive. `MAIL FROM` opens a transaction, `RCPT TO` adds to it,
//!   `RSET` drops an unfinished one; `HELO`/`EHLO` is remembered for the
//!   session and copied into each transaction.
//! - After the client's `DATA` line the client stream is message data at once
//!   (pipelining clients do not wait for `354`). Data is dot-unstuffed (a
//!   leading `.` is removed from every line, RFC 5321 4.5.2) and ends at a line
//!   that is only `.`. A small state machine remembers where in a line the
//!   last byte was and holds back the line break that may belong to the end
//!   sequence, so any segmentation gives the same message. `BDAT n [LAST]`
//!   takes exactly `n` bytes, raw.
//! - Every command waits for its reply in a queue, so replies map to
//!   commands in order even when pipelined. A non-`354` answer to `DATA`
//!   seen before the data ends puts the client back in command mode (the
//!   server will read what follows as commands); a `220` answer to
//!   `STARTTLS`, or a TLS record from the client right after it, ends
//!   parsing for good.
//!
//! Memory is bounded: line buffers by `max_line`, kept message bytes by
//! `max_message` (the size is still counted), recipients, queued commands and
//! finished transactions by the constants below. Finished transactions stay
//! readable through [`SmtpState::tx`] at least until the next `feed`/`close`
//! call; older ones are dropped once more than 16 are kept or
//! their messages exceed `max_message` bytes together. Nothing here panics on
//! input; oddities are recorded as snake_case anomalies.

use std::collections::VecDeque;

use memchr::{memchr, memchr2};
use serde_json::{Map, Value};

use super::mime::{MimeMessage, decode_encoded_words};

/// Most recipients kept per transaction.
const MAX_RCPT: usize = 256;
/// Most commands waiting for a reply.
const MAX_PENDING: usize = 256;
/// Most finished transactions kept from earlier calls.
const MAX_KEPT_TXS: usize = 16;

/// Settings of the SMTP parser.
#[derive(Debug, Clone, Copy)]
pub struct SmtpConfig {
    /// Raw `DATA`/`BDAT` bytes kept per message; beyond, the transaction is
    /// flagged truncated and bytes are only counted.
    pub max_message: usize,
    /// Longest command or reply line kept; longer lines are cut and noted.
    pub max_line: usize,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            max_message: 16 * 1024 * 1024,
            max_line: 4096,
        }
    }
}

/// One mail transaction: envelope and message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SmtpTx {
    /// 0, 1, 2… per message of the session.
    pub id: u64,
    /// Last `HELO`/`EHLO` argument of the session.
    pub helo: Option<String>,
    /// `MAIL FROM` address as sent, brackets included (`<a@b>`).
    pub mail_from: Option<String>,
    /// `RCPT TO` addresses as sent, brackets included.
    pub rcpt_to: Vec<String>,
    /// Message after dot-unstuffing, without the end-of-data line.
    pub message: Vec<u8>,
    /// Message bytes seen, including those beyond `max_message`.
    pub message_size: u64,
    /// The message was longer than `max_message`.
    pub truncated: bool,
    /// The end of data (`.` line or `BDAT … LAST`) was seen.
    pub complete: bool,
}

/// What a queued reply answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmd {
    /// `DATA` of the transaction with this id.
    Data(u64),
    /// The end of the data of this transaction.
    DataEnd(u64),
    StartTls,
    Other,
}

/// Where the client stream is.
#[derive(Debug, Default, Clone, Copy)]
enum Mode {
    #[default]
    Command,
    Data(DataState),
    Bdat {
        remaining: u64,
        last: bool,
    },
}

/// Position inside `DATA` content, carried across segments.
#[derive(Debug, Default, Clone, Copy)]
struct DataState {
    pos: Pos,
    /// Line break held back: it is dropped if the next line ends the data.
    eol: &'static [u8],
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Pos {
    #[default]
    LineStart,
    /// `.` at the start of a line.
    Dot,
    /// `.\r` at the start of a line.
    DotCr,
    Mid,
    /// Mid-line after a `\r` not yet written.
    MidCr,
}

/// One line being collected, at most `max` bytes of it kept.
#[derive(Debug, Default)]
struct LineBuf {
    buf: Vec<u8>,
    cut: bool,
}

impl LineBuf {
    /// Takes bytes up to and including the next LF; returns how many were
    /// used and whether the line is complete.
    fn fill(&mut self, data: &[u8], max: usize) -> (usize, bool) {
        let (chunk, used, done) = match memchr(b'\n', data) {
            Some(i) => (data.get(..i).unwrap_or_default(), i + 1, true),
            None => (data, data.len(), false),
        };
        let room = max.saturating_sub(self.buf.len());
        self.cut |= chunk.len() > room;
        self.buf
            .extend_from_slice(chunk.get(..room).unwrap_or(chunk));
        (used, done)
    }

    /// The complete line without its line break, and whether it was cut;
    /// the buffer is ready for the next line.
    fn take(&mut self) -> (Vec<u8>, bool) {
        let mut line = std::mem::take(&mut self.buf);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        (line, std::mem::take(&mut self.cut))
    }
}

/// Parser state of one SMTP connection.
#[derive(Debug, Default)]
pub struct SmtpState {
    cfg: SmtpConfig,
    /// Finished transactions, oldest first.
    done: VecDeque<SmtpTx>,
    /// The transaction being built.
    current: Option<SmtpTx>,
    next_id: u64,
    helo: Option<String>,
    mode: Mode,
    client: LineBuf,
    server: LineBuf,
    pending: VecDeque<Cmd>,
    /// The server greeting was seen (it answers no command).
    greeted: bool,
    /// `STARTTLS` was sent and not refused.
    starttls: bool,
    encrypted: bool,
    anomalies: Vec<&'static str>,
}

impl SmtpState {
    /// A parser for a new connection.
    pub fn new(cfg: SmtpConfig) -> Self {
        SmtpState {
            cfg,
            ..SmtpState::default()
        }
    }

    /// Feeds in-order stream bytes of one direction (client to server when
    /// `to_server`). Returns the ids of transactions whose message just
    /// ended, so the caller can log them and extract files.
    pub fn feed(&mut self, to_server: bool, mut data: &[u8]) -> Vec<u64> {
        self.evict();
        let mut finished = Vec::new();
        while !data.is_empty() && !self.encrypted {
            let used = if to_server {
                self.client_bytes(data, &mut finished)
            } else {
                self.server_bytes(data)
            };
            data = data.get(used..).unwrap_or_default();
        }
        finished
    }

    /// The connection closed: a message still in `DATA`/`BDAT` is finished
    /// incomplete and its id returned, so partial mail is still scanned.
    pub fn close(&mut self) -> Vec<u64> {
        self.evict();
        let mut finished = Vec::new();
        match self.mode {
            Mode::Command => {}
            Mode::Data(st) => {
                if st.pos == Pos::LineStart {
                    self.emit(st.eol);
                } else if st.pos == Pos::MidCr {
                    self.emit(b"\r");
                }
                self.finish(false, &mut finished);
            }
            Mode::Bdat { .. } => self.finish(false, &mut finished),
        }
        finished
    }

    /// A transaction still kept, finished or being built.
    pub fn tx(&self, id: u64) -> Option<&SmtpTx> {
        self.done
            .iter()
            .chain(self.current.as_ref())
            .find(|t| t.id == id)
    }

    /// Each anomaly seen in the session, once.
    pub fn anomalies(&self) -> &[&'static str] {
        &self.anomalies
    }

    /// Whether the session switched to TLS (`STARTTLS` answered `220`): after
    /// that nothing is parsed.
    pub fn encrypted(&self) -> bool {
        self.encrypted
    }

    fn note(&mut self, anomaly: &'static str) {
        if !self.anomalies.contains(&anomaly) {
            self.anomalies.push(anomaly);
        }
    }

    /// Drops old finished transactions beyond the retention bounds.
    fn evict(&mut self) {
        let mut bytes: usize = self.done.iter().map(|t| t.message.len()).sum();
        while self.done.len() > MAX_KEPT_TXS || bytes > self.cfg.max_message {
            let Some(old) = self.done.pop_front() else {
                break;
            };
            bytes -= old.message.len();
        }
    }

    /// Consumes client bytes in the current mode; returns how many.
    fn client_bytes(&mut self, data: &[u8], finished: &mut Vec<u64>) -> usize {
        match self.mode {
            Mode::Command => {
                if self.starttls && self.client.buf.is_empty() && data.first() == Some(&0x16) {
                    self.encrypted = true;
                    return data.len();
                }
                let (used, complete) = self.client.fill(data, self.cfg.max_line);
                if complete {
                    let (line, cut) = self.client.take();
                    if cut {
                        self.note("line_too_long");
                    }
                    self.command(&line, finished);
                }
                used
            }
            Mode::Data(st) => self.data(st, data, finished),
            Mode::Bdat { remaining, last } => {
                let take = usize::try_from(remaining).map_or(data.len(), |r| r.min(data.len()));
                self.emit(data.get(..take).unwrap_or_default());
                let remaining = remaining - take as u64;
                if remaining > 0 {
                    self.mode = Mode::Bdat { remaining, last };
                } else {
                    self.chunk_done(last, finished);
                }
                take
            }
        }
    }

    fn command(&mut self, line: &[u8], finished: &mut Vec<u64>) {
        let (verb, arg) = match memchr(b' ', line) {
            Some(i) => (
                line.get(..i).unwrap_or_default(),
                line.get(i + 1..).unwrap_or_default(),
            ),
            None => (line, &[][..]),
        };
        let verb = verb.to_ascii_uppercase();
        let mut reply = Cmd::Other;
        match verb.as_slice() {
            b"HELO" | b"EHLO" => self.helo = first_word(arg).map(lossy),
            b"MAIL" => {
                self.current = Some(SmtpTx {
                    id: self.next_id,
                    helo: self.helo.clone(),
                    mail_from: strip_ci(arg, b"FROM:").and_then(address),
                    ..SmtpTx::default()
                });
            }
            b"RCPT" => {
                let rcpt = strip_ci(arg, b"TO:").and_then(address);
                let tx = self.open_tx();
                match rcpt {
                    Some(r) if tx.rcpt_to.len() < MAX_RCPT => tx.rcpt_to.push(r),
                    Some(_) => self.note("too_many_recipients"),
                    None => {}
                }
            }
            b"DATA" => {
                reply = Cmd::Data(self.open_tx().id);
                self.mode = Mode::Data(DataState::default());
            }
            b"BDAT" => {
                let mut words = arg.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty());
                let size = words
                    .next()
                    .and_then(|w| std::str::from_utf8(w).ok()?.parse::<u64>().ok());
                let last = words
                    .next()
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"LAST"));
                match size {
                    Some(remaining) => {
                        self.open_tx();
                        self.mode = Mode::Bdat { remaining, last };
                        if remaining == 0 {
                            self.chunk_done(last, finished);
                        }
                    }
                    None => self.note("invalid_bdat"),
                }
            }
            b"RSET" => self.current = None,
            b"STARTTLS" => {
                self.starttls = true;
                reply = Cmd::StartTls;
            }
            _ => {}
        }
        self.expect_reply(reply);
    }

    /// The transaction being built, opened if the client skipped `MAIL`.
    fn open_tx(&mut self) -> &mut SmtpTx {
        self.current.get_or_insert_with(|| SmtpTx {
            id: self.next_id,
            helo: self.helo.clone(),
            ..SmtpTx::default()
        })
    }

    fn expect_reply(&mut self, cmd: Cmd) {
        if self.pending.len() < MAX_PENDING {
            self.pending.push_back(cmd);
        } else {
            self.note("too_many_pipelined_commands");
        }
    }

    /// Consumes `DATA` content from `st` on; returns the bytes used.
    fn data(&mut self, mut st: DataState, data: &[u8], finished: &mut Vec<u64>) -> usize {
        let mut i = 0;
        while let Some(&b) = data.get(i) {
            if st.pos == Pos::Mid {
                let rest = data.get(i..).unwrap_or_default();
                let run = memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
                self.emit(rest.get(..run).unwrap_or_default());
                i += run;
                let Some(&b) = data.get(i) else {
                    break;
                };
                self.mid_byte(&mut st, b);
                i += 1;
                continue;
            }
            i += 1;
            match st.pos {
                Pos::LineStart if b == b'.' => st.pos = Pos::Dot,
                Pos::Dot | Pos::DotCr if b == b'\n' => {
                    let id = self.current.as_ref().map_or(self.next_id, |t| t.id);
                    self.expect_reply(Cmd::DataEnd(id));
                    self.finish(true, finished);
                    return i;
                }
                Pos::Dot if b == b'\r' => st.pos = Pos::DotCr,
                Pos::LineStart | Pos::Dot => {
                    self.emit(std::mem::take(&mut st.eol));
                    self.mid_byte(&mut st, b);
                }
                Pos::DotCr => {
                    self.emit(std::mem::take(&mut st.eol));
                    st.pos = Pos::MidCr;
                    self.mid_byte(&mut st, b);
                }
                Pos::Mid | Pos::MidCr => self.mid_byte(&mut st, b),
            }
        }
        self.mode = Mode::Data(st);
        i
    }

    /// One byte inside a line (after any leading dot).
    fn mid_byte(&mut self, st: &mut DataState, b: u8) {
        let after_cr = st.pos == Pos::MidCr;
        match b {
            b'\n' => {
                st.eol = if after_cr { b"\r\n" } else { b"\n" };
                st.pos = Pos::LineStart;
                return;
            }
            b'\r' => st.pos = Pos::MidCr,
            _ => st.pos = Pos::Mid,
        }
        if after_cr {
            self.emit(b"\r");
        }
        if b != b'\r' {
            self.emit(&[b]);
        }
    }

    /// Appends message bytes to the open transaction, within `max_message`.
    fn emit(&mut self, bytes: &[u8]) {
        let Some(tx) = self.current.as_mut() else {
            return;
        };
        tx.message_size += bytes.len() as u64;
        let room = self.cfg.max_message.saturating_sub(tx.message.len());
        tx.truncated |= bytes.len() > room;
        tx.message
            .extend_from_slice(bytes.get(..room).unwrap_or(bytes));
    }

    fn chunk_done(&mut self, last: bool, finished: &mut Vec<u64>) {
        if last {
            self.finish(true, finished);
        } else {
            self.mode = Mode::Command;
        }
    }

    /// Ends the open transaction's message and returns to command mode.
    fn finish(&mut self, complete: bool, finished: &mut Vec<u64>) {
        self.mode = Mode::Command;
        let Some(mut tx) = self.current.take() else {
            return;
        };
        tx.complete = complete;
        finished.push(tx.id);
        self.next_id += 1;
        self.done.push_back(tx);
    }

    /// Consumes server bytes up to the end of one reply line.
    fn server_bytes(&mut self, data: &[u8]) -> usize {
        let (used, complete) = self.server.fill(data, self.cfg.max_line);
        if complete {
            let (line, cut) = self.server.take();
            if cut {
                self.note("reply_line_too_long");
            }
            self.reply(&line);
        }
        used
    }

    fn reply(&mut self, line: &[u8]) {
        let code = match line {
            [a, b, c, rest @ ..] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
                if rest.first() == Some(&b'-') {
                    return;
                }
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
            }
            _ => {
                self.note("invalid_reply");
                return;
            }
        };
        if !self.greeted {
            self.greeted = true;
            return;
        }
        match self.pending.pop_front() {
            None => self.note("unmatched_reply"),
            Some(Cmd::Data(id)) if code != 354 => {
                self.note("data_rejected");
                self.pending.retain(|c| *c != Cmd::DataEnd(id));
                if matches!(self.mode, Mode::Data(_))
                    && self.current.as_ref().is_some_and(|t| t.id == id)
                {
                    self.mode = Mode::Command;
                    if let Some(tx) = self.current.as_mut() {
                        (tx.message, tx.message_size, tx.truncated) = (Vec::new(), 0, false);
                    }
                }
            }
            Some(Cmd::StartTls) if code == 220 => self.encrypted = true,
            Some(Cmd::StartTls) => {
                self.starttls = false;
                self.note("starttls_rejected");
            }
            Some(_) => {}
        }
    }
}

/// Suricata's EVE `smtp` object: `helo`, `mail_from`, `rcpt_to` (absent
/// ones left out).
pub fn smtp_eve(tx: &SmtpTx) -> Value {
    let mut obj = Map::new();
    if let Some(helo) = &tx.helo {
        obj.insert("helo".into(), helo.as_str().into());
    }
    if let Some(from) = &tx.mail_from {
        obj.insert("mail_from".into(), from.as_str().into());
    }
    if !tx.rcpt_to.is_empty() {
        obj.insert("rcpt_to".into(), tx.rcpt_to.clone().into());
    }
    Value::Object(obj)
}

/// Suricata's EVE `email` object for the parsed message of `tx`: `status`
/// (`PARSE_DONE`, `TRUNCATED` when the message or a part was cut,
/// `UNTERMINATED` when the data never ended), `from`, `to`, `cc`, `subject`
/// (RFC 2047 decoded) and `attachment` (file names); absent ones left out.
pub fn email_eve(msg: &MimeMessage, tx: &SmtpTx) -> Value {
    let status = if !tx.complete {
        "UNTERMINATED"
    } else if tx.truncated || msg.parts.iter().any(|p| p.truncated) {
        "TRUNCATED"
    } else {
        "PARSE_DONE"
    };
    let mut obj = Map::new();
    obj.insert("status".into(), status.into());
    if let Some(from) = msg.header_text("from") {
        obj.insert("from".into(), from.trim().into());
    }
    for name in ["to", "cc"] {
        if let Some(list) = msg.header(name) {
            obj.insert(name.into(), split_addresses(list).into());
        }
    }
    if let Some(subject) = msg.header_text("subject") {
        obj.insert("subject".into(), subject.trim().into());
    }
    let files: Vec<String> = msg
        .attachments()
        .filter_map(|p| p.filename.clone())
        .collect();
    if !files.is_empty() {
        obj.insert("attachment".into(), files.into());
    }
    Value::Object(obj)
}

/// An address list split at commas outside quotes, `<…>` and comments,
/// each entry RFC 2047 decoded and trimmed.
fn split_addresses(list: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut angle, mut comment) = (false, false, false, 0u32);
    let mut start = 0;
    for (i, &b) in list.iter().enumerate() {
        if quoted {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => quoted = true,
            b'<' => angle = true,
            b'>' => angle = false,
            b'(' => comment = comment.saturating_add(1),
            b')' => comment = comment.saturating_sub(1),
            b',' if !angle && comment == 0 => {
                push_address(&mut out, list.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    push_address(&mut out, list.get(start..).unwrap_or_default());
    out
}

fn push_address(out: &mut Vec<String>, raw: &[u8]) {
    let text = decode_encoded_words(raw);
    let text = text.trim();
    if !text.is_empty() {
        out.push(text.to_owned());
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn strip_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    s.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .and_then(|_| s.get(prefix.len()..))
}

fn first_word(s: &[u8]) -> Option<&[u8]> {
    s.split(u8::is_ascii_whitespace).find(|w| !w.is_empty())
}

/// A `MAIL FROM`/`RCPT TO` path as sent: `<…>` with its brackets (spaces
/// inside allowed), else the first word.
fn address(arg: &[u8]) -> Option<String> {
    let arg = arg.trim_ascii_start();
    if arg.first() == Some(&b'<')
        && let Some(end) = memchr(b'>', arg)
    {
        return arg.get(..=end).map(lossy);
    }
    first_word(arg).map(lossy)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::mime::{MimeLimits, parse_message};
    use super::*;
    use crate::testutil::Rng;

    /// `text` with every LF turned into CRLF.
    fn crlf(text: &str) -> Vec<u8> {
        text.replace('\n', "\r\n").into_bytes()
    }

    /// The message as the client sends it after `DATA`: dot-stuffed, ended.
    fn wire(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in message.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                out.push(b'.');
            }
            out.extend_from_slice(line);
        }
        out.extend_from_slice(b"\r\n.\r\n");
        out
    }

    fn mail() -> Vec<u8> {
        crlf(concat!(
            "From: =?UTF-8?B?Tmd1eeG7hW4gVsSDbiBBbg==?= <an.nguyen@example.vn>\n",
            "To: \"Tr\u{1ea7}n, B\u{ec}nh\" <binh@example.vn>,\n",
            " chi@example.vn (Chi, k\u{1ebf} to\u{e1}n)\n",
            "Cc: =?utf-8?Q?Ph=C3=B2ng_IT?= <it@example.vn>\n",
            "Subject: =?UTF-8?B?Q8O0bmcgdsSDbiBraOG6qW4=?=\n",
            "MIME-Version: 1.0\n",
            "Content-Type: multipart/mixed; boundary=\"b1\"\n",
            "\n",
            "--b1\n",
            "Content-Type: text/plain; charset=utf-8\n",
            "\n",
            ".Xem t\u{1ec7}p \u{111}\u{ed}nh k\u{e8}m.\n",
            ".\n",
            "--b1\n",
            "Content-Type: application/octet-stream\n",
            "Content-Disposition: attachment; filename*=UTF-8''C%C3%B4ng%20v%C4%83n.docm\n",
            "Content-Transfer-Encoding: base64\n",
            "\n",
            "UEsDBBQABgB2YmFQcm9qZWN0LmJpbgD//g==\n",
            "--b1--\n",
        ))
    }

    /// A whole session: one mail, an aborted one, a second mail, pipelined.
    fn session() -> Vec<(bool, Vec<u8>)> {
        let first = wire(&mail());
        let mut second = wire(b"Subject: second\r\n\r\n.");
        second.extend_from_slice(b"QUIT\r\n");
        vec![
            (false, b"220 mx.example.vn ESMTP\r\n".to_vec()),
            (true, b"EHLO client.example.vn\r\n".to_vec()),
            (
                false,
                b"250-mx.example.vn\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 CHUNKING\r\n".to_vec(),
            ),
            (
                true,
                b"MAIL FROM:<an.nguyen@example.vn> SIZE=1234\r\nRCPT TO:<binh@example.vn>\r\nRcpt To: <chi@example.vn>\r\nDATA\r\n".to_vec(),
            ),
            (false, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n".to_vec()),
            (true, first),
            (false, b"250 2.0.0 Ok: queued as 4XyZ\r\n".to_vec()),
            (true, b"MAIL FROM:<spam@bad.example>\r\nRCPT TO:<x@example.vn>\r\nRSET\r\n".to_vec()),
            (false, b"250 Ok\r\n250 Ok\r\n250 Ok\r\n".to_vec()),
            (true, b"mail from: <>\r\nrcpt to: <d@example.vn>\r\ndata\r\n".to_vec()),
            (false, b"250 Ok\r\n250 Ok\r\n354 go ahead\r\n".to_vec()),
            (true, second),
            (false, b"250 Ok\r\n221 Bye\r\n".to_vec()),
        ]
    }

    /// Runs `steps`, each cut into pieces of `cut(len)` bytes; returns the
    /// finished transactions (close included), anomalies and encryption.
    fn run(
        cfg: SmtpConfig,
        steps: &[(bool, Vec<u8>)],
        mut cut: impl FnMut(usize) -> usize,
    ) -> (Vec<SmtpTx>, Vec<&'static str>, bool) {
        let mut state = SmtpState::new(cfg);
        let mut txs = Vec::new();
        let mut collect = |state: &SmtpState, ids: Vec<u64>| {
            for id in ids {
                txs.push(state.tx(id).cloned().unwrap());
            }
        };
        for (to_server, data) in steps {
            let mut rest = &data[..];
            while !rest.is_empty() {
                let n = cut(rest.len()).clamp(1, rest.len());
                let ids = state.feed(*to_server, &rest[..n]);
                collect(&state, ids);
                rest = &rest[n..];
            }
        }
        let ids = state.close();
        collect(&state, ids);
        (txs, state.anomalies().to_vec(), state.encrypted())
    }

    fn steps(list: &[(bool, &[u8])]) -> Vec<(bool, Vec<u8>)> {
        list.iter().map(|(d, b)| (*d, b.to_vec())).collect()
    }

    #[test]
    fn full_session_with_pipelining_rset_and_two_messages() {
        let (txs, anomalies, encrypted) = run(SmtpConfig::default(), &session(), |n| n);
        assert_eq!(anomalies, Vec::<&str>::new());
        assert!(!encrypted);
        assert_eq!(txs.len(), 2);
        let helo = Some("client.example.vn".to_owned());
        assert_eq!(
            txs[0],
            SmtpTx {
                id: 0,
                helo: helo.clone(),
                mail_from: Some("<an.nguyen@example.vn>".into()),
                rcpt_to: vec!["<binh@example.vn>".into(), "<chi@example.vn>".into()],
                message: mail(),
                message_size: mail().len() as u64,
                truncated: false,
                complete: true,
            }
        );
        assert_eq!(
            txs[1],
            SmtpTx {
                id: 1,
                helo,
                mail_from: Some("<>".into()),
                rcpt_to: vec!["<d@example.vn>".into()],
                message: b"Subject: second\r\n\r\n.".to_vec(),
                message_size: 20,
                truncated: false,
                complete: true,
            }
        );
    }

    #[test]
    fn any_segmentation_gives_the_same_result() {
        let whole = run(SmtpConfig::default(), &session(), |n| n);
        assert_eq!(run(SmtpConfig::default(), &session(), |_| 1), whole);
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..50 {
            assert_eq!(
                run(SmtpConfig::default(), &session(), |n| 1 + rng
                    .below(n.min(40))),
                whole
            );
        }
        // Bare LF line ends, the end sequence "\n.\n" cut at every byte.
        let lf = steps(&[(true, b"MAIL FROM:<a@b>\nDATA\nx\n..y\n.\nQUIT\n")]);
        let (txs, ..) = run(SmtpConfig::default(), &lf, |n| n);
        assert_eq!(txs[0].message, b"x\n.y");
        assert!(txs[0].complete);
        assert_eq!(run(SmtpConfig::default(), &lf, |_| 1).0, txs);
    }

    #[test]
    fn dot_lines_and_line_ends_inside_data() {
        let data = steps(&[(
            true,
            b"MAIL FROM:<a@b>\r\nDATA\r\n.x\r\n\r\n.\r\r\na\rb\r\r\n.\r\n",
        )]);
        let (txs, ..) = run(SmtpConfig::default(), &data, |n| n);
        assert_eq!(txs[0].message, b"x\r\n\r\n\r\r\na\rb\r");
        assert_eq!(run(SmtpConfig::default(), &data, |_| 1).0, txs);
        // An empty message.
        let (txs, ..) = run(
            SmtpConfig::default(),
            &steps(&[(true, b"DATA\r\n.\r\n")]),
            |n| n,
        );
        assert_eq!((txs[0].message.len(), txs[0].complete), (0, true));
    }

    #[test]
    fn data_rejected_returns_to_command_mode() {
        let session = steps(&[
            (false, b"220 mx\r\n"),
            (
                true,
                b"EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
            ),
            (
                false,
                b"250 mx\r\n250 ok\r\n250 ok\r\n554 5.5.1 Error: no valid recipients\r\n",
            ),
            (
                true,
                b"RSET\r\nMAIL FROM:<e@f>\r\nRCPT TO:<g@h>\r\nDATA\r\n",
            ),
            (false, b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
            (true, b"hi\r\n.\r\nQUIT\r\n"),
        ]);
        let (txs, anomalies, _) = run(SmtpConfig::default(), &session, |n| n);
        assert_eq!(anomalies, ["data_rejected"]);
        assert_eq!(txs.len(), 1);
        assert_eq!(txs[0].id, 0);
        assert_eq!(txs[0].mail_from.as_deref(), Some("<e@f>"));
        assert_eq!(txs[0].rcpt_to, ["<g@h>"]);
        assert_eq!(txs[0].message, b"hi");

        // The data arrives anyway after the refusal: the server reads it as
        // commands, and so do we.
        let session = steps(&[
            (true, b"MAIL FROM:<a@b>\r\nDATA\r\n"),
            (false, b"220 mx\r\n250 ok\r\n503 need RCPT\r\n"),
            (true, b"Subject: x\r\n\r\nbody\r\n.\r\n"),
        ]);
        let (txs, anomalies, _) = run(SmtpConfig::default(), &session, |n| n);
        assert!(txs.is_empty());
        assert_eq!(anomalies, ["data_rejected"]);
    }

    #[test]
    fn bdat_chunks() {
        let session = steps(&[
            (true, b"EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 12\r\nab\r\n.\r\n..cd\rBDAT 3 LAST\r\n"),
            (true, b"\nxyMAIL FROM:<e@f>\r\nBDAT 4\r\nabcdbdat 0 last\r\nQUIT\r\n"),
        ]);
        let whole = run(SmtpConfig::default(), &session, |n| n);
        let (txs, anomalies, _) = &whole;
        assert_eq!(anomalies, &Vec::<&str>::new());
        assert_eq!(txs.len(), 2);
        assert_eq!(txs[0].message, b"ab\r\n.\r\n..cd\r\nxy");
        assert!(txs[0].complete);
        assert_eq!(txs[0].message_size, 15);
        assert_eq!(txs[1].message, b"abcd");
        assert!(txs[1].complete);
        assert_eq!(run(SmtpConfig::default(), &session, |_| 1), whole);

        let bad = steps(&[(true, b"BDAT x\r\nBDAT 99999999999999999999999\r\n")]);
        assert_eq!(run(SmtpConfig::default(), &bad, |n| n).1, ["invalid_bdat"]);
    }

    #[test]
    fn starttls_stops_parsing() {
        let after = b"MAIL FROM:<a@b>\r\nDATA\r\nx\r\n.\r\n";
        let session = steps(&[
            (false, b"220 mx\r\n"),
            (true, b"EHLO a\r\nSTARTTLS\r\n"),
            (
                false,
                b"250-mx\r\n250 STARTTLS\r\n220 2.0.0 Ready to start TLS\r\n",
            ),
            (true, after),
        ]);
        let (txs, _, encrypted) = run(SmtpConfig::default(), &session, |n| n);
        assert!(encrypted && txs.is_empty());

        // The ClientHello is seen before the server's answer.
        let session = steps(&[(
            true,
            b"EHLO a\r\nSTARTTLS\r\n\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        )]);
        assert!(run(SmtpConfig::default(), &session, |n| n).2);

        // Refused: the session goes on in the clear.
        let session = steps(&[
            (false, b"220 mx\r\n"),
            (true, b"EHLO a\r\nSTARTTLS\r\n"),
            (false, b"250 mx\r\n454 4.7.0 TLS not available\r\n"),
            (true, after),
        ]);
        let (txs, anomalies, encrypted) = run(SmtpConfig::default(), &session, |n| n);
        assert!(!encrypted);
        assert_eq!(anomalies, ["starttls_rejected"]);
        assert_eq!(txs[0].message, b"x");

        // A refused DATA whose data was already read does not shift later replies.
        let session = steps(&[
            (false, b"220 mx\r\n"),
            (true, b"MAIL FROM:<a@b>\r\nDATA\r\nx\r\n.\r\nSTARTTLS\r\n"),
            (false, b"250 ok\r\n554 no\r\n220 go\r\n"),
            (true, after),
        ]);
        let (txs, anomalies, encrypted) = run(SmtpConfig::default(), &session, |n| n);
        assert!(encrypted);
        assert_eq!(anomalies, ["data_rejected"]);
        assert_eq!(txs.len(), 1);
    }

    #[test]
    fn close_finishes_partial_message() {
        let mut state = SmtpState::new(SmtpConfig::default());
        assert!(
            state
                .feed(
                    true,
                    b"MAIL FROM:<a@b>\r\nDATA\r\nSubject: x\r\n\r\npartial\r\n"
                )
                .is_empty()
        );
        assert_eq!(state.close(), [0]);
        let tx = state.tx(0).unwrap();
        assert_eq!(tx.message, b"Subject: x\r\n\r\npartial\r\n");
        assert!(!tx.complete);
        assert!(state.close().is_empty());
        let mut state = SmtpState::new(SmtpConfig::default());
        state.feed(true, b"MAIL FROM:<a@b>\r\n");
        assert!(state.close().is_empty());
        assert_eq!(state.tx(0).unwrap().mail_from.as_deref(), Some("<a@b>"));
    }

    #[test]
    fn limits_are_enforced() {
        let cfg = SmtpConfig {
            max_message: 10,
            max_line: 16,
        };
        let mut data = b"EHLO ".to_vec();
        data.extend_from_slice(&[b'a'; 100]);
        data.extend_from_slice(b"\r\nMAIL FROM:<a@b>\r\nDATA\r\n");
        data.extend_from_slice(&wire(&[b'x'; 100]));
        let (txs, anomalies, _) = run(cfg, &[(true, data), (false, vec![b'2'; 50])], |n| n);
        assert_eq!(anomalies, ["line_too_long"]);
        assert_eq!(txs[0].helo.as_deref(), Some("aaaaaaaaaaa"));
        assert_eq!(txs[0].message, [b'x'; 10]);
        assert_eq!(txs[0].message_size, 100);
        assert!(txs[0].truncated && txs[0].complete);
        let (.., anomalies, _) = run(
            cfg,
            &steps(&[(false, &[b'2'; 50]), (false, b"\r\n")]),
            |n| n,
        );
        assert_eq!(anomalies, ["reply_line_too_long"]);

        let mut rcpts = b"MAIL FROM:<a@b>\r\n".to_vec();
        for i in 0..300 {
            rcpts.extend_from_slice(format!("RCPT TO:<u{i}@b>\r\n").as_bytes());
        }
        rcpts.extend_from_slice(b"DATA\r\n.\r\n");
        let (txs, anomalies, _) = run(SmtpConfig::default(), &[(true, rcpts)], |n| n);
        assert_eq!(txs[0].rcpt_to.len(), MAX_RCPT);
        assert!(anomalies.contains(&"too_many_recipients"));
        assert!(anomalies.contains(&"too_many_pipelined_commands"));

        // Old finished transactions are dropped, recent ones kept.
        let mut state = SmtpState::new(SmtpConfig::default());
        for i in 0..40u64 {
            assert_eq!(
                state.feed(true, b"MAIL FROM:<a@b>\r\nDATA\r\nx\r\n.\r\n"),
                [i]
            );
            assert_eq!(state.tx(i).unwrap().message, b"x");
        }
        assert!(state.tx(0).is_none());
        assert!(state.done.len() <= MAX_KEPT_TXS + 1);
    }

    #[test]
    fn eve_objects() {
        let (txs, ..) = run(SmtpConfig::default(), &session(), |n| n);
        assert_eq!(
            smtp_eve(&txs[0]),
            json!({
                "helo": "client.example.vn",
                "mail_from": "<an.nguyen@example.vn>",
                "rcpt_to": ["<binh@example.vn>", "<chi@example.vn>"],
            })
        );
        assert_eq!(smtp_eve(&SmtpTx::default()), json!({}));
        let msg = parse_message(&txs[0].message, &MimeLimits::default());
        assert_eq!(msg.parts[0].data, crlf(".Xem tệp đính kèm.\n."));
        assert_eq!(
            email_eve(&msg, &txs[0]),
            json!({
                "status": "PARSE_DONE",
                "from": "Nguyễn Văn An <an.nguyen@example.vn>",
                "to": ["\"Trần, Bình\" <binh@example.vn>", "chi@example.vn (Chi, kế toán)"],
                "cc": ["Phòng IT <it@example.vn>"],
                "subject": "Công văn khẩn",
                "attachment": ["Công văn.docm"],
            })
        );
        let partial = SmtpTx {
            complete: false,
            ..txs[1].clone()
        };
        let msg = parse_message(&partial.message, &MimeLimits::default());
        assert_eq!(
            email_eve(&msg, &partial),
            json!({"status": "UNTERMINATED", "subject": "second"})
        );
        let cut = SmtpTx {
            truncated: true,
            ..txs[1].clone()
        };
        assert_eq!(email_eve(&msg, &cut)["status"], "TRUNCATED");
    }

    #[test]
    fn garbage_never_panics() {
        let cfg = SmtpConfig {
            max_message: 300,
            max_line: 64,
        };
        let frags: &[&[u8]] = &[
            b"MAIL FROM:<a@b>\r\n",
            b"RCPT TO:<c@d>\r\n",
            b"DATA\r\n",
            b"\r\n.\r\n",
            b"..",
            b"\n.\n",
            b"BDAT 7\r\n",
            b"BDAT 3 LAST\r\n",
            b"RSET\r\n",
            b"STARTTLS\r\n",
            b"354 go\r\n",
            b"250-x\r\n",
            b"250 ok\r\n",
            b"554 no\r\n",
            b"220 tls\r\n",
            b"\r",
            b"\n",
            b".",
        ];
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..200 {
            let mut state = SmtpState::new(cfg);
            for _ in 0..50 {
                let mut data = Vec::new();
                for _ in 0..rng.below(8) {
                    if rng.below(3) == 0 {
                        data.extend((0..rng.below(80)).map(|_| rng.next() as u8));
                    } else {
                        data.extend_from_slice(frags[rng.below(frags.len())]);
                    }
                }
                let to_server = rng.below(3) != 0;
                for id in state.feed(to_server, &data) {
                    let tx = state.tx(id).unwrap();
                    assert!(tx.message.len() <= cfg.max_message);
                    assert!(tx.rcpt_to.len() <= MAX_RCPT);
                }
                assert!(state.pending.len() <= MAX_PENDING);
                assert!(state.client.buf.len() <= cfg.max_line);
                assert!(state.server.buf.len() <= cfg.max_line);
                if round % 10 == 0 {
                    state.close();
                }
            }
            state.close();
        }
        // Truncated sessions.
        let session = session();
        let client: Vec<u8> = session
            .iter()
            .filter(|s| s.0)
            .flat_map(|s| s.1.clone())
            .collect();
        for end in (0..client.len()).step_by(7) {
            let mut state = SmtpState::new(cfg);
            state.feed(true, &client[..end]);
            for id in state.close() {
                let tx = state.tx(id).unwrap();
                let msg = parse_message(&tx.message, &MimeLimits::default());
                let _ = email_eve(&msg, tx);
            }
        }
    }
}
