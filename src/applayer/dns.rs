//! DNS: a message parser (UDP payloads and DNS-over-TCP framing) and the
//! Suricata 7 EVE `dns` objects built from it.
//!
//! Why this module exists: rules match on DNS fields (`dns.query`, …) and
//! canhgac's EVE output has to look like Suricata 7's, so downstream tools
//! that read Suricata logs keep working. The parser therefore follows what
//! Suricata 7 accepts (forward compression pointers, names that end where
//! the data ends, trailing bytes ignored) while keeping more than Suricata
//! logs (MX preference, additionals) for detection.
//!
//! Safety on hostile input: every read is bounds-checked, a name takes at
//! most [`MAX_NAME_STEPS`] labels plus compression pointers (so pointer loops
//! end) and never grows past [`MAX_NAME_LEN`] bytes, at most
//! [`MAX_RECORDS_PER_SECTION`] records are kept per section, and the TCP
//! framer never buffers more than one frame. Nothing here panics or loops
//! without bound on any input.
//!
//! A message that ends early (or is malformed past its header) still yields a
//! [`DnsMessage`]: the header and every record parsed before the problem are
//! kept and [`DnsMessage::truncated_parse`] is set. Suricata 7 itself drops
//! such messages (it raises `dns.malformed_data` and logs no transaction);
//! [`DnsMessage::suricata_accepts`] tells a caller which messages Suricata
//! would have kept, for exact parity.
//!
//! EVE rendering follows Suricata 7.0's `rust/src/dns/log.rs` with the
//! default `eve-log.dns` settings (version 2, formats detailed + grouped, all
//! record types), including its quirks:
//! - names are printed as their wire bytes when those are valid UTF-8 and
//!   otherwise byte by byte, bytes ≥ 0x80 as the four characters `\xHH`;
//! - AAAA data is printed in full (`2001:0db8:0000:…`), not compressed;
//! - MX data is only the exchange name; a TXT record with several strings
//!   becomes one answer per string; SOA, SRV and SSHFP become objects; other
//!   types get no data field; records with empty RDATA are not logged;
//! - record type names are Suricata's table, typos included (`NSAPPT`,
//!   `CDSNKEY`, `ND`), and any other type is printed as its number;
//! - the `dns` object of an alert on a response holds the answer header and
//!   authorities but not the answers (Suricata 7's alert flags leave out both
//!   answer formats).
//!
//! The additionals section is parsed but, as in Suricata 7, never logged.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

/// Length of the fixed DNS header.
pub const HEADER_LEN: usize = 12;
/// Largest DNS message: the TCP length prefix is 16 bits.
pub const MAX_MESSAGE_LEN: usize = 65535;
/// Longest decoded (dotted) name kept; a longer name is malformed.
pub const MAX_NAME_LEN: usize = 255;
/// Most labels plus compression pointers followed for one name (Suricata's
/// limit); this is what ends compression-pointer loops.
pub const MAX_NAME_STEPS: usize = 255;
/// Most records kept per section; further records are parsed (so the next
/// section can be found) and counted in [`DnsMessage::skipped_records`].
pub const MAX_RECORDS_PER_SECTION: usize = 256;

/// Record type A (IPv4 address).
pub const RRTYPE_A: u16 = 1;
/// Record type NS.
pub const RRTYPE_NS: u16 = 2;
/// Record type CNAME.
pub const RRTYPE_CNAME: u16 = 5;
/// Record type SOA.
pub const RRTYPE_SOA: u16 = 6;
/// Record type NULL.
pub const RRTYPE_NULL: u16 = 10;
/// Record type PTR.
pub const RRTYPE_PTR: u16 = 12;
/// Record type MX.
pub const RRTYPE_MX: u16 = 15;
/// Record type TXT.
pub const RRTYPE_TXT: u16 = 16;
/// Record type AAAA (IPv6 address).
pub const RRTYPE_AAAA: u16 = 28;
/// Record type SRV.
pub const RRTYPE_SRV: u16 = 33;
/// Record type DNAME.
pub const RRTYPE_DNAME: u16 = 39;
/// Record type OPT (EDNS).
pub const RRTYPE_OPT: u16 = 41;
/// Record type SSHFP.
pub const RRTYPE_SSHFP: u16 = 44;

/// One entry of the question section.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsQuery {
    /// Dotted name without the trailing dot, label bytes as on the wire
    /// (the root is empty).
    pub name: Vec<u8>,
    /// Query type (QTYPE).
    pub rrtype: u16,
    /// Query class (QCLASS).
    pub rrclass: u16,
}

/// Decoded RDATA of a resource record.
#[derive(Debug, Clone, PartialEq)]
pub enum RData {
    /// A record with exactly 4 bytes of data.
    A(Ipv4Addr),
    /// AAAA record with exactly 16 bytes of data.
    Aaaa(Ipv6Addr),
    /// CNAME, NS, PTR or DNAME target.
    Name(Vec<u8>),
    /// MX record.
    Mx {
        /// Preference (lower is preferred).
        preference: u16,
        /// Mail exchange host.
        exchange: Vec<u8>,
    },
    /// TXT character-strings, in order (trailing bytes that do not form a
    /// whole string are dropped, as Suricata does).
    Txt(Vec<Vec<u8>>),
    /// SOA record.
    Soa {
        /// Primary name server.
        mname: Vec<u8>,
        /// Responsible mailbox.
        rname: Vec<u8>,
        /// Zone serial.
        serial: u32,
        /// Refresh interval.
        refresh: u32,
        /// Retry interval.
        retry: u32,
        /// Expire limit.
        expire: u32,
        /// Minimum / negative-caching TTL.
        minimum: u32,
    },
    /// SRV record.
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port.
        port: u16,
        /// Target host.
        target: Vec<u8>,
    },
    /// Raw RDATA: any other type, empty RDATA, or data that did not decode
    /// as its type (an A record of the wrong length, a CNAME with a bad
    /// name, …).
    Other(Vec<u8>),
}

/// A resource record of the answer, authority or additional section.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsRecord {
    /// Owner name, dotted, without the trailing dot.
    pub name: Vec<u8>,
    /// Record type.
    pub rrtype: u16,
    /// Record class (the UDP payload size for OPT).
    pub rrclass: u16,
    /// Time to live (extended RCODE and flags for OPT).
    pub ttl: u32,
    /// Decoded data.
    pub data: RData,
}

/// The sections of a DNS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Question section.
    Question,
    /// Answer section.
    Answer,
    /// Authority section.
    Authority,
    /// Additional section.
    Additional,
}

/// Where and why parsing stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// Section being parsed.
    pub section: Section,
    /// Index, within that section, of the entry that could not be parsed.
    pub index: u16,
    /// What went wrong.
    pub error: DnsError,
}

/// A parsed DNS message.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsMessage {
    /// Transaction ID.
    pub id: u16,
    /// Raw 16-bit flags field.
    pub flags: u16,
    /// QR bit: the message is a response.
    pub response: bool,
    /// OPCODE (4 bits).
    pub opcode: u8,
    /// RCODE (low 4 bits, without EDNS extension).
    pub rcode: u8,
    /// Authoritative answer.
    pub aa: bool,
    /// Truncated (TC bit, set by the sender).
    pub tc: bool,
    /// Recursion desired.
    pub rd: bool,
    /// Recursion available.
    pub ra: bool,
    /// Reserved Z bit (0x0040).
    pub z: bool,
    /// Question section.
    pub queries: Vec<DnsQuery>,
    /// Answer section.
    pub answers: Vec<DnsRecord>,
    /// Authority section.
    pub authorities: Vec<DnsRecord>,
    /// Additional section.
    pub additionals: Vec<DnsRecord>,
    /// The message ended early or was malformed after the header: the header
    /// and whatever sections parsed are kept. See [`DnsMessage::truncation`].
    pub truncated_parse: bool,
    /// Details of the early end, when [`DnsMessage::truncated_parse`] is set.
    pub truncation: Option<Truncation>,
    /// First section holding a record whose RDATA did not decode as its type
    /// (CNAME, NS, PTR, MX, TXT, SOA, SRV or SSHFP). Such records are kept as
    /// [`RData::Other`]; Suricata 7 would reject the whole message.
    pub rdata_error: Option<Section>,
    /// Records parsed but not kept because a section held more than
    /// [`MAX_RECORDS_PER_SECTION`].
    pub skipped_records: u32,
}

impl DnsMessage {
    /// Whether Suricata 7 would have made a transaction of this message,
    /// seen in the given direction: toward the server it parses the header
    /// and questions and refuses responses; toward the client it parses the
    /// questions, answers and authorities and refuses any error in them.
    pub fn suricata_accepts(&self, to_server: bool) -> bool {
        let stopped_in = self.truncation.as_ref().map(|t| t.section);
        if to_server {
            !self.response && stopped_in != Some(Section::Question)
        } else {
            let bad = |s: Option<Section>| {
                matches!(
                    s,
                    Some(Section::Question | Section::Answer | Section::Authority)
                )
            };
            !bad(stopped_in) && !bad(self.rdata_error)
        }
    }
}

