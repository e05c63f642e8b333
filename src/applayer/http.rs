//! HTTP/1.x parser for reassembled TCP streams.
//!
//! Detection needs the pieces of every HTTP transaction of a connection —
//! method, URI, headers, status, bodies — as soon as they are known, no matter
//! how the stream was cut into segments. This module turns the two in-order
//! byte streams of one connection (client to server, server to client) into
//! [`HttpTx`] records, in the spirit of libhtp as Suricata uses it.
//!
//! How it works:
//! - Each direction has its own small state machine: waiting for a
//!   start line, reading header lines, reading a body framed by
//!   `Content-Length`, by chunks, or by the end of the connection. Line-based
//!   states collect one line at a time in a buffer capped at 16 KiB; body
//!   states consume bytes straight from the input. Because the machine only
//!   ever looks at complete lines or counts bytes, feeding a stream whole or
//!   byte by byte gives the same transactions.
//! - A request creates its transaction as soon as its request line is
//!   complete. Responses are matched to requests in order; a response with no
//!   request waiting gets a transaction of its own.
//! - Bodies are dechunked and, when `Content-Encoding` says gzip or deflate,
//!   inflated as a stream with bounded output buffers; only the first
//!   `*_body_limit` decoded bytes are kept, and inflating stops there, so a
//!   compression bomb costs no more than the limit.
//! - Everything that grows is capped (line length, header count and bytes,
//!   kept body, transactions per connection), and nothing here panics on
//!   input: malformed traffic is recorded as snake_case anomalies on the
//!   transaction instead.
//!
//! Choices worth knowing (where this differs from, or pins down, libhtp):
//! - When a request line ends in an `HTTP/x` token, everything between the
//!   method and that token is the URI, spaces included; otherwise the URI
//!   ends at the first space and the rest is an (invalid) protocol.
//! - A request line without a protocol is HTTP/0.9: no headers, no body. A
//!   line cut at 16 KiB is never taken for one; its protocol is looked for
//!   in the bytes that were cut off.
//! - A response that does not start with `HTTP` is a body read until the
//!   connection closes (as libhtp does), flagged `invalid_response_line`
//!   unless the request was HTTP/0.9.
//! - Trailers of chunked bodies are appended to the header list (not to the
//!   raw header bytes).
//! - When inflating stops at the body limit, `*_entity_len` is the limit
//!   (what was inflated), not the full decoded size.
//! - After a 2xx answer to CONNECT, or a 101, both directions are a tunnel and
//!   are no longer parsed.

use flate2::{Decompress, FlushDecompress, Status};

/// Longest line (request line, status line, header line, chunk line) kept.
const MAX_LINE: usize = 16 * 1024;
/// Bytes kept from the end of an overlong line.
const TAIL: usize = 64;
/// Most headers kept per message.
const MAX_HEADERS: usize = 256;
/// Most raw header bytes kept per message.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Longest gzip header accepted (file name and comment included).
const MAX_GZIP_HEADER: usize = 16 * 1024;
/// Most bytes an inner (non-final) decompression layer may produce per body.
const MAX_INTERMEDIATE: usize = 32 * 1024 * 1024;
/// Hard cap on content-encoding layers, whatever the configuration says.
const MAX_LAYERS: usize = 8;
/// Output buffer of one inflate call.
const INFLATE_CHUNK: usize = 8 * 1024;

/// Anomalies that count as parse errors in [`HttpStats::parse_errors`].
const PARSE_ERRORS: &[&str] = &[
    "invalid_request_line",
    "invalid_protocol",
    "invalid_header",
    "invalid_response_line",
    "invalid_status",
    "invalid_chunk_size",
    "invalid_chunk_framing",
    "invalid_content_length",
    "invalid_transfer_encoding",
    "chunked_and_content_length",
    "line_too_long",
    "too_many_headers",
];

/// Settings of the HTTP parser.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Bytes of decoded request body kept for inspection.
    pub request_body_limit: usize,
    /// Bytes of decoded response body kept for inspection.
    pub response_body_limit: usize,
    /// Content-encoding layers decoded (gzip inside gzip …); 0 turns
    /// decompression off.
    pub decompress_layer_limit: u32,
    /// Open transactions kept per connection; beyond, the oldest is dropped
    /// and counted in [`HttpStats::dropped_txs`].
    pub max_txs: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            request_body_limit: 100 * 1024,
            response_body_limit: 100 * 1024,
            decompress_layer_limit: 2,
            max_txs: 512,
        }
    }
}

/// How far one direction of a transaction has been parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Progress {
    /// Nothing seen yet.
    #[default]
    None,
    /// The request or status line is parsed.
    Line,
    /// The header block is complete.
    Headers,
    /// Inside the body.
    Body,
    /// The message is done.
    Complete,
}

/// One header field.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// The name as received (case kept).
    pub name: Vec<u8>,
    /// The value without surrounding spaces and tabs; folded continuation
    /// lines are joined with a single space.
    pub value: Vec<u8>,
}

/// One HTTP transaction: a request and its response.
#[derive(Debug, Clone, Default)]
pub struct HttpTx {
    /// 0, 1, 2 … per connection.
    pub id: u64,
    /// The request line without its line ending.
    pub request_line: Vec<u8>,
    /// The request method.
    pub method: Vec<u8>,
    /// The URI as on the wire.
    pub uri_raw: Vec<u8>,
    /// The URI normalised by [`normalize_uri`].
    pub uri_normalized: Vec<u8>,
    /// E.g. `HTTP/1.1`; empty for an HTTP/0.9 style `GET /`.
    pub protocol: Vec<u8>,
    /// Request headers (and trailers of a chunked request body).
    pub request_headers: Vec<Header>,
    /// The header lines after the request line exactly as received, each with
    /// its line ending, including the final empty line.
    pub request_headers_raw: Vec<u8>,
    /// The decoded request body, at most `request_body_limit` bytes.
    pub request_body: Vec<u8>,
    /// Request body bytes on the wire (chunk framing included).
    pub request_message_len: u64,
    /// Request body bytes after dechunking and decompression (when inflating
    /// stopped at the body limit: the bytes inflated, i.e. the limit).
    pub request_entity_len: u64,
    /// The status line without its line ending.
    pub response_line: Vec<u8>,
    /// The protocol of the status line.
    pub response_protocol: Vec<u8>,
    /// The status code as received, e.g. `200`.
    pub status_raw: Vec<u8>,
    /// The status code, when it is three digits.
    pub status: Option<u16>,
    /// The reason phrase.
    pub status_message: Vec<u8>,
    /// Response headers (and trailers of a chunked response body).
    pub response_headers: Vec<Header>,
    /// The header lines after the status line exactly as received.
    pub response_headers_raw: Vec<u8>,
    /// The decoded response body, at most `response_body_limit` bytes.
    pub response_body: Vec<u8>,
    /// Response body bytes on the wire (chunk framing included).
    pub response_message_len: u64,
    /// Response body bytes after dechunking and decompression (when
    /// inflating stopped at the body limit: the bytes inflated).
    pub response_entity_len: u64,
    /// How far the request is parsed.
    pub request_progress: Progress,
    /// How far the response is parsed.
    pub response_progress: Progress,
    /// The request body was longer than the limit (or lost to a gap).
    pub request_body_truncated: bool,
    /// The response body was longer than the limit (or lost to a gap).
    pub response_body_truncated: bool,
    /// What was odd about this transaction, each name once.
    pub anomalies: Vec<&'static str>,
}

impl HttpTx {
    /// A request header by name (case-insensitive); repeated headers are
    /// joined with `", "`.
    pub fn request_header(&self, name: &[u8]) -> Option<Vec<u8>> {
        header_value(&self.request_headers, name)
    }

    /// A response header by name (case-insensitive); repeated headers are
    /// joined with `", "`.
    pub fn response_header(&self, name: &[u8]) -> Option<Vec<u8>> {
        header_value(&self.response_headers, name)
    }

    fn side(&mut self, req: bool) -> Side<'_> {
        if req {
            Side {
                headers: &mut self.request_headers,
                raw: &mut self.request_headers_raw,
                body: &mut self.request_body,
                message_len: &mut self.request_message_len,
                entity_len: &mut self.request_entity_len,
                progress: &mut self.request_progress,
                truncated: &mut self.request_body_truncated,
                anomalies: &mut self.anomalies,
            }
        } else {
            Side {
                headers: &mut self.response_headers,
                raw: &mut self.response_headers_raw,
                body: &mut self.response_body,
                message_len: &mut self.response_message_len,
                entity_len: &mut self.response_entity_len,
                progress: &mut self.response_progress,
                truncated: &mut self.response_body_truncated,
                anomalies: &mut self.anomalies,
            }
        }
    }

    /// Forgets the response (a 1xx interim response, or a new status line).
    fn reset_response(&mut self) {
        self.response_line.clear();
        self.response_protocol.clear();
        self.status_raw.clear();
        self.status = None;
        self.status_message.clear();
        self.response_headers.clear();
        self.response_headers_raw.clear();
        self.response_body.clear();
        self.response_message_len = 0;
        self.response_entity_len = 0;
        self.response_body_truncated = false;
        self.response_progress = Progress::None;
    }
}

/// Counters of one connection's parser.
#[derive(Debug, Clone, Default)]
pub struct HttpStats {
    /// Transactions created.
    pub txs: u64,
    /// Malformed lines, headers, lengths and chunks seen.
    pub parse_errors: u64,
    /// Transactions dropped because `max_txs` were open.
    pub dropped_txs: u64,
    /// Bodies whose decompression failed.
    pub decompression_errors: u64,
}

/// The fields of one direction of a transaction.
struct Side<'a> {
    headers: &'a mut Vec<Header>,
    raw: &'a mut Vec<u8>,
    body: &'a mut Vec<u8>,
    message_len: &'a mut u64,
    entity_len: &'a mut u64,
    progress: &'a mut Progress,
    truncated: &'a mut bool,
    anomalies: &'a mut Vec<&'static str>,
}

/// Where one direction's state machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Waiting for a request or status line (empty lines skipped).
    #[default]
    Line,
    /// Reading header lines.
    Headers,
    /// Body with this many bytes left.
    Length(u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// Chunk data with this many bytes left.
    ChunkData(u64),
    /// Reading the line ending after chunk data.
    ChunkEnd,
    /// Reading trailer lines after the last chunk.
    Trailers,
    /// Body until the connection closes.
    Close,
    /// After a gap: skipping lines until one looks like a start line.
    Resync,
    /// CONNECT or protocol upgrade: no more HTTP here.
    Tunnel,
}

