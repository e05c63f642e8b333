//! Incremental TLS/SSL record and handshake parser.
//!
//! One [`TlsParser`] is kept per TCP connection and fed with the in-order,
//! reassembled stream bytes of each direction ([`TlsParser::feed`]). Chunk
//! boundaries do not matter: feeding a stream one byte at a time gives the
//! same [`TlsInfo`] as feeding it whole.
//!
//! What is extracted is what IDS rules (`tls.sni`, `tls.cert_subject`,
//! `tls.certs`, `ja3.hash`, ...) and Suricata's EVE `tls` event need:
//! the ClientHello (SNI, JA3), the ServerHello (negotiated version, JA3S),
//! the server's Certificate message (DER chain, leaf subject, issuer, serial,
//! SHA-1 fingerprint, validity) and the ChangeCipherSpec / application data
//! state. [`eve`] renders Suricata 7's default `tls` object.
//!
//! Behaviour follows Suricata 7 where it is observable in its output:
//! GREASE values are left out of JA3/JA3S, version names come from
//! `SSLVersionToString`, the serial is the raw DER integer in colon separated
//! upper-case hex and subject/issuer use `x509-parser`'s `Display`.
//! Handshake messages are reassembled independently of record boundaries,
//! so a message split over several records (or several messages in one
//! record) is handled. Handshake records that follow a ChangeCipherSpec or
//! application data in the same direction, and everything the server sends
//! after a TLS 1.3 ServerHello, are treated as encrypted and not parsed.
//!
//! All buffers are bounded: a record may be at most 16 KiB + 2048 bytes, a
//! reassembled ClientHello/ServerHello/Certificate message at most 64 KiB.
//! Exceeding a bound, or a byte stream that stops looking like TLS, records
//! an anomaly and stops parsing of that direction. The parser never panics.

use md5::{Digest as _, Md5};
use serde_json::{Map, Value};
use sha1::Sha1;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

/// Anomaly names recorded in [`TlsInfo::anomalies`].
pub mod anomaly {
    /// A record started with a content type other than 20..=24 (and it was
    /// not an SSLv2 record at the start of the stream). Stops the direction.
    pub const INVALID_RECORD_TYPE: &str = "invalid_record_type";
    /// A record header had a major version other than 3. Stops the direction.
    pub const INVALID_RECORD_VERSION: &str = "invalid_record_version";
    /// A record was longer than 16384 + 2048 bytes. Stops the direction.
    pub const RECORD_OVERFLOW: &str = "record_overflow";
    /// A plaintext handshake record was empty or longer than 16384 bytes.
    pub const INVALID_RECORD_LENGTH: &str = "invalid_record_length";
    /// A handshake message of an unknown type was skipped.
    pub const INVALID_HANDSHAKE_MESSAGE: &str = "invalid_handshake_message";
    /// A hello message was truncated or its inner lengths were inconsistent.
    pub const HANDSHAKE_INVALID_LENGTH: &str = "handshake_invalid_length";
    /// A handshake message to reassemble was larger than 64 KiB. Stops the
    /// direction.
    pub const HANDSHAKE_OVERFLOW: &str = "handshake_overflow";
    /// The server_name extension used a name type other than host_name.
    pub const INVALID_SNI_TYPE: &str = "invalid_sni_type";
    /// The server_name host name was empty, longer than 255 bytes or
    /// truncated.
    pub const INVALID_SNI_LENGTH: &str = "invalid_sni_length";
    /// More than one server_name extension was present.
    pub const MULTIPLE_SNI_EXTENSIONS: &str = "multiple_sni_extensions";
    /// The Certificate message's lengths were inconsistent.
    pub const INVALID_CERTIFICATE: &str = "invalid_certificate";
    /// The leaf certificate could not be parsed as X.509 (its DER is kept).
    pub const CERTIFICATE_PARSE_ERROR: &str = "certificate_parse_error";
    /// The Certificate message held more certificates than are kept.
    pub const TOO_MANY_CERTIFICATES: &str = "too_many_certificates";
    /// An SSLv2 record header or ClientHello was malformed. Stops the
    /// direction when the header itself is invalid.
    pub const INVALID_SSLV2_HEADER: &str = "invalid_sslv2_header";
}

/// Largest record body accepted (TLSCiphertext limit: 2^14 + 2048).
const MAX_RECORD_LEN: usize = 16384 + 2048;
/// Largest plaintext record body allowed by the RFCs.
const MAX_PLAINTEXT_LEN: usize = 16384;
/// Largest handshake message that is reassembled.
const MAX_HANDSHAKE_LEN: usize = 64 * 1024;
/// At most this many anomalies are kept.
const MAX_ANOMALIES: usize = 64;
/// At most this many certificates of a chain are kept.
const MAX_CERTIFICATES: usize = 64;

const CT_CHANGE_CIPHER_SPEC: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APPLICATION_DATA: u8 = 23;
const CT_HEARTBEAT: u8 = 24;

const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;

const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_EC_POINT_FORMATS: u16 = 11;
const EXT_SESSION_TICKET: u16 = 35;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// Version number Suricata uses for SSLv2.
const SSL_VERSION_2: u16 = 0x0200;
/// Suricata's value for TLS 1.3 drafts before draft 16.
const TLS_VERSION_13_PRE_DRAFT16: u16 = 0x7f01;

/// `ServerHello.random` of a TLS 1.3 HelloRetryRequest (RFC 8446 4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// What has been learnt about one TLS connection so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// A ClientHello (TLS or SSLv2) was fully parsed.
    pub client_hello: bool,
    /// `legacy_version` of the ClientHello (for SSLv2 hellos, their version
    /// field, e.g. 0x0002 or 0x0301).
    pub client_version: u16,
    /// Versions offered in the ClientHello supported_versions extension,
    /// GREASE values left out; empty when the extension was absent.
    pub client_supported_versions: Vec<u16>,
    /// host_name of the server_name extension (first entry, raw bytes).
    pub sni: Option<Vec<u8>>,
    /// JA3 string, e.g. `771,4865-4866,0-23,29-23-24,0` (GREASE excluded).
    pub ja3_string: Option<String>,
    /// MD5 of [`TlsInfo::ja3_string`], lower-case hex.
    pub ja3_hash: Option<String>,
    /// A ServerHello (TLS or SSLv2) was fully parsed.
    pub server_hello: bool,
    /// Negotiated version: the ServerHello supported_versions extension if
    /// present, else its legacy version (early TLS 1.3 drafts mapped to
    /// 0x7f01 as Suricata does; 0x0200 for SSLv2).
    pub version: Option<u16>,
    /// JA3S string of the first ServerHello, e.g. `771,49199,65281-0-11`.
    pub ja3s_string: Option<String>,
    /// MD5 of [`TlsInfo::ja3s_string`], lower-case hex.
    pub ja3s_hash: Option<String>,
    /// DER certificates of the server's Certificate message, leaf first.
    pub certificates: Vec<Vec<u8>>,
    /// Leaf certificate subject, e.g. `C=FR, ST=IDF, L=Paris, O=Stamus, CN=SELKS`.
    pub subject: Option<String>,
    /// Leaf certificate issuer, same format as the subject.
    pub issuer: Option<String>,
    /// Leaf serial number as upper-case hex bytes joined by `:`.
    pub serial: Option<String>,
    /// SHA-1 of the leaf DER, lower-case hex bytes joined by `:` (set when
    /// the leaf parsed, as Suricata does).
    pub fingerprint: Option<String>,
    /// Leaf notBefore, `YYYY-MM-DDTHH:MM:SS` in UTC.
    pub not_before: Option<String>,
    /// Leaf notAfter, `YYYY-MM-DDTHH:MM:SS` in UTC.
    pub not_after: Option<String>,
    /// The server's Certificate message was parsed (never set for TLS 1.3,
    /// where it is encrypted).
    pub certificates_done: bool,
    /// The client sent a ChangeCipherSpec.
    pub client_ccs: bool,
    /// The server sent a ChangeCipherSpec.
    pub server_ccs: bool,
    /// Application data was seen, or both sides sent a ChangeCipherSpec.
    pub encrypted: bool,
    /// Session resumption as Suricata logs it: the server echoed the
    /// client's session id or the client offered a session ticket, the
    /// server sent no certificate and the session is not TLS 1.3.
    pub session_resumed: bool,
    /// Anomalies seen, in order (at most 64 kept); see [`anomaly`].
    pub anomalies: Vec<&'static str>,
}

impl TlsInfo {
    /// True once the handshake is over as far as logging is concerned:
    /// encrypted traffic was seen, or the leaf certificate was decoded.
    pub fn handshake_done(&self) -> bool {
        self.encrypted || (self.subject.is_some() && self.issuer.is_some())
    }
}

/// Where the record layer of one direction is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum RecordState {
    /// Collecting a record header (`hdr_need` bytes, known from its first).
    #[default]
    Header,
    /// Inside a TLS record body.
    Body { kind: BodyKind, remaining: usize },
    /// Inside an SSLv2 record body, collected into `v2_buf`.
    V2Body { remaining: usize, keep: bool },
}

/// What to do with the body bytes of the current TLS record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    /// Plaintext handshake protocol bytes.
    Handshake,
    /// Anything not looked at (encrypted, alerts, heartbeats, CCS).
    Skip,
}

/// Per-direction parser state.
#[derive(Debug, Default, Clone)]
struct Direction {
    state: RecordState,
    hdr: [u8; 5],
    hdr_len: usize,
    hdr_need: usize,
    /// Records started so far.
    records: u64,
    /// The last record was an SSLv2 one.
    last_v2: bool,
    v2_buf: Vec<u8>,
    /// Handshake protocol reassembly: header + body of the current message.
    hs_buf: Vec<u8>,
    /// Handshake bytes still to skip (uninteresting message).
    hs_skip: usize,
    /// Handshake records of this direction are encrypted from now on.
    hs_encrypted: bool,
    /// Parsing of this direction stopped.
    dead: bool,
}

