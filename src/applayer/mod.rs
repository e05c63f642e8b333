//! Application-layer parsers and the glue that gives them to detection.
//!
//! Parsers here see reassembled, in-order stream data (or UDP datagrams)
//! from [`crate::flow`] and never touch sockets or the store. This module
//! detects the protocol of a flow (by content first, by port for DNS), keeps
//! the parser's state in the flow, reports which transactions each packet
//! touched, and exposes every transaction as a [`TxView`] — the inspection
//! buffers (`http.uri`, `dns.query`, `tls.sni`, …) that rules read.
//!
//! Protocols: HTTP/1.x ([`http`]), DNS over UDP and TCP ([`dns`]), TLS
//! ([`tls`]), SSH banners ([`ssh`]); SMTP and FTP are recognised (for
//! `app-layer-protocol` and `app_proto`) but not parsed yet.

pub mod dns;
pub mod http;
pub mod mime;
pub mod smtp;
pub mod ssh;
pub mod tls;

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use crate::detect::signature::buffers::{AppProto, Buffer};
use crate::detect::signature::engine::TxView;

/// Settings of the application layer.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub http: http::HttpConfig,
    /// UDP ports where DNS is expected (either side).
    pub dns_udp_ports: Vec<u16>,
    /// TCP ports where DNS is expected.
    pub dns_tcp_ports: Vec<u16>,
    /// Bytes per direction looked at before protocol detection gives up.
    pub detect_limit: usize,
    pub smtp: smtp::SmtpConfig,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            http: http::HttpConfig::default(),
            dns_udp_ports: vec![53],
            dns_tcp_ports: vec![53],
            detect_limit: 4096,
            smtp: smtp::SmtpConfig::default(),
        }
    }
}

