//! Arbitrary bytes as a spool segment: opening the spool and reading it
//! back must never panic, and the spool must take new events afterwards.
#![no_main]

use canhgac::event::Event;
use canhgac::sensor::spool::{Full, Spool, SpoolConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    if std::fs::write(dir.path().join("00000000000000000001.seg"), data).is_err() {
        return;
    }
    let cfg = SpoolConfig {
        max_bytes: 1 << 20,
        segment_bytes: 16 << 10,
        sync_ms: 0,
    };
    let Ok(sp) = Spool::open(dir.path(), cfg) else { return };
    loop {
        let Ok(b) = sp.read(100, 1 << 20) else { break };
        let _ = sp.ack(b.through);
        if b.records.is_empty() {
            break;
        }
    }
    sp.push(&Event::new("alert", 1_700_000_000_000_000), Full::Evict);
    let b = sp.read(10, 1 << 20);
    assert!(matches!(b, Ok(ref b) if b.records.len() == 1));
});
