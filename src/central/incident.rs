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

/// Why a workflow change was refused; shown in English by the API and
/// through the console's Fluent messages (`refuse-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownStatus(String),
    Already(String),
    BackNeedsReason { from: String, to: String },
    NeedsReason(String),
    Changed,
    NoUser(String),
    CannotSee(String),
    EmptyComment,
    CommentTooLong(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::UnknownStatus(s) => write!(
                f,
                "unknown status {s:?}; expected one of {}",
                STATUSES.join(", ")
            ),
            Refusal::Already(s) => write!(f, "the incident is already {s}"),
            Refusal::BackNeedsReason { from, to } => {
                write!(
                    f,
                    "moving an incident back from {from} to {to} needs a reason"
                )
            }
            Refusal::NeedsReason(s) => write!(f, "marking an incident {s} needs a reason"),
            Refusal::Changed => write!(f, "the incident changed meanwhile; reload and try again"),
            Refusal::NoUser(u) => write!(f, "no user {u:?}"),
            Refusal::CannotSee(u) => {
                write!(f, "{u} cannot see this incident (it is outside their unit)")
            }
            Refusal::EmptyComment => write!(f, "the comment is empty"),
            Refusal::CommentTooLong(n) => write!(f, "the comment is longer than {n} characters"),
        }
    }
}

impl Refusal {
    /// The console message id and its arguments.
    pub fn message(&self) -> (&'static str, Vec<(&'static str, String)>) {
        match self {
            Refusal::UnknownStatus(s) => ("refuse-unknown-status", vec![("status", s.clone())]),
            Refusal::Already(s) => ("refuse-already", vec![("status", s.clone())]),
            Refusal::BackNeedsReason { from, to } => (
                "refuse-back-needs-reason",
                vec![("from", from.clone()), ("to", to.clone())],
            ),
            Refusal::NeedsReason(s) => ("refuse-needs-reason", vec![("status", s.clone())]),
            Refusal::Changed => ("refuse-changed", vec![]),
            Refusal::NoUser(u) => ("refuse-no-user", vec![("user", u.clone())]),
            Refusal::CannotSee(u) => ("refuse-cannot-see", vec![("user", u.clone())]),
            Refusal::EmptyComment => ("refuse-empty-comment", vec![]),
            Refusal::CommentTooLong(n) => ("refuse-comment-too-long", vec![("max", n.to_string())]),
        }
    }
}

/// Checks a status change: forward steps may skip (a false positive goes
/// from new to closed), and need a reason when they resolve or close; a
/// step back (reopening) always needs a reason.
///
/// # Errors
/// The [`Refusal`].
pub fn check_transition(from: &str, to: &str, reason: &str) -> Result<(), Refusal> {
    let (Some(a), Some(b)) = (rank(from), rank(to)) else {
        return Err(Refusal::UnknownStatus(to.to_string()));
    };
    if a == b {
        return Err(Refusal::Already(to.to_string()));
    }
    let reason = reason.trim();
    if b < a && reason.is_empty() {
        return Err(Refusal::BackNeedsReason {
            from: from.to_string(),
            to: to.to_string(),
        });
    }
    if (to == "resolved" || to == "closed") && reason.is_empty() {
        return Err(Refusal::NeedsReason(to.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_steps_and_reasons() {
        let msg = |r: Result<(), Refusal>| r.unwrap_err().to_string();
        assert!(check_transition("new", "acknowledged", "").is_ok());
        assert!(check_transition("new", "contained", "").is_ok());
        assert!(check_transition("new", "closed", "false positive: scanner of our own").is_ok());
        assert!(msg(check_transition("new", "closed", " ")).contains("needs a reason"));
        assert_eq!(
            check_transition("contained", "resolved", ""),
            Err(Refusal::NeedsReason("resolved".into()))
        );
        assert!(msg(check_transition("closed", "acknowledged", "")).contains("back"));
        assert!(check_transition("closed", "acknowledged", "it came back").is_ok());
        assert_eq!(
            check_transition("new", "new", "x"),
            Err(Refusal::Already("new".into()))
        );
        assert!(msg(check_transition("new", "done", "x")).contains("unknown status"));
        // every refusal has a console message
        let i18n = crate::central::console::I18n::load();
        for r in [
            Refusal::UnknownStatus("x".into()),
            Refusal::Already("new".into()),
            Refusal::BackNeedsReason {
                from: "closed".into(),
                to: "new".into(),
            },
            Refusal::NeedsReason("closed".into()),
            Refusal::Changed,
            Refusal::NoUser("u".into()),
            Refusal::CannotSee("u".into()),
            Refusal::EmptyComment,
            Refusal::CommentTooLong(10),
        ] {
            assert!(i18n.has(r.message().0), "{:?}", r);
        }
    }
}