/// Something an app-layer parser finished that should be logged.
#[derive(Debug, Clone, PartialEq)]
pub enum AppEvent {
    /// An HTTP transaction is complete.
    Http(u64),
    /// A file (HTTP body) of a transaction; `true` for an upload.
    File(u64, bool),
    /// A protocol anomaly the parser found in a transaction.
    Anomaly(u64, &'static str),
    /// A DNS message: its EVE `dns` object and transaction id.
    Dns(Value, u64, bool),
    /// The TLS handshake is far enough to log.
    Tls,
    /// Both SSH banners are known.
    Ssh,
    /// A mail transaction ended (its message is complete, or the
    /// connection closed in the middle of it).
    Smtp(u64),
}

/// One DNS transaction: a request and its response.
#[derive(Debug, Default)]
pub struct DnsTx {
    pub id: u64,
    pub request: Option<dns::DnsMessage>,
    pub response: Option<dns::DnsMessage>,
}

/// DNS state of a flow.
#[derive(Debug, Default)]
pub struct DnsState {
    pub txs: Vec<DnsTx>,
    next_id: u64,
    framers: Option<Box<[dns::TcpFramer; 2]>>,
    pub errors: u64,
}

impl DnsState {
    fn message(
        &mut self,
        to_server: bool,
        data: &[u8],
        events: &mut Vec<AppEvent>,
        touched: &mut Vec<u64>,
    ) {
        let msg = match dns::parse(data) {
            Ok(m) => m,
            Err(_) => {
                self.errors += 1;
                return;
            }
        };
        let is_response = msg.response;
        let tx_id = if !is_response {
            let id = self.next_id;
            self.next_id += 1;
            self.txs.push(DnsTx {
                id,
                request: None,
                response: None,
            });
            id
        } else {
            match self.txs.iter().find(|t| {
                t.response.is_none() && t.request.as_ref().is_some_and(|r| r.id == msg.id)
            }) {
                Some(t) => t.id,
                None => {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.txs.push(DnsTx {
                        id,
                        request: None,
                        response: None,
                    });
                    id
                }
            }
        };
        if is_response {
            let mut obj = dns::eve_answer(&msg);
            ensure_version(&mut obj);
            events.push(AppEvent::Dns(obj, tx_id, false));
        } else {
            for q in dns::eve_queries(&msg, tx_id) {
                let mut q = q;
                ensure_version(&mut q);
                events.push(AppEvent::Dns(q, tx_id, true));
            }
        }
        let _ = to_server;
        if let Some(t) = self.txs.iter_mut().find(|t| t.id == tx_id) {
            if is_response {
                t.response = Some(msg);
            } else {
                t.request = Some(msg);
            }
        }
        touched.push(tx_id);
        // bound the transactions kept
        if self.txs.len() > 256 {
            self.txs.remove(0);
        }
    }
}

/// Queues the file records and the `http` record of a finished transaction.
fn push_http(events: &mut Vec<AppEvent>, t: &http::HttpTx) {
    for a in &t.anomalies {
        events.push(AppEvent::Anomaly(t.id, a));
    }
    if t.request_entity_len > 0 {
        events.push(AppEvent::File(t.id, true));
    }
    if t.response_entity_len > 0 {
        events.push(AppEvent::File(t.id, false));
    }
    events.push(AppEvent::Http(t.id));
}

/// The file name of an HTTP body: `Content-Disposition`'s `filename`, else
/// the URI's path.
fn http_filename(t: &http::HttpTx, upload: bool) -> Vec<u8> {
    let cd = if upload {
        t.request_header(b"content-disposition")
    } else {
        t.response_header(b"content-disposition")
    };
    if let Some(cd) = cd {
        let lower = cd.to_ascii_lowercase();
        if let Some(i) = memchr::memmem::find(&lower, b"filename=") {
            let v = &cd[i + 9..];
            let v = v.strip_prefix(b"\"").unwrap_or(v);
            let end = v
                .iter()
                .position(|&b| b == b'"' || b == b';')
                .unwrap_or(v.len());
            if end > 0 {
                return v[..end].to_vec();
            }
        }
    }
    let end = t
        .uri_raw
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(t.uri_raw.len());
    t.uri_raw[..end].to_vec()
}

/// The EVE `fileinfo` object of an HTTP body.
pub fn file_eve(t: &http::HttpTx, upload: bool) -> Value {
    let (size, truncated) = if upload {
        (t.request_entity_len, t.request_body_truncated)
    } else {
        (t.response_entity_len, t.response_body_truncated)
    };
    let _ = truncated;
    json!({
        "filename": s(&http_filename(t, upload)),
        "gaps": false,
        "state": "CLOSED",
        "stored": false,
        "size": size,
        "tx_id": t.id,
    })
}

fn ensure_version(v: &mut Value) {
    if let Value::Object(m) = v
        && !m.contains_key("version")
    {
        let mut n = Map::new();
        n.insert("version".into(), json!(2));
        for (k, val) in std::mem::take(m) {
            n.insert(k, val);
        }
        *m = n;
    }
}

/// Application-layer state of one flow.
#[derive(Debug, Default)]
pub struct AppLayer {
    pub proto: Option<AppProto>,
    /// Protocol detection gave up.
    pub failed: bool,
    /// Bytes seen per direction before detection (`[to_server, to_client]`).
    pending: [Vec<u8>; 2],
    pub http: Option<Box<http::HttpParser>>,
    pub tls: Option<Box<tls::TlsParser>>,
    pub dns: Option<Box<DnsState>>,
    pub ssh: Option<Box<SshStateBox>>,
    pub smtp: Option<Box<smtp::SmtpState>>,
    /// Transactions touched by the last feed.
    pub touched: Vec<u64>,
    /// A message completed in that direction during the last feed
    /// (`[to_server, to_client]`).
    pub completed: [bool; 2],
    /// Events to log, drained by the pipeline.
    pub events: Vec<AppEvent>,
    tls_logged: bool,
    ssh_logged: bool,
    /// Detection found the flow's direction backwards; the pipeline swaps
    /// the flow's sides and clears this.
    pub reversed: bool,
    /// HTTP transactions already logged.
    http_logged: u64,
}

/// SSH state (boxed to keep flows small).
pub type SshStateBox = ssh::SshState;

impl std::fmt::Debug for http::HttpParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpParser")
    }
}

impl std::fmt::Debug for tls::TlsParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsParser")
    }
}

const HTTP_METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"PATCH ",
    b"TRACE ",
    b"PROPFIND ",
    b"PROPPATCH ",
    b"MKCOL ",
    b"COPY ",
    b"MOVE ",
    b"LOCK ",
    b"UNLOCK ",
    b"SEARCH ",
    b"REPORT ",
];

fn looks_like_http_request(d: &[u8]) -> Option<bool> {
    let d = {
        let skip = d
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        &d[skip..]
    };
    for m in HTTP_METHODS {
        let n = m.len().min(d.len());
        if d[..n].eq_ignore_ascii_case(&m[..n]) {
            return if d.len() >= m.len() { Some(true) } else { None };
        }
    }
    Some(false)
}

