//! The HTTP/1.x parser on arbitrary bytes in both directions, split at
//! arbitrary points: never a panic, and the same result however the input
//! is cut.
#![no_main]

use canhgac::applayer::http::{HttpConfig, HttpParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let split = usize::from(data[0]) % data.len();
    let (req, resp) = data[1..].split_at(split.min(data.len() - 1));
    let mut p = HttpParser::new(HttpConfig::default());
    for chunk in req.chunks(usize::from(data[1]).max(1)) {
        p.feed_request(chunk);
    }
    for chunk in resp.chunks(7) {
        p.feed_response(chunk);
    }
    p.close_request();
    p.close_response();
    let mut whole = HttpParser::new(HttpConfig::default());
    whole.feed_request(req);
    whole.feed_response(resp);
    whole.close_request();
    whole.close_response();
    assert_eq!(p.txs().len(), whole.txs().len());
});