/// Parsing state of one direction.
#[derive(Default)]
struct Dir {
    state: State,
    /// The partial line being collected (without its `\n`).
    buf: Vec<u8>,
    /// The line in `buf` was longer than [`MAX_LINE`].
    overlong: bool,
    /// The last bytes cut off an overlong line (to find its protocol).
    tail: Vec<u8>,
    /// The transaction the message in progress belongs to.
    current: Option<u64>,
    /// That transaction when it is no longer kept in the list (dropped by
    /// `max_txs`): parsing goes on in it so framing stays right.
    orphan: Option<Box<HttpTx>>,
    /// Content decoding of the body in progress.
    decoder: Option<Box<BodyDecoder>>,
    /// Raw header bytes kept for the message in progress.
    header_bytes: usize,
    /// The header limits were hit for the message in progress.
    headers_full: bool,
    /// The last header line was a valid field, so a folded line may follow.
    fold_ok: bool,
}

impl Dir {
    fn reset_message(&mut self) {
        self.current = None;
        self.orphan = None;
        self.decoder = None;
        self.header_bytes = 0;
        self.headers_full = false;
        self.fold_ok = false;
    }

    fn clear_line(&mut self) {
        self.buf.clear();
        self.overlong = false;
        self.tail.clear();
    }

    /// Collects bytes up to and including the next `\n`. Returns the bytes
    /// consumed and whether a line is complete in `buf`.
    fn take_line(&mut self, data: &[u8]) -> (usize, bool) {
        match memchr::memchr(b'\n', data) {
            Some(i) => {
                self.append(data.get(..i).unwrap_or_default());
                (i + 1, true)
            }
            None => {
                self.append(data);
                (data.len(), false)
            }
        }
    }

    fn append(&mut self, b: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.buf.len());
        if b.len() > room {
            self.overlong = true;
            let cut = b.get(room..).unwrap_or_default();
            let cut = cut
                .get(cut.len().saturating_sub(TAIL)..)
                .unwrap_or_default();
            self.tail.extend_from_slice(cut);
            let excess = self.tail.len().saturating_sub(TAIL);
            self.tail.drain(..excess);
        }
        self.buf
            .extend_from_slice(b.get(..room.min(b.len())).unwrap_or_default());
    }
}

/// How a body is delimited.
enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// What to do once a header block is complete.
enum AfterHeaders {
    Finish,
    Interim,
    Tunnel,
    Body(Framing, Vec<Coding>),
}

/// Incremental HTTP/1.x parser of one connection.
///
/// Feed each direction's reassembled bytes in order; transactions appear in
/// [`HttpParser::txs`] as they are parsed.
pub struct HttpParser {
    config: HttpConfig,
    txs: Vec<HttpTx>,
    next_id: u64,
    /// Id of the transaction the next response belongs to.
    resp_cursor: u64,
    /// `[request, response]`.
    dirs: [Dir; 2],
    stats: HttpStats,
}

fn idx(req: bool) -> usize {
    usize::from(!req)
}

fn find_mut(txs: &mut [HttpTx], id: u64) -> Option<&mut HttpTx> {
    let i = txs.binary_search_by_key(&id, |t| t.id).ok()?;
    txs.get_mut(i)
}

/// The transaction a direction is parsing: the kept one, or its orphan.
fn cur_tx<'a>(
    txs: &'a mut [HttpTx],
    orphan: &'a mut Option<Box<HttpTx>>,
    id: u64,
) -> Option<&'a mut HttpTx> {
    if let Some(o) = orphan.as_deref_mut()
        && o.id == id
    {
        return Some(o);
    }
    find_mut(txs, id)
}

fn note(anomalies: &mut Vec<&'static str>, stats: &mut HttpStats, name: &'static str) {
    if PARSE_ERRORS.contains(&name) {
        stats.parse_errors += 1;
    }
    if !anomalies.contains(&name) {
        anomalies.push(name);
    }
}

impl HttpParser {
    /// A parser for a new connection.
    pub fn new(config: HttpConfig) -> Self {
        HttpParser {
            config,
            txs: Vec::new(),
            next_id: 0,
            resp_cursor: 0,
            dirs: [Dir::default(), Dir::default()],
            stats: HttpStats::default(),
        }
    }

    /// The settings this parser runs with.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Feeds client-to-server bytes, in order.
    pub fn feed_request(&mut self, data: &[u8]) {
        self.feed(true, data);
    }

    /// Feeds server-to-client bytes, in order.
    pub fn feed_response(&mut self, data: &[u8]) {
        self.feed(false, data);
    }

    /// The client finished sending: completes a request in progress.
    pub fn close_request(&mut self) {
        self.close(true);
    }

    /// The server finished sending: completes a body delimited by the
    /// connection close (and any other response in progress).
    pub fn close_response(&mut self) {
        self.close(false);
    }

    /// Data was lost in one direction: the message in progress is marked
    /// truncated and complete, and parsing resumes at the next line that
    /// looks like a request line (or a status line).
    pub fn gap(&mut self, to_server: bool) {
        let req = to_server;
        let d = idx(req);
        if self.dirs[d].state == State::Tunnel {
            return;
        }
        if self.dirs[d].state != State::Line
            && let Some(id) = self.dirs[d].current
        {
            if let Some(tx) = find_mut(&mut self.txs, id) {
                let side = tx.side(req);
                note(side.anomalies, &mut self.stats, "gap");
                *side.truncated = true;
                *side.progress = Progress::Complete;
            }
            if !req {
                self.resp_cursor = self.resp_cursor.max(id.saturating_add(1));
            }
        }
        let dir = &mut self.dirs[d];
        dir.clear_line();
        dir.reset_message();
        dir.state = State::Resync;
    }

    /// Transactions in order, oldest first.
    pub fn txs(&self) -> &[HttpTx] {
        &self.txs
    }

    /// The transaction with this id, if still kept.
    pub fn tx(&self, id: u64) -> Option<&HttpTx> {
        let i = self.txs.binary_search_by_key(&id, |t| t.id).ok()?;
        self.txs.get(i)
    }

    /// Drops the transactions with an id below `below_id` whose request and
    /// response are both complete.
    pub fn remove_done(&mut self, below_id: u64) {
        self.txs.retain(|t| {
            !(t.id < below_id
                && t.request_progress == Progress::Complete
                && t.response_progress == Progress::Complete)
        });
    }

    /// Counters of this connection.
    pub fn stats(&self) -> &HttpStats {
        &self.stats
    }

    fn new_tx(&mut self) -> u64 {
        let max = self.config.max_txs.max(1);
        while self.txs.len() >= max {
            let old = self.txs.remove(0);
            self.stats.dropped_txs += 1;
            for dir in &mut self.dirs {
                if dir.current == Some(old.id) {
                    dir.orphan = Some(Box::new(old.clone()));
                }
            }
        }
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        self.txs.push(HttpTx {
            id,
            ..HttpTx::default()
        });
        self.stats.txs += 1;
        id
    }

    /// The transaction a new response belongs to, created when no request is
    /// waiting for one.
    fn response_tx(&mut self) -> u64 {
        if self.resp_cursor < self.next_id {
            return self.resp_cursor;
        }
        let id = self.new_tx();
        if let Some(tx) = find_mut(&mut self.txs, id) {
            tx.request_progress = Progress::Complete;
            note(
                &mut tx.anomalies,
                &mut self.stats,
                "response_without_request",
            );
        }
        self.resp_cursor = id;
        id
    }

    /// Records an anomaly on the message a direction is parsing.
    fn anomaly(&mut self, req: bool, name: &'static str) {
        let dir = &mut self.dirs[idx(req)];
        let Some(id) = dir.current else {
            return;
        };
        match cur_tx(&mut self.txs, &mut dir.orphan, id) {
            Some(tx) => note(&mut tx.anomalies, &mut self.stats, name),
            None => note(&mut Vec::new(), &mut self.stats, name),
        }
    }

    fn feed(&mut self, req: bool, mut data: &[u8]) {
        while !data.is_empty() {
            let n = self.step(req, data).max(1);
            data = data.get(n..).unwrap_or_default();
        }
    }

    /// Consumes a prefix of `data` (at least one byte when all is well) and
    /// returns its length.
    fn step(&mut self, req: bool, data: &[u8]) -> usize {
        let d = idx(req);
        match self.dirs[d].state {
            State::Tunnel => data.len(),
            State::Length(rem) | State::ChunkData(rem) => {
                let chunk = matches!(self.dirs[d].state, State::ChunkData(_));
                let n = usize::try_from(rem).map_or(data.len(), |r| r.min(data.len()));
                let part = data.get(..n).unwrap_or_default();
                self.body_wire(req, n);
                self.body_data(req, part);
                let left = rem.saturating_sub(n as u64);
                if left > 0 {
                    self.dirs[d].state = if chunk {
                        State::ChunkData(left)
                    } else {
                        State::Length(left)
                    };
                } else if chunk {
                    self.dirs[d].state = State::ChunkEnd;
                } else {
                    self.finish_message(req);
                }
                n
            }
            State::Close => {
                self.body_wire(req, data.len());
                self.body_data(req, data);
                data.len()
            }
            state => {
                let (n, done) = self.dirs[d].take_line(data);
                if matches!(state, State::ChunkSize | State::ChunkEnd | State::Trailers) {
                    self.body_wire(req, n);
                }
                if done {
                    let line = std::mem::take(&mut self.dirs[d].buf);
                    let overlong = std::mem::take(&mut self.dirs[d].overlong);
                    self.process_line(req, &line, overlong, true);
                    self.dirs[d].tail.clear();
                }
                n
            }
        }
    }

    /// Handles one complete line (`line` without its `\n`, possibly with a
    /// trailing `\r`).
    fn process_line(&mut self, req: bool, line: &[u8], overlong: bool, terminated: bool) {
        let d = idx(req);
        let content = strip_cr(line);
        match self.dirs[d].state {
            State::Line => self.start_line(req, line, overlong, terminated),
            State::Resync => {
                if looks_like_start(req, content) {
                    self.dirs[d].state = State::Line;
                    self.start_line(req, line, overlong, terminated);
                }
            }
            State::Headers => self.header_line(req, line, overlong, terminated, false),
            State::ChunkSize => self.chunk_size_line(req, content),
            State::ChunkEnd => {
                if content.is_empty() {
                    self.dirs[d].state = State::ChunkSize;
                } else {
                    self.anomaly(req, "invalid_chunk_framing");
                    self.chunk_size_line(req, content);
                }
            }
            State::Trailers => {
                if content.is_empty() {
                    self.finish_message(req);
                } else {
                    self.header_line(req, line, overlong, terminated, true);
                }
            }
            State::Length(_) | State::ChunkData(_) | State::Close | State::Tunnel => {}
        }
    }

    fn start_line(&mut self, req: bool, line: &[u8], overlong: bool, terminated: bool) {
        let content = strip_cr(line);
        if is_blank(content) {
            return;
        }
        if req {
            self.start_request(content, overlong);
        } else {
            self.start_response(line, overlong, terminated);
        }
    }

