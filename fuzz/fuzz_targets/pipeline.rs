//! The whole packet path (decode, flows, reassembly, app layer, detection)
//! on a sequence of arbitrary frames: never a panic.
#![no_main]

use std::sync::Arc;

use canhgac::capture::{LinkType, RawPacket};
use canhgac::detect::signature::{DEFAULT_CLASSIFICATION, RuleSet, Vars, parse_classifications};
use canhgac::sensor::pipeline::{Identity, Pipeline};
use libfuzzer_sys::fuzz_target;

const RULES: &str = r#"
alert tcp any any -> any any (msg:"c"; content:"GET"; sid:1;)
alert http any any -> any any (msg:"u"; http.uri; content:"/a"; sid:2;)
alert dns any any -> any any (msg:"d"; dns.query; content:"x"; sid:3;)
alert tls any any -> any any (msg:"t"; tls.sni; content:"x"; sid:4;)
alert tcp any any -> any any (msg:"p"; pcre:"/a.b/"; byte_test:1,>,1,0,relative; sid:5;)
"#;

fuzz_target!(|data: &[u8]| {
    let Ok(rules) = RuleSet::compile_str(
        "fuzz.rules",
        RULES,
        &Vars::default(),
        parse_classifications(DEFAULT_CLASSIFICATION),
    ) else {
        return;
    };
    let mut p = Pipeline::new(Arc::new(rules), Identity::default(), false);
    let mut out = Vec::new();
    // frames separated by a 2-byte length
    let mut rest = data;
    let mut ts = 0;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]])) % 2048;
        rest = &rest[2..];
        let n = n.min(rest.len());
        let (frame, tail) = rest.split_at(n);
        rest = tail;
        ts += 1000;
        p.process(
            &RawPacket {
                ts_micros: ts,
                link: LinkType::Raw,
                data: frame,
            },
            &mut out,
        );
    }
    p.finish(&mut out);
});
