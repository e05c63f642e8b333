//! Detection: signatures over packets ([`signature`]), YARA over files
//! ([`yara`]) and Sigma over logs ([`sigma`]).
//!
//! Nothing here knows about HTTP servers or databases: detection takes
//! decoded data in and hands matches out; turning matches into events is the
//! sensor's job.

pub mod sigma;
pub mod signature;
pub mod yara;

/// A stable signature id for rules that have none of their own (YARA and
/// Sigma rules; EVE alerts need one): FNV-1a of `key`, in 1..2^31.
pub fn stable_sid(key: &[u8]) -> u64 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in key {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    u64::from(h & 0x7fff_ffff).max(1)
}
