//! IPv4 fragment reassembly.
//!
//! Attackers split payloads across fragments so that no single packet
//! carries a signature; the sensor must see the datagram the receiver
//! would. Fragments are keyed by (source, destination, protocol, IP id);
//! pieces are placed by offset, and where they overlap the piece that
//! arrived first wins (the BSD policy, Suricata's default). A datagram is
//! rebuilt — header of the first fragment, offsets and flags cleared,
//! length and checksum recomputed — once every byte up to the last
//! fragment's end is there. Everything is bounded: datagram size (65,535),
//! trackers held, and time (a tracker not completed in `timeout_secs` of
//! packet time is dropped and counted).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

/// Limits of the reassembler.
#[derive(Debug, Clone, Copy)]
pub struct DefragConfig {
    pub max_trackers: usize,
    pub timeout_secs: i64,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            max_trackers: 4096,
            timeout_secs: 60,
        }
    }
}

/// Counters, reported in `stats` (`defrag.*`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DefragStats {
    pub fragments: u64,
    pub reassembled: u64,
    pub timeouts: u64,
    pub overlaps: u64,
    /// Fragments dropped: invalid, too large, or no room for a tracker.
    pub dropped: u64,
}

#[derive(Debug)]
struct Tracker {
    first_ts: i64,
    /// Header of the offset-0 fragment, once seen.
    header: Option<Vec<u8>>,
    pieces: BTreeMap<usize, Vec<u8>>,
    /// End of the datagram, once the last fragment (MF=0) is seen.
    end: Option<usize>,
}

type Key = (Ipv4Addr, Ipv4Addr, u8, u16);

/// The reassembler of one worker.
#[derive(Debug, Default)]
pub struct Defrag {
    config: DefragConfig,
    trackers: HashMap<Key, Tracker>,
    pub stats: DefragStats,
}

const MAX_DATAGRAM: usize = 65_535;

impl Defrag {
    pub fn new(config: DefragConfig) -> Self {
        Defrag {
            config,
            trackers: HashMap::new(),
            stats: DefragStats::default(),
        }
    }

    /// Adds one IPv4 fragment (`packet` from the IP header on). Returns the
    /// whole datagram when this fragment completes it.
    pub fn add(&mut self, ts: i64, packet: &[u8]) -> Option<Vec<u8>> {
        self.stats.fragments += 1;
        self.expire(ts);
        let Some(f) = parse_fragment(packet) else {
            self.stats.dropped += 1;
            return None;
        };
        if f.offset + f.payload.len() > MAX_DATAGRAM {
            self.stats.dropped += 1;
            return None;
        }
        if !self.trackers.contains_key(&f.key) && self.trackers.len() >= self.config.max_trackers {
            self.stats.dropped += 1;
            return None;
        }
        let t = self.trackers.entry(f.key).or_insert_with(|| Tracker {
            first_ts: ts,
            header: None,
            pieces: BTreeMap::new(),
            end: None,
        });
        if f.offset == 0 && t.header.is_none() {
            t.header = Some(f.header.to_vec());
        }
        if !f.more {
            let end = f.offset + f.payload.len();
            t.end = Some(t.end.map_or(end, |e| e.min(end)));
        }
        // first copy wins: keep only the parts of this piece not yet held
        let mut start = f.offset;
        let end = f.offset + f.payload.len();
        let mut parts: Vec<(usize, usize)> = Vec::new();
        for (&o, p) in t.pieces.range(..end) {
            let pe = o + p.len();
            if pe <= start {
                continue;
            }
            if o > start {
                parts.push((start, o.min(end)));
            }
            if pe > start {
                self.stats.overlaps += u64::from(o < end && pe > f.offset);
            }
            start = start.max(pe);
            if start >= end {
                break;
            }
        }
        if start < end {
            parts.push((start, end));
        }
        for (s, e) in parts {
            if s < e {
                t.pieces
                    .insert(s, f.payload[s - f.offset..e - f.offset].to_vec());
            }
        }
        // complete?
        let (Some(header), Some(total)) = (&t.header, t.end) else {
            return None;
        };
        let mut have = 0usize;
        for (&o, p) in &t.pieces {
            if o > have {
                return None;
            }
            have = have.max(o + p.len());
            if have >= total {
                break;
            }
        }
        if have < total {
            return None;
        }
        let mut out = header.clone();
        let hl = out.len();
        out.resize(hl + total, 0);
        for (&o, p) in &t.pieces {
            if o >= total {
                continue;
            }
            let n = p.len().min(total - o);
            out[hl + o..hl + o + n].copy_from_slice(&p[..n]);
        }
        let key = f.key;
        self.trackers.remove(&key);
        let len = out.len();
        if len > MAX_DATAGRAM {
            self.stats.dropped += 1;
            return None;
        }
        // total length, flags/offset cleared, checksum recomputed
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        out[6] = 0;
        out[7] = 0;
        out[10] = 0;
        out[11] = 0;
        let sum = checksum(&out[..hl]);
        out[10..12].copy_from_slice(&sum.to_be_bytes());
        self.stats.reassembled += 1;
        Some(out)
    }

