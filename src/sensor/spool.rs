//! The sensor's on-disk spool: every event is written here before it counts
//! as produced, and leaves only when central has committed it.
//!
//! A commune's uplink goes down for hours and the gateway loses power; the
//! spool is what makes "nothing lost, nothing doubled" true across both.
//!
//! # Format
//!
//! The spool is a directory of segment files named by the sequence number of
//! their first record, `00000000000000000001.seg`, plus `acked` (the highest
//! sequence number central has committed, as decimal text) and `drops.json`
//! (events dropped to stay within the byte limit, by event type).
//!
//! A segment starts with the 8-byte magic `CGSPOOL1`, then records:
//!
//! ```text
//! len: u32 LE   length of the payload
//! crc: u32 LE   CRC-32 (IEEE) of seq, class and payload
//! seq: u64 LE   the record's sequence number
//! class: u8     0 alert, 1 other events, 2 protocol metadata, 3 checkpoint;
//!               bit 7 set: more records of the same append follow
//! payload       the event as one line of EVE JSON (no newline); for a
//!               checkpoint, `{"source": KEY, "position": JSON}`
//! ```
//!
//! A checkpoint records how far a source (a log file, the followed logs)
//! has been read, in the same `write` as the events that reading produced:
//! after a kill the source resumes from the last checkpoint in the spool, so
//! a line is never read into two events. Checkpoints are not shipped; they
//! survive the deletion of their segment in `checkpoints.json`.
//!
//! The records of one append form a group: every record but the last has
//! bit 7 of its class set. At open, a group cut short (a torn tail, or
//! damage inside it) is dropped whole: its events and its checkpoint go
//! together, so the source re-reads those lines and nothing is doubled.
//!
//! # Invariants
//!
//! - Sequence numbers start at 1 and grow by one per appended event, across
//!   segments and restarts. Within and across segments they only increase
//!   (eviction removes records but never reorders them).
//! - A record is whole or it is not there: a record whose header, length or
//!   checksum does not hold is skipped — never trusted, never a crash. At
//!   open, a damaged segment is rewritten with its valid records (a torn
//!   tail after a power cut is cut off), and the damage is counted
//!   ([`SpoolStats::corrupt_bytes`], [`SpoolStats::corrupt_records`]).
//! - Everything with `seq <= acked` has been committed by central and may
//!   be deleted; whole segments at or below it are. Resending a record that
//!   central already has is harmless: central drops duplicates by event id.
//! - Only the last segment is appended to; sealed segments change only by
//!   eviction, which rewrites one to a temporary file and renames it over.
//! - The spool holds at most `max_bytes`: when over, sealed segments are
//!   rewritten without their oldest protocol metadata (flow, dns, http …)
//!   first, then other non-alert events, and whole segments of alerts only
//!   last. Records already handed to the shipper are never evicted. Each
//!   dropped event is counted by type, persistently, and reported to
//!   central.
//!
//! Writes go to the operating system at once (one `write` per append call),
//! so a killed process loses nothing it appended; `fsync` runs every
//! `sync_ms` and when a segment is sealed, which bounds what a power cut can
//! take. The acknowledged position is written by rename, so it is either
//! the old or the new value.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::event::Event;

const MAGIC: &[u8; 8] = b"CGSPOOL1";
const HEADER: usize = 17;
/// The largest record payload; longer lengths are damage.
pub const MAX_RECORD: usize = 64 << 20;

/// How an event is ranked when the spool must drop something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Alerts: dropped last.
    Alert = 0,
    /// Logs, Sigma matches (correlation input), files, stats and other
    /// events.
    Other = 1,
    /// Protocol metadata (flow, dns, http, tls …): dropped first.
    Metadata = 2,
    /// A source position; never shipped, never dropped.
    Checkpoint = 3,
}

impl Class {
    /// The class of an event type.
    pub fn of(event_type: &str) -> Class {
        match event_type {
            "alert" => Class::Alert,
            "flow" | "netflow" | "dns" | "http" | "tls" | "ssh" | "smtp" | "ftp" | "ftp_data"
            | "dhcp" | "anomaly" => Class::Metadata,
            _ => Class::Other,
        }
    }

    fn from_u8(b: u8) -> Option<Class> {
        match b {
            0 => Some(Class::Alert),
            1 => Some(Class::Other),
            2 => Some(Class::Metadata),
            3 => Some(Class::Checkpoint),
            _ => None,
        }
    }
}

/// Spool settings (`[spool]` in `sensor.toml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// Most bytes on disk; beyond, events are dropped as the module says.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Size at which a segment is sealed and a new one started.
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
    /// Milliseconds between `fsync`s of the segment being written.
    #[serde(default = "default_sync_ms")]
    pub sync_ms: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            max_bytes: default_max_bytes(),
            segment_bytes: default_segment_bytes(),
            sync_ms: default_sync_ms(),
        }
    }
}

fn default_max_bytes() -> u64 {
    1 << 30
}
fn default_segment_bytes() -> u64 {
    16 << 20
}
fn default_sync_ms() -> u64 {
    1000
}

/// Errors of the spool.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("spool: {0}")]
    Invalid(String),
}

/// What the spool holds and what it lost; reported in heartbeats.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SpoolStats {
    /// Bytes of segment files on disk.
    pub bytes: u64,
    /// Records not yet acknowledged by central.
    pub pending: u64,
    /// Segment files.
    pub segments: u64,
    /// Next sequence number to be written.
    pub next_seq: u64,
    /// Highest sequence number central committed.
    pub acked: u64,
    /// Events dropped to stay within `max_bytes`, by event type (kept
    /// across restarts).
    pub dropped: BTreeMap<String, u64>,
    /// Bytes found damaged (torn tails, bad checksums) and skipped.
    pub corrupt_bytes: u64,
    /// Damaged places found (one per run of bad bytes).
    pub corrupt_records: u64,
    /// Records dropped at open because their append was cut short (their
    /// source reads them again).
    pub torn_records: u64,
    /// Appends that failed to reach the disk (disk full, I/O error).
    pub write_errors: u64,
}