    fn start_request(&mut self, content: &[u8], overlong: bool) {
        let rl = parse_request_line(content);
        let mut protocol = rl.protocol.to_vec();
        if overlong && protocol.is_empty() {
            // the protocol may be in the part of the line that was cut off
            let tail = trim_end(strip_cr(&self.dirs[idx(true)].tail));
            let start = tail.iter().rposition(|&c| is_ws(c)).map_or(0, |i| i + 1);
            let candidate = tail.get(start..).unwrap_or_default();
            if start > 0 && starts_with_ci(candidate, b"HTTP/") {
                protocol = candidate.to_vec();
            }
        }
        // an overlong line is no HTTP/0.9 request: headers follow
        let headers_follow = !protocol.is_empty() || overlong;
        let id = self.new_tx();
        if let Some(tx) = find_mut(&mut self.txs, id) {
            tx.request_line = content.to_vec();
            tx.method = rl.method.to_vec();
            tx.uri_raw = rl.uri.to_vec();
            tx.uri_normalized = normalize_uri(rl.uri);
            tx.protocol = protocol;
            tx.request_progress = Progress::Line;
            for a in &rl.anomalies {
                note(&mut tx.anomalies, &mut self.stats, a);
            }
            if overlong {
                note(&mut tx.anomalies, &mut self.stats, "line_too_long");
            }
            if !headers_follow {
                // HTTP/0.9: no headers, no body
                tx.request_progress = Progress::Complete;
            }
        }
        let dir = &mut self.dirs[idx(true)];
        dir.reset_message();
        if headers_follow {
            dir.state = State::Headers;
            dir.current = Some(id);
        }
    }

    fn start_response(&mut self, line: &[u8], overlong: bool, terminated: bool) {
        let content = strip_cr(line);
        let id = self.response_tx();
        let status_line = starts_with_ci(trim_start(content), b"HTTP");
        let dir = &mut self.dirs[idx(false)];
        dir.reset_message();
        dir.current = Some(id);
        if find_mut(&mut self.txs, id).is_none() {
            // its request was dropped: parse into a transaction nobody sees
            dir.orphan = Some(Box::new(HttpTx {
                id,
                ..HttpTx::default()
            }));
        }
        if let Some(tx) = cur_tx(&mut self.txs, &mut dir.orphan, id) {
            let http09 = tx.protocol.is_empty() && !tx.method.is_empty();
            tx.reset_response();
            if overlong {
                note(&mut tx.anomalies, &mut self.stats, "line_too_long");
            }
            if status_line {
                let sl = parse_status_line(content);
                tx.response_line = content.to_vec();
                tx.response_protocol = sl.protocol.to_vec();
                tx.status_raw = sl.code.to_vec();
                tx.status = sl.status;
                tx.status_message = sl.message.to_vec();
                tx.response_progress = Progress::Line;
                for a in &sl.anomalies {
                    note(&mut tx.anomalies, &mut self.stats, a);
                }
            } else if !http09 {
                note(&mut tx.anomalies, &mut self.stats, "invalid_response_line");
            }
        }
        if status_line {
            dir.state = State::Headers;
        } else {
            // No status line: like libhtp, the response is a body that lasts
            // until the connection closes, starting with this very line.
            dir.state = State::Close;
            let mut bytes = line.to_vec();
            if terminated {
                bytes.push(b'\n');
            }
            self.body_wire(false, bytes.len());
            self.body_data(false, &bytes);
        }
    }

    fn header_line(
        &mut self,
        req: bool,
        line: &[u8],
        overlong: bool,
        terminated: bool,
        trailer: bool,
    ) {
        let d = idx(req);
        let content = strip_cr(line);
        let Some(id) = self.dirs[d].current else {
            return;
        };
        let dir = &mut self.dirs[d];
        let Some(tx) = cur_tx(&mut self.txs, &mut dir.orphan, id) else {
            if content.is_empty() && !trailer {
                self.end_headers(req);
            }
            return;
        };
        let side = tx.side(req);
        if content.is_empty() {
            // only header blocks get here with an empty line
            side.raw.extend_from_slice(line);
            if terminated {
                side.raw.push(b'\n');
            }
            self.end_headers(req);
            return;
        }
        let raw_len = line.len() + usize::from(terminated);
        if dir.header_bytes.saturating_add(raw_len) > MAX_HEADER_BYTES {
            if !dir.headers_full {
                dir.headers_full = true;
                note(side.anomalies, &mut self.stats, "too_many_headers");
            }
            dir.fold_ok = false;
            return;
        }
        dir.header_bytes += raw_len;
        if !trailer {
            side.raw.extend_from_slice(line);
            if terminated {
                side.raw.push(b'\n');
            }
        }
        if overlong {
            note(side.anomalies, &mut self.stats, "line_too_long");
        }
        if content.first().is_some_and(|&c| is_ws(c)) {
            // obs-fold: continuation of the previous field
            let more = trim(content);
            match side.headers.last_mut() {
                Some(last) if dir.fold_ok => {
                    if !more.is_empty() {
                        if !last.value.is_empty() {
                            last.value.push(b' ');
                        }
                        let room = MAX_LINE.saturating_sub(last.value.len());
                        last.value.extend_from_slice(
                            more.get(..room.min(more.len())).unwrap_or_default(),
                        );
                    }
                }
                _ => note(side.anomalies, &mut self.stats, "invalid_header"),
            }
            return;
        }
        let Some(colon) = memchr::memchr(b':', content) else {
            note(side.anomalies, &mut self.stats, "invalid_header");
            dir.fold_ok = false;
            return;
        };
        let (name_raw, rest) = content.split_at(colon);
        let name = trim_end(name_raw);
        let value = trim(rest.get(1..).unwrap_or_default());
        if name.is_empty() || name.len() != name_raw.len() || !name.iter().all(|&c| is_token(c)) {
            note(side.anomalies, &mut self.stats, "invalid_header");
        }
        if name.is_empty() {
            dir.fold_ok = false;
            return;
        }
        if side.headers.len() >= MAX_HEADERS {
            if !dir.headers_full {
                dir.headers_full = true;
                note(side.anomalies, &mut self.stats, "too_many_headers");
            }
            dir.fold_ok = false;
            return;
        }
        side.headers.push(Header {
            name: name.to_vec(),
            value: value.to_vec(),
        });
        dir.fold_ok = true;
    }

    fn end_headers(&mut self, req: bool) {
        let d = idx(req);
        let Some(id) = self.dirs[d].current else {
            self.dirs[d].state = State::Line;
            return;
        };
        let layer_limit = usize::try_from(self.config.decompress_layer_limit)
            .unwrap_or(MAX_LAYERS)
            .min(MAX_LAYERS);
        let Some(tx) = cur_tx(&mut self.txs, &mut self.dirs[d].orphan, id) else {
            // the transaction is gone: its framing is unknown
            self.finish_message(req);
            return;
        };
        let stats = &mut self.stats;
        let after = if req {
            tx.request_progress = Progress::Headers;
            let framing =
                body_framing(&tx.request_headers, &mut tx.anomalies, stats, Framing::None);
            match framing {
                Framing::None => AfterHeaders::Finish,
                f => AfterHeaders::Body(
                    f,
                    codings(&tx.request_headers, layer_limit, &mut tx.anomalies, stats),
                ),
            }
        } else {
            tx.response_progress = Progress::Headers;
            let status = tx.status.unwrap_or(0);
            let connect = tx.method.eq_ignore_ascii_case(b"CONNECT");
            let head = tx.method.eq_ignore_ascii_case(b"HEAD");
            if (100..200).contains(&status) && status != 101 {
                tx.reset_response();
                AfterHeaders::Interim
            } else if status == 101 || (connect && (200..300).contains(&status)) {
                AfterHeaders::Tunnel
            } else if head || status == 204 || status == 304 {
                AfterHeaders::Finish
            } else {
                match body_framing(
                    &tx.response_headers,
                    &mut tx.anomalies,
                    stats,
                    Framing::Close,
                ) {
                    Framing::None => AfterHeaders::Finish,
                    f => AfterHeaders::Body(
                        f,
                        codings(&tx.response_headers, layer_limit, &mut tx.anomalies, stats),
                    ),
                }
            }
        };
        match after {
            AfterHeaders::Finish => self.finish_message(req),
            AfterHeaders::Interim => {
                let dir = &mut self.dirs[d];
                dir.reset_message();
                dir.state = State::Line;
            }
            AfterHeaders::Tunnel => {
                self.finish_message(req);
                self.tunnel();
            }
            AfterHeaders::Body(framing, layers) => {
                let dir = &mut self.dirs[d];
                dir.decoder = (!layers.is_empty()).then(|| Box::new(BodyDecoder::new(layers)));
                dir.state = match framing {
                    Framing::Length(n) => State::Length(n),
                    Framing::Chunked => State::ChunkSize,
                    Framing::Close | Framing::None => State::Close,
                };
            }
        }
    }

    fn chunk_size_line(&mut self, req: bool, content: &[u8]) {
        let d = idx(req);
        match parse_chunk_size(content) {
            Some(0) => self.dirs[d].state = State::Trailers,
            Some(n) => self.dirs[d].state = State::ChunkData(n),
            None => {
                self.anomaly(req, "invalid_chunk_size");
                self.finish_message(req);
                self.dirs[d].state = State::Resync;
            }
        }
    }

    /// Counts body bytes on the wire.
    fn body_wire(&mut self, req: bool, n: usize) {
        let dir = &mut self.dirs[idx(req)];
        let Some(id) = dir.current else {
            return;
        };
        if let Some(tx) = cur_tx(&mut self.txs, &mut dir.orphan, id) {
            let side = tx.side(req);
            *side.message_len = side.message_len.saturating_add(n as u64);
            if *side.progress < Progress::Body {
                *side.progress = Progress::Body;
            }
        }
    }

    /// Takes dechunked body bytes.
    fn body_data(&mut self, req: bool, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let limit = if req {
            self.config.request_body_limit
        } else {
            self.config.response_body_limit
        };
        let dir = &mut self.dirs[idx(req)];
        let Some(id) = dir.current else {
            return;
        };
        let Some(tx) = cur_tx(&mut self.txs, &mut dir.orphan, id) else {
            return;
        };
        let mut side = tx.side(req);
        match dir.decoder.as_mut() {
            Some(dec) => dec.feed(data, &mut side, limit, &mut self.stats),
            None => keep_plain(&mut side, data, limit),
        }
    }

    fn finish_message(&mut self, req: bool) {
        let d = idx(req);
        let dir = &mut self.dirs[d];
        let id = dir.current;
        dir.reset_message();
        dir.state = State::Line;
        if let Some(id) = id {
            if let Some(tx) = find_mut(&mut self.txs, id) {
                *tx.side(req).progress = Progress::Complete;
            }
            if !req {
                self.resp_cursor = self.resp_cursor.max(id.saturating_add(1));
            }
        }
    }

    /// The connection became a tunnel (CONNECT or 101): stop parsing HTTP.
    fn tunnel(&mut self) {
        for req in [true, false] {
            if self.dirs[idx(req)].current.is_some() {
                self.finish_message(req);
            }
            let dir = &mut self.dirs[idx(req)];
            dir.clear_line();
            dir.reset_message();
            dir.state = State::Tunnel;
        }
    }