impl AppLayer {
    /// The EVE `app_proto` value.
    pub fn eve_name(&self) -> Option<&'static str> {
        match self.proto {
            Some(p) => Some(p.name()),
            None if self.failed => Some("failed"),
            None => None,
        }
    }

    /// Feeds in-order TCP stream bytes of one direction.
    pub fn feed_tcp(&mut self, cfg: &AppConfig, to_server: bool, data: &[u8], server_port: u16) {
        self.touched.clear();
        self.completed = [false; 2];
        if data.is_empty() || self.failed {
            return;
        }
        let d = usize::from(!to_server);
        if self.proto.is_none() {
            self.pending[d].extend_from_slice(data);
            let buf = std::mem::take(&mut self.pending[d]);
            match self.detect_tcp(cfg, to_server, &buf, server_port) {
                Some(p) => {
                    self.start(cfg, p);
                    // A response seen as the "request" side: the capture
                    // began mid-connection with the server talking. Flip
                    // the flow, as Suricata does.
                    let mut to_server = to_server;
                    if to_server
                        && p == AppProto::Http
                        && buf.len() >= 5
                        && buf[..5].eq_ignore_ascii_case(b"HTTP/")
                    {
                        self.reversed = true;
                        to_server = false;
                        self.pending.swap(0, 1);
                    }
                    let d = usize::from(!to_server);
                    // replay what the other side sent before detection
                    let other = std::mem::take(&mut self.pending[1 - d]);
                    if !other.is_empty() {
                        self.parse(cfg, !to_server, &other);
                    }
                    self.parse(cfg, to_server, &buf);
                }
                None => {
                    if buf.len() >= cfg.detect_limit
                        || (self.pending[1 - d].len() >= 64 && buf.len() >= 64)
                    {
                        self.failed = true;
                        self.pending = [Vec::new(), Vec::new()];
                    } else {
                        self.pending[d] = buf;
                    }
                }
            }
            return;
        }
        self.parse(cfg, to_server, data);
    }

    fn detect_tcp(
        &self,
        cfg: &AppConfig,
        to_server: bool,
        buf: &[u8],
        server_port: u16,
    ) -> Option<AppProto> {
        if tls::TlsParser::looks_like_tls(buf) {
            return Some(AppProto::Tls);
        }
        if ssh::SshState::looks_like_ssh(buf) {
            return Some(AppProto::Ssh);
        }
        if to_server {
            if looks_like_http_request(buf) == Some(true) {
                return Some(AppProto::Http);
            }
            let upper = buf.get(..5).map(|b| b.to_ascii_uppercase());
            if matches!(upper.as_deref(), Some(b"EHLO ") | Some(b"HELO ")) {
                return Some(AppProto::Smtp);
            }
        }
        if buf.len() >= 5 && buf[..5].eq_ignore_ascii_case(b"HTTP/") {
            return Some(AppProto::Http);
        }
        if cfg.dns_tcp_ports.contains(&server_port) && buf.len() >= 14 {
            return Some(AppProto::Dns);
        }
        None
    }

    fn start(&mut self, cfg: &AppConfig, p: AppProto) {
        self.proto = Some(p);
        match p {
            AppProto::Http => self.http = Some(Box::new(http::HttpParser::new(cfg.http.clone()))),
            AppProto::Tls => self.tls = Some(Box::new(tls::TlsParser::new())),
            AppProto::Dns => self.dns = Some(Box::default()),
            AppProto::Ssh => self.ssh = Some(Box::default()),
            AppProto::Smtp => self.smtp = Some(Box::new(smtp::SmtpState::new(cfg.smtp))),
            AppProto::Ftp => {}
        }
    }

    fn parse(&mut self, _cfg: &AppConfig, to_server: bool, data: &[u8]) {
        match self.proto {
            Some(AppProto::Http) => {
                let Some(h) = self.http.as_mut() else { return };
                let before: Vec<(u64, http::Progress, http::Progress, usize, usize)> = h
                    .txs()
                    .iter()
                    .map(|t| {
                        (
                            t.id,
                            t.request_progress,
                            t.response_progress,
                            t.request_body.len(),
                            t.response_body.len(),
                        )
                    })
                    .collect();
                if to_server {
                    h.feed_request(data);
                } else {
                    h.feed_response(data);
                }
                for t in h.txs() {
                    let changed = match before.iter().find(|b| b.0 == t.id) {
                        Some(b) => {
                            b.1 != t.request_progress
                                || b.2 != t.response_progress
                                || b.3 != t.request_body.len()
                                || b.4 != t.response_body.len()
                        }
                        None => true,
                    };
                    if changed {
                        self.touched.push(t.id);
                        let (rq, rs) = before
                            .iter()
                            .find(|b| b.0 == t.id)
                            .map(|b| (b.1, b.2))
                            .unwrap_or((http::Progress::None, http::Progress::None));
                        if rq != http::Progress::Complete
                            && t.request_progress == http::Progress::Complete
                        {
                            self.completed[0] = true;
                        }
                        if rs != http::Progress::Complete
                            && t.response_progress == http::Progress::Complete
                        {
                            self.completed[1] = true;
                        }
                    }
                    if t.id >= self.http_logged
                        && t.response_progress == http::Progress::Complete
                        && t.request_progress == http::Progress::Complete
                    {
                        push_http(&mut self.events, t);
                        self.http_logged = t.id + 1;
                    }
                }
            }
            Some(AppProto::Tls) => {
                let Some(t) = self.tls.as_mut() else { return };
                t.feed(to_server, data);
                self.touched.push(0);
                let i = t.info();
                if !self.tls_logged && (i.certificates_done || i.encrypted) && i.client_hello {
                    self.tls_logged = true;
                    self.events.push(AppEvent::Tls);
                }
            }
            Some(AppProto::Dns) => {
                let Some(st) = self.dns.as_mut() else { return };
                let d = usize::from(!to_server);
                let framers = st.framers.get_or_insert_with(|| {
                    Box::new([dns::TcpFramer::new(), dns::TcpFramer::new()])
                });
                let msgs = framers[d].feed(data);
                for m in msgs {
                    st.message(to_server, &m, &mut self.events, &mut self.touched);
                }
            }
            Some(AppProto::Smtp) => {
                let Some(s) = self.smtp.as_mut() else { return };
                for id in s.feed(to_server, data) {
                    self.events.push(AppEvent::Smtp(id));
                }
            }
            Some(AppProto::Ssh) => {
                let Some(s) = self.ssh.as_mut() else { return };
                s.feed(to_server, data);
                self.touched.push(0);
                if !self.ssh_logged && s.banners[0].is_some() && s.banners[1].is_some() {
                    self.ssh_logged = true;
                    self.events.push(AppEvent::Ssh);
                }
            }
            _ => {}
        }
    }

    /// Feeds one UDP datagram.
    pub fn feed_udp(
        &mut self,
        cfg: &AppConfig,
        to_server: bool,
        data: &[u8],
        sport: u16,
        dport: u16,
    ) {
        self.touched.clear();
        if data.is_empty() {
            return;
        }
        if self.proto.is_none() && !self.failed {
            if (cfg.dns_udp_ports.contains(&dport) || cfg.dns_udp_ports.contains(&sport))
                && dns::parse(data).is_ok()
            {
                self.start(cfg, AppProto::Dns);
            } else {
                self.failed = true;
            }
        }
        if self.proto == Some(AppProto::Dns)
            && let Some(st) = self.dns.as_mut()
        {
            st.message(to_server, data, &mut self.events, &mut self.touched);
        }
    }

    /// The stream of one direction ended.
    pub fn close(&mut self, to_server: bool) {
        self.touched.clear();
        self.completed = [false; 2];
        if let Some(h) = self.http.as_mut() {
            let before: Vec<(u64, http::Progress, http::Progress)> = h
                .txs()
                .iter()
                .map(|t| (t.id, t.request_progress, t.response_progress))
                .collect();
            if to_server {
                h.close_request();
            } else {
                h.close_response();
            }
            for t in h.txs() {
                let b = before.iter().find(|b| b.0 == t.id);
                let changed =
                    b.is_none_or(|b| b.1 != t.request_progress || b.2 != t.response_progress);
                if changed {
                    self.touched.push(t.id);
                    if t.response_progress == http::Progress::Complete {
                        self.completed[1] = true;
                    }
                    if t.request_progress == http::Progress::Complete {
                        self.completed[0] = true;
                    }
                }
                if t.id >= self.http_logged
                    && t.response_progress == http::Progress::Complete
                    && t.request_progress == http::Progress::Complete
                {
                    push_http(&mut self.events, t);
                    self.http_logged = t.id + 1;
                }
            }
        }
    }

    /// Events for what is still unlogged when the flow ends.
    pub fn finish(&mut self) {
        if let Some(s) = self.smtp.as_mut() {
            for id in s.close() {
                self.events.push(AppEvent::Smtp(id));
            }
        }
        if let Some(h) = self.http.as_mut() {
            h.close_request();
            h.close_response();
            for t in h.txs() {
                if t.id >= self.http_logged && t.request_progress >= http::Progress::Line {
                    push_http(&mut self.events, t);
                    self.http_logged = t.id + 1;
                }
            }
        }
        if let Some(t) = self.tls.as_ref()
            && !self.tls_logged
            && t.info().client_hello
        {
            self.tls_logged = true;
            self.events.push(AppEvent::Tls);
        }
        if let Some(s) = self.ssh.as_ref()
            && !self.ssh_logged
            && (s.banners[0].is_some() || s.banners[1].is_some())
        {
            self.ssh_logged = true;
            self.events.push(AppEvent::Ssh);
        }
    }

    /// Views of the given transactions for detection.
    pub fn views(&self, ids: &[u64]) -> Vec<AppTx<'_>> {
        let mut out = Vec::new();
        match self.proto {
            Some(AppProto::Http) => {
                if let Some(h) = self.http.as_ref() {
                    for id in ids {
                        if let Some(t) = h.tx(*id) {
                            out.push(AppTx::Http(t));
                        }
                    }
                }
            }
            Some(AppProto::Tls) => {
                if let Some(t) = self.tls.as_ref()
                    && !ids.is_empty()
                {
                    out.push(AppTx::Tls(t.info()));
                }
            }
            Some(AppProto::Dns) => {
                if let Some(d) = self.dns.as_ref() {
                    for id in ids {
                        if let Some(t) = d.txs.iter().find(|t| t.id == *id) {
                            out.push(AppTx::Dns(t));
                        }
                    }
                }
            }
            Some(AppProto::Ssh) => {
                if let Some(s) = self.ssh.as_ref()
                    && !ids.is_empty()
                {
                    out.push(AppTx::Ssh(s));
                }
            }
            _ => {}
        }
        out
    }

    /// The EVE object an alert on transaction `tx` carries: (key, value).
    pub fn alert_object(&self, tx: Option<u64>) -> Option<(&'static str, Value)> {
        match self.proto {
            Some(AppProto::Http) => {
                let h = self.http.as_ref()?;
                let t = match tx {
                    Some(id) => h.tx(id)?,
                    None => h.txs().last()?,
                };
                Some(("http", http_eve(t)))
            }
            Some(AppProto::Tls) => Some(("tls", tls::eve(self.tls.as_ref()?.info()))),
            Some(AppProto::Dns) => {
                let d = self.dns.as_ref()?;
                let t = match tx {
                    Some(id) => d.txs.iter().find(|t| t.id == id)?,
                    None => d.txs.last()?,
                };
                let msg = t.request.as_ref().or(t.response.as_ref())?;
                let mut v = dns::eve_alert_object(msg, t.id);
                ensure_version(&mut v);
                Some(("dns", v))
            }
            Some(AppProto::Ssh) => Some(("ssh", self.ssh.as_ref()?.eve())),
            _ => None,
        }
    }

    /// The newest transaction id, if any.
    pub fn last_tx(&self) -> Option<u64> {
        match self.proto {
            Some(AppProto::Http) => self.http.as_ref()?.txs().last().map(|t| t.id),
            Some(AppProto::Dns) => self.dns.as_ref()?.txs.last().map(|t| t.id),
            Some(AppProto::Tls) | Some(AppProto::Ssh) => Some(0),
            _ => None,
        }
    }

    /// The HTTP transaction with this id.
    pub fn http_tx(&self, id: u64) -> Option<&http::HttpTx> {
        self.http.as_ref()?.tx(id)
    }

    /// A mail transaction, while it is kept.
    pub fn smtp_tx(&self, id: u64) -> Option<&smtp::SmtpTx> {
        self.smtp.as_ref()?.tx(id)
    }

    /// The EVE `tls` object.
    pub fn tls_eve(&self) -> Option<Value> {
        Some(tls::eve(self.tls.as_ref()?.info()))
    }

    /// The EVE `ssh` object.
    pub fn ssh_eve(&self) -> Option<Value> {
        Some(self.ssh.as_ref()?.eve())
    }
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Host without port, lower-cased, as libhtp normalises it.
fn normalized_host(raw: &[u8]) -> Vec<u8> {
    let mut h = raw;
    if h.first() == Some(&b'[') {
        if let Some(end) = h.iter().position(|&b| b == b']') {
            h = &h[..=end];
        }
    } else if let Some(colon) = h.iter().rposition(|&b| b == b':') {
        h = &h[..colon];
    }
    let mut v = h.to_ascii_lowercase();
    while v.last() == Some(&b'.') {
        v.pop();
    }
    v
}