/// Incremental per-connection TLS parser; see the module documentation.
///
/// (`Debug` is left to the embedding crate, which prints it opaquely.)
#[derive(Default, Clone)]
pub struct TlsParser {
    info: TlsInfo,
    ts: Direction,
    tc: Direction,
    client_session_id: Vec<u8>,
    /// Suricata's SSL_AL_FLAG_SESSION_RESUMED.
    resumed_flag: bool,
    /// Suricata's SSL_AL_FLAG_LOG_WITHOUT_CERT (TLS 1.3 or a draft).
    tls13: bool,
}

impl TlsParser {
    /// A parser for a new connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// What has been extracted so far.
    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// Feeds in-order stream bytes of one direction (`to_server`: sent by
    /// the client).
    pub fn feed(&mut self, to_server: bool, data: &[u8]) {
        let mut data = data;
        while !data.is_empty() {
            if self.dir(to_server).dead {
                break;
            }
            let n = match self.dir(to_server).state {
                RecordState::Header => self.header_bytes(to_server, data),
                RecordState::Body { kind, remaining } => {
                    let n = remaining.min(data.len());
                    if kind == BodyKind::Handshake {
                        self.handshake_bytes(to_server, &data[..n]);
                    }
                    let d = self.dir_mut(to_server);
                    let left = remaining - n;
                    d.state = if left == 0 {
                        RecordState::Header
                    } else {
                        RecordState::Body {
                            kind,
                            remaining: left,
                        }
                    };
                    n
                }
                RecordState::V2Body { remaining, keep } => {
                    let n = remaining.min(data.len());
                    let d = self.dir_mut(to_server);
                    if keep {
                        d.v2_buf.extend_from_slice(&data[..n]);
                    }
                    let left = remaining - n;
                    if left == 0 {
                        d.state = RecordState::Header;
                        if keep {
                            let body = std::mem::take(&mut d.v2_buf);
                            self.sslv2_record(to_server, &body);
                        }
                    } else {
                        d.state = RecordState::V2Body {
                            remaining: left,
                            keep,
                        };
                    }
                    n
                }
            };
            // `n` is at least 1 for non-empty input; guard anyway.
            data = data.get(n.max(1)..).unwrap_or(&[]);
        }
        self.refresh_session_resumed();
    }

    /// Protocol detection on the first bytes of a direction: a TLS handshake
    /// record (type 0x16, version major 3, ClientHello or ServerHello when the
    /// handshake type is present) or an SSLv2 ClientHello.
    pub fn looks_like_tls(data: &[u8]) -> bool {
        let Some(&b0) = data.first() else {
            return false;
        };
        if b0 == CT_HANDSHAKE {
            if data.len() < 3 || data[1] != 3 || data[2] > 4 {
                return false;
            }
            if data.len() >= 5 {
                let len = usize::from(u16::from_be_bytes([data[3], data[4]]));
                if len == 0 || len > MAX_RECORD_LEN {
                    return false;
                }
            }
            return match data.get(5) {
                Some(&t) => t == HS_CLIENT_HELLO || t == HS_SERVER_HELLO,
                None => true,
            };
        }
        // SSLv2 ClientHello with a two byte header.
        if b0 & 0x80 != 0 && data.len() >= 5 {
            let len = (usize::from(b0 & 0x7f) << 8) | usize::from(data[1]);
            let version_ok = matches!((data[3], data[4]), (0, 2) | (3, 0..=4));
            return len >= 9 && data[2] == 1 && version_ok;
        }
        false
    }

    fn dir(&self, to_server: bool) -> &Direction {
        if to_server { &self.ts } else { &self.tc }
    }

    fn dir_mut(&mut self, to_server: bool) -> &mut Direction {
        if to_server {
            &mut self.ts
        } else {
            &mut self.tc
        }
    }

    fn anomaly(&mut self, name: &'static str) {
        if self.info.anomalies.len() < MAX_ANOMALIES {
            self.info.anomalies.push(name);
        }
    }

    /// Records an anomaly and stops parsing the direction.
    fn fail(&mut self, to_server: bool, name: &'static str) {
        self.anomaly(name);
        let d = self.dir_mut(to_server);
        d.dead = true;
        d.hs_buf = Vec::new();
        d.v2_buf = Vec::new();
    }

    /// Consumes record header bytes; returns how many were used.
    fn header_bytes(&mut self, to_server: bool, data: &[u8]) -> usize {
        let d = self.dir_mut(to_server);
        if d.hdr_len == 0 {
            let Some(&b0) = data.first() else {
                return 0;
            };
            if (CT_CHANGE_CIPHER_SPEC..=CT_HEARTBEAT).contains(&b0) {
                d.hdr_need = 5;
            } else if b0 & 0x80 != 0 && (d.records == 0 || d.last_v2) {
                // SSLv2 two byte header: hellos, or any record after one.
                d.hdr_need = 2;
            } else if b0 & 0x40 != 0 && d.last_v2 {
                // SSLv2 three byte header (with padding), only mid-session.
                d.hdr_need = 3;
            } else {
                self.fail(to_server, anomaly::INVALID_RECORD_TYPE);
                return data.len();
            }
        }
        let d = self.dir_mut(to_server);
        let n = (d.hdr_need - d.hdr_len).min(data.len());
        d.hdr[d.hdr_len..d.hdr_len + n].copy_from_slice(&data[..n]);
        d.hdr_len += n;
        if d.hdr_len == d.hdr_need {
            d.hdr_len = 0;
            d.records = d.records.saturating_add(1);
            if d.hdr_need == 5 {
                self.start_record(to_server);
            } else {
                self.start_v2_record(to_server);
            }
        }
        n
    }

    /// A complete TLS record header is in `hdr`.
    fn start_record(&mut self, to_server: bool) {
        let d = self.dir_mut(to_server);
        d.last_v2 = false;
        let [ct, major, _minor, l0, l1] = d.hdr;
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        if major != 3 {
            self.fail(to_server, anomaly::INVALID_RECORD_VERSION);
            return;
        }
        if len > MAX_RECORD_LEN {
            self.fail(to_server, anomaly::RECORD_OVERFLOW);
            return;
        }
        let kind = match ct {
            CT_CHANGE_CIPHER_SPEC => {
                let d = self.dir_mut(to_server);
                d.hs_encrypted = true;
                d.hs_buf.clear();
                d.hs_skip = 0;
                if to_server {
                    self.info.client_ccs = true;
                } else {
                    self.info.server_ccs = true;
                }
                if self.info.client_ccs && self.info.server_ccs {
                    self.info.encrypted = true;
                }
                BodyKind::Skip
            }
            CT_APPLICATION_DATA => {
                let d = self.dir_mut(to_server);
                d.hs_encrypted = true;
                d.hs_buf.clear();
                d.hs_skip = 0;
                self.info.encrypted = true;
                BodyKind::Skip
            }
            CT_HANDSHAKE if !self.dir(to_server).hs_encrypted => {
                if len == 0 || len > MAX_PLAINTEXT_LEN {
                    self.anomaly(anomaly::INVALID_RECORD_LENGTH);
                }
                BodyKind::Handshake
            }
            CT_HANDSHAKE | CT_ALERT | CT_HEARTBEAT => BodyKind::Skip,
            _ => {
                // Unreachable: header_bytes only accepts 20..=24.
                self.fail(to_server, anomaly::INVALID_RECORD_TYPE);
                return;
            }
        };
        if len > 0 {
            self.dir_mut(to_server).state = RecordState::Body {
                kind,
                remaining: len,
            };
        }
    }

    /// A complete SSLv2 record header (2 or 3 bytes) is in `hdr`.
    fn start_v2_record(&mut self, to_server: bool) {
        let d = self.dir_mut(to_server);
        d.last_v2 = true;
        let len = if d.hdr_need == 2 {
            (usize::from(d.hdr[0] & 0x7f) << 8) | usize::from(d.hdr[1])
        } else {
            (usize::from(d.hdr[0] & 0x3f) << 8) | usize::from(d.hdr[1])
        };
        if len == 0 {
            self.fail(to_server, anomaly::INVALID_SSLV2_HEADER);
            return;
        }
        if len > MAX_RECORD_LEN {
            self.fail(to_server, anomaly::RECORD_OVERFLOW);
            return;
        }
        let keep = if to_server {
            !self.info.client_hello
        } else {
            !self.info.server_hello
        };
        let d = self.dir_mut(to_server);
        d.v2_buf.clear();
        d.state = RecordState::V2Body {
            remaining: len,
            keep,
        };
    }

    /// A complete SSLv2 record body (message type first).
    fn sslv2_record(&mut self, to_server: bool, body: &[u8]) {
        let mut r = Reader::new(body);
        match (to_server, r.u8()) {
            (true, Some(1)) => {
                // CLIENT-HELLO: version, cipher specs, session id, challenge.
                let parsed = (|| {
                    let version = r.u16()?;
                    let cs_len = usize::from(r.u16()?);
                    let sid_len = usize::from(r.u16()?);
                    let chal_len = usize::from(r.u16()?);
                    if cs_len % 3 != 0 {
                        return None;
                    }
                    r.take(cs_len)?;
                    r.take(sid_len)?;
                    r.take(chal_len)?;
                    Some(version)
                })();
                match parsed {
                    Some(version) => {
                        self.info.client_hello = true;
                        self.info.client_version = version;
                    }
                    None => self.anomaly(anomaly::INVALID_SSLV2_HEADER),
                }
            }
            (false, Some(4)) => {
                // SERVER-HELLO: session id hit, certificate type, version, ...
                let ok = r.take(2).is_some() && r.u16().is_some() && r.take(6).is_some();
                if ok {
                    self.info.server_hello = true;
                    self.info.version = Some(SSL_VERSION_2);
                } else {
                    self.anomaly(anomaly::INVALID_SSLV2_HEADER);
                }
            }
            _ => {}
        }
    }