/// Why a DNS message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// The data ended before the structure being read.
    TooShort,
    /// The data is not a valid DNS structure.
    Malformed(&'static str),
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::TooShort => f.write_str("DNS message too short"),
            DnsError::Malformed(why) => write!(f, "malformed DNS message: {why}"),
        }
    }
}

impl std::error::Error for DnsError {}

fn be16(buf: &[u8], pos: usize) -> Result<u16, DnsError> {
    let end = pos.checked_add(2).ok_or(DnsError::TooShort)?;
    let b: [u8; 2] = buf
        .get(pos..end)
        .and_then(|s| s.try_into().ok())
        .ok_or(DnsError::TooShort)?;
    Ok(u16::from_be_bytes(b))
}

fn be32(buf: &[u8], pos: usize) -> Result<u32, DnsError> {
    let end = pos.checked_add(4).ok_or(DnsError::TooShort)?;
    let b: [u8; 4] = buf
        .get(pos..end)
        .and_then(|s| s.try_into().ok())
        .ok_or(DnsError::TooShort)?;
    Ok(u32::from_be_bytes(b))
}

/// Reads a possibly compressed name starting at `start`. Labels are read up
/// to `region_end` (the end of the RDATA for names inside RDATA); reaching it
/// ends the name, as in Suricata. A compression pointer may point anywhere in
/// the message. Returns the name and the position just after it in the
/// original region.
fn read_name(msg: &[u8], start: usize, region_end: usize) -> Result<(Vec<u8>, usize), DnsError> {
    let mut name = Vec::new();
    let mut pos = start;
    let mut end = region_end.min(msg.len());
    let mut resume: Option<usize> = None;
    let mut steps = 0usize;
    loop {
        if pos >= end {
            break;
        }
        let Some(&len) = msg.get(pos) else {
            break;
        };
        match len & 0xC0 {
            0x00 => {
                if len == 0 {
                    pos += 1;
                    break;
                }
                let l = usize::from(len);
                let label_end = pos + 1 + l;
                if label_end > end {
                    return Err(DnsError::TooShort);
                }
                let label = msg.get(pos + 1..label_end).ok_or(DnsError::TooShort)?;
                let sep = usize::from(!name.is_empty());
                if name.len() + sep + l > MAX_NAME_LEN {
                    return Err(DnsError::Malformed("name longer than 255 bytes"));
                }
                if sep == 1 {
                    name.push(b'.');
                }
                name.extend_from_slice(label);
                pos = label_end;
            }
            0xC0 => {
                if pos + 2 > end {
                    return Err(DnsError::TooShort);
                }
                let low = *msg.get(pos + 1).ok_or(DnsError::TooShort)?;
                let offset = (usize::from(len & 0x3F) << 8) | usize::from(low);
                if offset > msg.len() {
                    return Err(DnsError::Malformed("compression pointer past the message"));
                }
                if resume.is_none() {
                    resume = Some(pos + 2);
                }
                pos = offset;
                end = msg.len();
            }
            _ => return Err(DnsError::Malformed("unknown label type")),
        }
        steps += 1;
        if steps > MAX_NAME_STEPS {
            return Err(DnsError::Malformed(
                "too many labels or compression pointers",
            ));
        }
    }
    Ok((name, resume.unwrap_or(pos)))
}

fn read_question(msg: &[u8], pos: usize) -> Result<(DnsQuery, usize), DnsError> {
    let (name, p) = read_name(msg, pos, msg.len())?;
    let rrtype = be16(msg, p)?;
    let rrclass = be16(msg, p + 2)?;
    Ok((
        DnsQuery {
            name,
            rrtype,
            rrclass,
        },
        p + 4,
    ))
}

/// Reads one resource record; the flag tells whether its RDATA failed to
/// decode in a way Suricata 7 would reject.
fn read_record(msg: &[u8], pos: usize) -> Result<(DnsRecord, usize, bool), DnsError> {
    let (name, p) = read_name(msg, pos, msg.len())?;
    let rrtype = be16(msg, p)?;
    let rrclass = be16(msg, p + 2)?;
    let ttl = be32(msg, p + 4)?;
    let rdlen = usize::from(be16(msg, p + 8)?);
    let rd_start = p + 10;
    let rd_end = rd_start + rdlen;
    if rd_end > msg.len() {
        return Err(DnsError::TooShort);
    }
    let (data, bad) = parse_rdata(msg, rrtype, rd_start, rd_end);
    Ok((
        DnsRecord {
            name,
            rrtype,
            rrclass,
            ttl,
            data,
        },
        rd_end,
        bad,
    ))
}

fn parse_rdata(msg: &[u8], rrtype: u16, start: usize, end: usize) -> (RData, bool) {
    let raw = msg.get(start..end).unwrap_or(&[]);
    if raw.is_empty() {
        // Suricata 7 skips records with empty RDATA instead of failing.
        return (RData::Other(Vec::new()), false);
    }
    let other = || RData::Other(raw.to_vec());
    match rrtype {
        RRTYPE_A => match <[u8; 4]>::try_from(raw) {
            Ok(b) => (RData::A(Ipv4Addr::from(b)), false),
            Err(_) => (other(), false),
        },
        RRTYPE_AAAA => match <[u8; 16]>::try_from(raw) {
            Ok(b) => (RData::Aaaa(Ipv6Addr::from(b)), false),
            Err(_) => (other(), false),
        },
        RRTYPE_NS | RRTYPE_CNAME | RRTYPE_PTR | RRTYPE_DNAME => {
            match read_name(msg, start, end) {
                Ok((name, _)) => (RData::Name(name), false),
                // Suricata treats DNAME as opaque, so only the others count.
                Err(_) => (other(), rrtype != RRTYPE_DNAME),
            }
        }
        RRTYPE_MX => {
            let parsed = be16(msg, start).and_then(|preference| {
                if start + 2 > end {
                    return Err(DnsError::TooShort);
                }
                let (exchange, _) = read_name(msg, start + 2, end)?;
                Ok(RData::Mx {
                    preference,
                    exchange,
                })
            });
            match parsed {
                Ok(d) => (d, false),
                Err(_) => (other(), true),
            }
        }
        RRTYPE_TXT => {
            let mut strings = Vec::new();
            let mut rest = raw;
            while let Some((&len, tail)) = rest.split_first() {
                let Some(s) = tail.get(..usize::from(len)) else {
                    break;
                };
                strings.push(s.to_vec());
                rest = tail.get(usize::from(len)..).unwrap_or(&[]);
            }
            if strings.is_empty() {
                (other(), true)
            } else {
                (RData::Txt(strings), false)
            }
        }
        RRTYPE_SOA => match parse_soa(msg, start, end) {
            Ok(d) => (d, false),
            Err(_) => (other(), true),
        },
        RRTYPE_SRV => match parse_srv(msg, start, end) {
            Ok(d) => (d, false),
            Err(_) => (other(), true),
        },
        RRTYPE_SSHFP => (other(), raw.len() < 2),
        _ => (other(), false),
    }
}

fn parse_soa(msg: &[u8], start: usize, end: usize) -> Result<RData, DnsError> {
    let (mname, p) = read_name(msg, start, end)?;
    let (rname, p) = read_name(msg, p, end)?;
    if p + 20 > end {
        return Err(DnsError::TooShort);
    }
    Ok(RData::Soa {
        mname,
        rname,
        serial: be32(msg, p)?,
        refresh: be32(msg, p + 4)?,
        retry: be32(msg, p + 8)?,
        expire: be32(msg, p + 12)?,
        minimum: be32(msg, p + 16)?,
    })
}

fn parse_srv(msg: &[u8], start: usize, end: usize) -> Result<RData, DnsError> {
    if start + 6 > end {
        return Err(DnsError::TooShort);
    }
    let priority = be16(msg, start)?;
    let weight = be16(msg, start + 2)?;
    let port = be16(msg, start + 4)?;
    let (target, _) = read_name(msg, start + 6, end)?;
    Ok(RData::Srv {
        priority,
        weight,
        port,
        target,
    })
}

