//! TCP reassembly for one direction of a connection.
//!
//! Segments are placed by sequence number relative to where the stream
//! started (64-bit offsets, so wrap-around of the 32-bit sequence space is
//! harmless). In-order data is handed on at once; segments that arrive early
//! wait in a bounded map; retransmitted data is ignored and, where a
//! retransmission overlaps with different bytes, the first copy wins (the
//! BSD/Linux policy for data already delivered). Past the reassembly depth
//! the stream is still tracked but no longer delivered, as Suricata does,
//! so a large download cannot hold memory.
//!
//! Alongside, a small *inspection window* keeps recent stream bytes so that
//! stream rules can match patterns split across segments.

use std::collections::BTreeMap;

/// Limits of one direction.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Bytes delivered to the application layer at most.
    pub depth: u64,
    /// Out-of-order bytes held at most.
    pub max_pending: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            depth: 1 << 20,
            max_pending: 1 << 20,
        }
    }
}

/// Counters of one direction.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamStats {
    pub segments: u64,
    pub retransmissions: u64,
    pub overlaps: u64,
    pub overlaps_diff: u64,
    pub pending_dropped: u64,
    pub gaps: u64,
    pub depth_reached: u64,
}

/// Bytes of stream kept whole from the start for inspection.
const WINDOW_FULL: usize = 8 * 1024;
/// Old bytes kept before new data once the stream is longer.
const WINDOW_TAIL: usize = 1024;

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Stream {
    /// Sequence number of the next byte expected, once known.
    next_seq: Option<u32>,
    /// Stream offset of `next_seq`.
    offset: u64,
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    /// Recent stream bytes for stream rules, and the stream offset of its
    /// first byte.
    window: Vec<u8>,
    window_start: u64,
    pub fin_seen: bool,
    pub stats: StreamStats,
}

impl Stream {
    /// Whether the start of the stream is known.
    pub fn started(&self) -> bool {
        self.next_seq.is_some()
    }

    /// Starts the stream: `seq` is the sequence number of its first data
    /// byte (ISN + 1 after a SYN; the packet's own seq when picked up
    /// midstream).
    pub fn start(&mut self, seq: u32) {
        if self.next_seq.is_none() {
            self.next_seq = Some(seq);
        }
    }

    /// Bytes delivered in order so far.
    pub fn delivered(&self) -> u64 {
        self.offset
    }

    /// Adds a segment; appends newly in-order bytes to `out` (at most up to
    /// the depth). Returns the number of bytes appended.
    pub fn add(&mut self, seq: u32, data: &[u8], limits: &StreamLimits, out: &mut Vec<u8>) -> usize {
        let Some(next) = self.next_seq else {
            return 0;
        };
        if data.is_empty() {
            return 0;
        }
        self.stats.segments += 1;
        let rel = i64::from(seq.wrapping_sub(next) as i32);
        let start = self.offset as i64 + rel;
        let end = start + data.len() as i64;
        if end <= self.offset as i64 {
            self.stats.retransmissions += 1;
            return 0;
        }
        let before = out.len();
        if start <= self.offset as i64 {
            let skip = (self.offset as i64 - start) as usize;
            if skip > 0 {
                self.stats.overlaps += 1;
            }
            self.deliver(&data[skip..], limits, out);
            self.drain(limits, out);
        } else {
            let key = start as u64;
            if self.pending_bytes + data.len() > limits.max_pending {
                self.stats.pending_dropped += 1;
            } else if let Some(existing) = self.pending.get(&key) {
                if existing.len() >= data.len() {
                    self.stats.retransmissions += 1;
                    if existing[..data.len()] != *data {
                        self.stats.overlaps_diff += 1;
                    }
                } else {
                    self.pending_bytes += data.len() - existing.len();
                    self.pending.insert(key, data.to_vec());
                }
            } else {
                self.pending_bytes += data.len();
                self.pending.insert(key, data.to_vec());
            }
        }
        out.len() - before
    }