/// How an append behaves when the spool is over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Evict as the module says and keep going (live sources).
    Evict,
    /// Wait until the shipper frees room (files, followed logs: the input
    /// keeps).
    Wait,
}

/// One record read back for shipping.
#[derive(Debug, Clone)]
pub struct Record {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// Records read for shipping, and the highest sequence number they cover
/// (checkpoints in between are covered but not shipped).
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub records: Vec<Record>,
    pub through: u64,
}

#[derive(Serialize, Deserialize)]
struct CheckpointRecord {
    source: String,
    position: serde_json::Value,
}

#[derive(Debug)]
struct Segment {
    first: u64,
    /// Last sequence number in it; `first - 1` when empty.
    last: u64,
    bytes: u64,
    /// Records per class that eviction may still find here (an upper
    /// bound: records handed to the shipper are not evictable).
    classes: [u64; 4],
    /// Bumped when the file is rewritten, so readers re-find their place.
    generation: u64,
}

#[derive(Debug, Default)]
struct ReadPos {
    /// Next sequence number the shipper has not been given.
    next: u64,
    /// Cached place: segment first seq, its generation, byte offset.
    at: Option<(u64, u64, u64)>,
}

struct Inner {
    dir: PathBuf,
    cfg: SpoolConfig,
    segments: VecDeque<Segment>,
    active: Option<File>,
    next_seq: u64,
    acked: u64,
    bytes: u64,
    read: ReadPos,
    stats: SpoolStats,
    checkpoints: BTreeMap<String, serde_json::Value>,
    last_sync: Instant,
    dirty: bool,
    closed: bool,
    generation: u64,
}

/// The spool; share it behind an `Arc`.
pub struct Spool {
    inner: Mutex<Inner>,
    /// Signalled when records are appended or the input closes.
    pub appended: tokio::sync::Notify,
    room: Condvar,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn crc(seq: u64, class: u8, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&[class]);
    h.update(payload);
    h.finalize()
}

/// Appends one encoded record to `out`.
pub fn encode(out: &mut Vec<u8>, seq: u64, class: Class, more: bool, payload: &[u8]) {
    let c = class as u8 | if more { 0x80 } else { 0 };
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc(seq, c, payload).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.push(c);
    out.extend_from_slice(payload);
}

/// A record found in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub seq: u64,
    pub class: Class,
    /// More records of the same append follow.
    pub more: bool,
    /// Offset of the payload and its length.
    pub payload: (usize, usize),
    /// Offset just past the record.
    pub end: usize,
}

/// Reads the record at `pos`, if a whole and valid one is there.
/// `Err(true)` when the buffer ends inside a plausible record (more bytes
/// may complete it), `Err(false)` when the bytes are not a record.
fn record_at(buf: &[u8], pos: usize) -> Result<Found, bool> {
    let Some(h) = buf.get(pos..pos + HEADER) else {
        return Err(true);
    };
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let sum = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let mut s = [0u8; 8];
    s.copy_from_slice(&h[8..16]);
    let seq = u64::from_le_bytes(s);
    let Some(class) = Class::from_u8(h[16] & 0x7f) else {
        return Err(false);
    };
    if len > MAX_RECORD || seq == 0 {
        return Err(false);
    }
    let start = pos + HEADER;
    let Some(payload) = buf.get(start..start + len) else {
        return Err(true);
    };
    if crc(seq, h[16], payload) != sum {
        return Err(false);
    }
    Ok(Found {
        seq,
        class,
        more: h[16] & 0x80 != 0,
        payload: (start, len),
        end: start + len,
    })
}

/// What [`scan`] found: the valid records, the damaged byte runs
/// `(offset, length)`, and whether the buffer ended inside a record that
/// may still be completing.
#[derive(Debug, Default)]
pub struct Scan {
    pub records: Vec<Found>,
    pub damage: Vec<(usize, usize)>,
    /// Offset of an incomplete record at the end, if any.
    pub partial_from: Option<usize>,
}

/// Walks the records of `buf` from `pos`, skipping damage byte by byte
/// until a valid record starts again (the checksum makes a false start
/// vanishingly unlikely). With `complete`, the buffer is a whole file: an
/// incomplete record at its end is damage (a torn tail).
pub fn scan(buf: &[u8], mut pos: usize, complete: bool) -> Scan {
    let mut out = Scan::default();
    let mut bad_from: Option<usize> = None;
    while pos < buf.len() {
        match record_at(buf, pos) {
            Ok(f) => {
                if let Some(b) = bad_from.take() {
                    out.damage.push((b, pos - b));
                }
                out.records.push(f);
                pos = f.end;
            }
            Err(true) if !complete => {
                // maybe a record that goes on past the buffer: stop here
                if let Some(b) = bad_from.take() {
                    out.damage.push((b, pos - b));
                }
                out.partial_from = Some(pos);
                return out;
            }
            Err(_) => {
                bad_from.get_or_insert(pos);
                pos += 1;
            }
        }
    }
    if let Some(b) = bad_from {
        out.damage.push((b, buf.len() - b));
    }
    out
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.seg"))
}

