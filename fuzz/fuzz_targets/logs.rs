//! Log lines, syslog streams and Sigma rule files on arbitrary bytes: the
//! parsers, the TCP framer, the Sigma loader (correlations included), the
//! prefilter and the correlator never panic, every problem in a rule is
//! reported, and the correlator stays within its bounds.
#![no_main]

use canhgac::detect::sigma::SigmaRuleSet;
use canhgac::detect::sigma::correlation::{Input, Source};
use canhgac::logs::parse::{event_time, parse};
use canhgac::logs::syslog::Framer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let p = parse(line);
        let _ = event_time(&p.fields, 1_795_662_004_000_000);
    }
    let mut f = Framer::new(256);
    for chunk in data.chunks(7) {
        for (m, _) in f.push(chunk) {
            assert!(m.len() <= 256);
        }
    }
    let mut set = SigmaRuleSet::default();
    let mut diags = Vec::new();
    let (_, skipped) = set.add_text("f.yml", &text, &mut diags);
    assert_eq!(skipped > 0, !diags.is_empty());
    for r in &set.rules {
        let p = parse(&text);
        let ev = canhgac::detect::sigma::EventView::new(&p.fields, &text);
        let _ = r.matches(&ev);
    }
    // correlations resolved, then the lines through the prefiltered rules
    // and a small correlator
    set.finish(&mut diags);
    let mut c = set.correlator(16);
    for (t, line) in text.lines().take(64).enumerate() {
        let p = parse(line);
        for i in set.matching_indexes(p.parser, &p.fields, line) {
            let _ = c.observe(&Input {
                source: Source::Rule(i),
                time: t as i64 * 1_000_000,
                fields: &p.fields,
                fallback: &[("unit", "u")],
                event_id: None,
                unit: Some("u"),
                drill: None,
            });
        }
    }
    assert!(c.group_count() <= 16 * set.correlations.len().max(1));
    let _ = c.flush(i64::MAX);
});