/// The EVE `http` object of a transaction (Suricata's default fields).
pub fn http_eve(t: &http::HttpTx) -> Value {
    let mut m = Map::new();
    if let Some(h) = t.request_header(b"host") {
        m.insert("hostname".into(), json!(s(&normalized_host(&h))));
    }
    if !t.uri_raw.is_empty() {
        m.insert("url".into(), json!(s(&t.uri_raw)));
    }
    if let Some(ua) = t.request_header(b"user-agent") {
        m.insert("http_user_agent".into(), json!(s(&ua)));
    }
    if let Some(ct) = t.response_header(b"content-type") {
        let ct = ct.split(|&b| b == b';').next().unwrap_or(&ct).to_vec();
        m.insert("http_content_type".into(), json!(s(&ct)));
    }
    if let Some(r) = t.request_header(b"referer") {
        m.insert("http_refer".into(), json!(s(&r)));
    }
    if !t.method.is_empty() {
        m.insert("http_method".into(), json!(s(&t.method)));
    }
    if !t.protocol.is_empty() {
        m.insert("protocol".into(), json!(s(&t.protocol)));
    } else if !t.response_protocol.is_empty() {
        m.insert("protocol".into(), json!(s(&t.response_protocol)));
    }
    if let Some(st) = t.status {
        m.insert("status".into(), json!(st));
    }
    if let Some(loc) = t.response_header(b"location") {
        m.insert("redirect".into(), json!(s(&loc)));
    }
    m.insert("length".into(), json!(t.response_message_len));
    Value::Object(m)
}