    fn close(&mut self, req: bool) {
        let d = idx(req);
        let state = self.dirs[d].state;
        if !self.dirs[d].buf.is_empty()
            && matches!(
                state,
                State::Line | State::Headers | State::Resync | State::Trailers
            )
        {
            let line = std::mem::take(&mut self.dirs[d].buf);
            let overlong = std::mem::take(&mut self.dirs[d].overlong);
            self.process_line(req, &line, overlong, false);
        }
        self.dirs[d].clear_line();
        match self.dirs[d].state {
            State::Line | State::Resync | State::Tunnel => {}
            State::Close => self.finish_message(req),
            _ => {
                let name = if req {
                    "request_incomplete"
                } else {
                    "response_incomplete"
                };
                self.anomaly(req, name);
                self.finish_message(req);
            }
        }
        if !req {
            for tx in &mut self.txs {
                if tx.request_progress >= Progress::Line && tx.response_progress == Progress::None {
                    note(
                        &mut tx.anomalies,
                        &mut self.stats,
                        "request_without_response",
                    );
                }
            }
        }
    }
}

/// Decides how a body is delimited from the headers; `otherwise` applies
/// when neither `Transfer-Encoding: chunked` nor a valid `Content-Length` is
/// there.
fn body_framing(
    headers: &[Header],
    anomalies: &mut Vec<&'static str>,
    stats: &mut HttpStats,
    otherwise: Framing,
) -> Framing {
    let te = header_value(headers, b"transfer-encoding");
    let cl = header_value(headers, b"content-length");
    if let Some(te) = &te {
        if has_token(te, b"chunked") {
            if cl.is_some() {
                note(anomalies, stats, "chunked_and_content_length");
            }
            return Framing::Chunked;
        }
        note(anomalies, stats, "invalid_transfer_encoding");
    }
    match cl {
        None => otherwise,
        Some(v) => match parse_content_length(&v) {
            Some(0) => Framing::None,
            Some(n) => Framing::Length(n),
            None => {
                note(anomalies, stats, "invalid_content_length");
                otherwise
            }
        },
    }
}

/// The content codings to undo, in decoding order, at most `limit` of them.
fn codings(
    headers: &[Header],
    limit: usize,
    anomalies: &mut Vec<&'static str>,
    stats: &mut HttpStats,
) -> Vec<Coding> {
    if limit == 0 {
        return Vec::new();
    }
    let Some(ce) = header_value(headers, b"content-encoding") else {
        return Vec::new();
    };
    let Some(list) = parse_codings(&ce) else {
        return Vec::new();
    };
    if list.len() > limit {
        note(anomalies, stats, "too_many_encoding_layers");
    }
    list.iter().rev().take(limit).copied().collect()
}

fn header_value(headers: &[Header], name: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for h in headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)) {
        match out.as_mut() {
            Some(v) => {
                v.extend_from_slice(b", ");
                v.extend_from_slice(&h.value);
            }
            None => out = Some(h.value.clone()),
        }
    }
    out
}

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| is_ws(c)).count();
    b.get(n..).unwrap_or_default()
}

fn trim_end(b: &[u8]) -> &[u8] {
    let n = b.iter().rev().take_while(|&&c| is_ws(c)).count();
    b.get(..b.len().saturating_sub(n)).unwrap_or_default()
}

fn trim(b: &[u8]) -> &[u8] {
    trim_end(trim_start(b))
}

fn strip_cr(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r").unwrap_or(b)
}

fn is_blank(b: &[u8]) -> bool {
    b.iter().all(|&c| is_ws(c) || c == b'\r')
}

fn starts_with_ci(b: &[u8], prefix: &[u8]) -> bool {
    b.get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&c| c == b',')
        .any(|p| trim(p).eq_ignore_ascii_case(token))
}

fn parse_content_length(v: &[u8]) -> Option<u64> {
    let mut result = None;
    for part in v.split(|&c| c == b',') {
        let p = trim(part);
        if p.is_empty() || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut n: u64 = 0;
        for &c in p {
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
        }
        if result.is_some_and(|r| r != n) {
            return None;
        }
        result = Some(n);
    }
    result
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn parse_chunk_size(content: &[u8]) -> Option<u64> {
    let t = trim_start(content);
    let mut n: u64 = 0;
    let mut digits = 0;
    for &c in t {
        let Some(v) = hex_val(c) else { break };
        n = n.checked_mul(16)?.checked_add(u64::from(v))?;
        digits += 1;
    }
    if digits == 0 {
        return None;
    }
    match t.get(digits) {
        None | Some(b';') | Some(b' ') | Some(b'\t') => Some(n),
        Some(_) => None,
    }
}

/// A parsed request line.
struct RequestLine<'a> {
    method: &'a [u8],
    uri: &'a [u8],
    protocol: &'a [u8],
    anomalies: Vec<&'static str>,
}

/// `METHOD SP URI [SP PROTOCOL]`, leniently: runs of spaces and tabs separate
/// the parts, and when the last part is an `HTTP/` version everything between
/// the method and it is the URI (spaces included).
fn parse_request_line(line: &[u8]) -> RequestLine<'_> {
    let t = trim(line);
    let mut anomalies = Vec::new();
    let m_end = t.iter().position(|&c| is_ws(c)).unwrap_or(t.len());
    let (method, rest) = t.split_at(m_end);
    let rest = trim_start(rest);
    let (uri, protocol) = match rest.iter().rposition(|&c| is_ws(c)) {
        None => (rest, &[][..]),
        Some(i) => {
            let (head, tail) = rest.split_at(i);
            let candidate = trim_start(tail);
            if starts_with_ci(candidate, b"HTTP/") {
                (trim_end(head), candidate)
            } else {
                // like libhtp: the URI ends at the first whitespace
                let u_end = rest.iter().position(|&c| is_ws(c)).unwrap_or(rest.len());
                let (u, p) = rest.split_at(u_end);
                anomalies.push("invalid_protocol");
                (u, trim_start(p))
            }
        }
    };
    if method.is_empty() || uri.is_empty() || !method.iter().all(|&c| is_token(c)) {
        anomalies.push("invalid_request_line");
    }
    RequestLine {
        method,
        uri,
        protocol,
        anomalies,
    }
}

/// A parsed status line.
struct StatusLine<'a> {
    protocol: &'a [u8],
    code: &'a [u8],
    status: Option<u16>,
    message: &'a [u8],
    anomalies: Vec<&'static str>,
}

fn parse_status_line(line: &[u8]) -> StatusLine<'_> {
    let t = trim(line);
    let mut anomalies = Vec::new();
    let p_end = t.iter().position(|&c| is_ws(c)).unwrap_or(t.len());
    let (protocol, rest) = t.split_at(p_end);
    let rest = trim_start(rest);
    let c_end = rest.iter().position(|&c| is_ws(c)).unwrap_or(rest.len());
    let (code, message) = rest.split_at(c_end);
    let status = if code.len() == 3 && code.iter().all(u8::is_ascii_digit) {
        Some(
            code.iter()
                .fold(0u16, |acc, &c| acc * 10 + u16::from(c - b'0')),
        )
    } else {
        None
    };
    if !starts_with_ci(protocol, b"HTTP/") {
        anomalies.push("invalid_protocol");
    }
    if status.is_none() {
        anomalies.push("invalid_status");
    }
    StatusLine {
        protocol,
        code,
        status,
        message: trim(message),
        anomalies,
    }
}

/// Whether a line seen while resynchronising after a gap starts a message:
/// `METHOD URI HTTP/x` toward the server, `HTTP/x NNN` toward the client.
fn looks_like_start(req: bool, content: &[u8]) -> bool {
    let t = trim(content);
    if req {
        let rl = parse_request_line(t);
        rl.anomalies.is_empty()
            && starts_with_ci(rl.protocol, b"HTTP/")
            && rl.method.len() <= 32
            && rl
                .method
                .iter()
                .all(|c| c.is_ascii_uppercase() || *c == b'-' || *c == b'_')
    } else {
        starts_with_ci(t, b"HTTP/") && parse_status_line(t).anomalies.is_empty()
    }
}

/// The URI as Suricata's `http.uri` shows it.
///
/// An absolute URI (`http://host:port/path?q`) keeps only its path and query
/// (`/` when the path is empty). In the path, `%XX` sequences are decoded
/// (`+` is not, invalid sequences are kept as they are) and then `.` and
/// `..` segments are resolved as RFC 3986 says; the query (from the first
/// `?` or `#`) is percent-decoded too but its segments are left alone, as
/// libhtp does.
pub fn normalize_uri(raw: &[u8]) -> Vec<u8> {
    let mut uri = raw;
    let mut absolute = false;
    if let Some(after) = strip_scheme(uri) {
        let end = after
            .iter()
            .position(|&c| c == b'/' || c == b'?' || c == b'#')
            .unwrap_or(after.len());
        uri = after.get(end..).unwrap_or_default();
        absolute = true;
    }
    let split = uri
        .iter()
        .position(|&c| c == b'?' || c == b'#')
        .unwrap_or(uri.len());
    let (path, rest) = uri.split_at(split);
    let mut out = remove_dot_segments(&percent_decode(path));
    if absolute && out.is_empty() {
        out.push(b'/');
    }
    // libhtp (and so Suricata's http.uri) decodes the query too.
    out.extend_from_slice(&percent_decode(rest));
    out
}

/// The part after `scheme://`, when the URI starts with a scheme.
fn strip_scheme(uri: &[u8]) -> Option<&[u8]> {
    let colon = uri.iter().position(|&c| c == b':')?;
    let (scheme, rest) = uri.split_at(colon);
    let mut chars = scheme.iter();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        return None;
    }
    rest.strip_prefix(b"://")
}

fn percent_decode(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&x| hex_val(x)),
                b.get(i + 2).and_then(|&x| hex_val(x)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Resolves `.` and `..` segments; empty segments (`//`) are kept.
fn remove_dot_segments(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return Vec::new();
    }
    let absolute = path.first() == Some(&b'/');
    let body = if absolute {
        path.get(1..).unwrap_or_default()
    } else {
        path
    };
    let segments: Vec<&[u8]> = body.split(|&c| c == b'/').collect();
    let count = segments.len();
    let mut stack: Vec<&[u8]> = Vec::with_capacity(count);
    for (i, seg) in segments.into_iter().enumerate() {
        let last = i + 1 == count;
        match seg {
            b"." => {
                if last {
                    stack.push(b"");
                }
            }
            b".." => {
                stack.pop();
                if last {
                    stack.push(b"");
                }
            }
            s => stack.push(s),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    if absolute {
        out.push(b'/');
    }
    for (i, s) in stack.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(s);
    }
    out
}

/// Keeps undecoded body bytes up to the limit.
fn keep_plain(side: &mut Side<'_>, data: &[u8], limit: usize) {
    let room = limit.saturating_sub(side.body.len());
    let n = room.min(data.len());
    side.body
        .extend_from_slice(data.get(..n).unwrap_or_default());
    if data.len() > n {
        *side.truncated = true;
    }
    *side.entity_len = side.entity_len.saturating_add(data.len() as u64);
}

/// A content coding this parser undoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
}

