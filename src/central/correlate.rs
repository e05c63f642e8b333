//! Correlation across alerts: campaigns (one source hitting several units),
//! grouping by configurable keys (rule, addresses), severity from the rule
//! and the asset's information-system level (1–5).
//!
//! Empty for now: the foundation's grouping is in [`super::incident`]. This
//! room will run as its own task fed by a bounded channel from ingest.