/// Parses one DNS message (a UDP payload, or one frame from [`TcpFramer`]).
///
/// Fails only when the 12-byte header is missing ([`DnsError::TooShort`])
/// or the section counts could not fit in even the largest DNS message
/// ([`DnsError::Malformed`]). Any later problem ends parsing with
/// [`DnsMessage::truncated_parse`] set and keeps what was read before it.
pub fn parse(buf: &[u8]) -> Result<DnsMessage, DnsError> {
    if buf.len() < HEADER_LEN {
        return Err(DnsError::TooShort);
    }
    let id = be16(buf, 0)?;
    let flags = be16(buf, 2)?;
    let counts = [be16(buf, 4)?, be16(buf, 6)?, be16(buf, 8)?, be16(buf, 10)?];
    // The smallest question is 5 bytes (root name, type, class), the
    // smallest record 11 (root name, type, class, TTL, RDLENGTH).
    let min_len = usize::from(counts[0]) * 5
        + (usize::from(counts[1]) + usize::from(counts[2]) + usize::from(counts[3])) * 11;
    if min_len > MAX_MESSAGE_LEN - HEADER_LEN {
        return Err(DnsError::Malformed(
            "section counts cannot fit in a DNS message",
        ));
    }
    let mut msg = DnsMessage {
        id,
        flags,
        response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0xF) as u8,
        rcode: (flags & 0xF) as u8,
        aa: flags & 0x0400 != 0,
        tc: flags & 0x0200 != 0,
        rd: flags & 0x0100 != 0,
        ra: flags & 0x0080 != 0,
        z: flags & 0x0040 != 0,
        queries: Vec::new(),
        answers: Vec::new(),
        authorities: Vec::new(),
        additionals: Vec::new(),
        truncated_parse: false,
        truncation: None,
        rdata_error: None,
        skipped_records: 0,
    };
    let mut pos = HEADER_LEN;
    for index in 0..counts[0] {
        match read_question(buf, pos) {
            Ok((q, next)) => {
                if msg.queries.len() < MAX_RECORDS_PER_SECTION {
                    msg.queries.push(q);
                } else {
                    msg.skipped_records += 1;
                }
                pos = next;
            }
            Err(error) => {
                msg.stop(Section::Question, index, error);
                return Ok(msg);
            }
        }
    }
    let sections = [
        (Section::Answer, counts[1]),
        (Section::Authority, counts[2]),
        (Section::Additional, counts[3]),
    ];
    for (section, count) in sections {
        for index in 0..count {
            match read_record(buf, pos) {
                Ok((rec, next, bad_rdata)) => {
                    if bad_rdata && msg.rdata_error.is_none() {
                        msg.rdata_error = Some(section);
                    }
                    let list = match section {
                        Section::Answer => &mut msg.answers,
                        Section::Authority => &mut msg.authorities,
                        _ => &mut msg.additionals,
                    };
                    if list.len() < MAX_RECORDS_PER_SECTION {
                        list.push(rec);
                    } else {
                        msg.skipped_records += 1;
                    }
                    pos = next;
                }
                Err(error) => {
                    msg.stop(section, index, error);
                    return Ok(msg);
                }
            }
        }
    }
    Ok(msg)
}

impl DnsMessage {
    fn stop(&mut self, section: Section, index: u16, error: DnsError) {
        self.truncated_parse = true;
        self.truncation = Some(Truncation {
            section,
            index,
            error,
        });
    }
}

/// DNS over TCP framing: each message is preceded by its length as a 2-byte
/// big-endian number. Feed the bytes of one direction of a stream in order;
/// complete messages come out as they are finished. At most one partial frame
/// is held (≤ 2 + 65535 bytes, within [`TcpFramer::MAX_BUFFERED`]).
#[derive(Debug, Default)]
pub struct TcpFramer {
    buf: Vec<u8>,
    errors: u64,
}

impl TcpFramer {
    /// Upper bound of the bytes held between calls: 64 KiB plus the prefix.
    pub const MAX_BUFFERED: usize = 64 * 1024 + 2;

    /// A framer with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds stream bytes; returns the messages (without length prefix) that
    /// they complete, in order. A zero length prefix is skipped and counted
    /// in [`TcpFramer::errors`], as Suricata skips it.
    pub fn feed(&mut self, mut data: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.buf.is_empty() {
                // Fast path: whole frames straight from the input.
                if let Ok(len) = be16(data, 0) {
                    let len = usize::from(len);
                    if len == 0 {
                        self.errors += 1;
                        data = data.get(2..).unwrap_or(&[]);
                        continue;
                    }
                    if let Some(frame) = data.get(2..2 + len) {
                        out.push(frame.to_vec());
                        data = data.get(2 + len..).unwrap_or(&[]);
                        continue;
                    }
                }
            }
            let want = if self.buf.len() < 2 {
                2
            } else {
                2 + usize::from(be16(&self.buf, 0).unwrap_or(0))
            };
            let take = want.saturating_sub(self.buf.len()).min(data.len());
            let (head, tail) = data.split_at(take);
            self.buf.extend_from_slice(head);
            data = tail;
            if self.buf.len() == 2 && be16(&self.buf, 0) == Ok(0) {
                self.errors += 1;
                self.buf.clear();
            } else if self.buf.len() > 2 && self.buf.len() == want {
                out.push(self.buf.get(2..).unwrap_or(&[]).to_vec());
                self.buf.clear();
            }
        }
        out
    }

    /// Number of zero-length frames skipped so far.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Bytes held for the frame in progress.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Drops the frame in progress (after a gap in the stream).
    pub fn reset(&mut self) {
        self.buf.clear();
    }
}

/// Suricata 7's name for a record type, if it has one.
fn suricata_rrtype_str(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "A",
        2 => "NS",
        3 => "ND", // sic: Suricata's name for MD
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        19 => "X25",
        20 => "ISDN",
        21 => "RT",
        22 => "NSAP",
        23 => "NSAPPT", // sic
        24 => "SIG",
        25 => "KEY",
        26 => "PX",
        27 => "GPOS",
        28 => "AAAA",
        29 => "LOC",
        30 => "NXT",
        33 => "SRV",
        34 => "ATMA",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        38 => "A6",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        55 => "HIP",
        59 => "CDS",
        60 => "CDSNKEY", // sic
        65 => "HTTPS",
        99 => "SPF",
        249 => "TKEY",
        250 => "TSIG",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        _ => return None,
    })
}

/// Record type as Suricata 7 prints it: its name from Suricata's table
/// (`"A"`, `"AAAA"`, `"HTTPS"`, …, with Suricata's typos `"NSAPPT"`,
/// `"CDSNKEY"` and `"ND"`), otherwise the number in decimal — so SVCB (64)
/// and CAA (257) print as `"64"` and `"257"`, as in Suricata 7.
pub fn rrtype_name(t: u16) -> String {
    match suricata_rrtype_str(t) {
        Some(s) => s.to_string(),
        None => t.to_string(),
    }
}

/// Whether Suricata 7 logs this query type in alerts: its alert logger only
/// enables the types of its table.
fn alert_logs_rrtype(t: u16) -> bool {
    suricata_rrtype_str(t).is_some()
}

/// Response code as Suricata 7 prints it (`"NOERROR"`, `"NXDOMAIN"`, …),
/// otherwise the number in decimal. The header only holds 4 bits; the names
/// from 16 up serve EDNS-extended codes.
pub fn rcode_name(r: u8) -> String {
    let s = match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADVERS/BADSIG",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        _ => return r.to_string(),
    };
    s.to_string()
}

/// Bytes as Suricata puts them in EVE strings: unchanged when they are valid
/// UTF-8, otherwise each byte below 0x80 as itself and each other byte as the
/// four characters `\xHH`. (JSON escaping of control characters and of the
/// backslash happens when the value is serialized.)
pub fn eve_string(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() * 2);
            for &b in bytes {
                if b < 0x80 {
                    out.push(char::from(b));
                } else {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            out
        }
    }
}

/// Suricata's `dns_print_addr`: 4 bytes dotted, 16 bytes as eight groups of
/// four hex digits, anything else empty.
fn print_addr(bytes: &[u8]) -> String {
    if let Ok(b) = <[u8; 4]>::try_from(bytes) {
        Ipv4Addr::from(b).to_string()
    } else if let Ok(b) = <[u8; 16]>::try_from(bytes) {
        print_v6(&Ipv6Addr::from(b))
    } else {
        String::new()
    }
}

fn print_v6(addr: &Ipv6Addr) -> String {
    let s = addr.segments();
    format!(
        "{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}",
        s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
    )
}

/// What one logged answer entry carries besides rrname, rrtype and ttl.
enum Rendered {
    Text(String),
    Object(&'static str, Value),
    Nothing,
}

/// A record as Suricata 7 logs it: usually one entry, one per string for
/// TXT, none when the RDATA is empty.
fn render_record(rec: &DnsRecord) -> Vec<Rendered> {
    match (rec.rrtype, &rec.data) {
        (_, RData::Other(raw)) if raw.is_empty() => Vec::new(),
        (RRTYPE_A | RRTYPE_AAAA, RData::A(ip)) => vec![Rendered::Text(ip.to_string())],
        (RRTYPE_A | RRTYPE_AAAA, RData::Aaaa(ip)) => vec![Rendered::Text(print_v6(ip))],
        (RRTYPE_A | RRTYPE_AAAA, RData::Other(raw)) => vec![Rendered::Text(print_addr(raw))],
        (RRTYPE_CNAME | RRTYPE_NS | RRTYPE_PTR, RData::Name(n)) => {
            vec![Rendered::Text(eve_string(n))]
        }
        (RRTYPE_MX, RData::Mx { exchange, .. }) => vec![Rendered::Text(eve_string(exchange))],
        (RRTYPE_TXT, RData::Txt(parts)) => parts
            .iter()
            .map(|p| Rendered::Text(eve_string(p)))
            .collect(),
        (RRTYPE_NULL, RData::Other(raw)) => vec![Rendered::Text(eve_string(raw))],
        (
            RRTYPE_SOA,
            RData::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            },
        ) => {
            let mut m = Map::new();
            m.insert("mname".into(), eve_string(mname).into());
            m.insert("rname".into(), eve_string(rname).into());
            m.insert("serial".into(), (*serial).into());
            m.insert("refresh".into(), (*refresh).into());
            m.insert("retry".into(), (*retry).into());
            m.insert("expire".into(), (*expire).into());
            m.insert("minimum".into(), (*minimum).into());
            vec![Rendered::Object("soa", Value::Object(m))]
        }
        (
            RRTYPE_SRV,
            RData::Srv {
                priority,
                weight,
                port,
                target,
            },
        ) => {
            let mut m = Map::new();
            m.insert("priority".into(), (*priority).into());
            m.insert("weight".into(), (*weight).into());
            m.insert("port".into(), (*port).into());
            m.insert("name".into(), eve_string(target).into());
            vec![Rendered::Object("srv", Value::Object(m))]
        }
        (RRTYPE_SSHFP, RData::Other(raw)) if raw.len() >= 2 => {
            let fingerprint: Vec<String> = raw.iter().skip(2).map(|b| format!("{b:02x}")).collect();
            let mut m = Map::new();
            m.insert("fingerprint".into(), fingerprint.join(":").into());
            m.insert("algo".into(), raw.first().copied().unwrap_or(0).into());
            m.insert("type".into(), raw.get(1).copied().unwrap_or(0).into());
            vec![Rendered::Object("sshfp", Value::Object(m))]
        }
        _ => vec![Rendered::Nothing],
    }
}

