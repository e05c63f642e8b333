//! Decoding Ethernet/VLAN/IPv4/IPv6/TCP/UDP/ICMP with `etherparse`.
//!
//! [`decode`] returns a [`Decoded`] view that borrows the capture buffer:
//! addresses, ports, protocol and the transport payload, with no copy.
//! A packet that does not decode is not an error for the sensor — it is
//! counted ([`DecodeOutcome`]) and skipped, as Suricata's decoder does.

use std::net::IpAddr;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

use crate::capture::{LinkType, RawPacket};

pub mod defrag;

/// Transport protocol of a decoded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// Another IP protocol number (payload is the IP payload).
    Other(u8),
}

impl Proto {
    /// The name EVE uses in `proto`.
    pub fn eve_name(self) -> String {
        match self {
            Proto::Tcp => "TCP".into(),
            Proto::Udp => "UDP".into(),
            Proto::Icmp => "ICMP".into(),
            Proto::Icmpv6 => "IPv6-ICMP".into(),
            Proto::Other(n) => format!("{n:03}"),
        }
    }
}

/// TCP flags of interest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    /// All flag bits as on the wire (FIN=0x01 … CWR=0x80).
    pub bits: u8,
}

/// ICMP fields used by rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IcmpInfo {
    pub icmp_type: u8,
    pub code: u8,
    /// Identifier and sequence of echo request/reply.
    pub id: Option<u16>,
    pub seq: Option<u16>,
}

/// A decoded IP packet, borrowing the capture buffer.
#[derive(Debug, Clone, Copy)]
pub struct Decoded<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: Proto,
    /// 0 for protocols without ports.
    pub sport: u16,
    pub dport: u16,
    pub tcp_flags: TcpFlags,
    pub tcp_seq: u32,
    pub tcp_ack: u32,
    /// The SYN carries a TCP Fast Open option (kind 34).
    pub tcp_fastopen: bool,
    /// TCP timestamp option: (TSval, TSecr).
    pub tcp_ts: Option<(u32, u32)>,
    pub icmp: Option<IcmpInfo>,
    /// IP protocol number (next header for IPv6).
    pub ip_proto: u8,
    pub ttl: u8,
    /// IP total length (IPv6: payload length + 40), type of service, id.
    pub ip_len: u16,
    pub tos: u8,
    pub ip_id: u16,
    pub tcp_window: u16,
    /// The IP packet is a fragment (payload incomplete).
    pub fragment: bool,
    /// The whole IPv4 packet (header and payload) of a fragment, for
    /// reassembly; empty otherwise.
    pub ip_packet: &'a [u8],
    /// VLAN ids, outer first.
    vlans: [u16; 2],
    n_vlans: u8,
    /// Transport payload (TCP/UDP data, ICMP body, or IP payload).
    pub payload: &'a [u8],
}

impl Decoded<'_> {
    /// VLAN ids of the packet, outer first.
    pub fn vlan_ids(&self) -> &[u16] {
        &self.vlans[..usize::from(self.n_vlans).min(2)]
    }
}

/// Why a packet was not decoded to IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeOutcome {
    /// Not IP (ARP, STP, …): normal, counted apart from errors.
    NotIp,
    /// Link type we do not decode.
    UnsupportedLink(i32),
    /// Malformed: what etherparse said.
    Invalid(String),
}

