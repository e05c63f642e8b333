//! SMTP sessions and MIME messages on arbitrary bytes: never a panic, cut
//! at any point of the client stream, and every parsed message (the same
//! bytes also as an upload body, and as a file to unwrap) within its
//! limits.
#![no_main]

use canhgac::applayer::mime::{MimeLimits, parse_message, parse_multipart};
use canhgac::applayer::smtp::{SmtpConfig, SmtpState, email_eve, smtp_eve};
use canhgac::detect::yara::decode::{DecodeLimits, DecodeStats, derive};
use libfuzzer_sys::fuzz_target;

fn session(data: &[u8], chunk: usize) -> usize {
    let mut s = SmtpState::new(SmtpConfig::default());
    let mut done = Vec::new();
    // server banner first, then the client's bytes
    let _ = s.feed(false, b"220 mx ESMTP\r\n");
    for c in data.chunks(chunk.max(1)) {
        done.extend(s.feed(true, c));
        let _ = s.feed(false, b"250 ok\r\n");
    }
    done.extend(s.close());
    done.iter().filter_map(|id| s.tx(*id)).count()
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let limits = MimeLimits {
        max_parts: 16,
        max_part_size: 1 << 16,
        ..Default::default()
    };
    let msg = parse_message(&data[1..], &limits);
    assert!(msg.parts.len() <= limits.max_parts + 1);
    assert!(msg.parts.iter().all(|p| p.data.len() <= limits.max_part_size));
    let _ = parse_multipart(b"multipart/form-data; boundary=x", &data[1..], &limits);

    let mut s = SmtpState::new(SmtpConfig::default());
    for id in s.feed(true, &data[1..]) {
        if let Some(t) = s.tx(id) {
            let _ = smtp_eve(t);
            let _ = email_eve(&msg, t);
        }
    }
    let _ = session(&data[1..], usize::from(data[0]));

    let mut out = Vec::new();
    let mut st = DecodeStats::default();
    derive(&data[1..], "f", &DecodeLimits::default(), &mut out, &mut st);
});