    /// Plaintext handshake protocol bytes of one record (or part of one).
    fn handshake_bytes(&mut self, to_server: bool, mut data: &[u8]) {
        loop {
            let d = self.dir_mut(to_server);
            if d.dead || d.hs_encrypted {
                return;
            }
            if d.hs_skip > 0 {
                let n = d.hs_skip.min(data.len());
                d.hs_skip -= n;
                data = &data[n..];
                if data.is_empty() {
                    return;
                }
                continue;
            }
            if d.hs_buf.len() < 4 {
                if data.is_empty() {
                    return;
                }
                let n = (4 - d.hs_buf.len()).min(data.len());
                d.hs_buf.extend_from_slice(&data[..n]);
                data = &data[n..];
                if d.hs_buf.len() < 4 {
                    return;
                }
                let typ = d.hs_buf[0];
                let len = u24(&d.hs_buf[1..4]);
                let interesting = match typ {
                    HS_CLIENT_HELLO => to_server,
                    HS_SERVER_HELLO | HS_CERTIFICATE => !to_server,
                    _ => false,
                };
                if !interesting {
                    d.hs_buf.clear();
                    d.hs_skip = len;
                    if !known_handshake_type(typ) {
                        self.anomaly(anomaly::INVALID_HANDSHAKE_MESSAGE);
                    }
                    continue;
                }
                if len > MAX_HANDSHAKE_LEN {
                    self.fail(to_server, anomaly::HANDSHAKE_OVERFLOW);
                    return;
                }
                d.hs_buf.reserve_exact(len);
            }
            let d = self.dir_mut(to_server);
            let total = 4 + u24(&d.hs_buf[1..4]);
            let n = (total - d.hs_buf.len()).min(data.len());
            d.hs_buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if d.hs_buf.len() < total {
                return;
            }
            let msg = std::mem::take(&mut d.hs_buf);
            let typ = msg[0];
            self.handshake_message(to_server, typ, &msg[4..]);
        }
    }

    /// One complete, interesting handshake message.
    fn handshake_message(&mut self, to_server: bool, typ: u8, body: &[u8]) {
        match typ {
            HS_CLIENT_HELLO if !self.info.client_hello => self.client_hello(body),
            HS_SERVER_HELLO => self.server_hello(body),
            HS_CERTIFICATE if !to_server => self.certificate(body),
            _ => {}
        }
    }

    fn client_hello(&mut self, body: &[u8]) {
        let mut ch = ClientHello::default();
        let complete = parse_client_hello(body, &mut ch).is_some();
        for a in std::mem::take(&mut ch.anomalies) {
            self.anomaly(a);
        }
        if self.info.sni.is_none() {
            self.info.sni = ch.sni.take();
        }
        if !complete {
            self.anomaly(anomaly::HANDSHAKE_INVALID_LENGTH);
            return;
        }
        self.info.client_hello = true;
        self.info.client_version = ch.version;
        self.info.client_supported_versions = ch.supported_versions.clone().unwrap_or_default();
        self.client_session_id = ch.session_id.clone();
        if ch.session_ticket {
            self.resumed_flag = true;
        }
        let ja3 = format!(
            "{},{},{},{},{}",
            ch.version,
            join(&ch.ciphers),
            join(&ch.extensions),
            join(&ch.groups),
            join(&ch.point_formats)
        );
        self.info.ja3_hash = Some(md5_hex(&ja3));
        self.info.ja3_string = Some(ja3);
    }

    fn server_hello(&mut self, body: &[u8]) {
        let mut sh = ServerHello::default();
        if parse_server_hello(body, &mut sh).is_none() {
            self.anomaly(anomaly::HANDSHAKE_INVALID_LENGTH);
            return;
        }
        let first = !self.info.server_hello;
        self.info.server_hello = true;
        let legacy = match sh.version {
            0x0304 | 0x7f01..=0x7f0f => TLS_VERSION_13_PRE_DRAFT16,
            v => v,
        };
        if sh.version == 0x0304 || sh.version >> 8 == 0x7f {
            self.tls13 = true;
        }
        if let Some(v) = sh.selected_version
            && !self.info.client_supported_versions.is_empty()
            && v > 0x0303
        {
            self.tls13 = true;
        }
        let version = sh.selected_version.unwrap_or(legacy);
        self.info.version = Some(version);
        if first {
            let ja3s = format!(
                "{},{},{}",
                sh.version,
                join(&sh.cipher),
                join(&sh.extensions)
            );
            self.info.ja3s_hash = Some(md5_hex(&ja3s));
            self.info.ja3s_string = Some(ja3s);
        }
        if !sh.session_id.is_empty() && sh.session_id == self.client_session_id {
            self.resumed_flag = true;
        }
        if is_tls13(version) && !sh.hrr {
            // Everything the server sends after this is encrypted.
            let d = self.dir_mut(false);
            d.hs_encrypted = true;
            d.hs_buf.clear();
            d.hs_skip = 0;
        }
    }

    fn certificate(&mut self, body: &[u8]) {
        if self.info.certificates_done || self.info.version.is_some_and(is_tls13) {
            return;
        }
        self.info.certificates_done = true;
        let mut r = Reader::new(body);
        let Some(list) = r.u24().and_then(|l| r.take(l)) else {
            self.anomaly(anomaly::INVALID_CERTIFICATE);
            return;
        };
        let mut r = Reader::new(list);
        let mut certs = Vec::new();
        while !r.is_empty() {
            let Some(der) = r.u24().and_then(|l| r.take(l)) else {
                self.anomaly(anomaly::INVALID_CERTIFICATE);
                break;
            };
            if certs.len() == MAX_CERTIFICATES {
                self.anomaly(anomaly::TOO_MANY_CERTIFICATES);
                break;
            }
            certs.push(der.to_vec());
        }
        if let Some(leaf) = certs.first() {
            self.leaf_certificate(leaf.clone());
        }
        self.info.certificates = certs;
    }

    fn leaf_certificate(&mut self, der: Vec<u8>) {
        let cert = match X509Certificate::from_der(&der) {
            Ok(([], cert)) => cert,
            _ => {
                self.anomaly(anomaly::CERTIFICATE_PARSE_ERROR);
                return;
            }
        };
        self.info.subject = Some(cert.subject().to_string());
        self.info.issuer = Some(cert.issuer().to_string());
        self.info.serial = Some(hex_sep(cert.raw_serial(), true));
        let validity = cert.validity();
        self.info.not_before = Some(format_timestamp(validity.not_before.timestamp()));
        self.info.not_after = Some(format_timestamp(validity.not_after.timestamp()));
        self.info.fingerprint = Some(hex_sep(&Sha1::digest(&der), false));
    }

    fn refresh_session_resumed(&mut self) {
        self.info.session_resumed = self.resumed_flag
            && self.info.subject.is_none()
            && self.info.issuer.is_none()
            && self.info.server_hello
            && !self.tls13
            && self.info.version != Some(SSL_VERSION_2);
    }
}

/// Fields of a ClientHello.
#[derive(Debug, Default)]
struct ClientHello {
    version: u16,
    session_id: Vec<u8>,
    ciphers: Vec<u16>,
    extensions: Vec<u16>,
    groups: Vec<u16>,
    point_formats: Vec<u8>,
    sni: Option<Vec<u8>>,
    supported_versions: Option<Vec<u16>>,
    session_ticket: bool,
    anomalies: Vec<&'static str>,
}

/// Parses a ClientHello body; `None` if it is structurally broken (fields
/// read up to that point stay in `ch`).
fn parse_client_hello(body: &[u8], ch: &mut ClientHello) -> Option<()> {
    let mut r = Reader::new(body);
    ch.version = r.u16()?;
    r.take(32)?;
    let sid_len = usize::from(r.u8()?);
    ch.session_id = r.take(sid_len)?.to_vec();
    let cs_len = usize::from(r.u16()?);
    if cs_len % 2 != 0 {
        return None;
    }
    ch.ciphers = r
        .take(cs_len)?
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .filter(|&v| !is_grease(v))
        .collect();
    let comp_len = usize::from(r.u8()?);
    r.take(comp_len)?;
    if r.remaining() < 2 {
        // Extensions are optional.
        return Some(());
    }
    let ext_len = usize::from(r.u16()?);
    let mut exts = Reader::new(r.take(ext_len)?);
    while !exts.is_empty() {
        let typ = exts.u16()?;
        let len = usize::from(exts.u16()?);
        let data = exts.take(len)?;
        if !is_grease(typ) {
            ch.extensions.push(typ);
        }
        match typ {
            EXT_SERVER_NAME => parse_sni(data, ch),
            EXT_SUPPORTED_GROUPS => {
                let mut e = Reader::new(data);
                match e.u16().and_then(|l| e.take(usize::from(l))) {
                    Some(list) => ch.groups.extend(
                        list.chunks_exact(2)
                            .map(|c| u16::from_be_bytes([c[0], c[1]]))
                            .filter(|&v| !is_grease(v)),
                    ),
                    None if data.is_empty() => {}
                    None => ch.anomalies.push(anomaly::HANDSHAKE_INVALID_LENGTH),
                }
            }
            EXT_EC_POINT_FORMATS => {
                let mut e = Reader::new(data);
                match e.u8().and_then(|l| e.take(usize::from(l))) {
                    Some(list) => ch.point_formats.extend_from_slice(list),
                    None if data.is_empty() => {}
                    None => ch.anomalies.push(anomaly::HANDSHAKE_INVALID_LENGTH),
                }
            }
            EXT_SESSION_TICKET => ch.session_ticket = true,
            EXT_SUPPORTED_VERSIONS => {
                let mut e = Reader::new(data);
                match e.u8().and_then(|l| e.take(usize::from(l))) {
                    Some(list) if list.len() >= 2 => {
                        ch.supported_versions = Some(
                            list.chunks_exact(2)
                                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                                .filter(|&v| !is_grease(v))
                                .collect(),
                        );
                    }
                    None if data.is_empty() => {}
                    _ => ch.anomalies.push(anomaly::HANDSHAKE_INVALID_LENGTH),
                }
            }
            _ => {}
        }
    }
    Some(())
}

