//! Packet sources: pcap/pcapng files (`pcap-parser`, pure Rust) and live
//! interfaces (libpcap through the `pcap` crate).
//!
//! Both hand the caller a [`RawPacket`] borrowed from the reader's buffer —
//! no copy per packet — through a callback, so the same detection code runs
//! for `canhgac replay`, the sensor on files and the sensor on a live link.
//!
//! Live capture is opened non-blocking: libpcap's blocking read never returns
//! on an idle link even with a timeout, and the sensor must notice when it is
//! asked to stop. Kernel drop counters come from `pcap_stats` ([`LiveStats`]).

use std::fs::File;
use std::path::{Path, PathBuf};

use pcap_parser::{PcapBlockOwned, PcapError, create_reader, pcapng::Block};

/// Link-layer types we decode (values from the tcpdump LINKTYPE list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    Ethernet,
    /// Raw IPv4/IPv6, no link header.
    Raw,
    /// Linux "cooked" capture v1.
    LinuxSll,
    /// BSD loopback: a 4-byte address family, then IP.
    Null,
    /// Anything else: counted and skipped by the decoder.
    Other(i32),
}

impl LinkType {
    /// From a LINKTYPE_/DLT_ number.
    pub fn from_linktype(v: i32) -> Self {
        match v {
            1 => LinkType::Ethernet,
            101 | 12 | 14 | 228 | 229 => LinkType::Raw,
            113 => LinkType::LinuxSll,
            0 | 108 => LinkType::Null,
            other => LinkType::Other(other),
        }
    }
}

/// One captured packet, borrowed from the reader.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// Capture time, microseconds since the Unix epoch.
    pub ts_micros: i64,
    pub link: LinkType,
    pub data: &'a [u8],
}

/// Errors of packet sources.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a pcap or pcapng file ({detail})")]
    Format { path: PathBuf, detail: String },
    #[error("{path}: corrupt capture after packet {packet} (byte offset {offset}): {detail}")]
    Corrupt {
        path: PathBuf,
        packet: u64,
        offset: u64,
        detail: String,
    },
    #[error("interface {iface}: {detail}")]
    Live { iface: String, detail: String },
}

/// What reading a capture file saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FileStats {
    pub packets: u64,
    pub bytes: u64,
    /// The file ended inside a record (a capture cut short).
    pub truncated: bool,
}

/// Reads a pcap or pcapng file and calls `on_packet` for every packet.
///
/// A truncated last record ends the file quietly, as with tcpdump; any
/// other damage is an error naming the packet number and byte offset.
///
/// # Errors
/// [`CaptureError`] when the file cannot be opened, is not a capture, or is
/// corrupt.
pub fn read_file(
    path: &Path,
    mut on_packet: impl FnMut(RawPacket<'_>),
) -> Result<FileStats, CaptureError> {
    let file = File::open(path).map_err(|source| CaptureError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = create_reader(1 << 20, file).map_err(|e| CaptureError::Format {
        path: path.to_path_buf(),
        detail: format!("{e:?}"),
    })?;
    let mut stats = FileStats::default();
    let mut offset = 0u64;
    // pcap: one link type and resolution for the file; pcapng: per interface.
    let mut legacy_link = LinkType::Ethernet;
    let mut legacy_nanos = false;
    let mut interfaces: Vec<(LinkType, u64, i64)> = Vec::new();
    loop {
        match reader.next() {
            Ok((consumed, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy_link = LinkType::from_linktype(h.network.0);
                        legacy_nanos = h.is_nanosecond_precision();
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let frac = if legacy_nanos {
                            i64::from(b.ts_usec) / 1000
                        } else {
                            i64::from(b.ts_usec)
                        };
                        let ts = i64::from(b.ts_sec) * 1_000_000 + frac;
                        stats.packets += 1;
                        stats.bytes += b.data.len() as u64;
                        on_packet(RawPacket {
                            ts_micros: ts,
                            link: legacy_link,
                            data: b.data,
                        });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => interfaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let resol = idb.ts_resolution().unwrap_or(1_000_000).max(1);
                        interfaces.push((
                            LinkType::from_linktype(idb.linktype.0),
                            resol,
                            idb.if_tsoffset,
                        ));
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let (link, resol, tsoff) = interfaces
                            .get(epb.if_id as usize)
                            .copied()
                            .unwrap_or((LinkType::Ethernet, 1_000_000, 0));
                        let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let secs = (raw / resol) as i64 + tsoff;
                        let frac = ((raw % resol) as u128 * 1_000_000 / resol as u128) as i64;
                        let caplen = (epb.caplen as usize).min(epb.data.len());
                        stats.packets += 1;
                        stats.bytes += caplen as u64;
                        on_packet(RawPacket {
                            ts_micros: secs * 1_000_000 + frac,
                            link,
                            data: &epb.data[..caplen],
                        });
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let link = interfaces
                            .first()
                            .map(|i| i.0)
                            .unwrap_or(LinkType::Ethernet);
                        let len = (spb.origlen as usize).min(spb.data.len());
                        stats.packets += 1;
                        stats.bytes += len as u64;
                        on_packet(RawPacket {
                            ts_micros: 0,
                            link,
                            data: &spb.data[..len],
                        });
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                offset += consumed as u64;
                reader.consume(consumed);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::UnexpectedEof) => {
                stats.truncated = true;
                break;
            }
            Err(PcapError::Incomplete(_)) => {
                // A partial record with nothing left to read is a truncated
                // capture: stop there, as tcpdump does.
                if reader.reader_exhausted() {
                    stats.truncated = !reader.data().is_empty();
                    break;
                }
                if reader.refill().is_err() {
                    return Err(corrupt(path, stats.packets, offset, "read error"));
                }
            }
            Err(e) => {
                return Err(corrupt(path, stats.packets, offset, &format!("{e:?}")));
            }
        }
    }
    if stats.truncated {
        tracing::warn!(path = %path.display(), packets = stats.packets, "capture file is truncated: its last record is incomplete");
    }
    Ok(stats)
}

fn corrupt(path: &Path, packet: u64, offset: u64, detail: &str) -> CaptureError {
    CaptureError::Corrupt {
        path: path.to_path_buf(),
        packet,
        offset,
        detail: detail.to_string(),
    }
}

/// Options for a live capture.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub interface: String,
    /// BPF filter expression; empty for none.
    pub bpf: String,
    pub snaplen: i32,
    pub promiscuous: bool,
}

/// Kernel counters of a live capture (`pcap_stats`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LiveStats {
    pub received: u64,
    pub dropped: u64,
    pub if_dropped: u64,
}

/// An open live capture.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    link: LinkType,
    iface: String,
}

