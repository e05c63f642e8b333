//! Application-layer parsers: HTTP/1.x (request and response lines, headers,
//! chunked and gzip bodies), DNS, TLS (ClientHello SNI, JA3/JA4,
//! certificates), SMTP (MIME attachments) and SSH banners, plus file
//! extraction for YARA.
//!
//! Empty for now: the foundation matches rules on raw packet payloads. The
//! network-detection issue fills this room; parsers here see reassembled
//! streams from [`crate::flow`] and never touch sockets or the store.
