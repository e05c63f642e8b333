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
//! Delivered bytes wait in a buffer until the other side acknowledges them:
//! as in Suricata's IDS mode, the application layer and the raw-stream rules
//! see data once it is ACKed (or the stream ends), so a segment the receiver
//! never got is not parsed. Two cursors (`app_fed`, `raw_done`) say how far
//! each consumer has read; the buffer keeps a small tail before the raw
//! cursor so that patterns split across inspections still match, and is
//! bounded: unacknowledged data past a cap is treated as acknowledged (a
//! capture that sees one direction only still gets inspected).

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

/// Old bytes kept before new data for raw-stream inspection.
const RAW_TAIL: u64 = 1024;
/// Unacknowledged bytes held at most before they are treated as acked.
const MAX_UNACKED: u64 = 1 << 20;

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Stream {
    /// Sequence number of the next byte expected, once known.
    next_seq: Option<u32>,
    /// Stream offset of `next_seq`.
    offset: u64,
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    /// Delivered bytes not yet consumed, and the stream offset of the first.
    buf: Vec<u8>,
    buf_start: u64,
    /// Stream offset acknowledged by the other side.
    acked: u64,
    /// How far the application layer and raw-stream rules have read.
    app_fed: u64,
    raw_done: u64,
    pub fin_seen: bool,
    pub stats: StreamStats,
}

impl Stream {
    /// Whether the start of the stream is known.
    pub fn started(&self) -> bool {
        self.next_seq.is_some()
    }

    /// Whether `seq` is plausibly in this stream's window (RST checks):
    /// within 1 MiB of the next expected byte.
    pub fn in_window(&self, seq: u32) -> bool {
        match self.next_seq {
            Some(n) => (seq.wrapping_sub(n) as i32).unsigned_abs() < (1 << 20),
            None => true,
        }
    }

    /// The next expected sequence number, once known.
    pub fn next_seq(&self) -> Option<u32> {
        self.next_seq
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
    pub fn add(
        &mut self,
        seq: u32,
        data: &[u8],
        limits: &StreamLimits,
        out: &mut Vec<u8>,
    ) -> usize {
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
            self.buf.clear();
            self.buf_start = k;
            self.acked = self.acked.max(k);
            self.app_fed = self.app_fed.max(k);
            self.raw_done = self.raw_done.max(k);
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
        let at = self.offset;
        self.offset += data.len() as u64;
        if let Some(s) = self.next_seq {
            self.next_seq = Some(s.wrapping_add(data.len() as u32));
        }
        if n == 0 {
            return;
        }
        out.extend_from_slice(&data[..n]);
        if self.buf.is_empty() {
            self.buf_start = at;
        }
        self.buf.extend_from_slice(&data[..n]);
        // bound what waits for an ACK
        let end = self.buf_start + self.buf.len() as u64;
        if end - self.acked.min(end) > MAX_UNACKED {
            self.acked = end;
        }
    }

    /// Records an acknowledgement number from the other side.
    pub fn ack(&mut self, ack_seq: u32) {
        let Some(next) = self.next_seq else { return };
        let rel = i64::from(ack_seq.wrapping_sub(next) as i32);
        let off = (self.offset as i64 + rel).clamp(0, self.offset as i64) as u64;
        if off > self.acked {
            self.acked = off;
        }
    }

    /// Treats everything received as acknowledged (stream end, RST).
    pub fn ack_all(&mut self) {
        self.acked = self.acked.max(self.offset);
    }

    /// End of the buffered data (stream offset).
    fn buf_end(&self) -> u64 {
        self.buf_start + self.buf.len() as u64
    }

    /// Acknowledged bytes the application layer has not seen yet; marks
    /// them seen.
    pub fn take_app(&mut self) -> Vec<u8> {
        let upto = self.acked.min(self.buf_end());
        let from = self.app_fed.max(self.buf_start);
        if upto <= from {
            self.app_fed = self.app_fed.max(upto);
            return Vec::new();
        }
        let v =
            self.buf[(from - self.buf_start) as usize..(upto - self.buf_start) as usize].to_vec();
        self.app_fed = upto;
        self.trim();
        v
    }

    /// Acknowledged bytes not yet inspected by raw-stream rules.
    pub fn raw_pending(&self) -> u64 {
        self.acked
            .min(self.buf_end())
            .saturating_sub(self.raw_done.max(self.buf_start))
    }

    /// The raw-stream inspection window up to the acknowledged end:
    /// (start index in [`Stream::buf`], end index, index where new data
    /// starts within the window). Marks the data inspected.
    pub fn take_raw(&mut self) -> Option<(usize, usize, usize)> {
        let upto = self.acked.min(self.buf_end());
        let done = self.raw_done.max(self.buf_start);
        if upto <= done {
            return None;
        }
        let start = done.saturating_sub(RAW_TAIL).max(self.buf_start);
        self.raw_done = upto;
        let s = (start - self.buf_start) as usize;
        let e = (upto - self.buf_start) as usize;
        Some((s, e, (done - start) as usize))
    }

    /// The buffered bytes (for slicing with [`Stream::take_raw`]).
    pub fn buf(&self) -> &[u8] {
        &self.buf
    }

    /// Drops bytes both consumers are done with (keeping the raw tail).
    pub fn trim(&mut self) {
        let keep_from = self
            .app_fed
            .min(self.raw_done.saturating_sub(RAW_TAIL))
            .max(self.buf_start);
        let cut = (keep_from - self.buf_start) as usize;
        if cut > 4096 && cut <= self.buf.len() {
            self.buf.drain(..cut);
            self.buf_start = keep_from;
        }
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
            &[
                (1000, b"abc"),
                (1006, b"ghi"),
                (1003, b"def"),
                (1003, b"XXX"),
                (1001, b"bcdefg"),
            ],
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
