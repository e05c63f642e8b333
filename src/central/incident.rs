//! Incidents: alerts of the same unit and signature (`gid:sid`) within a
//! configurable window join one open incident; an alert outside every open
//! incident's window opens a new one. People then move an incident through
//! its workflow — new → acknowledged → contained → resolved → closed — with
//! reasons, assign it, and comment on it; everything lands on the
//! incident's timeline and in the audit trail.
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

/// The workflow, in order.
pub const STATUSES: [&str; 5] = ["new", "acknowledged", "contained", "resolved", "closed"];

/// Statuses in which an incident still takes new alerts ("open").
pub const OPEN: [&str; 3] = ["new", "acknowledged", "contained"];

fn rank(status: &str) -> Option<usize> {
    STATUSES.iter().position(|s| *s == status)
}

/// Checks a status change: forward steps may skip (a false positive goes
/// from new to closed), and need a reason when they resolve or close; a
/// step back (reopening) always needs a reason.
///
/// # Errors
/// A message saying what is wrong.
pub fn check_transition(from: &str, to: &str, reason: &str) -> Result<(), String> {
    let (Some(a), Some(b)) = (rank(from), rank(to)) else {
        return Err(format!(
            "unknown status {to:?}; expected one of {}",
            STATUSES.join(", ")
        ));
    };
    if a == b {
        return Err(format!("the incident is already {to}"));
    }
    let reason = reason.trim();
    if b < a && reason.is_empty() {
        return Err(format!(
            "moving an incident back from {from} to {to} needs a reason"
        ));
    }
    if (to == "resolved" || to == "closed") && reason.is_empty() {
        return Err(format!("marking an incident {to} needs a reason"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_steps_and_reasons() {
        assert!(check_transition("new", "acknowledged", "").is_ok());
        assert!(check_transition("new", "contained", "").is_ok());
        assert!(check_transition("new", "closed", "false positive: scanner of our own").is_ok());
        assert!(
            check_transition("new", "closed", " ")
                .unwrap_err()
                .contains("needs a reason")
        );
        assert!(check_transition("contained", "resolved", "").is_err());
        assert!(
            check_transition("closed", "acknowledged", "")
                .unwrap_err()
                .contains("back")
        );
        assert!(check_transition("closed", "acknowledged", "it came back").is_ok());
        assert!(
            check_transition("new", "new", "x")
                .unwrap_err()
                .contains("already")
        );
        assert!(
            check_transition("new", "done", "x")
                .unwrap_err()
                .contains("unknown status")
        );
    }
}
