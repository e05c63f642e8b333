//! The packet decoder on arbitrary frames, for every link type: it must
//! never panic, only report a frame as invalid.
#![no_main]

use canhgac::capture::{LinkType, RawPacket};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for link in [LinkType::Ethernet, LinkType::Raw, LinkType::LinuxSll, LinkType::Null] {
        let _ = canhgac::decode::decode(&RawPacket {
            ts_micros: 0,
            link,
            data,
        });
    }
});