impl LiveCapture {
    /// Opens `opts.interface` non-blocking with the filter applied.
    ///
    /// # Errors
    /// [`CaptureError::Live`] naming the interface and libpcap's reason (no
    /// such device, no permission, bad filter expression).
    pub fn open(opts: &LiveOptions) -> Result<Self, CaptureError> {
        let err = |detail: String| CaptureError::Live {
            iface: opts.interface.clone(),
            detail,
        };
        let cap = pcap::Capture::from_device(opts.interface.as_str())
            .map_err(|e| err(e.to_string()))?
            .promisc(opts.promiscuous)
            .snaplen(opts.snaplen)
            .immediate_mode(true)
            .timeout(100)
            .open()
            .map_err(|e| err(e.to_string()))?;
        let mut cap = cap.setnonblock().map_err(|e| err(e.to_string()))?;
        if !opts.bpf.trim().is_empty() {
            cap.filter(&opts.bpf, true)
                .map_err(|e| err(format!("BPF filter {:?}: {e}", opts.bpf)))?;
        }
        let link = LinkType::from_linktype(cap.get_datalink().0);
        Ok(LiveCapture {
            cap,
            link,
            iface: opts.interface.clone(),
        })
    }

    /// Reads the packets that are ready now (at most `max`) and returns how
    /// many were handed to `on_packet`; 0 means the link is idle.
    ///
    /// # Errors
    /// [`CaptureError::Live`] when libpcap reports a read error.
    pub fn poll(
        &mut self,
        max: usize,
        mut on_packet: impl FnMut(RawPacket<'_>),
    ) -> Result<usize, CaptureError> {
        let mut n = 0;
        while n < max {
            match self.cap.next_packet() {
                Ok(p) => {
                    let ts = p.header.ts.tv_sec * 1_000_000 + p.header.ts.tv_usec;
                    on_packet(RawPacket {
                        ts_micros: ts,
                        link: self.link,
                        data: p.data,
                    });
                    n += 1;
                }
                Err(pcap::Error::TimeoutExpired) | Err(pcap::Error::NoMorePackets) => break,
                Err(e) => {
                    return Err(CaptureError::Live {
                        iface: self.iface.clone(),
                        detail: e.to_string(),
                    });
                }
            }
        }
        Ok(n)
    }

    /// The kernel's counters for this capture.
    pub fn stats(&mut self) -> LiveStats {
        match self.cap.stats() {
            Ok(s) => LiveStats {
                received: u64::from(s.received),
                dropped: u64::from(s.dropped),
                if_dropped: u64::from(s.if_dropped),
            },
            Err(_) => LiveStats::default(),
        }
    }
}