/// A transaction of any protocol, as detection sees it.
pub enum AppTx<'a> {
    Http(&'a http::HttpTx),
    Tls(&'a tls::TlsInfo),
    Dns(&'a DnsTx),
    Ssh(&'a ssh::SshState),
}

fn one(b: &[u8]) -> Option<Vec<Cow<'_, [u8]>>> {
    Some(vec![Cow::Borrowed(b)])
}

fn opt(b: Option<Vec<u8>>) -> Option<Vec<Cow<'static, [u8]>>> {
    Some(b.map(|v| vec![Cow::Owned(v)]).unwrap_or_default())
}

fn header_buffer(headers: &[http::Header]) -> Vec<u8> {
    let mut v = Vec::new();
    for h in headers {
        v.extend_from_slice(&h.name);
        v.extend_from_slice(b": ");
        v.extend_from_slice(&h.value);
        v.extend_from_slice(b"\r\n");
    }
    v
}

fn header_names(headers: &[http::Header]) -> Vec<u8> {
    let mut v = b"\r\n".to_vec();
    for h in headers {
        v.extend_from_slice(&h.name);
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"\r\n");
    v
}

impl TxView for AppTx<'_> {
    fn id(&self) -> u64 {
        match self {
            AppTx::Http(t) => t.id,
            AppTx::Dns(t) => t.id,
            AppTx::Tls(_) | AppTx::Ssh(_) => 0,
        }
    }

    fn generation(&self, buf: Buffer, to_server: bool) -> Option<u64> {
        use http::Progress;
        let p = |x: Progress| x as u64;
        Some(match self {
            AppTx::Http(t) => match buf {
                Buffer::HttpRequestBody => {
                    (p(t.request_progress) << 56) ^ t.request_body.len() as u64
                }
                Buffer::HttpResponseBody => {
                    (p(t.response_progress) << 56) ^ t.response_body.len() as u64
                }
                Buffer::FileData => {
                    if to_server {
                        (p(t.request_progress) << 56) ^ t.request_body.len() as u64
                    } else {
                        (p(t.response_progress) << 56) ^ t.response_body.len() as u64
                    }
                }
                _ => {
                    // header-phase buffers change only with the progress of
                    // their side (and the header count while headers come)
                    let side_ts = match buf.side() {
                        crate::detect::signature::buffers::Side::ToServer => true,
                        crate::detect::signature::buffers::Side::ToClient => false,
                        crate::detect::signature::buffers::Side::Either => to_server,
                    };
                    if side_ts {
                        (p(t.request_progress) << 32) ^ t.request_headers.len() as u64
                    } else {
                        (p(t.response_progress) << 32) ^ t.response_headers.len() as u64
                    }
                }
            },
            AppTx::Tls(i) => {
                u64::from(i.client_hello)
                    | u64::from(i.server_hello) << 1
                    | u64::from(i.certificates_done) << 2
            }
            AppTx::Dns(t) => u64::from(t.request.is_some()) | u64::from(t.response.is_some()) << 1,
            AppTx::Ssh(st) => {
                u64::from(st.banners[0].is_some()) | u64::from(st.banners[1].is_some()) << 1
            }
        })
    }

    fn proto(&self) -> AppProto {
        match self {
            AppTx::Http(_) => AppProto::Http,
            AppTx::Tls(_) => AppProto::Tls,
            AppTx::Dns(_) => AppProto::Dns,
            AppTx::Ssh(_) => AppProto::Ssh,
        }
    }

    fn buffer(&self, buf: Buffer, to_server: bool) -> Option<Vec<Cow<'_, [u8]>>> {
        use http::Progress;
        match self {
            AppTx::Http(t) => {
                let req_line = t.request_progress >= Progress::Line;
                let req_hdr = t.request_progress >= Progress::Headers;
                let resp_line = t.response_progress >= Progress::Line;
                let resp_hdr = t.response_progress >= Progress::Headers;
                let (hdr_ready, headers, raw) = if to_server {
                    (req_hdr, &t.request_headers, &t.request_headers_raw)
                } else {
                    (resp_hdr, &t.response_headers, &t.response_headers_raw)
                };
                let header = |name: &[u8]| -> Option<Vec<Cow<'static, [u8]>>> {
                    if !hdr_ready {
                        return None;
                    }
                    let v = if to_server {
                        t.request_header(name)
                    } else {
                        t.response_header(name)
                    };
                    opt(v)
                };
                match buf {
                    Buffer::HttpUri => req_line.then(|| vec![Cow::Borrowed(&t.uri_normalized[..])]),
                    Buffer::HttpUriRaw => req_line.then(|| vec![Cow::Borrowed(&t.uri_raw[..])]),
                    Buffer::HttpMethod => req_line.then(|| vec![Cow::Borrowed(&t.method[..])]),
                    Buffer::HttpRequestLine => {
                        req_line.then(|| vec![Cow::Borrowed(&t.request_line[..])])
                    }
                    Buffer::HttpResponseLine => {
                        resp_line.then(|| vec![Cow::Borrowed(&t.response_line[..])])
                    }
                    Buffer::HttpProtocol => {
                        if to_server {
                            req_line.then(|| vec![Cow::Borrowed(&t.protocol[..])])
                        } else {
                            resp_line.then(|| vec![Cow::Borrowed(&t.response_protocol[..])])
                        }
                    }
                    Buffer::HttpStatCode => {
                        resp_line.then(|| vec![Cow::Borrowed(&t.status_raw[..])])
                    }
                    Buffer::HttpStatMsg => {
                        resp_line.then(|| vec![Cow::Borrowed(&t.status_message[..])])
                    }
                    Buffer::HttpHost => {
                        if !req_hdr {
                            return None;
                        }
                        opt(t.request_header(b"host").map(|h| normalized_host(&h)))
                    }
                    Buffer::HttpHostRaw => {
                        if !req_hdr {
                            return None;
                        }
                        opt(t.request_header(b"host"))
                    }
                    Buffer::HttpUserAgent => header(b"user-agent"),
                    Buffer::HttpCookie => {
                        if to_server {
                            header(b"cookie")
                        } else {
                            header(b"set-cookie")
                        }
                    }
                    Buffer::HttpContentType => header(b"content-type"),
                    Buffer::HttpContentLen => header(b"content-length"),
                    Buffer::HttpConnection => header(b"connection"),
                    Buffer::HttpReferer => header(b"referer"),
                    Buffer::HttpLocation => header(b"location"),
                    Buffer::HttpAccept => header(b"accept"),
                    Buffer::HttpAcceptEnc => header(b"accept-encoding"),
                    Buffer::HttpAcceptLang => header(b"accept-language"),
                    Buffer::HttpServer => header(b"server"),
                    Buffer::HttpHeader => {
                        if !hdr_ready || headers.is_empty() {
                            return if hdr_ready { Some(Vec::new()) } else { None };
                        }
                        Some(vec![Cow::Owned(header_buffer(headers))])
                    }
                    Buffer::HttpRawHeader => {
                        if !hdr_ready {
                            return None;
                        }
                        one(raw)
                    }
                    Buffer::HttpHeaderNames => {
                        hdr_ready.then(|| vec![Cow::Owned(header_names(headers))])
                    }
                    Buffer::HttpStart => {
                        if !hdr_ready {
                            return None;
                        }
                        let (line, raw) = if to_server {
                            (&t.request_line, &t.request_headers_raw)
                        } else {
                            (&t.response_line, &t.response_headers_raw)
                        };
                        let mut v = line.clone();
                        v.extend_from_slice(b"\r\n");
                        v.extend_from_slice(raw);
                        Some(vec![Cow::Owned(v)])
                    }
                    // Bodies are inspected whole, once complete (or once
                    // the body limit is reached): rescanning a growing body
                    // on every segment would cost quadratic time.
                    Buffer::HttpRequestBody => {
                        let ready =
                            t.request_progress == Progress::Complete || t.request_body_truncated;
                        (ready && !t.request_body.is_empty())
                            .then(|| vec![Cow::Borrowed(&t.request_body[..])])
                    }
                    Buffer::HttpResponseBody => {
                        let ready =
                            t.response_progress == Progress::Complete || t.response_body_truncated;
                        (ready && !t.response_body.is_empty())
                            .then(|| vec![Cow::Borrowed(&t.response_body[..])])
                    }
                    Buffer::FileData => {
                        let (p, b, trunc) = if to_server {
                            (
                                t.request_progress,
                                &t.request_body,
                                t.request_body_truncated,
                            )
                        } else {
                            (
                                t.response_progress,
                                &t.response_body,
                                t.response_body_truncated,
                            )
                        };
                        ((p == Progress::Complete || trunc) && !b.is_empty())
                            .then(|| vec![Cow::Borrowed(&b[..])])
                    }
                    _ => Some(Vec::new()),
                }
            }
            AppTx::Dns(t) => match buf {
                Buffer::DnsOpcode => {
                    let m = t.request.as_ref().or(t.response.as_ref())?;
                    Some(vec![Cow::Owned(vec![m.opcode])])
                }
                Buffer::DnsQuery => {
                    let m = t.request.as_ref()?;
                    Some(
                        m.queries
                            .iter()
                            .map(|q| Cow::Borrowed(&q.name[..]))
                            .collect(),
                    )
                }
                _ => Some(Vec::new()),
            },
            AppTx::Tls(i) => {
                // a text field, once the handshake message carrying it is in
                let text = |ready: bool, v: &Option<String>| -> Option<Vec<Cow<'_, [u8]>>> {
                    if !ready {
                        return None;
                    }
                    Some(
                        v.as_ref()
                            .map(|s| vec![Cow::Owned(s.as_bytes().to_vec())])
                            .unwrap_or_default(),
                    )
                };
                match buf {
                    Buffer::TlsSni => {
                        if !i.client_hello {
                            return None;
                        }
                        Some(
                            i.sni
                                .as_ref()
                                .map(|s| vec![Cow::Borrowed(&s[..])])
                                .unwrap_or_default(),
                        )
                    }
                    Buffer::Ja3Hash => text(i.client_hello, &i.ja3_hash),
                    Buffer::Ja3String => text(i.client_hello, &i.ja3_string),
                    Buffer::Ja3sHash => text(i.server_hello, &i.ja3s_hash),
                    Buffer::Ja3sString => text(i.server_hello, &i.ja3s_string),
                    Buffer::TlsCerts => {
                        if !i.certificates_done {
                            return None;
                        }
                        Some(
                            i.certificates
                                .iter()
                                .map(|c| Cow::Borrowed(&c[..]))
                                .collect(),
                        )
                    }
                    Buffer::TlsCertSubject => text(i.certificates_done, &i.subject),
                    Buffer::TlsCertIssuer => text(i.certificates_done, &i.issuer),
                    Buffer::TlsCertSerial => text(i.certificates_done, &i.serial),
                    Buffer::TlsCertFingerprint => text(i.certificates_done, &i.fingerprint),
                    _ => Some(Vec::new()),
                }
            }
            AppTx::Ssh(st) => {
                let b = st.banners[usize::from(!to_server)].as_ref()?;
                match buf {
                    Buffer::SshProto => one(&b.proto),
                    Buffer::SshSoftware => one(&b.software),
                    _ => Some(Vec::new()),
                }
            }
        }
    }
}
