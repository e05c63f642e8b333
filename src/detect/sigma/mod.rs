//! Sigma detection (and Sigma correlation) over normalised log events from
//! [`crate::logs`].
//!
//! Built in parts. In place: YAML with positions, so that every rule error
//! can name its file:line:column ([`yaml`]), and the condition grammar with
//! names resolved at compile time ([`condition`]). The matchers, rule
//! loading, logsource mapping and correlation follow; until then log events
//! are shipped with their parsed fields but not matched.

pub mod condition;
pub mod matcher;
pub mod yaml;
