//! Detection tests as data: pcap + rules → expected events.
//!
//! Every `tests/data/detect/NAME.toml` holds `[[case]]`s. For each case the
//! harness builds a pcap in memory from the case's traffic description
//! (Ethernet + IPv4 frames made with `etherparse`, timestamps from
//! 2025-01-01T00:00:00Z, 1 ms apart), writes it, the rules and an optional
//! `threshold.config` to a temporary directory, runs
//! [`canhgac::sensor::replay::run`] on them (rules must all load: a rule
//! error fails the case), reads `eve.json` and compares what fired with what
//! the case expects. All cases of a file run in one `#[test]`, which reports
//! every failing case (file, case name, expected vs got, the alerts that did
//! fire) before it panics.
//!
//! # Case format (also in `tests/data/detect/README.md`)
//!
//! ```toml
//! [[case]]
//! name = "what this case shows"          # required, unique in the file
//! rules = '''
//! alert tcp any any -> any any (msg:"x"; content:"abc"; sid:1;)
//! '''
//! threshold_config = "suppress gen_id 1, sig_id 1"   # optional
//! sets = ["stream.midstream=true"]       # optional `--set key=value`s
//! simulate_ips = false                   # optional, default false
//! known_bug = "short description"        # optional: see below
//! expect = { "1" = 1, "2" = 0 }          # sid → exact number of alerts
//! expect_events = { http = 1, flow = 1 } # optional: event_type → count
//! expect_blocked = 0                     # optional: alerts with action "blocked"
//!
//! [[case.flow]]                          # traffic, one table per flow, in order
//! proto = "tcp"                          # tcp | udp | icmp
//! client = "10.0.0.1:40000"              # default 10.0.0.1:(40000 + flow index)
//! server = "10.0.0.2:80"                 # default 10.0.0.2:80 (tcp), :53 (udp)
//! handshake = true                       # tcp: SYN, SYN/ACK, ACK first (default)
//! close = "fin"                          # tcp: fin (default) | rst | none
//! delay_ms = 0                           # extra time before the flow starts
//! send = [
//!   { from = "client", data = "GET / HTTP/1.1\r\nHost: a\r\n\r\n" },
//!   { from = "server", hex = "48 54 54 50" },
//! ]
//! ```
//!
//! Every alert must belong to a sid listed in `expect`; a sid listed with 0
//! must not fire. `expect_events` counts only the event types it names.
//!
//! A `send` entry is one message from `from` (`client` or `server`). Its bytes
//! are `data` (TOML string escapes: `\r\n`, `\u0000`) followed by `hex` (hex
//! digits, spaces allowed), or:
//! * `tls_sni = "host"`: a TLS 1.2 ClientHello record carrying that SNI
//!   (JA3 string `771,49199-49200-158,0-10-11,29-23,0`);
//! * `body = "..."`: `data` is then an HTTP start line and headers *without*
//!   the final empty line; the harness adds `Content-Encoding: gzip` when
//!   `gzip = true`, `Transfer-Encoding: chunked` (body sent as two chunks)
//!   when `chunked = true` or else `Content-Length`, the empty line and the
//!   (compressed, chunked) body.
//!
//! Over TCP the message goes out in segments of at most `segment` bytes
//! (default 1400), each followed by a pure ACK from the receiver
//! (`ack = false` leaves the data unacknowledged); sequence and
//! acknowledgement numbers are those of a real connection. `delay_ms` on a
//! send adds time before it. Over UDP each send is one datagram; the flow
//! helpers `dns_query = "name"` (an A query from the client) and
//! `dns_answer = "1.2.3.4"` (the server's answer) come before the sends.
//! ICMP flows send `count` (default 1) packets client → server with
//! `icmp_type` (default 8), `icmp_code`, `icmp_id` and `icmp_seq` (counting
//! up from the given value) and `icmp_data` as payload.
//!
//! # Known bugs
//!
//! A case with `known_bug` documents behaviour that differs from Suricata's.
//! Its expectation is the correct one; the harness runs it, prints whether
//! it still fails, and does not fail the test either way.
//!
//! # Debugging
//!
//! `CANHGAC_DETECT_CASE=text` runs only cases whose name contains `text`;
//! `CANHGAC_DETECT_DUMP=dir` keeps each case's pcap, rules and
//! threshold.config in `dir` (to compare with
//! `suricata -k none -r X.pcap -S X.rules -l OUT`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use canhgac::sensor::replay::{ReplayOptions, run};
use etherparse::PacketBuilder;
use serde::Deserialize;
use serde_json::Value;