/// Decodes a raw packet down to its transport payload.
///
/// # Errors
/// [`DecodeOutcome`] saying why the packet is not an IP packet we can use.
pub fn decode<'a>(pkt: &RawPacket<'a>) -> Result<Decoded<'a>, DecodeOutcome> {
    let sliced = match pkt.link {
        LinkType::Ethernet => SlicedPacket::from_ethernet(pkt.data),
        LinkType::Raw => SlicedPacket::from_ip(pkt.data),
        LinkType::LinuxSll => SlicedPacket::from_linux_sll(pkt.data),
        LinkType::Null => {
            if pkt.data.len() < 4 {
                return Err(DecodeOutcome::Invalid("loopback header truncated".into()));
            }
            SlicedPacket::from_ip(&pkt.data[4..])
        }
        LinkType::Other(n) => return Err(DecodeOutcome::UnsupportedLink(n)),
    }
    .map_err(|e| DecodeOutcome::Invalid(e.to_string()))?;

    let ip_len: u16;
    let tos: u8;
    let mut ip_id = 0u16;
    let (src, dst, ip_payload, ip_number, ttl, fragment) = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => {
            let h = v4.header();
            ip_len = h.total_len();
            tos = h.slice().get(1).copied().unwrap_or(0);
            ip_id = h.identification();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                v4.payload().payload,
                v4.payload().ip_number.0,
                h.ttl(),
                v4.payload().fragmented,
            )
        }
        Some(NetSlice::Ipv6(v6)) => {
            let h = v6.header();
            ip_len = h.payload_length().saturating_add(40);
            tos = h.traffic_class();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                v6.payload().payload,
                v6.payload().ip_number.0,
                h.hop_limit(),
                v6.payload().fragmented,
            )
        }
        Some(NetSlice::Arp(_)) | None => return Err(DecodeOutcome::NotIp),
    };
    let mut ip_packet: &[u8] = &[];
    if fragment && let Some(NetSlice::Ipv4(v4)) = &sliced.net {
        // where the IP header starts in the frame (address arithmetic only)
        let off = (v4.header().slice().as_ptr() as usize).wrapping_sub(pkt.data.as_ptr() as usize);
        let total = usize::from(v4.header().total_len());
        if let Some(p) = pkt.data.get(off..off.saturating_add(total)) {
            ip_packet = p;
        }
    }
    let mut vlans = [0u16; 2];
    let mut n_vlans = 0u8;
    for ext in &sliced.link_exts {
        if let etherparse::LinkExtSlice::Vlan(v) = ext
            && usize::from(n_vlans) < vlans.len()
        {
            vlans[usize::from(n_vlans)] = v.vlan_identifier().value();
            n_vlans += 1;
        }
    }

    let mut d = Decoded {
        src,
        dst,
        proto: Proto::Other(ip_number),
        sport: 0,
        dport: 0,
        tcp_flags: TcpFlags::default(),
        tcp_seq: 0,
        tcp_ack: 0,
        tcp_fastopen: false,
        tcp_ts: None,
        icmp: None,
        ip_proto: ip_number,
        ip_packet,
        ttl,
        ip_len,
        tos,
        ip_id,
        tcp_window: 0,
        fragment,
        vlans,
        n_vlans,
        payload: ip_payload,
    };
    match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => {
            d.proto = Proto::Tcp;
            d.sport = t.source_port();
            d.dport = t.destination_port();
            d.tcp_flags = TcpFlags {
                syn: t.syn(),
                ack: t.ack(),
                fin: t.fin(),
                rst: t.rst(),
                bits: t.slice().get(13).copied().unwrap_or(0),
            };
            d.tcp_seq = t.sequence_number();
            d.tcp_window = t.window_size();
            d.tcp_fastopen = t.syn() && has_tcp_option(t.options(), 34);
            d.tcp_ts = tcp_timestamp(t.options());
            d.tcp_ack = t.acknowledgment_number();
            d.payload = t.payload();
        }
        Some(TransportSlice::Udp(u)) => {
            d.proto = Proto::Udp;
            d.sport = u.source_port();
            d.dport = u.destination_port();
            d.payload = u.payload();
        }
        Some(TransportSlice::Icmpv4(i)) => {
            d.proto = Proto::Icmp;
            d.payload = i.payload();
            let hdr = i.slice();
            let echo = matches!(i.type_u8(), 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18);
            d.icmp = Some(icmp_info(i.type_u8(), i.code_u8(), hdr, echo));
        }
        Some(TransportSlice::Icmpv6(i)) => {
            d.proto = Proto::Icmpv6;
            d.payload = i.payload();
            let hdr = i.slice();
            let echo = matches!(i.type_u8(), 128 | 129);
            d.icmp = Some(icmp_info(i.type_u8(), i.code_u8(), hdr, echo));
        }
        Some(TransportSlice::Igmp(_)) | None => {}
    }
    Ok(d)
}

/// The TCP timestamp option (kind 8), if present and well formed.
fn tcp_timestamp(opts: &[u8]) -> Option<(u32, u32)> {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => return None,
            1 => i += 1,
            k => {
                let len = opts.get(i + 1).copied().unwrap_or(0) as usize;
                if len < 2 {
                    return None;
                }
                if k == 8 && len == 10 {
                    let b = opts.get(i + 2..i + 10)?;
                    return Some((
                        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                        u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                    ));
                }
                i += len;
            }
        }
    }
    None
}

/// Whether TCP options contain an option of `kind`.
fn has_tcp_option(opts: &[u8], kind: u8) -> bool {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => return false,
            1 => i += 1,
            k => {
                if k == kind {
                    return true;
                }
                let len = opts.get(i + 1).copied().unwrap_or(0) as usize;
                if len < 2 {
                    return false;
                }
                i += len;
            }
        }
    }
    false
}

fn icmp_info(icmp_type: u8, code: u8, hdr: &[u8], echo: bool) -> IcmpInfo {
    let word =
        |at: usize| -> Option<u16> { Some(u16::from_be_bytes([*hdr.get(at)?, *hdr.get(at + 1)?])) };
    IcmpInfo {
        icmp_type,
        code,
        id: if echo { word(4) } else { None },
        seq: if echo { word(6) } else { None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_frame(payload: &[u8]) -> Vec<u8> {
        let builder = etherparse::PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(5353, 53);
        let mut out = Vec::new();
        builder.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn decodes_udp_over_ethernet() {
        let frame = udp_frame(b"hello");
        let raw = RawPacket {
            ts_micros: 0,
            link: LinkType::Ethernet,
            data: &frame,
        };
        let d = decode(&raw).unwrap();
        assert_eq!(d.proto, Proto::Udp);
        assert_eq!((d.sport, d.dport), (5353, 53));
        assert_eq!(d.payload, b"hello");
        assert_eq!(d.src, "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn truncated_frame_is_invalid_not_a_panic() {
        let frame = udp_frame(b"hello");
        for cut in 0..frame.len() {
            let raw = RawPacket {
                ts_micros: 0,
                link: LinkType::Ethernet,
                data: &frame[..cut],
            };
            let _ = decode(&raw);
        }
        let raw = RawPacket {
            ts_micros: 0,
            link: LinkType::Ethernet,
            data: &frame[..20],
        };
        assert!(matches!(decode(&raw), Err(DecodeOutcome::Invalid(_))));
    }
}
