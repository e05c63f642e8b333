//! Notifications: email (lettre over rustls) and webhooks, with recipients
//! and reporting deadlines from configuration, never hard-coded.
//!
//! Empty for now.