    fn expire(&mut self, now: i64) {
        let limit = self.config.timeout_secs * 1_000_000;
        let before = self.trackers.len();
        self.trackers.retain(|_, t| now - t.first_ts <= limit);
        self.stats.timeouts += (before - self.trackers.len()) as u64;
    }

    /// Trackers held now.
    pub fn len(&self) -> usize {
        self.trackers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trackers.is_empty()
    }
}

struct Fragment<'a> {
    key: Key,
    header: &'a [u8],
    payload: &'a [u8],
    offset: usize,
    more: bool,
}

fn parse_fragment(p: &[u8]) -> Option<Fragment<'_>> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return None;
    }
    let hl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    if hl < 20 || total < hl || p.len() < total {
        return None;
    }
    let flags_off = u16::from_be_bytes([p[6], p[7]]);
    let more = flags_off & 0x2000 != 0;
    let offset = usize::from(flags_off & 0x1fff) * 8;
    let payload = &p[hl..total];
    // every fragment but the last carries a multiple of 8 bytes
    if more && !payload.len().is_multiple_of(8) {
        return None;
    }
    Some(Fragment {
        key: (
            Ipv4Addr::new(p[12], p[13], p[14], p[15]),
            Ipv4Addr::new(p[16], p[17], p[18], p[19]),
            p[9],
            u16::from_be_bytes([p[4], p[5]]),
        ),
        header: &p[..hl],
        payload,
        offset,
        more,
    })
}

fn checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in h.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(w);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 fragment of a UDP datagram.
    fn frag(id: u16, offset: usize, more: bool, payload: &[u8]) -> Vec<u8> {
        let total = 20 + payload.len();
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&id.to_be_bytes());
        let fo = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
        p[6..8].copy_from_slice(&fo.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn out_of_order_fragments_rebuild_the_datagram() {
        let mut d = Defrag::default();
        let data: Vec<u8> = (0..40u8).collect();
        assert!(d.add(0, &frag(7, 16, true, &data[16..32])).is_none());
        assert!(d.add(1, &frag(7, 32, false, &data[32..])).is_none());
        let out = d.add(2, &frag(7, 0, true, &data[..16])).unwrap();
        assert_eq!(&out[20..], &data[..]);
        assert_eq!(u16::from_be_bytes([out[2], out[3]]), 60);
        assert_eq!(out[6] & 0x3f, 0);
        assert_eq!(checksum(&out[..20]), 0, "header checksum verifies");
        assert_eq!(d.stats.reassembled, 1);
        assert!(d.is_empty());
    }

    #[test]
    fn overlaps_keep_the_first_copy() {
        let mut d = Defrag::default();
        assert!(d.add(0, &frag(1, 0, true, b"AAAAAAAA")).is_none());
        // overlapping rewrite of the first 8 bytes, plus the tail
        let out = d.add(1, &frag(1, 0, false, b"BBBBBBBBCC")).unwrap();
        assert_eq!(&out[20..], b"AAAAAAAACC");
        assert!(d.stats.overlaps >= 1);
    }

    #[test]
    fn incomplete_trackers_time_out_and_garbage_is_counted() {
        let mut d = Defrag::new(DefragConfig {
            max_trackers: 2,
            timeout_secs: 1,
        });
        assert!(d.add(0, &frag(1, 0, true, b"AAAAAAAA")).is_none());
        assert!(d.add(0, &frag(2, 0, true, b"AAAAAAAA")).is_none());
        assert!(d.add(0, &frag(3, 0, true, b"AAAAAAAA")).is_none());
        assert_eq!(d.stats.dropped, 1, "no room for a third tracker");
        assert!(d.add(5_000_000, &frag(4, 0, true, b"AAAAAAAA")).is_none());
        assert_eq!(d.stats.timeouts, 2);
        for cut in 0..30 {
            let f = frag(9, 0, false, b"xyz");
            let _ = d.add(6_000_000, &f[..cut.min(f.len())]);
        }
        assert!(
            d.add(6_000_000, &frag(10, 65_528, false, &[0; 16]))
                .is_none()
        );
    }
}
