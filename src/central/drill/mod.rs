//! Drills: scenarios from `playbooks/drills/`, injects delivered through the
//! real sensors (never onto the wire), scoring from real timestamps, the
//! leaderboard and the after-action report.
//!
//! Today: the scenario format and its validation ([`scenario`]); running,
//! scoring and reports come next. Events already carry a `drill` field so
//! that drill traffic can be told apart from the start.

pub mod scenario;