/// 2025-01-01T00:00:00Z.
const START_SECS: u64 = 1_735_689_600;
/// Largest TCP segment the harness sends unless a case says otherwise.
const SEGMENT: usize = 1400;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    rules: String,
    threshold_config: Option<String>,
    #[serde(default)]
    sets: Vec<String>,
    #[serde(default)]
    simulate_ips: bool,
    #[serde(default)]
    flow: Vec<FlowSpec>,
    expect: BTreeMap<String, usize>,
    #[serde(default)]
    expect_events: BTreeMap<String, usize>,
    expect_blocked: Option<usize>,
    known_bug: Option<String>,
    /// `--yara` arguments (`bundled` or rule files under tests/data).
    #[serde(default)]
    yara: Vec<String>,
    /// YARA rule name → exact number of YARA alerts (gid 3).
    #[serde(default)]
    expect_yara: BTreeMap<String, usize>,
    /// Values some event of a type must carry.
    #[serde(default)]
    expect_json: Vec<JsonCheck>,
}

/// `{ event_type = "smtp", pointer = "/email/subject", value = "…" }`:
/// at least one event of that type has `value` at the JSON pointer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCheck {
    event_type: String,
    pointer: String,
    value: Value,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Proto {
    Tcp,
    Udp,
    Icmp,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Close {
    #[default]
    Fin,
    Rst,
    None,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Peer {
    Client,
    Server,
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

fn echo_request() -> u8 {
    8
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowSpec {
    proto: Proto,
    client: Option<String>,
    server: Option<String>,
    #[serde(default = "yes")]
    handshake: bool,
    #[serde(default)]
    close: Close,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    send: Vec<Message>,
    dns_query: Option<String>,
    dns_answer: Option<String>,
    #[serde(default = "echo_request")]
    icmp_type: u8,
    #[serde(default)]
    icmp_code: u8,
    #[serde(default)]
    icmp_id: u16,
    #[serde(default)]
    icmp_seq: u16,
    #[serde(default)]
    icmp_data: String,
    #[serde(default = "one")]
    count: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Message {
    from: Peer,
    data: Option<String>,
    hex: Option<String>,
    tls_sni: Option<String>,
    body: Option<String>,
    #[serde(default)]
    gzip: bool,
    #[serde(default)]
    chunked: bool,
    segment: Option<usize>,
    #[serde(default = "yes")]
    ack: bool,
    #[serde(default)]
    delay_ms: u64,
}

// ---------------------------------------------------------------- pcap

/// A pcap file being built: records with a clock that moves 1 ms a packet.
struct Pcap {
    buf: Vec<u8>,
    now_us: u64,
}

impl Pcap {
    fn new() -> Self {
        let mut buf = Vec::new();
        buf.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        buf.extend_from_slice(&2u16.to_le_bytes());
        buf.extend_from_slice(&4u16.to_le_bytes());
        buf.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        buf.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        buf.extend_from_slice(&65_535u32.to_le_bytes()); // snaplen
        buf.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        Pcap { buf, now_us: 0 }
    }

    fn record(&mut self, frame: &[u8]) {
        let secs = START_SECS + self.now_us / 1_000_000;
        let usecs = self.now_us % 1_000_000;
        let len = u32::try_from(frame.len()).expect("frame fits a pcap record");
        self.buf
            .extend_from_slice(&u32::try_from(secs).unwrap().to_le_bytes());
        self.buf
            .extend_from_slice(&u32::try_from(usecs).unwrap().to_le_bytes());
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(frame);
        self.now_us += 1_000;
    }

    fn wait_ms(&mut self, ms: u64) {
        self.now_us += ms * 1_000;
    }
}

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

type Endpoint = (Ipv4Addr, u16);

fn macs(from: Peer) -> ([u8; 6], [u8; 6]) {
    match from {
        Peer::Client => (CLIENT_MAC, SERVER_MAC),
        Peer::Server => (SERVER_MAC, CLIENT_MAC),
    }
}

/// TCP flag set of one segment.
#[derive(Clone, Copy, Default)]
struct Flags {
    syn: bool,
    ack: bool,
    psh: bool,
    fin: bool,
    rst: bool,
}

fn tcp_frame(
    from: Peer,
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    ack: u32,
    f: Flags,
    payload: &[u8],
) -> Vec<u8> {
    let (smac, dmac) = macs(from);
    let mut b = PacketBuilder::ethernet2(smac, dmac)
        .ipv4(src.0.octets(), dst.0.octets(), 64)
        .tcp(src.1, dst.1, seq, 64_240);
    if f.syn {
        b = b.syn();
    }
    if f.ack {
        b = b.ack(ack);
    }
    if f.psh {
        b = b.psh();
    }
    if f.fin {
        b = b.fin();
    }
    if f.rst {
        b = b.rst();
    }
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).expect("tcp frame");
    out
}

fn udp_frame(from: Peer, src: Endpoint, dst: Endpoint, payload: &[u8]) -> Vec<u8> {
    let (smac, dmac) = macs(from);
    let b = PacketBuilder::ethernet2(smac, dmac)
        .ipv4(src.0.octets(), dst.0.octets(), 64)
        .udp(src.1, dst.1);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).expect("udp frame");
    out
}

fn icmp_frame(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    t: u8,
    code: u8,
    rest: [u8; 4],
    data: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ipv4(src.octets(), dst.octets(), 64)
        .icmpv4_raw(t, code, rest);
    let mut out = Vec::with_capacity(b.size(data.len()));
    b.write(&mut out, data).expect("icmp frame");
    out
}

// ------------------------------------------------------------ payloads

fn parse_endpoint(s: &str, default_port: u16) -> Result<Endpoint, String> {
    let (ip, port) = match s.split_once(':') {
        Some((ip, port)) => (
            ip,
            port.parse::<u16>()
                .map_err(|_| format!("bad port in `{s}`"))?,
        ),
        None => (s, default_port),
    };
    let ip = ip
        .parse::<Ipv4Addr>()
        .map_err(|_| format!("bad IPv4 address in `{s}`"))?;
    Ok((ip, port))
}

fn be16(n: usize) -> [u8; 2] {
    u16::try_from(n).expect("fits u16").to_be_bytes()
}

/// A minimal, valid TLS 1.2 ClientHello record with an SNI.
fn client_hello(sni: &str) -> Vec<u8> {
    fn ext(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&be16(body.len()));
        out.extend_from_slice(body);
    }
    let name = sni.as_bytes();
    let mut server_name = Vec::new();
    server_name.extend_from_slice(&be16(name.len() + 3));
    server_name.push(0); // host_name
    server_name.extend_from_slice(&be16(name.len()));
    server_name.extend_from_slice(name);
    let mut exts = Vec::new();
    ext(&mut exts, 0, &server_name);
    ext(&mut exts, 10, &[0, 4, 0x00, 0x1d, 0x00, 0x17]); // x25519, secp256r1
    ext(&mut exts, 11, &[1, 0]); // uncompressed points

    let mut hello = vec![3, 3]; // TLS 1.2
    hello.extend_from_slice(&[0x5a; 32]); // random
    hello.push(0); // no session id
    hello.extend_from_slice(&[0, 6, 0xc0, 0x2f, 0xc0, 0x30, 0x00, 0x9e]);
    hello.extend_from_slice(&[1, 0]); // compression: null
    hello.extend_from_slice(&be16(exts.len()));
    hello.extend_from_slice(&exts);

    let mut hs = vec![1]; // ClientHello
    let len = u32::try_from(hello.len()).unwrap().to_be_bytes();
    hs.extend_from_slice(&len[1..]);
    hs.extend_from_slice(&hello);

    let mut record = vec![0x16, 3, 1];
    record.extend_from_slice(&be16(hs.len()));
    record.extend_from_slice(&hs);
    record
}

fn dns_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.') {
        out.push(u8::try_from(label.len()).expect("label fits"));
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// A DNS A query (recursion desired), or its answer when `answer` is set.
fn dns_message(id: u16, name: &str, answer: Option<Ipv4Addr>) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    let flags: u16 = if answer.is_some() { 0x8180 } else { 0x0100 };
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, u8::from(answer.is_some()), 0, 0, 0, 0]);
    dns_name(&mut m, name);
    m.extend_from_slice(&[0, 1, 0, 1]); // A, IN
    if let Some(ip) = answer {
        m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        m.extend_from_slice(&300u32.to_be_bytes());
        m.extend_from_slice(&[0, 4]);
        m.extend_from_slice(&ip.octets());
    }
    m
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

