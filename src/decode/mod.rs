//! Decoding Ethernet/VLAN/IPv4/IPv6/TCP/UDP/ICMP with `etherparse`.
//!
//! [`decode`] returns a [`Decoded`] view that borrows the capture buffer:
//! addresses, ports, protocol and the transport payload, with no copy.
//! A packet that does not decode is not an error for the sensor — it is
//! counted ([`DecodeOutcome`]) and skipped, as Suricata's decoder does.

use std::net::IpAddr;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

use crate::capture::{LinkType, RawPacket};

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
    /// Transport payload (TCP/UDP data, ICMP body, or IP payload).
    pub payload: &'a [u8],
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

    let (src, dst, ip_payload, ip_number) = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => {
            let h = v4.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                v4.payload().payload,
                v4.payload().ip_number.0,
            )
        }
        Some(NetSlice::Ipv6(v6)) => {
            let h = v6.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                v6.payload().payload,
                v6.payload().ip_number.0,
            )
        }
        Some(NetSlice::Arp(_)) | None => return Err(DecodeOutcome::NotIp),
    };

    let mut d = Decoded {
        src,
        dst,
        proto: Proto::Other(ip_number),
        sport: 0,
        dport: 0,
        tcp_flags: TcpFlags::default(),
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
            };
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
        }
        Some(TransportSlice::Icmpv6(i)) => {
            d.proto = Proto::Icmpv6;
            d.payload = i.payload();
        }
        Some(TransportSlice::Igmp(_)) | None => {}
    }
    Ok(d)
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
