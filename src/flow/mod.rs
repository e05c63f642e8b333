//! Flows: the table keyed by 5-tuple, timeouts, TCP reassembly and the
//! per-flow state that detection needs (flowbits, app-layer state).
//!
//! The foundation only needs a stable `flow_id` for EVE events, so this
//! room holds [`FlowKey`] and [`flow_id`]. The flow table and reassembly come
//! with the network-detection issue; they will live here, owned per worker
//! thread, with no locks on the hot path.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use crate::decode::{Decoded, Proto};

/// A direction-independent 5-tuple: both directions of a conversation give
/// the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub lo: (IpAddr, u16),
    pub hi: (IpAddr, u16),
    pub proto: Proto,
}

impl FlowKey {
    /// The key of a decoded packet.
    pub fn of(d: &Decoded<'_>) -> Self {
        let a = (d.src, d.sport);
        let b = (d.dst, d.dport);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        FlowKey {
            lo,
            hi,
            proto: d.proto,
        }
    }
}

/// The EVE `flow_id` of a packet's flow: a hash of its [`FlowKey`], kept
/// below 2^51 so that JavaScript reads it exactly.
pub fn flow_id(d: &Decoded<'_>) -> u64 {
    // DefaultHasher with fixed keys is stable within one build; the id only
    // has to tie events of one run together, as Suricata's does.
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new_with_keys(0x6361_6e68, 0x6761_6321);
    FlowKey::of(d).hash(&mut h);
    h.finish() & ((1 << 51) - 1)
}