/// The bytes of one `send` entry.
fn payload(s: &Message) -> Result<Vec<u8>, String> {
    if let Some(sni) = &s.tls_sni {
        if s.data.is_some() || s.hex.is_some() || s.body.is_some() {
            return Err("`tls_sni` cannot be combined with data, hex or body".into());
        }
        return Ok(client_hello(sni));
    }
    let mut out = s.data.clone().unwrap_or_default().into_bytes();
    if let Some(h) = &s.hex {
        let clean: String = h.chars().filter(|c| !c.is_whitespace()).collect();
        out.extend(hex::decode(&clean).map_err(|e| format!("bad hex `{h}`: {e}"))?);
    }
    if let Some(body) = &s.body {
        let mut body = body.clone().into_bytes();
        if s.gzip {
            body = gzip(&body);
            out.extend_from_slice(b"Content-Encoding: gzip\r\n");
        }
        if s.chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let (a, b) = body.split_at(body.len() / 2);
            for chunk in [a, b] {
                if !chunk.is_empty() {
                    out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                }
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            out.extend_from_slice(&body);
        }
    } else if s.gzip || s.chunked {
        return Err("`gzip` and `chunked` need a `body`".into());
    }
    Ok(out)
}

// ------------------------------------------------------------- traffic

fn write_flow(pcap: &mut Pcap, idx: usize, f: &FlowSpec) -> Result<(), String> {
    pcap.wait_ms(f.delay_ms);
    let client_port = u16::try_from(40_000 + idx).unwrap_or(40_000);
    let client = parse_endpoint(
        f.client
            .as_deref()
            .unwrap_or(&format!("10.0.0.1:{client_port}")),
        client_port,
    )?;
    let server_default = if f.proto == Proto::Udp { 53 } else { 80 };
    let server = parse_endpoint(
        f.server
            .as_deref()
            .unwrap_or(&format!("10.0.0.2:{server_default}")),
        server_default,
    )?;
    match f.proto {
        Proto::Tcp => write_tcp(pcap, idx, f, client, server),
        Proto::Udp => write_udp(pcap, idx, f, client, server),
        Proto::Icmp => {
            if !f.send.is_empty() {
                return Err("icmp flows take icmp_data, not send".into());
            }
            for i in 0..f.count {
                let seq = f.icmp_seq.wrapping_add(u16::try_from(i).unwrap_or(0));
                let mut rest = [0u8; 4];
                rest[..2].copy_from_slice(&f.icmp_id.to_be_bytes());
                rest[2..].copy_from_slice(&seq.to_be_bytes());
                let frame = icmp_frame(
                    client.0,
                    server.0,
                    f.icmp_type,
                    f.icmp_code,
                    rest,
                    f.icmp_data.as_bytes(),
                );
                pcap.record(&frame);
            }
            Ok(())
        }
    }
}