/// server_name extension (RFC 6066 section 3): the first host_name.
fn parse_sni(data: &[u8], ch: &mut ClientHello) {
    if data.is_empty() {
        return;
    }
    let mut r = Reader::new(data);
    if r.u16().is_none() {
        ch.anomalies.push(anomaly::HANDSHAKE_INVALID_LENGTH);
        return;
    }
    match r.u8() {
        Some(0) => {}
        Some(_) => {
            ch.anomalies.push(anomaly::INVALID_SNI_TYPE);
            return;
        }
        None => {
            ch.anomalies.push(anomaly::HANDSHAKE_INVALID_LENGTH);
            return;
        }
    }
    let name = r
        .u16()
        .and_then(|l| r.take(usize::from(l)))
        .filter(|n| !n.is_empty() && n.len() <= 255);
    match name {
        None => ch.anomalies.push(anomaly::INVALID_SNI_LENGTH),
        Some(_) if ch.sni.is_some() => ch.anomalies.push(anomaly::MULTIPLE_SNI_EXTENSIONS),
        Some(n) => ch.sni = Some(n.to_vec()),
    }
}

/// Fields of a ServerHello.
#[derive(Debug, Default)]
struct ServerHello {
    version: u16,
    hrr: bool,
    session_id: Vec<u8>,
    /// The cipher suite, empty if it is a GREASE value.
    cipher: Vec<u16>,
    extensions: Vec<u16>,
    selected_version: Option<u16>,
}

fn parse_server_hello(body: &[u8], sh: &mut ServerHello) -> Option<()> {
    let mut r = Reader::new(body);
    sh.version = r.u16()?;
    sh.hrr = r.take(32)? == HRR_RANDOM;
    // TLS 1.3 drafts before 22 had no session id and compression method.
    let draft = sh.version == 0x0304 || sh.version >> 8 == 0x7f;
    if !draft {
        let sid_len = usize::from(r.u8()?);
        sh.session_id = r.take(sid_len)?.to_vec();
    }
    let cipher = r.u16()?;
    if !is_grease(cipher) {
        sh.cipher.push(cipher);
    }
    if !draft {
        r.u8()?;
    }
    if r.remaining() < 2 {
        return Some(());
    }
    let ext_len = usize::from(r.u16()?);
    let mut exts = Reader::new(r.take(ext_len)?);
    while !exts.is_empty() {
        let typ = exts.u16()?;
        let len = usize::from(exts.u16()?);
        let data = exts.take(len)?;
        if !is_grease(typ) {
            sh.extensions.push(typ);
        }
        if typ == EXT_SUPPORTED_VERSIONS
            && let [a, b, ..] = *data
        {
            sh.selected_version = Some(u16::from_be_bytes([a, b]));
        }
    }
    Some(())
}

/// Bounds-checked big-endian reader over a byte slice.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    fn remaining(&self) -> usize {
        self.data.len()
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.data.len() {
            return None;
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u24(&mut self) -> Option<usize> {
        self.take(3).map(u24)
    }
}

/// Big-endian 24-bit length from the first three bytes (0 if shorter).
fn u24(b: &[u8]) -> usize {
    match b {
        [a, b, c, ..] => (usize::from(*a) << 16) | (usize::from(*b) << 8) | usize::from(*c),
        _ => 0,
    }
}

/// GREASE values (RFC 8701): 0x0a0a, 0x1a1a, ..., 0xfafa.
fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// Handshake types defined for TLS 1.0 to 1.3 (and their drafts).
fn known_handshake_type(t: u8) -> bool {
    matches!(
        t,
        0..=6 | 8 | 11..=16 | 20..=25 | 67 | 254
    )
}

/// TLS 1.3 or one of its drafts.
fn is_tls13(v: u16) -> bool {
    v == 0x0304 || v >> 8 == 0x7f || v >> 8 == 0xfb
}