fn event_type_of(payload: &[u8]) -> String {
    #[derive(Deserialize)]
    struct T<'a> {
        #[serde(borrow)]
        event_type: std::borrow::Cow<'a, str>,
    }
    serde_json::from_slice::<T>(payload)
        .map(|t| t.event_type.into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SpoolError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_data().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, checking every segment and
    /// repairing damage as the module says.
    ///
    /// # Errors
    /// The directory cannot be created or read, or a segment cannot be
    /// rewritten.
    pub fn open(dir: &Path, cfg: SpoolConfig) -> Result<Spool, SpoolError> {
        if cfg.segment_bytes < 4096 || cfg.max_bytes < 2 * cfg.segment_bytes {
            return Err(SpoolError::Invalid(format!(
                "max_bytes ({}) must be at least twice segment_bytes ({}), which must be at least 4096",
                cfg.max_bytes, cfg.segment_bytes
            )));
        }
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let acked = match std::fs::read_to_string(dir.join("acked")) {
            Ok(s) => s.trim().parse::<u64>().unwrap_or(0),
            Err(_) => 0,
        };
        let mut stats = SpoolStats {
            dropped: std::fs::read(dir.join("drops.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default(),
            ..SpoolStats::default()
        };
        let mut checkpoints: BTreeMap<String, serde_json::Value> =
            std::fs::read(dir.join("checkpoints.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
        let mut firsts = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_suffix(".seg")
                .and_then(|s| s.parse::<u64>().ok())
                .filter(|n| *n > 0)
            {
                firsts.push(n);
            } else if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        firsts.sort_unstable();
        let mut segments = VecDeque::new();
        let mut last_seq = acked;
        for first in firsts {
            let path = segment_path(dir, first);
            let mut buf = Vec::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut buf))
                .map_err(io_err(&path))?;
            let magic_ok = buf.get(..8) == Some(&MAGIC[..]);
            let start = if magic_ok { 8 } else { 0 };
            // records at or below what we already have are old (acked, or
            // a duplicate after damage): they are kept out
            let sc = scan(&buf, start, true);
            // whole groups only (see the module doc)
            let mut complete: Vec<&Found> = Vec::with_capacity(sc.records.len());
            let mut pending: Vec<&Found> = Vec::new();
            let mut torn = 0u64;
            let mut prev_end = start;
            for f in &sc.records {
                if f.payload.0 - HEADER != prev_end {
                    torn += pending.len() as u64;
                    pending.clear();
                }
                pending.push(f);
                if !f.more {
                    complete.append(&mut pending);
                }
                prev_end = f.end;
            }
            torn += pending.len() as u64;
            stats.torn_records += torn;
            let mut keep: Vec<&Found> = Vec::with_capacity(complete.len());
            let mut prev = last_seq;
            for f in &complete {
                if f.seq > prev {
                    prev = f.seq;
                    keep.push(f);
                }
            }
            let damaged = !magic_ok || !sc.damage.is_empty() || torn > 0;
            for (_, len) in &sc.damage {
                stats.corrupt_bytes += *len as u64;
                stats.corrupt_records += 1;
            }
            if !magic_ok && buf.len() >= 8 {
                stats.corrupt_records += 1;
            }
            if damaged {
                tracing::warn!(
                    segment = %path.display(),
                    damaged_bytes = sc.damage.iter().map(|d| d.1).sum::<usize>(),
                    dropped_unfinished = torn,
                    kept = keep.len(),
                    "spool segment damaged (torn write or corruption); keeping its valid records"
                );
            }
            // checkpoints count even in acknowledged records: they say how
            // far the sources were read
            for f in complete.iter().filter(|f| f.class == Class::Checkpoint) {
                let (o, l) = f.payload;
                if let Ok(c) = serde_json::from_slice::<CheckpointRecord>(&buf[o..o + l]) {
                    checkpoints.insert(c.source, c.position);
                }
            }
            if keep.is_empty() {
                if !checkpoints.is_empty() {
                    let cps = serde_json::to_vec(&checkpoints).unwrap_or_default();
                    write_atomic(&dir.join("checkpoints.json"), &cps)?;
                }
                std::fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            let mut seg = Segment {
                first,
                last: 0,
                bytes: buf.len() as u64,
                classes: [0; 4],
                generation: 0,
            };
            for f in &keep {
                seg.classes[f.class as usize] += 1;
                seg.last = f.seq;
            }
            if damaged || keep.len() != sc.records.len() {
                // the rewrite may leave out checkpoint records: keep them
                if !checkpoints.is_empty() {
                    let cps = serde_json::to_vec(&checkpoints).unwrap_or_default();
                    write_atomic(&dir.join("checkpoints.json"), &cps)?;
                }
                let mut out = Vec::with_capacity(buf.len());
                out.extend_from_slice(MAGIC);
                for f in &keep {
                    let (o, l) = f.payload;
                    encode(&mut out, f.seq, f.class, false, &buf[o..o + l]);
                }
                write_atomic(&path, &out)?;
                seg.bytes = out.len() as u64;
            }
            last_seq = seg.last;
            segments.push_back(seg);
        }
        let bytes = segments.iter().map(|s| s.bytes).sum();
        let next_seq = last_seq + 1;
        let inner = Inner {
            dir: dir.to_path_buf(),
            cfg,
            segments,
            active: None,
            next_seq,
            acked,
            bytes,
            read: ReadPos {
                next: acked + 1,
                at: None,
            },
            stats,
            checkpoints,
            last_sync: Instant::now(),
            dirty: false,
            closed: false,
            generation: 0,
        };
        Ok(Spool {
            inner: Mutex::new(inner),
            appended: tokio::sync::Notify::new(),
            room: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Appends events. With [`Full::Wait`] it blocks while the spool is
    /// over its limit (until the shipper frees room or the input closes).
    /// An event that cannot be written is counted in `write_errors` and
    /// as a drop of its type.
    pub fn append(&self, events: &[Event], full: Full) {
        self.append_at(events, None, full);
    }

    /// Appends events and, in the same write, a checkpoint of `source`
    /// (see the module doc). Returns whether the write reached the
    /// operating system.
    pub fn append_at(
        &self,
        events: &[Event],
        checkpoint: Option<(&str, serde_json::Value)>,
        full: Full,
    ) -> bool {
        if events.is_empty() && checkpoint.is_none() {
            return true;
        }
        let mut buf = Vec::with_capacity(events.len() * 512);
        let mut g = self.lock();
        if full == Full::Wait {
            while g.bytes > g.cfg.max_bytes && !g.closed {
                g = match self.room.wait_timeout(g, Duration::from_millis(200)) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                };
            }
        }
        let first = g.next_seq;
        let mut records: Vec<(Class, Vec<u8>)> = Vec::with_capacity(events.len() + 1);
        for ev in events {
            match serde_json::to_vec(ev) {
                Ok(p) if p.len() <= MAX_RECORD => records.push((Class::of(&ev.event_type), p)),
                _ => {
                    g.stats.write_errors += 1;
                    *g.stats.dropped.entry(ev.event_type.clone()).or_default() += 1;
                }
            }
        }
        let cp = checkpoint.map(|(source, position)| CheckpointRecord {
            source: source.to_string(),
            position,
        });
        if let Some(c) = &cp {
            records.push((Class::Checkpoint, serde_json::to_vec(c).unwrap_or_default()));
        }
        let n = records.len();
        let mut classes = Vec::with_capacity(n);
        for (i, (class, payload)) in records.iter().enumerate() {
            encode(&mut buf, first + i as u64, *class, i + 1 < n, payload);
            classes.push(*class);
        }
        if let Err(e) = g.write(&buf, first, &classes) {
            g.stats.write_errors += events.len() as u64;
            for ev in events {
                *g.stats.dropped.entry(ev.event_type.clone()).or_default() += 1;
            }
            tracing::error!(error = %e, events = events.len(), "cannot write to the spool; events dropped");
            return false;
        }
        if let Some(c) = cp {
            g.checkpoints.insert(c.source, c.position);
        }
        if g.bytes > g.cfg.max_bytes && full == Full::Evict {
            g.evict();
        }
        drop(g);
        self.appended.notify_one();
        true
    }

    /// The last checkpoint of `source`, if any.
    pub fn checkpoint(&self, source: &str) -> Option<serde_json::Value> {
        self.lock().checkpoints.get(source).cloned()
    }

    /// Appends one event.
    pub fn push(&self, event: &Event, full: Full) {
        self.append(std::slice::from_ref(event), full);
    }

    /// Reads the next records for shipping, up to `max_events` and about
    /// `max_bytes`; empty when the shipper has everything.
    ///
    /// # Errors
    /// A segment cannot be read.
    pub fn read(&self, max_events: usize, max_bytes: usize) -> Result<Batch, SpoolError> {
        let mut g = self.lock();
        let records = g.read_batch(max_events, max_bytes)?;
        Ok(Batch {
            records,
            through: g.read.next - 1,
        })
    }

    /// Central committed everything up to `seq`: remembers it, deletes the
    /// segments wholly at or below it, and wakes waiting appenders.
    ///
    /// # Errors
    /// The `acked` file cannot be written.
    pub fn ack(&self, seq: u64) -> Result<(), SpoolError> {
        let mut g = self.lock();
        if seq <= g.acked {
            return Ok(());
        }
        g.acked = seq;
        let path = g.dir.join("acked");
        write_atomic(&path, seq.to_string().as_bytes())?;
        if g.segments.front().is_some_and(|s| s.last <= seq) {
            // the checkpoints in the segments about to go must outlive them;
            // the events behind the newest checkpoints reach the disk first,
            // so that a power cut cannot keep a position without its events
            g.sync_now();
            let cps = serde_json::to_vec(&g.checkpoints).unwrap_or_default();
            write_atomic(&g.dir.join("checkpoints.json"), &cps)?;
        }
        while g.segments.front().is_some_and(|s| s.last <= seq) {
            if g.segments.len() == 1 {
                // the segment being written: the next append starts anew
                g.sync_now();
                g.active = None;
            }
            if let Some(s) = g.segments.pop_front() {
                g.remove_segment_file(&s)?;
            }
        }
        drop(g);
        self.room.notify_all();
        Ok(())
    }

    /// Goes back to the first record central has not acknowledged (after a
    /// batch was given up), so it is read again.
    pub fn rewind(&self) {
        let mut g = self.lock();
        g.read.next = g.acked + 1;
        g.read.at = None;
    }

    /// No more appends will come (the sources ended or the sensor stops).
    pub fn close_input(&self) {
        self.lock().closed = true;
        self.appended.notify_waiters();
        self.appended.notify_one();
        self.room.notify_all();
    }

    /// Whether the input is closed and everything appended was acknowledged.
    pub fn drained(&self) -> bool {
        let g = self.lock();
        g.closed && g.acked + 1 >= g.next_seq
    }

    /// Whether the input is closed.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// `fsync`s the segment being written if anything is unsynced.
    pub fn sync(&self) {
        let mut g = self.lock();
        g.sync_now();
    }

    /// Current figures.
    pub fn stats(&self) -> SpoolStats {
        let g = self.lock();
        let mut s = g.stats.clone();
        s.bytes = g.bytes;
        s.segments = g.segments.len() as u64;
        s.next_seq = g.next_seq;
        s.acked = g.acked;
        s.pending = g.next_seq.saturating_sub(g.acked + 1);
        s
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.lock().sync_now();
    }
}

impl Inner {
    fn sync_now(&mut self) {
        if self.dirty {
            if let Some(Err(e)) = self.active.as_ref().map(File::sync_data) {
                tracing::warn!(error = %e, "spool fsync failed");
            }
            self.dirty = false;
        }
        self.last_sync = Instant::now();
    }

    fn remove_segment_file(&mut self, s: &Segment) -> Result<(), SpoolError> {
        let path = segment_path(&self.dir, s.first);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path)(e)),
        }
        self.bytes = self.bytes.saturating_sub(s.bytes);
        Ok(())
    }

    /// Writes encoded records `first..first+events.len()` to the active
    /// segment, starting a new one when needed.
    fn write(&mut self, buf: &[u8], first: u64, classes: &[Class]) -> Result<(), SpoolError> {
        let need_new = match self.segments.back() {
            None => true,
            Some(s) => s.bytes >= self.cfg.segment_bytes,
        };
        if need_new {
            self.sync_now();
            self.active = None;
            let path = segment_path(&self.dir, first);
            let mut f = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&path)
                .map_err(io_err(&path))?;
            f.write_all(MAGIC).map_err(io_err(&path))?;
            self.segments.push_back(Segment {
                first,
                last: first - 1,
                bytes: MAGIC.len() as u64,
                classes: [0; 4],
                generation: 0,
            });
            self.bytes += MAGIC.len() as u64;
            self.active = Some(f);
        }
        if self.active.is_none() {
            // reopened after a restart: append to the last segment
            let first = self.segments.back().map_or(first, |s| s.first);
            let path = segment_path(&self.dir, first);
            let f = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(io_err(&path))?;
            self.active = Some(f);
        }
        let Some(f) = self.active.as_mut() else {
            return Err(SpoolError::Invalid("no active segment".into()));
        };
        let path = segment_path(&self.dir, self.segments.back().map_or(first, |s| s.first));
        let before = self.segments.back().map_or(0, |s| s.bytes);
        if let Err(e) = f.write_all(buf) {
            // cut a partial write off; the sequence numbers it used are
            // spent either way, so they are never given to other events
            // (not even if part of it could not be cut off)
            let cut = f
                .set_len(before)
                .and_then(|()| f.seek(std::io::SeekFrom::Start(before)).map(|_| ()));
            self.next_seq = first + classes.len() as u64;
            let spent = self.next_seq - 1;
            if cut.is_err() {
                self.active = None;
            }
            if let Some(s) = self.segments.back_mut() {
                s.last = spent;
                if cut.is_err() {
                    // a torn tail stays here: start a new segment
                    s.bytes = s.bytes.max(self.cfg.segment_bytes);
                }
            }
            return Err(io_err(&path)(e));
        }
        let n = buf.len() as u64;
        self.bytes += n;
        self.next_seq = first + classes.len() as u64;
        if let Some(s) = self.segments.back_mut() {
            s.bytes += n;
            s.last = self.next_seq - 1;
            for c in classes {
                s.classes[*c as usize] += 1;
            }
        }
        self.dirty = true;
        if self.last_sync.elapsed() >= Duration::from_millis(self.cfg.sync_ms) {
            self.sync_now();
        }
        Ok(())
    }

    fn read_batch(
        &mut self,
        max_events: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, SpoolError> {
        let mut out = Vec::new();
        let mut size = 0usize;
        let mut i = 0;
        let mut want = 1 << 20;
        while i < self.segments.len() && out.len() < max_events && size < max_bytes {
            let (first, last, generation) = {
                let s = &self.segments[i];
                (s.first, s.last, s.generation)
            };
            let sealed = i + 1 < self.segments.len();
            if last < self.read.next {
                i += 1;
                continue;
            }
            let offset = match self.read.at {
                Some((f, g, o)) if f == first && g == generation => o,
                _ => MAGIC.len() as u64,
            };
            let path = segment_path(&self.dir, first);
            let mut file = File::open(&path).map_err(io_err(&path))?;
            let buf = read_from(&mut file, offset, want).map_err(io_err(&path))?;
            let eof = buf.len() < want;
            // at the end of the file, an unfinished record is damage
            let sc = scan(&buf, 0, eof);
            for (_, len) in &sc.damage {
                // damage that appeared after open (the disk): skip it
                self.stats.corrupt_bytes += *len as u64;
                self.stats.corrupt_records += 1;
            }
            let mut consumed = 0;
            let mut stopped = false;
            for f in &sc.records {
                if f.seq < self.read.next {
                    consumed = f.end;
                    continue;
                }
                if out.len() >= max_events || size >= max_bytes {
                    stopped = true;
                    break;
                }
                if f.class == Class::Checkpoint {
                    self.read.next = f.seq + 1;
                    consumed = f.end;
                    continue;
                }
                out.push(Record {
                    seq: f.seq,
                    payload: buf[f.payload.0..f.end].to_vec(),
                });
                size += f.payload.1;
                self.read.next = f.seq + 1;
                consumed = f.end;
            }
            if !stopped {
                match sc.partial_from {
                    Some(0) if sc.records.is_empty() => {
                        // one record longer than the window: read it whole
                        // (a window of the largest record always ends this)
                        want = MAX_RECORD + HEADER;
                        consumed = 0;
                    }
                    Some(p) => consumed = p,
                    None => consumed = buf.len(),
                }
            }
            self.read.at = Some((first, generation, offset + consumed as u64));
            if stopped {
                break;
            }
            if eof && consumed == buf.len() {
                // all of this segment is read (records evicted from it
                // included): the writer holds the same lock, so for the
                // segment being written this is its end too
                self.read.next = self.read.next.max(last + 1);
                if !sealed {
                    break;
                }
                i += 1;
            } else if eof {
                break;
            }
        }
        if i >= self.segments.len() {
            // every segment is read: whatever numbers are left below
            // next_seq were evicted or spent by a failed write
            self.read.next = self.read.next.max(self.next_seq);
        }
        Ok(out)
    }

    /// Drops events until the spool is within 90% of its limit: protocol
    /// metadata first, then other events, then alerts; oldest first; never
    /// what the shipper already has.
    fn evict(&mut self) {
        let target = self.cfg.max_bytes / 10 * 9;
        for class in [Class::Metadata, Class::Other, Class::Alert] {
            let mut i = 0;
            while self.bytes > target && i < self.segments.len() {
                let sealed = i + 1 < self.segments.len();
                let s = &self.segments[i];
                if !sealed && s.bytes < self.cfg.segment_bytes / 2 {
                    break;
                }
                if s.classes[class as usize] == 0 || s.last < self.read.next {
                    i += 1;
                    continue;
                }
                if !sealed {
                    self.sync_now();
                }
                match self.rewrite_without(i, class) {
                    Ok(true) => {}
                    Ok(false) => i += 1,
                    Err(e) => {
                        tracing::error!(error = %e, "spool eviction failed");
                        return;
                    }
                }
            }
        }
        if let Err(e) = write_atomic(
            &self.dir.join("drops.json"),
            &serde_json::to_vec(&self.stats.dropped).unwrap_or_default(),
        ) {
            tracing::warn!(error = %e, "cannot save spool drop counts");
        }
    }

    /// Rewrites segment `i` without its `class` records that the shipper
    /// has not been given. Returns whether the segment was removed whole.
    fn rewrite_without(&mut self, i: usize, class: Class) -> Result<bool, SpoolError> {
        let first = self.segments[i].first;
        let path = segment_path(&self.dir, first);
        let mut buf = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut buf))
            .map_err(io_err(&path))?;
        let sc = scan(&buf, MAGIC.len().min(buf.len()), true);
        let mut out = Vec::with_capacity(buf.len());
        out.extend_from_slice(MAGIC);
        let mut classes = [0u64; 4];
        let mut evictable = [0u64; 4];
        let mut last = first - 1;
        let mut dropped = 0u64;
        for f in &sc.records {
            let (o, l) = f.payload;
            let payload = &buf[o..o + l];
            if f.class == class && f.seq >= self.read.next {
                *self
                    .stats
                    .dropped
                    .entry(event_type_of(payload))
                    .or_default() += 1;
                dropped += 1;
                continue;
            }
            encode(&mut out, f.seq, f.class, false, payload);
            classes[f.class as usize] += 1;
            if f.seq >= self.read.next {
                evictable[f.class as usize] += 1;
            }
            last = f.seq;
        }
        let old_bytes = self.segments[i].bytes;
        let was_active = i + 1 == self.segments.len();
        if dropped > 0 {
            let n: u64 = dropped;
            tracing::warn!(
                dropped = n,
                class = ?class,
                "spool full: oldest events dropped (central unreachable for long?)"
            );
        }
        if classes.iter().sum::<u64>() == 0 {
            let s = self.segments.remove(i).unwrap_or(Segment {
                first,
                last,
                bytes: old_bytes,
                classes,
                generation: 0,
            });
            if was_active {
                self.active = None;
            }
            self.remove_segment_file(&s)?;
            self.generation += 1;
            return Ok(true);
        }
        if was_active {
            self.active = None;
        }
        write_atomic(&path, &out)?;
        self.generation += 1;
        let generation = self.generation;
        let s = &mut self.segments[i];
        s.classes = evictable;
        s.bytes = out.len() as u64;
        s.generation = generation;
        self.bytes = self.bytes - old_bytes.min(self.bytes) + out.len() as u64;
        Ok(false)
    }
}

