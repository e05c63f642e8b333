//! Sigma detection (and Sigma correlation) over normalised log events from
//! [`crate::logs`].
//!
//! Empty for now: the foundation ships log lines to central as `log` events
//! without matching them. The log-detection issue fills this room.
