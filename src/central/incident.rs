//! Incidents, first version: alerts of the same unit and signature
//! (`gid:sid`) within a configurable window join one open incident; an alert
//! outside every open incident's window opens a new one.
//!
//! The grouping runs inside the ingest transaction ([`super::store::Store::ingest`]),
//! so an alert and its incident are stored together or not at all. An
//! incident's severity is its most severe alert's; its first and last seen
//! times span its alerts' times (the sensor's clock, not arrival time, so a
//! batch delayed by an outage still groups correctly).

use serde::{Deserialize, Serialize};

/// `[incidents]` in `central.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentConfig {
    /// Alerts within this many seconds of an open incident join it.
    #[serde(default = "default_window")]
    pub window_secs: u64,
}

fn default_window() -> u64 {
    3600
}

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig {
            window_secs: default_window(),
        }
    }
}

impl IncidentConfig {
    /// The window in microseconds, as the store wants it.
    pub fn window_micros(&self) -> i64 {
        i64::try_from(self.window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
    }
}