fn read_from(file: &mut File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(len.min(1 << 20));
    file.take(len as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, n: i64) -> Event {
        let mut e = Event::new(kind, 1_700_000_000_000_000 + n);
        e.src_ip = Some(format!("192.0.2.{}", n % 250));
        e
    }

    fn small() -> SpoolConfig {
        SpoolConfig {
            max_bytes: 1 << 20,
            segment_bytes: 16 << 10,
            sync_ms: 0,
        }
    }

    fn drain(sp: &Spool) -> Vec<Record> {
        let mut all = Vec::new();
        loop {
            let b = sp.read(100, 1 << 20).unwrap();
            if b.records.is_empty() {
                sp.ack(b.through).unwrap();
                return all;
            }
            sp.ack(b.through).unwrap();
            all.extend(b.records);
        }
    }

    fn ids(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| {
                let e: Event = serde_json::from_slice(&r.payload).unwrap();
                e.event_id.unwrap().to_string()
            })
            .collect()
    }

    #[test]
    fn roundtrip_across_segments_and_restart() {
        let d = tempfile::tempdir().unwrap();
        let events: Vec<Event> = (0..500).map(|i| ev("flow", i)).collect();
        let want: Vec<String> = events
            .iter()
            .map(|e| e.event_id.unwrap().to_string())
            .collect();
        {
            let sp = Spool::open(d.path(), small()).unwrap();
            for chunk in events.chunks(7) {
                sp.append(chunk, Full::Evict);
            }
            assert!(sp.stats().segments > 3, "{:?}", sp.stats());
            // ship 200, acknowledge them, then "crash"
            let mut got = Vec::new();
            while got.len() < 200 {
                let b = sp.read(50, 1 << 20).unwrap();
                got.extend(b.records);
                sp.ack(got.last().unwrap().seq).unwrap();
            }
            assert_eq!(ids(&got), want[..200]);
        }
        let sp = Spool::open(d.path(), small()).unwrap();
        assert_eq!(sp.stats().pending, 300);
        let rest = drain(&sp);
        assert_eq!(ids(&rest), want[200..]);
        assert_eq!(sp.stats().pending, 0);
        // acknowledged segments are gone
        assert_eq!(sp.stats().segments, 0);
        assert_eq!(sp.stats().bytes, 0);
        // new appends continue the sequence
        sp.push(&ev("alert", 1), Full::Evict);
        let b = sp.read(10, 1 << 20).unwrap();
        assert_eq!(b.records[0].seq, 501);
    }

    #[test]
    fn unacknowledged_records_are_read_again_after_a_restart() {
        let d = tempfile::tempdir().unwrap();
        {
            let sp = Spool::open(d.path(), small()).unwrap();
            sp.append(
                &(0..10).map(|i| ev("dns", i)).collect::<Vec<_>>(),
                Full::Evict,
            );
            let b = sp.read(100, 1 << 20).unwrap();
            assert_eq!(b.records.len(), 10);
            // sent, but central never answered
        }
        let sp = Spool::open(d.path(), small()).unwrap();
        assert_eq!(drain(&sp).len(), 10);
    }

    fn last_segment(dir: &Path) -> PathBuf {
        let mut segs: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .collect();
        segs.sort();
        segs.pop().unwrap()
    }

    #[test]
    fn torn_tail_is_cut_and_counted() {
        let d = tempfile::tempdir().unwrap();
        {
            let sp = Spool::open(d.path(), small()).unwrap();
            for i in 0..20 {
                sp.push(&ev("alert", i), Full::Evict);
            }
        }
        let seg = last_segment(d.path());
        let len = std::fs::metadata(&seg).unwrap().len();
        // a power cut in the middle of the last record
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 30).unwrap();
        drop(f);
        let sp = Spool::open(d.path(), small()).unwrap();
        let st = sp.stats();
        assert_eq!(st.corrupt_records, 1);
        assert!(st.corrupt_bytes > 0);
        assert_eq!(st.pending, 19);
        // appends after the repair are readable, the sequence goes on
        sp.push(&ev("alert", 99), Full::Evict);
        let all = drain(&sp);
        assert_eq!(all.len(), 20);
        assert_eq!(all[18].seq, 19);
        assert_eq!(all[19].seq, 20);
    }

    #[test]
    fn flipped_bytes_lose_only_their_record() {
        let d = tempfile::tempdir().unwrap();
        let events: Vec<Event> = (0..20).map(|i| ev("alert", i)).collect();
        {
            let sp = Spool::open(d.path(), small()).unwrap();
            for e in &events {
                sp.push(e, Full::Evict);
            }
        }
        let seg = last_segment(d.path());
        let mut bytes = std::fs::read(&seg).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        bytes[mid + 1] ^= 0x55;
        std::fs::write(&seg, &bytes).unwrap();
        let sp = Spool::open(d.path(), small()).unwrap();
        let st = sp.stats();
        assert_eq!(st.corrupt_records, 1, "{st:?}");
        let got = drain(&sp);
        assert_eq!(got.len(), 19);
        // garbage instead of a segment: counted, removed, no panic
        std::fs::write(
            d.path().join("00000000000000999999.seg"),
            b"not a spool at all",
        )
        .unwrap();
        let sp = Spool::open(d.path(), small()).unwrap();
        assert!(sp.stats().corrupt_records >= 1);
        assert_eq!(sp.stats().pending, 0);
    }

    #[test]
    fn a_torn_append_goes_whole_with_its_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        {
            let sp = Spool::open(d.path(), small()).unwrap();
            let a: Vec<Event> = (0..5).map(|i| ev("log", i)).collect();
            sp.append_at(
                &a,
                Some(("file:/x", serde_json::json!({ "line": 5 }))),
                Full::Wait,
            );
            let b: Vec<Event> = (5..10).map(|i| ev("log", i)).collect();
            sp.append_at(
                &b,
                Some(("file:/x", serde_json::json!({ "line": 10 }))),
                Full::Wait,
            );
        }
        // the power went while the second append was on its way to disk:
        // its checkpoint and part of its events are missing
        let seg = last_segment(d.path());
        let len = std::fs::metadata(&seg).unwrap().len();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 120).unwrap();
        drop(f);
        let sp = Spool::open(d.path(), small()).unwrap();
        let st = sp.stats();
        assert!(st.torn_records >= 4, "{st:?}");
        // the source resumes after the first append, and only its events
        // are left to ship: nothing is doubled when lines 6-10 are re-read
        assert_eq!(
            sp.checkpoint("file:/x"),
            Some(serde_json::json!({ "line": 5 }))
        );
        assert_eq!(drain(&sp).len(), 5);
    }

    #[test]
    fn full_spool_drops_metadata_first_and_alerts_last() {
        let d = tempfile::tempdir().unwrap();
        let cfg = SpoolConfig {
            max_bytes: 256 << 10,
            segment_bytes: 32 << 10,
            sync_ms: 0,
        };
        let sp = Spool::open(d.path(), cfg.clone()).unwrap();
        let mut alerts = Vec::new();
        for i in 0..3000 {
            let e = if i % 10 == 0 {
                let a = ev("alert", i);
                alerts.push(a.event_id.unwrap().to_string());
                a
            } else if i % 10 == 1 {
                ev("log", i)
            } else {
                ev("flow", i)
            };
            sp.push(&e, Full::Evict);
        }
        let st = sp.stats();
        assert!(st.bytes <= cfg.max_bytes + cfg.segment_bytes, "{st:?}");
        assert!(st.dropped.get("flow").copied().unwrap_or(0) > 0, "{st:?}");
        assert_eq!(st.dropped.get("alert"), None, "{st:?}");
        let got = drain(&sp);
        let got_ids = ids(&got);
        for a in &alerts {
            assert!(got_ids.contains(a), "alert {a} was dropped");
        }
        // what was kept plus what was dropped is everything
        let dropped: u64 = st.dropped.values().sum();
        assert_eq!(got.len() as u64 + dropped, 3000);
        // the counts survive a restart
        drop(sp);
        let sp = Spool::open(d.path(), cfg).unwrap();
        assert_eq!(sp.stats().dropped, st.dropped);
    }

    #[test]
    fn checkpoints_survive_segment_deletion_and_are_not_shipped() {
        let d = tempfile::tempdir().unwrap();
        {
            let sp = Spool::open(d.path(), small()).unwrap();
            for i in 0..300 {
                sp.append_at(
                    &[ev("log", i)],
                    Some(("file:/x", serde_json::json!({ "line": i }))),
                    Full::Wait,
                );
            }
            let got = drain(&sp);
            assert_eq!(got.len(), 300);
            assert!(sp.drained() || !sp.is_closed());
            sp.close_input();
            assert!(sp.drained());
        }
        let sp = Spool::open(d.path(), small()).unwrap();
        assert_eq!(
            sp.checkpoint("file:/x"),
            Some(serde_json::json!({ "line": 299 }))
        );
        assert_eq!(sp.stats().pending, 0);
    }

    /// Whatever happens to the bytes of a segment, opening and reading the
    /// spool never panics and never yields a record that was not written.
    #[test]
    fn mangled_segments_never_panic_or_invent_records() {
        let d = tempfile::tempdir().unwrap();
        let events: Vec<Event> = (0..40)
            .map(|i| ev(["alert", "flow", "log"][i % 3], i as i64))
            .collect();
        let written: std::collections::HashSet<Vec<u8>> = events
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap())
            .collect();
        {
            let sp = Spool::open(d.path(), small()).unwrap();
            for chunk in events.chunks(3) {
                sp.append_at(
                    chunk,
                    Some(("file:/x", serde_json::json!({ "line": 1 }))),
                    Full::Wait,
                );
            }
        }
        let seg = last_segment(d.path());
        let pristine = std::fs::read(&seg).unwrap();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..300 {
            let mut bytes = pristine.clone();
            let n = bytes.len() as u64;
            match round % 4 {
                0 => {
                    for _ in 0..1 + next() % 8 {
                        let i = (next() % n) as usize;
                        bytes[i] ^= (next() % 255 + 1) as u8;
                    }
                }
                1 => bytes.truncate((next() % n) as usize),
                2 => {
                    let at = (next() % n) as usize;
                    let junk: Vec<u8> = (0..next() % 64).map(|_| next() as u8).collect();
                    bytes.splice(at..at, junk);
                }
                _ => {
                    let a = (next() % n) as usize;
                    let b = (a + (next() % 200) as usize).min(bytes.len());
                    bytes.drain(a..b);
                }
            }
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(seg.file_name().unwrap()), &bytes).unwrap();
            let sp = Spool::open(dir.path(), small()).unwrap();
            for r in drain(&sp) {
                assert!(
                    written.contains(&r.payload),
                    "round {round}: a record nobody wrote"
                );
            }
            // and the spool takes new events afterwards
            sp.push(&ev("alert", 1), Full::Evict);
            assert_eq!(drain(&sp).len(), 1, "round {round}");
        }
    }

    #[test]
    fn a_partly_acknowledged_segment_keeps_its_checkpoint_across_restarts() {
        let d = tempfile::tempdir().unwrap();
        {
            let sp = Spool::open(d.path(), small()).unwrap();
            let a: Vec<Event> = (0..3).map(|i| ev("log", i)).collect();
            sp.append_at(
                &a,
                Some(("file:/x", serde_json::json!({ "line": 3 }))),
                Full::Wait,
            );
            sp.append(&[ev("alert", 4), ev("alert", 5)], Full::Wait);
            // central has the first append (and its checkpoint), not the rest
            sp.ack(4).unwrap();
        }
        // the first open rewrites the segment without what was acknowledged
        drop(Spool::open(d.path(), small()).unwrap());
        let sp = Spool::open(d.path(), small()).unwrap();
        assert_eq!(
            sp.checkpoint("file:/x"),
            Some(serde_json::json!({ "line": 3 }))
        );
        assert_eq!(drain(&sp).len(), 2);
    }

    #[test]
    fn a_closed_spool_drains_even_when_eviction_took_its_last_segment() {
        let d = tempfile::tempdir().unwrap();
        let cfg = SpoolConfig {
            max_bytes: 64 << 10,
            segment_bytes: 8 << 10,
            sync_ms: 0,
        };
        let sp = Spool::open(d.path(), cfg).unwrap();
        for i in 0..2000 {
            sp.push(&ev("flow", i), Full::Evict);
        }
        sp.close_input();
        let mut rounds = 0;
        while !sp.drained() {
            let b = sp.read(100, 1 << 20).unwrap();
            sp.ack(b.through).unwrap();
            rounds += 1;
            assert!(rounds < 1000, "never drained: {:?}", sp.stats());
        }
        let st = sp.stats();
        assert!(st.dropped["flow"] > 0);
    }

    #[test]
    fn waiting_appender_resumes_when_room_is_freed() {
        let d = tempfile::tempdir().unwrap();
        let cfg = SpoolConfig {
            max_bytes: 64 << 10,
            segment_bytes: 8 << 10,
            sync_ms: 0,
        };
        let sp = std::sync::Arc::new(Spool::open(d.path(), cfg).unwrap());
        let w = std::sync::Arc::clone(&sp);
        let writer = std::thread::spawn(move || {
            for i in 0..2000 {
                w.push(&ev("flow", i), Full::Wait);
            }
            w.close_input();
        });
        let mut n = 0;
        while !sp.drained() {
            let b = sp.read(100, 1 << 20).unwrap();
            n += b.records.len();
            sp.ack(b.through).unwrap();
            assert!(sp.stats().bytes <= (64 << 10) + (8 << 10) + 4096);
            std::thread::sleep(Duration::from_millis(1));
        }
        writer.join().unwrap();
        assert_eq!(n, 2000);
        assert!(sp.stats().dropped.is_empty());
    }
}
