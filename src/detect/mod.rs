//! Detection: signatures over packets ([`signature`]), YARA over files
//! ([`yara`]) and Sigma over logs ([`sigma`]).
//!
//! Nothing here knows about HTTP servers or databases: detection takes
//! decoded data in and hands matches out; turning matches into events is the
//! sensor's job.

pub mod sigma;
pub mod signature;
pub mod yara;