    /// Skips a hole in the stream (end of flow with data missing): the
    /// pending data after the gap is delivered.
    pub fn flush_gap(&mut self, limits: &StreamLimits, out: &mut Vec<u8>) -> bool {
        let Some((&k, _)) = self.pending.iter().next() else {
            return false;
        };
        if k > self.offset {
            self.stats.gaps += 1;
            let gap = k - self.offset;
            self.offset = k;
            if let Some(n) = self.next_seq {
                self.next_seq = Some(n.wrapping_add(gap as u32));
            }
            self.window.clear();
            self.window_start = k;
        }
        self.drain(limits, out);
        true
    }

    fn drain(&mut self, limits: &StreamLimits, out: &mut Vec<u8>) {
        while let Some((&k, _)) = self.pending.iter().next() {
            if k > self.offset {
                break;
            }
            let Some(seg) = self.pending.remove(&k) else {
                break;
            };
            self.pending_bytes -= seg.len();
            let skip = (self.offset - k) as usize;
            if skip >= seg.len() {
                self.stats.retransmissions += 1;
                continue;
            }
            if skip > 0 {
                self.stats.overlaps += 1;
            }
            self.deliver(&seg[skip..], limits, out);
        }
    }

    fn deliver(&mut self, data: &[u8], limits: &StreamLimits, out: &mut Vec<u8>) {
        let room = limits.depth.saturating_sub(self.offset);
        let n = (data.len() as u64).min(room) as usize;
        if n < data.len() {
            self.stats.depth_reached += 1;
        }
        // Sequence space advances even past the depth.
        self.offset += data.len() as u64;
        if let Some(s) = self.next_seq {
            self.next_seq = Some(s.wrapping_add(data.len() as u32));
        }
        if n == 0 {
            return;
        }
        out.extend_from_slice(&data[..n]);
        // inspection window
        if self.window.len() + n > WINDOW_FULL {
            let keep = WINDOW_TAIL.min(self.window.len());
            let cut = self.window.len() - keep;
            self.window.drain(..cut);
            self.window_start += cut as u64;
        }
        self.window.extend_from_slice(&data[..n]);
    }

    /// The inspection window and the window offset where the last `new`
    /// bytes start.
    pub fn window(&self, new: usize) -> (&[u8], usize) {
        let from = self.window.len().saturating_sub(new);
        (&self.window, from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(s: &mut Stream, segs: &[(u32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let l = StreamLimits::default();
        for (seq, d) in segs {
            s.add(*seq, d, &l, &mut out);
        }
        out
    }

    #[test]
    fn in_order_out_of_order_and_retransmissions() {
        let mut s = Stream::default();
        s.start(1000);
        let out = collect(
            &mut s,
            &[(1000, b"abc"), (1006, b"ghi"), (1003, b"def"), (1003, b"XXX"), (1001, b"bcdefg")],
        );
        assert_eq!(out, b"abcdefghi");
        assert_eq!(s.stats.retransmissions, 2);
    }

    #[test]
    fn sequence_wraps_around() {
        let mut s = Stream::default();
        s.start(u32::MAX - 1);
        let out = collect(&mut s, &[(u32::MAX - 1, b"ab"), (0, b"cd")]);
        assert_eq!(out, b"abcd");
    }

    #[test]
    fn depth_limits_delivery() {
        let mut s = Stream::default();
        s.start(0);
        let mut out = Vec::new();
        let l = StreamLimits {
            depth: 4,
            max_pending: 100,
        };
        s.add(0, b"abcdef", &l, &mut out);
        s.add(6, b"gh", &l, &mut out);
        assert_eq!(out, b"abcd");
        assert_eq!(s.delivered(), 8);
    }

    #[test]
    fn gap_is_skipped_at_the_end() {
        let mut s = Stream::default();
        s.start(0);
        let mut out = collect(&mut s, &[(0, b"ab"), (5, b"fg")]);
        assert_eq!(out, b"ab");
        assert!(s.flush_gap(&StreamLimits::default(), &mut out));
        assert_eq!(out, b"abfg");
        assert_eq!(s.stats.gaps, 1);
    }

    #[test]
    fn pending_is_bounded() {
        let mut s = Stream::default();
        s.start(0);
        let l = StreamLimits {
            depth: 1 << 20,
            max_pending: 10,
        };
        let mut out = Vec::new();
        s.add(100, &[0u8; 8], &l, &mut out);
        s.add(200, &[0u8; 8], &l, &mut out);
        assert_eq!(s.stats.pending_dropped, 1);
    }
}
