//! The detection path shared by `canhgac replay` and `canhgac sensor`:
//! raw packet → decode → signatures → EVE events.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::capture::RawPacket;
use crate::decode::{DecodeOutcome, decode};
use crate::detect::signature::{Action, Match, RuleSet};
use crate::event::{Alert, Event};
use crate::flow::flow_id;

/// Counters of the packet path, reported in `stats` events.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PipelineStats {
    pub packets: u64,
    pub bytes: u64,
    pub ipv4_or_ipv6: u64,
    pub tcp: u64,
    pub udp: u64,
    pub not_ip: u64,
    pub invalid: u64,
    pub unsupported_link: u64,
    pub alerts: u64,
}

/// Who the events are from; stamped on every event.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub sensor_id: Option<String>,
    pub unit: Option<String>,
}

/// One detection pipeline (one per worker thread).
pub struct Pipeline {
    rules: Arc<RuleSet>,
    identity: Identity,
    /// Whether alerts of `drop` rules say `blocked` (`--simulate-ips`).
    simulate_ips: bool,
    /// Added to every packet timestamp (the demo replays "now").
    pub time_shift_micros: i64,
    pub stats: PipelineStats,
    scratch: Vec<u8>,
}

impl Pipeline {
    pub fn new(rules: Arc<RuleSet>, identity: Identity, simulate_ips: bool) -> Self {
        Pipeline {
            rules,
            identity,
            simulate_ips,
            time_shift_micros: 0,
            stats: PipelineStats::default(),
            scratch: Vec::new(),
        }
    }

    /// Runs one packet; appends any alert events to `out`.
    pub fn process(&mut self, pkt: &RawPacket<'_>, out: &mut Vec<Event>) {
        self.stats.packets += 1;
        self.stats.bytes += pkt.data.len() as u64;
        let d = match decode(pkt) {
            Ok(d) => d,
            Err(DecodeOutcome::NotIp) => {
                self.stats.not_ip += 1;
                return;
            }
            Err(DecodeOutcome::UnsupportedLink(_)) => {
                self.stats.unsupported_link += 1;
                return;
            }
            Err(DecodeOutcome::Invalid(_)) => {
                self.stats.invalid += 1;
                return;
            }
        };
        self.stats.ipv4_or_ipv6 += 1;
        match d.proto {
            crate::decode::Proto::Tcp => self.stats.tcp += 1,
            crate::decode::Proto::Udp => self.stats.udp += 1,
            _ => {}
        }
        let mut matches: Vec<Match<'_>> = Vec::new();
        let rules = Arc::clone(&self.rules);
        rules.match_packet(&d, &mut self.scratch, &mut matches);
        for m in matches {
            let rule = m.rule;
            let mut ev = self.event("alert", pkt.ts_micros);
            ev.flow_id = Some(flow_id(&d));
            ev.src_ip = Some(d.src.to_string());
            ev.dest_ip = Some(d.dst.to_string());
            if matches!(
                d.proto,
                crate::decode::Proto::Tcp | crate::decode::Proto::Udp
            ) {
                ev.src_port = Some(d.sport);
                ev.dest_port = Some(d.dport);
            }
            ev.proto = Some(d.proto.eve_name());
            let mut metadata = Map::new();
            for (k, v) in &rule.metadata {
                let entry = metadata
                    .entry(k.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = entry {
                    a.push(Value::String(v.clone()));
                }
            }
            let blocked = self.simulate_ips && matches!(rule.action, Action::Drop | Action::Reject);
            ev.alert = Some(Alert {
                action: if blocked { "blocked" } else { "allowed" }.into(),
                gid: rule.gid,
                signature_id: rule.sid,
                rev: rule.rev,
                signature: rule.msg.clone(),
                category: rules
                    .classtype(rule)
                    .map(|c| c.description.clone())
                    .unwrap_or_default(),
                severity: rules.severity(rule),
                metadata: (!metadata.is_empty()).then_some(metadata),
                extra: Map::new(),
            });
            ev.extra.insert("pkt_src".into(), json!("wire/pcap"));
            self.stats.alerts += 1;
            out.push(ev);
        }
    }

    /// A new event stamped with this pipeline's identity.
    pub fn event(&self, event_type: &str, ts_micros: i64) -> Event {
        let mut ev = Event::new(event_type, ts_micros + self.time_shift_micros);
        ev.sensor_id = self.identity.sensor_id.clone();
        ev.unit = self.identity.unit.clone();
        ev
    }

    /// A `stats` event with the counters so far, in Suricata's layout
    /// (`decoder.pkts`, `capture.kernel_drops`, `detect.alert`, …).
    pub fn stats_event(&self, ts_micros: i64, kernel: Option<(u64, u64)>) -> Event {
        let s = &self.stats;
        let mut stats = Map::new();
        stats.insert(
            "decoder".into(),
            json!({
                "pkts": s.packets, "bytes": s.bytes, "ipv4_or_ipv6": s.ipv4_or_ipv6,
                "tcp": s.tcp, "udp": s.udp, "not_ip": s.not_ip, "invalid": s.invalid,
                "unsupported_link": s.unsupported_link,
            }),
        );
        stats.insert("detect".into(), json!({ "alert": s.alerts }));
        if let Some((received, dropped)) = kernel {
            stats.insert(
                "capture".into(),
                json!({ "kernel_packets": received, "kernel_drops": dropped }),
            );
        }
        let mut ev = Event::new("stats", ts_micros);
        ev.sensor_id = self.identity.sensor_id.clone();
        ev.unit = self.identity.unit.clone();
        ev.stats = Some(stats);
        ev
    }
}
