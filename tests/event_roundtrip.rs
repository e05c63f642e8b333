//! Real Suricata 7.0.10 EVE lines (tests/data/eve) parse into the event
//! model and serialise back to the same JSON: nothing lost, nothing added.

use canhgac::event::Event;
use serde_json::Value;

#[test]
fn suricata_eve_lines_round_trip() {
    let text = include_str!("data/eve/suricata-7.0.10.jsonl");
    let mut types = std::collections::BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let original: Value = serde_json::from_str(line).unwrap();
        let ev: Event =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        let back = serde_json::to_value(&ev).unwrap();
        assert_eq!(back, original, "line {} changed on the way through", i + 1);
        *types.entry(ev.event_type.clone()).or_insert(0) += 1;
    }
    for t in ["alert", "flow", "http", "dns", "tls", "fileinfo", "stats"] {
        assert!(
            types.get(t).copied().unwrap_or(0) >= 1,
            "fixture lacks {t}: {types:?}"
        );
    }
}

#[test]
fn typed_parts_are_filled_from_real_lines() {
    let text = include_str!("data/eve/suricata-7.0.10.jsonl");
    let mut saw_alert = false;
    for line in text.lines() {
        let ev: Event = serde_json::from_str(line).unwrap();
        match ev.event_type.as_str() {
            "alert" => {
                let a = ev
                    .alert
                    .as_ref()
                    .expect("alert events carry an alert object");
                assert!(a.signature_id > 0 && !a.action.is_empty());
                assert!(
                    ev.time_micros().is_some(),
                    "timestamp {} parses",
                    ev.timestamp
                );
                saw_alert = true;
            }
            "dns" => assert!(ev.dns.is_some()),
            "tls" => assert!(ev.tls.is_some()),
            "http" => assert!(ev.http.is_some()),
            "flow" => assert!(ev.flow.is_some()),
            "fileinfo" => assert!(ev.fileinfo.is_some()),
            "stats" => assert!(ev.stats.is_some()),
            _ => {}
        }
    }
    assert!(saw_alert);
}