fn join<T: std::fmt::Display>(values: &[T]) -> String {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        out.push_str(&v.to_string());
    }
    out
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// Hex bytes joined by `:`.
fn hex_sep(bytes: &[u8], upper: bool) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        if upper {
            out.push_str(&format!("{b:02X}"));
        } else {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

/// Unix time as `YYYY-MM-DDTHH:MM:SS` (UTC), the way Suricata logs
/// certificate validity.
fn format_timestamp(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Suricata's name for a TLS/SSL version number: `SSLv2`, `SSLv3`, `TLSv1`,
/// `TLS 1.1`, `TLS 1.2`, `TLS 1.3`, `TLS 1.3 draft-NN`, ..., `UNDETERMINED`
/// for 0, and `0x%04x` for anything else.
pub fn version_name(v: u16) -> String {
    let name = match v {
        0x0000 => "UNDETERMINED",
        0x0002 | SSL_VERSION_2 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        0x7f10..=0x7f1c => return format!("TLS 1.3 draft-{}", v & 0xff),
        TLS_VERSION_13_PRE_DRAFT16 => "TLS 1.3 draft-<16",
        0xfb14 | 0xfb15 | 0xfb16 | 0xfb17 | 0xfb1a => {
            return format!("TLS 1.3 draft-{}-fb", v & 0xff);
        }
        _ => return format!("0x{v:04x}"),
    };
    name.to_string()
}

/// Suricata 7's default (non-extended) EVE `tls` object: `subject`,
/// `issuerdn`, `session_resumed`, `serial`, `fingerprint`, `sni`,
/// `version`, `notbefore`, `notafter`, `ja3`, `ja3s`, each only when known.
pub fn eve(info: &TlsInfo) -> Value {
    let mut m = Map::new();
    put(&mut m, "subject", info.subject.clone());
    put(&mut m, "issuerdn", info.issuer.clone());
    if info.session_resumed {
        m.insert("session_resumed".to_string(), Value::Bool(true));
    }
    put(&mut m, "serial", info.serial.clone());
    put(&mut m, "fingerprint", info.fingerprint.clone());
    // Suricata keeps the SNI as a C string.
    let sni = info.sni.as_ref().map(|s| {
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        String::from_utf8_lossy(&s[..end]).into_owned()
    });
    put(&mut m, "sni", sni);
    put(&mut m, "version", info.version.map(version_name));
    // Suricata does not log a validity time of 0 (the epoch).
    let epoch = |t: &Option<String>| t.clone().filter(|t| t != "1970-01-01T00:00:00");
    put(&mut m, "notbefore", epoch(&info.not_before));
    put(&mut m, "notafter", epoch(&info.not_after));
    for (key, hash, string) in [
        ("ja3", &info.ja3_hash, &info.ja3_string),
        ("ja3s", &info.ja3s_hash, &info.ja3s_string),
    ] {
        if let (Some(h), Some(s)) = (hash, string) {
            let mut o = Map::new();
            o.insert("hash".to_string(), Value::String(h.clone()));
            o.insert("string".to_string(), Value::String(s.clone()));
            m.insert(key.to_string(), Value::Object(o));
        }
    }
    Value::Object(m)
}

fn put(m: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(v) = value {
        m.insert(key.to_string(), Value::String(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/tls/",
                $name,
                ".bin"
            ))
            .as_slice()
        };
    }

    /// (name, to-server stream, to-client stream)
    fn fixtures() -> Vec<(&'static str, &'static [u8], &'static [u8])> {
        vec![
            ("certs", fixture!("certs_ts"), fixture!("certs_tc")),
            ("frag", fixture!("frag_ts"), fixture!("frag_tc")),
            ("subject", fixture!("subject_ts"), fixture!("subject_tc")),
            ("resumed", fixture!("resumed_ts"), fixture!("resumed_tc")),
            (
                "tls13_hrr",
                fixture!("tls13_hrr_ts"),
                fixture!("tls13_hrr_tc"),
            ),
            ("github", fixture!("github_ts"), fixture!("github_tc")),
        ]
    }

    /// Tiny deterministic PRNG.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Feeds all of `ts` then all of `tc`, in chunks whose sizes come from
    /// `chunk` (0 means "the rest").
    fn run_with(ts: &[u8], tc: &[u8], mut chunk: impl FnMut() -> usize) -> TlsInfo {
        let mut p = TlsParser::new();
        for (to_server, data) in [(true, ts), (false, tc)] {
            let mut rest = data;
            while !rest.is_empty() {
                let n = match chunk() {
                    0 => rest.len(),
                    n => n.min(rest.len()),
                };
                p.feed(to_server, &rest[..n]);
                rest = &rest[n..];
            }
        }
        p.info().clone()
    }

    fn run(ts: &[u8], tc: &[u8]) -> TlsInfo {
        run_with(ts, tc, || 0)
    }

    fn run_bytewise(ts: &[u8], tc: &[u8]) -> TlsInfo {
        run_with(ts, tc, || 1)
    }

    fn server(data: &[u8]) -> TlsInfo {
        let mut p = TlsParser::new();
        p.feed(false, data);
        p.info().clone()
    }

    fn client(data: &[u8]) -> TlsInfo {
        let mut p = TlsParser::new();
        p.feed(true, data);
        p.info().clone()
    }

    fn record(ct: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![ct, 3, 3];
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn hs(typ: u8, body: &[u8]) -> Vec<u8> {
        let len = body.len() as u32;
        let mut v = vec![typ];
        v.extend_from_slice(&len.to_be_bytes()[1..]);
        v.extend_from_slice(body);
        v
    }

    fn u16_list(values: &[u16]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    fn ext(typ: u16, data: &[u8]) -> Vec<u8> {
        let mut v = typ.to_be_bytes().to_vec();
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    fn ext_sni(name: &[u8]) -> Vec<u8> {
        let mut entry = vec![0];
        entry.extend_from_slice(&(name.len() as u16).to_be_bytes());
        entry.extend_from_slice(name);
        let mut data = (entry.len() as u16).to_be_bytes().to_vec();
        data.extend_from_slice(&entry);
        ext(EXT_SERVER_NAME, &data)
    }

    fn ext_groups(groups: &[u16]) -> Vec<u8> {
        let list = u16_list(groups);
        let mut data = (list.len() as u16).to_be_bytes().to_vec();
        data.extend_from_slice(&list);
        ext(EXT_SUPPORTED_GROUPS, &data)
    }

    fn ext_point_formats(formats: &[u8]) -> Vec<u8> {
        let mut data = vec![formats.len() as u8];
        data.extend_from_slice(formats);
        ext(EXT_EC_POINT_FORMATS, &data)
    }

    fn ext_client_versions(versions: &[u16]) -> Vec<u8> {
        let list = u16_list(versions);
        let mut data = vec![list.len() as u8];
        data.extend_from_slice(&list);
        ext(EXT_SUPPORTED_VERSIONS, &data)
    }

    fn client_hello(ciphers: &[u16], exts: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[7; 32]);
        b.push(0);
        let cs = u16_list(ciphers);
        b.extend_from_slice(&(cs.len() as u16).to_be_bytes());
        b.extend_from_slice(&cs);
        b.extend_from_slice(&[1, 0]);
        let e: Vec<u8> = exts.concat();
        b.extend_from_slice(&(e.len() as u16).to_be_bytes());
        b.extend_from_slice(&e);
        hs(HS_CLIENT_HELLO, &b)
    }

    fn server_hello(random: [u8; 32], cipher: u16, exts: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&random);
        b.push(0);
        b.extend_from_slice(&cipher.to_be_bytes());
        b.push(0);
        let e: Vec<u8> = exts.concat();
        b.extend_from_slice(&(e.len() as u16).to_be_bytes());
        b.extend_from_slice(&e);
        hs(HS_SERVER_HELLO, &b)
    }

    fn certificate(certs: &[&[u8]]) -> Vec<u8> {
        let mut list = Vec::new();
        for c in certs {
            list.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
            list.extend_from_slice(c);
        }
        let mut b = (list.len() as u32).to_be_bytes()[1..].to_vec();
        b.extend_from_slice(&list);
        hs(HS_CERTIFICATE, &b)
    }

    /// The three DER certificates of the tls-certs-alert fixture.
    fn chain() -> Vec<Vec<u8>> {
        run(fixture!("certs_ts"), fixture!("certs_tc")).certificates
    }

    fn eve_of(ts: &[u8], tc: &[u8]) -> Value {
        eve(&run(ts, tc))
    }

    fn json(s: &str) -> Value {
        serde_json::from_str(s).expect("test json")
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    // Expected objects are the `tls` objects of tests/data/eve/suricata-7.0.10.jsonl
    // (real Suricata 7.0.10 output for the same pcaps).

    #[test]
    fn eve_matches_suricata_for_tls_certs_alert() {
        let expected = json(
            r#"{"subject":"C=US, ST=California, L=Los Angeles, O=Internet Corporation for Assigned Names and Numbers, OU=Technology, CN=www.example.org","issuerdn":"C=US, O=DigiCert Inc, CN=DigiCert SHA2 Secure Server CA","serial":"0F:D0:78:DD:48:F1:A2:BD:4D:0F:2B:A9:6B:60:38:FE","fingerprint":"7b:b6:98:38:69:70:36:3d:29:19:cc:57:72:84:69:84:ff:d4:a8:89","sni":"example.com","version":"TLS 1.2","notbefore":"2018-11-28T00:00:00","notafter":"2020-12-02T12:00:00","ja3":{"hash":"1fe4c7a3544eb27afec2adfb3a3dbf60","string":"771,49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,0-11-10-13172-16-22-23-13,29-23-25-24,0-1-2"},"ja3s":{"hash":"5d79edf64e03689ff559a54e9d9487bc","string":"771,49199,65281-0-11-16-23"}}"#,
        );
        let got = eve_of(fixture!("certs_ts"), fixture!("certs_tc"));
        assert_eq!(got, expected);
        // Same key order as Suricata.
        assert_eq!(got.to_string(), expected.to_string());
    }

    #[test]
    fn eve_matches_suricata_for_client_hello_frag() {
        let expected = json(
            r#"{"subject":"CN=www.google.com","issuerdn":"C=US, O=Google Trust Services LLC, CN=GTS CA 1C3","serial":"00:BB:2A:80:CC:14:FC:DD:BC:12:02:B2:A0:86:BD:1D:17","fingerprint":"27:2e:56:1b:56:00:b7:8d:84:07:c7:62:41:02:94:f3:9a:a0:c3:5e","sni":"www.google.com","version":"TLS 1.2","notbefore":"2022-07-18T08:25:34","notafter":"2022-10-10T08:25:33","ja3":{"hash":"a64c29923906f2a1be278be1da0714fa","string":"771,49200-49196-49192-49188-49172-49162-165-163-161-159-107-106-105-104-57-56-55-54-136-135-134-133-49202-49198-49194-49190-49167-49157-157-61-53-132-49199-49195-49191-49187-49171-49161-164-162-160-158-103-64-63-62-51-50-49-48-154-153-152-151-69-68-67-66-49201-49197-49193-49189-49166-49156-156-60-47-150-65-49170-49160-22-19-16-13-49165-49155-10-7-255,0-11-10-13-15-13172-16-21,23-25-24-22,0-1-2"},"ja3s":{"hash":"a27e76e64afe9199440ad714848966f8","string":"771,49195,65281-11-16"}}"#,
        );
        let got = eve_of(fixture!("frag_ts"), fixture!("frag_tc"));
        assert_eq!(got.to_string(), expected.to_string());
        // The MTU 300 capture: the rule `tls.sni; content:"google"` must match.
        let info = run_bytewise(fixture!("frag_ts"), fixture!("frag_tc"));
        assert!(contains(info.sni.as_deref().unwrap_or_default(), b"google"));
    }

    #[test]
    fn eve_matches_suricata_for_bug_7264() {
        let expected = json(
            r#"{"subject":"C=US, ST=California, L=San Francisco, O=GitHub, Inc., CN=www.github.com","issuerdn":"C=US, O=DigiCert Inc, OU=www.digicert.com, CN=DigiCert SHA2 High Assurance Server CA","serial":"08:3A:84:59:2F:77:F2:E7:95:1B:F8:87:CE:DE:C9:66","fingerprint":"cc:aa:48:48:66:46:0e:91:53:2c:9c:7c:23:2a:b1:74:4d:29:9d:33","sni":"raw.githubusercontent.com","version":"TLS 1.2","notbefore":"2017-03-23T00:00:00","notafter":"2020-05-13T12:00:00","ja3":{"hash":"316193effb467e51d0301cabd36b69e0","string":"771,49196-49200-49195-49199-52393-52392-163-159-162-158-52394-49327-49325-49188-49192-49162-49172-49315-49311-107-106-57-56-49326-49324-49187-49191-49161-49171-49314-49310-103-64-51-50-49267-49271-49266-49270-196-195-190-189-136-135-69-68-157-156-49313-49309-49312-49308-61-60-53-47-192-186-132-65-255,0-11-10-35-22-23-13-21,29-23-25-24,0-1-2"},"ja3s":{"hash":"098e26e2609212ac1bfac552fbe04127","string":"771,49199,65281-0-11-35-23"}}"#,
        );
        let got = eve_of(fixture!("github_ts"), fixture!("github_tc"));
        assert_eq!(got.to_string(), expected.to_string());
    }

    #[test]
    fn eve_matches_suricata_for_tls13_hello_retry() {
        let expected = json(
            r#"{"sni":"ftp.nluug.nl","version":"TLS 1.3","ja3":{"hash":"1ee96c96da0a44dc79c063f3d88105f5","string":"771,4866-4867-4865-4868-49196-49200-52393-52392-49325-49195-49199-49324-49187-49191-49162-49172-49161-49171-157-49309-156-49308-61-60-53-47-159-52394-49311-158-49310-107-103-57-51-255,0-11-10-16-22-23-49-13-43-45-51-27-21,29-23-30-25-24-256-257-258-259-260,0-1-2"},"ja3s":{"hash":"15af977ce25de452b96affa2addb1036","string":"771,4866,43-51"}}"#,
        );
        let info = run(fixture!("tls13_hrr_ts"), fixture!("tls13_hrr_tc"));
        assert_eq!(eve(&info).to_string(), expected.to_string());
        assert_eq!(info.version, Some(0x0304));
        assert_eq!(info.client_supported_versions, vec![0x0304, 0x0303]);
        assert!(!info.certificates_done);
        assert!(info.certificates.is_empty());
        assert!(info.encrypted);
        assert!(info.anomalies.is_empty(), "{:?}", info.anomalies);
    }

    #[test]
    fn eve_matches_suricata_for_resumed_session() {
        let expected = json(
            r#"{"session_resumed":true,"version":"TLS 1.2","ja3":{"hash":"17f35db704ac47c259abb89f8387bbae","string":"771,49195-49199-158-49162-49161-49171-49172-49159-49169-51-50-57-156-47-53-10-5-4,65281-10-11-35-13172-16-5-18-13-21,23-24-25,0"},"ja3s":{"hash":"fbe78c619e7ea20046131294ad087f05","string":"771,49199,65281"}}"#,
        );
        let info = run(fixture!("resumed_ts"), fixture!("resumed_tc"));
        assert_eq!(eve(&info).to_string(), expected.to_string());
        assert!(info.session_resumed);
        assert!(info.handshake_done());
        // A full handshake with a certificate is not a resumption.
        assert!(!run(fixture!("certs_ts"), fixture!("certs_tc")).session_resumed);
    }

    #[test]
    fn tls_subject_fixture() {
        let info = run(fixture!("subject_ts"), fixture!("subject_tc"));
        let selks = "C=FR, ST=IDF, L=Paris, O=Stamus, CN=SELKS";
        assert_eq!(info.subject.as_deref(), Some(selks));
        assert_eq!(info.issuer.as_deref(), Some(selks));
        assert_eq!(info.serial.as_deref(), Some("00:97:E6:47:09:8E:EA:C9:B4"));
        assert_eq!(info.not_before.as_deref(), Some("2015-02-12T18:07:27"));
        assert_eq!(info.certificates.len(), 1);
        assert!(info.certificates_done && info.client_ccs && info.server_ccs);
        assert!(info.encrypted);
        assert!(info.handshake_done());
        assert!(info.anomalies.is_empty(), "{:?}", info.anomalies);
    }

    #[test]
    fn certificate_chain_in_order() {
        let certs = chain();
        assert_eq!(certs.len(), 3);
        // The tls-certs-alert rules: one pattern per certificate, in order.
        let patterns: [&[u8]; 3] = [
            b"\x30\x16\x06\x03\x55\x04\x03\x13\x0f",
            b"\x30\x25\x06\x03\x55\x04\x03\x13\x1e",
            b"\x30\x1e\x06\x03\x55\x04\x03\x13\x17",
        ];
        // Pattern i is the subject CN of certificate i (it may also be the
        // issuer of certificate i - 1, never anything later in the chain).
        for (i, pat) in patterns.iter().enumerate() {
            for (j, cert) in certs.iter().enumerate() {
                let expect = j == i || (j + 1 == i && contains(cert, pat));
                assert_eq!(contains(cert, pat), expect, "pattern {i} cert {j}");
            }
            assert_eq!(certs[i].first(), Some(&0x30));
        }
        assert!(!contains(&certs[0], patterns[2]));
    }

    #[test]
    fn chunking_does_not_change_results() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for (name, ts, tc) in fixtures() {
            let whole = run(ts, tc);
            assert!(whole.client_hello && whole.server_hello, "{name}");
            assert_eq!(run_bytewise(ts, tc), whole, "{name} byte at a time");
            for _ in 0..4 {
                let got = run_with(ts, tc, || 1 + rng.below(700));
                assert_eq!(got, whole, "{name} random chunks");
            }
        }
    }

    #[test]
    fn interleaved_directions_give_same_result() {
        // Feed record by record, alternating directions like a real flow
        // would (client first); the result matches feeding each side whole.
        for (name, ts, tc) in fixtures() {
            let mut p = TlsParser::new();
            let (mut a, mut b) = (ts, tc);
            while !a.is_empty() || !b.is_empty() {
                let n = a.len().min(97);
                p.feed(true, &a[..n]);
                a = &a[n..];
                let n = b.len().min(61);
                p.feed(false, &b[..n]);
                b = &b[n..];
            }
            assert_eq!(eve(p.info()), eve_of(ts, tc), "{name}");
        }
    }

    #[test]
    fn client_hello_fragmented_over_tiny_records() {
        let msg = client_hello(
            &[0x1301, 0x1302],
            &[
                ext_sni(b"www.google.com"),
                ext_groups(&[29, 23]),
                ext_point_formats(&[0]),
            ],
        );
        // Whole message in one record.
        let one = client(&record(CT_HANDSHAKE, &msg));
        // The same message cut into records of 1, 2, 3, 5 and 7 bytes: even
        // the 4-byte handshake header is split across records.
        let sizes = [1, 2, 3, 5, 7];
        let mut stream = Vec::new();
        let mut rest = msg.as_slice();
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            stream.extend_from_slice(&record(CT_HANDSHAKE, &rest[..n]));
            rest = &rest[n..];
            i += 1;
        }
        assert!(i > 20);
        let many = client(&stream);
        assert_eq!(many, one);
        assert!(many.client_hello);
        assert_eq!(many.sni.as_deref(), Some(b"www.google.com".as_slice()));
        assert_eq!(
            many.ja3_string.as_deref(),
            Some("771,4865-4866,0-10-11,29-23,0")
        );
        assert_eq!(
            many.ja3_hash.as_deref(),
            Some("38eaca597c62da4c9db8cfad482f14ad")
        );
        assert!(many.anomalies.is_empty(), "{:?}", many.anomalies);
        let mut p = TlsParser::new();
        for b in &stream {
            p.feed(true, std::slice::from_ref(b));
        }
        assert_eq!(p.info(), &one);
    }

    #[test]
    fn grease_is_left_out_of_ja3() {
        let msg = client_hello(
            &[0x0a0a, 0x1301],
            &[
                ext(0x1a1a, &[]),
                ext_sni(b"a.example"),
                ext_groups(&[0x2a2a, 29]),
                ext_client_versions(&[0x3a3a, 0x0304, 0x0303]),
            ],
        );
        let info = client(&record(CT_HANDSHAKE, &msg));
        assert_eq!(info.ja3_string.as_deref(), Some("771,4865,0-10-43,29,"));
        assert_eq!(
            info.ja3_hash.as_deref(),
            Some("3e8929c642fd827a9e94d3a73594908f")
        );
        assert_eq!(info.client_supported_versions, vec![0x0304, 0x0303]);
        assert!(is_grease(0xfafa) && is_grease(0x0a0a));
        assert!(!is_grease(0x0a0b) && !is_grease(0x1a2a) && !is_grease(0x0303));
    }

    #[test]
    fn server_flight_in_one_record() {
        let certs = chain();
        let refs: Vec<&[u8]> = certs.iter().map(Vec::as_slice).collect();
        let mut flight = server_hello([1; 32], 0xc02f, &[ext(0xff01, &[0])]);
        flight.extend_from_slice(&certificate(&refs));
        flight.extend_from_slice(&hs(14, &[]));
        // Several records in one segment: the flight, CCS, a Finished.
        let mut seg = record(CT_HANDSHAKE, &flight);
        seg.extend_from_slice(&record(CT_CHANGE_CIPHER_SPEC, &[1]));
        seg.extend_from_slice(&record(CT_HANDSHAKE, &[0x55; 40]));
        let info = server(&seg);
        assert!(info.server_hello);
        assert_eq!(info.version, Some(0x0303));
        assert_eq!(info.ja3s_string.as_deref(), Some("771,49199,65281"));
        assert_eq!(info.certificates, certs);
        assert!(info.certificates_done);
        assert!(
            info.subject
                .as_deref()
                .is_some_and(|s| s.ends_with("CN=www.example.org"))
        );
        assert!(info.server_ccs && !info.client_ccs && !info.encrypted);
        // The encrypted Finished after CCS was not parsed as a handshake.
        assert!(info.anomalies.is_empty(), "{:?}", info.anomalies);
        assert!(!info.handshake_done() || info.subject.is_some());
    }

    #[test]
    fn tls13_server_hello_stops_handshake_parsing() {
        let certs = chain();
        let mut first = server_hello([2; 32], 0x1301, &[ext(EXT_SUPPORTED_VERSIONS, &[3, 4])]);
        // Anything after the ServerHello is not looked at.
        first.extend_from_slice(&hs(0x63, &[0; 8]));
        let mut seg = record(CT_HANDSHAKE, &first);
        seg.extend_from_slice(&record(CT_CHANGE_CIPHER_SPEC, &[1]));
        seg.extend_from_slice(&record(CT_HANDSHAKE, &certificate(&[&certs[0]])));
        seg.extend_from_slice(&record(CT_APPLICATION_DATA, &[0xaa; 100]));
        let info = server(&seg);
        assert_eq!(info.version, Some(0x0304));
        assert_eq!(eve(&info)["version"], "TLS 1.3");
        assert_eq!(info.ja3s_string.as_deref(), Some("771,4865,43"));
        assert!(!info.certificates_done);
        assert!(info.certificates.is_empty() && info.subject.is_none());
        assert!(info.encrypted);
        assert!(info.anomalies.is_empty(), "{:?}", info.anomalies);
    }

    #[test]
    fn tls13_without_ccs_goes_encrypted_on_server_hello() {
        let certs = chain();
        let mut seg = record(
            CT_HANDSHAKE,
            &server_hello([2; 32], 0x1302, &[ext(EXT_SUPPORTED_VERSIONS, &[3, 4])]),
        );
        seg.extend_from_slice(&record(CT_HANDSHAKE, &certificate(&[&certs[0]])));
        let info = server(&seg);
        assert!(info.server_hello && !info.certificates_done);
        assert!(!info.encrypted);
    }

    #[test]
    fn hello_retry_request_keeps_parsing_and_first_ja3s_wins() {
        let sv = ext(EXT_SUPPORTED_VERSIONS, &[3, 4]);
        let hrr = server_hello(HRR_RANDOM, 0x1301, &[sv.clone(), ext(44, &[0, 2, 1, 2])]);
        let sh = server_hello([3; 32], 0x1301, &[sv, ext(51, &[0, 29, 0, 0])]);
        let mut seg = record(CT_HANDSHAKE, &hrr);
        seg.extend_from_slice(&record(CT_HANDSHAKE, &sh));
        seg.extend_from_slice(&record(CT_HANDSHAKE, &hs(0x63, &[])));
        let info = server(&seg);
        assert_eq!(info.ja3s_string.as_deref(), Some("771,4865,43-44"));
        assert_eq!(info.version, Some(0x0304));
        // The bogus message after the real ServerHello was not parsed, the
        // one after the HRR would have been.
        assert!(info.anomalies.is_empty(), "{:?}", info.anomalies);
        let mut seg = record(CT_HANDSHAKE, &hrr);
        seg.extend_from_slice(&record(CT_HANDSHAKE, &hs(0x63, &[])));
        assert_eq!(
            server(&seg).anomalies,
            vec![anomaly::INVALID_HANDSHAKE_MESSAGE]
        );
    }

    fn sslv2_client_hello(version: [u8; 2]) -> Vec<u8> {
        let ciphers = [0x01, 0x00, 0x80, 0x07, 0x00, 0xc0, 0x00, 0x00, 0x2f];
        let challenge = [0x42u8; 16];
        let mut body = vec![1, version[0], version[1], 0, ciphers.len() as u8, 0, 0, 0];
        body.push(challenge.len() as u8);
        body.extend_from_slice(&ciphers);
        body.extend_from_slice(&challenge);
        let mut v = vec![0x80 | (body.len() >> 8) as u8, body.len() as u8];
        v.extend_from_slice(&body);
        v
    }

    #[test]
    fn sslv2_compatible_client_hello() {
        let hello = sslv2_client_hello([3, 1]);
        assert!(TlsParser::looks_like_tls(&hello));
        let mut stream = hello.clone();
        // The client goes on with TLS records (ClientKeyExchange).
        stream.extend_from_slice(&record(CT_HANDSHAKE, &hs(16, &[0; 20])));
        let info = client(&stream);
        assert!(info.client_hello);
        assert_eq!(info.client_version, 0x0301);
        assert_eq!(info.sni, None);
        assert_eq!(info.ja3_string, None);
        assert!(info.anomalies.is_empty(), "{:?}", info.anomalies);
        assert_eq!(run_bytewise(&stream, &[]), info);

        let v2 = client(&sslv2_client_hello([0, 2]));
        assert!(v2.client_hello);
        assert_eq!(v2.client_version, 0x0002);
        assert_eq!(version_name(v2.client_version), "SSLv2");
    }

    #[test]
    fn sslv2_server_hello() {
        // SERVER-HELLO: hit, cert type, version 0x0002, lengths 0.
        let body = [4u8, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0];
        let mut v = vec![0x80, body.len() as u8];
        v.extend_from_slice(&body);
        let info = server(&v);
        assert!(info.server_hello);
        assert_eq!(info.version, Some(0x0200));
        assert_eq!(eve(&info)["version"], "SSLv2");
        assert!(!info.session_resumed);
    }

    #[test]
    fn not_tls_is_an_invalid_record_type_and_stops() {
        let mut p = TlsParser::new();
        p.feed(true, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let hello = record(CT_HANDSHAKE, &client_hello(&[0x1301], &[ext_sni(b"x.y")]));
        p.feed(true, &hello);
        assert_eq!(p.info().anomalies, vec![anomaly::INVALID_RECORD_TYPE]);
        assert!(!p.info().client_hello);
        assert_eq!(p.info().sni, None);
        // The other direction is still parsed.
        p.feed(false, &record(CT_CHANGE_CIPHER_SPEC, &[1]));
        assert!(p.info().server_ccs);
    }

    #[test]
    fn oversized_record_is_an_overflow() {
        let mut data = vec![CT_APPLICATION_DATA, 3, 3, 0xff, 0xff];
        data.extend_from_slice(&[0; 100]);
        let mut p = TlsParser::new();
        p.feed(false, &data);
        p.feed(false, &record(CT_CHANGE_CIPHER_SPEC, &[1]));
        assert_eq!(p.info().anomalies, vec![anomaly::RECORD_OVERFLOW]);
        assert!(!p.info().server_ccs);
        // 16384 + 2048 is still fine.
        let mut ok = vec![CT_APPLICATION_DATA, 3, 3, 0x48, 0x00];
        ok.extend_from_slice(&[0; 18432]);
        ok.extend_from_slice(&record(CT_CHANGE_CIPHER_SPEC, &[1]));
        let info = server(&ok);
        assert!(info.anomalies.is_empty() && info.server_ccs && info.encrypted);
    }

    #[test]
    fn bad_record_version_stops() {
        let info = server(&[CT_HANDSHAKE, 5, 1, 0, 4, 2, 0, 0, 0]);
        assert_eq!(info.anomalies, vec![anomaly::INVALID_RECORD_VERSION]);
        assert!(!info.server_hello);
    }

    #[test]
    fn huge_handshake_message_is_an_overflow() {
        let mut msg = vec![HS_CERTIFICATE, 0x01, 0x00, 0x01];
        msg.extend_from_slice(&[0; 1000]);
        let mut p = TlsParser::new();
        p.feed(false, &record(CT_HANDSHAKE, &msg));
        p.feed(false, &record(CT_CHANGE_CIPHER_SPEC, &[1]));
        assert_eq!(p.info().anomalies, vec![anomaly::HANDSHAKE_OVERFLOW]);
        assert!(!p.info().server_ccs && !p.info().certificates_done);
    }

    #[test]
    fn large_certificate_message_over_several_records() {
        // A 40 KiB Certificate message (leaf + padding certificate) split
        // into 16 KiB records is reassembled.
        let certs = chain();
        let filler = vec![0x30; 40_000];
        let msg = certificate(&[&certs[0], &filler]);
        let mut stream = record(CT_HANDSHAKE, &server_hello([1; 32], 0x2f, &[]));
        for part in msg.chunks(16384) {
            stream.extend_from_slice(&record(CT_HANDSHAKE, part));
        }
        let info = server(&stream);
        assert!(info.certificates_done);
        assert_eq!(info.certificates.len(), 2);
        assert_eq!(info.certificates[1].len(), 40_000);
        assert!(info.subject.is_some());
        assert!(info.anomalies.is_empty(), "{:?}", info.anomalies);
        assert_eq!(info.ja3s_string.as_deref(), Some("771,47,"));
    }

    #[test]
    fn unknown_handshake_type_is_skipped() {
        let mut body = hs(0x63, &[9; 10]);
        body.extend_from_slice(&server_hello([1; 32], 0xc02f, &[]));
        let info = server(&record(CT_HANDSHAKE, &body));
        assert_eq!(info.anomalies, vec![anomaly::INVALID_HANDSHAKE_MESSAGE]);
        assert!(info.server_hello);
    }

    #[test]
    fn unparsable_certificate_is_kept() {
        let certs = chain();
        let junk: &[u8] = &[0x30, 0x03, 0x02, 0x01, 0x01];
        let info = server(&record(CT_HANDSHAKE, &certificate(&[junk, &certs[1]])));
        assert!(info.certificates_done);
        assert_eq!(info.certificates, vec![junk.to_vec(), certs[1].clone()]);
        assert_eq!(info.subject, None);
        assert_eq!(info.fingerprint, None);
        assert_eq!(info.anomalies, vec![anomaly::CERTIFICATE_PARSE_ERROR]);
        // Trailing bytes after the DER also count as a parse error.
        let mut padded = certs[0].clone();
        padded.push(0);
        let info = server(&record(CT_HANDSHAKE, &certificate(&[&padded])));
        assert_eq!(info.anomalies, vec![anomaly::CERTIFICATE_PARSE_ERROR]);
        // Inconsistent lengths inside the message.
        let mut bad = certificate(&[&certs[0]]);
        bad[6] = 0xff;
        let info = server(&record(CT_HANDSHAKE, &bad));
        assert_eq!(info.anomalies, vec![anomaly::INVALID_CERTIFICATE]);
        assert!(info.certificates.is_empty());
    }

    #[test]
    fn client_certificate_is_ignored() {
        let certs = chain();
        let info = client(&record(CT_HANDSHAKE, &certificate(&[&certs[0]])));
        assert!(!info.certificates_done && info.certificates.is_empty());
    }

    #[test]
    fn sni_anomalies() {
        // Name type 1 instead of host_name.
        let bad_type = ext(EXT_SERVER_NAME, &[0, 4, 1, 0, 1, b'x']);
        let info = client(&record(CT_HANDSHAKE, &client_hello(&[0x2f], &[bad_type])));
        assert_eq!(info.anomalies, vec![anomaly::INVALID_SNI_TYPE]);
        assert_eq!(info.sni, None);
        assert!(info.client_hello);
        // Empty name.
        let empty = ext(EXT_SERVER_NAME, &[0, 3, 0, 0, 0]);
        let info = client(&record(CT_HANDSHAKE, &client_hello(&[0x2f], &[empty])));
        assert_eq!(info.anomalies, vec![anomaly::INVALID_SNI_LENGTH]);
        // Two server_name extensions: the first one is kept.
        let two = [ext_sni(b"first.example"), ext_sni(b"second.example")];
        let info = client(&record(CT_HANDSHAKE, &client_hello(&[0x2f], &two)));
        assert_eq!(info.anomalies, vec![anomaly::MULTIPLE_SNI_EXTENSIONS]);
        assert_eq!(info.sni.as_deref(), Some(b"first.example".as_slice()));
        assert_eq!(info.ja3_string.as_deref(), Some("771,47,0-0,,"));
    }

    #[test]
    fn truncated_client_hello() {
        // A stray byte after the last extension.
        let msg = client_hello(
            &[0x2f],
            &[ext_sni(b"abc.example"), ext_groups(&[29]), vec![0]],
        );
        let info = client(&record(CT_HANDSHAKE, &msg));
        assert!(!info.client_hello);
        assert_eq!(info.ja3_string, None);
        assert_eq!(info.anomalies, vec![anomaly::HANDSHAKE_INVALID_LENGTH]);
        // The SNI read before the damage is still reported.
        assert_eq!(info.sni.as_deref(), Some(b"abc.example".as_slice()));
    }

    #[test]
    fn client_hello_without_extensions() {
        let mut b = vec![3, 1];
        b.extend_from_slice(&[0; 32]);
        b.extend_from_slice(&[0, 0, 4, 0, 0x2f, 0, 0x35, 1, 0]);
        let info = client(&record(CT_HANDSHAKE, &hs(HS_CLIENT_HELLO, &b)));
        assert!(info.client_hello);
        assert_eq!(info.ja3_string.as_deref(), Some("769,47-53,,,"));
        assert_eq!(
            info.ja3_hash.as_deref(),
            Some("dac4920d4335e769327dbf4e1b759e15")
        );
    }

    #[test]
    fn anomalies_are_bounded() {
        let mut body = Vec::new();
        for _ in 0..500 {
            body.extend_from_slice(&hs(0x63, &[]));
        }
        let info = server(&record(CT_HANDSHAKE, &body));
        assert_eq!(info.anomalies.len(), MAX_ANOMALIES);
    }

    #[test]
    fn ccs_and_encrypted_flags() {
        let mut p = TlsParser::new();
        p.feed(true, &record(CT_CHANGE_CIPHER_SPEC, &[1]));
        assert!(p.info().client_ccs && !p.info().encrypted);
        // A handshake record after the client's CCS is encrypted.
        p.feed(true, &record(CT_HANDSHAKE, &client_hello(&[0x2f], &[])));
        assert!(!p.info().client_hello);
        p.feed(false, &record(CT_CHANGE_CIPHER_SPEC, &[1]));
        assert!(p.info().server_ccs && p.info().encrypted);
        assert!(p.info().handshake_done());

        let info = client(&record(CT_APPLICATION_DATA, &[1, 2, 3]));
        assert!(info.encrypted && !info.client_ccs);
        let info = client(&record(CT_ALERT, &[2, 40]));
        assert!(!info.encrypted && info.anomalies.is_empty());
    }

    #[test]
    fn random_garbage_never_panics_and_is_chunking_invariant() {
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        for i in 0..300 {
            let len = rng.below(3000);
            let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            // Make most inputs start like TLS so that deeper states are hit.
            if i % 3 != 0 && data.len() > 6 {
                data[0] = 20 + (i % 5) as u8;
                data[1] = 3;
                data[3] &= 0x0f;
                if i % 2 == 0 {
                    data[0] = CT_HANDSHAKE;
                    data[5] = [1, 2, 11, 14][i % 4];
                }
            }
            let whole = run(&data, &data);
            assert!(whole.anomalies.len() <= MAX_ANOMALIES);
            let chunked = run_with(&data, &data, || 1 + rng.below(40));
            assert_eq!(chunked, whole, "input {i}");
            let _ = eve(&whole);
            let _ = TlsParser::looks_like_tls(&data);
        }
    }

    #[test]
    fn mutated_fixtures_are_chunking_invariant() {
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
        for (name, ts, tc) in fixtures() {
            for round in 0..12 {
                let mut ts = ts.to_vec();
                let mut tc = tc.to_vec();
                for _ in 0..1 + rng.below(6) {
                    let v = if rng.below(2) == 0 { &mut ts } else { &mut tc };
                    let at = rng.below(v.len());
                    if let Some(b) = v.get_mut(at) {
                        *b = rng.next() as u8;
                    }
                }
                if round % 4 == 0 {
                    let cut = rng.below(tc.len());
                    tc.truncate(cut);
                }
                let whole = run(&ts, &tc);
                assert_eq!(run_bytewise(&ts, &tc), whole, "{name} round {round}");
                let chunked = run_with(&ts, &tc, || 1 + rng.below(300));
                assert_eq!(chunked, whole, "{name} round {round}");
            }
        }
    }

    #[test]
    fn version_names() {
        let cases = [
            (0x0000, "UNDETERMINED"),
            (0x0002, "SSLv2"),
            (0x0200, "SSLv2"),
            (0x0300, "SSLv3"),
            (0x0301, "TLSv1"),
            (0x0302, "TLS 1.1"),
            (0x0303, "TLS 1.2"),
            (0x0304, "TLS 1.3"),
            (0x7f1c, "TLS 1.3 draft-28"),
            (0x7f10, "TLS 1.3 draft-16"),
            (0x7f01, "TLS 1.3 draft-<16"),
            (0xfb1a, "TLS 1.3 draft-26-fb"),
            (0xfb14, "TLS 1.3 draft-20-fb"),
            (0x0305, "0x0305"),
            (0xabcd, "0xabcd"),
            (0x7f05, "0x7f05"),
        ];
        for (v, name) in cases {
            assert_eq!(version_name(v), name, "{v:#06x}");
        }
    }

    #[test]
    fn early_tls13_draft_server_hello() {
        // Draft ServerHello: version 0x7f12, no session id or compression.
        let mut b = vec![0x7f, 0x12];
        b.extend_from_slice(&[5; 32]);
        b.extend_from_slice(&[0x13, 0x01, 0, 0]);
        let info = server(&record(CT_HANDSHAKE, &hs(HS_SERVER_HELLO, &b)));
        assert!(info.server_hello);
        assert_eq!(
            info.version.map(version_name).as_deref(),
            Some("TLS 1.3 draft-18")
        );
        assert_eq!(info.ja3s_string.as_deref(), Some("32530,4865,"));
    }

    #[test]
    fn protocol_detection() {
        for (name, ts, tc) in fixtures() {
            assert!(TlsParser::looks_like_tls(ts), "{name} ts");
            assert!(TlsParser::looks_like_tls(tc), "{name} tc");
            assert!(TlsParser::looks_like_tls(&ts[..3]), "{name} short");
        }
        let negatives: [&[u8]; 8] = [
            b"",
            &[0x16],
            &[0x16, 0x03],
            b"GET / HTTP/1.1\r\n",
            b"SSH-2.0-OpenSSH_9.6\r\n",
            &[0x16, 0x03, 0x01, 0x00, 0x05, 0x0b],
            &[0x17, 0x03, 0x03, 0x00, 0x20, 0x01],
            &[0x16, 0x03, 0x01, 0x00, 0x00],
        ];
        for n in negatives {
            assert!(!TlsParser::looks_like_tls(n), "{n:?}");
        }
        // SSLv2 with an unknown version or message type.
        let mut v2 = sslv2_client_hello([3, 1]);
        v2[3] = 9;
        assert!(!TlsParser::looks_like_tls(&v2));
    }

    #[test]
    fn eve_key_order_and_omission() {
        assert_eq!(eve(&TlsInfo::default()), json("{}"));
        let info = TlsInfo {
            subject: Some("CN=s".into()),
            issuer: Some("CN=i".into()),
            session_resumed: true,
            serial: Some("01".into()),
            fingerprint: Some("aa".into()),
            sni: Some(b"host\0tail".to_vec()),
            version: Some(0x0302),
            not_before: Some("1970-01-01T00:00:00".into()),
            not_after: Some("2030-01-01T00:00:00".into()),
            ja3_string: Some("j".into()),
            ja3_hash: Some("h".into()),
            ja3s_string: Some("js".into()),
            ja3s_hash: Some("hs".into()),
            ..TlsInfo::default()
        };
        let v = eve(&info);
        let keys: Vec<&str> = v
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            [
                "subject",
                "issuerdn",
                "session_resumed",
                "serial",
                "fingerprint",
                "sni",
                "version",
                "notafter",
                "ja3",
                "ja3s"
            ]
        );
        assert_eq!(v["sni"], "host");
        assert_eq!(v["version"], "TLS 1.1");
        assert_eq!(v["ja3s"], json(r#"{"hash":"hs","string":"js"}"#));
    }

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00");
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59");
        assert_eq!(format_timestamp(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(format_timestamp(1_479_686_400), "2016-11-21T00:00:00");
        assert_eq!(format_timestamp(253_402_300_799), "9999-12-31T23:59:59");
        assert_eq!(format_timestamp(-2_208_988_800), "1900-01-01T00:00:00");
    }

    #[test]
    fn empty_and_dead_input() {
        let mut p = TlsParser::new();
        p.feed(true, &[]);
        p.feed(false, &[]);
        assert_eq!(p.info(), &TlsInfo::default());
        // A zero-length application data record is fine.
        p.feed(true, &[CT_APPLICATION_DATA, 3, 3, 0, 0]);
        assert!(p.info().encrypted && p.info().anomalies.is_empty());
        // An empty handshake record is an anomaly but not fatal.
        let info = server(
            &[
                [CT_HANDSHAKE, 3, 3, 0, 0].as_slice(),
                &record(CT_HANDSHAKE, &server_hello([1; 32], 0x2f, &[])),
            ]
            .concat(),
        );
        assert_eq!(info.anomalies, vec![anomaly::INVALID_RECORD_LENGTH]);
        assert!(info.server_hello);
    }
}