/// The codings of a `Content-Encoding` value in the order they were applied;
/// `None` when one of them is unknown (then nothing is decoded).
fn parse_codings(v: &[u8]) -> Option<Vec<Coding>> {
    let mut out = Vec::new();
    for part in v.split(|&c| c == b',') {
        let p = trim(part).to_ascii_lowercase();
        match p.as_slice() {
            b"" | b"identity" => {}
            b"gzip" | b"x-gzip" => out.push(Coding::Gzip),
            b"deflate" | b"x-deflate" => out.push(Coding::Deflate),
            _ => return None,
        }
        if out.len() > MAX_LAYERS * 4 {
            break;
        }
    }
    Some(out)
}

/// Whether decoding may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// The compressed data is corrupt.
#[derive(Debug)]
struct Failed;

/// One decompression layer.
enum Layer {
    /// Collecting the gzip header.
    GzipHeader(Vec<u8>),
    /// Collecting the first two bytes of a deflate body to tell zlib from raw.
    ZlibProbe(Vec<u8>),
    /// Inflating.
    Inflate(Box<Decompress>),
    /// The compressed stream ended; what follows is ignored.
    Done,
}

impl Layer {
    fn new(c: Coding) -> Self {
        match c {
            Coding::Gzip => Layer::GzipHeader(Vec::new()),
            Coding::Deflate => Layer::ZlibProbe(Vec::new()),
        }
    }

    fn push(
        &mut self,
        input: &[u8],
        emit: &mut dyn FnMut(&[u8]) -> Result<Flow, Failed>,
    ) -> Result<Flow, Failed> {
        match self {
            Layer::Done => Ok(Flow::Continue),
            Layer::GzipHeader(buf) => {
                let take = MAX_GZIP_HEADER.saturating_sub(buf.len()).min(input.len());
                buf.extend_from_slice(input.get(..take).unwrap_or_default());
                match gzip_header_len(buf)? {
                    None if buf.len() >= MAX_GZIP_HEADER => Err(Failed),
                    None => Ok(Flow::Continue),
                    Some(h) => {
                        let mut rest = buf.get(h..).unwrap_or_default().to_vec();
                        rest.extend_from_slice(input.get(take..).unwrap_or_default());
                        *self = Layer::Inflate(Box::new(Decompress::new(false)));
                        self.push(&rest, emit)
                    }
                }
            }
            Layer::ZlibProbe(buf) => {
                let take = 2usize.saturating_sub(buf.len()).min(input.len());
                buf.extend_from_slice(input.get(..take).unwrap_or_default());
                let (Some(&cmf), Some(&flg)) = (buf.first(), buf.get(1)) else {
                    return Ok(Flow::Continue);
                };
                let zlib = cmf & 0x0f == 8
                    && cmf >> 4 <= 7
                    && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0;
                let mut rest = std::mem::take(buf);
                rest.extend_from_slice(input.get(take..).unwrap_or_default());
                *self = Layer::Inflate(Box::new(Decompress::new(zlib)));
                self.push(&rest, emit)
            }
            Layer::Inflate(d) => {
                let (flow, ended) = inflate(d, input, emit)?;
                if ended {
                    *self = Layer::Done;
                }
                Ok(flow)
            }
        }
    }
}

/// The length of a complete gzip header at the start of `b`, `None` when more
/// bytes are needed.
fn gzip_header_len(b: &[u8]) -> Result<Option<usize>, Failed> {
    for (i, want) in [0x1f, 0x8b, 8].into_iter().enumerate() {
        match b.get(i) {
            Some(&c) if c != want => return Err(Failed),
            None => return Ok(None),
            _ => {}
        }
    }
    let Some(&flags) = b.get(3) else {
        return Ok(None);
    };
    let mut pos = 10usize;
    if flags & 0x04 != 0 {
        let (Some(&lo), Some(&hi)) = (b.get(10), b.get(11)) else {
            return Ok(None);
        };
        pos = 12 + usize::from(u16::from_le_bytes([lo, hi]));
    }
    for flag in [0x08u8, 0x10] {
        if flags & flag != 0 {
            let Some(tail) = b.get(pos..) else {
                return Ok(None);
            };
            match memchr::memchr(0, tail) {
                Some(z) => pos += z + 1,
                None => return Ok(None),
            }
        }
    }
    if flags & 0x02 != 0 {
        pos += 2;
    }
    Ok((b.len() >= pos).then_some(pos))
}

/// Inflates `input`, handing output to `emit` in bounded pieces. Returns
/// whether to go on and whether the compressed stream ended.
fn inflate(
    d: &mut Decompress,
    mut input: &[u8],
    emit: &mut dyn FnMut(&[u8]) -> Result<Flow, Failed>,
) -> Result<(Flow, bool), Failed> {
    let mut out = [0u8; INFLATE_CHUNK];
    loop {
        let (in0, out0) = (d.total_in(), d.total_out());
        let res = d.decompress(input, &mut out, FlushDecompress::None);
        let consumed = usize::try_from(d.total_in().saturating_sub(in0))
            .unwrap_or(usize::MAX)
            .min(input.len());
        let produced = usize::try_from(d.total_out().saturating_sub(out0))
            .unwrap_or(usize::MAX)
            .min(out.len());
        input = input.get(consumed..).unwrap_or_default();
        // output decoded before an error still counts, so that where the
        // stream was cut does not change the result
        if produced > 0 && emit(out.get(..produced).unwrap_or_default())? == Flow::Stop {
            return Ok((Flow::Stop, false));
        }
        let status = res.map_err(|_| Failed)?;
        if status == Status::StreamEnd {
            return Ok((Flow::Continue, true));
        }
        if (consumed == 0 && produced == 0) || (input.is_empty() && produced < out.len()) {
            return Ok((Flow::Continue, false));
        }
    }
}

/// Where decoded bytes end up.
struct Sink<'s, 'a> {
    side: &'s mut Side<'a>,
    limit: usize,
    /// Bytes produced by inner layers so far.
    intermediate: usize,
    /// Inner layers produced too much.
    bomb: bool,
}

