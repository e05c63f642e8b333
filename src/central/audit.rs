//! The audit trail: who did what, when — every playbook action, every change
//! to users, units and sensors.
//!
//! Empty for now; admin commands log through `tracing` until it lands.