fn write_udp(
    pcap: &mut Pcap,
    idx: usize,
    f: &FlowSpec,
    client: Endpoint,
    server: Endpoint,
) -> Result<(), String> {
    let id = 0x1000 + u16::try_from(idx).unwrap_or(0);
    if let Some(q) = &f.dns_query {
        pcap.record(&udp_frame(
            Peer::Client,
            client,
            server,
            &dns_message(id, q, None),
        ));
        if let Some(a) = &f.dns_answer {
            let ip = a
                .parse::<Ipv4Addr>()
                .map_err(|_| format!("bad dns_answer `{a}`"))?;
            pcap.record(&udp_frame(
                Peer::Server,
                server,
                client,
                &dns_message(id, q, Some(ip)),
            ));
        }
    } else if f.dns_answer.is_some() {
        return Err("`dns_answer` needs a `dns_query`".into());
    }
    for s in &f.send {
        pcap.wait_ms(s.delay_ms);
        let data = payload(s)?;
        let frame = match s.from {
            Peer::Client => udp_frame(Peer::Client, client, server, &data),
            Peer::Server => udp_frame(Peer::Server, server, client, &data),
        };
        pcap.record(&frame);
    }
    Ok(())
}

fn write_tcp(
    pcap: &mut Pcap,
    idx: usize,
    f: &FlowSpec,
    client: Endpoint,
    server: Endpoint,
) -> Result<(), String> {
    let step = u32::try_from(idx).unwrap_or(0).wrapping_mul(0x0101_0101);
    // next sequence number each side sends
    let mut cseq: u32 = 0x1000_0000u32.wrapping_add(step);
    let mut sseq: u32 = 0x6000_0000u32.wrapping_add(step);
    let ack_only = Flags {
        ack: true,
        ..Flags::default()
    };
    if f.handshake {
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        pcap.record(&tcp_frame(Peer::Client, client, server, cseq, 0, syn, &[]));
        cseq = cseq.wrapping_add(1);
        let syn_ack = Flags {
            syn: true,
            ack: true,
            ..Flags::default()
        };
        pcap.record(&tcp_frame(
            Peer::Server,
            server,
            client,
            sseq,
            cseq,
            syn_ack,
            &[],
        ));
        sseq = sseq.wrapping_add(1);
        pcap.record(&tcp_frame(
            Peer::Client,
            client,
            server,
            cseq,
            sseq,
            ack_only,
            &[],
        ));
    } else {
        cseq = cseq.wrapping_add(1);
        sseq = sseq.wrapping_add(1);
    }
    for s in &f.send {
        pcap.wait_ms(s.delay_ms);
        let data = payload(s)?;
        let size = s.segment.unwrap_or(SEGMENT).max(1);
        for chunk in data.chunks(size) {
            let len = u32::try_from(chunk.len()).unwrap();
            let psh_ack = Flags {
                ack: true,
                psh: true,
                ..Flags::default()
            };
            match s.from {
                Peer::Client => {
                    pcap.record(&tcp_frame(
                        Peer::Client,
                        client,
                        server,
                        cseq,
                        sseq,
                        psh_ack,
                        chunk,
                    ));
                    cseq = cseq.wrapping_add(len);
                    if s.ack {
                        pcap.record(&tcp_frame(
                            Peer::Server,
                            server,
                            client,
                            sseq,
                            cseq,
                            ack_only,
                            &[],
                        ));
                    }
                }
                Peer::Server => {
                    pcap.record(&tcp_frame(
                        Peer::Server,
                        server,
                        client,
                        sseq,
                        cseq,
                        psh_ack,
                        chunk,
                    ));
                    sseq = sseq.wrapping_add(len);
                    if s.ack {
                        pcap.record(&tcp_frame(
                            Peer::Client,
                            client,
                            server,
                            cseq,
                            sseq,
                            ack_only,
                            &[],
                        ));
                    }
                }
            }
        }
    }
    match f.close {
        Close::Fin => {
            let fin_ack = Flags {
                fin: true,
                ack: true,
                ..Flags::default()
            };
            pcap.record(&tcp_frame(
                Peer::Client,
                client,
                server,
                cseq,
                sseq,
                fin_ack,
                &[],
            ));
            cseq = cseq.wrapping_add(1);
            pcap.record(&tcp_frame(
                Peer::Server,
                server,
                client,
                sseq,
                cseq,
                fin_ack,
                &[],
            ));
            sseq = sseq.wrapping_add(1);
            pcap.record(&tcp_frame(
                Peer::Client,
                client,
                server,
                cseq,
                sseq,
                ack_only,
                &[],
            ));
        }
        Close::Rst => {
            let rst_ack = Flags {
                rst: true,
                ack: true,
                ..Flags::default()
            };
            pcap.record(&tcp_frame(
                Peer::Client,
                client,
                server,
                cseq,
                sseq,
                rst_ack,
                &[],
            ));
        }
        Close::None => {}
    }
    Ok(())
}