impl Sink<'_, '_> {
    /// Keeps decoded bytes up to the limit; stops once there is more.
    fn accept(&mut self, chunk: &[u8]) -> Flow {
        let room = self.limit.saturating_sub(self.side.body.len());
        let n = room.min(chunk.len());
        self.side
            .body
            .extend_from_slice(chunk.get(..n).unwrap_or_default());
        *self.side.entity_len = self.side.entity_len.saturating_add(n as u64);
        if chunk.len() > n {
            *self.side.truncated = true;
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

/// Runs `input` through the layers (outermost first) into the sink.
fn push_layers(
    layers: &mut [Layer],
    input: &[u8],
    sink: &mut Sink<'_, '_>,
) -> Result<Flow, Failed> {
    let Some((first, rest)) = layers.split_first_mut() else {
        return Ok(sink.accept(input));
    };
    if rest.is_empty() {
        return first.push(input, &mut |chunk| Ok(sink.accept(chunk)));
    }
    first.push(input, &mut |chunk| {
        let room = MAX_INTERMEDIATE.saturating_sub(sink.intermediate);
        let n = room.min(chunk.len());
        sink.intermediate += n;
        let flow = push_layers(rest, chunk.get(..n).unwrap_or_default(), sink)?;
        if n < chunk.len() {
            sink.bomb = true;
            *sink.side.truncated = true;
            return Ok(Flow::Stop);
        }
        Ok(flow)
    })
}

/// What a body decoder does with new bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Decoding,
    /// The limit was reached: nothing more is decoded.
    Stopped,
    /// Decoding failed: bytes are kept as they came.
    Passthrough,
}

/// Undoes the content codings of one body.
struct BodyDecoder {
    layers: Vec<Layer>,
    /// The first encoded bytes, kept in case decoding fails.
    raw: Vec<u8>,
    /// All encoded bytes seen.
    raw_len: u64,
    intermediate: usize,
    mode: Mode,
}

impl BodyDecoder {
    fn new(codings: Vec<Coding>) -> Self {
        BodyDecoder {
            layers: codings.into_iter().map(Layer::new).collect(),
            raw: Vec::new(),
            raw_len: 0,
            intermediate: 0,
            mode: Mode::Decoding,
        }
    }

    fn feed(&mut self, data: &[u8], side: &mut Side<'_>, limit: usize, stats: &mut HttpStats) {
        self.raw_len = self.raw_len.saturating_add(data.len() as u64);
        match self.mode {
            Mode::Stopped => {}
            Mode::Passthrough => keep_plain(side, data, limit),
            Mode::Decoding => {
                let keep = limit.saturating_sub(self.raw.len()).min(data.len());
                self.raw
                    .extend_from_slice(data.get(..keep).unwrap_or_default());
                let mut sink = Sink {
                    side,
                    limit,
                    intermediate: self.intermediate,
                    bomb: false,
                };
                let res = push_layers(&mut self.layers, data, &mut sink);
                self.intermediate = sink.intermediate;
                let bomb = sink.bomb;
                match res {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Stop) => {
                        if bomb {
                            note(side.anomalies, stats, "decompression_bomb");
                        }
                        self.stop(Mode::Stopped);
                    }
                    Err(Failed) => {
                        note(side.anomalies, stats, "decompression_failed");
                        stats.decompression_errors += 1;
                        side.body.clear();
                        side.body.extend_from_slice(&self.raw);
                        *side.entity_len = self.raw_len;
                        *side.truncated = self.raw_len > self.raw.len() as u64;
                        self.stop(Mode::Passthrough);
                    }
                }
            }
        }
    }

    fn stop(&mut self, mode: Mode) {
        self.mode = mode;
        self.layers = Vec::new();
        self.raw = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;
    use flate2::Compression;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn chunked(data: &[u8], size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, c) in data.chunks(size).enumerate() {
            if i % 2 == 0 {
                out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            } else {
                out.extend_from_slice(format!("{:X};ext=1\r\n", c.len()).as_bytes());
            }
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
        out
    }

    fn parse(req: &[u8], resp: &[u8]) -> HttpParser {
        let mut p = HttpParser::new(HttpConfig::default());
        p.feed_request(req);
        p.feed_response(resp);
        p
    }

    /// How a stream is cut into feeds.
    #[derive(Clone, Copy)]
    enum Cut {
        Whole,
        Bytes,
        Random(u64),
    }

    fn pieces(data: &[u8], cut: Cut) -> Vec<&[u8]> {
        match cut {
            Cut::Whole => vec![data],
            Cut::Bytes => data.chunks(1).collect(),
            Cut::Random(seed) => {
                let mut rng = Rng(seed | 1);
                let mut out = Vec::new();
                let mut rest = data;
                while !rest.is_empty() {
                    let n = 1 + rng.below(rest.len().min(700));
                    let (a, b) = rest.split_at(n);
                    out.push(a);
                    rest = b;
                }
                out
            }
        }
    }

    /// Parses both directions (request stream first) and renders the result.
    fn render(cfg: &HttpConfig, req: &[u8], resp: &[u8], cut: Cut, close: bool) -> String {
        let mut p = HttpParser::new(cfg.clone());
        for piece in pieces(req, cut) {
            p.feed_request(piece);
        }
        for piece in pieces(resp, cut) {
            p.feed_response(piece);
        }
        if close {
            p.close_request();
            p.close_response();
        }
        format!("{:?}\n{:?}", p.txs(), p.stats())
    }

    fn assert_same_any_cut(cfg: &HttpConfig, req: &[u8], resp: &[u8]) -> String {
        for close in [false, true] {
            let whole = render(cfg, req, resp, Cut::Whole, close);
            assert_eq!(
                whole,
                render(cfg, req, resp, Cut::Bytes, close),
                "byte-at-a-time differs"
            );
            for seed in 1..6 {
                assert_eq!(
                    whole,
                    render(cfg, req, resp, Cut::Random(seed * 7919), close),
                    "random cut {seed} differs"
                );
            }
        }
        render(cfg, req, resp, Cut::Whole, true)
    }

    #[test]
    fn get_with_headers() {
        let req = b"\r\n\nGET /a/./b/../c%20d?x=%41&y=../z HTTP/1.1\r\nHost: Example.COM:8080\r\nUser-Agent: test/1.0\r\nX-Folded: one\r\n   two\r\nAccept: a\nAccept:  b \r\nBroken line\r\n\r\n";
        let p = parse(req, b"");
        assert_eq!(p.txs().len(), 1);
        let t = &p.txs()[0];
        assert_eq!(t.id, 0);
        assert_eq!(t.method, b"GET");
        assert_eq!(t.uri_raw, b"/a/./b/../c%20d?x=%41&y=../z");
        assert_eq!(t.uri_normalized, b"/a/c d?x=A&y=../z");
        assert_eq!(t.protocol, b"HTTP/1.1");
        assert_eq!(t.request_line, b"GET /a/./b/../c%20d?x=%41&y=../z HTTP/1.1");
        assert_eq!(t.request_header(b"host").unwrap(), b"Example.COM:8080");
        assert_eq!(t.request_header(b"USER-AGENT").unwrap(), b"test/1.0");
        assert_eq!(t.request_header(b"x-folded").unwrap(), b"one two");
        assert_eq!(t.request_header(b"accept").unwrap(), b"a, b");
        assert_eq!(t.request_header(b"missing"), None);
        assert_eq!(t.request_headers.len(), 5);
        assert_eq!(t.request_headers[0].name, b"Host");
        assert!(t.anomalies.contains(&"invalid_header"));
        assert_eq!(
            t.request_headers_raw,
            b"Host: Example.COM:8080\r\nUser-Agent: test/1.0\r\nX-Folded: one\r\n   two\r\nAccept: a\nAccept:  b \r\nBroken line\r\n\r\n"
        );
        assert_eq!(t.request_progress, Progress::Complete);
        assert_eq!(t.response_progress, Progress::None);
        assert_eq!(p.stats().txs, 1);
        assert_eq!(p.stats().parse_errors, 1);
    }

    #[test]
    fn tx_exists_once_request_line_is_complete() {
        let mut p = HttpParser::new(HttpConfig::default());
        p.feed_request(b"GET /inde");
        assert!(p.txs().is_empty());
        p.feed_request(b"x.html HTTP/1.1\r\nHost: a");
        assert_eq!(p.txs().len(), 1);
        assert_eq!(p.txs()[0].request_progress, Progress::Line);
        assert_eq!(p.txs()[0].uri_raw, b"/index.html");
        p.feed_request(b"\r\n\r\n");
        assert_eq!(p.txs()[0].request_progress, Progress::Complete);
        assert_eq!(p.txs()[0].request_header(b"host").unwrap(), b"a");
    }

    #[test]
    fn pipelined_pair() {
        let req = b"GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n";
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let p = parse(req, resp);
        assert_eq!(p.txs().len(), 2);
        assert_eq!(p.txs()[0].uri_raw, b"/one");
        assert_eq!(p.txs()[0].status, Some(200));
        assert_eq!(p.txs()[0].status_message, b"OK");
        assert_eq!(p.txs()[0].response_body, b"abc");
        assert_eq!(p.txs()[0].response_message_len, 3);
        assert_eq!(p.txs()[1].uri_raw, b"/two");
        assert_eq!(p.txs()[1].status, Some(404));
        assert_eq!(p.txs()[1].status_raw, b"404");
        assert_eq!(p.txs()[1].response_line, b"HTTP/1.1 404 Not Found");
        assert!(
            p.txs()
                .iter()
                .all(|t| t.response_progress == Progress::Complete)
        );
        assert!(p.txs().iter().all(|t| t.anomalies.is_empty()));
    }

    #[test]
    fn post_with_split_body() {
        let mut p = HttpParser::new(HttpConfig::default());
        p.feed_request(b"POST /upload HTTP/1.1\r\nContent-Length: 11\r\n\r\nhel");
        assert_eq!(p.txs()[0].request_progress, Progress::Body);
        assert_eq!(p.txs()[0].request_body, b"hel");
        p.feed_request(b"lo w");
        p.feed_request(b"orldGET /next HTTP/1.0\r\n\r\n");
        assert_eq!(p.txs().len(), 2);
        let t = &p.txs()[0];
        assert_eq!(t.request_body, b"hello world");
        assert_eq!(t.request_message_len, 11);
        assert_eq!(t.request_entity_len, 11);
        assert_eq!(t.request_progress, Progress::Complete);
        assert_eq!(p.txs()[1].uri_raw, b"/next");
    }

    #[test]
    fn chunked_request_with_trailer() {
        let body = chunked(b"field=value&other=thing", 5);
        let mut req = b"POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(&body);
        let p = parse(&req, b"");
        let t = &p.txs()[0];
        assert_eq!(t.request_body, b"field=value&other=thing");
        assert_eq!(t.request_message_len, body.len() as u64);
        assert_eq!(t.request_entity_len, 23);
        assert_eq!(t.request_header(b"x-trailer").unwrap(), b"yes");
        assert_eq!(t.request_progress, Progress::Complete);
    }

    #[test]
    fn chunked_gzip_response() {
        let page = b"<html><body>"
            .iter()
            .chain(b"hello gzip world ".repeat(300).iter())
            .copied()
            .collect::<Vec<u8>>();
        let gz = gzip(&page);
        let body = chunked(&gz, 97);
        let req = b"GET /page HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n";
        let mut resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        resp.extend_from_slice(&body);
        let cfg = HttpConfig::default();
        assert_same_any_cut(&cfg, req, &resp);
        let p = parse(req, &resp);
        let t = &p.txs()[0];
        assert_eq!(t.response_body, page);
        assert_eq!(t.response_entity_len, page.len() as u64);
        assert_eq!(t.response_message_len, body.len() as u64);
        assert!(!t.response_body_truncated);
        assert_eq!(t.response_progress, Progress::Complete);
        assert_eq!(t.response_header(b"x-trailer").unwrap(), b"yes");
        assert!(t.anomalies.is_empty(), "{:?}", t.anomalies);
    }

    #[test]
    fn deflate_zlib_and_raw() {
        let text = b"deflated content, deflated content, deflated content".to_vec();
        for (name, enc) in [("zlib", zlib(&text)), ("raw", raw_deflate(&text))] {
            let mut resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: {}\r\n\r\n",
                enc.len()
            )
            .into_bytes();
            resp.extend_from_slice(&enc);
            let p = parse(b"GET / HTTP/1.1\r\n\r\n", &resp);
            assert_eq!(p.txs()[0].response_body, text, "{name}");
            assert_eq!(p.txs()[0].response_message_len, enc.len() as u64);
        }
    }

    #[test]
    fn gzip_layers_follow_the_limit() {
        let text = b"twice wrapped".repeat(20);
        let twice = gzip(&gzip(&text));
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip, gzip\r\nContent-Length: {}\r\n\r\n",
            twice.len()
        )
        .into_bytes();
        resp.extend_from_slice(&twice);
        let p = parse(b"GET / HTTP/1.1\r\n\r\n", &resp);
        assert_eq!(p.txs()[0].response_body, text);
        assert_eq!(p.txs()[0].anomalies, Vec::<&str>::new());

        let cfg = HttpConfig {
            decompress_layer_limit: 1,
            ..HttpConfig::default()
        };
        let mut p = HttpParser::new(cfg);
        p.feed_request(b"GET / HTTP/1.1\r\n\r\n");
        p.feed_response(&resp);
        assert_eq!(p.txs()[0].response_body, gzip(&text));
        assert!(p.txs()[0].anomalies.contains(&"too_many_encoding_layers"));

        let cfg = HttpConfig {
            decompress_layer_limit: 0,
            ..HttpConfig::default()
        };
        let mut p = HttpParser::new(cfg);
        p.feed_request(b"GET / HTTP/1.1\r\n\r\n");
        p.feed_response(&resp);
        assert_eq!(p.txs()[0].response_body, twice);
    }

