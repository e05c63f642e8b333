//! canhgac — information-security incident detection and response for
//! provincial and local government networks.
//!
//! One binary, several roles (see `docs/architecture.md`):
//!
//! * the **sensor** at a unit's gateway: [`capture`] → [`decode`] →
//!   [`detect`] → [`event`]s → shipped to central ([`sensor`]);
//! * **central** at the province: ingest, [`central::store`], incidents,
//!   the web console ([`central`]);
//! * **replay**: pcap files through the sensor's detection path, EVE JSON out.
//!
//! The arrows go one way: sources → detection → events → transport →
//! central. [`event`] is the only module both sides share.

pub mod applayer;
pub mod capture;
pub mod central;
pub mod config;
pub mod decode;
pub mod detect;
pub mod event;
pub mod flow;
pub mod logs;
pub mod sensor;
pub mod up;

#[cfg(test)]
mod testutil;