// ------------------------------------------------------------- running

/// What one replay produced.
struct Outcome {
    /// (sid, msg, action, direction, pcap_cnt)
    alerts: Vec<(u64, String, String, String, Option<u64>)>,
    events: BTreeMap<String, usize>,
    /// YARA rule → alerts.
    yara: BTreeMap<String, usize>,
    all: Vec<Value>,
}

fn replay(case: &Case, dump: Option<(&Path, &str)>) -> Result<Outcome, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut pcap = Pcap::new();
    for (i, f) in case.flow.iter().enumerate() {
        write_flow(&mut pcap, i, f).map_err(|e| format!("flow {}: {e}", i + 1))?;
    }
    let pcap_path = dir.path().join("case.pcap");
    let rules_path = dir.path().join("case.rules");
    std::fs::write(&pcap_path, &pcap.buf).map_err(|e| e.to_string())?;
    std::fs::write(&rules_path, &case.rules).map_err(|e| e.to_string())?;
    let mut sets = Vec::new();
    for s in &case.sets {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("`sets` entry `{s}` is not key=value"))?;
        sets.push((k.trim().to_string(), v.trim().to_string()));
    }
    let threshold_path = dir.path().join("threshold.config");
    if let Some(tc) = &case.threshold_config {
        std::fs::write(&threshold_path, tc).map_err(|e| e.to_string())?;
        sets.push((
            "threshold-file".into(),
            threshold_path.display().to_string(),
        ));
    }
    if let Some((ddir, stem)) = dump {
        std::fs::create_dir_all(ddir).map_err(|e| e.to_string())?;
        let _ = std::fs::copy(&pcap_path, ddir.join(format!("{stem}.pcap")));
        let _ = std::fs::copy(&rules_path, ddir.join(format!("{stem}.rules")));
        if case.threshold_config.is_some() {
            let _ = std::fs::copy(&threshold_path, ddir.join(format!("{stem}.threshold")));
        }
    }
    let outdir = dir.path().join("out");
    let opts = ReplayOptions {
        pcaps: vec![pcap_path],
        rule_files: vec![rules_path],
        outdir: outdir.clone(),
        sets,
        simulate_ips: case.simulate_ips,
        init_errors_fatal: true,
        yara: case
            .yara
            .iter()
            .map(|y| {
                if y == "bundled" {
                    PathBuf::from(y)
                } else {
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("tests/data")
                        .join(y)
                }
            })
            .collect(),
        logs: Vec::new(),
        sigma: Vec::new(),
        sigma_mapping: None,
        alerts_only: false,
    };
    run(&opts).map_err(|e| format!("replay failed: {e}"))?;
    let eve = std::fs::read_to_string(outdir.join("eve.json")).map_err(|e| e.to_string())?;
    let mut out = Outcome {
        alerts: Vec::new(),
        events: BTreeMap::new(),
        yara: BTreeMap::new(),
        all: Vec::new(),
    };
    let mut ids = std::collections::HashSet::new();
    for line in eve.lines() {
        let ev: Value = serde_json::from_str(line).map_err(|e| format!("eve.json: {e}"))?;
        let kind = ev["event_type"].as_str().unwrap_or("?").to_string();
        // central drops a repeated event_id as a redelivery
        if let Some(id) = ev["event_id"].as_str()
            && !ids.insert(id.to_string())
        {
            return Err(format!("event_id {id} is used twice: {line}"));
        }
        if kind == "alert" && ev["alert"]["gid"] == 3 {
            let rule = ev["yara"].as_str().unwrap_or("?").to_string();
            *out.yara.entry(rule).or_insert(0) += 1;
        } else if kind == "alert" {
            let a = &ev["alert"];
            out.alerts.push((
                a["signature_id"].as_u64().unwrap_or(0),
                a["signature"].as_str().unwrap_or("").to_string(),
                a["action"].as_str().unwrap_or("").to_string(),
                ev["direction"].as_str().unwrap_or("").to_string(),
                ev["pcap_cnt"].as_u64(),
            ));
        }
        *out.events.entry(kind).or_insert(0) += 1;
        out.all.push(ev);
    }
    Ok(out)
}