    #[test]
    fn gzip_header_with_name_comment_and_crc() {
        let text = b"named member".repeat(10);
        let mut e = flate2::GzBuilder::new()
            .filename("file.txt")
            .comment("a comment")
            .extra(vec![1, 2, 3, 4])
            .write(Vec::new(), Compression::best());
        e.write_all(&text).unwrap();
        let gz = e.finish().unwrap();
        assert_eq!(gzip_header_len(&gz[..11]).unwrap(), None);
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: x-gzip\r\nContent-Length: {}\r\n\r\n",
            gz.len()
        )
        .into_bytes();
        resp.extend_from_slice(&gz);
        let mut p = HttpParser::new(HttpConfig::default());
        p.feed_request(b"GET / HTTP/1.1\r\n\r\n");
        for b in resp.chunks(1) {
            p.feed_response(b);
        }
        assert_eq!(p.txs()[0].response_body, text);
        assert_eq!(p.txs()[0].response_progress, Progress::Complete);
        assert!(gzip_header_len(b"\x1f\x8c").is_err());
    }

    #[test]
    fn compressed_request_body() {
        let text = b"a=1&b=2&c=3".to_vec();
        let gz = gzip(&text);
        let mut req = format!(
            "POST / HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            gz.len()
        )
        .into_bytes();
        req.extend_from_slice(&gz);
        let p = parse(&req, b"");
        assert_eq!(p.txs()[0].request_body, text);
        assert_eq!(p.txs()[0].request_entity_len, text.len() as u64);
        assert_eq!(p.txs()[0].request_message_len, gz.len() as u64);
    }

    #[test]
    fn zip_bomb_stops_at_limit() {
        let zeros = vec![0u8; 20 * 1024 * 1024];
        let bomb = gzip(&gzip(&zeros));
        let cfg = HttpConfig {
            response_body_limit: 1000,
            ..HttpConfig::default()
        };
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip, gzip\r\nContent-Length: {}\r\n\r\n",
            bomb.len()
        )
        .into_bytes();
        resp.extend_from_slice(&bomb);
        let out = assert_same_any_cut(&cfg, b"GET / HTTP/1.1\r\n\r\n", &resp);
        assert!(out.contains("response_body_truncated: true"));
        let mut p = HttpParser::new(cfg);
        p.feed_request(b"GET / HTTP/1.1\r\n\r\n");
        p.feed_response(&resp);
        let t = &p.txs()[0];
        assert_eq!(t.response_body.len(), 1000);
        assert!(t.response_body.iter().all(|&b| b == 0));
        assert!(t.response_body_truncated);
        assert_eq!(t.response_entity_len, 1000);
        assert_eq!(t.response_message_len, bomb.len() as u64);
        assert_eq!(t.response_progress, Progress::Complete);
    }

    #[test]
    fn plain_body_limit_counts_everything() {
        let cfg = HttpConfig {
            request_body_limit: 4,
            ..HttpConfig::default()
        };
        let mut p = HttpParser::new(cfg);
        p.feed_request(b"PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789");
        let t = &p.txs()[0];
        assert_eq!(t.request_body, b"0123");
        assert!(t.request_body_truncated);
        assert_eq!(t.request_entity_len, 10);
        assert_eq!(t.request_message_len, 10);
    }

    #[test]
    fn broken_gzip_keeps_raw_body() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 13\r\n\r\nnot gzip at all";
        let p = parse(b"GET / HTTP/1.1\r\n\r\n", resp);
        let t = &p.txs()[0];
        assert_eq!(t.response_body, b"not gzip at a");
        assert_eq!(t.response_entity_len, 13);
        assert!(t.anomalies.contains(&"decompression_failed"));
        assert_eq!(p.stats().decompression_errors, 1);
        // the two bytes past Content-Length wait for the end of their line
        assert_eq!(p.txs().len(), 1);

        // corrupt deflate data after a valid gzip header
        let mut gz = gzip(b"some text that is long enough to matter");
        for b in gz.iter_mut().skip(10).take(6) {
            *b ^= 0xff;
        }
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            gz.len()
        )
        .into_bytes();
        resp.extend_from_slice(&gz);
        let out = assert_same_any_cut(&HttpConfig::default(), b"GET / HTTP/1.1\r\n\r\n", &resp);
        assert!(out.contains("decompression_failed"), "{out}");
    }

    #[test]
    fn head_response_has_no_body() {
        let req = b"HEAD /big HTTP/1.1\r\n\r\nGET /small HTTP/1.1\r\n\r\n";
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let p = parse(req, resp);
        assert_eq!(p.txs().len(), 2);
        assert_eq!(p.txs()[0].response_progress, Progress::Complete);
        assert!(p.txs()[0].response_body.is_empty());
        assert_eq!(
            p.txs()[0].response_header(b"content-length").unwrap(),
            b"5000"
        );
        assert_eq!(p.txs()[1].response_body, b"ok");
        assert_eq!(p.txs()[1].response_progress, Progress::Complete);
    }

    #[test]
    fn status_204_and_304_have_no_body() {
        let req = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
        let resp = b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz";
        let p = parse(req, resp);
        assert_eq!(
            p.txs().iter().map(|t| t.status).collect::<Vec<_>>(),
            vec![Some(204), Some(304), Some(200)]
        );
        assert_eq!(p.txs()[2].response_body, b"z");
    }

    #[test]
    fn continue_100_is_skipped() {
        let req = b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndata";
        let resp =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
        let mut p = HttpParser::new(HttpConfig::default());
        p.feed_request(&req[..req.len() - 4]);
        p.feed_response(b"HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!(p.txs().len(), 1);
        assert_eq!(p.txs()[0].response_progress, Progress::None);
        p.feed_request(b"data");
        p.feed_response(&resp[25..]);
        assert_eq!(p.txs().len(), 1);
        let t = &p.txs()[0];
        assert_eq!(t.status, Some(201));
        assert_eq!(t.request_body, b"data");
        assert_eq!(t.response_progress, Progress::Complete);
        assert!(t.anomalies.is_empty());
        assert_same_any_cut(&HttpConfig::default(), req, resp);
    }

    #[test]
    fn response_without_request() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n";
        let mut p = parse(b"", resp);
        assert_eq!(p.txs().len(), 2);
        for t in p.txs() {
            assert_eq!(t.request_progress, Progress::Complete);
            assert_eq!(t.response_progress, Progress::Complete);
            assert!(t.anomalies.contains(&"response_without_request"));
            assert!(t.method.is_empty());
        }
        assert_eq!(p.txs()[0].response_body, b"hi");
        // a request arriving now starts a new transaction
        p.feed_request(b"GET /late HTTP/1.1\r\n\r\n");
        assert_eq!(p.txs().len(), 3);
        assert_eq!(p.txs()[2].id, 2);
        p.remove_done(2);
        assert_eq!(p.txs().len(), 1);
        assert_eq!(p.tx(2).unwrap().uri_raw, b"/late");
        assert!(p.tx(0).is_none());
    }

    #[test]
    fn close_delimited_response() {
        let mut p = HttpParser::new(HttpConfig::default());
        p.feed_request(b"GET / HTTP/1.0\r\n\r\n");
        p.feed_response(b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nfirst part, ");
        p.feed_response(b"second part");
        assert_eq!(p.txs()[0].response_progress, Progress::Body);
        p.close_response();
        let t = &p.txs()[0];
        assert_eq!(t.response_progress, Progress::Complete);
        assert_eq!(t.response_body, b"first part, second part");
        assert_eq!(t.response_message_len, 23);
        assert!(t.anomalies.is_empty());
        p.close_response();
        assert_eq!(p.txs()[0].response_body.len(), 23);
    }

    #[test]
    fn request_without_response_on_close() {
        let mut p = parse(
            b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        );
        p.close_request();
        p.close_response();
        assert!(p.txs()[0].anomalies.is_empty());
        assert_eq!(p.txs()[1].anomalies, vec!["request_without_response"]);
    }

    #[test]
    fn truncated_response_on_close() {
        let mut p = parse(
            b"GET / HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
        );
        p.close_response();
        let t = &p.txs()[0];
        assert_eq!(t.response_progress, Progress::Complete);
        assert!(t.anomalies.contains(&"response_incomplete"));
        assert_eq!(t.response_body, b"short");
    }

    #[test]
    fn http09_request_and_response() {
        let mut p = parse(b"GET /old\r\n", b"<html>raw</html>");
        p.close_response();
        let t = &p.txs()[0];
        assert_eq!(t.method, b"GET");
        assert_eq!(t.uri_raw, b"/old");
        assert!(t.protocol.is_empty());
        assert_eq!(t.request_progress, Progress::Complete);
        assert_eq!(t.response_body, b"<html>raw</html>");
        assert_eq!(t.response_progress, Progress::Complete);
        assert!(t.anomalies.is_empty(), "{:?}", t.anomalies);
    }

    #[test]
    fn partial_request_line_at_close() {
        let mut p = HttpParser::new(HttpConfig::default());
        p.feed_request(b"GET /x");
        assert!(p.txs().is_empty());
        p.close_request();
        assert_eq!(p.txs().len(), 1);
        assert_eq!(p.txs()[0].uri_raw, b"/x");
    }

    #[test]
    fn invalid_response_line_becomes_body() {
        let p = parse(b"GET / HTTP/1.1\r\n\r\n", b"garbage here\r\nmore");
        let t = &p.txs()[0];
        assert!(t.anomalies.contains(&"invalid_response_line"));
        assert_eq!(t.response_body, b"garbage here\r\nmore");
        assert_eq!(t.response_progress, Progress::Body);
    }

    #[test]
    fn invalid_chunk_size_resyncs() {
        let req = b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\njunk junk\r\nGET /b HTTP/1.1\r\n\r\n";
        let p = parse(req, b"");
        assert_eq!(p.txs().len(), 2);
        assert!(p.txs()[0].anomalies.contains(&"invalid_chunk_size"));
        assert_eq!(p.txs()[0].request_progress, Progress::Complete);
        assert_eq!(p.txs()[1].uri_raw, b"/b");
        assert!(p.stats().parse_errors >= 1);
    }

    #[test]
    fn content_length_checks() {
        assert_eq!(parse_content_length(b" 42 "), Some(42));
        assert_eq!(parse_content_length(b"7, 7"), Some(7));
        assert_eq!(parse_content_length(b"7, 8"), None);
        assert_eq!(parse_content_length(b"-1"), None);
        assert_eq!(parse_content_length(b"99999999999999999999999"), None);
        assert_eq!(parse_chunk_size(b"1a;name=v"), Some(26));
        assert_eq!(parse_chunk_size(b"  F "), Some(15));
        assert_eq!(parse_chunk_size(b"ffffffffffffffffff"), None);
        assert_eq!(parse_chunk_size(b"g"), None);
        let p = parse(
            b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\nGET /n HTTP/1.1\r\n\r\n",
            b"",
        );
        assert!(p.txs()[0].anomalies.contains(&"invalid_content_length"));
        assert_eq!(p.txs()[1].uri_raw, b"/n");
        let p = parse(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n\r\n", b"");
        assert_eq!(p.txs()[0].request_body, b"A");
        assert!(p.txs()[0].anomalies.contains(&"chunked_and_content_length"));
    }

    #[test]
    fn long_lines_are_capped() {
        let mut req = b"GET /".to_vec();
        req.extend(std::iter::repeat_n(b'a', 40_000));
        req.extend_from_slice(b" HTTP/1.1\r\nX-Long: ");
        req.extend(std::iter::repeat_n(b'b', 40_000));
        req.extend_from_slice(b"\r\n\r\nGET /after HTTP/1.1\r\n\r\n");
        let p = parse(&req, b"");
        assert_eq!(p.txs().len(), 2);
        let t = &p.txs()[0];
        assert!(t.anomalies.contains(&"line_too_long"));
        assert!(t.request_line.len() <= MAX_LINE);
        assert_eq!(t.protocol, b"HTTP/1.1");
        assert!(t.request_header(b"x-long").unwrap().len() <= MAX_LINE);
        assert_eq!(t.request_progress, Progress::Complete);
        assert_eq!(p.txs()[1].uri_raw, b"/after");
    }

    #[test]
    fn header_count_is_capped() {
        let mut req = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..1000 {
            req.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        let p = parse(&req, b"");
        assert_eq!(p.txs()[0].request_headers.len(), MAX_HEADERS);
        assert!(p.txs()[0].anomalies.contains(&"too_many_headers"));
        assert_eq!(p.txs()[0].request_progress, Progress::Complete);
    }

    #[test]
    fn gap_resyncs_at_next_request() {
        let mut p = HttpParser::new(HttpConfig::default());
        p.feed_request(b"POST /a HTTP/1.1\r\nContent-Length: 1000\r\n\r\nsome");
        p.gap(true);
        p.feed_request(b"body bytes\r\nmore body\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(p.txs().len(), 2);
        let t = &p.txs()[0];
        assert!(t.anomalies.contains(&"gap"));
        assert!(t.request_body_truncated);
        assert_eq!(t.request_progress, Progress::Complete);
        assert_eq!(p.txs()[1].uri_raw, b"/b");
        assert_eq!(p.txs()[1].request_header(b"host").unwrap(), b"h");

        p.feed_response(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\npart");
        p.gap(false);
        p.feed_response(b"tail\r\nHTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(p.txs()[0].response_progress, Progress::Complete);
        assert!(p.txs()[0].response_body_truncated);
        assert_eq!(p.txs()[1].status, Some(302));
        assert_eq!(p.txs()[1].response_header(b"location").unwrap(), b"/x");
    }

    #[test]
    fn connect_becomes_tunnel() {
        let req = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
        let mut p = parse(req, b"HTTP/1.1 200 Connection established\r\n\r\n");
        p.feed_request(b"\x16\x03\x01\x00\xa5GET / HTTP/1.1\r\n\r\n");
        p.feed_response(b"\x16\x03\x03 HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(p.txs().len(), 1);
        assert_eq!(p.txs()[0].uri_normalized, b"example.com:443");
        assert_eq!(p.txs()[0].response_progress, Progress::Complete);
    }

    #[test]
    fn max_txs_drops_oldest() {
        let cfg = HttpConfig {
            max_txs: 3,
            ..HttpConfig::default()
        };
        let mut p = HttpParser::new(cfg);
        for i in 0..5 {
            p.feed_request(format!("GET /{i} HTTP/1.1\r\n\r\n").as_bytes());
        }
        assert_eq!(p.txs().len(), 3);
        assert_eq!(p.txs()[0].id, 2);
        assert_eq!(p.stats().dropped_txs, 2);
        assert_eq!(p.stats().txs, 5);
        // responses to the dropped ones are parsed and discarded in order
        p.feed_response(b"HTTP/1.1 200 A\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 B\r\nContent-Length: 0\r\n\r\n");
        p.feed_response(b"HTTP/1.1 200 C\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(p.tx(2).unwrap().status_message, b"C");
    }

    #[test]
    fn uri_normalization() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"/", b"/"),
            (b"/a/b/../c", b"/a/c"),
            (b"/a/./b/.", b"/a/b/"),
            (b"/../../etc/passwd", b"/etc/passwd"),
            (b"/a/%2e%2e/b", b"/b"),
            (b"/a%zz/%4", b"/a%zz/%4"),
            (b"/a+b%41", b"/a+bA"),
            (b"/p?q=%41/../x", b"/p?q=A/../x"),
            (b"http://host:80/a/../b?x=1", b"/b?x=1"),
            (b"HTTP://host", b"/"),
            (b"http://host?x", b"/?x"),
            (b"*", b"*"),
            (b"a//b/..", b"a//"),
            (b"/x/..", b"/"),
            (b"", b""),
        ];
        for (raw, want) in cases {
            assert_eq!(
                normalize_uri(raw),
                want.to_vec(),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn request_line_variants() {
        let rl = parse_request_line(b"GET   /a b   HTTP/1.0  ");
        assert_eq!(rl.method, b"GET");
        assert_eq!(rl.uri, b"/a b");
        assert_eq!(rl.protocol, b"HTTP/1.0");
        assert!(rl.anomalies.is_empty());
        let rl = parse_request_line(b"GET /x FOO/1");
        assert_eq!(rl.uri, b"/x");
        assert_eq!(rl.protocol, b"FOO/1");
        assert_eq!(rl.anomalies, vec!["invalid_protocol"]);
        let rl = parse_request_line(b"\x01\x02");
        assert!(rl.anomalies.contains(&"invalid_request_line"));
        let sl = parse_status_line(b"HTTP/1.1 200");
        assert_eq!(sl.status, Some(200));
        assert!(sl.message.is_empty());
        let sl = parse_status_line(b"HTTP/1.1 20x Bad");
        assert_eq!(sl.status, None);
        assert_eq!(sl.anomalies, vec!["invalid_status"]);
    }

    /// A stream built from realistic and broken pieces.
    fn mixed_streams(rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
        let mut req = Vec::new();
        let mut resp = Vec::new();
        for _ in 0..12 {
            let body = b"payload ".repeat(1 + rng.below(40));
            match rng.below(9) {
                0 => {
                    req.extend_from_slice(
                        b"GET /a/../b?c=%41 HTTP/1.1\r\nHost: h\r\nX: 1\r\n  2\r\n\r\n",
                    );
                    resp.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd");
                }
                1 => {
                    req.extend_from_slice(
                        format!("POST /p HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len())
                            .as_bytes(),
                    );
                    req.extend_from_slice(&body);
                    let gz = gzip(&body);
                    resp.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n");
                    resp.extend_from_slice(&chunked(&gz, 1 + rng.below(50)));
                }
                2 => {
                    req.extend_from_slice(b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Encoding: deflate\r\n\r\n");
                    req.extend_from_slice(&chunked(&zlib(&body), 1 + rng.below(30)));
                    resp.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
                }
                3 => {
                    req.extend_from_slice(b"HEAD /h HTTP/1.1\r\n\r\n");
                    resp.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n");
                }
                4 => {
                    let n = 1 + rng.below(64);
                    let garbage: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                    req.extend_from_slice(&garbage);
                    req.extend_from_slice(b"\r\n");
                }
                5 => {
                    let gz = gzip(&gzip(&body));
                    req.extend_from_slice(b"GET /gz HTTP/1.1\r\n\r\n");
                    resp.extend_from_slice(format!("HTTP/1.1 200 OK\r\nContent-Encoding: gzip, x-gzip\r\nContent-Length: {}\r\n\r\n", gz.len()).as_bytes());
                    resp.extend_from_slice(&gz);
                }
                6 => {
                    req.extend_from_slice(b"\r\n\nGET /lf HTTP/1.1\nHost: lf\n\n");
                    resp.extend_from_slice(b"HTTP/1.1 404 Not Found\nContent-Length: 3\n\nno!");
                }
                7 => {
                    req.extend_from_slice(b"POST /bad HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\nXYZ\r\n");
                    resp.extend_from_slice(b"HTTP/1.1 400 Bad\r\nContent-Length: 1\r\n\r\n!");
                }
                _ => {
                    let mut gz = gzip(&body);
                    let last = gz.len() / 2;
                    if let Some(b) = gz.get_mut(last) {
                        *b ^= 0x55;
                    }
                    req.extend_from_slice(b"GET /broken HTTP/1.1\r\n\r\n");
                    resp.extend_from_slice(format!("HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: {}\r\n\r\n", gz.len()).as_bytes());
                    resp.extend_from_slice(&gz);
                }
            }
        }
        resp.extend_from_slice(b"HTTP/1.0 200 OK\r\n\r\nuntil close");
        (req, resp)
    }

    #[test]
    fn segmentation_does_not_matter() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let small = HttpConfig {
            request_body_limit: 50,
            response_body_limit: 70,
            ..HttpConfig::default()
        };
        for round in 0..12 {
            let (req, resp) = mixed_streams(&mut rng);
            let cfg = if round % 2 == 0 {
                HttpConfig::default()
            } else {
                small.clone()
            };
            let out = assert_same_any_cut(&cfg, &req, &resp);
            assert!(out.contains("Complete"));
        }
    }

    #[test]
    fn interleaved_operations_keep_invariants() {
        let frags: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\n",
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 100 Continue\r\n",
            b"Content-Length: 5\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Content-Encoding: deflate, gzip\r\n",
            b"\r\n",
            b"5\r\n",
            b"0\r\n",
            b"abcde",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
            b"HEAD /x HTTP/1.0\r\n",
            b"CONNECT a:1 HTTP/1.1\r\n",
            b"HTTP/1.1 101 Switching\r\n",
            b"  fold\r\n",
            b"POST /p HTTP/1.1\r\n",
            b"\x00\xff",
        ];
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for round in 0..300u64 {
            let mut p = HttpParser::new(HttpConfig {
                max_txs: 1 + rng.below(8),
                request_body_limit: rng.below(100),
                response_body_limit: rng.below(100),
                decompress_layer_limit: rng.below(4) as u32,
            });
            for _ in 0..rng.below(120) {
                let mut data = Vec::new();
                for _ in 0..1 + rng.below(6) {
                    if rng.below(5) == 0 {
                        data.extend((0..rng.below(40)).map(|_| rng.next() as u8));
                    } else {
                        data.extend_from_slice(frags[rng.below(frags.len())]);
                    }
                }
                match rng.below(20) {
                    0 => p.gap(rng.below(2) == 0),
                    1 => p.close_request(),
                    2 => p.close_response(),
                    3 => p.remove_done(p.txs().len() as u64 / 2 + round % 3),
                    _ => {}
                }
                if rng.below(2) == 0 {
                    p.feed_request(&data);
                } else {
                    p.feed_response(&data);
                }
                assert!(p.txs().len() <= p.config().max_txs.max(1));
                assert!(p.txs().windows(2).all(|w| w[0].id < w[1].id));
            }
            p.close_request();
            p.close_response();
            for t in p.txs() {
                assert!(t.request_body.len() <= p.config().request_body_limit);
                assert!(t.response_body.len() <= p.config().response_body_limit);
            }
        }
    }

    #[test]
    fn garbage_never_panics_and_is_segmentation_independent() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..20 {
            let len = 1 + rng.below(6000);
            let alphabet: &[u8] = b"GET /HTTP1.0\r\n :chunkedContent-Length0123456789abcdef\t%./";
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    if round % 2 == 0 {
                        rng.next() as u8
                    } else {
                        alphabet[rng.below(alphabet.len())]
                    }
                })
                .collect();
            let mut resp = if round % 3 == 0 {
                b"HTTP/1.1 200 OK\r\n".to_vec()
            } else {
                Vec::new()
            };
            resp.extend_from_slice(&data);
            let cfg = HttpConfig {
                max_txs: 16,
                ..HttpConfig::default()
            };
            assert_same_any_cut(&cfg, &data, &resp);
            let mut p = HttpParser::new(cfg);
            p.feed_request(&data);
            p.gap(true);
            p.feed_request(&data);
            p.feed_response(&resp);
            p.gap(false);
            p.feed_response(&data);
            p.close_request();
            p.close_response();
            assert!(p.txs().len() <= 16);
            for t in p.txs() {
                assert!(t.request_line.len() <= MAX_LINE);
                assert!(t.response_body.len() <= p.config().response_body_limit);
            }
        }
    }
}