fn detail_entry(rec: &DnsRecord, r: &Rendered) -> Value {
    let mut m = Map::new();
    m.insert("rrname".into(), eve_string(&rec.name).into());
    m.insert("rrtype".into(), rrtype_name(rec.rrtype).into());
    m.insert("ttl".into(), rec.ttl.into());
    match r {
        Rendered::Text(s) => {
            m.insert("rdata".into(), s.clone().into());
        }
        Rendered::Object(key, v) => {
            m.insert((*key).into(), v.clone());
        }
        Rendered::Nothing => {}
    }
    Value::Object(m)
}

fn query_object(msg: &DnsMessage, q: &DnsQuery, tx_id: u64) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), "query".into());
    m.insert("id".into(), msg.id.into());
    m.insert("rrname".into(), eve_string(&q.name).into());
    m.insert("rrtype".into(), rrtype_name(q.rrtype).into());
    m.insert("tx_id".into(), tx_id.into());
    if msg.flags & 0x0040 != 0 {
        m.insert("z".into(), true.into());
    }
    m.insert("opcode".into(), ((msg.flags >> 11) & 0xF).into());
    Value::Object(m)
}

/// One Suricata 7 query object per question, in order, e.g.
/// `{"type":"query","id":43051,"rrname":"www.example.com","rrtype":"A","tx_id":0,"opcode":0}`
/// (`"z":true` before `opcode` when the Z bit is set). `tx_id` is the
/// transaction's index in its flow. The EVE `dns` event wraps each as
/// `{"version":2, …}`; see [`eve_query_events`].
pub fn eve_queries(msg: &DnsMessage, tx_id: u64) -> Vec<Value> {
    msg.queries
        .iter()
        .map(|q| query_object(msg, q, tx_id))
        .collect()
}

/// The complete `dns` objects of the query events (one EVE record per
/// question): [`eve_queries`] with `"version":2` first.
pub fn eve_query_events(msg: &DnsMessage, tx_id: u64) -> Vec<Value> {
    eve_queries(msg, tx_id)
        .into_iter()
        .map(|q| {
            let mut m = Map::new();
            m.insert("version".into(), 2.into());
            if let Value::Object(fields) = q {
                m.extend(fields);
            }
            Value::Object(m)
        })
        .collect()
}

fn answer_object(msg: &DnsMessage, detailed: bool, grouped: bool) -> Value {
    let mut m = Map::new();
    m.insert("version".into(), 2.into());
    m.insert("type".into(), "answer".into());
    m.insert("id".into(), msg.id.into());
    m.insert("flags".into(), format!("{:x}", msg.flags).into());
    let bits = [
        (0x8000, "qr"),
        (0x0400, "aa"),
        (0x0200, "tc"),
        (0x0100, "rd"),
        (0x0080, "ra"),
        (0x0040, "z"),
    ];
    for (bit, key) in bits {
        if msg.flags & bit != 0 {
            m.insert(key.into(), true.into());
        }
    }
    m.insert("opcode".into(), ((msg.flags >> 11) & 0xF).into());
    if let Some(q) = msg.queries.first() {
        m.insert("rrname".into(), eve_string(&q.name).into());
        m.insert("rrtype".into(), rrtype_name(q.rrtype).into());
    }
    m.insert("rcode".into(), rcode_name((msg.flags & 0xF) as u8).into());

    let mut answers = Vec::new();
    let mut groups = Map::new();
    let mut entries = 0usize;
    for rec in &msg.answers {
        for r in render_record(rec) {
            entries += 1;
            if grouped {
                let item = match &r {
                    Rendered::Text(s) => Some(Value::from(s.clone())),
                    Rendered::Object(_, v) => Some(v.clone()),
                    Rendered::Nothing => None,
                };
                if let Some(item) = item {
                    let slot = groups
                        .entry(rrtype_name(rec.rrtype))
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(list) = slot {
                        list.push(item);
                    }
                }
            }
            if detailed {
                answers.push(detail_entry(rec, &r));
            }
        }
    }
    if entries > 0 {
        if detailed {
            m.insert("answers".into(), Value::Array(answers));
        }
        if grouped {
            m.insert("grouped".into(), Value::Object(groups));
        }
    }

    let authorities: Vec<Value> = msg
        .authorities
        .iter()
        .flat_map(|rec| {
            render_record(rec)
                .into_iter()
                .map(move |r| detail_entry(rec, &r))
        })
        .collect();
    if !authorities.is_empty() {
        m.insert("authorities".into(), Value::Array(authorities));
    }
    Value::Object(m)
}

/// The `dns` object of a Suricata 7 answer event (default formats: detailed
/// and grouped): `{"version":2,"type":"answer","id":…,"flags":"8180",
/// "qr":true,…,"opcode":0,"rrname":…,"rrtype":…,"rcode":"NOERROR",
/// "answers":[…],"grouped":{…},"authorities":[…]}`. Flag keys appear only
/// when set; `rrname`/`rrtype` come from the first question; `answers`,
/// `grouped` and `authorities` only when there is something to put in them.
/// Grouped keys follow the order in which each type first appears (Suricata's
/// order is that of a hash map). Suricata logs no answer event for a
/// response without questions; see [`eve_answer_logged`].
pub fn eve_answer(msg: &DnsMessage) -> Value {
    answer_object(msg, true, true)
}

/// [`eve_answer`] for an `eve-log.dns.formats` setting other than the
/// default: `detailed` adds `answers`, `grouped` adds `grouped`.
pub fn eve_answer_formats(msg: &DnsMessage, detailed: bool, grouped: bool) -> Value {
    answer_object(msg, detailed, grouped)
}

/// Whether Suricata 7 logs an answer event for this response: only when it
/// has at least one question.
pub fn eve_answer_logged(msg: &DnsMessage) -> bool {
    !msg.queries.is_empty()
}

/// The `dns` object Suricata 7 puts in an alert on this message, taking a
/// response (QR bit) as a to-client transaction and anything else as a
/// to-server one. See [`eve_alert_object_dir`].
pub fn eve_alert_object(msg: &DnsMessage, tx_id: u64) -> Value {
    eve_alert_object_dir(msg, tx_id, !msg.response)
}