/// Differences between what the case expects and what happened.
fn mismatches(case: &Case, got: &Outcome) -> Result<Vec<String>, String> {
    let mut bad = Vec::new();
    let mut expected: BTreeMap<u64, usize> = BTreeMap::new();
    for (k, v) in &case.expect {
        let sid = k
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("`expect` key `{k}` is not a sid"))?;
        expected.insert(sid, *v);
    }
    let mut fired: BTreeMap<u64, usize> = BTreeMap::new();
    for a in &got.alerts {
        *fired.entry(a.0).or_insert(0) += 1;
    }
    for (sid, want) in &expected {
        let n = fired.get(sid).copied().unwrap_or(0);
        if n != *want {
            bad.push(format!("sid {sid}: expected {want} alert(s), got {n}"));
        }
    }
    for (sid, n) in &fired {
        if !expected.contains_key(sid) {
            bad.push(format!(
                "sid {sid}: not in `expect` but alerted {n} time(s)"
            ));
        }
    }
    for (kind, want) in &case.expect_events {
        let n = got.events.get(kind).copied().unwrap_or(0);
        if n != *want {
            bad.push(format!(
                "event_type {kind}: expected {want} event(s), got {n}"
            ));
        }
    }
    for (rule, want) in &case.expect_yara {
        let n = got.yara.get(rule).copied().unwrap_or(0);
        if n != *want {
            bad.push(format!("YARA {rule}: expected {want} alert(s), got {n}"));
        }
    }
    for (rule, n) in &got.yara {
        if !case.expect_yara.contains_key(rule) {
            bad.push(format!(
                "YARA {rule}: not in `expect_yara` but alerted {n} time(s)"
            ));
        }
    }
    for c in &case.expect_json {
        let found = got
            .all
            .iter()
            .filter(|e| e["event_type"] == c.event_type.as_str())
            .any(|e| e.pointer(&c.pointer) == Some(&c.value));
        if !found {
            bad.push(format!(
                "no {} event has {} = {}",
                c.event_type, c.pointer, c.value
            ));
        }
    }
    if let Some(want) = case.expect_blocked {
        let n = got.alerts.iter().filter(|a| a.2 == "blocked").count();
        if n != want {
            bad.push(format!("blocked alerts: expected {want}, got {n}"));
        }
    }
    Ok(bad)
}

fn describe(got: &Outcome) -> String {
    let mut s = String::new();
    if got.alerts.is_empty() {
        s.push_str("    alerts that fired: none\n");
    } else {
        s.push_str("    alerts that fired:\n");
        for (sid, msg, action, dir, cnt) in &got.alerts {
            let at = cnt.map_or("flow end".to_string(), |c| format!("packet {c}"));
            s.push_str(&format!(
                "      sid {sid} \"{msg}\" {action} {dir} at {at}\n"
            ));
        }
    }
    s.push_str(&format!("    events: {:?}\n", got.events));
    if !got.yara.is_empty() {
        s.push_str(&format!("    YARA alerts: {:?}\n", got.yara));
    }
    if std::env::var_os("CANHGAC_DETECT_EVE").is_some() {
        for e in &got.all {
            s.push_str(&format!("    {e}\n"));
        }
    }
    s
}

/// Runs every case of one data file; panics listing all failing cases.
fn run_file(stem: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/detect")
        .join(format!("{stem}.toml"));
    let shown = format!("tests/data/detect/{stem}.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{shown}: {e}"));
    let file: CaseFile = toml::from_str(&text).unwrap_or_else(|e| panic!("{shown}: {e}"));
    let only = std::env::var("CANHGAC_DETECT_CASE").ok();
    let dump = std::env::var_os("CANHGAC_DETECT_DUMP").map(PathBuf::from);
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    let mut ran = 0;
    for (i, case) in file.case.iter().enumerate() {
        assert!(
            names.insert(case.name.as_str()),
            "{shown}: case name \"{}\" is used twice",
            case.name
        );
        if only.as_deref().is_some_and(|o| !case.name.contains(o)) {
            continue;
        }
        ran += 1;
        let stem_i = format!("{stem}-{:02}", i + 1);
        let result = replay(case, dump.as_deref().map(|d| (d, stem_i.as_str())))
            .and_then(|got| mismatches(case, &got).map(|bad| (got, bad)));
        let header = format!("{shown}: case \"{}\"", case.name);
        match (result, &case.known_bug) {
            (Err(e), _) => failures.push(format!("{header}:\n    {e}\n")),
            (Ok((got, bad)), Some(bug)) => {
                if bad.is_empty() {
                    eprintln!(
                        "{header}: marked known_bug ({bug}) but now behaves as expected; remove `known_bug`"
                    );
                } else {
                    eprintln!(
                        "{header}: known bug ({bug}), still failing:\n    {}\n{}",
                        bad.join("\n    "),
                        describe(&got)
                    );
                }
            }
            (Ok((_, bad)), None) if bad.is_empty() => {}
            (Ok((got, bad)), None) => failures.push(format!(
                "{header}:\n    {}\n{}",
                bad.join("\n    "),
                describe(&got)
            )),
        }
    }
    assert!(
        ran > 0 || only.is_some(),
        "{shown}: no cases; a data file must hold at least one [[case]]"
    );
    assert!(
        failures.is_empty(),
        "{} of {ran} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The data files; each gets a test of its own name.
macro_rules! case_files {
    ($($stem:ident),* $(,)?) => {
        const FILES: &[&str] = &[$(stringify!($stem)),*];
        $(
            #[test]
            fn $stem() {
                run_file(stringify!($stem));
            }
        )*
    };
}

case_files!(
    content,
    pcre,
    byte,
    flow,
    flowbits,
    threshold,
    icmp,
    http,
    dns_tls_ssh,
    files,
);

#[test]
fn every_data_file_has_a_test() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/detect");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    found.sort();
    let mut listed: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        found, listed,
        "every tests/data/detect/*.toml needs an entry in case_files!()"
    );
}

#[test]
fn client_hello_is_well_formed() {
    let r = client_hello("host.example");
    assert_eq!(&r[..3], &[0x16, 3, 1]);
    assert_eq!(usize::from(u16::from_be_bytes([r[3], r[4]])), r.len() - 5);
    let hs_len = u32::from_be_bytes([0, r[6], r[7], r[8]]) as usize;
    assert_eq!(hs_len, r.len() - 9);
    assert!(r.windows(12).any(|w| w == b"host.example"));
}