/// The `dns` object of an alert, for a message seen toward the server
/// (`to_server`) or toward the client:
/// - request: `{"version":2,"query":[{…query object…},…]}`, listing the
///   questions up to the first whose type is not in Suricata's table;
/// - response: `{"version":2,"answer":{…}}`, where the answer object is the
///   answer event's (with its own `"version":2`) without `answers` and
///   `grouped`, logged only if some question has a type of Suricata's table.
pub fn eve_alert_object_dir(msg: &DnsMessage, tx_id: u64, to_server: bool) -> Value {
    let mut m = Map::new();
    m.insert("version".into(), 2.into());
    if to_server {
        let queries: Vec<Value> = msg
            .queries
            .iter()
            .take_while(|q| alert_logs_rrtype(q.rrtype))
            .map(|q| query_object(msg, q, tx_id))
            .collect();
        if !queries.is_empty() {
            m.insert("query".into(), Value::Array(queries));
        }
    } else if msg.queries.iter().any(|q| alert_logs_rrtype(q.rrtype)) {
        m.insert("answer".into(), answer_object(msg, false, false));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    fn json(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    /// Serialized forms must match byte for byte (key order included).
    fn same(actual: &Value, expected: &str) {
        assert_eq!(
            serde_json::to_string(actual).unwrap(),
            serde_json::to_string(&json(expected)).unwrap()
        );
    }

    fn name(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if !s.is_empty() {
            for label in s.split('.') {
                out.push(label.len() as u8);
                out.extend_from_slice(label.as_bytes());
            }
        }
        out.push(0);
        out
    }

    /// Hand-built messages.
    struct Msg(Vec<u8>);

    impl Msg {
        fn new(id: u16, flags: u16, counts: [u16; 4]) -> Self {
            let mut v = Vec::new();
            v.extend_from_slice(&id.to_be_bytes());
            v.extend_from_slice(&flags.to_be_bytes());
            for c in counts {
                v.extend_from_slice(&c.to_be_bytes());
            }
            Msg(v)
        }
        fn question(mut self, n: &str, t: u16) -> Self {
            self.0.extend(name(n));
            self.0.extend_from_slice(&t.to_be_bytes());
            self.0.extend_from_slice(&1u16.to_be_bytes());
            self
        }
        fn record(mut self, n: &[u8], t: u16, ttl: u32, rdata: &[u8]) -> Self {
            self.0.extend_from_slice(n);
            self.0.extend_from_slice(&t.to_be_bytes());
            self.0.extend_from_slice(&1u16.to_be_bytes());
            self.0.extend_from_slice(&ttl.to_be_bytes());
            self.0
                .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            self.0.extend_from_slice(rdata);
            self
        }
    }

    // Wire bytes from the suricata-verify pcaps that produced the lines of
    // tests/data/eve/suricata-7.0.10.jsonl.
    const WU_QUERY: &str = "a82b010000010000000000000377777708646f776e6c6f61640d77696e646f777375706461746503636f6d0000010001";
    const WU_ANSWER: &str = "a82b818000010005000500050377777708646f776e6c6f61640d77696e646f777375706461746503636f6d0000010001c00c0005000100000b2b00200e322d30312d336366372d30303039036364780763656465786973036e657400c03c00050001000000a7002c02666708646f776e6c6f61640d77696e646f777375706461746503636f6d016309666f6f747072696e74c057c06800010001000000a0000408fd294ec06800010001000000a0000408fd443ec06800010001000000a0000408fd444ec08600020001000022b4000d0775732d666c2d32026e73c086c08600020001000022b4000a0775732d67612d31c0d8c08600020001000022b400040161c0d8c08600020001000022b4000a0775732d6e792d33c0d8c08600020001000022b4000a0775732d76612d31c0d8c0d000010001000279f00004c64ec799c0e90001000100026405000408fe3899c0ff00010001000264050004081ad719c10f0001000100015e640004081ac89bc1250001000100024d660004cd80499b";
    const TXT_ANSWER: &str = "4449818000010001000000000d31323334353637383930616263036465660768696a6b6c6d6e076f7071727374750000100001c00c0010000100000001001b1a313233343536373839304142434445464748494a4b4c4d4e4f20";
    const PTR_NXDOMAIN: &str = "d9f8858300010000000100000232370130033136380331393207696e2d61646472046172706100000c0001c0110006000100002a300028c011066e6f626f6479096c6f63616c686f7374000000002a000151800000a8c000093a8000002a30";
    const AAAA_QUERY: &str = "0400010000010000000000000c73757269636174612d696473036f72670c5365637572697479636f646502727500001c0001";
    // issues/issue-4759 (tcpdns.pcap): TCP payloads, length prefix included.
    const TCP_Q1: &str = "001c5e630100000100000000000006676f6f676c6503636f6d0000010001";
    const TCP_A1: &str = "01545e6381800001000b0004000406676f6f676c6503636f6d0000010001c00c00010001000000a600044a7de42ec00c00010001000000a600044a7de420c00c00010001000000a600044a7de421c00c00010001000000a600044a7de422c00c00010001000000a600044a7de423c00c00010001000000a600044a7de424c00c00010001000000a600044a7de425c00c00010001000000a600044a7de426c00c00010001000000a600044a7de427c00c00010001000000a600044a7de428c00c00010001000000a600044a7de429c00c000200010000041b0006036e7334c00cc00c000200010000041b0006036e7332c00cc00c000200010000041b0006036e7333c00cc00c000200010000041b0006036e7331c00cc10e0001000100003e0b0004d8ef200ac0fc000100010003d7d20004d8ef240ac0d800010001000009580004d8ef260ac0ea00010001000002d50004d8ef220a";
    const TCP_Q2: &str = "0019e2ec0100000100000000000003616f6c03636f6d0000010001";
    const TCP_A2: &str = "0100e2ec8180000100050004000403616f6c03636f6d0000010001c00c000100010000000a0004cdbc643ac00c000100010000000a0004cdbc653ac00c000100010000000a0004cfc84a26c00c000100010000000a0004400c4f39c00c000100010000000a0004400c59bac00c000200010000000a000c06646e732d3031026e73c00cc00c000200010000000a000906646e732d3032c07cc00c000200010000000a000906646e732d3036c07cc00c000200010000000a000906646e732d3037c07cc0b70001000100000045000440ec016bc0a200010001000001a50004cfc84950c075000100010000012e0004400c3384c08d00010001000006a90004cdbc9de8";

    #[test]
    fn fixture_udp_query_event_and_alert() {
        let msg = parse(&hex(WU_QUERY)).unwrap();
        assert!(!msg.response && !msg.truncated_parse && msg.rd);
        assert_eq!(msg.queries[0].name, b"www.download.windowsupdate.com");
        let events = eve_query_events(&msg, 0);
        assert_eq!(events.len(), 1);
        same(
            &events[0],
            r#"{"version":2,"type":"query","id":43051,"rrname":"www.download.windowsupdate.com","rrtype":"A","tx_id":0,"opcode":0}"#,
        );
        same(
            &eve_queries(&msg, 0)[0],
            r#"{"type":"query","id":43051,"rrname":"www.download.windowsupdate.com","rrtype":"A","tx_id":0,"opcode":0}"#,
        );
        same(
            &eve_alert_object(&msg, 0),
            r#"{"version":2,"query":[{"type":"query","id":43051,"rrname":"www.download.windowsupdate.com","rrtype":"A","tx_id":0,"opcode":0}]}"#,
        );
    }

    #[test]
    fn fixture_udp_answer_cname_chain_with_authorities() {
        let msg = parse(&hex(WU_ANSWER)).unwrap();
        assert!(msg.response && !msg.truncated_parse);
        assert_eq!(
            (
                msg.answers.len(),
                msg.authorities.len(),
                msg.additionals.len()
            ),
            (5, 5, 5)
        );
        assert!(msg.suricata_accepts(false));
        same(
            &eve_answer(&msg),
            r#"{"version":2,"type":"answer","id":43051,"flags":"8180","qr":true,"rd":true,"ra":true,"opcode":0,"rrname":"www.download.windowsupdate.com","rrtype":"A","rcode":"NOERROR","answers":[{"rrname":"www.download.windowsupdate.com","rrtype":"CNAME","ttl":2859,"rdata":"2-01-3cf7-0009.cdx.cedexis.net"},{"rrname":"2-01-3cf7-0009.cdx.cedexis.net","rrtype":"CNAME","ttl":167,"rdata":"fg.download.windowsupdate.com.c.footprint.net"},{"rrname":"fg.download.windowsupdate.com.c.footprint.net","rrtype":"A","ttl":160,"rdata":"8.253.41.78"},{"rrname":"fg.download.windowsupdate.com.c.footprint.net","rrtype":"A","ttl":160,"rdata":"8.253.68.62"},{"rrname":"fg.download.windowsupdate.com.c.footprint.net","rrtype":"A","ttl":160,"rdata":"8.253.68.78"}],"grouped":{"CNAME":["2-01-3cf7-0009.cdx.cedexis.net","fg.download.windowsupdate.com.c.footprint.net"],"A":["8.253.41.78","8.253.68.62","8.253.68.78"]},"authorities":[{"rrname":"c.footprint.net","rrtype":"NS","ttl":8884,"rdata":"us-fl-2.ns.c.footprint.net"},{"rrname":"c.footprint.net","rrtype":"NS","ttl":8884,"rdata":"us-ga-1.ns.c.footprint.net"},{"rrname":"c.footprint.net","rrtype":"NS","ttl":8884,"rdata":"a.ns.c.footprint.net"},{"rrname":"c.footprint.net","rrtype":"NS","ttl":8884,"rdata":"us-ny-3.ns.c.footprint.net"},{"rrname":"c.footprint.net","rrtype":"NS","ttl":8884,"rdata":"us-va-1.ns.c.footprint.net"}]}"#,
        );
    }

    #[test]
    fn fixture_txt_answer() {
        let msg = parse(&hex(TXT_ANSWER)).unwrap();
        same(
            &eve_answer(&msg),
            r#"{"version":2,"type":"answer","id":17481,"flags":"8180","qr":true,"rd":true,"ra":true,"opcode":0,"rrname":"1234567890abc.def.hijklmn.opqrstu","rrtype":"TXT","rcode":"NOERROR","answers":[{"rrname":"1234567890abc.def.hijklmn.opqrstu","rrtype":"TXT","ttl":1,"rdata":"1234567890ABCDEFGHIJKLMNO "}],"grouped":{"TXT":["1234567890ABCDEFGHIJKLMNO "]}}"#,
        );
    }

    #[test]
    fn fixture_nxdomain_with_soa_authority() {
        let msg = parse(&hex(PTR_NXDOMAIN)).unwrap();
        assert_eq!(msg.rcode, 3);
        assert!(msg.aa);
        same(
            &eve_answer(&msg),
            r#"{"version":2,"type":"answer","id":55800,"flags":"8583","qr":true,"aa":true,"rd":true,"ra":true,"opcode":0,"rrname":"27.0.168.192.in-addr.arpa","rrtype":"PTR","rcode":"NXDOMAIN","authorities":[{"rrname":"168.192.in-addr.arpa","rrtype":"SOA","ttl":10800,"soa":{"mname":"168.192.in-addr.arpa","rname":"nobody.localhost","serial":42,"refresh":86400,"retry":43200,"expire":604800,"minimum":10800}}]}"#,
        );
    }

    #[test]
    fn fixture_aaaa_query_event_and_alert() {
        let msg = parse(&hex(AAAA_QUERY)).unwrap();
        same(
            &eve_query_events(&msg, 0)[0],
            r#"{"version":2,"type":"query","id":1024,"rrname":"suricata-ids.org.Securitycode.ru","rrtype":"AAAA","tx_id":0,"opcode":0}"#,
        );
        same(
            &eve_alert_object(&msg, 0),
            r#"{"version":2,"query":[{"type":"query","id":1024,"rrname":"suricata-ids.org.Securitycode.ru","rrtype":"AAAA","tx_id":0,"opcode":0}]}"#,
        );
    }

    #[test]
    fn fixture_tcp_flow_through_framer() {
        let mut to_server = TcpFramer::new();
        let mut to_client = TcpFramer::new();
        let q = to_server.feed(&hex(TCP_Q1));
        let a = to_client.feed(&hex(TCP_A1));
        assert_eq!((q.len(), a.len()), (1, 1));
        let q = parse(&q[0]).unwrap();
        let a = parse(&a[0]).unwrap();
        same(
            &eve_query_events(&q, 0)[0],
            r#"{"version":2,"type":"query","id":24163,"rrname":"google.com","rrtype":"A","tx_id":0,"opcode":0}"#,
        );
        same(
            &eve_alert_object(&q, 0),
            r#"{"version":2,"query":[{"type":"query","id":24163,"rrname":"google.com","rrtype":"A","tx_id":0,"opcode":0}]}"#,
        );
        assert_eq!(a.additionals.len(), 4);
        same(
            &eve_answer(&a),
            r#"{"version":2,"type":"answer","id":24163,"flags":"8180","qr":true,"rd":true,"ra":true,"opcode":0,"rrname":"google.com","rrtype":"A","rcode":"NOERROR","answers":[{"rrname":"google.com","rrtype":"A","ttl":166,"rdata":"74.125.228.46"},{"rrname":"google.com","rrtype":"A","ttl":166,"rdata":"74.125.228.32"},{"rrname":"google.com","rrtype":"A","ttl":166,"rdata":"74.125.228.33"},{"rrname":"google.com","rrtype":"A","ttl":166,"rdata":"74.125.228.34"},{"rrname":"google.com","rrtype":"A","ttl":166,"rdata":"74.125.228.35"},{"rrname":"google.com","rrtype":"A","ttl":166,"rdata":"74.125.228.36"},{"rrname":"google.com","rrtype":"A","ttl":166,"rdata":"74.125.228.37"},{"rrname":"google.com","rrtype":"A","ttl":166,"rdata":"74.125.228.38"},{"rrname":"google.com","rrtype":"A","ttl":166,"rdata":"74.125.228.39"},{"rrname":"google.com","rrtype":"A","ttl":166,"rdata":"74.125.228.40"},{"rrname":"google.com","rrtype":"A","ttl":166,"rdata":"74.125.228.41"}],"grouped":{"A":["74.125.228.46","74.125.228.32","74.125.228.33","74.125.228.34","74.125.228.35","74.125.228.36","74.125.228.37","74.125.228.38","74.125.228.39","74.125.228.40","74.125.228.41"]},"authorities":[{"rrname":"google.com","rrtype":"NS","ttl":1051,"rdata":"ns4.google.com"},{"rrname":"google.com","rrtype":"NS","ttl":1051,"rdata":"ns2.google.com"},{"rrname":"google.com","rrtype":"NS","ttl":1051,"rdata":"ns3.google.com"},{"rrname":"google.com","rrtype":"NS","ttl":1051,"rdata":"ns1.google.com"}]}"#,
        );
    }

    /// issue-4759 expects 4 dns events (2 queries, 2 answers) and 2 alerts
    /// for `dns.query; content:".com"`; split the streams at every byte to
    /// check the framer does not depend on segment boundaries.
    #[test]
    fn issue_4759_two_tcp_connections_any_segmentation() {
        for (qhex, ahex, want) in [(TCP_Q1, TCP_A1, "google.com"), (TCP_Q2, TCP_A2, "aol.com")] {
            for (data, is_query) in [(hex(qhex), true), (hex(ahex), false)] {
                for cut in 0..=data.len() {
                    let mut f = TcpFramer::new();
                    let mut frames = f.feed(&data[..cut]);
                    frames.extend(f.feed(&data[cut..]));
                    assert_eq!(frames.len(), 1, "cut at {cut}");
                    assert_eq!(f.buffered(), 0);
                    let msg = parse(&frames[0]).unwrap();
                    assert!(!msg.truncated_parse);
                    assert_eq!(msg.response, !is_query);
                    assert_eq!(msg.queries[0].name, want.as_bytes());
                    if is_query {
                        assert_eq!(eve_query_events(&msg, 0).len(), 1);
                        let name = &msg.queries[0].name;
                        assert!(name.windows(4).any(|w| w == b".com"));
                    } else {
                        assert!(eve_answer_logged(&msg));
                        assert!(eve_answer(&msg).get("answers").is_some());
                    }
                }
            }
        }
    }

    /// dns/v2/dns-incomplete: the second query's length prefix and header
    /// arrive in one segment and its question in the next.
    #[test]
    fn dns_incomplete_message_split_across_segments() {
        let segments = [
            "001c11330100000100000000000006676f6f676c65036e65740000100001",
            "001c103201000001000000000000",
            "06676f6f676c6503636f6d0000100001",
        ];
        let mut f = TcpFramer::new();
        let mut names = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            let frames = f.feed(&hex(seg));
            if i == 1 {
                assert!(frames.is_empty());
                assert_eq!(f.buffered(), 14);
            }
            for frame in frames {
                let msg = parse(&frame).unwrap();
                assert!(!msg.truncated_parse);
                for ev in eve_query_events(&msg, 0) {
                    names.push(ev["rrname"].as_str().unwrap().to_string());
                }
            }
        }
        assert_eq!(names, ["google.net", "google.com"]);
        assert_eq!(names.iter().filter(|n| *n == "google.com").count(), 1);
    }

    #[test]
    fn framer_skips_zero_length_and_yields_back_to_back_frames() {
        let mut f = TcpFramer::new();
        let frames = f.feed(&[0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 1, 9, 0]);
        assert_eq!(frames, vec![vec![1, 2, 3], vec![9]]);
        assert_eq!(f.errors(), 2);
        assert_eq!(f.buffered(), 1);
        // Zero prefix split over two feeds is still caught.
        assert!(f.feed(&[0]).is_empty());
        assert_eq!(f.errors(), 3);
        assert_eq!(f.buffered(), 0);
        let frames = f.feed(&[0, 2, 7]);
        assert!(frames.is_empty());
        f.reset();
        assert_eq!(f.buffered(), 0);
        assert_eq!(f.feed(&[0, 1, 5]), vec![vec![5]]);
    }

    #[test]
    fn framer_buffer_stays_bounded() {
        let mut f = TcpFramer::new();
        let mut data = vec![0xFF, 0xFF];
        data.extend(std::iter::repeat_n(0xAB, 70_000));
        let mut frames = Vec::new();
        for chunk in data.chunks(1000) {
            frames.extend(f.feed(chunk));
            assert!(f.buffered() <= TcpFramer::MAX_BUFFERED);
        }
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].len(), 65535);
        assert_eq!(f.buffered(), 70_002 - 65_537);
    }

    #[test]
    fn truncated_messages_keep_what_was_parsed() {
        let full = hex(WU_ANSWER);
        assert_eq!(parse(&full[..11]), Err(DnsError::TooShort));
        for cut in HEADER_LEN..full.len() {
            let msg = parse(&full[..cut]).unwrap();
            assert!(msg.truncated_parse, "cut at {cut}");
            let t = msg.truncation.as_ref().unwrap();
            assert_eq!(msg.id, 43051);
            match t.section {
                Section::Question => assert!(msg.queries.is_empty()),
                Section::Answer => {
                    assert_eq!(msg.queries.len(), 1);
                    assert_eq!(msg.answers.len(), usize::from(t.index));
                    assert!(!msg.suricata_accepts(false));
                }
                Section::Authority => assert_eq!(msg.answers.len(), 5),
                Section::Additional => {
                    assert_eq!(msg.authorities.len(), 5);
                    // Suricata never parses additionals, so it would log it.
                    assert!(msg.suricata_accepts(false));
                }
            }
            // Rendering a partial message never panics either.
            let _ = eve_answer(&msg);
        }
        // Header only, the question is missing: header kept, no queries.
        let q = hex(WU_QUERY);
        let msg = parse(&q[..HEADER_LEN]).unwrap();
        assert!(msg.truncated_parse && msg.queries.is_empty());
        assert_eq!(
            msg.truncation,
            Some(Truncation {
                section: Section::Question,
                index: 0,
                error: DnsError::TooShort
            })
        );
        assert!(!msg.suricata_accepts(true));
        assert!(parse(&q).unwrap().suricata_accepts(true));
    }

    #[test]
    fn absurd_counts_are_rejected() {
        let m = Msg::new(1, 0x0100, [0xFFFF, 0, 0, 0]);
        assert!(matches!(parse(&m.0), Err(DnsError::Malformed(_))));
        let m = Msg::new(1, 0x8180, [1, 0x2000, 0, 0]);
        assert!(matches!(parse(&m.0), Err(DnsError::Malformed(_))));
        // A count that does fit in a large message is only "truncated".
        let m = Msg::new(1, 0x8180, [1, 100, 0, 0]).question("a.b", 1);
        let msg = parse(&m.0).unwrap();
        assert_eq!(msg.truncation.unwrap().section, Section::Answer);
    }

    #[test]
    fn compression_pointer_loops_and_bad_labels_end() {
        // Question name is a pointer to itself.
        let mut m = Msg::new(7, 0x0100, [1, 0, 0, 0]).0;
        m.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
        let msg = parse(&m).unwrap();
        assert!(msg.truncated_parse && msg.queries.is_empty());
        assert!(matches!(
            msg.truncation.unwrap().error,
            DnsError::Malformed(_)
        ));
        // Two pointers pointing at each other.
        let mut m = Msg::new(7, 0x0100, [1, 0, 0, 0]).0;
        m.extend_from_slice(&[0xC0, 0x0E, 0xC0, 0x0C, 0, 1, 0, 1]);
        assert!(parse(&m).unwrap().truncated_parse);
        // Pointer beyond the message, and the reserved 0x40 label type.
        for bad in [[0xC0u8, 0xFF], [0x40, 0x01]] {
            let mut m = Msg::new(7, 0x0100, [1, 0, 0, 0]).0;
            m.extend_from_slice(&bad);
            m.extend_from_slice(&[0, 1, 0, 1]);
            assert!(parse(&m).unwrap().truncated_parse);
        }
    }

    #[test]
    fn forward_pointer_and_name_length_limit() {
        // Question name points forward to a name stored after the question.
        let mut m = Msg::new(9, 0x0100, [1, 0, 0, 0]).0;
        m.extend_from_slice(&[0xC0, 18, 0, 1, 0, 1]);
        m.extend(name("fwd.example"));
        let msg = parse(&m).unwrap();
        assert_eq!(msg.queries[0].name, b"fwd.example");
        // 4 labels of 63 = 255 bytes dotted: accepted; 5 labels: refused.
        let l63 = "x".repeat(63);
        let ok = [l63.as_str(); 4].join(".");
        let m = Msg::new(9, 0x0100, [1, 0, 0, 0]).question(&ok, 1);
        assert_eq!(parse(&m.0).unwrap().queries[0].name.len(), 255);
        let long = [l63.as_str(); 5].join(".");
        let m = Msg::new(9, 0x0100, [1, 0, 0, 0]).question(&long, 1);
        let msg = parse(&m.0).unwrap();
        assert_eq!(
            msg.truncation.unwrap().error,
            DnsError::Malformed("name longer than 255 bytes")
        );
        // Root name.
        let m = Msg::new(9, 0x0100, [1, 0, 0, 0]).question("", 2);
        let msg = parse(&m.0).unwrap();
        assert_eq!(msg.queries[0].name, b"");
        assert_eq!(eve_queries(&msg, 3)[0]["rrname"], "");
        assert_eq!(eve_queries(&msg, 3)[0]["tx_id"], 3);
    }

    #[test]
    fn record_types_render_like_suricata() {
        let owner = name("example.com");
        let mut mx = vec![0, 10];
        mx.extend(name("mail.example.com"));
        let mut srv = vec![0, 1, 0, 2, 0x13, 0xC4];
        srv.extend(name("sip.example.com"));
        let mut soa = name("ns.example.com");
        soa.extend(name("admin.example.com"));
        for v in [1u32, 2, 3, 4, 5] {
            soa.extend_from_slice(&v.to_be_bytes());
        }
        let mut v6 = [0u8; 16];
        v6[0] = 0x20;
        v6[1] = 0x01;
        v6[2] = 0x0d;
        v6[3] = 0xb8;
        v6[15] = 1;
        let m = Msg::new(0x1234, 0x8180, [1, 9, 0, 0])
            .question("example.com", 255)
            .record(&owner, RRTYPE_MX, 60, &mx)
            .record(&owner, RRTYPE_TXT, 60, b"\x03one\x03two\x01")
            .record(&owner, RRTYPE_AAAA, 60, &v6)
            .record(&owner, RRTYPE_SRV, 60, &srv)
            .record(&owner, RRTYPE_SOA, 60, &soa)
            .record(&owner, RRTYPE_SSHFP, 60, &[1, 2, 0xAB, 0xCD])
            .record(&owner, RRTYPE_A, 60, &[])
            .record(&owner, 257, 60, &[0, 5, b'i'])
            .record(&owner, RRTYPE_A, 60, &[1, 2, 3]);
        let msg = parse(&m.0).unwrap();
        assert!(!msg.truncated_parse);
        assert_eq!(msg.rdata_error, None);
        assert_eq!(
            msg.answers[0].data,
            RData::Mx {
                preference: 10,
                exchange: b"mail.example.com".to_vec()
            }
        );
        // The trailing partial TXT string is dropped, like Suricata does.
        assert_eq!(
            msg.answers[1].data,
            RData::Txt(vec![b"one".to_vec(), b"two".to_vec()])
        );
        same(
            &eve_answer(&msg),
            r#"{"version":2,"type":"answer","id":4660,"flags":"8180","qr":true,"rd":true,"ra":true,"opcode":0,"rrname":"example.com","rrtype":"ANY","rcode":"NOERROR",
            "answers":[
              {"rrname":"example.com","rrtype":"MX","ttl":60,"rdata":"mail.example.com"},
              {"rrname":"example.com","rrtype":"TXT","ttl":60,"rdata":"one"},
              {"rrname":"example.com","rrtype":"TXT","ttl":60,"rdata":"two"},
              {"rrname":"example.com","rrtype":"AAAA","ttl":60,"rdata":"2001:0db8:0000:0000:0000:0000:0000:0001"},
              {"rrname":"example.com","rrtype":"SRV","ttl":60,"srv":{"priority":1,"weight":2,"port":5060,"name":"sip.example.com"}},
              {"rrname":"example.com","rrtype":"SOA","ttl":60,"soa":{"mname":"ns.example.com","rname":"admin.example.com","serial":1,"refresh":2,"retry":3,"expire":4,"minimum":5}},
              {"rrname":"example.com","rrtype":"SSHFP","ttl":60,"sshfp":{"fingerprint":"ab:cd","algo":1,"type":2}},
              {"rrname":"example.com","rrtype":"257","ttl":60},
              {"rrname":"example.com","rrtype":"A","ttl":60,"rdata":""}],
            "grouped":{"MX":["mail.example.com"],"TXT":["one","two"],"AAAA":["2001:0db8:0000:0000:0000:0000:0000:0001"],
              "SRV":[{"priority":1,"weight":2,"port":5060,"name":"sip.example.com"}],
              "SOA":[{"mname":"ns.example.com","rname":"admin.example.com","serial":1,"refresh":2,"retry":3,"expire":4,"minimum":5}],
              "SSHFP":[{"fingerprint":"ab:cd","algo":1,"type":2}],"A":[""]}}"#,
        );
        // Only detailed, or only grouped.
        let d = eve_answer_formats(&msg, true, false);
        assert!(d.get("answers").is_some() && d.get("grouped").is_none());
        let g = eve_answer_formats(&msg, false, true);
        assert!(g.get("answers").is_none() && g.get("grouped").is_some());
    }

    #[test]
    fn unknown_types_only_still_emit_empty_grouped() {
        let m = Msg::new(5, 0x8180, [1, 1, 0, 0])
            .question("x.test", 64)
            .record(&name("x.test"), 64, 5, &[0, 1, 0]);
        let msg = parse(&m.0).unwrap();
        same(
            &eve_answer(&msg),
            r#"{"version":2,"type":"answer","id":5,"flags":"8180","qr":true,"rd":true,"ra":true,"opcode":0,"rrname":"x.test","rrtype":"64","rcode":"NOERROR","answers":[{"rrname":"x.test","rrtype":"64","ttl":5}],"grouped":{}}"#,
        );
        // Suricata's alert logger skips types outside its table.
        same(&eve_alert_object(&msg, 0), r#"{"version":2}"#);
    }

    #[test]
    fn response_alert_has_header_and_authorities_but_no_answers() {
        let msg = parse(&hex(WU_ANSWER)).unwrap();
        let alert = eve_alert_object(&msg, 1);
        let answer = &alert["answer"];
        assert_eq!(alert["version"], 2);
        assert_eq!(answer["version"], 2);
        assert_eq!(answer["rrname"], "www.download.windowsupdate.com");
        assert!(answer.get("answers").is_none() && answer.get("grouped").is_none());
        assert_eq!(answer["authorities"].as_array().unwrap().len(), 5);
        assert!(alert.get("query").is_none());
        // Seen toward the server instead, it is logged as queries.
        let as_request = eve_alert_object_dir(&msg, 1, true);
        assert_eq!(as_request["query"][0]["tx_id"], 1);
    }

    #[test]
    fn flags_z_opcode_and_rcode_rendering() {
        // opcode 2 (STATUS), Z set, TC set, AA set, rcode 11 (unnamed).
        let flags = 0x8000 | (2 << 11) | 0x0400 | 0x0200 | 0x0040 | 11;
        let m = Msg::new(1, flags, [1, 0, 0, 0]).question("z.test", 1);
        let msg = parse(&m.0).unwrap();
        assert!(msg.z && msg.tc && msg.aa && !msg.rd && !msg.ra);
        assert_eq!((msg.opcode, msg.rcode), (2, 11));
        same(
            &eve_answer(&msg),
            r#"{"version":2,"type":"answer","id":1,"flags":"964b","qr":true,"aa":true,"tc":true,"z":true,"opcode":2,"rrname":"z.test","rrtype":"A","rcode":"11"}"#,
        );
        let flags = 0x0100 | 0x0040;
        let m = Msg::new(2, flags, [1, 0, 0, 0]).question("z.test", 1);
        let msg = parse(&m.0).unwrap();
        same(
            &eve_queries(&msg, 0)[0],
            r#"{"type":"query","id":2,"rrname":"z.test","rrtype":"A","tx_id":0,"z":true,"opcode":0}"#,
        );
        // No questions: Suricata logs no answer event.
        let msg = parse(&Msg::new(3, 0x8180, [0, 0, 0, 0]).0).unwrap();
        assert!(!eve_answer_logged(&msg));
        assert!(eve_answer(&msg).get("rrname").is_none());
    }

    #[test]
    fn names_are_escaped_like_suricata() {
        let mut m = Msg::new(1, 0x0100, [3, 0, 0, 0]).0;
        m.extend_from_slice(&[3, b'a', 0xFF, b'b', 0, 0, 1, 0, 1]);
        m.extend_from_slice(&[2, 0xC3, 0xA9, 0, 0, 1, 0, 1]);
        m.extend_from_slice(&[2, 0x01, b'"', 0, 0, 1, 0, 1]);
        let msg = parse(&m).unwrap();
        assert_eq!(msg.queries[0].name, b"a\xffb");
        let qs = eve_queries(&msg, 0);
        assert_eq!(qs[0]["rrname"], "a\\xffb");
        assert_eq!(qs[1]["rrname"], "é");
        let text = serde_json::to_string(&qs).unwrap();
        assert!(text.contains(r#""rrname":"a\\xffb""#), "{text}");
        assert!(text.contains(r#""rrname":"\u0001\"""#), "{text}");
    }

    #[test]
    fn bad_rdata_is_kept_and_flagged() {
        let owner = name("c.test");
        let m = Msg::new(1, 0x8180, [1, 1, 1, 0])
            .question("c.test", 5)
            .record(&owner, RRTYPE_CNAME, 1, &[0xC0, 0xFF])
            .record(&owner, RRTYPE_DNAME, 1, &[0x05, b'x']);
        let msg = parse(&m.0).unwrap();
        assert!(!msg.truncated_parse);
        assert_eq!(msg.answers[0].data, RData::Other(vec![0xC0, 0xFF]));
        assert_eq!(msg.authorities[0].data, RData::Other(vec![0x05, b'x']));
        assert_eq!(msg.rdata_error, Some(Section::Answer));
        assert!(!msg.suricata_accepts(false));
        let ans = eve_answer(&msg);
        assert!(ans["answers"][0].get("rdata").is_none());
        assert!(ans["authorities"][0].get("rdata").is_none());
    }

    #[test]
    fn rdata_names_end_with_rdata_and_use_pointers() {
        let owner = name("a.test");
        // CNAME data "\x03foo" without terminator ends at the RDATA's end.
        let m = Msg::new(1, 0x8180, [1, 2, 0, 0])
            .question("a.test", 5)
            .record(&owner, RRTYPE_CNAME, 1, b"\x03foo")
            .record(&owner, RRTYPE_PTR, 1, &[3, b'w', b'w', b'w', 0xC0, 12]);
        let msg = parse(&m.0).unwrap();
        assert_eq!(msg.answers[0].data, RData::Name(b"foo".to_vec()));
        assert_eq!(msg.answers[1].data, RData::Name(b"www.a.test".to_vec()));
        assert_eq!(msg.rdata_error, None);
    }

    #[test]
    fn records_beyond_the_section_limit_are_counted_not_kept() {
        let owner = [0xC0u8, 12];
        let mut m = Msg::new(1, 0x8180, [1, 300, 1, 0]).question("many.test", 1);
        for i in 0..300u32 {
            m = m.record(&owner, RRTYPE_A, i, &[10, 0, 0, 1]);
        }
        m = m.record(&owner, RRTYPE_NS, 9, &name("ns.test"));
        let msg = parse(&m.0).unwrap();
        assert!(!msg.truncated_parse);
        assert_eq!(msg.answers.len(), MAX_RECORDS_PER_SECTION);
        assert_eq!(msg.skipped_records, 300 - MAX_RECORDS_PER_SECTION as u32);
        assert_eq!(msg.authorities.len(), 1);
        assert_eq!(msg.answers[255].ttl, 255);
    }

    #[test]
    fn type_and_rcode_names() {
        assert_eq!(rrtype_name(1), "A");
        assert_eq!(rrtype_name(28), "AAAA");
        assert_eq!(rrtype_name(65), "HTTPS");
        assert_eq!(rrtype_name(255), "ANY");
        assert_eq!(rrtype_name(41), "OPT");
        assert_eq!(rrtype_name(35), "NAPTR");
        assert_eq!(rrtype_name(43), "DS");
        assert_eq!(rrtype_name(46), "RRSIG");
        assert_eq!(rrtype_name(60), "CDSNKEY");
        assert_eq!(rrtype_name(64), "64");
        assert_eq!(rrtype_name(257), "257");
        assert_eq!(rrtype_name(0), "0");
        assert_eq!(rcode_name(0), "NOERROR");
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(rcode_name(5), "REFUSED");
        assert_eq!(rcode_name(16), "BADVERS/BADSIG");
        assert_eq!(rcode_name(12), "12");
        assert_eq!(
            DnsError::Malformed("x").to_string(),
            "malformed DNS message: x"
        );
    }

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
    }

    fn render_all(msg: &DnsMessage) -> usize {
        let mut n = serde_json::to_string(&eve_answer(msg)).unwrap().len();
        n += serde_json::to_string(&eve_alert_object(msg, 0))
            .unwrap()
            .len();
        n += eve_query_events(msg, 0).len();
        n
    }

    #[test]
    fn garbage_and_mutated_input_never_panics() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut parsed = 0;
        for i in 0..20_000 {
            let len = (rng.next() % 300) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if i % 2 == 0 && len >= HEADER_LEN {
                // Plausible counts (0..=3 each) so the sections get parsed.
                for c in [4, 6, 8, 10] {
                    buf[c] = 0;
                    buf[c + 1] &= 3;
                }
            }
            match parse(&buf) {
                Ok(msg) => {
                    parsed += 1;
                    assert!(msg.queries.len() <= MAX_RECORDS_PER_SECTION);
                    assert!(msg.queries.iter().all(|q| q.name.len() <= MAX_NAME_LEN));
                    render_all(&msg);
                }
                Err(DnsError::TooShort) => assert!(len < HEADER_LEN),
                Err(DnsError::Malformed(_)) => assert!(len >= HEADER_LEN),
            }
        }
        assert!(parsed > 0);
        // Mutations of real messages reach deeper into the parser.
        let seeds = [hex(WU_ANSWER), hex(PTR_NXDOMAIN), hex(TXT_ANSWER)];
        let mut complete = 0;
        for i in 0..20_000 {
            let mut buf = seeds[i % seeds.len()].clone();
            for _ in 0..1 + rng.next() % 4 {
                let pos = (rng.next() as usize) % buf.len();
                buf[pos] = rng.next() as u8;
            }
            if rng.next().is_multiple_of(4) {
                let keep = (rng.next() as usize) % buf.len();
                buf.truncate(keep);
            }
            if let Ok(msg) = parse(&buf) {
                complete += usize::from(!msg.truncated_parse);
                render_all(&msg);
            }
        }
        assert!(complete > 0);
        // The framer on garbage: output bytes never exceed input bytes.
        let mut f = TcpFramer::new();
        let mut fed = 0;
        let mut out = 0;
        for _ in 0..2_000 {
            let len = (rng.next() % 2_000) as usize;
            let chunk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            fed += chunk.len();
            for frame in f.feed(&chunk) {
                out += frame.len() + 2;
                let _ = parse(&frame).map(|m| render_all(&m));
            }
            assert!(f.buffered() <= TcpFramer::MAX_BUFFERED);
        }
        assert_eq!(out + f.buffered() + 2 * f.errors() as usize, fed);
    }
}
